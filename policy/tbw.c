/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap TBW policy: 28 daily buckets and the three budget windows. */
#include <string.h>

#include "policy/swap-policy.h"
#include "policy/tbw.h"
#include "vmm_backend/macro.h"

static const char *const tbw_window_table[_TBW_WINDOW_MAX] = {
        [TBW_WINDOW_28_DAYS] = "28d",
        [TBW_WINDOW_7_DAYS] = "7d",
        [TBW_WINDOW_1_DAY] = "1d",
};

/* Window length in days and the easing factor of its limit (§3.3). */
static const struct {
        int64_t days;
        uint64_t factor;
} tbw_window_def[_TBW_WINDOW_MAX] = {
        [TBW_WINDOW_28_DAYS] = {28, 1},
        [TBW_WINDOW_7_DAYS] = {7, 2},
        [TBW_WINDOW_1_DAY] = {1, 4},
};

const char *tbw_window_to_string(TbwWindow w)
{
        if (w < 0 || w >= _TBW_WINDOW_MAX)
                return NULL;
        return tbw_window_table[w];
}

TbwWindow tbw_window_from_string(const char *s)
{
        if (!s)
                return _TBW_WINDOW_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(tbw_window_table); i++)
                if (streq(tbw_window_table[i], s))
                        return (TbwWindow)i;
        return _TBW_WINDOW_INVALID;
}

uint64_t tbw_target_per_day(uint64_t disk_bytes)
{
        unsigned __int128 t;

        if (disk_bytes == 0)
                disk_bytes = TBW_UNKNOWN_DISK_BYTES;
        t = (unsigned __int128)disk_bytes * TBW_TARGET_PER_32GB / TBW_TARGET_DISK_UNIT;
        return t > TBW_TARGET_MAX_PER_DAY ? TBW_TARGET_MAX_PER_DAY : (uint64_t)t;
}

int64_t tbw_duration_target_us(uint64_t target_per_day)
{
        const int64_t cap = 28 * POLICY_USEC_PER_DAY;
        unsigned __int128 us;

        if (target_per_day == 0)
                return cap;
        us = (unsigned __int128)SWAP_EXPECTED_MAX_SHRUNK_VM_BYTES * (uint64_t)POLICY_USEC_PER_DAY /
             target_per_day;
        return us > (unsigned __int128)cap ? cap : (int64_t)us;
}

void tbw_policy_init(TbwPolicy *p, uint64_t target_per_day)
{
        *p = (TbwPolicy){.target_per_day = target_per_day};
}

static TbwBucket *bucket_at(TbwPolicy *p, size_t i)
{
        return &p->ring[(p->head + i) % TBW_HISTORY_LENGTH];
}

static const TbwBucket *bucket_at_const(const TbwPolicy *p, size_t i)
{
        return &p->ring[(p->head + i) % TBW_HISTORY_LENGTH];
}

static void push_bucket(TbwPolicy *p, int64_t start_us, uint64_t bytes)
{
        if (p->n < TBW_HISTORY_LENGTH)
                p->n++;
        else
                p->head = (p->head + 1) % TBW_HISTORY_LENGTH;
        *bucket_at(p, p->n - 1) = (TbwBucket){.start_us = start_us, .bytes = bytes};
}

void tbw_policy_record(TbwPolicy *p, int64_t now_us, uint64_t bytes)
{
        TbwBucket *latest;

        if (p->n == 0) {
                push_bucket(p, now_us, bytes);
                return;
        }
        latest = bucket_at(p, p->n - 1);
        /* A time before the newest bucket (the clock went back) joins it, as concierge does. */
        if (policy_time_sub(now_us, latest->start_us) >= POLICY_USEC_PER_DAY)
                push_bucket(p, now_us, bytes);
        else if (__builtin_add_overflow(latest->bytes, bytes, &latest->bytes))
                latest->bytes = UINT64_MAX;
}

static void clear_history(TbwPolicy *p)
{
        memset(p->ring, 0, sizeof(p->ring));
        p->head = p->n = 0;
        p->has_reported_fence = false;
        p->reported_fence_us = 0;
}

void tbw_policy_populate_pessimistic(TbwPolicy *p, int64_t now_us)
{
        clear_history(p);
        for (int64_t i = TBW_HISTORY_LENGTH - 1; i >= 0; i--)
                tbw_policy_record(p, policy_time_sub(now_us, i * POLICY_USEC_PER_DAY), p->target_per_day);
}

int tbw_policy_load(TbwPolicy *p, const TbwHistoryRecord *entries, size_t n, int64_t now_us)
{
        bool any_bytes = false;

        clear_history(p);
        for (size_t i = 0; i < n; i++) {
                const TbwHistoryRecord *e = &entries[i];

                if (e->reported_fence) {
                        p->has_reported_fence = true;
                        p->reported_fence_us = e->time_us;
                }
                /* A fence entry has no bytes of its own; recording 0 bytes still opens a bucket
                 * at its time, as concierge's loader does, which only matters for where the
                 * next day's bucket starts. */
                tbw_policy_record(p, e->time_us, e->size);
                if (!e->reported_fence)
                        any_bytes = true;
        }

        if (!any_bytes) {
                tbw_policy_populate_pessimistic(p, now_us);
                return 1;
        }
        return 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
        uint64_t r;

        return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
        uint64_t r;

        return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

void tbw_policy_budget(const TbwPolicy *p, int64_t now_us, TbwBudget *ret)
{
        TbwBudget b = {.can_swap_out = true};

        for (size_t w = 0; w < _TBW_WINDOW_MAX; w++) {
                int64_t len = tbw_window_def[w].days * POLICY_USEC_PER_DAY;
                TbwWindowBudget *wb = &b.window[w];

                /* Strictly younger than the window; a bucket in the future is young. */
                for (size_t i = 0; i < p->n; i++) {
                        const TbwBucket *bk = bucket_at_const(p, i);
                        if (policy_time_sub(now_us, bk->start_us) < len)
                                wb->used = sat_add(wb->used, bk->bytes);
                }
                wb->limit = sat_mul(sat_mul(p->target_per_day, (uint64_t)tbw_window_def[w].days),
                                    tbw_window_def[w].factor);
                wb->left = wb->used < wb->limit ? wb->limit - wb->used : 0;
                if (wb->used >= wb->limit)
                        b.can_swap_out = false;
        }
        *ret = b;
}

bool tbw_policy_can_swap_out(const TbwPolicy *p, int64_t now_us)
{
        TbwBudget b;

        tbw_policy_budget(p, now_us, &b);
        return b.can_swap_out;
}

size_t tbw_policy_live_records(const TbwPolicy *p, int64_t now_us,
                               TbwHistoryRecord out[static TBW_LIVE_RECORDS_MAX])
{
        bool fence_pending = p->has_reported_fence;
        size_t k = 0;

        for (size_t i = 0; i < p->n; i++) {
                const TbwBucket *bk = bucket_at_const(p, i);

                if (fence_pending && bk->start_us > p->reported_fence_us) {
                        out[k++] =
                                (TbwHistoryRecord){.time_us = p->reported_fence_us, .reported_fence = true};
                        fence_pending = false;
                }
                if (policy_time_sub(now_us, bk->start_us) < 28 * POLICY_USEC_PER_DAY)
                        out[k++] = (TbwHistoryRecord){.time_us = bk->start_us, .size = bk->bytes};
        }
        if (fence_pending)
                out[k++] = (TbwHistoryRecord){.time_us = p->reported_fence_us, .reported_fence = true};
        return k;
}
