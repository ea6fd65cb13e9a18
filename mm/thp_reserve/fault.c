// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations: the fault path.
 *
 * A write fault in an empty PMD range of an eligible VMA reserves one
 * PMD-order block for it and maps only the faulting page; later faults in
 * the range map pages of the block, zeroed, one by one, and the fault that
 * makes the range due promotes it in place (promote.c). Every fault here
 * holds the VMA lock or mmap_lock for reading; the PTL of the range then
 * the table lock serialise the faults of a range, and nothing under the
 * table lock sleeps or waits for a lock (see core.c for the order).
 */

#include "internal.h"
#include <trace/events/thp_reserve.h>

/* ---- the fault path ----------------------------------------------------- */

/*
 * A page of @res's block was handed out: mark the entry referenced, which
 * reclaim's walk turns into a move to the tail of its list (a second
 * chance) instead of every fault taking the list_lru lock to move it. If
 * migration has moved the block to another node since, the entry moves to
 * that node's list now, with its reserved pages. Caller holds the table
 * lock.
 */
static void thp_reserve_touch(struct thp_reserve_table *t,
			      struct thp_reserve *res, struct folio *block)
{
	int nid = folio_nid(block);
	long nr;

	thp_reserve_table_held(t);
	if (likely(nid == res->nid)) {
		WRITE_ONCE(res->referenced, true);
		return;
	}
	list_lru_del(&thp_reserve_lru, &res->lru, res->nid, res->memcg);
	nr = HPAGE_PMD_NR - res->nr_used;
	thp_reserve_account(res, res->nid, -nr);
	thp_reserve_account(res, nid, nr);
	res->nid = nid;
	WRITE_ONCE(res->referenced, false);
	list_lru_add(&thp_reserve_lru, &res->lru, res->nid, res->memcg);
}

/**
 * thp_reserve_vma_ok - may a range of a VMA be backed by a reservation
 * @vma: the VMA
 * @haddr: PMD-aligned address of the range
 *
 * Checks what can change after a reservation was made, so that handing out
 * a page and promotion use it too: an anonymous private VMA with an
 * anon_vma that covers the whole range and is not mlocked, droppable,
 * armed by userfaultfd or excluded from THP.
 * Context: mmap_lock or the VMA lock held.
 * Return: true if it may.
 */
bool thp_reserve_vma_ok(struct vm_area_struct *vma, unsigned long haddr)
{
	if (!vma_is_anonymous(vma) ||
	    (vma->vm_flags & (VM_SHARED | VM_NOHUGEPAGE | VM_LOCKED |
			      VM_DROPPABLE)))
		return false;
	if (haddr < vma->vm_start || haddr + HPAGE_PMD_SIZE > vma->vm_end)
		return false;
	if (userfaultfd_armed(vma) || vma_thp_disabled(vma, vma->vm_flags))
		return false;
	return !!vma->anon_vma;
}

/* May a write fault at vmf->address create a new reservation? */
static bool thp_reserve_may_reserve(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long haddr = vmf->address & HPAGE_PMD_MASK;

	if (READ_ONCE(thp_reserve_threshold) <= 1 ||
	    READ_ONCE(thp_reserve_paused) ||
	    !(vmf->flags & FAULT_FLAG_WRITE) ||
	    (vmf->flags & FAULT_FLAG_UNSHARE))
		return false;
	/* Whoever asked for huge pages gets them at the first fault. */
	if (vma->vm_flags & VM_HUGEPAGE)
		return false;
	if (!thp_reserve_vma_ok(vma, haddr))
		return false;
	return thp_vma_allowable_order(vma, vma->vm_flags,
				       TVA_IN_PF | TVA_ENFORCE_SYSFS,
				       HPAGE_PMD_ORDER);
}

/*
 * Map @page of @folio, zeroed by the caller, at vmf->address, replacing a
 * zero-page PTE if @replace_zero. Caller holds the PTL (vmf->pte) and the
 * folio lock, and has taken the reference the new PTE owns.
 */
static void thp_reserve_set_pte(struct vm_fault *vmf, struct folio *folio,
				struct page *page, bool replace_zero)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	unsigned long addr = vmf->address;
	pte_t entry;

	VM_WARN_ON_ONCE_FOLIO(!folio_test_locked(folio), folio);
	VM_WARN_ON_ONCE_PAGE(atomic_read(&page->_mapcount) != -1, page);

	entry = mk_pte(page, vma->vm_page_prot);
	entry = pte_sw_mkyoung(entry);
	entry = maybe_mkwrite(pte_mkdirty(entry), vma);
	if (replace_zero) {
		ksm_might_unmap_zero_page(mm, vmf->orig_pte);
		flush_cache_page(vma, addr, pte_pfn(vmf->orig_pte));
		ptep_clear_flush(vma, addr, vmf->pte);
	}
	folio_add_anon_rmap_ptes(folio, page, 1, vma, addr, RMAP_EXCLUSIVE);
	set_pte_at(mm, addr, vmf->pte, entry);
	update_mmu_cache_range(vmf, vma, addr, vmf->pte, 1);
	inc_mm_counter(mm, MM_ANONPAGES);
}

/* Is every PTE of the range none (or, with @zero_ok, the zero page)? */
static bool thp_reserve_range_empty(pte_t *base, bool zero_ok)
{
	unsigned int i;

	for (i = 0; i < HPAGE_PMD_NR; i++) {
		pte_t pte = ptep_get(base + i);

		if (pte_none(pte))
			continue;
		if (zero_ok && pte_present(pte) && is_zero_pfn(pte_pfn(pte)))
			continue;
		return false;
	}
	return true;
}

enum thp_reserve_result {
	THP_RES_DONE,		/* the fault is handled */
	THP_RES_RETRY,		/* the PTE changed: let the fault retry */
	THP_RES_FALLBACK,	/* take the stock path */
};

/*
 * A write to the zero-page PTE vmf->orig_pte: may the range get a new
 * reservation? Only if the PTE is unchanged, every PTE of the range is
 * none or the zero page, and the range has no reservation. Checked before
 * a block is allocated, so that a range already in use costs no 2 MiB
 * allocation; thp_reserve_new() checks again before it keeps the block.
 * Context: VMA or mmap lock held for reading, no other lock.
 */
static bool thp_reserve_zero_range_free(struct vm_fault *vmf)
{
	struct mm_struct *mm = vmf->vma->vm_mm;
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	unsigned long haddr = vmf->address & HPAGE_PMD_MASK;
	unsigned int idx = (vmf->address - haddr) >> PAGE_SHIFT;
	spinlock_t *ptl;	/* the PTL of the range's page table */
	bool ok = false;
	pte_t *pte;

	pte = pte_offset_map_lock(mm, vmf->pmd, vmf->address, &ptl);
	if (!pte)
		return false;
	if (pte_same(ptep_get(pte), vmf->orig_pte) &&
	    thp_reserve_range_empty(pte - idx, true)) {
		ok = true;
		if (t) {
			thp_reserve_table_lock(t);
			ok = !thp_reserve_lookup(t, haddr);
			thp_reserve_table_unlock(t);
		}
	}
	pte_unmap_unlock(pte, ptl);
	return ok;
}

/*
 * Give the empty PMD range of the fault a page table, if it has none yet,
 * and lock it: the PTE of vmf->address, with vmf->ptl held, or NULL if the
 * PMD changed (let the fault retry); *@ret is VM_FAULT_OOM if no page
 * table could be allocated.
 *
 * A new table's PTL is taken, nested under the PMD lock as everywhere
 * else, before the PMD points to the table, and held from then on: a
 * fault that reads the PMD without a lock, finds the table and takes its
 * PTL (do_anonymous_page()) gets it only once this fault has hashed its
 * entry and mapped its page. Were the PTL taken only after the PMD was
 * set, such a fault could take it first, find no entry and map a page of
 * its own, and the range would never be reserved (several threads
 * writing to a new range at once). Lockless readers that do not take the
 * PTL (GUP-fast, the PTE checks of handle_pte_fault()) see an empty table
 * and recheck under the PTL.
 */
static pte_t *thp_reserve_install_table(struct vm_fault *vmf, vm_fault_t *ret)
{
	struct mm_struct *mm = vmf->vma->vm_mm;
	pgtable_t pgtable = pte_alloc_one(mm);
	spinlock_t *pml;	/* the PMD's lock */
	spinlock_t *ptl;	/* the new table's PTL */
	pmd_t newpmd;		/* a PMD value that points to the new table */
	pte_t *pte;

	*ret = 0;
	if (!pgtable) {
		*ret = VM_FAULT_OOM;
		return NULL;
	}
	pml = pmd_lock(mm, vmf->pmd);
	if (!pmd_none(*vmf->pmd)) {
		/* Another fault gave the range a table (or a PMD) first. */
		spin_unlock(pml);
		pte_free(mm, pgtable);
		return pte_offset_map_lock(mm, vmf->pmd, vmf->address,
					   &vmf->ptl);
	}
	/* Only to find the new table's PTL, as a PMD split does. */
	pmd_populate(mm, &newpmd, pgtable);
	ptl = pte_lockptr(mm, &newpmd);
	if (ptl != pml)
		spin_lock_nested(ptl, SINGLE_DEPTH_NESTING);
	mm_inc_nr_ptes(mm);
	/* The empty table and the held PTL before the PMD that points to it. */
	smp_wmb();
	pmd_populate(mm, vmf->pmd, pgtable);
	/*
	 * What changes a PMD without its PTL (collapse, promotion with
	 * mmap_lock held for writing, mremap, free_pgtables()) is excluded
	 * by this fault's mmap_lock or VMA read lock; the rest takes the PTL.
	 */
	pte = pte_offset_map(&newpmd, vmf->address);
	if (ptl != pml)
		spin_unlock(pml);
	/* Never: the value was populated above, so it is a table. */
	if (WARN_ON_ONCE(!pte)) {
		spin_unlock(ptl);
		return NULL;
	}
	vmf->ptl = ptl;
	return pte;
}

/*
 * Create a reservation for the range of vmf->address and map the faulting
 * page from it. With @zero the faulting PTE maps the zero page (a write
 * after reads) and the other PTEs of the range may too.
 * Context: VMA or mmap lock held for reading, no other lock.
 */
static enum thp_reserve_result thp_reserve_new(struct vm_fault *vmf,
					       vm_fault_t *ret, bool zero)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	unsigned long haddr = vmf->address & HPAGE_PMD_MASK;
	unsigned int idx = (vmf->address - haddr) >> PAGE_SHIFT;
	enum thp_reserve_result result = THP_RES_FALLBACK;
	struct mmu_notifier_range range;
	struct thp_reserve_table *t;
	struct thp_reserve *res;
	struct folio *folio;
	bool slot = false;
	struct page *page;
	pte_t *base;
	gfp_t gfp;

	if (zero && !thp_reserve_zero_range_free(vmf))
		return THP_RES_FALLBACK;
	t = thp_reserve_table_get(mm);
	if (!t)
		return THP_RES_FALLBACK;
	res = kmem_cache_zalloc(thp_reserve_cache, GFP_KERNEL_ACCOUNT);
	if (!res)
		return THP_RES_FALLBACK;
	INIT_LIST_HEAD(&res->lru);

	gfp = vma_thp_gfp_mask(vma);
	folio = vma_alloc_folio(gfp, HPAGE_PMD_ORDER, vma, haddr, true);
	if (folio && mem_cgroup_charge(folio, mm, gfp)) {
		folio_put(folio);
		folio = NULL;
	}
	if (!folio) {
		count_vm_event(THP_RES_ALLOC_FAILED);
		kmem_cache_free(thp_reserve_cache, res);
		return THP_RES_FALLBACK;
	}
	/* The entry goes on the list_lru of the group the block is charged to. */
	res->memcg = get_mem_cgroup_from_folio(folio);
	if (IS_ENABLED(CONFIG_MEMCG) && res->memcg &&
	    memcg_list_lru_alloc(res->memcg, &thp_reserve_lru, GFP_KERNEL))
		goto out_put;
	folio_throttle_swaprate(folio, gfp);
	page = folio_page(folio, idx);
	clear_user_highpage(page, vmf->address);
	/* Orders the zeroing above before the set_pte_at() below. */
	__folio_mark_uptodate(folio);
	if (thp_reserve_reserve_slot(t, haddr))
		goto out_put;
	slot = true;

	if (zero) {
		mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm,
					vmf->address,
					vmf->address + PAGE_SIZE);
		mmu_notifier_invalidate_range_start(&range);
		vmf->pte = pte_offset_map_lock(mm, vmf->pmd, vmf->address,
					       &vmf->ptl);
	} else {
		vmf->pte = thp_reserve_install_table(vmf, ret);
		if (*ret) {
			result = THP_RES_DONE;
			goto out_put;
		}
	}
	if (!vmf->pte) {
		result = THP_RES_RETRY;
		goto out_notify;
	}
	base = vmf->pte - idx;
	if (zero ? !pte_same(ptep_get(vmf->pte), vmf->orig_pte) :
		   !pte_none(ptep_get(vmf->pte))) {
		update_mmu_tlb(vma, vmf->address, vmf->pte);
		result = THP_RES_RETRY;
		goto out_unlock;
	}
	/* Somebody else mapped the range first: populate handles it. */
	if (!thp_reserve_range_empty(base, zero)) {
		result = zero ? THP_RES_FALLBACK : THP_RES_RETRY;
		goto out_unlock;
	}
	*ret = check_stable_address_space(mm);
	if (*ret) {
		result = THP_RES_DONE;
		goto out_unlock;
	}

	res->mm = mm;
	res->haddr = haddr;
	res->pfn = folio_pfn(folio);
	res->nid = folio_nid(folio);
	res->anchor = idx;
	res->nr_used = 1;
	__set_bit(idx, res->used);
	thp_reserve_table_lock(t);
	/*
	 * A hibernation that started since the check in may_reserve waits
	 * in synchronize_rcu() for this section before it breaks every
	 * hashed entry, so none can be hashed behind its back.
	 */
	if (thp_reserve_lookup(t, haddr) || READ_ONCE(thp_reserve_paused)) {
		thp_reserve_table_unlock(t);
		result = zero ? THP_RES_FALLBACK : THP_RES_RETRY;
		goto out_unlock;
	}
	/* The slot may have been given back by another thread's failure. */
	if (!thp_reserve_hash(t, res)) {
		thp_reserve_table_unlock(t);
		goto out_unlock;
	}
	thp_reserve_account(res, res->nid, HPAGE_PMD_NR - 1);
	thp_reserve_table_unlock(t);

	/* Not visible to anybody yet: the trylock cannot fail. */
	if (!folio_trylock(folio))
		VM_WARN_ON_ONCE(1);
	/*
	 * PG_lru is set under the lruvec lock after this store, and every
	 * isolation takes that lock: reclaim cannot meet the block first.
	 */
	if (!READ_ONCE(thp_reserve_made))
		WRITE_ONCE(thp_reserve_made, true);
	folio_prepare_anon_block(folio, vma, haddr);
	folio_add_lru_vma(folio, vma);
	thp_reserve_set_pte(vmf, folio, page, zero);
	folio_unlock(folio);
	count_vm_event(THP_RES_ALLOC);
	trace_thp_res_alloc(mm, haddr, res->pfn, res->nid);
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	if (zero)
		mmu_notifier_invalidate_range_end(&range);
	*ret = 0;
	return THP_RES_DONE;

out_unlock:
	pte_unmap_unlock(vmf->pte, vmf->ptl);
out_notify:
	if (zero)
		mmu_notifier_invalidate_range_end(&range);
out_put:
	if (slot)
		thp_reserve_unreserve(t, haddr);
	/* A block allocated and charged for nothing. */
	count_vm_event(THP_RES_ALLOC_DISCARD);
	folio_put(folio);
	thp_reserve_free(res);
	if (result == THP_RES_RETRY)
		*ret = 0;
	return result;
}

/* Is a promotion marked on the range at @haddr? */
static bool thp_reserve_promoting(struct thp_reserve_table *t,
				  unsigned long haddr)
{
	struct thp_reserve *res;
	bool busy;

	thp_reserve_table_lock(t);
	res = thp_reserve_lookup(t, haddr);
	busy = res && res->promoter;
	thp_reserve_table_unlock(t);
	return busy;
}

/*
 * A fault found the range at @haddr marked by a promotion: wait until the
 * promotion ends (thp_reserve_unmark() or the unhash of a promoted entry
 * wakes it, on the table), as a swap-in waits for a locked folio: with
 * the fault's lock dropped and VM_FAULT_RETRY where the fault allows it,
 * else holding it, which is safe as the promoter takes no mmap or VMA
 * lock. Waits without a reference on the block, which would fail the
 * promotion's check of its references. No lock held on entry.
 * Return: the fault's result.
 */
static vm_fault_t thp_reserve_wait_promotion(struct vm_fault *vmf,
					     struct thp_reserve_table *t,
					     unsigned long haddr)
{
	if (fault_flag_allow_retry_first(vmf->flags)) {
		if (vmf->flags & FAULT_FLAG_RETRY_NOWAIT)
			return VM_FAULT_RETRY;
		release_fault_lock(vmf);
		/* The table lives as long as the mm, which the fault pins. */
		if (vmf->flags & FAULT_FLAG_KILLABLE)
			wait_var_event_killable(t, !thp_reserve_promoting(t, haddr));
		else
			wait_var_event(t, !thp_reserve_promoting(t, haddr));
		return VM_FAULT_RETRY;
	}
	wait_var_event(t, !thp_reserve_promoting(t, haddr));
	return 0;
}

/**
 * thp_reserve_wake_promotion - wake the faults waiting for a promotion
 * @t: the table in which a range's promotion mark was cleared
 *
 * Context: any; called after the mark changed under the table lock.
 */
void thp_reserve_wake_promotion(struct thp_reserve_table *t)
{
	/* The mark's change, made under the table lock, before the check. */
	smp_mb();
	wake_up_var(t);
}

/*
 * Does the fault that has just used a page of @res promote it, and for
 * whom (*@who)? At @threshold used pages, and once more when the last page
 * is used (an attempt at the threshold may have failed); early when the
 * used pages are exactly the first @early pages of the range (@early 0:
 * never). Each condition holds at one fault of a range's life only.
 * Caller holds the table lock, and passes the knobs' values.
 */
static bool thp_reserve_promote_due(const struct thp_reserve *res,
				    unsigned int threshold, unsigned int early,
				    enum thp_reserve_promoter *who)
{
	if (res->nr_used == threshold || res->nr_used == HPAGE_PMD_NR) {
		*who = THP_RES_BY_FAULT;
		return true;
	}
	if (early && early < threshold && res->nr_used == early &&
	    find_first_zero_bit(res->used, HPAGE_PMD_NR) == early) {
		*who = THP_RES_BY_EARLY;
		return true;
	}
	return false;
}

/*
 * Map the faulting page of vmf->address from the range's reservation, if
 * there is one and the page was never handed out. With @zero the faulting
 * PTE maps the zero page. The fault that makes the range due for promotion
 * (thp_reserve_promote_due()) promotes it before it returns; while a
 * promotion has the range marked, faults in it retry.
 * Context: VMA or mmap lock held for reading.
 */
static enum thp_reserve_result thp_reserve_take(struct vm_fault *vmf,
						vm_fault_t *ret, bool zero)
{
	struct vm_area_struct *vma = vmf->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	unsigned long haddr = vmf->address & HPAGE_PMD_MASK;
	unsigned int idx = (vmf->address - haddr) >> PAGE_SHIFT;
	enum thp_reserve_result result = THP_RES_FALLBACK;
	struct thp_reserve *res, *stale = NULL;
	struct mmu_notifier_range range;
	enum thp_reserve_promoter who;
	struct folio *folio;
	bool wait = false;
	struct page *page;
	bool promote;

	if (!t || !(vmf->flags & FAULT_FLAG_WRITE) ||
	    (vmf->flags & FAULT_FLAG_UNSHARE))
		return THP_RES_FALLBACK;
	if (!thp_reserve_vma_ok(vma, haddr)) {
		/*
		 * The VMA was locked, registered with userfaultfd or denied
		 * huge pages after the range was reserved: the reservation
		 * would never hand out another page.
		 */
		if (haddr >= vma->vm_start &&
		    haddr + HPAGE_PMD_SIZE <= vma->vm_end)
			thp_reserve_release(mm, haddr, haddr + 1,
					    THP_RES_REASON_INELIGIBLE,
					    THP_RES_SPLIT_ASYNC);
		return THP_RES_FALLBACK;
	}

	if (zero) {
		mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm,
					vmf->address,
					vmf->address + PAGE_SIZE);
		mmu_notifier_invalidate_range_start(&range);
	}
	vmf->pte = pte_offset_map_lock(mm, vmf->pmd, vmf->address, &vmf->ptl);
	if (!vmf->pte) {
		result = THP_RES_RETRY;
		goto out_notify;
	}
	if (zero ? !pte_same(ptep_get(vmf->pte), vmf->orig_pte) :
		   !pte_none(ptep_get(vmf->pte))) {
		update_mmu_tlb(vma, vmf->address, vmf->pte);
		result = THP_RES_RETRY;
		goto out_unlock;
	}

	/* The OOM reaper may have unmapped the range: hand out nothing. */
	*ret = check_stable_address_space(mm);
	if (*ret) {
		result = THP_RES_DONE;
		goto out_unlock;
	}

	thp_reserve_table_lock(t);
	res = thp_reserve_lookup(t, haddr);
	if (!res)
		goto out_unlock_table;
	/*
	 * Its pages are being zeroed and the range will be mapped by a PMD:
	 * wait for the promotion to end, then retry.
	 */
	if (res->promoter) {
		wait = true;
		result = THP_RES_RETRY;
		goto out_unlock_table;
	}
	if (test_bit(idx, res->used))
		goto out_unlock_table;
	folio = thp_reserve_block(res, vmf->pte - idx);
	if (!folio && thp_reserve_migrating(res, vmf->pte - idx))
		goto out_unlock_table;
	if (!folio || folio->index != linear_page_index(vma, haddr) ||
	    folio_anon_vma(folio)->root != vma->anon_vma->root) {
		thp_reserve_unhash(t, res);
		stale = res;
		goto out_unlock_table;
	}
	page = folio_page(folio, idx);
	if (atomic_read(&page->_mapcount) != -1 || PageHWPoison(page) ||
	    folio_test_swapcache(folio) || folio_test_writeback(folio) ||
	    !folio_trylock(folio))
		goto out_unlock_table;
	thp_reserve_touch(t, res, folio);
	__set_bit(idx, res->used);
	res->nr_used++;
	promote = thp_reserve_promote_due(res, READ_ONCE(thp_reserve_threshold),
					  READ_ONCE(thp_reserve_early), &who);
	thp_reserve_account(res, res->nid, -1);
	thp_reserve_table_unlock(t);

	folio_get(folio);
	clear_user_highpage(page, vmf->address);
	/* The zeroed contents must be visible before the PTE is. */
	smp_wmb();
	thp_reserve_set_pte(vmf, folio, page, zero);
	folio_unlock(folio);
	count_vm_event(THP_RES_POPULATE);
	*ret = 0;
	result = THP_RES_DONE;
	pte_unmap_unlock(vmf->pte, vmf->ptl);
	if (zero)
		mmu_notifier_invalidate_range_end(&range);
	if (promote)
		thp_reserve_promote_in_fault(vmf, haddr, who);
	return result;

out_unlock_table:
	thp_reserve_table_unlock(t);
out_unlock:
	pte_unmap_unlock(vmf->pte, vmf->ptl);
out_notify:
	if (zero)
		mmu_notifier_invalidate_range_end(&range);
	if (stale)
		thp_reserve_finish(mm, stale, THP_RES_REASON_STALE,
				   THP_RES_KEEP);
	if (result == THP_RES_RETRY)
		*ret = 0;
	if (wait)
		*ret = thp_reserve_wait_promotion(vmf, t, haddr);
	return result;
}

/**
 * thp_reserve_fault - reserve a block at a fault in an empty PMD range
 * @vmf: the fault; vmf->pmd is none
 * @ret: set to the fault's result when the fault was handled
 *
 * Called by do_huge_pmd_anonymous_page() before it allocates a huge page.
 * Context: VMA or mmap lock held for reading.
 * Return: true if the fault was handled (*@ret is valid), false to take
 * the stock path.
 */
bool thp_reserve_fault(struct vm_fault *vmf, vm_fault_t *ret)
{
	if (!thp_reserve_may_reserve(vmf))
		return false;
	return thp_reserve_new(vmf, ret, false) != THP_RES_FALLBACK;
}

/**
 * __thp_reserve_populate - map a never-used page of a reservation
 * @vmf: a write fault on a none PTE
 * @ret: set to the fault's result when the fault was handled
 *
 * Called by do_anonymous_page() before it allocates a page.
 * Context: VMA or mmap lock held for reading.
 * Return: true if the fault was handled (*@ret is valid), false to take
 * the stock path.
 */
bool __thp_reserve_populate(struct vm_fault *vmf, vm_fault_t *ret)
{
	return thp_reserve_take(vmf, ret, false) != THP_RES_FALLBACK;
}

/**
 * thp_reserve_wp_zero - a write to a zero-page PTE
 * @vmf: the fault; vmf->orig_pte maps the zero page
 * @ret: set to the fault's result when the fault was handled
 *
 * Inside a live reservation the page comes from the block. In a range that
 * maps nothing but the zero page (read first, written later) the first
 * write reserves a block, as a write to an empty range would.
 * Called by wp_page_copy() before it allocates a page.
 * Context: VMA or mmap lock held for reading, no PTL.
 * Return: true if the fault was handled (*@ret is valid), false to take
 * the stock path.
 */
bool thp_reserve_wp_zero(struct vm_fault *vmf, vm_fault_t *ret)
{
	if (thp_reserve_mm_active(vmf->vma->vm_mm)) {
		switch (thp_reserve_take(vmf, ret, true)) {
		case THP_RES_DONE:
		case THP_RES_RETRY:
			return true;
		case THP_RES_FALLBACK:
			break;
		}
	}
	if (!thp_reserve_may_reserve(vmf))
		return false;
	return thp_reserve_new(vmf, ret, true) != THP_RES_FALLBACK;
}

#ifdef CONFIG_THP_RESERVATIONS_KUNIT_TEST
#include "tests/fault-kunit.h"
#endif
