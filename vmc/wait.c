/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: `wait NAME --for=started|stopped [--timeout S]`, on the daemon's signals. */
#include <json-c/json.h>
#include <time.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "dbus/concierge-enums.h"
#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

typedef enum WaitResult {
        WAIT_PENDING,
        WAIT_DONE,        /* the awaited state was reached */
        WAIT_FAILED,      /* it can no longer be reached (stopped while waiting to start) */
        WAIT_DAEMON_GONE, /* vm_concierge left the bus */
} WaitResult;

typedef struct Wait {
        Vmc *vmc;
        const VmcWaitArgs *args;
        WaitResult result;
        int stop_reason; /* of the VmStoppedSignal seen; -1 none */
        bool stop_reason_known;
} Wait;

static uint64_t now_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static bool is_our_vm(Wait *w, const char *owner_id, const char *name)
{
        return streq_ptr(owner_id, w->vmc->owner_id) && streq_ptr(name, w->args->name);
}

static int on_started(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        _cleanup_proto_ VmTools__Concierge__VmStartedSignal *sig = NULL;
        Wait *w = userdata;

        /* A signal that does not parse is not ours to judge: ignored, the wait goes on. */
        if (bus_message_read_proto(m, &vm_tools__concierge__vm_started_signal__descriptor,
                                   (ProtobufCMessage **)&sig) < 0)
                return 0;
        if (!is_our_vm(w, sig->owner_id, sig->name) || w->result != WAIT_PENDING)
                return 0;
        if (w->args->wait_for == VMC_WAIT_STARTED &&
            sig->status == VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING)
                w->result = WAIT_DONE;
        return 0;
}

static int on_stopped(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        _cleanup_proto_ VmTools__Concierge__VmStoppedSignal *sig = NULL;
        Wait *w = userdata;

        if (bus_message_read_proto(m, &vm_tools__concierge__vm_stopped_signal__descriptor,
                                   (ProtobufCMessage **)&sig) < 0)
                return 0;
        if (!is_our_vm(w, sig->owner_id, sig->name) || w->result != WAIT_PENDING)
                return 0;
        w->stop_reason = sig->reason;
        w->stop_reason_known = true;
        w->result = w->args->wait_for == VMC_WAIT_STOPPED ? WAIT_DONE : WAIT_FAILED;
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        const char *name, *old_owner, *new_owner;
        Wait *w = userdata;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (streq(name, CONCIERGE_BUS_NAME) && !*new_owner && w->result == WAIT_PENDING)
                w->result = WAIT_DAEMON_GONE;
        return 0;
}

/* The state now, after the matches are in place: a transition between this check and the
 * first signal cannot be missed. */
static int check_now(Wait *w)
{
        VmTools__Concierge__ListVmsRequest request = VM_TOOLS__CONCIERGE__LIST_VMS_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__ListVmsResponse *response = NULL;
        const VmTools__Concierge__ExtendedVmInfo *found = NULL;
        int r;

        request.owner_id = (char *)w->vmc->owner_id;
        r = vmc_call(w->vmc, CONCIERGE_METHOD_LIST_VMS, &request.base,
                     &vm_tools__concierge__list_vms_response__descriptor, (ProtobufCMessage **)&response);
        if (r != 0)
                return r;
        if (!response->success)
                return vmc_error("listing VMs failed: %s", strempty(response->failure_reason));
        for (size_t i = 0; i < response->n_vms; i++)
                if (streq_ptr(response->vms[i]->name, w->args->name))
                        found = response->vms[i];

        if (w->result != WAIT_PENDING) /* a signal arrived during the call */
                return 0;
        if (w->args->wait_for == VMC_WAIT_STOPPED && !found)
                w->result = WAIT_DONE;
        else if (w->args->wait_for == VMC_WAIT_STARTED && found &&
                 found->status == VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING)
                w->result = WAIT_DONE;
        return 0;
}

static int report(Wait *w)
{
        const char *what = vmc_wait_for_to_string(w->args->wait_for);
        const char *reason = w->stop_reason_known ? vm_stop_reason_to_string(w->stop_reason) : NULL;

        switch (w->result) {
        case WAIT_DONE:
                if (w->vmc->json) {
                        json_object *j = json_object_new_object();

                        json_object_object_add(j, "name", json_object_new_string(w->args->name));
                        json_object_object_add(j, "owner_id", json_object_new_string(w->vmc->owner_id));
                        json_object_object_add(j, "state", json_object_new_string(what));
                        if (reason)
                                json_object_object_add(j, "stop_reason", json_object_new_string(reason));
                        vmc_print_json(j);
                        json_object_put(j);
                } else if (reason)
                        printf("VM %s is %s (%s).\n", w->args->name, what, reason);
                else
                        printf("VM %s is %s.\n", w->args->name, what);
                return 0;
        case WAIT_FAILED:
                return vmc_error("VM '%s' stopped (%s) while waiting for it to be started", w->args->name,
                                 strna(reason));
        case WAIT_DAEMON_GONE:
                return vmc_error("vm_concierge left the bus while waiting for VM '%s' to be %s",
                                 w->args->name, what);
        default:
                return vmc_error("internal error: wait ended in state %d", (int)w->result);
        }
}

int verb_wait(Vmc *vmc, int argc, char **argv)
{
        VmcWaitArgs args;
        Wait w = {.vmc = vmc, .args = &args, .stop_reason = -1};
        uint64_t deadline;
        int r;

        r = vmc_wait_args_parse(argc, argv, &args);
        if (r != 0)
                return r;
        deadline = args.timeout_usec > 0 ? now_usec() + args.timeout_usec : UINT64_MAX;

        r = vmc_connect(vmc);
        if (r != 0)
                return r;

        /* Synchronous AddMatch calls: the daemon's signals are seen from here on. */
        r = sd_bus_match_signal(vmc->bus, NULL, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                CONCIERGE_INTERFACE, CONCIERGE_SIGNAL_VM_STARTED, on_started, &w);
        if (r >= 0)
                r = sd_bus_match_signal(vmc->bus, NULL, CONCIERGE_BUS_NAME, CONCIERGE_OBJECT_PATH,
                                        CONCIERGE_INTERFACE, CONCIERGE_SIGNAL_VM_STOPPED, on_stopped, &w);
        if (r >= 0)
                r = sd_bus_match_signal(vmc->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed,
                                        &w);
        if (r < 0)
                return vmc_error("cannot subscribe to vm_concierge's signals: %s", strerror(-r));

        r = check_now(&w);
        if (r != 0)
                return r;

        while (w.result == WAIT_PENDING) {
                uint64_t now;

                r = sd_bus_process(vmc->bus, NULL);
                if (r < 0)
                        return vmc_error("lost the bus connection: %s", strerror(-r));
                if (r > 0)
                        continue;
                now = now_usec();
                if (now >= deadline)
                        return vmc_error("timed out waiting for VM '%s' to be %s", args.name,
                                         vmc_wait_for_to_string(args.wait_for));
                r = sd_bus_wait(vmc->bus, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
                if (r < 0 && r != -EINTR)
                        return vmc_error("lost the bus connection: %s", strerror(-r));
        }
        return report(&w);
}
