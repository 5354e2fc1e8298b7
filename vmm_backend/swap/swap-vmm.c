/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmm-swap wiring into the VMM: pause/resume through vm.h, state changes as control-socket events,
 * the ops on the control server. Everything here runs on the device/event thread. */
#include <sys/epoll.h>

#include "vmm_backend/control.h"
#include "vmm_backend/evloop.h"
#include "vmm_backend/swap/swap-internal.h"
#include "vmm_backend/vm.h"

typedef struct SwapVmm {
        Vm *vm;
        ControlServer *ctl;
        EvSource *source;
} SwapVmm;

static int hook_pause(void *userdata)
{
        SwapVmm *w = userdata;
        return vm_pause(w->vm);
}

static int hook_resume(void *userdata)
{
        SwapVmm *w = userdata;
        return vm_resume(w->vm);
}

static void hook_state_changed(void *userdata, SwapState state, SwapState previous)
{
        SwapVmm *w = userdata;
        VmmEvent ev = {
                .type = VMM_EVENT_SWAP_STATE_CHANGED,
                .swap_state_changed = { .state = (int)state, .previous = (int)previous },
        };
        control_server_emit(w->ctl, &ev);
}

static void on_swap_event(EvSource *s, int fd, uint32_t events, void *userdata)
{
        swap_engine_dispatch(userdata);
}

static void detach(SwapEngine *e)
{
        SwapVmm *w = e->detach_data;
        control_server_set_swap(w->ctl, NULL, NULL);
        evloop_remove(w->source);
        free(w);
        e->detach = NULL;
        e->detach_data = NULL;
}

int swap_engine_setup(Vm *vm, ControlServer *ctl, const char *swap_dir, SwapEngine **ret)
{
        if (!vm || !ctl || !swap_dir || !ret)
                return -EINVAL;

        _cleanup_free_ SwapVmm *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->vm = vm;
        w->ctl = ctl;

        SwapEngineHooks hooks = {
                .pause_vcpus = hook_pause,
                .resume_vcpus = hook_resume,
                .state_changed = hook_state_changed,
                .userdata = w,
        };
        _cleanup_(swap_engine_freep) SwapEngine *e = NULL;
        int r = swap_engine_new(vm_guest_mem(vm), swap_dir, &hooks, &e);
        if (r < 0)
                return r;
        r = evloop_add(vm_event_loop(vm), swap_engine_event_fd(e), EPOLLIN, on_swap_event, e, &w->source);
        if (r < 0)
                return r;
        control_server_set_swap(ctl, &swap_engine_control_ops, e);
        e->detach = detach;
        e->detach_data = TAKE_PTR(w);
        *ret = TAKE_PTR(e);
        return 0;
}
