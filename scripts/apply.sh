#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Make build/src/linux the patched tree: base, then the project's own files
# as two commits, then patches/series in order, one commit each. The own
# files are mm/, include/ and Documentation/ at the same paths; the
# reservation selftests with their helpers (selftests/thp_reserve*.c,
# thp_util.[ch], thp_case.[ch]) go into tools/testing/selftests/mm/ as a
# second commit, and a patch of the series hooks them into that
# directory's Makefile and run_vmtests.sh.
# Does nothing when none of these inputs changed. A patch that does not apply
# stops with the patch's name and its failing hunks.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$TOP"
series=patches/series
[ -f "$series" ] || die "$series missing"
mapfile -t patches < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$series" | grep -v '^$' || true)
for p in "${patches[@]}"; do
	[ -f "patches/$p" ] || die "$series names patches/$p, which does not exist"
done
mapfile -t ownfiles < <(own_kernel_files)
# The selftests that go into the tree: each is own file $SELFTESTS_IN_TREE/NAME.
mapfile -t ksftfiles < <(ksft_own_files)

stamp=$( { cat "$series"; for p in "${patches[@]}"; do cat "patches/$p"; done
	   for f in "${ownfiles[@]}"; do echo "$f"; cat "$f"; done
	   for f in "${ksftfiles[@]}"; do echo "$f"; cat "selftests/$f"; done
	   cat "$SRC/debian-version"; } | sha256sum | cut -d' ' -f1)
[ "$(cat "$SRC/patched.stamp" 2>/dev/null)" = "$stamp" ] && exit 0

step_begin "apply ${#patches[@]} patches and $((${#ownfiles[@]} + ${#ksftfiles[@]})) project files"
mkdir -p "$BUILD/log"
cd "$KTREE"
rm -f "$SRC/patched.stamp"
git am --abort >/dev/null 2>&1 || true
# Only files that differ from base are rewritten: the kept build
# directories then rebuild just what the series touches.
git reset -q --hard base
git clean -q -fd
export GIT_COMMITTER_NAME="thp-reserve workbench" GIT_COMMITTER_EMAIL="workbench@localhost"
# own_commit SUBJECT BODY: commit what is staged as the project's.
own_commit() {
	GIT_COMMITTER_NAME="THP reservations" GIT_COMMITTER_EMAIL="thp-reserve@localhost" \
		git -c user.name="THP reservations" -c user.email="thp-reserve@localhost" \
		commit -q -s -m "$1" -m "$2"
}
if [ ${#ownfiles[@]} -gt 0 ]; then
	for f in "${ownfiles[@]}"; do
		[ -e "$f" ] && die "project file $f exists in the kernel tree: change it with a patch instead"
		mkdir -p "$(dirname "$f")"
		cp "$TOP/$f" "$f"
	done
	git add -f "${ownfiles[@]}"
	own_commit "mm: add the THP reservation sources" \
		"New files of the project, wired into the build by the patches that follow."
fi
if [ ${#ksftfiles[@]} -gt 0 ]; then
	for f in "${ksftfiles[@]}"; do
		[ -e "$SELFTESTS_IN_TREE/$f" ] &&
			die "project file selftests/$f exists in the kernel tree as $SELFTESTS_IN_TREE/$f: rename it"
		cp "$TOP/selftests/$f" "$SELFTESTS_IN_TREE/$f"
	done
	git add -f "${ksftfiles[@]/#/$SELFTESTS_IN_TREE/}"
	own_commit "selftests/mm: add the THP reservation tests" \
		"KTAP selftests of THP reservations with their shared helpers, built
and run by a patch that follows."
fi
for p in "${patches[@]}"; do
	if ! git am -q --keep-cr "$TOP/patches/$p" >"$BUILD/log/apply.log" 2>&1; then
		git am --abort >/dev/null 2>&1 || true
		echo "error: patch $p does not apply to $(cat "$SRC/kernel-version"):" >&2
		grep '^error:' "$BUILD/log/apply.log" >&2 || cat "$BUILD/log/apply.log" >&2
		# Quote each failing hunk ("patch failed: FILE:LINE" names its start).
		sed -n 's/^error: patch failed: \(.*\):\([0-9]*\)$/\1 \2/p' "$BUILD/log/apply.log" |
		while read -r file line; do
			echo "failing hunk of $file at line $line:" >&2
			awk -v f="$file" -v l="$line" '
				/^diff --git / { infile = ($3 == "a/" f); inhunk = 0; next }
				/^@@ / { inhunk = infile && ($2 ~ "^-" l "(,|$)") }
				/^(diff|--) / && !/^--- / { inhunk = 0 }
				inhunk { print "  | " $0 }' "$TOP/patches/$p" >&2
		done
		git reset -q --hard base
		exit 1
	fi
done
echo "$stamp" >"$SRC/patched.stamp"
step_end "apply ${#patches[@]} patches and $((${#ownfiles[@]} + ${#ksftfiles[@]})) project files"
