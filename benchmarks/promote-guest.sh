#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# promote-guest.sh KERNEL OUTDIR RUNS SIZE_MIB GUPS_SECONDS: runs in the
# guest for benchmarks/promote.sh. For the patched kernel: promotion in
# place (reservations, threshold 256) by MADV_COLLAPSE. For the vanilla
# kernel: the copy collapse of the same memory faulted under enabled=never,
# and stock enabled=always (huge pages at first touch, no collapse) as the
# random-access baseline; the two alternate run by run. Each run's output
# goes to OUTDIR/POLICY.N.txt.
set -eu
kernel=$1 out=$2 runs=$3 size=$4 gups=$5
bench=$(dirname "$0")/../build/tools/promote_bench
thp=/sys/kernel/mm/transparent_hugepage
mkdir -p "$out"
# khugepaged must not promote or collapse behind the measured MADV_COLLAPSE.
echo 600000 >"$thp/khugepaged/scan_sleep_millisecs"
# run POLICY ENABLED THRESHOLD MODE N
run() {
	echo "$2" >"$thp/enabled"
	[ -z "$3" ] || echo "$3" >"$thp/promotion_threshold"
	echo "== $1 run $5/$runs"
	"$bench" "$size" "$4" "$gups" >"$out/$1.$5.txt"
	sed 's/^/   /' "$out/$1.$5.txt"
}
i=1
while [ "$i" -le "$runs" ]; do
	case $kernel in
	patched)
		run reserve-t256 always 256 collapse "$i" ;;
	vanilla)
		run vanilla-never never "" collapse "$i"
		run vanilla-always always "" nocollapse "$i" ;;
	esac
	i=$((i + 1))
done
[ "$kernel" = patched ] && echo 256 >"$thp/promotion_threshold"
echo always >"$thp/enabled"
