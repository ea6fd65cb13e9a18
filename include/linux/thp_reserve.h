/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reservation-based transparent huge pages for anonymous memory.
 *
 * The first write fault in an empty, aligned PMD-sized range of an eligible
 * anonymous VMA allocates one PMD-order folio (the "block"), maps only the
 * faulting base page and remembers the rest as reserved. Later faults in the
 * range map the matching pages of the block. See
 * Documentation/mm/thp-reservations.rst.
 *
 * Locking: a reservation is looked up and changed under its mm's table lock
 * (the xa_lock of thp_reserve_table.entries), a spinlock that nests inside
 * the page table lock of the range (mmap_lock -> VMA lock -> anon_vma lock ->
 * PTL -> table lock). Nothing sleeps or waits for a lock while holding it;
 * the populate path takes a folio trylock and vmstat updates under it (and
 * the list_lru lock when the block moved to another node), and a new
 * reservation's store may allocate an xarray node there without sleeping. See
 * mm/thp_reserve/core.c for the whole order.
 */
#ifndef _LINUX_THP_RESERVE_H
#define _LINUX_THP_RESERVE_H

#include <linux/mm_types.h>

struct anon_vma;
struct mem_cgroup;
struct vm_fault;

/* Why a reservation was released; reported by the thp_res_release event. */
enum thp_reserve_reason {
	THP_RES_REASON_UNMAP,		/* munmap, MAP_FIXED, brk */
	THP_RES_REASON_EXIT,		/* the mm is being torn down */
	THP_RES_REASON_VMA_SPLIT,	/* a VMA boundary now cuts the range */
	THP_RES_REASON_MREMAP,		/* the range was moved */
	THP_RES_REASON_MADVISE,		/* DONTNEED, FREE, PAGEOUT */
	THP_RES_REASON_NOHUGEPAGE,	/* MADV_NOHUGEPAGE */
	THP_RES_REASON_PRCTL,		/* PR_SET_THP_DISABLE */
	THP_RES_REASON_COLLAPSE,	/* a copy collapse replaced the range */
	THP_RES_REASON_STALE,		/* the block was split or freed elsewhere */
	THP_RES_REASON_INELIGIBLE,	/* the VMA may no longer use THP */
	THP_RES_REASON_RECLAIM,		/* memory pressure broke it */
	THP_RES_REASON_AGED,		/* stopped growing below the threshold */
	THP_RES_REASON_HIBERNATE,	/* a hibernation image is being made */
	THP_RES_NR_REASONS,
};

/* Who asks for a promotion; decides the threshold and fallback rules. */
enum thp_reserve_promoter {
	THP_RES_BY_KHUGEPAGED,	/* at promotion_threshold used pages */
	THP_RES_BY_MADVISE,	/* MADV_COLLAPSE: at once, any threshold */
	THP_RES_BY_FAULT,	/* the fault that reaches the threshold */
	THP_RES_BY_EARLY,	/* the fault that completes a sequential start */
};

/*
 * The outcome of a promotion attempt; reported by the thp_res_promote event.
 * Every failure leaves the range PTE-mapped and the reservation intact.
 */
enum thp_reserve_promote_result {
	THP_RES_PROMOTED,		/* the block is mapped by its PMD */
	THP_RES_PROMOTE_NONE,		/* no reservation for the range */
	THP_RES_PROMOTE_BELOW,		/* fewer used pages than the threshold */
	THP_RES_PROMOTE_STALE,		/* the block is gone: entry released */
	THP_RES_PROMOTE_VMA,		/* not inside one suitable VMA */
	THP_RES_PROMOTE_PINNED,		/* a page has a pin or extra reference */
	THP_RES_PROMOTE_SHARED,		/* a page is mapped by another mm */
	THP_RES_PROMOTE_SWAPPED,	/* a page is swapped out */
	THP_RES_PROMOTE_MIGRATING,	/* a page is under migration */
	THP_RES_PROMOTE_BUSY,		/* swap cache, writeback, poison, lock */
	THP_RES_PROMOTE_FALLBACK,	/* MADV_COLLAPSE: copy collapse instead */
};

#ifdef CONFIG_THP_RESERVATIONS

extern struct kobj_attribute thp_reserve_threshold_attr;
extern struct kobj_attribute thp_reserve_early_attr;

bool thp_reserve_fault(struct vm_fault *vmf, vm_fault_t *ret);
bool __thp_reserve_populate(struct vm_fault *vmf, vm_fault_t *ret);
bool thp_reserve_wp_zero(struct vm_fault *vmf, vm_fault_t *ret);
void __thp_reserve_release_range(struct mm_struct *mm, unsigned long start,
				 unsigned long end, enum thp_reserve_reason why,
				 bool split);
void __thp_reserve_vma_adjust(struct vm_area_struct *vma, unsigned long start,
			      unsigned long end, long adjust_next);
void __thp_reserve_madvise(struct vm_area_struct *vma, unsigned long start,
			   unsigned long end, int behavior);
void __thp_reserve_exit_mmap(struct mm_struct *mm);
void __thp_reserve_mm_free(struct mm_struct *mm);
bool __thp_reserve_present(struct mm_struct *mm, unsigned long haddr);
enum thp_reserve_promote_result
thp_reserve_promote(struct mm_struct *mm, unsigned long haddr,
		    enum thp_reserve_promoter who, bool *mmap_locked);
bool thp_reserve_below_threshold(struct vm_area_struct *vma,
				 unsigned long haddr, pte_t *base,
				 unsigned int nr_used);
unsigned long thp_reserve_reclaim(int nid, struct mem_cgroup *target,
				  unsigned long nr_pages);
int thp_reserve_swap_split(struct folio *folio, struct list_head *folio_list,
			   unsigned int *nr_freed);
void thp_reserve_block_split(struct anon_vma *anon_vma, unsigned long pfn,
			     pgoff_t pgoff);
/* In mm/vmscan.c: may the reclaim pass that current runs unmap pages? */
bool current_reclaim_may_unmap(void);

static inline bool thp_reserve_mm_active(struct mm_struct *mm)
{
	return !!READ_ONCE(mm->thp_reserve);
}

/* mm_init(): a new mm (also a fork child's memcpy'd copy) holds none. */
static inline void thp_reserve_mm_init(struct mm_struct *mm)
{
	mm->thp_reserve = NULL;
}

/* do_anonymous_page(): map the faulting page from a live reservation. */
static inline bool thp_reserve_populate(struct vm_fault *vmf, vm_fault_t *ret)
{
	if (!thp_reserve_mm_active(vmf->vma->vm_mm))
		return false;
	return __thp_reserve_populate(vmf, ret);
}

/*
 * Release every reservation whose range intersects [start, end). With @split
 * the never-used pages of each block go back to the page allocator.
 */
static inline void thp_reserve_release_range(struct mm_struct *mm,
					     unsigned long start,
					     unsigned long end,
					     enum thp_reserve_reason why,
					     bool split)
{
	if (thp_reserve_mm_active(mm))
		__thp_reserve_release_range(mm, start, end, why, split);
}

/* vma_adjust_huge() in mm/vma.c: the VMA's bounds are about to change. */
static inline void thp_reserve_vma_adjust(struct vm_area_struct *vma,
					  unsigned long start,
					  unsigned long end,
					  long adjust_next)
{
	if (thp_reserve_mm_active(vma->vm_mm))
		__thp_reserve_vma_adjust(vma, start, end, adjust_next);
}

static inline void thp_reserve_madvise(struct vm_area_struct *vma,
				       unsigned long start, unsigned long end,
				       int behavior)
{
	if (thp_reserve_mm_active(vma->vm_mm))
		__thp_reserve_madvise(vma, start, end, behavior);
}

static inline void thp_reserve_exit_mmap(struct mm_struct *mm)
{
	if (thp_reserve_mm_active(mm))
		__thp_reserve_exit_mmap(mm);
}

static inline void thp_reserve_mm_free(struct mm_struct *mm)
{
	if (thp_reserve_mm_active(mm))
		__thp_reserve_mm_free(mm);
}

/* Is there a live reservation for the PMD range at @haddr? */
static inline bool thp_reserve_present(struct mm_struct *mm,
				       unsigned long haddr)
{
	return thp_reserve_mm_active(mm) && __thp_reserve_present(mm, haddr);
}

#else /* !CONFIG_THP_RESERVATIONS */

static inline void thp_reserve_mm_init(struct mm_struct *mm) { }

static inline bool thp_reserve_fault(struct vm_fault *vmf, vm_fault_t *ret)
{
	return false;
}

static inline bool thp_reserve_populate(struct vm_fault *vmf, vm_fault_t *ret)
{
	return false;
}

static inline bool thp_reserve_wp_zero(struct vm_fault *vmf, vm_fault_t *ret)
{
	return false;
}

static inline void thp_reserve_release_range(struct mm_struct *mm,
					     unsigned long start,
					     unsigned long end,
					     enum thp_reserve_reason why,
					     bool split) { }

static inline void thp_reserve_vma_adjust(struct vm_area_struct *vma,
					  unsigned long start,
					  unsigned long end,
					  long adjust_next) { }

static inline void thp_reserve_madvise(struct vm_area_struct *vma,
				       unsigned long start, unsigned long end,
				       int behavior) { }

static inline void thp_reserve_exit_mmap(struct mm_struct *mm) { }

static inline void thp_reserve_mm_free(struct mm_struct *mm) { }

static inline bool thp_reserve_present(struct mm_struct *mm,
				       unsigned long haddr)
{
	return false;
}

static inline unsigned long thp_reserve_reclaim(int nid,
						struct mem_cgroup *target,
						unsigned long nr_pages)
{
	return 0;
}

static inline int thp_reserve_swap_split(struct folio *folio,
					 struct list_head *folio_list,
					 unsigned int *nr_freed)
{
	return 0;
}

static inline void thp_reserve_block_split(struct anon_vma *anon_vma,
					   unsigned long pfn, pgoff_t pgoff) { }

static inline enum thp_reserve_promote_result
thp_reserve_promote(struct mm_struct *mm, unsigned long haddr,
		    enum thp_reserve_promoter who, bool *mmap_locked)
{
	return THP_RES_PROMOTE_NONE;
}

static inline bool thp_reserve_below_threshold(struct vm_area_struct *vma,
					       unsigned long haddr,
					       pte_t *base,
					       unsigned int nr_used)
{
	return false;
}

#endif /* CONFIG_THP_RESERVATIONS */
#endif /* _LINUX_THP_RESERVE_H */
