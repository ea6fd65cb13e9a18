#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the host packages the workbench needs, and say what was installed.
# Without root or apt-get, name what is missing and stop.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS=(
	# kernel build
	build-essential flex bison bc libelf-dev libssl-dev cpio xz-utils
	ccache git perl python3 rsync
	# guest
	qemu-system-x86 busybox-static
	# checks and workloads run inside the guest
	stress-ng trinity libnuma-dev libcap-dev liburing-dev sparse python3-ply python3-git python3-docutils
)
[ -n "${EXTRA_PKGS:-}" ] && read -r -a extra <<<"$EXTRA_PKGS" && PKGS+=("${extra[@]}")

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
	die "missing packages: ${missing[*]} (run as root with apt-get, or install them: apt-get install ${missing[*]})"
fi
step_begin "install ${#missing[@]} packages"
export DEBIAN_FRONTEND=noninteractive
run_logged "$BUILD/log/apt-update.log" apt-get update -q ||
	die "apt-get update failed; cannot install: ${missing[*]}"
run_logged "$BUILD/log/apt-install.log" apt-get install -y -q --no-install-recommends "${missing[@]}" ||
	die "apt-get install failed for: ${missing[*]}"
echo "installed: ${missing[*]}"
step_end "install ${#missing[@]} packages"
