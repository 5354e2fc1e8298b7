/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Character back ends for the UARTs: an output file (the console log, appended), or a unix stream
 * socket (the guest channel: one client at a time; while none is connected the guest's output is
 * kept in a bounded buffer, oldest bytes dropped first, and flushed to the next client). */
#pragma once

#include <stdint.h>

#include "vmm_backend/evloop.h"
#include "vmm_backend/hw/serial.h"

#define CHARDEV_BUFFER_SIZE (64 * 1024)

typedef struct CharDev CharDev;

/* IRQ sink the UART's interrupt line is forwarded to. */
typedef void (*CharDevIrqFn)(void *opaque, unsigned irq, int level);

/* Output only: every byte the guest sends is written to fd (taken over; -1: discard). */
int chardev_new_file(int fd, CharDev **ret);
/* A listening unix stream socket (taken over, made non-blocking) served on loop. */
int chardev_new_socket(EvLoop *loop, int listen_fd, CharDev **ret);
CharDev *chardev_free(CharDev *c);

/* The UART ops that connect a Serial to this back end; opaque = the CharDev. */
extern const SerialOps chardev_serial_ops;
/* Where received bytes go and where the UART's interrupt line is forwarded. Call before the
 * vCPUs run. */
void chardev_attach(CharDev *c, Serial *s, CharDevIrqFn irq_fn, void *irq_opaque);
