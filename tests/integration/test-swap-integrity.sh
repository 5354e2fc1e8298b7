#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm-swap engine without KVM: the issue-5 integrity sequence on a 512 MiB memfd "guest RAM"
# (256 MiB filled, some pages zero, the rest untouched; enable, verify from staging, refresh,
# trim, out, verify from the file, rewrite, enable/trim/out, disable, verify, exit while active)
# with its metric checks, then a concurrency run (a pausable writer thread like a vCPU, balloon
# MADV_REMOVE from another thread, op cycles including a refresh during swap-in).
set -eu

BUILD_DIR=${BUILD_DIR:-build}
harness=$BUILD_DIR/tests/swap-harness
[ -x "$harness" ] || { echo "missing $harness (make B=$BUILD_DIR $harness)"; exit 1; }

dir=$(mktemp -d /var/tmp/test-swap.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

run() {
    "$harness" "$@" &
    pid=$!
    rc=0
    wait "$pid" || rc=$?
    pid=
    [ $rc = 77 ] && exit 77
    [ $rc = 0 ] || { echo "swap-harness $1 failed (exit $rc)"; exit 1; }
    [ -z "$(ls -A "$dir")" ] || { echo "swap dir not empty after $1:"; ls -la "$dir"; exit 1; }
}

run integrity "$dir" 512 256 42
run stress "$dir"
echo "test-swap-integrity: OK"
