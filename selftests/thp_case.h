/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The case helpers shared by the reservation test programs (thp_reserve*.c):
 * data patterns written before an operation and checked byte for byte
 * after it, the /proc/vmstat counters a case checks as exact deltas, the
 * begin and end of a case with their invariants (no reservation outlives
 * its case; free memory back where the case freed everything), regions
 * filled to make reservations, and child processes that report through
 * pipes. Defined in thp_case.c; case_end() is inline so that its result
 * counts in the calling program's kselftest totals.
 */
#ifndef THP_CASE_H
#define THP_CASE_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "../kselftest.h"
#include "thp_util.h"

#define PMD		PMD_SIZE_BYTES
#define PG		4096UL
#define NPG		((int)(PMD / PG))	/* base pages per 2 MiB range */
#define ANY		LONG_MIN		/* a delta that is not checked */
#define SKIP_PAGE	0xffff			/* layout: page not checked */

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	(1 << 1)
#endif

/* What a case wrote into one 2 MiB range. */
struct layout {
	unsigned int seed[NPG];
	unsigned short n[NPG];	/* bytes written from the page start, or SKIP_PAGE */
};

struct counters {
	long alloc, failed, populate, release, reserved;
};

#define CHECK(t, cond) do {							\
	if (!(cond)) {								\
		ksft_print_msg("line %d: %s failed\n", __LINE__, #cond);	\
		(t)->ok = false;						\
	}									\
} while (0)

struct tcase {
	const char *name;
	struct counters c0;
	long free0;
	bool ok;
};

/* The pages the release cases write: 8 used, pages 256 and 200 never used. */
#define NR_STD	8
extern const int std_pages[NR_STD];

/* ---- data patterns ---- */
unsigned char pat(unsigned int seed, unsigned long off);
void layout_put(char *p, struct layout *l, int pg, unsigned int n, unsigned int seed);
void layout_fill(char *p, struct layout *l, int pg);
bool layout_verify(const char *what, const char *p, const struct layout *l, int from, int to);
long count_bad(const char *what, const char *p, const struct layout *l, bool print);
bool page_is_zero(const char *q);
bool check_block(const char *what, char *p, const struct layout *l);

/* ---- counters ---- */
void counters_read(struct counters *c);
bool deltas_match(const char *what, const char * const *name, const long *want,
		  const long *got, int n);
bool deltas(const char *what, const struct counters *a, const struct counters *b,
	    long alloc, long populate, long release, long reserved);
void sleep_ms(long ms);
long wait_vmstat(const char *name, long want, bool at_least);
long wait_reserved(long want);
long free_rise(long before, long min_kb);
bool free_rises(const char *what, long before, long want_kb);

/* ---- cases ---- */
void case_begin(struct tcase *t, const char *name);
bool case_check_end(struct tcase *t, bool freed_all);

/* End a case: its invariants, then its result line (in the caller's totals). */
static inline void case_end(struct tcase *t, bool freed_all)
{
	bool ok = case_check_end(t, freed_all);

	ksft_test_result(ok, "%s\n", t->name);
}

/*
 * The main() of a reservation test program: skip where the kernel has no
 * reservations, turn early promotion off, then run the @n cases @tests in
 * order and exit with the kselftest result. Inline, as case_end() is.
 */
static inline int run_cases(void (* const *tests)(void), size_t n)
{
	long res;

	ksft_print_header();
	thp_reserve_require();
	/*
	 * The cases fill ranges from their first page, in order: early
	 * promotion (thp_reserve_fault) would promote them at 16 used pages.
	 */
	thp_reserve_setup("0");
	/* A dead child shows as EOF or EPIPE on its pipe, not as SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	ksft_set_plan(n);
	res = wait_reserved(0);
	if (res)
		ksft_print_msg("nr_thp_reserved is %ld before the tests, not 0\n", res);
	for (size_t i = 0; i < n; i++)
		tests[i]();
	ksft_finished();
	return 0;
}

/* ---- regions ---- */
bool fill_reserving(const char *what, char *p, struct layout *l, const int *pages, int n);
bool fill_reserves(const char *what, char *p, struct layout *l, int pg);
bool fill_unreserved(const char *what, char *p, struct layout *l, int pg);
bool check_small_pages(const char *what, char *p, const struct layout *l, long rss_kb);
char *reserve_std(struct tcase *t, struct layout *l);
char *begin_release(struct tcase *t, const char *name, struct layout *l,
		    struct counters *before);
void expect_releases(struct tcase *t, const char *what, const struct counters *before,
		     long nr);
void expect_release(struct tcase *t, const char *what, const struct counters *before);
void unmap_releases(struct tcase *t, char *p, size_t len, long nr);
void check_call(struct tcase *t, const char *call, int ret);

/*
 * The whole 2 MiB range at p still reads what was written; unmap it, end
 * the case. Inline, as case_end() is.
 */
static inline void end_intact(struct tcase *t, const char *what, char *p,
			      const struct layout *l)
{
	t->ok &= layout_verify(what, p, l, 0, NPG);
	unmap_region(p, PMD);
	case_end(t, true);
}

/* ---- child processes ---- */
bool pipe_send(int fd, bool ok);
bool pipe_wait(int fd);
pid_t fork_flushed(void);
bool reap(pid_t pid);
pid_t fork_piped(int up[2], int down[2]);
bool reap_piped(pid_t pid, int up[2], int down[2]);

/* ---- knobs, memory cgroups, khugepaged, tracing ---- */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE	25
#endif
#define TRACEFS		"/sys/kernel/tracing/"
#define TRACE_EVENTS	TRACEFS "events/thp_reserve/"
#define KHUGEPAGED	THP_SYSFS "khugepaged/"
#define KPF_THP_BIT	22
#define DROP_CACHES	"/proc/sys/vm/drop_caches"

/* Trace events a case records, and what it changed to record them. */
struct tracing {
	const char * const *enable;	/* the events' "enable" files */
	size_t n;
	char saved[2][16];		/* their values before the case */
	bool turned_on;			/* tracing_on was 0 and set to 1 */
};

struct pcounters {
	long promote, failed, collapsed, res_collapsed, collapse_alloc;
};

bool has_word(const char *list, const char *word);
bool cg_make(const char *cg, bool *enabled_memory, char *why, size_t len);

/*
 * cg_make(), reporting the case name as skipped if the group cannot be
 * made. Inline, as case_end() is, so that the skip counts in the caller.
 */
static inline bool cg_create(const char *name, const char *cg, bool *enabled_memory)
{
	char why[300];

	if (cg_make(cg, enabled_memory, why, sizeof(why)))
		return true;
	ksft_test_result_skip("%s (%s)\n", name, why);
	return false;
}

bool cg_remove(const char *cg, bool enabled_memory);
int read_knob(const char *path, char *buf, size_t len);
bool ends_with(const char *s, const char *suffix);
bool tracing_save(struct tracing *tr, const char * const *enable, size_t n);
bool tracing_start(struct tracing *tr);
void tracing_end(struct tracing *tr);
long knob_long(const char *path);
void pcounters_read(struct pcounters *c);
bool pdeltas(const char *what, const struct pcounters *a, const struct pcounters *b,
	     long promote, long collapsed, long res_collapsed, long collapse_alloc);
long khugepaged_until(char *p, long want_kb, int scans);
unsigned long block_pfn(char *p, int pg);

#endif /* THP_CASE_H */
