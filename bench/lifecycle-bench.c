/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* lifecycle-bench: times the daemon's VM lifecycle from a D-Bus client (bench/lifecycle.sh runs it).
 *
 *   lifecycle-bench --address=ADDR --kernel=PATH [--owner=HEX] start ROUNDS
 *       per round: StartVm -> VmStartedSignal, StartVm -> "TESTGUEST READY" in the VM's console
 *       log, then StopVm; prints the medians
 *   lifecycle-bench --address=ADDR --kernel=PATH [--owner=HEX] rtt CALLS
 *       one VM running: GetVmInfo round trip vs org.freedesktop.DBus.Peer.Ping on the same daemon
 *       (median µs of each, alternating batches) and their ratio
 *   lifecycle-bench --address=ADDR --kernel=PATH [--owner=HEX] [--mem=MIB] mass VMS
 *       VMS StartVm calls at once: time until every VmStartedSignal arrived, the daemon's RSS and
 *       the CPU time it spent on them; then StopAllVms and its time
 * Output: `name value unit` lines. Exit 0, or 1 on any failure (with a message on stderr). */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"
#include "vmm_backend/macro.h"

#define MAX_VMS 256
#define CALL_TIMEOUT_USEC (UINT64_C(120) * 1000000)

static const char *arg_address, *arg_kernel, *arg_owner = "be0c4a11";
static unsigned arg_mem = 64;
static int kernel_fd = -1;

typedef struct Pending {
        char name[32];
        uint64_t t_call, t_reply, t_started;
        bool replied, started, failed;
        char console[256];
} Pending;

static Pending vms[MAX_VMS];
static unsigned n_vms;

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static _noreturn_ void die(const char *what, int r)
{
        fprintf(stderr, "lifecycle-bench: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(1);
}

static Pending *find(const char *name)
{
        for (unsigned i = 0; i < n_vms; i++)
                if (streq(vms[i].name, name))
                        return &vms[i];
        return NULL;
}

static int on_started(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__VmStartedSignal *sig = NULL;
        uint64_t t = now_usec();
        Pending *p;

        if (bus_message_read_proto(m, &vm_tools__concierge__vm_started_signal__descriptor,
                                   (ProtobufCMessage **)&sig) < 0)
                return 0;
        p = find(sig->name);
        if (p && !p->started) {
                p->started = true;
                p->t_started = t;
        }
        return 0;
}

static int on_start_reply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__StartVmResponse *resp = NULL;
        Pending *p = userdata;

        p->t_reply = now_usec();
        p->replied = true;
        if (sd_bus_message_is_method_error(m, NULL)) {
                fprintf(stderr, "StartVm %s: %s\n", p->name, sd_bus_message_get_error(m)->message);
                p->failed = true;
                return 0;
        }
        if (bus_message_read_proto_limit(m, &vm_tools__concierge__start_vm_response__descriptor,
                                         BUS_PROTO_MAX_REPLY_SIZE, (ProtobufCMessage **)&resp) < 0 ||
            !resp->success) {
                fprintf(stderr, "StartVm %s failed: %s\n", p->name,
                        resp ? resp->failure_reason : "bad reply");
                p->failed = true;
                return 0;
        }
        /* The console log sits next to the channel socket, in the VM's runtime dir. */
        if (resp->vm_info && resp->vm_info->channel_socket) {
                const char *slash = strrchr(resp->vm_info->channel_socket, '/');
                if (slash)
                        snprintf(p->console, sizeof(p->console), "%.*s/console.log",
                                 (int)(slash - resp->vm_info->channel_socket),
                                 resp->vm_info->channel_socket);
        }
        return 0;
}

static void start_async(sd_bus *bus, Pending *p)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        VmTools__Concierge__StartVmRequest req = VM_TOOLS__CONCIERGE__START_VM_REQUEST__INIT;
        VmTools__Concierge__StartVmRequest__FdType types[1] = {
                VM_TOOLS__CONCIERGE__START_VM_REQUEST__FD_TYPE__KERNEL};
        int r;

        req.name = p->name;
        req.owner_id = (char *)arg_owner;
        req.cpus = 1;
        req.memory_mib = arg_mem;
        req.n_fds = 1;
        req.fds = types;
        r = sd_bus_message_new_method_call(bus, &m, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                           CONCIERGE_INTERFACE, CONCIERGE_METHOD_START_VM);
        if (r >= 0)
                r = bus_message_append_proto(m, &req.base);
        if (r >= 0)
                r = sd_bus_message_append(m, "ah", 1, kernel_fd);
        if (r < 0)
                die("building StartVm", r);
        p->t_call = now_usec();
        r = sd_bus_call_async(bus, NULL, m, on_start_reply, p, CALL_TIMEOUT_USEC);
        if (r < 0)
                die("StartVm", r);
}

static void run_until(sd_bus *bus, bool (*done)(void))
{
        uint64_t deadline = now_usec() + CALL_TIMEOUT_USEC;

        while (!done()) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0)
                        die("sd_bus_process", r);
                if (r > 0)
                        continue;
                if (now_usec() > deadline)
                        die("waiting for the daemon", ETIMEDOUT);
                r = sd_bus_wait(bus, 100000);
                if (r < 0)
                        die("sd_bus_wait", r);
        }
}

static bool all_started(void)
{
        for (unsigned i = 0; i < n_vms; i++) {
                if (vms[i].failed)
                        die("a StartVm failed", EIO);
                if (!vms[i].replied || !vms[i].started)
                        return false;
        }
        return true;
}

static void call_simple(sd_bus *bus, const char *method, const char *name)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        VmTools__Concierge__StopVmRequest req = VM_TOOLS__CONCIERGE__STOP_VM_REQUEST__INIT;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                           CONCIERGE_INTERFACE, method);
        if (r >= 0 && name) {
                req.name = (char *)name;
                req.owner_id = (char *)arg_owner;
                r = bus_message_append_proto(m, &req.base);
        }
        if (r >= 0)
                r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", method, error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                exit(1);
        }
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, unsigned n)
{
        qsort(v, n, sizeof(*v), cmp_u64);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool file_has_ready(const char *path)
{
        char buf[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strstr(buf, "TESTGUEST READY") != NULL;
}

static void cmd_start(sd_bus *bus, unsigned rounds)
{
        uint64_t *started = calloc(rounds, sizeof(uint64_t)), *ready = calloc(rounds, sizeof(uint64_t));

        if (!started || !ready)
                die("calloc", ENOMEM);

        for (unsigned i = 0; i < rounds; i++) {
                n_vms = 1;
                vms[0] = (Pending){};
                snprintf(vms[0].name, sizeof(vms[0].name), "lat%u", i);
                start_async(bus, &vms[0]);
                run_until(bus, all_started);
                /* The console log: poll it (the guest may well have printed before the reply). */
                uint64_t deadline = now_usec() + 10000000;
                while (!file_has_ready(vms[0].console)) {
                        if (now_usec() > deadline)
                                die("waiting for TESTGUEST READY", ETIMEDOUT);
                        usleep(100);
                }
                ready[i] = now_usec() - vms[0].t_call;
                started[i] = vms[0].t_started - vms[0].t_call;
                call_simple(bus, CONCIERGE_METHOD_STOP_VM, vms[0].name);
        }
        printf("startvm_to_started_median %.2f ms\n", median(started, rounds) / 1000.0);
        printf("startvm_to_started_min %.2f ms\n", started[0] / 1000.0);
        printf("startvm_to_testguest_ready_median %.2f ms\n", median(ready, rounds) / 1000.0);
        free(started);
        free(ready);
}

static uint64_t time_call(sd_bus *bus, sd_bus_message *m)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t t0 = now_usec();
        int r;

        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                fprintf(stderr, "call: %s\n", error.message ?: strerror(-r));
                exit(1);
        }
        return now_usec() - t0;
}

static void cmd_rtt(sd_bus *bus, unsigned calls)
{
        VmTools__Concierge__GetVmInfoRequest req = VM_TOOLS__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        uint64_t *info = calloc(calls, sizeof(uint64_t)), *ping = calloc(calls, sizeof(uint64_t));
        const unsigned batch = 50;
        int r;

        if (!info || !ping)
                die("calloc", ENOMEM);
        n_vms = 1;
        vms[0] = (Pending){.name = "rtt"};
        start_async(bus, &vms[0]);
        run_until(bus, all_started);

        req.name = vms[0].name;
        req.owner_id = (char *)arg_owner;
        /* Alternating batches, so that both see the same machine noise. */
        for (unsigned i = 0; i < calls; i += batch)
                for (int kind = 0; kind < 2; kind++)
                        for (unsigned j = i; j < i + batch && j < calls; j++) {
                                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                                if (kind == 0) {
                                        r = sd_bus_message_new_method_call(
                                                bus, &m, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                                CONCIERGE_INTERFACE, CONCIERGE_METHOD_GET_VM_INFO);
                                        if (r >= 0)
                                                r = bus_message_append_proto(m, &req.base);
                                } else
                                        r = sd_bus_message_new_method_call(
                                                bus, &m, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                                "org.freedesktop.DBus.Peer", "Ping");
                                if (r < 0)
                                        die("building a call", r);
                                (kind == 0 ? info : ping)[j] = time_call(bus, m);
                        }
        uint64_t mi = median(info, calls), mp = median(ping, calls);
        printf("getvminfo_rtt_median %" PRIu64 " us\n", mi);
        printf("peer_ping_rtt_median %" PRIu64 " us\n", mp);
        printf("getvminfo_vs_ping_ratio %.2f x\n", mp ? (double)mi / (double)mp : 0.0);
        call_simple(bus, CONCIERGE_METHOD_STOP_VM, vms[0].name);
        free(info);
        free(ping);
}

static uint32_t daemon_pid(sd_bus *bus)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint32_t pid = 0;
        int r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetConnectionUnixProcessID", &error, &reply, "s", CONCIERGE_BUS_NAME);
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", &pid);
        if (r < 0)
                die("GetConnectionUnixProcessID", r);
        return pid;
}

/* CPU time of pid, in ms: /proc/PID/schedstat (ns on the CPU; the daemon is single-threaded),
 * which is finer than the clock ticks of /proc/PID/stat. */
static double cpu_ms(uint32_t pid)
{
        unsigned long long ns = 0;
        char path[64];
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%u/schedstat", pid);
        f = fopen(path, "re");
        if (!f || fscanf(f, "%llu", &ns) != 1)
                die("reading the daemon's schedstat", errno ?: EINVAL);
        fclose(f);
        return (double)ns / 1e6;
}

static long rss_kib(uint32_t pid)
{
        char path[64], line[256];
        long v = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%u/status", pid);
        f = fopen(path, "re");
        if (!f)
                die("reading the daemon's status", errno);
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
                        break;
        fclose(f);
        return v;
}

static void cmd_mass(sd_bus *bus, unsigned n)
{
        uint32_t pid = daemon_pid(bus);
        long rss0 = rss_kib(pid);
        double cpu0 = cpu_ms(pid);
        uint64_t t0, t_last = 0, t1;

        if (n > MAX_VMS)
                die("too many VMs", EINVAL);
        n_vms = n;
        for (unsigned i = 0; i < n; i++) {
                vms[i] = (Pending){};
                snprintf(vms[i].name, sizeof(vms[i].name), "mass%u", i);
        }
        t0 = now_usec();
        for (unsigned i = 0; i < n; i++)
                start_async(bus, &vms[i]);
        run_until(bus, all_started);
        for (unsigned i = 0; i < n; i++)
                t_last = MAX(t_last, vms[i].t_started);
        double cpu1 = cpu_ms(pid);
        long rss1 = rss_kib(pid);

        printf("mass_vms %u vms\n", n);
        printf("mass_vm_memory %u MiB\n", arg_mem);
        printf("mass_start_all_running %.1f ms\n", (t_last - t0) / 1000.0);
        printf("mass_daemon_rss_before %ld KiB\n", rss0);
        printf("mass_daemon_rss_running %ld KiB\n", rss1);
        printf("mass_daemon_cpu_for_starts %.1f ms\n", cpu1 - cpu0);

        t1 = now_usec();
        call_simple(bus, CONCIERGE_METHOD_STOP_ALL_VMS, NULL);
        printf("mass_stop_all %.1f ms\n", (now_usec() - t1) / 1000.0);
        printf("mass_daemon_cpu_for_stops %.1f ms\n", cpu_ms(pid) - cpu1);
        printf("mass_daemon_rss_after %ld KiB\n", rss_kib(pid));
}

int main(int argc, char *argv[])
{
        static const struct option options[] = {
                {"address", required_argument, NULL, 'a'},
                {"kernel", required_argument, NULL, 'k'},
                {"owner", required_argument, NULL, 'o'},
                {"mem", required_argument, NULL, 'm'},
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        unsigned count;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'a':
                        arg_address = optarg;
                        break;
                case 'k':
                        arg_kernel = optarg;
                        break;
                case 'o':
                        arg_owner = optarg;
                        break;
                case 'm':
                        arg_mem = (unsigned)atoi(optarg);
                        break;
                default:
                        return 2;
                }
        if (!arg_address || !arg_kernel || argc - optind != 2 || atoi(argv[optind + 1]) <= 0) {
                fprintf(stderr,
                        "usage: lifecycle-bench --address=ADDR --kernel=PATH [--owner=HEX] [--mem=MIB] "
                        "start|rtt|mass COUNT\n");
                return 2;
        }
        count = (unsigned)atoi(argv[optind + 1]);

        kernel_fd = open(arg_kernel, O_RDONLY | O_CLOEXEC);
        if (kernel_fd < 0)
                die(arg_kernel, errno);

        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, arg_address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                die("connecting to the bus", r);
        r = sd_bus_match_signal(bus, NULL, NULL, CONCIERGE_OBJECT_PATH, CONCIERGE_INTERFACE,
                                CONCIERGE_SIGNAL_VM_STARTED, on_started, NULL);
        if (r < 0)
                die("subscribing to VmStartedSignal", r);

        if (streq(argv[optind], "start"))
                cmd_start(bus, count);
        else if (streq(argv[optind], "rtt"))
                cmd_rtt(bus, count);
        else if (streq(argv[optind], "mass"))
                cmd_mass(bus, count);
        else {
                fprintf(stderr, "unknown command '%s'\n", argv[optind]);
                return 2;
        }
        return 0;
}
