//! The profile as data.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use libpfprof::classic::Sample;
use libpfprof::ext::{Footprint, Record, RecordFlags};
use libpfprof::Counters;

use crate::{Error, Result};

/// Where a profile's figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The pfprof module (its ring buffer).
    Module,
    /// `/proc` polling (`monitor --backend procfs`): "jiffies" are
    /// milliseconds, HZ 1000.
    Procfs,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Module => "module",
            Backend::Procfs => "procfs",
        })
    }
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "module" => Ok(Backend::Module),
            "procfs" => Ok(Backend::Procfs),
            _ => Err(format!("backend={s}")),
        }
    }
}

/// The header of a profile: the `# pfprof key=value ...` line of `monitor
/// --header` and its `# pfprof comm PID "NAME"` lines. Every field is
/// optional; a file without a header has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The kernel's HZ (jiffies per second): `hz=`.
    pub hz: Option<u32>,
    /// The sampling period in microseconds: `period_us=`.
    pub period_us: Option<u32>,
    /// Where the figures came from: `backend=` (absent: the module).
    pub backend: Option<Backend>,
    /// CLOCK_MONOTONIC when recording started, in nanoseconds: `start_ns=`.
    pub start_ns: Option<u64>,
    /// Command names by pid: one `# pfprof comm PID "NAME"` line each (the
    /// name as a JSON string, so any byte survives).
    pub commands: BTreeMap<i32, String>,
}

impl Header {
    /// Whether the header says anything (otherwise no line is written).
    pub fn is_empty(&self) -> bool {
        *self == Header::default()
    }
}

/// What a CSV or JSON record line carries beyond the classic line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RecordDetail {
    /// The record's sequence number in the extended ring.
    pub seq: u64,
    /// CLOCK_MONOTONIC at the sample, in nanoseconds.
    pub time_ns: u64,
    /// The process exited; this is its last record.
    pub exited: bool,
    /// The process's memory at the sample (in the totals record, the sums);
    /// `None` in files written before records carried it.
    pub memory: Option<Memory>,
    /// The pid of the root of the process tree the process belongs to
    /// (`pfprof run --tree`), 0 for a process registered alone and in the
    /// totals record; `None` in files written before records carried it.
    pub tree_root: Option<i32>,
}

/// A process's memory at a sample, in bytes, as `/proc/<pid>/status` shows
/// it (RssAnon, RssFile, RssShmem, VmSwap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Memory {
    /// Resident anonymous memory.
    pub rss_anon_bytes: u64,
    /// Resident file-backed memory.
    pub rss_file_bytes: u64,
    /// Resident shared memory (shmem, tmpfs).
    pub rss_shmem_bytes: u64,
    /// Swapped-out memory.
    pub swap_bytes: u64,
}

impl Memory {
    /// All resident memory (VmRSS).
    pub fn rss_bytes(&self) -> u64 {
        self.rss_anon_bytes
            .saturating_add(self.rss_file_bytes)
            .saturating_add(self.rss_shmem_bytes)
    }
}

impl From<&Footprint> for Memory {
    fn from(f: &Footprint) -> Self {
        Memory {
            rss_anon_bytes: f.rss_anon_bytes,
            rss_file_bytes: f.rss_file_bytes,
            rss_shmem_bytes: f.rss_shmem_bytes,
            swap_bytes: f.swap_bytes,
        }
    }
}

/// One per-process record of `monitor --per-process` (pid 0: the totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcRecord {
    /// `jiffies` at the sample (milliseconds for the procfs backend).
    pub jiffies: u64,
    /// The process, or 0 for the totals over all registered processes.
    pub pid: i32,
    /// The period's figures.
    pub counters: Counters,
    /// Sequence, time and exit flag: what CSV and JSON lines carry; `None`
    /// for a record read from a classic line, which has none of them.
    pub detail: Option<RecordDetail>,
}

impl ProcRecord {
    /// Whether this is a totals record (pid 0).
    pub fn is_total(&self) -> bool {
        self.pid == 0
    }

    /// Whether the process exited (known from CSV and JSON lines only).
    pub fn exited(&self) -> bool {
        self.detail.is_some_and(|d| d.exited)
    }

    /// The memory at the sample, if the line carried it.
    pub fn memory(&self) -> Option<Memory> {
        self.detail.and_then(|d| d.memory)
    }

    /// The root of the process's tree, if it is in one: `None` for a
    /// process registered alone, the totals, and lines without the field.
    pub fn tree_root(&self) -> Option<i32> {
        self.detail
            .and_then(|d| d.tree_root)
            .filter(|&root| root > 0)
    }
}

impl From<&Record> for ProcRecord {
    fn from(r: &Record) -> Self {
        ProcRecord {
            jiffies: r.jiffies,
            pid: r.pid.map_or(0, |p| p.as_raw()),
            counters: r.counters,
            detail: Some(RecordDetail {
                seq: r.seq,
                time_ns: r.time_ns,
                exited: r.flags.contains(RecordFlags::EXITED),
                memory: Some(Memory::from(&r.memory)),
                tree_root: Some(r.tree_root.map_or(0, |p| p.as_raw())),
            }),
        }
    }
}

/// A profile: header, classic samples and per-process records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The header.
    pub header: Header,
    /// Classic samples, in file order.
    pub samples: Vec<Sample>,
    /// Per-process records, in file order.
    pub records: Vec<ProcRecord>,
}

impl Profile {
    /// The per-period totals: the classic samples, or, for a per-process
    /// recording, its totals records (pid 0).
    pub fn totals(&self) -> Vec<Sample> {
        if !self.samples.is_empty() {
            return self.samples.clone();
        }
        self.records
            .iter()
            .filter(|r| r.is_total())
            .map(|r| Sample::new(r.jiffies, r.counters))
            .collect()
    }

    /// The HZ to use: `given` if any, else the file's; the error names
    /// `name` and both ways to provide it.
    pub fn hz_or(&self, given: Option<u32>, name: &str) -> Result<u32> {
        given
            .or(self.header.hz)
            .filter(|h| *h > 0)
            .ok_or_else(|| Error::UnknownHz(name.to_owned()))
    }
}
