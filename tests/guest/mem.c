/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's RAM: the PVH memory map, the free ranges above the image, and the fill / verify /
 * zero / touch workloads over the first N MiB of free RAM (identity-mapped, so a pointer is its
 * guest-physical address). The pattern of each 8-byte word is a function of (seed, address), so a
 * fill's checksum depends only on (mib, seed) and the RAM layout. */
#include "guest.h"

#define PVH_MAGIC 0x336ec578u
#define E820_RAM 1
#define MAX_RANGES 16
#define MAPPED_LIMIT (UINT64_C(64) << 30) /* what the page tables can map (entry.S) */
#define PD_FLAGS 0x87ull                  /* present, writable, user, 2 MiB */

struct hvm_start_info {
        uint32_t magic, version, flags, nr_modules;
        uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
        uint32_t memmap_entries, reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
        uint64_t addr, size;
        uint32_t type, reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
        uint64_t paddr, size, cmdline_paddr, reserved;
} __attribute__((packed));

typedef struct Range {
        uint64_t start, end;
} Range;

extern char _end[];
extern uint64_t pd_high[];

static Range ranges[MAX_RANGES];
static unsigned n_ranges;
static uint64_t total_bytes, free_bytes;
static uint64_t filled_pages; /* of the last fill, 0 = none */

static void add_range(uint64_t start, uint64_t end)
{
        if (end > MAPPED_LIMIT)
                end = MAPPED_LIMIT;
        start = ALIGN_UP(start, PAGE_SIZE);
        end &= ~(uint64_t)(PAGE_SIZE - 1);
        if (start >= end || n_ranges == MAX_RANGES)
                return;
        ranges[n_ranges++] = (Range){ start, end };
        free_bytes += end - start;
}

/* RAM above 4 GiB needs its 2 MiB entries in the PDs that entry.S left empty. */
static void map_high(uint64_t start, uint64_t end)
{
        const uint64_t base = UINT64_C(4) << 30;
        for (uint64_t a = start & ~((UINT64_C(2) << 20) - 1); a < end; a += UINT64_C(2) << 20)
                if (a >= base)
                        pd_high[(a - base) >> 21] = a | PD_FLAGS;
}

bool mem_init(const struct hvm_start_info *si)
{
        if (!si || si->magic != PVH_MAGIC || si->memmap_entries == 0 || si->memmap_entries > 128)
                return false;
        const struct hvm_memmap_entry *mm = (const void *)(uintptr_t)si->memmap_paddr;
        uint64_t free_base = ALIGN_UP((uint64_t)(uintptr_t)_end, UINT64_C(2) << 20);
        uint64_t limit = UINT64_MAX;

        /* Keep out of the modules (the initrd sits at the top of low RAM). */
        const struct hvm_modlist_entry *mods = (const void *)(uintptr_t)si->modlist_paddr;
        for (uint32_t i = 0; i < si->nr_modules && i < 8; i++)
                if (mods[i].paddr < limit && mods[i].paddr >= free_base)
                        limit = mods[i].paddr;

        for (uint32_t i = 0; i < si->memmap_entries; i++) {
                if (mm[i].type != E820_RAM)
                        continue;
                total_bytes += mm[i].size;
                uint64_t start = mm[i].addr, end = mm[i].addr + mm[i].size;
                if (end <= free_base)
                        continue;
                if (start < free_base)
                        start = free_base;
                if (start < limit && end > limit && limit < (UINT64_C(4) << 30))
                        end = limit;
                map_high(start, end);
                add_range(start, end);
        }
        return n_ranges > 0;
}

uint64_t mem_total_bytes(void)
{
        return total_bytes;
}

uint64_t mem_free_bytes(void)
{
        return free_bytes;
}

static inline uint64_t pattern(uint64_t seed, uint64_t addr)
{
        /* splitmix64 of (seed, address) */
        uint64_t z = seed * UINT64_C(0x9e3779b97f4a7c15) + addr;
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Page iteration over the first `pages` pages of free RAM. */
#define FOR_EACH_PAGE(gpa, pages)                                                                            \
        for (uint64_t _left = (pages), _r = 0; _left && _r < n_ranges; _r++)                                \
                for (uint64_t gpa = ranges[_r].start; _left && gpa < ranges[_r].end; gpa += PAGE_SIZE, _left--)

static int pages_for(uint64_t mib, uint64_t *ret)
{
        if (mib == 0 || mib > free_bytes / MIB)
                return -1;
        *ret = mib * (MIB / PAGE_SIZE);
        return 0;
}

int mem_fill(uint64_t mib, uint64_t seed, uint64_t *ret_pages)
{
        uint64_t pages;
        if (pages_for(mib, &pages) < 0)
                return -1;
        FOR_EACH_PAGE(gpa, pages)
        {
                volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)gpa;
                for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
                        p[i] = pattern(seed, gpa + i * 8);
        }
        filled_pages = pages;
        *ret_pages = pages;
        return 0;
}

int mem_verify(uint64_t seed, uint64_t *ret_pages, uint64_t *ret_checksum, uint64_t *ret_bad_gpa)
{
        uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a over the words */
        if (!filled_pages)
                return -1;
        FOR_EACH_PAGE(gpa, filled_pages)
        {
                volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)gpa;
                for (unsigned i = 0; i < PAGE_SIZE / 8; i++) {
                        uint64_t w = p[i];
                        if (w != pattern(seed, gpa + i * 8)) {
                                *ret_bad_gpa = gpa;
                                return 1;
                        }
                        h = (h ^ w) * UINT64_C(0x100000001b3);
                }
        }
        *ret_pages = filled_pages;
        *ret_checksum = h;
        return 0;
}

int mem_zero(uint64_t mib, uint64_t *ret_pages)
{
        uint64_t pages;
        if (pages_for(mib, &pages) < 0)
                return -1;
        FOR_EACH_PAGE(gpa, pages)
        {
                volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)gpa;
                for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
                        p[i] = 0;
        }
        filled_pages = 0; /* the pattern is gone */
        *ret_pages = pages;
        return 0;
}

int mem_touch(uint64_t mib, uint64_t *ret_pages, uint64_t *ret_sum)
{
        uint64_t pages, sum = 0;
        if (pages_for(mib, &pages) < 0)
                return -1;
        FOR_EACH_PAGE(gpa, pages)
        sum += *(volatile uint64_t *)(uintptr_t)gpa; /* read only: makes the page resident, keeps data */
        *ret_pages = pages;
        *ret_sum = sum;
        return 0;
}
