/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of vmc/owner.c: the owner id derived from a uid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "concierge/validate.h"
#include "vmc/vmc.h"

static void test_derived_owner(void **state)
{
        char a[17], b[17], c[17];

        vmc_owner_id_from_uid(1000, a);
        vmc_owner_id_from_uid(1000, b);
        vmc_owner_id_from_uid(1001, c);

        /* 16 lower-case hex digits, a valid owner id, stable, different per uid. */
        assert_int_equal(strlen(a), 16);
        assert_int_equal(strspn(a, "0123456789abcdef"), 16);
        assert_true(owner_id_is_valid(a));
        assert_string_equal(a, b);
        assert_string_not_equal(a, c);

        /* Pinned: the id must not change between versions, or users lose sight of their VMs.
         * FNV-1a-64("vm_concierge-owner:0"). */
        vmc_owner_id_from_uid(0, a);
        assert_string_equal(a, "b0b9e274dada8734");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_derived_owner),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
