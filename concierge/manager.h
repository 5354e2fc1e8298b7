/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager: owns the event loop, the bus connection and the registry of VMs, and runs VMs
 * (start, stop, suspend, resume, supervision). No sd-bus code here; the bus side is
 * manager-dbus.c, which turns requests into the plain C calls below and answers from their
 * completion callbacks. */
#pragma once

#include <event2/event.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "concierge/cid-pool.h"
#include "concierge/cpu-cgroups.h"
#include "concierge/vm.h"
#include "dbus/bus-event.h"
#include "vmm_backend/macro.h"

/* reference/concierge.md §1.3: vsock CIDs are handed out from 32 up and never reused
 * (0, 1 and U32_MAX are reserved, 2 is the host, 3..31 are kept for static VMs). */
#define MANAGER_FIRST_CID CID_POOL_FIRST

/* Guest RAM of a VM whose StartVmRequest leaves memory_mib at 0. */
#define MANAGER_DEFAULT_MEMORY_MIB 256U
/* The VMM's own lower bound for guest RAM (vmm_backend --mem-mib). */
#define MANAGER_MIN_MEMORY_MIB 16U
/* The longest kernel command line the VMM takes (vmm_backend --cmdline). */
#define MANAGER_CMDLINE_MAX 4095U
/* reference/concierge.md §1.4: GetVmLogs sends at most 30 MiB (the end of the log). */
#define MANAGER_VM_LOGS_MAX (30U * 1024U * 1024U)

/* How the daemon reaches its bus and where it keeps files (all from the command line). */
typedef struct ManagerConfig {
        const char *bus;         /* "system", "session", or a D-Bus address */
        const char *runtime_dir; /* per-VM dirs, control sockets, console logs */
        const char *state_dir;   /* policy history; also the default root of swap dirs */
        const char *vmm_path;    /* the vmm_backend binary */
        const char *swap_dir;    /* root of the per-owner vmm-swap dirs (NULL: <state_dir>) */
} ManagerConfig;

struct Manager {
        struct event_base *event_base;
        struct event *sigterm_event, *sigint_event;

        char *bus_spec;
        char *runtime_dir;
        char *state_dir;
        char *vmm_path;
        char *swap_root;
        CpuCgroups *cpu_cgroups; /* set up by main() before manager_startup(); NULL: no CPU cgroups */
        struct ManagerSwap *swap; /* manager-swap.c: set up by main() after manager_startup() */

        sd_bus *bus;
        sd_bus_slot *object_slot;
        BusEvent *bus_event;

        /* The registry. A daemon runs a handful of VMs, so a list searched linearly serves both
         * keys: (owner_id, name) and the VMM pid. */
        Vm *vms;
        unsigned n_vms;
        CidPool cids;
        unsigned host_cpus; /* online CPUs at startup: the limit of StartVmRequest.cpus */
        uint64_t host_memory_mib;

        bool shutting_down;
        int exit_code;
};

int manager_new(const ManagerConfig *config, Manager **ret);
/* Kills (SIGKILL) and reaps every VMM still running: for teardown after manager_run(). */
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* Create the runtime and state dirs, watch SIGTERM/SIGINT, connect to the bus, claim the name
 * and tell systemd we are ready. */
int manager_startup(Manager *m);

/* Run the event loop until shutdown; returns the process exit code. */
int manager_run(Manager *m);

/* Refuse new calls from now on, stop every VM (reason SERVICE_SHUTDOWN) and leave the loop with
 * `exit_code` once they are all gone. */
void manager_shutdown(Manager *m, int exit_code);

/* Registry. manager_add_vm() fails with -EEXIST when (owner_id, name) or a non-zero pid is
 * already registered; on success the registry owns vm until manager_remove_vm() (which hands it
 * back) or vm_free(). */
int manager_add_vm(Manager *m, Vm *vm);
Vm *manager_remove_vm(Manager *m, Vm *vm);
Vm *manager_find_vm(Manager *m, const char *owner_id, const char *name);
Vm *manager_find_vm_by_pid(Manager *m, pid_t pid);
/* The next vsock cid (32, 33, ...; never reused); -ENOSPC when the range is used up. */
int64_t manager_allocate_cid(Manager *m);

#define MANAGER_FOREACH_VM(vm, m) for (Vm *vm = (m)->vms; vm; vm = vm->registry_next)

/* A StartVm request in plain C (manager-dbus.c unpacks the protobuf and the fds). */
typedef struct VmStartRequest {
        const char *owner_id;
        const char *name;
        int vm_type;                /* VmInfo.VmType */
        uint32_t cpus;              /* 0: every online host CPU */
        uint32_t memory_mib;        /* 0: MANAGER_DEFAULT_MEMORY_MIB */
        const char *backend;        /* NULL or "": "embedded" */
        int kernel_fd;              /* -1: missing (refused) */
        int initrd_fd;              /* -1: none */
        char *const *kernel_params; /* joined with spaces into the kernel command line */
        size_t n_kernel_params;
        bool enable_balloon;
        bool enable_vmm_swap;
        uint32_t timeout_sec; /* how long the VMM may take to come up (0: the default) */
} VmStartRequest;

/* What manager_start_vm() did. */
typedef enum VmStartResult {
        VM_START_STARTED,  /* spawned; `done` follows once it is ready or failed */
        VM_START_EXISTING, /* (owner, name) is there already: *ret_vm is it, `done` never runs */
        _VM_START_RESULT_MAX,
        _VM_START_RESULT_INVALID = -EINVAL,
} VmStartResult;

/* Validate the request, register the VM, emit VmStartingUpSignal, spawn its VMM. Returns a
 * VmStartResult, or a negative errno with *ret_failure set to the failure_reason for the client
 * (caller frees; nothing was started then). The new VM is in *ret_vm. `done` runs exactly once:
 * error 0 when the VMM answered (VmStartedSignal sent), else why it failed (the VM is being
 * dropped; vm is valid during the call only). */
int manager_start_vm(Manager *m, const VmStartRequest *req, VmOpDone done, void *userdata,
                     char **ret_failure, Vm **ret_vm);

/* Stop one VM: VmStoppingSignal, the stop ladder, VmStoppedSignal(reason) once its VMM is gone,
 * then `done` (may be NULL) and the VM leaves the registry. A VM already stopping just gets the
 * waiter. Returns 0 (done will run) or a negative errno (done will not run). */
int manager_stop_vm(Manager *m, Vm *vm, VmStopReason reason, VmOpDone done, void *userdata);

/* Stop every VM in parallel; `done` (may be NULL) runs once all of them are gone (at once when
 * there are none). Returns how many VMs were being stopped, or a negative errno. */
typedef void (*ManagerAllStopped)(Manager *m, void *userdata);
int manager_stop_all_vms(Manager *m, VmStopReason reason, ManagerAllStopped done, void *userdata);

/* Pause / resume the VM's vCPUs. `done` runs once when the VMM answered (also at once for a VM
 * already in the wanted state). Returns 0, or a negative errno with *ret_failure (static) set:
 * -EBUSY (starting, or the other transition under way), -ESTALE (stopping). */
int manager_suspend_vm(Manager *m, Vm *vm, VmOpDone done, void *userdata, const char **ret_failure);
int manager_resume_vm(Manager *m, Vm *vm, VmOpDone done, void *userdata, const char **ret_failure);

/* The end of the VM's console log, at most max_bytes (MANAGER_VM_LOGS_MAX when 0). */
int manager_read_vm_log(Manager *m, Vm *vm, size_t max_bytes, char **ret_data, size_t *ret_size);
