/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest memory: the PVH start_info (memory map, command line), the heap (from the end of the
 * image, 2 MiB aligned, to the end of its RAM range, at most 3 GiB), the expected state of every
 * heap page and the seeded fill pattern. */
#include "guest.h"
#include "mem.h"

#define PVH_START_INFO_MAGIC 0x336ec578u
#define E820_RAM 1
#define MAX_MEMMAP_ENTRIES 64
#define HEAP_LIMIT UINT64_C(0xc0000000) /* the heap stays in low RAM (below the MMIO hole) */

struct hvm_start_info {
        uint32_t magic, version, flags, nr_modules;
        uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
        uint32_t memmap_entries, reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
        uint64_t addr, size;
        uint32_t type, reserved;
} __attribute__((packed));

extern char __image_end[];

uint8_t page_state[MAX_HEAP_PAGES];
uint64_t seed_table[SEED_SLOTS];
uint64_t page_used[MAX_HEAP_PAGES / 64];
static unsigned n_seeds;
static const char *cmdline = "";
static uint64_t heap_base, heap_pages, total_bytes;

int mem_init(void)
{
        if (!start_info_paddr)
                return -1;
        const struct hvm_start_info *si = (const void *)(uintptr_t)start_info_paddr;
        if (si->magic != PVH_START_INFO_MAGIC)
                return -1;
        if (si->cmdline_paddr)
                cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
        heap_base = (uint64_t)(uintptr_t)__image_end;
        if (si->version == 0 || si->memmap_entries == 0)
                return -1;

        const struct hvm_memmap_entry *mm = (const void *)(uintptr_t)si->memmap_paddr;
        uint64_t top = 0;
        for (uint32_t i = 0; i < si->memmap_entries && i < MAX_MEMMAP_ENTRIES; i++) {
                if (mm[i].type != E820_RAM)
                        continue;
                total_bytes += mm[i].size;
                uint64_t end = mm[i].addr + mm[i].size;
                if (heap_base >= mm[i].addr && heap_base < end)
                        top = end < HEAP_LIMIT ? end : HEAP_LIMIT;
        }
        if (top <= heap_base)
                return -1;
        heap_pages = (top - heap_base) / PAGE_SIZE;
        if (heap_pages > MAX_HEAP_PAGES)
                heap_pages = MAX_HEAP_PAGES;
        return 0;
}

const char *mem_cmdline(void)
{
        return cmdline;
}

uint64_t mem_heap_base(void)
{
        return heap_base;
}

uint64_t mem_heap_pages(void)
{
        return heap_pages;
}

uint64_t mem_total_bytes(void)
{
        return total_bytes;
}

/* The page state for a seed: an existing slot, or a new one; -1 when all slots are used. */
int mem_seed_slot(uint64_t seed)
{
        for (unsigned i = 0; i < n_seeds; i++)
                if (seed_table[i] == seed)
                        return PAGE_SEED0 + (int)i;
        if (n_seeds == SEED_SLOTS)
                return -1;
        seed_table[n_seeds] = seed;
        return PAGE_SEED0 + (int)n_seeds++;
}

/* splitmix64 of (seed, guest-physical address): every word differs, and is cheap to recompute. */
uint64_t pattern_word(uint64_t seed, uint64_t gpa)
{
        uint64_t z = seed + UINT64_C(0x632be59bd9b4e019) + gpa * UINT64_C(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}
