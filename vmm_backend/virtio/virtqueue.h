/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Split virtqueues (virtio 1.x §2.7) read from guest RAM with every guest-controlled value checked:
 * ring placement, avail-index progress, descriptor indices, chain length and loops, buffer ranges
 * and the read/write order. A guest error is returned as a negative errno with a reason; the
 * caller (the transport) then puts the device in DEVICE_NEEDS_RESET. Not thread-safe: the
 * transport serialises all calls on one queue with its lock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm_backend/guest_mem.h"

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_MAX_SIZE 32768 /* §2.7: Queue Size is at most 32768 */

/* Guest-visible layouts (little-endian; the VMM runs on x86-64 only). */
typedef struct VirtqDesc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
} VirtqDesc;

typedef struct VirtqUsedElem {
        uint32_t id;
        uint32_t len;
} VirtqUsedElem;

/* One buffer of a chain, already translated and bounds-checked. */
typedef struct VirtqBuf {
        uint8_t *host;
        uint64_t gpa;
        uint32_t len;
        bool write; /* device-writable */
} VirtqBuf;

typedef struct VirtqChain {
        uint16_t head;
        unsigned n_bufs, n_read, n_write;
        uint64_t read_len, write_len;
        VirtqBuf *bufs; /* n_bufs entries, owned by the queue, valid until the next pop */
} VirtqChain;

typedef struct Virtqueue {
        /* Set by the driver through the transport while the queue is disabled. */
        uint16_t size, max_size;
        uint64_t desc_gpa, avail_gpa, used_gpa;
        bool enabled;

        /* Valid while enabled. */
        const GuestMem *mem;
        VirtqDesc *desc;
        uint16_t *avail; /* flags, idx, ring[size] */
        uint16_t *used;  /* flags, idx, then VirtqUsedElem ring[size] at byte 4 */
        uint16_t last_avail, used_idx;
        VirtqBuf *bufs;  /* max_size entries */
} Virtqueue;

/* max_size: a power of two <= VIRTQ_MAX_SIZE. */
int virtq_init(Virtqueue *vq, uint16_t max_size);
void virtq_done(Virtqueue *vq);
/* Back to the reset state (disabled, size = max, addresses 0). */
void virtq_reset(Virtqueue *vq);

/* Validate size and ring placement and start using the queue. On failure *ret_reason says why. */
int virtq_enable(Virtqueue *vq, const GuestMem *mem, const char **ret_reason);

/* Take the next available chain. Returns 1 with *ret filled, 0 when nothing is available, or a
 * negative errno for a guest error (*ret_reason says which): -EINVAL bad index or flags, -EFAULT
 * buffer outside RAM, -ELOOP chain longer than the queue (a loop), -EPROTO avail index jumped past
 * the queue size or a readable buffer after a writable one. */
int virtq_pop(Virtqueue *vq, VirtqChain *ret, const char **ret_reason);
/* Return a chain to the guest (used ring, index published with release ordering). */
void virtq_push(Virtqueue *vq, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt for used buffers (VIRTQ_AVAIL_F_NO_INTERRUPT clear). */
bool virtq_should_interrupt(const Virtqueue *vq);
/* Number of chains the driver made available and the device has not popped yet (0..size, or
 * more than size if the guest published a bogus index). */
unsigned virtq_pending(const Virtqueue *vq);

/* Byte sizes of the three areas for a queue of n entries (no event-idx fields used, but the
 * trailing used_event/avail_event words are included so the whole structure is in RAM). */
static inline uint64_t virtq_desc_bytes(uint16_t n)
{
        return 16ull * n;
}
static inline uint64_t virtq_avail_bytes(uint16_t n)
{
        return 6ull + 2ull * n;
}
static inline uint64_t virtq_used_bytes(uint16_t n)
{
        return 6ull + 8ull * n;
}
