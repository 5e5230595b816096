//! `monitor`: the profile buffer as text.
//!
//! Collects from the module (or /proc) and writes with pfprof-profile's
//! writers, so every line is one the profile readers parse.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use libpfprof::classic::{Consumer, Follower, Sample};
use libpfprof::ext::{Record, RecordFlags};
use libpfprof::procfs::{self, Watch};
use libpfprof::{Counters, Pid, Profiler, State};
use pfprof_profile::{self as profile, Header, ProcRecord, Stamp};

use crate::cli::{Backend, MonitorCli};
use crate::format;
use crate::pids;
use crate::signal::{self, Signals, Wake};
use crate::{Result, ToolError};

/// What was printed, for the summary on stderr.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Samples (or records) printed.
    pub samples: u64,
    /// Jiffies of the first and last printed.
    pub jiffies: Option<(u64, u64)>,
    /// The counters over what was printed (per-process: excluding totals).
    pub counters: Counters,
    /// Extended records lost (per-process mode).
    pub lost: u64,
    /// The kernel's HZ, if known.
    pub hz: Option<u32>,
    /// Whether these are per-process records.
    pub per_process: bool,
    /// Where they came from.
    pub backend: Backend,
}

impl Summary {
    fn span(&mut self, jiffies: u64) {
        self.jiffies = Some(match self.jiffies {
            None => (jiffies, jiffies),
            Some((first, _)) => (first, jiffies),
        });
    }

    /// Accounts one classic sample.
    pub fn add_sample(&mut self, s: &Sample) {
        self.samples += 1;
        self.span(s.jiffies);
        self.counters = self.counters.saturating_add(s.counters);
    }

    /// Accounts one extended record (totals records only count as printed).
    pub fn add_record(&mut self, r: &Record) {
        self.samples += 1;
        self.span(r.jiffies);
        if !r.flags.contains(RecordFlags::TOTAL) {
            self.counters = self.counters.saturating_add(r.counters);
        }
    }
}

/// Writes the summary line (the classic trailer, with totals).
pub fn render_summary(w: &mut impl Write, s: &Summary) -> std::io::Result<()> {
    let what = if s.per_process {
        "records"
    } else {
        "profiled data"
    };
    let label = match s.backend {
        Backend::Module => "",
        Backend::Procfs => " [procfs backend]",
    };
    write!(w, "monitor{label}: read {} {what}", s.samples)?;
    if let Some((first, last)) = s.jiffies {
        write!(w, " (jiffies {first}..{last}")?;
        if let Some(hz) = s.hz.filter(|h| *h > 0) {
            let ns = last.saturating_sub(first).saturating_mul(1_000_000_000) / u64::from(hz);
            write!(w, " = {} at HZ {hz}", format::duration_ns(ns))?;
        }
        write!(
            w,
            "): {} minor faults, {} major faults, {} CPU",
            format::thousands(s.counters.minor),
            format::thousands(s.counters.major),
            format::duration_ns(s.counters.cpu_ns)
        )?;
    }
    if s.lost > 0 {
        write!(w, "; {} records lost", format::thousands(s.lost))?;
    }
    writeln!(w)
}

/// How often to look for new data: half a period, within 5..250 ms (the
/// wait ends at once on SIGINT or SIGTERM).
fn poll_interval(period_us: u32) -> Duration {
    Duration::from_micros(u64::from(period_us / 2))
        .clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// When `--follow` should stop: on Ctrl-C, or once profiling ran and stopped.
#[derive(Debug, Default)]
struct StopWatch {
    seen_running: bool,
}

impl StopWatch {
    /// Returns (stop now, poll interval).
    fn check(&mut self, p: &Profiler) -> Result<(bool, Duration)> {
        let st = p.query()?;
        let running = st.state == State::Running;
        self.seen_running |= running;
        Ok((
            signal::interrupted() || (self.seen_running && !running),
            poll_interval(st.period_us),
        ))
    }
}

/// The wall-clock stamps of CSV and JSON lines (classic lines have none).
///
/// A record's time is its CLOCK_MONOTONIC `time_ns`, turned into wall-clock
/// time by the offset between the two clocks when monitor started. A
/// classic sample has only jiffies: they are placed by their jiffies and HZ
/// from an anchor, the newest record of the extended ring (which carries
/// both clocks, written at the same ticks), or, without one, the newest
/// sample of the first batch read, taken as read at that moment.
/// `elapsed_s` counts from the first line's sample.
#[derive(Debug)]
struct Stamper {
    on: bool,
    wall0: SystemTime,
    mono0_ns: u64,
    first_ns: Option<u64>,
    hz: Option<u32>,
    anchor: Option<(u64, u64)>,
}

impl Stamper {
    fn new(format: profile::Format, hz: Option<u32>) -> Stamper {
        Stamper {
            on: format != profile::Format::Classic,
            wall0: SystemTime::now(),
            mono0_ns: libpfprof::monotonic_now_ns(),
            first_ns: None,
            hz,
            anchor: None,
        }
    }

    /// Anchors the jiffies of classic samples at the newest record of the
    /// extended ring: its (jiffies, CLOCK_MONOTONIC ns).
    fn anchor_at_ring(&mut self, p: &Profiler) {
        let newest = || -> libpfprof::Result<Option<(u64, u64)>> {
            let region = p.map_extended()?;
            let head = libpfprof::ext::header(&region)?.head;
            let mut stream = libpfprof::ext::Stream::starting_at(&region, head.saturating_sub(1))?;
            Ok(stream
                .poll(&region)?
                .records
                .last()
                .map(|r| (r.jiffies, r.time_ns)))
        };
        if self.on {
            self.anchor = newest().ok().flatten();
        }
    }

    /// The stamp of a sample taken at CLOCK_MONOTONIC `mono_ns`.
    fn at(&mut self, mono_ns: u64) -> Option<Stamp> {
        if !self.on {
            return None;
        }
        let first = *self.first_ns.get_or_insert(mono_ns);
        let time = if mono_ns >= self.mono0_ns {
            self.wall0 + Duration::from_nanos(mono_ns - self.mono0_ns)
        } else {
            self.wall0 - Duration::from_nanos(self.mono0_ns - mono_ns)
        };
        Some(Stamp {
            time,
            elapsed_s: (mono_ns as f64 - first as f64) / 1e9,
        })
    }

    /// The stamps of a batch of classic samples, in order.
    fn samples(&mut self, samples: &[Sample]) -> Vec<Option<Stamp>> {
        let hz = self.hz.filter(|h| *h > 0);
        if let (None, Some(last)) = (self.anchor, samples.last()) {
            self.anchor = Some((last.jiffies, libpfprof::monotonic_now_ns()));
        }
        samples
            .iter()
            .map(|s| {
                let (j0, m0) = self.anchor?;
                let ns = (i128::from(s.jiffies) - i128::from(j0)) * 1_000_000_000 / i128::from(hz?);
                let mono = u64::try_from(i128::from(m0) + ns).unwrap_or(0);
                self.at(mono)
            })
            .collect()
    }
}

/// The command names of `--header`: those of the processes known at the
/// start go into the header; a process first seen later gets its own line
/// (or JSON object) before its first record.
#[derive(Debug)]
struct Names {
    on: bool,
    format: profile::Format,
    known: BTreeSet<i32>,
}

impl Names {
    fn new(on: bool, format: profile::Format) -> Names {
        Names {
            on,
            format,
            known: BTreeSet::new(),
        }
    }

    /// The command names of `pids` for the header (those still alive).
    fn initial(&mut self, pids: &[Pid]) -> BTreeMap<i32, String> {
        if !self.on {
            return BTreeMap::new();
        }
        let mut m = BTreeMap::new();
        for &pid in pids {
            self.known.insert(pid.as_raw());
            if let Some(name) = pids::comm(pid) {
                m.insert(pid.as_raw(), name);
            }
        }
        m
    }

    /// Writes the name of `pid` if it is new.
    fn see(&mut self, out: &mut impl Write, pid: i32) -> std::io::Result<()> {
        if !self.on || pid <= 0 || !self.known.insert(pid) {
            return Ok(());
        }
        let Some(name) = Pid::new(pid).and_then(pids::comm) else {
            return Ok(());
        };
        let h = Header {
            commands: [(pid, name)].into(),
            ..Header::default()
        };
        profile::write_header_as(out, self.format, &h)
    }
}

/// The one poll loop of the module backend: `round` writes what is new.
/// Without `follow`, one round; with it, a round every poll interval until
/// SIGINT or SIGTERM or until profiling ran and stopped (the last round
/// comes after that is seen, so nothing written before is missed: on a
/// signal, the records of the partial interval are printed).
fn poll<W: Write>(
    p: &Profiler,
    follow: bool,
    signals: &Signals,
    out: &mut W,
    mut round: impl FnMut(&mut W) -> Result<()>,
) -> Result<()> {
    let mut watch = StopWatch::default();
    loop {
        let (stop, interval) = if follow {
            watch.check(p)?
        } else {
            (true, Duration::ZERO)
        };
        round(out)?;
        if stop {
            return Ok(());
        }
        out.flush()?;
        signals.wait(interval);
    }
}

/// The columns of monitor's per-process CSV: the memory and the tree root
/// (the procfs backend has no trees: 0), and the stamp's.
fn record_columns(stamped: bool) -> profile::RecordColumns {
    profile::RecordColumns {
        memory: true,
        tree_root: true,
        stamped,
    }
}

/// How `monitor` reads /proc instead of the module.
const PROCFS_HOW: &str = "monitor --backend procfs --per-process -p PID";

/// Runs `monitor`: data to `out`, the summary and messages to `err`.
pub fn run(cli: &MonitorCli, out: &mut impl Write, err: &mut impl Write) -> Result<u8> {
    let signals = signal::catch_interrupts()?;
    if cli.backend.backend == Backend::Procfs {
        let alive = pids::resolve_alive("monitor", &cli.backend.pids, err)?;
        return procfs(cli, &alive, &signals, out, err);
    }
    // The ring keeps the records of processes that have exited: a pid that
    // is not alive still selects those.
    let only = if cli.backend.pids.is_empty() {
        None
    } else {
        Some(pids::resolve_keeping_dead(
            "monitor",
            &cli.backend.pids,
            err,
        )?)
    };
    if only.is_some() && !cli.per_process {
        return Err(ToolError::Msg(
            "-p/--pid needs --per-process with the module (the classic ring holds sums \
             over every registered process)"
                .to_owned(),
        ));
    }
    let p = crate::open_or_procfs(&cli.device, PROCFS_HOW)?;
    let status = p.query()?;
    let format: profile::Format = cli.format.into();
    let mut names = Names::new(cli.header, format);
    if cli.header {
        let registered: Vec<Pid> = p
            .list()?
            .into_iter()
            .filter(|pid| only.as_ref().map_or(true, |o| o.contains(pid)))
            .collect();
        let header = Header {
            hz: Some(status.hz),
            period_us: Some(status.period_us),
            commands: names.initial(&registered),
            ..Header::default()
        };
        profile::write_header_as(out, format, &header)?;
    }
    let mut summary = Summary {
        hz: Some(status.hz),
        per_process: cli.per_process,
        ..Summary::default()
    };
    let mut stamper = Stamper::new(format, Some(status.hz));
    let mut ctx = Ctx {
        format,
        summary: &mut summary,
        stamper: &mut stamper,
        names: &mut names,
        only: only.as_deref(),
    };
    if cli.per_process {
        per_process(cli, &p, &signals, out, &mut ctx)?;
    } else {
        samples(cli, &p, &signals, out, &mut ctx)?;
    }
    out.flush()?;
    render_summary(err, &summary)?;
    Ok(0)
}

/// What the writers of one run share.
struct Ctx<'a> {
    format: profile::Format,
    summary: &'a mut Summary,
    stamper: &'a mut Stamper,
    names: &'a mut Names,
    /// With -p: only these processes' records (and the totals).
    only: Option<&'a [Pid]>,
}

fn emit_samples(out: &mut impl Write, samples: &[Sample], ctx: &mut Ctx<'_>) -> Result<()> {
    let stamps = ctx.stamper.samples(samples);
    for (s, st) in samples.iter().zip(stamps) {
        profile::write_sample_stamped(out, ctx.format, s, st.as_ref())?;
        ctx.summary.add_sample(s);
    }
    Ok(())
}

fn emit_record(out: &mut impl Write, r: &Record, ctx: &mut Ctx<'_>) -> Result<()> {
    if let (Some(only), Some(pid)) = (ctx.only, r.pid) {
        if !only.contains(&pid) {
            return Ok(());
        }
    }
    let pr = ProcRecord::from(r);
    ctx.names.see(out, pr.pid)?;
    let st = ctx.stamper.at(r.time_ns);
    profile::write_record_stamped(out, ctx.format, &pr, st.as_ref())?;
    ctx.summary.add_record(r);
    Ok(())
}

fn samples(
    cli: &MonitorCli,
    p: &Profiler,
    signals: &Signals,
    out: &mut impl Write,
    ctx: &mut Ctx<'_>,
) -> Result<()> {
    profile::write_sample_header_stamped(out, ctx.format, ctx.stamper.on)?;
    ctx.stamper.anchor_at_ring(p);
    if cli.consume {
        let mut ring = p.map_classic(true)?;
        let mut consumer = Consumer::new();
        poll(p, cli.follow, signals, out, |out| {
            emit_samples(out, &consumer.consume(&mut ring), ctx)
        })
    } else {
        // The first poll of a follower is a snapshot of the whole ring.
        let ring = p.map_classic(false)?;
        let mut follower = Follower::new();
        poll(p, cli.follow, signals, out, |out| {
            emit_samples(out, &follower.poll(&ring), ctx)
        })
    }
}

fn per_process(
    cli: &MonitorCli,
    p: &Profiler,
    signals: &Signals,
    out: &mut impl Write,
    ctx: &mut Ctx<'_>,
) -> Result<()> {
    profile::write_record_header_with(out, ctx.format, record_columns(ctx.stamper.on))?;
    let region = p.map_extended()?;
    let mut stream = p.stream_since_reset(&region)?;
    poll(p, cli.follow, signals, out, |out| {
        let batch = stream.poll(&region)?;
        for r in &batch.records {
            emit_record(out, r, ctx)?;
        }
        ctx.summary.lost += batch.lost;
        Ok(())
    })
}

/// `--backend procfs`: reads /proc every period, on absolute deadlines,
/// until every watched process is gone or SIGINT/SIGTERM (which end the
/// wait at once; the partial interval since the last reading is read and
/// printed first), and prints per-process records like the module's. The
/// backend has no jiffies: records carry CLOCK_MONOTONIC milliseconds
/// (`time_ms`) where the module puts jiffies, and the header says HZ 1000.
fn procfs(
    cli: &MonitorCli,
    pids: &[Pid],
    signals: &Signals,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<u8> {
    let mut watch = Watch::new();
    for &pid in pids {
        match watch.add(pid) {
            Ok(()) => {}
            Err(libpfprof::Error::NoSuchProcess { .. }) => {
                writeln!(err, "monitor: process {pid} is gone, skipped")?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if watch.pids().is_empty() {
        return Err(ToolError::Msg(
            "none of the processes given with -p/--pid is alive".to_owned(),
        ));
    }
    writeln!(
        err,
        "monitor: procfs backend (the module is not used): polling /proc/PID/stat and \
         schedstat of {} process(es) every {}",
        watch.pids().len(),
        format::duration_ns(u64::from(cli.period) * 1000)
    )?;
    let format: profile::Format = cli.format.into();
    let mut names = Names::new(cli.header, format);
    if cli.header {
        let header = Header {
            hz: Some(1000),
            period_us: Some(cli.period),
            backend: Some(profile::Backend::Procfs),
            commands: names.initial(&watch.pids()),
            ..Header::default()
        };
        profile::write_header_as(out, format, &header)?;
    }
    let mut stamper = Stamper::new(format, Some(1000));
    profile::write_record_header_with(out, format, record_columns(stamper.on))?;
    let mut summary = Summary {
        hz: Some(1000),
        per_process: true,
        backend: Backend::Procfs,
        ..Summary::default()
    };
    let mut ctx = Ctx {
        format,
        summary: &mut summary,
        stamper: &mut stamper,
        names: &mut names,
        only: None,
    };
    let period = Duration::from_micros(u64::from(cli.period));
    let mut next = Instant::now() + period;
    let mut seq = 0u64;
    loop {
        let wake = signals.wait_until(next);
        let now = Instant::now();
        next += period;
        if next < now {
            // Far behind (a stopped process): start again from now.
            next = now + period;
        }
        let collected = watch.collect()?;
        let time_ns = libpfprof::monotonic_now_ns();
        let time_ms = time_ns / 1_000_000;
        for c in &collected {
            emit_record(out, &c.record(seq, time_ns, time_ms), &mut ctx)?;
            seq += 1;
        }
        let total = procfs::totals_record(&collected, seq, time_ns, time_ms);
        emit_record(out, &total, &mut ctx)?;
        seq += 1;
        out.flush()?;
        if wake == Wake::Interrupted || watch.pids().is_empty() {
            break;
        }
    }
    render_summary(err, &summary)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary_text(s: &Summary) -> String {
        let mut v = Vec::new();
        render_summary(&mut v, s).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn summary_of_nothing_is_the_classic_trailer() {
        assert_eq!(
            summary_text(&Summary::default()),
            "monitor: read 0 profiled data\n"
        );
        let procfs = Summary {
            backend: Backend::Procfs,
            per_process: true,
            ..Summary::default()
        };
        assert_eq!(
            summary_text(&procfs),
            "monitor [procfs backend]: read 0 records\n"
        );
    }

    #[test]
    fn summary_sums_samples_and_converts_jiffies() {
        let mut s = Summary {
            hz: Some(1000),
            ..Summary::default()
        };
        for (j, min) in [(1000, 5), (1050, 7), (1100, 1_000)] {
            s.add_sample(&Sample::new(j, Counters::new(min, 1, 2_000_000)));
        }
        assert_eq!(
            summary_text(&s),
            "monitor: read 3 profiled data (jiffies 1000..1100 = 100.00ms at HZ 1000): \
             1,012 minor faults, 3 major faults, 6.00ms CPU\n"
        );
    }

    #[test]
    fn per_process_summary_skips_totals_and_reports_losses() {
        use libpfprof::ext::{fixture, Stream};
        let buf = fixture::region(&[fixture::record(0, 0, 10, 5), fixture::record(1, 42, 7, 3)]);
        let mut stream = Stream::from_oldest(&buf[..]).unwrap();
        let mut s = Summary {
            per_process: true,
            lost: 2,
            ..Summary::default()
        };
        for r in &stream.poll(&buf[..]).unwrap().records {
            s.add_record(r);
        }
        assert_eq!(
            summary_text(&s),
            "monitor: read 2 records (jiffies 4294937296..4294937346): 7 minor faults, \
             0 major faults, 3ns CPU; 2 records lost\n"
        );
    }

    #[test]
    fn poll_interval_is_half_a_period_within_bounds() {
        assert_eq!(poll_interval(50_000), Duration::from_millis(25));
        assert_eq!(poll_interval(1_000), Duration::from_millis(5));
        assert_eq!(poll_interval(10_000_000), Duration::from_millis(250));
    }
}
