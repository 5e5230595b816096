//! The errors of reading profiles.

use std::path::PathBuf;

/// What is wrong with one line of a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// A data line with a number of fields no format has.
    #[error("{0} fields; expected 4 (samples), 5 or 9 (per-process records)")]
    FieldCount(usize),
    /// A field that is not a number.
    #[error("not a number in `{0}`")]
    NotANumber(String),
    /// A count below zero.
    #[error("negative value")]
    Negative,
    /// A pid that does not fit a pid.
    #[error("pid out of range")]
    PidRange,
    /// A flag column (`total`, `exited`) that is neither 0 nor 1.
    #[error("`{0}` is not a flag (0 or 1)")]
    Flag(String),
    /// A JSON line that is not a sample or a record.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A CSV line that does not parse.
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A `# pfprof` header with a value that does not parse.
    #[error("header: `{0}` is not valid")]
    Header(String),
}

/// An error of reading a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line that does not parse; `line` counts from 1.
    #[error("line {line}: {error}")]
    Line {
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        error: LineError,
    },
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// An error in a named file.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: Box<Error>,
    },
    /// The kernel's HZ is needed and neither the file nor the caller gives it.
    #[error("{0}: the kernel's HZ is unknown (record with `monitor --header`, or pass --hz)")]
    UnknownHz(String),
}

impl Error {
    pub(crate) fn line(line: usize, error: impl Into<LineError>) -> Error {
        Error::Line {
            line,
            error: error.into(),
        }
    }

    /// The line number of a parse error, if it is one.
    pub fn line_number(&self) -> Option<usize> {
        match self {
            Error::Line { line, .. } => Some(*line),
            Error::File { source, .. } => source.line_number(),
            _ => None,
        }
    }
}
