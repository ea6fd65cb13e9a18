#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# lint.sh: checkpatch --strict on every patch of the exported series, and
# sparse (C=2) on every kernel C file the series touches, built in the debug
# flavour's build directory; a finding counts only if the base version of
# the file does not have it. Findings listed in config/lint-exceptions (an
# extended regex per line, then a tab and the reason) are reported, not
# counted. The reStructuredText the series adds or changes must parse
# with docutils with no new warning, sparse findings include the compiler's
# W=1 warnings, the series must apply to the newest linux-source-6.12
# the archive serves, and small configurations with THP off, with
# reservations built out and with reservations in must build and link.
# Prints "lint: N passed, N failed" and writes the counts to
# build/lint-counts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$TOP/scripts/series.sh" >/dev/null
exc=$TOP/config/lint-exceptions
log=$BUILD/log/lint.log
: >"$log"
pass=0 fail=0
excepted() {
	local line=$1 re reason
	while IFS=$'\t' read -r re reason; do
		case $re in ''|'#'*) continue ;; esac
		if grep -qE -- "$re" <<<"$line"; then
			echo "  excepted: $line ($reason)"
			return 0
		fi
	done <"$exc"
	return 1
}
# count_findings WHAT OUTPUT: one pass, or one failure listing each finding
# of OUTPUT that config/lint-exceptions does not excuse.
count_findings() {
	local what=$1 out=$2 l bad=0
	printf '%s:\n%s\n' "$what" "$out" >>"$log"
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		excepted "$l" || { echo "  $l"; bad=1; }
	done <<<"$out"
	if [ $bad -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "  FAIL $what"
	fi
}
# new_findings BASE NOW: the lines of NOW that BASE does not have, so that
# a check counts only what the series brings in.
new_findings() {
	comm -13 <(printf '%s\n' "$1" | sort -u) <(printf '%s\n' "$2" | sort -u) | sed '/^$/d'
}
step_begin "lint: checkpatch --strict"
for p in "$BUILD"/series/*.patch; do
	case $p in */0000-cover-letter.patch) continue ;; esac
	name=$(basename "$p")
	# spdxcheck.py needs python3-ply and python3-git: use the distribution python3 first.
	out=$(PATH=/usr/bin:$PATH "$KTREE/scripts/checkpatch.pl" --strict --no-summary --terse --show-types "$p" 2>&1 || true)
	count_findings "checkpatch: $name" "$out"
done
step_end "lint: checkpatch --strict"

step_begin "lint: sparse and W=1"
command -v sparse >/dev/null || die "sparse missing: apt-get install sparse"
obj=$(obj_dir patched debug)
[ -f "$obj/.config" ] || "$TOP/scripts/build.sh" patched debug
mapfile -t files < <(git -C "$KTREE" diff --name-only --diff-filter=AM base HEAD -- '*.c' ':!tools' ':!Documentation' ':!scripts')
# sparse_msgs FILE: the file's sparse findings and the compiler's W=1
# warnings, without their line:column, so that those of the base and the
# patched version compare.
sparse_msgs() {
	kmake patched debug C=2 W=1 "${1%.c}.o" 2>&1 | grep -E '(warning|error):' |
		sed -E 's/:[0-9]+:[0-9]+: /: /' | sort -u || true
}
restore=
# The restored file is touched so that the next build recompiles the object
# that the base version left behind.
trap '[ -z "$restore" ] || { mv -f "$restore.lintsave" "$restore"; touch "$restore"; }' EXIT
for f in "${files[@]}"; do
	# Findings the stock file already has are not the series' doing: check
	# the base version in the same build (then the patched one, which also
	# rebuilds its object).
	base=
	if git -C "$KTREE" cat-file -e "base:$f" 2>/dev/null; then
		restore=$KTREE/$f
		cp "$KTREE/$f" "$restore.lintsave"
		git -C "$KTREE" show "base:$f" >"$KTREE/$f"
		base=$(sparse_msgs "$f")
		mv -f "$restore.lintsave" "$restore"
		touch "$restore"
		restore=
	fi
	out=$(new_findings "$base" "$(sparse_msgs "$f")")
	count_findings "sparse and W=1: $f" "$out"
done
[ ${#files[@]} -gt 0 ] || echo "  (the series touches no kernel C file yet)"
step_end "lint: sparse and W=1"

# The documentation the series adds or changes must parse as
# reStructuredText with no new warning (scripts/rstcheck.py: docutils,
# without the roles and directives only Sphinx knows).
step_begin "lint: reStructuredText"
mapfile -t docs < <(git -C "$KTREE" diff --name-only --diff-filter=AM base HEAD -- '*.rst')
for f in "${docs[@]}"; do
	base=
	if git -C "$KTREE" cat-file -e "base:$f" 2>/dev/null; then
		git -C "$KTREE" show "base:$f" >"$BUILD/lint-base.rst"
		base=$(/usr/bin/python3 "$TOP/scripts/rstcheck.py" "$BUILD/lint-base.rst" "$f")
		rm -f "$BUILD/lint-base.rst"
	fi
	out=$(new_findings "$base" "$(/usr/bin/python3 "$TOP/scripts/rstcheck.py" "$KTREE/$f" "$f" 2>&1)")
	count_findings "rst: $f" "$out"
done
step_end "lint: reStructuredText"

# The series must also apply, as it is, to the newest $KSRC_PKG the archive
# serves when that is not the pinned version: its package is downloaded
# once into build/newest/VERSION/, and git am applies the series to the
# files it touches, taken from that version's source.
step_begin "lint: the series on the newest $KSRC_PKG"
newest=$(apt-cache madison "$KSRC_PKG" 2>/dev/null | awk '{ print $3 }' | sort -V | tail -n 1)
if [ -z "$newest" ]; then
	count_findings "newest $KSRC_PKG" "apt-cache knows no $KSRC_PKG: run apt-get update"
elif [ "$newest" = "$KSRC_PIN" ]; then
	echo "  $KSRC_PIN, the pinned version, is the newest served"
	count_findings "series on the newest $KSRC_PKG ($newest)" ""
else
	dir=$BUILD/newest/$newest
	tarball=$dir/pkg/usr/src/$KSRC_PKG.tar.xz
	out=
	if [ ! -f "$tarball" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		if ! (cd "$dir" && apt-get download -q "$KSRC_PKG=$newest") >>"$log" 2>&1 ||
			! dpkg-deb -x "$dir"/*.deb "$dir/pkg" >>"$log" 2>&1 || [ ! -f "$tarball" ]; then
			out="could not download and unpack $KSRC_PKG $newest (see $log)"
			rm -rf "$dir"
		fi
	fi
	mapfile -t series < <(ls "$BUILD"/series/[0-9]*.patch | grep -v '/0000-cover-letter.patch$')
	if [ -z "$out" ]; then
		mapfile -t touched < <(cat "${series[@]}" | sed -n 's|^--- a/||p' | sort -u)
		tree=$dir/tree
		rm -rf "$tree"
		mkdir -p "$tree"
		top=$(tar -tJf "$tarball" 2>/dev/null | head -n 1 || true)
		tar -xJf "$tarball" -C "$tree" --strip-components=1 "${touched[@]/#/${top%/}/}" >>"$log" 2>&1 ||
			out="$KSRC_PKG $newest lacks a file the series changes (see $log)"
	fi
	if [ -z "$out" ]; then
		git -C "$tree" init -q
		git -C "$tree" add -A
		git -C "$tree" -c user.name=lint -c user.email=lint@localhost commit -q -m "$KSRC_PKG $newest"
		am=$(git -C "$tree" -c user.name=lint -c user.email=lint@localhost \
			am "${series[@]}" 2>&1) ||
			out=$(printf 'does not apply to %s %s:\n%s' "$KSRC_PKG" "$newest" \
				"$(grep -E '^(Applying|error|Patch failed|Patch is empty)' <<<"$am")")
	fi
	count_findings "series on the newest $KSRC_PKG ($newest)" "$out"
fi
step_end "lint: the series on the newest $KSRC_PKG"

# The feature must build in and out of small configurations: x86_64
# tinyconfig with THP off, with THP but CONFIG_THP_RESERVATIONS=n, and with
# reservations but none of the memcg, swap, hibernation and fault injection
# the debug kernel has. Each is built and linked (vmlinux) in its own kept
# directory build/obj/lint-NAME/, with ccache; any error, undefined symbol
# or compiler warning is a finding. LINT_CONFIGS names the ones to build
# (default all three; make check builds no-reservations only: each costs
# some 5 minutes on a machine whose ccache is cold).
step_begin "lint: configurations"
configs=${LINT_CONFIGS:-thp-off no-reservations tiny-reservations}
for c in "thp-off:# CONFIG_TRANSPARENT_HUGEPAGE is not set" \
	"no-reservations:CONFIG_TRANSPARENT_HUGEPAGE=y,# CONFIG_THP_RESERVATIONS is not set" \
	"tiny-reservations:CONFIG_TRANSPARENT_HUGEPAGE=y,CONFIG_THP_RESERVATIONS=y"; do
	name=${c%%:*}
	[[ " $configs " == *" $name "* ]] || continue
	cobj=$BUILD/obj/lint-$name
	clog=$BUILD/log/lint-config-$name.log
	mkdir -p "$cobj"
	tr , '\n' <<<"${c#*:}" >"$cobj/lint.config"
	out=
	if ! { make -C "$KTREE" O="$cobj" ARCH=x86_64 tinyconfig &&
		"$KTREE/scripts/kconfig/merge_config.sh" -m -O "$cobj" "$cobj/.config" "$cobj/lint.config" &&
		make -C "$KTREE" O="$cobj" ARCH=x86_64 olddefconfig; } >"$clog" 2>&1; then
		out="could not configure $name (see $clog)"
	fi
	while [ -z "$out" ] && IFS= read -r want; do
		grep -qxF -- "$want" "$cobj/.config" || out="the $name configuration did not keep: $want"
	done <"$cobj/lint.config"
	if [ -z "$out" ] && ! make -C "$KTREE" O="$cobj" ARCH=x86_64 -j"$JOBS" \
		CC="ccache gcc" HOSTCC="ccache gcc" vmlinux >>"$clog" 2>&1; then
		out=$(grep -E 'error|undefined reference' "$clog" | head -n 20 || true)
		out=${out:-"the $name build failed (see $clog)"}
	fi
	[ -n "$out" ] ||
		out=$(grep -E ': warning:' "$clog" | sed -E 's/:[0-9]+:[0-9]+: /: /' | sort -u || true)
	count_findings "builds and links: $name" "$out"
done
for name in $configs; do
	case $name in thp-off | no-reservations | tiny-reservations) ;;
	*) count_findings "configuration $name" "LINT_CONFIGS names $name: known are thp-off, no-reservations, tiny-reservations" ;;
	esac
done
step_end "lint: configurations"
echo "$pass $fail" >"$BUILD/lint-counts"
echo "lint: $pass passed, $fail failed (log: $log)"
[ $fail -eq 0 ]
