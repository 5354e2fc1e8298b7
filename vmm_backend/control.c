/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control-socket server: SOCK_SEQPACKET connections on the device/event thread, one
 * vmm_control.Frame per datagram, dispatched to the VM (vm.h) and the device hooks (control.h). */
#include "vmm_backend/control.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "vmm_backend/ctl/protocol.h"
#include "vmm_backend/evloop.h"
#include "vmm_backend/macro.h"

/* How many clients may be connected at once; more are told EBUSY and closed. */
#define CONTROL_MAX_CONNECTIONS 64
/* Frames queued for one connection that is not reading. A request/response client never has
 * more than a few (we stop reading its requests while its replies are queued); a subscriber that
 * lets this many events pile up is dropped. */
#define CONTROL_MAX_QUEUED 64

_Static_assert(PROTOCOL_MAX_VCPUS == VM_MAX_VCPUS, "protocol and VM vCPU limits differ");

typedef struct OutFrame OutFrame;
struct OutFrame {
        OutFrame *next;
        size_t len;
        uint8_t data[];
};

typedef struct Conn Conn;
struct Conn {
        ControlServer *server;
        Conn *prev, *next;
        int fd;
        EvSource *source;
        uint32_t watching; /* epoll events currently armed */
        bool subscribed;
        bool closing; /* failed while a handler was on the stack; freed when it returns */
        VmmControl__Frame *held; /* a request waiting for the VM to run (not reading further ones) */
        unsigned n_queued;
        OutFrame *out_head, *out_tail;
};

struct ControlReply {
        ControlServer *server; /* NULL once the server is gone */
        Conn *conn;            /* NULL once the client is gone */
        ControlReply *prev, *next;
        uint64_t id;
        bool in_dispatch, done;
};

struct ControlServer {
        EvLoop *loop;
        Vm *vm;
        int listen_fd;
        EvSource *listen_source;
        Conn *conns;
        unsigned n_conns;
        bool in_handler; /* a connection handler is running: closes are deferred to its end */
        bool starting;   /* the VM is not running yet: hold requests that need it */
        ControlReply *replies;
        const ControlBalloonOps *balloon_ops;
        void *balloon;
        const ControlSwapOps *swap_ops;
        void *swap;
        uint8_t buf[MAX_FRAME_SIZE];
};

_printf_(1, 2) static void control_log(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fputs("vmm_backend: control: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

static void conn_free(Conn *c);

/* Close a connection now, or, while a connection handler is running (a device op or an event
 * emitted from inside a request may fail on any connection), when it returns. */
static void conn_close(Conn *c)
{
        if (c->server->in_handler) {
                c->closing = true;
                return;
        }
        conn_free(c);
}

/* --- output ----------------------------------------------------------------------------------- */

static void conn_update_watch(Conn *c)
{
        /* While replies are queued, do not read further requests: a client that does not read its
         * responses cannot make us queue without bound. Nor while a request is held (start-up):
         * then only a hang-up (always reported) is watched. */
        uint32_t want = c->out_head ? EPOLLOUT | EPOLLRDHUP : c->held ? 0 : EPOLLIN | EPOLLRDHUP;
        if (want == c->watching)
                return;
        if (evloop_modify(c->source, want) >= 0)
                c->watching = want;
}

/* Send what is queued. Returns 0, or a negative errno when the connection is broken. */
static int conn_flush(Conn *c)
{
        while (c->out_head) {
                OutFrame *o = c->out_head;
                ssize_t n = send(c->fd, o->data, o->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return negative_errno();
                }
                c->out_head = o->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                c->n_queued--;
                free(o);
        }
        conn_update_watch(c);
        return 0;
}

/* Queue one encoded frame (sending at once when nothing is queued). Returns 0, -ENOBUFS if the
 * peer has CONTROL_MAX_QUEUED frames pending, or another negative errno if the peer is gone. */
static int conn_send(Conn *c, const VmmControl__Frame *f)
{
        size_t len;
        if (c->closing)
                return -EPIPE;
        int r = protocol_encode(f, c->server->buf, sizeof(c->server->buf), &len);
        if (r < 0)
                return r;

        if (!c->out_head) {
                ssize_t n = send(c->fd, c->server->buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n >= 0)
                        return 0;
                if (errno != EAGAIN && errno != EINTR)
                        return negative_errno();
        }
        if (c->n_queued >= CONTROL_MAX_QUEUED)
                return -ENOBUFS;
        OutFrame *o = malloc(sizeof(*o) + len);
        if (!o)
                return -ENOMEM;
        o->next = NULL;
        o->len = len;
        memcpy(o->data, c->server->buf, len);
        if (c->out_tail)
                c->out_tail->next = o;
        else
                c->out_head = o;
        c->out_tail = o;
        c->n_queued++;
        conn_update_watch(c);
        return 0;
}

static int send_response(Conn *c, VmmControl__Response *resp)
{
        VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
        f.version = PROTOCOL_VERSION;
        f.body_case = VMM_CONTROL__FRAME__BODY_RESPONSE;
        f.response = resp;
        return conn_send(c, &f);
}

/* error: 0 or a negative errno. */
static int send_error(Conn *c, uint64_t id, int error, const char *message)
{
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        resp.id = id;
        resp.error = error < 0 ? -error : error;
        resp.error_message = (char *)(message ?: (error ? strerror(-error) : ""));
        return send_response(c, &resp);
}

/* --- async replies ----------------------------------------------------------------------------- */

static ControlReply *reply_new(ControlServer *s, Conn *c, uint64_t id)
{
        ControlReply *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        *r = (ControlReply){ .server = s, .conn = c, .id = id, .in_dispatch = true, .next = s->replies };
        if (s->replies)
                s->replies->prev = r;
        s->replies = r;
        return r;
}

static void reply_free(ControlReply *r)
{
        if (r->server) {
                if (r->prev)
                        r->prev->next = r->next;
                else
                        r->server->replies = r->next;
                if (r->next)
                        r->next->prev = r->prev;
        }
        free(r);
}

/* Send resp for r (if its client is still there) and release r unless its dispatch is still on the
 * stack. */
static void reply_complete(ControlReply *r, VmmControl__Response *resp)
{
        if (!r || r->done)
                return;
        r->done = true;
        if (r->conn && !r->conn->closing) {
                resp->id = r->id;
                int k = send_response(r->conn, resp);
                if (k < 0) {
                        if (k != -EPIPE && k != -ECONNRESET)
                                control_log("cannot send reply %" PRIu64 " (%s), dropping the connection", r->id,
                                            strerror(-k));
                        conn_close(r->conn);
                }
        }
        if (!r->in_dispatch)
                reply_free(r);
}

void control_reply_finish(ControlReply *r, int error, const char *message)
{
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        if (!r)
                return;
        resp.error = error < 0 ? -error : 0;
        if (error < 0)
                resp.error_message = (char *)(message ?: strerror(-error));
        else if (message)
                resp.error_message = (char *)message;
        reply_complete(r, &resp);
}

void control_reply_finish_balloon_stats(ControlReply *r, const BalloonStatsInfo *st)
{
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        VmmControl__BalloonStatsResponse bs = VMM_CONTROL__BALLOON_STATS_RESPONSE__INIT;
        if (!r)
                return;
        if (!st) {
                control_reply_finish(r, -EIO, "balloon device returned no statistics");
                return;
        }
        bs.swap_in = st->swap_in;
        bs.swap_out = st->swap_out;
        bs.major_faults = st->major_faults;
        bs.minor_faults = st->minor_faults;
        bs.free_memory = st->free_memory;
        bs.total_memory = st->total_memory;
        bs.available_memory = st->available_memory;
        bs.disk_caches = st->disk_caches;
        bs.hugetlb_allocations = st->hugetlb_allocations;
        bs.hugetlb_failures = st->hugetlb_failures;
        bs.shared_memory = st->shared_memory;
        bs.unevictable_memory = st->unevictable_memory;
        bs.balloon_actual = st->balloon_actual;
        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_BALLOON_STATS;
        resp.balloon_stats = &bs;
        reply_complete(r, &resp);
}

/* Run a device op that may answer later: r is 0 (reply now), negative (error) or CONTROL_PENDING. */
static void reply_after_op(ControlReply *reply, int r, const char *message)
{
        if (r == CONTROL_PENDING) {
                reply->in_dispatch = false;
                if (reply->done) /* finished from inside the op after all */
                        reply_free(reply);
                return;
        }
        if (!reply->done) /* still in_dispatch: this does not free it */
                control_reply_finish(reply, r < 0 ? r : 0, r < 0 ? message : NULL);
        reply_free(reply);
}

/* --- request dispatch -------------------------------------------------------------------------- */

static VmmControl__RunState run_state_to_proto(VmRunState s)
{
        switch (s) {
        case VM_RUN_STARTING:
                return VMM_CONTROL__RUN_STATE__RUN_STATE_STARTING;
        case VM_RUN_RUNNING:
                return VMM_CONTROL__RUN_STATE__RUN_STATE_RUNNING;
        case VM_RUN_PAUSED:
                return VMM_CONTROL__RUN_STATE__RUN_STATE_PAUSED;
        case VM_RUN_STOPPING:
                return VMM_CONTROL__RUN_STATE__RUN_STATE_STOPPING;
        default:
                return VMM_CONTROL__RUN_STATE__RUN_STATE_UNKNOWN;
        }
}

static VmmControl__ExitReason exit_reason_to_proto(VmExitReason r)
{
        switch (r) {
        case VM_EXIT_GUEST_REQUESTED:
                return VMM_CONTROL__EXIT_REASON__EXIT_REASON_GUEST_REQUESTED;
        case VM_EXIT_CRASHED:
                return VMM_CONTROL__EXIT_REASON__EXIT_REASON_CRASHED;
        case VM_EXIT_STOPPED_BY_REQUEST:
                return VMM_CONTROL__EXIT_REASON__EXIT_REASON_STOPPED_BY_REQUEST;
        case VM_EXIT_WATCHDOG_RESET:
                return VMM_CONTROL__EXIT_REASON__EXIT_REASON_WATCHDOG_RESET;
        default:
                return VMM_CONTROL__EXIT_REASON__EXIT_REASON_UNKNOWN;
        }
}

static int handle_status(Conn *c, uint64_t id)
{
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        VmmControl__StatusResponse st = VMM_CONTROL__STATUS_RESPONSE__INIT;
        VmStatusInfo info = {};
        int32_t tids[VM_MAX_VCPUS];

        vm_get_status(c->server->vm, &info);
        st.state = run_state_to_proto(info.state);
        st.vcpus = MIN(info.vcpus, (unsigned)VM_MAX_VCPUS);
        st.memory_bytes = info.memory_bytes;
        st.pid = info.pid;
        for (unsigned i = 0; i < st.vcpus; i++)
                tids[i] = info.vcpu_tids[i];
        st.n_vcpu_tids = st.vcpus;
        st.vcpu_tids = tids;
        st.uptime_ms = info.uptime_ms;
        st.kernel_format = (char *)strempty(info.kernel_format);
        st.resident_bytes = info.resident_bytes;
        resp.id = id;
        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_STATUS;
        resp.status = &st;
        return send_response(c, &resp);
}

static int handle_vcpu_threads(Conn *c, uint64_t id)
{
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        VmmControl__VcpuThreadsResponse vt = VMM_CONTROL__VCPU_THREADS_RESPONSE__INIT;
        VmStatusInfo info = {};
        int32_t tids[VM_MAX_VCPUS];

        vm_get_status(c->server->vm, &info);
        vt.pid = info.pid;
        vt.n_tids = MIN(info.vcpus, (unsigned)VM_MAX_VCPUS);
        for (size_t i = 0; i < vt.n_tids; i++)
                tids[i] = info.vcpu_tids[i];
        vt.tids = tids;
        resp.id = id;
        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_VCPU_THREADS;
        resp.vcpu_threads = &vt;
        return send_response(c, &resp);
}

static int handle_swap_status(Conn *c, uint64_t id)
{
        ControlServer *s = c->server;
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        VmmControl__SwapStatus ss = VMM_CONTROL__SWAP_STATUS__INIT;
        VmmControl__SwapMetrics m = VMM_CONTROL__SWAP_METRICS__INIT;
        VmmControl__SwapStateTransition t = VMM_CONTROL__SWAP_STATE_TRANSITION__INIT;
        SwapStatusInfo info = {};

        int r = s->swap_ops->status(s->swap, &info);
        if (r < 0)
                return send_error(c, id, r, "cannot read the vmm-swap status");
        info.last_error[sizeof(info.last_error) - 1] = 0;
        ss.state = (VmmControl__SwapState)info.state;
        m.resident_pages = info.resident_pages;
        m.copied_from_file_pages = info.copied_from_file_pages;
        m.copied_from_staging_pages = info.copied_from_staging_pages;
        m.zeroed_pages = info.zeroed_pages;
        m.redundant_pages = info.redundant_pages;
        m.staging_pages = info.staging_pages;
        m.swap_pages = info.swap_pages;
        m.fault_around_pages = info.fault_around_pages;
        t.pages = info.transition_pages;
        t.time_ms = info.transition_time_ms;
        ss.metrics = &m;
        ss.state_transition = &t;
        ss.last_error = info.last_error;
        resp.id = id;
        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_SWAP_STATUS;
        resp.swap_status = &ss;
        return send_response(c, &resp);
}

static const char no_balloon_msg[] = "this VM has no balloon device";
static const char no_swap_msg[] = "vmm-swap is not enabled for this VM (start with --swap-dir)";

static int handle_balloon(Conn *c, const VmmControl__Request *req)
{
        ControlServer *s = c->server;
        const char *message = NULL;
        int r;

        if (!s->balloon_ops)
                return send_error(c, req->id, -ENOTSUP, no_balloon_msg);
        ControlReply *reply = reply_new(s, c, req->id);
        if (!reply)
                return send_error(c, req->id, -ENOMEM, "out of memory");
        if (req->op_case == VMM_CONTROL__REQUEST__OP_BALLOON_SET)
                r = s->balloon_ops->set(s->balloon, req->balloon_set->num_bytes, req->balloon_set->wait,
                                        req->balloon_set->timeout_ms, reply, &message);
        else
                r = s->balloon_ops->stats(s->balloon, req->balloon_stats->timeout_ms, reply, &message);
        reply_after_op(reply, r, message);
        return 0;
}

static int handle_swap(Conn *c, const VmmControl__Request *req)
{
        ControlServer *s = c->server;
        const char *message = NULL;
        int r;

        if (!s->swap_ops)
                return send_error(c, req->id, -ENOTSUP, no_swap_msg);
        switch (req->op_case) {
        case VMM_CONTROL__REQUEST__OP_SWAP_ENABLE:
                r = s->swap_ops->enable(s->swap, &message);
                break;
        case VMM_CONTROL__REQUEST__OP_SWAP_TRIM:
                r = s->swap_ops->trim(s->swap, &message);
                break;
        case VMM_CONTROL__REQUEST__OP_SWAP_OUT:
                r = s->swap_ops->out(s->swap, &message);
                break;
        case VMM_CONTROL__REQUEST__OP_SWAP_DISABLE:
                r = s->swap_ops->disable(s->swap, req->swap_disable->slow_file_cleanup, &message);
                break;
        default:
                return handle_swap_status(c, req->id);
        }
        return send_error(c, req->id, r < 0 ? r : 0, r < 0 ? message : NULL);
}

/* Ops that need the running VM: held while it starts (control_server_hold_until_started()). */
static bool needs_running_vm(VmmControl__Request__OpCase op)
{
        switch (op) {
        case VMM_CONTROL__REQUEST__OP_VCPU_THREADS:
        case VMM_CONTROL__REQUEST__OP_PAUSE:
        case VMM_CONTROL__REQUEST__OP_RESUME:
        case VMM_CONTROL__REQUEST__OP_BALLOON_SET:
        case VMM_CONTROL__REQUEST__OP_BALLOON_STATS:
        case VMM_CONTROL__REQUEST__OP_SWAP_ENABLE:
        case VMM_CONTROL__REQUEST__OP_SWAP_TRIM:
        case VMM_CONTROL__REQUEST__OP_SWAP_OUT:
        case VMM_CONTROL__REQUEST__OP_SWAP_DISABLE:
        case VMM_CONTROL__REQUEST__OP_SWAP_STATUS:
                return true;
        default:
                return false;
        }
}

/* Returns a negative errno only when the connection must be dropped. */
static int dispatch(Conn *c, const VmmControl__Request *req)
{
        ControlServer *s = c->server;
        int r;

        switch (req->op_case) {
        case VMM_CONTROL__REQUEST__OP_STATUS:
                return handle_status(c, req->id);
        case VMM_CONTROL__REQUEST__OP_VCPU_THREADS:
                return handle_vcpu_threads(c, req->id);
        case VMM_CONTROL__REQUEST__OP_PAUSE:
                r = vm_pause(s->vm);
                return send_error(c, req->id, r, r == -EALREADY ? "the VM is already paused" : NULL);
        case VMM_CONTROL__REQUEST__OP_RESUME:
                r = vm_resume(s->vm);
                return send_error(c, req->id, r, r == -EALREADY ? "the VM is not paused" : NULL);
        case VMM_CONTROL__REQUEST__OP_STOP:
                /* Reply first: the process is about to go away. */
                r = send_error(c, req->id, 0, NULL);
                vm_request_stop(s->vm, VM_EXIT_STOPPED_BY_REQUEST, "stop requested on the control socket", 0);
                return r;
        case VMM_CONTROL__REQUEST__OP_SUBSCRIBE:
                c->subscribed = true;
                return send_error(c, req->id, 0, NULL);
        case VMM_CONTROL__REQUEST__OP_BALLOON_SET:
        case VMM_CONTROL__REQUEST__OP_BALLOON_STATS:
                return handle_balloon(c, req);
        case VMM_CONTROL__REQUEST__OP_SWAP_ENABLE:
        case VMM_CONTROL__REQUEST__OP_SWAP_TRIM:
        case VMM_CONTROL__REQUEST__OP_SWAP_OUT:
        case VMM_CONTROL__REQUEST__OP_SWAP_DISABLE:
        case VMM_CONTROL__REQUEST__OP_SWAP_STATUS:
                return handle_swap(c, req);
        case VMM_CONTROL__REQUEST__OP_WATCHDOG_CONFIG:
                return send_error(c, req->id, -ENOTSUP, "this VMM has no watchdog device yet");
        default:
                return send_error(c, req->id, -EBADMSG, "unknown operation");
        }
}

/* Read and handle one datagram. Returns 0, or a negative errno when the connection is finished. */
static int conn_read_one(Conn *c, uint32_t events)
{
        ControlServer *s = c->server;
        ssize_t n;

        /* Learn the size first, so an oversized datagram is rejected whole rather than read in part. */
        n = recv(c->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
        if (n == 0) {
                /* Zero bytes is either the end of the stream or an empty datagram. */
                if (events & (EPOLLHUP | EPOLLRDHUP))
                        return -ECONNRESET;
                if (recv(c->fd, s->buf, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN)
                        return negative_errno();
                return send_error(c, 0, -EBADMSG, "empty frame");
        }
        if ((size_t)n > MAX_FRAME_SIZE) {
                char msg[96];
                (void)recv(c->fd, s->buf, 1, MSG_DONTWAIT); /* discards the rest of the datagram */
                snprintf(msg, sizeof(msg), "frame of %zd bytes exceeds the %u-byte limit", n, MAX_FRAME_SIZE);
                return send_error(c, 0, -EMSGSIZE, msg);
        }
        n = recv(c->fd, s->buf, MAX_FRAME_SIZE, MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : negative_errno();
        if (n == 0)
                return -ECONNRESET;

        VmmControl__Frame *frame = NULL;
        ProtocolDiag d;
        int r = protocol_decode(s->buf, (size_t)n, &frame, &d);
        if (r < 0)
                return send_error(c, d.id, r, d.message);
        if (frame->body_case != VMM_CONTROL__FRAME__BODY_REQUEST) {
                uint64_t id = frame->body_case == VMM_CONTROL__FRAME__BODY_RESPONSE ? frame->response->id : 0;
                protocol_frame_free(frame);
                return send_error(c, id, -EBADMSG, "expected a request frame");
        }
        if (s->starting && needs_running_vm(frame->request->op_case)) {
                c->held = frame;
                conn_update_watch(c);
                return 0;
        }
        r = dispatch(c, frame->request);
        protocol_frame_free(frame);
        return r;
}

static void conn_handler(EvSource *src, int fd, uint32_t events, void *userdata)
{
        Conn *c = userdata;
        ControlServer *s = c->server;
        int r = 0;

        s->in_handler = true;
        if (events & EPOLLOUT)
                r = conn_flush(c);
        if (r >= 0 && (events & EPOLLIN) && !c->out_head && !c->held)
                r = conn_read_one(c, events);
        else if (r >= 0 && (events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
                r = -ECONNRESET;
        if (r < 0) {
                if (r != -ECONNRESET && r != -EPIPE)
                        control_log("connection fd %d: %s, closing it", c->fd, strerror(-r));
                c->closing = true;
        }
        s->in_handler = false;
        for (Conn *i = s->conns, *next; i; i = next) {
                next = i->next;
                if (i->closing)
                        conn_free(i);
        }
}

static void conn_free(Conn *c)
{
        if (!c)
                return;
        ControlServer *s = c->server;
        for (ControlReply *r = s->replies; r; r = r->next)
                if (r->conn == c)
                        r->conn = NULL;
        if (c->prev)
                c->prev->next = c->next;
        else
                s->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_conns--;
        evloop_remove(c->source);
        safe_close(c->fd);
        while (c->out_head) {
                OutFrame *o = c->out_head;
                c->out_head = o->next;
                free(o);
        }
        protocol_frame_free(c->held);
        free(c);
}

static int conn_add(ControlServer *s, int fd)
{
        _cleanup_close_ int fd_owned = fd;
        Conn *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->server = s;
        c->fd = fd;
        c->watching = EPOLLIN | EPOLLRDHUP;
        int r = evloop_add(s->loop, fd, c->watching, conn_handler, c, &c->source);
        if (r < 0) {
                free(c);
                return r;
        }
        TAKE_FD(fd_owned);
        c->next = s->conns;
        if (s->conns)
                s->conns->prev = c;
        s->conns = c;
        s->n_conns++;
        return 0;
}

static void listen_handler(EvSource *src, int fd, uint32_t events, void *userdata)
{
        ControlServer *s = userdata;

        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        control_log("accept failed: %m");
                return;
        }
        if (s->n_conns >= CONTROL_MAX_CONNECTIONS) {
                /* Tell the client why, then hang up; the ones already connected are unaffected. */
                Conn tmp = { .server = s, .fd = cfd };
                (void)send_error(&tmp, 0, -EBUSY, "too many control connections");
                safe_close(cfd);
                return;
        }
        int r = conn_add(s, cfd);
        if (r < 0)
                control_log("cannot add connection: %s", strerror(-r));
}

/* --- public API -------------------------------------------------------------------------------- */

int control_server_new(EvLoop *loop, Vm *vm, int listen_fd, int conn_fd, ControlServer **ret)
{
        _cleanup_close_ int lfd = listen_fd, cfd = conn_fd;
        int r;

        if (!loop || !ret)
                return -EINVAL;
        ControlServer *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->loop = loop;
        s->vm = vm;
        s->listen_fd = -EBADF;

        if (lfd >= 0) {
                int fl = fcntl(lfd, F_GETFL);
                if (fl < 0 || fcntl(lfd, F_SETFL, fl | O_NONBLOCK) < 0) {
                        r = negative_errno();
                        goto fail;
                }
                r = evloop_add(loop, lfd, EPOLLIN, listen_handler, s, &s->listen_source);
                if (r < 0)
                        goto fail;
                s->listen_fd = TAKE_FD(lfd);
        }
        if (cfd >= 0) {
                int fl = fcntl(cfd, F_GETFL);
                if (fl < 0 || fcntl(cfd, F_SETFL, fl | O_NONBLOCK) < 0) {
                        r = negative_errno();
                        goto fail;
                }
                r = conn_add(s, TAKE_FD(cfd));
                if (r < 0)
                        goto fail;
        }
        *ret = s;
        return 0;
fail:
        control_server_free(s);
        return r;
}

ControlServer *control_server_free(ControlServer *s)
{
        if (!s)
                return NULL;
        /* Replies still owed stay valid for their devices; finishing them later just frees them. */
        for (ControlReply *r = s->replies, *next; r; r = next) {
                next = r->next;
                r->server = NULL;
                r->conn = NULL;
                r->prev = r->next = NULL;
        }
        s->replies = NULL;
        for (Conn *c = s->conns; c; c = c->next)
                if (c->held) {
                        (void)send_error(c, c->held->request->id, -ESHUTDOWN, "the VM stopped before it ran");
                        c->held = protocol_frame_free(c->held);
                }
        while (s->conns) {
                /* Last chance for queued frames (the exit event, a stop reply). */
                (void)conn_flush(s->conns);
                conn_free(s->conns);
        }
        evloop_remove(s->listen_source);
        safe_close(s->listen_fd);
        free(s);
        return NULL;
}

void control_server_hold_until_started(ControlServer *s)
{
        s->starting = true;
}

void control_server_started(ControlServer *s)
{
        if (!s || !s->starting)
                return;
        s->starting = false;
        s->in_handler = true; /* closes during the dispatches are deferred, as in conn_handler() */
        for (Conn *c = s->conns; c; c = c->next) {
                if (!c->held || c->closing)
                        continue;
                VmmControl__Frame *frame = TAKE_PTR(c->held);
                int r = dispatch(c, frame->request);
                protocol_frame_free(frame);
                if (r < 0)
                        c->closing = true;
                else
                        conn_update_watch(c);
        }
        s->in_handler = false;
        for (Conn *c = s->conns, *next; c; c = next) {
                next = c->next;
                if (c->closing)
                        conn_free(c);
        }
}

void control_server_set_balloon(ControlServer *s, const ControlBalloonOps *ops, void *dev)
{
        s->balloon_ops = ops;
        s->balloon = dev;
}

void control_server_set_swap(ControlServer *s, const ControlSwapOps *ops, void *swap)
{
        s->swap_ops = ops;
        s->swap = swap;
}

void control_server_emit(ControlServer *s, const VmmEvent *ev)
{
        VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
        VmmControl__Event e = VMM_CONTROL__EVENT__INIT;
        VmmControl__VmExitedEvent ex = VMM_CONTROL__VM_EXITED_EVENT__INIT;
        VmmControl__WatchdogStallEvent ws = VMM_CONTROL__WATCHDOG_STALL_EVENT__INIT;
        VmmControl__SwapStateChangedEvent sc = VMM_CONTROL__SWAP_STATE_CHANGED_EVENT__INIT;
        VmmControl__BalloonResizedEvent br = VMM_CONTROL__BALLOON_RESIZED_EVENT__INIT;
        VmmControl__DeviceResetEvent dr = VMM_CONTROL__DEVICE_RESET_EVENT__INIT;
        char detail[PROTOCOL_MAX_STRING + 1], device[PROTOCOL_MAX_STRING + 1], reason[PROTOCOL_MAX_STRING + 1];

        if (!s || !ev)
                return;
        switch (ev->type) {
        case VMM_EVENT_VM_EXITED:
                snprintf(detail, sizeof(detail), "%s", strempty(ev->vm_exited.detail));
                ex.reason = exit_reason_to_proto(ev->vm_exited.reason);
                ex.detail = detail;
                ex.guest_code = ev->vm_exited.guest_code;
                e.kind_case = VMM_CONTROL__EVENT__KIND_VM_EXITED;
                e.vm_exited = &ex;
                break;
        case VMM_EVENT_WATCHDOG_STALL:
                ws.vcpu = ev->watchdog_stall.vcpu;
                e.kind_case = VMM_CONTROL__EVENT__KIND_WATCHDOG_STALL;
                e.watchdog_stall = &ws;
                break;
        case VMM_EVENT_SWAP_STATE_CHANGED:
                sc.state = (VmmControl__SwapState)ev->swap_state_changed.state;
                sc.previous = (VmmControl__SwapState)ev->swap_state_changed.previous;
                e.kind_case = VMM_CONTROL__EVENT__KIND_SWAP_STATE_CHANGED;
                e.swap_state_changed = &sc;
                break;
        case VMM_EVENT_BALLOON_RESIZED:
                br.actual_bytes = ev->balloon_resized.actual_bytes;
                br.target_bytes = ev->balloon_resized.target_bytes;
                e.kind_case = VMM_CONTROL__EVENT__KIND_BALLOON_RESIZED;
                e.balloon_resized = &br;
                break;
        case VMM_EVENT_DEVICE_RESET:
                snprintf(device, sizeof(device), "%s", strempty(ev->device_reset.device));
                snprintf(reason, sizeof(reason), "%s", strempty(ev->device_reset.reason));
                dr.device = device;
                dr.reason = reason;
                e.kind_case = VMM_CONTROL__EVENT__KIND_DEVICE_RESET;
                e.device_reset = &dr;
                break;
        default:
                return;
        }
        f.version = PROTOCOL_VERSION;
        f.body_case = VMM_CONTROL__FRAME__BODY_EVENT;
        f.event = &e;

        for (Conn *c = s->conns, *next; c; c = next) {
                next = c->next;
                if (!c->subscribed || c->closing)
                        continue;
                int r = conn_send(c, &f);
                if (r == -ENOBUFS)
                        control_log("subscriber fd %d is not reading its events (%u queued), dropping it", c->fd,
                                    c->n_queued);
                if (r < 0)
                        conn_close(c);
        }
}
