#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/swap: vmm-swap of the real VMM, measured with the test guest, each figure next to its limit
# from the same run (issue 5). Prints `name value unit` lines, then the ratios against the targets:
#   (a) enable (staging copy)         >= 0.5x memcpy of the same size
#   (b) swap-out                      >= 0.8x dd conv=fdatasync of the same bytes into the same dir
#   (c) fault from staging, p50       <= 2x the guest's first touch of never-touched RAM (the
#       floor; no userfaultfd); fault from file p50 next to a cold 4 KiB pread from the swap dir
#   (d) sequential guest scan of swapped-out memory <= 1.2x the same scan of never-touched RAM
#   (e) disable (swap-in)             >= 0.5x a cold read of a file of the same size
# Latencies are measured in the guest (faultbench: rdtsc in ring 3, per page, random order for
# (c), address order for (d)); throughputs are the engine's own transition times (swap status).
# Usage: bench/swap.sh [SWAP_DIR_PARENT] [FILL_MIB]   (default /var/tmp, 256; BUILD_DIR as tests)
#        SWAP_BENCH_HOST=1 also runs the host-thread engine bench (swap-bench) afterwards.
set -eu
BUILD_DIR=${BUILD_DIR:-build}
B=$BUILD_DIR
FILL=${2:-256}
[ "$FILL" -ge 256 ] || {
        echo "FILL_MIB must be >= 256" >&2
        exit 2
}
make -s B="$B" "$B/vmm_backend" "$B/guest/testguest.elf" "$B/tests/guestchan" "$B/vmmctl" "$B/bench/swap-bench"
[ -c /dev/kvm ] || {
        echo "SKIP: /dev/kvm not available"
        exit 77
}

dir=$(mktemp -d "${1:-/var/tmp}/swap-bench.XXXXXX")
vmm_pid=
cleanup() {
        [ -z "$vmm_pid" ] || {
                kill -KILL "$vmm_pid" 2>/dev/null || true
                wait "$vmm_pid" 2>/dev/null || true
        }
        rm -rf "$dir"
}
trap cleanup EXIT
mkdir "$dir/swap"

"$B/vmm_backend" --kernel "$B/guest/testguest.elf" --mem-mib $((FILL * 2 + 256)) \
        --serial-log "$dir/log" --serial1-socket "$dir/g.sock" --control-socket "$dir/c.sock" \
        --swap-dir "$dir/swap" 2>"$dir/err" &
vmm_pid=$!
for _ in $(seq 300); do
        grep -q "TESTGUEST READY" "$dir/log" 2>/dev/null && break
        kill -0 "$vmm_pid" 2>/dev/null || {
                cat "$dir/err" >&2
                exit 1
        }
        sleep 0.1
done

g() { "$B/tests/guestchan" "$dir/g.sock" --timeout 600000 "$@"; }
ctl() { "$B/vmmctl" "$dir/c.sock" "$@"; }
st() { ctl swap status --json; }
wait_state() {
        local s
        for _ in $(seq 6000); do
                s=$(st | jq -r .state)
                [ "$s" = "$1" ] && return 0
                case "$s" in TrimInProgress | SwapOutInProgress | SwapInInProgress) ;; *) break ;; esac
                sleep 0.02
        done
        echo "swap state $s, expected $1: $(st)" >&2
        exit 1
}
# field LINE KEY: KEY=value out of a faultbench reply
field() { sed -n "s/.* $2=\([0-9]*\).*/\1/p" <<<"$1"; }
# us NS: nanoseconds as microseconds
us() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1000 }'; }
# rate PAGES MS: GiB/s and MiB/s of a transition
gibs() { awk -v p="$1" -v ms="$2" 'BEGIN { if (ms == 0) ms = 0.5; printf "%.2f", p * 4096 / (ms / 1000) / 2^30 }'; }
mibs() { awk -v p="$1" -v ms="$2" 'BEGIN { if (ms == 0) ms = 0.5; printf "%.1f", p * 4096 / (ms / 1000) / 2^20 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict NAME RATIO OP LIMIT
verdict() {
        local ok
        ok=$(awk -v r="$2" -v l="$4" -v op="$3" 'BEGIN { print (op == ">=" ? r >= l : r <= l) ? "met" : "MISSED" }')
        echo "target_$1 $2 x ($3 $4: $ok)"
}

echo "tsc_khz $(g tsc | awk '{ print $2 }') kHz"
echo "fill $FILL MiB"

# The floors first: never-touched guest RAM, before vmm-swap registers it with userfaultfd.
ft=$(g "faultbench 64 rand $FILL")
scan_fresh=$(g "faultbench 64 seq $((FILL + 64))")
echo "first_touch_never_touched_p50 $(us "$(field "$ft" p50_ns)") us"
echo "first_touch_never_touched_p99 $(us "$(field "$ft" p99_ns)") us"
echo "scan_never_touched $(us "$(field "$scan_fresh" mean_ns)") us/page"
g "fill $FILL 1" >/dev/null

# (a) enable
t0=$(date +%s%N)
ctl swap enable >/dev/null
t1=$(date +%s%N)
s=$(st)
en_pages=$(jq .state_transition.pages <<<"$s")
en_gibs=$(gibs "$en_pages" "$(jq .state_transition.time_ms <<<"$s")")
echo "enable_staging_copy $en_gibs GiB/s"
echo "enable_pages $en_pages pages"
echo "enable_wall_incl_pause_and_vmmctl $(((t1 - t0) / 1000000)) ms"

# (c) faults from staging (random order: no fault-around), and a sequential scan of staging
fs=$(g "faultbench 64 rand 0")
# The userfaultfd round trip with nothing to serve: never-touched pages under vmm-swap are answered
# with UFFDIO_ZEROPAGE (no data read or copied). What is left is the vCPU thread sleeping in the
# kernel and being woken: the floor of any fault served through userfaultfd on this host.
fz=$(g "faultbench 64 rand $((FILL + 128))")
scan_staging=$(g "faultbench 64 seq 64")
echo "fault_from_staging_p50 $(us "$(field "$fs" p50_ns)") us"
echo "fault_from_staging_p99 $(us "$(field "$fs" p99_ns)") us"
echo "fault_uffd_zeropage_p50 $(us "$(field "$fz" p50_ns)") us"
echo "fault_uffd_zeropage_p99 $(us "$(field "$fz" p99_ns)") us"
echo "scan_staging $(us "$(field "$scan_staging" mean_ns)") us/page"

# (b) swap-out of everything (refresh + trim first: the floor regions read as zero and are dropped)
ctl swap enable >/dev/null
ctl swap trim >/dev/null
wait_state Pending
ctl swap out >/dev/null
wait_state Active
s=$(st)
out_pages=$(jq .state_transition.pages <<<"$s")
out_mibs=$(mibs "$out_pages" "$(jq .state_transition.time_ms <<<"$s")")
echo "swap_out $out_mibs MiB/s"
echo "swap_out_pages $out_pages pages"
dd_mib=$((out_pages / 256 / 2 * 2))
t0=$(date +%s%N)
dd if=/dev/zero of="$dir/swap/dd.ref" bs=2M count=$((dd_mib / 2)) conv=fdatasync status=none
t1=$(date +%s%N)
dd_mibs=$(awk -v m="$dd_mib" -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", m / (ns / 1e9) }')
echo "dd_fdatasync_same_dir $dd_mibs MiB/s"

# (c) faults from the file; (d) sequential scan of swapped-out memory
ff=$(g "faultbench 64 rand 128")
fa0=$(st | jq .metrics.fault_around_pages)
scan_swapped=$(g "faultbench 64 seq 192")
fa1=$(st | jq .metrics.fault_around_pages)
echo "fault_from_file_p50 $(us "$(field "$ff" p50_ns)") us"
echo "fault_from_file_p99 $(us "$(field "$ff" p99_ns)") us"
echo "scan_swapped_out $(us "$(field "$scan_swapped" mean_ns)") us/page"
echo "scan_swapped_out_fault_around $((fa1 - fa0)) pages"
ref=$("$B/bench/swap-bench" --ref "$dir/swap/dd.ref" "$dd_mib")
echo "$ref"
memcpy=$(awk '/^memcpy_prefaulted/ { print $2 }' <<<"$ref")
rd=$(awk '/^read_file_cold/ { print $2 }' <<<"$ref")

# (e) disable: swap everything in from the file
ctl swap enable >/dev/null
ctl swap out >/dev/null
wait_state Active
ctl swap disable >/dev/null
wait_state Ready
s=$(st)
in_pages=$(jq .state_transition.pages <<<"$s")
in_gibs=$(gibs "$in_pages" "$(jq .state_transition.time_ms <<<"$s")")
echo "disable_swap_in $in_gibs GiB/s"
echo "disable_pages $in_pages pages"
v=$(g verify)
case "$v" in OK*) ;; *)
        echo "guest verify after the bench: $v" >&2
        exit 1
        ;;
esac

verdict a_enable_vs_memcpy "$(ratio "$en_gibs" "$memcpy")" ">=" 0.5
verdict b_out_vs_dd "$(ratio "$out_mibs" "$dd_mibs")" ">=" 0.8
verdict c_staging_p50_vs_first_touch "$(ratio "$(field "$fs" p50_ns)" "$(field "$ft" p50_ns)")" "<=" 2
echo "ratio_c_staging_p50_vs_uffd_zeropage_p50 $(ratio "$(field "$fs" p50_ns)" "$(field "$fz" p50_ns)") x"
# The floor of any fault served through userfaultfd here (nothing read or copied) against the same
# first touch: when this alone is above 2, target (c) is out of reach of a userfaultfd design.
echo "ratio_c_uffd_zeropage_p50_vs_first_touch $(ratio "$(field "$fz" p50_ns)" "$(field "$ft" p50_ns)") x"
echo "ratio_c_file_p50_vs_first_touch $(ratio "$(field "$ff" p50_ns)" "$(field "$ft" p50_ns)") x"
echo "ratio_c_file_p50_vs_pread_4k $(ratio "$(us "$(field "$ff" p50_ns)")" "$(awk '/^pread_4k_cold_p50/ { print $2 }' <<<"$ref")") x"
verdict d_scan_swapped_vs_never_touched "$(ratio "$(field "$scan_swapped" mean_ns)" "$(field "$scan_fresh" mean_ns)")" "<=" 1.2
verdict e_in_vs_read "$(ratio "$in_gibs" "$rd")" ">=" 0.5

kill -TERM "$vmm_pid"
wait "$vmm_pid" || true
vmm_pid=
if [ -n "${SWAP_BENCH_HOST:-}" ]; then
        echo "# host-thread engine bench (swap-bench, no guest)"
        "$B/bench/swap-bench" "$dir/swap" "$FILL"
fi
