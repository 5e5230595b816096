//! `monitor`: the profile buffer as text.

use std::io::Write;
use std::time::Duration;

use libpfprof::classic::{self, Consumer, Follower, Sample};
use libpfprof::ext::{Record, RecordFlags};
use libpfprof::procfs::{self, Watch};
use libpfprof::{Profiler, State};

use crate::cli::{Backend, MonitorCli};
use crate::format::{self, Format};
use crate::signal;
use crate::Result;

/// What was printed, for the summary on stderr.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Samples (or records) printed.
    pub samples: u64,
    /// Jiffies of the first and last printed.
    pub jiffies: Option<(u64, u64)>,
    /// Minor faults over what was printed (per-process: excluding totals).
    pub minor_faults: u64,
    /// Major faults, likewise.
    pub major_faults: u64,
    /// CPU time, likewise, in nanoseconds.
    pub cpu_ns: u64,
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
        self.minor_faults += s.minor_faults;
        self.major_faults += s.major_faults;
        self.cpu_ns += s.cpu_ns;
    }

    /// Accounts one extended record (totals records only count as printed).
    pub fn add_record(&mut self, r: &Record) {
        self.samples += 1;
        self.span(r.jiffies);
        if !r.flags.contains(RecordFlags::TOTAL) {
            self.minor_faults += r.minor_faults;
            self.major_faults += r.major_faults;
            self.cpu_ns += r.cpu_ns;
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
            format::thousands(s.minor_faults),
            format::thousands(s.major_faults),
            format::duration_ns(s.cpu_ns)
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
        format::write_profile_header(out, st.hz, st.period_us)?;
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
    format: Format,
    samples: &[Sample],
    summary: &mut Summary,
) -> Result<()> {
    for s in samples {
        format::write_sample(out, format, s)?;
        summary.add_sample(s);
    }
    Ok(())
}

fn samples(
    cli: &MonitorCli,
    p: &Profiler,
    out: &mut impl Write,
    summary: &mut Summary,
) -> Result<()> {
    format::write_sample_header(out, cli.format)?;
    if cli.consume {
        let mut ring = p.map_classic(true)?;
        let mut consumer = Consumer::new();
        let mut watch = StopWatch::default();
        loop {
            let (stop, interval) = if cli.follow {
                watch.check(p)?
            } else {
                (true, Duration::ZERO)
            };
            emit_samples(out, cli.format, &consumer.consume(&mut ring), summary)?;
            if stop {
                return Ok(());
            }
            out.flush()?;
            std::thread::sleep(interval);
        }
    }
    let ring = p.map_classic(false)?;
    if !cli.follow {
        return emit_samples(out, cli.format, &classic::snapshot(&ring), summary);
    }
    let mut follower = Follower::new();
    let mut watch = StopWatch::default();
    loop {
        let (stop, interval) = watch.check(p)?;
        emit_samples(out, cli.format, &follower.poll(&ring), summary)?;
        if stop {
            return Ok(());
        }
        out.flush()?;
        std::thread::sleep(interval);
    }
}

fn per_process(
    cli: &MonitorCli,
    p: &Profiler,
    out: &mut impl Write,
    summary: &mut Summary,
) -> Result<()> {
    format::write_record_header(out, cli.format)?;
    let region = p.map_extended()?;
    let mut stream = p.stream_since_reset(&region)?;
    let mut watch = StopWatch::default();
    loop {
        let (stop, interval) = if cli.follow {
            watch.check(p)?
        } else {
            (true, Duration::ZERO)
        };
        let batch = stream.poll(&region)?;
        for r in &batch.records {
            format::write_record(out, cli.format, r)?;
            summary.add_record(r);
        }
        summary.lost += batch.lost;
        if stop {
            return Ok(());
        }
        out.flush()?;
        std::thread::sleep(interval);
    }
}

/// `--backend procfs`: reads /proc every period, on absolute deadlines,
/// until every watched process is gone or Ctrl-C, and prints per-process
/// records like the module's (jiffies are milliseconds: HZ 1000).
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
        writeln!(
            out,
            "# pfprof hz=1000 period_us={} backend=procfs",
            cli.period
        )?;
    }
    format::write_record_header(out, cli.format)?;
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
        let t = libpfprof::monotonic_now_ns();
        let jiffies = t / 1_000_000;
        for c in &collected {
            let r = c.record(seq, t, jiffies);
            seq += 1;
            format::write_record(out, cli.format, &r)?;
            summary.add_record(&r);
        }
        let r = procfs::totals_record(&collected, seq, t, jiffies);
        seq += 1;
        format::write_record(out, cli.format, &r)?;
        summary.add_record(&r);
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
            s.add_sample(&Sample {
                jiffies: j,
                minor_faults: min,
                major_faults: 1,
                cpu_ns: 2_000_000,
            });
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
