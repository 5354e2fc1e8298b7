/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap: the constants, outcomes and failure strings of concierge's swap state machine
 * (reference/concierge.md §3.2) and the pure decision of an ENABLE request.
 *
 * The swap controller in the daemon gathers the inputs (its own state, the usage prediction, the
 * TBW verdict, the low-disk verdict) and asks swap_policy_decide() for the result; the result's
 * failure string goes into the SwapVm response. Times are Unix microseconds (CLOCK_REALTIME),
 * durations microseconds. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define POLICY_USEC_PER_SEC INT64_C(1000000)
#define POLICY_USEC_PER_MINUTE (60 * POLICY_USEC_PER_SEC)
#define POLICY_USEC_PER_HOUR (60 * POLICY_USEC_PER_MINUTE)
#define POLICY_USEC_PER_DAY (24 * POLICY_USEC_PER_HOUR)
#define POLICY_USEC_PER_WEEK (7 * POLICY_USEC_PER_DAY)

/* a - b, saturated at the int64 range (times come from files and clocks that can be anything). */
static inline int64_t policy_time_sub(int64_t a, int64_t b)
{
        int64_t r;

        if (__builtin_sub_overflow(a, b, &r))
                return a > b ? INT64_MAX : INT64_MIN;
        return r;
}

/* a + b, saturated at the int64 range. */
static inline int64_t policy_time_add(int64_t a, int64_t b)
{
        int64_t r;

        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

/* §3.2 timers: hot pages get 10 minutes to fault back in before staging is written out; swap-outs
 * are at least 24 h apart; the status poll runs every second; FORCE_ENABLE swaps out after 10 s. */
#define SWAP_TRIM_WAIT_US (10 * POLICY_USEC_PER_MINUTE)
#define SWAP_OUT_COOL_DOWN_US (24 * POLICY_USEC_PER_HOUR)
#define SWAP_STATUS_POLL_US (1 * POLICY_USEC_PER_SEC)
#define SWAP_FORCE_ENABLE_DELAY_US (10 * POLICY_USEC_PER_SEC)
/* The expected size of a shrunk guest; divides the TBW budget into the duration target. */
#define SWAP_EXPECTED_MAX_SHRUNK_VM_BYTES (UINT64_C(1) << 30)

/* SwapVm response strings (§3.2, §1.3). */
#define SWAP_MSG_COOL_DOWN "Requires cooling down period after last vmm-swap out"
#define SWAP_MSG_USAGE_PREDICTION "Predicted disable soon"
#define SWAP_MSG_TBW "TBW (total bytes written) reached target"
#define SWAP_MSG_LOW_DISK "Low disk mode"
#define SWAP_MSG_ENABLE_PENDING "Previous enable request is being executed"
#define SWAP_MSG_ABORTED_ON_DISABLE "Aborted on disable vmm-swap"
#define SWAP_MSG_ENABLE_FAILED "Failure on crosvm swap command for enable"
#define SWAP_MSG_UNKNOWN_OPERATION "Unknown operation"
#define SWAP_MSG_NOT_SUPPORTED "vmm-swap is not supported on this vm"
#define SWAP_MSG_NO_SUCH_VM "Requested VM does not exist"

/* VmmSwapPolicyResult (P2 vmm_swap_metrics.h), in its UMA order. */
typedef enum SwapPolicyResult {
        SWAP_POLICY_APPROVE,
        SWAP_POLICY_COOL_DOWN,
        SWAP_POLICY_USAGE_PREDICTION,
        SWAP_POLICY_EXCEEDED_TBW_LIMIT,
        SWAP_POLICY_LOW_DISK,
        _SWAP_POLICY_RESULT_MAX,
        _SWAP_POLICY_RESULT_INVALID = -EINVAL,
} SwapPolicyResult;

/* VmmSwapDisableReason. */
typedef enum SwapDisableReason {
        SWAP_DISABLE_VM_SHUTDOWN,
        SWAP_DISABLE_LOW_DISK_SPACE,
        SWAP_DISABLE_REQUEST,
        _SWAP_DISABLE_REASON_MAX,
        _SWAP_DISABLE_REASON_INVALID = -EINVAL,
} SwapDisableReason;

/* "Approve", "CoolDown", "UsagePrediction", "ExceededTotalBytesWrittenLimit", "LowDisk". */
const char *swap_policy_result_to_string(SwapPolicyResult r);
SwapPolicyResult swap_policy_result_from_string(const char *s);
/* The SwapVm failure string of a refusal; NULL for APPROVE and invalid values. */
const char *swap_policy_result_to_message(SwapPolicyResult r);

/* "VmShutdown", "LowDiskSpace", "DisableRequest". */
const char *swap_disable_reason_to_string(SwapDisableReason r);
SwapDisableReason swap_disable_reason_from_string(const char *s);

/* Everything an ENABLE decision depends on, gathered by the caller at `now_us`. */
typedef struct SwapPolicyInput {
        int64_t now_us;
        /* vmm-swap is already enabled: the request is a maintenance one (§3.2 c). */
        bool enabled;
        /* Time of the last swap-out; has_last_swap_out false when there was none. */
        bool has_last_swap_out;
        int64_t last_swap_out_us;
        /* Usage policy's prediction (usage_policy_predict_duration) and the target
         * (tbw_duration_target_us); only used when not yet enabled. */
        int64_t predicted_duration_us;
        int64_t duration_target_us;
        /* tbw_policy_can_swap_out(now). */
        bool tbw_can_swap_out;
        /* low_disk_policy_can_enable(); only used when not yet enabled. */
        bool low_disk_allows;
        /* Overridable cool-down (SWAP_OUT_COOL_DOWN_US by default; tests shorten it). */
        int64_t cool_down_us;
} SwapPolicyInput;

/* The §3.2 order: enabled and swapped out less than cool_down ago -> COOL_DOWN; not enabled and
 * predicted < target -> USAGE_PREDICTION; TBW says no -> EXCEEDED_TBW_LIMIT; not enabled and
 * low disk -> LOW_DISK; else APPROVE. */
SwapPolicyResult swap_policy_decide(const SwapPolicyInput *in);
