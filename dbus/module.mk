# SPDX-License-Identifier: LGPL-2.1-or-later
# dbus/: targets added by this folder (see the top-level Makefile for the shared rules).
