/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for D-Bus request unpacking (dbus/bus-proto.c proto_unpack(), the step of
 * bus_message_read_proto() that parses the `ay`) of every concierge request type, followed by the
 * daemon's validation of what it unpacked (concierge/validate.c).
 * Input: byte 0 picks the request type, the rest is its payload. Invariants: an error is
 * -EBADMSG/-EMSGSIZE/-ENOMEM with a description; an unpacked message without unknown fields
 * re-packs to bytes that unpack to the same size; owner_id/name pass validation only if they really are well formed (hex
 * owner of at most OWNER_ID_MAX, a name without control characters, new names at most
 * VM_NAME_MAX bytes); cpus and memory_mib are accepted only within the host's bounds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "concierge/validate.h"
#include "dbus/bus-proto.h"
#include "proto/concierge_service.pb-c.h"
#include "tests/fuzz/fuzz-common.h"
#include "tests/fuzz/fuzz-proto.h"

const FuzzTarget fuzz_target = { .name = "fuzz-dbus-request", .iterations = 100000, .max_len = 4096 };

static const ProtobufCMessageDescriptor *const requests[] = {
        &vm_tools__concierge__start_vm_request__descriptor,
        &vm_tools__concierge__stop_vm_request__descriptor,
        &vm_tools__concierge__suspend_vm_request__descriptor,
        &vm_tools__concierge__resume_vm_request__descriptor,
        &vm_tools__concierge__get_vm_info_request__descriptor,
        &vm_tools__concierge__list_vms_request__descriptor,
        &vm_tools__concierge__get_balloon_info_request__descriptor,
        &vm_tools__concierge__set_balloon_timer_request__descriptor,
        &vm_tools__concierge__aggressive_balloon_request__descriptor,
        &vm_tools__concierge__swap_vm_request__descriptor,
        &vm_tools__concierge__get_vm_swap_status_request__descriptor,
        &vm_tools__concierge__set_vm_cpu_restriction_request__descriptor,
        &vm_tools__concierge__get_vm_logs_request__descriptor,
        &vm_tools__concierge__reclaim_vm_memory_request__descriptor,
};

#define HOST_CPUS 4u
#define DEFAULT_MIB 1024u
#define MIN_MIB 256u
#define HOST_MIB 8192u

/* A singular string field of msg, or NULL when the type has none by that name. */
static const char *string_field(const ProtobufCMessage *msg, const char *name)
{
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);

        if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
                return NULL;
        return *(const char *const *)(const void *)((const uint8_t *)msg + f->offset);
}

static bool is_failure(const char *f)
{
        return streq(f, VALIDATE_OWNER_ID_FAILURE) || streq(f, VALIDATE_VM_NAME_FAILURE) ||
               streq(f, VALIDATE_VM_NAME_TOO_LONG_FAILURE);
}

static void check_identity(const ProtobufCMessage *msg)
{
        const char *owner = string_field(msg, "owner_id"), *name = string_field(msg, "name");
        const ProtobufCFieldDescriptor *has_owner =
                protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "owner_id");

        if (has_owner) {
                fuzz_check(owner, "a string field unpacked as NULL");
                bool ok = owner_id_is_valid(owner);
                size_t n = strlen(owner);
                fuzz_check(ok == (n > 0 && n <= OWNER_ID_MAX && strspn(owner, "0123456789abcdefABCDEF") == n),
                           "owner_id_is_valid wrong");
        }
        if (!owner || !name)
                return;

        const char *f = validate_vm_request(owner, name), *fn = validate_new_vm_request(owner, name);
        if (f)
                fuzz_check(is_failure(f), "unknown failure reason");
        if (fn)
                fuzz_check(is_failure(fn), "unknown failure reason (new VM)");
        if (!f) {
                fuzz_check(owner_id_is_valid(owner) && vm_name_is_valid(name), "accepted a bad identity");
                for (const unsigned char *p = (const unsigned char *)name; *p; p++)
                        fuzz_check(*p >= 0x20 && *p != 0x7f, "accepted a control character in a name");
                fuzz_check(*name, "accepted an empty name");
        }
        if (!fn) {
                fuzz_check(!f, "a new VM accepted but not an existing one");
                fuzz_check(strlen(name) <= VM_NAME_MAX, "accepted a too long name for a new VM");
        }
        if (f)
                fuzz_check(fn && streq(f, fn), "new-VM check disagrees");
}

static void check_start_vm(const VmTools__Concierge__StartVmRequest *r)
{
        unsigned cpus = 0;
        uint32_t mib = 0;
        const char *f;

        f = validate_cpu_count(r->cpus, HOST_CPUS, &cpus);
        if (f)
                fuzz_check(streq(f, VALIDATE_CPU_COUNT_FAILURE) && r->cpus > HOST_CPUS, "cpus refused wrongly");
        else
                fuzz_check(cpus >= 1 && cpus <= HOST_CPUS && (r->cpus == 0 || cpus == r->cpus), "bad cpu count accepted");
        f = validate_memory_mib(r->memory_mib, DEFAULT_MIB, MIN_MIB, HOST_MIB, &mib);
        if (f)
                fuzz_check(streq(f, VALIDATE_MEMORY_FAILURE), "unknown memory failure");
        else
                fuzz_check(mib >= MIN_MIB && mib <= HOST_MIB && (r->memory_mib == 0 || mib == r->memory_mib),
                           "bad memory size accepted");
        /* Repeated fields are bounded by what was received. */
        fuzz_check(r->n_kernel_params <= BUS_PROTO_MAX_REQUEST_SIZE && r->n_disks <= BUS_PROTO_MAX_REQUEST_SIZE,
                   "more entries than bytes");
        for (size_t i = 0; i < r->n_disks; i++)
                fuzz_check(r->disks[i] && r->disks[i]->path, "NULL disk entry");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const ProtobufCMessageDescriptor *desc;
        ProtobufCMessage *msg = NULL, *again_msg = NULL;
        uint8_t *again = NULL;
        size_t again_size = 0;
        int r;

        if (size < 1)
                return 0;
        desc = requests[data[0] % ELEMENTSOF(requests)];
        data++, size--;

        r = proto_unpack(desc, data, size, BUS_PROTO_MAX_REQUEST_SIZE, &msg);
        fuzz_check(proto_unpack_strerror(r) != NULL, "no description of an unpack result");
        if (r < 0) {
                fuzz_check(r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM, "unexpected unpack error");
                fuzz_check(!msg, "a message returned with an error");
                return 0;
        }
        fuzz_check(msg && msg->descriptor == desc, "unpacked another type");
        /* Size limit: one byte less than the payload refuses it. */
        if (size > 0) {
                ProtobufCMessage *m2 = NULL;
                fuzz_check(proto_unpack(desc, data, size, size - 1, &m2) == -EMSGSIZE && !m2, "size limit ignored");
        }

        fuzz_check(proto_pack(msg, &again, &again_size) == 0 && again, "re-pack failed");
        fuzz_check(again_size == protobuf_c_message_get_packed_size(msg), "packed size differs");
        /* See fuzz_proto_has_unknown(). */
        r = proto_unpack(desc, again, again_size, BUS_PROTO_MAX_REQUEST_SIZE, &again_msg);
        if (!fuzz_proto_has_unknown(msg)) {
                fuzz_check(r == 0, "re-packed message does not unpack");
                fuzz_check(protobuf_c_message_get_packed_size(again_msg) == again_size, "re-unpacked size differs");
        }

        check_identity(msg);
        if (desc == &vm_tools__concierge__start_vm_request__descriptor)
                check_start_vm((const VmTools__Concierge__StartVmRequest *)msg);

        protobuf_c_message_free_unpacked(again_msg, NULL);
        protobuf_c_message_free_unpacked(msg, NULL);
        free(again);
        return 0;
}

/* --- seeds: each request type with typical and boundary values ---------------------------------- */

static void add_msg(FuzzSeeds *s, const ProtobufCMessage *msg)
{
        uint8_t buf[4096];
        size_t idx, n;

        for (idx = 0; idx < ELEMENTSOF(requests); idx++)
                if (requests[idx] == msg->descriptor)
                        break;
        if (idx == ELEMENTSOF(requests))
                abort();
        n = protobuf_c_message_get_packed_size(msg);
        if (n + 1 > sizeof(buf))
                abort();
        buf[0] = (uint8_t)idx;
        protobuf_c_message_pack(msg, buf + 1);
        fuzz_seed_add(s, buf, n + 1);
}

void fuzz_seeds(FuzzSeeds *s)
{
        static const char *const owners[] = { "0123456789abcdef0123456789abcdef01234567", "", "xyz",
                                              "ABCDEF", "00g0" };
        static const char *const names[] = { "termina", "", "caf\xc3\xa9", "tab\there", "\xed\xa0\x80",
                                             "a-name-that-is-exactly-sixty-one-bytes-long-for-new-vms-12345" };

        for (size_t i = 0; i < ELEMENTSOF(owners); i++)
                for (size_t j = 0; j < ELEMENTSOF(names); j++) {
                        VmTools__Concierge__StopVmRequest stop = VM_TOOLS__CONCIERGE__STOP_VM_REQUEST__INIT;
                        stop.owner_id = (char *)owners[i];
                        stop.name = (char *)names[j];
                        add_msg(s, &stop.base);
                }
        {
                VmTools__Concierge__StartVmRequest st = VM_TOOLS__CONCIERGE__START_VM_REQUEST__INIT;
                VmTools__Concierge__VirtualMachineSpec spec = VM_TOOLS__CONCIERGE__VIRTUAL_MACHINE_SPEC__INIT;
                VmTools__Concierge__DiskImage disk = VM_TOOLS__CONCIERGE__DISK_IMAGE__INIT, *disks[] = { &disk };
                VmTools__Concierge__StartVmRequest__FdType fds[] = { VM_TOOLS__CONCIERGE__START_VM_REQUEST__FD_TYPE__KERNEL,
                                                                     VM_TOOLS__CONCIERGE__START_VM_REQUEST__FD_TYPE__ROOTFS };
                char *params[] = { (char *)"console=ttyS0", (char *)"quiet" };

                spec.dlc_id = (char *)"termina-dlc";
                disk.path = (char *)"/dev/vdb";
                disk.writable = true;
                st.vm = &spec;
                st.n_disks = 1;
                st.disks = disks;
                st.name = (char *)"termina";
                st.owner_id = (char *)"0123456789abcdef";
                st.cpus = 2;
                st.n_fds = 2;
                st.fds = fds;
                st.n_kernel_params = 2;
                st.kernel_params = params;
                st.memory_mib = 512;
                st.backend = (char *)"embedded";
                st.enable_balloon = true;
                st.enable_vmm_swap = true;
                add_msg(s, &st.base);
                st.cpus = 99;
                st.memory_mib = 100000;
                add_msg(s, &st.base);
                st.cpus = 0;
                st.memory_mib = 0;
                add_msg(s, &st.base);
        }
        {
                VmTools__Concierge__ListVmsRequest l = VM_TOOLS__CONCIERGE__LIST_VMS_REQUEST__INIT;
                VmTools__Concierge__SetBalloonTimerRequest t = VM_TOOLS__CONCIERGE__SET_BALLOON_TIMER_REQUEST__INIT;
                VmTools__Concierge__AggressiveBalloonRequest a = VM_TOOLS__CONCIERGE__AGGRESSIVE_BALLOON_REQUEST__INIT;
                VmTools__Concierge__SwapVmRequest sw = VM_TOOLS__CONCIERGE__SWAP_VM_REQUEST__INIT;
                VmTools__Concierge__SetVmCpuRestrictionRequest c = VM_TOOLS__CONCIERGE__SET_VM_CPU_RESTRICTION_REQUEST__INIT;
                VmTools__Concierge__ReclaimVmMemoryRequest rc = VM_TOOLS__CONCIERGE__RECLAIM_VM_MEMORY_REQUEST__INIT;
                VmTools__Concierge__GetVmSwapStatusRequest gs = VM_TOOLS__CONCIERGE__GET_VM_SWAP_STATUS_REQUEST__INIT;
                VmTools__Concierge__GetVmLogsRequest lg = VM_TOOLS__CONCIERGE__GET_VM_LOGS_REQUEST__INIT;
                VmTools__Concierge__GetBalloonInfoRequest bi = VM_TOOLS__CONCIERGE__GET_BALLOON_INFO_REQUEST__INIT;
                VmTools__Concierge__GetVmInfoRequest gi = VM_TOOLS__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
                VmTools__Concierge__SuspendVmRequest su = VM_TOOLS__CONCIERGE__SUSPEND_VM_REQUEST__INIT;
                VmTools__Concierge__ResumeVmRequest re = VM_TOOLS__CONCIERGE__RESUME_VM_REQUEST__INIT;

                l.owner_id = (char *)"abcdef";
                add_msg(s, &l.base);
                t.timer_interval_millis = 1000;
                add_msg(s, &t.base);
                a.name = (char *)"arcvm";
                a.owner_id = (char *)"abcdef";
                a.enable = true;
                add_msg(s, &a.base);
                sw.name = (char *)"termina";
                sw.owner_id = (char *)"abcdef";
                sw.operation = VM_TOOLS__CONCIERGE__SWAP_OPERATION__FORCE_ENABLE;
                add_msg(s, &sw.base);
                c.cpu_cgroup = 2;
                c.cpu_restriction_state = 1;
                add_msg(s, &c.base);
                rc.name = (char *)"termina";
                rc.owner_id = (char *)"abcdef";
                rc.page_limit = -1;
                add_msg(s, &rc.base);
                gs.name = lg.name = bi.name = gi.name = su.name = re.name = (char *)"vm";
                gs.owner_id = lg.owner_id = bi.owner_id = gi.owner_id = su.owner_id = re.owner_id = (char *)"ab";
                add_msg(s, &gs.base);
                add_msg(s, &lg.base);
                add_msg(s, &bi.base);
                add_msg(s, &gi.base);
                add_msg(s, &su.base);
                add_msg(s, &re.base);
        }
}
