/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Guest CPUID table (see cpuid.h). */
#include "vmm_backend/x86/cpuid.h"

#include <sys/ioctl.h>

#include "vmm_backend/macro.h"

#define CPUID_MAX_ENTRIES 1024
/* KVM's local APIC timer runs off a nominal 1 GHz bus. */
#define KVM_APIC_BUS_KHZ 1000000u

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **ret)
{
        for (unsigned n = 128; n <= CPUID_MAX_ENTRIES; n *= 2) {
                struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
                if (!c)
                        return -ENOMEM;
                c->nent = n;
                if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
                        *ret = c;
                        return 0;
                }
                int r = negative_errno();
                free(c);
                if (r != -E2BIG)
                        return r;
        }
        return -E2BIG;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
        for (uint32_t i = 0; i < c->nent; i++)
                if (c->entries[i].function == fn &&
                    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || c->entries[i].index == idx))
                        return &c->entries[i];
        return NULL;
}

static struct kvm_cpuid_entry2 *find_or_add(struct kvm_cpuid2 *c, uint32_t fn)
{
        struct kvm_cpuid_entry2 *e = find(c, fn, 0);
        if (e)
                return e;
        e = &c->entries[c->nent++];
        *e = (struct kvm_cpuid_entry2){ .function = fn };
        return e;
}

int cpuid_build_vcpu(const struct kvm_cpuid2 *supported, unsigned apic_id, unsigned n_vcpus, uint32_t tsc_khz,
                     struct kvm_cpuid2 **ret)
{
        if (!supported || supported->nent > CPUID_MAX_ENTRIES || apic_id >= 255 || n_vcpus == 0 || n_vcpus > 255)
                return -EINVAL;
        /* Room for the two hypervisor leaves we may add. */
        size_t n = supported->nent + 2;
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
                return -ENOMEM;
        c->nent = supported->nent;
        memcpy(c->entries, supported->entries, supported->nent * sizeof(c->entries[0]));

        for (uint32_t i = 0; i < c->nent; i++) {
                struct kvm_cpuid_entry2 *e = &c->entries[i];
                switch (e->function) {
                case 1:
                        /* EBX[31:24] initial APIC id, EBX[23:16] logical processors per package. */
                        e->ebx = (e->ebx & 0x0000ffffu) | ((uint32_t)apic_id << 24) | ((uint32_t)n_vcpus << 16);
                        if (n_vcpus > 1)
                                e->edx |= 1u << 28; /* HTT: the EBX[23:16] count is valid */
                        e->ecx |= 1u << 31;         /* running under a hypervisor */
                        break;
                case 0xb:
                case 0x1f:
                        e->edx = apic_id; /* x2APIC id, in every sub-leaf */
                        break;
                default:
                        break;
                }
        }

        struct kvm_cpuid_entry2 *sig = find_or_add(c, CPUID_KVM_SIGNATURE);
        sig->eax = CPUID_TIMING_INFO; /* highest hypervisor leaf */
        memcpy(&sig->ebx, "KVMK", 4);
        memcpy(&sig->ecx, "VMKV", 4);
        memcpy(&sig->edx, "M\0\0\0", 4);

        struct kvm_cpuid_entry2 *t = find_or_add(c, CPUID_TIMING_INFO);
        t->eax = tsc_khz;
        t->ebx = KVM_APIC_BUS_KHZ;
        t->ecx = t->edx = 0;

        *ret = c;
        return 0;
}
