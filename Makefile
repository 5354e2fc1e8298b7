# SPDX-License-Identifier: LGPL-2.1-or-later
# vm_concierge: one non-recursive GNU make build into $(B)/.
#
#   make                 all binaries, the test guest and the tests
#   make check           build and run every test (prints what ran and what passed)
#   make demo            private bus + daemon + vmc, then tear down
#   make deps            install the Debian packages the build and tests need (only when missing)
#   make install DESTDIR=... PREFIX=...
#   make clean
#   ASAN=1               ASan + UBSan build of everything, tests included
#
# Each folder adds its own targets in <folder>/module.mk; this file holds the rules they share.

B ?= build
ASAN ?= 0
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec/vm_concierge
DATADIR ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

CC ?= gcc
# Quiet by default ("  CC build/x.o"); V=1 shows the full commands.
V ?= 0
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2)
endif
PKG_CONFIG ?= pkg-config
PROTOC_C ?= protoc-c

# Debian packages the build, the tests and the demo need. `make deps` installs the missing ones.
DEPS_PKGS := gcc make pkg-config libsystemd-dev libprotobuf-c-dev protobuf-c-compiler libevent-dev \
	libcmocka-dev libjson-c-dev dbus systemd valgrind procps util-linux psmisc iproute2 coreutils jq

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

define deps_install
	missing=""; \
	for p in $(DEPS_PKGS); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing:$$missing"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
			{ echo "deps: apt-get install failed" >&2; exit 1; }; \
	fi
endef

.PHONY: deps
deps:
	@$(deps_install)
	@echo "deps: all present"

# Generated before anything else is read: installs missing packages first, then records the
# pkg-config flags, so that a fresh machine needs nothing but `make check`.
ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
-include $(B)/config.mk
endif
$(B)/config.mk: Makefile
	@mkdir -p $(B)
	@$(deps_install)
	@{ echo "PKG_CFLAGS := $$($(PKG_CONFIG) --cflags libsystemd libprotobuf-c libevent json-c cmocka)"; \
	   echo "SDBUS_LIBS := $$($(PKG_CONFIG) --libs libsystemd)"; \
	   echo "PROTOBUF_LIBS := $$($(PKG_CONFIG) --libs libprotobuf-c)"; \
	   echo "EVENT_LIBS := $$($(PKG_CONFIG) --libs libevent)"; \
	   echo "JSON_LIBS := $$($(PKG_CONFIG) --libs json-c)"; \
	   echo "CMOCKA_LIBS := $$($(PKG_CONFIG) --libs cmocka)"; } > $@.tmp && mv $@.tmp $@

WARNINGS := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Wdate-time -Wnested-externs -Wvla \
	-Wimplicit-fallthrough -Wundef -Wwrite-strings

CFLAGS ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARNINGS) -MD -MP -D_GNU_SOURCE -I. -I$(B) -fno-strict-aliasing \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -pthread
BASE_LDFLAGS := -pthread
ifeq ($(ASAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BASE_CFLAGS := $(filter-out -D_FORTIFY_SOURCE=2,$(BASE_CFLAGS)) $(SAN_FLAGS)
BASE_LDFLAGS += $(SAN_FLAGS)
endif
ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -DLIBEXECDIR='"$(LIBEXECDIR)"'
ALL_LDFLAGS = $(BASE_LDFLAGS) $(LDFLAGS)

# Rebuild everything when the flags change (e.g. switching ASAN=0/1).
FLAGS_STAMP := $(B)/flags.stamp
FLAGS_NOW = $(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@
.PHONY: FORCE
FORCE:

# --- shared pattern rules ---------------------------------------------------------------------
# Every proto/*.proto is compiled by protoc-c into $(B)/proto/; objects that include a generated header
# wait for all of them (order-only), and -MD picks up the real dependencies afterwards.
PROTO_SRCS := $(wildcard proto/*.proto)
PROTO_HDRS := $(patsubst %.proto,$(B)/%.pb-c.h,$(PROTO_SRCS))
PROTO_OBJ = $(B)/proto/$(1).pb-c.o

$(B)/proto/%.pb-c.c $(B)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	$(call say,PROTOC,$<)
	$(Q)$(PROTOC_C) -I. --c_out=$(B) $<

$(B)/proto/%.pb-c.o: $(B)/proto/%.pb-c.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

# Objects live under $(B)/obj/ (mirroring the source tree), so that binaries can be $(B)/<name>.
$(B)/obj/%.o: %.c $(FLAGS_STAMP) | $(PROTO_HDRS)
	@mkdir -p $(@D)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# Lists each module.mk extends.
BINS :=
UNIT_TESTS :=
TEST_SUPPORT :=
CLEAN_EXTRA :=

include dbus/module.mk
include policy/module.mk
include cgroups/module.mk
include vmm_backend/module.mk
include concierge/module.mk
-include concierge/lifecycle.mk
-include concierge/cpu-cgroups.mk
-include concierge/swap.mk
-include concierge/vm-dbus.mk
-include concierge/manager-swap.mk
include vmc/module.mk
include tests/module.mk

.PHONY: all
all: $(BINS) $(UNIT_TESTS) $(TEST_SUPPORT)

# `make check`: every unit test, then every integration/VMM test script, through one runner that
# prints PASS/FAIL/SKIP per test and a closing "N passed, N failed, N skipped" line.
.PHONY: check
check: all
	@BUILD_DIR=$(B) ASAN=$(ASAN) tests/run-tests.sh $(UNIT_TESTS) $(sort $(wildcard tests/integration/test-*.sh))

.PHONY: demo
demo: all
	@BUILD_DIR=$(B) tests/demo.sh

.PHONY: install
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(B)/vmc $(B)/vmmctl $(DESTDIR)$(BINDIR)/
	install -m 0755 $(B)/vm_concierge $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(B)/vmm_backend $(DESTDIR)$(LIBEXECDIR)/
	install -d $(DESTDIR)$(DATADIR)/dbus-1/system.d $(DESTDIR)$(DATADIR)/dbus-1/system-services \
		$(DESTDIR)$(DATADIR)/dbus-1/interfaces
	install -m 0644 dbus/org.chromium.VmConcierge.conf $(DESTDIR)$(DATADIR)/dbus-1/system.d/
	sed 's|@SBINDIR@|$(SBINDIR)|g' dbus/org.chromium.VmConcierge.service.in \
		> $(DESTDIR)$(DATADIR)/dbus-1/system-services/org.chromium.VmConcierge.service
	install -m 0644 dbus/org.chromium.VmConcierge.xml $(DESTDIR)$(DATADIR)/dbus-1/interfaces/
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' init/vm_concierge.service.in > $(DESTDIR)$(UNITDIR)/vm_concierge.service
	install -m 0644 init/vm_concierge.tmpfiles $(DESTDIR)$(TMPFILESDIR)/vm_concierge.conf
	install -m 0644 init/vm_concierge.sysusers $(DESTDIR)$(SYSUSERSDIR)/vm_concierge.conf

.PHONY: clean
clean:
	rm -rf $(B) $(CLEAN_EXTRA)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
