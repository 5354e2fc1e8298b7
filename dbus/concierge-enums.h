/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* String tables of the concierge API enums, for logs, vmc output and vmc arguments. */
#pragma once

#include "proto/concierge_service.pb-c.h"

/* Each *_to_string() returns NULL for a value outside the table; each *_from_string() returns
 * the value, or -EINVAL for an unknown string. */
const char *vm_status_to_string(int status);
int vm_status_from_string(const char *s);

const char *vm_type_to_string(int type);
int vm_type_from_string(const char *s);

const char *vm_stop_reason_to_string(int reason);
int vm_stop_reason_from_string(const char *s);

/* The number of entries of each table (one past the largest value). */
#define VM_STATUS_MAX (VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_STOPPED + 1)
#define VM_TYPE_MAX (VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__BAGUETTE + 1)
#define VM_STOP_REASON_MAX (VM_TOOLS__CONCIERGE__VM_STOP_REASON__SIBLING_VM_EXITED + 1)
