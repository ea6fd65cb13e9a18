// SPDX-License-Identifier: GPL-2.0
/*
 * fork_bench: fork until failure, the test the 2018 reservation RFC used,
 * scaled to a small guest.
 *
 *   fork_bench REGION_MIB PATTERN MAX_CHILDREN SECONDS [CGROUP]
 *
 * Forks children one at a time. Each child maps REGION_MIB of private
 * anonymous memory, 2 MiB aligned, writes its pattern into it, tells the
 * parent it is ready, and sleeps. PATTERN is "sparse" (one base page per
 * 2 MiB) or "randk" (k random base pages per 2 MiB, k uniform in 1..32,
 * drawn from a per-child seed). The parent stops at the first failure: a
 * child that cannot map its region, exits, or is killed (the OOM killer),
 * or any earlier child that died meanwhile; or at MAX_CHILDREN or after
 * SECONDS. With CGROUP, every child is moved into that cgroup v2 group
 * before it maps anything. The parent itself is exempt from the OOM killer.
 *
 * Prints key=value lines: children (ready before the first failure), end
 * (oom, mmap, exit, limit or time), seconds, and the /proc/vmstat deltas
 * that explain the result.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define PMD	(2UL << 20)
#define PG	4096UL
#define NPG	512
#define KMAX	32

static const char * const counters[] = {
	"nr_thp_reserved", "thp_res_alloc", "thp_res_release", "thp_res_reclaim",
	"thp_res_reclaim_skip", "thp_fault_alloc", "thp_split_page",
	"thp_underused_split_page", "pswpout", "oom_kill", "pgsteal_kswapd",
	"pgsteal_direct",
};
#define NR_COUNTERS	(sizeof(counters) / sizeof(counters[0]))

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	int ret = 0;

	if (fd < 0)
		return -1;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -1;
	close(fd);
	return ret;
}

/* The child: map, write the pattern, report ready, sleep until killed. */
static void child(int up, size_t len, int randk, unsigned int seed, const char *cg)
{
	char pidbuf[32], path[512];
	char *raw, *p;

	/* The parent is exempt from the OOM killer; its children are not. */
	write_str("/proc/self/oom_score_adj", "0");
	if (cg) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
		if (write_str(path, pidbuf))
			_exit(3);
	}
	raw = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		_exit(2);
	p = (char *)(((unsigned long)raw + PMD - 1) & ~(PMD - 1));
	srand(seed);
	for (size_t off = 0; off < len; off += PMD) {
		int k = randk ? 1 + rand() % KMAX : 1;

		for (int i = 0; i < k; i++) {
			int pg = randk ? rand() % NPG : 0;

			p[off + pg * PG] = (char)(seed + i + 1);
		}
	}
	if (write(up, "r", 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	long before[NR_COUNTERS];
	const char *end = "limit";
	size_t len;
	int randk, max, n = 0, cap;
	double t0, secs;
	pid_t *pids;
	const char *cg;

	if (argc < 5) {
		fprintf(stderr, "usage: %s REGION_MIB sparse|randk MAX_CHILDREN SECONDS [CGROUP]\n",
			argv[0]);
		return 2;
	}
	len = strtoul(argv[1], NULL, 10) << 20;
	randk = !strcmp(argv[2], "randk");
	max = atoi(argv[3]);
	secs = atof(argv[4]);
	cg = argc > 5 ? argv[5] : NULL;
	cap = max > 0 ? max : 1;
	pids = calloc(cap, sizeof(*pids));
	if (!pids || !len)
		return 2;
	write_str("/proc/self/oom_score_adj", "-1000");
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < NR_COUNTERS; i++)
		before[i] = vmstat(counters[i]);
	t0 = now_s();
	while (n < max) {
		int fds[2], status;
		pid_t pid, dead;
		char c;

		if (now_s() - t0 > secs) {
			end = "time";
			break;
		}
		/* Did an earlier child die meanwhile? */
		dead = waitpid(-1, &status, WNOHANG);
		if (dead > 0) {
			end = WIFSIGNALED(status) ? "oom" : "exit";
			break;
		}
		if (pipe(fds))
			return 1;
		pid = fork();
		if (pid < 0) {
			end = "fork";
			close(fds[0]);
			close(fds[1]);
			break;
		}
		if (!pid) {
			close(fds[0]);
			child(fds[1], len, randk, 0x5eed + n, cg);
		}
		close(fds[1]);
		pids[n] = pid;
		if (read(fds[0], &c, 1) != 1) {
			close(fds[0]);
			waitpid(pid, &status, 0);
			end = WIFSIGNALED(status) ? "oom" :
			      WEXITSTATUS(status) == 2 ? "mmap" : "exit";
			break;
		}
		close(fds[0]);
		n++;
	}
	printf("children=%d\nend=%s\nseconds=%.2f\n", n, end, now_s() - t0);
	for (size_t i = 0; i < NR_COUNTERS; i++) {
		long v = vmstat(counters[i]);

		if (v >= 0 && before[i] >= 0)
			printf("%s_delta=%ld\n", counters[i], v - before[i]);
	}
	fflush(stdout);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	return 0;
}
