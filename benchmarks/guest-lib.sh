# SPDX-License-Identifier: GPL-2.0
# Sourced by the guest sides of the benchmarks (POSIX sh).

thp=/sys/kernel/mm/transparent_hugepage

# policy NAME: set the THP knobs the policy NAME stands for (see
# benchmarks/README.md); every knob a policy may change is reset first.
policy() {
	echo 1 >"$thp/shrink_underused"
	echo 511 >"$thp/khugepaged/max_ptes_none"
	for f in "$thp"/hugepages-*kB/enabled; do
		case $f in
		*/hugepages-2048kB/*) echo inherit >"$f" ;;
		*) echo never >"$f" ;;
		esac
	done
	case $1 in
	vanilla-never | patched-never) echo never >"$thp/enabled" ;;
	vanilla-madvise) echo madvise >"$thp/enabled" ;;
	vanilla-always) echo always >"$thp/enabled" ;;
	vanilla-always-underused409)
		echo always >"$thp/enabled"
		echo 409 >"$thp/khugepaged/max_ptes_none" ;;
	vanilla-mthp64)
		echo never >"$thp/enabled"
		echo always >"$thp/hugepages-64kB/enabled" ;;
	reserve-t*-mthp64)
		echo always >"$thp/enabled"
		t=${1#reserve-t}
		echo "${t%-mthp64}" >"$thp/promotion_threshold"
		echo always >"$thp/hugepages-64kB/enabled" ;;
	reserve-t*)
		echo always >"$thp/enabled"
		echo "${1#reserve-t}" >"$thp/promotion_threshold" ;;
	*)
		echo "unknown policy $1" >&2
		return 1 ;;
	esac
}

# The memory controller in the root's subtree, for the benchmarks' groups.
memcg_on() {
	grep -q memory /sys/fs/cgroup/cgroup.subtree_control ||
		echo +memory >/sys/fs/cgroup/cgroup.subtree_control
}
