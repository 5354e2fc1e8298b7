# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the vmm-swap controller (per VM) and the daemon-wide TBW budget, with their tests.
#
#   SWAP_CONTROLLER_OBJS   linked into vm_concierge; needs $(POLICY_OBJS) $(HISTORY_FILE_OBJS)
#                          $(LIFECYCLE_OBJS) $(LIBVMMCTL_OBJS) $(CGROUPS_OBJS) and $(EVENT_LIBS)
#                          $(PROTOBUF_LIBS) (link with $^, which drops duplicates such as log.o)
# Included by the top-level Makefile after lifecycle.mk (the link rules below read its variables).

SWAP_CONTROLLER_OBJS := $(B)/obj/concierge/swap-tbw.o $(B)/obj/concierge/swap-controller.o \
	$(B)/obj/concierge/log.o $(B)/obj/concierge/validate.o

SWAP_TEST_LIBS = $(EVENT_LIBS) $(PROTOBUF_LIBS) $(CMOCKA_LIBS)

$(B)/tests/unit/test-swap-tbw: $(B)/obj/tests/unit/test-swap-tbw.o $(B)/obj/concierge/swap-tbw.o \
		$(HISTORY_FILE_OBJS) $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS) $(CMOCKA_LIBS)

$(B)/tests/unit/test-swap-controller: $(B)/obj/tests/unit/test-swap-controller.o $(SWAP_CONTROLLER_OBJS) \
		$(HISTORY_FILE_OBJS) $(POLICY_OBJS) $(LIFECYCLE_OBJS) $(LIBVMMCTL_OBJS) $(CGROUPS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(SWAP_TEST_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-swap-tbw $(B)/tests/unit/test-swap-controller
