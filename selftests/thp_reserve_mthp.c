// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations, part 4: the mTHP fallback. A reservation that ends
 * without a promotion keeps its densely used chunks as mTHPs of the
 * enabled sizes, on the same frames, and nothing creeps up from there
 * (khugepaged does not count the zero-filled pages of such mTHPs).
 *
 * Every case maps its own guarded 2 MiB-aligned region, writes a data
 * pattern before the operation and checks every byte after it, checks the
 * exact /proc/vmstat deltas the contract makes exact, and ends with the
 * invariants: nr_thp_reserved back to its value before the case and, where
 * the case freed everything, free memory back within 1% (thp_case.h).
 *
 * Single-threaded. Needs root (pagemap PFNs, stat_refresh, sysfs, cgroups).
 */
#define _GNU_SOURCE
#include "thp_case.h"

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
	int err = write_text(DROP_CACHES, "2");

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
		ok &= expect_eq(name, b.promote[order] - a->promote[order], want[order]);
	}
	ok &= expect_eq("thp_res_mthp_promote", b.total - a->total, total);
	if (reclaimed)
		ok &= expect_eq("thp_res_reclaim", b.reclaim - a->reclaim, NPG - used - filled);
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
	t->ok &= layout_verify(what, q, &cv->l, 0, NPG);
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
	t.ok &= expect_eq("pages the model fills in", cv.filled, 8);
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
	t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), (nr_used(cv.used) + cv.filled) * 4L);
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
		t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), (nr_used(used) + filled) * 4L);
			t.ok &= layout_verify(what, p, &l, 0, NPG);
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
	t.ok &= expect_eq("pages filled in", filled, 128);
	drop_reservations(&t);
	t.ok &= check_carved("after the break", p, used, head, pfn0);
	pcounters_read(&pa);
	t.ok &= expect_eq("AnonHugePages kB after 8 khugepaged scans",
		       khugepaged_until(p, 2048, 8), 0);
	pcounters_read(&pb);
	t.ok &= pdeltas("khugepaged", &pa, &pb, 0, 0, 0, 0);
	t.ok &= check_carved("after the scans", p, used, head, pfn0);
	t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), 256 * 4L);
	t.ok &= layout_verify("after the scans", p, &l, 0, NPG);
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
	test_mthp_reclaim,
	test_mthp_orders,
	test_mthp_creep,
	test_mthp_aged,
	test_mthp_vma_split,
	test_mthp_mremap,
};

int main(void)
{
	return run_cases(tests, ARRAY_SIZE(tests));
}
