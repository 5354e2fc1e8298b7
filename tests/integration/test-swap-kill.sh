#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm-swap engine without KVM: kill -9 a process running the engine in every swap state. The swap
# file is O_TMPFILE, so nothing may be left in the swap dir, and its space (a tmpfs here, so the
# blocks are visible) must be given back; nothing stays mounted and no process survives.
set -eu

BUILD_DIR=${BUILD_DIR:-build}
harness=$BUILD_DIR/tests/swap-harness
[ -x "$harness" ] || { echo "missing $harness (make B=$BUILD_DIR $harness)"; exit 1; }

dir=$(mktemp -d)
out=$(mktemp)
mounted=0 pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ $mounted = 1 ] && umount "$dir"
    rmdir "$dir"
    rm -f "$out"
}
trap cleanup EXIT

if mount -t tmpfs -o size=1g,mode=0700 tmpfs "$dir" 2>/dev/null; then
    mounted=1
else
    echo "note: cannot mount a tmpfs; checking only that the dir stays empty"
fi
used() { stat -f -c '%b %f' "$dir" | awk '{ print $1 - $2 }'; }

for state in ready pending trim_in_progress swap_out_in_progress active swap_in_in_progress failed; do
    : >"$out"
    "$harness" hold "$dir" "$state" >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
        grep -q '^HOLD' "$out" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^HOLD' "$out"; then
        rc=0
        wait "$pid" || rc=$?
        pid=
        [ $rc = 77 ] && { cat "$out"; exit 77; }
        echo "harness did not reach $state:"; cat "$out"; exit 1
    fi
    line=$(grep '^HOLD' "$out")
    # The stable states must really be held; a transient one may have finished before the print.
    case $state in
    ready | pending | active | failed)
        [[ "$line" == "HOLD $state (now $state)"* ]] || { echo "harness did not hold $state: $line"; exit 1; } ;;
    esac
    before=$([ $mounted = 1 ] && used || echo 0)
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    after=$([ $mounted = 1 ] && used || echo 0)
    echo "$line: tmpfs blocks used before kill $before, after $after"
    [ -z "$(ls -A "$dir")" ] || { echo "swap dir not empty after kill -9 in $state"; ls -la "$dir"; exit 1; }
    [ "$after" = 0 ] || { echo "swap file space not released after kill -9 in $state"; exit 1; }
    case $state in
    active | failed) [ $mounted = 0 ] || [ "$before" -gt 0 ] || { echo "no swap file blocks seen in $state"; exit 1; } ;;
    esac
done
if pgrep -f "$harness hold" >/dev/null; then
    echo "a harness process survived"; exit 1
fi
echo "test-swap-kill: OK"
