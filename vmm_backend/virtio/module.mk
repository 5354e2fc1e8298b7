# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend/virtio/ (and vmm_backend/hw/pci.c): PCI bus, virtio modern PCI transport, split
# virtqueues, virtio-balloon.
#   VMM_VIRTIO_OBJS  linked into vmm_backend (needs vm.c, bus.c, evloop.c, control.c from the VMM)

VMM_VIRTIO_CORE_OBJS := $(B)/obj/vmm_backend/hw/pci.o $(B)/obj/vmm_backend/virtio/virtqueue.o \
	$(B)/obj/vmm_backend/virtio/virtio-pci.o $(B)/obj/vmm_backend/virtio/balloon.o
VMM_VIRTIO_OBJS := $(VMM_VIRTIO_CORE_OBJS) $(B)/obj/vmm_backend/virtio/setup.o

# --- unit tests (cmocka, no KVM) ------------------------------------------------------------------
UNIT_TESTS += $(B)/tests/unit/test-pci $(B)/tests/unit/test-virtq $(B)/tests/unit/test-virtio-pci \
	$(B)/tests/unit/test-balloon

$(B)/tests/unit/test-pci: $(B)/obj/tests/unit/test-pci.o $(B)/obj/vmm_backend/hw/pci.o $(B)/obj/vmm_backend/bus.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-virtq: $(B)/obj/tests/unit/test-virtq.o $(B)/obj/vmm_backend/virtio/virtqueue.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-virtio-pci: $(B)/obj/tests/unit/test-virtio-pci.o $(B)/obj/vmm_backend/virtio/virtio-pci.o \
		$(B)/obj/vmm_backend/virtio/virtqueue.o $(B)/obj/vmm_backend/hw/pci.o $(B)/obj/vmm_backend/bus.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)

$(B)/tests/unit/test-balloon: $(B)/obj/tests/unit/test-balloon.o $(VMM_VIRTIO_CORE_OBJS) $(B)/obj/vmm_backend/bus.o \
		$(B)/obj/vmm_backend/evloop.o
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS)
