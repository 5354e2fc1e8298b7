# SPDX-License-Identifier: LGPL-2.1-or-later
# vmc/: the command-line client build/vmc, one file per verb group.

VMC_OBJS := \
	$(B)/obj/vmc/main.o \
	$(B)/obj/vmc/bus.o \
	$(B)/obj/vmc/owner.o \
	$(B)/obj/vmc/vms.o \
	$(B)/obj/vmc/args.o \
	$(B)/obj/vmc/lifecycle.o \
	$(B)/obj/vmc/logs.o \
	$(B)/obj/vmc/console.o \
	$(B)/obj/vmc/wait.o \
	$(B)/obj/vmc/cpu.o \
	$(B)/obj/concierge/validate.o \
	$(DBUS_OBJS)

$(B)/vmc: $(VMC_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SDBUS_LIBS) $(PROTOBUF_LIBS) $(JSON_LIBS)

BINS += $(B)/vmc

$(B)/tests/unit/test-vmc-owner: $(B)/obj/tests/unit/test-vmc-owner.o $(B)/obj/vmc/owner.o $(B)/obj/concierge/validate.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-vmc-owner

# vmc's argument parsing (args.c); bus.o for the usage-error printer it reports with.
$(B)/tests/unit/test-vmc-args: $(B)/obj/tests/unit/test-vmc-args.o $(B)/obj/vmc/args.o $(B)/obj/vmc/bus.o $(DBUS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(SDBUS_LIBS) $(PROTOBUF_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-vmc-args
