/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control-socket server (DESIGN §2): SOCK_SEQPACKET, one vmm_control.Frame per datagram, served
 * on the device/event thread. This is where protobuf is packed and unpacked; the VM side takes
 * plain C values (vm.h). */
#pragma once

#include <errno.h>
#include <stdbool.h>
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

/* --- Device hooks: the balloon and vmm-swap subsystems plug their ops in; the server answers
 * ENOTSUP ("no balloon device" / "vmm-swap not enabled for this VM") while none is set. --------- */

/* A response still owed to a client. The server owns it; a device that returned CONTROL_PENDING
 * must finish it exactly once, on the event thread. Finishing a reply whose client has gone
 * away is fine (it is just freed). */
typedef struct ControlReply ControlReply;
#define CONTROL_PENDING 1

/* error: 0 or a negative errno; message: optional human-readable detail (copied). */
void control_reply_finish(ControlReply *r, int error, const char *message);

typedef struct BalloonStatsInfo {
        /* The 12 crosvm stat fields, -1 = unknown. */
        int64_t swap_in, swap_out, major_faults, minor_faults, free_memory, total_memory,
                available_memory, disk_caches, hugetlb_allocations, hugetlb_failures, shared_memory,
                unevictable_memory;
        uint64_t balloon_actual; /* bytes */
} BalloonStatsInfo;

void control_reply_finish_balloon_stats(ControlReply *r, const BalloonStatsInfo *st);

typedef struct ControlBalloonOps {
        /* Each returns 0 (success, the server replies at once), a negative errno (error reply,
         * with *ret_message if set to a static string), or CONTROL_PENDING (the device finishes
         * `reply` later). */
        int (*set)(void *dev, uint64_t num_bytes, bool wait, uint32_t timeout_ms, ControlReply *reply,
                   const char **ret_message);
        int (*stats)(void *dev, uint32_t timeout_ms, ControlReply *reply, const char **ret_message);
} ControlBalloonOps;

typedef struct SwapStatusInfo {
        int state; /* vmm_control.SwapState value */
        uint64_t resident_pages, copied_from_file_pages, copied_from_staging_pages, zeroed_pages,
                redundant_pages, staging_pages, swap_pages, fault_around_pages;
        uint64_t transition_pages, transition_time_ms;
        char last_error[256]; /* "" when none */
} SwapStatusInfo;

typedef struct ControlSwapOps {
        /* Return 0 or a negative errno (with *ret_message set to a static string when useful). */
        int (*enable)(void *swap, const char **ret_message);
        int (*trim)(void *swap, const char **ret_message);
        int (*out)(void *swap, const char **ret_message);
        int (*disable)(void *swap, bool slow_file_cleanup, const char **ret_message);
        int (*status)(void *swap, SwapStatusInfo *ret);
} ControlSwapOps;

void control_server_set_balloon(ControlServer *s, const ControlBalloonOps *ops, void *dev);
void control_server_set_swap(ControlServer *s, const ControlSwapOps *ops, void *swap);

/* listen_fd: a bound+listening SOCK_SEQPACKET socket (or -1); conn_fd: an already connected
 * SOCK_SEQPACKET end handed over by the daemon (or -1). The server takes ownership of both. */
int control_server_new(EvLoop *loop, Vm *vm, int listen_fd, int conn_fd, ControlServer **ret);
ControlServer *control_server_free(ControlServer *s);
/* Start-up: the server may be created before the VM runs (vm_new() state "starting"). After
 * control_server_hold_until_started(), requests that need a running VM (pause, resume,
 * vcpu-threads, balloon, swap) are held, one per connection, and dispatched by
 * control_server_started(); status, subscribe and stop are answered at once. Requests still held
 * when the server is freed are answered ESHUTDOWN (the VM stopped before it ran). */
void control_server_hold_until_started(ControlServer *s);
void control_server_started(ControlServer *s);

/* Send an event to every subscribed connection (non-blocking; a subscriber that cannot keep up is
 * dropped). Callable only on the event thread. */
void control_server_emit(ControlServer *s, const VmmEvent *ev);
