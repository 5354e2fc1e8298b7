/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* UART back ends (see chardev.h).
 *
 * Threads: tx() and rx_space() run on vCPU threads with the UART lock held; everything else runs
 * on the event thread. Lock order: UART lock -> CharDev lock. The event thread never calls into
 * the UART while holding the CharDev lock. client_fd is changed only on the event thread, under
 * the lock, so that a vCPU thread never sends on a closed (or reused) descriptor. */
#include "vmm_backend/hw/chardev.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "vmm_backend/macro.h"

struct CharDev {
        pthread_mutex_t lock;
        int out_fd; /* file back end */

        EvLoop *loop;
        int listen_fd, client_fd, notify_fd;
        EvSource *listen_src, *client_src, *notify_src;
        uint8_t *buf; /* ring of guest output not yet sent */
        size_t head, len;
        bool notify_pending;
        bool rx_blocked; /* event thread: the UART's receive FIFO was full, input not polled */

        Serial *serial;
        CharDevIrqFn irq_fn;
        void *irq_opaque;
};

static CharDev *chardev_alloc(void)
{
        CharDev *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        pthread_mutex_init(&c->lock, NULL);
        c->out_fd = c->listen_fd = c->client_fd = c->notify_fd = -EBADF;
        return c;
}

int chardev_new_file(int fd, CharDev **ret)
{
        CharDev *c = chardev_alloc();
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->out_fd = fd;
        *ret = c;
        return 0;
}

static void ring_put_locked(CharDev *c, uint8_t b)
{
        if (c->len == CHARDEV_BUFFER_SIZE) {
                /* Full: keep the newest output, drop the oldest byte. */
                c->head = (c->head + 1) % CHARDEV_BUFFER_SIZE;
                c->len--;
        }
        c->buf[(c->head + c->len) % CHARDEV_BUFFER_SIZE] = b;
        c->len++;
}

static void notify_locked(CharDev *c)
{
        if (c->notify_pending || c->notify_fd < 0)
                return;
        c->notify_pending = true;
        uint64_t one = 1;
        (void)!write(c->notify_fd, &one, sizeof(one));
}

static void chardev_tx(void *opaque, uint8_t b)
{
        CharDev *c = opaque;

        if (c->out_fd >= 0 || !c->buf) {
                /* Console log: write through (a failed write loses the byte, never blocks the guest
                 * for long: the file is a regular file or the terminal). */
                if (c->out_fd >= 0)
                        (void)!write(c->out_fd, &b, 1);
                return;
        }
        pthread_mutex_lock(&c->lock);
        if (c->client_fd >= 0 && c->len == 0 && send(c->client_fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) {
                pthread_mutex_unlock(&c->lock);
                return;
        }
        ring_put_locked(c, b);
        if (c->client_fd >= 0)
                notify_locked(c);
        pthread_mutex_unlock(&c->lock);
}

static void chardev_set_irq(void *opaque, unsigned irq, int level)
{
        CharDev *c = opaque;
        if (c->irq_fn)
                c->irq_fn(c->irq_opaque, irq, level);
}

static void chardev_rx_space(void *opaque)
{
        CharDev *c = opaque;
        pthread_mutex_lock(&c->lock);
        notify_locked(c);
        pthread_mutex_unlock(&c->lock);
}

const SerialOps chardev_serial_ops = {
        .tx = chardev_tx,
        .set_irq = chardev_set_irq,
        .rx_space = chardev_rx_space,
};

void chardev_attach(CharDev *c, Serial *s, CharDevIrqFn irq_fn, void *irq_opaque)
{
        c->serial = s;
        c->irq_fn = irq_fn;
        c->irq_opaque = irq_opaque;
}

static void disconnect(CharDev *c)
{
        c->client_src = evloop_remove(c->client_src);
        pthread_mutex_lock(&c->lock);
        c->client_fd = safe_close(c->client_fd);
        pthread_mutex_unlock(&c->lock);
        c->rx_blocked = false;
}

/* Send buffered output; false when the client is gone. */
static bool flush_out(CharDev *c)
{
        bool ok = true;

        pthread_mutex_lock(&c->lock);
        while (c->len > 0 && c->client_fd >= 0) {
                size_t chunk = MIN(c->len, CHARDEV_BUFFER_SIZE - c->head);
                ssize_t n = send(c->client_fd, c->buf + c->head, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n <= 0) {
                        ok = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
                        break;
                }
                c->head = (c->head + (size_t)n) % CHARDEV_BUFFER_SIZE;
                c->len -= (size_t)n;
        }
        pthread_mutex_unlock(&c->lock);
        return ok;
}

static void update_events(CharDev *c)
{
        if (!c->client_src)
                return;
        pthread_mutex_lock(&c->lock);
        bool out = c->len > 0;
        pthread_mutex_unlock(&c->lock);
        (void)evloop_modify(c->client_src, (c->rx_blocked ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0));
}

static void on_client(EvSource *s, int fd, uint32_t events, void *userdata)
{
        CharDev *c = userdata;
        bool got_data = false;

        if ((events & EPOLLIN) && !c->rx_blocked) {
                size_t space = c->serial ? serial_rx_space(c->serial) : 0;
                if (space == 0)
                        c->rx_blocked = true; /* resumed by rx_space() when the guest reads */
                else {
                        uint8_t tmp[SERIAL_FIFO_SIZE];
                        ssize_t n = read(fd, tmp, MIN(space, sizeof(tmp)));
                        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                                disconnect(c);
                                return;
                        }
                        if (n > 0) {
                                /* Only this thread fills the FIFO, so all of it fits (unless the guest just
                                 * switched to loopback, where the line is disconnected anyway). */
                                (void)serial_rx_push(c->serial, tmp, (size_t)n);
                                got_data = true;
                        }
                }
        }
        if ((events & EPOLLOUT) && !flush_out(c)) {
                disconnect(c);
                return;
        }
        if ((events & (EPOLLHUP | EPOLLERR)) && !got_data) {
                disconnect(c);
                return;
        }
        update_events(c);
}

static void on_listen(EvSource *s, int fd, uint32_t events, void *userdata)
{
        CharDev *c = userdata;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return;
        if (c->client_fd >= 0) {
                /* One client at a time, like a real serial line: the newcomer sees EOF at once. */
                close(cfd);
                return;
        }
        if (evloop_add(c->loop, cfd, EPOLLIN, on_client, c, &c->client_src) < 0) {
                close(cfd);
                return;
        }
        pthread_mutex_lock(&c->lock);
        c->client_fd = cfd;
        pthread_mutex_unlock(&c->lock);
        c->rx_blocked = false;
        if (!flush_out(c)) {
                disconnect(c);
                return;
        }
        update_events(c);
}

static void on_notify(EvSource *s, int fd, uint32_t events, void *userdata)
{
        CharDev *c = userdata;
        uint64_t v;

        (void)!read(fd, &v, sizeof(v));
        pthread_mutex_lock(&c->lock);
        c->notify_pending = false;
        pthread_mutex_unlock(&c->lock);
        if (!c->client_src)
                return;
        if (c->rx_blocked && c->serial && serial_rx_space(c->serial) > 0)
                c->rx_blocked = false;
        if (!flush_out(c)) {
                disconnect(c);
                return;
        }
        update_events(c);
}

int chardev_new_socket(EvLoop *loop, int listen_fd, CharDev **ret)
{
        CharDev *c = chardev_alloc();
        int r;

        if (!c) {
                safe_close(listen_fd);
                return -ENOMEM;
        }
        c->loop = loop;
        c->listen_fd = listen_fd;
        c->buf = malloc(CHARDEV_BUFFER_SIZE);
        if (!c->buf) {
                chardev_free(c);
                return -ENOMEM;
        }
        c->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->notify_fd < 0) {
                r = negative_errno();
                chardev_free(c);
                return r;
        }
        int fl = fcntl(listen_fd, F_GETFL);
        if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                r = negative_errno();
                chardev_free(c);
                return r;
        }
        r = evloop_add(loop, listen_fd, EPOLLIN, on_listen, c, &c->listen_src);
        if (r >= 0)
                r = evloop_add(loop, c->notify_fd, EPOLLIN, on_notify, c, &c->notify_src);
        if (r < 0) {
                chardev_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

CharDev *chardev_free(CharDev *c)
{
        if (!c)
                return NULL;
        c->client_src = evloop_remove(c->client_src);
        c->listen_src = evloop_remove(c->listen_src);
        c->notify_src = evloop_remove(c->notify_src);
        safe_close(c->client_fd);
        safe_close(c->listen_fd);
        safe_close(c->notify_fd);
        safe_close(c->out_fd);
        free(c->buf);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}
