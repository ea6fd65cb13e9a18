#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# check.sh: make check. Builds the KERNEL (patched|vanilla) in FLAVOUR
# (debug|kasan), the selftests, runs make lint (patched only), and runs the
# project's selftests and the upstream THP-related mm kselftests (a second
# time at promotion_threshold=1 unless PARITY=0) in two guests side by side
# that share the list (GUESTS=1 for one). Ends with "N passed, N failed,
# N skipped"; exits non-zero on any failure, kernel splat, taint or hang.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KERNEL=${KERNEL:-patched}
FLAVOUR=${FLAVOUR:-debug}
export KERNEL FLAVOUR
t0=$(date +%s)
"$TOP/scripts/setup.sh"
"$TOP/scripts/build.sh" "$KERNEL" "$FLAVOUR"
"$TOP/scripts/selftests.sh"

pass=0 fail=0 skip=0
step_begin "harness self-tests"
rm -f "$BUILD/harness-counts"
"$TOP/scripts/harness-tests.sh" || true
if counts=$(read_counts "$BUILD/harness-counts" "the harness self-tests"); then
	read -r hp hf <<<"$counts"
	pass=$((pass + hp)) fail=$((fail + hf))
else
	fail=$((fail + 1))
fi
step_end "harness self-tests"
if [ "$KERNEL" = patched ] && [ "${LINT:-1}" = 1 ]; then
	# A lint run that dies early leaves no counts: that is a failure, not
	# the previous run's counts.
	rm -f "$BUILD/lint-counts"
	# Of the small configurations, the one that builds the feature out.
	LINT_CONFIGS=${LINT_CONFIGS:-no-reservations} "$TOP/scripts/lint.sh" || true
	if counts=$(read_counts "$BUILD/lint-counts" "make lint"); then
		read -r lp lf <<<"$counts"
		pass=$((pass + lp)) fail=$((fail + lf))
	else
		fail=$((fail + 1))
	fi
fi

release=$(cat "$(obj_dir "$KERNEL" "$FLAVOUR")/kernelrelease")
res=$BUILD/results/check-$release-$(date +%Y%m%d-%H%M%S)
mkdir -p "$res"
ln -sfn "$res" "$BUILD/results/check-latest"
{
	echo "kernel: $release"
	echo "source: Debian $KSRC_PKG $(cat "$SRC/debian-version") (Linux $(cat "$SRC/kernel-version"))"
	echo "series: $(git -C "$KTREE" rev-list --count base..HEAD) commits on base"
	echo "date: $(date -u +%FT%TZ)"
} >"$res/kernel-version"
list=$res/tests
{
	# The project's tests: those outside the tree, and the reservation
	# tests built in the tree's mm selftests, one per ksft_own_tests
	# (a binary left from a removed source does not run).
	for t in "$BUILD"/kselftest/project/*; do
		[ -x "$t" ] && printf 'project-%s\t%s\t./%s\n' "$(basename "$t")" "$BUILD/kselftest/project" "$(basename "$t")"
	done
	for t in $(ksft_own_tests); do
		printf 'project-%s\t%s\t./%s\n' "$t" "$BUILD/kselftest/mm" "$t"
	done
	grep -v '^#' "$TOP/selftests/upstream-tests" | grep -v '^$' |
		while IFS=$'\t' read -r label cmd; do
			printf '%s\t%s\t%s\n' "$label" "$BUILD/kselftest/mm" "$cmd"
		done
	# Parity: the upstream tests once more with promotion_threshold=1,
	# where the kernel must behave as the stock one (label@t1).
	if [ "$KERNEL" = patched ] && [ "${PARITY:-1}" = 1 ]; then
		grep -v '^#' "$TOP/selftests/upstream-tests" | grep -v '^$' |
			while IFS=$'\t' read -r label cmd; do
				printf '%s@t1\t%s\t%s\n' "$label" "$BUILD/kselftest/mm" "$cmd"
			done
	fi
} >"$list"
if [ -n "${TESTS:-}" ]; then
	select_tests "$list" "$TESTS" || exit 1
fi
# Tests that need a kernel command line of their own (selftests/boot-tests)
# go to list "boot": each gets a boot of its own. The rest are shared.
boot_tests=$TOP/selftests/boot-tests
split_boot_tests "$list" "$boot_tests"
# Longest first (selftests/test-seconds; a test not listed counts as 60 s):
# the guests take tests from one shared list, and starting the long ones
# early makes them finish together.
awk -F'\t' -v f="$TOP/selftests/test-seconds" \
	'FILENAME == f { if ($0 !~ /^#/ && NF) secs[$1] = $2; next }
	{ print ($1 in secs ? secs[$1] : 60) "\t" $0 }' \
	"$TOP/selftests/test-seconds" "$list.shared" | sort -s -t$'\t' -k1,1nr | cut -f2- >"$list.sorted"
# Tests listed in selftests/upstream-parallel go to list "m", run in boots
# with one host thread per vCPU; the rest (list "main") run with TCG's
# default here, all vCPUs on one host thread (see scripts/vm.sh).
awk -F'\t' -v f="$TOP/selftests/upstream-parallel" \
	'FILENAME == f { if ($0 !~ /^#/ && NF) par[$1] = 1; next }
	{ l = $1; sub(/@t1$/, "", l); print > (out (l in par ? ".m" : ".main")) }' \
	out="$list" "$TOP/selftests/upstream-parallel" "$list.sorted"
touch "$list.main" "$list.m"
# Two guests side by side (GUESTS=1: one), each a boot that takes the next
# unclaimed test of list main until none is left, then a boot that does the
# same with list m: the host has two cores and each test keeps about one
# vCPU busy. A guest is booted only if its list has a test for it.
nguests=2
[ "${GUESTS:-2}" -ge 2 ] || nguests=1
mkdir -p "$res/claims.main" "$res/claims.m"
ids=
for n in $(seq "$nguests"); do
	[ "$(wc -l <"$list.main")" -ge "$n" ] && ids="$ids $n"
	[ "$(wc -l <"$list.m")" -ge "$n" ] && ids="$ids ${n}m"
done
guests=$(seq "$nguests")
echo "==> boot $release and run $(wc -l <"$list.shared") tests in $nguests guest(s) (results: $res)"
# lane_left LANE: how many tests of list LANE no guest has taken yet.
lane_left() {
	echo $(($(wc -l <"$list.$1") - $(find "$res/claims.$1" -mindepth 1 -maxdepth 1 | wc -l)))
}
# boot_guest ID LIST [CLAIMS]: one boot of guest ID that runs the tests of
# LIST (with CLAIMS, only those no other guest has taken); leaves ID.rc,
# ID.counts, console-ID.log, and ID.why if it hung, crashed or reported a
# splat. VM_CPUS, VM_MEM, VM_APPEND, VM_TIMEOUT (default 3600 s) and
# TCG_THREAD from the caller reach vm.sh.
boot_guest() {
	local n=$1 tlist=$2 claims=${3:-} rc=0 console sharers=1
	[ -z "$claims" ] || sharers=$nguests
	console=$BUILD/log/console/$(basename "$res")-$n.log
	VM_CONSOLE=$console VM_WHY=$res/$n.why VM_TIMEOUT=${VM_TIMEOUT:-3600} \
		"$TOP/scripts/vm.sh" env SOAK_SECONDS="${SOAK_SECONDS:-60}" \
		FUZZ_OPS="${FUZZ_OPS:-20000}" TEST_TIMEOUT="${TEST_TIMEOUT:-900}" \
		GT_SHARERS=$sharers \
		"$TOP/scripts/guest-tests.sh" "$res" "$tlist" "$res/$n.counts" \
		${claims:+"$claims"} || rc=$?
	cp "$console" "$res/console-$n.log" 2>/dev/null || true
	echo $rc >"$res/$n.rc"
}
# Each test of list boot: a boot of its own (one vCPU, 1 GiB) with its
# parameters added to the kernel command line, before the shared guests.
nb=0
while IFS=$'\t' read -r label dir cmd; do
	nb=$((nb + 1))
	params=$(awk -F'\t' -v l="$label" '$1 == l { print $2; exit }' "$boot_tests")
	[ -n "$params" ] || die "selftests/boot-tests gives $label no kernel parameters"
	printf '%s\t%s\t%s\n' "$label" "$dir" "$cmd" >"$res/boot$nb.list"
	echo "==> boot $release with \"$params\" for $label"
	VM_CPUS=1 VM_MEM=1024 VM_APPEND=$params \
		VM_TIMEOUT=${VM_TIMEOUT:-$((${TEST_TIMEOUT:-900} + 600))} \
		boot_guest "boot$nb" "$res/boot$nb.list" </dev/null 2>&1 | sed -u "s/^/[boot $nb] /"
	ids="$ids boot$nb"
done <"$list.boot"
# guest ID: runs guest ID's share of its list. A guest whose list has no
# test left when its turn comes is not booted (counts "0 0 0"). Ids ending
# in m run with TCG_THREAD=multi, where QEMU 7.2 can run stale code after
# the kernel patches itself (see scripts/vm.sh): such a guest that ends
# silently (no hang, no kernel report) before its test script starts (no
# ID.took) loses no test, and is booted once more if a test is left; the
# first boot's console and reason are kept as ID.boot1.* and named in the
# summary. Any other death, a death after the tests start, or a second one
# fails the run.
guest() {
	local n=$1 thread=${TCG_THREAD:-single} lane=main boots=0
	[[ " $ids " == *" $n "* ]] || return 0
	[ "${n%m}" != "$n" ] && thread=multi lane=m
	while :; do
		if [ "$(lane_left $lane)" -le 0 ]; then
			echo "==> guest $n not booted: every test of list $lane was taken"
			echo "0 0 0" >"$res/$n.counts"
			echo 0 >"$res/$n.rc"
			return 0
		fi
		TCG_THREAD=$thread boot_guest "$n" "$list.$lane" "$res/claims.$lane"
		boots=$((boots + 1))
		[ "$thread" = multi ] && [ $boots = 1 ] && [ ! -f "$res/$n.counts" ] &&
			[ ! -f "$res/$n.took" ] &&
			grep -q '^ended without finishing its command and without a kernel report' \
				"$res/$n.why" 2>/dev/null || return 0
		mv "$res/console-$n.log" "$res/console-$n.boot1.log" 2>/dev/null || true
		mv "$res/$n.why" "$res/$n.boot1.why"
		echo "==> guest $n died before its tests started: it boots once more if a test is left"
	done
}
for n in $guests; do
	if [ "$nguests" = 1 ]; then
		guest "$n"
		guest "${n}m"
	else
		{ guest "$n"; guest "${n}m"; } 2>&1 | sed -u "s/^/[guest $n] /" &
	fi
done
wait
# Every test of both lists was taken by a guest (one that died early leaves
# the rest to the other; one that dies with none left ends its list short).
for lane in main m; do
	want=$(wc -l <"$list.$lane")
	got=$(find "$res/claims.$lane" -mindepth 1 -maxdepth 1 | wc -l)
	if [ "$got" -ne "$want" ]; then
		echo "error: $((want - got)) of the $want tests of list $lane were never started"
		fail=$((fail + 1))
	fi
done
for n in $ids; do
	if [ -f "$res/$n.counts" ]; then
		read -r gp gf gs <"$res/$n.counts"
		pass=$((pass + gp)) fail=$((fail + gf)) skip=$((skip + gs))
	else
		running=
		[ -s "$res/$n.took" ] && running="; it had started $(tail -n 1 "$res/$n.took")"
		echo "error: guest $n did not finish its test run: $(cat "$res/$n.why" 2>/dev/null ||
			echo "no reason recorded")$running (console: $res/console-$n.log)" >&2
		fail=$((fail + 1))
	fi
	if [ "$(cat "$res/$n.rc")" -ne 0 ] && [ -f "$res/$n.counts" ]; then
		# The tests finished, but the kernel reported a splat or was tainted.
		echo "FAIL: kernel log check of guest $n (see above; console: $res/console-$n.log)"
		fail=$((fail + 1))
	fi
	# A boot test checks what its kernel command line does: on the patched
	# kernel, one that passed nothing (skipped: no parameter, no feature)
	# did not check it.
	if [ "${n#boot}" != "$n" ] && [ "$KERNEL" = patched ] && [ -f "$res/$n.counts" ] &&
		[ "$(cut -d' ' -f1 "$res/$n.counts")" = 0 ]; then
		echo "FAIL: $(cut -f1 "$res/$n.list") passed no case in its boot (log: $res/$(cut -f1 "$res/$n.list").log)"
		fail=$((fail + 1))
	fi
done
for f in "$res"/*.boot1.why; do
	[ -f "$f" ] || continue
	n=$(basename "$f" .boot1.why)
	echo "note: guest $n died before its tests started and was booted again: $(cat "$f") (console: $res/console-$n.boot1.log)"
done
# The failed tests last, beside the totals, where a log's tail shows them.
if cat "$res"/*.failed >/dev/null 2>&1; then
	echo "failed tests (label: what failed; logs in $res):"
	cat "$res"/*.failed | sed 's/\t/: /; s/^/  /'
fi
[ -f "$res/retried" ] && echo "note: flaky upstream tests rerun after a failure (one line per rerun): $(tr '\n' ' ' <"$res/retried")(failed runs: $res/*.attempt*.log)"
t=$(($(date +%s) - t0))
echo "make check: $release, $((t / 60))m$((t % 60))s, results in $res"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
