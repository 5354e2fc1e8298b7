#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon's life: vmc without a daemon, READY=1 to the service manager, SIGTERM and SIGINT
# end it with exit 0 and nothing left behind, a second instance is refused, losing the bus ends
# it, bad command lines are refused.
. "$(dirname "$0")/lib.sh"

leftovers() { pgrep -f "vm_concierge.*$TEST_TMP" || true; }

start_bus

log "vmc against a bus without the daemon: clear message, exit 1"
rc=0
out=$(vmc list 2>&1) || rc=$?
assert_eq "$rc" 1 "vmc list exit code without a daemon"
assert_contains "$out" "vm_concierge is not running"
rc=0
out=$("$VMC" --address=unix:path="$TEST_TMP/no-such-socket" info vm 2>&1) || rc=$?
assert_eq "$rc" 1 "vmc exit code without a bus"
assert_contains "$out" "cannot connect to the D-Bus"

log "bad command lines exit 2 without touching anything"
for args in --log-level=loud --runtime-dir=relative/dir --state-dir= --vmm-path=x --bus= extra-arg --no-such-flag; do
        rc=0
        "$VM_CONCIERGE" "$args" >"$TEST_TMP/out" 2>&1 || rc=$?
        assert_eq "$rc" 2 "exit code of vm_concierge $args"
done
"$VM_CONCIERGE" --help | grep -q -- "--runtime-dir" || fail "vm_concierge --help"

log "an unusable runtime dir: exit 1 with the reason"
touch "$TEST_TMP/a-file"
rc=0
"$VM_CONCIERGE" --bus="$BUS_ADDRESS" --runtime-dir="$TEST_TMP/a-file/run" --state-dir="$STATE_DIR" \
        >"$TEST_TMP/out" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit code with a runtime dir under a file"
assert_contains "$(cat "$TEST_TMP/out")" "Failed to create runtime directory"

log "READY=1 reaches the service manager's notify socket"
if command -v python3 >/dev/null; then
        python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(60)
open(sys.argv[2], "w").write("bound\n")
open(sys.argv[2], "a").write(s.recv(4096).decode() + "\n")
' "$TEST_TMP/notify" "$TEST_TMP/notify.out" &
        notify_pid=$!
        on_exit "kill $notify_pid 2>/dev/null; wait $notify_pid 2>/dev/null"
        wait_for 10 grep -qs bound "$TEST_TMP/notify.out" || fail "notify listener did not start"
        NOTIFY_SOCKET=$TEST_TMP/notify start_daemon
        wait_for 10 grep -qs READY=1 "$TEST_TMP/notify.out" || fail "no READY=1: $(cat "$TEST_TMP/notify.out")"
else
        echo "   (python3 missing: READY=1 not checked)"
        start_daemon
fi

log "a second daemon on the same bus is refused"
rc=0
"$VM_CONCIERGE" --bus="$BUS_ADDRESS" --runtime-dir="$RUNTIME_DIR" --state-dir="$STATE_DIR" \
        >"$TEST_TMP/second.log" 2>&1 || rc=$?
assert_eq "$rc" 1 "second daemon exit code"
assert_contains "$(cat "$TEST_TMP/second.log")" "is already owned on this bus"
vmc list >/dev/null || fail "the first daemon stopped answering"

log "SIGTERM: exit 0, name released, nothing left behind"
stop_daemon TERM
assert_eq "$DAEMON_EXIT" 0 "exit code after SIGTERM"
assert_eq "$(leftovers)" "" "leftover processes"
name_has_owner && fail "the name is still owned after exit"

log "SIGINT: exit 0"
start_daemon
stop_daemon INT
assert_eq "$DAEMON_EXIT" 0 "exit code after SIGINT"

log "losing the bus ends the daemon (exit 1), it does not spin or hang"
start_daemon
kill "$BUS_PID"
wait "$BUS_PID" 2>/dev/null || true
BUS_PID=
wait_for 20 eval '! daemon_alive' || fail "vm_concierge still runs after its bus went away"
stop_daemon
assert_eq "$DAEMON_EXIT" 1 "exit code after losing the bus"
assert_contains "$(cat "$DAEMON_LOG")" "Lost the bus connection"
assert_eq "$(leftovers)" "" "leftover processes"
log "PASS"
