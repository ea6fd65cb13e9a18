#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the upstream mm kselftests from the patched tree and the project's
# own selftests, into build/kselftest/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

"$TOP/scripts/source.sh"
"$TOP/scripts/apply.sh"
out=$BUILD/kselftest
log=$BUILD/log/selftests-build.log
mkdir -p "$out/mm" "$out/project"
: >"$log"
step_begin "build selftests (log: $log)"
if [ ! -f "$out/usr/include/linux/mman.h" ] || [ "$SRC/patched.stamp" -nt "$out/usr/include/linux/mman.h" ]; then
	run_logged "$log.headers" make -C "$KTREE" O="$BUILD/obj/headers" \
		INSTALL_HDR_PATH="$out/usr" headers_install
fi
run_logged "$log" make -C "$KTREE/tools/testing/selftests/mm" -j"$JOBS" \
	OUTPUT="$out/mm" KHDR_INCLUDES="-isystem $out/usr/include"
run_logged "$log.project" make -C "$TOP/selftests" -j"$JOBS" \
	KSFT="$KTREE/tools/testing/selftests" OUT="$out/project" \
	IN_TREE="$(ksft_own_files | tr '\n' ' ')"
# The reservation tests are built in the tree (scripts/apply.sh): a copy
# left in project/ by an older workbench would run twice.
rm -f "$out"/project/thp_reserve*
for t in $(ksft_own_tests); do
	[ -x "$out/mm/$t" ] && grep -q "^CATEGORY=\"thp_reserve\" run_test \./$t\$" \
		"$KTREE/$SELFTESTS_IN_TREE/run_vmtests.sh" ||
		die "selftests/$t.c: not built as $SELFTESTS_IN_TREE/$t or not run by its run_vmtests.sh (category thp_reserve): add it to TEST_GEN_FILES and run_vmtests.sh in patches/selftests-mm-build-and-run-the-THP-reservation-tests.patch"
done
step_end "build selftests (log: $log)"
mkdir -p "$BUILD/tools"
for t in thp_touch thp_survey; do
	run_logged "$log.tools.$t" gcc -O2 -Wall -o "$BUILD/tools/$t" "$TOP/tools/$t.c"
done
