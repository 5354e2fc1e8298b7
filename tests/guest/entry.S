/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest entry: PVH 32-bit entry -> long mode -> ring 0 set-up (C) -> ring 3.
 *
 * Ring-0 code runs emulated (about 1000x slower) on this workplace's PVM-based KVM, so this file
 * keeps it to a few dozen instructions: the page tables and GDT are static data; the only ring-0
 * paths after boot are the exception/interrupt stubs and the idle/stall services. */
#include "guest.h"

        .section .note.pvh, "a", @note
        .balign 4
        .long 4                 /* namesz: "Xen\0" */
        .long 4                 /* descsz */
        .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz "Xen"
        .long pvh_start32
        .balign 4

        .section .text.boot, "ax"
        .code32
        .globl pvh_start32
pvh_start32:
        cli
        cld
        /* Which CPU are we? Initial APIC id from CPUID 1 EBX[31:24]; APs are started at this same
         * entry by our VMM (no INIT/SIPI), and must not clobber the BSP's start_info pointer. */
        mov %ebx, %edi
        mov $1, %eax
        cpuid
        shr $24, %ebx
        mov %ebx, %esi          /* esi = apic id */
        test %esi, %esi
        jnz 1f
        mov %edi, start_info_paddr
1:
        lgdt gdt_desc32
        mov $pml4, %eax
        mov %eax, %cr3
        mov %cr4, %eax
        or $0x20, %eax          /* PAE */
        mov %eax, %cr4
        mov $0xc0000080, %ecx   /* EFER */
        rdmsr
        or $0x100, %eax         /* LME */
        wrmsr
        mov %cr0, %eax
        or $0x80000001, %eax    /* PG | PE */
        mov %eax, %cr0
        ljmp $GDT_KCODE, $start64

        .code64
start64:
        mov $GDT_KDATA, %eax
        mov %eax, %ds
        mov %eax, %es
        mov %eax, %ss
        xor %eax, %eax
        mov %eax, %fs
        mov %eax, %gs
        /* Kernel stack: one page per CPU. */
        mov %esi, %eax
        inc %eax
        shl $KSTACK_SHIFT, %rax
        lea kstacks(%rip), %rsp
        add %rax, %rsp
        mov %esi, %edi
        call ring0_init         /* returns the ring-3 stack top in rax; never for APs */
        /* iretq frame to ring 3: SS, RSP, RFLAGS (IOPL=3, IF=0), CS, RIP */
        push $(GDT_UDATA | 3)
        push %rax
        push $0x3002            /* IOPL 3 where honoured; the TSS I/O bitmap covers PVM */
        push $(GDT_UCODE | 3)
        lea user_entry(%rip), %rax
        push %rax
        iretq

/* --- ring-0 interrupt and exception stubs ----------------------------------------------------- */
/* Exceptions: push a uniform frame (vector, error code) and report. Never return. */
        .macro EXC vec, has_err
        .globl exc_\vec
exc_\vec:
        .if \has_err == 0
        push $0
        .endif
        push $\vec
        jmp exc_common
        .endm

        EXC 0, 0
        EXC 1, 0
        EXC 2, 0
        EXC 3, 0
        EXC 4, 0
        EXC 5, 0
        EXC 6, 0
        EXC 7, 0
        EXC 8, 1
        EXC 9, 0
        EXC 10, 1
        EXC 11, 1
        EXC 12, 1
        EXC 13, 1
        EXC 14, 1
        EXC 15, 0
        EXC 16, 0
        EXC 17, 1
        EXC 18, 0
        EXC 19, 0
        EXC 20, 0
        EXC 21, 1

exc_common:
        push %rax
        push %rbx
        push %rcx
        push %rdx
        push %rsi
        push %rdi
        push %rbp
        push %r8
        push %r9
        push %r10
        push %r11
        push %r12
        push %r13
        push %r14
        push %r15
        mov %rsp, %rdi          /* -> struct exc_frame */
        call ring0_trap         /* returns only for a service trap it handled */
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %r11
        pop %r10
        pop %r9
        pop %r8
        pop %rbp
        pop %rdi
        pop %rsi
        pop %rdx
        pop %rcx
        pop %rbx
        pop %rax
        add $16, %rsp           /* vector, error code */
        iretq

/* Timer (PIC IRQ0 -> vector 0x20): count ticks, EOI. */
        .globl irq_timer
irq_timer:
        push %rax
        lock incq ticks(%rip)
        mov $0x20, %al
        out %al, $0x20
        pop %rax
        iretq

/* Any other PIC interrupt (e.g. the ttyS1 receive interrupt): EOI to both PICs, wake up. */
        .globl irq_other
irq_other:
        push %rax
        mov $0x20, %al
        out %al, $0xa0
        out %al, $0x20
        pop %rax
        iretq

/* --- static data: GDT and identity page tables (2 MiB pages, user-accessible, 0..4 GiB) -------- */
        .section .data.pagetables, "aw"
        .balign 4096
        .globl pml4
pml4:
        .quad pdpt + 0x7
        .fill 511, 8, 0
        .balign 4096
pdpt:
        .quad pd + 0x0007
        .quad pd + 0x1007
        .quad pd + 0x2007
        .quad pd + 0x3007
        .fill 508, 8, 0
        .balign 4096
pd:
        .set i, 0
        .rept 2048
        .quad (i << 21) | 0x87  /* present, writable, user, 2 MiB */
        .set i, i + 1
        .endr

        .data
        .balign 16
        .globl gdt
gdt:
        .quad 0                         /* null */
        .quad 0x00af9a000000ffff        /* 0x08 kernel code, 64-bit */
        .quad 0x00cf92000000ffff        /* 0x10 kernel data */
        .quad 0x00cffa000000ffff        /* 0x18 user code, 32-bit, DPL 3 (SYSRET layout only) */
        .quad 0x00cff2000000ffff        /* 0x20 user data, DPL 3 */
        .quad 0x00affa000000ffff        /* 0x28 user code, 64-bit, DPL 3 */
        .quad 0, 0                      /* 0x30 TSS (filled in by ring0_init) */
gdt_end:
        .balign 8
gdt_desc32:
        .word gdt_end - gdt - 1
        .long gdt
        .globl gdt_desc64
gdt_desc64:
        .word gdt_end - gdt - 1
        .quad gdt

        .bss
        .balign 4096
        .globl kstacks
kstacks:
        .skip (MAX_CPUS + 1) << KSTACK_SHIFT
        .section .note.GNU-stack,"",@progbits
