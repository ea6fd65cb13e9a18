#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# harness-tests.sh: checks of the workbench itself, run by make check on the
# host: the kernel log watch must catch each kind of report and pass a clean
# log. Prints KTAP-style lines and writes "passed failed" to build/harness-counts.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 n=0
result() {
	n=$((n + 1))
	if [ "$1" = ok ]; then pass=$((pass + 1)); echo "ok $n $2"; else fail=$((fail + 1)); echo "not ok $n $2"; fi
}
clean='[    3.0] Run /init as init process
[    4.9] Adding 2097148k swap on /dev/vda.
[    5.0] thpres-test: start project-thp_stock'
printf '%s\n' "$clean" >"$tmp/clean.log"
echo 0 >"$tmp/taint0"
if "$TOP/scripts/logwatch.sh" "$tmp/clean.log" "$tmp/taint0" 2>/dev/null; then
	result ok "logwatch passes a clean log"
else
	result fail "logwatch passes a clean log"
fi
while IFS= read -r report; do
	printf '%s\n%s\n[    6.0] after\n' "$clean" "$report" >"$tmp/bad.log"
	if "$TOP/scripts/logwatch.sh" "$tmp/bad.log" "$tmp/taint0" 2>"$tmp/err" &&
		true; then
		result fail "logwatch catches: $report"
	elif grep -qF -- "$report" "$tmp/err"; then
		result ok "logwatch catches and quotes: $report"
	else
		result fail "logwatch quotes the report: $report"
	fi
done <<'EOR'
[   10.1] BUG: unable to handle page fault for address: ffff888000000000
[   10.1] WARNING: CPU: 1 PID: 77 at mm/huge_memory.c:3100 __split_huge_page+0x1/0x2
[   10.1] Oops: general protection fault, probably for non-canonical address
[   10.1] general protection fault, probably for non-canonical address 0xdead
[   10.1] BUG: Bad page state in process a.out  pfn:12345
[   10.1] Bad page map in process a.out  pte:8000000012345067
[   10.1] BUG: KASAN: slab-use-after-free in thp_res_release+0x10/0x20
[   10.1] BUG: KFENCE: out-of-bounds read in foo+0x1/0x2
[   10.1] UBSAN: array-index-out-of-bounds in mm/memory.c:100:5
[   10.1] WARNING: possible circular locking dependency detected
[   10.1] WARNING: inconsistent lock state
[   10.1] INFO: task khugepaged:40 blocked for more than 120 seconds.
[   10.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
[   10.1] Kernel panic - not syncing: Fatal exception
[   10.1] kernel BUG at mm/huge_memory.c:1234!
[   10.1] list_del corruption, ffff888001234560->next is LIST_POISON1
EOR
echo 512 >"$tmp/taint512"
if "$TOP/scripts/logwatch.sh" "$tmp/clean.log" "$tmp/taint512" 2>/dev/null; then
	result fail "logwatch fails a tainted kernel"
else
	result ok "logwatch fails a tainted kernel"
fi
# With a built kernel (KERNEL, FLAVOUR): the guest returns the command's
# exit status exactly, and its output.
if [ -f "$(obj_dir "${KERNEL:-patched}" "${FLAVOUR:-debug}")/arch/x86/boot/bzImage" ]; then
	out=$(VM_TIMEOUT=300 "$TOP/scripts/vm.sh" 'echo guest-says-hi; exit 7' 2>&1)
	rc=$?
	if [ $rc -eq 7 ] && grep -q guest-says-hi <<<"$out"; then
		result ok "vm.sh prints the guest command's output and exits with its status (7)"
	else
		result fail "vm.sh prints the guest command's output and exits with its status (got $rc: $out)"
	fi
fi
echo "$pass $fail" >"$BUILD/harness-counts"
echo "harness: $pass passed, $fail failed"
[ $fail -eq 0 ]
