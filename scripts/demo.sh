#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# demo.sh: runs in the guest for make run. Shows the THP knobs, then what a
# sparse, a 300-of-512 and a dense workload get from the kernel under stock
# THP (enabled=always with promotion_threshold=1), with reservations
# (enabled=always, the default threshold) and without THP (enabled=never),
# and that every reserved page comes back when the workloads exit. With
# reservations the 300-page and the dense ranges, written in order from
# their first page, are promoted in place by their 16th fault
# (promotion_early), the sparse ones never; each workload reports again
# after khugepaged had time to promote (it has nothing left to do).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
touch_bin=$top/build/tools/thp_touch
thp=/sys/kernel/mm/transparent_hugepage
size=${DEMO_MIB:-256}
echo "kernel: $(uname -r)"
echo
echo "== THP knobs ($thp)"
for f in enabled defrag use_zero_page shrink_underused promotion_threshold \
	promotion_early khugepaged/max_ptes_none khugepaged/scan_sleep_millisecs; do
	[ -f "$thp/$f" ] && printf '  %-32s %s\n' "$f" "$(cat "$thp/$f")"
done
if [ -f "$thp/promotion_threshold" ]; then
	default=$(cat "$thp/promotion_threshold")
else
	default=
	echo "  (promotion_threshold: not in this kernel: no reservations)"
fi
# run_policy NAME ENABLED THRESHOLD [SETTLE]: the three workloads under one
# policy; with SETTLE, each reports again after that many seconds.
run_policy() {
	local name=$1 enabled=$2 threshold=$3 settle=${4:-} pattern
	echo "$enabled" >"$thp/enabled"
	[ -z "$threshold" ] || echo "$threshold" >"$thp/promotion_threshold"
	echo
	echo "== $name"
	for pattern in sparse 300 dense; do
		"$touch_bin" "$size" "$pattern" $settle
	done
}
run_policy "stock THP: enabled=always, promotion_threshold=1" always "${default:+1}"
if [ -n "$default" ]; then
	# khugepaged every 100 ms instead of 10 s, so that promotions show.
	sleep_ms=$(cat "$thp/khugepaged/scan_sleep_millisecs")
	echo 100 >"$thp/khugepaged/scan_sleep_millisecs"
	run_policy "reservations: enabled=always, promotion_threshold=$default" \
		always "$default" "${DEMO_SETTLE:-15}"
	echo "$sleep_ms" >"$thp/khugepaged/scan_sleep_millisecs"
fi
run_policy "no THP: enabled=never" never ""
echo always >"$thp/enabled"
[ -z "$default" ] || echo "$default" >"$thp/promotion_threshold"
echo
echo "Rss is what the workload pays for; MemFree is what the system lost while"
echo "it ran. With reservations the sparse workload pays for one 4 kB page per"
echo "2 MiB instead of 2 MiB, while the whole block stays reserved for it"
echo "(nr_thp_reserved) and counts as available in MemAvailable. Ranges with"
echo "at least promotion_threshold pages in use, or filled in order from their"
echo "first page (promotion_early pages), are promoted in place by the fault"
echo "that gets them there (thp_res_promote, thp_res_promote_early): the same"
echo "blocks become huge pages, with no new allocation (thp_collapse_alloc"
echo "stays 0) and no copy."
echo
echo "== after the workloads exited"
echo 1 >/proc/sys/vm/stat_refresh 2>/dev/null || true
grep -E '^(nr_thp_reserved|thp_res_|thp_fault_alloc|thp_collapse_alloc)' /proc/vmstat |
	awk '{ printf "  %-36s %s\n", $1, $2 }'
for f in pages_collapsed res_pages_collapsed; do
	if [ -f "$thp/khugepaged/$f" ]; then
		printf '  %-36s %s\n' "khugepaged/$f" "$(cat "$thp/khugepaged/$f")"
	fi
done
