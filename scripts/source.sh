#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the pinned linux-source package and extract it under build/src as
# a git tree (tag "base") plus a worktree that stays at base (the stock kernel).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

installed=$(dpkg-query -W -f='${Version}' "$KSRC_PKG" 2>/dev/null || true)
if [ "$installed" != "$KSRC_PIN" ]; then
	if apt-cache madison "$KSRC_PKG" 2>/dev/null | awk '{print $3}' | grep -qxF "$KSRC_PIN" ||
		{ apt-get update -q >/dev/null 2>&1 &&
		  apt-cache madison "$KSRC_PKG" | awk '{print $3}' | grep -qxF "$KSRC_PIN"; }; then
		want="$KSRC_PKG=$KSRC_PIN"
	else
		cat >&2 <<EOW
################################################################################
# WARNING: $KSRC_PKG $KSRC_PIN is no longer served by the archive.
# Using the newest $KSRC_PKG instead. Results will record that version;
# update KSRC_PIN in scripts/lib.sh once the series is checked against it.
################################################################################
EOW
		want="$KSRC_PKG"
	fi
	step_begin "install $want"
	[ "$(id -u)" -eq 0 ] || die "need root to install $want"
	DEBIAN_FRONTEND=noninteractive run_logged "$BUILD/log/apt-linux-source.log" \
		apt-get install -y -q --allow-downgrades "$want"
	step_end "install $want"
	installed=$(dpkg-query -W -f='${Version}' "$KSRC_PKG")
fi
[ -f "$KSRC_TARBALL" ] || die "$KSRC_TARBALL missing although $KSRC_PKG $installed is installed"

if [ "$(cat "$SRC/debian-version" 2>/dev/null)" = "$installed" ] &&
	git -C "$KTREE" rev-parse -q --verify base >/dev/null 2>&1 && [ -d "$VTREE" ]; then
	exit 0
fi

step_begin "extract $KSRC_PKG $installed"
rm -rf "$SRC" "$BUILD/obj" "$BUILD/vanilla"
mkdir -p "$SRC"
tar -C "$SRC" -xf "$KSRC_TARBALL"
mv "$SRC/linux-source-6.12" "$KTREE"
cd "$KTREE"
git init -q
git config user.name "thp-reserve workbench"
git config user.email "workbench@localhost"
git config gc.auto 0
git add -A -f
git commit -q -m "Linux $(make -s kernelversion) from Debian $KSRC_PKG $installed"
git tag base
mkdir -p "$(dirname "$VTREE")"
git worktree add -q --detach "$VTREE" base
echo "$installed" >"$SRC/debian-version"
make -s kernelversion >"$SRC/kernel-version"
step_end "extract $KSRC_PKG $installed"
