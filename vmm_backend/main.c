/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm_backend: one process per VM. Parses the command line, builds the VM and its devices, loads the
 * kernel, serves the control socket and the guest channel on the main (device/event) thread while
 * one thread per vCPU runs guest code, and exits with a code that says why the VM stopped. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vmm_backend/control.h"
#include "vmm_backend/evloop.h"
#include "vmm_backend/guest_mem.h"
#include "vmm_backend/hw/chardev.h"
#include "vmm_backend/hw/debug-exit.h"
#include "vmm_backend/hw/i8042.h"
#include "vmm_backend/hw/pvpanic.h"
#include "vmm_backend/hw/serial.h"
#include "vmm_backend/macro.h"
#include "vmm_backend/swap/swap.h"
#include "vmm_backend/virtio/setup.h"
#include "vmm_backend/vm.h"
#include "vmm_backend/x86/boot.h"
#include "vmm_backend/x86/bzimage.h"
#include "vmm_backend/x86/pvh.h"

/* Process exit codes (also in --help). */
enum {
        EXIT_VM_OK = 0,          /* stopped by request (SIGTERM/SIGINT, control stop) or guest stop with code 0 */
        EXIT_START_FAILURE = 1,  /* could not start the VM, or a VMM error while running */
        EXIT_USAGE = 2,          /* bad command line */
        EXIT_GUEST_CRASHED = 3,  /* triple fault, KVM internal error, failed entry, pvpanic */
        EXIT_WATCHDOG = 4,       /* watchdog reset */
        EXIT_GUEST_CODE = 5,     /* guest asked to stop with a non-zero debug-exit code */
};

#define MEM_MIB_MIN 16
#define MEM_MIB_MAX (UINT64_C(1) << 20) /* 1 TiB */
#define KERNEL_MAX_SIZE (UINT64_C(1) << 30)
#define INITRD_MAX_SIZE (UINT64_C(2) << 30)
#define CMDLINE_MAX 4095

typedef struct Args {
        uint64_t mem_mib;
        unsigned cpus;
        const char *kernel, *initrd, *cmdline;
        const char *control_socket;
        int control_fd;
        const char *serial_log, *serial1_socket;
        const char *swap_dir, *vcpu_cgroup;
        bool balloon;
} Args;

static const char *program = "vmm_backend";

_printf_(1, 2) static void log_error(const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "%s: ", program);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void help(void)
{
        printf("Usage: %s --kernel PATH [OPTIONS]\n"
               "Run one KVM virtual machine.\n\n"
               "  --kernel PATH          ELF64 image with a PVH note, or a Linux bzImage (detected)\n"
               "  --initrd PATH          initial RAM disk (bzImage) or PVH module 0 (ELF)\n"
               "  --cmdline STR          kernel command line (at most %d bytes)\n"
               "  --mem-mib N            guest RAM in MiB, %d..%" PRIu64 " (default 128)\n"
               "  --cpus N               number of vCPUs, 1..%d (default 1)\n"
               "  --control-socket PATH  listen for control clients (SOCK_SEQPACKET) at PATH\n"
               "  --control-fd N         serve an inherited, connected SOCK_SEQPACKET socket too\n"
               "  --serial-log PATH      append ttyS0 output to PATH (default: standard output)\n"
               "  --serial1-socket PATH  expose ttyS1 (the guest channel) as a unix stream socket;\n"
               "                         one client at a time, output kept (bounded) while none is\n"
               "  --swap-dir DIR         directory for the vmm-swap file (must be writable)\n"
               "  --vcpu-cgroup PATH     cgroup (v1 or v2) every vCPU thread joins before it runs\n"
               "  --balloon              add a virtio-balloon (PCI 00:01.0), driven through the\n"
               "                         control socket (balloon set / balloon stats)\n"
               "  -h --help              show this help\n\n"
               "Exit status:\n"
               "  0  stopped by request (SIGTERM, SIGINT, control-socket stop) or the guest asked to\n"
               "     stop (i8042 reset, debug-exit code 0)\n"
               "  1  start failure or VMM error\n"
               "  2  usage error\n"
               "  3  guest crashed (triple fault, KVM internal error, failed VM entry, pvpanic)\n"
               "  4  watchdog reset\n"
               "  5  the guest asked to stop with a non-zero debug-exit code (port 0x%x)\n",
               program, CMDLINE_MAX, MEM_MIB_MIN, MEM_MIB_MAX, VM_MAX_VCPUS, DEBUG_EXIT_PORT);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        char *end;
        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || *end != 0)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int check_dir(const char *path, int mode)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (access(path, mode) < 0)
                return negative_errno();
        return 0;
}

static int check_socket_path(const char *path)
{
        struct sockaddr_un sa;
        if (!*path)
                return -EINVAL;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        return 0;
}

static int parse_args(int argc, char **argv, Args *a)
{
        enum {
                ARG_MEM = 0x100,
                ARG_CPUS,
                ARG_KERNEL,
                ARG_INITRD,
                ARG_CMDLINE,
                ARG_CONTROL_SOCKET,
                ARG_CONTROL_FD,
                ARG_SERIAL_LOG,
                ARG_SERIAL1_SOCKET,
                ARG_SWAP_DIR,
                ARG_VCPU_CGROUP,
                ARG_BALLOON,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "mem-mib", required_argument, NULL, ARG_MEM },
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "kernel", required_argument, NULL, ARG_KERNEL },
                { "initrd", required_argument, NULL, ARG_INITRD },
                { "cmdline", required_argument, NULL, ARG_CMDLINE },
                { "control-socket", required_argument, NULL, ARG_CONTROL_SOCKET },
                { "control-fd", required_argument, NULL, ARG_CONTROL_FD },
                { "serial-log", required_argument, NULL, ARG_SERIAL_LOG },
                { "serial1-socket", required_argument, NULL, ARG_SERIAL1_SOCKET },
                { "swap-dir", required_argument, NULL, ARG_SWAP_DIR },
                { "vcpu-cgroup", required_argument, NULL, ARG_VCPU_CGROUP },
                { "balloon", no_argument, NULL, ARG_BALLOON },
                {},
        };
        uint64_t v;
        int c, r;

        *a = (Args){ .mem_mib = 128, .cpus = 1, .control_fd = -1 };
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_MEM:
                        if (parse_u64(optarg, MEM_MIB_MIN, MEM_MIB_MAX, &v) < 0) {
                                log_error("--mem-mib: '%s' is not a number of MiB in %d..%" PRIu64, optarg,
                                          MEM_MIB_MIN, MEM_MIB_MAX);
                                return -EINVAL;
                        }
                        a->mem_mib = v;
                        break;
                case ARG_CPUS:
                        if (parse_u64(optarg, 1, VM_MAX_VCPUS, &v) < 0) {
                                log_error("--cpus: '%s' is not a vCPU count in 1..%d", optarg, VM_MAX_VCPUS);
                                return -EINVAL;
                        }
                        a->cpus = (unsigned)v;
                        break;
                case ARG_KERNEL:
                        a->kernel = optarg;
                        break;
                case ARG_INITRD:
                        a->initrd = optarg;
                        break;
                case ARG_CMDLINE:
                        if (strlen(optarg) > CMDLINE_MAX) {
                                log_error("--cmdline: longer than %d bytes", CMDLINE_MAX);
                                return -EINVAL;
                        }
                        a->cmdline = optarg;
                        break;
                case ARG_CONTROL_SOCKET:
                        if (check_socket_path(optarg) < 0) {
                                log_error("--control-socket: '%s' is not a usable socket path (empty or longer "
                                          "than %zu bytes)",
                                          optarg, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
                                return -EINVAL;
                        }
                        a->control_socket = optarg;
                        break;
                case ARG_CONTROL_FD:
                        if (parse_u64(optarg, 3, INT32_MAX, &v) < 0) {
                                log_error("--control-fd: '%s' is not a file descriptor number >= 3", optarg);
                                return -EINVAL;
                        }
                        a->control_fd = (int)v;
                        break;
                case ARG_SERIAL_LOG:
                        if (!*optarg) {
                                log_error("--serial-log: empty path");
                                return -EINVAL;
                        }
                        a->serial_log = optarg;
                        break;
                case ARG_SERIAL1_SOCKET:
                        if (check_socket_path(optarg) < 0) {
                                log_error("--serial1-socket: '%s' is not a usable socket path", optarg);
                                return -EINVAL;
                        }
                        a->serial1_socket = optarg;
                        break;
                case ARG_SWAP_DIR:
                        r = check_dir(optarg, W_OK | X_OK);
                        if (r < 0) {
                                log_error("--swap-dir: '%s' is not a writable directory: %s", optarg, strerror(-r));
                                return -EINVAL;
                        }
                        a->swap_dir = optarg;
                        break;
                case ARG_VCPU_CGROUP: {
                        char p1[4096], p2[4096];
                        r = check_dir(optarg, X_OK);
                        snprintf(p1, sizeof(p1), "%s/tasks", optarg);
                        snprintf(p2, sizeof(p2), "%s/cgroup.threads", optarg);
                        if (r >= 0 && access(p1, F_OK) < 0 && access(p2, F_OK) < 0)
                                r = -ENOENT;
                        if (r < 0) {
                                log_error("--vcpu-cgroup: '%s' is not a cgroup directory (with 'tasks' or "
                                          "'cgroup.threads'): %s",
                                          optarg, strerror(-r));
                                return -EINVAL;
                        }
                        a->vcpu_cgroup = optarg;
                        break;
                }
                case ARG_BALLOON:
                        a->balloon = true;
                        break;
                case ':':
                        log_error("option '%s' needs an argument", argv[optind - 1]);
                        return -EINVAL;
                default:
                        log_error("unknown option '%s' (see --help)", argv[optind - 1]);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                log_error("unexpected argument '%s' (see --help)", argv[optind]);
                return -EINVAL;
        }
        if (!a->kernel) {
                log_error("--kernel is required (see --help)");
                return -EINVAL;
        }
        if (a->control_socket && a->serial1_socket && streq(a->control_socket, a->serial1_socket)) {
                log_error("--control-socket and --serial1-socket must differ");
                return -EINVAL;
        }
        return 1;
}

/* A listening unix socket at path. A stale socket file (nobody accepting) is replaced; a live one or
 * a file that is not a socket is an error. */
static int listen_unix(const char *path, int type, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;

        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                _cleanup_close_ int probe = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
                if (probe < 0)
                        return negative_errno();
                if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        return -EADDRINUSE;
                if (unlink(path) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        _cleanup_close_ int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return negative_errno();
        if (listen(fd, 16) < 0) {
                int r = negative_errno();
                (void)unlink(path);
                return r;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int check_control_fd(int fd)
{
        int type = 0, domain = 0;
        socklen_t l = sizeof(type);

        if (fcntl(fd, F_GETFD) < 0)
                return -EBADF;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
                return -ENOTSOCK;
        l = sizeof(domain);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 || domain != AF_UNIX || type != SOCK_SEQPACKET)
                return -EPROTOTYPE;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return negative_errno();
        return 0;
}

typedef struct MappedFile {
        uint8_t *data;
        size_t size;
} MappedFile;

static int map_file(const char *path, uint64_t max, MappedFile *ret)
{
        struct stat st;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size == 0)
                return -ENODATA;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
                return negative_errno();
        *ret = (MappedFile){ .data = p, .size = (size_t)st.st_size };
        return 0;
}

static void unmap_file(MappedFile *f)
{
        if (f->data)
                munmap(f->data, f->size);
        *f = (MappedFile){};
}

static int load_kernel(Vm *vm, const Args *a, const MappedFile *kernel, const MappedFile *initrd, X86Entry *ret)
{
        const char *why = NULL;
        int r;

        if (pvh_is_elf(kernel->data, kernel->size)) {
                PvhConfig cfg = {
                        .cmdline = a->cmdline,
                        .initrd = initrd->data,
                        .initrd_size = initrd->size,
                        .ram_is_zeroed = true, /* fresh memfd */
                };
                r = pvh_load(vm_guest_mem(vm), kernel->data, kernel->size, &cfg, ret, &why);
                if (r < 0)
                        log_error("cannot load '%s' as a PVH ELF image: %s", a->kernel, strna(why));
                return r;
        }
        if (bzimage_detect(kernel->data, kernel->size)) {
                /* The devices are set up before the kernel is loaded: the MP table routes their INTx. */
                PciIrqRoute routes[PCI_MAX_SLOTS];
                size_t nroutes = vmm_pci_irq_routes(vm, routes, ELEMENTSOF(routes));
                BzImageConfig cfg = {
                        .image = kernel->data,
                        .image_size = kernel->size,
                        .initrd = initrd->data,
                        .initrd_size = initrd->size,
                        .cmdline = a->cmdline,
                        .ncpus = a->cpus,
                        .pci_irqs = routes,
                        .n_pci_irqs = MIN(nroutes, ELEMENTSOF(routes)),
                };
                r = bzimage_load(vm_guest_mem(vm), &cfg, ret, &why);
                if (r < 0)
                        log_error("cannot load '%s' as a Linux bzImage: %s", a->kernel, strna(why));
                return r;
        }
        log_error("'%s' is neither an ELF64 image nor a Linux bzImage", a->kernel);
        return -ENOEXEC;
}

typedef struct Machine {
        Args args;
        EvLoop *loop;
        Vm *vm;
        CharDev *console, *channel;
        Serial *ttyS0, *ttyS1;
        I8042 *i8042;
        DebugExit *debug_exit;
        PvPanic *pvpanic;
        ControlServer *control;
        SwapEngine *swap;
        VirtioBalloon *balloon;
        int signal_fd;
        EvSource *signal_src;
        bool control_socket_created, serial1_socket_created;
} Machine;

static void irq_to_vm(void *opaque, unsigned irq, int level)
{
        (void)vm_set_irq_line(opaque, irq, level);
}

static void i8042_reset(void *opaque)
{
        vm_request_stop(opaque, VM_EXIT_GUEST_REQUESTED, "guest reset through the i8042 controller", 0);
}

static const I8042Ops i8042_ops = {
        .reset = i8042_reset,
        .set_irq = irq_to_vm,
};

static void on_signal(EvSource *s, int fd, uint32_t events, void *userdata)
{
        Machine *m = userdata;
        struct signalfd_siginfo si;
        char detail[64];

        if (read(fd, &si, sizeof(si)) != sizeof(si))
                return;
        snprintf(detail, sizeof(detail), "stopped by signal %s", sigabbrev_np((int)si.ssi_signo) ?: "?");
        vm_request_stop(m->vm, VM_EXIT_STOPPED_BY_REQUEST, detail, 0);
}

static int exit_status(VmExitReason reason, int guest_code)
{
        switch (reason) {
        case VM_EXIT_STOPPED_BY_REQUEST:
                return EXIT_VM_OK;
        case VM_EXIT_GUEST_REQUESTED:
                return guest_code == 0 ? EXIT_VM_OK : EXIT_GUEST_CODE;
        case VM_EXIT_CRASHED:
                return EXIT_GUEST_CRASHED;
        case VM_EXIT_WATCHDOG_RESET:
                return EXIT_WATCHDOG;
        default:
                return EXIT_START_FAILURE;
        }
}

static int setup_devices(Machine *m)
{
        const Args *a = &m->args;
        Bus *pio = vm_pio_bus(m->vm);
        int r;

        /* ttyS0: the console log. */
        int fd = a->serial_log ? open(a->serial_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640)
                               : fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (fd < 0 && a->serial_log) {
                r = negative_errno();
                log_error("cannot open the serial log '%s': %s", a->serial_log, strerror(-r));
                return r;
        }
        r = chardev_new_file(fd, &m->console);
        if (r < 0)
                goto fail;
        r = serial_init(pio, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, &chardev_serial_ops, m->console, &m->ttyS0);
        if (r < 0)
                goto fail;
        chardev_attach(m->console, m->ttyS0, irq_to_vm, m->vm);

        /* ttyS1: the guest channel. */
        if (a->serial1_socket) {
                int lfd = -1;
                r = listen_unix(a->serial1_socket, SOCK_STREAM, &lfd);
                if (r < 0) {
                        log_error("cannot listen on the guest-channel socket '%s': %s", a->serial1_socket,
                                  strerror(-r));
                        return r;
                }
                m->serial1_socket_created = true;
                r = chardev_new_socket(m->loop, lfd, &m->channel);
        } else
                r = chardev_new_file(-1, &m->channel);
        if (r < 0)
                goto fail;
        r = serial_init(pio, SERIAL_COM2_BASE, SERIAL_COM2_IRQ, &chardev_serial_ops, m->channel, &m->ttyS1);
        if (r < 0)
                goto fail;
        chardev_attach(m->channel, m->ttyS1, irq_to_vm, m->vm);

        r = i8042_init(pio, &i8042_ops, m->vm, &m->i8042);
        if (r >= 0)
                r = debug_exit_init(pio, m->vm, &m->debug_exit);
        if (r >= 0)
                r = pvpanic_init(pio, m->vm, &m->pvpanic);
        if (r < 0)
                goto fail;
        return 0;
fail:
        log_error("cannot set up the devices: %s", strerror(-r));
        return r;
}

static int setup_control(Machine *m)
{
        const Args *a = &m->args;
        int listen_fd = -1, conn_fd = -1, r;

        if (a->control_socket) {
                r = listen_unix(a->control_socket, SOCK_SEQPACKET, &listen_fd);
                if (r < 0) {
                        log_error("cannot listen on the control socket '%s': %s", a->control_socket,
                                  r == -EEXIST ? "a file that is not a socket is in the way" : strerror(-r));
                        return r;
                }
                m->control_socket_created = true;
        }
        if (a->control_fd >= 0) {
                r = check_control_fd(a->control_fd);
                if (r < 0) {
                        log_error("--control-fd %d: not a connected AF_UNIX SOCK_SEQPACKET socket: %s", a->control_fd,
                                  strerror(-r));
                        safe_close(listen_fd);
                        return r;
                }
                conn_fd = a->control_fd;
        }
        if (listen_fd < 0 && conn_fd < 0)
                return 0;
        r = control_server_new(m->loop, m->vm, listen_fd, conn_fd, &m->control);
        if (r < 0)
                log_error("cannot start the control server: %s", strerror(-r));
        return r;
}

/* vmm-swap is driven through the control socket, so it needs one. */
static int setup_swap(Machine *m)
{
        const Args *a = &m->args;
        if (!a->swap_dir)
                return 0;
        if (!m->control) {
                log_error("--swap-dir needs --control-socket or --control-fd (vmm-swap is driven through it)");
                return -EINVAL;
        }
        int r = swap_engine_setup(m->vm, m->control, a->swap_dir, &m->swap);
        if (r < 0)
                log_error("cannot set up vmm-swap in '%s': %s", a->swap_dir, strerror(-r));
        return r;
}

static int setup_balloon(Machine *m)
{
        if (!m->args.balloon)
                return 0;
        int r = virtio_balloon_setup(m->vm, m->control, &m->balloon);
        if (r < 0)
                log_error("cannot set up the virtio-balloon: %s", strerror(-r));
        return r;
}

/* Serve what is pending on the event loop (control requests, signals) without waiting, between
 * start-up steps. Returns 1 to go on, 0 when a stop was requested, or a negative errno. */
static int serve_while_starting(Machine *m)
{
        int r = evloop_run_once(m->loop, 0);
        if (r < 0) {
                log_error("event loop failed: %s", strerror(-r));
                return r;
        }
        return evloop_quitting(m->loop) ? 0 : 1;
}

static void machine_teardown(Machine *m)
{
        /* vCPU threads first: after this no device is called any more. */
        vm_join_vcpus(m->vm);
        m->balloon = virtio_balloon_teardown(m->vm, m->control, m->balloon);
        m->swap = swap_engine_free(m->swap); /* swaps guest RAM back in; before the server and the VM */
        m->control = control_server_free(m->control);
        m->signal_src = evloop_remove(m->signal_src);
        m->signal_fd = safe_close(m->signal_fd);
        m->pvpanic = pvpanic_exit(m->pvpanic);
        m->debug_exit = debug_exit_exit(m->debug_exit);
        m->i8042 = i8042_exit(m->i8042);
        m->ttyS1 = serial_exit(m->ttyS1);
        m->ttyS0 = serial_exit(m->ttyS0);
        m->channel = chardev_free(m->channel);
        m->console = chardev_free(m->console);
        m->vm = vm_free(m->vm);
        m->loop = evloop_free(m->loop);
        if (m->control_socket_created)
                (void)unlink(m->args.control_socket);
        if (m->serial1_socket_created)
                (void)unlink(m->args.serial1_socket);
}

int main(int argc, char **argv)
{
        Machine m = { .signal_fd = -EBADF };
        MappedFile kernel = {}, initrd = {};
        X86Entry entry;
        const char *step = NULL;
        char err[4300];
        sigset_t mask;
        int r, status = EXIT_START_FAILURE;

        r = parse_args(argc, argv, &m.args);
        if (r <= 0)
                return r == 0 ? EXIT_VM_OK : EXIT_USAGE;
        const Args *a = &m.args;

        /* Termination signals arrive through a signalfd on the event loop; every thread created
         * from here on inherits the blocked mask. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0) {
                log_error("cannot block termination signals");
                return EXIT_START_FAILURE;
        }
        signal(SIGPIPE, SIG_IGN);

        /* Start-up order: what a control client needs comes first (event loop, the VM object in
         * state "starting", the termination signals, the control socket), then the KVM machine is
         * built in short steps while the control socket is served in between: status answers
         * "starting" (as Firecracker's API socket is up before its VM boots), stop and signals end
         * the start-up, and requests that need the running VM wait for it. */
        r = evloop_new(&m.loop);
        if (r < 0) {
                log_error("cannot create the event loop: %s", strerror(-r));
                goto out;
        }
        VmConfig cfg = { .mem_bytes = a->mem_mib * MIB, .n_vcpus = a->cpus, .vcpu_cgroup = a->vcpu_cgroup };
        r = vm_new(&cfg, m.loop, &m.vm, &step);
        if (r < 0) {
                log_error("cannot create the VM: %s: %s", strna(step), strerror(-r));
                goto out;
        }
        m.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (m.signal_fd < 0 || evloop_add(m.loop, m.signal_fd, EPOLLIN, on_signal, &m, &m.signal_src) < 0) {
                log_error("cannot watch termination signals: %m");
                goto out;
        }
        if (setup_control(&m) < 0)
                goto out;
        if (m.control)
                control_server_hold_until_started(m.control);

        r = map_file(a->kernel, KERNEL_MAX_SIZE, &kernel);
        if (r < 0) {
                log_error("cannot read the kernel '%s': %s", a->kernel, strerror(-r));
                goto out;
        }
        if (a->initrd) {
                r = map_file(a->initrd, INITRD_MAX_SIZE, &initrd);
                if (r < 0) {
                        log_error("cannot read the initrd '%s': %s", a->initrd, strerror(-r));
                        goto out;
                }
        }
        do {
                r = serve_while_starting(&m);
                if (r < 0)
                        goto out;
                if (r == 0)
                        goto stopped;
                r = vm_build_step(m.vm, &step);
                if (r < 0) {
                        log_error("cannot create the VM: %s: %s", strna(step), strerror(-r));
                        goto out;
                }
        } while (r > 0);
        if (setup_devices(&m) < 0 || setup_swap(&m) < 0 || setup_balloon(&m) < 0)
                goto out;
        if (load_kernel(m.vm, a, &kernel, &initrd, &entry) < 0)
                goto out;
        unmap_file(&kernel);
        unmap_file(&initrd);
        r = serve_while_starting(&m);
        if (r < 0)
                goto out;
        if (r == 0)
                goto stopped;

        err[0] = 0;
        r = vm_start(m.vm, &entry, entry.mode == X86_ENTRY_PROTECTED32, err, sizeof(err));
        if (r < 0) {
                log_error("cannot start the VM: %s", err[0] ? err : strerror(-r));
                goto out;
        }
        control_server_started(m.control);

        r = evloop_run(m.loop);
stopped:
        vm_join_vcpus(m.vm);

        VmExitReason reason;
        const char *detail;
        int guest_code;
        vm_get_exit(m.vm, &reason, &detail, &guest_code);
        if (r < 0 && reason == VM_EXIT_UNKNOWN)
                log_error("event loop failed: %s", strerror(-r));
        if (m.control) {
                VmmEvent ev = { .type = VMM_EVENT_VM_EXITED,
                                .vm_exited = { .reason = reason, .detail = detail, .guest_code = guest_code } };
                control_server_emit(m.control, &ev);
        }
        fprintf(stderr, "%s: VM stopped: %s (%s), guest code %d\n", program, vm_exit_reason_to_string(reason),
                detail, guest_code);
        status = exit_status(reason, guest_code);
out:
        unmap_file(&kernel);
        unmap_file(&initrd);
        machine_teardown(&m);
        return status;
}
