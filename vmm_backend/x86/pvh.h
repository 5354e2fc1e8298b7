/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ELF64 loader for images with a PVH entry (XEN_ELFNOTE_PHYS32_ENTRY), entered per the Xen PVH boot
 * ABI (xen/include/public/arch-x86/hvm/start_info.h): flat 32-bit protected mode, paging off,
 * EBX = guest-physical address of an hvm_start_info (magic, version 1, cmdline, memory map in E820
 * types, optional modules). Firecracker and QEMU boot such images the same way. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm_backend/guest_mem.h"
#include "vmm_backend/x86/boot.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_START_INFO_MAGIC 0x336ec578u
#define PVH_START_INFO_VERSION 1

/* E820 types used in the memory map. */
#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2

/* Guest-physical layout of what the loader writes below 1 MiB. */
#define PVH_GDT_ADDR 0x500
#define PVH_START_INFO_ADDR 0x6000
#define PVH_MODLIST_ADDR 0x6100
#define PVH_MEMMAP_ADDR 0x7000
#define PVH_MEMMAP_MAX 16
#define PVH_CMDLINE_ADDR 0x20000
#define PVH_CMDLINE_MAX 4096 /* bytes including the terminating NUL */
#define PVH_EBDA_START 0x9fc00
#define PVH_KERNEL_MIN_ADDR 0x100000 /* segments load at or above 1 MiB */
#define PVH_MAX_PHDRS 64

struct hvm_start_info {
        uint32_t magic;
        uint32_t version;
        uint32_t flags;
        uint32_t nr_modules;
        uint64_t modlist_paddr;
        uint64_t cmdline_paddr;
        uint64_t rsdp_paddr;
        uint64_t memmap_paddr;
        uint32_t memmap_entries;
        uint32_t reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
        uint64_t paddr;
        uint64_t size;
        uint64_t cmdline_paddr;
        uint64_t reserved;
} __attribute__((packed));

struct hvm_memmap_table_entry {
        uint64_t addr;
        uint64_t size;
        uint32_t type;
        uint32_t reserved;
} __attribute__((packed));

typedef struct PvhConfig {
        const char *cmdline;      /* NULL or "" for none */
        const uint8_t *initrd;    /* passed as module 0; NULL for none */
        size_t initrd_size;
        bool ram_is_zeroed;       /* fresh memfd: skip zeroing the segments' BSS parts */
} PvhConfig;

/* True when the image starts with the ELF magic (the caller's format detection). */
bool pvh_is_elf(const uint8_t *image, size_t size);

/* The PVH memory map for ram_size bytes laid out as guest_mem.h says. Returns the number of
 * entries (<= max) or -ENOSPC. */
int pvh_build_memmap(uint64_t ram_size, struct hvm_memmap_table_entry *ret, size_t max);

/* Validate the ELF image, copy its PT_LOAD segments into guest RAM, write the GDT, start_info,
 * memory map, cmdline and module list, and describe the entry. Nothing is written to guest RAM
 * unless the whole image validates. On failure returns -ENOEXEC (bad image), -E2BIG (does not fit),
 * -EINVAL (bad config) and sets *ret_error (if not NULL) to a static explanation. */
int pvh_load(const GuestMem *mem, const uint8_t *image, size_t size, const PvhConfig *cfg, X86Entry *ret,
             const char **ret_error);
