#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon integration tests again, with vm_concierge under valgrind (memcheck, full leak
# check, every leak kind an error): any invalid access, uninitialised use or leak fails.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${BUILD_DIR:-build}

command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
# An ASan build cannot run under valgrind (and ASan checks the same tests itself).
if [ "${ASAN:-0}" = 1 ] || grep -qs -- '-fsanitize' "$BUILD_DIR/flags.stamp"; then
        echo "SKIP: ASan build (the ASan run of the same tests covers it)"
        exit 77
fi

for t in test-daemon-basic.sh test-daemon-bad-input.sh test-daemon-lifecycle.sh test-daemon-vms.sh \
        test-daemon-vms-bad.sh test-daemon-vms-cycles.sh; do
        echo "=== $t under valgrind"
        rc=0
        VALGRIND=1 BUILD_DIR=$BUILD_DIR "$here/$t" || rc=$?
        # The VM tests skip without /dev/kvm; the others still count.
        [ "$rc" = 0 ] || [ "$rc" = 77 ] || exit "$rc"
done
echo "valgrind: no errors, no leaks"
