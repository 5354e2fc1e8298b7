/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/backend.c + backend-embedded.c: lookup, and the embedded backend on a
 * libevent loop against the fake VMM (tests/helpers/fake-vmm, which speaks the control protocol
 * in its `serve` modes): ready, calls, events, timeouts, the stop ladder, and what happens to
 * pending calls when the VMM dies. When the real VMM and the test guest are built and /dev/kvm
 * works, one more test drives them (ready, pause, resume, stop). */
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "concierge/backend.h"
#include "concierge/vmm-process.h"
#include "vmm_backend/macro.h"

static char fake_vmm[PATH_MAX], real_vmm[PATH_MAX], test_guest[PATH_MAX];

/* What happened, in order: "ready:<err>", "<tag>:<err>", "event:<type>", "exited". */
typedef struct Fixture {
        struct event_base *base;
        char root[64];
        int kernel_fd;
        Backend *b;
        char log[64][48];
        unsigned n_log;
        bool ready_done, exited;
        int ready_error;
        VmmctlStatus ready_status;
        BackendExit exit;
        VmmctlRunState last_state;
        bool free_in_exited;
        bool free_in_reply;
} Fixture;

static void logf_(Fixture *f, const char *fmt, ...) _printf_(2, 3);
static void logf_(Fixture *f, const char *fmt, ...)
{
        va_list ap;
        assert_true(f->n_log < ELEMENTSOF(f->log));
        va_start(ap, fmt);
        vsnprintf(f->log[f->n_log++], sizeof(f->log[0]), fmt, ap);
        va_end(ap);
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->base = event_base_new();
        strcpy(f->root, "/tmp/test-backend.XXXXXX");
        assert_non_null(mkdtemp(f->root));
        f->kernel_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC); /* any readable file */
        assert_true(f->kernel_fd >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        f->b = backend_free(f->b);
        safe_close(f->kernel_fd);
        event_base_free(f->base);
        /* Every runtime dir is gone once its backend is freed: rmdir of the root must succeed. */
        assert_int_equal(rmdir(f->root), 0);
        free(f);
        return 0;
}

static void ready_cb(Backend *b, int error, const VmmctlStatus *st, void *userdata)
{
        Fixture *f = userdata;
        assert_false(f->ready_done);
        f->ready_done = true;
        f->ready_error = error;
        if (error == 0) {
                assert_non_null(st);
                f->ready_status = *st;
        } else
                assert_null(st);
        logf_(f, "ready:%d", error);
}

static void event_cb(Backend *b, const VmmctlEvent *ev, void *userdata)
{
        Fixture *f = userdata;
        logf_(f, "event:%s", vmmctl_event_type_to_string(ev->type));
}

static void exited_cb(Backend *b, const BackendExit *e, void *userdata)
{
        Fixture *f = userdata;
        assert_false(f->exited);
        f->exited = true;
        f->exit = *e;
        logf_(f, "exited");
        if (f->free_in_exited)
                f->b = backend_free(b);
}

static const BackendCallbacks callbacks = {
        .ready = ready_cb,
        .event = event_cb,
        .exited = exited_cb,
};

static void start(Fixture *f, const char *mode, uint64_t startup_usec, const StopLadderConfig *stop)
{
        char *extra[] = {(char *)"--fake-mode", (char *)mode, NULL};
        BackendStartConfig c = {
                .vmm_path = fake_vmm,
                .runtime_dir = f->root,
                .mem_mib = 64,
                .cpus = 1,
                .kernel_fd = f->kernel_fd,
                .initrd_fd = -1,
                .extra_args = extra,
                .startup_timeout_usec = startup_usec,
        };
        if (stop)
                c.stop = *stop;
        assert_int_equal(backend_start(NULL, f->base, &c, &callbacks, f, &f->b), 0);
        assert_string_equal(backend_name(f->b), "embedded");
        assert_true(backend_pid(f->b) > 0);
        assert_non_null(startswith(backend_runtime_dir(f->b), f->root));
}

static void loop_until(Fixture *f, bool *flag)
{
        for (unsigned i = 0; !*flag; i++) {
                assert_true(i < 100000);
                assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
        }
}

typedef struct Tag {
        Fixture *f;
        const char *name;
        bool done;
        unsigned calls;
} Tag;

static void reply_cb(Backend *b, const BackendReply *r, void *userdata)
{
        Tag *t = userdata;
        t->calls++;
        t->done = true;
        logf_(t->f, "%s:%d", t->name, r->error);
        assert_non_null(r->error_message);
        if (r->error == 0 && streq(t->name, "status")) {
                assert_non_null(r->status);
                t->f->last_state = r->status->state;
        }
        if (t->f->free_in_reply)
                t->f->b = backend_free(b);
}

static void test_lookup(void **state)
{
        const BackendOps *ops = NULL;

        assert_int_equal(backend_find("embedded", &ops), 0);
        assert_ptr_equal(ops, &backend_embedded_ops);
        assert_int_equal(backend_find("qemu", &ops), -ENOENT);
        assert_int_equal(backend_find("", &ops), -ENOENT);
        assert_int_equal(backend_find(NULL, &ops), -EINVAL);
        assert_non_null(strstr(backend_names(), "embedded"));
}

static void test_ready_calls_stop(void **state)
{
        Fixture *f = *state;
        Tag pause = {.f = f, .name = "pause"}, status = {.f = f, .name = "status"},
            resume = {.f = f, .name = "resume"}, status2 = {.f = f, .name = "status"},
            swap = {.f = f, .name = "swap"};

        start(f, "serve", 0, NULL);
        loop_until(f, &f->ready_done);
        assert_int_equal(f->ready_error, 0);
        assert_int_equal(f->ready_status.state, VMMCTL_RUN_RUNNING);
        assert_int_equal(f->ready_status.pid, backend_pid(f->b));

        /* Calls are answered in order, each exactly once. */
        assert_int_equal(backend_pause(f->b, 0, reply_cb, &pause), 0);
        assert_int_equal(backend_status(f->b, 0, reply_cb, &status), 0);
        loop_until(f, &status.done);
        assert_int_equal(f->last_state, VMMCTL_RUN_PAUSED);
        assert_int_equal(backend_resume(f->b, 0, reply_cb, &resume), 0);
        assert_int_equal(backend_status(f->b, 0, reply_cb, &status2), 0);
        assert_int_equal(backend_swap_status(f->b, 0, reply_cb, &swap), 0);
        loop_until(f, &swap.done);
        assert_int_equal(f->last_state, VMMCTL_RUN_RUNNING);
        assert_int_equal(pause.calls + status.calls + resume.calls + status2.calls + swap.calls, 5);

        /* The VMM's own error comes back as is. */
        assert_string_equal(f->log[f->n_log - 1], "swap:-95");
        /* The stop goes through the ladder only. */
        VmmctlRequest raw = {.op = VMMCTL_OP_STOP};
        assert_int_equal(backend_call(f->b, &raw, 0, reply_cb, &pause), -EOPNOTSUPP);
        raw.op = VMMCTL_OP_SUBSCRIBE;
        assert_int_equal(backend_call(f->b, &raw, 0, reply_cb, &pause), -EOPNOTSUPP);
        raw.op = _VMMCTL_OP_MAX;
        assert_int_equal(backend_call(f->b, &raw, 0, reply_cb, &pause), -EINVAL);

        char *dir = strdup(backend_runtime_dir(f->b));
        assert_int_equal(backend_stop(f->b), 0);
        assert_int_equal(backend_stop(f->b), -EALREADY);
        loop_until(f, &f->exited);
        assert_int_equal(f->exit.code, CLD_EXITED);
        assert_int_equal(f->exit.status, 0);
        assert_int_equal(f->exit.rung, STOP_LADDER_CONTROL);
        assert_true(f->exit.have_vmm_reason);
        assert_int_equal(f->exit.vmm_reason, VMMCTL_EXIT_STOPPED_BY_REQUEST);
        /* The vm-exited event came before the exit report. */
        assert_string_equal(f->log[f->n_log - 2], "event:vm-exited");
        assert_string_equal(f->log[f->n_log - 1], "exited");
        /* After the exit: nothing more to send; the dir goes with the backend. */
        assert_int_equal(backend_status(f->b, 0, reply_cb, &status), -ENOTCONN);
        assert_int_equal(backend_stop(f->b), -ESRCH);
        assert_int_equal(backend_kill(f->b, SIGKILL), -ESRCH);
        assert_int_equal(access(dir, F_OK), 0);
        f->b = backend_free(f->b);
        assert_int_equal(access(dir, F_OK), -1);
        free(dir);
}

static void test_vmm_dies_pending_calls_reset_then_exit(void **state)
{
        Fixture *f = *state;
        Tag pause = {.f = f, .name = "pause"}, status = {.f = f, .name = "status"},
            resume = {.f = f, .name = "resume"};

        start(f, "serve-die-on-pause", 0, NULL);
        loop_until(f, &f->ready_done);
        assert_int_equal(f->ready_error, 0);
        unsigned base = f->n_log;
        assert_int_equal(backend_pause(f->b, 0, reply_cb, &pause), 0);
        assert_int_equal(backend_status(f->b, 0, reply_cb, &status), 0);
        assert_int_equal(backend_resume(f->b, 0, reply_cb, &resume), 0);
        f->free_in_exited = true;
        loop_until(f, &f->exited);
        assert_null(f->b);
        /* Each pending call failed exactly once with -ECONNRESET, all before `exited`. */
        assert_int_equal(pause.calls, 1);
        assert_int_equal(status.calls, 1);
        assert_int_equal(resume.calls, 1);
        assert_int_equal(f->n_log - base, 4);
        for (unsigned i = base; i < base + 3; i++)
                assert_non_null(strstr(f->log[i], ":-104"));
        assert_string_equal(f->log[base + 3], "exited");
        assert_int_equal(f->exit.code, CLD_EXITED);
        assert_int_equal(f->exit.status, 9);
        assert_int_equal(f->exit.rung, STOP_LADDER_IDLE);
        assert_false(f->exit.have_vmm_reason);
}

static void test_killed_before_ready(void **state)
{
        Fixture *f = *state;
        Tag pause = {.f = f, .name = "pause"};

        /* A VMM that never answers: ready and a call are pending when it is killed. */
        start(f, "ignore-control", 0, NULL);
        assert_int_equal(backend_pause(f->b, 0, reply_cb, &pause), 0);
        assert_int_equal(backend_kill(f->b, SIGKILL), 0);
        loop_until(f, &f->exited);
        assert_int_equal(f->ready_error, -ECONNRESET);
        assert_int_equal(pause.calls, 1);
        assert_string_equal(f->log[f->n_log - 1], "exited");
        assert_int_equal(f->n_log, 3);
        assert_int_equal(f->exit.code, CLD_KILLED);
        assert_int_equal(f->exit.status, SIGKILL);
}

static void test_startup_timeout_then_ladder(void **state)
{
        Fixture *f = *state;
        StopLadderConfig ladder = {
                .control_timeout_usec = 100000, .term_timeout_usec = 100000, .kill_timeout_usec = 5000000};

        /* Silent, and deaf to SIGTERM: ready times out; the stop takes the whole ladder. */
        start(f, "ignore-control", 200000, &ladder);
        loop_until(f, &f->ready_done);
        assert_int_equal(f->ready_error, -ETIMEDOUT);
        assert_false(f->exited);
        assert_int_equal(backend_stop(f->b), 0);
        loop_until(f, &f->exited);
        assert_int_equal(f->exit.rung, STOP_LADDER_KILL);
        assert_int_equal(f->exit.code, CLD_KILLED);
        assert_int_equal(f->exit.status, SIGKILL);
}

static void test_call_timeout(void **state)
{
        Fixture *f = *state;
        Tag a = {.f = f, .name = "a"}, b = {.f = f, .name = "b"};

        start(f, "ignore-control", 0, NULL);
        assert_int_equal(backend_status(f->b, 300000, reply_cb, &b), 0);
        assert_int_equal(backend_status(f->b, 100000, reply_cb, &a), 0);
        loop_until(f, &b.done);
        /* The shorter deadline fires first; both time out exactly once. */
        assert_string_equal(f->log[0], "a:-110");
        assert_string_equal(f->log[1], "b:-110");
        assert_int_equal(a.calls + b.calls, 2);
        assert_false(f->ready_done); /* its 10 s deadline is still ahead */
}

static void test_free_inside_reply(void **state)
{
        Fixture *f = *state;
        Tag status = {.f = f, .name = "status"}, other = {.f = f, .name = "other"};
        char *dir;

        start(f, "serve", 0, NULL);
        loop_until(f, &f->ready_done);
        pid_t pid = backend_pid(f->b);
        dir = strdup(backend_runtime_dir(f->b));
        assert_int_equal(backend_status(f->b, 0, reply_cb, &status), 0);
        assert_int_equal(backend_pause(f->b, 60000000, reply_cb, &other), 0);
        f->free_in_reply = true;
        loop_until(f, &status.done);
        assert_null(f->b);
        /* The other call was answered with -ECANCELED at the latest when the backend went. */
        assert_int_equal(other.calls, 1);
        assert_false(f->exited); /* no exit report after free */
        /* The process was killed and reaped, its runtime dir removed. */
        assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
        assert_int_equal(access(dir, F_OK), -1);
        free(dir);
}

static void test_bad_config(void **state)
{
        Fixture *f = *state;
        BackendStartConfig c = {
                .vmm_path = "/nonexistent/vmm",
                .runtime_dir = f->root,
                .mem_mib = 64,
                .cpus = 1,
                .kernel_fd = f->kernel_fd,
                .initrd_fd = -1,
        };
        Backend *b = NULL;

        assert_int_equal(backend_start(NULL, f->base, &c, &callbacks, f, &b), -ENOENT);
        assert_null(b);
        c.vmm_path = fake_vmm;
        c.cpus = 0;
        assert_int_equal(backend_start(NULL, f->base, &c, &callbacks, f, &b), -EINVAL);
        c.cpus = 1;
        BackendCallbacks no_exit = callbacks;
        no_exit.exited = NULL;
        assert_int_equal(backend_start(NULL, f->base, &c, &no_exit, f, &b), -EINVAL);
        c.stop.control_timeout_usec = 5; /* a ladder without a SIGKILL wait */
        assert_int_equal(backend_start(NULL, f->base, &c, &callbacks, f, &b), -EINVAL);
        assert_null(b);
}

static void test_real_vmm_with_test_guest(void **state)
{
        Fixture *f = *state;
        Tag pause = {.f = f, .name = "pause"}, status = {.f = f, .name = "status"},
            resume = {.f = f, .name = "resume"}, status2 = {.f = f, .name = "status"};

        if (access(real_vmm, X_OK) < 0 || access(test_guest, R_OK) < 0) {
                printf("SKIP: the real VMM or the test guest is not built (%s, %s)\n", real_vmm, test_guest);
                skip();
        }
        int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0) {
                printf("SKIP: /dev/kvm: %m\n");
                skip();
        }
        close(kvm);

        safe_close(f->kernel_fd);
        f->kernel_fd = open(test_guest, O_RDONLY | O_CLOEXEC);
        assert_true(f->kernel_fd >= 0);
        BackendStartConfig c = {
                .vmm_path = real_vmm,
                .runtime_dir = f->root,
                .mem_mib = 64,
                .cpus = 1,
                .kernel_fd = f->kernel_fd,
                .initrd_fd = -1,
        };
        assert_int_equal(backend_start(NULL, f->base, &c, &callbacks, f, &f->b), 0);
        loop_until(f, &f->ready_done);
        if (f->ready_error != 0) {
                _cleanup_free_ char *log = backend_runtime_path(f->b, VMM_PROCESS_VMM_LOG);
                char cmd[PATH_MAX + 16];
                snprintf(cmd, sizeof(cmd), "cat %s >&2", log);
                (void)!system(cmd);
        }
        assert_int_equal(f->ready_error, 0);
        assert_int_equal(f->ready_status.pid, backend_pid(f->b));

        /* The guest boots into its workload and says so on the console the VMM logs to
         * <runtime dir>/console.log (generous bound: this is not a timing test). */
        _cleanup_free_ char *console = backend_runtime_path(f->b, VMM_PROCESS_CONSOLE_LOG);
        bool seen = false;
        for (unsigned i = 0; i < 600 && !seen; i++) {
                struct timeval tick = {.tv_usec = 50000};
                event_base_loopexit(f->base, &tick);
                event_base_dispatch(f->base);
                FILE *con = fopen(console, "re");
                char line[256];
                while (con && fgets(line, sizeof(line), con))
                        seen = seen || strstr(line, "TESTGUEST READY");
                if (con)
                        fclose(con);
        }
        assert_true(seen);
        assert_false(f->exited);

        assert_int_equal(backend_pause(f->b, 0, reply_cb, &pause), 0);
        assert_int_equal(backend_status(f->b, 0, reply_cb, &status), 0);
        loop_until(f, &status.done);
        assert_int_equal(f->last_state, VMMCTL_RUN_PAUSED);
        assert_int_equal(backend_resume(f->b, 0, reply_cb, &resume), 0);
        assert_int_equal(backend_status(f->b, 0, reply_cb, &status2), 0);
        loop_until(f, &status2.done);
        assert_int_equal(f->last_state, VMMCTL_RUN_RUNNING);
        for (unsigned i = 0; i < f->n_log; i++)
                if (strstr(f->log[i], "pause:") || strstr(f->log[i], "resume:"))
                        assert_non_null(strstr(f->log[i], ":0"));

        assert_int_equal(backend_stop(f->b), 0);
        loop_until(f, &f->exited);
        assert_int_equal(f->exit.rung, STOP_LADDER_CONTROL); /* it obeyed the control stop */
        assert_int_equal(f->exit.code, CLD_EXITED);
        assert_true(f->exit.have_vmm_reason);
        assert_int_equal(f->exit.vmm_reason, VMMCTL_EXIT_STOPPED_BY_REQUEST);
}

int main(int argc, char **argv)
{
        char exe[PATH_MAX], *dir;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0)
                return 1;
        exe[n] = 0;
        dir = dirname(exe); /* <build>/tests/unit */
        snprintf(fake_vmm, sizeof(fake_vmm), "%s/../helpers/fake-vmm", dir);
        snprintf(real_vmm, sizeof(real_vmm), "%s/../../vmm_backend", dir);
        snprintf(test_guest, sizeof(test_guest), "%s/../../guest/testguest.elf", dir);
        if (access(fake_vmm, X_OK) < 0) {
                printf("SKIP: %s not built\n", fake_vmm);
                return 77;
        }
        /* The daemon ignores SIGPIPE; so do we (a write to a dead VMM must not kill the test). */
        signal(SIGPIPE, SIG_IGN);

        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lookup),
                cmocka_unit_test_setup_teardown(test_ready_calls_stop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vmm_dies_pending_calls_reset_then_exit, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_killed_before_ready, setup, teardown),
                cmocka_unit_test_setup_teardown(test_startup_timeout_then_ladder, setup, teardown),
                cmocka_unit_test_setup_teardown(test_call_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_inside_reply, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_config, setup, teardown),
                cmocka_unit_test_setup_teardown(test_real_vmm_with_test_guest, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
