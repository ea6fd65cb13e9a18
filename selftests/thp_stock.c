// SPDX-License-Identifier: GPL-2.0
/*
 * The stock THP behaviour the reservation allocator must keep where it is
 * off (promotion_threshold=1, enabled=never/madvise, MADV_HUGEPAGE): checked
 * through smaps, vmstat and data patterns, so it can fail on any kernel
 * that changes it.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../kselftest.h"
#include "thp_util.h"

#define NR_RANGES	8
#define LEN		(NR_RANGES * PMD_SIZE_BYTES)

/* Write one byte per 2 MiB range; read back all of it. */
static bool sparse_touch_and_verify(char *p)
{
	for (int i = 0; i < NR_RANGES; i++)
		p[i * PMD_SIZE_BYTES + 4096 * i] = (char)(0xa0 + i);
	for (size_t off = 0; off < LEN; off++) {
		size_t r = off / PMD_SIZE_BYTES;
		char want = (off == r * PMD_SIZE_BYTES + 4096 * r) ? (char)(0xa0 + r) : 0;

		if (p[off] != want) {
			ksft_print_msg("byte %zu is %#x, want %#x\n", off, p[off] & 0xff, want & 0xff);
			return false;
		}
	}
	return true;
}

/*
 * Sparse-touch LEN under one "enabled" policy and check what the kernel gave:
 * AnonHugePages, Rss (both kB) and how many huge pages the faults allocated.
 */
static void test_sparse(const char *policy, long want_huge, long want_rss, long want_alloc,
			const char *what)
{
	long alloc0 = vmstat_get("thp_fault_alloc");
	long huge, rss, alloc;
	char *p;
	bool ok;

	thp_set("enabled", policy);
	p = mmap_aligned(LEN);
	ok = sparse_touch_and_verify(p);
	huge = smaps_kb(p, "AnonHugePages");
	rss = smaps_kb(p, "Rss");
	alloc = vmstat_get("thp_fault_alloc") - alloc0;
	ksft_print_msg("%s, sparse: AnonHugePages %ld kB, Rss %ld kB, thp_fault_alloc +%ld\n",
		       policy, huge, rss, alloc);
	ok = ok && huge == want_huge && rss == want_rss && alloc == want_alloc;
	munmap(p, LEN);
	ksft_test_result(ok, "%s: %s\n", policy, what);
}

static void test_madvise(void)
{
	char *p, *q;
	bool ok;

	thp_set("enabled", "madvise");
	p = mmap_aligned(LEN);
	q = mmap_aligned(LEN);
	if (madvise(p, LEN, MADV_HUGEPAGE))
		ksft_exit_fail_msg("madvise(MADV_HUGEPAGE)\n");
	ok = sparse_touch_and_verify(p) && sparse_touch_and_verify(q);
	ksft_print_msg("madvise: advised %ld kB huge, unadvised %ld kB huge\n",
		       smaps_kb(p, "AnonHugePages"), smaps_kb(q, "AnonHugePages"));
	ok = ok && smaps_kb(p, "AnonHugePages") == LEN / 1024 &&
	     smaps_kb(q, "AnonHugePages") == 0;
	munmap(p, LEN);
	munmap(q, LEN);
	ksft_test_result(ok, "madvise: only MADV_HUGEPAGE ranges get huge pages\n");
}

static void test_read_then_write(void)
{
	char *p;
	volatile char sink = 0;
	long rss_read, huge;
	bool ok = true;

	thp_set("enabled", "always");
	thp_set("use_zero_page", "1");
	p = mmap_aligned(PMD_SIZE_BYTES);
	for (size_t off = 0; off < PMD_SIZE_BYTES; off += 4096)
		sink += p[off];
	/* The huge zero page is not anonymous memory of this process. */
	rss_read = smaps_kb(p, "Rss");
	huge = smaps_kb(p, "AnonHugePages");
	p[8192] = 0x5a;
	ksft_print_msg("read: Rss %ld kB, AnonHugePages %ld kB; after write: Rss %ld kB, AnonHugePages %ld kB\n",
		       rss_read, huge, smaps_kb(p, "Rss"), smaps_kb(p, "AnonHugePages"));
	ok = sink == 0 && huge == 0 && p[8192] == 0x5a && p[0] == 0 && p[12288] == 0 &&
	     smaps_kb(p, "Anonymous") == 4 && smaps_kb(p, "AnonHugePages") == 0;
	munmap(p, PMD_SIZE_BYTES);
	ksft_test_result(ok, "always: write after a huge-zero read maps one base page\n");
}

int main(void)
{
	char v[64];

	ksft_print_header();
	if (thp_get_policy("enabled", v, sizeof(v)))
		ksft_exit_skip("no transparent hugepage support\n");
	thp_knobs_save();
	/* promotion_threshold=1 is the stock kernel. */
	if (!thp_get_policy("promotion_threshold", v, sizeof(v)))
		thp_set("promotion_threshold", "1");
	ksft_set_plan(4);
	test_sparse("always", LEN / 1024, LEN / 1024, NR_RANGES,
		    "one write per 2 MiB maps a whole huge page");
	test_sparse("never", 0, NR_RANGES * 4, 0,
		    "one write per 2 MiB maps one base page each");
	test_madvise();
	test_read_then_write();
	ksft_finished();
}
