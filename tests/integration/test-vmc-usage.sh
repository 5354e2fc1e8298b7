#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmc's verbs without VMs: usage errors exit 2 and say what is wrong; files vmc cannot use and an
# absent daemon exit 1 with a clear message; verbs against a daemon without VMs behave.
. "$(dirname "$0")/lib.sh"

export CROS_USER_ID_HASH=c0ffee

# run CMD...: its exit status in $RC, its stdout+stderr in $OUT.
run() {
        RC=0
        OUT=$("$@" 2>&1) || RC=$?
}

start_bus
printf 'not a kernel' >"$TEST_TMP/notkernel"
: >"$TEST_TMP/empty"

log "usage errors exit 2, before any call"
while IFS= read -r args; do
        # shellcheck disable=SC2086
        run vmc $args; assert_eq "$RC" 2 "exit code of 'vmc $args' ($OUT)"
        assert_contains "$OUT" "vmc: " "message of 'vmc $args'"
done <<EOF
start
start vm
start --kernel $TEST_TMP/notkernel
start a b --kernel $TEST_TMP/notkernel
start vm --kernel $TEST_TMP/notkernel --mem 0
start vm --kernel $TEST_TMP/notkernel --mem lots
start vm --kernel $TEST_TMP/notkernel --cpus -1
start vm --kernel $TEST_TMP/notkernel --vm-type windows
start vm --kernel $TEST_TMP/notkernel --bogus
stop
stop a b
stop-all extra
suspend
resume a b
logs
logs a b
logs a --bogus
--json logs a --follow
console
console a --linger soon
--json console a
wait a
wait a --for=running
wait a --for=started --timeout=-1
wait --for=stopped
EOF
OUT=$(vmc start vm --kernel "$TEST_TMP/notkernel" --mem 0 2>&1) || true
assert_contains "$OUT" "--mem takes MiB" "message of a bad --mem"
OUT=$(vmc wait a --for=running 2>&1) || true
assert_contains "$OUT" "--for is started or stopped" "message of a bad --for"

log "files vmc cannot use: exit 1 with the reason, before any call"
run vmc start vm --kernel "$TEST_TMP/nonexistent"; assert_eq "$RC" 1 "missing kernel"
assert_contains "$OUT" "cannot open the kernel '$TEST_TMP/nonexistent': No such file or directory"
run vmc start vm --kernel "$TEST_TMP"; assert_eq "$RC" 1 "kernel is a directory"
assert_contains "$OUT" "is not a regular file"
run vmc start vm --kernel "$TEST_TMP/empty"; assert_eq "$RC" 1 "empty kernel"
assert_contains "$OUT" "is empty"
run vmc start vm --kernel "$TEST_TMP/notkernel" --initrd "$TEST_TMP/nonexistent"; assert_eq "$RC" 1 "missing initrd"
assert_contains "$OUT" "cannot open the initrd"

log "no daemon on the bus: exit 1, 'not running'"
for args in "start vm --kernel $TEST_TMP/notkernel" "stop vm" "stop-all" "suspend vm" "resume vm" "logs vm" \
        "console vm" "wait vm --for=stopped" "list" "info vm"; do
        # shellcheck disable=SC2086
        run vmc $args; assert_eq "$RC" 1 "exit code of 'vmc $args' without a daemon"
        assert_contains "$OUT" "vm_concierge is not running" "'vmc $args' without a daemon"
done

# This build's VMM (when built), so that a refused kernel is refused by the VMM itself.
[ ! -x "$BUILD_DIR/vmm_backend" ] || DAEMON_ARGS+=(--vmm-path="$BUILD_DIR/vmm_backend")
start_daemon

log "a daemon without VMs"
run vmc list; assert_eq "$RC" 0 "vmc list"
assert_contains "$OUT" "No VMs for owner c0ffee"
run vmc --json list; assert_eq "$RC" 0 "vmc --json list"
assert_eq "$(printf '%s' "$OUT" | jq -c .vms)" "[]" "vmc --json list"
run vmc info ghost; assert_eq "$RC" 1 "vmc info of an unknown VM"
run vmc logs ghost; assert_eq "$RC" 1 "vmc logs of an unknown VM"
assert_contains "$OUT" "no log of VM 'ghost'"
run vmc logs --follow ghost; assert_eq "$RC" 1 "vmc logs --follow of an unknown VM"
run vmc console ghost; assert_eq "$RC" 1 "vmc console of an unknown VM"
assert_contains "$OUT" "no VM 'ghost'"
# As upstream: stopping, suspending or resuming an unknown VM is not an error.
run vmc stop ghost; assert_eq "$RC" 0 "vmc stop of an unknown VM ($OUT)"
run vmc stop-all; assert_eq "$RC" 0 "vmc stop-all ($OUT)"
# An unknown VM is already stopped; waiting for it to start times out.
run vmc wait ghost --for=stopped --timeout 5; assert_eq "$RC" 0 "wait --for=stopped of an unknown VM ($OUT)"
run vmc --json wait ghost --for=stopped; assert_eq "$RC" 0 "wait --json"
assert_eq "$(printf '%s' "$OUT" | jq -r .state)" stopped "wait --json state"
run vmc wait ghost --for=started --timeout 0.3; assert_eq "$RC" 1 "wait --for=started of an unknown VM"
assert_contains "$OUT" "timed out waiting for VM 'ghost' to be started"
# The daemon refuses a file that is not a kernel; nothing is left behind.
run vmc start vm --kernel "$TEST_TMP/notkernel"; assert_eq "$RC" 1 "start with a file that is not a kernel"
assert_contains "$OUT" "starting VM 'vm' failed: "
assert_contains "$(vmc list)" "No VMs" "VMs after a refused start"

log "vmc wait ends when the daemon leaves the bus"
# vmc wait subscribes, then asks ListVms: once the daemon logged that call, it is listening.
n_list() { grep -c "ListVms for owner c0ffee" "$DAEMON_LOG" || true; }
before=$(n_list)
vmc wait ghost2 --for=started >"$TEST_TMP/wait.out" 2>&1 &
WAIT_PID=$!
on_exit 'kill "$WAIT_PID" 2>/dev/null || true'
listed_again() { [ "$(n_list)" -gt "$before" ]; }
wait_for 10 listed_again || fail "vmc wait did not call ListVms"
stop_daemon
rc=0
wait "$WAIT_PID" || rc=$?
assert_eq "$rc" 1 "vmc wait when the daemon leaves"
assert_contains "$(cat "$TEST_TMP/wait.out")" "vm_concierge left the bus"
log "PASS"
