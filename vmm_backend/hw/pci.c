/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI bus 0: conf1 host bridge, type-0 config space model, BAR sizing and decoding. */
#include "vmm_backend/hw/pci.h"

#include "vmm_backend/macro.h"

/* The host bridge at 00:00.0. Linux's conf1 sanity check looks for a host bridge (or VGA) class
 * device on bus 0; the ids are Red Hat's "PCIe host bridge", which carries no Linux quirks. */
#define HOST_BRIDGE_VENDOR 0x1b36
#define HOST_BRIDGE_DEVICE 0x0008
#define PCI_CLASS_BRIDGE_HOST 0x060000

typedef struct DecodedBar {
        uint64_t base, size;
        const BusOps *ops;
        void *opaque;
} DecodedBar;

struct PciBus {
        Bus *pio, *mmio;
        uint64_t mmio_base, mmio_size, mmio_next;
        PciIrqFn irq_fn;
        void *irq_opaque;

        pthread_mutex_t config_lock; /* address latch + every device's config bytes */
        uint32_t address;
        PciDevice *slots[PCI_MAX_SLOTS];
        PciDevice host_bridge;

        pthread_rwlock_t decode_lock; /* decoded[] */
        DecodedBar decoded[PCI_MAX_SLOTS * PCI_NUM_BARS];
        size_t n_decoded;
};

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

void pci_device_init(PciDevice *d, const PciDeviceInfo *info, const PciDeviceOps *ops, void *userdata)
{
        *d = (PciDevice){ .ops = ops, .userdata = userdata, .cap_free = PCI_CAP_START };
        pthread_mutex_init(&d->intx_lock, NULL);
        put16(d->config + PCI_VENDOR_ID, info->vendor_id);
        put16(d->config + PCI_DEVICE_ID, info->device_id);
        d->config[PCI_REVISION_ID] = info->revision;
        d->config[PCI_CLASS_PROG] = (uint8_t)info->class_code;
        put16(d->config + PCI_CLASS_DEVICE, (uint16_t)(info->class_code >> 8));
        put16(d->config + PCI_SUBSYSTEM_VENDOR_ID, info->subsystem_vendor_id);
        put16(d->config + PCI_SUBSYSTEM_ID, info->subsystem_id);
        d->config[PCI_INTERRUPT_PIN] = info->interrupt_pin;

        /* Writable: command (I/O, memory, bus master, INTx disable), cache line size, latency
         * timer, interrupt line. BARs get their masks when added; the ROM BAR stays 0 (absent). */
        put16(d->wmask + PCI_COMMAND,
              PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
        d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
        d->wmask[PCI_LATENCY_TIMER] = 0xff;
        d->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

void pci_device_done(PciDevice *d)
{
        if (!d)
                return;
        pthread_mutex_destroy(&d->intx_lock);
}

int pci_device_add_mem_bar(PciDevice *d, unsigned bar, uint64_t size, bool is64, const BusOps *ops,
                           void *opaque)
{
        if (bar >= PCI_NUM_BARS || (is64 && bar + 1 >= PCI_NUM_BARS) || !ops)
                return -EINVAL;
        if (size < 16 || (size & (size - 1)) || (!is64 && size > (UINT64_C(1) << 31)))
                return -EINVAL;
        if (d->bars[bar].size || (bar > 0 && d->bars[bar - 1].is64) || (is64 && d->bars[bar + 1].size))
                return -EEXIST;
        if (d->bus)
                return -EBUSY;

        d->bars[bar] = (PciBar){ .size = size, .is64 = is64, .ops = ops, .opaque = opaque };
        unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;
        put32(d->config + off, is64 ? PCI_BAR_MEM_TYPE_64 : 0);
        /* Sizing (PCI 3.0 §6.2.5.1): the guest writes all ones and reads back ~(size-1) in the
         * address bits; the low four type bits are read-only. */
        put32(d->wmask + off, (uint32_t)~(size - 1) & ~UINT32_C(0xf));
        if (is64)
                put32(d->wmask + off + 4, (uint32_t)(~(size - 1) >> 32));
        return 0;
}

int pci_device_add_capability(PciDevice *d, const uint8_t *cap, uint8_t len, const uint8_t *wmask,
                              uint8_t *ret_offset)
{
        if (!cap || len < 2)
                return -EINVAL;
        if (d->bus)
                return -EBUSY;
        unsigned off = ALIGN_UP((unsigned)d->cap_free, 4u);
        if (off + len > PCI_CONFIG_SIZE)
                return -ENOSPC;

        memcpy(d->config + off, cap, len);
        d->config[off + 1] = 0;
        if (wmask)
                for (unsigned i = 2; i < len; i++)
                        d->wmask[off + i] = wmask[i];
        if (d->cap_last)
                d->config[d->cap_last + 1] = (uint8_t)off;
        else
                d->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
        d->cap_last = (uint8_t)off;
        d->cap_free = (uint8_t)MIN(off + len, 0xffu);
        d->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
        if (ret_offset)
                *ret_offset = (uint8_t)off;
        return 0;
}

/* Drive the output line from the device level and INTx-disable. Called with d->intx_lock held. */
static void intx_update_locked(PciDevice *d, bool intx_disabled)
{
        bool want = d->intx_level && !intx_disabled;
        if (want == d->line_asserted || !d->bus || !d->bus->irq_fn)
                return;
        d->line_asserted = want;
        d->bus->irq_fn(d->bus->irq_opaque, d->irq, want ? 1 : 0);
}

static bool intx_disabled(const PciDevice *d)
{
        /* A racy read of one config byte: the command register is only written under the config
         * lock, which then re-evaluates the line itself, so a stale value here is corrected. */
        return __atomic_load_n(&d->config[PCI_COMMAND + 1], __ATOMIC_ACQUIRE) & (PCI_COMMAND_INTX_DISABLE >> 8);
}

void pci_device_set_intx(PciDevice *d, bool level)
{
        if (!d->config[PCI_INTERRUPT_PIN])
                return;
        pthread_mutex_lock(&d->intx_lock);
        d->intx_level = level;
        intx_update_locked(d, intx_disabled(d));
        pthread_mutex_unlock(&d->intx_lock);
}

static uint64_t bar_address_locked(const PciDevice *d, unsigned bar)
{
        if (bar >= PCI_NUM_BARS || !d->bars[bar].size)
                return 0;
        uint64_t a = get32(d->config + PCI_BASE_ADDRESS_0 + 4 * bar) & ~UINT32_C(0xf);
        if (d->bars[bar].is64)
                a |= (uint64_t)get32(d->config + PCI_BASE_ADDRESS_0 + 4 * (bar + 1)) << 32;
        return a;
}

uint64_t pci_device_bar_address(PciDevice *d, unsigned bar)
{
        if (!d->bus)
                return bar_address_locked(d, bar);
        pthread_mutex_lock(&d->bus->config_lock);
        uint64_t a = bar_address_locked(d, bar);
        pthread_mutex_unlock(&d->bus->config_lock);
        return a;
}

/* Rebuild the decode table from the config bytes. Called with the config lock held. A BAR is
 * decoded while its device has memory decoding on and the BAR lies wholly inside the window;
 * elsewhere (e.g. while the guest sizes it) it answers nothing. */
static void rebuild_decode_locked(PciBus *b)
{
        pthread_rwlock_wrlock(&b->decode_lock);
        b->n_decoded = 0;
        for (unsigned s = 0; s < PCI_MAX_SLOTS; s++) {
                PciDevice *d = b->slots[s];
                if (!d || !(get16(d->config + PCI_COMMAND) & PCI_COMMAND_MEMORY))
                        continue;
                for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
                        const PciBar *bar = &d->bars[i];
                        if (!bar->size)
                                continue;
                        uint64_t a = bar_address_locked(d, i);
                        if (a < b->mmio_base || a - b->mmio_base > b->mmio_size ||
                            bar->size > b->mmio_size - (a - b->mmio_base))
                                continue;
                        b->decoded[b->n_decoded++] = (DecodedBar){
                                .base = a, .size = bar->size, .ops = bar->ops, .opaque = bar->opaque
                        };
                }
        }
        pthread_rwlock_unlock(&b->decode_lock);
}

static bool decode(PciBus *b, uint64_t addr, DecodedBar *ret)
{
        bool found = false;
        pthread_rwlock_rdlock(&b->decode_lock);
        for (size_t i = 0; i < b->n_decoded; i++)
                if (addr >= b->decoded[i].base && addr - b->decoded[i].base < b->decoded[i].size) {
                        *ret = b->decoded[i];
                        found = true;
                        break;
                }
        pthread_rwlock_unlock(&b->decode_lock);
        return found;
}

static void mmio_window_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
        PciBus *b = opaque;
        uint64_t addr = b->mmio_base + offset;
        DecodedBar d;
        if (!decode(b, addr, &d) || !d.ops->read)
                return; /* data stays all ones */
        uint64_t off = addr - d.base;
        d.ops->read(d.opaque, off, data, (uint32_t)MIN((uint64_t)len, d.size - off));
}

static void mmio_window_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
        PciBus *b = opaque;
        uint64_t addr = b->mmio_base + offset;
        DecodedBar d;
        if (!decode(b, addr, &d) || !d.ops->write)
                return;
        uint64_t off = addr - d.base;
        d.ops->write(d.opaque, off, data, (uint32_t)MIN((uint64_t)len, d.size - off));
}

static PciDevice *lookup_locked(PciBus *b, unsigned bus, unsigned slot, unsigned fn)
{
        if (bus != 0 || slot >= PCI_MAX_SLOTS || fn != 0)
                return NULL;
        return b->slots[slot];
}

static uint32_t config_read_locked(PciBus *b, unsigned bus, unsigned slot, unsigned fn, unsigned off,
                                   unsigned len)
{
        PciDevice *d = lookup_locked(b, bus, slot, fn);
        if (!d || off >= PCI_CONFIG_SIZE || (len != 1 && len != 2 && len != 4) || (off & 3) + len > 4)
                return len >= 4 ? UINT32_MAX : (UINT32_C(1) << (8 * len)) - 1;

        if (d->ops && d->ops->config_read)
                d->ops->config_read(d, off, len);
        uint8_t bytes[4];
        memcpy(bytes, d->config + off, len);
        /* The interrupt-status bit mirrors the device's INTx level. */
        if (off <= PCI_STATUS && off + len > PCI_STATUS) {
                pthread_mutex_lock(&d->intx_lock);
                bool level = d->intx_level;
                pthread_mutex_unlock(&d->intx_lock);
                bytes[PCI_STATUS - off] = (uint8_t)((bytes[PCI_STATUS - off] & ~PCI_STATUS_INTERRUPT) |
                                                    (level ? PCI_STATUS_INTERRUPT : 0));
        }
        uint32_t v = 0;
        for (unsigned i = 0; i < len; i++)
                v |= (uint32_t)bytes[i] << (8 * i);
        return v;
}

static void config_write_locked(PciBus *b, unsigned bus, unsigned slot, unsigned fn, unsigned off,
                                unsigned len, uint32_t val)
{
        PciDevice *d = lookup_locked(b, bus, slot, fn);
        if (!d || off >= PCI_CONFIG_SIZE || (len != 1 && len != 2 && len != 4) || (off & 3) + len > 4)
                return;

        bool changed = false;
        for (unsigned i = 0; i < len; i++) {
                uint8_t m = d->wmask[off + i], nv = (uint8_t)(val >> (8 * i));
                uint8_t old = d->config[off + i];
                uint8_t neu = (uint8_t)((old & ~m) | (nv & m));
                if (neu != old) {
                        __atomic_store_n(&d->config[off + i], neu, __ATOMIC_RELEASE);
                        changed = true;
                }
        }

        unsigned end = off + len;
        if (changed && ((off < PCI_COMMAND + 2 && end > PCI_COMMAND) ||
                        (off < PCI_BASE_ADDRESS_0 + 4 * PCI_NUM_BARS && end > PCI_BASE_ADDRESS_0)))
                rebuild_decode_locked(b);
        if (changed && off < PCI_COMMAND + 2 && end > PCI_COMMAND + 1) {
                pthread_mutex_lock(&d->intx_lock);
                intx_update_locked(d, intx_disabled(d));
                pthread_mutex_unlock(&d->intx_lock);
        }
        if (d->ops && d->ops->config_write)
                d->ops->config_write(d, off, len);
}

uint32_t pci_bus_config_read(PciBus *b, unsigned bus, unsigned slot, unsigned fn, unsigned off, unsigned len)
{
        pthread_mutex_lock(&b->config_lock);
        uint32_t v = config_read_locked(b, bus, slot, fn, off, len);
        pthread_mutex_unlock(&b->config_lock);
        return v;
}

void pci_bus_config_write(PciBus *b, unsigned bus, unsigned slot, unsigned fn, unsigned off, unsigned len,
                          uint32_t val)
{
        pthread_mutex_lock(&b->config_lock);
        config_write_locked(b, bus, slot, fn, off, len, val);
        pthread_mutex_unlock(&b->config_lock);
}

/* Port I/O [0xCF8, 0xD00): offsets 0-3 are the CONFIG_ADDRESS latch (dword accesses only, as on
 * real chipsets: narrower ones are not for it), 4-7 the CONFIG_DATA window onto the dword it
 * selects. Bit 31 enables; bits 23:16 bus, 15:11 device, 10:8 function, 7:2 register. */
#define CONF1_ENABLE UINT32_C(0x80000000)

static void conf1_decode(uint32_t a, unsigned *bus, unsigned *slot, unsigned *fn, unsigned *reg)
{
        *bus = (a >> 16) & 0xff;
        *slot = (a >> 11) & 0x1f;
        *fn = (a >> 8) & 0x7;
        *reg = a & 0xfc;
}

static void conf1_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
        PciBus *b = opaque;
        uint32_t v;

        pthread_mutex_lock(&b->config_lock);
        if (offset == 0 && len == 4)
                v = b->address;
        else if (offset >= 4 && (b->address & CONF1_ENABLE) && !(b->address & 0x7f000000)) {
                unsigned bus, slot, fn, reg, k = (unsigned)offset - 4;
                conf1_decode(b->address, &bus, &slot, &fn, &reg);
                len = MIN(len, 4 - k);
                /* A 3-byte access (an odd-aligned dword cut at the window end) reads its word,
                 * then all ones. */
                v = config_read_locked(b, bus, slot, fn, reg + k, len == 3 ? 2 : len);
                if (len == 3)
                        v |= UINT32_C(0xff0000);
        } else
                v = UINT32_MAX;
        pthread_mutex_unlock(&b->config_lock);

        for (uint32_t i = 0; i < len && i < 4; i++)
                data[i] = (uint8_t)(v >> (8 * i));
}

static void conf1_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
        PciBus *b = opaque;
        uint32_t v = 0;
        for (uint32_t i = 0; i < len && i < 4; i++)
                v |= (uint32_t)data[i] << (8 * i);

        pthread_mutex_lock(&b->config_lock);
        if (offset == 0 && len == 4)
                b->address = v;
        else if (offset >= 4 && (b->address & CONF1_ENABLE) && !(b->address & 0x7f000000)) {
                unsigned bus, slot, fn, reg, k = (unsigned)offset - 4;
                conf1_decode(b->address, &bus, &slot, &fn, &reg);
                len = MIN(len, 4 - k);
                config_write_locked(b, bus, slot, fn, reg + k, len == 3 ? 2 : len, v);
        }
        pthread_mutex_unlock(&b->config_lock);
}

static const BusOps conf1_ops = { .read = conf1_read, .write = conf1_write };
static const BusOps mmio_window_ops = { .read = mmio_window_read, .write = mmio_window_write };

int pci_bus_new(Bus *pio, Bus *mmio, uint64_t mmio_base, uint64_t mmio_size, PciIrqFn irq_fn,
                void *irq_opaque, PciBus **ret)
{
        if (!pio || !mmio || mmio_size == 0 || mmio_base + mmio_size < mmio_base)
                return -EINVAL;
        PciBus *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        *b = (PciBus){ .pio = pio, .mmio = mmio, .mmio_base = mmio_base, .mmio_size = mmio_size,
                       .mmio_next = mmio_base, .irq_fn = irq_fn, .irq_opaque = irq_opaque };
        pthread_mutex_init(&b->config_lock, NULL);
        pthread_rwlock_init(&b->decode_lock, NULL);

        pci_device_init(&b->host_bridge,
                        &(PciDeviceInfo){ .vendor_id = HOST_BRIDGE_VENDOR, .device_id = HOST_BRIDGE_DEVICE,
                                          .subsystem_vendor_id = HOST_BRIDGE_VENDOR,
                                          .subsystem_id = HOST_BRIDGE_DEVICE,
                                          .class_code = PCI_CLASS_BRIDGE_HOST },
                        NULL, NULL);
        b->host_bridge.bus = b;
        b->slots[0] = &b->host_bridge;

        int r = bus_register(pio, PCI_CONF1_ADDRESS_PORT, 8, &conf1_ops, b);
        if (r < 0)
                goto fail;
        r = bus_register(mmio, mmio_base, mmio_size, &mmio_window_ops, b);
        if (r < 0) {
                bus_unregister(pio, PCI_CONF1_ADDRESS_PORT);
                goto fail;
        }
        *ret = b;
        return 0;
fail:
        pci_device_done(&b->host_bridge);
        pthread_rwlock_destroy(&b->decode_lock);
        pthread_mutex_destroy(&b->config_lock);
        free(b);
        return r;
}

PciBus *pci_bus_free(PciBus *b)
{
        if (!b)
                return NULL;
        bus_unregister(b->pio, PCI_CONF1_ADDRESS_PORT);
        bus_unregister(b->mmio, b->mmio_base);
        for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
                if (b->slots[s])
                        b->slots[s]->bus = NULL;
        pci_device_done(&b->host_bridge);
        pthread_rwlock_destroy(&b->decode_lock);
        pthread_mutex_destroy(&b->config_lock);
        free(b);
        return NULL;
}

int pci_bus_add_device(PciBus *b, PciDevice *d, unsigned irq, unsigned *ret_slot)
{
        if (d->bus)
                return -EBUSY;

        pthread_mutex_lock(&b->config_lock);
        unsigned slot = 0;
        while (slot < PCI_MAX_SLOTS && b->slots[slot])
                slot++;
        if (slot == PCI_MAX_SLOTS) {
                pthread_mutex_unlock(&b->config_lock);
                return -ENOSPC;
        }

        /* Allocate every BAR first so that a failure leaves the window untouched. */
        uint64_t next = b->mmio_next, addr[PCI_NUM_BARS] = {};
        for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
                uint64_t size = d->bars[i].size;
                if (!size)
                        continue;
                uint64_t a = ALIGN_UP(next, size);
                if (a < next || a - b->mmio_base > b->mmio_size || size > b->mmio_size - (a - b->mmio_base)) {
                        pthread_mutex_unlock(&b->config_lock);
                        return -ENOSPC;
                }
                addr[i] = a;
                next = a + size;
        }
        b->mmio_next = next;
        for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
                if (!d->bars[i].size)
                        continue;
                uint8_t *p = d->config + PCI_BASE_ADDRESS_0 + 4 * i;
                put32(p, (uint32_t)addr[i] | (get32(p) & 0xf));
                if (d->bars[i].is64)
                        put32(p + 4, (uint32_t)(addr[i] >> 32));
        }
        d->config[PCI_INTERRUPT_LINE] = d->config[PCI_INTERRUPT_PIN] ? (uint8_t)irq : 0xff;
        put16(d->config + PCI_COMMAND, get16(d->config + PCI_COMMAND) | PCI_COMMAND_MEMORY);
        d->bus = b;
        d->slot = slot;
        d->irq = irq;
        b->slots[slot] = d;
        rebuild_decode_locked(b);
        pthread_mutex_unlock(&b->config_lock);
        if (ret_slot)
                *ret_slot = slot;
        return 0;
}

size_t pci_bus_irq_routes(PciBus *b, PciIrqRoute *ret, size_t max)
{
        size_t n = 0;
        pthread_mutex_lock(&b->config_lock);
        for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++) {
                const PciDevice *d = b->slots[slot];
                if (!d || !d->config[PCI_INTERRUPT_PIN])
                        continue;
                if (n < max)
                        ret[n] = (PciIrqRoute){.slot = (uint8_t)slot,
                                               .pin = d->config[PCI_INTERRUPT_PIN],
                                               .irq = (uint8_t)d->irq};
                n++;
        }
        pthread_mutex_unlock(&b->config_lock);
        return n;
}

int pci_bus_remove_device(PciBus *b, PciDevice *d)
{
        if (!d || d->bus != b || d == &b->host_bridge)
                return -ENOENT;
        pthread_mutex_lock(&b->config_lock);
        b->slots[d->slot] = NULL;
        rebuild_decode_locked(b);
        pthread_mutex_unlock(&b->config_lock);
        pthread_mutex_lock(&d->intx_lock);
        if (d->line_asserted && b->irq_fn)
                b->irq_fn(b->irq_opaque, d->irq, 0);
        d->line_asserted = false;
        d->bus = NULL;
        pthread_mutex_unlock(&d->intx_lock);
        return 0;
}
