/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of policy/low-disk: free >= 2 GiB + guest memory, at and around the threshold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/low-disk.h"
#include "vmm_backend/macro.h"

static void test_threshold(void **state)
{
        const uint64_t guest = 4 * GIB;
        const int64_t need = (int64_t)(2 * GIB + guest);

        assert_int_equal(LOW_DISK_MIN_FREE_BYTES, 2 * GIB);
        assert_int_equal(low_disk_policy_required_bytes(guest), 6 * GIB);
        assert_true(low_disk_policy_can_enable(need, guest));      /* exactly at */
        assert_false(low_disk_policy_can_enable(need - 1, guest)); /* one byte below */
        assert_true(low_disk_policy_can_enable(need + 1, guest));
        assert_true(low_disk_policy_can_enable(INT64_MAX, guest));
        assert_false(low_disk_policy_can_enable(0, guest));
}

static void test_no_guest_memory(void **state)
{
        assert_true(low_disk_policy_can_enable((int64_t)(2 * GIB), 0));
        assert_false(low_disk_policy_can_enable((int64_t)(2 * GIB) - 1, 0));
}

static void test_errors_deny(void **state)
{
        /* A failed measurement is passed as a negative errno. */
        assert_false(low_disk_policy_can_enable(-EIO, 0));
        assert_false(low_disk_policy_can_enable(-1, 0));
        assert_false(low_disk_policy_can_enable(INT64_MIN, 0));
}

static void test_saturation(void **state)
{
        /* A guest so large that 2 GiB + its size overflows needs more than any disk has. */
        assert_int_equal(low_disk_policy_required_bytes(UINT64_MAX), UINT64_MAX);
        assert_int_equal(low_disk_policy_required_bytes(UINT64_MAX - 2 * GIB), UINT64_MAX);
        assert_false(low_disk_policy_can_enable(INT64_MAX, UINT64_MAX));
        assert_false(low_disk_policy_can_enable(INT64_MAX, (uint64_t)INT64_MAX));
        assert_true(low_disk_policy_can_enable(INT64_MAX, (uint64_t)INT64_MAX - 2 * GIB));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_threshold),
                cmocka_unit_test(test_no_guest_memory),
                cmocka_unit_test(test_errors_deny),
                cmocka_unit_test(test_saturation),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
