/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One port-I/O or MMIO bus: devices claim [base, base+len) and get reads/writes at an offset.
 * Registration happens before vCPUs start; lookups are lock-free afterwards. Device callbacks run
 * on vCPU threads, so devices that share state with other threads lock it themselves. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct BusOps {
        /* Fill data[0..len) (unclaimed bytes read as 0xff by the bus before the call). */
        void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
        void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
} BusOps;

typedef struct Bus Bus;

int bus_new(Bus **ret);
Bus *bus_free(Bus *b);

/* -EEXIST if the range overlaps a registered one, -EINVAL if empty or wrapping. */
int bus_register(Bus *b, uint64_t base, uint64_t len, const BusOps *ops, void *opaque);
/* Remove the range that starts at base; -ENOENT if none. Only while vCPUs are not running. */
int bus_unregister(Bus *b, uint64_t base);

/* Dispatch an access. Returns false when no device claims addr (reads then return all ones).
 * An access that straddles the end of a device's range is truncated to the part inside it. */
bool bus_read(Bus *b, uint64_t addr, uint8_t *data, uint32_t len);
bool bus_write(Bus *b, uint64_t addr, const uint8_t *data, uint32_t len);
