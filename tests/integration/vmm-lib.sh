# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Helpers for the VMM tests (test-vmm-*.sh): start build/vmm_backend on the test guest in a
# temp dir, wait for READY, talk to the guest over ttyS1 (build/tests/guestchan), wait for exits.
# Every VMM started here is killed at exit. Source it: `. "$(dirname "$0")/vmm-lib.sh"`.
#
#   vmm_start NAME [ARGS...]   start a VMM (serial log $TMP/NAME.log, guest channel $TMP/NAME.sock,
#                              stderr $TMP/NAME.err); sets VMM_PID. VMM_WRAPPER (array) prefixes it.
#   vmm_wait_ready NAME        wait (30 s) for "TESTGUEST READY" in the serial log
#   chan NAME CMD...           send commands to the guest, print the replies
#   vmm_wait_exit PID [SECS]   wait for the VMM to exit (default 30 s); sets VMM_RC
#   assert_eq GOT WANT WHAT / assert_match TEXT REGEX WHAT / fail MSG / log MSG
set -eu

BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/$BUILD_DIR ;; esac
VMM=$BUILD_DIR/vmm_backend
GUEST=$BUILD_DIR/guest/testguest.elf
GUESTCHAN=$BUILD_DIR/tests/guestchan
VMMCTL=$BUILD_DIR/vmmctl
VMM_WRAPPER=(${VMM_WRAPPER[@]+"${VMM_WRAPPER[@]}"})

log() { echo "== $*"; }
fail() {
        echo "FAIL: $*" >&2
        exit 1
}
assert_eq() { [ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"; }
assert_match() { [[ "$1" =~ $2 ]] || fail "$3: '$1' does not match /$2/"; }

for f in "$VMM" "$GUEST" "$GUESTCHAN"; do
        [ -e "$f" ] || fail "$f is not built"
done
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        echo "SKIP: /dev/kvm not available"
        exit 77
fi

TMP=$(mktemp -d)
_VMM_PIDS=()
_vmm_cleanup() {
        local p
        for p in ${_VMM_PIDS[@]+"${_VMM_PIDS[@]}"}; do
                kill -KILL "$p" 2>/dev/null || true
                wait "$p" 2>/dev/null || true
        done
        rm -rf "$TMP"
}
trap _vmm_cleanup EXIT

vmm_start() {
        local name=$1
        shift
        rm -f "$TMP/$name.log" "$TMP/$name.sock"
        ${VMM_WRAPPER[@]+"${VMM_WRAPPER[@]}"} "$VMM" --kernel "$GUEST" --serial-log "$TMP/$name.log" \
                --serial1-socket "$TMP/$name.sock" "$@" 2>"$TMP/$name.err" &
        VMM_PID=$!
        _VMM_PIDS+=("$VMM_PID")
}

vmm_wait_ready() {
        local name=$1 i
        for i in $(seq 300); do
                grep -q "TESTGUEST READY" "$TMP/$name.log" 2>/dev/null && return 0
                kill -0 "$VMM_PID" 2>/dev/null || { cat "$TMP/$name.err" >&2; fail "$name: the VMM exited before READY"; }
                sleep 0.1
        done
        cat "$TMP/$name.err" "$TMP/$name.log" >&2 || true
        fail "$name: no TESTGUEST READY within 30 s"
}

chan() {
        local name=$1
        shift
        "$GUESTCHAN" "$TMP/$name.sock" "$@"
}

vmm_wait_exit() {
        local pid=$1 secs=${2:-30} i
        for i in $(seq $((secs * 10))); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && fail "VMM $pid still running after $secs s"
        VMM_RC=0
        wait "$pid" || VMM_RC=$?
}
