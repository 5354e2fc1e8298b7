/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of the VM identity fields of requests. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "concierge/validate.h"

bool owner_id_is_valid(const char *owner_id)
{
        size_t n;

        if (!owner_id)
                return false;
        n = strlen(owner_id);
        if (n == 0 || n > OWNER_ID_MAX)
                return false;
        return strspn(owner_id, "0123456789abcdefABCDEF") == n;
}

/* Length of the UTF-8 sequence at s (1..4), or 0 when it is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_sequence_length(const unsigned char *s)
{
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xe0) == 0xc0) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if ((s[0] & 0xf8) == 0xf0) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;

        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }

        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
                return 0;
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                return 0;
        return len;
}

bool vm_name_is_valid(const char *name)
{
        const unsigned char *p = (const unsigned char *)name;

        if (!name || !*name)
                return false;

        while (*p) {
                size_t len;

                if (*p < 0x20 || *p == 0x7f)
                        return false;
                len = utf8_sequence_length(p);
                if (len == 0)
                        return false;
                p += len;
        }
        return true;
}

const char *validate_vm_request(const char *owner_id, const char *name)
{
        if (!owner_id_is_valid(owner_id))
                return VALIDATE_OWNER_ID_FAILURE;
        if (!vm_name_is_valid(name))
                return VALIDATE_VM_NAME_FAILURE;
        return NULL;
}

const char *validate_new_vm_request(const char *owner_id, const char *name)
{
        const char *failure = validate_vm_request(owner_id, name);

        if (failure)
                return failure;
        if (strlen(name) > VM_NAME_MAX)
                return VALIDATE_VM_NAME_TOO_LONG_FAILURE;
        return NULL;
}

const char *validate_cpu_count(uint32_t requested, unsigned host_cpus, unsigned *ret_cpus)
{
        if (host_cpus == 0 || requested > host_cpus)
                return VALIDATE_CPU_COUNT_FAILURE;
        *ret_cpus = requested == 0 ? host_cpus : requested;
        return NULL;
}

const char *validate_memory_mib(uint32_t requested, uint32_t default_mib, uint32_t min_mib,
                                uint64_t host_mib, uint32_t *ret_mib)
{
        uint32_t mib = requested == 0 ? default_mib : requested;

        if (mib < min_mib || (host_mib > 0 && mib > host_mib))
                return VALIDATE_MEMORY_FAILURE;
        *ret_mib = mib;
        return NULL;
}
