#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm-swap engine without KVM: the swap dir is a 16 MiB tmpfs that fills up during swap-out of
# 64 MiB. Expect: the error in last_error, state back to Pending, every page still readable with
# the same content, a second attempt failing the same way, and disable working afterwards.
set -eu

BUILD_DIR=${BUILD_DIR:-build}
harness=$BUILD_DIR/tests/swap-harness
[ -x "$harness" ] || { echo "missing $harness (make B=$BUILD_DIR $harness)"; exit 1; }

dir=$(mktemp -d)
mounted=0 pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ $mounted = 1 ] && umount "$dir"
    rmdir "$dir"
}
trap cleanup EXIT

if ! mount -t tmpfs -o size=16m,mode=0700 tmpfs "$dir" 2>/dev/null; then
    echo "SKIP: cannot mount a tmpfs (not permitted here)"
    exit 77
fi
mounted=1

"$harness" enospc "$dir" 64 &
pid=$!
rc=0
wait "$pid" || rc=$?
pid=
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "swap-harness enospc failed (exit $rc)"; exit 1; }
used=$(stat -f -c '%b %f' "$dir" | awk '{ print $1 - $2 }')
[ "$used" = 0 ] || { echo "tmpfs still holds $used blocks after exit"; exit 1; }
echo "test-swap-enospc: OK"
