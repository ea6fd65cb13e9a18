#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# fork.sh: make bench-fork. Builds the perf kernels (patched and vanilla)
# and runs, in one invocation, the fork-until-failure benchmark on a guest
# of VM_MEM MiB (default 1024) without swap: children each map REGION_MIB
# (default 64) and write one page (sparse) or 1-32 random pages (randk) per
# 2 MiB, until one fails; the same inside a cgroup with memory.max CG_MIB
# (default 256). Policies: vanilla never, madvise, always, always with
# shrink_underused at max_ptes_none=409; reservations at promotion_threshold
# 1, 64, 256 and 512. Writes raw outputs, summary.csv and summary.md to
# benchmarks/results/fork-<kernel>-<date>/. RUNS (default 1), MAX_CHILDREN
# (default 5000), SECONDS_MAX (default 150) per run.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

runs=${RUNS:-1}
region=${REGION_MIB:-64}
max=${MAX_CHILDREN:-5000}
secs=${SECONDS_MAX:-150}
cgmib=${CG_MIB:-256}
mem=${VM_MEM:-1024}
"$TOP/scripts/setup.sh"
"$TOP/scripts/build.sh" patched perf
"$TOP/scripts/build.sh" vanilla perf
mkdir -p "$BUILD/tools"
gcc -O2 -Wall -o "$BUILD/tools/fork_bench" "$TOP/benchmarks/fork_bench.c"
release=$(cat "$(obj_dir patched perf)/kernelrelease")
name=fork-${release%-patched-perf}-$(date +%Y%m%d-%H%M%S)
res=$TOP/benchmarks/results/$name
# The guest sees the repository read-only: it writes under build/.
raw=$BUILD/bench/$name/raw
mkdir -p "$res" "$raw"
{
	echo "patched: $release"
	echo "vanilla: $(cat "$(obj_dir vanilla perf)/kernelrelease")"
	echo "source: Debian $KSRC_PKG $(cat "$SRC/debian-version")"
	echo "date: $(date -u +%FT%TZ)"
	echo "runs: $runs, guest: $mem MiB, no swap, region: $region MiB per child, memcg: memory.max $cgmib MiB, limits: $max children, $secs s; QEMU TCG"
} >"$res/kernel-version"
for k in vanilla patched; do
	step_begin "fork-until-failure on the $k perf kernel"
	KERNEL=$k FLAVOUR=perf VM_MEM=$mem VM_TIMEOUT=5400 "$TOP/scripts/vm.sh" \
		"$TOP/benchmarks/fork-guest.sh $k $raw $runs $region $max $secs $cgmib"
	step_end "fork-until-failure on the $k perf kernel"
done
cp -r "$raw" "$res/raw"
"$TOP/benchmarks/fork-summary.sh" "$res" | tee "$res/summary.md"
ln -sfn "$(basename "$res")" "$TOP/benchmarks/results/fork-latest"
