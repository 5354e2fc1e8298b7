/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap internals shared by the engine, the fault thread and the background jobs.
 *
 * Page bookkeeping (all under SwapEngine.lock), per guest page p:
 *   page_flags[p] & PAGE_STAGED   the staging memfd holds p's content and guest RAM does not;
 *   page_flags[p] & PAGE_WRITING  swap-out wrote p to its slot, not yet fdatasync'ed/committed;
 *   page_slot[p]                  0 = no file copy; else (slot + 1), | SLOT_PRESENT when the file
 *                                 copy is p's content (p missing from guest RAM); without it the
 *                                 copy is stale but kept, so trim can find pages equal to it.
 * Invariant: STAGED or SLOT_PRESENT  =>  p is missing from guest RAM, so a fault on p is served
 * from there; neither => p is resident, or reads as zero (never touched, trimmed, ballooned).
 * A page leaves staging for the file only after its write and fdatasync succeeded. */
#pragma once

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "vmm_backend/swap/swap.h"

#define SWAP_PAGE GUEST_PAGE_SIZE
#define SWAP_CHUNK_PAGES 512u      /* 2 MiB: staging batches, write chunks, swap-in chunks */
#define SWAP_TRIM_STEP_PAGES 1024u /* crosvm's MAX_TRIM_PAGES */
#define SWAP_FAULT_AROUND_MAX 256u
#define SWAP_FAULT_READAHEAD_SLOTS 1024u /* 4 MiB of the file read ahead of a sequential stream */
#define SWAP_PREFETCH_PAGES 2048u  /* a sequential stream is copied in up to 8 MiB ahead of the guest */
#define SWAP_FAULT_SPIN_NS 50000u  /* spin after a fault batch before sleeping in poll */
#define SWAP_COMMIT_PAGES 16384u   /* fdatasync + commit every 64 MiB of swap-out */

#define PAGE_STAGED 0x01u
#define PAGE_WRITING 0x02u

#define SLOT_PRESENT 0x80000000u
#define SLOT_NONE UINT32_MAX

typedef enum SwapJob {
        SWAP_JOB_NONE,
        SWAP_JOB_TRIM,
        SWAP_JOB_OUT,
        SWAP_JOB_IN,
        SWAP_JOB_CLEANUP,
} SwapJob;

typedef struct SwapTransitionEvent {
        SwapState state, previous;
} SwapTransitionEvent;

struct SwapEngine {
        GuestMem mem;
        uint64_t npages;
        SwapEngineHooks hooks;

        int uffd;
        bool registered;

        int staging_fd;
        uint8_t *staging;

        int file_fd;
        const uint8_t *file_map; /* PROT_READ, MAP_SHARED, RAM size */
        bool file_sized;         /* ftruncate'd to RAM size (else 0 or shrinking) */
        uint32_t *slot_next;     /* free-list links, per file slot */
        uint32_t free_head;      /* SLOT_NONE when empty */
        uint32_t slot_bump;      /* slots [slot_bump, npages) were never handed out */

        uint8_t *page_flags;
        uint32_t *page_slot;

        pthread_mutex_t lock;
        pthread_cond_t cond; /* job queued / job finished */

        SwapState state;
        SwapJob job;
        bool job_running, abort_job, quit, slow_file_cleanup;
        uint64_t cleanup_size; /* slow cleanup: current file size */

        /* metrics (crosvm's meanings), under lock */
        uint64_t copied_from_file, copied_from_staging, zeroed, redundant, staging_pages, swap_pages,
                fault_around;
        uint64_t transition_pages, transition_time_ms, transition_start_ns;
        bool transition_running;
        char last_error[256];

        /* transitions for the state_changed hook, dispatched on the owner's thread */
        int event_fd;
        SwapTransitionEvent queue[64];
        unsigned queue_len;

        pthread_t fault_thread, worker_thread;
        bool fault_thread_started, worker_started;
        int fault_stop_fd;
        atomic_bool fault_busy;
        atomic_size_t test_fault_queue_limit; /* 0: none (swap_engine_test_limit_fault_queue) */
        atomic_int test_swap_in_error;        /* 0: none (swap_engine_test_fail_swap_in) */
        atomic_uint test_enable_failures;     /* SwapTestEnableFailure bits */

        /* fault thread (and enable, which resets them), under lock */
        uint64_t fa_next;
        unsigned fa_window;
        uint64_t fa_ra_end; /* file slots below this were already read ahead for the stream */
        uint8_t *fault_bounce; /* SWAP_FAULT_AROUND_MAX pages */
        /* The sequential stream being prefetched (swap-fault.c): pages [.., pf_next) are in, the
         * copy goes on up to pf_end while no fault is pending; pf_trip is a swapped page left out
         * on purpose, at about half the window, whose fault tells how far the guest got. */
        bool pf_active;
        uint64_t pf_next, pf_end, pf_trip_at, pf_trip;
        /* worker (or the freeing thread once the worker is gone) only */
        uint8_t *worker_bounce; /* SWAP_CHUNK_PAGES pages */

        /* VMM wiring (swap-vmm.c) */
        void (*detach)(SwapEngine *e);
        void *detach_data;
};

static inline uint64_t swap_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline void *swap_guest_page(SwapEngine *e, uint64_t p)
{
        return e->mem.host + p * SWAP_PAGE;
}

/* swap-pages.c: bookkeeping, all with lock held */
uint32_t swap_slot_alloc(SwapEngine *e);
void swap_slot_free(SwapEngine *e, uint32_t slot);
void swap_slots_reset(SwapEngine *e);
void swap_page_drop_file(SwapEngine *e, uint64_t p);      /* forget p's file copy, free the slot */
void swap_staging_punch(SwapEngine *e, uint64_t p, uint64_t n);
void swap_pages_removed(SwapEngine *e, uint64_t first, uint64_t n); /* UFFD_EVENT_REMOVE */
void swap_set_error(SwapEngine *e, int err, const char *fmt, ...) _printf_(3, 4);
void swap_set_state(SwapEngine *e, SwapState s);
void swap_transition_begin(SwapEngine *e);
void swap_transition_end(SwapEngine *e);
bool swap_page_is_zero(const uint8_t *page);

/* swap-fault.c */
/* p is missing from guest RAM and has content elsewhere: in staging, or current in the file. Lock
 * held. */
static inline bool page_swapped(const SwapEngine *e, uint64_t p)
{
        return (e->page_flags[p] & PAGE_STAGED) || (e->page_slot[p] & SLOT_PRESENT);
}

int swap_fault_thread_start(SwapEngine *e);
void swap_fault_thread_stop(SwapEngine *e);
/* Let pending faults run first (background jobs call this between steps). */
void swap_yield_to_faults(SwapEngine *e);

/* swap-jobs.c: run with lock held (they drop it between steps) */
void swap_job_trim(SwapEngine *e);
void swap_job_out(SwapEngine *e);
/* Swap everything back in, unregister, clean up the file. Returns 0, or a negative errno when some
 * page could not be brought back (left registered, served by faults). */
int swap_job_in(SwapEngine *e);
void swap_job_cleanup(SwapEngine *e);
int swap_copy_in_range(SwapEngine *e, uint64_t first, uint64_t n, uint64_t *ret_done);
