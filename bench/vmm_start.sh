#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/vmm_start (issue 3): our VMM next to QEMU microvm in the same run, same test guest ELF
# (PVH entry), 128 MiB, 1 vCPU. Per VMM, the median over ROUNDS alternating runs of:
#   control_ms, control_cpu_ms   process start → control socket answering (QMP greeting for QEMU);
#                                ours serves its socket while it builds the KVM machine (status
#                                answers "starting" until the vCPUs run), as Firecracker's API does
#   ready_ms, ready_cpu_ms       process start → "TESTGUEST READY" in the ttyS0 log
#   *_cpu_vmm_ms                 the same CPU time without the vCPU threads (i.e. the VMM's own cost;
#                                the guest's ring-0 start-up is emulated on the vCPU threads here)
#   rss_kib (+ anon/file/shmem)  VmRSS after READY
# Printed as `name value unit` lines, then our/QEMU ratios. Our guest RAM is a memfd, so our RSS
# splits into VMM overhead (anon + file) and guest pages touched (shmem); QEMU's guest RAM is anon.
# Targets (issue 3): control_cpu_ms <= 8 and <= 0.1x QEMU; overhead <= 3 MiB and rss <= 0.2x QEMU.
#
# Usage: bench/vmm_start.sh   (env: BUILD_DIR, ROUNDS=5; installs qemu-system-x86 when missing)
set -eu

BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${ROUNDS:-5}
make -s B="$BUILD_DIR" "$BUILD_DIR/vmm_backend" "$BUILD_DIR/guest/testguest.elf" "$BUILD_DIR/bench/vmm-start-bench"
VMM=$BUILD_DIR/vmm_backend
GUEST=$BUILD_DIR/guest/testguest.elf
TIMER=$BUILD_DIR/bench/vmm-start-bench

if [ ! -c /dev/kvm ]; then
    echo "SKIP: /dev/kvm is missing"
    exit 77
fi
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "bench: installing qemu-system-x86 for the side-by-side run" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null
fi
QEMU=$(command -v qemu-system-x86_64)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_ours() {
    rm -f "$tmp/ours.log" "$tmp/ours.sock"
    "$TIMER" ours "$tmp/ours.log" "TESTGUEST READY" "vmmctl:$tmp/ours.sock" 60000 -- \
        "$VMM" --mem-mib 128 --cpus 1 --kernel "$GUEST" --control-socket "$tmp/ours.sock" \
        --serial-log "$tmp/ours.log" >>"$tmp/results" 2>>"$tmp/ours.err"
}

run_qemu() {
    rm -f "$tmp/qemu.log" "$tmp/qmp.sock"
    "$TIMER" qemu "$tmp/qemu.log" "TESTGUEST READY" "qmp:$tmp/qmp.sock" 120000 -- \
        "$QEMU" -M microvm -accel kvm -nodefaults -no-user-config -nographic -m 128 -smp 1 \
        -name vmm-start-bench,debug-threads=on \
        -kernel "$GUEST" -serial "file:$tmp/qemu.log" -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
        >>"$tmp/results" 2>>"$tmp/qemu.err"
}

for i in $(seq "$ROUNDS"); do
    run_ours || { echo "bench: our VMM failed (round $i):" >&2; cat "$tmp/ours.err" "$tmp/ours.log" >&2; exit 1; }
    run_qemu || { echo "bench: QEMU failed (round $i):" >&2; cat "$tmp/qemu.err" "$tmp/qemu.log" >&2; exit 1; }
done

median() { # name
    awk -v n="$1" '$1 == n { print $2 }' "$tmp/results" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "# vmm_start: median of $ROUNDS runs each; test guest $(basename "$GUEST"), 128 MiB, 1 vCPU"
echo "# qemu: $("$QEMU" --version | head -n 1)"
for who in ours qemu; do
    for fig in control_ms control_cpu_ms control_cpu_vmm_ms ready_ms ready_cpu_ms ready_cpu_vmm_ms rss_kib rss_anon_kib \
            rss_file_kib rss_shmem_kib; do
        unit=ms
        case $fig in *kib) unit=KiB ;; esac
        echo "${who}_$fig $(median "${who}_$fig") $unit"
    done
done
ours_overhead=$(awk -v a="$(median ours_rss_anon_kib)" -v f="$(median ours_rss_file_kib)" 'BEGIN { print a + f }')
echo "ours_vmm_overhead_kib $ours_overhead KiB"
for fig in control_ms control_cpu_ms control_cpu_vmm_ms ready_ms ready_cpu_ms ready_cpu_vmm_ms rss_kib; do
    awk -v n="ratio_$fig" -v a="$(median "ours_$fig")" -v b="$(median "qemu_$fig")" \
        'BEGIN { if (b > 0) printf "%s %.3f x\n", n, a / b; else printf "%s nan x\n", n }'
done
