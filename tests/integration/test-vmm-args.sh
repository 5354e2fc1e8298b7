#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmm_backend's command line: --help, usage errors (exit 2) and start failures (exit 1) each with a
# clear message, and nothing left running or created.
set -eu
BUILD_DIR=${BUILD_DIR:-build}
VMM=$BUILD_DIR/vmm_backend
GUEST=$BUILD_DIR/guest/testguest.elf
[ -x "$VMM" ] && [ -e "$GUEST" ] || { echo "FAIL: $VMM or $GUEST not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

expect() { # rc message-substring args...
        local want=$1 msg=$2 rc=0
        shift 2
        timeout 20 "$VMM" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
        [ "$rc" = "$want" ] || fail "'$*': exit $rc, expected $want: $(cat "$tmp/err")"
        grep -qF -- "$msg" "$tmp/err" "$tmp/out" || fail "'$*': no '$msg' in: $(cat "$tmp/err")"
        echo "ok: $* -> $rc"
}

expect 0 "Exit status:" --help
expect 2 "--kernel is required"
expect 2 "unknown option '--bogus'" --kernel "$GUEST" --bogus
expect 2 "needs an argument" --kernel
expect 2 "unexpected argument 'extra'" --kernel "$GUEST" extra
for bad in 0 15 abc -5 "" 12x 1048577 99999999999999999999; do
        expect 2 "--mem-mib: '$bad'" --kernel "$GUEST" --mem-mib "$bad"
done
for bad in 0 65 x -1 ""; do
        expect 2 "--cpus: '$bad'" --kernel "$GUEST" --cpus "$bad"
done
expect 2 "--cmdline: longer than" --kernel "$GUEST" --cmdline "$(head -c 5000 /dev/zero | tr '\0' a)"
expect 2 "--control-fd: '2'" --kernel "$GUEST" --control-fd 2
expect 2 "--control-socket:" --kernel "$GUEST" --control-socket "$tmp/$(head -c 200 /dev/zero | tr '\0' s)"
expect 2 "--serial1-socket:" --kernel "$GUEST" --serial1-socket ""
expect 2 "--swap-dir: '$tmp/none' is not a writable directory" --kernel "$GUEST" --swap-dir "$tmp/none"
touch "$tmp/file"
expect 2 "--swap-dir: '$tmp/file' is not a writable directory" --kernel "$GUEST" --swap-dir "$tmp/file"
expect 2 "--vcpu-cgroup: '$tmp' is not a cgroup directory" --kernel "$GUEST" --vcpu-cgroup "$tmp"
expect 2 "must differ" --kernel "$GUEST" --control-socket "$tmp/s" --serial1-socket "$tmp/s"

# Start failures: these need to get past parsing (and some need KVM).
expect 1 "cannot read the kernel '$tmp/none'" --kernel "$tmp/none"
expect 1 "No data available" --kernel "$tmp/file"
head -c 4096 /dev/urandom >"$tmp/junk"
expect 1 "neither an ELF64 image nor a Linux bzImage" --kernel "$tmp/junk"
if [ -c /dev/kvm ]; then
        head -c 100 "$GUEST" >"$tmp/short.elf"
        expect 1 "cannot load '$tmp/short.elf' as a PVH ELF image" --kernel "$tmp/short.elf"
        expect 1 "--control-fd 5: not a connected AF_UNIX SOCK_SEQPACKET socket" --kernel "$GUEST" --control-fd 5 5<"$tmp/file"
        echo x >"$tmp/notsock"
        expect 1 "a file that is not a socket is in the way" --kernel "$GUEST" --control-socket "$tmp/notsock"
        expect 1 "cannot open the serial log" --kernel "$GUEST" --serial-log "$tmp/none/log"
        expect 1 "--swap-dir needs --control-socket or --control-fd" --kernel "$GUEST" --swap-dir "$tmp" --serial-log "$tmp/log"
        # A cgroup whose tasks file cannot be written: start fails, no thread keeps running.
        mkdir -p "$tmp/cg/tasks"
        expect 1 "cannot move vCPU thread" --kernel "$GUEST" --cpus 2 --vcpu-cgroup "$tmp/cg" --serial-log "$tmp/log"
fi
[ -z "$(find "$tmp" -type s)" ] || fail "sockets left behind: $(find "$tmp" -type s)"
echo PASS
