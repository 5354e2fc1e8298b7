/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the PVH ELF loader (vmm_backend/x86/pvh.c) on a plain buffer as guest RAM: the
 * start_info, memory map, cmdline and module it writes, the copied segments, and the rejection of
 * bad images without touching guest RAM. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/x86/pvh.h"

#define RAM_SIZE (16 * MIB)
#define LOAD_ADDR 0x100000
#define ENTRY_ADDR (LOAD_ADDR + 0x10)

/* A minimal image: header, two program headers (PT_LOAD, PT_NOTE), the note, the code. */
typedef struct Image {
        uint8_t bytes[4096];
        size_t size;
        Elf64_Ehdr *eh;
        Elf64_Phdr *load, *note;
} Image;

static void build_image(Image *img, uint32_t note_type, uint64_t entry, bool note_8_bytes)
{
        memset(img, 0, sizeof(*img));
        Elf64_Ehdr *eh = (Elf64_Ehdr *)img->bytes;
        memcpy(eh->e_ident, ELFMAG, SELFMAG);
        eh->e_ident[EI_CLASS] = ELFCLASS64;
        eh->e_ident[EI_DATA] = ELFDATA2LSB;
        eh->e_ident[EI_VERSION] = EV_CURRENT;
        eh->e_type = ET_EXEC;
        eh->e_machine = EM_X86_64;
        eh->e_version = EV_CURRENT;
        eh->e_phoff = sizeof(Elf64_Ehdr);
        eh->e_phentsize = sizeof(Elf64_Phdr);
        eh->e_phnum = 2;
        eh->e_ehsize = sizeof(Elf64_Ehdr);

        Elf64_Phdr *ph = (Elf64_Phdr *)(img->bytes + eh->e_phoff);
        size_t note_off = 0x200, code_off = 0x400;

        /* The note: namesz 4 "Xen\0", descsz 4 or 8, type. */
        uint8_t *n = img->bytes + note_off;
        Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = note_8_bytes ? 8 : 4, .n_type = note_type };
        memcpy(n, &nh, sizeof(nh));
        memcpy(n + sizeof(nh), "Xen", 4);
        memcpy(n + sizeof(nh) + 4, &entry, note_8_bytes ? 8 : 4);
        size_t note_size = sizeof(nh) + 4 + (note_8_bytes ? 8 : 4);

        for (int i = 0; i < 0x100; i++)
                img->bytes[code_off + i] = (uint8_t)(0x90 + (i & 1)); /* recognisable bytes */

        ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = code_off,
                              .p_vaddr = LOAD_ADDR, .p_paddr = LOAD_ADDR, .p_filesz = 0x100,
                              .p_memsz = 0x3000, .p_align = 0x1000 };
        ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_flags = PF_R, .p_offset = note_off, .p_filesz = note_size,
                              .p_align = 4 };
        img->eh = eh;
        img->load = &ph[0];
        img->note = &ph[1];
        img->size = code_off + 0x100;
}

typedef struct Fixture {
        GuestMem mem;
        Image img;
} Fixture;

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->mem.size = RAM_SIZE;
        f->mem.host = malloc(RAM_SIZE);
        assert_non_null(f->mem.host);
        memset(f->mem.host, 0xcc, RAM_SIZE); /* not zero: the loader must zero BSS itself */
        f->mem.memfd = -1;
        build_image(&f->img, XEN_ELFNOTE_PHYS32_ENTRY, ENTRY_ADDR, false);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        free(f->mem.host);
        free(f);
        return 0;
}

static void test_load_ok(void **state)
{
        Fixture *f = *state;
        static const uint8_t initrd[5000] = { [0] = 0x42, [4999] = 0x24 };
        PvhConfig cfg = { .cmdline = "console=ttyS0 mode=test", .initrd = initrd, .initrd_size = sizeof(initrd) };
        X86Entry e;
        const char *why = NULL;

        assert_true(pvh_is_elf(f->img.bytes, f->img.size));
        assert_int_equal(pvh_load(&f->mem, f->img.bytes, f->img.size, &cfg, &e, &why), 0);
        assert_null(why);
        assert_int_equal(e.mode, X86_ENTRY_PROTECTED32);
        assert_int_equal(e.rip, ENTRY_ADDR);
        assert_int_equal(e.rbx, PVH_START_INFO_ADDR);
        assert_int_equal(e.gdt_base, PVH_GDT_ADDR);
        assert_int_equal(e.gdt_limit, 23);
        assert_string_equal(e.format, "elf-pvh");

        /* Segment copied, BSS zeroed. */
        uint8_t *seg = f->mem.host + LOAD_ADDR;
        assert_memory_equal(seg, f->img.bytes + 0x400, 0x100);
        for (size_t i = 0x100; i < 0x3000; i++)
                assert_int_equal(seg[i], 0);

        /* GDT: null, flat code32 at 0x08, flat data32 at 0x10. */
        uint64_t gdt[3];
        memcpy(gdt, f->mem.host + PVH_GDT_ADDR, sizeof(gdt));
        assert_int_equal(gdt[0], 0);
        assert_int_equal(gdt[1], UINT64_C(0x00cf9b000000ffff));
        assert_int_equal(gdt[2], UINT64_C(0x00cf93000000ffff));

        struct hvm_start_info si;
        memcpy(&si, f->mem.host + PVH_START_INFO_ADDR, sizeof(si));
        assert_int_equal(sizeof(si), 56);
        assert_int_equal(si.magic, PVH_START_INFO_MAGIC);
        assert_int_equal(si.version, 1);
        assert_int_equal(si.flags, 0);
        assert_int_equal(si.rsdp_paddr, 0);
        assert_int_equal(si.cmdline_paddr, PVH_CMDLINE_ADDR);
        assert_string_equal((char *)f->mem.host + PVH_CMDLINE_ADDR, "console=ttyS0 mode=test");

        assert_int_equal(si.memmap_paddr, PVH_MEMMAP_ADDR);
        assert_int_equal(si.memmap_entries, 2);
        struct hvm_memmap_table_entry mm[2];
        memcpy(mm, f->mem.host + PVH_MEMMAP_ADDR, sizeof(mm));
        assert_int_equal(mm[0].addr, 0);
        assert_int_equal(mm[0].size, PVH_EBDA_START);
        assert_int_equal(mm[0].type, E820_TYPE_RAM);
        assert_int_equal(mm[1].addr, 0x100000);
        assert_int_equal(mm[1].size, RAM_SIZE - 0x100000);
        assert_int_equal(mm[1].type, E820_TYPE_RAM);

        /* The initrd is module 0, page aligned at the top of RAM. */
        assert_int_equal(si.nr_modules, 1);
        assert_int_equal(si.modlist_paddr, PVH_MODLIST_ADDR);
        struct hvm_modlist_entry mod;
        memcpy(&mod, f->mem.host + PVH_MODLIST_ADDR, sizeof(mod));
        assert_int_equal(mod.size, sizeof(initrd));
        assert_int_equal(mod.paddr % 4096, 0);
        assert_true(mod.paddr + mod.size <= RAM_SIZE);
        assert_true(mod.paddr >= LOAD_ADDR + 0x3000);
        assert_memory_equal(f->mem.host + mod.paddr, initrd, sizeof(initrd));
}

static void test_load_no_cmdline_8byte_note(void **state)
{
        Fixture *f = *state;
        PvhConfig cfg = { .ram_is_zeroed = true };
        X86Entry e;

        build_image(&f->img, XEN_ELFNOTE_PHYS32_ENTRY, ENTRY_ADDR + 4, true);
        assert_int_equal(pvh_load(&f->mem, f->img.bytes, f->img.size, &cfg, &e, NULL), 0);
        assert_int_equal(e.rip, ENTRY_ADDR + 4);
        struct hvm_start_info si;
        memcpy(&si, f->mem.host + PVH_START_INFO_ADDR, sizeof(si));
        assert_int_equal(si.cmdline_paddr, 0);
        assert_int_equal(si.nr_modules, 0);
        /* ram_is_zeroed: the BSS part is left as it was. */
        assert_int_equal(f->mem.host[LOAD_ADDR + 0x200], 0xcc);
}

static void test_memmap_layouts(void **state)
{
        struct hvm_memmap_table_entry mm[PVH_MEMMAP_MAX];

        assert_int_equal(pvh_build_memmap(4 * GIB, mm, ELEMENTSOF(mm)), 3);
        assert_int_equal(mm[1].addr + mm[1].size, GUEST_MEM_LOW_END);
        assert_int_equal(mm[2].addr, GUEST_HIGH_BASE);
        assert_int_equal(mm[2].size, 1 * GIB);
        assert_int_equal(mm[2].type, E820_TYPE_RAM);
        assert_int_equal(pvh_build_memmap(3 * GIB, mm, ELEMENTSOF(mm)), 2);
        assert_int_equal(pvh_build_memmap(4 * GIB, mm, 2), -ENOSPC);
        assert_int_equal(pvh_build_memmap(MIB, mm, ELEMENTSOF(mm)), -EINVAL);
}

/* Each bad image is refused with -ENOEXEC or -E2BIG and a reason, and guest RAM stays untouched. */
static void expect_reject(Fixture *f, int want, const char *reason_part)
{
        PvhConfig cfg = { 0 };
        X86Entry e;
        const char *why = NULL;
        uint8_t *copy = malloc(RAM_SIZE);
        assert_non_null(copy);
        memcpy(copy, f->mem.host, RAM_SIZE);

        int r = pvh_load(&f->mem, f->img.bytes, f->img.size, &cfg, &e, &why);
        assert_int_equal(r, want);
        assert_non_null(why);
        if (!strstr(why, reason_part))
                fail_msg("reason '%s' does not mention '%s'", why, reason_part);
        assert_memory_equal(copy, f->mem.host, RAM_SIZE);
        free(copy);
}

static void test_reject_truncated(void **state)
{
        Fixture *f = *state;
        size_t full = f->img.size;

        f->img.size = 10;
        expect_reject(f, -ENOEXEC, "too short");
        f->img.size = sizeof(Elf64_Ehdr) + 10; /* program headers cut */
        expect_reject(f, -ENOEXEC, "program headers");
        f->img.size = 0x300; /* segment data cut */
        expect_reject(f, -ENOEXEC, "outside the file");
        f->img.size = full;
        f->img.note->p_filesz = 7; /* note header cut */
        expect_reject(f, -ENOEXEC, "malformed");
}

static void test_reject_wrong_kind(void **state)
{
        Fixture *f = *state;

        f->img.bytes[0] = 0;
        expect_reject(f, -ENOEXEC, "not an ELF");
        f->img.bytes[0] = ELFMAG0;
        f->img.eh->e_ident[EI_CLASS] = ELFCLASS32;
        expect_reject(f, -ENOEXEC, "64-bit");
        f->img.eh->e_ident[EI_CLASS] = ELFCLASS64;
        f->img.eh->e_machine = EM_AARCH64;
        expect_reject(f, -ENOEXEC, "x86-64");
        f->img.eh->e_machine = EM_X86_64;
        f->img.eh->e_type = ET_DYN;
        expect_reject(f, -ENOEXEC, "executable");
        f->img.eh->e_type = ET_EXEC;
        f->img.eh->e_phentsize = 20;
        expect_reject(f, -ENOEXEC, "header size");
        f->img.eh->e_phentsize = sizeof(Elf64_Phdr);
        f->img.eh->e_phnum = 1000;
        expect_reject(f, -ENOEXEC, "number of ELF program headers");
}

static void test_reject_bad_segments(void **state)
{
        Fixture *f = *state;

        f->img.load->p_paddr = RAM_SIZE - 0x1000; /* memsz 0x3000 runs past the end */
        expect_reject(f, -E2BIG, "outside guest RAM");
        f->img.load->p_paddr = UINT64_MAX - 0x1000; /* wraps */
        expect_reject(f, -E2BIG, "outside guest RAM");
        f->img.load->p_paddr = 0x1000;
        expect_reject(f, -ENOEXEC, "below 1 MiB");
        f->img.load->p_paddr = LOAD_ADDR;
        f->img.load->p_filesz = 0x4000; /* more file than memory */
        expect_reject(f, -ENOEXEC, "outside the file");
        f->img.load->p_filesz = 0x100;
        f->img.load->p_memsz = 0x80;
        expect_reject(f, -ENOEXEC, "exceeds its memory size");
        f->img.load->p_memsz = 0x3000;

        /* A second PT_LOAD overlapping the first. */
        f->img.eh->e_phnum = 3;
        Elf64_Phdr *extra = f->img.note + 1;
        *extra = *f->img.load;
        extra->p_paddr = LOAD_ADDR + 0x2000;
        expect_reject(f, -ENOEXEC, "overlap");
}

static void test_reject_bad_notes(void **state)
{
        Fixture *f = *state;

        build_image(&f->img, 17, ENTRY_ADDR, false); /* some other Xen note */
        expect_reject(f, -ENOEXEC, "no PVH entry note");
        build_image(&f->img, XEN_ELFNOTE_PHYS32_ENTRY, ENTRY_ADDR, false);
        f->img.note->p_type = PT_NULL; /* note segment gone */
        expect_reject(f, -ENOEXEC, "no PVH entry note");
        build_image(&f->img, XEN_ELFNOTE_PHYS32_ENTRY, 0x50000, false); /* entry not in a segment */
        expect_reject(f, -ENOEXEC, "entry point");
        build_image(&f->img, XEN_ELFNOTE_PHYS32_ENTRY, ENTRY_ADDR, false);
        f->img.load->p_flags = PF_R; /* entry in a non-executable segment */
        expect_reject(f, -ENOEXEC, "entry point");
        build_image(&f->img, XEN_ELFNOTE_PHYS32_ENTRY, ENTRY_ADDR, false);
        Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 0x7fffffff, .n_type = XEN_ELFNOTE_PHYS32_ENTRY };
        memcpy(f->img.bytes + 0x200, &nh, sizeof(nh)); /* descriptor size past the segment */
        expect_reject(f, -ENOEXEC, "malformed");
}

static void test_reject_bad_config(void **state)
{
        Fixture *f = *state;
        char *long_cmdline = malloc(PVH_CMDLINE_MAX + 1);
        assert_non_null(long_cmdline);
        memset(long_cmdline, 'a', PVH_CMDLINE_MAX);
        long_cmdline[PVH_CMDLINE_MAX] = 0;
        PvhConfig cfg = { .cmdline = long_cmdline };
        X86Entry e;
        const char *why = NULL;

        assert_int_equal(pvh_load(&f->mem, f->img.bytes, f->img.size, &cfg, &e, &why), -EINVAL);
        assert_non_null(strstr(why, "command line"));
        free(long_cmdline);

        static uint8_t big[1];
        cfg = (PvhConfig){ .initrd = big, .initrd_size = RAM_SIZE };
        assert_int_equal(pvh_load(&f->mem, f->img.bytes, f->img.size, &cfg, &e, &why), -E2BIG);
        assert_non_null(strstr(why, "initrd"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_load_ok, setup, teardown),
                cmocka_unit_test_setup_teardown(test_load_no_cmdline_8byte_note, setup, teardown),
                cmocka_unit_test(test_memmap_layouts),
                cmocka_unit_test_setup_teardown(test_reject_truncated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reject_wrong_kind, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reject_bad_segments, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reject_bad_notes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reject_bad_config, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
