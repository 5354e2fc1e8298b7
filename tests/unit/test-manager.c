/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the daemon core without a bus: the VM registry of concierge/manager.c, the Vm
 * object, StartVm's validation table (through manager_start_vm()), and the daemon's enum tables
 * (VmState, LogLevel). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <unistd.h>

#include "concierge/log.h"
#include "concierge/manager.h"
#include "concierge/validate.h"
#include "concierge/vm.h"
#include "proto/concierge_service.pb-c.h"

static const ManagerConfig config = {
        .bus = "system",
        .runtime_dir = "/nonexistent/run",
        .state_dir = "/nonexistent/state",
        .vmm_path = "/nonexistent/vmm_backend",
};

static int setup(void **state)
{
        Manager *m = NULL;

        log_set_max_level(LOG_LEVEL_WARNING);
        if (manager_new(&config, &m) < 0)
                return -1;
        *state = m;
        return 0;
}

static int teardown(void **state)
{
        manager_free(*state);
        return 0;
}

static Vm *add(Manager *m, const char *owner, const char *name, pid_t pid)
{
        Vm *vm = NULL;

        assert_int_equal(vm_new(owner, name, &vm), 0);
        vm->pid = pid;
        assert_int_equal(manager_add_vm(m, vm), 0);
        return vm;
}

static void test_registry(void **state)
{
        Manager *m = *state;
        Vm *a, *b, *c, *dup = NULL;

        assert_int_equal(m->n_vms, 0);
        a = add(m, "aaaa", "termina", 100);
        b = add(m, "bbbb", "termina", 200); /* same name, other owner: a different VM */
        c = add(m, "aaaa", "arcvm", 0);
        assert_int_equal(m->n_vms, 3);

        assert_ptr_equal(manager_find_vm(m, "aaaa", "termina"), a);
        assert_ptr_equal(manager_find_vm(m, "bbbb", "termina"), b);
        assert_ptr_equal(manager_find_vm(m, "aaaa", "arcvm"), c);
        assert_null(manager_find_vm(m, "bbbb", "arcvm"));
        assert_null(manager_find_vm(m, "AAAA", "termina")); /* ids are compared exactly */
        assert_null(manager_find_vm(m, NULL, "termina"));

        assert_ptr_equal(manager_find_vm_by_pid(m, 100), a);
        assert_ptr_equal(manager_find_vm_by_pid(m, 200), b);
        assert_null(manager_find_vm_by_pid(m, 0)); /* "no process" matches nothing */
        assert_null(manager_find_vm_by_pid(m, 300));

        /* Duplicates by key or by pid are refused and change nothing. */
        assert_int_equal(vm_new("aaaa", "termina", &dup), 0);
        assert_int_equal(manager_add_vm(m, dup), -EEXIST);
        free(dup->name);
        dup->name = strdup("other");
        assert_non_null(dup->name);
        dup->pid = 200;
        assert_int_equal(manager_add_vm(m, dup), -EEXIST);
        assert_int_equal(m->n_vms, 3);
        dup->pid = 0;
        assert_int_equal(manager_add_vm(m, dup), 0);
        assert_int_equal(manager_add_vm(m, dup), -EINVAL); /* already registered */
        assert_int_equal(m->n_vms, 4);

        /* Remove from the middle, then free one that is still registered. */
        assert_ptr_equal(manager_remove_vm(m, b), b);
        assert_null(b->manager);
        assert_int_equal(m->n_vms, 3);
        assert_null(manager_find_vm(m, "bbbb", "termina"));
        assert_null(manager_find_vm_by_pid(m, 200));
        vm_free(b);

        vm_free(a);
        assert_int_equal(m->n_vms, 2);
        assert_null(manager_find_vm(m, "aaaa", "termina"));
        assert_ptr_equal(manager_find_vm(m, "aaaa", "arcvm"), c);

        unsigned n = 0;
        MANAGER_FOREACH_VM(vm, m)
        n++;
        assert_int_equal(n, 2);
        /* teardown frees the rest */
}

static void all_stopped(Manager *m, void *userdata)
{
        (*(unsigned *)userdata)++;
}

static void test_stop_all_empty(void **state)
{
        Manager *m = *state;
        unsigned calls = 0;

        /* Nothing to stop: done at once, exactly once. */
        assert_int_equal(manager_stop_all_vms(m, VM_STOP_REASON_STOP_ALL_VMS_REQUESTED, all_stopped, &calls),
                         0);
        assert_int_equal(calls, 1);
        assert_int_equal(manager_stop_all_vms(m, VM_STOP_REASON_STOP_ALL_VMS_REQUESTED, NULL, NULL), 0);
}

static void never_done(Manager *m, Vm *vm, int error, const char *message, void *userdata)
{
        fail_msg("a refused start must not call its completion");
}

/* One StartVm that must be refused with `want` and leave nothing behind. */
static void expect_refused(Manager *m, const VmStartRequest *req, const char *want)
{
        char *failure = NULL;
        Vm *vm = NULL;
        int r;

        r = manager_start_vm(m, req, never_done, NULL, &failure, &vm);
        assert_true(r < 0);
        assert_non_null(failure);
        if (!strstr(failure, want))
                fail_msg("failure '%s' does not contain '%s'", failure, want);
        assert_null(vm);
        assert_int_equal(m->n_vms, 0);
        free(failure);
}

static void test_start_validation(void **state)
{
        Manager *m = *state;
        char long_name[VM_NAME_MAX + 2];
        char *params[2] = {NULL, NULL};
        const VmStartRequest good = {
                .owner_id = "0123abcd",
                .name = "vm",
                .cpus = 1,
                .memory_mib = 64,
                .kernel_fd = 0, /* never used: every case below is refused first */
                .initrd_fd = -1,
        };
        VmStartRequest req;
        int64_t next_cid;

        m->host_cpus = 2; /* the host, as far as the checks are concerned */
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';

        req = good, req.owner_id = "";
        expect_refused(m, &req, "Empty or malformed owner ID");
        req = good, req.owner_id = "xyz";
        expect_refused(m, &req, "Empty or malformed owner ID");
        req = good, req.name = "";
        expect_refused(m, &req, "Empty or malformed VM name");
        req = good, req.name = long_name;
        expect_refused(m, &req, "VM name is too long");
        req = good, req.cpus = 3; /* more than the host has */
        expect_refused(m, &req, "Invalid CPU count");
        req = good, req.memory_mib = 1;
        expect_refused(m, &req, "Invalid memory size");
        req = good, req.backend = "qemu";
        expect_refused(m, &req, "Unknown backend 'qemu' (known: embedded)");
        req = good, req.kernel_fd = -1;
        expect_refused(m, &req, "No kernel");

        params[0] = malloc(MANAGER_CMDLINE_MAX + 1);
        assert_non_null(params[0]);
        memset(params[0], 'x', MANAGER_CMDLINE_MAX);
        params[0][MANAGER_CMDLINE_MAX] = '\0';
        params[1] = (char *)"y";
        req = good, req.kernel_params = params, req.n_kernel_params = 2;
        expect_refused(m, &req, "Kernel command line is too long");
        params[1] = NULL;
        req.n_kernel_params = 1; /* exactly the limit: accepted by the checks, fails at the spawn */
        free(params[0]);

        /* None of the refusals used a cid. */
        next_cid = manager_allocate_cid(m);
        assert_int_equal(next_cid, MANAGER_FIRST_CID);
}

static void test_start_spawn_failure(void **state)
{
        Manager *m = *state;
        char *failure = NULL;
        Vm *vm = NULL;
        int fd, r;

        /* The config's VMM does not exist: the spawn fails synchronously, the VM is dropped. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        VmStartRequest req = {
                .owner_id = "ab", .name = "x", .kernel_fd = fd, .initrd_fd = -1, .memory_mib = 64};
        r = manager_start_vm(m, &req, never_done, NULL, &failure, &vm);
        assert_int_equal(r, -ENOENT);
        assert_non_null(failure);
        assert_string_equal(failure, "Failed to start the VMM: No such file or directory");
        assert_int_equal(m->n_vms, 0);
        free(failure);
        close(fd);
        /* Its cid is gone for good: cids are never reused. */
        assert_int_equal(manager_allocate_cid(m), MANAGER_FIRST_CID + 1);
}

static void test_cids(void **state)
{
        Manager *m = *state;

        /* From 32 up, never reused. */
        assert_int_equal(manager_allocate_cid(m), 32);
        assert_int_equal(manager_allocate_cid(m), 33);
        assert_int_equal(manager_allocate_cid(m), 34);
}

static void test_vm_new(void **state)
{
        Vm *vm = (Vm *)0x1;

        assert_int_equal(vm_new("", "x", &vm), -EINVAL);
        assert_int_equal(vm_new("zz", "x", &vm), -EINVAL);
        assert_int_equal(vm_new("ab", "", &vm), -EINVAL);
        assert_int_equal(vm_new("ab", "a\nb", &vm), -EINVAL);
        assert_ptr_equal(vm, (Vm *)0x1);

        assert_int_equal(vm_new("ab", "x", &vm), 0);
        assert_string_equal(vm->owner_id, "ab");
        assert_string_equal(vm->name, "x");
        assert_int_equal(vm_get_state(vm), VM_STATE_NEW);
        assert_null(vm->vmm);
        assert_int_equal(vm->pid, 0);
        assert_null(vm_free(vm));
        assert_null(vm_free(NULL));
}

static void test_manager_new(void **state)
{
        ManagerConfig bad = config;
        Manager *m = NULL;

        bad.bus = NULL;
        assert_int_equal(manager_new(&bad, &m), -EINVAL);
        assert_int_equal(manager_new(NULL, &m), -EINVAL);
        assert_null(m);
        assert_null(manager_free(NULL));
}

static void test_enum_tables(void **state)
{
        for (VmState s = 0; s < _VM_STATE_MAX; s++) {
                assert_non_null(vm_state_to_string(s));
                assert_int_equal(vm_state_from_string(vm_state_to_string(s)), s);
        }
        assert_null(vm_state_to_string(_VM_STATE_MAX));
        assert_null(vm_state_to_string(_VM_STATE_INVALID));
        assert_int_equal(vm_state_from_string("paused"), _VM_STATE_INVALID);
        assert_int_equal(vm_state_from_string(NULL), _VM_STATE_INVALID);

        for (LogLevel l = 0; l < _LOG_LEVEL_MAX; l++) {
                assert_non_null(log_level_to_string(l));
                assert_int_equal(log_level_from_string(log_level_to_string(l)), l);
        }
        assert_null(log_level_to_string(_LOG_LEVEL_MAX));
        assert_int_equal(log_level_from_string("loud"), _LOG_LEVEL_INVALID);
        assert_int_equal(log_level_from_string(NULL), _LOG_LEVEL_INVALID);
}

static void test_log_returns_errno(void **state)
{
        /* log_*_errno() forward the error as a negative errno, whatever the sign given. */
        assert_int_equal(log_debug_errno(EINVAL, "x"), -EINVAL);
        assert_int_equal(log_debug_errno(-ENOENT, "x"), -ENOENT);
        assert_int_equal(log_internal(LOG_LEVEL_DEBUG, 0, "x"), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_all_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_validation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_spawn_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cids, setup, teardown),
                cmocka_unit_test(test_vm_new),
                cmocka_unit_test(test_manager_new),
                cmocka_unit_test(test_enum_tables),
                cmocka_unit_test(test_log_returns_errno),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
