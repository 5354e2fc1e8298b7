/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Intel MultiProcessor Specification 1.4 table that tells a guest without ACPI about its CPUs,
 * its I/O APIC and the legacy IRQ routing (reference/vmm.md §2.5, §3.3). Linux finds the floating
 * pointer by scanning, among others, 639..640 KiB, where we put it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "vmm_backend/guest_mem.h"

/* The floating pointer sits at the start of the EBDA (reserved in the e820 map); the configuration
 * table follows it and, beyond ~37 CPUs, runs on into the legacy VGA hole. Neither area is RAM in
 * the e820 map, and Linux memblock-reserves the table when it parses it. */
#define MPTABLE_START UINT64_C(0x9fc00)
#define MPTABLE_LIMIT UINT64_C(0xf0000) /* the BIOS area starts here */
#define MPTABLE_MAX_CPUS 64

#define MP_IOAPIC_ADDR UINT32_C(0xfec00000)
#define MP_LAPIC_ADDR UINT32_C(0xfee00000)
#define MP_IRQ_LINES 24   /* the in-kernel IOAPIC's pins, routed 1:1 from the ISA bus */

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

/* Bytes the table takes for ncpus CPUs. */
size_t mptable_size(unsigned ncpus);

/* Write the floating pointer at MPTABLE_START and the configuration table right after it: one
 * processor entry per vCPU (APIC id = index, BSP flag on 0), one ISA bus (id 0), one I/O APIC (id
 * ncpus + 1 at MP_IOAPIC_ADDR), I/O interrupt entries for ISA IRQ 0..23 to the same I/O APIC pin,
 * LINT0 = ExtINT and LINT1 = NMI. -EINVAL for 0 or more than MPTABLE_MAX_CPUS CPUs, -ENOSPC if
 * RAM does not cover the area. */
int mptable_write(const GuestMem *m, unsigned ncpus);
