//! `pfprof-top`: collect per-process counters, derive rates, render a table.

use std::cmp::Ordering;
use std::io::Write;

use libpfprof::procfs::Watch;
use libpfprof::{Counters, Error, Pid, ProcStats, Profiler, State};
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use crate::cli::{Backend, SortKey};
use crate::format;
use crate::Result;

/// One collection: every registered process's counters at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// CLOCK_MONOTONIC at collection, in nanoseconds.
    pub at_ns: u64,
    /// The sampler's state.
    pub state: State,
    /// The sampling period in microseconds.
    pub period_us: u32,
    /// The processes: counters and command name.
    pub procs: Vec<(ProcStats, String)>,
    /// Where the figures came from.
    pub backend: Backend,
}

/// The command name of a process (`/proc/PID/comm`), or `?`.
fn comm(pid: Pid) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Collects a snapshot (a process that goes away meanwhile is skipped).
pub fn collect(p: &Profiler) -> Result<Snapshot> {
    let status = p.query()?;
    let mut procs = Vec::new();
    for pid in p.list()? {
        match p.query_pid(pid) {
            Ok(s) => procs.push((s, comm(pid))),
            Err(Error::NotRegistered { .. } | Error::NoSuchProcess { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Snapshot {
        at_ns: libpfprof::monotonic_now_ns(),
        state: status.state,
        period_us: status.period_us,
        procs,
        backend: Backend::Module,
    })
}

/// Collects a snapshot from /proc (`--backend procfs`); a process that is
/// gone is dropped. `period_us` is the refresh delay.
pub fn collect_procfs(watch: &mut Watch, period_us: u32) -> Result<Snapshot> {
    let procs = watch
        .collect()?
        .into_iter()
        .filter(|c| !c.exited)
        .map(|c| (c.stats, c.comm))
        .collect();
    Ok(Snapshot {
        at_ns: libpfprof::monotonic_now_ns(),
        state: State::Running,
        period_us,
        procs,
        backend: Backend::Procfs,
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
    /// How long it has been registered, in nanoseconds.
    pub registered_for_ns: u64,
}

/// Derives the rows: rates over the interval since `prev` (the first time,
/// since registration); `None` where a counter went backwards (a reset).
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
                registered_for_ns: cur.at_ns.saturating_sub(s.registered_ns),
            }
        })
        .collect();
    // Descending for the figures (unknown last), ascending for pid/command.
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
            SortKey::Since => b.registered_for_ns.cmp(&a.registered_for_ns),
        };
        primary.then(a.pid.cmp(&b.pid))
    });
    rows
}

/// Writes one frame: a summary line and the table.
pub fn render(
    w: &mut impl Write,
    snap: &Snapshot,
    rows: &[Row],
    sort: SortKey,
) -> std::io::Result<()> {
    let period = format::duration_ns(u64::from(snap.period_us) * 1000);
    match snap.backend {
        Backend::Module => writeln!(
            w,
            "pfprof-top: {} registered, sampler {}, period {period}, sorted by {sort:?}",
            rows.len(),
            snap.state,
        )?,
        Backend::Procfs => writeln!(
            w,
            "pfprof-top [procfs backend, module not used]: {} watched, /proc read every \
             {period}, sorted by {sort:?}",
            rows.len(),
        )?,
    }
    let mut b = Builder::default();
    b.push_record([
        "PID", "COMMAND", "MINFLT/s", "MAJFLT/s", "FAULTS", "CPU%", "SINCE",
    ]);
    for r in rows {
        b.push_record([
            r.pid.to_string(),
            r.command.clone(),
            format::optional(r.minflt_per_s),
            format::optional(r.majflt_per_s),
            format::thousands(r.total_faults),
            format::optional(r.cpu_percent),
            format::duration_ns(r.registered_for_ns),
        ]);
    }
    let mut table = b.build();
    table
        .with(Style::blank())
        .modify(Columns::new(2..), Alignment::right())
        .modify(Columns::first(), Alignment::right());
    writeln!(w, "{table}")?;
    if rows.is_empty() {
        writeln!(
            w,
            "{}",
            match snap.backend {
                Backend::Module => "(no process registered)",
                Backend::Procfs => "(no watched process left)",
            }
        )?;
    }
    Ok(())
}

/// The interactive terminal: non-canonical input without echo, alternate
/// screen; restored on drop.
mod term {
    use std::io::{self, Write};
    use std::os::fd::AsFd;
    use std::time::Duration;

    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};

    pub struct Raw {
        saved: Option<Termios>,
    }

    impl Raw {
        pub fn enter() -> io::Result<Raw> {
            let stdin = io::stdin();
            let saved = tcgetattr(stdin.as_fd()).ok();
            if let Some(t) = &saved {
                let mut raw = t.clone();
                raw.local_flags
                    .remove(LocalFlags::ICANON | LocalFlags::ECHO);
                tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).map_err(io::Error::from)?;
            }
            print!("\x1b[?1049h\x1b[?25l");
            io::stdout().flush()?;
            Ok(Raw { saved })
        }

        /// Waits up to `timeout` for a key; returns it if one came.
        pub fn key(&self, timeout: Duration) -> Option<u8> {
            let stdin = io::stdin();
            let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
            let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
            let ready = poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            );
            if self.saved.is_none() || !matches!(ready, Ok(n) if n > 0) {
                // Not a terminal (or nothing typed): just wait.
                if self.saved.is_none() {
                    std::thread::sleep(timeout);
                }
                return None;
            }
            let mut b = [0u8; 1];
            match nix::unistd::read(nix::libc::STDIN_FILENO, &mut b) {
                Ok(1) => Some(b[0]),
                _ => None,
            }
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            print!("\x1b[?25h\x1b[?1049l");
            let _ = io::stdout().flush();
            if let Some(t) = &self.saved {
                let _ = tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, t);
            }
        }
    }
}

/// Where `pfprof-top` collects from.
#[derive(Debug)]
enum Source {
    Module(Profiler),
    Procfs(Watch),
}

/// Runs `pfprof-top`.
pub fn run(cli: &crate::cli::TopCli, out: &mut impl Write) -> Result<u8> {
    let mut source = match cli.backend.backend {
        Backend::Module => Source::Module(crate::open(&cli.device)?),
        Backend::Procfs => {
            let mut watch = Watch::new();
            for &pid in &cli.backend.pids {
                watch.add(pid)?;
            }
            Source::Procfs(watch)
        }
    };
    let delay_us = (cli.delay * 1e6).round() as u32;
    crate::signal::catch_interrupts()?;
    let delay = std::time::Duration::from_secs_f64(cli.delay);
    let mut sort = cli.sort;
    let mut prev: Option<Snapshot> = None;
    let raw = if cli.batch {
        None
    } else {
        Some(term::Raw::enter()?)
    };
    let mut n = 0u64;
    loop {
        let snap = match &mut source {
            Source::Module(p) => collect(p)?,
            Source::Procfs(w) => collect_procfs(w, delay_us)?,
        };
        let rows = model(prev.as_ref(), &snap, sort);
        let mut frame = Vec::new();
        render(&mut frame, &snap, &rows, sort)?;
        if raw.is_some() {
            out.write_all(b"\x1b[H\x1b[2J")?;
            out.write_all(&frame)?;
            out.write_all(b"q: quit  s: sort\n")?;
        } else {
            if n > 0 {
                writeln!(out)?;
            }
            out.write_all(&frame)?;
        }
        out.flush()?;
        prev = Some(snap);
        n += 1;
        if cli.iterations.is_some_and(|max| n >= max) || crate::signal::interrupted() {
            return Ok(0);
        }
        match &raw {
            Some(t) => match t.key(delay) {
                Some(b'q' | b'Q') => return Ok(0),
                Some(b's' | b'S') => sort = sort.next(),
                _ => {}
            },
            None => std::thread::sleep(delay),
        }
        if crate::signal::interrupted() {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn pid(n: i32) -> Pid {
        Pid::new(n).unwrap()
    }

    fn snap(at_ns: u64, procs: &[(i32, &str, u64, u64, u64)]) -> Snapshot {
        Snapshot {
            at_ns,
            state: State::Running,
            period_us: 50_000,
            backend: Backend::Module,
            procs: procs
                .iter()
                .map(|&(p, c, min, maj, cpu)| {
                    (
                        ProcStats::fixture(pid(p), min, maj, cpu, 10 * S),
                        c.to_owned(),
                    )
                })
                .collect(),
        }
    }

    fn text(s: &Snapshot, rows: &[Row], sort: SortKey) -> String {
        let mut v = Vec::new();
        render(&mut v, s, rows, sort).unwrap();
        String::from_utf8(v).unwrap()
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
    fn a_counter_going_backwards_gives_no_rate() {
        let a = snap(20 * S, &[(7, "work", 5000, 3, S)]);
        let b = snap(21 * S, &[(7, "work", 10, 3, 2 * S)]);
        let rows = model(Some(&a), &b, SortKey::Faults);
        assert_eq!(rows[0].minflt_per_s, None);
        assert_eq!(rows[0].majflt_per_s, Some(0.0));
        assert_eq!(rows[0].cpu_percent, Some(100.0));
    }

    #[test]
    fn sort_keys() {
        let b = snap(
            20 * S,
            &[
                (3, "b", 10, 0, 9 * S),
                (1, "c", 500, 1, 0),
                (2, "a", 100, 0, S),
            ],
        );
        let order = |k| {
            model(None, &b, k)
                .iter()
                .map(|r| r.pid.as_raw())
                .collect::<Vec<_>>()
        };
        assert_eq!(order(SortKey::Pid), [1, 2, 3]);
        assert_eq!(order(SortKey::Command), [2, 3, 1]);
        assert_eq!(order(SortKey::Faults), [1, 2, 3]);
        assert_eq!(order(SortKey::Cpu), [3, 2, 1]);
        assert_eq!(order(SortKey::Majflt), [1, 2, 3]);
        assert_eq!(SortKey::Since.next(), SortKey::Pid);
    }

    #[test]
    fn renders_a_table() {
        let a = snap(20 * S, &[(7, "work", 1000, 0, S)]);
        let b = snap(22 * S, &[(7, "work", 3000, 4, 2 * S), (12, "sh", 5, 0, 0)]);
        let rows = model(Some(&a), &b, SortKey::Faults);
        let t = text(&b, &rows, SortKey::Faults);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "pfprof-top: 2 registered, sampler running, period 50.00ms, sorted by Faults"
        );
        let cells = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            cells(lines[1]),
            ["PID", "COMMAND", "MINFLT/s", "MAJFLT/s", "FAULTS", "CPU%", "SINCE"]
        );
        assert_eq!(
            cells(lines[2]),
            ["7", "work", "1000.0", "2.0", "3,004", "50.0", "12.00s"]
        );
        assert_eq!(
            cells(lines[3]),
            ["12", "sh", "0.4", "0.0", "5", "0.0", "12.00s"]
        );
    }

    #[test]
    fn renders_with_nothing_registered() {
        let b = Snapshot {
            at_ns: S,
            state: State::Idle,
            period_us: 50_000,
            procs: vec![],
            backend: Backend::Module,
        };
        let t = text(&b, &model(None, &b, SortKey::Pid), SortKey::Pid);
        assert!(t.starts_with("pfprof-top: 0 registered, sampler idle"));
        assert!(t.contains("PID"));
        assert!(t.ends_with("(no process registered)\n"));
    }

    #[test]
    fn the_procfs_backend_is_labelled_and_reads_this_process() {
        let mut w = Watch::new();
        w.add(Pid::this()).unwrap();
        let snap = collect_procfs(&mut w, 1_000_000).unwrap();
        assert_eq!(snap.procs.len(), 1);
        let t = text(&snap, &model(None, &snap, SortKey::Pid), SortKey::Pid);
        assert!(
            t.starts_with(
                "pfprof-top [procfs backend, module not used]: 1 watched, /proc read every 1.00s"
            ),
            "{t}"
        );
        assert!(t.contains(&Pid::this().to_string()));
    }
}
