/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM CPU cgroup families (termina / arcvm / plugin) and the CPU restriction states of concierge.
 *
 * Each family has a process group ("termina": the VMM process, placed before exec) and a vCPU
 * group ("termina-vcpus": the VMM moves its vCPU threads there). On v1 both are directly under
 * the cpu hierarchy, the paths concierge uses (/sys/fs/cgroup/cpu/termina...). On v2 they are
 * under the handle's parent (<v2 mount>/vm_concierge/termina...) and are created threaded, so a
 * VMM's vCPU threads may sit in a sibling of its process's group; the parent becomes the
 * threaded domain of all VM groups. The cost of that on v2: domain-only controllers (memory, io)
 * see all VMs as one group at the parent, and every group under the parent must be threaded
 * (a threaded domain cannot have populated domain children). */
#pragma once

#include "cgroups/cgroup.h"

typedef enum CpuCgroupFamily {
        CPU_CGROUP_FAMILY_TERMINA,
        CPU_CGROUP_FAMILY_ARCVM,
        CPU_CGROUP_FAMILY_PLUGIN,
        _CPU_CGROUP_FAMILY_MAX,
        _CPU_CGROUP_FAMILY_INVALID = -EINVAL,
} CpuCgroupFamily;

/* concierge's CpuRestrictionState (SetVmCpuRestrictionRequest.cpu_restriction_state); the
 * values are the protobuf enum numbers. */
typedef enum CpuRestrictionState {
        CPU_RESTRICTION_FOREGROUND = 0,
        CPU_RESTRICTION_BACKGROUND = 1,
        CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED = 2,
        _CPU_RESTRICTION_STATE_MAX,
        _CPU_RESTRICTION_STATE_INVALID = -EINVAL,
} CpuRestrictionState;

/* concierge's values: cpu.shares 1024 in the foreground, 64 in the background, and a CFS quota
 * over a 100 ms period for ARCVM when throttled in the background. */
#define CPU_RESTRICTION_SHARES_FOREGROUND UINT64_C(1024)
#define CPU_RESTRICTION_SHARES_BACKGROUND UINT64_C(64)
#define CPU_RESTRICTION_QUOTA_PERIOD_US UINT64_C(100000)
#define CPU_RESTRICTION_QUOTA_PERCENT_MIN 1u
#define CPU_RESTRICTION_QUOTA_PERCENT_MAX 100u

/* "termina", "arcvm", "plugin" */
const char *cpu_cgroup_family_to_string(CpuCgroupFamily f) _pure_;
CpuCgroupFamily cpu_cgroup_family_from_string(const char *s) _pure_;
/* "termina-vcpus", "arcvm-vcpus", "plugin-vcpus" (NULL for an invalid family) */
const char *cpu_cgroup_family_vcpu_group(CpuCgroupFamily f) _pure_;
/* same as cpu_cgroup_family_to_string(): the process group's name */
const char *cpu_cgroup_family_process_group(CpuCgroupFamily f) _pure_;

/* From concierge's CpuCgroup enum (CPU_CGROUP_TERMINA=0, CPU_CGROUP_PLUGINVM=1,
 * CPU_CGROUP_ARCVM=2); anything else is _CPU_CGROUP_FAMILY_INVALID. */
CpuCgroupFamily cpu_cgroup_family_from_cpu_cgroup(int cpu_cgroup) _pure_;
/* From VmInfo.VmType (TERMINA=1, ARC_VM=2, PLUGIN_VM=3); every other type, UNKNOWN and values
 * this build does not know included, goes to termina, as StartVm does by default. */
CpuCgroupFamily cpu_cgroup_family_from_vm_type(int vm_type) _pure_;

/* "foreground", "background", "background-quota" (the `vmc cpu-restrict` words) */
const char *cpu_restriction_state_to_string(CpuRestrictionState s) _pure_;
CpuRestrictionState cpu_restriction_state_from_string(const char *s) _pure_;
/* From the protobuf number; unknown numbers are _CPU_RESTRICTION_STATE_INVALID. */
CpuRestrictionState cpu_restriction_state_from_int(int v) _pure_;

typedef struct CpuRestrictionSettings {
        uint64_t shares;  /* cpu.shares; on v2 written as its cpu.weight equivalent */
        int64_t quota_us; /* CGROUP_CPU_QUOTA_UNLIMITED or percent * 1000 */
        uint64_t period_us;
} CpuRestrictionSettings;

/* Pure: what a state means for a family. FOREGROUND: 1024 shares, unlimited quota; BACKGROUND:
 * 64 shares, unlimited; BACKGROUND_WITH_CFS_QUOTA_ENFORCED (arcvm only, else -EOPNOTSUPP): 64
 * shares and quota_percent (1..100, else -ERANGE) of one CPU per 100 ms period. quota_percent is
 * only looked at in that state. Every state carries a quota, so a state change always leaves a
 * known quota (concierge itself writes the quota only on the arcvm groups). */
int cpu_restriction_settings(CpuCgroupFamily f, CpuRestrictionState s, unsigned quota_percent,
                             CpuRestrictionSettings *ret);

/* Creates both groups of the family (v2: threaded). Existing groups are fine. */
int cgroup_family_create(CgroupCpu *c, CpuCgroupFamily f);
/* Absolute paths of the two groups (for --vcpu-cgroup and GetVmInfo); either ret may be NULL. */
int cgroup_family_paths(const CgroupCpu *c, CpuCgroupFamily f, char **ret_process, char **ret_vcpus);
/* Writes the settings of the state to both groups of the family (shares, then quota). Every
 * write is attempted even after one fails; returns the first error. Invalid arguments fail
 * before anything is written. */
int cgroup_family_apply_restriction(CgroupCpu *c, CpuCgroupFamily f, CpuRestrictionState s,
                                    unsigned quota_percent);
/* Removes the vCPU group, then the process group (see cgroup_cpu_remove_group()). Both are
 * attempted; returns the first error. */
int cgroup_family_remove(CgroupCpu *c, CpuCgroupFamily f, CgroupRemoveFlags flags);
