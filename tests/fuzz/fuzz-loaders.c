/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the kernel loaders (vmm_backend/x86/pvh.c: ELF64 + PVH note; bzimage.c: Linux
 * boot protocol) over fuzzed images into a small malloc'ed guest RAM.
 * Input: byte 0 picks the loader (even: PVH, odd: bzImage) and, from its other bits, whether a
 * cmdline and an initrd are passed; the rest is the image. Invariants: a refusal is one of the
 * documented errnos with a reason and leaves guest RAM untouched (PVH); a load returns an entry
 * inside guest RAM with the loader's format. Memory safety is ASan's (`make fuzz`, ASAN=1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <elf.h>

#include "tests/fuzz/fuzz-common.h"
#include "vmm_backend/macro.h"
#include "vmm_backend/x86/bzimage.h"
#include "vmm_backend/x86/pvh.h"

const FuzzTarget fuzz_target = { .name = "fuzz-loaders", .iterations = 3000, .max_len = 0x3000 };

#define RAM_SIZE (8u * 1024u * 1024u)

static uint8_t *ram, *copy;

static void fuzz_pvh(const GuestMem *mem, const uint8_t *img, size_t size, const PvhConfig *cfg)
{
        const char *why = NULL;
        X86Entry e = {};
        int r;

        memset(ram, 0xcc, 2u * 1024u * 1024u); /* only the low 2 MiB are compared: loads go there */
        memcpy(copy, ram, 2u * 1024u * 1024u);
        r = pvh_load(mem, img, size, cfg, &e, &why);
        if (r < 0) {
                fuzz_check(r == -ENOEXEC || r == -E2BIG || r == -EINVAL, "pvh: unexpected error");
                fuzz_check(why && *why, "pvh: refusal without a reason");
                fuzz_check(memcmp(copy, ram, 2u * 1024u * 1024u) == 0, "pvh: a refused image changed guest RAM");
                return;
        }
        fuzz_check(r == 0, "pvh: positive return");
        fuzz_check(pvh_is_elf(img, size), "pvh: loaded a non-ELF image");
        fuzz_check(e.rip < RAM_SIZE && e.rbx == PVH_START_INFO_ADDR, "pvh: entry outside RAM");
        fuzz_check(e.format && streq(e.format, "elf-pvh"), "pvh: wrong format");
}

static void fuzz_bzimage(const GuestMem *mem, const uint8_t *img, size_t size, const char *cmdline,
                         const uint8_t *initrd, size_t initrd_size)
{
        BzImageConfig cfg = { .image = img, .image_size = size, .cmdline = cmdline, .initrd = initrd,
                              .initrd_size = initrd_size, .ncpus = 2 };
        const char *why = NULL;
        X86Entry e = {};
        int r;

        r = bzimage_load(mem, &cfg, &e, &why);
        if (r < 0) {
                fuzz_check(r == -ENOEXEC || r == -E2BIG || r == -EFBIG || r == -ENOMEM || r == -EINVAL,
                           "bzimage: unexpected error");
                fuzz_check(why && *why, "bzimage: refusal without a reason");
                return;
        }
        fuzz_check(r == 0, "bzimage: positive return");
        fuzz_check(bzimage_detect(img, size), "bzimage: loaded an image detect() refuses");
        fuzz_check(e.rip == BZIMAGE_KERNEL_ADDR + 0x200 && e.rsi == BZIMAGE_ZERO_PAGE_ADDR, "bzimage: wrong entry");
        fuzz_check(e.format && streq(e.format, "bzimage"), "bzimage: wrong format");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t initrd[3000] = { [0] = 1, [2999] = 2 };
        GuestMem mem = { .size = RAM_SIZE, .memfd = -1 };
        uint8_t mode;

        if (size < 1)
                return 0;
        if (!ram) {
                ram = malloc(RAM_SIZE);
                copy = malloc(2u * 1024u * 1024u);
                fuzz_check(ram && copy, "malloc");
        }
        mem.host = ram;
        mode = data[0];
        data++, size--;
        const char *cmdline = mode & 2 ? "console=ttyS0 root=/dev/vda" : NULL;
        const uint8_t *rd = mode & 4 ? initrd : NULL;
        size_t rd_size = mode & 4 ? sizeof(initrd) : 0;

        if (mode & 1)
                fuzz_bzimage(&mem, data, size, cmdline, rd, rd_size);
        else
                fuzz_pvh(&mem, data, size, &(PvhConfig){ .cmdline = cmdline, .initrd = rd, .initrd_size = rd_size });
        return 0;
}

/* --- seeds ------------------------------------------------------------------------------------- */

static void wr16(uint8_t *p, size_t off, uint16_t v)
{
        memcpy(p + off, &v, 2);
}

static void wr32(uint8_t *p, size_t off, uint32_t v)
{
        memcpy(p + off, &v, 4);
}

/* An ELF64 with one PT_LOAD at 1 MiB and a PT_NOTE carrying the PVH entry (4 or 8 bytes). */
static size_t make_pvh(uint8_t *b, bool note8, unsigned nloads)
{
        Elf64_Ehdr *eh = (Elf64_Ehdr *)(void *)b;
        Elf64_Phdr *ph = (Elf64_Phdr *)(void *)(b + sizeof(*eh));
        size_t note_off = 0x200, code_off = 0x400;
        uint64_t entry = 0x100010;
        Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = note8 ? 8 : 4, .n_type = 18 /* XEN_ELFNOTE_PHYS32_ENTRY */ };

        memset(b, 0, 0x1000);
        memcpy(eh->e_ident, ELFMAG, SELFMAG);
        eh->e_ident[EI_CLASS] = ELFCLASS64;
        eh->e_ident[EI_DATA] = ELFDATA2LSB;
        eh->e_ident[EI_VERSION] = EV_CURRENT;
        eh->e_type = ET_EXEC;
        eh->e_machine = EM_X86_64;
        eh->e_version = EV_CURRENT;
        eh->e_phoff = sizeof(*eh);
        eh->e_phentsize = sizeof(Elf64_Phdr);
        eh->e_phnum = (Elf64_Half)(1 + nloads);
        eh->e_ehsize = sizeof(*eh);
        memcpy(b + note_off, &nh, sizeof(nh));
        memcpy(b + note_off + sizeof(nh), "Xen", 4);
        memcpy(b + note_off + sizeof(nh) + 4, &entry, note8 ? 8 : 4);
        ph[0] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = note_off, .p_filesz = sizeof(nh) + 4 + (note8 ? 8 : 4),
                              .p_align = 4 };
        for (unsigned i = 0; i < nloads; i++)
                ph[1 + i] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = code_off + 0x100 * i,
                                          .p_paddr = 0x100000 + 0x4000 * i, .p_vaddr = 0x100000 + 0x4000 * i,
                                          .p_filesz = 0x100, .p_memsz = 0x3000, .p_align = 0x1000 };
        for (size_t i = 0; i < 0x100 * nloads; i++)
                b[code_off + i] = (uint8_t)(0x90 + (i & 1));
        return code_off + 0x100 * nloads;
}

/* A bzImage header for the 64-bit boot protocol with 4 setup sectors and a small payload. */
static size_t make_bzimage(uint8_t *b, uint16_t version, uint32_t init_size)
{
        size_t size = 5 * 512 + 0x800;

        memset(b, 0, size);
        b[BP_SETUP_SECTS] = 4;
        wr16(b, BP_BOOT_FLAG, BZIMAGE_BOOT_FLAG);
        b[BP_JUMP] = 0xeb;
        b[BP_JUMP + 1] = 0x66;
        wr32(b, BP_HEADER, BZIMAGE_HDRS_MAGIC);
        wr16(b, BP_VERSION, version);
        b[BP_LOADFLAGS] = BZIMAGE_LOADED_HIGH;
        wr32(b, BP_CODE32_START, 0x100000);
        wr32(b, BP_INITRD_ADDR_MAX, 0x7fffffff);
        wr32(b, BP_KERNEL_ALIGNMENT, 0x200000);
        b[BP_RELOCATABLE] = 1;
        wr16(b, BP_XLOADFLAGS, BZIMAGE_XLF_KERNEL_64 | 0x2);
        wr32(b, BP_CMDLINE_SIZE, 2047);
        wr32(b, BP_PREF_ADDRESS, 0x1000000);
        wr32(b, BP_INIT_SIZE, init_size);
        for (size_t i = 5 * 512; i < size; i++)
                b[i] = (uint8_t)(i * 7 + 1);
        return size;
}

void fuzz_seeds(FuzzSeeds *s)
{
        static uint8_t img[0x3000] __attribute__((aligned(8))), buf[0x3001];
        size_t n;

        for (uint8_t mode = 0; mode < 8; mode++) {
                if (mode & 1)
                        n = make_bzimage(img, mode == 1 ? 0x020c : 0x020f, mode == 7 ? 64u << 20 : 1u << 20);
                else
                        n = make_pvh(img, mode & 2, 1 + mode / 4);
                buf[0] = mode;
                memcpy(buf + 1, img, n);
                fuzz_seed_add(s, buf, n + 1);
        }
}
