/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SwapVm and GetVmSwapStatus of org.chromium.VmConcierge (registered in manager-dbus.c). */
#pragma once

#include <systemd/sd-bus.h>

/* sd-bus method handlers; userdata is the Manager. Both answer later, from the VM's swap
 * controller (or at once for a request that is refused before it). */
int method_swap_vm(sd_bus_message *m, void *userdata, sd_bus_error *error);
/* vm_concierge extension (not in upstream concierge): GetVmSwapStatusRequest ->
 * GetVmSwapStatusResponse. */
int method_get_vm_swap_status(sd_bus_message *m, void *userdata, sd_bus_error *error);
