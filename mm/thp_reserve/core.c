// SPDX-License-Identifier: GPL-2.0
/*
 * Reservation-based transparent huge pages for anonymous memory: the
 * per-mm table of reservations and their lifecycle.
 *
 * A reservation is one PMD-order anonymous folio (the "block") that backs an
 * aligned PMD-sized range of one mm. Only the base pages that userspace has
 * touched are mapped, each by its own PTE; the others stay unmapped, belong
 * to nobody else and are handed out, zeroed, on their first fault. The block
 * is an ordinary partly mapped large folio to the rest of mm: rmap, zap,
 * split, migration and reclaim treat it as such.
 *
 * The reservation holds no reference on the block: every mapped PTE holds
 * one, as for any mapped page. The per-mm record of a reservation is
 * therefore only a hint. Before a page is handed out, the record is checked
 * under the page table lock of the range against an "anchor", a PTE of the
 * range that maps a page of the block. A record whose anchor is gone (the
 * block was split, swapped or freed behind our back) is released as stale.
 *
 * Promotion maps the block by one PMD in place: it zeroes the pages never
 * used, moves the rmap from the PTEs to the PMD and replaces the page table
 * by the PMD. The fault that brings a range to promotion_threshold used
 * pages (or that completes its first promotion_early pages) does it before
 * it returns, with only the VMA lock or mmap_lock held for reading, and so
 * do khugepaged and MADV_COLLAPSE; only a range with pages written after a
 * fork(), which are copied back, is promoted with mmap_lock held for
 * writing. Nothing is allocated but a page table to deposit, and the used
 * pages are not copied.
 *
 * Under memory pressure reclaim breaks reservations before it reclaims any
 * page in use: every reservation sits on a NUMA- and memcg-aware list_lru,
 * on the node of its block's pages and in its block's memory cgroup, least
 * recently populated first (as a second-chance clock: a populate only marks
 * its entry referenced, and the walk moves a marked entry to the tail).
 * Breaking one splits its block, which frees the pages never handed out;
 * the used pages stay mapped.
 *
 * Locking, outermost first:
 *   mmap_lock -> VMA lock -> folio lock -> anon_vma lock
 *     -> PMD lock -> page table lock (PTL) -> table lock
 *     -> { folio trylock, list_lru node lock, split queue lock }
 * The table lock is the xa_lock of the mm's thp_reserve_table.entries.
 * The populate path holds the PTL and then the table lock, and under the
 * table lock trylocks the block's folio lock, marks the entry referenced
 * and updates vmstat counters; it takes the list_lru node lock only in the
 * rare fault that finds the block moved to another node. Making a
 * reservation stores its entry under both, in an xarray slot reserved
 * before the PTL was taken; only if another thread gave that slot back
 * meanwhile does the store allocate an xarray node, without sleeping.
 * Nothing sleeps or waits for a lock under the table lock.
 * Releasing, promoting and carving a block sleep for its folio lock (and
 * the locks of the pieces it is split into) with mmap_lock held and before
 * they take the anon_vma lock or a PTL, in the order of migration and
 * reclaim. Promotion with mmap_lock held for writing write-locks the VMA
 * before it sleeps for the folio lock, as stock khugepaged does.
 * Promotion with a read lock trylocks the block's folio lock under the
 * PTL, where it marks the range (thp_reserve_mark()), and holds it while it
 * zeroes; faults in the range then sleep for that folio lock with only
 * their fault lock held, as a swap-in waits for a locked folio. It takes
 * the anon_vma lock, the PMD lock and the PTL nested inside it, and the
 * table lock inside both, which it holds while the PMD changes, with the
 * rmap and the split queue's lock taken under it.
 * A split of a block by anybody else calls thp_reserve_block_split() with
 * the block's anon_vma locked for writing, before the split restores the
 * block's mappings, and that takes the PTL and the table lock of each
 * range it looks at, in the order above.
 * Reclaim walks the list_lru holding its node lock, so it takes the table
 * lock and mmap_lock with trylocks only, and counts what it must skip
 * (thp_res_reclaim_skip). All PTEs of a range live in one page table, so
 * the PTL of that table serialises every fault in the range. A fault that
 * gives an empty range its page table takes the new table's PTL before the
 * PMD points to it (thp_reserve_install_table()).
 *
 * See Documentation/mm/thp-reservations.rst.
 */

#include "internal.h"

#define CREATE_TRACE_POINTS
#include <trace/events/thp_reserve.h>

unsigned int thp_reserve_threshold __read_mostly;
unsigned int thp_reserve_early __read_mostly = THP_RES_EARLY_DEFAULT;
bool thp_reserve_made __read_mostly;
bool thp_reserve_paused;
struct kmem_cache *thp_reserve_cache __ro_after_init;
struct list_lru thp_reserve_lru;

static void thp_reserve_split_workfn(struct work_struct *work);
static LLIST_HEAD(thp_reserve_split_list);
static DECLARE_WORK(thp_reserve_split_work, thp_reserve_split_workfn);
/* Runs the split worker; reclaim feeds it, so it has a rescuer. */
static struct workqueue_struct *thp_reserve_wq __ro_after_init;

/* ---- the per-mm table --------------------------------------------------- */

/**
 * thp_reserve_hash - add an entry to its mm's table
 * @t: the table
 * @res: the new entry, with @res->haddr, @res->nid and @res->memcg set
 *
 * Stores @res in its slot and puts it on the list_lru. The caller has
 * checked that no entry exists for the range; the slot was reserved
 * (thp_reserve_reserve_slot()), else a failed allocation of the xarray's
 * nodes fails this.
 * Context: the table lock held.
 * Return: true if @res was hashed.
 */
bool thp_reserve_hash(struct thp_reserve_table *t,
		      struct thp_reserve *res)
{
	void *old;

	thp_reserve_table_held(t);
	old = __xa_store(&t->entries, thp_reserve_index(res->haddr), res,
			 GFP_NOWAIT | __GFP_ACCOUNT);
	if (xa_is_err(old))
		return false;
	VM_WARN_ON_ONCE(old);
	list_lru_add(&thp_reserve_lru, &res->lru, res->nid, res->memcg);
	t->nr++;
	return true;
}

/**
 * __thp_reserve_unhash - take an entry that is off the list_lru out of its table
 * @t: the table
 * @res: the hashed entry, which the caller has taken off the list_lru
 *
 * The entry then belongs to the caller.
 * Context: the table lock held.
 */
void __thp_reserve_unhash(struct thp_reserve_table *t,
			  struct thp_reserve *res)
{
	void *old;

	thp_reserve_table_held(t);
	VM_WARN_ON_ONCE(!t->nr);
	VM_WARN_ON_ONCE(!list_empty(&res->lru));
	old = __xa_erase(&t->entries, thp_reserve_index(res->haddr));
	VM_WARN_ON_ONCE(old != res);
	t->nr--;
}

/**
 * thp_reserve_unhash - take an entry off the list_lru and out of its table
 * @t: the table
 * @res: the hashed entry
 *
 * The entry then belongs to the caller.
 * Context: the table lock held.
 */
void thp_reserve_unhash(struct thp_reserve_table *t,
			struct thp_reserve *res)
{
	list_lru_del(&thp_reserve_lru, &res->lru, res->nid, res->memcg);
	__thp_reserve_unhash(t, res);
}

/**
 * thp_reserve_free - free an entry
 * @res: an entry that is not hashed (or never was), owned by the caller
 *
 * Drops the entry's memory cgroup reference. Context: any.
 */
void thp_reserve_free(struct thp_reserve *res)
{
	VM_WARN_ON_ONCE(!list_empty(&res->lru));
	mem_cgroup_put(res->memcg);
	kmem_cache_free(thp_reserve_cache, res);
}

/**
 * thp_reserve_table_get - the reservation table of an mm, made if need be
 * @mm: the mm
 *
 * The table is allocated at the mm's first reservation and lives until the
 * mm is freed (__thp_reserve_mm_free()).
 * Context: process context, may sleep.
 * Return: the table, or NULL if it could not be allocated.
 */
struct thp_reserve_table *thp_reserve_table_get(struct mm_struct *mm)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);

	if (likely(t))
		return t;
	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return NULL;
	xa_init(&t->entries);
	if (cmpxchg(&mm->thp_reserve, NULL, t)) {
		kfree(t);
		t = READ_ONCE(mm->thp_reserve);
	}
	return t;
}

/* ---- finding the block through the page table ------------------------- */

/**
 * thp_reserve_folio_at - the block that a PTE of a range maps, if any
 * @base: the range's first PTE, mapped with its PTL held
 * @i: index of the PTE in the range
 *
 * Context: the PTL of the range held.
 * Return: the folio if PTE @i maps page @i of a PMD-order anonymous (not
 * KSM) folio, else NULL.
 */
struct folio *thp_reserve_folio_at(pte_t *base, unsigned int i)
{
	pte_t pte = ptep_get(base + i);
	struct folio *folio;
	struct page *page;

	if (!pte_present(pte) || pte_special(pte) || !pfn_valid(pte_pfn(pte)))
		return NULL;
	page = pfn_to_page(pte_pfn(pte));
	folio = page_folio(page);
	if (!folio_test_anon(folio) || folio_test_ksm(folio) ||
	    folio_order(folio) != HPAGE_PMD_ORDER ||
	    folio_page_idx(folio, page) != i)
		return NULL;
	return folio;
}

/**
 * thp_reserve_block - find an entry's block through the page table
 * @res: the entry, owned by the caller (table lock held, or unhashed)
 * @base: the range's first PTE, mapped with its PTL held
 *
 * Looks at the anchor, or at every used page when the anchor moved away,
 * and updates the anchor.
 * Context: the PTL of the range held.
 * Return: the block, or NULL if no PTE of the range maps it any more.
 */
struct folio *thp_reserve_block(struct thp_reserve *res, pte_t *base)
{
	struct folio *folio = thp_reserve_folio_at(base, res->anchor);
	unsigned int i;

	if (folio) {
		res->pfn = folio_pfn(folio);
		return folio;
	}
	for_each_set_bit(i, res->used, HPAGE_PMD_NR) {
		folio = thp_reserve_folio_at(base, i);
		if (folio) {
			res->anchor = i;
			res->pfn = folio_pfn(folio);
			return folio;
		}
	}
	return NULL;
}

/**
 * thp_reserve_migrating - is a used page of a range under migration
 * @res: the entry, owned by the caller
 * @base: the range's first PTE, mapped with its PTL held
 *
 * A block not found (thp_reserve_block()) while this holds is between two
 * folios, not gone.
 * Context: the PTL of the range held.
 * Return: true if a used page's PTE is a migration entry.
 */
bool thp_reserve_migrating(struct thp_reserve *res, pte_t *base)
{
	unsigned int i;

	for_each_set_bit(i, res->used, HPAGE_PMD_NR) {
		pte_t pte = ptep_get(base + i);

		if (!pte_none(pte) && !pte_present(pte) &&
		    is_migration_entry(pte_to_swp_entry(pte)))
			return true;
	}
	return false;
}

/**
 * thp_reserve_lock_range - map and lock the page table of a PMD range
 * @mm: the mm
 * @haddr: PMD-aligned address of the range
 * @ptl: set to the page table lock taken
 *
 * A range that no VMA covers is being unmapped (munmap downgrades to a
 * read lock before it frees page tables): its table may go away under a
 * reader, so it is not walked. With a VMA over it, any of the locks below
 * keeps the table. Undo with pte_unmap_unlock().
 * Context: mmap_lock (any mode), the VMA lock of a VMA over the range (a
 * fault), or the anon_vma lock of a VMA over the range (an rmap walk:
 * free_pgtables() unlinks a VMA from its anon_vma under that lock before
 * it frees the VMA's tables) held.
 * Return: the range's first PTE with *@ptl held, or NULL if the range has
 * no page table or no VMA over any part of it.
 */
pte_t *thp_reserve_lock_range(struct mm_struct *mm, unsigned long haddr,
			      spinlock_t **ptl)
{
	unsigned long index = haddr;
	pmd_t *pmd;

	/* find_vma_intersection(), which asserts mmap_lock: RCU suffices. */
	if (!mt_find(&mm->mm_mt, &index, haddr + HPAGE_PMD_SIZE - 1))
		return NULL;
	pmd = mm_find_pmd(mm, haddr);
	if (!pmd)
		return NULL;
	return pte_offset_map_lock(mm, pmd, haddr, ptl);
}

/*
 * Take a reference on the block of an unhashed entry, under the PTL of its
 * range. Caller holds mmap_lock (any mode).
 */
static struct folio *thp_reserve_grab_block(struct mm_struct *mm,
					    struct thp_reserve *res)
{
	struct folio *folio = NULL;
	spinlock_t *ptl;	/* the PTL of the range's page table */
	pte_t *pte;

	pte = thp_reserve_lock_range(mm, res->haddr, &ptl);
	if (!pte)
		return NULL;
	folio = thp_reserve_block(res, pte);
	if (folio && !folio_try_get(folio))
		folio = NULL;
	pte_unmap_unlock(pte, ptl);
	return folio;
}

/*
 * The split worker breaks blocks whose releaser held locks (or, in reclaim,
 * found the block locked). It takes mmap_lock for reading when the mm is
 * still alive, so that dense chunks can stay mTHPs.
 */
static void thp_reserve_split_workfn(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&thp_reserve_split_list);
	struct thp_reserve *res, *next;

	llist_for_each_entry_safe(res, next, list, split_node) {
		struct mm_struct *mm = res->mm;
		bool alive = mmget_not_zero(mm);

		if (alive)
			mmap_read_lock(mm);
		folio_lock(res->split_folio);
		thp_reserve_break_locked(alive ? mm : NULL, res,
					 res->split_folio, res->split_why,
					 false);
		if (alive) {
			mmap_read_unlock(mm);
			mmput_async(mm);
		}
		mmdrop(mm);
		thp_reserve_free(res);
	}
}

/**
 * thp_reserve_finish - account the release of an entry and dispose of it
 * @mm: the entry's mm
 * @res: the unhashed entry, owned by the caller; freed, or handed to the
 *	split worker
 * @why: why it is released, for the counters and the tracepoint
 * @how: what becomes of its block
 *
 * Context: mmap_lock held in some mode, unless the mm is being torn down;
 * the fault path holds the VMA lock instead and passes THP_RES_KEEP or
 * THP_RES_SPLIT_ASYNC only. May sleep if @how is THP_RES_SPLIT, or
 * THP_RES_SPLIT_TRY once it has the block's lock.
 * Return: the number of never-used pages freed now by breaking the block;
 * 0 when that is left to the worker.
 */
unsigned int thp_reserve_finish(struct mm_struct *mm,
				struct thp_reserve *res,
				enum thp_reserve_reason why,
				enum thp_reserve_split how)
{
	unsigned int unused = HPAGE_PMD_NR - res->nr_used, freed = 0;
	struct folio *folio = NULL;

	VM_WARN_ON_ONCE(res->nr_used < 1 || res->nr_used > HPAGE_PMD_NR);
	if (!res->gone)
		thp_reserve_account(res, res->nid, -(long)unused);
	count_vm_event(THP_RES_RELEASE);
	trace_thp_res_release(mm, res->haddr, res->nr_used, why);

	if (how != THP_RES_KEEP && unused)
		folio = thp_reserve_grab_block(mm, res);
	if (folio && (how == THP_RES_SPLIT_ASYNC ||
		      (how == THP_RES_SPLIT_TRY && !folio_trylock(folio)))) {
		res->split_folio = folio;
		res->split_why = why;
		mmgrab(mm);
		if (llist_add(&res->split_node, &thp_reserve_split_list))
			queue_work(thp_reserve_wq, &thp_reserve_split_work);
		return 0;
	}
	if (folio) {
		if (how == THP_RES_SPLIT)
			folio_lock(folio);
		freed = thp_reserve_break_locked(mm, res, folio, why,
						 how == THP_RES_SPLIT_TRY);
	}
	thp_reserve_free(res);
	return freed;
}

/*
 * Unhash the entries whose range intersects [start, end) onto @dead.
 * Returns how many were unhashed.
 */
static unsigned int thp_reserve_unhash_range(struct thp_reserve_table *t,
					     unsigned long start,
					     unsigned long end,
					     struct hlist_head *dead)
{
	unsigned long first = thp_reserve_index(start);
	unsigned long last = thp_reserve_index(end - 1);
	struct thp_reserve *res;
	unsigned int nr = 0;
	unsigned long index;

	thp_reserve_table_lock(t);
	/* Visits the entries in [first, last] only; reserved slots skipped. */
	xa_for_each_range(&t->entries, index, res, first, last) {
		thp_reserve_unhash(t, res);
		hlist_add_head(&res->node, dead);
		nr++;
	}
	thp_reserve_table_unlock(t);
	return nr;
}

/**
 * thp_reserve_release - release the entries of a range of an mm
 * @mm: the mm
 * @start: first byte of the range
 * @end: end of the range (exclusive)
 * @why: why they are released
 * @how: what becomes of their blocks
 *
 * Every entry whose PMD range intersects [@start, @end) is unhashed and
 * finished (thp_reserve_finish()).
 * Context: as thp_reserve_finish(); no table lock held.
 */
void thp_reserve_release(struct mm_struct *mm, unsigned long start,
			 unsigned long end, enum thp_reserve_reason why,
			 enum thp_reserve_split how)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	struct thp_reserve *res;
	struct hlist_node *tmp;
	HLIST_HEAD(dead);

	if (!t || start >= end)
		return;
	if (!thp_reserve_unhash_range(t, start, end, &dead))
		return;
	hlist_for_each_entry_safe(res, tmp, &dead, node) {
		hlist_del_init(&res->node);
		thp_reserve_finish(mm, res, why, how);
	}
}

/**
 * __thp_reserve_release_range - release the reservations in a range
 * @mm: the address space
 * @start: first byte of the range
 * @end: end of the range (exclusive)
 * @why: reported to the thp_res_release tracepoint
 * @split: split each block now so that its never-used pages return to the
 *	page allocator; without it the caller frees the blocks itself (they
 *	lie wholly inside a range being unmapped or replaced).
 *
 * Every reservation whose PMD range intersects [@start, @end) is released.
 * Context: process context; mmap_lock held in any mode. With @split the
 * caller may sleep and holds no anon_vma or page table lock.
 */
void __thp_reserve_release_range(struct mm_struct *mm, unsigned long start,
				 unsigned long end, enum thp_reserve_reason why,
				 bool split)
{
	if (split)
		might_sleep();
	thp_reserve_release(mm, start, end, why,
			    split ? THP_RES_SPLIT : THP_RES_KEEP);
}

/* Release the reservation cut by a VMA boundary at @addr, if any. */
static void thp_reserve_cut(struct vm_area_struct *vma, unsigned long addr)
{
	if (!IS_ALIGNED(addr, HPAGE_PMD_SIZE))
		thp_reserve_release(vma->vm_mm, addr, addr + 1,
				    THP_RES_REASON_VMA_SPLIT,
				    THP_RES_SPLIT_ASYNC);
}

/**
 * __thp_reserve_vma_adjust - a VMA's boundaries are about to move
 * @vma: the VMA whose range becomes [@start, @end)
 * @start: new start of @vma
 * @end: new end of @vma
 * @adjust_next: how far the start of the next VMA moves
 *
 * A reservation's range must lie wholly inside one VMA: a new boundary
 * that is not PMD-aligned releases the reservation it cuts. Called by
 * vma_adjust_huge() in mm/vma.c just before vma_adjust_trans_huge(),
 * which splits huge PMDs at the same places.
 * Context: mmap_lock held for writing, the VMAs write-locked, and the
 * anon_vma lock held; the blocks are split later by a worker.
 */
void __thp_reserve_vma_adjust(struct vm_area_struct *vma, unsigned long start,
			      unsigned long end, long adjust_next)
{
	mmap_assert_write_locked(vma->vm_mm);
	thp_reserve_cut(vma, start);
	thp_reserve_cut(vma, end);
	if (adjust_next > 0) {
		struct vm_area_struct *next = find_vma(vma->vm_mm, vma->vm_end);

		if (next)
			thp_reserve_cut(next, next->vm_start + adjust_next);
	}
}

/**
 * __thp_reserve_madvise - release reservations that an madvise() undoes
 * @vma: the VMA being advised
 * @start: start of the advised part of @vma
 * @end: end of the advised part of @vma
 * @behavior: the MADV_* advice
 *
 * MADV_DONTNEED, MADV_FREE and MADV_PAGEOUT give memory back: each releases
 * the reservations it touches and splits their blocks, so never-used pages
 * are freed at once. MADV_NOHUGEPAGE forbids huge pages in the VMA and does
 * the same. MADV_COLLAPSE promotes reservations instead (see
 * thp_reserve_promote()).
 * Context: process context, mmap_lock held; may sleep.
 */
void __thp_reserve_madvise(struct vm_area_struct *vma, unsigned long start,
			   unsigned long end, int behavior)
{
	enum thp_reserve_reason why;

	switch (behavior) {
	case MADV_DONTNEED:
	case MADV_DONTNEED_LOCKED:
	case MADV_FREE:
	case MADV_PAGEOUT:
		why = THP_RES_REASON_MADVISE;
		break;
	case MADV_NOHUGEPAGE:
		why = THP_RES_REASON_NOHUGEPAGE;
		break;
	default:
		return;
	}
	if (!vma_is_anonymous(vma))
		return;
	thp_reserve_release(vma->vm_mm, start, end, why, THP_RES_SPLIT);
}

/**
 * __thp_reserve_exit_mmap - release all reservations of a dying mm
 * @mm: the mm, with no users left
 *
 * Called before the page tables are torn down, which frees the blocks.
 */
void __thp_reserve_exit_mmap(struct mm_struct *mm)
{
	thp_reserve_release(mm, 0, ULONG_MAX, THP_RES_REASON_EXIT,
			    THP_RES_KEEP);
}

/**
 * __thp_reserve_mm_free - free the reservation table of an mm
 * @mm: the mm being freed
 */
void __thp_reserve_mm_free(struct mm_struct *mm)
{
	struct thp_reserve_table *t = mm->thp_reserve;

	VM_WARN_ON_ONCE(t->nr);
	mm->thp_reserve = NULL;
	/* Every slot reserved was stored into or given back. */
	VM_WARN_ON_ONCE(!xa_empty(&t->entries));
	xa_destroy(&t->entries);
	kfree(t);
}

/**
 * __thp_reserve_present - is there a reservation for a range
 * @mm: the address space
 * @haddr: PMD-aligned address of the range
 *
 * Context: mmap_lock held in any mode.
 * Return: true if a reservation for [@haddr, @haddr + HPAGE_PMD_SIZE) exists.
 */
bool __thp_reserve_present(struct mm_struct *mm, unsigned long haddr)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	bool ret;

	thp_reserve_table_lock(t);
	ret = !!thp_reserve_lookup(t, haddr);
	thp_reserve_table_unlock(t);
	return ret;
}

/**
 * thp_reserve_split_flush - wait for the split worker to finish
 *
 * Every block queued for the split worker before the call is broken when
 * this returns. Context: process context, may sleep.
 */
void thp_reserve_split_flush(void)
{
	flush_work(&thp_reserve_split_work);
}

/**
 * thp_reserve_core_init - set up the entry cache and the split worker
 *
 * Context: boot, before the first reservation can be made.
 */
void __init thp_reserve_core_init(void)
{
	thp_reserve_cache = KMEM_CACHE(thp_reserve, SLAB_PANIC | SLAB_ACCOUNT);
	thp_reserve_wq = alloc_workqueue("thp_reserve",
					 WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!thp_reserve_wq)
		thp_reserve_wq = system_unbound_wq;
}
