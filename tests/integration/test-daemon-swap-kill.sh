#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The vmm-swap history files survive `kill -9` of the daemon (reference/concierge.md §3.3, §3.5;
# DESIGN §6): 50 times, a daemon runs a swap VM under a stream of SwapVm calls (ENABLE + DISABLE
# write the usage history, FORCE_ENABLE's swap-outs the TBW history) and is killed at a random
# point. After each kill both files decode (never corrupt: a leftover <file>.tmp of a rotation
# cut short is allowed, it is not the file), the next daemon logs "loaded" and never "corrupt",
# and the next VM's usage history loads. Each run has a VM of its own (a usage period merges with
# one that began less than an hour before, so a VM writes its history once per hour of test time);
# every other run seeds that VM's history above its rotation size, every fifth run the TBW
# history just below it, so rotations (tmp + fsync + rename) are under way when kills land. The
# test fails unless both files were rotated at least once. SWAP_KILL_TRIES overrides the 50 tries.
. "$(dirname "$0")/daemon-swap-lib.sh"

OWNER=abcd0123
TRIES=${SWAP_KILL_TRIES:-50}
FLAGS=(--swap-force-delay-ms=1 --swap-trim-wait-ms=1 --swap-poll-ms=5 --swap-cool-down-ms=1
        --disk-size-bytes=2000000000000 --log-level=info)

# The TBW history one append below its rotation threshold (4096 - 24 bytes; entries of 13 bytes),
# a usage history above its own (20480 - 26; entries of 16 bytes): valid files, oldest first.
TBW_SEED=() USAGE_SEED=()
for ((i = 0; i < 313; i++)); do TBW_SEED+=("$((27 * 86400 - i * 7000)):1"); done
for ((i = 0; i < 1279; i++)); do USAGE_SEED+=("$((27 * 86400 - i * 1800)):60"); done
seed() {
        local out
        out=$("$SWAP_HISTORY" "$@")
        out=${out#wrote }
        echo "${out% bytes}"
}

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
no_vmms_left() { [ "$(vmm_count)" = 0 ]; }

_WORKER_PID=
stop_worker() {
        [ -n "$_WORKER_PID" ] || return 0
        kill "$_WORKER_PID" 2>/dev/null || true
        wait "$_WORKER_PID" 2>/dev/null || true
        _WORKER_PID=
}
on_exit stop_worker

# SwapVm calls until killed; failures are expected once the daemon is gone. ENABLE + DISABLE
# write a usage period, FORCE_ENABLE swaps out (a TBW record) after its 1 ms delay.
swap_call() {
        "$PBTOOL" call --address="$BUS_ADDRESS" --timeout=2 SwapVm owner_id=$OWNER name=$1 operation=$2 \
                >/dev/null 2>&1 || true
}
worker() {
        while :; do
                swap_call "$1" ENABLE
                swap_call "$1" DISABLE
                swap_call "$1" FORCE_ENABLE
                sleep 0.03
                swap_call "$1" DISABLE
        done
}

mkdir -p "$STATE_DIR/vmm_swap_policy/$OWNER"
chmod 0700 "$STATE_DIR/vmm_swap_policy" "$STATE_DIR/vmm_swap_policy/$OWNER"
start_bus

tbw_rotations=0 usage_rotations=0 tmp_left=0 tbw_writes=0 usage_writes=0
for ((try = 0; try < TRIES; try++)); do
        VM=k$try
        USAGE_FILE=$(usage_file $OWNER $VM)
        if ((try % 5 == 0)); then
                n=$(seed write-tbw "$TBW_FILE" "${TBW_SEED[@]}")
                [ "$n" -gt 4050 ] && [ "$n" -lt 4072 ] || fail "TBW seed of $n bytes"
        fi
        if ((try % 2 == 0)); then
                n=$(seed write-usage "$USAGE_FILE" "${USAGE_SEED[@]}")
                [ "$n" -ge 20454 ] && [ "$n" -le 20480 ] || fail "usage seed of $n bytes"
        fi
        tbw_before=$(file_size "$TBW_FILE")
        usage_before=$(file_size "$USAGE_FILE")

        : >"$TEST_TMP/daemon.log"
        start_daemon "${FLAGS[@]}"
        dlog=$(cat "$DAEMON_LOG")
        assert_not_contains "$dlog" "corrupt" "daemon log of run $try"
        assert_not_contains "$dlog" "unusable" "daemon log of run $try"
        assert_contains "$dlog" "vmm-swap TBW history $TBW_FILE loaded." "daemon log of run $try"
        out=$(start_vm $VM $OWNER enable_vmm_swap=true)
        assert_eq "$(field "$out" success)" true "StartVm in run $try: $out"
        # The previous run's VM too: the history its daemon was killed over loads.
        if ((try > 0)); then
                out=$(start_vm k$((try - 1)) $OWNER enable_vmm_swap=true)
                assert_eq "$(field "$out" success)" true "StartVm k$((try - 1)) in run $try: $out"
                assert_eq "$(swap_field $OWNER k$((try - 1)) .policy.usage_history_persistent)" true \
                        "usage history of k$((try - 1)) in run $try"
        fi
        # Not deleted for corruption, still persistent.
        assert_not_contains "$(cat "$DAEMON_LOG")" "corrupt" "daemon log of run $try after StartVm"
        assert_eq "$(swap_field $OWNER $VM .policy.usage_history_persistent)" true "usage history in run $try"

        worker $VM &
        _WORKER_PID=$!
        sleep "0.$(printf '%03d' $((RANDOM % 400)))"
        kill -KILL "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null || true
        DAEMON_PID=
        stop_worker
        # Its VMMs die with it (PR_SET_PDEATHSIG).
        wait_for 30 no_vmms_left ||
                fail "VMMs outlived the killed daemon in run $try: $(ps -o pid,ppid,stat,wchan:24,args -p \
                        "$(pgrep -d, -f -- "--serial-log $RUNTIME_DIR/")" 2>&1)"

        out=$("$SWAP_HISTORY" show-tbw "$TBW_FILE") || fail "TBW history after kill $try: $out"
        out=$("$SWAP_HISTORY" show-usage "$USAGE_FILE") || fail "usage history after kill $try: $out"
        tbw_after=$(file_size "$TBW_FILE")
        usage_after=$(file_size "$USAGE_FILE")
        [ "$tbw_after" -lt "$tbw_before" ] && tbw_rotations=$((tbw_rotations + 1))
        [ "$usage_after" -lt "$usage_before" ] && usage_rotations=$((usage_rotations + 1))
        [ "$tbw_after" != "$tbw_before" ] && tbw_writes=$((tbw_writes + 1))
        [ "$usage_after" != "$usage_before" ] && usage_writes=$((usage_writes + 1))
        for f in "$TBW_FILE.tmp" "$USAGE_FILE.tmp"; do
                [ -e "$f" ] && tmp_left=$((tmp_left + 1))
        done
        true
done
log "$TRIES kills: TBW file changed in $tbw_writes runs (rotated in $tbw_rotations), usage file in" \
        "$usage_writes (rotated in $usage_rotations); $tmp_left leftover .tmp file(s)"
[ "$tbw_rotations" -gt 0 ] || fail "no TBW rotation happened: the kills never met one"
[ "$usage_rotations" -gt 0 ] || fail "no usage history rotation happened"

log "a last daemon loads both histories and writes to them"
: >"$TEST_TMP/daemon.log"
start_daemon "${FLAGS[@]}"
start_vm $VM $OWNER enable_vmm_swap=true >/dev/null
s=$(swap_status $OWNER $VM)
assert_eq "$(jq -r .tbw.persistent <<<"$s")" true "TBW persistent"
assert_eq "$(jq -r .policy.usage_history_persistent <<<"$s")" true "usage history persistent"
[ ! -e "$TBW_FILE.tmp" ] || fail "the leftover $TBW_FILE.tmp was not removed on load"
assert_not_contains "$(cat "$DAEMON_LOG")" "corrupt" "last daemon log"
stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit"
"$SWAP_HISTORY" show-tbw "$TBW_FILE" >/dev/null || fail "TBW history at the end"
"$SWAP_HISTORY" show-usage "$USAGE_FILE" >/dev/null || fail "usage history at the end"
log "PASS"
