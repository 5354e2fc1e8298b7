/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Vm object: one virtual machine known to the daemon, keyed by (owner_id, name). No sd-bus.
 *
 * Its life is the VmLifecycle state machine of vm-state.h (the manager applies events and emits
 * the signals it returns); the VMM behind it is a Backend (backend.h). A Vm is in the manager's
 * registry from StartVm until its VMM is gone. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "concierge/vm-state.h"
#include "vmm_backend/macro.h"

typedef struct Manager Manager;
typedef struct Vm Vm;
typedef struct Backend Backend;

/* Completion of an asynchronous VM operation (start, stop, suspend, resume): error 0 on success,
 * else a negative errno and message (never NULL then) saying why. vm is still valid during the
 * call, also when it is about to be dropped. */
typedef void (*VmOpDone)(Manager *m, Vm *vm, int error, const char *message, void *userdata);

typedef struct VmWaiter {
        VmOpDone done;
        void *userdata;
} VmWaiter;

/* vmm-swap metrics of a VM as the daemon last learned them from its VMM (a status poll, a status
 * query, the status it asks for after each swap state change event); all 0 before the first. The
 * page counts are crosvm's SwapMetrics, transition_* its SwapStateTransition (reference/vmm.md
 * §1.4). */
typedef struct VmSwapMetrics {
        uint64_t resident_pages;
        uint64_t copied_from_file_pages;
        uint64_t copied_from_staging_pages;
        uint64_t zeroed_pages;
        uint64_t redundant_pages;
        uint64_t staging_pages;
        uint64_t swap_pages;
        uint64_t transition_pages;
        uint64_t transition_time_ms;
} VmSwapMetrics;

struct Vm {
        Manager *manager; /* set while in the manager's registry */
        Vm *registry_prev, *registry_next;

        char *owner_id;
        char *name;
        VmLifecycle lifecycle;

        int vm_type; /* VmInfo.VmType of the API */
        int64_t cid; /* vsock context id; 0 = none assigned */
        pid_t pid;   /* the VMM process; 0 = none */
        uint32_t memory_mib;
        unsigned cpus;
        char *backend; /* the backend's name: "embedded", ... */
        char *cgroup_path;
        char *vcpu_cgroup_path;
        char *runtime_dir;    /* the VM's private dir (console.log, channel.sock, vmm.log) */
        char *channel_socket; /* <runtime_dir>/channel.sock: the guest's ttyS1 */
        char *swap_dir;       /* NULL: vmm-swap not enabled */
        bool balloon;
        uint64_t start_time_usec;    /* CLOCK_REALTIME of StartVm, µs */
        const char *swap_state;      /* vmm-swap state name (static string); NULL = vmm-swap off */
        struct VmDbus *dbus_object;  /* vm-dbus.c's export of this VM; NULL = not on the bus */
        struct SwapController *swap; /* manager-swap.c: vmm-swap controller; NULL = vmm-swap off */
        VmSwapMetrics swap_metrics;  /* manager-swap.c: latest known, for the D-Bus properties */

        Backend *vmm; /* NULL once the VMM is gone (or before it was spawned) */

        /* Outstanding operations, answered exactly once each. */
        VmWaiter start;         /* StartVm: answered when the VMM is ready, or failed */
        VmWaiter *stop_waiters; /* StopVm & co.: answered when the VMM is gone */
        size_t n_stop_waiters;
        VmWaiter *pause_waiters; /* SuspendVm/ResumeVm: answered when the transition ends */
        size_t n_pause_waiters;
        char *start_failure; /* why the start failed, for the StartVm answer */
};

/* A new VM in state VM_STATE_NEW, not in any registry. owner_id and name are copied and must be
 * valid (validate_vm_request()); -EINVAL otherwise. */
int vm_new(const char *owner_id, const char *name, Vm **ret);
/* Frees the VM (removing it from its manager's registry first). Waiters still outstanding are
 * dropped without being called: the caller answers them before (manager.c does). */
Vm *vm_free(Vm *vm);
DEFINE_TRIVIAL_CLEANUP_FUNC(Vm *, vm_free);

static inline VmState vm_get_state(const Vm *vm)
{
        return vm->lifecycle.state;
}

/* Queue a waiter; -ENOMEM. */
int vm_waiter_add(VmWaiter **list, size_t *n, VmOpDone done, void *userdata);
