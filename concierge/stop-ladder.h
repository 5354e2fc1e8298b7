/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The VMM stop ladder as a pure state machine: time is passed in, actions come out.
 *
 * Reference concierge.md §1.4: control "stop" -> wait -> SIGTERM -> wait -> SIGKILL -> wait. The
 * caller (vmm-process.c) performs the actions: send the control stop, send a signal, arm one timer
 * at an absolute time. Times are in microseconds of whatever monotonic clock the caller uses. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* concierge waits 10 s on each rung. */
#define STOP_LADDER_DEFAULT_TIMEOUT_USEC (UINT64_C(10) * UINT64_C(1000000))

typedef enum StopLadderRung {
        STOP_LADDER_IDLE,    /* not started */
        STOP_LADDER_CONTROL, /* control stop sent (or being sent), waiting for the exit */
        STOP_LADDER_TERM,    /* SIGTERM sent, waiting */
        STOP_LADDER_KILL,    /* SIGKILL sent, waiting */
        STOP_LADDER_EXITED,  /* done: the process exited */
        STOP_LADDER_GAVE_UP, /* done: still alive after the SIGKILL wait */
        _STOP_LADDER_RUNG_MAX,
        _STOP_LADDER_RUNG_INVALID = -EINVAL,
} StopLadderRung;

const char *stop_ladder_rung_to_string(StopLadderRung r);
StopLadderRung stop_ladder_rung_from_string(const char *s);

typedef struct StopLadderConfig {
        uint64_t control_timeout_usec; /* wait after the control stop; 0 = skip the control rung */
        uint64_t term_timeout_usec;    /* wait after SIGTERM; 0 = skip SIGTERM, go to SIGKILL */
        uint64_t kill_timeout_usec;    /* wait after SIGKILL before giving up (must be > 0) */
} StopLadderConfig;

/* What the caller must do now, in this order: send the control stop, send `signal`, then set the
 * single ladder timer to fire at `timer_at` (0: disarm it). `done` is set once the ladder ended;
 * `result` is then 0 (exited) or -ETIMEDOUT (gave up after SIGKILL). */
typedef struct StopLadderAction {
        bool send_control_stop;
        int signal;
        uint64_t timer_at;
        bool done;
        int result;
} StopLadderAction;

typedef struct StopLadder {
        StopLadderConfig config;
        StopLadderRung rung;
        uint64_t deadline; /* of the current rung */
        bool control_acked;
} StopLadder;

/* -EINVAL for kill_timeout_usec == 0. */
int stop_ladder_init(StopLadder *l, const StopLadderConfig *config);
void stop_ladder_config_default(StopLadderConfig *ret);

/* Begin at `now`. -EALREADY if it was started before (the action is then left alone). */
int stop_ladder_start(StopLadder *l, uint64_t now, StopLadderAction *ret);
/* The control stop was answered: error 0 = acknowledged (keep waiting for the exit until the
 * control deadline), < 0 = failed or could not be sent (SIGTERM now). Ignored (no action, returns
 * 0) outside the control rung, e.g. a late answer after escalation. */
int stop_ladder_control_result(StopLadder *l, int error, uint64_t now, StopLadderAction *ret);
/* The timer fired at `now`. Early (now < deadline) re-arms at the deadline; otherwise escalates. */
int stop_ladder_timer(StopLadder *l, uint64_t now, StopLadderAction *ret);
/* The process exited (at any rung, also before the ladder started). */
int stop_ladder_exited(StopLadder *l, StopLadderAction *ret);

bool stop_ladder_is_done(const StopLadder *l);
