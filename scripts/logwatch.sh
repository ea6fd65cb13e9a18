#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# logwatch.sh CONSOLE_LOG [TAINTED_FILE]: fail, quoting the first lines of
# the report, when a boot's console shows a kernel splat or the kernel ended
# tainted. The one taint that is no fault is TAINT_TEST (bit 18, "N"), which
# KUnit sets when it runs the debug kernel's tests at boot: their results
# are counted by selftests/thp_kunit.sh.
set -u
log=$1
taint=${2:-}
pat='BUG:|WARNING:|Oops|general protection fault|Bad page|KASAN:|KFENCE:|UBSAN:'
pat+='|possible circular locking|possible recursive locking|inconsistent lock state'
pat+='|suspicious RCU usage|lock held when returning|INFO: task .* blocked for more than'
pat+='|rcu: INFO: .* stall|detected stall|Kernel panic|kernel BUG at|list_add corruption|list_del corruption'
line=$(grep -n -a -m1 -E "$pat" "$log" | cut -d: -f1)
if [ -n "$line" ]; then
	echo "error: kernel report in $log (line $line):" >&2
	sed -n "$((line > 2 ? line - 2 : 1)),$((line + 25))p" "$log" | sed 's/^/  | /' >&2
	exit 1
fi
if [ -n "$taint" ] && [ -f "$taint" ]; then
	t=$(cat "$taint")
	# Anything but a number (the guest died before it wrote one) fails too.
	if ! [[ $t =~ ^[0-9]+$ ]] || [ $((t & ~(1 << 18))) != 0 ]; then
		echo "error: kernel tainted (${t:-no value}) at the end of the run; console: $log" >&2
		exit 1
	fi
fi
exit 0
