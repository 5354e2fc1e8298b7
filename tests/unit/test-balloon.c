/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of virtio-balloon (vmm_backend/virtio/balloon.c): a small in-test driver sets the
 * device up through PCI/MMIO and hand-builds rings in a memfd "guest RAM"; host requests run on a
 * real event loop. Checks the config-space model, that inflated pages really leave the memfd,
 * guest errors -> NEEDS_RESET, on-demand stats, target waits and timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vmm_backend/macro.h"
#include "vmm_backend/virtio/balloon.h"

#define RAM_SIZE (UINT64_C(32) << 20)
#define RAM_PAGES (RAM_SIZE / 4096)
#define IRQ 10
#define QSIZE 16
#define QUEUE_BASE 0x10000 /* queue q at QUEUE_BASE + q * 0x4000: desc, avail +0x800, used +0x1000 */
#define PFN_BUF 0x100000
#define STATS_BUF 0x110000
#define DATA_BASE (UINT64_C(8) << 20)

typedef struct Fixture {
        GuestMem mem;
        EvLoop *loop;
        Bus *pio, *mmio;
        PciBus *pci;
        VirtioBalloon *b;
        uint64_t bar;
        int irq_level;
        /* driver side */
        uint16_t avail_idx[3];
        /* events seen */
        unsigned resized_calls, reset_calls;
        uint64_t resized_actual, resized_target;
        char reset_reason[256];
} Fixture;

typedef struct Done {
        unsigned calls;
        int error;
        char message[128];
        BalloonStatsInfo st;
} Done;

static void irq_recorder(void *opaque, unsigned irq, int level)
{
        ((Fixture *)opaque)->irq_level = level;
}

static void on_resized(void *userdata, uint64_t actual, uint64_t target)
{
        Fixture *f = userdata;
        f->resized_calls++;
        f->resized_actual = actual;
        f->resized_target = target;
}

static void on_device_reset(void *userdata, const char *device, const char *reason)
{
        Fixture *f = userdata;
        assert_string_equal(device, "virtio-balloon");
        f->reset_calls++;
        snprintf(f->reset_reason, sizeof(f->reset_reason), "%s", reason);
}

static void set_done(void *userdata, int error, const char *message)
{
        Done *d = userdata;
        d->calls++;
        d->error = error;
        snprintf(d->message, sizeof(d->message), "%s", strempty(message));
}

static void stats_done(void *userdata, int error, const char *message, const BalloonStatsInfo *st)
{
        Done *d = userdata;
        d->calls++;
        d->error = error;
        snprintf(d->message, sizeof(d->message), "%s", strempty(message));
        if (st)
                d->st = *st;
        else
                assert_true(error < 0);
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));
        assert_non_null(f);
        f->mem.memfd = memfd_create("test-ram", MFD_CLOEXEC);
        assert_true(f->mem.memfd >= 0);
        assert_int_equal(ftruncate(f->mem.memfd, RAM_SIZE), 0);
        f->mem.host = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->mem.memfd, 0);
        assert_true(f->mem.host != MAP_FAILED);
        f->mem.size = RAM_SIZE;
        assert_int_equal(evloop_new(&f->loop), 0);
        assert_int_equal(bus_new(&f->pio), 0);
        assert_int_equal(bus_new(&f->mmio), 0);
        assert_int_equal(pci_bus_new(f->pio, f->mmio, GUEST_MMIO_BASE, GUEST_MMIO_SIZE, irq_recorder, f, &f->pci), 0);
        VirtioBalloonConfig cfg = { .mem = &f->mem, .loop = f->loop, .resized = on_resized,
                                    .device_reset = on_device_reset, .userdata = f };
        assert_int_equal(virtio_balloon_new(&cfg, &f->b), 0);
        PciDevice *d = virtio_pci_pci_device(virtio_balloon_transport(f->b));
        assert_int_equal(pci_bus_add_device(f->pci, d, IRQ, NULL), 0);
        f->bar = pci_device_bar_address(d, 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;
        if (f->b) {
                pci_bus_remove_device(f->pci, virtio_pci_pci_device(virtio_balloon_transport(f->b)));
                virtio_balloon_free(f->b);
        }
        pci_bus_free(f->pci);
        bus_free(f->pio);
        bus_free(f->mmio);
        evloop_free(f->loop);
        munmap(f->mem.host, RAM_SIZE);
        close(f->mem.memfd);
        free(f);
        return 0;
}

/* --- the in-test driver ------------------------------------------------------------------------ */

static uint64_t bar_read(Fixture *f, uint64_t off, unsigned len)
{
        uint8_t b[8];
        assert_true(bus_read(f->mmio, f->bar + off, b, len));
        uint64_t v = 0;
        for (unsigned i = 0; i < len; i++)
                v |= (uint64_t)b[i] << (8 * i);
        return v;
}

static void bar_write(Fixture *f, uint64_t off, unsigned len, uint64_t v)
{
        uint8_t b[8];
        for (unsigned i = 0; i < len; i++)
                b[i] = (uint8_t)(v >> (8 * i));
        assert_true(bus_write(f->mmio, f->bar + off, b, len));
}

static uint8_t status(Fixture *f)
{
        return (uint8_t)bar_read(f, VIRTIO_PCI_COMMON_STATUS, 1);
}

static uint64_t q_desc(unsigned q)
{
        return QUEUE_BASE + q * 0x4000;
}

static uint64_t q_avail(unsigned q)
{
        return q_desc(q) + 0x800;
}

static uint64_t q_used(unsigned q)
{
        return q_desc(q) + 0x1000;
}

static uint16_t used_idx(Fixture *f, unsigned q)
{
        uint16_t v;
        memcpy(&v, f->mem.host + q_used(q) + 2, 2);
        return v;
}

static VirtqUsedElem used_elem(Fixture *f, unsigned q, uint16_t i)
{
        VirtqUsedElem e;
        memcpy(&e, f->mem.host + q_used(q) + 4 + 8 * (i % QSIZE), sizeof(e));
        return e;
}

static void drv_init(Fixture *f, bool stats)
{
        bar_write(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
        bar_write(f, VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
        uint64_t want = UINT64_C(1) << VIRTIO_F_VERSION_1 | UINT64_C(1) << VIRTIO_BALLOON_F_DEFLATE_ON_OOM |
                        (stats ? UINT64_C(1) << VIRTIO_BALLOON_F_STATS_VQ : 0);
        bar_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
        bar_write(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)want);
        bar_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
        bar_write(f, VIRTIO_PCI_COMMON_GF, 4, want >> 32);
        bar_write(f, VIRTIO_PCI_COMMON_STATUS, 1,
                  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
        assert_true(status(f) & VIRTIO_STATUS_FEATURES_OK);
        for (unsigned q = 0; q < (stats ? 3u : 2u); q++) {
                memset(f->mem.host + q_desc(q), 0, 0x2000);
                f->avail_idx[q] = 0;
                bar_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
                bar_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
                bar_write(f, VIRTIO_PCI_COMMON_Q_DESC, 8, q_desc(q));
                bar_write(f, VIRTIO_PCI_COMMON_Q_DRIVER, 8, q_avail(q));
                bar_write(f, VIRTIO_PCI_COMMON_Q_DEVICE, 8, q_used(q));
                bar_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
        }
        bar_write(f, VIRTIO_PCI_COMMON_STATUS, 1, status(f) | VIRTIO_STATUS_DRIVER_OK);
        assert_true(status(f) & VIRTIO_STATUS_DRIVER_OK);
}

/* Post a chain of n buffers (descriptors head..head+n-1) on queue q and notify. */
static void drv_post(Fixture *f, unsigned q, const uint64_t *gpa, const uint32_t *len, const uint16_t *flags,
                     unsigned n, bool notify)
{
        uint16_t head = (uint16_t)((f->avail_idx[q] * 4) % QSIZE);
        for (unsigned i = 0; i < n; i++) {
                VirtqDesc d = { .addr = gpa[i], .len = len[i], .flags = flags ? flags[i] : 0,
                                .next = (uint16_t)((head + i + 1) % QSIZE) };
                if (i + 1 < n)
                        d.flags |= VIRTQ_DESC_F_NEXT;
                memcpy(f->mem.host + q_desc(q) + 16 * ((head + i) % QSIZE), &d, sizeof(d));
        }
        uint16_t *avail = (uint16_t *)(void *)(f->mem.host + q_avail(q));
        avail[2 + f->avail_idx[q] % QSIZE] = head;
        f->avail_idx[q]++;
        __atomic_store_n(&avail[1], f->avail_idx[q], __ATOMIC_RELEASE);
        if (notify)
                bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET + 4 * q, 2, q);
}

static void drv_post1(Fixture *f, unsigned q, uint64_t gpa, uint32_t len)
{
        drv_post(f, q, &gpa, &len, NULL, 1, true);
}

static void put_pfns(Fixture *f, uint64_t gpa, const uint32_t *pfns, size_t n)
{
        memcpy(f->mem.host + gpa, pfns, n * sizeof(*pfns));
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t v)
{
        memcpy(p, &tag, 2);
        memcpy(p + 2, &v, 8);
}

static uint64_t memfd_bytes(Fixture *f)
{
        struct stat st;
        assert_int_equal(fstat(f->mem.memfd, &st), 0);
        return (uint64_t)st.st_blocks * 512;
}

static void run_loop(Fixture *f)
{
        while (evloop_run_once(f->loop, 0) > 0)
                ;
}

static uint32_t config_u32(Fixture *f, unsigned off)
{
        return (uint32_t)bar_read(f, VIRTIO_PCI_DEVICE_OFFSET + off, 4);
}

/* --- tests ------------------------------------------------------------------------------------- */

static void test_identity(void **state)
{
        Fixture *f = *state;
        PciDevice *d = virtio_pci_pci_device(virtio_balloon_transport(f->b));
        assert_int_equal(pci_bus_config_read(f->pci, 0, d->slot, 0, PCI_VENDOR_ID, 4), 0x10451af4u);
        bar_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
        assert_int_equal(bar_read(f, VIRTIO_PCI_COMMON_DF, 4),
                         1u << VIRTIO_BALLOON_F_STATS_VQ | 1u << VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
        assert_int_equal(bar_read(f, VIRTIO_PCI_COMMON_NUMQ, 2), 3);
        bar_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 2);
        assert_int_equal(bar_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), VIRTIO_BALLOON_QUEUE_SIZE);
}

static void test_config_space_model(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        assert_int_equal(config_u32(f, 0), 0);
        assert_int_equal(config_u32(f, 4), 0);
        drv_init(f, true);
        (void)bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1);
        uint8_t gen = (uint8_t)bar_read(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1);

        /* Target in bytes, rounded down to pages; a config interrupt tells the driver. */
        assert_int_equal(virtio_balloon_set_target(f->b, (UINT64_C(8) << 20) + 100, false, 0, NULL, NULL, &msg), 0);
        assert_int_equal(config_u32(f, 0), 2048);
        assert_int_equal(bar_read(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1), (uint8_t)(gen + 1));
        assert_int_equal(f->irq_level, 1);
        assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1), VIRTIO_ISR_CONFIG);
        assert_int_equal(f->irq_level, 0);
        /* Same target again: no new generation. */
        assert_int_equal(virtio_balloon_set_target(f->b, UINT64_C(8) << 20, false, 0, NULL, NULL, &msg), 0);
        assert_int_equal(bar_read(f, VIRTIO_PCI_COMMON_CFGGENERATION, 1), (uint8_t)(gen + 1));
        /* More than RAM: refused, nothing changes. All of RAM is allowed. */
        assert_int_equal(virtio_balloon_set_target(f->b, RAM_SIZE + 4096, false, 0, NULL, NULL, &msg), -EINVAL);
        assert_non_null(strstr(msg, "exceeds guest memory"));
        assert_int_equal(config_u32(f, 0), 2048);
        assert_int_equal(virtio_balloon_set_target(f->b, RAM_SIZE, false, 0, NULL, NULL, &msg), 0);
        assert_int_equal(config_u32(f, 0), RAM_PAGES);

        /* num_pages is the host's: driver writes are ignored. Unused fields read 0. */
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET, 4, 7);
        assert_int_equal(config_u32(f, 0), RAM_PAGES);
        assert_int_equal(config_u32(f, 8), 0);
        assert_int_equal(config_u32(f, 12), 0);
        assert_int_equal(bar_read(f, VIRTIO_PCI_DEVICE_OFFSET + 16, 4), 0);

        /* actual is the driver's: a change reaches the event thread as a resize event. */
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 300);
        assert_int_equal(config_u32(f, 4), 300);
        assert_int_equal(f->resized_calls, 0); /* not before the loop runs */
        run_loop(f);
        assert_int_equal(f->resized_calls, 1);
        assert_int_equal(f->resized_actual, 300 * 4096);
        assert_int_equal(f->resized_target, RAM_SIZE);
        /* Byte-wise writes work; a write that changes nothing emits nothing. */
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 5, 1, 0x02); /* 300 = 0x12c -> 0x22c */
        run_loop(f);
        assert_int_equal(f->resized_calls, 2);
        assert_int_equal(f->resized_actual, 0x22c * 4096);
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 0x22c);
        run_loop(f);
        assert_int_equal(f->resized_calls, 2);

        VirtioBalloonInfo info;
        virtio_balloon_get_info(f->b, &info);
        assert_int_equal(info.target_pages, RAM_PAGES);
        assert_int_equal(info.actual_pages, 0x22c);
}

static void test_inflate_releases_memfd_blocks(void **state)
{
        Fixture *f = *state;
        drv_init(f, true);
        /* 4 MiB of resident guest pages, plus a sentinel page right after them. */
        memset(f->mem.host + DATA_BASE, 0x5a, 4 << 20);
        memset(f->mem.host + DATA_BASE + (4 << 20), 0x77, 4096);

        /* 1024 PFNs, reversed (as a driver freeing a list may send them), with duplicates, split
         * across two descriptors of one chain, the split falling inside a PFN. */
        static uint32_t pfns[1024 + 8];
        uint32_t first = DATA_BASE / 4096;
        for (unsigned i = 0; i < 1024; i++)
                pfns[i] = first + 1023 - i;
        for (unsigned i = 0; i < 8; i++)
                pfns[1024 + i] = first + i * 3;
        put_pfns(f, PFN_BUF, pfns, ELEMENTSOF(pfns));
        uint64_t gpa[2] = { PFN_BUF, PFN_BUF + 2002 };
        uint32_t len[2] = { 2002, sizeof(pfns) - 2002 };
        (void)bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1);
        /* Measured once every page the driver writes (rings, PFN list) is resident. */
        uint64_t before = memfd_bytes(f);
        assert_true(before >= (UINT64_C(4) << 20) + 4096);
        drv_post(f, VIRTIO_BALLOON_Q_INFLATE, gpa, len, NULL, 2, true);

        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_INFLATE), 1);
        assert_int_equal(used_elem(f, VIRTIO_BALLOON_Q_INFLATE, 0).id, 0);
        assert_int_equal(f->irq_level, 1);
        assert_int_equal(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1), VIRTIO_ISR_QUEUE);

        uint64_t after = memfd_bytes(f);
        assert_true(before - after >= UINT64_C(4) << 20);
        VirtioBalloonInfo info;
        virtio_balloon_get_info(f->b, &info);
        assert_int_equal(info.inflated_pages, ELEMENTSOF(pfns));
        assert_int_equal(info.released_pages, 1024);
        assert_int_equal(info.release_calls, 1); /* one contiguous run after sorting */
        assert_int_equal(info.release_errors, 0);
        /* The released pages read back as zeroes; the page after them kept its data. */
        for (unsigned i = 0; i < 1024; i++)
                assert_int_equal(f->mem.host[DATA_BASE + 4096 * i + 17], 0);
        assert_int_equal(f->mem.host[DATA_BASE + (4 << 20)], 0x77);

        /* Two disjoint runs: two calls. The actual count is the driver's to report. */
        memset(f->mem.host + DATA_BASE, 1, 8192);
        memset(f->mem.host + DATA_BASE + 65536, 1, 4096);
        uint32_t two[3] = { first, first + 16, first + 1 };
        put_pfns(f, PFN_BUF, two, 3);
        drv_post1(f, VIRTIO_BALLOON_Q_INFLATE, PFN_BUF, sizeof(two));
        virtio_balloon_get_info(f->b, &info);
        assert_int_equal(info.release_calls, 3);
        assert_int_equal(info.released_pages, 1027);
        assert_int_equal(f->mem.host[DATA_BASE + 65536], 0);
        assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

        /* Two chains in one notification: a run spanning both buffers takes one call. */
        uint32_t lo[2] = { first + 100, first + 101 }, hi[2] = { first + 103, first + 102 };
        put_pfns(f, PFN_BUF, lo, 2);
        put_pfns(f, PFN_BUF + 64, hi, 2);
        drv_post(f, VIRTIO_BALLOON_Q_INFLATE, &(uint64_t){ PFN_BUF }, &(uint32_t){ 8 }, NULL, 1, false);
        drv_post(f, VIRTIO_BALLOON_Q_INFLATE, &(uint64_t){ PFN_BUF + 64 }, &(uint32_t){ 8 }, NULL, 1, true);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_INFLATE), 4);
        virtio_balloon_get_info(f->b, &info);
        assert_int_equal(info.release_calls, 4);
        assert_int_equal(info.released_pages, 1031);

        /* Deflate releases nothing and leaves data alone. */
        memset(f->mem.host + DATA_BASE, 9, 4096);
        uint64_t resident = memfd_bytes(f);
        drv_post1(f, VIRTIO_BALLOON_Q_DEFLATE, PFN_BUF, sizeof(two));
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_DEFLATE), 1);
        virtio_balloon_get_info(f->b, &info);
        assert_int_equal(info.deflated_pages, 3);
        assert_int_equal(info.released_pages, 1031);
        assert_int_equal(memfd_bytes(f), resident);
        assert_int_equal(f->mem.host[DATA_BASE], 9);
}

static void expect_needs_reset(Fixture *f, const char *reason)
{
        assert_true(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
        assert_true(bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1) & VIRTIO_ISR_CONFIG);
        unsigned calls = f->reset_calls;
        run_loop(f);
        assert_int_equal(f->reset_calls, calls + 1);
        assert_non_null(strstr(f->reset_reason, reason));
        /* Reported once only. */
        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET, 2, 0);
        run_loop(f);
        assert_int_equal(f->reset_calls, calls + 1);
}

static void test_invalid_pfns_need_reset(void **state)
{
        Fixture *f = *state;
        uint32_t first = DATA_BASE / 4096;
        struct {
                uint32_t pfn;
        } bad[] = { { RAM_PAGES }, { UINT32_MAX }, { 0xc0000 /* 3 GiB: the MMIO hole */ } };

        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                drv_init(f, true);
                memset(f->mem.host + DATA_BASE, 0x33, 8192);
                /* A valid PFN first: it must not be released either. */
                uint32_t pfns[3] = { first, bad[k].pfn, first + 1 };
                put_pfns(f, PFN_BUF, pfns, 3);
                uint64_t before = memfd_bytes(f);
                drv_post1(f, VIRTIO_BALLOON_Q_INFLATE, PFN_BUF, sizeof(pfns));
                assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_INFLATE), 0);
                assert_int_equal(memfd_bytes(f), before);
                assert_int_equal(f->mem.host[DATA_BASE + 4096], 0x33);
                expect_needs_reset(f, "outside guest RAM");
        }

        /* A good chain ahead of a bad one in the same notification is still served. */
        drv_init(f, true);
        memset(f->mem.host + DATA_BASE, 0x55, 8192);
        uint32_t good = first, bad_pfn = RAM_PAGES;
        put_pfns(f, PFN_BUF, &good, 1);
        put_pfns(f, PFN_BUF + 64, &bad_pfn, 1);
        drv_post(f, VIRTIO_BALLOON_Q_INFLATE, &(uint64_t){ PFN_BUF }, &(uint32_t){ 4 }, NULL, 1, false);
        drv_post(f, VIRTIO_BALLOON_Q_INFLATE, &(uint64_t){ PFN_BUF + 64 }, &(uint32_t){ 4 }, NULL, 1, true);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_INFLATE), 1);
        assert_int_equal(f->mem.host[DATA_BASE], 0);
        assert_int_equal(f->mem.host[DATA_BASE + 4096], 0x55);
        expect_needs_reset(f, "outside guest RAM");

        /* A device-writable PFN buffer. */
        drv_init(f, true);
        uint16_t wflag = VIRTQ_DESC_F_WRITE;
        uint64_t gpa = PFN_BUF;
        uint32_t len = 4;
        drv_post(f, VIRTIO_BALLOON_Q_INFLATE, &gpa, &len, &wflag, 1, true);
        expect_needs_reset(f, "device-writable");

        /* A length that is not whole PFNs. */
        drv_init(f, true);
        drv_post1(f, VIRTIO_BALLOON_Q_DEFLATE, PFN_BUF, 6);
        expect_needs_reset(f, "multiple of 4");

        /* Deflate of a PFN outside RAM. */
        drv_init(f, true);
        uint32_t out = RAM_PAGES + 5;
        put_pfns(f, PFN_BUF, &out, 1);
        drv_post1(f, VIRTIO_BALLOON_Q_DEFLATE, PFN_BUF, 4);
        expect_needs_reset(f, "outside guest RAM");

        /* A descriptor pointing outside RAM (the virtqueue layer's check). */
        drv_init(f, true);
        drv_post1(f, VIRTIO_BALLOON_Q_INFLATE, RAM_SIZE - 2, 4);
        expect_needs_reset(f, "outside guest RAM");

        /* After a reset and a fresh init the device serves again. */
        drv_init(f, true);
        memset(f->mem.host + DATA_BASE, 0x44, 4096);
        put_pfns(f, PFN_BUF, &first, 1);
        drv_post1(f, VIRTIO_BALLOON_Q_INFLATE, PFN_BUF, 4);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_INFLATE), 1);
        assert_int_equal(f->mem.host[DATA_BASE], 0);
        assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void write_stats(Fixture *f, uint64_t memfree, size_t *ret_len)
{
        uint8_t *p = f->mem.host + STATS_BUF;
        size_t n = 0;
        put_stat(p + n, VIRTIO_BALLOON_S_MEMFREE, memfree), n += 10;
        put_stat(p + n, VIRTIO_BALLOON_S_MEMTOT, RAM_SIZE), n += 10;
        put_stat(p + n, 42, 12345), n += 10; /* unknown tag: ignored */
        put_stat(p + n, VIRTIO_BALLOON_S_SHMEM, 7), n += 10;
        put_stat(p + n, VIRTIO_BALLOON_S_MAJFLT, 3), n += 10;
        memset(p + n, 0xee, 5), n += 5; /* trailing partial entry: ignored */
        *ret_len = n;
}

static void test_stats_on_demand(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        drv_init(f, true);
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 256);
        size_t n;
        /* At boot the driver posts one buffer; the device keeps it (stale). */
        write_stats(f, 1000, &n);
        drv_post1(f, VIRTIO_BALLOON_Q_STATS, STATS_BUF, (uint32_t)n);
        run_loop(f);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_STATS), 0);

        /* A request gives the held buffer back and waits; a concurrent one shares the wait. */
        Done d1 = {}, d2 = {};
        (void)bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1);
        assert_int_equal(virtio_balloon_request_stats(f->b, 60000, stats_done, &d1, &msg), BALLOON_PENDING);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_STATS), 1);
        assert_int_equal(f->irq_level, 1);
        assert_int_equal(virtio_balloon_request_stats(f->b, 60000, stats_done, &d2, &msg), BALLOON_PENDING);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_STATS), 1);
        run_loop(f);
        assert_int_equal(d1.calls + d2.calls, 0);

        /* The driver refills and re-posts: both requests get the fresh numbers. */
        write_stats(f, 777, &n);
        drv_post1(f, VIRTIO_BALLOON_Q_STATS, STATS_BUF, (uint32_t)n);
        run_loop(f);
        Done *ds[] = { &d1, &d2 };
        for (size_t i = 0; i < 2; i++) {
                assert_int_equal(ds[i]->calls, 1);
                assert_int_equal(ds[i]->error, 0);
                assert_int_equal(ds[i]->st.free_memory, 777);
                assert_int_equal(ds[i]->st.total_memory, RAM_SIZE);
                assert_int_equal(ds[i]->st.shared_memory, 7);
                assert_int_equal(ds[i]->st.major_faults, 3);
                assert_int_equal(ds[i]->st.swap_in, -1);
                assert_int_equal(ds[i]->st.unevictable_memory, -1);
                assert_int_equal(ds[i]->st.balloon_actual, 256 * 4096);
        }

        /* The next request returns that buffer again; the round trip repeats. */
        Done d3 = {};
        assert_int_equal(virtio_balloon_request_stats(f->b, 0, stats_done, &d3, &msg), BALLOON_PENDING);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_STATS), 2);
        write_stats(f, 555, &n);
        drv_post1(f, VIRTIO_BALLOON_Q_STATS, STATS_BUF, (uint32_t)n);
        run_loop(f);
        assert_int_equal(d3.calls, 1);
        assert_int_equal(d3.st.free_memory, 555);
        assert_int_equal(d1.calls, 1);

        /* A second buffer while one is held: the older one goes back, the newer is kept. */
        drv_post1(f, VIRTIO_BALLOON_Q_STATS, STATS_BUF, (uint32_t)n);
        assert_int_equal(used_idx(f, VIRTIO_BALLOON_Q_STATS), 3);

        /* A device-writable stats buffer is a protocol error. */
        uint16_t wflag = VIRTQ_DESC_F_WRITE;
        uint64_t gpa = STATS_BUF;
        uint32_t len = (uint32_t)n;
        drv_post(f, VIRTIO_BALLOON_Q_STATS, &gpa, &len, &wflag, 1, true);
        expect_needs_reset(f, "device-writable");
}

static void test_stats_timeout_and_unsupported(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        drv_init(f, true);
        /* Nobody answers: the request times out (a 1 ms timeout; we wait for the loop). */
        Done d = {};
        assert_int_equal(virtio_balloon_request_stats(f->b, 1, stats_done, &d, &msg), BALLOON_PENDING);
        for (int i = 0; i < 100 && d.calls == 0; i++)
                evloop_run_once(f->loop, 100);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.error, -ETIMEDOUT);
        assert_string_equal(d.message, "balloon stats did not arrive in 1 ms");

        /* A running driver without the stats queue: refused at once. */
        drv_init(f, false);
        msg = NULL;
        assert_int_equal(virtio_balloon_request_stats(f->b, 0, stats_done, &d, &msg), -ENOTSUP);
        assert_non_null(msg);
        assert_int_equal(d.calls, 1);
}

static void test_set_wait(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        drv_init(f, true);

        /* Reached: the driver reports actual == target. */
        Done d = {};
        assert_int_equal(virtio_balloon_set_target(f->b, 2 << 20, true, 60000, set_done, &d, &msg), BALLOON_PENDING);
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 100);
        run_loop(f);
        assert_int_equal(d.calls, 0);
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 512);
        run_loop(f);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.error, 0);
        /* Already there: done at once. */
        assert_int_equal(virtio_balloon_set_target(f->b, 2 << 20, true, 0, set_done, &d, &msg), 0);

        /* Superseded by a new target. */
        Done d2 = {};
        assert_int_equal(virtio_balloon_set_target(f->b, 4 << 20, true, 60000, set_done, &d2, &msg), BALLOON_PENDING);
        assert_int_equal(virtio_balloon_set_target(f->b, 1 << 20, false, 0, NULL, NULL, &msg), 0);
        assert_int_equal(d2.calls, 1);
        assert_int_equal(d2.error, -ECANCELED);

        /* Not reached in time. */
        Done d3 = {};
        assert_int_equal(virtio_balloon_set_target(f->b, 3 << 20, true, 1, set_done, &d3, &msg), BALLOON_PENDING);
        for (int i = 0; i < 100 && d3.calls == 0; i++)
                evloop_run_once(f->loop, 100);
        assert_int_equal(d3.calls, 1);
        assert_int_equal(d3.error, -ETIMEDOUT);
        assert_string_equal(d3.message, "balloon did not reach target in 1 ms");
        assert_int_equal(config_u32(f, 0), 768);
}

static void test_guest_reset_returns_pages(void **state)
{
        Fixture *f = *state;
        drv_init(f, true);
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 64);
        run_loop(f);
        assert_int_equal(f->resized_actual, 64 * 4096);
        bar_write(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
        run_loop(f);
        assert_int_equal(f->resized_actual, 0);
        assert_int_equal(config_u32(f, 4), 0);

        /* A protocol error the guest resets away before the event thread ran is still reported. */
        drv_init(f, true);
        uint32_t out = RAM_PAGES;
        put_pfns(f, PFN_BUF, &out, 1);
        drv_post1(f, VIRTIO_BALLOON_Q_INFLATE, PFN_BUF, 4);
        assert_true(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
        bar_write(f, VIRTIO_PCI_COMMON_STATUS, 1, 0);
        assert_int_equal(status(f), 0);
        run_loop(f);
        assert_int_equal(f->reset_calls, 1);
        assert_non_null(strstr(f->reset_reason, "outside guest RAM"));
}

static void test_free_finishes_pending_requests(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        drv_init(f, true);
        Done ds = {}, dw = {};
        assert_int_equal(virtio_balloon_request_stats(f->b, 60000, stats_done, &ds, &msg), BALLOON_PENDING);
        assert_int_equal(virtio_balloon_set_target(f->b, 1 << 20, true, 60000, set_done, &dw, &msg), BALLOON_PENDING);
        pci_bus_remove_device(f->pci, virtio_pci_pci_device(virtio_balloon_transport(f->b)));
        f->b = virtio_balloon_free(f->b);
        assert_int_equal(ds.calls, 1);
        assert_int_equal(ds.error, -ESHUTDOWN);
        assert_int_equal(dw.calls, 1);
        assert_int_equal(dw.error, -ESHUTDOWN);
        assert_null(virtio_balloon_free(NULL));
}

static void test_stats_parse(void **state)
{
        BalloonStatsInfo st;
        memset(&st, 0x5a, sizeof(st));
        balloon_stats_parse(NULL, 0, &st);
        assert_int_equal(st.swap_in, -1);
        assert_int_equal(st.unevictable_memory, -1);
        assert_int_equal(st.hugetlb_failures, -1);

        uint8_t buf[14 * 10 + 9];
        static const uint16_t tags[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 65534, 65535, 10, 300 };
        for (size_t i = 0; i < ELEMENTSOF(tags); i++)
                put_stat(buf + 10 * i, tags[i], 100 + i);
        memset(buf + 140, 0xff, 9);
        balloon_stats_parse(buf, sizeof(buf), &st);
        int64_t got[] = { st.swap_in, st.swap_out, st.major_faults, st.minor_faults, st.free_memory,
                          st.total_memory, st.available_memory, st.disk_caches, st.hugetlb_allocations,
                          st.hugetlb_failures, st.shared_memory, st.unevictable_memory };
        for (size_t i = 0; i < ELEMENTSOF(got); i++)
                assert_int_equal(got[i], 100 + (int64_t)i);

        /* A short buffer fills only whole entries; a huge value saturates. */
        put_stat(buf, VIRTIO_BALLOON_S_MEMFREE, UINT64_MAX);
        put_stat(buf + 10, VIRTIO_BALLOON_S_MEMTOT, 1);
        balloon_stats_parse(buf, 19, &st);
        assert_int_equal(st.free_memory, INT64_MAX);
        assert_int_equal(st.total_memory, -1);
        /* The last value of a repeated tag wins. */
        put_stat(buf + 10, VIRTIO_BALLOON_S_MEMFREE, 5);
        balloon_stats_parse(buf, 20, &st);
        assert_int_equal(st.free_memory, 5);
}

typedef struct Hammer {
        Fixture *f;
        unsigned kind;
        unsigned iterations;
} Hammer;

static void *hammer(void *arg)
{
        Hammer *h = arg;
        Fixture *f = h->f;
        PciDevice *d = virtio_pci_pci_device(virtio_balloon_transport(f->b));
        for (unsigned i = 0; i < h->iterations; i++)
                switch (h->kind) {
                case 0: /* a vCPU reading ISR, config and common config */
                        (void)bar_read(f, VIRTIO_PCI_ISR_OFFSET, 1);
                        (void)bar_read(f, VIRTIO_PCI_DEVICE_OFFSET, 4);
                        (void)bar_read(f, VIRTIO_PCI_COMMON_STATUS, 1);
                        break;
                case 1: /* a vCPU writing actual and notifying */
                        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, i % 64);
                        bar_write(f, VIRTIO_PCI_NOTIFY_OFFSET + 4 * (i % 3), 2, i % 3);
                        break;
                default: /* a vCPU walking config space, through the PCI_CFG window too */
                        for (unsigned off = 0; off < 0x80; off += 4)
                                (void)pci_bus_config_read(f->pci, 0, d->slot, 0, off, 4);
                        break;
                }
        return NULL;
}

/* vCPU-like threads hammer the device while the event thread changes the target and asks for
 * stats: no deadlock, no lost wake-up, consistent state at the end (run under ASan/valgrind). */
static void test_concurrent_access(void **state)
{
        Fixture *f = *state;
        const char *msg = NULL;
        drv_init(f, true);
        Hammer h[3];
        pthread_t t[3];
        for (unsigned i = 0; i < 3; i++) {
                h[i] = (Hammer){ .f = f, .kind = i, .iterations = 20000 };
                assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
        }
        Done d = {};
        unsigned requested = 0;
        for (unsigned i = 0; i < 2000; i++) {
                assert_int_equal(virtio_balloon_set_target(f->b, (uint64_t)(i % 64) << 12, false, 0, NULL, NULL, &msg),
                                 0);
                if (i % 100 == 0 && d.calls == requested &&
                    virtio_balloon_request_stats(f->b, 1, stats_done, &d, &msg) == BALLOON_PENDING)
                        requested++;
                evloop_run_once(f->loop, 0);
        }
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(pthread_join(t[i], NULL), 0);
        /* Every stats request finishes (nobody posts a buffer: they time out). */
        for (int i = 0; i < 100 && d.calls < requested; i++)
                evloop_run_once(f->loop, 100);
        assert_int_equal(d.calls, requested);
        assert_int_equal(d.error, -ETIMEDOUT);
        bar_write(f, VIRTIO_PCI_DEVICE_OFFSET + 4, 4, 63);
        for (int i = 0; i < 100 && (evloop_run_once(f->loop, 50) > 0 || f->resized_actual != 63 * 4096); i++)
                ;
        assert_int_equal(f->resized_actual, 63 * 4096);
        assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
                cmocka_unit_test_setup_teardown(test_config_space_model, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inflate_releases_memfd_blocks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_pfns_need_reset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stats_on_demand, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stats_timeout_and_unsupported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_set_wait, setup, teardown),
                cmocka_unit_test_setup_teardown(test_guest_reset_returns_pages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_finishes_pending_requests, setup, teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_access, setup, teardown),
                cmocka_unit_test(test_stats_parse),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
