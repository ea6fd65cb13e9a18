/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of when a fault promotes its range (fault.c): at the
 * threshold, at the last page, and early for a range filled in order from
 * its first page, never for any other pattern. Included at the end of
 * fault.c, so that the tests reach its static helpers.
 */
#ifndef _THP_RESERVE_FAULT_KUNIT_H
#define _THP_RESERVE_FAULT_KUNIT_H

#include <kunit/test.h>

/* An entry whose used pages are [@first, @first + @nr). */
static void thp_reserve_test_entry(struct thp_reserve *res,
				   unsigned int first, unsigned int nr)
{
	memset(res, 0, sizeof(*res));
	bitmap_set(res->used, first, nr);
	res->nr_used = nr;
}

static void thp_reserve_test_due_threshold(struct kunit *test)
{
	enum thp_reserve_promoter who = THP_RES_BY_KHUGEPAGED;
	struct thp_reserve res;
	bool due;

	/* Pages 100-355: no order, due by count alone. */
	thp_reserve_test_entry(&res, 100, HPAGE_PMD_NR / 2);
	due = thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 16, &who);
	KUNIT_EXPECT_TRUE(test, due);
	KUNIT_EXPECT_EQ(test, who, THP_RES_BY_FAULT);
	/* One past the threshold: the attempt at it was made already. */
	thp_reserve_test_entry(&res, 100, HPAGE_PMD_NR / 2 + 1);
	due = thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 16, &who);
	KUNIT_EXPECT_FALSE(test, due);
	/* The last page tries again. */
	thp_reserve_test_entry(&res, 0, HPAGE_PMD_NR);
	who = THP_RES_BY_KHUGEPAGED;
	due = thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 16, &who);
	KUNIT_EXPECT_TRUE(test, due);
	KUNIT_EXPECT_EQ(test, who, THP_RES_BY_FAULT);
}

static void thp_reserve_test_due_early(struct kunit *test)
{
	enum thp_reserve_promoter who = THP_RES_BY_KHUGEPAGED;
	struct thp_reserve res;
	bool due;

	/* The first 16 pages, in order from the range's start. */
	thp_reserve_test_entry(&res, 0, 16);
	due = thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 16, &who);
	KUNIT_EXPECT_TRUE(test, due);
	KUNIT_EXPECT_EQ(test, who, THP_RES_BY_EARLY);
	/* The same count anywhere else is no order. */
	thp_reserve_test_entry(&res, 1, 16);
	due = thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 16, &who);
	KUNIT_EXPECT_FALSE(test, due);
	thp_reserve_test_entry(&res, 0, 15);
	__set_bit(20, res.used);
	res.nr_used = 16;
	due = thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 16, &who);
	KUNIT_EXPECT_FALSE(test, due);
	/* promotion_early 0 turns it off. */
	thp_reserve_test_entry(&res, 0, 16);
	due = thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 0, &who);
	KUNIT_EXPECT_FALSE(test, due);
	/* At or above the threshold, the threshold alone decides. */
	due = thp_reserve_promote_due(&res, 8, 16, &who);
	KUNIT_EXPECT_FALSE(test, due);
	who = THP_RES_BY_KHUGEPAGED;
	due = thp_reserve_promote_due(&res, 16, 16, &who);
	KUNIT_EXPECT_TRUE(test, due);
	KUNIT_EXPECT_EQ(test, who, THP_RES_BY_FAULT);
}

/* A quarter of the pages at random never looks like an in-order fill. */
static void thp_reserve_test_due_sparse(struct kunit *test)
{
	enum thp_reserve_promoter who;
	struct thp_reserve res;
	unsigned int i, due = 0;

	thp_reserve_test_entry(&res, 0, 0);
	for (i = 0; i < HPAGE_PMD_NR / 4; i++) {
		/* Every fourth page, from page 2: 2, 6, 10, ... */
		__set_bit(2 + 4 * i, res.used);
		res.nr_used++;
		due += thp_reserve_promote_due(&res, HPAGE_PMD_NR / 2, 16,
					       &who);
	}
	KUNIT_EXPECT_EQ(test, due, 0);
}

static struct kunit_case thp_reserve_fault_cases[] = {
	KUNIT_CASE(thp_reserve_test_due_threshold),
	KUNIT_CASE(thp_reserve_test_due_early),
	KUNIT_CASE(thp_reserve_test_due_sparse),
	{}
};

static struct kunit_suite thp_reserve_fault_suite = {
	.name = "thp_reserve_fault",
	.test_cases = thp_reserve_fault_cases,
};

kunit_test_suite(thp_reserve_fault_suite);

#endif /* _THP_RESERVE_FAULT_KUNIT_H */
