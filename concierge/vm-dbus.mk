# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the per-VM D-Bus objects (vm-dbus.c) and their tests.
#
#   VM_DBUS_OBJS   linked into vm_concierge next to $(CONCIERGE_OBJS) (needs $(SDBUS_LIBS))

VM_DBUS_OBJS := $(B)/obj/concierge/vm-dbus.o

# The unit test runs the objects over a real sd-bus peer connection (a socketpair); Vm and
# Manager structs are filled by hand, so only the modules vm-dbus.o calls are linked.
$(B)/tests/unit/test-vm-dbus: $(B)/obj/tests/unit/test-vm-dbus.o $(VM_DBUS_OBJS) $(B)/obj/concierge/vm-state.o \
		$(B)/obj/concierge/log.o $(DBUS_EVENT_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(SDBUS_LIBS) $(EVENT_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-vm-dbus
