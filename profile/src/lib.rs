//! pfprof-profile: the profile model shared by the tools and the lab.
//!
//! A profile is what `monitor` writes: classic samples (`jiffies minflt
//! majflt cpu_ns`, per-period sums over the registered processes) and
//! per-process records (`monitor --per-process`), under an optional header
//! (`# pfprof hz=... period_us=...`). This crate holds
//!
//! - the model ([`Profile`], [`Header`], [`ProcRecord`]),
//! - its readers and writers in every format the tools produce
//!   ([`Format`]: classic lines, CSV, JSON Lines), on serde, serde_json and
//!   csv, with errors that carry the line number ([`Error`]),
//! - the analysis ([`analysis`]: accumulated faults, utilization, fault
//!   rates, run summaries) and the number formatting ([`text`]),
//! - the charts ([`chart`], plotters).
//!
//! It knows no command line: `pfprof-tools` (monitor, pfprof-plot) and
//! `xtask` (case studies, demo) are drivers on top of it.
//!
//! ```
//! use pfprof_profile::{analysis, Format, Profile};
//!
//! let text = "# pfprof hz=1000 period_us=50000\n1000 10 0 5000000\n1050 20 1 6000000\n";
//! let p = Profile::parse(text.as_bytes())?;
//! assert_eq!(p.header.hz, Some(1000));
//! let acc = analysis::accumulated_faults(&p.totals(), 1000);
//! assert_eq!(acc, [(0.0, 10), (0.05, 31)]);
//! // Written back in its format, it is the same text.
//! let mut out = Vec::new();
//! p.write(&mut out, Format::Classic)?;
//! assert_eq!(out, text.as_bytes());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod analysis;
pub mod chart;
mod error;
mod format;
mod model;
pub mod text;

pub use error::{Error, LineError};
pub use format::{
    write_header, write_record, write_record_header, write_sample, write_sample_header, Format,
};
pub use format::{
    write_header_as, write_record_header_stamped, write_record_header_with, write_record_stamped,
    write_sample_header_stamped, write_sample_stamped, RecordColumns, Stamp,
};
pub use model::{Backend, Header, Memory, ProcRecord, Profile, RecordDetail};

/// `Result` of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
