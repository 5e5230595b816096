//! [`State`] and [`Status`]: the module's global figures.

use std::fmt;

use crate::sys::abi;

/// Whether the sampler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Nothing registered; the sampler is stopped.
    Idle,
    /// The sampler is running.
    Running,
    /// A state this library does not know.
    Unknown(u32),
}

impl State {
    pub(crate) fn from_raw(raw: u32) -> State {
        match raw {
            abi::STATE_IDLE => State::Idle,
            abi::STATE_RUNNING => State::Running,
            other => State::Unknown(other),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Idle => f.write_str("idle"),
            State::Running => f.write_str("running"),
            State::Unknown(n) => write!(f, "unknown ({n})"),
        }
    }
}

/// The module's global figures (`PFPROF_IOC_QUERY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The module's ABI version.
    pub abi_version: u32,
    /// Whether the sampler runs.
    pub state: State,
    /// The kernel's HZ (jiffies per second).
    pub hz: u32,
    /// The sampling period in microseconds.
    pub period_us: u32,
    /// Registered processes.
    pub registered: u32,
    /// New processes of process-tree members the module refused since load
    /// (over its limit of registered processes, or its fork queue full).
    pub tree_refused: u32,
    /// Classic samples written since load or reset.
    pub samples_written: u64,
    /// Classic samples that overwrote a slot nobody had consumed.
    pub samples_lost: u64,
    /// Extended records written since load or reset.
    pub records_written: u64,
    /// Sampler ticks since load or reset.
    pub ticks: u64,
    /// Times the sampler fell more than 10 periods behind and skipped the
    /// deadlines it missed (a late sampler otherwise catches up).
    pub overruns: u64,
    /// Process samples taken (sum over ticks of processes sampled).
    pub process_samples: u64,
    /// Total time spent sampling, in nanoseconds.
    pub cost_total_ns: u64,
    /// Time the last tick spent sampling, in nanoseconds.
    pub cost_last_ns: u64,
    /// Longest tick, in nanoseconds.
    pub cost_max_ns: u64,
}

impl From<abi::Status> for Status {
    fn from(s: abi::Status) -> Self {
        Status {
            abi_version: s.abi_version,
            state: State::from_raw(s.state),
            hz: s.hz,
            period_us: s.period_us,
            registered: s.registered,
            tree_refused: s.tree_refused,
            samples_written: s.samples_written,
            samples_lost: s.samples_lost,
            records_written: s.records_written,
            ticks: s.ticks,
            overruns: s.overruns,
            process_samples: s.process_samples,
            cost_total_ns: s.cost_total_ns,
            cost_last_ns: s.cost_last_ns,
            cost_max_ns: s.cost_max_ns,
        }
    }
}

impl Status {
    /// An all-zero value for tests and fixtures.
    #[doc(hidden)]
    pub fn fixture() -> Self {
        abi::Status::default().into()
    }
}
