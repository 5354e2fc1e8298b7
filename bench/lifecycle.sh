#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/lifecycle (issue 4): the daemon's VM lifecycle, measured from a D-Bus client on a private
# bus with real VMs (the test guest on our VMM, 1 vCPU):
#   startvm_to_started_median          StartVm call -> VmStartedSignal, median over ROUNDS (64 MiB)
#   startvm_to_testguest_ready_median  StartVm call -> "TESTGUEST READY" in the VM's console log
#   getvminfo_rtt_median, peer_ping_rtt_median, getvminfo_vs_ping_ratio
#                                      GetVmInfo round trip vs org.freedesktop.DBus.Peer.Ping on the
#                                      same daemon (the bus's own floor); target ratio <= 1.5
#   mass_*                             MASS VMs (64 MiB each) started at once: time until all are
#                                      running, daemon RSS and CPU time; then StopAllVms
# Prints `name value unit` lines.
#
# Usage: bench/lifecycle.sh   (env: BUILD_DIR, ROUNDS=20, CALLS=2000, MASS=32)
set -eu

BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${ROUNDS:-20}
CALLS=${CALLS:-2000}
MASS=${MASS:-32}
here=$(cd "$(dirname "$0")" && pwd)
make -s -C "$here/.." B="$BUILD_DIR" "$BUILD_DIR/vm_concierge" "$BUILD_DIR/vmc" "$BUILD_DIR/tests/pbtool" \
        "$BUILD_DIR/vmm_backend" "$BUILD_DIR/guest/testguest.elf" "$BUILD_DIR/bench/lifecycle-bench" >&2
if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
        echo "SKIP: /dev/kvm is missing"
        exit 77
fi

. "$here/../tests/integration/lib.sh"
BENCH=$BUILD_DIR/bench/lifecycle-bench
GUEST=$BUILD_DIR/guest/testguest.elf
mkdir "$TEST_TMP/cgroup"
start_bus
# Notice level: the daemon's per-call debug lines are not what is measured.
start_daemon --vmm-path="$BUILD_DIR/vmm_backend" --cgroup-backend=emulated --cgroup-root="$TEST_TMP/cgroup" \
        --log-level=notice

echo "# $(nproc) CPUs, $(uname -r); daemon pid $DAEMON_PID" >&2
"$BENCH" --address="$BUS_ADDRESS" --kernel="$GUEST" start "$ROUNDS"
"$BENCH" --address="$BUS_ADDRESS" --kernel="$GUEST" rtt "$CALLS"
"$BENCH" --address="$BUS_ADDRESS" --kernel="$GUEST" --mem=64 mass "$MASS"
stop_daemon
[ "$DAEMON_EXIT" = 0 ] || fail "vm_concierge exited with $DAEMON_EXIT"
