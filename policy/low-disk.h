/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap low-disk policy (reference/concierge.md §3.4): enabling vmm-swap may write the whole
 * guest memory to the swap dir, so it needs that much free space on top of the 2 GiB that the
 * system's own low-disk cleanup keeps free. The daemon measures (statvfs of the swap dir); this
 * decides. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define LOW_DISK_MIN_FREE_BYTES (UINT64_C(2) << 30)

/* free_bytes >= 2 GiB + guest_memory_bytes. A negative free_bytes (the measurement failed, as a
 * negative errno) denies. */
bool low_disk_policy_can_enable(int64_t free_bytes, uint64_t guest_memory_bytes);

/* The free space an enable needs for a guest of this size (saturating). */
uint64_t low_disk_policy_required_bytes(uint64_t guest_memory_bytes);
