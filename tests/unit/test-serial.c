/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the 16550A register model (vmm_backend/hw/serial.c), through the port-I/O bus as a
 * guest would reach it: reset state, DLAB, FIFOs, IIR priorities, IRQ line, loopback, flow control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmm_backend/bus.h"
#include "vmm_backend/hw/serial.h"
#include "vmm_backend/macro.h"

#define BASE SERIAL_COM2_BASE

typedef struct Recorder {
        uint8_t tx[256];
        size_t n_tx;
        int irq_level, irq_changes;
        unsigned irq;
        int rx_space_calls;
} Recorder;

static void rec_tx(void *opaque, uint8_t b)
{
        Recorder *r = opaque;
        assert_true(r->n_tx < sizeof(r->tx));
        r->tx[r->n_tx++] = b;
}

static void rec_irq(void *opaque, unsigned irq, int level)
{
        Recorder *r = opaque;
        r->irq = irq;
        r->irq_level = level;
        r->irq_changes++;
}

static void rec_rx_space(void *opaque)
{
        ((Recorder *)opaque)->rx_space_calls++;
}

static const SerialOps rec_ops = { .tx = rec_tx, .set_irq = rec_irq, .rx_space = rec_rx_space };

typedef struct Fixture {
        Bus *bus;
        Serial *s;
        Recorder rec;
} Fixture;

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        assert_int_equal(bus_new(&f->bus), 0);
        assert_int_equal(serial_init(f->bus, BASE, SERIAL_COM2_IRQ, &rec_ops, &f->rec, &f->s), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        serial_exit(f->s);
        bus_free(f->bus);
        free(f);
        return 0;
}

static uint8_t inb(Fixture *f, unsigned reg)
{
        uint8_t v;
        assert_true(bus_read(f->bus, BASE + reg, &v, 1));
        return v;
}

static void outb(Fixture *f, unsigned reg, uint8_t v)
{
        assert_true(bus_write(f->bus, BASE + reg, &v, 1));
}

static void test_reset_state(void **state)
{
        Fixture *f = *state;
        assert_int_equal(inb(f, UART_LSR), UART_LSR_TEMT | UART_LSR_THRE);
        assert_int_equal(inb(f, UART_MSR), UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
        assert_int_equal(inb(f, UART_MCR), UART_MCR_OUT2);
        assert_int_equal(inb(f, UART_IIR), UART_IIR_NO_INT);
        assert_int_equal(inb(f, UART_IER), 0);
        assert_int_equal(inb(f, UART_LCR), 0);
        assert_int_equal(f->rec.irq_changes, 0);
        /* The ports are claimed: a second UART at the same base is refused. */
        Serial *other;
        assert_int_equal(serial_init(f->bus, BASE + 4, 3, &rec_ops, &f->rec, &other), -EEXIST);
}

static void test_tx_and_dlab(void **state)
{
        Fixture *f = *state;
        outb(f, UART_THR, 'h');
        outb(f, UART_THR, 'i');
        assert_int_equal(f->rec.n_tx, 2);
        assert_memory_equal(f->rec.tx, "hi", 2);

        /* With DLAB set, offsets 0 and 1 are the divisor latch, not THR/IER. */
        outb(f, UART_LCR, UART_LCR_DLAB | 0x03);
        outb(f, UART_DLL, 0x01);
        outb(f, UART_DLM, 0x02);
        assert_int_equal(inb(f, UART_DLL), 0x01);
        assert_int_equal(inb(f, UART_DLM), 0x02);
        assert_int_equal(f->rec.n_tx, 2);
        outb(f, UART_LCR, 0x03);
        assert_int_equal(inb(f, UART_IER), 0);
        assert_int_equal(inb(f, UART_LCR), 0x03);
        outb(f, UART_SCR, 0x5a);
        assert_int_equal(inb(f, UART_SCR), 0x5a);
}

static void test_rx_fifo(void **state)
{
        Fixture *f = *state;
        uint8_t buf[SERIAL_FIFO_SIZE + 10];

        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (uint8_t)i;
        /* FIFO disabled: a one-byte holding register. */
        assert_int_equal(serial_rx_space(f->s), 1);
        assert_int_equal(serial_rx_push(f->s, buf, 3), 1);
        assert_int_equal(inb(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
        assert_int_equal(inb(f, UART_RBR), 0);
        assert_int_equal(inb(f, UART_LSR) & UART_LSR_DR, 0);
        assert_int_equal(f->rec.rx_space_calls, 1); /* read from a full buffer */

        outb(f, UART_FCR, UART_FCR_ENABLE_FIFO);
        assert_int_equal(inb(f, UART_IIR) & UART_IIR_FIFO_ENABLED, UART_IIR_FIFO_ENABLED);
        assert_int_equal(serial_rx_space(f->s), SERIAL_FIFO_SIZE);
        assert_int_equal(serial_rx_push(f->s, buf, sizeof(buf)), SERIAL_FIFO_SIZE);
        assert_int_equal(serial_rx_space(f->s), 0);
        assert_int_equal(serial_rx_push(f->s, buf, 1), 0);
        for (unsigned i = 0; i < SERIAL_FIFO_SIZE; i++) {
                assert_int_equal(inb(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
                assert_int_equal(inb(f, UART_RBR), i);
        }
        assert_int_equal(inb(f, UART_LSR) & UART_LSR_DR, 0);
        assert_int_equal(f->rec.rx_space_calls, 2);

        /* Clearing the receive FIFO drops what is queued. */
        assert_int_equal(serial_rx_push(f->s, buf, 5), 5);
        outb(f, UART_FCR, UART_FCR_ENABLE_FIFO | UART_FCR_CLEAR_RCVR);
        assert_int_equal(inb(f, UART_LSR) & UART_LSR_DR, 0);
        assert_int_equal(serial_rx_space(f->s), SERIAL_FIFO_SIZE);
}

static void test_interrupts(void **state)
{
        Fixture *f = *state;
        uint8_t b = 'x';

        /* Receive interrupt: raised while data waits, lowered once it is read. */
        outb(f, UART_IER, UART_IER_RDI);
        assert_int_equal(f->rec.irq_changes, 0);
        assert_int_equal(serial_rx_push(f->s, &b, 1), 1);
        assert_int_equal(f->rec.irq_level, 1);
        assert_int_equal(f->rec.irq, SERIAL_COM2_IRQ);
        assert_int_equal(inb(f, UART_IIR) & 0x0f, UART_IIR_RDI);
        assert_int_equal(inb(f, UART_RBR), 'x');
        assert_int_equal(f->rec.irq_level, 0);
        assert_int_equal(inb(f, UART_IIR), UART_IIR_NO_INT);

        /* THR-empty: enabling it while THR is empty raises it; reading IIR acknowledges it. */
        outb(f, UART_IER, UART_IER_RDI | UART_IER_THRI);
        assert_int_equal(f->rec.irq_level, 1);
        assert_int_equal(inb(f, UART_IIR) & 0x0f, UART_IIR_THRI);
        assert_int_equal(f->rec.irq_level, 0);
        assert_int_equal(inb(f, UART_IIR), UART_IIR_NO_INT);
        outb(f, UART_THR, 'y');
        assert_int_equal(f->rec.irq_level, 1);

        /* Receive data outranks THR-empty. */
        assert_int_equal(serial_rx_push(f->s, &b, 1), 1);
        assert_int_equal(inb(f, UART_IIR) & 0x0f, UART_IIR_RDI);
        (void)inb(f, UART_RBR);
        assert_int_equal(inb(f, UART_IIR) & 0x0f, UART_IIR_THRI);

        /* Without OUT2 the line stays low (PC wiring) although IIR reports the interrupt. */
        outb(f, UART_IER, UART_IER_RDI);
        outb(f, UART_MCR, 0);
        assert_int_equal(serial_rx_push(f->s, &b, 1), 1);
        assert_int_equal(f->rec.irq_level, 0);
        assert_int_equal(inb(f, UART_IIR) & 0x0f, UART_IIR_RDI);
        outb(f, UART_MCR, UART_MCR_OUT2);
        assert_int_equal(f->rec.irq_level, 1);
}

static void test_loopback(void **state)
{
        Fixture *f = *state;
        uint8_t b = 'z';

        outb(f, UART_FCR, UART_FCR_ENABLE_FIFO);
        outb(f, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS | UART_MCR_OUT1);
        /* Modem lines are looped: RTS->CTS, OUT1->RI; the delta bits record the changes. */
        uint8_t msr = inb(f, UART_MSR);
        assert_int_equal(msr & 0xf0, UART_MSR_CTS | UART_MSR_RI);
        assert_int_equal(inb(f, UART_MSR) & 0x0f, 0); /* deltas cleared by the read */
        /* Transmitted bytes come back in; nothing reaches the outside; the outside cannot send. */
        outb(f, UART_THR, 0xa5);
        assert_int_equal(f->rec.n_tx, 0);
        assert_int_equal(serial_rx_push(f->s, &b, 1), 0);
        assert_int_equal(serial_rx_space(f->s), 0);
        assert_int_equal(inb(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
        assert_int_equal(inb(f, UART_RBR), 0xa5);

        /* Overrun in loopback: the 65th byte sets OE, which an LSR read clears. */
        for (int i = 0; i <= SERIAL_FIFO_SIZE; i++)
                outb(f, UART_THR, (uint8_t)i);
        assert_int_equal(inb(f, UART_LSR) & UART_LSR_OE, UART_LSR_OE);
        assert_int_equal(inb(f, UART_LSR) & UART_LSR_OE, 0);

        outb(f, UART_MCR, UART_MCR_OUT2);
        assert_int_equal(inb(f, UART_MSR) & 0xf0, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
        outb(f, UART_THR, 'q');
        assert_int_equal(f->rec.n_tx, 1);
}

static void test_wide_and_unclaimed_access(void **state)
{
        Fixture *f = *state;
        uint8_t v[4] = { 0 };

        /* Past the 8 ports: nothing claims it, reads float high. */
        assert_false(bus_read(f->bus, BASE + 8, v, 1));
        assert_int_equal(v[0], 0xff);
        /* A 2-byte write at SCR is truncated to the UART's last port. */
        uint8_t w[2] = { 0x11, 0x22 };
        assert_true(bus_write(f->bus, BASE + UART_SCR, w, 2));
        assert_int_equal(inb(f, UART_SCR), 0x11);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_reset_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tx_and_dlab, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rx_fifo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_interrupts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wide_and_unclaimed_access, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
