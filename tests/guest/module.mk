# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/guest/: the freestanding x86-64 test guest, built to $(B)/guest/testguest.elf.
# Never built with sanitizers or the host's hardening flags: it runs on bare (virtual) metal.
GUEST_ELF := $(B)/guest/testguest.elf
GUEST_SRCS := entry.S ring0.c lib.c uart.c mem.c balloon.c main.c bench.c
GUEST_OBJS := $(addprefix $(B)/guest/obj/,$(addsuffix .o,$(basename $(GUEST_SRCS))))
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes \
	-ffreestanding -fno-builtin -nostdlib -fno-pic -fno-pie -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -mno-red-zone -mgeneral-regs-only \
	-mcmodel=small -fcf-protection=none -fno-strict-aliasing -MD -MP

$(B)/guest/obj/%.o: tests/guest/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(B)/guest/obj/%.o: tests/guest/%.S $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,AS,$@)
	$(Q)$(CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_ELF): $(GUEST_OBJS) tests/guest/linker.ld
	$(call say,LD,$@)
	$(Q)$(LD) -nostdlib -static -T tests/guest/linker.ld -z max-page-size=4096 --build-id=none -o $@ $(GUEST_OBJS)

BINS += $(GUEST_ELF)
