// SPDX-License-Identifier: GPL-2.0
/*
 * thp_touch: map anonymous memory, touch it in a pattern and report what the
 * kernel gave it (Rss, AnonHugePages) and the THP counters that moved.
 *
 *   thp_touch SIZE_MIB sparse|dense|PAGES_PER_2MIB [SETTLE_SECONDS]
 *
 * sparse writes one base page per 2 MiB, dense every page, a number N the
 * first N pages of each 2 MiB. After SETTLE_SECONDS (default 0) it reports
 * again, so khugepaged's work shows.
 *
 * Each report is two lines for people and one for scripts, which begins
 * with "kv" and holds key=value words: when (touched or settled), rss_kb,
 * anon_huge_kb, memfree_delta_kb (MemFree now minus at the start) and each
 * counter's rise since the start under its own name (counters this kernel
 * lacks are left out).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HPAGE	(2UL << 20)
#define PAGE	4096UL

static long field(const char *path, const char *key, unsigned long addr)
{
	char line[512];
	unsigned long s, e;
	int in = addr == 0;
	long v = -1;
	size_t kl = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (addr && sscanf(line, "%lx-%lx ", &s, &e) == 2 && line[strcspn(line, " ")] == ' ' &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = addr >= s && addr < e;
			continue;
		}
		if (in && !strncmp(line, key, kl) && (line[kl] == ':' || line[kl] == ' ')) {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

#define KHUGEPAGED "/sys/kernel/mm/transparent_hugepage/khugepaged/"

/* /proc/vmstat names, or sysfs files that hold one number. */
static const char *const counters[] = {
	"thp_fault_alloc", "thp_collapse_alloc", "thp_res_alloc", "thp_res_populate",
	"thp_res_release", "nr_thp_reserved", "thp_res_promote", "thp_res_promote_failed",
	KHUGEPAGED "res_pages_collapsed",
};
#define NR_CTR (sizeof(counters) / sizeof(counters[0]))

/* Folds the per-CPU vmstat deltas in, so that small changes show. */
static void refresh(void)
{
	FILE *f = fopen("/proc/sys/vm/stat_refresh", "w");

	if (f) {
		fputs("1", f);
		fclose(f);
	}
}

/* A counter's value, or -1 if this kernel has none of that name. */
static long counter(const char *name)
{
	long v = -1;
	FILE *f;

	if (name[0] != '/')
		return field("/proc/vmstat", name, 0);
	f = fopen(name, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void report(const char *when, char *p, long base[NR_CTR], long free0)
{
	long rss, huge, dfree, v[NR_CTR];
	const char *name[NR_CTR];
	size_t i;

	refresh();
	rss = field("/proc/self/smaps", "Rss", (unsigned long)p);
	huge = field("/proc/self/smaps", "AnonHugePages", (unsigned long)p);
	dfree = field("/proc/meminfo", "MemFree", 0) - free0;
	for (i = 0; i < NR_CTR; i++) {
		const char *slash = strrchr(counters[i], '/');

		name[i] = slash ? slash + 1 : counters[i];
		v[i] = counter(counters[i]);
	}
	printf("  %-8s Rss %7ld kB  AnonHugePages %7ld kB  MemFree %+8ld kB\n          ",
	       when, rss, huge, dfree);
	for (i = 0; i < NR_CTR; i++)
		if (v[i] >= 0)
			printf(" %s %+ld", name[i], v[i] - base[i]);
	printf("\n  kv when=%s rss_kb=%ld anon_huge_kb=%ld memfree_delta_kb=%ld",
	       when, rss, huge, dfree);
	for (i = 0; i < NR_CTR; i++)
		if (v[i] >= 0)
			printf(" %s=%ld", name[i], v[i] - base[i]);
	printf("\n");
}

int main(int argc, char **argv)
{
	unsigned long size, per, off;
	long base[NR_CTR], free0;
	char *raw, *p;

	if (argc < 3) {
		fprintf(stderr, "usage: thp_touch SIZE_MIB sparse|dense|PAGES_PER_2MIB [SETTLE_SECONDS]\n");
		return 2;
	}
	size = strtoul(argv[1], NULL, 0) << 20;
	if (!strcmp(argv[2], "sparse"))
		per = 1;
	else if (!strcmp(argv[2], "dense"))
		per = HPAGE / PAGE;
	else
		per = strtoul(argv[2], NULL, 0);
	if (!size || !per || per > HPAGE / PAGE) {
		fprintf(stderr, "thp_touch: bad size or pattern\n");
		return 2;
	}
	refresh();
	for (size_t i = 0; i < NR_CTR; i++)
		base[i] = counter(counters[i]);
	free0 = field("/proc/meminfo", "MemFree", 0);
	raw = mmap(NULL, size + HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	for (off = 0; off < size; off += HPAGE)
		for (unsigned long i = 0; i < per; i++)
			p[off + i * PAGE] = 1;
	printf("thp_touch: %lu MiB, %lu of %lu pages per 2 MiB written\n", size >> 20, per, HPAGE / PAGE);
	report("touched", p, base, free0);
	if (argc > 3 && atoi(argv[3]) > 0) {
		sleep(atoi(argv[3]));
		report("settled", p, base, free0);
	}
	return 0;
}
