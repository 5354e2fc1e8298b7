/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvmmctl: the C client of the VMM control socket (DESIGN §1), our analogue of crosvm_control.
 *
 * Two layers:
 *  - a non-blocking client for an event loop (the daemon's): connect or adopt an fd, poll
 *    vmmctl_client_fd() for vmmctl_client_poll_events(), call vmmctl_client_process() when it is
 *    ready; each request gets an id and a response callback; subscribed events go to one event
 *    callback. Timeouts are checked against a time the caller passes in (no timers of our own).
 *  - blocking calls with a timeout for tools and tests (vmmctl_status(), vmmctl_pause(), ...).
 *
 * Everything the caller sees is plain C; protobuf stays inside the library. Errors are negative
 * errno values: what the VMM answered (e.g. -ENOTSUP, -EALREADY), -ETIMEDOUT, -ECONNRESET when the
 * VMM went away, -EBADMSG for a frame that does not decode. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VMMCTL_MAX_VCPUS 64
#define VMMCTL_MESSAGE_MAX 256

/* --- enums and their string tables ------------------------------------------------------------ */

typedef enum VmmctlOp {
        VMMCTL_OP_STATUS,
        VMMCTL_OP_PAUSE,
        VMMCTL_OP_RESUME,
        VMMCTL_OP_STOP,
        VMMCTL_OP_SUBSCRIBE,
        VMMCTL_OP_VCPU_THREADS,
        VMMCTL_OP_BALLOON_SET,
        VMMCTL_OP_BALLOON_STATS,
        VMMCTL_OP_SWAP_ENABLE,
        VMMCTL_OP_SWAP_TRIM,
        VMMCTL_OP_SWAP_OUT,
        VMMCTL_OP_SWAP_DISABLE,
        VMMCTL_OP_SWAP_STATUS,
        VMMCTL_OP_WATCHDOG_CONFIG,
        _VMMCTL_OP_MAX,
        _VMMCTL_OP_INVALID = -EINVAL,
} VmmctlOp;

/* Values equal vmm_control.RunState. Strings: "unknown", "starting", "running", "paused", "stopping". */
typedef enum VmmctlRunState {
        VMMCTL_RUN_UNKNOWN,
        VMMCTL_RUN_STARTING,
        VMMCTL_RUN_RUNNING,
        VMMCTL_RUN_PAUSED,
        VMMCTL_RUN_STOPPING,
        _VMMCTL_RUN_STATE_MAX,
        _VMMCTL_RUN_STATE_INVALID = -EINVAL,
} VmmctlRunState;

/* Values equal vmm_control.ExitReason. Strings: "unknown", "guest-requested", "crashed",
 * "stopped-by-request", "watchdog-reset". */
typedef enum VmmctlExitReason {
        VMMCTL_EXIT_UNKNOWN,
        VMMCTL_EXIT_GUEST_REQUESTED,
        VMMCTL_EXIT_CRASHED,
        VMMCTL_EXIT_STOPPED_BY_REQUEST,
        VMMCTL_EXIT_WATCHDOG_RESET,
        _VMMCTL_EXIT_REASON_MAX,
        _VMMCTL_EXIT_REASON_INVALID = -EINVAL,
} VmmctlExitReason;

/* Values equal vmm_control.SwapState (= crosvm's SwapState). Strings as crosvm's: "Ready",
 * "Failed", "Pending", "TrimInProgress", "SwapOutInProgress", "Active", "SwapInInProgress". */
typedef enum VmmctlSwapState {
        VMMCTL_SWAP_READY,
        VMMCTL_SWAP_FAILED,
        VMMCTL_SWAP_PENDING,
        VMMCTL_SWAP_TRIM_IN_PROGRESS,
        VMMCTL_SWAP_SWAP_OUT_IN_PROGRESS,
        VMMCTL_SWAP_ACTIVE,
        VMMCTL_SWAP_SWAP_IN_IN_PROGRESS,
        _VMMCTL_SWAP_STATE_MAX,
        _VMMCTL_SWAP_STATE_INVALID = -EINVAL,
} VmmctlSwapState;

/* Strings: "vm-exited", "watchdog-stall", "swap-state-changed", "balloon-resized", "device-reset". */
typedef enum VmmctlEventType {
        VMMCTL_EVENT_VM_EXITED,
        VMMCTL_EVENT_WATCHDOG_STALL,
        VMMCTL_EVENT_SWAP_STATE_CHANGED,
        VMMCTL_EVENT_BALLOON_RESIZED,
        VMMCTL_EVENT_DEVICE_RESET,
        _VMMCTL_EVENT_TYPE_MAX,
        _VMMCTL_EVENT_TYPE_INVALID = -EINVAL,
} VmmctlEventType;

/* Op strings are the vmmctl verbs: "status", "pause", ..., "balloon-set", "swap-disable", ... */
const char *vmmctl_op_to_string(VmmctlOp op);
VmmctlOp vmmctl_op_from_string(const char *s);
const char *vmmctl_run_state_to_string(VmmctlRunState s);
VmmctlRunState vmmctl_run_state_from_string(const char *s);
const char *vmmctl_exit_reason_to_string(VmmctlExitReason r);
VmmctlExitReason vmmctl_exit_reason_from_string(const char *s);
const char *vmmctl_swap_state_to_string(VmmctlSwapState s);
VmmctlSwapState vmmctl_swap_state_from_string(const char *s);
const char *vmmctl_event_type_to_string(VmmctlEventType t);
VmmctlEventType vmmctl_event_type_from_string(const char *s);

/* --- plain result structs ---------------------------------------------------------------------- */

typedef struct VmmctlStatus {
        VmmctlRunState state;
        unsigned vcpus;
        uint64_t memory_bytes;
        pid_t pid;
        unsigned n_vcpu_tids;
        pid_t vcpu_tids[VMMCTL_MAX_VCPUS];
        uint64_t uptime_ms;
        char kernel_format[32];
        uint64_t resident_bytes;
} VmmctlStatus;

typedef struct VmmctlVcpuThreads {
        pid_t pid;
        unsigned n_tids;
        pid_t tids[VMMCTL_MAX_VCPUS];
} VmmctlVcpuThreads;

typedef struct VmmctlBalloonStats {
        /* The 12 crosvm BalloonStatsFfi fields, -1 = unknown. */
        int64_t swap_in, swap_out, major_faults, minor_faults, free_memory, total_memory,
                available_memory, disk_caches, hugetlb_allocations, hugetlb_failures, shared_memory,
                unevictable_memory;
        uint64_t balloon_actual; /* bytes */
} VmmctlBalloonStats;

typedef struct VmmctlSwapStatus {
        VmmctlSwapState state;
        uint64_t resident_pages, copied_from_file_pages, copied_from_staging_pages, zeroed_pages,
                redundant_pages, staging_pages, swap_pages, fault_around_pages;
        uint64_t transition_pages, transition_time_ms;
        char last_error[VMMCTL_MESSAGE_MAX];
} VmmctlSwapStatus;

typedef struct VmmctlRequest {
        VmmctlOp op;
        union {
                struct {
                        uint64_t num_bytes;
                        bool wait;
                        uint32_t timeout_ms;
                } balloon_set;
                struct {
                        uint32_t timeout_ms;
                } balloon_stats;
                struct {
                        bool slow_file_cleanup;
                } swap_disable;
                struct {
                        bool enable;
                        uint32_t timeout_ms;
                } watchdog_config;
        };
} VmmctlRequest;

typedef struct VmmctlResponse {
        uint64_t id;
        VmmctlOp op;
        int error;                                /* 0 or a negative errno */
        char error_message[VMMCTL_MESSAGE_MAX];   /* "" on success */
        union {                                   /* by op, valid when error == 0 */
                VmmctlStatus status;
                VmmctlVcpuThreads vcpu_threads;
                VmmctlBalloonStats balloon_stats;
                VmmctlSwapStatus swap_status;
        };
} VmmctlResponse;

typedef struct VmmctlEvent {
        VmmctlEventType type;
        union {
                struct {
                        VmmctlExitReason reason;
                        char detail[VMMCTL_MESSAGE_MAX];
                        int guest_code;
                } vm_exited;
                struct {
                        unsigned vcpu;
                } watchdog_stall;
                struct {
                        VmmctlSwapState state, previous;
                } swap_state_changed;
                struct {
                        uint64_t actual_bytes, target_bytes;
                } balloon_resized;
                struct {
                        char device[64];
                        char reason[VMMCTL_MESSAGE_MAX];
                } device_reset;
        };
} VmmctlEvent;

/* --- non-blocking client ----------------------------------------------------------------------- */

typedef struct VmmctlClient VmmctlClient;

/* resp is valid only during the call. It is called exactly once per request: with the VMM's answer,
 * or with error -ETIMEDOUT (vmmctl_client_check_timeouts), -ECONNRESET (the VMM went away) or
 * -ECANCELED (the client is being freed). */
typedef void (*VmmctlResponseHandler)(VmmctlClient *c, const VmmctlResponse *resp, void *userdata);
typedef void (*VmmctlEventHandler)(VmmctlClient *c, const VmmctlEvent *ev, void *userdata);

/* Connect to a control socket path (non-blocking; -EAGAIN when the VMM's backlog is full). */
int vmmctl_client_connect(const char *path, VmmctlClient **ret);
/* Use an already connected SOCK_SEQPACKET fd (e.g. the daemon's end of a socketpair); the client
 * owns it from now on, also on failure. */
int vmmctl_client_adopt_fd(int fd, VmmctlClient **ret);
/* Fails the outstanding requests with -ECANCELED, closes the fd. Safe to call from a callback. */
VmmctlClient *vmmctl_client_free(VmmctlClient *c);

int vmmctl_client_fd(VmmctlClient *c);
/* The poll/epoll events to wait for now: POLLIN, plus POLLOUT while requests wait to be sent. */
uint32_t vmmctl_client_poll_events(VmmctlClient *c);
void vmmctl_client_set_event_handler(VmmctlClient *c, VmmctlEventHandler cb, void *userdata);

/* Send a request. deadline: absolute time, in the unit and clock the caller uses for
 * vmmctl_client_check_timeouts() (0 = none). cb may be NULL (fire and forget). Returns the id
 * (> 0) through ret_id. Errors: -EINVAL (bad request), -ENOTCONN (the connection is gone). */
int vmmctl_client_send(VmmctlClient *c, const VmmctlRequest *req, uint64_t deadline, VmmctlResponseHandler cb,
                       void *userdata, uint64_t *ret_id);

/* Read everything available now and dispatch responses and events; flush queued requests. Returns
 * 0, or -ECONNRESET once the VMM has closed the connection (every pending request has then been
 * failed with -ECONNRESET; the caller should stop polling and free the client). */
int vmmctl_client_process(VmmctlClient *c);

/* Fail the requests whose deadline is <= now with -ETIMEDOUT. Returns the number failed; the next
 * deadline (0 if none) goes to ret_next (optional). */
int vmmctl_client_check_timeouts(VmmctlClient *c, uint64_t now, uint64_t *ret_next);
unsigned vmmctl_client_pending(VmmctlClient *c);
/* Frames received that matched no request (e.g. an error with id 0), for diagnostics. */
unsigned vmmctl_client_unmatched(VmmctlClient *c);

/* --- blocking API (tools, tests) --------------------------------------------------------------- */

/* Connect, send one request, wait up to timeout_ms (<= 0: 5000) for its response. Returns the
 * transport error, or else resp->error; *ret_resp (optional) gets the whole response, including
 * error_message. */
int vmmctl_call(const char *path, int timeout_ms, const VmmctlRequest *req, VmmctlResponse *ret_resp);

int vmmctl_status(const char *path, int timeout_ms, VmmctlStatus *ret);
int vmmctl_vcpu_threads(const char *path, int timeout_ms, VmmctlVcpuThreads *ret);
int vmmctl_pause(const char *path, int timeout_ms);
int vmmctl_resume(const char *path, int timeout_ms);
int vmmctl_stop(const char *path, int timeout_ms);
/* wait: the VMM answers only once the balloon reached num_bytes, or fails after wait_timeout_ms. */
int vmmctl_balloon_set(const char *path, int timeout_ms, uint64_t num_bytes, bool wait, uint32_t wait_timeout_ms);
int vmmctl_balloon_stats(const char *path, int timeout_ms, VmmctlBalloonStats *ret);
int vmmctl_swap_enable(const char *path, int timeout_ms);
int vmmctl_swap_trim(const char *path, int timeout_ms);
int vmmctl_swap_out(const char *path, int timeout_ms);
int vmmctl_swap_disable(const char *path, int timeout_ms, bool slow_file_cleanup);
int vmmctl_swap_status(const char *path, int timeout_ms, VmmctlSwapStatus *ret);
int vmmctl_watchdog_config(const char *path, int timeout_ms, bool enable, uint32_t watchdog_timeout_ms);

/* A blocking subscription: connect and subscribe (the VMM has confirmed it when this returns), then
 * wait for events one at a time. vmmctl_wait_event returns -ETIMEDOUT after timeout_ms (< 0 =
 * forever), -ECONNRESET once the VMM is gone. Free with vmmctl_client_free(). */
int vmmctl_subscribe(const char *path, int timeout_ms, VmmctlClient **ret);
int vmmctl_wait_event(VmmctlClient *c, int timeout_ms, VmmctlEvent *ret);
