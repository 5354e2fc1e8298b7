/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's vmm-swap wiring (issue 8, reference/concierge.md §3): the swap flags, the
 * daemon-wide TBW budget (swap-tbw.h) opened at startup and closed after every VM, one swap
 * controller (swap-controller.h) per VM started with enable_vmm_swap, and the D-Bus side of it
 * (manager-swap-dbus.c: SwapVm, our GetVmSwapStatus extension, VmSwappingSignal).
 *
 * The manager calls in at four points: manager_swap_vm_launched() once the VM's backend exists,
 * manager_swap_vm_event() for every VMM event, manager_swap_vm_stopped() before the backend is
 * freed (the VMM is gone), manager_swap_vm_free() before the Vm is freed. No sd-bus here. */
#pragma once

#include <getopt.h>
#include <stdint.h>

#include "concierge/manager.h"
#include "concierge/swap-controller.h"
#include "concierge/swap-tbw.h"
#include "concierge/vm.h"
#include "vmm_backend/ctl/libvmmctl.h"

/* The swap flags of vm_concierge. Durations in µs, 0: the §3.2 default. */
typedef struct ManagerSwapConfig {
        int64_t trim_wait_us;
        int64_t cool_down_us;
        int64_t poll_interval_us;
        int64_t force_enable_delay_us;
        int64_t low_disk_check_us;
        /* The disk size behind the TBW target; 0: statvfs of the state dir. */
        uint64_t disk_size_bytes;
} ManagerSwapConfig;

/* The long options, numbered from `first` (the caller's getopt value range) in this order. */
typedef enum ManagerSwapOption {
        MANAGER_SWAP_OPTION_TRIM_WAIT_MS,
        MANAGER_SWAP_OPTION_COOL_DOWN_MS,
        MANAGER_SWAP_OPTION_POLL_MS,
        MANAGER_SWAP_OPTION_FORCE_DELAY_MS,
        MANAGER_SWAP_OPTION_LOW_DISK_CHECK_MS,
        MANAGER_SWAP_OPTION_DISK_SIZE_BYTES,
        _MANAGER_SWAP_OPTION_MAX,
        _MANAGER_SWAP_OPTION_INVALID = -EINVAL,
} ManagerSwapOption;

/* Strings are the option names: "swap-trim-wait-ms", ..., "disk-size-bytes". */
const char *manager_swap_option_to_string(ManagerSwapOption o);
ManagerSwapOption manager_swap_option_from_string(const char *s);

/* clang-format off */
#define MANAGER_SWAP_LONG_OPTIONS(first) \
        {"swap-trim-wait-ms", required_argument, NULL, (first) + MANAGER_SWAP_OPTION_TRIM_WAIT_MS}, \
        {"swap-cool-down-ms", required_argument, NULL, (first) + MANAGER_SWAP_OPTION_COOL_DOWN_MS}, \
        {"swap-poll-ms", required_argument, NULL, (first) + MANAGER_SWAP_OPTION_POLL_MS}, \
        {"swap-force-delay-ms", required_argument, NULL, (first) + MANAGER_SWAP_OPTION_FORCE_DELAY_MS}, \
        {"swap-low-disk-check-ms", required_argument, NULL, (first) + MANAGER_SWAP_OPTION_LOW_DISK_CHECK_MS}, \
        {"disk-size-bytes", required_argument, NULL, (first) + MANAGER_SWAP_OPTION_DISK_SIZE_BYTES}

#define MANAGER_SWAP_HELP                                                                                 \
        "  --swap-trim-wait-ms=MS        vmm-swap: wait between ENABLE and the swap-out (default: 10 min)\n" \
        "  --swap-cool-down-ms=MS        vmm-swap: least time between swap-outs (default: 24 h)\n"           \
        "  --swap-poll-ms=MS             vmm-swap: status poll interval after a trim (default: 1 s)\n"       \
        "  --swap-force-delay-ms=MS      vmm-swap: FORCE_ENABLE to swap-out (default: 10 s)\n"               \
        "  --swap-low-disk-check-ms=MS   vmm-swap: free-space check interval while enabled\n"                \
        "                                (default: 60 s)\n"                                                   \
        "  --disk-size-bytes=BYTES       Disk size for the vmm-swap TBW budget (default: the size of\n"      \
        "                                the state dir's filesystem)\n"
/* clang-format on */

/* Parse one option's value into c: MS is 1..2^53/1000 (0 keeps the default), BYTES 0..2^63.
 * Logs and returns -EINVAL on a bad value. */
int manager_swap_config_parse(ManagerSwapConfig *c, ManagerSwapOption option, const char *value);

typedef struct ManagerSwap ManagerSwap;

/* After manager_startup() (the state dir exists): open the TBW budget, log how it went, keep the
 * config for the VMs to come. Sets m->swap; -ENOMEM / -EINVAL only (file trouble is logged and
 * leaves the budget memory-only). */
int manager_swap_startup(Manager *m, const ManagerSwapConfig *config);
/* After every VM is gone. */
ManagerSwap *manager_swap_free(ManagerSwap *s);

/* The VM's backend is spawned with vm->swap_dir set (vmm-swap enabled): create its controller
 * (vm->swap). Nothing for a VM without a swap dir. A negative errno leaves vm->swap NULL. */
int manager_swap_vm_launched(Manager *m, Vm *vm);
/* An event from the VM's VMM (swap state changes go to the controller). */
void manager_swap_vm_event(Vm *vm, const VmmctlEvent *ev);
/* The VMM is gone or going: the controller stops using the backend and records the stop in the
 * usage history. Idempotent; call before the backend is freed. */
void manager_swap_vm_stopped(Vm *vm);
/* Free the controller (after manager_swap_vm_stopped(), which this implies). */
void manager_swap_vm_free(Vm *vm);

/* Core of GetVmSwapStatus and the VmSwappingSignal (manager-swap-dbus.c). */
void manager_send_vm_swapping_signal(Manager *m, Vm *vm, SwappingState state);
