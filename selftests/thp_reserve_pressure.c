// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations, part 3: memory pressure. Direct reclaim in a memory
 * cgroup, memory.reclaim, drop_caches, compaction and a full node break
 * reservations, least recently populated first and on the node and memcg
 * of their pages, before anything in use is swapped out or OOM-killed;
 * and a stress run of sparse workers under a memcg limit loses no data.
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

/* ==== reclaim, compaction ========================================= */

/* Is the page mapped at addr part of a PMD-order (or any) THP? */
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
	if (write_text(path, val)) {
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
	if (write_text(CG_RECLAIM "/cgroup.procs", pidbuf)) {
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
			layout_put(p + i * PMD, &l[i], 4 * j, l[i].n[4 * j], l[i].seed[4 * j]);
		}
	}
	vmstat_refresh();
	r.alloc = vmstat_get("thp_res_alloc") - alloc0;
	if (!reclaim_limit(&r, 0, "memory.reclaim", "1M"))
		_exit(4);
	for (int i = 2; i < RRANGES; i += 2)
		layout_put(p + i * PMD, &l[i], 1, PG, 0x9000 + i);
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
		bool want_broken = k < n;

		if (r->broken[i] != want_broken) {
			ksft_print_msg("range %d (%d. in reclaim's order) %s after memory.max 16M\n",
				       i, k + 1, r->broken[i] ? "broken" : "still reserved");
			ok = false;
		}
	}
	return ok;
}

/* Never-used pages of ranges [from, to) of the LRU order (even ones from 2 got a page more). */
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
	const char *name =
		"reclaim: a memcg at its limit breaks its reservations, LRU first, before it swaps";
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
	err = write_text(CG_RECLAIM "/memory.max", "max");
	if (err) {
		ksft_print_msg("write max to %s/memory.max: %s\n", CG_RECLAIM, strerror(-err));
		t.ok = false;
	} else {
		/* Without swap accounting there is no limit to lift. */
		err = write_text(CG_RECLAIM "/memory.swap.max", "max");
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
				       r.release[2], r.reclaim[2], r.pswpout[2], r.rss_kb,
				       r.swap_kb);
			t.ok &= expect_eq("bad bytes", r.bad, 0);
			t.ok &= expect_eq("thp_res_alloc", r.alloc, RRANGES);
			t.ok &= expect_eq("reservations broken by memory.reclaim", r.release[0], 1);
			t.ok &= expect_eq("thp_res_reclaim at memory.reclaim", r.reclaim[0],
				       reclaim_unused(0, 1));
			t.ok &= expect_eq("pswpout at memory.reclaim", r.pswpout[0], 0);
			if (r.release[1] < 1 || n >= RRANGES) {
				ksft_print_msg("memory.max 16M broke %ld reservations, want some but not all\n",
					       r.release[1]);
				t.ok = false;
			} else {
				t.ok &= reclaim_order_ok(&r, n);
				t.ok &= expect_eq("thp_res_reclaim at 16M", r.reclaim[1],
					       reclaim_unused(1, n));
			}
			t.ok &= expect_eq("pswpout at 16M", r.pswpout[1], 0);
			t.ok &= expect_eq("reservations broken at 4M", r.release[2], RRANGES - n);
			t.ok &= expect_eq("thp_res_reclaim at 4M", r.reclaim[2],
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
		t.ok &= expect_eq("thp_res_release over the child's life", b.release - a.release,
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
		layout_fill(p, &l, more[i]);
	counters_read(&b);
	t.ok &= deltas("4 more writes", &a, &b, 0, 4, 0, -4);
	pfn0 = pagemap_pfn(p);
	counters_read(&a);
	err = write_text(COMPACT_MEMORY, "1");
	if (err) {
		ksft_print_msg("write 1 to %s: %s\n", COMPACT_MEMORY, strerror(-err));
		t.ok = false;
	}
	pfn1 = pagemap_pfn(p);
	ksft_print_msg("compaction: block pfn %#lx before, %#lx after\n", pfn0 / NPG, pfn1 / NPG);
	t.ok &= check_small_pages("after compact_memory", p, &l, (NR_STD + 4) * 4);
	/* Partial pages: the rest of each must read zero. */
	for (size_t i = 0; i < ARRAY_SIZE(later); i++)
		layout_put(p, &l, later[i], 100 + 1000 * i, 0x9000 + i);
	counters_read(&b);
	t.ok &= deltas("compact_memory and 4 writes", &a, &b, 0, 4, 0, -4);
	t.ok &= check_small_pages("writes after compact_memory", p, &l, (NR_STD + 8) * 4);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/* ==== memory pressure breaks reservations (part 3) ================ */

#define DRANGES		4

/* Join the group cg (child side); exits the child on failure. */
static void cg_join_or_exit(const char *cg)
{
	char path[256], pidbuf[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_text(path, pidbuf)) {
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
	err = write_text(DROP_CACHES, "2");
	if (err) {
		ksft_print_msg("write 2 to %s: %s\n", DROP_CACHES, strerror(-err));
		t.ok = false;
	}
	counters_read(&b);
	t.ok &= deltas("drop_caches", &a, &b, 0, 0, DRANGES, t.c0.reserved - a.reserved);
	t.ok &= expect_eq("thp_res_reclaim", vmstat_get("thp_res_reclaim") - rec0, unused);
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
		t.ok &= layout_verify("after drop_caches", p + i * PMD, &l[i], 0, NPG);
	}
	t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), DRANGES * NR_STD * 4);
	t.ok &= fill_unreserved("a never-used page afterwards", p, &l[0], 256);
	t.ok &= layout_verify("after the write", p, &l[0], 0, NPG);
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
		ok &= layout_verify("child: after memory.reclaim", p + i * PMD, &l[i], 0, NPG);
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
	err = write_text(CG_MRECLAIM "/memory.reclaim", req);
	if (err) {
		ksft_print_msg("write %s to %s/memory.reclaim: %s\n", req, CG_MRECLAIM,
			       strerror(-err));
		t.ok = false;
	}
	counters_read(&b);
	n = b.release - a.release;
	ksft_print_msg("memory.reclaim %s: %ld reservations broken, thp_res_reclaim %+ld, pswpout %+ld\n",
		       req, n, vmstat_get("thp_res_reclaim") - rec, vmstat_get("pswpout") - out);
	t.ok &= expect_eq("reservations broken", n, want_n);
	t.ok &= expect_eq("thp_res_reclaim", vmstat_get("thp_res_reclaim") - rec,
			  n * (NPG - NR_STD));
	t.ok &= expect_eq("pswpout", vmstat_get("pswpout") - out, 0);
	t.ok &= deltas("memory.reclaim", &a, &b, 0, 0, n, -n * (NPG - NR_STD));

	/* The parent's reservation, outside the group, still hands out pages. */
	CHECK(&t, in_thp(q));
	counters_read(&c);
	layout_fill(q, &lq, 256);
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
		layout_put(p + i * PMD, &l, NB_PAGE, PG, 0xb000 + node * NRANGES + i);
	pipe_send(up, true);
	if (!pipe_wait(down))
		_exit(1);
	for (int i = 0; i < NRANGES; i++) {
		l.seed[NB_PAGE] = 0xb000 + node * NRANGES + i;
		ok &= layout_verify("holder: after the balloon", p + i * PMD, &l, 0, NPG);
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
	const char *name =
		"node pressure: reclaim breaks the reservations on the node of their pages";
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
	t.ok &= expect_eq("oom_kill", vmstat_get("oom_kill") - oom, 0);
	t.ok &= expect_eq("pswpout", vmstat_get("pswpout") - out, 0);
	t.ok &= expect_eq("node 1 nr_thp_reserved", res1[1], res0[1]);
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
			layout_put(p, l, pg, w.n[pg], w.seed[pg]);
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
				layout_put(p + i * PMD, &l[i], 200, PG, 0xf000 + i);
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
	const char *name =
		"stress: reclaim races faults, fork, mremap, madvise, exit and promotion";
	long rec, skip, promote0, promote1, status = 0;
	int up[SWORKERS][2], down[SWORKERS][2];
	pid_t worker[SWORKERS], sng;
	bool enabled_memory;
	struct counters b;
	struct tcase t;
	char secs[16], prog[256];
	int st;

	if (!find_program("stress-ng", prog, sizeof(prog))) {
		ksft_test_result_skip("%s (no stress-ng in PATH)\n", name);
		return;
	}
	if (!cg_create(name, CG_STRESS, &enabled_memory))
		return;
	case_begin(&t, name);
	CHECK(&t, !write_text(CG_STRESS "/memory.max", "160M"));
	write_text(CG_STRESS "/memory.swap.max", "max");
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
		execl(prog, "stress-ng", "--vm", "1", "--vm-bytes", "48M",
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
		t.ok &= expect_eq("bad bytes", rep.bad, 0);
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
		       vmstat_get("thp_res_reclaim") - rec,
		       vmstat_get("thp_res_reclaim_skip") - skip);
	if (vmstat_get("thp_res_reclaim") - rec <= 0) {
		ksft_print_msg("reclaim broke no reservation: no race was tried\n");
		t.ok = false;
	}
	t.ok &= expect_eq("thp_res_alloc - thp_res_release - thp_res_promote",
		       (b.alloc - t.c0.alloc) - (b.release - t.c0.release) -
		       (promote1 - promote0), 0);
	case_end(&t, false);
}

static void (* const tests[])(void) = {
	test_reclaim,
	test_compaction,
	test_drop_caches,
	test_memory_reclaim,
	test_node_pressure,
	test_stress,
};

int main(void)
{
	return run_cases(tests, ARRAY_SIZE(tests));
}
