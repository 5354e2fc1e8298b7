/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest: constants shared by the assembly entry and the C code, and the C interfaces. */
#pragma once

/* GDT in the order SYSCALL/SYSRET need: kernel code, kernel data, (user 32-bit code),
 * user data, user 64-bit code. */
#define GDT_KCODE 0x08
#define GDT_KDATA 0x10
#define GDT_UCODE32 0x18
#define GDT_UDATA 0x20
#define GDT_UCODE 0x28
#define GDT_TSS 0x30

#define MAX_CPUS 16
#define KSTACK_SHIFT 12 /* 4 KiB ring-0 stack per CPU */

#define VEC_TIMER 0x20
#define VEC_IRQ_BASE 0x20
/* Ring-0 services for ring 3. On PVM neither `int n` (#UD) nor SYSCALL reaches the guest's ring 0,
 * but exceptions do, so the services are trapping instructions: a ring-3 HLT (#GP) means "wait for
 * the next interrupt", a ring-3 UD2 with rax = SVC_STALL means "spin rdi TSC cycles in ring 0 with
 * interrupts off". */
#define SVC_STALL 1

/* I/O ports */
#define COM1 0x3f8
#define COM2 0x2f8
#define PORT_DEBUG_EXIT 0x501 /* 32-bit write: stop with this code (QEMU isa-debug-exit too) */
#define PORT_PVPANIC 0x505    /* write 1: the guest crashed */
#define PORT_I8042_CMD 0x64

/* Exit codes given through the debug-exit port. */
#define EXIT_OK 0

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- lib.c: port I/O, strings, formatting --- */
static inline void outb(uint16_t port, uint8_t v)
{
        __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
        __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
        uint8_t v;
        __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
        return v;
}
static inline uint32_t inl(uint16_t port)
{
        uint32_t v;
        __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
        return v;
}
static inline uint64_t rdtsc(void)
{
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        return ((uint64_t)hi << 32) | lo;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
        __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline void cpu_relax(void)
{
        __asm__ volatile("pause" ::: "memory");
}

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
static inline bool streq_(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

/* A small formatter: %s %c %d %u %x %lx %lu %ld %llx %llu %% (and %0Nx / %0Nlx). */
typedef void (*PutcFn)(char c);
void vformat(PutcFn put, const char *fmt, __builtin_va_list ap);

/* --- uart.c --- */
void uart_init(uint16_t base, bool rx_irq);
void uart_putc(uint16_t base, char c);
bool uart_rx_ready(uint16_t base);
char uart_getc(uint16_t base);
void con_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* ttyS0 */
void chan_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* ttyS1 */

/* --- ring0.c (runs in ring 0) --- */
struct exc_frame {
        uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
        uint64_t vec, err, rip, cs, rflags, rsp, ss;
};
uint64_t ring0_init(uint32_t apic_id);
void ring0_trap(struct exc_frame *f);
extern uint32_t start_info_paddr;
extern volatile uint64_t ticks;
extern volatile uint32_t cpus_online;

/* --- services from ring 3 --- */
static inline void idle(void)
{
        __asm__ volatile("hlt" ::: "memory");
}
static inline void stall_cycles(uint64_t cycles)
{
        __asm__ volatile("ud2" : : "a"(SVC_STALL), "D"(cycles) : "memory");
}
void guest_exit(uint32_t code) __attribute__((noreturn)); /* debug-exit port */
void guest_reset(void) __attribute__((noreturn));         /* i8042 reset */

/* --- mem.c: the guest's RAM and its expected contents --- */
int mem_init(void);
uint64_t mem_heap_base(void);
uint64_t mem_heap_pages(void);
uint64_t mem_total_bytes(void);

/* --- main.c --- */
uint64_t tsc_khz(void);
#endif
