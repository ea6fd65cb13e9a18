#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Soak: stress-ng's memory stressors side by side with THP reservations on
# at the default threshold, for SOAK_SECONDS (default 60; make soak runs
# longer). Checks: every stressor ends without failure, no splat (the
# harness watches the console), no taint, every reservation released, and
# free memory (free_kb: MemFree, per-cpu lists, Slab) back within 1% of what
# it was before.
. "$(dirname "$0")/thp_lib.sh"

secs=${SOAK_SECONDS:-60}
command -v stress-ng >/dev/null || ktap_skip_all "stress-ng missing: apt-get install stress-ng"
[ -f $THP/promotion_threshold ] || ktap_skip_all "no THP reservations"
ktap_plan 6
start_reserving
dir=$(mktemp -d /tmp/soak.XXXXXX)
free0=$(free_back 0 1)
cp /proc/meminfo "$dir.meminfo0"
pcp0=$(pcp_kb)
msg "stress-ng: 15 memory stressors for ${secs}s; free memory before: $free0 kB"
(cd "$dir" && timeout -k 10 $((secs + 300)) stress-ng --temp-path "$dir" --timeout "${secs}s" \
	--metrics-brief --oom-avoid \
	--vm 1 --vm-bytes 96M --vm-method all \
	--mmap 1 --mmap-bytes 64M \
	--mremap 1 --mremap-bytes 32M \
	--madvise 1 \
	--fork 1 \
	--bigheap 1 --bigheap-growth 16K \
	--brk 1 \
	--stack 1 \
	--mmapfork 1 \
	--userfaultfd 1 --userfaultfd-bytes 16M \
	--mlock 1 \
	--msync 1 --msync-bytes 16M \
	--shm 1 --shm-bytes 16M \
	--mprotect 1 \
	--pagemove 1 --pagemove-bytes 16M) >"$dir/out" 2>&1
rc=$?
grep -E 'stress-ng: (info|fail|error).*(successful|failed|passed|skipped|untrustworthy)' "$dir/out" | sed 's/^/# | /'
if [ $rc -eq 0 ]; then
	ktap_result OK "stress-ng: every stressor passed"
else
	ktap_result FAIL "stress-ng: every stressor passed (exit $rc)"
	tail -n 20 "$dir/out" | sed 's/^/# | /'
fi
rm -rf "$dir"
check_end soak "$taint0"
free1=$(free_back "$free0" 30)
if [ "$free1" -ge $((free0 - free0 / 100)) ]; then
	ktap_result OK "free memory (MemFree + per-cpu lists + Slab) back within 1% ($free0 -> $free1 kB)"
else
	ktap_result FAIL "free memory (MemFree + per-cpu lists + Slab) back within 1% ($free0 -> $free1 kB)"
	msg "/proc/meminfo fields that moved by 1 MB or more:"
	meminfo_moved "$dir.meminfo0" | sed 's/^/# | /'
	msg "per-cpu free lists: $pcp0 -> $(pcp_kb) kB"
fi
rm -f "$dir.meminfo0"
end_accounting soak
ktap_exit
