/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of the VM identity fields of requests (reference/concierge.md §1.3). Does not log. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

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

#define VALIDATE_CPU_COUNT_FAILURE "Invalid CPU count"
#define VALIDATE_MEMORY_FAILURE "Invalid memory size"

/* StartVmRequest.cpus: 0 means every online host CPU; more than the host has is refused
 * (reference §1.3). NULL and *ret_cpus set when acceptable, else the failure_reason. */
const char *validate_cpu_count(uint32_t requested, unsigned host_cpus, unsigned *ret_cpus);

/* StartVmRequest.memory_mib (our extension): 0 means `default_mib`; below `min_mib` or above the
 * host's RAM (host_mib; 0 = unknown, no upper check) is refused. */
const char *validate_memory_mib(uint32_t requested, uint32_t default_mib, uint32_t min_mib,
                                uint64_t host_mib, uint32_t *ret_mib);
