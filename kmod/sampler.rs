// SPDX-License-Identifier: GPL-2.0

//! The sampler's clock: a delayed work item armed by a high-resolution
//! timer on absolute deadlines, and a drift-free schedule.
//!
//! The sampler runs in a work item (process context, where it may take the
//! profiler's mutex). Arming the work itself (`queue_delayed_work`) rounds
//! its delay up to whole jiffies, and the timer wheel adds its own slack,
//! so at 1 kHz a period would be 1 ms plus up to a jiffy. [`Clock`]
//! instead arms an hrtimer on an absolute CLOCK_MONOTONIC deadline in
//! nanoseconds; its callback (hard interrupt context, in `glue.c`) only
//! queues the work, with no delay. [`Schedule`] computes the deadlines: the
//! `n`-th is `start + n * period` exactly, so the mean period is exact and
//! never drifts the way re-arming relative to "now" does (the classic
//! module's 51 jiffies per 50 ms).

use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::abi;

extern "C" {
    fn pfprof_clock_init(
        clock: *mut ClockCells,
        size: usize,
        func: unsafe extern "C" fn(*mut bindings::work_struct),
    ) -> i32;
    fn pfprof_clock_arm(clock: *mut ClockCells, deadline_ns: u64);
    fn pfprof_clock_stop(clock: *mut ClockCells);
}

/// The kernel's HZ.
pub(crate) const HZ: u32 = bindings::CONFIG_HZ;

/// `jiffies` now.
pub(crate) fn jiffies() -> u64 {
    // SAFETY: `jiffies` is always valid to read; the volatile read matches
    // its `volatile` declaration in C.
    unsafe { core::ptr::read_volatile(&raw const bindings::jiffies) as u64 }
}

/// CLOCK_MONOTONIC now, in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    kernel::time::Ktime::ktime_get().to_ns() as u64
}

/// `struct pfprof_clock` of `glue.c`: the work and its timer.
#[repr(C)]
struct ClockCells {
    work: bindings::delayed_work,
    timer: bindings::hrtimer,
}

/// The sampler's clock: a delayed work item that runs a fixed function,
/// queued by an hrtimer at absolute deadlines.
#[pin_data]
pub(crate) struct Clock {
    #[pin]
    cells: Opaque<ClockCells>,
}

// SAFETY: The workqueue and hrtimer APIs may be used on their objects from
// any thread; the cells are only touched through them.
unsafe impl Send for Clock {}
// SAFETY: As above: every method goes through the (thread-safe) APIs.
unsafe impl Sync for Clock {}

impl Clock {
    /// A clock whose work runs `func` on the system high-priority
    /// workqueue. Fails if `glue.c`'s struct differs from [`ClockCells`].
    pub(crate) fn new(
        func: unsafe extern "C" fn(*mut bindings::work_struct),
    ) -> impl PinInit<Self, Error> {
        // SAFETY: The glue initialises every field of the cells in place,
        // or fails and leaves nothing to drop; the slot is pinned, as a
        // queued work item and an armed timer must be.
        unsafe {
            kernel::init::pin_init_from_closure(move |slot: *mut Self| {
                let cells = Opaque::raw_get(core::ptr::addr_of!((*slot).cells));
                kernel::error::to_result(pfprof_clock_init(
                    cells,
                    core::mem::size_of::<ClockCells>(),
                    func,
                ))
            })
        }
    }

    /// Arms the timer for `deadline_ns` (CLOCK_MONOTONIC), replacing any
    /// earlier deadline; a deadline that has passed queues the work at
    /// once. Does not sleep.
    pub(crate) fn arm(&self, deadline_ns: u64) {
        // SAFETY: The cells are initialised and pinned.
        unsafe { pfprof_clock_arm(self.cells.get(), deadline_ns) };
    }

    /// Stops the clock for good: cancels the timer, then cancels the work,
    /// waits for a running instance to finish, and makes every later
    /// queueing attempt fail. The caller must make sure that nothing arms
    /// the timer again once this is called (the work function checks a
    /// flag set before).
    ///
    /// Sleeps: never call it holding a lock the work function takes.
    pub(crate) fn stop(&self) {
        // SAFETY: The cells are initialised; we are in process context.
        unsafe { pfprof_clock_stop(self.cells.get()) };
    }
}

/// How many periods behind its deadlines the sampler may fall and still
/// catch up; beyond that the schedule restarts (an overrun).
const MAX_BEHIND: u64 = 10;

/// Absolute deadlines in CLOCK_MONOTONIC nanoseconds for a period in
/// microseconds.
#[derive(Clone, Copy)]
pub(crate) struct Schedule {
    period_us: u32,
    /// The deadline of the next tick.
    next: u64,
}

impl Schedule {
    pub(crate) const fn new(period_us: u32) -> Self {
        Schedule { period_us, next: 0 }
    }

    pub(crate) fn period_us(&self) -> u32 {
        self.period_us
    }

    fn period_ns(&self) -> u64 {
        u64::from(self.period_us).saturating_mul(1_000)
    }

    /// Starts a new schedule at `now` (ns), with a new period if given;
    /// returns the first deadline, one period from now.
    pub(crate) fn restart(&mut self, now: u64, period_us: Option<u32>) -> u64 {
        if let Some(p) = period_us {
            self.period_us = p.clamp(abi::PERIOD_MIN_US, abi::PERIOD_MAX_US);
        }
        self.next = now.saturating_add(self.period_ns());
        self.next
    }

    /// Whether a tick at `now` is the one the schedule waits for. A tick
    /// comes at its deadline or later, never earlier, unless it was queued
    /// for the deadline of a schedule that a period change has replaced
    /// since: that one must not count.
    pub(crate) fn due(&self, now: u64) -> bool {
        now.saturating_add(self.period_ns() / 2) >= self.next
    }

    /// The deadline the clock waits for.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// After a tick at `now`: moves to the next deadline and returns it
    /// (in the past when the sampler is late: it then catches up, so the
    /// mean period stays exact), and whether the schedule fell so far
    /// behind ([`MAX_BEHIND`] periods) that it restarts from `now` instead:
    /// an overrun, which keeps a persistently overloaded sampler from
    /// running back to back.
    pub(crate) fn next_deadline(&mut self, now: u64) -> (u64, bool) {
        let period = self.period_ns();
        self.next = self.next.saturating_add(period);
        let limit = self.next.saturating_add(MAX_BEHIND.saturating_mul(period));
        if now > limit {
            (self.restart(now, None), true)
        } else {
            (self.next, false)
        }
    }
}
