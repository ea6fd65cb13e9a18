#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# guest-tests.sh OUTDIR TESTLIST [COUNTS [CLAIMS]]: run inside the guest. Runs
# each test of TESTLIST ("label<TAB>dir<TAB>./program args" lines), saves its
# output in OUTDIR, counts KTAP results and writes COUNTS (default
# OUTDIR/counts) as "passed failed skipped".
# With CLAIMS (a directory), several guests share one TESTLIST: a guest runs
# its Nth test only if its mkdir of CLAIMS/N succeeds, which exactly one of them
# does (mkdir is atomic on the host's file system behind the 9p share), so
# each test runs once, on whichever guest is free first.
# A "not ok" listed in selftests/upstream-known-failures (same label and
# description) counts as skipped, with its reason printed. A failing test
# listed in selftests/upstream-flaky is run up to twice more; OUTDIR/retried
# names it once per rerun. Each test that still fails adds the line
# "label<TAB>its FAIL lines, joined by '; '" to COUNTS with its ".counts"
# ending replaced by ".failed": a file per guest, so no two guests append
# to one file over 9p. ".took" is made as this script starts and names each
# test it takes: a guest that dies shows whether it got this far, and what
# it had taken.
set -u
out=$1
list=$2
counts=${3:-$1/counts}
failed=${counts%.counts}.failed
took=${counts%.counts}.took
# The settings this guest booted with, which restore_settings puts back: a
# file per guest, so a guest never reads one another is rewriting.
settings=${counts%.counts}.settings
claims=${4:-}
top=$(cd "$(dirname "$0")/.." && pwd)
known=$top/selftests/upstream-known-failures
differ=$top/selftests/upstream-expected-differences
flaky=$top/selftests/upstream-flaky
mkdir -p "$out"
: >>"$took"
pass=0 fail=0 skip=0
# The harness's own tests run this script on the host with these pointed
# at scratch files.
thp=${GT_THP:-/sys/kernel/mm/transparent_hugepage}
kmsg=${GT_KMSG:-/dev/kmsg}
nr_hugepages=${GT_NR_HUGEPAGES:-/proc/sys/vm/nr_hugepages}
scratch=${GT_SCRATCH:-/tmp/t}
meminfo=${GT_MEMINFO:-/proc/meminfo}
buddyinfo=${GT_BUDDYINFO:-/proc/buddyinfo}
# Settings every test starts from (tests that change them restore them, but
# a failing one may not).
save_settings() {
	cd "$thp" || return
	for f in enabled defrag use_zero_page shrink_underused promotion_threshold \
		promotion_early khugepaged/defrag khugepaged/max_ptes_none khugepaged/max_ptes_swap \
		khugepaged/max_ptes_shared khugepaged/pages_to_scan \
		khugepaged/scan_sleep_millisecs khugepaged/alloc_sleep_millisecs \
		hugepages-*kB/enabled; do
		[ -f "$thp/$f" ] || continue
		v=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$thp/$f")
		[ -n "$v" ] || v=$(cat "$thp/$f")
		echo "$f $v"
	done >"$settings"
	cd /
}
restore_settings() {
	while read -r f v; do echo "$v" >"$thp/$f" 2>/dev/null; done <"$settings"
	echo 0 >"$nr_hugepages"
}
save_settings

# known_reason LABEL DESC: why the "not ok"/"Fail" DESC of LABEL is not a
# failure, or nothing. upstream-known-failures apply always; the expected
# differences only while reservations are on (promotion_threshold > 1).
known_reason() {
	local r
	r=$(awk -F'\t' -v l="$1" -v d="$2" '$1 == l && $2 == d { print $3; exit }' "$known" 2>/dev/null)
	if [ -z "$r" ] && [ "$(cat "$thp/promotion_threshold" 2>/dev/null || echo 1)" -gt 1 ]; then
		r=$(awk -F'\t' -v l="$1" -v d="$2" '$1 == l && $2 == d { print "by design: " $3; exit }' "$differ" 2>/dev/null)
	fi
	echo "$r"
}

# failed_line DESC: prints a FAIL line of run_one's test and keeps DESC for
# the guest's .failed file.
failed_line() {
	echo "    FAIL: $1"
	why_failed="${why_failed:+$why_failed; }$1"
}

# count_fail DESC: a failed subtest of run_one's test: counted as skipped
# (and in kf) if it is known, else as a failure.
count_fail() {
	local reason
	reason=$(known_reason "$base" "$1")
	if [ -n "$reason" ]; then
		s=$((s + 1)) kf=$((kf + 1))
		echo "    known failure: $1 ($reason)"
	else
		f=$((f + 1))
		failed_line "$1"
	fi
}

# run_one LABEL DIR CMD LOG: runs one test and sets p, f, s to its counts.
# A label ending in @t1 runs with promotion_threshold=1 (the stock kernel's
# behaviour); known failures are looked up under the label without it.
run_one() {
	local label=$1 dir=$2 cmd=$3 log=$4 rc line desc base=${1%@t1} kf=0
	known_exit=0 why_failed=
	restore_settings
	[ "$label" = "$base" ] || echo 1 >"$thp/promotion_threshold"
	# cow, migration and pagemap_ioctl test hugetlb pages too: reserve some.
	case $label in cow*|migration*|pagemap_ioctl*) echo 32 >"$nr_hugepages" ;; esac
	mkdir -p "$scratch" && cd "$scratch" || exit 1
	# From a writable scratch directory: some tests create files in ".".
	# shellcheck disable=SC2086
	timeout -k 5 "${TEST_TIMEOUT:-900}" $dir/${cmd#./} >"$log" 2>&1 </dev/null
	rc=$?
	cd / && rm -rf "$scratch"
	restore_settings
	p=0 f=0 s=0
	while IFS= read -r line; do
		case $line in
		"ok "*"# SKIP"*|"ok "*"# skip"*) s=$((s + 1)) ;;
		"ok "*) p=$((p + 1)) ;;
		"not ok "*)
			desc=${line#not ok }
			count_fail "${desc#* }" ;;
		esac
	done < <(grep -aE '^(not )?ok [0-9]+ ' "$log")
	if [ $((p + f + s)) -eq 0 ]; then
		# No KTAP: count the "Doing something... OK|Fail|Skip" lines that
		# khugepaged and others print, one per subtest.
		while IFS= read -r line; do
			desc=$(sed -E 's/\.\.\.+ *(OK|Fail|Skip).*$//' <<<"$line")
			case $line in
			*OK*) p=$((p + 1)) ;;
			*Skip*) s=$((s + 1)) ;;
			*) count_fail "$desc" ;;
			esac
		done < <(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -aE '\.\.\.+ *(OK|Fail|Skip)( |$)')
		# A run whose only failures are known exits non-zero for them.
		[ $kf -gt 0 ] && [ $f -eq 0 ] && [ $rc -eq 1 ] && rc=0
	fi
	# The project's tests speak KTAP: each must run every case it plans.
	local plan ran=$((p + f + s))
	plan=$(grep -aoE -m1 '^1\.\.[0-9]+' "$log" | cut -d. -f3)
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		f=$((f + 1))
		failed_line "timed out after ${TEST_TIMEOUT:-900}s"
	elif [ "${label#project-}" != "$label" ] && [ $rc -ne 4 ] &&
		{ [ $ran -eq 0 ] || [ "${plan:-0}" -gt $ran ]; }; then
		f=$((f + 1))
		failed_line "$label ran $ran of ${plan:-0} planned cases (exit status $rc)"
		tail -n 5 "$log" | sed 's/^/    | /'
	elif [ $((p + f + s)) -eq 0 ]; then
		# No KTAP lines: the exit status is the result.
		case $rc in
		0) p=1 ;;
		4) s=1; echo "    skipped: $(tail -n 1 "$log")" ;;
		*)
			# uffd-unit-tests stops at its first "Testing X... ERROR: E":
			# "X: E" (without errno and source line) names the failure.
			desc=$(sed -n 's/^Testing \(.*\)\.\.\. ERROR: \(.*\) (errno=.*$/\1: \2/p' "$log" | tail -n 1)
			if [ -n "$desc" ] && [ -n "$(known_reason "$base" "$desc")" ]; then
				s=1 known_exit=1
				echo "    known failure: $desc ($(known_reason "$base" "$desc"))"
			else
				f=1
				failed_line "exit status $rc${desc:+ ($desc)}"
				tail -n 5 "$log" | sed 's/^/    | /'
			fi ;;
		esac
	elif [ $rc -ne 0 ] && [ $rc -ne 4 ] && [ $f -eq 0 ]; then
		# Exited with a failure that its KTAP lines do not account for.
		if [ -n "$(known_reason "$base" "exit status")" ]; then
			echo "    known failure: exit status $rc"
		else
			f=$((f + 1))
			failed_line "exit status $rc"
			tail -n 5 "$log" | sed 's/^/    | /'
		fi
	fi
}

# mem_state: free memory, swap in use and free 2 MiB blocks, logged as each
# test starts: a test that finds memory fragmented or swapped out by the
# ones before it (fewer huge pages, slow compaction) shows it in the
# console log.
mem_state() {
	awk '$1 == "MemFree:" { printf "MemFree %d kB, ", $2 }
	     $1 == "SwapTotal:" { st = $2 } $1 == "SwapFree:" { sf = $2 }
	     END { printf "swap used %d kB, ", st - sf }' "$meminfo"
	awk '$3 == "zone" { b += $14 + 2 * $15 } END { printf "free 2 MiB blocks %d", b }' "$buddyinfo"
}

# Progress: "k/N" is the test's place in the list; what is left is the
# selftests/test-seconds time of the tests from it on (60 s for one not
# listed), divided among GT_SHARERS guests.
nr_tests=$(grep -cv -e '^#' -e '^$' "$list")
left_s() {
	awk -F'\t' -v from="$1" -v share="${GT_SHARERS:-1}" '
		NR == FNR { if ($0 !~ /^#/ && NF) secs[$1] = $2; next }
		/^#/ || !NF { next }
		++i >= from { t += ($1 in secs ? secs[$1] : 60) }
		END { printf "%d", (t / share + 59) / 60 }' "$top/selftests/test-seconds" "$list"
}
line_no=0
while IFS=$'\t' read -r label dir cmd; do
	case $label in ''|'#'*) continue ;; esac
	line_no=$((line_no + 1))
	[ -z "$claims" ] || mkdir "$claims/$line_no" 2>/dev/null || continue
	echo "$label" >>"$took"
	log=$out/$label.log
	echo "==> test $label ($line_no/$nr_tests, about $(left_s $line_no) min of tests left) ..."
	echo "thpres-test: start $label ($(mem_state))" >"$kmsg"
	t0=$(date +%s)
	run_one "$label" "$dir" "$cmd" "$log"
	why=$(awk -F'\t' -v l="${label%@t1}" '$1 == l { print $2; exit }' "$flaky" 2>/dev/null)
	# A known race in the upstream test program: up to two more runs.
	# Every failed run's log is kept; the last run's result counts.
	n=1
	while { [ $f -gt 0 ] || [ $known_exit = 1 ]; } && [ -n "$why" ] && [ $n -le 2 ]; do
		mv "$log" "$out/$label.attempt$n.log"
		echo "    flaky: run $n failed ($why); log kept in $label.attempt$n.log; running it again"
		echo "thpres-test: retry $label" >"$kmsg"
		run_one "$label" "$dir" "$cmd" "$log"
		echo "$label" >>"$out/retried"
		n=$((n + 1))
	done
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	[ $f -eq 0 ] || printf '%s\t%s\n' "$label" "$why_failed" >>"$failed"
	echo "==> test $label done ($(($(date +%s) - t0))s): $p passed, $f failed, $s skipped (log: $log)"
done <"$list"
echo "$pass $fail $skip" >"$counts"
