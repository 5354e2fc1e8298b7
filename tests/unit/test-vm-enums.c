/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vm.h string tables: VmRunState and VmExitReason round-trip, and out-of-range values are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/vm.h"

static void test_run_state(void **state)
{
        for (int i = 0; i < _VM_RUN_STATE_MAX; i++) {
                const char *s = vm_run_state_to_string((VmRunState)i);
                assert_non_null(s);
                assert_int_equal(vm_run_state_from_string(s), i);
        }
        assert_string_equal(vm_run_state_to_string(VM_RUN_PAUSED), "paused");
        assert_null(vm_run_state_to_string(_VM_RUN_STATE_MAX));
        assert_null(vm_run_state_to_string(_VM_RUN_STATE_INVALID));
        assert_int_equal(vm_run_state_from_string("bogus"), -EINVAL);
        assert_int_equal(vm_run_state_from_string(NULL), -EINVAL);
}

static void test_exit_reason(void **state)
{
        for (int i = 0; i < _VM_EXIT_REASON_MAX; i++) {
                const char *s = vm_exit_reason_to_string((VmExitReason)i);
                assert_non_null(s);
                assert_int_equal(vm_exit_reason_from_string(s), i);
        }
        assert_string_equal(vm_exit_reason_to_string(VM_EXIT_CRASHED), "crashed");
        assert_string_equal(vm_exit_reason_to_string(VM_EXIT_GUEST_REQUESTED), "guest-requested");
        assert_null(vm_exit_reason_to_string(_VM_EXIT_REASON_MAX));
        assert_int_equal(vm_exit_reason_from_string(""), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_run_state),
                cmocka_unit_test(test_exit_reason),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
