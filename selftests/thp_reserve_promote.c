// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations, part 2: promotion in place. khugepaged promotes a
 * reservation with promotion_threshold used pages in place (the range is
 * then mapped by the very block it used), MADV_COLLAPSE at once, a full
 * one without waiting; pinned and shared pages make it fail safely, pages
 * written after a fork() are copied back, and a range with swapped-out
 * pages is left alone. A sparse range without a reservation is not
 * collapsed by copy either.
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

/* ==== part 2: promotion in place ======================================= */

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

/* Write pages [from, to) of the range at p, all with patterns of their own. */
static void fill_range(char *p, struct layout *l, int from, int to)
{
	for (int pg = from; pg < to; pg++)
		layout_fill(p, l, pg);
}

/* The range at p is mapped by the block at pfn0, reads what was written, Rss 2 MiB. */
static bool check_promoted(const char *what, char *p, const struct layout *l,
			   unsigned long pfn0)
{
	bool ok = expect_eq("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), 2048);

	ok &= check_in_place(what, p, pfn0);
	ok &= layout_verify(what, p, l, 0, NPG);
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
	t.ok &= expect_eq("AnonHugePages kB after khugepaged", khugepaged_until(p, 2048, 3), 2048);
	counters_read(&b);
	pcounters_read(&pb);
	t.ok &= pdeltas("khugepaged", &pa, &pb, 1, 1, 1, 0);
	t.ok &= deltas("khugepaged", &a, &b, 0, 0, 0, -(NPG - 300));
	t.ok &= check_promoted("after promotion", p, &l, pfn0);
	t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), 2048);
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
	t.ok &= expect_eq("AnonHugePages kB, 63 and 64 used",
		       khugepaged_until(p, 4096, 2), 2048);
	pcounters_read(&pb);
	t.ok &= pdeltas("63 and 64 used", &pa, &pb, 1, 1, 1, 0);
	t.ok &= check_promoted("range 1 (64 used)", p + PMD, &l1, pfn1);
	t.ok &= check_block("range 0 (63 used)", p, &l0);
	t.ok &= layout_verify("range 0 (63 used)", p, &l0, 0, NPG);
	counters_read(&a);
	layout_fill(p, &l0, 63);
	counters_read(&b);
	pcounters_read(&pa);
	t.ok &= deltas("64th write to range 0", &a, &b, 0, 1, 0, -(NPG - 63));
	t.ok &= pdeltas("64th write to range 0", &pb, &pa, 1, 0, 0, 0);
	t.ok &= expect_eq("AnonHugePages kB, both at 64 used", smaps_kb(p, "AnonHugePages"), 4096);
	t.ok &= check_in_place("range 0 (64 used)", p, pfn0);
	t.ok &= layout_verify("range 0", p, &l0, 0, NPG);
	t.ok &= layout_verify("range 1", p + PMD, &l1, 0, NPG);
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
	t.ok &= expect_eq("AnonHugePages kB after khugepaged", khugepaged_until(p, 4096, 3), 2048);
	pcounters_read(&pb);
	t.ok &= pdeltas("khugepaged", &pa, &pb, 0, 1, 0, 1);
	/* The huge page is range 1's: all of it maps one aligned block. */
	t.ok &= check_in_place("range 1 (300 used)", p + PMD, block_pfn(p + PMD, 0));
	t.ok &= layout_verify("range 0 (100 used)", p, &l0, 0, NPG);
	t.ok &= layout_verify("range 1 (300 used)", p + PMD, &l1, 0, NPG);
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
	t.ok &= expect_eq("AnonHugePages kB with 511 used", smaps_kb(p, "AnonHugePages"), 0);
	pcounters_read(&pa);
	layout_fill(p, &l, NPG - 1);
	pcounters_read(&pb);
	t.ok &= expect_eq("AnonHugePages kB after the 512th write", smaps_kb(p, "AnonHugePages"),
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
	t.ok &= expect_eq("thp_res_promote_failed delta", pb.failed - pa.failed, 1);
	t.ok &= deltas("pinned", &a, &b, 0, 0, 0, 0);
	t.ok &= ptrace_seen(&tr, p, " result=pinned");
	t.ok &= check_small_pages("pinned", p, &l, 4 * NR_STD);

	/* The pipe holds page 100 as it was: read it, and the pin is gone. */
	t.ok &= expect_eq("bytes read from the pipe", read(fds[0], buf, PG), PG);
	t.ok &= expect_eq("pipe data matches page 100", !memcmp(buf, p + 100 * PG, PG), 1);
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
	t.ok &= expect_eq("AnonHugePages kB with the child alive", khugepaged_until(p, 2048, 2), 0);
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
		layout_put(p, &l, pg, PG, 0x5000 + pg);
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
	if (write_text(CG_SWAP "/cgroup.procs", pidbuf)) {
		ksft_print_msg("cannot join %s\n", CG_SWAP);
		t.ok = false;
	}
	layout_put(p, &l, SWAP_PAGE, PG, 0x6000);
	t.ok &= pipe_send(down[1], true);
	t.ok &= reap_piped(pid, up, down);
	for (int i = 0; i < 20 && !swapped; i++) {
		write_text(CG_SWAP "/memory.reclaim", "1M");
		swapped = page_swapped(p + SWAP_PAGE * PG);
	}
	if (write_text(CG_ROOT "cgroup.procs", pidbuf)) {
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
	t.ok &= expect_eq("AnonHugePages kB with a page swapped out",
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
	t.ok &= expect_eq("page still swapped out", page_swapped(p + SWAP_PAGE * PG), 1);

	/* A write fault swaps it in and frees its swap slot. */
	t.ok &= layout_verify("before the swap-in", p, &l, 0, NPG);
	layout_put(p, &l, SWAP_PAGE, PG, 0x6001);
	collapse_promotes(&t, "after swap-in", p, &l, pfn0, FORK_USED, &tr,
			  " nr_used=32 nr_copied=1 result=promoted");
	thp_set("promotion_threshold", "256");
	unmap_releases(&t, p, PMD, 0);
	t.ok &= cg_remove(CG_SWAP, enabled_memory);
	case_end(&t, true);
}

static void (* const tests[])(void) = {
	test_promote_khugepaged,
	test_promote_threshold,
	test_no_sparse_copy,
	test_collapse,
	test_promote_full,
	test_promote_pinned,
	test_promote_fork,
	test_promote_swapped,
};

int main(void)
{
	return run_cases(tests, ARRAY_SIZE(tests));
}
