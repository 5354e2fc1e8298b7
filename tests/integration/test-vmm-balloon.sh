#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# virtio-balloon end to end: the test guest's polled driver against our VMM's device.
#   256 MiB guest, fill 192 + free 160, balloon set 128MiB --wait -> actual 128 MiB, the RAM memfd's
#   allocated blocks drop by >= 120 MiB (VMM status and, from outside, fstat of /proc/PID/fd/N),
#   balloon-resized events; stats agree with the guest's meminfo; the workload cannot fill balloon
#   pages; deflate to 0 -> fill over the whole heap and verify OK; a guest posting a descriptor
#   outside RAM -> device-reset event, the VMM keeps serving and the driver sets the device up again;
#   inflate while vmm-swap is Active -> verify OK, and the ballooned pages stay out after swap-in.
# VALGRIND=1 runs the VMMs under valgrind (errors and leaks fail the exit-status checks).
. "$(dirname "$0")/vmm-lib.sh"

[ -x "$VMMCTL" ] || fail "$VMMCTL is not built"
if [ "${VALGRIND:-0}" = 1 ]; then
        command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
        VMM_WRAPPER=(valgrind --quiet --error-exitcode=99 --leak-check=full
                --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible
                --log-file="$TMP/vg.%p")
fi
MIB=1048576

ctl() { "$VMMCTL" "$TMP/$CUR.ctl" "$@"; }
# json_field JSON KEY: a top-level value of vmmctl's flat --json output.
json_field() { sed -n "s/.*\"$2\":\(\"[^\"]*\"\|-\?[0-9]\+\).*/\1/p" <<<"$1" | tr -d '"'; }
resident() { json_field "$(ctl status --json)" resident_bytes; }
# The guest RAM memfd's allocated bytes, seen from outside the VMM: st_blocks of /proc/PID/fd/N.
memfd_bytes() {
        local fd
        for fd in /proc/"$PID"/fd/*; do
                case "$(readlink "$fd")" in
                /memfd:*)
                        echo $(($(stat -L -c %b "$fd") * $(stat -L -c %B "$fd")))
                        return 0
                        ;;
                esac
        done
        fail "no memfd among the VMM's fds"
}
# meminfo_field NAME: from the guest's MEMINFO line (in $mi).
meminfo_field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$mi"; }
stats_field() { json_field "$stats" "$1"; }

start() {
        CUR=$1
        shift
        vmm_start "$CUR" --mem-mib 256 --balloon --control-socket "$TMP/$CUR.ctl" "$@"
        vmm_wait_ready "$CUR"
        PID=$VMM_PID
        ctl events --json --timeout 120000 >"$TMP/$CUR.events" 2>"$TMP/$CUR.events.err" &
        EV_PID=$!
        _VMM_PIDS+=("$EV_PID")
        local i
        for i in $(seq 100); do
                grep -q "subscribed to events" "$TMP/$CUR.events.err" && return 0
                sleep 0.05
        done
        fail "vmmctl events did not subscribe: $(cat "$TMP/$CUR.events.err")"
}

########################################################################################################
log "boot with --balloon: the guest's driver found the device and runs it"
start main
out=$(chan main balloon)
assert_match "$out" '^BALLOON state=running status=0xf features=0x100000006 target=0 actual=0 ' "driver state"

log "fill 192, free 160: 192 MiB resident, 160 MiB of it free in the guest"
assert_eq "$(chan main "fill 192 11" "free 160")" $'OK filled 49152\nOK freed 40960' "fill/free"
before=$(resident)
before_fd=$(memfd_bytes)
[ "$before" -ge $((192 * MIB)) ] || fail "resident $before < 192 MiB after fill 192"
[ "$before_fd" -ge $((192 * MIB)) ] || fail "memfd blocks $before_fd < 192 MiB after fill 192"

log "balloon set 128MiB --wait: actual reaches 128 MiB, the memfd shrinks by >= 120 MiB"
ctl balloon set 128MiB --wait --timeout 30000 >/dev/null || fail "balloon set 128MiB --wait failed"
stats=$(ctl balloon stats --json --timeout 30000)
assert_eq "$(stats_field balloon_actual)" $((128 * MIB)) "balloon_actual"
after=$(resident)
after_fd=$(memfd_bytes)
log "resident $before -> $after bytes; memfd blocks $before_fd -> $after_fd bytes"
[ $((before - after)) -ge $((120 * MIB)) ] || fail "resident dropped by only $((before - after)) bytes"
[ $((before_fd - after_fd)) -ge $((120 * MIB)) ] || fail "memfd blocks dropped by only $((before_fd - after_fd))"
grep -q "\"event\":\"balloon-resized\".*\"actual_bytes\":$((128 * MIB))" "$TMP/main.events" ||
        fail "no balloon-resized event for 128 MiB: $(cat "$TMP/main.events")"

log "stats agree with the guest's meminfo; the workload keeps off the balloon"
mi=$(chan main meminfo)
assert_eq "$(meminfo_field balloon)" 32768 "balloon pages in the guest's meminfo"
stats=$(ctl balloon stats --json --timeout 30000)
assert_eq "$(stats_field total_memory)" "$(meminfo_field total)" "stats total_memory vs meminfo total"
assert_eq "$(stats_field free_memory)" $(($(meminfo_field free) * 4096)) "stats free_memory vs meminfo free"
assert_eq "$(stats_field available_memory)" "$(stats_field free_memory)" "available_memory"
assert_eq "$(stats_field major_faults)" -1 "major_faults (not reported: unknown)"
heap_mib=$(($(meminfo_field heap) / MIB))
# The balloon took the free pages the workload had written, from the top: [32, 160) MiB.
assert_match "$(chan main "fill 8 12 100")" '^ERR page [0-9]+ is in the balloon' "fill over balloon pages"
assert_match "$(chan main verify)" '^OK 8192 ' "verify of the 32 MiB still filled"
# Freeing more does not give the balloon's pages back.
assert_eq "$(chan main "free 8 100")" "OK freed 0" "free over balloon pages"
mi=$(chan main meminfo)
assert_eq "$(meminfo_field balloon)" 32768 "balloon pages after free over them"

log "a target beyond the free pages: the balloon stops where the free pages end (out of puff)"
assert_eq "$(chan main "fill 32 14 0")" "OK filled 8192" "fill 32 below the balloon"
mi=$(chan main meminfo)
free=$(meminfo_field free)
ctl balloon set 240MiB >/dev/null
for _ in $(seq 100); do
        mi=$(chan main meminfo)
        [ "$(meminfo_field free)" = 0 ] && break
        sleep 0.1
done
assert_eq "$(meminfo_field free)" 0 "free pages once the balloon took all it could"
assert_eq "$(meminfo_field balloon)" $((32768 + free)) "balloon pages"
stats=$(ctl balloon stats --json --timeout 30000)
assert_eq "$(stats_field balloon_actual)" $(((32768 + free) * 4096)) "balloon_actual out of puff"
assert_match "$(chan main verify)" '^OK 16384 ' "verify while out of puff"

log "deflate to 0: every page is the guest's again; fill the whole heap and verify"
ctl balloon set 0 --wait --timeout 30000 >/dev/null || fail "balloon set 0 --wait failed"
mi=$(chan main meminfo)
assert_eq "$(meminfo_field balloon)" 0 "balloon pages after deflate"
assert_eq "$(chan main "fill $heap_mib 15")" "OK filled $((heap_mib * 256))" "fill over the whole heap"
assert_match "$(chan main verify)" "^OK $((heap_mib * 256)) " "verify after deflate"
grep -q "\"event\":\"balloon-resized\",\"actual_bytes\":0" "$TMP/main.events" ||
        fail "no balloon-resized event for 0: $(cat "$TMP/main.events")"

log "garbage descriptor -> device-reset event, the VMM keeps serving, the driver starts over"
chan main "free $heap_mib" >/dev/null
assert_match "$(chan main balloon-garbage)" '^OK garbage posted status=0x4f' "garbage posted (NEEDS_RESET)"
for _ in $(seq 50); do
        grep -q '"event":"device-reset"' "$TMP/main.events" && break
        sleep 0.1
done
grep -q '"event":"device-reset","device":"virtio-balloon","reason":"[^"]\+"' "$TMP/main.events" ||
        fail "no device-reset event: $(cat "$TMP/main.events")"
for _ in $(seq 50); do
        out=$(chan main balloon)
        [[ "$out" =~ resets=1 ]] && break
        sleep 0.1
done
assert_match "$out" '^BALLOON state=running status=0xf .* resets=1$' "driver after the reset"
assert_eq "$(json_field "$(ctl status --json)" state)" running "VMM state after the device error"
ctl balloon set 64MiB --wait --timeout 30000 >/dev/null || fail "balloon set 64MiB after the reset failed"
mi=$(chan main meminfo)
assert_eq "$(meminfo_field balloon)" 16384 "balloon pages after the reset and 64 MiB"
assert_match "$(chan main "fill 64 16" verify)" $'^OK filled 16384\nOK 16384 ' "workload after the reset"

log "stop: exit 0, no balloon request left hanging"
ctl balloon set 32MiB >/dev/null
ctl stop >/dev/null || true
vmm_wait_exit "$PID" 60
assert_eq "$VMM_RC" 0 "exit status (99: valgrind errors in $TMP/vg.*)"
wait "$EV_PID" || true

if [ "${VALGRIND:-0}" = 1 ]; then
        # valgrind runs one thread at a time and keeps its lock across a page fault, so a VMM thread
        # that faults on a swapped-out page waits forever for the userfaultfd thread.
        log "vmm-swap part skipped under valgrind (userfaultfd faults cannot be served there)"
        echo PASS
        exit 0
fi

########################################################################################################
log "vmm-swap Active, then inflate: verify OK, ballooned pages stay out after swap-in"
swapdir=$TMP/swapdir
mkdir "$swapdir"
start swapped --swap-dir "$swapdir"
assert_eq "$(chan swapped "fill 192 21" "free 160")" $'OK filled 49152\nOK freed 40960' "fill/free"
sum=$(chan swapped verify)
assert_match "$sum" '^OK 8192 ' "verify before swap"
ctl swap enable >/dev/null || fail "swap enable"
for _ in $(seq 100); do
        ctl swap status | grep -q "^state: Pending" && break
        sleep 0.1
done
ctl swap out >/dev/null || fail "swap out"
for _ in $(seq 300); do
        ctl swap status | grep -q "^state: Active" && break
        sleep 0.1
done
ctl swap status | grep -q "^state: Active" || fail "swap not Active: $(ctl swap status)"
ctl balloon set 128MiB --wait --timeout 30000 >/dev/null || fail "balloon set 128MiB while swapped"
stats=$(ctl balloon stats --json --timeout 30000)
assert_eq "$(stats_field balloon_actual)" $((128 * MIB)) "balloon_actual while swapped"
assert_eq "$(chan swapped verify)" "$sum" "verify after inflating while swapped"
ctl swap disable >/dev/null || fail "swap disable"
for _ in $(seq 300); do
        ctl swap status | grep -q "^state: Ready" && break
        sleep 0.1
done
ctl swap status | grep -q "^state: Ready" || fail "swap not Ready after disable: $(ctl swap status)"
assert_eq "$(chan swapped verify)" "$sum" "verify after swap-in"
res=$(resident)
[ "$res" -le $(((192 - 120) * MIB)) ] || fail "resident $res after swap-in: ballooned pages came back"
ctl balloon set 0 --wait --timeout 30000 >/dev/null || fail "deflate after swap"
assert_match "$(chan swapped "fill 200 22" verify)" $'^OK filled 51200\nOK 51200 ' "fill/verify after deflate"
ctl stop >/dev/null || true
vmm_wait_exit "$PID" 60
assert_eq "$VMM_RC" 0 "exit status of the swapped VM (99: valgrind errors)"
[ -z "$(ls -A "$swapdir")" ] || fail "swap dir not empty: $(ls -A "$swapdir")"
echo PASS
