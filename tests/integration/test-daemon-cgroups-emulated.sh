#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CPU cgroups of the daemon on an emulated cgroupfs (--cgroup-backend=emulated, a temp dir laid
# out as cgroup v1 and then as v2; runs anywhere): groups created at startup and removed at exit,
# every SetVmCpuRestriction state's values (v2: cpu.weight from the shares, cpu.max), bad
# requests, flag validation, a daemon whose hierarchy is unusable (keeps serving, VMs run
# uncgrouped, SetVmCpuRestriction says why), and with /dev/kvm a test-guest VM whose VMM pid
# lands in the family's cgroup.procs and whose VMM gets --vcpu-cgroup <family>-vcpus.
. "$(dirname "$0")/lib.sh"

VMM=${VMM_BACKEND:-$BUILD_DIR/vmm_backend} # env VMM_BACKEND: another build's VMM
GUEST=$BUILD_DIR/guest/testguest.elf
OWNER=e3a1a7ed
command -v jq >/dev/null || skip "jq is not installed"

start_bus

have_start_vm() {
        local intro
        intro=$(busctl --address="$BUS_ADDRESS" introspect --xml-interface $CONCIERGE_NAME $CONCIERGE_PATH)
        [[ "$intro" == *'<method name="StartVm">'* ]]
}
CAN_RUN_VMS=0
if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ -x "$VMM" ] && [ -f "$GUEST" ]; then
        CAN_RUN_VMS=1
else
        log "no /dev/kvm or no VMM/test guest: the VM part is left out"
fi

# --- flag validation: usage errors, exit status 2, nothing created ----------------------------

for bad in --arcvm-background-quota-percent=0 --arcvm-background-quota-percent=101 \
        --arcvm-background-quota-percent=abc --arcvm-background-quota-percent=-5 --cgroup-mode=v3 \
        --cgroup-parent=../x --cgroup-parent=/abs --cgroup-backend=fake --cgroup-root=relative; do
        rc=0
        out=$("$VM_CONCIERGE" --bus="$BUS_ADDRESS" "$bad" 2>&1) || rc=$?
        assert_eq "$rc" 2 "exit status for $bad"
        [ -n "$out" ] || fail "no message for $bad"
done

# --- v1 and v2 ------------------------------------------------------------------------------------

weight() { # SHARES -> cpu.weight (runc/systemd mapping)
        echo $((1 + ($1 - 2) * 9999 / 262142))
}

expect_values() { # VERSION BASE FAMILY SHARES QUOTA
        local g
        for g in "$3" "$3-vcpus"; do
                if [ "$1" = v1 ]; then
                        assert_eq "$(cat "$2/$g/cpu.shares")" "$4" "$g cpu.shares"
                        assert_eq "$(cat "$2/$g/cpu.cfs_quota_us")" "$5" "$g cpu.cfs_quota_us"
                        assert_eq "$(cat "$2/$g/cpu.cfs_period_us")" 100000 "$g cpu.cfs_period_us"
                else
                        assert_eq "$(cat "$2/$g/cpu.weight")" "$(weight "$4")" "$g cpu.weight"
                        if [ "$5" = -1 ]; then
                                assert_eq "$(cat "$2/$g/cpu.max")" "max 100000" "$g cpu.max"
                        else
                                assert_eq "$(cat "$2/$g/cpu.max")" "$5 100000" "$g cpu.max"
                        fi
                fi
        done
}

run_version() { # v1|v2
        local v=$1 root=$TEST_TMP/cg-$1 base mode fam out pid f g
        mkdir "$root"
        if [ "$v" = v1 ]; then
                mode=auto
                base=$root/cpu/vmct
        else
                mode=v2
                base=$root/vm_concierge
        fi
        local args=(--cgroup-backend=emulated --cgroup-root="$root" --cgroup-mode=$mode
                --arcvm-background-quota-percent=25)
        [ "$v" = v1 ] && args+=(--cgroup-parent=vmct)
        [ "$CAN_RUN_VMS" = 1 ] && args+=(--vmm-path="$VMM")
        start_daemon "${args[@]}"
        grep -q "CPU cgroups: emulated $v under $base " "$DAEMON_LOG" || fail "$v: no CPU cgroups line in the log"

        for g in termina termina-vcpus arcvm arcvm-vcpus plugin plugin-vcpus; do
                [ -d "$base/$g" ] || fail "$v: $base/$g was not created"
                [ "$v" = v1 ] || assert_eq "$(cat "$base/$g/cgroup.type")" threaded "$v $g cgroup.type"
        done

        for fam in termina plugin arcvm; do
                out=$(vmc --json cpu-restrict $fam background)
                assert_eq "$(jq -r .success <<<"$out")" true "$v cpu-restrict $fam background"
                expect_values $v "$base" $fam 64 -1
                vmc cpu-restrict $fam background-quota >/dev/null
                if [ $fam = arcvm ]; then
                        expect_values $v "$base" $fam 64 25000
                else
                        expect_values $v "$base" $fam 64 -1
                fi
                vmc cpu-restrict $fam foreground >/dev/null
                expect_values $v "$base" $fam 1024 -1
        done
        out=$(pb call SetVmCpuRestriction cpu_cgroup=3 cpu_restriction_state=0)
        assert_contains "$out" "success: false" "$v unknown cgroup"
        assert_contains "$out" "unknown cpu_cgroup" "$v unknown cgroup"
        out=$(pb call SetVmCpuRestriction cpu_cgroup=2 cpu_restriction_state=3)
        assert_contains "$out" "unknown cpu_restriction_state" "$v unknown state"
        expect_values $v "$base" arcvm 1024 -1

        # A write that fails: the vCPU group's quota file is gone. success=false with the reason,
        # and the other writes still happen.
        if [ "$v" = v1 ]; then f=cpu.cfs_quota_us; else f=cpu.max; fi
        mv "$base/arcvm-vcpus/$f" "$TEST_TMP/saved"
        out=$(pb call SetVmCpuRestriction cpu_cgroup=CPU_CGROUP_ARCVM cpu_restriction_state=CPU_RESTRICTION_BACKGROUND)
        assert_contains "$out" "success: false" "$v missing $f"
        assert_contains "$out" "failed to set the quota of arcvm-vcpus" "$v missing $f"
        if [ "$v" = v1 ]; then
                assert_eq "$(cat "$base/arcvm-vcpus/cpu.shares")" 64 "$v shares written despite the failure"
        else
                assert_eq "$(cat "$base/arcvm-vcpus/cpu.weight")" "$(weight 64)" "$v weight written despite the failure"
        fi
        mv "$TEST_TMP/saved" "$base/arcvm-vcpus/$f"

        if [ "$CAN_RUN_VMS" = 1 ] && have_start_vm; then
                out=$(pb call --fd="$GUEST" StartVm name=e owner_id=$OWNER vm_type=PLUGIN_VM cpus=2 memory_mib=64 \
                        fds=KERNEL)
                assert_contains "$out" "success: true" "$v StartVm"
                wait_for 20 sh -c "'$PBTOOL' call --address='$BUS_ADDRESS' GetVmInfo name=e owner_id=$OWNER |
                        grep -q 'vm_info.status: VM_STATUS_RUNNING'" || fail "$v: the VM did not reach RUNNING"
                out=$(pb call GetVmInfo name=e owner_id=$OWNER)
                assert_contains "$out" "vm_info.cgroup_path: $base/plugin"$'\n' "$v GetVmInfo"
                assert_contains "$out" "vm_info.vcpu_cgroup_path: $base/plugin-vcpus"$'\n' "$v GetVmInfo"
                pid=$(sed -n 's/^vm_info\.pid: //p' <<<"$out")
                # The VMM was told where its vCPU threads go. (Their placement itself is checked on
                # the real hierarchy by test-daemon-cgroups.sh: the VMM writes each tid at offset 0
                # of the file, which cgroupfs takes as a move but a plain file keeps only the last.)
                tr '\0' '\n' </proc/"$pid"/cmdline | grep -A1 -x -- --vcpu-cgroup | tail -n1 >"$TEST_TMP/arg"
                assert_eq "$(cat "$TEST_TMP/arg")" "$base/plugin-vcpus" "$v --vcpu-cgroup of the VMM"
                grep -qx "$pid" "$base/plugin/cgroup.procs" || fail "$v: VMM $pid not in plugin/cgroup.procs"
                for g in termina arcvm; do
                        [ -z "$(cat "$base/$g/cgroup.procs")" ] || fail "$v: $g has processes"
                done
                out=$(pb call StopVm name=e owner_id=$OWNER)
                assert_contains "$out" "success: true" "$v StopVm"
                wait_for 20 sh -c "! kill -0 $pid 2>/dev/null" || fail "$v: the VMM did not exit"
                log "$v: VMM $pid in $base/plugin, --vcpu-cgroup $base/plugin-vcpus"
        fi

        stop_daemon
        assert_eq "$DAEMON_EXIT" 0 "$v daemon exit status"
        [ ! -e "$base" ] || fail "$v: the daemon left $base behind: $(ls "$base")"
        grep -q "Leaving CPU cgroup" "$DAEMON_LOG" && fail "$v: the daemon reported leftover groups"
        rm -f "$DAEMON_LOG"
}

run_version v1
run_version v2

# --- an unusable hierarchy: the daemon serves, VMs run uncgrouped ---------------------------------

mkdir "$TEST_TMP/not-cgroupfs"
args=(--cgroup-root="$TEST_TMP/not-cgroupfs")
[ "$CAN_RUN_VMS" = 1 ] && args+=(--vmm-path="$VMM")
start_daemon "${args[@]}"
grep -q "No usable kernel cgroup cpu controller under $TEST_TMP/not-cgroupfs" "$DAEMON_LOG" ||
        fail "no warning about the unusable hierarchy"
out=$(pb call SetVmCpuRestriction cpu_cgroup=0 cpu_restriction_state=1)
assert_contains "$out" "success: false" "unusable hierarchy"
assert_contains "$out" "CPU cgroups are unavailable" "unusable hierarchy"
rc=0
vmc cpu-restrict termina background 2>/dev/null || rc=$?
assert_eq "$rc" 1 "vmc cpu-restrict without cgroups"
if [ "$CAN_RUN_VMS" = 1 ] && have_start_vm; then
        out=$(pb call --fd="$GUEST" StartVm name=u owner_id=$OWNER cpus=1 memory_mib=64 fds=KERNEL)
        assert_contains "$out" "success: true" "StartVm without cgroups"
        out=$(pb call GetVmInfo name=u owner_id=$OWNER)
        assert_contains "$out" "vm_info.cgroup_path: "$'\n' "no cgroup path"
        pb call StopVm name=u owner_id=$OWNER >/dev/null
fi
stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit status"
[ -z "$(ls -A "$TEST_TMP/not-cgroupfs")" ] || fail "the daemon wrote into a hierarchy it could not use"
echo PASS
