/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap: move guest RAM to a staging memfd, trim it, write it to a swap file and fault it back
 * in through userfaultfd (DESIGN §4, reference/vmm.md §1.4 and §5).
 *
 * Threads: the owner's thread (the VMM's device/event thread) calls the ops; the engine runs one
 * fault thread (the only userfaultfd reader) and one worker thread (trim, swap-out, swap-in, slow
 * file cleanup). Any thread of the process that touches a missing guest page, a vCPU or a test
 * thread alike, is served by the fault thread. The engine needs no KVM. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm_backend/control.h"
#include "vmm_backend/guest_mem.h"
#include "vmm_backend/macro.h"

/* Values are vmm_control.SwapState (crosvm's). */
typedef enum SwapState {
        SWAP_STATE_READY = 0,
        SWAP_STATE_FAILED = 1,
        SWAP_STATE_PENDING = 2,
        SWAP_STATE_TRIM_IN_PROGRESS = 3,
        SWAP_STATE_SWAP_OUT_IN_PROGRESS = 4,
        SWAP_STATE_ACTIVE = 5,
        SWAP_STATE_SWAP_IN_IN_PROGRESS = 6,
        _SWAP_STATE_MAX,
        _SWAP_STATE_INVALID = -EINVAL,
} SwapState;

const char *swap_state_to_string(SwapState s);
SwapState swap_state_from_string(const char *s);

typedef struct SwapEngine SwapEngine;

typedef struct SwapEngineHooks {
        /* Called on the owner's thread from swap_engine_enable(). pause_vcpus returns when no vCPU
         * runs guest code; -EALREADY means "already paused" (resume is then not called). */
        int (*pause_vcpus)(void *userdata);
        int (*resume_vcpus)(void *userdata);
        /* Called on the owner's thread from swap_engine_dispatch(), once per transition, in order. */
        void (*state_changed)(void *userdata, SwapState state, SwapState previous);
        void *userdata;
} SwapEngineHooks;

/* mem: the guest RAM (memfd + MAP_SHARED mapping), which must outlive the engine. swap_dir: where
 * the O_TMPFILE swap file is created (at once, so a bad directory fails here). hooks may be NULL.
 * Fails with -ENOSYS/-EPERM/-EACCES when no userfaultfd with MISSING_SHMEM|EVENT_REMOVE is
 * available, -EOPNOTSUPP when the dir does not support O_TMPFILE. */
int swap_engine_new(const GuestMem *mem, const char *swap_dir, const SwapEngineHooks *hooks, SwapEngine **ret);
/* Stops background work; if guest RAM is still registered, swaps everything back in synchronously
 * first (a guest never loses a page because its VMM exits). */
SwapEngine *swap_engine_free(SwapEngine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(SwapEngine *, swap_engine_free);

/* The ops. Each returns 0 or a negative errno; on error *ret_message (if ret_message is not NULL)
 * is set to a static description and the state is unchanged (except enable failures after
 * registration, which go to Failed with the reason in last_error).
 *   enable   any state but SwapOutInProgress (-EBUSY): pause, move resident pages to staging,
 *            resume -> Pending. Aborts trim and swap-in (the "refresh").
 *   trim     Pending only -> TrimInProgress -> Pending (background).
 *   out      Pending only -> SwapOutInProgress -> Active, or Pending + last_error on a write error.
 *   disable  any enabled state (not Ready: -EINVAL; SwapInInProgress: -EBUSY) ->
 *            SwapInInProgress -> Ready (background). */
int swap_engine_enable(SwapEngine *e, const char **ret_message);
int swap_engine_trim(SwapEngine *e, const char **ret_message);
int swap_engine_out(SwapEngine *e, const char **ret_message);
int swap_engine_disable(SwapEngine *e, bool slow_file_cleanup, const char **ret_message);
void swap_engine_status(SwapEngine *e, SwapStatusInfo *ret);
SwapState swap_engine_state(SwapEngine *e);

/* Readable (an eventfd) when transitions are queued for the state_changed hook; the owner calls
 * swap_engine_dispatch() on its thread then. */
int swap_engine_event_fd(SwapEngine *e);
void swap_engine_dispatch(SwapEngine *e);

/* For tests and benchmarks: wait until no background job (trim, swap-out, swap-in, file cleanup)
 * runs. Returns 0, or -ETIMEDOUT after timeout_ms (< 0: forever). */
int swap_engine_wait_idle(SwapEngine *e, int timeout_ms);

/* Test only: the fault thread queues at most `limit` faults per round (0: no limit), as if memory
 * ran out; the faults it cannot queue must still be served (their threads are woken to fault
 * again). */
void swap_engine_test_limit_fault_queue(SwapEngine *e, size_t limit);

/* Test only: the swap-in job's reads of the swap file fail with err (< 0, as a disk would with
 * -EIO) until called again with 0. Faults still read the file. */
void swap_engine_test_fail_swap_in(SwapEngine *e, int err);

/* Test only: make an enable from Ready fail at registering guest RAM with userfaultfd (-ENOMEM),
 * and also fail to undo the memfd exchange before it, as if no mapping could be made. */
typedef enum SwapTestEnableFailure {
        SWAP_TEST_FAIL_REGISTER = 1 << 0,
        SWAP_TEST_FAIL_UNDO_EXCHANGE = 1 << 1,
} SwapTestEnableFailure;
void swap_engine_test_fail_enable(SwapEngine *e, unsigned failures);

/* ControlSwapOps on top of the ops above (the `swap` pointer is the SwapEngine). */
extern const ControlSwapOps swap_engine_control_ops;

/* The VMM wiring (swap-vmm.c): creates the engine over vm's guest RAM, hooks pause/resume to
 * vm_pause/vm_resume, state changes to control_server_emit(VMM_EVENT_SWAP_STATE_CHANGED) via the
 * VM's event loop, and plugs the control ops into ctl. Call on the event thread after the VM and
 * the control server exist; swap_engine_free() undoes all of it (call it before freeing either). */
int swap_engine_setup(Vm *vm, ControlServer *ctl, const char *swap_dir, SwapEngine **ret);
