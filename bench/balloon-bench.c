/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench/balloon helper: the limit for releasing guest RAM, measured in one process. A memfd of
 * MIB MiB mapped MAP_SHARED (as the VMM maps guest RAM), every page written, then one
 * madvise(MADV_REMOVE) over the whole range, ROUNDS times. Prints `name value unit` lines (the
 * median round) and checks the memfd's allocated blocks really went to zero.
 * Usage: balloon-bench MIB [ROUNDS] */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 100

static double now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static uint64_t allocated_bytes(int fd)
{
        struct stat st;
        return fstat(fd, &st) < 0 ? UINT64_MAX : (uint64_t)st.st_blocks * 512;
}

int main(int argc, char **argv)
{
        unsigned long mib, rounds = 3;
        if (argc < 2 || argc > 3 || parse_ulong(argv[1], 1, 1 << 20, &mib) < 0 ||
            (argc == 3 && parse_ulong(argv[2], 1, MAX_ROUNDS, &rounds) < 0)) {
                fprintf(stderr, "usage: %s MIB [ROUNDS (1..%d)]\n", argv[0], MAX_ROUNDS);
                return 2;
        }
        size_t size = (size_t)mib << 20;
        int fd = memfd_create("balloon-bench", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
                perror("memfd");
                return 1;
        }
        uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        double secs[MAX_ROUNDS];
        for (unsigned long r = 0; r < rounds; r++) {
                for (size_t off = 0; off < size; off += 4096)
                        p[off] = (uint8_t)(off >> 12 | 1);
                uint64_t before = allocated_bytes(fd);
                double t0 = now_s();
                if (madvise(p, size, MADV_REMOVE) < 0) {
                        perror("madvise(MADV_REMOVE)");
                        return 1;
                }
                secs[r] = now_s() - t0;
                uint64_t after = allocated_bytes(fd);
                if (before < size || after != 0) {
                        fprintf(stderr, "memfd blocks %llu -> %llu bytes: not released\n", (unsigned long long)before,
                                (unsigned long long)after);
                        return 1;
                }
        }
        qsort(secs, rounds, sizeof(secs[0]), cmp_double);
        double med = secs[rounds / 2];
        printf("madvise_remove_ms %.1f ms\n", med * 1e3);
        printf("madvise_remove_rate %.0f MiB/s\n", (double)mib / med);
        munmap(p, size);
        close(fd);
        return 0;
}
