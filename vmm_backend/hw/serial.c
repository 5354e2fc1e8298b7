/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* 8250/16550A UART register model (see serial.h). Transmission is instantaneous: THR is empty again
 * as soon as it is written, so LSR always shows THRE|TEMT and a THR-empty interrupt is re-armed by
 * every write, as a real UART does once its shift register drains. */
#include "vmm_backend/hw/serial.h"

#include <pthread.h>

#include "vmm_backend/macro.h"

struct Serial {
        pthread_mutex_t lock;
        Bus *pio;
        uint16_t base;
        unsigned irq;
        const SerialOps *ops;
        void *opaque;

        uint8_t rx[SERIAL_FIFO_SIZE];
        unsigned rx_head, rx_len;

        uint8_t dll, dlm, ier, fcr, lcr, mcr, lsr, msr, scr;
        bool thri_pending; /* THR-empty interrupt condition, cleared by reading IIR or writing THR */
        int irq_level;
};

static unsigned rx_capacity(const Serial *s)
{
        /* With FIFOs disabled the UART behaves as a 16450 with a one-byte receive buffer. */
        return (s->fcr & UART_FCR_ENABLE_FIFO) ? SERIAL_FIFO_SIZE : 1;
}

static uint8_t iir_locked(const Serial *s)
{
        uint8_t fifo = (s->fcr & UART_FCR_ENABLE_FIFO) ? UART_IIR_FIFO_ENABLED : 0;

        if ((s->ier & UART_IER_RLSI) && (s->lsr & UART_LSR_OE))
                return fifo | UART_IIR_RLSI;
        if ((s->ier & UART_IER_RDI) && s->rx_len > 0)
                return fifo | UART_IIR_RDI;
        if ((s->ier & UART_IER_THRI) && s->thri_pending)
                return fifo | UART_IIR_THRI;
        if ((s->ier & UART_IER_MSI) && (s->msr & 0x0f))
                return fifo | UART_IIR_MSI;
        return fifo | UART_IIR_NO_INT;
}

static void update_irq_locked(Serial *s)
{
        /* On PC-compatible boards the interrupt output reaches the PIC only through OUT2. */
        int level = !(iir_locked(s) & UART_IIR_NO_INT) && (s->mcr & UART_MCR_OUT2);
        if (level == s->irq_level)
                return;
        s->irq_level = level;
        if (s->ops && s->ops->set_irq)
                s->ops->set_irq(s->opaque, s->irq, level);
}

static void update_lsr_locked(Serial *s)
{
        if (s->rx_len > 0)
                s->lsr |= UART_LSR_DR;
        else
                s->lsr &= ~UART_LSR_DR;
}

/* Append one byte to the receive FIFO; sets the overrun flag when it is full. */
static bool rx_put_locked(Serial *s, uint8_t b)
{
        if (s->rx_len >= rx_capacity(s)) {
                s->lsr |= UART_LSR_OE;
                return false;
        }
        s->rx[(s->rx_head + s->rx_len) % SERIAL_FIFO_SIZE] = b;
        s->rx_len++;
        return true;
}

static void rx_clear_locked(Serial *s)
{
        s->rx_head = s->rx_len = 0;
}

/* Modem status as wired in loopback mode: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t loop_msr(uint8_t mcr)
{
        uint8_t m = 0;
        if (mcr & UART_MCR_RTS)
                m |= UART_MSR_CTS;
        if (mcr & UART_MCR_DTR)
                m |= UART_MSR_DSR;
        if (mcr & UART_MCR_OUT1)
                m |= UART_MSR_RI;
        if (mcr & UART_MCR_OUT2)
                m |= UART_MSR_DCD;
        return m;
}

static void set_msr_locked(Serial *s, uint8_t lines)
{
        uint8_t old = s->msr & 0xf0, delta = 0;
        if ((old ^ lines) & UART_MSR_CTS)
                delta |= 0x01;
        if ((old ^ lines) & UART_MSR_DSR)
                delta |= 0x02;
        if ((old & UART_MSR_RI) && !(lines & UART_MSR_RI)) /* trailing edge of RI */
                delta |= 0x04;
        if ((old ^ lines) & UART_MSR_DCD)
                delta |= 0x08;
        s->msr = lines | ((s->msr | delta) & 0x0f);
}

static void reset_locked(Serial *s)
{
        /* Reset state as kvmtool's 16550A: transmitter empty, modem lines up, OUT2 set, no interrupt. */
        rx_clear_locked(s);
        s->dll = 12; /* 9600 baud */
        s->dlm = 0;
        s->ier = s->fcr = s->lcr = s->scr = 0;
        s->mcr = UART_MCR_OUT2;
        s->lsr = UART_LSR_TEMT | UART_LSR_THRE;
        s->msr = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
        s->thri_pending = false;
        s->irq_level = 0;
}

uint8_t serial_read_reg(Serial *s, unsigned offset)
{
        uint8_t v = 0xff;
        bool was_full, notify = false;

        pthread_mutex_lock(&s->lock);
        switch (offset) {
        case UART_RBR:
                if (s->lcr & UART_LCR_DLAB) {
                        v = s->dll;
                        break;
                }
                if (s->rx_len == 0) {
                        v = 0;
                        break;
                }
                was_full = s->rx_len >= rx_capacity(s);
                v = s->rx[s->rx_head];
                s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
                s->rx_len--;
                notify = was_full && !(s->mcr & UART_MCR_LOOP);
                break;
        case UART_IER:
                v = (s->lcr & UART_LCR_DLAB) ? s->dlm : s->ier;
                break;
        case UART_IIR:
                v = iir_locked(s);
                /* Reading IIR while it reports THR-empty acknowledges that interrupt. */
                if ((v & 0x0f) == UART_IIR_THRI)
                        s->thri_pending = false;
                break;
        case UART_LCR:
                v = s->lcr;
                break;
        case UART_MCR:
                v = s->mcr;
                break;
        case UART_LSR:
                v = s->lsr;
                s->lsr &= ~UART_LSR_OE;
                break;
        case UART_MSR:
                v = s->msr;
                s->msr &= 0xf0;
                break;
        case UART_SCR:
                v = s->scr;
                break;
        default:
                break;
        }
        update_lsr_locked(s);
        update_irq_locked(s);
        if (notify && s->ops && s->ops->rx_space)
                s->ops->rx_space(s->opaque);
        pthread_mutex_unlock(&s->lock);
        return v;
}

void serial_write_reg(Serial *s, unsigned offset, uint8_t value)
{
        pthread_mutex_lock(&s->lock);
        switch (offset) {
        case UART_THR:
                if (s->lcr & UART_LCR_DLAB) {
                        s->dll = value;
                        break;
                }
                if (s->mcr & UART_MCR_LOOP)
                        (void)rx_put_locked(s, value);
                else if (s->ops && s->ops->tx)
                        s->ops->tx(s->opaque, value);
                /* Sent at once: the holding register is empty again. */
                s->thri_pending = true;
                break;
        case UART_IER:
                if (s->lcr & UART_LCR_DLAB) {
                        s->dlm = value;
                        break;
                }
                /* Enabling the THR-empty interrupt while THR is empty raises it at once. */
                if (!(s->ier & UART_IER_THRI) && (value & UART_IER_THRI))
                        s->thri_pending = true;
                s->ier = value & 0x0f;
                break;
        case UART_FCR:
                if ((value ^ s->fcr) & UART_FCR_ENABLE_FIFO)
                        rx_clear_locked(s); /* toggling the FIFO mode resets the FIFOs */
                if (value & UART_FCR_CLEAR_RCVR)
                        rx_clear_locked(s);
                /* The clear bits self-clear; keep the enable and trigger-level bits. */
                s->fcr = value & (UART_FCR_ENABLE_FIFO | 0xc0);
                break;
        case UART_LCR:
                s->lcr = value;
                break;
        case UART_MCR: {
                uint8_t old = s->mcr;
                s->mcr = value & 0x1f;
                if (s->mcr & UART_MCR_LOOP)
                        set_msr_locked(s, loop_msr(s->mcr));
                else if (old & UART_MCR_LOOP)
                        set_msr_locked(s, UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS);
                break;
        }
        case UART_LSR:
        case UART_MSR:
                break; /* read-only (factory test registers on real parts) */
        case UART_SCR:
                s->scr = value;
                break;
        default:
                break;
        }
        update_lsr_locked(s);
        update_irq_locked(s);
        pthread_mutex_unlock(&s->lock);
}

size_t serial_rx_push(Serial *s, const uint8_t *buf, size_t n)
{
        size_t done = 0;

        pthread_mutex_lock(&s->lock);
        if (!(s->mcr & UART_MCR_LOOP))
                while (done < n && s->rx_len < rx_capacity(s))
                        (void)rx_put_locked(s, buf[done++]);
        update_lsr_locked(s);
        update_irq_locked(s);
        pthread_mutex_unlock(&s->lock);
        return done;
}

size_t serial_rx_space(Serial *s)
{
        pthread_mutex_lock(&s->lock);
        size_t n = (s->mcr & UART_MCR_LOOP) ? 0 : rx_capacity(s) - s->rx_len;
        pthread_mutex_unlock(&s->lock);
        return n;
}

static void serial_bus_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
        for (uint32_t i = 0; i < len && offset + i < SERIAL_NR_PORTS; i++)
                data[i] = serial_read_reg(opaque, (unsigned)(offset + i));
}

static void serial_bus_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
        for (uint32_t i = 0; i < len && offset + i < SERIAL_NR_PORTS; i++)
                serial_write_reg(opaque, (unsigned)(offset + i), data[i]);
}

static const BusOps serial_bus_ops = {
        .read = serial_bus_read,
        .write = serial_bus_write,
};

int serial_init(Bus *pio, uint16_t base, unsigned irq, const SerialOps *ops, void *opaque, Serial **ret)
{
        Serial *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        s->base = base;
        s->irq = irq;
        s->ops = ops;
        s->opaque = opaque;
        reset_locked(s);
        if (pio) {
                int r = bus_register(pio, base, SERIAL_NR_PORTS, &serial_bus_ops, s);
                if (r < 0) {
                        pthread_mutex_destroy(&s->lock);
                        free(s);
                        return r;
                }
                s->pio = pio;
        }
        *ret = s;
        return 0;
}

Serial *serial_exit(Serial *s)
{
        if (!s)
                return NULL;
        if (s->pio)
                (void)bus_unregister(s->pio, s->base);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}
