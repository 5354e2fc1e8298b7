/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ELF64 + PVH note loader (see pvh.h). Everything in the image is untrusted: every offset, size and
 * address is bounds-checked with overflow-safe arithmetic before anything is copied. */
#include "vmm_backend/x86/pvh.h"

#include <elf.h>

#include "vmm_backend/macro.h"

#define FAIL(err, msg)                                                                                       \
        do {                                                                                                 \
                if (ret_error)                                                                               \
                        *ret_error = (msg);                                                                  \
                return (err);                                                                                \
        } while (0)

bool pvh_is_elf(const uint8_t *image, size_t size)
{
        return image && size >= SELFMAG && memcmp(image, ELFMAG, SELFMAG) == 0;
}

int pvh_build_memmap(uint64_t ram_size, struct hvm_memmap_table_entry *ret, size_t max)
{
        struct hvm_memmap_table_entry e[4];
        size_t n = 0;
        uint64_t low = MIN(ram_size, GUEST_MEM_LOW_END);

        if (ram_size <= PVH_KERNEL_MIN_ADDR)
                return -EINVAL;
        /* Conventional memory up to the EBDA, the legacy VGA/ROM area left out, then RAM from 1 MiB
         * to the MMIO hole and the rest from 4 GiB (guest_mem.h). */
        e[n++] = (struct hvm_memmap_table_entry){ .addr = 0, .size = PVH_EBDA_START, .type = E820_TYPE_RAM };
        e[n++] = (struct hvm_memmap_table_entry){ .addr = PVH_KERNEL_MIN_ADDR,
                                                  .size = low - PVH_KERNEL_MIN_ADDR,
                                                  .type = E820_TYPE_RAM };
        if (ram_size > low)
                e[n++] = (struct hvm_memmap_table_entry){ .addr = GUEST_HIGH_BASE,
                                                          .size = ram_size - low,
                                                          .type = E820_TYPE_RAM };
        if (n > max)
                return -ENOSPC;
        memcpy(ret, e, n * sizeof(e[0]));
        return (int)n;
}

/* Walk the notes in [p, p+len) for XEN_ELFNOTE_PHYS32_ENTRY. 1 found, 0 none, <0 malformed. */
static int find_pvh_note(const uint8_t *p, uint64_t len, uint64_t *ret_entry)
{
        uint64_t off = 0;

        while (off < len) {
                Elf64_Nhdr nh;
                if (len - off < sizeof(nh))
                        return -ENOEXEC;
                memcpy(&nh, p + off, sizeof(nh));
                off += sizeof(nh);
                uint64_t namesz = ALIGN_UP((uint64_t)nh.n_namesz, 4), descsz = ALIGN_UP((uint64_t)nh.n_descsz, 4);
                if (namesz > len - off || descsz > len - off - namesz)
                        return -ENOEXEC;
                const uint8_t *name = p + off, *desc = p + off + namesz;
                if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 && memcmp(name, "Xen", 4) == 0) {
                        if (nh.n_descsz == 4) {
                                uint32_t v;
                                memcpy(&v, desc, 4);
                                *ret_entry = v;
                        } else if (nh.n_descsz == 8) {
                                uint64_t v;
                                memcpy(&v, desc, 8);
                                *ret_entry = v;
                        } else
                                return -ENOEXEC;
                        return 1;
                }
                off += namesz + descsz;
        }
        return 0;
}

static void write_gdt(uint8_t *base)
{
        /* null, flat 32-bit code (0x08), flat 32-bit data (0x10): the PVH ABI's segments. */
        static const uint64_t gdt[3] = { 0, UINT64_C(0x00cf9b000000ffff), UINT64_C(0x00cf93000000ffff) };
        memcpy(base, gdt, sizeof(gdt));
}

int pvh_load(const GuestMem *mem, const uint8_t *image, size_t size, const PvhConfig *cfg, X86Entry *ret,
             const char **ret_error)
{
        Elf64_Ehdr eh;
        Elf64_Phdr ph[PVH_MAX_PHDRS];
        uint64_t entry = 0, kernel_end = 0, low;
        bool have_entry = false;
        size_t cmdline_len = 0;
        int r;

        if (!mem || !mem->host || !cfg || !ret)
                FAIL(-EINVAL, "invalid arguments");
        low = MIN(mem->size, GUEST_MEM_LOW_END);
        if (!image || size < sizeof(eh))
                FAIL(-ENOEXEC, "image is too short to be an ELF file");
        memcpy(&eh, image, sizeof(eh));
        if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
                FAIL(-ENOEXEC, "not an ELF file");
        if (eh.e_ident[EI_CLASS] != ELFCLASS64)
                FAIL(-ENOEXEC, "not a 64-bit ELF file");
        if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
                FAIL(-ENOEXEC, "not a little-endian ELF file");
        if (eh.e_ident[EI_VERSION] != EV_CURRENT)
                FAIL(-ENOEXEC, "unsupported ELF version");
        if (eh.e_machine != EM_X86_64)
                FAIL(-ENOEXEC, "not an x86-64 ELF file");
        if (eh.e_type != ET_EXEC)
                FAIL(-ENOEXEC, "not an executable ELF file (ET_EXEC)");
        if (eh.e_phentsize != sizeof(Elf64_Phdr))
                FAIL(-ENOEXEC, "bad ELF program header size");
        if (eh.e_phnum == 0 || eh.e_phnum > PVH_MAX_PHDRS)
                FAIL(-ENOEXEC, "bad number of ELF program headers");
        if (eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)
                FAIL(-ENOEXEC, "ELF program headers lie outside the file");
        memcpy(ph, image + eh.e_phoff, eh.e_phnum * sizeof(Elf64_Phdr));

        if (cfg->cmdline) {
                cmdline_len = strlen(cfg->cmdline);
                if (cmdline_len >= PVH_CMDLINE_MAX)
                        FAIL(-EINVAL, "kernel command line is too long");
        }
        if (low <= PVH_KERNEL_MIN_ADDR || low < PVH_CMDLINE_ADDR + PVH_CMDLINE_MAX)
                FAIL(-E2BIG, "guest RAM is too small");

        /* Pass 1: validate everything, write nothing. */
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                const Elf64_Phdr *p = &ph[i];
                if (p->p_type == PT_NOTE) {
                        if (p->p_offset > size || p->p_filesz > size - p->p_offset)
                                FAIL(-ENOEXEC, "ELF note segment lies outside the file");
                        uint64_t e;
                        r = find_pvh_note(image + p->p_offset, p->p_filesz, &e);
                        if (r < 0)
                                FAIL(-ENOEXEC, "malformed ELF note");
                        if (r > 0) {
                                if (have_entry && e != entry)
                                        FAIL(-ENOEXEC, "conflicting PVH entry notes");
                                entry = e;
                                have_entry = true;
                        }
                        continue;
                }
                if (p->p_type != PT_LOAD)
                        continue;
                if (p->p_offset > size || p->p_filesz > size - p->p_offset)
                        FAIL(-ENOEXEC, "ELF segment lies outside the file");
                if (p->p_filesz > p->p_memsz)
                        FAIL(-ENOEXEC, "ELF segment file size exceeds its memory size");
                if (p->p_memsz == 0)
                        continue;
                if (p->p_paddr < PVH_KERNEL_MIN_ADDR)
                        FAIL(-ENOEXEC, "ELF segment loads below 1 MiB");
                if (p->p_paddr + p->p_memsz < p->p_paddr || p->p_paddr + p->p_memsz > low)
                        FAIL(-E2BIG, "ELF segment lies outside guest RAM");
                for (unsigned j = 0; j < i; j++) {
                        const Elf64_Phdr *q = &ph[j];
                        if (q->p_type != PT_LOAD || q->p_memsz == 0)
                                continue;
                        if (p->p_paddr < q->p_paddr + q->p_memsz && q->p_paddr < p->p_paddr + p->p_memsz)
                                FAIL(-ENOEXEC, "ELF segments overlap");
                }
                kernel_end = MAX(kernel_end, p->p_paddr + p->p_memsz);
        }
        if (!have_entry)
                FAIL(-ENOEXEC, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) in the ELF file");
        if (kernel_end == 0)
                FAIL(-ENOEXEC, "ELF file has no loadable segment");
        /* The entry runs in 32-bit mode with paging off: it must be code inside a loaded segment. */
        bool entry_ok = false;
        for (unsigned i = 0; i < eh.e_phnum; i++)
                if (ph[i].p_type == PT_LOAD && ph[i].p_memsz > 0 && (ph[i].p_flags & PF_X) &&
                    entry >= ph[i].p_paddr && entry - ph[i].p_paddr < ph[i].p_filesz)
                        entry_ok = true;
        if (!entry_ok || entry > UINT32_MAX)
                FAIL(-ENOEXEC, "PVH entry point is not inside an executable segment");

        uint64_t initrd_addr = 0;
        if (cfg->initrd && cfg->initrd_size > 0) {
                uint64_t sz = ALIGN_UP((uint64_t)cfg->initrd_size, GUEST_PAGE_SIZE);
                uint64_t lowest = ALIGN_UP(kernel_end, GUEST_PAGE_SIZE);
                if (sz < cfg->initrd_size || sz > low || low - sz < lowest)
                        FAIL(-E2BIG, "initrd does not fit in guest RAM above the kernel");
                initrd_addr = ALIGN_DOWN(low - sz, (uint64_t)GUEST_PAGE_SIZE);
        }

        struct hvm_memmap_table_entry mm[PVH_MEMMAP_MAX];
        r = pvh_build_memmap(mem->size, mm, ELEMENTSOF(mm));
        if (r < 0)
                FAIL(r, "cannot build the memory map");
        unsigned n_mm = (unsigned)r;

        /* Pass 2: write. */
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                const Elf64_Phdr *p = &ph[i];
                if (p->p_type != PT_LOAD || p->p_memsz == 0)
                        continue;
                uint8_t *dst = guest_mem_ptr(mem, p->p_paddr, p->p_memsz);
                if (!dst)
                        FAIL(-E2BIG, "ELF segment lies outside guest RAM");
                memcpy(dst, image + p->p_offset, p->p_filesz);
                if (!cfg->ram_is_zeroed)
                        memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
        }

        write_gdt(guest_mem_ptr(mem, PVH_GDT_ADDR, 24));

        struct hvm_start_info si = {
                .magic = PVH_START_INFO_MAGIC,
                .version = PVH_START_INFO_VERSION,
                .memmap_paddr = PVH_MEMMAP_ADDR,
                .memmap_entries = n_mm,
        };
        memcpy(guest_mem_ptr(mem, PVH_MEMMAP_ADDR, n_mm * sizeof(mm[0])), mm, n_mm * sizeof(mm[0]));
        if (cmdline_len > 0) {
                memcpy(guest_mem_ptr(mem, PVH_CMDLINE_ADDR, cmdline_len + 1), cfg->cmdline, cmdline_len + 1);
                si.cmdline_paddr = PVH_CMDLINE_ADDR;
        }
        if (initrd_addr) {
                memcpy(guest_mem_ptr(mem, initrd_addr, cfg->initrd_size), cfg->initrd, cfg->initrd_size);
                struct hvm_modlist_entry mod = { .paddr = initrd_addr, .size = cfg->initrd_size };
                memcpy(guest_mem_ptr(mem, PVH_MODLIST_ADDR, sizeof(mod)), &mod, sizeof(mod));
                si.nr_modules = 1;
                si.modlist_paddr = PVH_MODLIST_ADDR;
        }
        memcpy(guest_mem_ptr(mem, PVH_START_INFO_ADDR, sizeof(si)), &si, sizeof(si));

        *ret = (X86Entry){
                .mode = X86_ENTRY_PROTECTED32,
                .rip = entry,
                .rbx = PVH_START_INFO_ADDR,
                .gdt_base = PVH_GDT_ADDR,
                .gdt_limit = 3 * 8 - 1,
                .format = "elf-pvh",
        };
        return 0;
}
