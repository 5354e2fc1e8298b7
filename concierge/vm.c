/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Vm object. */
#include "concierge/manager.h"
#include "concierge/validate.h"
#include "concierge/vm.h"

static const char *const vm_state_table[_VM_STATE_MAX] = {
        [VM_STATE_STARTING] = "starting",
        [VM_STATE_RUNNING] = "running",
        [VM_STATE_STOPPING] = "stopping",
        [VM_STATE_STOPPED] = "stopped",
};

const char *vm_state_to_string(VmState state)
{
        if (state < 0 || state >= _VM_STATE_MAX)
                return NULL;
        return vm_state_table[state];
}

VmState vm_state_from_string(const char *s)
{
        if (!s)
                return _VM_STATE_INVALID;
        for (VmState st = 0; st < _VM_STATE_MAX; st++)
                if (streq(vm_state_table[st], s))
                        return st;
        return _VM_STATE_INVALID;
}

int vm_new(const char *owner_id, const char *name, Vm **ret)
{
        _cleanup_(vm_freep) Vm *vm = NULL;

        if (!ret || validate_vm_request(owner_id, name))
                return -EINVAL;

        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return -ENOMEM;
        vm->state = VM_STATE_STARTING;
        vm->owner_id = strdup(owner_id);
        vm->name = strdup(name);
        if (!vm->owner_id || !vm->name)
                return -ENOMEM;

        *ret = TAKE_PTR(vm);
        return 0;
}

Vm *vm_free(Vm *vm)
{
        if (!vm)
                return NULL;
        if (vm->manager)
                manager_remove_vm(vm->manager, vm);
        free(vm->owner_id);
        free(vm->name);
        free(vm->backend);
        free(vm->cgroup_path);
        free(vm->vcpu_cgroup_path);
        free(vm);
        return NULL;
}
