/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control-socket server (DESIGN §2): SOCK_SEQPACKET, one vmm_control.Frame per datagram, served
 * on the device/event thread. This is where protobuf is packed and unpacked; the VM side takes
 * plain C values (vm.h). */
#pragma once

#include <errno.h>
#include <stdint.h>

#include "vmm_backend/vm.h"

typedef struct ControlServer ControlServer;

/* An event for subscribers, in plain C; control.c turns it into a Frame{event}. */
typedef enum VmmEventType {
        VMM_EVENT_VM_EXITED,
        VMM_EVENT_WATCHDOG_STALL,
        VMM_EVENT_SWAP_STATE_CHANGED,
        VMM_EVENT_BALLOON_RESIZED,
        VMM_EVENT_DEVICE_RESET,
        _VMM_EVENT_TYPE_MAX,
        _VMM_EVENT_TYPE_INVALID = -EINVAL,
} VmmEventType;

typedef struct VmmEvent {
        VmmEventType type;
        union {
                struct {
                        VmExitReason reason;
                        const char *detail;
                        int guest_code;
                } vm_exited;
                struct {
                        unsigned vcpu;
                } watchdog_stall;
                struct {
                        int state, previous; /* vmm_control.SwapState values */
                } swap_state_changed;
                struct {
                        uint64_t actual_bytes, target_bytes;
                } balloon_resized;
                struct {
                        const char *device, *reason;
                } device_reset;
        };
} VmmEvent;

/* listen_fd: a bound+listening SOCK_SEQPACKET socket (or -1); conn_fd: an already connected
 * SOCK_SEQPACKET end handed over by the daemon (or -1). The server takes ownership of both. */
int control_server_new(EvLoop *loop, Vm *vm, int listen_fd, int conn_fd, ControlServer **ret);
ControlServer *control_server_free(ControlServer *s);

/* Send an event to every subscribed connection (non-blocking; a subscriber that cannot keep up is
 * dropped). Callable only on the event thread. */
void control_server_emit(ControlServer *s, const VmmEvent *ev);
