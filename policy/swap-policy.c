/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap ENABLE decision and the outcome/reason string tables. */
#include <stddef.h>

#include "policy/swap-policy.h"
#include "vmm_backend/macro.h"

static const char *const swap_policy_result_table[_SWAP_POLICY_RESULT_MAX] = {
        [SWAP_POLICY_APPROVE] = "Approve",
        [SWAP_POLICY_COOL_DOWN] = "CoolDown",
        [SWAP_POLICY_USAGE_PREDICTION] = "UsagePrediction",
        [SWAP_POLICY_EXCEEDED_TBW_LIMIT] = "ExceededTotalBytesWrittenLimit",
        [SWAP_POLICY_LOW_DISK] = "LowDisk",
};

static const char *const swap_policy_message_table[_SWAP_POLICY_RESULT_MAX] = {
        [SWAP_POLICY_APPROVE] = NULL,
        [SWAP_POLICY_COOL_DOWN] = SWAP_MSG_COOL_DOWN,
        [SWAP_POLICY_USAGE_PREDICTION] = SWAP_MSG_USAGE_PREDICTION,
        [SWAP_POLICY_EXCEEDED_TBW_LIMIT] = SWAP_MSG_TBW,
        [SWAP_POLICY_LOW_DISK] = SWAP_MSG_LOW_DISK,
};

static const char *const swap_disable_reason_table[_SWAP_DISABLE_REASON_MAX] = {
        [SWAP_DISABLE_VM_SHUTDOWN] = "VmShutdown",
        [SWAP_DISABLE_LOW_DISK_SPACE] = "LowDiskSpace",
        [SWAP_DISABLE_REQUEST] = "DisableRequest",
};

const char *swap_policy_result_to_string(SwapPolicyResult r)
{
        if (r < 0 || r >= _SWAP_POLICY_RESULT_MAX)
                return NULL;
        return swap_policy_result_table[r];
}

SwapPolicyResult swap_policy_result_from_string(const char *s)
{
        return (SwapPolicyResult)string_table_lookup(swap_policy_result_table,
                                                     ELEMENTSOF(swap_policy_result_table), s);
}

const char *swap_policy_result_to_message(SwapPolicyResult r)
{
        if (r < 0 || r >= _SWAP_POLICY_RESULT_MAX)
                return NULL;
        return swap_policy_message_table[r];
}

const char *swap_disable_reason_to_string(SwapDisableReason r)
{
        if (r < 0 || r >= _SWAP_DISABLE_REASON_MAX)
                return NULL;
        return swap_disable_reason_table[r];
}

SwapDisableReason swap_disable_reason_from_string(const char *s)
{
        return (SwapDisableReason)string_table_lookup(swap_disable_reason_table,
                                                      ELEMENTSOF(swap_disable_reason_table), s);
}

SwapPolicyResult swap_policy_decide(const SwapPolicyInput *in)
{
        if (!in)
                return _SWAP_POLICY_RESULT_INVALID;

        if (in->enabled) {
                /* A swap-out "in the future" (the clock went back) counts as recent. */
                if (in->has_last_swap_out &&
                    policy_time_sub(in->now_us, in->last_swap_out_us) < in->cool_down_us)
                        return SWAP_POLICY_COOL_DOWN;
        } else if (in->predicted_duration_us < in->duration_target_us)
                return SWAP_POLICY_USAGE_PREDICTION;

        if (!in->tbw_can_swap_out)
                return SWAP_POLICY_EXCEEDED_TBW_LIMIT;

        if (!in->enabled && !in->low_disk_allows)
                return SWAP_POLICY_LOW_DISK;

        return SWAP_POLICY_APPROVE;
}
