/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Linux bzImage loader, 64-bit boot protocol (Documentation/arch/x86/boot.rst; reference/vmm.md
 * §2.5, §3.2): no real-mode setup code runs. The loader fills the zero page (boot_params) itself,
 * seeded from the image's own setup header, with the e820 map, the command line and the initrd;
 * writes identity page tables, a GDT and the MP table; and returns where to enter the kernel.
 * Pure functions over GuestMem, so every structure is testable without KVM.
 *
 * Guest-physical layout (as Firecracker's): GDT 0x500, zero page 0x7000, boot stack below 0x8ff0,
 * PML4 0x9000, PDPT 0xa000, PDs 0xb000..0xefff, command line 0x20000, MP table 0x9fc00, kernel at
 * 1 MiB, initrd as high as initrd_addr_max and low RAM allow. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm_backend/guest_mem.h"
#include "vmm_backend/hw/pci.h"
#include "vmm_backend/x86/boot.h"

#define BZIMAGE_ZERO_PAGE_ADDR UINT64_C(0x7000)
#define BZIMAGE_BOOT_STACK UINT64_C(0x8ff0)
#define BZIMAGE_CMDLINE_ADDR UINT64_C(0x20000)
#define BZIMAGE_CMDLINE_MAX UINT64_C(0x10000) /* the area ends at 0x30000 */
#define BZIMAGE_KERNEL_ADDR UINT64_C(0x100000)

/* Offsets into boot_params (the zero page) and its setup header (arch/x86/include/uapi/asm/bootparam.h). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_BOOT_FLAG 0x1fe
#define BP_JUMP 0x200
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_CODE32_START 0x214
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_HEAP_END_PTR 0x224
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_KERNEL_ALIGNMENT 0x230
#define BP_RELOCATABLE 0x234
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_PREF_ADDRESS 0x258
#define BP_INIT_SIZE 0x260
#define BP_E820_TABLE 0x2d0
#define BP_E820_ENTRY_SIZE 20
#define BP_SETUP_HEADER_END 0x268 /* end of the setup header fields this loader knows */

#define BZIMAGE_HDRS_MAGIC UINT32_C(0x53726448) /* "HdrS" */
#define BZIMAGE_BOOT_FLAG 0xaa55
#define BZIMAGE_MIN_PROTOCOL 0x020c             /* 2.12: xloadflags, 64-bit entry */
#define BZIMAGE_LOADED_HIGH 0x01
#define BZIMAGE_XLF_KERNEL_64 0x0001
#define BZIMAGE_LOADER_UNDEFINED 0xff           /* type_of_loader: a boot loader without an id */

typedef struct BzImageConfig {
        const uint8_t *image;
        size_t image_size;
        const uint8_t *initrd; /* may be NULL */
        size_t initrd_size;
        const char *cmdline;   /* may be NULL; " acpi=off" is appended unless an acpi= option is given */
        unsigned ncpus;
        const PciIrqRoute *pci_irqs; /* the PCI devices' INTx routes, for the MP table (may be NULL) */
        size_t n_pci_irqs;
} BzImageConfig;

/* Validate the image and the configuration, then lay everything out in guest RAM. Errors, with a
 * static human-readable reason in *ret_reason (optional):
 *   -ENOEXEC  not a bzImage for the 64-bit boot protocol (truncated, bad magic, protocol < 2.12,
 *             no XLF_KERNEL_64, not loaded high)
 *   -E2BIG    command line longer than the kernel accepts (cmdline_size) or our area
 *   -EFBIG    initrd does not fit below initrd_addr_max / the end of low RAM above the kernel
 *   -ENOMEM   guest RAM too small for the kernel's init_size at 1 MiB
 *   -EINVAL   bad arguments (no image, 0 or too many vCPUs)
 * On success *ret is the LONG64 entry: rip = 1 MiB + 0x200, rsi = zero page, rsp = boot stack,
 * cr3 = PML4, the GDT of x86/pagetable.h (CS 0x10, DS 0x18), format "bzimage". */
int bzimage_load(const GuestMem *m, const BzImageConfig *cfg, X86Entry *ret, const char **ret_reason);

/* Does this look like a bzImage (boot flag + "HdrS")? For format detection; no further checks. */
bool bzimage_detect(const uint8_t *image, size_t size);

/* Build the command line the kernel gets: cmdline plus " acpi=off" unless it has an acpi= option.
 * Returns a malloc'ed string or NULL on ENOMEM. */
char *bzimage_cmdline(const char *cmdline);
