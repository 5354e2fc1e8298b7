/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vmm-swap engine: state machine, ops, move-to-staging, worker thread and status. */
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vmm_backend/swap/swap-internal.h"
#include "vmm_backend/swap/uffd.h"

static const char *const swap_state_table[_SWAP_STATE_MAX] = {
        [SWAP_STATE_READY] = "ready",
        [SWAP_STATE_FAILED] = "failed",
        [SWAP_STATE_PENDING] = "pending",
        [SWAP_STATE_TRIM_IN_PROGRESS] = "trim_in_progress",
        [SWAP_STATE_SWAP_OUT_IN_PROGRESS] = "swap_out_in_progress",
        [SWAP_STATE_ACTIVE] = "active",
        [SWAP_STATE_SWAP_IN_IN_PROGRESS] = "swap_in_in_progress",
};

const char *swap_state_to_string(SwapState s)
{
        if (s < 0 || s >= _SWAP_STATE_MAX)
                return NULL;
        return swap_state_table[s];
}

SwapState swap_state_from_string(const char *s)
{
        if (!s)
                return _SWAP_STATE_INVALID;
        for (int i = 0; i < _SWAP_STATE_MAX; i++)
                if (streq(s, swap_state_table[i]))
                        return (SwapState)i;
        return _SWAP_STATE_INVALID;
}

/* --- worker ---------------------------------------------------------------------------------- */

static void *worker_thread(void *userdata)
{
        SwapEngine *e = userdata;

        pthread_mutex_lock(&e->lock);
        while (!e->quit) {
                if (e->job == SWAP_JOB_NONE) {
                        pthread_cond_wait(&e->cond, &e->lock);
                        continue;
                }
                SwapJob job = e->job;
                SwapJob next = SWAP_JOB_NONE;
                e->job_running = true;
                switch (job) {
                case SWAP_JOB_TRIM:
                        swap_job_trim(e);
                        break;
                case SWAP_JOB_OUT:
                        swap_job_out(e);
                        break;
                case SWAP_JOB_IN:
                        if (swap_job_in(e) == 0 && e->slow_file_cleanup)
                                next = SWAP_JOB_CLEANUP;
                        break;
                case SWAP_JOB_CLEANUP:
                        swap_job_cleanup(e);
                        break;
                case SWAP_JOB_NONE:
                        break;
                }
                e->job = e->abort_job ? SWAP_JOB_NONE : next;
                e->job_running = false;
                pthread_cond_broadcast(&e->cond);
        }
        pthread_mutex_unlock(&e->lock);
        return NULL;
}

static void job_start(SwapEngine *e, SwapJob job)
{
        e->job = job;
        e->abort_job = false;
        pthread_cond_broadcast(&e->cond);
}

/* Abort the running job (it stops at its next step) and wait for it. Lock held. Returns the job
 * that was queued or running. */
static SwapJob job_stop(SwapEngine *e)
{
        SwapJob j = e->job;
        if (e->job_running) {
                e->abort_job = true;
                while (e->job_running)
                        pthread_cond_wait(&e->cond, &e->lock);
        }
        e->job = SWAP_JOB_NONE;
        e->abort_job = false;
        return j;
}

void swap_engine_test_limit_fault_queue(SwapEngine *e, size_t limit)
{
        atomic_store(&e->test_fault_queue_limit, limit);
}

void swap_engine_test_fail_enable(SwapEngine *e, unsigned failures)
{
        atomic_store(&e->test_enable_failures, failures);
}

void swap_engine_test_fail_swap_in(SwapEngine *e, int err)
{
        atomic_store(&e->test_swap_in_error, MIN(err, 0));
}

int swap_engine_wait_idle(SwapEngine *e, int timeout_ms)
{
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        if (timeout_ms >= 0) {
                until.tv_sec += timeout_ms / 1000;
                until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
                if (until.tv_nsec >= 1000000000L) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000L;
                }
        }
        int r = 0;
        pthread_mutex_lock(&e->lock);
        while (e->job != SWAP_JOB_NONE || e->job_running) {
                if (timeout_ms < 0)
                        pthread_cond_wait(&e->cond, &e->lock);
                else if (pthread_cond_timedwait(&e->cond, &e->lock, &until) == ETIMEDOUT) {
                        r = -ETIMEDOUT;
                        break;
                }
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}

/* --- enable: move resident guest pages to staging --------------------------------------------- */

/* Copy [off, off+len) of guest RAM to the same offset of staging without touching either mapping:
 * copy_file_range between the two memfds (no page-table faults, ~8x faster than a pread into the
 * staging mapping here), pread as the fallback. A page that a balloon inflate removes meanwhile
 * then reads as zero instead of faulting into this thread while it holds the lock. */
static int copy_to_staging(SwapEngine *e, off_t off, size_t len)
{
        size_t done = 0;
        bool use_cfr = true;
        while (done < len) {
                ssize_t r;
                if (use_cfr) {
                        loff_t in = off + (off_t)done, out = in;
                        r = copy_file_range(e->mem.memfd, &in, e->staging_fd, &out, len - done, 0);
                        if (r < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
                                use_cfr = false;
                                continue;
                        }
                } else
                        r = pread(e->mem.memfd, e->staging + off + done, len - done, off + (off_t)done);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return negative_errno();
                if (r == 0)
                        return -EIO;
                done += (size_t)r;
        }
        return 0;
}

typedef struct MoveRange {
        SwapEngine *e;
        uint64_t start, end; /* byte offsets, 2 MiB aligned */
        uint64_t moved;
        int64_t staged_delta, swap_delta;
        int r;
} MoveRange;

/* Resident pages of [start, end) are found with SEEK_DATA/SEEK_HOLE on the RAM memfd (never-touched
 * and ballooned pages are holes and cost nothing), copied in 2 MiB-aligned batches, and each batch
 * is then punched out of the memfd (what MADV_REMOVE does for shmem; done on the fd, it raises no
 * REMOVE event on our own uffd). Runs on two threads over disjoint halves: page_flags bytes are
 * disjoint, shared counters are returned as deltas. */
static void *move_range(void *userdata)
{
        MoveRange *m = userdata;
        SwapEngine *e = m->e;
        const uint64_t batch = 2 * MIB;
        off_t off = (off_t)m->start;

        while ((uint64_t)off < m->end) {
                off_t data = lseek(e->mem.memfd, off, SEEK_DATA);
                if (data < 0) {
                        if (errno != ENXIO)
                                m->r = negative_errno();
                        break;
                }
                if ((uint64_t)data >= m->end)
                        break;
                off_t hole = lseek(e->mem.memfd, data, SEEK_HOLE);
                if (hole < 0) {
                        m->r = negative_errno();
                        break;
                }
                hole = (off_t)MIN((uint64_t)hole, m->end);
                data = ALIGN_DOWN(data, (off_t)SWAP_PAGE);
                hole = ALIGN_UP(hole, (off_t)SWAP_PAGE);
                for (off_t b = data; b < hole;) {
                        off_t next = MIN(ALIGN_DOWN(b, (off_t)batch) + (off_t)batch, hole);
                        size_t len = (size_t)(next - b);
                        m->r = copy_to_staging(e, b, len);
                        if (m->r < 0)
                                return NULL;
                        uint64_t p0 = (uint64_t)b / SWAP_PAGE, n = len / SWAP_PAGE;
                        for (uint64_t p = p0; p < p0 + n; p++) {
                                if (!(e->page_flags[p] & PAGE_STAGED)) {
                                        e->page_flags[p] |= PAGE_STAGED;
                                        m->staged_delta++;
                                }
                                if (e->page_slot[p] & SLOT_PRESENT) { /* resident: stale at most */
                                        e->page_slot[p] &= ~SLOT_PRESENT;
                                        m->swap_delta--;
                                }
                        }
                        if (fallocate(e->mem.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, b, (off_t)len) < 0) {
                                /* Still resident: undo the staging of this batch. */
                                m->r = negative_errno();
                                for (uint64_t p = p0; p < p0 + n; p++) {
                                        e->page_flags[p] &= (uint8_t)~PAGE_STAGED;
                                        m->staged_delta--;
                                }
                                swap_staging_punch(e, p0, n);
                                return NULL;
                        }
                        m->moved += n;
                        b = next;
                }
                off = hole;
        }
        return NULL;
}

/* Enable from Ready (nothing registered, staging empty): instead of copying, guest RAM's memfd
 * becomes the staging memfd and the empty staging memfd is mapped over guest RAM (MAP_FIXED, same
 * address, so KVM's memslot follows through its MMU notifier). The fd numbers are exchanged too
 * (dup3), so GuestMem.memfd, which the VMM keeps using (st_blocks for status, close at exit), names
 * the live RAM memfd afterwards. Costs O(mappings), not O(data). The caller registers the new
 * mapping with userfaultfd right after (nothing may touch guest RAM in between: vCPUs are paused
 * and the engine's owner is this thread). Calling it twice restores the original layout. */
static int exchange_ram_and_staging(SwapEngine *e)
{
        const int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED | MAP_NORESERVE;
        int r;

        _cleanup_close_ int ram_file = fcntl(e->mem.memfd, F_DUPFD_CLOEXEC, 3);
        _cleanup_close_ int staging_file = fcntl(e->staging_fd, F_DUPFD_CLOEXEC, 3);
        if (ram_file < 0 || staging_file < 0)
                return negative_errno();
        uint8_t *old_ram_view = mmap(NULL, e->mem.size, prot, flags, ram_file, 0);
        if (old_ram_view == MAP_FAILED)
                return negative_errno();
        if (mmap(e->mem.host, e->mem.size, prot, flags | MAP_FIXED, staging_file, 0) == MAP_FAILED) {
                r = negative_errno();
                /* A failed MAP_FIXED may have unmapped the range: put guest RAM back. */
                (void)mmap(e->mem.host, e->mem.size, prot, flags | MAP_FIXED, ram_file, 0);
                munmap(old_ram_view, e->mem.size);
                return r;
        }
        (void)madvise(e->mem.host, e->mem.size, MADV_DONTDUMP); /* as the VMM maps guest RAM */
        munmap(e->staging, e->mem.size);
        e->staging = old_ram_view;
        /* dup3 onto an open descriptor of ours replaces it atomically and cannot fail here. */
        if (dup3(staging_file, e->mem.memfd, O_CLOEXEC) < 0 || dup3(ram_file, e->staging_fd, O_CLOEXEC) < 0)
                return negative_errno();
        return 0;
}

/* The exchange could not be undone (no mapping could be made: out of memory or map count): guest
 * RAM is mapped from the fresh memfd, unregistered, and its content is in staging. Copy the
 * resident extents back and empty staging, so the guest never sees a zero where its data was. */
static void copy_exchanged_back(SwapEngine *e)
{
        off_t off = 0, size = (off_t)e->mem.size;
        while (off < size) {
                off_t data = lseek(e->staging_fd, off, SEEK_DATA);
                off_t hole = data < 0 ? -1 : lseek(e->staging_fd, data, SEEK_HOLE);
                if (data < 0 || hole < 0) {
                        if (data >= 0 || errno != ENXIO) /* cannot find the extents: copy it all */
                                memcpy(e->mem.host, e->staging, e->mem.size);
                        break;
                }
                memcpy(e->mem.host + data, e->staging + data, (size_t)(hole - data));
                off = hole;
        }
        swap_staging_punch(e, 0, e->npages);
}

/* After the exchange: the staging memfd holds exactly the pages that were resident. Mark them
 * (SEEK_DATA/SEEK_HOLE, as move_range finds them). Lock held. */
static int mark_exchanged(SwapEngine *e, uint64_t *ret_moved)
{
        off_t off = 0, size = (off_t)e->mem.size;
        uint64_t moved = 0;
        int r = 0;

        while (off < size) {
                off_t data = lseek(e->staging_fd, off, SEEK_DATA);
                if (data < 0) {
                        if (errno != ENXIO)
                                r = negative_errno();
                        break;
                }
                off_t hole = lseek(e->staging_fd, data, SEEK_HOLE);
                if (hole < 0) {
                        r = negative_errno();
                        break;
                }
                hole = MIN(hole, size);
                uint64_t p0 = (uint64_t)ALIGN_DOWN(data, (off_t)SWAP_PAGE) / SWAP_PAGE;
                uint64_t p1 = (uint64_t)ALIGN_UP(hole, (off_t)SWAP_PAGE) / SWAP_PAGE;
                for (uint64_t p = p0; p < p1; p++)
                        e->page_flags[p] |= PAGE_STAGED;
                moved += p1 - p0;
                off = (off_t)(p1 * SWAP_PAGE);
        }
        e->staging_pages += moved;
        *ret_moved = moved;
        return r;
}

/* Lock held: faults wait until the move is done (the vCPUs are paused anyway). */
static int move_to_staging(SwapEngine *e, uint64_t *ret_moved)
{
        uint64_t half = ALIGN_DOWN(e->mem.size / 2, 2 * MIB);
        MoveRange m[2] = {
                { .e = e, .start = 0, .end = half },
                { .e = e, .start = half, .end = e->mem.size },
        };
        pthread_t helper;
        bool threaded = half >= 32 * MIB && pthread_create(&helper, NULL, move_range, &m[1]) == 0;
        if (!threaded) {
                m[0].end = e->mem.size;
                m[1].start = m[1].end;
        }
        (void)move_range(&m[0]);
        if (threaded)
                pthread_join(helper, NULL);
        *ret_moved = 0;
        for (unsigned i = 0; i < 2; i++) {
                e->staging_pages += (uint64_t)m[i].staged_delta;
                e->swap_pages += (uint64_t)m[i].swap_delta;
                *ret_moved += m[i].moved;
        }
        return m[0].r < 0 ? m[0].r : m[1].r;
}

static void set_msg(const char **ret_message, const char *m)
{
        if (ret_message)
                *ret_message = m;
}

int swap_engine_enable(SwapEngine *e, const char **ret_message)
{
        int r;

        pthread_mutex_lock(&e->lock);
        if (e->state == SWAP_STATE_SWAP_OUT_IN_PROGRESS) {
                pthread_mutex_unlock(&e->lock);
                set_msg(ret_message, "vmm-swap: swap-out in progress, enable after it finished");
                return -EBUSY;
        }
        SwapJob aborted = job_stop(e);
        pthread_mutex_unlock(&e->lock);

        bool exchange = false;
        int paused = e->hooks.pause_vcpus ? e->hooks.pause_vcpus(e->hooks.userdata) : 0;
        if (paused < 0 && paused != -EALREADY) {
                pthread_mutex_lock(&e->lock);
                swap_set_error(e, paused, "enable: pausing the vCPUs");
                if (aborted == SWAP_JOB_TRIM || aborted == SWAP_JOB_IN || aborted == SWAP_JOB_CLEANUP)
                        job_start(e, aborted); /* carry on as before */
                pthread_mutex_unlock(&e->lock);
                set_msg(ret_message, "vmm-swap: cannot pause the vCPUs");
                return paused;
        }

        pthread_mutex_lock(&e->lock);
        uint64_t t_begin = swap_now_ns();
        if (!e->registered) {
                if (!e->file_sized) {
                        if (ftruncate(e->file_fd, (off_t)e->mem.size) < 0) {
                                r = negative_errno();
                                swap_set_error(e, r, "enable: sizing the swap file");
                                set_msg(ret_message, "vmm-swap: cannot size the swap file");
                                goto fail_unchanged;
                        }
                        e->file_sized = true;
                        e->cleanup_size = 0;
                }
                /* Ready: staging is empty and no page has a file copy. */
                exchange = e->staging_pages == 0 && e->swap_pages == 0;
                if (exchange) {
                        r = exchange_ram_and_staging(e);
                        if (r < 0) {
                                swap_set_error(e, r, "enable: exchanging guest RAM and staging memfds");
                                set_msg(ret_message, "vmm-swap: cannot map the staging memfd over guest RAM");
                                goto fail_unchanged;
                        }
                }
                unsigned fail = atomic_load(&e->test_enable_failures);
                r = fail & SWAP_TEST_FAIL_REGISTER
                            ? -ENOMEM
                            : uffd_register_missing(e->uffd, e->mem.host, e->mem.size);
                if (r < 0) {
                        if (exchange &&
                            ((fail & SWAP_TEST_FAIL_UNDO_EXCHANGE) || exchange_ram_and_staging(e) < 0))
                                copy_exchanged_back(e);
                        swap_set_error(e, r, "enable: registering guest RAM with userfaultfd");
                        set_msg(ret_message, "vmm-swap: cannot register guest RAM with userfaultfd");
                        goto fail_unchanged;
                }
                e->registered = true;
                e->fa_next = UINT64_MAX;
        }
        /* A refresh re-stages what a prefetch brought in: the stream starts over. */
        e->pf_active = false;
        e->fa_next = UINT64_MAX;
        e->fa_window = 0;
        swap_transition_begin(e);
        e->transition_start_ns = t_begin; /* the exchange counts */

        uint64_t moved = 0;
        r = exchange ? mark_exchanged(e, &moved) : move_to_staging(e, &moved);
        e->transition_pages = moved;
        swap_transition_end(e);
        if (r < 0) {
                /* Whatever moved is served from staging; disable brings it back. */
                swap_set_error(e, r, "enable: moving guest pages to staging (%" PRIu64 " moved)", moved);
                swap_set_state(e, SWAP_STATE_FAILED);
                set_msg(ret_message, "vmm-swap: enable failed, see last_error");
        } else {
                e->last_error[0] = 0;
                swap_set_state(e, SWAP_STATE_PENDING);
        }
        pthread_mutex_unlock(&e->lock);
        if (paused == 0 && e->hooks.resume_vcpus)
                (void)e->hooks.resume_vcpus(e->hooks.userdata);
        return r;

fail_unchanged:
        if (aborted == SWAP_JOB_TRIM || aborted == SWAP_JOB_IN || aborted == SWAP_JOB_CLEANUP)
                job_start(e, aborted);
        pthread_mutex_unlock(&e->lock);
        if (paused == 0 && e->hooks.resume_vcpus)
                (void)e->hooks.resume_vcpus(e->hooks.userdata);
        return r;
}

int swap_engine_trim(SwapEngine *e, const char **ret_message)
{
        int r = 0;
        pthread_mutex_lock(&e->lock);
        switch (e->state) {
        case SWAP_STATE_PENDING:
                swap_set_state(e, SWAP_STATE_TRIM_IN_PROGRESS);
                swap_transition_begin(e);
                job_start(e, SWAP_JOB_TRIM);
                break;
        case SWAP_STATE_TRIM_IN_PROGRESS:
        case SWAP_STATE_SWAP_OUT_IN_PROGRESS:
        case SWAP_STATE_SWAP_IN_IN_PROGRESS:
                set_msg(ret_message, "vmm-swap: trim is only valid in state pending (another operation is in progress)");
                r = -EBUSY;
                break;
        default:
                set_msg(ret_message, "vmm-swap: trim is only valid in state pending (enable first)");
                r = -EINVAL;
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}

int swap_engine_out(SwapEngine *e, const char **ret_message)
{
        int r = 0;
        pthread_mutex_lock(&e->lock);
        switch (e->state) {
        case SWAP_STATE_PENDING:
                swap_set_state(e, SWAP_STATE_SWAP_OUT_IN_PROGRESS);
                swap_transition_begin(e);
                job_start(e, SWAP_JOB_OUT);
                break;
        case SWAP_STATE_TRIM_IN_PROGRESS:
        case SWAP_STATE_SWAP_OUT_IN_PROGRESS:
        case SWAP_STATE_SWAP_IN_IN_PROGRESS:
                set_msg(ret_message, "vmm-swap: swap-out is only valid in state pending (another operation is in progress)");
                r = -EBUSY;
                break;
        default:
                set_msg(ret_message, "vmm-swap: swap-out is only valid in state pending (enable first)");
                r = -EINVAL;
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}

int swap_engine_disable(SwapEngine *e, bool slow_file_cleanup, const char **ret_message)
{
        int r = 0;
        pthread_mutex_lock(&e->lock);
        switch (e->state) {
        case SWAP_STATE_READY:
                set_msg(ret_message, "vmm-swap: not enabled");
                r = -EINVAL;
                break;
        case SWAP_STATE_SWAP_IN_IN_PROGRESS:
                set_msg(ret_message, "vmm-swap: disable (swap-in) already in progress");
                r = -EBUSY;
                break;
        default:
                /* Aborts trim, swap-out (after committing what it wrote) or a failed state. */
                (void)job_stop(e);
                e->slow_file_cleanup = slow_file_cleanup;
                if (!e->registered) {
                        swap_set_state(e, SWAP_STATE_READY);
                        break;
                }
                swap_set_state(e, SWAP_STATE_SWAP_IN_IN_PROGRESS);
                swap_transition_begin(e);
                job_start(e, SWAP_JOB_IN);
        }
        pthread_mutex_unlock(&e->lock);
        return r;
}

SwapState swap_engine_state(SwapEngine *e)
{
        pthread_mutex_lock(&e->lock);
        SwapState s = e->state;
        pthread_mutex_unlock(&e->lock);
        return s;
}

void swap_engine_status(SwapEngine *e, SwapStatusInfo *ret)
{
        struct stat st;
        SwapStatusInfo s = {};

        /* shmem counts allocated pages in st_blocks: the resident guest pages, without a walk. */
        if (fstat(e->mem.memfd, &st) == 0)
                s.resident_pages = (uint64_t)st.st_blocks * 512 / SWAP_PAGE;

        pthread_mutex_lock(&e->lock);
        s.state = e->state;
        s.copied_from_file_pages = e->copied_from_file;
        s.copied_from_staging_pages = e->copied_from_staging;
        s.zeroed_pages = e->zeroed;
        s.redundant_pages = e->redundant;
        s.staging_pages = e->staging_pages;
        s.swap_pages = e->swap_pages;
        s.fault_around_pages = e->fault_around;
        s.transition_pages = e->transition_pages;
        s.transition_time_ms = e->transition_running ? (swap_now_ns() - e->transition_start_ns) / 1000000
                                                     : e->transition_time_ms;
        snprintf(s.last_error, sizeof(s.last_error), "%s", e->last_error);
        pthread_mutex_unlock(&e->lock);
        *ret = s;
}

int swap_engine_event_fd(SwapEngine *e)
{
        return e->event_fd;
}

void swap_engine_dispatch(SwapEngine *e)
{
        SwapTransitionEvent q[ELEMENTSOF(e->queue)];
        uint64_t v;

        (void)!read(e->event_fd, &v, sizeof(v));
        pthread_mutex_lock(&e->lock);
        unsigned n = e->queue_len;
        memcpy(q, e->queue, n * sizeof(q[0]));
        e->queue_len = 0;
        pthread_mutex_unlock(&e->lock);

        for (unsigned i = 0; i < n; i++)
                if (e->hooks.state_changed)
                        e->hooks.state_changed(e->hooks.userdata, q[i].state, q[i].previous);
}

/* --- lifetime -------------------------------------------------------------------------------- */

static int open_swap_file(const char *dir)
{
        /* O_TMPFILE: no name, so a crash or kill -9 leaves nothing behind; 0600 for the owner only. */
        int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
                return errno == EISDIR ? -EOPNOTSUPP : negative_errno();
        return fd;
}

int swap_engine_new(const GuestMem *mem, const char *swap_dir, const SwapEngineHooks *hooks, SwapEngine **ret)
{
        int r;

        if (!mem || !mem->host || mem->memfd < 0 || mem->size == 0 || mem->size % SWAP_PAGE != 0 ||
            mem->size / SWAP_PAGE >= (UINT64_C(1) << 31) || !swap_dir || !ret)
                return -EINVAL;

        SwapEngine *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->mem = *mem;
        e->npages = mem->size / SWAP_PAGE;
        if (hooks)
                e->hooks = *hooks;
        e->uffd = e->staging_fd = e->file_fd = e->event_fd = e->fault_stop_fd = -EBADF;
        e->free_head = SLOT_NONE;
        e->fa_next = UINT64_MAX;
        e->staging = MAP_FAILED;
        e->file_map = MAP_FAILED;
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->cond, NULL);
        {
                /* cond waits with CLOCK_MONOTONIC deadlines (swap_engine_wait_idle) */
                pthread_condattr_t ca;
                pthread_condattr_init(&ca);
                pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
                pthread_cond_destroy(&e->cond);
                pthread_cond_init(&e->cond, &ca);
                pthread_condattr_destroy(&ca);
        }

        e->uffd = uffd_open();
        if (e->uffd < 0) {
                r = e->uffd;
                goto fail;
        }
        e->file_fd = open_swap_file(swap_dir);
        if (e->file_fd < 0) {
                r = e->file_fd;
                goto fail;
        }
        if (ftruncate(e->file_fd, (off_t)mem->size) < 0) {
                r = negative_errno();
                goto fail;
        }
        e->file_sized = true;
        e->file_map = mmap(NULL, mem->size, PROT_READ, MAP_SHARED, e->file_fd, 0);
        if (e->file_map == MAP_FAILED) {
                r = negative_errno();
                goto fail;
        }
        e->staging_fd = memfd_create("vmm-swap-staging", MFD_CLOEXEC);
        if (e->staging_fd < 0 || ftruncate(e->staging_fd, (off_t)mem->size) < 0) {
                r = negative_errno();
                goto fail;
        }
        e->staging = mmap(NULL, mem->size, PROT_READ | PROT_WRITE, MAP_SHARED, e->staging_fd, 0);
        if (e->staging == MAP_FAILED) {
                r = negative_errno();
                goto fail;
        }
        e->page_flags = calloc(e->npages, 1);
        e->page_slot = calloc(e->npages, sizeof(uint32_t));
        e->slot_next = malloc(e->npages * sizeof(uint32_t));
        e->fault_bounce = aligned_alloc(SWAP_PAGE, SWAP_FAULT_AROUND_MAX * SWAP_PAGE);
        e->worker_bounce = aligned_alloc(SWAP_PAGE, SWAP_CHUNK_PAGES * SWAP_PAGE);
        if (!e->page_flags || !e->page_slot || !e->slot_next || !e->fault_bounce || !e->worker_bounce) {
                r = -ENOMEM;
                goto fail;
        }
        e->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        e->fault_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (e->event_fd < 0 || e->fault_stop_fd < 0) {
                r = negative_errno();
                goto fail;
        }

        r = swap_fault_thread_start(e);
        if (r < 0)
                goto fail;
        r = -pthread_create(&e->worker_thread, NULL, worker_thread, e);
        if (r < 0)
                goto fail;
        e->worker_started = true;
        (void)pthread_setname_np(e->worker_thread, "vmm-swap-work");

        *ret = e;
        return 0;
fail:
        swap_engine_free(e);
        return r;
}

SwapEngine *swap_engine_free(SwapEngine *e)
{
        if (!e)
                return NULL;
        if (e->detach)
                e->detach(e);

        if (e->worker_started) {
                pthread_mutex_lock(&e->lock);
                (void)job_stop(e);
                e->quit = true;
                pthread_cond_broadcast(&e->cond);
                pthread_mutex_unlock(&e->lock);
                pthread_join(e->worker_thread, NULL);
        }
        if (e->registered) {
                /* Exit while enabled: everything back into guest RAM first, served concurrently
                 * with faults by the still running fault thread. */
                pthread_mutex_lock(&e->lock);
                e->abort_job = false;
                e->slow_file_cleanup = false;
                swap_transition_begin(e);
                if (swap_job_in(e) < 0 && e->registered) {
                        /* Nothing better is possible: pages still missing read as zero after this. */
                        (void)uffd_unregister(e->uffd, e->mem.host, e->mem.size);
                        e->registered = false;
                }
                pthread_mutex_unlock(&e->lock);
        }
        pthread_mutex_lock(&e->lock);
        e->quit = true;
        pthread_mutex_unlock(&e->lock);
        swap_fault_thread_stop(e);

        if (e->staging != MAP_FAILED)
                munmap(e->staging, e->mem.size);
        if (e->file_map != MAP_FAILED)
                munmap((void *)e->file_map, e->mem.size);
        safe_close(e->staging_fd);
        safe_close(e->file_fd);
        safe_close(e->uffd);
        safe_close(e->event_fd);
        safe_close(e->fault_stop_fd);
        free(e->page_flags);
        free(e->page_slot);
        free(e->slot_next);
        free(e->fault_bounce);
        free(e->worker_bounce);
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->lock);
        free(e);
        return NULL;
}

/* --- ControlSwapOps ----------------------------------------------------------------------------- */

static int op_enable(void *swap, const char **ret_message)
{
        return swap_engine_enable(swap, ret_message);
}

static int op_trim(void *swap, const char **ret_message)
{
        return swap_engine_trim(swap, ret_message);
}

static int op_out(void *swap, const char **ret_message)
{
        return swap_engine_out(swap, ret_message);
}

static int op_disable(void *swap, bool slow_file_cleanup, const char **ret_message)
{
        return swap_engine_disable(swap, slow_file_cleanup, ret_message);
}

static int op_status(void *swap, SwapStatusInfo *ret)
{
        swap_engine_status(swap, ret);
        return 0;
}

const ControlSwapOps swap_engine_control_ops = {
        .enable = op_enable,
        .trim = op_trim,
        .out = op_out,
        .disable = op_disable,
        .status = op_status,
};
