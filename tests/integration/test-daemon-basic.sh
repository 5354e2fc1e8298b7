#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm_concierge on a private bus with no VMs: vmc list/info (text and JSON), ListVms and GetVmInfo
# by hand-packed protobuf through busctl, StopAllVms, the exported interface.
. "$(dirname "$0")/lib.sh"

OWNER=0123456789abcdef
start_bus_and_daemon

log "vmc list shows no VMs"
out=$(vmc --owner=$OWNER list)
assert_eq "$out" "No VMs for owner $OWNER." "vmc list"

log "vmc --json list shows an empty vms array"
json=$(vmc --owner=$OWNER --json list)
if command -v python3 >/dev/null; then
        n=$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["vms"]), d["owner_id"])')
        assert_eq "$n" "0 $OWNER" "JSON vms count and owner"
else
        assert_eq "$(printf '%s' "$json" | tr -d ' \n')" "{\"owner_id\":\"$OWNER\",\"vms\":[]}" "vmc --json list"
fi

log "vmc uses CROS_USER_ID_HASH as the owner, else an id derived from the uid"
out=$(CROS_USER_ID_HASH=abc123 vmc --json list)
assert_contains "$out" '"owner_id":"abc123"'
out1=$(env -u CROS_USER_ID_HASH "$VMC" --address="$BUS_ADDRESS" --json list)
out2=$(env -u CROS_USER_ID_HASH "$VMC" --address="$BUS_ADDRESS" --json list)
assert_eq "$out1" "$out2" "derived owner (stable)"
assert_contains "$out1" '"owner_id":"'
rc=0
CROS_USER_ID_HASH='not hex' vmc list 2>"$TEST_TMP/err" || rc=$?
assert_eq "$rc" 2 "exit code for a non-hex CROS_USER_ID_HASH"

log "busctl ListVms with a hand-packed ListVmsRequest returns a parseable ListVmsResponse"
req=$(pb encode ListVmsRequest owner_id=$OWNER)
# owner_id = field 1, length-delimited: tag 0x0a, length 16, then the 16 ASCII bytes.
assert_eq "$req" "18 10 16 $(printf '%s' $OWNER | od -An -tu1 | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')" "encoded request"
reply=$(bus_call ListVms ay $req)
assert_contains "$reply" "ay " "busctl reply"
decoded=$(printf '%s' "$reply" | pb decode ListVmsResponse)
assert_contains "$decoded" "success: true"
assert_contains "$decoded" "vms.count: 0"

log "GetVmInfo of an unknown VM gives success=false"
decoded=$(bus_call GetVmInfo ay $(pb encode GetVmInfoRequest owner_id=$OWNER name=nosuchvm) | pb decode GetVmInfoResponse)
assert_contains "$decoded" "success: false"
assert_contains "$decoded" "failure_reason: VM does not exist"
rc=0
out=$(vmc --owner=$OWNER info nosuchvm 2>&1) || rc=$?
assert_eq "$rc" 1 "vmc info exit code"
assert_contains "$out" "VM does not exist"
rc=0
out=$(vmc --owner=$OWNER --json info nosuchvm 2>&1) || rc=$?
assert_eq "$rc" 1 "vmc --json info exit code"

log "StopAllVms (no arguments, no reply arguments) succeeds"
out=$(bus_call StopAllVms)
assert_eq "$out" "" "StopAllVms reply"
assert_eq "$(pb call StopAllVms)" "ok" "pbtool StopAllVms"

log "the object exports exactly the implemented methods"
intro=$(busctl --address="$BUS_ADDRESS" introspect --xml-interface $CONCIERGE_NAME $CONCIERGE_PATH)
for m in StartVm StopVm StopVmWithoutOwnerId StopAllVms SuspendVm ResumeVm ListVms GetVmInfo GetVmLogs; do
        assert_contains "$intro" "<method name=\"$m\">" "introspection"
done
assert_contains "$intro" '<signal name="VmStoppedSignal">' "introspection"
assert_not_contains "$intro" '<method name="ReclaimVmMemory">' "introspection"
# The installed introspection file describes the same methods and signals.
xml_names() { grep -o '<\(method\|signal\) name="[A-Za-z]*"' | sort; }
live=$(printf '%s' "$intro" | sed -n '/<interface name="org.chromium.VmConcierge">/,/<\/interface>/p' | xml_names)
file=$(xml_names <"$LIB_DIR/../../dbus/org.chromium.VmConcierge.xml")
assert_contains "$file" '<method name="StopAllVms"' "names from the XML file"
assert_eq "$live" "$file" "methods/signals: live introspection vs dbus/org.chromium.VmConcierge.xml"
out=$(pb call ReclaimVmMemory name=x owner_id=$OWNER) || true
assert_contains "$out" "org.freedesktop.DBus.Error.UnknownMethod"

log "usage errors exit 2"
for args in "" "frobnicate" "info" "info a b" "list extra" "--owner=xyz! list"; do
        rc=0
        # shellcheck disable=SC2086
        vmc $args >/dev/null 2>&1 || rc=$?
        assert_eq "$rc" 2 "exit code of 'vmc $args'"
done
vmc help | grep -q "^Usage: vmc" || fail "vmc help"

stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit code"
log "PASS"
