// SPDX-License-Identifier: GPL-2.0
/*
 * Reservation-based transparent huge pages for anonymous memory.
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
 * Locking, outermost first:
 *   mmap_lock -> VMA lock -> anon_vma lock -> page table lock (PTL)
 *     -> folio lock (trylock only) -> thp_reserve_table.lock
 * The table lock is innermost: nothing sleeps, allocates or waits for a lock
 * under it; the only lock taken under it is a folio trylock. All PTEs of a
 * range live in one page table, so the PTL of that table serialises every
 * fault in the range.
 *
 * See Documentation/mm/thp-reservations.rst.
 */

#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/huge_mm.h>
#include <linux/kobject.h>
#include <linux/ksm.h>
#include <linux/llist.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/oom.h>
#include <linux/rmap.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/sysfs.h>
#include <linux/thp_reserve.h>
#include <linux/userfaultfd_k.h>
#include <linux/vmstat.h>
#include <linux/workqueue.h>
#include <asm/tlbflush.h>

#include "internal.h"

#define CREATE_TRACE_POINTS
#include <trace/events/thp_reserve.h>

#define THP_RES_HASH_BITS	6
#define THP_RES_HASH_SIZE	BIT(THP_RES_HASH_BITS)

/**
 * struct thp_reserve_table - the reservations of one mm
 * @lock: protects every field below and every field of the entries marked
 *	"table lock"; innermost lock, see the file comment.
 * @nr: number of hashed entries.
 * @lru: hashed entries, least recently populated first.
 * @hash: entries hashed by their aligned address.
 *
 * Allocated at the mm's first reservation, installed in mm->thp_reserve
 * with cmpxchg() and freed when the mm is freed (__mmdrop()).
 */
struct thp_reserve_table {
	spinlock_t lock;	/* innermost: see the file comment */
	unsigned long nr;
	struct list_head lru;
	struct hlist_head hash[THP_RES_HASH_SIZE];
};

/**
 * struct thp_reserve - one reservation
 * @node: link in thp_reserve_table.hash (table lock).
 * @lru: link in thp_reserve_table.lru (table lock).
 * @haddr: PMD-aligned start of the range; immutable, the hash key.
 * @pfn: first pfn of the block when last seen; a hint for tracing only
 *	(table lock).
 * @nid: node whose NR_THP_RESERVED this entry charged; immutable.
 * @anchor: index of a page of the range last seen mapped from the block
 *	(table lock).
 * @nr_used: number of bits set in @used (table lock).
 * @used: pages of the range handed out at least once, including the one
 *	mapped when the block was reserved. A page is handed out at most once
 *	(table lock).
 * @split_node: link in the split worker's list, once unhashed.
 * @split_folio: the block, with a reference, for the split worker.
 *
 * Once unhashed under the table lock an entry belongs to the thread that
 * unhashed it, and later to the split worker.
 */
struct thp_reserve {
	struct hlist_node node;
	struct list_head lru;
	unsigned long haddr;
	unsigned long pfn;
	int nid;
	unsigned int anchor;
	unsigned int nr_used;
	DECLARE_BITMAP(used, MAX_PTRS_PER_PTE);
	struct llist_node split_node;
	struct folio *split_folio;
};

/* Lowest number of used pages at which a block is promoted (part 2). */
static unsigned int thp_reserve_threshold __read_mostly;

static struct kmem_cache *thp_reserve_cache __ro_after_init;

static void thp_reserve_split_workfn(struct work_struct *work);
static LLIST_HEAD(thp_reserve_split_list);
static DECLARE_WORK(thp_reserve_split_work, thp_reserve_split_workfn);

/* ---- the per-mm table --------------------------------------------------- */

static struct hlist_head *thp_reserve_bucket(struct thp_reserve_table *t,
					     unsigned long haddr)
{
	return &t->hash[hash_long(haddr >> HPAGE_PMD_SHIFT, THP_RES_HASH_BITS)];
}

/* Caller holds t->lock. */
static struct thp_reserve *thp_reserve_lookup(struct thp_reserve_table *t,
					      unsigned long haddr)
{
	struct thp_reserve *res;

	lockdep_assert_held(&t->lock);
	hlist_for_each_entry(res, thp_reserve_bucket(t, haddr), node)
		if (res->haddr == haddr)
			return res;
	return NULL;
}

/* Caller holds t->lock and has checked that no entry exists for haddr. */
static void thp_reserve_hash(struct thp_reserve_table *t,
			     struct thp_reserve *res)
{
	lockdep_assert_held(&t->lock);
	hlist_add_head(&res->node, thp_reserve_bucket(t, res->haddr));
	list_add_tail(&res->lru, &t->lru);
	t->nr++;
}

/* Caller holds t->lock; the entry then belongs to the caller. */
static void thp_reserve_unhash(struct thp_reserve_table *t,
			       struct thp_reserve *res)
{
	lockdep_assert_held(&t->lock);
	VM_WARN_ON_ONCE(!t->nr);
	hlist_del_init(&res->node);
	list_del_init(&res->lru);
	t->nr--;
}

/* The mm's table, allocated on first use; NULL if that allocation fails. */
static struct thp_reserve_table *thp_reserve_table_get(struct mm_struct *mm)
{
	struct thp_reserve_table *t = READ_ONCE(mm->thp_reserve);
	unsigned int i;

	if (likely(t))
		return t;
	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return NULL;
	spin_lock_init(&t->lock);
	INIT_LIST_HEAD(&t->lru);
	for (i = 0; i < THP_RES_HASH_SIZE; i++)
		INIT_HLIST_HEAD(&t->hash[i]);
	if (cmpxchg(&mm->thp_reserve, NULL, t)) {
		kfree(t);
		t = READ_ONCE(mm->thp_reserve);
	}
	return t;
}

/* ---- finding the block through the page table ------------------------- */

/*
 * The block's folio if PTE @i of the range's page table maps page @i of a
 * PMD-order anonymous folio. Caller holds the PTL; @base is the range's
 * first PTE.
 */
static struct folio *thp_reserve_folio_at(pte_t *base, unsigned int i)
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

/*
 * Find the block through the anchor, or through any used page when the
 * anchor moved away, and update the anchor. Returns NULL if no PTE of the
 * range maps the block any more. Caller holds the PTL of the range and
 * owns @res (table lock, or unhashed).
 */
static struct folio *thp_reserve_block(struct thp_reserve *res, pte_t *base)
{
	struct folio *folio = thp_reserve_folio_at(base, res->anchor);
	unsigned int i;

	if (folio)
		return folio;
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

/*
 * Is a used page of the range under migration? The block is then between
 * two folios, not gone. Caller holds the PTL of the range.
 */
static bool thp_reserve_migrating(struct thp_reserve *res, pte_t *base)
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

/*
 * Take a reference on the block of an unhashed entry, under the PTL of its
 * range. Caller holds mmap_lock (any mode) so the page table stays.
 */
static struct folio *thp_reserve_grab_block(struct mm_struct *mm,
					    struct thp_reserve *res)
{
	struct folio *folio = NULL;
	spinlock_t *ptl;	/* the PTL of the range's page table */
	pmd_t *pmd;
	pte_t *pte;

	pmd = mm_find_pmd(mm, res->haddr);
	if (!pmd)
		return NULL;
	pte = pte_offset_map_lock(mm, pmd, res->haddr, &ptl);
	if (!pte)
		return NULL;
	folio = thp_reserve_block(res, pte);
	if (folio && !folio_try_get(folio))
		folio = NULL;
	pte_unmap_unlock(pte, ptl);
	return folio;
}

/* ---- release ------------------------------------------------------------ */

/*
 * Split a released block so that its never-used pages go back to the page
 * allocator. Takes the folio lock: the caller must be able to sleep and hold
 * no anon_vma lock. Consumes the caller's reference.
 */
static void thp_reserve_split_block(struct folio *folio)
{
	folio_lock(folio);
	/* It may have been split or freed meanwhile. */
	if (folio_test_anon(folio) && folio_order(folio) == HPAGE_PMD_ORDER &&
	    folio_mapped(folio) && split_folio(folio))
		/* Pinned or under I/O: leave it to the deferred split queue. */
		deferred_split_folio(folio, true);
	folio_unlock(folio);
	folio_put(folio);
}

static void thp_reserve_split_workfn(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&thp_reserve_split_list);
	struct thp_reserve *res, *next;

	llist_for_each_entry_safe(res, next, list, split_node) {
		thp_reserve_split_block(res->split_folio);
		kmem_cache_free(thp_reserve_cache, res);
	}
}

enum thp_reserve_split {
	THP_RES_KEEP,		/* the caller frees the whole block anyway */
	THP_RES_SPLIT,		/* split now; the caller may sleep */
	THP_RES_SPLIT_ASYNC,	/* split from a worker; the caller holds locks */
};

/*
 * Account the release of an unhashed entry and dispose of it. Caller holds
 * mmap_lock in some mode, unless the mm is being torn down.
 */
static void thp_reserve_finish(struct mm_struct *mm, struct thp_reserve *res,
			       enum thp_reserve_reason why,
			       enum thp_reserve_split how)
{
	struct folio *folio = NULL;

	VM_WARN_ON_ONCE(res->nr_used < 1 || res->nr_used > HPAGE_PMD_NR);
	mod_node_page_state(NODE_DATA(res->nid), NR_THP_RESERVED,
			    -(long)(HPAGE_PMD_NR - res->nr_used));
	count_vm_event(THP_RES_RELEASE);
	trace_thp_res_release(mm, res->haddr, res->nr_used, why);

	if (how != THP_RES_KEEP && res->nr_used < HPAGE_PMD_NR)
		folio = thp_reserve_grab_block(mm, res);
	if (folio && how == THP_RES_SPLIT_ASYNC) {
		res->split_folio = folio;
		if (llist_add(&res->split_node, &thp_reserve_split_list))
			queue_work(system_unbound_wq, &thp_reserve_split_work);
		return;
	}
	if (folio)
		thp_reserve_split_block(folio);
	kmem_cache_free(thp_reserve_cache, res);
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
	unsigned long first = start & HPAGE_PMD_MASK;
	unsigned long last = (end - 1) & HPAGE_PMD_MASK;
	struct thp_reserve *res;
	struct hlist_node *tmp;
	unsigned int nr = 0, i;
	unsigned long haddr;

	spin_lock(&t->lock);
	if (((last - first) >> HPAGE_PMD_SHIFT) < THP_RES_HASH_SIZE) {
		for (haddr = first; ; haddr += HPAGE_PMD_SIZE) {
			res = thp_reserve_lookup(t, haddr);
			if (res) {
				thp_reserve_unhash(t, res);
				hlist_add_head(&res->node, dead);
				nr++;
			}
			if (haddr == last)
				break;
		}
	} else {
		for (i = 0; i < THP_RES_HASH_SIZE && t->nr; i++) {
			hlist_for_each_entry_safe(res, tmp, &t->hash[i], node) {
				if (res->haddr < first || res->haddr > last)
					continue;
				thp_reserve_unhash(t, res);
				hlist_add_head(&res->node, dead);
				nr++;
			}
		}
	}
	spin_unlock(&t->lock);
	return nr;
}

static void thp_reserve_release(struct mm_struct *mm, unsigned long start,
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
 * that is not PMD-aligned releases the reservation it cuts. Mirrors
 * vma_adjust_trans_huge(), which splits huge PMDs at the same places.
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
 * MADV_DONTNEED, MADV_FREE and MADV_PAGEOUT give memory back, and
 * MADV_COLLAPSE replaces the range: each releases the reservations it
 * touches and splits their blocks, so never-used pages are freed at once.
 * MADV_NOHUGEPAGE forbids huge pages in the VMA and does the same.
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
	case MADV_COLLAPSE:
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

	spin_lock(&t->lock);
	ret = !!thp_reserve_lookup(t, haddr);
	spin_unlock(&t->lock);
	return ret;
}

/* ---- the fault path ----------------------------------------------------- */

/*
 * May the range at @haddr of @vma be backed by a reservation? Checks what
 * can change after a reservation was made, so populate uses it too.
 */
static bool thp_reserve_vma_ok(struct vm_area_struct *vma, unsigned long haddr)
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
	struct page *page;
	pte_t *base;
	gfp_t gfp;

	t = thp_reserve_table_get(mm);
	if (!t)
		return THP_RES_FALLBACK;
	res = kmem_cache_zalloc(thp_reserve_cache, GFP_KERNEL_ACCOUNT);
	if (!res)
		return THP_RES_FALLBACK;

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
	folio_throttle_swaprate(folio, gfp);
	page = folio_page(folio, idx);
	clear_user_highpage(page, vmf->address);
	/* Orders the zeroing above before the set_pte_at() below. */
	__folio_mark_uptodate(folio);

	if (zero) {
		mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm,
					vmf->address,
					vmf->address + PAGE_SIZE);
		mmu_notifier_invalidate_range_start(&range);
	} else if (pte_alloc(mm, vmf->pmd)) {
		*ret = VM_FAULT_OOM;
		result = THP_RES_DONE;
		goto out_put;
	}

	vmf->pte = pte_offset_map_lock(mm, vmf->pmd, vmf->address, &vmf->ptl);
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

	res->haddr = haddr;
	res->pfn = folio_pfn(folio);
	res->nid = folio_nid(folio);
	res->anchor = idx;
	res->nr_used = 1;
	__set_bit(idx, res->used);
	spin_lock(&t->lock);
	if (thp_reserve_lookup(t, haddr)) {
		spin_unlock(&t->lock);
		result = zero ? THP_RES_FALLBACK : THP_RES_RETRY;
		goto out_unlock;
	}
	thp_reserve_hash(t, res);
	spin_unlock(&t->lock);

	/* Not visible to anybody yet: the trylock cannot fail. */
	if (!folio_trylock(folio))
		VM_WARN_ON_ONCE(1);
	folio_prepare_anon_block(folio, vma, haddr);
	folio_add_lru_vma(folio, vma);
	thp_reserve_set_pte(vmf, folio, page, zero);
	folio_unlock(folio);
	mod_node_page_state(NODE_DATA(res->nid), NR_THP_RESERVED,
			    HPAGE_PMD_NR - 1);
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
	folio_put(folio);
	kmem_cache_free(thp_reserve_cache, res);
	if (result == THP_RES_RETRY)
		*ret = 0;
	return result;
}

/*
 * Map the faulting page of vmf->address from the range's reservation, if
 * there is one and the page was never handed out. With @zero the faulting
 * PTE maps the zero page. Context: VMA or mmap lock held for reading.
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
	struct folio *folio;
	struct page *page;
	int nid;

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

	spin_lock(&t->lock);
	res = thp_reserve_lookup(t, haddr);
	if (!res || test_bit(idx, res->used))
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
	__set_bit(idx, res->used);
	res->nr_used++;
	list_move_tail(&res->lru, &t->lru);
	nid = res->nid;
	spin_unlock(&t->lock);

	mod_node_page_state(NODE_DATA(nid), NR_THP_RESERVED, -1);
	folio_get(folio);
	clear_user_highpage(page, vmf->address);
	/* The zeroed contents must be visible before the PTE is. */
	smp_wmb();
	thp_reserve_set_pte(vmf, folio, page, zero);
	folio_unlock(folio);
	count_vm_event(THP_RES_POPULATE);
	*ret = 0;
	result = THP_RES_DONE;
	goto out_unlock;

out_unlock_table:
	spin_unlock(&t->lock);
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

/* ---- sysfs -------------------------------------------------------------- */

static ssize_t promotion_threshold_show(struct kobject *kobj,
					struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(thp_reserve_threshold));
}

static ssize_t promotion_threshold_store(struct kobject *kobj,
					 struct kobj_attribute *attr,
					 const char *buf, size_t count)
{
	unsigned int val;

	if (kstrtouint(buf, 10, &val) || val < 1 || val > HPAGE_PMD_NR)
		return -EINVAL;
	WRITE_ONCE(thp_reserve_threshold, val);
	return count;
}

struct kobj_attribute thp_reserve_threshold_attr =
	__ATTR(promotion_threshold, 0644, promotion_threshold_show,
	       promotion_threshold_store);

static int __init thp_reserve_init(void)
{
	thp_reserve_threshold = HPAGE_PMD_NR / 2;
	thp_reserve_cache = KMEM_CACHE(thp_reserve, SLAB_PANIC | SLAB_ACCOUNT);
	return 0;
}
subsys_initcall(thp_reserve_init);
