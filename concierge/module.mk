# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the daemon build/vm_concierge and its unit tests.
# CONCIERGE_OBJS is everything but main.o, so that unit tests link the real modules.
#
# lifecycle.mk and vm-dbus.mk are included after this file, so their objects are named here
# directly (a rule's prerequisites are expanded when it is read). Other daemon modules add their
# objects with a rule of their own, `$(B)/vm_concierge: $(THEIR_OBJS)`: the link uses $^.

CONCIERGE_OBJS := \
	$(B)/obj/concierge/log.o \
	$(B)/obj/concierge/validate.o \
	$(B)/obj/concierge/vm.o \
	$(B)/obj/concierge/manager.o \
	$(B)/obj/concierge/manager-dbus.o \
	$(B)/obj/concierge/vm-dbus.o \
	$(B)/obj/concierge/vm-state.o \
	$(B)/obj/concierge/stop-ladder.o \
	$(B)/obj/concierge/cid-pool.o \
	$(B)/obj/concierge/backend.o \
	$(B)/obj/concierge/backend-embedded.o \
	$(B)/obj/concierge/vmm-process.o \
	$(LIBVMMCTL_OBJS) \
	$(CGROUPS_OBJS) \
	$(DBUS_EVENT_OBJS) \
	$(DBUS_OBJS)

CONCIERGE_LIBS = $(SDBUS_LIBS) $(PROTOBUF_LIBS) $(EVENT_LIBS)

$(B)/vm_concierge: $(B)/obj/concierge/main.o $(CONCIERGE_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONCIERGE_LIBS)

BINS += $(B)/vm_concierge

$(B)/tests/unit/test-validate: $(B)/obj/tests/unit/test-validate.o $(B)/obj/concierge/validate.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-manager: $(B)/obj/tests/unit/test-manager.o $(CONCIERGE_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONCIERGE_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-validate $(B)/tests/unit/test-manager

# bench/lifecycle.sh's D-Bus client.
$(B)/bench/lifecycle-bench: $(B)/obj/bench/lifecycle-bench.o $(DBUS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDBUS_LIBS) $(PROTOBUF_LIBS)
