/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Protobuf helpers for the fuzz targets. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

/* Whether msg or any message inside it kept unknown fields. protobuf-c packs those back verbatim,
 * and it accepts an unknown field numbered 0 when the tag is a non-minimal varint (0x80 0x00) but
 * refuses it when minimal (0x00), so such a message re-packs to bytes that do not unpack. Neither
 * the daemon nor the VMM re-packs what it received; round trips are asserted only without them. */
static inline bool fuzz_proto_has_unknown(const ProtobufCMessage *msg)
{
        const ProtobufCMessageDescriptor *d = msg->descriptor;

        if (msg->n_unknown_fields > 0)
                return true;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const uint8_t *base = (const uint8_t *)msg;

                if (f->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                        uint32_t qcase = *(const uint32_t *)(const void *)(base + f->quantifier_offset);
                        if (qcase != f->id)
                                continue;
                }
                if (f->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
                        const ProtobufCMessage *const *v = *(const ProtobufCMessage *const *const *)(const void *)(base + f->offset);
                        for (size_t k = 0; k < n; k++)
                                if (v[k] && fuzz_proto_has_unknown(v[k]))
                                        return true;
                } else {
                        const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(const void *)(base + f->offset);
                        if (sub && fuzz_proto_has_unknown(sub))
                                return true;
                }
        }
        return false;
}
