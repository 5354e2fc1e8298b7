#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmmctl's command line without a VMM: usage errors exit 2, an unreachable socket exits 1 with a
# clear message (also as JSON), and sizes with units are accepted or refused as documented.
set -eu

BUILD_DIR=${BUILD_DIR:-build}
VMMCTL=$BUILD_DIR/vmmctl
[ -x "$VMMCTL" ] || { echo "FAIL: $VMMCTL not built"; exit 1; }

tmp=$(mktemp -d)
cleanup() {
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

expect_rc() { # expected-rc description command...
    local want=$1 what=$2 rc=0
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" = "$want" ] || { cat "$tmp/out" "$tmp/err"; fail "$what: exit $rc, expected $want"; }
    echo "ok: $what (exit $rc)"
}

sock=$tmp/none.sock

expect_rc 0 "--help" "$VMMCTL" --help
grep -q "balloon set SIZE" "$tmp/out" || fail "--help does not document balloon set"
expect_rc 2 "no arguments" "$VMMCTL"
expect_rc 2 "socket without operation" "$VMMCTL" "$sock"
expect_rc 2 "unknown operation" "$VMMCTL" "$sock" frobnicate
grep -q "unknown operation 'frobnicate'" "$tmp/err" || fail "no message for the unknown operation"
expect_rc 2 "unknown option" "$VMMCTL" "$sock" status --bogus
expect_rc 2 "extra argument" "$VMMCTL" "$sock" status extra
expect_rc 2 "--timeout without value" "$VMMCTL" "$sock" status --timeout
expect_rc 2 "--timeout 0" "$VMMCTL" "$sock" status --timeout 0
expect_rc 2 "--timeout garbage" "$VMMCTL" "$sock" status --timeout 12x
expect_rc 2 "balloon without sub-op" "$VMMCTL" "$sock" balloon
expect_rc 2 "balloon set without size" "$VMMCTL" "$sock" balloon set
for bad in "" "-1" "12Q" "1.5G" "M" "99999999999999999999" "20000000T" " 5"; do
    expect_rc 2 "balloon set '$bad'" "$VMMCTL" "$sock" balloon set "$bad"
done
expect_rc 2 "swap without sub-op" "$VMMCTL" "$sock" swap
expect_rc 2 "swap bogus" "$VMMCTL" "$sock" swap bogus
expect_rc 2 "watchdog enable 0" "$VMMCTL" "$sock" watchdog enable 0
expect_rc 2 "test-raw-hex odd digits" "$VMMCTL" "$sock" test-raw-hex abc
expect_rc 2 "test-raw-hex non-hex" "$VMMCTL" "$sock" test-raw-hex zz
expect_rc 2 "test-garbage count" "$VMMCTL" "$sock" test-garbage -3

# Valid sizes get as far as connecting (exit 1: nobody listens).
for good in 0 4096 64K 64KiB 1M 128MiB 1G 2GiB 1T 1000KB 5MB 1GB; do
    expect_rc 1 "balloon set $good (no VMM)" "$VMMCTL" "$sock" balloon set "$good"
    grep -q "cannot connect to $sock" "$tmp/err" || fail "balloon set $good: no connect error"
done

expect_rc 1 "status without VMM" "$VMMCTL" "$sock" status
grep -q "No such file or directory (ENOENT)" "$tmp/err" || fail "status: unclear connect error: $(cat "$tmp/err")"
expect_rc 1 "status --json without VMM" "$VMMCTL" "$sock" status --json
grep -q '"ok":false' "$tmp/out" || fail "--json error output: $(cat "$tmp/out")"
grep -q '"errno":"ENOENT"' "$tmp/out" || fail "--json errno: $(cat "$tmp/out")"

# A path that is not a socket.
touch "$tmp/file"
expect_rc 1 "status on a regular file" "$VMMCTL" "$tmp/file" status
grep -q "ECONNREFUSED" "$tmp/err" || fail "regular file: $(cat "$tmp/err")"

# (A VMM that never answers is covered by test-libvmmctl: test_blocking_calls.)
echo "PASS"
