# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the VM lifecycle building blocks (state machine, stop ladder, cid pool, backends,
# VMM process spawning) and their tests.
#
#   LIFECYCLE_OBJS   linked into vm_concierge; needs $(LIBVMMCTL_OBJS) $(CGROUPS_OBJS) and
#                    $(EVENT_LIBS) $(PROTOBUF_LIBS) too (link with $^, which drops duplicates)

LIFECYCLE_OBJS := $(B)/obj/concierge/vm-state.o $(B)/obj/concierge/stop-ladder.o $(B)/obj/concierge/cid-pool.o \
	$(B)/obj/concierge/backend.o $(B)/obj/concierge/backend-embedded.o $(B)/obj/concierge/vmm-process.o

# The test double of a VMM process (see tests/helpers/fake-vmm.c).
TEST_SUPPORT += $(B)/tests/helpers/fake-vmm
$(B)/tests/helpers/fake-vmm: $(B)/obj/tests/helpers/fake-vmm.o $(B)/obj/vmm_backend/ctl/protocol.o $(call PROTO_OBJ,vmm_control)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-vm-state $(B)/tests/unit/test-stop-ladder $(B)/tests/unit/test-cid-pool \
	$(B)/tests/unit/test-vmm-process $(B)/tests/unit/test-backend

$(B)/tests/unit/test-vm-state: $(B)/obj/tests/unit/test-vm-state.o $(B)/obj/concierge/vm-state.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-stop-ladder: $(B)/obj/tests/unit/test-stop-ladder.o $(B)/obj/concierge/stop-ladder.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-cid-pool: $(B)/obj/tests/unit/test-cid-pool.o $(B)/obj/concierge/cid-pool.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

# Both spawn the fake VMM (order-only: a prerequisite, not linked); test-backend also spawns the
# real one with the test guest when they exist and /dev/kvm works.
$(B)/tests/unit/test-vmm-process: $(B)/obj/tests/unit/test-vmm-process.o $(B)/obj/concierge/vmm-process.o \
		$(B)/obj/concierge/stop-ladder.o $(CGROUPS_OBJS) | $(B)/tests/helpers/fake-vmm
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(CMOCKA_LIBS)

$(B)/tests/unit/test-backend: $(B)/obj/tests/unit/test-backend.o $(LIFECYCLE_OBJS) $(LIBVMMCTL_OBJS) $(CGROUPS_OBJS) \
		| $(B)/tests/helpers/fake-vmm
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(PROTOBUF_LIBS) $(CMOCKA_LIBS)
