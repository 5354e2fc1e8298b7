# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# The integration-test harness: a private dbus-daemon and vm_concierge on it, in a temp dir of
# the test's own, torn down on exit. Source it from a test (`. "$(dirname "$0")/lib.sh"`); the
# test then runs with `set -eu`.
#
# Variables (set here, read by tests):
#   BUILD_DIR     build dir of the binaries (env, default build)
#   VMC PBTOOL VM_CONCIERGE   the binaries
#   TEST_TMP      the test's temp dir (removed on exit)
#   BUS_ADDRESS   the private bus (also exported as DBUS_SYSTEM_BUS_ADDRESS, so tools that
#                 default to the system bus land on it); set by start_bus
#   RUNTIME_DIR STATE_DIR     the daemon's dirs (in TEST_TMP)
#   DAEMON_PID DAEMON_LOG     set by start_daemon; DAEMON_EXIT is set by stop_daemon
#   DAEMON_ARGS   extra daemon arguments (an array; set before start_daemon)
#   VALGRIND=1    (env) run the daemon under valgrind; stop_daemon and the exit trap fail the
#                 test on any valgrind error or leak
#
# Functions:
#   start_bus [CONFIG]         start the private dbus-daemon (config default: private-bus.conf,
#                              which allows everything)
#   start_daemon [ARGS...]     start vm_concierge on it and wait until it owns its name
#   start_bus_and_daemon       both
#   stop_daemon [SIGNAL]       send SIGNAL (default TERM), wait, set DAEMON_EXIT (never fails
#                              the test by itself, except on valgrind errors)
#   daemon_alive               true while the daemon process runs
#   vmc ARGS...                build/vmc on the private bus
#   pb VERB ARGS...            build/tests/pbtool; call/call-raw/wait-signal get --address
#   bus_call METHOD [SIG ARGS...]   busctl call of a concierge method on the private bus
#   name_has_owner [NAME]      true when NAME (default org.chromium.VmConcierge) is owned
#   wait_for SECONDS CMD...    retry CMD every 0.1 s until it succeeds; fails after SECONDS
#   on_exit CMD                run CMD (a string) at teardown, before the daemon and bus stop
#   log MSG / fail MSG / skip REASON
#   assert_contains TEXT NEEDLE [WHAT] / assert_not_contains TEXT NEEDLE [WHAT]
#   assert_eq GOT WANT [WHAT]
set -eu

BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/$BUILD_DIR ;; esac
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMC=$BUILD_DIR/vmc
PBTOOL=$BUILD_DIR/tests/pbtool
VM_CONCIERGE=$BUILD_DIR/vm_concierge
CONCIERGE_NAME=org.chromium.VmConcierge
CONCIERGE_PATH=/org/chromium/VmConcierge

VALGRIND=${VALGRIND:-0}
DAEMON_PID=
DAEMON_EXIT=
BUS_PID=
BUS_ADDRESS=
DAEMON_ARGS=(${DAEMON_ARGS[@]+"${DAEMON_ARGS[@]}"})
_ON_EXIT=()
_VALGRIND_FAILED=0

log() { echo "== $*"; }
fail() {
        echo "FAIL: $*" >&2
        exit 1
}
skip() {
        echo "SKIP: $*"
        exit 77
}

assert_contains() {
        case "$1" in *"$2"*) ;; *) fail "${3:-output} does not contain '$2'; got: $1" ;; esac
}
assert_not_contains() {
        case "$1" in *"$2"*) fail "${3:-output} contains '$2'; got: $1" ;; *) ;; esac
}
assert_eq() {
        [ "$1" = "$2" ] || fail "${3:-value} is '$1', expected '$2'"
}

for _bin in "$VMC" "$PBTOOL" "$VM_CONCIERGE"; do
        [ -x "$_bin" ] || fail "$_bin is not built (make B=${BUILD_DIR##*/})"
done
command -v dbus-daemon >/dev/null || skip "dbus-daemon is not installed"
command -v busctl >/dev/null || skip "busctl is not installed"

# Short path: unix socket paths are limited to 108 bytes.
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vmct.XXXXXX")
RUNTIME_DIR=$TEST_TMP/run
STATE_DIR=$TEST_TMP/state

on_exit() { _ON_EXIT+=("$1"); }

wait_for() {
        local deadline=$(($(date +%s) + $1))
        shift
        until "$@"; do
                [ "$(date +%s)" -lt "$deadline" ] || return 1
                sleep 0.1
        done
}

name_has_owner() {
        busctl --address="$BUS_ADDRESS" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                NameHasOwner s "${1:-$CONCIERGE_NAME}" 2>/dev/null | grep -q '^b true$'
}

daemon_alive() { [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; }

start_bus() {
        BUS_ADDRESS=unix:path=$TEST_TMP/bus
        dbus-daemon --config-file="${1:-$LIB_DIR/private-bus.conf}" --address="$BUS_ADDRESS" --nofork \
                >"$TEST_TMP/bus.log" 2>&1 &
        BUS_PID=$!
        wait_for 10 test -S "$TEST_TMP/bus" || fail "dbus-daemon did not come up: $(cat "$TEST_TMP/bus.log")"
        export DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDRESS
        export BUS_ADDRESS
}

start_daemon() {
        local cmd=("$VM_CONCIERGE" --bus="$BUS_ADDRESS" --runtime-dir="$RUNTIME_DIR" --state-dir="$STATE_DIR"
                --log-level=debug ${DAEMON_ARGS[@]+"${DAEMON_ARGS[@]}"} "$@")
        local timeout=10

        [ -n "$BUS_ADDRESS" ] || fail "start_bus first"
        # Tests that do not choose CPU cgroups themselves get an emulated tree of their own, so that
        # parallel daemons never share (or leave behind) groups in the machine's real hierarchy.
        case " ${DAEMON_ARGS[*]+"${DAEMON_ARGS[*]}"} $* " in
        *" --cgroup-"*) ;;
        *) cmd+=(--cgroup-backend=emulated --cgroup-root="$TEST_TMP/cgroup") ;;
        esac
        if [ "$VALGRIND" = 1 ]; then
                command -v valgrind >/dev/null || skip "valgrind is not installed"
                cmd=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=all
                        --errors-for-leak-kinds=all --track-origins=yes --log-file="$TEST_TMP/valgrind.log"
                        "${cmd[@]}")
                timeout=60
        fi
        DAEMON_LOG=$TEST_TMP/daemon.log
        "${cmd[@]}" >>"$DAEMON_LOG" 2>&1 &
        DAEMON_PID=$!
        DAEMON_EXIT=
        if ! wait_for "$timeout" name_has_owner; then
                cat "$DAEMON_LOG" >&2
                fail "vm_concierge did not claim $CONCIERGE_NAME within ${timeout}s"
        fi
}

start_bus_and_daemon() {
        start_bus
        start_daemon "$@"
}

_check_valgrind() {
        [ "$VALGRIND" = 1 ] || return 0
        # Errors and leaks are "==PID==" lines; "--PID--" lines are valgrind's own notes, such as
        # "unhandled syscall: 434" for pidfd_open(), which the daemon answers by falling back to
        # SIGCHLD (concierge/vmm-process.c).
        if [ "$DAEMON_EXIT" = 99 ] || grep -q '^==' "$TEST_TMP/valgrind.log" 2>/dev/null; then
                echo "valgrind reported errors (exit $DAEMON_EXIT):" >&2
                cat "$TEST_TMP/valgrind.log" >&2
                _VALGRIND_FAILED=1
                return 1
        fi
}

_stop_daemon() {
        local sig=${1:-TERM} rc=0 i

        [ -n "$DAEMON_PID" ] || return 0
        kill -s "$sig" "$DAEMON_PID" 2>/dev/null || true
        # Give it 20 s (valgrind is slow), then kill it hard: a hung daemon fails the test.
        for ((i = 0; i < 200; i++)); do
                kill -0 "$DAEMON_PID" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
                kill -KILL "$DAEMON_PID" 2>/dev/null || true
                echo "vm_concierge did not exit after SIG$sig; killed" >&2
        fi
        wait "$DAEMON_PID" || rc=$?
        DAEMON_EXIT=$rc
        DAEMON_PID=
        _check_valgrind
}

stop_daemon() {
        _stop_daemon "$@" || fail "valgrind errors in vm_concierge"
}

vmc() { "$VMC" --address="$BUS_ADDRESS" "$@"; }

pb() {
        local verb=$1
        shift
        case "$verb" in
        call | call-raw | wait-signal) "$PBTOOL" "$verb" --address="$BUS_ADDRESS" "$@" ;;
        *) "$PBTOOL" "$verb" "$@" ;;
        esac
}

bus_call() {
        busctl --address="$BUS_ADDRESS" call "$CONCIERGE_NAME" "$CONCIERGE_PATH" "$CONCIERGE_NAME" "$@"
}

_lib_teardown() {
        local rc=$? c
        set +e
        for c in ${_ON_EXIT[@]+"${_ON_EXIT[@]}"}; do
                eval "$c"
        done
        if [ -n "$DAEMON_PID" ]; then
                _stop_daemon TERM
                [ "$DAEMON_EXIT" = 0 ] || echo "vm_concierge exited with $DAEMON_EXIT at teardown" >&2
        fi
        if [ -n "$BUS_PID" ]; then
                kill "$BUS_PID" 2>/dev/null
                wait "$BUS_PID" 2>/dev/null
        fi
        if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -s "${DAEMON_LOG:-/nonexistent}" ]; then
                echo "--- daemon log:" >&2
                tail -n 50 "$DAEMON_LOG" >&2
        fi
        rm -rf "$TEST_TMP"
        [ "$_VALGRIND_FAILED" = 1 ] && [ "$rc" = 0 ] && rc=1
        exit "$rc"
}
trap _lib_teardown EXIT
trap 'exit 130' INT TERM
