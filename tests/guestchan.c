/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guestchan: talk to a test guest over the VMM's ttyS1 socket (--serial1-socket) in tests.
 *
 *   guestchan SOCKET [--timeout MS] [--no-reply] COMMAND...
 *
 * Connects (retrying while the socket is not there yet or refuses), sends each COMMAND as one line
 * and prints the one-line reply to each. --no-reply sends without waiting (exit, crash). Exit status:
 * 0 every reply received, 1 timeout / connection lost, 2 usage. */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "vmm_backend/macro.h"

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int connect_retry(const char *path, uint64_t deadline)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        for (;;) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return negative_errno();
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        return fd;
                int r = negative_errno();
                close(fd);
                if ((r != -ENOENT && r != -ECONNREFUSED) || now_ms() >= deadline)
                        return r;
                usleep(20000);
        }
}

static int send_all(int fd, const char *s, size_t n)
{
        while (n > 0) {
                ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                s += k;
                n -= (size_t)k;
        }
        return 0;
}

/* One line (without the newline) into buf; -ETIMEDOUT, -EPIPE on EOF. */
static int read_line(int fd, char *buf, size_t size, uint64_t deadline)
{
        size_t n = 0;
        for (;;) {
                uint64_t now = now_ms();
                if (now >= deadline)
                        return -ETIMEDOUT;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, (int)MIN(deadline - now, (uint64_t)INT32_MAX));
                if (r < 0 && errno != EINTR)
                        return negative_errno();
                if (r <= 0)
                        continue;
                char c;
                ssize_t k = read(fd, &c, 1);
                if (k == 0)
                        return -EPIPE;
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return negative_errno();
                }
                if (c == '\n') {
                        buf[n] = 0;
                        return 0;
                }
                if (c != '\r' && n + 1 < size)
                        buf[n++] = c;
        }
}

int main(int argc, char **argv)
{
        uint64_t timeout_ms = 10000;
        bool no_reply = false;
        int i = 2;

        if (argc < 3) {
                fprintf(stderr, "usage: %s SOCKET [--timeout MS] [--no-reply] COMMAND...\n", argv[0]);
                return 2;
        }
        for (; i < argc && startswith(argv[i], "--"); i++) {
                if (streq(argv[i], "--no-reply"))
                        no_reply = true;
                else if (streq(argv[i], "--timeout") && i + 1 < argc) {
                        char *end;
                        timeout_ms = strtoull(argv[++i], &end, 10);
                        if (*end || timeout_ms == 0) {
                                fprintf(stderr, "guestchan: bad --timeout '%s'\n", argv[i]);
                                return 2;
                        }
                } else {
                        fprintf(stderr, "guestchan: unknown option '%s'\n", argv[i]);
                        return 2;
                }
        }
        if (i >= argc) {
                fprintf(stderr, "guestchan: no command given\n");
                return 2;
        }

        uint64_t deadline = now_ms() + timeout_ms;
        _cleanup_close_ int fd = connect_retry(argv[1], deadline);
        if (fd < 0) {
                fprintf(stderr, "guestchan: cannot connect to %s: %s\n", argv[1], strerror(-fd));
                return 1;
        }
        for (; i < argc; i++) {
                char line[4096];
                snprintf(line, sizeof(line), "%s\n", argv[i]);
                int r = send_all(fd, line, strlen(line));
                if (r < 0) {
                        fprintf(stderr, "guestchan: send failed: %s\n", strerror(-r));
                        return 1;
                }
                if (no_reply)
                        continue;
                r = read_line(fd, line, sizeof(line), deadline);
                if (r < 0) {
                        fprintf(stderr, "guestchan: no reply to '%s': %s\n", argv[i],
                                r == -EPIPE ? "connection closed" : strerror(-r));
                        return 1;
                }
                printf("%s\n", line);
                fflush(stdout);
        }
        return 0;
}
