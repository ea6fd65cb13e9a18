# SPDX-License-Identifier: GPL-2.0
# Shell helpers for the project's script tests (sourced): KTAP output,
# /proc/vmstat counters, the THP knobs, and the end-of-run invariants.
THP=/sys/kernel/mm/transparent_hugepage
ktap_n=0
ktap_fail=0
ktap_plan() { echo "TAP version 13"; echo "1..$1"; }
# ktap_result OK|FAIL DESCRIPTION
ktap_result() {
	ktap_n=$((ktap_n + 1))
	if [ "$1" = OK ]; then
		echo "ok $ktap_n $2"
	else
		echo "not ok $ktap_n $2"
		ktap_fail=$((ktap_fail + 1))
	fi
}
ktap_skip_all() { echo "TAP version 13"; echo "1..0 # SKIP $1"; exit 4; }
ktap_exit() { [ $ktap_fail -eq 0 ]; exit $?; }
msg() { echo "# $*"; }

vmstat() { echo 1 >/proc/sys/vm/stat_refresh 2>/dev/null; awk -v k="$1" '$1 == k { print $2 }' /proc/vmstat; }
# free_kb: free memory in kB as the C tests' free_slab_kb() counts it:
# MemFree, plus the pages on per-cpu free lists (/proc/zoneinfo "count:",
# which 6.12 lets grow to tens of MB per CPU and zone, outside MemFree),
# plus Slab (freed objects give their slab pages back later).
pcp_kb() { awk '$1 == "count:" { n += $2 } END { print n * 4 }' /proc/zoneinfo; }
free_kb() {
	echo 1 >/proc/sys/vm/stat_refresh 2>/dev/null
	awk -v pcp="$(pcp_kb)" '$1 == "MemFree:" || $1 == "Slab:" { kb += $2 }
	     END { print kb + pcp }' /proc/meminfo
}
# meminfo_moved BEFORE: the /proc/meminfo fields that differ from the copy
# BEFORE by 1024 kB or more, as "Field: before -> after kB".
meminfo_moved() {
	awk 'NR == FNR { v[$1] = $2; next }
	     ($1 in v) && ($2 - v[$1] >= 1024 || v[$1] - $2 >= 1024) {
		printf "%s %d -> %d kB\n", $1, v[$1], $2 }' "$1" /proc/meminfo
}
tainted() { cat /proc/sys/kernel/tainted; }

# wait_reserved_zero SECONDS: until nr_thp_reserved is 0; prints the last value.
wait_reserved_zero() {
	local i v
	for i in $(seq "$1"); do
		v=$(vmstat nr_thp_reserved)
		[ "$v" = 0 ] && break
		sleep 1
	done
	echo "$v"
}

# free_back KB SECONDS: until free memory (free_kb) is back within 1% of KB
# (dropping the page cache first); prints the last value.
free_back() {
	local want=$1 i v
	for i in $(seq "$2"); do
		sync
		echo 3 >/proc/sys/vm/drop_caches
		v=$(free_kb)
		[ "$v" -ge $((want - want / 100)) ] && break
		sleep 1
	done
	echo "$v"
}

# check_end NAME TAINT0: the invariants every script test ends with:
# nothing tainted the kernel and no reservation is left.
check_end() {
	local t res
	t=$(tainted)
	if [ "$t" = "$2" ]; then
		ktap_result OK "$1: kernel not tainted"
	else
		ktap_result FAIL "$1: kernel not tainted (tainted $2 -> $t)"
	fi
	res=$(wait_reserved_zero 30)
	if [ "$res" = 0 ]; then
		ktap_result OK "$1: nr_thp_reserved back to 0"
	else
		ktap_result FAIL "$1: nr_thp_reserved back to 0 (still $res)"
	fi
}

# start_reserving: reservations on at the default threshold; remember the
# taint and the reservation counters for end_accounting.
start_reserving() {
	echo always >$THP/enabled
	echo 256 >$THP/promotion_threshold
	taint0=$(tainted)
	alloc0=$(vmstat thp_res_alloc)
	rel0=$(vmstat thp_res_release)
	prom0=$(vmstat thp_res_promote)
}

# end_accounting NAME: reservations were made since start_reserving, and
# every one of them ended exactly once (released or promoted). Two results.
end_accounting() {
	local alloc ended
	alloc=$(( $(vmstat thp_res_alloc) - alloc0 ))
	ended=$(( $(vmstat thp_res_release) - rel0 + $(vmstat thp_res_promote) - prom0 ))
	if [ "$alloc" -gt 0 ]; then
		ktap_result OK "$1: reservations were made ($alloc)"
	else
		ktap_result FAIL "$1: reservations were made (none)"
	fi
	if [ "$alloc" -eq "$ended" ]; then
		ktap_result OK "$1: reservations made = released + promoted ($alloc)"
	else
		ktap_result FAIL "$1: reservations made = released + promoted ($alloc made, $ended ended)"
	fi
}
