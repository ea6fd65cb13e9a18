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
	vanilla-madvise | patched-madvise) echo madvise >"$thp/enabled" ;;
	vanilla-always) echo always >"$thp/enabled" ;;
	vanilla-always-underused409)
		echo always >"$thp/enabled"
		echo 409 >"$thp/khugepaged/max_ptes_none" ;;
	vanilla-always-none0)
		echo always >"$thp/enabled"
		echo 0 >"$thp/khugepaged/max_ptes_none" ;;
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

# applies SCENARIO POLICY: true if make bench runs SCENARIO under POLICY
# (bench.sh boots a policy only for a scenario it applies to; the guest
# skips the others of a boot). Most scenarios run under every policy but
# the *-mthp64 ones. The populate-cost scaling compares a populate with a
# stock 4 KiB fault; promote an in-place promotion (reserve-t512, whose
# threshold the fill stays below) with a copy collapse
# and random access afterwards with always's huge pages; mthp the mTHP
# fallback with stock 64 KiB mTHPs, reservations without it and base
# pages; the stress-ng controls (--vm-madvise hugepage, nohugepage) show
# that reservations leave madvised areas to the stock paths, so they run
# under reserve-t256 and the stock policy they must equal; khugepaged an
# in-place promotion by khugepaged (reserve-t512) with its copy collapse
# (vanilla-always, and reserve-t1 as the A/A pair). reserve-t1 and
# patched-never stand for always and never where the stock kernel is not
# booted (the summary takes them as the references then). Time to huge at
# khugepaged's defaults waits its whole limit under the policies without
# huge pages: not run there.
applies() {
	case $1:$2 in
	scale:vanilla-never | scale:reserve-t256) return 0 ;;
	promote:*-never | promote:vanilla-always | promote:reserve-t1 | promote:reserve-t256 | promote:reserve-t512)
		return 0 ;;
	mthp:*-mthp64 | mthp:reserve-t256 | mthp:*-never) return 0 ;;
	stress-keep-hp:reserve-t256 | stress-keep-hp:vanilla-always | stress-keep-hp:reserve-t1) return 0 ;;
	stress-keep-nohp:reserve-t256 | stress-keep-nohp:*-never) return 0 ;;
	khugepaged:vanilla-always | khugepaged:reserve-t1 | khugepaged:reserve-t512) return 0 ;;
	scale:* | promote:* | mthp:* | stress-keep-hp:* | stress-keep-nohp:* | khugepaged:* | *:*-mthp64)
		return 1 ;;
	tohuge-default:vanilla-never | tohuge-default:vanilla-madvise | tohuge-default:patched-never)
		return 1 ;;
	esac
	return 0
}

# The memory controller in the root's subtree, for the benchmarks' groups.
memcg_on() {
	grep -q memory /sys/fs/cgroup/cgroup.subtree_control ||
		echo +memory >/sys/fs/cgroup/cgroup.subtree_control
}
