/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench/swap: the vmm-swap engine measured from host threads, each figure next to its limit from
 * the same run (issue 5): (a) enable vs memcpy, (b) swap-out vs dd conv=fdatasync in the same
 * dir, (c) fault latency from staging / file vs first touch / pread 4 KiB, (d) sequential scan of
 * swapped-out memory vs never-touched memory, (e) disable vs reading the file.
 * Prints `name value unit` lines. Usage: swap-bench DIR [RAM_MIB]
 *
 * bench/swap.sh measures the real VMM with the test guest and takes its host-side limits from
 * `swap-bench --ref FILE MIB`: memcpy of MIB MiB, random cold pread of 4 KiB from FILE (a file in
 * the swap dir) and a cold sequential read of FILE. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "vmm_backend/swap/swap.h"

#define PAGE 4096u

extern char **environ;

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
        perror(what);
        exit(1);
}

static uint8_t *map_memfd(uint64_t size, int *ret_fd)
{
        int fd = memfd_create("bench", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
                die("memfd");
        uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                die("mmap");
        *ret_fd = fd;
        return p;
}

static void fill(uint8_t *p, uint64_t size)
{
        uint64_t x = 88172645463325252ull;
        for (uint64_t i = 0; i < size; i += 8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                memcpy(p + i, &x, 8);
        }
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static volatile uint8_t sink;

/* Touch n pages in a random order (defeats fault-around: random access keeps clusters at 1),
 * timing each first access. Prints p50/p99 in microseconds. */
static void touch_latency(const char *name, uint8_t *base, uint64_t npages, unsigned n)
{
        double *lat = malloc(n * sizeof(double));
        uint64_t x = 0x1234567;
        for (unsigned i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                uint64_t p = (x >> 17) % npages;
                double t = now();
                sink = base[p * PAGE + 8];
                lat[i] = (now() - t) * 1e6;
        }
        qsort(lat, n, sizeof(double), cmp_double);
        printf("%s_p50 %.2f us\n%s_p99 %.2f us\n", name, lat[n / 2], name, lat[n * 99 / 100]);
        free(lat);
}

static double scan_per_page_us(uint8_t *base, uint64_t npages)
{
        double t = now();
        for (uint64_t p = 0; p < npages; p++)
                sink = base[p * PAGE];
        return (now() - t) * 1e6 / (double)npages;
}

static double run_dd(const char *dir, uint64_t mib, char *path, size_t pathlen)
{
        snprintf(path, pathlen, "%s/bench-dd.%d", dir, getpid());
        char of[PATH_MAX + 8], count[32];
        snprintf(of, sizeof(of), "of=%s", path);
        snprintf(count, sizeof(count), "count=%" PRIu64, mib / 2);
        char a0[] = "dd", a1[] = "if=/dev/zero", a3[] = "bs=2M", a5[] = "conv=fdatasync", a6[] = "status=none";
        char *argv[] = { a0, a1, of, a3, count, a5, a6, NULL };
        pid_t pid;
        double t = now();
        if (posix_spawnp(&pid, "dd", NULL, NULL, argv, environ) != 0)
                die("dd");
        int st;
        waitpid(pid, &st, 0);
        double dt = now() - t;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "dd failed\n");
                exit(1);
        }
        return (double)mib / dt;
}

static SwapStatusInfo wait_state(SwapEngine *e)
{
        SwapStatusInfo s;
        swap_engine_wait_idle(e, -1);
        swap_engine_status(e, &s);
        return s;
}

/* --ref FILE MIB: the limits bench/swap.sh compares the VMM against. */
static int ref_main(const char *path, uint64_t mib)
{
        uint64_t size = mib << 20, npages = size / PAGE;
        uint8_t *a = malloc(size), *b = malloc(size);
        if (!a || !b)
                die("malloc");
        fill(a, size);
        memset(b, 1, size);
        double best = 0;
        for (int i = 0; i < 3; i++) {
                double t = now();
                memcpy(b, a, size);
                __asm__ volatile("" : : "r"(b) : "memory");
                best = MAX(best, (double)size / (now() - t) / (1 << 30));
        }
        printf("memcpy_prefaulted %.2f GiB/s\n", best);
        int sfd;
        uint8_t *s = map_memfd(size, &sfd);
        double t = now();
        memcpy(s, a, size);
        printf("memcpy_to_fresh_shmem %.2f GiB/s\n", (double)size / (now() - t) / (1 << 30));
        munmap(s, size);
        close(sfd);
        free(a);
        free(b);

        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                die("open");
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        unsigned n = (unsigned)MIN(npages / 4, 16384u);
        double *lat = malloc(n * sizeof(double));
        uint8_t page[PAGE];
        uint64_t x = 99;
        for (unsigned i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                off_t off = (off_t)((x >> 17) % npages) * PAGE;
                double t0 = now();
                if (pread(fd, page, PAGE, off) != PAGE)
                        die("pread");
                lat[i] = (now() - t0) * 1e6;
        }
        qsort(lat, n, sizeof(double), cmp_double);
        printf("pread_4k_cold_p50 %.2f us\npread_4k_cold_p99 %.2f us\n", lat[n / 2], lat[n * 99 / 100]);
        free(lat);

        uint8_t *buf = malloc(2 << 20);
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        t = now();
        for (uint64_t off = 0; off < size; off += 2 << 20)
                if (pread(fd, buf, 2 << 20, (off_t)off) != 2 << 20)
                        die("read file");
        printf("read_file_cold %.2f GiB/s\n", (double)size / (now() - t) / (1 << 30));
        free(buf);
        close(fd);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 4 && streq(argv[1], "--ref"))
                return ref_main(argv[2], strtoull(argv[3], NULL, 10));
        if (argc < 2) {
                fprintf(stderr, "usage: %s DIR [RAM_MIB]\n", argv[0]);
                return 2;
        }
        const char *dir = argv[1];
        uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 512;
        uint64_t size = mib << 20, npages = size / PAGE;
        const char *msg;
        int r;

        /* (a) plain memcpy of the same size between two pre-faulted buffers, and into fresh shmem
         * (the page allocation staging pays too) */
        uint8_t *a = malloc(size), *b = malloc(size);
        if (!a || !b)
                die("malloc");
        fill(a, size);
        memset(b, 1, size);
        double t = now();
        memcpy(b, a, size);
        __asm__ volatile("" : : "r"(b) : "memory");
        double memcpy_gibs = (double)size / (now() - t) / (1 << 30);
        free(b);
        int sfd;
        uint8_t *s = map_memfd(size, &sfd);
        t = now();
        memcpy(s, a, size);
        double memcpy_shmem_gibs = (double)size / (now() - t) / (1 << 30);
        munmap(s, size);
        close(sfd);
        free(a);

        GuestMem mem;
        mem.size = size;
        mem.host = map_memfd(size, &mem.memfd);
        fill(mem.host, size);
        SwapEngine *e;
        r = swap_engine_new(&mem, dir, NULL, &e);
        if (r < 0) {
                printf("SKIP: swap engine unavailable: %s\n", strerror(-r));
                return 77;
        }

        t = now();
        if (swap_engine_enable(e, &msg) < 0)
                die("enable");
        double enable_gibs = (double)size / (now() - t) / (1 << 30);
        printf("enable_staging_copy %.2f GiB/s\nmemcpy_prefaulted %.2f GiB/s\nmemcpy_to_fresh_shmem %.2f GiB/s\n",
               enable_gibs, memcpy_gibs, memcpy_shmem_gibs);
        printf("ratio_enable_vs_memcpy %.2f x\n", enable_gibs / memcpy_gibs);

        /* (c) fault latency from staging (random order) */
        unsigned samples = (unsigned)MIN(npages / 4, 20000u);
        touch_latency("fault_from_staging", mem.host, npages, samples);

        /* (b) swap-out of everything (refresh first so all pages are staged) */
        if (swap_engine_enable(e, &msg) < 0)
                die("enable");
        t = now();
        if (swap_engine_out(e, &msg) < 0)
                die("out");
        SwapStatusInfo st = wait_state(e);
        double out_mibs = (double)mib / (now() - t);
        if (st.state != SWAP_STATE_ACTIVE)
                fprintf(stderr, "swap-out ended in %s: %s\n", swap_state_to_string(st.state), st.last_error);
        char ddpath[PATH_MAX];
        double dd_mibs = run_dd(dir, mib, ddpath, sizeof(ddpath));
        printf("swap_out %.1f MiB/s\ndd_fdatasync_same_dir %.1f MiB/s\nratio_out_vs_dd %.2f x\n", out_mibs, dd_mibs,
               out_mibs / dd_mibs);

        /* (c) fault latency from the file, vs first touch of never-touched memory and pread 4 KiB */
        touch_latency("fault_from_file", mem.host, npages, samples);
        int tfd;
        uint8_t *fresh = map_memfd(size, &tfd);
        touch_latency("first_touch_never_touched", fresh, npages, samples);
        {
                int fd = open(ddpath, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        die("open dd file");
                (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* like the swap file after commit */
                double *lat = malloc(samples * sizeof(double));
                uint8_t buf[PAGE];
                uint64_t x = 99;
                for (unsigned i = 0; i < samples; i++) {
                        x = x * 6364136223846793005ull + 1442695040888963407ull;
                        off_t off = (off_t)((x >> 17) % npages) * PAGE;
                        double t0 = now();
                        if (pread(fd, buf, PAGE, off) != PAGE)
                                die("pread");
                        lat[i] = (now() - t0) * 1e6;
                }
                qsort(lat, samples, sizeof(double), cmp_double);
                printf("pread_4k_cold_p50 %.2f us\npread_4k_cold_p99 %.2f us\n", lat[samples / 2], lat[samples * 99 / 100]);
                free(lat);
                close(fd);
        }
        munmap(fresh, size);
        close(tfd);

        /* (d) sequential scan of swapped-out memory vs never-touched memory */
        if (swap_engine_enable(e, &msg) < 0 || swap_engine_out(e, &msg) < 0)
                die("enable/out");
        wait_state(e);
        double scan_swapped = scan_per_page_us(mem.host, npages);
        fresh = map_memfd(size, &tfd);
        double scan_fresh = scan_per_page_us(fresh, npages);
        munmap(fresh, size);
        close(tfd);
        swap_engine_status(e, &st);
        printf("scan_swapped_out %.3f us/page\nscan_never_touched %.3f us/page\nratio_scan %.2f x\n"
               "fault_around_pages %" PRIu64 " pages\n",
               scan_swapped, scan_fresh, scan_swapped / scan_fresh, st.fault_around_pages);

        /* (e) disable (swap-in of everything from the file) vs reading the file */
        if (swap_engine_enable(e, &msg) < 0 || swap_engine_out(e, &msg) < 0)
                die("enable/out");
        wait_state(e);
        t = now();
        if (swap_engine_disable(e, false, &msg) < 0)
                die("disable");
        wait_state(e);
        double in_gibs = (double)size / (now() - t) / (1 << 30);
        {
                int fd = open(ddpath, O_RDONLY | O_CLOEXEC);
                uint8_t *buf = malloc(2 << 20);
                (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
                t = now();
                for (uint64_t off = 0; off < size; off += 2 << 20)
                        if (pread(fd, buf, 2 << 20, (off_t)off) != 2 << 20)
                                die("read dd file");
                double read_gibs = (double)size / (now() - t) / (1 << 30);
                printf("disable_swap_in %.2f GiB/s\nread_file_cold %.2f GiB/s\nratio_in_vs_read %.2f x\n", in_gibs,
                       read_gibs, in_gibs / read_gibs);
                free(buf);
                close(fd);
        }
        unlink(ddpath);
        swap_engine_free(e);
        return 0;
}
