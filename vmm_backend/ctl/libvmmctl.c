/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvmmctl: non-blocking and blocking clients of the VMM control socket. */
#include "vmm_backend/ctl/libvmmctl.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "vmm_backend/ctl/protocol.h"
#include "vmm_backend/macro.h"

/* --- string tables ----------------------------------------------------------------------------- */

static int table_from_string(const char *const *table, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int)i;
        return -EINVAL;
}

#define TABLE_LOOKUP(table, i) ((unsigned)(i) < ELEMENTSOF(table) ? (table)[i] : NULL)

static const char *const op_table[_VMMCTL_OP_MAX] = {
        [VMMCTL_OP_STATUS] = "status",
        [VMMCTL_OP_PAUSE] = "pause",
        [VMMCTL_OP_RESUME] = "resume",
        [VMMCTL_OP_STOP] = "stop",
        [VMMCTL_OP_SUBSCRIBE] = "subscribe",
        [VMMCTL_OP_VCPU_THREADS] = "vcpu-threads",
        [VMMCTL_OP_BALLOON_SET] = "balloon-set",
        [VMMCTL_OP_BALLOON_STATS] = "balloon-stats",
        [VMMCTL_OP_SWAP_ENABLE] = "swap-enable",
        [VMMCTL_OP_SWAP_TRIM] = "swap-trim",
        [VMMCTL_OP_SWAP_OUT] = "swap-out",
        [VMMCTL_OP_SWAP_DISABLE] = "swap-disable",
        [VMMCTL_OP_SWAP_STATUS] = "swap-status",
        [VMMCTL_OP_WATCHDOG_CONFIG] = "watchdog-config",
};

static const char *const run_state_table[_VMMCTL_RUN_STATE_MAX] = {
        [VMMCTL_RUN_UNKNOWN] = "unknown",   [VMMCTL_RUN_STARTING] = "starting",
        [VMMCTL_RUN_RUNNING] = "running",   [VMMCTL_RUN_PAUSED] = "paused",
        [VMMCTL_RUN_STOPPING] = "stopping",
};

static const char *const exit_reason_table[_VMMCTL_EXIT_REASON_MAX] = {
        [VMMCTL_EXIT_UNKNOWN] = "unknown",
        [VMMCTL_EXIT_GUEST_REQUESTED] = "guest-requested",
        [VMMCTL_EXIT_CRASHED] = "crashed",
        [VMMCTL_EXIT_STOPPED_BY_REQUEST] = "stopped-by-request",
        [VMMCTL_EXIT_WATCHDOG_RESET] = "watchdog-reset",
};

static const char *const swap_state_table[_VMMCTL_SWAP_STATE_MAX] = {
        [VMMCTL_SWAP_READY] = "Ready",
        [VMMCTL_SWAP_FAILED] = "Failed",
        [VMMCTL_SWAP_PENDING] = "Pending",
        [VMMCTL_SWAP_TRIM_IN_PROGRESS] = "TrimInProgress",
        [VMMCTL_SWAP_SWAP_OUT_IN_PROGRESS] = "SwapOutInProgress",
        [VMMCTL_SWAP_ACTIVE] = "Active",
        [VMMCTL_SWAP_SWAP_IN_IN_PROGRESS] = "SwapInInProgress",
};

static const char *const event_type_table[_VMMCTL_EVENT_TYPE_MAX] = {
        [VMMCTL_EVENT_VM_EXITED] = "vm-exited",
        [VMMCTL_EVENT_WATCHDOG_STALL] = "watchdog-stall",
        [VMMCTL_EVENT_SWAP_STATE_CHANGED] = "swap-state-changed",
        [VMMCTL_EVENT_BALLOON_RESIZED] = "balloon-resized",
        [VMMCTL_EVENT_DEVICE_RESET] = "device-reset",
};

const char *vmmctl_op_to_string(VmmctlOp op)
{
        return TABLE_LOOKUP(op_table, op);
}
VmmctlOp vmmctl_op_from_string(const char *s)
{
        return table_from_string(op_table, ELEMENTSOF(op_table), s);
}
const char *vmmctl_run_state_to_string(VmmctlRunState s)
{
        return TABLE_LOOKUP(run_state_table, s);
}
VmmctlRunState vmmctl_run_state_from_string(const char *s)
{
        return table_from_string(run_state_table, ELEMENTSOF(run_state_table), s);
}
const char *vmmctl_exit_reason_to_string(VmmctlExitReason r)
{
        return TABLE_LOOKUP(exit_reason_table, r);
}
VmmctlExitReason vmmctl_exit_reason_from_string(const char *s)
{
        return table_from_string(exit_reason_table, ELEMENTSOF(exit_reason_table), s);
}
const char *vmmctl_swap_state_to_string(VmmctlSwapState s)
{
        return TABLE_LOOKUP(swap_state_table, s);
}
VmmctlSwapState vmmctl_swap_state_from_string(const char *s)
{
        return table_from_string(swap_state_table, ELEMENTSOF(swap_state_table), s);
}
const char *vmmctl_event_type_to_string(VmmctlEventType t)
{
        return TABLE_LOOKUP(event_type_table, t);
}
VmmctlEventType vmmctl_event_type_from_string(const char *s)
{
        return table_from_string(event_type_table, ELEMENTSOF(event_type_table), s);
}

/* VmmctlOp <-> protobuf op case. */
static const VmmControl__Request__OpCase op_cases[_VMMCTL_OP_MAX] = {
        [VMMCTL_OP_STATUS] = VMM_CONTROL__REQUEST__OP_STATUS,
        [VMMCTL_OP_PAUSE] = VMM_CONTROL__REQUEST__OP_PAUSE,
        [VMMCTL_OP_RESUME] = VMM_CONTROL__REQUEST__OP_RESUME,
        [VMMCTL_OP_STOP] = VMM_CONTROL__REQUEST__OP_STOP,
        [VMMCTL_OP_SUBSCRIBE] = VMM_CONTROL__REQUEST__OP_SUBSCRIBE,
        [VMMCTL_OP_VCPU_THREADS] = VMM_CONTROL__REQUEST__OP_VCPU_THREADS,
        [VMMCTL_OP_BALLOON_SET] = VMM_CONTROL__REQUEST__OP_BALLOON_SET,
        [VMMCTL_OP_BALLOON_STATS] = VMM_CONTROL__REQUEST__OP_BALLOON_STATS,
        [VMMCTL_OP_SWAP_ENABLE] = VMM_CONTROL__REQUEST__OP_SWAP_ENABLE,
        [VMMCTL_OP_SWAP_TRIM] = VMM_CONTROL__REQUEST__OP_SWAP_TRIM,
        [VMMCTL_OP_SWAP_OUT] = VMM_CONTROL__REQUEST__OP_SWAP_OUT,
        [VMMCTL_OP_SWAP_DISABLE] = VMM_CONTROL__REQUEST__OP_SWAP_DISABLE,
        [VMMCTL_OP_SWAP_STATUS] = VMM_CONTROL__REQUEST__OP_SWAP_STATUS,
        [VMMCTL_OP_WATCHDOG_CONFIG] = VMM_CONTROL__REQUEST__OP_WATCHDOG_CONFIG,
};

/* --- client state ------------------------------------------------------------------------------ */

typedef struct Pending Pending;
struct Pending {
        Pending *next;
        uint64_t id;
        VmmctlOp op;
        uint64_t deadline;
        VmmctlResponseHandler cb;
        void *userdata;
};

typedef struct OutFrame OutFrame;
struct OutFrame {
        OutFrame *next;
        size_t len;
        uint8_t data[];
};

/* Events kept for vmmctl_wait_event(); beyond this many unread ones, new ones are dropped. */
#define EVENT_QUEUE_MAX 256

struct VmmctlClient {
        int fd;
        uint64_t next_id;
        Pending *pending;
        unsigned n_pending;
        OutFrame *out_head, *out_tail;
        VmmctlEventHandler event_cb;
        void *event_userdata;
        bool disconnected;
        unsigned unmatched;
        unsigned busy;          /* nesting of process()/check_timeouts() */
        bool free_requested;    /* vmmctl_client_free() called from a callback */
        /* the blocking subscription's queue */
        VmmctlEvent *events;
        unsigned ev_head, n_events;
        uint8_t *buf;           /* MAX_FRAME_SIZE */
};

static int client_new(int fd, VmmctlClient **ret)
{
        VmmctlClient *c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->buf = malloc(MAX_FRAME_SIZE);
        if (!c->buf) {
                free(c);
                safe_close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        c->next_id = 1;
        *ret = c;
        return 0;
}

int vmmctl_client_adopt_fd(int fd, VmmctlClient **ret)
{
        if (fd < 0 || !ret)
                return -EINVAL;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                int r = negative_errno();
                safe_close(fd);
                return r;
        }
        return client_new(fd, ret);
}

int vmmctl_client_connect(const char *path, VmmctlClient **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (!path || !ret || !*path)
                return -EINVAL;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return negative_errno();
        return client_new(TAKE_FD(fd), ret);
}

int vmmctl_client_fd(VmmctlClient *c)
{
        return c ? c->fd : -EBADF;
}

uint32_t vmmctl_client_poll_events(VmmctlClient *c)
{
        return POLLIN | (c && c->out_head ? POLLOUT : 0);
}

void vmmctl_client_set_event_handler(VmmctlClient *c, VmmctlEventHandler cb, void *userdata)
{
        c->event_cb = cb;
        c->event_userdata = userdata;
}

unsigned vmmctl_client_pending(VmmctlClient *c)
{
        return c ? c->n_pending : 0;
}

unsigned vmmctl_client_unmatched(VmmctlClient *c)
{
        return c ? c->unmatched : 0;
}

/* Fail one request (already unlinked) with an error of ours. */
static void pending_fail(VmmctlClient *c, Pending *p, int error, const char *message)
{
        VmmctlResponse resp = { .id = p->id, .op = p->op, .error = error };
        snprintf(resp.error_message, sizeof(resp.error_message), "%s", message ?: strerror(-error));
        if (p->cb)
                p->cb(c, &resp, p->userdata);
        free(p);
}

static Pending *pending_take(VmmctlClient *c, uint64_t id)
{
        for (Pending **pp = &c->pending; *pp; pp = &(*pp)->next)
                if ((*pp)->id == id) {
                        Pending *p = *pp;
                        *pp = p->next;
                        c->n_pending--;
                        return p;
                }
        return NULL;
}

static void fail_all(VmmctlClient *c, int error, const char *message)
{
        while (c->pending) {
                Pending *p = c->pending;
                c->pending = p->next;
                c->n_pending--;
                pending_fail(c, p, error, message);
        }
}

static void client_destroy(VmmctlClient *c)
{
        fail_all(c, -ECANCELED, "the client was closed");
        while (c->out_head) {
                OutFrame *o = c->out_head;
                c->out_head = o->next;
                free(o);
        }
        safe_close(c->fd);
        free(c->events);
        free(c->buf);
        free(c);
}

VmmctlClient *vmmctl_client_free(VmmctlClient *c)
{
        if (!c)
                return NULL;
        if (c->busy > 0) {
                c->free_requested = true;
                return NULL;
        }
        if (c->free_requested)
                return NULL; /* already being destroyed (called from a -ECANCELED callback) */
        c->free_requested = true;
        client_destroy(c);
        return NULL;
}

/* Drop the last reference of a process()/check_timeouts() frame; true if the client is gone. */
static bool client_unbusy(VmmctlClient *c)
{
        if (--c->busy == 0 && c->free_requested) {
                client_destroy(c);
                return true;
        }
        return false;
}

/* --- sending ----------------------------------------------------------------------------------- */

static int client_flush(VmmctlClient *c)
{
        while (c->out_head) {
                OutFrame *o = c->out_head;
                ssize_t n = send(c->fd, o->data, o->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return negative_errno();
                }
                c->out_head = o->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                free(o);
        }
        return 0;
}

static int build_request(const VmmctlRequest *req, uint64_t id, uint8_t *out, size_t *ret_len)
{
        VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
        VmmControl__Request r = VMM_CONTROL__REQUEST__INIT;
        VmmControl__Empty empty = VMM_CONTROL__EMPTY__INIT;
        VmmControl__BalloonSetRequest bset = VMM_CONTROL__BALLOON_SET_REQUEST__INIT;
        VmmControl__BalloonStatsRequest bstats = VMM_CONTROL__BALLOON_STATS_REQUEST__INIT;
        VmmControl__SwapDisableRequest sdis = VMM_CONTROL__SWAP_DISABLE_REQUEST__INIT;
        VmmControl__WatchdogConfigRequest wd = VMM_CONTROL__WATCHDOG_CONFIG_REQUEST__INIT;

        if ((unsigned)req->op >= _VMMCTL_OP_MAX)
                return -EINVAL;
        r.id = id;
        r.op_case = op_cases[req->op];
        switch (req->op) {
        case VMMCTL_OP_BALLOON_SET:
                bset.num_bytes = req->balloon_set.num_bytes;
                bset.wait = req->balloon_set.wait;
                bset.timeout_ms = req->balloon_set.timeout_ms;
                r.balloon_set = &bset;
                break;
        case VMMCTL_OP_BALLOON_STATS:
                bstats.timeout_ms = req->balloon_stats.timeout_ms;
                r.balloon_stats = &bstats;
                break;
        case VMMCTL_OP_SWAP_DISABLE:
                sdis.slow_file_cleanup = req->swap_disable.slow_file_cleanup;
                r.swap_disable = &sdis;
                break;
        case VMMCTL_OP_WATCHDOG_CONFIG:
                wd.enable = req->watchdog_config.enable;
                wd.timeout_ms = req->watchdog_config.timeout_ms;
                r.watchdog_config = &wd;
                break;
        default:
                /* All other ops carry an Empty; they share the oneof's storage. */
                r.status = &empty;
                break;
        }
        f.version = PROTOCOL_VERSION;
        f.body_case = VMM_CONTROL__FRAME__BODY_REQUEST;
        f.request = &r;
        return protocol_encode(&f, out, MAX_FRAME_SIZE, ret_len);
}

int vmmctl_client_send(VmmctlClient *c, const VmmctlRequest *req, uint64_t deadline, VmmctlResponseHandler cb,
                       void *userdata, uint64_t *ret_id)
{
        size_t len;
        int r;

        if (!c || !req || c->free_requested)
                return -EINVAL;
        if (c->disconnected)
                return -ENOTCONN;
        uint64_t id = c->next_id;
        r = build_request(req, id, c->buf, &len);
        if (r < 0)
                return r;

        Pending *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = (Pending){ .id = id, .op = req->op, .deadline = deadline, .cb = cb, .userdata = userdata };

        bool sent = false;
        if (!c->out_head) {
                ssize_t n = send(c->fd, c->buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n >= 0)
                        sent = true;
                else if (errno != EAGAIN && errno != EINTR) {
                        r = negative_errno();
                        free(p);
                        if (r == -EPIPE || r == -ECONNRESET || r == -ENOTCONN) {
                                c->disconnected = true;
                                return -ENOTCONN;
                        }
                        return r;
                }
        }
        if (!sent) {
                OutFrame *o = malloc(sizeof(*o) + len);
                if (!o) {
                        free(p);
                        return -ENOMEM;
                }
                o->next = NULL;
                o->len = len;
                memcpy(o->data, c->buf, len);
                if (c->out_tail)
                        c->out_tail->next = o;
                else
                        c->out_head = o;
                c->out_tail = o;
        }
        c->next_id++;
        /* Append, so that pending requests stay in sending order. */
        Pending **pp = &c->pending;
        while (*pp)
                pp = &(*pp)->next;
        *pp = p;
        c->n_pending++;
        if (ret_id)
                *ret_id = id;
        return 0;
}

/* --- receiving --------------------------------------------------------------------------------- */

static void copy_string(char *dst, size_t size, const char *src)
{
        snprintf(dst, size, "%s", strempty(src));
}

static VmmctlSwapState swap_state_from_proto(int s)
{
        return s >= 0 && s < _VMMCTL_SWAP_STATE_MAX ? (VmmctlSwapState)s : VMMCTL_SWAP_FAILED;
}

/* Fill resp's result for the request's op; -EBADMSG if the VMM sent the wrong one. */
static int response_result(const VmmControl__Response *pr, VmmctlResponse *resp)
{
        switch (resp->op) {
        case VMMCTL_OP_STATUS: {
                if (pr->result_case != VMM_CONTROL__RESPONSE__RESULT_STATUS)
                        return -EBADMSG;
                const VmmControl__StatusResponse *s = pr->status;
                VmmctlStatus *st = &resp->status;
                st->state = (int)s->state < (int)_VMMCTL_RUN_STATE_MAX ? (VmmctlRunState)s->state : VMMCTL_RUN_UNKNOWN;
                st->vcpus = s->vcpus;
                st->memory_bytes = s->memory_bytes;
                st->pid = s->pid;
                st->n_vcpu_tids = (unsigned)MIN(s->n_vcpu_tids, (size_t)VMMCTL_MAX_VCPUS);
                for (unsigned i = 0; i < st->n_vcpu_tids; i++)
                        st->vcpu_tids[i] = s->vcpu_tids[i];
                st->uptime_ms = s->uptime_ms;
                copy_string(st->kernel_format, sizeof(st->kernel_format), s->kernel_format);
                st->resident_bytes = s->resident_bytes;
                return 0;
        }
        case VMMCTL_OP_VCPU_THREADS: {
                if (pr->result_case != VMM_CONTROL__RESPONSE__RESULT_VCPU_THREADS)
                        return -EBADMSG;
                VmmctlVcpuThreads *vt = &resp->vcpu_threads;
                vt->pid = pr->vcpu_threads->pid;
                vt->n_tids = (unsigned)MIN(pr->vcpu_threads->n_tids, (size_t)VMMCTL_MAX_VCPUS);
                for (unsigned i = 0; i < vt->n_tids; i++)
                        vt->tids[i] = pr->vcpu_threads->tids[i];
                return 0;
        }
        case VMMCTL_OP_BALLOON_STATS: {
                if (pr->result_case != VMM_CONTROL__RESPONSE__RESULT_BALLOON_STATS)
                        return -EBADMSG;
                const VmmControl__BalloonStatsResponse *b = pr->balloon_stats;
                resp->balloon_stats = (VmmctlBalloonStats){
                        .swap_in = b->swap_in,
                        .swap_out = b->swap_out,
                        .major_faults = b->major_faults,
                        .minor_faults = b->minor_faults,
                        .free_memory = b->free_memory,
                        .total_memory = b->total_memory,
                        .available_memory = b->available_memory,
                        .disk_caches = b->disk_caches,
                        .hugetlb_allocations = b->hugetlb_allocations,
                        .hugetlb_failures = b->hugetlb_failures,
                        .shared_memory = b->shared_memory,
                        .unevictable_memory = b->unevictable_memory,
                        .balloon_actual = b->balloon_actual,
                };
                return 0;
        }
        case VMMCTL_OP_SWAP_STATUS: {
                if (pr->result_case != VMM_CONTROL__RESPONSE__RESULT_SWAP_STATUS)
                        return -EBADMSG;
                const VmmControl__SwapStatus *s = pr->swap_status;
                VmmctlSwapStatus *st = &resp->swap_status;
                st->state = swap_state_from_proto(s->state);
                if (s->metrics) {
                        st->resident_pages = s->metrics->resident_pages;
                        st->copied_from_file_pages = s->metrics->copied_from_file_pages;
                        st->copied_from_staging_pages = s->metrics->copied_from_staging_pages;
                        st->zeroed_pages = s->metrics->zeroed_pages;
                        st->redundant_pages = s->metrics->redundant_pages;
                        st->staging_pages = s->metrics->staging_pages;
                        st->swap_pages = s->metrics->swap_pages;
                        st->fault_around_pages = s->metrics->fault_around_pages;
                }
                if (s->state_transition) {
                        st->transition_pages = s->state_transition->pages;
                        st->transition_time_ms = s->state_transition->time_ms;
                }
                copy_string(st->last_error, sizeof(st->last_error), s->last_error);
                return 0;
        }
        default:
                return pr->result_case == VMM_CONTROL__RESPONSE__RESULT__NOT_SET ? 0 : -EBADMSG;
        }
}

static void handle_response(VmmctlClient *c, const VmmControl__Response *pr)
{
        Pending *p = pending_take(c, pr->id);
        if (!p) {
                c->unmatched++;
                return;
        }
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp) {
                pending_fail(c, p, -ENOMEM, NULL);
                return;
        }
        resp->id = p->id;
        resp->op = p->op;
        if (pr->error != 0) {
                /* errno values are small; anything else is still an error, reported as EIO. */
                resp->error = pr->error > 0 && pr->error < 4096 ? -pr->error : -EIO;
                copy_string(resp->error_message, sizeof(resp->error_message),
                            pr->error_message && *pr->error_message ? pr->error_message : strerror(-resp->error));
        } else if (response_result(pr, resp) < 0) {
                resp->error = -EBADMSG;
                snprintf(resp->error_message, sizeof(resp->error_message),
                         "the VMM's response to %s carries the wrong result", vmmctl_op_to_string(p->op));
        }
        if (p->cb)
                p->cb(c, resp, p->userdata);
        free(resp);
        free(p);
}

static void handle_event(VmmctlClient *c, const VmmControl__Event *pe)
{
        VmmctlEvent ev = {};

        switch (pe->kind_case) {
        case VMM_CONTROL__EVENT__KIND_VM_EXITED:
                ev.type = VMMCTL_EVENT_VM_EXITED;
                ev.vm_exited.reason = (int)pe->vm_exited->reason < (int)_VMMCTL_EXIT_REASON_MAX
                                              ? (VmmctlExitReason)pe->vm_exited->reason
                                              : VMMCTL_EXIT_UNKNOWN;
                copy_string(ev.vm_exited.detail, sizeof(ev.vm_exited.detail), pe->vm_exited->detail);
                ev.vm_exited.guest_code = pe->vm_exited->guest_code;
                break;
        case VMM_CONTROL__EVENT__KIND_WATCHDOG_STALL:
                ev.type = VMMCTL_EVENT_WATCHDOG_STALL;
                ev.watchdog_stall.vcpu = pe->watchdog_stall->vcpu;
                break;
        case VMM_CONTROL__EVENT__KIND_SWAP_STATE_CHANGED:
                ev.type = VMMCTL_EVENT_SWAP_STATE_CHANGED;
                ev.swap_state_changed.state = swap_state_from_proto(pe->swap_state_changed->state);
                ev.swap_state_changed.previous = swap_state_from_proto(pe->swap_state_changed->previous);
                break;
        case VMM_CONTROL__EVENT__KIND_BALLOON_RESIZED:
                ev.type = VMMCTL_EVENT_BALLOON_RESIZED;
                ev.balloon_resized.actual_bytes = pe->balloon_resized->actual_bytes;
                ev.balloon_resized.target_bytes = pe->balloon_resized->target_bytes;
                break;
        case VMM_CONTROL__EVENT__KIND_DEVICE_RESET:
                ev.type = VMMCTL_EVENT_DEVICE_RESET;
                copy_string(ev.device_reset.device, sizeof(ev.device_reset.device), pe->device_reset->device);
                copy_string(ev.device_reset.reason, sizeof(ev.device_reset.reason), pe->device_reset->reason);
                break;
        default:
                c->unmatched++;
                return;
        }
        if (c->event_cb)
                c->event_cb(c, &ev, c->event_userdata);
}

/* Read and handle one datagram: 1 if one was handled, 0 if none is waiting, -ECONNRESET at EOF. */
static int client_read_one(VmmctlClient *c)
{
        ssize_t n = recv(c->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                return -ECONNRESET;
        }
        if (n == 0)
                return -ECONNRESET; /* the VMM never sends empty frames */
        if ((size_t)n > MAX_FRAME_SIZE) {
                (void)recv(c->fd, c->buf, 1, MSG_DONTWAIT); /* drops the datagram */
                c->unmatched++;
                return 1;
        }
        n = recv(c->fd, c->buf, MAX_FRAME_SIZE, MSG_DONTWAIT);
        if (n <= 0)
                return n < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -ECONNRESET;

        VmmControl__Frame *f = NULL;
        ProtocolDiag d;
        int r = protocol_decode(c->buf, (size_t)n, &f, &d);
        if (r < 0) {
                Pending *p = d.id ? pending_take(c, d.id) : NULL;
                if (p) {
                        char msg[VMMCTL_MESSAGE_MAX];
                        snprintf(msg, sizeof(msg), "bad response from the VMM: %s", d.message);
                        pending_fail(c, p, r, msg);
                } else
                        c->unmatched++;
                return 1;
        }
        if (f->body_case == VMM_CONTROL__FRAME__BODY_RESPONSE)
                handle_response(c, f->response);
        else if (f->body_case == VMM_CONTROL__FRAME__BODY_EVENT)
                handle_event(c, f->event);
        else
                c->unmatched++;
        protocol_frame_free(f);
        return 1;
}

int vmmctl_client_process(VmmctlClient *c)
{
        int r = 0;

        if (!c || c->free_requested)
                return -EINVAL;
        if (c->disconnected)
                return -ECONNRESET;
        c->busy++;
        if (client_flush(c) < 0)
                r = -ECONNRESET;
        /* Bounded, so that one chatty VMM cannot starve the caller's loop. */
        for (unsigned i = 0; r == 0 && i < 64 && !c->free_requested; i++) {
                int k = client_read_one(c);
                if (k < 0)
                        r = k;
                else if (k == 0)
                        break;
        }
        if (r == -ECONNRESET && !c->free_requested) {
                c->disconnected = true;
                fail_all(c, -ECONNRESET, "the VMM closed the control connection");
        }
        if (client_unbusy(c))
                return -ECANCELED;
        return r;
}

int vmmctl_client_check_timeouts(VmmctlClient *c, uint64_t now, uint64_t *ret_next)
{
        int n = 0;
        uint64_t next = 0;

        if (!c || c->free_requested)
                return -EINVAL;
        c->busy++;
        for (;;) {
                Pending **pp, *expired = NULL;
                for (pp = &c->pending; *pp; pp = &(*pp)->next)
                        if ((*pp)->deadline != 0 && (*pp)->deadline <= now) {
                                expired = *pp;
                                *pp = expired->next;
                                c->n_pending--;
                                break;
                        }
                if (!expired || c->free_requested)
                        break;
                char msg[96];
                snprintf(msg, sizeof(msg), "no answer from the VMM to %s in time", vmmctl_op_to_string(expired->op));
                pending_fail(c, expired, -ETIMEDOUT, msg);
                n++;
        }
        for (Pending *p = c->pending; p; p = p->next)
                if (p->deadline != 0 && (next == 0 || p->deadline < next))
                        next = p->deadline;
        if (client_unbusy(c))
                return -ECANCELED;
        if (ret_next)
                *ret_next = next;
        return n;
}

/* --- blocking API ------------------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for the fd until deadline (ms, CLOCK_MONOTONIC; 0 = forever). 1 ready, 0 timed out. */
static int wait_fd(VmmctlClient *c, uint64_t deadline)
{
        for (;;) {
                int timeout = -1;
                if (deadline) {
                        uint64_t now = now_ms();
                        if (now >= deadline)
                                return 0;
                        timeout = (int)MIN(deadline - now, (uint64_t)INT32_MAX);
                }
                struct pollfd pfd = { .fd = c->fd, .events = (short)vmmctl_client_poll_events(c) };
                int k = poll(&pfd, 1, timeout);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return 0;
                return 1;
        }
}

static int connect_until(const char *path, uint64_t deadline, VmmctlClient **ret)
{
        for (;;) {
                int r = vmmctl_client_connect(path, ret);
                /* EAGAIN: the VMM's accept backlog is full; it drains quickly. */
                if (r != -EAGAIN)
                        return r;
                if (now_ms() >= deadline)
                        return -ETIMEDOUT;
                nanosleep(&(struct timespec){ .tv_nsec = 2 * 1000 * 1000 }, NULL);
        }
}

typedef struct CallState {
        bool done;
        VmmctlResponse *resp;
} CallState;

static void call_done(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        CallState *st = userdata;
        *st->resp = *resp;
        st->done = true;
}

/* Send req on c and wait for its answer until deadline. */
static int client_call(VmmctlClient *c, const VmmctlRequest *req, uint64_t deadline, VmmctlResponse *resp)
{
        CallState st = { .resp = resp };
        int r = vmmctl_client_send(c, req, deadline, call_done, &st, NULL);
        if (r < 0)
                return r;
        while (!st.done) {
                r = wait_fd(c, deadline);
                if (r < 0)
                        return r;
                if (r == 0) {
                        (void)vmmctl_client_check_timeouts(c, deadline, NULL);
                        continue;
                }
                r = vmmctl_client_process(c);
                if (r < 0 && !st.done)
                        return r;
        }
        return resp->error;
}

int vmmctl_call(const char *path, int timeout_ms, const VmmctlRequest *req, VmmctlResponse *ret_resp)
{
        VmmctlClient *c = NULL;
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 5000);
        int r = connect_until(path, deadline, &c);
        if (r >= 0)
                r = client_call(c, req, deadline, resp);
        else {
                resp->error = r;
                snprintf(resp->error_message, sizeof(resp->error_message), "cannot connect to %s: %s", path,
                         strerror(-r));
        }
        vmmctl_client_free(c);
        if (ret_resp)
                *ret_resp = *resp;
        free(resp);
        return r;
}

static int call_simple(const char *path, int timeout_ms, VmmctlOp op, VmmctlResponse *ret)
{
        VmmctlRequest req = { .op = op };
        return vmmctl_call(path, timeout_ms, &req, ret);
}

int vmmctl_status(const char *path, int timeout_ms, VmmctlStatus *ret)
{
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        int r = call_simple(path, timeout_ms, VMMCTL_OP_STATUS, resp);
        if (r >= 0 && ret)
                *ret = resp->status;
        free(resp);
        return r;
}

int vmmctl_vcpu_threads(const char *path, int timeout_ms, VmmctlVcpuThreads *ret)
{
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        int r = call_simple(path, timeout_ms, VMMCTL_OP_VCPU_THREADS, resp);
        if (r >= 0 && ret)
                *ret = resp->vcpu_threads;
        free(resp);
        return r;
}

int vmmctl_pause(const char *path, int timeout_ms)
{
        return call_simple(path, timeout_ms, VMMCTL_OP_PAUSE, NULL);
}

int vmmctl_resume(const char *path, int timeout_ms)
{
        return call_simple(path, timeout_ms, VMMCTL_OP_RESUME, NULL);
}

int vmmctl_stop(const char *path, int timeout_ms)
{
        return call_simple(path, timeout_ms, VMMCTL_OP_STOP, NULL);
}

int vmmctl_balloon_set(const char *path, int timeout_ms, uint64_t num_bytes, bool wait, uint32_t wait_timeout_ms)
{
        VmmctlRequest req = { .op = VMMCTL_OP_BALLOON_SET };
        req.balloon_set.num_bytes = num_bytes;
        req.balloon_set.wait = wait;
        req.balloon_set.timeout_ms = wait_timeout_ms;
        return vmmctl_call(path, timeout_ms, &req, NULL);
}

int vmmctl_balloon_stats(const char *path, int timeout_ms, VmmctlBalloonStats *ret)
{
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        int r = call_simple(path, timeout_ms, VMMCTL_OP_BALLOON_STATS, resp);
        if (r >= 0 && ret)
                *ret = resp->balloon_stats;
        free(resp);
        return r;
}

int vmmctl_swap_enable(const char *path, int timeout_ms)
{
        return call_simple(path, timeout_ms, VMMCTL_OP_SWAP_ENABLE, NULL);
}

int vmmctl_swap_trim(const char *path, int timeout_ms)
{
        return call_simple(path, timeout_ms, VMMCTL_OP_SWAP_TRIM, NULL);
}

int vmmctl_swap_out(const char *path, int timeout_ms)
{
        return call_simple(path, timeout_ms, VMMCTL_OP_SWAP_OUT, NULL);
}

int vmmctl_swap_disable(const char *path, int timeout_ms, bool slow_file_cleanup)
{
        VmmctlRequest req = { .op = VMMCTL_OP_SWAP_DISABLE };
        req.swap_disable.slow_file_cleanup = slow_file_cleanup;
        return vmmctl_call(path, timeout_ms, &req, NULL);
}

int vmmctl_swap_status(const char *path, int timeout_ms, VmmctlSwapStatus *ret)
{
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp)
                return -ENOMEM;
        int r = call_simple(path, timeout_ms, VMMCTL_OP_SWAP_STATUS, resp);
        if (r >= 0 && ret)
                *ret = resp->swap_status;
        free(resp);
        return r;
}

int vmmctl_watchdog_config(const char *path, int timeout_ms, bool enable, uint32_t watchdog_timeout_ms)
{
        VmmctlRequest req = { .op = VMMCTL_OP_WATCHDOG_CONFIG };
        req.watchdog_config.enable = enable;
        req.watchdog_config.timeout_ms = watchdog_timeout_ms;
        return vmmctl_call(path, timeout_ms, &req, NULL);
}

static void queue_event(VmmctlClient *c, const VmmctlEvent *ev, void *userdata)
{
        if (c->n_events >= EVENT_QUEUE_MAX) {
                c->unmatched++;
                return;
        }
        c->events[(c->ev_head + c->n_events) % EVENT_QUEUE_MAX] = *ev;
        c->n_events++;
}

int vmmctl_subscribe(const char *path, int timeout_ms, VmmctlClient **ret)
{
        VmmctlClient *c = NULL;
        uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 5000);
        int r;

        if (!ret)
                return -EINVAL;
        r = connect_until(path, deadline, &c);
        if (r < 0)
                return r;
        c->events = calloc(EVENT_QUEUE_MAX, sizeof(VmmctlEvent));
        if (!c->events) {
                vmmctl_client_free(c);
                return -ENOMEM;
        }
        vmmctl_client_set_event_handler(c, queue_event, NULL);
        VmmctlResponse *resp = calloc(1, sizeof(*resp));
        if (!resp) {
                vmmctl_client_free(c);
                return -ENOMEM;
        }
        r = client_call(c, &(VmmctlRequest){ .op = VMMCTL_OP_SUBSCRIBE }, deadline, resp);
        free(resp);
        if (r < 0) {
                vmmctl_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int vmmctl_wait_event(VmmctlClient *c, int timeout_ms, VmmctlEvent *ret)
{
        uint64_t deadline = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;

        if (!c || !c->events || !ret)
                return -EINVAL;
        for (;;) {
                if (c->n_events > 0) {
                        *ret = c->events[c->ev_head];
                        c->ev_head = (c->ev_head + 1) % EVENT_QUEUE_MAX;
                        c->n_events--;
                        return 0;
                }
                if (c->disconnected)
                        return -ECONNRESET;
                if (timeout_ms == 0 || (deadline && now_ms() >= deadline)) {
                        /* One non-blocking look before giving up. */
                        int r = vmmctl_client_process(c);
                        if (c->n_events > 0)
                                continue;
                        return r == -ECONNRESET ? r : -ETIMEDOUT;
                }
                int r = wait_fd(c, deadline);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = vmmctl_client_process(c);
                if (r < 0 && r != -ECONNRESET)
                        return r;
        }
}
