// SPDX-License-Identifier: GPL-2.0
/*
 * thp_bench: the single-process scenarios of make bench.
 *
 *   thp_bench sparse SIZE_MIB        first touch of one page per 2 MiB
 *   thp_bench dense SIZE_MIB         first touch of every page, in order
 *   thp_bench dense-random SIZE_MIB  first touch of every page, in a random
 *                                    order over the whole mapping
 *   thp_bench dense-mt SIZE_MIB THREADS
 *                                    first touch of every page by THREADS
 *                                    threads of one process, each filling
 *                                    its own contiguous share in order
 *   thp_bench scale COUNTS...        one page written in each of COUNT
 *                                    ranges, then the time of a write to a
 *                                    second page of each (a populate with
 *                                    COUNT live reservations)
 *   thp_bench tohuge SIZE_MIB USED SECONDS [advised|threshold=N]
 *                                    write USED of 512 pages per 2 MiB,
 *                                    then sample the PMD-mapped share;
 *                                    advised: written under
 *                                    MADV_NOHUGEPAGE, then MADV_HUGEPAGE;
 *                                    threshold=N: promotion_threshold set
 *                                    to N after the writes
 *   thp_bench warm SIZE_MIB          write SIZE_MIB once and unmap it
 *   thp_bench gups SIZE_MIB SECONDS  fill, warm up, then random updates
 *   thp_bench sparsematrix SIZE_MIB DENSITY PASSES
 *                                    a sparse matrix in a flat mapping:
 *                                    per pass, map, put and get random
 *                                    cells (DENSITY used pages per 2 MiB
 *                                    on average), unmap
 *
 * Every mode maps SIZE_MIB of 2 MiB-aligned private anonymous memory.
 * Output: "key=value" lines; tohuge adds "sample=SECONDS FRACTION" lines.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define HPAGE	(2UL << 20)
#define PAGE	4096UL

/*
 * Map len + 2 MiB and return its first 2 MiB-aligned address; *rawp, if
 * given, is what to munmap() (len + 2 MiB from it).
 */
static char *map_aligned_raw(size_t len, char **rawp)
{
	char *raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (raw == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	if (rawp)
		*rawp = raw;
	return (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
}

static char *map_aligned(size_t len)
{
	return map_aligned_raw(len, NULL);
}

static void report_memory(char *p)
{
	printf("rss_kib=%ld\nhuge_kib=%ld\n", smaps_kb(p, "Rss"), smaps_kb(p, "AnonHugePages"));
}

/*
 * Write all of len bytes once and give them back. Under QEMU's TCG the first
 * write to guest memory since boot costs milliseconds per 2 MiB (measured
 * 5.4 ms per sparse reservation fault first in a boot, 0.15 ms the second
 * time), which is the emulator's, not the kernel's: warming the memory
 * first keeps it out of the fault costs.
 */
static void warm(size_t len)
{
	char *w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (w == MAP_FAILED)
		return;
	memset(w, 1, len);
	munmap(w, len);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * The vmstat events that say what work a first touch did, exact on any
 * machine: huge pages allocated at a fault, reservations made, pages
 * handed out from them, promotions (all, and the early ones), copy
 * collapses. Missing counters (the stock kernel has no thp_res_*) read -1
 * and are not printed.
 */
static const char *const work_events[] = {
	"thp_fault_alloc", "thp_res_alloc", "thp_res_populate", "thp_res_promote",
	"thp_res_promote_early", "thp_collapse_alloc",
};
#define NR_WORK (sizeof(work_events) / sizeof(work_events[0]))

static void work_snapshot(long *v)
{
	for (size_t i = 0; i < NR_WORK; i++)
		v[i] = vmstat(work_events[i]);
}

/* Print each event's count per 2 MiB of len since the snapshot v0. */
static void work_report(const long *v0, size_t len)
{
	long v[NR_WORK];

	work_snapshot(v);
	for (size_t i = 0; i < NR_WORK; i++)
		if (v0[i] >= 0 && v[i] >= 0)
			printf("%s_per_2mib=%.3f\n", work_events[i],
			       (v[i] - v0[i]) * (double)HPAGE / len);
}

/* Offsets of every page of len bytes in a random order (Fisher-Yates). */
static size_t *shuffled_pages(size_t len)
{
	size_t n = len / PAGE, *off = malloc(n * sizeof(*off));
	uint64_t x = 2463534242ULL;

	if (!off) {
		perror("malloc");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		off[i] = i * PAGE;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = xorshift64(&x) % (i + 1), t = off[i];

		off[i] = off[j];
		off[j] = t;
	}
	return off;
}

struct filler {
	char *p;
	size_t len;
	pthread_barrier_t *ready, *go;
};

static void *fill_share(void *arg)
{
	struct filler *f = arg;

	pthread_barrier_wait(f->ready);
	pthread_barrier_wait(f->go);
	for (size_t off = 0; off < f->len; off += PAGE)
		f->p[off] = 1;
	return NULL;
}

enum touch { TOUCH_SPARSE, TOUCH_DENSE, TOUCH_RANDOM, TOUCH_THREADS };

/*
 * First touch of one page (sparse) or every page (the others) of each
 * 2 MiB: in order, in a random order, or by threads threads each filling a
 * contiguous share (2 MiB-aligned) in order. Besides the time: the minor
 * faults the touch took per 2 MiB and the work counters (exact on any
 * machine), and how much of the range is PMD-mapped the moment the touch
 * ends (huge_kib). The page order of TOUCH_RANDOM is drawn before the
 * clock starts.
 */
static void first_touch(size_t len, enum touch how, int threads)
{
	size_t step = how == TOUCH_SPARSE ? HPAGE : PAGE, n = len / step;
	size_t *order = how == TOUCH_RANDOM ? shuffled_pages(len) : NULL;
	pthread_t tid[64];
	struct filler f[64];
	pthread_barrier_t ready, go;
	long f0, faults, w0[NR_WORK];
	double t0, t;
	char *p;

	warm(len);
	p = map_aligned(len);
	if (how == TOUCH_THREADS) {
		size_t share = len / threads / HPAGE * HPAGE;

		if (!share || pthread_barrier_init(&ready, NULL, threads + 1) ||
		    pthread_barrier_init(&go, NULL, threads + 1)) {
			fprintf(stderr, "dense-mt: %d threads need %d x 2 MiB\n",
				threads, threads);
			exit(1);
		}
		for (int i = 0; i < threads; i++) {
			f[i].p = p + i * share;
			f[i].len = i == threads - 1 ? len - i * share : share;
			f[i].ready = &ready;
			f[i].go = &go;
			if (pthread_create(&tid[i], NULL, fill_share, &f[i])) {
				perror("pthread_create");
				exit(1);
			}
		}
		/* Their start-up faults before the counters are read. */
		pthread_barrier_wait(&ready);
	}
	work_snapshot(w0);
	f0 = minor_faults();
	bench_mark("touch_begin");
	t0 = now_s();
	switch (how) {
	case TOUCH_SPARSE:
	case TOUCH_DENSE:
		for (size_t off = 0; off < len; off += step)
			p[off] = 1;
		break;
	case TOUCH_RANDOM:
		for (size_t i = 0; i < n; i++)
			p[order[i]] = 1;
		break;
	case TOUCH_THREADS:
		pthread_barrier_wait(&go);
		for (int i = 0; i < threads; i++)
			pthread_join(tid[i], NULL);
		break;
	}
	t = now_s() - t0;
	bench_mark("touch_end");
	faults = minor_faults() - f0;
	printf("faults=%zu\ntotal_ms=%.3f\nus_per_touch=%.3f\n", n, t * 1e3, t * 1e6 / n);
	printf("minor_faults_per_2mib=%.2f\n", faults * (double)HPAGE / len);
	work_report(w0, len);
	report_memory(p);
	free(order);
}

/*
 * Populate cost against the number of live reservations in one mm: for
 * each count, map count ranges, write page 0 of each (under a reservation
 * policy: count reservations), then time a write to page 1 of each, which
 * a reservation hands out from its block (a populate), and unmap. Prints
 * "us_per_populate_COUNT=MICROSECONDS" per count, with the reservations
 * made by the first writes and the populates of the timed ones per range
 * (1 and 1 if the scenario measured what it says; the stock kernel has no
 * such counters).
 */
static void scale(int argc, char **argv)
{
	for (int a = 0; a < argc; a++) {
		size_t count = strtoul(argv[a], NULL, 10), len = count * HPAGE;
		long w0[NR_WORK], w1[NR_WORK], w2[NR_WORK];
		double t0, t;
		char *p;

		if (!count) {
			fprintf(stderr, "scale: a count must be positive\n");
			exit(2);
		}
		warm(len);
		p = map_aligned(len);
		work_snapshot(w0);
		for (size_t off = 0; off < len; off += HPAGE)
			p[off] = 1;
		work_snapshot(w1);
		t0 = now_s();
		for (size_t off = PAGE; off < len; off += HPAGE)
			p[off] = 1;
		t = now_s() - t0;
		work_snapshot(w2);
		printf("us_per_populate_%zu=%.3f\n", count, t * 1e6 / count);
		/* work_events[1] and [2]: thp_res_alloc, thp_res_populate. */
		if (w0[1] >= 0)
			printf("reserved_per_range_%zu=%.3f\npopulates_per_range_%zu=%.3f\n",
			       count, (double)(w1[1] - w0[1]) / count,
			       count, (double)(w2[2] - w1[2]) / count);
		munmap(p, len);
	}
}

/*
 * Write used of 512 pages per 2 MiB, then sample the PMD-mapped share
 * until it is all or secs have passed. With advised, the pages are written
 * under MADV_NOHUGEPAGE (base pages under every policy) and the range is
 * then advised MADV_HUGEPAGE, so that khugepaged collapses it by a copy:
 * the stock way to huge pages for memory faulted small. With threshold >= 0
 * (patched kernel, root) promotion_threshold is set to it after the
 * writes: reservations left below the old threshold are then above the new
 * one, for khugepaged to promote, as it finds ranges a fault could not
 * promote. The wait, from before the advice or the threshold, is marked
 * (touch_begin, touch_end) for the mmap_lock trace, and the work counters
 * of the wait are reported per 2 MiB.
 */
static void to_huge(size_t len, int used, double secs, int advised, int threshold)
{
	char *p = map_aligned(len);
	long w0[NR_WORK];
	double t0, t;

	if (advised && madvise(p, len, MADV_NOHUGEPAGE)) {
		perror("madvise");
		exit(1);
	}
	for (size_t off = 0; off < len; off += HPAGE)
		for (int i = 0; i < used; i++)
			p[off + i * PAGE] = 1;
	/* The wait starts where the ranges become khugepaged's to take. */
	work_snapshot(w0);
	bench_mark("touch_begin");
	t0 = now_s();
	if (advised && madvise(p, len, MADV_HUGEPAGE)) {
		perror("madvise");
		exit(1);
	}
	if (threshold >= 0) {
		FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/promotion_threshold", "w");

		if (!f || fprintf(f, "%d\n", threshold) < 0 || fclose(f)) {
			perror("promotion_threshold");
			exit(1);
		}
	}
	for (;;) {
		long huge = smaps_kb(p, "AnonHugePages");
		int full = huge * 1024L >= (long)len;

		t = now_s() - t0;
		printf("sample=%.1f %.4f\n", t, huge < 0 ? 0 : huge * 1024.0 / len);
		fflush(stdout);
		if (full) {
			printf("seconds_to_huge=%.1f\n", t);
			break;
		}
		if (t >= secs) {
			printf("seconds_to_huge=n/a\n");
			break;
		}
		usleep(500000);
	}
	bench_mark("touch_end");
	work_report(w0, len);
	report_memory(p);
}

/* Fill, warm up for a second, then random 8-byte updates for secs. */
static void gups(size_t len, double secs)
{
	uint64_t *p = (uint64_t *)map_aligned(len), x = 88172645463325252ULL;
	size_t words = len / sizeof(*p), n = 0;
	double t0, t;

	memset(p, 1, len);
	for (int phase = 0; phase < 2; phase++) {
		t0 = now_s();
		n = 0;
		do {
			for (int i = 0; i < 4096; i++) {
				xorshift64(&x);
				p[x % words] += x;
			}
			n += 4096;
			t = now_s() - t0;
		} while (t < (phase ? secs : 1.0));
	}
	printf("updates_per_s=%.0f\n", n / t);
	report_memory((char *)p);
}

/*
 * The value sparse_matrix() keeps in cell c: never 0, so an unwritten cell
 * reads as a mismatch.
 */
static uint64_t cell_value(size_t c)
{
	return (c * 0x9e3779b97f4a7c15ULL) | 1;
}

/*
 * A sparse matrix of 8-byte cells in a flat private anonymous mapping, the
 * way stress-ng's sparsematrix stressor's "mmap" method keeps one (whose
 * mapping is MAP_SHARED, which anonymous THP does not govern, hence this
 * stand-in). Each pass maps len bytes, puts a value in each cell it draws
 * at random over the whole mapping (as many as the density needs, below),
 * gets them back in the same order and checks each, and unmaps. It does
 * not warm the memory (see warm()): it runs in a memory cgroup smaller
 * than len, and the caller warms it outside (thp_bench warm). When k cells
 * fall on each page on average a page stays unused with probability
 * exp(-k), so the number of cells is chosen for density used pages per
 * 2 MiB on average:
 * k = -ln(1 - density / 512). One op is one put or one get; the work is
 * fixed (passes x 2 x cells ops). Printed: ops, seconds, ops_per_s, the
 * cells that did not read back (mismatches, must be 0), and of the first
 * pass the used pages per 2 MiB (mean, least and most over the ranges) and
 * the ranges with at least 256 used pages (the default threshold), read
 * from the cells drawn, and Rss and AnonHugePages before its unmap.
 */
static void sparse_matrix(size_t len, int density, int passes)
{
	size_t pages = len / PAGE, words = len / sizeof(uint64_t), ranges = len / HPAGE;
	size_t cells = (size_t)(-log(1.0 - density / 512.0) * pages + 0.5);
	unsigned char *used = calloc(pages, 1);
	size_t mismatches = 0;
	double t0, t;

	if (!used) {
		perror("calloc");
		exit(1);
	}
	t0 = now_s();
	for (int pass = 0; pass < passes; pass++) {
		uint64_t x = 0x2545f4914f6cdd1dULL + pass, x0 = x, *m;
		char *raw;

		m = (uint64_t *)map_aligned_raw(len, &raw);
		for (size_t i = 0; i < cells; i++) {
			size_t c = xorshift64(&x) % words;

			m[c] = cell_value(c);
			if (!pass)
				used[c * sizeof(uint64_t) / PAGE] = 1;
		}
		x = x0;
		for (size_t i = 0; i < cells; i++) {
			size_t c = xorshift64(&x) % words;

			mismatches += m[c] != cell_value(c);
		}
		if (!pass) {
			size_t lo = 512, hi = 0, sum = 0, at256 = 0;

			for (size_t r = 0; r < ranges; r++) {
				size_t n = 0;

				for (size_t i = 0; i < 512; i++)
					n += used[r * 512 + i];
				sum += n;
				lo = n < lo ? n : lo;
				hi = n > hi ? n : hi;
				at256 += n >= 256;
			}
			printf("cells=%zu\nused_pages_per_2mib=%.1f\n", cells,
			       (double)sum / ranges);
			printf("used_pages_min=%zu\nused_pages_max=%zu\n", lo, hi);
			printf("ranges=%zu\nranges_at_256=%zu\n", ranges, at256);
			report_memory((char *)m);
			fflush(stdout);
		}
		munmap(raw, len + HPAGE);
	}
	t = now_s() - t0;
	printf("ops=%zu\nseconds=%.3f\nops_per_s=%.0f\nmismatches=%zu\n",
	       2 * cells * passes, t, 2 * cells * passes / t, mismatches);
	free(used);
}

int main(int argc, char **argv)
{
	size_t len;

	if (argc < 3)
		goto usage;
	if (!strcmp(argv[1], "scale")) {
		scale(argc - 2, argv + 2);
		return 0;
	}
	len = strtoul(argv[2], NULL, 10) << 20;
	if (!strcmp(argv[1], "sparse"))
		first_touch(len, TOUCH_SPARSE, 0);
	else if (!strcmp(argv[1], "dense"))
		first_touch(len, TOUCH_DENSE, 0);
	else if (!strcmp(argv[1], "dense-random"))
		first_touch(len, TOUCH_RANDOM, 0);
	else if (!strcmp(argv[1], "dense-mt") && argc == 4 &&
		 atoi(argv[3]) > 0 && atoi(argv[3]) <= 64 &&
		 len >= (size_t)atoi(argv[3]) * HPAGE)
		first_touch(len, TOUCH_THREADS, atoi(argv[3]));
	else if (!strcmp(argv[1], "tohuge") && argc == 5)
		to_huge(len, atoi(argv[3]), atof(argv[4]), 0, -1);
	else if (!strcmp(argv[1], "tohuge") && argc == 6 && !strcmp(argv[5], "advised"))
		to_huge(len, atoi(argv[3]), atof(argv[4]), 1, -1);
	else if (!strcmp(argv[1], "tohuge") && argc == 6 &&
		 !strncmp(argv[5], "threshold=", 10) && atoi(argv[5] + 10) > 0)
		to_huge(len, atoi(argv[3]), atof(argv[4]), 0, atoi(argv[5] + 10));
	else if (!strcmp(argv[1], "warm"))
		warm(len);
	else if (!strcmp(argv[1], "gups") && argc == 4)
		gups(len, atof(argv[3]));
	else if (!strcmp(argv[1], "sparsematrix") && argc == 5 && len >= HPAGE &&
		 atoi(argv[3]) > 0 && atoi(argv[3]) < 512 && atoi(argv[4]) > 0)
		sparse_matrix(len, atoi(argv[3]), atoi(argv[4]));
	else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: %s sparse|dense|dense-random SIZE_MIB | dense-mt SIZE_MIB THREADS | scale COUNT... | tohuge SIZE_MIB USED SECONDS [advised|threshold=N] | gups SIZE_MIB SECONDS | sparsematrix SIZE_MIB DENSITY PASSES | warm SIZE_MIB\n",
		argv[0]);
	return 2;
}
