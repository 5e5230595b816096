//! The /proc backend: the module's figures read from `/proc`, without the
//! module.
//!
//! This is what a user would otherwise write (or get from pidstat or htop):
//! poll every process's `/proc` files each period. The tools use it with
//! `--backend procfs` where the module is not loaded, and the benchmark
//! (`cargo xtask bench`) uses it as the baseline.
//!
//! # What is read, and why
//!
//! Per process and per collection, two files:
//!
//! - `/proc/<pid>/stat`: `minflt` (field 10) and `majflt` (field 12). Read as
//!   `/proc/<pid>/stat` (not `task/<tid>/stat`), they are the thread group's
//!   counts including threads that already exited, the figures the module
//!   reports. The same line gives `utime` + `stime` (fields 14, 15), the
//!   thread group's CPU time including exited threads, in clock ticks
//!   ([`USER_HZ`]), scaled down from `sum_exec_runtime`.
//! - `/proc/<pid>/schedstat`: its first field is the `sum_exec_runtime` of
//!   the *leader thread only*, in nanoseconds.
//!
//! The CPU time reported is `max(utime + stime scaled to ns, schedstat)`.
//! Both are monotonic and neither exceeds the thread group's true
//! `sum_exec_runtime` (what the module reports), so the maximum is monotonic
//! and never too high; for a single-threaded process it is the exact
//! nanosecond figure, for a multi-threaded one it is within one clock tick
//! (10 ms) of it. Summing `task/*/schedstat` instead would cost one more open
//! per thread and lose the time of exited threads, so the counter would go
//! backwards when a thread exits. `schedstat` needs `CONFIG_SCHED_INFO`;
//! without it only the `stat` figure is used.
//!
//! The parsers take `&[u8]`, so they are tested on fixtures. The command
//! name in `stat` may contain spaces and parentheses: the fields after it
//! are found from the *last* `)` of the line.

use std::fs::File;
use std::io::Read;

use crate::error::{Error, Result};
use crate::ext::{Footprint, Record, RecordFlags};
use crate::{monotonic_now_ns, Counters, Pid, ProcStats};

/// Clock ticks per second of `utime` and `stime` in `/proc/<pid>/stat`
/// (the kernel's `USER_HZ`, fixed at 100 by the ABI on x86 and arm64).
pub const USER_HZ: u64 = 100;

/// The fields of `/proc/<pid>/stat` the backend uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stat {
    /// Field 1: the process id.
    pub pid: i32,
    /// Field 2: the command name, without its parentheses.
    pub comm: String,
    /// Field 3: the state letter (R, S, D, Z, ...).
    pub state: char,
    /// Field 10: minor faults of the thread group.
    pub minor_faults: u64,
    /// Field 12: major faults of the thread group.
    pub major_faults: u64,
    /// Field 14: user time, in clock ticks.
    pub utime_ticks: u64,
    /// Field 15: system time, in clock ticks.
    pub stime_ticks: u64,
    /// Field 20: number of threads.
    pub num_threads: u64,
}

impl Stat {
    /// `utime + stime` in nanoseconds.
    pub fn cpu_ns(&self) -> u64 {
        self.utime_ticks
            .saturating_add(self.stime_ticks)
            .saturating_mul(1_000_000_000 / USER_HZ)
    }
}

fn malformed(what: impl Into<String>) -> Error {
    Error::Malformed { what: what.into() }
}

/// Parses a `/proc/<pid>/stat` line.
pub fn parse_stat(line: &[u8]) -> Result<Stat> {
    let open = line
        .iter()
        .position(|&b| b == b'(')
        .ok_or_else(|| malformed("stat: no '(' before the command name"))?;
    let close = line
        .iter()
        .rposition(|&b| b == b')')
        .filter(|&c| c > open)
        .ok_or_else(|| malformed("stat: no ')' after the command name"))?;
    let pid = std::str::from_utf8(&line[..open])
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .ok_or_else(|| malformed("stat: the pid is not a number"))?;
    let comm = String::from_utf8_lossy(&line[open + 1..close]).into_owned();
    let rest = std::str::from_utf8(&line[close + 1..])
        .map_err(|_| malformed("stat: fields after the command name are not text"))?;
    // rest[0] is field 3 (state).
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let state = fields
        .first()
        .and_then(|s| s.chars().next())
        .ok_or_else(|| malformed("stat: no state field"))?;
    let num = |field: usize| -> Result<u64> {
        let s = fields
            .get(field - 3)
            .ok_or_else(|| malformed(format!("stat: field {field} is missing")))?;
        s.parse::<u64>()
            .map_err(|_| malformed(format!("stat: field {field} ({s:?}) is not a count")))
    };
    Ok(Stat {
        pid,
        comm,
        state,
        minor_faults: num(10)?,
        major_faults: num(12)?,
        utime_ticks: num(14)?,
        stime_ticks: num(15)?,
        num_threads: num(20)?,
    })
}

/// Parses `/proc/<pid>/schedstat` (`run_ns wait_ns timeslices`): the
/// leader thread's CPU time in nanoseconds.
pub fn parse_schedstat(text: &[u8]) -> Result<u64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.split_ascii_whitespace().next())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| malformed("schedstat: the first field is not a count"))
}

/// Parses the memory lines of `/proc/<pid>/status` (RssAnon, RssFile,
/// RssShmem, VmSwap, VmHWM, in kB) into bytes. A process without a memory
/// map (a zombie, a kernel thread) has none of those lines: every figure is
/// 0 then. A line that is there but malformed is an error.
pub fn parse_status(text: &[u8]) -> Result<Footprint> {
    let mut f = Footprint::default();
    for line in text.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, rest) = line.split_at(colon);
        let field = match key {
            b"RssAnon" => &mut f.rss_anon_bytes,
            b"RssFile" => &mut f.rss_file_bytes,
            b"RssShmem" => &mut f.rss_shmem_bytes,
            b"VmSwap" => &mut f.swap_bytes,
            b"VmHWM" => &mut f.rss_peak_bytes,
            _ => continue,
        };
        let what = || malformed(format!("status: {}", String::from_utf8_lossy(line)));
        let value = rest.get(1..).unwrap_or_default();
        let text = std::str::from_utf8(value).map_err(|_| what())?;
        let kb = text
            .trim()
            .strip_suffix("kB")
            .and_then(|n| n.trim().parse::<u64>().ok())
            .ok_or_else(what)?;
        *field = kb.checked_mul(1024).ok_or_else(what)?;
    }
    Ok(f)
}

/// One reading of one process from `/proc`, cumulative since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reading {
    /// The process.
    pub pid: Pid,
    /// Its command name.
    pub comm: String,
    /// Its counters (see the module doc for how the CPU time is derived).
    pub counters: Counters,
    /// Whether it is a zombie (exited, not yet reaped).
    pub zombie: bool,
    /// Its memory at the reading (from `/proc/<pid>/status`).
    pub memory: Footprint,
}

impl Reading {
    /// Combines a parsed `stat` and, if read, the `schedstat` figure; the
    /// memory figures are 0 until [`Reader::read`] fills them in.
    pub fn of(pid: Pid, stat: Stat, schedstat_ns: Option<u64>) -> Reading {
        Reading {
            memory: Footprint::default(),
            pid,
            counters: Counters::new(
                stat.minor_faults,
                stat.major_faults,
                stat.cpu_ns().max(schedstat_ns.unwrap_or(0)),
            ),
            zombie: stat.state == 'Z' || stat.state == 'X',
            comm: stat.comm,
        }
    }
}

/// Reads processes' figures from `/proc`, reusing one buffer.
#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
    schedstat: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    /// A reader of the live `/proc`.
    pub fn new() -> Reader {
        Reader {
            buf: Vec::with_capacity(1024),
            schedstat: true,
        }
    }

    fn slurp(&mut self, path: &str) -> std::io::Result<()> {
        self.buf.clear();
        File::open(path)?.read_to_end(&mut self.buf)?;
        Ok(())
    }

    /// Reads one process: `/proc/<pid>/stat`, then `/proc/<pid>/schedstat`
    /// and `/proc/<pid>/status` (memory). A process that does not exist (any
    /// more) is [`Error::NoSuchProcess`].
    pub fn read(&mut self, pid: Pid) -> Result<Reading> {
        let gone = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NoSuchProcess { pid: Some(pid) },
            // A process that exits while its file is read gives ESRCH.
            _ if e.raw_os_error() == Some(3) => Error::NoSuchProcess { pid: Some(pid) },
            _ => Error::Io {
                op: "read /proc/<pid>/stat",
                source: e,
            },
        };
        self.slurp(&format!("/proc/{pid}/stat")).map_err(gone)?;
        let stat = parse_stat(&self.buf)?;
        let mut sched = None;
        if self.schedstat {
            match self.slurp(&format!("/proc/{pid}/schedstat")) {
                Ok(()) => sched = parse_schedstat(&self.buf).ok(),
                // No CONFIG_SCHED_INFO: the file never exists; stop trying.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if std::fs::metadata(format!("/proc/{pid}")).is_ok() {
                        self.schedstat = false;
                    }
                }
                Err(_) => {}
            }
        }
        let mut reading = Reading::of(pid, stat, sched);
        self.slurp(&format!("/proc/{pid}/status")).map_err(gone)?;
        reading.memory = parse_status(&self.buf)?;
        Ok(reading)
    }
}

/// A set of watched processes, the /proc counterpart of the module's
/// registry: figures are reported since the process was added, as the
/// module reports them since registration.
#[derive(Debug, Default)]
pub struct Watch {
    reader: Reader,
    procs: Vec<Watched>,
}

#[derive(Debug, Clone)]
struct Watched {
    base: Reading,
    last: Reading,
    added_ns: u64,
}

/// One process's figures in a [`Watch::collect`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Collected {
    /// Cumulative since the process was added, like QUERY_PID's figures.
    pub stats: ProcStats,
    /// Since the previous collection (the first time: since it was added).
    pub delta: Counters,
    /// The command name.
    pub comm: String,
    /// The process is gone (exited or a zombie): this is its last report.
    pub exited: bool,
    /// Its memory at this collection (0 once it is gone, as the module
    /// reports a process without a memory map).
    pub memory: Footprint,
}

impl Collected {
    /// The period's figures (`delta`) as an extended-ring record, so that
    /// the tools print both backends alike. The backend has no jiffies: the
    /// record's `jiffies` field holds `time_ms`, milliseconds (the tools
    /// state HZ 1000).
    pub fn record(&self, seq: u64, time_ns: u64, time_ms: u64) -> Record {
        Record {
            seq,
            time_ns,
            jiffies: time_ms,
            pid: Some(self.stats.pid),
            flags: if self.exited {
                RecordFlags::EXITED | RecordFlags::NO_MM
            } else {
                RecordFlags::empty()
            },
            counters: self.delta,
            memory: self.memory,
            tree_root: None,
            comm: [0; 16],
        }
    }
}

/// The totals record of one collection (pid `None`, [`RecordFlags::TOTAL`]),
/// as the module writes after each tick's process records; `time_ms` as in
/// [`Collected::record`].
pub fn totals_record(collected: &[Collected], seq: u64, time_ns: u64, time_ms: u64) -> Record {
    let sum = collected
        .iter()
        .fold(Counters::ZERO, |acc, c| acc.saturating_add(c.delta));
    Record {
        seq,
        time_ns,
        jiffies: time_ms,
        pid: None,
        flags: RecordFlags::TOTAL,
        counters: sum,
        memory: total_memory(collected),
        tree_root: None,
        comm: [0; 16],
    }
}

/// The memory of the processes summed, as in the module's totals record
/// (whose peak is 0).
fn total_memory(collected: &[Collected]) -> Footprint {
    collected.iter().fold(Footprint::default(), |acc, c| {
        let m = &c.memory;
        Footprint {
            rss_anon_bytes: acc.rss_anon_bytes.saturating_add(m.rss_anon_bytes),
            rss_file_bytes: acc.rss_file_bytes.saturating_add(m.rss_file_bytes),
            rss_shmem_bytes: acc.rss_shmem_bytes.saturating_add(m.rss_shmem_bytes),
            swap_bytes: acc.swap_bytes.saturating_add(m.swap_bytes),
            rss_peak_bytes: 0,
        }
    })
}

fn stats(pid: Pid, c: Counters, added_ns: u64) -> ProcStats {
    ProcStats {
        pid,
        counters: c,
        registered_ns: added_ns,
        registered_jiffies: 0,
    }
}

impl Watch {
    /// An empty watch.
    pub fn new() -> Watch {
        Watch::default()
    }

    /// Starts watching `pid`; its figures count from now.
    pub fn add(&mut self, pid: Pid) -> Result<()> {
        if self.procs.iter().any(|w| w.base.pid == pid) {
            return Err(Error::AlreadyRegistered { pid: Some(pid) });
        }
        let r = self.reader.read(pid)?;
        self.procs.push(Watched {
            base: r.clone(),
            last: r,
            added_ns: monotonic_now_ns(),
        });
        Ok(())
    }

    /// The watched processes.
    pub fn pids(&self) -> Vec<Pid> {
        self.procs.iter().map(|w| w.base.pid).collect()
    }

    /// Reads every watched process. A process that is gone is reported once
    /// more (with `exited`, its last figures) and then dropped.
    pub fn collect(&mut self) -> Result<Vec<Collected>> {
        let mut out = Vec::with_capacity(self.procs.len());
        let mut keep = Vec::with_capacity(self.procs.len());
        for mut w in std::mem::take(&mut self.procs) {
            let pid = w.base.pid;
            let (mut now, mut exited) = match self.reader.read(pid) {
                Ok(r) => {
                    let z = r.zombie;
                    (r, z)
                }
                Err(Error::NoSuchProcess { .. }) => (w.last.clone(), true),
                Err(e) => {
                    self.procs.push(w);
                    return Err(e);
                }
            };
            // Counters that went backwards belong to another process that
            // got the pid: the watched one is gone, with its last figures.
            if now.counters.checked_delta(w.last.counters).is_none() {
                now = w.last.clone();
                exited = true;
            }
            let since_added = now.counters.checked_delta(w.base.counters);
            let delta = now.counters.checked_delta(w.last.counters);
            out.push(Collected {
                stats: stats(pid, since_added.unwrap_or_default(), w.added_ns),
                delta: delta.unwrap_or_default(),
                comm: now.comm.clone(),
                memory: if exited {
                    Footprint {
                        rss_peak_bytes: now.memory.rss_peak_bytes,
                        ..Footprint::default()
                    }
                } else {
                    now.memory
                },
                exited,
            });
            w.last = now;
            if !exited {
                keep.push(w);
            }
        }
        self.procs = keep;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = b"4242 (work) R 4000 4242 4000 34816 4242 4194304 \
        1234 0 7 0 250 30 0 0 20 0 1 0 55555 10485760 300 18446744073709551615 \
        1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    const STATUS: &[u8] = b"Name:\twork\nState:\tS (sleeping)\nVmPeak:\t  20000 kB\n\
        VmHWM:\t   9000 kB\nVmRSS:\t   8000 kB\nRssAnon:\t    6000 kB\n\
        RssFile:\t    1500 kB\nRssShmem:\t     500 kB\nVmSwap:\t     256 kB\nThreads:\t1\n";

    #[test]
    fn status_memory_lines_parse_into_bytes() {
        let f = parse_status(STATUS).unwrap();
        assert_eq!(f.rss_anon_bytes, 6000 * 1024);
        assert_eq!(f.rss_file_bytes, 1500 * 1024);
        assert_eq!(f.rss_shmem_bytes, 500 * 1024);
        assert_eq!(f.swap_bytes, 256 * 1024);
        assert_eq!(f.rss_peak_bytes, 9000 * 1024);
        assert_eq!(f.rss_bytes(), 8000 * 1024, "VmRSS is the sum");
        // A zombie's status has no memory lines.
        assert_eq!(
            parse_status(b"Name:\tx\nState:\tZ (zombie)\n").unwrap(),
            Footprint::default()
        );
        for bad in [
            &b"RssAnon:\t12 MB\n"[..],
            b"VmSwap:\tlots kB\n",
            b"VmHWM:\n",
        ] {
            assert!(
                parse_status(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_stat_line_parses() {
        let s = parse_stat(LINE).unwrap();
        assert_eq!(
            s,
            Stat {
                pid: 4242,
                comm: "work".into(),
                state: 'R',
                minor_faults: 1234,
                major_faults: 7,
                utime_ticks: 250,
                stime_ticks: 30,
                num_threads: 1,
            }
        );
        assert_eq!(s.cpu_ns(), 2_800_000_000);
    }

    #[test]
    fn comm_with_spaces_and_parentheses() {
        let line = b"17 (a b) (c)) S 1 17 17 0 -1 4194560 \
            99 5 3 0 1 2 0 0 20 0 4 0 100 0 0 0\n";
        let s = parse_stat(line).unwrap();
        assert_eq!((s.pid, s.comm.as_str()), (17, "a b) (c)"));
        assert_eq!((s.state, s.minor_faults, s.major_faults), ('S', 99, 3));
        assert_eq!((s.utime_ticks, s.stime_ticks, s.num_threads), (1, 2, 4));
        let empty = parse_stat(b"5 () Z 1 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1\n").unwrap();
        assert_eq!((empty.comm.as_str(), empty.state), ("", 'Z'));
    }

    #[test]
    fn malformed_stat_lines_are_errors() {
        for bad in [
            &b""[..],
            b"\n",
            b"12 work R 1 2 3",
            b"12 (work R 1 2 3",
            b"x (work) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18",
            b"12 (work) R 1 2 3", // truncated
            b"12 (work) R 1 2 3 4 5 6 -7 8 9 10 11 12 13 14 15 16 17", // negative count
            b"12 (work) R 1 2 3 4 5 6 7 8 x 10 11 12 13 14 15 16 17", // not a number
            b"12 )work( R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17",
        ] {
            assert!(
                matches!(parse_stat(bad), Err(Error::Malformed { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn schedstat_parses_and_rejects_garbage() {
        assert_eq!(
            parse_schedstat(b"123456789 1000 42\n").unwrap(),
            123_456_789
        );
        assert!(parse_schedstat(b"").is_err());
        assert!(parse_schedstat(b"abc 1 2\n").is_err());
        assert!(parse_schedstat(b"-5 1 2\n").is_err());
    }

    #[test]
    fn cpu_is_the_larger_of_stat_and_schedstat() {
        let pid = Pid::new(4242).unwrap();
        let s = parse_stat(LINE).unwrap();
        // Single-threaded: schedstat's exact figure wins over the ticks.
        assert_eq!(
            Reading::of(pid, s.clone(), Some(2_803_000_123))
                .counters
                .cpu_ns,
            2_803_000_123
        );
        // The leader alone is behind the group: the stat figure wins.
        assert_eq!(
            Reading::of(pid, s.clone(), Some(1_000)).counters.cpu_ns,
            2_800_000_000
        );
        assert_eq!(Reading::of(pid, s, None).counters.cpu_ns, 2_800_000_000);
    }

    #[test]
    fn a_watch_reports_this_process_since_it_was_added() {
        let mut w = Watch::new();
        let me = Pid::this();
        w.add(me).unwrap();
        assert!(matches!(w.add(me), Err(Error::AlreadyRegistered { .. })));
        let v: Vec<u8> = vec![1; 8 << 20];
        std::hint::black_box(&v);
        let c = w.collect().unwrap();
        assert_eq!(c.len(), 1);
        assert!(!c[0].exited);
        assert!(c[0].stats.counters.minor >= 1, "{:?}", c[0]);
        assert_eq!(c[0].stats.counters, c[0].delta);
        let c2 = w.collect().unwrap();
        assert!(c2[0].stats.counters.minor >= c[0].stats.counters.minor);
        let r = c2[0].record(3, 5, 7);
        assert_eq!((r.seq, r.pid, r.flags), (3, Some(me), RecordFlags::empty()));
        let t = totals_record(&c2, 4, 5, 7);
        assert_eq!((t.pid, t.flags), (None, RecordFlags::TOTAL));
        assert_eq!(t.counters, c2[0].delta);
        assert!(matches!(
            Reader::new().read(Pid::new(i32::MAX).unwrap()),
            Err(Error::NoSuchProcess { .. })
        ));
    }
}
