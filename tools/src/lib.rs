//! Code shared by the pfprof tools (`monitor`, `pfprof-top`, `pfprof`,
//! `pfprof-plot`).
//!
//! Each tool is collect -> model -> render: collection talks to the module
//! through libpfprof, models are plain data derived from what was collected
//! (rates are `None` when a counter went backwards), and renderers write the
//! model to an `impl Write`, so every output is tested as text. The profile
//! model (file formats, analysis, charts) is the `pfprof-profile` crate,
//! which `xtask` shares; these tools are its command lines.
//! [`format`](mod@format) holds the formats the tools share
//! (pfprof-profile's thousands separators, short durations and optional
//! rates, and `--format`); a renderer formats a figure itself only where
//! the layout is its own: raw integers such as jiffies, pids and HZ,
//! `pfprof run`'s msec, the case-study table's seconds, axis labels.

#![deny(missing_docs)]

use std::fmt;
use std::io;

pub mod cli;
pub mod ctl;
pub mod duration;
pub mod exporter;
pub mod format;
pub mod gen;
pub mod monitor;
pub mod pids;
pub mod plot;
pub mod signal;
pub mod top;
pub mod treerun;

/// An error of a tool: from the library, from output, or a message.
#[derive(Debug)]
pub enum ToolError {
    /// From libpfprof (its message names the likely cause).
    Lib(libpfprof::Error),
    /// Writing output or another I/O operation.
    Io(io::Error),
    /// Reading a profile (the error names the file and line).
    Profile(pfprof_profile::Error),
    /// Drawing or saving a chart.
    Chart(pfprof_profile::chart::ChartError),
    /// Anything else, as a message.
    Msg(String),
}

impl ToolError {
    /// Whether this is a closed stdout (`monitor | head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ToolError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Lib(e) => e.fmt(f),
            ToolError::Io(e) => e.fmt(f),
            ToolError::Profile(e) => e.fmt(f),
            ToolError::Chart(e) => e.fmt(f),
            ToolError::Msg(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<libpfprof::Error> for ToolError {
    fn from(e: libpfprof::Error) -> Self {
        ToolError::Lib(e)
    }
}

impl From<io::Error> for ToolError {
    fn from(e: io::Error) -> Self {
        ToolError::Io(e)
    }
}

impl From<pfprof_profile::Error> for ToolError {
    fn from(e: pfprof_profile::Error) -> Self {
        ToolError::Profile(e)
    }
}

impl From<pfprof_profile::chart::ChartError> for ToolError {
    fn from(e: pfprof_profile::chart::ChartError) -> Self {
        ToolError::Chart(e)
    }
}

/// `Result` of the tools.
pub type Result<T, E = ToolError> = std::result::Result<T, E>;

/// Opens the device given with `--device`, or the default ones.
pub fn open(device: &cli::DeviceArgs) -> Result<libpfprof::Profiler> {
    Ok(match &device.device {
        Some(p) => libpfprof::Profiler::open_path(p)?,
        None => libpfprof::Profiler::open()?,
    })
}

/// Opens the device like [`open`]; without the module, the error also says
/// how to do without it: `how` is the tool's command line for /proc
/// (`monitor --backend procfs --per-process -p PID`).
pub fn open_or_procfs(device: &cli::DeviceArgs, how: &str) -> Result<libpfprof::Profiler> {
    open(device).map_err(|e| match e {
        ToolError::Lib(libpfprof::Error::ModuleNotLoaded { .. }) => {
            ToolError::Msg(format!("{e}; or read /proc without the module: {how}"))
        }
        e => e,
    })
}

/// Runs a tool's main: prints an error as `tool: message` on stderr and
/// turns it into exit status 1 (a closed stdout ends quietly with 0).
pub fn main_with(tool: &str, f: impl FnOnce() -> Result<u8>) -> std::process::ExitCode {
    match f() {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) if e.is_broken_pipe() => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{tool}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
