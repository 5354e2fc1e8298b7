# SPDX-License-Identifier: LGPL-2.1-or-later
# concierge/: the per-VM D-Bus objects (vm-dbus.c) and their tests.
#
#   VM_DBUS_OBJS   linked into vm_concierge next to $(CONCIERGE_OBJS) (needs $(SDBUS_LIBS))

VM_DBUS_OBJS := $(B)/concierge/vm-dbus.o
