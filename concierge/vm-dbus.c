/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-VM D-Bus object: vtable, property getters, export and PropertiesChanged. */
#include <stdarg.h>

#include "concierge/log.h"
#include "concierge/vm-dbus.h"

/* The most property names one vm_dbus_emit_changed() call takes: there are 21 properties, the
 * most that change together are the 9 swap metrics. */
#define VM_DBUS_MAX_CHANGED 16

struct VmDbus {
        char *path;
        sd_bus_slot *vtable_slot;
        /* Each exported VM holds a reference on an ObjectManager at VM_DBUS_PATH_PREFIX: sd-bus
         * serves GetManagedObjects there while at least one is registered, and finds it when
         * announcing InterfacesAdded/Removed. The Manager needs no slot of its own for it. */
        sd_bus_slot *manager_slot;
};

int vm_dbus_path(const char *owner_id, const char *name, char **ret)
{
        if (!owner_id || !name || !ret)
                return -EINVAL;
        return sd_bus_path_encode_many(ret, VM_DBUS_PATH_PREFIX "/%/%", owner_id, name);
}

int vm_dbus_path_parse(const char *path, char **ret_owner_id, char **ret_name)
{
        _cleanup_free_ char *owner_id = NULL, *name = NULL;
        int r;

        if (!path || !ret_owner_id || !ret_name)
                return -EINVAL;
        r = sd_bus_path_decode_many(path, VM_DBUS_PATH_PREFIX "/%/%", &owner_id, &name);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        *ret_owner_id = TAKE_PTR(owner_id);
        *ret_name = TAKE_PTR(name);
        return 0;
}

const char *vm_dbus_state_string(const Vm *vm)
{
        return vm_state_to_string(vm->lifecycle.state) ?: "unknown";
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Vm *vm = userdata;

        return sd_bus_message_append(reply, "s", vm_dbus_state_string(vm));
}

static int property_get_cpus(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Vm *vm = userdata;

        return sd_bus_message_append(reply, "u", (uint32_t)vm->cpus);
}

static int property_get_pid(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        Vm *vm = userdata;

        return sd_bus_message_append(reply, "i", (int32_t)vm->pid);
}

/* The string properties: a char * of Vm, "" when NULL. */
static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
        const char *const *s = userdata;

        return sd_bus_message_append(reply, "s", strempty(*s));
}

/* Properties whose values may change after the object appeared say so with EMITS_CHANGE (the
 * daemon calls vm_dbus_emit_changed() for them); the key is CONST. Offsets into Vm make the
 * typed members their own getters (sd-bus reads "x" as int64_t, "u" as uint32_t, "t" as
 * uint64_t at userdata + offset). */
static const sd_bus_vtable vm_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_string, offsetof(Vm, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("OwnerId", "s", property_get_string, offsetof(Vm, owner_id),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Cid", "x", NULL, offsetof(Vm, cid), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Pid", "i", property_get_pid, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MemoryMiB", "u", NULL, offsetof(Vm, memory_mib),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Cpus", "u", property_get_cpus, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BackendName", "s", property_get_string, offsetof(Vm, backend),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StartTimeUsec", "t", NULL, offsetof(Vm, start_time_usec),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CgroupPath", "s", property_get_string, offsetof(Vm, cgroup_path),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VcpuCgroupPath", "s", property_get_string, offsetof(Vm, vcpu_cgroup_path),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SwapState", "s", property_get_string, offsetof(Vm, swap_state),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
#define SWAP_METRIC(name, member)                                                                           \
        SD_BUS_PROPERTY(name, "t", NULL, offsetof(Vm, swap_metrics) + offsetof(VmSwapMetrics, member),      \
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)
        SWAP_METRIC("SwapResidentPages", resident_pages),
        SWAP_METRIC("SwapCopiedFromFilePages", copied_from_file_pages),
        SWAP_METRIC("SwapCopiedFromStagingPages", copied_from_staging_pages),
        SWAP_METRIC("SwapZeroedPages", zeroed_pages),
        SWAP_METRIC("SwapRedundantPages", redundant_pages),
        SWAP_METRIC("SwapStagingPages", staging_pages),
        SWAP_METRIC("SwapSwapPages", swap_pages),
        SWAP_METRIC("SwapTransitionPages", transition_pages),
        SWAP_METRIC("SwapTransitionTimeMs", transition_time_ms),
#undef SWAP_METRIC
        SD_BUS_VTABLE_END,
};

static struct VmDbus *vm_dbus_object_free(struct VmDbus *o)
{
        if (!o)
                return NULL;
        sd_bus_slot_unref(o->vtable_slot);
        sd_bus_slot_unref(o->manager_slot);
        free(o->path);
        free(o);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct VmDbus *, vm_dbus_object_free);

int vm_dbus_add(Manager *m, Vm *vm)
{
        _cleanup_(vm_dbus_object_freep) struct VmDbus *o = NULL;
        int r;

        if (!m || !vm)
                return -EINVAL;
        if (vm->dbus_object)
                return -EEXIST;
        if (!m->bus)
                return 0;

        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        r = vm_dbus_path(vm->owner_id, vm->name, &o->path);
        if (r < 0)
                return r;

        r = sd_bus_add_object_manager(m->bus, &o->manager_slot, VM_DBUS_PATH_PREFIX);
        if (r < 0)
                return log_error_errno(r, "Failed to add the object manager at %s", VM_DBUS_PATH_PREFIX);
        r = sd_bus_add_object_vtable(m->bus, &o->vtable_slot, o->path, VM_DBUS_INTERFACE, vm_vtable, vm);
        if (r < 0)
                return log_error_errno(r, "Failed to export VM %s of owner %s at %s", vm->name, vm->owner_id,
                                       o->path);

        r = sd_bus_emit_object_added(m->bus, o->path);
        if (r < 0)
                log_warning_errno(r, "Failed to announce %s, ignoring", o->path);
        (void)bus_event_rearm(m->bus_event);

        log_debug("Exported VM %s of owner %s at %s.", vm->name, vm->owner_id, o->path);
        vm->dbus_object = TAKE_PTR(o);
        return 0;
}

void vm_dbus_remove(Manager *m, Vm *vm)
{
        int r;

        if (!vm || !vm->dbus_object)
                return;

        /* InterfacesRemoved is built from the registered vtables, so it goes out first. */
        if (m && m->bus) {
                r = sd_bus_emit_object_removed(m->bus, vm->dbus_object->path);
                if (r < 0)
                        log_warning_errno(r, "Failed to announce the removal of %s, ignoring",
                                          vm->dbus_object->path);
                (void)bus_event_rearm(m->bus_event);
        }
        vm->dbus_object = vm_dbus_object_free(vm->dbus_object);
}

void vm_dbus_emit_changed_strv(Manager *m, Vm *vm, char **properties)
{
        int r;

        if (!m || !m->bus || !vm || !vm->dbus_object || !properties || !properties[0])
                return;

        r = sd_bus_emit_properties_changed_strv(m->bus, vm->dbus_object->path, VM_DBUS_INTERFACE,
                                                properties);
        if (r < 0)
                log_warning_errno(r, "Failed to emit PropertiesChanged on %s, ignoring",
                                  vm->dbus_object->path);
        (void)bus_event_rearm(m->bus_event);
}

void vm_dbus_emit_changed(Manager *m, Vm *vm, const char *property, ...)
{
        const char *names[VM_DBUS_MAX_CHANGED + 1];
        size_t n = 0;
        va_list ap;

        if (!m || !m->bus || !vm || !vm->dbus_object || !property)
                return;

        va_start(ap, property);
        for (const char *p = property; p; p = va_arg(ap, const char *)) {
                if (n >= VM_DBUS_MAX_CHANGED) {
                        va_end(ap);
                        log_error("vm_dbus_emit_changed(): more than %d names for %s, ignoring",
                                  VM_DBUS_MAX_CHANGED, vm->dbus_object->path);
                        return;
                }
                names[n++] = p;
        }
        va_end(ap);
        names[n] = NULL;

        vm_dbus_emit_changed_strv(m, vm, (char **)names);
}
