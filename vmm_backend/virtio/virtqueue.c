/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Split virtqueue parsing with full validation of guest-controlled data. */
#include "vmm_backend/virtio/virtqueue.h"

#include "vmm_backend/macro.h"

static bool is_pow2(unsigned v)
{
        return v && !(v & (v - 1));
}

int virtq_init(Virtqueue *vq, uint16_t max_size)
{
        if (!is_pow2(max_size) || max_size > VIRTQ_MAX_SIZE)
                return -EINVAL;
        VirtqBuf *bufs = calloc(max_size, sizeof(VirtqBuf));
        if (!bufs)
                return -ENOMEM;
        *vq = (Virtqueue){ .max_size = max_size, .size = max_size, .bufs = bufs };
        return 0;
}

void virtq_done(Virtqueue *vq)
{
        if (!vq)
                return;
        free(vq->bufs);
        vq->bufs = NULL;
}

void virtq_reset(Virtqueue *vq)
{
        VirtqBuf *bufs = vq->bufs;
        uint16_t max = vq->max_size;
        *vq = (Virtqueue){ .max_size = max, .size = max, .bufs = bufs };
}

int virtq_enable(Virtqueue *vq, const GuestMem *mem, const char **ret_reason)
{
        const char *reason = NULL;
        uint16_t n = vq->size;

        /* §2.7: split queue sizes are powers of two; §2.7.1 (desc 16, avail 2, used 4 alignment). */
        if (!is_pow2(n) || n > vq->max_size)
                reason = "queue size is not a power of two within the device maximum";
        else if (vq->desc_gpa % 16 || vq->avail_gpa % 2 || vq->used_gpa % 4)
                reason = "virtqueue ring address is misaligned";
        else {
                vq->desc = guest_mem_ptr(mem, vq->desc_gpa, virtq_desc_bytes(n));
                vq->avail = guest_mem_ptr(mem, vq->avail_gpa, virtq_avail_bytes(n));
                vq->used = guest_mem_ptr(mem, vq->used_gpa, virtq_used_bytes(n));
                if (!vq->desc || !vq->avail || !vq->used)
                        reason = "virtqueue ring is outside guest RAM";
        }
        if (reason) {
                vq->desc = NULL;
                vq->avail = vq->used = NULL;
                if (ret_reason)
                        *ret_reason = reason;
                return -EINVAL;
        }
        vq->mem = mem;
        /* The driver starts both indices at 0 on a fresh queue (§2.7.6, §2.7.8). */
        vq->last_avail = 0;
        vq->used_idx = 0;
        vq->enabled = true;
        return 0;
}

unsigned virtq_pending(const Virtqueue *vq)
{
        if (!vq->enabled)
                return 0;
        uint16_t idx = __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE);
        return (uint16_t)(idx - vq->last_avail);
}

static int fail(const char **ret_reason, const char *reason, int r)
{
        if (ret_reason)
                *ret_reason = reason;
        return r;
}

int virtq_pop(Virtqueue *vq, VirtqChain *ret, const char **ret_reason)
{
        if (!vq->enabled)
                return 0;

        /* Acquire: the ring entry and the descriptors it names are read after the index. */
        uint16_t avail_idx = __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE);
        uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
        if (pending == 0)
                return 0;
        if (pending > vq->size)
                return fail(ret_reason, "available index moved more than the queue size ahead", -EPROTO);

        uint16_t head = __atomic_load_n(&vq->avail[2 + (vq->last_avail & (vq->size - 1))], __ATOMIC_RELAXED);
        if (head >= vq->size)
                return fail(ret_reason, "available ring names a descriptor beyond the queue size", -EINVAL);

        VirtqChain c = { .head = head, .bufs = vq->bufs };
        uint16_t i = head;
        for (;;) {
                /* §2.7.5.3.1 bounds a chain by the queue size; a longer one must loop. */
                if (c.n_bufs >= vq->size)
                        return fail(ret_reason, "descriptor chain is longer than the queue (a loop)", -ELOOP);

                /* Copy once: the guest may rewrite the descriptor while we look at it. */
                VirtqDesc d;
                memcpy(&d, (const void *)&vq->desc[i], sizeof(d));
                __atomic_signal_fence(__ATOMIC_SEQ_CST);

                if (d.flags & VIRTQ_DESC_F_INDIRECT)
                        return fail(ret_reason, "indirect descriptor without VIRTIO_F_INDIRECT_DESC", -EINVAL);
                if (d.flags & ~(VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE))
                        return fail(ret_reason, "descriptor has unknown flags", -EINVAL);
                uint8_t *host = guest_mem_ptr(vq->mem, d.addr, d.len);
                if (!host)
                        return fail(ret_reason, "descriptor buffer is outside guest RAM", -EFAULT);
                bool w = d.flags & VIRTQ_DESC_F_WRITE;
                /* §2.7.4.2: device-writable buffers come after all device-readable ones. */
                if (!w && c.n_write > 0)
                        return fail(ret_reason, "device-readable descriptor after a writable one", -EPROTO);

                c.bufs[c.n_bufs++] = (VirtqBuf){ .host = host, .gpa = d.addr, .len = d.len, .write = w };
                if (w) {
                        c.n_write++;
                        c.write_len += d.len;
                } else {
                        c.n_read++;
                        c.read_len += d.len;
                }
                if (!(d.flags & VIRTQ_DESC_F_NEXT))
                        break;
                if (d.next >= vq->size)
                        return fail(ret_reason, "descriptor chain points beyond the queue size", -EINVAL);
                i = d.next;
        }

        vq->last_avail++;
        *ret = c;
        return 1;
}

void virtq_push(Virtqueue *vq, uint16_t head, uint32_t written)
{
        if (!vq->enabled)
                return;
        VirtqUsedElem *ring = (VirtqUsedElem *)(void *)((uint8_t *)vq->used + 4);
        VirtqUsedElem e = { .id = head, .len = written };
        memcpy(&ring[vq->used_idx & (vq->size - 1)], &e, sizeof(e));
        vq->used_idx++;
        /* Release: the element is visible before the index that publishes it (§2.7.8.2). */
        __atomic_store_n(&vq->used[1], vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_should_interrupt(const Virtqueue *vq)
{
        if (!vq->enabled)
                return false;
        /* Full fence: the used index store is ordered before reading the driver's flags. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return !(__atomic_load_n(&vq->avail[0], __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}
