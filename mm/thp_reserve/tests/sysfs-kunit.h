/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KUnit tests of the knobs' parsing (sysfs.c): promotion_threshold takes 1
 * to HPAGE_PMD_NR, promotion_early 0 or 2 to HPAGE_PMD_NR, each as a
 * decimal number with an optional newline; anything else is -EINVAL.
 * Included at the end of sysfs.c, so that the tests reach its static
 * helpers.
 */
#ifndef _THP_RESERVE_SYSFS_KUNIT_H
#define _THP_RESERVE_SYSFS_KUNIT_H

#include <kunit/test.h>

static void thp_reserve_test_parse_threshold(struct kunit *test)
{
	unsigned int val = 0;

	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("256\n", 1, &val), 0);
	KUNIT_EXPECT_EQ(test, val, 256);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("1", 1, &val), 0);
	KUNIT_EXPECT_EQ(test, val, 1);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("512", 1, &val), 0);
	KUNIT_EXPECT_EQ(test, val, HPAGE_PMD_NR);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("0", 1, &val), -EINVAL);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("513", 1, &val),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("-1", 1, &val), -EINVAL);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("x7", 1, &val), -EINVAL);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("", 1, &val), -EINVAL);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("4294967552", 1, &val),
			-EINVAL);
}

/* promotion_early's range starts at 0; its store refuses 1 itself. */
static void thp_reserve_test_parse_early(struct kunit *test)
{
	unsigned int val = 1;

	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("0", 0, &val), 0);
	KUNIT_EXPECT_EQ(test, val, 0);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("16\n", 0, &val), 0);
	KUNIT_EXPECT_EQ(test, val, 16);
	KUNIT_EXPECT_EQ(test, thp_reserve_parse_pages("513", 0, &val), -EINVAL);
}

static struct kunit_case thp_reserve_sysfs_cases[] = {
	KUNIT_CASE(thp_reserve_test_parse_threshold),
	KUNIT_CASE(thp_reserve_test_parse_early),
	{}
};

static struct kunit_suite thp_reserve_sysfs_suite = {
	.name = "thp_reserve_sysfs",
	.test_cases = thp_reserve_sysfs_cases,
};

kunit_test_suite(thp_reserve_sysfs_suite);

#endif /* _THP_RESERVE_SYSFS_KUNIT_H */
