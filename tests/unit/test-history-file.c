/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/history-file: create/load/append/rotate on a temp dir, every corruption
 * case on disk, crash safety (leftover .tmp, a rename that did or did not happen, SIGKILL at
 * random points), and the memory-only fallback after write failures. */
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "concierge/history-file.h"
#include "policy/history-codec.h"
#include "policy/swap-policy.h"
#include "policy/tbw.h"
#include "policy/usage.h"
#include "vmm_backend/macro.h"

#define T0 (INT64_C(1704067200) * POLICY_USEC_PER_SEC)
#define H POLICY_USEC_PER_HOUR
#define D POLICY_USEC_PER_DAY
#define W POLICY_USEC_PER_WEEK
#define TARGET UINT64_C(550000000)

typedef struct Fixture {
        char dir[64];
        char path[128];
        char tmp[160];
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
        strcpy(fx->dir, "/tmp/test-history-file.XXXXXX");
        if (!mkdtemp(fx->dir))
                return -1;
        snprintf(fx->path, sizeof(fx->path), "%s/tbw_history2", fx->dir);
        snprintf(fx->tmp, sizeof(fx->tmp), "%s.tmp", fx->path);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        Fixture *fx = *state;

        nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(fx);
        return 0;
}

static bool exists(const char *p)
{
        struct stat st;

        return lstat(p, &st) == 0;
}

static off_t file_size(const char *p)
{
        struct stat st;

        assert_int_equal(stat(p, &st), 0);
        return st.st_size;
}

static void put_bytes(const char *p, const void *data, size_t n)
{
        int fd = open(p, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t)n);
        close(fd);
}

static void put_tbw(const char *p, const TbwHistoryRecord *e, size_t n)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        assert_int_equal(tbw_history_encode(e, n, &data, &size), 0);
        put_bytes(p, data, size);
}

static void assert_tbw_records_equal(const TbwHistoryRecord *a, const TbwHistoryRecord *b, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(a[i].time_us, b[i].time_us);
                assert_int_equal(a[i].size, b[i].size);
                assert_int_equal(a[i].reported_fence, b[i].reported_fence);
        }
}

/* Open a handle and load; answers the outcome, entries in *ret (caller frees). */
static int load_tbw(const char *path, int64_t now, HistoryFile **ret_f, TbwHistoryRecord **ret,
                    size_t *ret_n)
{
        HistoryFile *f = NULL;

        assert_int_equal(history_file_new(path, HISTORY_KIND_TBW, &f), 0);
        *ret = NULL;
        *ret_n = 0;
        *ret_f = f;
        return history_file_load_tbw(f, now, ret, ret_n);
}

/* --- create, append, reload -------------------------------------------------------------------- */

static void test_create_pessimistic_and_reload(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL, *g = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL, *back = NULL;
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        TbwPolicy p, q;
        struct stat st;
        size_t n, m;

        assert_int_equal(load_tbw(fx->path, T0, &f, &e, &n), HISTORY_FILE_CREATED);
        assert_null(e);
        assert_int_equal(n, 0);
        assert_true(history_file_is_persistent(f));
        assert_int_equal(stat(fx->path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_size, 0);

        /* The daemon: no history -> pessimistic, written atomically. */
        tbw_policy_init(&p, TARGET);
        assert_int_equal(tbw_policy_load(&p, e, n, T0), 1);
        n = tbw_policy_live_records(&p, T0, live);
        assert_int_equal(n, 28);
        assert_int_equal(history_file_rewrite_tbw(f, live, n), 0);
        assert_false(exists(fx->tmp));
        assert_int_equal(stat(fx->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal((uint64_t)st.st_size, history_file_size(f));

        /* A restart loads exactly that. */
        assert_int_equal(load_tbw(fx->path, T0 + H, &g, &back, &m), HISTORY_FILE_LOADED);
        assert_int_equal(m, 28);
        assert_tbw_records_equal(back, live, 28);
        tbw_policy_init(&q, TARGET);
        assert_int_equal(tbw_policy_load(&q, back, m, T0 + H), 0);
        assert_false(tbw_policy_can_swap_out(&q, T0 + H));
        assert_true(tbw_policy_can_swap_out(&q, T0 + D));
}

static void test_append_and_reload(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL, *g = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL, *back = NULL;
        TbwHistoryRecord in[10];
        size_t n, m;

        assert_int_equal(load_tbw(fx->path, T0, &f, &e, &n), HISTORY_FILE_CREATED);
        for (size_t i = 0; i < ELEMENTSOF(in); i++) {
                in[i] = (TbwHistoryRecord){.time_us = T0 + (int64_t)i * H, .size = 1000 * (i + 1)};
                assert_int_equal(history_file_append_tbw(f, &in[i]), 0);
                assert_int_equal((uint64_t)file_size(fx->path), history_file_size(f));
        }

        assert_int_equal(load_tbw(fx->path, T0 + D, &g, &back, &m), HISTORY_FILE_LOADED);
        assert_int_equal(m, ELEMENTSOF(in));
        assert_tbw_records_equal(back, in, m);
        /* Appends continue at the end of a loaded file. */
        assert_int_equal(history_file_append_tbw(g, &(TbwHistoryRecord){.time_us = T0 + D, .size = 7}), 0);
        assert_int_equal((uint64_t)file_size(fx->path), history_file_size(g));
}

static void test_zero_byte_file(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        TbwPolicy p;
        size_t n;

        put_bytes(fx->path, "", 0);
        assert_int_equal(load_tbw(fx->path, T0, &f, &e, &n), HISTORY_FILE_LOADED);
        assert_int_equal(n, 0);
        assert_true(history_file_is_persistent(f));
        /* An empty TBW history proves nothing: the policy goes pessimistic. */
        tbw_policy_init(&p, TARGET);
        assert_int_equal(tbw_policy_load(&p, e, n, T0), 1);
        assert_false(tbw_policy_can_swap_out(&p, T0));
}

/* --- corruption: deleted, memory-only ---------------------------------------------------------- */

static void expect_corrupt(Fixture *fx, int want)
{
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        size_t n;

        assert_int_equal(load_tbw(fx->path, T0 + D, &f, &e, &n), want);
        assert_true(history_error_is_corruption(want));
        assert_null(e);
        assert_false(history_file_is_persistent(f));
        assert_false(exists(fx->path));
        /* Later writes are skipped and do not bring the file back. */
        assert_int_equal(history_file_append_tbw(f, &(TbwHistoryRecord){.time_us = T0 + D, .size = 1}),
                         HISTORY_FILE_SKIPPED);
        assert_int_equal(history_file_rewrite_tbw(f, NULL, 0), HISTORY_FILE_SKIPPED);
        assert_false(exists(fx->path));
}

static void test_corruption(void **state)
{
        Fixture *fx = *state;
        const uint8_t garbage[] = "this is not a protobuf history file\n";
        const uint8_t explicit_zero[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x00};
        TbwHistoryRecord good[3] = {
                {.time_us = T0, .size = 1},
                {.time_us = T0 + H, .size = 2},
                {.time_us = T0 + 2 * H, .size = 3},
        };
        _cleanup_free_ uint8_t *big = calloc(1, TBW_HISTORY_MAX_FILE_SIZE + 1);
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        assert_non_null(big);
        put_bytes(fx->path, garbage, sizeof(garbage) - 1);
        expect_corrupt(fx, HISTORY_ERR_PARSE);

        put_bytes(fx->path, big, TBW_HISTORY_MAX_FILE_SIZE + 1);
        expect_corrupt(fx, HISTORY_ERR_TOO_BIG);

        put_bytes(fx->path, explicit_zero, sizeof(explicit_zero));
        expect_corrupt(fx, HISTORY_ERR_SIZE_MISMATCH);

        /* Truncated in the middle of the last entry. */
        assert_int_equal(tbw_history_encode(good, 3, &data, &size), 0);
        put_bytes(fx->path, data, size - 1);
        expect_corrupt(fx, HISTORY_ERR_PARSE);

        good[2].time_us = T0 + 2 * D; /* after "now" (T0 + 1 day) */
        put_tbw(fx->path, good, 3);
        expect_corrupt(fx, HISTORY_ERR_FUTURE_TIME);

        good[2].time_us = T0 - 1;
        put_tbw(fx->path, good, 3);
        expect_corrupt(fx, HISTORY_ERR_DECREASING_TIME);
}

static void test_usage_corruption(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ UsageHistoryRecord *e = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        TbwHistoryRecord *te = NULL;
        UsageHistoryRecord in[2] = {
                {.start_us = T0, .duration_us = H},
                {.start_us = T0 + 2 * H, .duration_us = -5},
        };
        size_t size, n;

        assert_int_equal(usage_history_encode(in, 2, &data, &size), 0);
        put_bytes(fx->path, data, size);
        assert_int_equal(history_file_new(fx->path, HISTORY_KIND_USAGE, &f), 0);
        /* The wrong kind's loader is refused and touches nothing. */
        assert_int_equal(history_file_load_tbw(f, T0 + D, &te, &n), -EINVAL);
        assert_null(te);
        assert_true(exists(fx->path));
        assert_int_equal(history_file_load_usage(f, T0 + D, &e, &n), HISTORY_ERR_NEGATIVE_DURATION);
        assert_false(exists(fx->path));
        assert_false(history_file_is_persistent(f));
        assert_int_equal(history_file_append_usage(f, &in[0]), HISTORY_FILE_SKIPPED);
        assert_false(exists(fx->path));
}

/* A path that is not a regular file of ours: memory-only, and left alone. */
static void test_not_a_file(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL, *g = NULL, *h = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        char target[200];
        size_t n;

        assert_int_equal(mkdir(fx->path, 0700), 0);
        assert_int_equal(load_tbw(fx->path, T0, &f, &e, &n), -EISDIR);
        assert_false(history_file_is_persistent(f));
        assert_int_equal(history_file_append_tbw(f, &(TbwHistoryRecord){.time_us = T0}),
                         HISTORY_FILE_SKIPPED);
        assert_true(exists(fx->path));
        assert_int_equal(rmdir(fx->path), 0);

        snprintf(target, sizeof(target), "%s/elsewhere", fx->dir);
        put_bytes(target, "keep", 4);
        assert_int_equal(symlink(target, fx->path), 0);
        assert_int_equal(load_tbw(fx->path, T0, &g, &e, &n), -ELOOP);
        assert_true(exists(fx->path));
        assert_int_equal(file_size(target), 4);
        assert_int_equal(unlink(fx->path), 0);

        assert_int_equal(mkfifo(fx->path, 0600), 0);
        assert_int_equal(load_tbw(fx->path, T0, &h, &e, &n), -EBADFD);
        assert_true(exists(fx->path));
}

static void test_bad_arguments(void **state)
{
        HistoryFile *f = NULL;

        assert_int_equal(history_file_new(NULL, HISTORY_KIND_TBW, &f), -EINVAL);
        assert_int_equal(history_file_new("", HISTORY_KIND_TBW, &f), -EINVAL);
        assert_int_equal(history_file_new("/x", _HISTORY_KIND_MAX, &f), -EINVAL);
        assert_null(f);
        assert_null(history_file_free(NULL));
        assert_false(history_file_is_persistent(NULL));
        /* A handle that was never loaded writes nothing. */
        assert_int_equal(history_file_new("/nonexistent/dir/file", HISTORY_KIND_TBW, &f), 0);
        assert_int_equal(history_file_append_tbw(f, &(TbwHistoryRecord){.time_us = T0}),
                         HISTORY_FILE_SKIPPED);
        assert_int_equal(history_file_load_tbw(f, T0, NULL, NULL), -EINVAL);
        {
                TbwHistoryRecord *e;
                size_t n;
                assert_int_equal(history_file_load_tbw(f, T0, &e, &n), -ENOENT);
        }
        f = history_file_free(f);
}

/* --- rotation ---------------------------------------------------------------------------------- */

/* 200 days of swap-outs through the daemon's write path: the file never outgrows 4096 bytes,
 * every rotation writes exactly the live records, and a reload anywhere gives the same budget. */
static void test_tbw_rotation(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        TbwPolicy p;
        size_t n;
        unsigned rotations = 0;

        assert_int_equal(load_tbw(fx->path, T0, &f, &e, &n), HISTORY_FILE_CREATED);
        tbw_policy_init(&p, TARGET);
        tbw_policy_load(&p, e, n, T0);
        {
                TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
                assert_int_equal(history_file_rewrite_tbw(f, live, tbw_policy_live_records(&p, T0, live)),
                                 0);
        }

        for (int64_t now = T0 + H; now < T0 + 200 * D; now += 5 * H) {
                TbwHistoryRecord rec = {.time_us = now, .size = UINT64_C(1000000) + (uint64_t)(now % 977)};
                bool rotate = history_file_needs_rotation(f);

                tbw_policy_record(&p, now, rec.size);
                assert_int_equal(history_file_record_tbw(f, &p, now, &rec), 0);
                assert_true(history_file_size(f) <= TBW_HISTORY_MAX_FILE_SIZE);
                assert_int_equal((uint64_t)file_size(fx->path), history_file_size(f));

                if (rotate) {
                        /* The file now holds exactly the live records. */
                        _cleanup_(history_file_freep) HistoryFile *g = NULL;
                        _cleanup_free_ TbwHistoryRecord *back = NULL;
                        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
                        size_t k = tbw_policy_live_records(&p, now, live), m;

                        rotations++;
                        assert_int_equal(load_tbw(fx->path, now, &g, &back, &m), HISTORY_FILE_LOADED);
                        assert_int_equal(m, k);
                        assert_tbw_records_equal(back, live, k);
                        assert_false(exists(fx->tmp));
                }
                if (now % (17 * H) == T0 % (17 * H)) {
                        /* Occasionally: a restart sees the same budget. */
                        _cleanup_(history_file_freep) HistoryFile *g = NULL;
                        _cleanup_free_ TbwHistoryRecord *back = NULL;
                        TbwPolicy q;
                        TbwBudget a, b;
                        size_t m;

                        assert_int_equal(load_tbw(fx->path, now, &g, &back, &m), HISTORY_FILE_LOADED);
                        tbw_policy_init(&q, TARGET);
                        assert_int_equal(tbw_policy_load(&q, back, m, now), 0);
                        tbw_policy_budget(&p, now, &a);
                        tbw_policy_budget(&q, now, &b);
                        for (int w = 0; w < _TBW_WINDOW_MAX; w++)
                                assert_int_equal(a.window[w].used, b.window[w].used);
                }
        }
        assert_true(rotations >= 3);
}

static void test_usage_rotation(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ UsageHistoryRecord *e = NULL,
                                          *live = calloc(USAGE_HISTORY_LENGTH, sizeof(UsageHistoryRecord));
        _cleanup_free_ UsagePolicy *p = malloc(sizeof(UsagePolicy)), *q = malloc(sizeof(UsagePolicy));
        size_t n;
        unsigned rotations = 0;

        assert_non_null(live);
        assert_non_null(p);
        assert_non_null(q);
        assert_int_equal(history_file_new(fx->path, HISTORY_KIND_USAGE, &f), 0);
        assert_int_equal(history_file_load_usage(f, T0, &e, &n), HISTORY_FILE_CREATED);
        usage_policy_init(p);

        /* An enable/disable cycle every 2 hours for 30 weeks. */
        for (int64_t start = T0; start < T0 + 30 * W; start += 2 * H) {
                const int64_t now = start + 90 * POLICY_USEC_PER_MINUTE;
                UsageHistoryRecord rec;
                bool rotate;

                usage_policy_on_enabled(p, start);
                assert_int_equal(usage_policy_on_disabled(p, start + H + start % 1001, &rec), 1);
                rotate = history_file_needs_rotation(f);
                assert_int_equal(history_file_record_usage(f, p, now, &rec), 0);
                assert_int_equal((uint64_t)file_size(fx->path), history_file_size(f));
                assert_true(history_file_size(f) <= USAGE_HISTORY_MAX_FILE_SIZE);
                if (rotate) {
                        _cleanup_(history_file_freep) HistoryFile *g = NULL;
                        _cleanup_free_ UsageHistoryRecord *back = NULL;
                        size_t k = usage_policy_live_records(p, now, live), m;

                        rotations++;
                        assert_true(k > 0);
                        assert_int_equal(history_file_new(fx->path, HISTORY_KIND_USAGE, &g), 0);
                        assert_int_equal(history_file_load_usage(g, now, &back, &m), HISTORY_FILE_LOADED);
                        assert_int_equal(m, k);
                        for (size_t i = 0; i < k; i++) {
                                assert_int_equal(back[i].start_us, live[i].start_us);
                                assert_int_equal(back[i].duration_us, live[i].duration_us);
                        }
                        /* And predicts like the live policy from then on: what the rotation
                         * dropped had ended 4 weeks before it. */
                        usage_policy_load(q, back, m, now);
                        unsigned nonzero = 0;
                        for (int64_t t = now + H; t < now + 2 * W; t += 5 * H) {
                                int64_t a = usage_policy_predict_duration(q, t);
                                assert_int_equal(a, usage_policy_predict_duration(p, t));
                                nonzero += a > 0;
                        }
                        assert_true(nonzero > 0);
                }
        }
        assert_true(rotations >= 2);
}

/* --- crash safety ------------------------------------------------------------------------------ */

/* A rotation that wrote its .tmp but never renamed it: the old file is loaded, whole. */
static void test_leftover_tmp_old_file(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        TbwHistoryRecord old[5], new[2];
        size_t n;

        for (size_t i = 0; i < 5; i++)
                old[i] = (TbwHistoryRecord){.time_us = T0 + (int64_t)i * D, .size = 100 + i};
        new[0] = (TbwHistoryRecord){.time_us = T0 + 3 * D, .size = 999};
        new[1] = (TbwHistoryRecord){.time_us = T0 + 4 * D, .size = 104};
        put_tbw(fx->path, old, 5);
        put_tbw(fx->tmp, new, 2); /* complete, fsynced, not renamed */

        assert_int_equal(load_tbw(fx->path, T0 + 5 * D, &f, &e, &n), HISTORY_FILE_LOADED);
        assert_int_equal(n, 5);
        assert_tbw_records_equal(e, old, 5);
        assert_false(exists(fx->tmp));
}

/* A half-written .tmp (crash during the rotation's writes) is never looked at. */
static void test_leftover_partial_tmp(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        TbwHistoryRecord old[2] = {{.time_us = T0, .size = 1}, {.time_us = T0 + D, .size = 2}};
        size_t n;

        put_tbw(fx->path, old, 2);
        put_bytes(fx->tmp, "\x0a\x09\x08", 3);
        assert_int_equal(load_tbw(fx->path, T0 + 2 * D, &f, &e, &n), HISTORY_FILE_LOADED);
        assert_int_equal(n, 2);
        assert_tbw_records_equal(e, old, 2);
        assert_false(exists(fx->tmp));
}

/* The rename happened (the old file is gone, replaced): the new file is loaded, whole. */
static void test_renamed_new_file(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        TbwHistoryRecord old[3], new[2];
        size_t n;

        for (size_t i = 0; i < 3; i++)
                old[i] = (TbwHistoryRecord){.time_us = T0 + (int64_t)i * D, .size = 10 + i};
        new[0] = (TbwHistoryRecord){.time_us = T0 + D, .size = 11};
        new[1] = (TbwHistoryRecord){.time_us = T0 + 2 * D, .size = 12};
        put_tbw(fx->path, old, 3);
        put_tbw(fx->tmp, new, 2);
        assert_int_equal(rename(fx->tmp, fx->path), 0);

        assert_int_equal(load_tbw(fx->path, T0 + 3 * D, &f, &e, &n), HISTORY_FILE_LOADED);
        assert_int_equal(n, 2);
        assert_tbw_records_equal(e, new, 2);
}

/* Only a .tmp and no file: the .tmp is not promoted; a new file is created. */
static void test_tmp_without_file(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        TbwHistoryRecord new[1] = {{.time_us = T0, .size = 5}};
        size_t n;

        put_tbw(fx->tmp, new, 1);
        assert_int_equal(load_tbw(fx->path, T0 + D, &f, &e, &n), HISTORY_FILE_CREATED);
        assert_int_equal(n, 0);
        assert_false(exists(fx->tmp));
}

/* The daemon's write loop killed with SIGKILL at random points, 30 times: every time the file
 * loads cleanly (never corrupt, never a mix of old and new), and the newest bucket is never lost
 * (appends are fsynced one by one; a rotation keeps every live bucket). No timing is asserted:
 * the random delay only spreads the kills over appends and rotations. */
#define KILL_ROUND_SPAN (1000 * D)

static void test_sigkill_random_points(void **state)
{
        Fixture *fx = *state;
        unsigned seed = (unsigned)getpid();
        int64_t newest = INT64_MIN;

        for (int round = 0; round < 30; round++) {
                _cleanup_(history_file_freep) HistoryFile *g = NULL;
                _cleanup_free_ TbwHistoryRecord *back = NULL;
                struct timespec delay = {0, (long)(rand_r(&seed) % 3000) * 1000};
                TbwPolicy q;
                int status, ready[2];
                size_t m;
                char c;
                pid_t pid;

                assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        /* Child: load (or create) and write forever, from its own round's time on. */
                        HistoryFile *f = NULL;
                        TbwHistoryRecord *e = NULL;
                        TbwPolicy p;
                        size_t n;
                        int64_t now = T0 + (int64_t)round * KILL_ROUND_SPAN;

                        if (history_file_new(fx->path, HISTORY_KIND_TBW, &f) < 0)
                                _exit(2);
                        if (history_file_load_tbw(f, now, &e, &n) < 0)
                                _exit(3);
                        tbw_policy_init(&p, TARGET);
                        if (tbw_policy_load(&p, e, n, now) == 1) {
                                TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
                                if (history_file_rewrite_tbw(f, live,
                                                             tbw_policy_live_records(&p, now, live)) != 0)
                                        _exit(4);
                        }
                        free(e);
                        close(ready[0]);
                        for (bool first = true;; first = false) {
                                TbwHistoryRecord rec = {.time_us = now += 3 * H, .size = 4096};
                                tbw_policy_record(&p, now, rec.size);
                                if (history_file_record_tbw(f, &p, now, &rec) != 0)
                                        _exit(5);
                                if (first && write(ready[1], "x", 1) != 1)
                                        _exit(6);
                        }
                }
                /* Kill at a random point once the child is in its write loop. */
                close(ready[1]);
                assert_int_equal(read(ready[0], &c, 1), 1);
                close(ready[0]);
                nanosleep(&delay, NULL);
                assert_int_equal(kill(pid, SIGKILL), 0);
                assert_int_equal(waitpid(pid, &status, 0), pid);
                /* Killed by us, not an early exit of its own. */
                assert_true(WIFSIGNALED(status));

                assert_int_equal(
                        load_tbw(fx->path, T0 + (int64_t)(round + 1) * KILL_ROUND_SPAN, &g, &back, &m),
                        HISTORY_FILE_LOADED);
                assert_false(exists(fx->tmp));
                assert_true(m > 0);
                for (size_t i = 0; i < m; i++) {
                        /* Only whole records: 4096-byte writes, or the pessimistic day plus some. */
                        uint64_t sz = back[i].size;
                        assert_true(sz % 4096 == 0 || (sz >= TARGET && (sz - TARGET) % 4096 == 0));
                }
                tbw_policy_init(&q, TARGET);
                assert_int_equal(tbw_policy_load(&q, back, m, T0 + (int64_t)(round + 1) * KILL_ROUND_SPAN),
                                 0);
                {
                        int64_t s = q.ring[(q.head + q.n - 1) % TBW_HISTORY_LENGTH].start_us;
                        /* Each round's first record opened a bucket 1000 days after the last. */
                        assert_true(s > newest);
                        newest = s;
                }
        }
}

/* --- write failures: memory-only ---------------------------------------------------------------- */

static HistoryFile *loaded_with_entries(Fixture *fx, TbwPolicy *p, int64_t now)
{
        HistoryFile *f = NULL;
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        size_t n;

        assert_int_equal(load_tbw(fx->path, now, &f, &e, &n), HISTORY_FILE_CREATED);
        tbw_policy_init(p, TARGET);
        assert_int_equal(tbw_policy_load(p, e, n, now), 1);
        assert_int_equal(history_file_rewrite_tbw(f, live, tbw_policy_live_records(p, now, live)), 0);
        return f;
}

/* The rotation's .tmp cannot be created (a directory is in the way). */
static void test_rotate_failure_tmp_blocked(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        TbwPolicy p;
        int64_t now = T0;
        int r = 0;

        f = loaded_with_entries(fx, &p, now);
        assert_int_equal(mkdir(fx->tmp, 0700), 0);
        /* Append until a rotation is due and fails. */
        while (r == 0) {
                TbwHistoryRecord rec = {.time_us = now += H, .size = 1};
                tbw_policy_record(&p, now, rec.size);
                r = history_file_record_tbw(f, &p, now, &rec);
        }
        assert_int_equal(r, -EISDIR);
        assert_false(history_file_is_persistent(f));
        assert_false(exists(fx->path));
        assert_true(exists(fx->tmp)); /* not ours to remove */
        /* Memory-only from now on: the policy still works, nothing is written. */
        tbw_policy_record(&p, now + H, 1);
        assert_int_equal(
                history_file_record_tbw(f, &p, now + H, &(TbwHistoryRecord){.time_us = now + H, .size = 1}),
                HISTORY_FILE_SKIPPED);
        assert_false(exists(fx->path));
}

/* The state file was replaced by a (non-empty) directory: the rename over it fails. */
static void test_rotate_failure_path_is_dir(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        char inner[200];
        TbwPolicy p;
        int r;

        f = loaded_with_entries(fx, &p, T0);
        assert_int_equal(unlink(fx->path), 0);
        assert_int_equal(mkdir(fx->path, 0700), 0);
        snprintf(inner, sizeof(inner), "%s/x", fx->path);
        put_bytes(inner, "x", 1);

        r = history_file_rewrite_tbw(f, live, tbw_policy_live_records(&p, T0, live));
        assert_true(r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST);
        assert_false(history_file_is_persistent(f));
        assert_false(exists(fx->tmp));
        assert_true(exists(inner));
}

/* Appends fail (the file may not grow: RLIMIT_FSIZE, as on a full disk). */
static void test_append_failure(void **state)
{
        Fixture *fx = *state;
        _cleanup_(history_file_freep) HistoryFile *f = NULL;
        struct rlimit old, lim;
        TbwPolicy p;
        int r;

        f = loaded_with_entries(fx, &p, T0);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = (rlim_t)history_file_size(f);
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        r = history_file_append_tbw(f, &(TbwHistoryRecord){.time_us = T0 + H, .size = 1});
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, SIG_DFL);

        assert_int_equal(r, -EFBIG);
        assert_false(history_file_is_persistent(f));
        assert_false(exists(fx->path));
        assert_int_equal(history_file_append_tbw(f, &(TbwHistoryRecord){.time_us = T0 + 2 * H, .size = 1}),
                         HISTORY_FILE_SKIPPED);
}

/* A full tmpfs (in a private mount namespace; skipped where mounting is not allowed). */
static void test_full_tmpfs(void **state)
{
        Fixture *fx = *state;
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                char mnt[128], path[160], filler[160];
                HistoryFile *f = NULL;
                TbwHistoryRecord *e = NULL;
                TbwPolicy p;
                size_t n;
                int fd, r = 0;
                int64_t now = T0;
                static uint8_t block[4096];

                snprintf(mnt, sizeof(mnt), "%s/mnt", fx->dir);
                if (mkdir(mnt, 0700) < 0)
                        _exit(2);
                if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0)
                        _exit(77);
                snprintf(path, sizeof(path), "%s/tbw_history2", mnt);
                if (history_file_new(path, HISTORY_KIND_TBW, &f) < 0 ||
                    history_file_load_tbw(f, now, &e, &n) != HISTORY_FILE_CREATED)
                        _exit(3);
                tbw_policy_init(&p, TARGET);
                tbw_policy_load(&p, e, n, now);
                {
                        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
                        if (history_file_rewrite_tbw(f, live, tbw_policy_live_records(&p, now, live)) != 0)
                                _exit(4);
                }
                /* Fill the rest of the filesystem. */
                snprintf(filler, sizeof(filler), "%s/filler", mnt);
                fd = open(filler, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
                if (fd < 0)
                        _exit(5);
                while (write(fd, block, sizeof(block)) > 0)
                        ;
                close(fd);
                /* The file's first page still has room: appends succeed until the rotation
                 * needs new blocks for the .tmp, which fails with ENOSPC. */
                while (r == 0) {
                        TbwHistoryRecord rec = {.time_us = now += H, .size = 1};
                        tbw_policy_record(&p, now, rec.size);
                        r = history_file_record_tbw(f, &p, now, &rec);
                }
                if (r != -ENOSPC)
                        _exit(6);
                if (history_file_is_persistent(f) || access(path, F_OK) == 0)
                        _exit(7);
                {
                        char tmp[200];
                        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
                        if (access(tmp, F_OK) == 0)
                                _exit(8);
                }
                history_file_free(f);
                free(e);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip();
        assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_create_pessimistic_and_reload),
                T(test_append_and_reload),
                T(test_zero_byte_file),
                T(test_corruption),
                T(test_usage_corruption),
                T(test_not_a_file),
                T(test_bad_arguments),
                T(test_tbw_rotation),
                T(test_usage_rotation),
                T(test_leftover_tmp_old_file),
                T(test_leftover_partial_tmp),
                T(test_renamed_new_file),
                T(test_tmp_without_file),
                T(test_sigkill_random_points),
                T(test_rotate_failure_tmp_blocked),
                T(test_rotate_failure_path_is_dir),
                T(test_append_failure),
                T(test_full_tmpfs),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
