/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap usage prediction: hourly enabled periods over 4 weeks. */
#include <string.h>

#include "policy/swap-policy.h"
#include "policy/usage.h"

#define HISTORY_SPAN_US (USAGE_HISTORY_WEEKS * POLICY_USEC_PER_WEEK)

void usage_policy_init(UsagePolicy *p)
{
        memset(p, 0, sizeof(*p));
}

bool usage_policy_is_enabled(const UsagePolicy *p)
{
        return p->enabled;
}

static UsagePeriod *period_at(UsagePolicy *p, size_t i)
{
        return &p->ring[(p->head + i) % USAGE_HISTORY_LENGTH];
}

static const UsagePeriod *period_at_const(const UsagePolicy *p, size_t i)
{
        return &p->ring[(p->head + i) % USAGE_HISTORY_LENGTH];
}

static UsagePeriod *latest(UsagePolicy *p)
{
        return p->n > 0 ? period_at(p, p->n - 1) : NULL;
}

static void push_period(UsagePolicy *p, UsagePeriod period)
{
        if (p->n < USAGE_HISTORY_LENGTH)
                p->n++;
        else
                p->head = (p->head + 1) % USAGE_HISTORY_LENGTH;
        *period_at(p, p->n - 1) = period;
}

void usage_policy_on_enabled(UsagePolicy *p, int64_t now_us)
{
        const UsagePeriod *l;

        if (p->enabled)
                return;
        p->enabled = true;

        l = latest(p);
        if (!l || policy_time_sub(now_us, l->start_us) >= POLICY_USEC_PER_HOUR)
                push_period(p, (UsagePeriod){.start_us = now_us});
}

/* A re-enable within the hour reused a period that was already closed. Once the enable outlives
 * that hour it is a period of its own; when it began within the hour is unknown, so it is taken
 * to begin at the end of that hour, which predicts the shorter duration (pessimistic). */
static void add_enable_record_if_missing(UsagePolicy *p, int64_t now_us)
{
        const UsagePeriod *l;

        if (!p->enabled)
                return;
        l = latest(p);
        if (l && l->closed && policy_time_sub(now_us, l->start_us) >= POLICY_USEC_PER_HOUR)
                push_period(p,
                            (UsagePeriod){.start_us = policy_time_add(l->start_us, POLICY_USEC_PER_HOUR)});
}

int usage_policy_on_disabled(UsagePolicy *p, int64_t now_us, UsageHistoryRecord *ret_record)
{
        UsagePeriod *l;

        add_enable_record_if_missing(p, now_us);

        if (!p->enabled)
                return 0;
        p->enabled = false;

        l = latest(p);
        if (!l || l->start_us > now_us || l->closed)
                return 0;
        l->duration_us = policy_time_sub(now_us, l->start_us);
        l->closed = true;

        if (ret_record)
                *ret_record = (UsageHistoryRecord){.start_us = l->start_us, .duration_us = l->duration_us};
        return 1;
}

/* The contribution of one period: its part after the projected point, plus that part less one
 * week for as long as it exceeds a week (a period longer than a week covers the same time of
 * week several times). Closed form of that sum, in 128 bits. */
static __int128 week_parts(int64_t part)
{
        __int128 k, d = part, w = POLICY_USEC_PER_WEEK;

        if (part <= POLICY_USEC_PER_WEEK)
                return part;
        /* Terms part - j*week for j = 0..k, where k is the first j with part - j*week <= week. */
        k = (d - 1) / w;
        return (k + 1) * d - w * k * (k + 1) / 2;
}

int64_t usage_policy_predict_duration(UsagePolicy *p, int64_t now_us)
{
        const UsagePeriod *l;
        __int128 sum = 0, r;
        int64_t weeks;

        add_enable_record_if_missing(p, now_us);

        if (p->n == 0)
                return 0;

        /* Truncating division, as base::TimeDelta::IntDiv. */
        weeks = policy_time_sub(now_us, period_at_const(p, 0)->start_us) / POLICY_USEC_PER_WEEK;
        if (weeks > USAGE_HISTORY_WEEKS)
                weeks = USAGE_HISTORY_WEEKS;

        if (weeks <= 0) {
                /* Less than a week of history: twice the latest period (an open one lasts until
                 * now). A history "in the future" (the clock went back) predicts nothing. */
                l = period_at_const(p, p->n - 1);
                r = (__int128)(l->closed ? l->duration_us : policy_time_sub(now_us, l->start_us)) * 2;
                goto finish;
        }

        for (size_t i = 0; i < p->n; i++) {
                const UsagePeriod *q = period_at_const(p, i);
                int64_t duration = q->closed ? q->duration_us : policy_time_sub(now_us, q->start_us);
                int64_t end = policy_time_add(q->start_us, duration);
                int64_t start_weeks_ago = policy_time_sub(now_us, q->start_us) / POLICY_USEC_PER_WEEK;
                int64_t end_weeks_ago = policy_time_sub(now_us, end) / POLICY_USEC_PER_WEEK;

                if (start_weeks_ago > USAGE_HISTORY_WEEKS)
                        start_weeks_ago = USAGE_HISTORY_WEEKS;

                /* Only a period that spans the point "now - N weeks" (the same time of week, N
                 * weeks ago) says how long swap stayed enabled after that point. */
                if (end_weeks_ago < USAGE_HISTORY_WEEKS && start_weeks_ago != end_weeks_ago) {
                        int64_t projected = policy_time_sub(now_us, start_weeks_ago * POLICY_USEC_PER_WEEK);
                        sum += week_parts(policy_time_sub(end, projected));
                }
        }
        r = sum / weeks;

finish:
        if (r < 0)
                return 0;
        return r > INT64_MAX ? INT64_MAX : (int64_t)r;
}

void usage_policy_load(UsagePolicy *p, const UsageHistoryRecord *entries, size_t n, int64_t now_us)
{
        int64_t oldest_end = policy_time_sub(now_us, HISTORY_SPAN_US);

        usage_policy_init(p);
        for (size_t i = 0; i < n; i++) {
                const UsageHistoryRecord *e = &entries[i];

                if (e->is_shutdown || e->duration_us < 0)
                        continue;
                if (policy_time_add(e->start_us, e->duration_us) > oldest_end)
                        push_period(p, (UsagePeriod){
                                               .start_us = e->start_us,
                                               .duration_us = e->duration_us,
                                               .closed = true,
                                       });
        }
}

size_t usage_policy_live_records(const UsagePolicy *p, int64_t now_us,
                                 UsageHistoryRecord out[static USAGE_HISTORY_LENGTH])
{
        int64_t oldest_end = policy_time_sub(now_us, HISTORY_SPAN_US);
        size_t k = 0;

        for (size_t i = 0; i < p->n; i++) {
                const UsagePeriod *q = period_at_const(p, i);

                if (q->closed && policy_time_add(q->start_us, q->duration_us) > oldest_end)
                        out[k++] =
                                (UsageHistoryRecord){.start_us = q->start_us, .duration_us = q->duration_us};
        }
        return k;
}
