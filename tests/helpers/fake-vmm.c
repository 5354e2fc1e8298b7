/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A test double of the VMM *process* for tests/unit/test-vmm-process.c and test-backend.c.
 *
 * It takes vmm_backend's command line, speaks no control protocol, and behaves as --fake-mode says:
 *   exit:N            exit with status N at once
 *   sleep             wait for signals (SIGTERM kills it)
 *   ignore-term       ignore SIGTERM, wait
 *   stop-on-message   ignore SIGTERM; exit 0 on the first control datagram (3 on EOF)
 *   ignore-control    ignore SIGTERM; read and drop control datagrams forever
 *   serve             answer the control protocol like a VMM without a guest: status (running or
 *                     paused), pause, resume, subscribe, vcpu-threads; stop sends a vm-exited event
 *                     (stopped-by-request) to subscribers, answers, and exits 0; other ops: ENOTSUP
 *   serve-die-on-pause  as serve, but after a pause request it reads on until a resume request
 *                     arrived and then _exit(9)s, answering neither nor anything between
 * Before that, with --fake-report PATH, it writes what it got from its parent to PATH (through a
 * temp file + rename, so the file is complete once it exists): its pid and process group, each
 * open fd and what it points to, the blocked and ignored signal masks, the first bytes read
 * through --kernel's path, and its argv. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm_backend/ctl/protocol.h"

static void status_line(FILE *out, const char *key)
{
        char line[256];
        FILE *f = fopen("/proc/self/status", "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, strlen(key)) == 0)
                        fputs(line, out);
        fclose(f);
}

static int write_report(const char *path, const char *kernel, int argc, char **argv)
{
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        /* Count the fds before opening anything ourselves. */
        int fds[64];
        char targets[64][PATH_MAX];
        int n = 0;
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d)) && n < 64;) {
                if (de->d_name[0] == '.')
                        continue;
                int fd = atoi(de->d_name);
                if (fd == dirfd(d))
                        continue;
                char l[64];
                snprintf(l, sizeof(l), "/proc/self/fd/%d", fd);
                ssize_t k = readlink(l, targets[n], sizeof(targets[n]) - 1);
                targets[n][k < 0 ? 0 : k] = 0;
                fds[n++] = fd;
        }
        closedir(d);

        FILE *out = fopen(tmp, "we");
        if (!out)
                return -1;
        fprintf(out, "pid %d\npgid %d\n", (int)getpid(), (int)getpgid(0));
        for (int i = 0; i < n; i++)
                fprintf(out, "fd %d %s\n", fds[i], targets[i]);
        status_line(out, "SigBlk:");
        status_line(out, "SigIgn:");
        if (kernel) {
                char buf[32] = {};
                int fd = open(kernel, O_RDONLY | O_CLOEXEC);
                ssize_t k = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
                if (fd >= 0)
                        close(fd);
                buf[k < 0 ? 0 : k] = 0;
                buf[strcspn(buf, "\n")] = 0;
                fprintf(out, "kernel %s\n", k < 0 ? "(unreadable)" : buf);
        }
        for (int i = 0; i < argc; i++)
                fprintf(out, "arg %s\n", argv[i]);
        if (fclose(out) != 0)
                return -1;
        return rename(tmp, path);
}

static void send_frame(int fd, const VmmControl__Frame *f)
{
        static uint8_t out[MAX_FRAME_SIZE];
        size_t len;
        if (protocol_encode(f, out, sizeof(out), &len) == 0)
                (void)send(fd, out, len, MSG_NOSIGNAL);
}

static int serve(int fd, bool die_on_pause)
{
        static uint8_t buf[MAX_FRAME_SIZE];
        bool paused = false, subscribed = false;

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0)
                        return 3; /* the daemon went away */
                VmmControl__Frame *in = NULL;
                ProtocolDiag d;
                if (protocol_decode(buf, (size_t)n, &in, &d) < 0 ||
                    in->body_case != VMM_CONTROL__FRAME__BODY_REQUEST) {
                        protocol_frame_free(in);
                        continue;
                }
                VmmControl__Request *req = in->request;
                VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
                VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
                VmmControl__StatusResponse st = VMM_CONTROL__STATUS_RESPONSE__INIT;
                VmmControl__VcpuThreadsResponse vt = VMM_CONTROL__VCPU_THREADS_RESPONSE__INIT;
                int32_t tid = getpid();
                bool stop = false;

                f.version = PROTOCOL_VERSION;
                f.body_case = VMM_CONTROL__FRAME__BODY_RESPONSE;
                f.response = &resp;
                resp.id = req->id;
                switch (req->op_case) {
                case VMM_CONTROL__REQUEST__OP_STATUS:
                        st.state = paused ? VMM_CONTROL__RUN_STATE__RUN_STATE_PAUSED
                                          : VMM_CONTROL__RUN_STATE__RUN_STATE_RUNNING;
                        st.vcpus = 1;
                        st.memory_bytes = 64u << 20;
                        st.pid = getpid();
                        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_STATUS;
                        resp.status = &st;
                        break;
                case VMM_CONTROL__REQUEST__OP_PAUSE:
                        if (die_on_pause) {
                                /* Die with calls queued: wait until the resume that the test sends
                                 * after the pause (and a status) arrived, leaving them unanswered. */
                                for (;;) {
                                        VmmControl__Frame *next = NULL;
                                        ssize_t k = recv(fd, buf, sizeof(buf), 0);
                                        if (k <= 0)
                                                _exit(9);
                                        if (protocol_decode(buf, (size_t)k, &next, &d) == 0 &&
                                            next->body_case == VMM_CONTROL__FRAME__BODY_REQUEST &&
                                            next->request->op_case == VMM_CONTROL__REQUEST__OP_RESUME)
                                                _exit(9);
                                        protocol_frame_free(next);
                                }
                        }
                        paused = true;
                        break;
                case VMM_CONTROL__REQUEST__OP_RESUME:
                        paused = false;
                        break;
                case VMM_CONTROL__REQUEST__OP_SUBSCRIBE:
                        subscribed = true;
                        break;
                case VMM_CONTROL__REQUEST__OP_VCPU_THREADS:
                        vt.pid = getpid();
                        vt.n_tids = 1;
                        vt.tids = &tid;
                        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_VCPU_THREADS;
                        resp.vcpu_threads = &vt;
                        break;
                case VMM_CONTROL__REQUEST__OP_STOP:
                        stop = true;
                        break;
                default:
                        resp.error = ENOTSUP;
                        resp.error_message = (char *)"not supported by the fake VMM";
                        break;
                }
                if (stop && subscribed) {
                        VmmControl__Frame ef = VMM_CONTROL__FRAME__INIT;
                        VmmControl__Event ev = VMM_CONTROL__EVENT__INIT;
                        VmmControl__VmExitedEvent ex = VMM_CONTROL__VM_EXITED_EVENT__INIT;
                        ex.reason = VMM_CONTROL__EXIT_REASON__EXIT_REASON_STOPPED_BY_REQUEST;
                        ev.kind_case = VMM_CONTROL__EVENT__KIND_VM_EXITED;
                        ev.vm_exited = &ex;
                        ef.version = PROTOCOL_VERSION;
                        ef.body_case = VMM_CONTROL__FRAME__BODY_EVENT;
                        ef.event = &ev;
                        send_frame(fd, &ef);
                }
                send_frame(fd, &f);
                protocol_frame_free(in);
                if (stop)
                        return 0;
        }
}

int main(int argc, char **argv)
{
        const char *mode = "sleep", *report = NULL, *kernel = NULL;
        int control_fd = -1;

        for (int i = 1; i + 1 < argc; i++) {
                if (strcmp(argv[i], "--fake-mode") == 0)
                        mode = argv[++i];
                else if (strcmp(argv[i], "--fake-report") == 0)
                        report = argv[++i];
                else if (strcmp(argv[i], "--kernel") == 0)
                        kernel = argv[++i];
                else if (strcmp(argv[i], "--control-fd") == 0)
                        control_fd = atoi(argv[++i]);
        }
        if (report && write_report(report, kernel, argc, argv) < 0) {
                perror("fake-vmm: report");
                return 2;
        }
        fprintf(stderr, "fake-vmm: mode %s\n", mode);

        if (strcmp(mode, "serve") == 0 || strcmp(mode, "serve-die-on-pause") == 0)
                return serve(control_fd, strcmp(mode, "serve-die-on-pause") == 0);
        if (strncmp(mode, "exit:", 5) == 0)
                return atoi(mode + 5);
        if (strcmp(mode, "sleep") == 0) {
                for (;;)
                        pause();
        }
        signal(SIGTERM, SIG_IGN);
        if (strcmp(mode, "ignore-term") == 0) {
                for (;;)
                        pause();
        }
        if (strcmp(mode, "stop-on-message") == 0 || strcmp(mode, "ignore-control") == 0) {
                bool stop = strcmp(mode, "stop-on-message") == 0;
                char buf[4096];
                for (;;) {
                        ssize_t k = recv(control_fd, buf, sizeof(buf), 0);
                        if (k <= 0) {
                                if (!stop) /* the daemon went away: wait for the signal we ignore not */
                                        for (;;)
                                                pause();
                                return 3;
                        }
                        if (stop)
                                return 0;
                }
        }
        fprintf(stderr, "fake-vmm: unknown mode %s\n", mode);
        return 2;
}
