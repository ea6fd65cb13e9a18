/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the order in which reclaim breaks reservations
 * (reclaim.c): a walk of a real list_lru whose callback takes the same
 * second-chance step as thp_reserve_isolate() and "breaks" an entry by
 * isolating it and restarting from the head, as that callback does.
 * Entries not populated since they were queued go first, in queue order;
 * populated ones lose their mark, go to the tail and follow in the order
 * they were met; twice the list's length is walk enough to break every
 * entry. Included at the end of reclaim.c, so that the tests reach its
 * static helpers.
 */
#ifndef _THP_RESERVE_RECLAIM_KUNIT_H
#define _THP_RESERVE_RECLAIM_KUNIT_H

#include <kunit/test.h>

#define THP_RES_TEST_NR	6

/*
 * One walk's record: the entries (@res, queued in index order), how many
 * to break (@target) and the indexes of those broken, in order (@broken,
 * @nr_broken).
 */
struct thp_reserve_test_run {
	struct thp_reserve *res;
	unsigned int target;
	unsigned int broken[THP_RES_TEST_NR];
	unsigned int nr_broken;
};

static enum lru_status thp_reserve_test_isolate(struct list_head *item,
						struct list_lru_one *list,
						spinlock_t *lru_lock,
						void *arg)
{
	struct thp_reserve *res = container_of(item, struct thp_reserve, lru);
	struct thp_reserve_test_run *w = arg;

	if (w->nr_broken >= w->target)
		return LRU_STOP;
	if (thp_reserve_second_chance(res, list_is_singular(&list->list)))
		return LRU_ROTATE;
	list_lru_isolate(list, item);
	w->broken[w->nr_broken++] = res - w->res;
	return LRU_REMOVED_RETRY;
}

KUNIT_DEFINE_ACTION_WRAPPER(thp_reserve_test_lru_destroy, list_lru_destroy,
			    struct list_lru *);

/*
 * A new list_lru (@*lrup) with @nr entries of @w queued in index order,
 * those whose bit is set in @referenced marked as populated; returns their
 * node. The test's end destroys the list_lru, then frees the entries, on
 * every path (a failed assertion too).
 */
static int thp_reserve_test_queue(struct kunit *test, struct list_lru **lrup,
				  struct thp_reserve_test_run *w,
				  unsigned int nr, unsigned long referenced)
{
	struct list_lru *lru;
	unsigned int i;
	int err;

	w->res = kunit_kcalloc(test, nr, sizeof(*w->res), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, w->res);
	lru = kunit_kzalloc(test, sizeof(*lru), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, lru);
	KUNIT_ASSERT_EQ(test, list_lru_init(lru), 0);
	err = kunit_add_action_or_reset(test, thp_reserve_test_lru_destroy,
					lru);
	KUNIT_ASSERT_EQ(test, err, 0);
	*lrup = lru;
	for (i = 0; i < nr; i++) {
		INIT_LIST_HEAD(&w->res[i].lru);
		w->res[i].referenced = referenced & BIT(i);
		KUNIT_ASSERT_TRUE(test, list_lru_add_obj(lru, &w->res[i].lru));
	}
	/* One allocation, so one node for all of them. */
	return page_to_nid(virt_to_page(w->res));
}

/* Break up to @target entries in a walk of at most @budget steps. */
static void thp_reserve_test_walk(struct list_lru *lru, int nid,
				  struct thp_reserve_test_run *w,
				  unsigned int target, unsigned long budget)
{
	w->target = target;
	w->nr_broken = 0;
	list_lru_walk_node(lru, nid, thp_reserve_test_isolate, w, &budget);
}

static void thp_reserve_test_expect_order(struct kunit *test,
					  struct thp_reserve_test_run *w,
					  const unsigned int *want,
					  unsigned int nr)
{
	unsigned int i;

	KUNIT_ASSERT_EQ(test, w->nr_broken, nr);
	for (i = 0; i < nr; i++)
		KUNIT_EXPECT_EQ_MSG(test, w->broken[i], want[i],
				    "break %u of %u", i + 1, nr);
}

/* Unmarked entries first in queue order, then the marked ones. */
static void thp_reserve_test_age_order(struct kunit *test)
{
	static const unsigned int want[] = { 0, 2, 4, 5, 1, 3 };
	struct thp_reserve_test_run w = {};
	struct list_lru *lru;
	int nid;

	nid = thp_reserve_test_queue(test, &lru, &w, THP_RES_TEST_NR,
				     BIT(1) | BIT(3));
	thp_reserve_test_walk(lru, nid, &w, THP_RES_TEST_NR,
			      2 * THP_RES_TEST_NR);
	thp_reserve_test_expect_order(test, &w, want, ARRAY_SIZE(want));
	KUNIT_EXPECT_EQ(test, list_lru_count_node(lru, nid), 0);
}

/*
 * A walk that stops at its target leaves the passed-over entries at the
 * tail without their marks, behind the rest; an entry populated again
 * before the next walk gets another chance and goes last.
 */
static void thp_reserve_test_age_resume(struct kunit *test)
{
	static const unsigned int first[] = { 0, 2, 4 };
	static const unsigned int then[] = { 5, 3, 1 };
	struct thp_reserve_test_run w = {};
	struct list_lru *lru;
	int nid;

	nid = thp_reserve_test_queue(test, &lru, &w, THP_RES_TEST_NR,
				     BIT(1) | BIT(3));
	thp_reserve_test_walk(lru, nid, &w, 3, 2 * THP_RES_TEST_NR);
	thp_reserve_test_expect_order(test, &w, first, ARRAY_SIZE(first));
	KUNIT_EXPECT_FALSE(test, w.res[1].referenced);
	KUNIT_EXPECT_FALSE(test, w.res[3].referenced);
	/* A page of entry 1 handed out again: another chance. */
	w.res[1].referenced = true;
	thp_reserve_test_walk(lru, nid, &w, 3, 2 * 3);
	thp_reserve_test_expect_order(test, &w, then, ARRAY_SIZE(then));
	KUNIT_EXPECT_EQ(test, list_lru_count_node(lru, nid), 0);
}

/* Every entry populated: twice the length still breaks them all. */
static void thp_reserve_test_age_all_marked(struct kunit *test)
{
	static const unsigned int want[] = { 0, 1, 2, 3, 4, 5 };
	struct thp_reserve_test_run w = {};
	struct list_lru *lru;
	int nid;

	nid = thp_reserve_test_queue(test, &lru, &w, THP_RES_TEST_NR,
				     BIT(THP_RES_TEST_NR) - 1);
	thp_reserve_test_walk(lru, nid, &w, THP_RES_TEST_NR,
			      2 * THP_RES_TEST_NR);
	thp_reserve_test_expect_order(test, &w, want, ARRAY_SIZE(want));
	KUNIT_EXPECT_EQ(test, list_lru_count_node(lru, nid), 0);
}

/* A marked entry alone on its list is broken at once, its mark cleared. */
static void thp_reserve_test_age_alone(struct kunit *test)
{
	static const unsigned int want[] = { 0 };
	struct thp_reserve_test_run w = {};
	struct list_lru *lru;
	int nid;

	nid = thp_reserve_test_queue(test, &lru, &w, 1, BIT(0));
	thp_reserve_test_walk(lru, nid, &w, 1, 1);
	thp_reserve_test_expect_order(test, &w, want, ARRAY_SIZE(want));
	KUNIT_EXPECT_FALSE(test, w.res[0].referenced);
	KUNIT_EXPECT_EQ(test, list_lru_count_node(lru, nid), 0);
}

static struct kunit_case thp_reserve_reclaim_cases[] = {
	KUNIT_CASE(thp_reserve_test_age_order),
	KUNIT_CASE(thp_reserve_test_age_resume),
	KUNIT_CASE(thp_reserve_test_age_all_marked),
	KUNIT_CASE(thp_reserve_test_age_alone),
	{}
};

static struct kunit_suite thp_reserve_reclaim_suite = {
	.name = "thp_reserve_reclaim",
	.test_cases = thp_reserve_reclaim_cases,
};

kunit_test_suite(thp_reserve_reclaim_suite);

#endif /* _THP_RESERVE_RECLAIM_KUNIT_H */
