// SPDX-License-Identifier: GPL-2.0
/*
 * thp_bench: the single-process scenarios of make bench.
 *
 *   thp_bench sparse SIZE_MIB        first touch of one page per 2 MiB
 *   thp_bench dense SIZE_MIB         first touch of every page
 *   thp_bench tohuge SIZE_MIB USED SECONDS
 *                                    write USED of 512 pages per 2 MiB,
 *                                    then sample the PMD-mapped share
 *   thp_bench gups SIZE_MIB SECONDS  fill, warm up, then random updates
 *
 * Every mode maps SIZE_MIB of 2 MiB-aligned private anonymous memory.
 * Output: "key=value" lines; tohuge adds "sample=SECONDS FRACTION" lines.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define HPAGE	(2UL << 20)
#define PAGE	4096UL

static char *map_aligned(size_t len)
{
	char *raw = mmap(NULL, len + HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (raw == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
}

static void report_memory(char *p)
{
	printf("rss_kib=%ld\nhuge_kib=%ld\n", smaps_kb(p, "Rss"), smaps_kb(p, "AnonHugePages"));
}

/*
 * Write all of len bytes once and give them back. Under QEMU's TCG the first
 * write to guest memory since boot costs milliseconds per 2 MiB (measured
 * 5.4 ms per sparse reservation fault first in a boot, 0.15 ms the second
 * time), which is the emulator's, not the kernel's: warming the memory
 * first keeps it out of the fault costs.
 */
static void warm(size_t len)
{
	char *w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (w == MAP_FAILED)
		return;
	memset(w, 1, len);
	munmap(w, len);
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * First touch of one page (sparse) or every page (dense) of each 2 MiB.
 * Besides the time: the minor faults the touch took per 2 MiB (exact on
 * any machine), and how much of the range is PMD-mapped the moment the
 * touch ends (huge_kib).
 */
static void first_touch(size_t len, int dense)
{
	char *p;

	warm(len);
	p = map_aligned(len);
	size_t step = dense ? PAGE : HPAGE, n = 0;
	long f0 = minor_faults(), faults;
	double t0 = now_s(), t;

	for (size_t off = 0; off < len; off += step, n++)
		p[off] = 1;
	t = now_s() - t0;
	faults = minor_faults() - f0;
	printf("faults=%zu\ntotal_ms=%.3f\nus_per_touch=%.3f\n", n, t * 1e3, t * 1e6 / n);
	printf("minor_faults_per_2mib=%.2f\n", faults * (double)HPAGE / len);
	report_memory(p);
}

/* Write used of 512 pages per 2 MiB, then sample the PMD-mapped share. */
static void to_huge(size_t len, int used, double secs)
{
	char *p = map_aligned(len);
	double t0, t;

	for (size_t off = 0; off < len; off += HPAGE)
		for (int i = 0; i < used; i++)
			p[off + i * PAGE] = 1;
	t0 = now_s();
	for (;;) {
		long huge = smaps_kb(p, "AnonHugePages");
		int full = huge * 1024L >= (long)len;

		t = now_s() - t0;
		printf("sample=%.1f %.4f\n", t, huge < 0 ? 0 : huge * 1024.0 / len);
		fflush(stdout);
		if (full) {
			printf("seconds_to_huge=%.1f\n", t);
			break;
		}
		if (t >= secs) {
			printf("seconds_to_huge=n/a\n");
			break;
		}
		usleep(500000);
	}
	report_memory(p);
}

/* Fill, warm up for a second, then random 8-byte updates for secs. */
static void gups(size_t len, double secs)
{
	uint64_t *p = (uint64_t *)map_aligned(len), x = 88172645463325252ULL;
	size_t words = len / sizeof(*p), n = 0;
	double t0, t;

	memset(p, 1, len);
	for (int phase = 0; phase < 2; phase++) {
		t0 = now_s();
		n = 0;
		do {
			for (int i = 0; i < 4096; i++) {
				xorshift64(&x);
				p[x % words] += x;
			}
			n += 4096;
			t = now_s() - t0;
		} while (t < (phase ? secs : 1.0));
	}
	printf("updates_per_s=%.0f\n", n / t);
	report_memory((char *)p);
}

int main(int argc, char **argv)
{
	size_t len;

	if (argc < 3)
		goto usage;
	len = strtoul(argv[2], NULL, 10) << 20;
	if (!strcmp(argv[1], "sparse"))
		first_touch(len, 0);
	else if (!strcmp(argv[1], "dense"))
		first_touch(len, 1);
	else if (!strcmp(argv[1], "tohuge") && argc == 5)
		to_huge(len, atoi(argv[3]), atof(argv[4]));
	else if (!strcmp(argv[1], "gups") && argc == 4)
		gups(len, atof(argv[3]));
	else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: %s sparse|dense SIZE_MIB | tohuge SIZE_MIB USED SECONDS | gups SIZE_MIB SECONDS\n",
		argv[0]);
	return 2;
}
