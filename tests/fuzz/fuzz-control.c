/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for control-socket frames (vmm_backend/ctl/protocol.c, control.c, libvmmctl.c).
 * The same bytes are
 *   1. decoded by protocol_decode(): success, or -EMSGSIZE/-EPROTO/-EBADMSG/-ENOMEM with a
 *      NUL-terminated reason; a decoded frame is valid (version 1, one known body) and (without
 *      unknown fields) re-encodes to bytes that decode again;
 *   2. sent to the real server (control.c) on a SOCK_SEQPACKET pair, with a test double of the vm.h
 *      functions and of the balloon/swap hooks: the server answers every datagram with frames that
 *      decode, the answer to a decoded request carries its id, errors are errno values;
 *   3. received by the real client library (libvmmctl.c) as the VMM's answer to a pending request:
 *      the client survives, its callback runs at most once with a bounded, terminated message.
 * No KVM is needed. See fuzz-common.h for how it is built and run. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/fuzz/fuzz-common.h"
#include "tests/fuzz/fuzz-proto.h"
#include "vmm_backend/control.h"
#include "vmm_backend/ctl/libvmmctl.h"
#include "vmm_backend/ctl/protocol.h"
#include "vmm_backend/evloop.h"
#include "vmm_backend/macro.h"

const FuzzTarget fuzz_target = { .name = "fuzz-control", .iterations = 20000, .max_len = 4096 };

/* --- the vm.h test double (the same seam as tests/unit/test-control-server.c) ------------------ */

struct Vm {
        bool paused;
        unsigned stops;
};

int vm_pause(Vm *vm)
{
        if (vm->paused)
                return -EALREADY;
        vm->paused = true;
        return 0;
}

int vm_resume(Vm *vm)
{
        if (!vm->paused)
                return -EALREADY;
        vm->paused = false;
        return 0;
}

void vm_request_stop(Vm *vm, VmExitReason reason, const char *detail, int guest_code)
{
        vm->stops++;
}

void vm_get_status(Vm *vm, VmStatusInfo *ret)
{
        *ret = (VmStatusInfo){
                .state = vm->paused ? VM_RUN_PAUSED : VM_RUN_RUNNING,
                .vcpus = 2,
                .memory_bytes = 128 * MIB,
                .pid = 4242,
                .vcpu_tids = { 4243, 4244 },
                .uptime_ms = 1500,
                .kernel_format = "elf-pvh",
                .resident_bytes = 3 * MIB,
        };
}

/* Device hooks: answer at once, refusing odd values, so that the argument paths run. */
static int balloon_set(void *dev, uint64_t num_bytes, bool wait, uint32_t timeout_ms, ControlReply *reply,
                       const char **ret_message)
{
        if (num_bytes > 128 * MIB) {
                *ret_message = "exceeds guest memory";
                return -EINVAL;
        }
        return 0;
}

static int balloon_stats(void *dev, uint32_t timeout_ms, ControlReply *reply, const char **ret_message)
{
        BalloonStatsInfo st = { .swap_in = -1, .free_memory = 1 << 20, .balloon_actual = timeout_ms };
        if (timeout_ms % 2)
                return -ETIMEDOUT;
        control_reply_finish_balloon_stats(reply, &st);
        return CONTROL_PENDING;
}

static int swap_simple(void *swap, const char **ret_message)
{
        return 0;
}

static int swap_disable(void *swap, bool slow, const char **ret_message)
{
        if (slow) {
                *ret_message = "slow cleanup refused";
                return -EBUSY;
        }
        return 0;
}

static int swap_status(void *swap, SwapStatusInfo *ret)
{
        *ret = (SwapStatusInfo){ .state = 5, .resident_pages = 7, .last_error = "none" };
        return 0;
}

static const ControlBalloonOps balloon_ops = { .set = balloon_set, .stats = balloon_stats };
static const ControlSwapOps swap_ops = { .enable = swap_simple, .trim = swap_simple, .out = swap_simple,
                                         .disable = swap_disable, .status = swap_status };

/* --- the server, kept across inputs ------------------------------------------------------------ */

static struct {
        Vm vm;
        EvLoop *loop;
        ControlServer *server;
        int fd; /* our end of the connection */
} srv = { .fd = -1 };

static void server_close(void)
{
        srv.server = control_server_free(srv.server);
        evloop_free(srv.loop);
        srv.loop = NULL;
        srv.fd = safe_close(srv.fd);
}

static void server_open(void)
{
        int sp[2];

        if (srv.server)
                return;
        fuzz_check(evloop_new(&srv.loop) == 0, "evloop_new");
        fuzz_check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
        fuzz_check(control_server_new(srv.loop, &srv.vm, -1, sp[0], &srv.server) == 0, "control_server_new");
        control_server_set_balloon(srv.server, &balloon_ops, &srv);
        control_server_set_swap(srv.server, &swap_ops, &srv);
        srv.fd = sp[1];
        atexit(server_close); /* so that a leak checker sees only real leaks */
}

static void pump(void)
{
        while (evloop_run_once(srv.loop, 0) > 0)
                ;
}

static void fuzz_server(const uint8_t *data, size_t size, const VmmControl__Frame *decoded)
{
        static uint8_t buf[MAX_FRAME_SIZE];
        unsigned answers = 0;

        server_open();
        fuzz_check(send(srv.fd, data, size, MSG_NOSIGNAL) == (ssize_t)size, "send to the server");
        pump();
        for (;;) {
                VmmControl__Frame *f = NULL;
                ssize_t n = recv(srv.fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n < 0) {
                        fuzz_check(errno == EAGAIN, "recv from the server");
                        break;
                }
                if (n == 0) {
                        /* The server closed the connection; only a shutdown request may do that. */
                        fuzz_check(false, "the server closed the connection");
                }
                fuzz_check(protocol_decode(buf, (size_t)n, &f, NULL) == 0, "the server sent a bad frame");
                if (f->body_case == VMM_CONTROL__FRAME__BODY_RESPONSE) {
                        if (answers == 0 && decoded && decoded->body_case == VMM_CONTROL__FRAME__BODY_REQUEST)
                                fuzz_check(f->response->id == decoded->request->id, "answer with another id");
                        /* On the wire: 0 or a positive errno (vmm_control.proto). */
                        fuzz_check(f->response->error >= 0 && f->response->error < 4096, "error is not an errno");
                        fuzz_check(f->response->error_message == NULL ||
                                           strlen(f->response->error_message) <= PROTOCOL_MAX_STRING,
                                   "oversized error message");
                        if (f->response->error > 0)
                                fuzz_check(f->response->result_case == VMM_CONTROL__RESPONSE__RESULT__NOT_SET,
                                           "an error response with a result");
                        answers++;
                } else
                        fuzz_check(f->body_case == VMM_CONTROL__FRAME__BODY_EVENT, "the server sent a request");
                protocol_frame_free(f);
        }
        fuzz_check(answers == 1, "not exactly one answer to a datagram");
}

/* --- the client -------------------------------------------------------------------------------- */

typedef struct Result {
        unsigned calls;
        VmmctlResponse resp;
} Result;

static void on_response(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        Result *r = userdata;
        r->calls++;
        r->resp = *resp;
}

static void check_response(const Result *r, VmmctlOp op)
{
        fuzz_check(r->calls <= 1, "a response handler ran twice");
        if (r->calls == 0)
                return;
        fuzz_check(r->resp.error <= 0, "positive error");
        fuzz_check(memchr(r->resp.error_message, 0, sizeof(r->resp.error_message)), "unterminated message");
        if (r->resp.error < 0)
                return;
        fuzz_check(r->resp.op == op, "a response for another op");
        switch (op) {
        case VMMCTL_OP_STATUS:
                fuzz_check(r->resp.status.n_vcpu_tids <= VMMCTL_MAX_VCPUS, "too many vcpu tids");
                fuzz_check(memchr(r->resp.status.kernel_format, 0, sizeof(r->resp.status.kernel_format)),
                           "unterminated kernel_format");
                break;
        case VMMCTL_OP_VCPU_THREADS:
                fuzz_check(r->resp.vcpu_threads.n_tids <= VMMCTL_MAX_VCPUS, "too many tids");
                break;
        case VMMCTL_OP_SWAP_STATUS:
                fuzz_check(r->resp.swap_status.state >= 0 && r->resp.swap_status.state < _VMMCTL_SWAP_STATE_MAX,
                           "swap state out of range");
                fuzz_check(memchr(r->resp.swap_status.last_error, 0, sizeof(r->resp.swap_status.last_error)),
                           "unterminated last_error");
                break;
        default:
                break;
        }
}

static void on_event(VmmctlClient *c, const VmmctlEvent *ev, void *userdata)
{
        unsigned *events = userdata;
        (*events)++;
        fuzz_check(ev->type >= 0 && ev->type < _VMMCTL_EVENT_TYPE_MAX, "event type out of range");
        if (ev->type == VMMCTL_EVENT_DEVICE_RESET)
                fuzz_check(memchr(ev->device_reset.device, 0, sizeof(ev->device_reset.device)) &&
                                   memchr(ev->device_reset.reason, 0, sizeof(ev->device_reset.reason)),
                           "unterminated device reset strings");
        if (ev->type == VMMCTL_EVENT_VM_EXITED)
                fuzz_check(memchr(ev->vm_exited.detail, 0, sizeof(ev->vm_exited.detail)), "unterminated detail");
}

static void fuzz_client(const uint8_t *data, size_t size)
{
        static uint8_t buf[MAX_FRAME_SIZE];
        VmmctlClient *c = NULL;
        Result res = {};
        unsigned events = 0;
        int sp[2], r;
        /* The op of the pending request comes from the size, so that the frame bytes stay free. */
        VmmctlOp op = (VmmctlOp)(size % _VMMCTL_OP_MAX);

        fuzz_check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == 0, "socketpair");
        fuzz_check(vmmctl_client_adopt_fd(sp[1], &c) == 0, "vmmctl_client_adopt_fd");
        vmmctl_client_set_event_handler(c, on_event, &events);
        fuzz_check(vmmctl_client_send(c, &(VmmctlRequest){ .op = op }, 0, on_response, &res, NULL) == 0,
                   "vmmctl_client_send");
        r = vmmctl_client_process(c); /* flushes the request */
        fuzz_check(r == 0, "vmmctl_client_process before the answer");
        fuzz_check(recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT) > 0, "no request from the client");
        if (size > 0) {
                fuzz_check(send(sp[0], data, size, MSG_NOSIGNAL) == (ssize_t)size, "send to the client");
                r = vmmctl_client_process(c);
                fuzz_check(r == 0, "vmmctl_client_process failed on a datagram");
        }
        check_response(&res, op);
        fuzz_check(events <= 1, "several events from one datagram");
        unsigned pending = vmmctl_client_pending(c);
        fuzz_check(pending == (res.calls ? 0u : 1u), "pending count disagrees with the callbacks");
        vmmctl_client_free(c);
        fuzz_check(res.calls == 1, "the request was not finished by the free");
        safe_close(sp[0]);
}

/* --- the decoder ------------------------------------------------------------------------------- */

static VmmControl__Frame *fuzz_decode(const uint8_t *data, size_t size)
{
        static uint8_t again[MAX_FRAME_SIZE];
        VmmControl__Frame *f = NULL, *f2 = NULL;
        ProtocolDiag d = {};
        size_t n;
        int r;

        memset(d.message, 'x', sizeof(d.message));
        r = protocol_decode(data, size, &f, &d);
        if (r < 0) {
                fuzz_check(r == -EMSGSIZE || r == -EPROTO || r == -EBADMSG || r == -ENOMEM, "unexpected error");
                fuzz_check(memchr(d.message, 0, sizeof(d.message)) && d.message[0], "no reason for the error");
                fuzz_check(!f, "a frame returned with an error");
                return NULL;
        }
        fuzz_check(f->version == PROTOCOL_VERSION, "decoded another version");
        fuzz_check(f->body_case == VMM_CONTROL__FRAME__BODY_REQUEST || f->body_case == VMM_CONTROL__FRAME__BODY_RESPONSE ||
                           f->body_case == VMM_CONTROL__FRAME__BODY_EVENT,
                   "decoded without a body");
        if (f->body_case == VMM_CONTROL__FRAME__BODY_REQUEST)
                fuzz_check(protocol_op_name(f->request->op_case) != NULL, "decoded an unknown op");
        if (f->body_case == VMM_CONTROL__FRAME__BODY_RESPONSE &&
            f->response->result_case == VMM_CONTROL__RESPONSE__RESULT_STATUS)
                fuzz_check(f->response->status->n_vcpu_tids <= PROTOCOL_MAX_VCPUS, "too many vcpu tids");
        r = protocol_encode(f, again, sizeof(again), &n);
        fuzz_check(r == 0, "a decoded frame does not re-encode");
        r = protocol_decode(again, n, &f2, NULL);
        if (!fuzz_proto_has_unknown(&f->base)) { /* see fuzz_proto_has_unknown() */
                fuzz_check(r == 0, "a re-encoded frame does not decode");
                fuzz_check(f2->body_case == f->body_case, "re-decoded body differs");
        }
        protocol_frame_free(f2);
        return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VmmControl__Frame *f;

        if (size > MAX_FRAME_SIZE)
                return 0;
        f = fuzz_decode(data, size);
        fuzz_server(data, size, f);
        fuzz_client(data, size);
        protocol_frame_free(f);
        return 0;
}

/* --- seeds ------------------------------------------------------------------------------------- */

static void add_frame(FuzzSeeds *s, VmmControl__Frame *f)
{
        static uint8_t buf[MAX_FRAME_SIZE];
        size_t n;

        f->version = PROTOCOL_VERSION;
        if (protocol_encode(f, buf, sizeof(buf), &n) < 0)
                abort();
        fuzz_seed_add(s, buf, n);
}

void fuzz_seeds(FuzzSeeds *s)
{
        VmmControl__Empty empty = VMM_CONTROL__EMPTY__INIT;
        VmmControl__BalloonSetRequest bset = VMM_CONTROL__BALLOON_SET_REQUEST__INIT;
        VmmControl__BalloonStatsRequest bstats = VMM_CONTROL__BALLOON_STATS_REQUEST__INIT;
        VmmControl__SwapDisableRequest sdis = VMM_CONTROL__SWAP_DISABLE_REQUEST__INIT;
        VmmControl__WatchdogConfigRequest wd = VMM_CONTROL__WATCHDOG_CONFIG_REQUEST__INIT;
        const VmmControl__Request__OpCase empties[] = {
                VMM_CONTROL__REQUEST__OP_STATUS,      VMM_CONTROL__REQUEST__OP_PAUSE,
                VMM_CONTROL__REQUEST__OP_RESUME,      VMM_CONTROL__REQUEST__OP_STOP,
                VMM_CONTROL__REQUEST__OP_SUBSCRIBE,   VMM_CONTROL__REQUEST__OP_VCPU_THREADS,
                VMM_CONTROL__REQUEST__OP_SWAP_ENABLE, VMM_CONTROL__REQUEST__OP_SWAP_TRIM,
                VMM_CONTROL__REQUEST__OP_SWAP_OUT,    VMM_CONTROL__REQUEST__OP_SWAP_STATUS,
        };

        /* Requests: every op. Empty messages share one union slot. */
        for (size_t i = 0; i < ELEMENTSOF(empties); i++) {
                VmmControl__Request rq = VMM_CONTROL__REQUEST__INIT;
                VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
                rq.id = i + 1;
                rq.op_case = empties[i];
                rq.status = &empty;
                f.body_case = VMM_CONTROL__FRAME__BODY_REQUEST;
                f.request = &rq;
                add_frame(s, &f);
        }
        {
                VmmControl__Request rq = VMM_CONTROL__REQUEST__INIT;
                VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
                f.body_case = VMM_CONTROL__FRAME__BODY_REQUEST;
                f.request = &rq;
                bset.num_bytes = 64 * MIB;
                bset.wait = true;
                bset.timeout_ms = 100;
                rq.id = 100;
                rq.op_case = VMM_CONTROL__REQUEST__OP_BALLOON_SET;
                rq.balloon_set = &bset;
                add_frame(s, &f);
                bstats.timeout_ms = 2;
                rq.op_case = VMM_CONTROL__REQUEST__OP_BALLOON_STATS;
                rq.balloon_stats = &bstats;
                add_frame(s, &f);
                sdis.slow_file_cleanup = true;
                rq.op_case = VMM_CONTROL__REQUEST__OP_SWAP_DISABLE;
                rq.swap_disable = &sdis;
                add_frame(s, &f);
                wd.enable = true;
                wd.timeout_ms = 5000;
                rq.op_case = VMM_CONTROL__REQUEST__OP_WATCHDOG_CONFIG;
                rq.watchdog_config = &wd;
                add_frame(s, &f);
        }

        /* Responses (what the client reads); request ids start at 1 in a fresh client. */
        {
                VmmControl__StatusResponse st = VMM_CONTROL__STATUS_RESPONSE__INIT;
                VmmControl__VcpuThreadsResponse vt = VMM_CONTROL__VCPU_THREADS_RESPONSE__INIT;
                VmmControl__BalloonStatsResponse bs = VMM_CONTROL__BALLOON_STATS_RESPONSE__INIT;
                VmmControl__SwapStatus ss = VMM_CONTROL__SWAP_STATUS__INIT;
                VmmControl__SwapMetrics sm = VMM_CONTROL__SWAP_METRICS__INIT;
                VmmControl__SwapStateTransition tr = VMM_CONTROL__SWAP_STATE_TRANSITION__INIT;
                VmmControl__Response rs = VMM_CONTROL__RESPONSE__INIT;
                VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;
                int32_t tids[] = { 11, 12, 13 };

                f.body_case = VMM_CONTROL__FRAME__BODY_RESPONSE;
                f.response = &rs;
                rs.id = 1;
                st.state = VMM_CONTROL__RUN_STATE__RUN_STATE_RUNNING;
                st.vcpus = 3;
                st.memory_bytes = 256 * MIB;
                st.pid = 10;
                st.n_vcpu_tids = 3;
                st.vcpu_tids = tids;
                st.kernel_format = (char *)"bzimage";
                rs.result_case = VMM_CONTROL__RESPONSE__RESULT_STATUS;
                rs.status = &st;
                add_frame(s, &f);
                vt.pid = 10;
                vt.n_tids = 3;
                vt.tids = tids;
                rs.result_case = VMM_CONTROL__RESPONSE__RESULT_VCPU_THREADS;
                rs.vcpu_threads = &vt;
                add_frame(s, &f);
                bs.free_memory = 1000;
                bs.balloon_actual = 4096;
                rs.result_case = VMM_CONTROL__RESPONSE__RESULT_BALLOON_STATS;
                rs.balloon_stats = &bs;
                add_frame(s, &f);
                sm.resident_pages = 5;
                tr.pages = 3;
                ss.state = VMM_CONTROL__SWAP_STATE__SWAP_STATE_ACTIVE;
                ss.metrics = &sm;
                ss.state_transition = &tr;
                ss.last_error = (char *)"disk full";
                rs.result_case = VMM_CONTROL__RESPONSE__RESULT_SWAP_STATUS;
                rs.swap_status = &ss;
                add_frame(s, &f);
                rs.result_case = VMM_CONTROL__RESPONSE__RESULT__NOT_SET;
                rs.error = ENOTSUP;
                rs.error_message = (char *)"no balloon device";
                add_frame(s, &f);
        }

        /* Events. */
        {
                VmmControl__Event ev = VMM_CONTROL__EVENT__INIT;
                VmmControl__VmExitedEvent ex = VMM_CONTROL__VM_EXITED_EVENT__INIT;
                VmmControl__DeviceResetEvent dr = VMM_CONTROL__DEVICE_RESET_EVENT__INIT;
                VmmControl__BalloonResizedEvent br = VMM_CONTROL__BALLOON_RESIZED_EVENT__INIT;
                VmmControl__Frame f = VMM_CONTROL__FRAME__INIT;

                f.body_case = VMM_CONTROL__FRAME__BODY_EVENT;
                f.event = &ev;
                ex.reason = VMM_CONTROL__EXIT_REASON__EXIT_REASON_CRASHED;
                ex.detail = (char *)"triple fault";
                ev.kind_case = VMM_CONTROL__EVENT__KIND_VM_EXITED;
                ev.vm_exited = &ex;
                add_frame(s, &f);
                dr.device = (char *)"virtio-balloon";
                dr.reason = (char *)"bad descriptor";
                ev.kind_case = VMM_CONTROL__EVENT__KIND_DEVICE_RESET;
                ev.device_reset = &dr;
                add_frame(s, &f);
                br.actual_bytes = 4096;
                br.target_bytes = 8192;
                ev.kind_case = VMM_CONTROL__EVENT__KIND_BALLOON_RESIZED;
                ev.balloon_resized = &br;
                add_frame(s, &f);
        }
}
