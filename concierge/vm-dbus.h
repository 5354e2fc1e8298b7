/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-VM D-Bus object: /org/chromium/VmConcierge/vm/<owner>/<name> with typed properties.
 *
 * DESIGN §2 ("beyond concierge"): every VM the daemon knows is also an object with typed,
 * introspectable read-only properties of interface org.chromium.VmConcierge.Vm, so `busctl tree`,
 * `busctl introspect` and `busctl get-property` work without protobuf. Properties that change
 * during a VM's life are announced with org.freedesktop.DBus.Properties.PropertiesChanged (the
 * caller says which ones changed: vm_dbus_emit_changed()). The objects sit below an
 * org.freedesktop.DBus.ObjectManager at /org/chromium/VmConcierge/vm, which announces them with
 * InterfacesAdded/InterfacesRemoved.
 *
 * Properties (the values come from the Vm struct at each read):
 *   Name s, OwnerId s                    the VM's key (constant)
 *   State s                              vm_state_to_string(): "starting", "running", ...
 *   Cid x, Pid i                         vsock cid and VMM pid (0: none yet)
 *   MemoryMiB u, Cpus u                  configured guest RAM and vCPUs
 *   BackendName s                        "embedded", ...
 *   StartTimeUsec t                      CLOCK_REALTIME µs when StartVm accepted it (0: unknown)
 *   CgroupPath s, VcpuCgroupPath s       the VMM's cgroups ("" when none)
 *   SwapState s                          vmm-swap state ("" when vmm-swap is off for this VM)
 *   SwapResidentPages t, SwapCopiedFromFilePages t, SwapCopiedFromStagingPages t,
 *   SwapZeroedPages t, SwapRedundantPages t, SwapStagingPages t, SwapSwapPages t
 *                                        vmm-swap metrics: "Swap" + crosvm's SwapMetrics field
 *   SwapTransitionPages t, SwapTransitionTimeMs t
 *                                        the VMM's last swap state transition (pages, ms)
 *     The metrics are the latest known values (Vm.swap_metrics; 0 before the first status and
 *     for a VM without vmm-swap): getters never ask the VMM. manager-swap.c refreshes them from
 *     every full status the daemon gets (status polls, GetVmSwapStatus, and a status it asks for
 *     after each swap state change event) and emits PropertiesChanged for those that changed.
 *     GetVmSwapStatus fetches fresh ones. */
#pragma once

#include "concierge/manager.h"
#include "concierge/vm.h"

#define VM_DBUS_INTERFACE "org.chromium.VmConcierge.Vm"
/* The parent of every VM object; the ObjectManager lives here. */
#define VM_DBUS_PATH_PREFIX "/org/chromium/VmConcierge/vm"

/* The object path of VM (owner_id, name): both are escaped as sd_bus_path_encode() does (every
 * byte outside [A-Za-z0-9], and a leading digit, becomes _XX in hex; "" becomes "_"), so any
 * name maps to a valid, unique path. -EINVAL on NULL arguments, -ENOMEM. */
int vm_dbus_path(const char *owner_id, const char *name, char **ret);

/* The reverse: the (owner_id, name) a path of vm_dbus_path() was made from. -ENXIO when the
 * path is not of that shape (other prefix, other depth). */
int vm_dbus_path_parse(const char *path, char **ret_owner_id, char **ret_name);

/* The State property value of vm ("unknown" for a state outside the table; never NULL). */
const char *vm_dbus_state_string(const Vm *vm);

/* Export vm at its path (m->bus must be connected; without a bus this does nothing and returns
 * 0, so unit tests of the manager need no bus) and announce it with InterfacesAdded. -EEXIST
 * when vm is already exported. On failure nothing stays registered. */
int vm_dbus_add(Manager *m, Vm *vm);

/* Announce InterfacesRemoved and drop the object (safe when vm was never exported). */
void vm_dbus_remove(Manager *m, Vm *vm);

/* Emit PropertiesChanged for the NULL-terminated list of property names (their new values are
 * read from vm), then re-arm the bus event so the signal leaves even when called from outside a
 * bus callback. Failures are logged and ignored. Does nothing for a vm not exported. */
void vm_dbus_emit_changed(Manager *m, Vm *vm, const char *property, ...) __attribute__((sentinel));
/* The same for a NULL-terminated array of names (nothing for an empty one). */
void vm_dbus_emit_changed_strv(Manager *m, Vm *vm, char **properties);
