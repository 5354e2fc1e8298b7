/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager: event loop, registry of VMs, starting / stopping / supervising their VMMs,
 * startup and shutdown. */
#include <stdarg.h>
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "concierge/backend.h"
#include "concierge/log.h"
#include "concierge/manager-dbus.h"
#include "concierge/manager-swap.h"
#include "concierge/manager.h"
#include "concierge/validate.h"
#include "concierge/vmm-process.h"
#include "dbus/concierge-dbus.h"
#include "dbus/concierge-enums.h"

#include "concierge/vm-dbus.h"

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

/* The per-VM D-Bus objects (vm-dbus.c). */
static void vm_object_add(Manager *m, Vm *vm)
{
        int r;

        r = vm_dbus_add(m, vm);
        if (r < 0)
                log_warning_errno(r, "Failed to export the D-Bus object of VM %s, ignoring", vm->name);
}

static void vm_object_remove(Manager *m, Vm *vm)
{
        vm_dbus_remove(m, vm);
}

static void vm_object_changed(Manager *m, Vm *vm, const char *property)
{
        vm_dbus_emit_changed(m, vm, property, NULL);
}

int manager_new(const ManagerConfig *config, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = NULL;
        long n;

        if (!config || !config->bus || !config->runtime_dir || !config->state_dir || !config->vmm_path ||
            !ret)
                return -EINVAL;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        cid_pool_init_default(&m->cids);

        n = sysconf(_SC_NPROCESSORS_ONLN);
        m->host_cpus = n > 0 ? (unsigned)n : 1;
        n = sysconf(_SC_PHYS_PAGES);
        m->host_memory_mib = n > 0 ? (uint64_t)n * (uint64_t)sysconf(_SC_PAGESIZE) / (1024 * 1024) : 0;

        m->bus_spec = strdup(config->bus);
        m->runtime_dir = strdup(config->runtime_dir);
        m->state_dir = strdup(config->state_dir);
        m->vmm_path = strdup(config->vmm_path);
        m->swap_root = strdup(config->swap_dir ?: config->state_dir);
        if (!m->bus_spec || !m->runtime_dir || !m->state_dir || !m->vmm_path || !m->swap_root)
                return -ENOMEM;

        m->event_base = event_base_new();
        if (!m->event_base)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

static void vm_answer(Manager *m, Vm *vm, VmWaiter *w, int error, const char *message)
{
        VmWaiter copy = *w;

        *w = (VmWaiter){};
        if (copy.done)
                copy.done(m, vm, error, error < 0 ? (message ?: strerror(-error)) : NULL, copy.userdata);
}

/* Answer and clear a waiter list. Handlers may queue new waiters meanwhile: those stay. */
static void vm_answer_all(Manager *m, Vm *vm, VmWaiter **list, size_t *n, int error, const char *message)
{
        VmWaiter *l = TAKE_PTR(*list);
        size_t k = *n;

        *n = 0;
        for (size_t i = 0; i < k; i++)
                vm_answer(m, vm, &l[i], error, message);
        free(l);
}

/* Drop a VM whose VMM is gone (or was never there): answer what waits on it, unexport, free. */
static void vm_drop(Manager *m, Vm *vm, int error, const char *message)
{
        vm_answer(m, vm, &vm->start, error < 0 ? error : -EIO,
                  vm->start_failure ?: message ?: "The VM stopped before it was ready");
        vm_answer_all(m, vm, &vm->stop_waiters, &vm->n_stop_waiters, error, message);
        vm_answer_all(m, vm, &vm->pause_waiters, &vm->n_pause_waiters, -ECONNRESET, "The VM stopped");
        vm_object_remove(m, vm);
        manager_swap_vm_free(vm); /* answers SwapVm calls still pending; before the backend goes */
        vm_free(vm);
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;

        /* Normally empty: shutdown waits for every VM. Left-overs (a VMM that survived SIGKILL, an
         * event loop that failed) are killed and reaped by backend_free(). */
        while (m->vms)
                vm_drop(m, m->vms, -ECANCELED, "The daemon is exiting");
        /* After the VMMs are gone: removes the CPU cgroups this run created, when empty. */
        m->cpu_cgroups = cpu_cgroups_free(m->cpu_cgroups);
        /* After the VMs: their swap controllers borrow the TBW budget. */
        m->swap = manager_swap_free(m->swap);

        manager_disconnect_bus(m);

        if (m->sigterm_event)
                event_free(m->sigterm_event);
        if (m->sigint_event)
                event_free(m->sigint_event);
        if (m->event_base)
                event_base_free(m->event_base);

        free(m->bus_spec);
        free(m->runtime_dir);
        free(m->state_dir);
        free(m->vmm_path);
        free(m->swap_root);
        free(m);
        return NULL;
}

/* mkdir -p with `mode` for each missing component; an existing dir is fine. */
static int mkdir_parents(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return negative_errno();
                *s = c;
                if (c == '\0')
                        break;
        }

        struct stat st;
        if (stat(path, &st) < 0)
                return negative_errno();
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static void manager_on_signal(evutil_socket_t sig, short what, void *userdata)
{
        Manager *m = userdata;

        if (m->shutting_down) {
                log_info("Received %s again; still stopping %u VM(s).",
                         sig == SIGTERM ? "SIGTERM" : "SIGINT", m->n_vms);
                return;
        }
        log_info("Received %s, shutting down.", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        manager_shutdown(m, EXIT_SUCCESS);
}

int manager_startup(Manager *m)
{
        int r;

        r = mkdir_parents(m->runtime_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create runtime directory %s", m->runtime_dir);
        r = mkdir_parents(m->state_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create state directory %s", m->state_dir);

        m->sigterm_event = evsignal_new(m->event_base, SIGTERM, manager_on_signal, m);
        m->sigint_event = evsignal_new(m->event_base, SIGINT, manager_on_signal, m);
        if (!m->sigterm_event || !m->sigint_event || evsignal_add(m->sigterm_event, NULL) < 0 ||
            evsignal_add(m->sigint_event, NULL) < 0)
                return log_error_errno(ENOMEM, "Failed to watch SIGTERM/SIGINT");

        r = manager_connect_bus(m);
        if (r < 0)
                return r;

        log_info("Serving %s on %s bus (runtime %s, state %s, VMM %s, %u CPU(s)).", CONCIERGE_BUS_NAME,
                 m->bus_spec, m->runtime_dir, m->state_dir, m->vmm_path, m->host_cpus);

        r = sd_notify(false, "READY=1\nSTATUS=Serving");
        if (r < 0)
                log_warning_errno(r, "Failed to notify the service manager, ignoring");
        return 0;
}

int manager_run(Manager *m)
{
        if (event_base_dispatch(m->event_base) < 0)
                return log_error_errno(EIO, "Event loop failed"), EXIT_FAILURE;
        return m->exit_code;
}

static void manager_on_all_stopped_exit(Manager *m, void *userdata)
{
        log_info("All VMs stopped; exiting.");
        event_base_loopexit(m->event_base, NULL);
}

void manager_shutdown(Manager *m, int exit_code)
{
        int r;

        if (m->shutting_down)
                return;
        m->shutting_down = true;
        m->exit_code = exit_code;
        (void)sd_notify(false, "STOPPING=1");
        r = manager_stop_all_vms(m, VM_STOP_REASON_SERVICE_SHUTDOWN, manager_on_all_stopped_exit, NULL);
        if (r < 0) {
                log_error_errno(r, "Failed to stop the VMs; exiting (their VMMs are killed)");
                event_base_loopexit(m->event_base, NULL);
        }
}

int manager_add_vm(Manager *m, Vm *vm)
{
        if (!m || !vm || vm->manager)
                return -EINVAL;
        if (manager_find_vm(m, vm->owner_id, vm->name))
                return -EEXIST;
        if (vm->pid > 0 && manager_find_vm_by_pid(m, vm->pid))
                return -EEXIST;

        vm->registry_prev = NULL;
        vm->registry_next = m->vms;
        if (m->vms)
                m->vms->registry_prev = vm;
        m->vms = vm;
        m->n_vms++;
        vm->manager = m;
        return 0;
}

Vm *manager_remove_vm(Manager *m, Vm *vm)
{
        if (!m || !vm || vm->manager != m)
                return vm;

        if (vm->registry_prev)
                vm->registry_prev->registry_next = vm->registry_next;
        else
                m->vms = vm->registry_next;
        if (vm->registry_next)
                vm->registry_next->registry_prev = vm->registry_prev;
        vm->registry_prev = vm->registry_next = NULL;
        vm->manager = NULL;
        m->n_vms--;
        return vm;
}

Vm *manager_find_vm(Manager *m, const char *owner_id, const char *name)
{
        if (!m || !owner_id || !name)
                return NULL;
        MANAGER_FOREACH_VM(vm, m)
        if (streq(vm->owner_id, owner_id) && streq(vm->name, name))
                return vm;
        return NULL;
}

Vm *manager_find_vm_by_pid(Manager *m, pid_t pid)
{
        if (!m || pid <= 0)
                return NULL;
        MANAGER_FOREACH_VM(vm, m)
        if (vm->pid == pid)
                return vm;
        return NULL;
}

int64_t manager_allocate_cid(Manager *m)
{
        uint32_t cid;
        int r;

        r = cid_pool_allocate(&m->cids, &cid);
        if (r < 0)
                return r;
        return cid;
}

/* --- the lifecycle --------------------------------------------------------------------------- */

/* Apply `event` and emit what the transition says, in order. */
static int vm_apply(Manager *m, Vm *vm, VmEvent event, VmStopReason reason)
{
        VmTransition t;
        int r;

        r = vm_lifecycle_apply(&vm->lifecycle, event, reason, &t);
        if (r < 0)
                return r;

        for (unsigned i = 0; i < t.n_signals; i++)
                switch (t.signals[i]) {
                case VM_SIGNAL_STARTING_UP:
                        manager_send_vm_starting_up_signal(m, vm);
                        break;
                case VM_SIGNAL_STARTED:
                        manager_send_vm_started_signal(m, vm);
                        break;
                case VM_SIGNAL_STOPPING:
                        manager_send_vm_stopping_signal(m, vm);
                        break;
                case VM_SIGNAL_STOPPED:
                        manager_send_vm_stopped_signal(m, vm, t.stop_reason);
                        break;
                default:
                        break;
                }
        if (t.old_state != t.new_state) {
                log_debug("VM %s of owner %s: %s -> %s (%s).", vm->name, vm->owner_id,
                          vm_state_to_string(t.old_state), vm_state_to_string(t.new_state),
                          vm_event_to_string(event));
                vm_object_changed(m, vm, "State");
        }
        return 0;
}

/* The last line the VMM logged about an error ("vmm_backend: ..."), or its last line. */
static char *vmm_log_last_error(const Vm *vm)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[4096], *line = NULL, *last = NULL;
        struct stat st;
        ssize_t n;

        if (!vm->runtime_dir || !(path = format_string("%s/%s", vm->runtime_dir, VMM_PROCESS_VMM_LOG)))
                return NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0)
                return NULL;
        n = pread(fd, buf, sizeof(buf) - 1,
                  st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';

        for (char *s = strtok_r(buf, "\n", &line); s; s = strtok_r(NULL, "\n", &line)) {
                if (!*s)
                        continue;
                if (strncmp(s, "vmm_backend: ", 13) == 0)
                        last = s + 13;
                else if (!last)
                        last = s;
        }
        return last ? strdup(last) : NULL;
}

static void vm_on_ready(Backend *b, int error, const VmmctlStatus *st, void *userdata)
{
        Vm *vm = userdata;
        Manager *m = vm->manager;
        int r;

        if (error == 0) {
                r = vm_apply(m, vm, VM_EVENT_VMM_READY, 0);
                if (r < 0) /* stopped meanwhile: the exit answers the start */
                        return;
                log_info("VM %s of owner %s is running (VMM pid %d, %u vCPU(s), %" PRIu64 " MiB).", vm->name,
                         vm->owner_id, vm->pid, st->vcpus, st->memory_bytes >> 20);
                vm_answer(m, vm, &vm->start, 0, NULL);
                return;
        }

        if (!vm->start_failure)
                vm->start_failure =
                        format_string("The VMM did not come up: %s",
                                      error == -ETIMEDOUT ? "no answer in time" : strerror(-error));
        r = vm_apply(m, vm, VM_EVENT_READY_FAILED, 0);
        if (r < 0)
                return;
        log_warning_errno(error, "VM %s of owner %s: the VMM did not answer its first status request",
                          vm->name, vm->owner_id);
        r = backend_stop(b);
        if (r < 0 && r != -ESRCH && r != -EALREADY) {
                log_warning_errno(r, "Failed to stop the VMM of VM %s, killing it", vm->name);
                (void)backend_kill(b, SIGKILL);
        }
}

static void vm_on_event(Backend *b, const VmmctlEvent *ev, void *userdata)
{
        Vm *vm = userdata;

        manager_swap_vm_event(vm, ev);
        if (ev->type == VMMCTL_EVENT_VM_EXITED)
                log_debug("VM %s of owner %s: the VMM says the VM exited (reason %d, guest code %d).",
                          vm->name, vm->owner_id, (int)ev->vm_exited.reason, ev->vm_exited.guest_code);
}

static void vm_on_stop_failed(Backend *b, int error, void *userdata)
{
        Vm *vm = userdata;

        log_error_errno(error, "VM %s of owner %s: its VMM (pid %d) survived SIGKILL; still watching it",
                        vm->name, vm->owner_id, vm->pid);
        vm_answer_all(vm->manager, vm, &vm->stop_waiters, &vm->n_stop_waiters, error,
                      "Unable to shut down VM");
}

static void vm_on_exited(Backend *b, const BackendExit *e, void *userdata)
{
        Vm *vm = userdata;
        Manager *m = vm->manager;

        /* Why a start failed: the VMM's own words, read before its runtime dir goes. A VM stopped
         * by request before it was ready keeps the default answer of vm_drop(). */
        if (vm->start.done && (vm_get_state(vm) == VM_STATE_STARTING || vm->lifecycle.failed)) {
                _cleanup_free_ char *why = vmm_log_last_error(vm);
                char *s = NULL;

                if (why)
                        s = format_string("The VMM failed to start: %s", why);
                else if (!vm->start_failure && e->code == CLD_EXITED)
                        s = format_string("The VMM exited with status %d during start-up", e->status);
                else if (!vm->start_failure)
                        s = format_string("The VMM was killed by signal %d during start-up", e->status);
                if (s) {
                        free(vm->start_failure);
                        vm->start_failure = s;
                }
        }

        /* backend_free() is safe inside its callbacks, but from in here it finishes only once the
         * callback returned: remove the runtime dir now, so that whoever gets VmStoppedSignal or a
         * StopVm answer finds it gone. */
        if (vm->runtime_dir) {
                int r = vmm_process_remove_tree(vm->runtime_dir);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove %s, ignoring", vm->runtime_dir);
        }

        (void)vm_apply(m, vm, VM_EVENT_VMM_EXITED, 0);
        if (e->code == CLD_EXITED)
                log_info("VM %s of owner %s stopped (%s): VMM pid %d exited with status %d.", vm->name,
                         vm->owner_id, strna(vm_stop_reason_to_string(vm->lifecycle.stop_reason)), e->pid,
                         e->status);
        else
                log_info("VM %s of owner %s stopped (%s): VMM pid %d killed by signal %d (%s).", vm->name,
                         vm->owner_id, strna(vm_stop_reason_to_string(vm->lifecycle.stop_reason)), e->pid,
                         e->status, strna(stop_ladder_rung_to_string(e->rung)));

        manager_swap_vm_stopped(vm); /* counts as a disable for its usage history */
        vm->vmm = NULL;
        backend_free(b);
        vm_drop(m, vm, 0, NULL);

        /* The lines above ran inside a libevent callback: flush what they queued on the bus. */
        manager_flush_bus(m);
}

static const BackendCallbacks vm_backend_callbacks = {
        .ready = vm_on_ready,
        .event = vm_on_event,
        .stop_failed = vm_on_stop_failed,
        .exited = vm_on_exited,
};

/* Check the request and turn it into the VM's settings. NULL when it is acceptable, else the
 * failure_reason (allocated). */
static char *vm_check_start_request(Manager *m, const VmStartRequest *req, unsigned *ret_cpus,
                                    uint32_t *ret_mem, const BackendOps **ret_ops, char **ret_cmdline)
{
        _cleanup_free_ char *cmdline = NULL;
        const char *failure;
        char *s = NULL;
        size_t len = 0;

        failure = validate_cpu_count(req->cpus, m->host_cpus, ret_cpus);
        if (failure)
                return strdup(failure);
        failure = validate_memory_mib(req->memory_mib, MANAGER_DEFAULT_MEMORY_MIB, MANAGER_MIN_MEMORY_MIB,
                                      m->host_memory_mib, ret_mem);
        if (failure)
                return strdup(failure);

        if (backend_find(req->backend && *req->backend ? req->backend : "embedded", ret_ops) < 0) {
                s = format_string("Unknown backend '%s' (known: %s)", req->backend, backend_names());
                return s ?: strdup("Unknown backend");
        }

        if (req->kernel_fd < 0)
                return strdup("No kernel: the request's fds list has no KERNEL entry");

        for (size_t i = 0; i < req->n_kernel_params; i++) {
                const char *p = req->kernel_params[i];
                if (!p || !*p)
                        continue;
                if (strpbrk(p, "\n\r")) {
                        s = format_string("Kernel parameter %zu contains a line break", i);
                        return s;
                }
                len += strlen(p) + 1;
                if (len > MANAGER_CMDLINE_MAX + 1) {
                        s = format_string("Kernel command line is too long (at most %u bytes)",
                                          MANAGER_CMDLINE_MAX);
                        return s;
                }
        }
        if (len > 0) {
                cmdline = calloc(1, len);
                if (!cmdline)
                        return strdup("Out of memory");
                for (size_t i = 0; i < req->n_kernel_params; i++) {
                        if (!req->kernel_params[i] || !*req->kernel_params[i])
                                continue;
                        if (*cmdline)
                                strcat(cmdline, " ");
                        strcat(cmdline, req->kernel_params[i]);
                }
        }
        *ret_cmdline = TAKE_PTR(cmdline);
        return NULL;
}

/* Build the VMM's start configuration for vm and spawn it. The one place that decides how a VM
 * is launched: cgroup placement and vmm-swap settings go here too. */
static int vm_launch(Manager *m, Vm *vm, const BackendOps *ops, const VmStartRequest *req,
                     const char *cmdline)
{
        char *extra[4] = {};
        size_t n_extra = 0;
        BackendStartConfig c = {
                .vmm_path = m->vmm_path,
                .runtime_dir = m->runtime_dir,
                .dir_prefix = "vm.",
                .mem_mib = vm->memory_mib,
                .cpus = vm->cpus,
                .kernel_fd = req->kernel_fd,
                .initrd_fd = req->initrd_fd,
                .cmdline = cmdline,
                .startup_timeout_usec = (uint64_t)req->timeout_sec * USEC_PER_SEC,
        };
        int r;

        if (vm->balloon)
                extra[n_extra++] = (char *)"--balloon";
        extra[n_extra] = NULL;
        c.extra_args = extra;

        if (req->enable_vmm_swap) {
                /* <swap root>/<owner>/: private to the daemon, one per user as upstream keeps
                 * per-user storage apart; the VMM makes an O_TMPFILE in it. */
                vm->swap_dir = format_string("%s/%s", m->swap_root, vm->owner_id);
                if (!vm->swap_dir)
                        return -ENOMEM;
                r = mkdir_parents(m->swap_root, 0755);
                if (r >= 0 && mkdir(vm->swap_dir, 0700) < 0 && errno != EEXIST)
                        r = negative_errno();
                if (r >= 0 && chmod(vm->swap_dir, 0700) < 0)
                        r = negative_errno();
                if (r < 0)
                        return log_warning_errno(r, "Failed to create the swap dir %s", vm->swap_dir);
                c.swap_dir = vm->swap_dir;
        }

        /* The VMM process joins its family's CPU cgroup before exec, its vCPU threads the
         * -vcpus group (cpu-cgroups.h); without usable cgroups this sets nothing. */
        CpuCgroupsPlacement cgroup_placement = {};
        r = cpu_cgroups_place_vm(m->cpu_cgroups, vm, &c, &cgroup_placement);
        if (r < 0)
                return log_warning_errno(r, "Failed to prepare the CPU cgroups of VM %s", vm->name);

        r = backend_start(ops, m->event_base, &c, &vm_backend_callbacks, vm, &vm->vmm);
        if (r < 0)
                return r;
        vm->pid = backend_pid(vm->vmm);
        vm->runtime_dir = strdup(backend_runtime_dir(vm->vmm));
        vm->channel_socket = backend_runtime_path(vm->vmm, VMM_PROCESS_CHANNEL_SOCKET);
        if (!vm->runtime_dir || !vm->channel_socket)
                return -ENOMEM; /* the caller frees vm->vmm, which kills it */
        /* vmm-swap VMs get their swap controller (manager-swap.c). */
        return manager_swap_vm_launched(m, vm);
}

int manager_start_vm(Manager *m, const VmStartRequest *req, VmOpDone done, void *userdata,
                     char **ret_failure, Vm **ret_vm)
{
        _cleanup_(vm_freep) Vm *vm = NULL;
        _cleanup_free_ char *cmdline = NULL;
        const BackendOps *ops = NULL;
        const char *failure;
        struct timespec ts;
        int64_t cid;
        Vm *existing;
        char *why;
        int r;

        if (!m || !req || !ret_failure || !ret_vm)
                return -EINVAL;

        failure = validate_new_vm_request(req->owner_id, req->name);
        if (failure) {
                *ret_failure = strdup(failure);
                return -EINVAL;
        }
        if (m->shutting_down) {
                *ret_failure = strdup(CONCIERGE_ERROR_SHUTDOWN_MESSAGE);
                return -ESHUTDOWN;
        }

        existing = manager_find_vm(m, req->owner_id, req->name);
        if (existing) {
                if (vm_get_state(existing) == VM_STATE_STOPPING) {
                        *ret_failure = strdup("VM is stopping; start it again once it has stopped");
                        return -EBUSY;
                }
                *ret_vm = existing;
                return VM_START_EXISTING;
        }

        r = vm_new(req->owner_id, req->name, &vm);
        if (r < 0) {
                *ret_failure = strdup("Out of memory");
                return r;
        }
        why = vm_check_start_request(m, req, &vm->cpus, &vm->memory_mib, &ops, &cmdline);
        if (why) {
                *ret_failure = why;
                return -EINVAL;
        }

        vm->vm_type = req->vm_type;
        vm->balloon = req->enable_balloon;
        vm->backend = strdup(ops->name);
        if (!vm->backend) {
                *ret_failure = strdup("Out of memory");
                return -ENOMEM;
        }
        cid = manager_allocate_cid(m);
        if (cid < 0) {
                *ret_failure = strdup("No vsock cid left for a new VM");
                return (int)cid;
        }
        vm->cid = cid;
        clock_gettime(CLOCK_REALTIME, &ts);
        vm->start_time_usec = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;

        r = manager_add_vm(m, vm);
        if (r < 0) {
                *ret_failure = strdup("Failed to register the VM");
                return r;
        }
        vm_object_add(m, vm);

        /* VmStartingUpSignal before the VMM exists (reference §1.4). */
        r = vm_apply(m, vm, VM_EVENT_START, 0);
        assert(r == 0);

        r = vm_launch(m, vm, ops, req, cmdline);
        if (r < 0) {
                log_warning_errno(r, "Failed to start the VMM of VM %s of owner %s", vm->name, vm->owner_id);
                *ret_failure = format_string("Failed to start the VMM: %s", strerror(-r));
                vm->vmm = backend_free(vm->vmm);
                (void)vm_apply(m, vm, VM_EVENT_SPAWN_FAILED, 0);
                vm_drop(m, TAKE_PTR(vm), 0, NULL);
                return r;
        }

        (void)vm_apply(m, vm, VM_EVENT_SPAWNED, 0);
        vm_object_changed(m, vm, "Pid");
        vm->start = (VmWaiter){.done = done, .userdata = userdata};
        log_info("VM %s of owner %s: VMM pid %d, cid %" PRIi64 ", %u vCPU(s), %" PRIu32
                 " MiB, runtime dir %s (console %s/%s, channel %s/%s).",
                 vm->name, vm->owner_id, vm->pid, vm->cid, vm->cpus, vm->memory_mib, vm->runtime_dir,
                 vm->runtime_dir, VMM_PROCESS_CONSOLE_LOG, vm->runtime_dir, VMM_PROCESS_CHANNEL_SOCKET);

        *ret_vm = TAKE_PTR(vm);
        return VM_START_STARTED;
}

int manager_stop_vm(Manager *m, Vm *vm, VmStopReason reason, VmOpDone done, void *userdata)
{
        int r;

        if (!m || !vm || vm->manager != m)
                return -EINVAL;

        r = vm_waiter_add(&vm->stop_waiters, &vm->n_stop_waiters, done, userdata);
        if (r < 0)
                return r;

        r = vm_apply(m, vm, VM_EVENT_STOP, reason);
        if (r == -EALREADY)
                return 0; /* under way: the exit answers the waiter */
        if (r < 0) {
                /* Not spawned yet cannot happen (the spawn is synchronous); refuse anyway. */
                if (done)
                        vm->n_stop_waiters--;
                return r;
        }
        log_info("Stopping VM %s of owner %s (%s).", vm->name, vm->owner_id,
                 strna(vm_stop_reason_to_string(reason)));

        r = backend_stop(vm->vmm);
        if (r < 0 && r != -EALREADY && r != -ESRCH) {
                log_warning_errno(r, "Failed to begin stopping the VMM of VM %s, killing it", vm->name);
                (void)backend_kill(vm->vmm, SIGKILL);
        }
        return 0;
}

typedef struct StopAllGroup {
        unsigned pending;
        ManagerAllStopped done;
        void *userdata;
} StopAllGroup;

static void stop_all_unref(Manager *m, StopAllGroup *g)
{
        if (--g->pending > 0)
                return;
        if (g->done)
                g->done(m, g->userdata);
        free(g);
}

static void stop_all_one_done(Manager *m, Vm *vm, int error, const char *message, void *userdata)
{
        if (error < 0)
                log_warning("VM %s of owner %s: %s", vm->name, vm->owner_id, message);
        stop_all_unref(m, userdata);
}

int manager_stop_all_vms(Manager *m, VmStopReason reason, ManagerAllStopped done, void *userdata)
{
        StopAllGroup *g;
        int n = 0, r;

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        *g = (StopAllGroup){.pending = 1, .done = done, .userdata = userdata};

        /* In parallel: every VMM gets its stop now; the group completes with the last exit. */
        for (Vm *vm = m->vms, *next; vm; vm = next) {
                next = vm->registry_next;
                g->pending++;
                r = manager_stop_vm(m, vm, reason, stop_all_one_done, g);
                if (r < 0) {
                        log_warning_errno(r, "Failed to stop VM %s of owner %s", vm->name, vm->owner_id);
                        g->pending--;
                        continue;
                }
                n++;
        }
        stop_all_unref(m, g);
        return n;
}

static void vm_on_pause_reply(Backend *b, const BackendReply *reply, void *userdata)
{
        Vm *vm = userdata;
        Manager *m = vm->manager;
        bool suspend = vm_get_state(vm) == VM_STATE_SUSPENDING;
        int r;

        if (!vm->vmm) { /* being freed */
                vm_answer_all(m, vm, &vm->pause_waiters, &vm->n_pause_waiters, -ECANCELED, "The VM is gone");
                return;
        }

        if (suspend)
                r = vm_apply(m, vm, reply->error == 0 ? VM_EVENT_SUSPEND_DONE : VM_EVENT_SUSPEND_FAILED, 0);
        else
                r = vm_apply(m, vm, reply->error == 0 ? VM_EVENT_RESUME_DONE : VM_EVENT_RESUME_FAILED, 0);
        if (r < 0)
                log_debug_errno(r, "VM %s: pause/resume answer in state %s, ignoring", vm->name,
                                vm_state_to_string(vm_get_state(vm)));
        if (reply->error < 0)
                log_warning_errno(reply->error, "VM %s of owner %s: %s failed: %s", vm->name, vm->owner_id,
                                  suspend ? "pause" : "resume", reply->error_message);
        else
                log_info("VM %s of owner %s %s.", vm->name, vm->owner_id, suspend ? "suspended" : "resumed");

        vm_answer_all(m, vm, &vm->pause_waiters, &vm->n_pause_waiters, reply->error,
                      reply->error < 0 && reply->error_message && *reply->error_message
                              ? reply->error_message
                              : NULL);
        manager_flush_bus(m);
}

static int vm_pause_or_resume(Manager *m, Vm *vm, bool suspend, VmOpDone done, void *userdata,
                              const char **ret_failure)
{
        int r;

        if (!m || !vm || !ret_failure)
                return -EINVAL;

        r = vm_apply(m, vm, suspend ? VM_EVENT_SUSPEND : VM_EVENT_RESUME, 0);
        if (r == -EALREADY) {
                /* The same transition under way: wait for it; already there: done. */
                if (vm_get_state(vm) == (suspend ? VM_STATE_SUSPENDING : VM_STATE_RESUMING))
                        return vm_waiter_add(&vm->pause_waiters, &vm->n_pause_waiters, done, userdata);
                if (done)
                        done(m, vm, 0, NULL, userdata);
                return 0;
        }
        if (r == -EBUSY) {
                *ret_failure = vm_get_state(vm) == VM_STATE_STARTING ? "VM is still starting"
                               : suspend                             ? "VM is being resumed"
                                                                     : "VM is being suspended";
                return r;
        }
        if (r < 0) {
                *ret_failure = "VM is stopping";
                return r;
        }

        size_t n_before = vm->n_pause_waiters;
        r = vm_waiter_add(&vm->pause_waiters, &vm->n_pause_waiters, done, userdata);
        if (r >= 0)
                r = suspend ? backend_pause(vm->vmm, 0, vm_on_pause_reply, vm)
                            : backend_resume(vm->vmm, 0, vm_on_pause_reply, vm);
        if (r < 0) {
                /* The transition never began: drop our waiter unanswered (the caller fails). */
                vm->n_pause_waiters = n_before;
                (void)vm_apply(m, vm, suspend ? VM_EVENT_SUSPEND_FAILED : VM_EVENT_RESUME_FAILED, 0);
                *ret_failure = suspend ? "Failed to suspend the VM" : "Failed to resume the VM";
                return r;
        }
        return 0;
}

int manager_suspend_vm(Manager *m, Vm *vm, VmOpDone done, void *userdata, const char **ret_failure)
{
        return vm_pause_or_resume(m, vm, true, done, userdata, ret_failure);
}

int manager_resume_vm(Manager *m, Vm *vm, VmOpDone done, void *userdata, const char **ret_failure)
{
        return vm_pause_or_resume(m, vm, false, done, userdata, ret_failure);
}

int manager_read_vm_log(Manager *m, Vm *vm, size_t max_bytes, char **ret_data, size_t *ret_size)
{
        _cleanup_free_ char *path = NULL, *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t size, done = 0;
        off_t start;

        if (!vm || !ret_data || !ret_size)
                return -EINVAL;
        if (max_bytes == 0 || max_bytes > MANAGER_VM_LOGS_MAX)
                max_bytes = MANAGER_VM_LOGS_MAX;
        if (!vm->runtime_dir)
                return -ENOENT;
        path = format_string("%s/%s", vm->runtime_dir, VMM_PROCESS_CONSOLE_LOG);
        if (!path)
                return -ENOMEM;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;

        /* The end of the log: what happened last matters most. */
        size = (size_t)MIN((uint64_t)st.st_size, (uint64_t)max_bytes);
        start = st.st_size - (off_t)size;
        data = malloc(size + 1);
        if (!data)
                return -ENOMEM;
        while (done < size) {
                ssize_t n = pread(fd, data + done, size - done, start + (off_t)done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        data[done] = '\0';
        *ret_data = TAKE_PTR(data);
        *ret_size = done;
        return 0;
}
