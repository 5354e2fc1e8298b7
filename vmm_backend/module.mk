# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend/: the VMM binary. Sub-folders with their own owners add objects in their fragments:
#   ctl/module.mk     VMM_CONTROL_OBJS (control server + codec), LIBVMMCTL_OBJS, VMM_LOADER_OBJS, vmmctl
#   virtio/module.mk  VMM_VIRTIO_OBJS (PCI, virtio transport, balloon)
#   swap/module.mk    VMM_SWAP_OBJS (vmm-swap)
include vmm_backend/ctl/module.mk
include vmm_backend/virtio/module.mk
include vmm_backend/swap/module.mk

# --- the VMM binary -------------------------------------------------------------------------------
VMM_BIN := $(B)/vmm_backend
VMM_CORE_OBJS := $(addprefix $(B)/obj/vmm_backend/, main.o vm.o vcpu.o evloop.o bus.o x86/cpuid.o x86/pvh.o \
	hw/serial.o hw/chardev.o hw/i8042.o hw/debug-exit.o hw/pvpanic.o)

# Start-up cost (issue 3 benchmark): libprotobuf-c is linked statically when its archive is
# installed (libprotobuf-c-dev ships it): one shared object less for ld.so to find, map and
# relocate at every VMM start (measured: ~0.04 of ~0.45 CPU-ms of process start); libc stays shared.
VMM_PROTOBUF_A := $(firstword $(wildcard /usr/lib/$(shell $(CC) -dumpmachine)/libprotobuf-c.a \
	/usr/lib/libprotobuf-c.a /usr/local/lib/libprotobuf-c.a))
VMM_PROTOBUF_LIBS := $(if $(VMM_PROTOBUF_A),$(VMM_PROTOBUF_A),$(PROTOBUF_LIBS))
BINS += $(VMM_BIN)
$(VMM_BIN): $(VMM_CORE_OBJS) $(VMM_CONTROL_OBJS) $(VMM_LOADER_OBJS) $(VMM_SWAP_OBJS) \
		$(VMM_VIRTIO_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -Wl,-O1,--as-needed -o $@ $^ $(VMM_PROTOBUF_LIBS)

# --- unit tests (no KVM) --------------------------------------------------------------------------
UNIT_TESTS += $(B)/tests/unit/test-serial $(B)/tests/unit/test-pvh $(B)/tests/unit/test-vm-enums

$(B)/tests/unit/test-serial: $(B)/obj/tests/unit/test-serial.o $(B)/obj/vmm_backend/hw/serial.o $(B)/obj/vmm_backend/bus.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-pvh: $(B)/obj/tests/unit/test-pvh.o $(B)/obj/vmm_backend/x86/pvh.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

# vm.c's string tables (no KVM is opened: only the table functions run).
$(B)/tests/unit/test-vm-enums: $(B)/obj/tests/unit/test-vm-enums.o $(addprefix $(B)/obj/vmm_backend/, vm.o vcpu.o \
		evloop.o bus.o x86/cpuid.o)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

# --- test support: the guest-channel client used by tests/integration/test-vmm-*.sh ---------------
TEST_SUPPORT += $(B)/tests/guestchan
$(B)/tests/guestchan: $(B)/obj/tests/guestchan.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

# Control requests queued before the VMM starts (tests/integration/test-vmm-startup.sh).
TEST_SUPPORT += $(B)/tests/vmm-startup-probe
$(B)/tests/vmm-startup-probe: $(B)/obj/tests/vmm-startup-probe.o $(LIBVMMCTL_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS)
