/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMM's device/event thread loop: a thin epoll wrapper (the VMM links no libevent). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct EvLoop EvLoop;
typedef struct EvSource EvSource;

/* Called on the loop thread with the epoll events that fired (EPOLLIN, EPOLLOUT, EPOLLHUP, ...). */
typedef void (*EvHandler)(EvSource *s, int fd, uint32_t events, void *userdata);

int evloop_new(EvLoop **ret);
EvLoop *evloop_free(EvLoop *l);

/* Watch fd for events; the fd stays owned by the caller. */
int evloop_add(EvLoop *l, int fd, uint32_t events, EvHandler cb, void *userdata, EvSource **ret);
int evloop_modify(EvSource *s, uint32_t events);
/* Stop watching and free the source; safe to call from inside its own handler. */
EvSource *evloop_remove(EvSource *s);

/* Run until evloop_quit(); returns the code given to it. */
int evloop_run(EvLoop *l);
/* Run one iteration, waiting at most timeout_ms (-1 = forever). Returns handlers run or -errno. */
int evloop_run_once(EvLoop *l, int timeout_ms);
/* Thread-safe: may be called from any thread (wakes the loop through an eventfd). */
void evloop_quit(EvLoop *l, int code);
bool evloop_quitting(EvLoop *l);
