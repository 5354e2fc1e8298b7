# SPDX-License-Identifier: LGPL-2.1-or-later
# vmc/: the command-line client build/vmc, one file per verb group.
#
# The binary $(B)/vmc would collide with the object folder $(B)/vmc/ of the shared pattern rule,
# so vmc's objects are built into $(B)/vmc-obj/ by this more specific rule.
$(B)/vmc-obj/%.o: vmc/%.c $(FLAGS_STAMP) | $(PROTO_HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

VMC_OBJS := \
	$(B)/vmc-obj/main.o \
	$(B)/vmc-obj/bus.o \
	$(B)/vmc-obj/owner.o \
	$(B)/vmc-obj/vms.o \
	$(B)/vmc-obj/args.o \
	$(B)/vmc-obj/lifecycle.o \
	$(B)/vmc-obj/logs.o \
	$(B)/vmc-obj/console.o \
	$(B)/vmc-obj/wait.o \
	$(B)/vmc-obj/cpu.o \
	$(B)/concierge/validate.o \
	$(DBUS_OBJS)

$(B)/vmc: $(VMC_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDBUS_LIBS) $(PROTOBUF_LIBS) $(JSON_LIBS)

BINS += $(B)/vmc

$(B)/tests/unit/test-vmc-owner: $(B)/tests/unit/test-vmc-owner.o $(B)/vmc-obj/owner.o $(B)/concierge/validate.o
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-vmc-owner

# vmc's argument parsing (args.c); bus.o for the usage-error printer it reports with.
$(B)/tests/unit/test-vmc-args: $(B)/tests/unit/test-vmc-args.o $(B)/vmc-obj/args.o $(B)/vmc-obj/bus.o $(DBUS_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(SDBUS_LIBS) $(PROTOBUF_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-vmc-args
