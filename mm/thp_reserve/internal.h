/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal interfaces of THP reservations, shared by the files of
 * mm/thp_reserve/:
 *
 *   core.c     the per-mm table, its entries and their lifecycle: finding a
 *              block through the page table, releasing entries on every
 *              path (munmap, mremap, madvise, VMA split, exit) and the split
 *              worker;
 *   carve.c    breaking a released block: split to base pages, or keep its
 *              dense aligned chunks as multi-size THPs in place;
 *   fault.c    reserving a block at a write fault and handing out its pages;
 *   promote.c  promotion of a block in place, from the fault path,
 *              khugepaged and MADV_COLLAPSE;
 *   reclaim.c  breaking reservations under memory pressure, the swap-out
 *              check, splits made by others, and hibernation;
 *   sysfs.c    the knobs, the boot parameter and initialisation.
 *
 * The design and the lock order are described in core.c and in
 * Documentation/mm/thp-reservations.rst.
 */
#ifndef __MM_THP_RESERVE_INTERNAL_H
#define __MM_THP_RESERVE_INTERNAL_H

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

#include "../internal.h"

/**
 * struct thp_reserve_table - the reservations of one mm
 * @entries: the entries, indexed by their range's address >> HPAGE_PMD_SHIFT.
 *	Its xa_lock is "the table lock": it protects @entries, @nr and every
 *	field of the entries marked "table lock"; see the file comment of
 *	core.c for its place in the lock order. A lookup walks at most a
 *	handful of xarray levels whatever the number of entries, and a range
 *	of addresses visits only the entries in it.
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

/* What thp_reserve_finish() does with the block of a released entry. */
enum thp_reserve_split {
	THP_RES_KEEP,		/* the caller frees the whole block anyway */
	THP_RES_SPLIT,		/* split now; the caller may sleep */
	THP_RES_SPLIT_ASYNC,	/* split from a worker; the caller holds locks */
	THP_RES_SPLIT_TRY,	/* reclaim: split now if the block is unlocked */
};

/*
 * Lowest number of used pages at which a block is promoted: by the fault
 * that uses the last of them, else by khugepaged; 1 turns reservations
 * off. Written by sysfs, read with READ_ONCE() (core.c).
 */
extern unsigned int thp_reserve_threshold;

/*
 * A range whose used pages are exactly its first thp_reserve_early pages is
 * being filled in order from its start, and is promoted by the fault that
 * completes them, below the threshold; 0 turns this off. Sixteen in-order
 * faults from the first page are unlikely by chance (a program that
 * touches a quarter of its pages at random does it once in 4^16 ranges),
 * and cost 16 faults per 2 MiB instead of 512. Written by sysfs, read with
 * READ_ONCE() (core.c).
 */
#define THP_RES_EARLY_DEFAULT	16
extern unsigned int thp_reserve_early;

/*
 * Set by the first reservation made since boot, before its block goes on
 * an LRU list; never cleared. Until then thp_reserve_swap_split() leaves
 * reclaim to the stock code. nr_thp_reserved cannot serve: its per-CPU
 * deltas can make it read 0 while a reservation lives (core.c).
 */
extern bool thp_reserve_made;

/*
 * Set from the start of a hibernation to its end: no reservation is made,
 * and every one made before was broken (see thp_reserve_pm_notify()).
 * Read by the fault path under the table lock, inside the PTL's section
 * (core.c).
 */
extern bool thp_reserve_paused;

/* The slab cache of struct thp_reserve (core.c). */
extern struct kmem_cache *thp_reserve_cache;

/*
 * Every hashed entry, by node and memcg, least recently populated first to
 * within one pass of reclaim's walk (see thp_reserve_isolate(); core.c).
 */
extern struct list_lru thp_reserve_lru;

/* Reclaim's shrinker; NULL if it could not be set up (reclaim.c). */
extern struct shrinker *thp_reserve_shrinker;

/* The index of the range at @haddr in thp_reserve_table.entries. */
static inline unsigned long thp_reserve_index(unsigned long haddr)
{
	return haddr >> HPAGE_PMD_SHIFT;
}

/* The entry of the range at @haddr, or NULL. Caller holds the table lock. */
static inline struct thp_reserve *
thp_reserve_lookup(struct thp_reserve_table *t, unsigned long haddr)
{
	thp_reserve_table_held(t);
	return xa_load(&t->entries, thp_reserve_index(haddr));
}

/*
 * Add @nr (negative: take away) never-used pages of @res to nr_thp_reserved
 * of node @nid and of the entry's memory cgroup (memory.stat thp_reserved).
 * Any context.
 */
static inline void thp_reserve_account(struct thp_reserve *res, int nid,
				       long nr)
{
	mod_lruvec_state(mem_cgroup_lruvec(res->memcg, NODE_DATA(nid)),
			 NR_THP_RESERVED, nr);
}

/*
 * Reserve the slot of the range at @haddr, so that thp_reserve_hash() can
 * store an entry there under the PTL without allocating. Pairs with
 * thp_reserve_unreserve() if no entry was stored. Context: may sleep; no
 * spinlock held. Return: 0 or -ENOMEM.
 */
static inline int thp_reserve_reserve_slot(struct thp_reserve_table *t,
					   unsigned long haddr)
{
	return xa_reserve(&t->entries, thp_reserve_index(haddr),
			  GFP_KERNEL_ACCOUNT);
}

/*
 * Give back a slot reserved by thp_reserve_reserve_slot(); an entry stored
 * there since (by this thread or another) stays. Context: no spinlock held.
 */
static inline void thp_reserve_unreserve(struct thp_reserve_table *t,
					 unsigned long haddr)
{
	xa_release(&t->entries, thp_reserve_index(haddr));
}

/* core.c */
void __init thp_reserve_core_init(void);
bool thp_reserve_hash(struct thp_reserve_table *t, struct thp_reserve *res);
void __thp_reserve_unhash(struct thp_reserve_table *t,
			  struct thp_reserve *res);
void thp_reserve_unhash(struct thp_reserve_table *t, struct thp_reserve *res);
void thp_reserve_free(struct thp_reserve *res);
struct thp_reserve_table *thp_reserve_table_get(struct mm_struct *mm);
struct folio *thp_reserve_folio_at(pte_t *base, unsigned int i);
struct folio *thp_reserve_block(struct thp_reserve *res, pte_t *base);
bool thp_reserve_migrating(struct thp_reserve *res, pte_t *base);
pte_t *thp_reserve_lock_range(struct mm_struct *mm,
			      unsigned long haddr, spinlock_t **ptl);
unsigned int thp_reserve_finish(struct mm_struct *mm, struct thp_reserve *res,
				enum thp_reserve_reason why,
				enum thp_reserve_split how);
void thp_reserve_release(struct mm_struct *mm, unsigned long start,
			 unsigned long end, enum thp_reserve_reason why,
			 enum thp_reserve_split how);
void thp_reserve_split_flush(void);

/* carve.c */
unsigned int thp_reserve_break_locked(struct mm_struct *mm,
				      struct thp_reserve *res,
				      struct folio *folio,
				      enum thp_reserve_reason why, bool try);
bool thp_reserve_carve_any(struct mm_struct *mm, struct thp_reserve *res,
			   struct folio *block, pte_t *base);

/* fault.c */
bool thp_reserve_vma_ok(struct vm_area_struct *vma, unsigned long haddr);
void thp_reserve_wake_promotion(struct thp_reserve_table *t);

/* promote.c */
void thp_reserve_promote_in_fault(struct vm_fault *vmf, unsigned long haddr,
				  enum thp_reserve_promoter who);

/* reclaim.c */
void __init thp_reserve_fault_inject_init(void);
int __init thp_reserve_shrinker_init(void);
void __init thp_reserve_pm_init(void);

#endif /* __MM_THP_RESERVE_INTERNAL_H */
