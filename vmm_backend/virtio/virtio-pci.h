/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The virtio 1.x modern PCI transport (virtio 1.x §4.1): vendor 0x1af4, device id 0x1040 + type,
 * revision 1, and the common / notify / ISR / device-config / PCI-config-access capabilities
 * pointing into one 32-bit memory BAR. Interrupts are INTx only (no MSI-X: msix vectors read
 * NO_VECTOR), which also suits a polling driver.
 *
 * BAR 0 layout (each region on its own 4 KiB page so a guest can map them separately):
 *   0x0000 common configuration   0x1000 ISR status   0x2000 device configuration
 *   0x3000 notifications: queue q at 0x3000 + 4*q (queue_notify_off = q, multiplier 4)
 *
 * One mutex per device guards the transport and the device model behind it. Device ops are called
 * with it held; functions below marked "locked" must be called with it held. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm_backend/guest_mem.h"
#include "vmm_backend/hw/pci.h"
#include "vmm_backend/virtio/virtqueue.h"

#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040 /* modern: 0x1040 + device type */
#define VIRTIO_PCI_REVISION 1

#define VIRTIO_F_VERSION_1 32

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_ISR_QUEUE 0x1
#define VIRTIO_ISR_CONFIG 0x2
#define VIRTIO_MSI_NO_VECTOR 0xffff

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* Common configuration field offsets (§4.1.4.3). */
#define VIRTIO_PCI_COMMON_DFSELECT 0x00
#define VIRTIO_PCI_COMMON_DF 0x04
#define VIRTIO_PCI_COMMON_GFSELECT 0x08
#define VIRTIO_PCI_COMMON_GF 0x0c
#define VIRTIO_PCI_COMMON_MSIX 0x10
#define VIRTIO_PCI_COMMON_NUMQ 0x12
#define VIRTIO_PCI_COMMON_STATUS 0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT 0x16
#define VIRTIO_PCI_COMMON_Q_SIZE 0x18
#define VIRTIO_PCI_COMMON_Q_MSIX 0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE 0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF 0x1e
#define VIRTIO_PCI_COMMON_Q_DESC 0x20
#define VIRTIO_PCI_COMMON_Q_DRIVER 0x28
#define VIRTIO_PCI_COMMON_Q_DEVICE 0x30
#define VIRTIO_PCI_COMMON_SIZE 0x38

#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON_OFFSET 0x0000
#define VIRTIO_PCI_ISR_OFFSET 0x1000
#define VIRTIO_PCI_DEVICE_OFFSET 0x2000
#define VIRTIO_PCI_NOTIFY_OFFSET 0x3000
#define VIRTIO_PCI_NOTIFY_MULTIPLIER 4
#define VIRTIO_PCI_MAX_QUEUES 16
#define VIRTIO_PCI_MAX_DEVICE_CONFIG 0x1000

typedef struct VirtioPci VirtioPci;

typedef struct VirtioDeviceOps {
        /* All optional; all called with the transport lock held. */
        void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
        void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
        /* The driver notified queue q (which is enabled and the device is operational). */
        void (*queue_notify)(void *dev, unsigned q);
        /* The driver set DRIVER_OK (buffers posted before it may be waiting). */
        void (*driver_ok)(void *dev);
        /* The driver reset the device (wrote 0 to device_status); queues are already reset. */
        void (*reset)(void *dev);
} VirtioDeviceOps;

/* The device entered DEVICE_NEEDS_RESET because of a guest error. Called with the lock held, on
 * the thread that found the error (usually a vCPU thread): hand the report to another thread,
 * do not block. */
typedef void (*VirtioNeedsResetFn)(void *opaque, const char *device, const char *reason);

typedef struct VirtioPciConfig {
        const char *name; /* e.g. "virtio-balloon", for reports */
        uint16_t device_type;
        uint32_t class_code;
        uint64_t features; /* device features besides VIRTIO_F_VERSION_1 */
        uint16_t num_queues;
        const uint16_t *queue_max; /* num_queues maximum sizes (powers of two) */
        uint32_t config_size;      /* device-specific config bytes */
        const VirtioDeviceOps *ops;
        void *dev;
        const GuestMem *mem;
        VirtioNeedsResetFn needs_reset;
        void *needs_reset_opaque;
} VirtioPciConfig;

int virtio_pci_new(const VirtioPciConfig *cfg, VirtioPci **ret);
/* Only after the device is off every bus (or the bus is freed) and no vCPU runs. */
VirtioPci *virtio_pci_free(VirtioPci *vp);
PciDevice *virtio_pci_pci_device(VirtioPci *vp);

void virtio_pci_lock(VirtioPci *vp);
void virtio_pci_unlock(VirtioPci *vp);

/* --- locked ------------------------------------------------------------------------------ */
Virtqueue *virtio_pci_queue(VirtioPci *vp, unsigned q);
/* Queue q may be processed: enabled, features negotiated, device not in NEEDS_RESET. */
bool virtio_pci_queue_ready(VirtioPci *vp, unsigned q);
bool virtio_pci_driver_ok(VirtioPci *vp);
bool virtio_pci_needs_reset(VirtioPci *vp);
uint8_t virtio_pci_status(VirtioPci *vp);
bool virtio_pci_feature_negotiated(VirtioPci *vp, unsigned bit);
/* After pushing used buffers on q: interrupt the driver unless it asked not to be. */
void virtio_pci_queue_interrupt(VirtioPci *vp, unsigned q);
/* The device configuration changed: bump config_generation and send a config interrupt. */
void virtio_pci_config_changed(VirtioPci *vp);
/* The guest broke the protocol: DEVICE_NEEDS_RESET, all queues stop, config interrupt, report.
 * Only the first error until the next reset is reported. */
void virtio_pci_device_error(VirtioPci *vp, const char *reason);

/* Direct BAR access, as a guest access through the BAR would do (tests, PCI_CFG window). Takes
 * the lock itself. */
void virtio_pci_bar_read(VirtioPci *vp, uint64_t off, uint8_t *data, uint32_t len);
void virtio_pci_bar_write(VirtioPci *vp, uint64_t off, const uint8_t *data, uint32_t len);
