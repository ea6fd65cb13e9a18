#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# lint.sh: checkpatch --strict on every patch of the exported series, and
# sparse (C=2) on every kernel C file the series touches, built in the debug
# flavour's build directory. Findings listed in config/lint-exceptions (an
# extended regex per line, then a tab and the reason) are reported, not
# counted. Prints "lint: N passed, N failed" and writes the counts to
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
step_begin "lint: checkpatch --strict"
for p in "$BUILD"/series/*.patch; do
	case $p in */0000-cover-letter.patch) continue ;; esac
	name=$(basename "$p")
	out=$("$KTREE/scripts/checkpatch.pl" --strict --no-summary --terse --show-types "$p" 2>&1 || true)
	count_findings "checkpatch: $name" "$out"
done
step_end "lint: checkpatch --strict"

step_begin "lint: sparse"
command -v sparse >/dev/null || die "sparse missing: apt-get install sparse"
obj=$(obj_dir patched debug)
[ -f "$obj/.config" ] || "$TOP/scripts/build.sh" patched debug
mapfile -t files < <(git -C "$KTREE" diff --name-only --diff-filter=AM base HEAD -- '*.c' ':!tools' ':!Documentation' ':!scripts')
for f in "${files[@]}"; do
	out=$(kmake patched debug C=2 "${f%.c}.o" 2>&1 | grep -E '(warning|error):' || true)
	count_findings "sparse: $f" "$out"
done
[ ${#files[@]} -gt 0 ] || echo "  (the series touches no kernel C file yet)"
step_end "lint: sparse"
echo "$pass $fail" >"$BUILD/lint-counts"
echo "lint: $pass passed, $fail failed (log: $log)"
[ $fail -eq 0 ]
