#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/balloon (issue 6): virtio-balloon inflate of 1 GiB in a 2 GiB test guest on our VMM, next
# to the limit measured in the same run (one process, a 1 GiB memfd mapped MAP_SHARED like guest
# RAM, all pages written, one madvise(MADV_REMOVE) over it), and, for a feel against a peer, QEMU
# (TCG, the Debian reference guest of ../shared/tools/build-guest.sh, virtio-balloon-pci) inflating
# 128 MiB of a 256 MiB guest over QMP (a different guest and emulator: not a like-for-like ratio).
#
# Ours, each round: the guest writes 1 GiB and frees it (resident on the host, free in the guest),
# then `vmmctl balloon set 1GiB --wait` is timed (request to "actual == target", including the
# guest's polling delay of up to one 10 ms timer tick and vmmctl's start-up, printed separately as
# vmmctl_rtt_ms), the memfd's allocated bytes before and after give the pages released; then the
# balloon is deflated to 0 (timed too). Medians of ROUNDS rounds.
#
# Prints `name value unit` lines and the ratio of our release rate to the MADV_REMOVE rate
# (target >= 0.5).
# Usage: bench/balloon.sh   (env: BUILD_DIR (default build), ROUNDS (3), QEMU_RUN (1; 0 skips the
#        QEMU part), REF_GUEST (/var/tmp/vmc-ref-guest: built there with build-guest.sh if missing))
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${ROUNDS:-3}
QEMU_RUN=${QEMU_RUN:-1}
REF_GUEST=${REF_GUEST:-/var/tmp/vmc-ref-guest}
GUEST_MIB=2048
INFLATE_MIB=1024

make -s B="$BUILD_DIR" "$BUILD_DIR/vmm_backend" "$BUILD_DIR/vmmctl" "$BUILD_DIR/tests/guestchan" \
        "$BUILD_DIR/guest/testguest.elf"
mkdir -p "$BUILD_DIR/bench"
# The helper has no dependencies; it is built here with the project's warning flags.
${CC:-cc} -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wmissing-prototypes -Wshadow -Wvla \
        -o "$BUILD_DIR/bench/balloon-bench" bench/balloon-bench.c

VMM=$BUILD_DIR/vmm_backend
VMMCTL=$BUILD_DIR/vmmctl
GUESTCHAN=$BUILD_DIR/tests/guestchan
tmp=$(mktemp -d)
VMM_PID=
cleanup() {
        [ -z "$VMM_PID" ] || { kill -KILL "$VMM_PID" 2>/dev/null || true; wait "$VMM_PID" 2>/dev/null || true; }
        rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
now_ns() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
resident() { "$VMMCTL" "$tmp/ctl" status --json | sed -n 's/.*"resident_bytes":\([0-9]*\).*/\1/p'; }
ctl() { "$VMMCTL" "$tmp/ctl" "$@"; }

echo "# balloon: $INFLATE_MIB MiB inflate in a $GUEST_MIB MiB test guest, median of $ROUNDS rounds"

# --- the limit: MADV_REMOVE of the same amount in one process ------------------------------------
"$BUILD_DIR/bench/balloon-bench" "$INFLATE_MIB" "$ROUNDS" | tee "$tmp/limit"
limit_rate=$(awk '$1 == "madvise_remove_rate" { print $2 }' "$tmp/limit")

# --- ours -------------------------------------------------------------------------------------------
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        "$VMM" --kernel "$BUILD_DIR/guest/testguest.elf" --mem-mib "$GUEST_MIB" --balloon \
                --control-socket "$tmp/ctl" --serial-log "$tmp/log" --serial1-socket "$tmp/sock" 2>"$tmp/err" &
        VMM_PID=$!
        for _ in $(seq 300); do
                grep -q "TESTGUEST READY" "$tmp/log" 2>/dev/null && break
                kill -0 "$VMM_PID" 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
                sleep 0.1
        done
        grep -q "TESTGUEST READY" "$tmp/log" || { echo "bench: guest not ready" >&2; exit 1; }
        for i in $(seq "$ROUNDS"); do
                out=$("$GUESTCHAN" "$tmp/sock" "fill $INFLATE_MIB $i" "free $INFLATE_MIB")
                [ "$out" = "$(printf 'OK filled %d\nOK freed %d' $((INFLATE_MIB * 256)) $((INFLATE_MIB * 256)))" ] ||
                        { echo "bench: guest: $out" >&2; exit 1; }
                r0=$(resident)
                t0=$(now_ns)
                ctl balloon set "${INFLATE_MIB}MiB" --wait --timeout 60000 >/dev/null
                t1=$(now_ns)
                r1=$(resident)
                actual=$(ctl balloon stats --json | sed -n 's/.*"balloon_actual":\([0-9]*\).*/\1/p')
                [ "$actual" = $((INFLATE_MIB << 20)) ] || { echo "bench: actual $actual after --wait" >&2; exit 1; }
                echo "$(ms "$t0" "$t1")" >>"$tmp/inflate_ms"
                echo $(((r0 - r1) >> 20)) >>"$tmp/released_mib"
                awk -v a="$t0" -v b="$t1" -v r=$(((r0 - r1) >> 20)) 'BEGIN { printf "%.0f\n", r / ((b - a) / 1e9) }' \
                        >>"$tmp/rate"
                t0=$(now_ns)
                ctl balloon set 0 --wait --timeout 60000 >/dev/null
                t1=$(now_ns)
                echo "$(ms "$t0" "$t1")" >>"$tmp/deflate_ms"
                t0=$(now_ns)
                ctl status >/dev/null
                t1=$(now_ns)
                echo "$(ms "$t0" "$t1")" >>"$tmp/rtt_ms"
        done
        ctl stop >/dev/null || true
        wait "$VMM_PID" || { echo "bench: VMM exit status $?: $(cat "$tmp/err")" >&2; exit 1; }
        VMM_PID=
        ours_rate=$(median <"$tmp/rate")
        echo "ours_inflate_ms $(median <"$tmp/inflate_ms") ms"
        echo "ours_released $(median <"$tmp/released_mib") MiB"
        echo "ours_release_rate $ours_rate MiB/s"
        echo "ours_deflate_ms $(median <"$tmp/deflate_ms") ms"
        echo "vmmctl_rtt_ms $(median <"$tmp/rtt_ms") ms"
        awk -v a="$ours_rate" -v b="$limit_rate" 'BEGIN { printf "ratio_release_rate_vs_madvise %.2f x (target >= 0.5)\n", a / b }'
else
        echo "# ours: skipped, /dev/kvm is not available"
fi

# --- QEMU, TCG, Linux reference guest, virtio-balloon-pci: 128 MiB of 256 MiB -----------------------
if [ "$QEMU_RUN" != 1 ]; then
        echo "# qemu: skipped (QEMU_RUN=$QEMU_RUN)"
        exit 0
fi
QEMU=$(command -v qemu-system-x86_64 || true)
if [ -z "$QEMU" ]; then
        echo "# qemu: skipped, qemu-system-x86_64 is not installed"
        exit 0
fi
if [ ! -f "$REF_GUEST/vmlinuz" ] || [ ! -f "$REF_GUEST/initramfs.cpio.gz" ]; then
        echo "# qemu: building the reference guest in $REF_GUEST (../shared/tools/build-guest.sh)" >&2
        ../shared/tools/build-guest.sh "$REF_GUEST" >"$tmp/guest-build.log" 2>&1 ||
                { echo "# qemu: skipped, the reference guest did not build: $(tail -n 3 "$tmp/guest-build.log")"; exit 0; }
fi
echo "# qemu: $("$QEMU" --version | head -n 1), TCG, -M pc, 256 MiB, guest_touch=96 (the guest dirties and frees 96 MiB)"
python3 - "$QEMU" "$REF_GUEST" "$tmp" "$ROUNDS" <<'PY'
import json, os, signal, socket, statistics, subprocess, sys, time

qemu, guest, tmp, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
log, qmp_path = os.path.join(tmp, "qemu.log"), os.path.join(tmp, "qmp.sock")
argv = [qemu, "-nodefaults", "-no-user-config", "-nographic", "-accel", "tcg", "-M", "pc", "-smp", "1",
        "-m", "256", "-no-reboot", "-device", "virtio-balloon-pci", "-serial", "file:" + log,
        "-kernel", os.path.join(guest, "vmlinuz"), "-initrd", os.path.join(guest, "initramfs.cpio.gz"),
        "-append", "console=ttyS0 panic=-1 reboot=k quiet guest_exit=wait guest_touch=96",
        "-qmp", "unix:" + qmp_path + ",server=on,wait=off", "-display", "none"]
p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(tmp, "qemu.err"), "wb"), start_new_session=True)


def rss_kib():
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_for_ready(deadline):
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"QEMU exited with {p.returncode}")
        try:
            with open(log, "rb") as f:
                if b"GUEST-READY" in f.read():
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise RuntimeError("no GUEST-READY within 120 s")


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error']}")
            return r.get("return")


def resize(q, target):
    t0 = time.monotonic()
    q.cmd("balloon", value=target)
    while q.cmd("query-balloon")["actual"] != target:
        if time.monotonic() - t0 > 60:
            raise RuntimeError(f"balloon did not reach {target >> 20} MiB in 60 s")
        time.sleep(0.002)
    return (time.monotonic() - t0) * 1e3


try:
    wait_for_ready(time.monotonic() + 120)
    q = Qmp(qmp_path)
    time.sleep(1.0)
    inflate, deflate, drop = [], [], None
    for i in range(rounds):
        before = rss_kib()
        inflate.append(resize(q, 128 << 20))
        after = rss_kib()
        if drop is None:
            drop = (before - after) / 1024
        deflate.append(resize(q, 256 << 20))
    q.cmd("quit")
    p.wait(timeout=30)
    print(f"qemu_tcg_inflate_128mib_ms {statistics.median(inflate):.1f} ms")
    print(f"qemu_tcg_deflate_128mib_ms {statistics.median(deflate):.1f} ms")
    print(f"qemu_tcg_rss_drop_first_inflate {drop:.1f} MiB")
except Exception as e:
    print(f"# qemu: failed: {e}")
finally:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
PY
