/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.chromium.VmConcierge object: vtable, method handlers and signals. */
#include <stdarg.h>
#include "concierge/cpu-cgroups-dbus.h"
#include "concierge/manager-swap-dbus.h"
#include "concierge/log.h"
#include "concierge/manager-dbus.h"
#include "concierge/validate.h"
#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "dbus/concierge-enums.h"
#include "proto/concierge_service.pb-c.h"

/* asprintf() into a new string; NULL on OOM. */
_printf_(1, 2) static char *format_string(const char *fmt, ...)
{
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return r < 0 ? NULL : s;
}

/* Fill `info` with pointers into `vm`: valid while vm lives, nothing to free. */
static void vm_to_vm_info(Vm *vm, VmTools__Concierge__VmInfo *info)
{
        vm_tools__concierge__vm_info__init(info);
        info->pid = vm->pid;
        info->cid = vm->cid;
        info->vm_type = vm->vm_type;
        info->status = (VmTools__Concierge__VmStatus)vm_lifecycle_status(&vm->lifecycle);
        info->allocated_memory = (int64_t)vm->memory_mib << 20;
        info->memory_mib = vm->memory_mib;
        if (vm->backend)
                info->backend = vm->backend;
        if (vm->cgroup_path)
                info->cgroup_path = vm->cgroup_path;
        if (vm->vcpu_cgroup_path)
                info->vcpu_cgroup_path = vm->vcpu_cgroup_path;
        if (vm->channel_socket)
                info->channel_socket = vm->channel_socket;
}

/* Read the request `ay` of `m` as `desc`. On failure, replies with a D-Bus error saying why and
 * returns the (negative) result for the handler to return. */
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

static int reject_during_shutdown(Manager *manager, sd_bus_error *error)
{
        if (!manager->shutting_down)
                return 0;
        return sd_bus_error_set(error, CONCIERGE_ERROR_SHUTDOWN, CONCIERGE_ERROR_SHUTDOWN_MESSAGE);
}

static int method_list_vms(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__ListVmsRequest *request = NULL;
        VmTools__Concierge__ListVmsResponse response = VM_TOOLS__CONCIERGE__LIST_VMS_RESPONSE__INIT;
        _cleanup_free_ VmTools__Concierge__ExtendedVmInfo *ext = NULL;
        _cleanup_free_ VmTools__Concierge__ExtendedVmInfo **ext_ptrs = NULL;
        _cleanup_free_ VmTools__Concierge__VmInfo *infos = NULL;
        Manager *manager = userdata;
        size_t n = 0;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__list_vms_request__descriptor,
                         (ProtobufCMessage **)&request, error);
        if (r < 0)
                return r;

        if (!owner_id_is_valid(request->owner_id)) {
                response.failure_reason = (char *)VALIDATE_OWNER_ID_FAILURE;
                return bus_reply_proto(m, &response.base);
        }

        if (manager->n_vms > 0) {
                ext = calloc(manager->n_vms, sizeof(*ext));
                ext_ptrs = calloc(manager->n_vms, sizeof(*ext_ptrs));
                infos = calloc(manager->n_vms, sizeof(*infos));
                if (!ext || !ext_ptrs || !infos)
                        return -ENOMEM;
        }

        /* Upstream lists every VM of the owner in the map: starting and running ones. */
        for (Vm *vm = manager->vms; vm; vm = vm->registry_next) {
                if (!streq(vm->owner_id, request->owner_id))
                        continue;
                vm_tools__concierge__extended_vm_info__init(&ext[n]);
                vm_to_vm_info(vm, &infos[n]);
                ext[n].name = vm->name;
                ext[n].owner_id = vm->owner_id;
                ext[n].vm_info = &infos[n];
                ext[n].status = infos[n].status;
                ext_ptrs[n] = &ext[n];
                n++;
        }

        response.success = true;
        response.n_vms = n;
        response.vms = ext_ptrs;
        log_debug("ListVms for owner %s: %zu VM(s).", request->owner_id, n);
        return bus_reply_proto(m, &response.base);
}

static int method_get_vm_info(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__GetVmInfoRequest *request = NULL;
        VmTools__Concierge__GetVmInfoResponse response = VM_TOOLS__CONCIERGE__GET_VM_INFO_RESPONSE__INIT;
        VmTools__Concierge__VmInfo info;
        Manager *manager = userdata;
        const char *failure;
        Vm *vm;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__get_vm_info_request__descriptor,
                         (ProtobufCMessage **)&request, error);
        if (r < 0)
                return r;

        failure = validate_vm_request(request->owner_id, request->name);
        if (failure) {
                response.failure_reason = (char *)failure;
                return bus_reply_proto(m, &response.base);
        }

        vm = manager_find_vm(manager, request->owner_id, request->name);
        if (!vm) {
                log_debug("GetVmInfo: no VM %s of owner %s.", request->name, request->owner_id);
                response.failure_reason = (char *)"VM does not exist";
                return bus_reply_proto(m, &response.base);
        }

        vm_to_vm_info(vm, &info);
        response.success = true;
        response.vm_info = &info;
        return bus_reply_proto(m, &response.base);
}

/* --- asynchronous replies ---------------------------------------------------------------------- */

/* A call answered later holds a reference on its message; the reply leaves from outside a bus
 * callback, hence the re-arm. */
static void reply_later_done(Manager *manager, sd_bus_message *call)
{
        sd_bus_message_unref(call);
        manager_flush_bus(manager);
}

static void reply_success_failure(Manager *manager, sd_bus_message *call, int error, const char *message)
{
        VmTools__Concierge__SuccessFailureResponse response =
                VM_TOOLS__CONCIERGE__SUCCESS_FAILURE_RESPONSE__INIT;
        int r;

        response.success = error >= 0;
        if (error < 0)
                response.failure_reason = (char *)(message ?: "Failed");
        r = bus_reply_proto(call, &response.base);
        if (r < 0)
                log_debug_errno(r, "Failed to send a reply to %s, ignoring",
                                strna(sd_bus_message_get_member(call)));
}

static int reply_start_vm(sd_bus_message *call, Vm *vm, const char *failure)
{
        VmTools__Concierge__StartVmResponse response = VM_TOOLS__CONCIERGE__START_VM_RESPONSE__INIT;
        VmTools__Concierge__VmInfo info;

        if (vm && !failure) {
                vm_to_vm_info(vm, &info);
                response.success = true;
                response.vm_info = &info;
                response.status = info.status;
        } else {
                response.status = VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_FAILURE;
                response.failure_reason = (char *)(failure ?: "Failed to start the VM");
        }
        return bus_reply_proto(call, &response.base);
}

static void start_vm_done(Manager *manager, Vm *vm, int error, const char *message, void *userdata)
{
        sd_bus_message *call = userdata;
        int r;

        r = reply_start_vm(call, vm, error < 0 ? message : NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to reply to StartVm, ignoring");
        if (error < 0)
                log_warning("StartVm of VM %s of owner %s failed: %s", vm->name, vm->owner_id, message);
        reply_later_done(manager, call);
}

static void success_failure_done(Manager *manager, Vm *vm, int error, const char *message, void *userdata)
{
        sd_bus_message *call = userdata;

        reply_success_failure(manager, call, error, message);
        reply_later_done(manager, call);
}

static void stop_vm_done(Manager *manager, Vm *vm, int error, const char *message, void *userdata)
{
        /* reference §1.4: the one failure StopVm reports. */
        success_failure_done(manager, vm, error, error < 0 ? "Unable to shut down VM" : NULL, userdata);
}

/* --- StartVm --------------------------------------------------------------------------------- */

/* The most fds one StartVm may carry (one per FdType is all that makes sense). */
#define START_VM_FDS_MAX 16

static const char *fd_type_name(int type)
{
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
                &vm_tools__concierge__start_vm_request__fd_type__descriptor, type);
        return v ? v->name : "unknown";
}

/* Match the `ah` with the request's fds list. NULL when acceptable, else the failure_reason
 * (allocated). */
static char *start_vm_match_fds(const VmTools__Concierge__StartVmRequest *request, const int *fds,
                                size_t n_fds, int *ret_kernel_fd, int *ret_initrd_fd)
{
        int kernel_fd = -1, initrd_fd = -1;
        char *s = NULL;

        if (request->n_fds != n_fds) {
                s = format_string("The request lists %zu fd(s) but %zu were passed", request->n_fds, n_fds);
                return s;
        }
        for (size_t i = 0; i < n_fds; i++) {
                int *slot;

                switch ((int)request->fds[i]) {
                case VM_TOOLS__CONCIERGE__START_VM_REQUEST__FD_TYPE__KERNEL:
                        slot = &kernel_fd;
                        break;
                case VM_TOOLS__CONCIERGE__START_VM_REQUEST__FD_TYPE__INITRD:
                        slot = &initrd_fd;
                        break;
                default:
                        /* ROOTFS, STORAGE, BIOS, PFLASH: the embedded VMM has no block or flash
                         * device, so it cannot use them; say so rather than drop them. */
                        s = format_string(
                                "fd %zu is of type %s (%d), which the embedded backend does not support", i,
                                fd_type_name((int)request->fds[i]), (int)request->fds[i]);
                        return s;
                }
                if (*slot >= 0) {
                        s = format_string("More than one %s fd", fd_type_name((int)request->fds[i]));
                        return s;
                }
                *slot = fds[i];
        }
        if (kernel_fd < 0)
                return strdup("No kernel: the request's fds list has no KERNEL entry");
        *ret_kernel_fd = kernel_fd;
        *ret_initrd_fd = initrd_fd;
        return NULL;
}

static int method_start_vm(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__StartVmRequest *request = NULL;
        _cleanup_free_ char *failure = NULL;
        Manager *manager = userdata;
        int fds[START_VM_FDS_MAX];
        size_t n_fds = 0;
        Vm *vm = NULL;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__start_vm_request__descriptor,
                         (ProtobufCMessage **)&request, error);
        if (r < 0)
                return r;

        /* The fds belong to the message: valid until it is freed, and the VMM gets copies. */
        r = sd_bus_message_enter_container(m, 'a', "h");
        if (r < 0)
                return r;
        for (;;) {
                int fd;

                r = sd_bus_message_read_basic(m, 'h', &fd);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n_fds >= START_VM_FDS_MAX)
                        return sd_bus_error_setf(error, CONCIERGE_ERROR_INVALID_REQUEST,
                                                 "More than %d fds passed to StartVm", START_VM_FDS_MAX);
                fds[n_fds++] = fd;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        VmStartRequest req = {
                .owner_id = request->owner_id,
                .name = request->name,
                .vm_type = request->vm_type,
                .cpus = request->cpus,
                .memory_mib = request->memory_mib,
                .backend = request->backend,
                .kernel_fd = -1,
                .initrd_fd = -1,
                .kernel_params = request->kernel_params,
                .n_kernel_params = request->n_kernel_params,
                .enable_balloon = request->enable_balloon,
                .enable_vmm_swap = request->enable_vmm_swap,
                .timeout_sec = request->timeout,
        };

        /* Identity first (an unknown owner gets that answer whatever else is wrong), then the
         * idempotent case, then what a new VM needs. */
        const char *invalid = validate_new_vm_request(request->owner_id, request->name);
        if (!invalid && !manager_find_vm(manager, request->owner_id, request->name)) {
                if (request->n_disks > 0)
                        failure = strdup("Disk images are not supported by the embedded backend");
                else
                        failure = start_vm_match_fds(request, fds, n_fds, &req.kernel_fd, &req.initrd_fd);
                if (failure) {
                        log_info("StartVm of VM %s of owner %s refused: %s", request->name,
                                 request->owner_id, failure);
                        return reply_start_vm(m, NULL, failure);
                }
        }

        sd_bus_message_ref(m);
        r = manager_start_vm(manager, &req, start_vm_done, m, &failure, &vm);
        if (r == VM_START_STARTED)
                return 1; /* answered from start_vm_done() */
        sd_bus_message_unref(m);
        if (r == VM_START_EXISTING) {
                log_debug("StartVm: VM %s of owner %s exists already.", vm->name, vm->owner_id);
                return reply_start_vm(m, vm, NULL);
        }
        if (r == -ENOMEM && !failure)
                return r;
        log_info("StartVm of VM %s of owner %s refused: %s", strna(request->name), strna(request->owner_id),
                 strna(failure));
        return reply_start_vm(m, NULL, failure ?: "Failed to start the VM");
}

/* --- StopVm, StopVmWithoutOwnerId, StopAllVms ---------------------------------------------------- */

static int method_stop_vm(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__StopVmRequest *request = NULL;
        Manager *manager = userdata;
        const char *failure;
        Vm *vm;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__stop_vm_request__descriptor, (ProtobufCMessage **)&request,
                         error);
        if (r < 0)
                return r;

        failure = validate_vm_request(request->owner_id, request->name);
        if (failure) {
                reply_success_failure(manager, m, -EINVAL, failure);
                return 1;
        }

        vm = manager_find_vm(manager, request->owner_id, request->name);
        if (!vm) {
                /* reference §1.4: stopping a VM that is not there is not an error. */
                log_debug("StopVm: no VM %s of owner %s, nothing to do.", request->name, request->owner_id);
                reply_success_failure(manager, m, 0, NULL);
                return 1;
        }

        r = manager_stop_vm(manager, vm, VM_STOP_REASON_STOP_VM_REQUESTED, stop_vm_done,
                            sd_bus_message_ref(m));
        if (r < 0) {
                sd_bus_message_unref(m);
                log_warning_errno(r, "StopVm of VM %s of owner %s failed", vm->name, vm->owner_id);
                reply_success_failure(manager, m, r, "Unable to shut down VM");
        }
        return 1;
}

typedef struct StopGroup {
        sd_bus_message *call;
        unsigned pending;
        bool failed;
} StopGroup;

static void stop_group_unref(Manager *manager, StopGroup *g)
{
        if (--g->pending > 0)
                return;
        reply_success_failure(manager, g->call, g->failed ? -EIO : 0, "Unable to shut down VM");
        reply_later_done(manager, g->call);
        free(g);
}

static void stop_group_one_done(Manager *manager, Vm *vm, int error, const char *message, void *userdata)
{
        StopGroup *g = userdata;

        if (error < 0)
                g->failed = true;
        stop_group_unref(manager, g);
}

static int method_stop_vm_without_owner_id(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__StopVmRequest *request = NULL;
        Manager *manager = userdata;
        StopGroup *g;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__stop_vm_request__descriptor, (ProtobufCMessage **)&request,
                         error);
        if (r < 0)
                return r;

        if (!vm_name_is_valid(request->name)) {
                reply_success_failure(manager, m, -EINVAL, VALIDATE_VM_NAME_FAILURE);
                return 1;
        }

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        *g = (StopGroup){.call = sd_bus_message_ref(m), .pending = 1};

        /* Every VM of that name, whoever owns it, in parallel. */
        for (Vm *vm = manager->vms, *next; vm; vm = next) {
                next = vm->registry_next;
                if (!streq(vm->name, request->name))
                        continue;
                g->pending++;
                r = manager_stop_vm(manager, vm, VM_STOP_REASON_STOP_VM_REQUESTED, stop_group_one_done, g);
                if (r < 0) {
                        log_warning_errno(r, "Failed to stop VM %s of owner %s", vm->name, vm->owner_id);
                        g->pending--;
                        g->failed = true;
                }
        }
        stop_group_unref(manager, g);
        return 1;
}

static void stop_all_done(Manager *manager, void *userdata)
{
        sd_bus_message *call = userdata;
        int r;

        r = sd_bus_reply_method_return(call, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to reply to StopAllVms, ignoring");
        log_info("StopAllVms: done.");
        reply_later_done(manager, call);
}

static int method_stop_all_vms(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        Manager *manager = userdata;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;

        /* Answered once every VM is gone (at once when there are none). */
        sd_bus_message_ref(m);
        r = manager_stop_all_vms(manager, VM_STOP_REASON_STOP_ALL_VMS_REQUESTED, stop_all_done, m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return log_error_errno(r, "StopAllVms failed");
        }
        log_info("StopAllVms: stopping %d VM(s).", r);
        return 1;
}

/* --- SuspendVm, ResumeVm ----------------------------------------------------------------------- */

static int suspend_or_resume(sd_bus_message *m, Manager *manager, bool suspend, sd_bus_error *error)
{
        _cleanup_proto_ ProtobufCMessage *request = NULL;
        const char *failure = NULL, *owner_id, *name;
        Vm *vm;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        /* SuspendVmRequest and ResumeVmRequest are both {name = 1, owner_id = 2}. */
        if (suspend) {
                r = read_request(m, &vm_tools__concierge__suspend_vm_request__descriptor, &request, error);
                if (r < 0)
                        return r;
                name = ((VmTools__Concierge__SuspendVmRequest *)request)->name;
                owner_id = ((VmTools__Concierge__SuspendVmRequest *)request)->owner_id;
        } else {
                r = read_request(m, &vm_tools__concierge__resume_vm_request__descriptor, &request, error);
                if (r < 0)
                        return r;
                name = ((VmTools__Concierge__ResumeVmRequest *)request)->name;
                owner_id = ((VmTools__Concierge__ResumeVmRequest *)request)->owner_id;
        }

        failure = validate_vm_request(owner_id, name);
        if (failure) {
                reply_success_failure(manager, m, -EINVAL, failure);
                return 1;
        }

        vm = manager_find_vm(manager, owner_id, name);
        if (!vm) {
                /* reference §1.4: unknown VM -> success. */
                reply_success_failure(manager, m, 0, NULL);
                return 1;
        }

        sd_bus_message_ref(m);
        r = suspend ? manager_suspend_vm(manager, vm, success_failure_done, m, &failure)
                    : manager_resume_vm(manager, vm, success_failure_done, m, &failure);
        if (r < 0) {
                sd_bus_message_unref(m);
                log_info("%s of VM %s of owner %s refused: %s", suspend ? "SuspendVm" : "ResumeVm", name,
                         owner_id, strna(failure));
                reply_success_failure(manager, m, r, failure);
        }
        return 1;
}

static int method_suspend_vm(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        return suspend_or_resume(m, userdata, true, error);
}

static int method_resume_vm(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        return suspend_or_resume(m, userdata, false, error);
}

/* --- GetVmLogs --------------------------------------------------------------------------------- */

static int method_get_vm_logs(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
        _cleanup_proto_ VmTools__Concierge__GetVmLogsRequest *request = NULL;
        VmTools__Concierge__GetVmLogsResponse response = VM_TOOLS__CONCIERGE__GET_VM_LOGS_RESPONSE__INIT;
        _cleanup_free_ char *data = NULL;
        Manager *manager = userdata;
        const char *failure;
        size_t size = 0;
        Vm *vm;
        int r;

        r = reject_during_shutdown(manager, error);
        if (r < 0)
                return r;
        r = read_request(m, &vm_tools__concierge__get_vm_logs_request__descriptor,
                         (ProtobufCMessage **)&request, error);
        if (r < 0)
                return r;

        failure = validate_vm_request(request->owner_id, request->name);
        if (failure) {
                response.failure_reason = (char *)failure;
                return bus_reply_proto(m, &response.base);
        }
        vm = manager_find_vm(manager, request->owner_id, request->name);
        if (!vm) {
                response.failure_reason = (char *)"VM does not exist";
                return bus_reply_proto(m, &response.base);
        }

        r = manager_read_vm_log(manager, vm, MANAGER_VM_LOGS_MAX, &data, &size);
        if (r == -ENOENT) {
                /* The VMM has not written its console yet. */
                response.success = true;
                return bus_reply_proto(m, &response.base);
        }
        if (r < 0) {
                log_warning_errno(r, "Failed to read the console log of VM %s", vm->name);
                response.failure_reason = (char *)"Failed to read the VM's console log";
                return bus_reply_proto(m, &response.base);
        }
        response.success = true;
        response.log.data = (uint8_t *)data;
        response.log.len = size;
        return bus_reply_proto(m, &response.base);
}

/* Only the methods this daemon implements are registered: a client calling another one gets
 * org.freedesktop.DBus.Error.UnknownMethod, never a fake answer. */
static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_START_VM, "ayah", SD_BUS_PARAM(request) SD_BUS_PARAM(fd),
                                 "ay", SD_BUS_PARAM(response), method_start_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_STOP_VM, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_stop_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_STOP_VM_WITHOUT_OWNER_ID, "ay", SD_BUS_PARAM(request),
                                 "ay", SD_BUS_PARAM(response), method_stop_vm_without_owner_id,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD(CONCIERGE_METHOD_STOP_ALL_VMS, "", "", method_stop_all_vms,
                      SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_SUSPEND_VM, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_suspend_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_RESUME_VM, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_resume_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_LIST_VMS, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_list_vms, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_GET_VM_INFO, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_get_vm_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_SET_VM_CPU_RESTRICTION, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_set_vm_cpu_restriction,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_GET_VM_LOGS, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_get_vm_logs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_SWAP_VM, "ay", SD_BUS_PARAM(request), "ay", SD_BUS_PARAM(response),
                                 method_swap_vm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES(CONCIERGE_METHOD_GET_VM_SWAP_STATUS, "ay", SD_BUS_PARAM(request), "ay",
                                 SD_BUS_PARAM(response), method_get_vm_swap_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_NAMES(CONCIERGE_SIGNAL_VM_STARTING_UP, "ay", SD_BUS_PARAM(signal), 0),
        SD_BUS_SIGNAL_WITH_NAMES(CONCIERGE_SIGNAL_VM_STARTED, "ay", SD_BUS_PARAM(signal), 0),
        SD_BUS_SIGNAL_WITH_NAMES(CONCIERGE_SIGNAL_VM_STOPPING, "ay", SD_BUS_PARAM(signal), 0),
        SD_BUS_SIGNAL_WITH_NAMES(CONCIERGE_SIGNAL_VM_STOPPED, "ay", SD_BUS_PARAM(signal), 0),
        SD_BUS_SIGNAL_WITH_NAMES(CONCIERGE_SIGNAL_VM_SWAPPING, "ay", SD_BUS_PARAM(signal), 0),
        SD_BUS_VTABLE_END,
};

static void manager_on_bus_error(BusEvent *be, int error, void *userdata)
{
        Manager *m = userdata;

        log_error_errno(error, "Lost the bus connection, exiting");
        manager_shutdown(m, EXIT_FAILURE);
}

static int manager_open_bus(Manager *m, sd_bus **ret)
{
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (streq(m->bus_spec, "system"))
                return sd_bus_open_system_with_description(ret, "vm_concierge");
        if (streq(m->bus_spec, "session"))
                return sd_bus_open_user_with_description(ret, "vm_concierge");

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, m->bus_spec);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_set_description(bus, "vm_concierge");
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(bus);
        return 0;
}

int manager_connect_bus(Manager *m)
{
        int r;

        r = manager_open_bus(m, &m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the %s bus", m->bus_spec);

        r = sd_bus_add_object_vtable(m->bus, &m->object_slot, CONCIERGE_OBJECT_PATH, CONCIERGE_INTERFACE,
                                     manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to export %s", CONCIERGE_OBJECT_PATH);

        r = sd_bus_request_name(m->bus, CONCIERGE_BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r,
                                       "%s is already owned on this bus; is another vm_concierge running?",
                                       CONCIERGE_BUS_NAME);
        if (r < 0)
                return log_error_errno(r, "Failed to claim %s", CONCIERGE_BUS_NAME);

        r = bus_event_attach(m->bus, m->event_base, manager_on_bus_error, m, &m->bus_event);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop");
        return 0;
}

void manager_disconnect_bus(Manager *m)
{
        m->bus_event = bus_event_free(m->bus_event);
        m->object_slot = sd_bus_slot_unref(m->object_slot);
        m->bus = sd_bus_flush_close_unref(m->bus);
}

static void manager_emit(Manager *m, const char *member, const ProtobufCMessage *msg, Vm *vm)
{
        int r;

        if (!m->bus)
                return;
        r = bus_emit_proto_signal(m->bus, CONCIERGE_OBJECT_PATH, CONCIERGE_INTERFACE, member, msg);
        if (r < 0)
                log_warning_errno(r, "Failed to emit %s for VM %s, ignoring", member, vm->name);
        (void)bus_event_rearm(m->bus_event);
}

void manager_send_vm_stopping_signal(Manager *m, Vm *vm)
{
        VmTools__Concierge__VmStoppingSignal sig = VM_TOOLS__CONCIERGE__VM_STOPPING_SIGNAL__INIT;

        sig.name = vm->name;
        sig.owner_id = vm->owner_id;
        sig.cid = vm->cid;
        manager_emit(m, CONCIERGE_SIGNAL_VM_STOPPING, &sig.base, vm);
}

void manager_send_vm_stopped_signal(Manager *m, Vm *vm, int reason)
{
        VmTools__Concierge__VmStoppedSignal sig = VM_TOOLS__CONCIERGE__VM_STOPPED_SIGNAL__INIT;

        sig.name = vm->name;
        sig.owner_id = vm->owner_id;
        sig.cid = vm->cid;
        sig.reason = reason;
        manager_emit(m, CONCIERGE_SIGNAL_VM_STOPPED, &sig.base, vm);
}

void manager_send_vm_starting_up_signal(Manager *m, Vm *vm)
{
        VmTools__Concierge__VmStartingUpSignal sig = VM_TOOLS__CONCIERGE__VM_STARTING_UP_SIGNAL__INIT;

        sig.name = vm->name;
        sig.owner_id = vm->owner_id;
        sig.vm_type = vm->vm_type;
        sig.cid = vm->cid;
        manager_emit(m, CONCIERGE_SIGNAL_VM_STARTING_UP, &sig.base, vm);
}

void manager_send_vm_started_signal(Manager *m, Vm *vm)
{
        VmTools__Concierge__VmStartedSignal sig = VM_TOOLS__CONCIERGE__VM_STARTED_SIGNAL__INIT;
        VmTools__Concierge__VmInfo info;

        vm_to_vm_info(vm, &info);
        sig.name = vm->name;
        sig.owner_id = vm->owner_id;
        sig.vm_info = &info;
        sig.status = info.status;
        manager_emit(m, CONCIERGE_SIGNAL_VM_STARTED, &sig.base, vm);
}

void manager_flush_bus(Manager *m)
{
        if (m->bus_event)
                (void)bus_event_rearm(m->bus_event);
}
