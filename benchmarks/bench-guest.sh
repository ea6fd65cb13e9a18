#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# bench-guest.sh POLICY OUTDIR RUN QUICK: runs in a fresh guest for
# benchmarks/bench.sh. It runs the scenarios of make bench under POLICY
# and writes each one's output to OUTDIR/SCENARIO.POLICY.RUN.txt. Swap is
# off (the fork scenario ends in the OOM killer, not in swapping) except
# for the stress-ng scenario, which measures swap-ins. Progress: one line
# per scenario with the elapsed time and an estimate of what is left.
set -eu
. "$(dirname "$0")/guest-lib.sh"
p=$1 out=$2 i=$3 quick=$4
here=$(dirname "$0")
tools=$here/../build/tools
cg=/sys/fs/cgroup/thpbench
mkdir -p "$out"
if [ "$quick" = 1 ]; then
	size=128 gups_s=2 tohuge_mib=32 tohuge_s=20 fork_s=60 fork_cg=128M redis_n=10000 stress_s=6
	scenarios=${SCENARIOS:-"fork sparse dense tohuge gups promote redis stress"}
else
	size=1024 gups_s=10 tohuge_mib=64 tohuge_s=90 fork_s=300 fork_cg=512M redis_n=100000 stress_s=20
	scenarios=${SCENARIOS:-"fork sparse dense tohuge gups promote redis stress"}
fi
set -- $scenarios
steps=$#
step=0
t0=$(date +%s)


# progress SCENARIO POLICY RUN: one line before each scenario.
progress() {
	now=$(date +%s)
	el=$((now - t0))
	left=n/a
	[ "$step" -gt 0 ] && left="~$((el * (steps - step) / step))s"
	step=$((step + 1))
	echo "== [$step/$steps] $1 $2 run $3 (elapsed ${el}s, left $left)"
}

# Each scenario starts without page cache. Not compacted: under TCG,
# memory that compaction freed is slow to touch again (see thp_bench.c).
fresh() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Scenario 1: fork until failure, sparse and random-k, in a group with
# memory.max fork_cg, so that it ends in the OOM killer within minutes
# whatever the guest's size (make bench-fork also runs it system-wide).
sc_fork() {
	for pat in sparse randk; do
		fresh
		mkdir -p "$cg"
		echo "$fork_cg" >"$cg/memory.max"
		"$tools/fork_bench" 64 "$pat" 20000 "$fork_s" "$cg" >"$out/fork-$pat.$1.$2.txt"
		rmdir "$cg" 2>/dev/null || true
	done
}

# Scenario 7: redis-server loaded by redis-benchmark; BGSAVE's memory peak.
# Over a unix socket: the guest has no network, not even loopback.
sc_redis() {
	command -v redis-server >/dev/null || { echo "redis: n/a (no redis-server)" >"$out/redis.$1.$2.log"; return 0; }
	dir=$(mktemp -d)
	sock=$dir/redis.sock
	redis-server --port 0 --unixsocket "$sock" --save "" --appendonly no --dir "$dir" \
		--daemonize no >"$dir/server.log" 2>&1 &
	pid=$!
	tries=0
	until redis-cli -s "$sock" ping >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || break
		sleep 0.1
	done
	{
		# CSV: "test","rps","avg","min","p50","p95","p99","max" (latencies in ms).
		redis-benchmark -s "$sock" -t set,get -n "$redis_n" -d 1024 -r 1000000 --csv 2>/dev/null |
			awk -F, 'NR > 1 { gsub(/"/, ""); t = tolower($1)
				print t "_ops_per_s=" $2; print t "_p99_ms=" $7
				ops += $2; n++; if ($7 > p99) p99 = $7 }
				END { if (n) { print "ops_per_s=" ops / n; print "p99_ms=" p99 } }'
		echo "rss_kib=$(awk '/^VmRSS/ { print $2 }' /proc/$pid/status)"
		free0=$(awk '/^MemAvailable/ { print $2 }' /proc/meminfo)
		low=$free0
		if redis-cli -s "$sock" bgsave >/dev/null 2>&1; then
			sleep 0.05
			while redis-cli -s "$sock" info persistence 2>/dev/null |
				grep -q 'rdb_bgsave_in_progress:1'; do
				m=$(awk '/^MemAvailable/ { print $2 }' /proc/meminfo)
				[ "$m" -lt "$low" ] && low=$m
				sleep 0.05
			done
			echo "bgsave_peak_kib=$((free0 - low))"
		fi
	} >"$out/redis.$1.$2.txt"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}

# Scenario 8: stress-ng vm and bigheap in a group with memory.max, with swap.
sc_stress() {
	mkdir -p "$cg"
	echo 384M >"$cg/memory.max"
	echo max >"$cg/memory.swap.max" 2>/dev/null || true
	swapon /dev/vda 2>/dev/null || true
	in0=$(awk '$1 == "pswpin" { print $2 }' /proc/vmstat)
	oom0=$(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat)
	sh -c "echo \$\$ >$cg/cgroup.procs; exec stress-ng --temp-path /tmp --vm 2 --vm-bytes 192M \
		--bigheap 1 --timeout ${stress_s}s --metrics-brief" >"$out/stress.$1.$2.log" 2>&1 || true
	{
		awk '$2 == "metrc:" && $4 ~ /^(vm|bigheap)$/ && $5 ~ /^[0-9]+$/ { print $4 "_bogo_ops=" $5 }' \
			"$out/stress.$1.$2.log"
		echo "pswpin=$(( $(awk '$1 == "pswpin" { print $2 }' /proc/vmstat) - in0 ))"
		echo "oom_kills=$(( $(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat) - oom0 ))"
	} >"$out/stress.$1.$2.txt"
	swapoff -a 2>/dev/null || true
	rmdir "$cg" 2>/dev/null || true
}

memcg_on
swapoff -a 2>/dev/null || true
echo 1000 >"$thp/khugepaged/scan_sleep_millisecs"
policy "$p"
for s in $scenarios; do
	progress "$s" "$p" "$i"
	fresh
	case $s in
	fork) sc_fork "$p" "$i" ;;
	sparse) "$tools/thp_bench" sparse "$size" >"$out/sparse.$p.$i.txt" ;;
	dense) "$tools/thp_bench" dense "$size" >"$out/dense.$p.$i.txt" ;;
	tohuge)
		"$tools/thp_bench" tohuge "$tohuge_mib" 400 "$tohuge_s" >"$out/tohuge.$p.$i.txt" ;;
	gups) "$tools/thp_bench" gups "$size" "$gups_s" >"$out/gups.$p.$i.txt" ;;
	promote)
		# Promotion in place against the copy collapse: two policies only.
		case $p in
		reserve-t256 | vanilla-never)
			echo 600000 >"$thp/khugepaged/scan_sleep_millisecs"
			"$tools/promote_bench" 128 collapse 1 >"$out/promote.$p.$i.txt"
			echo 1000 >"$thp/khugepaged/scan_sleep_millisecs" ;;
		esac ;;
	redis) sc_redis "$p" "$i" ;;
	stress) sc_stress "$p" "$i" ;;
	esac
done
echo "== $p run $i done in $(($(date +%s) - t0))s"
