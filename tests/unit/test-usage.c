/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of policy/usage: enable/disable bookkeeping with the 1-hour merge rule, and the
 * prediction against hand-computed cases for 0, 1, 2 and 4+ weeks of history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy/history-codec.h"
#include "policy/swap-policy.h"
#include "policy/usage.h"
#include "vmm_backend/macro.h"

#define T0 (INT64_C(1704067200) * POLICY_USEC_PER_SEC) /* 2024-01-01 00:00 UTC, a Monday */
#define MINUTE POLICY_USEC_PER_MINUTE
#define H POLICY_USEC_PER_HOUR
#define D POLICY_USEC_PER_DAY
#define W POLICY_USEC_PER_WEEK

static int setup(void **state)
{
        UsagePolicy *p = malloc(sizeof(UsagePolicy));

        if (!p)
                return -1;
        usage_policy_init(p);
        *state = p;
        return 0;
}

static int teardown(void **state)
{
        free(*state);
        return 0;
}

/* A closed period as the daemon would have produced it. */
static void period(UsagePolicy *p, int64_t start, int64_t duration)
{
        UsageHistoryRecord rec;

        usage_policy_on_enabled(p, start);
        assert_int_equal(usage_policy_on_disabled(p, start + duration, &rec), 1);
        assert_int_equal(rec.start_us, start);
        assert_int_equal(rec.duration_us, duration);
}

static void test_no_history(void **state)
{
        UsagePolicy *p = *state;

        assert_int_equal(usage_policy_predict_duration(p, T0), 0);
        usage_policy_load(p, NULL, 0, T0);
        assert_int_equal(usage_policy_predict_duration(p, T0), 0);
        assert_false(usage_policy_is_enabled(p));
}

/* Less than a week: twice the latest period (an open one lasts until now). */
static void test_less_than_a_week(void **state)
{
        UsagePolicy *p = *state;

        usage_policy_on_enabled(p, T0);
        assert_true(usage_policy_is_enabled(p));
        assert_int_equal(usage_policy_predict_duration(p, T0 + 3 * H), 6 * H);
}

static void test_less_than_a_week_closed(void **state)
{
        UsagePolicy *p = *state;
        UsageHistoryRecord rec;

        usage_policy_on_enabled(p, T0);
        assert_int_equal(usage_policy_on_disabled(p, T0 + 5 * H, &rec), 1);
        assert_int_equal(rec.start_us, T0);
        assert_int_equal(rec.duration_us, 5 * H);
        assert_false(rec.is_shutdown);
        assert_int_equal(usage_policy_predict_duration(p, T0 + 2 * D), 10 * H);

        /* A new period, open for an hour: the latest counts. */
        usage_policy_on_enabled(p, T0 + 2 * D);
        assert_int_equal(usage_policy_predict_duration(p, T0 + 2 * D + H), 2 * H);
        /* Still under a week since the oldest start. */
        assert_int_equal(usage_policy_predict_duration(p, T0 + W - 1), 2 * (W - 1 - 2 * D));
}

/* One week: last week at this time swap was on and stayed on 8 more hours. */
static void test_one_week(void **state)
{
        UsagePolicy *p = *state;
        const int64_t now = T0 + W + D + 2 * H;

        period(p, T0 + D, 10 * H);
        assert_int_equal(usage_policy_predict_duration(p, now), 8 * H);

        /* An enable that is open now does not span "now - 1 week": no effect. */
        usage_policy_on_enabled(p, now - 30 * MINUTE);
        assert_int_equal(usage_policy_predict_duration(p, now), 8 * H);

        /* Past the end of last week's period: nothing to go by. */
        assert_int_equal(usage_policy_predict_duration(p, T0 + W + D + 11 * H), 0);
        /* Exactly at last week's end: its part after "now - 1 week" is empty. */
        assert_int_equal(usage_policy_predict_duration(p, T0 + W + D + 10 * H), 0);
        /* Exactly at last week's start: the whole period. */
        assert_int_equal(usage_policy_predict_duration(p, T0 + W + D), 10 * H);
}

/* An enable that has lasted 8 days: a week ago it was on and stayed on a whole week. */
static void test_one_week_open(void **state)
{
        UsagePolicy *p = *state;

        usage_policy_on_enabled(p, T0);
        assert_int_equal(usage_policy_predict_duration(p, T0 + 8 * D), W);
}

/* Two weeks: (5 h from two weeks ago + 1 h from last week) / 2. */
static void test_two_weeks(void **state)
{
        UsagePolicy *p = *state;
        const int64_t now = T0 + 2 * W + 3 * H;

        period(p, T0 + 2 * H, 6 * H);     /* spans now - 2 weeks by 5 h */
        period(p, T0 + W + H, 3 * H);     /* spans now - 1 week by 1 h */
        period(p, T0 + W + 5 * D, 2 * H); /* spans nothing */
        assert_int_equal(usage_policy_predict_duration(p, now), 3 * H);
}

/* Four weeks and more: weeks capped at 4, a start more than 4 weeks ago counts from "now - 4
 * weeks", a period that ended 4 weeks ago or more is ignored, and a part longer than a week
 * adds itself less one week for as long as that is positive. */
static void test_four_weeks_and_more(void **state)
{
        UsagePolicy *p = *state;
        const int64_t now = T0 + 5 * W + 10 * H;

        period(p, T0, 2 * H);                           /* ended 5 weeks ago: ignored */
        period(p, T0 + 8 * H, 3 * W);                   /* 2W-2H after now-4W, then W-2H: 3W-4H */
        period(p, T0 + 4 * W + 9 * H, 3 * H);           /* 2 h after now-1W */
        usage_policy_on_enabled(p, T0 + 5 * W + 9 * H); /* open, spans nothing */
        assert_int_equal(usage_policy_predict_duration(p, now), (3 * W - 2 * H) / 4);
}

/* A part of 3 weeks 5 days: 3W+5D-1H, 2W+5D-1H, W+5D-1H and 5D-1H. */
static void test_long_period(void **state)
{
        UsagePolicy *p = *state;

        period(p, T0, 3 * W + 5 * D);
        assert_int_equal(usage_policy_predict_duration(p, T0 + 4 * W + H), (6 * W + 20 * D - 4 * H) / 4);
        assert_int_equal((6 * W + 20 * D - 4 * H) / 4, 371 * H);
}

/* Re-enabling within an hour of the latest start reuses that period. */
static void test_merge(void **state)
{
        UsagePolicy *p = *state;
        UsageHistoryRecord rec;

        usage_policy_on_enabled(p, T0);
        assert_int_equal(usage_policy_on_disabled(p, T0 + 10 * MINUTE, &rec), 1);
        usage_policy_on_enabled(p, T0 + 20 * MINUTE); /* merged */
        assert_int_equal(p->n, 1);
        /* Disabled again within the hour: nothing new, nothing to write. */
        assert_int_equal(usage_policy_on_disabled(p, T0 + 40 * MINUTE, &rec), 0);
        assert_int_equal(p->n, 1);
        assert_int_equal(p->ring[0].duration_us, 10 * MINUTE);

        /* Enabled exactly an hour after the latest start: a period of its own. */
        usage_policy_on_enabled(p, T0 + H);
        assert_int_equal(p->n, 2);
        assert_int_equal(usage_policy_on_disabled(p, T0 + 2 * H, &rec), 1);
        assert_int_equal(rec.start_us, T0 + H);
        assert_int_equal(rec.duration_us, H);
}

/* A merged re-enable that outlives the hour becomes a period starting at the merged start + 1 h
 * (pessimistic: the shortest it can have been). */
static void test_merge_pessimistic(void **state)
{
        UsagePolicy *p = *state;
        UsageHistoryRecord rec;

        usage_policy_on_enabled(p, T0);
        assert_int_equal(usage_policy_on_disabled(p, T0 + 10 * MINUTE, &rec), 1);
        usage_policy_on_enabled(p, T0 + 30 * MINUTE);
        /* Before the hour is over the prediction sees the closed 10 minutes. */
        assert_int_equal(usage_policy_predict_duration(p, T0 + 50 * MINUTE), 20 * MINUTE);
        assert_int_equal(p->n, 1);
        /* After: an open period from T0 + 1 h. */
        assert_int_equal(usage_policy_predict_duration(p, T0 + 2 * H), 2 * H);
        assert_int_equal(p->n, 2);
        assert_int_equal(usage_policy_on_disabled(p, T0 + 3 * H, &rec), 1);
        assert_int_equal(rec.start_us, T0 + H);
        assert_int_equal(rec.duration_us, 2 * H);

        /* The same without a prediction in between: inserted at the disable. */
        usage_policy_init(p);
        usage_policy_on_enabled(p, T0);
        assert_int_equal(usage_policy_on_disabled(p, T0 + 10 * MINUTE, &rec), 1);
        usage_policy_on_enabled(p, T0 + 30 * MINUTE);
        assert_int_equal(usage_policy_on_disabled(p, T0 + 5 * H, &rec), 1);
        assert_int_equal(rec.start_us, T0 + H);
        assert_int_equal(rec.duration_us, 4 * H);
        assert_int_equal(p->n, 2);
}

static void test_enable_disable_edges(void **state)
{
        UsagePolicy *p = *state;
        UsageHistoryRecord rec = {.start_us = 42};

        /* Disable without enable. */
        assert_int_equal(usage_policy_on_disabled(p, T0, &rec), 0);
        assert_int_equal(rec.start_us, 42);
        /* A second enable is ignored. */
        usage_policy_on_enabled(p, T0);
        usage_policy_on_enabled(p, T0 + 2 * H);
        assert_int_equal(p->n, 1);
        assert_int_equal(p->ring[0].start_us, T0);
        /* A disable before the start (the clock went back): disabled, nothing written. */
        assert_int_equal(usage_policy_on_disabled(p, T0 - 1, &rec), 0);
        assert_false(usage_policy_is_enabled(p));
        assert_false(p->ring[0].closed);
        /* NULL record pointer is allowed. */
        usage_policy_init(p);
        usage_policy_on_enabled(p, T0);
        assert_int_equal(usage_policy_on_disabled(p, T0 + H, NULL), 1);
}

static void test_ring_wraps(void **state)
{
        UsagePolicy *p = *state;

        for (int i = 0; i < USAGE_HISTORY_LENGTH + 28; i++)
                period(p, T0 + i * H, 30 * MINUTE);
        assert_int_equal(p->n, USAGE_HISTORY_LENGTH);
        assert_int_equal(p->ring[p->head].start_us, T0 + 28 * H);
}

static void test_load_and_live_records(void **state)
{
        UsagePolicy *p = *state;
        const int64_t now = T0 + 5 * W;
        const UsageHistoryRecord in[] = {
                {.start_us = T0, .duration_us = H},                  /* ended long ago */
                {.start_us = now - 4 * W - H, .duration_us = H},     /* ended exactly 4 weeks ago */
                {.start_us = now - 4 * W - H, .duration_us = H + 1}, /* 1 µs later: kept */
                {.start_us = now - 3 * W, .is_shutdown = true},      /* ignored */
                {.start_us = now - 2 * W, .duration_us = 2 * H},
                {.start_us = now - W + 3 * H, .duration_us = 5 * H},
        };
        _cleanup_free_ UsageHistoryRecord *out = calloc(USAGE_HISTORY_LENGTH, sizeof(UsageHistoryRecord));
        size_t n;

        assert_non_null(out);
        usage_policy_on_enabled(p, T0); /* replaced by the load */
        usage_policy_load(p, in, ELEMENTSOF(in), now);
        assert_false(usage_policy_is_enabled(p));
        assert_int_equal(p->n, 3);

        /* Rotation keeps exactly the live ones... */
        n = usage_policy_live_records(p, now, out);
        assert_int_equal(n, 3);
        assert_int_equal(out[0].start_us, in[2].start_us);
        assert_int_equal(out[0].duration_us, in[2].duration_us);
        assert_int_equal(out[1].start_us, in[4].start_us);
        assert_int_equal(out[2].start_us, in[5].start_us);
        assert_int_equal(out[2].duration_us, 5 * H);
        /* ...and never an open period. */
        usage_policy_on_enabled(p, now);
        assert_int_equal(usage_policy_live_records(p, now, out), 3);
        /* A week later the oldest has gone too. */
        assert_int_equal(usage_policy_live_records(p, now + W, out), 2);

        /* Predictions from the loaded history, 4 weeks (4W + 1 h since the oldest start):
         * at now, in[2] spans now - 4W by 1 µs and in[4] spans now - 2W by 2 h;
         * at now + 4 h, only in[5] spans a point (now + 4 h - 1W) by 4 h. */
        usage_policy_load(p, in, ELEMENTSOF(in), now);
        assert_int_equal(usage_policy_predict_duration(p, now), (2 * H + 1) / 4);
        assert_int_equal(usage_policy_predict_duration(p, now + 4 * H), 4 * H / 4);
}

/* The prediction is the same whether the history came from live calls or from the file. */
static void test_load_matches_live(void **state)
{
        UsagePolicy *p = *state;
        _cleanup_free_ UsagePolicy *q = malloc(sizeof(UsagePolicy));
        _cleanup_free_ UsageHistoryRecord *out = calloc(USAGE_HISTORY_LENGTH, sizeof(UsageHistoryRecord));
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ UsageHistoryRecord *back = NULL;
        const int64_t now = T0 + 6 * W;
        size_t n, size, m;

        assert_non_null(q);
        assert_non_null(out);
        /* Evenings on, nights and weekends off, over 6 weeks. */
        for (int day = 0; day < 6 * 7; day++)
                if (day % 7 < 5)
                        period(p, T0 + day * D + 18 * H + (day % 3) * 20 * MINUTE, 4 * H + (day % 4) * H);

        n = usage_policy_live_records(p, now, out);
        assert_int_equal(usage_history_encode(out, n, &data, &size), 0);
        assert_true(size <= USAGE_HISTORY_MAX_FILE_SIZE);
        assert_int_equal(usage_history_decode(data, size, now, &back, &m), 0);
        usage_policy_init(q);
        usage_policy_load(q, back, m, now);

        /* The rotated history starts at the first period that ended within 4 weeks (day 14,
         * 18:40), so from 4 weeks after it both count 4 weeks and must agree exactly. */
        for (int64_t t = now + 18 * H + 40 * MINUTE; t < now + 3 * D; t += 17 * MINUTE)
                assert_int_equal(usage_policy_predict_duration(q, t), usage_policy_predict_duration(p, t));
        /* 18:30 on a weekday: roughly the rest of an evening. */
        assert_true(usage_policy_predict_duration(q, now + D + 18 * H + 30 * MINUTE) > H);
        assert_true(usage_policy_predict_duration(q, now + D + 18 * H + 30 * MINUTE) < 7 * H);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_no_history, setup, teardown),
                cmocka_unit_test_setup_teardown(test_less_than_a_week, setup, teardown),
                cmocka_unit_test_setup_teardown(test_less_than_a_week_closed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_week, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_week_open, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_weeks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_four_weeks_and_more, setup, teardown),
                cmocka_unit_test_setup_teardown(test_long_period, setup, teardown),
                cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_merge_pessimistic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enable_disable_edges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ring_wraps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_and_live_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_matches_live, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
