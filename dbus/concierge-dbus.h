/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The names of the org.chromium.VmConcierge D-Bus contract, shared by the daemon, vmc and tests. */
#pragma once

/* reference/concierge.md §1: one name, one object, one interface, on the system bus. */
#define CONCIERGE_BUS_NAME "org.chromium.VmConcierge"
#define CONCIERGE_OBJECT_PATH "/org/chromium/VmConcierge"
#define CONCIERGE_INTERFACE "org.chromium.VmConcierge"

/* Methods: each takes one `ay` (a serialized request of the named message; StartVm also an `ah`)
 * and returns one `ay`, except StopAllVms, which takes and returns nothing. */
#define CONCIERGE_METHOD_START_VM "StartVm"
#define CONCIERGE_METHOD_STOP_VM "StopVm"
#define CONCIERGE_METHOD_STOP_VM_WITHOUT_OWNER_ID "StopVmWithoutOwnerId"
#define CONCIERGE_METHOD_STOP_ALL_VMS "StopAllVms"
#define CONCIERGE_METHOD_SUSPEND_VM "SuspendVm"
#define CONCIERGE_METHOD_RESUME_VM "ResumeVm"
#define CONCIERGE_METHOD_GET_VM_INFO "GetVmInfo"
#define CONCIERGE_METHOD_LIST_VMS "ListVms"
#define CONCIERGE_METHOD_GET_BALLOON_INFO "GetBalloonInfo"
#define CONCIERGE_METHOD_SET_BALLOON_TIMER "SetBalloonTimer"
#define CONCIERGE_METHOD_SWAP_VM "SwapVm"
#define CONCIERGE_METHOD_AGGRESSIVE_BALLOON "AggressiveBalloon"
#define CONCIERGE_METHOD_SET_VM_CPU_RESTRICTION "SetVmCpuRestriction"
#define CONCIERGE_METHOD_GET_VM_LOGS "GetVmLogs"
#define CONCIERGE_METHOD_RECLAIM_VM_MEMORY "ReclaimVmMemory"
/* vm_concierge extension (not in upstream concierge): GetVmSwapStatusRequest ->
 * GetVmSwapStatusResponse, what `vmc swap status` shows. */
#define CONCIERGE_METHOD_GET_VM_SWAP_STATUS "GetVmSwapStatus"

/* Signals: one `ay` argument named "signal" holding the message of the same name. */
#define CONCIERGE_SIGNAL_VM_STARTING_UP "VmStartingUpSignal"
#define CONCIERGE_SIGNAL_VM_STARTED "VmStartedSignal"
#define CONCIERGE_SIGNAL_VM_STOPPING "VmStoppingSignal"
#define CONCIERGE_SIGNAL_VM_STOPPED "VmStoppedSignal"
#define CONCIERGE_SIGNAL_VM_SWAPPING "VmSwappingSignal"
#define CONCIERGE_SIGNAL_VM_GUEST_USERLAND_READY "VmGuestUserlandReadySignal"

/* D-Bus errors. Outcomes are normally reported inside the response (success=false +
 * failure_reason); a D-Bus error means the call itself was unacceptable. */
/* The request `ay` does not parse as the method's message, or is larger than
 * BUS_PROTO_MAX_REQUEST_SIZE. */
#define CONCIERGE_ERROR_INVALID_REQUEST "org.freedesktop.DBus.Error.InvalidArgs"
/* Any call while the daemon shuts down; upstream uses this name and the message below. */
#define CONCIERGE_ERROR_SHUTDOWN "org.freedesktop.DBus.Error.Failed"
#define CONCIERGE_ERROR_SHUTDOWN_MESSAGE "Shutdown in progress"
