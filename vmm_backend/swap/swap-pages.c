/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap page and file-slot bookkeeping, state transitions and errors (all with the lock held). */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/eventfd.h>

#include "vmm_backend/swap/swap-internal.h"

/* File slots come from a LIFO free list first (freed slots are reused before the file grows),
 * then from the never-used tail: the file is not a 1:1 image of guest RAM. A page owns at most one
 * slot, so npages slots always suffice. */
uint32_t swap_slot_alloc(SwapEngine *e)
{
        if (e->free_head != SLOT_NONE) {
                uint32_t s = e->free_head;
                e->free_head = e->slot_next[s];
                e->slot_next[s] = SLOT_NONE;
                return s;
        }
        if (e->slot_bump < e->npages)
                return e->slot_bump++;
        return SLOT_NONE;
}

void swap_slot_free(SwapEngine *e, uint32_t slot)
{
        e->slot_next[slot] = e->free_head;
        e->free_head = slot;
}

void swap_slots_reset(SwapEngine *e)
{
        e->free_head = SLOT_NONE;
        e->slot_bump = 0;
        memset(e->page_slot, 0, e->npages * sizeof(uint32_t));
        e->swap_pages = 0;
}

void swap_page_drop_file(SwapEngine *e, uint64_t p)
{
        uint32_t v = e->page_slot[p];
        if (v == 0)
                return;
        if (v & SLOT_PRESENT)
                e->swap_pages--;
        swap_slot_free(e, (v & ~SLOT_PRESENT) - 1);
        e->page_slot[p] = 0;
}

void swap_staging_punch(SwapEngine *e, uint64_t p, uint64_t n)
{
        /* Frees the staging memory; cannot fail on a memfd except for bad arguments. */
        (void)fallocate(e->staging_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(p * SWAP_PAGE),
                        (off_t)(n * SWAP_PAGE));
}

/* Balloon inflate (MADV_REMOVE on guest RAM): the pages are gone for the guest, so a later fault
 * must get a zero page, not the old content. A page being written by swap-out keeps its WRITING
 * flag; the commit sees that it is no longer staged and that its slot changed, and skips it. */
void swap_pages_removed(SwapEngine *e, uint64_t first, uint64_t n)
{
        uint64_t run = UINT64_MAX;
        for (uint64_t p = first; p < first + n; p++) {
                if (e->page_flags[p] & PAGE_STAGED) {
                        e->page_flags[p] &= (uint8_t)~PAGE_STAGED;
                        e->staging_pages--;
                        if (run == UINT64_MAX)
                                run = p;
                } else if (run != UINT64_MAX) {
                        swap_staging_punch(e, run, p - run);
                        run = UINT64_MAX;
                }
                swap_page_drop_file(e, p);
        }
        if (run != UINT64_MAX)
                swap_staging_punch(e, run, first + n - run);
}

void swap_set_error(SwapEngine *e, int err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(e->last_error, sizeof(e->last_error), fmt, ap);
        va_end(ap);
        if (err < 0 && k >= 0 && (size_t)k < sizeof(e->last_error))
                snprintf(e->last_error + k, sizeof(e->last_error) - (size_t)k, ": %s", strerror(-err));
}

void swap_set_state(SwapEngine *e, SwapState s)
{
        if (s == e->state)
                return;
        if (e->queue_len == ELEMENTSOF(e->queue)) {
                /* The owner stopped dispatching: keep the newest transitions. */
                memmove(e->queue, e->queue + 1, sizeof(e->queue) - sizeof(e->queue[0]));
                e->queue_len--;
        }
        e->queue[e->queue_len++] = (SwapTransitionEvent){ .state = s, .previous = e->state };
        e->state = s;
        uint64_t one = 1;
        (void)!write(e->event_fd, &one, sizeof(one));
}

/* The transition record (crosvm's SwapStateTransition): pages handled and time taken by the
 * operation that led to (or is running in) the current state. */
void swap_transition_begin(SwapEngine *e)
{
        e->transition_pages = 0;
        e->transition_time_ms = 0;
        e->transition_start_ns = swap_now_ns();
        e->transition_running = true;
}

void swap_transition_end(SwapEngine *e)
{
        if (!e->transition_running)
                return;
        e->transition_time_ms = (swap_now_ns() - e->transition_start_ns) / (NSEC_PER_SEC / 1000);
        e->transition_running = false;
}

bool swap_page_is_zero(const uint8_t *page)
{
        const uint64_t *w = (const uint64_t *)page;
        for (size_t i = 0; i < SWAP_PAGE / sizeof(uint64_t); i += 8) {
                if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
                        return false;
        }
        return true;
}
