/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap swap-in: staged and file pages back into guest RAM with UFFDIO_COPY. A reader thread
 * reads the next chunks into a ring of buffers while the copying thread copies the current one, so
 * file reads and copies overlap instead of adding up. */
#include <fcntl.h>

#include "vmm_backend/swap/swap-internal.h"
#include "vmm_backend/swap/uffd.h"

#define IN_DEPTH 4u /* chunks planned ahead: 8 MiB of buffers (the file is read ahead further) */

/* A planned run of consecutive swapped pages. Its state is snapshotted when it is planned (lock
 * held), its content read without the lock, and only pages whose state is still the snapshot's are
 * copied (a fault or a balloon REMOVE may have taken some meanwhile). */
typedef struct InChunk {
        uint64_t first, n;
        uint8_t flags[SWAP_CHUNK_PAGES];  /* PAGE_STAGED of each page, as planned */
        uint32_t slots[SWAP_CHUNK_PAGES]; /* page_slot of each page, as planned */
        bool need_read;                   /* else all staged: copied straight from staging */
        bool ready;                       /* read (reader thread) */
        int error;                        /* the read's result, once ready */
        uint8_t *buf;                     /* SWAP_CHUNK_PAGES pages */
} InChunk;

/* The copying thread plans chunks [head, tail) into the ring, the reader fills them in order
 * (next is the one it works on) and the copier consumes them from head. */
typedef struct InPipe {
        SwapEngine *e;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        InChunk ring[IN_DEPTH];
        unsigned depth; /* IN_DEPTH with the reader thread; 1 without (reads inline) */
        uint64_t head, tail, next;
        bool stop, threaded;
        pthread_t thread;
        uint8_t *extra_bufs; /* ring buffers 1.., ring[0] uses e->worker_bounce */
        uint64_t ra_end;     /* file bytes below this were read ahead; reader only */
} InPipe;

/* Swap-in takes staging first (memory only, no I/O), then the file, as crosvm does. */
typedef enum InSource {
        IN_STAGED,
        IN_FILE,
        _IN_SOURCE_MAX,
} InSource;

static bool page_in_source(const SwapEngine *e, uint64_t p, InSource src)
{
        if (e->page_flags[p] & PAGE_STAGED)
                return src == IN_STAGED;
        return src == IN_FILE && (e->page_slot[p] & SLOT_PRESENT);
}

static void account_swapped_in(SwapEngine *e, uint64_t p, uint64_t n)
{
        for (uint64_t i = p; i < p + n; i++) {
                if (e->page_flags[i] & PAGE_STAGED) {
                        e->page_flags[i] &= (uint8_t)~PAGE_STAGED;
                        e->staging_pages--;
                } else if (e->page_slot[i] & SLOT_PRESENT) {
                        e->page_slot[i] &= ~SLOT_PRESENT;
                        e->swap_pages--;
                }
        }
        swap_staging_punch(e, p, n);
}

static int pread_full(int fd, uint8_t *dst, size_t len, off_t off)
{
        for (size_t got = 0; got < len;) {
                ssize_t r = pread(fd, dst + got, len - got, off + (off_t)got);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        return r < 0 ? negative_errno() : -EIO;
                got += (size_t)r;
        }
        return 0;
}

/* Ask the kernel to read the file ahead of the run of slots [s0, s0 + k): the next runs most
 * likely need the following slots (they are handed out in guest page order), so the disk works
 * while this run is copied. 4-8 MiB ahead, each byte asked for once (asking again for cached pages
 * costs a page-cache walk each time). */
static void read_ahead(SwapEngine *e, uint64_t *ra_end, uint32_t s0, uint64_t k)
{
        uint64_t want_end = ((uint64_t)s0 + k) * SWAP_PAGE + 8 * MIB;
        if (*ra_end < (uint64_t)s0 * SWAP_PAGE || *ra_end > want_end)
                *ra_end = (uint64_t)s0 * SWAP_PAGE; /* not a continuation: start over */
        if (want_end - *ra_end >= 4 * MIB) {
                (void)posix_fadvise(e->file_fd, (off_t)*ra_end, (off_t)(want_end - *ra_end), POSIX_FADV_WILLNEED);
                *ra_end = want_end;
        }
}

/* Read the chunk's content as planned into its buffer, lock not held: runs of staged pages with
 * pread from the staging memfd (a page a fault punched meanwhile reads as a hole, and is not
 * allocated again as a touch of the staging mapping would), runs of consecutive slots with pread
 * from the file. ra_end NULL: no read-ahead. */
static int chunk_read(SwapEngine *e, InChunk *c, uint64_t *ra_end)
{
        if (!c->need_read)
                return 0;
        for (uint64_t i = 0; i < c->n;) {
                uint64_t k = 1;
                int r;
                if (c->flags[i] & PAGE_STAGED) {
                        while (i + k < c->n && (c->flags[i + k] & PAGE_STAGED))
                                k++;
                        r = pread_full(e->staging_fd, c->buf + i * SWAP_PAGE, k * SWAP_PAGE,
                                       (off_t)((c->first + i) * SWAP_PAGE));
                } else {
                        uint32_t s0 = (c->slots[i] & ~SLOT_PRESENT) - 1;
                        while (i + k < c->n && !(c->flags[i + k] & PAGE_STAGED) &&
                               (c->slots[i + k] & ~SLOT_PRESENT) - 1 == s0 + k)
                                k++;
                        if (ra_end)
                                read_ahead(e, ra_end, s0, k);
                        r = atomic_load(&e->test_swap_in_error);
                        if (r == 0)
                                r = pread_full(e->file_fd, c->buf + i * SWAP_PAGE, k * SWAP_PAGE,
                                               (off_t)s0 * SWAP_PAGE);
                }
                if (r < 0)
                        return r;
                i += k;
        }
        return 0;
}

/* Plan a chunk from the first page swapped to src at or after *cursor: up to 2 MiB of consecutive
 * such pages below end, with a snapshot of their state. Lock held. Returns false if there is none. */
static bool chunk_plan(SwapEngine *e, InChunk *c, uint64_t *cursor, uint64_t end, InSource src)
{
        uint64_t p = *cursor, k = 0;
        while (p < end && !page_in_source(e, p, src))
                p++;
        c->first = p;
        c->need_read = false;
        c->ready = false;
        c->error = 0;
        for (; k < SWAP_CHUNK_PAGES && p + k < end && page_in_source(e, p + k, src); k++) {
                c->flags[k] = e->page_flags[p + k] & PAGE_STAGED;
                c->slots[k] = e->page_slot[p + k];
                c->need_read = c->need_read || !c->flags[k];
        }
        c->n = k;
        *cursor = p + k;
        return k > 0;
}

/* UFFDIO_COPY the chunk's pages whose state is still as planned; pages a fault or a REMOVE took
 * meanwhile are skipped, a page found swapped otherwise than planned is planned and read again
 * here. Lock held (dropped between copies so faults go first). */
static int chunk_copy(SwapEngine *e, InChunk *c, InSource src, uint64_t *done)
{
        uint64_t pos = c->first, end = c->first + c->n;

        while (pos < end) {
                if (e->abort_job)
                        return -ECANCELED;
                uint64_t i = pos - c->first, ok = 0;
                while (i + ok < c->n && (e->page_flags[pos + ok] & PAGE_STAGED) == c->flags[i + ok] &&
                       e->page_slot[pos + ok] == c->slots[i + ok])
                        ok++;
                if (ok == 0) {
                        if (!page_in_source(e, pos, src)) {
                                pos++; /* faulted in or removed: the guest's state wins */
                                continue;
                        }
                        /* Cannot happen today (only enable and swap-out make pages swapped, and
                         * they stop swap-in first); still never copy content not validated. */
                        uint64_t cursor = pos;
                        (void)chunk_plan(e, c, &cursor, end, src);
                        pthread_mutex_unlock(&e->lock);
                        int r = chunk_read(e, c, NULL);
                        pthread_mutex_lock(&e->lock);
                        if (r < 0)
                                return r;
                        continue;
                }

                const uint8_t *from = c->need_read ? c->buf + i * SWAP_PAGE : e->staging + pos * SWAP_PAGE;
                size_t copied;
                int cr = uffd_copy(e->uffd, swap_guest_page(e, pos), from, ok * SWAP_PAGE, true, &copied);
                uint64_t d = copied / SWAP_PAGE;
                if (d > 0) {
                        account_swapped_in(e, pos, d);
                        pos += d;
                        *done += d;
                        e->transition_pages += d;
                }
                if (cr == 0 || cr == -EAGAIN) {
                        /* Between copies faults go first; EAGAIN without progress means mappings
                         * are changing (the fault thread must read a REMOVE event first). */
                        pthread_mutex_unlock(&e->lock);
                        if (cr == -EAGAIN && d == 0)
                                usleep(100);
                        swap_yield_to_faults(e);
                        pthread_mutex_lock(&e->lock);
                } else if (cr == -EEXIST) {
                        /* The page is in guest RAM already: the guest's copy wins. */
                        account_swapped_in(e, pos, 1);
                        e->redundant++;
                        pos++;
                } else if (cr < 0)
                        return cr;
        }
        return 0;
}

static void *reader_thread(void *userdata)
{
        InPipe *pp = userdata;

        pthread_mutex_lock(&pp->lock);
        for (;;) {
                while (!pp->stop && pp->next == pp->tail)
                        pthread_cond_wait(&pp->cond, &pp->lock);
                if (pp->stop)
                        break;
                InChunk *c = &pp->ring[pp->next % pp->depth];
                pthread_mutex_unlock(&pp->lock);
                int r = chunk_read(pp->e, c, &pp->ra_end);
                pthread_mutex_lock(&pp->lock);
                c->error = r;
                c->ready = true;
                pp->next++;
                pthread_cond_broadcast(&pp->cond);
        }
        pthread_mutex_unlock(&pp->lock);
        return NULL;
}

/* Lock not held. Without memory or a thread, reads go inline with one buffer (the serial way). */
static void pipe_start(InPipe *pp, SwapEngine *e)
{
        *pp = (InPipe){ .e = e, .depth = 1 };
        pp->ring[0].buf = e->worker_bounce;
        pthread_mutex_init(&pp->lock, NULL);
        pthread_cond_init(&pp->cond, NULL);

        pp->extra_bufs = aligned_alloc(SWAP_PAGE, (IN_DEPTH - 1) * SWAP_CHUNK_PAGES * SWAP_PAGE);
        if (!pp->extra_bufs)
                return;
        if (pthread_create(&pp->thread, NULL, reader_thread, pp) != 0) {
                free(pp->extra_bufs);
                pp->extra_bufs = NULL;
                return;
        }
        (void)pthread_setname_np(pp->thread, "vmm-swap-in");
        pp->threaded = true;
        pp->depth = IN_DEPTH;
        for (unsigned i = 1; i < IN_DEPTH; i++)
                pp->ring[i].buf = pp->extra_bufs + (size_t)(i - 1) * SWAP_CHUNK_PAGES * SWAP_PAGE;
}

/* Lock not held. */
static void pipe_stop(InPipe *pp)
{
        if (pp->threaded) {
                pthread_mutex_lock(&pp->lock);
                pp->stop = true;
                pthread_cond_broadcast(&pp->cond);
                pthread_mutex_unlock(&pp->lock);
                pthread_join(pp->thread, NULL);
                pp->threaded = false;
        }
        free(pp->extra_bufs);
        pp->extra_bufs = NULL;
        pthread_cond_destroy(&pp->cond);
        pthread_mutex_destroy(&pp->lock);
}

/* Hand the chunk just planned at tail to the reader. Lock held. */
static void pipe_submit(InPipe *pp)
{
        pthread_mutex_lock(&pp->lock);
        pp->tail++;
        pthread_cond_signal(&pp->cond);
        pthread_mutex_unlock(&pp->lock);
}

/* Wait until the chunk at head is read (or read it here without the thread). The lock is dropped
 * meanwhile, so faults are served. */
static InChunk *pipe_wait_head(InPipe *pp)
{
        SwapEngine *e = pp->e;
        InChunk *c = &pp->ring[pp->head % pp->depth];

        pthread_mutex_unlock(&e->lock);
        if (pp->threaded) {
                pthread_mutex_lock(&pp->lock);
                while (!c->ready)
                        pthread_cond_wait(&pp->cond, &pp->lock);
                pthread_mutex_unlock(&pp->lock);
        } else {
                c->error = chunk_read(e, c, &pp->ra_end);
                c->ready = true;
        }
        pthread_mutex_lock(&e->lock);
        return c;
}

/* UFFDIO_COPY every staged, then every file-present page in [first, first+n) back into guest RAM,
 * in runs of <= 2 MiB read ahead by the reader thread, skipping pages the guest faulted in
 * meanwhile. Lock held (dropped while waiting for reads and between copies). */
int swap_copy_in_range(SwapEngine *e, uint64_t first, uint64_t n, uint64_t *ret_done)
{
        uint64_t end = first + n, done = 0;
        InPipe pp;
        int r = 0;

        pthread_mutex_unlock(&e->lock);
        pipe_start(&pp, e);
        pthread_mutex_lock(&e->lock);

        for (InSource src = IN_STAGED; r == 0 && src < _IN_SOURCE_MAX; src++) {
                /* The ring is empty between passes: every planned chunk was consumed. */
                uint64_t cursor = first;
                for (;;) {
                        if (e->abort_job) {
                                r = -ECANCELED;
                                break;
                        }
                        while (pp.tail - pp.head < pp.depth &&
                               chunk_plan(e, &pp.ring[pp.tail % pp.depth], &cursor, end, src))
                                pipe_submit(&pp);
                        if (pp.head == pp.tail)
                                break;
                        InChunk *c = pipe_wait_head(&pp);
                        r = c->error < 0 ? c->error : chunk_copy(e, c, src, &done);
                        pp.head++;
                        if (r < 0)
                                break;
                }
        }

        pthread_mutex_unlock(&e->lock);
        pipe_stop(&pp);
        pthread_mutex_lock(&e->lock);
        if (ret_done)
                *ret_done = done;
        return r;
}
