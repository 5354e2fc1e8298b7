/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Port-I/O / MMIO bus: a sorted array of ranges, binary-searched on every exit. */
#include "vmm_backend/bus.h"

#include "vmm_backend/macro.h"

typedef struct BusRange {
        uint64_t base, len;
        const BusOps *ops;
        void *opaque;
} BusRange;

struct Bus {
        BusRange *ranges;
        size_t n;
};

int bus_new(Bus **ret)
{
        Bus *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        *ret = b;
        return 0;
}

Bus *bus_free(Bus *b)
{
        if (!b)
                return NULL;
        free(b->ranges);
        free(b);
        return NULL;
}

int bus_register(Bus *b, uint64_t base, uint64_t len, const BusOps *ops, void *opaque)
{
        if (len == 0 || base + len < base || !ops)
                return -EINVAL;
        size_t i = 0;
        while (i < b->n && b->ranges[i].base < base)
                i++;
        if (i > 0 && b->ranges[i - 1].base + b->ranges[i - 1].len > base)
                return -EEXIST;
        if (i < b->n && base + len > b->ranges[i].base)
                return -EEXIST;
        BusRange *r = realloc(b->ranges, (b->n + 1) * sizeof(*r));
        if (!r)
                return -ENOMEM;
        b->ranges = r;
        memmove(&r[i + 1], &r[i], (b->n - i) * sizeof(*r));
        r[i] = (BusRange){ .base = base, .len = len, .ops = ops, .opaque = opaque };
        b->n++;
        return 0;
}

int bus_unregister(Bus *b, uint64_t base)
{
        for (size_t i = 0; i < b->n; i++)
                if (b->ranges[i].base == base) {
                        memmove(&b->ranges[i], &b->ranges[i + 1], (b->n - i - 1) * sizeof(BusRange));
                        b->n--;
                        return 0;
                }
        return -ENOENT;
}

static const BusRange *bus_find(const Bus *b, uint64_t addr)
{
        size_t lo = 0, hi = b->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const BusRange *r = &b->ranges[mid];
                if (addr < r->base)
                        hi = mid;
                else if (addr - r->base >= r->len)
                        lo = mid + 1;
                else
                        return r;
        }
        return NULL;
}

bool bus_read(Bus *b, uint64_t addr, uint8_t *data, uint32_t len)
{
        memset(data, 0xff, len);
        const BusRange *r = bus_find(b, addr);
        if (!r)
                return false;
        uint64_t off = addr - r->base;
        uint32_t n = (uint32_t)MIN((uint64_t)len, r->len - off);
        if (r->ops->read)
                r->ops->read(r->opaque, off, data, n);
        return true;
}

bool bus_write(Bus *b, uint64_t addr, const uint8_t *data, uint32_t len)
{
        const BusRange *r = bus_find(b, addr);
        if (!r)
                return false;
        uint64_t off = addr - r->base;
        uint32_t n = (uint32_t)MIN((uint64_t)len, r->len - off);
        if (r->ops->write)
                r->ops->write(r->opaque, off, data, n);
        return true;
}
