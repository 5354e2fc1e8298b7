# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the daemon build/vm_concierge and its unit tests.
# CONCIERGE_OBJS is everything but main.o, so that unit tests link the real modules.
#
# lifecycle.mk and vm-dbus.mk are included after this file, so their objects are named here
# directly (a rule's prerequisites are expanded when it is read). Other daemon modules add their
# objects with a rule of their own, `$(B)/vm_concierge: $(THEIR_OBJS)`: the link uses $^.

CONCIERGE_OBJS := \
	$(B)/concierge/log.o \
	$(B)/concierge/validate.o \
	$(B)/concierge/vm.o \
	$(B)/concierge/manager.o \
	$(B)/concierge/manager-dbus.o \
	$(B)/concierge/vm-dbus.o \
	$(B)/concierge/vm-state.o \
	$(B)/concierge/stop-ladder.o \
	$(B)/concierge/cid-pool.o \
	$(B)/concierge/backend.o \
	$(B)/concierge/backend-embedded.o \
	$(B)/concierge/vmm-process.o \
	$(LIBVMMCTL_OBJS) \
	$(CGROUPS_OBJS) \
	$(DBUS_EVENT_OBJS) \
	$(DBUS_OBJS)

CONCIERGE_LIBS = $(SDBUS_LIBS) $(PROTOBUF_LIBS) $(EVENT_LIBS)

$(B)/vm_concierge: $(B)/concierge/main.o $(CONCIERGE_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONCIERGE_LIBS)

BINS += $(B)/vm_concierge

$(B)/tests/unit/test-validate: $(B)/tests/unit/test-validate.o $(B)/concierge/validate.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-manager: $(B)/tests/unit/test-manager.o $(CONCIERGE_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONCIERGE_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-validate $(B)/tests/unit/test-manager

# bench/lifecycle.sh's D-Bus client.
$(B)/bench/lifecycle-bench: $(B)/bench/lifecycle-bench.o $(DBUS_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDBUS_LIBS) $(PROTOBUF_LIBS)
