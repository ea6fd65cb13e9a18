/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the mTHP fallback's chunk choice (carve.c): the density a
 * chunk needs at a threshold, and which chunks thp_reserve_carve_select()
 * keeps for a pattern of used pages. Included at the end of carve.c, so
 * that the tests reach its static helpers.
 */
#ifndef _THP_RESERVE_CARVE_KUNIT_H
#define _THP_RESERVE_CARVE_KUNIT_H

#include <kunit/test.h>

/* The used pages [@first, @first + @nr) of a range, one bit per page. */
static void thp_reserve_test_use(unsigned long *used, unsigned int first,
				 unsigned int nr)
{
	bitmap_set(used, first, nr);
}

static bool thp_reserve_test_ok_all(void *arg, unsigned int first,
				    unsigned int order)
{
	return true;
}

/* Refuses the chunk at page 0 of order *@arg, as a VMA boundary would. */
static bool thp_reserve_test_ok_not_first(void *arg, unsigned int first,
					  unsigned int order)
{
	return !(first == 0 && order == *(unsigned int *)arg);
}

/* A chunk needs the threshold scaled to its size, rounded up. */
static void thp_reserve_test_chunk_need(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, thp_reserve_chunk_need(HPAGE_PMD_NR / 2, 2), 2);
	KUNIT_EXPECT_EQ(test, thp_reserve_chunk_need(HPAGE_PMD_NR / 2, 4), 8);
	KUNIT_EXPECT_EQ(test, thp_reserve_chunk_need(HPAGE_PMD_NR / 2,
						     HPAGE_PMD_ORDER - 1),
			HPAGE_PMD_NR / 4);
	/* Every page at the highest threshold, one page at threshold 1. */
	KUNIT_EXPECT_EQ(test, thp_reserve_chunk_need(HPAGE_PMD_NR, 4), 16);
	KUNIT_EXPECT_EQ(test, thp_reserve_chunk_need(1, 2), 1);
	/* 3 of 512 scaled to 4 pages is 0.02: one page still. */
	KUNIT_EXPECT_EQ(test, thp_reserve_chunk_need(3, 2), 1);
}

static void thp_reserve_test_weight(struct kunit *test)
{
	DECLARE_BITMAP(used, HPAGE_PMD_NR) = { 0 };

	thp_reserve_test_use(used, 3, 5);
	thp_reserve_test_use(used, HPAGE_PMD_NR - 1, 1);
	KUNIT_EXPECT_EQ(test, thp_reserve_weight(used, 0, 4), 1);
	KUNIT_EXPECT_EQ(test, thp_reserve_weight(used, 4, 4), 4);
	KUNIT_EXPECT_EQ(test, thp_reserve_weight(used, 0, HPAGE_PMD_NR), 6);
	KUNIT_EXPECT_EQ(test, thp_reserve_weight(used, 16, 16), 0);
}

/* Eight used pages at threshold 256 make one dense 16-page chunk. */
static void thp_reserve_test_select_highest(struct kunit *test)
{
	DECLARE_BITMAP(used, HPAGE_PMD_NR) = { 0 };
	struct thp_reserve_carve c;
	bool kept;

	thp_reserve_test_use(used, 0, 8);
	kept = thp_reserve_carve_select(used, BIT(4) | BIT(2), HPAGE_PMD_NR / 2,
					thp_reserve_test_ok_all, NULL, &c);
	KUNIT_EXPECT_TRUE(test, kept);
	KUNIT_EXPECT_EQ(test, c.orders, BIT(4));
	KUNIT_EXPECT_EQ(test, bitmap_weight(c.head, HPAGE_PMD_NR), 1);
	KUNIT_EXPECT_TRUE(test, test_bit(0, c.head));
	KUNIT_EXPECT_EQ(test, bitmap_weight(c.kept, HPAGE_PMD_NR), 16);
	KUNIT_EXPECT_EQ(test, thp_reserve_kept_order(&c, 15), 4);
	KUNIT_EXPECT_EQ(test, thp_reserve_kept_order(&c, 16), -1);
}

/* Seven are too few for 16 pages: two 4-page chunks are kept instead. */
static void thp_reserve_test_select_lower(struct kunit *test)
{
	DECLARE_BITMAP(used, HPAGE_PMD_NR) = { 0 };
	struct thp_reserve_carve c;
	bool kept;

	thp_reserve_test_use(used, 0, 7);
	kept = thp_reserve_carve_select(used, BIT(4) | BIT(2), HPAGE_PMD_NR / 2,
					thp_reserve_test_ok_all, NULL, &c);
	KUNIT_EXPECT_TRUE(test, kept);
	KUNIT_EXPECT_EQ(test, c.orders, BIT(2));
	KUNIT_EXPECT_TRUE(test, test_bit(0, c.head));
	KUNIT_EXPECT_TRUE(test, test_bit(4, c.head));
	KUNIT_EXPECT_EQ(test, bitmap_weight(c.head, HPAGE_PMD_NR), 2);
	KUNIT_EXPECT_EQ(test, bitmap_weight(c.kept, HPAGE_PMD_NR), 8);
	KUNIT_EXPECT_EQ(test, thp_reserve_kept_order(&c, 6), 2);
	KUNIT_EXPECT_EQ(test, thp_reserve_inner_order(&c, 0, 16), 2);
	KUNIT_EXPECT_EQ(test, thp_reserve_inner_order(&c, 16, 16), 0);
}

/* A chunk the check refuses falls back to the next order inside it. */
static void thp_reserve_test_select_refused(struct kunit *test)
{
	DECLARE_BITMAP(used, HPAGE_PMD_NR) = { 0 };
	struct thp_reserve_carve c;
	bool kept;
	unsigned int refuse = 4;

	thp_reserve_test_use(used, 0, 8);
	kept = thp_reserve_carve_select(used, BIT(4) | BIT(2), HPAGE_PMD_NR / 2,
					thp_reserve_test_ok_not_first, &refuse,
					 &c);
	KUNIT_EXPECT_TRUE(test, kept);
	KUNIT_EXPECT_EQ(test, c.orders, BIT(2));
	KUNIT_EXPECT_EQ(test, bitmap_weight(c.kept, HPAGE_PMD_NR), 8);
}

/*
 * One used page in every 16, or only the PMD order offered: nothing is
 * kept, so a sparse range never turns into mTHPs.
 */
static void thp_reserve_test_select_none(struct kunit *test)
{
	DECLARE_BITMAP(used, HPAGE_PMD_NR) = { 0 };
	struct thp_reserve_carve c;
	bool kept;
	unsigned int i;

	for (i = 0; i < HPAGE_PMD_NR; i += 16)
		thp_reserve_test_use(used, i, 1);
	kept = thp_reserve_carve_select(used, THP_RES_MTHP_ORDERS,
					HPAGE_PMD_NR / 2,
					thp_reserve_test_ok_all, NULL, &c);
	KUNIT_EXPECT_FALSE(test, kept);
	KUNIT_EXPECT_EQ(test, c.orders, 0);
	KUNIT_EXPECT_TRUE(test, bitmap_empty(c.kept, HPAGE_PMD_NR));

	bitmap_fill(used, HPAGE_PMD_NR);
	kept = thp_reserve_carve_select(used, BIT(HPAGE_PMD_ORDER),
					HPAGE_PMD_NR / 2,
					thp_reserve_test_ok_all, NULL, &c);
	KUNIT_EXPECT_FALSE(test, kept);
}

static struct kunit_case thp_reserve_carve_cases[] = {
	KUNIT_CASE(thp_reserve_test_chunk_need),
	KUNIT_CASE(thp_reserve_test_weight),
	KUNIT_CASE(thp_reserve_test_select_highest),
	KUNIT_CASE(thp_reserve_test_select_lower),
	KUNIT_CASE(thp_reserve_test_select_refused),
	KUNIT_CASE(thp_reserve_test_select_none),
	{}
};

static struct kunit_suite thp_reserve_carve_suite = {
	.name = "thp_reserve_carve",
	.test_cases = thp_reserve_carve_cases,
};

kunit_test_suite(thp_reserve_carve_suite);

#endif /* _THP_RESERVE_CARVE_KUNIT_H */
