# SPDX-License-Identifier: LGPL-2.1-or-later
# policy/: pure decision code (no I/O, time passed in) and the vmm-swap history codecs.
# The daemon links $(POLICY_OBJS) (+ $(PROTOBUF_LIBS)) and, for the history files' I/O,
# $(HISTORY_FILE_OBJS) (concierge/history-file.c, built here because it is the I/O half of the
# codec and its tests live with the policy tests).

POLICY_OBJS += \
	$(B)/policy/history-codec.o \
	$(B)/policy/swap-policy.o \
	$(B)/policy/tbw.o \
	$(B)/policy/usage.o \
	$(B)/policy/low-disk.o \
	$(call PROTO_OBJ,vmm_swap_policy)

HISTORY_FILE_OBJS := $(B)/concierge/history-file.o

POLICY_TEST_LIBS = $(CMOCKA_LIBS) $(PROTOBUF_LIBS)

$(B)/tests/unit/test-history-codec: $(B)/tests/unit/test-history-codec.o $(POLICY_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-tbw: $(B)/tests/unit/test-tbw.o $(POLICY_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-usage: $(B)/tests/unit/test-usage.o $(POLICY_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-low-disk: $(B)/tests/unit/test-low-disk.o $(POLICY_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-swap-policy: $(B)/tests/unit/test-swap-policy.o $(POLICY_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

$(B)/tests/unit/test-history-file: $(B)/tests/unit/test-history-file.o $(HISTORY_FILE_OBJS) $(POLICY_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(POLICY_TEST_LIBS)

UNIT_TESTS += \
	$(B)/tests/unit/test-history-codec \
	$(B)/tests/unit/test-tbw \
	$(B)/tests/unit/test-usage \
	$(B)/tests/unit/test-low-disk \
	$(B)/tests/unit/test-swap-policy \
	$(B)/tests/unit/test-history-file
