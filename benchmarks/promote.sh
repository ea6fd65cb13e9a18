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
"$TOP/scripts/setup.sh"
"$TOP/scripts/build.sh" patched perf
"$TOP/scripts/build.sh" vanilla perf
mkdir -p "$BUILD/tools"
gcc -O2 -Wall -pthread -o "$BUILD/tools/promote_bench" "$TOP/benchmarks/promote_bench.c"
release=$(cat "$(obj_dir patched perf)/kernelrelease")
name=promote-${release%-patched-perf}-$(date +%Y%m%d-%H%M%S)
res=$TOP/benchmarks/results/$name
# The guest sees the repository read-only: it writes under build/.
raw=$BUILD/bench/$name/raw
mkdir -p "$res" "$raw"
{
	echo "patched: $release"
	echo "vanilla: $(cat "$(obj_dir vanilla perf)/kernelrelease")"
	echo "source: Debian $KSRC_PKG $(cat "$SRC/debian-version")"
	echo "date: $(date -u +%FT%TZ)"
	echo "runs: $runs, size: $size MiB, random access: $gups s, guest: QEMU TCG (times are comparable only as ratios)"
} >"$res/kernel-version"
for k in vanilla patched; do
	step_begin "promotion benchmark on the $k perf kernel"
	KERNEL=$k FLAVOUR=perf VM_TIMEOUT=3600 "$TOP/scripts/vm.sh" \
		"$TOP/benchmarks/promote-guest.sh $k $raw $runs $size $gups"
	step_end "promotion benchmark on the $k perf kernel"
done
cp -r "$raw" "$res/raw"
"$TOP/benchmarks/promote-summary.sh" "$res" | tee "$res/summary.md"
ln -sfn "$(basename "$res")" "$TOP/benchmarks/results/promote-latest"
