#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# build.sh KERNEL FLAVOUR: configure and build one kernel (patched|vanilla|series,
# debug|perf|kasan) in its kept build directory, with ccache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

k=${1:?KERNEL}
f=${2:?FLAVOUR}
case $f in
debug) frags=(base debug) ;;
kasan) frags=(base debug kasan) ;;
perf) frags=(base perf) ;;
*) die "FLAVOUR must be debug, kasan or perf, not '$f'" ;;
esac
"$TOP/scripts/source.sh"
[ "$k" = patched ] && "$TOP/scripts/apply.sh"
tree=$(kernel_tree "$k")
obj=$(obj_dir "$k" "$f")
log=$BUILD/log/build-$k-$f.log
mkdir -p "$obj" "$CCACHE_DIR"
[ -f "$CCACHE_DIR/ccache.conf" ] || ccache -M 10G >/dev/null

fragfiles=("$tree/kernel/configs/kvm_guest.config")
for fr in "${frags[@]}"; do fragfiles+=("$TOP/config/$fr.config"); done
cstamp=$(cat "${fragfiles[@]}" "$tree/arch/x86/configs/x86_64_defconfig" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$obj/.config-stamp" 2>/dev/null)" != "$cstamp" ] || [ ! -f "$obj/.config" ]; then
	step_begin "configure $k-$f"
	run_logged "$log" kmake "$k" "$f" x86_64_defconfig
	run_logged "$log.merge" "$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" \
		"$obj/.config" "${fragfiles[@]}"
	run_logged "$log" kmake "$k" "$f" olddefconfig
	# Every line of our fragments must have stuck (but the options of the
	# series itself, which the stock kernel has not).
	bad=0
	for fr in "${frags[@]}"; do
		while read -r line; do
			[ "$k" = vanilla ] && [[ $line == *CONFIG_THP_RESERVATIONS* ]] && continue
			case $line in
			CONFIG_*=*) grep -qxF "$line" "$obj/.config" || {
				warn "config/$fr.config: '$line' did not stick"; bad=1; } ;;
			"# CONFIG_"*" is not set")
				sym=${line#\# }; sym=${sym%% *}
				grep -q "^$sym=" "$obj/.config" && {
					warn "config/$fr.config: '$line' did not stick"; bad=1; } ;;
			esac
		done <"$TOP/config/$fr.config"
	done
	[ $bad -eq 0 ] || die "configuration $k-$f does not match the fragments (see above)"
	echo "$cstamp" >"$obj/.config-stamp"
	step_end "configure $k-$f"
fi

step_begin "build $k-$f kernel (log: $log)"
total=$(build_total "$obj" "$f")
full=0
[ -f "$obj/vmlinux" ] || full=1
build_progress "$log" "${total:-0}" &
ticker=$!
rc=0
run_logged "$log" kmake "$k" "$f" bzImage || rc=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null || true
[ $rc -eq 0 ] || exit $rc
[ $full -eq 0 ] || grep -c '^ *CC ' "$log" >"$obj/.build-files" || true
kmake "$k" "$f" -s kernelrelease >"$obj/kernelrelease"
step_end "build $k-$f kernel (log: $log)"
echo "kernel: $(cat "$obj/kernelrelease") ($obj/arch/x86/boot/bzImage)"
