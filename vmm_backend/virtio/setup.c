/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PCI bus and virtio-balloon wiring for the VMM process. */
#include "vmm_backend/virtio/setup.h"

#include "vmm_backend/guest_mem.h"
#include "vmm_backend/macro.h"

_Static_assert(BALLOON_PENDING == CONTROL_PENDING, "balloon and control pending codes differ");

/* One VM per VMM process: its bus and how many devices use it. Touched only on the main thread
 * during setup and teardown. */
static struct {
        Vm *vm;
        PciBus *bus;
        unsigned users;
} pci_state;

static void irq_line(void *opaque, unsigned irq, int level)
{
        (void)vm_set_irq_line(opaque, irq, level);
}

int vmm_pci_bus_get(Vm *vm, PciBus **ret)
{
        if (pci_state.bus) {
                if (pci_state.vm != vm)
                        return -EBUSY;
                *ret = pci_state.bus;
                return 0;
        }
        int r = pci_bus_new(vm_pio_bus(vm), vm_mmio_bus(vm), GUEST_MMIO_BASE, GUEST_MMIO_SIZE, irq_line, vm,
                            &pci_state.bus);
        if (r < 0)
                return r;
        pci_state.vm = vm;
        *ret = pci_state.bus;
        return 0;
}

size_t vmm_pci_irq_routes(Vm *vm, PciIrqRoute *ret, size_t max)
{
        if (!pci_state.bus || pci_state.vm != vm)
                return 0;
        return pci_bus_irq_routes(pci_state.bus, ret, max);
}

static void pci_bus_put(void)
{
        if (pci_state.users > 0 && --pci_state.users > 0)
                return;
        pci_state.bus = pci_bus_free(pci_state.bus);
        pci_state.vm = NULL;
}

/* --- control ops ----------------------------------------------------------------------------- */

static void set_done(void *userdata, int error, const char *message)
{
        control_reply_finish(userdata, error, message);
}

static int ops_set(void *dev, uint64_t num_bytes, bool wait, uint32_t timeout_ms, ControlReply *reply,
                   const char **ret_message)
{
        return virtio_balloon_set_target(dev, num_bytes, wait, timeout_ms, set_done, reply, ret_message);
}

static void stats_done(void *userdata, int error, const char *message, const BalloonStatsInfo *st)
{
        if (error < 0 || !st)
                control_reply_finish(userdata, error < 0 ? error : -EIO, message);
        else
                control_reply_finish_balloon_stats(userdata, st);
}

static int ops_stats(void *dev, uint32_t timeout_ms, ControlReply *reply, const char **ret_message)
{
        return virtio_balloon_request_stats(dev, timeout_ms, stats_done, reply, ret_message);
}

static const ControlBalloonOps control_ops = { .set = ops_set, .stats = ops_stats };

static void emit_resized(void *userdata, uint64_t actual_bytes, uint64_t target_bytes)
{
        VmmEvent ev = { .type = VMM_EVENT_BALLOON_RESIZED,
                        .balloon_resized = { .actual_bytes = actual_bytes, .target_bytes = target_bytes } };
        control_server_emit(userdata, &ev);
}

static void emit_device_reset(void *userdata, const char *device, const char *reason)
{
        VmmEvent ev = { .type = VMM_EVENT_DEVICE_RESET, .device_reset = { .device = device, .reason = reason } };
        control_server_emit(userdata, &ev);
}

int virtio_balloon_setup(Vm *vm, ControlServer *ctl, VirtioBalloon **ret)
{
        PciBus *bus;
        int r = vmm_pci_bus_get(vm, &bus);
        if (r < 0)
                return r;
        pci_state.users++;

        VirtioBalloon *b;
        r = virtio_balloon_new(&(VirtioBalloonConfig){ .mem = vm_guest_mem(vm),
                                                        .loop = vm_event_loop(vm),
                                                        .resized = ctl ? emit_resized : NULL,
                                                        .device_reset = ctl ? emit_device_reset : NULL,
                                                        .userdata = ctl },
                               &b);
        if (r < 0) {
                pci_bus_put();
                return r;
        }
        r = pci_bus_add_device(bus, virtio_pci_pci_device(virtio_balloon_transport(b)), VMM_PCI_INTX_IRQ, NULL);
        if (r < 0) {
                virtio_balloon_free(b);
                pci_bus_put();
                return r;
        }
        if (ctl)
                control_server_set_balloon(ctl, &control_ops, b);
        *ret = b;
        return 0;
}

VirtioBalloon *virtio_balloon_teardown(Vm *vm, ControlServer *ctl, VirtioBalloon *b)
{
        if (!b)
                return NULL;
        if (ctl)
                control_server_set_balloon(ctl, NULL, NULL);
        if (pci_state.bus)
                (void)pci_bus_remove_device(pci_state.bus, virtio_pci_pci_device(virtio_balloon_transport(b)));
        virtio_balloon_free(b);
        pci_bus_put();
        return NULL;
}
