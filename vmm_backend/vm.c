/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VM object: KVM VM with in-kernel irqchip and PIT, memfd guest RAM, buses, vCPU threads and
 * the run state (starting -> running <-> paused -> stopping). */
#include "vmm_backend/vm.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "vmm_backend/bus.h"
#include "vmm_backend/evloop.h"
#include "vmm_backend/guest_mem.h"
#include "vmm_backend/macro.h"
#include "vmm_backend/vcpu.h"
#include "vmm_backend/x86/boot.h"
#include "vmm_backend/x86/cpuid.h"

/* Where KVM on VMX keeps the real-mode TSS (3 pages) and identity map (1 page): in the MMIO hole,
 * just below the 4 GiB boundary's BIOS area, as QEMU and Firecracker place them. */
#define KVM_TSS_ADDR 0xfffbd000
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000
#define PAUSE_TIMEOUT_SEC 10

struct Vm {
        int kvm_fd, vm_fd;
        GuestMem mem;
        Bus *pio, *mmio;
        EvLoop *loop;
        char *vcpu_cgroup;

        unsigned n_vcpus;
        Vcpu *vcpus[VM_MAX_VCPUS];
        struct kvm_cpuid2 *supported_cpuid;
        uint32_t tsc_khz;
        const char *kernel_format;
        uint64_t start_usec;
        int build_step;       /* vm_build_step(): next step; -1 after a failure */
        unsigned built_vcpus; /* vCPUs created so far */

        pthread_mutex_t lock;
        pthread_cond_t cond;     /* vCPU threads wait here: go, resume, stop */
        pthread_cond_t ctl_cond; /* the controlling thread waits here: started, parked, exited */
        atomic_bool attention; /* pause requested or stopping: vCPUs take the slow path */
        VmRunState state;
        bool pause_requested, stopping, go, joined;
        unsigned reported, parked, exited;
        pid_t tids[VM_MAX_VCPUS];
        int start_error;
        char start_message[512];

        bool exit_set;
        VmExitReason exit_reason;
        int guest_code;
        char exit_detail[512];
};

static const char *const run_state_table[_VM_RUN_STATE_MAX] = {
        [VM_RUN_STARTING] = "starting",
        [VM_RUN_RUNNING] = "running",
        [VM_RUN_PAUSED] = "paused",
        [VM_RUN_STOPPING] = "stopping",
};

static const char *const exit_reason_table[_VM_EXIT_REASON_MAX] = {
        [VM_EXIT_UNKNOWN] = "unknown",
        [VM_EXIT_GUEST_REQUESTED] = "guest-requested",
        [VM_EXIT_CRASHED] = "crashed",
        [VM_EXIT_STOPPED_BY_REQUEST] = "stopped-by-request",
        [VM_EXIT_WATCHDOG_RESET] = "watchdog-reset",
};

const char *vm_run_state_to_string(VmRunState s)
{
        return s >= 0 && s < _VM_RUN_STATE_MAX ? run_state_table[s] : NULL;
}

VmRunState vm_run_state_from_string(const char *s)
{
        for (int i = 0; s && i < _VM_RUN_STATE_MAX; i++)
                if (streq(run_state_table[i], s))
                        return (VmRunState)i;
        return _VM_RUN_STATE_INVALID;
}

const char *vm_exit_reason_to_string(VmExitReason r)
{
        return r >= 0 && r < _VM_EXIT_REASON_MAX ? exit_reason_table[r] : NULL;
}

VmExitReason vm_exit_reason_from_string(const char *s)
{
        for (int i = 0; s && i < _VM_EXIT_REASON_MAX; i++)
                if (streq(exit_reason_table[i], s))
                        return (VmExitReason)i;
        return _VM_EXIT_REASON_INVALID;
}

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static int set_memory_slots(Vm *vm)
{
        uint64_t low = MIN(vm->mem.size, GUEST_MEM_LOW_END);
        struct kvm_userspace_memory_region r = {
                .slot = 0,
                .guest_phys_addr = 0,
                .memory_size = low,
                .userspace_addr = (uint64_t)(uintptr_t)vm->mem.host,
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                return negative_errno();
        if (vm->mem.size > low) {
                r = (struct kvm_userspace_memory_region){
                        .slot = 1,
                        .guest_phys_addr = GUEST_HIGH_BASE,
                        .memory_size = vm->mem.size - low,
                        .userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + low),
                };
                if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                        return negative_errno();
        }
        return 0;
}

#define STEP(expr, name)                                                                                     \
        do {                                                                                                 \
                if ((expr) < 0) {                                                                            \
                        r = negative_errno();                                                                \
                        step = (name);                                                                       \
                        goto fail;                                                                           \
                }                                                                                            \
        } while (0)

int vm_new(const VmConfig *cfg, EvLoop *loop, Vm **ret, const char **ret_error)
{
        const char *step = "invalid configuration";
        int r = -EINVAL;

        if (!cfg || !loop || cfg->n_vcpus == 0 || cfg->n_vcpus > VM_MAX_VCPUS || cfg->mem_bytes < 2 * MIB ||
            cfg->mem_bytes % MIB != 0) {
                if (ret_error)
                        *ret_error = step;
                return -EINVAL;
        }

        Vm *vm = calloc(1, sizeof(*vm));
        if (!vm) {
                if (ret_error)
                        *ret_error = "out of memory";
                return -ENOMEM;
        }
        vm->kvm_fd = vm->vm_fd = vm->mem.memfd = -EBADF;
        vm->mem.host = MAP_FAILED;
        vm->mem.size = cfg->mem_bytes;
        vm->loop = loop;
        vm->n_vcpus = cfg->n_vcpus;
        vm->state = VM_RUN_STARTING;
        pthread_mutex_init(&vm->lock, NULL);
        pthread_cond_init(&vm->cond, NULL);
        pthread_cond_init(&vm->ctl_cond, NULL);

        if (cfg->vcpu_cgroup) {
                vm->vcpu_cgroup = strdup(cfg->vcpu_cgroup);
                if (!vm->vcpu_cgroup) {
                        r = -ENOMEM;
                        step = "out of memory";
                        goto fail;
                }
        }
        r = bus_new(&vm->pio);
        if (r >= 0)
                r = bus_new(&vm->mmio);
        if (r < 0) {
                step = "out of memory";
                goto fail;
        }

        *ret = vm;
        return 0;
fail:
        if (ret_error)
                *ret_error = step;
        vm_free(vm);
        return r;
}

/* The KVM part of the machine, one short step per call (see vm_build_step()). */
enum {
        BUILD_VM,     /* /dev/kvm, KVM_CREATE_VM, VMX helper addresses */
        BUILD_CHIPS,  /* in-kernel irqchip and PIT: before any vCPU, so each gets a local APIC */
        BUILD_RAM,    /* memfd guest RAM, mapped */
        BUILD_SLOTS,  /* KVM memory slots (may sleep in the kernel for a few ms) */
        BUILD_CPUID,  /* KVM_GET_SUPPORTED_CPUID */
        BUILD_VCPUS,  /* one step per vCPU */
        BUILD_FINISH, /* TSC frequency, kick signal handler */
        BUILD_DONE,
};

int vm_build_step(Vm *vm, const char **ret_error)
{
        const char *step = NULL;
        int r = 0;

        if (vm->build_step < 0) {
                if (ret_error)
                        *ret_error = "an earlier build step failed";
                return -ECANCELED;
        }
        switch (vm->build_step) {
        case BUILD_VM: {
                STEP(vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), "cannot open /dev/kvm");
                int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
                if (api != KVM_API_VERSION) {
                        r = -ENOTSUP;
                        step = "unsupported KVM API version";
                        goto fail;
                }
                STEP(vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0), "KVM_CREATE_VM failed");
                /* Best effort: only VMX needs these (real-mode emulation helpers); other backends say no. */
                (void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
                uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
                (void)ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
                break;
        }
        case BUILD_CHIPS: {
                STEP(ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP failed");
                struct kvm_pit_config pit = { .flags = 0 };
                STEP(ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit), "KVM_CREATE_PIT2 failed");
                break;
        }
        case BUILD_RAM:
                STEP(vm->mem.memfd = memfd_create("guest-ram", MFD_CLOEXEC), "memfd_create failed");
                STEP(ftruncate(vm->mem.memfd, (off_t)vm->mem.size), "cannot size the guest RAM memfd");
                vm->mem.host = mmap(NULL, vm->mem.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                                    vm->mem.memfd, 0);
                if (vm->mem.host == MAP_FAILED) {
                        r = negative_errno();
                        step = "cannot map guest RAM";
                        goto fail;
                }
                (void)madvise(vm->mem.host, vm->mem.size, MADV_DONTDUMP);
                break;
        case BUILD_SLOTS:
                r = set_memory_slots(vm);
                if (r < 0) {
                        step = "KVM_SET_USER_MEMORY_REGION failed";
                        goto fail;
                }
                break;
        case BUILD_CPUID:
                r = cpuid_get_supported(vm->kvm_fd, &vm->supported_cpuid);
                if (r < 0) {
                        step = "KVM_GET_SUPPORTED_CPUID failed";
                        goto fail;
                }
                break;
        case BUILD_VCPUS:
                r = vcpu_new(vm, vm->vm_fd, vm->kvm_fd, vm->built_vcpus, &vm->vcpus[vm->built_vcpus]);
                if (r < 0) {
                        step = "KVM_CREATE_VCPU failed";
                        goto fail;
                }
                if (++vm->built_vcpus < vm->n_vcpus)
                        return 1; /* stay in this step for the next vCPU */
                break;
        case BUILD_FINISH:
                r = vcpu_get_tsc_khz(vm->vcpus[0]);
                if (r <= 0) {
                        r = r < 0 ? r : -EIO;
                        step = "KVM_GET_TSC_KHZ failed";
                        goto fail;
                }
                vm->tsc_khz = (uint32_t)r;
                r = vcpu_install_kick_handler();
                if (r < 0) {
                        step = "cannot install the vCPU kick signal handler";
                        goto fail;
                }
                break;
        default:
                return 0;
        }
        vm->build_step++;
        return vm->build_step < BUILD_DONE ? 1 : 0;
fail:
        vm->build_step = -1; /* a failed build stays failed */
        if (ret_error)
                *ret_error = step;
        return r;
}

bool vm_built(Vm *vm)
{
        return vm->build_step == BUILD_DONE;
}

int vm_start(Vm *vm, const X86Entry *entry, bool start_aps, char *err_buf, size_t err_size)
{
        int r = 0;

        if (!vm_built(vm)) {
                snprintf(err_buf, err_size, "the KVM machine is not built");
                return -EBUSY;
        }

        for (unsigned i = 0; i < vm->n_vcpus; i++) {
                _cleanup_free_ struct kvm_cpuid2 *c = NULL;
                r = cpuid_build_vcpu(vm->supported_cpuid, i, vm->n_vcpus, vm->tsc_khz, &c);
                if (r >= 0)
                        r = vcpu_setup(vm->vcpus[i], entry, c, start_aps);
                if (r < 0) {
                        snprintf(err_buf, err_size, "cannot set up vCPU %u: %s", i, strerror(-r));
                        return r;
                }
        }
        vm->kernel_format = entry->format;

        unsigned started = 0;
        for (; started < vm->n_vcpus; started++) {
                r = vcpu_start_thread(vm->vcpus[started]);
                if (r < 0) {
                        snprintf(err_buf, err_size, "cannot start the thread of vCPU %u: %s", started, strerror(-r));
                        break;
                }
        }

        pthread_mutex_lock(&vm->lock);
        if (started < vm->n_vcpus) {
                /* Threads that did start count as having reported a failure for the others. */
                vm->start_error = r;
                vm->reported += vm->n_vcpus - started;
        }
        while (vm->reported < vm->n_vcpus)
                pthread_cond_wait(&vm->ctl_cond, &vm->lock);
        r = vm->start_error;
        if (r < 0) {
                if (vm->start_message[0])
                        snprintf(err_buf, err_size, "%s", vm->start_message);
                vm->stopping = true;
                atomic_store(&vm->attention, true);
        } else {
                vm->state = vm->stopping ? VM_RUN_STOPPING : VM_RUN_RUNNING;
                vm->start_usec = now_usec();
        }
        vm->go = true;
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);
        return r;
}

bool vm_vcpu_started(Vm *vm, unsigned index, pid_t tid, int error, const char *message)
{
        pthread_mutex_lock(&vm->lock);
        vm->tids[index] = tid;
        if (error < 0 && vm->start_error >= 0) {
                vm->start_error = error;
                snprintf(vm->start_message, sizeof(vm->start_message), "%s", strempty(message));
        }
        vm->reported++;
        pthread_cond_signal(&vm->ctl_cond);
        while (!vm->go)
                pthread_cond_wait(&vm->cond, &vm->lock);
        bool run = vm->start_error >= 0 && !vm->stopping;
        pthread_mutex_unlock(&vm->lock);
        return run;
}

bool vm_vcpu_attention(Vm *vm)
{
        return atomic_load_explicit(&vm->attention, memory_order_acquire);
}

bool vm_vcpu_checkpoint(Vm *vm)
{
        pthread_mutex_lock(&vm->lock);
        if (vm->pause_requested && !vm->stopping) {
                vm->parked++;
                pthread_cond_signal(&vm->ctl_cond);
                while (vm->pause_requested && !vm->stopping)
                        pthread_cond_wait(&vm->cond, &vm->lock);
                vm->parked--;
        }
        bool leave = vm->stopping;
        pthread_mutex_unlock(&vm->lock);
        return leave;
}

void vm_vcpu_exited(Vm *vm)
{
        pthread_mutex_lock(&vm->lock);
        vm->exited++;
        pthread_cond_signal(&vm->ctl_cond);
        pthread_mutex_unlock(&vm->lock);
}

const char *vm_vcpu_cgroup(Vm *vm)
{
        return vm->vcpu_cgroup;
}

static void kick_all(Vm *vm)
{
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                if (vm->vcpus[i])
                        vcpu_kick(vm->vcpus[i]);
}

int vm_pause(Vm *vm)
{
        int r = 0;

        pthread_mutex_lock(&vm->lock);
        if (vm->stopping || vm->state == VM_RUN_STOPPING)
                r = -ESHUTDOWN;
        else if (vm->state == VM_RUN_PAUSED)
                r = -EALREADY;
        else if (vm->state != VM_RUN_RUNNING)
                r = -EBUSY;
        if (r < 0) {
                pthread_mutex_unlock(&vm->lock);
                return r;
        }
        vm->pause_requested = true;
        atomic_store(&vm->attention, true);
        pthread_mutex_unlock(&vm->lock);

        kick_all(vm);

        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += PAUSE_TIMEOUT_SEC;
        pthread_mutex_lock(&vm->lock);
        while (vm->parked + vm->exited < vm->n_vcpus && !vm->stopping && r == 0)
                if (pthread_cond_timedwait(&vm->ctl_cond, &vm->lock, &deadline) == ETIMEDOUT)
                        r = -ETIMEDOUT;
        if (r == 0 && vm->stopping)
                r = -ESHUTDOWN;
        if (r < 0) {
                vm->pause_requested = false;
                atomic_store(&vm->attention, vm->stopping);
                pthread_cond_broadcast(&vm->cond);
        } else
                vm->state = VM_RUN_PAUSED;
        pthread_mutex_unlock(&vm->lock);
        return r;
}

int vm_resume(Vm *vm)
{
        int r = 0;

        pthread_mutex_lock(&vm->lock);
        if (vm->stopping)
                r = -ESHUTDOWN;
        else if (vm->state != VM_RUN_PAUSED)
                r = -EALREADY;
        else {
                vm->pause_requested = false;
                atomic_store(&vm->attention, false);
                vm->state = VM_RUN_RUNNING;
                pthread_cond_broadcast(&vm->cond);
        }
        pthread_mutex_unlock(&vm->lock);
        return r;
}

void vm_request_stop(Vm *vm, VmExitReason reason, const char *detail, int guest_code)
{
        pthread_mutex_lock(&vm->lock);
        if (!vm->exit_set) {
                vm->exit_set = true;
                vm->exit_reason = reason;
                vm->guest_code = guest_code;
                snprintf(vm->exit_detail, sizeof(vm->exit_detail), "%s", strempty(detail));
        }
        vm->stopping = true;
        vm->state = VM_RUN_STOPPING;
        atomic_store(&vm->attention, true);
        pthread_cond_broadcast(&vm->cond);
        pthread_cond_broadcast(&vm->ctl_cond);
        pthread_mutex_unlock(&vm->lock);

        kick_all(vm);
        evloop_quit(vm->loop, 0);
}

void vm_get_exit(Vm *vm, VmExitReason *ret_reason, const char **ret_detail, int *ret_guest_code)
{
        pthread_mutex_lock(&vm->lock);
        *ret_reason = vm->exit_set ? vm->exit_reason : VM_EXIT_UNKNOWN;
        *ret_detail = vm->exit_detail;
        *ret_guest_code = vm->guest_code;
        pthread_mutex_unlock(&vm->lock);
}

void vm_join_vcpus(Vm *vm)
{
        if (!vm || vm->joined)
                return;
        pthread_mutex_lock(&vm->lock);
        vm->stopping = true;
        vm->state = VM_RUN_STOPPING;
        vm->go = true; /* threads still waiting to start leave */
        if (vm->start_error >= 0 && vm->reported < vm->n_vcpus)
                vm->start_error = -ECANCELED;
        atomic_store(&vm->attention, true);
        pthread_cond_broadcast(&vm->cond);
        pthread_mutex_unlock(&vm->lock);

        kick_all(vm);
        for (unsigned i = 0; i < vm->n_vcpus; i++)
                vm->vcpus[i] = vcpu_free(vm->vcpus[i]);
        vm->joined = true;
}

void vm_get_status(Vm *vm, VmStatusInfo *ret)
{
        struct stat st;

        *ret = (VmStatusInfo){
                .vcpus = vm->n_vcpus,
                .memory_bytes = vm->mem.size,
                .pid = getpid(),
                .kernel_format = vm->kernel_format,
        };
        pthread_mutex_lock(&vm->lock);
        ret->state = vm->state;
        memcpy(ret->vcpu_tids, vm->tids, sizeof(vm->tids));
        if (vm->start_usec)
                ret->uptime_ms = (now_usec() - vm->start_usec) / USEC_PER_MSEC;
        pthread_mutex_unlock(&vm->lock);
        if (fstat(vm->mem.memfd, &st) == 0)
                ret->resident_bytes = (uint64_t)st.st_blocks * 512;
}

const GuestMem *vm_guest_mem(Vm *vm)
{
        return &vm->mem;
}

Bus *vm_pio_bus(Vm *vm)
{
        return vm->pio;
}

Bus *vm_mmio_bus(Vm *vm)
{
        return vm->mmio;
}

EvLoop *vm_event_loop(Vm *vm)
{
        return vm->loop;
}

int vm_set_irq_line(Vm *vm, unsigned irq, int level)
{
        struct kvm_irq_level l = { .irq = irq, .level = level ? 1 : 0 };
        if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
                return negative_errno();
        return 0;
}

Vm *vm_free(Vm *vm)
{
        if (!vm)
                return NULL;
        vm_join_vcpus(vm);
        free(vm->supported_cpuid);
        if (vm->mem.host != MAP_FAILED)
                munmap(vm->mem.host, vm->mem.size);
        safe_close(vm->mem.memfd);
        safe_close(vm->vm_fd);
        safe_close(vm->kvm_fd);
        bus_free(vm->pio);
        bus_free(vm->mmio);
        free(vm->vcpu_cgroup);
        pthread_cond_destroy(&vm->cond);
        pthread_cond_destroy(&vm->ctl_cond);
        pthread_mutex_destroy(&vm->lock);
        free(vm);
        return NULL;
}
