/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-startup-probe: queue control requests on a socketpair before the VMM even runs, hand the VMM
 * the other end (--control-fd), and print every answer in order: what the VMM says while it is
 * still building the machine (used by tests/integration/test-vmm-startup.sh).
 *
 * Usage: vmm-startup-probe OP[,OP...] -- VMM [ARGS...]
 *   OP: status, pause, resume, stop, subscribe, vcpu-threads. After the answers, "stop" is sent
 *   unless the list had one (its answer is not printed if the VMM is gone already); then the
 *   VMM's exit is awaited.
 * Output lines: "<op> ok" (status: "status <state>", vcpu-threads: "vcpu-threads <n> <all-nonzero>"),
 * "<op> error <errno-name>", "event vm-exited <reason>", "exit <code>" (or "signal <n>").
 * Exit: 0 done, 1 failure (timeout, I/O), 2 usage. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "vmm_backend/ctl/libvmmctl.h"
#include "vmm_backend/macro.h"

#define TIMEOUT_MS 20000
#define MAX_OPS 32

static unsigned answered;

static void on_response(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        const char *op = vmmctl_op_to_string(resp->op);

        answered++;
        if (resp->error < 0)
                printf("%s error %s\n", strna(op), strna(strerrorname_np(-resp->error)));
        else if (resp->op == VMMCTL_OP_STATUS)
                printf("status %s\n", strna(vmmctl_run_state_to_string(resp->status.state)));
        else if (resp->op == VMMCTL_OP_VCPU_THREADS) {
                bool all = resp->vcpu_threads.n_tids > 0;
                for (unsigned i = 0; i < resp->vcpu_threads.n_tids; i++)
                        all = all && resp->vcpu_threads.tids[i] > 0;
                printf("vcpu-threads %u %s\n", resp->vcpu_threads.n_tids, all ? "all-nonzero" : "some-zero");
        } else
                printf("%s ok\n", strna(op));
        fflush(stdout);
}

/* The stop sent after the list: the VMM may have gone already (a failed start), which is no news. */
static void on_auto_stop(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        if (resp->error == -ECONNRESET)
                answered++;
        else
                on_response(c, resp, userdata);
}

static void on_event(VmmctlClient *c, const VmmctlEvent *ev, void *userdata)
{
        if (ev->type == VMMCTL_EVENT_VM_EXITED)
                printf("event vm-exited %s\n", strna(vmmctl_exit_reason_to_string(ev->vm_exited.reason)));
        else
                printf("event %s\n", strna(vmmctl_event_type_to_string(ev->type)));
        fflush(stdout);
}

/* Serve the client until want answers arrived or the VMM hung up. */
static int pump(VmmctlClient *c, unsigned want)
{
        for (int waited = 0; answered < want; waited += 10) {
                if (waited > TIMEOUT_MS)
                        return -ETIMEDOUT;
                struct pollfd p = { .fd = vmmctl_client_fd(c), .events = (short)vmmctl_client_poll_events(c) };
                if (poll(&p, 1, 10) < 0 && errno != EINTR)
                        return negative_errno();
                int r = vmmctl_client_process(c);
                if (r < 0)
                        return r;
        }
        return 0;
}

int main(int argc, char **argv)
{
        VmmctlRequest reqs[MAX_OPS];
        unsigned n = 0;
        bool has_stop = false;
        int sv[2], status;

        if (argc < 4 || !streq(argv[2], "--")) {
                fprintf(stderr, "usage: %s OP[,OP...] -- VMM [ARGS...]\n", argv[0]);
                return 2;
        }
        _cleanup_free_ char *list = strdup(argv[1]);
        if (!list)
                return 1;
        for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                VmmctlOp op = vmmctl_op_from_string(t);
                if (n >= MAX_OPS || op < 0 || (op != VMMCTL_OP_STATUS && op != VMMCTL_OP_PAUSE &&
                                               op != VMMCTL_OP_RESUME && op != VMMCTL_OP_STOP &&
                                               op != VMMCTL_OP_SUBSCRIBE && op != VMMCTL_OP_VCPU_THREADS)) {
                        fprintf(stderr, "bad op list '%s'\n", argv[1]);
                        return 2;
                }
                has_stop = has_stop || op == VMMCTL_OP_STOP;
                reqs[n++] = (VmmctlRequest){ .op = op };
        }

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return 1;
        VmmctlClient *c = NULL;
        if (vmmctl_client_adopt_fd(sv[0], &c) < 0)
                return 1;
        vmmctl_client_set_event_handler(c, on_event, NULL);
        /* Queued before the VMM exists: it finds them at its first look at the control socket. */
        for (unsigned i = 0; i < n; i++)
                if (vmmctl_client_send(c, &reqs[i], 0, on_response, NULL, &(uint64_t){ 0 }) < 0)
                        return 1;
        (void)vmmctl_client_process(c); /* flushes what is queued */

        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                char fdarg[32];
                char **args = calloc((size_t)argc, sizeof(char *));
                if (!args || fcntl(sv[1], F_SETFD, 0) < 0)
                        _exit(127);
                snprintf(fdarg, sizeof(fdarg), "--control-fd=%d", sv[1]);
                int k = 0;
                for (int i = 3; i < argc; i++)
                        args[k++] = argv[i];
                args[k++] = fdarg;
                args[k] = NULL;
                execv(args[0], args);
                _exit(127);
        }
        close(sv[1]);

        int r = pump(c, n);
        if (r >= 0 && !has_stop) {
                r = vmmctl_client_send(c, &(VmmctlRequest){ .op = VMMCTL_OP_STOP }, 0, on_auto_stop, NULL,
                                       &(uint64_t){ 0 });
                if (r >= 0)
                        r = pump(c, n + 1);
                else if (r == -ENOTCONN)
                        r = 0;
        }
        if (r == -ECONNRESET)
                r = 0; /* the VMM went away: its last words were dispatched */
        if (r >= 0) /* the exit event follows the stop answer */
                for (int waited = 0; waited < TIMEOUT_MS && vmmctl_client_process(c) >= 0; waited += 10)
                        (void)poll(&(struct pollfd){ .fd = vmmctl_client_fd(c), .events = POLLIN }, 1, 10);
        if (r < 0) {
                fprintf(stderr, "vmm-startup-probe: %s\n", strerror(-r));
                kill(pid, SIGKILL);
        }
        vmmctl_client_free(c);
        if (waitpid(pid, &status, 0) != pid)
                return 1;
        if (WIFEXITED(status))
                printf("exit %d\n", WEXITSTATUS(status));
        else
                printf("signal %d\n", WTERMSIG(status));
        return r < 0 ? 1 : 0;
}
