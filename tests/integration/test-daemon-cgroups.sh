#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# CPU cgroups of the daemon on this machine's real cgroup v1 cpu hierarchy (issue 7): a test-guest
# VM's VMM process is in its family's group and its vCPU threads in the -vcpus group, GetVmInfo
# reports both paths, every SetVmCpuRestriction state writes the expected values (read back from
# the files), bad requests fail, a CPU-bound guest in BACKGROUND_WITH_CFS_QUOTA_ENFORCED at 10 %
# uses at most 15 % of a CPU (measured by a cpuacct group holding the vCPU threads), and the daemon
# leaves none of the groups it created behind.
#
# The daemon runs with --cgroup-parent=<a fresh unique name>, so its groups live in
# /sys/fs/cgroup/cpu/<name>/{termina,arcvm,plugin}[-vcpus]: parallel runs and the system's own
# groups are never touched.
. "$(dirname "$0")/lib.sh"

CPU=/sys/fs/cgroup/cpu
ACCT=/sys/fs/cgroup/cpuacct
VMM=${VMM_BACKEND:-$BUILD_DIR/vmm_backend} # env VMM_BACKEND: another build's VMM
GUEST=$BUILD_DIR/guest/testguest.elf
GUESTCHAN=$BUILD_DIR/tests/guestchan
OWNER=c9001e57

[ -w "$CPU/tasks" ] && [ -w "$CPU/cgroup.procs" ] || skip "no writable cgroup v1 cpu hierarchy at $CPU"
[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no usable /dev/kvm"
command -v jq >/dev/null || skip "jq is not installed"
for f in "$VMM" "$GUEST" "$GUESTCHAN" "$PBTOOL" "$VMC"; do
        [ -x "$f" ] || [ -f "$f" ] || skip "$f is not built"
done

# A name nobody has: the daemon must create (and later remove) the parent and every group.
PARENT=vmc-cgtest.$$.$RANDOM
[ ! -e "$CPU/$PARENT" ] || skip "$CPU/$PARENT exists"
BASE=$CPU/$PARENT
ACCT_GROUP=

cg_cleanup() {
        local g
        stop_daemon
        [ -z "$ACCT_GROUP" ] || rmdir "$ACCT_GROUP" 2>/dev/null || true
        if [ -d "$BASE" ]; then
                for g in "$BASE"/*/; do
                        [ -d "$g" ] && rmdir "$g" 2>/dev/null
                done
                rmdir "$BASE" 2>/dev/null || echo "warning: could not remove $BASE" >&2
        fi
        return 0
}
on_exit cg_cleanup

start_bus
start_daemon --vmm-path="$VMM" --cgroup-parent="$PARENT" --arcvm-background-quota-percent=10

intro=$(busctl --address="$BUS_ADDRESS" introspect --xml-interface $CONCIERGE_NAME $CONCIERGE_PATH)
case "$intro" in *'<method name="StartVm">'*) ;; *) skip "this vm_concierge has no StartVm yet" ;; esac
assert_contains "$intro" '<method name="SetVmCpuRestriction">' "introspection"
grep -q "CPU cgroups: kernel v1 under $BASE " "$DAEMON_LOG" || fail "no CPU cgroups line in the daemon log"

for g in termina termina-vcpus arcvm arcvm-vcpus plugin plugin-vcpus; do
        [ -d "$BASE/$g" ] || fail "the daemon did not create $BASE/$g"
done

# --- placement ---------------------------------------------------------------------------------

start_vm() { # NAME VM_TYPE CPUS
        local out
        out=$(pb call --fd="$GUEST" StartVm name="$1" owner_id=$OWNER vm_type="$2" cpus="$3" memory_mib=64 \
                fds=KERNEL)
        assert_contains "$out" "success: true" "StartVm $1"
        wait_for 20 sh -c "'$PBTOOL' call --address='$BUS_ADDRESS' GetVmInfo name=$1 owner_id=$OWNER |
                grep -q 'vm_info.status: VM_STATUS_RUNNING'" || fail "VM $1 did not reach RUNNING"
}

vm_field() { # NAME FIELD
        pb call GetVmInfo name="$1" owner_id=$OWNER | sed -n "s/^vm_info\.$2: //p"
}

# The VMM's vCPU threads (vcpuN); they are named as they start, so wait for all of them.
vcpu_tids() { # PID N
        local t comm tids
        wait_for 10 sh -c "[ \$(grep -lx 'vcpu[0-9]*' /proc/$1/task/*/comm 2>/dev/null | wc -l) -ge $2 ]" ||
                fail "the VMM $1 did not start $2 vCPU threads"
        tids=
        for t in /proc/"$1"/task/*; do
                comm=$(cat "$t/comm" 2>/dev/null) || continue
                [[ "$comm" =~ ^vcpu[0-9]+$ ]] && tids="$tids ${t##*/}"
        done
        echo $tids
}

start_vm term TERMINA 2
pid=$(vm_field term pid)
[ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "no VMM pid"
assert_eq "$(vm_field term cgroup_path)" "$BASE/termina" "GetVmInfo cgroup_path"
assert_eq "$(vm_field term vcpu_cgroup_path)" "$BASE/termina-vcpus" "GetVmInfo vcpu_cgroup_path"
info=$(vmc --owner=$OWNER --json info term)
assert_eq "$(jq -r .cgroup_path <<<"$info")" "$BASE/termina" "vmc info cgroup_path"
assert_eq "$(jq -r .vcpu_cgroup_path <<<"$info")" "$BASE/termina-vcpus" "vmc info vcpu_cgroup_path"

# The per-VM D-Bus object reports the same paths.
obj=$(sed -n 's/.*Exported VM term of owner [0-9a-f]* at \(\/[^ ]*\)\.$/\1/p' "$DAEMON_LOG" | head -n1)
if [ -n "$obj" ]; then
        for p in CgroupPath:termina VcpuCgroupPath:termina-vcpus; do
                got=$(busctl --address="$BUS_ADDRESS" get-property $CONCIERGE_NAME "$obj" org.chromium.VmConcierge.Vm "${p%%:*}")
                assert_eq "$got" "s \"$BASE/${p#*:}\"" "$obj ${p%%:*}"
        done
fi
grep -qx "$pid" "$BASE/termina/cgroup.procs" || fail "VMM $pid is not in termina/cgroup.procs: $(cat "$BASE/termina/cgroup.procs")"
tids=$(vcpu_tids "$pid" 2)
for t in $tids; do
        grep -qx "$t" "$BASE/termina-vcpus/tasks" || fail "vCPU thread $t is not in termina-vcpus/tasks"
        grep -qx "$t" "$BASE/termina/tasks" && fail "vCPU thread $t is still in termina/tasks"
done
# The VMM's main thread stays in the process group, and nothing of it went to another family.
grep -qx "$pid" "$BASE/termina/tasks" || fail "the VMM main thread left termina"
for g in arcvm arcvm-vcpus plugin plugin-vcpus; do
        [ -z "$(cat "$BASE/$g/tasks")" ] || fail "$g has tasks: $(cat "$BASE/$g/tasks")"
done
log "termina: VMM $pid in $BASE/termina, vCPUs $tids in $BASE/termina-vcpus"

# --- SetVmCpuRestriction writes ------------------------------------------------------------------

expect_values() { # FAMILY SHARES QUOTA
        local g
        for g in "$1" "$1-vcpus"; do
                assert_eq "$(cat "$BASE/$g/cpu.shares")" "$2" "$g cpu.shares"
                assert_eq "$(cat "$BASE/$g/cpu.cfs_quota_us")" "$3" "$g cpu.cfs_quota_us"
                assert_eq "$(cat "$BASE/$g/cpu.cfs_period_us")" 100000 "$g cpu.cfs_period_us"
        done
}

for fam in termina plugin arcvm; do
        out=$(vmc --json cpu-restrict $fam background)
        assert_eq "$(jq -r .success <<<"$out")" true "cpu-restrict $fam background"
        expect_values $fam 64 -1
        out=$(vmc cpu-restrict $fam background-quota)
        if [ $fam = arcvm ]; then
                expect_values $fam 64 10000
        else
                expect_values $fam 64 -1 # concierge: no quota outside arcvm
        fi
        vmc cpu-restrict $fam foreground >/dev/null
        expect_values $fam 1024 -1
done
# Raw API, by number, and the bad ones.
out=$(pb call SetVmCpuRestriction cpu_cgroup=CPU_CGROUP_ARCVM cpu_restriction_state=CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED)
assert_contains "$out" "success: true"
expect_values arcvm 64 10000
out=$(pb call SetVmCpuRestriction cpu_cgroup=7 cpu_restriction_state=1)
assert_contains "$out" "success: false" "unknown cgroup"
assert_contains "$out" "unknown cpu_cgroup" "unknown cgroup"
out=$(pb call SetVmCpuRestriction cpu_cgroup=0 cpu_restriction_state=9)
assert_contains "$out" "success: false" "unknown state"
expect_values termina 1024 -1
expect_values arcvm 64 10000
rc=0
vmc cpu-restrict arcvm sideways 2>/dev/null || rc=$?
assert_eq "$rc" 2 "vmc usage error"

# A write the kernel refuses: on v1 a child's CFS quota may not exceed its parent's, so with the
# test parent at 5 % the arcvm quota of 10 % is EINVAL: success=false, the reason says which.
vmc cpu-restrict arcvm foreground >/dev/null
echo 5000 >"$BASE/cpu.cfs_quota_us"
out=$(pb call SetVmCpuRestriction cpu_cgroup=CPU_CGROUP_ARCVM cpu_restriction_state=CPU_RESTRICTION_BACKGROUND_WITH_CFS_QUOTA_ENFORCED)
assert_contains "$out" "success: false" "quota above the parent's"
assert_contains "$out" "failed to set the quota of arcvm" "quota above the parent's"
rc=0
err=$(vmc cpu-restrict arcvm background-quota 2>&1) || rc=$?
assert_eq "$rc" 1 "vmc exit status on failure"
assert_contains "$err" "Invalid argument" "vmc error"
# every write was still tried: the shares of both groups are the background ones
assert_eq "$(cat "$BASE/arcvm/cpu.shares") $(cat "$BASE/arcvm-vcpus/cpu.shares")" "64 64" "shares after the failure"
echo -1 >"$BASE/cpu.cfs_quota_us"
vmc cpu-restrict arcvm foreground >/dev/null
expect_values arcvm 1024 -1

# --- a CPU-bound guest under the arcvm quota ----------------------------------------------------

# usage in ns of the vCPU threads, from a cpuacct group that holds just them (cpuacct is its own
# v1 hierarchy here; when it is not writable, the threads' schedstat run time).
usage_ns() {
        local t sum=0 v
        if [ -n "$ACCT_GROUP" ]; then
                cat "$ACCT_GROUP/cpuacct.usage"
                return
        fi
        for t in $1; do
                read -r v _ <"/proc/$2/task/$t/schedstat"
                sum=$((sum + v))
        done
        echo $sum
}

start_vm arc ARC_VM 1
apid=$(vm_field arc pid)
grep -qx "$apid" "$BASE/arcvm/cgroup.procs" || fail "VMM $apid is not in arcvm/cgroup.procs"
atids=$(vcpu_tids "$apid" 1)
for t in $atids; do
        grep -qx "$t" "$BASE/arcvm-vcpus/tasks" || fail "vCPU thread $t is not in arcvm-vcpus/tasks"
done
if [ -w "$ACCT/tasks" ]; then
        ACCT_GROUP=$ACCT/$PARENT
        mkdir "$ACCT_GROUP"
        for t in $atids; do echo "$t" >"$ACCT_GROUP/tasks"; done
        how="cpuacct.usage of $ACCT_GROUP"
else
        how="schedstat of the vCPU threads"
fi
sock=$(vm_field arc channel_socket)
"$GUESTCHAN" "$sock" --timeout 10000 ping >/dev/null || fail "the arc guest does not answer"

spin() { # SECONDS -> sets USED_NS
        local before after out
        before=$(usage_ns "$atids" "$apid")
        out=$("$GUESTCHAN" "$sock" --timeout 60000 "spin $1") || fail "spin $1: no answer"
        after=$(usage_ns "$atids" "$apid")
        assert_contains "$out" "OK spun" "spin $1"
        USED_NS=$((after - before))
}

vmc cpu-restrict arcvm background-quota >/dev/null
throttled_before=$(sed -n 's/^nr_throttled //p' "$BASE/arcvm-vcpus/cpu.stat")
spin 3
quota_ns=$USED_NS
throttled_after=$(sed -n 's/^nr_throttled //p' "$BASE/arcvm-vcpus/cpu.stat")
log "spin 3 at a 10 % quota: $((quota_ns / 1000000)) ms of CPU ($how), nr_throttled +$((throttled_after - throttled_before))"
[ "$quota_ns" -le 450000000 ] || fail "the throttled guest used $((quota_ns / 1000000)) ms of CPU in 3 s (> 15 %)"
[ "$throttled_after" -gt "$throttled_before" ] || fail "arcvm-vcpus was never throttled"

# The same spin in the foreground gets far more: the measurement sees the spin at all.
vmc cpu-restrict arcvm foreground >/dev/null
spin 1
log "spin 1 in the foreground: $((USED_NS / 1000000)) ms of CPU"
[ "$USED_NS" -ge 200000000 ] || fail "an unthrottled spin 1 used only $((USED_NS / 1000000)) ms of CPU"

# --- stopping -----------------------------------------------------------------------------------

for n in term arc; do
        out=$(pb call StopVm name=$n owner_id=$OWNER)
        assert_contains "$out" "success: true" "StopVm $n"
done
wait_for 20 sh -c "! kill -0 $pid 2>/dev/null && ! kill -0 $apid 2>/dev/null" || fail "the VMMs did not exit"
# The VMMs' tasks are gone from every group (KVM's per-VM kernel workers go with the VM).
for g in termina termina-vcpus arcvm arcvm-vcpus; do
        wait_for 5 sh -c "[ -z \"\$(cat '$BASE/$g/tasks')\" ]" || fail "$g still has tasks: $(cat "$BASE/$g/tasks")"
done
[ -z "$ACCT_GROUP" ] || { rmdir "$ACCT_GROUP" && ACCT_GROUP=; }

stop_daemon
assert_eq "$DAEMON_EXIT" 0 "daemon exit status"
[ ! -e "$BASE" ] || fail "the daemon left $BASE behind: $(ls "$BASE")"
grep -q "Leaving CPU cgroup" "$DAEMON_LOG" && fail "the daemon reported leftover groups"
echo PASS
