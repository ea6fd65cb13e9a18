#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# promote.sh: make bench-promote. Builds the perf kernels (patched and
# vanilla) and measures, in one invocation, what turning 256 MiB of densely
# used memory (511 of 512 pages per 2 MiB) into huge pages costs:
#   reserve-t256   patched, reservations: MADV_COLLAPSE promotes in place
#   vanilla-never  stock, faulted under enabled=never: MADV_COLLAPSE copies
#   vanilla-always stock, huge pages at first touch: no collapse needed
# and random-access (GUPS-style) throughput afterwards. Writes raw outputs,
# summary.csv and summary.md to benchmarks/results/promote-<kernel>-<date>/.
# RUNS (default 5) runs per policy; SIZE_MIB (default 256); GUPS_SECONDS
# (default 10) of random access after each collapse.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

runs=${RUNS:-5}
size=${SIZE_MIB:-256}
gups=${GUPS_SECONDS:-10}
. "$TOP/benchmarks/lib.sh"
bench_begin promote "$runs, size: $size MiB, random access: $gups s, guest: QEMU TCG (times are comparable only as ratios)"
gcc -O2 -Wall -pthread -o "$BUILD/tools/promote_bench" "$TOP/benchmarks/promote_bench.c"
for k in vanilla patched; do
	step_begin "promotion benchmark on the $k perf kernel"
	KERNEL=$k FLAVOUR=perf VM_TIMEOUT=3600 "$TOP/scripts/vm.sh" \
		"$TOP/benchmarks/promote-guest.sh $k $raw $runs $size $gups"
	step_end "promotion benchmark on the $k perf kernel"
done
bench_end promote "$TOP/benchmarks/promote-summary.sh"
