/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest RAM: one memfd mapped MAP_SHARED once in the VMM. Guest-physical layout: RAM from 0 up to
 * GUEST_MEM_LOW_END, then (for larger guests) the rest from 4 GiB. The gap [3 GiB, 4 GiB) holds
 * MMIO (PCI BARs at GUEST_MMIO_BASE, other devices above). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define GUEST_PAGE_SIZE 4096u
#define GUEST_MEM_LOW_END (UINT64_C(3) << 30)
#define GUEST_HIGH_BASE (UINT64_C(4) << 30)
#define GUEST_MMIO_BASE UINT64_C(0xc0000000)
#define GUEST_MMIO_SIZE UINT64_C(0x20000000) /* [3 GiB, 3.5 GiB): PCI BARs */
#define GUEST_MMIO_DEV_BASE UINT64_C(0xe0000000) /* [3.5 GiB, 4 GiB) minus the top: platform MMIO */

typedef struct GuestMem {
        uint8_t *host;  /* mapping of the whole memfd, size bytes */
        uint64_t size;  /* total RAM bytes */
        int memfd;
} GuestMem;

/* Offset into the memfd/mapping of guest-physical gpa, or -1 if [gpa, gpa+len) is not all RAM. */
static inline int64_t guest_mem_offset(const GuestMem *m, uint64_t gpa, uint64_t len)
{
        uint64_t low = m->size < GUEST_MEM_LOW_END ? m->size : GUEST_MEM_LOW_END;
        if (len > m->size || gpa + len < gpa)
                return -1;
        if (gpa + len <= low)
                return (int64_t)gpa;
        if (gpa >= GUEST_HIGH_BASE && gpa - GUEST_HIGH_BASE + len <= m->size - low)
                return (int64_t)(gpa - GUEST_HIGH_BASE + low);
        return -1;
}

/* Host pointer for [gpa, gpa+len), or NULL when any byte is outside guest RAM. */
static inline void *guest_mem_ptr(const GuestMem *m, uint64_t gpa, uint64_t len)
{
        int64_t off = guest_mem_offset(m, gpa, len);
        return off < 0 ? (void *)0 : m->host + off;
}
