# SPDX-License-Identifier: LGPL-2.1-or-later
# cgroups/: the CPU cgroup library (v1 and v2, kernel or emulated tree) and its tests.
# The daemon links $(CGROUPS_OBJS); the library needs nothing but libc.

CGROUPS_OBJS := $(B)/obj/cgroups/cgroup.o $(B)/obj/cgroups/cgroup-emul.o $(B)/obj/cgroups/cpu-family.o

# Unit tests on temp trees laid out as cgroup v1 and v2 (emulated backend).
$(B)/tests/unit/test-cgroups: $(B)/obj/tests/unit/test-cgroups.o $(CGROUPS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

# The same library against this machine's real cgroup v1 cpu hierarchy (SKIPs when unusable).
$(B)/tests/unit/test-cgroups-real: $(B)/obj/tests/unit/test-cgroups-real.o $(CGROUPS_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

UNIT_TESTS += $(B)/tests/unit/test-cgroups $(B)/tests/unit/test-cgroups-real
