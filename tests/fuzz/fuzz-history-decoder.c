/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the vmm-swap history decoders (policy/history-codec) and the policies fed from
 * them: any bytes must decode or be refused with a HISTORY_ERR_* code; a decoded history must
 * re-encode to bytes that decode to the same entries (the original bytes may differ: field order
 * and unknown fields are allowed on input), and drive the TBW and usage policies without faults.
 *
 * Built two ways:
 *   clang -fsanitize=fuzzer (FUZZ_LIBFUZZER defined): a libFuzzer target, `make fuzz-history`;
 *   any compiler otherwise: a runner for `make check` that replays the files given as arguments
 *   or, with none, deterministic mutations of generated valid histories. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/history-codec.h"
#include "policy/swap-policy.h"
#include "policy/tbw.h"
#include "policy/usage.h"
#include "vmm_backend/macro.h"

#define NOW (INT64_C(1704067200) * POLICY_USEC_PER_SEC)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
        if (!ok) {
                fprintf(stderr, "fuzz-history-decoder: %s\n", what);
                abort();
        }
}

static void fuzz_tbw(const uint8_t *data, size_t size)
{
        _cleanup_free_ TbwHistoryRecord *e = NULL;
        _cleanup_free_ uint8_t *again = NULL;
        TbwHistoryRecord live[TBW_LIVE_RECORDS_MAX];
        size_t n = 0, again_size;
        TbwPolicy p;
        TbwBudget b;
        int r;

        r = tbw_history_decode(data, size, NOW, &e, &n);
        if (r < 0) {
                check(history_error_is_corruption(r) || r == -ENOMEM, "tbw: unexpected error");
                return;
        }
        check(tbw_history_encode(e, n, &again, &again_size) == 0, "tbw: re-encode failed");
        check(again_size <= size, "tbw: re-encode grew");
        {
                _cleanup_free_ TbwHistoryRecord *e2 = NULL;
                size_t n2;
                check(tbw_history_decode(again, again_size, NOW, &e2, &n2) == 0,
                      "tbw: re-encoded does not decode");
                check(n2 == n, "tbw: re-decoded count differs");
                for (size_t i = 0; i < n; i++)
                        check(e2[i].time_us == e[i].time_us && e2[i].size == e[i].size &&
                                      e2[i].reported_fence == e[i].reported_fence,
                              "tbw: re-decoded entry differs");
        }

        tbw_policy_init(&p, tbw_target_per_day(size * UINT64_C(1000000000)));
        (void)tbw_policy_load(&p, e, n, NOW);
        tbw_policy_budget(&p, NOW, &b);
        check(b.can_swap_out == tbw_policy_can_swap_out(&p, NOW), "tbw: budget and verdict disagree");
        n = tbw_policy_live_records(&p, NOW, live);
        check(n <= TBW_LIVE_RECORDS_MAX, "tbw: too many live records");
        for (size_t i = 1; i < n; i++)
                check(live[i].time_us >= live[i - 1].time_us, "tbw: live records out of order");
}

static void fuzz_usage(const uint8_t *data, size_t size)
{
        _cleanup_free_ UsageHistoryRecord *e = NULL, *live = NULL;
        _cleanup_free_ UsagePolicy *p = NULL;
        _cleanup_free_ uint8_t *again = NULL;
        size_t n = 0, again_size;
        int r;

        r = usage_history_decode(data, size, NOW, &e, &n);
        if (r < 0) {
                check(history_error_is_corruption(r) || r == -ENOMEM, "usage: unexpected error");
                return;
        }
        check(usage_history_encode(e, n, &again, &again_size) == 0, "usage: re-encode failed");
        check(again_size <= size, "usage: re-encode grew");
        {
                _cleanup_free_ UsageHistoryRecord *e2 = NULL;
                size_t n2;
                check(usage_history_decode(again, again_size, NOW, &e2, &n2) == 0,
                      "usage: re-encoded does not decode");
                check(n2 == n, "usage: re-decoded count differs");
                for (size_t i = 0; i < n; i++)
                        check(e2[i].start_us == e[i].start_us && e2[i].duration_us == e[i].duration_us &&
                                      e2[i].is_shutdown == e[i].is_shutdown,
                              "usage: re-decoded entry differs");
        }

        p = malloc(sizeof(*p));
        live = calloc(USAGE_HISTORY_LENGTH, sizeof(*live));
        if (!p || !live)
                return;
        usage_policy_load(p, e, n, NOW);
        for (int64_t t = NOW; t < NOW + 6 * POLICY_USEC_PER_WEEK; t += 13 * POLICY_USEC_PER_HOUR)
                check(usage_policy_predict_duration(p, t) >= 0, "usage: negative prediction");
        usage_policy_on_enabled(p, NOW);
        check(usage_policy_predict_duration(p, NOW + POLICY_USEC_PER_DAY) >= 0,
              "usage: negative prediction");
        n = usage_policy_live_records(p, NOW, live);
        check(n <= USAGE_HISTORY_LENGTH, "usage: too many live records");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_tbw(data, size);
        fuzz_usage(data, size);
        return 0;
}

#ifndef FUZZ_LIBFUZZER

static uint64_t lcg(uint64_t *s)
{
        *s = *s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        return *s >> 33;
}

static int replay_file(const char *path)
{
        _cleanup_free_ uint8_t *buf = malloc(USAGE_HISTORY_MAX_FILE_SIZE + 2);
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f || !buf) {
                fprintf(stderr, "cannot read %s\n", path);
                if (f)
                        fclose(f);
                return -1;
        }
        n = fread(buf, 1, USAGE_HISTORY_MAX_FILE_SIZE + 2, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        return 0;
}

/* Generated seeds (valid files of both kinds), then mutations of them: bit flips, byte
 * overwrites, truncations, duplicated and spliced ranges. */
static void replay_generated(unsigned iterations)
{
        TbwHistoryRecord t[40];
        UsageHistoryRecord u[40];
        _cleanup_free_ uint8_t *seed_t = NULL, *seed_u = NULL;
        uint8_t buf[2 * USAGE_HISTORY_MAX_FILE_SIZE];
        size_t st, su;
        uint64_t s = 42;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                t[i] = (TbwHistoryRecord){
                        .time_us = NOW - 30 * POLICY_USEC_PER_DAY + (int64_t)i * POLICY_USEC_PER_DAY * 3 / 4,
                        .size = lcg(&s) << (i % 24),
                        .reported_fence = i % 11 == 5,
                };
                u[i] = (UsageHistoryRecord){
                        .start_us = NOW - 5 * POLICY_USEC_PER_WEEK + (int64_t)i * 20 * POLICY_USEC_PER_HOUR,
                        .duration_us = (int64_t)(lcg(&s) % 19) * POLICY_USEC_PER_HOUR,
                        .is_shutdown = i % 13 == 12,
                };
        }
        if (tbw_history_encode(t, ELEMENTSOF(t), &seed_t, &st) < 0 ||
            usage_history_encode(u, ELEMENTSOF(u), &seed_u, &su) < 0)
                abort();
        LLVMFuzzerTestOneInput(seed_t, st);
        LLVMFuzzerTestOneInput(seed_u, su);
        LLVMFuzzerTestOneInput(NULL, 0);

        for (unsigned it = 0; it < iterations; it++) {
                const uint8_t *seed = it % 2 ? seed_t : seed_u;
                size_t n = it % 2 ? st : su, k = 1 + lcg(&s) % 4;

                memcpy(buf, seed, n);
                for (size_t j = 0; j < k; j++) {
                        size_t pos = n ? lcg(&s) % n : 0;
                        switch (lcg(&s) % 5) {
                        case 0:
                                if (n)
                                        buf[pos] ^= (uint8_t)(1u << (lcg(&s) % 8));
                                break;
                        case 1:
                                if (n)
                                        buf[pos] = (uint8_t)lcg(&s);
                                break;
                        case 2:
                                n = pos;
                                break;
                        case 3: { /* duplicate a range at the end */
                                size_t len = MIN(n - pos, (size_t)(lcg(&s) % 64));
                                if (n + len <= sizeof(buf)) {
                                        memmove(buf + n, buf + pos, len);
                                        n += len;
                                }
                                break;
                        }
                        default: /* a varint made of continuation bytes */
                                if (n)
                                        memset(buf + pos, 0xff, MIN(n - pos, (size_t)11));
                                break;
                        }
                }
                LLVMFuzzerTestOneInput(buf, n);
        }
}

int main(int argc, char **argv)
{
        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        if (replay_file(argv[i]) < 0)
                                return EXIT_FAILURE;
                printf("replayed %d inputs\n", argc - 1);
                return EXIT_SUCCESS;
        }
        replay_generated(20000);
        printf("fuzz-history-decoder: 20000 generated inputs, no fault\n");
        return EXIT_SUCCESS;
}
#endif
