#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# promote-guest.sh KERNEL OUTDIR RUNS SIZE_MIB: runs in the guest for
# benchmarks/promote.sh. For the patched kernel: promotion in place
# (reservations, threshold 256) by MADV_COLLAPSE. For the vanilla kernel:
# the copy collapse of the same memory faulted under enabled=never, and
# stock enabled=always (huge pages at first touch, no collapse) as the
# random-access baseline. Each run's output goes to OUTDIR/POLICY.N.txt.
set -eu
kernel=$1 out=$2 runs=$3 size=$4
bench=$(dirname "$0")/../build/tools/promote_bench
thp=/sys/kernel/mm/transparent_hugepage
mkdir -p "$out"
# khugepaged must not promote or collapse behind the measured MADV_COLLAPSE.
echo 600000 >"$thp/khugepaged/scan_sleep_millisecs"
# run POLICY ENABLED THRESHOLD MODE
run() {
	echo "$2" >"$thp/enabled"
	[ -z "$3" ] || echo "$3" >"$thp/promotion_threshold"
	i=1
	while [ "$i" -le "$runs" ]; do
		echo "== $1 run $i/$runs"
		"$bench" "$size" "$4" 5 >"$out/$1.$i.txt"
		sed 's/^/   /' "$out/$1.$i.txt"
		i=$((i + 1))
	done
}
case $kernel in
patched)
	run reserve-t256 always 256 collapse
	echo 256 >"$thp/promotion_threshold" ;;
vanilla)
	run vanilla-never never "" collapse
	run vanilla-always always "" nocollapse ;;
esac
echo always >"$thp/enabled"
