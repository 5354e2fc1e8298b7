/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Backend lookup and the op wrappers (see backend.h). */
#include <stdio.h>

#include "concierge/backend.h"
#include "vmm_backend/macro.h"

static const BackendOps *const backends[] = {
        &backend_embedded_ops,
};

int backend_find(const char *name, const BackendOps **ret)
{
        if (!name || !ret)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(backends); i++)
                if (streq(backends[i]->name, name)) {
                        *ret = backends[i];
                        return 0;
                }
        return -ENOENT;
}

const char *backend_names(void)
{
        /* One backend today; `qemu` (QMP) is planned (DESIGN §1). */
        return "embedded";
}

int backend_start(const BackendOps *ops, struct event_base *base, const BackendStartConfig *c,
                  const BackendCallbacks *cb, void *userdata, Backend **ret)
{
        if (!base || !c || !cb || !cb->exited || !ret)
                return -EINVAL;
        return (ops ?: &backend_embedded_ops)->start(base, c, cb, userdata, ret);
}

Backend *backend_free(Backend *b)
{
        if (b)
                b->ops->free(b);
        return NULL;
}

const char *backend_name(const Backend *b)
{
        return b ? b->ops->name : NULL;
}

pid_t backend_pid(const Backend *b)
{
        return b ? b->pid : 0;
}

const char *backend_runtime_dir(const Backend *b)
{
        return b ? b->runtime_dir : NULL;
}

char *backend_runtime_path(const Backend *b, const char *file)
{
        char *s;

        if (!b || !b->runtime_dir || !file || strchr(file, '/'))
                return NULL;
        if (asprintf(&s, "%s/%s", b->runtime_dir, file) < 0)
                return NULL;
        return s;
}

int backend_stop(Backend *b)
{
        if (!b)
                return -EINVAL;
        return b->ops->stop(b);
}

int backend_kill(Backend *b, int sig)
{
        if (!b)
                return -EINVAL;
        return b->ops->kill(b, sig);
}

bool backend_supports(const Backend *b, VmmctlOp op)
{
        return b && b->ops->call && (!b->ops->supports || b->ops->supports(b, op));
}

int backend_call(Backend *b, const VmmctlRequest *req, uint64_t timeout_usec, BackendReplyHandler cb,
                 void *userdata)
{
        if (!b || !req || req->op < 0 || req->op >= _VMMCTL_OP_MAX)
                return -EINVAL;
        /* Subscribing is the backend's own business. */
        if (req->op == VMMCTL_OP_SUBSCRIBE || !backend_supports(b, req->op))
                return -EOPNOTSUPP;
        return b->ops->call(b, req, timeout_usec ?: BACKEND_DEFAULT_CALL_TIMEOUT_USEC, cb, userdata);
}

static int simple_call(Backend *b, VmmctlOp op, uint64_t timeout_usec, BackendReplyHandler cb,
                       void *userdata)
{
        VmmctlRequest req = {.op = op};
        return backend_call(b, &req, timeout_usec, cb, userdata);
}

int backend_status(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_STATUS, timeout_usec, cb, userdata);
}

int backend_pause(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_PAUSE, timeout_usec, cb, userdata);
}

int backend_resume(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_RESUME, timeout_usec, cb, userdata);
}

int backend_vcpu_threads(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_VCPU_THREADS, timeout_usec, cb, userdata);
}

int backend_balloon_set(Backend *b, uint64_t num_bytes, bool wait, uint32_t wait_timeout_ms,
                        uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        VmmctlRequest req = {.op = VMMCTL_OP_BALLOON_SET};
        req.balloon_set.num_bytes = num_bytes;
        req.balloon_set.wait = wait;
        req.balloon_set.timeout_ms = wait_timeout_ms;
        return backend_call(b, &req, timeout_usec, cb, userdata);
}

int backend_balloon_stats(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        VmmctlRequest req = {.op = VMMCTL_OP_BALLOON_STATS};
        req.balloon_stats.timeout_ms = (uint32_t)MIN(
                (timeout_usec ?: BACKEND_DEFAULT_CALL_TIMEOUT_USEC) / 1000, (uint64_t)UINT32_MAX);
        return backend_call(b, &req, timeout_usec, cb, userdata);
}

int backend_swap_enable(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_SWAP_ENABLE, timeout_usec, cb, userdata);
}

int backend_swap_trim(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_SWAP_TRIM, timeout_usec, cb, userdata);
}

int backend_swap_out(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_SWAP_OUT, timeout_usec, cb, userdata);
}

int backend_swap_disable(Backend *b, bool slow_file_cleanup, uint64_t timeout_usec, BackendReplyHandler cb,
                         void *userdata)
{
        VmmctlRequest req = {.op = VMMCTL_OP_SWAP_DISABLE};
        req.swap_disable.slow_file_cleanup = slow_file_cleanup;
        return backend_call(b, &req, timeout_usec, cb, userdata);
}

int backend_swap_status(Backend *b, uint64_t timeout_usec, BackendReplyHandler cb, void *userdata)
{
        return simple_call(b, VMMCTL_OP_SWAP_STATUS, timeout_usec, cb, userdata);
}
