# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Helpers of the test-daemon-vms*.sh tests: the daemon runs real VMs (vmm_backend + the test
# guest). Source it after nothing else: it sources lib.sh. Skips without a usable /dev/kvm.
#
#   VMM GUEST GUESTCHAN          the binaries
#   start_signal_monitor         record every org.chromium.VmConcierge signal (busctl monitor) into
#                                $SIGNALS_JSON; call after start_bus, before the calls to watch
#   signal_log                   one line per signal so far: "Member owner/name [reason]"
#   signal_time_us MEMBER OWNER NAME   realtime µs of the first such signal ("" when none)
#   has_signal MEMBER OWNER NAME       true once such a signal was seen
#   start_vm NAME OWNER [FIELD=VALUE...]   StartVm with the test guest as kernel (64 MiB, 1 vCPU
#                                unless given); prints the decoded response
#   field TEXT PATH              the value of "PATH: value" in pbtool output
#   vm_info OWNER NAME           decoded GetVmInfoResponse
#   vmm_count                    how many vmm_backend processes run with a runtime dir of ours
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VMM=$BUILD_DIR/vmm_backend
GUEST=$BUILD_DIR/guest/testguest.elf
GUESTCHAN=$BUILD_DIR/tests/guestchan
for _f in "$VMM" "$GUESTCHAN"; do
        [ -x "$_f" ] || fail "$_f is not built (make B=${BUILD_DIR##*/})"
done
[ -f "$GUEST" ] || fail "$GUEST is not built (make B=${BUILD_DIR##*/})"
if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        skip "/dev/kvm not available"
fi
command -v jq >/dev/null || skip "jq is not installed"

# The VMM from this build; CPU cgroups emulated in the temp dir, so that the test neither needs
# nor touches the host's cgroup tree.
DAEMON_ARGS+=(--vmm-path="$VMM" --cgroup-backend=emulated --cgroup-root="$TEST_TMP/cgroup")

mkdir "$TEST_TMP/cgroup"

SIGNALS_JSON=$TEST_TMP/signals.json
_MONITOR_PID=

start_signal_monitor() {
        busctl --address="$BUS_ADDRESS" monitor --json=short \
                --match "type='signal',interface='$CONCIERGE_NAME'" >"$SIGNALS_JSON" 2>"$TEST_TMP/monitor.err" &
        _MONITOR_PID=$!
        on_exit '[ -z "$_MONITOR_PID" ] || { kill "$_MONITOR_PID"; wait "$_MONITOR_PID"; } 2>/dev/null'
        wait_for 10 grep -q 'Monitoring' "$TEST_TMP/monitor.err" || fail "busctl monitor did not start"
}

signal_log() {
        local member bytes out
        jq -r 'select(.type == "signal") | .member + " " + (.payload.data[0] | map(tostring) | join(" "))' \
                "$SIGNALS_JSON" | while read -r member bytes; do
                # shellcheck disable=SC2086
                out=$(pb decode "$member" $bytes)
                printf '%s %s/%s' "$member" "$(field "$out" owner_id)" "$(field "$out" name)"
                case "$member" in VmStoppedSignal) printf ' %s' "$(field "$out" reason)" ;; esac
                printf '\n'
        done
}

# The lines of signal_log about one VM.
vm_signals() { signal_log | grep " $1/$2\( \|$\)" || true; }

signal_time_us() {
        local member=$1 owner=$2 name=$3 line ts bytes
        while read -r ts bytes; do
                # shellcheck disable=SC2086
                line=$(pb decode "$member" $bytes)
                if [ "$(field "$line" owner_id)" = "$owner" ] && [ "$(field "$line" name)" = "$name" ]; then
                        echo "$ts"
                        return 0
                fi
        done < <(jq -r --arg m "$member" 'select(.type == "signal" and .member == $m) |
                ((.["timestamp-realtime"] | tostring) + " " + (.payload.data[0] | map(tostring) | join(" ")))' \
                "$SIGNALS_JSON")
        echo ""
}

has_signal() { [ -n "$(signal_time_us "$@")" ]; }

field() { printf '%s\n' "$1" | sed -n "s/^$2: //p" | head -n 1; }

start_vm() {
        local name=$1 owner=$2
        shift 2
        pb call --timeout=30 StartVm --fd="$GUEST" name="$name" owner_id="$owner" fds=KERNEL memory_mib=64 cpus=1 "$@"
}

vm_info() { pb call GetVmInfo owner_id="$1" name="$2"; }

vmm_count() { pgrep -f -- "--serial-log $RUNTIME_DIR/" | wc -l; }
