#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# --vcpu-cgroup: every vCPU thread (and only those) joins the given cgroup before running guest
# code (cgroup v1 cpu controller: <path>/tasks).
. "$(dirname "$0")/vmm-lib.sh"

root=/sys/fs/cgroup/cpu
if [ ! -w "$root/tasks" ]; then
        echo "SKIP: no writable cgroup v1 cpu hierarchy at $root"
        exit 77
fi
cg=$(mktemp -d "$root/vmm-test.XXXXXX")
trap 'rmdir "$cg" 2>/dev/null || true; _vmm_cleanup' EXIT

vmm_start a --cpus 2 --vcpu-cgroup "$cg" --control-socket "$TMP/ctl.sock"
vmm_wait_ready a
pid=$VMM_PID
vcpus=$("$VMMCTL" "$TMP/ctl.sock" vcpu-threads --json | grep -o '"tids":\[[0-9, ]*\]' | grep -o '[0-9][0-9]*')
[ "$(wc -l <<<"$vcpus")" = 2 ] || fail "vcpu-threads: $vcpus"
for t in $vcpus; do
        grep -qx "$t" "$cg/tasks" || fail "vCPU thread $t is not in $cg/tasks: $(cat "$cg/tasks")"
done
# Nothing else of ours: the main thread stays out. KVM's own per-VM kernel workers (kvm-*), which
# the kernel starts from the first vCPU thread, inherit its cgroup; that is the kernel's choice.
for t in $(cat "$cg/tasks"); do
        grep -qx "$t" <<<"$vcpus" && continue
        [ "$t" != "$pid" ] || fail "the main thread joined the vCPU cgroup"
        comm=$(cat "/proc/$pid/task/$t/comm" 2>/dev/null || echo "?")
        [[ "$comm" == kvm-* ]] || fail "thread $t ($comm) is in the vCPU cgroup"
done
chan a ping >/dev/null
"$VMMCTL" "$TMP/ctl.sock" stop >/dev/null
vmm_wait_exit "$pid"
assert_eq "$VMM_RC" 0 "exit status"
[ -z "$(cat "$cg/tasks")" ] || fail "tasks left in the cgroup"
echo PASS
