/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc: `swap enable|force-enable|disable|status NAME`, the SwapVm call and our GetVmSwapStatus. */
#include <inttypes.h>
#include <json-c/json.h>

#include "dbus/bus-proto.h"
#include "dbus/concierge-dbus.h"
#include "proto/concierge_service.pb-c.h"
#include "vmc/swap.h"

#define SWAP_USAGE "usage: vmc swap enable|force-enable|disable|status NAME [--json]"

/* The SwapOperation numbers by the words vmc takes. "swapout" is there for completeness: the
 * daemon answers it as an unknown operation, as upstream concierge does since 2023. */
static const struct {
        const char *name;
        int value;
} operations[] = {
        {"enable", VM_TOOLS__CONCIERGE__SWAP_OPERATION__ENABLE},
        {"force-enable", VM_TOOLS__CONCIERGE__SWAP_OPERATION__FORCE_ENABLE},
        {"disable", VM_TOOLS__CONCIERGE__SWAP_OPERATION__DISABLE},
        {"swapout", VM_TOOLS__CONCIERGE__SWAP_OPERATION__SWAPOUT},
};

static void json_object_putp(json_object **j)
{
        if (*j)
                json_object_put(*j);
}

static void print_json(json_object *j)
{
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int swap_operation(Vmc *vmc, const char *verb, int operation, const char *name)
{
        VmTools__Concierge__SwapVmRequest request = VM_TOOLS__CONCIERGE__SWAP_VM_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__SuccessFailureResponse *response = NULL;
        int r;

        request.owner_id = (char *)vmc->owner_id;
        request.name = (char *)name;
        request.operation = (VmTools__Concierge__SwapOperation)operation;
        r = vmc_call(vmc, CONCIERGE_METHOD_SWAP_VM, &request.base,
                     &vm_tools__concierge__success_failure_response__descriptor,
                     (ProtobufCMessage **)&response);
        if (r != 0)
                return r;

        if (vmc->json) {
                _cleanup_(json_object_putp) json_object *j = json_object_new_object();

                json_object_object_add(j, "name", json_object_new_string(name));
                json_object_object_add(j, "operation", json_object_new_string(verb));
                json_object_object_add(j, "success", json_object_new_boolean(response->success));
                json_object_object_add(j, "failure_reason",
                                       json_object_new_string(strempty(response->failure_reason)));
                print_json(j);
                return response->success ? 0 : VMC_EXIT_FAILURE;
        }
        if (!response->success)
                return vmc_error("swap %s of VM '%s' refused: %s", verb, name,
                                 *strempty(response->failure_reason) ? response->failure_reason : "failed");
        printf("swap %s of VM '%s': done.\n", verb, name);
        return 0;
}

/* --- status ---------------------------------------------------------------------------------------- */

static json_object *status_to_json(const char *name, const char *owner_id,
                                   const VmTools__Concierge__GetVmSwapStatusResponse *s)
{
        const VmTools__Concierge__VmSwapMetrics *m = s->metrics;
        const VmTools__Concierge__VmSwapPolicyStatus *p = s->policy;
        const VmTools__Concierge__VmSwapTbwStatus *t = s->tbw;
        json_object *j = json_object_new_object(), *o;

        json_object_object_add(j, "name", json_object_new_string(name));
        json_object_object_add(j, "owner_id", json_object_new_string(owner_id));
        json_object_object_add(j, "state", json_object_new_string(strempty(s->state)));
        json_object_object_add(j, "status_error", json_object_new_string(strempty(s->status_error)));
        json_object_object_add(j, "last_error", json_object_new_string(strempty(s->last_error)));
        json_object_object_add(j, "enabled", json_object_new_boolean(s->enabled));
        json_object_object_add(j, "enable_pending", json_object_new_boolean(s->enable_pending));
        json_object_object_add(j, "timer", json_object_new_string(strempty(s->timer)));
        json_object_object_add(j, "timer_left_ms", json_object_new_int64(s->timer_left_ms));
        json_object_object_add(j, "polling", json_object_new_boolean(s->polling));
        json_object_object_add(j, "slow_cleanup_pending", json_object_new_boolean(s->slow_cleanup_pending));

        o = json_object_new_object();
        if (m) {
                json_object_object_add(o, "resident_pages", json_object_new_uint64(m->resident_pages));
                json_object_object_add(o, "copied_from_file_pages",
                                       json_object_new_uint64(m->copied_from_file_pages));
                json_object_object_add(o, "copied_from_staging_pages",
                                       json_object_new_uint64(m->copied_from_staging_pages));
                json_object_object_add(o, "zeroed_pages", json_object_new_uint64(m->zeroed_pages));
                json_object_object_add(o, "redundant_pages", json_object_new_uint64(m->redundant_pages));
                json_object_object_add(o, "staging_pages", json_object_new_uint64(m->staging_pages));
                json_object_object_add(o, "swap_pages", json_object_new_uint64(m->swap_pages));
                json_object_object_add(o, "fault_around_pages",
                                       json_object_new_uint64(m->fault_around_pages));
        }
        json_object_object_add(j, "metrics", o);

        o = json_object_new_object();
        json_object_object_add(o, "pages", json_object_new_uint64(s->transition_pages));
        json_object_object_add(o, "time_ms", json_object_new_uint64(s->transition_time_ms));
        json_object_object_add(j, "state_transition", o);

        json_object_object_add(j, "last_swap_out_us", json_object_new_int64(s->last_swap_out_us));
        json_object_object_add(j, "swap_outs", json_object_new_int64(s->swap_outs));
        json_object_object_add(j, "swapped_out_bytes", json_object_new_uint64(s->swapped_out_bytes));

        o = json_object_new_object();
        if (p) {
                json_object_object_add(o, "last_result", json_object_new_string(strempty(p->last_result)));
                json_object_object_add(o, "last_result_time_us",
                                       json_object_new_int64(p->last_result_time_us));
                json_object_object_add(o, "predicted_duration_ms",
                                       json_object_new_int64(p->predicted_duration_ms));
                json_object_object_add(o, "duration_target_ms",
                                       json_object_new_int64(p->duration_target_ms));
                json_object_object_add(o, "disk_free_bytes", json_object_new_int64(p->disk_free_bytes));
                json_object_object_add(o, "disk_required_bytes",
                                       json_object_new_uint64(p->disk_required_bytes));
                json_object_object_add(o, "last_disable_reason",
                                       json_object_new_string(strempty(p->last_disable_reason)));
                json_object_object_add(o, "usage_history_persistent",
                                       json_object_new_boolean(p->usage_history_persistent));
        }
        json_object_object_add(j, "policy", o);

        o = json_object_new_object();
        if (t) {
                json_object *w = json_object_new_object();

                json_object_object_add(o, "target_per_day", json_object_new_uint64(t->target_per_day));
                json_object_object_add(o, "can_swap_out", json_object_new_boolean(t->can_swap_out));
                json_object_object_add(o, "persistent", json_object_new_boolean(t->persistent));
                for (size_t i = 0; i < t->n_windows; i++) {
                        json_object *x = json_object_new_object();

                        json_object_object_add(x, "used", json_object_new_uint64(t->windows[i]->used));
                        json_object_object_add(x, "limit", json_object_new_uint64(t->windows[i]->limit));
                        json_object_object_add(x, "left", json_object_new_uint64(t->windows[i]->left));
                        json_object_object_add(w, strempty(t->windows[i]->name), x);
                }
                json_object_object_add(o, "windows", w);
        }
        json_object_object_add(j, "tbw", o);
        return j;
}

/* "1.5 GiB"-style sizes for the human output. */
static const char *format_bytes(char *buf, size_t size, uint64_t b)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)b;
        size_t u = 0;

        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%" PRIu64 " B", b);
        else
                snprintf(buf, size, "%.1f %s", v, units[u]);
        return buf;
}

static const char *format_ms(char *buf, size_t size, int64_t ms)
{
        if (ms < 0)
                snprintf(buf, size, "-");
        else if (ms < 10 * 1000)
                snprintf(buf, size, "%" PRId64 " ms", ms);
        else if (ms < 2 * 3600 * 1000)
                snprintf(buf, size, "%.1f min", (double)ms / 60000);
        else
                snprintf(buf, size, "%.1f h", (double)ms / 3600000);
        return buf;
}

static void print_status(const char *name, const VmTools__Concierge__GetVmSwapStatusResponse *s)
{
        const VmTools__Concierge__VmSwapMetrics *m = s->metrics;
        const VmTools__Concierge__VmSwapPolicyStatus *p = s->policy;
        const VmTools__Concierge__VmSwapTbwStatus *t = s->tbw;
        char a[32], b[32], c[32];

        printf("VM:           %s\n", name);
        printf("State:        %s", *strempty(s->state) ? s->state : "unknown");
        if (*strempty(s->status_error))
                printf(" (last seen; the VMM did not answer: %s)", s->status_error);
        printf("\n");
        printf("Enabled:      %s%s\n", s->enabled ? "yes" : "no",
               s->enable_pending ? " (enable pending)" : "");
        if (*strempty(s->timer) && !streq(s->timer, "none"))
                printf("Timer:        %s in %s\n", s->timer, format_ms(a, sizeof(a), s->timer_left_ms));
        if (s->polling)
                printf("Polling:      waiting for the trim to finish\n");
        if (s->slow_cleanup_pending)
                printf("Cleanup:      the swap file is being truncated\n");
        if (*strempty(s->last_error))
                printf("Last error:   %s\n", s->last_error);
        if (m)
                printf("Pages:        %" PRIu64 " resident, %" PRIu64 " staging, %" PRIu64 " in the file\n"
                       "Faults:       %" PRIu64 " from the file, %" PRIu64 " from staging, %" PRIu64
                       " zeroed, %" PRIu64 " redundant\n",
                       m->resident_pages, m->staging_pages, m->swap_pages, m->copied_from_file_pages,
                       m->copied_from_staging_pages, m->zeroed_pages, m->redundant_pages);
        printf("Transition:   %" PRIu64 " pages in %" PRIu64 " ms\n", s->transition_pages,
               s->transition_time_ms);
        printf("Swap-outs:    %" PRIu32 " (%s written)", s->swap_outs,
               format_bytes(a, sizeof(a), s->swapped_out_bytes));
        if (s->last_swap_out_us > 0)
                printf(", last at %" PRId64 " µs", s->last_swap_out_us);
        printf("\n");
        if (p) {
                printf("Policy:       last result %s", *strempty(p->last_result) ? p->last_result : "-");
                if (*strempty(p->last_disable_reason))
                        printf(", last disable %s", p->last_disable_reason);
                printf("\n");
                printf("  usage:      predicted %s, target %s%s\n",
                       format_ms(a, sizeof(a), p->predicted_duration_ms),
                       format_ms(b, sizeof(b), p->duration_target_ms),
                       p->usage_history_persistent ? "" : " (history memory-only)");
                if (p->disk_free_bytes >= 0)
                        printf("  disk:       %s free, %s needed\n",
                               format_bytes(a, sizeof(a), (uint64_t)p->disk_free_bytes),
                               format_bytes(b, sizeof(b), p->disk_required_bytes));
                else
                        printf("  disk:       free space unknown (%s), %s needed\n",
                               strerror((int)-p->disk_free_bytes),
                               format_bytes(b, sizeof(b), p->disk_required_bytes));
        }
        if (t) {
                printf("TBW:          %s/day, swap-out %s%s\n",
                       format_bytes(a, sizeof(a), t->target_per_day),
                       t->can_swap_out ? "allowed" : "not allowed",
                       t->persistent ? "" : " (history memory-only)");
                for (size_t i = 0; i < t->n_windows; i++)
                        printf("  %-4s        %s used of %s, %s left\n", strempty(t->windows[i]->name),
                               format_bytes(a, sizeof(a), t->windows[i]->used),
                               format_bytes(b, sizeof(b), t->windows[i]->limit),
                               format_bytes(c, sizeof(c), t->windows[i]->left));
        }
}

static int swap_status(Vmc *vmc, const char *name)
{
        VmTools__Concierge__GetVmSwapStatusRequest request =
                VM_TOOLS__CONCIERGE__GET_VM_SWAP_STATUS_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__GetVmSwapStatusResponse *response = NULL;
        int r;

        request.owner_id = (char *)vmc->owner_id;
        request.name = (char *)name;
        r = vmc_call(vmc, CONCIERGE_METHOD_GET_VM_SWAP_STATUS, &request.base,
                     &vm_tools__concierge__get_vm_swap_status_response__descriptor,
                     (ProtobufCMessage **)&response);
        if (r != 0)
                return r;
        if (!response->success)
                return vmc_error("no vmm-swap status of VM '%s': %s", name,
                                 *strempty(response->failure_reason) ? response->failure_reason : "failed");

        if (vmc->json) {
                _cleanup_(json_object_putp) json_object *j = status_to_json(name, vmc->owner_id, response);
                print_json(j);
        } else
                print_status(name, response);
        return 0;
}

int verb_swap(Vmc *vmc, int argc, char **argv)
{
        const char *op = NULL, *name = NULL;
        int value = -1;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--json"))
                        vmc->json = true;
                else if (argv[i][0] == '-' && argv[i][1])
                        return vmc_usage_error("unknown option '%s'; " SWAP_USAGE, argv[i]);
                else if (!op)
                        op = argv[i];
                else if (!name)
                        name = argv[i];
                else
                        return vmc_usage_error("unexpected argument '%s'; " SWAP_USAGE, argv[i]);
        }
        if (!op || !name)
                return vmc_usage_error(SWAP_USAGE);
        if (!*name)
                return vmc_usage_error("the VM name must not be empty");

        if (streq(op, "status"))
                return swap_status(vmc, name);
        for (size_t i = 0; i < ELEMENTSOF(operations); i++)
                if (streq(operations[i].name, op))
                        value = operations[i].value;
        if (value < 0)
                return vmc_usage_error("unknown swap operation '%s'; " SWAP_USAGE, op);
        return swap_operation(vmc, op, value, name);
}
