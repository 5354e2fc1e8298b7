#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The per-VM D-Bus objects (concierge/vm-dbus.c) of a daemon running real VMs: the path escaping,
# `busctl tree` / `introspect` / `get-property`, the values against GetVmInfo, the ObjectManager
# (GetManagedObjects, InterfacesAdded/Removed), PropertiesChanged of State through suspend, resume
# and stop, and the object gone once the VM is.
. "$(dirname "$0")/daemon-vms-lib.sh"

# A leading digit and punctuation exercise the escaping: "0a1b" -> "_30a1b", "obj-1.x" ->
# "obj_2d1_2ex".
OWNER=0a1b
NAME=obj-1.x
VM_PATH=/org/chromium/VmConcierge/vm/_30a1b/obj_2d1_2ex
OTHER_OWNER=beef
OTHER_PATH=/org/chromium/VmConcierge/vm/beef/other
IFACE=org.chromium.VmConcierge.Vm

bctl() { busctl --address="$BUS_ADDRESS" "$@"; }
prop() { bctl get-property --json=short $CONCIERGE_NAME "$1" $IFACE "$2" | jq -r .data; }

start_bus
# Every signal below /org/chromium/VmConcierge/vm (PropertiesChanged, InterfacesAdded/Removed).
OBJ_SIGNALS=$TEST_TMP/obj-signals.json
bctl monitor --json=short --match "type='signal',path_namespace='/org/chromium/VmConcierge/vm'" \
        >"$OBJ_SIGNALS" 2>"$TEST_TMP/obj-monitor.err" &
OBJ_MONITOR_PID=$!
on_exit 'kill "$OBJ_MONITOR_PID" 2>/dev/null; wait "$OBJ_MONITOR_PID" 2>/dev/null || true'
wait_for 10 grep -q 'Monitoring' "$TEST_TMP/obj-monitor.err" || fail "busctl monitor did not start"
start_daemon

# "member path [State]" per signal seen so far.
obj_signal_log() {
        jq -r 'select(.type == "signal") | .member + " " + .path +
                (if .member == "PropertiesChanged" then
                        " " + ((.payload.data[1].State.data // "-") | tostring)
                 else "" end)' "$OBJ_SIGNALS"
}

log "no VM: no VM objects"
tree=$(bctl tree --list $CONCIERGE_NAME)
assert_not_contains "$tree" "/org/chromium/VmConcierge/vm/" "busctl tree without VMs"

log "start a VM: its object appears at the escaped path"
t0=$(($(date +%s%N) / 1000))
out=$(start_vm "$NAME" $OWNER)
t1=$(($(date +%s%N) / 1000))
assert_eq "$(field "$out" success)" true "StartVm ($out)"
tree=$(bctl tree --list $CONCIERGE_NAME)
assert_contains "$tree" "$VM_PATH" "busctl tree"

intro=$(bctl introspect $CONCIERGE_NAME "$VM_PATH")
for p in Name OwnerId State Cid Pid MemoryMiB Cpus BackendName StartTimeUsec CgroupPath VcpuCgroupPath \
        SwapState; do
        printf '%s\n' "$intro" | grep -q "^\.$p  *property " || fail "introspection lacks property $p: $intro"
done
assert_contains "$(printf '%s\n' "$intro" | grep '^\.Name ')" "const" "Name is constant"
assert_contains "$(printf '%s\n' "$intro" | grep '^\.State ')" "emits-change" "State emits changes"
# The object matches the interface in the installed XML: the same property names and types.
xml_props() { grep -o '<property name="[A-Za-z]*" type="[a-z]*"' | sort; }
live=$(bctl introspect --xml-interface $CONCIERGE_NAME "$VM_PATH" |
        sed -n "/<interface name=\"$IFACE\">/,/<\/interface>/p" | xml_props)
file=$(sed -n "/<interface name=\"$IFACE\">/,/<\/interface>/p" "$LIB_DIR/../../dbus/org.chromium.VmConcierge.xml" |
        xml_props)
[ -n "$file" ] || fail "dbus/org.chromium.VmConcierge.xml has no $IFACE"
assert_eq "$live" "$file" "properties: live introspection vs dbus/org.chromium.VmConcierge.xml"

log "property values match GetVmInfo"
info=$(vm_info $OWNER "$NAME")
assert_eq "$(prop "$VM_PATH" Name)" "$NAME" "Name"
assert_eq "$(prop "$VM_PATH" OwnerId)" "$OWNER" "OwnerId"
assert_eq "$(prop "$VM_PATH" State)" running "State"
assert_eq "$(prop "$VM_PATH" Cid)" "$(field "$info" vm_info.cid)" "Cid"
assert_eq "$(prop "$VM_PATH" Pid)" "$(field "$info" vm_info.pid)" "Pid"
assert_eq "$(prop "$VM_PATH" MemoryMiB)" "$(field "$info" vm_info.memory_mib)" "MemoryMiB"
assert_eq "$(prop "$VM_PATH" MemoryMiB)" 64 "MemoryMiB"
assert_eq "$(prop "$VM_PATH" Cpus)" 1 "Cpus"
assert_eq "$(prop "$VM_PATH" BackendName)" "$(field "$info" vm_info.backend)" "BackendName"
assert_eq "$(prop "$VM_PATH" CgroupPath)" "$(field "$info" vm_info.cgroup_path)" "CgroupPath"
assert_eq "$(prop "$VM_PATH" VcpuCgroupPath)" "$(field "$info" vm_info.vcpu_cgroup_path)" "VcpuCgroupPath"
assert_eq "$(prop "$VM_PATH" SwapState)" "" "SwapState without vmm-swap"
st=$(prop "$VM_PATH" StartTimeUsec)
[ "$st" -ge "$t0" ] && [ "$st" -le "$t1" ] || fail "StartTimeUsec $st is not within the StartVm call [$t0, $t1]"
pid=$(prop "$VM_PATH" Pid)
assert_eq "$(readlink /proc/"$pid"/exe)" "$(readlink -f "$VMM")" "the process behind Pid"
# Read-only.
rc=0
bctl set-property $CONCIERGE_NAME "$VM_PATH" $IFACE State s stopped >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "set-property State succeeded"
assert_eq "$(prop "$VM_PATH" State)" running "State after a refused set-property"

log "a second VM of another owner; the ObjectManager lists both"
out=$(start_vm other $OTHER_OWNER)
assert_eq "$(field "$out" success)" true "StartVm other ($out)"
managed=$(bctl call --json=short $CONCIERGE_NAME /org/chromium/VmConcierge/vm org.freedesktop.DBus.ObjectManager \
        GetManagedObjects | jq -r '.data[0] | keys[]' | sort)
assert_eq "$managed" "$(printf '%s\n%s\n' "$VM_PATH" "$OTHER_PATH" | sort)" "GetManagedObjects"
name=$(bctl call --json=short $CONCIERGE_NAME /org/chromium/VmConcierge/vm org.freedesktop.DBus.ObjectManager \
        GetManagedObjects | jq -r --arg p "$VM_PATH" --arg i $IFACE '.data[0][$p][$i].Name.data')
assert_eq "$name" "$NAME" "Name in GetManagedObjects"

log "suspend and resume: State follows, with PropertiesChanged"
assert_eq "$(field "$(pb call SuspendVm owner_id=$OWNER name="$NAME")" success)" true "SuspendVm"
assert_eq "$(prop "$VM_PATH" State)" suspended "State after SuspendVm"
assert_eq "$(field "$(pb call ResumeVm owner_id=$OWNER name="$NAME")" success)" true "ResumeVm"
assert_eq "$(prop "$VM_PATH" State)" running "State after ResumeVm"

log "stop: State changes, InterfacesRemoved, the object is gone"
assert_eq "$(field "$(pb call StopVm owner_id=$OWNER name="$NAME")" success)" true "StopVm"
gone() { ! bctl get-property $CONCIERGE_NAME "$VM_PATH" $IFACE State >/dev/null 2>&1; }
wait_for 10 gone || fail "the object of the stopped VM still answers"
tree=$(bctl tree --list $CONCIERGE_NAME)
assert_not_contains "$tree" "$VM_PATH" "busctl tree after StopVm"
assert_contains "$tree" "$OTHER_PATH" "busctl tree after StopVm"
assert_eq "$(prop "$OTHER_PATH" State)" running "the other VM's State"

removed() { obj_signal_log | grep -q "^InterfacesRemoved /org/chromium/VmConcierge/vm$"; }
wait_for 5 removed || fail "no InterfacesRemoved; signals: $(obj_signal_log)"
# The InterfacesAdded/Removed signals name the object; decode them in order for our path.
om=$(jq -r --arg p "$VM_PATH" 'select(.type == "signal" and (.member == "InterfacesAdded" or
        .member == "InterfacesRemoved") and .payload.data[0] == $p) | .member' "$OBJ_SIGNALS" | tr '\n' ' ')
assert_eq "$om" "InterfacesAdded InterfacesRemoved " "ObjectManager signals of $VM_PATH"
states=$(obj_signal_log | sed -n "s|^PropertiesChanged $VM_PATH ||p" | grep -v '^-$' | tr '\n' ' ')
log "State changes seen: $states"
# Order: ... suspended ... running ... stopping ... (stopped, when emitted before removal).
printf '%s\n' "$states" | grep -q "suspended .*running .*stopping " ||
        fail "PropertiesChanged(State) order is not suspended, running, stopping: $states"
for s in $states; do
        case "$s" in starting | running | suspending | suspended | resuming | stopping | stopped) ;;
        *) fail "unexpected State value '$s' in PropertiesChanged" ;; esac
done

log "StopAllVms removes the last object"
pb call StopAllVms >/dev/null
wait_for 10 sh -c "! busctl --address='$BUS_ADDRESS' tree --list $CONCIERGE_NAME | grep -q '/org/chromium/VmConcierge/vm/'" ||
        fail "VM objects left after StopAllVms: $(bctl tree --list $CONCIERGE_NAME)"

stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit code"
log "PASS"
