/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.chromium.VmConcierge object: vtable, method handlers and signals. */
#include "concierge/cpu-cgroups-dbus.h"
#include "concierge/log.h"
#include "concierge/manager-dbus.h"
#include "concierge/validate.h"
#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "dbus/concierge-enums.h"
#include "proto/concierge_service.pb-c.h"

static int vm_state_to_status(VmState state)
{
        switch (state) {
        case VM_STATE_STARTING:
                return VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_STARTING;
        case VM_STATE_RUNNING:
        case VM_STATE_STOPPING: /* still running until it has stopped, as upstream reports */
                return VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING;
        case VM_STATE_STOPPED:
                return VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_STOPPED;
        default:
                return VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_UNKNOWN;
        }
}

/* Fill `info` with pointers into `vm`: valid while vm lives, nothing to free. */
static void vm_to_vm_info(Vm *vm, VmTools__Concierge__VmInfo *info)
{
        vm_tools__concierge__vm_info__init(info);
        info->pid = vm->pid;
        info->cid = vm->cid;
        info->vm_type = vm->vm_type;
        info->status = vm_state_to_status(vm->state);
        info->memory_mib = vm->memory_mib;
        if (vm->backend)
                info->backend = vm->backend;
        if (vm->cgroup_path)
                info->cgroup_path = vm->cgroup_path;
        if (vm->vcpu_cgroup_path)
                info->vcpu_cgroup_path = vm->vcpu_cgroup_path;
}

/* Read the request `ay` of `m` as `desc`. On failure, replies with a D-Bus error saying why and
 * returns the (negative) result for the handler to return. */
static int read_request(sd_bus_message *m, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret,
                        sd_bus_error *error)
{
        int r;

        r = bus_message_read_proto(m, desc, ret);
        if (r == -EMSGSIZE)
                return sd_bus_error_setf(error, CONCIERGE_ERROR_INVALID_REQUEST,
                                         "Request is larger than %u bytes, the limit for %s; refusing it",
                                         BUS_PROTO_MAX_REQUEST_SIZE, desc->short_name);
        if (r == -EBADMSG)
                return sd_bus_error_setf(error, CONCIERGE_ERROR_INVALID_REQUEST,
                                         "Request does not parse as %s (malformed protobuf)",
                                         desc->short_name);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s request", desc->short_name);
        return 0;
}

static int reject_during_shutdown(Manager *manager, sd_bus_error *error)
{
        if (!manager->shutting_down)
                return 0;
        return sd_bus_error_set(error, CONCIERGE_ERROR_SHUTDOWN, CONCIERGE_ERROR_SHUTDOWN_MESSAGE);
}

static int method_list_vms(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__ListVmsRequest *request = NULL;
        VmTools__Concierge__ListVmsResponse response = VM_TOOLS__CONCIERGE__LIST_VMS_RESPONSE__INIT;
        _cleanup_free_ VmTools__Concierge__ExtendedVmInfo *ext = NULL;
        _cleanup_free_ VmTools__Concierge__ExtendedVmInfo **ext_ptrs = NULL;
        _cleanup_free_ VmTools__Concierge__VmInfo *infos = NULL;
        Manager *manager = userdata;
        size_t n = 0;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__list_vms_request__descriptor,
                         (ProtobufCMessage **)&request, error);
        if (r < 0)
                return r;

        if (!owner_id_is_valid(request->owner_id)) {
                response.failure_reason = (char *)VALIDATE_OWNER_ID_FAILURE;
                return bus_reply_proto(m, &response.base);
        }

        if (manager->n_vms > 0) {
                ext = calloc(manager->n_vms, sizeof(*ext));
                ext_ptrs = calloc(manager->n_vms, sizeof(*ext_ptrs));
                infos = calloc(manager->n_vms, sizeof(*infos));
                if (!ext || !ext_ptrs || !infos)
                        return -ENOMEM;
        }

        /* Upstream lists every VM of the owner in the map: starting and running ones. */
        for (Vm *vm = manager->vms; vm; vm = vm->registry_next) {
                if (!streq(vm->owner_id, request->owner_id))
                        continue;
                vm_tools__concierge__extended_vm_info__init(&ext[n]);
                vm_to_vm_info(vm, &infos[n]);
                ext[n].name = vm->name;
                ext[n].owner_id = vm->owner_id;
                ext[n].vm_info = &infos[n];
                ext[n].status = infos[n].status;
                ext_ptrs[n] = &ext[n];
                n++;
        }

        response.success = true;
        response.n_vms = n;
        response.vms = ext_ptrs;
        log_debug("ListVms for owner %s: %zu VM(s).", request->owner_id, n);
        return bus_reply_proto(m, &response.base);
}

static int method_get_vm_info(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__GetVmInfoRequest *request = NULL;
        VmTools__Concierge__GetVmInfoResponse response = VM_TOOLS__CONCIERGE__GET_VM_INFO_RESPONSE__INIT;
        VmTools__Concierge__VmInfo info;
        Manager *manager = userdata;
        const char *failure;
        Vm *vm;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__get_vm_info_request__descriptor,
                         (ProtobufCMessage **)&request, error);
        if (r < 0)
                return r;

        failure = validate_vm_request(request->owner_id, request->name);
        if (failure) {
                response.failure_reason = (char *)failure;
                return bus_reply_proto(m, &response.base);
        }

        vm = manager_find_vm(manager, request->owner_id, request->name);
        if (!vm) {
                log_debug("GetVmInfo: no VM %s of owner %s.", request->name, request->owner_id);
                response.failure_reason = (char *)"VM does not exist";
                return bus_reply_proto(m, &response.base);
        }

        vm_to_vm_info(vm, &info);
        response.success = true;
        response.vm_info = &info;
        return bus_reply_proto(m, &response.base);
}

static int method_stop_all_vms(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        Manager *manager = userdata;
        unsigned n;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;

        n = manager_stop_all_vms(manager, VM_TOOLS__CONCIERGE__VM_STOP_REASON__STOP_ALL_VMS_REQUESTED);
        log_info("StopAllVms: stopped %u VM(s).", n);
        return sd_bus_reply_method_return(m, NULL);
}

/* Only the methods this daemon implements are registered: a client calling another one gets
 * org.freedesktop.DBus.Error.UnknownMethod, never a fake answer. */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_LIST_VMS, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_list_vms, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_GET_VM_INFO, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_get_vm_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_SET_VM_CPU_RESTRICTION, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_set_vm_cpu_restriction,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD(CONCIERGE_METHOD_STOP_ALL_VMS, "", "", method_stop_all_vms,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_NAMES(CONCIERGE_SIGNAL_VM_STOPPING, "ay", SD_BUS_PARAM(signal), 0),
        SD_BUS_SIGNAL_WITH_NAMES(CONCIERGE_SIGNAL_VM_STOPPED, "ay", SD_BUS_PARAM(signal), 0),
        SD_BUS_VTABLE_END,
};

static void manager_on_bus_error(BusEvent *be, int error, void *userdata)
{
        Manager *m = userdata;

        log_error_errno(error, "Lost the bus connection, exiting");
        manager_shutdown(m, EXIT_FAILURE);
}

static int manager_open_bus(Manager *m, sd_bus **ret)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (streq(m->bus_spec, "system"))
                return sd_bus_open_system_with_description(ret, "vm_concierge");
        if (streq(m->bus_spec, "session"))
                return sd_bus_open_user_with_description(ret, "vm_concierge");

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, m->bus_spec);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_set_description(bus, "vm_concierge");
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(bus);
        return 0;
}

int manager_connect_bus(Manager *m)
{
        int r;

        r = manager_open_bus(m, &m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus", m->bus_spec);

        r = sd_bus_add_object_vtable(m->bus, &m->object_slot, CONCIERGE_OBJECT_PATH, CONCIERGE_INTERFACE,
                                     manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to export %s", CONCIERGE_OBJECT_PATH);

        r = sd_bus_request_name(m->bus, CONCIERGE_BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r,
                                       "%s is already owned on this bus; is another vm_concierge running?",
                                       CONCIERGE_BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to claim %s", CONCIERGE_BUS_NAME);

        r = bus_event_attach(m->bus, m->event_base, manager_on_bus_error, m, &m->bus_event);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop");
        return 0;
}

void manager_disconnect_bus(Manager *m)
{
        m->bus_event = bus_event_free(m->bus_event);
        m->object_slot = sd_bus_slot_unref(m->object_slot);
        m->bus = sd_bus_flush_close_unref(m->bus);
}

static void manager_emit(Manager *m, const char *member, const ProtobufCMessage *msg, Vm *vm)
{
        int r;

        if (!m->bus)
                return;
        r = bus_emit_proto_signal(m->bus, CONCIERGE_OBJECT_PATH, CONCIERGE_INTERFACE, member, msg);
        if (r < 0)
                log_warning_errno(r, "Failed to emit %s for VM %s, ignoring", member, vm->name);
        (void)bus_event_rearm(m->bus_event);
}

void manager_send_vm_stopping_signal(Manager *m, Vm *vm)
{
        VmTools__Concierge__VmStoppingSignal sig = VM_TOOLS__CONCIERGE__VM_STOPPING_SIGNAL__INIT;

        sig.name = vm->name;
        sig.owner_id = vm->owner_id;
        sig.cid = vm->cid;
        manager_emit(m, CONCIERGE_SIGNAL_VM_STOPPING, &sig.base, vm);
}

void manager_send_vm_stopped_signal(Manager *m, Vm *vm, int reason)
{
        VmTools__Concierge__VmStoppedSignal sig = VM_TOOLS__CONCIERGE__VM_STOPPED_SIGNAL__INIT;

        sig.name = vm->name;
        sig.owner_id = vm->owner_id;
        sig.cid = vm->cid;
        sig.reason = reason;
        manager_emit(m, CONCIERGE_SIGNAL_VM_STOPPED, &sig.base, vm);
}
