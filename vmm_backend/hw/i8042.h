/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* i8042 keyboard controller without a keyboard: enough for guests to probe it, and the reset line
 * (command 0xFE, or an output-port write that clears bit 0), which the VMM treats as "the guest asked
 * to stop" (Linux with reboot=k, kvmtool, Firecracker). Ports 0x60 (data) and 0x64 (status/command). */
#pragma once

#include <stdint.h>

#include "vmm_backend/bus.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1

typedef struct I8042 I8042;

typedef struct I8042Ops {
        void (*reset)(void *opaque);                               /* the guest pulsed the reset line */
        void (*set_irq)(void *opaque, unsigned irq, int level);    /* keyboard IRQ 1 */
} I8042Ops;

int i8042_init(Bus *pio, const I8042Ops *ops, void *opaque, I8042 **ret);
I8042 *i8042_exit(I8042 *k);
