/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Protobuf <-> D-Bus `ay` helpers: unpack a request, pack a reply or a signal. Do not log. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "vmm_backend/macro.h"

/* The largest request payload accepted. Requests are a few names, flags and numbers (a StartVm
 * with many kernel parameters stays far below this); anything bigger is refused unparsed. */
#define BUS_PROTO_MAX_REQUEST_SIZE (256U * 1024U)

/* The largest reply a client accepts: GetVmLogs carries up to 30 MiB of log upstream. */
#define BUS_PROTO_MAX_REPLY_SIZE (64U * 1024U * 1024U)

static inline void proto_message_freep(void *p)
{
        ProtobufCMessage **m = p;

        if (*m)
                protobuf_c_message_free_unpacked(*m, NULL);
}
#define _cleanup_proto_ _cleanup_(proto_message_freep)

/* Parse `size` bytes as a message of `desc`. An empty buffer is a valid message (all fields at
 * their defaults, as proto3 defines). Returns -EMSGSIZE when size > max_size, -EBADMSG when the
 * bytes do not parse, -ENOMEM. *ret is freed with protobuf_c_message_free_unpacked(). */
int proto_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size, size_t max_size,
                 ProtobufCMessage **ret);

/* Serialize `msg` into a new malloc'ed buffer (non-NULL even when empty). */
int proto_pack(const ProtobufCMessage *msg, uint8_t **ret_data, size_t *ret_size);

/* Read one `ay` from `m` and unpack it as `desc` (limit BUS_PROTO_MAX_REQUEST_SIZE). Errors as
 * proto_unpack(), plus -EBADMSG when the next argument is not an `ay`. */
int bus_message_read_proto(sd_bus_message *m, const ProtobufCMessageDescriptor *desc,
                           ProtobufCMessage **ret);

/* The same with another size limit (clients reading replies use BUS_PROTO_MAX_REPLY_SIZE). */
int bus_message_read_proto_limit(sd_bus_message *m, const ProtobufCMessageDescriptor *desc, size_t max_size,
                                 ProtobufCMessage **ret);

/* Append `msg` to `m` as one `ay`. */
int bus_message_append_proto(sd_bus_message *m, const ProtobufCMessage *msg);

/* Reply to the method call `call` with `msg` as the one `ay` out-argument. */
int bus_reply_proto(sd_bus_message *call, const ProtobufCMessage *msg);

/* Emit signal `member` of `interface` at `path` with `msg` as its one `ay` argument. */
int bus_emit_proto_signal(sd_bus *bus, const char *path, const char *interface, const char *member,
                          const ProtobufCMessage *msg);

/* A one-line description of a proto_unpack()/bus_message_read_proto() error, for the D-Bus
 * error message a daemon sends back ("does not parse as ListVmsRequest", ...). */
const char *proto_unpack_strerror(int error);
