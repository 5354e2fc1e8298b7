/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SetVmCpuRestriction method of org.chromium.VmConcierge (registered in manager-dbus.c). */
#pragma once

#include <systemd/sd-bus.h>

/* sd-bus method handler; userdata is the Manager (uses m->cpu_cgroups). */
int method_set_vm_cpu_restriction(sd_bus_message *m, void *userdata, sd_bus_error *error);
