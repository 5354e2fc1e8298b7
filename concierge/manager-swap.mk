# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the daemon's vmm-swap wiring (issue 8): manager-swap.c (flags, TBW budget, one
# controller per swap VM), manager-swap-dbus.c (SwapVm, GetVmSwapStatus, VmSwappingSignal),
# `vmc swap`, and their tests.
#
#   MANAGER_SWAP_OBJS   linked into vm_concierge and everything that links manager.o /
#                       manager-dbus.o (added below as extra prerequisites: their link rules use $^)
# Included by the top-level Makefile after swap.mk (SWAP_CONTROLLER_OBJS is read here). vmc's
# swap.o is an extra prerequisite of $(B)/vmc (built by vmc/module.mk's pattern rule).

MANAGER_SWAP_OBJS := $(B)/obj/concierge/manager-swap.o $(B)/obj/concierge/manager-swap-dbus.o \
	$(SWAP_CONTROLLER_OBJS) $(HISTORY_FILE_OBJS) $(POLICY_OBJS) $(LIFECYCLE_OBJS)

$(B)/vm_concierge: $(MANAGER_SWAP_OBJS)
$(B)/tests/unit/test-manager: $(MANAGER_SWAP_OBJS)

# vmc swap enable|force-enable|disable|status
$(B)/vmc: $(B)/obj/vmc/swap.o

# Flag parsing and the option table (no bus, no VMM).
$(B)/tests/unit/test-manager-swap: $(B)/obj/tests/unit/test-manager-swap.o $(B)/obj/concierge/manager-swap.o \
		$(B)/obj/concierge/manager-swap-dbus.o $(CONCIERGE_OBJS) $(CPU_CGROUPS_OBJS) $(MANAGER_SWAP_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(CONCIERGE_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-manager-swap

# Seeds and decodes vmm-swap history files for the integration tests.
$(B)/tests/helpers/swap-history: $(B)/obj/tests/helpers/swap-history.o $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS)

TEST_SUPPORT += $(B)/tests/helpers/swap-history
