/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* CPU cgroups: detection, group paths and the cpu controller operations over cgroup v1 and v2. */

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>

#include "cgroups/cgroup-internal.h"

static const char *const cgroup_version_table[_CGROUP_VERSION_MAX] = {
        [CGROUP_VERSION_V1] = "v1",
        [CGROUP_VERSION_V2] = "v2",
};

static const char *const cgroup_mode_table[_CGROUP_MODE_MAX] = {
        [CGROUP_MODE_AUTO] = "auto",
        [CGROUP_MODE_V1] = "v1",
        [CGROUP_MODE_V2] = "v2",
};

static const char *const cgroup_backend_table[_CGROUP_BACKEND_MAX] = {
        [CGROUP_BACKEND_KERNEL] = "kernel",
        [CGROUP_BACKEND_EMULATED] = "emulated",
};

const char *cgroup_version_to_string(CgroupVersion v)
{
        return v >= 0 && v < _CGROUP_VERSION_MAX ? cgroup_version_table[v] : NULL;
}

CgroupVersion cgroup_version_from_string(const char *s)
{
        return string_table_lookup(cgroup_version_table, ELEMENTSOF(cgroup_version_table), s);
}

const char *cgroup_mode_to_string(CgroupMode m)
{
        return m >= 0 && m < _CGROUP_MODE_MAX ? cgroup_mode_table[m] : NULL;
}

CgroupMode cgroup_mode_from_string(const char *s)
{
        return string_table_lookup(cgroup_mode_table, ELEMENTSOF(cgroup_mode_table), s);
}

const char *cgroup_backend_to_string(CgroupBackend b)
{
        return b >= 0 && b < _CGROUP_BACKEND_MAX ? cgroup_backend_table[b] : NULL;
}

CgroupBackend cgroup_backend_from_string(const char *s)
{
        return string_table_lookup(cgroup_backend_table, ELEMENTSOF(cgroup_backend_table), s);
}

/* --- small file helpers (shared with the emulated backend) ----------------------------------- */

char *cgroup_path_join(const char *a, const char *b)
{
        char *p;
        size_t la = strlen(a);

        if (la > 0 && a[la - 1] == '/')
                return asprintf(&p, "%s%s", a, b) < 0 ? NULL : p;
        return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

int cgroup_read_file(const char *path, char **ret)
{
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        /* O_NONBLOCK: a FIFO planted where a control file should be must not hang us. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();

        for (;;) {
                if (alloc - size < 4096 + 1) {
                        size_t n = MIN(alloc ? alloc * 2 : 4096 + 1, (size_t)CGROUP_READ_MAX + 1);

                        if (n > alloc) {
                                char *b = realloc(buf, n);
                                if (!b)
                                        return -ENOMEM;
                                buf = b;
                                alloc = n;
                        }
                        if (alloc - size - 1 == 0)
                                return -EFBIG; /* CGROUP_READ_MAX bytes read, and maybe more */
                }
                ssize_t k = read(fd, buf + size, alloc - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t)k;
        }
        if (!buf) {
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = 0;
        if (strlen(buf) != size)
                return -EBADMSG;
        *ret = TAKE_PTR(buf);
        return 0;
}

int cgroup_write_file_once(const char *path, const char *data)
{
        _cleanup_close_ int fd = -EBADF;
        size_t l = strlen(data);
        ssize_t k;

        /* No O_CREAT: control files exist or the controller is not there. O_NONBLOCK: opening a
         * FIFO without a reader fails with ENXIO instead of blocking. */
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        do
                k = write(fd, data, l);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        if ((size_t)k != l)
                return -EIO;
        return 0;
}

static const char *skip_trailing_newline_end(const char *s)
{
        size_t l = strlen(s);

        if (l > 0 && s[l - 1] == '\n')
                l--;
        return s + l;
}

int cgroup_parse_u64(const char *s, uint64_t *ret)
{
        const char *end = skip_trailing_newline_end(s);
        char *e;
        unsigned long long v;

        if (end == s || !isdigit((unsigned char)s[0]))
                return -EBADMSG;
        errno = 0;
        v = strtoull(s, &e, 10);
        if (errno != 0)
                return errno == ERANGE ? -ERANGE : -EBADMSG;
        if (e != end)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int cgroup_parse_i64(const char *s, int64_t *ret)
{
        const char *end = skip_trailing_newline_end(s);
        const char *d = s[0] == '-' ? s + 1 : s;
        char *e;
        long long v;

        if (end == s || !isdigit((unsigned char)d[0]))
                return -EBADMSG;
        errno = 0;
        v = strtoll(s, &e, 10);
        if (errno != 0)
                return errno == ERANGE ? -ERANGE : -EBADMSG;
        if (e != end)
                return -EBADMSG;
        *ret = v;
        return 0;
}

int cgroup_parse_pids(const char *s, pid_t **ret, size_t *ret_n)
{
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, alloc = 0;

        while (*s) {
                const char *nl = strchr(s, '\n');
                size_t l = nl ? (size_t)(nl - s) : strlen(s);
                char word[24];
                uint64_t v;
                int r;

                if (l == 0) {
                        s += 1;
                        continue;
                }
                if (l >= sizeof(word))
                        return -EBADMSG;
                memcpy(word, s, l);
                word[l] = 0;
                r = cgroup_parse_u64(word, &v);
                if (r < 0)
                        return -EBADMSG;
                if (v == 0 || v > INT32_MAX)
                        return -EBADMSG;
                if (n == alloc) {
                        size_t na = alloc ? alloc * 2 : 16;
                        pid_t *p = reallocarray(pids, na, sizeof(pid_t));
                        if (!p)
                                return -ENOMEM;
                        pids = p;
                        alloc = na;
                }
                pids[n++] = (pid_t)v;
                s += l + (nl ? 1 : 0);
        }
        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

bool cgroup_words_contain(const char *s, const char *word)
{
        size_t wl = strlen(word);

        while (*s) {
                while (*s && isspace((unsigned char)*s))
                        s++;
                const char *b = s;
                while (*s && !isspace((unsigned char)*s))
                        s++;
                if ((size_t)(s - b) == wl && strncmp(b, word, wl) == 0)
                        return true;
        }
        return false;
}

/* --- the kernel backend ------------------------------------------------------------------------ */

static int kernel_mkdir(const CgroupCpu *c, const char *path)
{
        return mkdir(path, 0755) < 0 ? negative_errno() : 0;
}

static int kernel_rmdir(const CgroupCpu *c, const char *path)
{
        return rmdir(path) < 0 ? negative_errno() : 0;
}

static int kernel_write(const CgroupCpu *c, const char *path, const char *data)
{
        return cgroup_write_file_once(path, data);
}

const CgroupFsOps cgroup_fs_kernel_ops = {
        .mkdir = kernel_mkdir,
        .rmdir = kernel_rmdir,
        .write = kernel_write,
};

/* --- detection --------------------------------------------------------------------------------- */

static bool is_fs_type(const char *path, long magic)
{
        struct statfs sfs;

        if (statfs(path, &sfs) < 0)
                return false;
        return (long)sfs.f_type == magic;
}

static bool file_exists(const char *dir, const char *name)
{
        _cleanup_free_ char *p = cgroup_path_join(dir, name);

        return p && access(p, F_OK) >= 0;
}

/* v1: the cpu controller mounted on its own (<root>/cpu) or together with cpuacct, as most
 * distributions do (<root>/cpu,cpuacct, with <root>/cpu a symlink to it). */
static int detect_v1(const char *root, CgroupBackend backend, char **ret)
{
        static const char *const names[] = {"cpu", "cpu,cpuacct", "cpuacct,cpu"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = cgroup_path_join(root, names[i]);
                struct stat st;

                if (!p)
                        return -ENOMEM;
                if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if (backend == CGROUP_BACKEND_KERNEL && !is_fs_type(p, CGROUP_SUPER_MAGIC))
                        continue;
                if (!file_exists(p, "cpu.shares"))
                        continue;
                *ret = TAKE_PTR(p);
                return 0;
        }
        return -EOPNOTSUPP;
}

/* v2: the root itself (unified layout) or <root>/unified (hybrid layout), with the cpu
 * controller available and enabled for its children. */
static int detect_v2(const char *root, CgroupBackend backend, char **ret)
{
        static const char *const names[] = {NULL, "unified"};

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = names[i] ? cgroup_path_join(root, names[i]) : strdup(root);
                _cleanup_free_ char *ctl = NULL, *sub = NULL, *controllers = NULL, *subtree = NULL;
                struct stat st;

                if (!p)
                        return -ENOMEM;
                if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                if (backend == CGROUP_BACKEND_KERNEL && !is_fs_type(p, CGROUP2_SUPER_MAGIC))
                        continue;
                ctl = cgroup_path_join(p, "cgroup.controllers");
                sub = cgroup_path_join(p, "cgroup.subtree_control");
                if (!ctl || !sub)
                        return -ENOMEM;
                if (cgroup_read_file(ctl, &controllers) < 0 || cgroup_read_file(sub, &subtree) < 0)
                        continue;
                if (!cgroup_words_contain(controllers, "cpu") || !cgroup_words_contain(subtree, "cpu"))
                        continue;
                *ret = TAKE_PTR(p);
                return 0;
        }
        return -EOPNOTSUPP;
}

/* --- names and the handle ---------------------------------------------------------------------- */

#define GROUP_NAME_MAX 1024
#define GROUP_COMPONENT_MAX 255

static bool component_char_ok(char ch)
{
        return isalnum((unsigned char)ch) || strchr("_.,:@+-", ch);
}

bool cgroup_group_name_is_valid(const char *group)
{
        size_t l, comp = 0;

        if (!group)
                return false;
        l = strlen(group);
        if (l == 0 || l > GROUP_NAME_MAX || group[0] == '/' || group[l - 1] == '/')
                return false;
        for (const char *p = group;; p++) {
                if (*p == '/' || *p == 0) {
                        const char *b = p - comp;

                        if (comp == 0 || comp > GROUP_COMPONENT_MAX)
                                return false;
                        if ((comp == 1 && b[0] == '.') || (comp == 2 && b[0] == '.' && b[1] == '.'))
                                return false;
                        comp = 0;
                        if (*p == 0)
                                return true;
                        continue;
                }
                if (!component_char_ok(*p))
                        return false;
                comp++;
        }
}

static char *normalize_root(const char *root)
{
        char *r = strdup(root);
        size_t l;

        if (!r)
                return NULL;
        l = strlen(r);
        while (l > 1 && r[l - 1] == '/')
                r[--l] = 0;
        return r;
}

int cgroup_cpu_open(const char *root, CgroupMode mode, CgroupBackend backend, const char *parent,
                    CgroupCpu **ret)
{
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        _cleanup_free_ char *r = NULL;
        int k = -EOPNOTSUPP;

        if (!ret || mode < 0 || mode >= _CGROUP_MODE_MAX || backend < 0 || backend >= _CGROUP_BACKEND_MAX)
                return -EINVAL;
        root = root ?: CGROUP_ROOT_DEFAULT;
        if (root[0] != '/' || strlen(root) >= PATH_MAX / 2 ||
            (parent && !cgroup_group_name_is_valid(parent)))
                return -EINVAL;

        r = normalize_root(root);
        c = calloc(1, sizeof(*c));
        if (!r || !c)
                return -ENOMEM;
        c->backend = backend;
        c->ops = backend == CGROUP_BACKEND_KERNEL ? &cgroup_fs_kernel_ops : &cgroup_fs_emulated_ops;

        if (mode == CGROUP_MODE_AUTO || mode == CGROUP_MODE_V1) {
                k = detect_v1(r, backend, &c->hierarchy);
                if (k < 0 && k != -EOPNOTSUPP)
                        return k;
                if (k >= 0)
                        c->version = CGROUP_VERSION_V1;
        }
        if (k < 0 && (mode == CGROUP_MODE_AUTO || mode == CGROUP_MODE_V2)) {
                k = detect_v2(r, backend, &c->hierarchy);
                if (k < 0)
                        return k;
                c->version = CGROUP_VERSION_V2;
                parent = parent ?: CGROUP_V2_PARENT_DEFAULT;
        }
        if (k < 0)
                return k;

        if (parent) {
                c->parent = strdup(parent);
                c->base = cgroup_path_join(c->hierarchy, parent);
        } else
                c->base = strdup(c->hierarchy);
        if ((parent && !c->parent) || !c->base)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

CgroupCpu *cgroup_cpu_free(CgroupCpu *c)
{
        if (!c)
                return NULL;
        free(c->hierarchy);
        free(c->base);
        free(c->parent);
        free(c);
        return NULL;
}

CgroupVersion cgroup_cpu_version(const CgroupCpu *c)
{
        return c->version;
}

CgroupBackend cgroup_cpu_backend(const CgroupCpu *c)
{
        return c->backend;
}

const char *cgroup_cpu_hierarchy(const CgroupCpu *c)
{
        return c->hierarchy;
}

const char *cgroup_cpu_base(const CgroupCpu *c)
{
        return c->base;
}

int cgroup_cpu_group_path(const CgroupCpu *c, const char *group, char **ret)
{
        char *p;

        if (!c || !ret || !cgroup_group_name_is_valid(group))
                return -EINVAL;
        p = cgroup_path_join(c->base, group);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* <base>/<group>/<file> */
static int group_file(const CgroupCpu *c, const char *group, const char *file, char **ret)
{
        _cleanup_free_ char *dir = NULL;
        int r;

        r = cgroup_cpu_group_path(c, group, &dir);
        if (r < 0)
                return r;
        *ret = cgroup_path_join(dir, file);
        return *ret ? 0 : -ENOMEM;
}

static int read_group_file(const CgroupCpu *c, const char *group, const char *file, char **ret)
{
        _cleanup_free_ char *p = NULL;
        int r;

        r = group_file(c, group, file, &p);
        if (r < 0)
                return r;
        return cgroup_read_file(p, ret);
}

static int write_group_file(CgroupCpu *c, const char *group, const char *file, const char *data)
{
        _cleanup_free_ char *p = NULL;
        int r;

        r = group_file(c, group, file, &p);
        if (r < 0)
                return r;
        return c->ops->write(c, p, data);
}

/* --- groups -------------------------------------------------------------------------------------- */

static int mkdir_ok_if_exists(const CgroupCpu *c, const char *path)
{
        struct stat st;
        int r = c->ops->mkdir(c, path);

        if (r != -EEXIST)
                return r;
        if (stat(path, &st) < 0)
                return negative_errno();
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* v2: a controller reaches a child only when the parent lists it in cgroup.subtree_control. */
static int enable_cpu_for_children(const CgroupCpu *c, const char *dir)
{
        _cleanup_free_ char *p = cgroup_path_join(dir, "cgroup.subtree_control"), *cur = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = cgroup_read_file(p, &cur);
        if (r < 0)
                return r;
        if (cgroup_words_contain(cur, "cpu"))
                return 0;
        return c->ops->write(c, p, "+cpu");
}

static int make_threaded(const CgroupCpu *c, const char *dir)
{
        _cleanup_free_ char *p = cgroup_path_join(dir, "cgroup.type"), *cur = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = cgroup_read_file(p, &cur);
        if (r < 0)
                return r;
        if (streq(cur, "threaded\n") || streq(cur, "threaded"))
                return 0;
        return c->ops->write(c, p, "threaded");
}

int cgroup_cpu_create_group(CgroupCpu *c, const char *group, CgroupCreateFlags flags)
{
        _cleanup_free_ char *rel = NULL;
        int r;

        if (!c || !cgroup_group_name_is_valid(group))
                return -EINVAL;

        /* Walk the path below the hierarchy (the parent included) one component at a time. */
        if (c->parent)
                r = asprintf(&rel, "%s/%s", c->parent, group);
        else
                r = asprintf(&rel, "%s", group);
        if (r < 0)
                return -ENOMEM;

        for (char *slash = rel;; slash++) {
                bool last;

                slash = strchr(slash, '/');
                last = !slash;
                if (slash)
                        *slash = 0;

                _cleanup_free_ char *dir = cgroup_path_join(c->hierarchy, rel);
                if (!dir)
                        return -ENOMEM;
                r = mkdir_ok_if_exists(c, dir);
                if (r < 0)
                        return r;
                if (c->version == CGROUP_VERSION_V2) {
                        if (!last)
                                r = enable_cpu_for_children(c, dir);
                        else if (flags & CGROUP_CREATE_THREADED)
                                r = make_threaded(c, dir);
                        if (r < 0)
                                return r;
                }
                if (last)
                        return 0;
                *slash = '/';
        }
}

static int write_id(CgroupCpu *c, const char *group, const char *file, pid_t id)
{
        char buf[24];

        if (id < 0)
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%d", (int)id);
        return write_group_file(c, group, file, buf);
}

int cgroup_cpu_attach_pid(CgroupCpu *c, const char *group, pid_t pid)
{
        if (!c)
                return -EINVAL;
        return write_id(c, group, CGROUP_FILE_PROCS, pid);
}

int cgroup_cpu_attach_thread(CgroupCpu *c, const char *group, pid_t tid)
{
        if (!c)
                return -EINVAL;
        return write_id(c, group, c->version == CGROUP_VERSION_V1 ? CGROUP_FILE_TASKS : CGROUP_FILE_THREADS,
                        tid);
}

int cgroup_cpu_prepare_attach(const CgroupCpu *c, const char *group, CgroupAttachSelf *ret)
{
        _cleanup_free_ CgroupAttachSelf *a = NULL;
        const char *files[2] = {};
        int r;

        if (!c || !ret)
                return -EINVAL;
        if (c->version == CGROUP_VERSION_V1)
                files[0] = CGROUP_FILE_TASKS;
        else
                files[0] = c->backend == CGROUP_BACKEND_EMULATED ? CGROUP_FILE_THREADS : CGROUP_FILE_PROCS;
        if (c->backend == CGROUP_BACKEND_EMULATED)
                files[1] = CGROUP_FILE_PROCS;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(files) && files[i]; i++) {
                _cleanup_free_ char *p = NULL;

                r = group_file(c, group, files[i], &p);
                if (r < 0)
                        return r;
                if (strlen(p) >= sizeof(a->paths[i]))
                        return -ENAMETOOLONG;
                strcpy(a->paths[i], p);
                a->n_paths++;
        }
        *ret = *a;
        return 0;
}

/* Appends "<id>\n" to path with open/write/close only (async-signal-safe). O_APPEND: cgroupfs
 * ignores the offset; on an emulated tree the id becomes a new line. */
static int append_id(const char *path, pid_t id)
{
        char buf[16];
        size_t i = sizeof(buf);
        unsigned v = (unsigned)id;
        ssize_t k;
        int fd, r = 0;

        buf[--i] = '\n';
        do {
                buf[--i] = (char)('0' + v % 10);
                v /= 10;
        } while (v > 0);

        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        do
                k = write(fd, buf + i, sizeof(buf) - i);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                r = -errno;
        else if ((size_t)k != sizeof(buf) - i)
                r = -EIO;
        close(fd);
        return r;
}

int cgroup_attach_self(const CgroupAttachSelf *a)
{
        pid_t pid = getpid();
        int r;

        if (!a || a->n_paths == 0 || a->n_paths > ELEMENTSOF(a->paths))
                return -EINVAL;
        for (unsigned i = 0; i < a->n_paths; i++) {
                r = append_id(a->paths[i], pid);
                if (r < 0)
                        return r;
        }
        return 0;
}

int cgroup_path_attach_thread(const char *dir, pid_t tid)
{
        char p[PATH_MAX];

        if (!dir || dir[0] != '/' || tid < 0)
                return -EINVAL;
        if (tid == 0)
                tid = (pid_t)syscall(SYS_gettid);
        if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, CGROUP_FILE_TASKS) >= sizeof(p))
                return -ENAMETOOLONG;
        if (access(p, F_OK) < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, CGROUP_FILE_THREADS) >= sizeof(p))
                        return -ENAMETOOLONG;
        }
        return append_id(p, tid);
}

/* --- cpu controller values --------------------------------------------------------------------- */

uint64_t cgroup_cpu_shares_to_weight(uint64_t shares)
{
        if (shares <= CGROUP_CPU_SHARES_MIN)
                return CGROUP_CPU_WEIGHT_MIN;
        if (shares >= CGROUP_CPU_SHARES_MAX)
                return CGROUP_CPU_WEIGHT_MAX;
        return 1 + ((shares - 2) * 9999) / 262142;
}

int cgroup_cpu_format_max(int64_t quota_us, uint64_t period_us, char *buf, size_t size)
{
        int n;

        if (quota_us < 0 && quota_us != CGROUP_CPU_QUOTA_UNLIMITED)
                return -ERANGE;
        if (quota_us < 0)
                n = snprintf(buf, size, "max %" PRIu64, period_us);
        else
                n = snprintf(buf, size, "%" PRIi64 " %" PRIu64, quota_us, period_us);
        if (n < 0 || (size_t)n >= size)
                return -ENOBUFS;
        return 0;
}

int cgroup_cpu_parse_max(const char *s, int64_t *ret_quota_us, uint64_t *ret_period_us)
{
        const char *sp = strchr(s, ' ');
        char q[24];
        int64_t quota;
        uint64_t period;
        int r;

        if (!sp || (size_t)(sp - s) >= sizeof(q))
                return -EBADMSG;
        memcpy(q, s, (size_t)(sp - s));
        q[sp - s] = 0;
        if (streq(q, "max"))
                quota = CGROUP_CPU_QUOTA_UNLIMITED;
        else {
                r = cgroup_parse_i64(q, &quota);
                if (r < 0 || quota < 0)
                        return -EBADMSG;
        }
        r = cgroup_parse_u64(sp + 1, &period);
        if (r < 0)
                return -EBADMSG;
        *ret_quota_us = quota;
        *ret_period_us = period;
        return 0;
}

int cgroup_cpu_set_shares(CgroupCpu *c, const char *group, uint64_t shares)
{
        char buf[24];

        if (!c)
                return -EINVAL;
        if (shares < CGROUP_CPU_SHARES_MIN || shares > CGROUP_CPU_SHARES_MAX)
                return -ERANGE;
        if (c->version == CGROUP_VERSION_V1) {
                snprintf(buf, sizeof(buf), "%" PRIu64, shares);
                return write_group_file(c, group, "cpu.shares", buf);
        }
        snprintf(buf, sizeof(buf), "%" PRIu64, cgroup_cpu_shares_to_weight(shares));
        return write_group_file(c, group, "cpu.weight", buf);
}

int cgroup_cpu_set_quota(CgroupCpu *c, const char *group, int64_t quota_us, uint64_t period_us)
{
        char buf[48];
        int r;

        if (!c)
                return -EINVAL;
        if (quota_us != CGROUP_CPU_QUOTA_UNLIMITED && quota_us < CGROUP_CPU_QUOTA_MIN_US)
                return -ERANGE;
        if (period_us < CGROUP_CPU_PERIOD_MIN_US || period_us > CGROUP_CPU_PERIOD_MAX_US)
                return -ERANGE;

        if (c->version == CGROUP_VERSION_V2) {
                r = cgroup_cpu_format_max(quota_us, period_us, buf, sizeof(buf));
                if (r < 0)
                        return r;
                return write_group_file(c, group, "cpu.max", buf);
        }

        /* Period first, as concierge does: the quota is then checked against the new period. */
        snprintf(buf, sizeof(buf), "%" PRIu64, period_us);
        r = write_group_file(c, group, "cpu.cfs_period_us", buf);
        if (r < 0)
                return r;
        snprintf(buf, sizeof(buf), "%" PRIi64, quota_us);
        return write_group_file(c, group, "cpu.cfs_quota_us", buf);
}

static int read_group_u64(CgroupCpu *c, const char *group, const char *file, uint64_t *ret)
{
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_group_file(c, group, file, &s);
        if (r < 0)
                return r;
        return cgroup_parse_u64(s, ret) < 0 ? -EBADMSG : 0;
}

int cgroup_cpu_get_values(CgroupCpu *c, const char *group, CgroupCpuValues *ret)
{
        CgroupCpuValues v = {.version = c ? c->version : _CGROUP_VERSION_INVALID};
        _cleanup_free_ char *s = NULL;
        int r;

        if (!c || !ret)
                return -EINVAL;

        if (c->version == CGROUP_VERSION_V2) {
                r = read_group_u64(c, group, "cpu.weight", &v.weight);
                if (r < 0)
                        return r;
                r = read_group_file(c, group, "cpu.max", &s);
                if (r < 0)
                        return r;
                r = cgroup_cpu_parse_max(s, &v.quota_us, &v.period_us);
                if (r < 0)
                        return r;
        } else {
                r = read_group_u64(c, group, "cpu.shares", &v.shares);
                if (r < 0)
                        return r;
                r = read_group_u64(c, group, "cpu.cfs_period_us", &v.period_us);
                if (r < 0)
                        return r;
                r = read_group_file(c, group, "cpu.cfs_quota_us", &s);
                if (r < 0)
                        return r;
                if (cgroup_parse_i64(s, &v.quota_us) < 0)
                        return -EBADMSG;
                if (v.quota_us < 0)
                        v.quota_us = CGROUP_CPU_QUOTA_UNLIMITED;
        }
        *ret = v;
        return 0;
}

static const char *members_file(const CgroupCpu *c, bool threads)
{
        if (!threads)
                return CGROUP_FILE_PROCS;
        return c->version == CGROUP_VERSION_V1 ? CGROUP_FILE_TASKS : CGROUP_FILE_THREADS;
}

int cgroup_cpu_get_pids(CgroupCpu *c, const char *group, bool threads, pid_t **ret, size_t *ret_n)
{
        _cleanup_free_ char *s = NULL;
        int r;

        if (!c || !ret || !ret_n)
                return -EINVAL;
        r = read_group_file(c, group, members_file(c, threads), &s);
        if (r < 0)
                return r;
        return cgroup_parse_pids(s, ret, ret_n);
}

/* --- removal ----------------------------------------------------------------------------------- */

static bool dir_is_threaded(CgroupCpu *c, const char *dir)
{
        _cleanup_free_ char *p = NULL, *t = NULL;

        if (c->version != CGROUP_VERSION_V2)
                return false;
        p = cgroup_path_join(dir, "cgroup.type");
        if (!p || cgroup_read_file(p, &t) < 0)
                return false;
        return streq(t, "threaded\n") || streq(t, "threaded");
}

/* Moves every task of the group at path to its parent. Tasks that exit meanwhile (ESRCH) are
 * fine. On v1 each thread goes through `tasks`; on v2 whole processes through cgroup.procs, or
 * single threads through cgroup.threads when the group is threaded (cgroup.procs cannot be read
 * there). */
static int migrate_to_parent(CgroupCpu *c, const char *path)
{
        _cleanup_free_ char *parent = NULL, *src = NULL, *dst = NULL, *s = NULL;
        _cleanup_free_ pid_t *ids = NULL;
        const char *file;
        size_t n = 0;
        int r;

        if (c->version == CGROUP_VERSION_V1)
                file = CGROUP_FILE_TASKS;
        else
                file = dir_is_threaded(c, path) ? CGROUP_FILE_THREADS : CGROUP_FILE_PROCS;

        parent = strndup(path, (size_t)(strrchr(path, '/') - path));
        src = cgroup_path_join(path, file);
        if (!parent || !src)
                return -ENOMEM;
        dst = cgroup_path_join(parent, file);
        if (!dst)
                return -ENOMEM;

        r = cgroup_read_file(src, &s);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        r = cgroup_parse_pids(s, &ids, &n);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                char buf[24];

                snprintf(buf, sizeof(buf), "%d", (int)ids[i]);
                r = c->ops->write(c, dst, buf);
                if (r < 0 && r != -ESRCH)
                        return r;
        }
        return 0;
}

static int remove_dir(CgroupCpu *c, const char *path, CgroupRemoveFlags flags)
{
        int r;

        for (unsigned attempt = 1;; attempt++) {
                r = c->ops->rmdir(c, path);
                if (r >= 0 || r == -ENOENT)
                        return 0;
                if (r != -EBUSY)
                        return r;
                if (attempt >= CGROUP_REMOVE_ATTEMPTS)
                        return -EBUSY;
                if (flags & CGROUP_REMOVE_MIGRATE) {
                        r = migrate_to_parent(c, path);
                        if (r < 0)
                                return r;
                }
                /* The first retry follows the move at once; later ones give exiting tasks time. */
                if (attempt > 1 || !(flags & CGROUP_REMOVE_MIGRATE)) {
                        struct timespec ts = {
                                .tv_nsec = (long)(CGROUP_REMOVE_RETRY_USEC * NSEC_PER_USEC),
                        };
                        nanosleep(&ts, NULL);
                }
        }
}

int cgroup_cpu_remove_group(CgroupCpu *c, const char *group, CgroupRemoveFlags flags)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if (!c)
                return -EINVAL;
        r = cgroup_cpu_group_path(c, group, &path);
        if (r < 0)
                return r;
        return remove_dir(c, path, flags);
}

int cgroup_cpu_remove_parent(CgroupCpu *c, CgroupRemoveFlags flags)
{
        if (!c)
                return -EINVAL;
        if (!c->parent)
                return 0;
        return remove_dir(c, c->base, flags);
}
