#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# bench.sh: make bench. Builds the perf kernels (patched and vanilla) and
# runs every scenario of benchmarks/README.md for the four stock policies
# (vanilla-never, -madvise, -always, -always-underused409) and the four
# reservation policies (reserve-t1, -t64, -t256, -t512) in one invocation:
# one fresh boot per policy and run, RUNS runs of each. Writes raw
# outputs, summary.csv, summary.md and PNG plots to
# benchmarks/results/<kernel>-<date>/ and points benchmarks/results/latest
# at it.
#
# QUICK=1: one run, smaller sizes and shorter limits (about 10 minutes
# once the kernels are built). RUNS (default 3; QUICK: 1), VM_MEM (default
# 2048), SCENARIOS and POLICIES (space-separated subsets) narrow it down;
# make run uses QUICK=1 SCENARIOS="fork tohuge gups" POLICIES="reserve-t256
# vanilla-always vanilla-never".
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
. "$TOP/benchmarks/lib.sh"

quick=${QUICK:-0}
runs=${RUNS:-$([ "$quick" = 1 ] && echo 1 || echo 3)}
mem=${VM_MEM:-2048}
EXTRA_PKGS="redis-server redis-tools gnuplot-nox" "$TOP/scripts/setup.sh"
bench_begin "" "$runs, quick: $quick, guest: $mem MiB, 3 vCPUs in 2 NUMA nodes; QEMU TCG (times are comparable only as ratios within one run; memory figures are exact)"
for t in thp_bench fork_bench; do
	gcc -O2 -Wall -o "$BUILD/tools/$t" "$TOP/benchmarks/$t.c"
done
gcc -O2 -Wall -pthread -o "$BUILD/tools/promote_bench" "$TOP/benchmarks/promote_bench.c"
all="vanilla-never vanilla-madvise vanilla-always vanilla-always-underused409 reserve-t1 reserve-t64 reserve-t256 reserve-t512"
policies=
for p in $all; do
	case " ${POLICIES:-$all} " in *" $p "*) policies="$policies $p" ;; esac
done
read -r -a plist <<<"$policies"
# One fresh boot per policy and run: a policy measured after others in the
# same boot finds free memory fragmented by them (see fork-guest.sh).
t0=$(date +%s)
steps=$((runs * ${#plist[@]})) step=0
for i in $(seq "$runs"); do
	for p in "${plist[@]}"; do
		case $p in vanilla-*) k=vanilla ;; *) k=patched ;; esac
		el=$(( $(date +%s) - t0 ))
		left=n/a
		[ "$step" -gt 0 ] && left="~$((el * (steps - step) / step))s"
		step=$((step + 1))
		step_begin "[$step/$steps] $p run $i/$runs on the $k perf kernel (elapsed ${el}s, left $left)"
		KERNEL=$k FLAVOUR=perf VM_MEM=$mem VM_TIMEOUT=7200 "$TOP/scripts/vm.sh" \
			"SCENARIOS='${SCENARIOS:-}' $TOP/benchmarks/bench-guest.sh $p $raw $i $quick"
		step_end "[$step/$steps] $p run $i/$runs on the $k perf kernel (elapsed ${el}s, left $left)"
	done
done
cp -r "$raw" "$res/raw"
"$TOP/benchmarks/bench-summary.sh" "$res" | tee "$res/summary.md"
ln -sfn "$(basename "$res")" "$(dirname "$res")/latest"
echo "make bench: $(( $(date +%s) - t0 ))s, results in $res"
