# SPDX-License-Identifier: LGPL-2.1-or-later
# policy/: pure decision code (no I/O, time passed in) and the vmm-swap history codecs.
# The daemon links $(POLICY_OBJS) (+ $(PROTOBUF_LIBS)) and, for the history files' I/O,
# $(HISTORY_FILE_OBJS) (concierge/history-file.c, built here because it is the I/O half of the
# codec and its tests live with the policy tests).

POLICY_OBJS += \
	$(B)/obj/policy/history-codec.o \
	$(B)/obj/policy/swap-policy.o \
	$(B)/obj/policy/tbw.o \
	$(B)/obj/policy/usage.o \
	$(B)/obj/policy/low-disk.o \
	$(call PROTO_OBJ,vmm_swap_policy)

HISTORY_FILE_OBJS := $(B)/obj/concierge/history-file.o

POLICY_TEST_LIBS = $(CMOCKA_LIBS) $(PROTOBUF_LIBS)

$(B)/tests/unit/test-history-codec: $(B)/obj/tests/unit/test-history-codec.o $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-tbw: $(B)/obj/tests/unit/test-tbw.o $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-usage: $(B)/obj/tests/unit/test-usage.o $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-low-disk: $(B)/obj/tests/unit/test-low-disk.o $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-swap-policy: $(B)/obj/tests/unit/test-swap-policy.o $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-history-file: $(B)/obj/tests/unit/test-history-file.o $(HISTORY_FILE_OBJS) $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

UNIT_TESTS += \
	$(B)/tests/unit/test-history-codec \
	$(B)/tests/unit/test-tbw \
	$(B)/tests/unit/test-usage \
	$(B)/tests/unit/test-low-disk \
	$(B)/tests/unit/test-swap-policy \
	$(B)/tests/unit/test-history-file

# The history decoder fuzz target (tests/fuzz/): with gcc a replay/mutation runner that is part
# of `make check`; `make fuzz-history` builds the libFuzzer binary with clang when available.
$(B)/tests/fuzz/fuzz-history-decoder: $(B)/obj/tests/fuzz/fuzz-history-decoder.o $(POLICY_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PROTOBUF_LIBS)

UNIT_TESTS += $(B)/tests/fuzz/fuzz-history-decoder

FUZZ_CLANG ?= clang
FUZZ_HISTORY_SRCS := tests/fuzz/fuzz-history-decoder.c policy/history-codec.c policy/swap-policy.c \
	policy/tbw.c policy/usage.c policy/low-disk.c $(B)/proto/vmm_swap_policy.pb-c.c

.PHONY: fuzz-history
fuzz-history: $(B)/proto/vmm_swap_policy.pb-c.c $(B)/proto/vmm_swap_policy.pb-c.h
	@command -v $(FUZZ_CLANG) >/dev/null || { echo "fuzz-history: $(FUZZ_CLANG) not found" >&2; exit 1; }
	@mkdir -p $(B)/fuzz
	$(FUZZ_CLANG) -std=gnu11 -g -O1 -D_GNU_SOURCE -DFUZZ_LIBFUZZER -I. -I$(B) \
		-fsanitize=fuzzer,address,undefined -o $(B)/fuzz/fuzz-history-decoder $(FUZZ_HISTORY_SRCS) $(PROTOBUF_LIBS)
	@echo "run: $(B)/fuzz/fuzz-history-decoder -max_total_time=60"
