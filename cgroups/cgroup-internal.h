/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to cgroups/: the handle, the filesystem backends and small file helpers. */
#pragma once

#include "cgroups/cgroup.h"

/* Everything that changes the cgroup tree goes through one of these; reads are plain reads. */
typedef struct CgroupFsOps {
        int (*mkdir)(const CgroupCpu *c, const char *path);
        int (*rmdir)(const CgroupCpu *c, const char *path);
        int (*write)(const CgroupCpu *c, const char *path, const char *data);
} CgroupFsOps;

struct CgroupCpu {
        CgroupVersion version;
        CgroupBackend backend;
        const CgroupFsOps *ops;
        char *hierarchy;
        char *base;
        char *parent; /* relative to hierarchy; NULL: groups live right in the hierarchy */
};

extern const CgroupFsOps cgroup_fs_kernel_ops;
extern const CgroupFsOps cgroup_fs_emulated_ops;

/* Control files that list members. */
#define CGROUP_FILE_PROCS "cgroup.procs"
#define CGROUP_FILE_TASKS "tasks"
#define CGROUP_FILE_THREADS "cgroup.threads"

/* Reads a whole (small) file; NUL-terminated. At most CGROUP_READ_MAX bytes, else -EFBIG. */
#define CGROUP_READ_MAX (4 * 1024 * 1024)
int cgroup_read_file(const char *path, char **ret);
/* One write(2) of the whole string (cgroupfs takes one value per write). */
int cgroup_write_file_once(const char *path, const char *data);
int cgroup_parse_u64(const char *s, uint64_t *ret);
int cgroup_parse_i64(const char *s, int64_t *ret);
/* Parses newline-separated decimal ids; *ret is NULL when there are none. */
int cgroup_parse_pids(const char *s, pid_t **ret, size_t *ret_n);
/* Whether the whitespace-separated list s contains word. */
bool cgroup_words_contain(const char *s, const char *word);
char *cgroup_path_join(const char *a, const char *b);
