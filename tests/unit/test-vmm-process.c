/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/vmm-process.c against a test double of the VMM process
 * (tests/helpers/fake-vmm): runtime dir, fds and signal state of the child, its process group,
 * exit reporting through the pidfd in the event loop, and the stop ladder on real signals. */
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "concierge/vmm-process.h"
#include "vmm_backend/macro.h"

static char fake_vmm[PATH_MAX];

typedef struct Fixture {
        struct event_base *base;
        struct event *guard;
        char root[64]; /* the runtime dir */
        char kernel_path[96];
        int kernel_fd;
        char report[128];
        VmmProcess *p;
        bool exited;
        VmmExit exit;
        struct stat dir_st; /* the runtime dir, seen from the exit handler */
        int dir_stat_r;
        bool log_existed;
        unsigned control_stops;
        int control_answer; /* 1: write a datagram to the control socket and ack; < 0: fail */
        int control_fd;
        unsigned gave_up;
        bool free_in_handler;
} Fixture;

static void guard_cb(evutil_socket_t fd, short what, void *userdata)
{
        fail_msg("the event loop ran for 30 s without the expected exit");
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->base = event_base_new();
        assert_non_null(f->base);
        f->guard = evtimer_new(f->base, guard_cb, f);
        strcpy(f->root, "/tmp/test-vmm-process.XXXXXX");
        assert_non_null(mkdtemp(f->root));
        snprintf(f->kernel_path, sizeof(f->kernel_path), "%s/kernel.bin", f->root);
        FILE *k = fopen(f->kernel_path, "we");
        assert_non_null(k);
        fputs("KERNELDATA\n", k);
        fclose(k);
        /* Close-on-exec, as fds received over D-Bus are: the child must get it anyway. */
        f->kernel_fd = open(f->kernel_path, O_RDONLY | O_CLOEXEC);
        assert_true(f->kernel_fd >= 0);
        snprintf(f->report, sizeof(f->report), "%s/report", f->root);
        f->control_fd = -EBADF;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        f->p = vmm_process_free(f->p);
        safe_close(f->kernel_fd);
        safe_close(f->control_fd);
        event_free(f->guard);
        event_base_free(f->base);
        assert_int_equal(vmm_process_remove_tree(f->root), 0);
        free(f);
        return 0;
}

static void on_exit_cb(VmmProcess *p, const VmmExit *e, void *userdata)
{
        Fixture *f = userdata;
        assert_ptr_equal(p, f->p);
        assert_false(f->exited); /* exactly once */
        f->exited = true;
        f->exit = *e;
        f->dir_stat_r = stat(vmm_process_runtime_dir(p), &f->dir_st);
        _cleanup_free_ char *log = vmm_process_path(p, VMM_PROCESS_VMM_LOG);
        f->log_existed = log && access(log, F_OK) == 0;
        assert_true(vmm_process_has_exited(p));
        assert_int_equal(vmm_process_kill(p, SIGTERM), -ESRCH);
        if (f->free_in_handler)
                f->p = vmm_process_free(p);
        event_base_loopbreak(f->base);
}

static void spawn(Fixture *f, const char *mode, int initrd_fd)
{
        char *extra[] = {(char *)"--fake-mode", (char *)mode, (char *)"--fake-report", f->report, NULL};
        VmmSpawnConfig c = {
                .vmm_path = fake_vmm,
                .runtime_dir = f->root,
                .dir_prefix = "vm.",
                .mem_mib = 64,
                .cpus = 1,
                .kernel_fd = f->kernel_fd,
                .initrd_fd = initrd_fd,
                .cmdline = "testguest fill",
                .extra_args = extra,
        };
        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &f->p), 0);
        assert_true(vmm_process_pid(f->p) > 0);
}

static void run_until_exit(Fixture *f)
{
        struct timeval tv = {.tv_sec = 30};
        evtimer_add(f->guard, &tv);
        while (!f->exited)
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
        evtimer_del(f->guard);
}

static char *read_report(Fixture *f)
{
        static char buf[16384];
        FILE *r = fopen(f->report, "re");
        assert_non_null(r);
        size_t n = fread(buf, 1, sizeof(buf) - 1, r);
        buf[n] = 0;
        fclose(r);
        return buf;
}

static unsigned count_entries(const char *dir)
{
        unsigned n = 0;
        _cleanup_free_ char *cmd = NULL;
        assert_true(asprintf(&cmd, "ls -A %s | grep -c '^vm\\.' || true", dir) > 0);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%u", &n), 1);
        pclose(p);
        return n;
}

static void test_exit_reported_and_dir_removed(void **state)
{
        Fixture *f = *state;
        char dir[256];

        spawn(f, "exit:7", -1);
        snprintf(dir, sizeof(dir), "%s", vmm_process_runtime_dir(f->p));
        assert_non_null(startswith(dir, f->root));
        f->free_in_handler = true; /* and free from inside the handler */
        run_until_exit(f);
        assert_null(f->p);
        assert_int_equal(f->exit.code, CLD_EXITED);
        assert_int_equal(f->exit.status, 7);
        assert_int_equal(f->exit.rung, STOP_LADDER_IDLE);
        assert_int_equal(f->dir_stat_r, 0);
        assert_true(S_ISDIR(f->dir_st.st_mode));
        assert_int_equal(f->dir_st.st_mode & 07777, 0700);
        assert_true(f->log_existed);
        assert_int_equal(access(dir, F_OK), -1); /* removed with everything in it */
        assert_int_equal(errno, ENOENT);
}

static void test_child_environment(void **state)
{
        Fixture *f = *state;
        int leak_fd, leak_pipe[2], initrd_fd;
        sigset_t block, saved;
        char line[PATH_MAX + 256];

        /* Fds the child must not inherit, whatever their flags; a signal the daemon ignores and
         * one it blocks must not carry over either. */
        leak_fd = open("/dev/null", O_RDONLY);
        assert_true(leak_fd >= 0);
        assert_int_equal(pipe(leak_pipe), 0);
        initrd_fd = open(f->kernel_path, O_RDONLY | O_CLOEXEC);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        sigprocmask(SIG_BLOCK, &block, &saved);

        spawn(f, "exit:0", initrd_fd);
        pid_t pid = vmm_process_pid(f->p);
        char dir[256];
        snprintf(dir, sizeof(dir), "%s", vmm_process_runtime_dir(f->p));
        run_until_exit(f);
        sigprocmask(SIG_SETMASK, &saved, NULL);
        signal(SIGPIPE, SIG_DFL);
        assert_int_equal(f->exit.code, CLD_EXITED);
        assert_int_equal(f->exit.status, 0);

        char *rep = read_report(f);
        /* Own process group. */
        snprintf(line, sizeof(line), "pid %d\npgid %d\n", (int)pid, (int)pid);
        assert_non_null(strstr(rep, line));
        assert_true(getpgid(0) != pid);
        /* Exactly fds 0..5: stdin /dev/null, stdout+stderr the VMM log, control socket, kernel, initrd. */
        unsigned nfds = 0;
        for (char *l = rep; (l = strstr(l, "\nfd ")); l++)
                nfds++;
        assert_int_equal(nfds, 6);
        assert_non_null(strstr(rep, "\nfd 0 /dev/null\n"));
        snprintf(line, sizeof(line), "\nfd 1 %s/vmm.log\n", dir);
        assert_non_null(strstr(rep, line));
        snprintf(line, sizeof(line), "\nfd 2 %s/vmm.log\n", dir);
        assert_non_null(strstr(rep, line));
        assert_non_null(strstr(rep, "\nfd 3 socket:["));
        snprintf(line, sizeof(line), "\nfd 4 %s\n", f->kernel_path);
        assert_non_null(strstr(rep, line));
        snprintf(line, sizeof(line), "\nfd 5 %s\n", f->kernel_path);
        assert_non_null(strstr(rep, line));
        /* The kernel is readable through the path the VMM is given. */
        assert_non_null(strstr(rep, "\nkernel KERNELDATA\n"));
        assert_non_null(strstr(rep, "\narg --kernel\narg /dev/fd/4\n"));
        assert_non_null(strstr(rep, "\narg --initrd\narg /dev/fd/5\n"));
        assert_non_null(strstr(rep, "\narg --control-fd\narg 3\n"));
        assert_non_null(strstr(rep, "\narg --mem-mib\narg 64\n"));
        assert_non_null(strstr(rep, "\narg --cmdline\narg testguest fill\n"));
        snprintf(line, sizeof(line), "\narg --serial-log\narg %s/console.log\n", dir);
        assert_non_null(strstr(rep, line));
        snprintf(line, sizeof(line), "\narg --serial1-socket\narg %s/channel.sock\n", dir);
        assert_non_null(strstr(rep, line));
        /* Clean signal state. */
        assert_non_null(strstr(rep, "SigBlk:\t0000000000000000\n"));
        assert_non_null(strstr(rep, "SigIgn:\t0000000000000000\n"));

        close(leak_fd);
        close(leak_pipe[0]);
        close(leak_pipe[1]);
        close(initrd_fd);
}

static void control_stop_cb(VmmProcess *p, void *userdata)
{
        Fixture *f = userdata;
        f->control_stops++;
        if (f->control_answer < 0) {
                vmm_process_control_stop_result(p, f->control_answer);
                return;
        }
        /* Our stand-in for the control protocol: one datagram on the control connection. */
        assert_int_equal(send(f->control_fd, "stop", 4, MSG_NOSIGNAL), 4);
        vmm_process_control_stop_result(p, 0);
}

static void gave_up_cb(VmmProcess *p, void *userdata)
{
        Fixture *f = userdata;
        f->gave_up++;
}

static const StopLadderConfig short_ladder = {
        .control_timeout_usec = 150000,
        .term_timeout_usec = 150000,
        .kill_timeout_usec = 5000000,
};

static void wait_for_report(Fixture *f)
{
        /* The double writes its report before its main loop: then its signal setup is done. */
        for (unsigned i = 0; access(f->report, F_OK) < 0; i++) {
                assert_true(i < 3000);
                usleep(10000);
        }
}

static void test_ladder_control_stop_honoured(void **state)
{
        Fixture *f = *state;

        spawn(f, "stop-on-message", -1);
        f->control_fd = vmm_process_take_control_fd(f->p);
        assert_true(f->control_fd >= 0);
        assert_int_equal(vmm_process_take_control_fd(f->p), -EBADF);
        wait_for_report(f);
        StopLadderConfig c = short_ladder;
        c.control_timeout_usec = 30000000; /* it answers long before; the exit ends the wait */
        assert_int_equal(vmm_process_stop(f->p, &c, control_stop_cb, gave_up_cb, f), 0);
        assert_int_equal(vmm_process_stop(f->p, &c, control_stop_cb, gave_up_cb, f), -EALREADY);
        run_until_exit(f);
        assert_int_equal(f->control_stops, 1);
        assert_int_equal(f->exit.rung, STOP_LADDER_CONTROL);
        assert_int_equal(f->exit.code, CLD_EXITED);
        assert_int_equal(f->exit.status, 0);
        assert_int_equal(f->gave_up, 0);
        assert_int_equal(vmm_process_stop(f->p, &c, control_stop_cb, gave_up_cb, f), -ESRCH);
}

static void test_ladder_escalates_to_sigkill(void **state)
{
        Fixture *f = *state;

        /* Ignores the control stop and SIGTERM: only SIGKILL ends it. */
        spawn(f, "ignore-control", -1);
        f->control_fd = vmm_process_take_control_fd(f->p);
        wait_for_report(f);
        assert_int_equal(vmm_process_stop(f->p, &short_ladder, control_stop_cb, gave_up_cb, f), 0);
        run_until_exit(f);
        assert_int_equal(f->control_stops, 1);
        assert_int_equal(f->exit.rung, STOP_LADDER_KILL);
        assert_int_equal(f->exit.code, CLD_KILLED);
        assert_int_equal(f->exit.status, SIGKILL);
        assert_int_equal(f->gave_up, 0);
}

static void test_ladder_sigterm_when_control_fails(void **state)
{
        Fixture *f = *state;

        spawn(f, "sleep", -1);
        wait_for_report(f);
        f->control_answer = -ENOTCONN;
        StopLadderConfig c = short_ladder;
        c.control_timeout_usec = 30000000; /* would be far too long: the failure must skip it */
        assert_int_equal(vmm_process_stop(f->p, &c, control_stop_cb, gave_up_cb, f), 0);
        run_until_exit(f);
        assert_int_equal(f->control_stops, 1);
        assert_int_equal(f->exit.rung, STOP_LADDER_TERM);
        assert_int_equal(f->exit.code, CLD_KILLED);
        assert_int_equal(f->exit.status, SIGTERM);
}

static void test_ladder_without_control(void **state)
{
        Fixture *f = *state;

        spawn(f, "ignore-term", -1);
        wait_for_report(f);
        assert_int_equal(vmm_process_stop(f->p, &short_ladder, NULL, NULL, f), 0);
        run_until_exit(f);
        assert_int_equal(f->control_stops, 0);
        assert_int_equal(f->exit.rung, STOP_LADDER_KILL);
        assert_int_equal(f->exit.status, SIGKILL);
}

static void test_free_running_kills_and_reaps(void **state)
{
        Fixture *f = *state;
        char dir[256];

        spawn(f, "ignore-term", -1);
        pid_t pid = vmm_process_pid(f->p);
        snprintf(dir, sizeof(dir), "%s", vmm_process_runtime_dir(f->p));
        f->p = vmm_process_free(f->p);
        assert_false(f->exited); /* no handler after free */
        /* Reaped: no such child any more, and the dir is gone. */
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
        assert_int_equal(access(dir, F_OK), -1);
}

static void test_spawn_failures_leave_nothing(void **state)
{
        Fixture *f = *state;
        VmmSpawnConfig c = {
                .vmm_path = "/nonexistent/vmm_backend",
                .runtime_dir = f->root,
                .mem_mib = 64,
                .cpus = 1,
                .kernel_fd = f->kernel_fd,
                .initrd_fd = -1,
        };
        VmmProcess *p = NULL;

        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &p), -ENOENT);
        assert_null(p);
        c.vmm_path = f->kernel_path; /* not executable */
        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &p), -EACCES);
        assert_int_equal(count_entries(f->root), 0);
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* the failed children were reaped */

        c.vmm_path = fake_vmm;
        c.vmm_path = "relative/path";
        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &p), -EINVAL);
        c.vmm_path = fake_vmm;
        c.mem_mib = 0;
        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &p), -EINVAL);
        c.mem_mib = 64;
        c.dir_prefix = "../evil";
        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &p), -EINVAL);
        c.dir_prefix = NULL;
        c.kernel_fd = 999;
        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &p), -EBADF);
        c.kernel_fd = f->kernel_fd;
        c.runtime_dir = "/nonexistent-runtime-dir";
        assert_int_equal(vmm_process_spawn(f->base, &c, on_exit_cb, f, &p), -ENOENT);
        assert_int_equal(count_entries(f->root), 0);
        assert_false(f->exited);
}

static void test_remove_tree_does_not_follow_symlinks(void **state)
{
        Fixture *f = *state;
        char outside[128], tree[128], path[512];

        snprintf(outside, sizeof(outside), "%s/outside", f->root);
        snprintf(tree, sizeof(tree), "%s/tree", f->root);
        assert_int_equal(mkdir(outside, 0700), 0);
        snprintf(path, sizeof(path), "%s/keep", outside);
        FILE *k = fopen(path, "we");
        assert_non_null(k);
        fclose(k);
        assert_int_equal(mkdir(tree, 0700), 0);
        snprintf(path, sizeof(path), "%s/sub", tree);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/sub/link", tree);
        assert_int_equal(symlink(outside, path), 0);
        snprintf(path, sizeof(path), "%s/file", tree);
        k = fopen(path, "we");
        assert_non_null(k);
        fclose(k);

        assert_int_equal(vmm_process_remove_tree(tree), 0);
        assert_int_equal(access(tree, F_OK), -1);
        snprintf(path, sizeof(path), "%s/keep", outside);
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(vmm_process_remove_tree(tree), 0); /* gone already: fine */
        /* A symlink given as the tree itself is refused, not followed. */
        snprintf(path, sizeof(path), "%s/link-to-outside", f->root);
        assert_int_equal(symlink(outside, path), 0);
        assert_int_equal(vmm_process_remove_tree(path), -ENOTDIR);
        snprintf(path, sizeof(path), "%s/keep", outside);
        assert_int_equal(access(path, F_OK), 0);
}

int main(int argc, char **argv)
{
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0)
                return 1;
        exe[n] = 0;
        /* <build>/tests/unit/test-vmm-process -> <build>/tests/helpers/fake-vmm */
        snprintf(fake_vmm, sizeof(fake_vmm), "%s/../helpers/fake-vmm", dirname(exe));
        if (access(fake_vmm, X_OK) < 0) {
                printf("SKIP: %s not built\n", fake_vmm);
                return 77;
        }

        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_exit_reported_and_dir_removed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_child_environment, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ladder_control_stop_honoured, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ladder_escalates_to_sigkill, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ladder_sigterm_when_control_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ladder_without_control, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_running_kills_and_reaps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spawn_failures_leave_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_tree_does_not_follow_symlinks, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
