/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-VM lifecycle state machine: events in, new state and the D-Bus signals to emit out.
 *
 * No bus, no I/O: the caller (the manager / vm-dbus) performs the spawn, the backend calls and the
 * signal emission, and feeds what happened back in as events. Signal order follows reference
 * concierge.md §1.4: VmStartingUpSignal before the VMM is spawned, VmStartedSignal once the VMM
 * answers its first status request, VmStoppingSignal when a stop is requested, VmStoppedSignal
 * (with the VmStopReason) once the VMM process is gone.
 *
 *   New --start--> Starting --spawned--> Starting(spawned) --vmm-ready--> Running
 *   Starting --spawn-failed--> Stopped                  (StoppedSignal VM_EXITED, status FAILURE)
 *   Starting(spawned) --ready-failed--> Stopping       (StoppingSignal; status FAILURE)
 *   Running --suspend--> Suspending --suspend-done--> Suspended   (--suspend-failed--> Running)
 *   Suspended --resume--> Resuming --resume-done--> Running       (--resume-failed--> Suspended)
 *   Starting(spawned)|Running|Suspending|Suspended|Resuming --stop(reason)--> Stopping
 *   Starting(spawned)|Running|...|Stopping --vmm-exited--> Stopped
 *
 * VmStatus / VmStopReason values equal the protobuf enums of concierge_service.proto; their
 * string tables are dbus/concierge-enums.h's. */
#pragma once

#include <errno.h>
#include <stdbool.h>

typedef enum VmState {
        VM_STATE_NEW,
        VM_STATE_STARTING,
        VM_STATE_RUNNING,
        VM_STATE_SUSPENDING,
        VM_STATE_SUSPENDED,
        VM_STATE_RESUMING,
        VM_STATE_STOPPING,
        VM_STATE_STOPPED,
        _VM_STATE_MAX,
        _VM_STATE_INVALID = -EINVAL,
} VmState;

typedef enum VmEvent {
        VM_EVENT_START,        /* the manager is about to spawn the VMM */
        VM_EVENT_SPAWNED,      /* the VMM process exists */
        VM_EVENT_SPAWN_FAILED, /* fork/exec/setup failed: no process */
        VM_EVENT_VMM_READY,    /* the VMM answered the status request */
        VM_EVENT_READY_FAILED, /* the VMM did not answer status (timeout, error): it gets stopped */
        VM_EVENT_SUSPEND,
        VM_EVENT_SUSPEND_DONE,
        VM_EVENT_SUSPEND_FAILED,
        VM_EVENT_RESUME,
        VM_EVENT_RESUME_DONE,
        VM_EVENT_RESUME_FAILED,
        VM_EVENT_STOP,       /* a stop was requested, with a reason */
        VM_EVENT_VMM_EXITED, /* the VMM process is gone (reaped) */
        _VM_EVENT_MAX,
        _VM_EVENT_INVALID = -EINVAL,
} VmEvent;

/* The D-Bus signals of a transition. */
typedef enum VmSignal {
        VM_SIGNAL_STARTING_UP,
        VM_SIGNAL_STARTED,
        VM_SIGNAL_STOPPING,
        VM_SIGNAL_STOPPED,
        _VM_SIGNAL_MAX,
        _VM_SIGNAL_INVALID = -EINVAL,
} VmSignal;

/* = vm_tools.concierge.VmStopReason */
typedef enum VmStopReason {
        VM_STOP_REASON_VM_EXITED = 0,
        VM_STOP_REASON_STOP_VM_REQUESTED = 1,
        VM_STOP_REASON_STOP_ALL_VMS_REQUESTED = 2,
        VM_STOP_REASON_DESTROY_DISK_IMAGE_REQUESTED = 3,
        VM_STOP_REASON_SERVICE_SHUTDOWN = 4,
        VM_STOP_REASON_SIBLING_VM_EXITED = 5,
        _VM_STOP_REASON_MAX,
        _VM_STOP_REASON_INVALID = -EINVAL,
} VmStopReason;

/* = vm_tools.concierge.VmStatus */
typedef enum VmStatus {
        VM_STATUS_UNKNOWN = 0,
        VM_STATUS_RUNNING = 1,
        VM_STATUS_STARTING = 2,
        VM_STATUS_FAILURE = 3,
        VM_STATUS_DISK_OP_IN_PROGRESS = 4,
        VM_STATUS_STOPPED = 5,
        _VM_STATUS_MAX,
        _VM_STATUS_INVALID = -EINVAL,
} VmStatus;

const char *vm_state_to_string(VmState s);
VmState vm_state_from_string(const char *s);
const char *vm_event_to_string(VmEvent e);
VmEvent vm_event_from_string(const char *s);
const char *vm_signal_to_string(VmSignal s);
VmSignal vm_signal_from_string(const char *s);

typedef struct VmLifecycle {
        VmState state;
        bool spawned;             /* a VMM process exists (or existed) */
        bool failed;              /* start failed: VmInfo status FAILURE */
        VmStopReason stop_reason; /* valid in Stopping/Stopped */
} VmLifecycle;

#define VM_TRANSITION_SIGNALS_MAX 2

typedef struct VmTransition {
        VmState old_state, new_state;
        unsigned n_signals;
        VmSignal signals[VM_TRANSITION_SIGNALS_MAX]; /* emit in this order */
        VmStopReason stop_reason;                    /* for VM_SIGNAL_STOPPED */
} VmTransition;

void vm_lifecycle_init(VmLifecycle *l);

/* Apply `event` (stop_reason is read for VM_EVENT_STOP only). On success the state changed (or, for
 * VM_EVENT_SPAWNED, the spawned flag) and ret (optional) says what to emit. Refused events change
 * nothing and return:
 *   -EALREADY  the request is already satisfied or under way (stop while Stopping/Stopped,
 *              suspend while Suspending/Suspended, resume while Resuming/Running, start twice)
 *   -EBUSY     a transient state forbids it now (suspend while Starting or Resuming, ...)
 *   -ESTALE    the VM is stopped (or stopping) and the event no longer applies
 *   -EINVAL    an event that cannot happen in this state (a bug in the caller) or a bad argument */
int vm_lifecycle_apply(VmLifecycle *l, VmEvent event, VmStopReason stop_reason, VmTransition *ret);

/* The VmInfo status for the current state. */
VmStatus vm_lifecycle_status(const VmLifecycle *l);
/* The VMM process is (or may be) alive: the caller must keep supervising it. */
bool vm_lifecycle_has_process(const VmLifecycle *l);
