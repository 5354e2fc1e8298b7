#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The installed bus policy dbus/org.chromium.VmConcierge.conf, on a private bus with the system
# bus's default-deny rules: root may own the name, another user may not; anyone may call the
# daemon and receive its replies.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (to act as two users)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"; }

# The defaults of dbus's system.conf (deny owning and calling, allow replies and signals), plus
# our policy file, as the system bus would include it from system.d/.
conf=$(cd "$LIB_DIR/../../dbus" && pwd)/org.chromium.VmConcierge.conf
cat >"$TEST_TMP/system-like.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>$conf</include>
</busconfig>
EOC
chmod 0755 "$TEST_TMP"
start_bus "$TEST_TMP/system-like.conf"
chmod 0666 "$TEST_TMP/bus"

log "another user may not own $CONCIERGE_NAME"
mkdir -p "$TEST_TMP/nobody"
chown nobody "$TEST_TMP/nobody"
rc=0
# A daemon that wrongly got the name would serve on: the timeout ends it (exit 124, a failure).
timeout 20 setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$VM_CONCIERGE" --bus="$BUS_ADDRESS" --runtime-dir="$TEST_TMP/nobody/run" \
        --state-dir="$TEST_TMP/nobody/state" >"$TEST_TMP/nobody.log" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit code of vm_concierge as nobody"
assert_contains "$(cat "$TEST_TMP/nobody.log")" "Failed to claim $CONCIERGE_NAME"
name_has_owner && fail "nobody got the name"

log "root may own it"
start_daemon

log "another user may call it"
out=$(as_nobody "$VMC" --address="$BUS_ADDRESS" --owner=abcd list)
assert_eq "$out" "No VMs for owner abcd." "vmc list as nobody"
out=$(as_nobody "$PBTOOL" call --address="$BUS_ADDRESS" GetVmInfo owner_id=abcd name=x)
assert_contains "$out" "failure_reason: VM does not exist" "GetVmInfo as nobody"

stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit code"
log "PASS"
