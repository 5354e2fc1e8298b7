# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend/ctl/: the control-socket server and codec, libvmmctl, vmmctl, and the x86 Linux loader.
#   VMM_CONTROL_OBJS  linked into vmm_backend: server (control.c), frame codec, generated protobuf
#   VMM_LOADER_OBJS   linked into vmm_backend: bzImage loader, e820, MP table, page tables + GDT
#   LIBVMMCTL_OBJS    the client library (daemon, vmmctl, tests); needs $(PROTOBUF_LIBS)

VMM_CONTROL_OBJS := $(B)/obj/vmm_backend/control.o $(B)/obj/vmm_backend/ctl/protocol.o $(call PROTO_OBJ,vmm_control)
VMM_LOADER_OBJS := $(B)/obj/vmm_backend/x86/bzimage.o $(B)/obj/vmm_backend/x86/e820.o $(B)/obj/vmm_backend/x86/mptable.o \
	$(B)/obj/vmm_backend/x86/pagetable.o
# The generated protobuf sources are pattern-rule intermediates; keep them so that they are not
# regenerated (and everything that includes them rebuilt) on every make run.
.SECONDARY: $(PROTO_HDRS) $(PROTO_HDRS:.h=.c)

LIBVMMCTL_OBJS := $(B)/obj/vmm_backend/ctl/libvmmctl.o $(B)/obj/vmm_backend/ctl/protocol.o $(call PROTO_OBJ,vmm_control)

BINS += $(B)/vmmctl
$(B)/vmmctl: $(B)/obj/vmm_backend/ctl/vmmctl.o $(LIBVMMCTL_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS) $(JSON_LIBS)

# --- unit tests (cmocka, no KVM) ------------------------------------------------------------------
UNIT_TESTS += $(B)/tests/unit/test-control-protocol $(B)/tests/unit/test-control-server \
	$(B)/tests/unit/test-libvmmctl $(B)/tests/unit/test-bzimage $(B)/tests/unit/test-mptable

$(B)/tests/unit/test-control-protocol: $(B)/obj/tests/unit/test-control-protocol.o $(B)/obj/vmm_backend/ctl/protocol.o \
		$(call PROTO_OBJ,vmm_control)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS) $(CMOCKA_LIBS)

$(B)/tests/unit/test-libvmmctl: $(B)/obj/tests/unit/test-libvmmctl.o $(LIBVMMCTL_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS) $(CMOCKA_LIBS)

# The server against a test double of vm.h (tests/unit/test-control-server.c defines vm_pause etc.).
$(B)/tests/unit/test-control-server: $(B)/obj/tests/unit/test-control-server.o $(B)/obj/vmm_backend/control.o \
		$(B)/obj/vmm_backend/evloop.o $(LIBVMMCTL_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS) $(CMOCKA_LIBS)

$(B)/tests/unit/test-bzimage: $(B)/obj/tests/unit/test-bzimage.o $(VMM_LOADER_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-mptable: $(B)/obj/tests/unit/test-mptable.o $(B)/obj/vmm_backend/x86/mptable.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

# bench/vmm_start.sh's start-up timer (not part of `all`; the script builds it).
$(B)/bench/vmm-start-bench: $(B)/obj/bench/vmm-start-bench.o $(LIBVMMCTL_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS)
