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
 * the PTL of that table serialises every fault in the range.
 *
 * See Documentation/mm/thp-reservations.rst.
 */

#include <linux/fault-inject.h>
#include <linux/highmem.h>
#include <linux/huge_mm.h>
#include <linux/kobject.h>
#include <linux/ksm.h>
#include <linux/list_lru.h>
#include <linux/llist.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/oom.h>
#include <linux/pgalloc.h>
#include <linux/rmap.h>
#include <linux/shrinker.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/suspend.h>
#include <linux/freezer.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/sysfs.h>
#include <linux/thp_reserve.h>
#include <linux/userfaultfd_k.h>
#include <linux/vmstat.h>
#include <linux/wait_bit.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <asm/tlb.h>
#include <asm/tlbflush.h>

#include "internal.h"

#define CREATE_TRACE_POINTS
#include <trace/events/thp_reserve.h>

/**
 * struct thp_reserve_table - the reservations of one mm
 * @entries: the entries, indexed by their range's address >> HPAGE_PMD_SHIFT.
 *	Its xa_lock is "the table lock": it protects @entries, @nr and every
 *	field of the entries marked "table lock"; see the file comment for
 *	its place in the lock order. A lookup walks at most a handful of
 *	xarray levels whatever the number of entries, and a range of
 *	addresses visits only the entries in it.
 * @nr: number of hashed entries (table lock).
 *
 * Allocated at the mm's first reservation, installed in mm->thp_reserve
 * with cmpxchg() and freed when the mm is freed (__mmdrop()). An entry is
 * "hashed" while @entries holds it. A slot may also hold a reserved (zero)
 * entry, which a lookup reads as NULL: thp_reserve_new() reserves its slot
 * before it takes the PTL, so that storing the entry under the PTL needs
 * no allocation.
 */
struct thp_reserve_table {
	struct xarray entries;
	unsigned long nr;
};

/* The table lock; see struct thp_reserve_table. */
#define thp_reserve_table_lock(t)	xa_lock(&(t)->entries)
#define thp_reserve_table_unlock(t)	xa_unlock(&(t)->entries)
#define thp_reserve_table_trylock(t)	spin_trylock(&(t)->entries.xa_lock)
#define thp_reserve_table_held(t)	lockdep_assert_held(&(t)->entries.xa_lock)

/**
 * struct thp_reserve - one reservation
 * @node: link in the private list of the thread that unhashed the entry
 *	(thp_reserve_release()); unused while the entry is hashed.
 * @lru: link in thp_reserve_lru, on the list of (@nid, @memcg); added and
 *	deleted under the table lock, walked under the list_lru lock. An entry
 *	is on the list_lru exactly while it is hashed.
 * @referenced: a page was handed out since the entry was put at the tail
 *	of its list (hashed, moved to another node, or given a second chance
 *	by reclaim's walk). Set by populate under the table lock,
 *	tested and cleared by the walk under the list_lru lock (which gives
 *	the entry a second chance at the tail); a hint, read and written
 *	with READ_ONCE()/WRITE_ONCE().
 * @mm: the mm whose table hashes the entry; immutable. Valid while the
 *	entry is hashed: exit_mmap() unhashes every entry before the mm can
 *	be freed.
 * @memcg: the memory cgroup the block was charged to, with a css
 *	reference; immutable. Its NR_THP_RESERVED (memory.stat thp_reserved)
 *	carries the entry's reserved pages while the entry is hashed.
 * @haddr: PMD-aligned start of the range; immutable. Its
 *	thp_reserve_index() is the entry's index in the table.
 * @pfn: first pfn of the block when last seen through the page table;
 *	for tracing only (table lock).
 * @nid: node of the block's pages when last populated: its NR_THP_RESERVED
 *	carries the entry's reserved pages, and its list_lru list holds the
 *	entry (table lock).
 * @anchor: index of a page of the range last seen mapped from the block
 *	(table lock).
 * @nr_used: number of bits set in @used (table lock).
 * @nr_seen: @nr_used when khugepaged last found the entry below the
 *	threshold; equal at its next visit means the range stopped growing
 *	(table lock).
 * @used: pages of the range handed out at least once, including the one
 *	mapped when the block was reserved. A page is handed out at most once
 *	(table lock). Only faults set bits: pages filled in by a promotion or
 *	by the mTHP fallback never count.
 * @split_node: link in the split worker's list, once unhashed.
 * @split_folio: the block, with a reference, for the split worker.
 * @split_why: why the entry was released, for the split worker.
 * @gone: the block was split by somebody else, and its never-used pages
 *	left NR_THP_RESERVED then (thp_reserve_block_split()); the release
 *	of the entry, once it is found stale, does not take them away again
 *	(table lock).
 * @promoter: the task promoting the range with mmap_lock or the VMA lock
 *	held for reading (thp_reserve_promote_shared()), which holds the
 *	block's folio lock meanwhile; NULL if none. Faults in the range hand
 *	out nothing and wait (thp_reserve_wait_promotion()) until the entry
 *	is gone or unmarked. Set under the PTL of the range, with the plan
 *	that decides which pages are zeroed, and cleared only by the same
 *	task if the promotion fails (table lock).
 *
 * Once unhashed under the table lock an entry belongs to the thread that
 * unhashed it, and later to the split worker, which then also holds an
 * mmgrab() reference on @mm.
 */
struct thp_reserve {
	struct hlist_node node;
	struct list_head lru;
	struct mm_struct *mm;
	struct mem_cgroup *memcg;
	unsigned long haddr;
	unsigned long pfn;
	int nid;
	unsigned int anchor;
	unsigned int nr_used;
	unsigned int nr_seen;
	DECLARE_BITMAP(used, MAX_PTRS_PER_PTE);
	struct llist_node split_node;
	struct folio *split_folio;
	enum thp_reserve_reason split_why;
	bool gone;
	bool referenced;
	struct task_struct *promoter;
};

/*
 * Lowest number of used pages at which a block is promoted: by the fault
 * that uses the last of them, else by khugepaged.
 */
static unsigned int thp_reserve_threshold __read_mostly;

/*
 * promotion_threshold from the kernel command line
 * (thp_promotion_threshold=), applied by thp_reserve_init() before the
 * first user space fault; 0 if the command line gave none, or none valid.
 */
static unsigned int thp_reserve_boot_threshold __initdata;

/*
 * Set by the first reservation made since boot, before its block goes on
 * an LRU list; never cleared. Until then thp_reserve_swap_split() leaves
 * reclaim to the stock code. nr_thp_reserved cannot serve: its per-CPU
 * deltas can make it read 0 while a reservation lives.
 */
static bool thp_reserve_made __read_mostly;

/*
 * A range whose used pages are exactly its first thp_reserve_early pages is
 * being filled in order from its start, and is promoted by the fault that
 * completes them, below the threshold; 0 turns this off. Sixteen in-order
 * faults from the first page are unlikely by chance (a program that
 * touches a quarter of its pages at random does it once in 4^16 ranges),
 * and cost 16 faults per 2 MiB instead of 512.
 */
#define THP_RES_EARLY_DEFAULT	16
static unsigned int thp_reserve_early __read_mostly = THP_RES_EARLY_DEFAULT;

/*
 * Set from the start of a hibernation to its end: no reservation is made,
 * and every one made before was broken (see thp_reserve_pm_notify()).
 * Read by the fault path under the table lock, inside the PTL's section.
 */
static bool thp_reserve_paused;

static struct kmem_cache *thp_reserve_cache __ro_after_init;

/*
 * Every hashed entry, by node and memcg, least recently populated first to
 * within one pass of reclaim's walk (see thp_reserve_isolate()).
 */
static struct list_lru thp_reserve_lru;
static struct shrinker *thp_reserve_shrinker __ro_after_init;

static void thp_reserve_split_workfn(struct work_struct *work);
static LLIST_HEAD(thp_reserve_split_list);
static DECLARE_WORK(thp_reserve_split_work, thp_reserve_split_workfn);
/* Runs the split worker; reclaim feeds it, so it has a rescuer. */
static struct workqueue_struct *thp_reserve_wq __ro_after_init;
static void thp_reserve_promote_in_fault(struct vm_fault *vmf,
					 unsigned long haddr,
					 enum thp_reserve_promoter who);

/* ---- the per-mm table --------------------------------------------------- */

/* The index of the range at @haddr in thp_reserve_table.entries. */
static unsigned long thp_reserve_index(unsigned long haddr)
{
	return haddr >> HPAGE_PMD_SHIFT;
}

/* The entry of the range at @haddr, or NULL. Caller holds the table lock. */
static struct thp_reserve *thp_reserve_lookup(struct thp_reserve_table *t,
					      unsigned long haddr)
{
	thp_reserve_table_held(t);
	return xa_load(&t->entries, thp_reserve_index(haddr));
}

/*
 * Reserve the slot of the range at @haddr, so that thp_reserve_hash() can
 * store an entry there under the PTL without allocating. Pairs with
 * thp_reserve_unreserve() if no entry was stored. Context: may sleep; no
 * spinlock held. Return: 0 or -ENOMEM.
 */
static int thp_reserve_reserve_slot(struct thp_reserve_table *t,
				    unsigned long haddr)
{
	return xa_reserve(&t->entries, thp_reserve_index(haddr),
			  GFP_KERNEL_ACCOUNT);
}

/*
 * Give back a slot reserved by thp_reserve_reserve_slot(); an entry stored
 * there since (by this thread or another) stays. Context: no spinlock held.
 */
static void thp_reserve_unreserve(struct thp_reserve_table *t,
				  unsigned long haddr)
{
	xa_release(&t->entries, thp_reserve_index(haddr));
}

/*
 * Store @res in its slot and put it on the list_lru. Caller holds the
 * table lock and has checked that no entry exists for the range; the slot
 * was reserved (thp_reserve_reserve_slot()), else a failed allocation of
 * the xarray's nodes fails this.
 * Return: true if @res was hashed.
 */
static bool thp_reserve_hash(struct thp_reserve_table *t,
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

/*
 * Take a hashed entry out of the table; the caller has taken it off the
 * list_lru. Caller holds the table lock; the entry then belongs to the
 * caller.
 */
static void __thp_reserve_unhash(struct thp_reserve_table *t,
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

/* Caller holds the table lock; the entry then belongs to the caller. */
static void thp_reserve_unhash(struct thp_reserve_table *t,
			       struct thp_reserve *res)
{
	list_lru_del(&thp_reserve_lru, &res->lru, res->nid, res->memcg);
	__thp_reserve_unhash(t, res);
}

/*
 * Add @nr (negative: take away) never-used pages of @res to nr_thp_reserved
 * of node @nid and of the entry's memory cgroup (memory.stat thp_reserved).
 * Any context.
 */
static void thp_reserve_account(struct thp_reserve *res, int nid, long nr)
{
	mod_lruvec_state(mem_cgroup_lruvec(res->memcg, NODE_DATA(nid)),
			 NR_THP_RESERVED, nr);
}

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

/* Free an entry that is not hashed (or never was). */
static void thp_reserve_free(struct thp_reserve *res)
{
	VM_WARN_ON_ONCE(!list_empty(&res->lru));
	mem_cgroup_put(res->memcg);
	kmem_cache_free(thp_reserve_cache, res);
}

/* The mm's table, allocated on first use; NULL if that allocation fails. */
static struct thp_reserve_table *thp_reserve_table_get(struct mm_struct *mm)
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
 * Map and lock the page table of the PMD range at @haddr: the first PTE of
 * the range, with *@ptl held, or NULL if the range has no page table or no
 * VMA over any part of it. Caller holds mmap_lock (any mode), the VMA
 * lock of a VMA over the range (a fault), or the anon_vma lock of a VMA
 * over the range (an rmap walk: free_pgtables() unlinks a VMA from its
 * anon_vma under that lock before it frees the VMA's tables). A range
 * that no VMA covers is being unmapped (munmap downgrades to a read lock
 * before it frees page tables): its table may go away under a reader, so
 * it is not walked. With a VMA over it, any of these locks keeps the
 * table. Undo with pte_unmap_unlock().
 */
static pte_t *thp_reserve_lock_range(struct mm_struct *mm, unsigned long haddr,
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

/* ---- release ------------------------------------------------------------ */

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

/* Used pages of a chunk of order @order that make it dense. */
static unsigned int thp_reserve_chunk_need(unsigned int order)
{
	return DIV_ROUND_UP(READ_ONCE(thp_reserve_threshold) << order,
			    HPAGE_PMD_NR);
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
 * Choose the chunks of @block to keep: for each order enabled for its VMA,
 * from the highest, every aligned chunk outside the chunks already chosen
 * whose used pages reach the threshold scaled to its size and whose PTEs
 * map exactly those pages. Caller holds mmap_lock and the PTL of the range
 * (@base), and owns @res.
 * Return: true if a chunk is kept.
 */
static bool thp_reserve_carve_choose(struct mm_struct *mm,
				     struct thp_reserve *res,
				     struct folio *block, pte_t *base,
				     struct thp_reserve_carve *c)
{
	unsigned long orders = THP_RES_MTHP_ORDERS;
	unsigned int first, nr, need;
	int order;

	bitmap_zero(c->head, HPAGE_PMD_NR);
	bitmap_zero(c->kept, HPAGE_PMD_NR);
	c->orders = 0;
	/* The sizes enabled in any way; each chunk's VMA is asked below. */
	orders &= READ_ONCE(huge_anon_orders_always) |
		  READ_ONCE(huge_anon_orders_madvise) |
		  READ_ONCE(huge_anon_orders_inherit);
	for (order = highest_order(orders); orders;
	     order = next_order(&orders, order)) {
		nr = 1U << order;
		need = thp_reserve_chunk_need(order);
		for (first = 0; first < HPAGE_PMD_NR; first += nr) {
			if (find_next_bit(c->kept, first + nr, first) <
			    first + nr)
				continue;
			if (thp_reserve_weight(res->used, first, nr) < need ||
			    !thp_reserve_chunk_vma(mm, res, first, order) ||
			    !thp_reserve_chunk_mapped(res, block, base, first,
						      nr))
				continue;
			__set_bit(first, c->head);
			bitmap_set(c->kept, first, nr);
			c->orders |= BIT(order);
		}
	}
	return c->orders;
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

/*
 * Break the released block @folio, locked by the caller with a reference:
 * keep its dense chunks as mTHPs if @why allows and @mm is given, split the
 * rest to base pages. Unlocks the block and drops the reference. Caller
 * holds mmap_lock of @mm, may sleep and holds no anon_vma lock.
 * Return: the never-used pages freed.
 */
static unsigned int thp_reserve_break_locked(struct mm_struct *mm,
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

enum thp_reserve_split {
	THP_RES_KEEP,		/* the caller frees the whole block anyway */
	THP_RES_SPLIT,		/* split now; the caller may sleep */
	THP_RES_SPLIT_ASYNC,	/* split from a worker; the caller holds locks */
	THP_RES_SPLIT_TRY,	/* reclaim: split now if the block is unlocked */
};

/*
 * Account the release of an unhashed entry and dispose of it. Caller holds
 * mmap_lock in some mode, unless the mm is being torn down.
 * Return: the number of never-used pages freed now by breaking the block;
 * 0 when that is left to the worker.
 */
static unsigned int thp_reserve_finish(struct mm_struct *mm,
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
 * table could be allocated. The table is installed under the PMD lock and
 * its PTL taken before that lock is dropped, so no other fault can find
 * the range with a page table but without the entry this fault is about
 * to hash: it would map a page of its own there, and the range would
 * never be reserved (several threads writing to a new range at once).
 */
static pte_t *thp_reserve_install_table(struct vm_fault *vmf, vm_fault_t *ret)
{
	struct mm_struct *mm = vmf->vma->vm_mm;
	pgtable_t pgtable = pte_alloc_one(mm);
	spinlock_t *pml;	/* the PMD's lock */
	pte_t *pte;

	*ret = 0;
	if (!pgtable) {
		*ret = VM_FAULT_OOM;
		return NULL;
	}
	pml = pmd_lock(mm, vmf->pmd);
	if (pmd_none(*vmf->pmd)) {
		mm_inc_nr_ptes(mm);
		/* The empty table before the PMD that points to it. */
		smp_wmb();
		pmd_populate(mm, vmf->pmd, pgtable);
		pgtable = NULL;
	}
	/* The PMD lock keeps the page table: no recheck of the PMD needed. */
	pte = pte_offset_map_nolock(mm, vmf->pmd, vmf->address, &vmf->ptl);
	if (pte && vmf->ptl != pml)
		spin_lock_nested(vmf->ptl, SINGLE_DEPTH_NESTING);
	if (!pte || vmf->ptl != pml)
		spin_unlock(pml);
	if (pgtable)
		pte_free(mm, pgtable);
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

/* A promotion of a range of @t ended: wake the faults that wait for it. */
static void thp_reserve_wake_promotion(struct thp_reserve_table *t)
{
	/* The mark's change, made under the table lock, before the check. */
	smp_mb();
	wake_up_var(t);
}

/*
 * Does the fault that has just used a page of @res promote it, and for
 * whom? At the threshold, and once more when the last page is used (an
 * attempt at the threshold may have failed); early when the used pages are
 * exactly the first thp_reserve_early pages of the range. Each condition
 * holds at one fault of a range's life only. Caller holds the table lock.
 */
static bool thp_reserve_promote_due(struct thp_reserve *res,
				    enum thp_reserve_promoter *who)
{
	unsigned int threshold = READ_ONCE(thp_reserve_threshold);
	unsigned int early = READ_ONCE(thp_reserve_early);

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
	promote = thp_reserve_promote_due(res, &who);
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
	struct thp_reserve_carve c;
	struct folio *block;

	if (res->nr_seen != res->nr_used) {
		res->nr_seen = res->nr_used;
		return false;
	}
	block = thp_reserve_block(res, base);
	return block && thp_reserve_carve_choose(vma->vm_mm, res, block, base,
						 &c);
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

/*
 * The fault @vmf made the range at @haddr due for promotion: promote it
 * in place before the fault returns. A range with private copies (pages
 * written after a fork()) is left to khugepaged, which copies them back
 * with mmap_lock held for writing; so is any range this attempt fails on.
 * Context: VMA or mmap lock held for reading, no other lock.
 */
static void thp_reserve_promote_in_fault(struct vm_fault *vmf,
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

/* ---- reclaim ------------------------------------------------------------ */

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

static void __init thp_reserve_fault_inject_init(void)
{
	fault_create_debugfs_attr("fail_thp_res_reclaim", NULL,
				  &thp_reserve_fail_reclaim);
}
#else
static inline bool thp_reserve_reclaim_fails(void)
{
	return false;
}

static inline void thp_reserve_fault_inject_init(void)
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
 * list_lru walk callback: break the reservation at @item, unless a page of
 * it was handed out since the walk last met it (@referenced): that entry
 * loses the mark and goes to the tail, so the walk breaks the entries
 * least recently populated first to within one pass (the order of a
 * second-chance clock). Called with the
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
	/*
	 * Populated since the walk last met it: to the tail, once. Alone on
	 * its list it is the tail already, and the walk would end there
	 * (list_for_each_safe() read the head as the next item before the
	 * rotation): its second chance is over at once.
	 */
	if (READ_ONCE(res->referenced)) {
		WRITE_ONCE(res->referenced, false);
		if (!list_is_singular(&list->list))
			return LRU_ROTATE;
	}
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

/*
 * Without its list_lru and shrinker nothing could give reserved memory back:
 * reservations then stay off (promotion_threshold 1, and writes refused).
 */
static int __init thp_reserve_shrinker_init(void)
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
		flush_work(&thp_reserve_split_work);
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

static void __init thp_reserve_pm_init(void)
{
	register_pm_notifier(&thp_reserve_pm_nb);
}
#else
static inline void thp_reserve_pm_init(void)
{
}
#endif

/* ---- sysfs -------------------------------------------------------------- */

/*
 * Parse a knob's number of pages of a range: @lo to HPAGE_PMD_NR.
 * Return: 0, or -EINVAL for anything else, with *@val then undefined.
 */
static int thp_reserve_parse_pages(const char *buf, unsigned int lo,
				   unsigned int *val)
{
	if (kstrtouint(buf, 10, val) || *val < lo || *val > HPAGE_PMD_NR)
		return -EINVAL;
	return 0;
}

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

	if (thp_reserve_parse_pages(buf, 1, &val))
		return -EINVAL;
	if (val > 1 && !thp_reserve_shrinker)
		return -ENODEV;
	WRITE_ONCE(thp_reserve_threshold, val);
	return count;
}

struct kobj_attribute thp_reserve_threshold_attr =
	__ATTR(promotion_threshold, 0644, promotion_threshold_show,
	       promotion_threshold_store);

static ssize_t promotion_early_show(struct kobject *kobj,
				    struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(thp_reserve_early));
}

/* 0 (never) or 2 to HPAGE_PMD_NR: one used page is no order. */
static ssize_t promotion_early_store(struct kobject *kobj,
				     struct kobj_attribute *attr,
				     const char *buf, size_t count)
{
	unsigned int val;

	if (thp_reserve_parse_pages(buf, 0, &val) || val == 1)
		return -EINVAL;
	WRITE_ONCE(thp_reserve_early, val);
	return count;
}

struct kobj_attribute thp_reserve_early_attr =
	__ATTR(promotion_early, 0644, promotion_early_show,
	       promotion_early_store);

/*
 * thp_promotion_threshold=N: the promotion threshold from boot on, as
 * writing N to promotion_threshold would set it, with the same range
 * (1 to HPAGE_PMD_NR). Anything else is refused with a warning and leaves
 * the threshold that the command line set before, or the built-in one.
 */
static int __init thp_reserve_threshold_setup(char *str)
{
	unsigned int val;

	if (thp_reserve_parse_pages(str, 1, &val)) {
		pr_warn("thp_reserve: thp_promotion_threshold=%s ignored: it takes 1 to %d\n",
			str, HPAGE_PMD_NR);
		return 1;
	}
	thp_reserve_boot_threshold = val;
	return 1;
}
__setup("thp_promotion_threshold=", thp_reserve_threshold_setup);

/*
 * The threshold reservations start with: the command line's, else the
 * built-in CONFIG_THP_RESERVATIONS_THRESHOLD, where 0 means half of the
 * base pages of a PMD range and other values are capped at all of them.
 */
static unsigned int __init thp_reserve_initial_threshold(void)
{
	if (thp_reserve_boot_threshold)
		return thp_reserve_boot_threshold;
	if (!CONFIG_THP_RESERVATIONS_THRESHOLD)
		return HPAGE_PMD_NR / 2;
	return min_t(unsigned int, CONFIG_THP_RESERVATIONS_THRESHOLD,
		     HPAGE_PMD_NR);
}

static int __init thp_reserve_init(void)
{
	unsigned int threshold = thp_reserve_initial_threshold();

	thp_reserve_threshold = 1;
	thp_reserve_cache = KMEM_CACHE(thp_reserve, SLAB_PANIC | SLAB_ACCOUNT);
	thp_reserve_wq = alloc_workqueue("thp_reserve",
					 WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!thp_reserve_wq)
		thp_reserve_wq = system_unbound_wq;
	thp_reserve_fault_inject_init();
	if (thp_reserve_shrinker_init()) {
		pr_warn("thp_reserve: no shrinker, reservations stay off (promotion_threshold 1, not %u)\n",
			threshold);
		return 0;
	}
	thp_reserve_pm_init();
	WRITE_ONCE(thp_reserve_threshold, threshold);
	if (thp_reserve_boot_threshold)
		pr_info("thp_reserve: promotion_threshold %u from the command line\n",
			threshold);
	return 0;
}
subsys_initcall(thp_reserve_init);
