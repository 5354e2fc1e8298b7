/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virtio-balloon (virtio 1.x §5.5, device type 5) on the modern PCI transport.
 *
 * Queues: 0 inflate, 1 deflate, 2 stats (VIRTIO_BALLOON_F_STATS_VQ). Features offered: VERSION_1,
 * STATS_VQ, DEFLATE_ON_OOM. Inflated pages leave the host through madvise(MADV_REMOVE) on the
 * shared memfd mapping, on the vCPU thread that delivered the notification (never on the
 * userfaultfd reader: with vmm-swap active the call blocks until that thread reads the REMOVE
 * event). Deflate releases nothing: the pages fault back in as zeroes.
 *
 * Host requests (target size, stats) run on the event-loop thread and may complete later through
 * a callback, on that same thread; guest-side progress (actual, fresh stats, protocol errors) is
 * handed to it through an eventfd. Stats are on demand as crosvm does them: the guest's buffer is
 * kept, given back on a request, and the next one it posts is the answer. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vmm_backend/control.h"
#include "vmm_backend/evloop.h"
#include "vmm_backend/guest_mem.h"
#include "vmm_backend/virtio/virtio-pci.h"

#define VIRTIO_ID_BALLOON 5
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_PFN_SHIFT 12
#define VIRTIO_BALLOON_QUEUE_SIZE 128 /* as crosvm */
#define VIRTIO_BALLOON_CONFIG_SIZE 16 /* num_pages, actual, free_page_hint_cmd_id, poison_val */

enum {
        VIRTIO_BALLOON_Q_INFLATE,
        VIRTIO_BALLOON_Q_DEFLATE,
        VIRTIO_BALLOON_Q_STATS,
        _VIRTIO_BALLOON_Q_MAX,
};

/* Stats tags (§5.5.6.3) and crosvm's two extensions. */
#define VIRTIO_BALLOON_S_SWAP_IN 0
#define VIRTIO_BALLOON_S_SWAP_OUT 1
#define VIRTIO_BALLOON_S_MAJFLT 2
#define VIRTIO_BALLOON_S_MINFLT 3
#define VIRTIO_BALLOON_S_MEMFREE 4
#define VIRTIO_BALLOON_S_MEMTOT 5
#define VIRTIO_BALLOON_S_AVAIL 6
#define VIRTIO_BALLOON_S_CACHES 7
#define VIRTIO_BALLOON_S_HTLB_PGALLOC 8
#define VIRTIO_BALLOON_S_HTLB_PGFAIL 9
#define VIRTIO_BALLOON_S_SHMEM 65534
#define VIRTIO_BALLOON_S_UNEVICTABLE 65535
#define VIRTIO_BALLOON_STAT_SIZE 10 /* le16 tag + le64 value, packed */

#define BALLOON_DEFAULT_STATS_TIMEOUT_MS 10000u
#define BALLOON_DEFAULT_SET_TIMEOUT_MS 60000u
#define BALLOON_PENDING 1 /* == CONTROL_PENDING */
/* The most PFNs one inflate/deflate chain may carry (Linux sends at most 256). */
#define BALLOON_MAX_PFNS_PER_CHAIN (1u << 20)

typedef struct VirtioBalloon VirtioBalloon;

typedef struct VirtioBalloonConfig {
        const GuestMem *mem;
        EvLoop *loop;
        /* Called on the event-loop thread. */
        void (*resized)(void *userdata, uint64_t actual_bytes, uint64_t target_bytes);
        void (*device_reset)(void *userdata, const char *device, const char *reason);
        void *userdata;
} VirtioBalloonConfig;

/* Counters, for status reports, tests and the benchmark. */
typedef struct VirtioBalloonInfo {
        uint64_t target_pages, actual_pages;
        uint64_t inflated_pages, deflated_pages; /* PFNs received */
        uint64_t released_pages;                 /* pages madvise(MADV_REMOVE) succeeded on */
        uint64_t release_calls, release_errors;
        uint64_t stats_buffers;                  /* stats buffers received */
        uint8_t status;                          /* device_status */
} VirtioBalloonInfo;

/* error: 0 or a negative errno; message: NULL or a reason (valid during the call). */
typedef void (*BalloonDoneFn)(void *userdata, int error, const char *message);
typedef void (*BalloonStatsDoneFn)(void *userdata, int error, const char *message, const BalloonStatsInfo *st);

int virtio_balloon_new(const VirtioBalloonConfig *cfg, VirtioBalloon **ret);
/* After vCPUs stopped. Requests still waiting finish with -ESHUTDOWN. */
VirtioBalloon *virtio_balloon_free(VirtioBalloon *b);
/* The transport, to put on a PCI bus (virtio_pci_pci_device) or to drive in tests. */
VirtioPci *virtio_balloon_transport(VirtioBalloon *b);

/* Event-loop thread only. Target in bytes, rounded down to 4 KiB pages, at most guest RAM.
 * wait=false: 0 at once. wait=true: 0 if actual already equals the target, else BALLOON_PENDING
 * and done() runs once actual == target, or with -ETIMEDOUT after timeout_ms (0 = default), or
 * -ECANCELED when a later request changes the target. Errors: -EINVAL (*ret_message says why). */
int virtio_balloon_set_target(VirtioBalloon *b, uint64_t bytes, bool wait, uint32_t timeout_ms, BalloonDoneFn done,
                              void *userdata, const char **ret_message);
/* Event-loop thread only. BALLOON_PENDING, then done() with the guest's next stats buffer, or
 * -ETIMEDOUT after timeout_ms (0 = default); concurrent requests share one guest round trip.
 * -ENOTSUP when the driver is running without the stats queue. */
int virtio_balloon_request_stats(VirtioBalloon *b, uint32_t timeout_ms, BalloonStatsDoneFn done, void *userdata,
                                 const char **ret_message);
void virtio_balloon_get_info(VirtioBalloon *b, VirtioBalloonInfo *ret);

/* Parse a stats buffer (packed {le16 tag, le64 val} entries): known tags fill *ret, unknown tags
 * and a trailing partial entry are ignored, absent fields are -1. balloon_actual is left as is. */
void balloon_stats_parse(const uint8_t *buf, size_t len, BalloonStatsInfo *ret);
