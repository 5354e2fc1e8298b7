/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMM's device/event thread loop: a thin epoll wrapper. */
#include "vmm_backend/evloop.h"

#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "vmm_backend/macro.h"

struct EvSource {
        EvLoop *loop;
        int fd;
        EvHandler cb;
        void *userdata;
        bool dead;
        EvSource *next_dead;
};

struct EvLoop {
        int epoll_fd;
        int wake_fd;
        atomic_bool quit;
        atomic_int quit_code;
        bool dispatching;
        EvSource *dead; /* removed while dispatching; freed after the batch */
};

int evloop_new(EvLoop **ret)
{
        EvLoop *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (l->epoll_fd < 0 || l->wake_fd < 0) {
                int r = negative_errno();
                evloop_free(l);
                return r;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0) {
                int r = negative_errno();
                evloop_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static void free_dead(EvLoop *l)
{
        while (l->dead) {
                EvSource *s = l->dead;
                l->dead = s->next_dead;
                free(s);
        }
}

EvLoop *evloop_free(EvLoop *l)
{
        if (!l)
                return NULL;
        free_dead(l);
        safe_close(l->epoll_fd);
        safe_close(l->wake_fd);
        free(l);
        return NULL;
}

int evloop_add(EvLoop *l, int fd, uint32_t events, EvHandler cb, void *userdata, EvSource **ret)
{
        EvSource *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (EvSource){ .loop = l, .fd = fd, .cb = cb, .userdata = userdata };
        struct epoll_event ev = { .events = events, .data.ptr = s };
        if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = negative_errno();
                free(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

int evloop_modify(EvSource *s, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = s };
        if (epoll_ctl(s->loop->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev) < 0)
                return negative_errno();
        return 0;
}

EvSource *evloop_remove(EvSource *s)
{
        if (!s || s->dead)
                return NULL;
        EvLoop *l = s->loop;
        (void)epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
        s->dead = true;
        if (l->dispatching) {
                s->next_dead = l->dead;
                l->dead = s;
        } else
                free(s);
        return NULL;
}

int evloop_run_once(EvLoop *l, int timeout_ms)
{
        struct epoll_event evs[32];
        int n = epoll_wait(l->epoll_fd, evs, ELEMENTSOF(evs), timeout_ms);
        if (n < 0)
                return errno == EINTR ? 0 : negative_errno();

        l->dispatching = true;
        int handled = 0;
        for (int i = 0; i < n; i++) {
                EvSource *s = evs[i].data.ptr;
                if (!s) {
                        uint64_t v;
                        (void)!read(l->wake_fd, &v, sizeof(v));
                        continue;
                }
                if (s->dead)
                        continue;
                s->cb(s, s->fd, evs[i].events, s->userdata);
                handled++;
        }
        l->dispatching = false;
        free_dead(l);
        return handled;
}

int evloop_run(EvLoop *l)
{
        while (!atomic_load(&l->quit)) {
                int r = evloop_run_once(l, -1);
                if (r < 0)
                        return r;
        }
        return atomic_load(&l->quit_code);
}

void evloop_quit(EvLoop *l, int code)
{
        atomic_store(&l->quit_code, code);
        atomic_store(&l->quit, true);
        uint64_t one = 1;
        (void)!write(l->wake_fd, &one, sizeof(one));
}

bool evloop_quitting(EvLoop *l)
{
        return atomic_load(&l->quit);
}
