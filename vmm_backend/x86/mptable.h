/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Intel MultiProcessor Specification 1.4 table that tells a guest without ACPI about its CPUs,
 * its I/O APIC and the legacy IRQ routing (reference/vmm.md §2.5, §3.3). Linux finds the floating
 * pointer by scanning, among others, 639..640 KiB, where we put it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmm_backend/guest_mem.h"
#include "vmm_backend/hw/pci.h"

/* The floating pointer sits at the start of the EBDA (reserved in the e820 map); the configuration
 * table follows it and, beyond ~37 CPUs, runs on into the legacy VGA hole. Neither area is RAM in
 * the e820 map, and Linux memblock-reserves the table when it parses it. */
#define MPTABLE_START UINT64_C(0x9fc00)
#define MPTABLE_LIMIT UINT64_C(0xf0000) /* the BIOS area starts here */
#define MPTABLE_MAX_CPUS 64

#define MP_IOAPIC_ADDR UINT32_C(0xfec00000)
#define MP_LAPIC_ADDR UINT32_C(0xfee00000)
#define MP_IRQ_LINES 24 /* the in-kernel IOAPIC's pins, routed 1:1 from the ISA bus */
#define MP_BUS_PCI 0    /* MP bus ids: Linux takes a PCI bus's id as its bus number */
#define MP_BUS_ISA 1

/* Entry types and sizes (MP spec 1.4 §4.3). */
#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_IOINT 3
#define MP_ENTRY_LINT 4
#define MP_INT_INT 0
#define MP_INT_NMI 1
#define MP_INT_EXTINT 3

#define MP_FLOATING_SIZE 16
#define MP_HEADER_SIZE 44

/* 0 if a table for ncpus CPUs and these PCI routes can be written, else -EINVAL (see below). */
int mptable_validate(unsigned ncpus, const PciIrqRoute *pci, size_t npci);
/* Bytes the table takes for ncpus CPUs and these PCI interrupt routes. */
size_t mptable_size(unsigned ncpus, const PciIrqRoute *pci, size_t npci);

/* Write the floating pointer at MPTABLE_START and the configuration table right after it: one
 * processor entry per vCPU (APIC id = index, BSP flag on 0), a PCI bus (id 0, PCI bus 0) and an
 * ISA bus (id 1), one I/O APIC (id ncpus + 1 at MP_IOAPIC_ADDR), one I/O interrupt entry per PCI
 * route (source (slot << 2) | (pin - 1) on the PCI bus, level/low as the bus conforms, to IOAPIC
 * pin = route's irq), I/O interrupt entries for the ISA IRQs 0..23 that no PCI route uses to the
 * same I/O APIC pin, LINT0 = ExtINT and LINT1 = NMI. -EINVAL for 0 or more than MPTABLE_MAX_CPUS
 * CPUs or a route that is not a slot 0..31, pin 1..4 and irq 0..23, -ENOSPC if RAM does not cover
 * the area. */
int mptable_write(const GuestMem *m, unsigned ncpus, const PciIrqRoute *pci, size_t npci);
