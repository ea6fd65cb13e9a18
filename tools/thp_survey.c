// SPDX-License-Identifier: GPL-2.0
/*
 * thp_survey: how many base pages of each aligned 2 MiB range of anonymous
 * THP-eligible memory a set of processes use, and what that means for THP
 * policies (see usage() for the interface, the definitions and the
 * output).
 *
 * Sources, all read-only: /proc/PID/smaps (the VMAs, which are anonymous
 * and private, and their VmFlags), /proc/PID/status (THP_enabled),
 * /proc/PID/pagemap (present or swapped,
 * and the PFN), /proc/kpageflags (THP, zero page) and, with --zero-scan,
 * /proc/PID/mem for the contents of the pages of huge pages. Needs root
 * for PFNs and kpageflags; a process that exits meanwhile is skipped.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE		4096UL
#define NR		512UL
#define HPAGE		(NR * PAGE)

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAP		(1ULL << 62)
#define PM_PFN		((1ULL << 55) - 1)
#define KPF_THP		(1ULL << 22)
#define KPF_ZERO_PAGE	(1ULL << 24)

#define MAX_T		64

/* What the survey has found so far, over every range of every process. */
struct survey {
	unsigned long hist[NR + 1];	/* ranges by used pages */
	unsigned long huge;		/* ranges backed by one 2 MiB THP */
	unsigned long procs;		/* processes read */
	unsigned long skipped;		/* processes gone or unreadable */
	unsigned long thp_off;		/* processes read, THP off for them */
	bool zero_scan;			/* huge pages' pages read for zeroes */
	unsigned long lo, hi;		/* only ranges inside [lo, hi) */
	int kpf;			/* /proc/kpageflags, or -1 */
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"NAME\n"
"    thp_survey - used base pages per 2 MiB of anonymous memory, and what\n"
"    THP policies make of them\n"
"\n"
"SYNOPSIS\n"
"    %s [OPTIONS] -p PID [-p PID ...]\n"
"    %s [OPTIONS] -c CGROUP_DIR\n"
"    %s [OPTIONS] -a\n"
"\n"
"DESCRIPTION\n"
"    For every aligned 2 MiB range that lies wholly inside a private\n"
"    anonymous VMA of the chosen processes that could have huge pages\n"
"    whatever the system's THP setting (not MADV_NOHUGEPAGE, VmFlags 'nh';\n"
"    not in a process that turned THP off, THP_enabled: 0 in its status),\n"
"    counts the range's used base pages: pages present (not the shared\n"
"    zero page) or swapped out. A range backed by one 2 MiB huge page has\n"
"    all 512 present; with --zero-scan a page of it that holds only zeroes\n"
"    counts as unused (it was most likely filled in by the kernel, not\n"
"    written). Ranges with no used page cost memory under no policy and\n"
"    are left out of every figure but 'empty ranges'.\n"
"\n"
"    From the histogram of used pages per range, for each threshold T:\n"
"      promoted       ranges with at least T used pages (a reservation at\n"
"                     promotion_threshold T maps them by a huge page)\n"
"      always_extra   pages THP=always maps beyond the used ones: 512 - used\n"
"                     summed over every range; the same for every T\n"
"      saved          of those, the pages of ranges below T, which a\n"
"                     reservation never maps and reclaim takes back first\n"
"      zero_filled    the pages a promotion at T fills with zeroes: 512 -\n"
"                     used summed over the promoted ranges\n"
"    saved + zero_filled = always_extra. Pages are 4 KiB.\n"
"\n"
"OPTIONS\n"
"    -p, --pid PID        survey this process (repeatable)\n"
"    -c, --cgroup DIR     survey the processes of a cgroup v2 directory\n"
"                         (its cgroup.procs, not its descendants')\n"
"    -a, --all            survey every process\n"
"    -r, --range LO-HI    only ranges inside [LO, HI) (hexadecimal\n"
"                         addresses, as in smaps)\n"
"    -t, --thresholds T,...\n"
"                         thresholds, 1-512 (default 1,64,128,256,384,512)\n"
"    -z, --zero-scan      read the pages of huge pages for zeroes\n"
"        --csv hist|thresholds\n"
"                         print one CSV table instead of the report:\n"
"                         used_pages,ranges (every count from 1 to 512) or\n"
"                         threshold,promoted,always_extra,saved,zero_filled\n"
"                         (pages)\n"
"    -h, --help           this text\n"
"\n"
"EXIT STATUS\n"
"    0 when at least one process was read, 1 when none could be, 2 on\n"
"    bad usage.\n",
		prog, prog, prog);
}

/* The smaps fields of one VMA that decide whether it is surveyed. */
struct vma {
	unsigned long start, end;
	bool private_anon;
	bool nohugepage;	/* VmFlags "nh": MADV_NOHUGEPAGE */
};

/*
 * The number of used pages of the range at @addr: present (not the zero
 * page) or swapped. *@huge is set when the range is backed by one 2 MiB
 * huge page: every page present, THP, and the PFNs those of one aligned
 * 2 MiB block in order (whether one PMD or 512 PTEs map it).
 */
static unsigned int range_used(struct survey *s, int pm, int mem,
			       unsigned long addr, bool *huge)
{
	uint64_t e[NR], flags;
	unsigned int used = 0, present = 0, i;
	bool thp = true;
	static char buf[PAGE];

	*huge = false;
	if (pread(pm, e, sizeof(e), addr / PAGE * sizeof(e[0])) != sizeof(e))
		return 0;
	for (i = 0; i < NR; i++) {
		if (e[i] & PM_SWAP) {
			used++;
			thp = false;
			continue;
		}
		if (!(e[i] & PM_PRESENT)) {
			thp = false;
			continue;
		}
		present++;
		flags = 0;
		if (s->kpf >= 0 && (e[i] & PM_PFN) &&
		    pread(s->kpf, &flags, sizeof(flags),
			  (e[i] & PM_PFN) * sizeof(flags)) != sizeof(flags))
			flags = 0;
		if (flags & KPF_ZERO_PAGE) {
			thp = false;
			continue;
		}
		if (!(flags & KPF_THP))
			thp = false;
		used++;
	}
	/* One 2 MiB huge page: 512 present THP pages, contiguous, aligned. */
	if (thp && present == NR &&
	    (e[0] & PM_PFN) % NR == 0 &&
	    (e[NR - 1] & PM_PFN) == (e[0] & PM_PFN) + NR - 1)
		*huge = true;
	if (!*huge || !s->zero_scan || mem < 0)
		return used;
	used = 0;
	for (i = 0; i < NR; i++) {
		if (pread(mem, buf, PAGE, addr + i * PAGE) != (ssize_t)PAGE) {
			used++;
			continue;
		}
		if (buf[0] || memcmp(buf, buf + 1, PAGE - 1))
			used++;
	}
	return used;
}

/* Survey the ranges of one VMA. */
static void survey_vma(struct survey *s, int pm, int mem, const struct vma *v)
{
	unsigned long a = (v->start + HPAGE - 1) & ~(HPAGE - 1);
	unsigned int used;
	bool huge;

	if (!v->private_anon || v->nohugepage)
		return;
	for (; a + HPAGE <= v->end; a += HPAGE) {
		if (a < s->lo || a + HPAGE > s->hi)
			continue;
		used = range_used(s, pm, mem, a, &huge);
		s->hist[used]++;
		s->huge += huge;
	}
}

/*
 * Has the process turned THP off for itself (prctl(PR_SET_THP_DISABLE),
 * "THP_enabled: 0" in its status)?
 */
static bool thp_disabled(int pid)
{
	char path[64], line[256];
	bool off = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "THP_enabled:", 12))
			off = atoi(line + 12) == 0;
	fclose(f);
	return off;
}

/* Open the process's pagemap, and its memory for --zero-scan. */
static int open_maps(const struct survey *s, int pid, int *pm, int *mem)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	*pm = open(path, O_RDONLY);
	if (*pm < 0)
		return -1;
	if (s->zero_scan) {
		snprintf(path, sizeof(path), "/proc/%d/mem", pid);
		*mem = open(path, O_RDONLY);
	}
	return 0;
}

/* Survey one process; false if it could not be read (gone, no access). */
static bool survey_pid(struct survey *s, int pid)
{
	char path[64], line[512];
	struct vma v = { 0 };
	bool in = false;
	int pm, mem = -1;
	FILE *f;

	if (thp_disabled(pid)) {
		s->thp_off++;
		return true;
	}
	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	/* Opened at the first VMA: a kernel thread has none, and no pagemap. */
	pm = -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, inode;
		char perms[8];
		int n = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu%n", &start, &end,
			   perms, &inode, &n) == 4 && n > 0) {
			if (in)
				survey_vma(s, pm, mem, &v);
			if (pm < 0 && open_maps(s, pid, &pm, &mem)) {
				fclose(f);
				return false;
			}
			v.start = start;
			v.end = end;
			v.nohugepage = false;
			/* Private, no file; [heap], [stack] and unnamed. */
			v.private_anon = perms[3] == 'p' && inode == 0;
			in = true;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8))
			v.nohugepage = strstr(line, " nh") != NULL;
	}
	if (in)
		survey_vma(s, pm, mem, &v);
	fclose(f);
	if (pm >= 0)
		close(pm);
	if (mem >= 0)
		close(mem);
	/* A kernel thread has empty smaps: nothing to count, not an error. */
	return true;
}

static void survey_one(struct survey *s, int pid)
{
	if (survey_pid(s, pid))
		s->procs++;
	else
		s->skipped++;
}

static int survey_cgroup(struct survey *s, const char *dir)
{
	char path[4096];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "thp_survey: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fscanf(f, "%d", &pid) == 1)
		survey_one(s, pid);
	fclose(f);
	return 0;
}

static void survey_all(struct survey *s)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]))
			survey_one(s, atoi(de->d_name));
	closedir(d);
}

/* The figures of one threshold, in pages (see usage()). */
struct at_t {
	unsigned long promoted, always_extra, saved, zero_filled;
};

static struct at_t figures(const struct survey *s, unsigned int t)
{
	struct at_t r = { 0 };
	unsigned int u;

	for (u = 1; u <= NR; u++) {
		unsigned long pages = s->hist[u] * (NR - u);

		r.always_extra += pages;
		if (u >= t) {
			r.promoted += s->hist[u];
			r.zero_filled += pages;
		} else {
			r.saved += pages;
		}
	}
	return r;
}

static double mib(unsigned long pages)
{
	return pages * (double)PAGE / (1 << 20);
}

static void report(const struct survey *s, const unsigned int *t, int nt)
{
	static const unsigned int edge[] = { 1, 2, 17, 65, 129, 257, 385, 512, 513 };
	unsigned long ranges = 0, used = 0;
	unsigned int u;
	int i;

	for (u = 1; u <= NR; u++) {
		ranges += s->hist[u];
		used += s->hist[u] * u;
	}
	printf("processes read: %lu (THP turned off by the process: %lu; "
	       "unreadable: %lu)\n", s->procs, s->thp_off, s->skipped);
	printf("ranges with used pages: %lu (%.1f MiB used of %.1f MiB), "
	       "of them backed by a 2 MiB huge page: %lu (%s)\n",
	       ranges, mib(used), mib(ranges * NR), s->huge,
	       s->zero_scan ? "their zero-filled pages counted as unused" :
			      "all their pages counted as used; see --zero-scan");
	printf("empty ranges (no used page): %lu\n\n", s->hist[0]);
	printf("used pages per 2 MiB   ranges\n");
	for (i = 0; i + 1 < (int)(sizeof(edge) / sizeof(edge[0])); i++) {
		unsigned long n = 0;

		for (u = edge[i]; u < edge[i + 1]; u++)
			n += s->hist[u];
		if (edge[i + 1] - edge[i] == 1)
			printf("%7u               %8lu\n", edge[i], n);
		else
			printf("%7u-%-13u %8lu\n", edge[i], edge[i + 1] - 1, n);
	}
	printf("\n%9s %9s %16s %12s %18s\n", "threshold", "promoted",
	       "always_extra_MiB", "saved_MiB", "zero_filled_MiB");
	for (i = 0; i < nt; i++) {
		struct at_t r = figures(s, t[i]);

		printf("%9u %9lu %16.1f %12.1f %18.1f\n", t[i], r.promoted,
		       mib(r.always_extra), mib(r.saved), mib(r.zero_filled));
	}
}

static int parse_thresholds(const char *arg, unsigned int *t)
{
	char *copy = strdup(arg), *tok, *save = NULL, *end;
	int n = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long v = strtoul(tok, &end, 10);

		if (*end || v < 1 || v > NR || n == MAX_T) {
			free(copy);
			return -1;
		}
		t[n++] = v;
	}
	free(copy);
	return n ? n : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "all", no_argument, NULL, 'a' },
		{ "range", required_argument, NULL, 'r' },
		{ "thresholds", required_argument, NULL, 't' },
		{ "zero-scan", no_argument, NULL, 'z' },
		{ "csv", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int t[MAX_T] = { 1, 64, 128, 256, 384, 512 };
	int pids[1024], npids = 0, nt = 6, c, i;
	const char *cgroup = NULL, *csv = NULL;
	struct survey *s = calloc(1, sizeof(*s));
	bool all = false;
	char *end;

	if (!s)
		return 1;
	s->hi = ~0UL;
	while ((c = getopt_long(argc, argv, "p:c:ar:t:zh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (npids == 1024)
				goto bad;
			pids[npids++] = strtol(optarg, &end, 10);
			if (*end || pids[npids - 1] <= 0)
				goto bad;
			break;
		case 'c':
			cgroup = optarg;
			break;
		case 'a':
			all = true;
			break;
		case 'r':
			if (sscanf(optarg, "%lx-%lx", &s->lo, &s->hi) != 2 ||
			    s->lo >= s->hi)
				goto bad;
			break;
		case 't':
			nt = parse_thresholds(optarg, t);
			if (nt < 0)
				goto bad;
			break;
		case 'z':
			s->zero_scan = true;
			break;
		case 'C':
			csv = optarg;
			if (strcmp(csv, "hist") && strcmp(csv, "thresholds"))
				goto bad;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || (npids > 0) + !!cgroup + all != 1)
		goto bad;

	s->kpf = open("/proc/kpageflags", O_RDONLY);
	if (s->kpf < 0)
		fprintf(stderr, "thp_survey: /proc/kpageflags: %s (huge pages and the zero page are not told apart)\n",
			strerror(errno));
	for (i = 0; i < npids; i++)
		survey_one(s, pids[i]);
	if (cgroup && survey_cgroup(s, cgroup))
		return 1;
	if (all)
		survey_all(s);
	if (!s->procs) {
		fprintf(stderr, "thp_survey: no process could be read\n");
		return 1;
	}

	if (!csv) {
		report(s, t, nt);
	} else if (!strcmp(csv, "hist")) {
		printf("used_pages,ranges\n");
		for (unsigned int u = 1; u <= NR; u++)
			printf("%u,%lu\n", u, s->hist[u]);
	} else {
		printf("threshold,promoted,always_extra,saved,zero_filled\n");
		for (i = 0; i < nt; i++) {
			struct at_t r = figures(s, t[i]);

			printf("%u,%lu,%lu,%lu,%lu\n", t[i], r.promoted,
			       r.always_extra, r.saved, r.zero_filled);
		}
	}
	return 0;
bad:
	fprintf(stderr, "thp_survey: bad usage; see %s --help\n", argv[0]);
	return 2;
}
