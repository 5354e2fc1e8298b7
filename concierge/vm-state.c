/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-VM lifecycle state machine (see vm-state.h). */
#include "concierge/vm-state.h"
#include "vmm_backend/macro.h"

static const char *const state_table[_VM_STATE_MAX] = {
        [VM_STATE_NEW] = "new",
        [VM_STATE_STARTING] = "starting",
        [VM_STATE_RUNNING] = "running",
        [VM_STATE_SUSPENDING] = "suspending",
        [VM_STATE_SUSPENDED] = "suspended",
        [VM_STATE_RESUMING] = "resuming",
        [VM_STATE_STOPPING] = "stopping",
        [VM_STATE_STOPPED] = "stopped",
};

static const char *const event_table[_VM_EVENT_MAX] = {
        [VM_EVENT_START] = "start",
        [VM_EVENT_SPAWNED] = "spawned",
        [VM_EVENT_SPAWN_FAILED] = "spawn-failed",
        [VM_EVENT_VMM_READY] = "vmm-ready",
        [VM_EVENT_READY_FAILED] = "ready-failed",
        [VM_EVENT_SUSPEND] = "suspend",
        [VM_EVENT_SUSPEND_DONE] = "suspend-done",
        [VM_EVENT_SUSPEND_FAILED] = "suspend-failed",
        [VM_EVENT_RESUME] = "resume",
        [VM_EVENT_RESUME_DONE] = "resume-done",
        [VM_EVENT_RESUME_FAILED] = "resume-failed",
        [VM_EVENT_STOP] = "stop",
        [VM_EVENT_VMM_EXITED] = "vmm-exited",
};

static const char *const signal_table[_VM_SIGNAL_MAX] = {
        [VM_SIGNAL_STARTING_UP] = "VmStartingUpSignal",
        [VM_SIGNAL_STARTED] = "VmStartedSignal",
        [VM_SIGNAL_STOPPING] = "VmStoppingSignal",
        [VM_SIGNAL_STOPPED] = "VmStoppedSignal",
};

#define DEFINE_STRING_TABLE(name, type, table, max)                                                         \
        const char *name##_to_string(type v)                                                                \
        {                                                                                                   \
                if ((int)v < 0 || (int)v >= (max))                                                          \
                        return NULL;                                                                        \
                return table[v];                                                                            \
        }                                                                                                   \
        type name##_from_string(const char *s)                                                              \
        {                                                                                                   \
                if (!s)                                                                                     \
                        return (type)-EINVAL;                                                               \
                for (int i = 0; i < (max); i++)                                                             \
                        if (table[i] && streq(table[i], s))                                                 \
                                return (type)i;                                                             \
                return (type)-EINVAL;                                                                       \
        }

DEFINE_STRING_TABLE(vm_state, VmState, state_table, _VM_STATE_MAX)
DEFINE_STRING_TABLE(vm_event, VmEvent, event_table, _VM_EVENT_MAX)
DEFINE_STRING_TABLE(vm_signal, VmSignal, signal_table, _VM_SIGNAL_MAX)

void vm_lifecycle_init(VmLifecycle *l)
{
        *l = (VmLifecycle){.state = VM_STATE_NEW, .stop_reason = VM_STOP_REASON_VM_EXITED};
}

static bool is_live(VmState s)
{
        return s == VM_STATE_STARTING || s == VM_STATE_RUNNING || s == VM_STATE_SUSPENDING ||
               s == VM_STATE_SUSPENDED || s == VM_STATE_RESUMING;
}

static int refuse_for_stopped(const VmLifecycle *l)
{
        return l->state == VM_STATE_STOPPED || l->state == VM_STATE_STOPPING ? -ESTALE : -EINVAL;
}

int vm_lifecycle_apply(VmLifecycle *l, VmEvent event, VmStopReason stop_reason, VmTransition *ret)
{
        VmLifecycle n;
        VmTransition t = {};

        if (!l || event < 0 || event >= _VM_EVENT_MAX)
                return -EINVAL;
        n = *l;
        t.old_state = l->state;

#define EMIT(sig) (t.signals[t.n_signals++] = (sig))

        switch (event) {
        case VM_EVENT_START:
                if (l->state != VM_STATE_NEW)
                        return -EALREADY;
                n.state = VM_STATE_STARTING;
                EMIT(VM_SIGNAL_STARTING_UP);
                break;

        case VM_EVENT_SPAWNED:
                if (l->state != VM_STATE_STARTING || l->spawned)
                        return -EINVAL;
                n.spawned = true;
                break;

        case VM_EVENT_SPAWN_FAILED:
                if (l->state != VM_STATE_STARTING || l->spawned)
                        return -EINVAL;
                n.state = VM_STATE_STOPPED;
                n.failed = true;
                n.stop_reason = VM_STOP_REASON_VM_EXITED;
                EMIT(VM_SIGNAL_STOPPED);
                break;

        case VM_EVENT_VMM_READY:
                if (l->state != VM_STATE_STARTING || !l->spawned)
                        return refuse_for_stopped(l);
                n.state = VM_STATE_RUNNING;
                EMIT(VM_SIGNAL_STARTED);
                break;

        case VM_EVENT_READY_FAILED:
                if (l->state != VM_STATE_STARTING || !l->spawned)
                        return refuse_for_stopped(l);
                n.state = VM_STATE_STOPPING;
                n.failed = true;
                n.stop_reason = VM_STOP_REASON_VM_EXITED;
                EMIT(VM_SIGNAL_STOPPING);
                break;

        case VM_EVENT_SUSPEND:
                switch (l->state) {
                case VM_STATE_RUNNING:
                        n.state = VM_STATE_SUSPENDING;
                        break;
                case VM_STATE_SUSPENDING:
                case VM_STATE_SUSPENDED:
                        return -EALREADY;
                case VM_STATE_STARTING:
                case VM_STATE_RESUMING:
                        return -EBUSY;
                default:
                        return refuse_for_stopped(l);
                }
                break;

        case VM_EVENT_SUSPEND_DONE:
        case VM_EVENT_SUSPEND_FAILED:
                if (l->state != VM_STATE_SUSPENDING)
                        return refuse_for_stopped(l);
                n.state = event == VM_EVENT_SUSPEND_DONE ? VM_STATE_SUSPENDED : VM_STATE_RUNNING;
                break;

        case VM_EVENT_RESUME:
                switch (l->state) {
                case VM_STATE_SUSPENDED:
                        n.state = VM_STATE_RESUMING;
                        break;
                case VM_STATE_RESUMING:
                case VM_STATE_RUNNING:
                        return -EALREADY;
                case VM_STATE_STARTING:
                case VM_STATE_SUSPENDING:
                        return -EBUSY;
                default:
                        return refuse_for_stopped(l);
                }
                break;

        case VM_EVENT_RESUME_DONE:
        case VM_EVENT_RESUME_FAILED:
                if (l->state != VM_STATE_RESUMING)
                        return refuse_for_stopped(l);
                n.state = event == VM_EVENT_RESUME_DONE ? VM_STATE_RUNNING : VM_STATE_SUSPENDED;
                break;

        case VM_EVENT_STOP:
                if (stop_reason < 0 || stop_reason >= _VM_STOP_REASON_MAX)
                        return -EINVAL;
                if (l->state == VM_STATE_STOPPING || l->state == VM_STATE_STOPPED)
                        return -EALREADY;
                if (!is_live(l->state) || (l->state == VM_STATE_STARTING && !l->spawned))
                        return -EBUSY; /* New, or Starting before the spawn: nothing to stop yet */
                n.state = VM_STATE_STOPPING;
                n.stop_reason = stop_reason;
                EMIT(VM_SIGNAL_STOPPING);
                break;

        case VM_EVENT_VMM_EXITED:
                if (l->state == VM_STATE_STOPPED)
                        return -EALREADY;
                if (!l->spawned)
                        return -EINVAL;
                /* A VMM that dies on its own gets VmStoppedSignal(VM_EXITED) without a Stopping
                 * signal, as concierge's SIGCHLD path; a requested stop keeps its reason. */
                if (l->state != VM_STATE_STOPPING)
                        n.stop_reason = VM_STOP_REASON_VM_EXITED;
                if (l->state == VM_STATE_STARTING)
                        n.failed = true;
                n.state = VM_STATE_STOPPED;
                EMIT(VM_SIGNAL_STOPPED);
                break;

        default:
                return -EINVAL;
        }
#undef EMIT

        t.new_state = n.state;
        t.stop_reason = n.stop_reason;
        *l = n;
        if (ret)
                *ret = t;
        return 0;
}

VmStatus vm_lifecycle_status(const VmLifecycle *l)
{
        switch (l->state) {
        case VM_STATE_NEW:
                return VM_STATUS_UNKNOWN;
        case VM_STATE_STARTING:
                return VM_STATUS_STARTING;
        case VM_STATE_RUNNING:
        case VM_STATE_SUSPENDING:
        case VM_STATE_SUSPENDED:
        case VM_STATE_RESUMING:
                return VM_STATUS_RUNNING;
        case VM_STATE_STOPPING:
                return l->failed ? VM_STATUS_FAILURE : VM_STATUS_RUNNING;
        case VM_STATE_STOPPED:
                return l->failed ? VM_STATUS_FAILURE : VM_STATUS_STOPPED;
        default:
                return VM_STATUS_UNKNOWN;
        }
}

bool vm_lifecycle_has_process(const VmLifecycle *l)
{
        return l->spawned && l->state != VM_STATE_STOPPED;
}
