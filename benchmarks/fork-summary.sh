#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# fork-summary.sh RESULTS_DIR: median, min and max of the children counted
# by each policy in RESULTS_DIR/raw; writes RESULTS_DIR/summary.csv and
# prints a markdown table with the ratios to vanilla-always and
# vanilla-never.
set -euo pipefail
res=$1
. "$(dirname "$0")/lib.sh"
policies=$BENCH_DEFAULT_POLICIES
scenarios="fork-sparse fork-randk fork-sparse-memcg fork-randk-memcg"
# stat SCENARIO POLICY KEY: "median min max runs" over the runs.
stat() { bench_stat "$res/raw/$1.$2.*.txt" "$3"; }
csv=$res/summary.csv
echo "scenario,policy,metric,value,unit,runs,min,max" >"$csv"
for s in $scenarios; do
	for p in $policies; do
		for m in children:children:count thp_res_reclaim_delta:reclaimed_pages:pages \
			 oom_kill_delta:oom_kills:count seconds:seconds:s; do
			IFS=: read -r key metric unit <<<"$m"
			read -r med lo hi n <<<"$(stat "$s" "$p" "$key")"
			[ "$n" = 0 ] && continue
			echo "$s,$p,$metric,$med,$unit,$n,$lo,$hi" >>"$csv"
		done
	done
done
val() { bench_val "$csv" "$@"; }
ratio() { bench_ratio "$@"; }
echo "## Fork until failure: children ($(sed -n 's/^runs: //p' "$res/kernel-version"))"
echo
printf '| policy |'
for s in $scenarios; do printf ' %s |' "$s"; done
echo
printf '|---|'
for s in $scenarios; do printf -- '---|'; done
echo
for p in $policies; do
	printf '| %s |' "$p"
	for s in $scenarios; do
		c=$(val "$s" "$p" children)
		printf ' %s (x%s always, x%s never) |' "${c:-n/a}" \
			"$(ratio "$c" "$(val "$s" vanilla-always children)")" \
			"$(ratio "$c" "$(val "$s" vanilla-never children)")"
	done
	echo
done
echo
echo "Goal (issue 5): reserve-t256 >= 7 x vanilla-always, >= 0.95 x vanilla-never, and more than vanilla-always-underused409."
echo "Raw runs: raw/; all values: summary.csv (in $(basename "$res")/)"
