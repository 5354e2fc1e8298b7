/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest ring-0 set-up: IDT, TSS, PIC and PIT. Runs emulated on PVM, so it stays small. */
#include "guest.h"

uint32_t start_info_paddr;
volatile uint64_t ticks;
volatile uint32_t cpus_online;

struct idt_entry {
        uint16_t off_lo, sel;
        uint8_t ist, type;
        uint16_t off_mid;
        uint32_t off_hi, zero;
} __attribute__((packed));

struct tss {
        uint32_t rsv0;
        uint64_t rsp0, rsp1, rsp2, rsv1, ist[7], rsv2;
        uint16_t rsv3, iomap;
        /* I/O permission bitmap: all ports open to ring 3 (zero bits), plus the 0xff terminator. On
         * PVM the IOPL of the ring-3 flags does not survive iretq, but the emulator of a faulting
         * IN/OUT honours this bitmap. */
        uint8_t iobitmap[65536 / 8 + 1];
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static uint8_t user_stack[64 * 1024] __attribute__((aligned(4096)));

extern uint64_t gdt[];
extern char kstacks[];
extern void exc_0(void), exc_1(void), exc_2(void), exc_3(void), exc_4(void), exc_5(void), exc_6(void),
        exc_7(void), exc_8(void), exc_9(void), exc_10(void), exc_11(void), exc_12(void), exc_13(void),
        exc_14(void), exc_15(void), exc_16(void), exc_17(void), exc_18(void), exc_19(void), exc_20(void),
        exc_21(void);
extern void irq_timer(void), irq_other(void);

static void (*const exc_stubs[22])(void) = {
        exc_0,  exc_1,  exc_2,  exc_3,  exc_4,  exc_5,  exc_6,  exc_7,  exc_8,  exc_9,  exc_10,
        exc_11, exc_12, exc_13, exc_14, exc_15, exc_16, exc_17, exc_18, exc_19, exc_20, exc_21,
};

static void set_gate(unsigned vec, void (*fn)(void), unsigned dpl)
{
        uint64_t a = (uint64_t)fn;
        idt[vec] = (struct idt_entry){
                .off_lo = (uint16_t)a,
                .sel = GDT_KCODE,
                .type = (uint8_t)(0x8e | (dpl << 5)), /* present, 64-bit interrupt gate */
                .off_mid = (uint16_t)(a >> 16),
                .off_hi = (uint32_t)(a >> 32),
        };
}

static void pic_init(void)
{
        /* ICW1..ICW4: edge, cascade, vectors 0x20 / 0x28, 8086 mode. */
        outb(0x20, 0x11);
        outb(0xa0, 0x11);
        outb(0x21, VEC_IRQ_BASE);
        outb(0xa1, VEC_IRQ_BASE + 8);
        outb(0x21, 0x04);
        outb(0xa1, 0x02);
        outb(0x21, 0x01);
        outb(0xa1, 0x01);
        /* Unmask IRQ0 (PIT), IRQ2 (cascade), IRQ3 (ttyS1); everything else masked. */
        outb(0x21, (uint8_t)~((1u << 0) | (1u << 2) | (1u << 3)));
        outb(0xa1, 0xff);
        /* PIT channel 0, mode 2, 100 Hz (1193182 / 11932). */
        outb(0x43, 0x34);
        outb(0x40, 11932 & 0xff);
        outb(0x40, 11932 >> 8);
}

uint64_t ring0_init(uint32_t apic_id)
{
        if (apic_id != 0) {
                /* Application processors check in and sleep; interrupts go to the BSP only. */
                __atomic_add_fetch(&cpus_online, 1, __ATOMIC_SEQ_CST);
                for (;;)
                        __asm__ volatile("cli; hlt");
        }

        for (unsigned i = 0; i < 22; i++)
                set_gate(i, exc_stubs[i], 0);
        for (unsigned i = 0; i < 16; i++)
                set_gate(VEC_IRQ_BASE + i, i == 0 ? irq_timer : irq_other, 0);
        struct {
                uint16_t limit;
                uint64_t base;
        } __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };
        __asm__ volatile("lidt %0" : : "m"(idtr));

        /* TSS: ring-0 stack for interrupts taken in ring 3 (the BSP's kernel stack). */
        tss.rsp0 = (uint64_t)kstacks + (1u << KSTACK_SHIFT);
        tss.iomap = __builtin_offsetof(struct tss, iobitmap);
        tss.iobitmap[sizeof(tss.iobitmap) - 1] = 0xff;
        uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
        gdt[GDT_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (UINT64_C(0x89) << 40) |
                           (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
        gdt[GDT_TSS / 8 + 1] = base >> 32;
        __asm__ volatile("ltr %w0" : : "r"((uint16_t)GDT_TSS));

        pic_init();
        __atomic_add_fetch(&cpus_online, 1, __ATOMIC_SEQ_CST);
        return (uint64_t)user_stack + sizeof(user_stack);
}

static void r0_putc(char c)
{
        while (!(inb(COM1 + 5) & 0x20))
                ;
        outb(COM1, (uint8_t)c);
}

static void r0_printf(const char *fmt, ...)
{
        __builtin_va_list ap;
        __builtin_va_start(ap, fmt);
        vformat(r0_putc, fmt, ap);
        __builtin_va_end(ap);
}

void ring0_trap(struct exc_frame *f)
{
        const uint8_t *ip = (const uint8_t *)(uintptr_t)f->rip;
        bool from_user = (f->cs & 3) == 3;

        if (from_user && f->vec == 13 && ip[0] == 0xf4) {
                /* Ring-3 HLT: wait for the next interrupt here, then continue after the HLT. */
                __asm__ volatile("sti; hlt; cli" ::: "memory");
                f->rip += 1;
                return;
        }
        if (from_user && f->vec == 6 && ip[0] == 0x0f && ip[1] == 0x0b && f->rax == SVC_STALL) {
                /* Ring-3 UD2 service: stall with interrupts off for rdi TSC cycles. */
                uint64_t t0 = rdtsc();
                while (rdtsc() - t0 < f->rdi)
                        ;
                f->rip += 2;
                return;
        }

        uint64_t cr2;
        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        r0_printf("\nTESTGUEST FAULT vec=%lu err=0x%lx rip=0x%lx cs=0x%lx rflags=0x%lx rsp=0x%lx cr2=0x%lx\n", f->vec,
                  f->err, f->rip, f->cs, f->rflags, f->rsp, cr2);
        outb(PORT_PVPANIC, 1);
        for (;;)
                __asm__ volatile("cli; hlt");
}
