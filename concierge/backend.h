/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's interface to one VM's VMM: an ops table per backend, one Backend object per VM.
 *
 * DESIGN §1: the daemon reaches every VMM through this interface. `embedded` (our vmm_backend,
 * driven over its control socket with libvmmctl) is the only backend today; `qemu` (QMP) is
 * planned. All calls are asynchronous on the daemon's libevent loop and never block on the VMM:
 * each takes a timeout and answers exactly once through its callback, with the VMM's answer or
 * with -ETIMEDOUT, -ECONNRESET (the VMM went away) or -ECANCELED (the Backend was freed).
 *
 * Results are plain C. They reuse libvmmctl's result structs (VmmctlStatus, VmmctlBalloonStats,
 * VmmctlSwapStatus, VmmctlVcpuThreads, VmmctlEvent): those carry the crosvm field sets the daemon's
 * policies need, whatever the backend, and no protobuf.
 *
 * Lifecycle of a Backend:
 *   backend_start()        spawn the VMM; the `ready` callback follows once it answered status
 *                          (or failed to in time)
 *   backend_<op>()         pause, resume, status, balloon, swap, vcpu threads
 *   backend_stop()         the stop ladder (control stop, SIGTERM, SIGKILL)
 *   `exited` callback      the VMM process is gone and reaped; every call still outstanding has
 *                          been answered with -ECONNRESET before it
 *   backend_free()         release (also from inside any callback); kills a VMM still running */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroups/cgroup.h"
#include "concierge/stop-ladder.h"
#include "vmm_backend/ctl/libvmmctl.h"

struct event_base;

typedef struct Backend Backend;
typedef struct BackendOps BackendOps;

/* Defaults for the timeouts left at 0 in BackendStartConfig. */
#define BACKEND_DEFAULT_STARTUP_TIMEOUT_USEC (UINT64_C(10) * UINT64_C(1000000))
#define BACKEND_DEFAULT_CALL_TIMEOUT_USEC (UINT64_C(5) * UINT64_C(1000000))

typedef struct BackendStartConfig {
        const char *vmm_path;    /* the VMM executable (NULL: the backend's default) */
        const char *runtime_dir; /* the VM's private dir is created in here */
        const char *dir_prefix;  /* its name prefix (NULL: "vm.") */
        uint64_t mem_mib;
        unsigned cpus;
        int kernel_fd;                  /* borrowed; the VMM gets a copy */
        int initrd_fd;                  /* -1: none; borrowed */
        const char *cmdline;            /* NULL: none */
        const char *swap_dir;           /* NULL: vmm-swap unavailable */
        const char *vcpu_cgroup;        /* NULL: vCPU threads stay with the VMM */
        const CgroupAttachSelf *cgroup; /* NULL: the VMM stays in the daemon's cgroup */
        char *const *extra_args;        /* appended to the VMM's argv (tests, debugging) */
        uint64_t startup_timeout_usec;  /* for the first status answer (0: default) */
        StopLadderConfig stop;          /* all 0: stop_ladder_config_default() */
} BackendStartConfig;

typedef struct BackendExit {
        pid_t pid;
        int code;             /* siginfo si_code: CLD_EXITED, CLD_KILLED, CLD_DUMPED */
        int status;           /* exit status or signal */
        StopLadderRung rung;  /* how far a stop got (STOP_LADDER_IDLE: it exited on its own) */
        bool have_vmm_reason; /* the VMM sent a vm-exited event before going */
        VmmctlExitReason vmm_reason;
        int guest_code;
} BackendExit;

typedef struct BackendCallbacks {
        /* The VMM answered the first status request (error 0, st set) or did not (error < 0, st
         * NULL: the caller should stop it). Called at most once. */
        void (*ready)(Backend *b, int error, const VmmctlStatus *st, void *userdata);
        /* A subscribed VMM event (vm exited, watchdog stall, swap state, balloon resized). */
        void (*event)(Backend *b, const VmmctlEvent *ev, void *userdata);
        /* The stop ladder's SIGKILL wait ran out; the process is still watched (optional). */
        void (*stop_failed)(Backend *b, int error, void *userdata);
        /* The VMM process is gone and reaped. Called exactly once, last. */
        void (*exited)(Backend *b, const BackendExit *e, void *userdata);
} BackendCallbacks;

/* The answer to a call; valid during the callback only. error 0: the union member of the call's
 * op is set. error < 0: error_message says why (from the VMM or ours). */
typedef struct BackendReply {
        int error;
        const char *error_message;
        union {
                const VmmctlStatus *status;
                const VmmctlVcpuThreads *vcpu_threads;
                const VmmctlBalloonStats *balloon_stats;
                const VmmctlSwapStatus *swap_status;
        };
} BackendReply;

typedef void (*BackendReplyHandler)(Backend *b, const BackendReply *reply, void *userdata);

struct BackendOps {
        const char *name;
        int (*start)(struct event_base *base, const BackendStartConfig *c, const BackendCallbacks *cb,
                     void *userdata, Backend **ret);
        void (*free)(Backend *b);
        int (*stop)(Backend *b);
        int (*kill)(Backend *b, int sig);
        /* One asynchronous request; the slots below map to it. NULL-able per op: -EOPNOTSUPP. */
        int (*call)(Backend *b, const VmmctlRequest *req, uint64_t timeout_usec, BackendReplyHandler cb,
                    void *userdata);
        bool (*supports)(const Backend *b, VmmctlOp op);
};

/* The fields every backend fills; implementations embed it first. */
struct Backend {
        const BackendOps *ops;
        struct event_base *base;
        pid_t pid;
        char *runtime_dir;
        BackendCallbacks callbacks;
        void *userdata;
};

/* The backends known by name: "embedded". Unknown: -ENOENT. */
int backend_find(const char *name, const BackendOps **ret);
/* "embedded, ..." for messages ("unknown backend 'x', known: embedded"). */
const char *backend_names(void);
extern const BackendOps backend_embedded_ops;

/* ops NULL: the embedded backend. cb->exited is required. */
int backend_start(const BackendOps *ops, struct event_base *base, const BackendStartConfig *c,
                  const BackendCallbacks *cb, void *userdata, Backend **ret);
Backend *backend_free(Backend *b);

const char *backend_name(const Backend *b);
pid_t backend_pid(const Backend *b);
const char *backend_runtime_dir(const Backend *b);
/* <runtime dir>/<file> for the files the VMM makes there (console.log, channel.sock, vmm.log);
 * NULL on OOM. Caller frees. */
char *backend_runtime_path(const Backend *b, const char *file);

/* Begin the stop ladder; completion is the `exited` callback. -EALREADY when already stopping,
 * -ESRCH when already gone. */
int backend_stop(Backend *b);
/* A signal to the VMM process now (pidfd); -ESRCH once gone. */
int backend_kill(Backend *b, int sig);

/* timeout_usec 0: BACKEND_DEFAULT_CALL_TIMEOUT_USEC. cb may be NULL (fire and forget). Returns 0
 * (cb will run exactly once, never before this returns), or an error (cb never runs): -EOPNOTSUPP,
 * -ENOTCONN (the VMM is gone), -EINVAL, -ENOMEM. */
int backend_call(Backend *b, const VmmctlRequest *req, uint64_t timeout_usec, BackendReplyHandler cb,
                 void *userdata);
int backend_status(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_pause(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_resume(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_vcpu_threads(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_balloon_set(Backend *b, uint64_t num_bytes, bool wait, uint32_t wait_timeout_ms,
                        uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_balloon_stats(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_swap_enable(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_swap_trim(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_swap_out(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
int backend_swap_disable(Backend *b, bool slow_file_cleanup, uint64_t timeout_usec, BackendReplyHandler cb,
                         void *userdata);
int backend_swap_status(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata);
bool backend_supports(const Backend *b, VmmctlOp op);
