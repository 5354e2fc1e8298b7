/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest memory bookkeeping (see mem.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define PAGE_SIZE 4096u
#define MAX_HEAP_PAGES (UINT64_C(3) << 18) /* 3 GiB of 4 KiB pages */
#define SEED_SLOTS 250

enum {
        PAGE_UNTRACKED = 0, /* free: contents unknown, not checked */
        PAGE_ZERO = 1,      /* must read as zeros */
        PAGE_BALLOON = 2,   /* given to the balloon: never touched until deflated */
        PAGE_SEED0 = 3,     /* filled with pattern(seed_table[state - PAGE_SEED0]) */
};

extern uint8_t page_state[MAX_HEAP_PAGES];
extern uint64_t seed_table[SEED_SLOTS];
/* One bit per heap page: the workload wrote it since the guest started or since it last came back
 * from the balloon, so it is resident on the host. The balloon driver inflates with these pages
 * first (a guest allocator hands out recently freed, hot pages first). */
extern uint64_t page_used[MAX_HEAP_PAGES / 64];

static inline void mem_set_used(uint64_t page, bool used)
{
        if (used)
                page_used[page / 64] |= UINT64_C(1) << (page % 64);
        else
                page_used[page / 64] &= ~(UINT64_C(1) << (page % 64));
}

static inline bool mem_is_used(uint64_t page)
{
        return page_used[page / 64] >> (page % 64) & 1;
}

const char *mem_cmdline(void);
int mem_seed_slot(uint64_t seed);
uint64_t pattern_word(uint64_t seed, uint64_t gpa);
