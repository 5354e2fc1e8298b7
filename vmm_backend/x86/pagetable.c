/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Identity page tables and the boot GDT. */
#include "vmm_backend/x86/pagetable.h"

#include <errno.h>
#include <string.h>

uint64_t x86_gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
        return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
               ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
               (uint64_t)(limit & 0x0000ffffu);
}

void x86_gdt_entry_decode(uint64_t e, uint16_t selector, X86Segment *ret)
{
        uint32_t limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000));
        uint8_t g = (e >> 55) & 1;
        *ret = (X86Segment){
                .base = ((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000u),
                .limit = g ? (limit << 12) | 0xfff : limit,
                .selector = selector,
                .type = (e >> 40) & 0xf,
                .s = (e >> 44) & 1,
                .dpl = (e >> 45) & 3,
                .present = (e >> 47) & 1,
                .avl = (e >> 52) & 1,
                .l = (e >> 53) & 1,
                .db = (e >> 54) & 1,
                .g = g,
        };
}

static void put64(uint8_t *p, uint64_t v)
{
        memcpy(p, &v, sizeof(v)); /* x86 guests are little-endian, as is the host */
}

int x86_write_identity_page_tables(const GuestMem *m, uint64_t *ret_cr3)
{
        uint8_t *pml4 = guest_mem_ptr(m, X86_PML4_ADDR, 4096);
        uint8_t *pdpt = guest_mem_ptr(m, X86_PDPT_ADDR, 4096);
        uint8_t *pd = guest_mem_ptr(m, X86_PD_ADDR, 4096 * X86_PD_COUNT);
        if (!pml4 || !pdpt || !pd)
                return -ENOSPC;

        memset(pml4, 0, 4096);
        memset(pdpt, 0, 4096);
        memset(pd, 0, 4096 * X86_PD_COUNT);
        put64(pml4, X86_PDPT_ADDR | X86_PTE_PRESENT | X86_PTE_WRITE);
        for (unsigned i = 0; i < X86_PD_COUNT; i++) {
                put64(pdpt + 8 * i, (X86_PD_ADDR + 4096 * i) | X86_PTE_PRESENT | X86_PTE_WRITE);
                for (unsigned j = 0; j < 512; j++) {
                        uint64_t page = ((uint64_t)i * 512 + j) << 21;
                        put64(pd + 4096 * i + 8 * j, page | X86_PTE_PRESENT | X86_PTE_WRITE | X86_PTE_PS);
                }
        }
        *ret_cr3 = X86_PML4_ADDR;
        return 0;
}

int x86_write_boot_gdt(const GuestMem *m, uint64_t *ret_base, uint16_t *ret_limit)
{
        const uint64_t gdt[X86_BOOT_GDT_ENTRIES] = {
                0,
                0,
                x86_gdt_entry(0xa09b, 0, 0xfffff), /* 0x10: 64-bit code, present, execute/read, G */
                x86_gdt_entry(0xc093, 0, 0xfffff), /* 0x18: 32-bit flat data, read/write, G */
                x86_gdt_entry(0x808b, 0, 0xfffff), /* 0x20: busy 32-bit TSS (KVM wants a valid TR) */
        };
        uint8_t *p = guest_mem_ptr(m, X86_BOOT_GDT_ADDR, sizeof(gdt));
        if (!p)
                return -ENOSPC;
        for (unsigned i = 0; i < X86_BOOT_GDT_ENTRIES; i++)
                put64(p + 8 * i, gdt[i]);
        *ret_base = X86_BOOT_GDT_ADDR;
        *ret_limit = sizeof(gdt) - 1;
        return 0;
}
