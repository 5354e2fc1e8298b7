#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemon runs real VMs (vmm_backend + the test guest) on a private bus: two owners, ListVms,
# GetVmInfo, the signals in order, GetVmLogs, suspend/resume seen from the guest, StopVm, a VMM
# killed with SIGKILL (VmStoppedSignal VM_EXITED within 1 s), StopAllVms, and SIGTERM to the
# daemon with VMs running (and calls during that shutdown).
. "$(dirname "$0")/daemon-vms-lib.sh"

A=aaaa0001
B=bbbb0002

start_bus
start_signal_monitor
start_daemon

log "start one VM for each of two owners"
out=$(start_vm alpha $A)
assert_eq "$(field "$out" success)" true "StartVm alpha success ($out)"
assert_eq "$(field "$out" status)" VM_STATUS_RUNNING "StartVm alpha status"
assert_eq "$(field "$out" vm_info.cid)" 32 "first cid"
out=$(start_vm beta $B kernel_params=quiet enable_balloon=true)
assert_eq "$(field "$out" success)" true "StartVm beta success ($out)"
assert_eq "$(field "$out" vm_info.cid)" 33 "second cid"
assert_eq "$(vmm_count)" 2 "VMM processes"

log "ListVms per owner"
out=$(pb call ListVms owner_id=$A)
assert_eq "$(field "$out" vms.count)" 1 "VMs of owner A"
assert_eq "$(field "$out" 'vms\[0\].name')" alpha "VM of owner A"
out=$(pb call ListVms owner_id=$B)
assert_eq "$(field "$out" vms.count)" 1 "VMs of owner B"
assert_eq "$(field "$out" 'vms\[0\].name')" beta "VM of owner B"
assert_eq "$(field "$(pb call ListVms owner_id=cccc)" vms.count)" 0 "VMs of another owner"

log "GetVmInfo fields"
info=$(vm_info $A alpha)
assert_eq "$(field "$info" success)" true "GetVmInfo success"
pid=$(field "$info" vm_info.pid)
assert_eq "$(readlink /proc/"$pid"/exe)" "$(readlink -f "$VMM")" "the VMM behind vm_info.pid"
assert_eq "$(field "$info" vm_info.cid)" 32 "cid"
assert_eq "$(field "$info" vm_info.status)" VM_STATUS_RUNNING "status"
assert_eq "$(field "$info" vm_info.memory_mib)" 64 "memory_mib"
assert_eq "$(field "$info" vm_info.allocated_memory)" $((64 << 20)) "allocated_memory"
assert_eq "$(field "$info" vm_info.backend)" embedded "backend"
chan_a=$(field "$info" vm_info.channel_socket)
[ -S "$chan_a" ] || fail "channel_socket '$chan_a' is not a socket"
dir_a=$(dirname "$chan_a")
case "$dir_a" in "$RUNTIME_DIR"/*) ;; *) fail "runtime dir $dir_a is not under $RUNTIME_DIR" ;; esac
assert_eq "$(stat -c %a "$dir_a")" 700 "mode of the VM's runtime dir"
assert_eq "$(tr '\0' ' ' </proc/"$pid"/cmdline | grep -c -- '--balloon')" 0 "alpha has no balloon"
pid_b=$(field "$(vm_info $B beta)" vm_info.pid)
chan_b=$(field "$(vm_info $B beta)" vm_info.channel_socket)
cmd_b=$(tr '\0' ' ' </proc/"$pid_b"/cmdline)
assert_contains "$cmd_b" "--balloon" "beta's VMM command line"
assert_contains "$cmd_b" "--cmdline quiet" "beta's VMM command line"
assert_eq "$(field "$(vm_info $B alpha)" success)" false "GetVmInfo with the wrong owner"

log "StartVm of a running VM answers with its info (idempotent)"
out=$(start_vm alpha $A)
assert_eq "$(field "$out" success)" true "second StartVm"
assert_eq "$(field "$out" vm_info.pid)" "$pid" "pid of the second StartVm"
assert_eq "$(vmm_count)" 2 "VMM processes after the second StartVm"

log "enable_vmm_swap gives the VMM a private per-owner swap dir under the state dir"
out=$(start_vm swappy $A enable_vmm_swap=true)
assert_eq "$(field "$out" success)" true "StartVm swappy ($out)"
pid_s=$(field "$out" vm_info.pid)
assert_contains "$(tr '\0' ' ' </proc/"$pid_s"/cmdline)" "--swap-dir $STATE_DIR/$A" "swappy's VMM command line"
assert_eq "$(stat -c %a "$STATE_DIR/$A")" 700 "mode of the swap dir"
assert_eq "$(field "$(pb call StopVm owner_id=$A name=swappy)" success)" true "StopVm swappy"

log "signals so far, in order"
assert_eq "$(vm_signals $A alpha)" "VmStartingUpSignal $A/alpha
VmStartedSignal $A/alpha" "signals of alpha"

log "GetVmLogs has the guest's console"
wait_for 10 sh -c "'$PBTOOL' call --address='$BUS_ADDRESS' GetVmLogs owner_id=$A name=alpha | grep -q 'TESTGUEST READY'" ||
        fail "GetVmLogs: $(pb call GetVmLogs owner_id=$A name=alpha)"
assert_eq "$(field "$(pb call GetVmLogs owner_id=$A name=nope)" success)" false "GetVmLogs of an unknown VM"

log "suspend: the guest stops answering; resume: it goes on"
assert_eq "$("$GUESTCHAN" "$chan_a" --timeout 5000 ping)" PONG "ping before suspend"
out=$(pb call SuspendVm owner_id=$A name=alpha)
assert_eq "$(field "$out" success)" true "SuspendVm ($out)"
assert_eq "$(field "$(pb call SuspendVm owner_id=$A name=alpha)" success)" true "SuspendVm again"
busctl --address="$BUS_ADDRESS" get-property $CONCIERGE_NAME "/org/chromium/VmConcierge/vm/$A/alpha" \
        org.chromium.VmConcierge.Vm State | grep -q suspended || fail "State property is not suspended"
rc=0
"$GUESTCHAN" "$chan_a" --timeout 700 ping >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 1 "guestchan ping while suspended (1 = no reply)"
out=$(pb call ResumeVm owner_id=$A name=alpha)
assert_eq "$(field "$out" success)" true "ResumeVm ($out)"
assert_eq "$("$GUESTCHAN" "$chan_a" --timeout 5000 ping)" PONG "ping after resume"
assert_eq "$(field "$(pb call SuspendVm owner_id=$A name=ghost)" success)" true "SuspendVm of an unknown VM"

log "StopVm: VmStopping, VmStopped(STOP_VM_REQUESTED), runtime dir and process gone"
out=$(pb call StopVm owner_id=$A name=alpha)
assert_eq "$(field "$out" success)" true "StopVm ($out)"
[ ! -e "$dir_a" ] || fail "runtime dir $dir_a still there after StopVm"
kill -0 "$pid" 2>/dev/null && fail "VMM $pid still running after StopVm"
wait_for 5 has_signal VmStoppedSignal $A alpha || fail "no VmStoppedSignal for alpha"
assert_eq "$(vm_signals $A alpha)" "VmStartingUpSignal $A/alpha
VmStartedSignal $A/alpha
VmStoppingSignal $A/alpha
VmStoppedSignal $A/alpha STOP_VM_REQUESTED" "signals of alpha"
assert_eq "$(field "$(pb call ListVms owner_id=$A)" vms.count)" 0 "VMs of owner A after StopVm"
assert_eq "$(field "$(pb call StopVm owner_id=$A name=alpha)" success)" true "StopVm of a VM that is gone"

log "kill -9 of a VMM: VmStoppedSignal(VM_EXITED) within 1 s, resources released"
dir_b=$(dirname "$chan_b")
t0=$(($(date +%s%N) / 1000))
kill -KILL "$pid_b"
wait_for 5 has_signal VmStoppedSignal $B beta || fail "no VmStoppedSignal for beta: $(signal_log)"
t1=$(signal_time_us VmStoppedSignal $B beta)
log "VmStoppedSignal $(((t1 - t0) / 1000)) ms after the SIGKILL"
[ $((t1 - t0)) -lt 1000000 ] || fail "VmStoppedSignal came $(((t1 - t0) / 1000)) ms after the SIGKILL"
assert_eq "$(vm_signals $B beta | tail -n 1)" "VmStoppedSignal $B/beta VM_EXITED" "last signal of beta"
assert_not_contains "$(vm_signals $B beta)" VmStoppingSignal "signals of beta"
wait_for 2 test ! -e "$dir_b" || fail "runtime dir $dir_b still there"
assert_eq "$(field "$(pb call ListVms owner_id=$B)" vms.count)" 0 "VMs of owner B after the kill"

log "StopAllVms stops every VM in parallel"
start_vm gamma $A >/dev/null
start_vm delta $B >/dev/null
assert_eq "$(vmm_count)" 2 "VMM processes"
pb call StopAllVms >/dev/null
assert_eq "$(vmm_count)" 0 "VMM processes after StopAllVms"
wait_for 5 has_signal VmStoppedSignal $A gamma || fail "no VmStoppedSignal for gamma"
wait_for 5 has_signal VmStoppedSignal $B delta || fail "no VmStoppedSignal for delta"
assert_eq "$(vm_signals $A gamma | tail -n 1)" "VmStoppedSignal $A/gamma STOP_ALL_VMS_REQUESTED" "gamma"
assert_eq "$(vm_signals $B delta | tail -n 1)" "VmStoppedSignal $B/delta STOP_ALL_VMS_REQUESTED" "delta"
assert_eq "$(ls "$RUNTIME_DIR")" "" "runtime dir contents after StopAllVms"

log "SIGTERM with VMs running: calls get 'Shutdown in progress', every VM stops, exit 0"
start_vm eps $A >/dev/null
start_vm zeta $B >/dev/null
pid_e=$(field "$(vm_info $A eps)" vm_info.pid)
pid_z=$(field "$(vm_info $B zeta)" vm_info.pid)
# A frozen VMM keeps the daemon in its shutdown until it is thawed.
kill -STOP "$pid_e"
kill -TERM "$DAEMON_PID"
wait_for 5 grep -q 'shutting down' "$DAEMON_LOG" || fail "the daemon did not begin its shutdown"
out=$(pb call ListVms owner_id=$A) || true
assert_contains "$out" "dbus-error: org.freedesktop.DBus.Error.Failed: Shutdown in progress" "ListVms during shutdown"
out=$(start_vm eta $A) || true
assert_contains "$out" "Shutdown in progress" "StartVm during shutdown"
daemon_alive || fail "the daemon exited before its VMs stopped"
kill -CONT "$pid_e"
stop_daemon TERM
assert_eq "$DAEMON_EXIT" 0 "daemon exit status"
kill -0 "$pid_e" 2>/dev/null && fail "VMM $pid_e survived the daemon"
kill -0 "$pid_z" 2>/dev/null && fail "VMM $pid_z survived the daemon"
assert_eq "$(vmm_count)" 0 "VMM processes after the daemon's exit"
wait_for 5 has_signal VmStoppedSignal $A eps || fail "no VmStoppedSignal for eps"
wait_for 5 has_signal VmStoppedSignal $B zeta || fail "no VmStoppedSignal for zeta"
assert_eq "$(vm_signals $A eps | tail -n 1)" "VmStoppedSignal $A/eps SERVICE_SHUTDOWN" "eps"
assert_eq "$(vm_signals $B zeta | tail -n 1)" "VmStoppedSignal $B/zeta SERVICE_SHUTDOWN" "zeta"
assert_eq "$(ls "$RUNTIME_DIR")" "" "runtime dir contents after the daemon's exit"
log "ok"
