/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Protobuf <-> D-Bus `ay` helpers. */
#include "dbus/bus-proto.h"

int proto_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size, size_t max_size,
                 ProtobufCMessage **ret)
{
        static const uint8_t empty[1];
        ProtobufCMessage *msg;

        if (!desc || !ret || (!data && size > 0))
                return -EINVAL;
        if (size > max_size)
                return -EMSGSIZE;

        /* protobuf-c wants a valid pointer even for zero bytes. */
        msg = protobuf_c_message_unpack(desc, NULL, size, data ?: empty);
        if (!msg)
                return -EBADMSG;

        *ret = msg;
        return 0;
}

int proto_pack(const ProtobufCMessage *msg, uint8_t **ret_data, size_t *ret_size)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size, packed;

        if (!msg || !ret_data || !ret_size)
                return -EINVAL;

        size = protobuf_c_message_get_packed_size(msg);
        buf = malloc(MAX(size, (size_t)1));
        if (!buf)
                return -ENOMEM;
        packed = protobuf_c_message_pack(msg, buf);
        if (packed != size)
                return -EIO;

        *ret_data = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

int bus_message_read_proto_limit(sd_bus_message *m, const ProtobufCMessageDescriptor *desc, size_t max_size,
                                 ProtobufCMessage **ret)
{
        const void *data = NULL;
        size_t size = 0;
        int r;

        if (!m || !desc || !ret)
                return -EINVAL;

        r = sd_bus_message_read_array(m, 'y', &data, &size);
        if (r < 0)
                return r == -ENXIO ? -EBADMSG : r;
        if (r == 0)
                return -EBADMSG; /* no argument left */

        return proto_unpack(desc, data, size, max_size, ret);
}

int bus_message_read_proto(sd_bus_message *m, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
        return bus_message_read_proto_limit(m, desc, BUS_PROTO_MAX_REQUEST_SIZE, ret);
}

int bus_message_append_proto(sd_bus_message *m, const ProtobufCMessage *msg)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        if (!m || !msg)
                return -EINVAL;

        r = proto_pack(msg, &data, &size);
        if (r < 0)
                return r;
        return sd_bus_message_append_array(m, 'y', data, size);
}

int bus_reply_proto(sd_bus_message *call, const ProtobufCMessage *msg)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        r = bus_message_append_proto(reply, msg);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int bus_emit_proto_signal(sd_bus *bus, const char *path, const char *interface, const char *member,
                          const ProtobufCMessage *msg)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *sig = NULL;
        int r;

        if (!bus || !path || !interface || !member || !msg)
                return -EINVAL;

        r = sd_bus_message_new_signal(bus, &sig, path, interface, member);
        if (r < 0)
                return r;
        r = bus_message_append_proto(sig, msg);
        if (r < 0)
                return r;
        return sd_bus_send(bus, sig, NULL);
}

const char *proto_unpack_strerror(int error)
{
        switch (error) {
        case -EMSGSIZE:
                return "request too large";
        case -EBADMSG:
                return "malformed protobuf";
        case -ENOMEM:
                return "out of memory";
        default:
                return "cannot read the request";
        }
}
