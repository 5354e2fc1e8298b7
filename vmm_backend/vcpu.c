/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vCPU: set-up, thread and run loop (see vcpu.h). */
#include "vmm_backend/vcpu.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vmm_backend/bus.h"
#include "vmm_backend/macro.h"

/* Local APIC register offsets and LVT delivery modes (Intel SDM vol. 3, 11.5.1). */
#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

/* Segment selectors of the GDTs the loaders write: PVH (pvh.c) and Linux (__BOOT_CS/__BOOT_DS). */
#define PVH_CS 0x08
#define PVH_DS 0x10
#define LINUX_BOOT_CS 0x10
#define LINUX_BOOT_DS 0x18

#define X86_CR0_PE 0x1u
#define X86_CR0_MP 0x2u
#define X86_CR0_ET 0x10u
#define X86_CR0_NE 0x20u
#define X86_CR0_WP 0x10000u
#define X86_CR0_AM 0x40000u
#define X86_CR0_PG 0x80000000u
#define X86_CR4_PAE 0x20u
#define EFER_LME 0x100u
#define EFER_LMA 0x400u

struct Vcpu {
        Vm *vm;
        unsigned index;
        int fd;
        struct kvm_run *run;
        size_t run_size;
        pthread_t thread;
        bool thread_started;
        _Atomic pid_t tid;
};

static void kick_handler(int sig)
{
        /* Nothing: the signal only makes KVM_RUN return -EINTR. */
}

int vcpu_install_kick_handler(void)
{
        struct sigaction sa = { .sa_handler = kick_handler };
        sigemptyset(&sa.sa_mask);
        /* No SA_RESTART: KVM_RUN must come back with EINTR. */
        if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
                return negative_errno();
        return 0;
}

int vcpu_new(Vm *vm, int vm_fd, int kvm_fd, unsigned index, Vcpu **ret)
{
        Vcpu *v = calloc(1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        v->vm = vm;
        v->index = index;
        v->run = MAP_FAILED;
        v->fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
        if (v->fd < 0) {
                int r = negative_errno();
                vcpu_free(v);
                return r;
        }
        int sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (sz < (int)sizeof(struct kvm_run)) {
                int r = sz < 0 ? negative_errno() : -EINVAL;
                vcpu_free(v);
                return r;
        }
        v->run_size = (size_t)sz;
        v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (v->run == MAP_FAILED) {
                int r = negative_errno();
                vcpu_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

Vcpu *vcpu_free(Vcpu *v)
{
        if (!v)
                return NULL;
        if (v->thread_started)
                pthread_join(v->thread, NULL);
        if (v->run != MAP_FAILED)
                munmap(v->run, v->run_size);
        safe_close(v->fd);
        free(v);
        return NULL;
}

pid_t vcpu_tid(Vcpu *v)
{
        return atomic_load(&v->tid);
}

unsigned vcpu_index(Vcpu *v)
{
        return v->index;
}

int vcpu_get_tsc_khz(Vcpu *v)
{
        int r = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
        return r < 0 ? negative_errno() : r;
}

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code64)
{
        return (struct kvm_segment){
                .base = 0,
                .limit = 0xffffffff,
                .selector = selector,
                .type = type,
                .present = 1,
                .dpl = 0,
                .db = code64 ? 0 : 1,
                .s = 1,
                .l = code64 ? 1 : 0,
                .g = 1,
        };
}

static int setup_lapic(Vcpu *v)
{
        struct kvm_lapic_state l;
        if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
                return negative_errno();
        uint32_t lvt0, lvt1;
        memcpy(&lvt0, &l.regs[APIC_LVT0], 4);
        memcpy(&lvt1, &l.regs[APIC_LVT1], 4);
        /* Delivery mode is bits 8..10; clear the mask bit (16) as firmware does for virtual wire mode. */
        lvt0 = (lvt0 & ~0x10700u) | (APIC_MODE_EXTINT << 8);
        lvt1 = (lvt1 & ~0x10700u) | (APIC_MODE_NMI << 8);
        memcpy(&l.regs[APIC_LVT0], &lvt0, 4);
        memcpy(&l.regs[APIC_LVT1], &lvt1, 4);
        if (ioctl(v->fd, KVM_SET_LAPIC, &l) < 0)
                return negative_errno();
        return 0;
}

int vcpu_setup(Vcpu *v, const X86Entry *e, const struct kvm_cpuid2 *cpuid, bool start_now)
{
        struct kvm_sregs sregs;
        struct kvm_regs regs = { .rflags = 0x2 };
        struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };

        if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
                return negative_errno();
        if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
                return negative_errno();

        sregs.gdt.base = e->gdt_base;
        sregs.gdt.limit = e->gdt_limit;
        sregs.idt.base = 0;
        sregs.idt.limit = 0;
        /* VMX requires a usable TR outside real mode: a busy TSS at 0 that is never used. */
        sregs.tr = (struct kvm_segment){ .limit = 0x67, .type = 11, .present = 1 };
        sregs.ldt = (struct kvm_segment){ .unusable = 1 };

        switch (e->mode) {
        case X86_ENTRY_PROTECTED32:
                /* PVH ABI: flat 32-bit code/data, CR0.PE only, paging off, EBX = start_info. */
                sregs.cs = flat_segment(PVH_CS, 0xb, false);
                sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(PVH_DS, 0x3, false);
                sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
                sregs.cr3 = 0;
                sregs.cr4 = 0;
                sregs.efer = 0;
                regs.rbx = e->rbx;
                break;
        case X86_ENTRY_LONG64:
                /* Linux 64-bit boot protocol: paging on with the loader's identity map, RSI = zero page. */
                sregs.cs = flat_segment(LINUX_BOOT_CS, 0xb, true);
                sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(LINUX_BOOT_DS, 0x3, false);
                sregs.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_AM | X86_CR0_PG;
                sregs.cr3 = e->cr3;
                sregs.cr4 = X86_CR4_PAE;
                sregs.efer = EFER_LME | EFER_LMA;
                regs.rsi = e->rsi;
                regs.rbx = e->rbx;
                break;
        default:
                return -EINVAL;
        }
        regs.rip = e->rip;
        regs.rsp = e->rsp;

        if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
                return negative_errno();
        if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
                return negative_errno();
        if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
                return negative_errno();
        int r = setup_lapic(v);
        if (r < 0)
                return r;
        if (start_now && v->index > 0) {
                /* Skip the INIT/SIPI dance (its real-mode trampoline would run emulated): the AP
                 * starts at the same entry as the BSP and tells itself apart by its APIC id. */
                struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
                if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
                        return negative_errno();
        }
        return 0;
}

void vcpu_kick(Vcpu *v)
{
        /* immediate_exit covers the window before KVM_RUN is entered; the signal the time inside. */
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        if (v->thread_started)
                (void)pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

static const char *exit_reason_name(uint32_t r)
{
        switch (r) {
        case KVM_EXIT_SHUTDOWN:
                return "triple fault (KVM_EXIT_SHUTDOWN)";
        case KVM_EXIT_FAIL_ENTRY:
                return "VM entry failed (KVM_EXIT_FAIL_ENTRY)";
        case KVM_EXIT_INTERNAL_ERROR:
                return "KVM internal error (KVM_EXIT_INTERNAL_ERROR)";
        default:
                return "unhandled exit";
        }
}

/* Stop the VM as crashed, with the vCPU's state in the detail. */
static void crash(Vcpu *v, const char *what, const char *extra)
{
        struct kvm_regs regs = {};
        struct kvm_sregs sregs = {};
        char detail[512];
        bool have = ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0;

        if (have)
                snprintf(detail, sizeof(detail),
                         "%s%s%s on vCPU %u: rip=0x%llx rsp=0x%llx rflags=0x%llx cs=0x%x cr0=0x%llx cr2=0x%llx "
                         "cr3=0x%llx cr4=0x%llx efer=0x%llx",
                         what, extra ? ": " : "", strempty(extra), v->index, regs.rip, regs.rsp, regs.rflags,
                         sregs.cs.selector, sregs.cr0, sregs.cr2, sregs.cr3, sregs.cr4, sregs.efer);
        else
                snprintf(detail, sizeof(detail), "%s%s%s on vCPU %u", what, extra ? ": " : "", strempty(extra),
                         v->index);
        vm_request_stop(v->vm, VM_EXIT_CRASHED, detail, 0);
}

static void handle_io(Vcpu *v)
{
        struct kvm_run *run = v->run;
        uint8_t *data = (uint8_t *)run + run->io.data_offset;
        Bus *pio = vm_pio_bus(v->vm);

        for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
                if (run->io.direction == KVM_EXIT_IO_OUT)
                        (void)bus_write(pio, run->io.port, data, run->io.size);
                else
                        (void)bus_read(pio, run->io.port, data, run->io.size);
        }
}

static void handle_mmio(Vcpu *v)
{
        struct kvm_run *run = v->run;
        Bus *mmio = vm_mmio_bus(v->vm);
        uint32_t len = MIN(run->mmio.len, (uint32_t)sizeof(run->mmio.data));

        if (run->mmio.is_write)
                (void)bus_write(mmio, run->mmio.phys_addr, run->mmio.data, len);
        else
                (void)bus_read(mmio, run->mmio.phys_addr, run->mmio.data, len);
}

/* Returns false when the loop must end. */
static bool handle_exit(Vcpu *v)
{
        struct kvm_run *run = v->run;
        char extra[160];

        switch (run->exit_reason) {
        case KVM_EXIT_IO:
                handle_io(v);
                return true;
        case KVM_EXIT_MMIO:
                handle_mmio(v);
                return true;
        case KVM_EXIT_INTR:
                return true;
        case KVM_EXIT_HLT:
                /* Only without an in-kernel irqchip; ours has one. Treat as a no-op wake-up. */
                return true;
        case KVM_EXIT_SYSTEM_EVENT:
                switch (run->system_event.type) {
                case KVM_SYSTEM_EVENT_SHUTDOWN:
                case KVM_SYSTEM_EVENT_RESET:
                        vm_request_stop(v->vm, VM_EXIT_GUEST_REQUESTED,
                                        run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "guest reset" :
                                                                                          "guest shutdown",
                                        0);
                        return false;
                default:
                        snprintf(extra, sizeof(extra), "system event %u", run->system_event.type);
                        crash(v, "guest crashed", extra);
                        return false;
                }
        case KVM_EXIT_SHUTDOWN:
                crash(v, exit_reason_name(run->exit_reason), NULL);
                return false;
        case KVM_EXIT_FAIL_ENTRY:
                snprintf(extra, sizeof(extra), "hardware_entry_failure_reason=0x%llx",
                         (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
                crash(v, exit_reason_name(run->exit_reason), extra);
                return false;
        case KVM_EXIT_INTERNAL_ERROR: {
                int n = snprintf(extra, sizeof(extra), "suberror=%u", run->internal.suberror);
                for (uint32_t i = 0; i < MIN(run->internal.ndata, 4u) && n > 0 && (size_t)n < sizeof(extra); i++)
                        n += snprintf(extra + n, sizeof(extra) - (size_t)n, " data[%u]=0x%llx", i,
                                      (unsigned long long)run->internal.data[i]);
                crash(v, exit_reason_name(run->exit_reason), extra);
                return false;
        }
        default:
                snprintf(extra, sizeof(extra), "exit reason %u", run->exit_reason);
                crash(v, exit_reason_name(run->exit_reason), extra);
                return false;
        }
}

static int join_cgroup(const char *dir, pid_t tid, char *msg, size_t msg_size)
{
        char path[4096];
        /* cgroup v2 takes thread ids in cgroup.threads, v1 in tasks. O_APPEND: a regular file standing
         * in for a cgroup (the daemon's emulated trees) keeps every vCPU's line. */
        snprintf(path, sizeof(path), "%s/cgroup.threads", dir);
        if (access(path, F_OK) < 0)
                snprintf(path, sizeof(path), "%s/tasks", dir);
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        int r = 0;
        if (fd < 0)
                r = negative_errno();
        else {
                char buf[32];
                int n = snprintf(buf, sizeof(buf), "%d\n", (int)tid);
                if (write(fd, buf, (size_t)n) != n)
                        r = negative_errno();
                close(fd);
        }
        if (r < 0)
                snprintf(msg, msg_size, "cannot move vCPU thread %d into %s: %s", (int)tid, path, strerror(-r));
        return r;
}

static void *vcpu_thread(void *arg)
{
        Vcpu *v = arg;
        char name[16], msg[4200] = "";
        sigset_t set;
        int r = 0;

        atomic_store(&v->tid, gettid());
        snprintf(name, sizeof(name), "vcpu%u", v->index);
        (void)pthread_setname_np(pthread_self(), name);
        sigemptyset(&set);
        sigaddset(&set, VCPU_KICK_SIGNAL);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);

        const char *cg = vm_vcpu_cgroup(v->vm);
        if (cg)
                r = join_cgroup(cg, atomic_load(&v->tid), msg, sizeof(msg));
        if (!vm_vcpu_started(v->vm, v->index, atomic_load(&v->tid), r, msg))
                goto out;

        for (;;) {
                if (vm_vcpu_attention(v->vm) && vm_vcpu_checkpoint(v->vm))
                        break;
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno == EINTR || errno == EAGAIN) {
                                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                                continue;
                        }
                        snprintf(msg, sizeof(msg), "%m");
                        crash(v, "KVM_RUN failed", msg);
                        break;
                }
                if (!handle_exit(v))
                        break;
        }
out:
        vm_vcpu_exited(v->vm);
        return NULL;
}

int vcpu_start_thread(Vcpu *v)
{
        int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
        if (r != 0)
                return -r;
        v->thread_started = true;
        return 0;
}
