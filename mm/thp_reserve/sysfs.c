// SPDX-License-Identifier: GPL-2.0
/*
 * THP reservations: the knobs under /sys/kernel/mm/transparent_hugepage/
 * (promotion_threshold, promotion_early), the thp_promotion_threshold=
 * boot parameter and initialisation. Reservations start off (threshold 1)
 * and are turned on only once reclaim can break them.
 */

#include "internal.h"

/*
 * promotion_threshold from the kernel command line
 * (thp_promotion_threshold=), applied by thp_reserve_init() before the
 * first user space fault; 0 if the command line gave none, or none valid.
 */
static unsigned int thp_reserve_boot_threshold __initdata;

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
	thp_reserve_core_init();
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

#ifdef CONFIG_THP_RESERVATIONS_KUNIT_TEST
#include "tests/sysfs-kunit.h"
#endif
