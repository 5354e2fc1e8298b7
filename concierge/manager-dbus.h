/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager's D-Bus side: connection, the org.chromium.VmConcierge object, its methods and
 * signals. */
#pragma once

#include "concierge/manager.h"

/* Connect to m->bus_spec, export the object, claim the name, attach the bus to the event loop. */
int manager_connect_bus(Manager *m);

/* Flush what is queued and drop the connection (safe when never connected). */
void manager_disconnect_bus(Manager *m);

/* Signals; without a bus (unit tests) they do nothing. Failures are logged and ignored: a
 * signal nobody could receive must not stop a VM's life cycle. */
void manager_send_vm_starting_up_signal(Manager *m, Vm *vm);
void manager_send_vm_started_signal(Manager *m, Vm *vm);
void manager_send_vm_stopping_signal(Manager *m, Vm *vm);
void manager_send_vm_stopped_signal(Manager *m, Vm *vm, int reason);

/* Re-arm the bus event after something was queued from outside a bus callback (an asynchronous
 * reply, a signal from a child or timer callback), so that it leaves. */
void manager_flush_bus(Manager *m);
