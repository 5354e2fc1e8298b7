/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the virtio modern PCI transport (vmm_backend/virtio/virtio-pci.c), driven the way a
 * guest driver does: capability walk through conf1 config space, then MMIO accesses to the BAR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/mman.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/virtio/virtio-pci.h"

#define RAM_SIZE (UINT64_C(1) << 20)
#define IRQ 10
#define TEST_TYPE 9

typedef struct Fixture {
        GuestMem mem;
        Bus *pio, *mmio;
        PciBus *pci;
        VirtioPci *vp;
        unsigned slot;
        uint64_t bar;
        int irq_level;
        /* what the device model saw */
        unsigned notified[2], driver_oks, resets, needs_reset_calls;
        char needs_reset_reason[128], needs_reset_device[32];
        uint8_t config[8];
} Fixture;

static void irq_recorder(void *opaque, unsigned irq, int level)
{
        Fixture *f = opaque;
        assert_int_equal(irq, IRQ);
        f->irq_level = level;
}

static void dev_notify(void *dev, unsigned q)
{
        Fixture *f = dev;
        assert_true(q < 2);
        f->notified[q]++;
}

static void dev_driver_ok(void *dev)
{
        ((Fixture *)dev)->driver_oks++;
}

static void dev_reset(void *dev)
{
        ((Fixture *)dev)->resets++;
}

static void dev_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
        Fixture *f = dev;
        assert_true(off + len <= sizeof(f->config));
        memcpy(data, f->config + off, len);
}

static void dev_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
        Fixture *f = dev;
        assert_true(off + len <= sizeof(f->config));
        memcpy(f->config + off, data, len);
}

static void on_needs_reset(void *opaque, const char *device, const char *reason)
{
        Fixture *f = opaque;
        f->needs_reset_calls++;
        snprintf(f->needs_reset_device, sizeof(f->needs_reset_device), "%s", device);
        snprintf(f->needs_reset_reason, sizeof(f->needs_reset_reason), "%s", reason);
}

static const VirtioDeviceOps test_ops = {
        .config_read = dev_config_read,
        .config_write = dev_config_write,
        .queue_notify = dev_notify,
        .driver_ok = dev_driver_ok,
        .reset = dev_reset,
};

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->mem.memfd = memfd_create("test-ram", MFD_CLOEXEC);
        assert_true(f->mem.memfd >= 0);
        assert_int_equal(ftruncate(f->mem.memfd, RAM_SIZE), 0);
        f->mem.host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->mem.memfd, 0);
        assert_true(f->mem.host != MAP_FAILED);
        f->mem.size = RAM_SIZE;
        assert_int_equal(bus_new(&f->pio), 0);
        assert_int_equal(bus_new(&f->mmio), 0);
        assert_int_equal(pci_bus_new(f->pio, f->mmio, GUEST_MMIO_BASE, GUEST_MMIO_SIZE, irq_recorder, f, &f->pci), 0);

        static const uint16_t qmax[2] = { 8, 16 };
        VirtioPciConfig cfg = {
                .name = "virtio-test", .device_type = TEST_TYPE, .class_code = 0xff0000,
                .features = UINT64_C(1) << 0 | UINT64_C(1) << 3, .num_queues = 2, .queue_max = qmax,
                .config_size = sizeof(f->config), .ops = &test_ops, .dev = f, .mem = &f->mem,
                .needs_reset = on_needs_reset, .needs_reset_opaque = f,
        };
        assert_int_equal(virtio_pci_new(&cfg, &f->vp), 0);
        assert_int_equal(pci_bus_add_device(f->pci, virtio_pci_pci_device(f->vp), IRQ, &f->slot), 0);
        f->bar = pci_device_bar_address(virtio_pci_pci_device(f->vp), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        pci_bus_remove_device(f->pci, virtio_pci_pci_device(f->vp));
        virtio_pci_free(f->vp);
        pci_bus_free(f->pci);
        bus_free(f->pio);
        bus_free(f->mmio);
        munmap(f->mem.host, RAM_SIZE);
        close(f->mem.memfd);
        free(f);
        return 0;
}

static uint32_t cfg_read(Fixture *f, unsigned reg, unsigned len)
{
        return pci_bus_config_read(f->pci, 0, f->slot, 0, reg, len);
}

static uint64_t bar_read(Fixture *f, uint64_t off, unsigned len)
{
        uint8_t b[8];
        assert_true(bus_read(f->mmio, f->bar + off, b, len));
        uint64_t v = 0;
        for (unsigned i = 0; i < len; i++)
                v |= (uint64_t)b[i] << (8 * i);
        return v;
}

static void bar_write(Fixture *f, uint64_t off, unsigned len, uint64_t v)
{
        uint8_t b[8];
        for (unsigned i = 0; i < len; i++)
                b[i] = (uint8_t)(v >> (8 * i));
        assert_true(bus_write(f->mmio, f->bar + off, b, len));
}

#define COMMON(off) (VIRTIO_PCI_COMMON_OFFSET + (off))

static uint8_t status(Fixture *f)
{
        return (uint8_t)bar_read(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1);
}

static void set_status(Fixture *f, uint8_t s)
{
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_STATUS), 1, s);
}

static uint64_t device_features(Fixture *f)
{
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 0);
        uint64_t lo = bar_read(f, COMMON(VIRTIO_PCI_COMMON_DF), 4);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 1);
        uint64_t hi = bar_read(f, COMMON(VIRTIO_PCI_COMMON_DF), 4);
        return hi << 32 | lo;
}

static void write_driver_features(Fixture *f, uint64_t v)
{
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_GF), 4, (uint32_t)v);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_GF), 4, v >> 32);
}

/* The initialisation sequence of §3.1.1 up to FEATURES_OK; returns whether it stuck. */
static bool negotiate(Fixture *f, uint64_t features)
{
        set_status(f, 0);
        set_status(f, VIRTIO_STATUS_ACKNOWLEDGE);
        set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
        write_driver_features(f, features);
        set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
        return status(f) & VIRTIO_STATUS_FEATURES_OK;
}

static void setup_queue(Fixture *f, unsigned q, uint16_t size, uint64_t desc, uint64_t drv, uint64_t dev)
{
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, q);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, size);
        /* 64-bit addresses as two 32-bit halves, as Linux writes them. */
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_DESC), 4, (uint32_t)desc);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_DESC) + 4, 4, desc >> 32);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_DRIVER), 8, drv);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_DEVICE), 4, (uint32_t)dev);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_DEVICE) + 4, 4, dev >> 32);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
}

static void test_identity_and_capabilities(void **state)
{
        Fixture *f = *state;
        assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 2), 0x1af4);
        assert_int_equal(cfg_read(f, PCI_DEVICE_ID, 2), 0x1040 + TEST_TYPE);
        assert_int_equal(cfg_read(f, PCI_REVISION_ID, 1), 1);
        assert_int_equal(cfg_read(f, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
        assert_int_equal(cfg_read(f, PCI_SUBSYSTEM_ID, 2), TEST_TYPE);
        assert_int_equal(cfg_read(f, PCI_CLASS_DEVICE, 2), 0xff00);
        assert_int_equal(cfg_read(f, PCI_INTERRUPT_PIN, 1), 1);
        assert_int_equal(cfg_read(f, PCI_INTERRUPT_LINE, 1), IRQ);
        assert_true(f->bar >= GUEST_MMIO_BASE && f->bar % VIRTIO_PCI_BAR_SIZE == 0);
        /* Sizing reports the 16 KiB memory BAR. */
        pci_bus_config_write(f->pci, 0, f->slot, 0, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
        assert_int_equal(cfg_read(f, PCI_BASE_ADDRESS_0, 4), (uint32_t)~(VIRTIO_PCI_BAR_SIZE - 1));
        pci_bus_config_write(f->pci, 0, f->slot, 0, PCI_BASE_ADDRESS_0, 4, (uint32_t)f->bar);

        /* Walk the vendor capabilities like a driver (Linux virtio_pci_find_capability). */
        struct { uint8_t bar; uint32_t off, len; unsigned n; } found[6] = {};
        uint32_t mult = 0;
        unsigned pos = cfg_read(f, PCI_CAPABILITY_LIST, 1), guard = 0;
        while (pos && guard++ < 48) {
                assert_int_equal(cfg_read(f, pos, 1), PCI_CAP_ID_VNDR);
                unsigned type = cfg_read(f, pos + 3, 1);
                assert_true(type >= 1 && type <= 5);
                found[type].n++;
                found[type].bar = (uint8_t)cfg_read(f, pos + 4, 1);
                found[type].off = cfg_read(f, pos + 8, 4);
                found[type].len = cfg_read(f, pos + 12, 4);
                if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
                        assert_int_equal(cfg_read(f, pos + 2, 1), 20);
                        mult = cfg_read(f, pos + 16, 4);
                }
                pos = cfg_read(f, pos + 1, 1);
        }
        assert_int_equal(pos, 0);
        for (unsigned t = 1; t <= 5; t++)
                assert_int_equal(found[t].n, 1);
        for (unsigned t = 1; t <= 4; t++)
                assert_int_equal(found[t].bar, 0);
        assert_int_equal(found[VIRTIO_PCI_CAP_COMMON_CFG].off, VIRTIO_PCI_COMMON_OFFSET);
        assert_int_equal(found[VIRTIO_PCI_CAP_COMMON_CFG].len, VIRTIO_PCI_COMMON_SIZE);
        assert_int_equal(found[VIRTIO_PCI_CAP_ISR_CFG].off, VIRTIO_PCI_ISR_OFFSET);
        assert_int_equal(found[VIRTIO_PCI_CAP_DEVICE_CFG].off, VIRTIO_PCI_DEVICE_OFFSET);
        assert_int_equal(found[VIRTIO_PCI_CAP_DEVICE_CFG].len, 8);
        assert_int_equal(found[VIRTIO_PCI_CAP_NOTIFY_CFG].off, VIRTIO_PCI_NOTIFY_OFFSET);
        assert_int_equal(found[VIRTIO_PCI_CAP_NOTIFY_CFG].len, 2 * 4);
        assert_int_equal(mult, VIRTIO_PCI_NOTIFY_MULTIPLIER);
        assert_true(found[VIRTIO_PCI_CAP_NOTIFY_CFG].off + found[VIRTIO_PCI_CAP_NOTIFY_CFG].len <= VIRTIO_PCI_BAR_SIZE);
}

static void test_pci_cfg_window(void **state)
{
        Fixture *f = *state;
        unsigned pos = cfg_read(f, PCI_CAPABILITY_LIST, 1);
        while (pos && cfg_read(f, pos + 3, 1) != VIRTIO_PCI_CAP_PCI_CFG)
                pos = cfg_read(f, pos + 1, 1);
        assert_true(pos);
        /* Read num_queues through the window: bar 0, offset, length 2, then pci_cfg_data. */
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 4, 1, 0);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 8, 4, VIRTIO_PCI_COMMON_NUMQ);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 12, 4, 2);
        assert_int_equal(cfg_read(f, pos + 16, 2), 2);
        /* Write device_status through it. */
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 8, 4, VIRTIO_PCI_COMMON_STATUS);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 12, 4, 1);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 16, 1, VIRTIO_STATUS_ACKNOWLEDGE);
        assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
        /* A window past the BAR or with an odd length does nothing. */
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 8, 4, VIRTIO_PCI_BAR_SIZE);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 16, 1, 0);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 8, 4, VIRTIO_PCI_COMMON_STATUS);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 12, 4, 3);
        pci_bus_config_write(f->pci, 0, f->slot, 0, pos + 16, 1, 0);
        assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
}

static void test_feature_negotiation(void **state)
{
        Fixture *f = *state;
        uint64_t df = device_features(f);
        assert_int_equal(df, UINT64_C(1) << VIRTIO_F_VERSION_1 | 1 << 0 | 1 << 3);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_DFSELECT), 4, 7);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_DF), 4), 0);

        /* Without VERSION_1: FEATURES_OK does not stick (legacy drivers are not served). */
        assert_false(negotiate(f, 1 << 0));
        /* A feature the device did not offer. */
        assert_false(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1 | 1 << 1));
        assert_false(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1 | UINT64_C(1) << 40));
        /* DRIVER_OK without FEATURES_OK is refused too. */
        set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
        assert_false(status(f) & VIRTIO_STATUS_DRIVER_OK);
        assert_int_equal(f->driver_oks, 0);

        assert_true(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1 | 1 << 3));
        virtio_pci_lock(f->vp);
        assert_true(virtio_pci_feature_negotiated(f->vp, 3));
        assert_false(virtio_pci_feature_negotiated(f->vp, 0));
        virtio_pci_unlock(f->vp);
        /* Features are frozen after FEATURES_OK. */
        write_driver_features(f, UINT64_C(1) << VIRTIO_F_VERSION_1 | 1 << 0 | 1 << 3);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_GF), 4), 1 << 3);
        /* The driver cannot set NEEDS_RESET. */
        set_status(f, status(f) | VIRTIO_STATUS_DEVICE_NEEDS_RESET);
        assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

        set_status(f, status(f) | VIRTIO_STATUS_DRIVER_OK);
        assert_true(status(f) & VIRTIO_STATUS_DRIVER_OK);
        assert_int_equal(f->driver_oks, 1);
        /* Reset clears everything the driver negotiated. */
        unsigned resets = f->resets;
        set_status(f, 0);
        assert_int_equal(status(f), 0);
        assert_int_equal(f->resets, resets + 1);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_GF), 4), 0);
}

static void test_queue_configuration_and_notify(void **state)
{
        Fixture *f = *state;
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_NUMQ), 2), 2);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2, 0);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, 1);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 16);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_NOFF), 2), 1);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
        /* A queue that does not exist reads size 0 and ignores writes. */
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, 2);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);

        assert_true(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1));
        setup_queue(f, 0, 4, 0x1000, 0x2000, 0x3000);
        setup_queue(f, 1, 16, UINT64_C(0x5000), 0x6000, 0x7000);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, 0);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 4);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 1);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_DESC), 8), 0x1000);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_DRIVER), 4), 0x2000);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_DEVICE), 4), 0x3000);
        /* Enabled queues are frozen. */
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2, 2);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_DESC), 8, 0x8000);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 4);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_DESC), 8), 0x1000);

        /* Notify queue q at notify_off(q) * multiplier. */
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET + 4, 2, 1);
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET, 2, 0);
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET + 2, 2, 0); /* not a queue's address */
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET + 8, 2, 2); /* no queue 2 */
        assert_int_equal(f->notified[0], 1);
        assert_int_equal(f->notified[1], 1);
        assert_int_equal(bar_read(f, VIRTIO_PCI_NOTIFY_OFFSET, 4), 0);

        /* Device config window is bounded by the device's config size. */
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 0x11223344);
        assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4), 0x11223344);
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 6, 4, 0xffffffff); /* straddles the end */
        assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4), 0xffff3344);
        assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFFSET + 8, 4), 0);

        /* Reset: queues back to their defaults. */
        set_status(f, 0);
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_Q_SELECT), 2, 0);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_SIZE), 2), 8);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_Q_DESC), 8), 0);
        /* Notifications before FEATURES_OK are not delivered. */
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET, 2, 0);
        assert_int_equal(f->notified[0], 1);
}

static void test_bad_queue_needs_reset(void **state)
{
        Fixture *f = *state;
        assert_true(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1));
        set_status(f, status(f) | VIRTIO_STATUS_DRIVER_OK);
        uint8_t gen = (uint8_t)bar_read(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1);
        setup_queue(f, 1, 16, 0x5000, 0x6000, 0x7000);
        setup_queue(f, 0, 6, 0x1000, 0x2000, 0x3000); /* not a power of two */

        assert_true(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
        assert_int_equal(f->needs_reset_calls, 1);
        assert_string_equal(f->needs_reset_device, "virtio-test");
        assert_non_null(strstr(f->needs_reset_reason, "power of two"));
        assert_int_equal(f->irq_level, 1);
        assert_int_not_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1), gen);
        /* Every queue stopped: notifications go nowhere. */
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET + 4, 2, 1);
        assert_int_equal(f->notified[1], 0);
        /* Further errors are not reported again; a ring outside RAM is refused too. */
        setup_queue(f, 0, 8, RAM_SIZE, 0x2000, 0x3000);
        assert_int_equal(f->needs_reset_calls, 1);
        /* The config interrupt is in the ISR; reading it clears it and lowers INTx. */
        assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1), VIRTIO_ISR_CONFIG);
        assert_int_equal(f->irq_level, 0);
        assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1), 0);

        /* After a reset the device works again, and a later error is reported again. */
        set_status(f, 0);
        assert_int_equal(status(f), 0);
        assert_true(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1));
        setup_queue(f, 0, 8, 0x1000 + 8, 0x2000, 0x3000);
        assert_int_equal(f->needs_reset_calls, 2);
        assert_non_null(strstr(f->needs_reset_reason, "misaligned"));
        set_status(f, 0);
        assert_true(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1));
        setup_queue(f, 0, 8, 0x1000, 0x2000, 0x3000);
        assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET, 2, 0);
        assert_int_equal(f->notified[0], 1);
}

static void test_isr_and_interrupts(void **state)
{
        Fixture *f = *state;
        assert_true(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1));
        setup_queue(f, 0, 8, 0x1000, 0x2000, 0x3000);

        /* No config interrupt before DRIVER_OK, but the generation still moves. */
        uint8_t gen = (uint8_t)bar_read(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1);
        virtio_pci_lock(f->vp);
        virtio_pci_config_changed(f->vp);
        virtio_pci_unlock(f->vp);
        assert_int_equal(f->irq_level, 0);
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1), (uint8_t)(gen + 1));
        bar_write(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1, 0); /* read-only */
        assert_int_equal(bar_read(f, COMMON(VIRTIO_PCI_COMMON_CFGGENERATION), 1), (uint8_t)(gen + 1));

        set_status(f, status(f) | VIRTIO_STATUS_DRIVER_OK);
        virtio_pci_lock(f->vp);
        virtio_pci_queue_interrupt(f->vp, 0);
        virtio_pci_config_changed(f->vp);
        virtio_pci_unlock(f->vp);
        assert_int_equal(f->irq_level, 1);
        assert_true(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
        bar_write(f, VIRTIO_PCI_ISR_OFFSET, 1, 0); /* writes do not clear */
        assert_int_equal(f->irq_level, 1);
        assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1), VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG);
        assert_int_equal(f->irq_level, 0);
        assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1), 0);

        /* The driver may suppress used-buffer interrupts (avail flags). */
        uint16_t no_intr = VIRTQ_AVAIL_F_NO_INTERRUPT;
        memcpy(f->mem.host + 0x2000, &no_intr, 2);
        virtio_pci_lock(f->vp);
        virtio_pci_queue_interrupt(f->vp, 0);
        virtio_pci_unlock(f->vp);
        assert_int_equal(f->irq_level, 0);
        assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1), 0);
}

/* Random BAR traffic: never crashes, and a reset brings the device back to a clean state. */
static void test_garbage_bar_accesses(void **state)
{
        Fixture *f = *state;
        uint64_t x = 0x2545f4914f6cdd1du;
        for (unsigned i = 0; i < 100000; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                static const uint64_t regions[] = { VIRTIO_PCI_COMMON_OFFSET, VIRTIO_PCI_ISR_OFFSET,
                                                    VIRTIO_PCI_DEVICE_OFFSET, VIRTIO_PCI_NOTIFY_OFFSET };
                uint64_t off = regions[x % 4] + ((x >> 2) % 0x40);
                unsigned len = 1u << ((x >> 10) % 4);
                if ((x >> 12) & 1)
                        bar_write(f, off, len, x >> 13);
                else
                        (void)bar_read(f, off, len);
        }
        set_status(f, 0);
        assert_int_equal(status(f), 0);
        assert_true(negotiate(f, UINT64_C(1) << VIRTIO_F_VERSION_1));
        setup_queue(f, 0, 8, 0x1000, 0x2000, 0x3000);
        assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void test_bad_configs(void **state)
{
        Fixture *f = *state;
        static const uint16_t qmax[1] = { 8 }, qbad[1] = { 12 };
        VirtioPciConfig cfg = { .device_type = 1, .num_queues = 1, .queue_max = qmax, .mem = &f->mem };
        VirtioPci *vp = NULL;
        cfg.num_queues = 0;
        assert_int_equal(virtio_pci_new(&cfg, &vp), -EINVAL);
        cfg.num_queues = 1;
        cfg.features = UINT64_C(1) << VIRTIO_F_VERSION_1;
        assert_int_equal(virtio_pci_new(&cfg, &vp), -EINVAL);
        cfg.features = 0;
        cfg.queue_max = qbad;
        assert_int_equal(virtio_pci_new(&cfg, &vp), -EINVAL);
        cfg.queue_max = qmax;
        assert_int_equal(virtio_pci_new(&cfg, &vp), 0);
        virtio_pci_free(vp);
        assert_null(virtio_pci_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_identity_and_capabilities, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
                cmocka_unit_test_setup_teardown(test_feature_negotiation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue_configuration_and_notify, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_queue_needs_reset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_isr_and_interrupts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_garbage_bar_accesses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_configs, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
