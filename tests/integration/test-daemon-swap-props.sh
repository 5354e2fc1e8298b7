#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The vmm-swap metrics on the per-VM D-Bus object (org.chromium.VmConcierge.Vm Swap*Pages,
# SwapTransition*; issue 8 item 4) with a real VM: 0 before any status; after FORCE_ENABLE ->
# Active they show the staged and swapped-out pages, learned by the daemon on its own (the status
# it asks for after each swap state change, and its polls) and announced with PropertiesChanged;
# after GetVmSwapStatus (`vmc swap status --json`) they equal its metrics; after DISABLE they show
# the swap-in (Ready, nothing staged or in the file). And DISABLE of a VM whose vmm-swap is off
# (never enabled, or disabled and back to Ready) succeeds without VmSwappingSignal.
. "$(dirname "$0")/daemon-swap-lib.sh"

OWNER=feed0123
NAME=props
VM_PATH=$CONCIERGE_PATH/vm/feed0123/props
IFACE=org.chromium.VmConcierge.Vm
METRICS="resident_pages copied_from_file_pages copied_from_staging_pages zeroed_pages redundant_pages
        staging_pages swap_pages"

bctl() { busctl --address="$BUS_ADDRESS" "$@"; }
prop() { bctl get-property --json=short $CONCIERGE_NAME "$VM_PATH" $IFACE "$1" | jq -r .data; }
# resident_pages -> SwapResidentPages
prop_name() { echo "Swap$(sed -E 's/(^|_)([a-z])/\U\2/g' <<<"$1")"; }
metric_prop() { prop "$(prop_name "$1")"; }
_prop_is() { [ "$(prop "$1")" = "$2" ]; }
_prop_positive() { [ "$(prop "$1")" -gt 0 ]; }

start_bus
# PropertiesChanged of the VM objects.
OBJ_SIGNALS=$TEST_TMP/obj-signals.json
bctl monitor --json=short --match "type='signal',path_namespace='$CONCIERGE_PATH/vm'" \
        >"$OBJ_SIGNALS" 2>"$TEST_TMP/obj-monitor.err" &
OBJ_MONITOR_PID=$!
on_exit 'kill "$OBJ_MONITOR_PID" 2>/dev/null; wait "$OBJ_MONITOR_PID" 2>/dev/null || true'
wait_for 10 grep -q 'Monitoring' "$TEST_TMP/obj-monitor.err" || fail "busctl monitor did not start"
start_signal_monitor
start_daemon --swap-force-delay-ms=1000 --swap-poll-ms=50 --swap-low-disk-check-ms=500

# The values of property $1 in every PropertiesChanged of the VM so far, one a line.
changed_values() {
        jq -r --arg p "$VM_PATH" --arg n "$1" 'select(.type == "signal" and .member == "PropertiesChanged"
                and .path == $p) | .payload.data[1][$n].data // empty' "$OBJ_SIGNALS"
}

out=$(start_vm $NAME $OWNER enable_vmm_swap=true)
assert_eq "$(field "$out" success)" true "StartVm: $out"
assert_eq "$(prop SwapState)" Ready "SwapState at start"

log "introspection: the metrics are typed (t) and emit changes"
intro=$(bctl introspect $CONCIERGE_NAME "$VM_PATH" $IFACE)
for m in $METRICS transition_pages transition_time_ms; do
        line=$(grep "^\.$(prop_name $m) " <<<"$intro") || fail "no property $(prop_name $m): $intro"
        assert_contains "$line" " t " "type of $(prop_name $m)"
        assert_contains "$line" "emits-change" "flags of $(prop_name $m)"
done
for m in $METRICS transition_pages transition_time_ms; do
        assert_eq "$(metric_prop $m)" 0 "$(prop_name $m) before any status"
done

log "DISABLE while vmm-swap was never enabled: success, no VMM call, no signal (idempotent)"
assert_eq "$(swap_vm $OWNER $NAME DISABLE)" ok "DISABLE of a fresh VM"
assert_eq "$(swap_vm $OWNER $NAME DISABLE)" ok "DISABLE again"
out=$(vmc --owner=$OWNER swap disable $NAME 2>&1) || fail "vmc swap disable of a fresh VM: $out"
assert_eq "$(swapping_signals $OWNER $NAME)" "" "VmSwappingSignal after DISABLE of a fresh VM"
assert_not_contains "$(cat "$DAEMON_LOG")" "disable failed" "daemon log"
assert_eq "$(swap_field $OWNER $NAME .state)" Ready "state after DISABLE of a fresh VM"

log "FORCE_ENABLE -> Active: the properties follow without anyone asking for a status"
assert_eq "$(guest $OWNER $NAME "fill 8 7")" "OK filled 2048" "fill"
REF=$(guest $OWNER $NAME verify)
assert_eq "$(swap_vm $OWNER $NAME FORCE_ENABLE)" ok "FORCE_ENABLE"
wait_for 20 _prop_is SwapState Active || fail "SwapState not Active: $(prop SwapState)"
# The status asked for after the Active event carries the swap-out's metrics.
wait_for 10 _prop_positive SwapSwapPages || fail "SwapSwapPages not > 0 when Active"
swap_pages=$(prop SwapSwapPages)
[ "$swap_pages" -ge 2048 ] || fail "SwapSwapPages $swap_pages after swapping out 2048 filled pages"
[ "$(prop SwapTransitionPages)" -gt 0 ] || fail "SwapTransitionPages after the swap-out: $(prop SwapTransitionPages)"
# PropertiesChanged announced the staged pages (Pending, polls) and the swapped-out ones.
staged=$(changed_values SwapStagingPages | sort -n | tail -n 1)
[ -n "$staged" ] && [ "$staged" -ge 2048 ] || fail "no PropertiesChanged with SwapStagingPages >= 2048: '$staged'"
announced=$(changed_values SwapSwapPages | tail -n 1)
assert_eq "$announced" "$swap_pages" "last PropertiesChanged of SwapSwapPages"

log "GetVmSwapStatus: the properties equal its metrics"
s=$(swap_status $OWNER $NAME)
assert_eq "$(jq -r .state <<<"$s")" Active "state"
[ "$(jq -r .metrics.staging_pages <<<"$s")" -ge 0 ] || fail "no metrics: $s"
[ "$(jq -r .metrics.swap_pages <<<"$s")" -ge 2048 ] || fail "swap_pages: $s"
for m in $METRICS; do
        assert_eq "$(metric_prop $m)" "$(jq -r .metrics.$m <<<"$s")" "$(prop_name $m) vs vmc swap status"
done
assert_eq "$(prop SwapTransitionPages)" "$(jq -r .state_transition.pages <<<"$s")" "SwapTransitionPages"
assert_eq "$(prop SwapTransitionTimeMs)" "$(jq -r .state_transition.time_ms <<<"$s")" "SwapTransitionTimeMs"
# Faults from the file show up after the next status.
assert_eq "$(guest $OWNER $NAME verify)" "$REF" "verify from the swap file"
s=$(swap_status $OWNER $NAME)
[ "$(jq -r .metrics.copied_from_file_pages <<<"$s")" -ge 2048 ] || fail "verify did not fault from the file: $s"
assert_eq "$(prop SwapCopiedFromFilePages)" "$(jq -r .metrics.copied_from_file_pages <<<"$s")" \
        "SwapCopiedFromFilePages after a status"
assert_contains "$(changed_values SwapCopiedFromFilePages)" "$(jq -r .metrics.copied_from_file_pages <<<"$s")" \
        "PropertiesChanged of SwapCopiedFromFilePages"

log "DISABLE: the properties show the swap-in"
assert_eq "$(swap_vm $OWNER $NAME DISABLE)" ok "DISABLE"
wait_for 20 _prop_is SwapState Ready || fail "SwapState not Ready after DISABLE: $(prop SwapState)"
wait_for 10 _prop_is SwapSwapPages 0 || fail "SwapSwapPages after the swap-in: $(prop SwapSwapPages)"
assert_eq "$(prop SwapStagingPages)" 0 "SwapStagingPages after the swap-in"
[ "$(prop SwapTransitionPages)" -gt 0 ] || fail "SwapTransitionPages of the swap-in: $(prop SwapTransitionPages)"
assert_eq "$(changed_values SwapSwapPages | tail -n 1)" 0 "PropertiesChanged of SwapSwapPages after the swap-in"
s=$(swap_status $OWNER $NAME)
for m in $METRICS; do
        assert_eq "$(metric_prop $m)" "$(jq -r .metrics.$m <<<"$s")" "$(prop_name $m) vs vmc swap status (Ready)"
done
assert_eq "$(swapping_signals $OWNER $NAME)" "SWAPPING_OUT SWAPPING_IN" "signals"
assert_eq "$(guest $OWNER $NAME verify)" "$REF" "verify after DISABLE"

log "DISABLE again once Ready: success, no second SWAPPING_IN"
assert_eq "$(swap_vm $OWNER $NAME DISABLE)" ok "DISABLE in Ready"
assert_eq "$(swap_vm $OWNER $NAME DISABLE)" ok "DISABLE in Ready, again"
assert_eq "$(swapping_signals $OWNER $NAME)" "SWAPPING_OUT SWAPPING_IN" "signals after DISABLE in Ready"
assert_not_contains "$(cat "$DAEMON_LOG")" "disable failed" "daemon log"
assert_eq "$(swap_field $OWNER $NAME .state)" Ready "state"

pb call StopVm owner_id=$OWNER name=$NAME >/dev/null
stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit"
[ "$(vmm_count)" = 0 ] || fail "VMMs left behind"
log "PASS"
