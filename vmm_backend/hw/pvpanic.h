/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ISA pvpanic device (QEMU's docs/specs/pvpanic.rst): port 0x505; a read returns the supported
 * events, a write of bit 0 (PANICKED) says the guest crashed. The VMM stops the VM as crashed.
 * The test guest's exception handlers use it after printing the fault on ttyS0. */
#pragma once

#include "vmm_backend/bus.h"
#include "vmm_backend/vm.h"

#define PVPANIC_PORT 0x505
#define PVPANIC_PANICKED 0x01
#define PVPANIC_CRASH_LOADED 0x02

typedef struct PvPanic PvPanic;

int pvpanic_init(Bus *pio, Vm *vm, PvPanic **ret);
PvPanic *pvpanic_exit(PvPanic *p);
