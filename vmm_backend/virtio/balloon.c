/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-balloon: inflate/deflate/stats queues, MADV_REMOVE release, on-demand stats, target waits. */
#include "vmm_backend/virtio/balloon.h"

#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>

#include "vmm_backend/macro.h"

#define STATS_MAX_BYTES 4096 /* more than any driver sends (Linux: 16 tags, 160 bytes) */

typedef struct SetWaiter {
        struct SetWaiter *next;
        uint64_t target_pages, deadline_ms;
        uint32_t timeout_ms;
        BalloonDoneFn done;
        void *userdata;
} SetWaiter;

typedef struct StatsWaiter {
        struct StatsWaiter *next;
        uint64_t want_seq, deadline_ms;
        uint32_t timeout_ms;
        BalloonStatsDoneFn done;
        void *userdata;
} StatsWaiter;

struct VirtioBalloon {
        VirtioPci *vp;
        const GuestMem *mem;
        uint64_t ram_pages;
        EvLoop *loop;
        int kick_fd, timer_fd;
        EvSource *kick_src, *timer_src;
        VirtioBalloonConfig cfg;

        /* Guarded by the transport lock (virtio_pci_lock). */
        uint32_t num_pages, actual;
        bool held;
        uint16_t held_head;
        BalloonStatsInfo latest;
        uint64_t stats_seq;
        bool actual_dirty, reset_pending;
        char reset_reason[256];
        uint32_t *pfns;
        size_t pfns_cap;
        VirtioBalloonInfo counters;

        /* Event-loop thread only. */
        SetWaiter *set_waiters;
        StatsWaiter *stats_waiters;
        uint64_t reported_actual;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

/* Wake the event thread (from any thread). An eventfd write only fails when the counter would
 * overflow, and then a wake-up is pending anyway. */
static void kick(VirtioBalloon *b)
{
        uint64_t one = 1;
        (void)!write(b->kick_fd, &one, sizeof(one));
}

void balloon_stats_parse(const uint8_t *buf, size_t len, BalloonStatsInfo *ret)
{
        int64_t *field[] = {
                [VIRTIO_BALLOON_S_SWAP_IN] = &ret->swap_in,
                [VIRTIO_BALLOON_S_SWAP_OUT] = &ret->swap_out,
                [VIRTIO_BALLOON_S_MAJFLT] = &ret->major_faults,
                [VIRTIO_BALLOON_S_MINFLT] = &ret->minor_faults,
                [VIRTIO_BALLOON_S_MEMFREE] = &ret->free_memory,
                [VIRTIO_BALLOON_S_MEMTOT] = &ret->total_memory,
                [VIRTIO_BALLOON_S_AVAIL] = &ret->available_memory,
                [VIRTIO_BALLOON_S_CACHES] = &ret->disk_caches,
                [VIRTIO_BALLOON_S_HTLB_PGALLOC] = &ret->hugetlb_allocations,
                [VIRTIO_BALLOON_S_HTLB_PGFAIL] = &ret->hugetlb_failures,
        };
        for (size_t i = 0; i < ELEMENTSOF(field); i++)
                *field[i] = -1;
        ret->shared_memory = ret->unevictable_memory = -1;

        for (size_t off = 0; off + VIRTIO_BALLOON_STAT_SIZE <= len; off += VIRTIO_BALLOON_STAT_SIZE) {
                uint16_t tag = (uint16_t)get_le(buf + off, 2);
                uint64_t v = get_le(buf + off + 2, 8);
                int64_t sv = v > INT64_MAX ? INT64_MAX : (int64_t)v;
                if (tag < ELEMENTSOF(field))
                        *field[tag] = sv;
                else if (tag == VIRTIO_BALLOON_S_SHMEM)
                        ret->shared_memory = sv;
                else if (tag == VIRTIO_BALLOON_S_UNEVICTABLE)
                        ret->unevictable_memory = sv;
        }
}

/* --- guest side (transport lock held, usually a vCPU thread) -------------------------------- */

static void device_error(VirtioBalloon *b, const char *reason)
{
        virtio_pci_device_error(b->vp, reason);
}

/* The transport reports at most one error per device reset; if the event thread has not taken
 * the previous report yet, the first reason is the one that counts. */
static void on_needs_reset(void *opaque, const char *device, const char *reason)
{
        VirtioBalloon *b = opaque;
        if (b->reset_pending)
                return;
        snprintf(b->reset_reason, sizeof(b->reset_reason), "%s", reason ?: "protocol error");
        b->reset_pending = true;
        kick(b);
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

static void release_run(VirtioBalloon *b, uint64_t off, uint64_t len)
{
        b->counters.release_calls++;
        /* MADV_REMOVE punches the range out of the memfd: the blocks really leave the host
         * (MADV_DONTNEED would only drop this mapping's PTEs of a shared mapping). */
        if (madvise(b->mem->host + off, len, MADV_REMOVE) < 0)
                b->counters.release_errors++;
        else
                b->counters.released_pages += len / GUEST_PAGE_SIZE;
}

/* Sort, drop duplicates, and hand each run of pages that is contiguous in the memfd to one
 * madvise call. All PFNs were validated before. */
static void release_pfns(VirtioBalloon *b, uint32_t *pfns, size_t n)
{
        qsort(pfns, n, sizeof(*pfns), cmp_u32);
        uint64_t start = 0, len = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && pfns[i] == pfns[i - 1])
                        continue;
                uint64_t off = (uint64_t)guest_mem_offset(b->mem, (uint64_t)pfns[i] << VIRTIO_BALLOON_PFN_SHIFT,
                                                          GUEST_PAGE_SIZE);
                if (len > 0 && off == start + len) {
                        len += GUEST_PAGE_SIZE;
                        continue;
                }
                if (len > 0)
                        release_run(b, start, len);
                start = off;
                len = GUEST_PAGE_SIZE;
        }
        if (len > 0)
                release_run(b, start, len);
}

/* Copy the readable bytes of a chain into dst (at most max bytes); returns the bytes copied. */
static size_t chain_copy(const VirtqChain *c, uint8_t *dst, size_t max)
{
        size_t n = 0;
        for (unsigned i = 0; i < c->n_bufs && n < max; i++) {
                size_t k = MIN((size_t)c->bufs[i].len, max - n);
                memcpy(dst + n, c->bufs[i].host, k);
                n += k;
        }
        return n;
}

/* Return a batch of chains whose PFNs (b->pfns[0..n_pfns)) are all valid: release them (inflate)
 * and give the chains back. Batching all chains of one notification lets runs that span buffers
 * coalesce into one madvise call. */
static void flush_pfn_batch(VirtioBalloon *b, Virtqueue *vq, bool inflate, const uint16_t *heads, unsigned n_heads,
                            size_t n_pfns)
{
        if (inflate) {
                release_pfns(b, b->pfns, n_pfns);
                b->counters.inflated_pages += n_pfns;
        } else
                b->counters.deflated_pages += n_pfns;
        for (unsigned i = 0; i < n_heads; i++)
                virtq_push(vq, heads[i], 0);
}

static bool reserve_pfns(VirtioBalloon *b, size_t n)
{
        if (n <= b->pfns_cap)
                return true;
        size_t cap = MIN(MAX(n, 2 * b->pfns_cap), (size_t)BALLOON_MAX_PFNS_PER_CHAIN);
        uint32_t *p = realloc(b->pfns, cap * sizeof(uint32_t));
        if (!p)
                return false;
        b->pfns = p;
        b->pfns_cap = cap;
        return true;
}

static void process_pfn_queue(VirtioBalloon *b, unsigned q)
{
        bool inflate = q == VIRTIO_BALLOON_Q_INFLATE, pushed = false;
        Virtqueue *vq = virtio_pci_queue(b->vp, q);
        uint16_t heads[VIRTIO_BALLOON_QUEUE_SIZE];
        unsigned n_heads = 0;
        size_t n_pfns = 0;
        const char *error = NULL;

        while (virtio_pci_queue_ready(b->vp, q)) {
                VirtqChain c;
                int r = virtq_pop(vq, &c, &error);
                if (r <= 0)
                        break;
                if (c.n_write > 0) {
                        error = "balloon PFN buffer is device-writable";
                        break;
                }
                if (c.read_len % sizeof(uint32_t)) {
                        error = "balloon PFN buffer length is not a multiple of 4";
                        break;
                }
                uint64_t n = c.read_len / sizeof(uint32_t);
                if (n > BALLOON_MAX_PFNS_PER_CHAIN) {
                        error = "balloon PFN buffer is too large";
                        break;
                }
                if (n_pfns + n > BALLOON_MAX_PFNS_PER_CHAIN || n_heads == ELEMENTSOF(heads)) {
                        flush_pfn_batch(b, vq, inflate, heads, n_heads, n_pfns);
                        pushed = pushed || n_heads > 0;
                        n_heads = 0;
                        n_pfns = 0;
                }
                if (!reserve_pfns(b, n_pfns + n)) {
                        /* Host trouble, not the guest's: give the buffer back unprocessed. */
                        virtq_push(vq, c.head, 0);
                        pushed = true;
                        continue;
                }
                /* Copy first: the guest could rewrite the list between our check and our use. */
                uint32_t *pfns = b->pfns + n_pfns;
                chain_copy(&c, (uint8_t *)pfns, n * sizeof(uint32_t));
                for (uint64_t i = 0; i < n && !error; i++)
                        if (guest_mem_offset(b->mem, (uint64_t)pfns[i] << VIRTIO_BALLOON_PFN_SHIFT, GUEST_PAGE_SIZE) < 0)
                                error = "balloon PFN is outside guest RAM";
                if (error)
                        break;
                n_pfns += n;
                heads[n_heads++] = c.head;
        }
        /* Chains before a bad one were valid requests of their own: finish them first. */
        if (n_heads > 0) {
                flush_pfn_batch(b, vq, inflate, heads, n_heads, n_pfns);
                pushed = true;
        }
        if (pushed)
                virtio_pci_queue_interrupt(b->vp, q);
        if (error)
                device_error(b, error);
}

static void process_stats_queue(VirtioBalloon *b)
{
        Virtqueue *vq = virtio_pci_queue(b->vp, VIRTIO_BALLOON_Q_STATS);
        bool pushed = false;

        while (virtio_pci_queue_ready(b->vp, VIRTIO_BALLOON_Q_STATS)) {
                const char *reason = NULL;
                VirtqChain c;
                int r = virtq_pop(vq, &c, &reason);
                if (r < 0) {
                        device_error(b, reason);
                        return;
                }
                if (r == 0)
                        break;
                if (c.n_write > 0) {
                        device_error(b, "balloon stats buffer is device-writable");
                        return;
                }
                uint8_t buf[STATS_MAX_BYTES];
                size_t n = chain_copy(&c, buf, sizeof(buf));
                balloon_stats_parse(buf, n, &b->latest);
                /* One buffer is kept at a time (§5.5.6.3): a newer one replaces the one we held. */
                if (b->held) {
                        virtq_push(vq, b->held_head, 0);
                        pushed = true;
                }
                b->held = true;
                b->held_head = c.head;
                b->stats_seq++;
                b->counters.stats_buffers++;
                kick(b);
        }
        if (pushed)
                virtio_pci_queue_interrupt(b->vp, VIRTIO_BALLOON_Q_STATS);
}

static void dev_queue_notify(void *dev, unsigned q)
{
        VirtioBalloon *b = dev;
        if (q == VIRTIO_BALLOON_Q_STATS)
                process_stats_queue(b);
        else if (q < VIRTIO_BALLOON_Q_STATS)
                process_pfn_queue(b, q);
}

static void dev_driver_ok(void *dev)
{
        VirtioBalloon *b = dev;
        for (unsigned q = 0; q < _VIRTIO_BALLOON_Q_MAX; q++)
                dev_queue_notify(b, q);
}

static void dev_reset(void *dev)
{
        VirtioBalloon *b = dev;
        /* After a reset every page is the guest's again. A protocol error not yet reported
         * (reset_pending) still is: the guest's reset does not undo it. */
        b->held = false;
        if (b->actual != 0) {
                b->actual = 0;
                b->actual_dirty = true;
                kick(b);
        }
}

static void config_image(VirtioBalloon *b, uint8_t img[VIRTIO_BALLOON_CONFIG_SIZE])
{
        memset(img, 0, VIRTIO_BALLOON_CONFIG_SIZE);
        for (unsigned i = 0; i < 4; i++) {
                img[i] = (uint8_t)(b->num_pages >> (8 * i));
                img[4 + i] = (uint8_t)(b->actual >> (8 * i));
        }
}

static void dev_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
        uint8_t img[VIRTIO_BALLOON_CONFIG_SIZE];
        config_image(dev, img);
        if (off < sizeof(img))
                memcpy(data, img + off, MIN(len, (uint32_t)sizeof(img) - off));
}

static void dev_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
        VirtioBalloon *b = dev;
        uint8_t img[VIRTIO_BALLOON_CONFIG_SIZE];
        config_image(b, img);
        /* Only `actual` (bytes 4..7) is the driver's to write. */
        for (uint32_t i = 0; i < len; i++)
                if (off + i >= 4 && off + i < 8)
                        img[off + i] = data[i];
        uint32_t actual = (uint32_t)get_le(img + 4, 4);
        if (actual != b->actual) {
                b->actual = actual;
                b->actual_dirty = true;
                kick(b);
        }
}

static const VirtioDeviceOps balloon_ops = {
        .config_read = dev_config_read,
        .config_write = dev_config_write,
        .queue_notify = dev_queue_notify,
        .driver_ok = dev_driver_ok,
        .reset = dev_reset,
};

/* --- host side (event-loop thread) ---------------------------------------------------------- */

static uint64_t actual_pages_locked(VirtioBalloon *b)
{
        return MIN((uint64_t)b->actual, b->ram_pages);
}

static void rearm_timer(VirtioBalloon *b)
{
        uint64_t next = UINT64_MAX;
        for (SetWaiter *w = b->set_waiters; w; w = w->next)
                next = MIN(next, w->deadline_ms);
        for (StatsWaiter *w = b->stats_waiters; w; w = w->next)
                next = MIN(next, w->deadline_ms);
        struct itimerspec its = {};
        if (next != UINT64_MAX) {
                /* An absolute deadline of 0 would disarm: anything already due fires at once. */
                next = MAX(next, UINT64_C(1));
                its.it_value.tv_sec = (time_t)(next / 1000);
                its.it_value.tv_nsec = (long)(next % 1000) * 1000000;
        }
        (void)timerfd_settime(b->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Finish set waiters that match `pred`, detaching them first so callbacks may issue requests. */
static void finish_set_waiters(VirtioBalloon *b, bool (*pred)(const SetWaiter *w, uint64_t arg), uint64_t arg,
                               int error, const char *fixed_message)
{
        SetWaiter *done = NULL, **p = &b->set_waiters;
        while (*p) {
                SetWaiter *w = *p;
                if (pred(w, arg)) {
                        *p = w->next;
                        w->next = done;
                        done = w;
                } else
                        p = &w->next;
        }
        while (done) {
                SetWaiter *w = done;
                done = w->next;
                char msg[128];
                const char *m = fixed_message;
                if (error == -ETIMEDOUT) {
                        snprintf(msg, sizeof(msg), "balloon did not reach target in %u ms", w->timeout_ms);
                        m = msg;
                }
                w->done(w->userdata, error, m);
                free(w);
        }
}

static bool set_reached(const SetWaiter *w, uint64_t actual)
{
        return w->target_pages == actual;
}

static bool set_superseded(const SetWaiter *w, uint64_t target)
{
        return w->target_pages != target;
}

static bool set_expired(const SetWaiter *w, uint64_t now)
{
        return w->deadline_ms <= now;
}

static bool set_any(const SetWaiter *w, uint64_t unused)
{
        return true;
}

static void finish_stats_waiters(VirtioBalloon *b, bool expired_only, uint64_t now, uint64_t seq,
                                 const BalloonStatsInfo *st, int error, const char *message)
{
        StatsWaiter *done = NULL, **p = &b->stats_waiters;
        while (*p) {
                StatsWaiter *w = *p;
                bool hit = expired_only ? w->deadline_ms <= now : (st ? seq >= w->want_seq : true);
                if (hit) {
                        *p = w->next;
                        w->next = done;
                        done = w;
                } else
                        p = &w->next;
        }
        while (done) {
                StatsWaiter *w = done;
                done = w->next;
                char msg[128];
                const char *m = message;
                if (error == -ETIMEDOUT) {
                        snprintf(msg, sizeof(msg), "balloon stats did not arrive in %u ms", w->timeout_ms);
                        m = msg;
                }
                w->done(w->userdata, error, m, error < 0 ? NULL : st);
                free(w);
        }
}

static void on_kick(EvSource *s, int fd, uint32_t events, void *userdata)
{
        VirtioBalloon *b = userdata;
        uint64_t v;
        (void)!read(fd, &v, sizeof(v));

        virtio_pci_lock(b->vp);
        uint64_t actual = actual_pages_locked(b), target = b->num_pages, seq = b->stats_seq;
        BalloonStatsInfo st = b->latest;
        bool actual_dirty = b->actual_dirty, reset = b->reset_pending;
        char reason[sizeof(b->reset_reason)];
        memcpy(reason, b->reset_reason, sizeof(reason));
        b->actual_dirty = false;
        b->reset_pending = false;
        virtio_pci_unlock(b->vp);

        if (reset && b->cfg.device_reset)
                b->cfg.device_reset(b->cfg.userdata, "virtio-balloon", reason);
        if (actual_dirty && actual != b->reported_actual) {
                b->reported_actual = actual;
                if (b->cfg.resized)
                        b->cfg.resized(b->cfg.userdata, actual * GUEST_PAGE_SIZE, target * GUEST_PAGE_SIZE);
        }
        finish_set_waiters(b, set_reached, actual, 0, NULL);
        st.balloon_actual = actual * GUEST_PAGE_SIZE;
        finish_stats_waiters(b, false, 0, seq, &st, 0, NULL);
        rearm_timer(b);
}

static void on_timer(EvSource *s, int fd, uint32_t events, void *userdata)
{
        VirtioBalloon *b = userdata;
        uint64_t v;
        (void)!read(fd, &v, sizeof(v));
        uint64_t now = now_ms();
        finish_set_waiters(b, set_expired, now, -ETIMEDOUT, NULL);
        finish_stats_waiters(b, true, now, 0, NULL, -ETIMEDOUT, NULL);
        rearm_timer(b);
}

int virtio_balloon_set_target(VirtioBalloon *b, uint64_t bytes, bool wait, uint32_t timeout_ms, BalloonDoneFn done,
                              void *userdata, const char **ret_message)
{
        if (bytes > b->ram_pages * GUEST_PAGE_SIZE) {
                if (ret_message)
                        *ret_message = "balloon size exceeds guest memory";
                return -EINVAL;
        }
        if (wait && !done)
                return -EINVAL;
        uint64_t pages = bytes / GUEST_PAGE_SIZE;

        virtio_pci_lock(b->vp);
        bool changed = pages != b->num_pages;
        if (changed) {
                b->num_pages = (uint32_t)pages;
                virtio_pci_config_changed(b->vp);
        }
        uint64_t actual = actual_pages_locked(b);
        virtio_pci_unlock(b->vp);

        if (changed)
                finish_set_waiters(b, set_superseded, pages, -ECANCELED,
                                   "balloon target changed before it was reached");
        if (!wait || actual == pages)
                return 0;

        SetWaiter *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        timeout_ms = timeout_ms ?: BALLOON_DEFAULT_SET_TIMEOUT_MS;
        *w = (SetWaiter){ .target_pages = pages, .deadline_ms = now_ms() + timeout_ms, .timeout_ms = timeout_ms,
                          .done = done, .userdata = userdata, .next = b->set_waiters };
        b->set_waiters = w;
        rearm_timer(b);
        return BALLOON_PENDING;
}

int virtio_balloon_request_stats(VirtioBalloon *b, uint32_t timeout_ms, BalloonStatsDoneFn done, void *userdata,
                                 const char **ret_message)
{
        if (!done)
                return -EINVAL;

        virtio_pci_lock(b->vp);
        if (virtio_pci_driver_ok(b->vp) && !virtio_pci_feature_negotiated(b->vp, VIRTIO_BALLOON_F_STATS_VQ)) {
                virtio_pci_unlock(b->vp);
                if (ret_message)
                        *ret_message = "the guest balloon driver did not enable the stats queue";
                return -ENOTSUP;
        }
        uint64_t want = b->stats_seq + 1;
        /* Give the held buffer back: the driver refills it with fresh numbers and posts it again. */
        if (b->held && virtio_pci_queue_ready(b->vp, VIRTIO_BALLOON_Q_STATS)) {
                virtq_push(virtio_pci_queue(b->vp, VIRTIO_BALLOON_Q_STATS), b->held_head, 0);
                b->held = false;
                virtio_pci_queue_interrupt(b->vp, VIRTIO_BALLOON_Q_STATS);
        }
        virtio_pci_unlock(b->vp);

        StatsWaiter *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        timeout_ms = timeout_ms ?: BALLOON_DEFAULT_STATS_TIMEOUT_MS;
        *w = (StatsWaiter){ .want_seq = want, .deadline_ms = now_ms() + timeout_ms, .timeout_ms = timeout_ms,
                            .done = done, .userdata = userdata, .next = b->stats_waiters };
        b->stats_waiters = w;
        rearm_timer(b);
        return BALLOON_PENDING;
}

void virtio_balloon_get_info(VirtioBalloon *b, VirtioBalloonInfo *ret)
{
        virtio_pci_lock(b->vp);
        *ret = b->counters;
        ret->target_pages = b->num_pages;
        ret->actual_pages = actual_pages_locked(b);
        ret->status = virtio_pci_status(b->vp);
        virtio_pci_unlock(b->vp);
}

VirtioPci *virtio_balloon_transport(VirtioBalloon *b)
{
        return b->vp;
}

int virtio_balloon_new(const VirtioBalloonConfig *cfg, VirtioBalloon **ret)
{
        if (!cfg || !cfg->mem || !cfg->loop || cfg->mem->size < GUEST_PAGE_SIZE)
                return -EINVAL;
        VirtioBalloon *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->cfg = *cfg;
        b->mem = cfg->mem;
        b->loop = cfg->loop;
        b->ram_pages = MIN(cfg->mem->size / GUEST_PAGE_SIZE, (uint64_t)UINT32_MAX);
        balloon_stats_parse(NULL, 0, &b->latest);
        b->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        int r = b->kick_fd < 0 || b->timer_fd < 0 ? negative_errno() : 0;

        static const uint16_t queue_max[_VIRTIO_BALLOON_Q_MAX] = {
                VIRTIO_BALLOON_QUEUE_SIZE, VIRTIO_BALLOON_QUEUE_SIZE, VIRTIO_BALLOON_QUEUE_SIZE
        };
        if (r >= 0)
                r = virtio_pci_new(&(VirtioPciConfig){
                                           .name = "virtio-balloon",
                                           .device_type = VIRTIO_ID_BALLOON,
                                           .class_code = 0xff0000, /* "unassigned class", as kvmtool */
                                           .features = UINT64_C(1) << VIRTIO_BALLOON_F_STATS_VQ |
                                                       UINT64_C(1) << VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
                                           .num_queues = _VIRTIO_BALLOON_Q_MAX,
                                           .queue_max = queue_max,
                                           .config_size = VIRTIO_BALLOON_CONFIG_SIZE,
                                           .ops = &balloon_ops,
                                           .dev = b,
                                           .mem = cfg->mem,
                                           .needs_reset = on_needs_reset,
                                           .needs_reset_opaque = b,
                                   },
                                   &b->vp);
        if (r >= 0)
                r = evloop_add(b->loop, b->kick_fd, EPOLLIN, on_kick, b, &b->kick_src);
        if (r >= 0)
                r = evloop_add(b->loop, b->timer_fd, EPOLLIN, on_timer, b, &b->timer_src);
        if (r < 0) {
                virtio_balloon_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

VirtioBalloon *virtio_balloon_free(VirtioBalloon *b)
{
        if (!b)
                return NULL;
        finish_set_waiters(b, set_any, 0, -ESHUTDOWN, "balloon device is shutting down");
        finish_stats_waiters(b, false, 0, 0, NULL, -ESHUTDOWN, "balloon device is shutting down");
        b->kick_src = evloop_remove(b->kick_src);
        b->timer_src = evloop_remove(b->timer_src);
        safe_close(b->kick_fd);
        safe_close(b->timer_fd);
        virtio_pci_free(b->vp);
        free(b->pfns);
        free(b);
        return NULL;
}
