/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Spawning and supervising one VMM process: runtime dir, fork + exec, pidfd, stop ladder.
 *
 * vmm_process_spawn() creates the VM's private runtime dir (0700) under a given runtime dir, a
 * SOCK_SEQPACKET socketpair for the control connection, and forks + execs the VMM with
 *   --control-fd 3 --kernel /dev/fd/4 [--initrd /dev/fd/5] --mem-mib N --cpus N [--cmdline S]
 *   --serial-log <dir>/console.log --serial1-socket <dir>/channel.sock
 *   [--swap-dir D] [--vcpu-cgroup G] [extra args...]
 * The child gets exactly fds 0-2 (stdin /dev/null, stdout/stderr appended to <dir>/vmm.log), 3
 * (its control end), 4 (kernel) and 5 (initrd); default signal dispositions and an empty mask; its
 * own process group; SIGKILL when the daemon dies; optionally a cgroup placement before exec. A
 * failure in the child before exec comes back to vmm_process_spawn() as its errno (through a
 * close-on-exec pipe), so a missing or non-executable VMM is reported synchronously.
 *
 * The parent watches a pidfd in the caller's libevent loop; once the process is gone it is reaped
 * with waitid(P_PIDFD) and the exit handler runs. The caller must not reap children with
 * waitpid(-1). Signals go through pidfd_send_signal(), so a recycled pid is never hit.
 *
 * vmm_process_stop() runs the stop ladder (stop-ladder.h) on libevent timers: it asks the caller to
 * send the control stop (the caller owns the control connection) and escalates to SIGTERM and
 * SIGKILL. vmm_process_free() may be called from inside any of the handlers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroups/cgroup.h"
#include "concierge/stop-ladder.h"

struct event_base;

typedef struct VmmProcess VmmProcess;

/* The fd numbers the VMM finds its inputs at. */
#define VMM_PROCESS_CONTROL_FD 3
#define VMM_PROCESS_KERNEL_FD 4
#define VMM_PROCESS_INITRD_FD 5

#define VMM_PROCESS_CONSOLE_LOG "console.log"
#define VMM_PROCESS_CHANNEL_SOCKET "channel.sock"
#define VMM_PROCESS_VMM_LOG "vmm.log"

typedef struct VmmSpawnConfig {
        const char *vmm_path;           /* the vmm_backend executable (absolute path) */
        const char *runtime_dir;        /* existing parent dir; the VM's dir is made inside */
        const char *dir_prefix;         /* name prefix of the VM's dir (NULL: "vm."), no '/' */
        uint64_t mem_mib;               /* > 0 */
        unsigned cpus;                  /* > 0 */
        int kernel_fd;                  /* required; borrowed (the child gets a copy) */
        int initrd_fd;                  /* -1: none; borrowed */
        const char *cmdline;            /* NULL: none */
        const char *swap_dir;           /* NULL: none */
        const char *vcpu_cgroup;        /* NULL: none */
        const CgroupAttachSelf *cgroup; /* NULL: stay in the daemon's cgroup */
        char *const *extra_args;        /* NULL-terminated, appended to the VMM's argv (may be NULL) */
} VmmSpawnConfig;

typedef struct VmmExit {
        pid_t pid;
        int code;            /* siginfo si_code: CLD_EXITED, CLD_KILLED or CLD_DUMPED */
        int status;          /* the exit status, or the signal number */
        StopLadderRung rung; /* how far the stop ladder got (STOP_LADDER_IDLE: not being stopped) */
} VmmExit;

typedef void (*VmmProcessExitHandler)(VmmProcess *p, const VmmExit *e, void *userdata);
/* The ladder wants the control stop sent now: send it and report with
 * vmm_process_control_stop_result() (also from inside this handler, e.g. when it cannot be sent). */
typedef void (*VmmProcessControlStopHandler)(VmmProcess *p, void *userdata);
/* The process survived the SIGKILL wait; it is still watched and its exit will still be reported. */
typedef void (*VmmProcessGaveUpHandler)(VmmProcess *p, void *userdata);

/* Errors: -EINVAL (bad config), -ENOENT/-EACCES/... from the child's setup or exec, or from the
 * runtime dir and socketpair. Nothing is left behind on failure. */
int vmm_process_spawn(struct event_base *base, const VmmSpawnConfig *c, VmmProcessExitHandler on_exit,
                      void *userdata, VmmProcess **ret);

/* When p is still running, it is killed with SIGKILL and reaped (synchronously: for teardown; use
 * vmm_process_stop() for an orderly stop). Removes the runtime dir. Safe inside a handler. */
VmmProcess *vmm_process_free(VmmProcess *p);

/* The daemon's end of the control socketpair, handed over once (then -EBADF). Close-on-exec. */
int vmm_process_take_control_fd(VmmProcess *p);

pid_t vmm_process_pid(const VmmProcess *p);
const char *vmm_process_runtime_dir(const VmmProcess *p);
/* <runtime dir>/<name>, e.g. VMM_PROCESS_CONSOLE_LOG; NULL on OOM. Caller frees. */
char *vmm_process_path(const VmmProcess *p, const char *name);
bool vmm_process_has_exited(const VmmProcess *p);
StopLadderRung vmm_process_stop_rung(const VmmProcess *p);

/* pidfd_send_signal(); -ESRCH once it exited. */
int vmm_process_kill(VmmProcess *p, int sig);

/* Run the stop ladder. control_stop may be NULL: the control rung is then skipped (SIGTERM first).
 * -EALREADY if a stop is already running (the first one's handlers stay), -ESRCH if p exited. */
int vmm_process_stop(VmmProcess *p, const StopLadderConfig *config,
                     VmmProcessControlStopHandler control_stop, VmmProcessGaveUpHandler gave_up,
                     void *userdata);
/* The answer to the control stop: 0 acknowledged, < 0 failed (the ladder moves to SIGTERM now). */
void vmm_process_control_stop_result(VmmProcess *p, int error);

/* Remove a directory tree created by us: never follows symlinks, stays on the directory's file
 * system. Exposed for the tests. */
int vmm_process_remove_tree(const char *path);
