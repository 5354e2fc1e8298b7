/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-VM vmm-swap controller: SwapVm, the §3.2 state machine, timers and history. */
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "concierge/history-file.h"
#include "concierge/log.h"
#include "concierge/swap-controller.h"
#include "concierge/validate.h"
#include "policy/low-disk.h"
#include "policy/usage.h"

typedef enum CallKind {
        CALL_ENABLE,       /* ENABLE's (re-)stage; applies the decision on success */
        CALL_FORCE_ENABLE, /* FORCE_ENABLE's stage */
        CALL_TRIM,         /* first step of the swap-out sequence */
        CALL_TRIM_ONLY,    /* maintenance trim */
        CALL_POLL,         /* status poll of the swap-out sequence */
        CALL_SWAP_OUT,
        CALL_DISABLE,      /* DISABLE request, low-disk disable */
        CALL_STATUS_QUERY, /* swap_controller_query_status() */
} CallKind;

/* One backend call in flight. The backend answers exactly once; until then the call is listed in
 * its controller, which detaches it (c = NULL) when freed. */
typedef struct SwapCall {
        SwapController *c;
        struct SwapCall *prev, *next;
        CallKind kind;
        uint64_t generation;
        int64_t issued_us;
        SwapPolicyResult policy_result; /* CALL_ENABLE: the decision to apply */
        SwapResultHandler result;       /* requests still to answer (NULL: answered/aborted) */
        void *result_userdata;
        SwapStatusHandler status;
        void *status_userdata;
} SwapCall;

struct SwapController {
        Backend *backend; /* NULL once the VM stopped */
        SwapTbw *tbw;
        SwapControllerCallbacks cb;
        void *userdata;

        int64_t trim_wait_us, cool_down_us, poll_interval_us, force_enable_delay_us, low_disk_check_us;
        uint64_t backend_timeout_us;
        char *swap_dir;
        char *log_name;
        uint64_t guest_memory_bytes;
        SwapDiskFreeFn disk_free;
        void *disk_free_userdata;
        SwapClockFn now;
        void *clock_userdata;
        struct event *timer; /* NULL without an event_base */

        UsagePolicy usage;
        HistoryFile *usage_file; /* NULL: memory-only */

        bool enabled;
        bool stopped;
        bool slow_cleanup_pending;
        /* vmm-swap is off in the VMM: true from the start (a VMM started with a swap dir begins
         * Ready), false once an enable or disable call goes out, true again when the VMM is seen
         * Ready while disabled with no such call out. See disable_is_noop(). */
        bool vmm_off_known;
        SwapCall *pending_enable; /* the ENABLE awaiting the backend */
        SwapCall *calls;          /* everything in flight */
        /* Bumped when a swap-out sequence starts and on every disable: answers to the calls of an
         * older sequence are stale. */
        uint64_t generation;

        SwapTimerAction action;
        int64_t action_deadline;
        bool polling;       /* the swap-out sequence is between its trim and its end */
        bool poll_inflight; /* a poll's status call is out */
        int64_t poll_deadline;
        int64_t low_disk_deadline;

        bool has_last_swap_out;
        int64_t last_swap_out_us;
        bool has_policy_result;
        SwapPolicyResult last_policy_result;
        int64_t last_policy_result_us;
        bool has_disable_reason;
        SwapDisableReason last_disable_reason;
        bool have_vmm_status;
        VmmctlSwapStatus vmm_status;
        int64_t vmm_status_us;
        uint64_t swapped_out_bytes;
        unsigned swap_outs;
};

#define NO_DEADLINE INT64_MAX

/* --- string tables ------------------------------------------------------------------------- */

static const char *const swap_operation_table[_SWAP_OPERATION_MAX] = {
        [SWAP_OPERATION_DISABLE] = "disable",
        [SWAP_OPERATION_ENABLE] = "enable",
        [SWAP_OPERATION_SWAPOUT] = "swapout",
        [SWAP_OPERATION_FORCE_ENABLE] = "force-enable",
};

static const char *const swapping_state_table[_SWAPPING_STATE_MAX] = {
        [SWAPPING_STATE_OUT] = "SWAPPING_OUT",
        [SWAPPING_STATE_IN] = "SWAPPING_IN",
};

static const char *const swap_timer_action_table[_SWAP_TIMER_ACTION_MAX] = {
        [SWAP_TIMER_NONE] = "none",
        [SWAP_TIMER_SWAP_OUT] = "swap-out",
        [SWAP_TIMER_TRIM] = "trim",
};

const char *swap_operation_to_string(SwapOperation op)
{
        return op >= 0 && op < _SWAP_OPERATION_MAX ? swap_operation_table[op] : NULL;
}

SwapOperation swap_operation_from_string(const char *s)
{
        return (SwapOperation)string_table_lookup(swap_operation_table, ELEMENTSOF(swap_operation_table), s);
}

const char *swapping_state_to_string(SwappingState s)
{
        return s >= 0 && s < _SWAPPING_STATE_MAX ? swapping_state_table[s] : NULL;
}

SwappingState swapping_state_from_string(const char *s)
{
        return (SwappingState)string_table_lookup(swapping_state_table, ELEMENTSOF(swapping_state_table), s);
}

const char *swap_timer_action_to_string(SwapTimerAction a)
{
        return a >= 0 && a < _SWAP_TIMER_ACTION_MAX ? swap_timer_action_table[a] : NULL;
}

SwapTimerAction swap_timer_action_from_string(const char *s)
{
        return (SwapTimerAction)string_table_lookup(swap_timer_action_table, ELEMENTSOF(swap_timer_action_table),
                                             s);
}

/* --- small helpers ------------------------------------------------------------------------- */

static int64_t realtime_now(void *userdata)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * POLICY_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int64_t default_disk_free(const char *dir, void *userdata)
{
        return swap_fs_free_bytes(dir);
}

static int64_t now_us(const SwapController *c)
{
        return c->now(c->clock_userdata);
}

static int64_t deadline_after(const SwapController *c, int64_t delay_us)
{
        return policy_time_add(now_us(c), delay_us);
}

int64_t swap_controller_next_deadline(const SwapController *c)
{
        int64_t d = NO_DEADLINE;

        if (!c)
                return NO_DEADLINE;
        if (c->action != SWAP_TIMER_NONE)
                d = MIN(d, c->action_deadline);
        if (c->polling && !c->poll_inflight)
                d = MIN(d, c->poll_deadline);
        d = MIN(d, c->low_disk_deadline);
        return d;
}

static void on_event_timer(evutil_socket_t fd, short what, void *userdata);

/* Point the libevent timer at the next deadline (after every entry point). */
static void rearm(SwapController *c)
{
        int64_t next, delay;
        struct timeval tv;

        if (!c->timer)
                return;
        next = swap_controller_next_deadline(c);
        if (next == NO_DEADLINE) {
                evtimer_del(c->timer);
                return;
        }
        delay = MAX(policy_time_sub(next, now_us(c)), (int64_t)0);
        /* Any deadline beyond a day is re-evaluated then (the clock may have moved). */
        delay = MIN(delay, POLICY_USEC_PER_DAY);
        tv.tv_sec = (time_t)(delay / POLICY_USEC_PER_SEC);
        tv.tv_usec = (suseconds_t)(delay % POLICY_USEC_PER_SEC);
        evtimer_add(c->timer, &tv);
}

static void on_event_timer(evutil_socket_t fd, short what, void *userdata)
{
        swap_controller_run_timers(userdata);
}

static SwapCall *call_new(SwapController *c, CallKind kind)
{
        SwapCall *call = calloc(1, sizeof(*call));

        if (!call)
                return NULL;
        call->c = c;
        call->kind = kind;
        call->generation = c->generation;
        call->issued_us = now_us(c);
        call->next = c->calls;
        if (c->calls)
                c->calls->prev = call;
        c->calls = call;
        return call;
}

static void call_unlink(SwapCall *call)
{
        SwapController *c = call->c;

        if (!c)
                return;
        if (call->prev)
                call->prev->next = call->next;
        else
                c->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        call->prev = call->next = NULL;
        if (c->pending_enable == call)
                c->pending_enable = NULL;
        call->c = NULL;
}

/* A call that never went out: drop it again. */
static void call_discard(SwapCall *call)
{
        call_unlink(call);
        free(call);
}

static void answer(SwapController *c, SwapResultHandler cb, void *userdata, bool success, const char *reason)
{
        if (cb)
                cb(c, success, success ? NULL : reason, userdata);
}

/* Fail every ENABLE / FORCE_ENABLE still waiting for the backend; their answers are ignored. */
static void abort_enables(SwapController *c, const char *reason)
{
        for (;;) {
                SwapCall *found = NULL;
                SwapResultHandler cb;
                void *ud;

                for (SwapCall *i = c->calls; i; i = i->next)
                        if ((i->kind == CALL_ENABLE || i->kind == CALL_FORCE_ENABLE) && i->result) {
                                found = i;
                                break;
                        }
                if (!found)
                        return;
                cb = found->result;
                ud = found->result_userdata;
                found->result = NULL;
                if (c->pending_enable == found)
                        c->pending_enable = NULL;
                answer(c, cb, ud, false, reason);
        }
}

static void stop_timers(SwapController *c)
{
        c->action = SWAP_TIMER_NONE;
        c->action_deadline = NO_DEADLINE;
        c->polling = false;
        c->poll_inflight = false;
        c->poll_deadline = NO_DEADLINE;
        c->generation++;
}

static void arm_action(SwapController *c, SwapTimerAction action, int64_t delay_us)
{
        c->action = action;
        c->action_deadline = deadline_after(c, delay_us);
}

static void arm_low_disk(SwapController *c)
{
        if (c->low_disk_deadline == NO_DEADLINE)
                c->low_disk_deadline = deadline_after(c, c->low_disk_check_us);
}

/* Whether an enable or disable call is out: the VMM's swap state is about to change. */
static bool swap_calls_in_flight(const SwapController *c)
{
        for (const SwapCall *i = c->calls; i; i = i->next)
                if (i->kind == CALL_ENABLE || i->kind == CALL_FORCE_ENABLE || i->kind == CALL_DISABLE)
                        return true;
        return false;
}

static void set_vmm_state(SwapController *c, VmmctlSwapState state, const VmmctlSwapStatus *st)
{
        bool changed = !c->have_vmm_status || c->vmm_status.state != state;

        if (st)
                c->vmm_status = *st;
        c->have_vmm_status = true;
        c->vmm_status.state = state;
        c->vmm_status_us = now_us(c);
        /* A disable's background work is over once the VMM is back to Ready (or gave up). */
        if (!c->enabled && (state == VMMCTL_SWAP_READY || state == VMMCTL_SWAP_FAILED))
                c->slow_cleanup_pending = false;
        if (!c->enabled && state == VMMCTL_SWAP_READY && !swap_calls_in_flight(c))
                c->vmm_off_known = true;
        if (changed && c->cb.state_changed)
                c->cb.state_changed(c, state, c->userdata);
        if (st && c->cb.status_updated)
                c->cb.status_updated(c, &c->vmm_status, c->userdata);
}

static void set_vmm_status(SwapController *c, const VmmctlSwapStatus *st)
{
        set_vmm_state(c, st->state, st);
}

static void record_usage_disabled(SwapController *c)
{
        UsageHistoryRecord rec;
        int64_t now = now_us(c);
        int r;

        if (usage_policy_on_disabled(&c->usage, now, &rec) != 1 || !c->usage_file)
                return;
        r = history_file_record_usage(c->usage_file, &c->usage, now, &rec);
        if (r < 0)
                log_warning_errno(r, "%s: vmm-swap usage history %s not written, memory-only from now on",
                                  c->log_name, history_file_path(c->usage_file));
}

/* --- the swap-out sequence ----------------------------------------------------------------- */

static void on_reply(Backend *b, const BackendReply *reply, void *userdata);

/* Ask the VMM to trim; `what` names the step in the log ("trim" of a swap-out sequence, or the
 * "maintenance trim" of a refused re-enable). */
static void send_trim(SwapController *c, CallKind kind, const char *what)
{
        SwapCall *call;
        int r;

        if (!c->backend)
                return;
        call = call_new(c, kind);
        if (!call) {
                log_error("%s: vmm-swap %s: out of memory", c->log_name, what);
                return;
        }
        r = backend_swap_trim(c->backend, c->backend_timeout_us, on_reply, call);
        if (r < 0) {
                call_discard(call);
                log_warning_errno(r, "%s: vmm-swap %s failed", c->log_name, what);
        }
}

static void start_swap_out_sequence(SwapController *c)
{
        /* A new sequence replaces an old one still polling. */
        c->polling = false;
        c->poll_inflight = false;
        c->poll_deadline = NO_DEADLINE;
        c->generation++;
        send_trim(c, CALL_TRIM, "trim");
}

static void start_trim_only(SwapController *c)
{
        send_trim(c, CALL_TRIM_ONLY, "maintenance trim");
}

static void poll_status(SwapController *c)
{
        SwapCall *call;
        int r;

        c->poll_deadline = NO_DEADLINE;
        if (!c->backend) {
                c->polling = false;
                return;
        }
        call = call_new(c, CALL_POLL);
        if (call) {
                r = backend_swap_status(c->backend, c->backend_timeout_us, on_reply, call);
                if (r >= 0) {
                        c->poll_inflight = true;
                        return;
                }
                call_discard(call);
        } else
                r = -ENOMEM;
        log_warning_errno(r, "%s: vmm-swap status poll failed, swap-out abandoned", c->log_name);
        c->polling = false;
}

/* Staging is ready: account it, tell the VM's users, write it out. */
static void swap_out(SwapController *c, const VmmctlSwapStatus *st)
{
        uint64_t bytes = st->staging_pages > UINT64_MAX / SWAP_PAGE_SIZE
                                 ? UINT64_MAX
                                 : st->staging_pages * SWAP_PAGE_SIZE;
        uint64_t generation;
        SwapCall *call;
        int r;

        c->polling = false;
        c->poll_deadline = NO_DEADLINE;

        r = swap_tbw_record(c->tbw, now_us(c), bytes);
        if (r < 0)
                log_warning_errno(r, "%s: vmm-swap TBW history %s not written, memory-only from now on",
                                  c->log_name, strna(swap_tbw_path(c->tbw)));
        c->swapped_out_bytes += bytes;

        generation = c->generation;
        c->cb.swapping(c, SWAPPING_STATE_OUT, c->userdata);
        /* The signal's handler may have disabled vmm-swap or stopped the VM. */
        if (generation != c->generation || !c->backend)
                return;

        call = call_new(c, CALL_SWAP_OUT);
        if (!call) {
                log_error("%s: vmm-swap out: out of memory", c->log_name);
                return;
        }
        r = backend_swap_out(c->backend, c->backend_timeout_us, on_reply, call);
        if (r < 0) {
                call_discard(call);
                log_warning_errno(r, "%s: vmm-swap out failed", c->log_name);
        }
}

/* --- disable ------------------------------------------------------------------------------- */

/* Whether a DISABLE request has nothing to do because vmm-swap is known to be off in the VMM.
 *
 * Decision (reference/concierge.md §3.2 runs the whole DISABLE path every time; crosvm only logs
 * a warning for commands while disabled, vmm.md §1.4; our VMM answers `swap disable` in Ready
 * with an error, which its own tests expect): a DISABLE of a VM whose vmm-swap was never enabled,
 * or was disabled and has since been seen back in Ready, succeeds at once without a backend call
 * and without VmSwappingSignal(SWAPPING_IN) (nothing swaps in), so DISABLE is idempotent. The
 * usage policy still hears of it (a refused ENABLE opened a usage period, §3.5); the last disable
 * reason stays (nothing was disabled). Everything else goes to the VMM as before: vmm-swap
 * enabled, an enable or disable still in flight (the VMM's state is about to change), or no Ready
 * seen since the last enable or disable call went out (a swap-in or slow cleanup may be running,
 * a failed enable may have left the VMM Failed). vmm_off_known tracks the last part. */
static bool disable_is_noop(const SwapController *c)
{
        return !c->enabled && !c->slow_cleanup_pending && c->vmm_off_known && !swap_calls_in_flight(c);
}

static void disable(SwapController *c, SwapDisableReason reason, bool slow_file_cleanup,
                    SwapResultHandler cb, void *userdata)
{
        bool was_enabled = c->enabled;
        SwapCall *call;
        int r;

        stop_timers(c);
        abort_enables(c, SWAP_MSG_ABORTED_ON_DISABLE);
        c->enabled = false;
        c->has_disable_reason = true;
        c->last_disable_reason = reason;
        c->slow_cleanup_pending = slow_file_cleanup;
        if (!slow_file_cleanup)
                c->low_disk_deadline = NO_DEADLINE;

        /* A DISABLE request always tells; a low-disk disable only when swap was on. */
        if (cb || was_enabled)
                c->cb.swapping(c, SWAPPING_STATE_IN, c->userdata);

        if (!c->backend) {
                answer(c, cb, userdata, false, SWAP_MSG_NO_SUCH_VM);
                return;
        }
        call = call_new(c, CALL_DISABLE);
        if (!call) {
                log_error("%s: vmm-swap disable: out of memory", c->log_name);
                answer(c, cb, userdata, false, SWAP_MSG_DISABLE_FAILED);
                return;
        }
        call->result = cb;
        call->result_userdata = userdata;
        c->vmm_off_known = false;
        r = backend_swap_disable(c->backend, slow_file_cleanup, c->backend_timeout_us, on_reply, call);
        if (r < 0) {
                call_discard(call);
                log_warning_errno(r, "%s: vmm-swap disable failed", c->log_name);
                answer(c, cb, userdata, false, SWAP_MSG_DISABLE_FAILED);
        }
}

static void check_low_disk(SwapController *c)
{
        int64_t free_bytes;

        c->low_disk_deadline = NO_DEADLINE;
        if (c->stopped || (!c->enabled && !c->slow_cleanup_pending))
                return;

        free_bytes = c->disk_free(c->swap_dir, c->disk_free_userdata);
        if (free_bytes >= 0 && !low_disk_policy_can_enable(free_bytes, 0)) {
                log_notice("%s: disabling vmm-swap: %" PRIi64 " bytes free in %s", c->log_name, free_bytes,
                           c->swap_dir);
                disable(c, SWAP_DISABLE_LOW_DISK_SPACE, false, NULL, NULL);
                return;
        }
        if (free_bytes < 0)
                log_debug_errno((int)MAX(free_bytes, (int64_t)INT32_MIN), "%s: free space of %s unknown",
                                c->log_name, c->swap_dir);
        arm_low_disk(c);
}

/* --- enable -------------------------------------------------------------------------------- */

/* Apply a decision whose backend part (if any) is done. */
static void finish_enable(SwapController *c, SwapPolicyResult result, SwapResultHandler cb, void *userdata)
{
        if (result == SWAP_POLICY_APPROVE) {
                c->enabled = true;
                arm_action(c, SWAP_TIMER_SWAP_OUT, c->trim_wait_us);
                arm_low_disk(c);
                answer(c, cb, userdata, true, NULL);
                return;
        }
        if (c->enabled && c->action == SWAP_TIMER_NONE)
                arm_action(c, SWAP_TIMER_TRIM, c->trim_wait_us);
        answer(c, cb, userdata, false, swap_policy_result_to_message(result));
}

/* Stage memory (backend swap enable) for an ENABLE or FORCE_ENABLE; the reply finishes it. */
static void stage(SwapController *c, CallKind kind, SwapPolicyResult result, SwapResultHandler cb,
                  void *userdata)
{
        SwapCall *call = call_new(c, kind);
        int r;

        if (!call) {
                answer(c, cb, userdata, false, SWAP_MSG_ENABLE_FAILED);
                return;
        }
        call->policy_result = result;
        call->result = cb;
        call->result_userdata = userdata;
        c->vmm_off_known = false;
        r = backend_swap_enable(c->backend, c->backend_timeout_us, on_reply, call);
        if (r < 0) {
                call_discard(call);
                log_warning_errno(r, "%s: vmm-swap enable failed", c->log_name);
                answer(c, cb, userdata, false, SWAP_MSG_ENABLE_FAILED);
                return;
        }
        if (kind == CALL_ENABLE)
                c->pending_enable = call;
}

static void handle_enable(SwapController *c, SwapResultHandler cb, void *userdata)
{
        int64_t now = now_us(c);
        SwapPolicyInput in;
        SwapPolicyResult result;

        usage_policy_on_enabled(&c->usage, now);
        if (c->pending_enable) {
                answer(c, cb, userdata, false, SWAP_MSG_ENABLE_PENDING);
                return;
        }

        in = (SwapPolicyInput){
                .now_us = now,
                .enabled = c->enabled,
                .has_last_swap_out = c->has_last_swap_out,
                .last_swap_out_us = c->last_swap_out_us,
                .duration_target_us = swap_tbw_duration_target_us(c->tbw),
                .tbw_can_swap_out = swap_tbw_can_swap_out(c->tbw, now),
                .low_disk_allows = true,
                .cool_down_us = c->cool_down_us,
        };
        in.predicted_duration_us =
                c->enabled ? in.duration_target_us : usage_policy_predict_duration(&c->usage, now);
        result = swap_policy_decide(&in);
        /* The disk is measured last, only when everything else approves a new enable. */
        if (result == SWAP_POLICY_APPROVE && !c->enabled) {
                int64_t free_bytes = c->disk_free(c->swap_dir, c->disk_free_userdata);

                in.low_disk_allows = low_disk_policy_can_enable(free_bytes, c->guest_memory_bytes);
                result = swap_policy_decide(&in);
        }
        c->has_policy_result = true;
        c->last_policy_result = result;
        c->last_policy_result_us = now;

        if (result == SWAP_POLICY_APPROVE || (c->enabled && c->action == SWAP_TIMER_NONE))
                stage(c, CALL_ENABLE, result, cb, userdata);
        else
                finish_enable(c, result, cb, userdata);
}

/* --- backend answers ----------------------------------------------------------------------- */

static void on_enable_reply(SwapController *c, SwapCall *call, const BackendReply *reply)
{
        if (!call->result)
                return; /* aborted by a disable */
        if (reply->error < 0) {
                log_warning_errno(reply->error, "%s: vmm-swap enable failed (%s)", c->log_name,
                                  reply->error_message ?: "no detail");
                answer(c, call->result, call->result_userdata, false, SWAP_MSG_ENABLE_FAILED);
                return;
        }
        if (call->kind == CALL_ENABLE) {
                finish_enable(c, call->policy_result, call->result, call->result_userdata);
                return;
        }
        c->enabled = true;
        arm_action(c, SWAP_TIMER_SWAP_OUT, c->force_enable_delay_us);
        arm_low_disk(c);
        answer(c, call->result, call->result_userdata, true, NULL);
}

static void on_poll_reply(SwapController *c, SwapCall *call, const BackendReply *reply)
{
        if (call->generation == c->generation)
                c->poll_inflight = false;
        if (reply->error >= 0)
                set_vmm_status(c, reply->swap_status);
        /* A stale answer (a disable or a new sequence came since), or state_changed did that. */
        if (call->generation != c->generation || !c->polling)
                return;
        if (reply->error < 0) {
                log_warning_errno(reply->error, "%s: vmm-swap status failed, swap-out abandoned (%s)",
                                  c->log_name, reply->error_message ?: "no detail");
                c->polling = false;
                return;
        }
        switch (reply->swap_status->state) {
        case VMMCTL_SWAP_TRIM_IN_PROGRESS:
                c->poll_deadline = deadline_after(c, c->poll_interval_us);
                return;
        case VMMCTL_SWAP_PENDING:
                swap_out(c, reply->swap_status);
                return;
        default:
                log_info("%s: vmm-swap out skipped: state %s after trim", c->log_name,
                         strna(vmmctl_swap_state_to_string(reply->swap_status->state)));
                c->polling = false;
                return;
        }
}

static void on_reply(Backend *b, const BackendReply *reply, void *userdata)
{
        SwapCall *call = userdata;
        SwapController *c = call->c;

        call_unlink(call);
        if (!c) {
                free(call);
                return;
        }

        switch (call->kind) {
        case CALL_ENABLE:
        case CALL_FORCE_ENABLE:
                on_enable_reply(c, call, reply);
                break;
        case CALL_TRIM:
                if (call->generation != c->generation)
                        break;
                if (reply->error < 0) {
                        log_warning_errno(reply->error, "%s: vmm-swap trim failed (%s)", c->log_name,
                                          reply->error_message ?: "no detail");
                        break;
                }
                c->polling = true;
                c->poll_inflight = false;
                c->poll_deadline = deadline_after(c, c->poll_interval_us);
                break;
        case CALL_TRIM_ONLY:
                if (reply->error < 0)
                        log_warning_errno(reply->error, "%s: vmm-swap maintenance trim failed (%s)",
                                          c->log_name, reply->error_message ?: "no detail");
                break;
        case CALL_POLL:
                on_poll_reply(c, call, reply);
                break;
        case CALL_SWAP_OUT:
                if (reply->error < 0) {
                        log_warning_errno(reply->error, "%s: vmm-swap out failed (%s)", c->log_name,
                                          reply->error_message ?: "no detail");
                        break;
                }
                /* It happened even if a disable followed: the cool-down counts from it. */
                c->has_last_swap_out = true;
                c->last_swap_out_us = call->issued_us;
                c->swap_outs++;
                break;
        case CALL_DISABLE:
                if (reply->error < 0)
                        log_warning_errno(reply->error, "%s: vmm-swap disable failed (%s)", c->log_name,
                                          reply->error_message ?: "no detail");
                answer(c, call->result, call->result_userdata, reply->error >= 0, SWAP_MSG_DISABLE_FAILED);
                break;
        case CALL_STATUS_QUERY: {
                SwapControllerInfo info;

                if (reply->error >= 0)
                        set_vmm_status(c, reply->swap_status);
                swap_controller_get_info(c, &info);
                call->status(c, reply->error < 0 ? reply->error : 0, &info, call->status_userdata);
                break;
        }
        }

        free(call);
        rearm(c);
}

/* --- public API ---------------------------------------------------------------------------- */

static int mkdir_parents(const char *path)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = '/';
        }
        return 0;
}

static void load_usage_history(SwapController *c, const char *path)
{
        _cleanup_free_ UsageHistoryRecord *entries = NULL;
        size_t n = 0;
        int r;

        r = history_file_new(path, HISTORY_KIND_USAGE, &c->usage_file);
        if (r < 0) {
                log_warning_errno(r, "%s: vmm-swap usage history %s", c->log_name, path);
                return;
        }
        r = mkdir_parents(path);
        if (r < 0) {
                log_warning_errno(r, "%s: vmm-swap usage history %s not kept", c->log_name, path);
                return;
        }
        r = history_file_load_usage(c->usage_file, now_us(c), &entries, &n);
        if (r < 0) {
                if (history_error_is_corruption(r))
                        log_warning("%s: vmm-swap usage history %s was corrupt (%s), deleted; memory-only",
                                    c->log_name, path, history_error_to_string(r));
                else
                        log_warning_errno(r, "%s: vmm-swap usage history %s unreadable, memory-only",
                                          c->log_name, path);
                return;
        }
        usage_policy_load(&c->usage, entries, n, now_us(c));
}

int swap_controller_new(Backend *b, SwapTbw *tbw, const SwapControllerConfig *config,
                        const SwapControllerCallbacks *cb, void *userdata, SwapController **ret)
{
        _cleanup_(swap_controller_freep) SwapController *c = NULL;

        if (!b || !tbw || !config || !config->swap_dir || !cb || !cb->swapping || !ret)
                return -EINVAL;
        if (config->trim_wait_us < 0 || config->cool_down_us < 0 || config->poll_interval_us < 0 ||
            config->force_enable_delay_us < 0 || config->low_disk_check_us < 0)
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->backend = b;
        c->tbw = tbw;
        c->cb = *cb;
        c->userdata = userdata;
        c->trim_wait_us = config->trim_wait_us ?: SWAP_TRIM_WAIT_US;
        c->cool_down_us = config->cool_down_us ?: SWAP_OUT_COOL_DOWN_US;
        c->poll_interval_us = config->poll_interval_us ?: SWAP_STATUS_POLL_US;
        c->force_enable_delay_us = config->force_enable_delay_us ?: SWAP_FORCE_ENABLE_DELAY_US;
        c->low_disk_check_us = config->low_disk_check_us ?: SWAP_LOW_DISK_CHECK_US;
        c->backend_timeout_us = config->backend_timeout_us ?: (uint64_t)SWAP_BACKEND_TIMEOUT_US;
        c->guest_memory_bytes = config->guest_memory_bytes;
        c->disk_free = config->disk_free ?: default_disk_free;
        c->disk_free_userdata = config->disk_free_userdata;
        c->now = config->now ?: realtime_now;
        c->clock_userdata = config->clock_userdata;
        c->action_deadline = c->poll_deadline = c->low_disk_deadline = NO_DEADLINE;
        c->vmm_off_known = true;
        c->swap_dir = strdup(config->swap_dir);
        c->log_name = strdup(config->log_name ?: "vm");
        if (!c->swap_dir || !c->log_name)
                return -ENOMEM;
        if (config->event_base) {
                c->timer = evtimer_new(config->event_base, on_event_timer, c);
                if (!c->timer)
                        return -ENOMEM;
        }

        usage_policy_init(&c->usage);
        if (config->usage_history_path)
                load_usage_history(c, config->usage_history_path);

        *ret = TAKE_PTR(c);
        return 0;
}

SwapController *swap_controller_free(SwapController *c)
{
        if (!c)
                return NULL;

        stop_timers(c);
        c->low_disk_deadline = NO_DEADLINE;
        abort_enables(c, SWAP_MSG_ABORTED_ON_DISABLE);
        /* The backend answers every call later (or -ECANCELED when freed): detach them, and answer
         * the requests among them now. */
        while (c->calls) {
                SwapCall *call = c->calls;

                call_unlink(call);
                if (call->kind == CALL_DISABLE)
                        answer(c, call->result, call->result_userdata, false, SWAP_MSG_NO_SUCH_VM);
                else if (call->kind == CALL_STATUS_QUERY) {
                        SwapControllerInfo info;

                        swap_controller_get_info(c, &info);
                        call->status(c, -ECANCELED, &info, call->status_userdata);
                }
                call->result = NULL;
                call->status = NULL;
        }
        if (c->timer)
                event_free(c->timer);
        history_file_free(c->usage_file);
        free(c->swap_dir);
        free(c->log_name);
        free(c);
        return NULL;
}

int swap_controller_request(SwapController *c, int operation, SwapResultHandler cb, void *userdata)
{
        if (!c || !cb)
                return -EINVAL;

        if (c->stopped)
                answer(c, cb, userdata, false, SWAP_MSG_NO_SUCH_VM);
        else
                switch (operation) {
                case SWAP_OPERATION_ENABLE:
                        handle_enable(c, cb, userdata);
                        break;
                case SWAP_OPERATION_FORCE_ENABLE:
                        log_info("%s: vmm-swap force-enable", c->log_name);
                        stage(c, CALL_FORCE_ENABLE, SWAP_POLICY_APPROVE, cb, userdata);
                        break;
                case SWAP_OPERATION_DISABLE:
                        record_usage_disabled(c);
                        if (disable_is_noop(c)) {
                                log_debug("%s: vmm-swap disable: not enabled, nothing to do", c->log_name);
                                answer(c, cb, userdata, true, NULL);
                                break;
                        }
                        disable(c, SWAP_DISABLE_REQUEST, true, cb, userdata);
                        break;
                default:
                        answer(c, cb, userdata, false, SWAP_MSG_UNKNOWN_OPERATION);
                        break;
                }

        rearm(c);
        return 0;
}

void swap_controller_vm_stopped(SwapController *c)
{
        if (!c || c->stopped)
                return;

        record_usage_disabled(c);
        stop_timers(c);
        c->low_disk_deadline = NO_DEADLINE;
        c->stopped = true;
        c->backend = NULL;
        c->enabled = false;
        c->slow_cleanup_pending = false;
        c->has_disable_reason = true;
        c->last_disable_reason = SWAP_DISABLE_VM_SHUTDOWN;
        abort_enables(c, SWAP_MSG_ABORTED_ON_DISABLE);
        rearm(c);
}

void swap_controller_on_swap_state(SwapController *c, VmmctlSwapState state)
{
        if (!c || state < 0 || state >= _VMMCTL_SWAP_STATE_MAX)
                return;
        set_vmm_state(c, state, NULL);
        rearm(c);
}

void swap_controller_run_timers(SwapController *c)
{
        int64_t now;

        if (!c)
                return;
        now = now_us(c);

        if (c->action != SWAP_TIMER_NONE && c->action_deadline <= now) {
                SwapTimerAction action = c->action;

                c->action = SWAP_TIMER_NONE;
                c->action_deadline = NO_DEADLINE;
                if (action == SWAP_TIMER_SWAP_OUT)
                        start_swap_out_sequence(c);
                else
                        start_trim_only(c);
        }
        if (c->polling && !c->poll_inflight && c->poll_deadline <= now)
                poll_status(c);
        if (c->low_disk_deadline <= now)
                check_low_disk(c);

        rearm(c);
}

void swap_controller_get_info(SwapController *c, SwapControllerInfo *ret)
{
        int64_t now;

        if (!ret)
                return;
        *ret = (SwapControllerInfo){};
        if (!c)
                return;
        now = now_us(c);

        ret->enabled = c->enabled;
        ret->enable_pending = c->pending_enable;
        ret->stopped = c->stopped;
        ret->timer = c->action;
        if (c->action != SWAP_TIMER_NONE)
                ret->timer_left_us = MAX(policy_time_sub(c->action_deadline, now), (int64_t)0);
        ret->polling = c->polling;
        ret->slow_cleanup_pending = c->slow_cleanup_pending;
        ret->has_last_swap_out = c->has_last_swap_out;
        ret->last_swap_out_us = c->last_swap_out_us;
        ret->has_policy_result = c->has_policy_result;
        ret->last_policy_result = c->last_policy_result;
        ret->last_policy_result_us = c->last_policy_result_us;
        ret->has_disable_reason = c->has_disable_reason;
        ret->last_disable_reason = c->last_disable_reason;
        ret->have_vmm_status = c->have_vmm_status;
        ret->vmm_status = c->vmm_status;
        ret->vmm_status_us = c->vmm_status_us;

        ret->predicted_duration_us = usage_policy_predict_duration(&c->usage, now);
        ret->duration_target_us = swap_tbw_duration_target_us(c->tbw);
        ret->usage_history_persistent = history_file_is_persistent(c->usage_file);
        ret->tbw_persistent = swap_tbw_is_persistent(c->tbw);
        ret->tbw_target_per_day = swap_tbw_target_per_day(c->tbw);
        swap_tbw_budget(c->tbw, now, &ret->tbw);
        ret->disk_free_bytes = c->disk_free(c->swap_dir, c->disk_free_userdata);
        ret->disk_required_bytes = low_disk_policy_required_bytes(c->guest_memory_bytes);
        ret->swapped_out_bytes = c->swapped_out_bytes;
        ret->swap_outs = c->swap_outs;
}

int swap_controller_query_status(SwapController *c, SwapStatusHandler cb, void *userdata)
{
        SwapCall *call;
        int r;

        if (!c || !cb)
                return -EINVAL;
        if (!c->backend)
                return -ENOTCONN;
        call = call_new(c, CALL_STATUS_QUERY);
        if (!call)
                return -ENOMEM;
        call->status = cb;
        call->status_userdata = userdata;
        r = backend_swap_status(c->backend, c->backend_timeout_us, on_reply, call);
        if (r < 0) {
                call_discard(call);
                return r;
        }
        return 0;
}

int swap_usage_history_path(const char *state_dir, const char *owner_id, const char *vm_name, char **ret)
{
        _cleanup_free_ char *escaped = NULL;
        size_t n = 0;
        char *p;

        if (!state_dir || !*state_dir || !owner_id_is_valid(owner_id) || !vm_name || !*vm_name || !ret)
                return -EINVAL;

        escaped = malloc(strlen(vm_name) * 3 + 1);
        if (!escaped)
                return -ENOMEM;
        for (const unsigned char *s = (const unsigned char *)vm_name; *s; s++) {
                bool keep = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                            (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
                            (*s == '.' && s != (const unsigned char *)vm_name);

                if (keep)
                        escaped[n++] = (char)*s;
                else
                        n += (size_t)sprintf(escaped + n, "%%%02X", *s);
        }
        escaped[n] = 0;
        if (n + strlen(SWAP_USAGE_HISTORY_SUFFIX) > 255)
                return -ENAMETOOLONG;

        if (asprintf(&p, "%s/" SWAP_TBW_DIR "/%s/%s" SWAP_USAGE_HISTORY_SUFFIX, state_dir, owner_id,
                     escaped) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}
