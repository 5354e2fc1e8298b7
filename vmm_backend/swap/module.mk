# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend/swap/: vmm-swap (see swap.h). VMM_SWAP_OBJS goes into the VMM binary; the engine alone
# (SWAP_ENGINE_OBJS) needs no KVM, VM or control server, so tests and the benchmark link just that.
SWAP_ENGINE_OBJS := $(B)/obj/vmm_backend/swap/swap-engine.o $(B)/obj/vmm_backend/swap/swap-fault.o \
	$(B)/obj/vmm_backend/swap/swap-jobs.o $(B)/obj/vmm_backend/swap/swap-in.o \
	$(B)/obj/vmm_backend/swap/swap-pages.o $(B)/obj/vmm_backend/swap/uffd.o
VMM_SWAP_OBJS := $(SWAP_ENGINE_OBJS) $(B)/obj/vmm_backend/swap/swap-vmm.o

# cmocka unit tests of the engine (SKIP without userfaultfd)
$(B)/tests/test-swap-engine: $(B)/obj/tests/unit/test-swap-engine.o $(SWAP_ENGINE_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) -o $@ $^ $(ALL_LDFLAGS) $(CMOCKA_LIBS)
UNIT_TESTS += $(B)/tests/test-swap-engine

# The engine driver behind tests/integration/test-swap-*.sh (integrity, ENOSPC, kill -9 holds).
$(B)/tests/swap-harness: $(B)/obj/tests/unit/test-swap-harness.o $(SWAP_ENGINE_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) -o $@ $^ $(ALL_LDFLAGS)
TEST_SUPPORT += $(B)/tests/swap-harness

# bench/swap.sh runs this (not part of `all`).
$(B)/bench/swap-bench: $(B)/obj/bench/swap-bench.o $(SWAP_ENGINE_OBJS)
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(Q)$(CC) -o $@ $^ $(ALL_LDFLAGS)
