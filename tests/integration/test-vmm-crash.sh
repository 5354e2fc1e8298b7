#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A guest crash (page fault at an unmapped address, reported through pvpanic) ends the VMM with
# exit 3 and the crashed reason; the guest's fault report is in the serial log. A control-socket
# subscriber gets the vm-exited event with the crashed reason.
. "$(dirname "$0")/vmm-lib.sh"

vmm_start a --control-socket "$TMP/ctl.sock"
vmm_wait_ready a
pid=$VMM_PID
"$VMMCTL" "$TMP/ctl.sock" events --timeout 20000 >"$TMP/events" 2>&1 &
ev_pid=$!
_VMM_PIDS+=("$ev_pid")
sleep 0.3
chan a --no-reply crash
vmm_wait_exit "$pid"
assert_eq "$VMM_RC" 3 "exit status after a guest crash"
grep -q "TESTGUEST FAULT vec=14" "$TMP/a.log" || fail "no fault report on ttyS0: $(cat "$TMP/a.log")"
grep -q "VM stopped: crashed (guest panicked" "$TMP/a.err" || fail "no crashed message: $(cat "$TMP/a.err")"
wait "$ev_pid" || true
grep -q "vm-exited reason=crashed" "$TMP/events" || fail "no crashed event: $(cat "$TMP/events")"
echo PASS
