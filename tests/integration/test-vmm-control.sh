#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The VMM's control socket: status, 200 garbage frames leave it serving, pause/resume state,
# a subscriber gets vm-exited (stopped-by-request) when vmmctl stop ends the process with exit 0.
. "$(dirname "$0")/vmm-lib.sh"
[ -x "$VMMCTL" ] || fail "$VMMCTL not built"

vmm_start a --control-socket "$TMP/ctl.sock" --mem-mib 64
vmm_wait_ready a
pid=$VMM_PID
st=$("$VMMCTL" "$TMP/ctl.sock" status --json)
assert_match "$st" '"state":"running"' "status"
assert_match "$st" '"vcpus":1' "status vcpus"
assert_match "$st" '"memory_bytes":67108864' "status memory"
assert_match "$st" "\"pid\":$pid" "status pid"
assert_match "$st" '"kernel_format":"elf-pvh"' "status format"

out=$("$VMMCTL" "$TMP/ctl.sock" test-garbage 200)
assert_match "$out" "200 error replies; VMM still serving" "garbage frames"
assert_eq "$(chan a ping)" "PONG" "guest after garbage frames"

"$VMMCTL" "$TMP/ctl.sock" pause >/dev/null
rc=0
"$VMMCTL" "$TMP/ctl.sock" pause >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" != 0 ] || fail "a second pause succeeded"
"$VMMCTL" "$TMP/ctl.sock" resume >/dev/null
rc=0
"$VMMCTL" "$TMP/ctl.sock" resume >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "resume of a running VM succeeded"

"$VMMCTL" "$TMP/ctl.sock" events --timeout 20000 >"$TMP/events" 2>&1 &
ev_pid=$!
_VMM_PIDS+=("$ev_pid")
sleep 0.3
"$VMMCTL" "$TMP/ctl.sock" stop >/dev/null
vmm_wait_exit "$pid"
assert_eq "$VMM_RC" 0 "exit status after vmmctl stop"
wait "$ev_pid" || true
grep -q "vm-exited reason=stopped-by-request" "$TMP/events" || fail "no vm-exited event: $(cat "$TMP/events")"
[ ! -e "$TMP/ctl.sock" ] || fail "control socket left behind"
echo PASS
