# SPDX-License-Identifier: GPL-2.0
# Sourced by the benchmark drivers after scripts/lib.sh.

# The policies make bench runs by default (the *-mthp64 ones only in the
# mthp scenario), and every policy a driver knows (POLICIES may name any
# of them; bench-summary.sh reads their results).
BENCH_DEFAULT_POLICIES="vanilla-never vanilla-madvise vanilla-always vanilla-always-underused409 vanilla-always-none0 reserve-t1 reserve-t64 reserve-t256 reserve-t512 reserve-t256-mthp64 vanilla-mthp64"
BENCH_ALL_POLICIES="$BENCH_DEFAULT_POLICIES patched-never patched-madvise"

# Every benchmark guest has its memory backed on the host before it boots
# (scripts/vm.sh explains why); VM_PREALLOC=0 measures without that.
VM_PREALLOC=${VM_PREALLOC:-1}
export VM_PREALLOC

# bench_begin DESCRIPTION: install what is missing, build the perf
# kernels (patched, and vanilla unless BENCH_VANILLA=0), and make the results directory $res
# (benchmarks/results/<kernel>-<date>, or under $BENCH_RESULTS)
# with its kernel-version file,
# and the raw directory $raw under build/, which the guest can write.
bench_begin() {
	local release
	"$TOP/scripts/setup.sh"
	"$TOP/scripts/build.sh" patched perf
	[ "${BENCH_VANILLA:-1}" = 0 ] || "$TOP/scripts/build.sh" vanilla perf
	mkdir -p "$BUILD/tools"
	release=$(cat "$(obj_dir patched perf)/kernelrelease")
	name=${release%-patched-perf}-$(date +%Y%m%d-%H%M%S)
	res=${BENCH_RESULTS:-$TOP/benchmarks/results}/$name
	raw=$BUILD/bench/$name/raw
	mkdir -p "$res" "$raw"
	{
		echo "patched: $release"
		[ "${BENCH_VANILLA:-1}" = 0 ] ||
			echo "vanilla: $(cat "$(obj_dir vanilla perf)/kernelrelease")"
		echo "source: Debian $KSRC_PKG $(cat "$SRC/debian-version")"
		echo "date: $(date -u +%FT%TZ)"
		echo "runs: $1"
		echo "guest memory preallocated on the host: $([ "$VM_PREALLOC" = 1 ] && echo yes || echo no)"
	} >"$res/kernel-version"
}

# bench_stat FILES KEY: "median min max runs" of the KEY=value lines in
# FILES (a glob), "n/a n/a n/a 0" when there is none.
bench_stat() {
	# shellcheck disable=SC2086
	cat $1 2>/dev/null | sed -n "s/^$2=//p" | grep -v '^n/a$' | sort -g |
		awk -v OFMT='%.10g' '{ v[NR] = $1 } END {
			if (!NR) { print "n/a n/a n/a 0"; exit }
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print m, v[1], v[NR], NR }'
}

# bench_ratio A B: A / B with three decimals, n/a when either is missing.
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"
		else printf "%.3f", a / b }'
}

# bench_val CSV SCENARIO POLICY METRIC: the value column of that row.
bench_val() {
	awk -F, -v s="$2" -v p="$3" -v m="$4" '$1 == s && $2 == p && $3 == m { print $4 }' "$1"
}
