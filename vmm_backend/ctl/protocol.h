/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control-socket frame codec shared by the VMM's server and libvmmctl: one vmm_control.Frame per
 * SOCK_SEQPACKET datagram (proto/vmm_control.proto, DESIGN §2). Protobuf stays at this edge: the
 * server and the client library turn frames into plain C values right after decoding. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "proto/vmm_control.pb-c.h"

/* The largest datagram either side sends or accepts. Real frames are a few hundred bytes; the cap
 * bounds the receive buffer and rejects floods early. */
#define MAX_FRAME_SIZE (64u * 1024u)

#define PROTOCOL_VERSION VMM_CONTROL__PROTOCOL_VERSION__PROTOCOL_VERSION_1

/* Bounds of variable-sized fields, checked on decode. */
#define PROTOCOL_MAX_VCPUS 64u         /* == VM_MAX_VCPUS */
#define PROTOCOL_MAX_STRING 1024u      /* error_message, detail, last_error, device names */

/* What a failed decode could still tell: the request id (0 when it could not be read) and a human
 * message for the error response. */
typedef struct ProtocolDiag {
        uint64_t id;
        char message[192];
} ProtocolDiag;

/* Decode one datagram. On success *ret_frame is a fully validated frame: version is
 * PROTOCOL_VERSION_1, exactly one body is set, a request carries exactly one known operation, a
 * response at most one result, an event exactly one kind, and every repeated/string field is within
 * the bounds above. Free it with protocol_frame_free().
 * Errors: -EMSGSIZE (larger than MAX_FRAME_SIZE), -EPROTO (another protocol version), -EBADMSG
 * (does not parse, no body, several bodies or operations, unknown operation, out of bounds);
 * ret_diag (optional) then holds the request id if known and the reason. */
int protocol_decode(const void *buf, size_t len, VmmControl__Frame **ret_frame, ProtocolDiag *ret_diag);
VmmControl__Frame *protocol_frame_free(VmmControl__Frame *f);

/* Encode a frame into buf (size bytes). The frame must carry PROTOCOL_VERSION and a body
 * (-EINVAL otherwise); -EMSGSIZE if it would exceed MAX_FRAME_SIZE or size. */
int protocol_encode(const VmmControl__Frame *f, void *buf, size_t size, size_t *ret_len);

/* Name of a request operation ("status", "balloon_set", ...) for messages; NULL if unknown. */
const char *protocol_op_name(VmmControl__Request__OpCase op);
