// SPDX-License-Identifier: GPL-2.0
/*
 * promote_bench: the cost of turning a densely used anonymous region into
 * huge pages, and what the huge pages are worth afterwards.
 *
 *   promote_bench SIZE_MIB collapse|nocollapse GUPS_SECONDS
 *
 * Maps SIZE_MIB of 2 MiB-aligned private anonymous memory and writes 511
 * of the 512 base pages of every 2 MiB range (one short of full, so that a
 * reservation is not promoted at its last fault). With "collapse" it then
 * times one MADV_COLLAPSE over the whole region while a second thread
 * calls mincore(), which takes mmap_lock for reading, in a loop: the
 * longest mincore() call is the longest time a reader waited for the
 * collapse's mmap_lock write holds (the collapse is marked touch_begin and
 * touch_end in the trace, see bench_mark()). Finally it does random 8-byte
 * read-modify-writes over the region for GUPS_SECONDS (a GUPS-style loop)
 * and reports updates per second.
 *
 * Output: one "key=value" per line, for the promote scenario of make bench.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif

#define HPAGE	(2UL << 20)
#define PAGE	4096UL

static atomic_int stop;
static double max_wait_s;
static unsigned long nr_waits, nr_long_waits;

/* mincore() on a page of its own mapping, in a loop, until stop. */
static void *reader(void *arg)
{
	unsigned char vec;
	char *q = arg;

	while (!atomic_load(&stop)) {
		double t0 = now_s(), dt;

		mincore(q, PAGE, &vec);
		dt = now_s() - t0;
		nr_waits++;
		if (dt > 1e-3)
			nr_long_waits++;
		if (dt > max_wait_s)
			max_wait_s = dt;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long size, nr, updates = 0, x = 88172645463325252UL;
	long alloc0, promote0, huge;
	double t0, t_collapse = 0, gups_s;
	pthread_t th;
	char *raw, *p, *q;
	int ret = 0;

	if (argc != 4 || (strcmp(argv[2], "collapse") && strcmp(argv[2], "nocollapse"))) {
		fprintf(stderr, "usage: promote_bench SIZE_MIB collapse|nocollapse GUPS_SECONDS\n");
		return 2;
	}
	size = strtoul(argv[1], NULL, 0) << 20;
	gups_s = atof(argv[3]);
	nr = size / HPAGE;
	if (!nr)
		return 2;
	raw = mmap(NULL, size + HPAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED || q == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	q[0] = 1;
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));

	t0 = now_s();
	for (unsigned long r = 0; r < nr; r++)
		for (unsigned long i = 0; i < HPAGE / PAGE - 1; i++)
			p[r * HPAGE + i * PAGE] = (char)(i + 1);
	printf("fill_s=%.3f\n", now_s() - t0);
	printf("huge_kb_after_fill=%ld\n", smaps_kb(p, "AnonHugePages"));

	if (!strcmp(argv[2], "collapse")) {
		alloc0 = vmstat("thp_collapse_alloc");
		promote0 = vmstat("thp_res_promote");
		pthread_create(&th, NULL, reader, q);
		usleep(100000);
		bench_mark("touch_begin");
		t0 = now_s();
		ret = madvise(p, size, MADV_COLLAPSE);
		t_collapse = now_s() - t0;
		bench_mark("touch_end");
		atomic_store(&stop, 1);
		pthread_join(th, NULL);
		if (ret)
			printf("collapse_error=%s\n", strerror(errno));
		printf("collapse_ms=%.3f\n", t_collapse * 1e3);
		printf("collapse_ms_per_2mib=%.4f\n", t_collapse * 1e3 / nr);
		printf("reader_max_wait_us=%.1f\n", max_wait_s * 1e6);
		printf("reader_calls=%lu\n", nr_waits);
		printf("reader_waits_over_1ms=%lu\n", nr_long_waits);
		printf("thp_collapse_alloc_delta=%ld\n", vmstat("thp_collapse_alloc") - alloc0);
		if (promote0 >= 0)
			printf("thp_res_promote_delta=%ld\n", vmstat("thp_res_promote") - promote0);
	}
	huge = smaps_kb(p, "AnonHugePages");
	printf("huge_kb=%ld\n", huge);

	/* GUPS-style: random 8-byte read-modify-write updates. */
	t0 = now_s();
	while (now_s() - t0 < gups_s) {
		for (int k = 0; k < 65536; k++) {
			uint64_t *w;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w = (uint64_t *)(p + (x % (size / 8)) * 8);
			*w += x;
		}
		updates += 65536;
	}
	printf("gups_updates_per_s=%.0f\n", updates / (now_s() - t0));
	return ret ? 1 : 0;
}
