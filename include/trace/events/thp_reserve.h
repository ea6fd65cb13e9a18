/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM thp_reserve

#if !defined(_TRACE_THP_RESERVE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_THP_RESERVE_H

#include <linux/tracepoint.h>
#include <linux/thp_reserve.h>

#define THP_RES_REASONS						\
	EM(THP_RES_REASON_UNMAP,	"unmap")		\
	EM(THP_RES_REASON_EXIT,		"exit")			\
	EM(THP_RES_REASON_VMA_SPLIT,	"vma_split")		\
	EM(THP_RES_REASON_MREMAP,	"mremap")		\
	EM(THP_RES_REASON_MADVISE,	"madvise")		\
	EM(THP_RES_REASON_NOHUGEPAGE,	"nohugepage")		\
	EM(THP_RES_REASON_PRCTL,	"prctl")		\
	EM(THP_RES_REASON_COLLAPSE,	"collapse")		\
	EM(THP_RES_REASON_STALE,	"stale")		\
	EMe(THP_RES_REASON_INELIGIBLE,	"ineligible")

#undef EM
#undef EMe
#define EM(a, b)	TRACE_DEFINE_ENUM(a);
#define EMe(a, b)	TRACE_DEFINE_ENUM(a);
THP_RES_REASONS
#undef EM
#undef EMe
#define EM(a, b)	{ a, b },
#define EMe(a, b)	{ a, b }

TRACE_EVENT(thp_res_alloc,
	TP_PROTO(struct mm_struct *mm, unsigned long haddr, unsigned long pfn,
		 int nid),
	TP_ARGS(mm, haddr, pfn, nid),
	TP_STRUCT__entry(
		__field(struct mm_struct *, mm)
		__field(unsigned long, haddr)
		__field(unsigned long, pfn)
		__field(int, nid)
	),
	TP_fast_assign(
		__entry->mm = mm;
		__entry->haddr = haddr;
		__entry->pfn = pfn;
		__entry->nid = nid;
	),
	TP_printk("mm=%p haddr=0x%lx pfn=0x%lx nid=%d",
		  __entry->mm, __entry->haddr, __entry->pfn, __entry->nid)
);

TRACE_EVENT(thp_res_release,
	TP_PROTO(struct mm_struct *mm, unsigned long haddr,
		 unsigned int nr_used, int reason),
	TP_ARGS(mm, haddr, nr_used, reason),
	TP_STRUCT__entry(
		__field(struct mm_struct *, mm)
		__field(unsigned long, haddr)
		__field(unsigned int, nr_used)
		__field(int, reason)
	),
	TP_fast_assign(
		__entry->mm = mm;
		__entry->haddr = haddr;
		__entry->nr_used = nr_used;
		__entry->reason = reason;
	),
	TP_printk("mm=%p haddr=0x%lx nr_used=%u reason=%s",
		  __entry->mm, __entry->haddr, __entry->nr_used,
		  __print_symbolic(__entry->reason, THP_RES_REASONS))
);

#endif /* _TRACE_THP_RESERVE_H */

#include <trace/define_trace.h>
