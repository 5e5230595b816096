//! libpfprof: the Rust library over the pfprof kernel module.
//!
//! The module samples registered processes' minor and major page faults and
//! CPU time every period (50 ms by default) into a buffer that user space
//! maps. This crate opens the device, (un)registers processes, queries the
//! figures and reads the buffer, with errors that name their likely cause.
//!
//! ```no_run
//! use libpfprof::{classic, Profiler};
//!
//! fn main() -> Result<(), libpfprof::Error> {
//!     // Profile this process until `_guard` is dropped.
//!     let _guard = libpfprof::register()?;
//!     let big = vec![1u8; 64 << 20]; // fault some pages in
//!
//!     let profiler = Profiler::open()?; // /dev/pfprof, then ./node
//!     let me = profiler.query_self()?;
//!     println!("{} minor faults, {} ns CPU", me.counters.minor, me.counters.cpu_ns);
//!
//!     // The classic ring, oldest sample first, without consuming it.
//!     let ring = profiler.map_classic(false)?;
//!     for s in classic::snapshot(&ring) {
//!         let c = s.counters;
//!         println!("{} {} {} {}", s.jiffies, c.minor, c.major, c.cpu_ns);
//!     }
//!     drop(big);
//!     Ok(())
//! }
//! ```
//!
//! # Layers
//!
//! A private `sys` module includes the ABI (`kmod/abi.rs`, the module's own
//! definitions) and generates the ioctl calls with nix's macros; the rest of
//! the crate is safe. Decoders ([`classic`], [`ext`]) read through
//! [`Memory`], implemented by `[u8]` (fixtures) and by [`Mapping`] (the live
//! buffer), so they are tested without the module.

#![deny(missing_docs)]

pub mod classic;
mod counters;
mod error;
pub mod ext;
mod memory;
mod pid;
mod proc_stats;
pub mod procfs;
mod profiler;
mod registration;
mod status;
mod sys;

pub use counters::Counters;
pub use error::{Error, Result};
pub use memory::{Mapping, Memory, MemoryMut};
pub use pid::{ParsePidError, Pid};
pub use proc_stats::{monotonic_now_ns, ProcStats};
pub use profiler::{spawn_error, Profiler, DEFAULT_PATHS};
pub use registration::{register, Registration};
pub use status::{State, Status};
pub use sys::abi::{ABI_VERSION, PERIOD_DEFAULT_US, PERIOD_MAX_US, PERIOD_MIN_US};

/// Major number of the pfprof character device (`mknod node c 423 0`).
pub const DEVICE_MAJOR: u32 = sys::abi::MAJOR;

/// Minor number of the pfprof character device.
pub const DEVICE_MINOR: u32 = sys::abi::MINOR;

/// The classic registration file: write `R <pid>` or `U <pid>`, read pids.
pub const PROC_STATUS: &str = "/proc/mp3/status";

/// The module's sysfs directory (`period_us`, `state`, `hz`, counters).
pub const SYSFS_DIR: &str = "/sys/class/pfprof/pfprof";
