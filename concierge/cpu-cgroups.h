/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's CPU cgroups: the three VM families' groups and SetVmCpuRestriction.
 *
 * At startup the daemon opens the cpu hierarchy (cgroups/: v1 `cpu` or v2) under --cgroup-root
 * and creates both groups of every family (termina, arcvm, plugin and their -vcpus groups, under
 * --cgroup-parent when given), remembering which of them (and the parent) did not exist before.
 * A VM's VMM process is placed in its family's process group before exec, and the VMM moves its
 * vCPU threads to the family's -vcpus group (--vcpu-cgroup). The groups live as long as the
 * daemon: a restriction set while no VM of the family runs applies to the next one, as in
 * concierge, whose groups are static. On exit the daemon removes the groups it created (never
 * pre-existing ones) when they are empty; populated ones stay and are reported.
 *
 * When the hierarchy is unusable (no cpu controller, not writable, ...), the daemon keeps
 * running: VMs start uncgrouped and SetVmCpuRestriction answers success=false with the reason.
 * This file logs (it is the daemon's boundary); the cgroups/ library does not. No sd-bus here. */
#pragma once

#include <stdbool.h>

#include "cgroups/cgroup.h"
#include "cgroups/cpu-family.h"
#include "concierge/backend.h"
#include "concierge/vm.h"

/* --arcvm-background-quota-percent unset: BACKGROUND_WITH_CFS_QUOTA_ENFORCED writes no quota
 * (unlimited), as concierge does when its throttling feature is off. */
#define CPU_CGROUPS_QUOTA_PERCENT_UNSET 0u

typedef struct CpuCgroupsConfig {
        const char *root;             /* NULL: CGROUP_ROOT_DEFAULT */
        CgroupMode mode;              /* auto, v1 or v2 */
        CgroupBackend backend;        /* kernel; emulated lays out an empty root first (tests) */
        const char *parent;           /* NULL: the library's default (none on v1, vm_concierge on v2) */
        unsigned arcvm_quota_percent; /* 1..100, or CPU_CGROUPS_QUOTA_PERCENT_UNSET */
} CpuCgroupsConfig;

typedef struct CpuCgroups CpuCgroups;

/* Checks the config only (-EINVAL for a bad percent, parent or root); for the command line. */
int cpu_cgroups_config_validate(const CpuCgroupsConfig *config);

/* Opens the hierarchy and creates the groups. Returns -ENOMEM/-EINVAL only: a hierarchy that
 * cannot be used gives an object that is "unavailable" (logged as a warning, with the reason). */
int cpu_cgroups_new(const CpuCgroupsConfig *config, CpuCgroups **ret);
/* Removes the groups this object created (and the parent it created) that are empty. */
CpuCgroups *cpu_cgroups_free(CpuCgroups *cc);
DEFINE_TRIVIAL_CLEANUP_FUNC(CpuCgroups *, cpu_cgroups_free);

/* NULL when usable, else why not (for messages). cc may be NULL (= unavailable). */
const char *cpu_cgroups_unavailable_reason(const CpuCgroups *cc);
/* The open handle, NULL when unavailable (for tests and diagnostics). */
CgroupCpu *cpu_cgroups_handle(const CpuCgroups *cc);

/* What cpu_cgroups_place_vm() prepared: the child's attach data must outlive backend_start(). */
typedef struct CpuCgroupsPlacement {
        CgroupAttachSelf attach;
} CpuCgroupsPlacement;

/* For StartVm: the VM of type vm->vm_type (VmInfo.VmType; unknown -> termina) goes into its
 * family's groups. Sets vm->cgroup_path and vm->vcpu_cgroup_path (absolute paths) and
 * config->cgroup (-> placement->attach) and config->vcpu_cgroup (-> vm->vcpu_cgroup_path).
 * When cgroups are unavailable (or cc is NULL) nothing is set and 0 is returned: the VM runs
 * uncgrouped; so it is when a family group cannot be (re)created (a warning). The groups are
 * re-created first when they have gone since startup. Errors: -ENOMEM, -EINVAL. */
int cpu_cgroups_place_vm(CpuCgroups *cc, Vm *vm, BackendStartConfig *config, CpuCgroupsPlacement *placement);

/* The restriction a SetVmCpuRestriction(cpu_cgroup, state) asks for, after concierge's rules:
 * BACKGROUND_WITH_CFS_QUOTA_ENFORCED on termina/plugin, or on arcvm without a quota percent,
 * means the BACKGROUND values (shares 64, no quota). Pure. Fills *ret_family and *ret_settings.
 * Errors (with a reason for failure_reason in *ret_error): -EINVAL unknown cgroup or state. */
int cpu_cgroups_resolve_restriction(int cpu_cgroup, int state, unsigned arcvm_quota_percent,
                                    CpuCgroupFamily *ret_family, CpuRestrictionSettings *ret_settings,
                                    const char **ret_error);

/* SetVmCpuRestriction: writes shares and quota to both groups of the family (every write is
 * tried). 0 on success; < 0 with a static or allocated message in *ret_reason (caller frees). */
int cpu_cgroups_set_restriction(CpuCgroups *cc, int cpu_cgroup, int state, char **ret_reason);
