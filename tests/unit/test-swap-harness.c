/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Drives the vmm-swap engine over a memfd "guest RAM" without KVM, for tests/integration/
 * test-swap-*.sh. Test threads touching the RAM are served by the fault thread exactly like vCPUs.
 *
 *   swap-harness integrity DIR [RAM_MIB FILL_MIB SEED]   the issue-5 integrity sequence
 *   swap-harness stress DIR                              concurrent writer + balloon + op cycles
 *   swap-harness enospc DIR RAM_MIB                      swap-out into a too-small DIR
 *   swap-harness hold DIR STATE                          reach STATE, print "HOLD ...", sleep
 *
 * Exit 0 = pass, 1 = fail, 77 = userfaultfd unavailable (prints "SKIP: ..."). */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "vmm_backend/swap/swap.h"

#define PAGE 4096u

static const char *swap_dir;
static GuestMem mem;
static uint64_t npages;
static uint32_t *page_seed; /* expected content per page: 0 = zero, else pattern(seed, page) */
static int failures;

#define CHECK(cond, ...)                                                                                     \
        do {                                                                                                 \
                if (!(cond)) {                                                                               \
                        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
                        fprintf(stderr, __VA_ARGS__);                                                        \
                        fputc('\n', stderr);                                                                 \
                        failures++;                                                                          \
                }                                                                                            \
        } while (0)

static void die(const char *fmt, ...) _printf_(1, 2) _noreturn_;
static void die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        exit(1);
}

static uint64_t mix(uint64_t x)
{
        x ^= x >> 33;
        x *= UINT64_C(0xff51afd7ed558ccd);
        x ^= x >> 33;
        x *= UINT64_C(0xc4ceb9fe1a85ec53);
        x ^= x >> 33;
        return x;
}

static void pattern(uint8_t *dst, uint32_t seed, uint64_t page)
{
        uint64_t *w = (uint64_t *)dst, s = mix(((uint64_t)seed << 32) ^ page ^ UINT64_C(0x9e3779b97f4a7c15));
        for (unsigned i = 0; i < PAGE / 8; i++) {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                w[i] = s;
        }
}

/* Fill [first, first+n) pages: every 8th page (by hash) is written as zeros (resident but zero). */
static uint64_t fill(uint64_t first, uint64_t n, uint32_t seed)
{
        uint64_t nonzero = 0;
        for (uint64_t p = first; p < first + n; p++) {
                uint8_t *dst = mem.host + p * PAGE;
                if (mix(seed * UINT64_C(31) + p) % 8 == 0) {
                        memset(dst, 0, PAGE);
                        page_seed[p] = 0;
                } else {
                        pattern(dst, seed, p);
                        page_seed[p] = seed;
                        nonzero++;
                }
        }
        return nonzero;
}

static uint64_t count_nonzero(void)
{
        uint64_t n = 0;
        for (uint64_t p = 0; p < npages; p++)
                n += page_seed[p] != 0;
        return n;
}

typedef struct VerifyArgs {
        uint64_t first, n, step;
        uint64_t bad;
        uint64_t checksum;
} VerifyArgs;

static void *verify_thread(void *userdata)
{
        VerifyArgs *a = userdata;
        static __thread uint8_t want[PAGE];
        uint64_t h = UINT64_C(1469598103934665603);
        for (uint64_t p = a->first; p < a->first + a->n; p += a->step) {
                const uint8_t *got = mem.host + p * PAGE;
                if (page_seed[p])
                        pattern(want, page_seed[p], p);
                else
                        memset(want, 0, PAGE);
                if (memcmp(got, want, PAGE) != 0) {
                        if (a->bad < 5)
                                fprintf(stderr, "page %" PRIu64 " differs (seed %u)\n", p, page_seed[p]);
                        a->bad++;
                }
                h = mix(h ^ mix(*(const uint64_t *)got + p));
        }
        a->checksum = h;
        return NULL;
}

/* Verify from a thread other than the engine's (every page of the range, or a sample). */
static uint64_t verify(const char *what, uint64_t first, uint64_t n, uint64_t step)
{
        VerifyArgs a = { .first = first, .n = n, .step = step };
        pthread_t t;
        if (pthread_create(&t, NULL, verify_thread, &a) != 0)
                die("pthread_create");
        pthread_join(t, NULL);
        CHECK(a.bad == 0, "%s: %" PRIu64 " pages differ", what, a.bad);
        printf("verify %s: %s checksum %016" PRIx64 "\n", what, a.bad ? "BAD" : "OK", a.checksum);
        return a.checksum;
}

static void setup_mem(uint64_t ram_mib)
{
        mem.size = ram_mib * 1024 * 1024;
        npages = mem.size / PAGE;
        mem.memfd = memfd_create("guest-ram", MFD_CLOEXEC);
        if (mem.memfd < 0 || ftruncate(mem.memfd, (off_t)mem.size) < 0)
                die("memfd: %m");
        mem.host = mmap(NULL, mem.size, PROT_READ | PROT_WRITE, MAP_SHARED, mem.memfd, 0);
        if (mem.host == MAP_FAILED)
                die("mmap: %m");
        page_seed = calloc(npages, sizeof(uint32_t));
        if (!page_seed)
                die("oom");
}

static SwapEngine *new_engine(const SwapEngineHooks *hooks)
{
        SwapEngine *e;
        int r = swap_engine_new(&mem, swap_dir, hooks, &e);
        if (r == -ENOSYS || r == -EPERM || r == -EACCES || r == -EOPNOTSUPP || r == -ENOENT) {
                printf("SKIP: cannot create the engine (userfaultfd or O_TMPFILE): %s\n", strerror(-r));
                exit(77);
        }
        if (r < 0)
                die("swap_engine_new: %s", strerror(-r));
        return e;
}

static SwapStatusInfo status(SwapEngine *e, const char *label)
{
        SwapStatusInfo s;
        swap_engine_status(e, &s);
        printf("status %-22s state=%s resident=%" PRIu64 " staging=%" PRIu64 " swap=%" PRIu64
               " from_staging=%" PRIu64 " from_file=%" PRIu64 " zeroed=%" PRIu64 " redundant=%" PRIu64
               " fault_around=%" PRIu64 " transition=%" PRIu64 "p/%" PRIu64 "ms%s%s\n",
               label, swap_state_to_string(s.state), s.resident_pages, s.staging_pages, s.swap_pages,
               s.copied_from_staging_pages, s.copied_from_file_pages, s.zeroed_pages, s.redundant_pages,
               s.fault_around_pages, s.transition_pages, s.transition_time_ms, s.last_error[0] ? " error=" : "",
               s.last_error);
        return s;
}

static void op(int r, const char *what, const char *msg)
{
        if (r < 0)
                die("%s failed: %s (%s)", what, strerror(-r), strna(msg));
}

static void wait_idle(SwapEngine *e)
{
        if (swap_engine_wait_idle(e, 300 * 1000) < 0)
                die("background job did not finish in 300 s");
}

/* Allocated bytes of our swap file: found through /proc/self/fd (it has no name in the dir). */
static int64_t swap_file_bytes(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int64_t bytes = -1;
        char path[PATH_MAX], link[PATH_MAX];
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
                ssize_t k = readlink(path, link, sizeof(link) - 1);
                if (k <= 0)
                        continue;
                link[k] = 0;
                size_t dl = strlen(swap_dir);
                if (strncmp(link, swap_dir, dl) == 0 && link[dl] == '/' && strstr(link, "(deleted)")) {
                        struct stat st;
                        if (stat(path, &st) == 0)
                                bytes = (int64_t)st.st_blocks * 512;
                }
        }
        closedir(d);
        return bytes;
}

/* --- integrity ------------------------------------------------------------------------------- */

static int cmd_integrity(uint64_t ram_mib, uint64_t fill_mib, uint32_t seed)
{
        setup_mem(ram_mib);
        uint64_t fill_pages = fill_mib * 1024 * 1024 / PAGE;
        _cleanup_(swap_engine_freep) SwapEngine *e = new_engine(NULL);
        const char *msg = NULL;
        SwapStatusInfo s;

        uint64_t nonzero = fill(0, fill_pages, seed);
        printf("filled %" PRIu64 " pages (%" PRIu64 " non-zero) of %" PRIu64 "\n", fill_pages, nonzero, npages);
        uint64_t sum0 = verify("after-fill", 0, fill_pages, 1);

        /* enable: every resident page moves to staging, guest RAM is empty */
        op(swap_engine_enable(e, &msg), "enable", msg);
        s = status(e, "enable");
        CHECK(s.state == SWAP_STATE_PENDING, "state %d", s.state);
        CHECK(s.staging_pages == fill_pages, "staging %" PRIu64 " want %" PRIu64, s.staging_pages, fill_pages);
        CHECK(s.transition_pages == fill_pages, "transition %" PRIu64, s.transition_pages);
        CHECK(s.resident_pages == 0, "resident %" PRIu64, s.resident_pages);

        /* verify: faults served from staging; untouched memory (sampled) from zero pages */
        CHECK(verify("from-staging", 0, fill_pages, 1) == sum0, "checksum changed");
        verify("untouched-sample", fill_pages, npages - fill_pages, 256);
        uint64_t sampled = DIV_ROUND_UP(npages - fill_pages, 256);
        s = status(e, "after-verify-1");
        CHECK(s.copied_from_staging_pages == fill_pages, "from staging %" PRIu64, s.copied_from_staging_pages);
        CHECK(s.staging_pages == 0, "staging %" PRIu64, s.staging_pages);
        CHECK(s.zeroed_pages == sampled, "zeroed %" PRIu64 " want %" PRIu64, s.zeroed_pages, sampled);
        CHECK(s.copied_from_file_pages == 0, "from file %" PRIu64, s.copied_from_file_pages);

        /* refresh, trim (zero pages go), swap-out (only non-zero pages reach the file) */
        op(swap_engine_enable(e, &msg), "enable-2", msg);
        s = status(e, "enable-2");
        CHECK(s.staging_pages == fill_pages + sampled, "staging %" PRIu64, s.staging_pages);
        op(swap_engine_trim(e, &msg), "trim", msg);
        wait_idle(e);
        s = status(e, "trim");
        CHECK(s.state == SWAP_STATE_PENDING, "state %d", s.state);
        CHECK(s.staging_pages == nonzero, "staging %" PRIu64 " want %" PRIu64, s.staging_pages, nonzero);
        CHECK(s.transition_pages == fill_pages + sampled - nonzero, "trimmed %" PRIu64, s.transition_pages);
        op(swap_engine_out(e, &msg), "out", msg);
        wait_idle(e);
        s = status(e, "out");
        CHECK(s.state == SWAP_STATE_ACTIVE, "state %d", s.state);
        CHECK(s.swap_pages == nonzero, "swap %" PRIu64 " want %" PRIu64, s.swap_pages, nonzero);
        CHECK(s.staging_pages == 0, "staging %" PRIu64, s.staging_pages);
        CHECK(s.transition_pages == nonzero, "written %" PRIu64, s.transition_pages);
        int64_t fb = swap_file_bytes();
        CHECK(fb == (int64_t)(nonzero * PAGE), "swap file holds %" PRId64 " bytes, want %" PRIu64, fb, nonzero * PAGE);

        /* verify: faults served from the file */
        uint64_t zeroed_before = s.zeroed_pages;
        CHECK(verify("from-file", 0, fill_pages, 1) == sum0, "checksum changed");
        s = status(e, "after-verify-2");
        CHECK(s.copied_from_file_pages == nonzero, "from file %" PRIu64 " want %" PRIu64, s.copied_from_file_pages,
              nonzero);
        CHECK(s.zeroed_pages - zeroed_before == fill_pages - nonzero, "zeroed %" PRIu64,
              s.zeroed_pages - zeroed_before);
        CHECK(s.fault_around_pages > 0, "no fault-around on a sequential scan");
        CHECK(s.swap_pages == 0, "swap %" PRIu64, s.swap_pages);

        /* rewrite an eighth, then enable/trim/out: unchanged pages are trimmed as clean (their file
         * copy is re-marked present), so only the rewritten pages are written again */
        uint64_t part = fill_pages / 8;
        uint64_t nonzero_old_part = 0;
        for (uint64_t p = 0; p < part; p++)
                nonzero_old_part += page_seed[p] != 0;
        uint64_t nonzero_part = fill(0, part, seed + 1);
        uint64_t nonzero_all = count_nonzero();
        uint64_t sum1 = verify("after-rewrite", 0, fill_pages, 1);
        op(swap_engine_enable(e, &msg), "enable-3", msg);
        op(swap_engine_trim(e, &msg), "trim-3", msg);
        wait_idle(e);
        s = status(e, "trim-3");
        CHECK(s.staging_pages == nonzero_part, "staging %" PRIu64 " want %" PRIu64, s.staging_pages, nonzero_part);
        CHECK(s.swap_pages == nonzero - nonzero_old_part, "clean pages re-marked %" PRIu64 " want %" PRIu64,
              s.swap_pages, nonzero - nonzero_old_part);
        op(swap_engine_out(e, &msg), "out-3", msg);
        wait_idle(e);
        s = status(e, "out-3");
        CHECK(s.state == SWAP_STATE_ACTIVE, "state %d", s.state);
        CHECK(s.swap_pages == nonzero_all, "swap %" PRIu64 " want %" PRIu64, s.swap_pages, nonzero_all);
        CHECK(s.transition_pages == nonzero_part, "written %" PRIu64 " want %" PRIu64, s.transition_pages,
              nonzero_part);
        fb = swap_file_bytes();
        CHECK(fb <= (int64_t)((nonzero + nonzero_part) * PAGE), "swap file %" PRId64 " bytes", fb);

        /* disable: everything comes back; only the non-zero pages are resident */
        op(swap_engine_disable(e, false, &msg), "disable", msg);
        wait_idle(e);
        s = status(e, "disable");
        CHECK(s.state == SWAP_STATE_READY, "state %d", s.state);
        CHECK(s.resident_pages == nonzero_all, "resident %" PRIu64 " want %" PRIu64, s.resident_pages, nonzero_all);
        CHECK(s.staging_pages == 0 && s.swap_pages == 0, "staging %" PRIu64 " swap %" PRIu64, s.staging_pages,
              s.swap_pages);
        CHECK(s.transition_pages == nonzero_all, "swapped in %" PRIu64, s.transition_pages);
        CHECK(swap_file_bytes() == 0, "swap file not truncated");
        CHECK(verify("after-disable", 0, fill_pages, 1) == sum1, "checksum changed");

        /* and once more through the exit path: enable, out, then free while Active */
        op(swap_engine_enable(e, &msg), "enable-4", msg);
        op(swap_engine_out(e, &msg), "out-4", msg);
        wait_idle(e);
        e = swap_engine_free(e);
        CHECK(verify("after-exit", 0, fill_pages, 1) == sum1, "checksum changed");

        printf("%s\n", failures ? "integrity: FAILED" : "integrity: OK");
        return failures ? 1 : 0;
}

/* --- stress: a pausable "vCPU" writer, a balloon remover and op cycles ------------------------- */

static atomic_bool stop_all, pause_req;
static atomic_int parked;
static uint64_t writer_first, writer_n;

static int hook_pause(void *userdata)
{
        atomic_store(&pause_req, true);
        while (!atomic_load(&parked))
                usleep(100);
        return 0;
}

static int hook_resume(void *userdata)
{
        atomic_store(&pause_req, false);
        return 0;
}

static void *writer_thread(void *userdata)
{
        uint32_t gen = 1000;
        uint64_t x = 12345;
        while (!atomic_load(&stop_all)) {
                if (atomic_load(&pause_req)) {
                        atomic_store(&parked, 1);
                        while (atomic_load(&pause_req) && !atomic_load(&stop_all))
                                usleep(100);
                        atomic_store(&parked, 0);
                        continue;
                }
                x = mix(x);
                uint64_t p = writer_first + x % writer_n;
                /* read-check the page, then rewrite it with a new generation */
                uint8_t want[PAGE];
                if (page_seed[p])
                        pattern(want, page_seed[p], p);
                else
                        memset(want, 0, PAGE);
                if (memcmp(mem.host + p * PAGE, want, PAGE) != 0) {
                        fprintf(stderr, "writer: page %" PRIu64 " lost its content\n", p);
                        failures++;
                }
                gen++;
                if (x % 5 == 0) {
                        memset(mem.host + p * PAGE, 0, PAGE);
                        page_seed[p] = 0;
                } else {
                        pattern(mem.host + p * PAGE, gen, p);
                        page_seed[p] = gen;
                }
        }
        return NULL;
}

static int cmd_stress(void)
{
        setup_mem(128);
        SwapEngineHooks hooks = { .pause_vcpus = hook_pause, .resume_vcpus = hook_resume };
        _cleanup_(swap_engine_freep) SwapEngine *e = new_engine(&hooks);
        const char *msg;

        /* [0, 48 MiB): static data; [48, 96): the writer's pages; [96, 128): balloon area */
        uint64_t mib = 256;
        fill(0, 96 * mib, 7);
        fill(96 * mib, 32 * mib, 8);
        writer_first = 48 * mib;
        writer_n = 48 * mib;
        pthread_t w;
        if (pthread_create(&w, NULL, writer_thread, NULL) != 0)
                die("pthread_create");

        for (int round = 0; round < 4; round++) {
                op(swap_engine_enable(e, &msg), "enable", msg);
                usleep(20000);
                op(swap_engine_trim(e, &msg), "trim", msg);
                wait_idle(e);
                op(swap_engine_out(e, &msg), "out", msg);
                /* balloon inflate while swapping out: removed pages must read as zero afterwards */
                uint64_t b = 96 * mib + (uint64_t)round * 8 * mib;
                CHECK(madvise(mem.host + b * PAGE, 4 * mib * PAGE, MADV_REMOVE) == 0, "madvise: %m");
                for (uint64_t p = b; p < b + 4 * mib; p++)
                        page_seed[p] = 0;
                wait_idle(e);
                verify("static", 0, 48 * mib, 7);
                verify("balloon", 96 * mib, 32 * mib, 1);
                if (round % 2 == 1) {
                        op(swap_engine_disable(e, round == 3, &msg), "disable", msg);
                        if (round == 1) {
                                /* refresh while swapping in aborts the swap-in */
                                op(swap_engine_enable(e, &msg), "enable-during-swap-in", msg);
                        }
                        wait_idle(e);
                }
                status(e, "round");
        }
        atomic_store(&stop_all, true);
        pthread_join(w, NULL);
        CHECK(swap_engine_state(e) == SWAP_STATE_READY, "state %d", swap_engine_state(e));
        verify("final", 0, npages, 1);
        printf("%s\n", failures ? "stress: FAILED" : "stress: OK");
        return failures ? 1 : 0;
}

/* --- enospc ---------------------------------------------------------------------------------- */

static int cmd_enospc(uint64_t ram_mib)
{
        setup_mem(ram_mib);
        _cleanup_(swap_engine_freep) SwapEngine *e = new_engine(NULL);
        const char *msg;

        uint64_t nonzero = fill(0, npages, 3);
        uint64_t sum = verify("after-fill", 0, npages, 1);
        op(swap_engine_enable(e, &msg), "enable", msg);
        op(swap_engine_trim(e, &msg), "trim", msg);
        wait_idle(e);
        op(swap_engine_out(e, &msg), "out", msg);
        wait_idle(e);
        SwapStatusInfo s = status(e, "out-enospc");
        CHECK(s.state == SWAP_STATE_PENDING, "state %s", swap_state_to_string(s.state));
        CHECK(strstr(s.last_error, "No space left") != NULL, "last_error '%s'", s.last_error);
        CHECK(s.staging_pages > 0 && s.staging_pages + s.swap_pages == nonzero,
              "staging %" PRIu64 " + swap %" PRIu64 " != %" PRIu64, s.staging_pages, s.swap_pages, nonzero);
        CHECK(verify("after-enospc", 0, npages, 1) == sum, "checksum changed");

        /* everything is back in memory; a second attempt fails the same way, then disable works */
        op(swap_engine_enable(e, &msg), "enable-2", msg);
        op(swap_engine_out(e, &msg), "out-2", msg);
        wait_idle(e);
        s = status(e, "out-enospc-2");
        CHECK(s.state == SWAP_STATE_PENDING && s.last_error[0], "state %s", swap_state_to_string(s.state));
        op(swap_engine_disable(e, false, &msg), "disable", msg);
        wait_idle(e);
        s = status(e, "disable");
        CHECK(s.state == SWAP_STATE_READY, "state %s", swap_state_to_string(s.state));
        CHECK(verify("after-disable", 0, npages, 1) == sum, "checksum changed");
        printf("%s\n", failures ? "enospc: FAILED" : "enospc: OK");
        return failures ? 1 : 0;
}

/* --- hold: stay in a state until killed ------------------------------------------------------- */

static int cmd_hold(const char *state)
{
        setup_mem(512);
        _cleanup_(swap_engine_freep) SwapEngine *e = new_engine(NULL);
        const char *msg;
        SwapState want = swap_state_from_string(state);
        if (want < 0)
                die("unknown state %s", state);

        fill(0, npages / 2, 5);
        if (want != SWAP_STATE_READY)
                op(swap_engine_enable(e, &msg), "enable", msg);
        if (want == SWAP_STATE_TRIM_IN_PROGRESS)
                op(swap_engine_trim(e, &msg), "trim", msg);
        if (want == SWAP_STATE_SWAP_OUT_IN_PROGRESS || want == SWAP_STATE_ACTIVE ||
            want == SWAP_STATE_SWAP_IN_IN_PROGRESS)
                op(swap_engine_out(e, &msg), "out", msg);
        if (want == SWAP_STATE_ACTIVE || want == SWAP_STATE_SWAP_IN_IN_PROGRESS)
                wait_idle(e);
        if (want == SWAP_STATE_FAILED) {
                /* a swap-in that cannot read the file: half the pages still only in the file */
                op(swap_engine_out(e, &msg), "out", msg);
                wait_idle(e);
                swap_engine_test_fail_swap_in(e, -EIO);
                op(swap_engine_disable(e, false, &msg), "disable", msg);
                wait_idle(e);
        }
        if (want == SWAP_STATE_SWAP_IN_IN_PROGRESS)
                op(swap_engine_disable(e, true, &msg), "disable", msg);
        printf("HOLD %s (now %s) file=%" PRId64 "\n", state, swap_state_to_string(swap_engine_state(e)),
               swap_file_bytes());
        fflush(stdout);
        for (;;)
                pause();
}

int main(int argc, char **argv)
{
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 3) {
                fprintf(stderr, "usage: %s integrity|stress|enospc|hold DIR [args]\n", argv[0]);
                return 2;
        }
        swap_dir = argv[2];
        if (streq(argv[1], "integrity"))
                return cmd_integrity(argc > 3 ? strtoull(argv[3], NULL, 10) : 512,
                                     argc > 4 ? strtoull(argv[4], NULL, 10) : 256,
                                     argc > 5 ? (uint32_t)strtoul(argv[5], NULL, 10) : 42);
        if (streq(argv[1], "stress"))
                return cmd_stress();
        if (streq(argv[1], "enospc"))
                return cmd_enospc(argc > 3 ? strtoull(argv[3], NULL, 10) : 64);
        if (streq(argv[1], "hold") && argc > 3)
                return cmd_hold(argv[3]);
        fprintf(stderr, "unknown command %s\n", argv[1]);
        return 2;
}
