#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# tcg-smc-probe.sh SECONDS: run in a guest. Live-patches kernel text for
# SECONDS seconds: every round turns the timer tracepoints and schedstats
# on and off, four static-key flips, each a text_poke_bp() of every site,
# while three shell loops keep the other vCPUs in timer softirqs and
# wake-ups, the code being patched. Prints "tcg-smc-probe: N rounds".
# Under multi-threaded TCG (QEMU 7.2) a vCPU runs the int3 that
# text_poke_bp() put at a site after the patch has ended, and the guest dies
# with "Oops: int3" within a few rounds; single-threaded TCG runs it clean.
set -u
secs=${1:-20}
t=/sys/kernel/tracing
[ -d $t/events ] || mount -t tracefs none $t || exit 2
[ -w $t/events/timer/enable ] || { echo "tcg-smc-probe: no timer events" >&2; exit 2; }
pids=()
for _ in 1 2 3; do
	(while :; do sleep 0.002; done) &
	pids+=($!)
done
end=$((SECONDS + secs)) n=0
while [ $SECONDS -lt $end ]; do
	echo 1 >$t/events/timer/enable
	echo 0 >$t/events/timer/enable
	echo 1 >/proc/sys/kernel/sched_schedstats
	echo 0 >/proc/sys/kernel/sched_schedstats
	n=$((n + 1))
done
kill "${pids[@]}" 2>/dev/null
wait 2>/dev/null
echo "tcg-smc-probe: $n rounds"
