// SPDX-License-Identifier: GPL-2.0
/*
 * mthp_bench SIZE_MIB SECONDS: the half-dense pattern of make bench-mthp.
 * In each 2 MiB range of SIZE_MIB, every fourth 64 KiB chunk is written
 * whole and each other chunk gets one page: 152 of 512 pages used, below
 * the default promotion threshold. Then drop_caches (echo 2) lets the
 * reservation shrinker break every reservation (the mTHP fallback keeps
 * the dense chunks), and SECONDS of random 8-byte updates to the used
 * pages follow a 1 s warm-up. Prints KEY=value lines: touch_ms, break_ms,
 * rss_kib, anon_huge_kib, mthp64_folios (the change of
 * hugepages-64kB/stats/nr_anon), thp_res_mthp_promote (its change; n/a
 * for a counter the kernel lacks) and updates_per_s.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_util.h"

#define PMD	(2UL << 20)
#define PG	4096UL
#define CHUNK	16		/* pages per 64 KiB chunk */
#define NPG	512		/* pages per 2 MiB range */
#define NR_64K	"/sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats/nr_anon"

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

/* Page pg of a range is used by the pattern. */
static int used(unsigned int pg)
{
	return (pg / CHUNK) % 4 == 0 || pg % CHUNK == 0;
}

/* print_delta: "KEY=AFTER-BEFORE", or "KEY=n/a" if the counter is missing. */
static void print_delta(const char *key, long before, long after)
{
	if (before < 0 || after < 0)
		printf("%s=n/a\n", key);
	else
		printf("%s=%ld\n", key, after - before);
}

int main(int argc, char **argv)
{
	size_t len, nr_used = 0, n = 0;
	uint64_t x = 88172645463325252ULL;
	long nr64, promote;
	double t0, t = 0;
	uint32_t *pages;
	char *p;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SIZE_MIB SECONDS\n", argv[0]);
		return 2;
	}
	len = strtoul(argv[1], NULL, 10) << 20;
	p = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	p = (char *)(((unsigned long)p + PMD - 1) & ~(PMD - 1));
	pages = malloc(len / PG * sizeof(*pages));
	if (!pages)
		return 1;
	nr64 = read_long(NR_64K);
	promote = vmstat("thp_res_mthp_promote");

	t0 = now_s();
	for (size_t pg = 0; pg < len / PG; pg++)
		if (used(pg % NPG)) {
			memset(p + pg * PG, 0x5a, PG);
			pages[nr_used++] = pg;
		}
	printf("touch_ms=%.1f\n", (now_s() - t0) * 1e3);

	t0 = now_s();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd < 0 || write(fd, "2", 1) != 1)
		return 1;
	close(fd);
	printf("break_ms=%.1f\n", (now_s() - t0) * 1e3);
	printf("rss_kib=%ld\n", smaps_kb(p, "Rss"));
	printf("anon_huge_kib=%ld\n", smaps_kb(p, "AnonHugePages"));
	print_delta("mthp64_folios", nr64, read_long(NR_64K));
	print_delta("thp_res_mthp_promote", promote, vmstat("thp_res_mthp_promote"));

	for (int phase = 0; phase < 2; phase++) {
		t0 = now_s();
		n = 0;
		do {
			for (int i = 0; i < 4096; i++) {
				xorshift64(&x);
				((uint64_t *)(p + pages[x % nr_used] * PG))[(x >> 32) % (PG / 8)] += x;
			}
			n += 4096;
			t = now_s() - t0;
		} while (t < (phase ? atof(argv[2]) : 1.0));
	}
	printf("updates_per_s=%.0f\n", n / t);
	return 0;
}
