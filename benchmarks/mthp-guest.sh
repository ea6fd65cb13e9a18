#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# mthp-guest.sh POLICY OUTDIR RUN SIZE_MIB SECONDS: runs in the guest for
# benchmarks/mthp.sh, once per policy and run in a fresh boot; the output
# goes to OUTDIR/POLICY.RUN.txt.
set -eu
. "$(dirname "$0")/guest-lib.sh"
p=$1 out=$2 i=$3 size=$4 secs=$5
mkdir -p "$out"
# The reservations end by the break the program asks for, not by khugepaged.
echo 600000 >"$thp/khugepaged/scan_sleep_millisecs"
policy "$p"
sync
echo 3 >/proc/sys/vm/drop_caches
echo "== $p run $i"
"$(dirname "$0")/../build/tools/mthp_bench" "$size" "$secs" >"$out/$p.$i.txt"
sed 's/^/   /' "$out/$p.$i.txt"
