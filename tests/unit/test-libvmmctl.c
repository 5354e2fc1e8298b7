/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of libvmmctl (vmm_backend/ctl/libvmmctl.c): the client's encoding, id matching,
 * timeouts, disconnects and result parsing, against a fake server on the other end of a socketpair
 * (driven by the test thread), plus the blocking API against a small server thread. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cmocka.h>

#include "vmm_backend/ctl/libvmmctl.h"
#include "vmm_backend/ctl/protocol.h"
#include "vmm_backend/macro.h"

/* --- string tables ----------------------------------------------------------------------------- */

static void test_string_tables(void **state)
{
        for (int i = 0; i < _VMMCTL_OP_MAX; i++)
                assert_int_equal(vmmctl_op_from_string(vmmctl_op_to_string(i)), i);
        for (int i = 0; i < _VMMCTL_RUN_STATE_MAX; i++)
                assert_int_equal(vmmctl_run_state_from_string(vmmctl_run_state_to_string(i)), i);
        for (int i = 0; i < _VMMCTL_EXIT_REASON_MAX; i++)
                assert_int_equal(vmmctl_exit_reason_from_string(vmmctl_exit_reason_to_string(i)), i);
        for (int i = 0; i < _VMMCTL_SWAP_STATE_MAX; i++)
                assert_int_equal(vmmctl_swap_state_from_string(vmmctl_swap_state_to_string(i)), i);
        for (int i = 0; i < _VMMCTL_EVENT_TYPE_MAX; i++)
                assert_int_equal(vmmctl_event_type_from_string(vmmctl_event_type_to_string(i)), i);

        /* crosvm's names, and the values of vmm_control.SwapState. */
        static const char *const swap_names[] = { "Ready", "Pending", "TrimInProgress", "SwapOutInProgress",
                                                  "Active", "SwapInInProgress", "Failed" };
        for (size_t i = 0; i < ELEMENTSOF(swap_names); i++)
                assert_true(vmmctl_swap_state_from_string(swap_names[i]) >= 0);
        assert_int_equal(vmmctl_swap_state_from_string("Active"), VMM_CONTROL__SWAP_STATE__SWAP_STATE_ACTIVE);
        assert_int_equal(vmmctl_swap_state_from_string("Failed"), VMM_CONTROL__SWAP_STATE__SWAP_STATE_FAILED);
        assert_int_equal(vmmctl_exit_reason_from_string("stopped-by-request"),
                         VMM_CONTROL__EXIT_REASON__EXIT_REASON_STOPPED_BY_REQUEST);
        assert_int_equal(vmmctl_run_state_from_string("paused"), VMM_CONTROL__RUN_STATE__RUN_STATE_PAUSED);

        assert_int_equal(vmmctl_op_from_string("frobnicate"), -EINVAL);
        assert_int_equal(vmmctl_swap_state_from_string("active"), -EINVAL); /* case matters */
        assert_int_equal(vmmctl_run_state_from_string(NULL), -EINVAL);
        assert_null(vmmctl_op_to_string(_VMMCTL_OP_MAX));
        assert_null(vmmctl_swap_state_to_string(-1));
        assert_null(vmmctl_exit_reason_to_string(99));
        assert_null(vmmctl_event_type_to_string(_VMMCTL_EVENT_TYPE_INVALID));
}

/* --- fake server on a socketpair --------------------------------------------------------------- */

typedef struct Fixture {
        VmmctlClient *client;
        int server_fd;
} Fixture;

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        int sp[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        assert_int_equal(vmmctl_client_adopt_fd(sp[0], &f->client), 0);
        f->server_fd = sp[1];
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        vmmctl_client_free(f->client);
        safe_close(f->server_fd);
        free(f);
        return 0;
}

/* Read the next request the client sent (must decode). */
static VmmControl__Frame *server_read(Fixture *f)
{
        uint8_t buf[MAX_FRAME_SIZE];
        VmmControl__Frame *out = NULL;
        ssize_t n = recv(f->server_fd, buf, sizeof(buf), MSG_DONTWAIT);
        assert_true(n > 0);
        assert_int_equal(protocol_decode(buf, (size_t)n, &out, NULL), 0);
        assert_int_equal(out->body_case, VMM_CONTROL__FRAME__BODY_REQUEST);
        return out;
}

static void server_send_response(Fixture *f, VmmControl__Response *resp)
{
        VmmControl__Frame fr = VMM_CONTROL__FRAME__INIT;
        uint8_t buf[4096];
        size_t len;
        fr.version = PROTOCOL_VERSION;
        fr.body_case = VMM_CONTROL__FRAME__BODY_RESPONSE;
        fr.response = resp;
        assert_int_equal(protocol_encode(&fr, buf, sizeof(buf), &len), 0);
        assert_true(send(f->server_fd, buf, len, 0) == (ssize_t)len);
}

static void server_send_ok(Fixture *f, uint64_t id)
{
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        resp.id = id;
        server_send_response(f, &resp);
}

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

static uint64_t send_req(Fixture *f, const VmmctlRequest *req, uint64_t deadline, Result *res)
{
        uint64_t id = 0;
        *res = (Result){};
        assert_int_equal(vmmctl_client_send(f->client, req, deadline, on_response, res, &id), 0);
        return id;
}

/* Requests are encoded with the version, a fresh id and their arguments. */
static void test_request_encoding(void **state)
{
        Fixture *f = *state;
        Result r1, r2, r3, r4;
        VmmctlRequest bset = { .op = VMMCTL_OP_BALLOON_SET, .balloon_set = { .num_bytes = 123 * MIB, .wait = true,
                                                                             .timeout_ms = 4000 } };
        VmmctlRequest sdis = { .op = VMMCTL_OP_SWAP_DISABLE, .swap_disable = { .slow_file_cleanup = true } };
        VmmctlRequest wd = { .op = VMMCTL_OP_WATCHDOG_CONFIG, .watchdog_config = { .enable = true, .timeout_ms = 9 } };

        uint64_t id1 = send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, &r1);
        uint64_t id2 = send_req(f, &bset, 0, &r2);
        uint64_t id3 = send_req(f, &sdis, 0, &r3);
        uint64_t id4 = send_req(f, &wd, 0, &r4);
        assert_int_equal(id1, 1);
        assert_int_equal(id2, 2);
        assert_int_equal(id3, 3);
        assert_int_equal(id4, 4);
        assert_int_equal(vmmctl_client_pending(f->client), 4);

        VmmControl__Frame *fr = server_read(f);
        assert_int_equal(fr->version, PROTOCOL_VERSION);
        assert_int_equal(fr->request->id, 1);
        assert_int_equal(fr->request->op_case, VMM_CONTROL__REQUEST__OP_STATUS);
        protocol_frame_free(fr);
        fr = server_read(f);
        assert_int_equal(fr->request->op_case, VMM_CONTROL__REQUEST__OP_BALLOON_SET);
        assert_true(fr->request->balloon_set->num_bytes == 123 * MIB);
        assert_true(fr->request->balloon_set->wait);
        assert_int_equal(fr->request->balloon_set->timeout_ms, 4000);
        protocol_frame_free(fr);
        fr = server_read(f);
        assert_true(fr->request->swap_disable->slow_file_cleanup);
        protocol_frame_free(fr);
        fr = server_read(f);
        assert_true(fr->request->watchdog_config->enable);
        assert_int_equal(fr->request->watchdog_config->timeout_ms, 9);
        protocol_frame_free(fr);

        /* Invalid op. */
        assert_int_equal(vmmctl_client_send(f->client, &(VmmctlRequest){ .op = _VMMCTL_OP_MAX }, 0, NULL, NULL, NULL),
                         -EINVAL);

        /* Freeing the client fails what is still pending, once each. */
        f->client = vmmctl_client_free(f->client);
        assert_int_equal(r1.calls, 1);
        assert_int_equal(r1.resp.error, -ECANCELED);
        assert_int_equal(r4.calls, 1);
        assert_int_equal(r4.resp.error, -ECANCELED);
}

/* Answers are matched by id, in any order; unknown ids are counted, not delivered. */
static void test_response_matching(void **state)
{
        Fixture *f = *state;
        Result ra, rb;

        uint64_t a = send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_PAUSE }, 0, &ra);
        uint64_t b = send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, &rb);

        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        VmmControl__StatusResponse st = VMM_CONTROL__STATUS_RESPONSE__INIT;
        int32_t tids[2] = { 11, 12 };
        st.state = VMM_CONTROL__RUN_STATE__RUN_STATE_RUNNING;
        st.vcpus = 2;
        st.memory_bytes = 256 * MIB;
        st.pid = 10;
        st.n_vcpu_tids = 2;
        st.vcpu_tids = tids;
        st.kernel_format = (char *)"bzimage";
        resp.id = b;
        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_STATUS;
        resp.status = &st;
        server_send_response(f, &resp);
        server_send_ok(f, 999); /* nobody asked */

        VmmControl__Response err = VMM_CONTROL__RESPONSE__INIT;
        err.id = a;
        err.error = EALREADY;
        err.error_message = (char *)"the VM is already paused";
        server_send_response(f, &err);

        assert_int_equal(vmmctl_client_process(f->client), 0);
        assert_int_equal(rb.calls, 1);
        assert_int_equal(rb.resp.error, 0);
        assert_int_equal(rb.resp.op, VMMCTL_OP_STATUS);
        assert_int_equal(rb.resp.status.state, VMMCTL_RUN_RUNNING);
        assert_int_equal(rb.resp.status.n_vcpu_tids, 2);
        assert_int_equal(rb.resp.status.vcpu_tids[1], 12);
        assert_string_equal(rb.resp.status.kernel_format, "bzimage");
        assert_int_equal(ra.calls, 1);
        assert_int_equal(ra.resp.error, -EALREADY);
        assert_string_equal(ra.resp.error_message, "the VM is already paused");
        assert_int_equal(vmmctl_client_unmatched(f->client), 1);
        assert_int_equal(vmmctl_client_pending(f->client), 0);

        /* A second answer to the same id is not delivered twice. */
        server_send_ok(f, a);
        assert_int_equal(vmmctl_client_process(f->client), 0);
        assert_int_equal(ra.calls, 1);
        assert_int_equal(vmmctl_client_unmatched(f->client), 2);
}

/* A response without the result its op needs, an absurd errno, and an undecodable frame. */
static void test_bad_responses(void **state)
{
        Fixture *f = *state;
        Result r1, r2, r3;

        uint64_t a = send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_SWAP_STATUS }, 0, &r1);
        uint64_t b = send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STOP }, 0, &r2);
        uint64_t c = send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, &r3);

        server_send_ok(f, a); /* swap_status without SwapStatus */
        VmmControl__Response err = VMM_CONTROL__RESPONSE__INIT;
        err.id = b;
        err.error = 100000;
        server_send_response(f, &err);
        /* Wrong protocol version, but the id is readable: that request fails with EPROTO. */
        VmmControl__Frame fr = VMM_CONTROL__FRAME__INIT;
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        uint8_t buf[64];
        resp.id = c;
        fr.version = 3;
        fr.body_case = VMM_CONTROL__FRAME__BODY_RESPONSE;
        fr.response = &resp;
        size_t len = vmm_control__frame__pack(&fr, buf);
        assert_true(send(f->server_fd, buf, len, 0) == (ssize_t)len);
        /* Pure garbage: counted. */
        static const uint8_t junk[] = { 0x00, 0x01, 0x02 };
        assert_true(send(f->server_fd, junk, sizeof(junk), 0) == sizeof(junk));

        assert_int_equal(vmmctl_client_process(f->client), 0);
        assert_int_equal(r1.resp.error, -EBADMSG);
        assert_int_equal(r2.resp.error, -EIO);
        assert_int_equal(r3.calls, 1);
        assert_int_equal(r3.resp.error, -EPROTO);
        assert_int_equal(vmmctl_client_unmatched(f->client), 1);
}

static void test_timeouts(void **state)
{
        Fixture *f = *state;
        Result r1, r2, r3;
        uint64_t next = 0;

        uint64_t a = send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 1000, &r1);
        send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 3000, &r2);
        send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, &r3);

        assert_int_equal(vmmctl_client_check_timeouts(f->client, 999, &next), 0);
        assert_int_equal(next, 1000);
        assert_int_equal(vmmctl_client_check_timeouts(f->client, 1000, &next), 1);
        assert_int_equal(r1.calls, 1);
        assert_int_equal(r1.resp.error, -ETIMEDOUT);
        assert_int_equal(next, 3000);
        assert_int_equal(vmmctl_client_check_timeouts(f->client, 1u << 30, &next), 1);
        assert_int_equal(r2.resp.error, -ETIMEDOUT);
        assert_int_equal(next, 0);
        assert_int_equal(r3.calls, 0); /* no deadline */

        /* The late answer is not delivered. */
        server_send_ok(f, a);
        assert_int_equal(vmmctl_client_process(f->client), 0);
        assert_int_equal(r1.calls, 1);
        assert_int_equal(vmmctl_client_unmatched(f->client), 1);
        f->client = vmmctl_client_free(f->client); /* while r3 is still alive */
        assert_int_equal(r3.calls, 1);
}

static void test_disconnect(void **state)
{
        Fixture *f = *state;
        Result r1, r2;

        send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, &r1);
        send_req(f, &(VmmctlRequest){ .op = VMMCTL_OP_PAUSE }, 0, &r2);
        f->server_fd = safe_close(f->server_fd);
        assert_int_equal(vmmctl_client_process(f->client), -ECONNRESET);
        assert_int_equal(r1.calls, 1);
        assert_int_equal(r1.resp.error, -ECONNRESET);
        assert_int_equal(r2.resp.error, -ECONNRESET);
        assert_int_equal(vmmctl_client_pending(f->client), 0);
        assert_int_equal(vmmctl_client_send(f->client, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, NULL, NULL, NULL),
                         -ENOTCONN);
        assert_int_equal(vmmctl_client_process(f->client), -ECONNRESET);
}

/* Freeing the client from inside a callback is allowed; the remaining requests get -ECANCELED. */
static void free_in_callback(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        unsigned *n = userdata;
        (*n)++;
        vmmctl_client_free(c);
}

static void count_errors(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        int *err = userdata;
        *err = resp->error;
}

static void test_free_from_callback(void **state)
{
        Fixture *f = *state;
        unsigned n = 0;
        int err = 0;
        uint64_t a;

        assert_int_equal(vmmctl_client_send(f->client, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, free_in_callback,
                                            &n, &a),
                         0);
        assert_int_equal(vmmctl_client_send(f->client, &(VmmctlRequest){ .op = VMMCTL_OP_STATUS }, 0, count_errors,
                                            &err, NULL),
                         0);
        VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
        resp.id = a;
        resp.error = EIO;
        server_send_response(f, &resp);
        assert_int_equal(vmmctl_client_process(f->client), -ECANCELED);
        f->client = NULL; /* gone */
        assert_int_equal(n, 1);
        assert_int_equal(err, -ECANCELED);
}

typedef struct Events {
        unsigned n;
        VmmctlEvent last;
} Events;

static void on_event(VmmctlClient *c, const VmmctlEvent *ev, void *userdata)
{
        Events *e = userdata;
        e->n++;
        e->last = *ev;
}

static void test_events(void **state)
{
        Fixture *f = *state;
        Events e = {};
        VmmControl__Frame fr = VMM_CONTROL__FRAME__INIT;
        VmmControl__Event ev = VMM_CONTROL__EVENT__INIT;
        VmmControl__VmExitedEvent ex = VMM_CONTROL__VM_EXITED_EVENT__INIT;
        VmmControl__SwapStateChangedEvent sc = VMM_CONTROL__SWAP_STATE_CHANGED_EVENT__INIT;
        uint8_t buf[512];
        size_t len;

        vmmctl_client_set_event_handler(f->client, on_event, &e);
        fr.version = PROTOCOL_VERSION;
        fr.body_case = VMM_CONTROL__FRAME__BODY_EVENT;
        fr.event = &ev;

        ex.reason = VMM_CONTROL__EXIT_REASON__EXIT_REASON_GUEST_REQUESTED;
        ex.detail = (char *)"i8042 reset";
        ex.guest_code = 7;
        ev.kind_case = VMM_CONTROL__EVENT__KIND_VM_EXITED;
        ev.vm_exited = &ex;
        assert_int_equal(protocol_encode(&fr, buf, sizeof(buf), &len), 0);
        assert_true(send(f->server_fd, buf, len, 0) > 0);
        assert_int_equal(vmmctl_client_process(f->client), 0);
        assert_int_equal(e.n, 1);
        assert_int_equal(e.last.type, VMMCTL_EVENT_VM_EXITED);
        assert_int_equal(e.last.vm_exited.reason, VMMCTL_EXIT_GUEST_REQUESTED);
        assert_string_equal(e.last.vm_exited.detail, "i8042 reset");
        assert_int_equal(e.last.vm_exited.guest_code, 7);

        /* Values from a newer VMM map to unknown / Failed instead of out-of-range enums. */
        ex.reason = 42;
        assert_int_equal(protocol_encode(&fr, buf, sizeof(buf), &len), 0);
        assert_true(send(f->server_fd, buf, len, 0) > 0);
        sc.state = 77;
        sc.previous = VMM_CONTROL__SWAP_STATE__SWAP_STATE_TRIM_IN_PROGRESS;
        ev.kind_case = VMM_CONTROL__EVENT__KIND_SWAP_STATE_CHANGED;
        ev.swap_state_changed = &sc;
        assert_int_equal(protocol_encode(&fr, buf, sizeof(buf), &len), 0);
        assert_true(send(f->server_fd, buf, len, 0) > 0);
        assert_int_equal(vmmctl_client_process(f->client), 0);
        assert_int_equal(e.n, 3);
        assert_int_equal(e.last.swap_state_changed.state, VMMCTL_SWAP_FAILED);
        assert_int_equal(e.last.swap_state_changed.previous, VMMCTL_SWAP_TRIM_IN_PROGRESS);
}

/* --- blocking API against a server thread ------------------------------------------------------ */

typedef struct ThreadServer {
        int listen_fd;
        bool answer;       /* false: accept and read, never answer */
        bool send_event;   /* after answering, send one vm_exited event and close */
        char path[108];
} ThreadServer;

static void *server_thread(void *userdata)
{
        ThreadServer *ts = userdata;
        int fd = accept4(ts->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return NULL;
        uint8_t buf[MAX_FRAME_SIZE];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        VmmControl__Frame *req = NULL;
        if (n > 0 && protocol_decode(buf, (size_t)n, &req, NULL) == 0 && ts->answer) {
                VmmControl__Frame fr = VMM_CONTROL__FRAME__INIT;
                VmmControl__Response resp = VMM_CONTROL__RESPONSE__INIT;
                VmmControl__StatusResponse st = VMM_CONTROL__STATUS_RESPONSE__INIT;
                size_t len;
                resp.id = req->request->id;
                if (req->request->op_case == VMM_CONTROL__REQUEST__OP_STATUS) {
                        st.state = VMM_CONTROL__RUN_STATE__RUN_STATE_PAUSED;
                        st.vcpus = 1;
                        resp.result_case = VMM_CONTROL__RESPONSE__RESULT_STATUS;
                        resp.status = &st;
                }
                fr.version = PROTOCOL_VERSION;
                fr.body_case = VMM_CONTROL__FRAME__BODY_RESPONSE;
                fr.response = &resp;
                if (protocol_encode(&fr, buf, sizeof(buf), &len) == 0)
                        (void)!send(fd, buf, len, MSG_NOSIGNAL);
                if (ts->send_event) {
                        VmmControl__Event ev = VMM_CONTROL__EVENT__INIT;
                        VmmControl__VmExitedEvent ex = VMM_CONTROL__VM_EXITED_EVENT__INIT;
                        ex.reason = VMM_CONTROL__EXIT_REASON__EXIT_REASON_STOPPED_BY_REQUEST;
                        ev.kind_case = VMM_CONTROL__EVENT__KIND_VM_EXITED;
                        ev.vm_exited = &ex;
                        fr.body_case = VMM_CONTROL__FRAME__BODY_EVENT;
                        fr.event = &ev;
                        if (protocol_encode(&fr, buf, sizeof(buf), &len) == 0)
                                (void)!send(fd, buf, len, MSG_NOSIGNAL);
                }
        } else if (!ts->answer) {
                /* Hold the connection open until the client gives up and closes it. */
                (void)!recv(fd, buf, sizeof(buf), 0);
        }
        protocol_frame_free(req);
        close(fd);
        return NULL;
}

static void thread_server_start(ThreadServer *ts, pthread_t *t)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(ts->path, sizeof(ts->path), "/tmp/test-libvmmctl.%d.sock", (int)getpid());
        unlink(ts->path);
        strcpy(sa.sun_path, ts->path);
        ts->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        assert_true(ts->listen_fd >= 0);
        assert_int_equal(bind(ts->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(ts->listen_fd, 4), 0);
        assert_int_equal(pthread_create(t, NULL, server_thread, ts), 0);
}

static void thread_server_stop(ThreadServer *ts, pthread_t t)
{
        pthread_join(t, NULL);
        close(ts->listen_fd);
        unlink(ts->path);
}

static void test_blocking_calls(void **state)
{
        ThreadServer ts = { .answer = true };
        pthread_t t;
        VmmctlStatus st;

        thread_server_start(&ts, &t);
        assert_int_equal(vmmctl_status(ts.path, 5000, &st), 0);
        assert_int_equal(st.state, VMMCTL_RUN_PAUSED);
        assert_int_equal(st.vcpus, 1);
        thread_server_stop(&ts, t);

        /* A VMM that never answers: the call gives up after its timeout. */
        ts.answer = false;
        thread_server_start(&ts, &t);
        VmmctlResponse resp;
        assert_int_equal(vmmctl_call(ts.path, 200, &(VmmctlRequest){ .op = VMMCTL_OP_PAUSE }, &resp), -ETIMEDOUT);
        assert_non_null(strstr(resp.error_message, "pause"));
        thread_server_stop(&ts, t);

        /* Nobody listening. */
        assert_int_equal(vmmctl_pause(ts.path, 200), -ENOENT);
        assert_int_equal(vmmctl_resume("", 200), -EINVAL);
}

static void test_blocking_subscription(void **state)
{
        ThreadServer ts = { .answer = true, .send_event = true };
        pthread_t t;
        VmmctlClient *c = NULL;
        VmmctlEvent ev;

        thread_server_start(&ts, &t);
        assert_int_equal(vmmctl_subscribe(ts.path, 5000, &c), 0);
        assert_int_equal(vmmctl_wait_event(c, 5000, &ev), 0);
        assert_int_equal(ev.type, VMMCTL_EVENT_VM_EXITED);
        assert_int_equal(ev.vm_exited.reason, VMMCTL_EXIT_STOPPED_BY_REQUEST);
        /* Then the VMM goes away. */
        assert_int_equal(vmmctl_wait_event(c, 5000, &ev), -ECONNRESET);
        vmmctl_client_free(c);
        thread_server_stop(&ts, t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_string_tables),
                cmocka_unit_test_setup_teardown(test_request_encoding, setup, teardown),
                cmocka_unit_test_setup_teardown(test_response_matching, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_responses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_timeouts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disconnect, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events, setup, teardown),
                cmocka_unit_test(test_blocking_calls),
                cmocka_unit_test(test_blocking_subscription),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
