/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the benchmark programs (single translation unit each). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The next value of a xorshift64 generator whose state is *x. */
static inline uint64_t xorshift64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Seconds on the monotonic clock. */
static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Write WHAT to tracefs' trace_marker when the guest script asks for it
 * (THP_BENCH_MARKER names the file), so that what it traces can be cut to
 * the part of a run between two marks. The marks' times come from the
 * trace clock, not from here.
 */
static inline void bench_mark(const char *what)
{
	static int fd = -2;

	if (fd == -2)
		fd = getenv("THP_BENCH_MARKER") ?
		     open(getenv("THP_BENCH_MARKER"), O_WRONLY) : -1;
	if (fd >= 0 && write(fd, what, strlen(what)) < 0)
		perror("trace_marker");
}

/* A /proc/vmstat counter, or -1. */
static inline long vmstat(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ' ') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* A "Field:  N kB" value of the smaps entry that contains addr, or -1. */
static inline long smaps_kb(void *addr, const char *field)
{
	unsigned long a = (unsigned long)addr, s, e;
	size_t n = strlen(field);
	char line[256];
	long v = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= s && a < e;
			continue;
		}
		if (in && !strncmp(line, field, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

#endif
