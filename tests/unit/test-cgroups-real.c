/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cgroups/ against this machine's real cgroup v1 cpu hierarchy, in a uniquely named parent group
 * that is removed afterwards. Prints "SKIP: <reason>" and exits 77 when the hierarchy is missing or
 * not writable. */
#include <dirent.h>
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

static char parent[64];
static CgroupCpu *cg;
static pid_t sleeper = -1;

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

static void assert_group_file(const char *group, const char *file, const char *want)
{
        _cleanup_free_ char *p = pathf("%s/%s/%s", cgroup_cpu_base(cg), group, file), *s = slurp(p);

        if (!s)
                fail_msg("cannot read %s", p);
        if (!streq(s, want))
                fail_msg("%s holds \"%s\", expected \"%s\"", p, s, want);
}

/* The cpu-controller path of a task, from /proc/<pid>/task/<tid>/cgroup ("N:cpu:/path" or
 * "N:cpu,cpuacct:/path"). */
static char *cpu_cgroup_of(pid_t pid, pid_t tid)
{
        _cleanup_free_ char *p = pathf("/proc/%d/task/%d/cgroup", (int)pid, (int)tid), *s = slurp(p);
        char *save = NULL;

        assert_non_null(s);
        for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = 0;
                if (streq(c1 + 1, "cpu") || streq(c1 + 1, "cpu,cpuacct") || streq(c1 + 1, "cpuacct,cpu"))
                        return strdup(c2 + 1);
        }
        fail_msg("no cpu line in %s", p);
        return NULL;
}

static void assert_task_in(pid_t pid, pid_t tid, const char *want)
{
        _cleanup_free_ char *got = cpu_cgroup_of(pid, tid);

        if (!streq(got, want))
                fail_msg("task %d/%d is in cpu:%s, expected cpu:%s", (int)pid, (int)tid, got, want);
}

static bool group_lists(const char *group, bool threads, pid_t id)
{
        _cleanup_free_ pid_t *ids = NULL;
        size_t n = 0;

        assert_int_equal(cgroup_cpu_get_pids(cg, group, threads, &ids, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (ids[i] == id)
                        return true;
        return false;
}

static void check_values(const char *group, uint64_t shares, int64_t quota)
{
        CgroupCpuValues v;
        _cleanup_free_ char *sh = pathf("%" PRIu64 "\n", shares), *q = pathf("%" PRIi64 "\n", quota);

        assert_int_equal(cgroup_cpu_get_values(cg, group, &v), 0);
        assert_int_equal(v.shares, shares);
        assert_int_equal(v.quota_us, quota);
        assert_int_equal(v.period_us, 100000);
        assert_group_file(group, "cpu.shares", sh);
        assert_group_file(group, "cpu.cfs_quota_us", q);
        assert_group_file(group, "cpu.cfs_period_us", "100000\n");
}

/* --- cleanup that works whatever state a failed test left ----------------------------------------- */

static void move_self_to_root(void)
{
        _cleanup_free_ char *tasks = pathf("%s/tasks", cgroup_cpu_hierarchy(cg)),
                            *dir = pathf("/proc/self/task");
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        int fd = open(tasks, O_WRONLY | O_CLOEXEC);
                        if (fd >= 0) {
                                (void)!write(fd, de->d_name, strlen(de->d_name));
                                close(fd);
                        }
                }
        closedir(d);
}

static int rmdir_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        if (flag == FTW_DP)
                rmdir(p);
        return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        remove(p);
        return 0;
}

static void cleanup_all(void)
{
        if (sleeper > 0) {
                kill(sleeper, SIGKILL);
                waitpid(sleeper, NULL, 0);
                sleeper = -1;
        }
        if (!cg)
                return;
        move_self_to_root();
        nftw(cgroup_cpu_base(cg), rmdir_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int teardown(void **state)
{
        cleanup_all();
        return 0;
}

/* --- tests --------------------------------------------------------------------------------------- */

static void test_real_detect(void **state)
{
        _cleanup_(cgroup_cpu_freep) CgroupCpu *c = NULL;
        char tmp[] = "/tmp/test-cgroups-real-XXXXXX";

        assert_int_equal(cgroup_cpu_open(NULL, CGROUP_MODE_AUTO, CGROUP_BACKEND_KERNEL, NULL, &c), 0);
        assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V1); /* v1 preferred when present */
        assert_string_equal(cgroup_cpu_base(c), cgroup_cpu_hierarchy(c));
        c = cgroup_cpu_free(c);

        /* v2 is used only with a cpu controller; on this machine it is bound to v1 */
        int r = cgroup_cpu_open(NULL, CGROUP_MODE_V2, CGROUP_BACKEND_KERNEL, NULL, &c);
        if (r >= 0)
                assert_int_equal(cgroup_cpu_version(c), CGROUP_VERSION_V2);
        else
                assert_int_equal(r, -EOPNOTSUPP);
        c = cgroup_cpu_free(c);

        /* the kernel backend wants a real cgroupfs: a temp dir laid out like one is not */
        assert_non_null(mkdtemp(tmp));
        _cleanup_free_ char *cpu = pathf("%s/cpu", tmp);
        assert_int_equal(mkdir(cpu, 0755), 0);
        assert_int_equal(cgroup_emulated_init_hierarchy(cpu, CGROUP_VERSION_V1), 0);
        r = cgroup_cpu_open(tmp, CGROUP_MODE_AUTO, CGROUP_BACKEND_KERNEL, NULL, &c);
        nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        assert_int_equal(r, -EOPNOTSUPP);
}

static void *idle_thread(void *p)
{
        pid_t *tid = p;

        __atomic_store_n(tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
        pause();
        return NULL;
}

static void test_real_attach_values_remove(void **state)
{
        CgroupAttachSelf a;
        pid_t tid = 0, self = getpid();
        pthread_t th;
        int status;
        _cleanup_free_ char *in_parent = pathf("/%s", parent), *in_termina = pathf("/%s/termina", parent),
                            *in_vcpus = pathf("/%s/termina-vcpus", parent);

        assert_int_equal(cgroup_family_create(cg, CPU_CGROUP_FAMILY_TERMINA), 0);
        assert_int_equal(cgroup_family_create(cg, CPU_CGROUP_FAMILY_ARCVM), 0);
        assert_int_equal(cgroup_family_create(cg, CPU_CGROUP_FAMILY_ARCVM), 0); /* exists: fine */
        check_values("termina", 1024, -1);                                      /* kernel defaults */

        /* the VMM's way in: attach itself between fork and exec */
        assert_int_equal(cgroup_cpu_prepare_attach(cg, "termina", &a), 0);
        sleeper = fork();
        assert_true(sleeper >= 0);
        if (sleeper == 0) {
                int r = cgroup_attach_self(&a);
                if (r < 0)
                        _exit(100 + (-r & 0x7f));
                execlp("sleep", "sleep", "300", (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 5000 && !group_lists("termina", false, sleeper); i++) {
                assert_int_equal(waitpid(sleeper, &status, WNOHANG), 0);
                usleep(1000);
        }
        assert_true(group_lists("termina", false, sleeper));
        assert_true(group_lists("termina", true, sleeper));
        assert_task_in(sleeper, sleeper, in_termina);

        /* a vCPU-style thread of ours into the -vcpus group */
        assert_int_equal(pthread_create(&th, NULL, idle_thread, &tid), 0);
        while (__atomic_load_n(&tid, __ATOMIC_SEQ_CST) == 0)
                sched_yield();
        assert_int_equal(cgroup_cpu_attach_thread(cg, "termina-vcpus", tid), 0);
        assert_task_in(self, tid, in_vcpus);
        assert_task_in(self, self, "/"); /* only that thread moved */
        assert_true(group_lists("termina-vcpus", true, tid));
        assert_true(group_lists("termina-vcpus", false, self)); /* the kernel lists its process */
        assert_false(group_lists("termina-vcpus", true, self));

        /* the handle-less form the VMM uses, back to the hierarchy root */
        assert_int_equal(cgroup_path_attach_thread(cgroup_cpu_hierarchy(cg), tid), 0);
        assert_task_in(self, tid, "/");
        assert_int_equal(cgroup_cpu_attach_thread(cg, "termina-vcpus", tid), 0);

        /* every restriction state, read back from the kernel's files */
        assert_int_equal(cgroup_family_apply_restriction(cg, CPU_CGROUP_FAMILY_TERMINA,
                                                         CPU_RESTRICTION_BACKGROUND, 0),
                         0);
        check_values("termina", 64, -1);
        check_values("termina-vcpus", 64, -1);
        assert_int_equal(cgroup_family_apply_restriction(cg, CPU_CGROUP_FAMILY_TERMINA,
                                                         CPU_RESTRICTION_FOREGROUND, 0),
                         0);
        check_values("termina", 1024, -1);
        check_values("termina-vcpus", 1024, -1);
        assert_int_equal(cgroup_family_apply_restriction(cg, CPU_CGROUP_FAMILY_ARCVM,
                                                         CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED,
                                                         10),
                         0);
        check_values("arcvm", 64, 10000);
        check_values("arcvm-vcpus", 64, 10000);
        assert_int_equal(
                cgroup_family_apply_restriction(cg, CPU_CGROUP_FAMILY_ARCVM, CPU_RESTRICTION_FOREGROUND, 10),
                0);
        check_values("arcvm", 1024, -1);
        check_values("arcvm-vcpus", 1024, -1);

        /* the kernel's own refusal comes back: a child quota above its parent's is EINVAL on v1 */
        assert_int_equal(cgroup_cpu_create_group(cg, "outer/inner", 0), 0);
        assert_int_equal(cgroup_cpu_set_quota(cg, "outer", 10000, 100000), 0);
        assert_int_equal(cgroup_cpu_set_quota(cg, "outer/inner", 50000, 100000), -EINVAL);
        check_values("outer/inner", 1024, -1);
        assert_int_equal(cgroup_cpu_set_shares(cg, "missing", 64), -ENOENT);
        assert_int_equal(cgroup_cpu_attach_pid(cg, "termina", 0x7ffffff0), -ESRCH);
        assert_int_equal(cgroup_cpu_remove_group(cg, "outer", 0), -EBUSY); /* has a child group */
        assert_int_equal(cgroup_cpu_remove_group(cg, "outer/inner", 0), 0);
        assert_int_equal(cgroup_cpu_remove_group(cg, "outer", 0), 0);

        /* removal: busy with a live member; MIGRATE moves the stragglers to the parent */
        assert_int_equal(cgroup_family_remove(cg, CPU_CGROUP_FAMILY_TERMINA, 0), -EBUSY);
        assert_int_equal(cgroup_family_remove(cg, CPU_CGROUP_FAMILY_TERMINA, CGROUP_REMOVE_MIGRATE), 0);
        assert_task_in(sleeper, sleeper, in_parent);
        assert_task_in(self, tid, in_parent);
        assert_int_equal(cgroup_family_remove(cg, CPU_CGROUP_FAMILY_ARCVM, 0), 0);
        assert_int_equal(cgroup_cpu_remove_parent(cg, 0), -EBUSY);
        assert_int_equal(cgroup_cpu_remove_parent(cg, CGROUP_REMOVE_MIGRATE), 0);
        assert_task_in(sleeper, sleeper, "/");
        assert_task_in(self, tid, "/");
        {
                struct stat st;
                assert_int_equal(stat(cgroup_cpu_base(cg), &st), -1); /* nothing left behind */
                assert_int_equal(errno, ENOENT);
        }

        kill(sleeper, SIGKILL);
        assert_int_equal(waitpid(sleeper, NULL, 0), sleeper);
        sleeper = -1;
        pthread_cancel(th);
        pthread_join(th, NULL);
}

/* A member that exits: the kernel drops it, so removal needs no migration. */
static void test_real_remove_after_exit(void **state)
{
        assert_int_equal(cgroup_family_create(cg, CPU_CGROUP_FAMILY_PLUGIN), 0);
        sleeper = fork();
        assert_true(sleeper >= 0);
        if (sleeper == 0) {
                for (;;)
                        pause();
        }
        assert_int_equal(cgroup_cpu_attach_pid(cg, "plugin", sleeper), 0);
        assert_true(group_lists("plugin", false, sleeper));
        kill(sleeper, SIGKILL);
        assert_int_equal(waitpid(sleeper, NULL, 0), sleeper);
        sleeper = -1;
        assert_int_equal(cgroup_family_remove(cg, CPU_CGROUP_FAMILY_PLUGIN, 0), 0);
        assert_int_equal(cgroup_cpu_remove_parent(cg, 0), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_detect),
                cmocka_unit_test_teardown(test_real_attach_values_remove, teardown),
                cmocka_unit_test_teardown(test_real_remove_after_exit, teardown),
        };
        int r, failed;

        snprintf(parent, sizeof(parent), "vm_concierge-test-%d", (int)getpid());
        r = cgroup_cpu_open(NULL, CGROUP_MODE_V1, CGROUP_BACKEND_KERNEL, parent, &cg);
        if (r < 0) {
                printf("SKIP: no cgroup v1 cpu hierarchy under %s: %s\n", CGROUP_ROOT_DEFAULT, strerror(-r));
                return 77;
        }
        r = cgroup_cpu_create_group(cg, "probe", 0);
        if (r < 0) {
                printf("SKIP: %s is not writable: %s\n", cgroup_cpu_hierarchy(cg), strerror(-r));
                cleanup_all();
                cg = cgroup_cpu_free(cg);
                return 77;
        }
        if (cgroup_cpu_remove_group(cg, "probe", 0) < 0 || cgroup_cpu_remove_parent(cg, 0) < 0) {
                printf("could not remove the probe group under %s\n", cgroup_cpu_base(cg));
                cleanup_all();
                cg = cgroup_cpu_free(cg);
                return 1;
        }

        failed = cmocka_run_group_tests(tests, NULL, NULL);
        cleanup_all();
        cg = cgroup_cpu_free(cg);
        return failed;
}
