//! The formats the tools share: pfprof-profile's thousands separators,
//! short durations and optional rates (its `text` module), and the choice
//! of `--format`; the sample and record lines of each output format are
//! pfprof-profile's writers. Layouts that belong to one renderer (`pfprof
//! run`'s msec, a table's seconds, a chart's axis labels) are formatted
//! there.

use clap::ValueEnum;

pub use pfprof_profile::analysis::rate_per_s;
pub use pfprof_profile::text::{bytes, duration_ns, optional, thousands};

/// Output formats of sample and record lines (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// `jiffies minflt majflt cpu`, space-separated, as the classic monitor.
    #[default]
    Classic,
    /// Comma-separated with a header line.
    Csv,
    /// One JSON object per line (JSON Lines).
    Json,
}

impl From<Format> for pfprof_profile::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Classic => pfprof_profile::Format::Classic,
            Format::Csv => pfprof_profile::Format::Csv,
            Format::Json => pfprof_profile::Format::Json,
        }
    }
}
