// SPDX-License-Identifier: GPL-2.0
/*
 * The case helpers of the reservation test programs; see thp_case.h.
 */
#define _GNU_SOURCE
#include "thp_case.h"

const int std_pages[NR_STD] = { 0, 1, 2, 3, 100, 300, 301, 510 };

/* ---- data patterns ---------------------------------------------------- */

/* Byte off of a page written with seed: never zero. */
unsigned char pat(unsigned int seed, unsigned long off)
{
	unsigned char v = (unsigned char)(((seed * 2654435761u) >> 24) + off * 7 + (off >> 8) * 3);

	return v ? v : 0xa5;
}

/* Write the first n bytes of page pg with the pattern of seed. */
void layout_put(char *p, struct layout *l, int pg, unsigned int n, unsigned int seed)
{
	char *q = p + pg * PG;

	for (unsigned long off = 0; off < n; off++)
		q[off] = (char)pat(seed, off);
	l->seed[pg] = seed;
	l->n[pg] = n;
}

/* Write all of page pg with a pattern of its own. */
void layout_fill(char *p, struct layout *l, int pg)
{
	layout_put(p, l, pg, PG, 0x1000 + pg);
}

/* Every byte of pages [from, to): the pattern where written, zero elsewhere. */
bool layout_verify(const char *what, const char *p, const struct layout *l, int from, int to)
{
	for (int pg = from; pg < to; pg++) {
		const unsigned char *q = (const unsigned char *)p + pg * PG;

		if (l->n[pg] == SKIP_PAGE)
			continue;
		for (unsigned long off = 0; off < PG; off++) {
			unsigned char want = off < l->n[pg] ? pat(l->seed[pg], off) : 0;

			if (q[off] != want) {
				ksft_print_msg("%s: page %d byte %lu is %#x, want %#x\n",
					       what, pg, off, q[off], want);
				return false;
			}
		}
	}
	return true;
}

/*
 * layout_verify() that goes on past a mismatch, over the written pages only: the
 * number of their bytes that are not the pattern where written and zero
 * elsewhere. The first such byte is printed if print.
 */
long count_bad(const char *what, const char *p, const struct layout *l, bool print)
{
	long bad = 0;

	for (int pg = 0; pg < NPG; pg++) {
		const unsigned char *q = (const unsigned char *)p + pg * PG;

		if (!l->n[pg] || l->n[pg] == SKIP_PAGE)
			continue;
		for (unsigned long off = 0; off < PG; off++) {
			unsigned char want = off < l->n[pg] ? pat(l->seed[pg], off) : 0;

			if (q[off] == want)
				continue;
			if (print && !bad)
				ksft_print_msg("%s: page %d byte %lu is %#x, want %#x\n",
					       what, pg, off, q[off], want);
			bad++;
		}
	}
	return bad;
}

bool page_is_zero(const char *q)
{
	for (unsigned long off = 0; off < PG; off++)
		if (q[off])
			return false;
	return true;
}

/*
 * Every written page of the range is page pg of one physically aligned
 * 2 MiB block: pfn % 512 == pg, all with the same pfn / 512.
 */
bool check_block(const char *what, char *p, const struct layout *l)
{
	long block = -1;

	for (int pg = 0; pg < NPG; pg++) {
		unsigned long pfn;

		if (!l->n[pg] || l->n[pg] == SKIP_PAGE)
			continue;
		pfn = pagemap_pfn(p + pg * PG);
		if (!pfn) {
			ksft_print_msg("%s: page %d has no PFN in pagemap\n", what, pg);
			return false;
		}
		if (pfn % NPG != (unsigned long)pg ||
		    (block >= 0 && pfn / NPG != (unsigned long)block)) {
			ksft_print_msg("%s: page %d has pfn %#lx (offset %lu in block %#lx), want offset %d in block %#lx\n",
				       what, pg, pfn, pfn % NPG, pfn / NPG, pg, block);
			return false;
		}
		block = pfn / NPG;
	}
	return true;
}

/* ---- counters --------------------------------------------------------- */

void counters_read(struct counters *c)
{
	vmstat_refresh();
	c->alloc = vmstat_get("thp_res_alloc");
	c->failed = vmstat_get("thp_res_alloc_failed");
	c->populate = vmstat_get("thp_res_populate");
	c->release = vmstat_get("thp_res_release");
	c->reserved = vmstat_get("nr_thp_reserved");
}

/* The n deltas got[] are the wanted ones (ANY: not checked); print misses. */
bool deltas_match(const char *what, const char * const *name, const long *want,
		  const long *got, int n)
{
	bool ok = true;

	for (int i = 0; i < n; i++) {
		if (want[i] == ANY || got[i] == want[i])
			continue;
		ksft_print_msg("%s: %s %+ld, want %+ld\n", what, name[i], got[i], want[i]);
		ok = false;
	}
	return ok;
}

/* Check b - a against the wanted deltas (ANY: not checked); print misses. */
bool deltas(const char *what, const struct counters *a, const struct counters *b,
	    long alloc, long populate, long release, long reserved)
{
	static const char * const name[] = {
		"thp_res_alloc", "thp_res_populate", "thp_res_release", "nr_thp_reserved",
	};
	const long want[] = { alloc, populate, release, reserved };
	const long got[] = {
		b->alloc - a->alloc, b->populate - a->populate,
		b->release - a->release, b->reserved - a->reserved,
	};
	bool ok = deltas_match(what, name, want, got, 4);

	if (!ok && b->failed != a->failed)
		ksft_print_msg("%s: thp_res_alloc_failed %+ld\n", what, b->failed - a->failed);
	return ok;
}

void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * The /proc/vmstat counter name once it equals want (or, with at_least,
 * reaches it), or its value after 2 s.
 */
long wait_vmstat(const char *name, long want, bool at_least)
{
	long v = 0;

	for (int i = 0; i < 40; i++) {
		vmstat_refresh();
		v = vmstat_get(name);
		if (v == want || (at_least && v > want))
			break;
		sleep_ms(50);
	}
	return v;
}

/* nr_thp_reserved once it equals want, or its value after 2 s. */
long wait_reserved(long want)
{
	return wait_vmstat("nr_thp_reserved", want, false);
}

/*
 * How far free_slab_kb() rose above @before, once it reached @min_kb or
 * after 2 s: the split of a block that reclaim found locked runs in a
 * worker, and split pieces still in a CPU's LRU batch are freed when it
 * drains, so pages come back shortly after the counters move (under
 * KASAN measurably later).
 */
long free_rise(long before, long min_kb)
{
	long rise = 0;

	for (int i = 0; i < 40; i++) {
		rise = free_slab_kb() - before;
		if (rise >= min_kb)
			break;
		sleep_ms(50);
	}
	return rise;
}

/* free_slab_kb() rises by want_kb (+-10%) from before within 2 s. */
bool free_rises(const char *what, long before, long want_kb)
{
	long rise = free_rise(before, want_kb - want_kb / 10);

	if (rise >= want_kb - want_kb / 10 && rise <= want_kb + want_kb / 10)
		return true;
	ksft_print_msg("%s: free memory rose by %ld kB, want %ld kB +-10%%\n", what, rise, want_kb);
	return false;
}

/* ---- cases: begin, end with the invariants ---------------------------- */

void case_begin(struct tcase *t, const char *name)
{
	t->name = name;
	t->ok = true;
	counters_read(&t->c0);
	t->free0 = free_slab_kb();
}

/*
 * No reservation outlives its case; where the case unmapped everything,
 * all of it is free again (free_slab_kb() within 1%, after up to 2 s).
 */
bool case_check_end(struct tcase *t, bool freed_all)
{
	long res = wait_reserved(t->c0.reserved);
	long now = 0;

	if (res != t->c0.reserved) {
		ksft_print_msg("after the case: nr_thp_reserved %ld, was %ld before it\n",
			       res, t->c0.reserved);
		t->ok = false;
	}
	if (freed_all) {
		for (int i = 0; i < 40; i++) {
			now = free_slab_kb();
			if (now >= t->free0 - t->free0 / 100)
				break;
			sleep_ms(50);
		}
		if (now < t->free0 - t->free0 / 100) {
			ksft_print_msg("after the case: free %ld kB, was %ld kB before it (%+ld kB)\n",
				       now, t->free0, now - t->free0);
			t->ok = false;
		}
	}
	return t->ok;
}

/* ---- regions ---------------------------------------------------------- */

/*
 * Writes to the n pages of the empty range at p: one new reservation, the
 * first page allocated with the block and the others populated from it.
 */
bool fill_reserving(const char *what, char *p, struct layout *l, const int *pages, int n)
{
	struct counters a, b;

	counters_read(&a);
	for (int i = 0; i < n; i++)
		layout_fill(p, l, pages[i]);
	counters_read(&b);
	return deltas(what, &a, &b, 1, n - 1, 0, NPG - n);
}

/* One write to page pg of an empty range: a new reservation, 511 pages held back. */
bool fill_reserves(const char *what, char *p, struct layout *l, int pg)
{
	return fill_reserving(what, p, l, &pg, 1);
}

/* One write to page pg at p neither makes nor uses a reservation. */
bool fill_unreserved(const char *what, char *p, struct layout *l, int pg)
{
	struct counters a, b;

	counters_read(&a);
	layout_fill(p, l, pg);
	counters_read(&b);
	return deltas(what, &a, &b, 0, 0, 0, 0);
}

/*
 * Only base pages are mapped (Rss rss_kb, no huge page), each at its own
 * offset in one aligned block, and the whole range reads what was written.
 */
bool check_small_pages(const char *what, char *p, const struct layout *l, long rss_kb)
{
	bool ok = expect_eq("Rss kB", smaps_kb(p, "Rss"), rss_kb);

	ok &= expect_eq("AnonHugePages kB", smaps_kb(p, "AnonHugePages"), 0);
	ok &= check_block(what, p, l);
	ok &= layout_verify(what, p, l, 0, NPG);
	return ok;
}

/* Map a region and write std_pages: one live reservation with 504 unused pages. */
char *reserve_std(struct tcase *t, struct layout *l)
{
	char *p = map_region(PMD);

	t->ok &= fill_reserving("reserve", p, l, std_pages, NR_STD);
	t->ok &= check_block("reserve", p, l);
	return p;
}

/*
 * Begin a release case: the std_pages reservation in a region of its own,
 * and the counters just before the operation under test.
 */
char *begin_release(struct tcase *t, const char *name, struct layout *l,
		    struct counters *before)
{
	char *p;

	case_begin(t, name);
	p = reserve_std(t, l);
	counters_read(before);
	return p;
}

/* The operation since before released nr reservations and nothing else. */
void expect_releases(struct tcase *t, const char *what, const struct counters *before,
		     long nr)
{
	struct counters after;

	wait_reserved(t->c0.reserved);
	counters_read(&after);
	t->ok &= deltas(what, before, &after, 0, 0, nr, t->c0.reserved - before->reserved);
}

/* The operation since before released the reservation and nothing else. */
void expect_release(struct tcase *t, const char *what, const struct counters *before)
{
	expect_releases(t, what, before, 1);
}

/* munmap of the len bytes at p releases nr reservations and nothing else. */
void unmap_releases(struct tcase *t, char *p, size_t len, long nr)
{
	struct counters a;

	counters_read(&a);
	unmap_region(p, len);
	expect_releases(t, "munmap", &a, nr);
}

/* A call of the operation under test that fails (ret nonzero) fails the case. */
void check_call(struct tcase *t, const char *call, int ret)
{
	if (ret) {
		ksft_print_msg("%s: %s\n", call, strerror(errno));
		t->ok = false;
	}
}

/* ---- child processes -------------------------------------------------- */

/*
 * Parent and child send each other 1 (ok, go on) or 0 through pipes; a
 * child's messages go to stdout, flushed before it sends.
 */
bool pipe_send(int fd, bool ok)
{
	char c = ok;

	fflush(stdout);
	return write(fd, &c, 1) == 1;
}

bool pipe_wait(int fd)
{
	char c = 0;

	return read(fd, &c, 1) == 1 && c == 1;
}

pid_t fork_flushed(void)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		ksft_exit_fail_msg("fork: %s\n", strerror(errno));
	return pid;
}

bool reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return false;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		ksft_print_msg("child exited with status %#x\n", status);
		return false;
	}
	return true;
}

/*
 * Fork with two pipes, up from the child and down to it; each side closes
 * the ends it does not use. Returns the child's pid, 0 in the child.
 */
pid_t fork_piped(int up[2], int down[2])
{
	pid_t pid;

	if (pipe(up) || pipe(down))
		ksft_exit_fail_msg("pipe: %s\n", strerror(errno));
	pid = fork_flushed();
	if (!pid) {
		close(up[0]);
		close(down[1]);
	} else {
		close(up[1]);
		close(down[0]);
	}
	return pid;
}

/* The child of fork_piped() exited with 0; the parent's pipe ends are closed. */
bool reap_piped(pid_t pid, int up[2], int down[2])
{
	bool ok = reap(pid);

	close(up[0]);
	close(down[1]);
	return ok;
}

/* ---- knobs, memory cgroups, khugepaged, tracing ---------------------- */

bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *s = strstr(list, word); s; s = strstr(s + 1, word))
		if ((s == list || s[-1] == ' ') && (!s[n] || s[n] == ' ' || s[n] == '\n'))
			return true;
	return false;
}

/*
 * Make the group cg, with the memory controller enabled in the root's
 * subtree_control (*enabled_memory: by this call, for cg_remove() to undo).
 * Returns false, with why the group cannot be made in why[len], if that
 * cannot be done (cg_create() then reports the case as skipped).
 */
bool cg_make(const char *cg, bool *enabled_memory, char *why, size_t len)
{
	char buf[512];
	int err;

	*enabled_memory = false;
	if (read_text(CG_ROOT "cgroup.controllers", buf, sizeof(buf)) || !has_word(buf, "memory")) {
		snprintf(why, len, "no memory controller");
		return false;
	}
	if (!read_text(CG_ROOT "cgroup.subtree_control", buf, sizeof(buf)) &&
	    !has_word(buf, "memory")) {
		if (write_text(CG_ROOT "cgroup.subtree_control", "+memory")) {
			snprintf(why, len, "cannot enable +memory");
			return false;
		}
		*enabled_memory = true;
	}
	rmdir(cg);
	if (mkdir(cg, 0755)) {
		err = errno;
		if (*enabled_memory)
			write_text(CG_ROOT "cgroup.subtree_control", "-memory");
		snprintf(why, len, "mkdir %s: %s", cg, strerror(err));
		return false;
	}
	return true;
}

/* Remove the group cg once its tasks are gone (up to 2 s), undo +memory. */
bool cg_remove(const char *cg, bool enabled_memory)
{
	bool ok = true;

	for (int i = 0; i < 20 && rmdir(cg); i++)
		sleep_ms(100);
	if (!access(cg, F_OK)) {
		ksft_print_msg("rmdir %s: %s\n", cg, strerror(errno));
		ok = false;
	}
	if (enabled_memory)
		write_text(CG_ROOT "cgroup.subtree_control", "-memory");
	return ok;
}

/* A one-line sysfs/debugfs/tracefs value without its newline. */
int read_knob(const char *path, char *buf, size_t len)
{
	int err = read_text(path, buf, len);

	if (!err)
		buf[strcspn(buf, "\n")] = '\0';
	return err;
}

bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* Remember the events' settings; false (and nothing to restore) if one cannot be read. */
bool tracing_save(struct tracing *tr, const char * const *enable, size_t n)
{
	tr->enable = enable;
	tr->n = n;
	tr->turned_on = false;
	for (size_t i = 0; i < n; i++) {
		if (read_knob(enable[i], tr->saved[i], sizeof(tr->saved[i]))) {
			ksft_print_msg("cannot read %s\n", enable[i]);
			tr->n = 0;
			return false;
		}
	}
	return true;
}

/* Record the events from now on, in an emptied trace buffer; false on error. */
bool tracing_start(struct tracing *tr)
{
	char on[16] = "";
	bool ok = true;
	int fd;

	/* Events are recorded only while tracing is on. */
	if (!read_knob(TRACEFS "tracing_on", on, sizeof(on)) && !strcmp(on, "0")) {
		if (write_text(TRACEFS "tracing_on", "1")) {
			ksft_print_msg("cannot turn tracing on\n");
			ok = false;
		}
		tr->turned_on = true;
	}
	for (size_t i = 0; i < tr->n; i++) {
		if (write_text(tr->enable[i], "1")) {
			ksft_print_msg("write 1 to %s failed\n", tr->enable[i]);
			ok = false;
		}
	}
	fd = open(TRACEFS "trace", O_WRONLY | O_TRUNC);
	if (fd < 0) {
		ksft_print_msg("clear %strace: %s\n", TRACEFS, strerror(errno));
		ok = false;
	} else {
		close(fd);
	}
	return ok;
}

/* Put the events and tracing_on back as they were; the buffer stays readable. */
void tracing_end(struct tracing *tr)
{
	/* "0*" or "1*" (soft-disabled) is written back as its digit. */
	for (size_t i = 0; i < tr->n; i++)
		write_text(tr->enable[i], tr->saved[i][0] == '1' ? "1" : "0");
	if (tr->turned_on)
		write_text(TRACEFS "tracing_on", "0");
	tr->turned_on = false;
}

/* A decimal sysfs value, or -1. */
long knob_long(const char *path)
{
	char buf[64];

	if (read_text(path, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

void pcounters_read(struct pcounters *c)
{
	vmstat_refresh();
	c->promote = vmstat_get("thp_res_promote");
	c->failed = vmstat_get("thp_res_promote_failed");
	c->collapse_alloc = vmstat_get("thp_collapse_alloc");
	c->collapsed = knob_long(KHUGEPAGED "pages_collapsed");
	c->res_collapsed = knob_long(KHUGEPAGED "res_pages_collapsed");
}

/*
 * Check b - a: thp_res_promote, khugepaged's pages_collapsed and
 * res_pages_collapsed, thp_collapse_alloc (ANY: not checked). Failed
 * promotions are checked by the cases that expect them.
 */
bool pdeltas(const char *what, const struct pcounters *a, const struct pcounters *b,
	     long promote, long collapsed, long res_collapsed, long collapse_alloc)
{
	static const char * const name[] = {
		"thp_res_promote", "khugepaged/pages_collapsed",
		"khugepaged/res_pages_collapsed", "thp_collapse_alloc",
	};
	const long want[] = { promote, collapsed, res_collapsed, collapse_alloc };
	const long got[] = {
		b->promote - a->promote, b->collapsed - a->collapsed,
		b->res_collapsed - a->res_collapsed, b->collapse_alloc - a->collapse_alloc,
	};
	bool ok = deltas_match(what, name, want, got, 4);

	if (!ok && b->failed != a->failed)
		ksft_print_msg("%s: thp_res_promote_failed %+ld\n", what, b->failed - a->failed);
	return ok;
}

/*
 * Let khugepaged scan every 100 ms until AnonHugePages of the mapping at p
 * is want_kb, or until it finished `scans` more full scans (at most 120 s).
 * Puts it back to sleep (600 s) and returns AnonHugePages in kB.
 */
long khugepaged_until(char *p, long want_kb, int scans)
{
	long f0 = knob_long(KHUGEPAGED "full_scans"), huge = smaps_kb(p, "AnonHugePages");

	thp_set("khugepaged/scan_sleep_millisecs", "100");
	for (int i = 0; i < 1200 && huge != want_kb; i++) {
		if (knob_long(KHUGEPAGED "full_scans") >= f0 + scans)
			break;
		sleep_ms(100);
		huge = smaps_kb(p, "AnonHugePages");
	}
	thp_set("khugepaged/scan_sleep_millisecs", "600000");
	if (knob_long(KHUGEPAGED "full_scans") < f0 + scans && huge != want_kb)
		ksft_print_msg("khugepaged did not finish %d full scans in 120 s\n", scans);
	return huge;
}

/* The first frame of the block behind written page pg of the range at p. */
unsigned long block_pfn(char *p, int pg)
{
	unsigned long pfn = pagemap_pfn(p + pg * PG);

	return pfn ? pfn - pg : 0;
}
