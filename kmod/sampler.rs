// SPDX-License-Identifier: GPL-2.0

//! The sampler's clock: a delayed work item and a drift-free schedule.
//!
//! 6.12's Rust workqueue abstraction has no delayed work, so [`DelayedWork`]
//! wraps `struct delayed_work` (initialised by `glue.c`, as
//! `INIT_DELAYED_WORK` is a macro). [`Schedule`] computes absolute deadlines
//! in jiffies, carrying the sub-jiffy remainder, so the period is exact on
//! average at any HZ and never drifts the way re-arming relative to "now"
//! does (the classic module's 51 jiffies per 50 ms).

use kernel::bindings;
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::abi;

extern "C" {
    fn pfprof_init_delayed_work(
        dwork: *mut bindings::delayed_work,
        func: unsafe extern "C" fn(*mut bindings::work_struct),
    );
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

/// A `struct delayed_work` that runs a fixed function.
#[pin_data]
pub(crate) struct DelayedWork {
    #[pin]
    work: Opaque<bindings::delayed_work>,
}

// SAFETY: The workqueue API may be used on a work item from any thread; the
// item itself is only touched through it.
unsafe impl Send for DelayedWork {}
// SAFETY: As above: every method goes through the (thread-safe) workqueue API.
unsafe impl Sync for DelayedWork {}

impl DelayedWork {
    /// A delayed work item that runs `func` on the system high-priority
    /// workqueue.
    pub(crate) fn new(
        func: unsafe extern "C" fn(*mut bindings::work_struct),
    ) -> impl PinInit<Self> {
        pin_init!(DelayedWork {
            // SAFETY: The glue initialises every field of the delayed_work in
            // place; the slot is pinned, as a queued work item must be.
            work <- unsafe {
                Opaque::ffi_init(move |slot: *mut bindings::delayed_work| {
                    pfprof_init_delayed_work(slot, func)
                })
            },
        })
    }

    /// Queues the work to run after `delay` jiffies unless already queued.
    pub(crate) fn queue(&self, delay: u64) {
        // SAFETY: The work item is initialised and pinned; queueing does not
        // sleep and may be called from any context.
        unsafe {
            bindings::queue_delayed_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                bindings::system_highpri_wq,
                self.work.get(),
                delay as usize,
            )
        };
    }

    /// Queues the work to run after `delay` jiffies, moving it if queued.
    pub(crate) fn requeue(&self, delay: u64) {
        // SAFETY: As in `queue`.
        unsafe {
            bindings::mod_delayed_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                bindings::system_highpri_wq,
                self.work.get(),
                delay as usize,
            )
        };
    }

    /// Stops the work for good: cancels it, waits for a running instance to
    /// finish, and makes every later queueing attempt fail (so even a work
    /// function that re-arms itself cannot bring it back).
    ///
    /// Sleeps: never call it holding a lock the work function takes.
    pub(crate) fn disable_sync(&self) {
        // SAFETY: The work item is initialised; we are in process context.
        unsafe { bindings::disable_delayed_work_sync(self.work.get()) };
    }
}

/// How many periods behind its deadlines the sampler may fall and still
/// catch up; beyond that the schedule restarts (an overrun).
const MAX_BEHIND: u64 = 10;

/// Absolute deadlines in jiffies for a period in microseconds.
#[derive(Clone, Copy)]
pub(crate) struct Schedule {
    period_us: u32,
    /// The next deadline.
    next: u64,
    /// The sub-jiffy remainder of `next`, in millionths of a jiffy.
    frac: u64,
}

impl Schedule {
    pub(crate) const fn new(period_us: u32) -> Self {
        Schedule {
            period_us,
            next: 0,
            frac: 0,
        }
    }

    pub(crate) fn period_us(&self) -> u32 {
        self.period_us
    }

    /// Jiffies per period, in millionths of a jiffy. At most 10^7 x HZ:
    /// no overflow, since `period_us` is clamped to the ABI's range.
    fn step(&self) -> u64 {
        u64::from(self.period_us).saturating_mul(u64::from(HZ))
    }

    fn advance(&mut self) {
        // `frac` < 10^6, so the sum cannot overflow either.
        let step = self.step().saturating_add(self.frac);
        self.next = self.next.saturating_add(step / 1_000_000);
        self.frac = step % 1_000_000;
    }

    /// Starts a new schedule at `now`, with a new period if given; returns
    /// the delay to the first deadline, one period from now.
    pub(crate) fn restart(&mut self, now: u64, period_us: Option<u32>) -> u64 {
        if let Some(p) = period_us {
            self.period_us = p.clamp(abi::PERIOD_MIN_US, abi::PERIOD_MAX_US);
        }
        self.next = now;
        self.frac = 0;
        self.advance();
        self.next.saturating_sub(now)
    }

    /// After a tick at `now`: moves to the next deadline and returns the
    /// delay to it (0 when it has passed: a late sampler catches up, so the
    /// mean period stays exact), and whether the schedule fell so far behind
    /// ([`MAX_BEHIND`] periods) that it restarts from `now` instead: an
    /// overrun, which keeps a persistently overloaded sampler from running
    /// back to back.
    pub(crate) fn next_delay(&mut self, now: u64) -> (u64, bool) {
        self.advance();
        let period_jiffies = self.step().div_ceil(1_000_000);
        let limit = self
            .next
            .saturating_add(MAX_BEHIND.saturating_mul(period_jiffies));
        if now > limit {
            (self.restart(now, None), true)
        } else {
            (self.next.saturating_sub(now), false)
        }
    }
}
