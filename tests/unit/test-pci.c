/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the PCI bus (vmm_backend/hw/pci.c): conf1 accesses, config-space masks, BAR sizing,
 * allocation and relocation, capability list, INTx. Everything goes through the PIO/MMIO buses as
 * a guest's accesses would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm_backend/guest_mem.h"
#include "vmm_backend/hw/pci.h"
#include "vmm_backend/macro.h"

#define WIN_BASE GUEST_MMIO_BASE
#define WIN_SIZE (UINT64_C(1) << 20)

typedef struct Fixture {
        Bus *pio, *mmio;
        PciBus *pci;
        int irq_level[32];
        unsigned irq_calls;
} Fixture;

/* A device whose BAR accesses are recorded. */
typedef struct TestDev {
        PciDevice pci;
        uint64_t last_off;
        uint32_t last_len;
        uint8_t last_data[8];
        unsigned reads, writes;
} TestDev;

static void irq_recorder(void *opaque, unsigned irq, int level)
{
        Fixture *f = opaque;
        assert_true(irq < ELEMENTSOF(f->irq_level));
        f->irq_level[irq] = level;
        f->irq_calls++;
}

static void dev_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        TestDev *d = opaque;
        d->reads++;
        d->last_off = off;
        d->last_len = len;
        for (uint32_t i = 0; i < len; i++)
                data[i] = (uint8_t)(0xa0 + off + i);
}

static void dev_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        TestDev *d = opaque;
        d->writes++;
        d->last_off = off;
        d->last_len = len;
        memcpy(d->last_data, data, MIN(len, 8u));
}

static const BusOps dev_ops = { .read = dev_read, .write = dev_write };

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        assert_int_equal(bus_new(&f->pio), 0);
        assert_int_equal(bus_new(&f->mmio), 0);
        assert_int_equal(pci_bus_new(f->pio, f->mmio, WIN_BASE, WIN_SIZE, irq_recorder, f, &f->pci), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        pci_bus_free(f->pci);
        bus_free(f->pio);
        bus_free(f->mmio);
        free(f);
        return 0;
}

static uint32_t conf1_addr(unsigned bus, unsigned slot, unsigned fn, unsigned reg)
{
        return UINT32_C(0x80000000) | bus << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
}

static void outl(Bus *pio, uint16_t port, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        bus_write(pio, port, b, 4);
}

static uint32_t in(Bus *pio, uint16_t port, unsigned len)
{
        uint8_t b[4] = {};
        bus_read(pio, port, b, len);
        uint32_t v = 0;
        for (unsigned i = 0; i < len; i++)
                v |= (uint32_t)b[i] << (8 * i);
        return v;
}

static void out(Bus *pio, uint16_t port, unsigned len, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        bus_write(pio, port, b, len);
}

/* Guest-style config read/write through 0xCF8/0xCFC. */
static uint32_t cfg_read(Fixture *f, unsigned slot, unsigned reg, unsigned len)
{
        outl(f->pio, 0xcf8, conf1_addr(0, slot, 0, reg));
        return in(f->pio, (uint16_t)(0xcfc + (reg & 3)), len);
}

static void cfg_write(Fixture *f, unsigned slot, unsigned reg, unsigned len, uint32_t v)
{
        outl(f->pio, 0xcf8, conf1_addr(0, slot, 0, reg));
        out(f->pio, (uint16_t)(0xcfc + (reg & 3)), len, v);
}

static TestDev *new_dev(uint8_t pin)
{
        TestDev *d = calloc(1, sizeof(*d));
        assert_non_null(d);
        pci_device_init(&d->pci,
                        &(PciDeviceInfo){ .vendor_id = 0x1234, .device_id = 0x5678, .subsystem_vendor_id = 0x1af4,
                                          .subsystem_id = 7, .revision = 3, .class_code = 0xff0000,
                                          .interrupt_pin = pin },
                        NULL, d);
        return d;
}

static void free_dev(TestDev *d)
{
        pci_device_done(&d->pci);
        free(d);
}

static void test_host_bridge_and_absent_devices(void **state)
{
        Fixture *f = *state;

        assert_int_equal(cfg_read(f, 0, PCI_VENDOR_ID, 2), 0x1b36);
        assert_int_equal(cfg_read(f, 0, PCI_CLASS_DEVICE, 2), 0x0600);
        assert_int_equal(cfg_read(f, 0, PCI_HEADER_TYPE, 1), 0);
        /* The address latch reads back. */
        outl(f->pio, 0xcf8, conf1_addr(0, 3, 0, 0x10));
        assert_int_equal(in(f->pio, 0xcf8, 4), conf1_addr(0, 3, 0, 0x10));

        /* Absent slot, other bus, other function: all ones at every width. */
        assert_int_equal(cfg_read(f, 5, 0, 4), 0xffffffffu);
        assert_int_equal(cfg_read(f, 5, 2, 2), 0xffffu);
        assert_int_equal(cfg_read(f, 5, 3, 1), 0xffu);
        outl(f->pio, 0xcf8, conf1_addr(1, 0, 0, 0));
        assert_int_equal(in(f->pio, 0xcfc, 4), 0xffffffffu);
        outl(f->pio, 0xcf8, conf1_addr(0, 0, 1, 0));
        assert_int_equal(in(f->pio, 0xcfc, 4), 0xffffffffu);
        /* Enable bit clear: the data port answers all ones and writes go nowhere. */
        outl(f->pio, 0xcf8, conf1_addr(0, 0, 0, PCI_COMMAND) & 0x7fffffff);
        assert_int_equal(in(f->pio, 0xcfc, 4), 0xffffffffu);
        out(f->pio, 0xcfc, 2, 0);
        assert_int_equal(cfg_read(f, 0, PCI_VENDOR_ID, 2), 0x1b36);
        /* A byte write to 0xCF8 does not touch the latch. */
        outl(f->pio, 0xcf8, conf1_addr(0, 0, 0, 0));
        out(f->pio, 0xcf9, 1, 0x06);
        assert_int_equal(in(f->pio, 0xcf8, 4), conf1_addr(0, 0, 0, 0));
}

static void test_config_space_masks(void **state)
{
        Fixture *f = *state;
        TestDev *d = new_dev(1);
        unsigned slot;
        assert_int_equal(pci_bus_add_device(f->pci, &d->pci, 10, &slot), 0);
        assert_int_equal(slot, 1);

        /* Byte, word and dword reads of the same dword agree. */
        assert_int_equal(cfg_read(f, slot, 0, 4), 0x56781234u);
        assert_int_equal(cfg_read(f, slot, 2, 2), 0x5678);
        assert_int_equal(cfg_read(f, slot, 1, 1), 0x12);
        assert_int_equal(cfg_read(f, slot, 3, 1), 0x56);
        assert_int_equal(cfg_read(f, slot, PCI_REVISION_ID, 4), 0xff000003u);
        assert_int_equal(cfg_read(f, slot, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00071af4u);

        /* Read-only: ids, class, revision, header type, subsystem, pin. */
        cfg_write(f, slot, PCI_VENDOR_ID, 4, 0xdeadbeef);
        cfg_write(f, slot, PCI_REVISION_ID, 4, 0);
        cfg_write(f, slot, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
        cfg_write(f, slot, PCI_INTERRUPT_PIN, 1, 4);
        assert_int_equal(cfg_read(f, slot, 0, 4), 0x56781234u);
        assert_int_equal(cfg_read(f, slot, PCI_REVISION_ID, 4), 0xff000003u);
        assert_int_equal(cfg_read(f, slot, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00071af4u);
        assert_int_equal(cfg_read(f, slot, PCI_INTERRUPT_PIN, 1), 1);

        /* The VMM routed INTA to IRQ 10; the guest may rewrite the line register. */
        assert_int_equal(cfg_read(f, slot, PCI_INTERRUPT_LINE, 1), 10);
        cfg_write(f, slot, PCI_INTERRUPT_LINE, 1, 11);
        assert_int_equal(cfg_read(f, slot, PCI_INTERRUPT_LINE, 1), 11);

        /* Command: only the implemented bits stick; memory decoding was enabled for the guest. */
        assert_int_equal(cfg_read(f, slot, PCI_COMMAND, 2), PCI_COMMAND_MEMORY);
        cfg_write(f, slot, PCI_COMMAND, 2, 0xffff);
        assert_int_equal(cfg_read(f, slot, PCI_COMMAND, 2),
                         PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
        /* Expansion ROM absent: sizing reads back 0. */
        cfg_write(f, slot, PCI_ROM_ADDRESS, 4, 0xffffffff);
        assert_int_equal(cfg_read(f, slot, PCI_ROM_ADDRESS, 4), 0);
        /* Unaligned dword through the direct API is refused (all ones), nothing written. */
        assert_int_equal(pci_bus_config_read(f->pci, 0, slot, 0, 2, 4), 0xffffffffu);
        pci_bus_config_write(f->pci, 0, slot, 0, PCI_INTERRUPT_LINE - 1, 4, 0);
        assert_int_equal(cfg_read(f, slot, PCI_INTERRUPT_LINE, 1), 11);

        pci_bus_remove_device(f->pci, &d->pci);
        assert_int_equal(cfg_read(f, slot, 0, 4), 0xffffffffu);
        free_dev(d);
}

static void test_bar_sizing_allocation_and_decoding(void **state)
{
        Fixture *f = *state;
        TestDev *d = new_dev(0);
        assert_int_equal(pci_device_add_mem_bar(&d->pci, 0, 0x1000, false, &dev_ops, d), 0);
        assert_int_equal(pci_device_add_mem_bar(&d->pci, 2, 0x10000, true, &dev_ops, d), 0);
        /* Bad BARs: not a power of two, overlapping the 64-bit pair, out of range. */
        assert_int_equal(pci_device_add_mem_bar(&d->pci, 1, 0x1800, false, &dev_ops, d), -EINVAL);
        assert_int_equal(pci_device_add_mem_bar(&d->pci, 3, 0x1000, false, &dev_ops, d), -EEXIST);
        assert_int_equal(pci_device_add_mem_bar(&d->pci, 5, 0x1000, true, &dev_ops, d), -EINVAL);
        unsigned slot;
        assert_int_equal(pci_bus_add_device(f->pci, &d->pci, 10, &slot), 0);

        /* Allocated in the window, aligned to their size. */
        uint64_t a0 = pci_device_bar_address(&d->pci, 0), a2 = pci_device_bar_address(&d->pci, 2);
        assert_true(a0 >= WIN_BASE && a0 + 0x1000 <= WIN_BASE + WIN_SIZE && a0 % 0x1000 == 0);
        assert_true(a2 >= WIN_BASE && a2 + 0x10000 <= WIN_BASE + WIN_SIZE && a2 % 0x10000 == 0);
        assert_int_equal(cfg_read(f, slot, PCI_BASE_ADDRESS_0, 4), (uint32_t)a0);
        assert_int_equal(cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 8, 4), (uint32_t)a2 | PCI_BAR_MEM_TYPE_64);
        assert_int_equal(cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 12, 4), 0);

        /* A guest access at the BAR reaches the device at the right offset. */
        uint8_t buf[4];
        assert_true(bus_read(f->mmio, a0 + 0x10, buf, 4));
        assert_int_equal(d->last_off, 0x10);
        assert_int_equal(buf[0], 0xb0);
        buf[0] = 0x5a;
        bus_write(f->mmio, a2 + 0x100, buf, 1);
        assert_int_equal(d->last_off, 0x100);
        assert_int_equal(d->last_data[0], 0x5a);

        /* Sizing protocol (memory decoding off first, as a careful guest does). */
        cfg_write(f, slot, PCI_COMMAND, 2, 0);
        cfg_write(f, slot, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
        assert_int_equal(cfg_read(f, slot, PCI_BASE_ADDRESS_0, 4), 0xfffff000u);
        cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 4, 4, 0xffffffff); /* unimplemented BAR 1 */
        assert_int_equal(cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 4, 4), 0);
        cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 8, 4, 0xffffffff);
        cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 12, 4, 0xffffffff);
        assert_int_equal(cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 8, 4), 0xffff0000u | PCI_BAR_MEM_TYPE_64);
        assert_int_equal(cfg_read(f, slot, PCI_BASE_ADDRESS_0 + 12, 4), 0xffffffffu);

        /* Relocate BAR 0 and BAR 2 elsewhere in the window, re-enable decoding. */
        uint64_t n0 = WIN_BASE + 0x80000, n2 = WIN_BASE + 0x90000;
        cfg_write(f, slot, PCI_BASE_ADDRESS_0, 4, (uint32_t)n0);
        cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 8, 4, (uint32_t)n2);
        cfg_write(f, slot, PCI_BASE_ADDRESS_0 + 12, 4, 0);
        /* Decoding still off: nothing answers. */
        unsigned reads = d->reads;
        assert_true(bus_read(f->mmio, n0, buf, 4)); /* the window claims it ... */
        assert_int_equal(d->reads, reads);           /* ... but no BAR decodes it */
        assert_int_equal(buf[0], 0xff);
        cfg_write(f, slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
        assert_int_equal(pci_device_bar_address(&d->pci, 0), n0);
        assert_int_equal(pci_device_bar_address(&d->pci, 2), n2);
        bus_read(f->mmio, n0 + 4, buf, 4);
        assert_int_equal(d->reads, reads + 1);
        assert_int_equal(d->last_off, 4);
        /* The old address no longer decodes. */
        bus_read(f->mmio, a0, buf, 4);
        assert_int_equal(d->reads, reads + 1);
        /* An access straddling the BAR end is cut at the end. */
        bus_read(f->mmio, n0 + 0xffe, buf, 4);
        assert_int_equal(d->last_len, 2);

        /* A BAR moved outside the window is not decoded (nor does it claim anything). */
        cfg_write(f, slot, PCI_BASE_ADDRESS_0, 4, 0x10000000);
        reads = d->reads;
        assert_false(bus_read(f->mmio, 0x10000000, buf, 4));
        bus_read(f->mmio, n0, buf, 4);
        assert_int_equal(d->reads, reads);

        pci_bus_remove_device(f->pci, &d->pci);
        free_dev(d);
}

static void test_capability_list(void **state)
{
        Fixture *f = *state;
        TestDev *d = new_dev(0);
        uint8_t cap1[8] = { PCI_CAP_ID_VNDR, 0xee, 8, 1, 2, 3, 4, 5 };
        uint8_t cap2[5] = { 0x05, 0xee, 1, 2, 3 };
        uint8_t cap3[12] = { PCI_CAP_ID_VNDR, 0, 12 };
        uint8_t wmask3[12] = { [4] = 0xff, [5] = 0x0f };
        uint8_t o1, o2, o3;
        assert_int_equal(cfg_read(f, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
        assert_int_equal(pci_device_add_capability(&d->pci, cap1, sizeof(cap1), NULL, &o1), 0);
        assert_int_equal(pci_device_add_capability(&d->pci, cap2, sizeof(cap2), NULL, &o2), 0);
        assert_int_equal(pci_device_add_capability(&d->pci, cap3, sizeof(cap3), wmask3, &o3), 0);
        uint8_t big[200] = { 1 };
        assert_int_equal(pci_device_add_capability(&d->pci, big, sizeof(big), NULL, NULL), -ENOSPC);
        unsigned slot;
        assert_int_equal(pci_bus_add_device(f->pci, &d->pci, 10, &slot), 0);
        assert_int_equal(pci_device_add_capability(&d->pci, cap1, sizeof(cap1), NULL, NULL), -EBUSY);

        /* Walk the list as a guest does: status bit, pointer at 0x34, dword-aligned entries. */
        assert_true(cfg_read(f, slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
        unsigned p = cfg_read(f, slot, PCI_CAPABILITY_LIST, 1), seen = 0;
        uint8_t expect_ids[] = { PCI_CAP_ID_VNDR, 0x05, PCI_CAP_ID_VNDR };
        uint8_t expect_off[] = { o1, o2, o3 };
        while (p) {
                assert_true(seen < 3);
                assert_int_equal(p % 4, 0);
                assert_true(p >= PCI_CAP_START);
                assert_int_equal(p, expect_off[seen]);
                assert_int_equal(cfg_read(f, slot, p, 1), expect_ids[seen]);
                p = cfg_read(f, slot, p + 1, 1);
                seen++;
        }
        assert_int_equal(seen, 3);
        assert_int_equal(cfg_read(f, slot, o1 + 4, 4), 0x05040302u);

        /* Capability bytes are read-only except where the device made them writable. */
        cfg_write(f, slot, o1 + 4, 4, 0);
        assert_int_equal(cfg_read(f, slot, o1 + 4, 4), 0x05040302u);
        cfg_write(f, slot, o3, 1, 0x77);    /* id */
        cfg_write(f, slot, o3 + 1, 1, 0x77); /* next */
        cfg_write(f, slot, o3 + 4, 4, 0xffffffff);
        assert_int_equal(cfg_read(f, slot, o3, 2), PCI_CAP_ID_VNDR);
        assert_int_equal(cfg_read(f, slot, o3 + 4, 4), 0x0fffu);

        pci_bus_remove_device(f->pci, &d->pci);
        free_dev(d);
}

static void test_intx(void **state)
{
        Fixture *f = *state;
        TestDev *d = new_dev(1), *nopin = new_dev(0);
        unsigned slot;
        assert_int_equal(pci_bus_add_device(f->pci, &d->pci, 10, &slot), 0);
        assert_int_equal(pci_bus_add_device(f->pci, &nopin->pci, 11, NULL), 0);
        assert_int_equal(cfg_read(f, slot + 1, PCI_INTERRUPT_LINE, 1), 0xff);

        pci_device_set_intx(&d->pci, true);
        assert_int_equal(f->irq_level[10], 1);
        assert_true(cfg_read(f, slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
        /* INTx disable drops the line but the status bit keeps showing the device's level. */
        cfg_write(f, slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
        assert_int_equal(f->irq_level[10], 0);
        assert_true(cfg_read(f, slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
        cfg_write(f, slot, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
        assert_int_equal(f->irq_level[10], 1);
        /* Repeated levels cause no extra line changes. */
        unsigned calls = f->irq_calls;
        pci_device_set_intx(&d->pci, true);
        assert_int_equal(f->irq_calls, calls);
        pci_device_set_intx(&d->pci, false);
        assert_int_equal(f->irq_level[10], 0);
        assert_false(cfg_read(f, slot, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
        /* A pin-less device never drives a line. */
        calls = f->irq_calls;
        pci_device_set_intx(&nopin->pci, true);
        assert_int_equal(f->irq_calls, calls);

        /* The routes firmware tables get: only the device with a pin, INTA# on line 10. */
        PciIrqRoute routes[4], one[1];
        assert_int_equal(pci_bus_irq_routes(f->pci, routes, ELEMENTSOF(routes)), 1);
        assert_int_equal(routes[0].slot, slot);
        assert_int_equal(routes[0].pin, 1);
        assert_int_equal(routes[0].irq, 10);
        TestDev *d2 = new_dev(1);
        assert_int_equal(pci_bus_add_device(f->pci, &d2->pci, 11, NULL), 0);
        assert_int_equal(pci_bus_irq_routes(f->pci, routes, ELEMENTSOF(routes)), 2);
        assert_int_equal(routes[1].slot, slot + 2);
        assert_int_equal(routes[1].irq, 11);
        /* a short array gets the first routes and the full count */
        assert_int_equal(pci_bus_irq_routes(f->pci, one, 1), 2);
        assert_int_equal(one[0].slot, slot);
        assert_int_equal(pci_bus_irq_routes(f->pci, NULL, 0), 2);
        pci_bus_remove_device(f->pci, &d2->pci);
        free_dev(d2);

        /* Removing a device with its line up lowers it. */
        pci_device_set_intx(&d->pci, true);
        assert_int_equal(f->irq_level[10], 1);
        pci_bus_remove_device(f->pci, &d->pci);
        assert_int_equal(f->irq_level[10], 0);
        pci_bus_remove_device(f->pci, &nopin->pci);
        free_dev(d);
        free_dev(nopin);
}

static void test_slots_and_window_exhaustion(void **state)
{
        Fixture *f = *state;
        TestDev *devs[PCI_MAX_SLOTS];
        unsigned n = 0;
        /* Each asks for 64 KiB; the 1 MiB window holds 16 of them. */
        for (; n < PCI_MAX_SLOTS; n++) {
                devs[n] = new_dev(0);
                assert_int_equal(pci_device_add_mem_bar(&devs[n]->pci, 0, 0x10000, false, &dev_ops, devs[n]), 0);
                int r = pci_bus_add_device(f->pci, &devs[n]->pci, 10, NULL);
                if (r < 0) {
                        assert_int_equal(r, -ENOSPC);
                        free_dev(devs[n]);
                        break;
                }
        }
        assert_int_equal(n, 16);
        /* BAR-less devices still fit until slots run out (slot 0 is the host bridge). */
        for (; n < PCI_MAX_SLOTS; n++) {
                devs[n] = new_dev(0);
                int r = pci_bus_add_device(f->pci, &devs[n]->pci, 10, NULL);
                if (r < 0) {
                        assert_int_equal(r, -ENOSPC);
                        free_dev(devs[n]);
                        break;
                }
        }
        assert_int_equal(n, PCI_MAX_SLOTS - 1);
        for (unsigned i = 0; i < n; i++) {
                assert_int_equal(pci_bus_remove_device(f->pci, &devs[i]->pci), 0);
                assert_int_equal(pci_bus_remove_device(f->pci, &devs[i]->pci), -ENOENT);
                free_dev(devs[i]);
        }
}

/* Random conf1 traffic must never crash or corrupt the read-only identity. */
static void test_garbage_accesses(void **state)
{
        Fixture *f = *state;
        TestDev *d = new_dev(1);
        assert_int_equal(pci_device_add_mem_bar(&d->pci, 0, 0x1000, false, &dev_ops, d), 0);
        assert_int_equal(pci_bus_add_device(f->pci, &d->pci, 10, NULL), 0);
        uint64_t x = 88172645463325252u;
        for (unsigned i = 0; i < 200000; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                uint16_t port = (uint16_t)(0xcf8 + (x & 7));
                unsigned len = 1u << ((x >> 3) % 3);
                uint32_t v = (uint32_t)(x >> 32);
                if ((x >> 5) & 1)
                        out(f->pio, port, len, (x >> 6) & 1 ? v : (v & 0x80000fff));
                else
                        (void)in(f->pio, port, len);
                uint8_t buf[8];
                if ((x >> 7) % 8 == 0)
                        bus_read(f->mmio, WIN_BASE + ((x >> 10) % WIN_SIZE), buf, len);
        }
        assert_int_equal(cfg_read(f, 1, 0, 4), 0x56781234u);
        assert_int_equal(cfg_read(f, 0, 0, 2), 0x1b36);
        pci_bus_remove_device(f->pci, &d->pci);
        free_dev(d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_host_bridge_and_absent_devices, setup, teardown),
                cmocka_unit_test_setup_teardown(test_config_space_masks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bar_sizing_allocation_and_decoding, setup, teardown),
                cmocka_unit_test_setup_teardown(test_capability_list, setup, teardown),
                cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slots_and_window_exhaustion, setup, teardown),
                cmocka_unit_test_setup_teardown(test_garbage_accesses, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
