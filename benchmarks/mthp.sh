#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# mthp.sh: make bench-mthp. Builds the perf kernels (patched and vanilla)
# and measures, in one invocation, the half-dense pattern of mthp_bench.c
# (SIZE_MIB, default 256; 152 of 512 pages per 2 MiB used, every fourth
# 64 KiB chunk whole) after drop_caches broke the reservations: memory in
# use and random-access throughput (GUPS_SECONDS, default 10) for
#   reserve-t256-mthp64  reservations, 64 KiB mTHP enabled: the fallback
#                        keeps the dense chunks as mTHPs
#   reserve-t256         reservations only (PMD): the break leaves base pages
#   vanilla-mthp64       stock, 64 KiB mTHP at the fault, no PMD THP
#   vanilla-never        stock, base pages only
# One fresh boot per policy and run, RUNS (default 3) runs. Writes raw
# outputs, summary.csv and summary.md to
# benchmarks/results/mthp-<kernel>-<date>/.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

runs=${RUNS:-3}
size=${SIZE_MIB:-256}
secs=${GUPS_SECONDS:-10}
. "$TOP/benchmarks/lib.sh"
bench_begin mthp "$runs, size: $size MiB, random access: $secs s; QEMU TCG (times are comparable only as ratios; x86 has no contiguous-PTE TLB entries, so mTHPs do not speed up access here)"
gcc -O2 -Wall -o "$BUILD/tools/mthp_bench" "$TOP/benchmarks/mthp_bench.c"
policies="reserve-t256-mthp64 reserve-t256 vanilla-mthp64 vanilla-never"
for i in $(seq "$runs"); do
	for p in $policies; do
		case $p in vanilla-*) k=vanilla ;; *) k=patched ;; esac
		step_begin "half-dense pattern, $p, run $i/$runs ($k perf kernel)"
		KERNEL=$k FLAVOUR=perf VM_TIMEOUT=1800 "$TOP/scripts/vm.sh" \
			"$TOP/benchmarks/mthp-guest.sh $p $raw $i $size $secs"
		step_end "half-dense pattern, $p, run $i/$runs ($k perf kernel)"
	done
done
bench_end mthp "$TOP/benchmarks/mthp-summary.sh"
