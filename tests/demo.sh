#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make demo`: a private D-Bus, vm_concierge on it, then vmc and busctl against it; everything
# is stopped and removed at the end (also on Ctrl-C or failure).
. "$(dirname "$0")/integration/lib.sh"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s>>> %s%s\n' "$bold" "$*" "$plain"; }
show() {
        printf '$ %s\n' "$*"
        "$@"
}

step "Starting a private dbus-daemon (socket in $TEST_TMP)"
start_bus
echo "bus address: $BUS_ADDRESS"

step "Starting vm_concierge on it (runtime dir $RUNTIME_DIR, state dir $STATE_DIR)"
start_daemon
echo "vm_concierge (pid $DAEMON_PID) owns $CONCIERGE_NAME"

step "Listing VMs with vmc"
show "$VMC" --address="$BUS_ADDRESS" list
show "$VMC" --address="$BUS_ADDRESS" --json list

step "Asking for a VM that does not exist"
show "$VMC" --address="$BUS_ADDRESS" info termina || echo "(vmc exited with $?, as expected)"

step "Introspecting the daemon's object with busctl"
show busctl --address="$BUS_ADDRESS" introspect "$CONCIERGE_NAME" "$CONCIERGE_PATH"

step "Calling ListVms by hand: protobuf bytes in an 'ay', via busctl"
req=$("$PBTOOL" encode ListVmsRequest owner_id=0123abcd)
printf '$ busctl call ... ListVms ay %s\n' "$req"
reply=$(bus_call ListVms ay $req)
echo "$reply"
echo "decoded:"
printf '%s' "$reply" | "$PBTOOL" decode ListVmsResponse | sed 's/^/    /'

step "Stopping vm_concierge with SIGTERM"
stop_daemon TERM
echo "vm_concierge exited with status $DAEMON_EXIT"
echo "its log:"
sed 's/^/    /' "$DAEMON_LOG"

step "Done; the private bus and the temp dir are removed on exit"
