/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of the VM identity fields of requests (reference/concierge.md §1.3). Does not log. */
#pragma once

#include <stdbool.h>

/* The failure_reason strings, exactly as upstream concierge sends them. */
#define VALIDATE_OWNER_ID_FAILURE "Empty or malformed owner ID"
#define VALIDATE_VM_NAME_FAILURE "Empty or malformed VM name"
#define VALIDATE_VM_NAME_TOO_LONG_FAILURE "VM name is too long"

/* Upstream caps new VM names at 60 bytes: the name ends up (base64-encoded) in socket paths,
 * which sun_path limits to 108 bytes. */
#define VM_NAME_MAX 60

/* Owner ids are cryptohome user hashes (40 hex digits). Upstream sets no upper bound; we refuse
 * longer than this as malformed, so that an id cannot blow up logs and paths. */
#define OWNER_ID_MAX 256

/* Non-empty, only [0-9a-fA-F], at most OWNER_ID_MAX characters. */
bool owner_id_is_valid(const char *owner_id);

/* Non-empty, valid UTF-8 without control characters (names are logged, shown by vmc, and sent
 * back as D-Bus strings, which must be UTF-8). Any length: see vm_name_validate_new(). */
bool vm_name_is_valid(const char *name);

/* The generic check of a per-VM request: NULL when owner_id and name are acceptable, else the
 * failure_reason to report. The owner is checked first, as upstream does. */
const char *validate_vm_request(const char *owner_id, const char *name);

/* validate_vm_request() plus the length limit of a VM about to be created (StartVm). */
const char *validate_new_vm_request(const char *owner_id, const char *name);
