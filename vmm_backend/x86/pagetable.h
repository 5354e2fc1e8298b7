/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Identity page tables and the boot GDT for entering a guest directly in 64-bit mode (the Linux
 * 64-bit boot protocol; layout as Firecracker's arch/x86_64/layout.rs). */
#pragma once

#include <stdint.h>

#include "vmm_backend/guest_mem.h"

#define X86_BOOT_GDT_ADDR UINT64_C(0x500)
#define X86_BOOT_GDT_ENTRIES 5
/* Selectors of the boot GDT. Linux's boot protocol names 0x10 __BOOT_CS and 0x18 __BOOT_DS. */
#define X86_BOOT_CS 0x10
#define X86_BOOT_DS 0x18
#define X86_BOOT_TSS 0x20

#define X86_PML4_ADDR UINT64_C(0x9000)
#define X86_PDPT_ADDR UINT64_C(0xa000)
#define X86_PD_ADDR UINT64_C(0xb000) /* X86_PD_COUNT pages: 0xb000..0xefff */
#define X86_PD_COUNT 4               /* 4 page directories of 2 MiB pages = the first 4 GiB */

#define X86_PTE_PRESENT (UINT64_C(1) << 0)
#define X86_PTE_WRITE (UINT64_C(1) << 1)
#define X86_PTE_PS (UINT64_C(1) << 7) /* in a PD entry: a 2 MiB page */

/* One segment as the vCPU setup needs it (maps 1:1 onto struct kvm_segment). */
typedef struct X86Segment {
        uint64_t base;
        uint32_t limit; /* in bytes - 1, granularity applied */
        uint16_t selector;
        uint8_t type, present, dpl, db, s, l, g, avl;
} X86Segment;

/* Encode a GDT descriptor: flags are the access byte in bits 0..7 and the G/D/L/AVL nibble in bits
 * 12..15 (e.g. 0xa09b = 64-bit code, 0xc093 = flat data, 0x808b = busy TSS), limit in units of the
 * granularity (20 bits). */
uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);
/* Decode a descriptor back into what KVM wants in a segment register. */
void x86_gdt_entry_decode(uint64_t entry, uint16_t selector, X86Segment *ret);

/* Write PML4 → PDPT → 4 PDs identity-mapping [0, 4 GiB) with 2 MiB pages. *ret_cr3 = the PML4
 * address. -ENOSPC if guest RAM does not cover the table area. */
int x86_write_identity_page_tables(const GuestMem *m, uint64_t *ret_cr3);

/* Write the boot GDT: null, null, 64-bit code (0x10), flat data (0x18), TSS (0x20). */
int x86_write_boot_gdt(const GuestMem *m, uint64_t *ret_base, uint16_t *ret_limit);
