/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of dbus/bus-proto.c: protobuf pack/unpack round trips and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dbus/bus-proto.h"
#include "proto/concierge_service.pb-c.h"

static void test_round_trip(void **state)
{
        VmTools__Concierge__ListVmsResponse response = VM_TOOLS__CONCIERGE__LIST_VMS_RESPONSE__INIT;
        VmTools__Concierge__ExtendedVmInfo e0 = VM_TOOLS__CONCIERGE__EXTENDED_VM_INFO__INIT, e1 = e0;
        VmTools__Concierge__VmInfo i0 = VM_TOOLS__CONCIERGE__VM_INFO__INIT;
        VmTools__Concierge__ExtendedVmInfo *vms[] = {&e0, &e1};
        _cleanup_proto_ VmTools__Concierge__ListVmsResponse *out = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        i0.pid = 1234;
        i0.cid = 32;
        i0.vm_type = VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__ARC_VM;
        i0.status = VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING;
        i0.memory_mib = 512;
        i0.cgroup_path = (char *)"/sys/fs/cgroup/cpu/arcvm";
        e0.name = (char *)"arcvm";
        e0.owner_id = (char *)"abcdef";
        e0.vm_info = &i0;
        e0.status = VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING;
        e1.name = (char *)"second";
        e1.owner_id = (char *)"abcdef";
        response.success = true;
        response.n_vms = 2;
        response.vms = vms;

        assert_int_equal(proto_pack(&response.base, &data, &size), 0);
        assert_true(size > 0);
        assert_int_equal(proto_unpack(&vm_tools__concierge__list_vms_response__descriptor, data, size,
                                      BUS_PROTO_MAX_REQUEST_SIZE, (ProtobufCMessage **)&out),
                         0);
        assert_true(out->success);
        assert_int_equal(out->n_vms, 2);
        assert_string_equal(out->vms[0]->name, "arcvm");
        assert_string_equal(out->vms[0]->owner_id, "abcdef");
        assert_int_equal(out->vms[0]->status, VM_TOOLS__CONCIERGE__VM_STATUS__VM_STATUS_RUNNING);
        assert_non_null(out->vms[0]->vm_info);
        assert_int_equal(out->vms[0]->vm_info->pid, 1234);
        assert_int_equal(out->vms[0]->vm_info->cid, 32);
        assert_int_equal(out->vms[0]->vm_info->vm_type, VM_TOOLS__CONCIERGE__VM_INFO__VM_TYPE__ARC_VM);
        assert_int_equal(out->vms[0]->vm_info->memory_mib, 512);
        assert_string_equal(out->vms[0]->vm_info->cgroup_path, "/sys/fs/cgroup/cpu/arcvm");
        assert_string_equal(out->vms[1]->name, "second");
        assert_null(out->vms[1]->vm_info);
}

/* Field numbers on the wire are the upstream ones: a request packed by hand the way a client of
 * the real concierge would pack it parses into the right fields. */
static void test_upstream_field_numbers(void **state)
{
        /* GetVmInfoRequest{name=1:"vm", owner_id=2:"ab"} */
        static const uint8_t get_vm_info[] = {0x0a, 2, 'v', 'm', 0x12, 2, 'a', 'b'};
        /* StartVmRequest{name=4:"x", owner_id=7:"ab", cpus=12:2, memory_mib=1000:512} */
        static const uint8_t start_vm[] = {0x22, 1, 'x', 0x3a, 2, 'a', 'b', 0x60, 2, 0xc0, 0x3e, 0x80, 0x04};
        _cleanup_proto_ VmTools__Concierge__GetVmInfoRequest *g = NULL;
        _cleanup_proto_ VmTools__Concierge__StartVmRequest *s = NULL;

        assert_int_equal(proto_unpack(&vm_tools__concierge__get_vm_info_request__descriptor, get_vm_info,
                                      sizeof(get_vm_info), 1024, (ProtobufCMessage **)&g),
                         0);
        assert_string_equal(g->name, "vm");
        assert_string_equal(g->owner_id, "ab");

        assert_int_equal(proto_unpack(&vm_tools__concierge__start_vm_request__descriptor, start_vm,
                                      sizeof(start_vm), 1024, (ProtobufCMessage **)&s),
                         0);
        assert_string_equal(s->name, "x");
        assert_string_equal(s->owner_id, "ab");
        assert_int_equal(s->cpus, 2);
        assert_int_equal(s->memory_mib, 512);
}

static void test_empty_is_defaults(void **state)
{
        VmTools__Concierge__ListVmsRequest empty = VM_TOOLS__CONCIERGE__LIST_VMS_REQUEST__INIT;
        _cleanup_proto_ VmTools__Concierge__ListVmsRequest *out = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 99;

        /* An all-defaults message packs to zero bytes, and zero bytes unpack to one. */
        assert_int_equal(proto_pack(&empty.base, &data, &size), 0);
        assert_int_equal(size, 0);
        assert_non_null(data);
        assert_int_equal(proto_unpack(&vm_tools__concierge__list_vms_request__descriptor, NULL, 0, 16,
                                      (ProtobufCMessage **)&out),
                         0);
        assert_string_equal(out->owner_id, "");
}

static void test_bad_input(void **state)
{
        static const struct {
                const char *what;
                uint8_t bytes[8];
                size_t len;
        } table[] = {
                {"unterminated varint tag", {0xff, 0xff}, 2},
                {"length past the end", {0x0a, 100, 'a', 'b'}, 4},
                {"truncated mid-field", {0x12, 2, 'a'}, 3},
                {"field number 0", {0x00, 0x00}, 2},
                {"wire type 7", {0x0f, 0x01}, 2},
                {"end-group without start", {0x0c}, 1},
                {"unterminated varint value", {0x08, 0x80, 0x80}, 3},
        };
        ProtobufCMessage *out = (ProtobufCMessage *)0x1;

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                print_message("%s\n", table[i].what);
                assert_int_equal(proto_unpack(&vm_tools__concierge__get_vm_info_request__descriptor,
                                              table[i].bytes, table[i].len, BUS_PROTO_MAX_REQUEST_SIZE,
                                              &out),
                                 -EBADMSG);
                assert_ptr_equal(out, (ProtobufCMessage *)0x1); /* untouched on failure */
        }
}

static void test_truncations(void **state)
{
        VmTools__Concierge__GetVmInfoRequest req = VM_TOOLS__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        req.name = (char *)"termina";
        req.owner_id = (char *)"0123456789abcdef";
        assert_int_equal(proto_pack(&req.base, &data, &size), 0);

        /* Every cut that falls inside a field (not at a field boundary) must be refused. The
         * boundaries are 0, after field 1 (2 + 7 bytes) and the end. */
        for (size_t cut = 1; cut < size; cut++) {
                ProtobufCMessage *out = NULL;
                int r = proto_unpack(&vm_tools__concierge__get_vm_info_request__descriptor, data, cut,
                                     BUS_PROTO_MAX_REQUEST_SIZE, &out);

                if (cut == 9) {
                        assert_int_equal(r, 0);
                        protobuf_c_message_free_unpacked(out, NULL);
                } else
                        assert_int_equal(r, -EBADMSG);
        }
}

static void test_garbage(void **state)
{
        /* Pseudo-random buffers never crash the parser: each either parses or gives -EBADMSG. */
        uint8_t buf[64];
        uint32_t x = 12345;
        unsigned bad = 0;

        for (unsigned round = 0; round < 2000; round++) {
                size_t len = round % sizeof(buf);
                ProtobufCMessage *out = NULL;
                int r;

                for (size_t i = 0; i < len; i++) {
                        x = x * 1103515245 + 12345;
                        buf[i] = (uint8_t)(x >> 16);
                }
                r = proto_unpack(&vm_tools__concierge__start_vm_request__descriptor, buf, len,
                                 BUS_PROTO_MAX_REQUEST_SIZE, &out);
                assert_true(r == 0 || r == -EBADMSG);
                if (r == 0)
                        protobuf_c_message_free_unpacked(out, NULL);
                else
                        bad++;
        }
        assert_true(bad > 0);
}

static void test_size_limit(void **state)
{
        _cleanup_free_ uint8_t *big = calloc(1, BUS_PROTO_MAX_REQUEST_SIZE + 1);
        ProtobufCMessage *out = NULL;

        assert_non_null(big);
        /* Over the limit: refused before parsing, whatever the bytes. */
        assert_int_equal(proto_unpack(&vm_tools__concierge__list_vms_request__descriptor, big,
                                      BUS_PROTO_MAX_REQUEST_SIZE + 1, BUS_PROTO_MAX_REQUEST_SIZE, &out),
                         -EMSGSIZE);
        assert_null(out);
        /* At the limit: parsed (zeros are field number 0, malformed). */
        assert_int_equal(proto_unpack(&vm_tools__concierge__list_vms_request__descriptor, big,
                                      BUS_PROTO_MAX_REQUEST_SIZE, BUS_PROTO_MAX_REQUEST_SIZE, &out),
                         -EBADMSG);
}

static void test_invalid_arguments(void **state)
{
        VmTools__Concierge__ListVmsRequest req = VM_TOOLS__CONCIERGE__LIST_VMS_REQUEST__INIT;
        ProtobufCMessage *out = NULL;
        uint8_t *data = NULL;
        size_t size;

        assert_int_equal(proto_unpack(NULL, (const uint8_t *)"", 0, 16, &out), -EINVAL);
        assert_int_equal(proto_unpack(&vm_tools__concierge__list_vms_request__descriptor, NULL, 4, 16, &out),
                         -EINVAL);
        assert_int_equal(proto_unpack(&vm_tools__concierge__list_vms_request__descriptor, NULL, 0, 16, NULL),
                         -EINVAL);
        assert_int_equal(proto_pack(NULL, &data, &size), -EINVAL);
        assert_int_equal(proto_pack(&req.base, NULL, &size), -EINVAL);
        assert_null(data);
        assert_string_equal(proto_unpack_strerror(-EBADMSG), "malformed protobuf");
        assert_string_equal(proto_unpack_strerror(-EMSGSIZE), "request too large");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_upstream_field_numbers),
                cmocka_unit_test(test_empty_is_defaults), cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_truncations),       cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_size_limit),        cmocka_unit_test(test_invalid_arguments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
