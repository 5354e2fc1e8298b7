/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CPU cgroups behind one API: the cgroup v1 `cpu` controller or the cgroup v2 `cpu` controller.
 *
 * A CgroupCpu handle is opened on a cgroup root (default /sys/fs/cgroup). Groups are named by a
 * path relative to the handle's base directory, <hierarchy>/<parent>:
 *   v1: the hierarchy is <root>/cpu (or <root>/cpu,cpuacct); the parent defaults to none, so
 *       groups are where concierge has them (/sys/fs/cgroup/cpu/termina);
 *   v2: the hierarchy is the cgroup2 mount, <root> or <root>/unified; the parent defaults to
 *       "vm_concierge", since v2 wants one delegated subtree per owner.
 * A parent can be given for either version (tests use a unique one on the real hierarchy).
 *
 * Two backends do the filesystem work:
 *   kernel    a real cgroupfs: the hierarchy must carry the cgroup/cgroup2 statfs magic;
 *   emulated  a plain directory tree that models cgroupfs (see cgroup-emul.c): mkdir creates the
 *             control files with the kernel's defaults, writes are range-checked like the kernel
 *             does, writing a pid into cgroup.procs/tasks/cgroup.threads moves it out of every
 *             other group, and rmdir refuses a populated group or one with children (EBUSY) and
 *             removes the control files otherwise. Tests and `--cgroup-root` runs use it.
 *
 * All functions return 0 or a negative errno and never log. */
#pragma once

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm_backend/macro.h"

#define CGROUP_ROOT_DEFAULT "/sys/fs/cgroup"
#define CGROUP_V2_PARENT_DEFAULT "vm_concierge"

/* Kernel limits: MIN_SHARES/MAX_SHARES (kernel/sched/sched.h), CGROUP_WEIGHT_MIN/MAX
 * (include/linux/cgroup.h), min_cfs_quota_period 1 ms / max_cfs_quota_period 1 s and the 1 ms
 * minimum quota (kernel/sched/core.c). */
#define CGROUP_CPU_SHARES_MIN UINT64_C(2)
#define CGROUP_CPU_SHARES_MAX UINT64_C(262144)
#define CGROUP_CPU_SHARES_DEFAULT UINT64_C(1024)
#define CGROUP_CPU_WEIGHT_MIN UINT64_C(1)
#define CGROUP_CPU_WEIGHT_MAX UINT64_C(10000)
#define CGROUP_CPU_WEIGHT_DEFAULT UINT64_C(100)
#define CGROUP_CPU_PERIOD_MIN_US UINT64_C(1000)
#define CGROUP_CPU_PERIOD_MAX_US UINT64_C(1000000)
#define CGROUP_CPU_PERIOD_DEFAULT_US UINT64_C(100000)
#define CGROUP_CPU_QUOTA_MIN_US INT64_C(1000)
#define CGROUP_CPU_QUOTA_UNLIMITED INT64_C(-1)

/* rmdir of a group that is still populated is retried this many times (a task that has just
 * exited can linger in the group for a moment), CGROUP_REMOVE_RETRY_USEC apart. */
#define CGROUP_REMOVE_ATTEMPTS 5
#define CGROUP_REMOVE_RETRY_USEC UINT64_C(2000)

typedef enum CgroupVersion {
        CGROUP_VERSION_V1,
        CGROUP_VERSION_V2,
        _CGROUP_VERSION_MAX,
        _CGROUP_VERSION_INVALID = -EINVAL,
} CgroupVersion;

/* Which hierarchy to use: AUTO prefers v1 `cpu` when present (as concierge), else v2. */
typedef enum CgroupMode {
        CGROUP_MODE_AUTO,
        CGROUP_MODE_V1,
        CGROUP_MODE_V2,
        _CGROUP_MODE_MAX,
        _CGROUP_MODE_INVALID = -EINVAL,
} CgroupMode;

typedef enum CgroupBackend {
        CGROUP_BACKEND_KERNEL,
        CGROUP_BACKEND_EMULATED,
        _CGROUP_BACKEND_MAX,
        _CGROUP_BACKEND_INVALID = -EINVAL,
} CgroupBackend;

typedef enum CgroupCreateFlags {
        /* v2: make the group threaded (cgroup.type=threaded) so single threads of a process can
         * live in it; its parent becomes the threaded domain. Ignored on v1, where any thread
         * can go anywhere. */
        CGROUP_CREATE_THREADED = 1 << 0,
} CgroupCreateFlags;

typedef enum CgroupRemoveFlags {
        /* Move tasks still in the group to its parent before retrying the rmdir. */
        CGROUP_REMOVE_MIGRATE = 1 << 0,
} CgroupRemoveFlags;

const char *cgroup_version_to_string(CgroupVersion v) _pure_;
CgroupVersion cgroup_version_from_string(const char *s) _pure_;
const char *cgroup_mode_to_string(CgroupMode m) _pure_;
CgroupMode cgroup_mode_from_string(const char *s) _pure_;
const char *cgroup_backend_to_string(CgroupBackend b) _pure_;
CgroupBackend cgroup_backend_from_string(const char *s) _pure_;

typedef struct CgroupCpu CgroupCpu;

/* Detects the cpu controller under root (NULL = CGROUP_ROOT_DEFAULT) and opens a handle.
 * parent (NULL = none on v1, CGROUP_V2_PARENT_DEFAULT on v2) is a relative path under the
 * hierarchy that holds the groups; it is created with the first group. Writes nothing.
 * -EOPNOTSUPP: no usable cpu controller of the requested kind; -EINVAL: bad arguments. */
int cgroup_cpu_open(const char *root, CgroupMode mode, CgroupBackend backend, const char *parent,
                    CgroupCpu **ret);
CgroupCpu *cgroup_cpu_free(CgroupCpu *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CgroupCpu *, cgroup_cpu_free);

CgroupVersion cgroup_cpu_version(const CgroupCpu *c) _pure_;
CgroupBackend cgroup_cpu_backend(const CgroupCpu *c) _pure_;
/* The mounted hierarchy (v1: <root>/cpu; v2: the cgroup2 mount). */
const char *cgroup_cpu_hierarchy(const CgroupCpu *c) _pure_;
/* The directory group names are relative to: <hierarchy>/<parent>, or the hierarchy. */
const char *cgroup_cpu_base(const CgroupCpu *c) _pure_;

/* A group name is a relative path of one or more components of [A-Za-z0-9_.,:@+-], none of
 * them "." or "..", no empty component, at most 255 bytes each and 1024 in all. */
bool cgroup_group_name_is_valid(const char *group) _pure_;
int cgroup_cpu_group_path(const CgroupCpu *c, const char *group, char **ret);

/* mkdir -p semantics: existing groups are fine. On v2 every directory above the group (the
 * parent included) gets "+cpu" in cgroup.subtree_control, so the group has cpu.weight/cpu.max. */
int cgroup_cpu_create_group(CgroupCpu *c, const char *group, CgroupCreateFlags flags);

/* Moves a whole process (v1 and v2: cgroup.procs). pid 0 means the caller. */
int cgroup_cpu_attach_pid(CgroupCpu *c, const char *group, pid_t pid);

/* Moves one thread (v1: tasks; v2: cgroup.threads, which needs a threaded group created with
 * CGROUP_CREATE_THREADED whose threaded domain also holds the thread's process: on v2 all groups
 * of the handle's parent are expected to be threaded, see cpu-family.c). tid 0 means the caller. */
int cgroup_cpu_attach_thread(CgroupCpu *c, const char *group, pid_t tid);

/* Attach from a forked child before exec: prepare in the parent, call cgroup_attach_self() in the
 * child. The struct holds everything, so the child does only getpid/open/write/close. The file is
 * v1 `tasks` (the forked child has one thread, so this is its whole process, as concierge does)
 * and v2 cgroup.procs; on an emulated tree the pid is appended to the thread file and to
 * cgroup.procs, as no kernel derives one from the other there. */
typedef struct CgroupAttachSelf {
        char paths[2][PATH_MAX];
        unsigned n_paths;
} CgroupAttachSelf;

int cgroup_cpu_prepare_attach(const CgroupCpu *c, const char *group, CgroupAttachSelf *ret);
/* Async-signal-safe: no malloc, no stdio, no locks. Writes getpid() into the prepared file(s).
 * Returns 0 or a negative errno. */
int cgroup_attach_self(const CgroupAttachSelf *a);

/* Attach a thread to a group given as an absolute directory path, without a handle: writes the
 * tid to <dir>/tasks when that file exists (v1), else to <dir>/cgroup.threads (v2). For the VMM's
 * --vcpu-cgroup; depends on libc only. tid 0 means the calling thread. */
int cgroup_path_attach_thread(const char *dir, pid_t tid);

/* v1: cpu.shares (CGROUP_CPU_SHARES_MIN..MAX, else -ERANGE).
 * v2: cpu.weight = cgroup_cpu_shares_to_weight(shares). */
int cgroup_cpu_set_shares(CgroupCpu *c, const char *group, uint64_t shares);

/* quota_us = CGROUP_CPU_QUOTA_UNLIMITED or CGROUP_CPU_QUOTA_MIN_US.., period_us
 * CGROUP_CPU_PERIOD_MIN_US..MAX_US; otherwise -ERANGE and nothing is written.
 * v1: cpu.cfs_period_us, then cpu.cfs_quota_us. v2: cpu.max "<quota|max> <period>". */
int cgroup_cpu_set_quota(CgroupCpu *c, const char *group, int64_t quota_us, uint64_t period_us);

typedef struct CgroupCpuValues {
        CgroupVersion version;
        uint64_t shares;  /* v1 cpu.shares; 0 on v2 */
        uint64_t weight;  /* v2 cpu.weight; 0 on v1 */
        int64_t quota_us; /* CGROUP_CPU_QUOTA_UNLIMITED when unlimited */
        uint64_t period_us;
} CgroupCpuValues;

/* Reads back what the group's control files hold now. -EBADMSG if a file does not parse. */
int cgroup_cpu_get_values(CgroupCpu *c, const char *group, CgroupCpuValues *ret);

/* The ids listed in the group: processes (cgroup.procs) or, with threads=true, threads (v1
 * tasks, v2 cgroup.threads). *ret is NULL when the group is empty. */
int cgroup_cpu_get_pids(CgroupCpu *c, const char *group, bool threads, pid_t **ret, size_t *ret_n);

/* rmdir the group; a missing group is success. A populated group is retried
 * CGROUP_REMOVE_ATTEMPTS times; with CGROUP_REMOVE_MIGRATE its tasks are first moved to the
 * parent group (tasks that exit meanwhile are fine). Returns -EBUSY if it stays populated or has
 * child groups, or the error of a failed move. Child groups are not removed. */
int cgroup_cpu_remove_group(CgroupCpu *c, const char *group, CgroupRemoveFlags flags);

/* Removes the parent directory (the last component of it), as cgroup_cpu_remove_group() does a
 * group; for a shutdown that leaves nothing behind. A handle without a parent: nothing to do. */
int cgroup_cpu_remove_parent(CgroupCpu *c, CgroupRemoveFlags flags);

/* The conversion runc, crun, systemd and Kubernetes use for cpu.shares -> cpu.weight: linear from
 * [2, 262144] onto [1, 10000], weight = 1 + (shares - 2) * 9999 / 262142, clamped. */
uint64_t cgroup_cpu_shares_to_weight(uint64_t shares) _pure_;

/* cpu.max text: "max <period>" or "<quota> <period>" (no newline). -ENOBUFS if it does not fit. */
int cgroup_cpu_format_max(int64_t quota_us, uint64_t period_us, char *buf, size_t size);
/* Parses "max 100000" / "10000 100000" (trailing newline allowed). -EBADMSG otherwise. */
int cgroup_cpu_parse_max(const char *s, int64_t *ret_quota_us, uint64_t *ret_period_us);

/* Lays out dir (which must exist and be empty) as the root of an emulated cgroup hierarchy of
 * the given version, with the control files the kernel has there; on v2 the cpu controller is
 * available and enabled in the root's cgroup.subtree_control. For tests and `--cgroup-root`. */
int cgroup_emulated_init_hierarchy(const char *dir, CgroupVersion version);
