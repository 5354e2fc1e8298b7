#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test guest boots on our VMM to TESTGUEST READY; its memory workload over ttyS1 gives the same
# checksum twice; a guest i8042 reset ends the VMM with exit 0 (guest-requested), a debug-exit code
# with exit 5 and the code in the message; the sockets are removed on exit.
. "$(dirname "$0")/vmm-lib.sh"

log "boot to READY"
vmm_start a --mem-mib 128
vmm_wait_ready a
assert_match "$(cat "$TMP/a.log")" "TESTGUEST READY cpus=1" "serial log"

log "ping, fill 64 7, verify 7 twice"
out=$(chan a ping "fill 64 7" "verify 7" "verify 7")
mapfile -t r <<<"$out"
assert_eq "${r[0]}" "PONG" "ping"
assert_eq "${r[1]}" "OK filled 16384" "fill"
assert_match "${r[2]}" '^OK 16384 [0-9a-fx]+$' "verify"
assert_eq "${r[3]}" "${r[2]}" "second verify"
sum1=${r[2]}
# A different seed does not verify.
out=$(chan a "verify 8")
assert_match "$out" '^BAD ' "verify with the wrong seed"
out=$(chan a "bogus")
assert_match "$out" '^ERR ' "unknown command"

log "the RSS grew by the filled pages (guest RAM is a memfd: RssShmem)"
shmem=$(awk '/RssShmem/ { print $2 }' "/proc/$VMM_PID/status")
[ "$shmem" -ge $((64 * 1024)) ] || fail "RssShmem $shmem kB < 64 MiB after fill"

log "guest reset (exit) -> exit 0, guest-requested"
chan a --no-reply exit
vmm_wait_exit "$VMM_PID"
assert_eq "$VMM_RC" 0 "exit status after the guest's i8042 reset"
grep -q "VM stopped: guest-requested (guest reset through the i8042 controller)" "$TMP/a.err" ||
        fail "no guest-requested message: $(cat "$TMP/a.err")"
[ ! -e "$TMP/a.sock" ] || fail "guest-channel socket left behind"

log "same checksum in a second VM"
vmm_start b --mem-mib 128
vmm_wait_ready b
out=$(chan b "fill 64 7" "verify 7")
assert_eq "$(tail -n1 <<<"$out")" "$sum1" "checksum of fill 64 7 in a fresh VM"

log "debug-exit code 42 -> exit 5"
chan b --no-reply "exit 42"
vmm_wait_exit "$VMM_PID"
assert_eq "$VMM_RC" 5 "exit status after debug-exit 42"
grep -q "guest code 42" "$TMP/b.err" || fail "no guest code in: $(cat "$TMP/b.err")"
echo PASS
