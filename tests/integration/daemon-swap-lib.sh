# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Helpers of the test-daemon-swap*.sh tests: the daemon runs real VMs with vmm-swap (vmm_backend +
# the test guest). Source it first: it sources daemon-vms-lib.sh (and so lib.sh), which skips
# without a usable /dev/kvm; this one also skips without userfaultfd.
#
#   SWAP_HISTORY                 build/tests/helpers/swap-history (seed / decode history files)
#   TBW_FILE                     the daemon's TBW history file in $STATE_DIR
#   usage_file OWNER NAME        a VM's usage history file
#   swap_vm OWNER NAME OP        SwapVm; prints "ok" or the failure_reason
#   swap_status OWNER NAME       `vmc --json swap status`
#   swap_field OWNER NAME JQ     one field of it (jq -r syntax)
#   wait_swap_state SECONDS OWNER NAME STATE   wait for the VMM's swap state
#   swapping_signals OWNER NAME  the states of every VmSwappingSignal of the VM so far, in order
#   guest OWNER NAME CMD...      a guest-channel command of the VM (its socket from GetVmInfo)
. "$(dirname "${BASH_SOURCE[0]}")/daemon-vms-lib.sh"

SWAP_HISTORY=$BUILD_DIR/tests/helpers/swap-history
[ -x "$SWAP_HISTORY" ] || fail "$SWAP_HISTORY is not built (make B=${BUILD_DIR##*/})"
[ -e /dev/userfaultfd ] || [ -e /proc/sys/vm/unprivileged_userfaultfd ] || skip "no userfaultfd on this kernel"

TBW_FILE=$STATE_DIR/vmm_swap_policy/tbw_history2

usage_file() { echo "$STATE_DIR/vmm_swap_policy/$1/$2.vmm_swap_history"; }

swap_vm() {
        local out
        out=$(pb call SwapVm owner_id="$1" name="$2" operation="$3")
        if [ "$(field "$out" success)" = true ]; then
                echo ok
        else
                field "$out" failure_reason
        fi
}

swap_status() { vmc --owner="$1" --json swap status "$2"; }
swap_field() { swap_status "$1" "$2" | jq -r "$3"; }

_swap_state_is() { [ "$(swap_field "$1" "$2" .state)" = "$3" ]; }
wait_swap_state() {
        local t=$1
        shift
        wait_for "$t" _swap_state_is "$@"
}

swapping_signals() {
        local bytes out
        jq -r 'select(.type == "signal" and .member == "VmSwappingSignal") |
                (.payload.data[0] | map(tostring) | join(" "))' "$SIGNALS_JSON" | while read -r bytes; do
                # shellcheck disable=SC2086
                out=$(pb decode VmSwappingSignal $bytes)
                if [ "$(field "$out" owner_id)" = "$1" ] && [ "$(field "$out" name)" = "$2" ]; then
                        field "$out" state
                fi
        done | tr '\n' ' ' | sed 's/ $//'
}

guest() {
        local owner=$1 name=$2 chan
        shift 2
        chan=$(field "$(vm_info "$owner" "$name")" vm_info.channel_socket)
        [ -n "$chan" ] || fail "no channel socket for VM $owner/$name"
        "$GUESTCHAN" "$chan" --timeout 10000 "$@"
}
