/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one sd-bus <-> libevent bridge: the bus fd and timeout become a libevent event and timer. */
#include <poll.h>
#include <time.h>

#include "dbus/bus-event.h"

/* sd_bus_process() rounds per wake-up before yielding to other events; when more work remains,
 * sd_bus_get_timeout() returns 0 and the timer fires again at once. */
#define BUS_PROCESS_BUDGET 64

struct BusEvent {
        sd_bus *bus;
        struct event_base *base;
        struct event *io;
        struct event *timer;
        int fd;
        bus_event_error_t on_error;
        void *userdata;
        bool failed;
};

static uint64_t now_monotonic_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / NSEC_PER_USEC;
}

static void bus_event_fail(BusEvent *be, int error)
{
        be->failed = true;
        event_del(be->io);
        event_del(be->timer);
        if (be->on_error)
                be->on_error(be, error, be->userdata);
}

static void bus_event_dispatch(BusEvent *be)
{
        int r;

        for (unsigned i = 0; i < BUS_PROCESS_BUDGET; i++) {
                r = sd_bus_process(be->bus, NULL);
                if (r < 0) {
                        bus_event_fail(be, r);
                        return;
                }
                if (r == 0)
                        break;
        }

        r = bus_event_rearm(be);
        if (r < 0)
                bus_event_fail(be, r);
}

static void bus_event_io_cb(evutil_socket_t fd, short what, void *userdata)
{
        bus_event_dispatch(userdata);
}

static void bus_event_timer_cb(evutil_socket_t fd, short what, void *userdata)
{
        bus_event_dispatch(userdata);
}

int bus_event_rearm(BusEvent *be)
{
        uint64_t until;
        short what = 0;
        int events, r;

        if (!be)
                return -EINVAL;
        if (be->failed)
                return -ENOTCONN;

        events = sd_bus_get_events(be->bus);
        if (events < 0)
                return events;
        r = sd_bus_get_timeout(be->bus, &until);
        if (r < 0)
                return r;

        /* Non-persistent events, re-armed here every time: what sd-bus waits for changes with
         * its state (POLLOUT only while its write queue is not empty). */
        event_del(be->io);
        if (events & POLLIN)
                what |= EV_READ;
        if (events & POLLOUT)
                what |= EV_WRITE;
        if (what != 0) {
                if (event_assign(be->io, be->base, be->fd, what, bus_event_io_cb, be) < 0 ||
                    event_add(be->io, NULL) < 0)
                        return -ENOMEM;
        }

        /* sd_bus_get_timeout() gives an absolute CLOCK_MONOTONIC time, UINT64_MAX for none. */
        event_del(be->timer);
        if (until != UINT64_MAX) {
                uint64_t now = now_monotonic_usec(), rel = until > now ? until - now : 0;
                struct timeval tv = {
                        .tv_sec = (time_t)(rel / USEC_PER_SEC),
                        .tv_usec = (suseconds_t)(rel % USEC_PER_SEC),
                };

                if (event_add(be->timer, &tv) < 0)
                        return -ENOMEM;
        }

        return 0;
}

int bus_event_attach(sd_bus *bus, struct event_base *base, bus_event_error_t on_error, void *userdata,
                     BusEvent **ret)
{
        _cleanup_(bus_event_freep) BusEvent *be = NULL;
        int r;

        if (!bus || !base || !ret)
                return -EINVAL;

        be = calloc(1, sizeof(*be));
        if (!be)
                return -ENOMEM;
        be->bus = sd_bus_ref(bus);
        be->base = base;
        be->on_error = on_error;
        be->userdata = userdata;

        be->fd = sd_bus_get_fd(bus);
        if (be->fd < 0)
                return be->fd;

        be->io = event_new(base, be->fd, EV_READ, bus_event_io_cb, be);
        be->timer = evtimer_new(base, bus_event_timer_cb, be);
        if (!be->io || !be->timer)
                return -ENOMEM;

        r = bus_event_rearm(be);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(be);
        return 0;
}

BusEvent *bus_event_free(BusEvent *be)
{
        if (!be)
                return NULL;
        if (be->io)
                event_free(be->io);
        if (be->timer)
                event_free(be->timer);
        sd_bus_unref(be->bus);
        free(be);
        return NULL;
}
