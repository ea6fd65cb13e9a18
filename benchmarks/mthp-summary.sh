#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# mthp-summary.sh RESULTS_DIR: median, min and max over the runs of each
# policy in RESULTS_DIR/raw; writes RESULTS_DIR/summary.csv and prints a
# markdown table with ratios to vanilla-mthp64.
set -euo pipefail
res=$1
. "$(dirname "$0")/lib.sh"
csv=$res/summary.csv
policies="reserve-t256-mthp64 reserve-t256 vanilla-mthp64 vanilla-never"
metrics="rss_kib:KiB mthp64_folios:count thp_res_mthp_promote:count touch_ms:ms break_ms:ms updates_per_s:1/s"
echo "scenario,policy,metric,value,unit,runs,min,max" >"$csv"
for p in $policies; do
	for mu in $metrics; do
		read -r m lo hi n <<<"$(bench_stat "$res/raw/$p.*.txt" "${mu%%:*}")"
		echo "mthp-halfdense,$p,${mu%%:*},$m,${mu#*:},$n,$lo,$hi" >>"$csv"
	done
done
echo "## Half-dense pattern after the break ($(sed -n 's/^runs: //p' "$res/kernel-version"))"
echo
echo "Medians (min-max); ratio: reserve-t256-mthp64 / vanilla-mthp64."
echo
echo "| metric | $(echo "$policies" | sed 's/ / | /g') | ratio |"
echo "|---|---|---|---|---|---|"
for mu in $metrics; do
	k=${mu%%:*}
	line="| $k (${mu#*:})"
	for p in $policies; do
		line="$line | $(bench_val "$csv" mthp-halfdense "$p" "$k") ($(awk -F, -v p="$p" -v k="$k" '$2 == p && $3 == k { print $7 "-" $8 }' "$csv"))"
	done
	echo "$line | $(bench_ratio "$(bench_val "$csv" mthp-halfdense reserve-t256-mthp64 "$k")" "$(bench_val "$csv" mthp-halfdense vanilla-mthp64 "$k")") |"
done
echo
echo "Raw runs: raw/; all values: summary.csv"
