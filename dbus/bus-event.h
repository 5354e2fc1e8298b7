/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bridge that runs an sd-bus connection inside a libevent event_base. */
#pragma once

#include <event2/event.h>
#include <systemd/sd-bus.h>

#include "vmm_backend/macro.h"

typedef struct BusEvent BusEvent;

/* Called when sd_bus_process() fails (the connection is gone or broken); `error` is its negative
 * errno. The bus is no longer watched afterwards. */
typedef void (*bus_event_error_t)(BusEvent *be, int error, void *userdata);

/* Watch `bus` in `base`: its fd for the events it asks for and its timeout as a timer. On wake,
 * sd_bus_process() runs until it has nothing left to do (a bounded number of rounds, so one busy
 * client cannot starve the other events), then both are re-armed. */
int bus_event_attach(sd_bus *bus, struct event_base *base, bus_event_error_t on_error, void *userdata,
                     BusEvent **ret);

/* Re-read the bus's fd events and timeout and re-arm. Needed after a message was queued from
 * outside a bus callback (an asynchronous reply, a signal from a timer or child callback), so
 * that a write the kernel did not take at once is flushed when the socket becomes writable. */
int bus_event_rearm(BusEvent *be);

BusEvent *bus_event_free(BusEvent *be);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusEvent *, bus_event_free);
