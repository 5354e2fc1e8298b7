/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/validate.c: owner ids and VM names, and the failure strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "concierge/validate.h"
#include "vmm_backend/macro.h"

static void test_owner_ids(void **state)
{
        static const struct {
                const char *id;
                bool valid;
        } table[] = {
                {"0123456789abcdef", true},
                {"ABCDEF", true},
                {"aBc0", true},
                {"a", true},
                {"da39a3ee5e6b4b0d3255bfef95601890afd80709", true}, /* a cryptohome-style hash */
                {"", false},
                {"xyz", false},
                {"abc!", false},
                {"12 34", false},
                {" 1234", false},
                {"1234\n", false},
                {"0x1234", false},
                {"abc/def", false},
                {"../..", false},
                {"g", false},
                {"é", false},
        };
        char long_id[OWNER_ID_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                print_message("owner '%s'\n", table[i].id);
                assert_int_equal(owner_id_is_valid(table[i].id), table[i].valid);
        }
        assert_false(owner_id_is_valid(NULL));

        memset(long_id, 'a', sizeof(long_id));
        long_id[OWNER_ID_MAX] = '\0';
        assert_true(owner_id_is_valid(long_id));
        long_id[OWNER_ID_MAX] = 'a';
        long_id[OWNER_ID_MAX + 1] = '\0';
        assert_false(owner_id_is_valid(long_id));
}

static void test_vm_names(void **state)
{
        static const struct {
                const char *name;
                bool valid;
        } table[] = {
                {"termina", true},
                {"arcvm", true},
                {"my vm", true},
                {"vm-1_2.3", true},
                {"../etc", true}, /* only a name: it never becomes a path as-is */
                {"grüße", true},
                {"日本語", true},
                {"😀", true},
                {"", false},
                {"a\nb", false},
                {"\t", false},
                {"a\x7f", false},
                {"\x1b[31m", false},
                {"\xff", false},             /* not UTF-8 */
                {"a\xc3", false},            /* truncated sequence */
                {"\xc0\xaf", false},         /* overlong '/' */
                {"\xed\xa0\x80", false},     /* surrogate */
                {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
                {"\xe2\x82", false},         /* truncated 3-byte sequence */
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                print_message("name #%zu\n", i);
                assert_int_equal(vm_name_is_valid(table[i].name), table[i].valid);
        }
        assert_false(vm_name_is_valid(NULL));
}

static void test_request_failures(void **state)
{
        char name60[VM_NAME_MAX + 1], name61[VM_NAME_MAX + 2];

        /* The exact upstream strings. */
        assert_string_equal(VALIDATE_OWNER_ID_FAILURE, "Empty or malformed owner ID");
        assert_string_equal(VALIDATE_VM_NAME_FAILURE, "Empty or malformed VM name");
        assert_string_equal(VALIDATE_VM_NAME_TOO_LONG_FAILURE, "VM name is too long");

        assert_null(validate_vm_request("abc", "vm"));
        assert_string_equal(validate_vm_request("", "vm"), VALIDATE_OWNER_ID_FAILURE);
        assert_string_equal(validate_vm_request("abc", ""), VALIDATE_VM_NAME_FAILURE);
        /* The owner is checked first. */
        assert_string_equal(validate_vm_request("", ""), VALIDATE_OWNER_ID_FAILURE);
        assert_string_equal(validate_vm_request(NULL, NULL), VALIDATE_OWNER_ID_FAILURE);

        memset(name60, 'n', VM_NAME_MAX);
        name60[VM_NAME_MAX] = '\0';
        memset(name61, 'n', VM_NAME_MAX + 1);
        name61[VM_NAME_MAX + 1] = '\0';

        /* Any length is a valid name to look up; a new VM's name is capped at 60 bytes. */
        assert_null(validate_vm_request("abc", name61));
        assert_null(validate_new_vm_request("abc", name60));
        assert_string_equal(validate_new_vm_request("abc", name61), VALIDATE_VM_NAME_TOO_LONG_FAILURE);
        assert_string_equal(validate_new_vm_request("zz", name61), VALIDATE_OWNER_ID_FAILURE);
        assert_string_equal(validate_new_vm_request("abc", ""), VALIDATE_VM_NAME_FAILURE);
        /* The cap is in bytes: 20 three-byte characters are 60 bytes, 21 are too many. */
        assert_null(validate_new_vm_request("abc", "日本語日本語日本語日本語日本語日本語日本"));
        assert_string_equal(validate_new_vm_request("abc", "日本語日本語日本語日本語日本語日本語日本語"),
                            VALIDATE_VM_NAME_TOO_LONG_FAILURE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_owner_ids),
                cmocka_unit_test(test_vm_names),
                cmocka_unit_test(test_request_failures),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
