#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmc's lifecycle verbs against a daemon running real VMs (vmm_backend + the test guest): start
# (fds, options reaching the VMM), list/info in text and JSON, wait for started/stopped (also a
# wait begun before the start), logs and logs --follow, console without a terminal (commands in,
# answers out; suspended guest does not answer), suspend/resume, stop, stop-all.
. "$(dirname "$0")/daemon-vms-lib.sh"

export CROS_USER_ID_HASH=5eed
OWNER=5eed

run() {
        RC=0
        OUT=$("$@" 2>&1) || RC=$?
}
bg_pids=()
on_exit 'for p in ${bg_pids[@]+"${bg_pids[@]}"}; do kill "$p" 2>/dev/null || true; done'

start_bus
start_signal_monitor
start_daemon

log "vmc wait --for=started, begun before the VM exists"
n_list() { grep -c "ListVms for owner $OWNER" "$DAEMON_LOG" || true; }
before=$(n_list)
vmc wait alpha --for=started --timeout 60 >"$TEST_TMP/wait-start.out" 2>&1 &
WAIT_START=$!
bg_pids+=("$WAIT_START")
listed_again() { [ "$(n_list)" -gt "$before" ]; }
wait_for 10 listed_again || fail "vmc wait did not look at the VMs"

log "vmc start"
run vmc start alpha --kernel "$GUEST" --mem 64 --cpus 1 --cmdline quiet --enable-balloon --vm-type termina
assert_eq "$RC" 0 "vmc start ($OUT)"
assert_contains "$OUT" "VM alpha of owner $OWNER: running (cid "
rc=0
wait "$WAIT_START" || rc=$?
assert_eq "$rc" 0 "the earlier vmc wait --for=started: $(cat "$TEST_TMP/wait-start.out")"
assert_eq "$(cat "$TEST_TMP/wait-start.out")" "VM alpha is started." "vmc wait output"

info=$(vm_info $OWNER alpha)
pid=$(field "$info" vm_info.pid)
cmd=$(tr '\0' ' ' </proc/"$pid"/cmdline)
assert_contains "$cmd" "--balloon" "the VMM's command line (--enable-balloon)"
assert_contains "$cmd" "--cmdline quiet" "the VMM's command line (--cmdline)"
assert_eq "$(field "$info" vm_info.memory_mib)" 64 "memory_mib from --mem"
assert_eq "$(field "$info" vm_info.vm_type)" TERMINA "vm_type from --vm-type"
# The kernel reached the daemon as an fd: vmc holds nothing open afterwards, and the VM runs.
run vmc start alpha --kernel "$GUEST"
assert_eq "$RC" 0 "vmc start of a running VM ($OUT)"
assert_contains "$OUT" "running (cid $(field "$info" vm_info.cid), pid $pid)" "second vmc start"

log "vmc list and info, text and JSON"
run vmc list
assert_eq "$RC" 0 "vmc list"
assert_contains "$OUT" "alpha"
assert_contains "$OUT" "running"
assert_contains "$OUT" "64 MiB"
run vmc --json list
assert_eq "$(printf '%s' "$OUT" | jq -r '.vms[0].name')" alpha "vmc --json list name"
assert_eq "$(printf '%s' "$OUT" | jq -r '.vms[0].pid')" "$pid" "vmc --json list pid"
run vmc info alpha
assert_eq "$RC" 0 "vmc info"
assert_contains "$OUT" "PID:          $pid"
assert_contains "$OUT" "Channel:      $(field "$info" vm_info.channel_socket)"
run vmc --json info alpha
j=$OUT
assert_eq "$(printf '%s' "$j" | jq -r .status)" running "info status"
assert_eq "$(printf '%s' "$j" | jq -r .cid)" "$(field "$info" vm_info.cid)" "info cid"
assert_eq "$(printf '%s' "$j" | jq -r .pid)" "$pid" "info pid"
assert_eq "$(printf '%s' "$j" | jq -r .memory_mib)" 64 "info memory_mib"
assert_eq "$(printf '%s' "$j" | jq -r .vm_type)" termina "info vm_type"
assert_eq "$(printf '%s' "$j" | jq -r .channel_socket)" "$(field "$info" vm_info.channel_socket)" "info channel"

log "vmc wait: started now, stopped times out while it runs"
run vmc wait alpha --for=started --timeout 5
assert_eq "$RC" 0 "wait --for=started of a running VM ($OUT)"
run vmc wait alpha --for=stopped --timeout 0.5
assert_eq "$RC" 1 "wait --for=stopped of a running VM"
assert_contains "$OUT" "timed out"

log "vmc logs"
wait_for 10 sh -c "'$VMC' --address='$BUS_ADDRESS' logs alpha | grep -q 'TESTGUEST READY'" ||
        fail "vmc logs has no TESTGUEST READY: $(vmc logs alpha 2>&1)"
run vmc --json logs alpha
assert_eq "$RC" 0 "vmc --json logs"
assert_contains "$(printf '%s' "$OUT" | jq -r .log)" "TESTGUEST READY" "vmc --json logs"

log "vmc console without a terminal: a command in, its answer out"
run sh -c "echo ping | '$VMC' --address='$BUS_ADDRESS' console alpha --linger 1"
assert_eq "$RC" 0 "vmc console ($OUT)"
assert_contains "$OUT" "PONG" "answer through vmc console"
# One client at a time: a second console is turned away while the first is attached. The first
# reads a FIFO this shell holds open; its answer to a ping proves it is attached.
mkfifo "$TEST_TMP/console.in"
vmc console alpha --linger 0.2 <"$TEST_TMP/console.in" >"$TEST_TMP/console1.out" 2>&1 &
FIRST=$!
bg_pids+=("$FIRST")
exec 9>"$TEST_TMP/console.in"
echo ping >&9
wait_for 10 grep -q PONG "$TEST_TMP/console1.out" || fail "the first console got no answer"
run sh -c "echo ping | '$VMC' --address='$BUS_ADDRESS' console alpha --linger 1"
assert_eq "$RC" 1 "second vmc console"
assert_contains "$OUT" "guest channel closed"
exec 9>&-
rc=0
wait "$FIRST" || rc=$?
assert_eq "$rc" 0 "the first console after its input ended: $(cat "$TEST_TMP/console1.out")"

log "vmc console on a terminal (script(1) gives it a pty): raw mode, Ctrl-] detaches"
if command -v script >/dev/null; then
        mkfifo "$TEST_TMP/tty.in"
        script -q -e -c "'$VMC' --address='$BUS_ADDRESS' console alpha" /dev/null <"$TEST_TMP/tty.in" \
                >"$TEST_TMP/tty.out" 2>&1 &
        TTY=$!
        bg_pids+=("$TTY")
        exec 8>"$TEST_TMP/tty.in"
        printf 'ping\n' >&8
        wait_for 10 grep -q PONG "$TEST_TMP/tty.out" || fail "no answer on the terminal: $(cat -A "$TEST_TMP/tty.out")"
        printf '\035' >&8
        rc=0
        wait "$TTY" || rc=$?
        exec 8>&-
        assert_eq "$rc" 0 "vmc console on a terminal after Ctrl-]: $(cat -A "$TEST_TMP/tty.out")"
        assert_contains "$(cat "$TEST_TMP/tty.out")" "Press Ctrl-] to detach" "terminal banner"
        assert_contains "$(cat "$TEST_TMP/tty.out")" "vmc: detached." "terminal detach message"
        # Raw mode: the guest's bare "\n" reaches the terminal untranslated (no "\r\n" from OPOST).
        grep -q $'^PONG$' "$TEST_TMP/tty.out" || fail "the console did not run in raw mode: $(cat -A "$TEST_TMP/tty.out")"
else
        log "(skipped: script(1) is not installed)"
fi

log "vmc suspend / resume: the guest stops answering, then answers"
run vmc suspend alpha
assert_eq "$RC" 0 "vmc suspend ($OUT)"
assert_eq "$(busctl --address="$BUS_ADDRESS" get-property $CONCIERGE_NAME /org/chromium/VmConcierge/vm/_35eed/alpha \
        org.chromium.VmConcierge.Vm State)" 's "suspended"' "State after vmc suspend"
run sh -c "echo ping | '$VMC' --address='$BUS_ADDRESS' console alpha --linger 0.7"
assert_not_contains "$OUT" "PONG" "console output while suspended"
run vmc resume alpha
assert_eq "$RC" 0 "vmc resume ($OUT)"
run sh -c "echo ping | '$VMC' --address='$BUS_ADDRESS' console alpha --linger 1"
assert_contains "$OUT" "PONG" "console output after resume"

log "vmc logs --follow prints, then ends when the VM stops; vmc wait --for=stopped sees it"
vmc logs alpha --follow >"$TEST_TMP/follow.out" 2>"$TEST_TMP/follow.err" &
FOLLOW=$!
bg_pids+=("$FOLLOW")
vmc wait alpha --for=stopped --timeout 60 >"$TEST_TMP/wait-stop.out" 2>&1 &
WAIT_STOP=$!
bg_pids+=("$WAIT_STOP")
wait_for 10 grep -q "TESTGUEST READY" "$TEST_TMP/follow.out" || fail "logs --follow printed no READY line"
run vmc stop alpha
assert_eq "$RC" 0 "vmc stop ($OUT)"
rc=0
wait "$WAIT_STOP" || rc=$?
assert_eq "$rc" 0 "vmc wait --for=stopped: $(cat "$TEST_TMP/wait-stop.out")"
assert_contains "$(cat "$TEST_TMP/wait-stop.out")" "VM alpha is stopped" "vmc wait output"
rc=0
wait "$FOLLOW" || rc=$?
assert_eq "$rc" 0 "vmc logs --follow exit: $(cat "$TEST_TMP/follow.err")"
assert_contains "$(cat "$TEST_TMP/follow.err")" "VM alpha is gone"
assert_eq "$(grep -c "TESTGUEST READY" "$TEST_TMP/follow.out")" 1 "READY lines printed by --follow (no repeats)"
run vmc info alpha
assert_eq "$RC" 1 "vmc info after stop"
assert_eq "$(vmm_count)" 0 "VMM processes after vmc stop"

log "vmc stop-all"
run vmc start one --kernel "$GUEST" --mem 64 --cpus 1
assert_eq "$RC" 0 "vmc start one ($OUT)"
run vmc --owner=abc start two --kernel "$GUEST" --mem 64 --cpus 1
assert_eq "$RC" 0 "vmc start two ($OUT)"
run vmc --json start one --kernel "$GUEST"
assert_eq "$(printf '%s' "$OUT" | jq -r .status)" running "vmc --json start of a running VM"
assert_eq "$(vmm_count)" 2 "VMM processes"
run vmc stop-all
assert_eq "$RC" 0 "vmc stop-all ($OUT)"
no_vmms() { [ "$(vmm_count)" = 0 ]; }
wait_for 10 no_vmms || fail "VMMs left after stop-all"
assert_contains "$(vmc list)" "No VMs" "vmc list after stop-all"
assert_contains "$(vmc --owner=abc list)" "No VMs" "vmc list of the other owner after stop-all"

stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit code"
log "PASS"
