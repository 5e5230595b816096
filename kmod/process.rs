// SPDX-License-Identifier: GPL-2.0

//! Processes (thread groups): finding them, checking who may read them, and
//! reading their counters. Safe wrappers over the task glue in `glue.c`.

use core::ffi::c_void;
use core::ptr::NonNull;

use kernel::prelude::*;
use kernel::task::Task;
use kernel::types::ARef;

/// Counters of a whole thread group, as `glue.c` reads them.
#[derive(Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) minor_faults: u64,
    pub(crate) major_faults: u64,
    pub(crate) cpu_ns: u64,
    exited: bool,
    /// The leader's context switches when these were read, if it was then
    /// the only live thread; [`NO_SWITCHES`] otherwise (see
    /// [`Process::update_counters`]).
    switches: u64,
}

/// [`Counters::switches`] when the counters must be read in full.
const NO_SWITCHES: u64 = u64::MAX;

impl Default for Counters {
    fn default() -> Self {
        Counters {
            minor_faults: 0,
            major_faults: 0,
            cpu_ns: 0,
            exited: false,
            switches: NO_SWITCHES,
        }
    }
}

impl Counters {
    /// Whether every thread has exited: these counters are final.
    pub(crate) fn exited(&self) -> bool {
        self.exited
    }

    /// The increase from `earlier` to `self`, field by field (never negative).
    pub(crate) fn since(&self, earlier: &Counters) -> (u64, u64, u64) {
        (
            self.minor_faults.saturating_sub(earlier.minor_faults),
            self.major_faults.saturating_sub(earlier.major_faults),
            self.cpu_ns.saturating_sub(earlier.cpu_ns),
        )
    }
}

/// A process's memory footprint, as `glue.c` reads it, in pages.
#[derive(Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) anon_pages: u64,
    pub(crate) file_pages: u64,
    pub(crate) shmem_pages: u64,
    pub(crate) swap_pages: u64,
    /// Peak RSS (VmHWM, or ru_maxrss once every thread exited).
    pub(crate) peak_pages: u64,
    /// A thread still had a memory map (else the figures but the peak are 0).
    pub(crate) has_mm: bool,
}

// `struct task_struct *` is passed as a `c_void` pointer: the struct holds
// types that are empty, and so not FFI-safe, without lockdep.
extern "C" {
    fn pfprof_get_process(nr: i32, tgid: *mut i32) -> *mut c_void;
    fn pfprof_get_current_process(tgid: *mut i32) -> *mut c_void;
    fn pfprof_may_read(leader: *mut c_void) -> bool;
    fn pfprof_read_counters(
        leader: *mut c_void,
        minor_faults: *mut u64,
        major_faults: *mut u64,
        cpu_ns: *mut u64,
        switches: *mut u64,
        exited: *mut bool,
    ) -> bool;
    fn pfprof_read_memory(
        leader: *mut c_void,
        cached: *mut *mut c_void,
        anon: *mut u64,
        file: *mut u64,
        shmem: *mut u64,
        swap: *mut u64,
        peak: *mut u64,
    ) -> bool;
    fn pfprof_drop_mm(mm: *mut c_void);
    fn pfprof_task_tgid_nr(task: *mut c_void) -> i32;
    fn pfprof_task_start_ns(task: *mut c_void) -> u64;
    fn pfprof_task_comm(task: *mut c_void, comm: *mut u8);
}

/// The memory map of a process, referenced (`mmgrab`) between samples so
/// that reading its counters needs no lock; see [`Process::memory`].
///
/// # Invariants
///
/// `mm` is null or a `struct mm_struct` on which this value holds a
/// reference (its `mm_count`), taken by `pfprof_read_memory`.
pub(crate) struct MmRef {
    mm: *mut c_void,
}

impl MmRef {
    /// No memory map yet.
    pub(crate) fn new() -> Self {
        // INVARIANT: Null.
        MmRef {
            mm: core::ptr::null_mut(),
        }
    }
}

// SAFETY: The reference may be dropped from any thread (mmdrop does not
// sleep and has no thread affinity).
unsafe impl Send for MmRef {}

impl Drop for MmRef {
    fn drop(&mut self) {
        if !self.mm.is_null() {
            // SAFETY: By the type invariant we hold a reference on it.
            unsafe { pfprof_drop_mm(self.mm) };
        }
    }
}

/// Whether the caller has CAP_SYS_ADMIN (RESET, SET_PERIOD and writing the
/// period in sysfs need it).
pub(crate) fn caller_is_admin() -> bool {
    // SAFETY: `capable` only inspects the current task's credentials; it may
    // be called from any process context.
    unsafe { kernel::bindings::capable(kernel::bindings::CAP_SYS_ADMIN as i32) }
}

/// A process: its thread group leader, referenced (never a bare pointer), and
/// its tgid in the pid namespace of whoever looked it up.
pub(crate) struct Process {
    leader: ARef<Task>,
    tgid: i32,
}

impl Process {
    /// Takes ownership of a referenced task pointer from the glue.
    ///
    /// # Safety
    ///
    /// `task` is null or a task_struct whose reference the caller passes on.
    unsafe fn from_glue(task: *mut c_void, tgid: i32) -> Option<Process> {
        let task = NonNull::new(task.cast::<Task>())?;
        // SAFETY: `Task` is a transparent wrapper of `task_struct`, and the
        // caller passes on its reference, which the `ARef` now owns.
        let leader = unsafe { ARef::from_raw(task) };
        Some(Process { leader, tgid })
    }

    /// Takes ownership of a referenced process leader and its tgid (the
    /// fork probe's children).
    ///
    /// # Safety
    ///
    /// As [`Process::from_glue`]: `task` is null or a thread group leader
    /// whose reference the caller passes on.
    pub(crate) unsafe fn from_referenced(task: *mut c_void, tgid: i32) -> Option<Process> {
        // SAFETY: As the caller guarantees.
        unsafe { Process::from_glue(task, tgid) }
    }

    /// The process's tgid in the initial pid namespace.
    pub(crate) fn global_tgid(&self) -> i32 {
        // SAFETY: `self.leader` holds a reference, so the task is valid.
        unsafe { pfprof_task_tgid_nr(self.as_ptr()) }
    }

    /// When the process started (its leader's start time, CLOCK_MONOTONIC
    /// ns): with the tgid, it tells the process from a later one with its pid.
    pub(crate) fn start_ns(&self) -> u64 {
        // SAFETY: `self.leader` holds a reference, so the task is valid.
        unsafe { pfprof_task_start_ns(self.as_ptr()) }
    }

    /// Brings `comm`, the command name (the leader's comm, NUL-padded)
    /// last read, up to date. Does not sleep.
    pub(crate) fn update_comm(&self, comm: &mut [u8; 16]) {
        // SAFETY: `self.leader` holds a reference, so the task is valid;
        // `comm` has the 16 bytes the glue reads and writes.
        unsafe { pfprof_task_comm(self.as_ptr(), comm.as_mut_ptr()) };
    }

    /// The process that contains thread `nr` (in the caller's pid namespace).
    pub(crate) fn find(nr: i32) -> Result<Process> {
        let mut tgid = 0;
        // SAFETY: `tgid` is a valid place to write; the glue returns null or
        // a task with a reference taken for us.
        unsafe { Process::from_glue(pfprof_get_process(nr, &mut tgid), tgid) }.ok_or(ESRCH)
    }

    /// The caller's own process.
    pub(crate) fn current() -> Result<Process> {
        let mut tgid = 0;
        // SAFETY: As in `find`.
        unsafe { Process::from_glue(pfprof_get_current_process(&mut tgid), tgid) }.ok_or(ESRCH)
    }

    /// The thread group id, as the process was looked up.
    pub(crate) fn tgid(&self) -> i32 {
        self.tgid
    }

    fn as_ptr(&self) -> *mut c_void {
        let task: &Task = &self.leader;
        (task as *const Task).cast_mut().cast()
    }

    /// Whether the calling task may read this process's statistics.
    pub(crate) fn may_be_read_by_caller(&self) -> bool {
        // SAFETY: `self.leader` holds a reference, so the task is valid.
        unsafe { pfprof_may_read(self.as_ptr()) }
    }

    /// Reads the counters of the whole thread group. Does not sleep.
    pub(crate) fn counters(&self) -> Counters {
        let mut c = Counters::default();
        self.update_counters(&mut c);
        c
    }

    /// Brings `c`, the counters last read for this process, up to date,
    /// and returns whether they were read: they are not, and stay as they
    /// are, when the process is single-threaded and its thread has not run
    /// since (it is off every CPU and has not been switched out again),
    /// which one cache line of the task tells. Does not sleep.
    pub(crate) fn update_counters(&self, c: &mut Counters) -> bool {
        // SAFETY: The task is referenced, so it and its signal_struct are
        // valid even after it exited; the five pointers are valid places
        // to write.
        unsafe {
            pfprof_read_counters(
                self.as_ptr(),
                &mut c.minor_faults,
                &mut c.major_faults,
                &mut c.cpu_ns,
                &mut c.switches,
                &mut c.exited,
            )
        }
    }

    /// Reads the memory footprint of the process, through `mm`, which keeps
    /// its memory map between calls (it is replaced when the process
    /// execs or exits). Does not sleep; takes a thread's task_lock (a
    /// spinlock) briefly, only when the memory map changed.
    pub(crate) fn memory(&self, mm: &mut MmRef) -> Memory {
        let mut m = Memory::default();
        // SAFETY: The task is referenced, so it and its signal_struct are
        // valid even after it exited; `mm.mm` is null or a memory map we
        // hold a reference on, and the glue leaves it so (INVARIANT: it
        // takes a reference on any map it stores there and drops the one it
        // replaces); the other pointers are valid places to write.
        m.has_mm = unsafe {
            pfprof_read_memory(
                self.as_ptr(),
                &mut mm.mm,
                &mut m.anon_pages,
                &mut m.file_pages,
                &mut m.shmem_pages,
                &mut m.swap_pages,
                &mut m.peak_pages,
            )
        };
        m
    }
}
