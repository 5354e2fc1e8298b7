/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's CPU cgroups: family groups at startup, VM placement, SetVmCpuRestriction. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "concierge/cpu-cgroups.h"
#include "concierge/log.h"

struct CpuCgroups {
        CgroupCpu *cgroup; /* NULL: unavailable */
        char *unavailable_reason;
        unsigned arcvm_quota_percent;
        bool created_parent;
        /* Which groups did not exist before we created them: [family][0 process, 1 vcpus]. */
        bool created[_CPU_CGROUP_FAMILY_MAX][2];
};

int cpu_cgroups_config_validate(const CpuCgroupsConfig *config)
{
        if (!config)
                return -EINVAL;
        if (config->root && config->root[0] != '/')
                return -EINVAL;
        if (config->mode < 0 || config->mode >= _CGROUP_MODE_MAX || config->backend < 0 ||
            config->backend >= _CGROUP_BACKEND_MAX)
                return -EINVAL;
        if (config->parent && !cgroup_group_name_is_valid(config->parent))
                return -EINVAL;
        if (config->arcvm_quota_percent != CPU_CGROUPS_QUOTA_PERCENT_UNSET &&
            (config->arcvm_quota_percent < CPU_RESTRICTION_QUOTA_PERCENT_MIN ||
             config->arcvm_quota_percent > CPU_RESTRICTION_QUOTA_PERCENT_MAX))
                return -EINVAL;
        return 0;
}

static bool dir_exists(const char *path)
{
        struct stat st;

        return stat(path, &st) >= 0 && S_ISDIR(st.st_mode);
}

/* 1 if dir is an empty directory, 0 if it has entries, < 0 if it cannot be read. */
static int dir_is_empty(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int r = 1;

        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        r = 0;
                        break;
                }
        closedir(d);
        return r;
}

/* The emulated backend on an empty --cgroup-root: lay out a hierarchy of the mode's version
 * (auto: v1, at <root>/cpu as on a real system; v2: the root itself). */
static int emulated_layout(const char *root, CgroupMode mode)
{
        _cleanup_free_ char *cpu = NULL;
        int r;

        r = dir_is_empty(root);
        if (r <= 0)
                return r;
        if (mode == CGROUP_MODE_V2)
                return cgroup_emulated_init_hierarchy(root, CGROUP_VERSION_V2);
        if (asprintf(&cpu, "%s/cpu", root) < 0)
                return -ENOMEM;
        if (mkdir(cpu, 0755) < 0)
                return negative_errno();
        return cgroup_emulated_init_hierarchy(cpu, CGROUP_VERSION_V1);
}

static int set_unavailable(CpuCgroups *cc, int error, const char *what)
{
        free(cc->unavailable_reason);
        cc->unavailable_reason = NULL;
        if (asprintf(&cc->unavailable_reason, "%s: %s", what, strerror(error < 0 ? -error : error)) < 0)
                return -ENOMEM;
        cc->cgroup = cgroup_cpu_free(cc->cgroup);
        return 0;
}

static const char *family_group(CpuCgroupFamily f, unsigned which)
{
        return which == 0 ? cpu_cgroup_family_process_group(f) : cpu_cgroup_family_vcpu_group(f);
}

/* mkdir -p of one group of a family, recording whether this call created it. */
static int ensure_group(CpuCgroups *cc, CpuCgroupFamily f, unsigned which)
{
        _cleanup_free_ char *p = NULL;
        bool existed;
        int r;

        r = cgroup_cpu_group_path(cc->cgroup, family_group(f, which), &p);
        if (r < 0)
                return r;
        existed = dir_exists(p);
        r = cgroup_cpu_create_group(cc->cgroup, family_group(f, which), CGROUP_CREATE_THREADED);
        if (r < 0)
                return log_warning_errno(r, "Failed to create CPU cgroup %s", p);
        if (!existed) {
                cc->created[f][which] = true;
                log_debug("Created CPU cgroup %s.", p);
        }
        return 0;
}

/* Creates every family's groups, recording which are new. */
static int create_groups(CpuCgroups *cc)
{
        int r;

        /* With a parent (base != hierarchy): only its last component is ours to remove. */
        if (!streq(cgroup_cpu_base(cc->cgroup), cgroup_cpu_hierarchy(cc->cgroup)))
                cc->created_parent = !dir_exists(cgroup_cpu_base(cc->cgroup));

        for (CpuCgroupFamily f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++)
                for (unsigned i = 0; i < 2; i++) {
                        r = ensure_group(cc, f, i);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static void remove_created_groups(CpuCgroups *cc)
{
        int r;

        if (!cc->cgroup)
                return;
        /* -vcpus first: on v2 the groups are siblings, but keep the order of cgroup_family_remove(). */
        for (CpuCgroupFamily f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++)
                for (int i = 1; i >= 0; i--) {
                        if (!cc->created[f][i])
                                continue;
                        r = cgroup_cpu_remove_group(cc->cgroup, family_group(f, (unsigned)i), 0);
                        if (r < 0)
                                log_warning_errno(r, "Leaving CPU cgroup %s/%s behind (not empty?)",
                                                  cgroup_cpu_base(cc->cgroup), family_group(f, (unsigned)i));
                        else
                                log_debug("Removed CPU cgroup %s/%s.", cgroup_cpu_base(cc->cgroup),
                                          family_group(f, (unsigned)i));
                        cc->created[f][i] = false;
                }
        if (cc->created_parent) {
                r = cgroup_cpu_remove_parent(cc->cgroup, 0);
                if (r < 0)
                        log_warning_errno(r, "Leaving CPU cgroup %s behind (not empty?)",
                                          cgroup_cpu_base(cc->cgroup));
                cc->created_parent = false;
        }
}

int cpu_cgroups_new(const CpuCgroupsConfig *config, CpuCgroups **ret)
{
        _cleanup_(cpu_cgroups_freep) CpuCgroups *cc = NULL;
        const char *root;
        int r;

        if (!ret || cpu_cgroups_config_validate(config) < 0)
                return -EINVAL;
        root = config->root ?: CGROUP_ROOT_DEFAULT;

        cc = calloc(1, sizeof(*cc));
        if (!cc)
                return -ENOMEM;
        cc->arcvm_quota_percent = config->arcvm_quota_percent;

        if (config->backend == CGROUP_BACKEND_EMULATED) {
                r = emulated_layout(root, config->mode);
                if (r < 0) {
                        log_warning_errno(r, "Failed to lay out an emulated cgroup hierarchy in %s", root);
                        r = set_unavailable(cc, r, "cannot lay out the emulated cgroup hierarchy");
                        if (r < 0)
                                return r;
                        goto done;
                }
        }

        r = cgroup_cpu_open(root, config->mode, config->backend, config->parent, &cc->cgroup);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning_errno(r,
                                  "No usable %s cgroup cpu controller under %s (mode %s); VMs will run "
                                  "without CPU cgroups and SetVmCpuRestriction will fail",
                                  cgroup_backend_to_string(config->backend), root,
                                  cgroup_mode_to_string(config->mode));
                r = set_unavailable(cc, r, "no usable cgroup cpu controller");
                if (r < 0)
                        return r;
                goto done;
        }

        r = create_groups(cc);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning("VMs will run without CPU cgroups and SetVmCpuRestriction will fail.");
                remove_created_groups(cc);
                r = set_unavailable(cc, r, "cannot create the VM CPU cgroups");
                if (r < 0)
                        return r;
                goto done;
        }

        log_info("CPU cgroups: %s %s under %s (arcvm background quota: %s%u%s).",
                 cgroup_backend_to_string(cgroup_cpu_backend(cc->cgroup)),
                 cgroup_version_to_string(cgroup_cpu_version(cc->cgroup)), cgroup_cpu_base(cc->cgroup),
                 cc->arcvm_quota_percent ? "" : "unset, ", cc->arcvm_quota_percent,
                 cc->arcvm_quota_percent ? "% of a CPU" : "");
done:
        *ret = TAKE_PTR(cc);
        return 0;
}

CpuCgroups *cpu_cgroups_free(CpuCgroups *cc)
{
        if (!cc)
                return NULL;
        remove_created_groups(cc);
        cgroup_cpu_free(cc->cgroup);
        free(cc->unavailable_reason);
        free(cc);
        return NULL;
}

const char *cpu_cgroups_unavailable_reason(const CpuCgroups *cc)
{
        if (!cc)
                return "CPU cgroups are not set up";
        return cc->cgroup ? NULL : cc->unavailable_reason;
}

CgroupCpu *cpu_cgroups_handle(const CpuCgroups *cc)
{
        return cc ? cc->cgroup : NULL;
}

int cpu_cgroups_place_vm(CpuCgroups *cc, Vm *vm, BackendStartConfig *config, CpuCgroupsPlacement *placement)
{
        _cleanup_free_ char *process = NULL, *vcpus = NULL;
        CpuCgroupFamily f;
        int r;

        if (!vm || !config || !placement)
                return -EINVAL;
        if (!cc || !cc->cgroup) {
                log_debug("VM %s runs without CPU cgroups: %s.", vm->name,
                          cpu_cgroups_unavailable_reason(cc));
                return 0;
        }

        f = cpu_cgroup_family_from_vm_type(vm->vm_type);
        /* The groups may have gone since startup (removed by someone else, e.g. another daemon
         * sharing the hierarchy that created them): make sure they exist. */
        for (unsigned i = 0; i < 2; i++) {
                r = ensure_group(cc, f, i);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_warning("VM %s runs without CPU cgroups.", vm->name);
                        return 0;
                }
        }
        r = cgroup_family_paths(cc->cgroup, f, &process, &vcpus);
        if (r < 0)
                return r;
        r = cgroup_cpu_prepare_attach(cc->cgroup, cpu_cgroup_family_process_group(f), &placement->attach);
        if (r < 0)
                return r;

        free(vm->cgroup_path);
        free(vm->vcpu_cgroup_path);
        vm->cgroup_path = TAKE_PTR(process);
        vm->vcpu_cgroup_path = TAKE_PTR(vcpus);
        config->cgroup = &placement->attach;
        config->vcpu_cgroup = vm->vcpu_cgroup_path;
        log_debug("VM %s (%s family): VMM in %s, vCPUs in %s.", vm->name, cpu_cgroup_family_to_string(f),
                  vm->cgroup_path, vm->vcpu_cgroup_path);
        return 0;
}

int cpu_cgroups_resolve_restriction(int cpu_cgroup, int state, unsigned arcvm_quota_percent,
                                    CpuCgroupFamily *ret_family, CpuRestrictionSettings *ret_settings,
                                    const char **ret_error)
{
        CpuCgroupFamily f = cpu_cgroup_family_from_cpu_cgroup(cpu_cgroup);
        CpuRestrictionState s = cpu_restriction_state_from_int(state);
        const char *error = NULL;
        int r;

        if (f < 0)
                error = "unknown cpu_cgroup";
        else if (s < 0)
                error = "unknown cpu_restriction_state";
        if (error) {
                if (ret_error)
                        *ret_error = error;
                return -EINVAL;
        }

        /* concierge writes shares 64 for both background states on every family, and a quota
         * only on arcvm, only when its throttling feature gives a percent. */
        if (s == CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED &&
            (f != CPU_CGROUP_FAMILY_ARCVM || arcvm_quota_percent == CPU_CGROUPS_QUOTA_PERCENT_UNSET))
                s = CPU_RESTRICTION_BACKGROUND;

        r = cpu_restriction_settings(f, s, arcvm_quota_percent, ret_settings);
        if (r < 0) {
                if (ret_error)
                        *ret_error = "invalid arcvm quota percent";
                return r;
        }
        if (ret_family)
                *ret_family = f;
        return 0;
}

int cpu_cgroups_set_restriction(CpuCgroups *cc, int cpu_cgroup, int state, char **ret_reason)
{
        CpuRestrictionSettings v;
        CpuCgroupFamily f;
        const char *error = NULL;
        int r, ret = 0;

        if (!ret_reason)
                return -EINVAL;
        *ret_reason = NULL;

        r = cpu_cgroups_resolve_restriction(cpu_cgroup, state, cc ? cc->arcvm_quota_percent : 0, &f, &v,
                                            &error);
        if (r < 0) {
                if (asprintf(ret_reason, "%s (cpu_cgroup=%d, cpu_restriction_state=%d)", error, cpu_cgroup,
                             state) < 0)
                        *ret_reason = NULL;
                return r;
        }
        if (!cc || !cc->cgroup) {
                if (asprintf(ret_reason, "CPU cgroups are unavailable: %s",
                             cpu_cgroups_unavailable_reason(cc)) < 0)
                        *ret_reason = NULL;
                return -EOPNOTSUPP;
        }

        for (unsigned i = 0; i < 2; i++) {
                const char *g = family_group(f, i);

                r = cgroup_cpu_set_shares(cc->cgroup, g, v.shares);
                if (r < 0) {
                        log_warning_errno(r, "Failed to set the CPU shares of cgroup %s/%s to %" PRIu64,
                                          cgroup_cpu_base(cc->cgroup), g, v.shares);
                        if (ret == 0 &&
                            asprintf(ret_reason, "failed to set the shares of %s: %s", g, strerror(-r)) < 0)
                                *ret_reason = NULL;
                        if (ret == 0)
                                ret = r;
                }
                r = cgroup_cpu_set_quota(cc->cgroup, g, v.quota_us, v.period_us);
                if (r < 0) {
                        log_warning_errno(
                                r, "Failed to set the CPU quota of cgroup %s/%s to %" PRIi64 "/%" PRIu64,
                                cgroup_cpu_base(cc->cgroup), g, v.quota_us, v.period_us);
                        if (ret == 0 &&
                            asprintf(ret_reason, "failed to set the quota of %s: %s", g, strerror(-r)) < 0)
                                *ret_reason = NULL;
                        if (ret == 0)
                                ret = r;
                }
        }
        if (ret == 0)
                log_info("CPU restriction of %s: %s (shares %" PRIu64 ", quota %" PRIi64 "/%" PRIu64 " us).",
                         cpu_cgroup_family_to_string(f),
                         cpu_restriction_state_to_string(cpu_restriction_state_from_int(state)), v.shares,
                         v.quota_us, v.period_us);
        return ret;
}
