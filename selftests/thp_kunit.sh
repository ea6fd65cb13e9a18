#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The KUnit tests of THP reservations' pure logic (mm/thp_reserve/tests/:
# the chunks the mTHP fallback keeps, when a fault promotes its range, the
# order in which reclaim breaks reservations, the sysfs parsers) run
# at boot; this reports each of their cases, read from debugfs, as a case
# of its own, so that make check counts them. The debug and KASAN kernels
# are built with them (config/debug.config): on those a suite that is
# missing, or that ran fewer cases than it announced, fails. Other
# kernels skip.
. "$(dirname "$0")/thp_lib.sh"

# THP_KUNIT_DIR: another results tree, for the harness self-tests.
kunit=${THP_KUNIT_DIR:-/sys/kernel/debug/kunit}
suites="thp_reserve_carve thp_reserve_fault thp_reserve_reclaim thp_reserve_sysfs"
[ -d "$kunit" ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
case $(uname -r) in
*-patched-debug | *-patched-kasan) must=1 ;;
*) must=${THP_KUNIT_DIR:+1} ;;
esac
if [ ! -d "$kunit/thp_reserve_carve" ] && [ "${must:-0}" = 0 ]; then
	ktap_skip_all "this kernel has no KUnit tests of THP reservations ($(uname -r))"
fi
echo "TAP version 13"
for s in $suites; do
	res=$kunit/$s/results
	if [ ! -r "$res" ]; then
		ktap_result FAIL "KUnit suite $s ran at boot (no $res)"
		continue
	fi
	# A case's result is "ok N name" (or "not ok") indented once; its
	# failed expectations are "# name: ..." lines above it.
	want=$(awk '/^    1\.\.[0-9]+$/ { sub(/^ *1\.\./, ""); print; exit }' "$res")
	got=0
	while read -r ok name; do
		got=$((got + 1))
		if [ "$ok" = ok ]; then
			ktap_result OK "$s: $name"
		else
			ktap_result FAIL "$s: $name"
			grep -F "# $name:" "$res" | sed 's/^ */# | /'
		fi
	done < <(sed -nE 's/^    (not ok|ok) [0-9]+ ([a-z0-9_]+)( # SKIP.*)?$/\1 \2/p' "$res" |
		 sed 's/^not ok/not_ok/')
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		ktap_result OK "$s: all $want cases reported"
	else
		ktap_result FAIL "$s: ${want:-?} cases announced, $got reported"
	fi
done
# KUnit taints the kernel with TAINT_TEST (bit 18) when it runs; any other
# taint is a fault.
if [ $(($(tainted) & ~(1 << 18))) = 0 ]; then
	ktap_result OK "kernel not tainted but by KUnit (TAINT_TEST)"
else
	ktap_result FAIL "kernel tainted: $(tainted)"
fi
echo "1..$ktap_n"
ktap_exit
