// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for what Linux 6.12's Rust bindings cannot express: structures the
 * bindings lack (struct proc_ops), and operations that exist only as inline
 * functions or macros (rcu_read_lock, for_each_thread, the signal_struct
 * stats seqlock, task_lock and the mm's RSS counters, __task_cred,
 * INIT_DELAYED_WORK, hrtimer_start, vm_flags_clear). Each function is small and called
 * from exactly one safe Rust wrapper.
 */
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/workqueue.h>

/* --- /proc/mp3/status (procfs.rs) -------------------------------------- */

/* Implemented in Rust (procfs.rs). */
int pfprof_proc_status_open(struct inode *inode, struct file *file);
int pfprof_proc_status_release(struct inode *inode, struct file *file);
ssize_t pfprof_proc_status_read(struct file *file, char __user *buf,
				size_t len, loff_t *ppos);
ssize_t pfprof_proc_status_write(struct file *file, const char __user *buf,
				 size_t len, loff_t *ppos);

int pfprof_proc_create(void);
void pfprof_proc_remove(void);

static const struct proc_ops pfprof_status_ops = {
	.proc_open = pfprof_proc_status_open,
	.proc_release = pfprof_proc_status_release,
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

/* Removes the entries and waits for callbacks in progress. */
void pfprof_proc_remove(void)
{
	proc_remove(pfprof_proc_dir);
	pfprof_proc_dir = NULL;
}

/* --- Processes (process.rs) ---------------------------------------------- */

struct task_struct *pfprof_get_process(pid_t nr, pid_t *tgid);
struct task_struct *pfprof_get_current_process(pid_t *tgid);
bool pfprof_may_read(struct task_struct *leader);
bool pfprof_read_counters(struct task_struct *leader, u64 *minor_faults,
			  u64 *major_faults, u64 *cpu_ns, u64 *switches);

/*
 * Returns the thread group leader of the thread `nr` (in the caller's pid
 * namespace) with a reference taken, and its tgid in that namespace; NULL if
 * there is no such thread.
 */
struct task_struct *pfprof_get_process(pid_t nr, pid_t *tgid)
{
	struct task_struct *task, *leader = NULL;

	if (nr <= 0)
		return NULL;
	rcu_read_lock();
	task = pid_task(find_vpid(nr), PIDTYPE_PID);
	if (task) {
		leader = READ_ONCE(task->group_leader);
		get_task_struct(leader);
	}
	rcu_read_unlock();
	if (leader)
		*tgid = task_tgid_vnr(leader);
	return leader;
}

/* The caller's thread group leader, with a reference taken. */
struct task_struct *pfprof_get_current_process(pid_t *tgid)
{
	struct task_struct *leader;

	rcu_read_lock();
	leader = READ_ONCE(current->group_leader);
	get_task_struct(leader);
	rcu_read_unlock();
	*tgid = task_tgid_vnr(leader);
	return leader;
}

/*
 * Whether the caller may read the statistics of the process led by `leader`:
 * its own process, or one whose real, effective and saved ids all match the
 * caller's filesystem ids, or CAP_SYS_PTRACE in the target's user namespace.
 * This is the credential part of ptrace_may_access(PTRACE_MODE_READ_FSCREDS),
 * the rule /proc/<pid>/ applies, which is not exported to modules.
 */
bool pfprof_may_read(struct task_struct *leader)
{
	const struct cred *cred = current_cred(), *tcred;
	bool ok;

	if (same_thread_group(leader, current))
		return true;
	rcu_read_lock();
	tcred = __task_cred(leader);
	ok = uid_eq(cred->fsuid, tcred->euid) &&
	     uid_eq(cred->fsuid, tcred->suid) &&
	     uid_eq(cred->fsuid, tcred->uid) &&
	     gid_eq(cred->fsgid, tcred->egid) &&
	     gid_eq(cred->fsgid, tcred->sgid) &&
	     gid_eq(cred->fsgid, tcred->gid);
	if (!ok)
		ok = ns_capable_noaudit(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	return ok;
}

/*
 * The context switches of a task: each time it leaves a CPU, __schedule()
 * counts one (nvcsw or nivcsw) before finish_task() clears on_cpu with
 * release semantics.
 */
static unsigned long pfprof_switches(struct task_struct *t)
{
	return READ_ONCE(t->nvcsw) + READ_ONCE(t->nivcsw);
}

/*
 * Reads the fault counts and CPU time of a whole thread group: the threads
 * alive now plus those that exited (accumulated in signal_struct), as
 * getrusage(RUSAGE_SELF) counts them. The task's own counters are only read.
 * The stats seqlock gives a consistent snapshot against threads exiting, as
 * thread_group_cputime() does. CPU time is sum_exec_runtime, in ns.
 *
 * `leader` must be referenced; it may have exited and been reaped: its
 * signal_struct lives as long as the task_struct, and __exit_signal() moves
 * every thread's counts, the leader's too, into it as the thread goes.
 *
 * `*switches` is the leader's context-switch count when the counters in
 * `*minor_faults`, `*major_faults` and `*cpu_ns` were read, if the process
 * then had only that one live thread, else ULLONG_MAX. When it is not
 * ULLONG_MAX, the leader is off every CPU now and its switch count is still
 * `*switches`, the counters are left as they are: the leader has not run
 * since, and only a running thread changes its own fault counts and CPU
 * time (the faults of get_user_pages count for the caller) or starts
 * another thread. This reads one cache line of the task instead of the
 * signal_struct, the seqlock and the thread list: most registered
 * processes sleep through most periods.
 *
 * Returns whether every thread has exited (the counts are final). The
 * results are plain scalars, so no struct layout is shared with Rust.
 */
bool pfprof_read_counters(struct task_struct *leader, u64 *minor_faults,
			  u64 *major_faults, u64 *cpu_ns, u64 *switches)
{
	struct signal_struct *sig = leader->signal;
	struct task_struct *t;
	unsigned int seq, nextseq = 0;
	unsigned long flags, sw;
	u64 minor, major, cpu;
	bool single;

	if (*switches != ULLONG_MAX && !smp_load_acquire(&leader->on_cpu) &&
	    pfprof_switches(leader) == *switches)
		return false;

	/*
	 * Read before the counters: if the leader runs after this, it leaves
	 * its CPU before it can be seen idle, and counts a switch.
	 */
	sw = pfprof_switches(leader);
	smp_rmb();
	rcu_read_lock();
	do {
		seq = nextseq;
		flags = read_seqbegin_or_lock_irqsave(&sig->stats_lock, &seq);
		minor = sig->min_flt;
		major = sig->maj_flt;
		cpu = sig->sum_sched_runtime;
		/* Threads move from this list into sig under the seqlock. */
		for_each_thread(leader, t) {
			minor += READ_ONCE(t->min_flt);
			major += READ_ONCE(t->maj_flt);
			cpu += READ_ONCE(t->se.sum_exec_runtime);
		}
		single = READ_ONCE(sig->nr_threads) == 1;
		nextseq = 1; /* Take the lock if we have to retry. */
	} while (need_seqretry(&sig->stats_lock, seq));
	done_seqretry_irqrestore(&sig->stats_lock, seq, flags);
	rcu_read_unlock();

	*minor_faults = minor;
	*major_faults = major;
	*cpu_ns = cpu;
	/* The one live thread is the leader: its switches stand for all. */
	*switches = single && READ_ONCE(leader->exit_state) == 0 ? sw : ULLONG_MAX;
	/* Every thread has exited and the leader is a zombie or gone. */
	return READ_ONCE(leader->exit_state) != 0 &&
	       atomic_read(&sig->live) == 0;
}

/*
 * An mm RSS counter: its shared count plus every CPU's pending delta, what
 * percpu_counter_sum() computes, but without its lock (a spinlock with
 * interrupts off, which cost the sampler 4 times its per-process time):
 * the figure is exact when the counter does not move during the read (a
 * stopped process), and otherwise off by at most the one batch being
 * folded, like any figure of a running process.
 */
static unsigned long pfprof_mm_counter(struct mm_struct *mm, int member)
{
	struct percpu_counter *fbc = &mm->rss_stat[member];
	s64 sum = READ_ONCE(fbc->count);
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(*per_cpu_ptr(fbc->counters, cpu));
	return sum > 0 ? sum : 0;
}

/*
 * A live thread's memory map, with a reference on the struct (mmgrab), or
 * NULL when no thread has one any more (the process is exiting). The leader
 * may have exited before its threads, so every thread is tried, each under
 * its task_lock, which exit_mm() takes to detach the map.
 */
static struct mm_struct *pfprof_grab_mm(struct task_struct *leader)
{
	struct task_struct *t;
	struct mm_struct *mm = NULL;

	rcu_read_lock();
	for_each_thread(leader, t) {
		task_lock(t);
		if (t->mm && !(t->flags & PF_KTHREAD)) {
			mm = t->mm;
			mmgrab(mm);
		}
		task_unlock(t);
		if (mm)
			break;
	}
	rcu_read_unlock();
	return mm;
}

/* Drops a reference pfprof_read_memory() took. */
void pfprof_drop_mm(struct mm_struct *mm);

void pfprof_drop_mm(struct mm_struct *mm)
{
	mmdrop(mm);
}

/*
 * Reads the memory footprint of the process led by `leader`, in pages: its
 * resident anonymous, file and shmem pages and its swap entries, as
 * /proc/<pid>/status shows them (RssAnon, RssFile, RssShmem, VmSwap: the
 * per-cpu counters summed), and its peak RSS: the larger of the memory
 * map's (VmHWM) and the one exiting threads and execs left in
 * signal_struct, as getrusage's ru_maxrss.
 *
 * `*cached` is NULL or a memory map this function grabbed for the process
 * on an earlier call; the caller keeps it between calls and gives it to
 * pfprof_drop_mm() in the end. While it is still the leader's, the counters
 * are read from it without any lock (the reference keeps the struct and its
 * counters allocated); otherwise (an exec, the exit, a leader that exited
 * before its threads) the current one is looked up and grabbed, and the old
 * one dropped. Returns false, with the resident and swap figures 0, when
 * no thread has a memory map any more; the peak is filled in anyway.
 * Does not sleep. `leader` must be referenced.
 */
bool pfprof_read_memory(struct task_struct *leader, struct mm_struct **cached,
			u64 *anon, u64 *file, u64 *shmem, u64 *swap,
			u64 *peak);

bool pfprof_read_memory(struct task_struct *leader, struct mm_struct **cached,
			u64 *anon, u64 *file, u64 *shmem, u64 *swap,
			u64 *peak)
{
	struct mm_struct *mm = *cached;
	unsigned long hiwater = READ_ONCE(leader->signal->maxrss);

	if (!mm || READ_ONCE(leader->mm) != mm) {
		struct mm_struct *now = pfprof_grab_mm(leader);

		if (mm)
			mmdrop(mm);
		*cached = mm = now;
	}
	*anon = *file = *shmem = *swap = 0;
	if (mm) {
		*anon = pfprof_mm_counter(mm, MM_ANONPAGES);
		*file = pfprof_mm_counter(mm, MM_FILEPAGES);
		*shmem = pfprof_mm_counter(mm, MM_SHMEMPAGES);
		*swap = pfprof_mm_counter(mm, MM_SWAPENTS);
		hiwater = max3(hiwater, READ_ONCE(mm->hiwater_rss),
			       (unsigned long)(*anon + *file + *shmem));
	}
	*peak = hiwater;
	return mm != NULL;
}

/* --- The sampler (sampler.rs) -------------------------------------------- */

/*
 * The sampler's clock: a high-resolution timer on absolute CLOCK_MONOTONIC
 * deadlines that queues the sampler's delayed work (with no delay) when it
 * fires. sampler.rs lays out the same struct (ClockCells); init checks the
 * size.
 */
struct pfprof_clock {
	struct delayed_work work;
	struct hrtimer timer;
};

int pfprof_clock_init(struct pfprof_clock *c, size_t size, work_func_t fn);
void pfprof_clock_arm(struct pfprof_clock *c, u64 deadline_ns);
void pfprof_clock_stop(struct pfprof_clock *c);

/* Hard interrupt context: queues the work and nothing else. */
static enum hrtimer_restart pfprof_clock_fired(struct hrtimer *timer)
{
	struct pfprof_clock *c = container_of(timer, struct pfprof_clock, timer);

	/* A no-op once the work is disabled (pfprof_clock_stop). */
	queue_delayed_work_on(WORK_CPU_UNBOUND, system_highpri_wq, &c->work, 0);
	return HRTIMER_NORESTART;
}

int pfprof_clock_init(struct pfprof_clock *c, size_t size, work_func_t fn)
{
	if (WARN_ON(size != sizeof(*c)))
		return -EINVAL;
	INIT_DELAYED_WORK(&c->work, fn);
	hrtimer_init(&c->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	c->timer.function = pfprof_clock_fired;
	return 0;
}

/*
 * (Re)arms the timer for `deadline_ns` (CLOCK_MONOTONIC); a deadline that
 * has passed fires at once. Any context.
 */
void pfprof_clock_arm(struct pfprof_clock *c, u64 deadline_ns)
{
	hrtimer_start(&c->timer, ns_to_ktime(deadline_ns), HRTIMER_MODE_ABS);
}

/*
 * Stops the clock for good: cancels the timer, waiting for its callback,
 * then cancels and disables the work, waiting for a running instance. The
 * caller makes sure that nothing re-arms the timer after the first step
 * (the work function checks a stopping flag under the lock that the
 * caller set it under). Sleeps.
 */
void pfprof_clock_stop(struct pfprof_clock *c)
{
	hrtimer_cancel(&c->timer);
	disable_delayed_work_sync(&c->work);
}

/* --- mmap (buffer.rs) ---------------------------------------------------- */

void pfprof_vma_clear_flags(struct vm_area_struct *vma, unsigned long flags);

/* Called from f_op->mmap, with the mmap lock held for writing. */
void pfprof_vma_clear_flags(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_clear(vma, flags);
}
