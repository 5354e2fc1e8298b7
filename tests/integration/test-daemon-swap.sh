#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm-swap through the daemon with real VMs (issue 8, reference/concierge.md §3.2): FORCE_ENABLE
# swaps out after the configured delay (VmSwappingSignal SWAPPING_OUT, state Active, the guest's
# memory intact), DISABLE swaps back in (SWAPPING_IN, Ready, intact); ENABLE refused by the usage
# prediction (no history), approved with a seeded history (trim wait, then swap-out), refused by
# the cool-down after that swap-out and by an exhausted TBW budget (seeded history file); the TBW
# budget and the usage history survive a daemon restart; the failure strings for a VM without
# vmm-swap, an unknown VM, SWAPOUT and bad requests.
. "$(dirname "$0")/daemon-swap-lib.sh"

OWNER=abcd0123
FORCE_DELAY_MS=1500
TRIM_WAIT_MS=1000
# 2 TB: the TBW target is its 2 GB/day cap, so the duration target is 1 GiB / 2 GB/day = 12.9 h.
DISK_SIZE=2000000000000
TARGET=2000000000
SWAP_FLAGS=(--swap-force-delay-ms=$FORCE_DELAY_MS --swap-trim-wait-ms=$TRIM_WAIT_MS --swap-poll-ms=50
        --swap-cool-down-ms=3600000 --swap-low-disk-check-ms=500 --disk-size-bytes=$DISK_SIZE)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Seeds written before the daemon starts: a TBW history with room in every window (1 byte 27 days
# ago: loaded as it is, not pessimistic), and for VM "ok" a usage history that predicts a long
# idle period: one enable 7 days + 1 hour ago that lasted 2 days. One week of history, and that
# period covers "now - 1 week" for 2 days - 1 hour: the prediction is 47 h > 12.9 h.
mkdir -p "$STATE_DIR/vmm_swap_policy/$OWNER"
chmod 0700 "$STATE_DIR/vmm_swap_policy" "$STATE_DIR/vmm_swap_policy/$OWNER"
"$SWAP_HISTORY" write-tbw "$TBW_FILE" $((27 * 86400)):1 >/dev/null
"$SWAP_HISTORY" write-usage "$(usage_file $OWNER ok)" $((7 * 86400 + 3600)):$((2 * 86400)) >/dev/null

start_bus
start_signal_monitor
start_daemon "${SWAP_FLAGS[@]}"
assert_contains "$(cat "$DAEMON_LOG")" "vmm-swap TBW history $TBW_FILE loaded." "daemon log"
assert_not_contains "$(cat "$DAEMON_LOG")" "pessimistic" "daemon log"

log "VMs: plain (no vmm-swap), force, fresh and ok (vmm-swap)"
start_vm plain $OWNER >/dev/null
for vm in force fresh ok; do
        out=$(start_vm $vm $OWNER enable_vmm_swap=true)
        assert_eq "$(field "$out" success)" true "StartVm $vm: $out"
done
[ -d "$STATE_DIR/$OWNER" ] || fail "no per-owner swap dir $STATE_DIR/$OWNER"
# vmc's way in: `vmc start --enable-vmm-swap`, then `vmc swap` on it.
vmc --owner=$OWNER start viavmc --kernel "$GUEST" --mem 32 --cpus 1 --enable-vmm-swap >/dev/null
out=$(vmc --owner=$OWNER swap status viavmc)
assert_contains "$out" "State:        Ready" "vmc swap status of a VM started by vmc"
assert_contains "$out" "TBW:" "vmc swap status"
assert_eq "$(swap_field $OWNER viavmc .policy.disk_required_bytes)" $((2 * 1073741824 + 32 * 1048576)) \
        "low-disk bar of a 32 MiB VM"
vmc --owner=$OWNER stop viavmc >/dev/null
assert_eq "$(stat -c %a "$STATE_DIR/$OWNER")" 700 "swap dir mode"

log "failure strings"
assert_eq "$(swap_vm $OWNER plain ENABLE)" "vmm-swap is not supported on this vm" "SwapVm on a VM without vmm-swap"
assert_eq "$(swap_vm $OWNER plain DISABLE)" "vmm-swap is not supported on this vm" "SwapVm DISABLE without vmm-swap"
assert_eq "$(swap_vm $OWNER nosuchvm ENABLE)" "Requested VM does not exist" "SwapVm on an unknown VM"
assert_eq "$(swap_vm 0123 force ENABLE)" "Requested VM does not exist" "SwapVm with another owner"
assert_eq "$(swap_vm $OWNER force SWAPOUT)" "Unknown operation" "SwapVm SWAPOUT"
assert_eq "$(swap_vm $OWNER force 77)" "Unknown operation" "SwapVm with an operation number outside the enum"
assert_eq "$(swap_vm xyz force ENABLE)" "$(field "$(pb call GetVmInfo owner_id=xyz name=force)" failure_reason)" \
        "SwapVm with a bad owner id: the validation failure"
out=$(vmc --owner=$OWNER swap status plain 2>&1) && fail "vmc swap status of a VM without vmm-swap succeeded: $out"
assert_contains "$out" "vmm-swap is not supported on this vm" "vmc swap status plain"
out=$(vmc --owner=$OWNER swap enable nosuchvm 2>&1) && fail "vmc swap enable of an unknown VM succeeded: $out"
assert_contains "$out" "Requested VM does not exist" "vmc swap enable nosuchvm"
rc=0
vmc --owner=$OWNER swap frobnicate force >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "vmc swap with an unknown operation: usage error"
out=$(pb call-raw SwapVm 8 255 255 255 255 255 255 255 255 255 255) || true
assert_contains "$out" "org.freedesktop.DBus.Error.InvalidArgs" "SwapVm with garbage bytes"
out=$(pb call-raw SwapVm --size=70000) || true
assert_contains "$out" "org.freedesktop.DBus.Error.InvalidArgs" "SwapVm with an oversized request"
out=$(bus_call GetVmSwapStatus ay 3 255 255 255 2>&1) && fail "GetVmSwapStatus with garbage bytes succeeded: $out"
assert_contains "$out" "malformed protobuf" "GetVmSwapStatus with garbage bytes"
daemon_alive || fail "the daemon died on bad requests"
[ -z "$(swapping_signals $OWNER force)" ] || fail "a refused request emitted VmSwappingSignal"

log "fresh status: Ready, disabled, TBW from the seeded history"
s=$(swap_status $OWNER force)
assert_eq "$(jq -r .state <<<"$s")" Ready "state"
assert_eq "$(jq -r .enabled <<<"$s")" false "enabled"
assert_eq "$(jq -r .tbw.target_per_day <<<"$s")" $TARGET "TBW target for --disk-size-bytes=$DISK_SIZE"
assert_eq "$(jq -r .tbw.can_swap_out <<<"$s")" true "TBW can swap out"
assert_eq "$(jq -r .tbw.persistent <<<"$s")" true "TBW persistent"
assert_eq "$(jq -r '.tbw.windows["28d"].used' <<<"$s")" 1 "28-day window used (the seeded byte)"
assert_eq "$(jq -r '.tbw.windows["28d"].limit' <<<"$s")" $((28 * TARGET)) "28-day limit"
assert_eq "$(jq -r '.tbw.windows["7d"].limit' <<<"$s")" $((14 * TARGET)) "7-day limit"
assert_eq "$(jq -r '.tbw.windows["1d"].limit' <<<"$s")" $((4 * TARGET)) "1-day limit"
# 1 GiB / (2 GB/day) in ms (the daemon computes µs and rounds down).
assert_eq "$(jq -r .policy.duration_target_ms <<<"$s")" $((1073741824 * 86400000 / TARGET)) "duration target"
assert_eq "$(jq -r .policy.disk_required_bytes <<<"$s")" $((2 * 1073741824 + 64 * 1048576)) "low-disk bar"
assert_eq "$(busctl --address="$BUS_ADDRESS" get-property $CONCIERGE_NAME "$CONCIERGE_PATH/vm/$OWNER/force" \
        org.chromium.VmConcierge.Vm SwapState)" 's "Ready"' "SwapState property"
assert_eq "$(busctl --address="$BUS_ADDRESS" get-property $CONCIERGE_NAME "$CONCIERGE_PATH/vm/$OWNER/plain" \
        org.chromium.VmConcierge.Vm SwapState)" 's ""' "SwapState property of a VM without vmm-swap"

log "FORCE_ENABLE: staged at once, swapped out after ${FORCE_DELAY_MS} ms, memory intact"
assert_eq "$(guest $OWNER force "fill 16 11")" "OK filled 4096" "fill"
REF=$(guest $OWNER force verify)
assert_contains "$REF" "OK 4096 " "verify before"
t0=$(now_ms)
assert_eq "$(swap_vm $OWNER force FORCE_ENABLE)" ok "FORCE_ENABLE"
s=$(swap_status $OWNER force)
assert_eq "$(jq -r .enabled <<<"$s")" true "enabled after FORCE_ENABLE"
assert_eq "$(jq -r .timer <<<"$s")" swap-out "timer after FORCE_ENABLE"
assert_eq "$(jq -r .state <<<"$s")" Pending "state right after FORCE_ENABLE (staged)"
left=$(jq -r .timer_left_ms <<<"$s")
[ "$left" -gt 0 ] && [ "$left" -le $FORCE_DELAY_MS ] || fail "timer_left_ms $left after FORCE_ENABLE"
wait_swap_state $((FORCE_DELAY_MS / 1000 + 10)) $OWNER force Active || fail "not Active: $(swap_status $OWNER force)"
elapsed=$(($(now_ms) - t0))
[ "$elapsed" -ge $((FORCE_DELAY_MS - 100)) ] || fail "Active after $elapsed ms, before the $FORCE_DELAY_MS ms delay"
log "Active after $elapsed ms"
s=$(swap_status $OWNER force)
[ "$(jq -r .metrics.swap_pages <<<"$s")" -ge 4096 ] || fail "swap_pages after swap-out: $s"
assert_eq "$(jq -r .swap_outs <<<"$s")" 1 "swap_outs"
bytes=$(jq -r .swapped_out_bytes <<<"$s")
[ "$bytes" -ge $((4096 * 4096)) ] || fail "swapped_out_bytes $bytes"
assert_eq "$(jq -r '.tbw.windows["1d"].used' <<<"$s")" "$bytes" "TBW 1-day window holds the swap-out"
assert_eq "$(swapping_signals $OWNER force)" SWAPPING_OUT "signals after FORCE_ENABLE"
assert_eq "$(busctl --address="$BUS_ADDRESS" get-property $CONCIERGE_NAME "$CONCIERGE_PATH/vm/$OWNER/force" \
        org.chromium.VmConcierge.Vm SwapState)" 's "Active"' "SwapState property when Active"
assert_eq "$(guest $OWNER force verify)" "$REF" "verify from the swap file"
[ "$(swap_field $OWNER force .metrics.copied_from_file_pages)" -ge 4096 ] || fail "verify did not fault from the file"

log "DISABLE: SWAPPING_IN, Ready, memory intact"
assert_eq "$(swap_vm $OWNER force DISABLE)" ok "DISABLE"
assert_eq "$(swapping_signals $OWNER force)" "SWAPPING_OUT SWAPPING_IN" "signals after DISABLE"
wait_swap_state 10 $OWNER force Ready || fail "not Ready after DISABLE: $(swap_status $OWNER force)"
s=$(swap_status $OWNER force)
assert_eq "$(jq -r .enabled <<<"$s")" false "enabled after DISABLE"
assert_eq "$(jq -r .policy.last_disable_reason <<<"$s")" DisableRequest "disable reason"
assert_eq "$(guest $OWNER force verify)" "$REF" "verify after DISABLE"

log "ENABLE without usage history: UsagePrediction"
assert_eq "$(swap_field $OWNER fresh .policy.predicted_duration_ms)" 0 "prediction without history"
assert_eq "$(swap_vm $OWNER fresh ENABLE)" "Predicted disable soon" "ENABLE of a VM without history"
s=$(swap_status $OWNER fresh)
assert_eq "$(jq -r .policy.last_result <<<"$s")" UsagePrediction "last policy result"
# The ENABLE opened a period (§3.5): less than a week of history predicts twice its length.
[ "$(jq -r .policy.predicted_duration_ms <<<"$s")" -lt 10000 ] || fail "prediction after the ENABLE: $s"
assert_eq "$(jq -r .enabled <<<"$s")" false "enabled after a refusal"
assert_eq "$(jq -r .state <<<"$s")" Ready "state after a refusal"
[ -z "$(swapping_signals $OWNER fresh)" ] || fail "a refused ENABLE emitted VmSwappingSignal"

log "ENABLE with a long predicted idle time: Approve, trim wait, swap-out"
s=$(swap_status $OWNER ok)
pred=$(jq -r .policy.predicted_duration_ms <<<"$s")
[ "$pred" -ge $((46 * 3600000)) ] && [ "$pred" -le $((47 * 3600000)) ] || fail "prediction $pred ms, expected 47 h - elapsed"
assert_eq "$(guest $OWNER ok "fill 8 5")" "OK filled 2048" "fill ok"
REF_OK=$(guest $OWNER ok verify)
t0=$(now_ms)
assert_eq "$(swap_vm $OWNER ok ENABLE)" ok "ENABLE approved"
s=$(swap_status $OWNER ok)
assert_eq "$(jq -r .policy.last_result <<<"$s")" Approve "last policy result"
assert_eq "$(jq -r .timer <<<"$s")" swap-out "trim-wait timer"
wait_swap_state $((TRIM_WAIT_MS / 1000 + 10)) $OWNER ok Active || fail "not Active: $(swap_status $OWNER ok)"
elapsed=$(($(now_ms) - t0))
[ "$elapsed" -ge $((TRIM_WAIT_MS - 100)) ] || fail "swapped out after $elapsed ms, before the $TRIM_WAIT_MS ms trim wait"
assert_eq "$(swapping_signals $OWNER ok)" SWAPPING_OUT "signals of ok"
assert_eq "$(guest $OWNER ok verify)" "$REF_OK" "verify ok from the swap file"

log "ENABLE again within the cool-down: CoolDown"
assert_eq "$(swap_vm $OWNER ok ENABLE)" "Requires cooling down period after last vmm-swap out" "maintenance ENABLE"
assert_eq "$(swap_field $OWNER ok .policy.last_result)" CoolDown "last policy result"

log "the daemon restarts: TBW budget and usage history are kept"
s=$(swap_status $OWNER ok)
used_28d=$(jq -r '.tbw.windows["28d"].used' <<<"$s")
[ "$used_28d" -gt 1 ] || fail "28-day window before the restart: $used_28d"
stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit"
"$SWAP_HISTORY" show-tbw "$TBW_FILE" >/dev/null || fail "TBW history after the restart: $("$SWAP_HISTORY" show-tbw "$TBW_FILE")"
out=$("$SWAP_HISTORY" show-usage "$(usage_file $OWNER ok)") || fail "usage history of ok: $out"
[ "$(sed -n 's/^entries //p' <<<"$out")" -ge 2 ] || fail "usage history of ok holds no new period: $out"
: >"$DAEMON_LOG"
start_daemon "${SWAP_FLAGS[@]}"
assert_contains "$(cat "$DAEMON_LOG")" "vmm-swap TBW history $TBW_FILE loaded." "daemon log after restart"
assert_not_contains "$(cat "$DAEMON_LOG")" "corrupt" "daemon log after restart"
start_vm ok $OWNER enable_vmm_swap=true >/dev/null
s=$(swap_status $OWNER ok)
assert_eq "$(jq -r '.tbw.windows["28d"].used' <<<"$s")" "$used_28d" "28-day window after the restart"
assert_eq "$(jq -r .tbw.can_swap_out <<<"$s")" true "TBW after the restart"
pred2=$(jq -r .policy.predicted_duration_ms <<<"$s")
[ "$pred2" -le "$pred" ] && [ "$pred2" -ge $((pred - 120000)) ] || fail "prediction after the restart $pred2 ms, before $pred ms"
assert_eq "$(jq -r .policy.usage_history_persistent <<<"$s")" true "usage history persistent"

log "an exhausted TBW budget (seeded: 4 days' worth in the last hour): ExceededTotalBytesWrittenLimit"
stop_daemon
"$SWAP_HISTORY" write-tbw "$TBW_FILE" 3600:$((4 * TARGET)) >/dev/null
: >"$DAEMON_LOG"
start_daemon "${SWAP_FLAGS[@]}"
start_vm ok $OWNER enable_vmm_swap=true >/dev/null
s=$(swap_status $OWNER ok)
assert_eq "$(jq -r .tbw.can_swap_out <<<"$s")" false "TBW can swap out"
assert_eq "$(jq -r '.tbw.windows["1d"].left' <<<"$s")" 0 "1-day window left"
[ "$(jq -r .policy.predicted_duration_ms <<<"$s")" -ge $((40 * 3600000)) ] || fail "prediction: $s"
assert_eq "$(swap_vm $OWNER ok ENABLE)" "TBW (total bytes written) reached target" "ENABLE with the budget spent"
assert_eq "$(swap_field $OWNER ok .policy.last_result)" ExceededTotalBytesWrittenLimit "last policy result"
# FORCE_ENABLE ignores every policy.
assert_eq "$(swap_vm $OWNER ok FORCE_ENABLE)" ok "FORCE_ENABLE with the budget spent"
wait_swap_state $((FORCE_DELAY_MS / 1000 + 10)) $OWNER ok Active || fail "not Active: $(swap_status $OWNER ok)"

log "a VM stopped while Active: its controller is gone with it"
pb call StopVm owner_id=$OWNER name=ok >/dev/null
assert_eq "$(swap_vm $OWNER ok DISABLE)" "Requested VM does not exist" "SwapVm after StopVm"
stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit"
"$SWAP_HISTORY" show-tbw "$TBW_FILE" >/dev/null || fail "TBW history at the end: $("$SWAP_HISTORY" show-tbw "$TBW_FILE")"
"$SWAP_HISTORY" show-usage "$(usage_file $OWNER ok)" >/dev/null || fail "usage history at the end"
[ "$(vmm_count)" = 0 ] || fail "VMMs left behind"
log "PASS"
