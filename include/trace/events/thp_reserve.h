/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM thp_reserve

#if !defined(_TRACE_THP_RESERVE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_THP_RESERVE_H

#include <linux/tracepoint.h>
#include <linux/thp_reserve.h>

TRACE_DEFINE_ENUM(THP_RES_REASON_UNMAP);
TRACE_DEFINE_ENUM(THP_RES_REASON_EXIT);
TRACE_DEFINE_ENUM(THP_RES_REASON_VMA_SPLIT);
TRACE_DEFINE_ENUM(THP_RES_REASON_MREMAP);
TRACE_DEFINE_ENUM(THP_RES_REASON_MADVISE);
TRACE_DEFINE_ENUM(THP_RES_REASON_NOHUGEPAGE);
TRACE_DEFINE_ENUM(THP_RES_REASON_PRCTL);
TRACE_DEFINE_ENUM(THP_RES_REASON_COLLAPSE);
TRACE_DEFINE_ENUM(THP_RES_REASON_STALE);
TRACE_DEFINE_ENUM(THP_RES_REASON_INELIGIBLE);
TRACE_DEFINE_ENUM(THP_RES_REASON_RECLAIM);
TRACE_DEFINE_ENUM(THP_RES_REASON_AGED);
TRACE_DEFINE_ENUM(THP_RES_REASON_HIBERNATE);

TRACE_DEFINE_ENUM(THP_RES_PROMOTED);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_NONE);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_BELOW);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_STALE);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_VMA);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_PINNED);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_SHARED);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_SWAPPED);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_MIGRATING);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_BUSY);
TRACE_DEFINE_ENUM(THP_RES_PROMOTE_FALLBACK);

TRACE_DEFINE_ENUM(THP_RES_BY_KHUGEPAGED);
TRACE_DEFINE_ENUM(THP_RES_BY_MADVISE);
TRACE_DEFINE_ENUM(THP_RES_BY_FAULT);
TRACE_DEFINE_ENUM(THP_RES_BY_EARLY);

/* A reservation was made: the block at @pfn backs the range at @haddr. */
TRACE_EVENT(thp_res_alloc,
	    TP_PROTO(struct mm_struct *mm, unsigned long haddr,
		     unsigned long pfn, int nid),
	    TP_ARGS(mm, haddr, pfn, nid),
	    TP_STRUCT__entry(__field(struct mm_struct *, mm)
			     __field(unsigned long, haddr)
			     __field(unsigned long, pfn)
			     __field(int, nid)),
	    TP_fast_assign(__entry->mm = mm;
			   __entry->haddr = haddr;
			   __entry->pfn = pfn;
			   __entry->nid = nid;),
	    TP_printk("mm=%p haddr=0x%lx pfn=0x%lx nid=%d",
		      __entry->mm, __entry->haddr, __entry->pfn, __entry->nid)
);

/* A reservation was released after @nr_used of its pages were handed out. */
TRACE_EVENT(thp_res_release,
	    TP_PROTO(struct mm_struct *mm, unsigned long haddr,
		     unsigned int nr_used, int reason),
	    TP_ARGS(mm, haddr, nr_used, reason),
	    TP_STRUCT__entry(__field(struct mm_struct *, mm)
			     __field(unsigned long, haddr)
			     __field(unsigned int, nr_used)
			     __field(int, reason)),
	    TP_fast_assign(__entry->mm = mm;
			   __entry->haddr = haddr;
			   __entry->nr_used = nr_used;
			   __entry->reason = reason;),
	    TP_printk("mm=%p haddr=0x%lx nr_used=%u reason=%s",
		      __entry->mm, __entry->haddr, __entry->nr_used,
		      __print_symbolic(__entry->reason,
				       { THP_RES_REASON_UNMAP, "unmap" },
				       { THP_RES_REASON_EXIT, "exit" },
				       { THP_RES_REASON_VMA_SPLIT, "vma_split" },
				       { THP_RES_REASON_MREMAP, "mremap" },
				       { THP_RES_REASON_MADVISE, "madvise" },
				       { THP_RES_REASON_NOHUGEPAGE, "nohugepage" },
				       { THP_RES_REASON_PRCTL, "prctl" },
				       { THP_RES_REASON_COLLAPSE, "collapse" },
				       { THP_RES_REASON_STALE, "stale" },
				       { THP_RES_REASON_INELIGIBLE, "ineligible" },
				       { THP_RES_REASON_RECLAIM, "reclaim" },
				       { THP_RES_REASON_AGED, "aged" },
				       { THP_RES_REASON_HIBERNATE, "hibernate" }))
);

/*
 * A promotion attempt on the range at @haddr with @nr_used pages in use,
 * asked for by @who: @nr_copied base pages were copied back into the
 * block (pages written after a fork), and @result says how it ended.
 */
TRACE_EVENT(thp_res_promote,
	    TP_PROTO(struct mm_struct *mm, unsigned long haddr,
		     unsigned int nr_used, unsigned int nr_copied, int who,
		     int result),
	    TP_ARGS(mm, haddr, nr_used, nr_copied, who, result),
	    TP_STRUCT__entry(__field(struct mm_struct *, mm)
			     __field(unsigned long, haddr)
			     __field(unsigned int, nr_used)
			     __field(unsigned int, nr_copied)
			     __field(int, who)
			     __field(int, result)),
	    TP_fast_assign(__entry->mm = mm;
			   __entry->haddr = haddr;
			   __entry->nr_used = nr_used;
			   __entry->nr_copied = nr_copied;
			   __entry->who = who;
			   __entry->result = result;),
	    TP_printk("mm=%p haddr=0x%lx nr_used=%u nr_copied=%u result=%s by=%s",
		      __entry->mm, __entry->haddr, __entry->nr_used,
		      __entry->nr_copied,
		      __print_symbolic(__entry->result,
				       { THP_RES_PROMOTED, "promoted" },
				       { THP_RES_PROMOTE_NONE, "none" },
				       { THP_RES_PROMOTE_BELOW, "below_threshold" },
				       { THP_RES_PROMOTE_STALE, "stale" },
				       { THP_RES_PROMOTE_VMA, "vma" },
				       { THP_RES_PROMOTE_PINNED, "pinned" },
				       { THP_RES_PROMOTE_SHARED, "shared" },
				       { THP_RES_PROMOTE_SWAPPED, "swapped" },
				       { THP_RES_PROMOTE_MIGRATING, "migrating" },
				       { THP_RES_PROMOTE_BUSY, "busy" },
				       { THP_RES_PROMOTE_FALLBACK, "fallback" }),
		      __print_symbolic(__entry->who,
				       { THP_RES_BY_KHUGEPAGED, "khugepaged" },
				       { THP_RES_BY_MADVISE, "madvise" },
				       { THP_RES_BY_FAULT, "fault" },
				       { THP_RES_BY_EARLY, "early" }))
);

#endif /* _TRACE_THP_RESERVE_H */

#include <trace/define_trace.h>
