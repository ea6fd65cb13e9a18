// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations: breaking a released block.
 *
 * A released block is split so that its never-used pages go back to the
 * page allocator, or, where the release was not the program's doing, its
 * densely used aligned chunks stay multi-size THPs in place and only the
 * rest is split. The caller holds the block's folio lock and a reference
 * and may sleep; mmap_lock is held (for reading, or for writing by
 * mremap) when chunks may be kept.
 * The pieces of a carved block are isolated from the LRU until they are
 * done, so nothing migrates, reclaims or frees them meanwhile.
 */

#include "internal.h"

/* ---- split to base pages ----------------------------------------------- */

/*
 * Split a released block, locked by the caller, so that its never-used
 * pages go back to the page allocator; unlock it and drop the caller's
 * reference. The caller must be able to sleep (the split takes the
 * anon_vma lock) and hold no anon_vma lock.
 * Return: true if the block was split (or is no longer a mapped block),
 * false if it could not be.
 */
static bool thp_reserve_split_locked(struct folio *folio)
{
	bool split = true;

	VM_WARN_ON_ONCE_FOLIO(!folio_test_locked(folio), folio);
	/* It may have been split or freed meanwhile. */
	if (folio_test_anon(folio) && folio_order(folio) == HPAGE_PMD_ORDER &&
	    folio_mapped(folio) && split_folio(folio)) {
		/* Pinned or under I/O: leave it to the deferred split queue. */
		deferred_split_folio(folio, true);
		split = false;
	}
	folio_unlock(folio);
	folio_put(folio);
	return split;
}

/* ---- mTHP fallback ------------------------------------------------------ */

/*
 * A block released rather than promoted keeps its densely used aligned
 * parts ("chunks") as multi-size THPs, in place: the block is split to the
 * highest enabled order that has a dense chunk, every folio that is not a
 * kept chunk is split further, down to base pages, and the never-used
 * pages of each kept chunk are zeroed and mapped, so that the chunk is a
 * fully mapped mTHP on the same frames. Only the never-used pages outside
 * kept chunks go back to the page allocator.
 *
 * Density counts the pages the program faulted (@used) and nothing else,
 * and a block is carved once, when its reservation ends: pages filled in
 * here never count towards a larger size. khugepaged does not count the
 * zero-filled pages of mTHPs towards a copy collapse either (see
 * thp_reserve_below_threshold()), so nothing creeps up to a PMD.
 */

/* The orders the fallback may keep: every anonymous mTHP order below PMD. */
#define THP_RES_MTHP_ORDERS	(THP_ORDERS_ALL_ANON & (BIT(HPAGE_PMD_ORDER) - 1))

/**
 * struct thp_reserve_carve - the chunks of a block that stay mTHPs
 * @head: first page of each kept chunk
 * @kept: pages inside kept chunks
 * @orders: the orders of the kept chunks
 *
 * Kept chunks are aligned to their size and do not overlap; one runs from
 * its head to the next head or to the first page outside @kept.
 */
struct thp_reserve_carve {
	DECLARE_BITMAP(head, HPAGE_PMD_NR);
	DECLARE_BITMAP(kept, HPAGE_PMD_NR);
	unsigned long orders;
};

/* Which releases keep dense chunks: those the program did not ask for. */
static bool thp_reserve_may_carve(enum thp_reserve_reason why)
{
	switch (why) {
	case THP_RES_REASON_RECLAIM:
	case THP_RES_REASON_VMA_SPLIT:
	case THP_RES_REASON_MREMAP:
	case THP_RES_REASON_AGED:
	case THP_RES_REASON_HIBERNATE:
		return true;
	default:
		return false;
	}
}

/* The number of bits of @map set in [@first, @first + @nr). */
static unsigned int thp_reserve_weight(const unsigned long *map,
				       unsigned int first, unsigned int nr)
{
	unsigned int i = first, w = 0;

	for_each_set_bit_from(i, map, first + nr)
		w++;
	return w;
}

/* The order of the kept chunk that holds page @i, or -1 if none does. */
static int thp_reserve_kept_order(const struct thp_reserve_carve *c,
				  unsigned int i)
{
	unsigned int head, end;

	if (!test_bit(i, c->kept))
		return -1;
	head = find_last_bit(c->head, i + 1);
	end = min(find_next_bit(c->head, HPAGE_PMD_NR, head + 1),
		  find_next_zero_bit(c->kept, HPAGE_PMD_NR, head));
	return ilog2(end - head);
}

/*
 * Used pages of a chunk of order @order that make it dense: @threshold
 * scaled to the chunk's size, rounded up.
 */
static unsigned int thp_reserve_chunk_need(unsigned int threshold,
					   unsigned int order)
{
	return DIV_ROUND_UP(threshold << order, HPAGE_PMD_NR);
}

/*
 * The VMA in which the chunk of order @order at page @first of @res's
 * range may be an mTHP, or NULL. Caller holds mmap_lock.
 */
static struct vm_area_struct *
thp_reserve_chunk_vma(struct mm_struct *mm, struct thp_reserve *res,
		      unsigned int first, unsigned int order)
{
	unsigned long addr = res->haddr + first * PAGE_SIZE;
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma || !vma_is_anonymous(vma) || !vma->anon_vma ||
	    !(vma->vm_flags & VM_WRITE) ||
	    (vma->vm_flags & (VM_SHARED | VM_LOCKED | VM_DROPPABLE)) ||
	    userfaultfd_armed(vma) || !thp_vma_suitable_order(vma, addr, order))
		return NULL;
	if (!thp_vma_allowable_order(vma, vma->vm_flags, TVA_ENFORCE_SYSFS,
				     order))
		return NULL;
	return vma;
}

/*
 * Does each PTE of the chunk [@first, @first + @nr) map its page of @block,
 * in this mm only, where the page was used, and nothing where it was not?
 * Caller holds the PTL of the range (@base).
 */
static bool thp_reserve_chunk_mapped(struct thp_reserve *res,
				     struct folio *block, pte_t *base,
				     unsigned int first, unsigned int nr)
{
	unsigned int i;

	for (i = first; i < first + nr; i++) {
		if (!test_bit(i, res->used)) {
			if (!pte_none(ptep_get(base + i)))
				return false;
			continue;
		}
		if (thp_reserve_folio_at(base, i) != block ||
		    atomic_read(&folio_page(block, i)->_mapcount) != 0)
			return false;
	}
	return true;
}

/*
 * Choose the chunks to keep from the used pages @used alone: for each
 * order of @orders, from the highest, every aligned chunk outside the
 * chunks already chosen whose used pages reach @threshold scaled to its
 * size (thp_reserve_chunk_need()) and that @ok(@arg, first page, order)
 * accepts (thp_reserve_chunk_ok() for a real block; the KUnit tests pass
 * their own). Reads nothing but its arguments.
 * Return: true if a chunk is kept.
 */
static bool thp_reserve_carve_select(const unsigned long *used,
				     unsigned long orders,
				     unsigned int threshold,
				     bool (*ok)(void *arg, unsigned int first,
						unsigned int order),
				     void *arg, struct thp_reserve_carve *c)
{
	unsigned int first, nr, need;
	int order;

	bitmap_zero(c->head, HPAGE_PMD_NR);
	bitmap_zero(c->kept, HPAGE_PMD_NR);
	c->orders = 0;
	orders &= THP_RES_MTHP_ORDERS;
	for (order = highest_order(orders); orders;
	     order = next_order(&orders, order)) {
		nr = 1U << order;
		need = thp_reserve_chunk_need(threshold, order);
		for (first = 0; first < HPAGE_PMD_NR; first += nr) {
			if (find_next_bit(c->kept, first + nr, first) <
			    first + nr)
				continue;
			if (thp_reserve_weight(used, first, nr) < need ||
			    !ok(arg, first, order))
				continue;
			__set_bit(first, c->head);
			bitmap_set(c->kept, first, nr);
			c->orders |= BIT(order);
		}
	}
	return c->orders;
}

/* What thp_reserve_chunk_ok() needs to know about the block. */
struct thp_reserve_chunk_arg {
	struct mm_struct *mm;
	struct thp_reserve *res;
	struct folio *block;
	pte_t *base;
};

/*
 * A chunk of a real block may be kept if its VMA allows an mTHP of its
 * order there and its PTEs map exactly its used pages of the block.
 * Caller holds mmap_lock and the PTL of the range.
 */
static bool thp_reserve_chunk_ok(void *arg, unsigned int first,
				 unsigned int order)
{
	struct thp_reserve_chunk_arg *a = arg;

	return thp_reserve_chunk_vma(a->mm, a->res, first, order) &&
	       thp_reserve_chunk_mapped(a->res, a->block, a->base, first,
					1U << order);
}

/*
 * Choose the chunks of @block to keep: those thp_reserve_carve_select()
 * picks among the orders enabled in any way, each checked against its
 * VMA and its PTEs (thp_reserve_chunk_ok()). Caller holds mmap_lock and
 * the PTL of the range (@base), and owns @res.
 * Return: true if a chunk is kept.
 */
static bool thp_reserve_carve_choose(struct mm_struct *mm,
				     struct thp_reserve *res,
				     struct folio *block, pte_t *base,
				     struct thp_reserve_carve *c)
{
	struct thp_reserve_chunk_arg a = {
		.mm = mm, .res = res, .block = block, .base = base,
	};
	/* The sizes enabled in any way; each chunk's VMA is asked. */
	unsigned long orders = READ_ONCE(huge_anon_orders_always) |
			       READ_ONCE(huge_anon_orders_madvise) |
			       READ_ONCE(huge_anon_orders_inherit);

	return thp_reserve_carve_select(res->used, orders,
					READ_ONCE(thp_reserve_threshold),
					thp_reserve_chunk_ok, &a, c);
}

/* As thp_reserve_carve_choose(), taking the PTL of the range. */
static bool thp_reserve_carve_plan(struct mm_struct *mm,
				   struct thp_reserve *res, struct folio *block,
				   struct thp_reserve_carve *c)
{
	spinlock_t *ptl;	/* the PTL of the range's page table */
	pte_t *base;
	bool ret;

	base = thp_reserve_lock_range(mm, res->haddr, &ptl);
	if (!base)
		return false;
	ret = thp_reserve_carve_choose(mm, res, block, base, c);
	pte_unmap_unlock(base, ptl);
	return ret;
}

/* The highest order of a kept chunk in [@first, @first + @nr), or 0. */
static unsigned int thp_reserve_inner_order(const struct thp_reserve_carve *c,
					    unsigned int first,
					    unsigned int nr)
{
	unsigned int head = first;
	int order = 0;

	for_each_set_bit_from(head, c->head, first + nr)
		order = max(order, thp_reserve_kept_order(c, head));
	return order;
}

/*
 * Lock a piece of a block being carved. Reclaim only tries, as it must not
 * wait for a folio lock its own caller may hold.
 */
static bool thp_reserve_lock_piece(struct folio *folio, bool try)
{
	if (try)
		return folio_trylock(folio);
	folio_lock(folio);
	return true;
}

/*
 * A piece is done: back to the LRU if still mapped, else freed with the
 * carver's reference.
 */
static void thp_reserve_piece_done(struct folio *folio)
{
	node_stat_mod_folio(folio, NR_ISOLATED_ANON, -folio_nr_pages(folio));
	if (folio_mapped(folio))
		folio_putback_lru(folio);
	else
		folio_put(folio);
}

/*
 * Map the never-used pages of the kept chunk @folio, pages [@first, ...)
 * of the range, zeroed, so that the chunk is a fully mapped mTHP. Caller
 * holds mmap_lock, the folio lock and the carver's reference on the
 * isolated folio: nobody else can map, migrate or reclaim it meanwhile.
 * Return: the number of pages mapped, or -EAGAIN (none mapped) if the
 * range no longer maps exactly the chunk's used pages.
 */
static int thp_reserve_carve_fill(struct mm_struct *mm,
				  struct thp_reserve *res, struct folio *folio,
				  unsigned int first)
{
	unsigned int nr = folio_nr_pages(folio), i, end, filled = 0;
	unsigned long addr = res->haddr + first * PAGE_SIZE;
	struct vm_area_struct *vma;
	spinlock_t *ptl;	/* the PTL of the range's page table */
	pte_t *base;

	vma = thp_reserve_chunk_vma(mm, res, first, folio_order(folio));
	if (!vma || folio->index != linear_page_index(vma, addr) ||
	    folio_anon_vma(folio)->root != vma->anon_vma->root ||
	    folio_test_swapcache(folio) || folio_test_has_hwpoisoned(folio))
		return -EAGAIN;
	/* A page that was never used is mapped by nobody, a used one once. */
	for (i = 0; i < nr; i++)
		if (atomic_read(&folio_page(folio, i)->_mapcount) !=
		    (test_bit(first + i, res->used) ? 0 : -1))
			return -EAGAIN;
	for (i = 0; i < nr; i++)
		if (!test_bit(first + i, res->used))
			clear_user_highpage(folio_page(folio, i),
					    addr + i * PAGE_SIZE);
	/* The zeroes before the PTEs that map them. */
	smp_wmb();

	base = thp_reserve_lock_range(mm, res->haddr, &ptl);
	if (!base)
		return -EAGAIN;
	for (i = 0; i < nr; i++) {
		pte_t pte = ptep_get(base + first + i);

		if (test_bit(first + i, res->used) ?
		    !pte_present(pte) ||
		    pte_pfn(pte) != folio_pfn(folio) + i :
		    !pte_none(pte)) {
			pte_unmap_unlock(base, ptl);
			return -EAGAIN;
		}
	}
	for (i = 0; i < nr; i = end) {
		struct page *page = folio_page(folio, i);
		unsigned long a = addr + i * PAGE_SIZE;
		unsigned int n;
		pte_t entry;

		if (test_bit(first + i, res->used)) {
			end = i + 1;
			continue;
		}
		end = find_next_bit(res->used, first + nr, first + i) - first;
		n = end - i;
		entry = mk_pte(page, vma->vm_page_prot);
		entry = pte_sw_mkyoung(entry);
		entry = pte_mkwrite(pte_mkdirty(entry), vma);
		folio_ref_add(folio, n);
		folio_add_anon_rmap_ptes(folio, page, n, vma, a, RMAP_EXCLUSIVE);
		set_ptes(mm, a, base + first + i, entry, n);
		update_mmu_cache_range(NULL, vma, a, base + first + i, n);
		filled += n;
	}
	add_mm_counter(mm, MM_ANONPAGES, filled);
	pte_unmap_unlock(base, ptl);
	count_mthp_stat(folio_order(folio), MTHP_STAT_RES_PROMOTE);
	count_vm_event(THP_RES_MTHP_PROMOTE);
	return filled;
}

/*
 * Carve the released block @block, locked by the caller with a reference,
 * as @c says; unlocks it and drops the reference. The block is isolated
 * from the LRU first, so that every piece a split makes comes to the
 * carver isolated and with a reference of its own: nothing migrates,
 * reclaims or frees a piece until the carver is done with it. A piece that
 * is not a kept chunk is split to the highest order of a kept chunk inside
 * it, or to base pages if none is; then the kept chunks are filled, and
 * every piece goes back to the LRU, or is freed if nothing maps it (the
 * never-used pages outside kept chunks). Caller holds mmap_lock.
 * Return: the never-used pages freed, that is all of them but those now
 * mapped in kept chunks and those in pieces that could not be split or
 * filled (left to the deferred split queue).
 */
static unsigned int thp_reserve_carve(struct mm_struct *mm,
				      struct thp_reserve *res,
				      struct folio *block,
				      struct thp_reserve_carve *c, bool try)
{
	unsigned int unused = HPAGE_PMD_NR - res->nr_used, held = 0;
	unsigned long pfn0 = folio_pfn(block);
	struct folio *folio, *tmp;
	bool locked = true;	/* only the block, at first */
	LIST_HEAD(todo);
	LIST_HEAD(keep);
	LIST_HEAD(done);
	int filled;

	VM_WARN_ON_ONCE(!c->orders || (c->orders & ~THP_RES_MTHP_ORDERS));
	/* Isolated by someone else (migration, compaction): split it whole. */
	if (!folio_isolate_lru(block))
		return thp_reserve_split_locked(block) ? unused : 0;
	node_stat_mod_folio(block, NR_ISOLATED_ANON, HPAGE_PMD_NR);
	/* The isolation's reference is the one the splits need. */
	folio_put(block);
	list_add(&block->lru, &todo);

	while ((folio = list_first_entry_or_null(&todo, struct folio, lru))) {
		unsigned int first = folio_pfn(folio) - pfn0;
		unsigned int nr = folio_nr_pages(folio);
		int order = folio_order(folio);

		list_del(&folio->lru);
		/* Nothing maps it, nor can: freed once done, split or not. */
		if (!locked && !folio_mapped(folio)) {
			list_add_tail(&folio->lru, &done);
			continue;
		}
		if (!order || thp_reserve_kept_order(c, first) == order) {
			VM_WARN_ON_ONCE(locked);
			list_add_tail(&folio->lru, order ? &keep : &done);
			continue;
		}
		if (!locked && !thp_reserve_lock_piece(folio, try)) {
			held += nr - thp_reserve_weight(res->used, first, nr);
			deferred_split_folio(folio, true);
			list_add_tail(&folio->lru, &done);
			continue;
		}
		locked = false;
		/* New pieces go to the tail of @todo, isolated, referenced. */
		order = thp_reserve_inner_order(c, first, nr);
		if (split_huge_page_to_list_to_order(&folio->page, &todo,
						     order)) {
			held += nr - thp_reserve_weight(res->used, first, nr);
			deferred_split_folio(folio, true);
			list_add_tail(&folio->lru, &done);
		} else {
			/* The first piece keeps the lock and the reference. */
			list_add(&folio->lru, &todo);
		}
		folio_unlock(folio);
	}

	list_for_each_entry_safe(folio, tmp, &keep, lru) {
		unsigned int first = folio_pfn(folio) - pfn0;
		unsigned int nr = folio_nr_pages(folio);

		filled = -EAGAIN;
		if (thp_reserve_lock_piece(folio, try)) {
			filled = thp_reserve_carve_fill(mm, res, folio, first);
			folio_unlock(folio);
		}
		if (filled < 0) {
			/* Partly mapped: the deferred split queue takes it. */
			filled = nr - thp_reserve_weight(res->used, first, nr);
			deferred_split_folio(folio, true);
		}
		held += filled;
		list_move_tail(&folio->lru, &done);
	}
	list_for_each_entry_safe(folio, tmp, &done, lru) {
		list_del(&folio->lru);
		thp_reserve_piece_done(folio);
	}
	/* Each never-used page is counted once: freed, filled or held. */
	VM_WARN_ON_ONCE(held > unused);
	return unused - min(held, unused);
}

/* ---- breaking a block ---------------------------------------------------- */

/**
 * thp_reserve_break_locked - break the block of a released entry
 * @mm: the entry's mm, with mmap_lock held; NULL if the mm is gone, which
 *	keeps no chunk
 * @res: the released (unhashed) entry, owned by the caller
 * @folio: the entry's block, locked by the caller, with a reference
 * @why: why the entry was released; only releases the program did not ask
 *	for keep dense chunks (thp_reserve_may_carve())
 * @try: only try the locks of the pieces (reclaim)
 *
 * Keeps the block's dense chunks as mTHPs where @why allows, and splits
 * the rest to base pages. Unlocks the block and drops the reference.
 * Context: may sleep; no anon_vma lock held.
 * Return: the never-used pages freed.
 */
unsigned int thp_reserve_break_locked(struct mm_struct *mm,
				      struct thp_reserve *res,
				      struct folio *folio,
				      enum thp_reserve_reason why,
				      bool try)
{
	struct thp_reserve_carve c;

	if (mm && thp_reserve_may_carve(why) &&
	    thp_reserve_carve_plan(mm, res, folio, &c))
		return thp_reserve_carve(mm, res, folio, &c, try);
	return thp_reserve_split_locked(folio) ? HPAGE_PMD_NR - res->nr_used :
						 0;
}

/**
 * thp_reserve_carve_any - would breaking a block keep a chunk now
 * @mm: the mm of @res, with mmap_lock held
 * @res: the entry, owned by the caller (table lock, or unhashed)
 * @block: the entry's block
 * @base: the range's first PTE, mapped with its PTL held
 *
 * Return: true if the mTHP fallback would keep at least one dense chunk of
 * @block as an mTHP.
 */
bool thp_reserve_carve_any(struct mm_struct *mm, struct thp_reserve *res,
			   struct folio *block, pte_t *base)
{
	struct thp_reserve_carve c;

	return thp_reserve_carve_choose(mm, res, block, base, &c);
}

#ifdef CONFIG_THP_RESERVATIONS_KUNIT_TEST
#include "tests/carve-kunit.h"
#endif
