/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: `console NAME`, the terminal attached to the VM's guest channel (its ttyS1 socket). */
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

/* Ctrl-], telnet's and virsh's escape: detaches an interactive console. */
#define CONSOLE_ESCAPE 0x1d

/* Without a terminal, input ends at EOF but the guest's answers may still be on their way:
 * they are copied until the channel has been quiet this long (--linger). */
#define CONSOLE_DEFAULT_LINGER_USEC (1 * USEC_PER_SEC)

static volatile sig_atomic_t terminate;

static void on_signal(int sig)
{
        terminate = 1;
}

/* The guest channel socket the daemon reports for the VM (VmInfo.channel_socket). */
static int get_channel_socket(Vmc *vmc, const char *name, char **ret)
{
        VmTools__Concierge__GetVmInfoRequest request = VM_TOOLS__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__GetVmInfoResponse *response = NULL;
        int r;

        request.owner_id = (char *)vmc->owner_id;
        request.name = (char *)name;
        r = vmc_call(vmc, CONCIERGE_METHOD_GET_VM_INFO, &request.base,
                     &vm_tools__concierge__get_vm_info_response__descriptor, (ProtobufCMessage **)&response);
        if (r != 0)
                return r;
        if (!response->success)
                return vmc_error("no VM '%s' of owner %s: %s", name, vmc->owner_id,
                                 *strempty(response->failure_reason) ? response->failure_reason : "failed");
        if (!response->vm_info || !*strempty(response->vm_info->channel_socket))
                return vmc_error("vm_concierge does not report a guest channel for VM '%s'", name);
        *ret = strdup(response->vm_info->channel_socket);
        if (!*ret)
                return vmc_error("out of memory");
        return 0;
}

static int connect_channel(const char *path, int *ret_fd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return vmc_error("the guest channel path '%s' is too long for a socket address", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return vmc_error("cannot create a socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return vmc_error("cannot connect to the guest channel %s: %s", path, strerror(errno));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0 && errno == ENOTSOCK)
                        k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

typedef struct Terminal {
        bool raw;
        struct termios saved;
} Terminal;

static void terminal_restore(Terminal *t)
{
        if (t->raw)
                (void)tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
        t->raw = false;
}

static int terminal_make_raw(Terminal *t)
{
        struct termios raw;

        if (tcgetattr(STDIN_FILENO, &t->saved) < 0)
                return vmc_error("cannot read the terminal settings: %s", strerror(errno));
        raw = t->saved;
        cfmakeraw(&raw);
        if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0)
                return vmc_error("cannot switch the terminal to raw mode: %s", strerror(errno));
        t->raw = true;
        return 0;
}

/* Copy between the terminal (or stdin/stdout) and the channel until detach, EOF or a signal. */
static int relay(int sock, bool interactive, uint64_t linger_usec)
{
        uint8_t buf[4096];
        bool stdin_open = true;
        int r;

        for (;;) {
                struct pollfd p[2] = {
                        {.fd = sock, .events = POLLIN},
                        {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
                };
                int timeout = stdin_open ? -1 : (int)(linger_usec / USEC_PER_MSEC);
                int n;

                if (terminate)
                        return 0;
                n = poll(p, 2, timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return vmc_error("poll failed: %s", strerror(errno));
                }
                if (n == 0) /* stdin ended and the guest has been quiet for the linger time */
                        return 0;

                if (p[0].revents) {
                        ssize_t k = read(sock, buf, sizeof(buf));

                        /* A VMM that closes with our input unread resets the connection: the
                         * same end of the line as an EOF. */
                        if (k < 0 && errno == ECONNRESET)
                                k = 0;
                        if (k < 0 && errno != EINTR && errno != EAGAIN)
                                return vmc_error("reading the guest channel failed: %s", strerror(errno));
                        if (k == 0) {
                                if (interactive)
                                        fputs("\r\n", stderr);
                                fputs("vmc: the guest channel closed (the VM stopped, or another client is "
                                      "attached).\n",
                                      stderr);
                                return interactive ? 0 : VMC_EXIT_FAILURE;
                        }
                        if (k > 0 && write_all(STDOUT_FILENO, buf, (size_t)k) < 0)
                                return vmc_error("writing the output failed: %s", strerror(errno));
                }
                if (stdin_open && p[1].revents) {
                        ssize_t k = read(STDIN_FILENO, buf, sizeof(buf));

                        if (k < 0 && errno != EINTR && errno != EAGAIN)
                                return vmc_error("reading the input failed: %s", strerror(errno));
                        if (k == 0) {
                                /* No half-close: the VMM takes a read of 0 for a hang-up and would
                                 * drop the answers still on their way. */
                                stdin_open = false;
                                if (interactive)
                                        return 0;
                                continue;
                        }
                        if (k > 0) {
                                size_t len = (size_t)k;
                                uint8_t *esc = interactive ? memchr(buf, CONSOLE_ESCAPE, len) : NULL;

                                if (esc)
                                        len = (size_t)(esc - buf);
                                r = write_all(sock, buf, len);
                                if (r == -EPIPE || r == -ECONNRESET) {
                                        /* Closed under us: report it as the read side does. */
                                        stdin_open = false;
                                        continue;
                                }
                                if (r < 0)
                                        return vmc_error("writing to the guest channel failed: %s",
                                                         strerror(-r));
                                if (esc)
                                        return 0;
                        }
                }
        }
}

int verb_console(Vmc *vmc, int argc, char **argv)
{
        enum { ARG_LINGER = 0x100 };
        static const struct option options[] = {
                {"linger", required_argument, NULL, ARG_LINGER},
                {},
        };
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int sock = -EBADF;
        uint64_t linger_usec = CONSOLE_DEFAULT_LINGER_USEC;
        Terminal term = {};
        struct sigaction sa = {.sa_handler = on_signal};
        const char *name;
        bool interactive;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case ARG_LINGER:
                        if (vmc_parse_seconds(optarg, &linger_usec) < 0 || linger_usec > 3600 * USEC_PER_SEC)
                                return vmc_usage_error(
                                        "console: --linger takes seconds (up to an hour), got '%s'", optarg);
                        break;
                default:
                        return vmc_usage_error("console: unknown option '%s'", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return vmc_usage_error("usage: vmc console NAME [--linger SECONDS]");
        name = argv[optind];
        if (!*name)
                return vmc_usage_error("the VM name must not be empty");
        if (vmc->json)
                return vmc_usage_error("console has no JSON output");

        r = get_channel_socket(vmc, name, &path);
        if (r != 0)
                return r;
        r = connect_channel(path, &sock);
        if (r != 0)
                return r;

        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        if (interactive) {
                fprintf(stderr, "Connected to the guest channel of VM %s. Press Ctrl-] to detach.\n", name);
                r = terminal_make_raw(&term);
                if (r != 0)
                        return r;
        }
        r = relay(sock, interactive, linger_usec);
        terminal_restore(&term);
        if (interactive && r == 0)
                fputs("\nvmc: detached.\n", stderr);
        return r;
}
