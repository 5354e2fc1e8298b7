/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest virtio-balloon driver (modern PCI transport, split queues, polled from ring 3). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef void (*BalloonReplyFn)(const char *fmt, ...);

/* Find the balloon on PCI bus 0 (conf1) and bring it up. Without one the driver stays off. */
void balloon_init(void);

/* From the idle loop: follow num_pages (inflate/deflate), hand fresh stats to the device, and
 * re-initialise after DEVICE_NEEDS_RESET. Polls the device at most once per timer tick unless work
 * is left; returns true when it should be called again before the next idle. */
bool balloon_poll(void);

/* The driver's commands: "balloon" (state) and "balloon-garbage" (post a descriptor pointing
 * outside RAM, for the device-reset test). False when verb is not one of them. */
bool balloon_command(const char *verb, const char *args, BalloonReplyFn reply);
