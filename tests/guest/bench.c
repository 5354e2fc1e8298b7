/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest benchmark: per-page access latency measured in ring 3 with rdtsc.
 *
 *   faultbench <mib> [seq|rand] [<off-mib>]
 *     reads one word of every page of <mib> MiB of the heap from <off-mib>, in address order (seq)
 *     or in a random permutation (rand, the default: neighbouring pages never follow each other),
 *     timing each read -> OK faultbench pages=<n> p50_ns=<> p99_ns=<> max_ns=<> mean_ns=<>
 *     mean_ns is the whole pass (loop included) divided by the pages: the scan rate.
 * What a read costs depends on the host: a page the host has never backed is a host page fault
 * (~30 us under PVM), a page under vmm-swap is a userfaultfd round trip, a resident page is ~0.
 * Nothing is written: page contents and the guest's page states are unchanged. */
#include "bench.h"
#include "guest.h"
#include "mem.h"

#define BENCH_MAX_PAGES (UINT64_C(1) << 16) /* 256 MiB per run */

/* Index permutation first, then latencies in TSC cycles (entry i is read before it is written). */
static uint32_t samples[BENCH_MAX_PAGES];

static const char *skip_ws(const char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        return s;
}

static const char *parse_dec(const char *s, uint64_t *ret)
{
        uint64_t v = 0;
        unsigned n = 0;
        s = skip_ws(s);
        for (; *s >= '0' && *s <= '9'; s++, n++) {
                if (v > UINT64_C(1) << 40)
                        return NULL;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (!n || (*s && *s != ' ' && *s != '\t'))
                return NULL;
        *ret = v;
        return s;
}

static const char *parse_word(const char *s, const char *w)
{
        s = skip_ws(s);
        size_t n = strlen(w);
        if (strncmp(s, w, n) != 0 || (s[n] && s[n] != ' ' && s[n] != '\t'))
                return NULL;
        return s + n;
}

static inline uint64_t tsc_fenced(void)
{
        uint32_t lo, hi;
        __asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
        return ((uint64_t)hi << 32) | lo;
}

static void sift_down(uint32_t *a, uint64_t i, uint64_t n)
{
        for (;;) {
                uint64_t c = 2 * i + 1;
                if (c >= n)
                        return;
                if (c + 1 < n && a[c + 1] > a[c])
                        c++;
                if (a[i] >= a[c])
                        return;
                uint32_t t = a[i];
                a[i] = a[c];
                a[c] = t;
                i = c;
        }
}

static void heap_sort(uint32_t *a, uint64_t n)
{
        for (uint64_t i = n / 2; i-- > 0;)
                sift_down(a, i, n);
        for (uint64_t end = n; end-- > 1;) {
                uint32_t t = a[0];
                a[0] = a[end];
                a[end] = t;
                sift_down(a, 0, end);
        }
}

static uint64_t cycles_to_ns(uint64_t c, uint64_t khz)
{
        return c * 1000000 / khz;
}

void cmd_faultbench(const char *args, void (*reply)(const char *fmt, ...))
{
        uint64_t mib, off = 0;
        bool rnd = true;
        const char *p = parse_dec(args, &mib), *q;
        if (p && (q = parse_word(p, "seq")))
                rnd = false, p = q;
        else if (p && (q = parse_word(p, "rand")))
                p = q;
        if (p && *skip_ws(p))
                p = parse_dec(p, &off);
        if (!p || *skip_ws(p) || mib == 0) {
                reply("ERR usage: faultbench <mib> [seq|rand] [<offset-mib>]\n");
                return;
        }
        uint64_t n = mib * 256, first = off * 256;
        if (n > BENCH_MAX_PAGES || off > (1u << 20) || first + n > mem_heap_pages()) {
                reply("ERR faultbench: at most %lu MiB, inside the heap (%lu MiB)\n", BENCH_MAX_PAGES >> 8,
                      mem_heap_pages() >> 8);
                return;
        }
        for (uint64_t i = first; i < first + n; i++)
                if (page_state[i] == PAGE_BALLOON) {
                        reply("ERR page %lu is in the balloon\n", (mem_heap_base() >> 12) + i);
                        return;
                }
        uint64_t khz = tsc_khz();

        /* The order, in the sample array itself (this also makes the array resident before any
         * timing starts). */
        for (uint64_t i = 0; i < n; i++)
                samples[i] = (uint32_t)i;
        if (rnd) {
                uint64_t x = 0x9e3779b97f4a7c15ull ^ rdtsc();
                for (uint64_t i = n - 1; i > 0; i--) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        uint64_t j = x % (i + 1);
                        uint32_t t = samples[i];
                        samples[i] = samples[j];
                        samples[j] = t;
                }
        }

        const uint8_t *base = (const uint8_t *)(uintptr_t)(mem_heap_base() + first * PAGE_SIZE);
        uint64_t sum = 0, start = tsc_fenced();
        for (uint64_t i = 0; i < n; i++) {
                const volatile uint64_t *w = (const volatile uint64_t *)(base + (uint64_t)samples[i] * PAGE_SIZE);
                uint64_t t0 = tsc_fenced();
                sum += *w;
                uint64_t d = tsc_fenced() - t0;
                samples[i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        }
        uint64_t total = tsc_fenced() - start;
        __asm__ volatile("" : : "r"(sum));

        heap_sort(samples, n);
        reply("OK faultbench pages=%lu p50_ns=%lu p99_ns=%lu max_ns=%lu mean_ns=%lu\n", n,
              cycles_to_ns(samples[n / 2], khz), cycles_to_ns(samples[n * 99 / 100], khz),
              cycles_to_ns(samples[n - 1], khz), cycles_to_ns(total / n, khz));
}
