/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The emulated cgroupfs backend: a plain directory tree that behaves like the cpu hierarchy.
 *
 * What it models, after the kernel (kernel/cgroup/cgroup.c, kernel/sched/core.c):
 *   - mkdir creates the control files a new group has, with the kernel's defaults; on v2 the
 *     cpu files appear only when the parent enables cpu in cgroup.subtree_control, and enabling
 *     or disabling it later adds or removes them in existing children;
 *   - writes to control files that do not exist fail as they would (ENOENT, EISDIR, ENXIO for
 *     a FIFO, ENOTDIR), and values are checked like the kernel checks them: cpu.shares is clamped
 *     to [2, 262144], cpu.weight outside [1, 10000] is ERANGE, periods outside [1 ms, 1 s] and
 *     quotas below 1 ms are EINVAL, a malformed number is EINVAL;
 *   - membership lives in the thread file (v1 tasks, v2 cgroup.threads) and cgroup.procs is the
 *     view derived from it (the thread-group ids of the live threads listed), rewritten after
 *     every move; writing an id needs a live task (else ESRCH); through cgroup.procs it moves
 *     every thread of the process (from /proc/<id>/task), through the thread file one thread,
 *     out of every other group of the hierarchy; threads that have exited drop out of the lists
 *     at the next move and never count as members;
 *     v2 refuses cgroup.threads in a non-threaded group (EOPNOTSUPP) and a process in a domain
 *     group that has controllers enabled for children (EBUSY, the no-internal-process rule);
 *   - rmdir fails with EBUSY while a live thread is listed or a child group exists, and
 *     otherwise removes the control files and the directory.
 * What it does not model: cgroup_attach_self() in a forked child appends its pid to the thread
 * file and to cgroup.procs without taking it out of other groups (a child is in no emulated
 * group before); reading cgroup.procs of a threaded v2 group works here, the kernel says
 * EOPNOTSUPP; only the cpu controller exists. */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "cgroups/cgroup-internal.h"

typedef struct ControlFile {
        const char *name;
        const char *value;
} ControlFile;

static const ControlFile v1_root_files[] = {
        {"cgroup.procs", ""},
        {"tasks", ""},
        {"cgroup.clone_children", "0\n"},
        {"notify_on_release", "0\n"},
        {"cgroup.sane_behavior", "0\n"},
        {"release_agent", ""},
        {"cpu.shares", "1024\n"},
        {"cpu.cfs_period_us", "100000\n"},
        {"cpu.cfs_quota_us", "-1\n"},
        {"cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
};

static const ControlFile v1_group_files[] = {
        {"cgroup.procs", ""},
        {"tasks", ""},
        {"cgroup.clone_children", "0\n"},
        {"notify_on_release", "0\n"},
        {"cpu.shares", "1024\n"},
        {"cpu.cfs_period_us", "100000\n"},
        {"cpu.cfs_quota_us", "-1\n"},
        {"cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
};

static const ControlFile v2_root_files[] = {
        {"cgroup.procs", ""},
        {"cgroup.threads", ""},
        {"cgroup.controllers", "cpu\n"},
        {"cgroup.subtree_control", "cpu\n"},
        {"cgroup.max.depth", "max\n"},
        {"cgroup.max.descendants", "max\n"},
        {"cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
};

static const ControlFile v2_group_files[] = {
        {"cgroup.procs", ""},
        {"cgroup.threads", ""},
        {"cgroup.type", "domain\n"},
        {"cgroup.subtree_control", ""},
        {"cgroup.events", "populated 0\nfrozen 0\n"},
        {"cgroup.max.depth", "max\n"},
        {"cgroup.max.descendants", "max\n"},
        /* cgroup.controllers is written from the parent's cgroup.subtree_control */
};

/* v2 files a controller adds to a group when its parent enables it. */
static const ControlFile v2_cpu_files[] = {
        {"cpu.weight", "100\n"},
        {"cpu.max", "max 100000\n"},
        {"cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"},
};

static bool has_members(const CgroupCpu *c, const char *dir);

static int replace_file(const char *path, const char *content, bool create)
{
        _cleanup_close_ int fd = -EBADF;
        size_t l = strlen(content);

        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (create ? O_CREAT : 0),
                  0644);
        if (fd < 0)
                return negative_errno();
        if (l > 0 && write(fd, content, l) != (ssize_t)l)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static int write_files(const char *dir, const ControlFile *files, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = cgroup_path_join(dir, files[i].name);
                int r;

                if (!p)
                        return -ENOMEM;
                r = replace_file(p, files[i].value, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_in(const char *dir, const char *name, char **ret)
{
        _cleanup_free_ char *p = cgroup_path_join(dir, name);

        if (!p)
                return -ENOMEM;
        return cgroup_read_file(p, ret);
}

static int write_in(const char *dir, const char *name, const char *content)
{
        _cleanup_free_ char *p = cgroup_path_join(dir, name);

        if (!p)
                return -ENOMEM;
        return replace_file(p, content, false);
}

static char *dir_of(const char *path)
{
        const char *s = strrchr(path, '/');

        if (!s)
                return strdup(".");
        if (s == path)
                return strdup("/");
        return strndup(path, (size_t)(s - path));
}

static bool is_hierarchy_root(const CgroupCpu *c, const char *dir)
{
        return streq(dir, c->hierarchy);
}

static bool type_is(const char *dir, const char *type)
{
        _cleanup_free_ char *t = NULL;
        size_t l;

        if (read_in(dir, "cgroup.type", &t) < 0)
                return false;
        l = strlen(t);
        if (l > 0 && t[l - 1] == '\n')
                t[l - 1] = 0;
        return streq(t, type);
}

static bool is_threaded(const char *dir)
{
        return type_is(dir, "threaded") || type_is(dir, "domain threaded");
}

/* Calls f(dir) for every child directory of dir. */
static int for_each_child(const char *dir, int (*f)(const char *child, void *userdata), void *userdata)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int r = 0;

        if (!d)
                return negative_errno();
        while ((de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                _cleanup_free_ char *p = cgroup_path_join(dir, de->d_name);
                if (!p) {
                        r = -ENOMEM;
                        break;
                }
                if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                r = f(p, userdata);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r;
}

/* --- mkdir ------------------------------------------------------------------------------------- */

static int add_controller_files(const char *dir, const char *controllers)
{
        if (cgroup_words_contain(controllers, "cpu"))
                return write_files(dir, v2_cpu_files, ELEMENTSOF(v2_cpu_files));
        return 0;
}

static int emul_mkdir(const CgroupCpu *c, const char *path)
{
        _cleanup_free_ char *parent = NULL, *controllers = NULL;
        int r;

        if (mkdir(path, 0755) < 0)
                return negative_errno();

        if (c->version == CGROUP_VERSION_V1)
                return write_files(path, v1_group_files, ELEMENTSOF(v1_group_files));

        parent = dir_of(path);
        if (!parent)
                return -ENOMEM;
        r = read_in(parent, "cgroup.subtree_control", &controllers);
        if (r < 0)
                return r;
        r = write_files(path, v2_group_files, ELEMENTSOF(v2_group_files));
        if (r < 0)
                return r;
        r = write_files(path, &(const ControlFile){"cgroup.controllers", controllers}, 1);
        if (r < 0)
                return r;
        return add_controller_files(path, controllers);
}

/* --- rmdir ------------------------------------------------------------------------------------- */

static int fail_busy(const char *child, void *userdata)
{
        return -EBUSY;
}

static int emul_rmdir(const CgroupCpu *c, const char *path)
{
        struct stat st;
        DIR *d;
        struct dirent *de;
        int r;

        if (lstat(path, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (is_hierarchy_root(c, path))
                return -EBUSY;
        r = for_each_child(path, fail_busy, NULL);
        if (r < 0)
                return r;
        if (has_members(c, path))
                return -EBUSY;

        d = opendir(path);
        if (!d)
                return negative_errno();
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    unlinkat(dirfd(d), de->d_name, 0) < 0) {
                        r = negative_errno();
                        break;
                }
        closedir(d);
        if (r < 0)
                return r;
        return rmdir(path) < 0 ? negative_errno() : 0;
}

/* --- member files ------------------------------------------------------------------------------
 * The thread file (v1 tasks, v2 cgroup.threads) is the truth; cgroup.procs is a view derived from
 * it (the thread-group ids of the live threads listed), rewritten after every move. */

static const char *thread_file(const CgroupCpu *c)
{
        return c->version == CGROUP_VERSION_V1 ? CGROUP_FILE_TASKS : CGROUP_FILE_THREADS;
}

static bool id_alive(pid_t id)
{
        char p[32];

        snprintf(p, sizeof(p), "/proc/%d", (int)id);
        return access(p, F_OK) >= 0;
}

/* The thread-group id of a live thread, 0 if it is gone. */
static pid_t tgid_of(pid_t tid)
{
        _cleanup_free_ char *s = NULL;
        char p[48];
        const char *t;
        int64_t v;

        snprintf(p, sizeof(p), "/proc/%d/status", (int)tid);
        if (cgroup_read_file(p, &s) < 0)
                return 0;
        t = strstr(s, "\nTgid:");
        if (!t)
                return 0;
        t += strlen("\nTgid:");
        while (*t == ' ' || *t == '\t')
                t++;
        _cleanup_free_ char *num = strndup(t, strcspn(t, "\n"));
        if (!num || cgroup_parse_i64(num, &v) < 0 || v <= 0 || v > INT32_MAX)
                return 0;
        return (pid_t)v;
}

static int read_ids(const char *dir, const char *name, pid_t **ret, size_t *ret_n)
{
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_in(dir, name, &s);
        if (r < 0)
                return r;
        return cgroup_parse_pids(s, ret, ret_n);
}

static bool list_has(const pid_t *ids, size_t n, pid_t id)
{
        for (size_t i = 0; i < n; i++)
                if (ids[i] == id)
                        return true;
        return false;
}

static int write_ids(const char *dir, const char *name, const pid_t *ids, size_t n)
{
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&out, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%d\n", (int)ids[i]);
        if (fclose(f) != 0)
                return -ENOMEM;
        return write_in(dir, name, out);
}

static bool has_members(const CgroupCpu *c, const char *dir)
{
        _cleanup_free_ pid_t *ids = NULL;
        size_t n = 0;

        if (read_ids(dir, thread_file(c), &ids, &n) < 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (id_alive(ids[i]))
                        return true;
        return false;
}

typedef struct Move {
        const CgroupCpu *c;
        const char *dst; /* the group the threads go to */
        const pid_t *tids;
        size_t n_tids;
} Move;

/* For one group: drop the moved and the dead threads from its thread file, add the moved ones
 * if it is the destination, and rewrite its cgroup.procs view. Then recurse. */
static int apply_move(const char *dir, void *userdata)
{
        const Move *m = userdata;
        _cleanup_free_ pid_t *ids = NULL, *keep = NULL, *procs = NULL;
        size_t n = 0, n_keep = 0, n_procs = 0;
        bool dst = streq(dir, m->dst);
        int r;

        r = read_ids(dir, thread_file(m->c), &ids, &n);
        if (r < 0)
                return r;
        keep = calloc(n + m->n_tids + 1, sizeof(pid_t));
        procs = calloc(n + m->n_tids + 1, sizeof(pid_t));
        if (!keep || !procs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (!list_has(m->tids, m->n_tids, ids[i]) && !list_has(keep, n_keep, ids[i]) &&
                    id_alive(ids[i]))
                        keep[n_keep++] = ids[i];
        if (dst)
                for (size_t i = 0; i < m->n_tids; i++)
                        if (!list_has(keep, n_keep, m->tids[i]))
                                keep[n_keep++] = m->tids[i];
        for (size_t i = 0; i < n_keep; i++) {
                pid_t tgid = tgid_of(keep[i]);
                if (tgid > 0 && !list_has(procs, n_procs, tgid))
                        procs[n_procs++] = tgid;
        }
        r = write_ids(dir, thread_file(m->c), keep, n_keep);
        if (r < 0)
                return r;
        r = write_ids(dir, CGROUP_FILE_PROCS, procs, n_procs);
        if (r < 0)
                return r;
        return for_each_child(dir, apply_move, userdata);
}

/* All threads of the thread group of id, from /proc/<id>/task. */
static int threads_of(pid_t id, pid_t **ret, size_t *ret_n)
{
        _cleanup_free_ pid_t *tids = NULL;
        size_t n = 0, alloc = 0;
        char p[48];
        struct dirent *de;
        DIR *d;

        snprintf(p, sizeof(p), "/proc/%d/task", (int)id);
        d = opendir(p);
        if (!d)
                return -ESRCH;
        while ((de = readdir(d))) {
                uint64_t v;

                if (cgroup_parse_u64(de->d_name, &v) < 0 || v == 0 || v > INT32_MAX)
                        continue;
                if (n == alloc) {
                        size_t na = alloc ? alloc * 2 : 16;
                        pid_t *t = reallocarray(tids, na, sizeof(pid_t));
                        if (!t) {
                                closedir(d);
                                return -ENOMEM;
                        }
                        tids = t;
                        alloc = na;
                }
                tids[n++] = (pid_t)v;
        }
        closedir(d);
        if (n == 0)
                return -ESRCH;
        *ret = TAKE_PTR(tids);
        *ret_n = n;
        return 0;
}

static int emul_move(const CgroupCpu *c, const char *dir, const char *name, const char *data)
{
        bool procs = streq(name, CGROUP_FILE_PROCS);
        _cleanup_free_ pid_t *tids = NULL;
        size_t n = 0;
        int64_t v;
        int r;

        if (!procs && !streq(name, thread_file(c)))
                return -ENOENT; /* tasks on v2 or cgroup.threads on v1: no such file */
        if (cgroup_parse_i64(data, &v) < 0 || v < 0 || v > INT32_MAX)
                return -EINVAL;
        if (v == 0)
                v = procs ? getpid() : (pid_t)syscall(SYS_gettid);
        if (!id_alive((pid_t)v))
                return -ESRCH;

        if (c->version == CGROUP_VERSION_V2 && !is_hierarchy_root(c, dir)) {
                if (procs && !is_threaded(dir)) {
                        _cleanup_free_ char *sub = NULL;
                        /* no internal processes: a domain that distributes controllers has none */
                        if (read_in(dir, "cgroup.subtree_control", &sub) >= 0 && !streq(sub, "") &&
                            !streq(sub, "\n"))
                                return -EBUSY;
                }
                if (!procs && !is_threaded(dir))
                        return -EOPNOTSUPP;
        }

        if (procs) {
                r = threads_of((pid_t)v, &tids, &n);
                if (r < 0)
                        return r;
        } else {
                tids = malloc(sizeof(pid_t));
                if (!tids)
                        return -ENOMEM;
                tids[0] = (pid_t)v;
                n = 1;
        }
        return apply_move(c->hierarchy, &(Move){.c = c, .dst = dir, .tids = tids, .n_tids = n});
}

/* --- v2 structure files ------------------------------------------------------------------------ */

typedef struct ControllerChange {
        const char *controllers;
} ControllerChange;

static int apply_to_child(const char *child, void *userdata)
{
        const ControllerChange *ch = userdata;
        int r;

        r = write_in(child, "cgroup.controllers", ch->controllers);
        if (r < 0)
                return r;
        if (cgroup_words_contain(ch->controllers, "cpu"))
                return add_controller_files(child, ch->controllers);
        for (size_t i = 0; i < ELEMENTSOF(v2_cpu_files); i++) {
                _cleanup_free_ char *p = cgroup_path_join(child, v2_cpu_files[i].name);
                if (!p)
                        return -ENOMEM;
                if (unlink(p) < 0 && errno != ENOENT)
                        return negative_errno();
        }
        return 0;
}

static int emul_subtree_control(const CgroupCpu *c, const char *dir, const char *data)
{
        _cleanup_free_ char *available = NULL, *cur = NULL, *copy = strdup(data), *out = NULL;
        bool want_cpu;
        char *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        r = read_in(dir, "cgroup.controllers", &available);
        if (r < 0)
                return r;
        r = read_in(dir, "cgroup.subtree_control", &cur);
        if (r < 0)
                return r;
        want_cpu = cgroup_words_contain(cur, "cpu");

        for (char *tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                if (tok[0] != '+' && tok[0] != '-')
                        return -EINVAL;
                if (!cgroup_words_contain(available, tok + 1))
                        return -ENOENT;
                if (!streq(tok + 1, "cpu"))
                        return -EINVAL; /* only the cpu controller is modelled */
                want_cpu = tok[0] == '+';
        }
        if (want_cpu && !cgroup_words_contain(cur, "cpu") && !is_hierarchy_root(c, dir) &&
            !is_threaded(dir)) {
                _cleanup_free_ char *procs = NULL;
                if (read_in(dir, CGROUP_FILE_PROCS, &procs) >= 0 && !streq(procs, ""))
                        return -EBUSY;
        }

        out = strdup(want_cpu ? "cpu\n" : "");
        if (!out)
                return -ENOMEM;
        r = write_in(dir, "cgroup.subtree_control", out);
        if (r < 0)
                return r;
        return for_each_child(dir, apply_to_child, &(ControllerChange){.controllers = out});
}

static int emul_type(const CgroupCpu *c, const char *dir, const char *data)
{
        _cleanup_free_ char *parent = NULL;
        int r;

        if (!streq(data, "threaded") && !streq(data, "threaded\n"))
                return -EINVAL;
        if (is_hierarchy_root(c, dir))
                return -EOPNOTSUPP;
        r = write_in(dir, "cgroup.type", "threaded\n");
        if (r < 0)
                return r;
        parent = dir_of(dir);
        if (!parent)
                return -ENOMEM;
        if (!is_hierarchy_root(c, parent) && type_is(parent, "domain"))
                return write_in(parent, "cgroup.type", "domain threaded\n");
        return 0;
}

/* --- cpu values -------------------------------------------------------------------------------- */

static int emul_cpu_value(const CgroupCpu *c, const char *dir, const char *name, const char *data)
{
        char buf[64];
        uint64_t u;
        int64_t i;

        if (streq(name, "cpu.shares")) {
                if (cgroup_parse_u64(data, &u) < 0)
                        return -EINVAL;
                u = CLAMP(u, CGROUP_CPU_SHARES_MIN, CGROUP_CPU_SHARES_MAX);
                snprintf(buf, sizeof(buf), "%" PRIu64 "\n", u);
        } else if (streq(name, "cpu.cfs_period_us")) {
                if (cgroup_parse_u64(data, &u) < 0)
                        return -EINVAL;
                if (u < CGROUP_CPU_PERIOD_MIN_US || u > CGROUP_CPU_PERIOD_MAX_US)
                        return -EINVAL;
                snprintf(buf, sizeof(buf), "%" PRIu64 "\n", u);
        } else if (streq(name, "cpu.cfs_quota_us")) {
                if (cgroup_parse_i64(data, &i) < 0)
                        return -EINVAL;
                if (i < 0)
                        i = CGROUP_CPU_QUOTA_UNLIMITED;
                else if (i < CGROUP_CPU_QUOTA_MIN_US)
                        return -EINVAL;
                snprintf(buf, sizeof(buf), "%" PRIi64 "\n", i);
        } else if (streq(name, "cpu.weight")) {
                if (cgroup_parse_u64(data, &u) < 0)
                        return -EINVAL;
                if (u < CGROUP_CPU_WEIGHT_MIN || u > CGROUP_CPU_WEIGHT_MAX)
                        return -ERANGE;
                snprintf(buf, sizeof(buf), "%" PRIu64 "\n", u);
        } else { /* cpu.max: "max|<quota> [<period>]", the period is kept when left out */
                _cleanup_free_ char *cur = NULL, *copy = strdup(data);
                int64_t cur_quota;
                uint64_t period;
                char *sp;
                int r;

                if (!copy)
                        return -ENOMEM;
                r = read_in(dir, name, &cur);
                if (r < 0)
                        return r;
                if (cgroup_cpu_parse_max(cur, &cur_quota, &period) < 0)
                        return -EIO;
                sp = strchr(copy, ' ');
                if (sp) {
                        *sp = 0;
                        if (cgroup_parse_u64(sp + 1, &period) < 0)
                                return -EINVAL;
                } else if (copy[0] && copy[strlen(copy) - 1] == '\n')
                        copy[strlen(copy) - 1] = 0;
                if (streq(copy, "max"))
                        i = CGROUP_CPU_QUOTA_UNLIMITED;
                else if (cgroup_parse_i64(copy, &i) < 0 || i < 0)
                        return -EINVAL;
                if (period < CGROUP_CPU_PERIOD_MIN_US || period > CGROUP_CPU_PERIOD_MAX_US)
                        return -EINVAL;
                if (i >= 0 && i < CGROUP_CPU_QUOTA_MIN_US)
                        return -EINVAL;
                if (cgroup_cpu_format_max(i, period, buf, sizeof(buf) - 1) < 0)
                        return -EINVAL;
                strcat(buf, "\n");
        }
        return write_in(dir, name, buf);
}

static bool is_cpu_value_file(const CgroupCpu *c, const char *name)
{
        if (c->version == CGROUP_VERSION_V1)
                return streq(name, "cpu.shares") || streq(name, "cpu.cfs_period_us") ||
                       streq(name, "cpu.cfs_quota_us");
        return streq(name, "cpu.weight") || streq(name, "cpu.max");
}

static int emul_write(const CgroupCpu *c, const char *path, const char *data)
{
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *name;
        struct stat st;

        /* The same open as the kernel backend, so missing files, directories, FIFOs and
         * non-directory path components fail the same way. */
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        fd = safe_close(fd);

        dir = dir_of(path);
        if (!dir)
                return -ENOMEM;
        name = strrchr(path, '/');
        name = name ? name + 1 : path;

        if (streq(name, CGROUP_FILE_PROCS) || streq(name, CGROUP_FILE_TASKS) ||
            streq(name, CGROUP_FILE_THREADS))
                return emul_move(c, dir, name, data);
        if (c->version == CGROUP_VERSION_V2 && streq(name, "cgroup.subtree_control"))
                return emul_subtree_control(c, dir, data);
        if (c->version == CGROUP_VERSION_V2 && streq(name, "cgroup.type"))
                return emul_type(c, dir, data);
        if (is_cpu_value_file(c, name))
                return emul_cpu_value(c, dir, name, data);
        return replace_file(path, data, false);
}

const CgroupFsOps cgroup_fs_emulated_ops = {
        .mkdir = emul_mkdir,
        .rmdir = emul_rmdir,
        .write = emul_write,
};

int cgroup_emulated_init_hierarchy(const char *dir, CgroupVersion version)
{
        struct stat st;

        if (!dir || version < 0 || version >= _CGROUP_VERSION_MAX)
                return -EINVAL;
        if (stat(dir, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (version == CGROUP_VERSION_V1)
                return write_files(dir, v1_root_files, ELEMENTSOF(v1_root_files));
        return write_files(dir, v2_root_files, ELEMENTSOF(v2_root_files));
}
