/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SetVmCpuRestriction: reads the request, applies it through cpu-cgroups.c, replies. */
#include "concierge/cpu-cgroups-dbus.h"
#include "concierge/cpu-cgroups.h"
#include "concierge/log.h"
#include "concierge/manager.h"
#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"

int method_set_vm_cpu_restriction(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__SetVmCpuRestrictionRequest *request = NULL;
        VmTools__Concierge__SetVmCpuRestrictionResponse response =
                VM_TOOLS__CONCIERGE__SET_VM_CPU_RESTRICTION_RESPONSE__INIT;
        const ProtobufCMessageDescriptor *desc =
                &vm_tools__concierge__set_vm_cpu_restriction_request__descriptor;
        _cleanup_free_ char *reason = NULL;
        Manager *manager = userdata;
        int r;

        if (manager->shutting_down)
                return sd_bus_error_set(error, CONCIERGE_ERROR_SHUTDOWN, CONCIERGE_ERROR_SHUTDOWN_MESSAGE);

        r = bus_message_read_proto(m, desc, (ProtobufCMessage **)&request);
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

        /* protobuf-c keeps unknown enum numbers as they came; cpu-cgroups.c refuses them. */
        r = cpu_cgroups_set_restriction(manager->cpu_cgroups, (int)request->cpu_cgroup,
                                        (int)request->cpu_restriction_state, &reason);
        if (r == -ENOMEM)
                return r;
        response.success = r >= 0;
        if (r < 0) {
                response.failure_reason = reason ?: (char *)"failed to set the CPU restriction";
                log_info("SetVmCpuRestriction(cpu_cgroup=%d, state=%d) failed: %s", (int)request->cpu_cgroup,
                         (int)request->cpu_restriction_state, response.failure_reason);
        }
        return bus_reply_proto(m, &response.base);
}
