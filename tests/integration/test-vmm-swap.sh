#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm-swap in the real VMM with the test guest (issue 5): the integrity sequence (fill -> enable ->
# verify from staging -> enable -> trim -> out -> verify from the file -> partial re-fill ->
# enable/trim/out -> disable -> verify, one checksum throughout) with the metrics each step must
# move; zero and untouched pages never reach the swap file; a swap dir on a small tmpfs that fills
# up during swap-out (error reported, nothing lost, disable works); kill -9 in every state reachable
# through the ops (no swap file, no tmpfs space, no process left); bad ops leave the state alone;
# exit while enabled swaps the guest back in and exits cleanly (no sanitizer report under ASAN=1).
# Needs /dev/kvm and userfaultfd (SKIP otherwise) and root for the tmpfs mounts (SKIP otherwise).
. "$(dirname "$0")/vmm-lib.sh"

[ -x "$VMMCTL" ] || fail "$VMMCTL is not built"
command -v jq >/dev/null || fail "jq is needed to read vmmctl --json"
if [ ! -c /dev/userfaultfd ] && [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null || echo 0)" != 1 ] &&
        [ "$(id -u)" != 0 ]; then
        echo "SKIP: no userfaultfd for this user"
        exit 77
fi

MOUNTS=()
_swap_cleanup() {
        local p m
        for p in ${_VMM_PIDS[@]+"${_VMM_PIDS[@]}"}; do
                kill -KILL "$p" 2>/dev/null || true
                wait "$p" 2>/dev/null || true
        done
        for m in ${MOUNTS[@]+"${MOUNTS[@]}"}; do
                umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
        _vmm_cleanup
}
trap _swap_cleanup EXIT

HEAP_FILL_MIB=256
FILL_PAGES=$((HEAP_FILL_MIB * 256))
ZERO_MIB=16
ZERO_PAGES=$((ZERO_MIB * 256))
SEED=4711

# --- helpers ---------------------------------------------------------------------------------

# vm NAME SWAPDIR [ARGS...]: a 512 MiB VM with a control socket and vmm-swap in SWAPDIR.
vm() {
        local name=$1 dir=$2
        shift 2
        CUR=$name
        vmm_start "$name" --mem-mib 512 --control-socket "$TMP/$name.ctl" --swap-dir "$dir" "$@"
        vmm_wait_ready "$name"
        PID=$VMM_PID
}
ctl() { "$VMMCTL" "$TMP/$CUR.ctl" "$@"; }
g() { chan "$CUR" --timeout 120000 "$@"; }
status_json() { ctl swap status --json; }
state() { status_json | jq -r .state; }
metric() { status_json | jq -r ".metrics.$1"; }
# swap_op OP...: must succeed
swap_op() { ctl swap "$@" >/dev/null || fail "swap $* failed"; }
# wait_state STATE [SECS]: poll swap status until STATE (fails on timeout)
wait_state() {
        local want=$1 secs=${2:-60} i s
        for i in $(seq $((secs * 20))); do
                s=$(state)
                [ "$s" = "$want" ] && return 0
                sleep 0.05
        done
        fail "swap state '$s' after $secs s, expected '$want' ($(status_json))"
}
# wait_not STATE [SECS]: poll until the state is something else; prints it
wait_not() {
        local busy=$1 secs=${2:-60} i s
        for i in $(seq $((secs * 20))); do
                s=$(state)
                [ "$s" != "$busy" ] && {
                        echo "$s"
                        return 0
                }
                sleep 0.05
        done
        fail "still '$busy' after $secs s"
}
# expect_bad_op OP REGEX: the op fails with a message matching REGEX and the state is unchanged
expect_bad_op() {
        local op=$1 re=$2 before after rc=0 out
        before=$(state)
        out=$(ctl swap "$op" 2>&1) || rc=$?
        [ "$rc" != 0 ] || fail "swap $op in state $before succeeded"
        assert_match "$out" "$re" "swap $op in state $before: error message"
        after=$(state)
        # a background job may finish meanwhile, but the bad op itself changes nothing
        case "$before" in
        Ready | Pending | Active | Failed) assert_eq "$after" "$before" "state after a refused swap $op" ;;
        esac
        log "refused: swap $op in $before: ${out##*: }"
}
# bad_op_in_swap_in OP: refused while swap-in runs ("in progress"); the swap-in may finish before the
# op arrives (then the op is refused as in Ready). Sets SEEN_SWAP_IN when it hit the swap-in.
bad_op_in_swap_in() {
        local op=$1 rc=0 out
        out=$(ctl swap "$op" 2>&1) || rc=$?
        [ "$rc" != 0 ] || fail "swap $op during swap-in succeeded"
        if [[ "$out" =~ "in progress" ]]; then
                SEEN_SWAP_IN=1
                log "refused: swap $op in SwapInInProgress: ${out##*: }"
                # unchanged: still swapping in, or finished meanwhile
                local st
                st=$(state)
                [ "$st" = SwapInInProgress ] || [ "$st" = Ready ] || fail "state $st after a refused swap $op in a swap-in"
        else
                assert_eq "$(state)" Ready "state after swap $op was refused outside a swap-in ($out)"
        fi
}
# verify_ok WHAT: the guest's verify gives the reference checksum
verify_ok() {
        local out
        out=$(g verify)
        assert_eq "$out" "$REF" "verify $1"
}
# swap_file_blocks_pages: pages allocated to the VMM's O_TMPFILE swap file (found through its fd,
# which has no name: "<dir>/#<ino> (deleted)")
swap_file_pages() {
        local fd t
        for fd in /proc/"$PID"/fd/*; do
                t=$(readlink "$fd" 2>/dev/null) || continue
                case "$t" in "$1"/\#*" (deleted)")
                        echo $(($(stat -Lc %b "$fd") * 512 / 4096))
                        return 0
                        ;;
                esac
        done
        fail "no swap file among the VMM's fds"
}
mount_tmpfs() { # DIR SIZE
        mkdir -p "$1"
        mount -t tmpfs -o "size=$2,mode=0700" vmm-swap-test "$1" || {
                echo "SKIP: cannot mount a tmpfs (needs root)"
                exit 77
        }
        MOUNTS+=("$1")
}
tmpfs_used_kib() { df --output=used -k "$1" | tail -n1 | tr -d ' '; }

SWAPDIR=$TMP/swap
mkdir -m 0700 "$SWAPDIR"

# --- integrity ---------------------------------------------------------------------------------
log "integrity: 512 MiB VM, fill $HEAP_FILL_MIB MiB (seed $SEED), zero $ZERO_MIB MiB after it"
vm a "$SWAPDIR"
if grep -q "cannot set up vmm-swap" "$TMP/a.err"; then
        echo "SKIP: $(cat "$TMP/a.err")"
        exit 77
fi
ctl events --json --timeout 600000 >"$TMP/a.events" 2>"$TMP/a.events.err" &
EV_PID=$!
_VMM_PIDS+=("$EV_PID")
for i in $(seq 100); do
        grep -q "subscribed to events" "$TMP/a.events.err" && break
        sleep 0.05
done
assert_eq "$(g "fill $HEAP_FILL_MIB $SEED")" "OK filled $FILL_PAGES" "fill"
assert_eq "$(g "zero $ZERO_MIB $HEAP_FILL_MIB")" "OK zeroed $ZERO_PAGES" "zero"
REF=$(g verify)
assert_match "$REF" "^OK $((FILL_PAGES + ZERO_PAGES)) [0-9a-f]+$" "first verify"
assert_eq "$(state)" Ready "initial state"
[ -z "$(ls -A "$SWAPDIR")" ] || fail "the swap file has a name: $(ls -A "$SWAPDIR")"
resident0=$(metric resident_pages)
[ "$resident0" -ge $((FILL_PAGES + ZERO_PAGES)) ] || fail "resident_pages $resident0 before enable"

log "bad ops in Ready"
expect_bad_op trim "only valid in state pending"
expect_bad_op out "only valid in state pending"
expect_bad_op disable "not enabled"

log "enable -> Pending, the guest's pages move to staging"
swap_op enable
s=$(status_json)
assert_eq "$(jq -r .state <<<"$s")" Pending "state after enable"
staged=$(jq -r .metrics.staging_pages <<<"$s")
[ "$staged" -ge $((FILL_PAGES + ZERO_PAGES)) ] || fail "staging_pages $staged after enable"
[ "$(jq -r .metrics.resident_pages <<<"$s")" -lt 1024 ] || fail "still resident after enable: $s"
[ "$(jq -r .state_transition.pages <<<"$s")" -ge $((FILL_PAGES + ZERO_PAGES)) ] || fail "transition pages: $s"

log "verify: faults served from staging"
verify_ok "from staging"
s=$(status_json)
[ "$(jq -r .metrics.copied_from_staging_pages <<<"$s")" -ge $((FILL_PAGES + ZERO_PAGES)) ] ||
        fail "copied_from_staging_pages after verify: $s"
[ "$(jq -r .metrics.resident_pages <<<"$s")" -ge $((FILL_PAGES + ZERO_PAGES)) ] || fail "resident after verify: $s"
assert_eq "$(jq -r .metrics.copied_from_file_pages <<<"$s")" 0 "copied_from_file_pages before any swap-out"

log "enable again (refresh) -> trim drops the $ZERO_PAGES zero pages -> out -> Active"
swap_op enable
staged=$(metric staging_pages)
swap_op trim
assert_eq "$(wait_not TrimInProgress)" Pending "state after trim"
staged_trim=$(metric staging_pages)
[ "$staged_trim" -le $((staged - ZERO_PAGES)) ] || fail "trim kept zero pages: $staged -> $staged_trim"
[ "$staged_trim" -ge "$FILL_PAGES" ] || fail "trim dropped filled pages: $staged -> $staged_trim"
swap_op out
wait_state Active
s=$(status_json)
swapped=$(jq -r .metrics.swap_pages <<<"$s")
assert_eq "$(jq -r .metrics.staging_pages <<<"$s")" 0 "staging_pages after swap-out"
assert_eq "$(jq -r .last_error <<<"$s")" "" "last_error after swap-out"
# Zero pages and never-touched RAM never reach the file: only the filled pages (and the few pages of
# the guest's own code, data and stacks) are in it.
[ "$swapped" -ge "$FILL_PAGES" ] && [ "$swapped" -lt $((FILL_PAGES + 512)) ] ||
        fail "swap_pages $swapped for $FILL_PAGES filled pages (+$ZERO_PAGES zero, + untouched RAM)"
fpages=$(swap_file_pages "$SWAPDIR")
[ "$fpages" -le $((swapped + 16)) ] || fail "the swap file holds $fpages pages for $swapped swapped pages"
log "swap_pages=$swapped, file blocks=$fpages pages, resident=$(jq -r .metrics.resident_pages <<<"$s")"

log "bad ops while Active"
expect_bad_op trim "only valid in state pending"
expect_bad_op out "only valid in state pending"

log "verify: faults served from the file, zero pages as zero pages"
zeroed0=$(metric zeroed_pages)
fa0=$(metric fault_around_pages)
verify_ok "from the swap file"
s=$(status_json)
[ "$(jq -r .metrics.copied_from_file_pages <<<"$s")" -ge "$FILL_PAGES" ] || fail "copied_from_file_pages: $s"
[ "$(jq -r .metrics.zeroed_pages <<<"$s")" -ge $((zeroed0 + ZERO_PAGES)) ] || fail "zeroed_pages: $zeroed0 -> $s"
[ "$(jq -r .metrics.fault_around_pages <<<"$s")" -gt $((fa0 + FILL_PAGES / 2)) ] || fail "no fault-around on a sequential verify: $s"

log "re-fill a part (same seed), enable/trim/out: unchanged pages are trimmed as clean"
assert_eq "$(g "fill 64 $SEED 64")" "OK filled 16384" "partial re-fill"
swap_op enable
swap_op trim
assert_eq "$(wait_not TrimInProgress)" Pending "state after the second trim"
staged_trim=$(metric staging_pages)
# every filled page equals its copy still in the file (the same seed writes the same words)
[ "$staged_trim" -lt 1024 ] || fail "trim kept $staged_trim pages that equal their file copy"
swap_op out
wait_state Active
swapped=$(metric swap_pages)
[ "$swapped" -ge "$FILL_PAGES" ] && [ "$swapped" -lt $((FILL_PAGES + 512)) ] || fail "swap_pages $swapped"

log "disable -> SwapInInProgress -> Ready; bad ops during swap-in"
swap_op disable
st=$(state)
if [ "$st" = SwapInInProgress ]; then
        bad_op_in_swap_in out
        bad_op_in_swap_in trim
        bad_op_in_swap_in disable
fi
wait_state Ready
s=$(status_json)
assert_eq "$(jq -r .metrics.staging_pages <<<"$s")" 0 "staging_pages after disable"
assert_eq "$(jq -r .metrics.swap_pages <<<"$s")" 0 "swap_pages after disable"
[ "$(jq -r .metrics.resident_pages <<<"$s")" -ge $((FILL_PAGES)) ] || fail "resident_pages after disable: $s"
assert_eq "$(swap_file_pages "$SWAPDIR")" 0 "swap file pages after disable"
verify_ok "after disable"

# Swap-in of 256 MiB takes long enough to catch it, but a fast disk may win the race: try again.
for try in 1 2 3 4 5 6 7 8; do
        [ -z "${SEEN_SWAP_IN:-}" ] || break
        swap_op enable
        swap_op out
        wait_state Active
        swap_op disable
        if [ "$(state)" = SwapInInProgress ]; then
                bad_op_in_swap_in out
                bad_op_in_swap_in trim
        fi
        wait_state Ready
        verify_ok "after disable (try $try)"
done
[ -n "${SEEN_SWAP_IN:-}" ] || fail "never caught SwapInInProgress to test the bad ops in it"

log "slow file cleanup (after a swap-out without trim: zero pages are still not written)"
swap_op enable
swap_op out
wait_state Active
swapped=$(metric swap_pages)
[ "$swapped" -ge "$FILL_PAGES" ] && [ "$swapped" -lt $((FILL_PAGES + 512)) ] ||
        fail "swap_pages $swapped after a swap-out without trim ($FILL_PAGES filled, $ZERO_PAGES zero)"
swap_op disable --slow-file-cleanup
wait_state Ready
for i in $(seq 100); do
        [ "$(swap_file_pages "$SWAPDIR")" = 0 ] && break
        sleep 0.1
done
assert_eq "$(swap_file_pages "$SWAPDIR")" 0 "swap file pages after a slow cleanup"
verify_ok "after disable --slow-file-cleanup"

log "state changes were events"
grep -q '"state":"Pending","previous":"Ready"' "$TMP/a.events" || fail "no Ready->Pending event: $(cat "$TMP/a.events")"
grep -q '"state":"Active","previous":"SwapOutInProgress"' "$TMP/a.events" || fail "no Active event"
grep -q '"state":"Ready","previous":"SwapInInProgress"' "$TMP/a.events" || fail "no Ready event"

log "exit while Active: the engine swaps everything back in, the VMM exits cleanly"
swap_op enable
swap_op out
wait_state Active
ctl stop >/dev/null || fail "vmmctl stop"
vmm_wait_exit "$PID"
assert_eq "$VMM_RC" 0 "exit status after stop while Active"
grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:" "$TMP/a.err" && fail "sanitizer: $(cat "$TMP/a.err")"
[ -z "$(ls -A "$SWAPDIR")" ] || fail "files left in the swap dir: $(ls -A "$SWAPDIR")"

# --- ENOSPC ------------------------------------------------------------------------------------
log "ENOSPC: swap dir on a 64 MiB tmpfs, 256 MiB to swap out"
SMALL=$TMP/small
mount_tmpfs "$SMALL" 64m
vm b "$SMALL"
assert_eq "$(g "fill $HEAP_FILL_MIB $SEED")" "OK filled $FILL_PAGES" "fill (b)"
REF=$(g verify)
swap_op enable
swap_op out
end=$(wait_not SwapOutInProgress)
s=$(status_json)
assert_eq "$end" Pending "state after a swap-out that ran out of space"
assert_match "$(jq -r .last_error <<<"$s")" "No space left on device|ENOSPC" "last_error after ENOSPC"
[ "$(jq -r .metrics.staging_pages <<<"$s")" -gt 0 ] || fail "nothing left in staging after ENOSPC: $s"
# every filled page is somewhere: in staging, in the file, or back in guest RAM (faulted in)
total=$(($(jq -r .metrics.staging_pages <<<"$s") + $(jq -r .metrics.swap_pages <<<"$s") +
        $(jq -r .metrics.resident_pages <<<"$s")))
[ "$total" -ge "$FILL_PAGES" ] || fail "pages lost: staging + swap + resident = $total < $FILL_PAGES ($s)"
log "after ENOSPC: $(jq -c .metrics <<<"$s") error: $(jq -r .last_error <<<"$s")"
verify_ok "after ENOSPC"
log "swap-out again with the guest's pages faulted in (still too big), then disable"
swap_op enable
swap_op out
assert_eq "$(wait_not SwapOutInProgress)" Pending "second swap-out into a full tmpfs"
swap_op disable
wait_state Ready
assert_eq "$(metric staging_pages)" 0 "staging after disable (b)"
verify_ok "after disable (b)"
ctl stop >/dev/null
vmm_wait_exit "$PID"
assert_eq "$VMM_RC" 0 "exit status (b)"
grep -q "ERROR: \(Address\|Leak\|Undefined\)Sanitizer\|runtime error:" "$TMP/b.err" && fail "sanitizer: $(cat "$TMP/b.err")"
assert_eq "$(tmpfs_used_kib "$SMALL")" 0 "tmpfs space used after the VMM exited"

# --- kill -9 in every state --------------------------------------------------------------------
KILLDIR=$TMP/kill
mount_tmpfs "$KILLDIR" 512m
# kill_check WHAT: kill -9 the VMM, then: no file and no space left on the swap tmpfs, no mount,
# no process
kill_check() {
        local what=$1 i
        kill -KILL "$PID"
        vmm_wait_exit "$PID" 10
        for i in $(seq 50); do
                [ "$(tmpfs_used_kib "$KILLDIR")" = 0 ] && break
                sleep 0.1
        done
        [ -z "$(ls -A "$KILLDIR")" ] || fail "kill -9 in $what: files left: $(ls -A "$KILLDIR")"
        assert_eq "$(tmpfs_used_kib "$KILLDIR")" 0 "tmpfs space after kill -9 in $what"
        assert_eq "$(grep -c " $TMP/" /proc/mounts)" "${#MOUNTS[@]}" "mounts under the test dir after kill -9 in $what"
        pgrep -f "$TMP/k.ctl" >/dev/null && fail "kill -9 in $what: a process is left"
        log "kill -9 in $what: nothing left"
}
kill_vm() {
        rm -f "$TMP/k.ctl"
        vm k "$KILLDIR"
        assert_eq "$(g "fill 128 $SEED")" "OK filled 32768" "fill (k)"
}
kill_vm
kill_check Ready
kill_vm
swap_op enable
assert_eq "$(state)" Pending "state before kill"
kill_check Pending
kill_vm
swap_op enable
swap_op out
wait_state Active
kill_check Active
declare -A caught=()
for try in 1 2 3; do
        kill_vm
        swap_op enable
        swap_op trim
        s1=$(state)
        caught[$s1]=1
        kill_check "$s1 (after trim)"
        kill_vm
        swap_op enable
        swap_op out
        s1=$(state)
        caught[$s1]=1
        kill_check "$s1 (after out)"
        kill_vm
        swap_op enable
        swap_op out
        wait_state Active
        swap_op disable
        s1=$(state)
        caught[$s1]=1
        kill_check "$s1 (after disable)"
        [ -n "${caught[SwapOutInProgress]:-}" ] && [ -n "${caught[SwapInInProgress]:-}" ] && break
done
log "states killed in: ${!caught[*]}"
[ -n "${caught[SwapOutInProgress]:-}" ] || fail "never caught SwapOutInProgress"
[ -n "${caught[SwapInInProgress]:-}" ] || fail "never caught SwapInInProgress"

echo PASS
