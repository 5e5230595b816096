//! `pfprof-top`: collect per-process counters, derive rates, render them as
//! a screen (ratatui on crossterm, [`screen`]) or as batch text, csv or JSON
//! Lines ([`batch`]).
//!
//! The sources are the module (libpfprof's [`Profiler`]), /proc
//! (libpfprof's [`Watch`]) and a recording of `monitor --per-process`
//! ([`replay`]); each gives [`Snapshot`]s, and [`model`] turns two of them
//! into [`Row`]s; with `--tree` (key `t`), [`tree`] folds each process
//! tree into one row first ([`Readings`] keeps both forms). Waiting
//! between snapshots is always signal-aware ([`wait`]): SIGINT and SIGTERM
//! end the wait at once.

use std::cmp::Ordering;
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use std::collections::{BTreeMap, BTreeSet};

use libpfprof::ext::{Footprint, RecordFlags, Stream};
use libpfprof::procfs::Watch;
use libpfprof::{Counters, Error, Mapping, Pid, ProcStats, Profiler, State};

use crate::cli::{Backend, SortKey, TopCli};
use crate::format;
use crate::{Result, ToolError};

pub mod batch;
pub mod pids;
pub mod replay;
pub mod screen;
pub mod tree;
pub mod wait;

use tree::{Departed, Folder};

/// Where a snapshot's figures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The pfprof module.
    Module,
    /// /proc (`--backend procfs`).
    Procfs,
    /// A recording (`--replay`).
    Replay,
}

/// One collection: every process's counters at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// CLOCK_MONOTONIC at collection, in nanoseconds (replay: the recorded
    /// time, from 0 at the recording's start).
    pub at_ns: u64,
    /// The wall-clock time of the collection (replay: of the playback).
    pub wall: SystemTime,
    /// The sampler's state.
    pub state: State,
    /// The sampling period in microseconds.
    pub period_us: u32,
    /// The processes: counters and command name.
    pub procs: Vec<(ProcStats, String)>,
    /// The processes' memory at their latest sample, where known.
    pub memory: BTreeMap<Pid, Footprint>,
    /// Where the figures came from.
    pub origin: Origin,
    /// The tree root of each process in a process tree (`pfprof run
    /// --tree`); processes registered alone are not in it.
    pub roots: BTreeMap<Pid, Pid>,
    /// Tree members that exited since the previous snapshot, with their
    /// counters at exit (they are not in `procs`).
    pub departed: Vec<Departed>,
    /// Processes of `procs` that exited: this is their last snapshot (a
    /// recording's).
    pub exiting: BTreeSet<Pid>,
    /// A folded snapshot ([`tree::Folder`]): the number of processes each
    /// tree's row stands for; `None` before folding.
    pub trees: Option<BTreeMap<Pid, u64>>,
}

/// What the module's extended ring adds to the QUERY_PID ioctl's counters:
/// the latest memory figures of each process, the tree root of each tree
/// member, and the tree members that exited (with their counters at exit,
/// the sums of their records). Read from the last reset on, so that the
/// sums of tree members are whole (where the ring overwrote records, a
/// member's counters at exit are at least its last queried ones).
#[derive(Debug)]
pub struct MemoryRing {
    region: Mapping,
    stream: Stream,
    latest: BTreeMap<Pid, Footprint>,
    roots: BTreeMap<Pid, Pid>,
    sums: BTreeMap<Pid, Counters>,
    queried: BTreeMap<Pid, Counters>,
    departed: Vec<Departed>,
}

impl MemoryRing {
    /// Maps the extended region and reads it from the last reset on. The
    /// members that exited before are reported with the first snapshot
    /// when their tree has members left (so that its sums are whole), and
    /// not at all otherwise.
    pub fn open(p: &Profiler) -> Result<MemoryRing> {
        let region = p.map_extended()?;
        let stream = p.stream_since_reset(&region)?;
        let mut ring = MemoryRing {
            region,
            stream,
            latest: BTreeMap::new(),
            roots: BTreeMap::new(),
            sums: BTreeMap::new(),
            queried: BTreeMap::new(),
            departed: Vec::new(),
        };
        ring.poll()?;
        let live: BTreeSet<Pid> = ring.roots.values().copied().collect();
        ring.departed.retain(|d| live.contains(&d.root));
        Ok(ring)
    }

    /// Reads the new records; returns the latest figures by pid. (Records
    /// lost to a reader that fell behind only delay the figures: the next
    /// record of each process brings them.)
    pub fn poll(&mut self) -> Result<&BTreeMap<Pid, Footprint>> {
        let batch = self.stream.poll(&self.region)?;
        for r in &batch.records {
            let Some(pid) = r.pid else { continue };
            if let Some(root) = r.tree_root {
                self.roots.insert(pid, root);
                let sum = self.sums.entry(pid).or_insert(Counters::ZERO);
                *sum = sum.saturating_add(r.counters);
            }
            if r.flags.contains(RecordFlags::EXITED) {
                self.latest.remove(&pid);
                if let Some(root) = self.roots.remove(&pid) {
                    let sum = self.sums.remove(&pid).unwrap_or(Counters::ZERO);
                    let q = self.queried.remove(&pid).unwrap_or(Counters::ZERO);
                    self.departed.push(Departed {
                        pid,
                        root,
                        counters: Counters::new(
                            sum.minor.max(q.minor),
                            sum.major.max(q.major),
                            sum.cpu_ns.max(q.cpu_ns),
                        ),
                        command: r.command(),
                    });
                }
            } else {
                self.latest.insert(pid, r.memory);
            }
        }
        Ok(&self.latest)
    }
}

/// The command name of a process (`/proc/PID/comm`), or `?`.
fn comm(pid: Pid) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Collects a snapshot of the registered processes, or of those of `only`
/// among them, or whose tree's root is in `only` (a process that goes away
/// meanwhile is skipped), with their memory and tree roots from `ring`.
/// The ring is read after the processes are queried, so that a tree member
/// that is no longer registered has its exit record read.
pub fn collect(p: &Profiler, only: Option<&[Pid]>, ring: &mut MemoryRing) -> Result<Snapshot> {
    let status = p.query()?;
    let mut procs = Vec::new();
    for pid in p.list()? {
        match p.query_pid(pid) {
            Ok(s) => procs.push((s, comm(pid))),
            Err(Error::NotRegistered { .. } | Error::NoSuchProcess { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let at_ns = libpfprof::monotonic_now_ns();
    let memory = ring.poll()?.clone();
    let mut departed = std::mem::take(&mut ring.departed);
    // A member that exited after it was queried counts its last figures.
    procs.retain(|(s, _)| !departed.iter().any(|d| d.pid == s.pid));
    let wanted = |pid: &Pid, root: Option<&Pid>| {
        only.map_or(true, |o| {
            o.contains(pid) || root.is_some_and(|r| o.contains(r))
        })
    };
    procs.retain(|(s, _)| wanted(&s.pid, ring.roots.get(&s.pid)));
    departed.retain(|d| wanted(&d.pid, Some(&d.root)));
    ring.queried.retain(|pid, _| ring.roots.contains_key(pid));
    let mut roots = BTreeMap::new();
    for (s, _) in &procs {
        if let Some(&root) = ring.roots.get(&s.pid) {
            roots.insert(s.pid, root);
            ring.queried.insert(s.pid, s.counters);
        }
    }
    Ok(Snapshot {
        at_ns,
        wall: SystemTime::now(),
        state: status.state,
        period_us: status.period_us,
        procs,
        memory,
        origin: Origin::Module,
        roots,
        departed,
        exiting: BTreeSet::new(),
        trees: None,
    })
}

/// Collects a snapshot from /proc (`--backend procfs`); a process that is
/// gone is dropped. `period_us` is the refresh delay.
pub fn collect_procfs(watch: &mut Watch, period_us: u32) -> Result<Snapshot> {
    let live: Vec<_> = watch.collect()?.into_iter().filter(|c| !c.exited).collect();
    let memory = live.iter().map(|c| (c.stats.pid, c.memory)).collect();
    let procs = live.into_iter().map(|c| (c.stats, c.comm)).collect();
    Ok(Snapshot {
        at_ns: libpfprof::monotonic_now_ns(),
        wall: SystemTime::now(),
        state: State::Running,
        period_us,
        procs,
        memory,
        origin: Origin::Procfs,
        roots: BTreeMap::new(),
        departed: Vec::new(),
        exiting: BTreeSet::new(),
        trees: None,
    })
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The process.
    pub pid: Pid,
    /// Its command name.
    pub command: String,
    /// Minor faults per second over the interval.
    pub minflt_per_s: Option<f64>,
    /// Major faults per second over the interval.
    pub majflt_per_s: Option<f64>,
    /// Minor + major faults since registration.
    pub total_faults: u64,
    /// CPU utilization over the interval, in percent of one CPU.
    pub cpu_percent: Option<f64>,
    /// Resident memory (anonymous + file + shmem) at the latest sample.
    pub rss_bytes: Option<u64>,
    /// Swapped-out memory at the latest sample.
    pub swap_bytes: Option<u64>,
    /// How long it has been registered, in nanoseconds.
    pub registered_for_ns: u64,
    /// A folded tree's row: the processes it stands for (the members
    /// alive, and those that exited in the interval); `None` for a process.
    pub procs: Option<u64>,
}

impl Row {
    /// The command as the table shows it: a tree's root command with the
    /// number of its other processes, `make (+12)`.
    pub fn label(&self) -> String {
        match self.procs {
            Some(n) => format!("{} (+{})", self.command, n.saturating_sub(1)),
            None => self.command.clone(),
        }
    }
}

/// Derives the rows: rates over the interval since `prev`. Without `prev`
/// (the first frame), the module's rates are averages since registration;
/// /proc's and a replay's are unknown (their figures start at 0 then).
/// `None` also where a counter went backwards (a reset).
pub fn model(prev: Option<&Snapshot>, cur: &Snapshot, sort: SortKey) -> Vec<Row> {
    let mut rows: Vec<Row> = cur
        .procs
        .iter()
        .map(|(s, command)| {
            let before = prev.and_then(|p| {
                p.procs
                    .iter()
                    .find(|(o, _)| o.pid == s.pid && o.registered_ns == s.registered_ns)
                    .map(|(o, _)| (*o, p.at_ns))
            });
            // Without an earlier reading, the baseline is the registration.
            let (base, b_at) = match before {
                Some((o, at)) => (o.counters, at),
                None if prev.is_none() && cur.origin != Origin::Module => {
                    (Counters::ZERO, cur.at_ns)
                }
                None => (Counters::ZERO, s.registered_ns),
            };
            let now = s.counters;
            let dt = cur.at_ns.saturating_sub(b_at);
            // Each rate on its own: one counter going backwards (a reset)
            // leaves the others' rates.
            Row {
                pid: s.pid,
                command: command.clone(),
                minflt_per_s: format::rate_per_s(base.minor, now.minor, dt),
                majflt_per_s: format::rate_per_s(base.major, now.major, dt),
                total_faults: now.faults(),
                cpu_percent: format::rate_per_s(base.cpu_ns, now.cpu_ns, dt)
                    .map(|ns_per_s| ns_per_s / 1e7),
                rss_bytes: cur.memory.get(&s.pid).map(Footprint::rss_bytes),
                swap_bytes: cur.memory.get(&s.pid).map(|m| m.swap_bytes),
                registered_for_ns: cur.at_ns.saturating_sub(s.registered_ns),
                procs: cur.trees.as_ref().and_then(|t| t.get(&s.pid)).copied(),
            }
        })
        .collect();
    sort_rows(&mut rows, sort, false);
    rows
}

/// The snapshots so far, as read and folded (a [`Folder`] sees each one),
/// so that rows of either form can be made at any time (the screen's `t`).
#[derive(Debug, Clone, Default)]
pub struct Readings {
    folder: Folder,
    /// The snapshot before the current one: as read, and folded.
    prev: Option<(Snapshot, Snapshot)>,
    /// The current snapshot: as read, and folded.
    cur: Option<(Snapshot, Snapshot)>,
}

impl Readings {
    /// Takes the next snapshot.
    pub fn push(&mut self, snap: Snapshot) {
        let folded = self.folder.fold(&snap);
        self.prev = self.cur.take();
        self.cur = Some((snap, folded));
    }

    /// The current snapshot, folded when `tree`.
    pub fn current(&self, tree: bool) -> Option<&Snapshot> {
        self.cur.as_ref().map(|(r, f)| if tree { f } else { r })
    }

    /// The snapshot before it, likewise.
    pub fn previous(&self, tree: bool) -> Option<&Snapshot> {
        self.prev.as_ref().map(|(r, f)| if tree { f } else { r })
    }

    /// The rows of the current snapshot (none before the first), sorted.
    pub fn rows(&self, tree: bool, sort: SortKey, reverse: bool) -> Vec<Row> {
        let Some(cur) = self.current(tree) else {
            return Vec::new();
        };
        let mut rows = model(self.previous(tree), cur, sort);
        sort_rows(&mut rows, sort, reverse);
        rows
    }
}

/// Sorts rows: descending for the figures (unknown last), ascending for
/// pid and command; `reverse` turns the whole order around.
pub fn sort_rows(rows: &mut [Row], sort: SortKey, reverse: bool) {
    let desc = |a: Option<f64>, b: Option<f64>| {
        b.unwrap_or(f64::NEG_INFINITY)
            .partial_cmp(&a.unwrap_or(f64::NEG_INFINITY))
            .unwrap_or(Ordering::Equal)
    };
    rows.sort_by(|a, b| {
        let primary = match sort {
            SortKey::Pid => Ordering::Equal,
            SortKey::Command => a.command.cmp(&b.command),
            SortKey::Minflt => desc(a.minflt_per_s, b.minflt_per_s),
            SortKey::Majflt => desc(a.majflt_per_s, b.majflt_per_s),
            SortKey::Faults => b.total_faults.cmp(&a.total_faults),
            SortKey::Cpu => desc(a.cpu_percent, b.cpu_percent),
            SortKey::Rss => b.rss_bytes.cmp(&a.rss_bytes),
            SortKey::Swap => b.swap_bytes.cmp(&a.swap_bytes),
            SortKey::Since => b.registered_for_ns.cmp(&a.registered_for_ns),
        };
        let o = primary.then(a.pid.cmp(&b.pid));
        if reverse {
            o.reverse()
        } else {
            o
        }
    });
}

/// What a frame's title says about its source, without the time: `2
/// registered, sampler running, period 50.00ms`.
pub fn describe(snap: &Snapshot, rows: usize) -> String {
    let period = format::duration_ns(u64::from(snap.period_us) * 1000);
    let what = match snap.origin {
        Origin::Module => format!("{rows} registered, sampler {}, period {period}", snap.state),
        Origin::Procfs => format!("{rows} watched [procfs backend, module not used]"),
        Origin::Replay => format!("{rows} recorded [replay], period {period}"),
    };
    match &snap.trees {
        Some(t) => format!("{what}, trees folded: {}", t.len()),
        None => what,
    }
}

/// What to say when there are no rows.
pub fn nothing(origin: Origin) -> &'static str {
    match origin {
        Origin::Module => "(no process registered)",
        Origin::Procfs => "(no watched process left)",
        Origin::Replay => "(no process in this part of the recording)",
    }
}

/// Where `pfprof-top` collects from.
#[derive(Debug)]
pub enum Source {
    /// The module, optionally only some pids, with the ring the memory
    /// figures come from.
    Module(Profiler, Option<Vec<Pid>>, MemoryRing),
    /// /proc.
    Procfs(Watch, u32),
    /// A recording.
    Replay(replay::Replay),
}

impl Source {
    /// Opens the source the command line asks for; dead pids are reported
    /// on `err` and skipped.
    pub fn open(cli: &TopCli, err: &mut impl Write) -> Result<Source> {
        if let Some(path) = &cli.replay {
            return Ok(Source::Replay(replay::Replay::read(path, cli.delay)?));
        }
        let pids = if cli.pids.is_empty() {
            None
        } else {
            let alive = pids::resolve(&cli.pids, err)?;
            if alive.is_empty() {
                return Err(ToolError::Msg(
                    "none of the processes given with -p is alive".to_owned(),
                ));
            }
            Some(alive)
        };
        let delay_us = u32::try_from(cli.delay.as_micros()).unwrap_or(u32::MAX);
        Ok(match cli.backend {
            Backend::Module => {
                let p = open_module(cli)?;
                let registered = p.list()?;
                for pid in pids.iter().flatten().filter(|p| !registered.contains(p)) {
                    writeln!(
                        err,
                        "pfprof-top: process {pid} is not registered (yet): no row until it is"
                    )?;
                }
                let ring = MemoryRing::open(&p)?;
                Source::Module(p, pids, ring)
            }
            Backend::Procfs => {
                let mut watch = Watch::new();
                for pid in pids.unwrap_or_default() {
                    match watch.add(pid) {
                        Ok(()) => {}
                        Err(Error::NoSuchProcess { .. }) => {
                            writeln!(err, "pfprof-top: process {pid} is gone, skipped")?;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                if watch.pids().is_empty() {
                    return Err(ToolError::Msg(
                        "none of the processes given with -p is alive".to_owned(),
                    ));
                }
                Source::Procfs(watch, delay_us)
            }
        })
    }

    /// The next snapshot; `None` at the end of a replay.
    pub fn collect(&mut self) -> Result<Option<Snapshot>> {
        Ok(match self {
            Source::Module(p, only, ring) => Some(collect(p, only.as_deref(), ring)?),
            Source::Procfs(w, period_us) => Some(collect_procfs(w, *period_us)?),
            Source::Replay(r) => r.next_snapshot(),
        })
    }

    /// Whether a batch run should stop: every watched process is gone.
    pub fn exhausted(&self) -> bool {
        match self {
            Source::Procfs(w, _) => w.pids().is_empty(),
            _ => false,
        }
    }
}

/// Opens the device; without the module, the error says how to do
/// without it.
fn open_module(cli: &TopCli) -> Result<Profiler> {
    crate::open(&cli.device).map_err(|e| match e {
        ToolError::Lib(Error::ModuleNotLoaded { .. }) if !e.to_string().contains("--backend") => {
            ToolError::Msg(format!(
                "{e}; or watch processes from /proc without the module: \
                 pfprof-top --backend procfs -p PID"
            ))
        }
        e => e,
    })
}

/// Runs `pfprof-top`: the screen when stdout is a terminal (and not -b),
/// batch output otherwise. Messages about skipped pids go to stderr.
pub fn run(cli: &TopCli, out: &mut impl Write) -> Result<u8> {
    let mut source = Source::open(cli, &mut std::io::stderr())?;
    let signals = wait::Signals::install()?;
    if cli.batch || !std::io::stdout().is_terminal() {
        batch::run(cli, &mut source, &signals, out)
    } else {
        screen::run(cli, &mut source, &signals)
    }
}

/// The seconds in `d`, for the outputs.
pub fn secs(ns: u64) -> f64 {
    Duration::from_nanos(ns).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn pid(n: i32) -> Pid {
        Pid::new(n).unwrap()
    }

    pub(crate) fn snap(at_ns: u64, procs: &[(i32, &str, u64, u64, u64)]) -> Snapshot {
        Snapshot {
            at_ns,
            wall: SystemTime::UNIX_EPOCH + Duration::from_nanos(at_ns),
            state: State::Running,
            period_us: 50_000,
            origin: Origin::Module,
            memory: procs
                .iter()
                .map(|&(p, _, min, _, _)| {
                    let mut m = Footprint::default();
                    // Fixture memory: the minor faults in pages.
                    m.rss_anon_bytes = min * 4096;
                    m.swap_bytes = min;
                    (pid(p), m)
                })
                .collect(),
            procs: procs
                .iter()
                .map(|&(p, c, min, maj, cpu)| {
                    (
                        ProcStats::fixture(pid(p), min, maj, cpu, 10 * S),
                        c.to_owned(),
                    )
                })
                .collect(),
            roots: BTreeMap::new(),
            departed: Vec::new(),
            exiting: BTreeSet::new(),
            trees: None,
        }
    }

    #[test]
    fn rates_over_the_interval() {
        let a = snap(20 * S, &[(7, "work", 1000, 0, S)]);
        let b = snap(22 * S, &[(7, "work", 3000, 4, 2 * S)]);
        let rows = model(Some(&a), &b, SortKey::Faults);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].minflt_per_s, Some(1000.0));
        assert_eq!(rows[0].majflt_per_s, Some(2.0));
        assert_eq!(rows[0].cpu_percent, Some(50.0));
        assert_eq!(rows[0].total_faults, 3004);
        assert_eq!(rows[0].registered_for_ns, 12 * S);
    }

    #[test]
    fn first_frame_averages_since_registration() {
        let b = snap(20 * S, &[(7, "work", 3000, 0, 5 * S)]);
        let rows = model(None, &b, SortKey::Faults);
        assert_eq!(rows[0].minflt_per_s, Some(300.0));
        assert_eq!(rows[0].cpu_percent, Some(50.0));
    }

    #[test]
    fn first_procfs_frame_has_no_rates_instead_of_zeros() {
        let mut b = snap(20 * S, &[(7, "work", 3000, 0, 5 * S)]);
        b.origin = Origin::Procfs;
        let rows = model(None, &b, SortKey::Faults);
        assert_eq!(rows[0].minflt_per_s, None);
        assert_eq!(rows[0].cpu_percent, None);
        assert_eq!(rows[0].total_faults, 3000);
    }

    #[test]
    fn a_counter_going_backwards_gives_no_rate() {
        let a = snap(20 * S, &[(7, "work", 5000, 3, S)]);
        let b = snap(21 * S, &[(7, "work", 10, 3, 2 * S)]);
        let rows = model(Some(&a), &b, SortKey::Faults);
        assert_eq!(rows[0].minflt_per_s, None);
        assert_eq!(rows[0].majflt_per_s, Some(0.0));
        assert_eq!(rows[0].cpu_percent, Some(100.0));
    }

    #[test]
    fn sort_keys_and_reverse() {
        let b = snap(
            20 * S,
            &[
                (3, "b", 10, 0, 9 * S),
                (1, "c", 500, 1, 0),
                (2, "a", 100, 0, S),
            ],
        );
        let order = |k, rev| {
            let mut rows = model(None, &b, k);
            sort_rows(&mut rows, k, rev);
            rows.iter().map(|r| r.pid.as_raw()).collect::<Vec<_>>()
        };
        assert_eq!(order(SortKey::Pid, false), [1, 2, 3]);
        assert_eq!(order(SortKey::Command, false), [2, 3, 1]);
        assert_eq!(order(SortKey::Faults, false), [1, 2, 3]);
        assert_eq!(order(SortKey::Cpu, false), [3, 2, 1]);
        assert_eq!(order(SortKey::Majflt, false), [1, 2, 3]);
        assert_eq!(order(SortKey::Pid, true), [3, 2, 1]);
        assert_eq!(order(SortKey::Cpu, true), [1, 2, 3]);
        assert_eq!(SortKey::Since.next(), SortKey::Pid);
    }

    #[test]
    fn titles_name_the_source() {
        let b = snap(20 * S, &[(7, "work", 1, 0, 0)]);
        assert_eq!(
            describe(&b, 1),
            "1 registered, sampler running, period 50.00ms"
        );
        let mut p = b.clone();
        p.origin = Origin::Procfs;
        assert_eq!(
            describe(&p, 1),
            "1 watched [procfs backend, module not used]"
        );
    }

    #[test]
    fn the_procfs_backend_reads_this_process() {
        let mut w = Watch::new();
        w.add(Pid::this()).unwrap();
        let snap = collect_procfs(&mut w, 1_000_000).unwrap();
        assert_eq!(snap.procs.len(), 1);
        assert_eq!(snap.procs[0].0.pid, Pid::this());
        assert_eq!(snap.origin, Origin::Procfs);
    }
}
