/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap background jobs: trim, swap-out, swap-in and slow file cleanup. Each is entered with
 * the lock held and drops it for I/O and between steps, so faults are served meanwhile. */
#include <fcntl.h>
#include <sys/uio.h>

#include "vmm_backend/swap/swap-internal.h"
#include "vmm_backend/swap/uffd.h"

typedef struct PageRef {
        uint64_t page;
        uint32_t slot; /* trim: page_slot value seen; swap-out: file slot written */
        uint8_t kind;
} PageRef;

static void unlock_yield_lock(SwapEngine *e)
{
        pthread_mutex_unlock(&e->lock);
        swap_yield_to_faults(e);
        pthread_mutex_lock(&e->lock);
}

/* Punch the staging copies of the listed pages (sorted by page), one call per run. */
static void punch_refs(SwapEngine *e, const PageRef *refs, size_t n, bool (*pick)(SwapEngine *, const PageRef *))
{
        uint64_t run = UINT64_MAX, prev = 0;
        for (size_t i = 0; i < n; i++) {
                bool want = pick(e, &refs[i]);
                if (want && run != UINT64_MAX && refs[i].page == prev + 1) {
                        prev = refs[i].page;
                        continue;
                }
                if (run != UINT64_MAX)
                        swap_staging_punch(e, run, prev + 1 - run);
                run = want ? refs[i].page : UINT64_MAX;
                prev = refs[i].page;
        }
        if (run != UINT64_MAX)
                swap_staging_punch(e, run, prev + 1 - run);
}

/* --- trim ------------------------------------------------------------------------------------ */

enum { TRIM_KEEP, TRIM_ZERO, TRIM_CLEAN };

static bool trim_pick(SwapEngine *e, const PageRef *r)
{
        return r->kind == TRIM_ZERO || r->kind == TRIM_CLEAN;
}

/* Drop from staging (crosvm TrimContext): all-zero pages (a later fault gets a zero page; their
 * file slot is freed) and pages equal to the stale copy already in the file (the copy is marked
 * present again, so the next swap-out need not write them). Steps of <= 1024 pages; the content
 * checks run without the lock and are applied only to pages whose state did not change. */
void swap_job_trim(SwapEngine *e)
{
        PageRef refs[SWAP_TRIM_STEP_PAGES];
        uint8_t *buf = e->worker_bounce;
        uint64_t cursor = 0;

        while (cursor < e->npages && !e->abort_job) {
                size_t n = 0;
                for (unsigned scanned = 0; cursor < e->npages && n < ELEMENTSOF(refs) && scanned < 65536;
                     cursor++, scanned++) {
                        if ((e->page_flags[cursor] & (PAGE_STAGED | PAGE_WRITING)) == PAGE_STAGED)
                                refs[n++] = (PageRef){ .page = cursor, .slot = e->page_slot[cursor] };
                }
                pthread_mutex_unlock(&e->lock);

                for (size_t i = 0; i < n; i++) {
                        const uint8_t *pg = e->staging + refs[i].page * SWAP_PAGE;
                        refs[i].kind = TRIM_KEEP;
                        if (swap_page_is_zero(pg))
                                refs[i].kind = TRIM_ZERO;
                        else if (refs[i].slot != 0 && !(refs[i].slot & SLOT_PRESENT)) {
                                off_t off = (off_t)(refs[i].slot - 1) * SWAP_PAGE;
                                if (pread(e->file_fd, buf, SWAP_PAGE, off) == SWAP_PAGE &&
                                    memcmp(buf, pg, SWAP_PAGE) == 0)
                                        refs[i].kind = TRIM_CLEAN;
                        }
                }

                pthread_mutex_lock(&e->lock);
                for (size_t i = 0; i < n; i++) {
                        uint64_t p = refs[i].page;
                        if (refs[i].kind == TRIM_KEEP)
                                continue;
                        if (!(e->page_flags[p] & PAGE_STAGED) || e->page_slot[p] != refs[i].slot) {
                                refs[i].kind = TRIM_KEEP; /* a fault or a REMOVE got there first */
                                continue;
                        }
                        e->page_flags[p] &= (uint8_t)~PAGE_STAGED;
                        e->staging_pages--;
                        if (refs[i].kind == TRIM_ZERO)
                                swap_page_drop_file(e, p);
                        else {
                                e->page_slot[p] |= SLOT_PRESENT;
                                e->swap_pages++;
                        }
                        e->transition_pages++;
                }
                punch_refs(e, refs, n, trim_pick);
                unlock_yield_lock(e);
        }
        swap_transition_end(e);
        if (!e->abort_job)
                swap_set_state(e, SWAP_STATE_PENDING);
}

/* --- swap-out -------------------------------------------------------------------------------- */

/* pwritev runs of consecutive slots. Returns the number of leading refs written completely;
 * *ret_error gets the error that stopped it. Lock not held: staging content of a WRITING page
 * stays intact until its commit (the fault thread defers the punch). */
static size_t write_refs(SwapEngine *e, const PageRef *refs, size_t n, int *ret_error)
{
        struct iovec iov[SWAP_CHUNK_PAGES];
        size_t i = 0;

        while (i < n) {
                size_t k = 1;
                while (i + k < n && refs[i + k].slot == refs[i].slot + k)
                        k++;
                size_t niov = 0;
                for (size_t j = 0; j < k; j++) {
                        uint8_t *src = e->staging + refs[i + j].page * SWAP_PAGE;
                        if (niov > 0 && (uint8_t *)iov[niov - 1].iov_base + iov[niov - 1].iov_len == src)
                                iov[niov - 1].iov_len += SWAP_PAGE;
                        else
                                iov[niov++] = (struct iovec){ .iov_base = src, .iov_len = SWAP_PAGE };
                }
                off_t off = (off_t)refs[i].slot * SWAP_PAGE;
                size_t want = k * SWAP_PAGE, done = 0;
                struct iovec *v = iov;
                while (done < want) {
                        ssize_t w = pwritev(e->file_fd, v, (int)niov, off + (off_t)done);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0) {
                                *ret_error = w < 0 ? negative_errno() : -ENOSPC;
                                /* Whole pages written before the error still count. */
                                return i + done / SWAP_PAGE;
                        }
                        done += (size_t)w;
                        while (niov > 0 && (size_t)w >= v->iov_len) {
                                w -= (ssize_t)v->iov_len;
                                v++;
                                niov--;
                        }
                        if (niov > 0) {
                                v->iov_base = (uint8_t *)v->iov_base + w;
                                v->iov_len -= (size_t)w;
                        }
                }
                i += k;
        }
        return n;
}

static bool out_pick(SwapEngine *e, const PageRef *r)
{
        /* Committed pages, and pages that were faulted in or removed while being written (the fault
         * thread left their staging copy for us). */
        return !(e->page_flags[r->page] & PAGE_STAGED);
}

/* fdatasync, then move the written pages from staging to the file. A failed sync keeps every
 * page in staging and forgets the file copies (their content is not known to be durable). */
static int commit(SwapEngine *e, PageRef *pend, size_t n)
{
        if (n == 0)
                return 0;
        pthread_mutex_unlock(&e->lock);
        int r = fdatasync(e->file_fd) < 0 ? negative_errno() : 0;
        pthread_mutex_lock(&e->lock);

        for (size_t i = 0; i < n; i++) {
                uint64_t p = pend[i].page;
                e->page_flags[p] &= (uint8_t)~PAGE_WRITING;
                if (e->page_slot[p] != pend[i].slot + 1)
                        continue; /* removed (slot freed) while being written */
                if (r < 0) {
                        swap_page_drop_file(e, p);
                } else if (e->page_flags[p] & PAGE_STAGED) {
                        e->page_flags[p] &= (uint8_t)~PAGE_STAGED;
                        e->page_slot[p] |= SLOT_PRESENT;
                        e->staging_pages--;
                        e->swap_pages++;
                        e->transition_pages++;
                }
        }
        punch_refs(e, pend, n, out_pick);
        /* The point of swap-out is to free memory: drop the now clean cached file pages too. */
        if (r == 0)
                (void)posix_fadvise(e->file_fd, 0, 0, POSIX_FADV_DONTNEED);
        return r;
}

/* Pages of a swap-out chunk found all zero: out of staging, and out of the file (their slot was
 * never written for this content), so a later fault gets a zero page. A page faulted in or
 * removed meanwhile keeps what the fault or the REMOVE made of it. Lock held. */
static void drop_zero_refs(SwapEngine *e, const PageRef *refs, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                uint64_t p = refs[i].page;
                e->page_flags[p] &= (uint8_t)~PAGE_WRITING;
                if (e->page_slot[p] != refs[i].slot + 1)
                        continue; /* removed (slot freed) meanwhile */
                if (e->page_flags[p] & PAGE_STAGED) {
                        e->page_flags[p] &= (uint8_t)~PAGE_STAGED;
                        e->staging_pages--;
                }
                swap_page_drop_file(e, p);
        }
        punch_refs(e, refs, n, out_pick);
}

/* Out of space: give back the blocks of stale copies (kept only so trim can spot clean pages) and
 * of freed slots, so the pages that still need writing may fit. Lock held. */
static void reclaim_file_space(SwapEngine *e)
{
        for (uint64_t p = 0; p < e->npages; p++)
                if (e->page_slot[p] != 0 && !(e->page_slot[p] & SLOT_PRESENT) && !(e->page_flags[p] & PAGE_WRITING))
                        swap_page_drop_file(e, p);
        for (uint32_t s = e->free_head; s != SLOT_NONE; s = e->slot_next[s])
                (void)fallocate(e->file_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)s * SWAP_PAGE,
                                SWAP_PAGE);
}

/* Write staging to the swap file in <= 2 MiB chunks, yielding to faults between chunks. A page
 * leaves staging only after its write and the following fdatasync succeeded: on ENOSPC/EIO the
 * unwritten pages stay staged (still served from memory), the error goes to last_error and the
 * state falls back to Pending. */
void swap_job_out(SwapEngine *e)
{
        size_t cap = SWAP_COMMIT_PAGES + SWAP_CHUNK_PAGES;
        _cleanup_free_ PageRef *pend = malloc(cap * sizeof(PageRef));
        PageRef zero[SWAP_CHUNK_PAGES];
        uint64_t cursor = 0;
        size_t npend = 0;
        bool reclaimed = false;
        int err = 0;

        if (!pend) {
                err = -ENOMEM;
                goto finish;
        }

        while (!e->abort_job) {
                unlock_yield_lock(e);
                if (e->abort_job)
                        break;

                PageRef *chunk = pend + npend;
                size_t n = 0;
                for (; cursor < e->npages && n < SWAP_CHUNK_PAGES; cursor++) {
                        if ((e->page_flags[cursor] & (PAGE_STAGED | PAGE_WRITING)) != PAGE_STAGED)
                                continue;
                        uint32_t v = e->page_slot[cursor], slot;
                        if (v != 0)
                                slot = (v & ~SLOT_PRESENT) - 1; /* overwrite its stale copy */
                        else {
                                slot = swap_slot_alloc(e);
                                if (slot == SLOT_NONE) { /* cannot happen: one slot per page */
                                        err = -ENOSPC;
                                        break;
                                }
                                e->page_slot[cursor] = slot + 1;
                        }
                        e->page_flags[cursor] |= PAGE_WRITING;
                        chunk[n++] = (PageRef){ .page = cursor, .slot = slot };
                }
                if (n == 0)
                        break;

                pthread_mutex_unlock(&e->lock);
                /* All-zero pages are not written (as trim would drop them): they read as zero. The
                 * staging copy of a WRITING page stays intact, so the check needs no lock. */
                size_t nw = 0, nz = 0;
                for (size_t i = 0; i < n; i++) {
                        if (swap_page_is_zero(e->staging + chunk[i].page * SWAP_PAGE))
                                zero[nz++] = chunk[i];
                        else
                                chunk[nw++] = chunk[i];
                }
                int werr = 0;
                size_t written = write_refs(e, chunk, nw, &werr);
                pthread_mutex_lock(&e->lock);

                drop_zero_refs(e, zero, nz);
                for (size_t i = written; i < nw; i++) {
                        uint64_t p = chunk[i].page;
                        e->page_flags[p] &= (uint8_t)~PAGE_WRITING;
                        /* Unknown content in the slot now: never let trim or a fault trust it. */
                        if (e->page_slot[p] == chunk[i].slot + 1)
                                swap_page_drop_file(e, p);
                }
                npend += written;
                if ((werr == -ENOSPC || werr == -EDQUOT) && !reclaimed) {
                        reclaim_file_space(e);
                        reclaimed = true;
                        cursor = chunk[written].page; /* those pages are still staged: again */
                        continue;
                }
                if (werr < 0) {
                        err = werr;
                        break;
                }
                if (npend >= SWAP_COMMIT_PAGES) {
                        err = commit(e, pend, npend);
                        npend = 0;
                        if (err < 0)
                                break;
                }
        }
        {
                int r = commit(e, pend, npend);
                if (err == 0)
                        err = r;
        }

finish:
        swap_transition_end(e);
        if (err < 0) {
                swap_set_error(e, err, "swap-out stopped, %" PRIu64 " pages stay in staging (nothing lost)",
                               e->staging_pages);
                if (!e->abort_job)
                        swap_set_state(e, SWAP_STATE_PENDING);
        } else if (!e->abort_job)
                swap_set_state(e, e->staging_pages == 0 ? SWAP_STATE_ACTIVE : SWAP_STATE_PENDING);
}

/* --- swap-in --------------------------------------------------------------------------------- */

/* The copying itself (swap_copy_in_range, a reader thread reading ahead) is in swap-in.c. */

/* Disable: everything back into guest RAM, then unregister and clean up the file. */
int swap_job_in(SwapEngine *e)
{
        int r = swap_copy_in_range(e, 0, e->npages, NULL);
        if (r == -ECANCELED)
                return r;
        if (r < 0) {
                /* The pages left are still served by faults; disable can be retried. */
                swap_transition_end(e);
                swap_set_error(e, r, "swap-in failed, %" PRIu64 " staged and %" PRIu64 " file pages left",
                               e->staging_pages, e->swap_pages);
                swap_set_state(e, SWAP_STATE_FAILED);
                return r;
        }
        /* The transition (pages, time) is the swap-in, done now: every page is back in guest RAM.
         * Unregistering and giving the file's blocks back follow, still in SwapInInProgress (the
         * truncate alone takes 30-55 ms per 256 MiB on ext4 here: page cache and extents).
         * crosvm measures the same way: its swap-in time counts the copy chunks only. */
        swap_transition_end(e);

        r = uffd_unregister(e->uffd, e->mem.host, e->mem.size);
        if (r < 0) {
                swap_transition_end(e);
                swap_set_error(e, r, "unregistering guest RAM");
                swap_set_state(e, SWAP_STATE_FAILED);
                return r;
        }
        e->registered = false;
        memset(e->page_flags, 0, e->npages);
        e->staging_pages = 0;
        swap_staging_punch(e, 0, e->npages);
        swap_slots_reset(e);

        if (e->slow_file_cleanup) {
                e->cleanup_size = e->mem.size;
        } else if (ftruncate(e->file_fd, 0) < 0) {
                swap_set_error(e, negative_errno(), "truncating the swap file");
        }
        e->file_sized = false;
        swap_transition_end(e);
        swap_set_state(e, SWAP_STATE_READY);
        return 0;
}

/* slow_file_cleanup: give the file's blocks back gradually (64 MiB every 10 ms) so a large
 * truncate does not stall the disk; stops when an enable needs the file again. */
void swap_job_cleanup(SwapEngine *e)
{
        while (e->cleanup_size > 0 && !e->abort_job) {
                uint64_t step = 64 * MIB;
                e->cleanup_size = e->cleanup_size > step ? e->cleanup_size - step : 0;
                off_t size = (off_t)e->cleanup_size;
                pthread_mutex_unlock(&e->lock);
                int r = ftruncate(e->file_fd, size) < 0 ? negative_errno() : 0;
                if (size > 0)
                        usleep(10 * 1000);
                pthread_mutex_lock(&e->lock);
                if (r < 0) {
                        swap_set_error(e, r, "truncating the swap file");
                        break;
                }
        }
}
