#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make demo`: a private D-Bus, vm_concierge on it, then a real VM (the test guest on our VMM)
# driven through the daemon: start it, list it, read its console, fill and verify its memory over
# its guest channel, stop it. Everything is stopped and removed at the end (also on Ctrl-C or
# failure). Without /dev/kvm the VM part is left out, with the reason.
. "$(dirname "$0")/integration/lib.sh"

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s>>> %s%s\n' "$bold" "$*" "$plain"; }
show() {
        printf '$ %s\n' "$*"
        "$@"
}
field() { printf '%s\n' "$1" | sed -n "s/^$2: //p" | head -n 1; }

VMM=$BUILD_DIR/vmm_backend
GUEST=$BUILD_DIR/guest/testguest.elf
GUESTCHAN=$BUILD_DIR/tests/guestchan
# vmc takes its owner id from here, the raw calls below from $OWNER.
OWNER=${CROS_USER_ID_HASH:-0123456789abcdef}
export CROS_USER_ID_HASH=$OWNER
vmc_has() { "$VMC" --help 2>&1 | grep -q "^  $1 "; }

step "Starting a private dbus-daemon (socket in $TEST_TMP)"
start_bus
echo "bus address: $BUS_ADDRESS"

step "Starting vm_concierge on it (runtime dir $RUNTIME_DIR, state dir $STATE_DIR)"
mkdir -p "$TEST_TMP/cgroup"
start_daemon --vmm-path="$VMM" --cgroup-backend=emulated --cgroup-root="$TEST_TMP/cgroup"
echo "vm_concierge (pid $DAEMON_PID) owns $CONCIERGE_NAME; VMM $VMM"

step "Introspecting the daemon's object with busctl"
show busctl --address="$BUS_ADDRESS" introspect "$CONCIERGE_NAME" "$CONCIERGE_PATH"

if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ] || [ ! -x "$VMM" ] || [ ! -f "$GUEST" ]; then
        step "No VM in this demo: /dev/kvm, $VMM or $GUEST is missing"
else
        step "Starting the test guest as VM 'demo' of owner $OWNER (kernel passed as an fd)"
        if vmc_has start; then
                show "$VMC" --address="$BUS_ADDRESS" start demo --kernel "$GUEST" --mem 64 --cpus 1
        else
                show "$PBTOOL" call --address="$BUS_ADDRESS" StartVm --fd="$GUEST" name=demo \
                        owner_id="$OWNER" fds=KERNEL memory_mib=64 cpus=1 | grep -E '^(success|status|vm_info\.(pid|cid))'
        fi

        step "The VM as vmc and busctl see it"
        show "$VMC" --address="$BUS_ADDRESS" list
        show "$VMC" --address="$BUS_ADDRESS" info demo
        show busctl --address="$BUS_ADDRESS" tree "$CONCIERGE_NAME"

        step "Its console (GetVmLogs)"
        sleep 0.3
        if vmc_has logs; then
                show "$VMC" --address="$BUS_ADDRESS" logs demo
        else
                printf '$ pbtool call GetVmLogs name=demo owner_id=%s\n' "$OWNER"
                "$PBTOOL" call --address="$BUS_ADDRESS" GetVmLogs name=demo owner_id="$OWNER" | sed -n 's/^log: //p' |
                        sed 's/\\x0a/\n/g'
        fi

        step "Filling and verifying 16 MiB of guest memory over the guest channel (ttyS1)"
        info=$("$PBTOOL" call --address="$BUS_ADDRESS" GetVmInfo name=demo owner_id="$OWNER")
        chan=$(field "$info" vm_info.channel_socket)
        echo "channel socket: $chan"
        show "$GUESTCHAN" "$chan" --timeout 30000 ping "fill 16 7" "verify 7" meminfo

        step "Stopping it"
        if vmc_has stop; then
                show "$VMC" --address="$BUS_ADDRESS" stop demo
        else
                show "$PBTOOL" call --address="$BUS_ADDRESS" StopVm name=demo owner_id="$OWNER"
        fi
        show "$VMC" --address="$BUS_ADDRESS" list
        echo "runtime dir now: $(ls -A "$RUNTIME_DIR")(empty)"
fi

step "Stopping vm_concierge with SIGTERM"
stop_daemon TERM
echo "vm_concierge exited with status $DAEMON_EXIT"
echo "its log:"
sed 's/^/    /' "$DAEMON_LOG"

step "Done; the private bus and the temp dir are removed on exit"
