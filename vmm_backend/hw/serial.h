/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* 8250/16550A UART register model (8 ports): FIFOs, LSR/IIR/IER/LCR/MCR/MSR/SCR, DLAB divisor
 * latch and loopback. The model knows nothing of files or sockets: bytes the guest transmits go to
 * ops->tx, bytes for the guest are pushed with serial_rx_push(), the interrupt line goes through
 * ops->set_irq. One lock per UART; the callbacks are called with it held and must not call back
 * into the same UART. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm_backend/bus.h"

#define SERIAL_FIFO_SIZE 64 /* as kvmtool's 16550A: the Linux driver's autodetection needs FIFOs */
#define SERIAL_NR_PORTS 8

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ 4
#define SERIAL_COM2_BASE 0x2f8
#define SERIAL_COM2_IRQ 3

/* Register offsets. */
#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define UART_IER_RDI 0x01  /* received data available */
#define UART_IER_THRI 0x02 /* transmitter holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI 0x08  /* modem status */

#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_FIFO_ENABLED 0xc0

#define UART_FCR_ENABLE_FIFO 0x01
#define UART_FCR_CLEAR_RCVR 0x02
#define UART_FCR_CLEAR_XMIT 0x04

#define UART_LCR_DLAB 0x80

#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10

#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

typedef struct Serial Serial;

typedef struct SerialOps {
        /* A byte the guest transmitted (not called in loopback mode). */
        void (*tx)(void *opaque, uint8_t byte);
        /* Drive the UART's interrupt line; called only when the level changes. */
        void (*set_irq)(void *opaque, unsigned irq, int level);
        /* The guest read from a full receive FIFO: there is room for serial_rx_push() again. */
        void (*rx_space)(void *opaque);
} SerialOps;

/* Allocate a UART in its reset state and claim [base, base+8) on the port-I/O bus. */
int serial_init(Bus *pio, uint16_t base, unsigned irq, const SerialOps *ops, void *opaque, Serial **ret);
/* Release the ports and free; accepts NULL; returns NULL. Only while no vCPU runs. */
Serial *serial_exit(Serial *s);

/* Queue bytes for the guest; returns how many fit in the receive FIFO (0 when full, or when the
 * UART is in loopback mode, where the line is disconnected). Thread-safe. */
size_t serial_rx_push(Serial *s, const uint8_t *buf, size_t n);
/* Free room in the receive FIFO. Thread-safe. */
size_t serial_rx_space(Serial *s);

/* Register access (what the bus calls); exposed for unit tests. */
uint8_t serial_read_reg(Serial *s, unsigned offset);
void serial_write_reg(Serial *s, unsigned offset, uint8_t value);
