//! `monitor`: the profile buffer as text.
//!
//! Collects from the module (or /proc) and writes with pfprof-profile's
//! writers, so every line is one the profile readers parse.

use std::io::Write;
use std::time::Duration;

use libpfprof::classic::{Consumer, Follower, Sample};
use libpfprof::ext::{Record, RecordFlags};
use libpfprof::procfs::{self, Watch};
use libpfprof::{Counters, Profiler, State};
use pfprof_profile::{self as profile, Header, ProcRecord};

use crate::cli::{Backend, MonitorCli};
use crate::format;
use crate::signal;
use crate::Result;

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

/// How often to look for new data: half a period, within 5..250 ms.
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

/// The one poll loop of the module backend: `round` writes what is new.
/// Without `follow`, one round; with it, a round every poll interval until
/// Ctrl-C or until profiling ran and stopped (the last round comes after
/// that is seen, so nothing written before is missed).
fn poll<W: Write>(
    p: &Profiler,
    follow: bool,
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
        std::thread::sleep(interval);
    }
}

/// Runs `monitor`: data to `out`, the summary to `err`.
pub fn run(cli: &MonitorCli, out: &mut impl Write, err: &mut impl Write) -> Result<u8> {
    if cli.backend.backend == Backend::Procfs {
        return procfs(cli, out, err);
    }
    let p = crate::open(&cli.device)?;
    if cli.follow {
        signal::catch_interrupts()?;
    }
    let status = if cli.header {
        let st = p.query()?;
        let header = Header {
            hz: Some(st.hz),
            period_us: Some(st.period_us),
            ..Header::default()
        };
        profile::write_header(out, &header)?;
        Some(st)
    } else {
        p.query().ok()
    };
    let mut summary = Summary {
        hz: status.as_ref().map(|s| s.hz),
        per_process: cli.per_process,
        ..Summary::default()
    };
    if cli.per_process {
        per_process(cli, &p, out, &mut summary)?;
    } else {
        samples(cli, &p, out, &mut summary)?;
    }
    out.flush()?;
    render_summary(err, &summary)?;
    Ok(0)
}

fn emit_samples(
    out: &mut impl Write,
    format: profile::Format,
    samples: &[Sample],
    summary: &mut Summary,
) -> Result<()> {
    for s in samples {
        profile::write_sample(out, format, s)?;
        summary.add_sample(s);
    }
    Ok(())
}

fn emit_record(
    out: &mut impl Write,
    format: profile::Format,
    r: &Record,
    summary: &mut Summary,
) -> Result<()> {
    profile::write_record(out, format, &ProcRecord::from(r))?;
    summary.add_record(r);
    Ok(())
}

fn samples(
    cli: &MonitorCli,
    p: &Profiler,
    out: &mut impl Write,
    summary: &mut Summary,
) -> Result<()> {
    let format = cli.format.into();
    profile::write_sample_header(out, format)?;
    if cli.consume {
        let mut ring = p.map_classic(true)?;
        let mut consumer = Consumer::new();
        poll(p, cli.follow, out, |out| {
            emit_samples(out, format, &consumer.consume(&mut ring), summary)
        })
    } else {
        // The first poll of a follower is a snapshot of the whole ring.
        let ring = p.map_classic(false)?;
        let mut follower = Follower::new();
        poll(p, cli.follow, out, |out| {
            emit_samples(out, format, &follower.poll(&ring), summary)
        })
    }
}

fn per_process(
    cli: &MonitorCli,
    p: &Profiler,
    out: &mut impl Write,
    summary: &mut Summary,
) -> Result<()> {
    let format = cli.format.into();
    profile::write_record_header(out, format, true)?;
    let region = p.map_extended()?;
    let mut stream = p.stream_since_reset(&region)?;
    poll(p, cli.follow, out, |out| {
        let batch = stream.poll(&region)?;
        for r in &batch.records {
            emit_record(out, format, r, summary)?;
        }
        summary.lost += batch.lost;
        Ok(())
    })
}

/// `--backend procfs`: reads /proc every period, on absolute deadlines,
/// until every watched process is gone or Ctrl-C, and prints per-process
/// records like the module's. The backend has no jiffies: records carry
/// CLOCK_MONOTONIC milliseconds (`time_ms`) where the module puts jiffies,
/// and the header says HZ 1000.
fn procfs(cli: &MonitorCli, out: &mut impl Write, err: &mut impl Write) -> Result<u8> {
    let mut watch = Watch::new();
    for &pid in &cli.backend.pids {
        watch.add(pid)?;
    }
    signal::catch_interrupts()?;
    writeln!(
        err,
        "monitor: procfs backend (the module is not used): polling /proc/PID/stat and \
         schedstat of {} process(es) every {}",
        cli.backend.pids.len(),
        format::duration_ns(u64::from(cli.period) * 1000)
    )?;
    if cli.header {
        let header = Header {
            hz: Some(1000),
            period_us: Some(cli.period),
            backend: Some(profile::Backend::Procfs),
            ..Header::default()
        };
        profile::write_header(out, &header)?;
    }
    let format = cli.format.into();
    profile::write_record_header(out, format, true)?;
    let mut summary = Summary {
        hz: Some(1000),
        per_process: true,
        backend: Backend::Procfs,
        ..Summary::default()
    };
    let period = Duration::from_micros(u64::from(cli.period));
    let mut next = std::time::Instant::now() + period;
    let mut seq = 0u64;
    while !watch.pids().is_empty() && !signal::interrupted() {
        let now = std::time::Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        next += period;
        let collected = watch.collect()?;
        let time_ns = libpfprof::monotonic_now_ns();
        let time_ms = time_ns / 1_000_000;
        for c in &collected {
            emit_record(out, format, &c.record(seq, time_ns, time_ms), &mut summary)?;
            seq += 1;
        }
        let total = procfs::totals_record(&collected, seq, time_ns, time_ms);
        emit_record(out, format, &total, &mut summary)?;
        seq += 1;
        out.flush()?;
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
