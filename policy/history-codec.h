/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-swap history file codec (reference/concierge.md §3.3, §3.5): bytes in, bytes out.
 *
 * A history file is a concatenation of serialized containers (proto/vmm_swap_policy.proto), each
 * holding exactly one entry, so appending one entry is appending one encoded container and the
 * whole file decodes as one container. Entry times on disk are microseconds since the Windows
 * epoch (1601-01-01 00:00 UTC); the records below carry Unix microseconds (the daemon's
 * CLOCK_REALTIME), converted here.
 *
 * Decoding a file applies every corruption rule of §3.3/§3.5 and answers a distinct negative
 * errno per rule (HISTORY_ERR_*), so that the caller can delete the file, log why and fall back
 * (pessimistic TBW history, empty usage history). No I/O, no logging, no clock. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1601-01-01 to 1970-01-01: 369 years with 89 leap days = 134774 days. */
#define HISTORY_WINDOWS_EPOCH_OFFSET_US (INT64_C(11644473600) * INT64_C(1000000))

/* File size limits and the largest single-entry container each file holds (§3.3, §3.5).
 * Before a write, a file of at least max - entry bytes is rotated (rewritten with the live
 * entries), so a file never outgrows its max. */
#define TBW_HISTORY_MAX_FILE_SIZE 4096
#define TBW_HISTORY_MAX_ENTRY_SIZE 24
#define USAGE_HISTORY_MAX_FILE_SIZE (5 * 4096)
#define USAGE_HISTORY_MAX_ENTRY_SIZE 26

/* Large enough for any single-entry container of either kind (three 10-byte varints + tags). */
#define HISTORY_ENTRY_BUF_SIZE 64

/* Corruption rules -> distinct negative errnos (-ENOMEM stays an allocation failure). */
#define HISTORY_ERR_TOO_BIG (-EFBIG)          /* file larger than the kind's max */
#define HISTORY_ERR_PARSE (-EBADMSG)          /* not a container */
#define HISTORY_ERR_SIZE_MISMATCH (-EPROTO)   /* re-encoded size differs from the file's */
#define HISTORY_ERR_FUTURE_TIME (-ERANGE)     /* an entry after `now` */
#define HISTORY_ERR_DECREASING_TIME (-EILSEQ) /* times not non-decreasing (or before 1601) */
#define HISTORY_ERR_NEGATIVE_DURATION (-EDOM) /* usage period with a negative duration */

typedef enum HistoryKind {
        HISTORY_KIND_TBW,
        HISTORY_KIND_USAGE,
        _HISTORY_KIND_MAX,
        _HISTORY_KIND_INVALID = -EINVAL,
} HistoryKind;

const char *history_kind_to_string(HistoryKind k);
HistoryKind history_kind_from_string(const char *s);

/* One TbwHistoryEntry: `size` bytes written at `time_us`, or (reported_fence) the mark that
 * everything before `time_us` went into the weekly TBW report. */
typedef struct TbwHistoryRecord {
        int64_t time_us;
        uint64_t size;
        bool reported_fence;
} TbwHistoryRecord;

/* One UsageHistoryEntry: vmm-swap stayed enabled from start_us for duration_us. */
typedef struct UsageHistoryRecord {
        int64_t start_us;
        int64_t duration_us;
        bool is_shutdown;
} UsageHistoryRecord;

/* Unix µs <-> Windows-epoch µs; saturating at the int64 range. */
int64_t history_time_to_windows_us(int64_t unix_us);
int64_t history_time_from_windows_us(int64_t windows_us);

size_t history_max_file_size(HistoryKind kind);
size_t history_max_entry_size(HistoryKind kind);

/* Whether a file of `file_size` bytes must be rotated before the next append. */
bool history_needs_rotation(HistoryKind kind, uint64_t file_size);

/* True for the HISTORY_ERR_* codes (the file is corrupt), false for anything else. */
bool history_error_is_corruption(int r);
/* A short English reason for a HISTORY_ERR_* code, NULL for others. */
const char *history_error_to_string(int r);

/* Encode one entry as one single-entry container into buf; answers the byte count.
 * -ENOBUFS when buf_size is too small. */
int tbw_history_encode_entry(const TbwHistoryRecord *e, uint8_t *buf, size_t buf_size, size_t *ret_size);
int usage_history_encode_entry(const UsageHistoryRecord *e, uint8_t *buf, size_t buf_size, size_t *ret_size);

/* Encode a whole file (n single-entry containers) into a new buffer (for rotation). An empty
 * list gives a NULL buffer of size 0. */
int tbw_history_encode(const TbwHistoryRecord *e, size_t n, uint8_t **ret_data, size_t *ret_size);
int usage_history_encode(const UsageHistoryRecord *e, size_t n, uint8_t **ret_data, size_t *ret_size);

/* Decode a whole file as of `now_us` (Unix µs). On success *ret_entries (malloc'd, NULL when
 * empty) and *ret_n hold every entry in file order; a 0-byte file is a valid empty history.
 * Otherwise a HISTORY_ERR_* code (or -ENOMEM) and nothing is returned.
 * Usage files: a period whose end (start + duration) is after `now` has a future time too. */
int tbw_history_decode(const uint8_t *data, size_t size, int64_t now_us, TbwHistoryRecord **ret_entries,
                       size_t *ret_n);
int usage_history_decode(const uint8_t *data, size_t size, int64_t now_us, UsageHistoryRecord **ret_entries,
                         size_t *ret_n);
