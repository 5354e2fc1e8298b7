/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A test double of the VMM *process* for tests/unit/test-vmm-process.c and test-backend.c.
 *
 * It takes vmm_backend's command line, speaks no control protocol, and behaves as --fake-mode says:
 *   exit:N            exit with status N at once
 *   sleep             wait for signals (SIGTERM kills it)
 *   ignore-term       ignore SIGTERM, wait
 *   stop-on-message   ignore SIGTERM; exit 0 on the first control datagram (3 on EOF)
 *   ignore-control    ignore SIGTERM; read and drop control datagrams forever
 * Before that, with --fake-report PATH, it writes what it got from its parent to PATH (through a
 * temp file + rename, so the file is complete once it exists): its pid and process group, each
 * open fd and what it points to, the blocked and ignored signal masks, the first bytes read
 * through --kernel's path, and its argv. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
