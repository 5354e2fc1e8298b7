/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI bus 0 behind a configuration-mechanism-#1 host bridge (ports 0xCF8/0xCFC), with memory BARs
 * allocated in and decoded from one MMIO window.
 *
 * Threads: config-space and BAR accesses arrive on vCPU threads. The bus serialises config
 * accesses with one lock (the 0xCF8 address latch is global, as on real chipsets); BAR accesses
 * look the owning BAR up under a read lock and call the device's BusOps with no PCI lock held.
 * Lock order: PCI config lock -> device locks -> a device's INTx lock (a leaf). A device must never
 * take the PCI config lock from its own BAR or INTx paths. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm_backend/bus.h"

#define PCI_CONF1_ADDRESS_PORT 0xcf8
#define PCI_CONF1_DATA_PORT 0xcfc
#define PCI_MAX_SLOTS 32
#define PCI_CONFIG_SIZE 256
#define PCI_NUM_BARS 6

/* Type-0 header offsets and bits (PCI Local Bus spec 3.0, §6.1-6.2). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CAP_START 0x40

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010

#define PCI_BAR_MEM_TYPE_64 0x04
#define PCI_BAR_MEM_PREFETCH 0x08
#define PCI_CAP_ID_VNDR 0x09

typedef struct PciBus PciBus;
typedef struct PciDevice PciDevice;

/* Raise or lower an interrupt line (KVM_IRQ_LINE in the VMM, a recorder in tests). Thread-safe. */
typedef void (*PciIrqFn)(void *opaque, unsigned irq, int level);

typedef struct PciDeviceOps {
        /* Optional. Called with the PCI config lock held, before a guest read of [off, off+len)
         * (refresh device-owned bytes in d->config) and after a guest write (act on the new bytes). */
        void (*config_read)(PciDevice *d, unsigned off, unsigned len);
        void (*config_write)(PciDevice *d, unsigned off, unsigned len);
} PciDeviceOps;

typedef struct PciBar {
        uint64_t size; /* 0 = unused slot (or the upper half of a 64-bit BAR) */
        bool is64;
        const BusOps *ops;
        void *opaque;
} PciBar;

/* Embedded in a device's own struct; set up with pci_device_init(), then add BARs and
 * capabilities, then pci_bus_add_device(). */
struct PciDevice {
        uint8_t config[PCI_CONFIG_SIZE];
        uint8_t wmask[PCI_CONFIG_SIZE]; /* bits the guest may change */
        PciBar bars[PCI_NUM_BARS];
        uint8_t cap_last;   /* offset of the last capability, 0 = none */
        uint8_t cap_free;   /* next free config offset for a capability */
        const PciDeviceOps *ops;
        void *userdata;
        PciBus *bus;
        unsigned slot, irq;
        pthread_mutex_t intx_lock; /* guards intx_level and the line output */
        bool intx_level, line_asserted;
};

typedef struct PciDeviceInfo {
        uint16_t vendor_id, device_id, subsystem_vendor_id, subsystem_id;
        uint8_t revision;
        uint32_t class_code; /* base << 16 | sub << 8 | prog-if */
        uint8_t interrupt_pin; /* 0 = none, 1 = INTA# */
} PciDeviceInfo;

void pci_device_init(PciDevice *d, const PciDeviceInfo *info, const PciDeviceOps *ops, void *userdata);
void pci_device_done(PciDevice *d);
/* A memory BAR of `size` bytes (a power of two, >= 16); is64 uses slots bar and bar+1. */
int pci_device_add_mem_bar(PciDevice *d, unsigned bar, uint64_t size, bool is64, const BusOps *ops,
                           void *opaque);
/* Append a capability: cap[0] is the capability id, cap[1] (next) is filled in. ret_offset (may be
 * NULL) gets its config-space offset. wmask (may be NULL) marks guest-writable bits of the cap. */
int pci_device_add_capability(PciDevice *d, const uint8_t *cap, uint8_t len, const uint8_t *wmask,
                              uint8_t *ret_offset);
/* Set the device's INTx level; the line follows it unless the guest set INTx-disable. */
void pci_device_set_intx(PciDevice *d, bool level);
/* Current guest-programmed address of a BAR (0 if unused). Takes the config lock. */
uint64_t pci_device_bar_address(PciDevice *d, unsigned bar);

/* The bus claims PIO [0xCF8, 0xD00) on pio and the whole [mmio_base, mmio_base+mmio_size) window on
 * mmio, and puts a host bridge at 00:00.0. */
int pci_bus_new(Bus *pio, Bus *mmio, uint64_t mmio_base, uint64_t mmio_size, PciIrqFn irq_fn,
                void *irq_opaque, PciBus **ret);
PciBus *pci_bus_free(PciBus *b);
/* Put d in the first free slot, allocate its BARs in the window (size-aligned), program them,
 * enable memory decoding (as firmware would) and route INTx to `irq`. -ENOSPC when out of slots or
 * window space. */
int pci_bus_add_device(PciBus *b, PciDevice *d, unsigned irq, unsigned *ret_slot);
/* Take d off the bus (its BARs stop decoding, its slot reads all ones); the window space it had is
 * not reused. Only while no vCPU runs. -ENOENT if d is not on b. */
int pci_bus_remove_device(PciBus *b, PciDevice *d);

/* How a device's INTx pin reaches an interrupt line, for firmware tables (the MP table). */
typedef struct PciIrqRoute {
        uint8_t slot; /* device number on bus 0 */
        uint8_t pin;  /* PCI_INTERRUPT_PIN: 1 = INTA# .. 4 = INTD# */
        uint8_t irq;  /* the line (IOAPIC pin) it is wired to */
} PciIrqRoute;

/* The routes of the devices on b that have an interrupt pin, in slot order; at most max are
 * written to ret. Returns how many there are (which may exceed max). */
size_t pci_bus_irq_routes(PciBus *b, PciIrqRoute *ret, size_t max);

/* Config accesses as the guest does them through conf1 (for tests and other transports):
 * reads of absent devices return all ones. len is 1, 2 or 4 and must not cross a dword. */
uint32_t pci_bus_config_read(PciBus *b, unsigned bus, unsigned slot, unsigned fn, unsigned off, unsigned len);
void pci_bus_config_write(PciBus *b, unsigned bus, unsigned slot, unsigned fn, unsigned off, unsigned len,
                          uint32_t val);
