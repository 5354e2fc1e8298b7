#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boot, guest-channel traffic, control-socket traffic, pause/resume and exit of a 2-vCPU VM under
# valgrind: no error, no leak, no fd left open at exit (--track-fds).
. "$(dirname "$0")/vmm-lib.sh"
if ! command -v valgrind >/dev/null; then
        echo "SKIP: valgrind is not installed"
        exit 77
fi
if [ "${ASAN:-0}" = 1 ] || nm "$VMM" 2>/dev/null | grep -q __asan_init; then
        echo "SKIP: an ASan build cannot run under valgrind (the ASan run of the other VMM tests covers it)"
        exit 77
fi
VMM_WRAPPER=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
        --errors-for-leak-kinds=definite,indirect,possible --track-fds=yes --log-file="$TMP/vg.%p")
vmm_start a --cpus 2 --control-socket "$TMP/ctl.sock"
vmm_wait_ready a
assert_eq "$(chan a ping "fill 8 3" "verify 3" | head -n2 | tr '\n' ' ')" "PONG OK filled 2048 " "guest replies"
"$VMMCTL" "$TMP/ctl.sock" status >/dev/null
"$VMMCTL" "$TMP/ctl.sock" test-garbage 20 >/dev/null
"$VMMCTL" "$TMP/ctl.sock" pause >/dev/null
"$VMMCTL" "$TMP/ctl.sock" resume >/dev/null
chan a --no-reply exit
vmm_wait_exit "$VMM_PID" 60
cat "$TMP"/vg.* >&2 || true
assert_eq "$VMM_RC" 0 "exit status under valgrind (99 = valgrind found errors)"
# --track-fds lists the descriptors still open at exit: each must be one inherited from the parent.
opened=$(cat "$TMP"/vg.* | grep -c "Open file descriptor" || true)
inherited=$(cat "$TMP"/vg.* | grep -c "<inherited from parent>" || true)
assert_eq "$opened" "$inherited" "descriptors open at exit that the VMM opened itself"
echo PASS
