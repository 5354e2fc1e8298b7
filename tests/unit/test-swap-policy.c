/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of policy/swap-policy: the ENABLE decision order of §3.2, the failure strings and
 * the enum string tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/swap-policy.h"
#include "policy/tbw.h"
#include "vmm_backend/macro.h"

#define T0 (INT64_C(1704067200) * POLICY_USEC_PER_SEC)

static void test_result_strings(void **state)
{
        for (int r = 0; r < _SWAP_POLICY_RESULT_MAX; r++) {
                const char *s = swap_policy_result_to_string(r);
                assert_non_null(s);
                assert_int_equal(swap_policy_result_from_string(s), r);
        }
        assert_null(swap_policy_result_to_string(_SWAP_POLICY_RESULT_MAX));
        assert_null(swap_policy_result_to_string(_SWAP_POLICY_RESULT_INVALID));
        assert_int_equal(swap_policy_result_from_string("approve"), _SWAP_POLICY_RESULT_INVALID);
        assert_int_equal(swap_policy_result_from_string(NULL), _SWAP_POLICY_RESULT_INVALID);
        assert_string_equal(swap_policy_result_to_string(SWAP_POLICY_EXCEEDED_TBW_LIMIT),
                            "ExceededTotalBytesWrittenLimit");

        for (int r = 0; r < _SWAP_DISABLE_REASON_MAX; r++) {
                const char *s = swap_disable_reason_to_string(r);
                assert_non_null(s);
                assert_int_equal(swap_disable_reason_from_string(s), r);
        }
        assert_null(swap_disable_reason_to_string(_SWAP_DISABLE_REASON_MAX));
        assert_int_equal(swap_disable_reason_from_string("x"), _SWAP_DISABLE_REASON_INVALID);
}

static void test_messages(void **state)
{
        assert_null(swap_policy_result_to_message(SWAP_POLICY_APPROVE));
        assert_null(swap_policy_result_to_message(_SWAP_POLICY_RESULT_MAX));
        assert_string_equal(swap_policy_result_to_message(SWAP_POLICY_COOL_DOWN),
                            "Requires cooling down period after last vmm-swap out");
        assert_string_equal(swap_policy_result_to_message(SWAP_POLICY_USAGE_PREDICTION),
                            "Predicted disable soon");
        assert_string_equal(swap_policy_result_to_message(SWAP_POLICY_EXCEEDED_TBW_LIMIT),
                            "TBW (total bytes written) reached target");
        assert_string_equal(swap_policy_result_to_message(SWAP_POLICY_LOW_DISK), "Low disk mode");
}

static SwapPolicyInput fresh(void)
{
        return (SwapPolicyInput){
                .now_us = T0,
                .predicted_duration_us = 3 * POLICY_USEC_PER_DAY,
                .duration_target_us = tbw_duration_target_us(UINT64_C(550000000)),
                .tbw_can_swap_out = true,
                .low_disk_allows = true,
                .cool_down_us = SWAP_OUT_COOL_DOWN_US,
        };
}

static void test_decide_not_enabled(void **state)
{
        SwapPolicyInput in = fresh();

        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_APPROVE);

        /* Prediction exactly at the target passes; one µs under is refused. */
        in.predicted_duration_us = in.duration_target_us;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_APPROVE);
        in.predicted_duration_us = in.duration_target_us - 1;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_USAGE_PREDICTION);

        /* Order: usage prediction before TBW before low disk. */
        in.tbw_can_swap_out = false;
        in.low_disk_allows = false;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_USAGE_PREDICTION);
        in.predicted_duration_us = in.duration_target_us;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_EXCEEDED_TBW_LIMIT);
        in.tbw_can_swap_out = true;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_LOW_DISK);

        /* The cool-down does not apply to a first enable. */
        in = fresh();
        in.has_last_swap_out = true;
        in.last_swap_out_us = T0 - 1;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_APPROVE);
}

static void test_decide_enabled(void **state)
{
        SwapPolicyInput in = fresh();

        in.enabled = true;
        /* Maintenance requests ignore the prediction and low disk. */
        in.predicted_duration_us = 0;
        in.low_disk_allows = false;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_APPROVE);

        /* Cool-down: 24 h after the last swap-out, exactly. */
        in.has_last_swap_out = true;
        in.last_swap_out_us = T0 - SWAP_OUT_COOL_DOWN_US + 1;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_COOL_DOWN);
        in.last_swap_out_us = T0 - SWAP_OUT_COOL_DOWN_US;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_APPROVE);
        /* A swap-out "in the future" counts as recent; absurd times do not overflow. */
        in.last_swap_out_us = T0 + 1;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_COOL_DOWN);
        in.last_swap_out_us = INT64_MAX;
        in.now_us = INT64_MIN;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_COOL_DOWN);
        in.last_swap_out_us = INT64_MIN;
        in.now_us = INT64_MAX;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_APPROVE);

        /* Cool-down before TBW. */
        in.now_us = T0;
        in.last_swap_out_us = T0;
        in.tbw_can_swap_out = false;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_COOL_DOWN);
        in.has_last_swap_out = false;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_EXCEEDED_TBW_LIMIT);

        /* A shortened cool-down (daemon flag for tests). */
        in = fresh();
        in.enabled = true;
        in.cool_down_us = 5 * POLICY_USEC_PER_SEC;
        in.has_last_swap_out = true;
        in.last_swap_out_us = T0 - 5 * POLICY_USEC_PER_SEC;
        assert_int_equal(swap_policy_decide(&in), SWAP_POLICY_APPROVE);

        assert_int_equal(swap_policy_decide(NULL), _SWAP_POLICY_RESULT_INVALID);
}

static void test_constants(void **state)
{
        assert_int_equal(SWAP_TRIM_WAIT_US, INT64_C(600) * 1000000);
        assert_int_equal(SWAP_OUT_COOL_DOWN_US, INT64_C(86400) * 1000000);
        assert_int_equal(SWAP_STATUS_POLL_US, 1000000);
        assert_int_equal(SWAP_FORCE_ENABLE_DELAY_US, 10000000);
        assert_int_equal(policy_time_sub(INT64_MIN, 1), INT64_MIN);
        assert_int_equal(policy_time_add(INT64_MAX, 1), INT64_MAX);
        assert_int_equal(policy_time_add(INT64_MIN, -1), INT64_MIN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_result_strings),     cmocka_unit_test(test_messages),
                cmocka_unit_test(test_decide_not_enabled), cmocka_unit_test(test_decide_enabled),
                cmocka_unit_test(test_constants),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
