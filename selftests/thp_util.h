/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the project's selftests: THP sysfs knobs, /proc/vmstat
 * counters, smaps fields of one mapping, and 2 MiB-aligned mappings.
 */
#ifndef THP_UTIL_H
#define THP_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#define PMD_SIZE_BYTES	(2UL << 20)
/* Overridable so that the workbench can test these helpers on a fake tree. */
#ifndef THP_SYSFS
#define THP_SYSFS	"/sys/kernel/mm/transparent_hugepage/"
#endif
#define CG_ROOT		"/sys/fs/cgroup/"
/* debugfs fault attribute: reclaim skips reservations as if they were busy. */
#define FAIL_DIR	"/sys/kernel/debug/fail_thp_res_reclaim/"

/* Read a sysfs or procfs file into buf; returns 0 or -errno. */
int read_text(const char *path, char *buf, size_t len);
/* Write a string to a file; returns 0 or -errno (the write's error). */
int write_text(const char *path, const char *val);
/* The selected "[word]" of a THP policy file such as "enabled". */
int thp_get_policy(const char *name, char *buf, size_t len);
/* Set a THP knob relative to THP_SYSFS; exits the test on failure. */
void thp_set(const char *name, const char *val);
/*
 * Save all THP knobs the tests change (the first call only; later ones
 * do nothing); thp_knobs_restore() writes them back. The save also arms
 * the restore at exit and on SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGPIPE
 * (those the caller does not ignore), in the saving process only: a
 * forked child's exit or signal leaves the knobs alone.
 */
void thp_knobs_save(void);
void thp_knobs_restore(void);
/*
 * Run @fn (once, however often registered) where the knobs are restored,
 * before them: at exit and on those signals, in the registering process
 * only. @fn must be async-signal-safe, must work with nothing to undo,
 * and must leave nothing to undo behind it. At most four.
 */
void thp_on_cleanup(void (*fn)(void));
/*
 * Save the knobs, then set what every reservation test starts from: THP
 * enabled=always (2048kB inherits), read faults on the huge zero page,
 * promotion_threshold 256, promotion_early early (if the kernel has it;
 * NULL leaves it as it is) and khugepaged asleep for 10 minutes, so that it promotes nothing a
 * case does not ask for.
 */
void thp_reserve_setup(const char *early);
/* A /proc/vmstat counter, or -1 if the kernel has none of that name. */
long vmstat_get(const char *name);
/* Fold the per-cpu counter deltas into /proc/vmstat (root; no-op if not). */
void vmstat_refresh(void);
/* The value after key and one of the characters of sep at a line's start, or -1. */
long keyed_value_sep(const char *path, const char *key, const char *sep);
/* The value after "key " on a line of a file such as memory.stat, or -1. */
long keyed_file_value(const char *path, const char *key);
/* A "Field:  N kB" value of /proc/meminfo in kB, or -1. */
long meminfo_kb(const char *field);
/* Free memory in kB: MemFree plus the pages on per-cpu free lists. */
long free_kb(void);
/*
 * free_kb() plus Slab, in kB: what a check that freed memory came back
 * compares. Freeing a slab object does not free its slab page at once (RCU,
 * per-cpu partial slabs and, under KASAN, a quarantine of up to 1/32 of
 * RAM), so each /proc read a test makes moves memory from MemFree into Slab
 * for a while; counted here, that is not taken for lost memory. A leaked
 * reservation still shows: its block is 2 MiB of pages outside Slab.
 */
long free_slab_kb(void);
/* A smaps field in kB for the mapping that contains addr, or -1. */
long smaps_kb(void *addr, const char *field);
/* mmap len bytes of private anonymous memory aligned to 2 MiB. */
void *mmap_aligned(size_t len);
char *map_region(size_t len);
void unmap_region(char *p, size_t len);
/* true if got == want; else says "WHAT is GOT, want WANT" and returns false. */
bool expect_eq(const char *what, long got, long want);
/* Physical frame of a virtual address (0 if not present), via pagemap. */
unsigned long pagemap_pfn(void *addr);
/* The /proc/kpageflags word of a frame, or ~0 if it cannot be read. */
unsigned long long kpageflags(unsigned long pfn);
/*
 * Set FAIL_DIR's probability (percent) and times; false if a write failed.
 * A probability other than "0" is set back to 0 at exit (thp_on_cleanup).
 */
bool fail_reclaim_set(const char *prob, const char *times);
/*
 * Wait up to 4 s for free_slab_kb() to be back within 8 MiB of @before;
 * say what it is and return false if it is not.
 */
bool free_back(const char *what, long before);
/*
 * Make the memory cgroup @cg (a path under CG_ROOT, removed first if it is
 * there), enabling the memory controller in the root if it is off.
 */
bool cg_setup(const char *cg);
/* Remove @cg once its tasks are gone; undo what cg_setup() enabled. */
void cg_done(const char *cg);
/*
 * Skip the whole KTAP program unless the geometry is the one the tests
 * are written for (4 KiB base pages, 2 MiB PMD-sized pages), THP is
 * built in and the kernel has THP reservations. Call after the header
 * and before ksft_set_plan(): the skip prints a plan of 0 ("1..0").
 */
void thp_reserve_require(void);
/*
 * Start a KTAP program that needs THP reservations: the header,
 * thp_reserve_require() and thp_reserve_setup(NULL).
 * The caller sets its plan itself: kselftest.h keeps the plan and the
 * counts in static variables of each file that includes it.
 */
void thp_reserve_start(void);
/* The first swap device of /proc/swaps (a /dev path) into @dev; false if none. */
bool swap_device(char *dev, size_t len);
/* The first executable @name in $PATH into @path; false if none. */
bool find_program(const char *name, char *path, size_t len);
/* nr_thp_reserved once it reads @want, or after 2 s of trying. */
long reserved_settle(long want);

#endif
