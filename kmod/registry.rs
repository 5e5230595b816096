// SPDX-License-Identifier: GPL-2.0

//! The registered processes, keyed by tgid, with their baselines.
//!
//! The task's own counters are never modified: each entry keeps the counters
//! seen at registration (`base`, for the cumulative figures) and at the last
//! sample (`last`, for the per-period deltas).

use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};

use crate::abi;
use crate::process::{Counters, Memory, MmRef, Process};

/// One registered process.
pub(crate) struct Entry {
    pub(crate) process: Process,
    /// Counters at registration or at the last reset.
    pub(crate) base: Counters,
    /// Counters at the last sample.
    pub(crate) last: Counters,
    /// CLOCK_MONOTONIC at registration, in ns.
    pub(crate) registered_ns: u64,
    /// `jiffies` at registration.
    pub(crate) registered_jiffies: u64,
    /// The memory figures and command name last read.
    shown: Shown,
    /// Periods since `shown` was read; `None` before the first read.
    shown_age: Option<u32>,
    /// The memory map the figures are read from.
    mm: MmRef,
    /// The process tree it is a member (or the root) of.
    pub(crate) tree: Option<TreeTag>,
}

/// What a process's records repeat between reads of its memory map (see
/// [`Entry::refresh`]): its memory figures, in bytes as the records carry
/// them, and its command name.
#[derive(Clone, Copy, Default)]
pub(crate) struct Shown {
    pub(crate) rss_anon_bytes: u64,
    pub(crate) rss_file_bytes: u64,
    pub(crate) rss_shmem_bytes: u64,
    pub(crate) swap_bytes: u64,
    /// The largest peak read so far: it never decreases, though the
    /// kernel's own figure for an exited process (ru_maxrss, from
    /// approximate per-cpu counts) may be a little lower than the exact
    /// VmHWM read while it ran.
    pub(crate) rss_peak_bytes: u64,
    /// No thread has a memory map any more (the figures but the peak are 0).
    pub(crate) no_mm: bool,
    pub(crate) comm: [u8; 16],
}

impl Shown {
    /// The figures of `m` (pages), the peak at least `self`'s, and `comm`.
    fn of(m: &Memory, comm: [u8; 16], earlier: &Shown) -> Shown {
        let bytes = |pages: u64| pages.saturating_mul(abi::PAGE_SIZE);
        Shown {
            rss_anon_bytes: bytes(m.anon_pages),
            rss_file_bytes: bytes(m.file_pages),
            rss_shmem_bytes: bytes(m.shmem_pages),
            swap_bytes: bytes(m.swap_pages),
            rss_peak_bytes: bytes(m.peak_pages).max(earlier.rss_peak_bytes),
            no_mm: !m.has_mm,
            comm,
        }
    }
}

/// A tree member's tree, and what identifies the member itself.
#[derive(Clone, Copy)]
pub(crate) struct TreeTag {
    /// The root's tgid (the records' `tree_root`).
    pub(crate) root: i32,
    /// The member's start time (see [`Process::start_ns`]).
    pub(crate) start_ns: u64,
}

/// Sums of memory figures over processes, exact (no real sum comes near
/// 2^128 bytes).
#[derive(Clone, Copy, Default)]
pub(crate) struct MemorySums {
    rss_anon_bytes: u128,
    rss_file_bytes: u128,
    rss_shmem_bytes: u128,
    swap_bytes: u128,
}

impl MemorySums {
    fn add(&mut self, s: &Shown) {
        let add = |sum: &mut u128, v: u64| *sum = sum.wrapping_add(u128::from(v));
        add(&mut self.rss_anon_bytes, s.rss_anon_bytes);
        add(&mut self.rss_file_bytes, s.rss_file_bytes);
        add(&mut self.rss_shmem_bytes, s.rss_shmem_bytes);
        add(&mut self.swap_bytes, s.swap_bytes);
    }

    /// Takes away figures added before (so never below 0).
    fn sub(&mut self, s: &Shown) {
        let sub = |sum: &mut u128, v: u64| *sum = sum.wrapping_sub(u128::from(v));
        sub(&mut self.rss_anon_bytes, s.rss_anon_bytes);
        sub(&mut self.rss_file_bytes, s.rss_file_bytes);
        sub(&mut self.rss_shmem_bytes, s.rss_shmem_bytes);
        sub(&mut self.swap_bytes, s.swap_bytes);
    }

    /// The sums in the totals record's fields: `rss_anon_bytes`,
    /// `rss_file_bytes`, `rss_shmem_bytes`, `swap_bytes` (saturated).
    pub(crate) fn to_u64(self) -> [u64; 4] {
        let sat = |v: u128| u64::try_from(v).unwrap_or(u64::MAX);
        [
            sat(self.rss_anon_bytes),
            sat(self.rss_file_bytes),
            sat(self.rss_shmem_bytes),
            sat(self.swap_bytes),
        ]
    }
}

/// A process that neither ran nor faulted in a period has its memory
/// figures re-read only every this many periods, and repeated in between.
/// Without running, its memory changes only through reclaim (pages dropped
/// or swapped out), and reading a memory map is most of a sample's cost
/// (under TCG, 1 to 2 us against 0.3 us for the rest of an idle process's
/// sample), so idle processes would otherwise make the sampler several
/// times dearer. At 20 Hz an idle process's figures lag reclaim by at most
/// 3.2 s; a process that runs is read every period.
pub(crate) const MEMORY_REFRESH_PERIODS: u32 = 64;

impl Entry {
    /// A new entry whose baselines are the process's counters now.
    pub(crate) fn new(process: Process, now_ns: u64, now_jiffies: u64) -> Entry {
        let counters = process.counters();
        Entry {
            process,
            base: counters,
            last: counters,
            registered_ns: now_ns,
            registered_jiffies: now_jiffies,
            shown: Shown::default(),
            shown_age: None,
            mm: MmRef::new(),
            tree: None,
        }
    }

    /// A new tree member's entry: a process just forked, whose counters
    /// started at 0 (the baselines), though it may have run since.
    pub(crate) fn new_member(process: Process, root: i32, now_ns: u64, now_jiffies: u64) -> Entry {
        let start_ns = process.start_ns();
        Entry {
            process,
            base: Counters::default(),
            last: Counters::default(),
            registered_ns: now_ns,
            registered_jiffies: now_jiffies,
            shown: Shown::default(),
            shown_age: None,
            mm: MmRef::new(),
            tree: Some(TreeTag { root, start_ns }),
        }
    }

    /// Brings the memory figures and the command name up to date for this
    /// sample: read again if the process was `active` in the period (it
    /// ran, faulted or exited), on the first sample, and every
    /// [`MEMORY_REFRESH_PERIODS`]; else the last ones stand. Only a running
    /// thread of the process renames it (exec, `PR_SET_NAME`, a write to
    /// its `/proc/<pid>/comm`), so a name read when it ran stays exact.
    /// Updates `sums` when it does.
    #[inline]
    fn refresh(&mut self, active: bool, sums: &mut MemorySums) {
        match self.shown_age {
            Some(age) if !active && age < MEMORY_REFRESH_PERIODS - 1 => {
                self.shown_age = Some(age + 1);
            }
            // The first read: later refreshes of processes registered
            // together are spread over the periods, by pid.
            None => self.reread(
                self.process.tgid().unsigned_abs() % MEMORY_REFRESH_PERIODS,
                sums,
            ),
            Some(_) => self.reread(0, sums),
        }
    }

    /// Reads the memory figures and the command name; `age` periods old.
    fn reread(&mut self, age: u32, sums: &mut MemorySums) {
        let m = self.process.memory(&mut self.mm);
        let mut comm = self.shown.comm;
        self.process.update_comm(&mut comm);
        let shown = Shown::of(&m, comm, &self.shown);
        sums.sub(&self.shown);
        sums.add(&shown);
        self.shown = shown;
        self.shown_age = Some(age);
    }
}

/// Room for one entry, allocated before taking the lock.
pub(crate) type Reservation = RBTreeNodeReservation<i32, Entry>;

/// Allocates room for one entry (may sleep).
pub(crate) fn reserve() -> Result<Reservation> {
    RBTreeNodeReservation::new(GFP_KERNEL)
}

/// One process's figures for one period.
pub(crate) struct Delta<'a> {
    pub(crate) pid: i32,
    pub(crate) minor_faults: u64,
    pub(crate) major_faults: u64,
    pub(crate) cpu_ns: u64,
    /// The process exited: this is its last delta, and it is now dropped.
    pub(crate) exited: bool,
    /// Its memory footprint and command name at the sample.
    pub(crate) shown: &'a Shown,
    /// Its tree, if a tree member.
    pub(crate) tree: Option<&'a TreeTag>,
}

/// The registry.
pub(crate) struct Registry {
    tree: RBTree<i32, Entry>,
    /// Entries in `tree`.
    len: usize,
    /// The sums of the entries' memory figures (`Entry::shown`).
    sums: MemorySums,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            tree: RBTree::new(),
            len: 0,
            sums: MemorySums::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn contains(&self, pid: i32) -> bool {
        self.tree.get(&pid).is_some()
    }

    pub(crate) fn get(&self, pid: i32) -> Option<&Entry> {
        self.tree.get(&pid)
    }

    /// Adds `entry` under `pid`, using `room`; `EEXIST` if `pid` is there.
    pub(crate) fn insert(&mut self, pid: i32, entry: Entry, room: Reservation) -> Result {
        if self.contains(pid) {
            return Err(EEXIST);
        }
        self.tree.insert(room.into_node(pid, entry));
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// Removes the entry of `pid`; the caller drops it (releasing the task).
    pub(crate) fn remove(&mut self, pid: i32) -> Option<Entry> {
        let entry = self.tree.remove(&pid)?;
        self.len = self.len.saturating_sub(1);
        self.sums.sub(&entry.shown);
        Some(entry)
    }

    /// The registered pids, in ascending order.
    pub(crate) fn pids(&self) -> impl Iterator<Item = i32> + '_ {
        self.tree.keys().copied()
    }

    /// Restarts every entry's baselines from its counters now.
    pub(crate) fn rebase(&mut self) {
        for entry in self.tree.values_mut() {
            let now = entry.process.counters();
            entry.base = now;
            entry.last = now;
        }
    }

    /// Samples every process: calls `f` with its delta since the last
    /// sample, and drops the processes that exited after their last delta.
    /// Returns the sums of the memory figures `f` was given. Does not
    /// allocate or sleep (dropping an exited entry frees memory and
    /// releases a task reference, neither of which sleeps).
    pub(crate) fn sample(&mut self, mut f: impl FnMut(&Delta<'_>)) -> MemorySums {
        // The figures of the processes dropped in the walk, which the
        // registry's sums lose.
        let mut dropped = MemorySums::default();
        let sums = &mut self.sums;
        let mut cursor = self.tree.cursor_front();
        while let Some(mut c) = cursor {
            let (&pid, entry) = c.current_mut();
            let last = &mut entry.last;
            let earlier = *last;
            let (minor_faults, major_faults, cpu_ns) = if entry.process.update_counters(last) {
                last.since(&earlier)
            } else {
                (0, 0, 0)
            };
            let exited = last.exited();
            let active = exited || minor_faults > 0 || major_faults > 0 || cpu_ns > 0;
            entry.refresh(active, sums);
            f(&Delta {
                pid,
                minor_faults,
                major_faults,
                cpu_ns,
                exited,
                shown: &entry.shown,
                tree: entry.tree.as_ref(),
            });
            cursor = if exited {
                // The cursor moves to the next entry, or to the previous one
                // when this was the last: then the walk is over.
                let shown = c.current().1.shown;
                sums.sub(&shown);
                dropped.add(&shown);
                let (next, _removed) = c.remove_current();
                self.len = self.len.saturating_sub(1);
                next.filter(|n| *n.current().0 > pid)
            } else {
                c.move_next()
            };
        }
        let mut all = *sums;
        all.rss_anon_bytes = all.rss_anon_bytes.wrapping_add(dropped.rss_anon_bytes);
        all.rss_file_bytes = all.rss_file_bytes.wrapping_add(dropped.rss_file_bytes);
        all.rss_shmem_bytes = all.rss_shmem_bytes.wrapping_add(dropped.rss_shmem_bytes);
        all.swap_bytes = all.swap_bytes.wrapping_add(dropped.swap_bytes);
        all
    }
}
