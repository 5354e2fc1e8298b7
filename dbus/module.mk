# SPDX-License-Identifier: LGPL-2.1-or-later
# dbus/: the D-Bus contract shared by the daemon, vmc and the tests: the concierge protobuf
# messages, the sd-bus <-> libevent bridge, the protobuf <-> `ay` helpers, the enum string tables.
# Users link $(DBUS_OBJS) with $(SDBUS_LIBS) $(PROTOBUF_LIBS); the bridge also needs $(EVENT_LIBS).

CONCIERGE_PROTO_OBJS := $(call PROTO_OBJ,concierge_service)
DBUS_OBJS := $(B)/obj/dbus/bus-proto.o $(B)/obj/dbus/concierge-enums.o $(CONCIERGE_PROTO_OBJS)
DBUS_EVENT_OBJS := $(B)/obj/dbus/bus-event.o

$(B)/tests/unit/test-dbus-proto: $(B)/obj/tests/unit/test-dbus-proto.o $(DBUS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(SDBUS_LIBS) $(PROTOBUF_LIBS)

$(B)/tests/unit/test-concierge-enums: $(B)/obj/tests/unit/test-concierge-enums.o $(DBUS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(SDBUS_LIBS) $(PROTOBUF_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-dbus-proto $(B)/tests/unit/test-concierge-enums

# pbtool: encodes/decodes concierge messages from text and calls the daemon with them; the
# integration tests' hand on the raw API (tests/integration/lib.sh).
$(B)/tests/pbtool: $(B)/obj/tests/pbtool.o $(DBUS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDBUS_LIBS) $(PROTOBUF_LIBS)

TEST_SUPPORT += $(B)/tests/pbtool
