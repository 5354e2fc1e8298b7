/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the Linux bzImage loader and the structures it builds (vmm_backend/x86/bzimage.c,
 * e820.c, pagetable.c), without KVM: a synthetic bzImage (a real setup header, a patterned
 * "kernel") is loaded into an anonymous mapping standing in for guest RAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/x86/bzimage.h"
#include "vmm_backend/x86/e820.h"
#include "vmm_backend/x86/mptable.h"
#include "vmm_backend/x86/pagetable.h"

#define RAM_SIZE (64 * MIB)
#define SETUP_SECTS 4
#define KERNEL_PAYLOAD (64 * 1024)
#define IMAGE_SIZE ((SETUP_SECTS + 1) * 512 + KERNEL_PAYLOAD)

static uint16_t rd16(const uint8_t *p, size_t off)
{
        return (uint16_t)(p[off] | p[off + 1] << 8);
}
static uint32_t rd32(const uint8_t *p, size_t off)
{
        return (uint32_t)rd16(p, off) | (uint32_t)rd16(p, off + 2) << 16;
}
static uint64_t rd64(const uint8_t *p, size_t off)
{
        return (uint64_t)rd32(p, off) | (uint64_t)rd32(p, off + 4) << 32;
}
static void wr16(uint8_t *p, size_t off, uint16_t v)
{
        p[off] = v & 0xff;
        p[off + 1] = v >> 8;
}
static void wr32(uint8_t *p, size_t off, uint32_t v)
{
        wr16(p, off, v & 0xffff);
        wr16(p, off + 2, v >> 16);
}

typedef struct Fixture {
        GuestMem mem;
        uint8_t image[IMAGE_SIZE];
        BzImageConfig cfg;
} Fixture;

/* A bzImage header as a 2.15 kernel would have it. */
static void make_image(uint8_t *img)
{
        memset(img, 0, IMAGE_SIZE);
        img[BP_SETUP_SECTS] = SETUP_SECTS;
        wr16(img, 0x1fa, 0xffff); /* vid_mode: "normal", copied through */
        wr16(img, BP_BOOT_FLAG, BZIMAGE_BOOT_FLAG);
        img[BP_JUMP] = 0xeb;
        img[BP_JUMP + 1] = 0x66; /* header ends at 0x268 */
        wr32(img, BP_HEADER, BZIMAGE_HDRS_MAGIC);
        wr16(img, BP_VERSION, 0x020f);
        img[BP_LOADFLAGS] = BZIMAGE_LOADED_HIGH;
        wr32(img, BP_CODE32_START, 0x100000);
        wr32(img, BP_INITRD_ADDR_MAX, 0x7fffffff);
        wr32(img, BP_KERNEL_ALIGNMENT, 0x200000);
        img[BP_RELOCATABLE] = 1;
        wr16(img, BP_XLOADFLAGS, BZIMAGE_XLF_KERNEL_64 | 0x2);
        wr32(img, BP_CMDLINE_SIZE, 2047);
        wr32(img, BP_PREF_ADDRESS, 0x1000000);
        wr32(img, BP_INIT_SIZE, 4 * MIB);
        for (size_t i = 0; i < KERNEL_PAYLOAD; i++)
                img[(SETUP_SECTS + 1) * 512 + i] = (uint8_t)(i * 7 + 1);
}

/* The VMM's balloon: 00:01.0 INTA# on line 10. */
static const PciIrqRoute balloon_route[] = {{.slot = 1, .pin = 1, .irq = 10}};

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        f->mem.host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(f->mem.host != MAP_FAILED);
        f->mem.size = RAM_SIZE;
        f->mem.memfd = -1;
        make_image(f->image);
        f->cfg = (BzImageConfig){.image = f->image,
                                 .image_size = IMAGE_SIZE,
                                 .cmdline = "console=ttyS0",
                                 .ncpus = 2,
                                 .pci_irqs = balloon_route,
                                 .n_pci_irqs = 1};
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        munmap(f->mem.host, f->mem.size);
        free(f);
        return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/* --- e820 -------------------------------------------------------------------------------------- */

static void test_e820_small(void **state)
{
        E820Entry t[8];
        size_t n;

        assert_int_equal(e820_build(64 * MIB, t, ELEMENTSOF(t), &n), 0);
        assert_int_equal(n, 4);
        assert_true(t[0].addr == 0 && t[0].size == 0x9fc00 && t[0].type == E820_RAM);
        assert_true(t[1].addr == 0x9fc00 && t[1].size == 0x400 && t[1].type == E820_RESERVED);
        assert_true(t[2].addr == 0xf0000 && t[2].size == 0x10000 && t[2].type == E820_RESERVED);
        assert_true(t[3].addr == 0x100000 && t[3].size == 63 * MIB && t[3].type == E820_RAM);
        /* Entries are sorted and do not overlap. */
        for (size_t i = 1; i < n; i++)
                assert_true(t[i - 1].addr + t[i - 1].size <= t[i].addr);
}

static void test_e820_split_around_mmio_hole(void **state)
{
        E820Entry t[8];
        size_t n;

        assert_int_equal(e820_build(3 * GIB, t, ELEMENTSOF(t), &n), 0);
        assert_int_equal(n, 4);
        assert_true(t[3].addr + t[3].size == GUEST_MEM_LOW_END);

        assert_int_equal(e820_build(5 * GIB, t, ELEMENTSOF(t), &n), 0);
        assert_int_equal(n, 5);
        assert_true(t[3].addr == 0x100000 && t[3].addr + t[3].size == GUEST_MEM_LOW_END);
        assert_true(t[4].addr == GUEST_HIGH_BASE && t[4].size == 2 * GIB && t[4].type == E820_RAM);
        /* The RAM entries add up to the RAM size minus the legacy holes. */
        uint64_t ram = 0;
        for (size_t i = 0; i < n; i++)
                if (t[i].type == E820_RAM)
                        ram += t[i].size;
        assert_true(ram == 5 * GIB - (E820_HIMEM_START - E820_EBDA_START));
}

static void test_e820_rejections(void **state)
{
        E820Entry t[8];
        size_t n;
        assert_int_equal(e820_build(1 * MIB, t, ELEMENTSOF(t), &n), -EINVAL);
        assert_int_equal(e820_build(64 * MIB + 1, t, ELEMENTSOF(t), &n), -EINVAL);
        assert_int_equal(e820_build(64 * MIB, t, 3, &n), -ENOBUFS);
        assert_int_equal(e820_build(64 * MIB, NULL, 8, &n), -EINVAL);
}

/* --- page tables and GDT ----------------------------------------------------------------------- */

/* Walk the guest's 4-level tables like the MMU would; returns the physical address or UINT64_MAX. */
static uint64_t walk(const GuestMem *m, uint64_t cr3, uint64_t va)
{
        uint64_t e = rd64(m->host, cr3 + 8 * ((va >> 39) & 511));
        if (!(e & X86_PTE_PRESENT))
                return UINT64_MAX;
        e = rd64(m->host, (e & ~0xfffull) + 8 * ((va >> 30) & 511));
        if (!(e & X86_PTE_PRESENT))
                return UINT64_MAX;
        e = rd64(m->host, (e & ~0xfffull) + 8 * ((va >> 21) & 511));
        if (!(e & X86_PTE_PRESENT) || !(e & X86_PTE_PS) || !(e & X86_PTE_WRITE))
                return UINT64_MAX;
        return (e & ~0x1fffffull) | (va & 0x1fffff);
}

static void test_page_tables(void **state)
{
        Fixture *f = *state;
        uint64_t cr3;

        memset(f->mem.host + X86_PML4_ADDR, 0xee, 6 * 4096); /* stale contents must be cleared */
        assert_int_equal(x86_write_identity_page_tables(&f->mem, &cr3), 0);
        assert_int_equal(cr3, X86_PML4_ADDR);
        assert_int_equal(rd64(f->mem.host, X86_PML4_ADDR), X86_PDPT_ADDR | 3);
        assert_true(all_zero(f->mem.host + X86_PML4_ADDR + 8, 4096 - 8));
        for (unsigned i = 0; i < 4; i++)
                assert_int_equal(rd64(f->mem.host, X86_PDPT_ADDR + 8 * i), (X86_PD_ADDR + 4096 * i) | 3);
        assert_true(all_zero(f->mem.host + X86_PDPT_ADDR + 32, 4096 - 32));
        assert_int_equal(rd64(f->mem.host, X86_PD_ADDR + 4096 * 2 + 8 * 5), ((2ull * 512 + 5) << 21) | 0x83);

        static const uint64_t vas[] = { 0, 0x7000, 0x100200, 0x3fffffff, 0x40000000, 0xc0000000,
                                        0xfec00000, 0xfee00000, 0xffffffff };
        for (size_t i = 0; i < ELEMENTSOF(vas); i++)
                assert_int_equal(walk(&f->mem, cr3, vas[i]), vas[i]);
        assert_int_equal(walk(&f->mem, cr3, 4 * GIB), UINT64_MAX);
        assert_int_equal(walk(&f->mem, cr3, UINT64_C(1) << 39), UINT64_MAX);

        GuestMem tiny = { .host = f->mem.host, .size = 0xc000, .memfd = -1 };
        assert_int_equal(x86_write_identity_page_tables(&tiny, &cr3), -ENOSPC);
}

static void test_gdt(void **state)
{
        Fixture *f = *state;
        uint64_t base;
        uint16_t limit;
        X86Segment s;

        assert_int_equal(x86_write_boot_gdt(&f->mem, &base, &limit), 0);
        assert_int_equal(base, X86_BOOT_GDT_ADDR);
        assert_int_equal(limit, 8 * X86_BOOT_GDT_ENTRIES - 1);
        assert_int_equal(rd64(f->mem.host, base), 0);

        x86_gdt_entry_decode(rd64(f->mem.host, base + X86_BOOT_CS), X86_BOOT_CS, &s);
        assert_int_equal(s.selector, 0x10);
        assert_true(s.present && s.s && s.l && s.g && !s.db && s.dpl == 0);
        assert_int_equal(s.type, 0xb); /* execute/read, accessed */
        assert_int_equal(s.base, 0);
        assert_int_equal(s.limit, 0xffffffff);

        x86_gdt_entry_decode(rd64(f->mem.host, base + X86_BOOT_DS), X86_BOOT_DS, &s);
        assert_true(s.present && s.s && !s.l && s.db && s.g);
        assert_int_equal(s.type, 0x3); /* read/write, accessed */
        assert_int_equal(s.limit, 0xffffffff);

        x86_gdt_entry_decode(rd64(f->mem.host, base + X86_BOOT_TSS), X86_BOOT_TSS, &s);
        assert_true(s.present && !s.s);
        assert_int_equal(s.type, 0xb); /* busy 32-bit TSS */

        /* Encoding round trip with every field set. */
        x86_gdt_entry_decode(x86_gdt_entry(0x40f3, 0x12345678, 0xabcde), 0x2b, &s);
        assert_int_equal(s.base, 0x12345678);
        assert_int_equal(s.limit, 0xabcde);
        assert_int_equal(s.dpl, 3);
        assert_true(s.db && !s.g && !s.l);
        assert_int_equal(s.type, 3);
}

/* --- the full load ----------------------------------------------------------------------------- */

static void test_load(void **state)
{
        Fixture *f = *state;
        uint8_t initrd[3 * 4096 + 100];
        X86Entry e;
        const char *why = NULL;

        for (size_t i = 0; i < sizeof(initrd); i++)
                initrd[i] = (uint8_t)(i ^ 0x5a);
        f->cfg.initrd = initrd;
        f->cfg.initrd_size = sizeof(initrd);
        assert_int_equal(bzimage_load(&f->mem, &f->cfg, &e, &why), 0);

        /* Entry. */
        assert_int_equal(e.mode, X86_ENTRY_LONG64);
        assert_int_equal(e.rip, 0x100200);
        assert_int_equal(e.rsi, BZIMAGE_ZERO_PAGE_ADDR);
        assert_int_equal(e.rsp, BZIMAGE_BOOT_STACK);
        assert_int_equal(e.cr3, X86_PML4_ADDR);
        assert_int_equal(e.gdt_base, X86_BOOT_GDT_ADDR);
        assert_int_equal(e.gdt_limit, 39);
        assert_string_equal(e.format, "bzimage");

        /* Kernel copied to 1 MiB. */
        assert_memory_equal(f->mem.host + BZIMAGE_KERNEL_ADDR, f->image + (SETUP_SECTS + 1) * 512, KERNEL_PAYLOAD);

        /* Zero page: the image's header, our fields. */
        const uint8_t *zp = f->mem.host + BZIMAGE_ZERO_PAGE_ADDR;
        assert_int_equal(rd16(zp, BP_BOOT_FLAG), BZIMAGE_BOOT_FLAG);
        assert_int_equal(rd32(zp, BP_HEADER), BZIMAGE_HDRS_MAGIC);
        assert_int_equal(rd16(zp, BP_VERSION), 0x020f);
        assert_int_equal(rd16(zp, 0x1fa), 0xffff);
        assert_int_equal(rd32(zp, BP_INIT_SIZE), 4 * MIB);
        assert_int_equal(zp[BP_TYPE_OF_LOADER], 0xff);
        assert_true(zp[BP_LOADFLAGS] & BZIMAGE_LOADED_HIGH);
        assert_true(all_zero(zp, BP_E820_ENTRIES)); /* nothing before the e820 count but zeros */
        assert_true(all_zero(zp + BP_SETUP_HEADER_END, BP_E820_TABLE - BP_SETUP_HEADER_END));

        /* Command line with acpi=off. */
        assert_int_equal(rd32(zp, BP_CMD_LINE_PTR), BZIMAGE_CMDLINE_ADDR);
        assert_string_equal((const char *)f->mem.host + BZIMAGE_CMDLINE_ADDR, "console=ttyS0 acpi=off");

        /* Initrd: page aligned, as high as RAM allows, above the kernel, contents intact. */
        uint32_t rd = rd32(zp, BP_RAMDISK_IMAGE);
        assert_int_equal(rd32(zp, BP_RAMDISK_SIZE), sizeof(initrd));
        assert_int_equal(rd % 4096, 0);
        assert_true(rd + sizeof(initrd) <= RAM_SIZE);
        assert_true(rd + sizeof(initrd) + 4096 > RAM_SIZE);
        assert_true(rd >= BZIMAGE_KERNEL_ADDR + 4 * MIB);
        assert_memory_equal(f->mem.host + rd, initrd, sizeof(initrd));

        /* The e820 map in the zero page equals e820_build's. */
        E820Entry t[8];
        size_t n;
        assert_int_equal(e820_build(RAM_SIZE, t, ELEMENTSOF(t), &n), 0);
        assert_int_equal(zp[BP_E820_ENTRIES], n);
        for (size_t i = 0; i < n; i++) {
                size_t off = BP_E820_TABLE + i * BP_E820_ENTRY_SIZE;
                assert_int_equal(rd64(zp, off), t[i].addr);
                assert_int_equal(rd64(zp, off + 8), t[i].size);
                assert_int_equal(rd32(zp, off + 16), t[i].type);
        }

        /* Page tables, GDT and MP table are there. */
        assert_int_equal(rd64(f->mem.host, X86_PML4_ADDR), X86_PDPT_ADDR | 3);
        assert_true(rd64(f->mem.host, X86_BOOT_GDT_ADDR + X86_BOOT_CS) != 0);
        assert_memory_equal(f->mem.host + MPTABLE_START, "_MP_", 4);
        assert_int_equal(mptable_size(f->cfg.ncpus, f->cfg.pci_irqs, f->cfg.n_pci_irqs),
                         MP_FLOATING_SIZE + (size_t)(f->mem.host[MPTABLE_START + 20] |
                                                     f->mem.host[MPTABLE_START + 21] << 8));
        /* No boot structure overlaps another or the kernel. */
        assert_true(X86_BOOT_GDT_ADDR + 40 <= BZIMAGE_ZERO_PAGE_ADDR);
        assert_true(BZIMAGE_ZERO_PAGE_ADDR + 4096 <= BZIMAGE_BOOT_STACK);
        assert_true(BZIMAGE_BOOT_STACK <= X86_PML4_ADDR);
        assert_true(X86_PD_ADDR + 4096 * X86_PD_COUNT <= BZIMAGE_CMDLINE_ADDR);
        assert_true(BZIMAGE_CMDLINE_ADDR + BZIMAGE_CMDLINE_MAX <= MPTABLE_START);
}

static void test_load_without_initrd(void **state)
{
        Fixture *f = *state;
        X86Entry e;

        f->cfg.cmdline = NULL;
        f->cfg.ncpus = 1;
        assert_int_equal(bzimage_load(&f->mem, &f->cfg, &e, NULL), 0);
        const uint8_t *zp = f->mem.host + BZIMAGE_ZERO_PAGE_ADDR;
        assert_int_equal(rd32(zp, BP_RAMDISK_IMAGE), 0);
        assert_int_equal(rd32(zp, BP_RAMDISK_SIZE), 0);
        assert_string_equal((const char *)f->mem.host + BZIMAGE_CMDLINE_ADDR, "acpi=off");
}

static void test_cmdline(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                { NULL, "acpi=off" },
                { "", "acpi=off" },
                { "console=ttyS0", "console=ttyS0 acpi=off" },
                { "acpi=on console=ttyS0", "acpi=on console=ttyS0" },
                { "console=ttyS0 acpi=force", "console=ttyS0 acpi=force" },
                { "noacpi", "noacpi acpi=off" },
                { "xacpi=1", "xacpi=1 acpi=off" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *s = bzimage_cmdline(cases[i].in);
                assert_non_null(s);
                assert_string_equal(s, cases[i].out);
                free(s);
        }
}

static void expect_reject(Fixture *f, int error, const char *reason_part)
{
        X86Entry e;
        const char *why = NULL;
        assert_int_equal(bzimage_load(&f->mem, &f->cfg, &e, &why), error);
        assert_non_null(why);
        if (!strstr(why, reason_part))
                fail_msg("reason '%s' lacks '%s'", why, reason_part);
        /* Validation precedes every write: guest RAM is untouched. */
        assert_true(all_zero(f->mem.host, 2 * MIB));
}

static void test_rejections(void **state)
{
        Fixture *f = *state;

        f->cfg.image_size = 0x200;
        expect_reject(f, -ENOEXEC, "truncated");
        f->cfg.image_size = (SETUP_SECTS + 1) * 512;
        expect_reject(f, -ENOEXEC, "truncated");
        f->cfg.image_size = IMAGE_SIZE;

        f->image[BP_BOOT_FLAG] = 0;
        expect_reject(f, -ENOEXEC, "0xAA55");
        make_image(f->image);
        f->image[BP_HEADER] = 'X';
        expect_reject(f, -ENOEXEC, "HdrS");
        make_image(f->image);
        wr16(f->image, BP_VERSION, 0x020b);
        expect_reject(f, -ENOEXEC, "2.12");
        make_image(f->image);
        wr16(f->image, BP_XLOADFLAGS, 0x2);
        expect_reject(f, -ENOEXEC, "64-bit");
        make_image(f->image);
        f->image[BP_LOADFLAGS] = 0;
        expect_reject(f, -ENOEXEC, "zImage");
        make_image(f->image);
        f->image[BP_JUMP + 1] = 0x10; /* header ends before init_size */
        expect_reject(f, -ENOEXEC, "header too short");
        make_image(f->image);

        /* Command line longer than cmdline_size. */
        wr32(f->image, BP_CMDLINE_SIZE, 16);
        expect_reject(f, -E2BIG, "cmdline_size");
        /* "acpi=off" counts too: 13 + 9 = 22 bytes. */
        wr32(f->image, BP_CMDLINE_SIZE, 21);
        expect_reject(f, -E2BIG, "command line");
        wr32(f->image, BP_CMDLINE_SIZE, 22);
        X86Entry e;
        assert_int_equal(bzimage_load(&f->mem, &f->cfg, &e, NULL), 0);
        memset(f->mem.host, 0, 2 * MIB);
        /* Longer than our area, even if the kernel would take it. */
        wr32(f->image, BP_CMDLINE_SIZE, 0xffffffff);
        char *huge = malloc(70000);
        memset(huge, 'a', 69999);
        huge[69999] = 0;
        f->cfg.cmdline = huge;
        expect_reject(f, -E2BIG, "64 KiB");
        free(huge);
        f->cfg.cmdline = "console=ttyS0";
        make_image(f->image);

        /* RAM too small for init_size. */
        wr32(f->image, BP_INIT_SIZE, 64 * MIB);
        expect_reject(f, -ENOMEM, "too small");
        make_image(f->image);

        /* Initrd too large for the RAM, and initrd_addr_max below the kernel's end. */
        static uint8_t big_initrd[60 * MIB];
        f->cfg.initrd = big_initrd;
        f->cfg.initrd_size = sizeof(big_initrd);
        expect_reject(f, -EFBIG, "initrd");
        f->cfg.initrd_size = 4096;
        wr32(f->image, BP_INITRD_ADDR_MAX, 0x3fffff);
        expect_reject(f, -EFBIG, "initrd");
        make_image(f->image);
        f->cfg.initrd = NULL;
        expect_reject(f, -EINVAL, "initrd");
        f->cfg.initrd_size = 0;

        f->cfg.ncpus = 0;
        expect_reject(f, -EINVAL, "vCPUs");
        f->cfg.ncpus = MPTABLE_MAX_CPUS + 1;
        expect_reject(f, -EINVAL, "vCPUs");
        f->cfg.ncpus = 1;
        const PciIrqRoute bad_route[] = {{.slot = 1, .pin = 5, .irq = 10}};
        f->cfg.pci_irqs = bad_route;
        expect_reject(f, -EINVAL, "PCI interrupt route");
        f->cfg.pci_irqs = balloon_route;
        f->cfg.image = NULL;
        expect_reject(f, -EINVAL, "image");
}

static void test_detect(void **state)
{
        Fixture *f = *state;
        assert_true(bzimage_detect(f->image, IMAGE_SIZE));
        assert_false(bzimage_detect(f->image, 0x100));
        assert_false(bzimage_detect(NULL, 0));
        static const uint8_t elf[0x300] = { 0x7f, 'E', 'L', 'F' };
        assert_false(bzimage_detect(elf, sizeof(elf)));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_e820_small),
                cmocka_unit_test(test_e820_split_around_mmio_hole),
                cmocka_unit_test(test_e820_rejections),
                cmocka_unit_test_setup_teardown(test_page_tables, setup, teardown),
                cmocka_unit_test_setup_teardown(test_gdt, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_without_initrd, setup, teardown),
                cmocka_unit_test(test_cmdline),
                cmocka_unit_test_setup_teardown(test_rejections, setup, teardown),
                cmocka_unit_test_setup_teardown(test_detect, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
