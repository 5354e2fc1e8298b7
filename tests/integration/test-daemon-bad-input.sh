#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad requests get a clear error, change nothing, and the daemon keeps answering: malformed
# protobuf, an empty `ay`, a 1 MiB `ay`, the wrong D-Bus signature, bad owner ids and names.
. "$(dirname "$0")/lib.sh"

OWNER=feedc0de
start_bus_and_daemon

# The daemon is still up and answers a good call.
still_serving() {
        daemon_alive || fail "vm_concierge died after: $1"
        local out
        out=$(pb call ListVms owner_id=$OWNER)
        assert_contains "$out" "success: true" "ListVms after $1"
}

# expect_dbus_error WHAT EXPECTED-TEXT CMD...: CMD must fail with a D-Bus error containing TEXT.
expect_dbus_error() {
        local what=$1 want=$2 out rc=0
        shift 2
        out=$("$@" 2>&1) || rc=$?
        [ "$rc" != 0 ] || fail "$what: expected a D-Bus error, got success: $out"
        assert_contains "$out" "$want" "$what"
        echo "   $what -> $out"
        still_serving "$what"
}

log "malformed protobuf"
# 0xff 0xff: a varint tag that never ends.
expect_dbus_error "truncated varint" "Request does not parse as ListVmsRequest (malformed protobuf)" \
        pb call-raw ListVms 255 255
# Field 1, length 100, but only 2 bytes follow.
expect_dbus_error "truncated length-delimited field" "does not parse as GetVmInfoRequest" \
        pb call-raw GetVmInfo 10 100 97 98
# Field number 0 is invalid.
expect_dbus_error "field number 0" "malformed protobuf" pb call-raw ListVms 0 0 0 0
# Wire type 7 does not exist.
expect_dbus_error "bad wire type" "malformed protobuf" pb call-raw GetVmInfo 15 1
# The same through busctl (a hand-written byte string).
expect_dbus_error "busctl garbage" "malformed protobuf" bus_call ListVms ay 5 1 2 3 4 5

log "an empty ay is an all-defaults request: empty owner_id, so success=false with the reason"
out=$(bus_call ListVms ay 0 | pb decode ListVmsResponse)
assert_contains "$out" "success: false"
assert_contains "$out" "failure_reason: Empty or malformed owner ID"
out=$(pb call-raw GetVmInfo)
assert_contains "$out" "success: false"
assert_contains "$out" "failure_reason: Empty or malformed owner ID"
still_serving "empty ay"

log "a 1 MiB ay is refused unparsed"
expect_dbus_error "1 MiB of 0x0a" "Request is larger than 262144 bytes" pb call-raw ListVms --size=1048576 --fill=10
expect_dbus_error "1 MiB of zeros" "Request is larger than 262144 bytes" pb call-raw GetVmInfo --size=1048576
# A well-formed request under the limit with a 120 KiB owner id parses, and the id is refused.
big=$(head -c 122880 /dev/zero | tr '\0' 'a')
out=$(pb call ListVms "owner_id=$big")
assert_contains "$out" "failure_reason: Empty or malformed owner ID" "120 KiB owner_id"
still_serving "120 KiB owner_id"

log "wrong D-Bus signatures"
# (busctl prints the error message only: sd-bus's InvalidArgs text names the signatures.)
expect_dbus_error "ListVms with a string" "Invalid arguments 's'" bus_call ListVms s hello
expect_dbus_error "ListVms without arguments" "Invalid arguments ''" bus_call ListVms
expect_dbus_error "StopAllVms with an argument" "Invalid arguments 'ay'" bus_call StopAllVms ay 0
expect_dbus_error "unknown method" "org.freedesktop.DBus.Error.UnknownMethod" pb call ReclaimVmMemory name=x owner_id=ab

log "bad owner ids and names get the upstream failure_reason"
for owner in "" "xyz" "12 34" "abc/def" "0x12" "$(head -c 257 /dev/zero | tr '\0' 'a')"; do
        out=$(pb call ListVms "owner_id=$owner")
        assert_contains "$out" "success: false" "ListVms owner '$owner'"
        assert_contains "$out" "failure_reason: Empty or malformed owner ID" "ListVms owner '$owner'"
        out=$(pb call GetVmInfo "owner_id=$owner" name=vm)
        assert_contains "$out" "failure_reason: Empty or malformed owner ID" "GetVmInfo owner '$owner'"
done
for name in "" $'bad\nname' $'tab\tname' $'\x7f'; do
        out=$(pb call GetVmInfo owner_id=$OWNER "name=$name")
        assert_contains "$out" "success: false" "GetVmInfo name '$name'"
        assert_contains "$out" "failure_reason: Empty or malformed VM name" "GetVmInfo name '$name'"
done
# Invalid UTF-8 in the name (0xff), hand-packed: field 1 "a\xff", field 2 "ab".
out=$(bus_call GetVmInfo ay 8 10 2 97 255 18 2 97 98 | pb decode GetVmInfoResponse)
assert_contains "$out" "failure_reason: Empty or malformed VM name" "GetVmInfo name with invalid UTF-8"
# A valid owner with upper-case hex is fine; a long but valid name is just not found.
out=$(pb call GetVmInfo owner_id=ABCDEF0123 name="$(head -c 100 /dev/zero | tr '\0' 'n')")
assert_contains "$out" "failure_reason: VM does not exist"
still_serving "bad owners and names"

log "many clients at once, and clients that leave before the reply"
pids=()
for i in $(seq 1 30); do
        pb call ListVms owner_id=$OWNER >"$TEST_TMP/par.$i" 2>&1 &
        pids+=($!)
done
for i in $(seq 1 10); do
        busctl --address="$BUS_ADDRESS" --expect-reply=no call $CONCIERGE_NAME $CONCIERGE_PATH $CONCIERGE_NAME \
                GetVmInfo ay 0 &
        pids+=($!)
done
for p in "${pids[@]}"; do
        wait "$p" || fail "a parallel client failed"
done
for i in $(seq 1 30); do
        assert_contains "$(cat "$TEST_TMP/par.$i")" "success: true" "parallel ListVms #$i"
done
still_serving "parallel clients"

log "vmc rejects a bad owner before calling"
rc=0
vmc --owner=nothex list 2>"$TEST_TMP/err" || rc=$?
assert_eq "$rc" 2 "vmc --owner=nothex exit code"
assert_contains "$(cat "$TEST_TMP/err")" "--owner must be hex digits"

stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit code"
log "PASS"
