/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the daemon's CPU cgroups (concierge/cpu-cgroups.c) on emulated v1 and v2 trees. */
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "concierge/cpu-cgroups.h"
#include "concierge/log.h"

typedef struct Fixture {
        char root[64];
        CgroupVersion version;
        CpuCgroups *cc;
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

static bool exists(const char *fmt, ...) _printf_(1, 2);
static bool exists(const char *fmt, ...)
{
        _cleanup_free_ char *p = NULL;
        va_list ap;

        va_start(ap, fmt);
        assert_true(vasprintf(&p, fmt, ap) >= 0);
        va_end(ap);
        return access(p, F_OK) >= 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        return remove(path) < 0 ? -1 : 0;
}

static int setup_v1(void **state)
{
        Fixture *fx = calloc(1, sizeof(*fx));

        strcpy(fx->root, "/tmp/test-cpu-cgroups-XXXXXX");
        assert_non_null(mkdtemp(fx->root));
        fx->version = CGROUP_VERSION_V1;
        *state = fx;
        return 0;
}

static int setup_v2(void **state)
{
        setup_v1(state);
        ((Fixture *)*state)->version = CGROUP_VERSION_V2;
        return 0;
}

static int teardown(void **state)
{
        Fixture *fx = *state;

        cpu_cgroups_free(fx->cc);
        nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(fx);
        return 0;
}

static CpuCgroupsConfig config_of(Fixture *fx, const char *parent, unsigned percent)
{
        return (CpuCgroupsConfig){
                .root = fx->root,
                .mode = fx->version == CGROUP_VERSION_V2 ? CGROUP_MODE_V2 : CGROUP_MODE_AUTO,
                .backend = CGROUP_BACKEND_EMULATED,
                .parent = parent,
                .arcvm_quota_percent = percent,
        };
}

/* The hierarchy dir of the emulated layout cpu_cgroups_new() makes. */
static char *hierarchy(Fixture *fx)
{
        return fx->version == CGROUP_VERSION_V1 ? pathf("%s/cpu", fx->root) : strdup(fx->root);
}

static void open_cc(Fixture *fx, const char *parent, unsigned percent)
{
        CpuCgroupsConfig cfg = config_of(fx, parent, percent);

        assert_int_equal(cpu_cgroups_new(&cfg, &fx->cc), 0);
        assert_null(cpu_cgroups_unavailable_reason(fx->cc));
        assert_non_null(cpu_cgroups_handle(fx->cc));
        assert_int_equal(cgroup_cpu_version(cpu_cgroups_handle(fx->cc)), fx->version);
}

static void assert_values(Fixture *fx, const char *group, uint64_t shares, int64_t quota, uint64_t period)
{
        CgroupCpuValues v;

        assert_int_equal(cgroup_cpu_get_values(cpu_cgroups_handle(fx->cc), group, &v), 0);
        if (fx->version == CGROUP_VERSION_V1)
                assert_int_equal(v.shares, shares);
        else
                assert_int_equal(v.weight, cgroup_cpu_shares_to_weight(shares));
        assert_int_equal(v.quota_us, quota);
        assert_int_equal(v.period_us, period);
}

/* --- config and the pure mapping ------------------------------------------------------------- */

static void test_config_validate(void **state)
{
        CpuCgroupsConfig c = {.mode = CGROUP_MODE_AUTO, .backend = CGROUP_BACKEND_KERNEL};

        assert_int_equal(cpu_cgroups_config_validate(&c), 0);
        c.arcvm_quota_percent = 1;
        assert_int_equal(cpu_cgroups_config_validate(&c), 0);
        c.arcvm_quota_percent = 100;
        assert_int_equal(cpu_cgroups_config_validate(&c), 0);
        c.arcvm_quota_percent = 101;
        assert_int_equal(cpu_cgroups_config_validate(&c), -EINVAL);
        c.arcvm_quota_percent = 10;
        c.root = "relative";
        assert_int_equal(cpu_cgroups_config_validate(&c), -EINVAL);
        c.root = "/sys/fs/cgroup";
        c.parent = "../escape";
        assert_int_equal(cpu_cgroups_config_validate(&c), -EINVAL);
        c.parent = "/abs";
        assert_int_equal(cpu_cgroups_config_validate(&c), -EINVAL);
        c.parent = "test.parent-1";
        assert_int_equal(cpu_cgroups_config_validate(&c), 0);
        c.mode = 7;
        assert_int_equal(cpu_cgroups_config_validate(&c), -EINVAL);
        c.mode = CGROUP_MODE_V1;
        c.backend = -1;
        assert_int_equal(cpu_cgroups_config_validate(&c), -EINVAL);
        assert_int_equal(cpu_cgroups_config_validate(NULL), -EINVAL);

        CpuCgroups *cc = (CpuCgroups *)0x1;
        assert_int_equal(cpu_cgroups_new(&c, &cc), -EINVAL);
        assert_ptr_equal(cc, (CpuCgroups *)0x1);
}

static void test_resolve(void **state)
{
        /* cpu_cgroup (the protobuf numbers: TERMINA 0, PLUGINVM 1, ARCVM 2) x state x percent */
        static const struct {
                int cpu_cgroup, state;
                unsigned percent;
                CpuCgroupFamily family;
                uint64_t shares;
                int64_t quota;
        } cases[] = {
                {0, 0, 10, CPU_CGROUP_FAMILY_TERMINA, 1024, -1},
                {0, 1, 10, CPU_CGROUP_FAMILY_TERMINA, 64, -1},
                {0, 2, 10, CPU_CGROUP_FAMILY_TERMINA, 64, -1}, /* no quota on termina */
                {1, 0, 10, CPU_CGROUP_FAMILY_PLUGIN, 1024, -1},
                {1, 1, 10, CPU_CGROUP_FAMILY_PLUGIN, 64, -1},
                {1, 2, 10, CPU_CGROUP_FAMILY_PLUGIN, 64, -1},
                {2, 0, 10, CPU_CGROUP_FAMILY_ARCVM, 1024, -1},
                {2, 1, 10, CPU_CGROUP_FAMILY_ARCVM, 64, -1},
                {2, 2, 10, CPU_CGROUP_FAMILY_ARCVM, 64, 10000},
                {2, 2, 1, CPU_CGROUP_FAMILY_ARCVM, 64, 1000},
                {2, 2, 100, CPU_CGROUP_FAMILY_ARCVM, 64, 100000},
                {2, 2, 0, CPU_CGROUP_FAMILY_ARCVM, 64, -1}, /* flag unset: feature off */
                {2, 0, 0, CPU_CGROUP_FAMILY_ARCVM, 1024, -1},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CpuRestrictionSettings v = {};
                CpuCgroupFamily f = _CPU_CGROUP_FAMILY_INVALID;
                const char *err = NULL;

                assert_int_equal(cpu_cgroups_resolve_restriction(cases[i].cpu_cgroup, cases[i].state,
                                                                 cases[i].percent, &f, &v, &err),
                                 0);
                assert_int_equal(f, cases[i].family);
                assert_int_equal(v.shares, cases[i].shares);
                assert_int_equal(v.quota_us, cases[i].quota);
                assert_int_equal(v.period_us, 100000);
                assert_null(err);
        }

        static const int bad[][2] = {{3, 0}, {-1, 0}, {1000, 1}, {0, 3}, {2, -1}, {2, 99}};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                CpuRestrictionSettings v = {.shares = 7};
                const char *err = NULL;

                assert_int_equal(cpu_cgroups_resolve_restriction(bad[i][0], bad[i][1], 10, NULL, &v, &err),
                                 -EINVAL);
                assert_non_null(err);
                assert_int_equal(v.shares, 7);
        }
        /* A percent out of range never reaches here from the command line; still refused. */
        CpuRestrictionSettings v;
        const char *err = NULL;
        assert_int_equal(cpu_cgroups_resolve_restriction(2, 2, 101, NULL, &v, &err), -ERANGE);
        assert_non_null(err);
}

/* --- on emulated trees ------------------------------------------------------------------------ */

static void test_groups_created_and_removed(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *h = NULL, *base = NULL;

        open_cc(fx, "test-parent", 10);
        h = hierarchy(fx);
        base = pathf("%s/test-parent", h);
        assert_string_equal(cgroup_cpu_base(cpu_cgroups_handle(fx->cc)), base);
        for (CpuCgroupFamily f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++) {
                assert_true(exists("%s/test-parent/%s/cpu.shares", h, cpu_cgroup_family_process_group(f)) ||
                            exists("%s/test-parent/%s/cpu.weight", h, cpu_cgroup_family_process_group(f)));
                assert_true(exists("%s/test-parent/%s", h, cpu_cgroup_family_vcpu_group(f)));
        }
        fx->cc = cpu_cgroups_free(fx->cc);
        assert_false(exists("%s/test-parent", h));
        assert_true(exists("%s", h));
}

static void test_preexisting_groups_kept(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *h = NULL;

        /* A first daemon run creates everything; a pre-existing "termina" must survive a second. */
        open_cc(fx, NULL, 0);
        h = hierarchy(fx);
        assert_int_equal(cgroup_cpu_set_shares(cpu_cgroups_handle(fx->cc), "termina", 500), 0);
        fx->cc = cpu_cgroups_free(fx->cc);
        /* v1 without a parent: everything gone again; v2's default parent too */
        assert_false(exists("%s/termina", h));
        assert_false(exists("%s/vm_concierge", h));

        open_cc(fx, "keep", 0);
        assert_int_equal(
                cgroup_cpu_create_group(cpu_cgroups_handle(fx->cc), "extra", CGROUP_CREATE_THREADED), 0);
        fx->cc = cpu_cgroups_free(fx->cc);
        /* the parent is not empty (a group we did not make): it stays, our groups go */
        assert_true(exists("%s/keep/extra", h));
        assert_false(exists("%s/keep/termina", h));

        /* now termina exists before the daemon starts */
        {
                CgroupCpu *c = NULL;
                CpuCgroupsConfig cfg = config_of(fx, "keep", 0);

                assert_int_equal(cgroup_cpu_open(fx->root, cfg.mode, CGROUP_BACKEND_EMULATED, "keep", &c),
                                 0);
                assert_int_equal(cgroup_cpu_create_group(c, "termina", CGROUP_CREATE_THREADED), 0);
                cgroup_cpu_free(c);
        }
        open_cc(fx, "keep", 0);
        fx->cc = cpu_cgroups_free(fx->cc);
        assert_true(exists("%s/keep/termina", h));
        assert_false(exists("%s/keep/termina-vcpus", h));
        assert_false(exists("%s/keep/arcvm", h));
}

static void test_place_vm(void **state)
{
        Fixture *fx = *state;
        static const struct {
                int vm_type;
                const char *family;
        } cases[] = {{1, "termina"}, {2, "arcvm"},    {3, "plugin"},
                     {0, "termina"}, {99, "termina"}, {-3, "termina"}};
        _cleanup_free_ char *h = NULL;

        open_cc(fx, "p", 10);
        h = hierarchy(fx);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Vm vm = {.name = (char *)"vm", .vm_type = cases[i].vm_type};
                BackendStartConfig cfg = {};
                CpuCgroupsPlacement pl = {};
                _cleanup_free_ char *want = pathf("%s/p/%s", h, cases[i].family);
                _cleanup_free_ char *want_v = pathf("%s/p/%s-vcpus", h, cases[i].family);
                _cleanup_free_ char *want_file =
                        pathf("%s/%s", want, fx->version == CGROUP_VERSION_V1 ? "tasks" : "cgroup.threads");

                assert_int_equal(cpu_cgroups_place_vm(fx->cc, &vm, &cfg, &pl), 0);
                assert_string_equal(vm.cgroup_path, want);
                assert_string_equal(vm.vcpu_cgroup_path, want_v);
                assert_ptr_equal(cfg.vcpu_cgroup, vm.vcpu_cgroup_path);
                assert_ptr_equal(cfg.cgroup, &pl.attach);
                assert_true(pl.attach.n_paths >= 1);
                assert_string_equal(pl.attach.paths[0], want_file);

                /* The child's placement and the VMM's vCPU placement land in the groups. */
                pid_t pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        if (cgroup_attach_self(cfg.cgroup) < 0 ||
                            cgroup_path_attach_thread(cfg.vcpu_cgroup, 0) < 0)
                                _exit(1);
                        pause();
                        _exit(0);
                }
                for (int tries = 0;; tries++) {
                        _cleanup_free_ pid_t *pids = NULL, *tids = NULL;
                        size_t n = 0, nt = 0;
                        const char *vg = NULL;

                        for (CpuCgroupFamily f = 0; f < _CPU_CGROUP_FAMILY_MAX; f++)
                                if (streq(cpu_cgroup_family_to_string(f), cases[i].family))
                                        vg = cpu_cgroup_family_vcpu_group(f);
                        assert_int_equal(cgroup_cpu_get_pids(cpu_cgroups_handle(fx->cc), cases[i].family,
                                                             false, &pids, &n),
                                         0);
                        assert_int_equal(
                                cgroup_cpu_get_pids(cpu_cgroups_handle(fx->cc), vg, true, &tids, &nt), 0);
                        bool in_p = false, in_v = false;

                        /* the emulated files may still list earlier children (dead: not members) */
                        for (size_t k = 0; k < n; k++)
                                in_p = in_p || pids[k] == pid;
                        for (size_t k = 0; k < nt; k++)
                                in_v = in_v || tids[k] == pid;
                        if (in_p && in_v)
                                break;
                        assert_true(tries < 2000);
                        usleep(1000);
                }
                kill(pid, SIGKILL);
                assert_int_equal(waitpid(pid, NULL, 0), pid);
                free(vm.cgroup_path);
                free(vm.vcpu_cgroup_path);
        }
        /* The child is gone: the groups count as empty and go away. */
        fx->cc = cpu_cgroups_free(fx->cc);
        assert_false(exists("%s/p", h));
}

static void test_set_restriction(void **state)
{
        Fixture *fx = *state;
        static const char *const fam_groups[3][2] = {
                {"termina", "termina-vcpus"}, {"plugin", "plugin-vcpus"}, {"arcvm", "arcvm-vcpus"}};

        open_cc(fx, "r", 10);
        for (int cg = 0; cg < 3; cg++)
                for (int st = 0; st < 3; st++) {
                        _cleanup_free_ char *reason = NULL;
                        uint64_t shares = st == 0 ? 1024 : 64;
                        int64_t quota = (cg == 2 && st == 2) ? 10000 : -1;

                        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, cg, st, &reason), 0);
                        assert_null(reason);
                        for (int g = 0; g < 2; g++)
                                assert_values(fx, fam_groups[cg][g], shares, quota, 100000);
                        /* the other families are untouched (still at the kernel defaults or set by
                         * an earlier round: never what this round wrote unless equal) */
                }
        /* back to foreground lifts the quota on arcvm */
        _cleanup_free_ char *reason = NULL;
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 2, 2, &reason), 0);
        assert_values(fx, "arcvm", 64, 10000, 100000);
        assert_values(fx, "termina", 64, -1, 100000);
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 2, 0, &reason), 0);
        assert_values(fx, "arcvm", 1024, -1, 100000);
        assert_values(fx, "arcvm-vcpus", 1024, -1, 100000);

        /* unknown cgroup / state: false with a reason, nothing written */
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 5, 1, &reason), -EINVAL);
        assert_non_null(reason);
        assert_non_null(strstr(reason, "cpu_cgroup"));
        free(reason);
        reason = NULL;
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 2, 7, &reason), -EINVAL);
        assert_non_null(strstr(reason, "cpu_restriction_state"));
        assert_values(fx, "arcvm", 1024, -1, 100000);
        free(reason);
        reason = NULL;
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 0, 0, NULL), -EINVAL);
}

static void test_set_restriction_write_fails(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *h = NULL, *file = NULL, *reason = NULL;

        open_cc(fx, "w", 20);
        h = hierarchy(fx);
        /* The process group's shares file becomes a directory: that write fails (EISDIR), every
         * other write still happens. */
        file = pathf("%s/w/arcvm/%s", h, fx->version == CGROUP_VERSION_V1 ? "cpu.shares" : "cpu.weight");
        assert_int_equal(unlink(file), 0);
        assert_int_equal(mkdir(file, 0755), 0);
        assert_true(cpu_cgroups_set_restriction(fx->cc, 2, 2, &reason) < 0);
        assert_non_null(reason);
        assert_non_null(strstr(reason, "arcvm"));
        assert_values(fx, "arcvm-vcpus", 64, 20000, 100000);
        {
                CgroupCpuValues v;

                /* the quota of the broken group was still written */
                assert_true(cgroup_cpu_get_values(cpu_cgroups_handle(fx->cc), "arcvm", &v) < 0 ||
                            v.quota_us == 20000);
        }
        assert_int_equal(rmdir(file), 0);
        {
                FILE *f = fopen(file, "we");

                assert_non_null(f);
                fputs(fx->version == CGROUP_VERSION_V1 ? "1024\n" : "100\n", f);
                fclose(f);
        }
        free(reason);
        reason = NULL;

        /* A missing quota file on the vCPU group: ENOENT, reported. */
        free(file);
        file = pathf("%s/w/arcvm-vcpus/%s", h,
                     fx->version == CGROUP_VERSION_V1 ? "cpu.cfs_quota_us" : "cpu.max");
        assert_int_equal(unlink(file), 0);
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 2, 0, &reason), -ENOENT);
        assert_non_null(strstr(reason, "arcvm-vcpus"));
        assert_non_null(strstr(reason, "quota"));
}

static void test_populated_group_left_behind(void **state)
{
        Fixture *fx = *state;
        _cleanup_free_ char *h = NULL;
        pid_t pid;

        open_cc(fx, "busy", 0);
        h = hierarchy(fx);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                pause();
                _exit(0);
        }
        assert_int_equal(cgroup_cpu_attach_thread(cpu_cgroups_handle(fx->cc), "plugin-vcpus", pid), 0);
        fx->cc = cpu_cgroups_free(fx->cc);
        /* a live task: the group (and so the parent) stays, nothing is moved; the others go */
        assert_true(exists("%s/busy/plugin-vcpus", h));
        assert_false(exists("%s/busy/plugin", h));
        assert_false(exists("%s/busy/termina", h));
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_unavailable(void **state)
{
        Fixture *fx = *state;
        CpuCgroupsConfig cfg = {
                .root = fx->root, .mode = CGROUP_MODE_AUTO, .backend = CGROUP_BACKEND_KERNEL};
        Vm vm = {.name = (char *)"vm", .vm_type = 2};
        BackendStartConfig bc = {};
        CpuCgroupsPlacement pl = {};
        _cleanup_free_ char *reason = NULL;

        /* a plain temp dir is no cgroupfs for the kernel backend */
        assert_int_equal(cpu_cgroups_new(&cfg, &fx->cc), 0);
        assert_non_null(cpu_cgroups_unavailable_reason(fx->cc));
        assert_null(cpu_cgroups_handle(fx->cc));
        assert_int_equal(cpu_cgroups_place_vm(fx->cc, &vm, &bc, &pl), 0);
        assert_null(vm.cgroup_path);
        assert_null(bc.cgroup);
        assert_null(bc.vcpu_cgroup);
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 0, 0, &reason), -EOPNOTSUPP);
        assert_non_null(strstr(reason, "unavailable"));
        free(reason);
        reason = NULL;
        /* bad requests still say what is wrong with them */
        assert_int_equal(cpu_cgroups_set_restriction(fx->cc, 9, 0, &reason), -EINVAL);
        fx->cc = cpu_cgroups_free(fx->cc);

        /* NULL object: same */
        assert_int_equal(cpu_cgroups_place_vm(NULL, &vm, &bc, &pl), 0);
        assert_non_null(cpu_cgroups_unavailable_reason(NULL));
        free(reason);
        reason = NULL;
        assert_int_equal(cpu_cgroups_set_restriction(NULL, 0, 0, &reason), -EOPNOTSUPP);

        /* emulated on a non-empty dir that is not a hierarchy: unavailable, nothing written */
        _cleanup_free_ char *junk = pathf("%s/junk", fx->root);
        assert_int_equal(mkdir(junk, 0755), 0);
        cfg.backend = CGROUP_BACKEND_EMULATED;
        assert_int_equal(cpu_cgroups_new(&cfg, &fx->cc), 0);
        assert_non_null(cpu_cgroups_unavailable_reason(fx->cc));
        assert_false(exists("%s/cpu", fx->root));
        assert_false(exists("%s/termina", fx->root));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config_validate),
                cmocka_unit_test(test_resolve),
#define BOTH(t)                                                                                             \
        cmocka_unit_test_setup_teardown(t, setup_v1, teardown),                                             \
                cmocka_unit_test_setup_teardown(t, setup_v2, teardown)
                BOTH(test_groups_created_and_removed),
                BOTH(test_preexisting_groups_kept),
                BOTH(test_place_vm),
                BOTH(test_set_restriction),
                BOTH(test_set_restriction_write_fails),
                BOTH(test_populated_group_left_behind),
                cmocka_unit_test_setup_teardown(test_unavailable, setup_v1, teardown),
        };

        log_set_max_level(LOG_LEVEL_ERROR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
