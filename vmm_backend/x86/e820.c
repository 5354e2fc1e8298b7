/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest e820 memory map. */
#include "vmm_backend/x86/e820.h"

#include <errno.h>

#include "vmm_backend/guest_mem.h"

int e820_build(uint64_t ram_size, E820Entry *table, size_t max, size_t *ret_n)
{
        E820Entry t[5];
        size_t n = 0;

        if (!table || !ret_n || ram_size <= E820_HIMEM_START || ram_size % GUEST_PAGE_SIZE)
                return -EINVAL;

        uint64_t low_end = ram_size < GUEST_MEM_LOW_END ? ram_size : GUEST_MEM_LOW_END;
        t[n++] = (E820Entry){ 0, E820_EBDA_START, E820_RAM };
        t[n++] = (E820Entry){ E820_EBDA_START, E820_VGA_START - E820_EBDA_START, E820_RESERVED };
        t[n++] = (E820Entry){ E820_BIOS_START, E820_HIMEM_START - E820_BIOS_START, E820_RESERVED };
        t[n++] = (E820Entry){ E820_HIMEM_START, low_end - E820_HIMEM_START, E820_RAM };
        /* The [3 GiB, 4 GiB) hole is left out of the map: it is MMIO (guest_mem.h). */
        if (ram_size > low_end)
                t[n++] = (E820Entry){ GUEST_HIGH_BASE, ram_size - low_end, E820_RAM };

        if (n > max)
                return -ENOBUFS;
        for (size_t i = 0; i < n; i++)
                table[i] = t[i];
        *ret_n = n;
        return 0;
}
