// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations, part 1 continued: what the rest of mm does to a
 * reservation. Migration and compaction move the block, KSM merges its
 * pages, a memory cgroup is charged for it and accounts it, the
 * tracepoints report it, MemAvailable counts its never-used pages, and an
 * allocation that fails (fail_page_alloc) falls back to a base page.
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

/* Nodes with memory, from /sys/devices/system/node/has_memory ("0-1,3"). */
static unsigned long memory_nodes(void)
{
	char buf[256], *s;
	unsigned long mask = 0;

	if (read_text("/sys/devices/system/node/has_memory", buf, sizeof(buf)))
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
	t.ok &= layout_verify("after migration", p, &l, 0, NPG);
	layout_put(p, &l, 200, 64, 0x5000);
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
		t.ok &= expect_eq("node of the page written after migration", status[NR_STD], to);
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

	if (read_text(name, buf, sizeof(buf)))
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
		if (read_text(knobs[i], saved[i], sizeof(saved[i])))
			saved[i][0] = '\0';
	p = reserve_std(&t, &l);
	layout_put(p, &l, 2, PG, 0x6000);
	layout_put(p, &l, 3, PG, 0x6000);
	counters_read(&a);
	if (madvise(p, PMD, MADV_MERGEABLE)) {
		ksft_print_msg("madvise(MADV_MERGEABLE): %s\n", strerror(errno));
		t.ok = false;
	}
	write_text(KSM "pages_to_scan", "1000");
	write_text(KSM "sleep_millisecs", "10");
	scans = ksm_get(KSM "full_scans");
	write_text(KSM "run", "1");
	for (int i = 0; i < 100 && ksm_get(KSM "full_scans") < scans + 2; i++)
		sleep_ms(100);
	counters_read(&b);
	ksft_print_msg("KSM: full_scans %+ld, pages_sharing %ld, thp_res_release %+ld\n",
		       ksm_get(KSM "full_scans") - scans, ksm_get(KSM "pages_sharing"),
		       b.release - a.release);
	t.ok &= layout_verify("after KSM scans", p, &l, 0, NPG);
	if (write_text(KSM "run", "2"))
		ksft_print_msg("KSM: unmerge (run=2) failed\n");
	t.ok &= layout_verify("after KSM unmerge", p, &l, 0, NPG);
	for (int i = 2; i >= 0; i--)
		if (saved[i][0])
			write_text(knobs[i], saved[i]);
	unmap_region(p, PMD);
	case_end(&t, true);
}

/*
 * memcg: the whole 2 MiB block is charged to the faulting task's memcg at
 * reserve time (memory.current), while memory.stat "anon" counts only the
 * mapped pages.
 */
#define CG	CG_ROOT "thpres-test"

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
		layout_fill(p, &l, 7);
		pipe_send(up[1], layout_verify("child in the memcg", p, &l, 0, NPG));
		pipe_wait(down[0]);
		_exit(0);
	}
	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	if (write_text(CG "/cgroup.procs", pidbuf)) {
		ksft_print_msg("cannot move the child into %s\n", CG);
		t.ok = false;
	}
	t.ok &= pipe_send(down[1], true);
	t.ok &= pipe_wait(up[0]);
	counters_read(&b);
	t.ok &= deltas("child's write in the memcg", &a, &b, 1, 0, 0, NPG - 1);
	current = read_text(CG "/memory.current", buf, sizeof(buf)) ? -1 : strtol(buf, NULL, 10);
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
		ksft_print_msg("memory.stat anon %ld, want 4096..65536 (mapped pages only)\n",
			       anon);
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

/* ==== tracepoints, MemAvailable, alloc failure ==================== */

/*
 * The tracepoints: one write reserves the range at p (thp_res_alloc with
 * haddr p and the block's first pfn), munmap releases it (thp_res_release
 * with haddr p, nr_used=1, reason=unmap).
 */
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
	t.ok &= layout_verify("write", p, &l, 0, NPG);
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
		layout_put(p + i * PMD, &l, mem_page(i), 1, 0x7000 + i);
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
		if (!layout_verify("after the 64 writes", p + i * PMD, &l, 0, NPG)) {
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
		if (write_text(path, val[set])) {
			ksft_print_msg("write %s to %s failed\n", val[set], path);
			t.ok = false;
			break;
		}
	}
	counters_read(&a);
	if (set == ARRAY_SIZE(knob)) {
		if (write_text(MAKE_IT_FAIL, "1")) {
			ksft_print_msg("write 1 to %s failed\n", MAKE_IT_FAIL);
			t.ok = false;
		} else {
			/*
			 * Until make-it-fail is 0 again this task does nothing
			 * but this one write fault (no libc allocation, no
			 * output): the one failure is the block's.
			 */
			layout_fill(p, &l, 9);
			if (write_text(MAKE_IT_FAIL, "0")) {
				ksft_print_msg("write 0 to %s failed\n", MAKE_IT_FAIL);
				t.ok = false;
			}
		}
	}
	while (set-- > 0) {
		snprintf(path, sizeof(path), FAIL_PA "%s", knob[set]);
		if (write_text(path, saved[set])) {
			ksft_print_msg("restore %s to %s failed\n", path, saved[set]);
			t.ok = false;
		}
	}
	if (!l.n[9])
		layout_fill(p, &l, 9);	/* not configured: the case has failed already */
	counters_read(&b);
	t.ok &= expect_eq("thp_res_alloc_failed delta", b.failed - a.failed, 1);
	t.ok &= deltas("write fault with the block allocation failing", &a, &b, 0, 0, 0, 0);
	anon = smaps_kb(p, "AnonHugePages");
	rss = smaps_kb(p, "Rss");
	ksft_print_msg("alloc failure: stock path mapped AnonHugePages %ld kB, Rss %ld kB\n",
		       anon, rss);
	if (rss < 4) {
		ksft_print_msg("Rss %ld kB, want >= 4 kB\n", rss);
		t.ok = false;
	}
	t.ok &= layout_verify("after the failed block allocation", p, &l, 0, NPG);
	if (defrag[0])
		thp_set("defrag", defrag);
	unmap_region(p, PMD);
	case_end(&t, true);
}

static void (* const tests[])(void) = {
	test_migration,
	test_ksm,
	test_memcg,
	test_tracepoints,
	test_memavailable,
	test_alloc_failure,
};

int main(void)
{
	return run_cases(tests, ARRAY_SIZE(tests));
}
