#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# fork-guest.sh POLICY OUTDIR RUN REGION_MIB MAX_CHILDREN SECONDS CG_MIB:
# runs in the guest for benchmarks/fork.sh, once per policy and run in a
# fresh boot: a policy run after others in the same boot finds free memory
# fragmented by them (enabled=always then gets fewer huge pages and about
# twice the children), whatever compaction does. Swap is off, so running out of
# memory ends in the OOM killer, not in swapping. Each policy runs
# fork_bench with the sparse and the randk pattern, system-wide and inside
# a cgroup limited to CG_MIB; each run's output goes to
# OUTDIR/fork-PATTERN[-memcg].POLICY.RUN.txt.
set -eu
. "$(dirname "$0")/guest-lib.sh"
p=$1 out=$2 i=$3 region=$4 max=$5 secs=$6 cgmib=$7
bench=$(dirname "$0")/../build/tools/fork_bench
cg=/sys/fs/cgroup/forkbench
mkdir -p "$out"
swapoff -a 2>/dev/null || true
# khugepaged would only add noise: the children never fill a range.
echo 600000 >"$thp/khugepaged/scan_sleep_millisecs"
memcg_on
policy "$p"
for pat in sparse randk; do
	for where in global memcg; do
		name=fork-$pat
		arg=
		if [ "$where" = memcg ]; then
			name=fork-$pat-memcg
			rmdir "$cg" 2>/dev/null || true
			mkdir "$cg"
			echo "${cgmib}M" >"$cg/memory.max"
			echo 0 >"$cg/memory.swap.max" 2>/dev/null || true
			arg=$cg
		fi
		sync
		echo 3 >/proc/sys/vm/drop_caches
		echo 1 >/proc/sys/vm/compact_memory
		echo "== $name $p run $i"
		"$bench" "$region" "$pat" "$max" "$secs" $arg >"$out/$name.$p.$i.txt"
		sed -n 's/^\(children\|end\|seconds\|thp_res_reclaim_delta\|oom_kill_delta\)=/   \1=/p' \
			"$out/$name.$p.$i.txt" | tr '\n' ' '
		echo
		[ "$where" = memcg ] && rmdir "$cg" 2>/dev/null || true
	done
done
