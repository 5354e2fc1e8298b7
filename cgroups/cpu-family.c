/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM CPU cgroup families and CPU restriction states: names, mappings and how they are applied. */

#include "cgroups/cpu-family.h"

static const char *const family_table[_CPU_CGROUP_FAMILY_MAX] = {
        [CPU_CGROUP_FAMILY_TERMINA] = "termina",
        [CPU_CGROUP_FAMILY_ARCVM] = "arcvm",
        [CPU_CGROUP_FAMILY_PLUGIN] = "plugin",
};

static const char *const family_vcpu_table[_CPU_CGROUP_FAMILY_MAX] = {
        [CPU_CGROUP_FAMILY_TERMINA] = "termina-vcpus",
        [CPU_CGROUP_FAMILY_ARCVM] = "arcvm-vcpus",
        [CPU_CGROUP_FAMILY_PLUGIN] = "plugin-vcpus",
};

static const char *const restriction_table[_CPU_RESTRICTION_STATE_MAX] = {
        [CPU_RESTRICTION_FOREGROUND] = "foreground",
        [CPU_RESTRICTION_BACKGROUND] = "background",
        [CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED] = "background-quota",
};

static bool family_valid(CpuCgroupFamily f)
{
        return f >= 0 && f < _CPU_CGROUP_FAMILY_MAX;
}

const char *cpu_cgroup_family_to_string(CpuCgroupFamily f)
{
        return family_valid(f) ? family_table[f] : NULL;
}

CpuCgroupFamily cpu_cgroup_family_from_string(const char *s)
{
        if (!s)
                return _CPU_CGROUP_FAMILY_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(family_table); i++)
                if (streq(family_table[i], s))
                        return (CpuCgroupFamily)i;
        return _CPU_CGROUP_FAMILY_INVALID;
}

const char *cpu_cgroup_family_process_group(CpuCgroupFamily f)
{
        return cpu_cgroup_family_to_string(f);
}

const char *cpu_cgroup_family_vcpu_group(CpuCgroupFamily f)
{
        return family_valid(f) ? family_vcpu_table[f] : NULL;
}

CpuCgroupFamily cpu_cgroup_family_from_cpu_cgroup(int cpu_cgroup)
{
        switch (cpu_cgroup) {
        case 0: /* CPU_CGROUP_TERMINA */
                return CPU_CGROUP_FAMILY_TERMINA;
        case 1: /* CPU_CGROUP_PLUGINVM */
                return CPU_CGROUP_FAMILY_PLUGIN;
        case 2: /* CPU_CGROUP_ARCVM */
                return CPU_CGROUP_FAMILY_ARCVM;
        default:
                return _CPU_CGROUP_FAMILY_INVALID;
        }
}

CpuCgroupFamily cpu_cgroup_family_from_vm_type(int vm_type)
{
        switch (vm_type) {
        case 2: /* VmInfo.ARC_VM */
                return CPU_CGROUP_FAMILY_ARCVM;
        case 3: /* VmInfo.PLUGIN_VM */
                return CPU_CGROUP_FAMILY_PLUGIN;
        case 1: /* VmInfo.TERMINA */
        default:
                return CPU_CGROUP_FAMILY_TERMINA;
        }
}

const char *cpu_restriction_state_to_string(CpuRestrictionState s)
{
        return s >= 0 && s < _CPU_RESTRICTION_STATE_MAX ? restriction_table[s] : NULL;
}

CpuRestrictionState cpu_restriction_state_from_string(const char *s)
{
        if (!s)
                return _CPU_RESTRICTION_STATE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(restriction_table); i++)
                if (streq(restriction_table[i], s))
                        return (CpuRestrictionState)i;
        return _CPU_RESTRICTION_STATE_INVALID;
}

CpuRestrictionState cpu_restriction_state_from_int(int v)
{
        return v >= 0 && v < _CPU_RESTRICTION_STATE_MAX ? (CpuRestrictionState)v
                                                        : _CPU_RESTRICTION_STATE_INVALID;
}

int cpu_restriction_settings(CpuCgroupFamily f, CpuRestrictionState s, unsigned quota_percent,
                             CpuRestrictionSettings *ret)
{
        CpuRestrictionSettings v = {
                .quota_us = CGROUP_CPU_QUOTA_UNLIMITED,
                .period_us = CPU_RESTRICTION_QUOTA_PERIOD_US,
        };

        if (!family_valid(f) || !ret)
                return -EINVAL;

        switch (s) {
        case CPU_RESTRICTION_FOREGROUND:
                v.shares = CPU_RESTRICTION_SHARES_FOREGROUND;
                break;
        case CPU_RESTRICTION_BACKGROUND:
                v.shares = CPU_RESTRICTION_SHARES_BACKGROUND;
                break;
        case CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED:
                if (f != CPU_CGROUP_FAMILY_ARCVM)
                        return -EOPNOTSUPP;
                if (quota_percent < CPU_RESTRICTION_QUOTA_PERCENT_MIN ||
                    quota_percent > CPU_RESTRICTION_QUOTA_PERCENT_MAX)
                        return -ERANGE;
                v.shares = CPU_RESTRICTION_SHARES_BACKGROUND;
                /* percent of ONE CPU: percent/100 of the period */
                v.quota_us = (int64_t)quota_percent * (int64_t)(CPU_RESTRICTION_QUOTA_PERIOD_US / 100);
                break;
        default:
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int cgroup_family_create(CgroupCpu *c, CpuCgroupFamily f)
{
        int r;

        if (!c || !family_valid(f))
                return -EINVAL;
        r = cgroup_cpu_create_group(c, family_table[f], CGROUP_CREATE_THREADED);
        if (r < 0)
                return r;
        return cgroup_cpu_create_group(c, family_vcpu_table[f], CGROUP_CREATE_THREADED);
}

int cgroup_family_paths(const CgroupCpu *c, CpuCgroupFamily f, char **ret_process, char **ret_vcpus)
{
        _cleanup_free_ char *p = NULL, *v = NULL;
        int r;

        if (!c || !family_valid(f))
                return -EINVAL;
        r = cgroup_cpu_group_path(c, family_table[f], &p);
        if (r < 0)
                return r;
        r = cgroup_cpu_group_path(c, family_vcpu_table[f], &v);
        if (r < 0)
                return r;
        if (ret_process)
                *ret_process = TAKE_PTR(p);
        if (ret_vcpus)
                *ret_vcpus = TAKE_PTR(v);
        return 0;
}

int cgroup_family_apply_restriction(CgroupCpu *c, CpuCgroupFamily f, CpuRestrictionState s,
                                    unsigned quota_percent)
{
        const char *groups[2];
        CpuRestrictionSettings v;
        int r, ret = 0;

        if (!c)
                return -EINVAL;
        r = cpu_restriction_settings(f, s, quota_percent, &v);
        if (r < 0)
                return r;

        groups[0] = family_table[f];
        groups[1] = family_vcpu_table[f];
        for (size_t i = 0; i < ELEMENTSOF(groups); i++) {
                r = cgroup_cpu_set_shares(c, groups[i], v.shares);
                if (r < 0 && ret == 0)
                        ret = r;
                r = cgroup_cpu_set_quota(c, groups[i], v.quota_us, v.period_us);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

int cgroup_family_remove(CgroupCpu *c, CpuCgroupFamily f, CgroupRemoveFlags flags)
{
        int r, ret;

        if (!c || !family_valid(f))
                return -EINVAL;
        ret = cgroup_cpu_remove_group(c, family_vcpu_table[f], flags);
        r = cgroup_cpu_remove_group(c, family_table[f], flags);
        return ret < 0 ? ret : r;
}
