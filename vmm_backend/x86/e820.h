/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's BIOS-style memory map (e820) for the Linux boot protocol, built from the RAM size and
 * the guest-physical layout of guest_mem.h. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2

/* Where the legacy areas sit (kvmtool x86/bios.c, Firecracker layout.rs): RAM up to the EBDA, the
 * EBDA itself (the MP table lives there), then the BIOS ROM area below 1 MiB. */
#define E820_EBDA_START UINT64_C(0x9fc00)
#define E820_VGA_START UINT64_C(0xa0000)
#define E820_BIOS_START UINT64_C(0xf0000)
#define E820_HIMEM_START UINT64_C(0x100000)

/* boot_params can hold 128 entries (E820_MAX_ENTRIES_ZEROPAGE); we need at most 5. */
#define E820_MAX_ENTRIES 128

typedef struct E820Entry {
        uint64_t addr, size;
        uint32_t type;
} E820Entry;

/* Fill table (room for max entries) for ram_size bytes of guest RAM: RAM [0, EBDA), reserved
 * [EBDA, 640 KiB), reserved [0xf0000, 1 MiB), RAM from 1 MiB to the end of low RAM, and the rest of
 * RAM from 4 GiB. -EINVAL if ram_size is not above 1 MiB or not page aligned, -ENOBUFS if max is
 * too small. */
int e820_build(uint64_t ram_size, E820Entry *table, size_t max, size_t *ret_n);
