#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# demo.sh: runs in the guest for make run. Shows the THP knobs, the THP
# counters, and what a sparse and a dense workload get from the kernel.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
touch_bin=$top/build/tools/thp_touch
thp=/sys/kernel/mm/transparent_hugepage
echo "kernel: $(uname -r)"
echo
echo "== THP knobs ($thp)"
for f in enabled defrag use_zero_page shrink_underused promotion_threshold \
	khugepaged/max_ptes_none khugepaged/scan_sleep_millisecs; do
	[ -f "$thp/$f" ] && printf '  %-32s %s\n' "$f" "$(cat "$thp/$f")"
done
[ -f "$thp/promotion_threshold" ] || echo "  (promotion_threshold: not in this kernel: no reservations yet)"
for policy in always never; do
	echo always >"$thp/enabled"
	echo "$policy" >"$thp/enabled"
	echo
	echo "== enabled=$policy: sparse workload (256 MiB, one page written per 2 MiB)"
	"$touch_bin" 256 sparse
	echo "== enabled=$policy: dense workload (256 MiB, every page written)"
	"$touch_bin" 256 dense
done
echo always >"$thp/enabled"
echo
echo "== /proc/vmstat THP counters after the workloads (non-zero)"
grep -E '^(thp_|nr_anon_transparent|nr_thp)' /proc/vmstat | awk '$2 != 0 { printf "  %-36s %s\n", $1, $2 }'
