// SPDX-License-Identifier: GPL-2.0

//! The registered processes, keyed by tgid, with their baselines.
//!
//! The task's own counters are never modified: each entry keeps the counters
//! seen at registration (`base`, for the cumulative figures) and at the last
//! sample (`last`, for the per-period deltas).

use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};

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
    /// The memory figures last read. Their peak is the largest read so
    /// far: it never decreases, though the kernel's own figure for an exited
    /// process (ru_maxrss, from approximate per-cpu counts) may be a little
    /// lower than the exact VmHWM read while it ran.
    memory: Memory,
    /// Periods since `memory` was read; `None` before the first read.
    memory_age: Option<u32>,
    /// The memory map the figures are read from.
    mm: MmRef,
    /// The process tree it is a member (or the root) of.
    pub(crate) tree: Option<TreeTag>,
}

/// A tree member's tree, and what identifies the member itself.
#[derive(Clone, Copy)]
pub(crate) struct TreeTag {
    /// The root's tgid (the records' `tree_root`).
    pub(crate) root: i32,
    /// The member's start time (see [`Process::start_ns`]).
    pub(crate) start_ns: u64,
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
            memory: Memory::default(),
            memory_age: None,
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
            memory: Memory::default(),
            memory_age: None,
            mm: MmRef::new(),
            tree: Some(TreeTag { root, start_ns }),
        }
    }

    /// The memory figures for this sample: read again if the process was
    /// `active` in the period (it ran, faulted or exited), on the first
    /// sample, and every [`MEMORY_REFRESH_PERIODS`]; else the last ones.
    fn memory_now(&mut self, active: bool) -> Memory {
        let age = match self.memory_age {
            // The first read: later refreshes of processes registered
            // together are spread over the periods, by pid.
            None => Some(self.process.tgid().unsigned_abs() % MEMORY_REFRESH_PERIODS),
            Some(age) if active || age.saturating_add(1) >= MEMORY_REFRESH_PERIODS => Some(0),
            Some(age) => {
                self.memory_age = Some(age.saturating_add(1));
                None
            }
        };
        if let Some(age) = age {
            let mut m = self.process.memory(&mut self.mm);
            m.peak_pages = m.peak_pages.max(self.memory.peak_pages);
            self.memory = m;
            self.memory_age = Some(age);
        }
        self.memory
    }
}

/// Room for one entry, allocated before taking the lock.
pub(crate) type Reservation = RBTreeNodeReservation<i32, Entry>;

/// Allocates room for one entry (may sleep).
pub(crate) fn reserve() -> Result<Reservation> {
    RBTreeNodeReservation::new(GFP_KERNEL)
}

/// One process's figures for one period.
pub(crate) struct Delta {
    pub(crate) pid: i32,
    pub(crate) minor_faults: u64,
    pub(crate) major_faults: u64,
    pub(crate) cpu_ns: u64,
    /// The process exited: this is its last delta, and it is now dropped.
    pub(crate) exited: bool,
    /// Its memory footprint at the sample.
    pub(crate) memory: Memory,
    /// Its tree, if a tree member.
    pub(crate) tree: Option<TreeTag>,
    /// Its command name.
    pub(crate) comm: [u8; 16],
}

/// The registry.
pub(crate) struct Registry {
    tree: RBTree<i32, Entry>,
    /// Entries in `tree`.
    len: usize,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Registry {
            tree: RBTree::new(),
            len: 0,
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
    /// Does not allocate or sleep (dropping an exited entry frees memory and
    /// releases a task reference, neither of which sleeps).
    pub(crate) fn sample(&mut self, mut f: impl FnMut(&Delta)) {
        let mut cursor = self.tree.cursor_front();
        while let Some(mut c) = cursor {
            let (&pid, entry) = c.current_mut();
            let now = entry.process.counters_after(&entry.last);
            let (minor_faults, major_faults, cpu_ns) = now.since(&entry.last);
            entry.last = now;
            let exited = now.exited();
            let active = exited || minor_faults > 0 || major_faults > 0 || cpu_ns > 0;
            let memory = entry.memory_now(active);
            f(&Delta {
                pid,
                minor_faults,
                major_faults,
                cpu_ns,
                exited,
                memory,
                tree: entry.tree,
                comm: entry.process.comm(),
            });
            cursor = if exited {
                // The cursor moves to the next entry, or to the previous one
                // when this was the last: then the walk is over.
                let (next, _removed) = c.remove_current();
                self.len = self.len.saturating_sub(1);
                next.filter(|n| *n.current().0 > pid)
            } else {
                c.move_next()
            };
        }
    }
}
