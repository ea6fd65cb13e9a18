#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# harness-tests.sh: checks of the workbench itself, run by make check on the
# host: the kernel log watch must catch each kind of report and pass a clean
# log; the benchmark summaries must compute what they claim. Prints KTAP-style lines and writes "passed failed" to build/harness-counts.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 n=0
result() {
	n=$((n + 1))
	if [ "$1" = ok ]; then pass=$((pass + 1)); echo "ok $n $2"; else fail=$((fail + 1)); echo "not ok $n $2"; fi
}
clean='[    3.0] Run /init as init process
[    4.9] Adding 2097148k swap on /dev/vda.
[    5.0] thpres-test: start project-thp_stock'
printf '%s\n' "$clean" >"$tmp/clean.log"
echo 0 >"$tmp/taint0"
if "$TOP/scripts/logwatch.sh" "$tmp/clean.log" "$tmp/taint0" 2>/dev/null; then
	result ok "logwatch passes a clean log"
else
	result fail "logwatch passes a clean log"
fi
while IFS= read -r report; do
	printf '%s\n%s\n[    6.0] after\n' "$clean" "$report" >"$tmp/bad.log"
	if "$TOP/scripts/logwatch.sh" "$tmp/bad.log" "$tmp/taint0" 2>"$tmp/err" &&
		true; then
		result fail "logwatch catches: $report"
	elif grep -qF -- "$report" "$tmp/err"; then
		result ok "logwatch catches and quotes: $report"
	else
		result fail "logwatch quotes the report: $report"
	fi
done <<'EOR'
[   10.1] BUG: unable to handle page fault for address: ffff888000000000
[   10.1] WARNING: CPU: 1 PID: 77 at mm/huge_memory.c:3100 __split_huge_page+0x1/0x2
[   10.1] Oops: general protection fault, probably for non-canonical address
[   10.1] general protection fault, probably for non-canonical address 0xdead
[   10.1] BUG: Bad page state in process a.out  pfn:12345
[   10.1] Bad page map in process a.out  pte:8000000012345067
[   10.1] BUG: KASAN: slab-use-after-free in thp_res_release+0x10/0x20
[   10.1] BUG: KFENCE: out-of-bounds read in foo+0x1/0x2
[   10.1] UBSAN: array-index-out-of-bounds in mm/memory.c:100:5
[   10.1] WARNING: possible circular locking dependency detected
[   10.1] WARNING: inconsistent lock state
[   10.1] INFO: task khugepaged:40 blocked for more than 120 seconds.
[   10.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
[   10.1] Kernel panic - not syncing: Fatal exception
[   10.1] kernel BUG at mm/huge_memory.c:1234!
[   10.1] list_del corruption, ffff888001234560->next is LIST_POISON1
EOR
echo 512 >"$tmp/taint512"
if "$TOP/scripts/logwatch.sh" "$tmp/clean.log" "$tmp/taint512" 2>/dev/null; then
	result fail "logwatch fails a tainted kernel"
else
	result ok "logwatch fails a tainted kernel"
fi
# KUnit's TAINT_TEST alone (boot tests ran) is no fault; with another, it is.
echo 262144 >"$tmp/taint-test"
if "$TOP/scripts/logwatch.sh" "$tmp/clean.log" "$tmp/taint-test" 2>/dev/null; then
	result ok "logwatch passes a kernel tainted only by KUnit (TAINT_TEST)"
else
	result fail "logwatch passes a kernel tainted only by KUnit (TAINT_TEST)"
fi
: >"$tmp/taint-test"
if "$TOP/scripts/logwatch.sh" "$tmp/clean.log" "$tmp/taint-test" 2>/dev/null; then
	result fail "logwatch fails an empty taint file (the guest died before writing it)"
else
	result ok "logwatch fails an empty taint file (the guest died before writing it)"
fi
echo $((262144 | 512)) >"$tmp/taint-test"
if "$TOP/scripts/logwatch.sh" "$tmp/clean.log" "$tmp/taint-test" 2>/dev/null; then
	result fail "logwatch fails TAINT_TEST with a warning's taint"
else
	result ok "logwatch fails TAINT_TEST with a warning's taint"
fi
# The benchmark summaries: medians, min and max over runs, n/a for a
# measured scenario without a value, ratios to the stock policies.
b=$tmp/bench
mkdir -p "$b/raw"
echo "runs: 3" >"$b/kernel-version"
for i in 1 2 3; do
	echo "children=$((i * 10))" >"$b/raw/fork-sparse.vanilla-always.$i.txt"
	echo "children=$((100 + i * 10))" >"$b/raw/fork-sparse.reserve-t256.$i.txt"
	echo "children=$((200 + i))" >"$b/raw/fork-sparse.vanilla-never.$i.txt"
done
printf 'sample=0.0 0.5\nseconds_to_huge=n/a\n' >"$b/raw/tohuge.reserve-t256.1.txt"
"$TOP/benchmarks/bench-summary.sh" "$b" >"$b/out.md" 2>&1
if grep -qx 'fork-sparse,vanilla-always,children,20,count,3,10,30' "$b/summary.csv" &&
	grep -qx 'fork-sparse,reserve-t256,children,120,count,3,110,130' "$b/summary.csv" &&
	grep -qx 'time-to-huge,reserve-t256,seconds_to_huge,n/a,s,0,n/a,n/a' "$b/summary.csv" &&
	! grep -q '^time-to-huge,vanilla-always' "$b/summary.csv" &&
	grep -q '| fork-sparse | children (count) | 202 | 20 | 120 | 6.000 | 0.594 |' "$b/out.md"; then
	result ok "bench-summary.sh: medians, min, max, n/a and ratios"
else
	result fail "bench-summary.sh: medians, min, max, n/a and ratios ($(cat "$b/summary.csv" "$b/out.md" | tr '\n' ' '))"
fi
rm -f "$b/summary.csv"
# A workload that got no huge page under always is flagged: its rows do
# not measure THP (Redis without "disable-thp no"). One with huge pages is not.
w=$tmp/bench-thp
for huge in 0 4096; do
	rm -rf "$w" && mkdir -p "$w/raw" && echo "runs: 1" >"$w/kernel-version"
	for pol in vanilla-always vanilla-never reserve-t256; do
		printf 'thp_enabled=1\nanon_huge_kib_fill=%s\nops_per_s_p1=100\n' \
			"$([ $pol = vanilla-always ] && echo $huge || echo 0)" >"$w/raw/redis.$pol.1.txt"
	done
	"$TOP/benchmarks/bench-summary.sh" "$w" >"$w/out.md" 2>&1
	warned=$(grep -c 'Warning: redis had no huge page under vanilla-always' "$w/out.md")
	if { [ $huge = 0 ] && [ "$warned" = 1 ]; } || { [ $huge != 0 ] && [ "$warned" = 0 ]; }; then
		result ok "bench-summary.sh flags a workload without huge pages under always ($huge KiB)"
	else
		result fail "bench-summary.sh flags a workload without huge pages under always ($huge KiB: $warned warnings)"
	fi
done
# The scenarios that were drivers of their own (fork-system, mthp), the
# mmap_lock write holds of a collapse, and the scenario records: medians,
# n/a kept, the start/end table.
for i in 1 2 3; do
	echo "children=$((i * 10))" >"$b/raw/fork-system-sparse.vanilla-always.$i.txt"
	printf 'rss_kib=%s\nthp_res_mthp_promote=n/a\n' $((i * 4)) >"$b/raw/mthp.vanilla-mthp64.$i.txt"
	printf 'rss_kib=2\nthp_res_mthp_promote=%s\n' $((1000 + i)) >"$b/raw/mthp.reserve-t256-mthp64.$i.txt"
	printf 'begin_free_2mib_blocks=%s\nend_free_2mib_blocks=7\ndelta_thp_fault_fallback=%s\n' \
		$((100 + i)) "$i" >"$b/raw/state-mthp.vanilla-mthp64.$i.txt"
done
printf 'mmap_write_holds=128\nmmap_write_hold_p99_us=950.5\n' >"$b/raw/promote-locks.vanilla-never.1.txt"
"$TOP/benchmarks/bench-summary.sh" "$b" >"$b/out.md" 2>&1
if grep -qx 'fork-system-sparse,vanilla-always,children,20,count,3,10,30' "$b/summary.csv" &&
	grep -qx 'promote-cost,vanilla-never,mmap_write_holds,128,count,1,128,128' "$b/summary.csv" &&
	grep -qx 'promote-cost,vanilla-never,mmap_write_hold_p99_us,950.5,us,1,950.5,950.5' "$b/summary.csv" &&
	grep -qx 'mthp-halfdense,vanilla-mthp64,thp_res_mthp_promote,n/a,count,0,n/a,n/a' "$b/summary.csv" &&
	grep -qx 'mthp-halfdense,reserve-t256-mthp64,thp_res_mthp_promote,1002,count,3,1001,1003' "$b/summary.csv" &&
	grep -q '^| mthp | rss_kib | t256-mthp64 / mthp64 | 0.250 (0.167-0.500, 3) |' "$b/out.md" &&
	grep -q '^| mthp | vanilla-mthp64 | 102 (101-103) | 7 (7-7) | - | 2 (1-3) | - |' "$b/out.md"; then
	result ok "bench-summary.sh: fork-system, mthp, collapse write holds and the scenario records"
else
	result fail "bench-summary.sh: fork-system, mthp, collapse write holds and the scenario records ($(cat "$b/summary.csv" "$b/out.md" | tr '\n' ' '))"
fi
# The sparse-matrix stand-ins: their density rows, and a run that did not
# complete is no sample of a ratio (run 3 of always here).
for i in 1 2 3; do
	printf 'completed=1\ntime_ms=%s\nused_pages_per_2mib=%s\nmismatches=0\n' \
		$((100 * i)) "37.$i" >"$b/raw/stress-sparse38.reserve-t256.$i.txt"
	printf 'completed=%s\ntime_ms=%s\n' $((i < 3)) $([ $i -lt 3 ] && echo $((400 * i)) || echo n/a) \
		>"$b/raw/stress-sparse38.vanilla-always.$i.txt"
done
"$TOP/benchmarks/bench-summary.sh" "$b" >"$b/out.md" 2>&1
if grep -qx 'stress-sparse38,reserve-t256,used_pages_per_2mib,37.2,pages,3,37.1,37.3' "$b/summary.csv" &&
	grep -qx 'stress-sparse38,reserve-t256,mismatches,0,count,3,0,0' "$b/summary.csv" &&
	grep -q '^| stress-sparse38 | time_ms | t256 / always | 0.250 (0.250-0.250, 2) |' "$b/out.md"; then
	result ok "bench-summary.sh: the sparse-matrix rows, an incomplete run left out of a ratio"
else
	result fail "bench-summary.sh: the sparse-matrix rows, an incomplete run left out of a ratio ($(cat "$b/summary.csv" "$b/out.md" | tr '\n' ' '))"
fi
# make check cannot pass by accident: a TESTS word that names no test fails
# and says which; a step that left no counts fails and names the step.
printf 'cow\t/d\t./cow\nkhugepaged\t/d\t./khugepaged\nkhugepaged@t1\t/d\t./khugepaged\n' >"$tmp/list"
if ! (select_tests "$tmp/list" "cow typo") 2>"$tmp/err" && grep -q "TESTS names no test: typo" "$tmp/err"; then
	result ok "TESTS=typo fails, naming the word"
else
	result fail "TESTS=typo fails, naming the word ($(cat "$tmp/err"))"
fi
if (select_tests "$tmp/list" "khugepaged,cow") 2>/dev/null &&
	[ "$(cut -f1 "$tmp/list" | tr '\n' ' ')" = "cow khugepaged " ]; then
	result ok "TESTS selects exactly the named labels"
else
	result fail "TESTS selects exactly the named labels (got: $(cut -f1 "$tmp/list" | tr '\n' ' '))"
fi
if ! read_counts "$tmp/no-counts" "make lint" >/dev/null 2>"$tmp/err" &&
	grep -q "make lint did not finish" "$tmp/err" &&
	echo "3 0" >"$tmp/counts" && [ "$(read_counts "$tmp/counts" x)" = "3 0" ]; then
	result ok "a lint or harness run that left no counts fails, naming it"
else
	result fail "a lint or harness run that left no counts fails, naming it"
fi
# A test that needs its own kernel command line leaves the shared list for
# a boot of its own; the others stay, in their order.
printf '# c\nproject-b\tx=1 y=2\nnone\tz=3\n' >"$tmp/boot"
printf 'cow\t/d\t./cow\nproject-b\t/p\t./b\nksm\t/d\t./ksm\n' >"$tmp/blist"
split_boot_tests "$tmp/blist" "$tmp/boot"
if [ "$(cut -f1 "$tmp/blist.boot" | tr '\n' ' ')" = "project-b " ] &&
	[ "$(cut -f1 "$tmp/blist.shared" | tr '\n' ' ')" = "cow ksm " ]; then
	result ok "a test of selftests/boot-tests runs in its own boot, not in the shared guests"
else
	result fail "a test of selftests/boot-tests runs in its own boot, not in the shared guests (boot: $(cut -f1 "$tmp/blist.boot" | tr '\n' ' '); shared: $(cut -f1 "$tmp/blist.shared" | tr '\n' ' '))"
fi
# guest-tests.sh on fake tests (its sysfs, kmsg and scratch paths pointed at
# files here): a project test must run every case it plans.
g=$tmp/gt
mkdir -p "$g/thp" "$g/bin"
echo 256 >"$g/thp/promotion_threshold"
printf '#!/bin/sh\necho "1..2"; echo "ok 1 a"; echo "ok 2 b"\n' >"$g/bin/full"
printf '#!/bin/sh\necho "1..3"; echo "ok 1 a"\n' >"$g/bin/short"
printf '#!/bin/sh\nexit 0\n' >"$g/bin/silent"
chmod +x "$g/bin"/*
gt() {
	printf '%s\t%s\t./%s\n' "$1" "$g/bin" "$2" >"$g/list"
	GT_THP=$g/thp GT_KMSG=/dev/null GT_NR_HUGEPAGES=$g/nr GT_SCRATCH=$g/scratch \
		"$TOP/scripts/guest-tests.sh" "$g/out" "$g/list" "$g/counts" >"$g/log" 2>&1
	cat "$g/counts"
}
if [ "$(gt project-full full)" = "2 0 0" ] &&
	[ "$(gt project-short short)" = "1 1 0" ] && grep -q "ran 1 of 3 planned" "$g/log" &&
	[ "$(gt project-silent silent)" = "0 1 0" ] && grep -q "project-silent ran 0 of 0" "$g/log" &&
	[ "$(gt transhuge-stress silent)" = "1 0 0" ]; then
	result ok "guest-tests.sh fails a project test that runs fewer cases than planned, or none"
else
	result fail "guest-tests.sh fails a project test that runs fewer cases than planned, or none ($(tr '\n' ' ' <"$g/log"))"
fi
# A guest's .failed file names each failing test and what failed, and its
# .took file each test it took, passing or not.
f=$tmp/gtf
mkdir -p "$f"
printf '%s\t%s\t./%s\n' project-full "$g/bin" full project-short "$g/bin" short >"$f/list"
GT_THP=$g/thp GT_KMSG=/dev/null GT_NR_HUGEPAGES=$f/nr GT_SCRATCH=$f/scratch \
	"$TOP/scripts/guest-tests.sh" "$f/out" "$f/list" "$f/1.counts" >"$f/log" 2>&1
if [ "$(cat "$f/1.failed")" = "$(printf 'project-short\tproject-short ran 1 of 3 planned cases (exit status 0)')" ] &&
	[ "$(tr '\n' ' ' <"$f/1.took")" = "project-full project-short " ]; then
	result ok "guest-tests.sh names each failed test and what failed in ID.failed, each test taken in ID.took"
else
	result fail "guest-tests.sh names each failed test and what failed in ID.failed, each test taken in ID.took (failed: $(cat "$f/1.failed" 2>&1); took: $(cat "$f/1.took" 2>&1))"
fi
# Each test's start marker in the kernel log gives the memory it found:
# MemFree, swap in use, and free 2 MiB blocks (order 9 plus twice order 10).
printf 'MemFree:  1000 kB\nSwapTotal:  500 kB\nSwapFree:  200 kB\n' >"$g/meminfo"
{
	echo "Node 0, zone    DMA32  1 1 1 1 1 1 1 1 1 3 2"
	echo "Node 0, zone   Normal  0 0 0 0 0 0 0 0 0 1 4"
} >"$g/buddyinfo"
printf '%s\t%s\t./%s\n' project-full "$g/bin" full >"$g/list"
GT_THP=$g/thp GT_KMSG=$g/kmsg GT_NR_HUGEPAGES=$g/nr GT_SCRATCH=$g/scratch \
	GT_MEMINFO=$g/meminfo GT_BUDDYINFO=$g/buddyinfo \
	"$TOP/scripts/guest-tests.sh" "$g/out" "$g/list" "$g/counts" >"$g/log" 2>&1
want="thpres-test: start project-full (MemFree 1000 kB, swap used 300 kB, free 2 MiB blocks 16)"
if grep -qxF "$want" "$g/kmsg"; then
	result ok "each test's start marker gives free memory, swap in use and free 2 MiB blocks"
else
	result fail "each test's start marker: '$(head -n 1 "$g/kmsg")', not '$want'"
fi
# Two guest-tests.sh sharing one list through a claims directory run each
# test once between them; a test already claimed is not run again.
c=$tmp/claims
mkdir -p "$c/claims" "$c/bin"
printf '#!/bin/sh\nsleep 0.2; echo "1..1"; echo "ok 1 a"\n' >"$c/bin/t"
chmod +x "$c/bin/t"
for i in 1 2 3 4 5 6 7; do printf 'project-t%s\t%s\t./t\n' "$i" "$c/bin"; done >"$c/list"
mkdir "$c/claims/3"
for i in 1 2; do
	GT_THP=$g/thp GT_KMSG=/dev/null GT_NR_HUGEPAGES=$c/nr$i GT_SCRATCH=$c/scratch$i \
		"$TOP/scripts/guest-tests.sh" "$c/out" "$c/list" "$c/counts$i" "$c/claims" >"$c/log$i" 2>&1 &
done
wait
ran=$(cat "$c/log1" "$c/log2" | grep -c '^==> test project-t[0-9] done')
if [ "$ran" = 6 ] && ! grep -q 'project-t3 ' "$c/log1" "$c/log2" &&
	[ "$(cat "$c/counts1" "$c/counts2" | awk '{ p += $1; f += $2 } END { print p, f }')" = "6 0" ] &&
	[ "$(find "$c/claims" -mindepth 1 | wc -l)" = 7 ] &&
	grep -qF '==> test project-t1 (1/7, about 7 min of tests left) ...' "$c/log1" "$c/log2" &&
	grep -qF '==> test project-t7 (7/7, about 1 min of tests left) ...' "$c/log1" "$c/log2"; then
	result ok "guest-tests.sh: two guests sharing a list run each unclaimed test once, printing k/N and the time left"
else
	result fail "guest-tests.sh: two guests sharing a list run each unclaimed test once, printing k/N and the time left (ran $ran: $(cat "$c/log1" "$c/log2" | tr '\n' ' '))"
fi
# The kernel build's progress line: files compiled of the expected count and
# the minutes left at the rate so far.
p=$tmp/progress
mkdir -p "$p"
for i in $(seq 50); do echo "  CC      f$i.o"; done >"$p/log"
(PROGRESS_INTERVAL=1 build_progress "$p/log" 100 >"$p/out" & pid=$!; sleep 2.5; kill $pid)
if grep -qE '^    50/100 files compiled, 0m0[1-3]s so far, about 1 min left$' "$p/out"; then
	result ok "a kernel build prints k/N files compiled and the minutes left"
else
	result fail "a kernel build prints k/N files compiled and the minutes left ($(head -n 2 "$p/out" | tr '\n' ' '))"
fi
# The file count a build's progress uses: the build directory's own count,
# else config/build-files, else 0, and never a failure (a missing
# config/build-files once stopped every first build).
mkdir -p "$p/obj" "$p/top/config"
echo 123 >"$p/obj/.build-files"
echo "debug 77" >"$p/top/config/build-files"
got="$(build_total "$p/obj" debug) $(TOP=$p/top build_total "$p/none" debug)"
got="$got $(TOP=$p/top build_total "$p/none" kasan) $(set -euo pipefail; TOP=$p/no build_total "$p/none" debug)"
if [ "$got" = "123 77 0 0" ]; then
	result ok "a build's file count comes from its last build, else config/build-files, else 0"
else
	result fail "a build's file count: '$got', not '123 77 0 0'"
fi
# make help names every phony target of the Makefile.
missing=
help=$(make -s --no-print-directory -C "$TOP" help)
for t in $(sed -n '/^\.PHONY:/,/[^\\]$/p' "$TOP/Makefile" | tr -d '\\' | sed 's/^\.PHONY://'); do
	[ "$t" = all ] || [ "$t" = help ] && continue
	grep -qE "^  ([a-z-]+ )*$t( |$)" <<<"$help" || missing="$missing $t"
done
if [ -z "$missing" ]; then
	result ok "make help names every target"
else
	result fail "make help does not name:$missing"
fi
# With a built kernel (KERNEL, FLAVOUR): the guest returns the command's
# exit status exactly, and its output.
if [ -f "$(obj_dir "${KERNEL:-patched}" "${FLAVOUR:-debug}")/arch/x86/boot/bzImage" ]; then
	out=$(VM_TIMEOUT=300 "$TOP/scripts/vm.sh" 'echo guest-says-hi; echo hung: $(cat /proc/sys/kernel/hung_task_timeout_secs /proc/sys/kernel/hung_task_all_cpu_backtrace); exit 7' 2>&1)
	rc=$?
	if [ $rc -eq 7 ] && grep -q guest-says-hi <<<"$out"; then
		result ok "vm.sh prints the guest command's output and exits with its status (7)"
	else
		result fail "vm.sh prints the guest command's output and exits with its status (got $rc: $out)"
	fi
	# The hung-task detector's settings from the kernel command line took.
	if grep -qx 'hung: 120 1' <<<"$out"; then
		result ok "guests report a task hung for 120 s, with every CPU's backtrace"
	else
		result fail "guests' hung-task settings: '$(grep '^hung:' <<<"$out")', not 'hung: 120 1'"
	fi
fi
# Live-patching kernel text under the guests' accelerator: 20 s of
# static-key flips on every vCPU's code paths, no kernel report (vm.sh's
# log watch fails the boot on one), and enough rounds to have meant it.
if [ -f "$(obj_dir "${KERNEL:-patched}" "${FLAVOUR:-debug}")/arch/x86/boot/bzImage" ]; then
	out=$(VM_TIMEOUT=300 "$TOP/scripts/vm.sh" "$TOP/scripts/tcg-smc-probe.sh" 20 2>&1)
	rc=$?
	rounds=$(sed -n 's/^tcg-smc-probe: \([0-9]*\) rounds.*/\1/p' <<<"$out")
	if [ $rc -eq 0 ] && [ "${rounds:-0}" -ge 10 ]; then
		result ok "live-patched kernel text in the guest: $rounds rounds of static-key flips, no report"
	else
		result fail "live-patched kernel text in the guest (status $rc, rounds ${rounds:-none}): $(tail -5 <<<"$out" | tr '\n' ' ')"
	fi
fi
# selftests/thp_kunit.sh fails a KUnit case that failed, and a suite that
# reported fewer cases than it announced (a fake results tree).
k=$tmp/kunit
for suite in thp_reserve_carve thp_reserve_fault thp_reserve_reclaim thp_reserve_sysfs; do
	mkdir -p "$k/$suite"
	printf 'KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: %s\n    1..2\n    ok 1 case_a\n    ok 2 case_b\nok 1 %s\n' \
		"$suite" "$suite" >"$k/$suite/results"
done
sed -i 's/^    ok 2 case_b$/    # case_b: EXPECTATION FAILED at x.c:1\n    not ok 2 case_b/' "$k/thp_reserve_fault/results"
sed -i '/^    ok 2 case_b$/d' "$k/thp_reserve_sysfs/results"
out=$(THP_KUNIT_DIR=$k bash "$TOP/selftests/thp_kunit.sh" 2>&1) && rc=0 || rc=$?
if [ $rc -ne 0 ] && grep -q '^not ok [0-9]* thp_reserve_fault: case_b$' <<<"$out" &&
	grep -q '^not ok [0-9]* thp_reserve_sysfs: 2 cases announced, 1 reported$' <<<"$out" &&
	grep -q '^ok [0-9]* thp_reserve_carve: all 2 cases reported$' <<<"$out"; then
	result ok "thp_kunit fails a failed KUnit case and a suite short of its plan"
else
	result fail "thp_kunit fails a failed KUnit case and a suite short of its plan (exit $rc)"
	sed 's/^/  | /' <<<"$out"
fi
# kselftest.h keeps its totals per translation unit: the helpers the
# selftests link (thp_util.c, thp_case.c) must not report a result, or it
# counts in their copy and the program's plan comes up short.
if grep -nE 'ksft_(test_result|inc_|set_plan|finished)' \
	"$TOP/selftests/thp_util.c" "$TOP/selftests/thp_case.c" >"$tmp/ksft" 2>&1; then
	result fail "the selftests' linked helpers report no kselftest result ($(head -n 1 "$tmp/ksft"))"
else
	result ok "the selftests' linked helpers report no kselftest result"
fi
# export.sh writes back only changes to existing kernel files: a commit that
# edits a file apply.sh copies from the repository is refused, and nothing
# in patches/ changes; a commit that edits a kernel file is exported.
ft=$tmp/export
mkdir -p "$ft/scripts" "$ft/patches" "$ft/selftests" "$ft/mm/thp_reserve"
cp "$TOP/scripts/lib.sh" "$TOP/scripts/export.sh" "$ft/scripts/"
for f in thp_reserve_a.c thp_util.c thp_util.h thp_case.c thp_case.h; do
	echo "/* $f */" >"$ft/selftests/$f"
done
echo "/* core */" >"$ft/mm/thp_reserve/core.c"
echo "# the series" >"$ft/patches/series"
kt=$ft/build/src/linux
# Git of the fake tree only, whatever GIT_* the caller (a hook) exports.
exenv=(env -u GIT_DIR -u GIT_INDEX_FILE -u GIT_WORK_TREE -u GIT_OBJECT_DIRECTORY
	GIT_CEILING_DIRECTORIES="$tmp")
exgit() { "${exenv[@]}" git -C "$kt" -c user.name=t -c user.email=t@localhost "$@"; }
mkdir -p "$kt/mm" "$kt/$SELFTESTS_IN_TREE"
echo "/* memory */" >"$kt/mm/memory.c"
exgit init -q
[ "$(exgit rev-parse --show-toplevel)" = "$kt" ] || die "harness: no git repository of its own in $kt"
exgit add -A && exgit commit -q -m base && exgit tag base
mkdir -p "$kt/mm/thp_reserve" && cp "$ft/mm/thp_reserve/core.c" "$kt/mm/thp_reserve/"
cp "$ft/selftests/"* "$kt/$SELFTESTS_IN_TREE/"
exgit add -A && exgit commit -q -m "selftests/mm: add the THP reservation tests"
echo "/* edited */" >>"$kt/$SELFTESTS_IN_TREE/thp_util.c"
exgit commit -q -am "edit a copied selftest helper"
out=$("${exenv[@]}" BUILD="$ft/build" bash "$ft/scripts/export.sh" 2>&1) && rc=0 || rc=$?
if [ $rc -ne 0 ] && grep -qF "change $SELFTESTS_IN_TREE/thp_util.c:" <<<"$out" &&
	[ "$(ls "$ft/patches")" = series ] && [ "$(cat "$ft/patches/series")" = "# the series" ]; then
	result ok "export refuses a commit that edits a file the repository owns"
else
	result fail "export refuses a commit that edits a file the repository owns (exit $rc)"
	sed 's/^/  | /' <<<"$out"
fi
exgit reset -q --hard HEAD~1
echo "/* edited */" >>"$kt/mm/memory.c"
exgit commit -q -am "mm: edit a kernel file"
out=$("${exenv[@]}" BUILD="$ft/build" bash "$ft/scripts/export.sh" 2>&1) && rc=0 || rc=$?
if [ $rc -eq 0 ] && [ -f "$ft/patches/mm-edit-a-kernel-file.patch" ] &&
	grep -qx "mm-edit-a-kernel-file.patch" "$ft/patches/series"; then
	result ok "export writes a commit that edits a kernel file as a patch"
else
	result fail "export writes a commit that edits a kernel file as a patch (exit $rc)"
	sed 's/^/  | /' <<<"$out"
fi
# run_vmtests.sh (as patched): a skip after a failure leaves the exit code
# at 1; a skip after passes makes it KSFT_SKIP. Its run_test() runs here
# with the TAP helpers stubbed.
rv=$KTREE/$SELFTESTS_IN_TREE/run_vmtests.sh
if [ -f "$rv" ] && sed -n '/^run_test() {$/,/^}$/p' "$rv" >"$tmp/run_test.sh" &&
	[ -s "$tmp/run_test.sh" ]; then
	rt_exit() {
		(
			test_selected() { return 0; }
			tap_prefix() { cat >/dev/null; }
			tap_output() { cat >/dev/null; }
			pretty_name() { echo "$*"; }
			# shellcheck disable=SC2034 # read by run_test
			ksft_skip=4 CATEGORY=none count_total=0 count_pass=0 count_skip=0 count_fail=0
			exitcode=0
			# shellcheck disable=SC1091
			. "$tmp/run_test.sh"
			for t in "$@"; do run_test sh -c "exit $t"; done
			echo "$exitcode"
		)
	}
	got="$(rt_exit 0 1 4 0) $(rt_exit 0 4 0)"
	if [ "$got" = "1 4" ]; then
		result ok "run_vmtests.sh: a skip after a failure does not hide it"
	else
		result fail "run_vmtests.sh: a skip after a failure does not hide it (exit codes '$got', want '1 4')"
	fi
else
	result fail "run_vmtests.sh: no run_test() in $rv"
fi
# thp_util's restore on a fake sysfs tree: a forked child's exit leaves
# the knobs alone, SIGTERM to the saving process runs the registered undo
# step and puts the knobs back, an ignored SIGHUP stays ignored. Plain
# files are not truncated by a write as sysfs attributes are replaced:
# each value the test writes has the length of the one it replaces.
fs=$tmp/fakesysfs
mkdir -p "$fs/khugepaged"
printf always >"$fs/enabled"
printf 10000 >"$fs/khugepaged/scan_sleep_millisecs"
printf "no " >"$fs/undo-ran"
cat >"$tmp/restore.c" <<'EOC'
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../kselftest.h"
#include "thp_util.h"

static void undo(void)
{
	write_text(THP_SYSFS "undo-ran", "yes");
}

int main(void)
{
	char v[64];
	int st;
	pid_t pid;

	signal(SIGHUP, SIG_IGN);
	thp_knobs_save();
	thp_on_cleanup(undo);
	thp_set("enabled", "never!");
	thp_set("khugepaged/scan_sleep_millisecs", "60000");
	pid = fork();
	if (!pid)
		exit(0);
	waitpid(pid, &st, 0);
	if (thp_get_policy("enabled", v, sizeof(v)) || strcmp(v, "never!"))
		return 2;	/* the child restored */
	raise(SIGHUP);
	kill(getpid(), SIGTERM);
	return 3;		/* SIGTERM did not end it */
}
EOC
ksft=$KTREE/tools/testing/selftests/mm
if [ -f "$ksft/../kselftest.h" ] &&
	gcc -O2 -Wall -Werror -DTHP_SYSFS="\"$fs/\"" -I"$TOP/selftests" -I"$ksft" -o "$tmp/restore" \
		"$tmp/restore.c" "$TOP/selftests/thp_util.c" 2>"$tmp/restore.err"; then
	"$tmp/restore" >/dev/null 2>&1
	rc=$?
	got="$rc $(cat "$fs/enabled") $(cat "$fs/khugepaged/scan_sleep_millisecs") $(cat "$fs/undo-ran" 2>/dev/null)"
	if [ "$got" = "$((128 + 15)) always 10000 yes" ]; then
		result ok "thp_util restores knobs and undo steps on SIGTERM, in the saving process only"
	else
		result fail "thp_util restores knobs and undo steps on SIGTERM, in the saving process only (got '$got', want '143 always 10000 yes')"
	fi
else
	result fail "thp_util restore test does not build: $(head -n 3 "$tmp/restore.err" 2>/dev/null)"
fi
echo "$pass $fail" >"$BUILD/harness-counts"
echo "harness: $pass passed, $fail failed"
[ $fail -eq 0 ]
