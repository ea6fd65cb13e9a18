// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations, parts 1 to 4. Part 1: with
 * enabled=always and promotion_threshold > 1, the first write fault in an
 * empty aligned 2 MiB range of a private anonymous VMA takes a physically
 * aligned 2 MiB block and maps only the faulting page; later write faults
 * in the range map the block's own pages; the reservation is released
 * (never-used pages back to the buddy allocator) by anything that breaks
 * the range up. Part 2: khugepaged promotes a reservation with
 * promotion_threshold used pages in place (the range is then mapped by the
 * very block it used), MADV_COLLAPSE at once, a full one without waiting;
 * pinned and shared pages make it fail safely. Part 3: memory pressure
 * (a memcg limit, memory.reclaim, drop_caches, a full node) breaks
 * reservations, least recently populated first and on the node and memcg
 * of their pages, before anything in use is swapped out or OOM-killed.
 * Part 4: a reservation that ends without a promotion keeps its densely
 * used chunks as mTHPs of the enabled sizes, on the same frames, and
 * nothing creeps up from there.
 *
 * Every case maps its own guarded 2 MiB-aligned region, writes a data
 * pattern before the operation and checks every byte after it, checks the
 * exact /proc/vmstat deltas the contract makes exact, and ends with the
 * invariants: nr_thp_reserved back to its value before the case and, where
 * the case freed everything, free memory back within 1%.
 *
 * Single-threaded. Needs root (pagemap PFNs, stat_refresh, sysfs, cgroups).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "kselftest.h"
#include "thp_util.h"

#define PMD		PMD_SIZE_BYTES
#define PG		4096UL
#define NPG		((int)(PMD / PG))	/* base pages per 2 MiB range */
#define ANY		LONG_MIN		/* a delta that is not checked */
#define SKIP_PAGE	0xffff			/* layout: page not checked */

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	(1 << 1)
#endif

/* ---- data patterns ---------------------------------------------------- */

/* What a case wrote into one 2 MiB range. */
struct layout {
	unsigned int seed[NPG];
	unsigned short n[NPG];	/* bytes written from the page start, or SKIP_PAGE */
};

/* Byte off of a page written with seed: never zero. */
static unsigned char pat(unsigned int seed, unsigned long off)
{
	unsigned char v = (unsigned char)(((seed * 2654435761u) >> 24) + off * 7 + (off >> 8) * 3);

	return v ? v : 0xa5;
}

/* Write the first n bytes of page pg with the pattern of seed. */
static void put(char *p, struct layout *l, int pg, unsigned int n, unsigned int seed)
{
	char *q = p + pg * PG;

	for (unsigned long off = 0; off < n; off++)
		q[off] = (char)pat(seed, off);
	l->seed[pg] = seed;
	l->n[pg] = n;
}

/* Write all of page pg with a pattern of its own. */
static void fill(char *p, struct layout *l, int pg)
{
	put(p, l, pg, PG, 0x1000 + pg);
}

/* Every byte of pages [from, to): the pattern where written, zero elsewhere. */
static bool verify(const char *what, const char *p, const struct layout *l, int from, int to)
{
	for (int pg = from; pg < to; pg++) {
		const unsigned char *q = (const unsigned char *)p + pg * PG;

		if (l->n[pg] == SKIP_PAGE)
			continue;
		for (unsigned long off = 0; off < PG; off++) {
			unsigned char want = off < l->n[pg] ? pat(l->seed[pg], off) : 0;

			if (q[off] != want) {
				ksft_print_msg("%s: page %d byte %lu is %#x, want %#x\n",
					       what, pg, off, q[off], want);
				return false;
			}
		}
	}
	return true;
}

/*
 * verify() that goes on past a mismatch, over the written pages only: the
 * number of their bytes that are not the pattern where written and zero
 * elsewhere. The first such byte is printed if print.
 */
static long count_bad(const char *what, const char *p, const struct layout *l, bool print)
{
	long bad = 0;

	for (int pg = 0; pg < NPG; pg++) {
		const unsigned char *q = (const unsigned char *)p + pg * PG;

		if (!l->n[pg] || l->n[pg] == SKIP_PAGE)
			continue;
		for (unsigned long off = 0; off < PG; off++) {
			unsigned char want = off < l->n[pg] ? pat(l->seed[pg], off) : 0;

			if (q[off] == want)
				continue;
			if (print && !bad)
				ksft_print_msg("%s: page %d byte %lu is %#x, want %#x\n",
					       what, pg, off, q[off], want);
			bad++;
		}
	}
	return bad;
}

static bool page_is_zero(const char *q)
{
	for (unsigned long off = 0; off < PG; off++)
		if (q[off])
			return false;
	return true;
}

/*
 * Every written page of the range is page pg of one physically aligned
 * 2 MiB block: pfn % 512 == pg, all with the same pfn / 512.
 */
static bool check_block(const char *what, char *p, const struct layout *l)
{
	long block = -1;

	for (int pg = 0; pg < NPG; pg++) {
		unsigned long pfn;

		if (!l->n[pg] || l->n[pg] == SKIP_PAGE)
			continue;
		pfn = pagemap_pfn(p + pg * PG);
		if (!pfn) {
			ksft_print_msg("%s: page %d has no PFN in pagemap\n", what, pg);
			return false;
		}
		if (pfn % NPG != (unsigned long)pg || (block >= 0 && pfn / NPG != (unsigned long)block)) {
			ksft_print_msg("%s: page %d has pfn %#lx (offset %lu in block %#lx), want offset %d in block %#lx\n",
				       what, pg, pfn, pfn % NPG, pfn / NPG, pg, block);
			return false;
		}
		block = pfn / NPG;
	}
	return true;
}

/* ---- counters --------------------------------------------------------- */

struct counters {
	long alloc, failed, populate, release, reserved;
};

static void counters_read(struct counters *c)
{
	vmstat_refresh();
	c->alloc = vmstat_get("thp_res_alloc");
	c->failed = vmstat_get("thp_res_alloc_failed");
	c->populate = vmstat_get("thp_res_populate");
	c->release = vmstat_get("thp_res_release");
	c->reserved = vmstat_get("nr_thp_reserved");
}

/* The n deltas got[] are the wanted ones (ANY: not checked); print misses. */
static bool deltas_match(const char *what, const char * const *name, const long *want,
			 const long *got, int n)
{
	bool ok = true;

	for (int i = 0; i < n; i++) {
		if (want[i] == ANY || got[i] == want[i])
			continue;
		ksft_print_msg("%s: %s %+ld, want %+ld\n", what, name[i], got[i], want[i]);
		ok = false;
	}
	return ok;
}

/* Check b - a against the wanted deltas (ANY: not checked); print misses. */
static bool deltas(const char *what, const struct counters *a, const struct counters *b,
		   long alloc, long populate, long release, long reserved)
{
	static const char * const name[] = {
		"thp_res_alloc", "thp_res_populate", "thp_res_release", "nr_thp_reserved",
	};
	const long want[] = { alloc, populate, release, reserved };
	const long got[] = {
		b->alloc - a->alloc, b->populate - a->populate,
		b->release - a->release, b->reserved - a->reserved,
	};
	bool ok = deltas_match(what, name, want, got, 4);

	if (!ok && b->failed != a->failed)
		ksft_print_msg("%s: thp_res_alloc_failed %+ld\n", what, b->failed - a->failed);
	return ok;
}

#define CHECK(t, cond) do {							\
	if (!(cond)) {								\
		ksft_print_msg("line %d: %s failed\n", __LINE__, #cond);	\
		(t)->ok = false;						\
	}									\
} while (0)

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * The /proc/vmstat counter name once it equals want (or, with at_least,
 * reaches it), or its value after 2 s.
 */
static long wait_vmstat(const char *name, long want, bool at_least)
{
	long v = 0;

	for (int i = 0; i < 40; i++) {
		vmstat_refresh();
		v = vmstat_get(name);
		if (v == want || (at_least && v > want))
			break;
		sleep_ms(50);
	}
	return v;
}

/* nr_thp_reserved once it equals want, or its value after 2 s. */
static long wait_reserved(long want)
{
	return wait_vmstat("nr_thp_reserved", want, false);
}

/*
 * How far free_slab_kb() rose above @before, once it reached @min_kb or
 * after 2 s: the split of a block that reclaim found locked runs in a
 * worker, and split pieces still in a CPU's LRU batch are freed when it
 * drains, so pages come back shortly after the counters move (under
 * KASAN measurably later).
 */
static long free_rise(long before, long min_kb)
{
	long rise = 0;

	for (int i = 0; i < 40; i++) {
		rise = free_slab_kb() - before;
		if (rise >= min_kb)
			break;
		sleep_ms(50);
	}
	return rise;
}

/* free_slab_kb() rises by want_kb (+-10%) from before within 2 s. */
static bool free_rises(const char *what, long before, long want_kb)
{
	long rise = free_rise(before, want_kb - want_kb / 10);

	if (rise >= want_kb - want_kb / 10 && rise <= want_kb + want_kb / 10)
		return true;
	ksft_print_msg("%s: free memory rose by %ld kB, want %ld kB +-10%%\n", what, rise, want_kb);
	return false;
}

/* ---- cases: begin, end with the invariants ---------------------------- */

struct tcase {
	const char *name;
	struct counters c0;
	long free0;
	bool ok;
};

static void case_begin(struct tcase *t, const char *name)
{
	t->name = name;
	t->ok = true;
	counters_read(&t->c0);
	t->free0 = free_slab_kb();
}

/*
 * No reservation outlives its case; where the case unmapped everything,
 * all of it is free again (free_slab_kb() within 1%, after up to 2 s).
 */
static void case_end(struct tcase *t, bool freed_all)
{
	long res = wait_reserved(t->c0.reserved);
	long now = 0;

	if (res != t->c0.reserved) {
		ksft_print_msg("after the case: nr_thp_reserved %ld, was %ld before it\n",
			       res, t->c0.reserved);
		t->ok = false;
	}
	if (freed_all) {
		for (int i = 0; i < 40; i++) {
			now = free_slab_kb();
			if (now >= t->free0 - t->free0 / 100)
				break;
			sleep_ms(50);
		}
		if (now < t->free0 - t->free0 / 100) {
			ksft_print_msg("after the case: free %ld kB, was %ld kB before it (%+ld kB)\n",
				       now, t->free0, now - t->free0);
			t->ok = false;
		}
	}
	ksft_test_result(t->ok, "%s\n", t->name);
}

/* ---- regions ---------------------------------------------------------- */


/* The pages the release cases write: 8 used, pages 256 and 200 never used. */
static const int std_pages[] = { 0, 1, 2, 3, 100, 300, 301, 510 };
#define NR_STD	((int)ARRAY_SIZE(std_pages))

/*
 * Writes to the n pages of the empty range at p: one new reservation, the
 * first page allocated with the block and the others populated from it.
 */
static bool fill_reserving(const char *what, char *p, struct layout *l, const int *pages, int n)
{
	struct counters a, b;

	counters_read(&a);
	for (int i = 0; i < n; i++)
		fill(p, l, pages[i]);
	counters_read(&b);
	return deltas(what, &a, &b, 1, n - 1, 0, NPG - n);
}

/* One write to page pg of an empty range: a new reservation, 511 pages held back. */
static bool fill_reserves(const char *what, char *p, struct layout *l, int pg)
{
	return fill_reserving(what, p, l, &pg, 1);
}

/* One write to page pg at p neither makes nor uses a reservation. */
static bool fill_unreserved(const char *what, char *p, struct layout *l, int pg)
{
	struct counters a, b;

	counters_read(&a);
	fill(p, l, pg);
	counters_read(&b);
	return deltas(what, &a, &b, 0, 0, 0, 0);
}

/*
 * Only base pages are mapped (Rss rss_kb, no huge page), each at its own
 * offset in one aligned block, and the whole range reads what was written.
 */
static bool check_small_pages(const char *what, char *p, const struct layout *l, long rss_kb)
{
	bool ok = expect("Rss kB", smaps_kb(p, "Rss"), rss_kb);

	ok &= expect("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), 0);
	ok &= check_block(what, p, l);
	ok &= verify(what, p, l, 0, NPG);
	return ok;
}

/* Map a region and write std_pages: one live reservation with 504 unused pages. */
static char *reserve_std(struct tcase *t, struct layout *l)
{
	char *p = map_region(PMD);

	t->ok &= fill_reserving("reserve", p, l, std_pages, NR_STD);
	t->ok &= check_block("reserve", p, l);
	return p;
}

/*
 * Begin a release case: the std_pages reservation in a region of its own,
 * and the counters just before the operation under test.
 */
static char *begin_release(struct tcase *t, const char *name, struct layout *l,
			   struct counters *before)
{
	char *p;

	case_begin(t, name);
	p = reserve_std(t, l);
	counters_read(before);
	return p;
}

/* The operation since before released nr reservations and nothing else. */
static void expect_releases(struct tcase *t, const char *what, const struct counters *before,
			    long nr)
{
	struct counters after;

	wait_reserved(t->c0.reserved);
	counters_read(&after);
	t->ok &= deltas(what, before, &after, 0, 0, nr, t->c0.reserved - before->reserved);
}

/* The operation since before released the reservation and nothing else. */
static void expect_release(struct tcase *t, const char *what, const struct counters *before)
{
	expect_releases(t, what, before, 1);
}

/* munmap of the len bytes at p releases nr reservations and nothing else. */
static void unmap_releases(struct tcase *t, char *p, size_t len, long nr)
{
	struct counters a;

	counters_read(&a);
	unmap_region(p, len);
	expect_releases(t, "munmap", &a, nr);
}

/* A call of the operation under test that fails (ret nonzero) fails the case. */
static void check_call(struct tcase *t, const char *call, int ret)
{
	if (ret) {
		ksft_print_msg("%s: %s\n", call, strerror(errno));
		t->ok = false;
	}
}

/* The whole 2 MiB range at p still reads what was written; unmap it, end the case. */
static void end_intact(struct tcase *t, const char *what, char *p, const struct layout *l)
{
	t->ok &= verify(what, p, l, 0, NPG);
	unmap_region(p, PMD);
	case_end(t, true);
}

/* ---- child processes -------------------------------------------------- */

/*
 * Parent and child send each other 1 (ok, go on) or 0 through pipes; a
 * child's messages go to stdout, flushed before it sends.
 */
static bool pipe_send(int fd, bool ok)
{
	char c = ok;

	fflush(stdout);
	return write(fd, &c, 1) == 1;
}

static bool pipe_wait(int fd)
{
	char c = 0;

	return read(fd, &c, 1) == 1 && c == 1;
}

static pid_t fork_flushed(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	return pid;
}

static bool reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return false;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		ksft_print_msg("child exited with status %#x\n", status);
		return false;
	}
	return true;
}

/*
 * Fork with two pipes, up from the child and down to it; each side closes
 * the ends it does not use. Returns the child's pid, 0 in the child.
 */
static pid_t fork_piped(int up[2], int down[2])
{
	pid_t pid;

	if (pipe(up) || pipe(down))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	pid = fork_flushed();
	if (!pid) {
		close(up[0]);
		close(down[1]);
	} else {
		close(up[1]);
		close(down[0]);
	}
	return pid;
}

/* The child of fork_piped() exited with 0; the parent's pipe ends are closed. */
static bool reap_piped(pid_t pid, int up[2], int down[2])
{
	bool ok = reap(pid);

	close(up[0]);
	close(down[1]);
	return ok;
}

/* ==== 1-6: creation, populate, where no reservation is made ============ */

/*
 * The first write fault in an empty aligned 2 MiB range takes a whole,
 * physically aligned block but maps only the faulting page: one
 * reservation, 511 pages held back, Rss 4 kB, no huge page, and the page is
 * at its own offset in the block.
 */
static void test_first_write(void)
{
	struct layout l = {};
	struct tcase t;
	char *p;

	case_begin(&t, "reserve: first write maps one page of an aligned block");
	p = map_region(PMD);
	t.ok &= fill_reserves("first write", p, &l, 37);
	t.ok &= check_small_pages("first write", p, &l, 4);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/*
 * Later write faults in the range map the block's own pages, zeroed,
 * without allocating: populate +1 and one page fewer held back per page.
 */
static void test_populate(void)
{
	struct layout l = {};
	struct counters a, b;
	struct tcase t;
	char *p;

	case_begin(&t, "populate: later writes map the block's own zeroed pages");
	p = map_region(PMD);
	t.ok &= fill_reserves("first write", p, &l, 37);
	/* Half pages: the rest of each must read zero. */
	counters_read(&a);
	put(p, &l, 0, PG / 2, 1);
	put(p, &l, 255, 100, 2);
	put(p, &l, 511, 1, 3);
	counters_read(&b);
	t.ok &= deltas("3 more writes", &a, &b, 0, 3, 0, -3);
	t.ok &= check_small_pages("populate", p, &l, 16);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/*
 * A read fault maps the huge zero page and reserves nothing; the first
 * write in the range then reserves and maps a page of the block.
 */
static void test_read_then_write(void)
{
	struct layout l = {};
	struct counters a, b;
	struct tcase t;
	volatile char *v;
	char *p;
	char sink = 0;

	case_begin(&t, "read fault: no reservation until the first write");
	p = map_region(PMD);
	v = p;
	counters_read(&a);
	sink |= v[0] | v[10 * PG + 5] | v[PMD - 1];
	counters_read(&b);
	CHECK(&t, sink == 0);
	t.ok &= deltas("read fault", &a, &b, 0, 0, 0, 0);
	t.ok &= fill_reserves("write after read", p, &l, 10);
	t.ok &= check_small_pages("write after read", p, &l, 4);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/*
 * The first write (page 3) to the empty range at p maps a huge page
 * (thp_fault_alloc +1, AnonHugePages 2 MiB) and reserves nothing.
 */
static bool fill_huge(const char *what, char *p, struct layout *l)
{
	long thp0 = vmstat_get("thp_fault_alloc");
	bool ok = fill_unreserved("first write", p, l, 3);

	ok &= expect("thp_fault_alloc delta", vmstat_get("thp_fault_alloc") - thp0, 1);
	ok &= expect("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), 2048);
	ok &= verify(what, p, l, 0, NPG);
	return ok;
}

/* MADV_HUGEPAGE VMAs keep today's behaviour: a huge page at first fault. */
static void test_madv_hugepage(void)
{
	struct layout l = {};
	struct counters a, b;
	struct tcase t;
	char *p;

	case_begin(&t, "MADV_HUGEPAGE: first write maps a huge page, no reservation");
	p = map_region(PMD);
	if (madvise(p, PMD, MADV_HUGEPAGE))
		ksft_exit_fail_msg("madvise(MADV_HUGEPAGE): %s\n", strerror(errno));
	t.ok &= fill_huge("MADV_HUGEPAGE", p, &l);
	counters_read(&a);
	unmap_region(p, PMD);
	counters_read(&b);
	t.ok &= deltas("munmap", &a, &b, 0, 0, 0, 0);
	case_end(&t, true);
}

/* promotion_threshold=1 is the stock kernel: a huge page, no reservation. */
static void test_threshold_one(void)
{
	struct layout l = {};
	struct tcase t;
	char *p;

	case_begin(&t, "promotion_threshold=1: stock huge page at first write");
	thp_set("promotion_threshold", "1");
	p = map_region(PMD);
	t.ok &= fill_huge("threshold 1", p, &l);
	unmap_region(p, PMD);
	thp_set("promotion_threshold", "256");
	case_end(&t, true);
}

/*
 * Write each of bad[] to the knob name: -EINVAL and the value unchanged;
 * an empty write changes nothing; each good[i][0] reads back as good[i][1].
 */
static void knob_input(struct tcase *t, const char *name, const char * const *bad, size_t nbad,
		       const char * const (*good)[2], size_t ngood)
{
	char path[256], before[64], after[64];
	int err;

	snprintf(path, sizeof(path), THP_SYSFS "%s", name);
	for (size_t i = 0; i < nbad; i++) {
		thp_get_policy(name, before, sizeof(before));
		err = write_file(path, bad[i]);
		thp_get_policy(name, after, sizeof(after));
		if (err != -EINVAL || strcmp(before, after)) {
			ksft_print_msg("%s: write \"%s\": %s (want EINVAL); value %s -> %s\n", name,
				       strcmp(bad[i], "\n") ? bad[i] : "\\n",
				       err ? strerror(-err) : "success", before, after);
			t->ok = false;
		}
	}
	/* The empty write (0 bytes, never reaches the store): nothing changes. */
	thp_get_policy(name, before, sizeof(before));
	write_file(path, "");
	thp_get_policy(name, after, sizeof(after));
	CHECK(t, !strcmp(before, after));
	for (size_t i = 0; i < ngood; i++) {
		err = write_file(path, good[i][0]);
		thp_get_policy(name, after, sizeof(after));
		if (err || strcmp(after, good[i][1])) {
			ksft_print_msg("%s: write \"%s\": %s; reads back \"%s\", want \"%s\"\n",
				       name, good[i][0], err ? strerror(-err) : "success", after,
				       good[i][1]);
			t->ok = false;
		}
	}
}

/*
 * promotion_threshold takes a decimal 1..512, promotion_early 0 or 2..512:
 * anything else is -EINVAL and leaves the value as it was. A zero-length
 * write never reaches a sysfs store (it returns 0), so the empty input is
 * "\n", what `echo >` writes.
 */
static void test_sysfs_input(void)
{
	static const char * const bad_threshold[] = {
		"0", "513", "abc", "\n", "-1", "99999999999999999999", "1x",
	};
	static const char * const good_threshold[][2] = {
		{ "1", "1" }, { "512", "512" }, { "256\n", "256" },
	};
	static const char * const bad_early[] = {
		"1", "513", "abc", "\n", "-1", "99999999999999999999", "16x",
	};
	static const char * const good_early[][2] = {
		{ "2", "2" }, { "512", "512" }, { "16\n", "16" }, { "0", "0" },
	};
	struct tcase t;

	case_begin(&t, "sysfs: promotion_threshold and promotion_early reject bad input");
	knob_input(&t, "promotion_threshold", bad_threshold, ARRAY_SIZE(bad_threshold),
		   good_threshold, ARRAY_SIZE(good_threshold));
	thp_set("promotion_threshold", "256");
	knob_input(&t, "promotion_early", bad_early, ARRAY_SIZE(bad_early),
		   good_early, ARRAY_SIZE(good_early));
	case_end(&t, false);
}

/* ==== 7-17: release ====================================================== */

/* munmap of the whole range: released, the whole block free again. */
static void test_munmap_all(void)
{
	struct layout l = {};
	struct tcase t;
	char *p;

	case_begin(&t, "release: munmap of the whole range");
	p = reserve_std(&t, &l);
	t.ok &= verify("before munmap", p, &l, 0, NPG);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/*
 * munmap of one never-used page in the middle splits the VMA inside the
 * range: released, the 504 never-used pages go back to the buddy allocator
 * within 2 s, the rest of the data stays.
 */
static void test_munmap_middle(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	long before;
	char *p;

	p = begin_release(&t, "release: munmap of one page frees the never-used pages", &l, &a);
	before = free_slab_kb();
	munmap(p + 256 * PG, PG);
	expect_release(&t, "munmap of page 256", &a);
	t.ok &= free_rises("munmap of page 256", before, (NPG - NR_STD) * PG / 1024);
	l.n[256] = SKIP_PAGE;
	end_intact(&t, "after munmap of page 256", p, &l);
}

/* A child's reservations go with it at exit. */
static void test_exit(void)
{
	struct counters a, b;
	struct tcase t;
	int fds[2];
	pid_t pid;

	case_begin(&t, "release: process exit");
	if (pipe(fds))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	counters_read(&a);
	pid = fork_flushed();
	if (!pid) {
		static const int pages[] = { 0, 1 };
		struct layout l = {};
		char *p = map_region(PMD);
		bool ok;

		ok = fill_reserving("child: 2 writes", p, &l, pages, 2);
		ok &= expect("child: Rss kB", smaps_kb(p, "Rss"), 8);
		ok &= verify("child", p, &l, 0, NPG);
		pipe_send(fds[1], ok);
		_exit(0);	/* still mapped: exit releases it */
	}
	close(fds[1]);	/* a dead child then reads as EOF */
	t.ok &= pipe_wait(fds[0]);
	t.ok &= reap(pid);
	close(fds[0]);
	wait_reserved(t.c0.reserved);
	counters_read(&b);
	t.ok &= deltas("child's life", &a, &b, 1, 1, 1, 0);
	case_end(&t, true);
}

/* mremap moving the range (to an unaligned address) releases it; data moves. */
static void test_mremap_move(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	char *p, *q, *dst;

	case_begin(&t, "release: mremap move to an unaligned address keeps the data");
	p = reserve_std(&t, &l);
	q = map_region(2 * PMD);
	dst = q + PG;
	counters_read(&a);
	if (mremap(p, PMD, PMD, MREMAP_MAYMOVE | MREMAP_FIXED, dst) != dst) {
		ksft_print_msg("mremap: %s\n", strerror(errno));
		t.ok = false;
		unmap_region(p, PMD);
	} else {
		expect_release(&t, "mremap move", &a);
		t.ok &= expect("Rss kB at the destination", smaps_kb(dst, "Rss"), NR_STD * 4);
		t.ok &= verify("after mremap move", dst, &l, 0, NPG);
		unmap_region(p, PMD);	/* the guards left behind */
	}
	unmap_region(q, 2 * PMD);
	case_end(&t, true);
}

/* mremap shrinking the VMA through the range releases it. */
static void test_mremap_shrink(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	char *p;

	p = begin_release(&t, "release: mremap shrink through the range", &l, &a);
	if (mremap(p, PMD, PMD / 2, 0) != p) {
		ksft_print_msg("mremap: %s\n", strerror(errno));
		t.ok = false;
	} else {
		expect_release(&t, "mremap shrink", &a);
		t.ok &= verify("after mremap shrink", p, &l, 0, NPG / 2);
	}
	unmap_region(p, PMD);
	case_end(&t, true);
}

/* mprotect of one page in the middle splits the VMA: released, data stays. */
static void test_mprotect_split(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	char *p;

	p = begin_release(&t, "release: mprotect of one page splits the VMA", &l, &a);
	check_call(&t, "mprotect", mprotect(p + 300 * PG, PG, PROT_READ));
	expect_release(&t, "mprotect of page 300", &a);
	end_intact(&t, "after mprotect", p, &l);
}

/*
 * mlock of one (used) page in the middle splits the VMA: released, data
 * stays, and mlock's own populate of that page allocates nothing.
 */
static void test_mlock_split(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	char *p;

	p = begin_release(&t, "release: mlock of one page splits the VMA", &l, &a);
	check_call(&t, "mlock", mlock(p + 300 * PG, PG));
	expect_release(&t, "mlock of page 300", &a);
	t.ok &= verify("after mlock", p, &l, 0, NPG);
	munlock(p + 300 * PG, PG);
	unmap_region(p, PMD);
	case_end(&t, true);
}

/*
 * MADV_DONTNEED of one used page: released at once, the never-used pages
 * and the zapped page are free within 2 s, the page reads zero, the rest
 * stays.
 */
static void test_dontneed(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	long before;
	char *p;

	p = begin_release(&t, "release: MADV_DONTNEED of one page frees the never-used pages",
			  &l, &a);
	before = free_slab_kb();
	check_call(&t, "madvise(MADV_DONTNEED)", madvise(p + 300 * PG, PG, MADV_DONTNEED));
	expect_release(&t, "MADV_DONTNEED", &a);
	t.ok &= free_rises("MADV_DONTNEED", before, (NPG - NR_STD + 1) * PG / 1024);
	l.n[300] = 0;	/* zapped: reads zero */
	end_intact(&t, "after MADV_DONTNEED", p, &l);
}

/* MADV_FREE of one page: released; that page is its data or zero. */
static void test_madv_free(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	struct layout one = {};
	char *p;

	p = begin_release(&t, "release: MADV_FREE of one page", &l, &a);
	check_call(&t, "madvise(MADV_FREE)", madvise(p + 300 * PG, PG, MADV_FREE));
	expect_release(&t, "MADV_FREE", &a);
	one.n[300] = l.n[300];
	one.seed[300] = l.seed[300];
	if (!page_is_zero(p + 300 * PG))
		t.ok &= verify("MADV_FREE'd page", p, &one, 300, 301);
	l.n[300] = SKIP_PAGE;
	end_intact(&t, "after MADV_FREE", p, &l);
}

/* MADV_PAGEOUT of the used pages: released; data comes back (from swap). */
static void test_pageout(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	long out0 = vmstat_get("pswpout");
	char *p;

	p = begin_release(&t, "release: MADV_PAGEOUT, data intact after swap-in", &l, &a);
	check_call(&t, "madvise(MADV_PAGEOUT)", madvise(p, PMD, MADV_PAGEOUT));
	expect_release(&t, "MADV_PAGEOUT", &a);
	ksft_print_msg("MADV_PAGEOUT: pswpout %+ld, Rss %ld kB, Swap %ld kB\n",
		       vmstat_get("pswpout") - out0, smaps_kb(p, "Rss"), smaps_kb(p, "Swap"));
	end_intact(&t, "after MADV_PAGEOUT", p, &l);
}

/* MADV_NOHUGEPAGE releases, and later writes in the range reserve nothing. */
static void test_nohugepage(void)
{
	struct layout l = {};
	struct counters a;
	struct tcase t;
	char *p;

	p = begin_release(&t, "release: MADV_NOHUGEPAGE, later writes reserve nothing", &l, &a);
	check_call(&t, "madvise(MADV_NOHUGEPAGE)", madvise(p, PMD, MADV_NOHUGEPAGE));
	expect_release(&t, "MADV_NOHUGEPAGE", &a);
	t.ok &= fill_unreserved("write after MADV_NOHUGEPAGE", p, &l, 50);
	t.ok &= expect("Rss kB", smaps_kb(p, "Rss"), (NR_STD + 1) * 4);
	end_intact(&t, "after MADV_NOHUGEPAGE", p, &l);
}

/*
 * fork: the parent keeps its reservation; the child gets COW copies of the
 * mapped pages and no reservation (its faults populate nothing). Writes on
 * either side are private, and the child never sees what the parent writes
 * after the fork.
 */
enum { FA = 10, FB = 20, FC = 30, FD = 40 };

static __noreturn void fork_child(char *p, const struct layout *parent, int up, int down)
{
	struct layout l = *parent;
	struct counters c0, c1;
	bool ok = true;

	ok &= verify("child: parent's data as of fork", p, &l, FA, FB + 1);
	counters_read(&c0);
	put(p, &l, FA, PG, 0x2000);
	put(p, &l, FC, PG, 0x2001);
	counters_read(&c1);
	ok &= deltas("child: writes A and C", &c0, &c1, 0, 0, 0, 0);
	ok &= verify("child: after its writes", p, &l, FA, FC + 1);
	pipe_send(up, ok);
	/* The parent writes D now. */
	if (!pipe_wait(down))
		_exit(2);
	ok &= verify("child: D after the parent wrote it", p, &l, 0, NPG);
	pipe_send(up, ok);
	_exit(0);
}

static void test_fork(void)
{
	static const int pages[] = { FA, FB };
	struct layout l = {};
	struct counters s0, a, b;
	int up[2], down[2];
	struct tcase t;
	pid_t pid;
	char *p;

	case_begin(&t, "fork: child gets copies and no reservation, parent keeps its own");
	p = map_region(PMD);
	t.ok &= fill_reserving("parent writes A, B", p, &l, pages, 2);
	counters_read(&s0);
	pid = fork_piped(up, down);
	if (!pid)
		fork_child(p, &l, up[1], down[0]);
	t.ok &= pipe_wait(up[0]);
	/* The reservation is still the parent's. */
	counters_read(&a);
	put(p, &l, FD, PG, 0x3000);
	counters_read(&b);
	t.ok &= deltas("parent writes D after fork", &a, &b, 0, 1, 0, -1);
	t.ok &= pipe_send(down[1], true);
	t.ok &= pipe_wait(up[0]);
	t.ok &= reap_piped(pid, up, down);
	/* C was written only by the child: for the parent it is a fresh page. */
	counters_read(&a);
	put(p, &l, FC, 64, 0x3001);
	counters_read(&b);
	t.ok &= deltas("parent writes C after the child exit", &a, &b, 0, 1, 0, -1);
	t.ok &= deltas("child's whole life", &s0, &b, 0, 2, 0, -2);
	t.ok &= verify("parent after the child", p, &l, 0, NPG);
	t.ok &= check_block("parent after the child", p, &l);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/* ==== 18-24: zeroing, other kernel features meeting reservations ======= */

/*
 * Pages handed out from reservations are zero even when the blocks come
 * from memory just dirtied: 256 MiB of 0xa5 freed, then one byte written
 * every 64 KiB (8 pages per block, 128 reservations) and every byte of
 * those pages checked.
 */
#define ZLEN		(256UL << 20)
#define ZSTEP		(64UL << 10)
#define ZBLOCKS		((long)(ZLEN / PMD))
#define ZPER		((long)(PMD / ZSTEP))

static unsigned char zval(unsigned long off)
{
	return 0x80 | ((off / ZSTEP) & 0x7f);
}

static void test_zeroing(void)
{
	struct counters a, b;
	struct tcase t;
	bool data = true, pfns = true;
	char *p;

	case_begin(&t, "zeroing: reserved pages read zero after 256 MiB were dirtied");
	p = map_region(ZLEN);
	memset(p, 0xa5, ZLEN);
	unmap_region(p, ZLEN);
	wait_reserved(t.c0.reserved);
	p = map_region(ZLEN);
	counters_read(&a);
	for (unsigned long off = 0; off < ZLEN; off += ZSTEP)
		p[off] = (char)zval(off);
	counters_read(&b);
	t.ok &= deltas("sparse writes", &a, &b, ZBLOCKS, ZBLOCKS * (ZPER - 1), 0,
		       ZBLOCKS * (NPG - ZPER));
	t.ok &= expect("Rss kB", smaps_kb(p, "Rss"), ZBLOCKS * ZPER * 4);
	for (unsigned long off = 0; off < ZLEN && data; off += ZSTEP) {
		const unsigned char *q = (const unsigned char *)p + off;
		unsigned long pfn = pagemap_pfn(p + off);

		if (pfns && (!pfn || pfn % NPG != (off % PMD) / PG)) {
			ksft_print_msg("page at %#lx: pfn %#lx, want offset %lu in a block\n",
				       off, pfn, (off % PMD) / PG);
			pfns = false;
		}
		for (unsigned long i = 0; i < PG; i++) {
			unsigned char want = i ? 0 : zval(off);

			if (q[i] != want) {
				ksft_print_msg("byte %#lx is %#x, want %#x\n", off + i, q[i], want);
				data = false;
				break;
			}
		}
	}
	t.ok &= data && pfns;
	unmap_releases(&t, p, ZLEN, ZBLOCKS);
	case_end(&t, true);
}

/*
 * A userfaultfd-registered VMA gets no reservation: a write to a missing
 * page goes to userfaultfd (SIGBUS with UFFD_FEATURE_SIGBUS), UFFDIO_COPY
 * fills reserve nothing, and once pages are mapped the range is not empty,
 * so writes after unregistering reserve nothing either.
 */
static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(bus_jmp, 1);
}

static int uffd_open(__u64 features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 && errno == EPERM)
		fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_userfaultfd(void)
{
	static char src[PG] __attribute__((aligned(PG)));
	static const int copy_pages[] = { 0, 5, 100 };
	struct uffdio_register reg = {};
	struct uffdio_range range;
	struct layout l = {}, none = {};
	struct counters a, b;
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	struct tcase t;
	bool sigbus = true;
	volatile bool got_bus = false;
	int fd;
	char *p;

	fd = uffd_open(UFFD_FEATURE_SIGBUS);
	if (fd < 0) {
		sigbus = false;
		fd = uffd_open(0);
	}
	if (fd < 0) {
		ksft_test_result_skip("userfaultfd: registered VMA gets no reservation (userfaultfd: %s)\n",
				      strerror(errno));
		return;
	}
	case_begin(&t, "userfaultfd: registered VMA gets no reservation");
	p = map_region(PMD);
	reg.range.start = (unsigned long)p;
	reg.range.len = PMD;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		ksft_exit_fail_msg("UFFDIO_REGISTER: %s\n", strerror(errno));
	counters_read(&a);
	if (sigbus) {
		sigaction(SIGBUS, &sa, &old);
		if (!sigsetjmp(bus_jmp, 1))
			p[7 * PG] = 1;
		else
			got_bus = true;
		sigaction(SIGBUS, &old, NULL);
		if (!got_bus)
			ksft_print_msg("write to a missing page of a registered VMA: no SIGBUS\n");
		t.ok &= got_bus;
	} else {
		ksft_print_msg("no UFFD_FEATURE_SIGBUS: write fault not tested\n");
	}
	for (size_t i = 0; i < ARRAY_SIZE(copy_pages); i++) {
		int pg = copy_pages[i];
		struct uffdio_copy copy = {
			.dst = (unsigned long)p + pg * PG, .src = (unsigned long)src, .len = PG,
		};

		put(src, &none, 0, PG, 0x4000 + pg);
		if (ioctl(fd, UFFDIO_COPY, &copy) || copy.copy != (__s64)PG) {
			ksft_print_msg("UFFDIO_COPY page %d: %s\n", pg, strerror(errno));
			t.ok = false;
			continue;
		}
		l.seed[pg] = 0x4000 + pg;
		l.n[pg] = PG;
	}
	counters_read(&b);
	t.ok &= deltas("fault and UFFDIO_COPY in a registered VMA", &a, &b, 0, 0, 0, 0);
	/* Only copied pages: touching a missing one would block or SIGBUS. */
	for (size_t i = 0; i < ARRAY_SIZE(copy_pages); i++)
		t.ok &= verify("UFFDIO_COPY", p, &l, copy_pages[i], copy_pages[i] + 1);
	range.start = (unsigned long)p;
	range.len = PMD;
	if (ioctl(fd, UFFDIO_UNREGISTER, &range))
		ksft_exit_fail_msg("UFFDIO_UNREGISTER: %s\n", strerror(errno));
	t.ok &= fill_unreserved("write after unregister", p, &l, 200);
	t.ok &= verify("after unregister", p, &l, 0, NPG);
	close(fd);
	unmap_region(p, PMD);
	case_end(&t, true);
}

/*
 * PR_SET_THP_DISABLE releases every reservation of the process and stops
 * new ones; clearing it lets them come back.
 */
static void test_thp_disable(void)
{
	struct layout l = {}, lq = {}, lr = {};
	struct counters a;
	struct tcase t;
	char *p, *q, *r;

	p = begin_release(&t, "PR_SET_THP_DISABLE releases and prevents reservations", &l, &a);
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		ksft_exit_fail_msg("prctl(PR_SET_THP_DISABLE, 1): %s\n", strerror(errno));
	expect_release(&t, "PR_SET_THP_DISABLE", &a);
	q = map_region(PMD);
	t.ok &= fill_unreserved("write with THP disabled", q, &lq, 5);
	t.ok &= expect("Rss kB with THP disabled", smaps_kb(q, "Rss"), 4);
	t.ok &= expect("AnonHugePages kB with THP disabled", smaps_kb(q, "AnonHugePages"), 0);
	if (prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0))
		ksft_exit_fail_msg("prctl(PR_SET_THP_DISABLE, 0): %s\n", strerror(errno));
	r = map_region(PMD);
	t.ok &= fill_reserves("write with THP enabled again", r, &lr, 5);
	t.ok &= verify("reserved before prctl", p, &l, 0, NPG);
	t.ok &= verify("written with THP disabled", q, &lq, 0, NPG);
	t.ok &= verify("written after prctl 0", r, &lr, 0, NPG);
	unmap_region(p, PMD);
	unmap_region(q, PMD);
	unmap_region(r, PMD);
	case_end(&t, true);
}

/* Nodes with memory, from /sys/devices/system/node/has_memory ("0-1,3"). */
static unsigned long memory_nodes(void)
{
	char buf[256], *s;
	unsigned long mask = 0;

	if (read_file("/sys/devices/system/node/has_memory", buf, sizeof(buf)))
		return 1;
	for (s = buf; *s && *s != '\n';) {
		char *end;
		long lo = strtol(s, &end, 10), hi = lo;

		if (end == s)
			break;
		if (*end == '-')
			hi = strtol(end + 1, &end, 10);
		for (long n = lo; n <= hi && n < 64; n++)
			mask |= 1UL << n;
		s = *end == ',' ? end + 1 : end;
	}
	return mask;
}

/*
 * move_pages of the used pages to the other node: data intact. The
 * contract says the whole block moves and the reservation keeps working
 * (a new write populates from the new block); a release is accepted too.
 * Either way the new page reads zero except what was written.
 */
static void test_migration(void)
{
	void *addr[NR_STD + 1];
	int nodes[NR_STD + 1], status[NR_STD + 1];
	unsigned long mask = memory_nodes();
	struct layout l = {};
	struct counters a, b;
	struct tcase t;
	int from, to = -1;
	long ret;
	char *p;

	if (__builtin_popcountl(mask) < 2) {
		ksft_test_result_skip("migration: move_pages to the other node keeps the data (one node)\n");
		return;
	}
	case_begin(&t, "migration: move_pages to the other node keeps the data");
	p = reserve_std(&t, &l);
	for (int i = 0; i < NR_STD; i++)
		addr[i] = p + std_pages[i] * PG;
	status[0] = -1;
	ret = syscall(SYS_move_pages, 0, NR_STD, addr, NULL, status, 0);
	from = status[0];
	for (int n = 0; n < 64 && to < 0; n++)
		if ((mask & (1UL << n)) && n != from)
			to = n;
	ksft_print_msg("migration: pages on node %d, moving to node %d\n", from, to);
	if (ret || from < 0) {
		ksft_print_msg("move_pages (query): %ld (%s)\n", ret, strerror(errno));
		unmap_region(p, PMD);
		t.ok = false;
		case_end(&t, true);
		return;
	}
	for (int i = 0; i < NR_STD; i++)
		nodes[i] = to;
	counters_read(&a);
	for (int try = 0; try < 3; try++) {
		bool all = true;

		ret = syscall(SYS_move_pages, 0, NR_STD, addr, nodes, status, MPOL_MF_MOVE);
		for (int i = 0; i < NR_STD; i++)
			all &= status[i] == to;
		if (!ret && all)
			break;
		ksft_print_msg("move_pages try %d: %ld (%s), status[0] %d\n",
			       try, ret, ret < 0 ? strerror(errno) : "ok", status[0]);
		sleep_ms(100);
	}
	syscall(SYS_move_pages, 0, NR_STD, addr, NULL, status, 0);
	for (int i = 0; i < NR_STD; i++) {
		if (status[i] != to) {
			ksft_print_msg("page %d on node %d after move_pages, want %d\n",
				       std_pages[i], status[i], to);
			t.ok = false;
		}
	}
	t.ok &= verify("after migration", p, &l, 0, NPG);
	put(p, &l, 200, 64, 0x5000);
	counters_read(&b);
	if (b.release != a.release) {
		wait_reserved(t.c0.reserved);
		counters_read(&b);
	}
	if (b.release == a.release) {
		/* Survived: the new page is page 200 of the (new) block. */
		ksft_print_msg("migration: reservation survived\n");
		t.ok &= deltas("write after migration", &a, &b, 0, 1, 0, -1);
		t.ok &= check_block("after migration", p, &l);
		addr[NR_STD] = p + 200 * PG;
		syscall(SYS_move_pages, 0, 1, &addr[NR_STD], NULL, &status[NR_STD], 0);
		t.ok &= expect("node of the page written after migration", status[NR_STD], to);
	} else {
		ksft_print_msg("migration: reservation released\n");
		t.ok &= deltas("migration and write", &a, &b, 0, 0, 1, t.c0.reserved - a.reserved);
	}
	end_intact(&t, "after the write after migration", p, &l);
}

/*
 * KSM merging two identical pages of a reservation: data intact before and
 * after unmerging; the reservation may be released or not, but nothing is
 * left reserved after munmap.
 */
#define KSM	"/sys/kernel/mm/ksm/"

static long ksm_get(const char *name)
{
	char buf[64];

	if (read_file(name, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

static void test_ksm(void)
{
	static const char * const knobs[] = {
		KSM "run", KSM "pages_to_scan", KSM "sleep_millisecs",
	};
	char saved[3][32];
	struct layout l = {};
	struct counters a, b;
	struct tcase t;
	long scans;
	char *p;

	if (access(KSM "run", W_OK)) {
		ksft_test_result_skip("KSM: merging reserved pages keeps the data (no KSM)\n");
		return;
	}
	case_begin(&t, "KSM: merging reserved pages keeps the data");
	for (int i = 0; i < 3; i++)
		if (read_file(knobs[i], saved[i], sizeof(saved[i])))
			saved[i][0] = '\0';
	p = reserve_std(&t, &l);
	put(p, &l, 2, PG, 0x6000);
	put(p, &l, 3, PG, 0x6000);
	counters_read(&a);
	if (madvise(p, PMD, MADV_MERGEABLE)) {
		ksft_print_msg("madvise(MADV_MERGEABLE): %s\n", strerror(errno));
		t.ok = false;
	}
	write_file(KSM "pages_to_scan", "1000");
	write_file(KSM "sleep_millisecs", "10");
	scans = ksm_get(KSM "full_scans");
	write_file(KSM "run", "1");
	for (int i = 0; i < 100 && ksm_get(KSM "full_scans") < scans + 2; i++)
		sleep_ms(100);
	counters_read(&b);
	ksft_print_msg("KSM: full_scans %+ld, pages_sharing %ld, thp_res_release %+ld\n",
		       ksm_get(KSM "full_scans") - scans, ksm_get(KSM "pages_sharing"),
		       b.release - a.release);
	t.ok &= verify("after KSM scans", p, &l, 0, NPG);
	if (write_file(KSM "run", "2"))
		ksft_print_msg("KSM: unmerge (run=2) failed\n");
	t.ok &= verify("after KSM unmerge", p, &l, 0, NPG);
	for (int i = 2; i >= 0; i--)
		if (saved[i][0])
			write_file(knobs[i], saved[i]);
	unmap_region(p, PMD);
	case_end(&t, true);
}

/*
 * memcg: the whole 2 MiB block is charged to the faulting task's memcg at
 * reserve time (memory.current), while memory.stat "anon" counts only the
 * mapped pages.
 */
#define CG	CG_ROOT "thpres-test"

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = strstr(list, word); s; s = strstr(s + 1, word))
		if ((s == list || s[-1] == ' ') && (!s[n] || s[n] == ' ' || s[n] == '\n'))
			return true;
	return false;
}

/*
 * Make the group cg, with the memory controller enabled in the root's
 * subtree_control (*enabled_memory: by this call, for cg_remove() to undo).
 * Returns false, the case reported as skipped, if that cannot be done.
 */
static bool cg_create(const char *name, const char *cg, bool *enabled_memory)
{
	char buf[512];
	int err;

	*enabled_memory = false;
	if (read_file(CG_ROOT "cgroup.controllers", buf, sizeof(buf)) || !has_word(buf, "memory")) {
		ksft_test_result_skip("%s (no memory controller)\n", name);
		return false;
	}
	if (!read_file(CG_ROOT "cgroup.subtree_control", buf, sizeof(buf)) &&
	    !has_word(buf, "memory")) {
		if (write_file(CG_ROOT "cgroup.subtree_control", "+memory")) {
			ksft_test_result_skip("%s (cannot enable +memory)\n", name);
			return false;
		}
		*enabled_memory = true;
	}
	rmdir(cg);
	if (mkdir(cg, 0755)) {
		err = errno;
		if (*enabled_memory)
			write_file(CG_ROOT "cgroup.subtree_control", "-memory");
		ksft_test_result_skip("%s (mkdir %s: %s)\n", name, cg, strerror(err));
		return false;
	}
	return true;
}

/* Remove the group cg once its tasks are gone (up to 2 s), undo +memory. */
static bool cg_remove(const char *cg, bool enabled_memory)
{
	bool ok = true;

	for (int i = 0; i < 20 && rmdir(cg); i++)
		sleep_ms(100);
	if (!access(cg, F_OK)) {
		ksft_print_msg("rmdir %s: %s\n", cg, strerror(errno));
		ok = false;
	}
	if (enabled_memory)
		write_file(CG_ROOT "cgroup.subtree_control", "-memory");
	return ok;
}

static void test_memcg(void)
{
	const char *name = "memcg: the whole block is charged at reserve time";
	char buf[512], pidbuf[32];
	bool enabled_memory;
	int up[2], down[2];
	long current, anon = -1;
	struct counters a, b;
	struct tcase t;
	pid_t pid;

	if (!cg_create(name, CG, &enabled_memory))
		return;
	case_begin(&t, name);
	counters_read(&a);
	pid = fork_piped(up, down);
	if (!pid) {
		struct layout l = {};
		char *p;

		if (!pipe_wait(down[0]))
			_exit(2);
		p = map_region(PMD);
		fill(p, &l, 7);
		pipe_send(up[1], verify("child in the memcg", p, &l, 0, NPG));
		pipe_wait(down[0]);
		_exit(0);
	}
	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	if (write_file(CG "/cgroup.procs", pidbuf)) {
		ksft_print_msg("cannot move the child into %s\n", CG);
		t.ok = false;
	}
	t.ok &= pipe_send(down[1], true);
	t.ok &= pipe_wait(up[0]);
	counters_read(&b);
	t.ok &= deltas("child's write in the memcg", &a, &b, 1, 0, 0, NPG - 1);
	current = read_file(CG "/memory.current", buf, sizeof(buf)) ? -1 : strtol(buf, NULL, 10);
	/* memory.stat is flushed lazily (at most ~2 s late). */
	for (int i = 0; i < 30; i++) {
		anon = keyed_file_value(CG "/memory.stat", "anon");
		if (anon >= 4096)
			break;
		sleep_ms(100);
	}
	ksft_print_msg("memcg: memory.current %ld kB, anon %ld kB\n", current / 1024, anon / 1024);
	if (current < (long)PMD) {
		ksft_print_msg("memory.current %ld, want >= %lu (the whole block)\n", current, PMD);
		t.ok = false;
	}
	if (anon < 4096 || anon > 65536) {
		ksft_print_msg("memory.stat anon %ld, want 4096..65536 (mapped pages only)\n", anon);
		t.ok = false;
	}
	t.ok &= pipe_send(down[1], true);
	t.ok &= reap_piped(pid, up, down);
	wait_reserved(t.c0.reserved);
	counters_read(&b);
	t.ok &= deltas("child's life", &a, &b, 1, 0, 1, 0);
	t.ok &= cg_remove(CG, enabled_memory);
	case_end(&t, false);
}

/* ==== 25-27: tracepoints, MemAvailable, alloc failure ================== */

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

/* A one-line sysfs/debugfs/tracefs value without its newline. */
static int read_knob(const char *path, char *buf, size_t len)
{
	int err = read_file(path, buf, len);

	if (!err)
		buf[strcspn(buf, "\n")] = '\0';
	return err;
}

/*
 * The tracepoints: one write reserves the range at p (thp_res_alloc with
 * haddr p and the block's first pfn), munmap releases it (thp_res_release
 * with haddr p, nr_used=1, reason=unmap).
 */
#define TRACEFS		"/sys/kernel/tracing/"
#define TRACE_EVENTS	TRACEFS "events/thp_reserve/"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Trace events a case records, and what it changed to record them. */
struct tracing {
	const char * const *enable;	/* the events' "enable" files */
	size_t n;
	char saved[2][16];		/* their values before the case */
	bool turned_on;			/* tracing_on was 0 and set to 1 */
};

/* Remember the events' settings; false (and nothing to restore) if one cannot be read. */
static bool tracing_save(struct tracing *tr, const char * const *enable, size_t n)
{
	tr->enable = enable;
	tr->n = n;
	tr->turned_on = false;
	for (size_t i = 0; i < n; i++) {
		if (read_knob(enable[i], tr->saved[i], sizeof(tr->saved[i]))) {
			ksft_print_msg("cannot read %s\n", enable[i]);
			tr->n = 0;
			return false;
		}
	}
	return true;
}

/* Record the events from now on, in an emptied trace buffer; false on error. */
static bool tracing_start(struct tracing *tr)
{
	char on[16] = "";
	bool ok = true;
	int fd;

	/* Events are recorded only while tracing is on. */
	if (!read_knob(TRACEFS "tracing_on", on, sizeof(on)) && !strcmp(on, "0")) {
		if (write_file(TRACEFS "tracing_on", "1")) {
			ksft_print_msg("cannot turn tracing on\n");
			ok = false;
		}
		tr->turned_on = true;
	}
	for (size_t i = 0; i < tr->n; i++) {
		if (write_file(tr->enable[i], "1")) {
			ksft_print_msg("write 1 to %s failed\n", tr->enable[i]);
			ok = false;
		}
	}
	fd = open(TRACEFS "trace", O_WRONLY | O_TRUNC);
	if (fd < 0) {
		ksft_print_msg("clear %strace: %s\n", TRACEFS, strerror(errno));
		ok = false;
	} else {
		close(fd);
	}
	return ok;
}

/* Put the events and tracing_on back as they were; the buffer stays readable. */
static void tracing_end(struct tracing *tr)
{
	/* "0*" or "1*" (soft-disabled) is written back as its digit. */
	for (size_t i = 0; i < tr->n; i++)
		write_file(tr->enable[i], tr->saved[i][0] == '1' ? "1" : "0");
	if (tr->turned_on)
		write_file(TRACEFS "tracing_on", "0");
	tr->turned_on = false;
}

static void test_tracepoints(void)
{
	static const char * const enable[] = {
		TRACE_EVENTS "thp_res_alloc/enable", TRACE_EVENTS "thp_res_release/enable",
	};
	const char *name = "tracepoints: thp_res_alloc and thp_res_release report the range";
	char haddr[64], pfn_str[64];
	bool alloc_seen = false, release_seen = false;
	struct layout l = {};
	struct tracing tr;
	unsigned long pfn;
	size_t cap = 0;
	char *line = NULL;
	struct tcase t;
	FILE *f;
	char *p;

	if (access(TRACE_EVENTS, F_OK)) {
		ksft_test_result_skip("%s (no %s)\n", name, TRACE_EVENTS);
		return;
	}
	if (!tracing_save(&tr, enable, ARRAY_SIZE(enable))) {
		ksft_test_result_skip("%s (cannot read the events' enable files)\n", name);
		return;
	}
	case_begin(&t, name);
	t.ok &= tracing_start(&tr);

	p = map_region(PMD);
	t.ok &= fill_reserves("write", p, &l, 5);
	t.ok &= check_block("write", p, &l);
	t.ok &= verify("write", p, &l, 0, NPG);
	pfn = pagemap_pfn(p + 5 * PG);
	unmap_releases(&t, p, PMD, 1);
	tracing_end(&tr);

	/* The trailing space keeps 0x...200000 from matching 0x...2000000. */
	snprintf(haddr, sizeof(haddr), " haddr=0x%lx ", (unsigned long)p);
	snprintf(pfn_str, sizeof(pfn_str), " pfn=0x%lx ", pfn - 5);
	f = fopen(TRACEFS "trace", "r");
	if (!f) {
		ksft_print_msg("open %strace: %s\n", TRACEFS, strerror(errno));
		t.ok = false;
	}
	while (f && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (!strstr(line, haddr))
			continue;
		if (strstr(line, " thp_res_alloc: ")) {
			alloc_seen = true;
			/* pagemap_pfn is 0 when PFNs are hidden: not checked then. */
			if (pfn && !strstr(line, pfn_str)) {
				ksft_print_msg("thp_res_alloc line without%s: %s\n", pfn_str, line);
				t.ok = false;
			}
		} else if (strstr(line, " thp_res_release: ")) {
			if (strstr(line, " nr_used=1 ") && ends_with(line, " reason=unmap"))
				release_seen = true;
			else
				ksft_print_msg("other thp_res_release line: %s\n", line);
		}
	}
	free(line);
	if (f)
		fclose(f);
	if (!alloc_seen)
		ksft_print_msg("no thp_res_alloc line with%s\n", haddr);
	if (!release_seen)
		ksft_print_msg("no thp_res_release line with%snr_used=1 reason=unmap\n", haddr);
	t.ok &= alloc_seen && release_seen;
	case_end(&t, true);
}

/*
 * MemAvailable counts nr_thp_reserved as available: 64 reservations take
 * 128 MiB out of MemFree but leave MemAvailable nearly where it was.
 */
#define MLEN		(128UL << 20)
#define MRANGES		((int)(MLEN / PMD))

/* The page written in range i, and its seed. */
static int mem_page(int i)
{
	return (i * 97) % NPG;
}

static void test_memavailable(void)
{
	struct layout l = {};
	struct counters a, b;
	struct tcase t;
	long avail0, avail1, free0, free1;
	char *p;

	case_begin(&t, "MemAvailable counts reserved pages");
	p = map_region(MLEN);
	counters_read(&a);
	avail0 = meminfo_kb("MemAvailable");
	free0 = free_kb();
	for (int i = 0; i < MRANGES; i++)
		put(p + i * PMD, &l, mem_page(i), 1, 0x7000 + i);
	counters_read(&b);
	avail1 = meminfo_kb("MemAvailable");
	free1 = free_kb();
	t.ok &= deltas("one write in each of 64 ranges", &a, &b, MRANGES, 0, 0,
		       (long)MRANGES * (NPG - 1));
	ksft_print_msg("64 reservations: MemFree %+ld kB, MemAvailable %+ld kB\n",
		       free1 - free0, avail1 - avail0);
	if (avail0 < 0 || avail1 < 0) {
		ksft_print_msg("no MemAvailable in /proc/meminfo\n");
		t.ok = false;
	}
	if (free0 - free1 < 100L << 10) {
		ksft_print_msg("MemFree dropped by %ld kB, want >= %ld kB\n",
			       free0 - free1, 100L << 10);
		t.ok = false;
	}
	if (avail0 - avail1 >= 16L << 10) {
		ksft_print_msg("MemAvailable dropped by %ld kB, want < %ld kB\n",
			       avail0 - avail1, 16L << 10);
		t.ok = false;
	}
	for (int i = 0; i < MRANGES; i++) {
		memset(&l, 0, sizeof(l));
		l.seed[mem_page(i)] = 0x7000 + i;
		l.n[mem_page(i)] = 1;
		if (!verify("after the 64 writes", p + i * PMD, &l, 0, NPG)) {
			ksft_print_msg("(in range %d)\n", i);
			t.ok = false;
			break;
		}
	}
	unmap_releases(&t, p, MLEN, MRANGES);
	case_end(&t, true);
}

/*
 * A failed block allocation is counted (thp_res_alloc_failed) and the stock
 * path handles the fault. fail_page_alloc fails one order-9 allocation of
 * this task only (task-filter, make-it-fail); the stock path's own huge page
 * attempt then succeeds or falls back to base pages: either way the page is
 * mapped with the data written.
 */
#define FAIL_PA		"/sys/kernel/debug/fail_page_alloc/"
#define MAKE_IT_FAIL	"/proc/self/make-it-fail"

static void test_alloc_failure(void)
{
	/* Set in this order and restored in reverse: probability last on, first off. */
	static const char * const knob[] = {
		"task-filter", "min-order", "ignore-gfp-wait", "ignore-gfp-highmem",
		"interval", "times", "verbose", "space", "probability",
	};
	static const char * const val[ARRAY_SIZE(knob)] = {
		"Y", "9", "N", "N", "1", "1", "0", "0", "100",
	};
	const char *name = "alloc failure: counted, and the stock path runs";
	char saved[ARRAY_SIZE(knob)][32], path[128], defrag[32];
	struct layout l = {};
	struct counters a, b;
	struct tcase t;
	long anon, rss;
	size_t set;
	char *p;

	if (access(FAIL_PA, F_OK)) {
		ksft_test_result_skip("%s (no %s)\n", name, FAIL_PA);
		return;
	}
	if (access(MAKE_IT_FAIL, W_OK)) {
		ksft_test_result_skip("%s (no %s)\n", name, MAKE_IT_FAIL);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(knob); i++) {
		snprintf(path, sizeof(path), FAIL_PA "%s", knob[i]);
		if (read_knob(path, saved[i], sizeof(saved[i]))) {
			ksft_test_result_skip("%s (cannot read %s)\n", name, path);
			return;
		}
	}
	if (thp_get_policy("defrag", defrag, sizeof(defrag)))
		defrag[0] = '\0';
	case_begin(&t, name);
	/*
	 * No direct reclaim in the THP gfp mask: with it (defrag=always),
	 * alloc_pages_mpol() tries a second time after the failed
	 * __GFP_THISNODE attempt, and that one would succeed.
	 */
	thp_set("defrag", "never");
	p = map_region(PMD);
	for (set = 0; set < ARRAY_SIZE(knob); set++) {
		snprintf(path, sizeof(path), FAIL_PA "%s", knob[set]);
		if (write_file(path, val[set])) {
			ksft_print_msg("write %s to %s failed\n", val[set], path);
			t.ok = false;
			break;
		}
	}
	counters_read(&a);
	if (set == ARRAY_SIZE(knob)) {
		if (write_file(MAKE_IT_FAIL, "1")) {
			ksft_print_msg("write 1 to %s failed\n", MAKE_IT_FAIL);
			t.ok = false;
		} else {
			/*
			 * Until make-it-fail is 0 again this task does nothing
			 * but this one write fault (no libc allocation, no
			 * output): the one failure is the block's.
			 */
			fill(p, &l, 9);
			if (write_file(MAKE_IT_FAIL, "0")) {
				ksft_print_msg("write 0 to %s failed\n", MAKE_IT_FAIL);
				t.ok = false;
			}
		}
	}
	while (set-- > 0) {
		snprintf(path, sizeof(path), FAIL_PA "%s", knob[set]);
		if (write_file(path, saved[set])) {
			ksft_print_msg("restore %s to %s failed\n", path, saved[set]);
			t.ok = false;
		}
	}
	if (!l.n[9])
		fill(p, &l, 9);	/* not configured: the case has failed already */
	counters_read(&b);
	t.ok &= expect("thp_res_alloc_failed delta", b.failed - a.failed, 1);
	t.ok &= deltas("write fault with the block allocation failing", &a, &b, 0, 0, 0, 0);
	anon = smaps_kb(p, "AnonHugePages");
	rss = smaps_kb(p, "Rss");
	ksft_print_msg("alloc failure: stock path mapped AnonHugePages %ld kB, Rss %ld kB\n",
		       anon, rss);
	if (rss < 4) {
		ksft_print_msg("Rss %ld kB, want >= 4 kB\n", rss);
		t.ok = false;
	}
	t.ok &= verify("after the failed block allocation", p, &l, 0, NPG);
	if (defrag[0])
		thp_set("defrag", defrag);
	unmap_region(p, PMD);
	case_end(&t, true);
}

/* ==== 29-30: reclaim, compaction ========================================= */

/* Is the page mapped at addr part of a PMD-order (or any) THP? */
#define KPF_THP_BIT	22

static bool in_thp(void *addr)
{
	unsigned long pfn = pagemap_pfn(addr);
	unsigned long long f = pfn ? kpageflags(pfn) : ~0ULL;

	return f != ~0ULL && (f & (1ULL << KPF_THP_BIT));
}

/* Run the caller on CPU 0 only: its blocks then all come from one node. */
static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * memcg limit: a child in its own group writes 128 pages in each of 16
 * ranges (16 reservations, 32 MiB charged for 8 MiB of data). Asking the
 * group to reclaim 1 MiB (memory.reclaim) breaks exactly one reservation,
 * the first made: the walk finds every entry referenced, gives each its
 * second chance (to the tail, unmarked), then breaks range 0 and is done.
 * Then one more page goes in each even range from 2 on, which marks them
 * referenced again. Lowering memory.max to 16 MiB is met by breaking
 * reservations alone, least recently populated first (the odd ranges, in
 * order, then the even ones), and swaps nothing. Lowering it to 4 MiB,
 * below the data, breaks every reservation left before reclaim swaps; the
 * data swapped out reads back intact.
 */
#define RLEN		(32UL << 20)
#define RRANGES		((int)(RLEN / PMD))
#define RUSED		128
#define CG_RECLAIM	CG_ROOT "thpres-reclaim"

/* What the reclaim child reports: bad bytes and vmstat deltas around its work. */
struct reclaim_report {
	long bad, alloc;
	long release[3], reclaim[3], pswpout[3];	/* memory.reclaim, 16M, 4M */
	long rss_kb, swap_kb;
	bool broken[RRANGES];	/* after the first limit: no longer a THP */
};

/* Range i: pages 0, 4, 8, ... 508 written with seeds of its own. */
static void reclaim_layout(struct layout *l, int i)
{
	memset(l, 0, sizeof(*l));
	for (int j = 0; j < RUSED; j++) {
		l->seed[4 * j] = 0x8000 + i * RUSED + j;
		l->n[4 * j] = PG - 16 * j;
	}
}

/*
 * The k-th range reclaim breaks: range 0 (by memory.reclaim), the odd
 * ranges, then the even ranges written again after it.
 */
static int reclaim_lru_order(int k)
{
	if (!k)
		return 0;
	return k <= RRANGES / 2 ? 2 * k - 1 : 2 * (k - RRANGES / 2);
}

/* Write val to the group's file; vmstat deltas of what that did, into slot s. */
static bool reclaim_limit(struct reclaim_report *r, int s, const char *file, const char *val)
{
	long rel = vmstat_get("thp_res_release"), rec = vmstat_get("thp_res_reclaim");
	long out = vmstat_get("pswpout");
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", CG_RECLAIM, file);
	if (write_file(path, val)) {
		ksft_print_msg("child: cannot write %s to %s\n", val, path);
		return false;
	}
	vmstat_refresh();
	r->release[s] = vmstat_get("thp_res_release") - rel;
	r->reclaim[s] = vmstat_get("thp_res_reclaim") - rec;
	r->pswpout[s] = vmstat_get("pswpout") - out;
	return true;
}

static __noreturn void reclaim_child(int up)
{
	struct reclaim_report r = {};
	struct layout l[RRANGES];
	char pidbuf[32];
	long alloc0;
	char *p;

	pin_cpu0();
	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_file(CG_RECLAIM "/cgroup.procs", pidbuf)) {
		ksft_print_msg("child: cannot join %s\n", CG_RECLAIM);
		fflush(stdout);
		_exit(2);
	}
	p = map_region(RLEN);
	alloc0 = vmstat_get("thp_res_alloc");
	for (int j = 0; j < RUSED; j++) {
		for (int i = 0; i < RRANGES; i++) {
			if (!j)
				reclaim_layout(&l[i], i);
			put(p + i * PMD, &l[i], 4 * j, l[i].n[4 * j], l[i].seed[4 * j]);
		}
	}
	vmstat_refresh();
	r.alloc = vmstat_get("thp_res_alloc") - alloc0;
	if (!reclaim_limit(&r, 0, "memory.reclaim", "1M"))
		_exit(4);
	for (int i = 2; i < RRANGES; i += 2)
		put(p + i * PMD, &l[i], 1, PG, 0x9000 + i);
	if (!reclaim_limit(&r, 1, "memory.max", "16M"))
		_exit(4);
	for (int i = 0; i < RRANGES; i++)
		r.broken[i] = !in_thp(p + i * PMD);
	if (!reclaim_limit(&r, 2, "memory.max", "4M"))
		_exit(4);
	r.rss_kb = smaps_kb(p, "Rss");
	r.swap_kb = smaps_kb(p, "Swap");
	for (int i = 0; i < RRANGES; i++) {
		long bad = count_bad("child: read back", p + i * PMD, &l[i], !r.bad);

		if (bad)
			ksft_print_msg("child: range %d: %ld bad bytes\n", i, bad);
		r.bad += bad;
	}
	fflush(stdout);
	if (write(up, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(3);
	_exit(0);
}

/* memory.reclaim and the first limit broke the first n ranges of the LRU order, no other. */
static bool reclaim_order_ok(const struct reclaim_report *r, long n)
{
	bool ok = true;

	for (int k = 0; k < RRANGES; k++) {
		int i = reclaim_lru_order(k);

		if (r->broken[i] != (k < n)) {
			ksft_print_msg("range %d (%d. in reclaim's order) %s after memory.max 16M\n",
				       i, k + 1, r->broken[i] ? "broken" : "still reserved");
			ok = false;
		}
	}
	return ok;
}

/* Never-used pages of ranges from to to - 1 of the LRU order (even ones from 2 got a page more). */
static long reclaim_unused(long from, long to)
{
	long sum = 0;

	for (long k = from; k < to; k++) {
		int i = reclaim_lru_order(k);

		sum += NPG - RUSED - (i && !(i & 1));
	}
	return sum;
}

static void test_reclaim(void)
{
	const char *name = "reclaim: a memcg at its limit breaks its reservations, LRU first, before it swaps";
	struct reclaim_report r;
	struct counters a, b;
	bool enabled_memory, got;
	int up[2], down[2];
	struct tcase t;
	long now = 0, n;
	pid_t pid;
	int err;

	if (meminfo_kb("SwapTotal") <= 0) {
		ksft_test_result_skip("%s (no swap)\n", name);
		return;
	}
	if (!cg_create(name, CG_RECLAIM, &enabled_memory))
		return;
	case_begin(&t, name);
	err = write_file(CG_RECLAIM "/memory.max", "max");
	if (err) {
		ksft_print_msg("write max to %s/memory.max: %s\n", CG_RECLAIM, strerror(-err));
		t.ok = false;
	} else {
		/* Without swap accounting there is no limit to lift. */
		err = write_file(CG_RECLAIM "/memory.swap.max", "max");
		if (err)
			ksft_print_msg("write max to %s/memory.swap.max: %s (ignored)\n",
				       CG_RECLAIM, strerror(-err));
		counters_read(&a);
		pid = fork_piped(up, down);
		if (!pid)
			reclaim_child(up[1]);
		got = read(up[0], &r, sizeof(r)) == (ssize_t)sizeof(r);
		t.ok &= reap_piped(pid, up, down);
		if (!got) {
			ksft_print_msg("no report from the child\n");
			t.ok = false;
		} else {
			ksft_print_msg("memory.reclaim 1M: %ld reservations broken, thp_res_reclaim %+ld, pswpout %+ld\n",
				       r.release[0], r.reclaim[0], r.pswpout[0]);
			n = r.release[0] + r.release[1];
			ksft_print_msg("memory.max 16M: %ld more broken, thp_res_reclaim %+ld, pswpout %+ld\n",
				       r.release[1], r.reclaim[1], r.pswpout[1]);
			ksft_print_msg("memory.max 4M: %ld more broken, thp_res_reclaim %+ld, pswpout %+ld; Rss %ld kB, Swap %ld kB\n",
				       r.release[2], r.reclaim[2], r.pswpout[2], r.rss_kb, r.swap_kb);
			t.ok &= expect("bad bytes", r.bad, 0);
			t.ok &= expect("thp_res_alloc", r.alloc, RRANGES);
			t.ok &= expect("reservations broken by memory.reclaim", r.release[0], 1);
			t.ok &= expect("thp_res_reclaim at memory.reclaim", r.reclaim[0],
				       reclaim_unused(0, 1));
			t.ok &= expect("pswpout at memory.reclaim", r.pswpout[0], 0);
			if (r.release[1] < 1 || n >= RRANGES) {
				ksft_print_msg("memory.max 16M broke %ld reservations, want some but not all\n",
					       r.release[1]);
				t.ok = false;
			} else {
				t.ok &= reclaim_order_ok(&r, n);
				t.ok &= expect("thp_res_reclaim at 16M", r.reclaim[1],
					       reclaim_unused(1, n));
			}
			t.ok &= expect("pswpout at 16M", r.pswpout[1], 0);
			t.ok &= expect("reservations broken at 4M", r.release[2], RRANGES - n);
			t.ok &= expect("thp_res_reclaim at 4M", r.reclaim[2],
				       reclaim_unused(n, RRANGES));
			if (r.pswpout[2] < 1) {
				ksft_print_msg("pswpout %+ld at 4M: the data was not swapped\n",
					       r.pswpout[2]);
				t.ok = false;
			}
		}
		/* Every reservation made was released. */
		wait_reserved(t.c0.reserved);
		counters_read(&b);
		t.ok &= expect("thp_res_release over the child's life", b.release - a.release,
			       b.alloc - a.alloc);
	}
	t.ok &= cg_remove(CG_RECLAIM, enabled_memory);
	/*
	 * Swap cache may hold pages for a while: free memory within 1% after
	 * up to 5 s is reported, not required; case_end() checks nr_thp_reserved.
	 */
	for (int i = 0; i < 100; i++) {
		now = free_slab_kb();
		if (now >= t.free0 - t.free0 / 100)
			break;
		sleep_ms(50);
	}
	if (now < t.free0 - t.free0 / 100)
		ksft_print_msg("reclaim: free %ld kB, was %ld kB before the case (%+ld kB), not checked\n",
			       now, t.free0, now - t.free0);
	case_end(&t, false);
}

/*
 * compact_memory does not move PMD-order folios, a partly mapped block
 * included: the data stays, and the reservation keeps working (later writes
 * populate from it, nothing is allocated or released).
 */
#define COMPACT_MEMORY	"/proc/sys/vm/compact_memory"

static void test_compaction(void)
{
	static const int more[] = { 5, 150, 400, 509 };
	static const int later[] = { 6, 200, 256, 511 };
	const char *name = "compaction: compact_memory keeps reserved data and counters";
	struct layout l = {};
	struct counters a, b;
	unsigned long pfn0, pfn1;
	struct tcase t;
	int err;
	char *p;

	if (access(COMPACT_MEMORY, W_OK)) {
		ksft_test_result_skip("%s (no %s)\n", name, COMPACT_MEMORY);
		return;
	}
	case_begin(&t, name);
	p = reserve_std(&t, &l);
	counters_read(&a);
	for (size_t i = 0; i < ARRAY_SIZE(more); i++)
		fill(p, &l, more[i]);
	counters_read(&b);
	t.ok &= deltas("4 more writes", &a, &b, 0, 4, 0, -4);
	pfn0 = pagemap_pfn(p);
	counters_read(&a);
	err = write_file(COMPACT_MEMORY, "1");
	if (err) {
		ksft_print_msg("write 1 to %s: %s\n", COMPACT_MEMORY, strerror(-err));
		t.ok = false;
	}
	pfn1 = pagemap_pfn(p);
	ksft_print_msg("compaction: block pfn %#lx before, %#lx after\n", pfn0 / NPG, pfn1 / NPG);
	t.ok &= check_small_pages("after compact_memory", p, &l, (NR_STD + 4) * 4);
	/* Partial pages: the rest of each must read zero. */
	for (size_t i = 0; i < ARRAY_SIZE(later); i++)
		put(p, &l, later[i], 100 + 1000 * i, 0x9000 + i);
	counters_read(&b);
	t.ok &= deltas("compact_memory and 4 writes", &a, &b, 0, 4, 0, -4);
	t.ok &= check_small_pages("writes after compact_memory", p, &l, (NR_STD + 8) * 4);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/* ==== part 2: promotion in place ======================================= */

#define KHUGEPAGED	THP_SYSFS "khugepaged/"

/* A decimal sysfs value, or -1. */
static long knob_long(const char *path)
{
	char buf[64];

	if (read_file(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

struct pcounters {
	long promote, failed, collapsed, res_collapsed, collapse_alloc;
};

static void pcounters_read(struct pcounters *c)
{
	vmstat_refresh();
	c->promote = vmstat_get("thp_res_promote");
	c->failed = vmstat_get("thp_res_promote_failed");
	c->collapse_alloc = vmstat_get("thp_collapse_alloc");
	c->collapsed = knob_long(KHUGEPAGED "pages_collapsed");
	c->res_collapsed = knob_long(KHUGEPAGED "res_pages_collapsed");
}

/*
 * Check b - a: thp_res_promote, khugepaged's pages_collapsed and
 * res_pages_collapsed, thp_collapse_alloc (ANY: not checked). Failed
 * promotions are checked by the cases that expect them.
 */
static bool pdeltas(const char *what, const struct pcounters *a, const struct pcounters *b,
		    long promote, long collapsed, long res_collapsed, long collapse_alloc)
{
	static const char * const name[] = {
		"thp_res_promote", "khugepaged/pages_collapsed",
		"khugepaged/res_pages_collapsed", "thp_collapse_alloc",
	};
	const long want[] = { promote, collapsed, res_collapsed, collapse_alloc };
	const long got[] = {
		b->promote - a->promote, b->collapsed - a->collapsed,
		b->res_collapsed - a->res_collapsed, b->collapse_alloc - a->collapse_alloc,
	};
	bool ok = deltas_match(what, name, want, got, 4);

	if (!ok && b->failed != a->failed)
		ksft_print_msg("%s: thp_res_promote_failed %+ld\n", what, b->failed - a->failed);
	return ok;
}

/*
 * Let khugepaged scan every 100 ms until AnonHugePages of the mapping at p
 * is want_kb, or until it finished `scans` more full scans (at most 120 s).
 * Puts it back to sleep (600 s) and returns AnonHugePages in kB.
 */
static long khugepaged_until(char *p, long want_kb, int scans)
{
	long f0 = knob_long(KHUGEPAGED "full_scans"), huge = smaps_kb(p, "AnonHugePages");

	thp_set("khugepaged/scan_sleep_millisecs", "100");
	for (int i = 0; i < 1200 && huge != want_kb; i++) {
		if (knob_long(KHUGEPAGED "full_scans") >= f0 + scans)
			break;
		sleep_ms(100);
		huge = smaps_kb(p, "AnonHugePages");
	}
	thp_set("khugepaged/scan_sleep_millisecs", "600000");
	if (knob_long(KHUGEPAGED "full_scans") < f0 + scans && huge != want_kb)
		ksft_print_msg("khugepaged did not finish %d full scans in 120 s\n", scans);
	return huge;
}

/*
 * Every page of the 2 MiB range at p is page pg of the block whose first
 * frame is pfn0: the range is mapped by the block it used before.
 */
static bool check_in_place(const char *what, char *p, unsigned long pfn0)
{
	for (int pg = 0; pg < NPG; pg++) {
		unsigned long pfn = pagemap_pfn(p + pg * PG);

		if (pfn != pfn0 + pg) {
			ksft_print_msg("%s: page %d has pfn %#lx, want %#lx (block %#lx)\n",
				       what, pg, pfn, pfn0 + pg, pfn0);
			return false;
		}
	}
	return true;
}

/* The first frame of the block behind written page pg of the range at p. */
static unsigned long block_pfn(char *p, int pg)
{
	unsigned long pfn = pagemap_pfn(p + pg * PG);

	return pfn ? pfn - pg : 0;
}

/* Write pages [from, to) of the range at p, all with patterns of their own. */
static void fill_range(char *p, struct layout *l, int from, int to)
{
	for (int pg = from; pg < to; pg++)
		fill(p, l, pg);
}

/* The range at p is mapped by the block at pfn0, reads what was written, Rss 2 MiB. */
static bool check_promoted(const char *what, char *p, const struct layout *l,
			   unsigned long pfn0)
{
	bool ok = expect("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), 2048);

	ok &= check_in_place(what, p, pfn0);
	ok &= verify(what, p, l, 0, NPG);
	return ok;
}

/* ---- the thp_res_promote tracepoint ---- */

static const char * const promote_event[] = { TRACE_EVENTS "thp_res_promote/enable" };

struct ptrace {
	struct tracing tracing;
	bool ok;	/* set up: the trace can be trusted */
};

/* Record thp_res_promote events from now on, in an emptied trace buffer. */
static void ptrace_begin(struct ptrace *tr)
{
	tr->ok = tracing_save(&tr->tracing, promote_event, 1);
	if (tr->ok)
		tr->ok = tracing_start(&tr->tracing);
	if (!tr->ok)
		ksft_print_msg("cannot set up tracing of thp_res_promote\n");
}

static void ptrace_end(struct ptrace *tr)
{
	tracing_end(&tr->tracing);
}

/*
 * Is there a thp_res_promote line for the range at p that contains want
 * (e.g. " nr_copied=5 result=promoted")? Prints the lines for p if not.
 */
static bool ptrace_seen(struct ptrace *tr, char *p, const char *want)
{
	char haddr[64], other[3][256], *line = NULL;
	bool seen = false;
	size_t cap = 0;
	int nr_other = 0;
	FILE *f;

	if (!tr->ok)
		return false;
	snprintf(haddr, sizeof(haddr), " haddr=0x%lx ", (unsigned long)p);
	f = fopen(TRACEFS "trace", "r");
	if (!f) {
		ksft_print_msg("open %strace: %s\n", TRACEFS, strerror(errno));
		return false;
	}
	while (!seen && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (!strstr(line, " thp_res_promote: ") || !strstr(line, haddr))
			continue;
		if (strstr(line, want))
			seen = true;
		else if (nr_other < 3)
			snprintf(other[nr_other++], sizeof(other[0]), "%s", line);
	}
	free(line);
	fclose(f);
	if (!seen)
		ksft_print_msg("no thp_res_promote line with%sand \"%s\"\n", haddr, want);
	for (int i = 0; !seen && i < nr_other; i++)
		ksft_print_msg("  other line: %s\n", other[i]);
	return seen;
}

/*
 * MADV_COLLAPSE of the reserved range at p, with used pages in use,
 * promotes it in place: thp_res_promote +1 and no collapse, nr_thp_reserved
 * -(512 - used), the block at pfn0 maps the whole range, data intact. With
 * tr, tracing ends and a thp_res_promote line with want must be there.
 */
static void collapse_promotes(struct tcase *t, const char *what, char *p,
			      const struct layout *l, unsigned long pfn0, int used,
			      struct ptrace *tr, const char *want)
{
	struct pcounters pa, pb;
	struct counters a, b;

	counters_read(&a);
	pcounters_read(&pa);
	if (madvise(p, PMD, MADV_COLLAPSE)) {
		ksft_print_msg("%s: madvise(MADV_COLLAPSE): %s\n", what, strerror(errno));
		t->ok = false;
	}
	counters_read(&b);
	pcounters_read(&pb);
	t->ok &= pdeltas(what, &pa, &pb, 1, 0, 0, 0);
	t->ok &= deltas(what, &a, &b, 0, 0, 0, -(NPG - used));
	if (tr) {
		ptrace_end(tr);
		t->ok &= ptrace_seen(tr, p, want);
	}
	t->ok &= check_promoted(what, p, l, pfn0);
}

/*
 * khugepaged promotes a reservation with 300 of its 512 pages in use in
 * place: the range is then mapped by one PMD of the very block it used,
 * frame for frame; the 212 never-used pages read zero; no huge page was
 * allocated (thp_collapse_alloc +0). The pages are written at threshold
 * 512 and the threshold lowered to 256 afterwards, so that no fault
 * promotes the range: khugepaged promotes what the faults did not.
 */
static void test_promote_khugepaged(void)
{
	struct counters a, b;
	struct pcounters pa, pb;
	struct layout l = {};
	unsigned long pfn0;
	struct tcase t;
	char *p;

	case_begin(&t, "promote: khugepaged maps a dense reservation by its PMD, in place");
	thp_set("promotion_threshold", "512");
	p = map_region(PMD);
	t.ok &= fill_reserves("first write", p, &l, 0);
	fill_range(p, &l, 1, 300);
	t.ok &= check_block("300 pages written", p, &l);
	pfn0 = block_pfn(p, 0);
	thp_set("promotion_threshold", "256");
	counters_read(&a);
	pcounters_read(&pa);
	t.ok &= expect("AnonHugePages kB after khugepaged", khugepaged_until(p, 2048, 3), 2048);
	counters_read(&b);
	pcounters_read(&pb);
	t.ok &= pdeltas("khugepaged", &pa, &pb, 1, 1, 1, 0);
	t.ok &= deltas("khugepaged", &a, &b, 0, 0, 0, -(NPG - 300));
	t.ok &= check_promoted("after promotion", p, &l, pfn0);
	t.ok &= expect("Rss kB", smaps_kb(p, "Rss"), 2048);
	/* A huge page now, not a reservation: munmap releases nothing. */
	unmap_releases(&t, p, PMD, 0);
	case_end(&t, true);
}

/*
 * promotion_threshold=64 set after the writes: of a range with 63 used
 * pages and one with 64, khugepaged promotes the second only, through two
 * full scans; the 64th write to the first range then promotes it in the
 * fault, before khugepaged wakes.
 */
static void test_promote_threshold(void)
{
	struct layout l0 = {}, l1 = {};
	struct pcounters pa, pb;
	unsigned long pfn0, pfn1;
	struct counters a, b;
	struct tcase t;
	char *p;

	case_begin(&t, "promote: khugepaged waits for exactly promotion_threshold used pages");
	thp_set("promotion_threshold", "512");
	p = map_region(2 * PMD);
	t.ok &= fill_reserves("range 0", p, &l0, 0);
	fill_range(p, &l0, 1, 63);
	t.ok &= fill_reserves("range 1", p + PMD, &l1, 0);
	fill_range(p + PMD, &l1, 1, 64);
	pfn0 = block_pfn(p, 0);
	pfn1 = block_pfn(p + PMD, 0);
	thp_set("promotion_threshold", "64");
	pcounters_read(&pa);
	/* Two full scans more than it takes to promote range 1. */
	t.ok &= expect("AnonHugePages kB, 63 and 64 used",
		       khugepaged_until(p, 4096, 2), 2048);
	pcounters_read(&pb);
	t.ok &= pdeltas("63 and 64 used", &pa, &pb, 1, 1, 1, 0);
	t.ok &= check_promoted("range 1 (64 used)", p + PMD, &l1, pfn1);
	t.ok &= check_block("range 0 (63 used)", p, &l0);
	t.ok &= verify("range 0 (63 used)", p, &l0, 0, NPG);
	counters_read(&a);
	fill(p, &l0, 63);
	counters_read(&b);
	pcounters_read(&pa);
	t.ok &= deltas("64th write to range 0", &a, &b, 0, 1, 0, -(NPG - 63));
	t.ok &= pdeltas("64th write to range 0", &pb, &pa, 1, 0, 0, 0);
	t.ok &= expect("AnonHugePages kB, both at 64 used", smaps_kb(p, "AnonHugePages"), 4096);
	t.ok &= check_in_place("range 0 (64 used)", p, pfn0);
	t.ok &= verify("range 0", p, &l0, 0, NPG);
	t.ok &= verify("range 1", p + PMD, &l1, 0, NPG);
	thp_set("promotion_threshold", "256");
	unmap_releases(&t, p, 2 * PMD, 0);
	case_end(&t, true);
}

/*
 * Without a reservation too, khugepaged leaves a range with fewer used
 * pages than the threshold alone: written under enabled=never, a range
 * with 100 pages stays PTE-mapped while one with 300 is collapsed by copy
 * (thp_collapse_alloc +1), as the stock kernel would.
 */
static void test_no_sparse_copy(void)
{
	struct layout l0 = {}, l1 = {}, lr = {};
	struct pcounters pa, pb;
	struct counters a, b;
	struct tcase t;
	char *p, *r;

	case_begin(&t, "khugepaged: no copy collapse of a range below the threshold");
	thp_set("enabled", "never");
	p = map_region(2 * PMD);
	counters_read(&a);
	fill_range(p, &l0, 0, 100);
	fill_range(p + PMD, &l1, 0, 300);
	counters_read(&b);
	t.ok &= deltas("writes under enabled=never", &a, &b, 0, 0, 0, 0);
	/* khugepaged starts scanning as soon as THP is enabled. */
	pcounters_read(&pa);
	thp_set("enabled", "always");
	/* It scans an mm once a THP fault registered it. */
	r = map_region(PMD);
	t.ok &= fill_reserves("registering write", r, &lr, 0);
	unmap_releases(&t, r, PMD, 1);
	t.ok &= expect("AnonHugePages kB after khugepaged", khugepaged_until(p, 4096, 3), 2048);
	pcounters_read(&pb);
	t.ok &= pdeltas("khugepaged", &pa, &pb, 0, 1, 0, 1);
	/* The huge page is range 1's: all of it maps one aligned block. */
	t.ok &= check_in_place("range 1 (300 used)", p + PMD, block_pfn(p + PMD, 0));
	t.ok &= verify("range 0 (100 used)", p, &l0, 0, NPG);
	t.ok &= verify("range 1 (300 used)", p + PMD, &l1, 0, NPG);
	unmap_region(p, 2 * PMD);
	case_end(&t, true);
}

/*
 * MADV_COLLAPSE promotes a reserved range at once, whatever the threshold:
 * 8 used pages, threshold 256, and the range is mapped by its own block.
 */
static void test_collapse(void)
{
	const char *name = "promote: MADV_COLLAPSE promotes in place at any threshold";
	struct layout l = {};
	unsigned long pfn0;
	struct tcase t;
	char *p;

	/*
	 * Unknown advice is EINVAL before the range is looked at, and an
	 * empty range is 0: this tells "no MADV_COLLAPSE" apart from an
	 * EINVAL for the range below, which is a failure.
	 */
	if (madvise(NULL, 0, MADV_COLLAPSE) && errno == EINVAL) {
		ksft_test_result_skip("%s (no MADV_COLLAPSE)\n", name);
		return;
	}
	case_begin(&t, name);
	p = reserve_std(&t, &l);
	pfn0 = block_pfn(p, std_pages[0]);
	collapse_promotes(&t, "MADV_COLLAPSE", p, &l, pfn0, NR_STD, NULL, NULL);
	unmap_releases(&t, p, PMD, 0);
	case_end(&t, true);
}

/*
 * At promotion_threshold=512, a reservation whose every page is in use is
 * promoted without khugepaged (asleep for 600 s here): the fault that uses
 * the last page promotes it before it returns.
 */
static void test_promote_full(void)
{
	struct pcounters pa, pb;
	struct layout l = {};
	unsigned long pfn0;
	struct tcase t;
	char *p;

	case_begin(&t, "promote: a full reservation is promoted at once, without khugepaged");
	thp_set("promotion_threshold", "512");
	p = map_region(PMD);
	t.ok &= fill_reserves("first write", p, &l, 0);
	fill_range(p, &l, 1, NPG - 1);
	pfn0 = block_pfn(p, 0);
	t.ok &= expect("AnonHugePages kB with 511 used", smaps_kb(p, "AnonHugePages"), 0);
	pcounters_read(&pa);
	fill(p, &l, NPG - 1);
	pcounters_read(&pb);
	t.ok &= expect("AnonHugePages kB after the 512th write", smaps_kb(p, "AnonHugePages"),
		       2048);
	t.ok &= pdeltas("512th write", &pa, &pb, 1, 0, 0, 0);
	t.ok &= check_promoted("full block", p, &l, pfn0);
	thp_set("promotion_threshold", "256");
	unmap_releases(&t, p, PMD, 0);
	case_end(&t, true);
}

/*
 * A page with a GUP reference (vmsplice into a pipe) makes MADV_COLLAPSE
 * fail with EAGAIN: the range stays PTE-mapped, the reservation intact,
 * the failure counted and traced (result=pinned). Once the pipe is read,
 * the promotion works.
 */
static void test_promote_pinned(void)
{
	const char *name = "promote: a GUP-pinned page fails it safely; unpinned, it works";
	struct iovec iov;
	struct pcounters pa, pb;
	struct counters a, b;
	struct layout l = {};
	struct ptrace tr;
	unsigned long pfn0;
	char buf[PG];
	struct tcase t;
	int fds[2], ret;
	char *p;

	case_begin(&t, name);
	p = reserve_std(&t, &l);
	pfn0 = block_pfn(p, std_pages[0]);
	if (pipe(fds))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	iov.iov_base = p + 100 * PG;
	iov.iov_len = PG;
	check_call(&t, "vmsplice", vmsplice(fds[1], &iov, 1, 0) == (ssize_t)PG ? 0 : -1);
	ptrace_begin(&tr);
	counters_read(&a);
	pcounters_read(&pa);
	ret = madvise(p, PMD, MADV_COLLAPSE);
	counters_read(&b);
	pcounters_read(&pb);
	if (!ret || errno != EAGAIN) {
		ksft_print_msg("MADV_COLLAPSE of a pinned range: %s, want EAGAIN\n",
			       ret ? strerror(errno) : "success");
		t.ok = false;
	}
	t.ok &= pdeltas("pinned", &pa, &pb, 0, 0, 0, 0);
	t.ok &= expect("thp_res_promote_failed delta", pb.failed - pa.failed, 1);
	t.ok &= deltas("pinned", &a, &b, 0, 0, 0, 0);
	t.ok &= ptrace_seen(&tr, p, " result=pinned");
	t.ok &= check_small_pages("pinned", p, &l, 4 * NR_STD);

	/* The pipe holds page 100 as it was: read it, and the pin is gone. */
	t.ok &= expect("bytes read from the pipe", read(fds[0], buf, PG), PG);
	t.ok &= expect("pipe data matches page 100", !memcmp(buf, p + 100 * PG, PG), 1);
	close(fds[0]);
	close(fds[1]);
	collapse_promotes(&t, "unpinned", p, &l, pfn0, NR_STD, &tr,
			  " nr_copied=0 result=promoted");
	unmap_releases(&t, p, PMD, 0);
	case_end(&t, true);
}

#define FORK_USED	32	/* pages the parent uses before fork */
#define FORK_COW	5	/* of them, rewritten by the parent while shared */

/*
 * fork() with the child alive: its PTEs share the block's pages, so
 * khugepaged (threshold 16, 32 used) fails with result=shared and leaves
 * the reservation as it was. The parent rewrites 5 pages meanwhile, which
 * copies them out of the block. Once the child exits, MADV_COLLAPSE
 * promotes the range in place and copies exactly those 5 pages back
 * (nr_copied=5).
 */
static void test_promote_fork(void)
{
	struct pcounters pa, pb;
	struct counters a, b;
	struct layout l = {};
	int up[2], down[2];
	unsigned long pfn0;
	struct ptrace tr;
	struct tcase t;
	pid_t pid;
	char *p;

	case_begin(&t, "promote: fails while a child shares the block, copies back 5 pages after");
	p = map_region(PMD);
	t.ok &= fill_reserves("first write", p, &l, 0);
	fill_range(p, &l, 1, FORK_USED);
	pfn0 = block_pfn(p, 0);
	pid = fork_piped(up, down);
	if (!pid) {
		/* Keep khugepaged away from the child's copy of the range. */
		bool ok = !madvise(p, PMD, MADV_NOHUGEPAGE);

		pipe_send(up[1], ok);
		pipe_wait(down[0]);
		_exit(ok ? 0 : 1);
	}
	t.ok &= pipe_wait(up[0]);
	/* Now, not before the writes: no fault promotes the range. */
	thp_set("promotion_threshold", "16");
	ptrace_begin(&tr);
	counters_read(&a);
	pcounters_read(&pa);
	t.ok &= expect("AnonHugePages kB with the child alive", khugepaged_until(p, 2048, 2), 0);
	counters_read(&b);
	pcounters_read(&pb);
	t.ok &= pdeltas("child alive", &pa, &pb, 0, 0, 0, 0);
	if (pb.failed - pa.failed < 1) {
		ksft_print_msg("thp_res_promote_failed %+ld with the child alive, want >= 1\n",
			       pb.failed - pa.failed);
		t.ok = false;
	}
	t.ok &= deltas("child alive", &a, &b, 0, 0, 0, 0);
	t.ok &= ptrace_seen(&tr, p, " nr_used=32 nr_copied=0 result=shared");

	/* Written while shared: each page is copied out of the block. */
	for (int pg = 1; pg <= FORK_COW; pg++) {
		put(p, &l, pg, PG, 0x5000 + pg);
		if (pagemap_pfn(p + pg * PG) / NPG == pfn0 / NPG) {
			ksft_print_msg("page %d written after fork is still in the block\n", pg);
			t.ok = false;
		}
	}
	t.ok &= pipe_send(down[1], true);
	t.ok &= reap_piped(pid, up, down);

	collapse_promotes(&t, "after the child", p, &l, pfn0, FORK_USED, &tr,
			  " nr_used=32 nr_copied=5 result=promoted");
	thp_set("promotion_threshold", "256");
	unmap_releases(&t, p, PMD, 0);
	case_end(&t, true);
}

#define CG_SWAP		CG_ROOT "thpres-promote"
#define SWAP_PAGE	1	/* the page the parent rewrites after fork */

/* Is the page at addr swapped out (pagemap bit 62)? */
static bool page_swapped(void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return false;
	if (pread(fd, &e, sizeof(e), (uintptr_t)addr / PG * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e & (1ULL << 62);
}

/*
 * A swapped-out page in the range fails the promotion safely. The page is
 * the parent's copy of page 1, written after a fork() while this process
 * was in a memory cgroup of its own, so that memory.reclaim of that group
 * swaps out the copy and nothing else of the range (the block is charged
 * to the parent group). khugepaged then fails with result=swapped and the
 * reservation stays; once page 1 is written again (swapped in),
 * MADV_COLLAPSE promotes the range and copies that one page back.
 */
static void test_promote_swapped(void)
{
	const char *name = "promote: a swapped-out page fails it safely; swapped in, it works";
	struct pcounters pa, pb;
	struct counters a, b;
	struct layout l = {};
	char pidbuf[32];
	int up[2], down[2];
	unsigned long pfn0;
	bool enabled_memory, swapped = false;
	struct ptrace tr;
	struct tcase t;
	pid_t pid;
	char *p;

	if (!cg_create(name, CG_SWAP, &enabled_memory))
		return;
	case_begin(&t, name);
	p = map_region(PMD);
	t.ok &= fill_reserves("first write", p, &l, 0);
	fill_range(p, &l, 1, FORK_USED);
	pfn0 = block_pfn(p, 0);
	pid = fork_piped(up, down);
	if (!pid) {
		pipe_send(up[1], true);
		pipe_wait(down[0]);
		_exit(0);
	}
	t.ok &= pipe_wait(up[0]);
	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_file(CG_SWAP "/cgroup.procs", pidbuf)) {
		ksft_print_msg("cannot join %s\n", CG_SWAP);
		t.ok = false;
	}
	put(p, &l, SWAP_PAGE, PG, 0x6000);
	t.ok &= pipe_send(down[1], true);
	t.ok &= reap_piped(pid, up, down);
	for (int i = 0; i < 20 && !swapped; i++) {
		write_file(CG_SWAP "/memory.reclaim", "1M");
		swapped = page_swapped(p + SWAP_PAGE * PG);
	}
	if (write_file(CG_ROOT "cgroup.procs", pidbuf)) {
		ksft_print_msg("cannot leave %s\n", CG_SWAP);
		t.ok = false;
	}
	if (!swapped) {
		ksft_print_msg("memory.reclaim did not swap page %d out\n", SWAP_PAGE);
		t.ok = false;
	}

	/* Now, not before the writes: no fault promotes the range. */
	thp_set("promotion_threshold", "16");
	ptrace_begin(&tr);
	counters_read(&a);
	pcounters_read(&pa);
	t.ok &= expect("AnonHugePages kB with a page swapped out",
		       khugepaged_until(p, 2048, 2), 0);
	counters_read(&b);
	pcounters_read(&pb);
	t.ok &= pdeltas("swapped out", &pa, &pb, 0, 0, 0, 0);
	if (pb.failed - pa.failed < 1) {
		ksft_print_msg("thp_res_promote_failed %+ld with a page swapped out, want >= 1\n",
			       pb.failed - pa.failed);
		t.ok = false;
	}
	t.ok &= deltas("swapped out", &a, &b, 0, 0, 0, 0);
	t.ok &= ptrace_seen(&tr, p, " result=swapped");
	t.ok &= expect("page still swapped out", page_swapped(p + SWAP_PAGE * PG), 1);

	/* A write fault swaps it in and frees its swap slot. */
	t.ok &= verify("before the swap-in", p, &l, 0, NPG);
	put(p, &l, SWAP_PAGE, PG, 0x6001);
	collapse_promotes(&t, "after swap-in", p, &l, pfn0, FORK_USED, &tr,
			  " nr_used=32 nr_copied=1 result=promoted");
	thp_set("promotion_threshold", "256");
	unmap_releases(&t, p, PMD, 0);
	t.ok &= cg_remove(CG_SWAP, enabled_memory);
	case_end(&t, true);
}

/* ==== 38-41: memory pressure breaks reservations (part 3) ================ */

#define DROP_CACHES	"/proc/sys/vm/drop_caches"
#define DRANGES		4

/* Join the group cg (child side); exits the child on failure. */
static void cg_join_or_exit(const char *cg)
{
	char path[256], pidbuf[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_file(path, pidbuf)) {
		ksft_print_msg("child: cannot join %s\n", cg);
		fflush(stdout);
		_exit(2);
	}
}

/*
 * drop_caches (echo 2) reaches the reservations' shrinker: every
 * reservation is broken, its never-used pages are freed (thp_res_reclaim),
 * the used pages stay mapped with their data, and a later write to a page
 * never used is an ordinary fault.
 */
static void test_drop_caches(void)
{
	const char *name = "drop_caches: echo 2 breaks every reservation and keeps the data";
	const long unused = DRANGES * (NPG - NR_STD);
	struct layout l[DRANGES];
	struct counters a, b;
	long rec0, free0, rise;
	struct tcase t;
	char *p;
	int err;

	case_begin(&t, name);
	p = map_region(DRANGES * PMD);
	for (int i = 0; i < DRANGES; i++) {
		memset(&l[i], 0, sizeof(l[i]));
		t.ok &= fill_reserving("reserve", p + i * PMD, &l[i], std_pages, NR_STD);
	}
	counters_read(&a);
	rec0 = vmstat_get("thp_res_reclaim");
	free0 = free_slab_kb();
	err = write_file(DROP_CACHES, "2");
	if (err) {
		ksft_print_msg("write 2 to %s: %s\n", DROP_CACHES, strerror(-err));
		t.ok = false;
	}
	counters_read(&b);
	t.ok &= deltas("drop_caches", &a, &b, 0, 0, DRANGES, t.c0.reserved - a.reserved);
	t.ok &= expect("thp_res_reclaim", vmstat_get("thp_res_reclaim") - rec0, unused);
	/* Slab counts as free here, so dropped slab objects do not add to the rise. */
	rise = free_rise(free0, unused * 4 - unused * 4 / 10);
	if (rise < unused * 4 - unused * 4 / 10) {
		ksft_print_msg("free memory rose by %ld kB, want >= %ld kB\n", rise, unused * 4);
		t.ok = false;
	}
	for (int i = 0; i < DRANGES; i++) {
		if (in_thp(p + i * PMD)) {
			ksft_print_msg("range %d: page 0 is still part of a THP\n", i);
			t.ok = false;
		}
		t.ok &= verify("after drop_caches", p + i * PMD, &l[i], 0, NPG);
	}
	t.ok &= expect("Rss kB", smaps_kb(p, "Rss"), DRANGES * NR_STD * 4);
	t.ok &= fill_unreserved("a never-used page afterwards", p, &l[0], 256);
	t.ok &= verify("after the write", p, &l[0], 0, NPG);
	unmap_releases(&t, p, DRANGES * PMD, 0);
	case_end(&t, true);
}

/*
 * memory.reclaim of a group breaks that group's reservations, as many as
 * the request needs and no more, and swaps nothing; a reservation of a
 * task outside the group is left alone.
 */
#define CG_MRECLAIM	CG_ROOT "thpres-mreclaim"
#define MRECL_RANGES		16
#define MREQUEST_KB	4096L

static __noreturn void mreclaim_child(int up, int down)
{
	static struct layout l[MRECL_RANGES];
	bool ok = true;
	char *p;

	cg_join_or_exit(CG_MRECLAIM);
	p = map_region(MRECL_RANGES * PMD);
	for (int i = 0; i < MRECL_RANGES; i++)
		ok &= fill_reserving("child: reserve", p + i * PMD, &l[i], std_pages, NR_STD);
	pipe_send(up, ok);
	if (!pipe_wait(down))
		_exit(1);
	for (int i = 0; i < MRECL_RANGES; i++)
		ok &= verify("child: after memory.reclaim", p + i * PMD, &l[i], 0, NPG);
	pipe_send(up, ok);
	pipe_wait(down);
	_exit(0);
}

static void test_memory_reclaim(void)
{
	const char *name = "memory.reclaim: breaks only the group's reservations, as many as asked";
	const long want_n = (MREQUEST_KB / 4 + NPG - NR_STD - 1) / (NPG - NR_STD);
	bool enabled_memory, child_ok;
	struct counters a, b, c, d;
	long rec, out, n;
	int up[2], down[2];
	struct layout lq;
	struct tcase t;
	char req[32];
	pid_t pid;
	char *q;
	int err;

	if (!cg_create(name, CG_MRECLAIM, &enabled_memory))
		return;
	case_begin(&t, name);
	memset(&lq, 0, sizeof(lq));
	q = reserve_std(&t, &lq);
	pid = fork_piped(up, down);
	if (!pid)
		mreclaim_child(up[1], down[0]);
	child_ok = pipe_wait(up[0]);
	CHECK(&t, child_ok);
	counters_read(&a);
	rec = vmstat_get("thp_res_reclaim");
	out = vmstat_get("pswpout");
	snprintf(req, sizeof(req), "%ldK", MREQUEST_KB);
	err = write_file(CG_MRECLAIM "/memory.reclaim", req);
	if (err) {
		ksft_print_msg("write %s to %s/memory.reclaim: %s\n", req, CG_MRECLAIM,
			       strerror(-err));
		t.ok = false;
	}
	counters_read(&b);
	n = b.release - a.release;
	ksft_print_msg("memory.reclaim %s: %ld reservations broken, thp_res_reclaim %+ld, pswpout %+ld\n",
		       req, n, vmstat_get("thp_res_reclaim") - rec, vmstat_get("pswpout") - out);
	t.ok &= expect("reservations broken", n, want_n);
	t.ok &= expect("thp_res_reclaim", vmstat_get("thp_res_reclaim") - rec, n * (NPG - NR_STD));
	t.ok &= expect("pswpout", vmstat_get("pswpout") - out, 0);
	t.ok &= deltas("memory.reclaim", &a, &b, 0, 0, n, -n * (NPG - NR_STD));

	/* The parent's reservation, outside the group, still hands out pages. */
	CHECK(&t, in_thp(q));
	counters_read(&c);
	fill(q, &lq, 256);
	counters_read(&d);
	t.ok &= deltas("parent's reservation", &c, &d, 0, 1, 0, -1);
	t.ok &= check_block("parent's reservation", q, &lq);

	child_ok = pipe_send(down[1], true) && pipe_wait(up[0]);
	CHECK(&t, child_ok);
	pipe_send(down[1], true);
	t.ok &= reap_piped(pid, up, down);
	t.ok &= cg_remove(CG_MRECLAIM, enabled_memory);
	end_intact(&t, "parent", q, &lq);
}

/*
 * Global pressure on one node: two children hold reservations, one bound
 * to node 0 and one to node 1; a balloon bound to node 0 then takes all of
 * node 0's free memory and half of its reserved memory. Reclaim breaks
 * node 0's reservations (they are listed on the node of their pages), not
 * node 1's; nothing is swapped or OOM-killed, and the data stays.
 */
#define NODE_SYS	"/sys/devices/system/node/node"
#define NRANGES		256
#define NB_PAGE		7

#ifndef MPOL_BIND
#define MPOL_BIND	2
#endif

static void bind_node(int node)
{
	unsigned long mask = 1UL << node;

	if (syscall(SYS_set_mempolicy, MPOL_BIND, &mask, sizeof(mask) * 8))
		ksft_print_msg("child: set_mempolicy node %d: %s\n", node, strerror(errno));
}

/* A value of a node's meminfo ("Node N MemFree:") or vmstat file. */
static long node_value(int node, const char *file, const char *key)
{
	char path[128], k[64];

	snprintf(path, sizeof(path), NODE_SYS "%d/%s", node, file);
	if (!strcmp(file, "meminfo")) {
		snprintf(k, sizeof(k), "Node %d %s", node, key);
		return keyed_value_sep(path, k, ":");
	}
	return keyed_file_value(path, key);
}

/* Hold NRANGES reservations on node, one page used in each, until told. */
static __noreturn void holder_child(int node, int up, int down)
{
	static struct layout l;
	bool ok = true;
	char *p;

	bind_node(node);
	p = map_region(NRANGES * PMD);
	for (int i = 0; i < NRANGES; i++)
		put(p + i * PMD, &l, NB_PAGE, PG, 0xb000 + node * NRANGES + i);
	pipe_send(up, true);
	if (!pipe_wait(down))
		_exit(1);
	for (int i = 0; i < NRANGES; i++) {
		l.seed[NB_PAGE] = 0xb000 + node * NRANGES + i;
		ok &= verify("holder: after the balloon", p + i * PMD, &l, 0, NPG);
	}
	pipe_send(up, ok);
	_exit(!ok);
}

/* Touch kb of memory on node, never in a reservation, until told. */
static __noreturn void balloon_child(int node, long kb, int up, int down)
{
	size_t len = (size_t)kb << 10;
	char *b;

	bind_node(node);
	b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED || madvise(b, len, MADV_NOHUGEPAGE))
		_exit(2);
	for (size_t off = 0; off < len; off += PG)
		b[off] = 1;
	pipe_send(up, true);
	pipe_wait(down);
	_exit(0);
}

static void test_node_pressure(void)
{
	const char *name = "node pressure: reclaim breaks the reservations on the node of their pages";
	int hup[2][2], hdown[2][2], bup[2], bdown[2];
	long res0[2], res1[2], free0, need, oom, out, rec, balloon_kb;
	pid_t holder[2], balloon;
	bool ballooned;
	struct tcase t;

	if (access(NODE_SYS "1", F_OK)) {
		ksft_test_result_skip("%s (one NUMA node)\n", name);
		return;
	}
	case_begin(&t, name);
	for (int n = 0; n < 2; n++) {
		holder[n] = fork_piped(hup[n], hdown[n]);
		if (!holder[n])
			holder_child(n, hup[n][1], hdown[n][0]);
		CHECK(&t, pipe_wait(hup[n][0]));
	}
	vmstat_refresh();
	for (int n = 0; n < 2; n++)
		res0[n] = node_value(n, "vmstat", "nr_thp_reserved");
	free0 = node_value(0, "meminfo", "MemFree");
	ksft_print_msg("before: nr_thp_reserved node 0 %ld, node 1 %ld; node 0 MemFree %ld kB\n",
		       res0[0], res0[1], free0);
	for (int n = 0; n < 2; n++)
		if (res0[n] < NRANGES * (NPG - 1)) {
			ksft_print_msg("node %d holds %ld reserved pages, want >= %d\n",
				       n, res0[n], NRANGES * (NPG - 1));
			t.ok = false;
		}
	/* All free memory but 64 MiB, and half of the node's reserved memory. */
	need = res0[0] * 4 / 2;
	balloon_kb = free0 - 65536 + need;
	oom = vmstat_get("oom_kill");
	out = vmstat_get("pswpout");
	rec = vmstat_get("thp_res_reclaim");
	balloon = fork_piped(bup, bdown);
	if (!balloon)
		balloon_child(0, balloon_kb, bup[1], bdown[0]);
	ballooned = pipe_wait(bup[0]);
	vmstat_refresh();
	for (int n = 0; n < 2; n++)
		res1[n] = node_value(n, "vmstat", "nr_thp_reserved");
	ksft_print_msg("balloon of %ld kB on node 0: nr_thp_reserved node 0 %ld, node 1 %ld; thp_res_reclaim %+ld, pswpout %+ld, oom_kill %+ld\n",
		       balloon_kb, res1[0], res1[1], vmstat_get("thp_res_reclaim") - rec,
		       vmstat_get("pswpout") - out, vmstat_get("oom_kill") - oom);
	if (!ballooned) {
		ksft_print_msg("the balloon did not fill up (killed?)\n");
		t.ok = false;
	}
	t.ok &= expect("oom_kill", vmstat_get("oom_kill") - oom, 0);
	t.ok &= expect("pswpout", vmstat_get("pswpout") - out, 0);
	t.ok &= expect("node 1 nr_thp_reserved", res1[1], res0[1]);
	/* The balloon left 64 MiB of the free memory: the rest came from reservations. */
	need = (need - 65536) / 4;
	if (res0[0] - res1[0] < need) {
		ksft_print_msg("node 0 nr_thp_reserved fell by %ld pages, want >= %ld\n",
			       res0[0] - res1[0], need);
		t.ok = false;
	}
	if (vmstat_get("thp_res_reclaim") - rec < need) {
		ksft_print_msg("thp_res_reclaim %+ld, want >= %ld\n",
			       vmstat_get("thp_res_reclaim") - rec, need);
		t.ok = false;
	}
	pipe_send(bdown[1], true);
	t.ok &= reap_piped(balloon, bup, bdown);
	for (int n = 0; n < 2; n++) {
		CHECK(&t, pipe_send(hdown[n][1], true) && pipe_wait(hup[n][0]));
		t.ok &= reap_piped(holder[n], hup[n], hdown[n]);
	}
	case_end(&t, true);
}

/*
 * Reclaim racing everything else: in a group whose memory.max the
 * reservations overrun, stress-ng's vm, mmapfork, mremap, madvise and fork
 * stressors run beside two programs that keep mapping sparse ranges,
 * forking, moving, discarding and checking them. Afterwards the invariants
 * of part 1 hold: every reservation made was released or promoted,
 * nr_thp_reserved is back, and no byte was lost.
 */
#define CG_STRESS	CG_ROOT "thpres-stress"
#define STRESS_SECS	20
#define SRANGES		32
#define SWORKERS	2

struct sparse_report {
	long rounds, bad;
};

/* Range i of round r: three pages, one of them a 64-page run in every 8th. */
static void sparse_layout(struct layout *l, int r, int i)
{
	memset(l, 0, sizeof(*l));
	l->seed[(i * 37) % NPG] = 0xc000 + r * SRANGES + i;
	l->n[(i * 37) % NPG] = PG;
	l->seed[(i * 101 + 5) % NPG] = 0xd000 + r * SRANGES + i;
	l->n[(i * 101 + 5) % NPG] = PG / 2;
	if (!(i % 8))
		for (int pg = 64; pg < 128; pg++) {
			l->seed[pg] = 0xe000 + pg + i;
			l->n[pg] = PG;
		}
}

static void sparse_write(char *p, struct layout *l, int r, int i)
{
	struct layout w;

	sparse_layout(&w, r, i);
	for (int pg = 0; pg < NPG; pg++)
		if (w.n[pg])
			put(p, l, pg, w.n[pg], w.seed[pg]);
}

static long sparse_check(const char *what, char *p, struct layout *l, int n, bool print)
{
	long bad = 0;

	for (int i = 0; i < n; i++)
		bad += count_bad(what, p + i * PMD, &l[i], print && !bad);
	return bad;
}

static __noreturn void sparse_worker(int up)
{
	static struct layout l[SRANGES];
	struct sparse_report rep = {};
	time_t end = time(NULL) + STRESS_SECS;

	cg_join_or_exit(CG_STRESS);
	while (time(NULL) < end) {
		size_t half = SRANGES / 2 * PMD;
		char *p = mmap_aligned(SRANGES * PMD), *m;
		pid_t kid;

		for (int i = 0; i < SRANGES; i++) {
			memset(&l[i], 0, sizeof(l[i]));
			sparse_write(p + i * PMD, &l[i], (int)rep.rounds, i);
		}
		/* A child writes its own copies and checks them, then exits. */
		kid = fork();
		if (!kid) {
			for (int i = 0; i < SRANGES; i += 3)
				put(p + i * PMD, &l[i], 200, PG, 0xf000 + i);
			_exit(sparse_check("worker's child", p, l, SRANGES, true) ? 1 : 0);
		}
		/* Move the upper half away; discard one range. */
		m = mremap(p + half, half, half, MREMAP_MAYMOVE);
		if (m == MAP_FAILED) {
			m = p + half;
		} else {
			rep.bad += sparse_check("worker: moved", m, l + SRANGES / 2, SRANGES / 2,
						!rep.bad);
		}
		madvise(p + PMD, PMD, MADV_DONTNEED);
		memset(&l[1], 0, sizeof(l[1]));
		rep.bad += sparse_check("worker", p, l, SRANGES / 2, !rep.bad);
		if (kid < 0 || !reap(kid))
			rep.bad++;
		munmap(p, half);
		munmap(m, half);
		rep.rounds++;
	}
	fflush(stdout);
	if (write(up, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(3);
	_exit(0);
}

static void test_stress(void)
{
	const char *name = "stress: reclaim races faults, fork, mremap, madvise, exit and promotion";
	long rec, skip, promote0, promote1, status = 0;
	int up[SWORKERS][2], down[SWORKERS][2];
	pid_t worker[SWORKERS], sng;
	bool enabled_memory;
	struct counters b;
	struct tcase t;
	char secs[16];
	int st;

	if (access("/usr/bin/stress-ng", X_OK)) {
		ksft_test_result_skip("%s (no /usr/bin/stress-ng)\n", name);
		return;
	}
	if (!cg_create(name, CG_STRESS, &enabled_memory))
		return;
	case_begin(&t, name);
	CHECK(&t, !write_file(CG_STRESS "/memory.max", "160M"));
	write_file(CG_STRESS "/memory.swap.max", "max");
	rec = vmstat_get("thp_res_reclaim");
	skip = vmstat_get("thp_res_reclaim_skip");
	promote0 = vmstat_get("thp_res_promote");
	snprintf(secs, sizeof(secs), "%ds", STRESS_SECS);
	sng = fork_flushed();
	if (!sng) {
		int fd = open("/dev/null", O_WRONLY);

		cg_join_or_exit(CG_STRESS);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/bin/stress-ng", "stress-ng", "--vm", "1", "--vm-bytes", "48M",
		      "--mmapfork", "1", "--mremap", "1", "--madvise", "1", "--fork", "1",
		      "--timeout", secs, NULL);
		_exit(127);
	}
	for (int w = 0; w < SWORKERS; w++) {
		worker[w] = fork_piped(up[w], down[w]);
		if (!worker[w])
			sparse_worker(up[w][1]);
	}
	for (int w = 0; w < SWORKERS; w++) {
		struct sparse_report rep = {};

		if (read(up[w][0], &rep, sizeof(rep)) != (ssize_t)sizeof(rep)) {
			ksft_print_msg("worker %d: no report\n", w);
			t.ok = false;
		}
		ksft_print_msg("worker %d: %ld rounds, %ld bad bytes\n", w, rep.rounds, rep.bad);
		t.ok &= expect("bad bytes", rep.bad, 0);
		CHECK(&t, rep.rounds >= 1);
		t.ok &= reap_piped(worker[w], up[w], down[w]);
	}
	if (waitpid(sng, &st, 0) == sng)
		status = st;
	ksft_print_msg("stress-ng: wait status %#lx (not checked: its stressors may be OOM-killed inside the group)\n",
		       status);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
		ksft_print_msg("stress-ng did not start\n");
		t.ok = false;
	}
	t.ok &= cg_remove(CG_STRESS, enabled_memory);
	wait_reserved(t.c0.reserved);
	counters_read(&b);
	promote1 = vmstat_get("thp_res_promote");
	ksft_print_msg("thp_res_alloc %+ld, thp_res_release %+ld, thp_res_promote %+ld, thp_res_reclaim %+ld, thp_res_reclaim_skip %+ld\n",
		       b.alloc - t.c0.alloc, b.release - t.c0.release, promote1 - promote0,
		       vmstat_get("thp_res_reclaim") - rec, vmstat_get("thp_res_reclaim_skip") - skip);
	if (vmstat_get("thp_res_reclaim") - rec <= 0) {
		ksft_print_msg("reclaim broke no reservation: no race was tried\n");
		t.ok = false;
	}
	t.ok &= expect("thp_res_alloc - thp_res_release - thp_res_promote",
		       (b.alloc - t.c0.alloc) - (b.release - t.c0.release) - (promote1 - promote0), 0);
	case_end(&t, false);
}

/* ==== part 4: the mTHP fallback ========================================= */

#define KPF_HEAD_BIT	15
#define KPF_TAIL_BIT	16
#define MTHP_MIN_ORDER	2
#define PMD_ORDER_4K	9

/* Set hugepages-<size>kB/enabled of every mTHP size: "always" for the orders in mask. */
static void mthp_enable(unsigned long mask)
{
	for (int order = MTHP_MIN_ORDER; order < PMD_ORDER_4K; order++) {
		char knob[64];

		snprintf(knob, sizeof(knob), "hugepages-%lukB/enabled", (PG << order) >> 10);
		thp_set(knob, mask & (1UL << order) ? "always" : "never");
	}
}

/* A counter of hugepages-<size>kB/stats/ for the size of order, or -1. */
static long mthp_stat(int order, const char *stat)
{
	char path[128];

	snprintf(path, sizeof(path), THP_SYSFS "hugepages-%lukB/stats/%s", (PG << order) >> 10,
		 stat);
	return knob_long(path);
}

/* res_promote of every order, read with /proc/vmstat's thp_res_mthp_promote. */
struct mcounters {
	long promote[PMD_ORDER_4K + 1];
	long total, reclaim;
};

static void mcounters_read(struct mcounters *m)
{
	for (int order = MTHP_MIN_ORDER; order <= PMD_ORDER_4K; order++)
		m->promote[order] = mthp_stat(order, "res_promote");
	vmstat_refresh();
	m->total = vmstat_get("thp_res_mthp_promote");
	m->reclaim = vmstat_get("thp_res_reclaim");
}

/*
 * The model of the rule: from the highest enabled order down, an aligned
 * chunk outside the chunks already kept is kept when its used pages reach
 * threshold * chunk / 512, rounded up. head[pg] is the order of the kept
 * chunk starting at pg, 0 elsewhere. Returns the pages it fills in.
 */
static int model_carve(const bool *used, unsigned long mask, int threshold, int *head)
{
	bool kept[NPG] = { false };
	int filled = 0;

	memset(head, 0, NPG * sizeof(*head));
	for (int order = PMD_ORDER_4K - 1; order >= MTHP_MIN_ORDER; order--) {
		int nr = 1 << order, need = (threshold * nr + NPG - 1) / NPG;

		if (!(mask & (1UL << order)))
			continue;
		for (int first = 0; first < NPG; first += nr) {
			int w = 0, taken = 0;

			for (int i = first; i < first + nr; i++) {
				w += used[i];
				taken += kept[i];
			}
			if (taken || w < need)
				continue;
			for (int i = first; i < first + nr; i++)
				kept[i] = true;
			head[first] = order;
			filled += nr - w;
		}
	}
	return filled;
}

/*
 * The range at p is what model_carve() says, on the frames of the block at
 * pfn0: each kept chunk one folio (head page, then tails) with every page
 * mapped; each other used page a base page; nothing else mapped.
 */
static bool check_carved(const char *what, char *p, const bool *used, const int *head,
			 unsigned long pfn0)
{
	for (int pg = 0; pg < NPG; ) {
		int nr = head[pg] ? 1 << head[pg] : 1;

		for (int i = pg; i < pg + nr; i++) {
			unsigned long pfn = pagemap_pfn(p + i * PG);
			unsigned long long f;
			bool want_head = head[pg] && i == pg, want_tail = head[pg] && i > pg;

			if (!head[pg] && !used[i]) {
				if (pfn) {
					ksft_print_msg("%s: never-used page %d is mapped (pfn %#lx)\n",
						       what, i, pfn);
					return false;
				}
				continue;
			}
			if (pfn != pfn0 + i) {
				ksft_print_msg("%s: page %d has pfn %#lx, want %#lx (in place)\n",
					       what, i, pfn, pfn0 + i);
				return false;
			}
			f = kpageflags(pfn);
			if (f == ~0ULL || !!(f & (1ULL << KPF_HEAD_BIT)) != want_head ||
			    !!(f & (1ULL << KPF_TAIL_BIT)) != want_tail ||
			    !!(f & (1ULL << KPF_THP_BIT)) != !!head[pg]) {
				ksft_print_msg("%s: page %d flags %#llx, want %s\n", what, i, f,
					       want_head ? "an mTHP head" :
					       want_tail ? "an mTHP tail" : "a base page");
				return false;
			}
		}
		pg += nr;
	}
	return true;
}

/* A pattern of used pages: runs [from, to) written. */
struct run {
	int from, to;
};

/* Reserve the range at p with the pages of runs written; used[] and l are set. */
static bool reserve_runs(const char *what, char *p, struct layout *l, bool *used,
			 const struct run *runs, int nr_runs)
{
	int pages[NPG], n = 0;

	memset(used, 0, NPG * sizeof(*used));
	for (int r = 0; r < nr_runs; r++)
		for (int pg = runs[r].from; pg < runs[r].to; pg++) {
			pages[n++] = pg;
			used[pg] = true;
		}
	return fill_reserving(what, p, l, pages, n);
}

/* Pages of a layout written, as used[]. */
static int nr_used(const bool *used)
{
	int n = 0;

	for (int pg = 0; pg < NPG; pg++)
		n += used[pg];
	return n;
}

/* echo 2 > drop_caches: the reservation shrinker breaks every reservation. */
static void drop_reservations(struct tcase *t)
{
	int err = write_file(DROP_CACHES, "2");

	if (err) {
		ksft_print_msg("write 2 to %s: %s\n", DROP_CACHES, strerror(-err));
		t->ok = false;
	}
}

/*
 * After a break, the counters moved by the model's chunks: res_promote of
 * each order, thp_res_mthp_promote, and (if reclaimed) thp_res_reclaim by
 * the never-used pages not filled in.
 */
static bool mdeltas(const char *what, const struct mcounters *a, const int *head, int filled,
		    int used, bool reclaimed)
{
	struct mcounters b;
	long want[PMD_ORDER_4K + 1] = { 0 }, total = 0;
	bool ok = true;

	mcounters_read(&b);
	for (int pg = 0; pg < NPG; pg++)
		if (head[pg]) {
			want[head[pg]]++;
			total++;
		}
	for (int order = MTHP_MIN_ORDER; order < PMD_ORDER_4K; order++) {
		char name[64];

		snprintf(name, sizeof(name), "hugepages-%lukB/stats/res_promote",
			 (PG << order) >> 10);
		ok &= expect(name, b.promote[order] - a->promote[order], want[order]);
	}
	ok &= expect("thp_res_mthp_promote", b.total - a->total, total);
	if (reclaimed)
		ok &= expect("thp_res_reclaim", b.reclaim - a->reclaim, NPG - used - filled);
	if (!ok)
		ksft_print_msg("%s: counters above\n", what);
	return ok;
}

/* Three full or half-full 64 KiB chunks, one too sparse, two single pages. */
static const struct run carve_runs[] = {
	{ 0, 16 }, { 80, 96 }, { 144, 152 }, { 192, 199 }, { 330, 331 }, { 500, 501 },
};
#define NR_CARVE_RUNS	((int)ARRAY_SIZE(carve_runs))
#define ORDER_64K	4

/* A reservation with the carve_runs pattern and what the model expects of it. */
struct carved {
	struct layout l;
	bool used[NPG];
	int head[NPG];
	int filled;
	unsigned long pfn0;
	struct counters a;	/* before the break */
	struct mcounters m0;	/* before the break */
};

/* Reserve the range at p with carve_runs (64 KiB chunks); read the counters. */
static void carve_begin(struct tcase *t, struct carved *cv, char *p)
{
	memset(&cv->l, 0, sizeof(cv->l));
	t->ok &= reserve_runs("reserve", p, &cv->l, cv->used, carve_runs, NR_CARVE_RUNS);
	cv->pfn0 = block_pfn(p, 0);
	cv->filled = model_carve(cv->used, 1UL << ORDER_64K, 256, cv->head);
	counters_read(&cv->a);
	mcounters_read(&cv->m0);
}

/* After the break: the mTHP counters, the carved range now at q, every byte. */
static void carve_check(struct tcase *t, const struct carved *cv, const char *what, char *q,
			bool reclaimed)
{
	t->ok &= mdeltas(what, &cv->m0, cv->head, cv->filled, nr_used(cv->used), reclaimed);
	t->ok &= check_carved(what, q, cv->used, cv->head, cv->pfn0);
	t->ok &= verify(what, q, &cv->l, 0, NPG);
}

/*
 * Reclaim (the shrinker, through drop_caches) breaks a reservation whose
 * 64 KiB chunks 0, 5 and 9 are dense: they stay 64 KiB mTHPs on the very
 * frames they used, chunk 9's never-written half mapped and zero; the
 * rest is base pages, and only the never-used pages outside the kept
 * chunks are freed (thp_res_reclaim exact, free memory up by as much).
 */
static void test_mthp_reclaim(void)
{
	struct carved cv;
	struct counters b;
	long free0, rise, freed;
	struct tcase t;
	char *p;

	case_begin(&t, "mthp: reclaim keeps the dense 64 KiB chunks as mTHPs, in place");
	mthp_enable(1UL << ORDER_64K);
	p = map_region(PMD);
	carve_begin(&t, &cv, p);
	t.ok &= expect("pages the model fills in", cv.filled, 8);
	freed = NPG - nr_used(cv.used) - cv.filled;
	free0 = free_slab_kb();
	drop_reservations(&t);
	counters_read(&b);
	t.ok &= deltas("drop_caches", &cv.a, &b, 0, 0, 1, -(NPG - nr_used(cv.used)));
	/* Slab counts as free here, so dropped slab objects do not add to the rise. */
	rise = free_rise(free0, freed * 4 * 9 / 10);
	if (rise < freed * 4 * 9 / 10) {
		ksft_print_msg("free memory rose by %ld kB, want >= %ld kB\n", rise, freed * 4);
		t.ok = false;
	}
	t.ok &= expect("Rss kB", smaps_kb(p, "Rss"), (nr_used(cv.used) + cv.filled) * 4L);
	carve_check(&t, &cv, "after the break", p, true);
	mthp_enable(0);
	unmap_releases(&t, p, PMD, 0);
	case_end(&t, true);
}

/*
 * Each of the 128 combinations of the seven mTHP sizes, 16 KiB to 1 MiB,
 * on one pattern that has dense chunks of every size: the largest dense
 * chunks win, exactly as the model says, with the counters per size.
 */
static void test_mthp_orders(void)
{
	static const struct run runs[] = {
		{ 0, 16 }, { 64, 72 }, { 128, 130 }, { 200, 201 }, { 256, 320 }, { 400, 404 },
		{ 448, 512 },
	};
	struct tcase t;

	case_begin(&t, "mthp: every combination of the sizes 16 KiB-1 MiB keeps the largest dense chunks");
	for (unsigned long combo = 0; combo < (1UL << (PMD_ORDER_4K - MTHP_MIN_ORDER)); combo++) {
		unsigned long mask = combo << MTHP_MIN_ORDER, pfn0;
		struct layout l = {};
		struct mcounters m0;
		bool used[NPG];
		int head[NPG], filled;
		char what[64];
		char *p;

		snprintf(what, sizeof(what), "orders %#lx", mask);
		mthp_enable(mask);
		p = map_region(PMD);
		t.ok &= reserve_runs(what, p, &l, used, runs, ARRAY_SIZE(runs));
		pfn0 = block_pfn(p, 0);
		filled = model_carve(used, mask, 256, head);
		mcounters_read(&m0);
		drop_reservations(&t);
		t.ok &= mdeltas(what, &m0, head, filled, nr_used(used), true);
		t.ok &= check_carved(what, p, used, head, pfn0);
		t.ok &= expect("Rss kB", smaps_kb(p, "Rss"), (nr_used(used) + filled) * 4L);
			t.ok &= verify(what, p, &l, 0, NPG);
		unmap_region(p, PMD);
	}
	mthp_enable(0);
	case_end(&t, true);
}

/*
 * No creep: a carved range whose 16 kept 64 KiB chunks are half written
 * (128 pages used, 256 mapped: the threshold) is not collapsed to a PMD
 * however often khugepaged scans it, since filled-in zero pages do not
 * count; nothing in it grows.
 */
static void test_mthp_creep(void)
{
	struct run runs[16];
	struct pcounters pa, pb;
	struct layout l = {};
	bool used[NPG];
	int head[NPG], filled;
	unsigned long pfn0;
	struct tcase t;
	char *p;

	case_begin(&t, "mthp: no creep, khugepaged leaves a carved range alone scan after scan");
	for (int i = 0; i < 16; i++)
		runs[i] = (struct run){ 32 * i, 32 * i + 8 };
	mthp_enable(1UL << ORDER_64K);
	p = map_region(PMD);
	t.ok &= reserve_runs("reserve", p, &l, used, runs, 16);
	pfn0 = block_pfn(p, 0);
	filled = model_carve(used, 1UL << ORDER_64K, 256, head);
	t.ok &= expect("pages filled in", filled, 128);
	drop_reservations(&t);
	t.ok &= check_carved("after the break", p, used, head, pfn0);
	pcounters_read(&pa);
	t.ok &= expect("AnonHugePages kB after 8 khugepaged scans", khugepaged_until(p, 2048, 8), 0);
	pcounters_read(&pb);
	t.ok &= pdeltas("khugepaged", &pa, &pb, 0, 0, 0, 0);
	t.ok &= check_carved("after the scans", p, used, head, pfn0);
	t.ok &= expect("Rss kB", smaps_kb(p, "Rss"), 256 * 4L);
	t.ok &= verify("after the scans", p, &l, 0, NPG);
	mthp_enable(0);
	unmap_region(p, PMD);
	case_end(&t, true);
}

/*
 * khugepaged breaks a reservation that stays below the threshold between
 * two of its visits when a dense chunk fits an enabled size: the chunks
 * stay mTHPs (trace reason "aged"), the rest is freed. With no mTHP size
 * enabled the same reservation is kept through the same scans.
 */
static void test_mthp_aged(void)
{
	struct counters a, b;
	struct mcounters m0;
	struct layout l2 = {};
	struct carved cv;
	bool used[NPG];
	int none[NPG] = { 0 };
	long free0;
	struct tcase t;
	char *p, *q;

	case_begin(&t, "mthp: khugepaged carves a reservation that stopped growing");
	mthp_enable(0);
	q = map_region(PMD);
	t.ok &= reserve_runs("reserve (no mTHP size)", q, &l2, used, carve_runs, NR_CARVE_RUNS);
	counters_read(&a);
	mcounters_read(&m0);
	khugepaged_until(q, 2048, 4);
	counters_read(&b);
	t.ok &= deltas("4 scans with no mTHP size", &a, &b, 0, 0, 0, 0);
	t.ok &= mdeltas("4 scans with no mTHP size", &m0, none, 0, 0, false);
	unmap_releases(&t, q, PMD, 1);

	mthp_enable(1UL << ORDER_64K);
	p = map_region(PMD);
	carve_begin(&t, &cv, p);
	free0 = free_slab_kb();
	khugepaged_until(p, 2048, 4);
	counters_read(&b);
	t.ok &= deltas("khugepaged", &cv.a, &b, 0, 0, 1, -(NPG - nr_used(cv.used)));
	t.ok &= free_rises("khugepaged", free0, (NPG - nr_used(cv.used) - cv.filled) * 4L);
	carve_check(&t, &cv, "after khugepaged", p, false);
	mthp_enable(0);
	unmap_releases(&t, p, PMD, 0);
	case_end(&t, true);
}

/*
 * A VMA split inside a sparse chunk (mprotect of page 330) releases the
 * reservation; the split worker keeps the dense chunks, which lie wholly
 * in the first VMA, as mTHPs.
 */
static void test_mthp_vma_split(void)
{
	struct carved cv;
	struct tcase t;
	char *p;

	case_begin(&t, "mthp: a VMA split keeps the dense chunks as mTHPs");
	mthp_enable(1UL << ORDER_64K);
	p = map_region(PMD);
	carve_begin(&t, &cv, p);
	check_call(&t, "mprotect", mprotect(p + 330 * PG, PG, PROT_READ));
	/* The split worker carves: wait until it kept the three chunks. */
	wait_vmstat("thp_res_mthp_promote", cv.m0.total + 3, true);
	expect_release(&t, "mprotect", &cv.a);
	carve_check(&t, &cv, "after the split", p, false);
	mthp_enable(0);
	unmap_region(p, PMD);
	case_end(&t, true);
}

/*
 * mremap moves a reserved range: the reservation is released at the old
 * address, the dense chunks kept as mTHPs, and they move along, on the
 * same frames.
 */
static void test_mthp_mremap(void)
{
	struct carved cv;
	struct tcase t;
	char *p, *dst, *q;

	case_begin(&t, "mthp: mremap keeps the dense chunks as mTHPs, moved");
	mthp_enable(1UL << ORDER_64K);
	p = map_region(PMD);
	dst = map_region(PMD);
	carve_begin(&t, &cv, p);
	q = mremap(p, PMD, PMD, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (q != dst) {
		ksft_print_msg("mremap: %s\n", strerror(errno));
		t.ok = false;
		q = p;
	}
	expect_release(&t, "mremap", &cv.a);
	carve_check(&t, &cv, "after mremap", q, false);
	mthp_enable(0);
	unmap_region(q, PMD);
	if (q != p)
		unmap_region(p, PMD);
	case_end(&t, true);
}

static void (* const tests[])(void) = {
	test_first_write,
	test_populate,
	test_read_then_write,
	test_madv_hugepage,
	test_threshold_one,
	test_sysfs_input,
	test_munmap_all,
	test_munmap_middle,
	test_exit,
	test_mremap_move,
	test_mremap_shrink,
	test_mprotect_split,
	test_mlock_split,
	test_dontneed,
	test_madv_free,
	test_pageout,
	test_nohugepage,
	test_fork,
	test_zeroing,
	test_userfaultfd,
	test_thp_disable,
	test_migration,
	test_ksm,
	test_memcg,
	test_tracepoints,
	test_memavailable,
	test_alloc_failure,
	test_reclaim,
	test_compaction,
	test_promote_khugepaged,
	test_promote_threshold,
	test_no_sparse_copy,
	test_collapse,
	test_promote_full,
	test_promote_pinned,
	test_promote_fork,
	test_promote_swapped,
	test_drop_caches,
	test_memory_reclaim,
	test_node_pressure,
	test_stress,
	test_mthp_reclaim,
	test_mthp_orders,
	test_mthp_creep,
	test_mthp_aged,
	test_mthp_vma_split,
	test_mthp_mremap,
};

int main(void)
{
	char v[64];
	long res;

	ksft_print_header();
	if (getpagesize() != (int)PG)
		ksft_exit_skip("base pages are not 4 KiB\n");
	if (thp_get_policy("enabled", v, sizeof(v)))
		ksft_exit_skip("no transparent hugepage support\n");
	if (thp_get_policy("promotion_threshold", v, sizeof(v)))
		ksft_exit_skip("no THP reservations (no " THP_SYSFS "promotion_threshold)\n");
	/*
	 * The cases fill ranges from their first page, in order: early
	 * promotion (thp_reserve_fault) would promote them at 16 used pages.
	 */
	thp_reserve_setup("0");
	/* A dead child shows as EOF or EPIPE on its pipe, not as SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	ksft_set_plan(ARRAY_SIZE(tests));
	res = wait_reserved(0);
	if (res)
		ksft_print_msg("nr_thp_reserved is %ld before the tests, not 0\n", res);
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
		tests[i]();
	ksft_finished();
}
