/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon-wide vmm-swap TBW budget (reference/concierge.md §3.3): one TbwPolicy shared by every
 * VM, kept in step with its history file <state-dir>/vmm_swap_policy/tbw_history2.
 *
 * Opening follows the daemon flow of history-file.h: load the file; when it was just created,
 * held no byte count, or could not be loaded (corrupt: deleted; unreadable: memory-only), the
 * history is populated pessimistically (28 days at the full budget: swap-outs wait ~1 day), and
 * the file is rewritten with the live records while it is still persistent.
 *
 * The daily target comes from the size of the filesystem holding the state dir (statvfs
 * f_blocks * f_frsize), or from an override (the daemon's --disk-size-bytes); 0 or an unreadable
 * size means unknown (16 GB assumed, 275 MB/day).
 *
 * Does not log: every outcome that deserves one log line is returned (SwapTbwOpenInfo, and the
 * negative return of swap_tbw_record(), which happens at most once per run). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policy/tbw.h"
#include "vmm_backend/macro.h"

#define SWAP_TBW_DIR "vmm_swap_policy"
#define SWAP_TBW_FILE "tbw_history2"

typedef struct SwapTbw SwapTbw;

typedef struct SwapTbwConfig {
        /* The history file goes to <state_dir>/vmm_swap_policy/tbw_history2 (the subdir is
         * created, mode 0700). NULL: memory-only from the start. */
        const char *state_dir;
        /* The disk size for the daily target; 0: statvfs of state_dir (unknown without one). */
        uint64_t disk_size_bytes;
} SwapTbwConfig;

/* What opening did, for the caller's log lines. */
typedef struct SwapTbwOpenInfo {
        /* HISTORY_FILE_LOADED or HISTORY_FILE_CREATED, or the negative errno that made the history
         * memory-only for this run (history_error_is_corruption(): the file was corrupt and has
         * been deleted; -ENOENT-like errors: the dir could not be made or the file opened). */
        int load;
        /* The history was populated pessimistically (new file, no byte count, or load failure). */
        bool pessimistic;
        /* The rewrite after a pessimistic start: 0, HISTORY_FILE_SKIPPED (memory-only), or the
         * negative errno that made the history memory-only. */
        int rewrite;
        /* The disk size used for the target (0: unknown), where it came from, and the statvfs
         * error when it could not be measured. */
        uint64_t disk_size_bytes;
        bool disk_size_overridden;
        int disk_size_error;
        uint64_t target_per_day;
} SwapTbwOpenInfo;

/* Open (or create) the history as of now_us. Fails only on -EINVAL / -ENOMEM; every file problem
 * turns the history memory-only and is reported in *ret_info (may be NULL). */
int swap_tbw_new(const SwapTbwConfig *c, int64_t now_us, SwapTbw **ret, SwapTbwOpenInfo *ret_info);
SwapTbw *swap_tbw_free(SwapTbw *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwapTbw *, swap_tbw_free);

/* `bytes` written to the swap file at now_us: into the policy, then appended to the file (or the
 * file rotated). Returns 0 (written), HISTORY_FILE_SKIPPED (memory-only), or a negative errno:
 * the write failed just now and the history is memory-only from here on (log it; it happens at
 * most once per run). The policy has the bytes in every case. */
int swap_tbw_record(SwapTbw *t, int64_t now_us, uint64_t bytes);

bool swap_tbw_can_swap_out(const SwapTbw *t, int64_t now_us);
void swap_tbw_budget(const SwapTbw *t, int64_t now_us, TbwBudget *ret);
uint64_t swap_tbw_target_per_day(const SwapTbw *t);
/* tbw_duration_target_us() of the target: the usage prediction must reach this. */
int64_t swap_tbw_duration_target_us(const SwapTbw *t);
bool swap_tbw_is_persistent(const SwapTbw *t);
/* The history file's path; NULL without a state dir. */
const char *swap_tbw_path(const SwapTbw *t);
const TbwPolicy *swap_tbw_policy(const SwapTbw *t);

/* Size of the filesystem holding `path` (f_blocks * f_frsize), saturating. */
int swap_fs_size_bytes(const char *path, uint64_t *ret);
/* Free bytes of the filesystem holding `path` for unprivileged users (f_bavail * f_frsize),
 * saturating at INT64_MAX; a negative errno when statvfs fails. */
int64_t swap_fs_free_bytes(const char *path);
