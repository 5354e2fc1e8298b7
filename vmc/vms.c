/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the query verbs, `list` and `info NAME`. */
#include <inttypes.h>
#include <json-c/json.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "dbus/concierge-enums.h"
#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

static void json_object_putp(json_object **j)
{
        if (*j)
                json_object_put(*j);
}

static const char *status_string(int status)
{
        return vm_status_to_string(status) ?: "unknown";
}

static const char *type_string(int type)
{
        return vm_type_to_string(type) ?: "unknown";
}

/* The JSON object of one VM. json-c allocation failures abort the program; nothing to check. */
static json_object *vm_to_json(const char *name, const char *owner_id, int status,
                               const VmTools__Concierge__VmInfo *info)
{
        json_object *j = json_object_new_object();

        json_object_object_add(j, "name", json_object_new_string(name));
        json_object_object_add(j, "owner_id", json_object_new_string(owner_id));
        json_object_object_add(j, "status", json_object_new_string(status_string(status)));
        if (info) {
                json_object_object_add(j, "vm_type", json_object_new_string(type_string(info->vm_type)));
                json_object_object_add(j, "cid", json_object_new_int64(info->cid));
                json_object_object_add(j, "pid", json_object_new_int(info->pid));
                json_object_object_add(j, "memory_mib", json_object_new_int64(info->memory_mib));
                json_object_object_add(j, "allocated_memory", json_object_new_int64(info->allocated_memory));
                json_object_object_add(j, "backend", json_object_new_string(strempty(info->backend)));
                json_object_object_add(j, "cgroup_path",
                                       json_object_new_string(strempty(info->cgroup_path)));
                json_object_object_add(j, "vcpu_cgroup_path",
                                       json_object_new_string(strempty(info->vcpu_cgroup_path)));
                json_object_object_add(j, "channel_socket",
                                       json_object_new_string(strempty(info->channel_socket)));
        }
        return j;
}

void vmc_print_json(json_object *j)
{
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int verb_list(Vmc *vmc, int argc, char **argv)
{
        VmTools__Concierge__ListVmsRequest request = VM_TOOLS__CONCIERGE__LIST_VMS_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__ListVmsResponse *response = NULL;
        int r;

        if (argc != 1)
                return vmc_usage_error("list takes no arguments");

        request.owner_id = (char *)vmc->owner_id;
        r = vmc_call(vmc, CONCIERGE_METHOD_LIST_VMS, &request.base,
                     &vm_tools__concierge__list_vms_response__descriptor, (ProtobufCMessage **)&response);
        if (r != 0)
                return r;
        if (!response->success)
                return vmc_error("listing VMs failed: %s", strempty(response->failure_reason));

        if (vmc->json) {
                _cleanup_(json_object_putp) json_object *root = json_object_new_object();
                json_object *vms = json_object_new_array();

                json_object_object_add(root, "owner_id", json_object_new_string(vmc->owner_id));
                json_object_object_add(root, "vms", vms);
                for (size_t i = 0; i < response->n_vms; i++) {
                        const VmTools__Concierge__ExtendedVmInfo *e = response->vms[i];
                        json_object_array_add(vms, vm_to_json(e->name, e->owner_id, e->status, e->vm_info));
                }
                vmc_print_json(root);
                return 0;
        }

        if (response->n_vms == 0) {
                printf("No VMs for owner %s.\n", vmc->owner_id);
                return 0;
        }

        int w = (int)strlen("NAME");
        for (size_t i = 0; i < response->n_vms; i++)
                w = MAX(w, (int)strlen(response->vms[i]->name));
        printf("%-*s  %-10s  %-10s  %6s  %8s  %10s\n", w, "NAME", "STATUS", "TYPE", "CID", "PID", "MEMORY");
        for (size_t i = 0; i < response->n_vms; i++) {
                const VmTools__Concierge__ExtendedVmInfo *e = response->vms[i];
                const VmTools__Concierge__VmInfo *info = e->vm_info;
                char mem[32] = "-";

                if (info && info->memory_mib > 0)
                        snprintf(mem, sizeof(mem), "%" PRIu32 " MiB", info->memory_mib);
                printf("%-*s  %-10s  %-10s  %6" PRId64 "  %8d  %10s\n", w, e->name, status_string(e->status),
                       type_string(info ? info->vm_type : 0), info ? info->cid : 0, info ? info->pid : 0,
                       mem);
        }
        printf("%zu VM%s.\n", response->n_vms, response->n_vms == 1 ? "" : "s");
        return 0;
}

int verb_info(Vmc *vmc, int argc, char **argv)
{
        VmTools__Concierge__GetVmInfoRequest request = VM_TOOLS__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__GetVmInfoResponse *response = NULL;
        const VmTools__Concierge__VmInfo *info;
        int r;

        if (argc != 2)
                return vmc_usage_error("usage: vmc info NAME");
        if (!*argv[1])
                return vmc_usage_error("the VM name must not be empty");

        request.owner_id = (char *)vmc->owner_id;
        request.name = argv[1];
        r = vmc_call(vmc, CONCIERGE_METHOD_GET_VM_INFO, &request.base,
                     &vm_tools__concierge__get_vm_info_response__descriptor, (ProtobufCMessage **)&response);
        if (r != 0)
                return r;
        if (!response->success)
                return vmc_error("no information about VM '%s' of owner %s: %s", argv[1], vmc->owner_id,
                                 *strempty(response->failure_reason) ? response->failure_reason : "failed");

        info = response->vm_info;
        if (!info)
                return vmc_error("vm_concierge answered without the VM's information");

        if (vmc->json) {
                _cleanup_(json_object_putp) json_object *j =
                        vm_to_json(argv[1], vmc->owner_id, info->status, info);
                vmc_print_json(j);
                return 0;
        }

        printf("Name:         %s\n", argv[1]);
        printf("Owner:        %s\n", vmc->owner_id);
        printf("Status:       %s\n", status_string(info->status));
        printf("Type:         %s\n", type_string(info->vm_type));
        printf("Backend:      %s\n", *strempty(info->backend) ? info->backend : "-");
        printf("CID:          %" PRId64 "\n", info->cid);
        printf("PID:          %d\n", info->pid);
        if (info->memory_mib > 0)
                printf("Memory:       %" PRIu32 " MiB\n", info->memory_mib);
        else
                printf("Memory:       -\n");
        if (info->allocated_memory > 0)
                printf("Allocated:    %" PRId64 " bytes\n", info->allocated_memory);
        if (*strempty(info->cgroup_path))
                printf("Cgroup:       %s\n", info->cgroup_path);
        if (*strempty(info->vcpu_cgroup_path))
                printf("vCPU cgroup:  %s\n", info->vcpu_cgroup_path);
        if (*strempty(info->channel_socket))
                printf("Channel:      %s\n", info->channel_socket);
        return 0;
}
