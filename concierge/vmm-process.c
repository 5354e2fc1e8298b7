/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One VMM process: runtime dir, fork + exec, pidfd supervision, stop ladder (see vmm-process.h). */
#include <dirent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "concierge/vmm-process.h"
#include "vmm_backend/macro.h"

struct VmmProcess {
        struct event_base *base;
        char *dir; /* the VM's runtime dir, removed on free */
        pid_t pid;
        int pidfd;
        int control_fd; /* the daemon's end until taken */
        struct event *pid_event;
        struct event *timer;
        bool exited;
        VmmExit exit;

        VmmProcessExitHandler on_exit;
        void *userdata;

        bool stopping;
        StopLadder ladder;
        VmmProcessControlStopHandler control_stop;
        VmmProcessGaveUpHandler gave_up;
        void *stop_userdata;

        unsigned busy; /* nesting of handler calls */
        bool free_requested;
};

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

/* --- runtime dir removal ------------------------------------------------------------------------ */

static int remove_dir_contents(int dfd, dev_t dev, unsigned depth)
{
        int r = 0;

        if (depth > 16)
                return -ELOOP;
        DIR *d = fdopendir(dfd);
        if (!d) {
                r = negative_errno();
                safe_close(dfd);
                return r;
        }
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT && r == 0)
                                r = negative_errno();
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (st.st_dev != dev) {
                                r = r ?: -EXDEV; /* a mount point in there: leave it alone */
                                continue;
                        }
                        int sub = openat(dirfd(d), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                r = r ?: negative_errno();
                                continue;
                        }
                        int k = remove_dir_contents(sub, dev, depth + 1);
                        r = r ?: k;
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                                r = r ?: negative_errno();
                } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        r = r ?: negative_errno();
        }
        closedir(d);
        return r;
}

int vmm_process_remove_tree(const char *path)
{
        struct stat st;

        if (!path || !*path)
                return -EINVAL;
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }
        int r = remove_dir_contents(fd, st.st_dev, 0);
        if (rmdir(path) < 0 && errno != ENOENT)
                r = r ?: negative_errno();
        return r;
}

/* --- the child ---------------------------------------------------------------------------------- */

typedef struct ChildSetup {
        const char *path;
        char **argv;
        int src[6]; /* fds that become 0..n-1 */
        unsigned n_fds;
        int err_fd; /* close-on-exec pipe: our errno goes there on failure */
        pid_t parent;
        const CgroupAttachSelf *cgroup;
} ChildSetup;

extern char **environ;

_noreturn_ static void child_fail(int err_fd, int error)
{
        int e = error > 0 ? error : EIO;
        (void)!write(err_fd, &e, sizeof(e));
        _exit(127);
}

/* Between fork and exec: async-signal-safe calls only (no malloc, no stdio). */
_noreturn_ static void child_exec(const ChildSetup *s)
{
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigset_t all;
        int high[ELEMENTSOF(s->src)];
        int err_fd = s->err_fd;

        /* Dispositions set to SIG_IGN would survive exec (the daemon ignores SIGPIPE). glibc's
         * sigaction() refuses its two internal real-time signals (32, 33), which a parent such as
         * GNU make may leave ignored, so those are reset with the raw system call. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sigaction(sig, &dfl, NULL) < 0 && sig != SIGKILL && sig != SIGSTOP) {
                        struct {
                                void (*handler)(int);
                                unsigned long flags;
                                void (*restorer)(void);
                                uint64_t mask;
                        } kdfl = { .handler = SIG_DFL };
                        (void)syscall(SYS_rt_sigaction, sig, &kdfl, NULL, sizeof(kdfl.mask));
                }
        sigemptyset(&all);
        (void)sigprocmask(SIG_SETMASK, &all, NULL);

        if (setpgid(0, 0) < 0)
                child_fail(err_fd, errno);
        /* A VMM must not outlive the daemon that supervises it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                child_fail(err_fd, errno);
        if (getppid() != s->parent)
                _exit(127);

        if (s->cgroup) {
                int r = cgroup_attach_self(s->cgroup);
                if (r < 0)
                        child_fail(err_fd, -r);
        }

        /* Move the error pipe and every source fd above the targets first, so no dup2() below
         * overwrites a source that sits at a target number. */
        err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 16);
        if (err_fd < 0)
                child_fail(s->err_fd, errno);
        for (unsigned i = 0; i < s->n_fds; i++) {
                high[i] = fcntl(s->src[i], F_DUPFD_CLOEXEC, 16);
                if (high[i] < 0)
                        child_fail(err_fd, errno);
        }
        for (unsigned i = 0; i < s->n_fds; i++)
                if (dup2(high[i], (int)i) < 0) /* the copy has no FD_CLOEXEC */
                        child_fail(err_fd, errno);
        /* Everything else goes at exec; the error pipe stays usable until then. */
        if (close_range(s->n_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                child_fail(err_fd, errno);

        execve(s->path, s->argv, environ);
        child_fail(err_fd, errno);
}

/* --- argv --------------------------------------------------------------------------------------- */

typedef struct Strv {
        char **v;
        size_t n, allocated;
} Strv;

static void strv_done(Strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (Strv){};
}

static int strv_push(Strv *s, char *str)
{
        if (!str)
                return -ENOMEM;
        if (s->n + 2 > s->allocated) {
                size_t a = MAX(s->allocated * 2, (size_t)16);
                char **v = realloc(s->v, a * sizeof(char *));
                if (!v) {
                        free(str);
                        return -ENOMEM;
                }
                s->v = v;
                s->allocated = a;
        }
        s->v[s->n++] = str;
        s->v[s->n] = NULL;
        return 0;
}

_printf_(2, 3) static int strv_pushf(Strv *s, const char *fmt, ...)
{
        va_list ap;
        char *p = NULL;

        va_start(ap, fmt);
        int k = vasprintf(&p, fmt, ap);
        va_end(ap);
        return strv_push(s, k < 0 ? NULL : p);
}

static int build_argv(const VmmSpawnConfig *c, const char *dir, Strv *a)
{
        int r = 0;

        r = r ?: strv_pushf(a, "%s", c->vmm_path);
        r = r ?: strv_pushf(a, "--control-fd") ?: strv_pushf(a, "%d", VMM_PROCESS_CONTROL_FD);
        r = r ?: strv_pushf(a, "--kernel") ?: strv_pushf(a, "/dev/fd/%d", VMM_PROCESS_KERNEL_FD);
        if (c->initrd_fd >= 0)
                r = r ?: strv_pushf(a, "--initrd") ?: strv_pushf(a, "/dev/fd/%d", VMM_PROCESS_INITRD_FD);
        r = r ?: strv_pushf(a, "--mem-mib") ?: strv_pushf(a, "%" PRIu64, c->mem_mib);
        r = r ?: strv_pushf(a, "--cpus") ?: strv_pushf(a, "%u", c->cpus);
        if (c->cmdline)
                r = r ?: strv_pushf(a, "--cmdline") ?: strv_pushf(a, "%s", c->cmdline);
        r = r ?: strv_pushf(a, "--serial-log") ?: strv_pushf(a, "%s/%s", dir, VMM_PROCESS_CONSOLE_LOG);
        r = r ?: strv_pushf(a, "--serial1-socket") ?: strv_pushf(a, "%s/%s", dir, VMM_PROCESS_CHANNEL_SOCKET);
        if (c->swap_dir)
                r = r ?: strv_pushf(a, "--swap-dir") ?: strv_pushf(a, "%s", c->swap_dir);
        if (c->vcpu_cgroup)
                r = r ?: strv_pushf(a, "--vcpu-cgroup") ?: strv_pushf(a, "%s", c->vcpu_cgroup);
        for (char *const *e = c->extra_args; e && *e; e++)
                r = r ?: strv_pushf(a, "%s", *e);
        return r;
}

/* --- handlers ----------------------------------------------------------------------------------- */

static void process_destroy(VmmProcess *p);

/* Leave a handler call; true if p was freed meanwhile (then it must not be touched). */
static bool unbusy(VmmProcess *p)
{
        if (--p->busy == 0 && p->free_requested) {
                process_destroy(p);
                return true;
        }
        return false;
}

static void ladder_apply(VmmProcess *p, const StopLadderAction *a);

static void ladder_timer_cb(evutil_socket_t fd, short what, void *userdata)
{
        VmmProcess *p = userdata;
        StopLadderAction a;

        if (p->exited || !p->stopping)
                return;
        if (stop_ladder_timer(&p->ladder, now_usec(), &a) >= 0)
                ladder_apply(p, &a);
}

static void arm_timer(VmmProcess *p, uint64_t at)
{
        if (at == 0) {
                evtimer_del(p->timer);
                return;
        }
        uint64_t now = now_usec(), delta = at > now ? at - now : 0;
        struct timeval tv = {.tv_sec = (time_t)(delta / USEC_PER_SEC),
                             .tv_usec = (suseconds_t)(delta % USEC_PER_SEC)};
        evtimer_add(p->timer, &tv);
}

/* Arm the timer and send the signal first, the control stop last: its handler may answer at once
 * (re-entering through vmm_process_control_stop_result) or free p. */
static void ladder_apply(VmmProcess *p, const StopLadderAction *a)
{
        if (a->done) {
                evtimer_del(p->timer);
                if (a->result < 0 && p->gave_up) {
                        p->busy++;
                        p->gave_up(p, p->stop_userdata);
                        (void)unbusy(p);
                }
                return;
        }
        arm_timer(p, a->timer_at);
        if (a->signal > 0)
                (void)vmm_process_kill(p, a->signal); /* -ESRCH: already gone, the pidfd reports it */
        if (a->send_control_stop) {
                p->busy++;
                p->control_stop(p, p->stop_userdata);
                (void)unbusy(p);
        }
}

/* Reap p (flags: WNOHANG or 0). 1 if reaped, 0 if still running, < 0 on error. Without a pidfd
 * (pidfd_open() unavailable, e.g. under valgrind) the pid is safe to use: only we reap it. */
static int reap(VmmProcess *p, int flags, siginfo_t *si)
{
        int r;

        *si = (siginfo_t){};
        do
                r = p->pidfd >= 0 ? waitid(P_PIDFD, (id_t)p->pidfd, si, WEXITED | flags)
                                  : waitid(P_PID, (id_t)p->pid, si, WEXITED | flags);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return negative_errno();
        return si->si_pid != 0;
}

static int send_signal(VmmProcess *p, int sig)
{
        int r = p->pidfd >= 0 ? pidfd_send_signal(p->pidfd, sig, NULL, 0) : kill(p->pid, sig);
        return r < 0 ? negative_errno() : 0;
}

static void pidfd_cb(evutil_socket_t fd, short what, void *userdata)
{
        VmmProcess *p = userdata;
        siginfo_t si;
        StopLadderAction a;

        if (p->exited)
                return;
        if (reap(p, WNOHANG, &si) <= 0) {
                /* Not reapable yet (a spurious wake-up, or another child's SIGCHLD): watch on. */
                if (p->pidfd >= 0)
                        event_add(p->pid_event, NULL);
                return;
        }
        p->exited = true;
        event_del(p->pid_event);
        p->exit = (VmmExit){
                .pid = p->pid,
                .code = si.si_code,
                .status = si.si_status,
                .rung = p->stopping ? p->ladder.rung : STOP_LADDER_IDLE,
        };
        if (p->stopping)
                (void)stop_ladder_exited(&p->ladder, &a);
        evtimer_del(p->timer);

        if (p->on_exit) {
                p->busy++;
                p->on_exit(p, &p->exit, p->userdata);
                (void)unbusy(p);
        }
}

/* --- spawn and free ----------------------------------------------------------------------------- */

static int validate_config(const VmmSpawnConfig *c)
{
        if (!c || !c->vmm_path || c->vmm_path[0] != '/' || !c->runtime_dir || !*c->runtime_dir)
                return -EINVAL;
        if (c->dir_prefix && (strchr(c->dir_prefix, '/') || strlen(c->dir_prefix) > 64))
                return -EINVAL;
        if (c->mem_mib == 0 || c->cpus == 0 || c->kernel_fd < 0 || c->initrd_fd < -1)
                return -EINVAL;
        if (fcntl(c->kernel_fd, F_GETFD) < 0 || (c->initrd_fd >= 0 && fcntl(c->initrd_fd, F_GETFD) < 0))
                return -EBADF;
        return 0;
}

int vmm_process_spawn(struct event_base *base, const VmmSpawnConfig *c, VmmProcessExitHandler on_exit,
                      void *userdata, VmmProcess **ret)
{
        _cleanup_close_ int devnull = -EBADF, log_fd = -EBADF, dir_fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        Strv argv = {};
        int sv[2] = {-EBADF, -EBADF}, errpipe[2] = {-EBADF, -EBADF};
        VmmProcess *p = NULL;
        sigset_t all, saved;
        int r;

        if (!base || !ret)
                return -EINVAL;
        r = validate_config(c);
        if (r < 0)
                return r;

        if (asprintf(&dir, "%s/%sXXXXXX", c->runtime_dir, c->dir_prefix ?: "vm.") < 0) {
                dir = NULL;
                return -ENOMEM;
        }
        if (strlen(dir) + 1 + strlen(VMM_PROCESS_CHANNEL_SOCKET) >= 108)
                return -ENAMETOOLONG; /* sockaddr_un.sun_path for the channel socket */
        if (!mkdtemp(dir))
                return negative_errno();
        /* mkdtemp makes it 0700 already; say so explicitly against an odd umask. */
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0 || fchmod(dir_fd, 0700) < 0) {
                r = negative_errno();
                goto fail;
        }

        r = build_argv(c, dir, &argv);
        if (r < 0)
                goto fail;

        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        log_fd = openat(dir_fd, VMM_PROCESS_VMM_LOG,
                        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (devnull < 0 || log_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(errpipe, O_CLOEXEC) < 0) {
                r = negative_errno();
                goto fail;
        }

        p = calloc(1, sizeof(*p));
        if (!p) {
                r = -ENOMEM;
                goto fail;
        }
        *p = (VmmProcess){.base = base,
                          .pidfd = -EBADF,
                          .control_fd = -EBADF,
                          .on_exit = on_exit,
                          .userdata = userdata};
        p->timer = evtimer_new(base, ladder_timer_cb, p);
        if (!p->timer) {
                r = -ENOMEM;
                goto fail;
        }

        ChildSetup setup = {
                .path = c->vmm_path,
                .argv = argv.v,
                .src = {devnull, log_fd, log_fd, sv[1], c->kernel_fd, c->initrd_fd},
                .n_fds = c->initrd_fd >= 0 ? 6 : 5,
                .err_fd = errpipe[1],
                .parent = getpid(),
                .cgroup = c->cgroup,
        };

        /* No daemon signal handler may run in the child before it reset them. */
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, &saved);
        pid_t pid = fork();
        if (pid == 0)
                child_exec(&setup);
        int fork_errno = errno;
        sigprocmask(SIG_SETMASK, &saved, NULL);
        if (pid < 0) {
                r = -fork_errno;
                goto fail;
        }
        p->pid = pid;

        sv[1] = safe_close(sv[1]);
        errpipe[1] = safe_close(errpipe[1]);

        /* EOF: the exec happened. An int: the child's errno before (or at) exec. */
        int child_errno = 0;
        ssize_t n;
        do
                n = read(errpipe[0], &child_errno, sizeof(child_errno));
        while (n < 0 && errno == EINTR);
        errpipe[0] = safe_close(errpipe[0]);
        if (n != 0) {
                r = n == (ssize_t)sizeof(child_errno) && child_errno > 0 ? -child_errno : -EIO;
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                p->pid = 0;
                goto fail;
        }

        p->pidfd = pidfd_open(pid, 0);
        if (p->pidfd >= 0)
                p->pid_event = event_new(base, p->pidfd, EV_READ, pidfd_cb, p);
        else if (errno == ENOSYS) {
                /* Kernels before 5.3 and valgrind: SIGCHLD through libevent, then waitid(P_PID). An
                 * exit before the event was added would be missed: check once on the first loop. */
                p->pid_event = evsignal_new(base, SIGCHLD, pidfd_cb, p);
        } else {
                r = negative_errno();
                goto fail;
        }
        if (!p->pid_event || event_add(p->pid_event, NULL) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        if (p->pidfd < 0)
                event_active(p->pid_event, EV_SIGNAL, 1);

        p->control_fd = TAKE_FD(sv[0]);
        p->dir = TAKE_PTR(dir);
        strv_done(&argv);
        *ret = p;
        return 0;

fail:
        if (p) {
                if (p->pid > 0) {
                        siginfo_t si;
                        (void)send_signal(p, SIGKILL);
                        (void)reap(p, 0, &si);
                }
                if (p->pid_event)
                        event_free(p->pid_event);
                if (p->timer)
                        event_free(p->timer);
                safe_close(p->pidfd);
                free(p);
        }
        strv_done(&argv);
        safe_close(sv[0]);
        safe_close(sv[1]);
        safe_close(errpipe[0]);
        safe_close(errpipe[1]);
        (void)vmm_process_remove_tree(dir);
        return r;
}

static void process_destroy(VmmProcess *p)
{
        if (!p->exited && p->pid > 0) {
                siginfo_t si;
                (void)send_signal(p, SIGKILL);
                (void)reap(p, 0, &si);
        }
        if (p->pid_event)
                event_free(p->pid_event);
        if (p->timer)
                event_free(p->timer);
        safe_close(p->pidfd);
        safe_close(p->control_fd);
        if (p->dir)
                (void)vmm_process_remove_tree(p->dir);
        free(p->dir);
        free(p);
}

VmmProcess *vmm_process_free(VmmProcess *p)
{
        if (!p || p->free_requested)
                return NULL;
        p->free_requested = true;
        if (p->busy > 0) {
                /* Inside one of our handlers: stop watching now, destroy on the way out. */
                if (p->pid_event)
                        event_del(p->pid_event);
                evtimer_del(p->timer);
                return NULL;
        }
        process_destroy(p);
        return NULL;
}

int vmm_process_take_control_fd(VmmProcess *p)
{
        if (!p)
                return -EINVAL;
        return TAKE_FD(p->control_fd);
}

pid_t vmm_process_pid(const VmmProcess *p)
{
        return p ? p->pid : 0;
}

const char *vmm_process_runtime_dir(const VmmProcess *p)
{
        return p ? p->dir : NULL;
}

char *vmm_process_path(const VmmProcess *p, const char *name)
{
        char *s;

        if (!p || !name || asprintf(&s, "%s/%s", p->dir, name) < 0)
                return NULL;
        return s;
}

bool vmm_process_has_exited(const VmmProcess *p)
{
        return p && p->exited;
}

StopLadderRung vmm_process_stop_rung(const VmmProcess *p)
{
        if (!p)
                return _STOP_LADDER_RUNG_INVALID;
        return p->stopping ? p->ladder.rung : STOP_LADDER_IDLE;
}

int vmm_process_kill(VmmProcess *p, int sig)
{
        if (!p || sig < 0)
                return -EINVAL;
        if (p->exited)
                return -ESRCH;
        return send_signal(p, sig);
}

int vmm_process_stop(VmmProcess *p, const StopLadderConfig *config,
                     VmmProcessControlStopHandler control_stop, VmmProcessGaveUpHandler gave_up,
                     void *userdata)
{
        StopLadderConfig cfg;
        StopLadderAction a;
        int r;

        if (!p || !config || p->free_requested)
                return -EINVAL;
        if (p->exited)
                return -ESRCH;
        if (p->stopping)
                return -EALREADY;
        cfg = *config;
        if (!control_stop)
                cfg.control_timeout_usec = 0;
        r = stop_ladder_init(&p->ladder, &cfg);
        if (r < 0)
                return r;
        p->stopping = true;
        p->control_stop = control_stop;
        p->gave_up = gave_up;
        p->stop_userdata = userdata;
        r = stop_ladder_start(&p->ladder, now_usec(), &a);
        if (r < 0)
                return r;
        ladder_apply(p, &a);
        return 0;
}

void vmm_process_control_stop_result(VmmProcess *p, int error)
{
        StopLadderAction a;

        if (!p || p->free_requested || p->exited || !p->stopping)
                return;
        if (stop_ladder_control_result(&p->ladder, error > 0 ? -error : error, now_usec(), &a) >= 0)
                ladder_apply(p, &a);
}
