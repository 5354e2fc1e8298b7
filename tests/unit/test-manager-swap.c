/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the daemon's vmm-swap wiring (concierge/manager-swap.c): the flags, the TBW budget
 * opened at startup (new, reloaded, corrupt), VMs without vmm-swap or without a VMM. */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "concierge/log.h"
#include "concierge/manager-swap.h"
#include "concierge/manager.h"
#include "concierge/vm.h"

static void test_option_strings(void **state)
{
        for (int i = 0; i < _MANAGER_SWAP_OPTION_MAX; i++) {
                const char *s = manager_swap_option_to_string((ManagerSwapOption)i);

                assert_non_null(s);
                assert_int_equal(manager_swap_option_from_string(s), i);
        }
        assert_null(manager_swap_option_to_string(_MANAGER_SWAP_OPTION_MAX));
        assert_null(manager_swap_option_to_string(_MANAGER_SWAP_OPTION_INVALID));
        assert_int_equal(manager_swap_option_from_string("swap-dir"), -EINVAL);
        assert_int_equal(manager_swap_option_from_string(NULL), -EINVAL);

        /* The getopt table and the enum agree. */
        static const struct option opts[] = {MANAGER_SWAP_LONG_OPTIONS(100)};
        assert_int_equal(ELEMENTSOF(opts), _MANAGER_SWAP_OPTION_MAX);
        for (size_t i = 0; i < ELEMENTSOF(opts); i++) {
                assert_string_equal(opts[i].name,
                                    manager_swap_option_to_string((ManagerSwapOption)(opts[i].val - 100)));
                assert_int_equal(opts[i].has_arg, required_argument);
        }
}

static void test_config_parse(void **state)
{
        ManagerSwapConfig c = {};

        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_TRIM_WAIT_MS, "1500"), 0);
        assert_int_equal(c.trim_wait_us, 1500000);
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_COOL_DOWN_MS, "2"), 0);
        assert_int_equal(c.cool_down_us, 2000);
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_POLL_MS, "10"), 0);
        assert_int_equal(c.poll_interval_us, 10000);
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_FORCE_DELAY_MS, "300"), 0);
        assert_int_equal(c.force_enable_delay_us, 300000);
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_LOW_DISK_CHECK_MS, "50"), 0);
        assert_int_equal(c.low_disk_check_us, 50000);
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_DISK_SIZE_BYTES, "32000000000"),
                         0);
        assert_int_equal(c.disk_size_bytes, UINT64_C(32000000000));
        /* 0 keeps the default (the controller reads 0 as "use §3.2's value"). */
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_TRIM_WAIT_MS, "0"), 0);
        assert_int_equal(c.trim_wait_us, 0);

        /* Bad values change nothing. */
        ManagerSwapConfig before = c;
        static const char *const bad[] = {"",
                                          "-1",
                                          "+5",
                                          " 5",
                                          "5 ",
                                          "5ms",
                                          "0x10",
                                          "1e3",
                                          "abc",
                                          "9007199254741",
                                          "99999999999999999999999"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_POLL_MS, bad[i]),
                                 -EINVAL);
        assert_int_equal(
                manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_DISK_SIZE_BYTES, "9223372036854775808"),
                -EINVAL);
        assert_int_equal(manager_swap_config_parse(&c, _MANAGER_SWAP_OPTION_MAX, "5"), -EINVAL);
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_POLL_MS, NULL), -EINVAL);
        assert_memory_equal(&c, &before, sizeof(c));
        /* The largest accepted duration. */
        assert_int_equal(manager_swap_config_parse(&c, MANAGER_SWAP_OPTION_COOL_DOWN_MS, "9007199254740"),
                         0);
        assert_int_equal(c.cool_down_us, INT64_C(9007199254740000));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path);
}

typedef struct Fixture {
        char dir[64];
        char *state_dir;
        Manager *m;
} Fixture;

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-manager-swap.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_true(asprintf(&f->state_dir, "%s/state", f->dir) > 0);
        assert_int_equal(mkdir(f->state_dir, 0755), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;

        f->m = manager_free(f->m);
        nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(f->state_dir);
        free(f);
        return 0;
}

static Manager *new_manager(Fixture *f)
{
        ManagerConfig config = {
                .bus = "system", /* never connected here */
                .runtime_dir = f->dir,
                .state_dir = f->state_dir,
                .vmm_path = "/nonexistent",
        };
        Manager *m = NULL;

        assert_int_equal(manager_new(&config, &m), 0);
        return m;
}

static char *tbw_path(Fixture *f)
{
        char *p;

        assert_true(asprintf(&p, "%s/" SWAP_TBW_DIR "/" SWAP_TBW_FILE, f->state_dir) > 0);
        return p;
}

static void test_startup_creates_and_reloads(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *path = tbw_path(f);
        ManagerSwapConfig c = {.disk_size_bytes = UINT64_C(32000000000)};
        struct stat st;

        f->m = new_manager(f);
        assert_int_equal(manager_swap_startup(f->m, &c), 0);
        assert_non_null(f->m->swap);
        /* Twice is a caller bug. */
        assert_int_equal(manager_swap_startup(f->m, &c), -EINVAL);

        /* A new budget is pessimistic and written out at once (28 daily entries). */
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_true(st.st_size > 0);
        off_t size = st.st_size;
        f->m = manager_free(f->m);

        /* A second daemon loads the file and leaves it as it is. */
        f->m = new_manager(f);
        assert_int_equal(manager_swap_startup(f->m, &c), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_size, size);
}

static void test_startup_corrupt_file(void **state)
{
        Fixture *f = *state;
        _cleanup_free_ char *path = tbw_path(f), *dir = NULL;
        ManagerSwapConfig c = {};
        struct stat st;
        int fd;

        assert_true(asprintf(&dir, "%s/" SWAP_TBW_DIR, f->state_dir) > 0);
        assert_int_equal(mkdir(dir, 0700), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "\xff\xff\xff garbage", 12), 12);
        close(fd);

        /* Corrupt: deleted, the budget pessimistic and memory-only for this run; the daemon
         * carries on. */
        f->m = new_manager(f);
        assert_int_equal(manager_swap_startup(f->m, &c), 0);
        assert_int_equal(stat(path, &st), -1);
        assert_int_equal(errno, ENOENT);
        f->m = manager_free(f->m);

        /* The next run starts a new file. */
        f->m = new_manager(f);
        assert_int_equal(manager_swap_startup(f->m, &c), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > 0);
}

static void test_startup_unwritable_state_dir(void **state)
{
        Fixture *f = *state;
        ManagerSwapConfig c = {};

        /* The subdir cannot be made (a file is in the way): memory-only, still no failure. */
        _cleanup_free_ char *dir = NULL;
        assert_true(asprintf(&dir, "%s/" SWAP_TBW_DIR, f->state_dir) > 0);
        int fd = open(dir, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);

        f->m = new_manager(f);
        assert_int_equal(manager_swap_startup(f->m, &c), 0);
        assert_non_null(f->m->swap);
}

static void test_vm_without_swap_or_vmm(void **state)
{
        Fixture *f = *state;
        ManagerSwapConfig c = {};
        Vm *vm = NULL;

        f->m = new_manager(f);
        assert_int_equal(vm_new("0123abcd", "vm1", &vm), 0);
        assert_int_equal(manager_add_vm(f->m, vm), 0);

        /* No swap dir: vmm-swap is off, nothing to do. */
        assert_int_equal(manager_swap_vm_launched(f->m, vm), 0);
        assert_null(vm->swap);
        assert_null(vm->swap_state);

        /* A swap dir but no TBW budget set up (no startup) or no backend: no controller. */
        vm->swap_dir = strdup(f->dir);
        assert_non_null(vm->swap_dir);
        assert_int_equal(manager_swap_vm_launched(f->m, vm), 0);
        assert_null(vm->swap);
        assert_int_equal(manager_swap_startup(f->m, &c), 0);
        assert_int_equal(manager_swap_vm_launched(f->m, vm), 0);
        assert_null(vm->swap);

        /* The hooks take a VM without a controller. */
        manager_swap_vm_event(vm, &(VmmctlEvent){.type = VMMCTL_EVENT_SWAP_STATE_CHANGED});
        manager_swap_vm_stopped(vm);
        manager_swap_vm_free(vm);
        assert_int_equal(manager_swap_vm_launched(NULL, vm), -EINVAL);
        assert_int_equal(manager_swap_vm_launched(f->m, NULL), -EINVAL);
        vm_free(vm);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_option_strings),
                cmocka_unit_test(test_config_parse),
                cmocka_unit_test_setup_teardown(test_startup_creates_and_reloads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_startup_corrupt_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_startup_unwritable_state_dir, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vm_without_swap_or_vmm, setup, teardown),
        };

        log_set_max_level(LOG_LEVEL_ERROR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
