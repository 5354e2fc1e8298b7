/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmmctl: every control-socket operation of one VMM from the command line (debugging, tests), as
 * `crosvm balloon` / `crosvm swap` are for crosvm. Exit status: 0 ok, 1 the VMM said no or could
 * not be reached, 2 usage error. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "vmm_backend/ctl/libvmmctl.h"
#include "vmm_backend/ctl/protocol.h"
#include "vmm_backend/macro.h"

#define EXIT_USAGE 2

static bool arg_json;
static int arg_timeout_ms = 5000;
static bool arg_timeout_given;
static bool arg_wait;
static bool arg_slow_file_cleanup;
static long arg_count = -1;
static const char *arg_socket;

static void usage(FILE *f)
{
        fputs("Usage: vmmctl SOCKET OP [ARGS] [--json] [--timeout MS]\n"
              "\n"
              "Operations:\n"
              "  status                      run state, vCPUs, memory, pids/tids, uptime\n"
              "  vcpu-threads                the VMM's pid and its vCPU thread ids\n"
              "  pause | resume | stop       pause/resume the vCPUs; stop the VM (the VMM exits)\n"
              "  events [--count N]          subscribe and print events until the VM exits, N events\n"
              "                              were printed, or --timeout MS passed (default: no limit)\n"
              "  balloon set SIZE [--wait]   set the balloon size (SIZE: bytes, or with K/M/G/T or\n"
              "                              KiB/MiB/GiB/TiB = powers of 1024, KB/MB/GB/TB = of 1000);\n"
              "                              --wait: answer once reached (within --timeout)\n"
              "  balloon stats               the guest's memory statistics and the balloon size\n"
              "  swap enable|trim|out|status vmm-swap operations\n"
              "  swap disable [--slow-file-cleanup]\n"
              "  watchdog enable [MS] | watchdog disable\n"
              "\n"
              "Test hooks (send deliberately bad frames; for the protocol robustness tests):\n"
              "  test-raw-hex HEX            send HEX as one datagram, print the VMM's reply\n"
              "  test-garbage N [--seed S]   send N malformed/oversized/wrong-version frames one by one,\n"
              "                              check each gets an error reply, then check status works\n"
              "\n"
              "Options:\n"
              "  --json                      machine-readable output\n"
              "  --timeout MS                how long to wait for the VMM (default 5000)\n",
              f);
}

_printf_(1, 2) static int usage_error(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("vmmctl: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs(" (see vmmctl --help)\n", stderr);
        va_end(ap);
        return EXIT_USAGE;
}

static const char *errno_name(int error)
{
        const char *n = strerrorname_np(error < 0 ? -error : error);
        return n ?: "E?";
}

static int report_failure(const char *what, int r, const char *message)
{
        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "ok", json_object_new_boolean(false));
                json_object_object_add(o, "operation", json_object_new_string(what));
                json_object_object_add(o, "errno", json_object_new_string(errno_name(r)));
                json_object_object_add(o, "message", json_object_new_string(message && *message ? message : strerror(-r)));
                puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
        }
        fprintf(stderr, "vmmctl: %s: %s (%s)\n", what, message && *message ? message : strerror(-r), errno_name(r));
        return 1;
}

static void print_json(json_object *o)
{
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
}

static json_object *json_u64(uint64_t v)
{
        return json_object_new_uint64(v);
}

/* Parse a size with an optional unit: K/M/G/T and KiB.. are powers of 1024, KB.. powers of 1000. */
static int parse_size(const char *s, uint64_t *ret)
{
        static const struct {
                const char *suffix;
                uint64_t factor;
        } units[] = {
                { "", 1 },
                { "B", 1 },
                { "K", KIB },
                { "KiB", KIB },
                { "KB", 1000 },
                { "M", MIB },
                { "MiB", MIB },
                { "MB", 1000 * 1000 },
                { "G", GIB },
                { "GiB", GIB },
                { "GB", UINT64_C(1000) * 1000 * 1000 },
                { "T", 1024 * GIB },
                { "TiB", 1024 * GIB },
                { "TB", UINT64_C(1000) * 1000 * 1000 * 1000 },
        };
        char *end;

        if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (streq(end, units[i].suffix)) {
                        if (v > UINT64_MAX / units[i].factor)
                                return -ERANGE;
                        *ret = v * units[i].factor;
                        return 0;
                }
        return -EINVAL;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
        char *end;
        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* --- output ------------------------------------------------------------------------------------ */

static void print_status(const VmmctlStatus *st)
{
        if (arg_json) {
                json_object *o = json_object_new_object(), *tids = json_object_new_array();
                for (unsigned i = 0; i < st->n_vcpu_tids; i++)
                        json_object_array_add(tids, json_object_new_int(st->vcpu_tids[i]));
                json_object_object_add(o, "state", json_object_new_string(vmmctl_run_state_to_string(st->state)));
                json_object_object_add(o, "vcpus", json_object_new_int((int)st->vcpus));
                json_object_object_add(o, "memory_bytes", json_u64(st->memory_bytes));
                json_object_object_add(o, "pid", json_object_new_int(st->pid));
                json_object_object_add(o, "vcpu_tids", tids);
                json_object_object_add(o, "uptime_ms", json_u64(st->uptime_ms));
                json_object_object_add(o, "kernel_format", json_object_new_string(st->kernel_format));
                json_object_object_add(o, "resident_bytes", json_u64(st->resident_bytes));
                print_json(o);
                return;
        }
        printf("state:         %s\n", vmmctl_run_state_to_string(st->state));
        printf("vcpus:         %u\n", st->vcpus);
        printf("memory:        %" PRIu64 " bytes (%" PRIu64 " MiB)\n", st->memory_bytes, st->memory_bytes / MIB);
        printf("resident:      %" PRIu64 " bytes\n", st->resident_bytes);
        printf("pid:           %d\n", (int)st->pid);
        printf("vcpu tids:    ");
        for (unsigned i = 0; i < st->n_vcpu_tids; i++)
                printf(" %d", (int)st->vcpu_tids[i]);
        printf("\nuptime:        %" PRIu64 " ms\n", st->uptime_ms);
        printf("kernel format: %s\n", st->kernel_format);
}

static void print_vcpu_threads(const VmmctlVcpuThreads *vt)
{
        if (arg_json) {
                json_object *o = json_object_new_object(), *tids = json_object_new_array();
                for (unsigned i = 0; i < vt->n_tids; i++)
                        json_object_array_add(tids, json_object_new_int(vt->tids[i]));
                json_object_object_add(o, "pid", json_object_new_int(vt->pid));
                json_object_object_add(o, "tids", tids);
                print_json(o);
                return;
        }
        printf("pid %d\n", (int)vt->pid);
        for (unsigned i = 0; i < vt->n_tids; i++)
                printf("vcpu %u tid %d\n", i, (int)vt->tids[i]);
}

static void print_balloon_stats(const VmmctlBalloonStats *b)
{
        const struct {
                const char *name;
                int64_t v;
        } f[] = {
                { "swap_in", b->swap_in },
                { "swap_out", b->swap_out },
                { "major_faults", b->major_faults },
                { "minor_faults", b->minor_faults },
                { "free_memory", b->free_memory },
                { "total_memory", b->total_memory },
                { "available_memory", b->available_memory },
                { "disk_caches", b->disk_caches },
                { "hugetlb_allocations", b->hugetlb_allocations },
                { "hugetlb_failures", b->hugetlb_failures },
                { "shared_memory", b->shared_memory },
                { "unevictable_memory", b->unevictable_memory },
        };
        if (arg_json) {
                json_object *o = json_object_new_object(), *stats = json_object_new_object();
                for (size_t i = 0; i < ELEMENTSOF(f); i++)
                        json_object_object_add(stats, f[i].name, json_object_new_int64(f[i].v));
                json_object_object_add(o, "stats", stats);
                json_object_object_add(o, "balloon_actual", json_u64(b->balloon_actual));
                print_json(o);
                return;
        }
        printf("balloon_actual: %" PRIu64 "\n", b->balloon_actual);
        for (size_t i = 0; i < ELEMENTSOF(f); i++)
                if (f[i].v < 0)
                        printf("%s: unknown\n", f[i].name);
                else
                        printf("%s: %" PRId64 "\n", f[i].name, f[i].v);
}

static void print_swap_status(const VmmctlSwapStatus *s)
{
        const struct {
                const char *name;
                uint64_t v;
        } m[] = {
                { "resident_pages", s->resident_pages },
                { "copied_from_file_pages", s->copied_from_file_pages },
                { "copied_from_staging_pages", s->copied_from_staging_pages },
                { "zeroed_pages", s->zeroed_pages },
                { "redundant_pages", s->redundant_pages },
                { "staging_pages", s->staging_pages },
                { "swap_pages", s->swap_pages },
                { "fault_around_pages", s->fault_around_pages },
        };
        if (arg_json) {
                json_object *o = json_object_new_object(), *metrics = json_object_new_object(),
                            *tr = json_object_new_object();
                for (size_t i = 0; i < ELEMENTSOF(m); i++)
                        json_object_object_add(metrics, m[i].name, json_u64(m[i].v));
                json_object_object_add(tr, "pages", json_u64(s->transition_pages));
                json_object_object_add(tr, "time_ms", json_u64(s->transition_time_ms));
                json_object_object_add(o, "state", json_object_new_string(vmmctl_swap_state_to_string(s->state)));
                json_object_object_add(o, "metrics", metrics);
                json_object_object_add(o, "state_transition", tr);
                json_object_object_add(o, "last_error", json_object_new_string(s->last_error));
                print_json(o);
                return;
        }
        printf("state: %s\n", vmmctl_swap_state_to_string(s->state));
        for (size_t i = 0; i < ELEMENTSOF(m); i++)
                printf("%s: %" PRIu64 "\n", m[i].name, m[i].v);
        printf("last transition: %" PRIu64 " pages in %" PRIu64 " ms\n", s->transition_pages, s->transition_time_ms);
        if (s->last_error[0])
                printf("last error: %s\n", s->last_error);
}

static void print_event(const VmmctlEvent *ev)
{
        const char *type = vmmctl_event_type_to_string(ev->type);
        json_object *o = arg_json ? json_object_new_object() : NULL;
        if (o)
                json_object_object_add(o, "event", json_object_new_string(type));

        switch (ev->type) {
        case VMMCTL_EVENT_VM_EXITED:
                if (o) {
                        json_object_object_add(o, "reason",
                                               json_object_new_string(vmmctl_exit_reason_to_string(ev->vm_exited.reason)));
                        json_object_object_add(o, "detail", json_object_new_string(ev->vm_exited.detail));
                        json_object_object_add(o, "guest_code", json_object_new_int(ev->vm_exited.guest_code));
                } else
                        printf("%s reason=%s guest_code=%d detail=%s\n", type,
                               vmmctl_exit_reason_to_string(ev->vm_exited.reason), ev->vm_exited.guest_code,
                               ev->vm_exited.detail);
                break;
        case VMMCTL_EVENT_WATCHDOG_STALL:
                if (o)
                        json_object_object_add(o, "vcpu", json_object_new_int((int)ev->watchdog_stall.vcpu));
                else
                        printf("%s vcpu=%u\n", type, ev->watchdog_stall.vcpu);
                break;
        case VMMCTL_EVENT_SWAP_STATE_CHANGED:
                if (o) {
                        json_object_object_add(
                                o, "state", json_object_new_string(vmmctl_swap_state_to_string(ev->swap_state_changed.state)));
                        json_object_object_add(o, "previous",
                                               json_object_new_string(
                                                       vmmctl_swap_state_to_string(ev->swap_state_changed.previous)));
                } else
                        printf("%s state=%s previous=%s\n", type,
                               vmmctl_swap_state_to_string(ev->swap_state_changed.state),
                               vmmctl_swap_state_to_string(ev->swap_state_changed.previous));
                break;
        case VMMCTL_EVENT_BALLOON_RESIZED:
                if (o) {
                        json_object_object_add(o, "actual_bytes", json_u64(ev->balloon_resized.actual_bytes));
                        json_object_object_add(o, "target_bytes", json_u64(ev->balloon_resized.target_bytes));
                } else
                        printf("%s actual_bytes=%" PRIu64 " target_bytes=%" PRIu64 "\n", type,
                               ev->balloon_resized.actual_bytes, ev->balloon_resized.target_bytes);
                break;
        case VMMCTL_EVENT_DEVICE_RESET:
                if (o) {
                        json_object_object_add(o, "device", json_object_new_string(ev->device_reset.device));
                        json_object_object_add(o, "reason", json_object_new_string(ev->device_reset.reason));
                } else
                        printf("%s device=%s reason=%s\n", type, ev->device_reset.device, ev->device_reset.reason);
                break;
        default:
                break;
        }
        if (o)
                print_json(o);
        fflush(stdout);
}

static int print_ok(const char *what)
{
        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "ok", json_object_new_boolean(true));
                json_object_object_add(o, "operation", json_object_new_string(what));
                print_json(o);
        }
        return 0;
}

/* --- operations -------------------------------------------------------------------------------- */

static int do_call(const VmmctlRequest *req, int timeout_ms)
{
        const char *what = vmmctl_op_to_string(req->op);
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp)
                return report_failure(what, -ENOMEM, NULL);
        int r = vmmctl_call(arg_socket, timeout_ms, req, resp);
        if (r < 0) {
                r = report_failure(what, r, resp->error_message);
                free(resp);
                return r;
        }
        switch (req->op) {
        case VMMCTL_OP_STATUS:
                print_status(&resp->status);
                break;
        case VMMCTL_OP_VCPU_THREADS:
                print_vcpu_threads(&resp->vcpu_threads);
                break;
        case VMMCTL_OP_BALLOON_STATS:
                print_balloon_stats(&resp->balloon_stats);
                break;
        case VMMCTL_OP_SWAP_STATUS:
                print_swap_status(&resp->swap_status);
                break;
        default:
                print_ok(what);
                break;
        }
        free(resp);
        return 0;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int do_events(void)
{
        VmmctlClient *c = NULL;
        long printed = 0;
        int r = vmmctl_subscribe(arg_socket, arg_timeout_ms, &c);
        if (r < 0)
                return report_failure("events", r, "cannot subscribe to events");
        /* On stderr, so that scripts can wait for it without it mixing with the events. */
        fprintf(stderr, "vmmctl: subscribed to events of %s\n", arg_socket);
        uint64_t deadline = arg_timeout_given ? now_ms() + (uint64_t)arg_timeout_ms : 0;

        for (;;) {
                VmmctlEvent ev;
                int left = -1;
                if (deadline) {
                        uint64_t now = now_ms();
                        left = now >= deadline ? 0 : (int)(deadline - now);
                }
                r = vmmctl_wait_event(c, left, &ev);
                if (r == -ETIMEDOUT) {
                        vmmctl_client_free(c);
                        return report_failure("events", r, "timed out waiting for events");
                }
                if (r == -ECONNRESET) {
                        vmmctl_client_free(c);
                        return report_failure("events", r, "the VMM closed the connection without an exit event");
                }
                if (r < 0) {
                        vmmctl_client_free(c);
                        return report_failure("events", r, NULL);
                }
                print_event(&ev);
                printed++;
                if (ev.type == VMMCTL_EVENT_VM_EXITED || (arg_count >= 0 && printed >= arg_count))
                        break;
        }
        vmmctl_client_free(c);
        return 0;
}

/* --- test hooks: raw datagrams ----------------------------------------------------------------- */

static int raw_connect(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(arg_socket) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, arg_socket);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }
        return fd;
}

/* Wait for one datagram and decode it as a response. Returns 0 with *ret_frame, or -errno. */
static int raw_receive(int fd, VmmControl__Frame **ret_frame, ProtocolDiag *d)
{
        static uint8_t buf[MAX_FRAME_SIZE];
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int k = poll(&pfd, 1, arg_timeout_ms);
        if (k < 0)
                return negative_errno();
        if (k == 0)
                return -ETIMEDOUT;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0)
                return negative_errno();
        if (n == 0)
                return -ECONNRESET;
        return protocol_decode(buf, (size_t)n, ret_frame, d);
}

static int hex_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
        size_t n = strlen(s);
        if (n % 2)
                return -EINVAL;
        uint8_t *b = malloc(n / 2 + 1);
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                if (sscanf(s + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)s[2 * i]) ||
                    !isxdigit((unsigned char)s[2 * i + 1])) {
                        free(b);
                        return -EINVAL;
                }
                b[i] = (uint8_t)v;
        }
        *ret = b;
        *ret_len = n / 2;
        return 0;
}

static int do_raw_hex(const char *hex)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        if (hex_decode(hex, &data, &len) < 0)
                return usage_error("test-raw-hex: '%s' is not an even number of hex digits", hex);
        _cleanup_close_ int fd = raw_connect();
        if (fd < 0)
                return report_failure("test-raw-hex", fd, "cannot connect");
        if (send(fd, data, len, MSG_NOSIGNAL) < 0)
                return report_failure("test-raw-hex", negative_errno(), "send failed");
        VmmControl__Frame *f = NULL;
        ProtocolDiag d;
        int r = raw_receive(fd, &f, &d);
        if (r < 0)
                return report_failure("test-raw-hex", r, d.message[0] ? d.message : "no valid reply");
        if (f->body_case != VMM_CONTROL__FRAME__BODY_RESPONSE) {
                protocol_frame_free(f);
                return report_failure("test-raw-hex", -EBADMSG, "the reply is not a response");
        }
        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "id", json_u64(f->response->id));
                json_object_object_add(o, "error", json_object_new_int(f->response->error));
                json_object_object_add(o, "errno", json_object_new_string(f->response->error ? errno_name(f->response->error) : ""));
                json_object_object_add(o, "message", json_object_new_string(strempty(f->response->error_message)));
                print_json(o);
        } else
                printf("response id=%" PRIu64 " error=%d (%s) message=%s\n", f->response->id, f->response->error,
                       f->response->error ? errno_name(f->response->error) : "ok", strempty(f->response->error_message));
        protocol_frame_free(f);
        return 0;
}

static uint64_t rng_state;
static uint64_t rng_next(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

/* One bad frame of kind i % 5 into buf; returns its length. */
static size_t make_garbage(unsigned i, uint8_t *buf, size_t size)
{
        VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
        VmmControl__Request req = VMM_CONTROL__REQUEST__INIT;
        VmmControl__Empty empty = VMM_CONTROL__EMPTY__INIT;
        req.id = 1000 + i;
        req.op_case = VMM_CONTROL__REQUEST__OP_STOP; /* if any of these were accepted, the VM would stop */
        req.stop = &empty;
        f.body_case = VMM_CONTROL__FRAME__BODY_REQUEST;
        f.request = &req;

        switch (i % 5) {
        case 0: { /* random bytes */
                size_t n = 1 + rng_next() % 200;
                for (size_t j = 0; j < n; j++)
                        buf[j] = (uint8_t)rng_next();
                /* A field key of 0 is never valid, so random bytes cannot form a real frame by chance. */
                buf[0] = 0;
                return n;
        }
        case 1: { /* a valid stop request, truncated */
                f.version = PROTOCOL_VERSION;
                size_t n = vmm_control__frame__pack(&f, buf);
                return 1 + rng_next() % (n - 1);
        }
        case 2: /* wrong protocol version */
                f.version = 2 + (uint32_t)(rng_next() % 100);
                return vmm_control__frame__pack(&f, buf);
        case 3: /* no version at all */
                f.version = 0;
                return vmm_control__frame__pack(&f, buf);
        default: /* larger than MAX_FRAME_SIZE */
                memset(buf, 0x08, size);
                return MAX_FRAME_SIZE + 1 + rng_next() % 1000;
        }
}

static int do_garbage(unsigned long n, unsigned long seed)
{
        static uint8_t buf[MAX_FRAME_SIZE + 2048];
        unsigned long errors = 0;

        rng_state = seed ?: 0x2545f4914f6cdd1du;
        _cleanup_close_ int fd = raw_connect();
        if (fd < 0)
                return report_failure("test-garbage", fd, "cannot connect");
        for (unsigned long i = 0; i < n; i++) {
                size_t len = make_garbage((unsigned)i, buf, sizeof(buf));
                if (send(fd, buf, len, MSG_NOSIGNAL) < 0)
                        return report_failure("test-garbage", negative_errno(), "send failed (did the VMM die?)");
                VmmControl__Frame *f = NULL;
                ProtocolDiag d;
                int r = raw_receive(fd, &f, &d);
                if (r < 0)
                        return report_failure("test-garbage", r, "no valid reply to a bad frame");
                bool is_error = f->body_case == VMM_CONTROL__FRAME__BODY_RESPONSE && f->response->error != 0;
                protocol_frame_free(f);
                if (!is_error) {
                        char msg[96];
                        snprintf(msg, sizeof(msg), "bad frame %lu (kind %lu) was not answered with an error", i, i % 5);
                        return report_failure("test-garbage", -EPROTO, msg);
                }
                errors++;
        }
        /* The VMM must still be serving, on a fresh connection. */
        VmmctlStatus st;
        int r = vmmctl_status(arg_socket, arg_timeout_ms, &st);
        if (r < 0)
                return report_failure("test-garbage", r, "status failed after the bad frames");
        if (arg_json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "sent", json_u64(n));
                json_object_object_add(o, "error_replies", json_u64(errors));
                json_object_object_add(o, "state", json_object_new_string(vmmctl_run_state_to_string(st.state)));
                print_json(o);
        } else
                printf("sent %lu bad frames, %lu error replies; VMM still serving (state %s)\n", n, errors,
                       vmmctl_run_state_to_string(st.state));
        return 0;
}

/* --- main -------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
        const char *pos[8];
        size_t n_pos = 0;
        unsigned long seed = 0, ul;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (streq(a, "--help") || streq(a, "-h")) {
                        usage(stdout);
                        return 0;
                } else if (streq(a, "--json"))
                        arg_json = true;
                else if (streq(a, "--wait"))
                        arg_wait = true;
                else if (streq(a, "--slow-file-cleanup"))
                        arg_slow_file_cleanup = true;
                else if (streq(a, "--timeout") || streq(a, "--count") || streq(a, "--seed")) {
                        if (i + 1 >= argc)
                                return usage_error("%s needs a value", a);
                        const char *v = argv[++i];
                        if (parse_uint(v, streq(a, "--seed") ? ULONG_MAX : INT32_MAX, &ul) < 0)
                                return usage_error("%s: invalid value '%s'", a, v);
                        if (streq(a, "--timeout")) {
                                if (ul == 0)
                                        return usage_error("--timeout must be at least 1 ms");
                                arg_timeout_ms = (int)ul;
                                arg_timeout_given = true;
                        } else if (streq(a, "--count"))
                                arg_count = (long)ul;
                        else
                                seed = ul;
                } else if (a[0] == '-' && a[1] == '-')
                        return usage_error("unknown option '%s'", a);
                else {
                        if (n_pos >= ELEMENTSOF(pos))
                                return usage_error("too many arguments");
                        pos[n_pos++] = a;
                }
        }
        if (n_pos < 2)
                return usage_error("expected SOCKET and an operation");
        arg_socket = pos[0];
        const char *op = pos[1];
        const char *sub = n_pos > 2 ? pos[2] : NULL;
        VmmctlRequest req = {};

#define EXPECT_ARGS(n)                                                                                       \
        do {                                                                                                 \
                if (n_pos != (n))                                                                            \
                        return usage_error("%s: wrong number of arguments", op);                             \
        } while (0)

        if (streq(op, "status") || streq(op, "vcpu-threads") || streq(op, "pause") || streq(op, "resume") ||
            streq(op, "stop")) {
                EXPECT_ARGS(2);
                req.op = vmmctl_op_from_string(op);
                return do_call(&req, arg_timeout_ms);
        }
        if (streq(op, "events")) {
                EXPECT_ARGS(2);
                return do_events();
        }
        if (streq(op, "balloon")) {
                if (sub && streq(sub, "set")) {
                        EXPECT_ARGS(4);
                        if ((r = parse_size(pos[3], &req.balloon_set.num_bytes)) < 0)
                                return usage_error("balloon set: invalid size '%s'", pos[3]);
                        req.op = VMMCTL_OP_BALLOON_SET;
                        req.balloon_set.wait = arg_wait;
                        req.balloon_set.timeout_ms = arg_wait ? (uint32_t)arg_timeout_ms : 0;
                        /* With --wait the VMM answers after up to --timeout; give the transport a margin. */
                        return do_call(&req, arg_wait ? arg_timeout_ms + 2000 : arg_timeout_ms);
                }
                if (sub && streq(sub, "stats")) {
                        EXPECT_ARGS(3);
                        req.op = VMMCTL_OP_BALLOON_STATS;
                        req.balloon_stats.timeout_ms = (uint32_t)arg_timeout_ms;
                        return do_call(&req, arg_timeout_ms + 2000);
                }
                return usage_error("balloon: expected 'set SIZE' or 'stats'");
        }
        if (streq(op, "swap")) {
                static const struct {
                        const char *name;
                        VmmctlOp op;
                } swap_ops[] = {
                        { "enable", VMMCTL_OP_SWAP_ENABLE }, { "trim", VMMCTL_OP_SWAP_TRIM },
                        { "out", VMMCTL_OP_SWAP_OUT },       { "disable", VMMCTL_OP_SWAP_DISABLE },
                        { "status", VMMCTL_OP_SWAP_STATUS },
                };
                for (size_t i = 0; sub && i < ELEMENTSOF(swap_ops); i++)
                        if (streq(sub, swap_ops[i].name)) {
                                EXPECT_ARGS(3);
                                req.op = swap_ops[i].op;
                                req.swap_disable.slow_file_cleanup = arg_slow_file_cleanup && req.op == VMMCTL_OP_SWAP_DISABLE;
                                return do_call(&req, arg_timeout_ms);
                        }
                return usage_error("swap: expected enable, trim, out, disable or status");
        }
        if (streq(op, "watchdog")) {
                req.op = VMMCTL_OP_WATCHDOG_CONFIG;
                if (sub && streq(sub, "enable") && (n_pos == 3 || n_pos == 4)) {
                        req.watchdog_config.enable = true;
                        if (n_pos == 4) {
                                if (parse_uint(pos[3], UINT32_MAX, &ul) < 0 || ul == 0)
                                        return usage_error("watchdog enable: invalid timeout '%s'", pos[3]);
                                req.watchdog_config.timeout_ms = (uint32_t)ul;
                        }
                        return do_call(&req, arg_timeout_ms);
                }
                if (sub && streq(sub, "disable") && n_pos == 3)
                        return do_call(&req, arg_timeout_ms);
                return usage_error("watchdog: expected 'enable [MS]' or 'disable'");
        }
        if (streq(op, "test-raw-hex")) {
                EXPECT_ARGS(3);
                return do_raw_hex(sub);
        }
        if (streq(op, "test-garbage")) {
                EXPECT_ARGS(3);
                if (parse_uint(sub, 1000000, &ul) < 0)
                        return usage_error("test-garbage: invalid count '%s'", sub);
                return do_garbage(ul, seed);
        }
        return usage_error("unknown operation '%s'", op);
}
