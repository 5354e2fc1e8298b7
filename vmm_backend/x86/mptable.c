/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MP table writer (MP spec 1.4), byte by byte so the layout does not depend on struct packing. */
#include "vmm_backend/x86/mptable.h"

#include <errno.h>
#include <string.h>

#define MP_PROCESSOR_SIZE 20
#define MP_SMALL_ENTRY_SIZE 8
#define MP_SPEC_REV 4
#define MP_APIC_VERSION 0x14 /* integrated local APIC */
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_ENABLED 0x01
#define MP_CPU_BSP 0x02
#define MP_CPU_SIGNATURE 0x600 /* family 6; informational only */
#define MP_CPU_FEATURES 0x201  /* FPU | APIC */
#define MP_LINT_ALL 0xff       /* destination: every local APIC */

/* The IOAPIC pins the PCI routes use (their ISA entries are left out), or -EINVAL for a bad route. */
static int64_t pci_pins(const PciIrqRoute *pci, size_t npci)
{
        uint32_t pins = 0;
        if (npci > PCI_MAX_SLOTS * 4 || (npci && !pci))
                return -EINVAL;
        for (size_t i = 0; i < npci; i++) {
                if (pci[i].slot >= PCI_MAX_SLOTS || pci[i].pin < 1 || pci[i].pin > 4 ||
                    pci[i].irq >= MP_IRQ_LINES)
                        return -EINVAL;
                pins |= UINT32_C(1) << pci[i].irq;
        }
        return pins;
}

int mptable_validate(unsigned ncpus, const PciIrqRoute *pci, size_t npci)
{
        if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS || pci_pins(pci, npci) < 0)
                return -EINVAL;
        return 0;
}

/* pins: the IOAPIC pins the PCI routes use, which get no ISA entry. */
static size_t table_size(unsigned ncpus, size_t npci, uint32_t pins)
{
        size_t isa = MP_IRQ_LINES - (size_t)__builtin_popcount(pins);
        return MP_FLOATING_SIZE + MP_HEADER_SIZE + (size_t)ncpus * MP_PROCESSOR_SIZE +
               MP_SMALL_ENTRY_SIZE * (2 /* buses */ + 1 /* ioapic */ + npci + isa + 2 /* LINT0, LINT1 */);
}

size_t mptable_size(unsigned ncpus, const PciIrqRoute *pci, size_t npci)
{
        int64_t pins = pci_pins(pci, npci);
        return table_size(ncpus, npci, pins < 0 ? 0 : (uint32_t)pins);
}

typedef struct Writer {
        uint8_t *p;
        size_t pos;
} Writer;

static void w8(Writer *w, uint8_t v)
{
        w->p[w->pos++] = v;
}

static void w16(Writer *w, uint16_t v)
{
        w8(w, v & 0xff);
        w8(w, v >> 8);
}

static void w32(Writer *w, uint32_t v)
{
        w16(w, v & 0xffff);
        w16(w, v >> 16);
}

static void wbytes(Writer *w, const char *s, size_t n)
{
        memcpy(w->p + w->pos, s, n);
        w->pos += n;
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
        uint8_t sum = 0;
        for (size_t i = 0; i < n; i++)
                sum += p[i];
        return (uint8_t)-sum;
}

/* flags 0: polarity and trigger conform to the source bus (ISA: edge, high; PCI: level, low). */
static void w_irq(Writer *w, uint8_t entry, uint8_t type, uint8_t src_bus, uint8_t src_irq, uint8_t dst_apic,
                  uint8_t dst_pin)
{
        w8(w, entry);
        w8(w, type);
        w16(w, 0);
        w8(w, src_bus);
        w8(w, src_irq);
        w8(w, dst_apic);
        w8(w, dst_pin);
}

int mptable_write(const GuestMem *m, unsigned ncpus, const PciIrqRoute *pci, size_t npci)
{
        int64_t pins = pci_pins(pci, npci);
        if (ncpus == 0 || ncpus > MPTABLE_MAX_CPUS || pins < 0)
                return -EINVAL;
        size_t size = table_size(ncpus, npci, (uint32_t)pins);
        if (MPTABLE_START + size > MPTABLE_LIMIT)
                return -EINVAL;
        uint8_t *base = guest_mem_ptr(m, MPTABLE_START, size);
        if (!base)
                return -ENOSPC;
        memset(base, 0, size);

        const uint8_t ioapic_id = (uint8_t)(ncpus + 1);
        const uint32_t config_addr = (uint32_t)MPTABLE_START + MP_FLOATING_SIZE;

        /* Floating pointer structure. */
        Writer w = {.p = base};
        wbytes(&w, "_MP_", 4);
        w32(&w, config_addr);
        w8(&w, 1); /* length in 16-byte units */
        w8(&w, MP_SPEC_REV);
        w8(&w, 0); /* checksum, below */
        w8(&w, 0); /* feature 1: 0 = a configuration table is present (no default config) */
        w32(&w, 0);
        base[10] = checksum(base, MP_FLOATING_SIZE);

        /* Configuration table header. */
        Writer c = {.p = base + MP_FLOATING_SIZE};
        wbytes(&c, "PCMP", 4);
        w16(&c, 0); /* base table length, below */
        w8(&c, MP_SPEC_REV);
        w8(&c, 0); /* checksum, below */
        wbytes(&c, "VMCONCRG", 8);
        wbytes(&c, "EMBEDDEDVMM ", 12);
        w32(&c, 0); /* OEM table pointer */
        w16(&c, 0); /* OEM table size */
        w16(&c, 0); /* entry count, below */
        w32(&c, MP_LAPIC_ADDR);
        w16(&c, 0); /* extended table length */
        w8(&c, 0);  /* extended table checksum */
        w8(&c, 0);  /* reserved */

        uint16_t entries = 0;
        for (unsigned i = 0; i < ncpus; i++, entries++) {
                w8(&c, MP_ENTRY_PROCESSOR);
                w8(&c, (uint8_t)i);
                w8(&c, MP_APIC_VERSION);
                w8(&c, MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0));
                w32(&c, MP_CPU_SIGNATURE);
                w32(&c, MP_CPU_FEATURES);
                w32(&c, 0);
                w32(&c, 0);
        }
        w8(&c, MP_ENTRY_BUS);
        w8(&c, MP_BUS_PCI);
        wbytes(&c, "PCI   ", 6);
        w8(&c, MP_ENTRY_BUS);
        w8(&c, MP_BUS_ISA);
        wbytes(&c, "ISA   ", 6);
        entries += 2;

        w8(&c, MP_ENTRY_IOAPIC);
        w8(&c, ioapic_id);
        w8(&c, MP_IOAPIC_VERSION);
        w8(&c, 1); /* enabled */
        w32(&c, MP_IOAPIC_ADDR);
        entries++;

        /* A PCI device's INTx: without this entry Linux finds no IRQ for it ("probably buggy MP
         * table") and its pin would keep the ISA entry's edge trigger, losing level interrupts. */
        for (size_t i = 0; i < npci; i++, entries++)
                w_irq(&c, MP_ENTRY_IOINT, MP_INT_INT, MP_BUS_PCI,
                      (uint8_t)(pci[i].slot << 2 | (pci[i].pin - 1)), ioapic_id, pci[i].irq);
        for (unsigned irq = 0; irq < MP_IRQ_LINES; irq++) {
                if (pins & (INT64_C(1) << irq))
                        continue;
                w_irq(&c, MP_ENTRY_IOINT, MP_INT_INT, MP_BUS_ISA, (uint8_t)irq, ioapic_id, (uint8_t)irq);
                entries++;
        }
        /* The 8259 feeds LINT0 of the BSP's local APIC (virtual wire); NMI goes to LINT1 of all. */
        w_irq(&c, MP_ENTRY_LINT, MP_INT_EXTINT, MP_BUS_ISA, 0, 0, 0);
        w_irq(&c, MP_ENTRY_LINT, MP_INT_NMI, MP_BUS_ISA, 0, MP_LINT_ALL, 1);
        entries += 2;

        uint8_t *hdr = base + MP_FLOATING_SIZE;
        uint16_t length = (uint16_t)c.pos;
        hdr[4] = length & 0xff;
        hdr[5] = length >> 8;
        hdr[34] = entries & 0xff;
        hdr[35] = entries >> 8;
        hdr[7] = checksum(hdr, length);
        return 0;
}
