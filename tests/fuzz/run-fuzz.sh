#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# `make fuzz`: run each libFuzzer target in $B/fuzz/ for $FUZZ_SECONDS from the seed corpus its gcc
# runner writes; print one summary line per target; exit 1 if any target crashed.
set -eu
B=${B:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
failed=0
for t in "$@"; do
        dir=$B/fuzz/$t.work
        mkdir -p "$dir/corpus" "$dir/crashes"
        "$B/tests/fuzz/$t" --seeds "$dir/corpus" >/dev/null
        log=$dir/log.txt
        rc=0
        "$B/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix="$dir/crashes/" -print_final_stats=1 "$dir/corpus" >"$log" 2>&1 || rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
        crashes=$(find "$dir/crashes" -type f | wc -l)
        echo "$t executions ${execs:-0} coverage ${cov:-0} crashes $crashes (exit $rc, log $log)"
        if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
                failed=1
                grep -m 5 -E 'ERROR|invariant|SUMMARY' "$log" || true
        fi
done
exit $failed
