// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations: memory pressure, splits by others, and hibernation.
 *
 * Reclaim breaks reservations, least recently populated first, before it
 * reclaims pages in use: a shrinker walks the NUMA- and memcg-aware
 * list_lru of entries, holding its node lock, so it only tries the table
 * lock and mmap_lock and counts what it skips. A block that reaches
 * swap-out unbroken is split first, so that no never-used page is ever
 * written out. A split of a block by anybody else takes the never-used
 * pages out of the counters at once. Hibernation breaks every
 * reservation before the image is made, and none is made until it ends.
 */

#include "internal.h"

#ifdef CONFIG_FAULT_INJECTION_DEBUG_FS
/*
 * debugfs fail_thp_res_reclaim: make reclaim skip reservations as if their
 * locks were taken, so that tests can drive what reclaim does to blocks it
 * did not break (see thp_reserve_swap_split()).
 */
static DECLARE_FAULT_ATTR(thp_reserve_fail_reclaim);

static bool thp_reserve_reclaim_fails(void)
{
	return should_fail_ex(&thp_reserve_fail_reclaim, 1, FAULT_NOWARN);
}

/**
 * thp_reserve_fault_inject_init - create debugfs fail_thp_res_reclaim
 *
 * Context: boot.
 */
void __init thp_reserve_fault_inject_init(void)
{
	fault_create_debugfs_attr("fail_thp_res_reclaim", NULL,
				  &thp_reserve_fail_reclaim);
}
#else
static inline bool thp_reserve_reclaim_fails(void)
{
	return false;
}

void __init thp_reserve_fault_inject_init(void)
{
}
#endif

/* Entries one call of a reclaim walk visits before it lets go of the lock. */
#define THP_RES_WALK_BATCH	128UL

/* What one walk of the list_lru is after, and what it got. */
struct thp_reserve_scan {
	unsigned long target;	/* stop once this many pages were freed */
	unsigned long freed;	/* never-used pages freed so far */
};

/*
 * The clock step of the reclaim walk at @res, the only entry on its list
 * if @alone: true if the walk is to pass @res over this time and rotate it
 * to the tail, because a page of it was handed out since the walk last met
 * it (@res->referenced, which this clears). Alone on its list @res is the
 * tail already, and the walk would end there (list_for_each_safe() read
 * the head as the next item before the rotation): its second chance is
 * over at once. A walk of twice the list's length thus meets every entry
 * it does not break at least once without its mark.
 * Context: the list_lru node lock of @res held.
 */
static bool thp_reserve_second_chance(struct thp_reserve *res, bool alone)
{
	if (!READ_ONCE(res->referenced))
		return false;
	WRITE_ONCE(res->referenced, false);
	return !alone;
}

/*
 * list_lru walk callback: break the reservation at @item, unless a page of
 * it was handed out since the walk last met it (@referenced): that entry
 * loses the mark and goes to the tail, so the walk breaks the entries
 * least recently populated first to within one pass (the order of a
 * second-chance clock, thp_reserve_second_chance()). Called with the
 * list_lru node lock @lru_lock held, the first lock of reclaim's order, so
 * the table lock and mmap_lock can only be tried. An entry whose locks are
 * taken is counted (thp_res_reclaim_skip) and rotated to the tail: its mm
 * is busy right now, and the walk, which restarts from the head after each
 * entry it breaks, must not meet it again and again. A fork, munmap or
 * copying promotion in progress holds mmap_lock for writing and is never
 * raced with; a promotion under a read lock finds the entry gone when it
 * checks again and gives up, and the block it had locked goes to the split
 * worker.
 * Drops @lru_lock while it splits the block and retakes it before it
 * returns.
 */
static enum lru_status thp_reserve_isolate(struct list_head *item,
					   struct list_lru_one *list,
					   spinlock_t *lru_lock, void *arg)
{
	struct thp_reserve *res = container_of(item, struct thp_reserve, lru);
	struct thp_reserve_scan *scan = arg;
	struct mm_struct *mm = res->mm;
	struct thp_reserve_table *t;
	unsigned int freed;

	if (scan->freed >= scan->target)
		return LRU_STOP;
	if (thp_reserve_second_chance(res, list_is_singular(&list->list)))
		return LRU_ROTATE;
	if (thp_reserve_reclaim_fails())
		goto skip;
	/* On the list_lru, so hashed: its mm and table are alive. */
	t = mm->thp_reserve;
	if (!thp_reserve_table_trylock(t))
		goto skip;
	/* The block is found through the page table, which must stay. */
	if (!mmap_read_trylock(mm)) {
		thp_reserve_table_unlock(t);
		goto skip;
	}
	list_lru_isolate(list, item);
	__thp_reserve_unhash(t, res);
	thp_reserve_table_unlock(t);
	/* Keeps the mm itself until after mmap_read_unlock(). */
	mmgrab(mm);
	spin_unlock(lru_lock);

	freed = thp_reserve_finish(mm, res, THP_RES_REASON_RECLAIM,
				   THP_RES_SPLIT_TRY);
	mmap_read_unlock(mm);
	mmdrop(mm);
	count_vm_events(THP_RES_RECLAIM, freed);
	scan->freed += freed;
	cond_resched();

	spin_lock(lru_lock);
	return LRU_REMOVED_RETRY;
skip:
	count_vm_event(THP_RES_RECLAIM_SKIP);
	return LRU_ROTATE;
}

/**
 * thp_reserve_reclaim - break reservations before reclaiming pages in use
 * @nid: the node being reclaimed
 * @target: the memory cgroup whose subtree is reclaimed; NULL for all
 * @nr_pages: how many pages reclaim is after
 *
 * The never-used pages of a reservation are free memory on loan: reclaim
 * takes them back before it reclaims a single page in use. shrink_node()
 * calls this before it scans the LRU lists. Reservations on @nid are broken
 * least recently populated first (in second-chance order, see
 * thp_reserve_isolate()), in each memory cgroup of the subtree in turn,
 * until @nr_pages pages were freed or none is left; a broken block is
 * split, which frees its never-used pages and leaves the used ones mapped.
 * Reservations whose locks are taken are skipped.
 *
 * Context: process context, in reclaim; may sleep; holds no lock.
 * Return: the number of pages freed.
 */
unsigned long thp_reserve_reclaim(int nid, struct mem_cgroup *target,
				  unsigned long nr_pages)
{
	struct thp_reserve_scan scan = { .target = nr_pages };
	struct mem_cgroup *memcg;

	if (!thp_reserve_shrinker ||
	    !list_lru_count_node(&thp_reserve_lru, nid))
		return 0;
	memcg = mem_cgroup_iter(target, NULL, NULL);
	do {
		/* Twice over: a first pass may only take referenced bits. */
		unsigned long nr = 2 * list_lru_count_one(&thp_reserve_lru,
							  nid, memcg);

		/*
		 * In batches, with the list_lru lock (one per node, shared
		 * by every group) dropped in between: rotations alone do
		 * not drop it. Rotated entries wait at the tail meanwhile.
		 */
		while (nr && scan.freed < scan.target) {
			unsigned long batch = min(nr, THP_RES_WALK_BATCH);
			unsigned long left = batch;

			list_lru_walk_one(&thp_reserve_lru, nid, memcg,
					  thp_reserve_isolate, &scan, &left);
			/* The list ended, or the target was met. */
			if (left)
				break;
			nr -= batch;
			cond_resched();
		}
		if (scan.freed >= scan.target) {
			mem_cgroup_iter_break(target, memcg);
			break;
		}
	} while ((memcg = mem_cgroup_iter(target, memcg, NULL)));
	return scan.freed;
}

/* Does a page of PTE-mapped @folio have no mapping? Caller locks @folio. */
static bool thp_reserve_has_unmapped(struct folio *folio)
{
	unsigned int i;

	for (i = 0; i < folio_nr_pages(folio); i++)
		if (atomic_read(&folio_page(folio, i)->_mapcount) < 0)
			return true;
	return false;
}

/**
 * thp_reserve_swap_split - keep the never-used pages of a block out of swap
 * @folio: an anonymous folio that reclaim has isolated and locked, is about
 *	to add to the swap cache, and holds one reference on
 * @folio_list: reclaim's list of folios still to be scanned
 * @nr_freed: set to the number of pages freed, when @folio was split
 *
 * The never-used pages of a reservation's block hold whatever their last
 * owner left in them, and the block is not flagged partially mapped, so
 * reclaim would write all of it to swap when it meets a block whose
 * reservation it could not break. The same holds for the pieces of a
 * block whose split had to be left to the deferred split queue: reclaim
 * splits those onto its list and would write their unmapped pages.
 * Called by shrink_folio_list() before add_to_swap(): a large folio mapped
 * by PTEs with a page that no PTE maps is split instead, its unmapped
 * pages are freed without being written, and the mapped ones go on
 * @folio_list to be reclaimed as base pages. Under the folio lock no page
 * of the folio can become mapped (populate, promotion and the mTHP
 * fallback take that lock), so none is freed in use.
 * Does nothing until the first reservation since boot is made (with
 * promotion_threshold 1 from boot, the stock kernel's behaviour); from
 * then on it checks every large folio, whatever nr_thp_reserved reads.
 *
 * The reservation of a split block stays hashed until a fault, khugepaged
 * or reclaim finds it stale (its block is gone); its never-used pages
 * leave nr_thp_reserved at the split (thp_reserve_block_split()).
 *
 * Context: reclaim; @folio locked and isolated from the LRU; no other lock.
 * Return: a negative errno if @folio must not be swapped out (it could not
 * be split: pinned, or referenced elsewhere); 0 if it is not such a folio
 * (small, fully mapped, or no reservation made since boot); 1 if it was
 * split: @folio is then its first page, still locked and isolated, and
 * must not be swapped out if it is unmapped, and the other pages were
 * freed (*@nr_freed) or put on @folio_list.
 */
int thp_reserve_swap_split(struct folio *folio, struct list_head *folio_list,
			   unsigned int *nr_freed)
{
	struct folio *tail, *next;
	LIST_HEAD(tails);

	VM_WARN_ON_ONCE_FOLIO(!folio_test_locked(folio), folio);
	if (!folio_test_large(folio))
		return 0;
	if (!READ_ONCE(thp_reserve_made))
		return 0;
	if (!folio_test_anon(folio) ||
	    folio_entire_mapcount(folio) || !folio_mapped(folio) ||
	    !thp_reserve_has_unmapped(folio))
		return 0;
	if (split_folio_to_list(folio, &tails))
		return -EBUSY;
	count_vm_event(THP_RES_SWAP_SPLIT);
	/* Each piece holds the reference reclaim's list gave it. */
	*nr_freed = 0;
	list_for_each_entry_safe(tail, next, &tails, lru) {
		list_del(&tail->lru);
		if (folio_mapped(tail)) {
			list_add_tail(&tail->lru, folio_list);
		} else {
			*nr_freed += folio_nr_pages(tail);
			folio_put(tail);
		}
	}
	return 1;
}

/*
 * Does a used page of @res's range map page i of the block at @pfn, or
 * hold a migration entry for it (the block is being split)? Caller holds
 * the PTL of the range; @base is its first PTE.
 */
static bool thp_reserve_maps_block(struct thp_reserve *res, pte_t *base,
				   unsigned long pfn)
{
	unsigned int i;

	for_each_set_bit(i, res->used, HPAGE_PMD_NR) {
		pte_t pte = ptep_get(base + i);
		swp_entry_t entry;

		if (pte_present(pte)) {
			if (pte_pfn(pte) == pfn + i)
				return true;
			continue;
		}
		if (pte_none(pte))
			continue;
		entry = pte_to_swp_entry(pte);
		if (is_migration_entry(entry) && swp_offset_pfn(entry) == pfn + i)
			return true;
	}
	return false;
}

/**
 * thp_reserve_block_split - somebody is splitting a PMD-order anonymous folio
 * @anon_vma: the folio's anon_vma, locked for writing
 * @pfn: the folio's first pfn
 * @pgoff: the folio's index (that of its first page)
 *
 * A reservation whose block is split holds no never-used page any more:
 * the split frees the pieces that no PTE maps, and no piece can be handed
 * out by a reservation again. If the entry is still hashed (the block is
 * split by migration, memory failure, the debugfs interface or reclaim's
 * thp_reserve_swap_split(), not by a release), its never-used pages leave
 * nr_thp_reserved and the memory cgroup's thp_reserved here, all of them
 * (a split to mTHPs leaves some inside pieces that keep a mapped page, but
 * no entry holds them), and the entry is marked @gone so that its release,
 * when a fault, khugepaged or reclaim finds it stale, does not take them
 * away twice. Releases unhash their entry before they split, so their
 * splits find nothing here.
 *
 * Called once the split is certain and before it restores the folio's
 * mappings: each PTE that mapped a page of the folio holds a migration
 * entry for that page. The restore maps a used page that holds only
 * zeroes to the shared zero page, after which no PTE would tell the
 * block's entry from another.
 *
 * The entry is found through the rmap, like the mappings the split
 * restores: each VMA of @anon_vma over @pgoff, at the address @pgoff has
 * there, under the PTL of that range. It is the block's entry only if a
 * used page of its range holds the migration entry for (or maps) the page
 * of the block at the same offset; an entry of another block at the same
 * address and index (a fork's other mm, with a block since moved) does
 * not. A block has one entry at most: the walk ends at it.
 *
 * An mm that never reserved has no table: its VMAs cost a pointer read.
 * (Reservations being off is no reason to skip the walk: entries made
 * before may be left, and NR_THP_RESERVED, batched per CPU, can read 0
 * while one is.)
 *
 * Context: __split_huge_page(), after the split of a PMD-order anonymous
 * folio and before remap_page(): @anon_vma locked for writing, which keeps
 * the page tables of its VMAs; irqs enabled. Takes PTLs and table locks.
 */
void thp_reserve_block_split(struct anon_vma *anon_vma, unsigned long pfn,
			     pgoff_t pgoff)
{
	struct anon_vma_chain *avc;

	anon_vma_interval_tree_foreach(avc, &anon_vma->rb_root, pgoff, pgoff) {
		struct vm_area_struct *vma = avc->vma;
		struct mm_struct *mm = vma->vm_mm;
		struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
		struct thp_reserve *res;
		unsigned long haddr;
		spinlock_t *ptl;	/* the PTL of the range's page table */
		bool found = false;
		pte_t *base;

		if (!t)
			continue;
		haddr = vma->vm_start + ((pgoff - vma->vm_pgoff) << PAGE_SHIFT);
		if (!IS_ALIGNED(haddr, HPAGE_PMD_SIZE))
			continue;
		base = thp_reserve_lock_range(mm, haddr, &ptl);
		if (!base)
			continue;
		thp_reserve_table_lock(t);
		res = thp_reserve_lookup(t, haddr);
		if (res && !res->gone && thp_reserve_maps_block(res, base, pfn)) {
			thp_reserve_account(res, res->nid,
					    -(long)(HPAGE_PMD_NR - res->nr_used));
			res->gone = true;
			found = true;
		}
		thp_reserve_table_unlock(t);
		pte_unmap_unlock(base, ptl);
		if (found)
			break;
	}
}

/*
 * The shrinker serves drop_caches (echo 2), debugfs shrinker scans and
 * every reclaim pass, through shrink_slab(), beside the hook that
 * shrink_node() calls first. Its objects are reservations. Breaking one
 * splits its block, which unmaps and remaps the used pages, so a pass that
 * may not unmap (node reclaim without RECLAIM_UNMAP) must not break any:
 * shrink_node() skips its hook there, and the shrinker, which shrink_slab()
 * does not tell, asks current_reclaim_may_unmap(). It counts 0 objects in
 * such a pass, so that no deferred work builds up for a later one.
 */
static unsigned long thp_reserve_shrink_count(struct shrinker *shrinker,
					      struct shrink_control *sc)
{
	if (!current_reclaim_may_unmap())
		return 0;
	return list_lru_shrink_count(&thp_reserve_lru, sc) ?: SHRINK_EMPTY;
}

static unsigned long thp_reserve_shrink_scan(struct shrinker *shrinker,
					     struct shrink_control *sc)
{
	struct thp_reserve_scan scan = { .target = ULONG_MAX };
	/* Twice over: a first pass may only take referenced bits. */
	unsigned long nr_to_walk = 2 * sc->nr_to_scan;
	unsigned long nr;

	if (!current_reclaim_may_unmap())
		return SHRINK_STOP;
	nr = list_lru_walk_one(&thp_reserve_lru, sc->nid, sc->memcg,
			       thp_reserve_isolate, &scan, &nr_to_walk);
	mm_account_reclaimed_pages(scan.freed);
	return nr;
}

struct shrinker *thp_reserve_shrinker __ro_after_init;

/**
 * thp_reserve_shrinker_init - set up reclaim's list_lru and shrinker
 *
 * Without its list_lru and shrinker nothing could give reserved memory back:
 * reservations then stay off (promotion_threshold 1, and writes refused).
 * Context: boot, before the first reservation can be made.
 * Return: 0, or -ENOMEM.
 */
int __init thp_reserve_shrinker_init(void)
{
	struct shrinker *shrinker;

	shrinker = shrinker_alloc(SHRINKER_NUMA_AWARE | SHRINKER_MEMCG_AWARE,
				  "thp-reserve");
	if (!shrinker)
		return -ENOMEM;
	if (list_lru_init_memcg(&thp_reserve_lru, shrinker)) {
		shrinker_free(shrinker);
		return -ENOMEM;
	}
	shrinker->count_objects = thp_reserve_shrink_count;
	shrinker->scan_objects = thp_reserve_shrink_scan;
	shrinker->seeks = DEFAULT_SEEKS;
	shrinker_register(shrinker);
	thp_reserve_shrinker = shrinker;
	return 0;
}

/* ---- hibernation -------------------------------------------------------- */

#ifdef CONFIG_HIBERNATION
/*
 * list_lru walk callback of thp_reserve_break_all(): take a user reference
 * on the mm of the first entry whose mm is still in use, store it in the
 * struct mm_struct * at @arg and stop. The walk of a node goes on to the
 * lists of other memory cgroups after a stop, so once an mm was taken
 * every later call stops at once. Entries of an mm being torn down are
 * skipped: exit_mmap() releases them.
 */
static enum lru_status thp_reserve_pick_mm(struct list_head *item,
					   struct list_lru_one *list,
					   spinlock_t *lru_lock, void *arg)
{
	struct thp_reserve *res = container_of(item, struct thp_reserve, lru);
	struct mm_struct **mmp = arg;

	if (*mmp)
		return LRU_STOP;
	/* On the list_lru, so hashed: the mm_struct is alive. */
	if (!mmget_not_zero(res->mm))
		return LRU_SKIP;
	*mmp = res->mm;
	return LRU_STOP;
}

/*
 * Read-lock the mmap_lock of @mm, waiting until @deadline (jiffies) at
 * most, or until the caller gets a fatal signal. A task that holds the
 * lock and does not let go (a fault stuck on a dead file server) must
 * fail the hibernation, as a task that cannot be frozen does, and not
 * hang it with the PM lock held. Return: true if the lock is held.
 */
static bool thp_reserve_lock_mm_until(struct mm_struct *mm,
				      unsigned long deadline)
{
	while (!mmap_read_trylock(mm)) {
		if (time_after(jiffies, deadline) || fatal_signal_pending(current))
			return false;
		schedule_timeout_killable(1);
	}
	return true;
}

/*
 * Break the reservations of every mm: unlike reclaim, sleep for the
 * block's folio lock, as madvise(MADV_DONTNEED) does, and wait for
 * mmap_lock until @deadline. Each pass over a node takes one mm and
 * releases all its entries, on every node. Caller has made sure that no
 * new entry is hashed.
 * Return: the number of entries left, all of mms being torn down; or
 * -EBUSY if an mm's mmap_lock was not free by @deadline (or a fatal signal
 * came), with the entries of that mm and of those after it left.
 */
static long thp_reserve_break_all(unsigned long deadline)
{
	int nid;

	for_each_node(nid) {
		for (;;) {
			unsigned long nr;
			struct mm_struct *mm = NULL;

			nr = list_lru_count_node(&thp_reserve_lru, nid);
			if (!nr)
				break;
			list_lru_walk_node(&thp_reserve_lru, nid,
					   thp_reserve_pick_mm, &mm, &nr);
			if (!mm)
				break;
			if (!thp_reserve_lock_mm_until(mm, deadline)) {
				mmput(mm);
				return -EBUSY;
			}
			thp_reserve_release(mm, 0, ULONG_MAX,
					    THP_RES_REASON_HIBERNATE,
					    THP_RES_SPLIT);
			mmap_read_unlock(mm);
			mmput(mm);
			cond_resched();
		}
	}
	return list_lru_count(&thp_reserve_lru);
}

/*
 * A hibernation image holds every page that is not free, so the never-used
 * pages of a block, with whatever their last owner left in them, would be
 * written into it. Before the hibernation starts (tasks are still running,
 * and PM_HIBERNATION_PREPARE comes before they are frozen) new reservations
 * are refused, every existing one is broken, which frees its never-used
 * pages, and the split worker is flushed. Dense chunks are kept as mTHPs,
 * zero-filled, as reclaim keeps them. Reservations are made again once the
 * hibernation has ended, or failed, or the system has resumed from it.
 * If an mm's mmap_lock stays taken for the freezer's timeout
 * (/sys/power/pm_freeze_timeout), the hibernation fails with -EBUSY, as it
 * would if that task could not be frozen: the chain does not send this
 * notifier PM_POST_HIBERNATION then, so it resumes reservations itself.
 */
static int thp_reserve_pm_notify(struct notifier_block *nb,
				 unsigned long action, void *data)
{
	unsigned long deadline;
	long left = 0;
	int i;

	switch (action) {
	case PM_HIBERNATION_PREPARE:
		WRITE_ONCE(thp_reserve_paused, true);
		/*
		 * thp_reserve_new() reads the flag again under the table
		 * lock, in the PTL's section, and hashes its entry there:
		 * once every such section that may have read it clear has
		 * ended, every entry is on the list_lru.
		 */
		synchronize_rcu();
		deadline = jiffies + msecs_to_jiffies(freeze_timeout_msecs);
		/* Dying mms release theirs in exit_mmap(): wait a little. */
		for (i = 0; i < 100; i++) {
			left = thp_reserve_break_all(deadline);
			if (left <= 0)
				break;
			schedule_timeout_uninterruptible(msecs_to_jiffies(10));
		}
		thp_reserve_split_flush();
		if (left < 0) {
			if (fatal_signal_pending(current))
				pr_warn("thp_reserve: hibernation abandoned: its caller was killed\n");
			else
				pr_warn("thp_reserve: hibernation refused: a task's mmap_lock was not free within %u ms\n",
					freeze_timeout_msecs);
			WRITE_ONCE(thp_reserve_paused, false);
			return notifier_from_errno(left);
		}
		if (left)
			pr_warn("thp_reserve: %ld reservations of exiting tasks left at hibernation\n",
				left);
		break;
	case PM_POST_HIBERNATION:
		WRITE_ONCE(thp_reserve_paused, false);
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block thp_reserve_pm_nb = {
	.notifier_call = thp_reserve_pm_notify,
};

/**
 * thp_reserve_pm_init - break every reservation before hibernation
 *
 * Registers the PM notifier that breaks all reservations before the image
 * is made and makes none until the system resumed or the attempt failed.
 * Context: boot.
 */
void __init thp_reserve_pm_init(void)
{
	register_pm_notifier(&thp_reserve_pm_nb);
}
#else
void __init thp_reserve_pm_init(void)
{
}
#endif

#ifdef CONFIG_THP_RESERVATIONS_KUNIT_TEST
#include "tests/reclaim-kunit.h"
#endif
