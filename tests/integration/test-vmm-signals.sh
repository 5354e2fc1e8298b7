#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# SIGTERM and SIGINT stop the VMM with exit 0 (stopped by request), also while the guest spins in
# ring 0 with interrupts off; control and guest-channel sockets are removed.
. "$(dirname "$0")/vmm-lib.sh"

for sig in TERM INT; do
        log "SIG$sig"
        vmm_start "$sig" --control-socket "$TMP/$sig.ctl"
        vmm_wait_ready "$sig"
        chan "$sig" ping >/dev/null
        kill -"$sig" "$VMM_PID"
        vmm_wait_exit "$VMM_PID" 10
        assert_eq "$VMM_RC" 0 "exit status after SIG$sig"
        grep -q "VM stopped: stopped-by-request (stopped by signal $sig)" "$TMP/$sig.err" ||
                fail "no stop message: $(cat "$TMP/$sig.err")"
        [ ! -e "$TMP/$sig.ctl" ] && [ ! -e "$TMP/$sig.sock" ] || fail "sockets left behind"
done

log "SIGTERM during a ring-0 stall"
vmm_start stall
vmm_wait_ready stall
chan stall --no-reply "stall 30"
sleep 0.5
kill -TERM "$VMM_PID"
vmm_wait_exit "$VMM_PID" 10
assert_eq "$VMM_RC" 0 "exit status after SIGTERM during a stall"
echo PASS
