/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Wiring of the PCI host bridge and the virtio-balloon into a running VMM: buses, INTx through
 * KVM_IRQ_LINE, control-socket hooks and events. The VMM runs one VM per process, so the PCI bus
 * is created on first use for that VM and freed with its last device. */
#pragma once

#include "vmm_backend/control.h"
#include "vmm_backend/hw/pci.h"
#include "vmm_backend/virtio/balloon.h"
#include "vmm_backend/vm.h"

/* The GSI PCI INTx lines are routed to (IOAPIC pin; level-triggered, asserted = level 1). */
#define VMM_PCI_INTX_IRQ 10

/* The VM's PCI bus (conf1 on the PIO bus, BARs in [GUEST_MMIO_BASE, +GUEST_MMIO_SIZE)), created
 * on the first call. Before vCPUs start. */
int vmm_pci_bus_get(Vm *vm, PciBus **ret);

/* The INTx routes of the VM's PCI devices (none before the first device): see pci_bus_irq_routes. */
size_t vmm_pci_irq_routes(Vm *vm, PciIrqRoute *ret, size_t max);

/* Create the balloon, put it on the VM's PCI bus (slot 1 when it is the first device) and, if ctl
 * is not NULL, install its control ops and emit its events (balloon resized, device reset) there.
 * Call on the main thread before vCPUs start, after control_server_new(). */
int virtio_balloon_setup(Vm *vm, ControlServer *ctl, VirtioBalloon **ret);
/* After vCPUs stopped and before control_server_free(): unhooks the ops, finishes pending
 * requests (-ESHUTDOWN), takes the device off the bus and frees the bus if it was the last one. */
VirtioBalloon *virtio_balloon_teardown(Vm *vm, ControlServer *ctl, VirtioBalloon *b);
