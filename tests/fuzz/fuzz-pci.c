/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for PCI config space and virtio-pci MMIO (vmm_backend/hw/pci.c, virtio/virtio-pci.c):
 * the input is a program of guest accesses to one virtio device on bus 0:
 *   op % 6 == 0/1: write/read CONFIG_ADDRESS (0xCF8) then CONFIG_DATA (0xCFC + n), 1/2/4 bytes;
 *   op % 6 == 2/3: write/read the device's BAR 0 (common/ISR/device/notify config), 1/2/4/8 bytes;
 *   op % 6 == 4:   write a queue's ring addresses and size, enable it, notify it;
 *   op % 6 == 5:   driver reset (status 0).
 * Invariants: no fault (ASan/UBSan), the read-only identity (vendor/device id) never changes,
 * num_queues stays what the device has, an enabled queue's size is a power of two <= its maximum, a driver reset
 * always reads back status 0, and a device in DEVICE_NEEDS_RESET was told why exactly once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz-common.h"
#include "vmm_backend/bus.h"
#include "vmm_backend/macro.h"
#include "vmm_backend/virtio/virtio-pci.h"

const FuzzTarget fuzz_target = { .name = "fuzz-pci", .iterations = 20000, .max_len = 1024 };

#define RAM_SIZE (1u << 20)
#define NQ 2

static struct {
        GuestMem mem;
        Bus *pio, *mmio;
        PciBus *pci;
        VirtioPci *vp;
        unsigned slot, resets;
        uint8_t config[16];
} F = { .mem.memfd = -1 };

static void irq_ignore(void *opaque, unsigned irq, int level)
{
}

static void cfg_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
        fuzz_check(off + len <= sizeof(F.config), "device config read out of range");
        memcpy(data, F.config + off, len);
}

static void cfg_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
        fuzz_check(off + len <= sizeof(F.config), "device config write out of range");
        memcpy(F.config + off, data, len);
}

static void queue_notify(void *dev, unsigned q)
{
        fuzz_check(q < NQ, "notify of a queue that does not exist");
        fuzz_check(virtio_pci_queue_ready(F.vp, q), "notify of a queue that is not ready");
        VirtqChain c;
        const char *why = NULL;
        Virtqueue *vq = virtio_pci_queue(F.vp, q);
        int r = virtq_pop(vq, &c, &why);
        if (r < 0)
                virtio_pci_device_error(F.vp, why);
        else if (r > 0)
                virtq_push(vq, c.head, 0);
}

static void on_needs_reset(void *opaque, const char *device, const char *reason)
{
        fuzz_check(reason && *reason, "needs reset without a reason");
        F.resets++;
}

static const VirtioDeviceOps ops = { .config_read = cfg_read, .config_write = cfg_write, .queue_notify = queue_notify };

static void pci_close(void)
{
        if (F.vp) {
                pci_bus_remove_device(F.pci, virtio_pci_pci_device(F.vp));
                F.vp = virtio_pci_free(F.vp);
        }
        F.pci = pci_bus_free(F.pci);
        F.pio = bus_free(F.pio);
        F.mmio = bus_free(F.mmio);
        free(F.mem.host);
        F.mem.host = NULL;
}

static void pci_open(void)
{
        static const uint16_t qmax[NQ] = { 16, 64 };
        VirtioPciConfig cfg = { .name = "virtio-fuzz", .device_type = 5, .class_code = 0xff0000, .features = 1,
                                .num_queues = NQ, .queue_max = qmax, .config_size = sizeof(F.config),
                                .ops = &ops, .mem = &F.mem, .needs_reset = on_needs_reset };

        if (F.vp)
                return;
        F.mem.host = calloc(1, RAM_SIZE);
        F.mem.size = RAM_SIZE;
        fuzz_check(F.mem.host && bus_new(&F.pio) == 0 && bus_new(&F.mmio) == 0, "setup");
        fuzz_check(pci_bus_new(F.pio, F.mmio, GUEST_MMIO_BASE, GUEST_MMIO_SIZE, irq_ignore, NULL, &F.pci) == 0,
                   "pci_bus_new");
        fuzz_check(virtio_pci_new(&cfg, &F.vp) == 0, "virtio_pci_new");
        fuzz_check(pci_bus_add_device(F.pci, virtio_pci_pci_device(F.vp), 10, &F.slot) == 0, "add device");
        atexit(pci_close);
}

static void put(uint8_t *b, uint64_t v, unsigned len)
{
        for (unsigned i = 0; i < len; i++)
                b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t bar(void)
{
        return pci_device_bar_address(virtio_pci_pci_device(F.vp), 0);
}

static void bar_write(uint64_t off, unsigned len, uint64_t v)
{
        uint8_t b[8];
        put(b, v, len);
        virtio_pci_bar_write(F.vp, off, b, len);
}

static uint64_t bar_read(uint64_t off, unsigned len)
{
        uint8_t b[8] = {};
        uint64_t v = 0;
        virtio_pci_bar_read(F.vp, off, b, len);
        for (unsigned i = 0; i < len; i++)
                v |= (uint64_t)b[i] << (8 * i);
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        FuzzReader rd = { data, size };
        uint8_t b[8];

        pci_open();
        /* Start from a reset device with the BAR where the bus put it and memory decoding on. */
        bar_write(VIRTIO_PCI_COMMON_STATUS, 1, 0);
        F.resets = 0;
        memset(F.mem.host, 0, 0x4000);

        for (unsigned steps = 0; rd.left && steps < 256; steps++) {
                unsigned op = (unsigned)fuzz_take(&rd, 1);
                /* A reset by any path (status 0 through the BAR or the PCI cfg window) re-arms the
                 * one error report. */
                if (bar_read(VIRTIO_PCI_COMMON_STATUS, 1) == 0)
                        F.resets = 0;
                unsigned len = 1u << (fuzz_take(&rd, 1) % 4);
                switch (op % 6) {
                case 0:
                case 1: {
                        uint32_t addr = (uint32_t)fuzz_take(&rd, 4);
                        unsigned n = (unsigned)fuzz_take(&rd, 1) % 4, l = MIN(len, 4u);
                        put(b, addr, 4);
                        (void)bus_write(F.pio, PCI_CONF1_ADDRESS_PORT, b, 4);
                        if (op % 6 == 0) {
                                put(b, fuzz_take(&rd, 4), 4);
                                (void)bus_write(F.pio, PCI_CONF1_DATA_PORT + n, b, l);
                        } else
                                (void)bus_read(F.pio, PCI_CONF1_DATA_PORT + n, b, l);
                        break;
                }
                case 2:
                        bar_write(fuzz_take(&rd, 2) % VIRTIO_PCI_BAR_SIZE, len, fuzz_take(&rd, 8));
                        break;
                case 3: {
                        uint64_t addr = bar() + fuzz_take(&rd, 2) % VIRTIO_PCI_BAR_SIZE;
                        (void)bus_read(F.mmio, addr, b, len); /* through the bus: decoding may be off */
                        break;
                }
                case 4: {
                        unsigned q = (unsigned)fuzz_take(&rd, 1) % (NQ + 1);
                        bar_write(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
                        bar_write(VIRTIO_PCI_COMMON_Q_SIZE, 2, fuzz_take(&rd, 2));
                        bar_write(VIRTIO_PCI_COMMON_Q_DESC, 8, fuzz_take(&rd, 3));
                        bar_write(VIRTIO_PCI_COMMON_Q_DRIVER, 8, fuzz_take(&rd, 3));
                        bar_write(VIRTIO_PCI_COMMON_Q_DEVICE, 8, fuzz_take(&rd, 3));
                        bar_write(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
                        bar_write(VIRTIO_PCI_NOTIFY_OFFSET + VIRTIO_PCI_NOTIFY_MULTIPLIER * q, 2, q);
                        break;
                }
                default:
                        bar_write(VIRTIO_PCI_COMMON_STATUS, 1, 0);
                        fuzz_check(bar_read(VIRTIO_PCI_COMMON_STATUS, 1) == 0, "reset did not clear the status");
                        F.resets = 0;
                        break;
                }
                fuzz_check(pci_bus_config_read(F.pci, 0, F.slot, 0, PCI_VENDOR_ID, 2) == VIRTIO_PCI_VENDOR_ID,
                           "vendor id changed");
                fuzz_check(pci_bus_config_read(F.pci, 0, F.slot, 0, PCI_DEVICE_ID, 2) == VIRTIO_PCI_DEVICE_ID_BASE + 5,
                           "device id changed");
                fuzz_check(bar_read(VIRTIO_PCI_COMMON_NUMQ, 2) == NQ, "num_queues changed");
                for (unsigned q = 0; q < NQ; q++) { /* the size is checked when the queue is enabled */
                        const Virtqueue *vq = virtio_pci_queue(F.vp, q);
                        if (vq->enabled)
                                fuzz_check(vq->size >= 1 && vq->size <= vq->max_size && !(vq->size & (vq->size - 1)),
                                           "an enabled queue with a bad size");
                }
                fuzz_check(F.resets <= 1, "more than one needs-reset report");
                if (virtio_pci_needs_reset(F.vp))
                        fuzz_check(F.resets == 1, "NEEDS_RESET without a report");
        }
        return 0;
}

void fuzz_seeds(FuzzSeeds *s)
{
        /* A driver bring-up: status ACK|DRIVER, features, FEATURES_OK, queue 0 at 0x1000, DRIVER_OK;
         * config-space reads through 0xCF8/0xCFC; a BAR reprogramming. */
        static const uint8_t prog[] = {
                2, 0, 0x14, 0x00, 3, 0, 0, 0, 0, 0, 0, 0,          /* status = ACK|DRIVER */
                2, 2, 0x08, 0x00, 1, 0, 0, 0, 0, 0, 0, 0,          /* gfselect = 1 */
                2, 2, 0x0c, 0x00, 1, 0, 0, 0, 0, 0, 0, 0,          /* gf = VERSION_1 */
                2, 0, 0x14, 0x00, 11, 0, 0, 0, 0, 0, 0, 0,         /* FEATURES_OK */
                4, 0, 0, 16, 0, 0x00, 0x10, 0, 0x00, 0x18, 0, 0x00, 0x20, 0, /* queue 0 */
                2, 0, 0x14, 0x00, 15, 0, 0, 0, 0, 0, 0, 0,         /* DRIVER_OK */
                3, 2, 0x00, 0x20,                                  /* device config read */
                1, 2, 0x00, 0x08, 0x00, 0x80, 0,                   /* cfg read slot 1 vendor */
                1, 2, 0x04, 0x08, 0x00, 0x80, 0,                   /* cfg read slot 1 command */
                0, 2, 0x10, 0x08, 0x00, 0x80, 0, 0xff, 0xff, 0xff, 0xff, /* BAR 0 sizing */
                1, 2, 0x10, 0x08, 0x00, 0x80, 0,
                5, 0,
        };
        fuzz_seed_add(s, prog, sizeof(prog));
        fuzz_seed_add(s, prog, 60);
        fuzz_seed_add(s, prog + 60, sizeof(prog) - 60);
}
