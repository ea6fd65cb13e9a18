// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations, part 1: the lifecycle. With enabled=always and
 * promotion_threshold > 1, the first write fault in an empty aligned 2 MiB
 * range of a private anonymous VMA takes a physically aligned 2 MiB block
 * and maps only the faulting page; later write faults in the range map the
 * block's own pages; the reservation is released (never-used pages back to
 * the buddy allocator) by anything that breaks the range up: munmap,
 * mremap, mprotect and mlock splits, madvise, exit, fork, userfaultfd and
 * PR_SET_THP_DISABLE. Never-used pages reach userspace zeroed.
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

/* ==== creation, populate, where no reservation is made ============= */

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
	layout_put(p, &l, 0, PG / 2, 1);
	layout_put(p, &l, 255, 100, 2);
	layout_put(p, &l, 511, 1, 3);
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

	ok &= expect_eq("thp_fault_alloc delta", vmstat_get("thp_fault_alloc") - thp0, 1);
	ok &= expect_eq("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), 2048);
	ok &= layout_verify(what, p, l, 0, NPG);
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
		err = write_text(path, bad[i]);
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
	write_text(path, "");
	thp_get_policy(name, after, sizeof(after));
	CHECK(t, !strcmp(before, after));
	for (size_t i = 0; i < ngood; i++) {
		err = write_text(path, good[i][0]);
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

/* ==== release ===================================================== */

/* munmap of the whole range: released, the whole block free again. */
static void test_munmap_all(void)
{
	struct layout l = {};
	struct tcase t;
	char *p;

	case_begin(&t, "release: munmap of the whole range");
	p = reserve_std(&t, &l);
	t.ok &= layout_verify("before munmap", p, &l, 0, NPG);
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
		ok &= expect_eq("child: Rss kB", smaps_kb(p, "Rss"), 8);
		ok &= layout_verify("child", p, &l, 0, NPG);
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
		t.ok &= expect_eq("Rss kB at the destination", smaps_kb(dst, "Rss"), NR_STD * 4);
		t.ok &= layout_verify("after mremap move", dst, &l, 0, NPG);
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
		t.ok &= layout_verify("after mremap shrink", p, &l, 0, NPG / 2);
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
	t.ok &= layout_verify("after mlock", p, &l, 0, NPG);
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
		t.ok &= layout_verify("MADV_FREE'd page", p, &one, 300, 301);
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
	t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), (NR_STD + 1) * 4);
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

	ok &= layout_verify("child: parent's data as of fork", p, &l, FA, FB + 1);
	counters_read(&c0);
	layout_put(p, &l, FA, PG, 0x2000);
	layout_put(p, &l, FC, PG, 0x2001);
	counters_read(&c1);
	ok &= deltas("child: writes A and C", &c0, &c1, 0, 0, 0, 0);
	ok &= layout_verify("child: after its writes", p, &l, FA, FC + 1);
	pipe_send(up, ok);
	/* The parent writes D now. */
	if (!pipe_wait(down))
		_exit(2);
	ok &= layout_verify("child: D after the parent wrote it", p, &l, 0, NPG);
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
	layout_put(p, &l, FD, PG, 0x3000);
	counters_read(&b);
	t.ok &= deltas("parent writes D after fork", &a, &b, 0, 1, 0, -1);
	t.ok &= pipe_send(down[1], true);
	t.ok &= pipe_wait(up[0]);
	t.ok &= reap_piped(pid, up, down);
	/* C was written only by the child: for the parent it is a fresh page. */
	counters_read(&a);
	layout_put(p, &l, FC, 64, 0x3001);
	counters_read(&b);
	t.ok &= deltas("parent writes C after the child exit", &a, &b, 0, 1, 0, -1);
	t.ok &= deltas("child's whole life", &s0, &b, 0, 2, 0, -2);
	t.ok &= layout_verify("parent after the child", p, &l, 0, NPG);
	t.ok &= check_block("parent after the child", p, &l);
	unmap_releases(&t, p, PMD, 1);
	case_end(&t, true);
}

/* ==== zeroing, other kernel features meeting reservations ========= */

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
	t.ok &= expect_eq("Rss kB", smaps_kb(p, "Rss"), ZBLOCKS * ZPER * 4);
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

		layout_put(src, &none, 0, PG, 0x4000 + pg);
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
		t.ok &= layout_verify("UFFDIO_COPY", p, &l, copy_pages[i], copy_pages[i] + 1);
	range.start = (unsigned long)p;
	range.len = PMD;
	if (ioctl(fd, UFFDIO_UNREGISTER, &range))
		ksft_exit_fail_msg("UFFDIO_UNREGISTER: %s\n", strerror(errno));
	t.ok &= fill_unreserved("write after unregister", p, &l, 200);
	t.ok &= layout_verify("after unregister", p, &l, 0, NPG);
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
	t.ok &= expect_eq("Rss kB with THP disabled", smaps_kb(q, "Rss"), 4);
	t.ok &= expect_eq("AnonHugePages kB with THP disabled", smaps_kb(q, "AnonHugePages"), 0);
	if (prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0))
		ksft_exit_fail_msg("prctl(PR_SET_THP_DISABLE, 0): %s\n", strerror(errno));
	r = map_region(PMD);
	t.ok &= fill_reserves("write with THP enabled again", r, &lr, 5);
	t.ok &= layout_verify("reserved before prctl", p, &l, 0, NPG);
	t.ok &= layout_verify("written with THP disabled", q, &lq, 0, NPG);
	t.ok &= layout_verify("written after prctl 0", r, &lr, 0, NPG);
	unmap_region(p, PMD);
	unmap_region(q, PMD);
	unmap_region(r, PMD);
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
};

int main(void)
{
	return run_cases(tests, ARRAY_SIZE(tests));
}
