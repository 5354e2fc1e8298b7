/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test guest virtio-balloon driver, entirely in ring 3 and polled (no interrupts).
 *
 * Finds 1af4:1045 on PCI bus 0 through conf1 (0xcf8/0xcfc), walks its virtio vendor capabilities to
 * the common/notify/device-config regions, negotiates VERSION_1 + STATS_VQ + DEFLATE_ON_OOM and runs
 * three split queues (inflate, deflate, stats) that live in this image's .bss (the guest is
 * identity-mapped, so their addresses are guest-physical).
 *
 * The balloon follows num_pages with heap pages the workload does not hold (PAGE_UNTRACKED):
 * inflate marks them PAGE_BALLOON (pages the workload wrote before first, as they are the ones
 * resident on the host, then the rest; both from the top of the heap) and posts their PFNs, up to
 * 256 per descriptor; deflate posts PAGE_BALLOON pages and gives them back as PAGE_UNTRACKED. When
 * there are not enough free pages the balloon stays smaller than asked and tries again later (as
 * Linux's driver does when it runs "out of puff"). `actual` is written after every batch.
 *
 * The stats buffer (total, free = PAGE_UNTRACKED pages, available, no swap) is posted once; when
 * the device returns it, it is refreshed and posted again. A device in DEVICE_NEEDS_RESET is reset
 * and set up again; the pages that were in the balloon are the guest's again. */
#include "balloon.h"

#include "guest.h"
#include "mem.h"

#define PCI_CONF_ADDR 0xcf8
#define PCI_CONF_DATA 0xcfc
#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_DEVICE_BALLOON 0x1045 /* 0x1040 + device type 5 */
#define PCI_CMD_MEMORY 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_VENDOR 0x09

#define VIRTIO_CAP_COMMON 1
#define VIRTIO_CAP_NOTIFY 2
#define VIRTIO_CAP_DEVICE 4

/* common configuration (virtio 1.x §4.1.4.3) */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_NUMQ 0x12
#define CC_STATUS 0x14
#define CC_Q_SELECT 0x16
#define CC_Q_SIZE 0x18
#define CC_Q_ENABLE 0x1c
#define CC_Q_NOFF 0x1e
#define CC_Q_DESC 0x20
#define CC_Q_DRIVER 0x28
#define CC_Q_DEVICE 0x30

#define ST_ACKNOWLEDGE 0x01
#define ST_DRIVER 0x02
#define ST_DRIVER_OK 0x04
#define ST_FEATURES_OK 0x08
#define ST_NEEDS_RESET 0x40
#define ST_FAILED 0x80

#define F_STATS_VQ 1
#define F_DEFLATE_ON_OOM 2
#define F_VERSION_1 32

#define CFG_NUM_PAGES 0
#define CFG_ACTUAL 4

#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS 2
#define N_QUEUES 3

#define QSIZE 128
#define PFNS_PER_DESC 256
#define VRING_DESC_F_NEXT 1
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define USED_WAIT_TICKS 500 /* 5 s: the device answers inside the notify write, this is a safety net */
#define PUFF_RETRY_TICKS 100

#define S_SWAP_IN 0
#define S_SWAP_OUT 1
#define S_MEMFREE 4
#define S_MEMTOT 5
#define S_AVAIL 6
#define N_STATS 5

struct vring_desc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
};

struct vring_avail {
        uint16_t flags, idx, ring[QSIZE], used_event;
};

struct vring_used_elem {
        uint32_t id, len;
};

struct vring_used {
        uint16_t flags, idx;
        struct vring_used_elem ring[QSIZE];
        uint16_t avail_event;
};

struct vq {
        struct vring_desc desc[QSIZE] __attribute__((aligned(4096)));
        struct vring_avail avail __attribute__((aligned(4096)));
        struct vring_used used __attribute__((aligned(4096)));
        uint16_t size, avail_idx, last_used;
        bool on;
        volatile uint16_t *notify;
        uint16_t index;
};

struct stat_entry {
        uint16_t tag;
        uint64_t val;
} __attribute__((packed));

enum { DEV_ABSENT, DEV_RUNNING, DEV_FAILED };

static struct vq queues[N_QUEUES];
static uint32_t pfns[QSIZE][PFNS_PER_DESC] __attribute__((aligned(4096)));
static struct stat_entry stats_buf[N_STATS] __attribute__((aligned(64)));

static struct {
        int state;
        const char *why; /* DEV_FAILED: the step that failed */
        uint32_t bdf;
        volatile uint8_t *common, *device, *notify_base;
        uint32_t notify_mul;
        uint64_t features;
        uint64_t balloon_pages; /* pages in PAGE_BALLOON */
        uint64_t last_poll, puff_tick;
        bool busy; /* the last poll left work */
        uint32_t puff_target; /* target we ran out of free pages for */
        uint64_t resets, inflated, deflated, stats_posted;
} bl;

/* --- PCI conf1 and MMIO ------------------------------------------------------------------------ */
static uint32_t conf_read(uint32_t bdf, unsigned off)
{
        outl(PCI_CONF_ADDR, 0x80000000u | bdf << 8 | (off & 0xfc));
        return inl(PCI_CONF_DATA);
}

static void conf_write(uint32_t bdf, unsigned off, uint32_t v)
{
        outl(PCI_CONF_ADDR, 0x80000000u | bdf << 8 | (off & 0xfc));
        outl(PCI_CONF_DATA, v);
}

static uint8_t conf_read8(uint32_t bdf, unsigned off)
{
        return (uint8_t)(conf_read(bdf, off) >> (8 * (off & 3)));
}

static inline uint8_t rd8(volatile uint8_t *base, unsigned off)
{
        return *(volatile uint8_t *)(base + off);
}
static inline uint16_t rd16(volatile uint8_t *base, unsigned off)
{
        return *(volatile uint16_t *)(base + off);
}
static inline uint32_t rd32(volatile uint8_t *base, unsigned off)
{
        return *(volatile uint32_t *)(base + off);
}
static inline void wr8(volatile uint8_t *base, unsigned off, uint8_t v)
{
        *(volatile uint8_t *)(base + off) = v;
}
static inline void wr16(volatile uint8_t *base, unsigned off, uint16_t v)
{
        *(volatile uint16_t *)(base + off) = v;
}
static inline void wr32(volatile uint8_t *base, unsigned off, uint32_t v)
{
        *(volatile uint32_t *)(base + off) = v;
}
static inline void wr64(volatile uint8_t *base, unsigned off, uint64_t v)
{
        wr32(base, off, (uint32_t)v);
        wr32(base, off + 4, (uint32_t)(v >> 32));
}

static inline void barrier(void)
{
        __asm__ volatile("" ::: "memory");
}

/* Guest-physical address of BAR n of the device (memory BARs only), 0 when unusable. */
static uint64_t bar_address(uint32_t bdf, unsigned n)
{
        if (n > 5)
                return 0;
        uint32_t lo = conf_read(bdf, 0x10 + 4 * n);
        if (lo & 1)
                return 0; /* I/O BAR */
        uint64_t a = lo & ~UINT32_C(0xf);
        if (((lo >> 1) & 3) == 2 && n < 5)
                a |= (uint64_t)conf_read(bdf, 0x14 + 4 * n) << 32;
        return a;
}

/* Walk the capability list for the virtio structures; false when one is missing. */
static bool find_regions(uint32_t bdf)
{
        if (!((conf_read(bdf, 0x04) >> 16) & PCI_STATUS_CAP_LIST))
                return false;
        unsigned ptr = conf_read8(bdf, 0x34) & 0xfc;
        bl.common = bl.device = bl.notify_base = 0;
        for (unsigned guard = 0; ptr >= 0x40 && guard < 48; guard++) {
                uint8_t id = conf_read8(bdf, ptr), next = conf_read8(bdf, ptr + 1);
                if (id == PCI_CAP_VENDOR) {
                        uint8_t type = conf_read8(bdf, ptr + 3), bar = conf_read8(bdf, ptr + 4);
                        uint32_t off = conf_read(bdf, ptr + 8);
                        uint64_t base = bar_address(bdf, bar);
                        volatile uint8_t *p = (volatile uint8_t *)(uintptr_t)(base + off);
                        if (base && base + off < (UINT64_C(4) << 30)) { /* our identity map ends at 4 GiB */
                                if (type == VIRTIO_CAP_COMMON && !bl.common)
                                        bl.common = p;
                                else if (type == VIRTIO_CAP_DEVICE && !bl.device)
                                        bl.device = p;
                                else if (type == VIRTIO_CAP_NOTIFY && !bl.notify_base) {
                                        bl.notify_base = p;
                                        bl.notify_mul = conf_read(bdf, ptr + 16);
                                }
                        }
                }
                ptr = next & 0xfc;
        }
        return bl.common && bl.device && bl.notify_base;
}

/* --- virtqueues -------------------------------------------------------------------------------- */
static bool vq_setup(struct vq *q, uint16_t index)
{
        memset(q, 0, sizeof(*q));
        wr16(bl.common, CC_Q_SELECT, index);
        uint16_t max = rd16(bl.common, CC_Q_SIZE);
        if (max == 0)
                return false;
        uint16_t size = max < QSIZE ? max : QSIZE;
        if (size & (size - 1))
                return false;
        q->size = size;
        q->index = index;
        q->avail.flags = VRING_AVAIL_F_NO_INTERRUPT; /* we poll */
        wr16(bl.common, CC_Q_SIZE, size);
        wr64(bl.common, CC_Q_DESC, (uint64_t)(uintptr_t)q->desc);
        wr64(bl.common, CC_Q_DRIVER, (uint64_t)(uintptr_t)&q->avail);
        wr64(bl.common, CC_Q_DEVICE, (uint64_t)(uintptr_t)&q->used);
        q->notify = (volatile uint16_t *)(bl.notify_base + (uint32_t)rd16(bl.common, CC_Q_NOFF) * bl.notify_mul);
        wr16(bl.common, CC_Q_ENABLE, 1);
        q->on = rd16(bl.common, CC_Q_ENABLE) == 1;
        return q->on;
}

/* Offer descriptor d (a single readable buffer) to the device. */
static void vq_post(struct vq *q, uint16_t d, uint64_t addr, uint32_t len)
{
        q->desc[d] = (struct vring_desc){ .addr = addr, .len = len };
        q->avail.ring[q->avail_idx % q->size] = d;
        barrier();
        q->avail_idx++;
        q->avail.idx = q->avail_idx;
}

static void vq_kick(struct vq *q)
{
        barrier();
        *q->notify = q->index;
}

static uint16_t vq_used_idx(struct vq *q)
{
        barrier();
        return *(volatile uint16_t *)&q->used.idx;
}

static bool device_broken(void)
{
        return rd8(bl.common, CC_STATUS) & (ST_NEEDS_RESET | ST_FAILED);
}

/* Wait until the device used everything posted on q (it does so inside the notify write; this
 * only guards against a device that does not). False when it did not, or needs a reset. */
static bool vq_drain(struct vq *q)
{
        uint64_t t0 = ticks;
        while (vq_used_idx(q) != q->avail_idx) {
                if (device_broken() || ticks - t0 > USED_WAIT_TICKS)
                        return false;
                idle();
        }
        q->last_used = q->avail_idx;
        return true;
}

/* --- stats ------------------------------------------------------------------------------------- */
static uint64_t free_pages(void)
{
        uint64_t n = 0, pages = mem_heap_pages();
        for (uint64_t i = 0; i < pages; i++)
                n += page_state[i] == PAGE_UNTRACKED;
        return n;
}

static void stats_post(void)
{
        uint64_t free = free_pages() * PAGE_SIZE;
        stats_buf[0] = (struct stat_entry){ S_SWAP_IN, 0 };
        stats_buf[1] = (struct stat_entry){ S_SWAP_OUT, 0 };
        stats_buf[2] = (struct stat_entry){ S_MEMFREE, free };
        stats_buf[3] = (struct stat_entry){ S_MEMTOT, mem_total_bytes() };
        stats_buf[4] = (struct stat_entry){ S_AVAIL, free };
        struct vq *q = &queues[Q_STATS];
        vq_post(q, 0, (uint64_t)(uintptr_t)stats_buf, sizeof(stats_buf));
        vq_kick(q);
        bl.stats_posted++;
}

/* --- bring-up ---------------------------------------------------------------------------------- */
static void set_actual(void)
{
        wr32(bl.device, CFG_ACTUAL, (uint32_t)bl.balloon_pages);
}

static bool fail(const char *why)
{
        bl.state = DEV_FAILED;
        bl.why = why;
        wr8(bl.common, CC_STATUS, rd8(bl.common, CC_STATUS) | ST_FAILED);
        return false;
}

/* After a device reset every balloon page is the guest's again (their contents are gone). */
static void forget_balloon(void)
{
        uint64_t pages = mem_heap_pages();
        for (uint64_t i = 0; i < pages && bl.balloon_pages; i++)
                if (page_state[i] == PAGE_BALLOON) {
                        page_state[i] = PAGE_UNTRACKED;
                        mem_set_used(i, false);
                        bl.balloon_pages--;
                }
        bl.balloon_pages = 0;
}

static bool device_start(void)
{
        wr8(bl.common, CC_STATUS, 0);
        for (unsigned i = 0; rd8(bl.common, CC_STATUS) != 0; i++) {
                if (i > 1000)
                        return fail("device does not reset");
                idle();
        }
        forget_balloon();
        bl.puff_target = 0;
        wr8(bl.common, CC_STATUS, ST_ACKNOWLEDGE);
        wr8(bl.common, CC_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);

        wr32(bl.common, CC_DFSELECT, 0);
        uint64_t df = rd32(bl.common, CC_DF);
        wr32(bl.common, CC_DFSELECT, 1);
        df |= (uint64_t)rd32(bl.common, CC_DF) << 32;
        uint64_t want = UINT64_C(1) << F_VERSION_1 | UINT64_C(1) << F_STATS_VQ | UINT64_C(1) << F_DEFLATE_ON_OOM;
        if (!(df & UINT64_C(1) << F_VERSION_1))
                return fail("device does not offer VERSION_1");
        bl.features = df & want;
        wr32(bl.common, CC_GFSELECT, 0);
        wr32(bl.common, CC_GF, (uint32_t)bl.features);
        wr32(bl.common, CC_GFSELECT, 1);
        wr32(bl.common, CC_GF, (uint32_t)(bl.features >> 32));
        wr8(bl.common, CC_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
        if (!(rd8(bl.common, CC_STATUS) & ST_FEATURES_OK))
                return fail("FEATURES_OK not accepted");

        bool stats = bl.features & (UINT64_C(1) << F_STATS_VQ);
        unsigned nq = stats ? 3 : 2;
        if (rd16(bl.common, CC_NUMQ) < nq)
                return fail("too few queues");
        for (unsigned q = 0; q < nq; q++)
                if (!vq_setup(&queues[q], (uint16_t)q))
                        return fail("queue set-up failed");
        if (!stats)
                queues[Q_STATS].on = false;
        wr8(bl.common, CC_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
        if (device_broken())
                return fail("device refused DRIVER_OK");
        set_actual();
        if (stats)
                stats_post();
        bl.state = DEV_RUNNING;
        bl.why = 0;
        return true;
}

void balloon_init(void)
{
        for (uint32_t dev = 0; dev < 32; dev++) {
                uint32_t bdf = dev << 3, id = conf_read(bdf, 0);
                if ((id & 0xffff) != PCI_VENDOR_VIRTIO || id >> 16 != PCI_DEVICE_BALLOON)
                        continue;
                bl.bdf = bdf;
                if (!find_regions(bdf)) {
                        bl.state = DEV_FAILED;
                        bl.why = "virtio capabilities missing";
                        return;
                }
                uint32_t cmd = conf_read(bdf, 0x04) & 0xffff;
                conf_write(bdf, 0x04, cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER);
                (void)device_start();
                return;
        }
        bl.state = DEV_ABSENT;
}

/* --- inflate / deflate ------------------------------------------------------------------------- */
/* Fill up to QSIZE descriptors with up to `want` pages chosen by pick() and post them on q.
 * Returns the number of pages posted. */
static uint64_t post_batch(struct vq *q, uint64_t want, bool inflate)
{
        uint64_t pages = mem_heap_pages(), base_pfn = mem_heap_base() / PAGE_SIZE, n = 0;
        unsigned d = 0, k = 0;

        /* inflate: pass 0 takes pages the workload wrote (resident on the host), pass 1 the rest,
         * both from the top of the heap down; deflate: balloon pages from the bottom up. */
        for (unsigned pass = 0; pass < (inflate ? 2 : 1) && n < want; pass++) {
                for (uint64_t j = 0; j < pages && n < want; j++) {
                        uint64_t i = inflate ? pages - 1 - j : j;
                        if (inflate) {
                                if (page_state[i] != PAGE_UNTRACKED || mem_is_used(i) != (pass == 0))
                                        continue;
                                page_state[i] = PAGE_BALLOON;
                        } else {
                                if (page_state[i] != PAGE_BALLOON)
                                        continue;
                                /* Back to the guest once the device has seen the list (below). */
                        }
                        pfns[d][k++] = (uint32_t)(base_pfn + i);
                        n++;
                        if (k == PFNS_PER_DESC) {
                                vq_post(q, (uint16_t)d, (uint64_t)(uintptr_t)pfns[d], k * 4);
                                k = 0;
                                if (++d == q->size)
                                        want = n; /* the ring is full */
                        }
                }
        }
        if (k)
                vq_post(q, (uint16_t)d, (uint64_t)(uintptr_t)pfns[d], k * 4);
        return n;
}

/* The PFNs in the descriptors just used on the deflate queue go back to the guest. */
static void deflate_done(uint64_t n)
{
        for (uint64_t i = 0; i < n; i++) {
                uint64_t page = pfns[i / PFNS_PER_DESC][i % PFNS_PER_DESC] - mem_heap_base() / PAGE_SIZE;
                page_state[page] = PAGE_UNTRACKED;
                mem_set_used(page, false); /* the host dropped it: it comes back as zeroes */
        }
}

/* One round towards target; true when progress was made and more is left. */
static bool step(uint32_t target)
{
        if (target > bl.balloon_pages) {
                if (bl.puff_target == target && ticks - bl.puff_tick < PUFF_RETRY_TICKS)
                        return false;
                struct vq *q = &queues[Q_INFLATE];
                uint64_t n = post_batch(q, target - bl.balloon_pages, true);
                if (n == 0) {
                        bl.puff_target = target; /* out of puff: try again later */
                        bl.puff_tick = ticks;
                        return false;
                }
                bl.balloon_pages += n; /* marked PAGE_BALLOON in post_batch */
                vq_kick(q);
                if (!vq_drain(q))
                        return false; /* the poll after this resets the device */
                bl.inflated += n;
                set_actual();
                return bl.balloon_pages < target;
        }
        if (target < bl.balloon_pages) {
                struct vq *q = &queues[Q_DEFLATE];
                uint64_t n = post_batch(q, bl.balloon_pages - target, false);
                if (n == 0)
                        return false;
                vq_kick(q);
                if (!vq_drain(q))
                        return false;
                deflate_done(n);
                bl.balloon_pages -= n;
                bl.deflated += n;
                bl.puff_target = 0;
                set_actual();
                return bl.balloon_pages > target;
        }
        return false;
}

bool balloon_poll(void)
{
        if (bl.state != DEV_RUNNING || (!bl.busy && ticks == bl.last_poll))
                return false;
        bl.last_poll = ticks;
        if (device_broken()) {
                bl.resets++;
                (void)device_start();
                return false;
        }
        bool more = bl.busy = step(rd32(bl.device, CFG_NUM_PAGES));
        struct vq *s = &queues[Q_STATS];
        if (s->on && vq_used_idx(s) != s->last_used) {
                s->last_used = vq_used_idx(s);
                stats_post();
        }
        return more;
}

/* --- commands ---------------------------------------------------------------------------------- */
static const char *state_name(void)
{
        return bl.state == DEV_RUNNING ? "running" : bl.state == DEV_FAILED ? "failed" : "absent";
}

bool balloon_command(const char *verb, const char *args, BalloonReplyFn reply)
{
        if (streq_(verb, "balloon")) {
                if (bl.state == DEV_ABSENT) {
                        reply("BALLOON state=absent\n");
                        return true;
                }
                uint32_t target = rd32(bl.device, CFG_NUM_PAGES), actual = rd32(bl.device, CFG_ACTUAL);
                reply("BALLOON state=%s%s%s status=0x%x features=0x%lx target=%u actual=%u pages=%lu "
                      "inflated=%lu deflated=%lu stats=%lu resets=%lu\n",
                      state_name(), bl.why ? " why=" : "", bl.why ? bl.why : "", rd8(bl.common, CC_STATUS),
                      bl.features, target, actual, bl.balloon_pages, bl.inflated, bl.deflated, bl.stats_posted,
                      bl.resets);
                return true;
        }
        if (streq_(verb, "balloon-garbage")) {
                if (bl.state != DEV_RUNNING) {
                        reply("ERR balloon is %s\n", state_name());
                        return true;
                }
                /* A PFN list far outside guest RAM: the device must refuse it (DEVICE_NEEDS_RESET). */
                struct vq *q = &queues[Q_INFLATE];
                vq_post(q, 0, UINT64_C(0xfff00000000), PFNS_PER_DESC * 4);
                vq_kick(q);
                reply("OK garbage posted status=0x%x\n", rd8(bl.common, CC_STATUS));
                return true;
        }
        return false;
}
