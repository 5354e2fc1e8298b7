/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest 8250 driver: polled transmit, polled receive with an optional receive interrupt that
 * only serves to wake the idle loop. ttyS0 is the console, ttyS1 the command channel. */
#include "guest.h"

void uart_init(uint16_t base, bool rx_irq)
{
        outb(base + 1, 0x00); /* IER off while configuring */
        outb(base + 3, 0x80); /* DLAB */
        outb(base + 0, 0x01); /* 115200 */
        outb(base + 1, 0x00);
        outb(base + 3, 0x03); /* 8N1 */
        outb(base + 2, 0x07); /* enable and clear FIFOs */
        outb(base + 4, 0x0b); /* DTR, RTS, OUT2 (routes the IRQ) */
        outb(base + 1, rx_irq ? 0x01 : 0x00);
}

void uart_putc(uint16_t base, char c)
{
        while (!(inb(base + 5) & 0x20))
                cpu_relax();
        outb(base, (uint8_t)c);
}

bool uart_rx_ready(uint16_t base)
{
        return inb(base + 5) & 0x01;
}

char uart_getc(uint16_t base)
{
        return (char)inb(base);
}

static void con_putc(char c)
{
        uart_putc(COM1, c);
}

static void chan_putc(char c)
{
        uart_putc(COM2, c);
}

void con_printf(const char *fmt, ...)
{
        __builtin_va_list ap;
        __builtin_va_start(ap, fmt);
        vformat(con_putc, fmt, ap);
        __builtin_va_end(ap);
}

void chan_printf(const char *fmt, ...)
{
        __builtin_va_list ap;
        __builtin_va_start(ap, fmt);
        vformat(chan_putc, fmt, ap);
        __builtin_va_end(ap);
}
