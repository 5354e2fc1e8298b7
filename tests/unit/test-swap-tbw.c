/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/swap-tbw: the daemon-wide TBW budget with its history file in a temp
 * state dir (pessimistic start, reload across restarts, corrupt file, write failure -> memory-only,
 * disk size from statvfs or the override). */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "concierge/history-file.h"
#include "concierge/swap-tbw.h"
#include "policy/history-codec.h"
#include "policy/swap-policy.h"
#include "policy/tbw.h"

#define T0 (INT64_C(1704067200) * POLICY_USEC_PER_SEC)
#define H POLICY_USEC_PER_HOUR
#define D POLICY_USEC_PER_DAY
#define DISK UINT64_C(32000000000)
#define T UINT64_C(550000000)

typedef struct Fixture {
        char dir[64];
        char path[160];
} Fixture;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)remove(p);
        return 0;
}

static int setup(void **state)
{
        Fixture *fx = calloc(1, sizeof(*fx));

        if (!fx)
                return -1;
        strcpy(fx->dir, "/tmp/test-swap-tbw.XXXXXX");
        if (!mkdtemp(fx->dir))
                return -1;
        snprintf(fx->path, sizeof(fx->path), "%s/" SWAP_TBW_DIR "/" SWAP_TBW_FILE, fx->dir);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        Fixture *fx = *state;

        (void)nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(fx);
        return 0;
}

static SwapTbw *open_tbw(Fixture *fx, int64_t now, SwapTbwOpenInfo *info)
{
        SwapTbwConfig c = {.state_dir = fx->dir, .disk_size_bytes = DISK};
        SwapTbw *t = NULL;

        assert_int_equal(swap_tbw_new(&c, now, &t, info), 0);
        assert_non_null(t);
        return t;
}

static uint64_t used(const SwapTbw *t, int64_t now, TbwWindow w)
{
        TbwBudget b;

        swap_tbw_budget(t, now, &b);
        return b.window[w].used;
}

static void write_file(const char *path, const void *data, size_t n)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t)n);
        close(fd);
}

static void test_first_start_is_pessimistic_and_persistent(void **state)
{
        Fixture *fx = *state;
        SwapTbwOpenInfo info;
        SwapTbw *t = open_tbw(fx, T0, &info);
        struct stat st;

        assert_int_equal(info.load, HISTORY_FILE_CREATED);
        assert_true(info.pessimistic);
        assert_int_equal(info.rewrite, 0);
        assert_true(info.disk_size_overridden);
        assert_int_equal(info.target_per_day, T);
        assert_int_equal(swap_tbw_target_per_day(t), T);
        assert_int_equal(swap_tbw_duration_target_us(t), tbw_duration_target_us(T));
        assert_true(swap_tbw_is_persistent(t));
        assert_string_equal(swap_tbw_path(t), fx->path);

        /* The 28 pessimistic days block swap-outs for about a day, then allow them. */
        assert_false(swap_tbw_can_swap_out(t, T0));
        assert_false(swap_tbw_can_swap_out(t, T0 + D - 1));
        assert_true(swap_tbw_can_swap_out(t, T0 + D + 1));

        /* The pessimistic history was written: the file holds more than nothing, mode 0600. */
        assert_int_equal(stat(fx->path, &st), 0);
        assert_true(st.st_size > 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        swap_tbw_free(t);

        /* A restart reads it back: no second pessimistic start. */
        t = open_tbw(fx, T0 + 2 * D, &info);
        assert_int_equal(info.load, HISTORY_FILE_LOADED);
        assert_false(info.pessimistic);
        assert_int_equal(used(t, T0 + 2 * D, TBW_WINDOW_28_DAYS), 26 * T);
        assert_true(swap_tbw_can_swap_out(t, T0 + 2 * D));
        swap_tbw_free(t);
}

static void test_records_survive_restart(void **state)
{
        Fixture *fx = *state;
        SwapTbwOpenInfo info;
        SwapTbw *t = open_tbw(fx, T0 - 40 * D, &info);
        int64_t now = T0;

        /* The pessimistic history is long gone by T0. */
        assert_true(swap_tbw_can_swap_out(t, now));
        assert_int_equal(swap_tbw_record(t, now, 3 * T), 0);
        assert_true(swap_tbw_can_swap_out(t, now));
        assert_int_equal(swap_tbw_record(t, now + H, T), 0);
        /* 4T within a day: the 1-day window (4 * T) is reached. */
        assert_false(swap_tbw_can_swap_out(t, now + H));
        swap_tbw_free(t);

        t = open_tbw(fx, now + 2 * H, &info);
        assert_int_equal(info.load, HISTORY_FILE_LOADED);
        assert_false(info.pessimistic);
        /* A pessimistic start would show T in the last day; the file says 4T. */
        assert_int_equal(used(t, now + 2 * H, TBW_WINDOW_1_DAY), 4 * T);
        assert_false(swap_tbw_can_swap_out(t, now + 2 * H));
        assert_true(swap_tbw_can_swap_out(t, now + D + 1));
        swap_tbw_free(t);
}

static void test_corrupt_file_is_deleted(void **state)
{
        Fixture *fx = *state;
        SwapTbwOpenInfo info;
        SwapTbw *t = open_tbw(fx, T0 - 40 * D, &info);
        static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0x01, 0x02};

        swap_tbw_free(t);
        write_file(fx->path, garbage, sizeof(garbage));

        t = open_tbw(fx, T0, &info);
        assert_true(info.load < 0);
        assert_true(history_error_is_corruption(info.load));
        assert_true(info.pessimistic);
        assert_int_equal(info.rewrite, HISTORY_FILE_SKIPPED);
        assert_false(swap_tbw_is_persistent(t));
        assert_int_equal(access(fx->path, F_OK), -1);
        assert_false(swap_tbw_can_swap_out(t, T0));
        /* Memory-only: records are kept in memory, never written. */
        assert_int_equal(swap_tbw_record(t, T0 + 2 * D, T), HISTORY_FILE_SKIPPED);
        assert_int_equal(used(t, T0 + 2 * D, TBW_WINDOW_1_DAY), T);
        assert_int_equal(access(fx->path, F_OK), -1);
        swap_tbw_free(t);
}

static void test_future_entry_is_corrupt(void **state)
{
        Fixture *fx = *state;
        TbwHistoryRecord e[2] = {{.time_us = T0, .size = T}, {.time_us = T0 + D, .size = T}};
        char dir[192];
        uint8_t *data = NULL;
        size_t n = 0;
        SwapTbwOpenInfo info;
        SwapTbw *t;

        snprintf(dir, sizeof(dir), "%s/" SWAP_TBW_DIR, fx->dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(tbw_history_encode(e, 2, &data, &n), 0);
        write_file(fx->path, data, n);
        free(data);

        t = open_tbw(fx, T0 + H, &info);
        assert_int_equal(info.load, HISTORY_ERR_FUTURE_TIME);
        assert_true(info.pessimistic);
        assert_int_equal(access(fx->path, F_OK), -1);
        swap_tbw_free(t);
}

static void test_fence_only_file_is_pessimistic(void **state)
{
        Fixture *fx = *state;
        TbwHistoryRecord e = {.time_us = T0 - D, .reported_fence = true};
        char dir[192];
        uint8_t *data = NULL;
        size_t n = 0;
        SwapTbwOpenInfo info;
        SwapTbw *t;

        snprintf(dir, sizeof(dir), "%s/" SWAP_TBW_DIR, fx->dir);
        assert_int_equal(mkdir(dir, 0700), 0);
        assert_int_equal(tbw_history_encode(&e, 1, &data, &n), 0);
        write_file(fx->path, data, n);
        free(data);

        t = open_tbw(fx, T0, &info);
        assert_int_equal(info.load, HISTORY_FILE_LOADED);
        assert_true(info.pessimistic);
        assert_int_equal(info.rewrite, 0);
        assert_true(swap_tbw_is_persistent(t));
        assert_false(swap_tbw_can_swap_out(t, T0));
        swap_tbw_free(t);

        /* The rewrite holds the pessimistic history: a restart loads it as is. */
        t = open_tbw(fx, T0 + H, &info);
        assert_int_equal(info.load, HISTORY_FILE_LOADED);
        assert_false(info.pessimistic);
        assert_int_equal(used(t, T0 + H, TBW_WINDOW_28_DAYS), 28 * T);
        swap_tbw_free(t);
}

static void test_unusable_dir_is_memory_only(void **state)
{
        Fixture *fx = *state;
        char sub[192];
        SwapTbwOpenInfo info;
        SwapTbw *t;

        /* vmm_swap_policy is a regular file: the history cannot live there. */
        snprintf(sub, sizeof(sub), "%s/" SWAP_TBW_DIR, fx->dir);
        write_file(sub, "x", 1);
        t = open_tbw(fx, T0, &info);
        assert_true(info.load < 0);
        assert_false(history_error_is_corruption(info.load));
        assert_true(info.pessimistic);
        assert_false(swap_tbw_is_persistent(t));
        assert_false(swap_tbw_can_swap_out(t, T0));
        assert_int_equal(swap_tbw_record(t, T0, 1), HISTORY_FILE_SKIPPED);
        swap_tbw_free(t);
}

static void test_write_failure_goes_memory_only_once(void **state)
{
        Fixture *fx = *state;
        char tmp[200];
        SwapTbwOpenInfo info;
        SwapTbw *t = open_tbw(fx, T0 - 40 * D, &info);
        int64_t now = T0;
        int r = 0, failures = 0;

        /* A directory where the rotation's .tmp must go: the first rotation fails. */
        snprintf(tmp, sizeof(tmp), "%s" HISTORY_FILE_TMP_SUFFIX, fx->path);
        assert_int_equal(mkdir(tmp, 0700), 0);

        for (int i = 0; i < 400 && failures == 0; i++) {
                r = swap_tbw_record(t, now, 1000);
                now += H;
                if (r < 0)
                        failures++;
                else
                        assert_int_equal(r, 0);
        }
        assert_int_equal(failures, 1);
        assert_false(swap_tbw_is_persistent(t));
        /* The file is deleted; later records stay in memory only. */
        assert_int_equal(access(fx->path, F_OK), -1);
        assert_int_equal(swap_tbw_record(t, now, T), HISTORY_FILE_SKIPPED);
        assert_true(used(t, now, TBW_WINDOW_1_DAY) >= T);
        swap_tbw_free(t);
}

static void test_disk_size_from_statvfs(void **state)
{
        Fixture *fx = *state;
        SwapTbwConfig c = {.state_dir = fx->dir};
        SwapTbwOpenInfo info;
        SwapTbw *t = NULL;
        uint64_t size = 0;

        assert_int_equal(swap_fs_size_bytes(fx->dir, &size), 0);
        assert_true(size > 0);
        assert_true(swap_fs_free_bytes(fx->dir) >= 0);
        assert_int_equal(swap_fs_size_bytes("/nonexistent/x", &size), -ENOENT);
        assert_int_equal(swap_fs_free_bytes("/nonexistent/x"), -ENOENT);

        assert_int_equal(swap_tbw_new(&c, T0, &t, &info), 0);
        assert_false(info.disk_size_overridden);
        assert_int_equal(info.disk_size_error, 0);
        assert_int_equal(info.target_per_day, tbw_target_per_day(info.disk_size_bytes));
        assert_int_equal(swap_tbw_target_per_day(t), tbw_target_per_day(info.disk_size_bytes));
        swap_tbw_free(t);
}

static void test_no_state_dir(void **state)
{
        SwapTbwConfig c = {};
        SwapTbwOpenInfo info;
        SwapTbw *t = NULL;

        assert_int_equal(swap_tbw_new(&c, T0, &t, &info), 0);
        assert_null(swap_tbw_path(t));
        assert_false(swap_tbw_is_persistent(t));
        assert_true(info.pessimistic);
        /* Unknown disk: 16 GB assumed. */
        assert_int_equal(swap_tbw_target_per_day(t), tbw_target_per_day(0));
        assert_int_equal(swap_tbw_target_per_day(t), UINT64_C(275000000));
        assert_false(swap_tbw_can_swap_out(t, T0));
        assert_int_equal(swap_tbw_record(t, T0, 1), HISTORY_FILE_SKIPPED);
        swap_tbw_free(t);

        assert_int_equal(swap_tbw_new(NULL, T0, &t, NULL), -EINVAL);
        assert_int_equal(swap_tbw_new(&c, T0, NULL, NULL), -EINVAL);
        assert_null(swap_tbw_free(NULL));
        assert_int_equal(swap_tbw_record(NULL, T0, 1), -EINVAL);
        assert_false(swap_tbw_can_swap_out(NULL, T0));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_first_start_is_pessimistic_and_persistent, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_records_survive_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_corrupt_file_is_deleted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_future_entry_is_corrupt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fence_only_file_is_pessimistic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unusable_dir_is_memory_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_failure_goes_memory_only_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_size_from_statvfs, setup, teardown),
                cmocka_unit_test(test_no_state_dir),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
