/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the command-line client of vm_concierge. Shared state and helpers of the verb files. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "vmm_backend/macro.h"

/* Exit codes: 0 success, 1 the operation failed (daemon absent, call refused, no such VM),
 * 2 a usage error. */
#define VMC_EXIT_FAILURE 1
#define VMC_EXIT_USAGE 2

/* vmc's default method-call timeout (upstream vmc uses 80 s). */
#define VMC_CALL_TIMEOUT_USEC (80 * USEC_PER_SEC)

typedef struct Vmc {
        const char *address; /* NULL: the system bus */
        const char *owner_id;
        bool json;
        sd_bus *bus;
} Vmc;

/* Prints "vmc: <message>" on stderr; returns VMC_EXIT_FAILURE (or VMC_EXIT_USAGE for
 * vmc_usage_error). */
int vmc_error(const char *format, ...) _printf_(1, 2);
int vmc_usage_error(const char *format, ...) _printf_(1, 2);

/* Call `method` with `request` (NULL: no argument) and unpack the `ay` reply as `response_desc`
 * (NULL: no reply argument). Errors are reported to the user here, in words; the return value
 * is the exit code to use (0 on success). */
int vmc_call(Vmc *vmc, const char *method, const ProtobufCMessage *request,
             const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **ret);

/* The owner id to use when neither --owner nor CROS_USER_ID_HASH gives one: 16 hex digits of
 * the 64-bit FNV-1a hash of "vm_concierge-owner:<uid>", stable for a uid across runs and
 * machines. Writes 17 bytes into ret. */
void vmc_owner_id_from_uid(uid_t uid, char ret[static 17]);

/* Verbs. argv[0] is the verb. */
int verb_list(Vmc *vmc, int argc, char **argv);
int verb_info(Vmc *vmc, int argc, char **argv);
int verb_cpu_restrict(Vmc *vmc, int argc, char **argv);
