/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Manager: event loop, registry of VMs, startup and shutdown. */
#include <signal.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "concierge/log.h"
#include "concierge/manager-dbus.h"
#include "concierge/manager.h"
#include "dbus/concierge-dbus.h"
#include "dbus/concierge-enums.h"
#include "proto/concierge_service.pb-c.h"

int manager_new(const ManagerConfig *config, Manager **ret)
{
        _cleanup_(manager_freep) Manager *m = NULL;

        if (!config || !config->bus || !config->runtime_dir || !config->state_dir || !config->vmm_path ||
            !ret)
                return -EINVAL;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->next_cid = MANAGER_FIRST_CID;

        m->bus_spec = strdup(config->bus);
        m->runtime_dir = strdup(config->runtime_dir);
        m->state_dir = strdup(config->state_dir);
        m->vmm_path = strdup(config->vmm_path);
        if (!m->bus_spec || !m->runtime_dir || !m->state_dir || !m->vmm_path)
                return -ENOMEM;

        m->event_base = event_base_new();
        if (!m->event_base)
                return -ENOMEM;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m)
{
        if (!m)
                return NULL;

        while (m->vms)
                vm_free(m->vms);
        /* After the VMMs are gone: removes the CPU cgroups this run created, when empty. */
        m->cpu_cgroups = cpu_cgroups_free(m->cpu_cgroups);

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
        free(m);
        return NULL;
}

/* mkdir -p with mode 0755 for each missing component; an existing dir is fine. */
static int mkdir_parents(const char *path)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
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

        log_info("Received %s, shutting down.", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        manager_shutdown(m, EXIT_SUCCESS);
}

int manager_startup(Manager *m)
{
        int r;

        r = mkdir_parents(m->runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to create runtime directory %s", m->runtime_dir);
        r = mkdir_parents(m->state_dir);
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

        log_info("Serving %s on %s bus (runtime %s, state %s).", CONCIERGE_BUS_NAME, m->bus_spec,
                 m->runtime_dir, m->state_dir);

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

void manager_shutdown(Manager *m, int exit_code)
{
        if (!m->shutting_down) {
                m->shutting_down = true;
                m->exit_code = exit_code;
                (void)sd_notify(false, "STOPPING=1");
                manager_stop_all_vms(m, VM_TOOLS__CONCIERGE__VM_STOP_REASON__SERVICE_SHUTDOWN);
        }
        event_base_loopexit(m->event_base, NULL);
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
        return m->next_cid++;
}

unsigned manager_stop_all_vms(Manager *m, int reason)
{
        unsigned n = 0;

        /* A VM without a VMM process has nothing to shut down: announce it, drop it, confirm. */
        while (m->vms) {
                Vm *vm = manager_remove_vm(m, m->vms);

                vm->state = VM_STATE_STOPPING;
                manager_send_vm_stopping_signal(m, vm);
                vm->state = VM_STATE_STOPPED;
                manager_send_vm_stopped_signal(m, vm, reason);
                log_info("VM %s of owner %s stopped (%s).", vm->name, vm->owner_id,
                         strna(vm_stop_reason_to_string(reason)));
                vm_free(vm);
                n++;
        }
        return n;
}
