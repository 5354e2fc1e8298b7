/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of policy/history-codec: wire format, round trips, every corruption rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy/history-codec.h"
#include "policy/swap-policy.h"
#include "vmm_backend/macro.h"

/* 2024-01-01 00:00:00 UTC in Unix µs. */
#define T0 (INT64_C(1704067200) * POLICY_USEC_PER_SEC)
#define DAY POLICY_USEC_PER_DAY

static void assert_tbw_equal(const TbwHistoryRecord *a, const TbwHistoryRecord *b, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(a[i].time_us, b[i].time_us);
                assert_int_equal(a[i].size, b[i].size);
                assert_int_equal(a[i].reported_fence, b[i].reported_fence);
        }
}

static void assert_usage_equal(const UsageHistoryRecord *a, const UsageHistoryRecord *b, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(a[i].start_us, b[i].start_us);
                assert_int_equal(a[i].duration_us, b[i].duration_us);
                assert_int_equal(a[i].is_shutdown, b[i].is_shutdown);
        }
}

static void test_kind_strings(void **state)
{
        for (int k = 0; k < _HISTORY_KIND_MAX; k++) {
                const char *s = history_kind_to_string(k);
                assert_non_null(s);
                assert_int_equal(history_kind_from_string(s), k);
        }
        assert_null(history_kind_to_string(_HISTORY_KIND_MAX));
        assert_null(history_kind_to_string(-1));
        assert_int_equal(history_kind_from_string("bogus"), _HISTORY_KIND_INVALID);
        assert_int_equal(history_kind_from_string(NULL), _HISTORY_KIND_INVALID);
}

static void test_time_conversion(void **state)
{
        /* 1970-01-01 is 11644473600 s after 1601-01-01. */
        assert_int_equal(history_time_to_windows_us(0), INT64_C(11644473600000000));
        assert_int_equal(history_time_from_windows_us(INT64_C(11644473600000000)), 0);
        assert_int_equal(history_time_from_windows_us(0), -INT64_C(11644473600000000));
        assert_int_equal(history_time_from_windows_us(history_time_to_windows_us(T0)), T0);
        assert_int_equal(history_time_to_windows_us(INT64_MAX), INT64_MAX);
        assert_int_equal(history_time_from_windows_us(INT64_MIN), INT64_MIN);
}

static void test_error_codes(void **state)
{
        const int codes[] = {HISTORY_ERR_TOO_BIG,         HISTORY_ERR_PARSE,
                             HISTORY_ERR_SIZE_MISMATCH,   HISTORY_ERR_FUTURE_TIME,
                             HISTORY_ERR_DECREASING_TIME, HISTORY_ERR_NEGATIVE_DURATION};

        for (size_t i = 0; i < ELEMENTSOF(codes); i++) {
                assert_true(codes[i] < 0);
                assert_true(history_error_is_corruption(codes[i]));
                assert_non_null(history_error_to_string(codes[i]));
                for (size_t j = 0; j < i; j++) {
                        assert_int_not_equal(codes[i], codes[j]);
                        assert_string_not_equal(history_error_to_string(codes[i]),
                                                history_error_to_string(codes[j]));
                }
        }
        assert_false(history_error_is_corruption(-ENOMEM));
        assert_false(history_error_is_corruption(0));
        assert_null(history_error_to_string(-EIO));
}

static void test_rotation_threshold(void **state)
{
        assert_int_equal(history_max_file_size(HISTORY_KIND_TBW), 4096);
        assert_int_equal(history_max_file_size(HISTORY_KIND_USAGE), 20480);
        assert_false(history_needs_rotation(HISTORY_KIND_TBW, 0));
        assert_false(history_needs_rotation(HISTORY_KIND_TBW, 4096 - 24 - 1));
        assert_true(history_needs_rotation(HISTORY_KIND_TBW, 4096 - 24));
        assert_false(history_needs_rotation(HISTORY_KIND_USAGE, 20480 - 26 - 1));
        assert_true(history_needs_rotation(HISTORY_KIND_USAGE, 20480 - 26));
}

/* The exact bytes of one entry: container field 1 (0x0a), length, then the entry's fields. */
static void test_tbw_wire_format(void **state)
{
        /* Windows time 1 µs, 5 bytes -> entry 08 01 10 05. */
        const uint8_t want[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x05};
        /* Windows time 300 µs (varint ac 02), a fence: 08 ac 02 18 01. */
        const uint8_t fence[] = {0x0a, 0x05, 0x08, 0xac, 0x02, 0x18, 0x01};
        TbwHistoryRecord e = {.time_us = history_time_from_windows_us(1), .size = 5};
        uint8_t buf[HISTORY_ENTRY_BUF_SIZE];
        _cleanup_free_ TbwHistoryRecord *out = NULL;
        size_t n;

        assert_int_equal(tbw_history_encode_entry(&e, buf, sizeof(buf), &n), 0);
        assert_int_equal(n, sizeof(want));
        assert_memory_equal(buf, want, sizeof(want));

        e = (TbwHistoryRecord){.time_us = history_time_from_windows_us(300), .reported_fence = true};
        assert_int_equal(tbw_history_encode_entry(&e, buf, sizeof(buf), &n), 0);
        assert_int_equal(n, sizeof(fence));
        assert_memory_equal(buf, fence, sizeof(fence));

        /* Two concatenated containers decode as one container of two entries. */
        memcpy(buf, want, sizeof(want));
        memcpy(buf + sizeof(want), fence, sizeof(fence));
        assert_int_equal(tbw_history_decode(buf, sizeof(want) + sizeof(fence), T0, &out, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(out[0].time_us, history_time_from_windows_us(1));
        assert_int_equal(out[0].size, 5);
        assert_false(out[0].reported_fence);
        assert_int_equal(out[1].time_us, history_time_from_windows_us(300));
        assert_int_equal(out[1].size, 0);
        assert_true(out[1].reported_fence);

        /* A buffer too small for the entry. */
        assert_int_equal(tbw_history_encode_entry(&e, buf, 3, &n), -ENOBUFS);
}

static void test_usage_wire_format(void **state)
{
        /* start 2, duration 3 -> 08 02 10 03; a shutdown marker at 4 -> 08 04 18 01. */
        const uint8_t want[] = {0x0a, 0x04, 0x08, 0x02, 0x10, 0x03, 0x0a, 0x04, 0x08, 0x04, 0x18, 0x01};
        UsageHistoryRecord in[] = {
                {.start_us = history_time_from_windows_us(2), .duration_us = 3},
                {.start_us = history_time_from_windows_us(4), .is_shutdown = true},
        };
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ UsageHistoryRecord *out = NULL;
        size_t size, n;

        assert_int_equal(usage_history_encode(in, ELEMENTSOF(in), &data, &size), 0);
        assert_int_equal(size, sizeof(want));
        assert_memory_equal(data, want, sizeof(want));

        assert_int_equal(usage_history_decode(data, size, T0, &out, &n), 0);
        assert_int_equal(n, 2);
        assert_usage_equal(out, in, 2);
}

/* Realistic worst cases fit the max entry sizes the rotation thresholds assume. */
static void test_max_entry_sizes(void **state)
{
        /* 2100-01-01 in Unix µs. */
        const int64_t t2100 = INT64_C(4102444800) * POLICY_USEC_PER_SEC;
        TbwHistoryRecord t = {.time_us = t2100, .size = UINT64_C(1) << 55, .reported_fence = true};
        UsageHistoryRecord u = {.start_us = t2100, .duration_us = 28 * DAY, .is_shutdown = true};
        uint8_t buf[HISTORY_ENTRY_BUF_SIZE];
        size_t n;

        assert_int_equal(tbw_history_encode_entry(&t, buf, sizeof(buf), &n), 0);
        assert_true(n <= TBW_HISTORY_MAX_ENTRY_SIZE);
        assert_int_equal(usage_history_encode_entry(&u, buf, sizeof(buf), &n), 0);
        assert_true(n <= USAGE_HISTORY_MAX_ENTRY_SIZE);

        /* The extreme values still encode into the generic buffer. */
        t = (TbwHistoryRecord){.time_us = INT64_MAX, .size = UINT64_MAX, .reported_fence = true};
        assert_int_equal(tbw_history_encode_entry(&t, buf, sizeof(buf), &n), 0);
        u = (UsageHistoryRecord){.start_us = INT64_MIN, .duration_us = INT64_MIN, .is_shutdown = true};
        assert_int_equal(usage_history_encode_entry(&u, buf, sizeof(buf), &n), 0);
}

static void test_tbw_round_trip(void **state)
{
        TbwHistoryRecord in[40];
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ TbwHistoryRecord *out = NULL;
        uint8_t concat[40 * HISTORY_ENTRY_BUF_SIZE];
        size_t size, n, used = 0;

        for (size_t i = 0; i < ELEMENTSOF(in); i++)
                in[i] = (TbwHistoryRecord){
                        .time_us = T0 + (int64_t)i * DAY / 3,
                        .size = i * UINT64_C(123456789),
                        .reported_fence = i % 7 == 3,
                };
        assert_int_equal(tbw_history_encode(in, ELEMENTSOF(in), &data, &size), 0);

        /* The file is exactly the concatenation of the single-entry encodings (append-only). */
        for (size_t i = 0; i < ELEMENTSOF(in); i++) {
                size_t k;
                assert_int_equal(tbw_history_encode_entry(&in[i], concat + used, sizeof(concat) - used, &k),
                                 0);
                used += k;
        }
        assert_int_equal(used, size);
        assert_memory_equal(concat, data, size);

        assert_int_equal(tbw_history_decode(data, size, T0 + 20 * DAY, &out, &n), 0);
        assert_int_equal(n, ELEMENTSOF(in));
        assert_tbw_equal(out, in, ELEMENTSOF(in));

        /* Empty list: empty file. */
        free(data);
        data = NULL;
        assert_int_equal(tbw_history_encode(in, 0, &data, &size), 0);
        assert_int_equal(size, 0);
        assert_null(data);
}

static void test_usage_round_trip(void **state)
{
        UsageHistoryRecord in[100];
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ UsageHistoryRecord *out = NULL;
        size_t size, n;

        for (size_t i = 0; i < ELEMENTSOF(in); i++)
                in[i] = (UsageHistoryRecord){
                        .start_us = T0 + (int64_t)i * POLICY_USEC_PER_HOUR * 5,
                        .duration_us = (int64_t)(i % 5) * POLICY_USEC_PER_HOUR,
                        .is_shutdown = i % 9 == 8,
                };
        assert_int_equal(usage_history_encode(in, ELEMENTSOF(in), &data, &size), 0);
        assert_int_equal(usage_history_decode(data, size, T0 + 30 * DAY, &out, &n), 0);
        assert_int_equal(n, ELEMENTSOF(in));
        assert_usage_equal(out, in, ELEMENTSOF(in));
}

static void test_empty_file(void **state)
{
        TbwHistoryRecord *t = (void *)1;
        UsageHistoryRecord *u = (void *)1;
        size_t n = 99;

        assert_int_equal(tbw_history_decode(NULL, 0, T0, &t, &n), 0);
        assert_null(t);
        assert_int_equal(n, 0);
        n = 99;
        assert_int_equal(usage_history_decode((const uint8_t *)"", 0, T0, &u, &n), 0);
        assert_null(u);
        assert_int_equal(n, 0);
}

static void test_too_big(void **state)
{
        _cleanup_free_ uint8_t *big = calloc(1, USAGE_HISTORY_MAX_FILE_SIZE + 1);
        _cleanup_free_ uint8_t *data = NULL;
        TbwHistoryRecord *t = NULL, in[300];
        UsageHistoryRecord *u = NULL;
        size_t n = 0, size;

        assert_non_null(big);
        assert_int_equal(tbw_history_decode(big, TBW_HISTORY_MAX_FILE_SIZE + 1, T0, &t, &n),
                         HISTORY_ERR_TOO_BIG);
        assert_int_equal(usage_history_decode(big, USAGE_HISTORY_MAX_FILE_SIZE + 1, T0, &u, &n),
                         HISTORY_ERR_TOO_BIG);

        /* Well-formed entries, but more than the max: still too big. */
        for (size_t i = 0; i < ELEMENTSOF(in); i++)
                in[i] = (TbwHistoryRecord){.time_us = T0, .size = UINT64_C(1) << 40};
        assert_int_equal(tbw_history_encode(in, ELEMENTSOF(in), &data, &size), 0);
        assert_true(size > TBW_HISTORY_MAX_FILE_SIZE);
        assert_int_equal(tbw_history_decode(data, size, T0, &t, &n), HISTORY_ERR_TOO_BIG);
        /* A prefix of exactly the max size that ends on an entry boundary is fine. */
        {
                size_t k;
                uint8_t one[HISTORY_ENTRY_BUF_SIZE];
                assert_int_equal(tbw_history_encode_entry(&in[0], one, sizeof(one), &k), 0);
                size = TBW_HISTORY_MAX_FILE_SIZE / k * k;
                assert_int_equal(tbw_history_decode(data, size, T0, &t, &n), 0);
                assert_int_equal(n, TBW_HISTORY_MAX_FILE_SIZE / k);
                free(t);
        }
        assert_null(u);
}

static void test_garbage_and_truncated(void **state)
{
        const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        const uint8_t wrong_wire_type[] = {0x0d, 0x01, 0x02, 0x03, 0x04}; /* field 1 as fixed32 */
        const uint8_t bad_inner[] = {0x0a, 0x02, 0x08, 0x80};             /* varint cut short */
        TbwHistoryRecord in[3] = {
                {.time_us = T0, .size = 1000},
                {.time_us = T0 + DAY, .size = 2000},
                {.time_us = T0 + 2 * DAY, .size = 3000},
        };
        _cleanup_free_ uint8_t *data = NULL;
        TbwHistoryRecord *t = NULL;
        UsageHistoryRecord *u = NULL;
        size_t size, n = 0;

        assert_int_equal(tbw_history_decode(garbage, sizeof(garbage), T0, &t, &n), HISTORY_ERR_PARSE);
        assert_int_equal(usage_history_decode(garbage, sizeof(garbage), T0, &u, &n), HISTORY_ERR_PARSE);
        assert_int_equal(tbw_history_decode(wrong_wire_type, sizeof(wrong_wire_type), T0, &t, &n),
                         HISTORY_ERR_PARSE);
        assert_int_equal(tbw_history_decode(bad_inner, sizeof(bad_inner), T0, &t, &n), HISTORY_ERR_PARSE);

        /* Every truncation of a valid file that does not end on an entry boundary is refused. */
        assert_int_equal(tbw_history_encode(in, ELEMENTSOF(in), &data, &size), 0);
        for (size_t cut = 1; cut < size; cut++) {
                int r = tbw_history_decode(data, cut, T0 + 3 * DAY, &t, &n);
                if (r == 0) {
                        /* Only whole-entry prefixes parse. */
                        assert_int_equal(cut % (size / 3), 0);
                        free(t);
                        t = NULL;
                } else
                        assert_true(r == HISTORY_ERR_PARSE || r == HISTORY_ERR_SIZE_MISMATCH);
        }
        /* A random byte flipped anywhere never crashes; it parses, or is refused. */
        for (size_t i = 0; i < size; i++)
                for (unsigned bit = 0; bit < 8; bit++) {
                        data[i] ^= (uint8_t)(1u << bit);
                        int r = tbw_history_decode(data, size, T0 + 3 * DAY, &t, &n);
                        assert_true(r == 0 || history_error_is_corruption(r));
                        if (r == 0) {
                                free(t);
                                t = NULL;
                        }
                        data[i] ^= (uint8_t)(1u << bit);
                }
        assert_null(u);
}

static void test_size_mismatch(void **state)
{
        /* size = 0 written out explicitly: proto3 omits zeros, so the re-encoding is shorter. */
        const uint8_t explicit_zero[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x00};
        /* time 1 as a non-minimal two-byte varint (81 00). */
        const uint8_t long_varint[] = {0x0a, 0x05, 0x08, 0x81, 0x00, 0x10, 0x05};
        const uint8_t usage_zero_dur[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x00};
        TbwHistoryRecord *t = NULL;
        UsageHistoryRecord *u = NULL;
        size_t n = 0;

        assert_int_equal(tbw_history_decode(explicit_zero, sizeof(explicit_zero), T0, &t, &n),
                         HISTORY_ERR_SIZE_MISMATCH);
        assert_int_equal(tbw_history_decode(long_varint, sizeof(long_varint), T0, &t, &n),
                         HISTORY_ERR_SIZE_MISMATCH);
        assert_int_equal(usage_history_decode(usage_zero_dur, sizeof(usage_zero_dur), T0, &u, &n),
                         HISTORY_ERR_SIZE_MISMATCH);
        assert_null(t);
        assert_null(u);
}

static void test_times(void **state)
{
        TbwHistoryRecord tin[2] = {{.time_us = T0, .size = 1}, {.time_us = T0, .size = 2}};
        UsageHistoryRecord uin[2] = {{.start_us = T0, .duration_us = 10},
                                     {.start_us = T0, .duration_us = 0}};
        _cleanup_free_ uint8_t *data = NULL;
        TbwHistoryRecord *t = NULL;
        UsageHistoryRecord *u = NULL;
        size_t size, n = 0;

        /* Equal times are fine (non-decreasing); a time exactly at now is not in the future. */
        assert_int_equal(tbw_history_encode(tin, 2, &data, &size), 0);
        assert_int_equal(tbw_history_decode(data, size, T0, &t, &n), 0);
        assert_int_equal(n, 2);
        free(t);
        t = NULL;
        /* One µs before the entries: they are in the future. */
        assert_int_equal(tbw_history_decode(data, size, T0 - 1, &t, &n), HISTORY_ERR_FUTURE_TIME);

        /* Decreasing. */
        tin[1].time_us = T0 - 1;
        free(data);
        assert_int_equal(tbw_history_encode(tin, 2, &data, &size), 0);
        assert_int_equal(tbw_history_decode(data, size, T0, &t, &n), HISTORY_ERR_DECREASING_TIME);

        /* Before 1601 (a negative time on disk): out of order against the epoch. */
        tin[0].time_us = history_time_from_windows_us(-1);
        free(data);
        assert_int_equal(tbw_history_encode(tin, 1, &data, &size), 0);
        assert_int_equal(tbw_history_decode(data, size, T0, &t, &n), HISTORY_ERR_DECREASING_TIME);

        /* Usage: the end of a period counts too. */
        free(data);
        assert_int_equal(usage_history_encode(uin, 2, &data, &size), 0);
        assert_int_equal(usage_history_decode(data, size, T0 + 10, &u, &n), 0);
        free(u);
        u = NULL;
        assert_int_equal(usage_history_decode(data, size, T0 + 9, &u, &n), HISTORY_ERR_FUTURE_TIME);
        uin[1].start_us = T0 - 1;
        free(data);
        assert_int_equal(usage_history_encode(uin, 2, &data, &size), 0);
        assert_int_equal(usage_history_decode(data, size, T0 + 10, &u, &n), HISTORY_ERR_DECREASING_TIME);

        /* Negative duration; a shutdown marker has none to check. */
        uin[1] = (UsageHistoryRecord){.start_us = T0 + 1, .duration_us = -1};
        free(data);
        assert_int_equal(usage_history_encode(uin, 2, &data, &size), 0);
        assert_int_equal(usage_history_decode(data, size, T0 + 10, &u, &n), HISTORY_ERR_NEGATIVE_DURATION);
        /* A duration that overflows the end: in the future. */
        uin[1] = (UsageHistoryRecord){.start_us = T0 + 1, .duration_us = INT64_MAX};
        free(data);
        assert_int_equal(usage_history_encode(uin, 2, &data, &size), 0);
        assert_int_equal(usage_history_decode(data, size, T0 + 10, &u, &n), HISTORY_ERR_FUTURE_TIME);
        uin[1] = (UsageHistoryRecord){.start_us = T0 + 1, .is_shutdown = true};
        free(data);
        assert_int_equal(usage_history_encode(uin, 2, &data, &size), 0);
        assert_int_equal(usage_history_decode(data, size, T0 + 10, &u, &n), 0);
        assert_int_equal(n, 2);
        assert_true(u[1].is_shutdown);
        free(u);
        assert_null(t);
}

static void test_bad_arguments(void **state)
{
        TbwHistoryRecord *t = NULL;
        uint8_t buf[HISTORY_ENTRY_BUF_SIZE];
        size_t n;

        assert_int_equal(tbw_history_decode(NULL, 5, T0, &t, &n), -EINVAL);
        assert_int_equal(tbw_history_decode(buf, 0, T0, NULL, &n), -EINVAL);
        assert_int_equal(tbw_history_encode_entry(NULL, buf, sizeof(buf), &n), -EINVAL);
        assert_int_equal(tbw_history_encode(NULL, 3, NULL, &n), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kind_strings),     cmocka_unit_test(test_time_conversion),
                cmocka_unit_test(test_error_codes),      cmocka_unit_test(test_rotation_threshold),
                cmocka_unit_test(test_tbw_wire_format),  cmocka_unit_test(test_usage_wire_format),
                cmocka_unit_test(test_max_entry_sizes),  cmocka_unit_test(test_tbw_round_trip),
                cmocka_unit_test(test_usage_round_trip), cmocka_unit_test(test_empty_file),
                cmocka_unit_test(test_too_big),          cmocka_unit_test(test_garbage_and_truncated),
                cmocka_unit_test(test_size_mismatch),    cmocka_unit_test(test_times),
                cmocka_unit_test(test_bad_arguments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
