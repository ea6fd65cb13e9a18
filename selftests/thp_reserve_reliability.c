// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations: what must never leak, and what must never be wasted.
 *
 * 1. wp_zero_no_alloc: a write to a zero-page PTE in a range that already
 *    maps pages but has no reservation takes a base page; it does not
 *    allocate (and charge) a 2 MiB block first only to free it.
 * 2. munmap_abort_keeps: a MAP_FIXED mmap over a reserved range that fails
 *    after it gathered the old VMAs (RLIMIT_AS) leaves the old mapping in
 *    place, and with it the reservation: nr_thp_reserved unchanged, and the
 *    next write is served from the same block.
 * 3. memcg_stat: a memory cgroup's memory.stat shows its reserved pages
 *    (thp_reserved, bytes), exactly, and 0 once they are released.
 * 4. swap_no_stale: the never-used pages of a reservation's block hold
 *    what their previous owner left in them. A block whose reservation
 *    reclaim did not break (debugfs fail_thp_res_reclaim makes reclaim skip
 *    every reservation, as busy locks would) is split before swap-out: its
 *    never-used pages are freed, not written. A process fills memory with
 *    a marker and exits; reservations are then made in a small memory
 *    cgroup and pushed to swap; every swap device, read back whole, holds
 *    the marker in no page. The holder then writes a second page in each
 *    range and swaps its first pages back in: its group holds those pages
 *    and no more (a block left in the swap cache while its entry was
 *    released as stale would keep its never-used pages allocated and
 *    counted nowhere), and once the holder is gone every page it had is
 *    free again.
 * 5. fail_nth: every allocation on the path of a first write fault (the
 *    table, the entry, the block, the memcg's list_lru, and whatever the
 *    stock path allocates when it takes over) is failed in turn, by
 *    /proc/thread-self/fail-nth, in a fresh process and memory cgroup:
 *    every run keeps its data, leaves nr_thp_reserved where it was, and
 *    in the end free memory is back.
 * 6. hibernate_breaks: a hibernation image holds every page that is not
 *    free, so the never-used pages of a block would be written into it.
 *    Opening /dev/snapshot for reading starts a hibernation (the
 *    PM_HIBERNATION_PREPARE notifiers run, before any task is frozen):
 *    every reservation is then broken (nr_thp_reserved 0, one release per
 *    range, free memory up by the never-used pages), no new one is made
 *    while the device is open, and they are made again once it is closed.
 *    The image itself is not written: a machine whose root is on a 9p
 *    share would not survive the thaw (9p has no freeze/restore callbacks).
 * 7. core_dump_no_stale: a process with reservations dumps core; the
 *    dump holds the pages it wrote and no page of a dead process's data:
 *    never-used pages are not mapped, and a dump reads mapped pages only.
 * 8. split_exact: blocks split by somebody else (debugfs split_huge_pages)
 *    leave nr_thp_reserved at once, before any fault notices, and the
 *    release of their entries at the next write in each range takes
 *    nothing away twice: the counter reads 0, never below. Half the
 *    ranges were written with zeroes, which the split maps to the shared
 *    zero page: their blocks must leave the counter too.
 *
 * Needs root (debugfs, cgroups, swap devices, stat_refresh).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "thp_util.h"

#define PG		4096UL
#define NPG		((int)(PMD_SIZE_BYTES / PG))
#define CG		CG_ROOT "thpres-reliability"
#define MARK_LEN	32

/* The marker a dead process leaves behind; unique to this run. */
static char mark[MARK_LEN];

static void make_mark(void)
{
	snprintf(mark, sizeof(mark), "THPRES-STALE-%08lx-%08lx",
		 (unsigned long)getpid(), (unsigned long)time(NULL));
	memset(mark + strlen(mark), '#', MARK_LEN - strlen(mark));
}

/* Does the page at p hold the marker at any 64-byte slot? */
static bool page_marked(const char *p)
{
	for (unsigned long off = 0; off < PG; off += 64)
		if (!memcmp(p + off, mark, MARK_LEN))
			return true;
	return false;
}

/* Sum of the pgalloc_* counters of /proc/vmstat: pages allocated. */
static long pgalloc_sum(void)
{
	char line[256];
	long sum = 0, v;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "pgalloc_", 8) && sscanf(strchr(line, ' '), "%ld", &v) == 1)
			sum += v;
	fclose(f);
	return sum;
}

/* A child that fills len bytes with the marker, 4 KiB pages, and exits. */
static bool leave_marker(size_t len)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return false;
	if (!pid) {
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char page[PG];

		if (p == MAP_FAILED)
			_exit(1);
		madvise(p, len, MADV_NOHUGEPAGE);
		for (unsigned long off = 0; off < PG; off += 64)
			memcpy(page + off, mark, MARK_LEN);
		for (size_t off = 0; off < len; off += PG)
			memcpy(p + off, page, PG);
		_exit(0);
	}
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       !WEXITSTATUS(status);
}

/*
 * Swap on a rotational device allocates slots one page at a time, so
 * reclaim splits every large folio before it writes any; on an SSD a
 * PMD-sized folio gets a whole cluster and is written whole. The case
 * needs the latter. A virtio disk says it rotates, so swap_nonrot_begin()
 * says otherwise for the length of the case (swapoff, sysfs, swapon) and
 * swap_nonrot_end() undoes what it did, the device's priority included.
 * Discard options cannot be read back from /proc/swaps: swapon(2) is
 * called without them.
 */
static struct {
	char dev[64];		/* the first swap device, a /dev path */
	char rot_path[128];	/* its queue/rotational; "" if left as it was */
	int prio;		/* its priority in /proc/swaps */
	bool lost;		/* a failed begin could not swap it on again */
} swap_rot;

/*
 * swapon(2) of swap_rot.dev at its old priority (a negative one was
 * chosen by the kernel, which chooses again); 0 or -errno.
 */
static int swap_rot_on(void)
{
	int flags = 0;

	if (swap_rot.prio >= 0)
		flags = SWAP_FLAG_PREFER |
			((swap_rot.prio << SWAP_FLAG_PRIO_SHIFT) & SWAP_FLAG_PRIO_MASK);
	return swapon(swap_rot.dev, flags) ? -errno : 0;
}

/* The priority of swap_rot.dev in /proc/swaps into swap_rot.prio. */
static bool swap_rot_prio(void)
{
	char line[512], dev[256];
	bool found = false;
	FILE *f = fopen("/proc/swaps", "r");
	int prio;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %*s %*s %*s %d", dev, &prio) == 2 &&
		    !strcmp(dev, swap_rot.dev)) {
			swap_rot.prio = prio;
			found = true;
		}
	fclose(f);
	return found;
}

static void swap_nonrot_undo(void);

/*
 * Make the first swap device non-rotational; swap_nonrot_end() undoes it,
 * at exit or on a signal too. On failure, errno says why and the device
 * is as it was (swapped on at its priority) unless swap_rot.lost says
 * that the steps that undo it failed.
 */
static bool swap_nonrot_begin(void)
{
	char rot[8];
	int err;

	swap_rot.rot_path[0] = '\0';
	if (!swap_device(swap_rot.dev, sizeof(swap_rot.dev)) || !swap_rot_prio()) {
		errno = ENODEV;
		return false;
	}
	snprintf(swap_rot.rot_path, sizeof(swap_rot.rot_path), "/sys/block/%.*s/queue/rotational",
		 (int)sizeof(swap_rot.dev), swap_rot.dev + 5);
	err = read_text(swap_rot.rot_path, rot, sizeof(rot));
	if (err || rot[0] == '0') {
		swap_rot.rot_path[0] = '\0';	/* not a whole disk, or nothing to do */
		errno = -err;
		return !err;
	}
	if (swapoff(swap_rot.dev)) {
		swap_rot.rot_path[0] = '\0';
		return false;
	}
	err = write_text(swap_rot.rot_path, "0");
	if (!err)
		err = swap_rot_on();
	if (!err) {
		thp_on_cleanup(swap_nonrot_undo);
		return true;
	}
	/* Back to rotational and swapped on; an error here is reported. */
	write_text(swap_rot.rot_path, "1");
	swapoff(swap_rot.dev);
	if (swap_rot_on()) {
		ksft_print_msg("%s is no longer swapped on: %s\n", swap_rot.dev, strerror(errno));
		swap_rot.lost = true;
	}
	swap_rot.rot_path[0] = '\0';
	errno = -err;
	return false;
}

/* Undo swap_nonrot_begin(); false (errno set) if the device is not back. */
static bool swap_nonrot_end(void)
{
	int err;

	if (!swap_rot.rot_path[0])
		return true;
	if (swapoff(swap_rot.dev))
		return false;
	err = write_text(swap_rot.rot_path, "1");
	swap_rot.rot_path[0] = '\0';
	/* Swapped on again even if it stays non-rotational. */
	if (swap_rot_on())
		return false;
	errno = -err;
	return !err;
}

/* swap_nonrot_end() as an exit and signal cleanup: swapoff, write, swapon. */
static void swap_nonrot_undo(void)
{
	swap_nonrot_end();
}

/* Pages holding the marker on every active swap device; -1 on error. */
static long swap_marked_pages(void)
{
	char line[512], dev[256];
	long marked = 0;
	FILE *f = fopen("/proc/swaps", "r");
	size_t chunk = 1UL << 20;
	char *buf;

	if (!f || posix_memalign((void **)&buf, PG, chunk))
		return -1;
	fgets(line, sizeof(line), f);	/* header */
	while (fgets(line, sizeof(line), f)) {
		ssize_t n;
		int fd;

		if (sscanf(line, "%255s", dev) != 1)
			continue;
		/* O_DIRECT: what is on the device, not a cached copy. */
		fd = open(dev, O_RDONLY | O_DIRECT);
		if (fd < 0) {
			ksft_print_msg("open %s: %s\n", dev, strerror(errno));
			marked = -1;
			break;
		}
		while ((n = read(fd, buf, chunk)) > 0)
			for (ssize_t off = 0; off <= n - (ssize_t)PG; off += PG)
				marked += page_marked(buf + off);
		close(fd);
		if (n < 0) {
			marked = -1;
			break;
		}
	}
	fclose(f);
	free(buf);
	return marked;
}

/*
 * The holder reserves SW_RANGES ranges, one used page each (48 MiB of
 * blocks in a group allowed 64 MiB); memory.max then drops to 8 MiB.
 */
#define SW_RANGES	24
#define SW_MAX		"64M"
#define SW_SQUEEZE	"8M"

static unsigned char sw_val(int r, unsigned long off)
{
	return (unsigned char)(0x5a ^ r ^ (off * 7));
}

/*
 * In the group: write one page in each range, say so on @up, wait for a
 * byte on @down (the squeeze is over), write a second page in each range
 * (a fault that would populate from the reservation), read every first
 * page back (swap-in), say so on @up and wait for a second byte on @down.
 * Exit status: 0 if every byte is right, 3 if not, 2 on setup errors.
 */
static __noreturn void holder(int up, int down)
{
	char pidbuf[32], c = 'r';
	char *p;
	long bad = 0;

	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_text(CG "/cgroup.procs", pidbuf))
		_exit(2);
	p = mmap_aligned(SW_RANGES * PMD_SIZE_BYTES);
	for (int r = 0; r < SW_RANGES; r++) {
		char *q = p + r * PMD_SIZE_BYTES + 7 * PG;

		for (unsigned long off = 0; off < PG; off++)
			q[off] = sw_val(r, off);
	}
	if (write(up, &c, 1) != 1 || read(down, &c, 1) != 1)
		_exit(2);
	for (int r = 0; r < SW_RANGES; r++)
		p[r * PMD_SIZE_BYTES + 100 * PG] = 1;
	for (int r = 0; r < SW_RANGES; r++) {
		char *q = p + r * PMD_SIZE_BYTES + 7 * PG;

		for (unsigned long off = 0; off < PG; off++)
			bad += (unsigned char)q[off] != sw_val(r, off);
	}
	if (write(up, &c, 1) != 1 || read(down, &c, 1) != 1)
		_exit(2);
	if (bad)
		ksft_print_msg("%s: %ld bad bytes\n", __func__, bad);
	fflush(stdout);
	_exit(bad ? 3 : 0);
}

static void test_swap_no_stale(void)
{
	const char *name = "swap_no_stale: never-used pages of unbroken blocks never reach swap";
	long skip0, out0, split0, marked, free_kb_now, free0;
	int status = 0, up[2], down[2];
	bool ok = true;
	char c = 'g';
	pid_t pid;

	if (access(FAIL_DIR "probability", W_OK)) {
		ksft_test_result_skip("%s (no %s)\n", name, FAIL_DIR);
		return;
	}
	if (meminfo_kb("SwapTotal") <= 0) {
		ksft_test_result_skip("%s (no swap device)\n", name);
		return;
	}
	if (!swap_nonrot_begin()) {
		if (swap_rot.lost)
			ksft_test_result_fail("%s (swap lost while making it non-rotational)\n",
					      name);
		else
			ksft_test_result_skip("%s (cannot make swap non-rotational: %s)\n",
					      name, strerror(errno));
		return;
	}
	if (!cg_setup(CG)) {
		if (swap_nonrot_end())
			ksft_test_result_skip("%s (no memory cgroup)\n", name);
		else
			ksft_test_result_fail("%s (no memory cgroup; cannot restore %s: %s)\n",
					      name, swap_rot.dev, strerror(errno));
		return;
	}
	if (pipe(up) || pipe(down)) {
		ksft_test_result_fail("%s (pipe: %s)\n", name, strerror(errno));
		cg_done(CG);
		swap_nonrot_end();
		return;
	}
	write_text(CG "/memory.max", SW_MAX);

	/* A dead process's data in most of free memory. */
	free_kb_now = free_kb();
	if (!leave_marker((size_t)(free_kb_now * 6 / 10) * 1024)) {
		ksft_print_msg("the marker process failed\n");
		ok = false;
	}

	free0 = free_slab_kb();
	skip0 = vmstat_get("thp_res_reclaim_skip");
	out0 = vmstat_get("pswpout");
	split0 = vmstat_get("thp_res_swap_split");
	fflush(stdout);
	pid = fork();
	if (!pid) {
		close(up[0]);
		close(down[1]);
		holder(up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	if (pid < 0 || read(up[0], &c, 1) != 1) {
		ksft_print_msg("the holder did not get ready\n");
		ok = false;
	} else if (!fail_reclaim_set("100", "-1")) {
		ksft_print_msg("cannot set %s\n", FAIL_DIR);
		ok = false;
	} else {
		/* Reclaim now skips every reservation and meets the blocks. */
		if (write_text(CG "/memory.max", SW_SQUEEZE)) {
			ksft_print_msg("memory.max %s failed\n", SW_SQUEEZE);
			ok = false;
		}
	}
	fail_reclaim_set("0", "1");
	write_text(CG "/memory.max", SW_MAX);
	/*
	 * The swap-cache window: with the holder's pages swapped in again
	 * and a second page written in each range, the group holds those 48
	 * pages and page tables, not 24 blocks whose never-used pages no
	 * PTE, no counter and no list accounts for any more.
	 */
	if (write(down[1], &c, 1) != 1 || read(up[0], &c, 1) != 1) {
		ksft_print_msg("the holder did not read its pages back\n");
		ok = false;
	} else {
		char buf[32];
		long cur = read_text(CG "/memory.current", buf, sizeof(buf)) ? -1 :
			   strtol(buf, NULL, 10);

		ksft_print_msg("swap_no_stale: memory.current %ld kB with 48 pages in use\n",
			       cur >> 10);
		ok &= expect_eq("memory.current <= 4 MiB with 48 pages in use",
			     cur >= 0 && cur <= 4L << 20, 1);
	}
	if (write(down[1], &c, 1) != 1 || pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		ksft_print_msg("holder: exit status %#x\n", status);
		ok = false;
	}
	close(up[0]);
	close(down[1]);
	vmstat_refresh();
	if (vmstat_get("thp_res_reclaim_skip") <= skip0) {
		ksft_print_msg("reclaim skipped no reservation\n");
		ok = false;
	}
	if (vmstat_get("pswpout") <= out0) {
		ksft_print_msg("nothing was swapped out: the case tested nothing\n");
		ok = false;
	}
	if (vmstat_get("thp_res_swap_split") <= split0) {
		ksft_print_msg("thp_res_swap_split %ld, was %ld: no block split before swap-out\n",
			       vmstat_get("thp_res_swap_split"), split0);
		ok = false;
	}
	/*
	 * Nothing stranded: with the holder gone, every page it had, block
	 * pages never used included, is free again.
	 */
	ok &= free_back("after the holder", free0);
	marked = swap_marked_pages();
	if (!swap_nonrot_end()) {
		ksft_print_msg("cannot restore %s: %s\n", swap_rot.dev, strerror(errno));
		ok = false;
	}
	ksft_print_msg("swap_no_stale: reclaim skips +%ld, pswpout +%ld, blocks split before swap-out +%ld, marked swap pages %ld\n",
		       vmstat_get("thp_res_reclaim_skip") - skip0, vmstat_get("pswpout") - out0,
		       vmstat_get("thp_res_swap_split") - split0, marked);
	ok &= expect_eq("swap pages holding the dead process's marker", marked, 0);
	cg_done(CG);
	ksft_test_result(ok, "%s\n", name);
}

/*
 * A range maps page 0 (a base page left by a released reservation) and,
 * after a read, the zero page at page 5. The write to page 5 must not
 * allocate a block: no reservation can be made there.
 */
#define WZ_RANGES	32

static void test_wp_zero_no_alloc(void)
{
	const char *name =
		"wp_zero_no_alloc: a write to the zero page of a used range allocates no block";
	size_t len = WZ_RANGES * PMD_SIZE_BYTES;
	long alloc0, res0, disc0, pages;
	char *p = mmap_aligned(len);
	volatile char sink;
	bool ok = true;

	if (!p) {
		ksft_test_result_fail("%s (mmap)\n", name);
		return;
	}
	for (int r = 0; r < WZ_RANGES; r++) {
		char *q = p + r * PMD_SIZE_BYTES;

		q[0] = 1;			/* reserves */
		q[PG] = 2;			/* populates */
		madvise(q + PG, PG, MADV_DONTNEED);	/* releases, splits */
		sink = q[5 * PG];		/* the zero page */
	}
	(void)sink;
	vmstat_refresh();
	res0 = vmstat_get("thp_res_alloc");
	disc0 = vmstat_get("thp_res_alloc_discard");
	alloc0 = pgalloc_sum();
	for (int r = 0; r < WZ_RANGES; r++)
		p[r * PMD_SIZE_BYTES + 5 * PG] = 3;
	pages = pgalloc_sum() - alloc0;
	vmstat_refresh();
	ok &= expect_eq("thp_res_alloc delta", vmstat_get("thp_res_alloc") - res0, 0);
	ok &= expect_eq("thp_res_alloc_discard delta",
			vmstat_get("thp_res_alloc_discard") - disc0, 0);
	/* One base page per write, and some slack for the rest of the system. */
	if (pages >= WZ_RANGES * NPG / 4) {
		ksft_print_msg("%ld pages allocated for %d writes\n", pages, WZ_RANGES);
		ok = false;
	}
	for (int r = 0; r < WZ_RANGES; r++) {
		char *q = p + r * PMD_SIZE_BYTES;

		if (q[0] != 1 || q[PG] != 0 || q[5 * PG] != 3 || q[6 * PG] != 0) {
			ksft_print_msg("range %d: bad data\n", r);
			ok = false;
			break;
		}
	}
	munmap(p, len);
	ksft_test_result(ok, "%s\n", name);
}

/* VmSize of this process in kB, or -1. */
static long vmsize_kb(void)
{
	return keyed_value_sep("/proc/self/status", "VmSize", ":");
}

/*
 * In a child (it lowers its RLIMIT_AS): reserve a range, fail a larger
 * MAP_FIXED mmap over it, and check that the reservation is still whole.
 * Exit status 0 if so, 1 if not, 2 if the mmap did not fail as arranged.
 */
static __noreturn void abort_child(void)
{
	char *p = mmap_aligned(PMD_SIZE_BYTES);
	long res0, pop0;
	unsigned long pfn0;
	struct rlimit rl;
	bool ok = true;
	void *q;

	p[0] = 0x11;
	pfn0 = pagemap_pfn(p);
	vmstat_refresh();
	res0 = vmstat_get("nr_thp_reserved");
	pop0 = vmstat_get("thp_res_populate");
	/* Room for 1 MiB more: a 4 MiB mapping that replaces 2 MiB fails. */
	rl.rlim_max = (vmsize_kb() + 1024) * 1024;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_AS, &rl))
		_exit(2);
	q = mmap(p, 2 * PMD_SIZE_BYTES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (q != MAP_FAILED || errno != ENOMEM) {
		ksft_print_msg("MAP_FIXED mmap: %p, errno %d, want ENOMEM\n", q, errno);
		_exit(2);
	}
	vmstat_refresh();
	ok &= expect_eq("nr_thp_reserved after the failed mmap",
		     vmstat_get("nr_thp_reserved") - res0, 0);
	p[PG] = 0x22;
	vmstat_refresh();
	ok &= expect_eq("thp_res_populate delta", vmstat_get("thp_res_populate") - pop0, 1);
	if (!pfn0 || pagemap_pfn(p + PG) != pfn0 + 1) {
		ksft_print_msg("page 1 at pfn %#lx, block page 0 at %#lx\n",
			       pagemap_pfn(p + PG), pfn0);
		ok = false;
	}
	ok &= expect_eq("data", p[0] == 0x11 && p[PG] == 0x22, 1);
	fflush(stdout);
	_exit(ok ? 0 : 1);
}

static void test_munmap_abort_keeps(void)
{
	const char *name = "munmap_abort_keeps: a failed MAP_FIXED keeps the reservation";
	long res0;
	int status;
	pid_t pid;

	vmstat_refresh();
	res0 = vmstat_get("nr_thp_reserved");
	fflush(stdout);
	pid = fork();
	if (!pid)
		abort_child();
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
		ksft_test_result_fail("%s (child died)\n", name);
		return;
	}
	if (WEXITSTATUS(status) == 2) {
		ksft_test_result_fail("%s (the mmap did not fail as arranged)\n", name);
		return;
	}
	for (int i = 0; i < 20; i++) {
		vmstat_refresh();
		if (vmstat_get("nr_thp_reserved") == res0)
			break;
		usleep(100000);
	}
	ksft_test_result(!WEXITSTATUS(status) &&
			 expect_eq("nr_thp_reserved after the child",
				   vmstat_get("nr_thp_reserved"), res0),
			 "%s\n", name);
}

/*
 * In the group: reserve MS_RANGES ranges with one page each, report
 * memory.stat thp_reserved over a pipe, unmap them, report it again.
 */
#define MS_RANGES	8

static __noreturn void memcg_child(int up)
{
	char pidbuf[32];
	long v[2];
	char *p;

	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_text(CG "/cgroup.procs", pidbuf))
		_exit(2);
	p = mmap_aligned(MS_RANGES * PMD_SIZE_BYTES);
	for (int r = 0; r < MS_RANGES; r++)
		p[r * PMD_SIZE_BYTES + 3 * PG] = 1;
	v[0] = keyed_file_value(CG "/memory.stat", "thp_reserved");
	munmap(p, MS_RANGES * PMD_SIZE_BYTES);
	v[1] = keyed_file_value(CG "/memory.stat", "thp_reserved");
	_exit(write(up, v, sizeof(v)) == sizeof(v) ? 0 : 2);
}

static void test_memcg_stat(void)
{
	const char *name = "memcg_stat: memory.stat thp_reserved counts the group's reserved pages";
	long v[2] = { -1, -1 };
	int fds[2], status;
	bool ok = true;
	pid_t pid;

	if (!cg_setup(CG)) {
		ksft_test_result_skip("%s (no memory cgroup)\n", name);
		return;
	}
	if (pipe(fds)) {
		ksft_test_result_fail("%s (pipe: %s)\n", name, strerror(errno));
		cg_done(CG);
		return;
	}
	pid = fork();
	if (!pid) {
		close(fds[0]);
		memcg_child(fds[1]);
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], v, sizeof(v)) != sizeof(v) ||
	    waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		ksft_print_msg("child failed\n");
		ok = false;
	}
	close(fds[0]);
	ok &= expect_eq("thp_reserved with the ranges reserved (bytes)", v[0],
		     MS_RANGES * (NPG - 1) * (long)PG);
	ok &= expect_eq("thp_reserved after munmap (bytes)", v[1], 0);
	cg_done(CG);
	ksft_test_result(ok, "%s\n", name);
}

/* The fault attributes fail-nth counts, and the settings this case needs. */
#define FAIL_SLAB	"/sys/kernel/debug/failslab/"
#define FAIL_PA		"/sys/kernel/debug/fail_page_alloc/"
#define FN_MAX		40

struct knob {
	const char *path;
	const char *val;
	char saved[32];
};

static struct knob fn_knobs[] = {
	/* Slab allocations that may sleep, as all of ours. */
	{ .path = FAIL_SLAB "ignore-gfp-wait", .val = "N" },
	/* Page allocations of the block's order: the blocks, stock THPs. */
	{ .path = FAIL_PA "ignore-gfp-wait", .val = "N" },
	{ .path = FAIL_PA "ignore-gfp-highmem", .val = "N" },
	{ .path = FAIL_PA "min-order", .val = "9" },
	{ .path = FAIL_SLAB "verbose", .val = "0" },
	{ .path = FAIL_PA "verbose", .val = "0" },
};

static void fn_knobs_undo(void);

/*
 * Set fn_knobs (saving each first), or with @restore put back those saved;
 * a knob put back is no longer saved.
 */
static bool knobs_set(bool restore)
{
	bool ok = true;

	if (!restore)
		thp_on_cleanup(fn_knobs_undo);
	for (size_t i = 0; i < ARRAY_SIZE(fn_knobs); i++) {
		struct knob *k = &fn_knobs[i];
		char *nl;

		if (restore) {
			if (k->saved[0])
				ok &= !write_text(k->path, k->saved);
			k->saved[0] = '\0';
			continue;
		}
		if (read_text(k->path, k->saved, sizeof(k->saved))) {
			k->saved[0] = '\0';
			return false;
		}
		nl = strchr(k->saved, '\n');
		if (nl)
			*nl = '\0';
		ok &= !write_text(k->path, k->val);
	}
	return ok;
}

/* knobs_set(true) as an exit and signal cleanup. */
static void fn_knobs_undo(void)
{
	knobs_set(true);
}

/*
 * In a fresh group: fail the n-th fault-injection point of one write fault
 * in an empty range (and of a second write in it), check the data and
 * give everything back. Exit status: 0 injected and fine, 1 not injected
 * (n is past the last allocation) and fine, 3 bad.
 */
static __noreturn void fail_nth_child(int n)
{
	char buf[32], pidbuf[32];
	char *p = mmap_aligned(2 * PMD_SIZE_BYTES);
	bool injected;
	int fd;

	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_text(CG "/cgroup.procs", pidbuf))
		_exit(3);
	fd = open("/proc/thread-self/fail-nth", O_RDWR);
	snprintf(buf, sizeof(buf), "%d", n);
	if (fd < 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf))
		_exit(3);
	/* Nothing but these two faults until fail-nth is read back. */
	p[5 * PG] = 0x5a;
	p[6 * PG] = 0xa5;
	memset(buf, 0, sizeof(buf));
	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		_exit(3);
	injected = atoi(buf) == 0;
	/* Disarm it if it did not fire. */
	if (write(fd, "0", 1) != 1)
		_exit(3);
	close(fd);
	if ((unsigned char)p[5 * PG] != 0x5a || (unsigned char)p[6 * PG] != 0xa5 ||
	    p[0] || p[7 * PG]) {
		ksft_print_msg("fail-nth %d: bad data\n", n);
		_exit(3);
	}
	munmap(p, 2 * PMD_SIZE_BYTES);
	_exit(injected ? 0 : 1);
}

static void test_fail_nth(void)
{
	const char *name = "fail_nth: every allocation of a reserving fault fails cleanly";
	long res0, free0, res1 = 0;
	int n, status = 0;
	bool ok = true;

	if (access(FAIL_SLAB "ignore-gfp-wait", W_OK) || access(FAIL_PA "min-order", W_OK) ||
	    access("/proc/thread-self/fail-nth", W_OK)) {
		ksft_test_result_skip("%s (no failslab or fail_page_alloc)\n", name);
		return;
	}
	if (!knobs_set(false)) {
		ksft_test_result_skip("%s (cannot set the fault-injection knobs)\n", name);
		knobs_set(true);
		return;
	}
	vmstat_refresh();
	res0 = vmstat_get("nr_thp_reserved");
	free0 = free_slab_kb();
	for (n = 1; n <= FN_MAX; n++) {
		pid_t pid;

		if (!cg_setup(CG)) {
			ok = false;
			break;
		}
		fflush(stdout);
		pid = fork();
		if (!pid)
			fail_nth_child(n);
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) > 1) {
			ksft_print_msg("fail-nth %d: child status %#x\n", n, status);
			ok = false;
		}
		cg_done(CG);
		res1 = reserved_settle(res0);
		if (res1 != res0) {
			ksft_print_msg("fail-nth %d: nr_thp_reserved %ld, was %ld\n",
				       n, res1, res0);
			ok = false;
		}
		if (!ok || (WIFEXITED(status) && WEXITSTATUS(status) == 1))
			break;
	}
	knobs_set(true);
	ksft_print_msg("fail_nth: %d injection points on the path\n", n - 1);
	/* The table, the entry, the block and the list_lru at least. */
	if (ok && n - 1 < 4) {
		ksft_print_msg("only %d injection points: the path was not covered\n", n - 1);
		ok = false;
	}
	if (n > FN_MAX) {
		ksft_print_msg("still injecting after %d points\n", FN_MAX);
		ok = false;
	}
	ok &= free_back("after the fail-nth runs", free0);
	ksft_test_result(ok, "%s\n", name);
}

/*
 * Ranges written once each, at page HB_PAGE, and one more range for each
 * write made while /dev/snapshot is open and after it is closed.
 */
#define HB_RANGES	16
#define HB_PAGE		9

/* Wait up to 2 s for nr_thp_reserved to read @want; return the last value. */
static void test_hibernate_breaks(void)
{
	const char *name = "hibernate_breaks: a hibernation breaks every reservation first";
	size_t len = (HB_RANGES + 2) * PMD_SIZE_BYTES;
	long res0, rel0, alloc0, free0, gained;
	char *p;
	bool ok = true;
	int fd, r;

	res0 = reserved_settle(0);
	if (res0) {
		ksft_test_result_fail("%s (nr_thp_reserved %ld before the case)\n", name, res0);
		return;
	}
	p = mmap_aligned(len);
	if (!p) {
		ksft_test_result_fail("%s (mmap)\n", name);
		return;
	}
	for (r = 0; r < HB_RANGES; r++)
		p[r * PMD_SIZE_BYTES + HB_PAGE * PG] = (char)(r + 1);
	vmstat_refresh();
	ok &= expect_eq("nr_thp_reserved with the ranges reserved",
		     vmstat_get("nr_thp_reserved"), HB_RANGES * (NPG - 1));
	rel0 = vmstat_get("thp_res_release");
	alloc0 = vmstat_get("thp_res_alloc");
	free0 = free_slab_kb();

	fd = open("/dev/snapshot", O_RDONLY);
	if (fd < 0) {
		int err = errno;

		munmap(p, len);
		if (err == ENOENT || err == ENODEV || err == ENXIO || err == EPERM)
			ksft_test_result_skip("%s (/dev/snapshot: %s)\n", name, strerror(err));
		else
			ksft_test_result_fail("%s (/dev/snapshot: %s)\n", name, strerror(err));
		return;
	}
	vmstat_refresh();
	gained = free_slab_kb() - free0;
	ok &= expect_eq("nr_thp_reserved with a hibernation started",
		     vmstat_get("nr_thp_reserved"), 0);
	ok &= expect_eq("thp_res_release delta", vmstat_get("thp_res_release") - rel0,
		     HB_RANGES);
	/* The never-used pages went back; allow 10 % for the rest of the system. */
	if (gained < (long)HB_RANGES * (NPG - 1) * (long)(PG / 1024) * 9 / 10) {
		ksft_print_msg("free memory up %ld kB, want about %ld kB\n", gained,
			       (long)HB_RANGES * (NPG - 1) * (long)(PG / 1024));
		ok = false;
	}
	p[HB_RANGES * PMD_SIZE_BYTES] = 0x77;
	vmstat_refresh();
	ok &= expect_eq("thp_res_alloc delta while hibernating",
		     vmstat_get("thp_res_alloc") - alloc0, 0);
	ok &= expect_eq("nr_thp_reserved after a write while hibernating",
		     vmstat_get("nr_thp_reserved"), 0);
	close(fd);

	p[(HB_RANGES + 1) * PMD_SIZE_BYTES] = 0x78;
	vmstat_refresh();
	ok &= expect_eq("thp_res_alloc delta after the hibernation ended",
		     vmstat_get("thp_res_alloc") - alloc0, 1);
	ok &= expect_eq("nr_thp_reserved after a write once it ended",
		     vmstat_get("nr_thp_reserved"), NPG - 1);
	for (r = 0; r < HB_RANGES; r++) {
		char *q = p + r * PMD_SIZE_BYTES;

		if (q[HB_PAGE * PG] != (char)(r + 1) || q[0] || q[(HB_PAGE + 1) * PG]) {
			ksft_print_msg("range %d: bad data\n", r);
			ok = false;
			break;
		}
	}
	ok &= expect_eq("data written while hibernating",
		     p[HB_RANGES * PMD_SIZE_BYTES] == 0x77 &&
		     p[(HB_RANGES + 1) * PMD_SIZE_BYTES] == 0x78, 1);
	munmap(p, len);
	ok &= expect_eq("nr_thp_reserved after munmap", reserved_settle(0), 0);
	ksft_test_result(ok, "%s\n", name);
}

#define CORE_PATTERN	"/proc/sys/kernel/core_pattern"
#define CD_FILE		"/tmp/thpres-core"
#define CD_RANGES	8
#define CD_PAGE		11

/* The page content a dumping child writes into range @r. */
static void cd_fill(char *page, int r)
{
	memset(page, 0, PG);
	for (unsigned long off = 0; off < PG; off += 64)
		snprintf(page + off, 64, "THPRES-CORE-%02d-%08lx", r, off);
}

/*
 * Reserve CD_RANGES ranges with one written page each, report
 * nr_thp_reserved on @up and dump core. The child's copy of the marker is
 * wiped first: the dump must not find it in the program's own data.
 */
static __noreturn void dump_child(int up)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	char *p = mmap_aligned(CD_RANGES * PMD_SIZE_BYTES);
	long v;

	memset(mark, 0, sizeof(mark));
	if (!p || setrlimit(RLIMIT_CORE, &rl))
		_exit(2);
	for (int r = 0; r < CD_RANGES; r++)
		cd_fill(p + r * PMD_SIZE_BYTES + CD_PAGE * PG, r);
	vmstat_refresh();
	v = vmstat_get("nr_thp_reserved");
	if (write(up, &v, sizeof(v)) != sizeof(v))
		_exit(2);
	abort();
}

/* core_pattern as it was before the case; "" once put back. */
static char saved_core[256];

static void core_pattern_undo(void)
{
	if (saved_core[0])
		write_text(CORE_PATTERN, saved_core);
	saved_core[0] = '\0';
}

static void test_core_dump_no_stale(void)
{
	const char *name = "core_dump_no_stale: a core dump holds no never-used page";
	long res0, held = -1, marked = 0, written = 0;
	char page[PG], want[PG];
	int fds[2], status = 0, fd;
	bool ok = true;
	ssize_t n;
	pid_t pid;

	if (read_text(CORE_PATTERN, saved_core, sizeof(saved_core))) {
		ksft_test_result_skip("%s (cannot read %s)\n", name, CORE_PATTERN);
		return;
	}
	thp_on_cleanup(core_pattern_undo);
	if (write_text(CORE_PATTERN, CD_FILE)) {
		core_pattern_undo();
		ksft_test_result_skip("%s (cannot set %s)\n", name, CORE_PATTERN);
		return;
	}
	unlink(CD_FILE);
	if (!leave_marker((size_t)(free_kb() * 6 / 10) * 1024)) {
		ksft_print_msg("the marker process failed\n");
		ok = false;
	}
	res0 = reserved_settle(0);
	if (pipe(fds)) {
		ok = false;
		goto out;
	}
	fflush(stdout);
	pid = fork();
	if (!pid) {
		close(fds[0]);
		dump_child(fds[1]);
	}
	close(fds[1]);
	if (pid < 0 || read(fds[0], &held, sizeof(held)) != sizeof(held) ||
	    waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) || !WCOREDUMP(status)) {
		ksft_print_msg("the child dumped no core: status %#x\n", status);
		ok = false;
	}
	close(fds[0]);
	ok &= expect_eq("nr_thp_reserved in the dumping child", held - res0,
		     CD_RANGES * (NPG - 1));
	fd = open(CD_FILE, O_RDONLY);
	if (fd < 0) {
		ksft_print_msg("%s: %s\n", CD_FILE, strerror(errno));
		ok = false;
		goto out;
	}
	/* Memory segments start page-aligned in the file. */
	while ((n = read(fd, page, PG)) == (ssize_t)PG) {
		marked += page_marked(page);
		for (int r = 0; r < CD_RANGES; r++) {
			cd_fill(want, r);
			written += !memcmp(page, want, PG);
		}
	}
	close(fd);
	ksft_print_msg("core_dump_no_stale: %ld pages written by the child, %ld marked\n",
		       written, marked);
	ok &= expect_eq("pages the child wrote found in the dump", written, CD_RANGES);
	ok &= expect_eq("dump pages holding the dead process's marker", marked, 0);
out:
	unlink(CD_FILE);
	core_pattern_undo();
	ksft_test_result(ok, "%s\n", name);
}

#define SPLIT_DEBUGFS	"/sys/kernel/debug/split_huge_pages"
#define SE_RANGES	8
#define SE_USED		3

/* What split_exact writes to used page i of range r: zero in odd ranges. */
static char se_byte(int r, int i)
{
	return r & 1 ? 0 : (char)(r * 16 + i + 1);
}

static void test_split_exact(void)
{
	const char *name =
		"split_exact: a split behind the reservation's back fixes the counter at once";
	size_t len = SE_RANGES * PMD_SIZE_BYTES;
	long rel0, before, after;
	char cmd[128];
	bool ok = true;
	char *p;
	int r, i;

	if (access(SPLIT_DEBUGFS, W_OK)) {
		ksft_test_result_skip("%s (no %s)\n", name, SPLIT_DEBUGFS);
		return;
	}
	if (reserved_settle(0)) {
		ksft_test_result_fail("%s (nr_thp_reserved not 0 before the case)\n", name);
		return;
	}
	p = mmap_aligned(len);
	if (!p) {
		ksft_test_result_fail("%s (mmap)\n", name);
		return;
	}
	for (r = 0; r < SE_RANGES; r++)
		for (i = 0; i < SE_USED; i++)
			p[r * PMD_SIZE_BYTES + (4 * i + 1) * PG] = se_byte(r, i);
	vmstat_refresh();
	before = vmstat_get("nr_thp_reserved");
	rel0 = vmstat_get("thp_res_release");
	ok &= expect_eq("nr_thp_reserved with the ranges reserved", before,
		     SE_RANGES * (NPG - SE_USED));
	snprintf(cmd, sizeof(cmd), "%d,%#lx,%#lx", getpid(), (unsigned long)p,
		 (unsigned long)p + len);
	if (write_text(SPLIT_DEBUGFS, cmd)) {
		ksft_print_msg("%s: cannot write %s\n", SPLIT_DEBUGFS, cmd);
		ok = false;
	}
	vmstat_refresh();
	after = vmstat_get("nr_thp_reserved");
	ok &= expect_eq("nr_thp_reserved right after the split", after, 0);
	ok &= expect_eq("thp_res_release delta before any fault",
		     vmstat_get("thp_res_release") - rel0, 0);
	/* Every range's next write finds its entry stale and releases it. */
	for (r = 0; r < SE_RANGES; r++)
		p[r * PMD_SIZE_BYTES + 100 * PG] = 0x44;
	vmstat_refresh();
	ok &= expect_eq("thp_res_release delta after a write in each range",
		     vmstat_get("thp_res_release") - rel0, SE_RANGES);
	ok &= expect_eq("nr_thp_reserved after the stale releases",
		     vmstat_get("nr_thp_reserved"), 0);
	for (r = 0; r < SE_RANGES && ok; r++) {
		char *q = p + r * PMD_SIZE_BYTES;

		for (i = 0; i < SE_USED; i++)
			if (q[(4 * i + 1) * PG] != se_byte(r, i)) {
				ksft_print_msg("range %d page %d: bad data\n", r, 4 * i + 1);
				ok = false;
			}
		if (q[100 * PG] != 0x44 || q[2 * PG]) {
			ksft_print_msg("range %d: bad data\n", r);
			ok = false;
		}
	}
	munmap(p, len);
	ok &= expect_eq("nr_thp_reserved after munmap", reserved_settle(0), 0);
	ksft_test_result(ok, "%s\n", name);
}

int main(void)
{
	thp_reserve_start();
	ksft_set_plan(8);
	make_mark();
	test_wp_zero_no_alloc();
	test_munmap_abort_keeps();
	test_memcg_stat();
	test_fail_nth();
	test_swap_no_stale();
	test_hibernate_breaks();
	test_core_dump_no_stale();
	test_split_exact();
	ksft_finished();
}
