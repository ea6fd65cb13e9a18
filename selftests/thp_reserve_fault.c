// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations: promotion in the fault path. The fault that brings a
 * reservation to promotion_threshold used pages promotes it in place
 * before it returns, and so does the fault that completes the first
 * promotion_early pages of a range when they are its only used pages (a
 * fill in order from the range's start). khugepaged sleeps for 600 s in
 * every case: whatever is PMD-mapped when a write returns was promoted by
 * a fault.
 *
 * Each case checks exact counter deltas (thp_res_promote, _early, _failed,
 * thp_res_alloc, thp_res_populate, nr_thp_reserved), the minor faults the
 * writes took (getrusage()), AnonHugePages, that every page of a promoted
 * range is the page of the block it used before (pagemap), and every byte
 * of what was written. Needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "thp_util.h"

#define PMD		PMD_SIZE_BYTES
#define PG		4096UL
#define NPG		((int)(PMD / PG))
#define WORDS		(PG / sizeof(uint64_t))
#define TRACE_DIR	"/sys/kernel/tracing/"
#define PROMOTE_EVENT	TRACE_DIR "events/thp_reserve/thp_res_promote/enable"
#define LOCK_EVENT	TRACE_DIR "events/mmap_lock/mmap_lock_acquire_returned/enable"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

/* ---- data ------------------------------------------------------------- */

/* Word w of page pg written in round r: never zero. */
static uint64_t word(int r, long pg, unsigned long w)
{
	return ((uint64_t)(r + 1) << 48) ^ ((uint64_t)pg << 20) ^ (w * 0x9e3779b9ULL) ^ 1;
}

static void write_page(char *p, long pg, int r)
{
	uint64_t *q = (uint64_t *)(p + pg * PG);

	for (unsigned long w = 0; w < WORDS; w++)
		q[w] = word(r, pg, w);
}

/* 1: page pg holds round r's data; 0: it holds zeroes; -1: anything else. */
static int page_state(const char *p, long pg, int r)
{
	const uint64_t *q = (const uint64_t *)(p + pg * PG);
	bool data = true, zero = true;

	for (unsigned long w = 0; w < WORDS; w++) {
		data &= q[w] == word(r, pg, w);
		zero &= !q[w];
	}
	return data ? 1 : zero ? 0 : -1;
}

/*
 * Was page pg dropped (MADV_DONTNEED) while round r wrote it, word by word
 * from the first: zeroes up to some word, round r's data from there on?
 * Zeroes after data, or anything else, would be a write lost or stale
 * memory shown.
 */
static bool dropped_while_written(const char *p, long pg, int r)
{
	const uint64_t *q = (const uint64_t *)(p + pg * PG);
	unsigned long w = 0;

	while (w < WORDS && !q[w])
		w++;
	for (; w < WORDS; w++)
		if (q[w] != word(r, pg, w))
			return false;
	return true;
}

/* Pages [0, n) of the len bytes at p: round r's data where written[], else zero. */
static bool verify_written(const char *what, const char *p, long n, const bool *written, int r)
{
	for (long pg = 0; pg < n; pg++) {
		int want = written[pg] ? 1 : 0, got = page_state(p, pg, r);

		if (got != want) {
			ksft_print_msg("%s: page %ld holds %s, want %s\n", what, pg,
				       got < 0 ? "garbage" : got ? "data" : "zeroes",
				       want ? "data" : "zeroes");
			return false;
		}
	}
	return true;
}

/* ---- state ------------------------------------------------------------ */

struct counters {
	long promote, early, failed, alloc, populate, reserved;
	long alloc_failed, discard, release;
	long fault_alloc, fault_fallback;	/* the stock PMD fault path */
};

static void counters_read(struct counters *c)
{
	vmstat_refresh();
	c->promote = vmstat_get("thp_res_promote");
	c->early = vmstat_get("thp_res_promote_early");
	c->failed = vmstat_get("thp_res_promote_failed");
	c->alloc = vmstat_get("thp_res_alloc");
	c->populate = vmstat_get("thp_res_populate");
	c->reserved = vmstat_get("nr_thp_reserved");
	c->alloc_failed = vmstat_get("thp_res_alloc_failed");
	c->discard = vmstat_get("thp_res_alloc_discard");
	c->release = vmstat_get("thp_res_release");
	c->fault_alloc = vmstat_get("thp_fault_alloc");
	c->fault_fallback = vmstat_get("thp_fault_fallback");
}

/* Check b - a against want (LONG_MIN: not checked), by name. */
static bool deltas(const char *what, const struct counters *a, const struct counters *b,
		   long promote, long early, long failed, long alloc, long populate,
		   long reserved)
{
	static const char * const name[] = {
		"thp_res_promote", "thp_res_promote_early", "thp_res_promote_failed",
		"thp_res_alloc", "thp_res_populate", "nr_thp_reserved",
	};
	const long want[] = { promote, early, failed, alloc, populate, reserved };
	const long got[] = {
		b->promote - a->promote, b->early - a->early, b->failed - a->failed,
		b->alloc - a->alloc, b->populate - a->populate, b->reserved - a->reserved,
	};
	bool ok = true;

	for (int i = 0; i < 6; i++) {
		if (want[i] == LONG_MIN || got[i] == want[i])
			continue;
		ksft_print_msg("%s: %s %+ld, want %+ld\n", what, name[i], got[i], want[i]);
		ok = false;
	}
	/* Every case expects each first write to get its block. */
	if (b->alloc_failed != a->alloc_failed) {
		ksft_print_msg("%s: thp_res_alloc_failed %+ld, want +0\n", what,
			       b->alloc_failed - a->alloc_failed);
		ok = false;
	}
	/* What the stock path did tells where a range without a block came from. */
	if (!ok)
		ksft_print_msg("%s: thp_res_alloc_discard %+ld, thp_res_release %+ld, thp_fault_alloc %+ld, thp_fault_fallback %+ld\n",
			       what, b->discard - a->discard, b->release - a->release,
			       b->fault_alloc - a->fault_alloc,
			       b->fault_fallback - a->fault_fallback);
	return ok;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Every page of the 2 MiB range at p is the page of one aligned block. */
static bool in_place(const char *what, char *p)
{
	unsigned long pfn0 = pagemap_pfn(p);

	if (!pfn0 || pfn0 % NPG) {
		ksft_print_msg("%s: first page at pfn %#lx, not a block's\n", what, pfn0);
		return false;
	}
	for (int pg = 1; pg < NPG; pg++) {
		if (pagemap_pfn(p + pg * PG) != pfn0 + pg) {
			ksft_print_msg("%s: page %d at pfn %#lx, want %#lx\n", what, pg,
				       pagemap_pfn(p + pg * PG), pfn0 + pg);
			return false;
		}
	}
	return true;
}

/* A deterministic permutation of [0, n) from seed (Fisher-Yates, LCG). */
static void permute(int *v, int n, unsigned int seed)
{
	for (int i = 0; i < n; i++)
		v[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j, tmp;

		seed = seed * 1103515245u + 12345u;
		j = (int)((seed >> 8) % (unsigned int)(i + 1));
		tmp = v[i];
		v[i] = v[j];
		v[j] = tmp;
	}
}

/* ---- the thp_res_promote tracepoint ----------------------------------- */

static bool trace_on;

static void trace_begin(void)
{
	trace_on = !write_text(TRACE_DIR "trace", "") && !write_text(PROMOTE_EVENT, "1");
	if (!trace_on)
		ksft_print_msg("cannot trace thp_res_promote\n");
}

/* Lines of the trace for the range at p that contain want. */
static int trace_count(char *p, const char *want)
{
	char haddr[64], line[512];
	int n = 0;
	FILE *f;

	if (!trace_on)
		return -1;
	write_text(PROMOTE_EVENT, "0");
	snprintf(haddr, sizeof(haddr), " haddr=0x%lx ", (unsigned long)p);
	f = fopen(TRACE_DIR "trace", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " thp_res_promote: ") && strstr(line, haddr) &&
		    strstr(line, want))
			n++;
	fclose(f);
	return n;
}

/*
 * The "mm=" field of the thp_res_promote line for the range at p that
 * contains want, into mm (as the trace prints it), or false.
 */
static bool trace_mm(char *p, const char *want, char *mm, size_t len)
{
	char haddr[64], line[512], *m;
	bool found = false;
	FILE *f;

	snprintf(haddr, sizeof(haddr), " haddr=0x%lx ", (unsigned long)p);
	f = fopen(TRACE_DIR "trace", "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (!strstr(line, " thp_res_promote: ") || !strstr(line, haddr) ||
		    !strstr(line, want))
			continue;
		m = strstr(line, " mm=");
		if (m && sscanf(m, " mm=%63s", mm) == 1 && strlen(mm) < len)
			found = true;
	}
	fclose(f);
	return found;
}

/* mmap_lock_acquire_returned lines of the trace for mm with write=true. */
static int trace_write_locks(const char *mm)
{
	char line[512], key[96];
	int n = 0;
	FILE *f;

	snprintf(key, sizeof(key), " mm=%s ", mm);
	f = fopen(TRACE_DIR "trace", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " mmap_lock_acquire_returned: ") && strstr(line, key) &&
		    strstr(line, " write=true"))
			n++;
	fclose(f);
	return n;
}

/* ---- cases ------------------------------------------------------------ */

struct tcase {
	const char *name;
	struct counters c0;
	bool ok;
};

/*
 * Each case needs free 2 MiB blocks for its reservations: an earlier test
 * in the same boot may have left free memory fragmented.
 */
static void case_begin(struct tcase *t, const char *name)
{
	write_text("/proc/sys/vm/drop_caches", "3");
	write_text("/proc/sys/vm/compact_memory", "1");
	t->name = name;
	t->ok = true;
	counters_read(&t->c0);
}

/* No reservation outlives the case. */
static void case_end(struct tcase *t)
{
	struct counters c;

	counters_read(&c);
	if (c.reserved != t->c0.reserved) {
		ksft_print_msg("after the case: nr_thp_reserved %ld, was %ld\n",
			       c.reserved, t->c0.reserved);
		t->ok = false;
	}
	ksft_test_result(t->ok, "%s\n", t->name);
}

#define NR_SEQ	8	/* ranges of the sequential fill */

/*
 * A sequential first touch of 8 ranges (every byte, in order) takes 16
 * faults per range: the 16th promotes the range early, in place, and the
 * other 496 pages are written through the PMD with no fault at all.
 */
static void test_early_sequential(void)
{
	static bool written[NR_SEQ * 512];
	struct counters a, b;
	struct tcase t;
	long f0, faults;
	char *p;

	case_begin(&t, "early: a sequential first touch takes 16 faults per 2 MiB, then a PMD");
	p = map_region(NR_SEQ * PMD);
	trace_begin();
	counters_read(&a);
	f0 = minor_faults();
	for (long pg = 0; pg < NR_SEQ * NPG; pg++)
		write_page(p, pg, 0);
	faults = minor_faults() - f0;
	counters_read(&b);
	for (long pg = 0; pg < NR_SEQ * NPG; pg++)
		written[pg] = true;
	t.ok &= expect_eq("minor faults", faults, NR_SEQ * 16);
	t.ok &= deltas("sequential", &a, &b, NR_SEQ, NR_SEQ, 0, NR_SEQ, NR_SEQ * 15, 0);
	t.ok &= expect_eq("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), NR_SEQ * 2048);
	for (int r = 0; r < NR_SEQ; r++)
		t.ok &= in_place("range", p + r * PMD);
	t.ok &= expect_eq("trace lines 'nr_used=16 ... result=promoted by=early'",
		       trace_count(p, " nr_used=16 nr_copied=0 result=promoted by=early"), 1);
	t.ok &= verify_written("sequential", p, NR_SEQ * NPG, written, 0);
	unmap_region(p, NR_SEQ * PMD);
	case_end(&t);
}

/*
 * Only a range whose used pages are exactly its first 16 is promoted
 * early: the first 16 in reverse order are; 15 of them and another page,
 * then the 16th, are not (17 used); 128 pages in random order are not;
 * with promotion_early=0 a sequential start is not.
 */
static void test_early_only_in_order(void)
{
	static bool w[4][512];
	struct counters a, b;
	int perm[512];
	struct tcase t;
	char *p;

	case_begin(&t, "early: only a range that used exactly its first 16 pages");
	p = map_region(4 * PMD);
	counters_read(&a);
	/* Range 0: pages 15..0. */
	for (int pg = 15; pg >= 0; pg--) {
		write_page(p, pg, 0);
		w[0][pg] = true;
	}
	/* Range 1: pages 1..15, 100, then 0. */
	for (int pg = 1; pg < 16; pg++) {
		write_page(p + PMD, pg, 0);
		w[1][pg] = true;
	}
	write_page(p + PMD, 100, 0);
	write_page(p + PMD, 0, 0);
	w[1][0] = true;
	w[1][100] = true;
	/* Range 2: 128 pages in random order, not all of the first 16. */
	permute(perm, NPG, 2);
	for (int i = 0; i < 128; i++) {
		write_page(p + 2 * PMD, perm[i], 0);
		w[2][perm[i]] = true;
	}
	for (int pg = 0, n = 0; pg < 16; pg++)
		if (w[2][pg] && ++n == 16)
			ksft_exit_fail_msg("permutation 2 holds all first 16 pages\n");
	/* Range 3: pages 0..15 with promotion_early=0. */
	thp_set("promotion_early", "0");
	for (int pg = 0; pg < 16; pg++) {
		write_page(p + 3 * PMD, pg, 0);
		w[3][pg] = true;
	}
	thp_set("promotion_early", "16");
	counters_read(&b);
	t.ok &= deltas("four ranges", &a, &b, 1, 1, 0, 4, 15 + 16 + 127 + 15,
		       (NPG - 17) + (NPG - 128) + (NPG - 16));
	t.ok &= expect_eq("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), 2048);
	t.ok &= in_place("range 0 (pages 15..0)", p);
	t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), 2048 + 4 * (17 + 128 + 16));
	for (int r = 0; r < 4; r++)
		t.ok &= verify_written("range", p + r * PMD, NPG, w[r], 0);
	unmap_region(p, 4 * PMD);
	case_end(&t);
}

/*
 * promotion_threshold=64, early promotion off: 63 writes in random order
 * leave the range reserved; the 64th promotes it before it returns (64
 * faults in all, at most threshold + 1); at threshold 512 a full random
 * fill is promoted by its 512th fault.
 */
static void test_threshold_in_fault(void)
{
	static bool w[2][512];
	struct counters a, b;
	int perm[512];
	struct tcase t;
	long f0, f1;
	char *p;

	case_begin(&t, "threshold: the fault that uses the threshold-th page promotes");
	/* Fault the bookkeeping in now: only the region's faults count below. */
	memset(w, 0, sizeof(w));
	thp_set("promotion_early", "0");
	thp_set("promotion_threshold", "64");
	p = map_region(2 * PMD);
	permute(perm, NPG, 7);
	trace_begin();
	counters_read(&a);
	f0 = minor_faults();
	for (int i = 0; i < 63; i++) {
		write_page(p, perm[i], 0);
		w[0][perm[i]] = true;
	}
	f0 = minor_faults() - f0;
	counters_read(&b);
	t.ok &= deltas("63 used", &a, &b, 0, 0, 0, 1, 62, NPG - 63);
	t.ok &= expect_eq("AnonHugePages kB with 63 used", smaps_kb(p, "AnonHugePages"), 0);
	f1 = minor_faults();
	write_page(p, perm[63], 0);
	w[0][perm[63]] = true;
	t.ok &= expect_eq("minor faults for 64 writes", f0 + minor_faults() - f1, 64);
	counters_read(&b);
	t.ok &= deltas("64 used", &a, &b, 1, 0, 0, 1, 63, 0);
	t.ok &= expect_eq("AnonHugePages kB with 64 used", smaps_kb(p, "AnonHugePages"), 2048);
	t.ok &= in_place("64 used", p);
	t.ok &= expect_eq("trace lines 'nr_used=64 ... result=promoted by=fault'",
		       trace_count(p, " nr_used=64 nr_copied=0 result=promoted by=fault"), 1);
	t.ok &= verify_written("64 used", p, NPG, w[0], 0);

	thp_set("promotion_threshold", "512");
	permute(perm, NPG, 11);
	counters_read(&a);
	f0 = minor_faults();
	for (int i = 0; i < NPG - 1; i++) {
		write_page(p + PMD, perm[i], 0);
		w[1][perm[i]] = true;
	}
	f0 = minor_faults() - f0;
	t.ok &= expect_eq("AnonHugePages kB with 511 used", smaps_kb(p, "AnonHugePages"), 2048);
	f1 = minor_faults();
	write_page(p + PMD, perm[NPG - 1], 0);
	w[1][perm[NPG - 1]] = true;
	t.ok &= expect_eq("minor faults for 512 writes", f0 + minor_faults() - f1, NPG);
	counters_read(&b);
	t.ok &= deltas("512 used", &a, &b, 1, 0, 0, 1, NPG - 1, 0);
	t.ok &= expect_eq("AnonHugePages kB, full", smaps_kb(p, "AnonHugePages"), 4096);
	t.ok &= in_place("512 used", p + PMD);
	t.ok &= verify_written("512 used", p + PMD, NPG, w[1], 0);
	thp_set("promotion_threshold", "256");
	thp_set("promotion_early", "16");
	unmap_region(p, 2 * PMD);
	case_end(&t);
}

/*
 * A page with a GUP reference (vmsplice into a pipe) makes the promotion
 * at the threshold fail cleanly: counted and traced as pinned, the range
 * stays PTE-mapped and reserved, no later fault tries again; once the pipe
 * is read, MADV_COLLAPSE promotes it in place.
 */
static void test_pinned(void)
{
	static bool w[512];
	struct counters a, b;
	struct iovec iov;
	struct tcase t;
	char buf[PG];
	int fds[2];
	char *p;

	case_begin(&t, "pinned: a GUP reference fails the promotion in the fault cleanly");
	thp_set("promotion_early", "0");
	thp_set("promotion_threshold", "64");
	p = map_region(PMD);
	for (int pg = 0; pg < 63; pg++) {
		write_page(p, pg * 2, 0);
		w[pg * 2] = true;
	}
	if (pipe(fds))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	iov.iov_base = p + 10 * PG;
	iov.iov_len = PG;
	t.ok &= expect_eq("vmsplice", vmsplice(fds[1], &iov, 1, 0), PG);
	trace_begin();
	counters_read(&a);
	for (int pg = 63; pg < 100; pg++) {
		write_page(p, pg * 2, 0);
		w[pg * 2] = true;
	}
	counters_read(&b);
	t.ok &= deltas("pinned, 64..100 used", &a, &b, 0, 0, 1, 0, 37, -37);
	t.ok &= expect_eq("trace lines 'result=pinned by=fault'",
		       trace_count(p, " nr_used=64 nr_copied=0 result=pinned by=fault"), 1);
	t.ok &= expect_eq("AnonHugePages kB, pinned", smaps_kb(p, "AnonHugePages"), 0);
	t.ok &= expect_eq("Rss kB, pinned", smaps_kb(p, "Rss"), 400);
	t.ok &= verify_written("pinned", p, NPG, w, 0);
	t.ok &= expect_eq("bytes read from the pipe", read(fds[0], buf, PG), PG);
	t.ok &= expect_eq("pipe data is page 10's", !memcmp(buf, p + 10 * PG, PG), 1);
	close(fds[0]);
	close(fds[1]);
	counters_read(&a);
	if (madvise(p, PMD, MADV_COLLAPSE))
		ksft_print_msg("MADV_COLLAPSE: %s\n", strerror(errno));
	counters_read(&b);
	t.ok &= deltas("unpinned, MADV_COLLAPSE", &a, &b, 1, 0, 0, 0, 0, -(NPG - 100));
	t.ok &= expect_eq("AnonHugePages kB, unpinned", smaps_kb(p, "AnonHugePages"), 2048);
	t.ok &= in_place("unpinned", p);
	t.ok &= verify_written("unpinned", p, NPG, w, 0);
	thp_set("promotion_threshold", "256");
	thp_set("promotion_early", "16");
	unmap_region(p, PMD);
	case_end(&t);
}

#define NR_THREADS	3
#define NR_SHARED	8	/* ranges the threads fill together */

struct filler {
	pthread_t tid;
	char *p;
	int k;
};

/* Thread k writes every page pg with pg % NR_THREADS == k, in order. */
static void *fill_share(void *arg)
{
	struct filler *f = arg;

	for (long pg = f->k; pg < NR_SHARED * NPG; pg += NR_THREADS)
		write_page(f->p, pg, 0);
	return NULL;
}

/*
 * Three threads fill 8 neighbouring ranges together, interleaved page by
 * page: every range is promoted by a fault (early or at the threshold),
 * none fails, nothing is left reserved and every byte is what was written.
 */
static void test_threads(void)
{
	static bool written[NR_SHARED * 512];
	struct filler f[NR_THREADS];
	struct counters a, b;
	struct tcase t;
	char *p;

	case_begin(&t, "threads: three threads filling 8 ranges together");
	p = map_region(NR_SHARED * PMD);
	counters_read(&a);
	for (int k = 0; k < NR_THREADS; k++) {
		f[k].p = p;
		f[k].k = k;
		if (pthread_create(&f[k].tid, NULL, fill_share, &f[k]))
			ksft_exit_fail_msg("pthread_create\n");
	}
	for (int k = 0; k < NR_THREADS; k++)
		pthread_join(f[k].tid, NULL);
	counters_read(&b);
	for (long pg = 0; pg < NR_SHARED * NPG; pg++)
		written[pg] = true;
	t.ok &= deltas("threads", &a, &b, NR_SHARED, LONG_MIN, 0, LONG_MIN, LONG_MIN, 0);
	ksft_print_msg("threads: thp_res_promote_early %+ld, thp_res_alloc %+ld, populate %+ld\n",
		       b.early - a.early, b.alloc - a.alloc, b.populate - a.populate);
	t.ok &= expect_eq("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), NR_SHARED * 2048);
	for (int r = 0; r < NR_SHARED; r++) {
		char what[32];

		snprintf(what, sizeof(what), "range %d", r);
		t.ok &= in_place(what, p + r * PMD);
	}
	t.ok &= verify_written("threads", p, NR_SHARED * NPG, written, 0);
	unmap_region(p, NR_SHARED * PMD);
	case_end(&t);
}

#define NR_FIRST	128	/* new ranges the threads write at once */

struct first_writer {
	pthread_t tid;
	char *p;
	int k;
	pthread_barrier_t *go;
};

/* Thread k writes page k of each range as soon as all threads are ready. */
static void *write_first(void *arg)
{
	struct first_writer *f = arg;

	for (int r = 0; r < NR_FIRST; r++) {
		pthread_barrier_wait(f->go);
		write_page(f->p, (long)r * NPG + f->k, 0);
	}
	return NULL;
}

/*
 * Three threads write pages 0, 1 and 2 of each of 128 new ranges at the
 * same moment: whichever fault makes the range's reservation, the other
 * two must find it and map their pages from its block; none may find the
 * range's new page table before the entry exists and map a page of its
 * own (the range would then never be reserved).
 */
static void test_first_writes(void)
{
	static bool written[NR_FIRST * NPG];
	struct first_writer f[NR_THREADS];
	pthread_barrier_t go;
	struct counters a, b;
	struct tcase t;
	int bad = 0;
	char *p;

	case_begin(&t, "first writes: three threads write the first pages of 128 new ranges at once");
	p = map_region(NR_FIRST * PMD);
	pthread_barrier_init(&go, NULL, NR_THREADS);
	counters_read(&a);
	for (int k = 0; k < NR_THREADS; k++) {
		f[k] = (struct first_writer){ .p = p, .k = k, .go = &go };
		if (pthread_create(&f[k].tid, NULL, write_first, &f[k]))
			ksft_exit_fail_msg("pthread_create\n");
	}
	for (int k = 0; k < NR_THREADS; k++)
		pthread_join(f[k].tid, NULL);
	counters_read(&b);
	pthread_barrier_destroy(&go);
	t.ok &= deltas("first writes", &a, &b, 0, 0, 0, NR_FIRST,
		       (NR_THREADS - 1) * NR_FIRST, NR_FIRST * (NPG - NR_THREADS));
	for (int r = 0; r < NR_FIRST; r++) {
		char *q = p + (long)r * PMD;
		unsigned long pfn0 = pagemap_pfn(q);

		for (int k = 0; k < NR_THREADS; k++)
			written[r * NPG + k] = true;
		for (int k = 0; k < NR_THREADS && bad < 4; k++) {
			unsigned long pfn = pagemap_pfn(q + k * PG);

			if (pfn0 && pfn0 % NPG == 0 && pfn == pfn0 + k)
				continue;
			ksft_print_msg("range %d: page %d at pfn %#lx, not page %d of a block\n",
				       r, k, pfn, k);
			bad++;
			break;
		}
	}
	t.ok &= expect_eq("pages outside their range's block", bad, 0);
	t.ok &= verify_written("first writes", p, NR_FIRST * NPG, written, 0);
	unmap_region(p, NR_FIRST * PMD);
	case_end(&t);
}

#define RACE_ROUNDS	60
#define RACE_RANGES	4

struct racer {
	char *p;
	int round;
	int op;
	pthread_barrier_t start, done;
	bool stop;
};

/*
 * The other thread of a round: while the main thread fills the ranges in
 * order (each promoted by its 16th fault), it drops, re-protects or forks
 * the memory under it. What it does depends on the round.
 */
static void *race_other(void *arg)
{
	struct racer *r = arg;

	for (;;) {
		pthread_barrier_wait(&r->start);
		if (r->stop)
			return NULL;
		for (int i = 0; i < 8; i++) {
			char *q = r->p + (i % RACE_RANGES) * PMD;
			pid_t pid;

			switch (r->op) {
			case 0:	/* drop page i of range i % 4 */
				madvise(q + i * PG, PG, MADV_DONTNEED);
				break;
			case 1:	/* split the VMA at the range and merge it back */
				mprotect(q + PMD / 2, PMD / 2, PROT_READ | PROT_WRITE | PROT_EXEC);
				mprotect(q + PMD / 2, PMD / 2, PROT_READ | PROT_WRITE);
				break;
			case 2:	/* a child shares the pages for a moment */
				pid = fork();
				if (!pid)
					_exit(0);
				if (pid > 0)
					waitpid(pid, NULL, 0);
				break;
			}
		}
		pthread_barrier_wait(&r->done);
	}
}

/*
 * Faults that promote race MADV_DONTNEED, VMA splits (mprotect) and fork()
 * from another thread, 60 rounds: every page ends as the round's data or,
 * where it was dropped, zeroes up to where the drop met the writes and
 * data from there, never anything else; munmap leaves nothing reserved.
 */
static void test_races(void)
{
	struct counters a, b;
	struct racer r = {};
	pthread_t tid;
	struct tcase t;
	int garbage = 0;

	case_begin(&t, "races: promoting faults against DONTNEED, mprotect, fork");
	pthread_barrier_init(&r.start, NULL, 2);
	pthread_barrier_init(&r.done, NULL, 2);
	if (pthread_create(&tid, NULL, race_other, &r))
		ksft_exit_fail_msg("pthread_create\n");
	counters_read(&a);
	for (int round = 0; round < RACE_ROUNDS && !garbage; round++) {
		r.p = map_region(RACE_RANGES * PMD);
		r.round = round;
		r.op = round % 3;
		pthread_barrier_wait(&r.start);
		for (long pg = 0; pg < RACE_RANGES * NPG; pg++)
			write_page(r.p, pg, round);
		pthread_barrier_wait(&r.done);
		for (long pg = 0; pg < RACE_RANGES * NPG; pg++) {
			int s = page_state(r.p, pg, round);

			if (s == 1)
				continue;
			/* race_other() drops page i of range i % 4, i < 8. */
			if (r.op == 0 && pg % NPG < 8 && pg % NPG % RACE_RANGES == pg / NPG &&
			    dropped_while_written(r.p, pg, round))
				continue;
			ksft_print_msg("round %d (op %d): page %ld holds %s\n", round, r.op, pg,
				       s < 0 ? "garbage" : "zeroes");
			for (unsigned long w = 0; s < 0 && w < WORDS; w++) {
				uint64_t v = ((uint64_t *)(r.p + pg * PG))[w];

				if (v && v != word(round, pg, w)) {
					ksft_print_msg("  word %lu is %#llx, want %#llx or 0\n", w,
						       (unsigned long long)v,
						       (unsigned long long)word(round, pg, w));
					break;
				}
			}
			garbage++;
		}
		unmap_region(r.p, RACE_RANGES * PMD);
	}
	r.stop = true;
	pthread_barrier_wait(&r.start);
	pthread_join(tid, NULL);
	counters_read(&b);
	t.ok &= expect_eq("pages with wrong contents", garbage, 0);
	ksft_print_msg("races: thp_res_promote %+ld (early %+ld), failed %+ld, alloc %+ld\n",
		       b.promote - a.promote, b.early - a.early, b.failed - a.failed,
		       b.alloc - a.alloc);
	t.ok &= b.promote > a.promote;
	case_end(&t);
}

/*
 * Neither a promotion in the fault nor one by khugepaged takes mmap_lock
 * for writing (mmap_lock tracepoint, this mm, from the first write to the
 * end): range 0 is promoted by its 16th fault, range 1 (300 pages used,
 * written at threshold 512 so that no fault promotes it, then threshold
 * 256) by khugepaged.
 */
static void test_no_write_lock(void)
{
	static bool w[2][512];
	char mm[64] = "";
	long huge = 0;
	struct tcase t;
	char *p;

	case_begin(&t, "mmap_lock: promotions by a fault and by khugepaged never take it for writing");
	p = map_region(2 * PMD);
	thp_set("promotion_threshold", "512");
	trace_begin();
	if (write_text(LOCK_EVENT, "1")) {
		ksft_print_msg("cannot trace mmap_lock_acquire_returned\n");
		t.ok = false;
	}
	for (int pg = 1; pg <= 300; pg++) {
		write_page(p + PMD, pg, 0);
		w[1][pg] = true;
	}
	thp_set("promotion_threshold", "256");
	for (int pg = 0; pg < NPG; pg++) {
		write_page(p, pg, 0);
		w[0][pg] = true;
	}
	thp_set("khugepaged/scan_sleep_millisecs", "100");
	for (int i = 0; i < 600 && huge != 4096; i++) {
		usleep(100000);
		huge = smaps_kb(p, "AnonHugePages");
	}
	thp_set("khugepaged/scan_sleep_millisecs", "600000");
	write_text(LOCK_EVENT, "0");
	write_text(PROMOTE_EVENT, "0");
	t.ok &= expect_eq("AnonHugePages kB after khugepaged", huge, 4096);
	t.ok &= expect_eq("trace lines 'result=promoted by=khugepaged' for range 1",
		       trace_count(p + PMD, " nr_copied=0 result=promoted by=khugepaged"), 1);
	if (!trace_mm(p, " result=promoted by=early", mm, sizeof(mm))) {
		ksft_print_msg("no 'result=promoted by=early' line for range 0\n");
		t.ok = false;
	} else {
		t.ok &= expect_eq("mmap_lock taken for writing", trace_write_locks(mm), 0);
	}
	t.ok &= in_place("range 0", p);
	t.ok &= in_place("range 1", p + PMD);
	t.ok &= verify_written("range 0", p, NPG, w[0], 0);
	t.ok &= verify_written("range 1", p + PMD, NPG, w[1], 0);
	unmap_region(p, 2 * PMD);
	case_end(&t);
}

#define NR_TAB		100	/* ranges of the table case */
#define TAB_CUT0	20	/* first range the munmap cuts */
#define TAB_CUT1	90	/* last range the munmap cuts */

/* Used page k (0..3) of every range in the table case: never an in-order start. */
static const int tab_page[] = { 3, 7, 11, 15 };

/* Range r's pages written so far (the first n of tab_page) hold round 0's data. */
static bool tab_verify(const char *what, char *p, int r, int n, int lo, int hi)
{
	static bool written[512];

	memset(written, 0, sizeof(written));
	for (int k = 0; k < n; k++)
		written[tab_page[k]] = tab_page[k] >= lo && tab_page[k] < hi;
	for (int pg = lo; pg < hi; pg++)
		if (page_state(p + (long)r * PMD, pg, 0) != (written[pg] ? 1 : 0)) {
			ksft_print_msg("%s: range %d page %d holds %s\n", what, r, pg,
				       page_state(p + (long)r * PMD, pg, 0) ? "data or garbage" :
				       "zeroes");
			return false;
		}
	return true;
}

/*
 * One mm with 100 reservations (the xarray of its table): 2 pages used in
 * each, then a third found by populate in every one; a munmap from inside
 * range 20 to inside range 90 releases exactly those 71 entries (the two
 * it cuts are split, their pages outside the hole stay) and no other; the
 * 29 left still hand out their pages, and the final munmap releases them.
 */
static void test_table(void)
{
	char *p, *cut0, *cut1;
	struct counters a, b;
	int left = NR_TAB - (TAB_CUT1 - TAB_CUT0 + 1);
	struct tcase t;

	case_begin(&t, "table: 100 reservations in one mm, a munmap releases the 71 it covers and no other");
	p = map_region(NR_TAB * PMD);
	counters_read(&a);
	for (int k = 0; k < 3; k++)
		for (int r = 0; r < NR_TAB; r++)
			write_page(p + (long)r * PMD, tab_page[k], 0);
	counters_read(&b);
	t.ok &= deltas("3 pages in each range", &a, &b, 0, 0, 0, NR_TAB, 2 * NR_TAB,
		       NR_TAB * (NPG - 3));

	/* From page 5 of range TAB_CUT0 to page 5 of range TAB_CUT1. */
	cut0 = p + (long)TAB_CUT0 * PMD + 5 * PG;
	cut1 = p + (long)TAB_CUT1 * PMD + 5 * PG;
	counters_read(&a);
	if (munmap(cut0, cut1 - cut0)) {
		ksft_print_msg("munmap: %s\n", strerror(errno));
		t.ok = false;
	}
	counters_read(&b);
	t.ok &= expect_eq("thp_res_release at the munmap", b.release - a.release,
		       TAB_CUT1 - TAB_CUT0 + 1);
	t.ok &= deltas("munmap", &a, &b, 0, 0, 0, 0, 0,
		       -(TAB_CUT1 - TAB_CUT0 + 1) * (long)(NPG - 3));
	t.ok &= tab_verify("range cut at its end", p, TAB_CUT0, 3, 0, 5);
	t.ok &= tab_verify("range cut at its start", p, TAB_CUT1, 3, 5, NPG);

	counters_read(&a);
	for (int r = 0; r < NR_TAB; r++)
		if (r < TAB_CUT0 || r > TAB_CUT1)
			write_page(p + (long)r * PMD, tab_page[3], 0);
	counters_read(&b);
	t.ok &= deltas("a 4th page in the ranges left", &a, &b, 0, 0, 0, 0, left, -left);
	for (int r = 0; r < NR_TAB; r++)
		if (r < TAB_CUT0 || r > TAB_CUT1)
			t.ok &= tab_verify("range left", p, r, 4, 0, NPG);
	counters_read(&a);
	unmap_region(p, NR_TAB * PMD);
	counters_read(&b);
	t.ok &= expect_eq("thp_res_release at the last munmap", b.release - a.release, left);
	t.ok &= deltas("last munmap", &a, &b, 0, 0, 0, 0, 0, -left * (long)(NPG - 4));
	case_end(&t);
}

static void (* const tests[])(void) = {
	test_early_sequential,
	test_early_only_in_order,
	test_threshold_in_fault,
	test_pinned,
	test_threads,
	test_first_writes,
	test_races,
	test_no_write_lock,
	test_table,
};

int main(void)
{
	char v[64];

	ksft_print_header();
	thp_reserve_require();
	if (thp_get_policy("promotion_early", v, sizeof(v)))
		ksft_exit_skip("no promotion in the fault path (no " THP_SYSFS "promotion_early)\n");
	/* Whatever is PMD-mapped in a case was promoted by a fault. */
	thp_reserve_setup("16");
	ksft_set_plan(ARRAY_SIZE(tests));
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
		tests[i]();
	write_text(PROMOTE_EVENT, "0");
	write_text(LOCK_EVENT, "0");
	ksft_finished();
}
