/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/swap-controller with simulated time: a test double of the backend ops
 * table records every swap call and the test answers them; the disk-free function and the clock
 * are the test's. Covers each ENABLE decision with its exact string, the trim wait -> trim ->
 * poll -> Pending -> TBW record + SWAPPING_OUT + swap out sequence, FORCE_ENABLE, DISABLE in each
 * phase, cool-down, usage prediction and TBW from seeded history files, low disk at enable and
 * while enabled, VM stop, persistence across a restart, backend errors, and the libevent timer. */
#include <event2/event.h>
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

#include "concierge/backend.h"
#include "concierge/history-file.h"
#include "concierge/swap-controller.h"
#include "concierge/swap-tbw.h"
#include "policy/history-codec.h"
#include "policy/low-disk.h"
#include "policy/swap-policy.h"
#include "policy/tbw.h"

#define T0 (INT64_C(1704067200) * POLICY_USEC_PER_SEC)
#define S POLICY_USEC_PER_SEC
#define MIN_US POLICY_USEC_PER_MINUTE
#define H POLICY_USEC_PER_HOUR
#define D POLICY_USEC_PER_DAY
#define W POLICY_USEC_PER_WEEK
#define DISK UINT64_C(32000000000)
#define T UINT64_C(550000000)
#define GUEST_MEM (UINT64_C(1) << 30)

/* --- the backend test double ---------------------------------------------------------------- */

#define FAKE_MAX_CALLS 32

typedef struct FakeCall {
        VmmctlOp op;
        bool slow_file_cleanup;
        BackendReplyHandler cb;
        void *userdata;
} FakeCall;

typedef struct Fake {
        Backend base; /* first: the Backend the controller sees */
        FakeCall calls[FAKE_MAX_CALLS];
        size_t n;
        int fail_next; /* a synchronous error for the next call */
        unsigned total;
} Fake;

static int fake_call(Backend *b, const VmmctlRequest *req, uint64_t timeout_usec, BackendReplyHandler cb,
                     void *userdata)
{
        Fake *f = (Fake *)b;
        int r;

        assert_true(timeout_usec > 0);
        if (f->fail_next) {
                r = f->fail_next;
                f->fail_next = 0;
                return r;
        }
        assert_true(f->n < FAKE_MAX_CALLS);
        f->calls[f->n++] = (FakeCall){
                .op = req->op,
                .slow_file_cleanup =
                        req->op == VMMCTL_OP_SWAP_DISABLE && req->swap_disable.slow_file_cleanup,
                .cb = cb,
                .userdata = userdata,
        };
        f->total++;
        return 0;
}

static const BackendOps fake_ops = {
        .name = "fake",
        .call = fake_call,
};

/* Take the oldest outstanding call, which must be `op`. */
static FakeCall take(Fake *f, VmmctlOp op)
{
        FakeCall c;

        assert_true(f->n > 0);
        c = f->calls[0];
        memmove(f->calls, f->calls + 1, (f->n - 1) * sizeof(f->calls[0]));
        f->n--;
        if (c.op != op)
                fail_msg("expected %s, got %s", vmmctl_op_to_string(op), vmmctl_op_to_string(c.op));
        return c;
}

static void reply(Fake *f, FakeCall c, int error, const VmmctlSwapStatus *st)
{
        BackendReply r = {.error = error, .error_message = error < 0 ? "fake failure" : NULL};

        if (error >= 0 && st)
                r.swap_status = st;
        c.cb(&f->base, &r, c.userdata);
}

static void reply_ok(Fake *f, VmmctlOp op)
{
        reply(f, take(f, op), 0, NULL);
}

static void reply_state(Fake *f, VmmctlSwapState state, uint64_t staging_pages)
{
        VmmctlSwapStatus st = {.state = state, .staging_pages = staging_pages, .resident_pages = 7};

        reply(f, take(f, VMMCTL_OP_SWAP_STATUS), 0, &st);
}

/* --- the test's world ----------------------------------------------------------------------- */

typedef struct Result {
        bool done;
        bool success;
        char reason[128];
        unsigned count;
} Result;

typedef struct World {
        char dir[64];
        char usage_path[256];
        int64_t now;
        int64_t disk_free;
        Fake fake;
        SwapTbw *tbw;
        SwapController *c;
        SwapControllerConfig config;
        SwappingState signals[16];
        size_t n_signals;
        VmmctlSwapState last_state;
        unsigned state_changes;
        VmmctlSwapStatus last_status; /* of status_updated */
        unsigned status_updates;
        struct event_base *base;
} World;

static int64_t world_now(void *userdata)
{
        return ((World *)userdata)->now;
}

static int64_t world_disk_free(const char *dir, void *userdata)
{
        World *w = userdata;

        assert_string_equal(dir, "/swap-dir");
        return w->disk_free;
}

static void on_swapping(SwapController *c, SwappingState s, void *userdata)
{
        World *w = userdata;

        assert_true(w->n_signals < ELEMENTSOF(w->signals));
        w->signals[w->n_signals++] = s;
}

static void on_state_changed(SwapController *c, VmmctlSwapState s, void *userdata)
{
        World *w = userdata;

        w->last_state = s;
        w->state_changes++;
}

static void on_status_updated(SwapController *c, const VmmctlSwapStatus *st, void *userdata)
{
        World *w = userdata;

        /* After state_changed: the state is already the new one. */
        assert_int_equal(w->last_state, st->state);
        w->last_status = *st;
        w->status_updates++;
}

static const SwapControllerCallbacks callbacks = {
        .swapping = on_swapping,
        .state_changed = on_state_changed,
        .status_updated = on_status_updated,
};

static void on_result(SwapController *c, bool success, const char *reason, void *userdata)
{
        Result *r = userdata;

        r->done = true;
        r->count++;
        r->success = success;
        if (success)
                assert_null(reason);
        else {
                assert_non_null(reason);
                snprintf(r->reason, sizeof(r->reason), "%s", reason);
        }
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)remove(p);
        return 0;
}

/* A TBW budget that is long past its pessimistic start unless `tbw_open_at` says otherwise. */
static void open_tbw(World *w, int64_t at)
{
        SwapTbwConfig tc = {.state_dir = w->dir, .disk_size_bytes = DISK};

        assert_int_equal(swap_tbw_new(&tc, at, &w->tbw, NULL), 0);
}

static void start_controller(World *w)
{
        assert_int_equal(swap_controller_new(&w->fake.base, w->tbw, &w->config, &callbacks, w, &w->c), 0);
}

static int setup(void **state)
{
        World *w = calloc(1, sizeof(*w));

        if (!w)
                return -1;
        strcpy(w->dir, "/tmp/test-swap-controller.XXXXXX");
        if (!mkdtemp(w->dir))
                return -1;
        char *p = NULL;
        if (swap_usage_history_path(w->dir, "0123abcd", "arcvm", &p) < 0)
                return -1;
        snprintf(w->usage_path, sizeof(w->usage_path), "%s", p);
        free(p);
        w->now = T0;
        w->disk_free = (int64_t)(100 * GIB);
        w->fake.base.ops = &fake_ops;
        w->config = (SwapControllerConfig){
                .swap_dir = "/swap-dir",
                .guest_memory_bytes = GUEST_MEM,
                .usage_history_path = w->usage_path,
                .disk_free = world_disk_free,
                .disk_free_userdata = w,
                .now = world_now,
                .clock_userdata = w,
                .log_name = "test/arcvm",
        };
        w->last_state = _VMMCTL_SWAP_STATE_INVALID;
        *state = w;
        return 0;
}

static int teardown(void **state)
{
        World *w = *state;

        swap_controller_free(w->c);
        /* Every call the controller made was answered by the test (the backend contract). */
        while (w->fake.n > 0) {
                FakeCall c = w->fake.calls[0];
                w->fake.n--;
                memmove(w->fake.calls, w->fake.calls + 1, w->fake.n * sizeof(w->fake.calls[0]));
                reply(&w->fake, c, -ECANCELED, NULL);
        }
        swap_tbw_free(w->tbw);
        if (w->base)
                event_base_free(w->base);
        (void)nftw(w->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(w);
        return 0;
}

static void advance(World *w, int64_t us)
{
        w->now += us;
        swap_controller_run_timers(w->c);
}

static Result request(World *w, SwapOperation op)
{
        Result r = {};

        assert_int_equal(swap_controller_request(w->c, op, on_result, &r), 0);
        /* Only for requests answered at once (the Result lives on this stack). */
        assert_true(r.done);
        return r;
}

/* Issue a request whose answer comes later: the Result must outlive this call. */
static void request_async(World *w, SwapOperation op, Result *r)
{
        *r = (Result){};
        assert_int_equal(swap_controller_request(w->c, op, on_result, r), 0);
}

static void assert_failed_with(const Result *r, const char *reason)
{
        assert_true(r->done);
        assert_int_equal(r->count, 1);
        assert_false(r->success);
        assert_string_equal(r->reason, reason);
}

static void assert_succeeded(const Result *r)
{
        assert_true(r->done);
        assert_int_equal(r->count, 1);
        assert_true(r->success);
}

static SwapControllerInfo info(World *w)
{
        SwapControllerInfo i;

        swap_controller_get_info(w->c, &i);
        return i;
}

static uint64_t tbw_used_1d(World *w)
{
        TbwBudget b;

        swap_tbw_budget(w->tbw, w->now, &b);
        return b.window[TBW_WINDOW_1_DAY].used;
}

static void write_file(const char *path, const void *data, size_t n)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, n), (ssize_t)n);
        close(fd);
}

static void seed_usage(World *w, const UsageHistoryRecord *e, size_t n)
{
        char dir[256];
        uint8_t *data = NULL;
        size_t size = 0;

        snprintf(dir, sizeof(dir), "%s/" SWAP_TBW_DIR, w->dir);
        (void)mkdir(dir, 0700);
        snprintf(dir, sizeof(dir), "%s/" SWAP_TBW_DIR "/0123abcd", w->dir);
        (void)mkdir(dir, 0700);
        assert_int_equal(usage_history_encode(e, n, &data, &size), 0);
        write_file(w->usage_path, data, size);
        free(data);
}

/* Seed 3 weeks of a VM idle for 4 days from this time of week: the prediction is ~4 days. */
static void seed_long_idle_history(World *w)
{
        UsageHistoryRecord e[3];

        for (int i = 0; i < 3; i++)
                e[i] = (UsageHistoryRecord){.start_us = w->now - (3 - i) * W, .duration_us = 4 * D};
        seed_usage(w, e, 3);
}

static UsageHistoryRecord *read_usage(World *w, size_t *ret_n)
{
        uint8_t buf[USAGE_HISTORY_MAX_FILE_SIZE + 1];
        UsageHistoryRecord *e = NULL;
        int fd = open(w->usage_path, O_RDONLY | O_CLOEXEC);
        ssize_t k;

        assert_true(fd >= 0);
        k = read(fd, buf, sizeof(buf));
        close(fd);
        assert_true(k >= 0);
        assert_int_equal(usage_history_decode(buf, (size_t)k, w->now, &e, ret_n), 0);
        return e;
}

/* The usual world: TBW long past its pessimistic start, a VM with a long-idle history. */
static void start_approvable(World *w)
{
        open_tbw(w, w->now - 40 * D);
        seed_long_idle_history(w);
        start_controller(w);
}

/* ENABLE approved and staged: the trim wait runs. */
static void enable_approved(World *w)
{
        Result r;

        request_async(w, SWAP_OPERATION_ENABLE, &r);
        assert_false(r.done);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_succeeded(&r);
        assert_true(info(w).enabled);
        assert_int_equal(info(w).timer, SWAP_TIMER_SWAP_OUT);
}

/* From an armed swap-out timer through a complete swap-out of `pages` staging pages. */
static void run_swap_out(World *w, int64_t wait, uint64_t pages)
{
        uint64_t before = tbw_used_1d(w);
        size_t signals = w->n_signals;

        advance(w, wait - 1);
        assert_int_equal(w->fake.n, 0);
        advance(w, 1);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        assert_true(info(w).polling);
        advance(w, SWAP_STATUS_POLL_US);
        reply_state(&w->fake, VMMCTL_SWAP_TRIM_IN_PROGRESS, 0);
        assert_int_equal(w->fake.n, 0);
        advance(w, SWAP_STATUS_POLL_US);
        reply_state(&w->fake, VMMCTL_SWAP_PENDING, pages);
        assert_int_equal(tbw_used_1d(w), before + pages * 4096);
        assert_int_equal(w->n_signals, signals + 1);
        assert_int_equal(w->signals[signals], SWAPPING_STATE_OUT);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_OUT);
        assert_false(info(w).polling);
        assert_true(info(w).has_last_swap_out);
        assert_int_equal(info(w).last_swap_out_us, w->now);
}

static void on_status(SwapController *c, int error, const SwapControllerInfo *i, void *userdata);

/* --- tests ---------------------------------------------------------------------------------- */

static void test_string_tables(void **state)
{
        for (SwapOperation op = 0; op < _SWAP_OPERATION_MAX; op++)
                assert_int_equal(swap_operation_from_string(swap_operation_to_string(op)), op);
        for (SwappingState s = 0; s < _SWAPPING_STATE_MAX; s++)
                assert_int_equal(swapping_state_from_string(swapping_state_to_string(s)), s);
        for (SwapTimerAction a = 0; a < _SWAP_TIMER_ACTION_MAX; a++)
                assert_int_equal(swap_timer_action_from_string(swap_timer_action_to_string(a)), a);
        assert_string_equal(swap_operation_to_string(SWAP_OPERATION_FORCE_ENABLE), "force-enable");
        assert_string_equal(swapping_state_to_string(SWAPPING_STATE_IN), "SWAPPING_IN");
        assert_int_equal(swap_operation_from_string("bogus"), _SWAP_OPERATION_INVALID);
        assert_int_equal(swap_operation_from_string(NULL), _SWAP_OPERATION_INVALID);
        assert_null(swap_operation_to_string(_SWAP_OPERATION_MAX));
        assert_null(swapping_state_to_string(-1));
        assert_null(swap_timer_action_to_string(_SWAP_TIMER_ACTION_MAX));
        /* The values are the proto's. */
        assert_int_equal(SWAP_OPERATION_DISABLE, 0);
        assert_int_equal(SWAP_OPERATION_ENABLE, 1);
        assert_int_equal(SWAP_OPERATION_SWAPOUT, 2);
        assert_int_equal(SWAP_OPERATION_FORCE_ENABLE, 3);
        assert_int_equal(SWAPPING_STATE_OUT, 0);
        assert_int_equal(SWAPPING_STATE_IN, 1);
}

static void test_usage_history_path(void **state)
{
        char *p = NULL;

        assert_int_equal(swap_usage_history_path("/s", "abc123", "arcvm", &p), 0);
        assert_string_equal(p, "/s/vmm_swap_policy/abc123/arcvm.vmm_swap_history");
        free(p);
        assert_int_equal(swap_usage_history_path("/s", "abc", "my vm/../x.y", &p), 0);
        assert_string_equal(p, "/s/vmm_swap_policy/abc/my%20vm%2F..%2Fx.y.vmm_swap_history");
        free(p);
        assert_int_equal(swap_usage_history_path("/s", "abc", ".hidden", &p), 0);
        assert_string_equal(p, "/s/vmm_swap_policy/abc/%2Ehidden.vmm_swap_history");
        free(p);
        assert_int_equal(swap_usage_history_path("/s", "abc", "\xc3\xa9", &p), 0);
        assert_string_equal(p, "/s/vmm_swap_policy/abc/%C3%A9.vmm_swap_history");
        free(p);
        p = NULL;
        assert_int_equal(swap_usage_history_path("/s", "../x", "vm", &p), -EINVAL);
        assert_int_equal(swap_usage_history_path("/s", "", "vm", &p), -EINVAL);
        assert_int_equal(swap_usage_history_path("/s", "abc", "", &p), -EINVAL);
        assert_int_equal(swap_usage_history_path(NULL, "abc", "vm", &p), -EINVAL);
        assert_null(p);
        /* 100 bytes that all need escaping do not fit a file name. */
        char name[101];
        memset(name, ' ', 100);
        name[100] = 0;
        assert_int_equal(swap_usage_history_path("/s", "abc", name, &p), -ENAMETOOLONG);
}

static void test_invalid_arguments(void **state)
{
        World *w = *state;
        SwapControllerConfig bad;
        SwapController *c = NULL;

        open_tbw(w, T0 - 40 * D);
        assert_int_equal(swap_controller_new(NULL, w->tbw, &w->config, &callbacks, w, &c), -EINVAL);
        assert_int_equal(swap_controller_new(&w->fake.base, NULL, &w->config, &callbacks, w, &c), -EINVAL);
        assert_int_equal(
                swap_controller_new(&w->fake.base, w->tbw, &w->config, &(SwapControllerCallbacks){}, w, &c),
                -EINVAL);
        bad = w->config;
        bad.swap_dir = NULL;
        assert_int_equal(swap_controller_new(&w->fake.base, w->tbw, &bad, &callbacks, w, &c), -EINVAL);
        bad = w->config;
        bad.trim_wait_us = -1;
        assert_int_equal(swap_controller_new(&w->fake.base, w->tbw, &bad, &callbacks, w, &c), -EINVAL);
        assert_null(c);

        start_controller(w);
        assert_int_equal(swap_controller_request(w->c, SWAP_OPERATION_ENABLE, NULL, NULL), -EINVAL);
        assert_int_equal(swap_controller_request(NULL, SWAP_OPERATION_ENABLE, on_result, NULL), -EINVAL);
        assert_int_equal(swap_controller_query_status(w->c, NULL, NULL), -EINVAL);
        assert_null(swap_controller_free(NULL));
        swap_controller_run_timers(NULL);
        swap_controller_vm_stopped(NULL);
        swap_controller_on_swap_state(w->c, _VMMCTL_SWAP_STATE_MAX);
        assert_int_equal(w->state_changes, 0);
        assert_int_equal(swap_controller_next_deadline(w->c), INT64_MAX);
        assert_int_equal(w->fake.total, 0);
}

static void test_unknown_operation(void **state)
{
        World *w = *state;
        Result r;

        start_approvable(w);
        r = request(w, SWAP_OPERATION_SWAPOUT);
        assert_failed_with(&r, "Unknown operation");
        r = request(w, 42);
        assert_failed_with(&r, "Unknown operation");
        r = request(w, -1);
        assert_failed_with(&r, "Unknown operation");
        assert_int_equal(w->fake.total, 0);
        assert_int_equal(w->n_signals, 0);
        assert_false(info(w).enabled);
}

static void test_usage_prediction_without_history(void **state)
{
        World *w = *state;
        Result r;

        open_tbw(w, T0 - 40 * D);
        start_controller(w);

        /* No history: the period that just opened predicts 0. */
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Predicted disable soon");
        assert_int_equal(w->fake.total, 0);
        assert_false(info(w).enabled);
        assert_true(info(w).has_policy_result);
        assert_int_equal(info(w).last_policy_result, SWAP_POLICY_USAGE_PREDICTION);
        assert_int_equal(info(w).timer, SWAP_TIMER_NONE);

        /* Still idle half a day later: 2 x 12 h is below the ~1.95-day target. */
        w->now += 12 * H;
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Predicted disable soon");
        /* A day after the first request: 2 x 24 h reaches it. */
        w->now += 12 * H;
        Result late;
        request_async(w, SWAP_OPERATION_ENABLE, &late);
        assert_false(late.done);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_succeeded(&late);
        assert_int_equal(info(w).last_policy_result, SWAP_POLICY_APPROVE);
}

static void test_usage_prediction_seeded_short_history(void **state)
{
        World *w = *state;
        UsageHistoryRecord e[3];
        Result r;

        /* Three weeks of 20-minute idle periods at this time of week. */
        for (int i = 0; i < 3; i++)
                e[i] = (UsageHistoryRecord){.start_us = w->now - (3 - i) * W, .duration_us = 20 * MIN_US};
        seed_usage(w, e, 3);
        open_tbw(w, T0 - 40 * D);
        start_controller(w);

        assert_true(info(w).usage_history_persistent);
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Predicted disable soon");
        assert_int_equal(w->fake.total, 0);
        /* ~20 minutes predicted. */
        assert_true(info(w).predicted_duration_us < H);
        assert_true(info(w).predicted_duration_us > 0);
}

static void test_tbw_exhausted_seeded(void **state)
{
        World *w = *state;
        TbwHistoryRecord e[2] = {{.time_us = T0 - 3 * H, .size = 2 * T}, {.time_us = T0 - H, .size = 2 * T}};
        char path[256];
        uint8_t *data = NULL;
        size_t n = 0;
        Result r;

        /* A TBW file that already holds 4T in the last day (the 1-day window's limit). */
        snprintf(path, sizeof(path), "%s/" SWAP_TBW_DIR, w->dir);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/" SWAP_TBW_DIR "/" SWAP_TBW_FILE, w->dir);
        assert_int_equal(tbw_history_encode(e, 2, &data, &n), 0);
        write_file(path, data, n);
        free(data);

        open_tbw(w, T0);
        seed_long_idle_history(w);
        start_controller(w);

        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "TBW (total bytes written) reached target");
        assert_int_equal(info(w).last_policy_result, SWAP_POLICY_EXCEEDED_TBW_LIMIT);
        assert_false(info(w).tbw.can_swap_out);
        assert_int_equal(w->fake.total, 0);

        /* A day later the budget is back. */
        w->now += D;
        enable_approved(w);
}

static void test_tbw_pessimistic_start(void **state)
{
        World *w = *state;
        Result r;

        open_tbw(w, T0); /* first start: 28 days at the full budget */
        seed_long_idle_history(w);
        start_controller(w);
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "TBW (total bytes written) reached target");
        w->now += D + 1;
        enable_approved(w);
}

static void test_low_disk_at_enable(void **state)
{
        World *w = *state;
        Result r;

        start_approvable(w);
        w->disk_free = (int64_t)(2 * GIB + GUEST_MEM - 1);
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Low disk mode");
        assert_int_equal(info(w).last_policy_result, SWAP_POLICY_LOW_DISK);
        assert_int_equal(w->fake.total, 0);

        /* A failed measurement denies too. */
        w->disk_free = -EIO;
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Low disk mode");

        /* Exactly 2 GiB + guest memory is enough. */
        w->disk_free = (int64_t)(2 * GIB + GUEST_MEM);
        enable_approved(w);
        assert_int_equal(info(w).disk_required_bytes, 2 * GIB + GUEST_MEM);
}

static void test_full_swap_out_sequence(void **state)
{
        World *w = *state;
        SwapControllerInfo i;

        start_approvable(w);
        enable_approved(w);
        assert_int_equal(w->n_signals, 0);
        assert_int_equal(info(w).timer_left_us, SWAP_TRIM_WAIT_US);
        assert_int_equal(swap_controller_next_deadline(w->c), T0 + SWAP_LOW_DISK_CHECK_US);

        /* 10 minutes of trim wait (the default), then trim, polls every second. */
        run_swap_out(w, SWAP_TRIM_WAIT_US, 1000);

        i = info(w);
        assert_true(i.enabled);
        assert_int_equal(i.swap_outs, 1);
        assert_int_equal(i.swapped_out_bytes, 1000 * 4096);
        assert_int_equal(i.timer, SWAP_TIMER_NONE);
        assert_true(i.have_vmm_status);
        assert_int_equal(i.vmm_status.state, VMMCTL_SWAP_PENDING);
        assert_int_equal(i.vmm_status.staging_pages, 1000);
        assert_int_equal(w->last_state, VMMCTL_SWAP_PENDING);
        /* The VMM reports Active after its swap-out. */
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_ACTIVE);
        assert_int_equal(w->last_state, VMMCTL_SWAP_ACTIVE);
        assert_int_equal(info(w).vmm_status.state, VMMCTL_SWAP_ACTIVE);
        /* Nothing else happens: the low-disk check only. */
        advance(w, H);
        assert_int_equal(w->fake.n, 0);
        assert_int_equal(w->n_signals, 1);
}

static void test_configured_durations(void **state)
{
        World *w = *state;

        w->config.trim_wait_us = 2 * S;
        w->config.poll_interval_us = 100000;
        start_approvable(w);
        enable_approved(w);
        advance(w, 2 * S - 1);
        assert_int_equal(w->fake.n, 0);
        advance(w, 1);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        advance(w, 99999);
        assert_int_equal(w->fake.n, 0);
        advance(w, 1);
        reply_state(&w->fake, VMMCTL_SWAP_PENDING, 3);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_OUT);
        assert_int_equal(info(w).swap_outs, 1);
}

static void test_sequence_stops_on_other_state(void **state)
{
        World *w = *state;

        start_approvable(w);
        enable_approved(w);
        advance(w, SWAP_TRIM_WAIT_US);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        advance(w, S);
        reply_state(&w->fake, VMMCTL_SWAP_FAILED, 10);
        assert_false(info(w).polling);
        advance(w, 10 * S);
        assert_int_equal(w->fake.n, 0);
        assert_int_equal(w->n_signals, 0);
        assert_int_equal(info(w).swap_outs, 0);
        assert_int_equal(info(w).swapped_out_bytes, 0);
}

static void test_force_enable(void **state)
{
        World *w = *state;
        Result r;

        /* No policy applies: pessimistic TBW, no usage history, a full disk. */
        w->config.force_enable_delay_us = 3 * S;
        open_tbw(w, T0);
        start_controller(w);
        w->disk_free = 0;

        request_async(w, SWAP_OPERATION_FORCE_ENABLE, &r);
        assert_false(r.done);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_succeeded(&r);
        assert_true(info(w).enabled);
        assert_int_equal(info(w).timer, SWAP_TIMER_SWAP_OUT);
        assert_int_equal(info(w).timer_left_us, 3 * S);
        assert_false(info(w).has_policy_result);
        w->disk_free = (int64_t)(100 * GIB);
        run_swap_out(w, 3 * S, 5);
}

static void test_force_enable_default_delay(void **state)
{
        World *w = *state;
        Result r;

        start_approvable(w);
        request_async(w, SWAP_OPERATION_FORCE_ENABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_succeeded(&r);
        run_swap_out(w, SWAP_FORCE_ENABLE_DELAY_US, 1);
}

static void test_enable_pending(void **state)
{
        World *w = *state;
        Result first, second;

        start_approvable(w);
        request_async(w, SWAP_OPERATION_ENABLE, &first);
        assert_false(first.done);
        assert_true(info(w).enable_pending);
        second = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&second, "Previous enable request is being executed");
        assert_false(first.done);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_succeeded(&first);
        assert_false(info(w).enable_pending);
        assert_int_equal(w->fake.n, 0);
}

static void test_disable_aborts_pending_enable(void **state)
{
        World *w = *state;
        Result en, dis;
        FakeCall enable_call, disable_call;

        start_approvable(w);
        request_async(w, SWAP_OPERATION_ENABLE, &en);
        enable_call = take(&w->fake, VMMCTL_OP_SWAP_ENABLE);

        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        assert_failed_with(&en, "Aborted on disable vmm-swap");
        assert_int_equal(w->n_signals, 1);
        assert_int_equal(w->signals[0], SWAPPING_STATE_IN);
        disable_call = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_true(disable_call.slow_file_cleanup);
        assert_false(dis.done);

        /* The late enable answer changes nothing and answers nobody again. */
        reply(&w->fake, enable_call, 0, NULL);
        assert_int_equal(en.count, 1);
        assert_false(info(w).enabled);
        assert_int_equal(info(w).timer, SWAP_TIMER_NONE);
        reply(&w->fake, disable_call, 0, NULL);
        assert_succeeded(&dis);
        assert_true(info(w).has_disable_reason);
        assert_int_equal(info(w).last_disable_reason, SWAP_DISABLE_REQUEST);
        advance(w, D);
        assert_int_equal(w->fake.n, 0);
}

static void test_disable_aborts_force_enable(void **state)
{
        World *w = *state;
        Result en, dis;
        FakeCall enable_call;

        start_approvable(w);
        request_async(w, SWAP_OPERATION_FORCE_ENABLE, &en);
        enable_call = take(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        assert_failed_with(&en, "Aborted on disable vmm-swap");
        reply(&w->fake, enable_call, 0, NULL);
        assert_false(info(w).enabled);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&dis);
        advance(w, D);
        assert_int_equal(w->fake.n, 0);
}

static void test_disable_during_trim_wait(void **state)
{
        World *w = *state;
        Result dis;

        start_approvable(w);
        enable_approved(w);
        advance(w, 5 * MIN_US);
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        assert_int_equal(w->signals[0], SWAPPING_STATE_IN);
        FakeCall c = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_true(c.slow_file_cleanup);
        reply(&w->fake, c, 0, NULL);
        assert_succeeded(&dis);
        assert_false(info(w).enabled);
        assert_int_equal(info(w).timer, SWAP_TIMER_NONE);
        /* The trim wait never fires. */
        advance(w, SWAP_TRIM_WAIT_US);
        assert_int_equal(w->fake.n, 0);
        assert_int_equal(w->n_signals, 1);
}

static void test_disable_during_trim_and_poll(void **state)
{
        World *w = *state;
        Result dis;
        FakeCall trim, poll;

        start_approvable(w);
        enable_approved(w);

        /* Disable while the trim is out: its answer is stale. */
        advance(w, SWAP_TRIM_WAIT_US);
        trim = take(&w->fake, VMMCTL_OP_SWAP_TRIM);
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&dis);
        reply(&w->fake, trim, 0, NULL);
        assert_false(info(w).polling);
        advance(w, 10 * S);
        assert_int_equal(w->fake.n, 0);

        /* Again, disabling while a poll is out: a Pending answer then swaps nothing out. */
        w->now += D; /* the usage period of the first enable was closed by the disable */
        enable_approved(w);
        advance(w, SWAP_TRIM_WAIT_US);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        advance(w, S);
        poll = take(&w->fake, VMMCTL_OP_SWAP_STATUS);
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        assert_int_equal(w->signals[w->n_signals - 1], SWAPPING_STATE_IN);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        VmmctlSwapStatus st = {.state = VMMCTL_SWAP_PENDING, .staging_pages = 100};
        reply(&w->fake, poll, 0, &st);
        assert_int_equal(w->fake.n, 0);
        assert_int_equal(info(w).swapped_out_bytes, 0);
        for (size_t i = 0; i < w->n_signals; i++)
                assert_int_equal(w->signals[i], SWAPPING_STATE_IN);
        advance(w, 10 * S);
        assert_int_equal(w->fake.n, 0);
}

static void test_disable_after_swap_out(void **state)
{
        World *w = *state;
        Result dis;
        size_t n;
        UsageHistoryRecord *e;

        start_approvable(w);
        enable_approved(w);
        run_swap_out(w, SWAP_TRIM_WAIT_US, 10);
        w->now += 2 * H;
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        assert_int_equal(w->n_signals, 2);
        assert_int_equal(w->signals[1], SWAPPING_STATE_IN);
        FakeCall c = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_true(c.slow_file_cleanup);
        reply(&w->fake, c, 0, NULL);
        assert_succeeded(&dis);
        assert_true(info(w).slow_cleanup_pending);

        /* The usage period (enable .. disable) went to the VM's history file. */
        e = read_usage(w, &n);
        assert_int_equal(n, 4);
        assert_int_equal(e[3].start_us, T0);
        assert_int_equal(e[3].duration_us, w->now - T0);
        free(e);

        /* The VMM back to Ready ends the slow cleanup watch. */
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_READY);
        assert_false(info(w).slow_cleanup_pending);
}

static void test_cool_down(void **state)
{
        World *w = *state;
        Result r;
        int64_t swapped_at;

        start_approvable(w);
        enable_approved(w);
        run_swap_out(w, SWAP_TRIM_WAIT_US, 10);
        swapped_at = w->now;

        /* A maintenance ENABLE an hour later: refused, but memory is re-staged and trimmed. */
        w->now += H;
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        assert_false(r.done);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_failed_with(&r, "Requires cooling down period after last vmm-swap out");
        assert_int_equal(info(w).last_policy_result, SWAP_POLICY_COOL_DOWN);
        assert_true(info(w).enabled);
        assert_int_equal(info(w).timer, SWAP_TIMER_TRIM);

        /* Another one while that trim timer runs: refused without a backend call. */
        w->now += MIN_US;
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Requires cooling down period after last vmm-swap out");
        assert_int_equal(w->fake.n, 0);

        /* The trim-only timer trims and stops: no polls, no swap-out. */
        advance(w, SWAP_TRIM_WAIT_US - MIN_US);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        assert_false(info(w).polling);
        advance(w, 10 * S);
        assert_int_equal(w->fake.n, 0);
        assert_int_equal(info(w).swap_outs, 1);

        /* 24 h after the swap-out: approved, re-staged, and a new swap-out follows. */
        w->now = swapped_at + SWAP_OUT_COOL_DOWN_US - 1;
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_failed_with(&r, "Requires cooling down period after last vmm-swap out");
        assert_int_equal(info(w).timer, SWAP_TIMER_TRIM);
        w->now += 1;
        enable_approved(w);
        run_swap_out(w, SWAP_TRIM_WAIT_US, 10);
        assert_int_equal(info(w).swap_outs, 2);
}

static void test_configured_cool_down(void **state)
{
        World *w = *state;
        Result r;

        w->config.cool_down_us = 5 * MIN_US;
        start_approvable(w);
        enable_approved(w);
        run_swap_out(w, SWAP_TRIM_WAIT_US, 10);
        w->now += 5 * MIN_US - 1;
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_failed_with(&r, "Requires cooling down period after last vmm-swap out");
        w->now += 1;
        /* A trim timer is pending now: an approval re-stages and takes over the timer. */
        enable_approved(w);
        assert_int_equal(info(w).timer, SWAP_TIMER_SWAP_OUT);
}

static void test_maintenance_tbw_refusal_trims(void **state)
{
        World *w = *state;
        Result r;

        w->config.cool_down_us = MIN_US;
        start_approvable(w);
        enable_approved(w);
        /* A swap-out that spends the whole 1-day budget (4T). */
        run_swap_out(w, SWAP_TRIM_WAIT_US, (4 * T) / 4096 + 1);
        w->now += H;
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_failed_with(&r, "TBW (total bytes written) reached target");
        assert_int_equal(info(w).timer, SWAP_TIMER_TRIM);
}

static void test_low_disk_while_enabled(void **state)
{
        World *w = *state;
        FakeCall c;

        w->config.low_disk_check_us = 30 * S;
        start_approvable(w);
        enable_approved(w);
        advance(w, 30 * S);
        assert_int_equal(w->fake.n, 0);
        assert_true(info(w).enabled);

        /* Below 2 GiB: disabled without slow cleanup at the next check. */
        w->disk_free = (int64_t)(2 * GIB - 1);
        advance(w, 29 * S);
        assert_int_equal(w->fake.n, 0);
        advance(w, S);
        c = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_false(c.slow_file_cleanup);
        reply(&w->fake, c, 0, NULL);
        assert_false(info(w).enabled);
        assert_int_equal(info(w).last_disable_reason, SWAP_DISABLE_LOW_DISK_SPACE);
        assert_int_equal(w->n_signals, 1);
        assert_int_equal(w->signals[0], SWAPPING_STATE_IN);
        assert_int_equal(info(w).timer, SWAP_TIMER_NONE);
        /* The trim wait was stopped; no more checks. */
        advance(w, SWAP_TRIM_WAIT_US);
        assert_int_equal(w->fake.n, 0);
        assert_int_equal(swap_controller_next_deadline(w->c), INT64_MAX);
}

static void test_low_disk_during_slow_cleanup(void **state)
{
        World *w = *state;
        Result dis;
        FakeCall c;

        start_approvable(w);
        enable_approved(w);
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&dis);
        assert_true(info(w).slow_cleanup_pending);

        /* The background cleanup is cut short when the disk runs low. */
        w->disk_free = 1;
        advance(w, SWAP_LOW_DISK_CHECK_US);
        c = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_false(c.slow_file_cleanup);
        reply(&w->fake, c, 0, NULL);
        /* No second SWAPPING_IN: vmm-swap was already off. */
        assert_int_equal(w->n_signals, 1);
        assert_false(info(w).slow_cleanup_pending);
}

static void test_vm_stop(void **state)
{
        World *w = *state;
        Result r;
        UsageHistoryRecord *e;
        size_t n;

        start_approvable(w);
        enable_approved(w);
        w->now += 3 * H;
        swap_controller_vm_stopped(w->c);
        assert_true(info(w).stopped);
        assert_false(info(w).enabled);
        assert_int_equal(info(w).last_disable_reason, SWAP_DISABLE_VM_SHUTDOWN);
        /* No backend call, no signal; the usage period is closed in the file. */
        assert_int_equal(w->fake.n, 0);
        assert_int_equal(w->n_signals, 0);
        e = read_usage(w, &n);
        assert_int_equal(n, 4);
        assert_int_equal(e[3].start_us, T0);
        assert_int_equal(e[3].duration_us, 3 * H);
        free(e);
        /* Idempotent; later requests are refused. */
        swap_controller_vm_stopped(w->c);
        e = read_usage(w, &n);
        assert_int_equal(n, 4);
        free(e);
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Requested VM does not exist");
        r = request(w, SWAP_OPERATION_DISABLE);
        assert_failed_with(&r, "Requested VM does not exist");
        assert_int_equal(swap_controller_query_status(w->c, on_status, NULL), -ENOTCONN);
        advance(w, D);
        assert_int_equal(w->fake.n, 0);
}

static void test_vm_stop_aborts_pending_enable(void **state)
{
        World *w = *state;
        Result r;

        start_approvable(w);
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        swap_controller_vm_stopped(w->c);
        assert_failed_with(&r, "Aborted on disable vmm-swap");
        /* The backend answers the call when the VMM goes away. */
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_ENABLE), -ECONNRESET, NULL);
        assert_int_equal(r.count, 1);
        assert_false(info(w).enabled);
}

static void test_restart_keeps_histories(void **state)
{
        World *w = *state;
        Result r;
        uint64_t used_before;
        int64_t predicted;

        start_approvable(w);
        enable_approved(w);
        run_swap_out(w, SWAP_TRIM_WAIT_US, 2000);
        used_before = tbw_used_1d(w);
        w->now += 2 * D;
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&r);
        predicted = info(w).predicted_duration_us;

        /* The daemon restarts: a new TBW budget and controller from the same files. */
        swap_controller_free(w->c);
        w->c = NULL;
        swap_tbw_free(w->tbw);
        w->tbw = NULL;
        open_tbw(w, w->now);
        start_controller(w);
        assert_true(swap_tbw_is_persistent(w->tbw));
        assert_true(info(w).usage_history_persistent);
        TbwBudget b;
        swap_tbw_budget(w->tbw, w->now, &b);
        assert_int_equal(b.window[TBW_WINDOW_7_DAYS].used, used_before);
        assert_int_equal(info(w).predicted_duration_us, predicted);
        assert_true(predicted > 0);

        /* And a usage history read back blocks the same way: idle for a minute each week. */
        swap_controller_free(w->c);
        w->c = NULL;
        UsageHistoryRecord e[2] = {{.start_us = w->now - 2 * W, .duration_us = MIN_US},
                                   {.start_us = w->now - W, .duration_us = MIN_US}};
        seed_usage(w, e, 2);
        start_controller(w);
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Predicted disable soon");
}

static void test_corrupt_usage_history(void **state)
{
        World *w = *state;
        static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff};

        seed_long_idle_history(w);
        write_file(w->usage_path, garbage, sizeof(garbage));
        open_tbw(w, T0 - 40 * D);
        start_controller(w);
        assert_false(info(w).usage_history_persistent);
        assert_int_equal(access(w->usage_path, F_OK), -1);
        /* Empty history: prediction 0. */
        Result r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Predicted disable soon");
}

static void test_backend_errors(void **state)
{
        World *w = *state;
        Result r;

        start_approvable(w);

        /* Enable answered with an error. */
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_ENABLE), -EIO, NULL);
        assert_failed_with(&r, "Failure on crosvm swap command for enable");
        assert_false(info(w).enabled);
        assert_false(info(w).enable_pending);
        assert_int_equal(info(w).timer, SWAP_TIMER_NONE);

        /* Enable refused synchronously (the VMM is gone). */
        w->fake.fail_next = -ENOTCONN;
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Failure on crosvm swap command for enable");
        w->fake.fail_next = -ENOTCONN;
        r = request(w, SWAP_OPERATION_FORCE_ENABLE);
        assert_failed_with(&r, "Failure on crosvm swap command for enable");
        request_async(w, SWAP_OPERATION_FORCE_ENABLE, &r);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_ENABLE), -ETIMEDOUT, NULL);
        assert_failed_with(&r, "Failure on crosvm swap command for enable");
        assert_false(info(w).enabled);

        /* Trim fails: no polling. */
        enable_approved(w);
        advance(w, SWAP_TRIM_WAIT_US);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_TRIM), -EIO, NULL);
        assert_false(info(w).polling);
        advance(w, 10 * S);
        assert_int_equal(w->fake.n, 0);

        /* A poll fails: the sequence ends. */
        w->now += D;
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_succeeded(&r);
        advance(w, SWAP_TRIM_WAIT_US);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        advance(w, S);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_STATUS), -ETIMEDOUT, NULL);
        assert_false(info(w).polling);
        advance(w, 10 * S);
        assert_int_equal(w->fake.n, 0);

        /* Swap-out fails: no last swap-out (no cool-down), but the bytes were counted. */
        w->now += D;
        request_async(w, SWAP_OPERATION_ENABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        advance(w, SWAP_TRIM_WAIT_US);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        advance(w, S);
        reply_state(&w->fake, VMMCTL_SWAP_PENDING, 8);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_OUT), -ENOSPC, NULL);
        assert_false(info(w).has_last_swap_out);
        assert_int_equal(info(w).swapped_out_bytes, 8 * 4096);

        /* Disable fails: vmm-swap is off for the controller all the same. */
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_DISABLE), -EIO, NULL);
        assert_failed_with(&r, "Failure on crosvm swap command for disable");
        assert_false(info(w).enabled);
        w->fake.fail_next = -ENOTCONN;
        r = request(w, SWAP_OPERATION_DISABLE);
        assert_failed_with(&r, "Failure on crosvm swap command for disable");
        assert_int_equal(w->fake.n, 0);
}

static void on_status(SwapController *c, int error, const SwapControllerInfo *i, void *userdata)
{
        SwapControllerInfo *out = userdata;

        *out = *i;
        out->timer_left_us = error; /* smuggle the error out for the test */
}

static void test_query_status(void **state)
{
        World *w = *state;
        SwapControllerInfo got = {};
        VmmctlSwapStatus st = {.state = VMMCTL_SWAP_ACTIVE, .swap_pages = 42, .staging_pages = 1};

        start_approvable(w);
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), 0);
        assert_false(got.have_vmm_status);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_STATUS), 0, &st);
        assert_int_equal(got.timer_left_us, 0);
        assert_true(got.have_vmm_status);
        assert_int_equal(got.vmm_status.state, VMMCTL_SWAP_ACTIVE);
        assert_int_equal(got.vmm_status.swap_pages, 42);
        assert_int_equal(got.duration_target_us, tbw_duration_target_us(T));
        assert_int_equal(got.tbw_target_per_day, T);
        assert_true(got.tbw.can_swap_out);
        assert_int_equal(got.disk_free_bytes, (int64_t)(100 * GIB));
        assert_int_equal(w->state_changes, 1);

        /* An error answers with the last view. */
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), 0);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_STATUS), -ETIMEDOUT, NULL);
        assert_int_equal(got.timer_left_us, -ETIMEDOUT);
        assert_int_equal(got.vmm_status.swap_pages, 42);

        w->fake.fail_next = -ENOTCONN;
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), -ENOTCONN);
}

/* DISABLE when vmm-swap is known to be off: success, no backend call, no SWAPPING_IN. */
static void test_disable_when_not_enabled(void **state)
{
        World *w = *state;
        Result r;
        UsageHistoryRecord *e;
        size_t n;

        start_approvable(w);
        /* Never enabled: twice, nothing reaches the VMM. */
        for (int i = 0; i < 2; i++) {
                r = request(w, SWAP_OPERATION_DISABLE);
                assert_succeeded(&r);
        }
        assert_int_equal(w->fake.total, 0);
        assert_int_equal(w->n_signals, 0);
        assert_false(info(w).has_disable_reason);
        assert_false(info(w).slow_cleanup_pending);
        assert_int_equal(swap_controller_next_deadline(w->c), INT64_MAX);

        /* A refused ENABLE (cool-down is not it: usage prediction with no history) opens a usage
         * period; the DISABLE still closes it, with no backend call. */
        swap_controller_free(w->c);
        w->c = NULL;
        (void)unlink(w->usage_path);
        start_controller(w);
        w->now += H;
        r = request(w, SWAP_OPERATION_ENABLE);
        assert_failed_with(&r, "Predicted disable soon");
        w->now += MIN_US;
        r = request(w, SWAP_OPERATION_DISABLE);
        assert_succeeded(&r);
        assert_int_equal(w->fake.total, 0);
        assert_int_equal(w->n_signals, 0);
        e = read_usage(w, &n);
        assert_int_equal(n, 1);
        assert_int_equal(e[0].duration_us, MIN_US);
        free(e);
}

/* After a real disable, DISABLE goes to the VMM until the VMM is seen Ready again. */
static void test_disable_again_after_disable(void **state)
{
        World *w = *state;
        Result dis, r;
        FakeCall c;

        start_approvable(w);
        enable_approved(w);
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&dis);
        assert_int_equal(w->n_signals, 1);

        /* Swap-in / slow cleanup still running: the VMM answers (here: busy). */
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_SWAP_IN_IN_PROGRESS);
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        c = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_true(c.slow_file_cleanup);
        reply(&w->fake, c, -EBUSY, NULL);
        assert_failed_with(&r, "Failure on crosvm swap command for disable");
        assert_int_equal(w->n_signals, 2);

        /* A Ready seen while a disable is in flight does not count: its answer may change it. */
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_READY);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&r);
        assert_int_equal(w->n_signals, 3);
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&r);
        assert_int_equal(w->n_signals, 4);

        /* Back to Ready with nothing in flight: DISABLE is a no-op from now on. */
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_SWAP_IN_IN_PROGRESS);
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_READY);
        assert_false(info(w).slow_cleanup_pending);
        unsigned total = w->fake.total;
        for (int i = 0; i < 3; i++) {
                r = request(w, SWAP_OPERATION_DISABLE);
                assert_succeeded(&r);
        }
        assert_int_equal(w->fake.total, total);
        assert_int_equal(w->n_signals, 4);
        assert_int_equal(info(w).last_disable_reason, SWAP_DISABLE_REQUEST);

        /* And a new enable makes it a real disable again. */
        w->now += D;
        request_async(w, SWAP_OPERATION_FORCE_ENABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        assert_succeeded(&r);
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&r);
        assert_int_equal(w->n_signals, 5);
        assert_int_equal(w->signals[4], SWAPPING_STATE_IN);
}

/* Disable with an enable in flight, after a failed enable, after a low-disk disable: the VMM. */
static void test_disable_not_enabled_goes_to_vmm(void **state)
{
        World *w = *state;
        Result r, en;
        FakeCall c;

        start_approvable(w);
        /* A failed enable may have left the VMM Failed: DISABLE asks it. */
        request_async(w, SWAP_OPERATION_FORCE_ENABLE, &en);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_ENABLE), -EIO, NULL);
        assert_failed_with(&en, "Failure on crosvm swap command for enable");
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_FAILED);
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&r);
        assert_int_equal(w->n_signals, 1);
        /* A status query that finds it Ready settles it. */
        VmmctlSwapStatus st = {.state = VMMCTL_SWAP_READY};
        SwapControllerInfo got;
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), 0);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_STATUS), 0, &st);
        r = request(w, SWAP_OPERATION_DISABLE);
        assert_succeeded(&r);
        assert_int_equal(w->n_signals, 1);
        assert_int_equal(w->fake.n, 0);

        /* Low-disk disable in flight (no slow cleanup): the request goes to the VMM too. */
        w->config.low_disk_check_us = 30 * S;
        swap_controller_free(w->c);
        w->c = NULL;
        start_controller(w);
        w->now += D;
        enable_approved(w);
        w->disk_free = 1;
        advance(w, 30 * S);
        c = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_false(c.slow_file_cleanup);
        assert_false(info(w).slow_cleanup_pending);
        request_async(w, SWAP_OPERATION_DISABLE, &r);
        reply(&w->fake, c, 0, NULL);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&r);
}

/* status_updated: every full status (polls, queries), never a state-only event. */
static void test_status_updated(void **state)
{
        World *w = *state;
        SwapControllerInfo got;
        VmmctlSwapStatus st = {.state = VMMCTL_SWAP_ACTIVE,
                               .resident_pages = 1,
                               .copied_from_file_pages = 2,
                               .copied_from_staging_pages = 3,
                               .zeroed_pages = 4,
                               .redundant_pages = 5,
                               .staging_pages = 6,
                               .swap_pages = 7,
                               .transition_pages = 8,
                               .transition_time_ms = 9};

        start_approvable(w);
        enable_approved(w);
        assert_int_equal(w->status_updates, 0);
        run_swap_out(w, SWAP_TRIM_WAIT_US, 100);
        /* Two polls: TrimInProgress, then Pending with 100 staging pages. */
        assert_int_equal(w->status_updates, 2);
        assert_int_equal(w->last_status.state, VMMCTL_SWAP_PENDING);
        assert_int_equal(w->last_status.staging_pages, 100);
        assert_int_equal(w->last_status.resident_pages, 7);

        /* An event changes the state only; the metrics stay the last known. */
        swap_controller_on_swap_state(w->c, VMMCTL_SWAP_ACTIVE);
        assert_int_equal(w->status_updates, 2);
        assert_int_equal(info(w).vmm_status.state, VMMCTL_SWAP_ACTIVE);
        assert_int_equal(info(w).vmm_status.staging_pages, 100);

        /* A query's answer, also when the state did not change. */
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), 0);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_STATUS), 0, &st);
        assert_int_equal(w->status_updates, 3);
        assert_memory_equal(&w->last_status, &st, sizeof(st));
        unsigned changes = w->state_changes;
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), 0);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_STATUS), 0, &st);
        assert_int_equal(w->status_updates, 4);
        assert_int_equal(w->state_changes, changes);
        /* A failed query: nothing new. */
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), 0);
        reply(&w->fake, take(&w->fake, VMMCTL_OP_SWAP_STATUS), -EIO, NULL);
        assert_int_equal(w->status_updates, 4);
}

static void test_free_with_calls_in_flight(void **state)
{
        World *w = *state;
        Result en, dis;
        SwapControllerInfo got = {};
        FakeCall calls[3];

        start_approvable(w);
        request_async(w, SWAP_OPERATION_ENABLE, &en);
        assert_int_equal(swap_controller_query_status(w->c, on_status, &got), 0);
        /* (the enable is still in flight) */
        request_async(w, SWAP_OPERATION_DISABLE, &dis);
        assert_failed_with(&en, "Aborted on disable vmm-swap");
        calls[0] = take(&w->fake, VMMCTL_OP_SWAP_ENABLE);
        calls[1] = take(&w->fake, VMMCTL_OP_SWAP_STATUS);
        calls[2] = take(&w->fake, VMMCTL_OP_SWAP_DISABLE);

        w->c = swap_controller_free(w->c);
        /* Requests still waiting were answered. */
        assert_failed_with(&dis, "Requested VM does not exist");
        assert_int_equal(got.timer_left_us, -ECANCELED);
        /* The backend's late answers land nowhere (ASan checks the memory). */
        reply(&w->fake, calls[0], 0, NULL);
        reply(&w->fake, calls[1], -ECANCELED, NULL);
        reply(&w->fake, calls[2], 0, NULL);
        assert_int_equal(dis.count, 1);
        assert_int_equal(en.count, 1);
}

/* A DISABLE from inside the SWAPPING_OUT signal handler: no swap-out afterwards. */
static Result reentrant_result;

static void on_swapping_disable(SwapController *c, SwappingState s, void *userdata)
{
        on_swapping(c, s, userdata);
        if (s == SWAPPING_STATE_OUT)
                assert_int_equal(
                        swap_controller_request(c, SWAP_OPERATION_DISABLE, on_result, &reentrant_result), 0);
}

static void test_reentrant_disable(void **state)
{
        World *w = *state;
        static const SwapControllerCallbacks cb = {.swapping = on_swapping_disable};

        open_tbw(w, T0 - 40 * D);
        seed_long_idle_history(w);
        assert_int_equal(swap_controller_new(&w->fake.base, w->tbw, &w->config, &cb, w, &w->c), 0);
        enable_approved(w);
        advance(w, SWAP_TRIM_WAIT_US);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_TRIM);
        advance(w, S);
        reply_state(&w->fake, VMMCTL_SWAP_PENDING, 4);
        assert_int_equal(w->n_signals, 2);
        assert_int_equal(w->signals[0], SWAPPING_STATE_OUT);
        assert_int_equal(w->signals[1], SWAPPING_STATE_IN);
        reply_ok(&w->fake, VMMCTL_OP_SWAP_DISABLE);
        assert_succeeded(&reentrant_result);
        assert_int_equal(w->fake.n, 0);
}

/* --- the libevent timer --------------------------------------------------------------------- */

/* The event loop drives the whole FORCE_ENABLE sequence with short real durations; the fake's
 * answers come from a zero-delay event, never from inside the call. */
typedef struct LoopWorld {
        World *w;
        struct event *answer;
        bool done;
} LoopWorld;

static void loop_answer(evutil_socket_t fd, short what, void *userdata)
{
        LoopWorld *lw = userdata;
        Fake *f = &lw->w->fake;

        while (f->n > 0) {
                FakeCall c = f->calls[0];
                VmmctlSwapStatus st = {.state = VMMCTL_SWAP_PENDING, .staging_pages = 2};

                f->n--;
                memmove(f->calls, f->calls + 1, f->n * sizeof(f->calls[0]));
                reply(f, c, 0, c.op == VMMCTL_OP_SWAP_STATUS ? &st : NULL);
                if (c.op == VMMCTL_OP_SWAP_OUT) {
                        lw->done = true;
                        event_base_loopbreak(lw->w->base);
                }
        }
}

static int loop_fake_call(Backend *b, const VmmctlRequest *req, uint64_t timeout_usec,
                          BackendReplyHandler cb, void *userdata);
static LoopWorld *current_loop;

static const BackendOps loop_ops = {
        .name = "fake-loop",
        .call = loop_fake_call,
};

static int loop_fake_call(Backend *b, const VmmctlRequest *req, uint64_t timeout_usec,
                          BackendReplyHandler cb, void *userdata)
{
        int r = fake_call(b, req, timeout_usec, cb, userdata);

        if (r >= 0)
                event_active(current_loop->answer, EV_TIMEOUT, 0);
        return r;
}

static int64_t real_now(void *userdata)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * S + ts.tv_nsec / 1000;
}

static void loop_give_up(evutil_socket_t fd, short what, void *userdata)
{
        event_base_loopbreak(userdata);
}

static void test_event_loop_timers(void **state)
{
        World *w = *state;
        LoopWorld lw = {.w = w};
        struct event *give_up;
        struct timeval limit = {.tv_sec = 30};
        Result r;

        w->base = event_base_new();
        assert_non_null(w->base);
        lw.answer = event_new(w->base, -1, 0, loop_answer, &lw);
        give_up = evtimer_new(w->base, loop_give_up, w->base);
        assert_non_null(lw.answer);
        assert_non_null(give_up);
        current_loop = &lw;
        w->fake.base.ops = &loop_ops;
        w->config.event_base = w->base;
        w->config.now = real_now;
        w->config.force_enable_delay_us = 2000;
        w->config.poll_interval_us = 1000;
        open_tbw(w, real_now(NULL));
        start_controller(w);

        request_async(w, SWAP_OPERATION_FORCE_ENABLE, &r);
        evtimer_add(give_up, &limit);
        assert_int_equal(event_base_dispatch(w->base), 0);
        assert_true(lw.done);
        assert_succeeded(&r);
        assert_int_equal(w->n_signals, 1);
        assert_int_equal(w->signals[0], SWAPPING_STATE_OUT);
        assert_true(info(w).has_last_swap_out);

        w->c = swap_controller_free(w->c);
        event_free(give_up);
        event_free(lw.answer);
        current_loop = NULL;
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_string_tables),
                cmocka_unit_test(test_usage_history_path),
                T_(test_invalid_arguments),
                T_(test_unknown_operation),
                T_(test_usage_prediction_without_history),
                T_(test_usage_prediction_seeded_short_history),
                T_(test_tbw_exhausted_seeded),
                T_(test_tbw_pessimistic_start),
                T_(test_low_disk_at_enable),
                T_(test_full_swap_out_sequence),
                T_(test_configured_durations),
                T_(test_sequence_stops_on_other_state),
                T_(test_force_enable),
                T_(test_force_enable_default_delay),
                T_(test_enable_pending),
                T_(test_disable_aborts_pending_enable),
                T_(test_disable_aborts_force_enable),
                T_(test_disable_during_trim_wait),
                T_(test_disable_during_trim_and_poll),
                T_(test_disable_after_swap_out),
                T_(test_cool_down),
                T_(test_configured_cool_down),
                T_(test_maintenance_tbw_refusal_trims),
                T_(test_low_disk_while_enabled),
                T_(test_low_disk_during_slow_cleanup),
                T_(test_vm_stop),
                T_(test_vm_stop_aborts_pending_enable),
                T_(test_restart_keeps_histories),
                T_(test_corrupt_usage_history),
                T_(test_backend_errors),
                T_(test_query_status),
                T_(test_disable_when_not_enabled),
                T_(test_disable_again_after_disable),
                T_(test_disable_not_enabled_goes_to_vmm),
                T_(test_status_updated),
                T_(test_free_with_calls_in_flight),
                T_(test_reentrant_disable),
                T_(test_event_loop_timers),
        };
#undef T_

        return cmocka_run_group_tests(tests, NULL, NULL);
}
