/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ISA pvpanic (see pvpanic.h). */
#include "vmm_backend/hw/pvpanic.h"

#include "vmm_backend/macro.h"

struct PvPanic {
        Bus *pio;
        Vm *vm;
};

static void pvpanic_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
        data[0] = PVPANIC_PANICKED;
}

static void pvpanic_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
        PvPanic *p = opaque;
        char detail[64];

        /* CRASH_LOADED means a crash kernel takes over: the guest keeps running. */
        if (!(data[0] & PVPANIC_PANICKED))
                return;
        snprintf(detail, sizeof(detail), "guest panicked (pvpanic event 0x%02x)", data[0]);
        vm_request_stop(p->vm, VM_EXIT_CRASHED, detail, data[0]);
}

static const BusOps pvpanic_ops = { .read = pvpanic_read, .write = pvpanic_write };

int pvpanic_init(Bus *pio, Vm *vm, PvPanic **ret)
{
        PvPanic *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->vm = vm;
        int r = bus_register(pio, PVPANIC_PORT, 1, &pvpanic_ops, p);
        if (r < 0) {
                free(p);
                return r;
        }
        p->pio = pio;
        *ret = p;
        return 0;
}

PvPanic *pvpanic_exit(PvPanic *p)
{
        if (!p)
                return NULL;
        (void)bus_unregister(p->pio, PVPANIC_PORT);
        free(p);
        return NULL;
}
