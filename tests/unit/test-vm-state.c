/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/vm-state.c: every legal transition, every other one refused with the
 * state unchanged, the signals and their order, the VmStatus mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "concierge/vm-state.h"
#include "proto/concierge_service.pb-c.h"
#include "vmm_backend/macro.h"

/* Our enums are the protobuf values (the D-Bus layer copies them straight into messages). */
_Static_assert((int)VM_STOP_REASON_VM_EXITED == (int)VM_TOOLS__CONCIERGE__VM_STOP_REASON__VM_EXITED, "");
_Static_assert((int)VM_STOP_REASON_STOP_VM_REQUESTED ==
                       (int)VM_TOOLS__CONCIERGE__VM_STOP_REASON__STOP_VM_REQUESTED,
               "");
_Static_assert((int)VM_STOP_REASON_STOP_ALL_VMS_REQUESTED ==
                       (int)VM_TOOLS__CONCIERGE__VM_STOP_REASON__STOP_ALL_VMS_REQUESTED,
               "");
_Static_assert((int)VM_STOP_REASON_SERVICE_SHUTDOWN ==
                       (int)VM_TOOLS__CONCIERGE__VM_STOP_REASON__SERVICE_SHUTDOWN,
               "");
_Static_assert((int)VM_STOP_REASON_SIBLING_VM_EXITED ==
                       (int)VM_TOOLS__CONCIERGE__VM_STOP_REASON__SIBLING_VM_EXITED,
               "");
_Static_assert((int)VM_STATUS_RUNNING == (int)VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING, "");
_Static_assert((int)VM_STATUS_STARTING == (int)VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_STARTING, "");
_Static_assert((int)VM_STATUS_FAILURE == (int)VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_FAILURE, "");
_Static_assert((int)VM_STATUS_STOPPED == (int)VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_STOPPED, "");

#define NONE (-1)

typedef struct Legal {
        VmState from;
        bool spawned;
        VmEvent event;
        VmState to;
        int sig1, sig2;
} Legal;

/* Every accepted (state, spawned, event); a stop is tried with STOP_VM_REQUESTED. */
static const Legal legal[] = {
        {VM_STATE_NEW, false, VM_EVENT_START, VM_STATE_STARTING, VM_SIGNAL_STARTING_UP, NONE},
        {VM_STATE_STARTING, false, VM_EVENT_SPAWNED, VM_STATE_STARTING, NONE, NONE},
        {VM_STATE_STARTING, false, VM_EVENT_SPAWN_FAILED, VM_STATE_STOPPED, VM_SIGNAL_STOPPED, NONE},
        {VM_STATE_STARTING, true, VM_EVENT_VMM_READY, VM_STATE_RUNNING, VM_SIGNAL_STARTED, NONE},
        {VM_STATE_STARTING, true, VM_EVENT_READY_FAILED, VM_STATE_STOPPING, VM_SIGNAL_STOPPING, NONE},
        {VM_STATE_STARTING, true, VM_EVENT_STOP, VM_STATE_STOPPING, VM_SIGNAL_STOPPING, NONE},
        {VM_STATE_STARTING, true, VM_EVENT_VMM_EXITED, VM_STATE_STOPPED, VM_SIGNAL_STOPPED, NONE},
        {VM_STATE_RUNNING, true, VM_EVENT_SUSPEND, VM_STATE_SUSPENDING, NONE, NONE},
        {VM_STATE_RUNNING, true, VM_EVENT_STOP, VM_STATE_STOPPING, VM_SIGNAL_STOPPING, NONE},
        {VM_STATE_RUNNING, true, VM_EVENT_VMM_EXITED, VM_STATE_STOPPED, VM_SIGNAL_STOPPED, NONE},
        {VM_STATE_SUSPENDING, true, VM_EVENT_SUSPEND_DONE, VM_STATE_SUSPENDED, NONE, NONE},
        {VM_STATE_SUSPENDING, true, VM_EVENT_SUSPEND_FAILED, VM_STATE_RUNNING, NONE, NONE},
        {VM_STATE_SUSPENDING, true, VM_EVENT_STOP, VM_STATE_STOPPING, VM_SIGNAL_STOPPING, NONE},
        {VM_STATE_SUSPENDING, true, VM_EVENT_VMM_EXITED, VM_STATE_STOPPED, VM_SIGNAL_STOPPED, NONE},
        {VM_STATE_SUSPENDED, true, VM_EVENT_RESUME, VM_STATE_RESUMING, NONE, NONE},
        {VM_STATE_SUSPENDED, true, VM_EVENT_STOP, VM_STATE_STOPPING, VM_SIGNAL_STOPPING, NONE},
        {VM_STATE_SUSPENDED, true, VM_EVENT_VMM_EXITED, VM_STATE_STOPPED, VM_SIGNAL_STOPPED, NONE},
        {VM_STATE_RESUMING, true, VM_EVENT_RESUME_DONE, VM_STATE_RUNNING, NONE, NONE},
        {VM_STATE_RESUMING, true, VM_EVENT_RESUME_FAILED, VM_STATE_SUSPENDED, NONE, NONE},
        {VM_STATE_RESUMING, true, VM_EVENT_STOP, VM_STATE_STOPPING, VM_SIGNAL_STOPPING, NONE},
        {VM_STATE_RESUMING, true, VM_EVENT_VMM_EXITED, VM_STATE_STOPPED, VM_SIGNAL_STOPPED, NONE},
        {VM_STATE_STOPPING, true, VM_EVENT_VMM_EXITED, VM_STATE_STOPPED, VM_SIGNAL_STOPPED, NONE},
};

static const Legal *find_legal(VmState s, bool spawned, VmEvent e)
{
        for (size_t i = 0; i < ELEMENTSOF(legal); i++)
                if (legal[i].from == s && legal[i].spawned == spawned && legal[i].event == e)
                        return &legal[i];
        return NULL;
}

static void test_transition_matrix(void **state)
{
        unsigned accepted = 0;

        for (int s = 0; s < _VM_STATE_MAX; s++)
                for (int sp = 0; sp <= 1; sp++)
                        for (int e = 0; e < _VM_EVENT_MAX; e++) {
                                /* Unreachable combinations: New with a process, a live state without. */
                                if ((s == VM_STATE_NEW && sp) ||
                                    (s >= VM_STATE_RUNNING && s <= VM_STATE_STOPPING && !sp))
                                        continue;
                                VmLifecycle l = {
                                        .state = s, .spawned = sp, .stop_reason = VM_STOP_REASON_VM_EXITED};
                                VmLifecycle before = l;
                                VmTransition t = {.n_signals = 99};
                                const Legal *want = find_legal(s, sp, e);
                                int r = vm_lifecycle_apply(&l, e, VM_STOP_REASON_STOP_VM_REQUESTED, &t);

                                if (!want) {
                                        if (r >= 0)
                                                fail_msg("%s%s + %s accepted", vm_state_to_string(s),
                                                         sp ? "(spawned)" : "", vm_event_to_string(e));
                                        assert_memory_equal(&l, &before, sizeof(l));
                                        assert_int_equal(t.n_signals, 99); /* ret untouched */
                                        continue;
                                }
                                if (r < 0)
                                        fail_msg("%s%s + %s refused: %d", vm_state_to_string(s),
                                                 sp ? "(spawned)" : "", vm_event_to_string(e), r);
                                accepted++;
                                assert_int_equal(l.state, want->to);
                                assert_int_equal(t.old_state, s);
                                assert_int_equal(t.new_state, want->to);
                                unsigned n = (want->sig1 != NONE) + (want->sig2 != NONE);
                                assert_int_equal(t.n_signals, n);
                                if (n > 0)
                                        assert_int_equal(t.signals[0], want->sig1);
                                if (n > 1)
                                        assert_int_equal(t.signals[1], want->sig2);
                        }
        assert_int_equal(accepted, ELEMENTSOF(legal));
}

static void test_refusal_codes(void **state)
{
        VmLifecycle l = {.state = VM_STATE_STOPPING, .spawned = true};
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_STOP, VM_STOP_REASON_STOP_VM_REQUESTED, NULL),
                         -EALREADY);
        l = (VmLifecycle){.state = VM_STATE_STOPPED, .spawned = true};
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_STOP, VM_STOP_REASON_STOP_VM_REQUESTED, NULL),
                         -EALREADY);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_VMM_EXITED, 0, NULL), -EALREADY);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_SUSPEND, 0, NULL), -ESTALE);
        l = (VmLifecycle){.state = VM_STATE_SUSPENDED, .spawned = true};
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_SUSPEND, 0, NULL), -EALREADY);
        l = (VmLifecycle){.state = VM_STATE_RUNNING, .spawned = true};
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_RESUME, 0, NULL), -EALREADY);
        l = (VmLifecycle){.state = VM_STATE_STARTING, .spawned = true};
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_SUSPEND, 0, NULL), -EBUSY);
        /* Bad arguments. */
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_STOP, _VM_STOP_REASON_MAX, NULL), -EINVAL);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_STOP, -1, NULL), -EINVAL);
        assert_int_equal(vm_lifecycle_apply(&l, _VM_EVENT_MAX, 0, NULL), -EINVAL);
        assert_int_equal(vm_lifecycle_apply(&l, -1, 0, NULL), -EINVAL);
        assert_int_equal(vm_lifecycle_apply(NULL, VM_EVENT_START, 0, NULL), -EINVAL);
        assert_int_equal(l.state, VM_STATE_STARTING);
}

/* Apply and collect the signals of a whole sequence. */
static unsigned run(VmLifecycle *l, const VmEvent *events, size_t n, VmStopReason reason, VmSignal *sigs,
                    VmStopReason *ret_stopped_reason)
{
        unsigned k = 0;
        for (size_t i = 0; i < n; i++) {
                VmTransition t;
                assert_int_equal(vm_lifecycle_apply(l, events[i], reason, &t), 0);
                for (unsigned j = 0; j < t.n_signals; j++) {
                        sigs[k++] = t.signals[j];
                        if (t.signals[j] == VM_SIGNAL_STOPPED)
                                *ret_stopped_reason = t.stop_reason;
                }
        }
        return k;
}

static void test_signal_order_requested_stop(void **state)
{
        static const VmStopReason reasons[] = {VM_STOP_REASON_STOP_VM_REQUESTED,
                                               VM_STOP_REASON_STOP_ALL_VMS_REQUESTED,
                                               VM_STOP_REASON_SERVICE_SHUTDOWN};
        static const VmEvent seq[] = {VM_EVENT_START,       VM_EVENT_SPAWNED,      VM_EVENT_VMM_READY,
                                      VM_EVENT_SUSPEND,     VM_EVENT_SUSPEND_DONE, VM_EVENT_RESUME,
                                      VM_EVENT_RESUME_DONE, VM_EVENT_STOP,         VM_EVENT_VMM_EXITED};

        for (size_t i = 0; i < ELEMENTSOF(reasons); i++) {
                VmLifecycle l;
                VmSignal sigs[8];
                VmStopReason got = -1;

                vm_lifecycle_init(&l);
                assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_UNKNOWN);
                unsigned n = run(&l, seq, ELEMENTSOF(seq), reasons[i], sigs, &got);
                assert_int_equal(n, 4);
                assert_int_equal(sigs[0], VM_SIGNAL_STARTING_UP);
                assert_int_equal(sigs[1], VM_SIGNAL_STARTED);
                assert_int_equal(sigs[2], VM_SIGNAL_STOPPING);
                assert_int_equal(sigs[3], VM_SIGNAL_STOPPED);
                assert_int_equal(got, reasons[i]);
                assert_int_equal(l.state, VM_STATE_STOPPED);
                assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_STOPPED);
                assert_false(vm_lifecycle_has_process(&l));
        }
}

static void test_first_stop_reason_wins(void **state)
{
        VmLifecycle l;
        VmTransition t;

        vm_lifecycle_init(&l);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_START, 0, NULL), 0);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_SPAWNED, 0, NULL), 0);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_VMM_READY, 0, NULL), 0);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_STOP, VM_STOP_REASON_STOP_VM_REQUESTED, NULL), 0);
        /* StopAllVms while a StopVm runs: refused, the reason stays. */
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_STOP, VM_STOP_REASON_STOP_ALL_VMS_REQUESTED, NULL),
                         -EALREADY);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_VMM_EXITED, 0, &t), 0);
        assert_int_equal(t.stop_reason, VM_STOP_REASON_STOP_VM_REQUESTED);
}

static void test_vmm_dies_on_its_own(void **state)
{
        static const VmEvent seq[] = {VM_EVENT_START, VM_EVENT_SPAWNED, VM_EVENT_VMM_READY,
                                      VM_EVENT_VMM_EXITED};
        VmLifecycle l;
        VmSignal sigs[8];
        VmStopReason got = -1;

        vm_lifecycle_init(&l);
        unsigned n = run(&l, seq, ELEMENTSOF(seq), 0, sigs, &got);
        /* No VmStoppingSignal: concierge's SIGCHLD path only says it stopped. */
        assert_int_equal(n, 3);
        assert_int_equal(sigs[2], VM_SIGNAL_STOPPED);
        assert_int_equal(got, VM_STOP_REASON_VM_EXITED);
        assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_STOPPED);
}

static void test_start_failures(void **state)
{
        VmLifecycle l;
        VmTransition t;

        /* The spawn fails: StartingUp was emitted, so Stopped(VM_EXITED) follows; status FAILURE. */
        vm_lifecycle_init(&l);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_START, 0, NULL), 0);
        assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_STARTING);
        assert_false(vm_lifecycle_has_process(&l));
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_SPAWN_FAILED, 0, &t), 0);
        assert_int_equal(t.n_signals, 1);
        assert_int_equal(t.signals[0], VM_SIGNAL_STOPPED);
        assert_int_equal(t.stop_reason, VM_STOP_REASON_VM_EXITED);
        assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_FAILURE);

        /* The VMM never answers: Stopping, then Stopped(VM_EXITED) once it is gone; FAILURE. */
        vm_lifecycle_init(&l);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_START, 0, NULL), 0);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_SPAWNED, 0, NULL), 0);
        assert_true(vm_lifecycle_has_process(&l));
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_READY_FAILED, 0, &t), 0);
        assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_FAILURE);
        assert_true(vm_lifecycle_has_process(&l));
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_VMM_EXITED, 0, &t), 0);
        assert_int_equal(t.stop_reason, VM_STOP_REASON_VM_EXITED);
        assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_FAILURE);

        /* It dies before answering. */
        vm_lifecycle_init(&l);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_START, 0, NULL), 0);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_SPAWNED, 0, NULL), 0);
        assert_int_equal(vm_lifecycle_apply(&l, VM_EVENT_VMM_EXITED, 0, &t), 0);
        assert_int_equal(vm_lifecycle_status(&l), VM_STATUS_FAILURE);
}

static void test_status_mapping(void **state)
{
        static const struct {
                VmState s;
                VmStatus st;
        } map[] = {
                {VM_STATE_STARTING, VM_STATUS_STARTING},  {VM_STATE_RUNNING, VM_STATUS_RUNNING},
                {VM_STATE_SUSPENDING, VM_STATUS_RUNNING}, {VM_STATE_SUSPENDED, VM_STATUS_RUNNING},
                {VM_STATE_RESUMING, VM_STATUS_RUNNING},   {VM_STATE_STOPPING, VM_STATUS_RUNNING},
                {VM_STATE_STOPPED, VM_STATUS_STOPPED},
        };
        for (size_t i = 0; i < ELEMENTSOF(map); i++) {
                VmLifecycle l = {.state = map[i].s, .spawned = true};
                assert_int_equal(vm_lifecycle_status(&l), map[i].st);
        }
}

static void test_string_tables(void **state)
{
        for (int i = 0; i < _VM_STATE_MAX; i++) {
                assert_non_null(vm_state_to_string(i));
                assert_int_equal(vm_state_from_string(vm_state_to_string(i)), i);
        }
        for (int i = 0; i < _VM_EVENT_MAX; i++) {
                assert_non_null(vm_event_to_string(i));
                assert_int_equal(vm_event_from_string(vm_event_to_string(i)), i);
        }
        for (int i = 0; i < _VM_SIGNAL_MAX; i++) {
                assert_non_null(vm_signal_to_string(i));
                assert_int_equal(vm_signal_from_string(vm_signal_to_string(i)), i);
        }
        assert_null(vm_state_to_string(_VM_STATE_MAX));
        assert_null(vm_event_to_string(-1));
        assert_int_equal(vm_state_from_string("bogus"), -EINVAL);
        assert_int_equal(vm_signal_from_string(NULL), -EINVAL);
        assert_string_equal(vm_signal_to_string(VM_SIGNAL_STOPPED), "VmStoppedSignal");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_transition_matrix),
                cmocka_unit_test(test_refusal_codes),
                cmocka_unit_test(test_signal_order_requested_stop),
                cmocka_unit_test(test_first_stop_reason_wins),
                cmocka_unit_test(test_vmm_dies_on_its_own),
                cmocka_unit_test(test_start_failures),
                cmocka_unit_test(test_status_mapping),
                cmocka_unit_test(test_string_tables),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
