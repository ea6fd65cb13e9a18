#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# bench-summary.sh RESULTS_DIR: reads RESULTS_DIR/raw (written by
# bench-guest.sh), writes RESULTS_DIR/summary.csv (median, min and max over
# the runs), prints a markdown table with each policy's value and the
# ratios of reserve-t256 to vanilla-always and vanilla-never, the per-run
# ratios of the key pairs beside their A/A bands, the stress-ng controls
# and each scenario's coverage and fragmentation at its start and end, and
# draws RESULTS_DIR/tradeoff.png, memory.png, fault-cost.png,
# time-to-huge.png and scaling.png with gnuplot.
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
# The A/A pair of never: madvise on the kernel of the never reference.
aa_madvise=vanilla-madvise
[ "$ref_never" = vanilla-never ] || aa_madvise=patched-madvise
# Rows: SCENARIO METRIC RAW_FILE_PREFIX KEY UNIT (see benchmarks/README.md).
rows="fork-sparse children fork-sparse children count
fork-randk children fork-randk children count
fork-system-sparse children fork-system-sparse children count
fork-system-sparse seconds fork-system-sparse seconds s
fork-system-sparse reclaimed_pages fork-system-sparse thp_res_reclaim_delta pages
fork-system-randk children fork-system-randk children count
fork-system-randk seconds fork-system-randk seconds s
fork-system-randk reclaimed_pages fork-system-randk thp_res_reclaim_delta pages
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
time-to-huge-default seconds_to_huge tohuge-default seconds_to_huge s
time-to-huge-default huge_kib tohuge-default huge_kib KiB
gups updates_per_s gups updates_per_s 1/s
gups huge_kib gups huge_kib KiB
scale us_per_populate_16 scale us_per_populate_16 us
scale us_per_populate_64 scale us_per_populate_64 us
scale us_per_populate_256 scale us_per_populate_256 us
scale us_per_populate_1024 scale us_per_populate_1024 us
scale us_per_populate_4096 scale us_per_populate_4096 us
promote-cost ms_per_2mib promote collapse_ms_per_2mib ms
promote-cost mmap_lock_reader_max_wait promote reader_max_wait_us us
promote-cost collapse_allocs promote thp_collapse_alloc_delta count
promote-cost huge_kib promote huge_kb KiB
promote-cost promotions promote thp_res_promote_delta count"
# The mmap_lock write holds during the promote scenario's MADV_COLLAPSE
# and while the khugepaged scenario waits for khugepaged.
for w in promote-cost:promote-locks khugepaged:khugepaged-locks; do
	for m in holds:count hold_p50_us:us hold_p99_us:us hold_max_us:us hold_total_us:us; do
		rows="$rows
${w%%:*} mmap_write_${m%%:*} ${w#*:} mmap_write_${m%%:*} ${m#*:}"
	done
done
# Khugepaged's way to huge pages.
rows="$rows
khugepaged seconds_to_huge khugepaged seconds_to_huge s
khugepaged huge_kib khugepaged huge_kib KiB
khugepaged collapses_per_2mib khugepaged thp_collapse_alloc_per_2mib count
khugepaged promotions_per_2mib khugepaged thp_res_promote_per_2mib count
promote-gups updates_per_s promote gups_updates_per_s 1/s
mthp-halfdense rss_kib mthp rss_kib KiB
mthp-halfdense mthp64_folios mthp mthp64_folios count
mthp-halfdense thp_res_mthp_promote mthp thp_res_mthp_promote count
mthp-halfdense touch_ms mthp touch_ms ms
mthp-halfdense break_ms mthp break_ms ms
mthp-halfdense updates_per_s mthp updates_per_s 1/s
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
redis bgsave_peak_kib redis bgsave_peak_kib KiB"
# The stress-ng scenarios share their rows.
for sc in stress-keep stress-nokeep stress-pagein stress-noswap stress-keep-hp stress-keep-nohp \
	stress-sparse38 stress-sparse64 stress-sparse256; do
	for m in time_ms:ms bogo_ops_per_s:1/s completed:flag peak_kib:KiB memcg_max:count memcg_high:count \
		memcg_oom_kill:count pswpin:pages pswpout:pages pgmajfault:count \
		thp_fault_alloc:count thp_fault_fallback:count thp_split_page:count thp_split_pmd:count \
		thp_collapse_alloc:count thp_res_alloc:count thp_res_promote:count \
		thp_res_reclaim:count thp_res_swap_split:count; do
		rows="$rows
$sc ${m%%:*} $sc ${m%%:*} ${m#*:}"
	done
done
# The sparse-matrix stand-ins' density, as drawn, and their data check.
for sc in stress-sparse38 stress-sparse64 stress-sparse256; do
	for m in used_pages_per_2mib:pages ranges_at_256:count rss_kib:KiB huge_kib:KiB \
		thp_res_alloc_failed:count mismatches:count; do
		rows="$rows
$sc ${m%%:*} $sc ${m%%:*} ${m#*:}"
	done
done
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
# What each scenario met and left: recorded at its start and end in the
# same boot (state-SCENARIO files), so that a scenario whose huge pages
# or free 2 MiB blocks ran out is seen, and one that ran after another in
# one boot (BOOT=run) shows what the earlier one left.
scens=$(ls "$res/raw/" | sed -n 's/^state-\(.*\)\.[^.]*\.[0-9]*\.txt$/\1/p' | sort -u)
if [ -n "$scens" ]; then
	echo "### Coverage and fragmentation at each scenario's start and end"
	echo
	echo "Medians over the runs: free blocks of 2 MiB or more (in 2 MiB units, /proc/buddyinfo) at the start and the end; AnonHugePages at the end (system-wide, KiB); thp_fault_fallback and thp_res_alloc_failed during the scenario (- : the stock kernel has no thp_res_alloc_failed)."
	echo
	echo "| scenario | policy | free 2 MiB at start | at end | AnonHugePages at end | fault fallbacks | reservations failed |"
	echo "|---|---|---|---|---|---|---|"
	for sc in $scens; do
		for p in $policies; do
			ls "$res/raw/state-$sc.$p".*.txt >/dev/null 2>&1 || continue
			printf '| %s | %s |' "$sc" "$p"
			for k in begin_free_2mib_blocks end_free_2mib_blocks end_anon_huge_kib \
				delta_thp_fault_fallback delta_thp_res_alloc_failed; do
				read -r m lo hi n <<<"$(bench_stat "$res/raw/state-$sc.$p.*.txt" "$k")"
				if [ "$n" = 0 ]; then printf ' - |'; else printf ' %s (%s-%s) |' "$m" "$lo" "$hi"; fi
			done
			echo
		done
	done
	echo
fi
echo "Raw runs: raw/; all values: summary.csv (in $(basename "$res")/)"

# paired FILE KEY A B: "median min max n" of A/B over the runs where both
# policies have KEY (run i of A against run i of B: the policies of a run
# were booted one after the other) and neither says completed=0.
paired() {
	local f r a b
	for f in "$res/raw/$1.$3".*.txt; do
		[ -f "$f" ] || continue
		r=${f##*.$3.}
		r=${r%.txt}
		# A stress-ng run that did not do its fixed work is no sample.
		grep -qsx 'completed=0' "$f" "$res/raw/$1.$4.$r.txt" && continue
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
promote collapse_ms_per_2mib reserve-t512 $ref_never
promote gups_updates_per_s reserve-t256 $ref_always
mthp rss_kib reserve-t256-mthp64 vanilla-mthp64
mthp updates_per_s reserve-t256-mthp64 vanilla-mthp64
mthp rss_kib reserve-t256-mthp64 reserve-t256"
# The programs and the stress-ng scenarios against both references.
for r in "$ref_always" "$ref_never"; do
	for w in "apps-memcached ops_per_s" "apps-dicts phase_ms" "apps-sqlite phase_ms" \
		"apps-gcc phase_ms" "stress-keep time_ms" "stress-nokeep time_ms" \
		"stress-pagein time_ms" "stress-noswap time_ms" "stress-sparse38 time_ms" \
		"stress-sparse64 time_ms" "stress-sparse256 time_ms" "stress-sparse38 rss_kib" \
		"stress-sparse64 rss_kib" "stress-sparse256 rss_kib"; do
		pairs="$pairs
$w reserve-t256 $r"
	done
done
echo
echo "### Ratios per run"
echo
echo "Run i of one policy against run i of the other (median, min-max over the runs), beside the A/A pairs that must be equal: $aa_madvise / $ref_never (the programs do not madvise) and reserve-t1 / vanilla-always (the patched kernel with reservations off; n/a without the stock kernel)."
echo
echo "| scenario | metric | pair | ratio (min-max, runs) | A/A madvise/never | A/A t1/always |"
echo "|---|---|---|---|---|---|"
while read -r file key a b; do
	read -r m lo hi n <<<"$(paired "$file" "$key" "$a" "$b")"
	[ "$n" -gt 0 ] || continue
	read -r m1 lo1 hi1 n1 <<<"$(paired "$file" "$key" "$aa_madvise" "$ref_never")"
	read -r m2 lo2 hi2 n2 <<<"$(paired "$file" "$key" reserve-t1 vanilla-always)"
	echo "| $file | $key | ${a#*-} / ${b#*-} | $m ($lo-$hi, $n) | $m1 ($lo1-$hi1, $n1) | $m2 ($lo2-$hi2, $n2) |"
done <<<"$pairs"

# The stress-ng controls: a madvised buffer must get under reserve-t256
# what the stock kernel gives it (hugepage: always's, nohugepage: never's).
ctl="stress-keep-hp $ref_always
stress-keep-nohp $ref_never"
if ls "$res/raw/stress-keep-"*hp.reserve-t256.*.txt >/dev/null 2>&1; then
	echo
	echo "### stress-ng controls: reserve-t256 against the stock policy, the same madvised buffer"
	echo
	echo "| control | pair | time_ms | thp_fault_alloc | peak_kib | pswpout |"
	echo "|---|---|---|---|---|---|"
	while read -r c r; do
		printf '| %s | t256 / %s |' "$c" "${r#*-}"
		for k in time_ms thp_fault_alloc peak_kib pswpout; do
			read -r m lo hi n <<<"$(paired "$c" "$k" reserve-t256 "$r")"
			printf ' %s (%s-%s, %s) |' "$m" "$lo" "$hi" "$n"
		done
		echo
	done <<<"$ctl"
fi

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
# The trade-off: each policy a point at (Rss of the sparse first touch
# relative to never, time of the dense first touch relative to always),
# both log scales (always's sparse Rss is hundreds of times never's); the
# ideal corner (1, 1) marked; one colour per family (stock, patched with
# reservations, patched without THP).
tradeoff() {
	local p x y rn ta fam
	rn=$(val sparse-touch "$ref_never" rss_kib)
	ta=$(val dense-touch "$ref_always" total_ms)
	rm -f "$res/tradeoff.png"
	for fam in vanilla reserve patched; do : >"$dat/tradeoff-$fam.dat"; done
	for p in $policies; do
		x=$(bench_ratio "$(val sparse-touch "$p" rss_kib)" "$rn")
		y=$(bench_ratio "$(val dense-touch "$p" total_ms)" "$ta")
		[ "$x" != n/a ] && [ "$y" != n/a ] || continue
		echo "$x $y ${p#*-}" >>"$dat/tradeoff-${p%%-*}.dat"
	done
	grep -qs . "$dat"/tradeoff-*.dat || return 0
	plot="\"< echo 1 1\" using 1:2 with points pt 6 ps 4 lc rgb \"black\" title \"ideal: never's memory, always's speed\""
	for fam in vanilla:stock:#1f77b4 reserve:reservations:#d62728 patched:patched,THP\ off:#2ca02c; do
		IFS=: read -r f t c <<<"$fam"
		[ -s "$dat/tradeoff-$f.dat" ] || continue
		plot="$plot, \"$dat/tradeoff-$f.dat\" using 1:2 with points pt 7 ps 1.5 lc rgb \"$c\" title \"$t\", \"$dat/tradeoff-$f.dat\" using 1:2:3 with labels offset 1,0.6 left tc rgb \"$c\" notitle"
	done
	curves tradeoff.png \
		"Trade-off per policy (medians): sparse memory against dense time" \
		"Rss of the sparse first touch / never's (log scale; lower is better)" \
		"time of the dense first touch / always's (log scale; lower is better)" \
		"set logscale xy
set xrange [0.5:*]
set yrange [0.5:*]"
}
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
tradeoff
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
for f in tradeoff.png memory.png fault-cost.png time-to-huge.png scaling.png; do
	[ -f "$res/$f" ] && plots="$plots${plots:+, }$f"
done
echo "Plots: ${plots:-none}"
