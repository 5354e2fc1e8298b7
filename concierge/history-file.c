/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap history files: load, append, atomic rewrite, memory-only fallback. */
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "concierge/history-file.h"

struct HistoryFile {
        char *path;
        char *tmp_path;
        HistoryKind kind;
        int fd;        /* open on <path> while persistent, else -EBADF */
        uint64_t size; /* bytes in the file */
        bool persistent;
};

int history_file_new(const char *path, HistoryKind kind, HistoryFile **ret)
{
        _cleanup_(history_file_freep) HistoryFile *f = NULL;

        if (!path || !*path || !ret || kind < 0 || kind >= _HISTORY_KIND_MAX)
                return -EINVAL;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->fd = -EBADF;
        f->kind = kind;
        f->path = strdup(path);
        if (!f->path || asprintf(&f->tmp_path, "%s" HISTORY_FILE_TMP_SUFFIX, path) < 0) {
                f->tmp_path = NULL;
                return -ENOMEM;
        }

        *ret = TAKE_PTR(f);
        return 0;
}

HistoryFile *history_file_free(HistoryFile *f)
{
        if (!f)
                return NULL;
        safe_close(f->fd);
        free(f->path);
        free(f->tmp_path);
        free(f);
        return NULL;
}

const char *history_file_path(const HistoryFile *f)
{
        return f ? f->path : NULL;
}

HistoryKind history_file_kind(const HistoryFile *f)
{
        return f ? f->kind : _HISTORY_KIND_INVALID;
}

bool history_file_is_persistent(const HistoryFile *f)
{
        return f && f->persistent;
}

uint64_t history_file_size(const HistoryFile *f)
{
        return f ? f->size : 0;
}

bool history_file_needs_rotation(const HistoryFile *f)
{
        return f && f->persistent && history_needs_rotation(f->kind, f->size);
}

/* Stop persisting: close, and delete the file when asked (a corrupt or half-written file must
 * not be trusted by the next run; a path that is not our file is left alone). Forwards r. */
static int go_memory_only(HistoryFile *f, bool delete_file, int r)
{
        f->fd = safe_close(f->fd);
        f->persistent = false;
        f->size = 0;
        if (delete_file)
                (void)unlink(f->path);
        return r;
}

static int fsync_parent_dir(const char *path)
{
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int dfd = -EBADF;

        if (!copy)
                return -ENOMEM;
        dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        /* Some filesystems cannot sync a directory; the rename itself is still atomic there. */
        if (fsync(dfd) < 0 && errno != EINVAL)
                return negative_errno();
        return 0;
}

static int write_all_at(int fd, const uint8_t *data, size_t n, uint64_t offset)
{
        while (n > 0) {
                ssize_t k = pwrite(fd, data, n, (off_t)offset);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                data += k;
                n -= (size_t)k;
                offset += (uint64_t)k;
        }
        return 0;
}

/* Read the whole file, at most max bytes: a longer file is HISTORY_ERR_TOO_BIG. */
static int read_bounded(int fd, size_t max, uint8_t **ret_data, size_t *ret_size)
{
        _cleanup_free_ uint8_t *buf = malloc(max + 1);
        size_t used = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = pread(fd, buf + used, max + 1 - used, (off_t)used);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                used += (size_t)k;
                if (used > max)
                        return HISTORY_ERR_TOO_BIG;
        }

        *ret_data = TAKE_PTR(buf);
        *ret_size = used;
        return 0;
}

/* Open or create <path>. Answers HISTORY_FILE_CREATED (empty file), or HISTORY_FILE_LOADED with
 * the file's bytes. Memory-only on failure. */
static int load_bytes(HistoryFile *f, uint8_t **ret_data, size_t *ret_size)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (f->fd >= 0)
                return -EALREADY;

        /* A leftover .tmp is a rotation that never reached its rename: <path> is still the whole
         * old file (or, if the rename happened, the whole new one); the .tmp is never loaded. */
        (void)unlink(f->tmp_path);

        fd = open(f->path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
                f->fd = TAKE_FD(fd);
                f->size = 0;
                f->persistent = true;
                *ret_data = NULL;
                *ret_size = 0;
                return HISTORY_FILE_CREATED;
        }
        if (errno != EEXIST)
                return go_memory_only(f, false, negative_errno());

        /* O_NONBLOCK: never hang on a FIFO someone left at the path. */
        fd = open(f->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return go_memory_only(f, false, negative_errno());
        if (fstat(fd, &st) < 0)
                return go_memory_only(f, false, negative_errno());
        if (!S_ISREG(st.st_mode))
                return go_memory_only(f, false, -EBADFD);

        r = read_bounded(fd, history_max_file_size(f->kind), ret_data, ret_size);
        if (r < 0)
                return go_memory_only(f, r != -ENOMEM, r);

        f->fd = TAKE_FD(fd);
        f->size = *ret_size;
        f->persistent = true;
        return HISTORY_FILE_LOADED;
}

int history_file_load_tbw(HistoryFile *f, int64_t now_us, TbwHistoryRecord **ret_entries, size_t *ret_n)
{
        _cleanup_free_ uint8_t *data = NULL;
        TbwHistoryRecord *entries = NULL;
        size_t size = 0, n = 0;
        int r, outcome;

        if (!f || f->kind != HISTORY_KIND_TBW || !ret_entries || !ret_n)
                return -EINVAL;

        outcome = load_bytes(f, &data, &size);
        if (outcome < 0)
                return outcome;
        r = tbw_history_decode(data, size, now_us, &entries, &n);
        if (r < 0)
                return go_memory_only(f, r != -ENOMEM, r);

        *ret_entries = entries;
        *ret_n = n;
        return outcome;
}

int history_file_load_usage(HistoryFile *f, int64_t now_us, UsageHistoryRecord **ret_entries, size_t *ret_n)
{
        _cleanup_free_ uint8_t *data = NULL;
        UsageHistoryRecord *entries = NULL;
        size_t size = 0, n = 0;
        int r, outcome;

        if (!f || f->kind != HISTORY_KIND_USAGE || !ret_entries || !ret_n)
                return -EINVAL;

        outcome = load_bytes(f, &data, &size);
        if (outcome < 0)
                return outcome;
        r = usage_history_decode(data, size, now_us, &entries, &n);
        if (r < 0)
                return go_memory_only(f, r != -ENOMEM, r);

        *ret_entries = entries;
        *ret_n = n;
        return outcome;
}

static int append_bytes(HistoryFile *f, const uint8_t *data, size_t n)
{
        int r;

        if (!f->persistent)
                return HISTORY_FILE_SKIPPED;
        if (f->size + n > history_max_file_size(f->kind))
                return go_memory_only(f, true, -EFBIG);

        r = write_all_at(f->fd, data, n, f->size);
        if (r >= 0 && fsync(f->fd) < 0)
                r = negative_errno();
        if (r < 0)
                return go_memory_only(f, true, r);

        f->size += n;
        return 0;
}

int history_file_append_tbw(HistoryFile *f, const TbwHistoryRecord *e)
{
        uint8_t buf[HISTORY_ENTRY_BUF_SIZE];
        size_t n;
        int r;

        if (!f || f->kind != HISTORY_KIND_TBW || !e)
                return -EINVAL;
        r = tbw_history_encode_entry(e, buf, sizeof(buf), &n);
        if (r < 0)
                return r;
        return append_bytes(f, buf, n);
}

int history_file_append_usage(HistoryFile *f, const UsageHistoryRecord *e)
{
        uint8_t buf[HISTORY_ENTRY_BUF_SIZE];
        size_t n;
        int r;

        if (!f || f->kind != HISTORY_KIND_USAGE || !e)
                return -EINVAL;
        r = usage_history_encode_entry(e, buf, sizeof(buf), &n);
        if (r < 0)
                return r;
        return append_bytes(f, buf, n);
}

/* <path>.tmp, fsync, rename, fsync(dir); the new file's fd replaces the old one. */
static int rewrite_bytes(HistoryFile *f, const uint8_t *data, size_t n)
{
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!f->persistent)
                return HISTORY_FILE_SKIPPED;
        if (n > history_max_file_size(f->kind))
                return go_memory_only(f, true, -EFBIG);

        fd = open(f->tmp_path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return go_memory_only(f, true, negative_errno());

        r = write_all_at(fd, data, n, 0);
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && rename(f->tmp_path, f->path) < 0)
                r = negative_errno();
        if (r < 0) {
                (void)unlink(f->tmp_path);
                return go_memory_only(f, true, r);
        }
        r = fsync_parent_dir(f->path);
        if (r < 0)
                return go_memory_only(f, true, r);

        safe_close(f->fd);
        f->fd = TAKE_FD(fd);
        f->size = n;
        return 0;
}

int history_file_rewrite_tbw(HistoryFile *f, const TbwHistoryRecord *e, size_t n)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        if (!f || f->kind != HISTORY_KIND_TBW || (n > 0 && !e))
                return -EINVAL;
        if (!f->persistent)
                return HISTORY_FILE_SKIPPED;
        r = tbw_history_encode(e, n, &data, &size);
        if (r < 0)
                return go_memory_only(f, true, r);
        return rewrite_bytes(f, data, size);
}

int history_file_rewrite_usage(HistoryFile *f, const UsageHistoryRecord *e, size_t n)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        if (!f || f->kind != HISTORY_KIND_USAGE || (n > 0 && !e))
                return -EINVAL;
        if (!f->persistent)
                return HISTORY_FILE_SKIPPED;
        r = usage_history_encode(e, n, &data, &size);
        if (r < 0)
                return go_memory_only(f, true, r);
        return rewrite_bytes(f, data, size);
}

int history_file_record_tbw(HistoryFile *f, const TbwPolicy *p, int64_t now_us, const TbwHistoryRecord *e)
{
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        size_t n;

        if (!f || f->kind != HISTORY_KIND_TBW || !p || !e)
                return -EINVAL;
        if (!f->persistent)
                return HISTORY_FILE_SKIPPED;
        if (!history_needs_rotation(f->kind, f->size))
                return history_file_append_tbw(f, e);

        n = tbw_policy_live_records(p, now_us, live);
        return history_file_rewrite_tbw(f, live, n);
}

int history_file_record_usage(HistoryFile *f, const UsagePolicy *p, int64_t now_us,
                              const UsageHistoryRecord *e)
{
        _cleanup_free_ UsageHistoryRecord *live = NULL;
        size_t n;

        if (!f || f->kind != HISTORY_KIND_USAGE || !p || !e)
                return -EINVAL;
        if (!f->persistent)
                return HISTORY_FILE_SKIPPED;
        if (!history_needs_rotation(f->kind, f->size))
                return history_file_append_usage(f, e);

        live = calloc(USAGE_HISTORY_LENGTH, sizeof(*live));
        if (!live)
                return go_memory_only(f, true, -ENOMEM);
        n = usage_policy_live_records(p, now_us, live);
        return history_file_rewrite_usage(f, live, n);
}
