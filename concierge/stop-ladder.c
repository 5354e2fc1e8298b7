/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stop ladder state machine (see stop-ladder.h). */
#include <signal.h>
#include <string.h>

#include "concierge/stop-ladder.h"
#include "vmm_backend/macro.h"

static const char *const rung_table[_STOP_LADDER_RUNG_MAX] = {
        [STOP_LADDER_IDLE] = "idle",     [STOP_LADDER_CONTROL] = "control-stop",
        [STOP_LADDER_TERM] = "sigterm",  [STOP_LADDER_KILL] = "sigkill",
        [STOP_LADDER_EXITED] = "exited", [STOP_LADDER_GAVE_UP] = "gave-up",
};

const char *stop_ladder_rung_to_string(StopLadderRung r)
{
        if (r < 0 || r >= _STOP_LADDER_RUNG_MAX)
                return NULL;
        return rung_table[r];
}

StopLadderRung stop_ladder_rung_from_string(const char *s)
{
        if (!s)
                return _STOP_LADDER_RUNG_INVALID;
        for (int i = 0; i < _STOP_LADDER_RUNG_MAX; i++)
                if (streq(rung_table[i], s))
                        return (StopLadderRung)i;
        return _STOP_LADDER_RUNG_INVALID;
}

void stop_ladder_config_default(StopLadderConfig *ret)
{
        *ret = (StopLadderConfig){
                .control_timeout_usec = STOP_LADDER_DEFAULT_TIMEOUT_USEC,
                .term_timeout_usec = STOP_LADDER_DEFAULT_TIMEOUT_USEC,
                .kill_timeout_usec = STOP_LADDER_DEFAULT_TIMEOUT_USEC,
        };
}

int stop_ladder_init(StopLadder *l, const StopLadderConfig *config)
{
        if (!l || !config || config->kill_timeout_usec == 0)
                return -EINVAL;
        *l = (StopLadder){.config = *config, .rung = STOP_LADDER_IDLE};
        return 0;
}

static uint64_t deadline_after(uint64_t now, uint64_t timeout)
{
        /* Saturate; a deadline of 0 would read as "no timer". */
        uint64_t d = now + timeout;
        if (d < now)
                d = UINT64_MAX;
        return d ?: 1;
}

/* Enter `rung` at `now`, skipping rungs whose timeout is 0. */
static void enter(StopLadder *l, StopLadderRung rung, uint64_t now, StopLadderAction *a)
{
        if (rung == STOP_LADDER_CONTROL && l->config.control_timeout_usec == 0)
                rung = STOP_LADDER_TERM;
        if (rung == STOP_LADDER_TERM && l->config.term_timeout_usec == 0)
                rung = STOP_LADDER_KILL;

        l->rung = rung;
        switch (rung) {
        case STOP_LADDER_CONTROL:
                l->control_acked = false;
                a->send_control_stop = true;
                l->deadline = deadline_after(now, l->config.control_timeout_usec);
                break;
        case STOP_LADDER_TERM:
                a->signal = SIGTERM;
                l->deadline = deadline_after(now, l->config.term_timeout_usec);
                break;
        case STOP_LADDER_KILL:
                a->signal = SIGKILL;
                l->deadline = deadline_after(now, l->config.kill_timeout_usec);
                break;
        case STOP_LADDER_GAVE_UP:
                l->deadline = 0;
                a->done = true;
                a->result = -ETIMEDOUT;
                break;
        default:
                break;
        }
        a->timer_at = l->deadline;
}

int stop_ladder_start(StopLadder *l, uint64_t now, StopLadderAction *ret)
{
        if (!l || !ret)
                return -EINVAL;
        if (l->rung != STOP_LADDER_IDLE)
                return -EALREADY;
        *ret = (StopLadderAction){};
        enter(l, STOP_LADDER_CONTROL, now, ret);
        return 0;
}

int stop_ladder_control_result(StopLadder *l, int error, uint64_t now, StopLadderAction *ret)
{
        if (!l || !ret || error > 0)
                return -EINVAL;
        *ret = (StopLadderAction){.timer_at = l->deadline};
        if (l->rung != STOP_LADDER_CONTROL)
                return 0;
        if (error == 0) {
                l->control_acked = true;
                return 0;
        }
        enter(l, STOP_LADDER_TERM, now, ret);
        return 0;
}

int stop_ladder_timer(StopLadder *l, uint64_t now, StopLadderAction *ret)
{
        if (!l || !ret)
                return -EINVAL;
        *ret = (StopLadderAction){.timer_at = l->deadline};
        switch (l->rung) {
        case STOP_LADDER_CONTROL:
        case STOP_LADDER_TERM:
        case STOP_LADDER_KILL:
                if (now < l->deadline)
                        return 0; /* early wake-up: re-arm at the same deadline */
                enter(l, l->rung + 1 == STOP_LADDER_EXITED ? STOP_LADDER_GAVE_UP : l->rung + 1, now, ret);
                return 0;
        default:
                /* A stale timer after the ladder ended (or before it began): nothing to do. */
                ret->timer_at = 0;
                ret->done = stop_ladder_is_done(l);
                ret->result = l->rung == STOP_LADDER_GAVE_UP ? -ETIMEDOUT : 0;
                return 0;
        }
}

int stop_ladder_exited(StopLadder *l, StopLadderAction *ret)
{
        if (!l || !ret)
                return -EINVAL;
        l->rung = STOP_LADDER_EXITED;
        l->deadline = 0;
        *ret = (StopLadderAction){.done = true, .result = 0};
        return 0;
}

bool stop_ladder_is_done(const StopLadder *l)
{
        return l->rung == STOP_LADDER_EXITED || l->rung == STOP_LADDER_GAVE_UP;
}
