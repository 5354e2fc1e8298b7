/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Vm object: one virtual machine known to the daemon, keyed by (owner_id, name). No sd-bus. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm_backend/macro.h"

typedef struct Manager Manager;
typedef struct Vm Vm;

/* Where a VM is in its life. A VM leaves the registry when it has stopped, so STOPPED is only
 * seen by code that still holds the object while it is being torn down. */
typedef enum VmState {
        VM_STATE_STARTING, /* VMM spawned, control socket not up yet */
        VM_STATE_RUNNING,
        VM_STATE_STOPPING,
        VM_STATE_STOPPED,
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -EINVAL,
} VmState;

const char *vm_state_to_string(VmState state);
VmState vm_state_from_string(const char *s);

struct Vm {
        Manager *manager; /* set while in the manager's registry */
        Vm *registry_prev, *registry_next;

        char *owner_id;
        char *name;
        VmState state;

        int vm_type; /* VmInfo.VmType of the API */
        int64_t cid; /* vsock context id; 0 = none assigned */
        pid_t pid;   /* the VMM process; 0 = none */
        uint32_t memory_mib;
        char *backend; /* "embedded", ... */
        char *cgroup_path;
        char *vcpu_cgroup_path;
};

/* A new VM in state STARTING, not in any registry. owner_id and name are copied and must be
 * valid (validate_vm_request()); -EINVAL otherwise. */
int vm_new(const char *owner_id, const char *name, Vm **ret);
Vm *vm_free(Vm *vm);
DEFINE_TRIVIAL_CLEANUP_FUNC(Vm *, vm_free);
