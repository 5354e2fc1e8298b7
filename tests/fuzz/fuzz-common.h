/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared part of the fuzz targets in tests/fuzz/ (not the history one): each target defines
 * LLVMFuzzerTestOneInput(), fuzz_seeds() and fuzz_target. Built with clang -fsanitize=fuzzer
 * (FUZZ_LIBFUZZER defined) it is a libFuzzer target (`make fuzz`); otherwise fuzz-common.c adds a
 * deterministic runner for `make check`: the seeds, then seeded mutations of them; with file
 * arguments it replays those files; `--seeds DIR` writes the seeds as a corpus for libFuzzer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct FuzzSeeds FuzzSeeds;

typedef struct FuzzTarget {
        const char *name;
        unsigned iterations; /* mutated inputs the gcc runner feeds in `make check` */
        size_t max_len;      /* mutations are cut to this size */
} FuzzTarget;

extern const FuzzTarget fuzz_target;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Add the target's valid inputs (copied). */
void fuzz_seeds(FuzzSeeds *s);
void fuzz_seed_add(FuzzSeeds *s, const void *data, size_t len);

/* Abort with a message when an invariant fails (a finding for the runner and for libFuzzer). */
void fuzz_check_failed(const char *target, const char *what, const char *file, int line);
#define fuzz_check(ok, what)                                                                   \
        do {                                                                                   \
                if (!(ok))                                                                     \
                        fuzz_check_failed(fuzz_target.name, what, __FILE__, __LINE__);         \
        } while (0)

/* Deterministic generator for seeds and mutations. */
uint64_t fuzz_rand(uint64_t *state);
/* Mutate buf (n bytes, capacity cap) in place; returns the new length. */
size_t fuzz_mutate(uint8_t *buf, size_t n, size_t cap, uint64_t *state);

/* A bounded little-endian reader over the input, for targets that treat it as a program. */
typedef struct FuzzReader {
        const uint8_t *p;
        size_t left;
} FuzzReader;

static inline uint64_t fuzz_take(FuzzReader *r, unsigned bytes)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < bytes && r->left; i++, r->p++, r->left--)
                v |= (uint64_t)*r->p << (8 * i);
        return v;
}
