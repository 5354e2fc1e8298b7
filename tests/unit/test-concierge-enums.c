/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of dbus/concierge-enums.c: every API enum string table round-trips and covers
 * every value the proto declares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dbus/concierge-enums.h"
#include "vmm_backend/macro.h"

typedef struct Table {
        const char *what;
        const ProtobufCEnumDescriptor *desc;
        int max;
        const char *(*to_string)(int);
        int (*from_string)(const char *);
} Table;

static void check_table(const Table *t)
{
        print_message("%s\n", t->what);

        /* Every value of the proto enum has a name, and the table has nothing else. */
        assert_int_equal((int)t->desc->n_values, t->max);
        for (unsigned i = 0; i < t->desc->n_values; i++)
                assert_non_null(t->to_string(t->desc->values[i].value));

        for (int v = 0; v < t->max; v++) {
                const char *s = t->to_string(v);

                assert_non_null(s);
                assert_int_equal(t->from_string(s), v);
                /* Names are unique. */
                for (int w = 0; w < v; w++)
                        assert_string_not_equal(t->to_string(w), s);
        }

        assert_null(t->to_string(-1));
        assert_null(t->to_string(t->max));
        assert_null(t->to_string(INT32_MAX));
        assert_int_equal(t->from_string("no-such-value"), -EINVAL);
        assert_int_equal(t->from_string(""), -EINVAL);
        assert_int_equal(t->from_string(NULL), -EINVAL);
}

static void test_tables(void **state)
{
        const Table tables[] = {
                {"VmStatus", &vm_tools__concierge__vm_status__descriptor, VM_STATUS_MAX, vm_status_to_string,
                 vm_status_from_string},
                {"VmInfo.VmType", &vm_tools__concierge__vm_info__vm_type__descriptor, VM_TYPE_MAX,
                 vm_type_to_string, vm_type_from_string},
                {"VmStopReason", &vm_tools__concierge__vm_stop_reason__descriptor, VM_STOP_REASON_MAX,
                 vm_stop_reason_to_string, vm_stop_reason_from_string},
        };

        for (size_t i = 0; i < ELEMENTSOF(tables); i++)
                check_table(&tables[i]);
}

static void test_known_names(void **state)
{
        assert_string_equal(vm_status_to_string(VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING),
                            "running");
        assert_string_equal(vm_type_to_string(VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__ARC_VM), "arc-vm");
        assert_int_equal(vm_stop_reason_from_string("service-shutdown"),
                         VM_TOOLS__CONCIERGE__VM_STOP_REASON__SERVICE_SHUTDOWN);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tables),
                cmocka_unit_test(test_known_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
