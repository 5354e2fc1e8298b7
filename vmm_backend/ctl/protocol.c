/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control-socket frame codec: size, version and shape checks around protobuf-c. */
#include "vmm_backend/ctl/protocol.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vmm_backend/macro.h"

static const char *const op_names[] = {
        [VMM_CONTROL__REQUEST__OP_STATUS] = "status",
        [VMM_CONTROL__REQUEST__OP_PAUSE] = "pause",
        [VMM_CONTROL__REQUEST__OP_RESUME] = "resume",
        [VMM_CONTROL__REQUEST__OP_STOP] = "stop",
        [VMM_CONTROL__REQUEST__OP_SUBSCRIBE] = "subscribe",
        [VMM_CONTROL__REQUEST__OP_VCPU_THREADS] = "vcpu_threads",
        [VMM_CONTROL__REQUEST__OP_BALLOON_SET] = "balloon_set",
        [VMM_CONTROL__REQUEST__OP_BALLOON_STATS] = "balloon_stats",
        [VMM_CONTROL__REQUEST__OP_SWAP_ENABLE] = "swap_enable",
        [VMM_CONTROL__REQUEST__OP_SWAP_TRIM] = "swap_trim",
        [VMM_CONTROL__REQUEST__OP_SWAP_OUT] = "swap_out",
        [VMM_CONTROL__REQUEST__OP_SWAP_DISABLE] = "swap_disable",
        [VMM_CONTROL__REQUEST__OP_SWAP_STATUS] = "swap_status",
        [VMM_CONTROL__REQUEST__OP_WATCHDOG_CONFIG] = "watchdog_config",
};

const char *protocol_op_name(VmmControl__Request__OpCase op)
{
        if ((unsigned)op >= ELEMENTSOF(op_names))
                return NULL;
        return op_names[op];
}

/* --- A minimal protobuf wire walker ------------------------------------------------------------
 * protobuf-c keeps only the last member of a oneof when a message carries several, and skips
 * unknown fields silently. "Exactly one body / one operation" can therefore only be checked on
 * the wire, before unpacking. */

typedef struct WireField {
        uint32_t number;
        unsigned wire_type;
        uint64_t varint;          /* wire type 0 */
        const uint8_t *data;      /* wire type 2 */
        size_t size;
} WireField;

static int wire_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *ret)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < 10; i++) {
                if (*pos >= len)
                        return -EBADMSG;
                uint8_t b = p[(*pos)++];
                v |= (uint64_t)(b & 0x7f) << (7 * i);
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* Read the next field at *pos; returns 1 with *ret filled, 0 at the end, -EBADMSG if malformed. */
static int wire_next(const uint8_t *p, size_t len, size_t *pos, WireField *ret)
{
        uint64_t key, n;
        int r;

        if (*pos >= len)
                return 0;
        r = wire_varint(p, len, pos, &key);
        if (r < 0)
                return r;
        if ((key >> 3) == 0 || (key >> 3) > 536870911u)
                return -EBADMSG;
        *ret = (WireField){ .number = (uint32_t)(key >> 3), .wire_type = key & 7 };
        switch (ret->wire_type) {
        case 0:
                return wire_varint(p, len, pos, &ret->varint) < 0 ? -EBADMSG : 1;
        case 1:
                n = 8;
                break;
        case 5:
                n = 4;
                break;
        case 2:
                r = wire_varint(p, len, pos, &n);
                if (r < 0)
                        return r;
                break;
        default: /* groups (3, 4) are not used by proto3; 6 and 7 do not exist */
                return -EBADMSG;
        }
        if (n > len - *pos)
                return -EBADMSG;
        ret->data = p + *pos;
        ret->size = (size_t)n;
        *pos += (size_t)n;
        return 1;
}

static bool field_in(uint32_t number, const uint32_t *set, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (set[i] == number)
                        return true;
        return false;
}

/* Count the fields of a message whose numbers belong to a oneof. */
static int wire_count_oneof(const uint8_t *p, size_t len, const uint32_t *set, size_t n, unsigned *ret,
                            uint64_t *ret_id)
{
        size_t pos = 0;
        unsigned count = 0;
        WireField f;
        int r;

        while ((r = wire_next(p, len, &pos, &f)) > 0) {
                if (f.number == 1 && f.wire_type == 0 && ret_id)
                        *ret_id = f.varint;
                if (field_in(f.number, set, n))
                        count++;
        }
        *ret = count;
        return r;
}

static const uint32_t request_ops[] = { 10, 11, 12, 13, 14, 15, 20, 21, 30, 31, 32, 33, 34, 40 };
static const uint32_t response_results[] = { 10, 15, 21, 34 };
static const uint32_t event_kinds[] = { 1, 2, 3, 4, 5 };

_printf_(3, 4) static int diag(ProtocolDiag *d, int error, const char *fmt, ...)
{
        if (d) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(d->message, sizeof(d->message), fmt, ap);
                va_end(ap);
        }
        return error;
}

static bool string_ok(const char *s)
{
        return !s || strnlen(s, PROTOCOL_MAX_STRING + 1) <= PROTOCOL_MAX_STRING;
}

static int check_response(const VmmControl__Response *resp, ProtocolDiag *d)
{
        if (resp->error < 0)
                return diag(d, -EBADMSG, "response carries a negative error code %d", (int)resp->error);
        if (!string_ok(resp->error_message))
                return diag(d, -EBADMSG, "response error message longer than %u bytes", PROTOCOL_MAX_STRING);
        switch (resp->result_case) {
        case VMM_CONTROL__RESPONSE__RESULT_STATUS:
                if (resp->status->n_vcpu_tids > PROTOCOL_MAX_VCPUS)
                        return diag(d, -EBADMSG, "status lists %zu vCPU threads (at most %u)",
                                    resp->status->n_vcpu_tids, PROTOCOL_MAX_VCPUS);
                if (!string_ok(resp->status->kernel_format))
                        return diag(d, -EBADMSG, "status kernel_format too long");
                break;
        case VMM_CONTROL__RESPONSE__RESULT_VCPU_THREADS:
                if (resp->vcpu_threads->n_tids > PROTOCOL_MAX_VCPUS)
                        return diag(d, -EBADMSG, "vcpu_threads lists %zu threads (at most %u)",
                                    resp->vcpu_threads->n_tids, PROTOCOL_MAX_VCPUS);
                break;
        case VMM_CONTROL__RESPONSE__RESULT_SWAP_STATUS:
                if (!string_ok(resp->swap_status->last_error))
                        return diag(d, -EBADMSG, "swap status last_error too long");
                break;
        default:
                break;
        }
        return 0;
}

static int check_event(const VmmControl__Event *ev, ProtocolDiag *d)
{
        switch (ev->kind_case) {
        case VMM_CONTROL__EVENT__KIND_VM_EXITED:
                if (!string_ok(ev->vm_exited->detail))
                        return diag(d, -EBADMSG, "vm_exited detail too long");
                return 0;
        case VMM_CONTROL__EVENT__KIND_DEVICE_RESET:
                if (!string_ok(ev->device_reset->device) || !string_ok(ev->device_reset->reason))
                        return diag(d, -EBADMSG, "device_reset strings too long");
                return 0;
        case VMM_CONTROL__EVENT__KIND_WATCHDOG_STALL:
        case VMM_CONTROL__EVENT__KIND_SWAP_STATE_CHANGED:
        case VMM_CONTROL__EVENT__KIND_BALLOON_RESIZED:
                return 0;
        default:
                return diag(d, -EBADMSG, "event carries no known kind");
        }
}

int protocol_decode(const void *buf, size_t len, VmmControl__Frame **ret_frame, ProtocolDiag *ret_diag)
{
        static const uint32_t bodies[] = { 2, 3, 4 };
        const uint8_t *p = buf;
        ProtocolDiag dummy;
        ProtocolDiag *d = ret_diag ?: &dummy;
        uint64_t version = 0;
        bool version_seen = false;
        unsigned n_bodies = 0;
        WireField f, body = {};
        size_t pos = 0;
        int r;

        *d = (ProtocolDiag){};
        if (len > MAX_FRAME_SIZE)
                return diag(d, -EMSGSIZE, "frame of %zu bytes exceeds the %u-byte limit", len, MAX_FRAME_SIZE);
        if (len > 0 && !buf)
                return diag(d, -EBADMSG, "no frame data");

        /* Walk the top level: version, the body oneof, and the request id if we get that far. */
        while ((r = wire_next(p, len, &pos, &f)) > 0) {
                if (f.number == 1 && f.wire_type == 0) {
                        version = f.varint;
                        version_seen = true;
                } else if (field_in(f.number, bodies, ELEMENTSOF(bodies))) {
                        n_bodies++;
                        body = f;
                        if ((f.number == 2 || f.number == 3) && f.wire_type == 2) {
                                /* Request and Response both keep their id in field 1. */
                                unsigned dummy_count;
                                (void)wire_count_oneof(f.data, f.size, request_ops, ELEMENTSOF(request_ops),
                                                       &dummy_count, &d->id);
                        }
                }
        }
        if (r < 0) {
                if (version_seen && version != PROTOCOL_VERSION)
                        return diag(d, -EPROTO, "unsupported protocol version %" PRIu64 " (expected %d)",
                                    version, PROTOCOL_VERSION);
                return diag(d, -EBADMSG, "malformed frame: not a vmm_control.Frame (bad field at byte %zu of %zu)",
                            pos, len);
        }
        if (!version_seen)
                return diag(d, -EPROTO, "frame carries no protocol version (expected %d)", PROTOCOL_VERSION);
        if (version != PROTOCOL_VERSION)
                return diag(d, -EPROTO, "unsupported protocol version %" PRIu64 " (expected %d)", version,
                            PROTOCOL_VERSION);
        if (n_bodies == 0)
                return diag(d, -EBADMSG, "frame has no body (request, response or event)");
        if (n_bodies > 1)
                return diag(d, -EBADMSG, "frame carries %u bodies (exactly one expected)", n_bodies);
        if (body.wire_type != 2)
                return diag(d, -EBADMSG, "frame body has the wrong wire type");

        /* Exactly one member of the body's own oneof. */
        unsigned n;
        switch (body.number) {
        case 2:
                r = wire_count_oneof(body.data, body.size, request_ops, ELEMENTSOF(request_ops), &n, NULL);
                if (r < 0)
                        return diag(d, -EBADMSG, "malformed request");
                if (n > 1)
                        return diag(d, -EBADMSG, "request carries %u operations (exactly one expected)", n);
                break;
        case 3:
                r = wire_count_oneof(body.data, body.size, response_results, ELEMENTSOF(response_results), &n,
                                     NULL);
                if (r < 0)
                        return diag(d, -EBADMSG, "malformed response");
                if (n > 1)
                        return diag(d, -EBADMSG, "response carries %u results (at most one expected)", n);
                break;
        case 4:
                r = wire_count_oneof(body.data, body.size, event_kinds, ELEMENTSOF(event_kinds), &n, NULL);
                if (r < 0)
                        return diag(d, -EBADMSG, "malformed event");
                if (n > 1)
                        return diag(d, -EBADMSG, "event carries %u kinds (exactly one expected)", n);
                break;
        }

        VmmControl__Frame *frame = vmm_control__frame__unpack(NULL, len, p);
        if (!frame)
                return diag(d, -EBADMSG, "malformed frame: protobuf decoding failed");

        switch (frame->body_case) {
        case VMM_CONTROL__FRAME__BODY_REQUEST:
                d->id = frame->request->id;
                if (!protocol_op_name(frame->request->op_case))
                        r = diag(d, -EBADMSG, "request carries no known operation");
                break;
        case VMM_CONTROL__FRAME__BODY_RESPONSE:
                d->id = frame->response->id;
                r = check_response(frame->response, d);
                break;
        case VMM_CONTROL__FRAME__BODY_EVENT:
                r = check_event(frame->event, d);
                break;
        default:
                r = diag(d, -EBADMSG, "frame has no body");
                break;
        }
        if (r < 0) {
                protocol_frame_free(frame);
                return r;
        }
        *ret_frame = frame;
        return 0;
}

VmmControl__Frame *protocol_frame_free(VmmControl__Frame *f)
{
        if (f)
                vmm_control__frame__free_unpacked(f, NULL);
        return NULL;
}

int protocol_encode(const VmmControl__Frame *f, void *buf, size_t size, size_t *ret_len)
{
        if (!f || !buf || f->version != PROTOCOL_VERSION || f->body_case == VMM_CONTROL__FRAME__BODY__NOT_SET)
                return -EINVAL;
        size_t n = vmm_control__frame__get_packed_size(f);
        if (n > MAX_FRAME_SIZE || n > size)
                return -EMSGSIZE;
        size_t w = vmm_control__frame__pack(f, buf);
        if (w != n)
                return -EIO;
        *ret_len = w;
        return 0;
}
