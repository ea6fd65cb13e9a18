// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations: promotion in place.
 *
 * A block whose range reached the threshold (or was filled in order from
 * its first page) is mapped by one PMD: its never-used pages are zeroed,
 * the rmap moves from the PTEs to the PMD and the page table is replaced,
 * without a copy and without allocating anything but the page table it
 * deposits. The fault path, khugepaged and MADV_COLLAPSE do it with
 * mmap_lock or the VMA lock held for reading; only a range with pages
 * written after a fork(), which are copied back, is promoted with
 * mmap_lock held for writing. A promotion under a read lock marks the
 * range under its PTL, holds the block's folio lock while it zeroes, and
 * faults in the range wait for it (fault.c).
 */

#include "internal.h"
#include <trace/events/thp_reserve.h>

/* ---- promotion in place ------------------------------------------------- */

/* Does @page hold only zeroes? */
static bool thp_reserve_page_zero(struct page *page)
{
	void *addr = kmap_local_page(page);
	bool zero = !memchr_inv(addr, 0, PAGE_SIZE);

	kunmap_local(addr);
	return zero;
}

/**
 * thp_reserve_below_threshold - is a range too sparse for a copy collapse
 * @vma: the VMA the range lies in
 * @haddr: PMD-aligned address of the range
 * @base: the range's first PTE, mapped with its PTL held
 * @nr_used: pages of the PMD range in use (mapped or swapped out)
 *
 * khugepaged asks this for ranges without a reservation: collapsing a
 * sparse range by copy would allocate exactly the memory a reservation
 * saves. A page of a multi-size THP that holds only zeroes does not count:
 * it was most likely filled in when the mTHP was made (by the mTHP fallback
 * or at a fault), not written by the program, and counting it would let
 * mTHPs creep up to a PMD. Pages of base folios are not read.
 * MADV_HUGEPAGE VMAs, which get huge pages at the first fault and never
 * reservations, keep the stock rules.
 *
 * Context: mmap_lock held for reading, the PTL of the range held.
 * Return: true if @vma is not VM_HUGEPAGE and fewer than
 * promotion_threshold of the range's pages are in use.
 */
bool thp_reserve_below_threshold(struct vm_area_struct *vma,
				 unsigned long haddr, pte_t *base,
				 unsigned int nr_used)
{
	unsigned int threshold = READ_ONCE(thp_reserve_threshold);
	unsigned int i;

	if (vma->vm_flags & VM_HUGEPAGE)
		return false;
	if (nr_used < threshold)
		return true;
	if (threshold <= 1)
		return false;
	for (i = 0; i < HPAGE_PMD_NR; i++) {
		pte_t pte = ptep_get(base + i);
		struct folio *folio;
		struct page *page;

		if (!pte_present(pte) || is_zero_pfn(pte_pfn(pte)))
			continue;
		page = vm_normal_page(vma, haddr + i * PAGE_SIZE, pte);
		if (!page)
			continue;
		folio = page_folio(page);
		if (!folio_test_large(folio) ||
		    folio_order(folio) >= HPAGE_PMD_ORDER ||
		    !thp_reserve_page_zero(page))
			continue;
		if (--nr_used < threshold)
			return true;
	}
	return false;
}

/*
 * What the PTEs of a range hold, as a promotion sees them. Built under the
 * PTL, once with mmap_lock held for reading (to decide whether taking it
 * for writing is worth it) and once on the detached page table, where it
 * is final. A PTE in neither bitmap is none or maps the zero page: its
 * block page is zeroed.
 */
struct thp_reserve_plan {
	struct folio *block;
	bool marked;	/* set res->promoter and holds the block's lock */
	unsigned int nr_mapped;		/* bits set in @mapped */
	unsigned int nr_copy;		/* bits set in @copy */
	DECLARE_BITMAP(mapped, HPAGE_PMD_NR);	/* maps its page of the block */
	DECLARE_BITMAP(copy, HPAGE_PMD_NR);	/* maps a private base page */
};

/*
 * Classify PTE @i of the range for @plan. A PTE that maps a base page
 * outside the block is a page written after fork(), once the other mm let
 * go of the block page: it can be copied back if nobody else can see it.
 * Caller holds the PTL.
 */
static enum thp_reserve_promote_result
thp_reserve_plan_pte(struct vm_area_struct *vma, unsigned long haddr,
		     pte_t pte, unsigned int i, struct thp_reserve_plan *plan)
{
	struct folio *folio;
	struct page *page;

	if (pte_none(pte))
		return THP_RES_PROMOTED;
	if (!pte_present(pte)) {
		swp_entry_t entry = pte_to_swp_entry(pte);

		if (is_migration_entry(entry))
			return THP_RES_PROMOTE_MIGRATING;
		return non_swap_entry(entry) ? THP_RES_PROMOTE_BUSY :
					       THP_RES_PROMOTE_SWAPPED;
	}
	if (pte_uffd_wp(pte))
		return THP_RES_PROMOTE_VMA;
	if (is_zero_pfn(pte_pfn(pte)))
		return THP_RES_PROMOTED;
	page = vm_normal_page(vma, haddr + i * PAGE_SIZE, pte);
	if (!page || is_zone_device_page(page))
		return THP_RES_PROMOTE_BUSY;
	folio = page_folio(page);
	if (folio == plan->block) {
		if (folio_page_idx(folio, page) != i)
			return THP_RES_PROMOTE_BUSY;
		/* Another mm (a fork child) maps this page too. */
		if (atomic_read(&page->_mapcount) != 0)
			return THP_RES_PROMOTE_SHARED;
		__set_bit(i, plan->mapped);
		plan->nr_mapped++;
		return THP_RES_PROMOTED;
	}
	if (!folio_test_anon(folio) || folio_test_large(folio))
		return THP_RES_PROMOTE_BUSY;
	if (folio_test_ksm(folio) || folio_mapcount(folio) != 1)
		return THP_RES_PROMOTE_SHARED;
	if (folio_test_writeback(folio))
		return THP_RES_PROMOTE_BUSY;
	/*
	 * Only the PTE's reference and the swap cache's, if it was swapped
	 * in: no GUP pin, nobody isolated it.
	 */
	if (folio_ref_count(folio) != 1 + folio_test_swapcache(folio))
		return THP_RES_PROMOTE_PINNED;
	__set_bit(i, plan->copy);
	plan->nr_copy++;
	return THP_RES_PROMOTED;
}

/*
 * Fill @plan for the range whose first PTE is @base, with plan->block set,
 * and check the block as a whole. @extra_refs is the number of references
 * the caller holds on the block. Caller holds the PTL.
 */
static enum thp_reserve_promote_result
thp_reserve_plan_range(struct vm_area_struct *vma, unsigned long haddr,
		       pte_t *base, struct thp_reserve_plan *plan,
		       int extra_refs)
{
	struct folio *block = plan->block;
	enum thp_reserve_promote_result r;
	unsigned int i;

	plan->nr_mapped = 0;
	plan->nr_copy = 0;
	bitmap_zero(plan->mapped, HPAGE_PMD_NR);
	bitmap_zero(plan->copy, HPAGE_PMD_NR);
	for (i = 0; i < HPAGE_PMD_NR; i++) {
		r = thp_reserve_plan_pte(vma, haddr, ptep_get(base + i), i,
					 plan);
		if (r != THP_RES_PROMOTED)
			return r;
	}
	/* The block was found through a PTE that maps it. */
	if (!plan->nr_mapped) {
		VM_WARN_ON_ONCE(1);
		return THP_RES_PROMOTE_STALE;
	}
	if (folio_mapcount(block) != plan->nr_mapped)
		return THP_RES_PROMOTE_SHARED;
	if (folio_maybe_dma_pinned(block) ||
	    folio_ref_count(block) != plan->nr_mapped + extra_refs)
		return THP_RES_PROMOTE_PINNED;
	if (folio_test_swapcache(block) || folio_test_writeback(block) ||
	    folio_test_has_hwpoisoned(block))
		return THP_RES_PROMOTE_BUSY;
	return THP_RES_PROMOTED;
}

/* May @who promote the range at @haddr, given the VMA that maps it now? */
static enum thp_reserve_promote_result
thp_reserve_promote_vma_ok(struct vm_area_struct *vma, unsigned long haddr,
			   enum thp_reserve_promoter who)
{
	unsigned long tva = who == THP_RES_BY_MADVISE ? 0 : TVA_ENFORCE_SYSFS;

	if (!vma || !thp_reserve_vma_ok(vma, haddr) ||
	    !thp_vma_allowable_order(vma, vma->vm_flags, tva, HPAGE_PMD_ORDER))
		return THP_RES_PROMOTE_VMA;
	return THP_RES_PROMOTED;
}

/*
 * Has a reservation that khugepaged finds below the threshold aged: did it
 * not grow since khugepaged's last visit, and would the mTHP fallback keep
 * a chunk of it now? Such a range is unlikely to reach the threshold; its
 * dense chunks become mTHPs now. Without a chunk to keep it stays
 * reserved: breaking it would only free memory, which is reclaim's call.
 * Caller holds mmap_lock, the PTL of the range (@base) and the table lock.
 */
static bool thp_reserve_aged(struct vm_area_struct *vma,
			     struct thp_reserve *res, pte_t *base)
{
	struct folio *block;

	if (res->nr_seen != res->nr_used) {
		res->nr_seen = res->nr_used;
		return false;
	}
	block = thp_reserve_block(res, base);
	return block && thp_reserve_carve_any(vma->vm_mm, res, block, base);
}

/*
 * Look up the reservation of the range and its block, under the PTL of
 * the range (@base). Sets plan->block and *@nr_used. An entry whose block
 * is gone is unhashed onto *@stale for the caller to release. With @aged,
 * khugepaged's first pass unhashes an entry below the threshold that has
 * aged (thp_reserve_aged()) onto *@aged for the caller to break.
 */
static enum thp_reserve_promote_result
thp_reserve_promote_find(struct mm_struct *mm, struct vm_area_struct *vma,
			 unsigned long haddr, pte_t *base,
			 enum thp_reserve_promoter who,
			 struct thp_reserve_plan *plan, unsigned int *nr_used,
			 struct thp_reserve **stale, struct thp_reserve **aged)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	enum thp_reserve_promote_result r = THP_RES_PROMOTED;
	struct thp_reserve *res;

	if (!t)
		return THP_RES_PROMOTE_NONE;
	thp_reserve_table_lock(t);
	res = thp_reserve_lookup(t, haddr);
	if (!res) {
		r = THP_RES_PROMOTE_NONE;
		goto out;
	}
	*nr_used = res->nr_used;
	if (who == THP_RES_BY_KHUGEPAGED &&
	    res->nr_used < READ_ONCE(thp_reserve_threshold)) {
		if (aged && thp_reserve_aged(vma, res, base)) {
			thp_reserve_unhash(t, res);
			*aged = res;
		}
		r = THP_RES_PROMOTE_BELOW;
		goto out;
	}
	plan->block = thp_reserve_block(res, base);
	if (plan->block)
		goto out;
	if (thp_reserve_migrating(res, base)) {
		r = THP_RES_PROMOTE_MIGRATING;
		goto out;
	}
	thp_reserve_unhash(t, res);
	*stale = res;
	r = THP_RES_PROMOTE_STALE;
out:
	thp_reserve_table_unlock(t);
	if (r == THP_RES_PROMOTED &&
	    (plan->block->index != linear_page_index(vma, haddr) ||
	     folio_anon_vma(plan->block)->root != vma->anon_vma->root))
		r = THP_RES_PROMOTE_VMA;
	return r;
}

/*
 * Lock the block of @plan (a trylock) and mark the entry of the range at
 * @haddr as promoted by the current task. Caller holds the PTL of the
 * range, under which @plan was made.
 */
static enum thp_reserve_promote_result
thp_reserve_mark(struct mm_struct *mm, unsigned long haddr,
		 struct thp_reserve_plan *plan)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	enum thp_reserve_promote_result r = THP_RES_PROMOTED;
	struct thp_reserve *res;

	if (!folio_trylock(plan->block))
		return THP_RES_PROMOTE_BUSY;
	thp_reserve_table_lock(t);
	res = thp_reserve_lookup(t, haddr);
	if (!res)
		r = THP_RES_PROMOTE_NONE;
	else if (res->promoter)
		r = THP_RES_PROMOTE_BUSY;
	else
		res->promoter = current;
	thp_reserve_table_unlock(t);
	if (r != THP_RES_PROMOTED)
		folio_unlock(plan->block);
	plan->marked = r == THP_RES_PROMOTED;
	return r;
}

/*
 * Undo thp_reserve_mark() after a failed promotion: clear the mark if the
 * range's entry still has the current task's (an entry made since for the
 * range may be another task's), then unlock the block. Any context.
 */
static void thp_reserve_unmark(struct mm_struct *mm, unsigned long haddr,
			       struct thp_reserve_plan *plan)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	struct thp_reserve *res;

	if (!plan->marked)
		return;
	thp_reserve_table_lock(t);
	res = thp_reserve_lookup(t, haddr);
	if (res && res->promoter == current)
		res->promoter = NULL;
	thp_reserve_table_unlock(t);
	folio_unlock(plan->block);
	plan->marked = false;
	thp_reserve_wake_promotion(t);
}

/*
 * First pass, under the PTL of the range: can the range be promoted now?
 * On success returns with a reference on the block (plan->block) and the
 * plan of the range as it was then. With @mark, a range without private
 * copies is also marked and its block locked (plan->marked): from then on
 * no fault maps a page of it, and the plan stays true until the caller
 * unmarks it or promotes. @vma is the VMA at @haddr, if any. Caller holds mmap_lock
 * for reading, or the VMA lock of @vma.
 */
static enum thp_reserve_promote_result
thp_reserve_promote_check(struct mm_struct *mm, struct vm_area_struct *vma,
			  unsigned long haddr, enum thp_reserve_promoter who,
			  struct thp_reserve_plan *plan, unsigned int *nr_used,
			  bool mark)
{
	struct thp_reserve *stale = NULL, *aged = NULL;
	enum thp_reserve_promote_result r;
	spinlock_t *ptl;	/* the PTL of the range's page table */
	pte_t *base;

	r = thp_reserve_promote_vma_ok(vma, haddr, who);
	if (r != THP_RES_PROMOTED)
		return r;
	base = thp_reserve_lock_range(mm, haddr, &ptl);
	if (!base)
		return THP_RES_PROMOTE_NONE;
	r = thp_reserve_promote_find(mm, vma, haddr, base, who, plan, nr_used,
				     &stale, &aged);
	if (r == THP_RES_PROMOTED)
		r = thp_reserve_plan_range(vma, haddr, base, plan, 0);
	if (r == THP_RES_PROMOTED && mark && !plan->nr_copy)
		r = thp_reserve_mark(mm, haddr, plan);
	if (r == THP_RES_PROMOTED)
		folio_get(plan->block);
	pte_unmap_unlock(base, ptl);
	if (stale)
		thp_reserve_finish(mm, stale, THP_RES_REASON_STALE,
				   THP_RES_KEEP);
	if (aged)
		thp_reserve_finish(mm, aged, THP_RES_REASON_AGED,
				   THP_RES_SPLIT);
	return r;
}

/*
 * Lock the private pages that @plan copies back, so that reclaim and
 * migration leave them alone. All or none: returns false with none locked.
 */
static bool thp_reserve_lock_copies(pte_t *base, struct thp_reserve_plan *plan)
{
	unsigned int i, j;

	for_each_set_bit(i, plan->copy, HPAGE_PMD_NR) {
		if (folio_trylock(page_folio(pte_page(ptep_get(base + i)))))
			continue;
		for_each_set_bit(j, plan->copy, i)
			folio_unlock(page_folio(pte_page(ptep_get(base + j))));
		return false;
	}
	return true;
}

static void thp_reserve_unlock_copies(pte_t *base,
				      struct thp_reserve_plan *plan)
{
	unsigned int i;

	for_each_set_bit(i, plan->copy, HPAGE_PMD_NR)
		folio_unlock(page_folio(pte_page(ptep_get(base + i))));
}

/*
 * Give every page of the block the contents the range shows: zero the
 * pages nobody mapped, copy back the private copies. The page table is
 * detached, so nothing can write to the range meanwhile; the block and the
 * copies are locked. @base stays mapped (an RCU read-side section), so
 * this must not sleep: at most 2 MiB, as a collapse copies. Returns false
 * if a copy hit a memory error.
 */
static bool thp_reserve_fill(struct vm_area_struct *vma, unsigned long haddr,
			     pte_t *base, struct thp_reserve_plan *plan,
			     unsigned int *nr_copied)
{
	struct folio *block = plan->block;
	unsigned long addr;
	unsigned int i;

	for (i = 0, addr = haddr; i < HPAGE_PMD_NR; i++, addr += PAGE_SIZE) {
		struct page *page = folio_page(block, i);

		if (test_bit(i, plan->mapped))
			continue;
		if (test_bit(i, plan->copy)) {
			if (copy_mc_user_highpage(page,
						  pte_page(ptep_get(base + i)),
						  addr, vma))
				return false;
			(*nr_copied)++;
		} else {
			clear_user_highpage(page, addr);
		}
	}
	return true;
}

/*
 * Clear the PTEs of the detached page table and move the rmap and the
 * references from them to the PMD mapping of the block. Caller holds the
 * PTL of the detached table, the block's folio lock and the copies' locks.
 */
static void thp_reserve_unmap_ptes(struct vm_area_struct *vma,
				   unsigned long haddr, pte_t *base,
				   struct thp_reserve_plan *plan)
{
	struct folio *block = plan->block;
	struct mm_struct *mm = vma->vm_mm;
	unsigned long addr;
	unsigned int i;

	/* The PMD mapping first: the block never looks partly mapped. */
	folio_add_anon_rmap_pmd(block, &block->page, vma, haddr,
				RMAP_EXCLUSIVE);
	for (i = 0, addr = haddr; i < HPAGE_PMD_NR; i++, addr += PAGE_SIZE) {
		pte_t pte = ptep_get(base + i);
		struct folio *copy;

		if (pte_none(pte))
			continue;
		ptep_clear(mm, addr, base + i);
		if (test_bit(i, plan->mapped)) {
			folio_remove_rmap_pte(block, folio_page(block, i), vma);
		} else if (test_bit(i, plan->copy)) {
			copy = page_folio(pte_page(pte));
			folio_remove_rmap_pte(copy, pte_page(pte), vma);
			folio_unlock(copy);
			/* Also drops a swap cache copy, as a zap would. */
			free_page_and_swap_cache(pte_page(pte));
		} else {
			ksm_might_unmap_zero_page(mm, pte);
		}
	}
	/*
	 * Only the head page's flag counts while the PMD maps the block; a
	 * later PMD split copies it to every page. Stale tail flags from the
	 * PTE mappings would let a write after a fork() reuse a shared page.
	 */
	for (i = 1; i < HPAGE_PMD_NR; i++)
		ClearPageAnonExclusive(folio_page(block, i));
	/* The PTEs held one reference each; the PMD holds one. */
	folio_ref_sub(block, plan->nr_mapped - 1);
	add_mm_counter(mm, MM_ANONPAGES,
		       HPAGE_PMD_NR - plan->nr_mapped - plan->nr_copy);
}

/*
 * Map the block by the none PMD @pmd, depositing the empty page table
 * @pgtable. Caller holds the PMD's lock, and made the block's contents
 * visible (smp_wmb()) before it took that lock.
 */
static void thp_reserve_set_pmd(struct vm_area_struct *vma,
				unsigned long haddr, pmd_t *pmd,
				pgtable_t pgtable, struct folio *block)
{
	struct mm_struct *mm = vma->vm_mm;
	pmd_t entry;

	lockdep_assert_held(pmd_lockptr(mm, pmd));
	VM_WARN_ON_ONCE(!pmd_none(*pmd));
	entry = mk_huge_pmd(&block->page, vma->vm_page_prot);
	entry = maybe_pmd_mkwrite(pmd_mkdirty(entry), vma);
	pgtable_trans_huge_deposit(mm, pmd, pgtable);
	set_pmd_at(mm, haddr, pmd, entry);
	update_mmu_cache_pmd(vma, haddr, pmd);
	/*
	 * A page unmapped by another mm (a fork child's exit) queued the
	 * block as partially mapped; it is whole again.
	 */
	folio_clear_deferred_partially_mapped(block);
	deferred_split_folio(block, false);
}

/* Map the block by the PMD, depositing the emptied page table. */
static void thp_reserve_map_pmd(struct vm_area_struct *vma,
				unsigned long haddr, pmd_t *pmd,
				pgtable_t pgtable, struct folio *block)
{
	spinlock_t *pml;	/* the PMD's lock */

	/* The zeroed and copied contents before the PMD that maps them. */
	smp_wmb();
	pml = pmd_lock(vma->vm_mm, pmd);
	thp_reserve_set_pmd(vma, haddr, pmd, pgtable, block);
	spin_unlock(pml);
}

/* Unhash and return the entry of the range at @haddr, if it has one. */
static struct thp_reserve *thp_reserve_claim(struct mm_struct *mm,
					     unsigned long haddr)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	struct thp_reserve *res;

	thp_reserve_table_lock(t);
	res = thp_reserve_lookup(t, haddr);
	if (res)
		thp_reserve_unhash(t, res);
	thp_reserve_table_unlock(t);
	return res;
}

/* Free the claimed entry of a range whose block is now PMD-mapped. */
static void thp_reserve_promoted(struct thp_reserve *res)
{
	thp_reserve_account(res, res->nid, -(long)(HPAGE_PMD_NR - res->nr_used));
	thp_reserve_free(res);
}

/*
 * Second pass, with mmap_lock held for writing and a reference on @block:
 * detach the page table, check it again, and either map the block by its
 * PMD or put the page table back.
 */
static enum thp_reserve_promote_result
thp_reserve_promote_locked(struct mm_struct *mm, unsigned long haddr,
			   enum thp_reserve_promoter who, struct folio *block,
			   struct thp_reserve_plan *plan,
			   unsigned int *nr_used, unsigned int *nr_copied)
{
	struct vm_area_struct *vma = vma_lookup(mm, haddr);
	enum thp_reserve_promote_result r;
	struct thp_reserve *stale = NULL, *res;
	struct mmu_notifier_range range;
	spinlock_t *pml, *ptl;
	pmd_t *pmd, pmdval;
	pte_t *base;

	mmap_assert_write_locked(mm);
	/* The mm is exiting: leave the range to exit_mmap(). */
	if (!atomic_read(&mm->mm_users))
		return THP_RES_PROMOTE_VMA;
	r = thp_reserve_promote_vma_ok(vma, haddr, who);
	if (r != THP_RES_PROMOTED)
		return r;
	pmd = mm_find_pmd(mm, haddr);
	pmdval = pmd ? pmdp_get_lockless(pmd) : __pmd(0);
	if (!pmd_present(pmdval) || pmd_leaf(pmdval))
		return THP_RES_PROMOTE_NONE;

	/* The order of stock khugepaged: VMA lock, folio lock, anon_vma. */
	vma_start_write(vma);
	folio_lock(block);
	anon_vma_lock_write(vma->anon_vma);
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, haddr,
				haddr + HPAGE_PMD_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	pml = pmd_lock(mm, pmd);
	/* GUP-fast backs off once it sees the PMD changed. */
	pmdval = pmdp_collapse_flush(vma, haddr, pmd);
	spin_unlock(pml);
	mmu_notifier_invalidate_range_end(&range);
	tlb_remove_table_sync_one();

	base = pte_offset_map_lock(mm, &pmdval, haddr, &ptl);
	if (!base) {
		r = THP_RES_PROMOTE_NONE;
		goto out_restore;
	}
	plan->block = NULL;
	r = thp_reserve_promote_find(mm, vma, haddr, base, who, plan, nr_used,
				     &stale, NULL);
	if (r == THP_RES_PROMOTED && plan->block != block)
		r = THP_RES_PROMOTE_BUSY;
	if (r == THP_RES_PROMOTED)
		r = thp_reserve_plan_range(vma, haddr, base, plan, 1);
	if (r == THP_RES_PROMOTED && !thp_reserve_lock_copies(base, plan))
		r = THP_RES_PROMOTE_BUSY;
	spin_unlock(ptl);
	if (r != THP_RES_PROMOTED)
		goto out_restore;
	/* The block and the copies are locked: rmap walks may go on. */
	anon_vma_unlock_write(vma->anon_vma);

	if (!thp_reserve_fill(vma, haddr, base, plan, nr_copied)) {
		thp_reserve_unlock_copies(base, plan);
		r = THP_RES_PROMOTE_BUSY;
		pte_unmap(base);
		goto out_repopulate;
	}
	spin_lock(ptl);
	thp_reserve_unmap_ptes(vma, haddr, base, plan);
	spin_unlock(ptl);
	pte_unmap(base);
	thp_reserve_map_pmd(vma, haddr, pmd, pmd_pgtable(pmdval), block);
	/* Nothing releases entries while mmap_lock is held for writing. */
	res = thp_reserve_claim(mm, haddr);
	if (!WARN_ON_ONCE(!res))
		thp_reserve_promoted(res);
	goto out_unlock;

out_restore:
	if (base)
		pte_unmap(base);
	anon_vma_unlock_write(vma->anon_vma);
out_repopulate:
	pml = pmd_lock(mm, pmd);
	VM_WARN_ON_ONCE(!pmd_none(*pmd));
	pmd_populate(mm, pmd, pmd_pgtable(pmdval));
	spin_unlock(pml);
out_unlock:
	folio_unlock(block);
	if (stale)
		thp_reserve_finish(mm, stale, THP_RES_REASON_STALE,
				   THP_RES_KEEP);
	return r;
}

/* ---- promotion under the read lock ------------------------------------- */

/*
 * Zero the pages of @block that @mapped does not have: pages nobody ever
 * mapped, or mapped only as the zero page. Caller holds the block's folio
 * lock and has the range marked, so no fault maps one meanwhile; no
 * spinlock is held.
 */
static void thp_reserve_zero_unmapped(struct folio *block,
				      unsigned long haddr,
				      const unsigned long *mapped)
{
	unsigned int i;

	for (i = 0; i < HPAGE_PMD_NR; i++) {
		if (test_bit(i, mapped))
			continue;
		clear_user_highpage(folio_page(block, i),
				    haddr + i * PAGE_SIZE);
		cond_resched();
	}
}

/*
 * Replace the page table of the range at @haddr (under PMD @pmd) by a PMD
 * that maps @block, under the PMD lock and the PTL, if the range still
 * maps exactly the pages of @mapped from @block, the rest none or the zero
 * page (zeroed by the caller), and still has its entry. @pgtable is an
 * empty page table to deposit. On success the entry is unhashed into
 * *@claimed and the old page table is freed after an RCU grace period:
 * GUP-fast and pte_offset_map() users may still be reading it, and back
 * off once they see the PMD changed.
 *
 * The PMD is none for a moment between the flush and the new PMD. The
 * table lock is held from the unhash until the new PMD is set, so that a
 * MADV_DONTNEED, FREE or PAGEOUT of the range, which releases the entry
 * under that lock before it zaps, either releases it first (the swap is
 * not done) or zaps the new PMD: it cannot find neither entry nor PMD and
 * skip pages it must drop.
 *
 * Caller holds the VMA lock of @vma or mmap_lock for reading, the block's
 * folio lock, a reference on it and the anon_vma lock.
 */
static enum thp_reserve_promote_result
thp_reserve_swap_pmd(struct vm_area_struct *vma, pmd_t *pmd,
		     unsigned long haddr, enum thp_reserve_promoter who,
		     struct folio *block, const unsigned long *mapped,
		     pgtable_t pgtable, unsigned int *nr_used,
		     struct thp_reserve **claimed, struct thp_reserve **stale)
{
	struct mm_struct *mm = vma->vm_mm;
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	struct thp_reserve_plan plan = { };
	enum thp_reserve_promote_result r;
	spinlock_t *pml, *ptl;
	pgtable_t old;
	pmd_t pmdval;
	pte_t *base;

	pml = pmd_lock(mm, pmd);
	pmdval = pmdp_get(pmd);
	r = THP_RES_PROMOTE_NONE;
	if (!pmd_present(pmdval) || pmd_leaf(pmdval))
		goto out_pml;
	/* The PMD lock keeps the page table: no recheck of the PMD needed. */
	base = pte_offset_map_nolock(mm, pmd, haddr, &ptl);
	if (!base)
		goto out_pml;
	if (ptl != pml)
		spin_lock_nested(ptl, SINGLE_DEPTH_NESTING);
	r = thp_reserve_promote_find(mm, vma, haddr, base, who, &plan, nr_used,
				     stale, NULL);
	if (r == THP_RES_PROMOTED && plan.block != block)
		r = THP_RES_PROMOTE_BUSY;
	if (r == THP_RES_PROMOTED)
		r = thp_reserve_plan_range(vma, haddr, base, &plan, 1);
	/* A page unmapped since it was seen mapped was not zeroed. */
	if (r == THP_RES_PROMOTED &&
	    (plan.nr_copy || !bitmap_equal(plan.mapped, mapped, HPAGE_PMD_NR)))
		r = THP_RES_PROMOTE_BUSY;
	if (r != THP_RES_PROMOTED)
		goto out_ptl;
	thp_reserve_table_lock(t);
	*claimed = thp_reserve_lookup(t, haddr);
	if (!*claimed) {
		thp_reserve_table_unlock(t);
		r = THP_RES_PROMOTE_NONE;
		goto out_ptl;
	}
	thp_reserve_unhash(t, *claimed);

	/* GUP-fast backs off once it sees the PMD changed. */
	pmdval = pmdp_collapse_flush(vma, haddr, pmd);
	pmdp_get_lockless_sync();
	old = pmd_pgtable(pmdval);
	thp_reserve_unmap_ptes(vma, haddr, base, &plan);
	thp_reserve_set_pmd(vma, haddr, pmd, pgtable, block);
	thp_reserve_table_unlock(t);
	if (ptl != pml)
		spin_unlock(ptl);
	pte_unmap(base);
	spin_unlock(pml);
	/* Its PTEs are clear; the deposited table takes over its count. */
	pte_free_defer(mm, old);
	return THP_RES_PROMOTED;

out_ptl:
	if (ptl != pml)
		spin_unlock(ptl);
	pte_unmap(base);
out_pml:
	spin_unlock(pml);
	return r;
}

/*
 * Promote the range at @haddr in place with only the VMA lock of @vma or
 * mmap_lock held for reading, after thp_reserve_promote_check() found it
 * promotable without private copies, marked it and locked its block
 * (@plan, with a reference on plan->block). Faults in the range wait for
 * the block's lock meanwhile:
 *  1. zero the block's unmapped pages outside every spinlock;
 *  2. under the anon_vma lock, the PMD lock and the PTL, check again and
 *     swap the page table for the PMD (thp_reserve_swap_pmd()), depositing
 *     @pgtable, an empty page table the caller allocated before it marked
 *     the range (so that the mark is never held across reclaim).
 * Nothing is copied; the used pages stay where they are. On success the
 * block is unlocked, plan->marked cleared and @pgtable consumed; on
 * failure the caller unmarks the range and frees @pgtable. The caller
 * drops its reference either way.
 */
static enum thp_reserve_promote_result
thp_reserve_promote_shared(struct vm_area_struct *vma, pmd_t *pmd,
			   unsigned long haddr, enum thp_reserve_promoter who,
			   struct thp_reserve_plan *plan, pgtable_t pgtable,
			   unsigned int *nr_used)
{
	struct mm_struct *mm = vma->vm_mm;
	struct thp_reserve *claimed = NULL, *stale = NULL;
	struct folio *block = plan->block;
	enum thp_reserve_promote_result r;
	struct mmu_notifier_range range;

	VM_WARN_ON_ONCE(!plan->marked || plan->nr_copy);
	VM_WARN_ON_ONCE_FOLIO(!folio_test_locked(block), block);
	thp_reserve_zero_unmapped(block, haddr, plan->mapped);
	/* The zeroed contents before the PMD that maps them. */
	smp_wmb();

	anon_vma_lock_write(vma->anon_vma);
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, haddr,
				haddr + HPAGE_PMD_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	r = thp_reserve_swap_pmd(vma, pmd, haddr, who, block, plan->mapped,
				 pgtable, nr_used, &claimed, &stale);
	mmu_notifier_invalidate_range_end(&range);
	anon_vma_unlock_write(vma->anon_vma);
	if (r == THP_RES_PROMOTED) {
		folio_unlock(block);
		plan->marked = false;
		thp_reserve_promoted(claimed);
		thp_reserve_wake_promotion(READ_ONCE(mm->thp_reserve));
	}
	if (stale)
		thp_reserve_finish(mm, stale, THP_RES_REASON_STALE,
				   THP_RES_KEEP);
	return r;
}

/*
 * An empty page table for a promotion to deposit, charged to @mm's memory
 * cgroup as the range's own table was, whoever promotes.
 */
static pgtable_t thp_reserve_alloc_table(struct mm_struct *mm)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_mm(mm);
	struct mem_cgroup *old = set_active_memcg(memcg);
	pgtable_t pgtable = pte_alloc_one(mm);

	set_active_memcg(old);
	mem_cgroup_put(memcg);
	return pgtable;
}

/* Count and trace a promotion attempt that got as far as a reservation. */
static void thp_reserve_promote_count(struct mm_struct *mm,
				      unsigned long haddr,
				      enum thp_reserve_promoter who,
				      unsigned int nr_used,
				      unsigned int nr_copied,
				      enum thp_reserve_promote_result r)
{
	switch (r) {
	case THP_RES_PROMOTE_NONE:
	case THP_RES_PROMOTE_BELOW:
		return;
	case THP_RES_PROMOTED:
		count_vm_event(THP_RES_PROMOTE);
		if (who == THP_RES_BY_EARLY)
			count_vm_event(THP_RES_PROMOTE_EARLY);
		count_mthp_stat(HPAGE_PMD_ORDER, MTHP_STAT_RES_PROMOTE);
		break;
	default:
		count_vm_event(THP_RES_PROMOTE_FAILED);
		break;
	}
	trace_thp_res_promote(mm, haddr, nr_used, nr_copied, who, r);
}

/**
 * thp_reserve_promote_in_fault - promote the range a fault made due
 * @vmf: the fault, which has just handed out a page of the range
 * @haddr: PMD-aligned address of the range
 * @who: why it is due (threshold or early), for the counters
 *
 * Promotes the range in place before the fault returns. A range with
 * private copies (pages written after a fork()) is left to khugepaged,
 * which copies them back with mmap_lock held for writing; so is any range
 * this attempt fails on.
 * Context: VMA or mmap lock held for reading, no other lock.
 */
void thp_reserve_promote_in_fault(struct vm_fault *vmf,
				  unsigned long haddr,
				  enum thp_reserve_promoter who)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct thp_reserve_plan plan = { };
	enum thp_reserve_promote_result r;
	unsigned int nr_used = 0;
	pgtable_t pgtable;

	pgtable = thp_reserve_alloc_table(mm);
	if (!pgtable) {
		thp_reserve_promote_count(mm, haddr, who, 0, 0,
					  THP_RES_PROMOTE_BUSY);
		return;
	}
	r = thp_reserve_promote_check(mm, vma, haddr, who, &plan, &nr_used,
				      true);
	if (r == THP_RES_PROMOTED) {
		if (plan.marked)
			r = thp_reserve_promote_shared(vma, vmf->pmd, haddr, who,
						       &plan, pgtable, &nr_used);
		else
			r = THP_RES_PROMOTE_BUSY;
		thp_reserve_unmark(mm, haddr, &plan);
		folio_put(plan.block);
	}
	if (r != THP_RES_PROMOTED)
		pte_free(mm, pgtable);
	thp_reserve_promote_count(mm, haddr, who, nr_used, 0, r);
}

/**
 * thp_reserve_promote - map a reservation's block by one PMD, in place
 * @mm: the address space
 * @haddr: PMD-aligned address of the range
 * @who: khugepaged (at promotion_threshold used pages) or MADV_COLLAPSE
 *	(at once)
 * @mmap_locked: set to false when mmap_lock was released
 *
 * The never-used pages of the block are zeroed, pages copied on write
 * after a fork() are copied back one base page each, and the block, which
 * the range already used, is mapped by a PMD. Nothing is allocated but a
 * page table to deposit, and the used pages are not copied. A first pass
 * under the PTL decides whether it can work. A range without private
 * copies is then promoted with mmap_lock held for reading, as a fault
 * promotes (thp_reserve_promote_shared()); one with copies with mmap_lock
 * held for writing, like a collapse, since the copies must not change
 * while they are copied back.
 *
 * A range with pinned, shared, swapped-out or migrating pages, or no
 * longer inside one suitable VMA, stays PTE-mapped and keeps its
 * reservation; the failure is counted (thp_res_promote_failed) and traced.
 * For MADV_COLLAPSE a shared or swapped-out page returns
 * %THP_RES_PROMOTE_FALLBACK instead, with mmap_lock still held: the caller
 * may then collapse the range by copy, as the stock kernel would.
 *
 * Context: process context, mmap_lock held for reading, no other lock.
 * Returns with mmap_lock held for reading if *@mmap_locked is still true,
 * released otherwise.
 * Return: %THP_RES_PROMOTED if the range is now mapped by its block's PMD,
 * else why not.
 */
enum thp_reserve_promote_result
thp_reserve_promote(struct mm_struct *mm, unsigned long haddr,
		    enum thp_reserve_promoter who, bool *mmap_locked)
{
	struct vm_area_struct *vma = vma_lookup(mm, haddr);
	enum thp_reserve_promote_result r;
	struct thp_reserve_plan plan = { };
	unsigned int nr_used = 0, nr_copied = 0;
	pgtable_t pgtable;
	pmd_t *pmd;

	VM_WARN_ON_ONCE(haddr & ~HPAGE_PMD_MASK);
	mmap_assert_locked(mm);
	pgtable = thp_reserve_alloc_table(mm);
	r = thp_reserve_promote_check(mm, vma, haddr, who, &plan, &nr_used,
				      !!pgtable);
	if (r == THP_RES_PROMOTED && plan.marked) {
		/* mm_find_pmd() found it in the first pass: it is still there. */
		pmd = mm_find_pmd(mm, haddr);
		r = pmd ? thp_reserve_promote_shared(vma, pmd, haddr, who, &plan,
						     pgtable, &nr_used) :
			  THP_RES_PROMOTE_NONE;
		if (r == THP_RES_PROMOTED)
			pgtable = NULL;
		thp_reserve_unmark(mm, haddr, &plan);
		folio_put(plan.block);
	} else if (r == THP_RES_PROMOTED) {
		struct folio *block = plan.block;

		/* Private copies: they are copied back with the range detached. */
		mmap_read_unlock(mm);
		*mmap_locked = false;
		mmap_write_lock(mm);
		r = thp_reserve_promote_locked(mm, haddr, who, block, &plan,
					       &nr_used, &nr_copied);
		mmap_write_unlock(mm);
		folio_put(block);
	}
	if (pgtable)
		pte_free(mm, pgtable);
	thp_reserve_promote_count(mm, haddr, who, nr_used, nr_copied, r);
	if (who == THP_RES_BY_MADVISE && *mmap_locked &&
	    (r == THP_RES_PROMOTE_SHARED || r == THP_RES_PROMOTE_SWAPPED))
		return THP_RES_PROMOTE_FALLBACK;
	return r;
}
