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
# benchmarks/results/fork-<kernel>-<date>/. RUNS (default 3), MAX_CHILDREN
# (default 5000), SECONDS_MAX (default 150) per run.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

runs=${RUNS:-3}
region=${REGION_MIB:-64}
max=${MAX_CHILDREN:-5000}
secs=${SECONDS_MAX:-150}
cgmib=${CG_MIB:-256}
mem=${VM_MEM:-1024}
. "$TOP/benchmarks/lib.sh"
bench_begin fork "$runs, guest: $mem MiB, no swap, region: $region MiB per child, memcg: memory.max $cgmib MiB, limits: $max children, $secs s; QEMU TCG (times are comparable only as ratios)"
gcc -O2 -Wall -o "$BUILD/tools/fork_bench" "$TOP/benchmarks/fork_bench.c"
policies=$BENCH_DEFAULT_POLICIES
# One fresh boot per policy and run: see fork-guest.sh.
for i in $(seq "$runs"); do
	for p in $policies; do
		case $p in vanilla-*) k=vanilla ;; *) k=patched ;; esac
		step_begin "fork-until-failure, $p, run $i/$runs ($k perf kernel)"
		KERNEL=$k FLAVOUR=perf VM_MEM=$mem VM_TIMEOUT=1800 "$TOP/scripts/vm.sh" \
			"$TOP/benchmarks/fork-guest.sh $p $raw $i $region $max $secs $cgmib"
		step_end "fork-until-failure, $p, run $i/$runs ($k perf kernel)"
	done
done
bench_end fork "$TOP/benchmarks/fork-summary.sh"
