#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# bench-summary.sh RESULTS_DIR: reads RESULTS_DIR/raw (written by
# bench-guest.sh), writes RESULTS_DIR/summary.csv (median, min and max over
# the runs), prints a markdown table with each policy's value and the
# ratios of reserve-t256 to vanilla-always and vanilla-never, and draws
# RESULTS_DIR/memory.png, fault-cost.png, time-to-huge.png and scaling.png
# with gnuplot, and the per-run ratios of the key pairs beside their A/A
# bands.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
res=$1
all=$BENCH_ALL_POLICIES
# The policies that ran (make run runs three of them).
policies=
for p in $all; do
	ls "$res/raw/"*".$p".*.txt >/dev/null 2>&1 && policies="$policies $p"
done
# The references "always" and "never": the stock kernel's policies when
# they ran, else the patched kernel with reservations off (reserve-t1) and
# with THP off (patched-never): make run boots no stock kernel, and the
# @t1 parity runs of make check show that reserve-t1 is the stock kernel.
ref_always=vanilla-always ref_never=vanilla-never
[[ " $policies " == *" vanilla-always "* ]] || ref_always=reserve-t1
[[ " $policies " == *" vanilla-never "* ]] || ref_never=patched-never
# Rows: SCENARIO METRIC RAW_FILE_PREFIX KEY UNIT (see benchmarks/README.md).
rows="fork-sparse children fork-sparse children count
fork-randk children fork-randk children count
sparse-touch us_per_fault sparse us_per_touch us
sparse-touch rss_kib sparse rss_kib KiB
sparse-touch minor_faults_per_2mib sparse minor_faults_per_2mib count
dense-touch total_ms dense total_ms ms
dense-touch rss_kib dense rss_kib KiB
dense-touch huge_kib_at_end dense huge_kib KiB
dense-touch minor_faults_per_2mib dense minor_faults_per_2mib count
dense-touch promotions_per_2mib dense thp_res_promote_per_2mib count
dense-touch early_promotions_per_2mib dense thp_res_promote_early_per_2mib count
dense-touch mmap_write_holds dense-locks mmap_write_holds count
dense-touch mmap_write_hold_max_us dense-locks mmap_write_hold_max_us us
dense-random total_ms dense-random total_ms ms
dense-random huge_kib_at_end dense-random huge_kib KiB
dense-random minor_faults_per_2mib dense-random minor_faults_per_2mib count
dense-random promotions_per_2mib dense-random thp_res_promote_per_2mib count
dense-random mmap_write_holds dense-random-locks mmap_write_holds count
dense-random mmap_write_hold_max_us dense-random-locks mmap_write_hold_max_us us
dense-mt-3 total_ms dense-mt total_ms ms
dense-mt-3 huge_kib_at_end dense-mt huge_kib KiB
dense-mt-3 minor_faults_per_2mib dense-mt minor_faults_per_2mib count
dense-mt-3 promotions_per_2mib dense-mt thp_res_promote_per_2mib count
dense-mt-3 mmap_write_holds dense-mt-locks mmap_write_holds count
dense-mt-3 mmap_write_hold_max_us dense-mt-locks mmap_write_hold_max_us us
time-to-huge seconds_to_huge tohuge seconds_to_huge s
time-to-huge huge_kib tohuge huge_kib KiB
gups updates_per_s gups updates_per_s 1/s
gups huge_kib gups huge_kib KiB
scale us_per_populate_16 scale us_per_populate_16 us
scale us_per_populate_64 scale us_per_populate_64 us
scale us_per_populate_256 scale us_per_populate_256 us
scale us_per_populate_1024 scale us_per_populate_1024 us
scale us_per_populate_4096 scale us_per_populate_4096 us
promote-cost ms_per_2mib promote collapse_ms_per_2mib ms
promote-cost mmap_lock_reader_max_wait promote reader_max_wait_us us
redis thp_enabled redis thp_enabled flag
redis anon_huge_kib_after_fill redis anon_huge_kib_fill KiB
redis rss_kib_after_fill redis rss_kib_fill KiB
redis used_memory_kib_after_fill redis used_memory_kib_fill KiB
redis survey_always_extra_kib redis survey_always_extra_kib KiB
redis survey_t256_saved_kib redis survey_t256_saved_kib KiB
redis ops_per_s_pipeline_1 redis ops_per_s_p1 1/s
redis p50_ms_pipeline_1 redis p50_ms_p1 ms
redis p99_ms_pipeline_1 redis p99_ms_p1 ms
redis ops_per_s_pipeline_16 redis ops_per_s_p16 1/s
redis p99_ms_pipeline_16 redis p99_ms_p16 ms
redis rss_kib_after_load redis rss_kib_load KiB
redis anon_huge_kib_after_load redis anon_huge_kib_load KiB
redis bgsave_fork_us redis fork_us us
redis bgsave_cow_kib redis bgsave_cow_kib KiB
redis bgsave_peak_kib redis bgsave_peak_kib KiB
stress-ng vm_bogo_ops stress vm_bogo_ops count
stress-ng bigheap_bogo_ops stress bigheap_bogo_ops count
stress-ng pswpin stress pswpin pages
stress-ng oom_kills stress oom_kills count"
# The Python programs of the apps scenario share their rows but the first.
for w in memcached:ops_per_s dicts:ops_per_s sqlite:queries_per_s; do
	a=apps-${w%%:*}
	rows="$rows
$a ${w#*:} $a ${w#*:} 1/s"
	for m in phase_ms:phase_ms:ms anon_kib_at_rest:anon_kib:KiB \
		anon_thp_kib_at_rest:anon_thp_kib:KiB survey_always_extra_kib:survey_always_extra_kib:KiB \
		survey_t256_saved_kib:survey_t256_saved_kib:KiB peak_kib:peak_kib:KiB; do
		IFS=: read -r metric key unit <<<"$m"
		rows="$rows
$a $metric $a $key $unit"
	done
done
rows="$rows
apps-gcc phase_ms apps-gcc phase_ms ms
apps-gcc anon_thp_kib_max apps-gcc anon_thp_kib_max KiB
apps-gcc peak_kib apps-gcc peak_kib KiB"
csv=$res/summary.csv
echo "scenario,policy,metric,value,unit,runs,min,max" >"$csv"
while read -r scen metric file key unit; do
	for p in $policies; do
		read -r m lo hi n <<<"$(bench_stat "$res/raw/$file.$p.*.txt" "$key")"
		# A scenario that did not run for a policy has no row; one that ran
		# without a value (e.g. never huge within the limit) reports n/a.
		ls "$res/raw/$file.$p".*.txt >/dev/null 2>&1 || continue
		echo "$scen,$p,$metric,$m,$unit,$n,$lo,$hi" >>"$csv"
	done
done <<<"$rows"

val() { bench_val "$csv" "$@"; }
echo "## make bench ($(sed -n 's/^runs: //p' "$res/kernel-version"))"
echo
echo "Medians; n/a: measured but no value (e.g. never fully huge within the time limit). The ratio columns take $ref_always as always and $ref_never as never."
echo
printf '| scenario | metric |'
for p in $policies; do printf ' %s |' "$p"; done
echo ' t256 / always | t256 / never |'
printf '|---|---|'
for p in $policies; do printf -- '---|'; done
echo '---|---|'
while read -r scen metric file key unit; do
	grep -q "^$scen,[^,]*,$metric," "$csv" || continue
	printf '| %s | %s (%s) |' "$scen" "$metric" "$unit"
	for p in $policies; do v=$(val "$scen" "$p" "$metric"); printf ' %s |' "${v:--}"; done
	t=$(val "$scen" reserve-t256 "$metric")
	echo " $(bench_ratio "$t" "$(val "$scen" "$ref_always" "$metric")") | $(bench_ratio "$t" "$(val "$scen" "$ref_never" "$metric")") |"
done <<<"$rows"
echo
# A workload measures THP only if it gets huge pages under always.
for w in "redis anon_huge_kib_after_fill" "apps-memcached anon_thp_kib_at_rest" \
	"apps-dicts anon_thp_kib_at_rest" "apps-sqlite anon_thp_kib_at_rest" "apps-gcc anon_thp_kib_max"; do
	read -r scen metric <<<"$w"
	v=$(val "$scen" "$ref_always" "$metric")
	[ -z "$v" ] || [ "$v" = n/a ] || awk -v v="$v" 'BEGIN { exit !(v > 0) }' ||
		echo "**Warning: $scen had no huge page under $ref_always ($metric $v): its rows do not measure THP.**"
done
echo
echo "Raw runs: raw/; all values: summary.csv (in $(basename "$res")/)"

# paired FILE KEY A B: "median min max n" of A/B over the runs where both
# policies have KEY (run i of A against run i of B: the policies of a run
# were booted one after the other).
paired() {
	local f r a b
	for f in "$res/raw/$1.$3".*.txt; do
		[ -f "$f" ] || continue
		r=${f##*.$3.}
		r=${r%.txt}
		a=$(sed -n "s/^$2=//p" "$f")
		b=$(sed -n "s/^$2=//p" "$res/raw/$1.$4.$r.txt" 2>/dev/null)
		[ -n "$a" ] && [ -n "$b" ] && [ "$a" != n/a ] && [ "$b" != n/a ] &&
			awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0) printf "%.4f\n", a / b }'
	done | sort -g | awk '{ v[NR] = $1 } END {
		if (!NR) { print "n/a n/a n/a 0"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.3f %.3f %.3f %d\n", m, v[1], v[NR], NR }'
}
pairs="dense total_ms reserve-t256 $ref_always
dense-random total_ms reserve-t256 $ref_always
dense-mt total_ms reserve-t256 $ref_always
sparse us_per_touch reserve-t256 $ref_never
gups updates_per_s reserve-t256 $ref_always
redis ops_per_s_p1 reserve-t256 $ref_always
redis ops_per_s_p16 reserve-t256 $ref_always
apps-memcached ops_per_s reserve-t256 $ref_always
apps-dicts phase_ms reserve-t256 $ref_always
apps-sqlite phase_ms reserve-t256 $ref_always
apps-gcc phase_ms reserve-t256 $ref_always"
echo
echo "### Ratios per run"
echo
echo "Run i of one policy against run i of the other (median, min-max over the runs), beside the A/A pairs that must be equal: vanilla-madvise / vanilla-never (the programs do not madvise) and reserve-t1 / vanilla-always (the patched kernel with reservations off)."
echo
echo "| scenario | metric | pair | ratio (min-max, runs) | A/A madvise/never | A/A t1/always |"
echo "|---|---|---|---|---|---|"
while read -r file key a b; do
	read -r m lo hi n <<<"$(paired "$file" "$key" "$a" "$b")"
	[ "$n" -gt 0 ] || continue
	read -r m1 lo1 hi1 n1 <<<"$(paired "$file" "$key" vanilla-madvise vanilla-never)"
	read -r m2 lo2 hi2 n2 <<<"$(paired "$file" "$key" reserve-t1 vanilla-always)"
	echo "| $file | $key | ${a#*-} / ${b#*-} | $m ($lo-$hi, $n) | $m1 ($lo1-$hi1, $n1) | $m2 ($lo2-$hi2, $n2) |"
done <<<"$pairs"

command -v gnuplot >/dev/null || { echo "(no gnuplot: no plots)"; exit 0; }
dat=$res/plot-data
mkdir -p "$dat"
# bars SCENARIO METRIC: one value per policy into the data file of that
# panel, "?" (missing) where a policy has none; fails when no policy has
# one, that is when the scenario did not run.
bars() {
	local p v none=1
	for p in $policies; do
		v=$(val "$1" "$p" "$2")
		case $v in '' | n/a) v='?' ;; *) none=0 ;; esac
		echo "$p $v"
	done >"$dat/$1-$2.dat"
	return $none
}
# figure FILE TITLE PANEL...: draw RESULTS_DIR/FILE with one bar chart per
# PANEL ("SCENARIO METRIC log|lin TITLE") whose scenario ran, log scale
# where the values span orders of magnitude; no file when none ran.
figure() {
	local file=$1 title=$2 spec sc me scale t n=0 body=
	shift 2
	rm -f "$res/$file"
	for spec in "$@"; do
		read -r sc me scale t <<<"$spec"
		bars "$sc" "$me" || continue
		n=$((n + 1))
		if [ "$scale" = log ]; then
			body="${body}set logscale y"$'\n'
		else
			body="${body}unset logscale y"$'\n'
		fi
		body="${body}set title \"$t\""$'\n'"plot \"$dat/$sc-$me.dat\" using 2:xtic(1)"$'\n'
	done
	[ "$n" -gt 0 ] || return 0
	gnuplot <<EOF
set terminal pngcairo size 1000,$((120 + 300 * n)) font ",10"
set datafile missing "?"
set style data histograms
set style fill solid 0.8 border -1
set xtics rotate by -30
set grid ytics
unset key
set output "$res/$file"
set multiplot layout $n,1 title "$title"
$body
unset multiplot
EOF
}
figure memory.png "Memory by policy (QEMU TCG guest; memory figures are exact)" \
	"sparse-touch rss_kib log Sparse first touch, one page per 2 MiB: Rss (KiB, log scale, lower is better)" \
	"fork-sparse children log Fork until failure, sparse: children (log scale, higher is better)"
figure fault-cost.png "Fault cost by policy (TCG: compare as ratios only)" \
	"sparse-touch us_per_fault lin Sparse first touch: microseconds per fault" \
	"dense-touch total_ms lin Dense first touch: total milliseconds"
# curves FILE TITLE XLABEL YLABEL SETTINGS: draw the lines of $plot into
# RESULTS_DIR/FILE, if there are any; SETTINGS are more gnuplot lines.
curves() {
	[ -n "$plot" ] || return 0
	gnuplot <<EOF
set terminal pngcairo size 1000,600 font ",10"
set output "$res/$1"
set title "$2"
set xlabel "$3"
set ylabel "$4"
$5
set key outside right
set grid
plot $plot
EOF
}
# Curves: the PMD-mapped share of the region over time, first run.
plot=""
for p in $policies; do
	f=$(ls "$res/raw/tohuge.$p".*.txt 2>/dev/null | head -1) || true
	[ -n "$f" ] || continue
	sed -n 's/^sample=//p' "$f" >"$dat/tohuge-$p.dat"
	plot="$plot${plot:+, }\"$dat/tohuge-$p.dat\" using 1:2 with linespoints title \"$p\""
done
curves time-to-huge.png \
	"Time to huge: PMD-mapped share of a region with 400 of 512 pages used per 2 MiB" \
	"seconds after the writes" "share of the region mapped by PMDs" "set yrange [0:1.05]"
# Populate cost against the live reservations of one mm (median, min-max).
plot=""
for p in vanilla-never reserve-t256; do
	: >"$dat/scale-$p.dat"
	for c in 16 64 256 1024 4096; do
		read -r m lo hi n <<<"$(bench_stat "$res/raw/scale.$p.*.txt" "us_per_populate_$c")"
		[ "$n" -gt 0 ] && echo "$c $m $lo $hi" >>"$dat/scale-$p.dat"
	done
	[ -s "$dat/scale-$p.dat" ] &&
		plot="$plot${plot:+, }\"$dat/scale-$p.dat\" using 1:2:3:4 with yerrorlines title \"$p\""
done
curves scaling.png \
	"Write to a second page of each of N ranges (reserve-t256: a populate with N live reservations; never: a 4 KiB fault)" \
	"N, ranges (live reservations) in the mm" "microseconds per write (median, min-max)" \
	"set logscale x 2
set yrange [0:*]"
plots=
for f in memory.png fault-cost.png time-to-huge.png scaling.png; do
	[ -f "$res/$f" ] && plots="$plots${plots:+, }$f"
done
echo "Plots: ${plots:-none}"
