/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How a loader tells the vCPU setup where and in which mode to enter the guest. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum X86EntryMode {
        X86_ENTRY_PROTECTED32, /* PVH: flat 32-bit protected mode, paging off, EBX = start_info */
        X86_ENTRY_LONG64,      /* Linux 64-bit boot protocol: paging on, RSI = zero page */
        _X86_ENTRY_MODE_MAX,
        _X86_ENTRY_MODE_INVALID = -22,
} X86EntryMode;

typedef struct X86Entry {
        X86EntryMode mode;
        uint64_t rip, rsp, rsi, rbx;
        uint64_t cr3;       /* LONG64: guest-physical address of the identity PML4 */
        uint64_t gdt_base;  /* guest-physical address of the GDT the loader wrote */
        uint16_t gdt_limit;
        const char *format; /* "elf-pvh" or "bzimage" (static string) */
} X86Entry;
