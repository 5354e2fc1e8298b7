#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The test runner behind `make check`: runs each unit-test binary and test script given as an
# argument, one at a time, with a time limit, and prints PASS / FAIL / SKIP per test and a
# closing "N passed, N failed, N skipped" line. Exit status 77 from a test means SKIP; the
# reason is the last line of its output that starts with "SKIP".
#
# Environment: BUILD_DIR (default build), TEST_TIMEOUT seconds per test (default 600),
# TESTS (a space-separated list of substrings: run only the tests whose name matches one).
set -u

BUILD_DIR=${BUILD_DIR:-build}
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
LOG_DIR=$BUILD_DIR/test-logs
mkdir -p "$LOG_DIR"
export BUILD_DIR

passed=0 failed=0 skipped=0
failed_names=()
start_all=$(date +%s)

for t in "$@"; do
    name=$(basename "$t")
    name=${name%.sh}
    if [ -n "${TESTS:-}" ]; then
        hit=0
        for pat in $TESTS; do
            case "$name" in *"$pat"*) hit=1 ;; esac
        done
        [ $hit = 1 ] || continue
    fi
    log=$LOG_DIR/$name.log
    t0=$(date +%s.%N)
    # Own process group + timeout --kill-after, so a hung test cannot outlive its slot.
    timeout --kill-after=10 "$TEST_TIMEOUT" "$t" >"$log" 2>&1 </dev/null
    rc=$?
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ $rc = 0 ]; then
        passed=$((passed + 1))
        printf 'PASS %-40s (%ss)\n' "$name" "$dt"
    elif [ $rc = 77 ]; then
        skipped=$((skipped + 1))
        reason=$(grep '^SKIP' "$log" | tail -n 1)
        printf 'SKIP %-40s %s\n' "$name" "${reason:-SKIP (no reason given)}"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        [ $rc = 124 ] && why="timed out after ${TEST_TIMEOUT}s" || why="exit $rc"
        printf 'FAIL %-40s (%s, %ss) log: %s\n' "$name" "$why" "$dt" "$log"
        tail -n 40 "$log" | sed 's/^/    | /'
    fi
done

echo
echo "test run took $(($(date +%s) - start_all))s"
[ ${#failed_names[@]} = 0 ] || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ] && [ $((passed + skipped)) -gt 0 ]
