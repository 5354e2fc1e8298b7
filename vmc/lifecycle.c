/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the lifecycle verbs, `start`, `stop`, `stop-all`, `suspend` and `resume`. */
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <sys/stat.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "dbus/concierge-enums.h"
#include "proto/concierge_service.pb-c.h"
#include "vmc/vmc.h"

static void json_object_putp(json_object **j)
{
        if (*j)
                json_object_put(*j);
}

/* Open a file the daemon is to read: the daemon never opens paths for callers (DESIGN §2), so
 * vmc does, with the caller's rights. Regular files only: a directory or a FIFO would only fail
 * later inside the VMM, with a worse message. */
static int open_image(const char *what, const char *path, int *ret_fd)
{
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return vmc_error("cannot open the %s '%s': %s", what, path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return vmc_error("cannot stat the %s '%s': %s", what, path, strerror(errno));
        if (!S_ISREG(st.st_mode))
                return vmc_error("the %s '%s' is not a regular file", what, path);
        if (st.st_size == 0)
                return vmc_error("the %s '%s' is empty", what, path);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int verb_start(Vmc *vmc, int argc, char **argv)
{
        VmTools__Concierge__StartVmRequest request = VM_TOOLS__CONCIERGE__START_VM_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__StartVmResponse *response = NULL;
        _cleanup_(vmc_start_args_done) VmcStartArgs a = {};
        _cleanup_close_ int kernel_fd = -EBADF, initrd_fd = -EBADF;
        VmTools__Concierge__StartVmRequest__FdType fd_types[2];
        int fds[2];
        size_t n_fds = 0;
        const VmTools__Concierge__VmInfo *info;
        int r;

        r = vmc_start_args_parse(argc, argv, &a);
        if (r != 0)
                return r;

        r = open_image("kernel", a.kernel, &kernel_fd);
        if (r != 0)
                return r;
        fds[n_fds] = kernel_fd;
        fd_types[n_fds++] = VM_TOOLS__CONCIERGE__START_VM_REQUEST__FD_TYPE__KERNEL;
        if (a.initrd) {
                r = open_image("initrd", a.initrd, &initrd_fd);
                if (r != 0)
                        return r;
                fds[n_fds] = initrd_fd;
                fd_types[n_fds++] = VM_TOOLS__CONCIERGE__START_VM_REQUEST__FD_TYPE__INITRD;
        }

        request.name = (char *)a.name;
        request.owner_id = (char *)vmc->owner_id;
        request.n_fds = n_fds;
        request.fds = fd_types;
        request.n_kernel_params = a.n_kernel_params;
        request.kernel_params = (char **)a.kernel_params;
        request.cpus = a.cpus;
        request.memory_mib = a.mem_mib;
        request.enable_balloon = a.enable_balloon;
        request.enable_vmm_swap = a.enable_vmm_swap;
        request.vm_type = a.vm_type;

        r = vmc_call_fds(vmc, CONCIERGE_METHOD_START_VM, &request.base, fds, n_fds,
                         &vm_tools__concierge__start_vm_response__descriptor,
                         (ProtobufCMessage **)&response);
        if (r != 0)
                return r;
        if (!response->success)
                return vmc_error("starting VM '%s' failed: %s", a.name,
                                 *strempty(response->failure_reason) ? response->failure_reason
                                                                     : "no reason given");

        info = response->vm_info;
        if (vmc->json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "name", json_object_new_string(a.name));
                json_object_object_add(j, "owner_id", json_object_new_string(vmc->owner_id));
                json_object_object_add(
                        j, "status",
                        json_object_new_string(vm_status_to_string(response->status) ?: "unknown"));
                json_object_object_add(j, "cid", json_object_new_int64(info ? info->cid : 0));
                json_object_object_add(j, "pid", json_object_new_int(info ? info->pid : 0));
                vmc_print_json(j);
                return 0;
        }
        printf("VM %s of owner %s: %s (cid %" PRId64 ", pid %d).\n", a.name, vmc->owner_id,
               vm_status_to_string(response->status) ?: "unknown", info ? info->cid : 0,
               info ? info->pid : 0);
        return 0;
}

/* StopVm, SuspendVm and ResumeVm share their request shape (name=1, owner_id=2) and answer
 * with a SuccessFailureResponse. */
static int call_per_vm(Vmc *vmc, int argc, char **argv, const char *method, const char *doing,
                       const char *done)
{
        VmTools__Concierge__StopVmRequest request = VM_TOOLS__CONCIERGE__STOP_VM_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__SuccessFailureResponse *response = NULL;
        int r;

        if (argc != 2)
                return vmc_usage_error("usage: vmc %s NAME", argv[0]);
        if (!*argv[1])
                return vmc_usage_error("the VM name must not be empty");

        request.name = argv[1];
        request.owner_id = (char *)vmc->owner_id;
        r = vmc_call(vmc, method, &request.base, &vm_tools__concierge__success_failure_response__descriptor,
                     (ProtobufCMessage **)&response);
        if (r != 0)
                return r;
        if (!response->success)
                return vmc_error("%s VM '%s' failed: %s", doing, argv[1],
                                 *strempty(response->failure_reason) ? response->failure_reason
                                                                     : "no reason given");
        if (!vmc->json)
                printf("VM %s of owner %s %s.\n", argv[1], vmc->owner_id, done);
        return 0;
}

int verb_stop(Vmc *vmc, int argc, char **argv)
{
        return call_per_vm(vmc, argc, argv, CONCIERGE_METHOD_STOP_VM, "stopping", "stopped");
}

int verb_suspend(Vmc *vmc, int argc, char **argv)
{
        return call_per_vm(vmc, argc, argv, CONCIERGE_METHOD_SUSPEND_VM, "suspending", "suspended");
}

int verb_resume(Vmc *vmc, int argc, char **argv)
{
        return call_per_vm(vmc, argc, argv, CONCIERGE_METHOD_RESUME_VM, "resuming", "resumed");
}

int verb_stop_all(Vmc *vmc, int argc, char **argv)
{
        int r;

        if (argc != 1)
                return vmc_usage_error("stop-all takes no arguments");
        r = vmc_call(vmc, CONCIERGE_METHOD_STOP_ALL_VMS, NULL, NULL, NULL);
        if (r != 0)
                return r;
        if (!vmc->json)
                printf("All VMs stopped.\n");
        return 0;
}
