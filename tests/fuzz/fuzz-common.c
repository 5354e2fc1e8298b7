/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The seeds/mutation runner shared by the tests/fuzz/ targets (see fuzz-common.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz-common.h"
#include "vmm_backend/macro.h"

struct FuzzSeeds {
        uint8_t **data;
        size_t *len;
        size_t n;
};

void fuzz_check_failed(const char *target, const char *what, const char *file, int line)
{
        fprintf(stderr, "%s: invariant broken at %s:%d: %s\n", target, file, line, what);
        abort();
}

void fuzz_seed_add(FuzzSeeds *s, const void *data, size_t len)
{
        uint8_t **d = realloc(s->data, (s->n + 1) * sizeof(*d));
        if (!d)
                abort();
        s->data = d;
        size_t *l = realloc(s->len, (s->n + 1) * sizeof(*l));
        if (!l)
                abort();
        s->len = l;
        s->data[s->n] = malloc(len ? len : 1);
        if (!s->data[s->n])
                abort();
        if (len)
                memcpy(s->data[s->n], data, len);
        s->len[s->n++] = len;
}

uint64_t fuzz_rand(uint64_t *state)
{
        *state = *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        return *state >> 33;
}

static const uint64_t interesting[] = {
        0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0x7fff, 0x8000, 0xffff, 0x10000,
        0x7fffffff, 0x80000000, 0xffffffff, UINT64_C(0x100000000), UINT64_C(0x7fffffffffffffff),
        UINT64_C(0x8000000000000000), UINT64_MAX, UINT64_MAX - 1, 0xc0000000, 0x100000,
};

size_t fuzz_mutate(uint8_t *buf, size_t n, size_t cap, uint64_t *s)
{
        size_t k = 1 + fuzz_rand(s) % 4;

        for (size_t j = 0; j < k; j++) {
                size_t pos = n ? fuzz_rand(s) % n : 0;
                switch (fuzz_rand(s) % 8) {
                case 0:
                        if (n)
                                buf[pos] ^= (uint8_t)(1u << (fuzz_rand(s) % 8));
                        break;
                case 1:
                        if (n)
                                buf[pos] = (uint8_t)fuzz_rand(s);
                        break;
                case 2: /* truncate */
                        if (fuzz_rand(s) % 4 == 0)
                                n = pos;
                        break;
                case 3: { /* duplicate a range at the end */
                        size_t len = MIN(n - pos, (size_t)(fuzz_rand(s) % 64));
                        if (n + len <= cap) {
                                memmove(buf + n, buf + pos, len);
                                n += len;
                        }
                        break;
                }
                case 4: { /* an interesting value of 1, 2, 4 or 8 bytes */
                        uint64_t v = interesting[fuzz_rand(s) % ELEMENTSOF(interesting)];
                        size_t w = (size_t)1 << (fuzz_rand(s) % 4);
                        if (fuzz_rand(s) % 2)
                                v = -v;
                        for (size_t i = 0; i < w && pos + i < n; i++)
                                buf[pos + i] = (uint8_t)(v >> (8 * i));
                        break;
                }
                case 5: /* small arithmetic on a byte */
                        if (n)
                                buf[pos] = (uint8_t)(buf[pos] + (int)(fuzz_rand(s) % 33) - 16);
                        break;
                case 6: /* a run of 0xff (varints, lengths, sizes) */
                        if (n)
                                memset(buf + pos, 0xff, MIN(n - pos, (size_t)(1 + fuzz_rand(s) % 11)));
                        break;
                default: { /* copy a range over another place */
                        if (!n)
                                break;
                        size_t src = fuzz_rand(s) % n, len = MIN(MIN(n - src, n - pos), (size_t)(fuzz_rand(s) % 32));
                        memmove(buf + pos, buf + src, len);
                        break;
                }
                }
        }
        return n;
}

#ifndef FUZZ_LIBFUZZER
static int replay_file(const char *path)
{
        FILE *f = fopen(path, "re");
        uint8_t *buf;
        size_t n;

        buf = malloc(fuzz_target.max_len + 1);
        if (!f || !buf) {
                fprintf(stderr, "%s: cannot read %s\n", fuzz_target.name, path);
                if (f)
                        fclose(f);
                free(buf);
                return -1;
        }
        n = fread(buf, 1, fuzz_target.max_len, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
        return 0;
}

/* Regression inputs kept in tests/fuzz/corpus/<target>/ (run from the top of the tree). */
static unsigned replay_corpus(void)
{
        char dir[256], path[512];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", fuzz_target.name);
        d = opendir(dir);
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                        if (replay_file(path) == 0)
                                n++;
                }
        closedir(d);
        return n;
}

static int write_seeds(const FuzzSeeds *s, const char *dir)
{
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        for (size_t i = 0; i < s->n; i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/seed-%03zu", dir, i);
                FILE *f = fopen(path, "we");
                if (!f)
                        return -errno;
                bool ok = fwrite(s->data[i], 1, s->len[i], f) == s->len[i];
                if (fclose(f) != 0 || !ok)
                        return -EIO;
        }
        return 0;
}

int main(int argc, char **argv)
{
        FuzzSeeds s = {};
        uint64_t state = 42;
        uint8_t *buf;
        unsigned iterations = fuzz_target.iterations;
        int ret = EXIT_SUCCESS;

        fuzz_seeds(&s);
        if (argc == 3 && streq(argv[1], "--seeds")) {
                int r = write_seeds(&s, argv[2]);
                if (r < 0)
                        fprintf(stderr, "%s: cannot write seeds to %s: %s\n", fuzz_target.name, argv[2], strerror(-r));
                else
                        printf("%s: %zu seeds written to %s\n", fuzz_target.name, s.n, argv[2]);
                ret = r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        } else if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        if (replay_file(argv[i]) < 0)
                                ret = EXIT_FAILURE;
                printf("%s: replayed %d inputs\n", fuzz_target.name, argc - 1);
        } else {
                buf = malloc(fuzz_target.max_len);
                if (!buf)
                        abort();
                for (size_t i = 0; i < s.n; i++)
                        LLVMFuzzerTestOneInput(s.data[i], s.len[i]);
                LLVMFuzzerTestOneInput(NULL, 0);
                for (unsigned it = 0; s.n && it < iterations; it++) {
                        size_t i = fuzz_rand(&state) % s.n, n = MIN(s.len[i], fuzz_target.max_len);
                        memcpy(buf, s.data[i], n);
                        n = fuzz_mutate(buf, n, fuzz_target.max_len, &state);
                        LLVMFuzzerTestOneInput(buf, n);
                }
                free(buf);
                unsigned kept = replay_corpus();
                printf("%s: %zu seeds, %u kept inputs and %u mutated inputs, no fault\n", fuzz_target.name, s.n,
                       kept, iterations);
        }
        for (size_t i = 0; i < s.n; i++)
                free(s.data[i]);
        free(s.data);
        free(s.len);
        return ret;
}
#endif
