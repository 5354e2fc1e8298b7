# SPDX-License-Identifier: LGPL-2.1-or-later
# tests/: the test guest, cmocka unit tests and integration-test support.
# Each module.mk adds its own unit tests to UNIT_TESTS; tests/unit/test-<module>.c per module.

CMOCKA_TEST_LIBS = $(CMOCKA_LIBS)

include tests/guest/module.mk
include tests/fuzz/module.mk
