/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the control-socket server (vmm_backend/control.c) over a socketpair and a listening
 * socket, driven single-threaded: the test pumps the server's event loop and the libvmmctl client in
 * turn. The VM is a test double of the vm.h functions the server calls (a test seam, linked only
 * into this binary). */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "vmm_backend/control.h"
#include "vmm_backend/ctl/libvmmctl.h"
#include "vmm_backend/ctl/protocol.h"
#include "vmm_backend/evloop.h"
#include "vmm_backend/macro.h"

/* --- the vm.h test double ---------------------------------------------------------------------- */

struct Vm {
        bool paused;
        unsigned pauses, resumes, stops, status_calls;
        VmExitReason stop_reason;
        int watch_fd;              /* client end: is the stop reply readable when stop is requested? */
        bool reply_before_stop;
};

int vm_pause(Vm *vm)
{
        vm->pauses++;
        if (vm->paused)
                return -EALREADY;
        vm->paused = true;
        return 0;
}

int vm_resume(Vm *vm)
{
        vm->resumes++;
        if (!vm->paused)
                return -EALREADY;
        vm->paused = false;
        return 0;
}

void vm_request_stop(Vm *vm, VmExitReason reason, const char *detail, int guest_code)
{
        vm->stops++;
        vm->stop_reason = reason;
        struct pollfd p = { .fd = vm->watch_fd, .events = POLLIN };
        vm->reply_before_stop = poll(&p, 1, 0) == 1;
}

void vm_get_status(Vm *vm, VmStatusInfo *ret)
{
        vm->status_calls++;
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

/* --- fixture ----------------------------------------------------------------------------------- */

typedef struct Fixture {
        Vm vm;
        EvLoop *loop;
        ControlServer *server;
        VmmctlClient *client; /* on the inherited socketpair end */
        char dir[64], path[128];
} Fixture;

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int sp[2];

        strcpy(f->dir, "/tmp/test-control-server.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
        strcpy(sa.sun_path, f->path);
        int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        assert_true(lfd >= 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 128), 0);

        assert_int_equal(evloop_new(&f->loop), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(control_server_new(f->loop, &f->vm, lfd, sp[0], &f->server), 0);
        assert_int_equal(vmmctl_client_adopt_fd(sp[1], &f->client), 0);
        f->vm.watch_fd = sp[1];
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        vmmctl_client_free(f->client);
        control_server_free(f->server);
        evloop_free(f->loop);
        unlink(f->path);
        rmdir(f->dir);
        free(f);
        return 0;
}

static void pump(Fixture *f)
{
        while (evloop_run_once(f->loop, 0) > 0)
                ;
}

typedef struct Result {
        bool done;
        VmmctlResponse resp;
        unsigned calls;
} Result;

static void on_response(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        Result *r = userdata;
        r->done = true;
        r->calls++;
        r->resp = *resp;
}

/* Send req through the inherited connection and pump both sides until it is answered. */
static void call(Fixture *f, VmmctlClient *c, const VmmctlRequest *req, Result *res)
{
        *res = (Result){};
        assert_int_equal(vmmctl_client_send(c, req, 0, on_response, res, NULL), 0);
        for (unsigned i = 0; i < 1000 && !res->done; i++) {
                pump(f);
                (void)vmmctl_client_process(c);
        }
        assert_true(res->done);
}

static void call_op(Fixture *f, VmmctlOp op, Result *res)
{
        call(f, f->client, &(VmmctlRequest){ .op = op }, res);
}

/* A raw connection through the listening socket, accepted by the server. */
static int raw_connect(Fixture *f)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, f->path);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        pump(f);
        return fd;
}

/* Send raw bytes and read the server's answer (which must be a response). */
static VmmControl__Frame *raw_exchange(Fixture *f, int fd, const void *data, size_t len)
{
        static uint8_t buf[MAX_FRAME_SIZE];
        VmmControl__Frame *out = NULL;

        assert_true(send(fd, data, len, MSG_NOSIGNAL) == (ssize_t)len);
        pump(f);
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        assert_true(n > 0);
        assert_int_equal(protocol_decode(buf, (size_t)n, &out, NULL), 0);
        assert_int_equal(out->body_case, VMM_CONTROL__FRAME__BODY_RESPONSE);
        return out;
}

/* --- tests ------------------------------------------------------------------------------------- */

static void test_status_and_vcpu_threads(void **state)
{
        Fixture *f = *state;
        Result res;

        call_op(f, VMMCTL_OP_STATUS, &res);
        assert_int_equal(res.resp.error, 0);
        assert_int_equal(res.resp.status.state, VMMCTL_RUN_RUNNING);
        assert_int_equal(res.resp.status.vcpus, 2);
        assert_true(res.resp.status.memory_bytes == 128 * MIB);
        assert_int_equal(res.resp.status.pid, 4242);
        assert_int_equal(res.resp.status.n_vcpu_tids, 2);
        assert_int_equal(res.resp.status.vcpu_tids[1], 4244);
        assert_int_equal(res.resp.status.uptime_ms, 1500);
        assert_string_equal(res.resp.status.kernel_format, "elf-pvh");
        assert_true(res.resp.status.resident_bytes == 3 * MIB);

        call_op(f, VMMCTL_OP_VCPU_THREADS, &res);
        assert_int_equal(res.resp.error, 0);
        assert_int_equal(res.resp.vcpu_threads.pid, 4242);
        assert_int_equal(res.resp.vcpu_threads.n_tids, 2);
        assert_int_equal(res.resp.vcpu_threads.tids[0], 4243);
}

static void test_pause_resume(void **state)
{
        Fixture *f = *state;
        Result res;

        call_op(f, VMMCTL_OP_PAUSE, &res);
        assert_int_equal(res.resp.error, 0);
        assert_true(f->vm.paused);
        call_op(f, VMMCTL_OP_STATUS, &res);
        assert_int_equal(res.resp.status.state, VMMCTL_RUN_PAUSED);
        call_op(f, VMMCTL_OP_PAUSE, &res);
        assert_int_equal(res.resp.error, -EALREADY);
        assert_non_null(strstr(res.resp.error_message, "already paused"));
        call_op(f, VMMCTL_OP_RESUME, &res);
        assert_int_equal(res.resp.error, 0);
        assert_false(f->vm.paused);
        call_op(f, VMMCTL_OP_RESUME, &res);
        assert_int_equal(res.resp.error, -EALREADY);
        assert_int_equal(f->vm.pauses, 2);
        assert_int_equal(f->vm.resumes, 2);
}

static void test_stop_replies_first(void **state)
{
        Fixture *f = *state;
        Result res;

        call_op(f, VMMCTL_OP_STOP, &res);
        assert_int_equal(res.resp.error, 0);
        assert_int_equal(f->vm.stops, 1);
        assert_int_equal(f->vm.stop_reason, VM_EXIT_STOPPED_BY_REQUEST);
        assert_true(f->vm.reply_before_stop);
}

typedef struct Events {
        unsigned n;
        VmmctlEvent ev[8];
} Events;

static void on_event(VmmctlClient *c, const VmmctlEvent *ev, void *userdata)
{
        Events *e = userdata;
        if (e->n < ELEMENTSOF(e->ev))
                e->ev[e->n] = *ev;
        e->n++;
}

static void test_subscribe_and_events(void **state)
{
        Fixture *f = *state;
        Events seen = {}, other_seen = {};
        Result res;

        /* A second client that does not subscribe gets nothing. */
        VmmctlClient *other;
        assert_int_equal(vmmctl_client_connect(f->path, &other), 0);
        pump(f);
        vmmctl_client_set_event_handler(other, on_event, &other_seen);
        call(f, other, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, &res);

        vmmctl_client_set_event_handler(f->client, on_event, &seen);
        call_op(f, VMMCTL_OP_SUBSCRIBE, &res);
        assert_int_equal(res.resp.error, 0);

        VmmEvent evs[] = {
                { .type = VMM_EVENT_WATCHDOG_STALL, .watchdog_stall = { .vcpu = 1 } },
                { .type = VMM_EVENT_SWAP_STATE_CHANGED, .swap_state_changed = { .state = 5, .previous = 2 } },
                { .type = VMM_EVENT_BALLOON_RESIZED, .balloon_resized = { .actual_bytes = 10, .target_bytes = 20 } },
                { .type = VMM_EVENT_DEVICE_RESET, .device_reset = { .device = "balloon", .reason = "bad descriptor" } },
                { .type = VMM_EVENT_VM_EXITED,
                  .vm_exited = { .reason = VM_EXIT_CRASHED, .detail = "triple fault", .guest_code = 3 } },
        };
        for (size_t i = 0; i < ELEMENTSOF(evs); i++)
                control_server_emit(f->server, &evs[i]);
        (void)vmmctl_client_process(f->client);
        (void)vmmctl_client_process(other);

        assert_int_equal(other_seen.n, 0);
        assert_int_equal(seen.n, 5);
        assert_int_equal(seen.ev[0].type, VMMCTL_EVENT_WATCHDOG_STALL);
        assert_int_equal(seen.ev[0].watchdog_stall.vcpu, 1);
        assert_int_equal(seen.ev[1].swap_state_changed.state, VMMCTL_SWAP_ACTIVE);
        assert_int_equal(seen.ev[1].swap_state_changed.previous, VMMCTL_SWAP_PENDING);
        assert_int_equal(seen.ev[2].balloon_resized.actual_bytes, 10);
        assert_int_equal(seen.ev[2].balloon_resized.target_bytes, 20);
        assert_string_equal(seen.ev[3].device_reset.device, "balloon");
        assert_string_equal(seen.ev[3].device_reset.reason, "bad descriptor");
        assert_int_equal(seen.ev[4].type, VMMCTL_EVENT_VM_EXITED);
        assert_int_equal(seen.ev[4].vm_exited.reason, VMMCTL_EXIT_CRASHED);
        assert_string_equal(seen.ev[4].vm_exited.detail, "triple fault");
        assert_int_equal(seen.ev[4].vm_exited.guest_code, 3);
        vmmctl_client_free(other);
        pump(f);
}

/* A subscriber that never reads is dropped once its queue is full; the others keep working. */
static void test_slow_subscriber_dropped(void **state)
{
        Fixture *f = *state;
        Result res;
        int fd = raw_connect(f);
        VmmControl__Request req = VMM_CONTROL__REQUEST__INIT;
        VmmControl__Empty empty = VMM_CONTROL__EMPTY__INIT;
        VmmControl__Frame fr = VMM_CONTROL__FRAME__INIT;
        uint8_t buf[64];
        size_t len;

        req.id = 1;
        req.op_case = VMM_CONTROL__REQUEST__OP_SUBSCRIBE;
        req.subscribe = &empty;
        fr.version = PROTOCOL_VERSION;
        fr.body_case = VMM_CONTROL__FRAME__BODY_REQUEST;
        fr.request = &req;
        assert_int_equal(protocol_encode(&fr, buf, sizeof(buf), &len), 0);
        protocol_frame_free(raw_exchange(f, fd, buf, len));

        VmmEvent ev = { .type = VMM_EVENT_BALLOON_RESIZED };
        for (unsigned i = 0; i < 20000; i++) {
                ev.balloon_resized.actual_bytes = i;
                control_server_emit(f->server, &ev);
        }
        pump(f);
        /* Drain: some events arrive, then the end of the connection. */
        unsigned got = 0;
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (n == 0)
                        break;
                assert_true(n > 0);
                got++;
        }
        assert_true(got > 0 && got < 20000);
        close(fd);

        call_op(f, VMMCTL_OP_STATUS, &res);
        assert_int_equal(res.resp.error, 0);
}

/* Garbage of every kind gets an error response and changes nothing. */
static void test_bad_frames(void **state)
{
        Fixture *f = *state;
        VmmControl__Frame *out;
        int fd = raw_connect(f);
        uint8_t *big = calloc(1, MAX_FRAME_SIZE + 100);
        Result res;

        /* Random bytes. */
        static const uint8_t junk[] = { 0x00, 0xff, 0x13, 0x37 };
        out = raw_exchange(f, fd, junk, sizeof(junk));
        assert_int_equal(out->response->error, EBADMSG);
        assert_int_equal(out->response->id, 0);
        assert_true(strlen(out->response->error_message) > 0);
        protocol_frame_free(out);

        /* A stop request with the wrong version: EPROTO, id echoed, VM not stopped. */
        VmmControl__Frame fr = VMM_CONTROL__FRAME__INIT;
        VmmControl__Request req = VMM_CONTROL__REQUEST__INIT;
        VmmControl__Empty empty = VMM_CONTROL__EMPTY__INIT;
        uint8_t buf[128];
        req.id = 99;
        req.op_case = VMM_CONTROL__REQUEST__OP_STOP;
        req.stop = &empty;
        fr.version = 7;
        fr.body_case = VMM_CONTROL__FRAME__BODY_REQUEST;
        fr.request = &req;
        size_t len = vmm_control__frame__pack(&fr, buf);
        out = raw_exchange(f, fd, buf, len);
        assert_int_equal(out->response->error, EPROTO);
        assert_int_equal(out->response->id, 99);
        protocol_frame_free(out);

        /* The same, truncated. */
        fr.version = PROTOCOL_VERSION;
        len = vmm_control__frame__pack(&fr, buf);
        out = raw_exchange(f, fd, buf, len - 1);
        assert_int_equal(out->response->error, EBADMSG);
        protocol_frame_free(out);

        /* Oversized: rejected whole, id unknown. */
        memset(big, 0x08, MAX_FRAME_SIZE + 100);
        out = raw_exchange(f, fd, big, MAX_FRAME_SIZE + 100);
        assert_int_equal(out->response->error, EMSGSIZE);
        assert_int_equal(out->response->id, 0);
        protocol_frame_free(out);

        /* An empty datagram. */
        out = raw_exchange(f, fd, big, 0);
        assert_int_equal(out->response->error, EBADMSG);
        protocol_frame_free(out);

        /* A response frame where a request belongs. */
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        resp.id = 5;
        fr.body_case = VMM_CONTROL__FRAME__BODY_RESPONSE;
        fr.response = &resp;
        len = vmm_control__frame__pack(&fr, buf);
        out = raw_exchange(f, fd, buf, len);
        assert_int_equal(out->response->error, EBADMSG);
        assert_int_equal(out->response->id, 5);
        protocol_frame_free(out);

        /* Many random frames in a row on the same connection. */
        uint64_t x = 88172645463325252u;
        for (unsigned i = 0; i < 200; i++) {
                size_t n = 1 + (size_t)(x % 100);
                for (size_t j = 0; j < n; j++) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        buf[j] = (uint8_t)x;
                }
                buf[0] = 0; /* field number 0: never a valid frame */
                out = raw_exchange(f, fd, buf, n);
                assert_true(out->response->error != 0);
                protocol_frame_free(out);
        }

        assert_int_equal(f->vm.stops, 0);
        assert_int_equal(f->vm.pauses, 0);
        assert_int_equal(f->vm.resumes, 0);
        /* And the server still serves, on both connections. */
        call_op(f, VMMCTL_OP_STATUS, &res);
        assert_int_equal(res.resp.error, 0);
        close(fd);
        pump(f);
        free(big);
}

/* A client that sends a burst without reading gets every answer, in order, once it reads. */
static void test_pipelined_requests(void **state)
{
        Fixture *f = *state;
        enum { N = 600 };
        Result *res = calloc(N, sizeof(Result));

        for (unsigned i = 0; i < N; i++)
                assert_int_equal(vmmctl_client_send(f->client, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0,
                                                    on_response, &res[i], NULL),
                                 0);
        for (unsigned round = 0; round < 10000 && vmmctl_client_pending(f->client) > 0; round++) {
                pump(f);
                if (round > 5) /* read only after the server had to queue */
                        (void)vmmctl_client_process(f->client);
        }
        assert_int_equal(vmmctl_client_pending(f->client), 0);
        for (unsigned i = 0; i < N; i++) {
                assert_true(res[i].done);
                assert_int_equal(res[i].calls, 1);
                assert_int_equal(res[i].resp.error, 0);
                assert_int_equal(res[i].resp.id, i + 1);
        }
        free(res);
}

/* --- device hooks ------------------------------------------------------------------------------ */

typedef struct FakeBalloon {
        int result;
        const char *message;
        ControlReply *pending;
        uint64_t last_bytes;
        bool last_wait;
        uint32_t last_timeout;
        bool finish_inline_stats;
} FakeBalloon;

static int fake_balloon_set(void *dev, uint64_t num_bytes, bool wait, uint32_t timeout_ms, ControlReply *reply,
                            const char **ret_message)
{
        FakeBalloon *b = dev;
        b->last_bytes = num_bytes;
        b->last_wait = wait;
        b->last_timeout = timeout_ms;
        if (b->result == CONTROL_PENDING)
                b->pending = reply;
        *ret_message = b->message;
        return b->result;
}

static int fake_balloon_stats(void *dev, uint32_t timeout_ms, ControlReply *reply, const char **ret_message)
{
        FakeBalloon *b = dev;
        if (b->finish_inline_stats) {
                BalloonStatsInfo st = { .swap_in = 1, .free_memory = 1000, .unevictable_memory = -1,
                                        .balloon_actual = 4096 };
                control_reply_finish_balloon_stats(reply, &st);
                return CONTROL_PENDING;
        }
        b->pending = reply;
        return CONTROL_PENDING;
}

static const ControlBalloonOps fake_balloon_ops = { .set = fake_balloon_set, .stats = fake_balloon_stats };

static void test_balloon(void **state)
{
        Fixture *f = *state;
        FakeBalloon b = {};
        Result res;
        VmmctlRequest set = { .op = VMMCTL_OP_BALLOON_SET };

        call_op(f, VMMCTL_OP_BALLOON_STATS, &res);
        assert_int_equal(res.resp.error, -ENOTSUP);
        assert_string_equal(res.resp.error_message, "this VM has no balloon device");

        control_server_set_balloon(f->server, &fake_balloon_ops, &b);

        /* Immediate success. */
        set.balloon_set.num_bytes = 64 * MIB;
        set.balloon_set.wait = true;
        set.balloon_set.timeout_ms = 777;
        call(f, f->client, &set, &res);
        assert_int_equal(res.resp.error, 0);
        assert_true(b.last_bytes == 64 * MIB);
        assert_true(b.last_wait);
        assert_int_equal(b.last_timeout, 777);

        /* Immediate failure with the device's message. */
        b.result = -ENOSPC;
        b.message = "balloon larger than guest RAM";
        call(f, f->client, &set, &res);
        assert_int_equal(res.resp.error, -ENOSPC);
        assert_string_equal(res.resp.error_message, "balloon larger than guest RAM");

        /* Pending, finished later. */
        b.result = CONTROL_PENDING;
        res = (Result){};
        assert_int_equal(vmmctl_client_send(f->client, &set, 0, on_response, &res, NULL), 0);
        pump(f);
        (void)vmmctl_client_process(f->client);
        assert_false(res.done);
        assert_non_null(b.pending);
        control_reply_finish(b.pending, -ETIMEDOUT, "balloon did not reach its target");
        b.pending = NULL;
        (void)vmmctl_client_process(f->client);
        assert_true(res.done);
        assert_int_equal(res.resp.error, -ETIMEDOUT);
        assert_string_equal(res.resp.error_message, "balloon did not reach its target");

        /* Stats finished inside the op, although it said pending. */
        b.finish_inline_stats = true;
        call_op(f, VMMCTL_OP_BALLOON_STATS, &res);
        assert_int_equal(res.resp.error, 0);
        assert_int_equal(res.resp.balloon_stats.swap_in, 1);
        assert_int_equal(res.resp.balloon_stats.free_memory, 1000);
        assert_int_equal(res.resp.balloon_stats.unevictable_memory, -1);
        assert_int_equal(res.resp.balloon_stats.balloon_actual, 4096);

        /* A pending reply whose client disconnects, finished afterwards: no crash, no leak. */
        b.finish_inline_stats = false;
        VmmctlClient *c2;
        assert_int_equal(vmmctl_client_connect(f->path, &c2), 0);
        pump(f);
        assert_int_equal(vmmctl_client_send(c2, &(VmmctlRequest){ .op = VMMCTL_OP_BALLOON_STATS }, 0, NULL, NULL, NULL), 0);
        pump(f);
        assert_non_null(b.pending);
        vmmctl_client_free(c2);
        pump(f);
        BalloonStatsInfo st = {};
        control_reply_finish_balloon_stats(b.pending, &st);
        b.pending = NULL;

        /* A pending reply that outlives the server. */
        b.result = CONTROL_PENDING;
        res = (Result){};
        assert_int_equal(vmmctl_client_send(f->client, &set, 0, on_response, &res, NULL), 0);
        pump(f);
        assert_non_null(b.pending);
        f->server = control_server_free(f->server);
        control_reply_finish(b.pending, 0, NULL);
        assert_int_equal(vmmctl_client_process(f->client), -ECONNRESET);
        assert_true(res.done);
        assert_int_equal(res.resp.error, -ECONNRESET);
}

typedef struct FakeSwap {
        unsigned enables, trims, outs, disables;
        bool slow;
        int result;
} FakeSwap;

static int fake_swap_enable(void *s, const char **m)
{
        ((FakeSwap *)s)->enables++;
        *m = "cannot enable: not ready";
        return ((FakeSwap *)s)->result;
}
static int fake_swap_trim(void *s, const char **m)
{
        ((FakeSwap *)s)->trims++;
        return 0;
}
static int fake_swap_out(void *s, const char **m)
{
        ((FakeSwap *)s)->outs++;
        return 0;
}
static int fake_swap_disable(void *s, bool slow, const char **m)
{
        ((FakeSwap *)s)->disables++;
        ((FakeSwap *)s)->slow = slow;
        return 0;
}
static int fake_swap_status(void *s, SwapStatusInfo *ret)
{
        *ret = (SwapStatusInfo){ .state = 5, .resident_pages = 1, .copied_from_file_pages = 2,
                                 .copied_from_staging_pages = 3, .zeroed_pages = 4, .redundant_pages = 5,
                                 .staging_pages = 6, .swap_pages = 7, .fault_around_pages = 8,
                                 .transition_pages = 9, .transition_time_ms = 10 };
        strcpy(ret->last_error, "swap-out: No space left on device");
        return 0;
}
static const ControlSwapOps fake_swap_ops = { fake_swap_enable, fake_swap_trim, fake_swap_out, fake_swap_disable,
                                              fake_swap_status };

static void test_swap_and_watchdog(void **state)
{
        Fixture *f = *state;
        FakeSwap s = {};
        Result res;

        call_op(f, VMMCTL_OP_SWAP_ENABLE, &res);
        assert_int_equal(res.resp.error, -ENOTSUP);
        assert_string_equal(res.resp.error_message, "vmm-swap is not enabled for this VM (start with --swap-dir)");
        call_op(f, VMMCTL_OP_WATCHDOG_CONFIG, &res);
        assert_int_equal(res.resp.error, -ENOTSUP);
        assert_non_null(strstr(res.resp.error_message, "watchdog"));

        control_server_set_swap(f->server, &fake_swap_ops, &s);
        call_op(f, VMMCTL_OP_SWAP_ENABLE, &res);
        assert_int_equal(res.resp.error, 0);
        s.result = -EBUSY;
        call_op(f, VMMCTL_OP_SWAP_ENABLE, &res);
        assert_int_equal(res.resp.error, -EBUSY);
        assert_string_equal(res.resp.error_message, "cannot enable: not ready");
        call_op(f, VMMCTL_OP_SWAP_TRIM, &res);
        call_op(f, VMMCTL_OP_SWAP_OUT, &res);
        VmmctlRequest dis = { .op = VMMCTL_OP_SWAP_DISABLE, .swap_disable = { .slow_file_cleanup = true } };
        call(f, f->client, &dis, &res);
        assert_int_equal(res.resp.error, 0);
        assert_int_equal(s.enables, 2);
        assert_int_equal(s.trims, 1);
        assert_int_equal(s.outs, 1);
        assert_int_equal(s.disables, 1);
        assert_true(s.slow);

        call_op(f, VMMCTL_OP_SWAP_STATUS, &res);
        assert_int_equal(res.resp.error, 0);
        const VmmctlSwapStatus *st = &res.resp.swap_status;
        assert_int_equal(st->state, VMMCTL_SWAP_ACTIVE);
        assert_int_equal(st->resident_pages, 1);
        assert_int_equal(st->swap_pages, 7);
        assert_int_equal(st->fault_around_pages, 8);
        assert_int_equal(st->transition_pages, 9);
        assert_int_equal(st->transition_time_ms, 10);
        assert_string_equal(st->last_error, "swap-out: No space left on device");
}

/* At most 64 connections; the 65th is told EBUSY and closed, the others keep working. */
static void test_connection_limit(void **state)
{
        Fixture *f = *state;
        int fds[70];
        uint8_t buf[256];
        unsigned n;

        /* The inherited connection counts as one. */
        for (n = 0; n < 63; n++)
                fds[n] = raw_connect(f);
        fds[n] = raw_connect(f);
        ssize_t k = recv(fds[n], buf, sizeof(buf), MSG_DONTWAIT);
        assert_true(k > 0);
        VmmControl__Frame *out = NULL;
        assert_int_equal(protocol_decode(buf, (size_t)k, &out, NULL), 0);
        assert_int_equal(out->response->error, EBUSY);
        protocol_frame_free(out);
        assert_int_equal(recv(fds[n], buf, sizeof(buf), MSG_DONTWAIT), 0);
        close(fds[n]);

        /* Freeing one slot lets a new client in. */
        close(fds[0]);
        pump(f);
        fds[0] = raw_connect(f);
        assert_true(recv(fds[0], buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN);

        Result res;
        call_op(f, VMMCTL_OP_STATUS, &res);
        assert_int_equal(res.resp.error, 0);
        for (unsigned i = 0; i < 63; i++)
                close(fds[i]);
        pump(f);
}

/* A client that disconnects with a request unanswered and replies queued is cleaned up. */
static void test_disconnect_midway(void **state)
{
        Fixture *f = *state;
        int fd = raw_connect(f);
        VmmControl__Frame fr = VMM_CONTROL__FRAME__INIT;
        VmmControl__Request req = VMM_CONTROL__REQUEST__INIT;
        VmmControl__Empty empty = VMM_CONTROL__EMPTY__INIT;
        uint8_t buf[64];
        size_t len;

        req.op_case = VMM_CONTROL__REQUEST__OP_STATUS;
        req.status = &empty;
        fr.version = PROTOCOL_VERSION;
        fr.body_case = VMM_CONTROL__FRAME__BODY_REQUEST;
        fr.request = &req;
        for (unsigned i = 0; i < 300; i++) {
                req.id = i + 1;
                assert_int_equal(protocol_encode(&fr, buf, sizeof(buf), &len), 0);
                if (send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                        break;
                if (i % 50 == 0)
                        pump(f);
        }
        pump(f);
        close(fd);
        pump(f);
        Result res;
        call_op(f, VMMCTL_OP_STATUS, &res);
        assert_int_equal(res.resp.error, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_status_and_vcpu_threads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stop_replies_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_subscribe_and_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slow_subscriber_dropped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_frames, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pipelined_requests, setup, teardown),
                cmocka_unit_test_setup_teardown(test_balloon, setup, teardown),
                cmocka_unit_test_setup_teardown(test_swap_and_watchdog, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disconnect_midway, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
