/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsock cid allocation: a monotonic counter (see cid-pool.h). */
#include <errno.h>

#include "concierge/cid-pool.h"

int cid_pool_init(CidPool *p, uint32_t first, uint32_t last)
{
        if (!p || first < CID_POOL_FIRST || last > CID_POOL_LAST || first > last)
                return -EINVAL;
        *p = (CidPool){.next = first, .last = last};
        return 0;
}

void cid_pool_init_default(CidPool *p)
{
        *p = (CidPool){.next = CID_POOL_FIRST, .last = CID_POOL_LAST};
}

int cid_pool_allocate(CidPool *p, uint32_t *ret_cid)
{
        if (!p || !ret_cid)
                return -EINVAL;
        /* next > last means exhausted; last <= UINT32_MAX - 1, so next + 1 never wraps. */
        if (p->next > p->last || p->next < CID_POOL_FIRST)
                return -ENOSPC;
        *ret_cid = p->next++;
        return 0;
}

uint64_t cid_pool_remaining(const CidPool *p)
{
        if (!p || p->next > p->last || p->next < CID_POOL_FIRST)
                return 0;
        return (uint64_t)p->last - p->next + 1;
}
