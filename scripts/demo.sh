#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# demo.sh: runs in the guest for make run. Shows the THP knobs, then what a
# sparse, a 300-of-512 and a dense workload get from the kernel under stock
# THP (enabled=always with promotion_threshold=1), with reservations
# (enabled=always, the default threshold) and without THP (enabled=never),
# as one table, and that every reserved page comes back when the workloads
# exit. With reservations the 300-page and the dense ranges, written in
# order from their first page, are promoted in place by their 16th fault
# (promotion_early), the sparse ones never; each workload reports again
# after khugepaged had time to promote (it has nothing left to do). Every
# counter of every run goes to DEMO_LOG (default build/log/run-demo.log).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
touch_bin=$top/build/tools/thp_touch
thp=/sys/kernel/mm/transparent_hugepage
size=${DEMO_MIB:-256}
log=${DEMO_LOG:-$top/build/log/run-demo.log}
mkdir -p "$(dirname "$log")"
: >"$log"
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
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
# row POLICY PATTERN OUTPUT: one line of the table from the last report
# in OUTPUT, a thp_touch output (its "kv" lines): Rss, AnonHugePages, the
# pages left reserved (nr_thp_reserved, pages, shown in kB), the
# promotions (thp_res_promote) and the MemFree the system lost, in kB.
row() {
	awk -v pol="$1" -v pat="$2" '
	$1 == "kv" {
		delete v
		for (i = 2; i <= NF; i++) {
			eq = index($i, "=")
			v[substr($i, 1, eq - 1)] = substr($i, eq + 1)
		}
	}
	END {
		printf "%-8s %-28s %-8s %8d %8d %8d %6d %8d\n", pat, pol, v["when"],
			v["rss_kb"], v["anon_huge_kb"], 4 * v["nr_thp_reserved"],
			v["thp_res_promote"], -v["memfree_delta_kb"]
	}' "$3"
}
# run_policy NAME ENABLED THRESHOLD [SETTLE]: the three workloads under one
# policy; with SETTLE, each reports again after that many seconds.
run_policy() {
	local name=$1 enabled=$2 threshold=$3 settle=${4:-} pattern out
	echo "$enabled" >"$thp/enabled"
	[ -z "$threshold" ] || echo "$threshold" >"$thp/promotion_threshold"
	echo "== $name" >>"$log"
	for pattern in sparse 300 dense; do
		out=$(mktemp)
		"$touch_bin" "$size" "$pattern" $settle >"$out"
		cat "$out" >>"$log"
		row "$name" "$pattern" "$out" >>"$rows"
		rm -f "$out"
	done
}
echo
echo "== $size MiB written with 1 (sparse), 300 or 512 (dense) pages per 2 MiB"
run_policy "stock THP (threshold 1)" always "${default:+1}"
if [ -n "$default" ]; then
	# khugepaged every 100 ms instead of 10 s, so that promotions show.
	sleep_ms=$(cat "$thp/khugepaged/scan_sleep_millisecs")
	echo 100 >"$thp/khugepaged/scan_sleep_millisecs"
	run_policy "reservations (threshold $default)" always "$default" "${DEMO_SETTLE:-15}"
	echo "$sleep_ms" >"$thp/khugepaged/scan_sleep_millisecs"
fi
run_policy "no THP (never)" never ""
echo always >"$thp/enabled"
[ -z "$default" ] || echo "$default" >"$thp/promotion_threshold"
printf '%-8s %-28s %-8s %8s %8s %8s %6s %8s\n' pattern policy report \
	"Rss kB" "huge kB" "rsvd kB" promos "lost kB"
cat "$rows"
echo
echo "Rss is what the workload pays for; huge kB is its AnonHugePages; lost"
echo "kB is the MemFree the system lost while it ran. With reservations the"
echo "sparse workload pays for one 4 kB page per 2 MiB instead of 2 MiB, and"
echo "the rest of each block stays reserved for it (rsvd kB, nr_thp_reserved;"
echo "counted in MemAvailable). Ranges with promotion_threshold pages in use,"
echo "or filled in order from their first page (promotion_early pages), are"
echo "promoted in place by the fault that gets them there (promos,"
echo "thp_res_promote): the same blocks become huge pages, with no new"
echo "allocation and no copy. \"settled\" is 15 s later, with khugepaged"
echo "scanning every 100 ms."
echo
echo 1 >/proc/sys/vm/stat_refresh 2>/dev/null || true
{
	echo "== after the workloads exited"
	grep -E '^(nr_thp_reserved|thp_res_|thp_fault_alloc|thp_collapse_alloc)' /proc/vmstat |
		awk '{ printf "  %-36s %s\n", $1, $2 }'
	for f in pages_collapsed res_pages_collapsed; do
		if [ -f "$thp/khugepaged/$f" ]; then
			printf '  %-36s %s\n' "khugepaged/$f" "$(cat "$thp/khugepaged/$f")"
		fi
	done
} >>"$log"
reserved=$(awk '$1 == "nr_thp_reserved" { print $2 }' /proc/vmstat)
if [ -n "$reserved" ]; then
	echo "After the workloads exited: nr_thp_reserved $reserved (0: every reserved"
	echo "page came back); thp_collapse_alloc $(awk '$1 == "thp_collapse_alloc" { print $2 }' /proc/vmstat)."
fi
echo "Every counter of every run: ${log#"$top"/}"
