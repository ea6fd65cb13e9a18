// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the project's selftests; see thp_util.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../kselftest.h"
#include "thp_util.h"

int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int write_text(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = -errno;
	else if ((size_t)n != strlen(val))
		err = -EIO;
	close(fd);
	return err;
}

int thp_get_policy(const char *name, char *buf, size_t len)
{
	char path[256], raw[256], *l, *r;
	int err;

	snprintf(path, sizeof(path), THP_SYSFS "%s", name);
	err = read_text(path, raw, sizeof(raw));
	if (err)
		return err;
	l = strchr(raw, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!l || !r) {
		/* A plain value such as khugepaged/max_ptes_none. */
		raw[strcspn(raw, "\n")] = '\0';
		snprintf(buf, len, "%s", raw);
		return 0;
	}
	*r = '\0';
	snprintf(buf, len, "%s", l + 1);
	return 0;
}

void thp_set(const char *name, const char *val)
{
	char path[256];
	int err;

	snprintf(path, sizeof(path), THP_SYSFS "%s", name);
	err = write_text(path, val);
	if (err)
		ksft_exit_fail_msg("write '%s' to %s: %s\n", val, path, strerror(-err));
}

static const char * const saved_names[] = {
	"enabled", "defrag", "use_zero_page", "promotion_threshold", "promotion_early",
	"khugepaged/scan_sleep_millisecs", "khugepaged/pages_to_scan",
	"khugepaged/max_ptes_none", "hugepages-2048kB/enabled",
	"hugepages-16kB/enabled", "hugepages-32kB/enabled", "hugepages-64kB/enabled",
	"hugepages-128kB/enabled", "hugepages-256kB/enabled", "hugepages-512kB/enabled",
	"hugepages-1024kB/enabled",
};

/*
 * The saved values, each with its path, ready to be written back by
 * open(2) and write(2) alone: the restore also runs from a signal
 * handler. Only the process that armed the restore (saved_by) runs it.
 */
static char saved_vals[ARRAY_SIZE(saved_names)][64];
static char saved_paths[ARRAY_SIZE(saved_names)][96];
static bool saved;
static pid_t saved_by;
/* Undo steps of thp_on_cleanup(), run newest first before the knobs. */
static void (*cleanups[4])(void);
static int nr_cleanups;

static void restore_all(void)
{
	if (getpid() != saved_by)
		return;
	for (int i = nr_cleanups - 1; i >= 0; i--)
		cleanups[i]();
	thp_knobs_restore();
}

/*
 * SA_RESETHAND made the action the default one again: the signal, blocked
 * while the handler runs, ends the process once the handler returns.
 */
static void restore_on_signal(int sig)
{
	int err = errno;

	restore_all();
	errno = err;
	raise(sig);
}

/* Restore at exit and on the signals that end a test run from outside. */
static void arm_restore(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE };
	struct sigaction sa = { .sa_handler = restore_on_signal, .sa_flags = SA_RESETHAND };
	struct sigaction old;

	if (saved_by)
		return;
	saved_by = getpid();
	atexit(restore_all);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		/* A signal the caller ignores stays ignored. */
		if (!sigaction(sigs[i], NULL, &old) && old.sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
}

void thp_knobs_save(void)
{
	if (saved)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(saved_names); i++) {
		if (thp_get_policy(saved_names[i], saved_vals[i], sizeof(saved_vals[i])))
			saved_vals[i][0] = '\0';
		snprintf(saved_paths[i], sizeof(saved_paths[i]), THP_SYSFS "%s", saved_names[i]);
	}
	saved = true;
	arm_restore();
}

void thp_knobs_restore(void)
{
	/* A forked child's exit leaves the knobs to its parent. */
	if (getpid() != saved_by)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(saved_names); i++)
		if (saved_vals[i][0])
			write_text(saved_paths[i], saved_vals[i]);
}

void thp_on_cleanup(void (*fn)(void))
{
	for (int i = 0; i < nr_cleanups; i++)
		if (cleanups[i] == fn)
			return;
	if (nr_cleanups == ARRAY_SIZE(cleanups))
		ksft_exit_fail_msg("%s: more than %zu undo steps\n", __func__,
				   ARRAY_SIZE(cleanups));
	cleanups[nr_cleanups++] = fn;
	arm_restore();
}

void thp_reserve_setup(const char *early)
{
	char v[64];

	thp_knobs_save();
	thp_set("enabled", "always");
	if (!thp_get_policy("hugepages-2048kB/enabled", v, sizeof(v)))
		thp_set("hugepages-2048kB/enabled", "inherit");
	thp_set("use_zero_page", "1");
	thp_set("promotion_threshold", "256");
	if (early && !thp_get_policy("promotion_early", v, sizeof(v)))
		thp_set("promotion_early", early);
	thp_set("khugepaged/scan_sleep_millisecs", "600000");
}

long keyed_value_sep(const char *path, const char *key, const char *sep)
{
	char line[256];
	size_t klen = strlen(key);
	long val = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && strchr(sep, line[klen])) {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

long vmstat_get(const char *name)
{
	return keyed_value_sep("/proc/vmstat", name, " ");
}

void vmstat_refresh(void)
{
	/*
	 * Node and zone counters (nr_thp_reserved, nr_free_pages) live partly
	 * in per-cpu deltas that /proc/vmstat does not add in; this folds them.
	 */
	write_text("/proc/sys/vm/stat_refresh", "1");
}

long keyed_file_value(const char *path, const char *key)
{
	return keyed_value_sep(path, key, " ");
}

long meminfo_kb(const char *field)
{
	return keyed_value_sep("/proc/meminfo", field, ":");
}

long free_kb(void)
{
	char line[256];
	long pcp = 0, n;
	FILE *f;

	vmstat_refresh();
	/* Freed pages sit on per-cpu lists, uncounted in MemFree, for a while. */
	f = fopen("/proc/zoneinfo", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, " count: %ld", &n) == 1)
				pcp += n;
		fclose(f);
	}
	return meminfo_kb("MemFree") + pcp * (getpagesize() / 1024);
}

long free_slab_kb(void)
{
	long free = free_kb();

	return free + meminfo_kb("Slab");
}

long smaps_kb(void *addr, const char *field)
{
	char line[512];
	size_t flen = strlen(field);
	unsigned long start, end, a = (unsigned long)addr;
	bool in = false;
	long val = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = a >= start && a < end;
			continue;
		}
		if (in && !strncmp(line, field, flen) && line[flen] == ':') {
			val = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

void *mmap_aligned(size_t len)
{
	size_t span = len + PMD_SIZE_BYTES;
	char *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		ksft_exit_fail_msg("mmap %zu: %s\n", span, strerror(errno));
	a = (char *)(((uintptr_t)p + PMD_SIZE_BYTES - 1) & ~(PMD_SIZE_BYTES - 1));
	if (a > p)
		munmap(p, a - p);
	if (a + len < p + span)
		munmap(a + len, p + span - (a + len));
	return a;
}

/*
 * len bytes, 2 MiB aligned, between two PROT_NONE 2 MiB guards so that the
 * VMA never merges with a neighbour and its smaps entry is its own.
 */
char *map_region(size_t len)
{
	char *g = mmap_aligned(len + 2 * PMD_SIZE_BYTES);

	if (mprotect(g, PMD_SIZE_BYTES, PROT_NONE) ||
	    mprotect(g + PMD_SIZE_BYTES + len, PMD_SIZE_BYTES, PROT_NONE))
		ksft_exit_fail_msg("mprotect guard: %s\n", strerror(errno));
	return g + PMD_SIZE_BYTES;
}

/* Unmap what map_region(len) returned p for, guards included. */
void unmap_region(char *p, size_t len)
{
	munmap(p - PMD_SIZE_BYTES, len + 2 * PMD_SIZE_BYTES);
}

unsigned long pagemap_pfn(void *addr)
{
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);
	off_t off = (uintptr_t)addr / getpagesize() * sizeof(ent);

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), off) != sizeof(ent))
		ent = 0;
	close(fd);
	if (!(ent & (1ULL << 63)))
		return 0;
	return ent & ((1ULL << 55) - 1);
}

unsigned long long kpageflags(unsigned long pfn)
{
	uint64_t flags;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0)
		return ~0ULL;
	if (pread(fd, &flags, sizeof(flags), pfn * sizeof(flags)) != sizeof(flags))
		flags = ~0ULL;
	close(fd);
	return flags;
}

bool expect_eq(const char *what, long got, long want)
{
	if (got == want)
		return true;
	ksft_print_msg("%s is %ld, want %ld\n", what, got, want);
	return false;
}

static void fail_reclaim_off(void)
{
	write_text(FAIL_DIR "probability", "0");
}

bool fail_reclaim_set(const char *prob, const char *times)
{
	if (strcmp(prob, "0"))
		thp_on_cleanup(fail_reclaim_off);
	return !write_text(FAIL_DIR "verbose", "0") &&
	       !write_text(FAIL_DIR "interval", "1") &&
	       !write_text(FAIL_DIR "times", times) &&
	       !write_text(FAIL_DIR "probability", prob);
}

bool free_back(const char *what, long before)
{
	long now = 0;

	for (int i = 0; i < 40; i++) {
		now = free_slab_kb();
		if (now >= before - 8192)
			return true;
		usleep(100000);
	}
	ksft_print_msg("%s: free memory %ld kB, %ld kB before\n", what, now, before);
	return false;
}

/* Set when cg_setup() enabled the memory controller, for cg_done(). */
static bool cg_enabled_memory;

bool cg_setup(const char *cg)
{
	char buf[256];

	if (read_text(CG_ROOT "cgroup.subtree_control", buf, sizeof(buf)))
		return false;
	if (!strstr(buf, "memory")) {
		if (write_text(CG_ROOT "cgroup.subtree_control", "+memory"))
			return false;
		cg_enabled_memory = true;
	}
	rmdir(cg);
	return !mkdir(cg, 0755);
}

void cg_done(const char *cg)
{
	for (int i = 0; i < 20 && rmdir(cg); i++)
		usleep(100000);
	if (cg_enabled_memory)
		write_text(CG_ROOT "cgroup.subtree_control", "-memory");
	cg_enabled_memory = false;
}

long reserved_settle(long want)
{
	long v = -1;

	for (int i = 0; i < 20; i++) {
		vmstat_refresh();
		v = vmstat_get("nr_thp_reserved");
		if (v == want)
			break;
		usleep(100000);
	}
	return v;
}

void thp_reserve_require(void)
{
	char v[64];

	if (getpagesize() != 4096)
		ksft_exit_skip("base pages are %d bytes, not 4 KiB\n", getpagesize());
	if (thp_get_policy("enabled", v, sizeof(v)))
		ksft_exit_skip("no transparent hugepage support\n");
	if (read_text(THP_SYSFS "hpage_pmd_size", v, sizeof(v)) ||
	    strtoul(v, NULL, 10) != PMD_SIZE_BYTES)
		ksft_exit_skip("PMD-sized pages are not 2 MiB\n");
	if (thp_get_policy("promotion_threshold", v, sizeof(v)))
		ksft_exit_skip("no THP reservations (no " THP_SYSFS "promotion_threshold)\n");
}

void thp_reserve_start(void)
{
	ksft_print_header();
	thp_reserve_require();
	thp_reserve_setup(NULL);
}

bool swap_device(char *dev, size_t len)
{
	char line[512], fmt[16];
	FILE *f = fopen("/proc/swaps", "r");
	bool ok;

	if (!f)
		return false;
	snprintf(fmt, sizeof(fmt), "%%%zus", len - 1);
	ok = fgets(line, sizeof(line), f) && fgets(line, sizeof(line), f) &&
	     sscanf(line, fmt, dev) == 1 && !strncmp(dev, "/dev/", 5);
	fclose(f);
	return ok;
}

bool find_program(const char *name, char *path, size_t len)
{
	const char *dirs = getenv("PATH");
	const char *d, *end;

	if (!dirs || !*dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	for (d = dirs; *d; d = *end ? end + 1 : end) {
		end = strchr(d, ':');
		if (!end)
			end = d + strlen(d);
		snprintf(path, len, "%.*s/%s", (int)(end - d), d, name);
		if (end > d && !access(path, X_OK))
			return true;
	}
	return false;
}
