/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Debug-exit port (see debug-exit.h). */
#include "vmm_backend/hw/debug-exit.h"

#include "vmm_backend/macro.h"

struct DebugExit {
        Bus *pio;
        Vm *vm;
};

static void debug_exit_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
        DebugExit *d = opaque;
        uint32_t code = 0;
        char detail[64];

        /* Only a write at the base port counts; byte and word writes give a short code. */
        if (offset != 0)
                return;
        for (uint32_t i = 0; i < MIN(len, 4u); i++)
                code |= (uint32_t)data[i] << (8 * i);
        snprintf(detail, sizeof(detail), "guest wrote exit code %u to the debug-exit port", code);
        vm_request_stop(d->vm, VM_EXIT_GUEST_REQUESTED, detail, (int)(code & INT32_MAX));
}

static const BusOps debug_exit_ops = { .write = debug_exit_write };

int debug_exit_init(Bus *pio, Vm *vm, DebugExit **ret)
{
        DebugExit *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->vm = vm;
        int r = bus_register(pio, DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, &debug_exit_ops, d);
        if (r < 0) {
                free(d);
                return r;
        }
        d->pio = pio;
        *ret = d;
        return 0;
}

DebugExit *debug_exit_exit(DebugExit *d)
{
        if (!d)
                return NULL;
        (void)bus_unregister(d->pio, DEBUG_EXIT_PORT);
        free(d);
        return NULL;
}
