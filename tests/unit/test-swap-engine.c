/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the vmm-swap engine over a small memfd "guest RAM" (no KVM): state strings, bad
 * arguments and bad ops, hooks and transition events, balloon REMOVE events, exit while enabled.
 * The cmocka thread touching the RAM is served by the engine's fault thread like a vCPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vmm_backend/swap/swap.h"

#define PAGE 4096u
#define RAM (16u << 20)
#define NPAGES (RAM / PAGE)

typedef struct Fixture {
        GuestMem mem;
        char dir[64];
        SwapEngine *e;
        int pauses, resumes, pause_result;
        SwapState events[32][2];
        int nevents;
} Fixture;

static int hook_pause(void *userdata)
{
        Fixture *f = userdata;
        f->pauses++;
        return f->pause_result;
}

static int hook_resume(void *userdata)
{
        Fixture *f = userdata;
        f->resumes++;
        return 0;
}

static void hook_state(void *userdata, SwapState s, SwapState prev)
{
        Fixture *f = userdata;
        if (f->nevents < 32) {
                f->events[f->nevents][0] = s;
                f->events[f->nevents][1] = prev;
                f->nevents++;
        }
}

static uint8_t page_byte(uint64_t p)
{
        return (uint8_t)(p % 251 + 1); /* never 0 */
}

static void fill_all(Fixture *f)
{
        for (uint64_t p = 0; p < NPAGES; p++)
                memset(f->mem.host + p * PAGE, page_byte(p), PAGE);
}

static bool page_is(Fixture *f, uint64_t p, uint8_t v)
{
        const uint8_t *a = f->mem.host + p * PAGE;
        for (unsigned i = 0; i < PAGE; i++)
                if (a[i] != v)
                        return false;
        return true;
}

/* Every page filled, staged and written to the swap file: state Active, nothing in staging. */
static void fill_and_swap_out(Fixture *f)
{
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_all(f);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(swap_engine_out(f->e, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_ACTIVE);
        assert_int_equal(s.swap_pages, NPAGES);
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->mem.size = RAM;
        f->mem.memfd = memfd_create("test-ram", MFD_CLOEXEC);
        assert_true(f->mem.memfd >= 0);
        assert_int_equal(ftruncate(f->mem.memfd, RAM), 0);
        f->mem.host = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, f->mem.memfd, 0);
        assert_true(f->mem.host != MAP_FAILED);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-swap-XXXXXX");
        assert_non_null(mkdtemp(f->dir));

        SwapEngineHooks hooks = {
                .pause_vcpus = hook_pause, .resume_vcpus = hook_resume, .state_changed = hook_state, .userdata = f
        };
        assert_int_equal(swap_engine_new(&f->mem, f->dir, &hooks, &f->e), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        if (!f)
                return 0;
        f->e = swap_engine_free(f->e);
        assert_int_equal(rmdir(f->dir), 0); /* O_TMPFILE: nothing was ever named in the dir */
        munmap(f->mem.host, RAM);
        close(f->mem.memfd);
        free(f);
        return 0;
}

static void test_state_strings(void **state)
{
        for (int s = 0; s < _SWAP_STATE_MAX; s++) {
                const char *n = swap_state_to_string((SwapState)s);
                assert_non_null(n);
                assert_int_equal(swap_state_from_string(n), s);
        }
        assert_null(swap_state_to_string(_SWAP_STATE_MAX));
        assert_null(swap_state_to_string(_SWAP_STATE_INVALID));
        assert_int_equal(swap_state_from_string("bogus"), _SWAP_STATE_INVALID);
        assert_int_equal(swap_state_from_string(NULL), _SWAP_STATE_INVALID);
        /* the wire values are crosvm's */
        assert_int_equal(SWAP_STATE_READY, 0);
        assert_int_equal(SWAP_STATE_FAILED, 1);
        assert_int_equal(SWAP_STATE_ACTIVE, 5);
        assert_int_equal(SWAP_STATE_SWAP_IN_IN_PROGRESS, 6);
}

static void test_bad_args(void **state)
{
        Fixture *f = *state;
        SwapEngine *e = NULL;
        GuestMem m = f->mem;

        assert_int_equal(swap_engine_new(NULL, f->dir, NULL, &e), -EINVAL);
        assert_int_equal(swap_engine_new(&m, NULL, NULL, &e), -EINVAL);
        m.size = RAM - 100;
        assert_int_equal(swap_engine_new(&m, f->dir, NULL, &e), -EINVAL);
        m = f->mem;
        m.memfd = -1;
        assert_int_equal(swap_engine_new(&m, f->dir, NULL, &e), -EINVAL);
        m = f->mem;
        assert_int_equal(swap_engine_new(&m, "/nonexistent/swap-dir", NULL, &e), -ENOENT);
        assert_null(e);
        assert_null(swap_engine_free(NULL));
}

static void test_bad_ops_ready(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;

        assert_int_equal(swap_engine_trim(f->e, &msg), -EINVAL);
        assert_non_null(msg);
        msg = NULL;
        assert_int_equal(swap_engine_out(f->e, &msg), -EINVAL);
        assert_non_null(msg);
        msg = NULL;
        assert_int_equal(swap_engine_disable(f->e, false, &msg), -EINVAL);
        assert_non_null(msg);
        assert_int_equal(swap_engine_state(f->e), SWAP_STATE_READY);
        swap_engine_dispatch(f->e);
        assert_int_equal(f->nevents, 0);
        assert_int_equal(f->pauses, 0);
}

/* An op refused in a busy state must leave that state alone. Which state we are in by the time
 * the second call lands depends on timing, so accept either, but require an error and no change. */
static void expect_refused(Fixture *f, int (*fn)(SwapEngine *, const char **), SwapState a, SwapState b)
{
        const char *msg = NULL;
        SwapState before = swap_engine_state(f->e);
        int r = fn(f->e, &msg);
        assert_true(r == -EBUSY || r == -EINVAL);
        assert_non_null(msg);
        SwapState after = swap_engine_state(f->e);
        assert_true(after == a || after == b);
        assert_true(before == after || (before == a && after == b));
}

static void test_ops_and_events(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_all(f);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(f->pauses, 1);
        assert_int_equal(f->resumes, 1);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_PENDING);
        assert_int_equal(s.staging_pages, NPAGES);
        assert_int_equal(s.resident_pages, 0);
        swap_engine_dispatch(f->e);
        assert_int_equal(f->nevents, 1);
        assert_int_equal(f->events[0][0], SWAP_STATE_PENDING);
        assert_int_equal(f->events[0][1], SWAP_STATE_READY);

        assert_int_equal(swap_engine_out(f->e, &msg), 0);
        expect_refused(f, swap_engine_out, SWAP_STATE_SWAP_OUT_IN_PROGRESS, SWAP_STATE_ACTIVE);
        expect_refused(f, swap_engine_trim, SWAP_STATE_SWAP_OUT_IN_PROGRESS, SWAP_STATE_ACTIVE);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        assert_int_equal(swap_engine_state(f->e), SWAP_STATE_ACTIVE);
        assert_int_equal(swap_engine_trim(f->e, &msg), -EINVAL);
        assert_int_equal(swap_engine_out(f->e, &msg), -EINVAL);
        assert_int_equal(swap_engine_state(f->e), SWAP_STATE_ACTIVE);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.swap_pages, NPAGES);
        assert_int_equal(s.staging_pages, 0);
        assert_string_equal(s.last_error, "");

        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        expect_refused(f, swap_engine_out, SWAP_STATE_SWAP_IN_IN_PROGRESS, SWAP_STATE_READY);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        assert_int_equal(swap_engine_state(f->e), SWAP_STATE_READY);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.resident_pages, NPAGES);

        swap_engine_dispatch(f->e);
        /* Pending -> SwapOutInProgress -> Active -> SwapInInProgress -> Ready */
        static const SwapState want[] = { SWAP_STATE_PENDING, SWAP_STATE_SWAP_OUT_IN_PROGRESS, SWAP_STATE_ACTIVE,
                                           SWAP_STATE_SWAP_IN_IN_PROGRESS, SWAP_STATE_READY };
        assert_int_equal(f->nevents, (int)ELEMENTSOF(want));
        for (int i = 0; i < f->nevents; i++) {
                assert_int_equal(f->events[i][0], want[i]);
                if (i > 0)
                        assert_int_equal(f->events[i][1], want[i - 1]);
        }
        for (uint64_t p = 0; p < NPAGES; p += 17)
                assert_true(page_is(f, p, page_byte(p)));
}

/* Enable from Ready exchanges memfds instead of copying: GuestMem.memfd (same number) and the
 * mapping (same address) name the live guest RAM afterwards, which starts empty; a page the guest
 * touches is faulted in from staging and shows up in that memfd. A refresh then stages it again. */
static void test_enable_exchanges_memfds(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;
        uint8_t buf[PAGE];
        struct stat st;

        fill_all(f);
        uint8_t *host = f->mem.host;
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_ptr_equal(f->mem.host, host);
        assert_int_equal(fstat(f->mem.memfd, &st), 0);
        assert_int_equal(st.st_blocks, 0);
        assert_int_equal(pread(f->mem.memfd, buf, PAGE, 5 * PAGE), PAGE);
        for (unsigned i = 0; i < PAGE; i++)
                assert_int_equal(buf[i], 0); /* a hole: the content is in staging */

        assert_true(page_is(f, 5, page_byte(5))); /* faulted in from staging */
        assert_int_equal(pread(f->mem.memfd, buf, PAGE, 5 * PAGE), PAGE);
        assert_int_equal(buf[0], page_byte(5));
        assert_int_equal(buf[PAGE - 1], page_byte(5));
        swap_engine_status(f->e, &s);
        assert_int_equal(s.staging_pages, NPAGES - 1);
        assert_int_equal(s.resident_pages, 1);
        assert_int_equal(s.copied_from_staging_pages, 1);

        /* a write through the mapping lands in the live memfd; refresh stages it (a copy) */
        memset(host + 5 * PAGE, 0x5a, PAGE);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.staging_pages, NPAGES);
        assert_int_equal(s.resident_pages, 0);
        assert_int_equal(s.transition_pages, 1);
        assert_true(page_is(f, 5, 0x5a));

        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_READY);
        assert_int_equal(s.resident_pages, NPAGES);
        for (uint64_t p = 0; p < NPAGES; p++)
                assert_true(page_is(f, p, p == 5 ? 0x5a : page_byte(p)));

        /* a second cycle from Ready exchanges again (the memfds swap back) */
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.staging_pages, NPAGES);
        assert_int_equal(s.resident_pages, 0);
        for (uint64_t p = 0; p < NPAGES; p += 7)
                assert_true(page_is(f, p, p == 5 ? 0x5a : page_byte(p)));
}

static void test_pause_hook(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_all(f);
        f->pause_result = -EIO;
        assert_int_equal(swap_engine_enable(f->e, &msg), -EIO);
        assert_non_null(msg);
        assert_int_equal(f->resumes, 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_READY);
        assert_int_equal(s.staging_pages, 0);
        assert_non_null(strstr(s.last_error, "pausing"));

        /* already paused by someone else: enable works and leaves the vCPUs paused */
        f->pause_result = -EALREADY;
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(f->resumes, 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_PENDING);
        assert_string_equal(s.last_error, "");
}

static void test_remove_events(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_all(f);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        /* balloon inflate of staged pages [0, 256) from this (non-handler) thread */
        assert_int_equal(madvise(f->mem.host, 256 * PAGE, MADV_REMOVE), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.staging_pages, NPAGES - 256);
        for (uint64_t p = 0; p < 256; p++)
                assert_true(page_is(f, p, 0));
        assert_true(page_is(f, 256, page_byte(256)));
        swap_engine_status(f->e, &s);
        uint64_t staged = s.staging_pages; /* page 256 and its fault-around cluster went back */
        assert_true(staged < NPAGES - 256);

        assert_int_equal(swap_engine_out(f->e, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_ACTIVE);
        uint64_t swapped = s.swap_pages;
        assert_int_equal(swapped, staged);
        /* inflate of file-backed pages [1024, 1536) */
        assert_int_equal(madvise(f->mem.host + 1024 * PAGE, 512 * PAGE, MADV_REMOVE), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.swap_pages, swapped - 512);
        for (uint64_t p = 1024; p < 1536; p++)
                assert_true(page_is(f, p, 0));
        /* removed then written again: the new content stays */
        memset(f->mem.host + 1100 * PAGE, 0x5a, PAGE);
        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        for (uint64_t p = 0; p < NPAGES; p++) {
                uint8_t want = p < 256 || (p >= 1024 && p < 1536) ? 0 : page_byte(p);
                if (p == 1100)
                        want = 0x5a;
                assert_true(page_is(f, p, want));
        }
}

static void test_trim_and_fault_around(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_all(f);
        memset(f->mem.host, 0, 64 * PAGE); /* resident but zero */
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(swap_engine_trim(f->e, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_PENDING);
        assert_int_equal(s.staging_pages, NPAGES - 64);
        assert_int_equal(s.transition_pages, 64);
        assert_int_equal(swap_engine_out(f->e, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.swap_pages, NPAGES - 64);

        /* a sequential scan is served in clusters */
        for (uint64_t p = 0; p < NPAGES; p++)
                assert_true(page_is(f, p, p < 64 ? 0 : page_byte(p)));
        swap_engine_status(f->e, &s);
        assert_int_equal(s.copied_from_file_pages, NPAGES - 64);
        assert_int_equal(s.zeroed_pages, 64);
        assert_true(s.fault_around_pages > (NPAGES - 64) / 2);

        /* refresh; pages unchanged since they came from the file are trimmed as clean */
        memset(f->mem.host + 100 * PAGE, 0x33, PAGE);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(swap_engine_trim(f->e, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.staging_pages, 1);
        assert_int_equal(s.swap_pages, NPAGES - 64 - 1);
}

/* Swap-out without a trim first still never writes an all-zero page: it leaves staging and the
 * file and faults back as a zero page. Scattered zero pages (runs of slots broken up) and a page
 * with a stale file copy that became zero. */
static void test_out_skips_zero_pages(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;
        uint64_t nzero = 0;

        fill_all(f);
        for (uint64_t p = 0; p < NPAGES; p++)
                if (p % 5 == 2 || (p >= 700 && p < 900)) {
                        memset(f->mem.host + p * PAGE, 0, PAGE);
                        nzero++;
                }
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(swap_engine_out(f->e, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_ACTIVE);
        assert_int_equal(s.staging_pages, 0);
        assert_int_equal(s.swap_pages, NPAGES - nzero);
        assert_int_equal(s.transition_pages, NPAGES - nzero);

        /* page 1 comes back from the file, is zeroed, is staged again and swapped out again */
        assert_true(page_is(f, 1, page_byte(1)));
        memset(f->mem.host + PAGE, 0, PAGE);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(swap_engine_out(f->e, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_ACTIVE);
        assert_int_equal(s.staging_pages, 0);
        assert_true(s.swap_pages <= NPAGES - nzero - 1);

        uint64_t zeroed = s.zeroed_pages;
        for (uint64_t p = 0; p < NPAGES; p++) {
                bool z = p == 1 || p % 5 == 2 || (p >= 700 && p < 900);
                assert_true(page_is(f, p, z ? 0 : page_byte(p)));
        }
        swap_engine_status(f->e, &s);
        assert_true(s.zeroed_pages > zeroed);
        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_READY);
}

/* A swap-in that cannot read the file (EIO) goes to Failed with the reason and loses nothing: the
 * pages left are still served by faults, and a later disable finishes the job. */
static void test_swap_in_read_error(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_and_swap_out(f);
        swap_engine_test_fail_swap_in(f->e, -EIO);
        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_FAILED);
        assert_non_null(strstr(s.last_error, "swap-in failed"));
        assert_non_null(strstr(s.last_error, strerror(EIO)));
        assert_int_equal(s.swap_pages, NPAGES);
        /* trim and swap-out are refused in Failed; the state stays */
        assert_int_equal(swap_engine_trim(f->e, &msg), -EINVAL);
        assert_int_equal(swap_engine_out(f->e, &msg), -EINVAL);
        assert_int_equal(swap_engine_state(f->e), SWAP_STATE_FAILED);
        for (uint64_t p = 0; p < NPAGES; p += 13)
                assert_true(page_is(f, p, page_byte(p)));

        swap_engine_test_fail_swap_in(f->e, 0);
        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_READY);
        assert_int_equal(s.swap_pages, 0);
        assert_int_equal(s.staging_pages, 0);
        for (uint64_t p = 0; p < NPAGES; p++)
                assert_true(page_is(f, p, page_byte(p)));
}

/* An enable from Ready that cannot register guest RAM with userfaultfd changes nothing: the memfd
 * exchange is undone, or, when even that cannot be done, the pages are copied back. Either way
 * the guest's pages are all there, resident, and a later enable works. */
static void test_enable_register_fails(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;
        const unsigned cases[] = {SWAP_TEST_FAIL_REGISTER,
                                  SWAP_TEST_FAIL_REGISTER | SWAP_TEST_FAIL_UNDO_EXCHANGE};

        fill_all(f);
        memset(f->mem.host + 5 * PAGE, 0, 3 * PAGE);
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                /* a hole (never touched or ballooned), again each round: the reads below fill it */
                assert_int_equal(fallocate(f->mem.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                           200 * PAGE, 40 * PAGE),
                                 0);
                swap_engine_test_fail_enable(f->e, cases[c]);
                assert_int_equal(swap_engine_enable(f->e, &msg), -ENOMEM);
                assert_non_null(strstr(msg, "userfaultfd"));
                swap_engine_status(f->e, &s);
                assert_int_equal(s.state, SWAP_STATE_READY);
                assert_int_equal(s.staging_pages, 0);
                assert_int_equal(s.resident_pages, NPAGES - 40);
                for (uint64_t p = 0; p < NPAGES; p++) {
                        bool z = (p >= 5 && p < 8) || (p >= 200 && p < 240);
                        assert_true(page_is(f, p, z ? 0 : page_byte(p)));
                }
                assert_int_equal(f->resumes, f->pauses);
        }
        swap_engine_test_fail_enable(f->e, 0);
        assert_int_equal(
                fallocate(f->mem.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 200 * PAGE, 40 * PAGE),
                0);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_PENDING);
        assert_int_equal(s.staging_pages, NPAGES - 40);
        for (uint64_t p = 0; p < NPAGES; p++) {
                bool z = (p >= 5 && p < 8) || (p >= 200 && p < 240);
                assert_true(page_is(f, p, z ? 0 : page_byte(p)));
        }
}

/* Faults close together but skipping swapped pages (an idle guest's code, stacks and page
 * tables) are no stream: each brings back only its own page, not the data around it. */
static void test_scattered_faults_no_fault_around(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_all(f);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        for (uint64_t p = 100; p < 100 + 3 * 40; p += 3)
                assert_true(page_is(f, p, page_byte(p)));
        swap_engine_status(f->e, &s);
        assert_int_equal(s.copied_from_staging_pages, 40);
        assert_int_equal(s.fault_around_pages, 0);
        assert_int_equal(s.staging_pages, NPAGES - 40);

        /* a scan over pages the guest has and on into swapped ones is still a stream */
        for (uint64_t p = 100; p < 1100; p++)
                assert_true(page_is(f, p, page_byte(p)));
        swap_engine_status(f->e, &s);
        assert_true(s.fault_around_pages > 500);
}

static void test_exit_while_enabled(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;

        fill_all(f);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        assert_int_equal(swap_engine_out(f->e, &msg), 0);
        /* free without waiting: aborts the swap-out, brings everything back, unregisters */
        f->e = swap_engine_free(f->e);
        for (uint64_t p = 0; p < NPAGES; p++)
                assert_true(page_is(f, p, page_byte(p)));
}

/* Wait until the swap-in has copied its first pages (or finished): the next chunks are planned and
 * being read then. A bounded busy poll, no timing assumption: if it finished, the test still holds. */
static void wait_swap_in_started(Fixture *f)
{
        SwapStatusInfo s;
        for (unsigned i = 0; i < 10000000; i++) {
                swap_engine_status(f->e, &s);
                if (s.state != SWAP_STATE_SWAP_IN_IN_PROGRESS || s.swap_pages < NPAGES)
                        return;
        }
}

static unsigned count_threads(void)
{
        DIR *d = opendir("/proc/self/task");
        unsigned n = 0;
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));)
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* Swap-in of a mix of staged and file pages (chunks read from both), counted exactly: with nothing
 * racing it, every swapped page is copied once and the transition counts them all. */
static void test_swap_in_mixed_sources(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_and_swap_out(f);
        /* Fault in scattered pages (one read each) and change some: a refresh stages them again,
         * their neighbours stay in the file. */
        for (uint64_t p = 3; p < NPAGES; p += 97) {
                assert_true(page_is(f, p, page_byte(p)));
                if (p % 2)
                        memset(f->mem.host + p * PAGE, 0xa5, PAGE);
        }
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        swap_engine_status(f->e, &s);
        assert_true(s.staging_pages > 0);
        assert_true(s.swap_pages > 0);
        uint64_t swapped = s.staging_pages + s.swap_pages;

        unsigned threads = count_threads();
        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_READY);
        assert_int_equal(s.transition_pages, swapped);
        assert_int_equal(s.staging_pages, 0);
        assert_int_equal(s.swap_pages, 0);
        assert_int_equal(s.resident_pages, NPAGES);
        assert_int_equal(count_threads(), threads); /* the reader thread is gone */
        for (uint64_t p = 0; p < NPAGES; p++) {
                bool changed = p >= 3 && (p - 3) % 97 == 0 && p % 2;
                assert_true(page_is(f, p, changed ? 0xa5 : page_byte(p)));
        }
}

/* An enable while the swap-in runs aborts it (the reader thread stops and is joined); the pages
 * already in and those still swapped are all intact, and a second disable finishes the job. */
static void test_swap_in_aborted(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_and_swap_out(f);
        unsigned threads = count_threads();

        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        wait_swap_in_started(f);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0); /* aborts the swap-in wherever it is */
        assert_int_equal(count_threads(), threads);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_PENDING);
        assert_int_equal(s.staging_pages + s.swap_pages, NPAGES);
        for (uint64_t p = 0; p < NPAGES; p += 7)
                assert_true(page_is(f, p, page_byte(p)));

        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_READY);
        assert_int_equal(s.staging_pages, 0);
        assert_int_equal(s.swap_pages, 0);
        assert_int_equal(count_threads(), threads);
        for (uint64_t p = 0; p < NPAGES; p++)
                assert_true(page_is(f, p, page_byte(p)));
}

/* Balloon REMOVEs and guest writes while the swap-in runs (they may hit chunks planned and read
 * but not copied yet): a removed page stays zero, a page written after its fault keeps the write,
 * whichever side gets to a page first. */
#define RM_FIRST 1024u
#define WR_FIRST 1536u
static void test_swap_in_races(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_and_swap_out(f);

        assert_int_equal(swap_engine_disable(f->e, false, &msg), 0);
        /* The first 2 MiB chunk is in: the next ones are planned and being read ahead. Remove the
         * third, write into the fourth. */
        wait_swap_in_started(f);
        assert_int_equal(madvise(f->mem.host + RM_FIRST * PAGE, 512 * PAGE, MADV_REMOVE), 0);
        for (uint64_t p = WR_FIRST; p < WR_FIRST + 512; p += 5)
                f->mem.host[p * PAGE + 1] = 0x77;
        assert_int_equal(swap_engine_wait_idle(f->e, 60000), 0);
        swap_engine_status(f->e, &s);
        assert_int_equal(s.state, SWAP_STATE_READY);
        assert_int_equal(s.staging_pages, 0);
        assert_int_equal(s.swap_pages, 0);
        for (uint64_t p = 0; p < NPAGES; p++) {
                const uint8_t *a = f->mem.host + p * PAGE;
                uint8_t want = p >= RM_FIRST && p < RM_FIRST + 512 ? 0 : page_byte(p);
                bool written = p >= WR_FIRST && p < WR_FIRST + 512 && (p - WR_FIRST) % 5 == 0;
                assert_int_equal(a[0], want);
                assert_int_equal(a[1], written ? 0x77 : want);
                assert_true(memcmp(a + 2, a + 3, PAGE - 3) == 0 && a[2] == want);
        }
}

/* Faults the fault thread cannot queue (as if out of memory: a test limit of one per round) are
 * not lost: their threads are woken, fault again and are served. Four threads read every page of
 * their quarter of staged RAM at once; each finishes with the right data. */
#define TOUCHERS 4u
typedef struct Toucher {
        Fixture *f;
        unsigned idx;
        uint64_t bad;
} Toucher;

static void *toucher(void *arg)
{
        Toucher *t = arg;
        uint64_t per = NPAGES / TOUCHERS;
        for (uint64_t p = t->idx * per; p < (t->idx + 1) * per; p += 3)
                t->bad += !page_is(t->f, p, page_byte(p));
        return NULL;
}

static void test_fault_queue_overflow(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        SwapStatusInfo s;

        fill_all(f);
        assert_int_equal(swap_engine_enable(f->e, &msg), 0);
        swap_engine_test_limit_fault_queue(f->e, 1);
        pthread_t th[TOUCHERS];
        Toucher t[TOUCHERS];
        for (unsigned i = 0; i < TOUCHERS; i++) {
                t[i] = (Toucher){.f = f, .idx = i};
                assert_int_equal(pthread_create(&th[i], NULL, toucher, &t[i]), 0);
        }
        for (unsigned i = 0; i < TOUCHERS; i++) {
                assert_int_equal(pthread_join(th[i], NULL), 0);
                assert_int_equal(t[i].bad, 0);
        }
        swap_engine_test_limit_fault_queue(f->e, 0);
        swap_engine_status(f->e, &s);
        /* Four threads faulting at once leave more than one fault per round: some were refused. */
        assert_non_null(strstr(s.last_error, "fault queue"));
        assert_int_equal(s.state, SWAP_STATE_PENDING);
        assert_true(s.copied_from_staging_pages > 0);
        assert_int_equal(s.staging_pages + s.copied_from_staging_pages, NPAGES);
        for (uint64_t p = 0; p < NPAGES; p++)
                assert_true(page_is(f, p, page_byte(p)));
}

/* Exit 77 with the reason when this machine has no usable userfaultfd. */
static void skip_without_userfaultfd(void)
{
        GuestMem m = { .size = PAGE, .memfd = memfd_create("probe", MFD_CLOEXEC) };
        char dir[] = "/tmp/test-swap-probe-XXXXXX";
        SwapEngine *e = NULL;
        if (m.memfd < 0 || ftruncate(m.memfd, PAGE) < 0 || !mkdtemp(dir))
                return;
        m.host = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, m.memfd, 0);
        int r = m.host == MAP_FAILED ? -errno : swap_engine_new(&m, dir, NULL, &e);
        swap_engine_free(e);
        rmdir(dir);
        if (r == -ENOSYS || r == -EPERM || r == -EACCES || r == -EOPNOTSUPP) {
                printf("SKIP: userfaultfd with MISSING_SHMEM|EVENT_REMOVE unavailable: %s\n", strerror(-r));
                exit(77);
        }
}

int main(void)
{
        skip_without_userfaultfd();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_state_strings),
                cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_ops_ready, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ops_and_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enable_exchanges_memfds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pause_hook, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_trim_and_fault_around, setup, teardown),
                cmocka_unit_test_setup_teardown(test_out_skips_zero_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_swap_in_read_error, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enable_register_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_scattered_faults_no_fault_around, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exit_while_enabled, setup, teardown),
                cmocka_unit_test_setup_teardown(test_swap_in_mixed_sources, setup, teardown),
                cmocka_unit_test_setup_teardown(test_swap_in_aborted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_swap_in_races, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fault_queue_overflow, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
