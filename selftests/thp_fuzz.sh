#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fuzz the mm system calls with trinity, as an unprivileged user, with THP
# reservations on at the default threshold: no splat (the harness watches
# the console), no taint, and every reservation released once it ends.
# Trinity's own mappings rarely hold an aligned, privately written 2 MiB
# range (a run of 20000 calls made no reservation), so a neighbour keeps
# reservations coming and going meanwhile: tools/thp_touch in a loop,
# sparse (reserve, release) and 300 of 512 pages (populate, promote).
# Both share reclaim, compaction, migration and the list_lru with trinity.
# FUZZ_OPS (default 20000) bounds the run; make soak runs more. Trinity
# may take the test's whole time limit (TEST_TIMEOUT, which the harness
# enforces) but two minutes for the checks after it.
. "$(dirname "$0")/thp_lib.sh"

ops=${FUZZ_OPS:-20000}
limit=${TEST_TIMEOUT:-900}
limit=$((${limit%s} - 120))
[ "$limit" -ge 60 ] || limit=60
command -v trinity >/dev/null || ktap_skip_all "trinity missing: apt-get install trinity"
[ -f $THP/promotion_threshold ] || ktap_skip_all "no THP reservations"
touch_bin=$(cd "$(dirname "$0")/../../tools" 2>/dev/null && pwd)/thp_touch
[ -x "$touch_bin" ] || ktap_skip_all "no thp_touch next to the tests ($touch_bin)"
ktap_plan 5
start_reserving
dir=$(mktemp -d /tmp/fuzz.XXXXXX)
chmod 777 "$dir"
(while [ ! -e "$dir/stop" ]; do
	"$touch_bin" 32 sparse >/dev/null 2>&1
	"$touch_bin" 8 300 >/dev/null 2>&1
done) &
neighbour=$!
calls=
for c in mmap munmap mremap madvise mprotect mlock mlock2 munlock mlockall \
	munlockall brk userfaultfd move_pages mbind migrate_pages set_mempolicy \
	prctl msync mincore process_madvise remap_file_pages fork clone; do
	calls="$calls -c $c"
done
msg "trinity: $ops calls, 2 children, as nobody, ${limit}s at most"
t0=$(date +%s)
# shellcheck disable=SC2086
(cd "$dir" && timeout -k 10 "$limit" setpriv --reuid=65534 --regid=65534 --clear-groups \
	trinity -q -l off -C 2 -N "$ops" --disable-fds=sockets $calls) >"$dir/out" 2>&1
rc=$?
tail -n 3 "$dir/out" | sed 's/^/# | /'
msg "trinity ran for $(($(date +%s) - t0))s"
# Trinity's children may outlive it for a moment.
pkill -9 -u 65534 2>/dev/null
touch "$dir/stop"
wait $neighbour
sleep 1
if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	ktap_result FAIL "trinity finished $ops calls (timed out after ${limit}s)"
elif grep -q 'Ran [0-9]* syscalls' "$dir/out" || [ $rc -eq 0 ]; then
	ktap_result OK "trinity finished $ops calls (exit $rc)"
else
	ktap_result FAIL "trinity finished $ops calls (exit $rc)"
fi
check_end trinity "$taint0"
end_accounting trinity
rm -rf "$dir"
ktap_exit
