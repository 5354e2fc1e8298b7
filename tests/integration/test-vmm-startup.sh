#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The VMM serves its control socket while it still builds the machine (issue 3 start-up target):
# requests queued on the --control-fd socketpair before the VMM runs meet it at its first look:
#   - status answers "starting"; pause/vcpu-threads wait for the running VM, then succeed in order
#   - stop while starting ends the VMM at once: exit 0, vm-exited stopped-by-request, no guest ran
#   - a request still waiting when the start fails is answered ESHUTDOWN; exit status 1
set -eu
. "$(dirname "$0")/vmm-lib.sh"

PROBE=$BUILD_DIR/tests/vmm-startup-probe
[ -x "$PROBE" ] || fail "$PROBE is not built"

probe() { # OPS LOGNAME [VMM ARGS...]
        local ops=$1 name=$2
        shift 2
        "$PROBE" "$ops" -- "$VMM" --kernel "$GUEST" --serial-log "$TMP/$name.log" "$@" 2>"$TMP/$name.err" ||
                { cat "$TMP/$name.err" >&2; fail "probe '$ops' failed"; }
}
lines() { tr '\n' '|'; }

log "requests queued before start: status says starting, pause waits for the running VM"
out=$(probe subscribe,status,pause,status,vcpu-threads,resume,status run | lines)
assert_eq "$out" "subscribe ok|status starting|pause ok|status paused|vcpu-threads 1 all-nonzero|resume ok|status running|stop ok|event vm-exited stopped-by-request|exit 0|" "answers"

log "the same with 2 vCPUs"
out=$(probe status,vcpu-threads run2 --cpus 2 | lines)
assert_eq "$out" "status starting|vcpu-threads 2 all-nonzero|stop ok|exit 0|" "answers (2 vCPUs)"

log "stop while starting"
out=$(probe subscribe,status,stop early | lines)
assert_eq "$out" "subscribe ok|status starting|stop ok|event vm-exited stopped-by-request|exit 0|" "answers"
! grep -qs "TESTGUEST" "$TMP/early.log" || fail "the guest ran although stopped while starting"
grep -q "stopped-by-request" "$TMP/early.err" || fail "no stop message: $(cat "$TMP/early.err")"

log "start failure with a request waiting"
echo "not a kernel" >"$TMP/junk"
out=$("$PROBE" subscribe,status,pause -- "$VMM" --kernel "$TMP/junk" --serial-log "$TMP/junk.log" 2>"$TMP/junk.err" | lines)
assert_eq "$out" "subscribe ok|status starting|pause error ESHUTDOWN|exit 1|" "answers"
grep -q "neither an ELF64 image nor a Linux bzImage" "$TMP/junk.err" || fail "no load error: $(cat "$TMP/junk.err")"

echo "PASS"
