/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of vmc's argument parsing (vmc/args.c): numbers, seconds, VM types, and the
 * options of `vmc start` and `vmc wait`. Usage errors print to stderr; that output is expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

/* An argv of verb + args (getopt permutes it, so it is a writable copy of the pointers). */
static int make_argv(const char *verb, const char *const *args, char **argv, size_t size)
{
        int argc = 0;

        argv[argc++] = (char *)verb;
        for (size_t i = 0; args[i]; i++) {
                assert_true((size_t)argc + 1 < size);
                argv[argc++] = (char *)args[i];
        }
        argv[argc] = NULL;
        return argc;
}

static int start_parse(VmcStartArgs *a, const char *const *args)
{
        char *argv[64];
        int argc = make_argv("start", args, argv, ELEMENTSOF(argv));

        return vmc_start_args_parse(argc, argv, a);
}

static int wait_parse(VmcWaitArgs *w, const char *const *args)
{
        char *argv[64];
        int argc = make_argv("wait", args, argv, ELEMENTSOF(argv));

        return vmc_wait_args_parse(argc, argv, w);
}

#define START(...) start_parse(&a, (const char *const[]){__VA_ARGS__, NULL})
#define WAIT(...) wait_parse(&w, (const char *const[]){__VA_ARGS__, NULL})

static void test_parse_uint(void **state)
{
        uint64_t v = 77;

        assert_int_equal(vmc_parse_uint("0", 0, 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(vmc_parse_uint("42", 0, 100, &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(vmc_parse_uint("007", 0, 100, &v), 0);
        assert_int_equal(v, 7);
        assert_int_equal(vmc_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);

        v = 77;
        assert_int_equal(vmc_parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
        assert_int_equal(vmc_parse_uint("101", 0, 100, &v), -ERANGE);
        assert_int_equal(vmc_parse_uint("0", 1, 100, &v), -ERANGE);
        assert_int_equal(vmc_parse_uint("", 0, 100, &v), -EINVAL);
        assert_int_equal(vmc_parse_uint("-1", 0, 100, &v), -EINVAL);
        assert_int_equal(vmc_parse_uint("+1", 0, 100, &v), -EINVAL);
        assert_int_equal(vmc_parse_uint(" 1", 0, 100, &v), -EINVAL);
        assert_int_equal(vmc_parse_uint("1 ", 0, 100, &v), -EINVAL);
        assert_int_equal(vmc_parse_uint("1k", 0, 100, &v), -EINVAL);
        assert_int_equal(vmc_parse_uint("0x10", 0, 100, &v), -EINVAL);
        assert_int_equal(vmc_parse_uint(NULL, 0, 100, &v), -EINVAL);
        assert_int_equal(v, 77); /* untouched on failure */
}

static void test_parse_seconds(void **state)
{
        uint64_t u = 5;

        assert_int_equal(vmc_parse_seconds("5", &u), 0);
        assert_int_equal(u, 5 * USEC_PER_SEC);
        assert_int_equal(vmc_parse_seconds("0.5", &u), 0);
        assert_int_equal(u, 500000);
        assert_int_equal(vmc_parse_seconds("1.000001", &u), 0);
        assert_int_equal(u, 1000001);
        assert_int_equal(vmc_parse_seconds("1.0000019", &u), 0); /* beyond µs: dropped */
        assert_int_equal(u, 1000001);
        assert_int_equal(vmc_parse_seconds("0", &u), 0);
        assert_int_equal(u, 0);
        assert_int_equal(vmc_parse_seconds("86400", &u), 0);
        assert_int_equal(u, 86400 * USEC_PER_SEC);

        u = 5;
        assert_int_equal(vmc_parse_seconds("86400.1", &u), -ERANGE);
        assert_int_equal(vmc_parse_seconds("86401", &u), -ERANGE);
        assert_int_equal(vmc_parse_seconds("", &u), -EINVAL);
        assert_int_equal(vmc_parse_seconds(".5", &u), -EINVAL);
        assert_int_equal(vmc_parse_seconds("1.", &u), -EINVAL);
        assert_int_equal(vmc_parse_seconds("1.2.3", &u), -EINVAL);
        assert_int_equal(vmc_parse_seconds("-1", &u), -EINVAL);
        assert_int_equal(vmc_parse_seconds("1s", &u), -EINVAL);
        assert_int_equal(u, 5);
}

static void test_vm_type(void **state)
{
        assert_int_equal(vmc_parse_vm_type("termina"), VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__TERMINA);
        assert_int_equal(vmc_parse_vm_type("arcvm"), VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__ARC_VM);
        assert_int_equal(vmc_parse_vm_type("plugin"), VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__PLUGIN_VM);
        assert_int_equal(vmc_parse_vm_type("Termina"), -EINVAL);
        assert_int_equal(vmc_parse_vm_type("arc-vm"), -EINVAL);
        assert_int_equal(vmc_parse_vm_type(""), -EINVAL);
        assert_int_equal(vmc_parse_vm_type(NULL), -EINVAL);
}

static void test_start_full(void **state)
{
        VmcStartArgs a = {};

        assert_int_equal(START("vm1", "--kernel", "/k", "--initrd=/i", "--mem", "256", "--cpus=2",
                               "--cmdline", "a=1 b", "--cmdline=c", "--enable-balloon", "--enable-vmm-swap",
                               "--vm-type", "arcvm"),
                         0);
        assert_string_equal(a.name, "vm1");
        assert_string_equal(a.kernel, "/k");
        assert_string_equal(a.initrd, "/i");
        assert_int_equal(a.mem_mib, 256);
        assert_int_equal(a.cpus, 2);
        assert_int_equal(a.n_kernel_params, 2);
        assert_string_equal(a.kernel_params[0], "a=1 b");
        assert_string_equal(a.kernel_params[1], "c");
        assert_true(a.enable_balloon);
        assert_true(a.enable_vmm_swap);
        assert_int_equal(a.vm_type, VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__ARC_VM);
        vmc_start_args_done(&a);
        assert_null(a.kernel_params);
}

static void test_start_minimal_and_order(void **state)
{
        VmcStartArgs a = {};

        /* Options may come before the name. Defaults: 0 = the daemon decides. */
        assert_int_equal(START("--kernel", "/k", "vm"), 0);
        assert_string_equal(a.name, "vm");
        assert_string_equal(a.kernel, "/k");
        assert_null(a.initrd);
        assert_int_equal(a.mem_mib, 0);
        assert_int_equal(a.cpus, 0);
        assert_int_equal(a.n_kernel_params, 0);
        assert_false(a.enable_balloon);
        assert_false(a.enable_vmm_swap);
        assert_int_equal(a.vm_type, 0);
        vmc_start_args_done(&a);

        /* Parsing twice in one process works (getopt state is reset). */
        assert_int_equal(START("other", "--kernel=/x", "--mem=1"), 0);
        assert_string_equal(a.name, "other");
        assert_int_equal(a.mem_mib, 1);
        vmc_start_args_done(&a);

        /* After "--", a name that looks like an option. */
        assert_int_equal(START("--kernel=/x", "--", "--weird"), 0);
        assert_string_equal(a.name, "--weird");
        vmc_start_args_done(&a);
}

static void test_start_usage_errors(void **state)
{
        VmcStartArgs a = {};

        assert_int_equal(START("vm"), VMC_EXIT_USAGE);                       /* no --kernel */
        assert_int_equal(START("--kernel", "/k"), VMC_EXIT_USAGE);           /* no name */
        assert_int_equal(START("a", "b", "--kernel", "/k"), VMC_EXIT_USAGE); /* two names */
        assert_int_equal(START("", "--kernel", "/k"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel="), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--mem", "0"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--mem", "-5"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--mem", "1G"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--mem", "4194305"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--cpus", "0"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--cpus", "1025"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--cmdline="), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--vm-type", "borealis"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--frobnicate"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "-x"), VMC_EXIT_USAGE);
        assert_int_equal(START("vm", "--kernel", "/k", "--enable-balloon=yes"), VMC_EXIT_USAGE);
        /* Nothing was handed out on failure. */
        assert_null(a.name);
        assert_null(a.kernel_params);
}

static void test_wait_for_strings(void **state)
{
        for (VmcWaitFor w = 0; w < _VMC_WAIT_FOR_MAX; w++)
                assert_int_equal(vmc_wait_for_from_string(vmc_wait_for_to_string(w)), w);
        assert_string_equal(vmc_wait_for_to_string(VMC_WAIT_STARTED), "started");
        assert_string_equal(vmc_wait_for_to_string(VMC_WAIT_STOPPED), "stopped");
        assert_null(vmc_wait_for_to_string(_VMC_WAIT_FOR_MAX));
        assert_null(vmc_wait_for_to_string(_VMC_WAIT_FOR_INVALID));
        assert_int_equal(vmc_wait_for_from_string("running"), _VMC_WAIT_FOR_INVALID);
        assert_int_equal(vmc_wait_for_from_string(NULL), _VMC_WAIT_FOR_INVALID);
}

static void test_wait_args(void **state)
{
        VmcWaitArgs w = {};

        assert_int_equal(WAIT("vm", "--for=started"), 0);
        assert_string_equal(w.name, "vm");
        assert_int_equal(w.wait_for, VMC_WAIT_STARTED);
        assert_int_equal(w.timeout_usec, 0);

        assert_int_equal(WAIT("--for", "stopped", "--timeout", "1.5", "vm2"), 0);
        assert_string_equal(w.name, "vm2");
        assert_int_equal(w.wait_for, VMC_WAIT_STOPPED);
        assert_int_equal(w.timeout_usec, 1500000);

        assert_int_equal(WAIT("vm"), VMC_EXIT_USAGE); /* --for is required */
        assert_int_equal(WAIT("--for=started"), VMC_EXIT_USAGE);
        assert_int_equal(WAIT("vm", "--for=running"), VMC_EXIT_USAGE);
        assert_int_equal(WAIT("vm", "--for=started", "--timeout=0"), VMC_EXIT_USAGE);
        assert_int_equal(WAIT("vm", "--for=started", "--timeout=soon"), VMC_EXIT_USAGE);
        assert_int_equal(WAIT("vm", "other", "--for=started"), VMC_EXIT_USAGE);
        assert_int_equal(WAIT("", "--for=started"), VMC_EXIT_USAGE);
        assert_int_equal(WAIT("vm", "--for=started", "--bogus"), VMC_EXIT_USAGE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_uint),
                cmocka_unit_test(test_parse_seconds),
                cmocka_unit_test(test_vm_type),
                cmocka_unit_test(test_start_full),
                cmocka_unit_test(test_start_minimal_and_order),
                cmocka_unit_test(test_start_usage_errors),
                cmocka_unit_test(test_wait_for_strings),
                cmocka_unit_test(test_wait_args),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
