// SPDX-License-Identifier: GPL-2.0

//! The sampler's clock: a work item queued by a periodic high-resolution
//! timer on a grid of absolute deadlines, and the drift-free schedule the
//! work keeps on the same grid.
//!
//! The sampler runs in a work item (process context, where it may take the
//! profiler's mutex). Arming the work itself (`queue_delayed_work`) rounds
//! its delay up to whole jiffies, and the timer wheel adds its own slack,
//! so at 1 kHz a period would be 1 ms plus up to a jiffy. [`Clock`]
//! instead runs an hrtimer on absolute CLOCK_MONOTONIC deadlines in
//! nanoseconds, `start + n * period`: its callback (hard interrupt context,
//! in `glue.c`) moves it to the next deadline of the grid and queues the
//! work, so a tick does not re-arm anything. [`Schedule`] follows the same
//! grid in the work, one deadline per tick: a tick finds whether it is due,
//! whether the sampler is behind (it then catches up at once, so the mean
//! period stays exact and never drifts the way re-arming relative to "now"
//! does, the classic module's 51 jiffies per 50 ms), or so far behind that
//! it skips the deadlines missed (an overrun).

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
    fn pfprof_clock_start(clock: *mut ClockCells, first_ns: u64, period_ns: u64);
    fn pfprof_clock_pause(clock: *mut ClockCells);
    fn pfprof_clock_kick(clock: *mut ClockCells);
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

/// `struct pfprof_clock` of `glue.c`: the work, its timer and the timer's
/// period.
#[repr(C)]
struct ClockCells {
    work: bindings::work_struct,
    timer: bindings::hrtimer,
    period_ns: u64,
}

/// The sampler's clock: a work item that runs a fixed function, queued by
/// a periodic hrtimer on absolute deadlines.
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
    /// A stopped clock whose work runs `func` on the system high-priority
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

    /// (Re)starts the timer on the grid of `schedule`: its next deadline,
    /// then one every period. Waits for a running timer callback (which
    /// takes no lock of the module's), so it may be called under them, in
    /// process context.
    pub(crate) fn start(&self, schedule: &Schedule) {
        // SAFETY: The cells are initialised and pinned; process context.
        unsafe { pfprof_clock_start(self.cells.get(), schedule.next, schedule.period_ns()) };
    }

    /// Stops the timer until the next [`Clock::start`]; a work it queued
    /// may still run. Process context, as [`Clock::start`].
    pub(crate) fn pause(&self) {
        // SAFETY: The cells are initialised; process context.
        unsafe { pfprof_clock_pause(self.cells.get()) };
    }

    /// Queues the work at once, if it is not queued already (a late
    /// sampler catching up). Does not sleep.
    pub(crate) fn kick(&self) {
        // SAFETY: The cells are initialised and pinned.
        unsafe { pfprof_clock_kick(self.cells.get()) };
    }

    /// Stops the clock for good: cancels the timer, then cancels the work,
    /// waits for a running instance to finish, and makes every later
    /// queueing attempt fail. The caller must make sure that nothing
    /// starts the timer or kicks the work once this is called (the work
    /// function checks a flag set before).
    ///
    /// Sleeps: never call it holding a lock the work function takes.
    pub(crate) fn stop(&self) {
        // SAFETY: The cells are initialised; we are in process context.
        unsafe { pfprof_clock_stop(self.cells.get()) };
    }
}

/// How many periods behind its deadlines the sampler may fall and still
/// catch up; beyond that it skips the deadlines missed (an overrun).
const MAX_BEHIND: u64 = 10;

/// What a tick leaves to do, after [`Schedule::advance`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// The next deadline is ahead: the timer queues the next tick.
    Wait,
    /// The next deadline has passed: tick again at once.
    CatchUp,
    /// The sampler fell more than [`MAX_BEHIND`] periods behind: the
    /// deadlines missed are skipped, the next is the grid's first ahead.
    Overrun,
}

/// A grid of absolute deadlines in CLOCK_MONOTONIC nanoseconds, `start +
/// n * period`, for a period in microseconds, and the one the sampler
/// waits for.
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

    /// Starts a new grid at `now` (ns), with a new period if given; its
    /// first deadline is one period from now.
    pub(crate) fn restart(&mut self, now: u64, period_us: Option<u32>) {
        if let Some(p) = period_us {
            self.period_us = p.clamp(abi::PERIOD_MIN_US, abi::PERIOD_MAX_US);
        }
        self.next = now.saturating_add(self.period_ns());
    }

    /// Whether a tick at `now` is the one the schedule waits for. The timer
    /// runs on the same grid and never fires early, so a tick it queued
    /// comes at its deadline or later; one that comes earlier was queued
    /// for a deadline that a catch-up served already, or for a grid that a
    /// period change has replaced since: it must not count.
    pub(crate) fn due(&self, now: u64) -> bool {
        now >= self.next
    }

    /// After the tick of the current deadline, which started at `start`
    /// and ended at `end` (ns): moves to the next deadline and says what to
    /// do. A sampler behind its deadlines catches up (ticks at once), so
    /// the mean period stays exact. A tick that started more than
    /// [`MAX_BEHIND`] periods after the next deadline is an overrun: the
    /// deadlines missed are skipped, up to the first after `end`, the one
    /// the timer waits for (hrtimer_forward skips the same), which keeps a
    /// persistently overloaded sampler from running back to back.
    pub(crate) fn advance(&mut self, start: u64, end: u64) -> Next {
        let period = self.period_ns();
        self.next = self.next.saturating_add(period);
        if start.saturating_sub(self.next) > MAX_BEHIND.saturating_mul(period) {
            // The first deadline after `end`: `next + k * period > end`.
            let behind = end.saturating_sub(self.next);
            let skip = (behind / period.max(1)).saturating_add(1);
            self.next = self.next.saturating_add(skip.saturating_mul(period));
            Next::Overrun
        } else if end >= self.next {
            Next::CatchUp
        } else {
            Next::Wait
        }
    }
}
