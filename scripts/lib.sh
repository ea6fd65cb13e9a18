# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the harness scripts. Source it; it defines no side effects.

# One place that pins the kernel source: the Debian package and its version.
KSRC_PKG=linux-source-6.12
# (KSRC_PIN may be overridden from the environment, e.g. to try another build.)
KSRC_PIN=${KSRC_PIN:-6.12.117-1~deb12u1}

# The scripts run their own makes (kernel, selftests): variables given to the
# front-door make (KERNEL=, TESTS=, ...) must not leak into them.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}

# Progress: step_begin NAME; ...; step_end NAME (prints elapsed seconds).
declare -A _step_t0
step_begin() {
	_step_t0[$1]=$(date +%s)
	printf '==> %s ...\n' "$1"
}
step_end() {
	local t=$(( $(date +%s) - ${_step_t0[$1]:-$(date +%s)} ))
	printf '==> %s done (%dm%02ds)\n' "$1" $((t / 60)) $((t % 60))
}
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}
warn() {
	printf 'warning: %s\n' "$*" >&2
}
# run_logged LOG CMD...: run CMD with output in LOG; on failure print the
# log's path and last lines, and fail.
run_logged() {
	local log=$1
	shift
	mkdir -p "$(dirname "$log")"
	if ! "$@" >"$log" 2>&1; then
		printf 'error: %s failed; log: %s (last 30 lines follow)\n' "$*" "$log" >&2
		tail -n 30 "$log" >&2
		return 1
	fi
}

# build_total OBJ FLAVOUR: the number of files a full build of OBJ compiles:
# what its last full build counted (OBJ/.build-files), else the count
# config/build-files gives for FLAVOUR, else 0. Never fails.
build_total() {
	local n
	n=$(cat "$1/.build-files" 2>/dev/null) ||
		n=$(awk -v f="$2" '$1 == f { print $2 }' "$TOP/config/build-files" 2>/dev/null) ||
		n=
	echo "${n:-0}"
}

# build_progress LOG TOTAL: while the kernel build writing LOG runs, print
# every PROGRESS_INTERVAL seconds (default 60) how many files it compiled
# ("CC" lines), of TOTAL if TOTAL is not 0, and the minutes left at the
# rate so far. Run it in the background and kill it when the build ends.
build_progress() {
	local log=$1 total=$2 t0 k t left
	t0=$(date +%s)
	while sleep "${PROGRESS_INTERVAL:-60}" </dev/null >/dev/null 2>&1; do
		k=$(grep -c '^ *CC ' "$log" 2>/dev/null) || k=0
		t=$(($(date +%s) - t0))
		if [ "$total" -gt 0 ] && [ "$k" -gt 0 ] && [ "$k" -lt "$total" ]; then
			left=$(((t * (total - k) / k + 59) / 60))
			printf '    %d/%d files compiled, %dm%02ds so far, about %d min left\n' \
				"$k" "$total" $((t / 60)) $((t % 60)) "$left"
		else
			printf '    %d files compiled, %dm%02ds so far\n' "$k" $((t / 60)) $((t % 60))
		fi
	done
}

SRC=$BUILD/src
KTREE=$SRC/linux		# git tree: tag "base" = pristine, HEAD = patched
# The mm selftests directory of the tree, relative to it: where apply.sh puts
# the reservation selftests and selftests.sh builds them (make check runs them).
SELFTESTS_IN_TREE=tools/testing/selftests/mm
# The files of selftests/ that go there: the reservation test programs
# (ksft_own_tests, names without .c) and the helpers they link. The one
# place that says which they are: apply.sh copies these, selftests/Makefile
# is told to leave them out, selftests.sh checks and check.sh runs them.
ksft_own_tests() {
	(cd "$TOP/selftests" && for f in thp_reserve*.c; do echo "${f%.c}"; done)
}
ksft_own_files() {
	(cd "$TOP/selftests" && ls thp_reserve*.c thp_util.[ch] thp_case.[ch])
}
# The project's new kernel source files (mm/, include/, Documentation/), as
# paths in the tree; apply.sh copies them there as they are.
own_kernel_files() {
	(cd "$TOP" && { find mm include Documentation -type f 2>/dev/null || true; } | sort)
}
# git worktree of "base", the stock kernel. Its source and build directories
# sit at the same relative distance as the patched ones, so that ccache (with
# BASEDIR) shares every object the series does not change.
VTREE=$BUILD/vanilla/src/linux
# Worktree in which make series-build applies the series patch by patch.
STREE=$BUILD/series-build/src/linux
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz

# obj_dir KERNEL FLAVOUR: the kept O= build directory of one kernel.
obj_dir() {
	case $1 in
	vanilla) echo "$BUILD/vanilla/obj/$1-$2" ;;
	series) echo "$BUILD/series-build/obj/$1-$2" ;;
	*) echo "$BUILD/obj/$1-$2" ;;
	esac
}
# kernel_tree KERNEL: the source tree of "patched" or "vanilla".
kernel_tree() {
	case $1 in
	patched) echo "$KTREE" ;;
	vanilla) echo "$VTREE" ;;
	series) echo "$STREE" ;;
	*) die "KERNEL must be patched or vanilla (or series, for make series-build), not '$1'" ;;
	esac
}

# ccache lives outside the clone so a fresh clone on this machine reuses it;
# BASEDIR makes its keys independent of where the clone is.
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/thp-reserve-ccache}
export CCACHE_BASEDIR=$TOP
export CCACHE_NOHASHDIR=1
JOBS=${JOBS:-$(nproc)}
# kmake KERNEL FLAVOUR ARGS...: make in that kernel's tree and build directory.
kmake() {
	local k=$1 f=$2
	shift 2
	make -C "$(kernel_tree "$k")" O="$(obj_dir "$k" "$f")" -j"$JOBS" \
		CC="ccache gcc" HOSTCC="ccache gcc" LOCALVERSION="-$k-$f" \
		KBUILD_BUILD_USER=thp-reserve KBUILD_BUILD_HOST=workbench "$@"
}

# select_tests LIST WORDS: keep the lines of the test list LIST whose label is
# one of WORDS (space- or comma-separated). A word that names no test fails
# with the list of known labels: a typo must not pass by running nothing.
select_tests() {
	local list=$1 w bad=
	for w in $(tr ',' ' ' <<<"$2"); do
		cut -f1 "$list" | grep -qxF -- "$w" || bad="$bad $w"
	done
	if [ -n "$bad" ]; then
		printf 'error: TESTS names no test:%s; known tests: %s\n' "$bad" \
			"$(cut -f1 "$list" | tr '\n' ' ')" >&2
		return 1
	fi
	awk -F'\t' -v words="$(tr ',' ' ' <<<"$2")" '
		BEGIN { n = split(words, w, " "); for (i = 1; i <= n; i++) want[w[i]] = 1 }
		$1 in want' "$list" >"$list.only" && mv "$list.only" "$list"
}

# split_boot_tests LIST BOOT: write LIST.boot with the tests of the test list
# LIST that the file BOOT ("label<TAB>kernel parameters" lines) names, each
# to be booted alone with its parameters, and LIST.shared with the others.
split_boot_tests() {
	# FILENAME, not NR == FNR: an empty BOOT must not swallow LIST.
	awk -F'\t' -v b="$2" 'FILENAME == b { if ($0 !~ /^#/ && NF) own[$1] = 1; next }
		{ print > (out ($1 in own ? ".boot" : ".shared")) }' \
		out="$1" "$2" "$1"
	touch "$1.boot" "$1.shared"
}

# read_counts FILE WHAT: print the "passed failed" that step WHAT left in
# FILE, or fail naming WHAT when it did not finish (no FILE).
read_counts() {
	if [ ! -s "$1" ]; then
		printf 'error: %s did not finish (no %s)\n' "$2" "$1" >&2
		return 1
	fi
	cat "$1"
}
