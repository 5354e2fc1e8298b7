/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsock context ids for VMs: a counter from 32 upwards, never reused while the daemon runs.
 *
 * Reference concierge.md §1.3: 0, 1 and U32_MAX are reserved, 2 is the host, 3..31 are kept for
 * static VMs, so dynamic VMs get 32, 33, ... A cid is never handed out twice in one daemon run, so
 * a late vsock packet for a stopped VM can never reach its successor. */
#pragma once

#include <stdint.h>

#define CID_POOL_FIRST UINT32_C(32)
/* U32_MAX (VMADDR_CID_ANY) is reserved; the last usable cid is one below it. */
#define CID_POOL_LAST (UINT32_MAX - 1)

typedef struct CidPool {
        uint32_t next; /* the next cid to hand out; CID_POOL_LAST + 1 when exhausted */
        uint32_t last; /* the last cid this pool may hand out (CID_POOL_LAST unless limited for tests) */
} CidPool;

/* A pool handing out first..last (first >= CID_POOL_FIRST, last <= CID_POOL_LAST, first <= last);
 * -EINVAL otherwise. cid_pool_init_default() is CID_POOL_FIRST..CID_POOL_LAST. */
int cid_pool_init(CidPool *p, uint32_t first, uint32_t last);
void cid_pool_init_default(CidPool *p);

/* The next cid, or -ENOSPC once every cid of the range was handed out. */
int cid_pool_allocate(CidPool *p, uint32_t *ret_cid);

/* How many cids are still available. */
uint64_t cid_pool_remaining(const CidPool *p);
