//! [`Pid`]: a process id.

use std::fmt;
use std::str::FromStr;

/// A process id (thread group id), always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(i32);

impl Pid {
    /// `Some` for a positive id.
    pub const fn new(raw: i32) -> Option<Pid> {
        if raw > 0 {
            Some(Pid(raw))
        } else {
            None
        }
    }

    /// The calling process.
    pub fn this() -> Pid {
        // Linux pids fit in i32 (pid_max <= 2^22).
        Pid(std::process::id() as i32)
    }

    /// The raw id.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The error of parsing a [`Pid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePidError(String);

impl fmt::Display for ParsePidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a process id (a positive integer)", self.0)
    }
}

impl std::error::Error for ParsePidError {}

impl FromStr for Pid {
    type Err = ParsePidError;
    fn from_str(s: &str) -> Result<Self, ParsePidError> {
        s.trim()
            .parse::<i32>()
            .ok()
            .and_then(Pid::new)
            .ok_or_else(|| ParsePidError(s.to_owned()))
    }
}
