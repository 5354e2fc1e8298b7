/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Vm object. */
#include "concierge/backend.h"
#include "concierge/manager.h"
#include "concierge/validate.h"
#include "concierge/vm.h"

int vm_new(const char *owner_id, const char *name, Vm **ret)
{
        _cleanup_(vm_freep) Vm *vm = NULL;

        if (!ret || validate_vm_request(owner_id, name))
                return -EINVAL;

        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return -ENOMEM;
        vm_lifecycle_init(&vm->lifecycle);
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
        /* Calls still pending on the VMM are answered with -ECANCELED from in here; their handlers
         * see vm->vmm == NULL and leave the state alone. */
        backend_free(TAKE_PTR(vm->vmm));
        free(vm->owner_id);
        free(vm->name);
        free(vm->backend);
        free(vm->cgroup_path);
        free(vm->vcpu_cgroup_path);
        free(vm->runtime_dir);
        free(vm->channel_socket);
        free(vm->swap_dir);
        free(vm->stop_waiters);
        free(vm->pause_waiters);
        free(vm->start_failure);
        free(vm);
        return NULL;
}

int vm_waiter_add(VmWaiter **list, size_t *n, VmOpDone done, void *userdata)
{
        VmWaiter *l;

        if (!done)
                return 0;
        l = reallocarray(*list, *n + 1, sizeof(**list));
        if (!l)
                return -ENOMEM;
        l[(*n)++] = (VmWaiter){.done = done, .userdata = userdata};
        *list = l;
        return 0;
}
