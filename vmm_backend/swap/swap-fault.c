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
        /* A fault could not be queued (no memory): its thread stays blocked until woken. */
        bool overflow;
} FaultQueue;

static int queue_push(SwapEngine *e, FaultQueue *q, uint64_t p)
{
        size_t limit = atomic_load(&e->test_fault_queue_limit);
        if (limit && q->n >= limit)
                return -ENOMEM;
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
                                if (queue_push(e, q, (a - base) / SWAP_PAGE) < 0) {
                                        /* Cannot remember it: after this round every waiter
                                         * is woken and faults again (a fresh message). */
                                        swap_set_error(e, -ENOMEM, "fault queue");
                                        q->overflow = true;
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

/* p has content in guest RAM that did not come through us (UFFDIO_COPY said EEXIST): forget its
 * staged and file copies; the guest's copy wins. */
static void forget_swapped(SwapEngine *e, uint64_t p)
{
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
}

/* pread exactly len bytes at off. */
static int read_at(int fd, uint8_t *buf, size_t len, off_t off)
{
        size_t got = 0;
        while (got < len) {
                ssize_t r = pread(fd, buf + got, len - got, off + (off_t)got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return negative_errno();
                if (r == 0)
                        return -EIO;
                got += (size_t)r;
        }
        return 0;
}

/* Read pages [p, p+n) (each staged or with a present file copy) into the fault bounce buffer, one
 * pread per run of staged pages or of consecutive slots. UFFDIO_COPY then copies from memory that
 * is mapped already: copying straight from the staging or file mapping takes the kernel's slow
 * path (drop the locks, fault the source in, retry) for every source page not mapped yet, and a
 * file page not read yet would be read by that page fault, one at a time. */
static int fill_bounce_from_sources(SwapEngine *e, uint64_t p, uint64_t n)
{
        for (uint64_t i = 0; i < n;) {
                bool st = e->page_flags[p + i] & PAGE_STAGED;
                uint32_t s0 = (e->page_slot[p + i] & ~SLOT_PRESENT) - 1;
                uint64_t k = 1;
                while (i + k < n && (bool)(e->page_flags[p + i + k] & PAGE_STAGED) == st &&
                       (st || (e->page_slot[p + i + k] & ~SLOT_PRESENT) - 1 == s0 + k))
                        k++;
                int r = read_at(st ? e->staging_fd : e->file_fd, e->fault_bounce + i * SWAP_PAGE, k * SWAP_PAGE,
                                st ? (off_t)((p + i) * SWAP_PAGE) : (off_t)s0 * SWAP_PAGE);
                if (r < 0)
                        return r;
                i += k;
        }
        return 0;
}

/* The run of swapped pages from p, at most max long and not beyond limit. */
static uint64_t swapped_run(SwapEngine *e, uint64_t p, uint64_t max, uint64_t limit)
{
        uint64_t n = 0;
        limit = MIN(limit, e->npages);
        while (n < max && p + n < limit && page_swapped(e, p + n))
                n++;
        return n;
}

/* Whether any page in [from, to) is swapped (to - from is small). */
static bool any_swapped(SwapEngine *e, uint64_t from, uint64_t to)
{
        for (uint64_t p = from; p < to; p++)
                if (page_swapped(e, p))
                        return true;
        return false;
}

/* Fault-around: sequential faults grow the cluster 1 -> 16 -> 64 -> 256 pages, anything else
 * resets it. Only pages that still have a staged/file copy are included (they are missing from
 * guest RAM), so a page the guest already has is never overwritten. A fault a little past the
 * previous cluster counts as sequential only if the guest skipped nothing swapped on the way (it
 * went over pages it had): scattered faults in one area (code, stacks, page tables) are no stream,
 * and must not pull the data around them back into RAM. */
static uint64_t cluster_size(SwapEngine *e, uint64_t p)
{
        unsigned w = 1;
        if (e->fa_next != UINT64_MAX && p >= e->fa_next && p - e->fa_next < SWAP_FAULT_AROUND_MAX &&
            !any_swapped(e, e->fa_next, p))
                w = e->fa_window < 16 ? 16 : MIN(e->fa_window * 4, SWAP_FAULT_AROUND_MAX);
        e->fa_window = w;
        return MAX(swapped_run(e, p, w, e->npages), UINT64_C(1));
}

/* File slots a sequential stream will want next: ask the kernel to read the next few MiB of them
 * now, so the disk works while this cluster is copied and consumed (slots are handed out in guest
 * page order, so the stream's next pages are the next slots). last: the stream's latest page. */
static void readahead_stream(SwapEngine *e, uint64_t last)
{
        if ((e->page_flags[last] & PAGE_STAGED) || !(e->page_slot[last] & SLOT_PRESENT))
                return;
        uint64_t next = (e->page_slot[last] & ~SLOT_PRESENT); /* slot + 1 */
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

/* Copy n swapped pages from p into guest RAM (waking anyone faulting on them). Returns the pages
 * copied (> 0), or a negative errno with nothing copied. */
static int64_t copy_cluster(SwapEngine *e, uint64_t p, uint64_t n, bool speculative_tail)
{
        int r = fill_bounce_from_sources(e, p, n);
        if (r < 0)
                return r;
        size_t copied;
        r = uffd_copy(e->uffd, swap_guest_page(e, p), e->fault_bounce, n * SWAP_PAGE, true, &copied);
        uint64_t done = copied / SWAP_PAGE;
        if (done > 0) {
                /* p itself is in (partial progress stops at a later page). */
                account_filled(e, p, done, speculative_tail);
                return (int64_t)done;
        }
        return r < 0 ? r : -EIO;
}

/* The stream is followed to page p (a fault at p, or a cluster copied up to p): prefetch up to a
 * window past it, with a trip page at half the window. */
static void prefetch_follow(SwapEngine *e, uint64_t guest_at, uint64_t next)
{
        if (!e->pf_active || next > e->pf_next)
                e->pf_next = next;
        e->pf_active = true;
        e->pf_end = MIN(guest_at + SWAP_PREFETCH_PAGES, e->npages);
        e->pf_trip_at = MAX(guest_at + SWAP_PREFETCH_PAGES / 2, e->pf_next);
        e->pf_trip = UINT64_MAX;
}

/* Where a fault at p stands relative to the prefetched stream. */
static bool prefetch_hit(SwapEngine *e, uint64_t p)
{
        if (!e->pf_active)
                return false;
        /* The trip page (the guest got halfway), or a page past what was prefetched (the guest
         * overtook the copy), within reach of the stream. */
        return p == e->pf_trip || (p >= e->pf_next && p - e->pf_next < SWAP_FAULT_AROUND_MAX);
}

/* One step of the prefetch, while no fault is pending: the next run of swapped pages of the
 * stream, up to the trip position, into guest RAM. Returns false when the stream is done. */
static bool prefetch_step(SwapEngine *e)
{
        if (!e->pf_active || !e->registered || e->quit)
                return e->pf_active = false;
        /* Resident or zero pages are skipped (bounded, so one step stays short). */
        for (unsigned skipped = 0; e->pf_next < e->pf_end && !page_swapped(e, e->pf_next); skipped++) {
                if (skipped == 4 * SWAP_FAULT_AROUND_MAX)
                        return true;
                e->pf_next++;
        }
        if (e->pf_next >= e->pf_end)
                return e->pf_active = false;
        if (e->pf_trip == UINT64_MAX && e->pf_next >= e->pf_trip_at) {
                /* Left out: its fault says the guest got here. */
                e->pf_trip = e->pf_next++;
                return true;
        }
        uint64_t limit = e->pf_trip == UINT64_MAX ? e->pf_trip_at : e->pf_end;
        uint64_t n = swapped_run(e, e->pf_next, SWAP_FAULT_AROUND_MAX, limit);
        if (n == 0)
                return true; /* at the trip position: next step picks the trip */
        readahead_stream(e, e->pf_next + n - 1);
        int64_t done = copy_cluster(e, e->pf_next, n, false);
        if (done > 0) {
                e->fault_around += (uint64_t)done;
                e->pf_next += (uint64_t)done;
                return true;
        }
        if (done == -EEXIST) {
                /* The page has content already (filled without a fault through us): the guest's
                 * copy wins, as in serve(). */
                forget_swapped(e, e->pf_next);
                e->pf_next++;
                return true;
        }
        /* EAGAIN (mappings changing) and errors: leave the rest to the faults. */
        return e->pf_active = false;
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
                                /* Already filled (e.g. two threads faulted on it, or a prefetch
                                 * copied it in meanwhile): wake only. */
                                (void)uffd_wake(e->uffd, dst, SWAP_PAGE);
                                e->redundant++;
                                r = 0;
                        }
                        if (r == 0) {
                                e->fa_next = p + 1;
                                return;
                        }
                } else {
                        bool stream = prefetch_hit(e, p);
                        uint64_t n = stream ? MAX(swapped_run(e, p, SWAP_FAULT_AROUND_MAX, e->npages), UINT64_C(1))
                                            : cluster_size(e, p);
                        if (stream || e->fa_window >= 16)
                                readahead_stream(e, p + n - 1);
                        int64_t done = copy_cluster(e, p, n, true);
                        if (done > 0) {
                                e->fa_next = p + (uint64_t)done;
                                /* A stream (the fourth sequential fault in a row, or the guest
                                 * reaching the prefetched part): copy on ahead of it. */
                                if (stream || e->fa_window >= SWAP_FAULT_AROUND_MAX)
                                        prefetch_follow(e, p, p + (uint64_t)done);
                                return;
                        }
                        r = (int)done;
                        if (r == -EEXIST) {
                                /* p got content without a fault through us: the guest's copy wins. */
                                forget_swapped(e, p);
                                (void)uffd_wake(e->uffd, dst, SWAP_PAGE);
                                e->redundant++;
                                return;
                        }
                }
                if (r == -EAGAIN) {
                        drain_for_eagain(e, q);
                        continue;
                }
                /* ENOMEM, a read error and the like: the faulting thread stays blocked until we
                 * succeed; report it and retry with a growing pause (without the lock, so status
                 * still answers). */
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

        /* Map the bounce buffer now: UFFDIO_COPY from an unmapped source takes the slow path. */
        memset(e->fault_bounce, 0, SWAP_FAULT_AROUND_MAX * SWAP_PAGE);

        bool spin = false, prefetching = false;
        for (;;) {
                /* A sequential stream: copy on ahead of it, one cluster per step, as long as no
                 * fault is pending (faults always go first). */
                if (prefetching) {
                        int k = poll(pfd, 2, 0);
                        if (k < 0 && errno != EINTR)
                                break;
                        if (k > 0)
                                goto ready;
                        if (k == 0) {
                                pthread_mutex_lock(&e->lock);
                                prefetching = prefetch_step(e);
                                pthread_mutex_unlock(&e->lock);
                                spin = !prefetching;
                        }
                        continue;
                }
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
                if (q.overflow) {
                        /* A woken thread whose page is still missing faults again (the kernel
                         * retries the fault), so no fault is ever lost. */
                        q.overflow = false;
                        (void)uffd_wake(e->uffd, e->mem.host, e->mem.size);
                }
                prefetching = e->pf_active;
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
