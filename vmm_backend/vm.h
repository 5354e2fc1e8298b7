/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM object: KVM VM, guest RAM, vCPU threads, run state. No protobuf here (control.c is the edge). */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define VM_MAX_VCPUS 64

typedef struct Vm Vm;
typedef struct EvLoop EvLoop;

typedef enum VmRunState {
        VM_RUN_STARTING,
        VM_RUN_RUNNING,
        VM_RUN_PAUSED,
        VM_RUN_STOPPING,
        _VM_RUN_STATE_MAX,
        _VM_RUN_STATE_INVALID = -EINVAL,
} VmRunState;

typedef enum VmExitReason {
        VM_EXIT_UNKNOWN,
        VM_EXIT_GUEST_REQUESTED, /* i8042 reset, debug-exit port */
        VM_EXIT_CRASHED,         /* triple fault, internal error, unhandled exit */
        VM_EXIT_STOPPED_BY_REQUEST, /* control-socket stop, SIGTERM */
        VM_EXIT_WATCHDOG_RESET,
        _VM_EXIT_REASON_MAX,
        _VM_EXIT_REASON_INVALID = -EINVAL,
} VmExitReason;

const char *vm_run_state_to_string(VmRunState s);
VmRunState vm_run_state_from_string(const char *s);
const char *vm_exit_reason_to_string(VmExitReason r);
VmExitReason vm_exit_reason_from_string(const char *s);

typedef struct VmStatusInfo {
        VmRunState state;
        unsigned vcpus;
        uint64_t memory_bytes;
        pid_t pid;
        pid_t vcpu_tids[VM_MAX_VCPUS];
        uint64_t uptime_ms;
        const char *kernel_format; /* "elf-pvh" or "bzimage"; static string */
        uint64_t resident_bytes;   /* allocated blocks of the RAM memfd */
} VmStatusInfo;

/* All of these are called on the device/event thread. */
int vm_pause(Vm *vm);  /* returns when every vCPU is parked; -EALREADY if paused */
int vm_resume(Vm *vm); /* -EALREADY if running */
/* Ask the VM to stop: vCPUs are kicked out and the event loop quits; the reason is reported to
 * event subscribers before the process exits. The first reason given wins. */
void vm_request_stop(Vm *vm, VmExitReason reason, const char *detail, int guest_code);
void vm_get_status(Vm *vm, VmStatusInfo *ret);

typedef struct GuestMem GuestMem;
typedef struct Bus Bus;
/* Accessors for devices and subsystems (balloon, swap, watchdog). */
const GuestMem *vm_guest_mem(Vm *vm);
Bus *vm_pio_bus(Vm *vm);
Bus *vm_mmio_bus(Vm *vm);
EvLoop *vm_event_loop(Vm *vm);
/* Raise/lower an IRQ line of the in-kernel irqchip (KVM_IRQ_LINE). Thread-safe. */
int vm_set_irq_line(Vm *vm, unsigned irq, int level);

/* --- Life cycle (main.c) ------------------------------------------------------------------------ */

typedef struct X86Entry X86Entry;

typedef struct VmConfig {
        uint64_t mem_bytes;      /* multiple of 1 MiB */
        unsigned n_vcpus;        /* 1..VM_MAX_VCPUS */
        const char *vcpu_cgroup; /* each vCPU thread joins it before running guest code; NULL: none */
} VmConfig;

/* The VM object in state "starting", without the KVM machine yet: cheap, so that the control socket
 * can serve (status answers "starting") while vm_build_step() builds the machine. loop is the
 * device/event loop (not owned). On failure *ret_error (if not NULL) names the step that failed. */
int vm_new(const VmConfig *cfg, EvLoop *loop, Vm **ret, const char **ret_error);
/* Build the KVM machine one short step per call (open /dev/kvm and create the VM with in-kernel
 * irqchip + PIT, the memfd guest RAM and its memory slots, the supported CPUID, one vCPU per call),
 * so that the caller can serve its event loop in between. Returns 1 while steps remain, 0 when the
 * machine is complete (guest memory, vCPUs and the IRQ lines are usable from then on), or a
 * negative errno with *ret_error (if not NULL) naming the step; a failed build stays failed. */
int vm_build_step(Vm *vm, const char **ret_error);
bool vm_built(Vm *vm);
/* Set the vCPUs up for the entry and start their threads (-EBUSY before the machine is built).
 * Returns when every thread has joined its cgroup and runs guest code, or fails (threads stopped,
 * message in err_buf). start_aps: APs start at the entry at once (the test guest's PVH entry), else
 * they wait for INIT/SIPI. */
int vm_start(Vm *vm, const X86Entry *entry, bool start_aps, char *err_buf, size_t err_size);
/* Kick every vCPU out and join their threads (after vm_request_stop). Idempotent. */
void vm_join_vcpus(Vm *vm);
/* Why the VM stopped (valid after vm_request_stop). detail stays valid until vm_free. */
void vm_get_exit(Vm *vm, VmExitReason *ret_reason, const char **ret_detail, int *ret_guest_code);
Vm *vm_free(Vm *vm);
