/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's CPUID: what KVM supports, plus per-vCPU topology, the hypervisor bit, the KVM
 * signature leaf and a TSC-frequency leaf so that a guest can time itself without calibration. */
#pragma once

#include <linux/kvm.h>
#include <stdint.h>

#define CPUID_KVM_SIGNATURE 0x40000000u
#define CPUID_KVM_FEATURES 0x40000001u
/* The "timing information" leaf (VMware's convention, read by Linux and the test guest):
 * EAX = TSC frequency in kHz, EBX = local APIC bus frequency in kHz. */
#define CPUID_TIMING_INFO 0x40000010u

/* KVM_GET_SUPPORTED_CPUID on the /dev/kvm fd; *ret is malloc'ed. */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **ret);

/* The table for one vCPU (pure: no ioctl). apic_id doubles as the vCPU index. *ret is malloc'ed. */
int cpuid_build_vcpu(const struct kvm_cpuid2 *supported, unsigned apic_id, unsigned n_vcpus, uint32_t tsc_khz,
                     struct kvm_cpuid2 **ret);
