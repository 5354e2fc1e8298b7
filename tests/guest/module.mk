# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/guest/: the freestanding x86-64 test guest, built to $(B)/guest/testguest.elf.
