/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The `embedded` backend: our vmm_backend, spawned by vmm-process.c and driven with libvmmctl's
 * non-blocking client on the daemon's libevent loop (see backend.h). */
#include <event2/event.h>
#include <poll.h>
#include <stdio.h>
#include <time.h>

#include "concierge/backend.h"
#include "concierge/vmm-process.h"
#include "vmm_backend/macro.h"

#ifndef LIBEXECDIR
#define LIBEXECDIR "/usr/local/libexec/vm_concierge"
#endif

typedef struct Embedded {
        Backend base;
        VmmProcess *proc;
        VmmctlClient *client;
        struct event *read_ev, *write_ev, *timeout_ev;
        struct event *ready_retry_ev; /* asks for the status again while the VMM is starting */
        uint64_t ready_deadline;
        uint64_t timer_at; /* when timeout_ev fires, 0 = not armed */
        StopLadderConfig stop;
        bool ready_reported;
        bool conn_closed; /* the control connection reached EOF */
        bool gone;        /* the VMM process exited (and was reaped) */
        BackendExit exit;
        unsigned busy; /* nesting of entry points that may run user callbacks */
        bool free_requested;
} Embedded;

typedef enum CallKind {
        CALL_USER,
        CALL_READY,
        CALL_STOP,
        CALL_SUBSCRIBE,
} CallKind;

typedef struct Call {
        Embedded *e;
        CallKind kind;
        BackendReplyHandler cb;
        void *userdata;
} Call;

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static void embedded_destroy(Embedded *e);

static bool unbusy(Embedded *e)
{
        if (--e->busy == 0 && e->free_requested) {
                e->busy = 1; /* destroy runs callbacks (-ECANCELED) that must not destroy again */
                embedded_destroy(e);
                return true;
        }
        return false;
}

/* --- the libevent side -------------------------------------------------------------------------- */

static void arm_timeout(Embedded *e, uint64_t deadline)
{
        if (deadline == 0 || (e->timer_at != 0 && e->timer_at <= deadline))
                return;
        uint64_t now = now_usec(), delta = deadline > now ? deadline - now : 0;
        struct timeval tv = {.tv_sec = (time_t)(delta / USEC_PER_SEC),
                             .tv_usec = (suseconds_t)(delta % USEC_PER_SEC)};
        e->timer_at = deadline;
        evtimer_add(e->timeout_ev, &tv);
}

static void update_io(Embedded *e)
{
        if (!e->client || e->conn_closed) {
                event_del(e->read_ev);
                event_del(e->write_ev);
                return;
        }
        if (vmmctl_client_poll_events(e->client) & POLLOUT)
                event_add(e->write_ev, NULL);
        else
                event_del(e->write_ev);
}

static void io_cb(evutil_socket_t fd, short what, void *userdata)
{
        Embedded *e = userdata;

        if (!e->client || e->conn_closed)
                return;
        e->busy++;
        int r = vmmctl_client_process(e->client);
        if (r == -ECONNRESET)
                e->conn_closed = true; /* every pending call got -ECONNRESET; the pidfd follows */
        if (!e->free_requested)
                update_io(e);
        (void)unbusy(e);
}

static void timeout_cb(evutil_socket_t fd, short what, void *userdata)
{
        Embedded *e = userdata;
        uint64_t next = 0;

        e->timer_at = 0;
        if (!e->client)
                return;
        e->busy++;
        if (vmmctl_client_check_timeouts(e->client, now_usec(), &next) >= 0 && !e->free_requested)
                arm_timeout(e, next);
        (void)unbusy(e);
}

/* --- responses and events ----------------------------------------------------------------------- */

/* The VMM answers status while it still builds the VM (state "starting"); "ready" (VmStartedSignal)
 * is the first answer with the VM running, so a "starting" answer is asked again shortly after. */
#define READY_RETRY_USEC 1000

static void report_ready(Embedded *e, int error, const VmmctlStatus *status)
{
        if (e->ready_reported)
                return;
        e->ready_reported = true;
        if (e->base.callbacks.ready && !e->free_requested)
                e->base.callbacks.ready(&e->base, error, error == 0 ? status : NULL, e->base.userdata);
}

static void response_cb(VmmctlClient *c, const VmmctlResponse *resp, void *userdata)
{
        Call *call = userdata;
        Embedded *e = call->e;
        int error = resp->error;

        /* The client is freed once the process is gone: what was still pending lost its VMM. */
        if (error == -ECANCELED && e->gone)
                error = -ECONNRESET;

        e->busy++;
        switch (call->kind) {
        case CALL_READY:
                if (error == 0 && resp->status.state == VMMCTL_RUN_STARTING && !e->ready_reported &&
                    !e->free_requested) {
                        if (now_usec() + READY_RETRY_USEC < e->ready_deadline) {
                                evtimer_add(e->ready_retry_ev,
                                            &(struct timeval){.tv_usec = READY_RETRY_USEC});
                                break;
                        }
                        error = -ETIMEDOUT;
                }
                report_ready(e, error, &resp->status);
                break;
        case CALL_STOP:
                /* The VMM closing the connection after a stop request is the stop under way. */
                if (!e->gone && e->proc)
                        vmm_process_control_stop_result(e->proc, error == -ECONNRESET ? 0 : error);
                break;
        case CALL_SUBSCRIBE:
                break; /* without events the pidfd still reports the exit */
        case CALL_USER:
                if (call->cb) {
                        BackendReply reply = {
                                .error = error,
                                .error_message = error == 0 ? "" : resp->error_message,
                        };
                        if (error == -ECONNRESET && e->gone)
                                reply.error_message = "the VMM exited";
                        if (error == 0)
                                switch (resp->op) {
                                case VMMCTL_OP_STATUS:
                                        reply.status = &resp->status;
                                        break;
                                case VMMCTL_OP_VCPU_THREADS:
                                        reply.vcpu_threads = &resp->vcpu_threads;
                                        break;
                                case VMMCTL_OP_BALLOON_STATS:
                                        reply.balloon_stats = &resp->balloon_stats;
                                        break;
                                case VMMCTL_OP_SWAP_STATUS:
                                        reply.swap_status = &resp->swap_status;
                                        break;
                                default:
                                        break;
                                }
                        call->cb(&e->base, &reply, call->userdata);
                }
                break;
        }
        free(call);
        (void)unbusy(e);
}

static void event_cb(VmmctlClient *c, const VmmctlEvent *ev, void *userdata)
{
        Embedded *e = userdata;

        if (ev->type == VMMCTL_EVENT_VM_EXITED) {
                e->exit.have_vmm_reason = true;
                e->exit.vmm_reason = ev->vm_exited.reason;
                e->exit.guest_code = ev->vm_exited.guest_code;
        }
        if (e->base.callbacks.event && !e->free_requested) {
                e->busy++;
                e->base.callbacks.event(&e->base, ev, e->base.userdata);
                (void)unbusy(e);
        }
}

static int send_request(Embedded *e, const VmmctlRequest *req, uint64_t timeout_usec, CallKind kind,
                        BackendReplyHandler cb, void *userdata);

static void ready_retry_cb(evutil_socket_t fd, short what, void *userdata)
{
        Embedded *e = userdata;
        uint64_t now = now_usec();

        e->busy++;
        int r = send_request(e, &(VmmctlRequest){.op = VMMCTL_OP_STATUS},
                             e->ready_deadline > now ? e->ready_deadline - now : 1, CALL_READY, NULL, NULL);
        if (r < 0)
                report_ready(e, r, NULL);
        (void)unbusy(e);
}

static int send_request(Embedded *e, const VmmctlRequest *req, uint64_t timeout_usec, CallKind kind,
                        BackendReplyHandler cb, void *userdata)
{
        uint64_t deadline, id;

        if (e->gone || e->conn_closed || !e->client)
                return -ENOTCONN;
        Call *call = malloc(sizeof(*call));
        if (!call)
                return -ENOMEM;
        *call = (Call){.e = e, .kind = kind, .cb = cb, .userdata = userdata};
        deadline = now_usec() + timeout_usec;
        int r = vmmctl_client_send(e->client, req, deadline, response_cb, call, &id);
        if (r < 0) {
                free(call);
                return r;
        }
        arm_timeout(e, deadline);
        update_io(e);
        return 0;
}

/* --- process supervision ------------------------------------------------------------------------ */

static void proc_exit_cb(VmmProcess *p, const VmmExit *x, void *userdata)
{
        Embedded *e = userdata;

        e->busy++;
        e->gone = true;
        e->exit.pid = x->pid;
        e->exit.code = x->code;
        e->exit.status = x->status;
        e->exit.rung = x->rung;

        /* Deliver what the VMM still said before it went (responses, its vm-exited event); every
         * call left over then fails with -ECONNRESET, before `exited`. */
        if (e->client && !e->conn_closed && !e->free_requested)
                (void)vmmctl_client_process(e->client);
        e->conn_closed = true;
        if (e->client && !e->free_requested)
                e->client = vmmctl_client_free(e->client); /* leftovers: -ECANCELED -> -ECONNRESET */
        event_del(e->read_ev);
        event_del(e->write_ev);
        evtimer_del(e->timeout_ev);
        e->timer_at = 0;
        if (evtimer_pending(e->ready_retry_ev, NULL)) {
                evtimer_del(e->ready_retry_ev);
                report_ready(e, -ECONNRESET, NULL); /* it never ran */
        }

        if (!e->free_requested)
                e->base.callbacks.exited(&e->base, &e->exit, e->base.userdata);
        (void)unbusy(e);
}

static void proc_control_stop_cb(VmmProcess *p, void *userdata)
{
        Embedded *e = userdata;
        VmmctlRequest req = {.op = VMMCTL_OP_STOP};

        int r = send_request(e, &req, e->stop.control_timeout_usec ?: BACKEND_DEFAULT_CALL_TIMEOUT_USEC,
                             CALL_STOP, NULL, NULL);
        if (r < 0)
                vmm_process_control_stop_result(p, r); /* SIGTERM now */
}

static void proc_gave_up_cb(VmmProcess *p, void *userdata)
{
        Embedded *e = userdata;

        if (e->base.callbacks.stop_failed && !e->free_requested) {
                e->busy++;
                e->base.callbacks.stop_failed(&e->base, -ETIMEDOUT, e->base.userdata);
                (void)unbusy(e);
        }
}

/* --- ops ---------------------------------------------------------------------------------------- */

static void embedded_destroy(Embedded *e)
{
        /* Calls still pending get -ECANCELED (or -ECONNRESET when the VMM is gone). */
        e->client = vmmctl_client_free(e->client);
        if (e->read_ev)
                event_free(e->read_ev);
        if (e->write_ev)
                event_free(e->write_ev);
        if (e->timeout_ev)
                event_free(e->timeout_ev);
        if (e->ready_retry_ev)
                event_free(e->ready_retry_ev);
        e->proc = vmm_process_free(e->proc);
        free(e->base.runtime_dir);
        free(e);
}

static void embedded_free(Backend *b)
{
        Embedded *e = (Embedded *)b;

        if (e->free_requested)
                return;
        e->free_requested = true;
        if (e->busy > 0) {
                if (e->read_ev)
                        event_del(e->read_ev);
                if (e->write_ev)
                        event_del(e->write_ev);
                if (e->timeout_ev)
                        evtimer_del(e->timeout_ev);
                if (e->ready_retry_ev)
                        evtimer_del(e->ready_retry_ev);
                return;
        }
        e->busy = 1; /* see unbusy() */
        embedded_destroy(e);
}

static int embedded_start(struct event_base *base, const BackendStartConfig *c, const BackendCallbacks *cb,
                          void *userdata, Backend **ret)
{
        Embedded *e;
        int r;

        if (c->stop.kill_timeout_usec == 0 && (c->stop.control_timeout_usec || c->stop.term_timeout_usec))
                return -EINVAL;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->base = (Backend){
                .ops = &backend_embedded_ops, .base = base, .callbacks = *cb, .userdata = userdata};
        e->stop = c->stop;
        if (e->stop.kill_timeout_usec == 0)
                stop_ladder_config_default(&e->stop);

        VmmSpawnConfig sc = {
                .vmm_path = c->vmm_path ?: LIBEXECDIR "/vmm_backend",
                .runtime_dir = c->runtime_dir,
                .dir_prefix = c->dir_prefix,
                .mem_mib = c->mem_mib,
                .cpus = c->cpus,
                .kernel_fd = c->kernel_fd,
                .initrd_fd = c->initrd_fd,
                .cmdline = c->cmdline,
                .swap_dir = c->swap_dir,
                .vcpu_cgroup = c->vcpu_cgroup,
                .cgroup = c->cgroup,
                .extra_args = c->extra_args,
        };
        e->busy++; /* nothing may free e while it is being set up */
        r = vmm_process_spawn(base, &sc, proc_exit_cb, e, &e->proc);
        if (r < 0) {
                free(e);
                return r;
        }
        e->base.pid = vmm_process_pid(e->proc);
        e->base.runtime_dir = strdup(vmm_process_runtime_dir(e->proc));
        if (!e->base.runtime_dir) {
                r = -ENOMEM;
                goto fail;
        }

        r = vmmctl_client_adopt_fd(vmm_process_take_control_fd(e->proc), &e->client);
        if (r < 0)
                goto fail;
        vmmctl_client_set_event_handler(e->client, event_cb, e);
        int fd = vmmctl_client_fd(e->client);
        e->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, io_cb, e);
        e->write_ev = event_new(base, fd, EV_WRITE, io_cb, e);
        e->timeout_ev = evtimer_new(base, timeout_cb, e);
        e->ready_retry_ev = evtimer_new(base, ready_retry_cb, e);
        if (!e->read_ev || !e->write_ev || !e->timeout_ev || !e->ready_retry_ev ||
            event_add(e->read_ev, NULL) < 0) {
                r = -ENOMEM;
                goto fail;
        }

        /* The socketpair is connected already: the requests wait in it until the VMM serves its
         * control socket. Subscribe first, so that no event is missed; the status answer is the
         * VMM's "ready" (VmStartedSignal) once it says "running" (asked again while "starting"). */
        uint64_t startup = c->startup_timeout_usec ?: BACKEND_DEFAULT_STARTUP_TIMEOUT_USEC;
        e->ready_deadline = now_usec() + startup;
        r = send_request(e, &(VmmctlRequest){.op = VMMCTL_OP_SUBSCRIBE}, startup, CALL_SUBSCRIBE, NULL,
                         NULL);
        if (r >= 0)
                r = send_request(e, &(VmmctlRequest){.op = VMMCTL_OP_STATUS}, startup, CALL_READY, NULL,
                                 NULL);
        if (r == -ENOTCONN) {
                /* The VMM closed its end already: it failed at once (e.g. on its kernel). That is
                 * not a spawn error: its exit follows through the pidfd, and its log says why. */
                e->conn_closed = true;
                update_io(e);
                r = 0;
        }
        if (r < 0)
                goto fail;

        e->busy--;
        *ret = &e->base;
        return 0;

fail:
        e->free_requested = true;
        e->base.callbacks = (BackendCallbacks){};
        embedded_destroy(e);
        return r;
}

static int embedded_stop(Backend *b)
{
        Embedded *e = (Embedded *)b;

        if (e->free_requested)
                return -EINVAL;
        if (e->gone)
                return -ESRCH;
        return vmm_process_stop(e->proc, &e->stop, proc_control_stop_cb, proc_gave_up_cb, e);
}

static int embedded_kill(Backend *b, int sig)
{
        Embedded *e = (Embedded *)b;

        if (e->gone)
                return -ESRCH;
        return vmm_process_kill(e->proc, sig);
}

static int embedded_call(Backend *b, const VmmctlRequest *req, uint64_t timeout_usec, BackendReplyHandler cb,
                         void *userdata)
{
        Embedded *e = (Embedded *)b;

        if (e->free_requested)
                return -EINVAL;
        return send_request(e, req, timeout_usec, CALL_USER, cb, userdata);
}

static bool embedded_supports(const Backend *b, VmmctlOp op)
{
        /* The stop goes through the ladder (backend_stop), subscriptions are ours. */
        return op >= 0 && op < _VMMCTL_OP_MAX && op != VMMCTL_OP_STOP && op != VMMCTL_OP_SUBSCRIBE;
}

const BackendOps backend_embedded_ops = {
        .name = "embedded",
        .start = embedded_start,
        .free = embedded_free,
        .stop = embedded_stop,
        .kill = embedded_kill,
        .call = embedded_call,
        .supports = embedded_supports,
};
