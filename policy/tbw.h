/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap TBW (total bytes written) policy (reference/concierge.md §3.3): a budget of disk
 * writes per day, tracked in 28 daily buckets, that swap-outs must stay under.
 *
 * One TbwPolicy serves the whole daemon. It is a plain value (no allocation): the daemon records
 * the staging bytes of every swap-out, asks can_swap_out() before approving an enable, and keeps
 * the history file (concierge/history-file.h) in step with tbw_policy_live_records(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/history-codec.h"

#define TBW_HISTORY_LENGTH 28
/* A rotation writes at most every bucket plus the report fence. */
#define TBW_LIVE_RECORDS_MAX (TBW_HISTORY_LENGTH + 1)

/* 550 MB/day per 32 GB of disk, at most 2 GB/day; 16 GB assumed when the size is unknown. */
#define TBW_TARGET_PER_32GB UINT64_C(550000000)
#define TBW_TARGET_DISK_UNIT UINT64_C(32000000000)
#define TBW_TARGET_MAX_PER_DAY UINT64_C(2000000000)
#define TBW_UNKNOWN_DISK_BYTES UINT64_C(16000000000)

/* The three windows of can_swap_out(): a sum over buckets younger than `days` must stay below
 * days * factor * target. Recent windows are eased so that a burst is allowed. */
typedef enum TbwWindow {
        TBW_WINDOW_28_DAYS,
        TBW_WINDOW_7_DAYS,
        TBW_WINDOW_1_DAY,
        _TBW_WINDOW_MAX,
        _TBW_WINDOW_INVALID = -EINVAL,
} TbwWindow;

const char *tbw_window_to_string(TbwWindow w); /* "28d", "7d", "1d" */
TbwWindow tbw_window_from_string(const char *s);

typedef struct TbwBucket {
        int64_t start_us; /* Unix µs of the first write in the bucket */
        uint64_t bytes;
} TbwBucket;

typedef struct TbwPolicy {
        uint64_t target_per_day;
        /* Ring of the TBW_HISTORY_LENGTH newest buckets, oldest at `head`. */
        TbwBucket ring[TBW_HISTORY_LENGTH];
        size_t head;
        size_t n;
        /* The latest report fence read from the history file; written back on rotation. */
        bool has_reported_fence;
        int64_t reported_fence_us;
} TbwPolicy;

typedef struct TbwWindowBudget {
        uint64_t used;  /* bytes in buckets younger than the window */
        uint64_t limit; /* days * factor * target */
        uint64_t left;  /* limit - used, 0 when exhausted */
} TbwWindowBudget;

typedef struct TbwBudget {
        TbwWindowBudget window[_TBW_WINDOW_MAX];
        bool can_swap_out;
} TbwBudget;

/* min(disk_bytes / 32e9 * 550e6, 2e9); disk_bytes 0 means unknown (-> 275 MB/day). */
uint64_t tbw_target_per_day(uint64_t disk_bytes);

/* How long vmm-swap must be expected to stay enabled for a swap-out to pay off: 1 GiB worth of
 * the daily budget, in days, capped at 28 days (28 days when the target is 0). */
int64_t tbw_duration_target_us(uint64_t target_per_day);

/* An empty history with the given daily target. */
void tbw_policy_init(TbwPolicy *p, uint64_t target_per_day);

/* Add bytes written at now_us: into the newest bucket if that began less than 24 h before,
 * else into a new bucket (dropping the oldest when all 28 are used). */
void tbw_policy_record(TbwPolicy *p, int64_t now_us, uint64_t bytes);

/* Replace the history by 28 buckets of one daily target each at now-27d ... now, as if the disk
 * had been written at the full budget for 28 days: a missing or lost history never lets swap
 * wear the disk; swap-outs are refused for about a day. The report fence is dropped. */
void tbw_policy_populate_pessimistic(TbwPolicy *p, int64_t now_us);

/* Replace the history by the decoded file entries (in file order). Returns 0 when loaded, or
 * 1 when there was no byte-count entry at all (an empty file, or only a report fence): such a
 * file is left by a crash right after creation or a rotation after a long power-off, so it
 * proves nothing; the pessimistic history was installed instead and the caller should rewrite
 * the file from tbw_policy_live_records(). */
int tbw_policy_load(TbwPolicy *p, const TbwHistoryRecord *entries, size_t n, int64_t now_us);

/* All three windows below their limits at now_us. */
bool tbw_policy_can_swap_out(const TbwPolicy *p, int64_t now_us);

/* Per-window usage at now_us (for `vmc swap status`). */
void tbw_policy_budget(const TbwPolicy *p, int64_t now_us, TbwBudget *ret);

/* The entries a rotation writes at now_us: every bucket younger than 28 days, and the report
 * fence placed in time order. Answers the count (<= TBW_LIVE_RECORDS_MAX) written to out. */
size_t tbw_policy_live_records(const TbwPolicy *p, int64_t now_us,
                               TbwHistoryRecord out[static TBW_LIVE_RECORDS_MAX]);
