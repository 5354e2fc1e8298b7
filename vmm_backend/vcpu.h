/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One vCPU: its KVM fd, kvm_run mapping and thread. The run loop is one switch on the exit reason;
 * port I/O and MMIO go through the VM's buses. Pause/stop: another thread sets the VM's attention
 * flag, then vcpu_kick() sets kvm_run.immediate_exit and signals the thread out of KVM_RUN; the
 * thread then parks in vm_vcpu_checkpoint() (vm.c) or leaves. */
#pragma once

#include <linux/kvm.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vmm_backend/vm.h"
#include "vmm_backend/x86/boot.h"

/* Real-time signal used to kick vCPU threads out of KVM_RUN (handler does nothing). */
#define VCPU_KICK_SIGNAL (SIGRTMIN + 0)

typedef struct Vcpu Vcpu;

/* KVM_CREATE_VCPU + map kvm_run. */
int vcpu_new(Vm *vm, int vm_fd, int kvm_fd, unsigned index, Vcpu **ret);
/* Joins the thread if it was started (the caller made it leave first), unmaps, closes. */
Vcpu *vcpu_free(Vcpu *v);

/* CPUID, registers and segments for the entry; LAPIC LINT0 = ExtINT, LINT1 = NMI as firmware
 * leaves them. start_now: make a non-boot vCPU runnable at the entry at once (no INIT/SIPI). */
int vcpu_setup(Vcpu *v, const X86Entry *entry, const struct kvm_cpuid2 *cpuid, bool start_now);
int vcpu_get_tsc_khz(Vcpu *v);

int vcpu_start_thread(Vcpu *v);
void vcpu_kick(Vcpu *v);
pid_t vcpu_tid(Vcpu *v);
unsigned vcpu_index(Vcpu *v);

/* Install the (empty) kick-signal handler; once per process. */
int vcpu_install_kick_handler(void);

/* --- The VM's side of the vCPU thread protocol (implemented in vm.c) --------------------------- */
/* The thread reports its tid and set-up result (0 or -errno with a message), then waits until the
 * VM says go. Returns false when the VM does not start (the thread then exits). */
bool vm_vcpu_started(Vm *vm, unsigned index, pid_t tid, int error, const char *message);
/* Cheap check before every KVM_RUN. */
bool vm_vcpu_attention(Vm *vm);
/* Park while paused; returns true when the thread must leave (the VM is stopping). */
bool vm_vcpu_checkpoint(Vm *vm);
void vm_vcpu_exited(Vm *vm);
/* The vCPU cgroup to join (NULL: none). */
const char *vm_vcpu_cgroup(Vm *vm);
