// SPDX-License-Identifier: GPL-2.0

//! The profiler: the registry, the sampler and the buffer, and every
//! operation the control planes (ioctl, /proc/mp3/status, sysfs) offer.
//!
//! One instance exists while the module is loaded ([`Profiler::get`]).

use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::bindings;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

use crate::abi;
use crate::buffer::{Buffer, ClassicSlot};
use crate::process::Process;
use crate::registry::{self, Entry, Registry, TreeTag};
use crate::sampler::{self, Clock, Next, Schedule, HZ};
use crate::tree;

/// Who an operation is about.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// The calling process.
    Caller,
    /// A process or thread id in the caller's pid namespace (> 0).
    Pid(i32),
}

impl Target {
    /// From an ABI pid: 0 is the caller, negative is invalid.
    pub(crate) fn from_abi(pid: i32) -> Result<Target> {
        match pid {
            0 => Ok(Target::Caller),
            p if p > 0 => Ok(Target::Pid(p)),
            _ => Err(EINVAL),
        }
    }
}

/// Counters of the sampler's work, zeroed by a reset.
#[derive(Default, Clone, Copy)]
struct Counts {
    samples_written: u64,
    samples_lost: u64,
    records_written: u64,
    ticks: u64,
    overruns: u64,
    process_samples: u64,
    cost_total_ns: u64,
    cost_last_ns: u64,
    cost_max_ns: u64,
}

/// Everything the profiler's lock protects.
struct Inner {
    registry: Registry,
    schedule: Schedule,
    /// The sampler's timer runs (the work clears this when it finds the
    /// registry empty, under the lock, and stops the timer).
    running: bool,
    /// The module is unloading: nothing may start the timer or queue the
    /// work again.
    stopping: bool,
    /// Next classic sample number (its slot: [`ClassicSlot::of`]).
    classic_next: u64,
    /// Next extended record number (never reset: readers follow it).
    ext_head: u64,
    counts: Counts,
    /// The fork probe is registered (tree registrations are possible).
    forks: bool,
    /// A tree was registered since load: ticks collect the tree members
    /// that exit, for the forks they made just before.
    trees: bool,
    /// Registered processes above which a tree member's new process is
    /// refused.
    tree_limit: u32,
    /// Tree members' new processes refused here (limit, pid reuse, parent
    /// no longer a member), since load; the probe counts its own.
    tree_refused: u64,
    /// Room for the tree members a tick finds exited, kept from tick to
    /// tick (empty between ticks).
    gone: KVec<Gone>,
}

/// A tree member the tick found exited, and so dropped.
type Gone = (i32, TreeTag);

/// Registers the new processes of tree members the fork probe queued,
/// in fork order (a parent before its children). `gone` are members
/// dropped since the last call (by the tick that calls this), whose forks
/// may still be queued.
fn adopt_forks(inner: &mut Inner, gone: &[Gone]) {
    if !inner.forks || !tree::pending() {
        return;
    }
    let now_ns = sampler::now_ns();
    let jiffies = sampler::jiffies();
    while let Some(fork) = tree::pop() {
        let parent = fork.parent_tgid;
        let same = |t: &TreeTag| t.start_ns == fork.parent_start_ns;
        let root = inner
            .registry
            .get(parent)
            .and_then(|e| e.tree)
            .filter(same)
            .or_else(|| {
                gone.iter()
                    .find(|(pid, t)| *pid == parent && same(t))
                    .map(|(_, t)| *t)
            })
            .map(|t| t.root);
        let child = fork.child.tgid();
        let room_left = inner.registry.len() < inner.tree_limit as usize;
        let adopted = match root {
            Some(root) if room_left && !inner.stopping && !inner.registry.contains(child) => {
                registry::reserve().is_ok_and(|room| {
                    let entry = Entry::new_member(fork.child, root, now_ns, jiffies);
                    inner.registry.insert(child, entry, room).is_ok()
                })
            }
            _ => false,
        };
        if !adopted {
            inner.tree_refused = inner.tree_refused.saturating_add(1);
            if !inner.registry.contains(child) {
                tree::mark(child, false);
            }
        }
    }
}

/// The profiler.
#[pin_data]
pub(crate) struct Profiler {
    /// `Profiler::inner`: the registry, the sampler's state and the writer
    /// side of the buffer. Taken by the sampler work; so the work is only
    /// ever cancelled without it.
    #[pin]
    inner: Mutex<Inner>,
    /// The sampler work and the timer that queues it; started, paused and
    /// kicked under `inner`.
    #[pin]
    work: Clock,
    /// Written only under `inner`; read by user space through mappings.
    buffer: Buffer,
}

/// The one profiler, set while the module is loaded (see [`Profiler::get`]).
static PROFILER: AtomicPtr<Profiler> = AtomicPtr::new(core::ptr::null_mut());

/// The sampler work function.
///
/// # Safety
///
/// Called by the workqueue for the profiler's work item.
unsafe extern "C" fn sampler_work(_work: *mut bindings::work_struct) {
    // The work is disabled before the profiler is unpublished and freed.
    if let Some(profiler) = Profiler::get() {
        profiler.tick();
    }
}

/// Adds one process's per-period counters to the tick's totals record
/// (saturating, though no real sum comes near).
fn add_to_totals(total: &mut abi::Record, rec: &abi::Record) {
    let sum = |a: &mut u64, b: u64| *a = a.saturating_add(b);
    sum(&mut total.minor_faults, rec.minor_faults);
    sum(&mut total.major_faults, rec.major_faults);
    sum(&mut total.cpu_ns, rec.cpu_ns);
}

impl Profiler {
    /// A profiler with an empty registry and a formatted buffer.
    pub(crate) fn new() -> Result<impl PinInit<Self, Error>> {
        let buffer = Buffer::new(HZ, abi::PERIOD_DEFAULT_US)?;
        Ok(try_pin_init!(Profiler {
            inner <- new_mutex!(
                Inner {
                    registry: Registry::new(),
                    schedule: Schedule::new(abi::PERIOD_DEFAULT_US),
                    running: false,
                    stopping: false,
                    classic_next: 0,
                    ext_head: 0,
                    counts: Counts::default(),
                    forks: false,
                    trees: false,
                    tree_limit: tree::LIMIT_DEFAULT,
                    tree_refused: 0,
                    gone: KVec::new(),
                },
                "Profiler::inner"
            ),
            work <- Clock::new(sampler_work),
            buffer,
        }))
    }

    /// Makes `self` the profiler that callbacks find.
    ///
    /// # Safety
    ///
    /// `self` stays valid until [`Profiler::unpublish`] has been called and
    /// no callback that may use it can still run.
    pub(crate) unsafe fn publish(self: Pin<&Self>) {
        let ptr: *const Profiler = &*self;
        PROFILER.store(ptr.cast_mut(), Ordering::Release);
    }

    /// Registers the fork probe for tree registrations; without it (no
    /// tracepoints) they fail with `EOPNOTSUPP`.
    pub(crate) fn enable_trees(&self) -> Result {
        tree::init()?;
        self.inner.lock().forks = true;
        Ok(())
    }

    /// Stops the sampler for good and unpublishes the profiler. Call after
    /// every control plane is gone and before freeing.
    pub(crate) fn shutdown(&self) {
        self.inner.lock().stopping = true;
        // Outside the lock: the work function takes it. Nothing starts the
        // timer or kicks the work once `stopping` is set.
        self.work.stop();
        // The probe goes, with the references of the forks it queued; the
        // registry's go with the profiler.
        self.inner.lock().forks = false;
        tree::exit();
        PROFILER.store(core::ptr::null_mut(), Ordering::Release);
        self.buffer.set_state(abi::STATE_IDLE);
    }

    /// The published profiler.
    pub(crate) fn get() -> Option<&'static Profiler> {
        let ptr = PROFILER.load(Ordering::Acquire);
        // SAFETY: A non-null pointer was published by `publish`, whose caller
        // keeps it valid while any callback can run.
        unsafe { ptr.as_ref() }
    }

    pub(crate) fn buffer(&self) -> &Buffer {
        &self.buffer
    }

    /// Registers a process (with `tree`, as the root of a process tree);
    /// returns its tgid.
    pub(crate) fn register(&self, target: Target, tree: bool) -> Result<i32> {
        let process = match target {
            Target::Caller => Process::current()?,
            Target::Pid(nr) => Process::find(nr)?,
        };
        if !process.may_be_read_by_caller() {
            return Err(EPERM);
        }
        if process.counters().exited() {
            return Err(ESRCH);
        }
        let tgid = process.tgid();
        // Tree members are found by global tgid: the root must be seen
        // from the initial pid namespace.
        if tree && process.global_tgid() != tgid {
            return Err(EINVAL);
        }
        let tag = TreeTag {
            root: tgid,
            start_ns: process.start_ns(),
        };
        let room = registry::reserve()?;
        let mut entry = Entry::new(process, sampler::now_ns(), sampler::jiffies());
        let mut inner = self.inner.lock();
        if tree {
            if !inner.forks {
                return Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)));
            }
            entry.tree = Some(tag);
        }
        inner.registry.insert(tgid, entry, room)?;
        if tree {
            inner.trees = true;
            tree::mark(tgid, true);
        }
        if !inner.running && !inner.stopping {
            inner.running = true;
            inner.schedule.restart(sampler::now_ns(), None);
            self.buffer.set_state(abi::STATE_RUNNING);
            self.work.start(&inner.schedule);
        }
        Ok(tgid)
    }

    /// The registry key a target names: the pid itself if registered (the
    /// process may be gone already), else its process's tgid.
    fn key_of(&self, target: Target) -> Result<i32> {
        match target {
            Target::Caller => Ok(Process::current()?.tgid()),
            Target::Pid(nr) => {
                if self.inner.lock().registry.contains(nr) {
                    Ok(nr)
                } else {
                    Ok(Process::find(nr).map_err(|_| ENOENT)?.tgid())
                }
            }
        }
    }

    /// Unregisters a process.
    pub(crate) fn unregister(&self, target: Target) -> Result {
        let key = self.key_of(target)?;
        let removed = {
            let mut inner = self.inner.lock();
            let entry = inner.registry.get(key).ok_or(ENOENT)?;
            if !entry.process.may_be_read_by_caller() {
                return Err(EPERM);
            }
            let removed = inner.registry.remove(key);
            if removed.as_ref().is_some_and(|e| e.tree.is_some()) {
                tree::mark(key, false);
            }
            removed
        };
        // The sampler stops by itself at its next tick if this was the last.
        drop(removed);
        Ok(())
    }

    /// Cumulative figures of one registered process.
    pub(crate) fn query_pid(&self, target: Target) -> Result<abi::ProcStats> {
        let key = self.key_of(target)?;
        let mut inner = self.inner.lock();
        adopt_forks(&mut inner, &[]);
        let entry = inner.registry.get(key).ok_or(ENOENT)?;
        if !entry.process.may_be_read_by_caller() {
            return Err(EPERM);
        }
        let (minor_faults, major_faults, cpu_ns) = entry.process.counters().since(&entry.base);
        Ok(abi::ProcStats {
            pid: key,
            reserved: 0,
            minor_faults,
            major_faults,
            cpu_ns,
            registered_ns: entry.registered_ns,
            registered_jiffies: entry.registered_jiffies,
        })
    }

    /// The global figures.
    pub(crate) fn status(&self) -> abi::Status {
        let inner = self.inner.lock();
        let c = inner.counts;
        abi::Status {
            abi_version: abi::ABI_VERSION,
            state: if inner.running {
                abi::STATE_RUNNING
            } else {
                abi::STATE_IDLE
            },
            hz: HZ,
            period_us: inner.schedule.period_us(),
            registered: inner.registry.len().try_into().unwrap_or(u32::MAX),
            tree_refused: inner
                .tree_refused
                .saturating_add(tree::queue_refused())
                .try_into()
                .unwrap_or(u32::MAX),
            samples_written: c.samples_written,
            samples_lost: c.samples_lost,
            records_written: c.records_written,
            ticks: c.ticks,
            overruns: c.overruns,
            process_samples: c.process_samples,
            cost_total_ns: c.cost_total_ns,
            cost_last_ns: c.cost_last_ns,
            cost_max_ns: c.cost_max_ns,
        }
    }

    /// A snapshot of the registered pids, in ascending order. Allocates
    /// before taking the lock, and retries if the registry outgrew it.
    pub(crate) fn pids(&self) -> Result<KVec<i32>> {
        loop {
            let room = self.inner.lock().registry.len().saturating_add(16);
            let mut pids = KVec::with_capacity(room, GFP_KERNEL)?;
            let mut inner = self.inner.lock();
            adopt_forks(&mut inner, &[]);
            if inner.registry.len() > room {
                continue;
            }
            for pid in inner.registry.pids() {
                // Within the capacity reserved above: does not allocate.
                pids.push(pid, GFP_NOWAIT)?;
            }
            return Ok(pids);
        }
    }

    /// Refills the classic ring with -1 and zeroes every counter; the
    /// registrations stay, with their baselines restarted.
    pub(crate) fn reset(&self) {
        let mut inner = self.inner.lock();
        adopt_forks(&mut inner, &[]);
        self.buffer.clear_classic();
        inner.classic_next = 0;
        inner.counts = Counts::default();
        inner.registry.rebase();
        self.buffer.set_ticks(0);
        self.buffer.count_reset(inner.ext_head);
    }

    /// Sets the sampling period; a running sampler restarts its schedule.
    pub(crate) fn set_period_us(&self, period_us: u32) -> Result {
        if !(abi::PERIOD_MIN_US..=abi::PERIOD_MAX_US).contains(&period_us) {
            return Err(EINVAL);
        }
        let mut inner = self.inner.lock();
        inner.schedule.restart(sampler::now_ns(), Some(period_us));
        self.buffer.set_period_us(period_us);
        if inner.running && !inner.stopping {
            // A tick queued for the old grid finds itself not due.
            self.work.start(&inner.schedule);
        }
        Ok(())
    }

    /// The limit of registered processes for tree members' new processes.
    pub(crate) fn tree_limit(&self) -> u32 {
        self.inner.lock().tree_limit
    }

    /// Sets the limit of registered processes for tree members' new
    /// processes (1 to [`tree::LIMIT_MAX`]).
    pub(crate) fn set_tree_limit(&self, limit: u32) -> Result {
        if !(1..=tree::LIMIT_MAX).contains(&limit) {
            return Err(EINVAL);
        }
        self.inner.lock().tree_limit = limit;
        Ok(())
    }

    /// The sampling period in microseconds.
    pub(crate) fn period_us(&self) -> u32 {
        self.inner.lock().schedule.period_us()
    }

    /// One sampler tick: samples every registered process, writes the
    /// records and the classic sample, and moves the schedule to the next
    /// deadline (the timer re-arms itself).
    fn tick(&self) {
        let mut guard = self.inner.lock();
        // The sample's time; the tick's cost is counted from here.
        let time_ns = sampler::now_ns();
        let inner = &mut *guard;
        if inner.stopping {
            return;
        }
        adopt_forks(inner, &[]);
        if !inner.running {
            // Queued before the timer stopped.
            return;
        }
        if inner.registry.is_empty() {
            inner.running = false;
            self.work.pause();
            self.buffer.set_state(abi::STATE_IDLE);
            return;
        }
        if !inner.schedule.due(time_ns) {
            // Queued for a deadline a catch-up served, or for a grid that a
            // new period replaced.
            return;
        }
        let jiffies = sampler::jiffies();
        let mut total = abi::Record {
            time_ns,
            jiffies,
            flags: abi::RECORD_TOTAL,
            ..Default::default()
        };
        let mut sampled = 0u64;
        let buffer = &self.buffer;
        // Tree members that exit are kept aside until the forks queued
        // since the adoption above are adopted (a parent may fork and exit
        // in between). Room for all, grown here if need be: the walk must
        // not allocate.
        let mut gone = core::mem::take(&mut inner.gone);
        if inner.trees && gone.capacity() < inner.registry.len() {
            // On failure the walk's pushes try without sleeping.
            let _ = gone.reserve(inner.registry.len(), GFP_KERNEL);
        }
        let ext_head = &mut inner.ext_head;
        // Record numbers wrap (after 2^64 records, centuries at any rate);
        // per-period sums and statistics saturate instead.
        let memory = inner.registry.sample(|d| {
            let m = d.shown;
            let mut flags = 0;
            if d.exited {
                flags |= abi::RECORD_EXITED;
            }
            if m.no_mm {
                flags |= abi::RECORD_NO_MM;
            }
            let rec = abi::Record {
                seq: *ext_head,
                time_ns,
                jiffies,
                pid: d.pid,
                flags,
                minor_faults: d.minor_faults,
                major_faults: d.major_faults,
                cpu_ns: d.cpu_ns,
                rss_anon_bytes: m.rss_anon_bytes,
                rss_file_bytes: m.rss_file_bytes,
                rss_shmem_bytes: m.rss_shmem_bytes,
                swap_bytes: m.swap_bytes,
                rss_peak_bytes: m.rss_peak_bytes,
                tree_root: d.tree.map_or(0, |t| t.root),
                comm: m.comm,
                ..Default::default()
            };
            if let (true, Some(t)) = (d.exited, d.tree) {
                // Within the capacity reserved: does not allocate (if that
                // failed, the exited member's last forks are refused).
                let _ = gone.push((d.pid, *t), GFP_NOWAIT);
            }
            buffer.write_record(&rec);
            *ext_head = ext_head.wrapping_add(1);
            add_to_totals(&mut total, &rec);
            sampled = sampled.saturating_add(1);
        });
        adopt_forks(inner, &gone);
        for (pid, _) in gone.iter() {
            if !inner.registry.contains(*pid) {
                tree::mark(*pid, false);
            }
        }
        // SAFETY: 0 is at most the capacity, and `Gone` is `Copy`: nothing
        // needs dropping.
        unsafe { gone.set_len(0) };
        inner.gone = gone;
        // The memory figures are summed by the registry (the peak is left 0).
        [
            total.rss_anon_bytes,
            total.rss_file_bytes,
            total.rss_shmem_bytes,
            total.swap_bytes,
        ] = memory.to_u64();
        total.seq = inner.ext_head;
        buffer.write_record(&total);
        inner.ext_head = inner.ext_head.wrapping_add(1);
        let unread = buffer.write_classic(
            ClassicSlot::of(inner.classic_next),
            jiffies,
            total.minor_faults,
            total.major_faults,
            total.cpu_ns,
        );
        inner.classic_next = inner.classic_next.wrapping_add(1);

        let c = &mut inner.counts;
        c.samples_written = c.samples_written.saturating_add(1);
        c.samples_lost = c.samples_lost.saturating_add(u64::from(unread));
        c.records_written = c.records_written.saturating_add(sampled.saturating_add(1));
        c.ticks = c.ticks.saturating_add(1);
        c.process_samples = c.process_samples.saturating_add(sampled);
        buffer.set_ticks(c.ticks);

        // The timer keeps running even if the last process just exited:
        // the next tick finds the registry empty and stops it, so a
        // registration racing with this one never finds a stopped sampler
        // it must restart.
        let end_ns = sampler::now_ns();
        let cost = end_ns.saturating_sub(time_ns);
        c.cost_last_ns = cost;
        c.cost_total_ns = c.cost_total_ns.saturating_add(cost);
        c.cost_max_ns = c.cost_max_ns.max(cost);
        match inner.schedule.advance(time_ns, end_ns) {
            Next::Wait => {}
            Next::CatchUp => self.work.kick(),
            Next::Overrun => c.overruns = c.overruns.saturating_add(1),
        }
    }
}
