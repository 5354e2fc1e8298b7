/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap low-disk policy: free space >= 2 GiB + guest memory. */
#include "policy/low-disk.h"

uint64_t low_disk_policy_required_bytes(uint64_t guest_memory_bytes)
{
        uint64_t r;

        if (__builtin_add_overflow(guest_memory_bytes, LOW_DISK_MIN_FREE_BYTES, &r))
                return UINT64_MAX;
        return r;
}

bool low_disk_policy_can_enable(int64_t free_bytes, uint64_t guest_memory_bytes)
{
        if (free_bytes < 0)
                return false;
        return (uint64_t)free_bytes >= low_disk_policy_required_bytes(guest_memory_bytes);
}
