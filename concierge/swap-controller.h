/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-VM vmm-swap controller (reference/concierge.md §3.2, DESIGN §5): one per VM started
 * with vmm-swap enabled. It takes the SwapVm operations, asks the policies (TBW via the shared
 * SwapTbw, usage prediction with the VM's own history file, low disk), drives the backend's swap
 * commands through the trim wait, trim, status polls and swap-out, and tells its owner when to
 * emit VmSwappingSignal.
 *
 * ENABLE (§3.2): the usage policy hears of it first; an enable still in flight -> "Previous
 * enable request is being executed"; already enabled and swapped out less than the cool-down
 * ago -> CoolDown; not enabled and predicted duration < the TBW duration target ->
 * UsagePrediction; TBW budget spent -> ExceededTotalBytesWrittenLimit; not enabled and the swap
 * dir's free space < 2 GiB + guest memory -> LowDisk; else Approve. Approve, or any result
 * while enabled with no trim-wait timer pending, re-stages memory (backend swap enable). Approve
 * marks vmm-swap enabled and starts the trim wait, after which the swap-out sequence runs; a
 * refusal while enabled starts the trim wait for a trim only.
 * Swap-out sequence: trim, then poll the status every poll interval: TrimInProgress waits,
 * Pending records staging_pages * 4096 bytes in the TBW budget, asks for VmSwappingSignal
 * (SWAPPING_OUT) and swaps out (last swap-out = then); anything else ends the sequence.
 * FORCE_ENABLE: enable, mark enabled, swap-out sequence after the force-enable delay; no policy.
 * DISABLE: the usage policy hears of it, timers stop, an enable in flight fails with "Aborted on
 * disable vmm-swap", vmm-swap is marked disabled, VmSwappingSignal(SWAPPING_IN), backend disable
 * with slow file cleanup. Except when the controller knows vmm-swap is off in the VMM (never
 * enabled, or disabled and back to Ready; see disable_is_noop() in the .c): then DISABLE succeeds
 * at once with no backend call and no signal, so it is idempotent (our VMM, like its tests
 * expect, refuses `swap disable` in Ready; crosvm only warns about commands while disabled).
 * Low disk: while enabled (or a slow file cleanup may still run), the swap dir's free space is
 * checked every low-disk interval; below 2 GiB (the system's low-disk threshold; the guest memory
 * is already in the swap file by then) vmm-swap is disabled without slow cleanup. The usage
 * policy is not told: the VM did not ask for it.
 * VM stop: counts as a disable for the usage policy; no backend call.
 *
 * The usage history lives in the state dir, not in the swap dir (which may be a small tmpfs or
 * shared by all VMs): <state-dir>/vmm_swap_policy/<owner_id>/<escaped name>.vmm_swap_history,
 * see swap_usage_history_path().
 *
 * Time: every policy time is Unix µs from the `now` clock (CLOCK_REALTIME unless the config
 * gives one). Timers are deadlines on that clock. With an event_base the controller arms one
 * libevent timer for the next deadline; without one (unit tests with simulated time) the owner
 * calls swap_controller_run_timers() after moving its clock.
 *
 * Callbacks (result, swapping, state_changed) may call swap_controller_request() and the getters
 * but must not free the controller; free it from elsewhere (a VM's exit handling). Logs through
 * concierge/log.h: it is daemon code at the VMM boundary. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "concierge/backend.h"
#include "concierge/swap-tbw.h"
#include "policy/swap-policy.h"
#include "vmm_backend/ctl/libvmmctl.h"
#include "vmm_backend/macro.h"

struct event_base;

typedef struct SwapController SwapController;

/* Defaults of SwapControllerConfig fields left at 0. */
#define SWAP_LOW_DISK_CHECK_US (60 * POLICY_USEC_PER_SEC)
#define SWAP_BACKEND_TIMEOUT_US (30 * POLICY_USEC_PER_SEC)
#define SWAP_PAGE_SIZE UINT64_C(4096)

/* Failure strings of our own (the §3.2 ones are SWAP_MSG_* in policy/swap-policy.h). */
#define SWAP_MSG_DISABLE_FAILED "Failure on crosvm swap command for disable"

#define SWAP_USAGE_HISTORY_SUFFIX ".vmm_swap_history"

/* Values equal concierge_service.proto SwapOperation. Strings are the `vmc swap` verbs:
 * "disable", "enable", "swapout", "force-enable". */
typedef enum SwapOperation {
        SWAP_OPERATION_DISABLE = 0,
        SWAP_OPERATION_ENABLE = 1,
        SWAP_OPERATION_SWAPOUT = 2,
        SWAP_OPERATION_FORCE_ENABLE = 3,
        _SWAP_OPERATION_MAX,
        _SWAP_OPERATION_INVALID = -EINVAL,
} SwapOperation;

const char *swap_operation_to_string(SwapOperation op);
SwapOperation swap_operation_from_string(const char *s);

/* Values equal concierge_service.proto SwappingState (the VmSwappingSignal payload). Strings:
 * "SWAPPING_OUT", "SWAPPING_IN". */
typedef enum SwappingState {
        SWAPPING_STATE_OUT = 0,
        SWAPPING_STATE_IN = 1,
        _SWAPPING_STATE_MAX,
        _SWAPPING_STATE_INVALID = -EINVAL,
} SwappingState;

const char *swapping_state_to_string(SwappingState s);
SwappingState swapping_state_from_string(const char *s);

/* What a pending timer will do. Strings: "none", "swap-out", "trim", "poll". */
typedef enum SwapTimerAction {
        SWAP_TIMER_NONE,
        SWAP_TIMER_SWAP_OUT, /* trim wait / force delay, then the swap-out sequence */
        SWAP_TIMER_TRIM,     /* trim wait, then a trim only (maintenance) */
        _SWAP_TIMER_ACTION_MAX,
        _SWAP_TIMER_ACTION_INVALID = -EINVAL,
} SwapTimerAction;

const char *swap_timer_action_to_string(SwapTimerAction a);
SwapTimerAction swap_timer_action_from_string(const char *s);

/* Free bytes of `dir` (or a negative errno, which denies). Default: swap_fs_free_bytes(). */
typedef int64_t (*SwapDiskFreeFn)(const char *dir, void *userdata);
/* The clock, Unix µs. Default: CLOCK_REALTIME. */
typedef int64_t (*SwapClockFn)(void *userdata);

typedef struct SwapControllerConfig {
        /* Durations in µs; 0: the §3.2 defaults (10 min, 24 h, 1 s, 10 s) and 60 s. */
        int64_t trim_wait_us;
        int64_t cool_down_us;
        int64_t poll_interval_us;
        int64_t force_enable_delay_us;
        int64_t low_disk_check_us;
        /* Per backend swap call; 0: SWAP_BACKEND_TIMEOUT_US. */
        uint64_t backend_timeout_us;

        /* Where the VMM writes its swap file: the low-disk checks measure it. Required. */
        const char *swap_dir;
        uint64_t guest_memory_bytes;
        /* The VM's usage history file (swap_usage_history_path()); its parent dir is created
         * (0700). NULL: memory-only. */
        const char *usage_history_path;

        SwapDiskFreeFn disk_free;
        void *disk_free_userdata;
        SwapClockFn now;
        void *clock_userdata;
        /* How log lines name the VM (e.g. "<owner>/<name>"); NULL: "vm". */
        const char *log_name;
        /* NULL: no libevent timer; the owner calls swap_controller_run_timers(). */
        struct event_base *event_base;
} SwapControllerConfig;

typedef struct SwapControllerCallbacks {
        /* Emit VmSwappingSignal(state) for this VM. Required. */
        void (*swapping)(SwapController *c, SwappingState state, void *userdata);
        /* The VMM's swap state as last seen changed (a poll, a status query, an event):
         * e.g. PropertiesChanged of SwapState. Optional. */
        void (*state_changed)(SwapController *c, VmmctlSwapState state, void *userdata);
        /* A full swap status (state, metrics, last transition) arrived from the VMM: a status
         * poll of the swap-out sequence or a swap_controller_query_status() answer; after
         * state_changed when both apply. Events carry only the state and do not call it. st is
         * the controller's copy, valid during the call. Optional. */
        void (*status_updated)(SwapController *c, const VmmctlSwapStatus *st, void *userdata);
} SwapControllerCallbacks;

/* The answer to one SwapVm request: success, or failure with failure_reason. Called exactly once
 * per accepted request, possibly before swap_controller_request() returns. */
typedef void (*SwapResultHandler)(SwapController *c, bool success, const char *failure_reason,
                                  void *userdata);

/* Everything `vmc swap status` shows. */
typedef struct SwapControllerInfo {
        bool enabled;        /* vmm-swap enabled as the controller sees it */
        bool enable_pending; /* an ENABLE awaits the backend */
        bool stopped;        /* the VM stopped */
        SwapTimerAction timer;
        int64_t timer_left_us; /* when timer != NONE */
        bool polling;          /* the swap-out sequence is polling the status */
        bool slow_cleanup_pending;

        bool has_last_swap_out;
        int64_t last_swap_out_us;

        bool has_policy_result;
        SwapPolicyResult last_policy_result;
        int64_t last_policy_result_us;
        bool has_disable_reason;
        SwapDisableReason last_disable_reason;

        /* The VMM's swap status as last seen (have_vmm_status false before the first). */
        bool have_vmm_status;
        VmmctlSwapStatus vmm_status;
        int64_t vmm_status_us;

        /* Policy inputs now. */
        int64_t predicted_duration_us;
        int64_t duration_target_us;
        bool usage_history_persistent;
        bool tbw_persistent;
        uint64_t tbw_target_per_day;
        TbwBudget tbw;
        int64_t disk_free_bytes; /* measured now; negative errno when it failed */
        uint64_t disk_required_bytes;
        uint64_t swapped_out_bytes; /* TBW recorded by this controller */
        unsigned swap_outs;
} SwapControllerInfo;

/* Create the controller of a VM whose backend `b` runs with a swap dir. b and tbw are borrowed
 * and must outlive the controller (or swap_controller_vm_stopped() must come first for b). Loads
 * the usage history (a corrupt file is deleted and the history is memory-only: logged). */
int swap_controller_new(Backend *b, SwapTbw *tbw, const SwapControllerConfig *config,
                        const SwapControllerCallbacks *cb, void *userdata, SwapController **ret);
/* Answers an enable still in flight with "Aborted on disable vmm-swap" and stops timers; backend
 * answers still to come are dropped. Does not tell the usage policy (call
 * swap_controller_vm_stopped() first). */
SwapController *swap_controller_free(SwapController *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwapController *, swap_controller_free);

/* One SwapVm request. Returns 0 (cb runs exactly once), or -EINVAL / -ENOMEM (cb never runs). An unknown
 * operation (SWAPOUT or any other value) answers "Unknown operation"; after the VM stopped every
 * request answers "Requested VM does not exist". */
int swap_controller_request(SwapController *c, int operation, SwapResultHandler cb, void *userdata);

/* The VM stopped (or is stopping): counts as a disable for the usage policy (written to its
 * history), timers stop, an enable in flight fails. No backend call from now on. Idempotent. */
void swap_controller_vm_stopped(SwapController *c);

/* A swap-state-changed event from the VMM (the backend's event callback). */
void swap_controller_on_swap_state(SwapController *c, VmmctlSwapState state);

/* Fire every deadline that has passed by the clock's now (tests with simulated time; with an
 * event_base the libevent timer does this). */
void swap_controller_run_timers(SwapController *c);
/* The earliest pending deadline (Unix µs), or INT64_MAX when none. */
int64_t swap_controller_next_deadline(const SwapController *c);

/* The status right now from what the controller knows. */
void swap_controller_get_info(SwapController *c, SwapControllerInfo *ret);

/* Ask the VMM for a fresh swap status, then answer with the info (error 0) or with the
 * controller's last view and the call's error. Returns 0 (cb runs exactly once, never before this
 * returns) or a negative errno (cb never runs). */
typedef void (*SwapStatusHandler)(SwapController *c, int error, const SwapControllerInfo *info,
                                  void *userdata);
int swap_controller_query_status(SwapController *c, SwapStatusHandler cb, void *userdata);

/* <state_dir>/vmm_swap_policy/<owner_id>/<escaped vm_name>.vmm_swap_history. The name is
 * escaped byte-wise: [A-Za-z0-9_-] and non-leading '.' stay, every other byte becomes %XX.
 * owner_id must be a valid owner id (hex). */
int swap_usage_history_path(const char *state_dir, const char *owner_id, const char *vm_name, char **ret);
