/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the default owner id derived from the uid. */
#include <inttypes.h>
#include <stdio.h>

#include "vmc/vmc.h"

void vmc_owner_id_from_uid(uid_t uid, char ret[static 17])
{
        /* FNV-1a, 64 bit: tiny, well known, and enough to spread uids into hex ids that look
         * like (shorter) cryptohome hashes; nothing here needs to be secret. */
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        char key[64];
        int n;

        n = snprintf(key, sizeof(key), "vm_concierge-owner:%u", (unsigned)uid);
        for (int i = 0; i < n; i++) {
                h ^= (uint8_t)key[i];
                h *= UINT64_C(0x100000001b3);
        }
        snprintf(ret, 17, "%016" PRIx64, h);
}
