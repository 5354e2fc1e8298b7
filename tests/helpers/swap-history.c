/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* swap-history: write and check vmm-swap history files for the daemon's integration tests, with
 * the project's own codec (policy/history-codec.h), so a test can seed a TBW budget or a usage
 * history and decode what the daemon left behind.
 *
 *   swap-history write-tbw FILE [AGO_S:BYTES...]        one TbwHistoryEntry per pair, written
 *                                                       AGO_S seconds before now (give them oldest
 *                                                       first); no pairs: an empty file
 *   swap-history write-usage FILE [AGO_S:DURATION_S...] one UsageHistoryEntry per pair: enabled
 *                                                       AGO_S seconds ago for DURATION_S seconds
 *   swap-history show-tbw FILE / show-usage FILE        decode as of now: "entries N" then one
 *                                                       line per entry (ago_s, bytes / duration_s);
 *                                                       a file the daemon would reject prints
 *                                                       "corrupt: REASON" and exits 3
 *
 * Files are written whole (tmp + rename) so the daemon never sees half of one. Exit: 0 ok, 1 I/O
 * error, 2 usage, 3 corrupt. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "policy/history-codec.h"
#include "vmm_backend/macro.h"

#define USEC_PER_S INT64_C(1000000)

static int64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * USEC_PER_S + ts.tv_nsec / 1000;
}

static int usage(void)
{
        fprintf(stderr, "usage: swap-history write-tbw|write-usage FILE [AGO_S:VALUE...]\n"
                        "       swap-history show-tbw|show-usage FILE\n");
        return 2;
}

/* "A:B" with A, B decimal (A may have a fraction of a second). */
static int parse_pair(const char *s, double *ret_a, uint64_t *ret_b)
{
        char *end;
        double a;
        unsigned long long b;

        errno = 0;
        a = strtod(s, &end);
        if (errno || end == s || *end != ':' || a < 0)
                return -EINVAL;
        s = end + 1;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        b = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret_a = a;
        *ret_b = b;
        return 0;
}

static int write_file(const char *path, const uint8_t *data, size_t size)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t done = 0;

        if (asprintf(&tmp, "%s.seed", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        while (done < size) {
                ssize_t n = write(fd, data + done, size - done);
                if (n < 0)
                        return negative_errno();
                done += (size_t)n;
        }
        if (fsync(fd) < 0 || rename(tmp, path) < 0)
                return negative_errno();
        return 0;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_size)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0, cap = 0;

        if (fd < 0)
                return negative_errno();
        for (;;) {
                if (size == cap) {
                        uint8_t *b = realloc(buf, cap ? cap * 2 : 4096);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        cap = cap ? cap * 2 : 4096;
                }
                ssize_t n = read(fd, buf + size, cap - size);
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        break;
                size += (size_t)n;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int cmd_write(bool tbw, const char *path, int n, char **pairs)
{
        _cleanup_free_ TbwHistoryRecord *t = calloc((size_t)n + 1, sizeof(*t));
        _cleanup_free_ UsageHistoryRecord *u = calloc((size_t)n + 1, sizeof(*u));
        _cleanup_free_ uint8_t *data = NULL;
        int64_t now = now_us();
        size_t size = 0;
        int r;

        if (!t || !u)
                return 1;
        for (int i = 0; i < n; i++) {
                double ago;
                uint64_t v;

                if (parse_pair(pairs[i], &ago, &v) < 0) {
                        fprintf(stderr, "swap-history: bad entry '%s' (AGO_S:VALUE)\n", pairs[i]);
                        return 2;
                }
                if (tbw)
                        t[i] = (TbwHistoryRecord){.time_us = now - (int64_t)(ago * USEC_PER_S), .size = v};
                else
                        u[i] = (UsageHistoryRecord){.start_us = now - (int64_t)(ago * USEC_PER_S),
                                                    .duration_us = (int64_t)v * USEC_PER_S};
        }
        r = tbw ? tbw_history_encode(t, (size_t)n, &data, &size)
                : usage_history_encode(u, (size_t)n, &data, &size);
        if (r < 0) {
                fprintf(stderr, "swap-history: encoding failed: %s\n", strerror(-r));
                return 1;
        }
        r = write_file(path, data, size);
        if (r < 0) {
                fprintf(stderr, "swap-history: writing %s failed: %s\n", path, strerror(-r));
                return 1;
        }
        printf("wrote %zu bytes\n", size);
        return 0;
}

static int cmd_show(bool tbw, const char *path)
{
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ TbwHistoryRecord *t = NULL;
        _cleanup_free_ UsageHistoryRecord *u = NULL;
        int64_t now = now_us();
        size_t size = 0, n = 0;
        int r;

        r = read_file(path, &data, &size);
        if (r < 0) {
                fprintf(stderr, "swap-history: reading %s failed: %s\n", path, strerror(-r));
                return 1;
        }
        if (size > history_max_file_size(tbw ? HISTORY_KIND_TBW : HISTORY_KIND_USAGE)) {
                printf("corrupt: %s\n", history_error_to_string(HISTORY_ERR_TOO_BIG));
                return 3;
        }
        r = tbw ? tbw_history_decode(data, size, now, &t, &n)
                : usage_history_decode(data, size, now, &u, &n);
        if (r < 0) {
                if (history_error_is_corruption(r)) {
                        printf("corrupt: %s\n", history_error_to_string(r));
                        return 3;
                }
                fprintf(stderr, "swap-history: decoding failed: %s\n", strerror(-r));
                return 1;
        }
        printf("entries %zu\n", n);
        for (size_t i = 0; i < n; i++)
                if (tbw)
                        printf("%.3f %" PRIu64 "%s\n", (double)(now - t[i].time_us) / USEC_PER_S, t[i].size,
                               t[i].reported_fence ? " fence" : "");
                else
                        printf("%.3f %.3f%s\n", (double)(now - u[i].start_us) / USEC_PER_S,
                               (double)u[i].duration_us / USEC_PER_S, u[i].is_shutdown ? " shutdown" : "");
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 3)
                return usage();
        if (streq(argv[1], "write-tbw"))
                return cmd_write(true, argv[2], argc - 3, argv + 3);
        if (streq(argv[1], "write-usage"))
                return cmd_write(false, argv[2], argc - 3, argv + 3);
        if (streq(argv[1], "show-tbw") && argc == 3)
                return cmd_show(true, argv[2]);
        if (streq(argv[1], "show-usage") && argc == 3)
                return cmd_show(false, argv[2]);
        return usage();
}
