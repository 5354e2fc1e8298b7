/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Debug-exit port for test guests: a write of a 32-bit code to port 0x501 stops the VM as
 * "guest requested" with that code (the exit code of `exit <code>` in the test guest). Same port as
 * QEMU's isa-debug-exit default, so one guest image runs under both. */
#pragma once

#include "vmm_backend/bus.h"
#include "vmm_backend/vm.h"

#define DEBUG_EXIT_PORT 0x501
#define DEBUG_EXIT_SIZE 4

typedef struct DebugExit DebugExit;

int debug_exit_init(Bus *pio, Vm *vm, DebugExit **ret);
DebugExit *debug_exit_exit(DebugExit *d);
