/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* i8042 keyboard controller, no devices attached (see i8042.h). */
#include "vmm_backend/hw/i8042.h"

#include <pthread.h>

#include "vmm_backend/macro.h"

#define STATUS_OBF 0x01 /* output buffer full */
#define STATUS_SYS 0x04 /* system flag: self test passed */
#define STATUS_CMD 0x08 /* last write was to the command port */

#define CMD_READ_CTR 0x20
#define CMD_WRITE_CTR 0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE 0xa8
#define CMD_AUX_TEST 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_KBD_TEST 0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE 0xae
#define CMD_READ_OUTPORT 0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_AUX 0xd4
#define CMD_PULSE_BASE 0xf0 /* 0xf0..0xff: pulse output lines whose bit is 0; bit 0 is reset */

#define CTR_KBD_INT 0x01
#define CTR_SYS 0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_XLATE 0x40

#define KBD_ACK 0xfa
#define KBD_RESEND 0xfe

struct I8042 {
        pthread_mutex_t lock;
        Bus *pio;
        const I8042Ops *ops;
        void *opaque;
        uint8_t status, ctr, outport, out;
        uint8_t pending_cmd; /* command waiting for its data byte on port 0x60 */
        int irq_level;
        bool reset_requested;
};

static void put_output_locked(I8042 *k, uint8_t v)
{
        k->out = v;
        k->status |= STATUS_OBF;
}

static void update_irq_locked(I8042 *k)
{
        int level = (k->status & STATUS_OBF) && (k->ctr & CTR_KBD_INT);
        if (level != k->irq_level) {
                k->irq_level = level;
                if (k->ops && k->ops->set_irq)
                        k->ops->set_irq(k->opaque, I8042_KBD_IRQ, level);
        }
}

static void write_command_locked(I8042 *k, uint8_t cmd)
{
        k->status |= STATUS_CMD;
        switch (cmd) {
        case CMD_READ_CTR:
                put_output_locked(k, k->ctr);
                break;
        case CMD_WRITE_CTR:
        case CMD_WRITE_OUTPORT:
        case CMD_WRITE_AUX:
                k->pending_cmd = cmd;
                break;
        case CMD_AUX_DISABLE:
                k->ctr |= CTR_AUX_DISABLE;
                break;
        case CMD_AUX_ENABLE:
                k->ctr &= ~CTR_AUX_DISABLE;
                break;
        case CMD_AUX_TEST:
                put_output_locked(k, 0xff); /* no auxiliary device: clock line stuck */
                break;
        case CMD_SELF_TEST:
                put_output_locked(k, 0x55);
                break;
        case CMD_KBD_TEST:
                put_output_locked(k, 0x00);
                break;
        case CMD_KBD_DISABLE:
                k->ctr |= CTR_KBD_DISABLE;
                break;
        case CMD_KBD_ENABLE:
                k->ctr &= ~CTR_KBD_DISABLE;
                break;
        case CMD_READ_OUTPORT:
                put_output_locked(k, k->outport);
                break;
        default:
                if (cmd >= CMD_PULSE_BASE && !(cmd & 0x01))
                        k->reset_requested = true;
                break;
        }
}

static void write_data_locked(I8042 *k, uint8_t v)
{
        k->status &= ~STATUS_CMD;
        switch (k->pending_cmd) {
        case CMD_WRITE_CTR:
                k->ctr = v;
                break;
        case CMD_WRITE_OUTPORT:
                k->outport = v;
                if (!(v & 0x01))
                        k->reset_requested = true;
                break;
        case CMD_WRITE_AUX:
                break; /* no mouse: swallow */
        default:
                /* A keyboard command with no keyboard behind it: acknowledge so drivers move on. */
                put_output_locked(k, KBD_ACK);
                break;
        }
        k->pending_cmd = 0;
}

/* The two ports are separate one-byte bus ranges, each with its own ops (bus offsets are relative). */
static void i8042_access(I8042 *k, bool cmd_port, bool is_write, uint8_t *data)
{
        bool reset;

        pthread_mutex_lock(&k->lock);
        if (is_write) {
                if (cmd_port)
                        write_command_locked(k, *data);
                else
                        write_data_locked(k, *data);
        } else if (cmd_port)
                *data = k->status;
        else {
                *data = k->out;
                k->status &= ~STATUS_OBF;
        }
        update_irq_locked(k);
        reset = k->reset_requested;
        k->reset_requested = false;
        pthread_mutex_unlock(&k->lock);

        if (reset && k->ops && k->ops->reset)
                k->ops->reset(k->opaque);
}

static void data_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
        i8042_access(opaque, false, false, data);
}

static void data_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
        uint8_t v = data[0];
        i8042_access(opaque, false, true, &v);
}

static void cmd_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
        i8042_access(opaque, true, false, data);
}

static void cmd_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
        uint8_t v = data[0];
        i8042_access(opaque, true, true, &v);
}

static const BusOps data_ops = { .read = data_read, .write = data_write };
static const BusOps cmd_ops = { .read = cmd_read, .write = cmd_write };

/* Port 0x61 (port B, the PIT speaker gate) is the in-kernel PIT's, so claim 0x60 and 0x64 only. */
int i8042_init(Bus *pio, const I8042Ops *ops, void *opaque, I8042 **ret)
{
        I8042 *k = calloc(1, sizeof(*k));
        if (!k)
                return -ENOMEM;
        pthread_mutex_init(&k->lock, NULL);
        k->ops = ops;
        k->opaque = opaque;
        k->status = STATUS_SYS;
        k->ctr = CTR_SYS | CTR_XLATE | CTR_AUX_DISABLE;
        k->outport = 0x01; /* reset line inactive (bit 0 = 1) */
        int r = bus_register(pio, I8042_DATA_PORT, 1, &data_ops, k);
        if (r >= 0) {
                r = bus_register(pio, I8042_CMD_PORT, 1, &cmd_ops, k);
                if (r < 0)
                        (void)bus_unregister(pio, I8042_DATA_PORT);
        }
        if (r < 0) {
                pthread_mutex_destroy(&k->lock);
                free(k);
                return r;
        }
        k->pio = pio;
        *ret = k;
        return 0;
}

I8042 *i8042_exit(I8042 *k)
{
        if (!k)
                return NULL;
        (void)bus_unregister(k->pio, I8042_DATA_PORT);
        (void)bus_unregister(k->pio, I8042_CMD_PORT);
        pthread_mutex_destroy(&k->lock);
        free(k);
        return NULL;
}
