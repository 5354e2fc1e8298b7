/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Linux bzImage loader (64-bit boot protocol). */
#include "vmm_backend/x86/bzimage.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/x86/e820.h"
#include "vmm_backend/x86/mptable.h"
#include "vmm_backend/x86/pagetable.h"

static uint16_t get16(const uint8_t *p, size_t off)
{
        return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t get32(const uint8_t *p, size_t off)
{
        return (uint32_t)get16(p, off) | (uint32_t)get16(p, off + 2) << 16;
}

static void put16(uint8_t *p, size_t off, uint16_t v)
{
        p[off] = v & 0xff;
        p[off + 1] = v >> 8;
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
        put16(p, off, v & 0xffff);
        put16(p, off + 2, v >> 16);
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
        put32(p, off, (uint32_t)v);
        put32(p, off + 4, (uint32_t)(v >> 32));
}

bool bzimage_detect(const uint8_t *image, size_t size)
{
        return image && size >= BP_HEADER + 4 && get16(image, BP_BOOT_FLAG) == BZIMAGE_BOOT_FLAG &&
               get32(image, BP_HEADER) == BZIMAGE_HDRS_MAGIC;
}

static bool has_acpi_option(const char *s)
{
        while (s && *s) {
                s += strspn(s, " \t\n");
                if (startswith(s, "acpi="))
                        return true;
                s += strcspn(s, " \t\n");
        }
        return false;
}

char *bzimage_cmdline(const char *cmdline)
{
        const char *c = cmdline ?: "";
        char *out;

        if (has_acpi_option(c))
                return strdup(c);
        /* No ACPI tables exist in this VM: SMP and the IOAPIC come from the MP table. */
        if (asprintf(&out, "%s%sacpi=off", c, *c ? " " : "") < 0)
                return NULL;
        return out;
}


#define FAIL(err, why)                                                                                       \
        do {                                                                                                 \
                if (ret_reason)                                                                              \
                        *ret_reason = (why);                                                                 \
                return (err);                                                                                \
        } while (0)

int bzimage_load(const GuestMem *m, const BzImageConfig *cfg, X86Entry *ret, const char **ret_reason)
{
        const uint8_t *img;
        int r;

        if (!m || !cfg || !ret || !cfg->image)
                FAIL(-EINVAL, "no kernel image");
        if (cfg->ncpus == 0 || cfg->ncpus > MPTABLE_MAX_CPUS)
                FAIL(-EINVAL, "unsupported number of vCPUs for the MP table");
        if (mptable_validate(cfg->ncpus, cfg->pci_irqs, cfg->n_pci_irqs) < 0)
                FAIL(-EINVAL, "a PCI interrupt route the MP table cannot describe");
        if (cfg->initrd_size > 0 && !cfg->initrd)
                FAIL(-EINVAL, "initrd size without data");
        img = cfg->image;

        /* --- the setup header --- */
        if (cfg->image_size < BP_SETUP_HEADER_END)
                FAIL(-ENOEXEC, "kernel image truncated: shorter than the setup header");
        if (get16(img, BP_BOOT_FLAG) != BZIMAGE_BOOT_FLAG)
                FAIL(-ENOEXEC, "not a Linux kernel image: boot flag 0xAA55 missing");
        if (get32(img, BP_HEADER) != BZIMAGE_HDRS_MAGIC)
                FAIL(-ENOEXEC, "not a bzImage: \"HdrS\" magic missing");
        uint16_t version = get16(img, BP_VERSION);
        if (version < BZIMAGE_MIN_PROTOCOL)
                FAIL(-ENOEXEC, "boot protocol older than 2.12: no 64-bit entry point");
        if (!(img[BP_LOADFLAGS] & BZIMAGE_LOADED_HIGH))
                FAIL(-ENOEXEC, "zImage (not loaded high) is not supported");
        if (!(get16(img, BP_XLOADFLAGS) & BZIMAGE_XLF_KERNEL_64))
                FAIL(-ENOEXEC, "kernel has no 64-bit entry point (XLF_KERNEL_64 not set)");

        /* The setup header ends where the jump at 0x200 lands; copy no more than we know. */
        size_t hdr_end = MIN((size_t)(BP_JUMP + 2 + img[BP_JUMP + 1]), (size_t)BP_SETUP_HEADER_END);
        if (hdr_end < BP_INIT_SIZE + 4)
                FAIL(-ENOEXEC, "setup header too short for protocol 2.12");

        unsigned setup_sects = img[BP_SETUP_SECTS] ?: 4; /* 0 means 4, for old images */
        size_t kernel_off = ((size_t)setup_sects + 1) * 512;
        if (cfg->image_size <= kernel_off)
                FAIL(-ENOEXEC, "kernel image truncated: no protected-mode kernel after the setup sectors");
        size_t kernel_size = cfg->image_size - kernel_off;
        uint64_t init_size = get32(img, BP_INIT_SIZE);
        uint64_t kernel_need = MAX((uint64_t)kernel_size, init_size);

        /* --- RAM --- */
        uint64_t low_end = MIN(m->size, GUEST_MEM_LOW_END);
        if (m->size <= BZIMAGE_KERNEL_ADDR || kernel_need > low_end - BZIMAGE_KERNEL_ADDR)
                FAIL(-ENOMEM, "guest RAM too small for the kernel (init_size at 1 MiB)");
        uint64_t kernel_end = ALIGN_UP(BZIMAGE_KERNEL_ADDR + kernel_need, (uint64_t)GUEST_PAGE_SIZE);

        /* --- command line --- */
        _cleanup_free_ char *cmdline = bzimage_cmdline(cfg->cmdline);
        if (!cmdline)
                FAIL(-ENOMEM, "out of memory");
        size_t cmdline_len = strlen(cmdline);
        uint32_t cmdline_max = get32(img, BP_CMDLINE_SIZE); /* excludes the NUL */
        if (cmdline_len > cmdline_max)
                FAIL(-E2BIG, "kernel command line longer than the kernel's cmdline_size");
        if (cmdline_len + 1 > BZIMAGE_CMDLINE_MAX)
                FAIL(-E2BIG, "kernel command line longer than 64 KiB");

        /* --- initrd: as high as allowed, page aligned, above the kernel --- */
        uint64_t initrd_addr = 0;
        if (cfg->initrd_size > 0) {
                uint64_t top = MIN((uint64_t)get32(img, BP_INITRD_ADDR_MAX) + 1, low_end);
                if (cfg->initrd_size > top || ALIGN_DOWN(top - cfg->initrd_size, (uint64_t)GUEST_PAGE_SIZE) < kernel_end)
                        FAIL(-EFBIG, "initrd does not fit between the kernel and initrd_addr_max / end of RAM");
                initrd_addr = ALIGN_DOWN(top - cfg->initrd_size, (uint64_t)GUEST_PAGE_SIZE);
        }

        /* --- write: everything has been validated; these can only fail if RAM is missing --- */
        uint8_t *kernel = guest_mem_ptr(m, BZIMAGE_KERNEL_ADDR, kernel_size);
        uint8_t *zp = guest_mem_ptr(m, BZIMAGE_ZERO_PAGE_ADDR, GUEST_PAGE_SIZE);
        uint8_t *cl = guest_mem_ptr(m, BZIMAGE_CMDLINE_ADDR, cmdline_len + 1);
        if (!kernel || !zp || !cl)
                FAIL(-ENOMEM, "guest RAM does not cover the boot areas");
        memcpy(kernel, img + kernel_off, kernel_size);
        memcpy(cl, cmdline, cmdline_len + 1);
        if (cfg->initrd_size > 0) {
                uint8_t *rd = guest_mem_ptr(m, initrd_addr, cfg->initrd_size);
                if (!rd)
                        FAIL(-EFBIG, "initrd area is not RAM");
                memcpy(rd, cfg->initrd, cfg->initrd_size);
        }

        /* The zero page: all zero, then the image's setup header, then our fields. */
        memset(zp, 0, GUEST_PAGE_SIZE);
        memcpy(zp + BP_SETUP_SECTS, img + BP_SETUP_SECTS, hdr_end - BP_SETUP_SECTS);
        zp[BP_TYPE_OF_LOADER] = BZIMAGE_LOADER_UNDEFINED;
        put32(zp, BP_CODE32_START, (uint32_t)BZIMAGE_KERNEL_ADDR);
        put32(zp, BP_CMD_LINE_PTR, (uint32_t)BZIMAGE_CMDLINE_ADDR);
        put32(zp, BP_RAMDISK_IMAGE, (uint32_t)initrd_addr);
        put32(zp, BP_RAMDISK_SIZE, (uint32_t)cfg->initrd_size);

        E820Entry e820[E820_MAX_ENTRIES];
        size_t n_e820;
        r = e820_build(m->size, e820, ELEMENTSOF(e820), &n_e820);
        if (r < 0)
                FAIL(r, "cannot build the e820 map for this RAM size");
        zp[BP_E820_ENTRIES] = (uint8_t)n_e820;
        for (size_t i = 0; i < n_e820; i++) {
                size_t off = BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
                put64(zp, off, e820[i].addr);
                put64(zp, off + 8, e820[i].size);
                put32(zp, off + 16, e820[i].type);
        }

        X86Entry e = { .mode = X86_ENTRY_LONG64, .format = "bzimage" };
        r = x86_write_identity_page_tables(m, &e.cr3);
        if (r < 0)
                FAIL(r, "cannot write the page tables");
        r = x86_write_boot_gdt(m, &e.gdt_base, &e.gdt_limit);
        if (r < 0)
                FAIL(r, "cannot write the GDT");
        r = mptable_write(m, cfg->ncpus, cfg->pci_irqs, cfg->n_pci_irqs);
        if (r < 0)
                FAIL(r, "cannot write the MP table");

        /* The 64-bit entry point is 0x200 past the start of the protected-mode kernel. */
        e.rip = BZIMAGE_KERNEL_ADDR + 0x200;
        e.rsi = BZIMAGE_ZERO_PAGE_ADDR;
        e.rsp = BZIMAGE_BOOT_STACK;
        *ret = e;
        return 0;
}
