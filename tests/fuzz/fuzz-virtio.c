/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for guest-controlled virtqueue and virtio-balloon data (vmm_backend/virtio/).
 * Input: byte 0 picks the part, the rest is guest data:
 *   0: virtqueue.c over a fuzzed guest-RAM image: an 8-byte header places the rings and sets the
 *      queue size, the remaining bytes are RAM from address 0 (rings + descriptors + buffers).
 *      virtq_enable() and virtq_pop() either refuse with a reason and a known errno, or return
 *      chains whose buffers lie inside guest RAM, readable before writable, at most size long;
 *   1: balloon_stats_parse() of a stats buffer: fields are -1 or a (saturated) value from it;
 *   2: the balloon device over PCI/MMIO with a memfd RAM: the bytes are the inflate (or deflate)
 *      queue's descriptor table, avail ring and PFN buffer, then the driver notifies. The device
 *      either accepts (released pages counted) or goes to DEVICE_NEEDS_RESET with a reason;
 *      never touches memory outside guest RAM (ASan), and a driver reset brings it back.
 * No KVM is needed. See fuzz-common.h for how it is built and run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/fuzz/fuzz-common.h"
#include "vmm_backend/bus.h"
#include "vmm_backend/macro.h"
#include "vmm_backend/virtio/balloon.h"
#include "vmm_backend/virtio/virtqueue.h"

const FuzzTarget fuzz_target = { .name = "fuzz-virtio", .iterations = 20000, .max_len = 0x4100 };

/* --- part 0: the virtqueue over a RAM image ---------------------------------------------------- */

#define VQ_RAM (64u * 1024u)

static void fuzz_virtqueue(const uint8_t *data, size_t size)
{
        static uint8_t *ram;
        FuzzReader rd = { data, size };
        GuestMem mem = { .size = VQ_RAM, .memfd = -1 };
        Virtqueue vq;
        const char *why = NULL;
        int r;

        if (!ram && !(ram = malloc(VQ_RAM)))
                abort();
        mem.host = ram;
        fuzz_check(virtq_init(&vq, 256) == 0, "virtq_init");
        vq.size = (uint16_t)fuzz_take(&rd, 2);
        vq.desc_gpa = fuzz_take(&rd, 2) * 8;
        vq.avail_gpa = fuzz_take(&rd, 2) * 2;
        vq.used_gpa = fuzz_take(&rd, 2) * 4;
        memset(ram, 0, VQ_RAM);
        memcpy(ram, rd.p, MIN(rd.left, (size_t)VQ_RAM));

        r = virtq_enable(&vq, &mem, &why);
        if (r < 0) {
                fuzz_check(why && *why, "enable refused without a reason");
                fuzz_check(!vq.enabled, "enabled after a refusal");
                virtq_done(&vq);
                return;
        }
        fuzz_check(vq.size >= 1 && vq.size <= 256 && (vq.size & (vq.size - 1)) == 0, "enabled a bad size");
        for (unsigned i = 0; i < 2u * vq.size + 2; i++) {
                VirtqChain c;
                why = NULL;
                r = virtq_pop(&vq, &c, &why);
                if (r == 0)
                        break;
                if (r < 0) {
                        fuzz_check(r == -EINVAL || r == -EFAULT || r == -ELOOP || r == -EPROTO, "unexpected pop error");
                        fuzz_check(why && *why, "pop error without a reason");
                        break;
                }
                fuzz_check(r == 1 && c.head < vq.size, "bad head");
                fuzz_check(c.n_bufs >= 1 && c.n_bufs <= vq.size, "chain length out of bounds");
                fuzz_check(c.n_read + c.n_write == c.n_bufs, "read + write != bufs");
                uint64_t rl = 0, wl = 0;
                for (unsigned k = 0; k < c.n_bufs; k++) {
                        const VirtqBuf *b = &c.bufs[k];
                        fuzz_check(b->write == (k >= c.n_read), "readable buffer after a writable one");
                        fuzz_check(b->host >= ram && b->host + b->len <= ram + VQ_RAM, "buffer outside RAM");
                        fuzz_check(b->host == ram + b->gpa, "buffer host pointer does not match its address");
                        if (b->write)
                                wl += b->len;
                        else
                                rl += b->len;
                }
                fuzz_check(rl == c.read_len && wl == c.write_len, "chain lengths disagree");
                virtq_push(&vq, c.head, (uint32_t)MIN(c.write_len, (uint64_t)UINT32_MAX));
        }
        (void)virtq_pending(&vq);
        (void)virtq_should_interrupt(&vq);
        virtq_done(&vq);
}

/* --- part 1: stats parsing --------------------------------------------------------------------- */

static void fuzz_stats(const uint8_t *data, size_t size)
{
        BalloonStatsInfo st;
        int64_t *fields = &st.swap_in;

        memset(&st, 0x5a, sizeof(st));
        st.balloon_actual = 777;
        balloon_stats_parse(data, size, &st);
        fuzz_check(st.balloon_actual == 777, "balloon_actual changed");
        for (unsigned i = 0; i < 12; i++) {
                if (fields[i] == -1)
                        continue;
                /* A set field holds the value of some entry of the buffer. */
                bool found = false;
                for (size_t off = 0; off + VIRTIO_BALLOON_STAT_SIZE <= size && !found; off += VIRTIO_BALLOON_STAT_SIZE) {
                        uint64_t v;
                        memcpy(&v, data + off + 2, 8);
                        found = (v > INT64_MAX ? INT64_MAX : (int64_t)v) == fields[i]; /* saturated */
                }
                fuzz_check(found, "a stats field not taken from the buffer");
        }
}

/* --- part 2: the balloon device ---------------------------------------------------------------- */

#define B_RAM (UINT64_C(16) << 20)
#define QSIZE 16
#define QBASE 0x10000 /* queue q: desc QBASE + q * 0x4000, avail +0x800, used +0x1000 */
#define PFN_AREA 0x100000

static struct {
        GuestMem mem;
        EvLoop *loop;
        Bus *pio, *mmio;
        PciBus *pci;
        VirtioBalloon *b;
        uint64_t bar;
        unsigned resets;
} bd = { .mem.memfd = -1 };

static void irq_ignore(void *opaque, unsigned irq, int level)
{
}

static void on_resized(void *userdata, uint64_t actual, uint64_t target)
{
}

static void on_device_reset(void *userdata, const char *device, const char *reason)
{
        fuzz_check(streq(device, "virtio-balloon") && reason && *reason, "device reset without a reason");
        bd.resets++;
}

static void balloon_close(void)
{
        if (bd.b) {
                pci_bus_remove_device(bd.pci, virtio_pci_pci_device(virtio_balloon_transport(bd.b)));
                bd.b = virtio_balloon_free(bd.b);
        }
        bd.pci = pci_bus_free(bd.pci);
        bd.pio = bus_free(bd.pio);
        bd.mmio = bus_free(bd.mmio);
        evloop_free(bd.loop);
        bd.loop = NULL;
        if (bd.mem.host)
                munmap(bd.mem.host, B_RAM);
        bd.mem.host = NULL;
        bd.mem.memfd = safe_close(bd.mem.memfd);
}

static void balloon_open(void)
{
        if (bd.b)
                return;
        bd.mem.memfd = memfd_create("fuzz-ram", MFD_CLOEXEC);
        fuzz_check(bd.mem.memfd >= 0 && ftruncate(bd.mem.memfd, B_RAM) == 0, "memfd");
        bd.mem.host = mmap(NULL, B_RAM, PROT_READ | PROT_WRITE, MAP_SHARED, bd.mem.memfd, 0);
        fuzz_check(bd.mem.host != MAP_FAILED, "mmap");
        bd.mem.size = B_RAM;
        fuzz_check(evloop_new(&bd.loop) == 0 && bus_new(&bd.pio) == 0 && bus_new(&bd.mmio) == 0, "loop/bus");
        fuzz_check(pci_bus_new(bd.pio, bd.mmio, GUEST_MMIO_BASE, GUEST_MMIO_SIZE, irq_ignore, NULL, &bd.pci) == 0,
                   "pci_bus_new");
        VirtioBalloonConfig cfg = { .mem = &bd.mem, .loop = bd.loop, .resized = on_resized,
                                    .device_reset = on_device_reset };
        fuzz_check(virtio_balloon_new(&cfg, &bd.b) == 0, "virtio_balloon_new");
        PciDevice *d = virtio_pci_pci_device(virtio_balloon_transport(bd.b));
        fuzz_check(pci_bus_add_device(bd.pci, d, 10, NULL) == 0, "pci_bus_add_device");
        bd.bar = pci_device_bar_address(d, 0);
        atexit(balloon_close);
}

static uint64_t bar_read(uint64_t off, unsigned len)
{
        uint8_t b[8] = {};
        fuzz_check(bus_read(bd.mmio, bd.bar + off, b, len), "BAR read not claimed");
        uint64_t v = 0;
        for (unsigned i = 0; i < len; i++)
                v |= (uint64_t)b[i] << (8 * i);
        return v;
}

static void bar_write(uint64_t off, unsigned len, uint64_t v)
{
        uint8_t b[8];
        for (unsigned i = 0; i < len; i++)
                b[i] = (uint8_t)(v >> (8 * i));
        fuzz_check(bus_write(bd.mmio, bd.bar + off, b, len), "BAR write not claimed");
}

static void drv_init(void)
{
        uint64_t want = UINT64_C(1) << VIRTIO_F_VERSION_1 | UINT64_C(1) << VIRTIO_BALLOON_F_STATS_VQ;

        bar_write(VIRTIO_PCI_COMMON_STATUS, 1, 0);
        bar_write(VIRTIO_PCI_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
        bar_write(VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
        bar_write(VIRTIO_PCI_COMMON_GF, 4, (uint32_t)want);
        bar_write(VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
        bar_write(VIRTIO_PCI_COMMON_GF, 4, want >> 32);
        bar_write(VIRTIO_PCI_COMMON_STATUS, 1,
                  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
        fuzz_check(bar_read(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK, "features refused");
        for (unsigned q = 0; q < 3; q++) {
                memset(bd.mem.host + QBASE + q * 0x4000, 0, 0x2000);
                bar_write(VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
                bar_write(VIRTIO_PCI_COMMON_Q_SIZE, 2, QSIZE);
                bar_write(VIRTIO_PCI_COMMON_Q_DESC, 8, QBASE + q * 0x4000);
                bar_write(VIRTIO_PCI_COMMON_Q_DRIVER, 8, QBASE + q * 0x4000 + 0x800);
                bar_write(VIRTIO_PCI_COMMON_Q_DEVICE, 8, QBASE + q * 0x4000 + 0x1000);
                bar_write(VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
        }
        bar_write(VIRTIO_PCI_COMMON_STATUS, 1, bar_read(VIRTIO_PCI_COMMON_STATUS, 1) | VIRTIO_STATUS_DRIVER_OK);
        fuzz_check(bar_read(VIRTIO_PCI_COMMON_STATUS, 1) & VIRTIO_STATUS_DRIVER_OK, "DRIVER_OK refused");
}

/* Input: q selector, then the descriptor table (QSIZE * 16), the avail ring (6 + 2 * QSIZE), then
 * the PFN/stats buffer area at PFN_AREA. */
static void fuzz_balloon(const uint8_t *data, size_t size)
{
        FuzzReader rd = { data, size };
        VirtioBalloonInfo before, after;
        unsigned q = (unsigned)fuzz_take(&rd, 1) % 3, resets = bd.resets;
        size_t n;

        balloon_open();
        drv_init();
        virtio_balloon_get_info(bd.b, &before);
        uint8_t *qa = bd.mem.host + QBASE + q * 0x4000;
        n = MIN(rd.left, (size_t)QSIZE * 16);
        memcpy(qa, rd.p, n);
        rd.p += n, rd.left -= n;
        n = MIN(rd.left, (size_t)6 + 2 * QSIZE);
        memcpy(qa + 0x800, rd.p, n);
        rd.p += n, rd.left -= n;
        memset(bd.mem.host + PFN_AREA, 0, 0x10000);
        memcpy(bd.mem.host + PFN_AREA, rd.p, MIN(rd.left, (size_t)0x10000));
        bar_write(VIRTIO_PCI_NOTIFY_OFFSET + VIRTIO_PCI_NOTIFY_MULTIPLIER * q, 2, q);
        while (evloop_run_once(bd.loop, 0) > 0)
                ;
        virtio_balloon_get_info(bd.b, &after);
        uint8_t st = (uint8_t)bar_read(VIRTIO_PCI_COMMON_STATUS, 1);
        if (st & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
                fuzz_check(bd.resets == resets + 1, "NEEDS_RESET without exactly one report");
        else
                fuzz_check(bd.resets == resets, "a reset report without NEEDS_RESET");
        fuzz_check(after.inflated_pages >= before.inflated_pages && after.deflated_pages >= before.deflated_pages,
                   "counters went back");
        fuzz_check(after.released_pages - before.released_pages <= after.inflated_pages - before.inflated_pages,
                   "released more pages than were inflated");
        fuzz_check(after.released_pages <= after.inflated_pages, "released more than inflated");
        /* A driver reset always brings the device back. */
        bar_write(VIRTIO_PCI_COMMON_STATUS, 1, 0);
        fuzz_check(bar_read(VIRTIO_PCI_COMMON_STATUS, 1) == 0, "reset did not clear the status");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0:
                fuzz_virtqueue(data + 1, size - 1);
                break;
        case 1:
                fuzz_stats(data + 1, size - 1);
                break;
        default:
                fuzz_balloon(data + 1, size - 1);
                break;
        }
        return 0;
}

/* --- seeds ------------------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
        memcpy(p, &v, 2);
}

static void put_desc(uint8_t *p, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
        VirtqDesc d = { .addr = addr, .len = len, .flags = flags, .next = next };
        memcpy(p, &d, sizeof(d));
}

void fuzz_seeds(FuzzSeeds *s)
{
        static uint8_t buf[0x4100];

        /* Part 0: a 16-entry queue, desc 0x0, avail 0x1000, used 0x2000; chains of 1..3 buffers
         * in RAM from 0x4000. The header's offsets are in 8/2/4-byte units. */
        for (unsigned variant = 0; variant < 3; variant++) {
                uint8_t *ram;
                memset(buf, 0, sizeof(buf));
                buf[0] = 0;
                put16(buf + 1, 16);
                put16(buf + 3, 0);
                put16(buf + 5, 0x1000 / 2);
                put16(buf + 7, 0x2000 / 4);
                ram = buf + 9;
                for (unsigned c = 0; c < 4; c++) {
                        unsigned nb = 1 + (c + variant) % 3;
                        for (unsigned k = 0; k < nb; k++) {
                                unsigned di = c * 4 + k;
                                uint16_t flags = (k + 1 < nb ? VIRTQ_DESC_F_NEXT : 0) | (k == nb - 1 && nb > 1 ? VIRTQ_DESC_F_WRITE : 0);
                                put_desc(ram + 16 * di, 0x3000 + 0x100 * di, 0x80, flags, (uint16_t)(di + 1));
                        }
                        put16(ram + 0x1000 + 4 + 2 * c, (uint16_t)(c * 4));
                }
                put16(ram + 0x1000 + 2, 4);
                fuzz_seed_add(s, buf, 9 + 0x3000 + 0x1000);
        }

        /* Part 1: all known stats and an unknown one, then a partial entry. */
        {
                static const uint16_t tags[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 65534, 65535, 42 };
                size_t n = 1;
                buf[0] = 1;
                for (size_t i = 0; i < ELEMENTSOF(tags); i++, n += VIRTIO_BALLOON_STAT_SIZE) {
                        uint64_t v = 1000 * i + 1;
                        put16(buf + n, tags[i]);
                        memcpy(buf + n + 2, &v, 8);
                }
                buf[n++] = 4;
                fuzz_seed_add(s, buf, n);
        }

        /* Part 2: inflate (q 0), deflate (q 1) with one descriptor of 8 PFNs, and a stats buffer
         * (q 2); then one chain of two descriptors. */
        for (unsigned q = 0; q < 3; q++) {
                size_t n = 0;
                memset(buf, 0, sizeof(buf));
                buf[n++] = 2;
                buf[n++] = (uint8_t)q;
                uint8_t *desc = buf + n, *avail = desc + QSIZE * 16, *pfns = avail + 6 + 2 * QSIZE;
                put_desc(desc, PFN_AREA, q == 2 ? 10 * 4 : 8 * 4, q == 2 ? 0 : 0, 0);
                put16(avail + 2, 1);
                put16(avail + 4, 0);
                for (uint32_t i = 0; i < 8; i++) {
                        uint32_t pfn = q == 2 ? i : 0x800 + 3 * i;
                        memcpy(pfns + 4 * i, &pfn, 4);
                }
                n = (size_t)(pfns - buf) + 64;
                fuzz_seed_add(s, buf, n);
                put_desc(desc, PFN_AREA, 16, VIRTQ_DESC_F_NEXT, 1);
                put_desc(desc + 16, PFN_AREA + 16, 16, 0, 0);
                fuzz_seed_add(s, buf, n);
        }
}
