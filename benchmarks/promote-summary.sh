#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# promote-summary.sh RESULTS_DIR: median, min and max over the runs of each
# policy in RESULTS_DIR/raw; writes RESULTS_DIR/summary.csv and prints a
# markdown table with the ratios the promotion claims rest on.
set -euo pipefail
res=$1
. "$(dirname "$0")/lib.sh"
# stat POLICY KEY: "median min max runs" of KEY over POLICY's runs.
stat() { bench_stat "$res/raw/$1.*.txt" "$2"; }
csv=$res/summary.csv
echo "scenario,policy,metric,value,unit,runs,min,max" >"$csv"
# row SCENARIO POLICY METRIC KEY UNIT
row() {
	read -r m lo hi n <<<"$(stat "$2" "$4")"
	echo "$1,$2,$3,$m,$5,$n,$lo,$hi" >>"$csv"
}
for p in reserve-t256 vanilla-never; do
	row promote-cost "$p" ms_per_2mib collapse_ms_per_2mib ms
	row promote-cost "$p" mmap_lock_reader_max_wait reader_max_wait_us us
	row promote-cost "$p" collapse_allocs thp_collapse_alloc_delta count
	row promote-cost "$p" huge_kib huge_kb KiB
done
for p in reserve-t256 vanilla-always vanilla-never; do
	row gups "$p" updates_per_s gups_updates_per_s 1/s
done
val() { bench_val "$csv" "$@"; }
ratio() { bench_ratio "$@"; }
echo "## Promotion cost and huge-page benefit ($(sed -n 's/^runs: //p' "$res/kernel-version"))"
echo
echo "| scenario | metric | reserve-t256 | vanilla-never | vanilla-always | ratio |"
echo "|---|---|---|---|---|---|"
a=$(val promote-cost reserve-t256 ms_per_2mib) b=$(val promote-cost vanilla-never ms_per_2mib)
echo "| MADV_COLLAPSE, 511/512 used | ms per 2 MiB (median) | $a (in place) | $b (copy) | - | $(ratio "$a" "$b") of copy |"
a=$(val promote-cost reserve-t256 mmap_lock_reader_max_wait) b=$(val promote-cost vanilla-never mmap_lock_reader_max_wait)
echo "| MADV_COLLAPSE | longest mmap_lock reader wait, us | $a | $b | - | $(ratio "$a" "$b") of copy |"
a=$(val promote-cost reserve-t256 collapse_allocs) b=$(val promote-cost vanilla-never collapse_allocs)
echo "| MADV_COLLAPSE | huge pages allocated | $a | $b | - | - |"
a=$(val gups reserve-t256 updates_per_s) b=$(val gups vanilla-always updates_per_s) c=$(val gups vanilla-never updates_per_s)
echo "| random access after | updates/s | $a | $c | $b | $(ratio "$a" "$b") of always, $(ratio "$a" "$c") of copy-collapsed |"
echo
echo "Raw runs: raw/; all values: summary.csv (in $(basename "$res")/)"
