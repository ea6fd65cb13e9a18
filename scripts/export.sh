#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# export.sh: after editing kernel files in build/src/linux and committing
# there (one commit per patch, on top of what apply.sh made), write that
# tree's commits back into patches/ and patches/series. The project's own
# files (mm/, include/, Documentation/, the selftests that go into the
# tree) are edited in the repository itself; the commits that add them
# are not exported. Patch files are named after their subjects; old patch
# files no longer in the series are removed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$KTREE"
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
	die "uncommitted changes in $KTREE: commit them first"
# The newer of the commits apply.sh makes of the project's own files.
own=$(git log -1 --format=%H -E \
	--grep='^(mm: add the THP reservation sources|selftests/mm: add the THP reservation tests)$' base..HEAD)
from=${own:-base}
# A commit here must not change a file the repository owns: apply.sh copies
# those from the repository at every apply, so such a change would be
# exported as a patch against a copy, and lost from the source of truth.
mapfile -t owned < <(own_kernel_files; ksft_own_files | sed "s|^|$SELFTESTS_IN_TREE/|")
if [ ${#owned[@]} -gt 0 ]; then
	touched=$(git diff --name-only "$from" HEAD -- "${owned[@]}")
	[ -z "$touched" ] || die "commits after the project's own files change $(paste -sd' ' <<<"$touched"): edit them in $TOP, not in $KTREE, then drop those changes here"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git format-patch -q -N --zero-commit --no-signature -o "$tmp" "$from..HEAD"
old=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series")
{
	grep '^#' "$TOP/patches/series" || true
	for p in "$tmp"/*.patch; do
		name=$(basename "$p" | sed 's/^[0-9]*-//')
		cp "$p" "$TOP/patches/$name"
		echo "$name"
	done
} >"$tmp/series"
for p in $old; do
	grep -qxF "$p" "$tmp/series" || rm -f "$TOP/patches/$p"
done
mv "$tmp/series" "$TOP/patches/series"
echo "export: $(grep -vc '^#' "$TOP/patches/series") patches in patches/series"
