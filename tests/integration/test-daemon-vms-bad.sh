#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad StartVm requests get a clear failure, start nothing, leave nothing behind, and the daemon
# keeps serving: garbage, fds missing or mismatched, an fd that is not a kernel, a name too long,
# an owner that is not hex, more CPUs than the host has, unknown backend, too little memory,
# fd types the embedded backend cannot use.
. "$(dirname "$0")/daemon-vms-lib.sh"

OWNER=0123abcd
start_bus_and_daemon

nothing_started() {
        daemon_alive || fail "vm_concierge died after: $1"
        assert_eq "$(vmm_count)" 0 "VMM processes after: $1"
        assert_eq "$(field "$(pb call ListVms owner_id=$OWNER)" vms.count)" 0 "VMs after: $1"
        assert_eq "$(ls "$RUNTIME_DIR")" "" "runtime dir after: $1"
}

# expect_failure WHAT REASON pbtool-call-args...: StartVm answers success=false with REASON.
expect_failure() {
        local what=$1 want=$2 out
        shift 2
        out=$(pb call --timeout=30 StartVm "$@") || fail "$what: the call failed: $out"
        assert_eq "$(field "$out" success)" false "$what: success"
        assert_eq "$(field "$out" status)" VM_STATUS_FAILURE "$what: status"
        assert_contains "$(field "$out" failure_reason)" "$want" "$what: failure_reason"
        nothing_started "$what"
}

log "garbage instead of a StartVmRequest"
out=$(bus_call StartVm ayah 5 255 255 255 255 255 0 2>&1) && fail "garbage was accepted: $out"
assert_contains "$out" "does not parse as StartVmRequest"
out=$(busctl --address="$BUS_ADDRESS" call $CONCIERGE_NAME $CONCIERGE_PATH $CONCIERGE_NAME StartVm ay 0 2>&1) &&
        fail "StartVm without its ah was accepted: $out"
nothing_started "garbage"

log "identity"
expect_failure "owner not hex" "Empty or malformed owner ID" --fd="$GUEST" name=vm owner_id=xyz fds=KERNEL
expect_failure "empty owner" "Empty or malformed owner ID" --fd="$GUEST" name=vm fds=KERNEL
expect_failure "empty name" "Empty or malformed VM name" --fd="$GUEST" owner_id=$OWNER fds=KERNEL
long=$(printf 'n%.0s' $(seq 61))
expect_failure "name of 61 bytes" "VM name is too long" --fd="$GUEST" name="$long" owner_id=$OWNER fds=KERNEL

log "fds"
expect_failure "no fd at all" "No kernel" name=vm owner_id=$OWNER
expect_failure "listed fd missing" "The request lists 1 fd(s) but 0 were passed" name=vm owner_id=$OWNER fds=KERNEL
expect_failure "unlisted fd" "The request lists 0 fd(s) but 1 were passed" --fd="$GUEST" name=vm owner_id=$OWNER
expect_failure "initrd only" "No kernel" --fd="$GUEST" name=vm owner_id=$OWNER fds=INITRD
expect_failure "two kernels" "More than one KERNEL fd" --fd="$GUEST" --fd="$GUEST" name=vm owner_id=$OWNER \
        fds=KERNEL fds=KERNEL
expect_failure "a ROOTFS fd" "type ROOTFS" --fd="$GUEST" --fd="$GUEST" name=vm owner_id=$OWNER \
        fds=KERNEL fds=ROOTFS
expect_failure "a disk" "Disk images are not supported" --fd="$GUEST" name=vm owner_id=$OWNER fds=KERNEL \
        'disks[0].path=/x'
echo "not a kernel" >"$TEST_TMP/notakernel"
expect_failure "fd that is not a kernel" "neither an ELF64 image nor a Linux bzImage" \
        --fd="$TEST_TMP/notakernel" name=vm owner_id=$OWNER fds=KERNEL memory_mib=64 cpus=1
expect_failure "a directory as kernel" "The VMM failed to start" --fd=/ name=vm owner_id=$OWNER fds=KERNEL \
        memory_mib=64 cpus=1

log "resources"
expect_failure "cpus > host" "Invalid CPU count" --fd="$GUEST" name=vm owner_id=$OWNER fds=KERNEL \
        cpus=$(($(nproc) + 1))
expect_failure "memory too small" "Invalid memory size" --fd="$GUEST" name=vm owner_id=$OWNER fds=KERNEL \
        memory_mib=1
expect_failure "unknown backend" "Unknown backend 'qemu' (known: embedded)" --fd="$GUEST" name=vm \
        owner_id=$OWNER fds=KERNEL backend=qemu
params=()
for _ in $(seq 5); do params+=("kernel_params=$(printf 'x%.0s' $(seq 1000))"); done
expect_failure "kernel command line too long" "Kernel command line is too long" --fd="$GUEST" name=vm \
        owner_id=$OWNER fds=KERNEL "${params[@]}"

log "other methods with bad identities"
for m in StopVm SuspendVm ResumeVm GetVmInfo GetVmLogs; do
        out=$(pb call $m name=vm owner_id=xyz)
        assert_contains "$out" "failure_reason: Empty or malformed owner ID" "$m"
done
assert_contains "$(pb call StopVmWithoutOwnerId name=)" "failure_reason: Empty or malformed VM name" \
        StopVmWithoutOwnerId

log "still serving: a good VM starts and stops (cpus=0 means every host CPU)"
out=$(start_vm good $OWNER cpus=0) || true
assert_eq "$(field "$out" success)" true "good StartVm after the bad ones ($out)"
out=$(pb call GetVmInfo name=good owner_id=$OWNER)
pid=$(field "$out" vm_info.pid)
assert_contains "$(tr '\0' ' ' </proc/"$pid"/cmdline)" "--cpus $(nproc)" "cpus=0"
assert_eq "$(field "$(pb call StopVm name=good owner_id=$OWNER)" success)" true "StopVm good"
nothing_started "the good VM's stop"
stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit"
log "ok"
