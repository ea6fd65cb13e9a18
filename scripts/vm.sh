#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# vm.sh [--shell] [CMD...]: boot a built kernel in QEMU and run CMD as root in
# the guest (the host's root filesystem, read-only, with tmpfs on writable
# paths and the host's build/ writable). Prints CMD's output and exits with
# CMD's exit status. When CMD succeeded but the kernel reported a splat, was
# tainted, crashed or hung (watchdog), prints why and exits 125.
#
# Environment: KERNEL=patched|vanilla, FLAVOUR=debug|perf|kasan, VM_MEM (MiB,
# default 4096), VM_CPUS (default 3, split over 2 NUMA nodes), VM_TIMEOUT
# (seconds, default 1800), VM_APPEND (extra kernel command line), VM_CONSOLE
# (where to save the serial console), VM_WHY (a file that gets one line
# saying why, when the guest hung, crashed or reported a splat), ACCEL=tcg|kvm
# (default: kvm only if a probe boot works), VM_PREALLOC=1 (back all guest
# memory on the host before the guest starts).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

KERNEL=${KERNEL:-patched}
FLAVOUR=${FLAVOUR:-debug}
VM_MEM=${VM_MEM:-4096}
VM_CPUS=${VM_CPUS:-3}
VM_TIMEOUT=${VM_TIMEOUT:-1800}
mode=cmd
if [ "${1:-}" = --shell ]; then
	mode=shell
	shift
fi
[ $mode = shell ] || [ $# -gt 0 ] || die "usage: vm.sh [--shell] CMD..."

obj=$(obj_dir "$KERNEL" "$FLAVOUR")
kimg=$obj/arch/x86/boot/bzImage
[ -f "$kimg" ] || die "no $KERNEL-$FLAVOUR kernel: run 'make kernel KERNEL=$KERNEL FLAVOUR=$FLAVOUR' first"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: apt-get install qemu-system-x86"

vmdir=$BUILD/vm
mkdir -p "$vmdir" "$BUILD/log/console"

# initramfs: busybox and our /init, rebuilt when either changes.
initrd=$vmdir/initramfs.cpio.gz
if [ ! -f "$initrd" ] || [ "$TOP/scripts/guest-init" -nt "$initrd" ]; then
	[ -x /bin/busybox ] || die "busybox missing: apt-get install busybox-static"
	ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is not static: apt-get install busybox-static"
	rm -rf "$vmdir/initramfs"
	mkdir -p "$vmdir/initramfs"/{bin,dev,proc,sys,newroot}
	cp /bin/busybox "$vmdir/initramfs/bin/busybox"
	cp "$TOP/scripts/guest-init" "$vmdir/initramfs/init"
	(cd "$vmdir/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
fi

# Accelerator: KVM only if a short probe boot proves it works (on nested
# hosts /dev/kvm exists but guests die or QEMU hangs), else TCG.
# TCG runs every vCPU of a guest on one host thread (thread=single): with
# one thread per vCPU (QEMU 7.2's thread=multi) a vCPU can execute the int3
# that text_poke_bp() writes at a site being live-patched after the patch
# is over, and the guest dies with "Oops: int3" (seen in a soak, in
# tmigr_handle_remote_up()). scripts/tcg-smc-probe.sh flips static keys in a
# loop: under thread=multi the guest died within 5 rounds in 4 of 4 boots,
# under thread=single it ran 154 rounds in 120 s without a report. The
# check guests lose nothing: make check took 30 min 15 s instead of 44 min
# (six vCPU threads no longer fight over two host cores; uffd-unit-tests
# 146 s and 257 s instead of 550 s and 764 s). One upstream test needs truly
# parallel vCPUs (selftests/upstream-parallel): check.sh boots it with
# TCG_THREAD=multi, which also brings the old mode back for comparisons.
tcg_accel="-accel tcg,thread=${TCG_THREAD:-single} -cpu max"
accel_args() {
	case ${ACCEL:-} in
	tcg) echo "$tcg_accel"; return ;;
	kvm) echo "-accel kvm -cpu host"; return ;;
	esac
	local probe=$vmdir/accel
	if [ ! -f "$probe" ]; then
		local res=tcg
		if [ -w /dev/kvm ] && timeout -k 2 20 qemu-system-x86_64 -machine q35 -accel kvm -cpu host \
			-m 256 -display none -monitor none -serial stdio -no-reboot \
			-kernel "$kimg" -initrd "$initrd" -append "console=ttyS0 quiet thpres.probe=1 panic=-1" \
			</dev/null 2>/dev/null | grep -q THPRES-PROBE-OK; then
			res=kvm
		fi
		echo $res >"$probe"
		echo "accelerator: $res (KVM probe $([ $res = kvm ] && echo passed || echo failed: using TCG))" >&2
	fi
	if [ "$(cat "$probe")" = kvm ]; then echo "-accel kvm -cpu host"; else echo "$tcg_accel"; fi
}

# Guest memory the guest has never written costs a host page fault, and
# a 2 MiB host zeroing where the host backs it with a huge page, on its
# first write. A fresh boot therefore charges a 4 KiB write into an
# untouched 2 MiB of guest memory far more than one into memory the guest
# used before, a cost real hardware does not have: it makes a reservation
# (one page written per 2 MiB block) look slow next to never (pages packed
# together). VM_PREALLOC=1 backs every guest page before boot, so that
# benchmarks time the guest kernel and not the host's first touch.
prealloc=off
prealloc_opt=()
if [ "${VM_PREALLOC:-0}" = 1 ]; then
	prealloc=on
	prealloc_opt=(-mem-prealloc)
fi

# Two NUMA nodes when there are at least two vCPUs.
numa=()
if [ "$VM_CPUS" -ge 2 ]; then
	half=$((VM_MEM / 2))
	prealloc_opt=()
	numa=(-object memory-backend-ram,id=m0,size=${half}M,prealloc=$prealloc
	      -object memory-backend-ram,id=m1,size=$((VM_MEM - half))M,prealloc=$prealloc
	      -numa node,nodeid=0,cpus=0-$((VM_CPUS - 2)),memdev=m0
	      -numa node,nodeid=1,cpus=$((VM_CPUS - 1)),memdev=m1)
fi

# why TEXT: the one line of VM_WHY (no file when the guest ran its
# command to a zero exit status with a clean kernel log).
why() {
	[ -z "${VM_WHY:-}" ] || echo "$*" >"$VM_WHY"
}
[ -z "${VM_WHY:-}" ] || rm -f "$VM_WHY"

run=$(mktemp -d "$vmdir/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
swap=$run/swap.img
truncate -s 2G "$swap"
if [ $mode = cmd ]; then
	# A single argument is a shell command line; several are one command.
	if [ $# -eq 1 ]; then
		printf '%s\n' "$1" >"$run/cmd.sh"
	else
		{ printf '%q ' "$@"; echo; } >"$run/cmd.sh"
	fi
fi
stamp=$(date +%Y%m%d-%H%M%S)
console=${VM_CONSOLE:-$BUILD/log/console/$stamp-$KERNEL-$FLAVOUR-$$.log}
ln -sfn "$console" "$BUILD/log/console/latest.log"

# KASAN on 6.12.117 reports a wild-memory-access in early boot interrupts
# when TCG's "-cpu max" offers 5-level paging (LA57): the stock kernel does
# this too. KASAN guests therefore boot with 4-level paging.
kasan_args=
[ "$FLAVOUR" = kasan ] && kasan_args=no5lvl
# Under TCG the host's 2 cores run every vCPU of both check guests, and a
# vCPU thread can go unscheduled for tens of seconds (a 24 s soft lockup in
# stock khugepaged code was seen at promotion_threshold=1): the soft lockup
# and RCU stall detectors wait 120 s instead of 20 s. A real lockup does not
# end and is still reported, as is a task hung for 120 s; that report
# comes with a backtrace of every CPU, which shows what the task holding
# the lock it waits for is doing.
accel=$(accel_args)
tcg_args=
case $accel in *tcg*) tcg_args="watchdog_thresh=60 rcupdate.rcu_cpu_stall_timeout=120" ;; esac
append="console=ttyS0 panic=-1 $kasan_args $tcg_args sysctl.kernel.hung_task_timeout_secs=120 sysctl.kernel.hung_task_all_cpu_backtrace=1 thpres.top=$TOP thpres.build=$BUILD thpres.run=$run thpres.mode=$mode ${VM_APPEND:-}"
# A shell reads the terminal: QEMU must stay in its foreground process group.
stdio_opts=signal=off fg=--foreground
[ $mode = shell ] || stdio_opts=signal=on fg=
set +e
# shellcheck disable=SC2046,SC2086
timeout $fg -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -machine q35 $accel \
	-m "$VM_MEM" "${prealloc_opt[@]}" -smp "$VM_CPUS,sockets=$VM_CPUS,cores=1,threads=1" "${numa[@]}" \
	-display none -monitor none -no-reboot \
	-kernel "$kimg" -initrd "$initrd" -append "$append" \
	-chardev file,id=con,path="$console" -serial chardev:con \
	-chardev stdio,id=io,$stdio_opts -serial chardev:io \
	-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
	-fsdev local,id=top,path="$TOP",security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=top,mount_tag=top \
	-fsdev local,id=build,path="$BUILD",security_model=none \
	-device virtio-9p-pci,fsdev=build,mount_tag=build \
	-drive file="$swap",if=virtio,format=raw,cache=unsafe
qrc=$?
set -e
[ -t 0 ] && stty sane 2>/dev/null

if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	why "hung: QEMU killed after ${VM_TIMEOUT}s (exit status $qrc)"
	echo "error: guest hung: watchdog killed QEMU after ${VM_TIMEOUT}s; console: $console" >&2
	tail -n 20 "$console" | sed 's/^/  | /' >&2
	exit 125
fi
splat=0
"$TOP/scripts/logwatch.sh" "$console" "$run/tainted" || splat=1
if [ ! -f "$run/rc" ]; then
	if [ $splat -eq 1 ]; then
		why "crashed with a kernel report (see the log check above; QEMU exit status $qrc)"
	else
		why "ended without finishing its command and without a kernel report (QEMU exit status $qrc; last console line: $(tail -n 1 "$console" | tr -d '\r'))"
	fi
	echo "error: guest ended without finishing the command (crash or panic; QEMU exit status $qrc); console: $console" >&2
	[ $splat -eq 1 ] || tail -n 20 "$console" | sed 's/^/  | /' >&2
	exit 125
fi
rc=$(cat "$run/rc")
if [ "$rc" -ne 0 ]; then
	why "its command exited with status $rc$([ $splat -eq 0 ] || echo ", and the kernel reported a splat or was tainted")"
	exit "$rc"
fi
[ $splat -eq 0 ] || { why "the kernel reported a splat or was tainted"; exit 125; }
exit 0
