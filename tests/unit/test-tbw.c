/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of policy/tbw: the daily target, the bucket ring, the three windows (each boundary
 * and exactly-at-limit), the pessimistic start, loading, rotation records, and 60 simulated days
 * of varied writes checked against an independent model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy/history-codec.h"
#include "policy/swap-policy.h"
#include "policy/tbw.h"
#include "vmm_backend/macro.h"

#define T0 (INT64_C(1704067200) * POLICY_USEC_PER_SEC) /* 2024-01-01 00:00 UTC */
#define HOUR POLICY_USEC_PER_HOUR
#define DAY POLICY_USEC_PER_DAY
#define WEEK POLICY_USEC_PER_WEEK

static uint64_t used(const TbwPolicy *p, int64_t now, TbwWindow w)
{
        TbwBudget b;

        tbw_policy_budget(p, now, &b);
        return b.window[w].used;
}

static void test_target(void **state)
{
        assert_int_equal(tbw_target_per_day(0), UINT64_C(275000000));
        assert_int_equal(tbw_target_per_day(UINT64_C(16000000000)), UINT64_C(275000000));
        assert_int_equal(tbw_target_per_day(UINT64_C(32000000000)), UINT64_C(550000000));
        assert_int_equal(tbw_target_per_day(UINT64_C(64000000000)), UINT64_C(1100000000));
        /* 2e9 is reached at 116.36 GB. */
        assert_int_equal(tbw_target_per_day(UINT64_C(116363636363)), UINT64_C(1999999999));
        assert_int_equal(tbw_target_per_day(UINT64_C(116363636364)), UINT64_C(2000000000));
        assert_int_equal(tbw_target_per_day(UINT64_C(128000000000)), UINT64_C(2000000000));
        assert_int_equal(tbw_target_per_day(UINT64_MAX), UINT64_C(2000000000));
        assert_int_equal(tbw_target_per_day(1), 0);
}

static void test_duration_target(void **state)
{
        /* 1 GiB / 550 MB per day = 1.952 days (the reference's "about 1.95 days"). */
        int64_t d = tbw_duration_target_us(UINT64_C(550000000));
        assert_int_equal(d, (int64_t)((unsigned __int128)(UINT64_C(1) << 30) * (uint64_t)DAY / 550000000));
        assert_true(d > 195 * DAY / 100 && d < 196 * DAY / 100);
        /* 2 GB/day: 0.537 days. */
        assert_int_equal(tbw_duration_target_us(UINT64_C(2000000000)),
                         (int64_t)((unsigned __int128)(UINT64_C(1) << 30) * (uint64_t)DAY / 2000000000));
        /* Capped at 28 days; a zero target means 28 days. */
        assert_int_equal(tbw_duration_target_us(0), 28 * DAY);
        assert_int_equal(tbw_duration_target_us(1), 28 * DAY);
        assert_int_equal(tbw_duration_target_us((UINT64_C(1) << 30) / 28), 28 * DAY);
        assert_true(tbw_duration_target_us((UINT64_C(1) << 30) / 27) < 28 * DAY);
}

static void test_window_strings(void **state)
{
        for (int w = 0; w < _TBW_WINDOW_MAX; w++) {
                const char *s = tbw_window_to_string(w);
                assert_non_null(s);
                assert_int_equal(tbw_window_from_string(s), w);
        }
        assert_null(tbw_window_to_string(_TBW_WINDOW_MAX));
        assert_int_equal(tbw_window_from_string("2d"), _TBW_WINDOW_INVALID);
        assert_int_equal(tbw_window_from_string(NULL), _TBW_WINDOW_INVALID);
}

static void test_empty_allows(void **state)
{
        TbwPolicy p;
        TbwBudget b;

        tbw_policy_init(&p, 100);
        assert_true(tbw_policy_can_swap_out(&p, T0));
        tbw_policy_budget(&p, T0, &b);
        assert_true(b.can_swap_out);
        assert_int_equal(b.window[TBW_WINDOW_28_DAYS].limit, 2800);
        assert_int_equal(b.window[TBW_WINDOW_7_DAYS].limit, 1400);
        assert_int_equal(b.window[TBW_WINDOW_1_DAY].limit, 400);
        assert_int_equal(b.window[TBW_WINDOW_1_DAY].left, 400);

        /* A zero target (a tiny disk) allows nothing once anything... and nothing at all: every
         * limit is 0 and 0 < 0 is false. */
        tbw_policy_init(&p, 0);
        assert_false(tbw_policy_can_swap_out(&p, T0));
}

static void test_buckets(void **state)
{
        TbwPolicy p;
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];

        tbw_policy_init(&p, 100);
        tbw_policy_record(&p, T0, 10);
        tbw_policy_record(&p, T0 + DAY - 1, 20); /* < 24 h after the bucket began: same bucket */
        assert_int_equal(p.n, 1);
        tbw_policy_record(&p, T0 + DAY, 30); /* exactly 24 h: a new bucket */
        assert_int_equal(p.n, 2);
        tbw_policy_record(&p, T0 + DAY + 23 * HOUR, 40);
        tbw_policy_record(&p, T0 - 5 * DAY, 1); /* the clock went back: joins the newest bucket */
        assert_int_equal(p.n, 2);

        assert_int_equal(tbw_policy_live_records(&p, T0 + 2 * DAY, live), 2);
        assert_int_equal(live[0].time_us, T0);
        assert_int_equal(live[0].size, 30);
        assert_int_equal(live[1].time_us, T0 + DAY);
        assert_int_equal(live[1].size, 71);

        /* The ring keeps the 28 newest buckets. */
        tbw_policy_init(&p, 100);
        for (int i = 0; i < 40; i++)
                tbw_policy_record(&p, T0 + i * DAY, (uint64_t)i);
        assert_int_equal(p.n, TBW_HISTORY_LENGTH);
        assert_int_equal(tbw_policy_live_records(&p, T0 + 39 * DAY, live), 28);
        assert_int_equal(live[0].time_us, T0 + 12 * DAY);
        assert_int_equal(live[0].size, 12);
        assert_int_equal(live[27].size, 39);

        /* Saturation instead of wrap-around. */
        tbw_policy_init(&p, 100);
        tbw_policy_record(&p, T0, UINT64_MAX);
        tbw_policy_record(&p, T0 + 1, UINT64_MAX);
        assert_int_equal(used(&p, T0 + 2, TBW_WINDOW_1_DAY), UINT64_MAX);
        assert_false(tbw_policy_can_swap_out(&p, T0 + 2));
}

/* 1-day window: limit 4T, sums buckets whose start is strictly younger than 24 h. */
static void test_window_1_day(void **state)
{
        TbwPolicy p;
        TbwBudget b;

        tbw_policy_init(&p, 100);
        tbw_policy_record(&p, T0, 399);
        assert_true(tbw_policy_can_swap_out(&p, T0));
        tbw_policy_budget(&p, T0, &b);
        assert_int_equal(b.window[TBW_WINDOW_1_DAY].left, 1);

        tbw_policy_record(&p, T0 + HOUR, 1); /* exactly at the limit: refused */
        assert_false(tbw_policy_can_swap_out(&p, T0 + HOUR));
        tbw_policy_budget(&p, T0 + HOUR, &b);
        assert_false(b.can_swap_out);
        assert_int_equal(b.window[TBW_WINDOW_1_DAY].used, 400);
        assert_int_equal(b.window[TBW_WINDOW_1_DAY].left, 0);
        assert_int_equal(b.window[TBW_WINDOW_7_DAYS].left, 1000);

        /* The bucket began at T0: it leaves the window at T0 + 24 h exactly. */
        assert_false(tbw_policy_can_swap_out(&p, T0 + DAY - 1));
        assert_true(tbw_policy_can_swap_out(&p, T0 + DAY));
        assert_int_equal(used(&p, T0 + DAY, TBW_WINDOW_1_DAY), 0);
        assert_int_equal(used(&p, T0 + DAY, TBW_WINDOW_7_DAYS), 400);
}

/* 7-day window: limit 14T; each day stays under its own 4T. */
static void test_window_7_days(void **state)
{
        TbwPolicy p;

        tbw_policy_init(&p, 100);
        for (int i = 0; i < 3; i++) {
                tbw_policy_record(&p, T0 + i * DAY, 350);
                assert_true(tbw_policy_can_swap_out(&p, T0 + i * DAY));
        }
        tbw_policy_record(&p, T0 + 3 * DAY, 349);
        assert_true(tbw_policy_can_swap_out(&p, T0 + 3 * DAY)); /* 1399 */
        tbw_policy_record(&p, T0 + 3 * DAY + HOUR, 1);
        assert_int_equal(used(&p, T0 + 3 * DAY + HOUR, TBW_WINDOW_7_DAYS), 1400);
        assert_int_equal(used(&p, T0 + 3 * DAY + HOUR, TBW_WINDOW_1_DAY), 350);
        assert_false(tbw_policy_can_swap_out(&p, T0 + 3 * DAY + HOUR));

        /* Blocked until the first bucket is exactly 7 days old. */
        assert_false(tbw_policy_can_swap_out(&p, T0 + 6 * DAY));
        assert_false(tbw_policy_can_swap_out(&p, T0 + WEEK - 1));
        assert_true(tbw_policy_can_swap_out(&p, T0 + WEEK));
        assert_int_equal(used(&p, T0 + WEEK, TBW_WINDOW_7_DAYS), 1050);
        assert_int_equal(used(&p, T0 + WEEK, TBW_WINDOW_28_DAYS), 1400);
}

/* 28-day window: limit 28T; 100 a day stays under both shorter windows. */
static void test_window_28_days(void **state)
{
        TbwPolicy p;

        tbw_policy_init(&p, 100);
        for (int i = 0; i < 27; i++) {
                tbw_policy_record(&p, T0 + i * DAY, 100);
                assert_true(tbw_policy_can_swap_out(&p, T0 + i * DAY));
        }
        tbw_policy_record(&p, T0 + 27 * DAY, 99);
        assert_true(tbw_policy_can_swap_out(&p, T0 + 27 * DAY)); /* 2799 */
        tbw_policy_record(&p, T0 + 27 * DAY + 1, 1);
        assert_false(tbw_policy_can_swap_out(&p, T0 + 27 * DAY + 1)); /* 2800 */
        assert_int_equal(used(&p, T0 + 27 * DAY + 1, TBW_WINDOW_7_DAYS), 700);

        assert_false(tbw_policy_can_swap_out(&p, T0 + 28 * DAY - 1));
        assert_true(tbw_policy_can_swap_out(&p, T0 + 28 * DAY));
        assert_int_equal(used(&p, T0 + 28 * DAY, TBW_WINDOW_28_DAYS), 2700);
}

/* A missing history: 28 T-sized buckets ending now block swap for one day. */
static void test_pessimistic(void **state)
{
        TbwPolicy p;
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        const uint64_t T = UINT64_C(550000000);

        tbw_policy_init(&p, T);
        tbw_policy_record(&p, T0 - 3 * DAY, 5); /* replaced */
        tbw_policy_populate_pessimistic(&p, T0);

        assert_int_equal(tbw_policy_live_records(&p, T0, live), 28);
        for (int i = 0; i < 28; i++) {
                assert_int_equal(live[i].time_us, T0 - (27 - i) * DAY);
                assert_int_equal(live[i].size, T);
        }
        assert_int_equal(used(&p, T0, TBW_WINDOW_28_DAYS), 28 * T);
        assert_int_equal(used(&p, T0, TBW_WINDOW_7_DAYS), 7 * T);
        assert_int_equal(used(&p, T0, TBW_WINDOW_1_DAY), T);

        assert_false(tbw_policy_can_swap_out(&p, T0));
        assert_false(tbw_policy_can_swap_out(&p, T0 + 12 * HOUR));
        assert_false(tbw_policy_can_swap_out(&p, T0 + DAY - 1));
        assert_true(tbw_policy_can_swap_out(&p, T0 + DAY));
        assert_int_equal(used(&p, T0 + DAY, TBW_WINDOW_28_DAYS), 27 * T);

        /* One 1 GiB swap-out on day 1 is allowed; it fills the 28-day window again. */
        tbw_policy_record(&p, T0 + DAY, UINT64_C(1) << 30);
        assert_false(tbw_policy_can_swap_out(&p, T0 + DAY + 1)); /* 27T + 1 GiB >= 28T */
}

static void test_load(void **state)
{
        TbwHistoryRecord in[] = {
                {.time_us = T0, .size = 100},
                {.time_us = T0 + HOUR, .size = 50}, /* same bucket */
                {.time_us = T0 + 2 * DAY, .reported_fence = true},
                {.time_us = T0 + 3 * DAY, .size = 10},
        };
        TbwHistoryRecord fence_only[] = {{.time_us = T0, .reported_fence = true}};
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        TbwPolicy p;
        size_t n;

        tbw_policy_init(&p, 100);
        assert_int_equal(tbw_policy_load(&p, in, ELEMENTSOF(in), T0 + 3 * DAY), 0);
        assert_true(p.has_reported_fence);
        assert_int_equal(p.reported_fence_us, T0 + 2 * DAY);
        assert_int_equal(used(&p, T0 + 3 * DAY, TBW_WINDOW_28_DAYS), 160);
        assert_int_equal(used(&p, T0 + 3 * DAY, TBW_WINDOW_1_DAY), 10);

        /* The rotation records: buckets and the fence, in time order. */
        n = tbw_policy_live_records(&p, T0 + 3 * DAY, live);
        assert_int_equal(n, 4);
        assert_int_equal(live[0].time_us, T0);
        assert_int_equal(live[0].size, 150);
        assert_int_equal(live[1].time_us, T0 + 2 * DAY); /* the fence's own (empty) bucket */
        assert_false(live[1].reported_fence);
        assert_int_equal(live[1].size, 0);
        assert_true(live[2].reported_fence);
        assert_int_equal(live[2].time_us, T0 + 2 * DAY);
        assert_int_equal(live[3].time_us, T0 + 3 * DAY);
        for (size_t i = 1; i < n; i++)
                assert_true(live[i].time_us >= live[i - 1].time_us);

        /* Later, only the buckets younger than 28 days remain, and the fence. */
        n = tbw_policy_live_records(&p, T0 + 29 * DAY, live);
        assert_int_equal(n, 3);
        assert_int_equal(live[0].time_us, T0 + 2 * DAY);
        assert_true(live[1].reported_fence);
        assert_int_equal(live[2].time_us, T0 + 3 * DAY);
        n = tbw_policy_live_records(&p, T0 + 30 * DAY, live);
        assert_int_equal(n, 2);
        assert_true(live[0].reported_fence);
        assert_int_equal(live[1].time_us, T0 + 3 * DAY);
        n = tbw_policy_live_records(&p, T0 + 40 * DAY, live);
        assert_int_equal(n, 1);
        assert_true(live[0].reported_fence);

        /* Nothing (or only a fence) proves nothing: pessimistic. */
        assert_int_equal(tbw_policy_load(&p, NULL, 0, T0), 1);
        assert_int_equal(used(&p, T0, TBW_WINDOW_28_DAYS), 2800);
        assert_false(tbw_policy_can_swap_out(&p, T0));
        assert_int_equal(tbw_policy_load(&p, fence_only, 1, T0 + DAY), 1);
        assert_false(p.has_reported_fence);
        assert_false(tbw_policy_can_swap_out(&p, T0 + DAY));
        assert_true(tbw_policy_can_swap_out(&p, T0 + 2 * DAY));
}

/* A fence newer than every bucket goes last; one older than every bucket goes first. */
static void test_fence_order(void **state)
{
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        TbwPolicy p;

        tbw_policy_init(&p, 100);
        tbw_policy_record(&p, T0, 1);
        tbw_policy_record(&p, T0 + DAY, 2);
        p.has_reported_fence = true;
        p.reported_fence_us = T0 + DAY + HOUR;
        assert_int_equal(tbw_policy_live_records(&p, T0 + 2 * DAY, live), 3);
        assert_true(live[2].reported_fence);
        p.reported_fence_us = T0 - 40 * DAY;
        assert_int_equal(tbw_policy_live_records(&p, T0 + 2 * DAY, live), 3);
        assert_true(live[0].reported_fence);
        assert_int_equal(live[1].time_us, T0);
}

/* --- 60 simulated days against an independent model ------------------------------------------- */

/* The model keeps every bucket ever opened (no ring): the ring only drops buckets that are at
 * least 28 days old, which no window counts, so both must agree everywhere. */
typedef struct Model {
        int64_t start[1024];
        uint64_t bytes[1024];
        size_t n;
        uint64_t target;
} Model;

static void model_record(Model *m, int64_t t, uint64_t b)
{
        if (m->n == 0 || t - m->start[m->n - 1] >= DAY) {
                assert_true(m->n < ELEMENTSOF(m->start));
                m->start[m->n] = t;
                m->bytes[m->n++] = b;
        } else
                m->bytes[m->n - 1] += b;
}

static bool model_can(const Model *m, int64_t now, uint64_t ret_used[3])
{
        const int64_t days[3] = {28, 7, 1};
        const uint64_t factor[3] = {1, 2, 4};
        bool ok = true;

        for (int w = 0; w < 3; w++) {
                uint64_t sum = 0;
                for (size_t i = 0; i < m->n; i++)
                        if (now - m->start[i] < days[w] * DAY)
                                sum += m->bytes[i];
                ret_used[w] = sum;
                if (sum >= m->target * (uint64_t)days[w] * factor[w])
                        ok = false;
        }
        return ok;
}

static uint64_t lcg(uint64_t *s)
{
        *s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        return *s >> 33;
}

/* Check at every step; returns how many hourly checks allowed a swap-out. */
static unsigned run_sim(uint64_t seed, int pattern)
{
        const uint64_t T = UINT64_C(550000000);
        static Model m;
        TbwPolicy p;
        unsigned allowed = 0, transitions = 0;
        bool last = false;

        memset(&m, 0, sizeof(m));
        m.target = T;
        tbw_policy_init(&p, T);

        for (int64_t h = 0; h < 60 * 24; h++) {
                int64_t now = T0 + h * HOUR + (int64_t)(lcg(&seed) % (uint64_t)HOUR);
                uint64_t mu[3];
                TbwBudget b;
                bool can = tbw_policy_can_swap_out(&p, now);
                bool mcan = model_can(&m, now, mu);

                assert_int_equal(can, mcan);
                tbw_policy_budget(&p, now, &b);
                for (int w = 0; w < 3; w++)
                        assert_int_equal(b.window[w].used, mu[w]);
                allowed += can;
                transitions += can != last;
                last = can;

                /* Write only when allowed, as the swap controller does, in varied amounts. */
                if (can) {
                        uint64_t bytes = 0;
                        switch (pattern) {
                        case 0: /* one large swap-out a day at a random hour */
                                if (lcg(&seed) % 24 == 0)
                                        bytes = T / 2 + lcg(&seed) % (3 * T);
                                break;
                        case 1: /* many small writes */
                                bytes = lcg(&seed) % (T / 8);
                                break;
                        case 2: /* bursts of huge writes every ~10 days, idle otherwise */
                                if ((h / 24) % 10 < 2 && lcg(&seed) % 6 == 0)
                                        bytes = 2 * T + lcg(&seed) % T;
                                break;
                        default: /* a constant 1 GiB per swap-out, every 2 hours */
                                if (h % 2 == 0)
                                        bytes = UINT64_C(1) << 30;
                                break;
                        }
                        if (bytes > 0) {
                                tbw_policy_record(&p, now, bytes);
                                model_record(&m, now, bytes);
                        }
                }
        }
        /* Every pattern both runs into a limit and recovers from it. */
        assert_true(transitions >= 2);
        return allowed;
}

static void test_sixty_days(void **state)
{
        for (int pattern = 0; pattern < 4; pattern++)
                for (uint64_t seed = 1; seed <= 5; seed++) {
                        unsigned allowed = run_sim(seed * 7919 + (uint64_t)pattern, pattern);
                        /* Allowed some of the time, refused some of the time. */
                        assert_true(allowed > 0);
                        assert_true(allowed < 60 * 24);
                }
}

/* Over 60 days of writing whenever allowed, the 28-day sum never exceeds the 28-day limit plus
 * the one write that crossed it (the budget is a pre-check, not a cap on a single swap-out). */
static void test_sixty_days_budget_holds(void **state)
{
        const uint64_t T = UINT64_C(550000000), W = UINT64_C(1) << 30;
        TbwPolicy p;

        tbw_policy_init(&p, T);
        tbw_policy_populate_pessimistic(&p, T0);
        for (int64_t now = T0; now < T0 + 60 * DAY; now += 10 * POLICY_USEC_PER_MINUTE) {
                if (tbw_policy_can_swap_out(&p, now))
                        tbw_policy_record(&p, now, W);
                assert_true(used(&p, now, TBW_WINDOW_28_DAYS) < 28 * T + W);
                assert_true(used(&p, now, TBW_WINDOW_7_DAYS) < 14 * T + W);
                assert_true(used(&p, now, TBW_WINDOW_1_DAY) < 4 * T + W);
        }
        /* The pessimistic start forbade the whole first day. */
        tbw_policy_populate_pessimistic(&p, T0);
        for (int64_t now = T0; now < T0 + DAY; now += 10 * POLICY_USEC_PER_MINUTE)
                assert_false(tbw_policy_can_swap_out(&p, now));
        assert_true(tbw_policy_can_swap_out(&p, T0 + DAY));
}

/* Rotation round trip: live records -> file bytes -> decode -> load gives the same verdicts. */
static void test_rotation_round_trip(void **state)
{
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ TbwHistoryRecord *back = NULL;
        TbwPolicy p, q;
        size_t n, size, m;
        const int64_t now = T0 + 45 * DAY;

        tbw_policy_init(&p, 100);
        for (int i = 0; i < 45; i++)
                tbw_policy_record(&p, T0 + i * DAY + (i % 5) * HOUR, (uint64_t)(10 + i));
        p.has_reported_fence = true;
        p.reported_fence_us = T0 + 30 * DAY + 1;

        n = tbw_policy_live_records(&p, now, live);
        assert_int_equal(tbw_history_encode(live, n, &data, &size), 0);
        assert_true(size <= TBW_HISTORY_MAX_FILE_SIZE);
        assert_int_equal(tbw_history_decode(data, size, now, &back, &m), 0);
        assert_int_equal(m, n);

        tbw_policy_init(&q, 100);
        assert_int_equal(tbw_policy_load(&q, back, m, now), 0);
        assert_true(q.has_reported_fence);
        assert_int_equal(q.reported_fence_us, p.reported_fence_us);
        for (int64_t t = now; t < now + 30 * DAY; t += 7 * HOUR)
                for (int w = 0; w < _TBW_WINDOW_MAX; w++)
                        assert_int_equal(used(&q, t, w), used(&p, t, w));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_target),
                cmocka_unit_test(test_duration_target),
                cmocka_unit_test(test_window_strings),
                cmocka_unit_test(test_empty_allows),
                cmocka_unit_test(test_buckets),
                cmocka_unit_test(test_window_1_day),
                cmocka_unit_test(test_window_7_days),
                cmocka_unit_test(test_window_28_days),
                cmocka_unit_test(test_pessimistic),
                cmocka_unit_test(test_load),
                cmocka_unit_test(test_fence_order),
                cmocka_unit_test(test_sixty_days),
                cmocka_unit_test(test_sixty_days_budget_holds),
                cmocka_unit_test(test_rotation_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
