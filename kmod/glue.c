// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for what Linux 6.12's Rust bindings lack: struct proc_ops and the
 * proc_fs calls. The callbacks themselves are implemented in Rust (procfs.rs).
 */
#include <linux/fs.h>
#include <linux/proc_fs.h>

/* Implemented in Rust (procfs.rs). */
ssize_t pfprof_proc_status_read(struct file *file, char __user *buf,
				size_t len, loff_t *ppos);
ssize_t pfprof_proc_status_write(struct file *file, const char __user *buf,
				 size_t len, loff_t *ppos);

/* Called from Rust (procfs.rs). */
int pfprof_proc_create(void);
void pfprof_proc_remove(void);

static const struct proc_ops pfprof_status_ops = {
	.proc_read = pfprof_proc_status_read,
	.proc_write = pfprof_proc_status_write,
	.proc_lseek = default_llseek,
};

static struct proc_dir_entry *pfprof_proc_dir;

int pfprof_proc_create(void)
{
	pfprof_proc_dir = proc_mkdir("mp3", NULL);
	if (!pfprof_proc_dir) {
		pr_err("pfprof: cannot create /proc/mp3 (is the classic mp3 module loaded?)\n");
		return -EEXIST;
	}
	if (!proc_create("status", 0666, pfprof_proc_dir, &pfprof_status_ops)) {
		proc_remove(pfprof_proc_dir);
		pfprof_proc_dir = NULL;
		return -ENOMEM;
	}
	return 0;
}

void pfprof_proc_remove(void)
{
	proc_remove(pfprof_proc_dir);
	pfprof_proc_dir = NULL;
}
