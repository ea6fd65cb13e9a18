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
	size=128 gups_s=2 promote_mib=64 mthp_mib=64 tohuge_mib=32 tohuge_s=20 tohuge_def_s=60 fork_s=60 fork_sys_s=60 fork_sys_max=2000 fork_cg=128M redis_n=10000 stress_s=120 stress_mib=64
	apps_n=20000
	scale_counts="16 64 256"
	scenarios=${SCENARIOS:-"fork sparse dense dense-random dense-mt tohuge tohuge-default gups promote redis apps stress-keep stress-nokeep stress-pagein stress-noswap"}
else
	size=1024 gups_s=10 promote_mib=256 mthp_mib=256 tohuge_mib=64 tohuge_s=90 tohuge_def_s=180 fork_s=300 fork_sys_s=150 fork_sys_max=5000 fork_cg=512M redis_n=100000 stress_s=600 stress_mib=256
	apps_n=100000
	scale_counts="16 64 256 1024 4096"
	scenarios=${SCENARIOS:-"fork sparse dense dense-random dense-mt tohuge tohuge-default gups promote redis apps stress-keep stress-nokeep stress-pagein stress-noswap"}
fi
steps=0
for s in $scenarios; do
	applies "$s" "$p" && steps=$((steps + 1))
done
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

# The first-touch and promote scenarios run with khugepaged asleep, so
# that what is PMD-mapped when the touch ends was mapped by the faults
# themselves; the others with khugepaged scanning every second.
khugepaged_asleep() {
	echo 600000 >"$thp/khugepaged/scan_sleep_millisecs"
}
khugepaged_awake() {
	echo 1000 >"$thp/khugepaged/scan_sleep_millisecs"
}

# early_off / early_on: early promotion (promotion_early, patched kernel
# only) off for a scenario that needs reservations to stay below the
# threshold, and back to the value it had.
early_off() {
	[ -w "$thp/promotion_early" ] || return 0
	early_was=$(cat "$thp/promotion_early")
	echo 0 >"$thp/promotion_early"
}
early_on() {
	[ -n "${early_was:-}" ] || return 0
	echo "$early_was" >"$thp/promotion_early"
	early_was=
}

tr=/sys/kernel/tracing
# trace_on: record mmap_lock acquisitions and releases for writing, on the
# monotonic clock (the per-CPU default is not synchronised across the
# guest's vCPUs). Returns 1 if the kernel has no such tracepoints.
trace_on() {
	[ -d "$tr/events/mmap_lock" ] || mount -t tracefs nodev "$tr" 2>/dev/null || true
	[ -d "$tr/events/mmap_lock" ] || return 1
	echo 0 >"$tr/tracing_on"
	echo mono >"$tr/trace_clock"
	echo >"$tr/trace"
	for e in mmap_lock_acquire_returned mmap_lock_released; do
		echo 'write == 1' >"$tr/events/mmap_lock/$e/filter"
		echo 1 >"$tr/events/mmap_lock/$e/enable"
	done
	echo 1 >"$tr/tracing_on"
}

# trace_report FILE [TASKS]: stop recording and write to FILE the write
# holds of mmap_lock by any task (or, given TASKS, an awk pattern of task
# names such as "khugepaged", by those only) that overlap the
# marked window (thp_bench's touch or wait, promote_bench's MADV_COLLAPSE:
# their touch_begin and touch_end marks): their number, the total and the
# longest in microseconds, the median and the 99th percentile, and the
# count of holds taken during the touch that ended in a downgrade (no
# write release follows, so their length is unknown).
trace_report() {
	echo 0 >"$tr/tracing_on"
	for e in mmap_lock_acquire_returned mmap_lock_released; do
		echo 0 >"$tr/events/mmap_lock/$e/enable"
	done
	awk -v task="${2:-}" '
	function ts_of(   i) {
		for (i = 2; i <= NF; i++)
			if ($i ~ /^[0-9]+\.[0-9]+:$/) return substr($i, 1, length($i) - 1) + 0
		return ""
	}
	/touch_begin/ { b = ts_of(); next }
	/touch_end/ { e = ts_of(); next }
	task != "" && $1 !~ ("^(" task ")-[0-9]+$") { next }
	/mmap_lock_(acquire_returned|released):/ {
		ts = ts_of(); mm = ""
		for (i = 2; i <= NF; i++) if ($i ~ /^mm=/) mm = $i
		if ($0 ~ /acquire_returned/ && $0 ~ /success=true/) {
			if (mm in start) us[++n] = start[mm]
			start[mm] = ts
		} else if ($0 ~ /released/ && (mm in start)) {
			hs[++h] = start[mm]; he[h] = ts
			delete start[mm]
		}
	}
	END {
		for (k in start) us[++n] = start[k]
		if (b == "" || e == "") { print "no marks"; exit }
		for (i = 1; i <= h; i++)
			if (hs[i] < e && he[i] > b) printf "%.1f\n", (he[i] - hs[i]) * 1e6
		for (i = 1; i <= n; i++) if (us[i] >= b && us[i] < e) u++
		print "unended", u + 0
	}' "$tr/trace" |
		awk '$1 == "no" { print "mmap_write_holds=n/a"; exit }
		$1 == "unended" { u = $2; next } { v[++n] = $1; s += $1 } END {
			if (u == "") exit
			print "mmap_write_holds=" n + 0
			printf "mmap_write_hold_total_us=%.1f\n", s
			print "mmap_write_hold_unended=" u + 0
			if (!n) {
				print "mmap_write_hold_p50_us=0\nmmap_write_hold_p99_us=0"
				print "mmap_write_hold_max_us=0"
				exit
			}
			# insertion sort: a window sees a few hundred holds at most
			for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j > 0 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
			print "mmap_write_hold_p50_us=" v[int((n + 1) / 2)]
			print "mmap_write_hold_p99_us=" v[int(n * 0.99 + 0.999)]
			print "mmap_write_hold_max_us=" v[n] }' >"$1"
	echo >"$tr/trace"
}

# first_touch MODE RUN_FILE LOCK_FILE [ARGS]: a first-touch scenario of
# thp_bench with khugepaged asleep, timed without tracing; in the first
# run it is repeated with mmap_lock's write holds traced (enabled, the
# tracepoints cost every mmap_lock acquisition a cgroup path lookup), and
# those go to LOCK_FILE.
first_touch() {
	khugepaged_asleep
	"$tools/thp_bench" "$1" "$size" ${4:-} >"$2"
	if [ "$i" = 1 ] && trace_on; then
		THP_BENCH_MARKER=$tr/trace_marker "$tools/thp_bench" "$1" "$size" ${4:-} >/dev/null
		trace_report "$3"
	fi
	khugepaged_awake
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

# Scenario 1s: fork until failure system-wide (the guest's own memory,
# no group, no swap), after compaction, so every policy starts from the
# same free 2 MiB blocks; khugepaged asleep (the children never fill a
# range).
sc_fork_system() {
	for pat in sparse randk; do
		fresh
		echo 1 >/proc/sys/vm/compact_memory
		khugepaged_asleep
		"$tools/fork_bench" 64 "$pat" "$fork_sys_max" "$fork_sys_s" \
			>"$out/fork-system-$pat.$1.$2.txt"
		khugepaged_awake
	done
}

# Scenario 7: redis-server with THP on for itself. Redis turns THP off for
# its own process (PR_SET_THP_DISABLE) unless it is started with
# "disable-thp no", so it is: thp_enabled (its /proc status) and
# anon_huge_kib show what it got. It is filled with values of three sizes
# (many small, fewer large: the shape of a cache), surveyed at rest with
# thp_survey, loaded by redis-benchmark with pipelining off (p1) and on
# (p16), and snapshotted by BGSAVE (fork time, copy-on-write, and the drop
# of MemAvailable). Over a unix socket: the guest has no network, not even
# loopback.
sc_redis() {
	command -v redis-server >/dev/null || { echo "redis: n/a (no redis-server)" >"$out/redis.$1.$2.log"; return 0; }
	dir=$(mktemp -d)
	sock=$dir/redis.sock
	redis-server --port 0 --unixsocket "$sock" --save "" --appendonly no --dir "$dir" \
		--disable-thp no --daemonize no >"$dir/server.log" 2>&1 &
	pid=$!
	tries=0
	until redis-cli -s "$sock" ping >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ "$tries" -lt 100 ] || break
		sleep 0.1
	done
	{
		echo "thp_enabled=$(awk '/^THP_enabled/ { print $2 }' /proc/$pid/status)"
		redis_fill s 64 "$redis_n"
		redis_fill m 1024 $((redis_n / 4))
		redis_fill l 16384 $((redis_n / 32))
		echo "keys=$(redis-cli -s "$sock" dbsize)"
		redis_mem fill
		# At T=256: the pages of ranges below the threshold (what a
		# reservation saves against always), and always's extra pages.
		"$tools/thp_survey" -p "$pid" -t 256 --csv thresholds >"$out/redis-survey.$1.$2.csv" &&
			awk -F, '$1 == 256 { print "survey_always_extra_kib=" $3 * 4
				print "survey_t256_saved_kib=" $4 * 4 }' "$out/redis-survey.$1.$2.csv"
		redis_load 1
		redis_load 16
		redis_mem load
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
			redis-cli -s "$sock" info stats | tr -d '\r' |
				sed -n 's/^latest_fork_usec:/fork_us=/p'
			redis-cli -s "$sock" info persistence | tr -d '\r' |
				awk -F: '$1 == "rdb_last_cow_size" { print "bgsave_cow_kib=" int($2 / 1024) }'
		fi
	} >"$out/redis.$1.$2.txt"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}

# redis_fill PREFIX BYTES N: N SETs of PREFIX:<random key below N> to a
# value of BYTES bytes.
redis_fill() {
	v=$(head -c "$2" /dev/zero | tr '\0' v)
	redis-benchmark -s "$sock" -n "$3" -r "$3" -q SET "$1:__rand_int__" "$v" >/dev/null 2>&1
}

# redis_mem WHEN: the server's used_memory, Rss and AnonHugePages in KiB.
redis_mem() {
	echo "used_memory_kib_$1=$(($(redis-cli -s "$sock" info memory | tr -d '\r' |
		sed -n 's/^used_memory://p') / 1024))"
	echo "rss_kib_$1=$(awk '/^VmRSS/ { print $2 }' /proc/$pid/status)"
	echo "anon_huge_kib_$1=$(awk '/^AnonHugePages/ { print $2 }' /proc/$pid/smaps_rollup)"
}

# redis_load P: SET and GET of 1 KiB values with P requests in flight per
# connection; mean requests/s of the two, their p50 and the larger p99.
redis_load() {
	# CSV: "test","rps","avg","min","p50","p95","p99","max" (latencies in ms).
	redis-benchmark -s "$sock" -t set,get -n "$redis_n" -d 1024 -r "$redis_n" -P "$1" \
		--csv 2>/dev/null |
		awk -F, -v p="$1" 'NR > 1 { gsub(/"/, ""); ops += $2; n++
				if ($5 > p50) p50 = $5; if ($7 > p99) p99 = $7 }
			END { if (n) { print "ops_per_s_p" p "=" ops / n
				print "p50_ms_p" p "=" p50; print "p99_ms_p" p "=" p99 } }'
}

# Scenario 10: real programs, each in a memory cgroup of its own (the
# client of memcached outside it): memcached filled and then served a
# get/set mix, a Python program's dicts and lists, SQLite with a query
# load (apps.py), and gcc compiling the preprocessed mm/memory.c of the
# tree. The Python ones wait once their data is built: the group's anon,
# anon_thp and thp_survey are read then, at rest. Per program: those, the
# time of its timed phase (gcc: the compile), memory.peak, and for gcc the
# largest anon_thp sampled while it compiles.
sc_apps() {
	dir=$(mktemp -d)
	mkdir -p "$cg"
	for w in memcached dicts sqlite gcc; do
		acg=$cg-$w
		mkdir -p "$acg"
		"app_$w" "$acg" >"$out/apps-$w.$1.$2.txt" 2>"$out/apps-$w.$1.$2.log" ||
			echo "failed=1" >>"$out/apps-$w.$1.$2.txt"
		echo "peak_kib=$(($(cat "$acg/memory.peak") / 1024))" >>"$out/apps-$w.$1.$2.txt"
		# The group's processes are gone: rmdir waits for nothing.
		rmdir "$acg" 2>/dev/null || true
	done
	# The memcached client's group, empty once it exited.
	rmdir "$cg" 2>/dev/null || true
	rm -rf "$dir"
}

# in_cg CGROUP CMD...: CMD in CGROUP.
in_cg() {
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$@"
}

# app_rest CGROUP: the group's memory at rest, and the survey at T=256.
app_rest() {
	awk '$1 == "anon" { print "anon_kib=" int($2 / 1024) }
		$1 == "anon_thp" { print "anon_thp_kib=" int($2 / 1024) }' "$1/memory.stat"
	"$tools/thp_survey" -c "$1" -t 256 --csv thresholds |
		awk -F, '$1 == 256 { print "survey_always_extra_kib=" $3 * 4
			print "survey_t256_saved_kib=" $4 * 4 }'
}

# app_py CGROUP SURVEYED ARG...: apps.py ARG... in CGROUP; app_rest of the
# group SURVEYED once it is ready, then its timed phase. (sh has no local
# variables: the names here are not those of the callers.)
app_py() {
	pycg=$1 surveyed=$2
	shift 2
	rm -f "$dir/go" "$dir/py.out"
	mkfifo "$dir/go"
	in_cg "$pycg" python3 "$here/apps.py" "$@" <"$dir/go" >"$dir/py.out" &
	py=$!
	exec 3>"$dir/go"
	until grep -q '^ready' "$dir/py.out" 2>/dev/null; do
		kill -0 "$py" 2>/dev/null || break
		sleep 0.2
	done
	app_rest "$surveyed"
	t=$(date +%s%N)
	echo go >&3
	exec 3>&-
	wait "$py"
	rc=$?
	echo "phase_ms=$((($(date +%s%N) - t) / 1000000))"
	grep -v '^ready' "$dir/py.out"
	return $rc
}

app_memcached() {
	command -v memcached >/dev/null || { echo "memcached: n/a"; return 0; }
	in_cg "$1" memcached -u root -s "$dir/mc.sock" -m 1024 -t 1 &
	mc=$!
	tries=0
	until [ -S "$dir/mc.sock" ] || [ "$tries" -ge 100 ]; do
		tries=$((tries + 1))
		sleep 0.1
	done
	app_py "$cg" "$1" memcached "$dir/mc.sock" "$apps_n"
	rc=$?
	# $mc is the subshell that runs in_cg, memcached its child: stop what
	# runs in the group (memcached), then reap the subshell.
	# shellcheck disable=SC2046 # one PID per line
	kill $(cat "$1/cgroup.procs") 2>/dev/null
	wait "$mc" 2>/dev/null
	return $rc
}

app_dicts() {
	app_py "$1" "$1" dicts "$apps_n"
}

app_sqlite() {
	app_py "$1" "$1" sqlite $((apps_n * 2))
}

app_gcc() {
	src=$here/../build/bench/memory.i
	[ -f "$src" ] || { echo "gcc: n/a (no $src)"; return 0; }
	t=$(date +%s%N)
	# -fno-pie: the kernel's asm constraints need non-PIC code.
	in_cg "$1" gcc -O2 -w -fno-pie -c -o /dev/null "$src" &
	g=$!
	max=0
	while kill -0 "$g" 2>/dev/null; do
		v=$(awk '$1 == "anon_thp" { print int($2 / 1024) }' "$1/memory.stat")
		[ "$v" -gt "$max" ] && max=$v
		sleep 0.5
	done
	wait "$g"
	rc=$?
	echo "phase_ms=$((($(date +%s%N) - t) / 1000000))"
	echo "anon_thp_kib_max=$max"
	return $rc
}

# Scenario 8: stress-ng ranks policies under a memory limit. One stressor
# and one method per scenario (vm, write64: one bogo op is 1 MiB written),
# fixed work (--vm-ops) with a time limit only as a guard, in a group of
# its own with a memory limit (memory.max, or memory.high for
# stress-pagein); swap on a zram device in the guest (compressed in guest
# memory, no host file) unless the scenario runs without swap. Unless told
# --no-madvise, stress-ng gives each new buffer a random madvise() advice
# when --vm-madvise is absent, and an unkept buffer another one before its
# munmap (hugepage, nohugepage, pageout...: a scenario would measure a
# different policy in each run): every scenario passes --no-madvise, and
# names its advice (normal changes nothing on a new mapping).
# stress-ng reads the buffer in (MADV_POPULATE_READ) before every pass
# (so stress-pagein's whole buffer comes back in each pass). Before the
# first write to a new buffer that read maps the huge zero page, which
# stock 6.12 splits at the first write, then faulting 4 KiB pages, while
# reservations reserve at the first write to the zero page. So the
# scenarios that stand for a program writing its memory first map it with
# --vm-populate (MAP_POPULATE: write faults, in order), and stress-nokeep
# measures the zero-page path:
#   stress-keep      a buffer that fits, populated, kept and rewritten
#   stress-nokeep    the same buffer mapped, read in (the zero page),
#                    written once and unmapped per pass: the zero-page
#                    write, fault and promotion paths
#   stress-pagein    a populated kept buffer 1.5 x the limit: paged out
#                    and in (write64 fills a page with one value, so zram
#                    stores it as a same-filled page: this measures the
#                    paging path, not compression). The limit is
#                    memory.high: under memory.max alone the group's
#                    charge OOM-killed the worker with zram swap free,
#                    under THP never as under the others (the OOM
#                    report: all of the group's anon on the active list,
#                    9 MiB swapped); memory.high reclaims on the way
#                    back to user space and throttles, and never kills
#   stress-noswap    stress-keep without swap
#   stress-keep-hp, stress-keep-nohp  a kept buffer, not populated, with
#                    --vm-madvise hugepage / nohugepage (madvise comes
#                    after MAP_POPULATE, so no populate), under
#                    reserve-t256 and the stock policy it must equal
#                    (always / never): reservations leave VM_HUGEPAGE and
#                    VM_NOHUGEPAGE areas to the stock paths
# Recorded: the time, bogo ops and bogo ops/s, completed (the work done
# and no OOM kill: stress-ng restarts a killed worker, and stops early
# when a kill comes after a full pass; time_ms is n/a otherwise), the
# group's memory.peak and memory.events, and the vmstat deltas of swap,
# major faults and THP work.
# stress_cfg SCENARIO: "BUFFER_MIB PASSES SWAP HIGH OPTIONS". memory.max
# is stress_mib, or with HIGH 1 memory.high is (memory.max twice it, a
# guard the buffer stays below). Passes are set so that each scenario runs
# for tens of seconds here.
stress_cfg() {
	m=$stress_mib
	case $1 in
	stress-keep) echo "$((m * 3 / 4)) 128 1 0 --vm-keep --vm-populate --vm-madvise normal" ;;
	stress-nokeep) echo "$((m * 3 / 4)) 24 1 0 --vm-madvise normal" ;;
	stress-pagein) echo "$((m * 3 / 2)) 3 1 1 --vm-keep --vm-populate --vm-madvise normal" ;;
	stress-noswap) echo "$((m * 3 / 4)) 128 0 0 --vm-keep --vm-populate --vm-madvise normal" ;;
	stress-keep-hp) echo "$((m * 3 / 4)) 128 1 0 --vm-keep --vm-madvise hugepage" ;;
	stress-keep-nohp) echo "$((m * 3 / 4)) 128 1 0 --vm-keep --vm-madvise nohugepage" ;;
	stress-sparse38) echo "$((m * 3 / 2)) 16 1 0 sparsematrix 38" ;;
	stress-sparse64) echo "$((m * 3 / 2)) 12 1 0 sparsematrix 64" ;;
	stress-sparse256) echo "$((m * 3 / 2)) 4 1 0 sparsematrix 256" ;;
	esac
}

zram=/sys/block/zram0
# zram_on MIB / zram_off: a swap device of MIB on zram0 (LZO-RLE).
zram_on() {
	echo "$1M" >"$zram/disksize" && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
}
zram_off() {
	swapoff /dev/zram0 2>/dev/null || true
	echo 1 >"$zram/reset" 2>/dev/null || true
}

# vmstat_snap FILE: the counters a stress scenario reports, into FILE.
vmstat_snap() {
	awk '$1 ~ /^(pswpin|pswpout|pgmajfault|pgfault|thp_.*)$/' /proc/vmstat >"$1"
}

# sc_stress POLICY RUN SCENARIO
sc_stress() {
	# shellcheck disable=SC2046 # the words of the configuration
	set -- "$1" "$2" "$3" $(stress_cfg "$3")
	f=$out/$3.$1.$2 mib=$4 passes=$5 swap=$6 high=$7
	shift 7
	scg=$cg-stress
	rmdir "$scg" 2>/dev/null || true
	[ ! -d "$scg" ] || { echo "failed=group $scg is in use" >"$f.txt"; return 0; }
	mkdir "$scg"
	lim="memory.max ${stress_mib}M"
	if [ "$high" = 1 ]; then
		echo "$((stress_mib * 2))M" >"$scg/memory.max"
		echo "${stress_mib}M" >"$scg/memory.high"
		lim="memory.high ${stress_mib}M, memory.max $((stress_mib * 2))M"
	else
		echo "${stress_mib}M" >"$scg/memory.max"
	fi
	if [ "$swap" = 1 ]; then
		if [ ! -d "$zram" ] || ! zram_on $((stress_mib * 2)); then
			echo "failed=no swap on zram0" >"$f.txt"
			zram_off
			rmdir "$scg"
			return 0
		fi
		echo max >"$scg/memory.swap.max"
	else
		echo 0 >"$scg/memory.swap.max"
	fi
	if [ "$1" = sparsematrix ]; then
		opt="thp_bench sparsematrix $mib $2 $passes"
		cmd="timeout $stress_s $tools/$opt"
		# The emulator's first-write cost, paid outside the group.
		"$tools/thp_bench" warm "$mib"
	else
		opt="--vm 1 --vm-bytes ${mib}M --vm-method write64 --vm-ops $((mib * passes)) --no-madvise $*"
		cmd="stress-ng --temp-path /tmp $opt --timeout $stress_s --metrics-brief"
	fi
	vmstat_snap "$f.vm0"
	t=$(date +%s%N)
	# shellcheck disable=SC2086
	in_cg "$scg" $cmd >"$f.log" 2>&1 || true
	ms=$((($(date +%s%N) - t) / 1000000))
	vmstat_snap "$f.vm1"
	kills=$(awk '$1 == "oom_kill" { print $2 }' "$scg/memory.events")
	done_=0
	if [ "$1" = sparsematrix ]; then
		# Its ops are fixed; done when it printed them with every cell
		# read back (an OOM kill prints nothing).
		bogo=$(sed -n 's/^ops=//p' "$f.log")
		rate=$(sed -n 's/^ops_per_s=//p' "$f.log")
		[ -n "$bogo" ] && grep -qx 'mismatches=0' "$f.log" && [ "${kills:-0}" = 0 ] && done_=1
	else
		# metrc: [PID] vm BOGO REAL USR SYS BOGO/S(real) BOGO/S(usr+sys)
		bogo=$(awk '$2 == "metrc:" && $4 == "vm" && $5 ~ /^[0-9]+$/ { print $5 }' "$f.log")
		rate=$(awk '$2 == "metrc:" && $4 == "vm" && $5 ~ /^[0-9]+$/ { print $9 }' "$f.log")
		[ "${bogo:-0}" -ge $((mib * passes)) ] && [ "${kills:-0}" = 0 ] && done_=1
	fi
	{
		echo "options=$opt, $lim, swap $swap"
		echo "completed=$done_"
		if [ "$done_" = 1 ]; then echo "time_ms=$ms"; else echo "time_ms=n/a"; fi
		echo "time_ms_any=$ms"
		echo "bogo_ops=${bogo:-n/a}"
		[ -z "$rate" ] || echo "bogo_ops_per_s=$rate"
		if [ "$1" = sparsematrix ]; then
			grep -E '^(used_pages_|ranges|rss_kib|huge_kib|mismatches)' "$f.log" || true
		fi
		echo "peak_kib=$(($(cat "$scg/memory.peak") / 1024))"
		awk '{ print "memcg_" $1 "=" $2 }' "$scg/memory.events"
		awk 'NR == FNR { v[$1] = $2; next } { print $1 "=" $2 - v[$1] }' "$f.vm0" "$f.vm1"
	} >"$f.txt"
	rm -f "$f.vm0" "$f.vm1"
	zram_off
	rmdir "$scg" 2>/dev/null || true
}

# state WHEN FILE: append to FILE the system's huge-page coverage and
# fragmentation as WHEN_KEY=VALUE lines: AnonHugePages, the counters of
# huge pages not had (thp_fault_fallback, and on the patched kernel
# thp_res_alloc_failed), the free blocks of 2 MiB or more counted in 2 MiB
# units (orders 9 and 10 of /proc/buddyinfo, all zones), and the
# buddyinfo lines themselves. At "end" also the counters' change since
# "begin": one scenario's record shows what it met and what it left.
state() {
	{
		awk -v w="$1" '$1 == "AnonHugePages:" { print w "_anon_huge_kib=" $2 }' /proc/meminfo
		awk -v w="$1" '$1 == "thp_fault_fallback" || $1 == "thp_res_alloc_failed" {
			print w "_" $1 "=" $2 }' /proc/vmstat
		awk -v w="$1" '{ n += $14 + 2 * $15 } END { print w "_free_2mib_blocks=" n + 0 }' \
			/proc/buddyinfo
		awk -v w="$1" '{ z = $2 $4; sub(/,/, "-", z); $1 = $2 = $3 = $4 = ""
			sub(/^ +/, ""); print w "_buddyinfo_node" z "=" $0 }' /proc/buddyinfo
	} >>"$2"
	[ "$1" = end ] || return 0
	awk -F= '{ v[$1] = $2 } END {
		split("thp_fault_fallback thp_res_alloc_failed anon_huge_kib free_2mib_blocks", k, " ")
		for (i = 1; i <= 4; i++)
			if (("begin_" k[i]) in v && ("end_" k[i]) in v)
				print "delta_" k[i] "=" v["end_" k[i]] - v["begin_" k[i]] }' "$2" >"$2.d"
	cat "$2.d" >>"$2"
	rm -f "$2.d"
}

memcg_on
swapoff -a 2>/dev/null || true
khugepaged_awake
policy "$p"
for s in $scenarios; do
	applies "$s" "$p" || continue
	progress "$s" "$p" "$i"
	fresh
	# fork-system compacts before each of its runs: its record starts
	# from compacted memory too.
	[ "$s" != fork-system ] || echo 1 >/proc/sys/vm/compact_memory
	state begin "$out/state-$s.$p.$i.txt"
	case $s in
	fork) sc_fork "$p" "$i" ;;
	sparse | dense | dense-random)
		first_touch "$s" "$out/$s.$p.$i.txt" "$out/$s-locks.$p.$i.txt" ;;
	dense-mt)
		first_touch dense-mt "$out/dense-mt.$p.$i.txt" "$out/dense-mt-locks.$p.$i.txt" 3 ;;
	scale)
		# Populate cost against live reservations: needs count x 2 MiB.
		"$tools/thp_bench" scale $scale_counts >"$out/scale.$p.$i.txt" ;;
	tohuge)
		"$tools/thp_bench" tohuge "$tohuge_mib" 400 "$tohuge_s" >"$out/tohuge.$p.$i.txt" ;;
	tohuge-default)
		# The same at khugepaged's defaults (a 10 s sleep between scans
		# of pages_to_scan, 4096, pages), as a system that never tuned it.
		echo 10000 >"$thp/khugepaged/scan_sleep_millisecs"
		"$tools/thp_bench" tohuge "$tohuge_mib" 400 "$tohuge_def_s" >"$out/tohuge-default.$p.$i.txt"
		khugepaged_awake ;;
	gups) "$tools/thp_bench" gups "$size" "$gups_s" >"$out/gups.$p.$i.txt" ;;
	promote)
		# MADV_COLLAPSE of memory faulted under never (a copy) and under
		# reserve-t512 (511 pages used of 512: below the threshold, so
		# the fill leaves each reservation to MADV_COLLAPSE, which
		# promotes it in place), and random access afterwards against
		# always's first-touch huge pages (no collapse). The fill writes
		# each range in order; early promotion is off, but under
		# reserve-t256 the fill's 256th fault still promotes each range,
		# so MADV_COLLAPSE finds nothing left to promote there. In the
		# first run the collapse is repeated with mmap_lock's write
		# holds traced (promote-locks: their number and distribution).
		mode=collapse
		case $p in vanilla-always | reserve-t1) mode=nocollapse ;; esac
		khugepaged_asleep
		early_off
		"$tools/promote_bench" "$promote_mib" "$mode" "$gups_s" >"$out/promote.$p.$i.txt"
		if [ "$mode" = collapse ] && [ "$i" = 1 ] && trace_on; then
			THP_BENCH_MARKER=$tr/trace_marker "$tools/promote_bench" \
				"$promote_mib" collapse 0 >/dev/null || true
			trace_report "$out/promote-locks.$p.$i.txt"
		fi
		early_on
		khugepaged_awake ;;
	mthp)
		# The mTHP fallback: a half-dense pattern (152 of 512 pages per
		# 2 MiB, every fourth 64 KiB chunk whole) after drop_caches
		# broke the reservations.
		# Each range's first 64 KiB chunk is written in order: early
		# promotion would promote it by its 16th fault, so it is off.
		khugepaged_asleep
		early_off
		"$tools/mthp_bench" "$mthp_mib" "$gups_s" >"$out/mthp.$p.$i.txt"
		early_on
		khugepaged_awake ;;
	khugepaged)
		# Khugepaged's way to huge pages and its mmap_lock write
		# holds, traced in every run (khugepaged's own, while the
		# program waits): 400 of 512 pages
		# written per 2 MiB with early promotion off. Under
		# reserve-t512 the ranges stay reserved below the threshold,
		# which the program then lowers to 256: khugepaged (which
		# leaves a reservation below the threshold alone) finds them
		# above it and promotes them in place, as it does a range
		# whose fault could not promote. Under the others the pages
		# are written under MADV_NOHUGEPAGE (base pages) and the
		# range then advised MADV_HUGEPAGE, so khugepaged collapses it
		# by a copy, as the stock kernel does memory faulted small
		# (reserve-t1 is the same on the patched kernel: the A/A pair).
		adv=advised
		[ "$p" != reserve-t512 ] || adv=threshold=256
		early_off
		# Without the tracepoints the marker is empty: no marks.
		marker=
		! trace_on || marker=$tr/trace_marker
		THP_BENCH_MARKER=$marker "$tools/thp_bench" tohuge "$tohuge_mib" 400 \
			"$tohuge_s" $adv >"$out/khugepaged.$p.$i.txt"
		[ -z "$marker" ] || trace_report "$out/khugepaged-locks.$p.$i.txt" khugepaged
		early_on
		policy "$p" ;;
	fork-system) sc_fork_system "$p" "$i" ;;
	redis) sc_redis "$p" "$i" ;;
	apps) sc_apps "$p" "$i" ;;
	stress-*) sc_stress "$p" "$i" "$s" ;;
	esac
	state end "$out/state-$s.$p.$i.txt"
done
echo "== $p run $i done in $(($(date +%s) - t0))s"
