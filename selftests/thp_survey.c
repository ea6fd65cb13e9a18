// SPDX-License-Identifier: GPL-2.0
/*
 * tools/thp_survey against processes whose pattern is known: each case
 * forks a child that writes a chosen number of pages in each 2 MiB range
 * of a mapping and waits, runs the tool on it (restricted to that mapping
 * with --range) and compares every row of its CSV output with the
 * histogram and the per-threshold figures the pattern must give.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kselftest.h"
#include "thp_util.h"

#define NR		512
#define PAGE		4096UL
#define MAX_RANGES	8

static char tool[4096];

/* A pattern: used[i] pages written in range i; read[i] more only read. */
struct pattern {
	int n;
	int used[MAX_RANGES];
	int read[MAX_RANGES];
	int pageout;		/* of each range's used pages, paged out */
	bool thp_off;		/* prctl(PR_SET_THP_DISABLE) first */
	bool huge;		/* MADV_HUGEPAGE: a huge page at the first fault */
	const char *cgroup;	/* join this cgroup first */
};

struct child {
	pid_t pid;
	unsigned long lo, hi;
};

static __noreturn void pattern_child(const struct pattern *pt,
						    int up)
{
	size_t len = pt->n * PMD_SIZE_BYTES;
	volatile char sink;
	char *p, buf[64];

	if (pt->cgroup) {
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (write_text(pt->cgroup, buf))
			_exit(1);
	}
	if (pt->thp_off && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		_exit(1);
	p = mmap_aligned(len);
	if (pt->huge && madvise(p, len, MADV_HUGEPAGE))
		_exit(1);
	for (int r = 0; r < pt->n; r++) {
		char *q = p + r * PMD_SIZE_BYTES;

		/* Read-only pages after the written ones: the zero page. */
		for (int i = 0; i < pt->read[r]; i++)
			sink = q[(pt->used[r] + i) * PAGE];
		for (int i = 0; i < pt->used[r]; i++)
			q[i * PAGE] = (char)(1 + i % 250);
		if (pt->pageout &&
		    madvise(q, pt->pageout * PAGE, MADV_PAGEOUT))
			_exit(1);
	}
	(void)sink;
	snprintf(buf, sizeof(buf), "%lx-%lx\n", (unsigned long)p,
		 (unsigned long)p + len);
	if (write(up, buf, strlen(buf)) < 0)
		_exit(1);
	for (;;)
		pause();
}

static bool start_child(const struct pattern *pt, struct child *c)
{
	char buf[64] = "";
	int fd[2];
	ssize_t n;

	if (pipe(fd))
		return false;
	c->pid = fork();
	if (!c->pid) {
		close(fd[0]);
		pattern_child(pt, fd[1]);
	}
	close(fd[1]);
	n = read(fd[0], buf, sizeof(buf) - 1);
	close(fd[0]);
	if (c->pid < 0 || n <= 0 ||
	    sscanf(buf, "%lx-%lx", &c->lo, &c->hi) != 2) {
		if (c->pid > 0) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
		}
		ksft_print_msg("pattern child failed\n");
		return false;
	}
	return true;
}

static void stop_child(struct child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
}

/*
 * Run the tool with @args and the child's --range; read the CSV rows into
 * @rows (up to @max lines of @width numbers after the header). Returns the
 * number of rows, or -1.
 */
static int run_tool(const struct child *c, const char *args, long *rows,
		    int max, int width)
{
	char cmd[8192], line[256];
	int n = 0, st;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s -p %d -r %lx-%lx %s", tool, c->pid,
		 c->lo, c->hi, args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f))
		n = -1;
	while (n >= 0 && n < max && fgets(line, sizeof(line), f)) {
		char *s = line, *end;

		for (int k = 0; k < width; k++) {
			rows[n * width + k] = strtol(s, &end, 10);
			s = *end == ',' ? end + 1 : end;
		}
		n++;
	}
	st = pclose(f);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		ksft_print_msg("%s: exit status %d\n", cmd, WEXITSTATUS(st));
		return -1;
	}
	return n;
}

/* The histogram the tool gives must be exactly @want (per used count). */
static bool check_hist(const struct child *c, const char *extra,
		       const long *want)
{
	static long rows[NR * 2];
	char args[128];
	bool ok = true;

	snprintf(args, sizeof(args), "%s --csv hist", extra);
	if (run_tool(c, args, rows, NR, 2) != NR)
		return false;
	for (int u = 1; u <= NR; u++) {
		char what[64];

		snprintf(what, sizeof(what), "ranges with %d used pages", u);
		ok &= expect_eq(what, rows[(u - 1) * 2 + 1], want[u]) &&
		      rows[(u - 1) * 2] == u;
	}
	return ok;
}

/*
 * The per-threshold rows must follow from @want: promoted, always_extra,
 * saved and zero_filled (pages), computed here by their definitions.
 */
static bool check_thresholds(const struct child *c, const char *extra,
			     const long *want)
{
	static const int t[] = { 1, 64, 256, 300, 512 };
	long rows[5 * 5];
	char args[128];
	bool ok = true;

	snprintf(args, sizeof(args), "%s --csv thresholds -t 1,64,256,300,512",
		 extra);
	if (run_tool(c, args, rows, 5, 5) != 5)
		return false;
	for (int i = 0; i < 5; i++) {
		long promoted = 0, extra_p = 0, saved = 0, zero = 0;
		char what[64];

		for (int u = 1; u <= NR; u++) {
			extra_p += want[u] * (NR - u);
			if (u >= t[i]) {
				promoted += want[u];
				zero += want[u] * (NR - u);
			} else {
				saved += want[u] * (NR - u);
			}
		}
		snprintf(what, sizeof(what), "T=%d promoted", t[i]);
		ok &= expect_eq(what, rows[i * 5 + 1], promoted);
		snprintf(what, sizeof(what), "T=%d always_extra", t[i]);
		ok &= expect_eq(what, rows[i * 5 + 2], extra_p);
		snprintf(what, sizeof(what), "T=%d saved", t[i]);
		ok &= expect_eq(what, rows[i * 5 + 3], saved);
		snprintf(what, sizeof(what), "T=%d zero_filled", t[i]);
		ok &= expect_eq(what, rows[i * 5 + 4], zero);
	}
	return ok;
}

/* Run @pt, and compare the tool's output with @want (per used count). */
static bool survey_case(const struct pattern *pt, const char *extra,
			const long *want)
{
	struct child c;
	bool ok;

	if (!start_child(pt, &c))
		return false;
	ok = check_hist(&c, extra, want);
	ok = check_thresholds(&c, extra, want) && ok;
	stop_child(&c);
	return ok;
}

/* enabled=never: written pages count, read-only (zero page) ones do not. */
static void test_base_pages(void)
{
	struct pattern pt = {
		.n = 6, .used = { 100, 100, 333, 1, 512, 0 },
		.read = { 50, 0, 0, 0, 0, 40 },
	};
	long want[NR + 1] = { 0 };

	thp_set("enabled", "never");
	want[100] = 2;
	want[333] = 1;
	want[1] = 1;
	want[512] = 1;
	ksft_test_result(survey_case(&pt, "", want),
			 "base pages: histogram and thresholds exact, zero page not counted\n");
}

/* Swapped-out pages are used pages. */
static void test_swapped(void)
{
	struct pattern pt = { .n = 2, .used = { 200, 7 }, .pageout = 5 };
	long want[NR + 1] = { 0 }, out0 = vmstat_get("pswpout");
	char swaps[256];
	bool ok;

	if (read_text("/proc/swaps", swaps, sizeof(swaps)) ||
	    !strchr(swaps, '\n') || !strchr(strchr(swaps, '\n') + 1, '\n')) {
		ksft_test_result_skip("swapped pages: no swap device\n");
		return;
	}
	thp_set("enabled", "never");
	want[200] = 1;
	want[7] = 1;
	ok = survey_case(&pt, "", want);
	vmstat_refresh();
	ok &= expect_eq("pswpout delta", vmstat_get("pswpout") - out0 >= 10, 1);
	ksft_test_result(ok, "swapped pages count as used\n");
}

/*
 * In a MADV_HUGEPAGE mapping (direct compaction at the fault, and a huge
 * page at the first fault under reservations too) a written range is one
 * huge page: all 512 pages count, unless --zero-scan finds the ones never
 * written.
 */
static void test_huge_zero_scan(void)
{
	struct pattern pt = { .n = 3, .used = { 300, 1, 512 }, .huge = true };
	long all[NR + 1] = { 0 }, scanned[NR + 1] = { 0 };
	struct child c;
	bool ok;

	thp_set("enabled", "madvise");
	all[512] = 3;
	scanned[300] = 1;
	scanned[1] = 1;
	scanned[512] = 1;
	if (!start_child(&pt, &c)) {
		ksft_test_result_fail("huge pages: pattern child\n");
		return;
	}
	ok = check_hist(&c, "", all);
	ok = check_hist(&c, "-z", scanned) && ok;
	ok = check_thresholds(&c, "-z", scanned) && ok;
	stop_child(&c);
	ksft_test_result(ok, "huge pages: all pages used, --zero-scan counts the written ones\n");
}

/* Where cgroup v2 is mounted, into @buf; false if nowhere. */
static bool cgroup2_root(char *buf, size_t len)
{
	char dev[256], dir[1024], type[64];
	bool found = false;
	FILE *f = fopen("/proc/self/mounts", "r");

	while (f && !found &&
	       fscanf(f, "%255s %1023s %63s %*[^\n]", dev, dir, type) == 3)
		found = !strcmp(type, "cgroup2");
	if (f)
		fclose(f);
	if (found)
		snprintf(buf, len, "%s", dir);
	return found;
}

/* A process that turned THP off is not surveyed; -c reads a cgroup. */
static void test_thp_off_and_cgroup(void)
{
	struct pattern off = { .n = 1, .used = { 100 }, .thp_off = true };
	struct pattern in = { .n = 2, .used = { 3, 400 } };
	long none[NR + 1] = { 0 }, want[NR + 1] = { 0 };
	char cmd[8192], line[256], root[1024], cg[1100], procs[1200];
	struct child c;
	bool ok;
	FILE *f;
	int n = 0;

	thp_set("enabled", "never");
	ok = survey_case(&off, "", none);

	if (!cgroup2_root(root, sizeof(root))) {
		ksft_test_result_fail("cgroup: no cgroup2 mount\n");
		return;
	}
	snprintf(cg, sizeof(cg), "%s/thp_survey_test", root);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	in.cgroup = procs;
	if (mkdir(cg, 0755) && errno != EEXIST) {
		ksft_test_result_fail("cgroup: mkdir %s: %s\n", cg, strerror(errno));
		return;
	}
	want[3] = 1;
	want[400] = 1;
	if (!start_child(&in, &c)) {
		rmdir(cg);
		ksft_test_result_fail("cgroup: pattern child\n");
		return;
	}
	/* The whole cgroup: its one process, every range of it. */
	snprintf(cmd, sizeof(cmd), "%s -c %s --csv hist", tool, cg);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f)) {
		int u;
		long r;

		if (sscanf(line, "%d,%ld", &u, &r) == 2 && u == 400)
			n += expect_eq("cgroup: ranges with 400 used", r, 1);
	}
	ok &= f && pclose(f) == 0 && expect_eq("cgroup rows checked", n, 1);
	ok = check_hist(&c, "", want) && ok;
	stop_child(&c);
	rmdir(cg);
	ksft_test_result(ok, "THP turned off by the process: nothing surveyed; -c reads a cgroup\n");
}

/* Bad usage: exit status 2, nothing on stdout. */
static void test_bad_usage(void)
{
	static const char *const bad[] = {
		"", "-p 1 -a", "-p 1 -t 0", "-p 1 -t 513", "-p 1 -t 5,x",
		"-p 1 --csv foo", "-p 1 -r 10-5", "-p 0", "-p 1 extra",
	};
	char cmd[8192], out[64];
	bool ok = true;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		FILE *f;
		size_t n;
		int st;

		snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", tool, bad[i]);
		f = popen(cmd, "r");
		n = f ? fread(out, 1, sizeof(out), f) : 1;
		st = f ? pclose(f) : -1;
		if (n || !WIFEXITED(st) || WEXITSTATUS(st) != 2) {
			ksft_print_msg("'%s': exit %d, %zu bytes out; want 2, none\n",
				       bad[i], WEXITSTATUS(st), n);
			ok = false;
		}
	}
	ksft_test_result(ok, "bad usage exits 2 with nothing on stdout\n");
}

int main(int argc, char **argv)
{
	char exe[2048];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	ksft_print_header();
	if (getenv("THP_SURVEY")) {
		snprintf(tool, sizeof(tool), "%s", getenv("THP_SURVEY"));
	} else if (n > 0) {
		exe[n] = '\0';
		/* build/kselftest/project/thp_survey -> build/tools/thp_survey */
		*strrchr(exe, '/') = '\0';
		snprintf(tool, sizeof(tool), "%s/../../tools/thp_survey", exe);
	}
	if (access(tool, X_OK))
		ksft_exit_fail_msg("no tool at '%s' (make selftests builds it)\n", tool);
	thp_knobs_save();
	ksft_set_plan(5);
	test_base_pages();
	test_swapped();
	test_huge_zero_scan();
	test_thp_off_and_cgroup();
	test_bad_usage();
	thp_knobs_restore();
	ksft_finished();
}
