/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-swap methods and signal of org.chromium.VmConcierge: SwapVm (reference/concierge.md
 * §3.2), GetVmSwapStatus (ours), VmSwappingSignal. */
#include <inttypes.h>

#include "concierge/log.h"
#include "concierge/manager-dbus.h"
#include "concierge/manager-swap-dbus.h"
#include "concierge/manager-swap.h"
#include "concierge/validate.h"
#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"

/* A call answered from a controller callback. */
typedef struct SwapCallContext {
        Manager *manager;
        sd_bus_message *call;
        char *log_name;
} SwapCallContext;

static SwapCallContext *swap_call_context_free(SwapCallContext *ctx)
{
        if (!ctx)
                return NULL;
        sd_bus_message_unref(ctx->call);
        free(ctx->log_name);
        free(ctx);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(SwapCallContext *, swap_call_context_free);

static SwapCallContext *swap_call_context_new(Manager *manager, sd_bus_message *call, const Vm *vm)
{
        SwapCallContext *ctx = calloc(1, sizeof(*ctx));

        if (!ctx)
                return NULL;
        if (asprintf(&ctx->log_name, "%s/%s", vm->owner_id, vm->name) < 0) {
                free(ctx);
                return NULL;
        }
        ctx->manager = manager;
        ctx->call = sd_bus_message_ref(call);
        return ctx;
}

/* Read the request; on failure replies with a D-Bus error and returns the handler's result. */
static int read_request(sd_bus_message *m, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret,
                        sd_bus_error *error)
{
        int r;

        r = bus_message_read_proto(m, desc, ret);
        if (r == -EMSGSIZE)
                return sd_bus_error_setf(error, CONCIERGE_ERROR_INVALID_REQUEST,
                                         "Request is larger than %u bytes, the limit for %s; refusing it",
                                         BUS_PROTO_MAX_REQUEST_SIZE, desc->short_name);
        if (r == -EBADMSG)
                return sd_bus_error_setf(error, CONCIERGE_ERROR_INVALID_REQUEST,
                                         "Request does not parse as %s (malformed protobuf)",
                                         desc->short_name);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s request", desc->short_name);
        return 0;
}

/* The VM a per-VM swap request names, or NULL with *ret_failure set to the failure_reason. */
static Vm *find_swap_vm(Manager *manager, const char *owner_id, const char *name, const char **ret_failure)
{
        const char *failure;
        Vm *vm;

        failure = validate_vm_request(owner_id, name);
        if (failure) {
                *ret_failure = failure;
                return NULL;
        }
        vm = manager_find_vm(manager, owner_id, name);
        if (!vm) {
                *ret_failure = SWAP_MSG_NO_SUCH_VM;
                return NULL;
        }
        if (!vm->swap) {
                *ret_failure = SWAP_MSG_NOT_SUPPORTED;
                return NULL;
        }
        return vm;
}

/* --- SwapVm ---------------------------------------------------------------------------------------- */

static int reply_swap_vm(sd_bus_message *call, bool success, const char *failure_reason)
{
        VmTools__Concierge__SuccessFailureResponse response =
                VM_TOOLS__CONCIERGE__SUCCESS_FAILURE_RESPONSE__INIT;

        response.success = success;
        if (!success)
                response.failure_reason = (char *)(failure_reason ?: "Failed");
        return bus_reply_proto(call, &response.base);
}

static void swap_vm_done(SwapController *c, bool success, const char *failure_reason, void *userdata)
{
        _cleanup_(swap_call_context_freep) SwapCallContext *ctx = userdata;
        int r;

        if (success)
                log_info("SwapVm of VM %s: done.", ctx->log_name);
        else
                log_info("SwapVm of VM %s refused: %s", ctx->log_name, strna(failure_reason));
        r = reply_swap_vm(ctx->call, success, failure_reason);
        if (r < 0)
                log_debug_errno(r, "Failed to reply to SwapVm, ignoring");
        manager_flush_bus(ctx->manager);
}

int method_swap_vm(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__SwapVmRequest *request = NULL;
        Manager *manager = userdata;
        SwapCallContext *ctx;
        const char *failure = NULL, *op;
        Vm *vm;
        int r;

        if (manager->shutting_down)
                return sd_bus_error_set(error, CONCIERGE_ERROR_SHUTDOWN, CONCIERGE_ERROR_SHUTDOWN_MESSAGE);
        r = read_request(m, &vm_tools__concierge__swap_vm_request__descriptor, (ProtobufCMessage **)&request,
                         error);
        if (r < 0)
                return r;

        vm = find_swap_vm(manager, request->owner_id, request->name, &failure);
        if (!vm) {
                log_info("SwapVm of VM %s of owner %s refused: %s", strna(request->name),
                         strna(request->owner_id), failure);
                return reply_swap_vm(m, false, failure);
        }

        op = swap_operation_to_string((SwapOperation)request->operation);
        log_info("SwapVm of VM %s of owner %s: %s.", vm->name, vm->owner_id, op ?: "unknown operation");

        ctx = swap_call_context_new(manager, m, vm);
        if (!ctx)
                return -ENOMEM;
        /* protobuf-c keeps an unknown enum number as it came: the controller refuses it. The
         * answer may come before this returns. */
        r = swap_controller_request(vm->swap, (int)request->operation, swap_vm_done, ctx);
        if (r < 0) {
                swap_call_context_free(ctx);
                return r;
        }
        return 1;
}

/* --- GetVmSwapStatus ------------------------------------------------------------------------------- */

static int64_t us_to_ms(int64_t us)
{
        return us / 1000;
}

static int reply_swap_status(sd_bus_message *call, int error, const SwapControllerInfo *info)
{
        VmTools__Concierge__GetVmSwapStatusResponse response =
                VM_TOOLS__CONCIERGE__GET_VM_SWAP_STATUS_RESPONSE__INIT;
        VmTools__Concierge__VmSwapMetrics metrics = VM_TOOLS__CONCIERGE__VM_SWAP_METRICS__INIT;
        VmTools__Concierge__VmSwapPolicyStatus policy = VM_TOOLS__CONCIERGE__VM_SWAP_POLICY_STATUS__INIT;
        VmTools__Concierge__VmSwapTbwStatus tbw = VM_TOOLS__CONCIERGE__VM_SWAP_TBW_STATUS__INIT;
        VmTools__Concierge__VmSwapTbwWindow windows[_TBW_WINDOW_MAX];
        VmTools__Concierge__VmSwapTbwWindow *window_ptrs[_TBW_WINDOW_MAX];
        const VmmctlSwapStatus *s = &info->vmm_status;

        response.success = true;
        if (error < 0)
                response.status_error =
                        (char *)(error == -ENOTCONN ? "the VM has stopped" : strerror(-error));
        response.state =
                (char *)(info->have_vmm_status ? strempty(vmmctl_swap_state_to_string(s->state)) : "");
        if (info->have_vmm_status) {
                metrics.resident_pages = s->resident_pages;
                metrics.copied_from_file_pages = s->copied_from_file_pages;
                metrics.copied_from_staging_pages = s->copied_from_staging_pages;
                metrics.zeroed_pages = s->zeroed_pages;
                metrics.redundant_pages = s->redundant_pages;
                metrics.staging_pages = s->staging_pages;
                metrics.swap_pages = s->swap_pages;
                metrics.fault_around_pages = s->fault_around_pages;
                response.transition_pages = s->transition_pages;
                response.transition_time_ms = s->transition_time_ms;
                response.last_error = (char *)s->last_error;
        }
        response.metrics = &metrics;

        response.enabled = info->enabled;
        response.enable_pending = info->enable_pending;
        response.timer = (char *)strempty(swap_timer_action_to_string(info->timer));
        response.timer_left_ms = info->timer != SWAP_TIMER_NONE ? us_to_ms(info->timer_left_us) : 0;
        response.polling = info->polling;
        response.slow_cleanup_pending = info->slow_cleanup_pending;
        response.last_swap_out_us = info->has_last_swap_out ? info->last_swap_out_us : 0;
        response.swap_outs = info->swap_outs;
        response.swapped_out_bytes = info->swapped_out_bytes;

        if (info->has_policy_result) {
                policy.last_result =
                        (char *)strempty(swap_policy_result_to_string(info->last_policy_result));
                policy.last_result_time_us = info->last_policy_result_us;
        }
        policy.predicted_duration_ms = us_to_ms(info->predicted_duration_us);
        policy.duration_target_ms = us_to_ms(info->duration_target_us);
        policy.disk_free_bytes = info->disk_free_bytes;
        policy.disk_required_bytes = info->disk_required_bytes;
        if (info->has_disable_reason)
                policy.last_disable_reason =
                        (char *)strempty(swap_disable_reason_to_string(info->last_disable_reason));
        policy.usage_history_persistent = info->usage_history_persistent;
        response.policy = &policy;

        tbw.target_per_day = info->tbw_target_per_day;
        tbw.can_swap_out = info->tbw.can_swap_out;
        tbw.persistent = info->tbw_persistent;
        for (int w = 0; w < _TBW_WINDOW_MAX; w++) {
                vm_tools__concierge__vm_swap_tbw_window__init(&windows[w]);
                windows[w].name = (char *)tbw_window_to_string((TbwWindow)w);
                windows[w].used = info->tbw.window[w].used;
                windows[w].limit = info->tbw.window[w].limit;
                windows[w].left = info->tbw.window[w].left;
                window_ptrs[w] = &windows[w];
        }
        tbw.n_windows = _TBW_WINDOW_MAX;
        tbw.windows = window_ptrs;
        response.tbw = &tbw;

        return bus_reply_proto(call, &response.base);
}

static int reply_swap_status_failure(sd_bus_message *call, const char *failure)
{
        VmTools__Concierge__GetVmSwapStatusResponse response =
                VM_TOOLS__CONCIERGE__GET_VM_SWAP_STATUS_RESPONSE__INIT;

        response.failure_reason = (char *)failure;
        return bus_reply_proto(call, &response.base);
}

static void swap_status_done(SwapController *c, int error, const SwapControllerInfo *info, void *userdata)
{
        _cleanup_(swap_call_context_freep) SwapCallContext *ctx = userdata;
        int r;

        if (error < 0)
                log_debug_errno(error, "GetVmSwapStatus of VM %s: the VMM did not answer", ctx->log_name);
        r = reply_swap_status(ctx->call, error, info);
        if (r < 0)
                log_debug_errno(r, "Failed to reply to GetVmSwapStatus, ignoring");
        manager_flush_bus(ctx->manager);
}

int method_get_vm_swap_status(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__GetVmSwapStatusRequest *request = NULL;
        Manager *manager = userdata;
        SwapCallContext *ctx;
        const char *failure = NULL;
        Vm *vm;
        int r;

        if (manager->shutting_down)
                return sd_bus_error_set(error, CONCIERGE_ERROR_SHUTDOWN, CONCIERGE_ERROR_SHUTDOWN_MESSAGE);
        r = read_request(m, &vm_tools__concierge__get_vm_swap_status_request__descriptor,
                         (ProtobufCMessage **)&request, error);
        if (r < 0)
                return r;

        vm = find_swap_vm(manager, request->owner_id, request->name, &failure);
        if (!vm)
                return reply_swap_status_failure(m, failure);

        ctx = swap_call_context_new(manager, m, vm);
        if (!ctx)
                return -ENOMEM;
        r = swap_controller_query_status(vm->swap, swap_status_done, ctx);
        if (r < 0) {
                SwapControllerInfo info;

                /* The VMM cannot be asked (gone, or the request could not be queued): what the
                 * controller knows, and why it is not fresh. */
                swap_call_context_free(ctx);
                if (r == -ENOMEM)
                        return r;
                swap_controller_get_info(vm->swap, &info);
                return reply_swap_status(m, r, &info);
        }
        return 1;
}

/* --- VmSwappingSignal ------------------------------------------------------------------------------ */

void manager_send_vm_swapping_signal(Manager *m, Vm *vm, SwappingState state)
{
        VmTools__Concierge__VmSwappingSignal sig = VM_TOOLS__CONCIERGE__VM_SWAPPING_SIGNAL__INIT;
        int r;

        log_info("VM %s of owner %s: VmSwappingSignal(%s).", vm->name, vm->owner_id,
                 strna(swapping_state_to_string(state)));
        if (!m->bus)
                return;
        sig.name = vm->name;
        sig.owner_id = vm->owner_id;
        sig.state = (VmTools__Concierge__SwappingState)state;
        r = bus_emit_proto_signal(m->bus, CONCIERGE_OBJECT_PATH, CONCIERGE_INTERFACE,
                                  CONCIERGE_SIGNAL_VM_SWAPPING, &sig.base);
        if (r < 0)
                log_warning_errno(r, "Failed to emit %s for VM %s, ignoring", CONCIERGE_SIGNAL_VM_SWAPPING,
                                  vm->name);
        manager_flush_bus(m);
}
