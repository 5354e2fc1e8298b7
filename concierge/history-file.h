/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-swap history files on disk (reference/concierge.md §3.3, §3.5; DESIGN §6): the I/O
 * around policy/history-codec.h, for the daemon's swap controller.
 *
 * One HistoryFile per file: the TBW history of the daemon, or the usage history of a VM.
 *   load     removes a leftover `<path>.tmp` (a rotation that never reached its rename: the file
 *            at <path> is then the complete old one), creates <path> if missing
 *            (O_CREAT|O_EXCL, 0600), else reads it whole (bounded by the kind's max size) and
 *            decodes it. A corrupt file is deleted and the caller falls back (pessimistic TBW
 *            history, empty usage history).
 *   append   one encoded entry at the end of the file, then fsync.
 *   rewrite  the whole history into `<path>.tmp`, fsync, rename over <path>, fsync of the
 *            directory: a crash leaves either the old or the new file, never a mix. Rotation
 *            (the file reached max - entry bytes) and the initial pessimistic TBW history use it.
 * After any failure the file is deleted and the HistoryFile turns memory-only for the rest of
 * the run: later writes are skipped. The policies keep working from memory.
 *
 * Return values: 0 or a positive outcome below, or a negative errno; never logs. A negative
 * return from load/append/rewrite/record always means "the history is memory-only from now on"
 * and is the caller's cue to log one warning (history_error_to_string() names corruption). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/history-codec.h"
#include "policy/tbw.h"
#include "policy/usage.h"
#include "vmm_backend/macro.h"

#define HISTORY_FILE_TMP_SUFFIX ".tmp"

/* Positive outcomes. */
enum {
        HISTORY_FILE_LOADED = 0,  /* load: an existing file was read and decoded */
        HISTORY_FILE_CREATED = 1, /* load: there was no file; an empty one was created */
        HISTORY_FILE_SKIPPED = 2, /* append/rewrite/record: memory-only, nothing written */
};

typedef struct HistoryFile HistoryFile;

/* A handle on <path> for `kind`; no I/O until load. Memory-only until loaded. */
int history_file_new(const char *path, HistoryKind kind, HistoryFile **ret);
HistoryFile *history_file_free(HistoryFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(HistoryFile *, history_file_free);

const char *history_file_path(const HistoryFile *f);
HistoryKind history_file_kind(const HistoryFile *f);
/* Whether writes still reach the disk. */
bool history_file_is_persistent(const HistoryFile *f);
/* Bytes in the file as this handle wrote or read them. */
uint64_t history_file_size(const HistoryFile *f);
/* Whether the next write must be a rewrite (the file reached max - max entry bytes). */
bool history_file_needs_rotation(const HistoryFile *f);

/* Open or create the file and decode it as of now_us. Answers HISTORY_FILE_LOADED with the
 * entries (*ret_entries malloc'd, NULL when there are none) or HISTORY_FILE_CREATED with none.
 * On a HISTORY_ERR_* corruption the file is deleted; on that or any other failure (a path that
 * is not a regular file, an I/O error) the handle turns memory-only. Only the kind's own typed
 * function may be used (-EINVAL otherwise). */
int history_file_load_tbw(HistoryFile *f, int64_t now_us, TbwHistoryRecord **ret_entries, size_t *ret_n);
int history_file_load_usage(HistoryFile *f, int64_t now_us, UsageHistoryRecord **ret_entries, size_t *ret_n);

/* Append one entry (write + fsync). 0, HISTORY_FILE_SKIPPED, or the failure (memory-only now). */
int history_file_append_tbw(HistoryFile *f, const TbwHistoryRecord *e);
int history_file_append_usage(HistoryFile *f, const UsageHistoryRecord *e);

/* Replace the file by exactly these entries, atomically. 0, HISTORY_FILE_SKIPPED, or the
 * failure (memory-only now; -EFBIG when they do not fit the kind's max size). */
int history_file_rewrite_tbw(HistoryFile *f, const TbwHistoryRecord *e, size_t n);
int history_file_rewrite_usage(HistoryFile *f, const UsageHistoryRecord *e, size_t n);

/* The swap controller's write path, after the policy has taken the entry in
 * (tbw_policy_record / usage_policy_on_disabled): append `e`, or when the file is due for
 * rotation, rewrite it with the policy's live records at now_us (which already hold `e`). */
int history_file_record_tbw(HistoryFile *f, const TbwPolicy *p, int64_t now_us, const TbwHistoryRecord *e);
int history_file_record_usage(HistoryFile *f, const UsagePolicy *p, int64_t now_us,
                              const UsageHistoryRecord *e);
