#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm-swap's low-disk policy through the daemon (reference/concierge.md §3.4): with --swap-dir on a
# 64 MiB tmpfs, free space is below 2 GiB + guest memory, so ENABLE is refused with "Low disk mode"
# even when the usage prediction and the TBW budget allow it; a FORCE_ENABLE (no policies) swaps
# out, and the periodic low-disk check then disables vmm-swap (reason LowDiskSpace, no slow file
# cleanup) with the guest's memory intact. Skips where tmpfs cannot be mounted.
. "$(dirname "$0")/daemon-swap-lib.sh"

OWNER=abcd0123
DISK_SIZE=2000000000000
SWAPFS=$TEST_TMP/swapfs

mkdir "$SWAPFS"
mount -t tmpfs -o size=64m,mode=0755 vmct-swap "$SWAPFS" 2>/dev/null || skip "cannot mount a tmpfs here"
# The VMMs hold their swap files in it: stop the daemon before unmounting.
on_exit '_stop_daemon TERM; umount "$SWAPFS" 2>/dev/null || umount -l "$SWAPFS"'

# Usage prediction and TBW budget both allow a swap-out (see test-daemon-swap.sh).
mkdir -p "$STATE_DIR/vmm_swap_policy/$OWNER"
chmod 0700 "$STATE_DIR/vmm_swap_policy" "$STATE_DIR/vmm_swap_policy/$OWNER"
"$SWAP_HISTORY" write-tbw "$TBW_FILE" $((27 * 86400)):1 >/dev/null
"$SWAP_HISTORY" write-usage "$(usage_file $OWNER ok)" $((7 * 86400 + 3600)):$((2 * 86400)) >/dev/null

start_bus
start_signal_monitor
start_daemon --swap-dir="$SWAPFS" --swap-force-delay-ms=300 --swap-poll-ms=50 --swap-trim-wait-ms=300 \
        --swap-low-disk-check-ms=1500 --disk-size-bytes=$DISK_SIZE
out=$(start_vm ok $OWNER enable_vmm_swap=true)
assert_eq "$(field "$out" success)" true "StartVm: $out"
[ -d "$SWAPFS/$OWNER" ] || fail "the swap dir is not under --swap-dir"
# The usage history stays in the state dir, not on the swap dir's filesystem.
[ -f "$(usage_file $OWNER ok)" ] || fail "usage history not in the state dir"

log "status: the tmpfs's free space against 2 GiB + 64 MiB"
s=$(swap_status $OWNER ok)
free=$(jq -r .policy.disk_free_bytes <<<"$s")
[ "$free" -gt 0 ] && [ "$free" -le $((64 * 1048576)) ] || fail "disk_free_bytes $free on a 64 MiB tmpfs"
assert_eq "$(jq -r .policy.disk_required_bytes <<<"$s")" $((2 * 1073741824 + 64 * 1048576)) "low-disk bar"
assert_eq "$(jq -r .tbw.can_swap_out <<<"$s")" true "TBW allows"
[ "$(jq -r .policy.predicted_duration_ms <<<"$s")" -ge $((40 * 3600000)) ] || fail "prediction: $s"

log "ENABLE: Low disk mode"
assert_eq "$(swap_vm $OWNER ok ENABLE)" "Low disk mode" "ENABLE on a small swap dir"
s=$(swap_status $OWNER ok)
assert_eq "$(jq -r .policy.last_result <<<"$s")" LowDisk "last policy result"
assert_eq "$(jq -r .enabled <<<"$s")" false "enabled"
assert_eq "$(jq -r .state <<<"$s")" Ready "state"
[ -z "$(swapping_signals $OWNER ok)" ] || fail "a refused ENABLE emitted VmSwappingSignal"

log "FORCE_ENABLE swaps out anyway; the low-disk check then disables vmm-swap"
assert_eq "$(guest $OWNER ok "fill 4 3")" "OK filled 1024" "fill"
REF=$(guest $OWNER ok verify)
assert_eq "$(swap_vm $OWNER ok FORCE_ENABLE)" ok "FORCE_ENABLE"
_disabled_by_low_disk() { [ "$(swap_field $OWNER ok .policy.last_disable_reason)" = LowDiskSpace ]; }
wait_for 10 _disabled_by_low_disk || fail "not disabled for low disk: $(swap_status $OWNER ok)"
wait_swap_state 10 $OWNER ok Ready || fail "not Ready after the low-disk disable: $(swap_status $OWNER ok)"
s=$(swap_status $OWNER ok)
assert_eq "$(jq -r .enabled <<<"$s")" false "enabled after the low-disk disable"
assert_eq "$(jq -r .swap_outs <<<"$s")" 1 "swap_outs"
assert_eq "$(swapping_signals $OWNER ok)" "SWAPPING_OUT SWAPPING_IN" "signals"
assert_eq "$(guest $OWNER ok verify)" "$REF" "verify after the low-disk disable"
assert_contains "$(cat "$DAEMON_LOG")" "disabling vmm-swap" "daemon log"

stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit"
[ "$(vmm_count)" = 0 ] || fail "VMMs left behind"
log "PASS"
