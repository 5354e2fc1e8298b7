/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap usage prediction (reference/concierge.md §3.5): how long will vmm-swap stay enabled
 * if it is enabled now, predicted from the periods it was enabled at the same time of week over
 * the last 4 weeks. A swap-out that is undone soon wastes disk writes, so an ENABLE is refused
 * when the prediction is below the duration target (tbw_duration_target_us()).
 *
 * One UsagePolicy per VM (about 17 KiB: allocate it with the VM). Hourly granularity: a
 * re-enable within an hour of the latest period's start is merged into that period. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/history-codec.h"

/* 24 * 7 * 4 periods: one per hour over 4 weeks at most. */
#define USAGE_HISTORY_WEEKS 4
#define USAGE_HISTORY_LENGTH (24 * 7 * USAGE_HISTORY_WEEKS)

typedef struct UsagePeriod {
        int64_t start_us;
        int64_t duration_us; /* valid when closed */
        bool closed;
} UsagePeriod;

typedef struct UsagePolicy {
        /* Ring of the newest periods, oldest at `head`. */
        UsagePeriod ring[USAGE_HISTORY_LENGTH];
        size_t head;
        size_t n;
        bool enabled;
} UsagePolicy;

void usage_policy_init(UsagePolicy *p);

bool usage_policy_is_enabled(const UsagePolicy *p);

/* vmm-swap got enabled at now_us: open a new period unless one started less than an hour ago
 * (then that one is reused). Ignored while enabled. */
void usage_policy_on_enabled(UsagePolicy *p, int64_t now_us);

/* vmm-swap got disabled at now_us (a VM stop counts as a disable). Closes the open period.
 * Returns 1 with *ret_record set when a period was closed and must be appended to the history
 * file, 0 when there is nothing to write (not enabled; a merged re-enable disabled within the
 * hour; a disable before the period's start). */
int usage_policy_on_disabled(UsagePolicy *p, int64_t now_us, UsageHistoryRecord *ret_record);

/* The predicted enabled duration at now_us, per §3.5. Not const: like concierge, it first
 * turns a merged re-enable that has outlived its hour into a period of its own. */
int64_t usage_policy_predict_duration(UsagePolicy *p, int64_t now_us);

/* Replace the history by decoded file entries (in file order): shutdown markers are ignored,
 * periods that ended 4 weeks or more before now_us are dropped. The policy is left disabled. */
void usage_policy_load(UsagePolicy *p, const UsageHistoryRecord *entries, size_t n, int64_t now_us);

/* The entries a rotation writes at now_us: every closed period that ended less than 4 weeks
 * ago, oldest first. Answers the count written to out (<= USAGE_HISTORY_LENGTH). */
size_t usage_policy_live_records(const UsagePolicy *p, int64_t now_us,
                                 UsageHistoryRecord out[static USAGE_HISTORY_LENGTH]);
