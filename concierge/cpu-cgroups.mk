# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the daemon's CPU cgroups (issue 7): family groups, VM placement and
# SetVmCpuRestriction, and their tests.
#
#   CPU_CGROUPS_OBJS   linked into vm_concierge and everything that links manager.o /
#                      manager-dbus.o (added below as extra prerequisites: their link rules use $^)

CPU_CGROUPS_OBJS := $(B)/obj/concierge/cpu-cgroups.o $(B)/obj/concierge/cpu-cgroups-dbus.o $(CGROUPS_OBJS)

$(B)/vm_concierge: $(CPU_CGROUPS_OBJS)
$(B)/tests/unit/test-manager: $(CPU_CGROUPS_OBJS)

# The daemon-side mapping on emulated cgroup v1 and v2 trees (no sd-bus, no VMM).
$(B)/tests/unit/test-cpu-cgroups: $(B)/obj/tests/unit/test-cpu-cgroups.o $(B)/obj/concierge/cpu-cgroups.o \
		$(B)/obj/concierge/log.o $(CGROUPS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-cpu-cgroups
