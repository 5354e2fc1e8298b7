# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/fuzz/: fuzz targets of the parsers of outside input (DESIGN §3, §7). Each target is built
# two ways (tests/fuzz/fuzz-common.h):
#   gcc (any compiler): a deterministic seeds + mutations runner, part of `make check` (UNIT_TESTS);
#     `<runner> FILE...` replays inputs (e.g. a libFuzzer crash), `<runner> --seeds DIR` writes
#     the seed corpus;
#   `make fuzz`: clang -fsanitize=fuzzer,address,undefined binaries in $(B)/fuzz/, each run for
#     FUZZ_SECONDS (default 60) from its seed corpus; crashes are left in $(B)/fuzz/<target>/.
# (The history decoder target, fuzz-history-decoder.c, is built by policy/module.mk.)

FUZZ_TARGETS := fuzz-control fuzz-dbus-request fuzz-virtio fuzz-loaders fuzz-pci
FUZZ_COMMON_OBJ := $(B)/obj/tests/fuzz/fuzz-common.o

FUZZ_control_OBJS := $(B)/obj/vmm_backend/control.o $(B)/obj/vmm_backend/evloop.o $(LIBVMMCTL_OBJS)
FUZZ_control_LIBS = $(PROTOBUF_LIBS)
FUZZ_dbus-request_OBJS := $(B)/obj/concierge/validate.o $(DBUS_OBJS)
FUZZ_dbus-request_LIBS = $(SDBUS_LIBS) $(PROTOBUF_LIBS)
FUZZ_virtio_OBJS := $(VMM_VIRTIO_CORE_OBJS) $(B)/obj/vmm_backend/bus.o $(B)/obj/vmm_backend/evloop.o
FUZZ_virtio_LIBS =
FUZZ_loaders_OBJS := $(B)/obj/vmm_backend/x86/pvh.o $(VMM_LOADER_OBJS)
FUZZ_loaders_LIBS =
FUZZ_pci_OBJS := $(B)/obj/vmm_backend/hw/pci.o $(B)/obj/vmm_backend/virtio/virtio-pci.o \
	$(B)/obj/vmm_backend/virtio/virtqueue.o $(B)/obj/vmm_backend/bus.o
FUZZ_pci_LIBS =

define FUZZ_RUNNER_RULE
$(B)/tests/fuzz/fuzz-$(1): $(B)/obj/tests/fuzz/fuzz-$(1).o $(FUZZ_COMMON_OBJ) $(FUZZ_$(1)_OBJS)
	@mkdir -p $$(@D)
	$$(call say,LD,$$@)
	$$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(FUZZ_$(1)_LIBS)

UNIT_TESTS += $(B)/tests/fuzz/fuzz-$(1)
endef
$(foreach t,$(FUZZ_TARGETS:fuzz-%=%),$(eval $(call FUZZ_RUNNER_RULE,$(t))))

# --- libFuzzer (clang) -----------------------------------------------------------------------------
FUZZ_SECONDS ?= 60
FUZZ_CLANG ?= clang
FUZZ_CLANG_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -DFUZZ_LIBFUZZER -I. -I$(B) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
# The product sources of a target: its objects' sources (generated protobuf code from $(B)/proto).
fuzz_srcs = $(patsubst $(B)/proto/%.o,$(B)/proto/%.c,$(patsubst $(B)/obj/%.o,%.c,$(FUZZ_$(1)_OBJS)))

define FUZZ_LIBFUZZER_RULE
$(B)/fuzz/fuzz-$(1): tests/fuzz/fuzz-$(1).c tests/fuzz/fuzz-common.c $(PROTO_HDRS) $(PROTO_HDRS:.h=.c) \
		$(call fuzz_srcs,$(1))
	@command -v $(FUZZ_CLANG) >/dev/null || { echo "fuzz: $(FUZZ_CLANG) not found" >&2; exit 1; }
	@mkdir -p $$(@D)
	$(FUZZ_CLANG) $(FUZZ_CLANG_FLAGS) -o $$@ tests/fuzz/fuzz-$(1).c tests/fuzz/fuzz-common.c \
		$(call fuzz_srcs,$(1)) $$(FUZZ_$(1)_LIBS)
endef
$(foreach t,$(FUZZ_TARGETS:fuzz-%=%),$(eval $(call FUZZ_LIBFUZZER_RULE,$(t))))

.PHONY: fuzz fuzz-build
fuzz-build: $(addprefix $(B)/fuzz/,$(FUZZ_TARGETS)) $(addprefix $(B)/tests/fuzz/,$(FUZZ_TARGETS))

# Each target: seed corpus from the gcc runner, then FUZZ_SECONDS of libFuzzer; a summary line
# per target (executions, coverage, crashes). Fails if any target found a crash.
fuzz: fuzz-build
	@B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run-fuzz.sh $(FUZZ_TARGETS)
