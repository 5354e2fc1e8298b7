/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-swap fault thread: the only reader of the userfaultfd. It never touches guest RAM
 * itself (only through UFFDIO_* ioctls), so it can never fault on it. Per fault, in crosvm's order
 * (reference/vmm.md §1.4): staging, else the swap file, else a zero page. */
#include <linux/userfaultfd.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>

#include "vmm_backend/swap/swap-internal.h"
#include "vmm_backend/swap/uffd.h"

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
}

typedef struct FaultQueue {
        uint64_t *pages;
        size_t n, cap;
} FaultQueue;

static int queue_push(FaultQueue *q, uint64_t p)
{
        if (q->n == q->cap) {
                size_t cap = q->cap ? q->cap * 2 : 256;
                uint64_t *np = realloc(q->pages, cap * sizeof(uint64_t));
                if (!np)
                        return -ENOMEM;
                q->pages = np;
                q->cap = cap;
        }
        q->pages[q->n++] = p;
        return 0;
}

/* Read every queued message (the uffd behaves edge-triggered for us: read until empty). REMOVE
 * events are applied at once; faults are queued. Returns the number of messages read. Lock held. */
static size_t drain(SwapEngine *e, FaultQueue *q)
{
        struct uffd_msg msgs[64];
        size_t total = 0;
        uint64_t base = (uintptr_t)e->mem.host, end = base + e->mem.size;

        for (;;) {
                ssize_t k = read(e->uffd, msgs, sizeof(msgs));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        break; /* EAGAIN: empty */
                }
                size_t n = (size_t)k / sizeof(struct uffd_msg);
                for (size_t i = 0; i < n; i++) {
                        const struct uffd_msg *m = &msgs[i];
                        if (m->event == UFFD_EVENT_PAGEFAULT) {
                                uint64_t a = m->arg.pagefault.address;
                                if (a < base || a >= end)
                                        continue;
                                if (queue_push(q, (a - base) / SWAP_PAGE) < 0) {
                                        /* Cannot remember it: serve it right away instead. */
                                        swap_set_error(e, -ENOMEM, "fault queue");
                                }
                        } else if (m->event == UFFD_EVENT_REMOVE) {
                                uint64_t s = MAX(m->arg.remove.start, base), t = MIN(m->arg.remove.end, end);
                                if (s >= t)
                                        continue;
                                uint64_t first = (s - base) / SWAP_PAGE;
                                uint64_t last = DIV_ROUND_UP(t - base, SWAP_PAGE);
                                swap_pages_removed(e, first, last - first);
                        }
                }
                total += n;
                if (n < ELEMENTSOF(msgs))
                        break;
        }
        return total;
}

/* Mappings are changing (a REMOVE is in flight): its event must be read before any fill can
 * succeed. Read it; if it was read already, give the madvise caller a moment to finish. */
static void drain_for_eagain(SwapEngine *e, FaultQueue *q)
{
        if (drain(e, q) == 0)
                sched_yield();
}

/* Account pages [p, p+n) that were just filled from staging/file into guest RAM. */
static void account_filled(SwapEngine *e, uint64_t p, uint64_t n, bool speculative_tail)
{
        uint64_t run = UINT64_MAX;
        for (uint64_t i = p; i < p + n; i++) {
                bool punch = false;
                if (e->page_flags[i] & PAGE_STAGED) {
                        e->page_flags[i] &= (uint8_t)~PAGE_STAGED;
                        e->staging_pages--;
                        e->copied_from_staging++;
                        /* A page swap-out is writing keeps its staging copy until the commit, so
                         * the write reads whole data. */
                        punch = !(e->page_flags[i] & PAGE_WRITING);
                } else if (e->page_slot[i] & SLOT_PRESENT) {
                        /* Stale but kept: trim compares against it after the next enable. */
                        e->page_slot[i] &= ~SLOT_PRESENT;
                        e->swap_pages--;
                        e->copied_from_file++;
                }
                if (punch && run == UINT64_MAX)
                        run = i;
                else if (!punch && run != UINT64_MAX) {
                        swap_staging_punch(e, run, i - run);
                        run = UINT64_MAX;
                }
        }
        if (run != UINT64_MAX)
                swap_staging_punch(e, run, p + n - run);
        if (speculative_tail && n > 1)
                e->fault_around += n - 1;
}

static bool page_swapped(SwapEngine *e, uint64_t p)
{
        return (e->page_flags[p] & PAGE_STAGED) || (e->page_slot[p] & SLOT_PRESENT);
}

/* Where to copy n pages from: staging directly, the file mapping directly (consecutive slots), or
 * the bounce buffer assembled from both. */
static const void *cluster_source(SwapEngine *e, uint64_t p, uint64_t n)
{
        bool all_staged = true, file_run = true;
        uint32_t slot0 = (e->page_slot[p] & ~SLOT_PRESENT) - 1;
        for (uint64_t i = 0; i < n; i++) {
                bool st = e->page_flags[p + i] & PAGE_STAGED;
                all_staged = all_staged && st;
                file_run = file_run && !st && (e->page_slot[p + i] & ~SLOT_PRESENT) - 1 == slot0 + i;
        }
        if (all_staged)
                return e->staging + p * SWAP_PAGE;
        if (file_run)
                return e->file_map + (uint64_t)slot0 * SWAP_PAGE;
        for (uint64_t i = 0; i < n; i++) {
                const uint8_t *src;
                if (e->page_flags[p + i] & PAGE_STAGED)
                        src = e->staging + (p + i) * SWAP_PAGE;
                else
                        src = e->file_map + (uint64_t)((e->page_slot[p + i] & ~SLOT_PRESENT) - 1) * SWAP_PAGE;
                memcpy(e->fault_bounce + i * SWAP_PAGE, src, SWAP_PAGE);
        }
        return e->fault_bounce;
}

/* Fault-around: sequential faults grow the cluster 1 -> 16 -> 64 -> 256 pages, anything else
 * resets it. Only pages that still have a staged/file copy are included (they are missing from
 * guest RAM), so a page the guest already has is never overwritten. */
static uint64_t cluster_size(SwapEngine *e, uint64_t p)
{
        unsigned w = 1;
        if (p == e->fa_next)
                w = e->fa_window < 16 ? 16 : MIN(e->fa_window * 4, SWAP_FAULT_AROUND_MAX);
        e->fa_window = w;
        uint64_t n = 1;
        while (n < w && p + n < e->npages && page_swapped(e, p + n))
                n++;
        return n;
}

/* A sequential stream through file pages: ask the kernel to read the next few MiB of slots now,
 * so the disk works while the guest consumes this cluster (slots are handed out in guest page
 * order, so the stream's next pages are the next slots). */
static void readahead_stream(SwapEngine *e, uint64_t p, uint64_t n)
{
        if (e->fa_window < 16 || (e->page_flags[p + n - 1] & PAGE_STAGED) ||
            !(e->page_slot[p + n - 1] & SLOT_PRESENT))
                return;
        uint64_t next = (e->page_slot[p + n - 1] & ~SLOT_PRESENT); /* slot + 1 */
        if (next >= e->fa_ra_end || next + SWAP_FAULT_READAHEAD_SLOTS < e->fa_ra_end)
                e->fa_ra_end = next; /* not covered, or the stream jumped back: from here */
        if (e->fa_ra_end - next > SWAP_FAULT_READAHEAD_SLOTS / 2)
                return; /* enough in flight */
        uint64_t end = MIN(next + SWAP_FAULT_READAHEAD_SLOTS, e->npages);
        if (end > e->fa_ra_end)
                (void)posix_fadvise(e->file_fd, (off_t)(e->fa_ra_end * SWAP_PAGE),
                                    (off_t)((end - e->fa_ra_end) * SWAP_PAGE), POSIX_FADV_WILLNEED);
        e->fa_ra_end = end;
}

/* Serve one fault on page p. Lock held. Retries until the faulting thread is woken. */
static void serve(SwapEngine *e, FaultQueue *q, uint64_t p)
{
        void *dst = swap_guest_page(e, p);
        unsigned failures = 0;

        /* Queued before a disable unregistered the range: the kernel woke the thread already. */
        if (!e->registered || p >= e->npages)
                return;

        for (;;) {
                int r;
                if (!page_swapped(e, p)) {
                        r = uffd_zeropage(e->uffd, dst, SWAP_PAGE);
                        if (r == 0) {
                                e->zeroed++;
                        } else if (r == -EEXIST) {
                                /* Already filled (e.g. two threads faulted on it): wake only. */
                                (void)uffd_wake(e->uffd, dst, SWAP_PAGE);
                                e->redundant++;
                                r = 0;
                        }
                        if (r == 0) {
                                e->fa_next = p + 1;
                                return;
                        }
                } else {
                        uint64_t n = cluster_size(e, p);
                        readahead_stream(e, p, n);
                        const void *src = cluster_source(e, p, n);
                        size_t copied;
                        r = uffd_copy(e->uffd, dst, src, n * SWAP_PAGE, true, &copied);
                        uint64_t done = copied / SWAP_PAGE;
                        if (done > 0) {
                                /* p itself is in (partial progress stops at a later page). */
                                account_filled(e, p, done, true);
                                e->fa_next = p + done;
                                return;
                        }
                        if (r == 0)
                                return;
                        if (r == -EEXIST) {
                                /* p got content without a fault through us: the guest's copy wins. */
                                if (e->page_flags[p] & PAGE_STAGED) {
                                        e->page_flags[p] &= (uint8_t)~PAGE_STAGED;
                                        e->staging_pages--;
                                        if (!(e->page_flags[p] & PAGE_WRITING))
                                                swap_staging_punch(e, p, 1);
                                }
                                if (e->page_slot[p] & SLOT_PRESENT) {
                                        e->page_slot[p] &= ~SLOT_PRESENT;
                                        e->swap_pages--;
                                }
                                (void)uffd_wake(e->uffd, dst, SWAP_PAGE);
                                e->redundant++;
                                return;
                        }
                }
                if (r == -EAGAIN) {
                        drain_for_eagain(e, q);
                        continue;
                }
                /* ENOMEM and the like: the faulting thread stays blocked until we succeed; report it
                 * and retry with a growing pause (without the lock, so status still answers). */
                swap_set_error(e, r, "serving a fault at guest page %" PRIu64, p);
                failures++;
                pthread_mutex_unlock(&e->lock);
                usleep(MIN(failures, 100u) * 1000u);
                pthread_mutex_lock(&e->lock);
                if (e->quit || !e->registered)
                        return;
        }
}

static void *fault_thread(void *userdata)
{
        SwapEngine *e = userdata;
        FaultQueue q = {};
        struct pollfd pfd[2] = {
                { .fd = e->uffd, .events = POLLIN },
                { .fd = e->fault_stop_fd, .events = POLLIN },
        };

        bool spin = false;
        for (;;) {
                /* Faults come in streams (a vCPU touching one missing page after another): after a
                 * batch, spin on the uffd for a little while, so the next fault costs no wakeup of
                 * this thread (a cross-CPU wakeup is tens of µs on this virtualised host). */
                if (spin) {
                        uint64_t until = swap_now_ns() + SWAP_FAULT_SPIN_NS;
                        int k;
                        while ((k = poll(pfd, 2, 0)) == 0 && swap_now_ns() < until)
                                cpu_relax();
                        spin = false;
                        if (k > 0)
                                goto ready;
                }
                if (poll(pfd, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
        ready:
                if (pfd[1].revents)
                        break;
                if (!(pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
                        continue;

                atomic_store(&e->fault_busy, true);
                pthread_mutex_lock(&e->lock);
                q.n = 0;
                (void)drain(e, &q);
                for (size_t i = 0; i < q.n; i++)
                        serve(e, &q, q.pages[i]);
                pthread_mutex_unlock(&e->lock);
                atomic_store(&e->fault_busy, false);
                spin = q.n > 0;
        }
        free(q.pages);
        return NULL;
}

int swap_fault_thread_start(SwapEngine *e)
{
        int r = pthread_create(&e->fault_thread, NULL, fault_thread, e);
        if (r != 0)
                return -r;
        e->fault_thread_started = true;
        (void)pthread_setname_np(e->fault_thread, "vmm-swap-fault");
        return 0;
}

void swap_fault_thread_stop(SwapEngine *e)
{
        if (!e->fault_thread_started)
                return;
        uint64_t one = 1;
        (void)!write(e->fault_stop_fd, &one, sizeof(one));
        pthread_join(e->fault_thread, NULL);
        e->fault_thread_started = false;
}

/* Background jobs run this between steps (crosvm: write chunks only when no uffd event is
 * pending). Bounded, so a fault storm slows a job down but never stops it. */
void swap_yield_to_faults(SwapEngine *e)
{
        struct pollfd pfd = { .fd = e->uffd, .events = POLLIN };
        for (unsigned i = 0; i < 200; i++) {
                if (!atomic_load(&e->fault_busy) && poll(&pfd, 1, 0) <= 0)
                        return;
                usleep(50);
        }
}
