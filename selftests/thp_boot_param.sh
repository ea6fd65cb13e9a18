#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The thp_promotion_threshold= boot parameter. make check boots this test
# alone with the parameters selftests/boot-tests gives it: 100, 513 (out of
# range), 64, then x7 (not a number). 513 and x7 must be refused, each with
# a warning that names it, and 64, the last valid value, must be the
# threshold from boot on:
# a range filled in order is then promoted at its 64th page and not at its
# 63rd (promotion_early off, so only the threshold decides).
. "$(dirname "$0")/thp_lib.sh"

# Read before anything here writes a knob.
boot=$(cat $THP/promotion_threshold 2>/dev/null)
grep -q 'thp_promotion_threshold=' /proc/cmdline ||
	ktap_skip_all "needs a boot with thp_promotion_threshold= (make check boots it so)"
[ -n "$boot" ] || ktap_skip_all "no THP reservations"
touch_bin=$(cd "$(dirname "$0")/../../tools" 2>/dev/null && pwd)/thp_touch
[ -x "$touch_bin" ] || ktap_skip_all "no thp_touch next to the tests ($touch_bin)"
ktap_plan 8
taint0=$(tainted)

if [ "$boot" = 64 ]; then
	ktap_result OK "promotion_threshold is 64 from boot on"
else
	ktap_result FAIL "promotion_threshold is 64 from boot on (reads $boot)"
fi
log=$(dmesg)
for want in "thp_promotion_threshold=513 ignored: it takes 1 to 512" \
	"thp_promotion_threshold=x7 ignored: it takes 1 to 512" \
	"promotion_threshold 64 from the command line"; do
	if grep -qF "$want" <<<"$log"; then
		ktap_result OK "kernel log: $want"
	else
		ktap_result FAIL "kernel log: $want (not found)"
		grep -F thp_ <<<"$log" | sed 's/^/# | /'
	fi
done

echo always >$THP/enabled
echo 0 >$THP/promotion_early
# touched PAGES: "AnonHugePages thp_res_alloc thp_res_promote" of 4 MiB
# (two ranges) whose first PAGES pages of each 2 MiB were written, read
# 2 s after the writes: kB, then the counters' rise since thp_touch began.
touched() {
	"$touch_bin" 4 "$1" 2 | awk '
		$1 == "kv" && $2 == "when=settled" {
			for (i = 3; i <= NF; i++) {
				eq = index($i, "=")
				v[substr($i, 1, eq - 1)] = substr($i, eq + 1)
			}
		}
		END { print v["anon_huge_kb"], v["thp_res_alloc"], v["thp_res_promote"] }'
}
read -r ahp alloc prom <<<"$(touched 63)"
if [ "$ahp" = 0 ] && [ "$alloc" = 2 ] && [ "$prom" = 0 ]; then
	ktap_result OK "63 used pages: reserved, not promoted (AnonHugePages $ahp kB, 2 reservations, 0 promotions)"
else
	ktap_result FAIL "63 used pages: reserved, not promoted (AnonHugePages ${ahp:-?} kB, want 0; reservations ${alloc:-?}, want 2; promotions ${prom:-?}, want 0)"
fi
read -r ahp alloc prom <<<"$(touched 64)"
if [ "$ahp" = 4096 ] && [ "$prom" = 2 ]; then
	ktap_result OK "64 used pages: promoted (AnonHugePages $ahp kB, 2 promotions)"
else
	ktap_result FAIL "64 used pages: promoted (AnonHugePages ${ahp:-?} kB, want 4096; promotions ${prom:-?}, want 2)"
fi
check_end boot_param "$taint0"
ktap_exit
