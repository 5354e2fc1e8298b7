/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of cgroups/ on temp trees laid out as cgroup v1 and v2 (the emulated backend). */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "cgroups/cgroup.h"
#include "cgroups/cpu-family.h"
#include "vmm_backend/macro.h"

/* --- helpers ----------------------------------------------------------------------------------- */

typedef struct Fixture {
        char root[64];
        CgroupCpu *c;
        pid_t children[8];
        size_t n_children;
} Fixture;

static char *pathf(const char *fmt, ...) _printf_(1, 2);
static char *pathf(const char *fmt, ...)
{
        va_list ap;
        char *p;

        va_start(ap, fmt);
        assert_true(vasprintf(&p, fmt, ap) >= 0);
        va_end(ap);
        return p;
}

/* The content of a file, or NULL when it cannot be read. */
static char *slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;

        if (!f)
                return NULL;
        if (getdelim(&buf, &len, 0, f) < 0) {
                free(buf);
                buf = strdup("");
        }
        fclose(f);
        return buf;
}

static void assert_file_eq(const char *path, const char *want)
{
        _cleanup_free_ char *s = slurp(path);

        if (!s)
                fail_msg("cannot read %s", path);
        if (!streq(s, want))
                fail_msg("%s holds \"%s\", expected \"%s\"", path, s, want);
}

static void assert_file_in(Fixture *fx, const char *group, const char *file, const char *want)
{
        _cleanup_free_ char *p = pathf("%s/%s/%s", cgroup_cpu_base(fx->c), group, file);

        assert_file_eq(p, want);
}

static void put_file(const char *path, const char *content)
{
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        fputs(content, f);
        assert_int_equal(fclose(f), 0);
}

static bool exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

static bool list_has(const pid_t *ids, size_t n, pid_t id)
{
        for (size_t i = 0; i < n; i++)
                if (ids[i] == id)
                        return true;
        return false;
}

static bool group_lists(Fixture *fx, const char *group, bool threads, pid_t id)
{
        _cleanup_free_ pid_t *ids = NULL;
        size_t n = 0;

        assert_int_equal(cgroup_cpu_get_pids(fx->c, group, threads, &ids, &n), 0);
        return list_has(ids, n, id);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(p) < 0 ? -1 : 0;
}

static void rm_rf(const char *p)
{
        nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A child that waits to be killed: a live pid to move around. */
static pid_t spawn_sleeper(Fixture *fx)
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                for (;;)
                        pause();
        }
        assert_true(fx->n_children < ELEMENTSOF(fx->children));
        fx->children[fx->n_children++] = pid;
        return pid;
}

static void kill_children(Fixture *fx)
{
        for (size_t i = 0; i < fx->n_children; i++) {
                kill(fx->children[i], SIGKILL);
                waitpid(fx->children[i], NULL, 0);
        }
        fx->n_children = 0;
}

/* A pid that is not running: a child that has been reaped. */
static pid_t dead_pid(void)
{
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0)
                _exit(0);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
        return pid;
}

static void make_root(Fixture *fx)
{
        strcpy(fx->root, "/tmp/test-cgroups-XXXXXX");
        assert_non_null(mkdtemp(fx->root));
}

/* <root>/<sub> laid out as a hierarchy of the version */
static void layout(Fixture *fx, const char *sub, CgroupVersion v)
{
        _cleanup_free_ char *d = sub ? pathf("%s/%s", fx->root, sub) : strdup(fx->root);

        assert_non_null(d);
        if (sub)
                assert_int_equal(mkdir(d, 0755), 0);
        assert_int_equal(cgroup_emulated_init_hierarchy(d, v), 0);
}

static int setup_v1(void **state)
{
        Fixture *fx = calloc(1, sizeof(*fx));

        make_root(fx);
        layout(fx, "cpu", CGROUP_VERSION_V1);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &fx->c),
                         0);
        assert_int_equal(cgroup_cpu_version(fx->c), CGROUP_VERSION_V1);
        *state = fx;
        return 0;
}

static int setup_v2(void **state)
{
        Fixture *fx = calloc(1, sizeof(*fx));

        make_root(fx);
        layout(fx, "unified", CGROUP_VERSION_V2);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &fx->c),
                         0);
        assert_int_equal(cgroup_cpu_version(fx->c), CGROUP_VERSION_V2);
        *state = fx;
        return 0;
}

static int setup_bare(void **state)
{
        Fixture *fx = calloc(1, sizeof(*fx));

        make_root(fx);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        Fixture *fx = *state;

        kill_children(fx);
        fx->c = cgroup_cpu_free(fx->c);
        rm_rf(fx->root);
        free(fx);
        return 0;
}

/* --- pure parts -------------------------------------------------------------------------------- */

static void test_string_tables(void **state)
{
        for (int i = 0; i < _CGROUP_VERSION_MAX; i++)
                assert_int_equal(cgroup_version_from_string(cgroup_version_to_string(i)), i);
        for (int i = 0; i < _CGROUP_MODE_MAX; i++)
                assert_int_equal(cgroup_mode_from_string(cgroup_mode_to_string(i)), i);
        for (int i = 0; i < _CGROUP_BACKEND_MAX; i++)
                assert_int_equal(cgroup_backend_from_string(cgroup_backend_to_string(i)), i);
        for (int i = 0; i < _CPU_CGROUP_FAMILY_MAX; i++)
                assert_int_equal(cpu_cgroup_family_from_string(cpu_cgroup_family_to_string(i)), i);
        for (int i = 0; i < _CPU_RESTRICTION_STATE_MAX; i++)
                assert_int_equal(cpu_restriction_state_from_string(cpu_restriction_state_to_string(i)), i);

        assert_string_equal(cgroup_version_to_string(CGROUP_VERSION_V2), "v2");
        assert_string_equal(cgroup_mode_to_string(CGROUP_MODE_AUTO), "auto");
        assert_string_equal(cgroup_backend_to_string(CGROUP_BACKEND_EMULATED), "emulated");
        assert_string_equal(cpu_cgroup_family_to_string(CPU_CGROUP_FAMILY_PLUGIN), "plugin");
        assert_string_equal(
                cpu_restriction_state_to_string(CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED),
                "background-quota");

        assert_null(cgroup_version_to_string(_CGROUP_VERSION_MAX));
        assert_null(cgroup_mode_to_string(-1));
        assert_null(cgroup_backend_to_string(_CGROUP_BACKEND_INVALID));
        assert_null(cpu_cgroup_family_to_string(_CPU_CGROUP_FAMILY_MAX));
        assert_null(cpu_restriction_state_to_string(_CPU_RESTRICTION_STATE_INVALID));
        assert_int_equal(cgroup_version_from_string("v3"), -EINVAL);
        assert_int_equal(cgroup_mode_from_string(NULL), -EINVAL);
        assert_int_equal(cgroup_backend_from_string(""), -EINVAL);
        assert_int_equal(cpu_cgroup_family_from_string("Termina"), -EINVAL);
        assert_int_equal(cpu_cgroup_family_from_string(NULL), -EINVAL);
        assert_int_equal(cpu_restriction_state_from_string("background_quota"), -EINVAL);
}

static void test_family_mappings(void **state)
{
        /* concierge CpuCgroup: TERMINA=0, PLUGINVM=1, ARCVM=2 */
        assert_int_equal(cpu_cgroup_family_from_cpu_cgroup(0), CPU_CGROUP_FAMILY_TERMINA);
        assert_int_equal(cpu_cgroup_family_from_cpu_cgroup(1), CPU_CGROUP_FAMILY_PLUGIN);
        assert_int_equal(cpu_cgroup_family_from_cpu_cgroup(2), CPU_CGROUP_FAMILY_ARCVM);
        assert_int_equal(cpu_cgroup_family_from_cpu_cgroup(3), -EINVAL);
        assert_int_equal(cpu_cgroup_family_from_cpu_cgroup(-1), -EINVAL);

        /* VmInfo.VmType: UNKNOWN=0, TERMINA=1, ARC_VM=2, PLUGIN_VM=3, BOREALIS=4, ... */
        assert_int_equal(cpu_cgroup_family_from_vm_type(0), CPU_CGROUP_FAMILY_TERMINA);
        assert_int_equal(cpu_cgroup_family_from_vm_type(1), CPU_CGROUP_FAMILY_TERMINA);
        assert_int_equal(cpu_cgroup_family_from_vm_type(2), CPU_CGROUP_FAMILY_ARCVM);
        assert_int_equal(cpu_cgroup_family_from_vm_type(3), CPU_CGROUP_FAMILY_PLUGIN);
        assert_int_equal(cpu_cgroup_family_from_vm_type(4), CPU_CGROUP_FAMILY_TERMINA);
        assert_int_equal(cpu_cgroup_family_from_vm_type(12345), CPU_CGROUP_FAMILY_TERMINA);
        assert_int_equal(cpu_cgroup_family_from_vm_type(-7), CPU_CGROUP_FAMILY_TERMINA);

        assert_int_equal(cpu_restriction_state_from_int(0), CPU_RESTRICTION_FOREGROUND);
        assert_int_equal(cpu_restriction_state_from_int(1), CPU_RESTRICTION_BACKGROUND);
        assert_int_equal(cpu_restriction_state_from_int(2),
                         CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED);
        assert_int_equal(cpu_restriction_state_from_int(3), -EINVAL);
        assert_int_equal(cpu_restriction_state_from_int(-1), -EINVAL);

        assert_string_equal(cpu_cgroup_family_process_group(CPU_CGROUP_FAMILY_TERMINA), "termina");
        assert_string_equal(cpu_cgroup_family_vcpu_group(CPU_CGROUP_FAMILY_TERMINA), "termina-vcpus");
        assert_string_equal(cpu_cgroup_family_vcpu_group(CPU_CGROUP_FAMILY_ARCVM), "arcvm-vcpus");
        assert_string_equal(cpu_cgroup_family_vcpu_group(CPU_CGROUP_FAMILY_PLUGIN), "plugin-vcpus");
        assert_null(cpu_cgroup_family_vcpu_group(_CPU_CGROUP_FAMILY_INVALID));
        assert_null(cpu_cgroup_family_process_group(_CPU_CGROUP_FAMILY_MAX));
}

static void test_shares_to_weight(void **state)
{
        static const struct {
                uint64_t shares, weight;
        } table[] = {
                {0, 1},         {1, 1},          {2, 1},          {3, 1},
                {64, 3},        {512, 20},       {1024, 39},      {2048, 79},
                {262143, 9999}, {262144, 10000}, {262145, 10000}, {UINT64_MAX, 10000},
        };
        uint64_t prev = 0;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                uint64_t w = cgroup_cpu_shares_to_weight(table[i].shares);
                if (w != table[i].weight)
                        fail_msg("shares %" PRIu64 " -> weight %" PRIu64 ", expected %" PRIu64,
                                 table[i].shares, w, table[i].weight);
        }
        /* monotonic and inside the kernel's range over the whole shares range */
        for (uint64_t s = CGROUP_CPU_SHARES_MIN; s <= CGROUP_CPU_SHARES_MAX; s++) {
                uint64_t w = cgroup_cpu_shares_to_weight(s);
                assert_true(w >= CGROUP_CPU_WEIGHT_MIN && w <= CGROUP_CPU_WEIGHT_MAX);
                assert_true(w >= prev);
                prev = w;
        }
}

static void test_format_parse_max(void **state)
{
        char buf[32];
        int64_t q;
        uint64_t p;

        assert_int_equal(cgroup_cpu_format_max(CGROUP_CPU_QUOTA_UNLIMITED, 100000, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "max 100000");
        assert_int_equal(cgroup_cpu_format_max(10000, 100000, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "10000 100000");
        assert_int_equal(cgroup_cpu_format_max(10000, 100000, buf, 12), -ENOBUFS);
        assert_int_equal(cgroup_cpu_format_max(-5, 100000, buf, sizeof(buf)), -ERANGE);

        assert_int_equal(cgroup_cpu_parse_max("max 100000\n", &q, &p), 0);
        assert_int_equal(q, CGROUP_CPU_QUOTA_UNLIMITED);
        assert_int_equal(p, 100000);
        assert_int_equal(cgroup_cpu_parse_max("25000 50000", &q, &p), 0);
        assert_int_equal(q, 25000);
        assert_int_equal(p, 50000);

        static const char *const bad[] = {
                "",       "max",          "max ",     "abc 100",  "10 x",
                "-5 100", "max 100000 7", " 100 100", "100  100", "99999999999999999999999 1"};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                q = 77;
                if (cgroup_cpu_parse_max(bad[i], &q, &p) != -EBADMSG)
                        fail_msg("\"%s\" parsed", bad[i]);
                assert_int_equal(q, 77);
        }
}

static void test_restriction_settings(void **state)
{
        CpuRestrictionSettings v;

        for (int f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++) {
                assert_int_equal(cpu_restriction_settings(f, CPU_RESTRICTION_FOREGROUND, 0, &v), 0);
                assert_int_equal(v.shares, 1024);
                assert_int_equal(v.quota_us, -1);
                assert_int_equal(v.period_us, 100000);

                assert_int_equal(cpu_restriction_settings(f, CPU_RESTRICTION_BACKGROUND, 500, &v), 0);
                assert_int_equal(v.shares, 64);
                assert_int_equal(v.quota_us, -1);
                assert_int_equal(v.period_us, 100000);
        }

        static const struct {
                unsigned percent;
                int64_t quota;
        } q[] = {{1, 1000}, {10, 10000}, {50, 50000}, {100, 100000}};
        for (size_t i = 0; i < ELEMENTSOF(q); i++) {
                assert_int_equal(cpu_restriction_settings(CPU_CGROUP_FAMILY_ARCVM,
                                                          CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED,
                                                          q[i].percent, &v),
                                 0);
                assert_int_equal(v.shares, 64);
                assert_int_equal(v.quota_us, q[i].quota);
                assert_int_equal(v.period_us, 100000);
        }

        v.shares = 4242;
        assert_int_equal(cpu_restriction_settings(CPU_CGROUP_FAMILY_ARCVM,
                                                  CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED, 0, &v),
                         -ERANGE);
        assert_int_equal(cpu_restriction_settings(CPU_CGROUP_FAMILY_ARCVM,
                                                  CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED, 101,
                                                  &v),
                         -ERANGE);
        assert_int_equal(cpu_restriction_settings(CPU_CGROUP_FAMILY_TERMINA,
                                                  CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED, 10,
                                                  &v),
                         -EOPNOTSUPP);
        assert_int_equal(cpu_restriction_settings(CPU_CGROUP_FAMILY_PLUGIN,
                                                  CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED, 10,
                                                  &v),
                         -EOPNOTSUPP);
        assert_int_equal(cpu_restriction_settings(CPU_CGROUP_FAMILY_ARCVM, 3, 10, &v), -EINVAL);
        assert_int_equal(
                cpu_restriction_settings(_CPU_CGROUP_FAMILY_MAX, CPU_RESTRICTION_FOREGROUND, 10, &v),
                -EINVAL);
        assert_int_equal(
                cpu_restriction_settings(CPU_CGROUP_FAMILY_ARCVM, CPU_RESTRICTION_FOREGROUND, 10, NULL),
                -EINVAL);
        assert_int_equal(v.shares, 4242); /* untouched on failure */
}

static void test_group_names(void **state)
{
        static const char *const good[] = {"termina",       "termina-vcpus", "a/b/c",
                                           "x_1.2,3:4@5+6", "..a",           "a.."};
        static const char *const bad[] = {"",       "/termina", "termina/", "a//b", ".",  "..",
                                          "a/../b", "a/./b",    "a b",      "a\nb", "a*", "ü"};
        char longc[300], longp[1100];

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!cgroup_group_name_is_valid(good[i]))
                        fail_msg("\"%s\" refused", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (cgroup_group_name_is_valid(bad[i]))
                        fail_msg("\"%s\" accepted", bad[i]);
        assert_false(cgroup_group_name_is_valid(NULL));

        memset(longc, 'a', 255);
        longc[255] = 0;
        assert_true(cgroup_group_name_is_valid(longc));
        longc[255] = 'a';
        longc[256] = 0;
        assert_false(cgroup_group_name_is_valid(longc));
        /* "a/a/.../a/aa": 1024 bytes, the longest name; two more bytes are too long */
        for (size_t i = 0; i < 1023; i++)
                longp[i] = i % 2 ? '/' : 'a';
        longp[1023] = 'a';
        longp[1024] = 0;
        assert_true(cgroup_group_name_is_valid(longp));
        strcpy(longp + 1024, "/a");
        assert_false(cgroup_group_name_is_valid(longp));
}

/* --- detection --------------------------------------------------------------------------------- */

static void test_detect_v1(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        _cleanup_free_ char *want = pathf("%s/cpu", fx->root), *slash = pathf("%s///", fx->root);

        layout(fx, "cpu", CGROUP_VERSION_V1);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V1);
        assert_int_equal(cgroup_cpu_backend(c), CGROUP_BACKEND_EMULATED);
        assert_string_equal(cgroup_cpu_hierarchy(c), want);
        assert_string_equal(cgroup_cpu_base(c), want);
        c = cgroup_cpu_free(c);

        /* trailing slashes do not change the paths */
        assert_int_equal(cgroup_cpu_open(slash, CGROUP_MODE_V1, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_string_equal(cgroup_cpu_base(c), want);
        c = cgroup_cpu_free(c);

        /* no v2 here, and a plain directory is no cgroupfs for the kernel backend */
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_V2, CGROUP_BACKEND_EMULATED, NULL, &c),
                         -EOPNOTSUPP);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_KERNEL, NULL, &c),
                         -EOPNOTSUPP);
        assert_null(c);

        /* bad arguments */
        assert_int_equal(
                cgroup_cpu_open("relative/path", CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c),
                -EINVAL);
        assert_int_equal(cgroup_cpu_open(fx->root, 7, CGROUP_BACKEND_EMULATED, NULL, &c), -EINVAL);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, 9, NULL, &c), -EINVAL);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, "../up", &c),
                         -EINVAL);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, NULL),
                         -EINVAL);
        assert_null(c);
}

/* The combined cpu,cpuacct mount most distributions use; a directory without cpu.shares is not a
 * cpu hierarchy. */
static void test_detect_v1_combined(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        _cleanup_free_ char *plain = pathf("%s/cpu", fx->root), *want = pathf("%s/cpu,cpuacct", fx->root);

        assert_int_equal(mkdir(plain, 0755), 0); /* empty: not a hierarchy */
        layout(fx, "cpu,cpuacct", CGROUP_VERSION_V1);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V1);
        assert_string_equal(cgroup_cpu_hierarchy(c), want);
}

static void test_detect_v2(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        _cleanup_free_ char *uni = pathf("%s/unified", fx->root),
                            *base = pathf("%s/unified/vm_concierge", fx->root),
                            *nested = pathf("%s/unified/system.slice/vms", fx->root),
                            *sub = pathf("%s/unified/cgroup.subtree_control", fx->root),
                            *ctl = pathf("%s/unified/cgroup.controllers", fx->root);

        layout(fx, "unified", CGROUP_VERSION_V2);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V2);
        assert_string_equal(cgroup_cpu_hierarchy(c), uni);
        assert_string_equal(cgroup_cpu_base(c), base);
        c = cgroup_cpu_free(c);

        assert_int_equal(
                cgroup_cpu_open(fx->root, CGROUP_MODE_V2, CGROUP_BACKEND_EMULATED, "system.slice/vms", &c),
                0);
        assert_string_equal(cgroup_cpu_base(c), nested);
        c = cgroup_cpu_free(c);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_V1, CGROUP_BACKEND_EMULATED, NULL, &c),
                         -EOPNOTSUPP);

        /* cpu available but not enabled for children: unusable */
        put_file(sub, "memory pids\n");
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c),
                         -EOPNOTSUPP);
        /* "cpuset" is not "cpu" */
        put_file(ctl, "cpuset memory\n");
        put_file(sub, "cpuset\n");
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c),
                         -EOPNOTSUPP);
        put_file(ctl, "cpuset cpu io\n");
        put_file(sub, "cpu\n");
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V2);
}

/* A pure v2 system: the root itself is the cgroup2 mount. */
static void test_detect_v2_unified_root(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;

        layout(fx, NULL, CGROUP_VERSION_V2);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V2);
        assert_string_equal(cgroup_cpu_hierarchy(c), fx->root);
}

/* Both present: v1 is preferred, as concierge uses it; v2 can be forced. */
static void test_detect_prefers_v1(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;

        layout(fx, "cpu", CGROUP_VERSION_V1);
        layout(fx, "unified", CGROUP_VERSION_V2);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V1);
        c = cgroup_cpu_free(c);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_V2, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V2);
}

static void test_detect_nothing(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        _cleanup_free_ char *missing = pathf("%s/nope", fx->root);

        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c),
                         -EOPNOTSUPP);
        assert_int_equal(cgroup_cpu_open(missing, CGROUP_MODE_AUTO, CGROUP_BACKEND_EMULATED, NULL, &c),
                         -EOPNOTSUPP);
        assert_null(c);
        assert_int_equal(cgroup_emulated_init_hierarchy(missing, CGROUP_VERSION_V1), -ENOENT);
        assert_int_equal(cgroup_emulated_init_hierarchy(fx->root, 5), -EINVAL);
}

/* --- groups and paths -------------------------------------------------------------------------- */

static void test_v1_create_and_paths(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *p = NULL, *v = NULL, *want_p = pathf("%s/cpu/termina", fx->root),
                            *want_v = pathf("%s/cpu/termina-vcpus", fx->root), *deep = NULL;

        for (int f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++) {
                assert_int_equal(cgroup_family_create(fx->c, f), 0);
                assert_int_equal(cgroup_family_create(fx->c, f), 0); /* exists: fine */
                assert_file_in(fx, cpu_cgroup_family_process_group(f), "cpu.shares", "1024\n");
                assert_file_in(fx, cpu_cgroup_family_vcpu_group(f), "cpu.cfs_quota_us", "-1\n");
        }
        assert_int_equal(cgroup_family_paths(fx->c, CPU_CGROUP_FAMILY_TERMINA, &p, &v), 0);
        assert_string_equal(p, want_p);
        assert_string_equal(v, want_v);
        assert_int_equal(cgroup_family_paths(fx->c, CPU_CGROUP_FAMILY_TERMINA, NULL, NULL), 0);
        assert_int_equal(cgroup_family_paths(fx->c, 3, NULL, NULL), -EINVAL);

        /* mkdir -p */
        assert_int_equal(cgroup_cpu_create_group(fx->c, "a/b/c", 0), 0);
        assert_int_equal(cgroup_cpu_group_path(fx->c, "a/b/c", &deep), 0);
        assert_true(exists(deep));
        assert_file_in(fx, "a/b", "cpu.shares", "1024\n");

        assert_int_equal(cgroup_cpu_create_group(fx->c, "../escape", 0), -EINVAL);
        assert_int_equal(cgroup_cpu_create_group(fx->c, "/abs", 0), -EINVAL);
}

static void test_v2_create_and_paths(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *p = NULL, *v = NULL, *want_p = pathf("%s/unified/vm_concierge/arcvm", fx->root),
                            *want_v = pathf("%s/unified/vm_concierge/arcvm-vcpus", fx->root),
                            *parent = pathf("%s/unified/vm_concierge", fx->root);
        _cleanup_free_ char *ptype = pathf("%s/cgroup.type", parent),
                            *psub = pathf("%s/cgroup.subtree_control", parent);

        for (int f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++) {
                assert_int_equal(cgroup_family_create(fx->c, f), 0);
                assert_int_equal(cgroup_family_create(fx->c, f), 0);
                assert_file_in(fx, cpu_cgroup_family_process_group(f), "cgroup.type", "threaded\n");
                assert_file_in(fx, cpu_cgroup_family_vcpu_group(f), "cgroup.type", "threaded\n");
                assert_file_in(fx, cpu_cgroup_family_process_group(f), "cpu.weight", "100\n");
                assert_file_in(fx, cpu_cgroup_family_vcpu_group(f), "cpu.max", "max 100000\n");
        }
        /* the parent hands the cpu controller down and is the threaded domain */
        assert_file_eq(psub, "cpu\n");
        assert_file_eq(ptype, "domain threaded\n");

        assert_int_equal(cgroup_family_paths(fx->c, CPU_CGROUP_FAMILY_ARCVM, &p, &v), 0);
        assert_string_equal(p, want_p);
        assert_string_equal(v, want_v);

        assert_int_equal(cgroup_cpu_remove_parent(fx->c, 0), -EBUSY);
        for (int f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++)
                assert_int_equal(cgroup_family_remove(fx->c, f, 0), 0);
        assert_int_equal(cgroup_cpu_remove_parent(fx->c, 0), 0);
        assert_false(exists(parent));
}

/* A nested v2 parent: every level hands cpu down, so the leaf has cpu.weight. */
static void test_v2_nested_parent(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        _cleanup_free_ char *s1 = pathf("%s/unified/svc/cgroup.subtree_control", fx->root),
                            *s2 = pathf("%s/unified/svc/vms/cgroup.subtree_control", fx->root),
                            *s3 = pathf("%s/unified/svc/vms/grp/cgroup.subtree_control", fx->root),
                            *w = pathf("%s/unified/svc/vms/grp/leaf/cpu.weight", fx->root);

        layout(fx, "unified", CGROUP_VERSION_V2);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_V2, CGROUP_BACKEND_EMULATED, "svc/vms", &c),
                         0);
        assert_int_equal(cgroup_cpu_create_group(c, "grp/leaf", 0), 0);
        assert_file_eq(s1, "cpu\n");
        assert_file_eq(s2, "cpu\n");
        assert_file_eq(s3, "cpu\n");
        assert_file_eq(w, "100\n");
}

/* A parent on v1 (how the real-kernel test keeps out of the way); removing it leaves nothing. */
static void test_parent_and_cleanup(void **state)
{
        Fixture *fx = *state;
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        _cleanup_free_ char *p = NULL, *v = NULL, *want = pathf("%s/cpu/run-1/termina", fx->root),
                            *base = pathf("%s/cpu/run-1", fx->root);
        pid_t a = spawn_sleeper(fx);

        layout(fx, "cpu", CGROUP_VERSION_V1);
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_V1, CGROUP_BACKEND_EMULATED, "run-1", &c), 0);
        assert_string_equal(cgroup_cpu_base(c), base);
        assert_int_equal(cgroup_family_create(c, CPU_CGROUP_FAMILY_TERMINA), 0);
        assert_int_equal(cgroup_family_paths(c, CPU_CGROUP_FAMILY_TERMINA, &p, &v), 0);
        assert_string_equal(p, want);
        assert_true(exists(v));
        assert_int_equal(cgroup_cpu_attach_pid(c, "termina", a), 0);

        /* the parent still has groups */
        assert_int_equal(cgroup_cpu_remove_parent(c, 0), -EBUSY);
        /* stragglers go to the parent, and from there to the hierarchy root */
        assert_int_equal(cgroup_family_remove(c, CPU_CGROUP_FAMILY_TERMINA, CGROUP_REMOVE_MIGRATE), 0);
        assert_int_equal(cgroup_cpu_remove_parent(c, 0), -EBUSY);
        assert_int_equal(cgroup_cpu_remove_parent(c, CGROUP_REMOVE_MIGRATE), 0);
        assert_false(exists(base));
        {
                _cleanup_free_ char *t = pathf("%s/cpu/tasks", fx->root), *s = slurp(t),
                                    *line = pathf("%d\n", (int)a);
                assert_non_null(strstr(s, line));
        }
        c = cgroup_cpu_free(c);

        /* without a parent there is nothing to remove */
        assert_int_equal(cgroup_cpu_open(fx->root, CGROUP_MODE_V1, CGROUP_BACKEND_EMULATED, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_remove_parent(c, 0), 0);
        assert_true(exists(cgroup_cpu_hierarchy(c)));
}

/* --- values ------------------------------------------------------------------------------------ */

static void check_values(Fixture *fx, const char *group, uint64_t shares, int64_t quota)
{
        CgroupCpuValues v;

        assert_int_equal(cgroup_cpu_get_values(fx->c, group, &v), 0);
        assert_int_equal(v.version, cgroup_cpu_version(fx->c));
        assert_int_equal(v.period_us, 100000);
        assert_int_equal(v.quota_us, quota);
        if (cgroup_cpu_version(fx->c) == CGROUP_VERSION_V1) {
                _cleanup_free_ char *sh = pathf("%" PRIu64 "\n", shares), *q = pathf("%" PRIi64 "\n", quota);
                assert_int_equal(v.shares, shares);
                assert_int_equal(v.weight, 0);
                assert_file_in(fx, group, "cpu.shares", sh);
                assert_file_in(fx, group, "cpu.cfs_quota_us", q);
                assert_file_in(fx, group, "cpu.cfs_period_us", "100000\n");
        } else {
                _cleanup_free_ char *w = pathf("%" PRIu64 "\n", cgroup_cpu_shares_to_weight(shares));
                _cleanup_free_ char *m =
                        quota < 0 ? strdup("max 100000\n") : pathf("%" PRIi64 " 100000\n", quota);
                assert_int_equal(v.weight, cgroup_cpu_shares_to_weight(shares));
                assert_int_equal(v.shares, 0);
                assert_file_in(fx, group, "cpu.weight", w);
                assert_file_in(fx, group, "cpu.max", m);
        }
}

/* Every state of every family writes the expected values to both groups. */
static void test_apply_every_state(void **state)
{
        Fixture *fx = *state;

        for (int f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++) {
                const char *pg = cpu_cgroup_family_process_group(f), *vg = cpu_cgroup_family_vcpu_group(f);

                assert_int_equal(cgroup_family_create(fx->c, f), 0);

                assert_int_equal(cgroup_family_apply_restriction(fx->c, f, CPU_RESTRICTION_BACKGROUND, 0),
                                 0);
                check_values(fx, pg, 64, -1);
                check_values(fx, vg, 64, -1);

                assert_int_equal(cgroup_family_apply_restriction(fx->c, f, CPU_RESTRICTION_FOREGROUND, 0),
                                 0);
                check_values(fx, pg, 1024, -1);
                check_values(fx, vg, 1024, -1);

                if (f == CPU_CGROUP_FAMILY_ARCVM) {
                        assert_int_equal(
                                cgroup_family_apply_restriction(
                                        fx->c, f, CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED, 10),
                                0);
                        check_values(fx, pg, 64, 10000);
                        check_values(fx, vg, 64, 10000);
                        /* and back: the quota is lifted again */
                        assert_int_equal(
                                cgroup_family_apply_restriction(fx->c, f, CPU_RESTRICTION_BACKGROUND, 10),
                                0);
                        check_values(fx, pg, 64, -1);
                        check_values(fx, vg, 64, -1);
                } else {
                        /* refused before anything is written */
                        assert_int_equal(
                                cgroup_family_apply_restriction(
                                        fx->c, f, CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED, 10),
                                -EOPNOTSUPP);
                        check_values(fx, pg, 1024, -1);
                        check_values(fx, vg, 1024, -1);
                }
        }
        assert_int_equal(cgroup_family_apply_restriction(fx->c, CPU_CGROUP_FAMILY_ARCVM,
                                                         CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED,
                                                         0),
                         -ERANGE);
        check_values(fx, "arcvm", 64, -1);
        assert_int_equal(cgroup_family_apply_restriction(fx->c, 3, CPU_RESTRICTION_FOREGROUND, 0), -EINVAL);
        assert_int_equal(cgroup_family_apply_restriction(fx->c, CPU_CGROUP_FAMILY_ARCVM, 9, 0), -EINVAL);
}

static void test_set_values(void **state)
{
        Fixture *fx = *state;

        CgroupCpuValues v;

        /* a new group has the kernel's defaults */
        assert_int_equal(cgroup_cpu_create_group(fx->c, "g", CGROUP_CREATE_THREADED), 0);
        assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), 0);
        if (cgroup_cpu_version(fx->c) == CGROUP_VERSION_V1)
                assert_int_equal(v.shares, CGROUP_CPU_SHARES_DEFAULT);
        else
                assert_int_equal(v.weight, CGROUP_CPU_WEIGHT_DEFAULT);
        assert_int_equal(v.quota_us, CGROUP_CPU_QUOTA_UNLIMITED);
        assert_int_equal(v.period_us, CGROUP_CPU_PERIOD_DEFAULT_US);

        assert_int_equal(cgroup_cpu_set_shares(fx->c, "g", 2), 0);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "g", 1000, 100000), 0);
        check_values(fx, "g", 2, 1000);
        assert_int_equal(cgroup_cpu_set_shares(fx->c, "g", 262144), 0);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "g", 250000, 100000), 0); /* 2.5 CPUs */
        check_values(fx, "g", 262144, 250000);

        /* out of the kernel's ranges: refused, nothing written */
        assert_int_equal(cgroup_cpu_set_shares(fx->c, "g", 1), -ERANGE);
        assert_int_equal(cgroup_cpu_set_shares(fx->c, "g", 262145), -ERANGE);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "g", 999, 100000), -ERANGE);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "g", 0, 100000), -ERANGE);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "g", -2, 100000), -ERANGE);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "g", 5000, 999), -ERANGE);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "g", 5000, 1000001), -ERANGE);
        check_values(fx, "g", 262144, 250000);

        assert_int_equal(cgroup_cpu_set_shares(fx->c, "missing", 64), -ENOENT);
        assert_int_equal(cgroup_cpu_set_quota(fx->c, "missing", -1, 100000), -ENOENT);
        assert_int_equal(cgroup_cpu_set_shares(fx->c, "bad//name", 64), -EINVAL);
}

/* Control files whose content does not parse are reported, not guessed at. */
static void test_read_back_errors(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *dir = NULL;
        CgroupCpuValues v = {.shares = 4242};

        assert_int_equal(cgroup_cpu_create_group(fx->c, "g", CGROUP_CREATE_THREADED), 0);
        assert_int_equal(cgroup_cpu_group_path(fx->c, "g", &dir), 0);
        if (cgroup_cpu_version(fx->c) == CGROUP_VERSION_V1) {
                _cleanup_free_ char *q = pathf("%s/cpu.cfs_quota_us", dir),
                                    *pe = pathf("%s/cpu.cfs_period_us", dir),
                                    *sh = pathf("%s/cpu.shares", dir);

                put_file(q, "junk\n");
                assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), -EBADMSG);
                put_file(q, "-1\n");
                put_file(pe, "\n");
                assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), -EBADMSG);
                put_file(pe, "100000\n");
                put_file(sh, "-5\n");
                assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), -EBADMSG);
                put_file(sh, "64\n");
                assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), 0);
                assert_int_equal(v.shares, 64);
        } else {
                _cleanup_free_ char *m = pathf("%s/cpu.max", dir), *w = pathf("%s/cpu.weight", dir);

                put_file(m, "max\n");
                assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), -EBADMSG);
                put_file(m, "max 100000\n");
                put_file(w, "abc\n");
                assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), -EBADMSG);
                assert_int_equal(v.shares, 4242); /* untouched on failure */
                put_file(w, "3\n");
                assert_int_equal(cgroup_cpu_get_values(fx->c, "g", &v), 0);
                assert_int_equal(v.weight, 3);
        }
        /* a member file that does not parse */
        _cleanup_free_ char *procs = pathf("%s/cgroup.procs", dir);
        _cleanup_free_ pid_t *ids = NULL;
        size_t n;
        put_file(procs, "12\nnot-a-pid\n");
        assert_int_equal(cgroup_cpu_get_pids(fx->c, "g", false, &ids, &n), -EBADMSG);
        assert_null(ids);
        put_file(procs, "0\n");
        assert_int_equal(cgroup_cpu_get_pids(fx->c, "g", false, &ids, &n), -EBADMSG);
        /* bigger than any real member list may be: refused, not truncated */
        assert_int_equal(truncate(procs, 5 * 1024 * 1024), 0);
        assert_int_equal(cgroup_cpu_get_pids(fx->c, "g", false, &ids, &n), -EFBIG);
        put_file(procs, "12\n\n13\n");
        assert_int_equal(cgroup_cpu_get_pids(fx->c, "g", false, &ids, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(ids[0], 12);
        assert_int_equal(ids[1], 13);
}

/* Write errors propagate: a missing file, a directory, a FIFO without reader (a write error that
 * root cannot bypass, unlike a 0444 mode) and a path component that is a regular file. */
static void test_write_errors(void **state)
{
        Fixture *fx = *state;
        bool v1 = cgroup_cpu_version(fx->c) == CGROUP_VERSION_V1;
        const char *shares_file = v1 ? "cpu.shares" : "cpu.weight";
        const char *quota_file = v1 ? "cpu.cfs_quota_us" : "cpu.max";
        _cleanup_free_ char *arc = NULL, *vcpus = NULL, *notdir = NULL;

        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_ARCVM), 0);
        assert_int_equal(cgroup_family_paths(fx->c, CPU_CGROUP_FAMILY_ARCVM, &arc, &vcpus), 0);

        _cleanup_free_ char *sf = pathf("%s/%s", arc, shares_file), *qf = pathf("%s/%s", vcpus, quota_file);

        /* missing file: the other writes still happen */
        assert_int_equal(unlink(sf), 0);
        assert_int_equal(cgroup_family_apply_restriction(fx->c, CPU_CGROUP_FAMILY_ARCVM,
                                                         CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED,
                                                         25),
                         -ENOENT);
        assert_false(exists(sf)); /* no O_CREAT */
        check_values(fx, "arcvm-vcpus", 64, 25000);
        if (v1)
                assert_file_in(fx, "arcvm", "cpu.cfs_quota_us", "25000\n");
        else
                assert_file_in(fx, "arcvm", "cpu.max", "25000 100000\n");

        /* a directory */
        assert_int_equal(mkdir(sf, 0755), 0);
        assert_int_equal(cgroup_cpu_set_shares(fx->c, "arcvm", 64), -EISDIR);
        assert_int_equal(rmdir(sf), 0);

        /* a FIFO nobody reads: ENXIO, and no hang */
        assert_int_equal(mkfifo(sf, 0644), 0);
        assert_int_equal(cgroup_cpu_set_shares(fx->c, "arcvm", 64), -ENXIO);
        assert_int_equal(cgroup_family_apply_restriction(fx->c, CPU_CGROUP_FAMILY_ARCVM,
                                                         CPU_RESTRICTION_FOREGROUND, 0),
                         -ENXIO);
        check_values(fx, "arcvm-vcpus", 1024, -1); /* the rest was written */

        /* the second failure does not hide the first: both groups broken */
        assert_int_equal(unlink(qf), 0);
        assert_int_equal(cgroup_family_apply_restriction(fx->c, CPU_CGROUP_FAMILY_ARCVM,
                                                         CPU_RESTRICTION_BACKGROUND, 0),
                         -ENXIO);
        assert_int_equal(unlink(sf), 0);

        /* a path component that is a regular file */
        notdir = pathf("%s/plainfile", cgroup_cpu_base(fx->c));
        put_file(notdir, "x");
        assert_int_equal(cgroup_cpu_set_shares(fx->c, "plainfile/g", 64), -ENOTDIR);
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "plainfile/g", getpid()), -ENOTDIR);
        assert_int_equal(cgroup_cpu_create_group(fx->c, "plainfile/g", 0), -ENOTDIR);
        assert_int_equal(cgroup_cpu_create_group(fx->c, "plainfile", 0), -ENOTDIR);

        /* a missing group */
        assert_int_equal(cgroup_family_apply_restriction(fx->c, CPU_CGROUP_FAMILY_TERMINA,
                                                         CPU_RESTRICTION_FOREGROUND, 0),
                         -ENOENT);
        CgroupCpuValues v;
        assert_int_equal(cgroup_cpu_get_values(fx->c, "termina", &v), -ENOENT);
}

/* --- membership -------------------------------------------------------------------------------- */

static void test_attach_pid(void **state)
{
        Fixture *fx = *state;
        pid_t a = spawn_sleeper(fx), b = spawn_sleeper(fx);
        _cleanup_free_ pid_t *ids = NULL;
        size_t n = 99;

        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_TERMINA), 0);
        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_ARCVM), 0);

        assert_int_equal(cgroup_cpu_get_pids(fx->c, "termina", false, &ids, &n), 0);
        assert_null(ids);
        assert_int_equal(n, 0);

        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "termina", a), 0);
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "termina", b), 0);
        assert_true(group_lists(fx, "termina", false, a));
        assert_true(group_lists(fx, "termina", false, b));
        assert_true(group_lists(fx, "termina", true, a)); /* its (only) thread too */

        /* moving a process takes it out of the old group */
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "arcvm", a), 0);
        assert_false(group_lists(fx, "termina", false, a));
        assert_false(group_lists(fx, "termina", true, a));
        assert_true(group_lists(fx, "termina", false, b));
        assert_true(group_lists(fx, "arcvm", false, a));

        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "termina", dead_pid()), -ESRCH);
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "termina", -1), -EINVAL);
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "nope", a), -ENOENT);
        assert_true(group_lists(fx, "arcvm", false, a));
}

static void *idle_thread(void *p)
{
        pid_t *tid = p;

        __atomic_store_n(tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
        pause();
        return NULL;
}

/* vCPU-style placement: the process in one group, one of its threads in the sibling -vcpus group. */
static void test_attach_thread(void **state)
{
        Fixture *fx = *state;
        pid_t tid = 0, self = getpid();
        pthread_t th;
        _cleanup_free_ char *vdir = NULL, *plain = NULL;

        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_TERMINA), 0);
        assert_int_equal(pthread_create(&th, NULL, idle_thread, &tid), 0);
        while (__atomic_load_n(&tid, __ATOMIC_SEQ_CST) == 0)
                sched_yield();

        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "termina", self), 0);
        assert_true(group_lists(fx, "termina", true, tid)); /* every thread came along */
        assert_true(group_lists(fx, "termina", true, self));

        assert_int_equal(cgroup_cpu_attach_thread(fx->c, "termina-vcpus", tid), 0);
        assert_true(group_lists(fx, "termina-vcpus", true, tid));
        assert_false(group_lists(fx, "termina", true, tid));
        assert_true(group_lists(fx, "termina", true, self));
        /* the process shows in both groups' cgroup.procs, as the kernel shows it */
        assert_true(group_lists(fx, "termina-vcpus", false, self));
        assert_true(group_lists(fx, "termina", false, self));

        /* the handle-less form the VMM uses for --vcpu-cgroup: back to the process group */
        assert_int_equal(cgroup_family_paths(fx->c, CPU_CGROUP_FAMILY_TERMINA, &plain, &vdir), 0);
        assert_int_equal(cgroup_path_attach_thread(plain, tid), 0);
        {
                _cleanup_free_ char *f =
                        pathf("%s/%s", plain,
                              cgroup_cpu_version(fx->c) == CGROUP_VERSION_V1 ? "tasks" : "cgroup.threads");
                _cleanup_free_ char *s = slurp(f), *line = pathf("%d\n", (int)tid);
                assert_non_null(strstr(s, line));
        }
        assert_int_equal(cgroup_path_attach_thread("relative", tid), -EINVAL);
        assert_int_equal(cgroup_path_attach_thread(vdir, -3), -EINVAL);

        if (cgroup_cpu_version(fx->c) == CGROUP_VERSION_V2) {
                /* v2: single threads only into threaded groups */
                assert_int_equal(cgroup_cpu_create_group(fx->c, "domain-group", 0), 0);
                assert_int_equal(cgroup_cpu_attach_thread(fx->c, "domain-group", tid), -EOPNOTSUPP);
        }

        pthread_cancel(th);
        pthread_join(th, NULL);
}

/* The async-signal-safe attach, in a real fork()ed child before it would exec. */
static void test_attach_self_in_child(void **state)
{
        Fixture *fx = *state;
        CgroupAttachSelf a, missing;
        pid_t pid;
        int status;

        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_PLUGIN), 0);
        assert_int_equal(cgroup_cpu_prepare_attach(fx->c, "plugin", &a), 0);
        assert_int_equal(cgroup_cpu_prepare_attach(fx->c, "no-such-group", &missing), 0);
        assert_int_equal(cgroup_cpu_prepare_attach(fx->c, "bad/../name", &missing), -EINVAL);
        assert_true(missing.n_paths > 0); /* untouched by the failed call */

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int r = cgroup_attach_self(&a);
                if (r < 0)
                        _exit(100 + (-r & 0x7f));
                pause(); /* stand-in for exec: stay alive to be listed */
                _exit(0);
        }
        fx->children[fx->n_children++] = pid;

        /* wait until the child has written (bounded: it does one write) */
        for (int i = 0; i < 5000 && !group_lists(fx, "plugin", false, pid); i++) {
                assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* it must not have failed */
                usleep(1000);
        }
        assert_true(group_lists(fx, "plugin", false, pid));
        assert_true(group_lists(fx, "plugin", true, pid));

        /* a group that does not exist: the child sees ENOENT */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(cgroup_attach_self(&missing) == -ENOENT ? 0 : 1);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);

        CgroupAttachSelf empty = {};
        assert_int_equal(cgroup_attach_self(&empty), -EINVAL);
}

/* --- removal ----------------------------------------------------------------------------------- */

static void test_remove(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *g = NULL, *sub = NULL, *parent_threads = NULL;
        pid_t a = spawn_sleeper(fx);
        bool v1 = cgroup_cpu_version(fx->c) == CGROUP_VERSION_V1;

        /* empty: gone without leftovers; missing: fine */
        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_TERMINA), 0);
        assert_int_equal(cgroup_family_remove(fx->c, CPU_CGROUP_FAMILY_TERMINA, 0), 0);
        assert_int_equal(cgroup_cpu_group_path(fx->c, "termina", &g), 0);
        assert_false(exists(g));
        assert_int_equal(cgroup_family_remove(fx->c, CPU_CGROUP_FAMILY_TERMINA, 0), 0);

        /* a straggler: busy without MIGRATE (the group stays), moved to the parent with it */
        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_TERMINA), 0);
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "termina", a), 0);
        assert_int_equal(cgroup_cpu_remove_group(fx->c, "termina", 0), -EBUSY);
        assert_true(exists(g));
        assert_true(group_lists(fx, "termina", false, a));
        assert_int_equal(cgroup_family_remove(fx->c, CPU_CGROUP_FAMILY_TERMINA, CGROUP_REMOVE_MIGRATE), 0);
        assert_false(exists(g));
        parent_threads = pathf("%s/%s", cgroup_cpu_base(fx->c), v1 ? "tasks" : "cgroup.threads");
        {
                _cleanup_free_ char *s = slurp(parent_threads), *line = pathf("%d\n", (int)a);
                assert_non_null(s);
                assert_non_null(strstr(s, line));
        }

        /* a straggler that exits: not a member any more */
        assert_int_equal(cgroup_family_create(fx->c, CPU_CGROUP_FAMILY_TERMINA), 0);
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "termina", a), 0);
        kill_children(fx);
        assert_int_equal(cgroup_cpu_remove_group(fx->c, "termina", 0), 0);
        assert_false(exists(g));

        /* child groups are not removed: busy */
        assert_int_equal(cgroup_cpu_create_group(fx->c, "p/q", CGROUP_CREATE_THREADED), 0);
        assert_int_equal(cgroup_cpu_remove_group(fx->c, "p", CGROUP_REMOVE_MIGRATE), -EBUSY);
        assert_int_equal(cgroup_cpu_remove_group(fx->c, "p/q", 0), 0);
        assert_int_equal(cgroup_cpu_remove_group(fx->c, "p", 0), 0);
        assert_int_equal(cgroup_cpu_group_path(fx->c, "p", &sub), 0);
        assert_false(exists(sub));

        assert_int_equal(cgroup_cpu_remove_group(fx->c, "x/../y", 0), -EINVAL);
}

/* A straggler that cannot be moved: the move's error comes back and the group stays. */
static void test_remove_move_fails(void **state)
{
        Fixture *fx = *state;
        bool v1 = cgroup_cpu_version(fx->c) == CGROUP_VERSION_V1;
        pid_t a = spawn_sleeper(fx);
        _cleanup_free_ char *dst = NULL, *g = NULL;

        assert_int_equal(cgroup_cpu_create_group(fx->c, "p/q", CGROUP_CREATE_THREADED), 0);
        assert_int_equal(cgroup_cpu_attach_pid(fx->c, "p/q", a), 0);
        assert_int_equal(cgroup_cpu_group_path(fx->c, "p", &g), 0);
        dst = pathf("%s/%s", g, v1 ? "tasks" : "cgroup.threads");
        assert_int_equal(unlink(dst), 0);
        assert_int_equal(mkdir(dst, 0755), 0);
        assert_int_equal(cgroup_cpu_remove_group(fx->c, "p/q", CGROUP_REMOVE_MIGRATE), -EISDIR);
        assert_true(group_lists(fx, "p/q", false, a));
}

/* The same test on a v1 and on a v2 tree, under distinct names. */
#define ON_V1(f)                                                                                            \
        {                                                                                                   \
#f "_v1", f, setup_v1, teardown, NULL                                                       \
        }
#define ON_V2(f)                                                                                            \
        {                                                                                                   \
#f "_v2", f, setup_v2, teardown, NULL                                                       \
        }

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_string_tables),
                cmocka_unit_test(test_family_mappings),
                cmocka_unit_test(test_shares_to_weight),
                cmocka_unit_test(test_format_parse_max),
                cmocka_unit_test(test_restriction_settings),
                cmocka_unit_test(test_group_names),
                cmocka_unit_test_setup_teardown(test_detect_v1, setup_bare, teardown),
                cmocka_unit_test_setup_teardown(test_detect_v1_combined, setup_bare, teardown),
                cmocka_unit_test_setup_teardown(test_detect_v2, setup_bare, teardown),
                cmocka_unit_test_setup_teardown(test_detect_v2_unified_root, setup_bare, teardown),
                cmocka_unit_test_setup_teardown(test_detect_prefers_v1, setup_bare, teardown),
                cmocka_unit_test_setup_teardown(test_detect_nothing, setup_bare, teardown),
                ON_V1(test_v1_create_and_paths),
                ON_V2(test_v2_create_and_paths),
                cmocka_unit_test_setup_teardown(test_v2_nested_parent, setup_bare, teardown),
                cmocka_unit_test_setup_teardown(test_parent_and_cleanup, setup_bare, teardown),
                ON_V1(test_apply_every_state),
                ON_V2(test_apply_every_state),
                ON_V1(test_set_values),
                ON_V2(test_set_values),
                ON_V1(test_read_back_errors),
                ON_V2(test_read_back_errors),
                ON_V1(test_write_errors),
                ON_V2(test_write_errors),
                ON_V1(test_attach_pid),
                ON_V2(test_attach_pid),
                ON_V1(test_attach_thread),
                ON_V2(test_attach_thread),
                ON_V1(test_attach_self_in_child),
                ON_V2(test_attach_self_in_child),
                ON_V1(test_remove),
                ON_V2(test_remove),
                ON_V1(test_remove_move_fails),
                ON_V2(test_remove_move_fails),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
