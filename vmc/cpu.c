/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: `cpu-restrict FAMILY STATE`, the SetVmCpuRestriction call. */
#include <json-c/json.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

/* The CpuCgroup numbers of the API by the words vmc takes. */
static const struct {
        const char *name;
        int value;
} cpu_cgroups[] = {
        {"termina", VM_TOOLS__CONCIERGE__CPU_CGROUP__CPU_CGROUP_TERMINA},
        {"plugin", VM_TOOLS__CONCIERGE__CPU_CGROUP__CPU_CGROUP_PLUGINVM},
        {"arcvm", VM_TOOLS__CONCIERGE__CPU_CGROUP__CPU_CGROUP_ARCVM},
};

static const struct {
        const char *name;
        int value;
} states[] = {
        {"foreground", VM_TOOLS__CONCIERGE__CPU_RESTRICTION_STATE__CPU_RESTRICTION_FOREGROUND},
        {"background", VM_TOOLS__CONCIERGE__CPU_RESTRICTION_STATE__CPU_RESTRICTION_BACKGROUND},
        {"background-quota",
         VM_TOOLS__CONCIERGE__CPU_RESTRICTION_STATE__CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED},
};

int verb_cpu_restrict(Vmc *vmc, int argc, char **argv)
{
        VmTools__Concierge__SetVmCpuRestrictionRequest request =
                VM_TOOLS__CONCIERGE__SET_VM_CPU_RESTRICTION_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__SetVmCpuRestrictionResponse *response = NULL;
        int cg = -1, st = -1, r;

        if (argc != 3)
                return vmc_usage_error("usage: vmc cpu-restrict termina|arcvm|plugin "
                                       "foreground|background|background-quota");
        for (size_t i = 0; i < ELEMENTSOF(cpu_cgroups); i++)
                if (streq(cpu_cgroups[i].name, argv[1]))
                        cg = cpu_cgroups[i].value;
        for (size_t i = 0; i < ELEMENTSOF(states); i++)
                if (streq(states[i].name, argv[2]))
                        st = states[i].value;
        if (cg < 0)
                return vmc_usage_error("unknown CPU cgroup '%s' (termina, arcvm or plugin)", argv[1]);
        if (st < 0)
                return vmc_usage_error("unknown CPU restriction '%s' (foreground, background or "
                                       "background-quota)",
                                       argv[2]);

        request.cpu_cgroup = cg;
        request.cpu_restriction_state = st;
        r = vmc_call(vmc, CONCIERGE_METHOD_SET_VM_CPU_RESTRICTION, &request.base,
                     &vm_tools__concierge__set_vm_cpu_restriction_response__descriptor,
                     (ProtobufCMessage **)&response);
        if (r != 0)
                return r;

        if (vmc->json) {
                json_object *j = json_object_new_object();

                json_object_object_add(j, "cpu_cgroup", json_object_new_string(argv[1]));
                json_object_object_add(j, "state", json_object_new_string(argv[2]));
                json_object_object_add(j, "success", json_object_new_boolean(response->success));
                if (!response->success)
                        json_object_object_add(j, "failure_reason",
                                               json_object_new_string(strempty(response->failure_reason)));
                puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE));
                json_object_put(j);
        }
        if (!response->success)
                return vmc_error("setting the CPU restriction of %s to %s failed: %s", argv[1], argv[2],
                                 *strempty(response->failure_reason) ? response->failure_reason : "failed");
        if (!vmc->json)
                printf("CPU restriction of %s: %s.\n", argv[1], argv[2]);
        return 0;
}
