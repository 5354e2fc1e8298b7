/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-swap history file codec: single-entry containers in, merged container out. */
#include <stdlib.h>
#include <string.h>

#include "policy/history-codec.h"
#include "proto/vmm_swap_policy.pb-c.h"
#include "vmm_backend/macro.h"

typedef VmTools__Concierge__TbwHistoryEntry PbTbwEntry;
typedef VmTools__Concierge__TbwHistoryEntryContainer PbTbwContainer;
typedef VmTools__Concierge__UsageHistoryEntry PbUsageEntry;
typedef VmTools__Concierge__UsageHistoryEntryContainer PbUsageContainer;

static const char *const history_kind_table[_HISTORY_KIND_MAX] = {
        [HISTORY_KIND_TBW] = "tbw",
        [HISTORY_KIND_USAGE] = "usage",
};

const char *history_kind_to_string(HistoryKind k)
{
        if (k < 0 || k >= _HISTORY_KIND_MAX)
                return NULL;
        return history_kind_table[k];
}

HistoryKind history_kind_from_string(const char *s)
{
        if (!s)
                return _HISTORY_KIND_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(history_kind_table); i++)
                if (streq(history_kind_table[i], s))
                        return (HistoryKind)i;
        return _HISTORY_KIND_INVALID;
}

int64_t history_time_to_windows_us(int64_t unix_us)
{
        int64_t r;

        if (__builtin_add_overflow(unix_us, HISTORY_WINDOWS_EPOCH_OFFSET_US, &r))
                return INT64_MAX; /* only positive overflow is possible: the offset is positive */
        return r;
}

int64_t history_time_from_windows_us(int64_t windows_us)
{
        int64_t r;

        if (__builtin_sub_overflow(windows_us, HISTORY_WINDOWS_EPOCH_OFFSET_US, &r))
                return INT64_MIN;
        return r;
}

size_t history_max_file_size(HistoryKind kind)
{
        return kind == HISTORY_KIND_USAGE ? USAGE_HISTORY_MAX_FILE_SIZE : TBW_HISTORY_MAX_FILE_SIZE;
}

size_t history_max_entry_size(HistoryKind kind)
{
        return kind == HISTORY_KIND_USAGE ? USAGE_HISTORY_MAX_ENTRY_SIZE : TBW_HISTORY_MAX_ENTRY_SIZE;
}

bool history_needs_rotation(HistoryKind kind, uint64_t file_size)
{
        return file_size >= history_max_file_size(kind) - history_max_entry_size(kind);
}

bool history_error_is_corruption(int r)
{
        return history_error_to_string(r) != NULL;
}

const char *history_error_to_string(int r)
{
        switch (r) {
        case HISTORY_ERR_TOO_BIG:
                return "file is larger than its maximum size";
        case HISTORY_ERR_PARSE:
                return "file does not parse as a history container";
        case HISTORY_ERR_SIZE_MISMATCH:
                return "re-encoded history differs in size from the file";
        case HISTORY_ERR_FUTURE_TIME:
                return "entry time is in the future";
        case HISTORY_ERR_DECREASING_TIME:
                return "entry times are not in non-decreasing order";
        case HISTORY_ERR_NEGATIVE_DURATION:
                return "entry has a negative duration";
        default:
                return NULL;
        }
}

/* --- encoding ---------------------------------------------------------------------------------- */

int tbw_history_encode_entry(const TbwHistoryRecord *e, uint8_t *buf, size_t buf_size, size_t *ret_size)
{
        PbTbwEntry entry = VM_TOOLS__CONCIERGE__TBW_HISTORY_ENTRY__INIT;
        PbTbwEntry *list[1] = {&entry};
        PbTbwContainer c = VM_TOOLS__CONCIERGE__TBW_HISTORY_ENTRY_CONTAINER__INIT;
        size_t n;

        if (!e || !buf || !ret_size)
                return -EINVAL;

        entry.time_us = history_time_to_windows_us(e->time_us);
        entry.size = e->size;
        entry.reported_fence = e->reported_fence;
        c.n_entries = 1;
        c.entries = list;

        n = vm_tools__concierge__tbw_history_entry_container__get_packed_size(&c);
        if (n > buf_size)
                return -ENOBUFS;
        *ret_size = vm_tools__concierge__tbw_history_entry_container__pack(&c, buf);
        return 0;
}

int usage_history_encode_entry(const UsageHistoryRecord *e, uint8_t *buf, size_t buf_size, size_t *ret_size)
{
        PbUsageEntry entry = VM_TOOLS__CONCIERGE__USAGE_HISTORY_ENTRY__INIT;
        PbUsageEntry *list[1] = {&entry};
        PbUsageContainer c = VM_TOOLS__CONCIERGE__USAGE_HISTORY_ENTRY_CONTAINER__INIT;
        size_t n;

        if (!e || !buf || !ret_size)
                return -EINVAL;

        entry.start_time_us = history_time_to_windows_us(e->start_us);
        entry.duration_us = e->duration_us;
        entry.is_shutdown = e->is_shutdown;
        c.n_entries = 1;
        c.entries = list;

        n = vm_tools__concierge__usage_history_entry_container__get_packed_size(&c);
        if (n > buf_size)
                return -ENOBUFS;
        *ret_size = vm_tools__concierge__usage_history_entry_container__pack(&c, buf);
        return 0;
}

/* Concatenate the encodings of n entries; `encode` is one of the *_encode_entry functions. */
static int encode_all(const void *entries, size_t entry_size, size_t n,
                      int (*encode)(const void *e, uint8_t *buf, size_t buf_size, size_t *ret_size),
                      uint8_t **ret_data, size_t *ret_size)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t used = 0;

        if (!ret_data || !ret_size || (n > 0 && !entries))
                return -EINVAL;
        if (n > SIZE_MAX / HISTORY_ENTRY_BUF_SIZE)
                return -ENOMEM;

        if (n > 0) {
                data = malloc(n * HISTORY_ENTRY_BUF_SIZE);
                if (!data)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                size_t k;
                int r = encode((const uint8_t *)entries + i * entry_size, data + used,
                               HISTORY_ENTRY_BUF_SIZE, &k);
                if (r < 0)
                        return r;
                used += k;
        }

        *ret_data = TAKE_PTR(data);
        *ret_size = used;
        return 0;
}

static int tbw_encode_entry_void(const void *e, uint8_t *buf, size_t buf_size, size_t *ret_size)
{
        return tbw_history_encode_entry(e, buf, buf_size, ret_size);
}

static int usage_encode_entry_void(const void *e, uint8_t *buf, size_t buf_size, size_t *ret_size)
{
        return usage_history_encode_entry(e, buf, buf_size, ret_size);
}

int tbw_history_encode(const TbwHistoryRecord *e, size_t n, uint8_t **ret_data, size_t *ret_size)
{
        return encode_all(e, sizeof(*e), n, tbw_encode_entry_void, ret_data, ret_size);
}

int usage_history_encode(const UsageHistoryRecord *e, size_t n, uint8_t **ret_data, size_t *ret_size)
{
        return encode_all(e, sizeof(*e), n, usage_encode_entry_void, ret_data, ret_size);
}

/* --- decoding ---------------------------------------------------------------------------------- */

/* The ordering rules shared by both kinds. `previous` starts at the Windows epoch itself, so
 * an entry before 1601 is out of order too (as concierge, whose "previous" starts at a null
 * base::Time). Times are compared on the Windows scale, which is the file's. */
static int check_time(int64_t windows_us, int64_t now_windows_us, int64_t *previous)
{
        if (windows_us > now_windows_us)
                return HISTORY_ERR_FUTURE_TIME;
        if (windows_us < *previous)
                return HISTORY_ERR_DECREASING_TIME;
        *previous = windows_us;
        return 0;
}

/* The part of decoding both files share (§3.3): the size bound, the parse, and the re-encoded size
 * (a concatenation of single-entry containers re-encodes to exactly its own length). An empty
 * file is an empty history: *ret is NULL then. */
static int unpack_container(const ProtobufCMessageDescriptor *desc, size_t max_size, const uint8_t *data,
                            size_t size, ProtobufCMessage **ret)
{
        ProtobufCMessage *m;

        *ret = NULL;
        if (size > max_size)
                return HISTORY_ERR_TOO_BIG;
        if (size == 0)
                return 0;
        m = protobuf_c_message_unpack(desc, NULL, size, data);
        if (!m)
                return HISTORY_ERR_PARSE;
        if (protobuf_c_message_get_packed_size(m) != size) {
                protobuf_c_message_free_unpacked(m, NULL);
                return HISTORY_ERR_SIZE_MISMATCH;
        }
        *ret = m;
        return 0;
}

int tbw_history_decode(const uint8_t *data, size_t size, int64_t now_us, TbwHistoryRecord **ret_entries,
                       size_t *ret_n)
{
        _cleanup_free_ TbwHistoryRecord *out = NULL;
        PbTbwContainer *c;
        int64_t now_w = history_time_to_windows_us(now_us), previous = 0;
        int r = 0;

        if ((!data && size > 0) || !ret_entries || !ret_n)
                return -EINVAL;
        r = unpack_container(&vm_tools__concierge__tbw_history_entry_container__descriptor,
                             TBW_HISTORY_MAX_FILE_SIZE, data, size, (ProtobufCMessage **)&c);
        if (r < 0)
                return r;
        if (!c) {
                *ret_entries = NULL;
                *ret_n = 0;
                return 0;
        }

        if (c->n_entries > 0) {
                out = calloc(c->n_entries, sizeof(*out));
                if (!out) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        for (size_t i = 0; i < c->n_entries; i++) {
                const PbTbwEntry *e = c->entries[i];

                r = check_time(e->time_us, now_w, &previous);
                if (r < 0)
                        goto finish;
                out[i] = (TbwHistoryRecord){
                        .time_us = history_time_from_windows_us(e->time_us),
                        .size = e->size,
                        .reported_fence = e->reported_fence,
                };
        }

        *ret_n = c->n_entries;
        *ret_entries = TAKE_PTR(out);
finish:
        vm_tools__concierge__tbw_history_entry_container__free_unpacked(c, NULL);
        return r;
}

int usage_history_decode(const uint8_t *data, size_t size, int64_t now_us, UsageHistoryRecord **ret_entries,
                         size_t *ret_n)
{
        _cleanup_free_ UsageHistoryRecord *out = NULL;
        PbUsageContainer *c;
        int64_t now_w = history_time_to_windows_us(now_us), previous = 0;
        int r = 0;

        if ((!data && size > 0) || !ret_entries || !ret_n)
                return -EINVAL;
        r = unpack_container(&vm_tools__concierge__usage_history_entry_container__descriptor,
                             USAGE_HISTORY_MAX_FILE_SIZE, data, size, (ProtobufCMessage **)&c);
        if (r < 0)
                return r;
        if (!c) {
                *ret_entries = NULL;
                *ret_n = 0;
                return 0;
        }

        if (c->n_entries > 0) {
                out = calloc(c->n_entries, sizeof(*out));
                if (!out) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        for (size_t i = 0; i < c->n_entries; i++) {
                const PbUsageEntry *e = c->entries[i];
                int64_t end;

                r = check_time(e->start_time_us, now_w, &previous);
                if (r < 0)
                        goto finish;
                /* Shutdown markers carry no duration and are ignored by the policy; a period's
                 * duration must be >= 0 and it must have ended by now. */
                if (!e->is_shutdown) {
                        if (e->duration_us < 0) {
                                r = HISTORY_ERR_NEGATIVE_DURATION;
                                goto finish;
                        }
                        if (__builtin_add_overflow(e->start_time_us, e->duration_us, &end) || end > now_w) {
                                r = HISTORY_ERR_FUTURE_TIME;
                                goto finish;
                        }
                }
                out[i] = (UsageHistoryRecord){
                        .start_us = history_time_from_windows_us(e->start_time_us),
                        .duration_us = e->duration_us,
                        .is_shutdown = e->is_shutdown,
                };
        }

        *ret_n = c->n_entries;
        *ret_entries = TAKE_PTR(out);
finish:
        vm_tools__concierge__usage_history_entry_container__free_unpacked(c, NULL);
        return r;
}
