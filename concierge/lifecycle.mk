# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the VM lifecycle building blocks (state machine, stop ladder, cid pool, backends,
# VMM process spawning) and their tests.
#
#   LIFECYCLE_OBJS   linked into vm_concierge; needs $(LIBVMMCTL_OBJS) $(CGROUPS_OBJS) and
#                    $(EVENT_LIBS) $(PROTOBUF_LIBS) too (link with $^, which drops duplicates)

LIFECYCLE_OBJS := $(B)/concierge/vm-state.o $(B)/concierge/stop-ladder.o $(B)/concierge/cid-pool.o \
	$(B)/concierge/backend.o $(B)/concierge/backend-embedded.o $(B)/concierge/vmm-process.o

# The test double of a VMM process (see tests/helpers/fake-vmm.c).
TEST_SUPPORT += $(B)/tests/helpers/fake-vmm
$(B)/tests/helpers/fake-vmm: $(B)/tests/helpers/fake-vmm.o $(B)/vmm_backend/ctl/protocol.o $(call PROTO_OBJ,vmm_control)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-vm-state $(B)/tests/unit/test-stop-ladder $(B)/tests/unit/test-cid-pool \
	$(B)/tests/unit/test-vmm-process $(B)/tests/unit/test-backend

$(B)/tests/unit/test-vm-state: $(B)/tests/unit/test-vm-state.o $(B)/concierge/vm-state.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-stop-ladder: $(B)/tests/unit/test-stop-ladder.o $(B)/concierge/stop-ladder.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-cid-pool: $(B)/tests/unit/test-cid-pool.o $(B)/concierge/cid-pool.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

# Both spawn the fake VMM (order-only: a prerequisite, not linked); test-backend also spawns the
# real one with the test guest when they exist and /dev/kvm works.
$(B)/tests/unit/test-vmm-process: $(B)/tests/unit/test-vmm-process.o $(B)/concierge/vmm-process.o \
		$(B)/concierge/stop-ladder.o $(CGROUPS_OBJS) | $(B)/tests/helpers/fake-vmm
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(CMOCKA_LIBS)

$(B)/tests/unit/test-backend: $(B)/tests/unit/test-backend.o $(LIFECYCLE_OBJS) $(LIBVMMCTL_OBJS) $(CGROUPS_OBJS) \
		| $(B)/tests/helpers/fake-vmm
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(PROTOBUF_LIBS) $(CMOCKA_LIBS)
