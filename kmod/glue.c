// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for what Linux 6.12's Rust bindings cannot express: structures the
 * bindings lack (struct proc_ops), and operations that exist only as inline
 * functions or macros (rcu_read_lock, for_each_thread, the signal_struct
 * stats seqlock, task_lock and the mm's RSS counters, __task_cred,
 * INIT_WORK, hrtimer_forward_now, vm_flags_clear). Each function is small and
 * called from exactly one safe Rust wrapper.
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
			  u64 *major_faults, u64 *cpu_ns, u64 *switches,
			  bool *exited);

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
 * `*switches`, nothing is read or written and false is returned: the
 * leader has not run since, and only a running thread changes its own
 * fault counts and CPU time (the faults of get_user_pages count for the
 * caller) or starts another thread. This reads one cache line of the task
 * instead of the signal_struct, the seqlock and the thread list: most
 * registered processes sleep through most periods.
 *
 * Otherwise the counters are read, `*exited` says whether every thread has
 * exited and run for the last time (the counts are final), and true is
 * returned. The results are
 * plain scalars, so no struct layout is shared with Rust.
 */
bool pfprof_read_counters(struct task_struct *leader, u64 *minor_faults,
			  u64 *major_faults, u64 *cpu_ns, u64 *switches,
			  bool *exited)
{
	struct signal_struct *sig = leader->signal;
	struct task_struct *t;
	unsigned int seq, nextseq = 0;
	unsigned long flags, sw;
	u64 minor, major, cpu;
	bool single, dead, alone;

	if (*switches != ULLONG_MAX && !smp_load_acquire(&leader->on_cpu) &&
	    pfprof_switches(leader) == *switches)
		return false;

	/*
	 * Read before the counters: if the leader runs after this, it leaves
	 * its CPU before it can be seen idle, and counts a switch.
	 */
	sw = pfprof_switches(leader);
	/*
	 * Also before the counters: a leader past its last switch (TASK_DEAD,
	 * and off its CPU, which its final switch clears with release) adds
	 * nothing to them any more.
	 */
	dead = READ_ONCE(leader->__state) == TASK_DEAD &&
	       !smp_load_acquire(&leader->on_cpu);
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
		/* Every other thread's counts are in sig (__exit_signal). */
		alone = READ_ONCE(sig->nr_threads) <= 1;
		nextseq = 1; /* Take the lock if we have to retry. */
	} while (need_seqretry(&sig->stats_lock, seq));
	done_seqretry_irqrestore(&sig->stats_lock, seq, flags);
	rcu_read_unlock();

	*minor_faults = minor;
	*major_faults = major;
	*cpu_ns = cpu;
	/* The one live thread is the leader: its switches stand for all. */
	*switches = single && READ_ONCE(leader->exit_state) == 0 ? sw : ULLONG_MAX;
	/*
	 * Final: the leader is dead and every other thread released. A
	 * thread that has only begun to exit (signal->live already counted
	 * down) still runs, and its CPU time still grows.
	 */
	*exited = dead && alone;
	return true;
}

/*
 * The mm's RSS counters, indexed by enum mm_counter_type (MM_ANONPAGES,
 * ...), each its shared count plus every CPU's pending delta: what
 * get_mm_counter_sum() (and so /proc/<pid>/status) computes, in one pass
 * over the CPUs for the four, and without percpu_counter_sum()'s lock (a
 * spinlock with interrupts off, which cost the sampler 4 times its
 * per-process time). A figure is exact when its counter does not move
 * during the read (a stopped process), and otherwise off by at most the
 * one batch being folded, like any figure of a running process.
 */
static void pfprof_mm_counters(struct mm_struct *mm,
			       unsigned long out[NR_MM_COUNTERS])
{
	struct percpu_counter *fbc = mm->rss_stat;
	s64 sum[NR_MM_COUNTERS];
	int cpu, i;

	for (i = 0; i < NR_MM_COUNTERS; i++)
		sum[i] = READ_ONCE(fbc[i].count);
	for_each_possible_cpu(cpu) {
		for (i = 0; i < NR_MM_COUNTERS; i++)
			sum[i] += READ_ONCE(*per_cpu_ptr(fbc[i].counters, cpu));
	}
	for (i = 0; i < NR_MM_COUNTERS; i++)
		out[i] = sum[i] > 0 ? sum[i] : 0;
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
		unsigned long c[NR_MM_COUNTERS];

		pfprof_mm_counters(mm, c);
		*anon = c[MM_ANONPAGES];
		*file = c[MM_FILEPAGES];
		*shmem = c[MM_SHMEMPAGES];
		*swap = c[MM_SWAPENTS];
		hiwater = max3(hiwater, READ_ONCE(mm->hiwater_rss),
			       (unsigned long)(*anon + *file + *shmem));
	}
	*peak = hiwater;
	return mm != NULL;
}

/* --- The sampler (sampler.rs) -------------------------------------------- */

/*
 * The sampler's clock: a periodic high-resolution timer on a grid of
 * absolute CLOCK_MONOTONIC deadlines (first, first + period, ...) that
 * queues the sampler's work item when it fires. It re-arms itself in its
 * callback (hrtimer_forward_now, as periodic timers do), under the timer
 * base's lock that expiry holds anyway, so a tick neither takes that lock
 * nor reprograms the clock event device. sampler.rs lays out the same
 * struct (ClockCells); init checks the size.
 */
struct pfprof_clock {
	struct work_struct work;
	struct hrtimer timer;
	/* Written only while the timer is cancelled; read by its callback. */
	u64 period_ns;
};

int pfprof_clock_init(struct pfprof_clock *c, size_t size, work_func_t fn);
void pfprof_clock_start(struct pfprof_clock *c, u64 first_ns, u64 period_ns);
void pfprof_clock_pause(struct pfprof_clock *c);
void pfprof_clock_kick(struct pfprof_clock *c);
void pfprof_clock_stop(struct pfprof_clock *c);

/*
 * Hard interrupt context: moves the timer to the first deadline of its grid
 * still ahead (the periods missed are not queued one by one: the work
 * counts them from its own schedule) and queues the work, a no-op if it is
 * pending already or disabled (pfprof_clock_stop).
 */
static enum hrtimer_restart pfprof_clock_fired(struct hrtimer *timer)
{
	struct pfprof_clock *c = container_of(timer, struct pfprof_clock, timer);

	hrtimer_forward_now(timer, ns_to_ktime(READ_ONCE(c->period_ns)));
	queue_work_on(WORK_CPU_UNBOUND, system_highpri_wq, &c->work);
	return HRTIMER_RESTART;
}

int pfprof_clock_init(struct pfprof_clock *c, size_t size, work_func_t fn)
{
	if (WARN_ON(size != sizeof(*c)))
		return -EINVAL;
	INIT_WORK(&c->work, fn);
	hrtimer_init(&c->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	c->timer.function = pfprof_clock_fired;
	c->period_ns = NSEC_PER_MSEC;
	return 0;
}

/*
 * (Re)starts the timer on a new grid: first at `first_ns` (CLOCK_MONOTONIC;
 * a deadline that has passed fires at once), then every `period_ns`.
 * Process context (it waits for a running callback); never under a lock the
 * callback takes (it takes none of the module's).
 */
void pfprof_clock_start(struct pfprof_clock *c, u64 first_ns, u64 period_ns)
{
	hrtimer_cancel(&c->timer);
	WRITE_ONCE(c->period_ns, period_ns);
	hrtimer_start(&c->timer, ns_to_ktime(first_ns), HRTIMER_MODE_ABS);
}

/*
 * Stops the timer until the next start; a work it queued still runs.
 * Process context, as above.
 */
void pfprof_clock_pause(struct pfprof_clock *c)
{
	hrtimer_cancel(&c->timer);
}

/* Queues the work now (a late sampler catching up). Any context. */
void pfprof_clock_kick(struct pfprof_clock *c)
{
	queue_work_on(WORK_CPU_UNBOUND, system_highpri_wq, &c->work);
}

/*
 * Stops the clock for good: cancels the timer, waiting for its callback,
 * then cancels and disables the work, waiting for a running instance. The
 * caller makes sure that nothing starts the timer or kicks the work after
 * the first step (the work function checks a stopping flag under the lock
 * that the caller set it under). Sleeps.
 */
void pfprof_clock_stop(struct pfprof_clock *c)
{
	hrtimer_cancel(&c->timer);
	disable_work_sync(&c->work);
}

/* --- mmap (buffer.rs) ---------------------------------------------------- */

void pfprof_vma_clear_flags(struct vm_area_struct *vma, unsigned long flags);

/* Called from f_op->mmap, with the mmap lock held for writing. */
void pfprof_vma_clear_flags(struct vm_area_struct *vma, unsigned long flags)
{
	vm_flags_clear(vma, flags);
}

/* --- Process trees (tree.rs) ----------------------------------------------
 *
 * A probe on the sched_process_fork tracepoint follows the forks of the
 * processes registered with PFPROF_REG_TREE. It runs for every fork on the
 * system, in the parent, with preemption disabled (the tracepoint's RCU
 * read side): it tests one bit of a bitmap of tree members, indexed by
 * global tgid, and for a member's new process (not a thread) takes a
 * reference on the child, marks it a member (so that its own forks are
 * followed before the sampler has seen it), and appends it to a fixed-size
 * queue under a spinlock. Nothing sleeps or allocates; a full queue refuses
 * the child and counts it. The registry side (tree.rs, under the profiler's
 * lock) pops the queue at each tick and sets and clears the bits of the
 * members it registers and drops.
 */
#include <linux/atomic.h>
#include <linux/bitops.h>
#include <linux/spinlock.h>
#include <linux/threads.h>
#include <linux/tracepoint.h>
#include <linux/vmalloc.h>

/* Pending forks the queue holds: a burst larger than this between two
 * ticks refuses the excess (PFPROF_TREE_QUEUE in tree.rs's docs). */
#define PFPROF_TREE_QUEUE 4096

struct pfprof_tree_item {
	struct task_struct *child; /* a new process (its own leader), referenced */
	pid_t child_tgid;          /* global */
	pid_t parent_tgid;         /* global */
	u64 parent_start_ns;       /* the parent's leader's start_time */
};

int pfprof_tree_init(void);
void pfprof_tree_exit(void);
void pfprof_tree_mark(pid_t tgid, bool member);
bool pfprof_tree_pop(struct task_struct **child, pid_t *child_tgid,
		     pid_t *parent_tgid, u64 *parent_start_ns);
bool pfprof_tree_pending(void);
u64 pfprof_tree_refused(void);
pid_t pfprof_task_tgid_nr(struct task_struct *task);
u64 pfprof_task_start_ns(struct task_struct *task);

/* The global tgid of a referenced task. */
pid_t pfprof_task_tgid_nr(struct task_struct *task)
{
	return task->tgid;
}

/*
 * Brings `comm`, the command name last read for a referenced task,
 * NUL-padded into 16 bytes, up to date. Read without task_lock (a spinlock
 * per record): an exec renaming the task at that moment may give a mix of
 * the two names, as a racy /proc read could. The kernel pads names with
 * NULs as it sets them, so an unchanged name costs two loads and
 * comparisons; a changed one is padded here again all the same.
 */
void pfprof_task_comm(struct task_struct *task, char *comm);

void pfprof_task_comm(struct task_struct *task, char *comm)
{
	char now[TASK_COMM_LEN];
	int i;

	BUILD_BUG_ON(TASK_COMM_LEN != 16);
	/* One racy copy (see above): the bytes, not a string, are read. */
	memcpy(now, task->comm, TASK_COMM_LEN);
	if (!memcmp(now, comm, TASK_COMM_LEN))
		return;
	now[TASK_COMM_LEN - 1] = '\0';
	for (i = strnlen(now, TASK_COMM_LEN); i < TASK_COMM_LEN; i++)
		now[i] = '\0';
	memcpy(comm, now, TASK_COMM_LEN);
}

/* The start time (CLOCK_MONOTONIC ns) of a referenced task. */
u64 pfprof_task_start_ns(struct task_struct *task)
{
	return task->start_time;
}

#ifdef CONFIG_TRACEPOINTS

static unsigned long *pfprof_tree_members; /* PID_MAX_LIMIT bits */
static struct pfprof_tree_item *pfprof_tree_queue;
static unsigned int pfprof_tree_first, pfprof_tree_len;
static DEFINE_SPINLOCK(pfprof_tree_lock);
static atomic64_t pfprof_tree_refused_count = ATOMIC64_INIT(0);
static struct tracepoint *pfprof_fork_tp;

static void pfprof_fork_probe(void *data, struct task_struct *parent,
			      struct task_struct *child)
{
	pid_t ptgid = parent->tgid, ctgid = child->tgid;
	struct pfprof_tree_item *item;
	unsigned long flags;

	if (ctgid == ptgid) /* a new thread of the same process */
		return;
	if ((unsigned int)ptgid >= PID_MAX_LIMIT ||
	    (unsigned int)ctgid >= PID_MAX_LIMIT ||
	    !test_bit(ptgid, pfprof_tree_members))
		return;
	spin_lock_irqsave(&pfprof_tree_lock, flags);
	if (pfprof_tree_len >= PFPROF_TREE_QUEUE) {
		spin_unlock_irqrestore(&pfprof_tree_lock, flags);
		atomic64_inc(&pfprof_tree_refused_count);
		return;
	}
	item = &pfprof_tree_queue[(pfprof_tree_first + pfprof_tree_len) %
				  PFPROF_TREE_QUEUE];
	get_task_struct(child);
	item->child = child;
	item->child_tgid = ctgid;
	item->parent_tgid = ptgid;
	item->parent_start_ns = READ_ONCE(parent->group_leader)->start_time;
	WRITE_ONCE(pfprof_tree_len, pfprof_tree_len + 1);
	set_bit(ctgid, pfprof_tree_members);
	spin_unlock_irqrestore(&pfprof_tree_lock, flags);
}

static void pfprof_find_fork_tp(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_process_fork"))
		*(struct tracepoint **)priv = tp;
}

/* Allocates the bitmap and the queue and registers the probe. */
int pfprof_tree_init(void)
{
	struct tracepoint *tp = NULL;
	int err;

	for_each_kernel_tracepoint(pfprof_find_fork_tp, &tp);
	if (!tp)
		return -EOPNOTSUPP;
	pfprof_tree_members = vzalloc(BITS_TO_LONGS(PID_MAX_LIMIT) *
				      sizeof(unsigned long));
	pfprof_tree_queue = vzalloc(PFPROF_TREE_QUEUE *
				    sizeof(struct pfprof_tree_item));
	if (!pfprof_tree_members || !pfprof_tree_queue) {
		err = -ENOMEM;
		goto fail;
	}
	err = tracepoint_probe_register(tp, (void *)pfprof_fork_probe, NULL);
	if (err)
		goto fail;
	pfprof_fork_tp = tp;
	return 0;
fail:
	vfree(pfprof_tree_queue);
	vfree(pfprof_tree_members);
	pfprof_tree_queue = NULL;
	pfprof_tree_members = NULL;
	return err;
}

/*
 * Unregisters the probe, waits until no call of it can be running, drops
 * the references the queue holds and frees everything. Safe to call when
 * pfprof_tree_init() failed or was not called.
 */
void pfprof_tree_exit(void)
{
	struct task_struct *child;
	pid_t c, p;
	u64 s;

	if (!pfprof_fork_tp)
		return;
	tracepoint_probe_unregister(pfprof_fork_tp, (void *)pfprof_fork_probe,
				    NULL);
	tracepoint_synchronize_unregister();
	pfprof_fork_tp = NULL;
	while (pfprof_tree_pop(&child, &c, &p, &s))
		put_task_struct(child);
	vfree(pfprof_tree_queue);
	vfree(pfprof_tree_members);
	pfprof_tree_queue = NULL;
	pfprof_tree_members = NULL;
}

/* Sets or clears the member bit of a global tgid. */
void pfprof_tree_mark(pid_t tgid, bool member)
{
	if (!pfprof_tree_members || tgid <= 0 ||
	    (unsigned int)tgid >= PID_MAX_LIMIT)
		return;
	if (member)
		set_bit(tgid, pfprof_tree_members);
	else
		clear_bit(tgid, pfprof_tree_members);
}

/* Takes the oldest pending fork; the caller owns the child's reference. */
bool pfprof_tree_pop(struct task_struct **child, pid_t *child_tgid,
		     pid_t *parent_tgid, u64 *parent_start_ns)
{
	struct pfprof_tree_item *item;
	unsigned long flags;

	if (!pfprof_tree_queue)
		return false;
	spin_lock_irqsave(&pfprof_tree_lock, flags);
	if (!pfprof_tree_len) {
		spin_unlock_irqrestore(&pfprof_tree_lock, flags);
		return false;
	}
	item = &pfprof_tree_queue[pfprof_tree_first];
	*child = item->child;
	*child_tgid = item->child_tgid;
	*parent_tgid = item->parent_tgid;
	*parent_start_ns = item->parent_start_ns;
	item->child = NULL;
	pfprof_tree_first = (pfprof_tree_first + 1) % PFPROF_TREE_QUEUE;
	WRITE_ONCE(pfprof_tree_len, pfprof_tree_len - 1);
	spin_unlock_irqrestore(&pfprof_tree_lock, flags);
	return true;
}

/*
 * Whether forks may be pending, without the lock: the tick's fast path,
 * which pops only when this says so. A fork queued before something the
 * caller observed earlier is seen: a member's exit, which the caller saw
 * as its signal_struct's `live` at 0, came after the probe ran in it, and
 * the exit's atomic_dec_and_test() of `live` is a full barrier after the
 * probe's store to the queue's length; the read barrier here orders this
 * load after the caller's.
 */
bool pfprof_tree_pending(void)
{
	smp_rmb();
	return READ_ONCE(pfprof_tree_len) != 0;
}

/* Forks refused because the queue was full, since load. */
u64 pfprof_tree_refused(void)
{
	return atomic64_read(&pfprof_tree_refused_count);
}

#else /* !CONFIG_TRACEPOINTS */

int pfprof_tree_init(void)
{
	return -EOPNOTSUPP;
}

void pfprof_tree_exit(void)
{
}

void pfprof_tree_mark(pid_t tgid, bool member)
{
}

bool pfprof_tree_pop(struct task_struct **child, pid_t *child_tgid,
		     pid_t *parent_tgid, u64 *parent_start_ns)
{
	return false;
}

bool pfprof_tree_pending(void)
{
	return false;
}

u64 pfprof_tree_refused(void)
{
	return 0;
}

#endif /* CONFIG_TRACEPOINTS */
