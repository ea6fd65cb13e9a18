#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# series.sh [--verify|--build]: export the whole change (project files plus
# patches) from the patched tree as a git format-patch series with a cover
# letter against the pinned base, into build/series/. With --verify, check
# that it applies with git am onto base. With --build, also apply it one
# patch at a time and build the perf kernel after each (incremental, ccache).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$TOP/scripts/source.sh"
"$TOP/scripts/apply.sh"
out=$BUILD/series
rm -rf "$out"
mkdir -p "$out"
cd "$KTREE"
n=$(git rev-list --count base..HEAD)
git format-patch -q --cover-letter --zero-commit --no-signature -o "$out" base..HEAD
cover=$(ls "$out"/0000-cover-letter.patch)
# Fill the cover letter from patches/cover-letter: first line subject, rest body.
subject=$(head -n 1 "$TOP/patches/cover-letter")
{
	sed -n '1,/^Subject:/p' "$cover" | sed "s/\*\*\* SUBJECT HERE \*\*\*/$subject/"
	echo
	tail -n +3 "$TOP/patches/cover-letter"
	echo
	echo "Base: Linux $(cat "$SRC/kernel-version") (Debian $KSRC_PKG $(cat "$SRC/debian-version"))."
	echo
	sed -n '/^\*\*\* BLURB HERE \*\*\*/,$p' "$cover" | tail -n +2
} >"$cover.new"
mv "$cover.new" "$cover"
echo "series: $n patches and a cover letter in $out"
if [ "${1:-}" = --verify ] || [ "${1:-}" = --build ]; then
	tmp=$BUILD/series-verify
	git worktree remove -f "$tmp" >/dev/null 2>&1 || rm -rf "$tmp"
	git worktree prune
	git worktree add -q --detach "$tmp" base
	if ! git -C "$tmp" -c user.name=verify -c user.email=verify@localhost am -q \
		$(ls "$out"/*.patch | grep -v 0000-cover-letter); then
		git -C "$tmp" am --abort || true
		die "the exported series does not apply onto base with git am"
	fi
	if ! git -C "$tmp" diff --quiet HEAD "$(git rev-parse HEAD)" --; then
		die "the series applied with git am differs from the patched tree"
	fi
	git worktree remove -f "$tmp"
	echo "series: applies with git am onto base and reproduces the patched tree"
fi

if [ "${1:-}" = --build ]; then
	wt=$STREE
	git worktree remove -f "$wt" >/dev/null 2>&1 || rm -rf "$wt"
	git worktree prune
	mkdir -p "$(dirname "$wt")"
	git worktree add -q --detach "$wt" base
	for p in $(ls "$out"/*.patch | grep -v 0000-cover-letter); do
		git -C "$wt" -c user.name=verify -c user.email=verify@localhost am -q "$p"
		echo "series: after $(basename "$p")"
		"$TOP/scripts/build.sh" series perf || die "the series does not build at $(basename "$p")"
	done
	git worktree remove -f "$wt"
	echo "series: every patch builds (perf flavour)"
fi
