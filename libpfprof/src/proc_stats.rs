//! [`ProcStats`]: one registered process's counters, and the clock they
//! are stamped with.

use crate::counters::Counters;
use crate::Pid;

/// One registered process's counters (`PFPROF_IOC_QUERY_PID`), cumulative
/// since its registration or the last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcStats {
    /// The process.
    pub pid: Pid,
    /// The counters (CPU time: user + system, all threads).
    pub counters: Counters,
    /// CLOCK_MONOTONIC at registration, in nanoseconds.
    pub registered_ns: u64,
    /// `jiffies` at registration.
    pub registered_jiffies: u64,
}

impl ProcStats {
    /// A value for tests and fixtures.
    #[doc(hidden)]
    pub fn fixture(
        pid: Pid,
        minor_faults: u64,
        major_faults: u64,
        cpu_ns: u64,
        registered_ns: u64,
    ) -> Self {
        ProcStats {
            pid,
            counters: Counters::new(minor_faults, major_faults, cpu_ns),
            registered_ns,
            registered_jiffies: 0,
        }
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds (the clock of `time_ns` and
/// `registered_ns`).
pub fn monotonic_now_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => (ts.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec() as u64),
        Err(_) => 0,
    }
}
