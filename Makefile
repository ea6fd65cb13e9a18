# SPDX-License-Identifier: GPL-2.0
# Front door of the workbench. Everything generated goes under build/.
# "make help" prints the block below; keep it in step with the targets.
#
# Targets:
#   run            build the patched perf kernel, boot it, show what reservations do
#   check          build the debug kernel, run every test, harness self-tests, lint
#   check-kasan    check on the debug kernel with KASAN (about twice as long)
#   soak           the fuzz and soak tests alone, long (SOAK_SECONDS, FUZZ_OPS)
#   lint           checkpatch, sparse, W=1, docutils; the series on the newest 6.12;
#                  tinyconfig builds with THP off, reservations out and in
#   kernel         build KERNEL in FLAVOUR (default: patched, debug)
#   vanilla        build the stock kernel (default flavour perf)
#   selftests      build the project's and the upstream mm selftests
#   shell          boot a built kernel and give a root shell in the guest
#   vm-run         boot a built kernel and run CMD in the guest
#   bench          every benchmark scenario, 6 stock and 5 reservation policies
#   bench-promote  make bench's promote scenario: in place against copy collapse
#   bench-fork     make bench's fork scenarios: in a memcg and system-wide
#   bench-mthp     make bench's mthp scenario: the mTHP fallback after a break
#   series         export the change as a format-patch series; check that it applies
#   series-build   build the kernel after each patch of the series
#   export-patches write commits made in build/src/linux back to patches/
#   setup source apply   install packages / unpack the kernel / apply the series
#   clean distclean      remove builds and guests / all of build/
#
# Variables:
#   KERNEL=patched|vanilla     which kernel (default patched)
#   FLAVOUR=debug|kasan|perf   kernel configuration (check: debug; run, bench: perf)
#   TESTS="label ..."          check: only these tests (labels as in build/results)
#   PARITY=0                   check: skip the upstream runs at promotion_threshold=1
#   LINT=0                     check: skip make lint
#   GUESTS=1                   check: one guest instead of two side by side
#   TEST_TIMEOUT=s             check: limit per test (default 900; check-kasan 1800)
#   LINT_CONFIGS="..."         lint: tinyconfig builds (thp-off no-reservations
#                              tiny-reservations; check: no-reservations)
#   SOAK_SECONDS=s FUZZ_OPS=n  stress-ng time and trinity calls (60/20000; soak 900/150000)
#   QUICK=1 RUNS=n             bench: one short run / runs per policy (default 3)
#   SCENARIOS="..." POLICIES="..."  bench: subsets of scenarios and policies
#   BOOT=run                   bench: one boot per policy and run, not per scenario
#   CMD='...'                  vm-run: the command to run in the guest
#   VM_MEM VM_CPUS VM_TIMEOUT  guest MiB (4096), vCPUs (3), time limit in s (1800)
#   VM_PREALLOC=0|1            back guest memory on the host first (bench: 1, else 0)
#   ACCEL=tcg|kvm              emulator (default kvm only where a probe boot works)
#   TCG_THREAD=single|multi    TCG threading (default single)
#   JOBS=n                     parallel build jobs (default: all cores)

KERNEL ?= patched
S := scripts
export KERNEL

.PHONY: all run check check-kasan soak setup source apply export-patches kernel vanilla selftests \
	shell vm-run lint bench bench-promote bench-fork bench-mthp series series-build clean distclean help

all: help

help:
	@sed -n '/^# Targets:/,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

setup:
	@$(S)/setup.sh

source: setup
	@$(S)/source.sh

apply: source
	@$(S)/apply.sh

# The kernel that check and shell use by default is the debug flavour; run and
# benchmarks use perf.
kernel: setup
	@$(S)/build.sh $(KERNEL) $(or $(FLAVOUR),debug)

vanilla: setup
	@$(S)/build.sh vanilla $(or $(FLAVOUR),perf)

selftests: setup
	@$(S)/selftests.sh

check: setup
	@FLAVOUR=$(or $(FLAVOUR),debug) $(S)/check.sh

# KASAN makes the guests about three times slower: each test gets twice the
# time limit (trinity's 20000 calls took 785 s there, 233 s on debug).
check-kasan: setup
	@FLAVOUR=kasan TEST_TIMEOUT=$(or $(TEST_TIMEOUT),1800) $(S)/check.sh

# make check runs a bounded slice of these (60 s of stress-ng, 20000 trinity
# calls); this runs them long, without lint and the upstream tests. A guest
# may take both tests (GUESTS=1): its time limit is twice TEST_TIMEOUT and more.
soak: setup
	@FLAVOUR=$(or $(FLAVOUR),debug) PARITY=0 LINT=0 \
		TESTS="project-thp_soak project-thp_fuzz" \
		SOAK_SECONDS=$(or $(SOAK_SECONDS),900) FUZZ_OPS=$(or $(FUZZ_OPS),150000) \
		TEST_TIMEOUT=$(or $(TEST_TIMEOUT),3600) VM_TIMEOUT=$(or $(VM_TIMEOUT),7800) \
		$(S)/check.sh

run: setup
	@$(S)/build.sh $(KERNEL) perf
	@$(S)/selftests.sh
	@KERNEL=$(KERNEL) FLAVOUR=perf $(S)/vm.sh $(CURDIR)/$(S)/demo.sh
	@QUICK=1 BOOT=run SCENARIOS="fork tohuge gups" \
		POLICIES="reserve-t256 reserve-t1 patched-never" \
		BENCH_RESULTS=$(CURDIR)/build/run-bench benchmarks/bench.sh

shell: setup
	@test -f build/obj/$(KERNEL)-$(or $(FLAVOUR),debug)/arch/x86/boot/bzImage || \
		$(S)/build.sh $(KERNEL) $(or $(FLAVOUR),debug)
	@FLAVOUR=$(or $(FLAVOUR),debug) $(S)/vm.sh --shell

vm-run: setup
	@test -n "$(CMD)" || { echo "usage: make vm-run CMD='command'" >&2; exit 2; }
	@test -f build/obj/$(KERNEL)-$(or $(FLAVOUR),debug)/arch/x86/boot/bzImage || \
		$(S)/build.sh $(KERNEL) $(or $(FLAVOUR),debug)
	@FLAVOUR=$(or $(FLAVOUR),debug) $(S)/vm.sh "$(CMD)"

lint: setup
	@$(S)/lint.sh

# Every scenario of benchmarks/README.md under every policy it runs
# under, one invocation (QUICK=1: one short run).
bench: setup
	@benchmarks/bench.sh

# Subsets of make bench (SCENARIOS and POLICIES as given, or these):
# promotion in place against copy collapse and random access afterwards;
# fork until failure in a memory cgroup and system-wide; the mTHP
# fallback's memory and random access for a half-dense pattern.
bench-promote: setup
	@SCENARIOS="$(or $(SCENARIOS),promote)" \
		POLICIES="$(or $(POLICIES),vanilla-never vanilla-always reserve-t256 reserve-t512)" benchmarks/bench.sh
bench-fork: setup
	@SCENARIOS="$(or $(SCENARIOS),fork fork-system)" benchmarks/bench.sh
bench-mthp: setup
	@SCENARIOS="$(or $(SCENARIOS),mthp)" \
		POLICIES="$(or $(POLICIES),reserve-t256-mthp64 reserve-t256 vanilla-mthp64 vanilla-never)" \
		benchmarks/bench.sh

series: setup
	@$(S)/series.sh --verify

# Write the commits made in build/src/linux back into patches/.
export-patches:
	@$(S)/export.sh

# Also build the kernel after each patch of the series.
series-build: setup
	@$(S)/series.sh --build

clean:
	rm -rf build/obj build/kselftest build/tools build/series build/vm

distclean:
	rm -rf build
