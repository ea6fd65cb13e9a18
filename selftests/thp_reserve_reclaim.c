// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations and the reclaim paths that must leave them alone.
 *
 * 1. node_reclaim_no_unmap: node reclaim with vm.zone_reclaim_mode 1 may
 *    not unmap (sc->may_unmap clear), and breaking a reservation splits
 *    its block, which unmaps and remaps the used pages: such a pass breaks
 *    no reservation, neither from shrink_node() nor through the shrinker.
 *    A holder reserves 544 ranges on node 0 and reads 96 MiB into node
 *    0's page cache; a second process on a node-0 CPU then allocates
 *    until node 0 is full and its allocations spill to node 1, so node
 *    reclaim runs again and again on node 0 (zone_reclaim_success and
 *    _failed count it) and frees page cache. No reservation may be
 *    broken. The same pressure with mode 5 (RECLAIM_UNMAP too) must break
 *    them, which shows the pressure reaches them. (On a kernel whose
 *    shrinker broke reservations inside reclaim, mode 1 broke 256.)
 * 2. oom_reaped_no_populate: once the OOM reaper has torn down an mm
 *    (MMF_UNSTABLE), a fault in it must fail as a stock fault does, not
 *    map a page from a reservation. A process_vm_writev() into a
 *    reserving child holds the child's mm across its OOM kill: the
 *    writer stops on a userfaultfd page of its own between its first and
 *    second remote page, the child is OOM-killed in its memory cgroup
 *    (reclaim made to skip reservations, no swap), the kernel log says
 *    the reaper reaped it, and the writer goes on: its second page,
 *    reserved but never used, must fail, so the call writes one page,
 *    and the reservations must be gone with the mm. The reaper zaps
 *    every PTE, used pages included, so a populate after it finds its
 *    entry stale whether or not thp_reserve_take() checks
 *    check_stable_address_space(): that check covers a fault that runs
 *    while the reaper is still walking the mm, a window this case cannot
 *    hold open. It checks the contract, not that line.
 * 3. hibernate_busy_fails: a hibernation breaks every reservation before
 *    tasks are frozen, under each mm's mmap_lock. A task that keeps its
 *    mmap_lock (two threads of the holder take it for writing in turn,
 *    mprotect() over 256 MiB of base pages) must make the hibernation
 *    fail with EBUSY within the freezer's timeout (pm_freeze_timeout,
 *    1 ms here), as a task that cannot be frozen does, and not hold the
 *    PM lock until the task lets go: open("/dev/snapshot") fails with
 *    EBUSY at once, the kernel log says why, the holder keeps its
 *    reservations and makes new ones. Once the threads stop, a
 *    hibernation breaks them all.
 *
 * Needs root (sysctl, cgroups, debugfs, /dev/kmsg, /dev/snapshot,
 * userfaultfd in kernel mode) and, for case 1, two NUMA nodes and a swap
 * device to read from.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "thp_util.h"

#define PG		4096UL
#define NPG		((long)(PMD_SIZE_BYTES / PG))
#define MPOL_PREF	1
#define MPOL_BND	2
#define ZRM		"/proc/sys/vm/zone_reclaim_mode"
#define BOOST		"/proc/sys/vm/watermark_boost_factor"
#define NODE_MEMINFO	"/sys/devices/system/node/node%d/meminfo"

/* "Node N Field:  V kB" of a node's meminfo, in kB, or -1. */
static long node_kb(int node, const char *field)
{
	char path[64], line[256], key[64];
	long val = -1, v;
	FILE *f;

	snprintf(path, sizeof(path), NODE_MEMINFO, node);
	f = fopen(path, "r");
	if (!f)
		return -1;
	snprintf(key, sizeof(key), "Node %d %s:", node, field);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) &&
		    sscanf(line + strlen(key), "%ld", &v) == 1)
			val = v;
	fclose(f);
	return val;
}

/*
 * Run on the first CPU of node 0 (node reclaim runs only from a CPU of
 * the node it reclaims) and allocate by @mode (MPOL_*) from node 0.
 */
static bool on_node0(int mode)
{
	unsigned long mask = 1;
	char list[64];
	cpu_set_t set;

	if (read_text("/sys/devices/system/node/node0/cpulist", list, sizeof(list)) ||
	    list[0] < '0' || list[0] > '9')
		return false;
	CPU_ZERO(&set);
	CPU_SET(atoi(list), &set);
	return !sched_setaffinity(0, sizeof(set), &set) &&
	       !syscall(SYS_set_mempolicy, mode, &mask, sizeof(mask) * 8);
}

/*
 * The shrinker's own pacing would keep it from breaking a few reservations
 * even where it should not: at node reclaim's priority 4, do_shrink_slab()
 * scans a batch of 128 objects only once a count of F objects gives
 * F / 8 + (its deferred work, at most 2 F) / 16 >= 128, i.e. F >= 512
 * after enough passes. So the holder makes more than 512 on node 0:
 * 1088 MiB of blocks, plus
 * CACHE_MB of page cache for node reclaim to free (node reclaim stops
 * below 1 % of the node, min_unmapped_ratio).
 */
#define NR_RANGES	544
#define NR_MIN		512
#define CACHE_MB	96
#define NODE0_NEED_MB	(2 * NR_RANGES + CACHE_MB + 128)

static unsigned char nr_byte(int r, unsigned long off)
{
	return (unsigned char)(0x3c ^ r ^ (off * 13));
}

/*
 * On node 0: write page 0 of NR_RANGES ranges, read CACHE_MB of @dev into
 * the page cache, say so on @up, wait for a byte on @down, then check the
 * written pages. Exit status: 0 if every byte is right, 3 if not, 2 on
 * setup errors.
 */
static __noreturn void nr_holder(const char *dev, int up, int down)
{
	size_t chunk = 1UL << 20;
	char *p, *buf, c = 'r';
	long bad = 0;
	int fd;

	if (!on_node0(MPOL_BND))
		_exit(2);
	p = mmap_aligned(NR_RANGES * PMD_SIZE_BYTES);
	for (int r = 0; r < NR_RANGES; r++)
		for (unsigned long off = 0; off < PG; off++)
			p[r * PMD_SIZE_BYTES + off] = nr_byte(r, off);
	buf = malloc(chunk);
	fd = open(dev, O_RDONLY);
	if (!buf || fd < 0)
		_exit(2);
	for (int i = 0; i < CACHE_MB; i++)
		if (read(fd, buf, chunk) != (ssize_t)chunk)
			_exit(2);
	close(fd);
	if (write(up, &c, 1) != 1 || read(down, &c, 1) != 1)
		_exit(2);
	for (int r = 0; r < NR_RANGES; r++)
		for (unsigned long off = 0; off < PG; off++)
			bad += (unsigned char)p[r * PMD_SIZE_BYTES + off] != nr_byte(r, off);
	if (bad)
		ksft_print_msg("holder: %ld bad bytes\n", bad);
	fflush(stdout);
	_exit(bad ? 3 : 0);
}

/*
 * On a node-0 CPU, preferring node 0: allocate base pages until node 1's
 * free memory is down by 64 MiB (node 0 is full and node reclaim did not
 * make room), or until node 0's size plus 512 MiB. Exit status 0 if the
 * allocations spilled to node 1, 3 if they never did, 2 on setup errors.
 */
static __noreturn void nr_pressure(void)
{
	long node1_free = node_kb(1, "MemFree"), node0_kb = node_kb(0, "MemTotal");
	unsigned long long cap_kb = node0_kb + (512ULL << 10);
	size_t cap = cap_kb << 10;
	size_t step = 8UL << 20, done = 0;
	char *p;

	/* cap_kb in bytes must fit a size_t (a 32-bit one does not fit much). */
	if (!on_node0(MPOL_PREF) || node1_free < 0 || node0_kb < 0 || cap_kb > SIZE_MAX >> 10)
		_exit(2);
	p = mmap(NULL, cap, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED || madvise(p, cap, MADV_NOHUGEPAGE))
		_exit(2);
	while (done + step <= cap) {
		for (size_t off = 0; off < step; off += PG)
			p[done + off] = 1;
		done += step;
		if (node_kb(1, "MemFree") < node1_free - (64L << 10))
			_exit(0);
	}
	_exit(3);
}

/* The counters one pressure run is judged by. */
struct nr_counts {
	long res_reclaim, reserved, zr_success, zr_failed, kswapd, cache0;
};

/* Both ends of two pipes, closed once. */
static void close_pipes(int a[2], int b[2])
{
	for (int i = 0; i < 2; i++) {
		if (a[i] >= 0)
			close(a[i]);
		if (b[i] >= 0)
			close(b[i]);
		a[i] = -1;
		b[i] = -1;
	}
}

static void nr_read(struct nr_counts *c)
{
	vmstat_refresh();
	c->res_reclaim = vmstat_get("thp_res_reclaim");
	c->reserved = vmstat_get("nr_thp_reserved");
	c->zr_success = vmstat_get("zone_reclaim_success");
	c->zr_failed = vmstat_get("zone_reclaim_failed");
	/* kswapd may break reservations without scanning a page. */
	c->kswapd = vmstat_get("pgscan_kswapd") + vmstat_get("pageoutrun");
	c->cache0 = node_kb(0, "FilePages");
}

/* Drop what the holders read from @dev from the page cache. */
static void nr_drop_cache(const char *dev)
{
	int fd = open(dev, O_RDONLY);

	if (fd >= 0) {
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

/*
 * One pressure run with zone_reclaim_mode @mode: a holder's reservations
 * on node 0, then the pressure. Fills @d with the counter deltas (cache0:
 * node 0's page cache in kB before the pressure minus after) and @res
 * with nr_thp_reserved once the holder has its reservations. Returns
 * false (and says why) if the run itself went wrong.
 */
static bool nr_run(const char *dev, const char *mode, struct nr_counts *d, long *res)
{
	struct nr_counts a, b;
	int up[2] = { -1, -1 }, down[2] = { -1, -1 }, st_h = 0, st_p = 0;
	pid_t holder, press;
	char c = 'g';

	/* Compaction first: the holder needs 544 free 2 MiB blocks. */
	write_text("/proc/sys/vm/compact_memory", "1");
	if (pipe(up) || pipe(down)) {
		close_pipes(up, down);
		return false;
	}
	holder = fork();
	if (!holder) {
		close(up[0]);
		close(down[1]);
		nr_holder(dev, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	up[1] = -1;
	down[0] = -1;
	if (holder < 0 || read(up[0], &c, 1) != 1) {
		ksft_print_msg("the holder did not start\n");
		close_pipes(up, down);
		if (holder > 0)
			waitpid(holder, NULL, 0);
		return false;
	}
	nr_read(&a);
	*res = a.reserved;
	write_text(ZRM, mode);
	press = fork();
	if (!press)
		nr_pressure();
	waitpid(press, &st_p, 0);
	write_text(ZRM, "0");
	nr_read(&b);
	if (write(down[1], &c, 1) != 1)
		ksft_print_msg("cannot tell the holder to finish\n");
	close_pipes(up, down);
	if (waitpid(holder, &st_h, 0) != holder)
		return false;
	nr_drop_cache(dev);
	d->res_reclaim = b.res_reclaim - a.res_reclaim;
	d->reserved = b.reserved - a.reserved;
	d->zr_success = b.zr_success - a.zr_success;
	d->zr_failed = b.zr_failed - a.zr_failed;
	d->kswapd = b.kswapd - a.kswapd;
	d->cache0 = a.cache0 - b.cache0;
	ksft_print_msg("mode %s: reserved %ld, thp_res_reclaim %+ld, nr_thp_reserved %+ld, node reclaim %ld ok %ld failed, kswapd runs+scans %ld, node 0 page cache -%ld kB\n",
		       mode, *res, d->res_reclaim, d->reserved, d->zr_success, d->zr_failed,
		       d->kswapd, d->cache0);
	if (!WIFEXITED(st_p) || WEXITSTATUS(st_p)) {
		ksft_print_msg("mode %s: the pressure %s\n", mode,
			       WIFEXITED(st_p) && WEXITSTATUS(st_p) == 3 ?
			       "never spilled to node 1" : "failed");
		return false;
	}
	if (!WIFEXITED(st_h) || WEXITSTATUS(st_h)) {
		ksft_print_msg("mode %s: the holder lost data or failed (status %#x)\n",
			       mode, st_h);
		return false;
	}
	return true;
}

static void test_node_reclaim_no_unmap(void)
{
	const char *name =
		"node_reclaim_no_unmap: node reclaim that may not unmap breaks no reservation";
	char dev[64], zrm[16], boost[16];
	struct nr_counts d1, d5;
	long res1 = 0, res5 = 0, free0;
	bool ok = true;

	if (node_kb(1, "MemFree") < 0 || !swap_device(dev, sizeof(dev)) ||
	    read_text(ZRM, zrm, sizeof(zrm)) || read_text(BOOST, boost, sizeof(boost))) {
		ksft_test_result_skip("%s (needs two NUMA nodes, a swap device, %s and %s)\n",
				      name, ZRM, BOOST);
		return;
	}
	if (reserved_settle(0)) {
		ksft_test_result_fail("%s (nr_thp_reserved not 0 before the case)\n", name);
		return;
	}
	if (node_kb(0, "MemFree") < NODE0_NEED_MB << 10) {
		ksft_test_result_skip("%s (node 0 has %ld MiB free, the case needs %d)\n",
				      name, node_kb(0, "MemFree") >> 10, NODE0_NEED_MB);
		return;
	}
	free0 = free_slab_kb();
	/* A boosted watermark wakes kswapd, which may unmap. */
	write_text(BOOST, "0");
	ok &= nr_run(dev, "1", &d1, &res1);
	ok &= nr_run(dev, "5", &d5, &res5);
	write_text(ZRM, zrm);
	write_text(BOOST, boost);
	ok &= expect_eq("mode 1: holder's reservations >= 512", res1 >= NR_MIN * (NPG - 1), 1);
	ok &= expect_eq("mode 5: holder's reservations >= 512", res5 >= NR_MIN * (NPG - 1), 1);
	/* Node reclaim ran, and only node reclaim: no kswapd pass. */
	ok &= expect_eq("mode 1: node reclaim passes > 0", d1.zr_success + d1.zr_failed > 0, 1);
	ok &= expect_eq("mode 1: node 0 page cache freed >= 32 MiB", d1.cache0 >= 32L << 10, 1);
	ok &= expect_eq("mode 1: kswapd runs and pages scanned", d1.kswapd, 0);
	ok &= expect_eq("mode 1: thp_res_reclaim (pages freed by breaks)", d1.res_reclaim, 0);
	ok &= expect_eq("mode 1: nr_thp_reserved change", d1.reserved, 0);
	ok &= expect_eq("mode 5: node reclaim passes > 0", d5.zr_success + d5.zr_failed > 0, 1);
	ok &= expect_eq("mode 5: thp_res_reclaim > 0", d5.res_reclaim > 0, 1);
	ok &= expect_eq("nr_thp_reserved after the holders", reserved_settle(0), 0);
	ok &= free_back("after the holders", free0);
	ksft_test_result(ok, "%s\n", name);
}

#define CG		CG_ROOT "thpres-reclaim"
#define REAPED		"oom_reaper: reaped process "

struct rp_writer {
	pid_t pid;
	struct iovec local[2], remote[2];
	ssize_t ret;
	int err;
};

static void *rp_write(void *arg)
{
	struct rp_writer *w = arg;

	w->ret = process_vm_writev(w->pid, w->local, 2, w->remote, 2, 0);
	w->err = errno;
	return NULL;
}

/*
 * In @cg: reserve two ranges (page 0 of each written), send their address
 * on @up, then wait to be killed.
 */
static __noreturn void rp_child(int up)
{
	char pidbuf[32];
	char *p;

	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (write_text(CG "/cgroup.procs", pidbuf))
		_exit(2);
	p = mmap_aligned(2 * PMD_SIZE_BYTES);
	p[0] = 1;
	p[PMD_SIZE_BYTES] = 2;
	if (write(up, &p, sizeof(p)) != sizeof(p))
		_exit(2);
	for (;;)
		pause();
}

/* /dev/kmsg, non-blocking, read from the next record on; or -1. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* Wait up to @secs for a /dev/kmsg record that holds @text. */
static bool kmsg_wait(int fd, const char *text, int secs)
{
	char rec[8192];

	for (int i = 0; i < secs * 10; i++) {
		ssize_t n;

		while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
			if (n <= 0)
				continue;
			rec[n] = '\0';
			if (strstr(rec, text))
				return true;
		}
		usleep(100000);
	}
	return false;
}

/* A userfaultfd that also sees faults taken in kernel mode, or -1. */
static int rp_uffd(void *page)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)page, .len = PG },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void test_oom_reaped_no_populate(void)
{
	const char *name = "oom_reaped_no_populate: no populate in an mm the OOM reaper tore down";
	struct rp_writer w = { .ret = -2 };
	struct uffd_msg msg;
	struct uffdio_copy copy;
	struct pollfd pfd;
	char *p = NULL, *local, want[48];
	int up[2] = { -1, -1 }, none[2] = { -1, -1 }, status = 0, ufd, kfd;
	long res0, free0;
	pthread_t thr;
	bool ok = true, started = false;
	pid_t pid;

	if (access(FAIL_DIR "probability", W_OK) || access(CG_ROOT "cgroup.procs", W_OK)) {
		ksft_test_result_skip("%s (no %s or no cgroup2)\n", name, FAIL_DIR);
		return;
	}
	res0 = reserved_settle(0);
	free0 = free_slab_kb();
	local = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (local == MAP_FAILED) {
		ksft_test_result_fail("%s (mmap)\n", name);
		return;
	}
	memset(local, 0x5a, PG);
	ufd = rp_uffd(local + PG);
	kfd = kmsg_open();
	if (ufd < 0 || kfd < 0) {
		ksft_test_result_skip("%s (userfaultfd or /dev/kmsg: %s)\n", name, strerror(errno));
		goto out_close;
	}
	if (!cg_setup(CG) || write_text(CG "/memory.swap.max", "0") || pipe(up)) {
		ksft_test_result_fail("%s (cannot make %s with memory.swap.max 0)\n", name, CG);
		cg_done(CG);
		goto out_close;
	}
	pid = fork();
	if (!pid) {
		close(up[0]);
		rp_child(up[1]);
	}
	close(up[1]);
	up[1] = -1;
	if (pid < 0 || read(up[0], &p, sizeof(p)) != sizeof(p)) {
		ksft_print_msg("the child did not start\n");
		ok = false;
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		goto out_cg;
	}
	vmstat_refresh();
	ok &= expect_eq("nr_thp_reserved with the child's two ranges",
		     vmstat_get("nr_thp_reserved") - res0, 2 * (NPG - 1));
	/*
	 * Remote page 1 of range 0 comes from local page 1, which is missing:
	 * the writer pins it (a populate), then waits on userfaultfd. Remote
	 * page 1 of range 1 is pinned after the wait.
	 */
	w.pid = pid;
	w.local[0] = (struct iovec){ local + PG, PG };
	w.local[1] = (struct iovec){ local, PG };
	w.remote[0] = (struct iovec){ p + PG, PG };
	w.remote[1] = (struct iovec){ p + PMD_SIZE_BYTES + PG, PG };
	if (pthread_create(&thr, NULL, rp_write, &w)) {
		ksft_print_msg("pthread_create failed\n");
		ok = false;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out_cg;
	}
	started = true;
	pfd = (struct pollfd){ .fd = ufd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1 || read(ufd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT) {
		ksft_print_msg("the writer did not stop on its userfaultfd page\n");
		ok = false;
	}
	/* The child's reservations must stay for the reaper to find. */
	if (!fail_reclaim_set("100", "-1")) {
		ksft_print_msg("cannot set %s\n", FAIL_DIR);
		ok = false;
	}
	/*
	 * The memory.max write OOM-kills the child; it returns once no task is
	 * left to kill. The kernel log says when the reaper is done.
	 */
	write_text(CG "/memory.max", "0");
	fail_reclaim_set("0", "1");
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) ||
	    WTERMSIG(status) != SIGKILL) {
		ksft_print_msg("child not OOM-killed (status %#x)\n", status);
		ok = false;
	}
	ok &= expect_eq("memory.events oom_kill",
		     keyed_file_value(CG "/memory.events", "oom_kill"), 1);
	snprintf(want, sizeof(want), REAPED "%d ", pid);
	if (!kmsg_wait(kfd, want, 15)) {
		ksft_print_msg("no \"%s\" in the kernel log\n", want);
		ok = false;
	}
out_cg:
	if (started) {
		copy = (struct uffdio_copy){ .dst = (unsigned long)local + PG,
					     .src = (unsigned long)local, .len = PG };
		if (ioctl(ufd, UFFDIO_COPY, &copy))
			ksft_print_msg("UFFDIO_COPY: %s\n", strerror(errno));
		pthread_join(thr, NULL);
		if (w.ret < 0)
			ksft_print_msg("process_vm_writev: %s\n", strerror(w.err));
		ok &= expect_eq("bytes process_vm_writev wrote", w.ret, PG);
	}
	close_pipes(up, none);
	ok &= expect_eq("nr_thp_reserved once the mm is gone", reserved_settle(res0), res0);
	cg_done(CG);
	ok &= free_back("after the child", free0);
	ksft_test_result(ok, "%s\n", name);
out_close:
	if (ufd >= 0)
		close(ufd);
	if (kfd >= 0)
		close(kfd);
	munmap(local, 2 * PG);
}

#define PM_TIMEOUT	"/sys/power/pm_freeze_timeout"
#define HB_RANGES	4
#define HB_PAGE		5
#define HB_BUSY		(256UL << 20)
#define REFUSED		"thp_reserve: hibernation refused"

/* What keeps the holder's mmap_lock taken: a region and a stop flag. */
struct hb_busy {
	char *p;
	volatile int stop;
};

/*
 * mprotect() over the whole region, back and forth: each call holds the
 * mmap_lock for writing while it changes 65536 PTEs. With two threads at
 * it, one waits for the lock while the other holds it, so a read trylock
 * fails throughout.
 */
static void *hb_mprotect_loop(void *arg)
{
	struct hb_busy *b = arg;

	while (!b->stop) {
		mprotect(b->p, HB_BUSY, PROT_READ);
		mprotect(b->p, HB_BUSY, PROT_READ | PROT_WRITE);
	}
	return NULL;
}

/*
 * Reserve HB_RANGES ranges, start two hb_mprotect_loop() threads and say
 * 'r' on @up. Then on each byte from @down: 'n' writes a new range, 's'
 * stops the threads, 'x' checks the data and exits (0 if it is right, 3
 * if not, 2 on setup errors). Each step is acknowledged on @up.
 */
static __noreturn void hb_child(int up, int down)
{
	struct hb_busy b = { 0 };
	pthread_t thr[2];
	char *p, c = 'r';
	int bad = 0;

	p = mmap_aligned((HB_RANGES + 1) * PMD_SIZE_BYTES);
	for (int r = 0; r < HB_RANGES; r++)
		p[r * PMD_SIZE_BYTES + HB_PAGE * PG] = (char)(r + 1);
	b.p = mmap(NULL, HB_BUSY, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b.p == MAP_FAILED || madvise(b.p, HB_BUSY, MADV_NOHUGEPAGE))
		_exit(2);
	memset(b.p, 1, HB_BUSY);
	for (int i = 0; i < 2; i++)
		if (pthread_create(&thr[i], NULL, hb_mprotect_loop, &b))
			_exit(2);
	if (write(up, &c, 1) != 1)
		_exit(2);
	while (read(down, &c, 1) == 1) {
		if (c == 'n') {
			p[HB_RANGES * PMD_SIZE_BYTES] = 0x55;
		} else if (c == 's') {
			b.stop = 1;
			pthread_join(thr[0], NULL);
			pthread_join(thr[1], NULL);
		} else {
			break;
		}
		if (write(up, &c, 1) != 1)
			_exit(2);
	}
	for (int r = 0; r < HB_RANGES; r++)
		bad += p[r * PMD_SIZE_BYTES + HB_PAGE * PG] != (char)(r + 1);
	bad += p[HB_RANGES * PMD_SIZE_BYTES] != 0x55;
	_exit(bad ? 3 : 0);
}

/* Send @c to the holder and wait for it to echo it. */
static bool hb_step(int down, int up, char c)
{
	char e = 0;

	return write(down, &c, 1) == 1 && read(up, &e, 1) == 1 && e == c;
}

static void test_hibernate_busy_fails(void)
{
	const char *name =
		"hibernate_busy_fails: mmap_lock held past the freezer timeout fails hibernation";
	int up[2] = { -1, -1 }, down[2] = { -1, -1 }, fd, err = 0, kfd, status = 0;
	char timeout[32], c = 0;
	long alloc0, ms = -1;
	struct timespec t0, t1;
	bool ok = true;
	pid_t pid;

	if (access("/dev/snapshot", R_OK) || read_text(PM_TIMEOUT, timeout, sizeof(timeout))) {
		ksft_test_result_skip("%s (no /dev/snapshot or %s)\n", name, PM_TIMEOUT);
		return;
	}
	if (reserved_settle(0)) {
		ksft_test_result_fail("%s (nr_thp_reserved not 0 before the case)\n", name);
		return;
	}
	kfd = kmsg_open();
	if (kfd < 0 || pipe(up) || pipe(down)) {
		ksft_test_result_fail("%s (/dev/kmsg or pipe: %s)\n", name, strerror(errno));
		close_pipes(up, down);
		if (kfd >= 0)
			close(kfd);
		return;
	}
	pid = fork();
	if (!pid) {
		close(up[0]);
		close(down[1]);
		hb_child(up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	up[1] = -1;
	down[0] = -1;
	if (pid < 0 || read(up[0], &c, 1) != 1) {
		ksft_print_msg("the holder did not start\n");
		ok = false;
		goto out;
	}
	vmstat_refresh();
	ok &= expect_eq("nr_thp_reserved with the holder's ranges",
		     vmstat_get("nr_thp_reserved"), HB_RANGES * (NPG - 1));

	write_text(PM_TIMEOUT, "1");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fd = open("/dev/snapshot", O_RDONLY);
	err = errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	write_text(PM_TIMEOUT, timeout);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ksft_print_msg("hibernate_busy_fails: open(/dev/snapshot) %s after %ld ms\n",
		       fd >= 0 ? "succeeded" : strerror(err), ms);
	if (fd >= 0) {
		close(fd);
		ok = false;
	}
	ok &= expect_eq("open(/dev/snapshot) failed with EBUSY", fd < 0 && err == EBUSY, 1);
	ok &= expect_eq("open(/dev/snapshot) took < 2000 ms", ms < 2000, 1);
	if (!kmsg_wait(kfd, REFUSED, 2)) {
		ksft_print_msg("no \"%s\" in the kernel log\n", REFUSED);
		ok = false;
	}
	vmstat_refresh();
	ok &= expect_eq("nr_thp_reserved after the refusal",
		     vmstat_get("nr_thp_reserved"), HB_RANGES * (NPG - 1));
	alloc0 = vmstat_get("thp_res_alloc");
	if (!hb_step(down[1], up[0], 'n')) {
		ksft_print_msg("the holder did not write a new range\n");
		ok = false;
	}
	vmstat_refresh();
	ok &= expect_eq("thp_res_alloc delta for a new range after the refusal",
		     vmstat_get("thp_res_alloc") - alloc0, 1);
	if (!hb_step(down[1], up[0], 's')) {
		ksft_print_msg("the holder did not stop its threads\n");
		ok = false;
	}
	fd = open("/dev/snapshot", O_RDONLY);
	if (fd < 0) {
		ksft_print_msg("open(/dev/snapshot) with the lock free: %s\n", strerror(errno));
		ok = false;
	} else {
		vmstat_refresh();
		ok &= expect_eq("nr_thp_reserved with a hibernation started",
			     vmstat_get("nr_thp_reserved"), 0);
		close(fd);
	}
	c = 'x';
	if (write(down[1], &c, 1) != 1)
		ok = false;
out:
	close_pipes(up, down);
	close(kfd);
	if (pid > 0 && (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
			WEXITSTATUS(status))) {
		ksft_print_msg("holder: status %#x\n", status);
		ok = false;
	}
	ok &= expect_eq("nr_thp_reserved after the holder", reserved_settle(0), 0);
	ksft_test_result(ok, "%s\n", name);
}

int main(void)
{
	thp_reserve_start();
	ksft_set_plan(3);
	test_node_reclaim_no_unmap();
	test_oom_reaped_no_populate();
	test_hibernate_busy_fails();
	ksft_finished();
}
