#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A 2-vCPU guest: both vCPUs check in (the AP starts at the PVH entry, no INIT/SIPI); the process
# runs one thread per vCPU, named vcpuN, whose tids the control socket reports; pause parks both
# and the guest stops answering until resume.
. "$(dirname "$0")/vmm-lib.sh"

vmm_start a --cpus 2 --control-socket "$TMP/ctl.sock"
vmm_wait_ready a
pid=$VMM_PID
for i in $(seq 50); do
        out=$(chan a cpus)
        [ "$out" = "CPUS 2" ] && break
        sleep 0.1
done
assert_eq "$out" "CPUS 2" "vCPUs checked in"

names=$(cat /proc/"$pid"/task/*/comm | sort | tr '\n' ' ')
assert_match "$names" "vcpu0 vcpu1 " "thread names"
[ "$(cat /proc/"$pid"/task/*/comm | grep -c '^vcpu')" = 2 ] || fail "not exactly two vCPU threads: $names"
tids=$("$VMMCTL" "$TMP/ctl.sock" vcpu-threads --json)
for t in /proc/"$pid"/task/*; do
        if grep -q '^vcpu' "$t/comm"; then
                assert_match "$tids" "${t##*/}" "vCPU tid in vcpu-threads"
        fi
done

log "pause: the guest makes no progress; resume: it answers again"
"$VMMCTL" "$TMP/ctl.sock" pause >/dev/null
assert_match "$("$VMMCTL" "$TMP/ctl.sock" status --json)" '"state":"paused"' "status after pause"
if chan a --timeout 1500 ping >/dev/null 2>&1; then
        fail "a paused guest answered"
fi
for t in /proc/"$pid"/task/*; do
        if grep -q '^vcpu' "$t/comm"; then
                s=$(awk '{ print $3 }' "$t/stat")
                [ "$s" = S ] || fail "paused vCPU thread ${t##*/} in state $s"
        fi
done
"$VMMCTL" "$TMP/ctl.sock" resume >/dev/null
out=$(chan a --timeout 5000 ping)
assert_eq "$out" "PONG" "ping after resume"
assert_match "$("$VMMCTL" "$TMP/ctl.sock" status --json)" '"state":"running"' "status after resume"

log "vmmctl stop -> exit 0"
"$VMMCTL" "$TMP/ctl.sock" stop >/dev/null
vmm_wait_exit "$pid"
assert_eq "$VMM_RC" 0 "exit status after vmmctl stop"
echo PASS
