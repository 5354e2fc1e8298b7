/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager: owns the event loop, the bus connection and the registry of VMs. No sd-bus code
 * here; the bus side is manager-dbus.c. */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "concierge/cpu-cgroups.h"
#include "concierge/vm.h"
#include "dbus/bus-event.h"
#include "vmm_backend/macro.h"

/* reference/concierge.md §1.3: vsock CIDs are handed out from 32 up and never reused
 * (0, 1 and U32_MAX are reserved, 2 is the host, 3..31 are kept for static VMs). */
#define MANAGER_FIRST_CID 32

/* How the daemon reaches its bus and where it keeps files (all from the command line). */
typedef struct ManagerConfig {
        const char *bus;         /* "system", "session", or a D-Bus address */
        const char *runtime_dir; /* per-VM dirs, control sockets, console logs */
        const char *state_dir;   /* policy history */
        const char *vmm_path;    /* the vmm_backend binary */
} ManagerConfig;

struct Manager {
        struct event_base *event_base;
        struct event *sigterm_event, *sigint_event;

        char *bus_spec;
        char *runtime_dir;
        char *state_dir;
        char *vmm_path;
        CpuCgroups *cpu_cgroups; /* set up by main() before manager_startup(); NULL: no CPU cgroups */

        sd_bus *bus;
        sd_bus_slot *object_slot;
        BusEvent *bus_event;

        /* The registry. A daemon runs a handful of VMs, so a list searched linearly serves both
         * keys: (owner_id, name) and the VMM pid. */
        Vm *vms;
        unsigned n_vms;
        int64_t next_cid;

        bool shutting_down;
        int exit_code;
};

int manager_new(const ManagerConfig *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Create the runtime and state dirs, watch SIGTERM/SIGINT, connect to the bus, claim the name
 * and tell systemd we are ready. */
int manager_startup(Manager *m);

/* Run the event loop until shutdown; returns the process exit code. */
int manager_run(Manager *m);

/* Leave the loop with `exit_code` after stopping every VM (reason SERVICE_SHUTDOWN). */
void manager_shutdown(Manager *m, int exit_code);

/* Registry. manager_add_vm() fails with -EEXIST when (owner_id, name) or a non-zero pid is
 * already registered; on success the registry owns vm until manager_remove_vm() (which hands it
 * back) or vm_free(). */
int manager_add_vm(Manager *m, Vm *vm);
Vm *manager_remove_vm(Manager *m, Vm *vm);
Vm *manager_find_vm(Manager *m, const char *owner_id, const char *name);
Vm *manager_find_vm_by_pid(Manager *m, pid_t pid);
int64_t manager_allocate_cid(Manager *m);

#define MANAGER_FOREACH_VM(vm, m) for (Vm *vm = (m)->vms; vm; vm = vm->registry_next)

/* Stop every VM, emitting VmStopping/VmStopped with `reason` (a VmStopReason). Returns how many
 * VMs were stopped. */
unsigned manager_stop_all_vms(Manager *m, int reason);
