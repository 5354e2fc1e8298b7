/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: the command-line client of vm_concierge. Shared state and helpers of the verb files. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Connect vmc->bus if not yet connected. 0, or the exit code after telling the user why not. */
int vmc_connect(Vmc *vmc);

/* Call `method` with `request` (NULL: no argument) and unpack the `ay` reply as `response_desc`
 * (NULL: no reply argument). Errors are reported to the user here, in words; the return value
 * is the exit code to use (0 on success). */
int vmc_call(Vmc *vmc, const char *method, const ProtobufCMessage *request,
             const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **ret);

/* The same with an `ah` argument after the request holding fds[0..n_fds) (fds NULL: no `ah`). */
int vmc_call_fds(Vmc *vmc, const char *method, const ProtobufCMessage *request, const int *fds, size_t n_fds,
                 const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **ret);

/* --- argument parsing (vmc/args.c; no bus, unit-tested) -------------------------------------- */

/* A decimal integer in [min, max] (no sign, no spaces, no suffix): 0 and *ret set, else
 * -EINVAL (not a number) or -ERANGE. */
int vmc_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* Seconds, with an optional fraction ("5", "0.5"), up to a day: 0 and *ret_usec set, else
 * -EINVAL / -ERANGE. */
int vmc_parse_seconds(const char *s, uint64_t *ret_usec);

/* The VmInfo.VmType of --vm-type: "termina", "arcvm", "plugin"; -EINVAL otherwise. */
int vmc_parse_vm_type(const char *s);

#define VMC_MEM_MIB_MAX (UINT32_C(1) << 22) /* 4 TiB: more is a typo, not a VM */
#define VMC_CPUS_MAX 1024

typedef struct VmcStartArgs {
        const char *name;
        const char *kernel;
        const char *initrd;         /* NULL: none */
        uint32_t mem_mib;           /* 0: the daemon's default */
        uint32_t cpus;              /* 0: the daemon's default (all host CPUs) */
        const char **kernel_params; /* each --cmdline, in order (points into argv) */
        size_t n_kernel_params;
        bool enable_balloon;
        bool enable_vmm_swap;
        int vm_type; /* VmInfo.VmType; 0 (UNKNOWN): not given, the daemon decides */
} VmcStartArgs;

/* Parse `start NAME --kernel PATH [...]` (argv[0] is the verb). 0 on success; otherwise the
 * usage error was printed and VMC_EXIT_USAGE is returned. Free with vmc_start_args_done(). */
int vmc_start_args_parse(int argc, char **argv, VmcStartArgs *ret);
void vmc_start_args_done(VmcStartArgs *a);

typedef enum VmcWaitFor {
        VMC_WAIT_STARTED,
        VMC_WAIT_STOPPED,
        _VMC_WAIT_FOR_MAX,
        _VMC_WAIT_FOR_INVALID = -EINVAL,
} VmcWaitFor;

const char *vmc_wait_for_to_string(VmcWaitFor w);
VmcWaitFor vmc_wait_for_from_string(const char *s);

typedef struct VmcWaitArgs {
        const char *name;
        VmcWaitFor wait_for;
        uint64_t timeout_usec; /* 0: no limit */
} VmcWaitArgs;

/* Parse `wait NAME --for=started|stopped [--timeout S]`; as vmc_start_args_parse(). */
int vmc_wait_args_parse(int argc, char **argv, VmcWaitArgs *ret);

/* JSON output shared by the verbs. */
struct json_object;
void vmc_print_json(struct json_object *j);

/* The owner id to use when neither --owner nor CROS_USER_ID_HASH gives one: 16 hex digits of
 * the 64-bit FNV-1a hash of "vm_concierge-owner:<uid>", stable for a uid across runs and
 * machines. Writes 17 bytes into ret. */
void vmc_owner_id_from_uid(uid_t uid, char ret[static 17]);

/* Verbs. argv[0] is the verb. */
int verb_list(Vmc *vmc, int argc, char **argv);
int verb_info(Vmc *vmc, int argc, char **argv);
int verb_cpu_restrict(Vmc *vmc, int argc, char **argv);
int verb_start(Vmc *vmc, int argc, char **argv);
int verb_stop(Vmc *vmc, int argc, char **argv);
int verb_stop_all(Vmc *vmc, int argc, char **argv);
int verb_suspend(Vmc *vmc, int argc, char **argv);
int verb_resume(Vmc *vmc, int argc, char **argv);
int verb_logs(Vmc *vmc, int argc, char **argv);
int verb_console(Vmc *vmc, int argc, char **argv);
int verb_wait(Vmc *vmc, int argc, char **argv);
