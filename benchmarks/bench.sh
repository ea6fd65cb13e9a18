#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# bench.sh: make bench. Builds the perf kernels (patched, and vanilla for a
# vanilla-* policy) and runs every scenario of benchmarks/README.md under
# every policy of BENCH_DEFAULT_POLICIES (benchmarks/lib.sh) it applies to
# (applies() in guest-lib.sh), in one invocation: one fresh boot per
# scenario, policy and run, RUNS runs of each. Writes raw outputs,
# summary.csv, summary.md and PNG plots to
# benchmarks/results/<kernel>-<date>/ and points benchmarks/results/latest
# at it. make bench-fork, bench-promote and bench-mthp are this with
# SCENARIOS (and POLICIES) preset.
#
# QUICK=1: one run, smaller sizes and shorter limits. RUNS (default 3;
# QUICK: 1), VM_MEM (default 2048), SCENARIOS and POLICIES
# (space-separated subsets) narrow it down; make run uses QUICK=1 BOOT=run
# SCENARIOS="fork tohuge gups" POLICIES="reserve-t256 reserve-t1
# patched-never" (the patched kernel alone: patched-never is it with
# enabled=never). An unknown name in SCENARIOS or POLICIES is an error;
# the stock kernel is built only for a vanilla-* policy. BOOT=run: one
# boot per policy and run instead of one per scenario too (see below).
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"
. "$TOP/benchmarks/lib.sh"

quick=${QUICK:-0}
runs=${RUNS:-$([ "$quick" = 1 ] && echo 1 || echo 3)}
mem=${VM_MEM:-2048}
boot=${BOOT:-scenario}
case $boot in scenario | run) ;; *) die "BOOT must be scenario or run, not '$boot'" ;; esac
defaults=$BENCH_DEFAULT_POLICIES
all=$BENCH_ALL_POLICIES
all_scen="fork fork-system sparse dense dense-random dense-mt tohuge tohuge-default gups promote"
all_scen="$all_scen mthp redis apps stress-keep stress-nokeep stress-pagein stress-noswap"
all_scen="$all_scen stress-sparse38 stress-sparse64 stress-sparse256 khugepaged"
all_scen="$all_scen stress-keep-hp stress-keep-nohp scale"
# known LIST WORDS WHAT: fail on a word of WORDS that LIST does not have.
known() {
	local w
	for w in $2; do
		case " $1 " in *" $w "*) ;; *) die "unknown $3 '$w' (known: $1)" ;; esac
	done
}
known "$all" "${POLICIES:-}" policy
known "$all_scen" "${SCENARIOS:-}" scenario
policies= scenarios=
for p in $all; do
	case " ${POLICIES:-$defaults} " in *" $p "*) policies="$policies $p" ;; esac
done
for s in $all_scen; do
	case " ${SCENARIOS:-$all_scen} " in *" $s "*) scenarios="$scenarios $s" ;; esac
done
read -r -a plist <<<"$policies"
read -r -a slist <<<"$scenarios"
[ "${#slist[@]}" -gt 0 ] && [ "${#plist[@]}" -gt 0 ] ||
	die "no scenario or no policy given (SCENARIOS='${SCENARIOS:-}' POLICIES='${POLICIES:-}')"
EXTRA_PKGS="redis-server redis-tools memcached gnuplot-nox" "$TOP/scripts/setup.sh"
# The stock kernel is built only when a vanilla-* policy runs.
BENCH_VANILLA=0
[[ "$policies" != *vanilla-* ]] || BENCH_VANILLA=1
per="scenario, policy and run"
[ "$boot" = run ] && per="policy and run"
bench_begin "$runs, quick: $quick, one boot per $per, guest: $mem MiB, 3 vCPUs in 2 NUMA nodes; QEMU TCG (times are comparable only as ratios within one run; memory figures are exact)"
for t in thp_bench fork_bench promote_bench mthp_bench; do
	gcc -O2 -Wall -pthread -o "$BUILD/tools/$t" "$TOP/benchmarks/$t.c" -lm
done
# The redis and apps scenarios survey memory with the user tool.
gcc -O2 -Wall -o "$BUILD/tools/thp_survey" "$TOP/tools/thp_survey.c"
# The apps scenario's compiler input: mm/memory.c of the patched tree,
# preprocessed with the perf kernel's configuration, compiled in the guest
# as a user program would be (gcc -O2 -c).
if [[ " $scenarios " == *" apps "* ]]; then
	mkdir -p "$BUILD/bench"
	run_logged "$BUILD/log/bench-memory-i.log" \
		make -C "$KTREE" O="$(obj_dir patched perf)" mm/memory.i
	cp "$(obj_dir patched perf)/mm/memory.i" "$BUILD/bench/memory.i"
fi
# scen_policies SCENARIO...: the policies to boot for a group of
# scenarios, those that one of them applies to (applies() in
# guest-lib.sh: the guest skips the others).
. "$TOP/benchmarks/guest-lib.sh"
scen_policies() {
	local p s
	for p in "${plist[@]}"; do
		for s in "$@"; do
			if applies "$s" "$p"; then
				echo "$p"
				break
			fi
		done
	done
}
# One fresh boot per scenario, policy and run, the policies interleaved
# within each run: a scenario run after others in the same boot finds free
# memory fragmented by them (an earlier fork scenario cost the dense ones
# a third of their PMD coverage), and the emulator drifts over an hour.
# BOOT=run boots once per policy and run for all its scenarios instead
# (faster; for scenarios that free all they map). The scaling scenario
# needs 4096 x 2 MiB of blocks and fork-system a small guest: each has a
# guest of its own.
# groups: one line per boot of a run, the scenarios it runs.
groups() {
	local s own rest=
	for s in "${slist[@]}"; do
		case $s in
		scale | fork-system) own=1 ;;
		*) own=0 ;;
		esac
		if [ "$boot" = scenario ] || [ "$own" = 1 ]; then
			echo "$s"
		else
			rest="$rest${rest:+ }$s"
		fi
	done
	[ -z "$rest" ] || echo "$rest"
}
t0=$(date +%s)
steps=0
while read -r g; do
	steps=$((steps + runs * $(scen_policies $g | wc -l)))
done < <(groups)
step=0
for i in $(seq "$runs"); do
	while read -r g; do
		for p in $(scen_policies $g); do
			case $p in vanilla-*) k=vanilla ;; *) k=patched ;; esac
			m=$mem
			[ "$g" = scale ] && [ "$m" -lt 10240 ] && [ "$quick" != 1 ] && m=10240
			# Fork until failure system-wide: a 1 GiB guest, so that it
			# ends within minutes.
			[ "$g" = fork-system ] && m=1024
			el=$(( $(date +%s) - t0 ))
			left=n/a
			[ "$step" -gt 0 ] && left="~$((el * (steps - step) / step))s"
			step=$((step + 1))
			what="[$step/$steps] $g, $p, run $i/$runs on the $k perf kernel (elapsed ${el}s, left $left)"
			step_begin "$what"
			KERNEL=$k FLAVOUR=perf VM_MEM=$m VM_TIMEOUT=7200 "$TOP/scripts/vm.sh" \
				"SCENARIOS='$g' $TOP/benchmarks/bench-guest.sh $p $raw $i $quick" </dev/null
			step_end "$what"
		done
	done < <(groups)
done
cp -r "$raw" "$res/raw"
"$TOP/benchmarks/bench-summary.sh" "$res" | tee "$res/summary.md"
ln -sfn "$(basename "$res")" "$(dirname "$res")/latest"
echo "make bench: $(( $(date +%s) - t0 ))s, results in $res"
