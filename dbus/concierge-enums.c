/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* String tables of the concierge API enums. */
#include <errno.h>

#include "dbus/concierge-enums.h"
#include "vmm_backend/macro.h"

static const char *const vm_status_table[VM_STATUS_MAX] = {
        [VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_UNKNOWN] = "unknown",
        [VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING] = "running",
        [VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_STARTING] = "starting",
        [VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_FAILURE] = "failure",
        [VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_DISK_OP_IN_PROGRESS] = "disk-op-in-progress",
        [VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_STOPPED] = "stopped",
};

static const char *const vm_type_table[VM_TYPE_MAX] = {
        [VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__UNKNOWN] = "unknown",
        [VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__TERMINA] = "termina",
        [VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__ARC_VM] = "arc-vm",
        [VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__PLUGIN_VM] = "plugin-vm",
        [VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__BOREALIS] = "borealis",
        [VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__BRUSCHETTA] = "bruschetta",
        [VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__BAGUETTE] = "baguette",
};

static const char *const vm_stop_reason_table[VM_STOP_REASON_MAX] = {
        [VM_TOOLS__CONCIERGE__VM_STOP_REASON__VM_EXITED] = "vm-exited",
        [VM_TOOLS__CONCIERGE__VM_STOP_REASON__STOP_VM_REQUESTED] = "stop-vm-requested",
        [VM_TOOLS__CONCIERGE__VM_STOP_REASON__STOP_ALL_VMS_REQUESTED] = "stop-all-vms-requested",
        [VM_TOOLS__CONCIERGE__VM_STOP_REASON__DESTROY_DISK_IMAGE_REQUESTED] = "destroy-disk-image-requested",
        [VM_TOOLS__CONCIERGE__VM_STOP_REASON__SERVICE_SHUTDOWN] = "service-shutdown",
        [VM_TOOLS__CONCIERGE__VM_STOP_REASON__SIBLING_VM_EXITED] = "sibling-vm-exited",
};

static const char *table_to_string(const char *const *table, size_t n, int i)
{
        if (i < 0 || (size_t)i >= n)
                return NULL;
        return table[i];
}

static int table_from_string(const char *const *table, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int)i;
        return -EINVAL;
}

const char *vm_status_to_string(int status)
{
        return table_to_string(vm_status_table, ELEMENTSOF(vm_status_table), status);
}

int vm_status_from_string(const char *s)
{
        return table_from_string(vm_status_table, ELEMENTSOF(vm_status_table), s);
}

const char *vm_type_to_string(int type)
{
        return table_to_string(vm_type_table, ELEMENTSOF(vm_type_table), type);
}

int vm_type_from_string(const char *s)
{
        return table_from_string(vm_type_table, ELEMENTSOF(vm_type_table), s);
}

const char *vm_stop_reason_to_string(int reason)
{
        return table_to_string(vm_stop_reason_table, ELEMENTSOF(vm_stop_reason_table), reason);
}

int vm_stop_reason_from_string(const char *s)
{
        return table_from_string(vm_stop_reason_table, ELEMENTSOF(vm_stop_reason_table), s);
}
