/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's vmm-swap wiring: flags, the TBW budget's life, one controller per swap VM. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "concierge/history-file.h"
#include "concierge/log.h"
#include "concierge/manager-swap.h"
#include "concierge/vm-dbus.h"

struct ManagerSwap {
        ManagerSwapConfig config;
        SwapTbw *tbw;
};

static const char *const manager_swap_option_table[_MANAGER_SWAP_OPTION_MAX] = {
        [MANAGER_SWAP_OPTION_TRIM_WAIT_MS] = "swap-trim-wait-ms",
        [MANAGER_SWAP_OPTION_COOL_DOWN_MS] = "swap-cool-down-ms",
        [MANAGER_SWAP_OPTION_POLL_MS] = "swap-poll-ms",
        [MANAGER_SWAP_OPTION_FORCE_DELAY_MS] = "swap-force-delay-ms",
        [MANAGER_SWAP_OPTION_LOW_DISK_CHECK_MS] = "swap-low-disk-check-ms",
        [MANAGER_SWAP_OPTION_DISK_SIZE_BYTES] = "disk-size-bytes",
};

const char *manager_swap_option_to_string(ManagerSwapOption o)
{
        if (o < 0 || o >= _MANAGER_SWAP_OPTION_MAX)
                return NULL;
        return manager_swap_option_table[o];
}

ManagerSwapOption manager_swap_option_from_string(const char *s)
{
        if (!s)
                return _MANAGER_SWAP_OPTION_INVALID;
        for (int i = 0; i < _MANAGER_SWAP_OPTION_MAX; i++)
                if (streq(manager_swap_option_table[i], s))
                        return (ManagerSwapOption)i;
        return _MANAGER_SWAP_OPTION_INVALID;
}

/* Durations stay well inside int64 µs and a double's exact range. */
#define MANAGER_SWAP_MS_MAX (UINT64_C(1) << 53) / 1000

int manager_swap_config_parse(ManagerSwapConfig *c, ManagerSwapOption option, const char *value)
{
        const char *name = manager_swap_option_to_string(option);
        unsigned long long v;
        char *end;

        if (!c || !name || !value)
                return -EINVAL;

        errno = 0;
        v = strtoull(value, &end, 10);
        if (errno != 0 || end == value || *end || value[0] < '0' || value[0] > '9')
                return log_error_errno(EINVAL, "--%s needs a decimal number, got '%s'", name, value);

        if (option == MANAGER_SWAP_OPTION_DISK_SIZE_BYTES) {
                if (v > (unsigned long long)INT64_MAX)
                        return log_error_errno(EINVAL, "--%s is out of range: %s", name, value);
                c->disk_size_bytes = v;
                return 0;
        }

        if (v > MANAGER_SWAP_MS_MAX)
                return log_error_errno(EINVAL, "--%s is out of range (at most %" PRIu64 " ms): %s", name,
                                       (uint64_t)MANAGER_SWAP_MS_MAX, value);
        int64_t us = (int64_t)v * 1000;
        switch (option) {
        case MANAGER_SWAP_OPTION_TRIM_WAIT_MS:
                c->trim_wait_us = us;
                break;
        case MANAGER_SWAP_OPTION_COOL_DOWN_MS:
                c->cool_down_us = us;
                break;
        case MANAGER_SWAP_OPTION_POLL_MS:
                c->poll_interval_us = us;
                break;
        case MANAGER_SWAP_OPTION_FORCE_DELAY_MS:
                c->force_enable_delay_us = us;
                break;
        case MANAGER_SWAP_OPTION_LOW_DISK_CHECK_MS:
                c->low_disk_check_us = us;
                break;
        default:
                return -EINVAL;
        }
        return 0;
}

static int64_t now_realtime_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void log_tbw_open(const SwapTbw *tbw, const SwapTbwOpenInfo *ti)
{
        const char *path = strna(swap_tbw_path(tbw));

        if (ti->load < 0) {
                if (history_error_is_corruption(ti->load))
                        log_warning("vmm-swap TBW history %s was corrupt (%s), deleted; memory-only", path,
                                    history_error_to_string(ti->load));
                else
                        log_warning_errno(ti->load, "vmm-swap TBW history %s unusable, memory-only", path);
        } else
                log_info("vmm-swap TBW history %s %s.", path,
                         ti->load == HISTORY_FILE_CREATED ? "created" : "loaded");
        if (ti->rewrite < 0)
                log_warning_errno(ti->rewrite,
                                  "vmm-swap TBW history %s not written, memory-only from now on", path);
        if (ti->pessimistic)
                log_info("vmm-swap TBW history starts pessimistic (a full budget used every day of the last "
                         "28): swap-outs wait about a day.");
        if (ti->disk_size_error < 0)
                log_warning_errno(ti->disk_size_error,
                                  "Size of the disk unknown; assuming 16 GB for the TBW budget");
        log_info("vmm-swap TBW target %" PRIu64 " bytes/day (disk %" PRIu64 " bytes%s).", ti->target_per_day,
                 ti->disk_size_bytes, ti->disk_size_overridden ? ", --disk-size-bytes" : "");
}

int manager_swap_startup(Manager *m, const ManagerSwapConfig *config)
{
        _cleanup_free_ ManagerSwap *s = NULL;
        SwapTbwOpenInfo ti = {};
        int r;

        if (!m || !config || m->swap)
                return -EINVAL;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->config = *config;

        r = swap_tbw_new(
                &(SwapTbwConfig){.state_dir = m->state_dir, .disk_size_bytes = config->disk_size_bytes},
                now_realtime_us(), &s->tbw, &ti);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the vmm-swap TBW budget");
        log_tbw_open(s->tbw, &ti);

        m->swap = TAKE_PTR(s);
        return 0;
}

ManagerSwap *manager_swap_free(ManagerSwap *s)
{
        if (!s)
                return NULL;
        swap_tbw_free(s->tbw);
        free(s);
        return NULL;
}

/* --- per VM ---------------------------------------------------------------------------------------- */

static void on_swapping(SwapController *c, SwappingState state, void *userdata)
{
        Vm *vm = userdata;

        if (vm->manager)
                manager_send_vm_swapping_signal(vm->manager, vm, state);
}

static void on_state_changed(SwapController *c, VmmctlSwapState state, void *userdata)
{
        Vm *vm = userdata;
        const char *s = vmmctl_swap_state_to_string(state);

        if (!s || (vm->swap_state && streq(vm->swap_state, s)))
                return;
        log_debug("VM %s of owner %s: vmm-swap state %s.", vm->name, vm->owner_id, s);
        vm->swap_state = s;
        if (vm->manager)
                vm_dbus_emit_changed(vm->manager, vm, "SwapState", NULL);
}

/* Keep the latest metrics in the Vm for the D-Bus properties (vm-dbus.h) and announce the ones
 * that changed. */
static void on_status_updated(SwapController *c, const VmmctlSwapStatus *st, void *userdata)
{
        Vm *vm = userdata;
        VmSwapMetrics *m = &vm->swap_metrics;
        const struct {
                uint64_t *cached;
                uint64_t value;
                const char *property;
        } fields[] = {
                {&m->resident_pages, st->resident_pages, "SwapResidentPages"},
                {&m->copied_from_file_pages, st->copied_from_file_pages, "SwapCopiedFromFilePages"},
                {&m->copied_from_staging_pages, st->copied_from_staging_pages, "SwapCopiedFromStagingPages"},
                {&m->zeroed_pages, st->zeroed_pages, "SwapZeroedPages"},
                {&m->redundant_pages, st->redundant_pages, "SwapRedundantPages"},
                {&m->staging_pages, st->staging_pages, "SwapStagingPages"},
                {&m->swap_pages, st->swap_pages, "SwapSwapPages"},
                {&m->transition_pages, st->transition_pages, "SwapTransitionPages"},
                {&m->transition_time_ms, st->transition_time_ms, "SwapTransitionTimeMs"},
        };
        const char *changed[ELEMENTSOF(fields) + 1];
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (*fields[i].cached != fields[i].value) {
                        *fields[i].cached = fields[i].value;
                        changed[n++] = fields[i].property;
                }
        changed[n] = NULL;
        if (n > 0 && vm->manager)
                vm_dbus_emit_changed_strv(vm->manager, vm, (char **)changed);
}

static const SwapControllerCallbacks controller_callbacks = {
        .swapping = on_swapping,
        .state_changed = on_state_changed,
        .status_updated = on_status_updated,
};

/* The status asked for after a swap state change event: on_status_updated() did the work. */
static void refresh_done(SwapController *c, int error, const SwapControllerInfo *info, void *userdata)
{
        if (error < 0 && error != -ECANCELED)
                log_debug_errno(error, "vmm-swap status after a state change failed, metrics not refreshed");
}

int manager_swap_vm_launched(Manager *m, Vm *vm)
{
        _cleanup_free_ char *history = NULL, *log_name = NULL;
        int r;

        if (!m || !vm)
                return -EINVAL;
        if (!vm->swap_dir || vm->swap)
                return 0;
        if (!m->swap || !vm->vmm) {
                log_warning(
                        "VM %s of owner %s: vmm-swap is not set up in this daemon; SwapVm will refuse it",
                        vm->name, vm->owner_id);
                return 0;
        }

        r = swap_usage_history_path(m->state_dir, vm->owner_id, vm->name, &history);
        if (r < 0)
                return log_warning_errno(r, "VM %s of owner %s: no path for the vmm-swap usage history",
                                         vm->name, vm->owner_id);
        if (asprintf(&log_name, "VM %s/%s", vm->owner_id, vm->name) < 0) {
                log_name = NULL;
                return -ENOMEM;
        }

        const ManagerSwapConfig *cfg = &m->swap->config;
        SwapControllerConfig c = {
                .trim_wait_us = cfg->trim_wait_us,
                .cool_down_us = cfg->cool_down_us,
                .poll_interval_us = cfg->poll_interval_us,
                .force_enable_delay_us = cfg->force_enable_delay_us,
                .low_disk_check_us = cfg->low_disk_check_us,
                .swap_dir = vm->swap_dir,
                .guest_memory_bytes = (uint64_t)vm->memory_mib << 20,
                .usage_history_path = history,
                .log_name = log_name,
                .event_base = m->event_base,
        };
        r = swap_controller_new(vm->vmm, m->swap->tbw, &c, &controller_callbacks, vm, &vm->swap);
        if (r < 0)
                return log_warning_errno(r, "VM %s of owner %s: failed to set up its vmm-swap controller",
                                         vm->name, vm->owner_id);
        /* A VMM started with a swap dir begins Ready. */
        vm->swap_state = vmmctl_swap_state_to_string(VMMCTL_SWAP_READY);
        log_info("VM %s of owner %s: vmm-swap in %s, usage history %s.", vm->name, vm->owner_id,
                 vm->swap_dir, history);
        return 0;
}

void manager_swap_vm_event(Vm *vm, const VmmctlEvent *ev)
{
        if (!vm || !vm->swap || !ev)
                return;
        if (ev->type != VMMCTL_EVENT_SWAP_STATE_CHANGED)
                return;
        swap_controller_on_swap_state(vm->swap, ev->swap_state_changed.state);
        /* Events carry only the state: ask for the metrics that go with it. */
        int r = swap_controller_query_status(vm->swap, refresh_done, NULL);
        if (r < 0)
                log_debug_errno(r, "VM %s of owner %s: vmm-swap status after a state change not asked for",
                                vm->name, vm->owner_id);
}

void manager_swap_vm_stopped(Vm *vm)
{
        if (vm)
                swap_controller_vm_stopped(vm->swap);
}

void manager_swap_vm_free(Vm *vm)
{
        if (!vm || !vm->swap)
                return;
        swap_controller_vm_stopped(vm->swap);
        vm->swap = swap_controller_free(vm->swap);
}
