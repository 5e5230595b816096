// SPDX-License-Identifier: GPL-2.0
/*
 * Lab self-test: WARNs once on load, so `cargo xtask test` can check that
 * the VM runner fails a run whose kernel log shows a splat.
 */
#include <linux/module.h>
#include <linux/bug.h>

static int __init lab_warn_init(void)
{
	WARN(1, "pfprof lab self-test: this warning is expected\n");
	return 0;
}

static void __exit lab_warn_exit(void)
{
}

module_init(lab_warn_init);
module_exit(lab_warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pfprof lab self-test: a module that warns on load");
