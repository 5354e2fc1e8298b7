#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/swap: vmm-swap engine figures next to their limits from the same run (issue 5), measured
# from host threads (the guest-measured variant needs the test guest). Prints `name value unit`.
# Usage: bench/swap.sh [SWAP_DIR] [RAM_MIB]   (BUILD_DIR as for the tests; default dir /var/tmp)
set -eu
BUILD_DIR=${BUILD_DIR:-build}
make -s B="$BUILD_DIR" "$BUILD_DIR/bench/swap-bench"
dir=$(mktemp -d "${1:-/var/tmp}/swap-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$BUILD_DIR/bench/swap-bench" "$dir" "${2:-512}"
