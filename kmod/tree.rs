// SPDX-License-Identifier: GPL-2.0

//! Process trees: safe wrappers over the fork probe in `glue.c`.
//!
//! A process registered with [`abi::REG_TREE`](crate::abi::REG_TREE) is a
//! tree's root; every process a tree member forks after that (threads are
//! not processes) becomes a member too, registered with its counters'
//! baselines at zero (a new process's counters start at 0 at fork, before it
//! runs), so its whole life is counted even if it exits before the next
//! tick. Processes the root had already forked before its registration are
//! not members. Members re-parented to init (orphans) stay members.
//!
//! The probe on `sched_process_fork` queues each member's new process with
//! a reference on it (at most 4096, `PFPROF_TREE_QUEUE` in glue.c, pending; more are refused
//! and counted); the profiler pops the queue under its lock at each tick
//! (and before QUERY_PID, LIST and RESET), checks that the parent is still
//! the registered member (its start time: the pid may have been reused), and
//! registers the child unless the registry already holds
//! [`LIMIT_DEFAULT`] (tunable: sysfs `tree_limit`) processes, in which case
//! the child is refused and counted (with its own descendants: their parent
//! is not a member).

use core::ffi::c_void;

use kernel::prelude::*;

use crate::process::Process;

/// Default limit of registered processes above which a tree member's new
/// process is refused.
pub(crate) const LIMIT_DEFAULT: u32 = 16_384;

/// Largest settable limit.
pub(crate) const LIMIT_MAX: u32 = 1 << 20;

extern "C" {
    fn pfprof_tree_init() -> i32;
    fn pfprof_tree_exit();
    fn pfprof_tree_mark(tgid: i32, member: bool);
    fn pfprof_tree_pop(
        child: *mut *mut c_void,
        child_tgid: *mut i32,
        parent_tgid: *mut i32,
        parent_start_ns: *mut u64,
    ) -> bool;
    fn pfprof_tree_pending() -> bool;
    fn pfprof_tree_refused() -> u64;
}

/// Registers the fork probe; `EOPNOTSUPP` without tracepoints.
pub(crate) fn init() -> Result {
    // SAFETY: Called once at load, before any other function here.
    let err = unsafe { pfprof_tree_init() };
    if err < 0 {
        Err(Error::from_errno(err))
    } else {
        Ok(())
    }
}

/// Unregisters the probe, waits for running calls, drops the pending
/// forks' references and frees the queue and the bitmap. Call once, at
/// unload, when nothing else here can be called any more.
pub(crate) fn exit() {
    // SAFETY: The glue handles a failed or missing init.
    unsafe { pfprof_tree_exit() }
}

/// Marks a global tgid as a tree member (its forks are followed) or not.
pub(crate) fn mark(tgid: i32, member: bool) {
    // SAFETY: Only sets or clears a bit (bounds checked in the glue).
    unsafe { pfprof_tree_mark(tgid, member) }
}

/// Forks refused because the probe's queue was full, since load.
pub(crate) fn queue_refused() -> u64 {
    // SAFETY: Reads an atomic counter.
    unsafe { pfprof_tree_refused() }
}

/// A member's new process, as the probe queued it.
pub(crate) struct Fork {
    /// The new process (referenced); its tgid is global.
    pub(crate) child: Process,
    /// The parent's global tgid.
    pub(crate) parent_tgid: i32,
    /// The parent's start time, to tell it from a later process with its pid.
    pub(crate) parent_start_ns: u64,
}

/// Whether forks may be pending (a lockless read: no fork queued before
/// what the caller saw earlier, such as a member's exit, is missed).
pub(crate) fn pending() -> bool {
    // SAFETY: Reads a counter, with a read barrier.
    unsafe { pfprof_tree_pending() }
}

/// The oldest pending fork, if any.
pub(crate) fn pop() -> Option<Fork> {
    let mut child = core::ptr::null_mut();
    let (mut child_tgid, mut parent_tgid, mut parent_start_ns) = (0, 0, 0);
    // SAFETY: Valid places to write; on success the glue passes on a
    // reference to `child`.
    let popped = unsafe {
        pfprof_tree_pop(
            &mut child,
            &mut child_tgid,
            &mut parent_tgid,
            &mut parent_start_ns,
        )
    };
    if !popped {
        return None;
    }
    // SAFETY: The glue passed on the reference it took on the child.
    let child = unsafe { Process::from_referenced(child, child_tgid) }?;
    Some(Fork {
        child,
        parent_tgid,
        parent_start_ns,
    })
}
