/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench/vmm-start-bench: start one VMM process and time its start-up from the outside, the same way
 * for our VMM and for QEMU:
 *   control_ms / control_cpu_ms   process start → the control socket answers (our status request,
 *                                  or QEMU's QMP greeting), wall time and CPU time of the process
 *   ready_ms / ready_cpu_ms       process start → the ready string appears in the serial log
 *   rss_kib, rss_anon_kib, rss_shmem_kib   /proc/PID/status after ready
 * CPU time is the sum of /proc/PID/task/TID/schedstat run times (ns resolution, all live threads);
 * the *_cpu_vmm_ms figures leave out the vCPU threads (the guest's own execution).
 * Prints `NAME_<figure> value unit` lines; the child is stopped (SIGTERM, then SIGKILL) at the end.
 *
 * Usage: vmm-start-bench NAME SERIAL_LOG READY_STRING PROBE TIMEOUT_MS -- COMMAND...
 *   PROBE: vmmctl:PATH (SOCK_SEQPACKET control socket) or qmp:PATH (QMP unix stream socket) */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "vmm_backend/ctl/libvmmctl.h"
#include "vmm_backend/macro.h"

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Is this thread a vCPU? Ours are named vcpuN, QEMU's "CPU N/KVM". */
static bool is_vcpu_thread(pid_t pid, const char *tid)
{
        char path[320], comm[64] = "";
        snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, tid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        bool r = fgets(comm, sizeof(comm), f) && (startswith(comm, "vcpu") || strstr(comm, "/KVM"));
        fclose(f);
        return r;
}

/* CPU time of every live thread of pid, in ns; *ret_vcpu gets the part of the vCPU threads (guest
 * execution: under PVM the guest's ring-0 code is emulated in the kernel on these threads). */
static uint64_t cpu_ns(pid_t pid, uint64_t *ret_vcpu)
{
        char path[64];
        uint64_t total = 0, vcpu = 0;
        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        *ret_vcpu = 0;
        DIR *d = opendir(path);
        if (!d)
                return 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                char p[320];
                snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
                FILE *f = fopen(p, "re");
                if (!f)
                        continue;
                unsigned long long run = 0;
                if (fscanf(f, "%llu", &run) == 1) {
                        total += run;
                        if (is_vcpu_thread(pid, de->d_name))
                                vcpu += run;
                }
                fclose(f);
        }
        closedir(d);
        *ret_vcpu = vcpu;
        return total;
}

static long status_kib(pid_t pid, const char *field)
{
        char path[64], line[256];
        long v = -1;
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        size_t n = strlen(field);
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, field, n) == 0 && line[n] == ':') {
                        v = strtol(line + n + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

/* QMP: the server greets every new connection with {"QMP": ...}. */
static bool qmp_ready(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[512];
        if (strlen(path) >= sizeof(sa.sun_path))
                return false;
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return false;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 5000) != 1)
                return false;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n <= 0)
                return false;
        buf[n] = 0;
        return strstr(buf, "\"QMP\"") != NULL;
}

static bool vmmctl_ready(const char *path)
{
        VmmctlStatus st;
        return vmmctl_status(path, 5000, &st) == 0;
}

static bool file_contains(const char *path, const char *needle)
{
        static char buf[1 << 20];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = 0;
        return memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
}

static void stop_child(pid_t pid)
{
        int status;
        kill(pid, SIGTERM);
        for (int i = 0; i < 200; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return;
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
}

int main(int argc, char **argv)
{
        if (argc < 8 || !streq(argv[6], "--")) {
                fprintf(stderr, "usage: %s NAME SERIAL_LOG READY_STRING vmmctl:PATH|qmp:PATH TIMEOUT_MS -- COMMAND...\n",
                        argv[0]);
                return 2;
        }
        const char *name = argv[1], *log = argv[2], *ready = argv[3], *probe = argv[4];
        uint64_t timeout_ns = strtoull(argv[5], NULL, 10) * 1000000ull;
        bool is_qmp = startswith(probe, "qmp:") != NULL;
        const char *probe_path = strchr(probe, ':') ? strchr(probe, ':') + 1 : probe;

        uint64_t t0 = now_ns();
        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                execvp(argv[7], argv + 7);
                _exit(127);
        }

        uint64_t t_control = 0, t_ready = 0, cpu_control = 0, cpu_ready = 0, vcpu_control = 0, vcpu_ready = 0;
        int status;
        while (!t_ready) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        fprintf(stderr, "%s: the VMM exited before it was ready (status 0x%x)\n", name, status);
                        return 1;
                }
                if (now_ns() - t0 > timeout_ns) {
                        fprintf(stderr, "%s: not ready after %s ms (control %s)\n", name, argv[5],
                                t_control ? "answered" : "silent");
                        stop_child(pid);
                        return 1;
                }
                if (!t_control && (is_qmp ? qmp_ready(probe_path) : vmmctl_ready(probe_path))) {
                        t_control = now_ns();
                        cpu_control = cpu_ns(pid, &vcpu_control);
                }
                if (file_contains(log, ready)) {
                        t_ready = now_ns();
                        cpu_ready = cpu_ns(pid, &vcpu_ready);
                        break;
                }
                nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 }, NULL);
        }
        if (!t_control) { /* ready before the first probe answered: probe once more */
                if (is_qmp ? qmp_ready(probe_path) : vmmctl_ready(probe_path)) {
                        t_control = now_ns();
                        cpu_control = cpu_ns(pid, &vcpu_control);
                }
        }
        /* Let the guest settle: RSS after ready, not during the last page touches. */
        nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
        long rss = status_kib(pid, "VmRSS"), anon = status_kib(pid, "RssAnon"), shmem = status_kib(pid, "RssShmem"),
             file = status_kib(pid, "RssFile");
        stop_child(pid);

        printf("%s_control_ms %.2f ms\n", name, (double)(t_control - t0) / 1e6);
        printf("%s_control_cpu_ms %.2f ms\n", name, (double)cpu_control / 1e6);
        printf("%s_control_cpu_vmm_ms %.2f ms\n", name, (double)(cpu_control - vcpu_control) / 1e6);
        printf("%s_ready_ms %.2f ms\n", name, (double)(t_ready - t0) / 1e6);
        printf("%s_ready_cpu_ms %.2f ms\n", name, (double)cpu_ready / 1e6);
        printf("%s_ready_cpu_vmm_ms %.2f ms\n", name, (double)(cpu_ready - vcpu_ready) / 1e6);
        printf("%s_rss_kib %ld KiB\n", name, rss);
        printf("%s_rss_anon_kib %ld KiB\n", name, anon);
        printf("%s_rss_file_kib %ld KiB\n", name, file);
        printf("%s_rss_shmem_kib %ld KiB\n", name, shmem);
        return 0;
}
