/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon-wide vmm-swap TBW budget and its history file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "concierge/history-file.h"
#include "concierge/swap-tbw.h"

struct SwapTbw {
        TbwPolicy policy;
        HistoryFile *file; /* NULL without a state dir */
};

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
        uint64_t r;

        return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

int swap_fs_size_bytes(const char *path, uint64_t *ret)
{
        struct statvfs sv;

        if (!path || !ret)
                return -EINVAL;
        if (statvfs(path, &sv) < 0)
                return negative_errno();
        *ret = sat_mul((uint64_t)sv.f_blocks, (uint64_t)sv.f_frsize);
        return 0;
}

int64_t swap_fs_free_bytes(const char *path)
{
        struct statvfs sv;
        uint64_t n;

        if (!path)
                return -EINVAL;
        if (statvfs(path, &sv) < 0)
                return negative_errno();
        n = sat_mul((uint64_t)sv.f_bavail, (uint64_t)sv.f_frsize);
        return n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* Load the file into the policy; answers the load outcome (HISTORY_FILE_LOADED/CREATED or the
 * negative errno) and whether the policy needs a pessimistic start. */
static int load_history(SwapTbw *t, int64_t now_us, bool *ret_pessimistic)
{
        _cleanup_free_ TbwHistoryRecord *entries = NULL;
        size_t n = 0;
        int r;

        r = history_file_load_tbw(t->file, now_us, &entries, &n);
        if (r < 0) {
                if (r == -ENOMEM)
                        /* A load that could not even allocate: never trust the file, keep it. */
                        return r;
                *ret_pessimistic = true;
                return r;
        }
        /* tbw_policy_load() installs the pessimistic history itself when there is no byte count
         * (which includes the empty file just created). */
        *ret_pessimistic = tbw_policy_load(&t->policy, entries, n, now_us) == 1 || r == HISTORY_FILE_CREATED;
        return r;
}

int swap_tbw_new(const SwapTbwConfig *c, int64_t now_us, SwapTbw **ret, SwapTbwOpenInfo *ret_info)
{
        _cleanup_(swap_tbw_freep) SwapTbw *t = NULL;
        _cleanup_free_ char *dir = NULL, *path = NULL;
        SwapTbwOpenInfo info = {.load = -ENOENT, .rewrite = HISTORY_FILE_SKIPPED};
        bool pessimistic = true;
        int r;

        if (!c || !ret)
                return -EINVAL;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;

        if (c->disk_size_bytes > 0) {
                info.disk_size_bytes = c->disk_size_bytes;
                info.disk_size_overridden = true;
        } else if (c->state_dir) {
                r = swap_fs_size_bytes(c->state_dir, &info.disk_size_bytes);
                if (r < 0) {
                        info.disk_size_error = r;
                        info.disk_size_bytes = 0;
                }
        }
        info.target_per_day = tbw_target_per_day(info.disk_size_bytes);
        tbw_policy_init(&t->policy, info.target_per_day);

        if (c->state_dir) {
                if (asprintf(&dir, "%s/" SWAP_TBW_DIR, c->state_dir) < 0) {
                        dir = NULL;
                        return -ENOMEM;
                }
                if (asprintf(&path, "%s/" SWAP_TBW_FILE, dir) < 0) {
                        path = NULL;
                        return -ENOMEM;
                }
                r = history_file_new(path, HISTORY_KIND_TBW, &t->file);
                if (r < 0)
                        return r;

                if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                        /* The handle stays memory-only: it is never loaded. */
                        info.load = negative_errno();
                else {
                        info.load = load_history(t, now_us, &pessimistic);
                        if (info.load == -ENOMEM)
                                return -ENOMEM;
                }
        }

        info.pessimistic = pessimistic;
        if (pessimistic) {
                /* tbw_policy_load() may have done it already; doing it again at the same now_us
                 * gives the same history and covers the load failures. */
                TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
                size_t n;

                tbw_policy_populate_pessimistic(&t->policy, now_us);
                if (history_file_is_persistent(t->file)) {
                        n = tbw_policy_live_records(&t->policy, now_us, live);
                        info.rewrite = history_file_rewrite_tbw(t->file, live, n);
                }
        }

        if (ret_info)
                *ret_info = info;
        *ret = TAKE_PTR(t);
        return 0;
}

SwapTbw *swap_tbw_free(SwapTbw *t)
{
        if (!t)
                return NULL;
        history_file_free(t->file);
        free(t);
        return NULL;
}

int swap_tbw_record(SwapTbw *t, int64_t now_us, uint64_t bytes)
{
        TbwHistoryRecord e = {.time_us = now_us, .size = bytes};

        if (!t)
                return -EINVAL;
        tbw_policy_record(&t->policy, now_us, bytes);
        if (!history_file_is_persistent(t->file))
                return HISTORY_FILE_SKIPPED;
        return history_file_record_tbw(t->file, &t->policy, now_us, &e);
}

bool swap_tbw_can_swap_out(const SwapTbw *t, int64_t now_us)
{
        return t && tbw_policy_can_swap_out(&t->policy, now_us);
}

void swap_tbw_budget(const SwapTbw *t, int64_t now_us, TbwBudget *ret)
{
        if (!ret)
                return;
        if (!t) {
                *ret = (TbwBudget){};
                return;
        }
        tbw_policy_budget(&t->policy, now_us, ret);
}

uint64_t swap_tbw_target_per_day(const SwapTbw *t)
{
        return t ? t->policy.target_per_day : 0;
}

int64_t swap_tbw_duration_target_us(const SwapTbw *t)
{
        return tbw_duration_target_us(swap_tbw_target_per_day(t));
}

bool swap_tbw_is_persistent(const SwapTbw *t)
{
        return t && history_file_is_persistent(t->file);
}

const char *swap_tbw_path(const SwapTbw *t)
{
        return t ? history_file_path(t->file) : NULL;
}

const TbwPolicy *swap_tbw_policy(const SwapTbw *t)
{
        return t ? &t->policy : NULL;
}
