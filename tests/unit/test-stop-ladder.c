/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of concierge/stop-ladder.c with an injected clock. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "concierge/stop-ladder.h"
#include "vmm_backend/macro.h"

#define T0 UINT64_C(1000000)
static const StopLadderConfig cfg = {
        .control_timeout_usec = 10000,
        .term_timeout_usec = 20000,
        .kill_timeout_usec = 30000,
};

static void start(StopLadder *l, StopLadderAction *a)
{
        assert_int_equal(stop_ladder_init(l, &cfg), 0);
        assert_int_equal(stop_ladder_start(l, T0, a), 0);
        assert_true(a->send_control_stop);
        assert_int_equal(a->signal, 0);
        assert_int_equal(a->timer_at, T0 + 10000);
        assert_false(a->done);
        assert_int_equal(l->rung, STOP_LADDER_CONTROL);
}

static void test_full_ladder_each_rung_at_its_deadline(void **state)
{
        StopLadder l;
        StopLadderAction a;

        start(&l, &a);
        assert_int_equal(stop_ladder_control_result(&l, 0, T0 + 5, &a), 0); /* acknowledged */
        assert_false(a.send_control_stop);
        assert_int_equal(a.signal, 0);
        assert_int_equal(a.timer_at, T0 + 10000);
        assert_int_equal(l.rung, STOP_LADDER_CONTROL);

        /* One microsecond early: nothing but a re-arm at the same deadline. */
        assert_int_equal(stop_ladder_timer(&l, T0 + 9999, &a), 0);
        assert_int_equal(a.signal, 0);
        assert_false(a.send_control_stop);
        assert_int_equal(a.timer_at, T0 + 10000);
        assert_int_equal(l.rung, STOP_LADDER_CONTROL);

        assert_int_equal(stop_ladder_timer(&l, T0 + 10000, &a), 0);
        assert_int_equal(a.signal, SIGTERM);
        assert_false(a.send_control_stop);
        assert_int_equal(a.timer_at, T0 + 30000);
        assert_int_equal(l.rung, STOP_LADDER_TERM);

        assert_int_equal(stop_ladder_timer(&l, T0 + 29999, &a), 0);
        assert_int_equal(a.signal, 0);
        assert_int_equal(l.rung, STOP_LADDER_TERM);

        assert_int_equal(stop_ladder_timer(&l, T0 + 30000, &a), 0);
        assert_int_equal(a.signal, SIGKILL);
        assert_int_equal(a.timer_at, T0 + 60000);
        assert_int_equal(l.rung, STOP_LADDER_KILL);

        assert_int_equal(stop_ladder_timer(&l, T0 + 59999, &a), 0);
        assert_false(a.done);
        assert_int_equal(stop_ladder_timer(&l, T0 + 60000, &a), 0);
        assert_true(a.done);
        assert_int_equal(a.result, -ETIMEDOUT);
        assert_int_equal(a.signal, 0);
        assert_int_equal(a.timer_at, 0);
        assert_int_equal(l.rung, STOP_LADDER_GAVE_UP);
        assert_true(stop_ladder_is_done(&l));

        /* A late exit after giving up still ends it as exited. */
        assert_int_equal(stop_ladder_exited(&l, &a), 0);
        assert_true(a.done);
        assert_int_equal(a.result, 0);
        assert_int_equal(l.rung, STOP_LADDER_EXITED);
}

static void test_late_timer_jumps_one_rung_only(void **state)
{
        StopLadder l;
        StopLadderAction a;

        /* A loop that woke up far too late escalates one rung per wake-up, never skipping SIGTERM;
         * the next deadline counts from the late wake-up. */
        start(&l, &a);
        assert_int_equal(stop_ladder_timer(&l, T0 + 500000, &a), 0);
        assert_int_equal(a.signal, SIGTERM);
        assert_int_equal(a.timer_at, T0 + 500000 + 20000);
}

static void test_exit_at_every_rung(void **state)
{
        for (int rung = STOP_LADDER_CONTROL; rung <= STOP_LADDER_KILL; rung++) {
                StopLadder l;
                StopLadderAction a;
                uint64_t now = T0;

                start(&l, &a);
                while ((int)l.rung < rung) {
                        now = l.deadline;
                        assert_int_equal(stop_ladder_timer(&l, now, &a), 0);
                }
                assert_int_equal((int)l.rung, rung);
                assert_int_equal(stop_ladder_exited(&l, &a), 0);
                assert_true(a.done);
                assert_int_equal(a.result, 0);
                assert_int_equal(a.signal, 0);
                assert_false(a.send_control_stop);
                assert_int_equal(a.timer_at, 0);
                /* The timer that may still fire afterwards is harmless. */
                assert_int_equal(stop_ladder_timer(&l, now + 1000000, &a), 0);
                assert_int_equal(a.signal, 0);
                assert_int_equal(a.timer_at, 0);
                assert_int_equal(l.rung, STOP_LADDER_EXITED);
        }
}

static void test_control_failure_goes_to_sigterm_at_once(void **state)
{
        StopLadder l;
        StopLadderAction a;

        start(&l, &a);
        assert_int_equal(stop_ladder_control_result(&l, -ENOTCONN, T0 + 3, &a), 0);
        assert_int_equal(a.signal, SIGTERM);
        assert_false(a.send_control_stop);
        assert_int_equal(a.timer_at, T0 + 3 + 20000);
        assert_int_equal(l.rung, STOP_LADDER_TERM);

        /* A late control answer after escalation changes nothing. */
        assert_int_equal(stop_ladder_control_result(&l, -ETIMEDOUT, T0 + 10, &a), 0);
        assert_int_equal(a.signal, 0);
        assert_int_equal(a.timer_at, T0 + 3 + 20000);
        assert_int_equal(l.rung, STOP_LADDER_TERM);
        assert_int_equal(stop_ladder_control_result(&l, 0, T0 + 11, &a), 0);
        assert_int_equal(l.rung, STOP_LADDER_TERM);
}

static void test_skipped_rungs(void **state)
{
        StopLadder l;
        StopLadderAction a;
        StopLadderConfig c = {.control_timeout_usec = 0, .term_timeout_usec = 0, .kill_timeout_usec = 5};

        assert_int_equal(stop_ladder_init(&l, &c), 0);
        assert_int_equal(stop_ladder_start(&l, 100, &a), 0);
        assert_false(a.send_control_stop);
        assert_int_equal(a.signal, SIGKILL);
        assert_int_equal(a.timer_at, 105);

        c.term_timeout_usec = 7;
        assert_int_equal(stop_ladder_init(&l, &c), 0);
        assert_int_equal(stop_ladder_start(&l, 100, &a), 0);
        assert_false(a.send_control_stop);
        assert_int_equal(a.signal, SIGTERM);
        assert_int_equal(a.timer_at, 107);
}

static void test_bad_input(void **state)
{
        StopLadder l;
        StopLadderAction a;
        StopLadderConfig c = cfg;

        c.kill_timeout_usec = 0;
        assert_int_equal(stop_ladder_init(&l, &c), -EINVAL);
        start(&l, &a);
        assert_int_equal(stop_ladder_start(&l, T0, &a), -EALREADY);
        assert_int_equal(l.rung, STOP_LADDER_CONTROL);
        assert_int_equal(stop_ladder_control_result(&l, 5, T0, &a), -EINVAL);
        assert_int_equal(l.rung, STOP_LADDER_CONTROL);

        /* Deadlines saturate instead of wrapping to "no timer". */
        c = (StopLadderConfig){
                .control_timeout_usec = UINT64_MAX, .term_timeout_usec = 1, .kill_timeout_usec = 1};
        assert_int_equal(stop_ladder_init(&l, &c), 0);
        assert_int_equal(stop_ladder_start(&l, 10, &a), 0);
        assert_int_equal(a.timer_at, UINT64_MAX);
}

static void test_rung_strings(void **state)
{
        for (int i = 0; i < _STOP_LADDER_RUNG_MAX; i++) {
                const char *s = stop_ladder_rung_to_string(i);
                assert_non_null(s);
                assert_int_equal(stop_ladder_rung_from_string(s), i);
        }
        assert_null(stop_ladder_rung_to_string(_STOP_LADDER_RUNG_MAX));
        assert_null(stop_ladder_rung_to_string(-1));
        assert_int_equal(stop_ladder_rung_from_string("nope"), -EINVAL);
        assert_int_equal(stop_ladder_rung_from_string(NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_ladder_each_rung_at_its_deadline),
                cmocka_unit_test(test_late_timer_jumps_one_rung_only),
                cmocka_unit_test(test_exit_at_every_rung),
                cmocka_unit_test(test_control_failure_goes_to_sigterm_at_once),
                cmocka_unit_test(test_skipped_rungs),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_rung_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
