#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# lint.sh: checkpatch --strict on every patch of the exported series, and
# sparse (C=2) on every kernel C file the series touches, built in the debug
# flavour's build directory; a finding counts only if the base version of
# the file does not have it. Findings listed in config/lint-exceptions (an
# extended regex per line, then a tab and the reason) are reported, not
# counted. The reStructuredText the series adds or changes must parse
# with docutils with no new warning. Prints "lint: N passed, N failed" and
# writes the counts to build/lint-counts.
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
step_begin "lint: checkpatch --strict"
for p in "$BUILD"/series/*.patch; do
	case $p in */0000-cover-letter.patch) continue ;; esac
	name=$(basename "$p")
	# spdxcheck.py needs python3-ply and python3-git: use the distribution python3 first.
	out=$(PATH=/usr/bin:$PATH "$KTREE/scripts/checkpatch.pl" --strict --no-summary --terse --show-types "$p" 2>&1 || true)
	count_findings "checkpatch: $name" "$out"
done
step_end "lint: checkpatch --strict"

step_begin "lint: sparse"
command -v sparse >/dev/null || die "sparse missing: apt-get install sparse"
obj=$(obj_dir patched debug)
[ -f "$obj/.config" ] || "$TOP/scripts/build.sh" patched debug
mapfile -t files < <(git -C "$KTREE" diff --name-only --diff-filter=AM base HEAD -- '*.c' ':!tools' ':!Documentation' ':!scripts')
# sparse_msgs FILE: the file's sparse findings without their line:column, so
# that those of the base and the patched version compare.
sparse_msgs() {
	kmake patched debug C=2 "${1%.c}.o" 2>&1 | grep -E '(warning|error):' |
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
	out=$(comm -13 <(printf '%s\n' "$base") <(sparse_msgs "$f") | sed '/^$/d')
	count_findings "sparse: $f" "$out"
done
[ ${#files[@]} -gt 0 ] || echo "  (the series touches no kernel C file yet)"
step_end "lint: sparse"

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
	out=$(comm -13 <(printf '%s\n' "$base" | sort -u) \
		<(/usr/bin/python3 "$TOP/scripts/rstcheck.py" "$KTREE/$f" "$f" 2>&1 | sort -u) | sed '/^$/d')
	count_findings "rst: $f" "$out"
done
step_end "lint: reStructuredText"
echo "$pass $fail" >"$BUILD/lint-counts"
echo "lint: $pass passed, $fail failed (log: $log)"
[ $fail -eq 0 ]
