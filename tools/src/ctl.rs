//! `pfprof`: the control CLI's subcommands.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libpfprof::{ext, Counters, Mapping, Pid, Profiler, Status};

use crate::cli::{PfprofCli, PfprofCommand};
use crate::format;
use crate::{Result, ToolError};

/// Writes the global figures, one `name: value` per line.
pub fn render_status(w: &mut impl Write, s: &Status) -> std::io::Result<()> {
    let ticks = s.ticks.max(1);
    let hz = if s.period_us > 0 {
        1e6 / f64::from(s.period_us)
    } else {
        0.0
    };
    writeln!(w, "state:            {}", s.state)?;
    writeln!(w, "abi version:      {}", s.abi_version)?;
    writeln!(w, "kernel HZ:        {}", s.hz)?;
    writeln!(
        w,
        "period:           {} us ({hz:.1} samples/s)",
        s.period_us
    )?;
    writeln!(w, "registered:       {}", s.registered)?;
    writeln!(
        w,
        "samples written:  {}",
        format::thousands(s.samples_written)
    )?;
    writeln!(w, "samples lost:     {}", format::thousands(s.samples_lost))?;
    writeln!(
        w,
        "records written:  {}",
        format::thousands(s.records_written)
    )?;
    writeln!(w, "ticks:            {}", format::thousands(s.ticks))?;
    writeln!(w, "overruns:         {}", format::thousands(s.overruns))?;
    writeln!(
        w,
        "process samples:  {}",
        format::thousands(s.process_samples)
    )?;
    writeln!(
        w,
        "sampling cost:    {} total, {} per tick, {} last, {} max",
        format::duration_ns(s.cost_total_ns),
        format::duration_ns(s.cost_total_ns / ticks),
        format::duration_ns(s.cost_last_ns),
        format::duration_ns(s.cost_max_ns)
    )
}

/// pfprof's figures of the process: where they came from, or why there are
/// none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profiled {
    /// `PFPROF_IOC_QUERY_PID` of the exited, unreaped process: its final
    /// counters.
    Counters(Counters),
    /// The module had already dropped it: the sum of its records in the
    /// extended ring, up to the one flagged `EXITED`.
    Records(Counters),
    /// No figures; the reason.
    Missing(String),
    /// The module is not loaded: the command ran without it.
    NoModule,
}

/// What `pfprof run` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The command line, for the title.
    pub command: String,
    /// Wall-clock time from spawn to exit, in nanoseconds.
    pub elapsed_ns: u64,
    /// pfprof's figures: the registered process alone.
    pub profiled: Profiled,
    /// The rusage `wait4` returned when reaping the process: the process
    /// and the descendants it reaped.
    pub rusage: Option<Counters>,
    /// pfprof's peak RSS of the process, in bytes: the largest of its
    /// records' (VmHWM, or the kernel's ru_maxrss figure once it exited).
    pub peak_rss_bytes: Option<u64>,
    /// wait4's `ru_maxrss`, in bytes: the largest of the process's and of
    /// the descendants it reaped.
    pub rusage_maxrss_bytes: Option<u64>,
    /// Whether a reset during the run restarted pfprof's figures.
    pub reset_during_run: bool,
    /// How it ended, e.g. `exit status 0`.
    pub ended: String,
}

/// What the rusage column is, in the summary.
const WITH_DESCENDANTS: &str = "with reaped descendants";

fn msec(ns: u64) -> String {
    format!("{:.2} msec", ns as f64 / 1e6)
}

/// Writes the `perf stat`-like summary: pfprof's figures of the process in
/// the first column, wait4's rusage (the process and its reaped
/// descendants) after `#`, and what each covers below.
pub fn render_run(w: &mut impl Write, r: &RunSummary) -> std::io::Result<()> {
    writeln!(w)?;
    writeln!(w, " pfprof stats for '{}':", r.command)?;
    writeln!(w)?;
    let line = |w: &mut dyn Write, value: String, what: &str, note: String| {
        writeln!(w, "{value:>18}      {what:<16}{note}")
    };
    let (figures, source) = match &r.profiled {
        Profiled::Counters(f) => (Some(f), "its final counters"),
        Profiled::Records(f) => (Some(f), "its records in the extended ring"),
        Profiled::Missing(why) => {
            writeln!(w, "    (no pfprof figures for the process: {why})")?;
            (None, "")
        }
        Profiled::NoModule => {
            writeln!(
                w,
                "    (without the module: rusage of the command and its reaped children)"
            )?;
            (None, "")
        }
    };
    match (figures, r.rusage) {
        (Some(p), ru) => {
            let also = |v: Option<String>| match v {
                Some(v) => format!("# {v} {WITH_DESCENDANTS}"),
                None => String::new(),
            };
            line(
                w,
                format::thousands(p.minor),
                "minor-faults",
                also(ru.map(|u| format::thousands(u.minor))),
            )?;
            line(
                w,
                format::thousands(p.major),
                "major-faults",
                also(ru.map(|u| format::thousands(u.major))),
            )?;
            let util = if r.elapsed_ns > 0 {
                p.cpu_ns as f64 / r.elapsed_ns as f64
            } else {
                0.0
            };
            let cpu_note = match ru {
                Some(u) => format!(
                    "# {util:.3} CPUs utilized; {} {WITH_DESCENDANTS}",
                    msec(u.cpu_ns)
                ),
                None => format!("# {util:.3} CPUs utilized"),
            };
            line(w, msec(p.cpu_ns), "cpu-time", cpu_note)?;
        }
        (None, Some(u)) => {
            let note = || format!("# rusage, {WITH_DESCENDANTS}");
            line(w, format::thousands(u.minor), "minor-faults", note())?;
            line(w, format::thousands(u.major), "major-faults", note())?;
            line(w, msec(u.cpu_ns), "cpu-time", note())?;
        }
        (None, None) => {}
    }
    let kib = |bytes: u64| format!("{} KiB", format::thousands(bytes / 1024));
    match (r.peak_rss_bytes, r.rusage_maxrss_bytes) {
        (Some(p), ru) => line(
            w,
            kib(p),
            "peak-rss",
            ru.map(|u| format!("# {} {WITH_DESCENDANTS}", kib(u)))
                .unwrap_or_default(),
        )?,
        (None, Some(u)) => line(
            w,
            kib(u),
            "peak-rss",
            format!("# rusage, {WITH_DESCENDANTS}"),
        )?,
        (None, None) => {}
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:>18.6} seconds time elapsed ({})",
        r.elapsed_ns as f64 / 1e9,
        r.ended
    )?;
    writeln!(w)?;
    if figures.is_some() {
        let since = if r.reset_during_run {
            "since the reset during the run"
        } else {
            "from its start"
        };
        writeln!(
            w,
            " pfprof counted the process alone, all its threads and across exec, {since} ({source})."
        )?;
    }
    if r.rusage.is_some() {
        writeln!(
            w,
            " \"{WITH_DESCENDANTS}\" is wait4's rusage: the process and every descendant it waited for."
        )?;
    }
    writeln!(w)
}

/// The exit code a shell would report for `status`.
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => (c & 0xff) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        _ => 1,
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown end".to_owned(),
    }
}

/// Reaps `pid` with `wait4`: its status and its rusage, which covers the
/// process and the descendants it reaped (not the other children of this
/// tool, as `getrusage(RUSAGE_CHILDREN)` would): the counters, and
/// `ru_maxrss` in bytes.
fn reap(pid: nix::unistd::Pid) -> Result<(ExitStatus, Counters, u64)> {
    use nix::libc;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` (integers and timevals) is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: `pid` is our unreaped child; `status` and `ru` are valid
        // for writes for the duration of the call.
        let r = unsafe { libc::wait4(pid.as_raw(), &mut status, 0, &mut ru) };
        if r >= 0 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            break r;
        }
    };
    if r != pid.as_raw() {
        return Err(std::io::Error::last_os_error().into());
    }
    let ns = |t: libc::timeval| {
        (t.tv_sec.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_usec.max(0) as u64 * 1000)
    };
    Ok((
        ExitStatus::from_raw(status),
        Counters::new(
            ru.ru_minflt.max(0) as u64,
            ru.ru_majflt.max(0) as u64,
            ns(ru.ru_utime).saturating_add(ns(ru.ru_stime)),
        ),
        (ru.ru_maxrss.max(0) as u64).saturating_mul(1024),
    ))
}

/// How often `pfprof run` reads the extended ring while the command runs.
/// The ring holds 65,536 records and each tick writes one per registered
/// process plus the totals: at the shortest period (1 ms) a reader this
/// often falls behind only with more than 600 registered processes, and
/// then it says so.
const RING_POLL: Duration = Duration::from_millis(100);

/// How often `pfprof run` looks for a signal to pass on to the command.
const SIGNAL_CHECK: Duration = Duration::from_millis(20);

/// The extended ring, followed for the child's records.
struct Ring {
    region: Mapping,
    tally: ext::ProcessTally,
}

impl Ring {
    fn open(p: &Profiler) -> libpfprof::Result<Ring> {
        let region = p.map_extended()?;
        let tally = ext::ProcessTally::from_now(&region)?;
        Ok(Ring { region, tally })
    }
}

/// Reads the ring's new records, keeping the first error as the reason the
/// ring cannot be used.
fn poll_ring(ring: &mut std::result::Result<Ring, String>, pid: Pid) {
    if let Ok(r) = ring {
        if let Err(e) = r.tally.poll(&r.region, pid) {
            *ring = Err(format!("reading the extended ring: {e}"));
        }
    }
}

/// How long to wait for a process's `EXITED` record: the sampler writes it
/// at its next tick, so three periods, at most 1 s.
fn exit_record_deadline(p: &Profiler) -> Instant {
    let period = p
        .query()
        .map(|s| Duration::from_micros(s.period_us.into()))
        .unwrap_or(Duration::from_millis(50));
    Instant::now() + (3 * period).min(Duration::from_secs(1))
}

/// pfprof's figures of the exited, unreaped child `pid`.
///
/// The sampler drops an exited process at its next tick, after writing its
/// last record flagged `EXITED`, so `QUERY_PID` answers only until then.
/// First `QUERY_PID`: while the process is registered it answers with the
/// final counters (a zombie's threads have all exited). If the module has
/// already dropped it (`NotRegistered`), the figures are the sum of its
/// records in the extended ring, which `ring` has followed since before
/// the spawn, up to its `EXITED` record. That record was published before
/// the entry was removed, under the same lock as the query, so it is
/// normally read at once; the ring is polled again for up to three periods
/// (at most 1 s) before giving up. If the ring lost records, any of them
/// may have been the process's: no figures then, rather than wrong ones.
fn final_figures(p: &Profiler, pid: Pid, ring: &mut std::result::Result<Ring, String>) -> Profiled {
    poll_ring(ring, pid);
    match p.query_pid(pid) {
        Ok(s) => return Profiled::Counters(s.counters),
        Err(libpfprof::Error::NotRegistered { .. }) => {}
        Err(e) => return Profiled::Missing(e.to_string()),
    }
    let deadline = exit_record_deadline(p);
    loop {
        poll_ring(ring, pid);
        let r = match ring {
            Ok(r) => r,
            Err(why) => return Profiled::Missing(format!("the module had dropped it, and {why}")),
        };
        if r.tally.lost() > 0 {
            return Profiled::Missing(format!(
                "the module had dropped it, and {} records of the extended ring were \
                 overwritten before they could be read",
                format::thousands(r.tally.lost())
            ));
        }
        if let Some(t) = r.tally.exited() {
            return Profiled::Records(t.counters);
        }
        if Instant::now() >= deadline {
            return Profiled::Missing(
                "it is no longer registered, and the extended ring holds no record of its exit \
                 (was it unregistered?)"
                    .to_owned(),
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// pfprof's peak RSS of the exited, unreaped child `pid`: the largest of its
/// records'. The final figure is in its `EXITED` record, which the sampler
/// writes at its next tick when [`final_figures`] found the process still
/// registered: it is waited for, for up to three periods (at most 1 s);
/// without it, the largest so far. `None` when the ring was unusable or
/// lost records, or holds none of the process's.
fn final_peak(p: &Profiler, pid: Pid, ring: &mut std::result::Result<Ring, String>) -> Option<u64> {
    let deadline = exit_record_deadline(p);
    loop {
        poll_ring(ring, pid);
        let r = ring.as_ref().ok().filter(|r| r.tally.lost() == 0)?;
        if r.tally.exited().is_some() || Instant::now() >= deadline {
            return r.tally.so_far().map(|t| t.rss_peak_bytes);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `pfprof run`: spawn registered, wait, summarize on `err`, pass the status on.
///
/// The extended ring is mapped and followed from before the spawn, so the
/// child's figures survive the sampler dropping it (see `final_figures`).
/// A thread blocks in `waitid(WEXITED | WNOWAIT)`, which leaves the zombie:
/// its pid cannot be reused and its counters stay readable; meanwhile this
/// thread reads the ring every `RING_POLL` (100 ms). Then the child is
/// reaped with `wait4`, whose rusage is printed beside pfprof's figures.
///
/// Without the module (`p` is `None`) the command runs all the same and
/// the summary gives wait4's rusage alone, labelled as such.
///
/// Signals: Ctrl-C reaches the command from the terminal (same process
/// group); a SIGINT or SIGTERM sent to pfprof with kill(1) is passed on to
/// the command within 20 ms. pfprof stays to report, and exits with the
/// command's status.
pub fn run_command(p: Option<&Profiler>, argv: &[OsString], err: &mut impl Write) -> Result<u8> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| ToolError::Msg("no command given".to_owned()))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    if let Some(p) = p {
        p.register_on_spawn(&mut cmd)?;
    }
    let mut ring = match p {
        Some(p) => Ring::open(p).map_err(|e| format!("mapping the extended ring: {e}")),
        None => Err("without the module".to_owned()),
    };
    // Ctrl-C reaches the child (same process group); we stay to report.
    crate::signal::catch_interrupts()?;
    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ToolError::Msg(format!(
                "cannot run {}: command not found",
                program.to_string_lossy()
            ))
        } else {
            libpfprof::spawn_error(e).into()
        }
    })?;
    let raw = nix::unistd::Pid::from_raw(child.id() as i32);
    let pid = Pid::new(raw.as_raw())
        .ok_or_else(|| ToolError::Msg(format!("spawned a child with pid {raw}")))?;
    // Wait for the exit but leave the zombie, so its figures can still be read.
    let (exited_tx, exited_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        while let Err(nix::errno::Errno::EINTR) =
            waitid(Id::Pid(raw), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
        {}
        let _ = exited_tx.send(());
    });
    let mut polled = Instant::now();
    let mut passed_on = false;
    while let Err(mpsc::RecvTimeoutError::Timeout) = exited_rx.recv_timeout(SIGNAL_CHECK) {
        if !passed_on && crate::signal::sent_by_process() {
            if let Some(sig) = crate::signal::last_signal() {
                let _ = nix::sys::signal::kill(raw, sig);
                passed_on = true;
            }
        }
        if polled.elapsed() >= RING_POLL {
            poll_ring(&mut ring, pid);
            polled = Instant::now();
        }
    }
    let elapsed_ns = start.elapsed().as_nanos() as u64;
    let _ = waiter.join();
    let (profiled, peak_rss_bytes) = match p {
        Some(p) => {
            let profiled = final_figures(p, pid, &mut ring);
            let peak = final_peak(p, pid, &mut ring);
            // Still registered if its EXITED record did not come; gone otherwise.
            let _ = p.unregister(pid);
            (profiled, peak)
        }
        None => (Profiled::NoModule, None),
    };
    let (status, rusage, maxrss) = reap(raw)?;
    drop(child); // Reaped above: std's handle has nothing left to do.
    let summary = RunSummary {
        command: argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        elapsed_ns,
        reset_during_run: matches!(&ring, Ok(r) if r.tally.reset_seen()),
        profiled,
        rusage: Some(rusage),
        peak_rss_bytes,
        rusage_maxrss_bytes: Some(maxrss),
        ended: describe(status),
    };
    render_run(err, &summary)?;
    Ok(exit_code(status))
}

/// Runs `pfprof` with data on `out` and diagnostics on `err`.
pub fn run(cli: PfprofCli, out: &mut impl Write, err: &mut impl Write) -> Result<u8> {
    match cli.command {
        PfprofCommand::Completions { shell, dir } => {
            crate::gen::completions(shell, dir.as_deref(), out)?;
            return Ok(0);
        }
        PfprofCommand::Man { dir } => {
            crate::gen::man(dir.as_deref(), out)?;
            return Ok(0);
        }
        PfprofCommand::Exporter(args) => return crate::exporter::run(&args, &cli.device, err),
        _ => {}
    }
    // Without --tree, `pfprof run` runs without the module too.
    if let PfprofCommand::Run {
        command,
        tree: false,
        ..
    } = &cli.command
    {
        return match crate::open(&cli.device) {
            Ok(p) => run_command(Some(&p), command, err),
            Err(ToolError::Lib(e @ libpfprof::Error::ModuleNotLoaded { .. })) => {
                writeln!(
                    err,
                    "pfprof: {e}\npfprof: running the command without the module: the summary \
                     gives wait4's rusage alone"
                )?;
                run_command(None, command, err)
            }
            Err(e) => Err(e),
        };
    }
    let p = crate::open(&cli.device)?;
    match cli.command {
        PfprofCommand::Register { pids, tree } => {
            for pid in crate::pids::resolve_alive("pfprof", &pids.all(), err)? {
                if tree {
                    p.register_tree(pid)?;
                } else {
                    p.register(pid)?;
                }
            }
        }
        PfprofCommand::Unregister { pids } => {
            for pid in crate::pids::resolve_alive("pfprof", &pids.all(), err)? {
                p.unregister(pid)?;
            }
        }
        PfprofCommand::List => {
            for pid in p.list()? {
                writeln!(out, "{pid}")?;
            }
        }
        PfprofCommand::Status => render_status(out, &p.query()?)?,
        PfprofCommand::Reset => p.reset()?,
        PfprofCommand::Period { period_us: None } => {
            writeln!(out, "{}", p.query()?.period_us)?;
        }
        PfprofCommand::Period {
            period_us: Some(us),
        } => p.set_period_us(us)?,
        PfprofCommand::Run {
            command,
            tree: true,
            output,
        } => return crate::treerun::run_tree(&p, &command, output.as_deref(), err),
        PfprofCommand::Run { .. }
        | PfprofCommand::Completions { .. }
        | PfprofCommand::Man { .. }
        | PfprofCommand::Exporter(_) => {}
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(profiled: Profiled) -> String {
        let r = RunSummary {
            command: "work 64 R 1000".to_owned(),
            elapsed_ns: 2_000_000_000,
            profiled: profiled.clone(),
            rusage: Some(Counters::new(25_219, 2, 1_600_000_000)),
            peak_rss_bytes: match profiled {
                Profiled::Missing(_) | Profiled::NoModule => None,
                _ => Some(66_912 * 1024),
            },
            rusage_maxrss_bytes: Some(67_540 * 1024),
            reset_during_run: false,
            ended: "exit status 0".to_owned(),
        };
        let mut v = Vec::new();
        render_run(&mut v, &r).unwrap();
        String::from_utf8(v).unwrap()
    }

    const FIGURES: Counters = Counters::new(16_523, 2, 1_500_000_000);

    #[test]
    fn run_summary_reads_like_perf_stat_and_says_what_each_figure_covers() {
        let t = summary(Profiled::Counters(FIGURES));
        assert!(t.contains(" pfprof stats for 'work 64 R 1000':"));
        assert!(t.contains(
            "            16,523      minor-faults    # 25,219 with reaped descendants\n"
        ));
        assert!(t.contains("                 2      major-faults    # 2 with reaped descendants\n"));
        assert!(t.contains(
            "      1500.00 msec      cpu-time        # 0.750 CPUs utilized; \
             1600.00 msec with reaped descendants\n"
        ));
        assert!(t.contains(
            "        66,912 KiB      peak-rss        # 67,540 KiB with reaped descendants\n"
        ));
        assert!(t.contains("          2.000000 seconds time elapsed (exit status 0)\n"));
        assert!(t.contains(
            " pfprof counted the process alone, all its threads and across exec, from its \
             start (its final counters).\n"
        ));
        assert!(t.contains(
            " \"with reaped descendants\" is wait4's rusage: the process and every \
             descendant it waited for.\n"
        ));
        assert!(!t.contains("no pfprof figures"));
    }

    #[test]
    fn run_summary_names_the_ring_as_the_source() {
        let t = summary(Profiled::Records(FIGURES));
        assert!(t.contains("            16,523      minor-faults"));
        assert!(t.contains("(its records in the extended ring)"));
    }

    #[test]
    fn run_summary_without_module_figures_gives_the_reason_and_rusage() {
        let t = summary(Profiled::Missing("the ring lapped".to_owned()));
        assert!(t.contains("    (no pfprof figures for the process: the ring lapped)\n"));
        assert!(t.contains(
            "            25,219      minor-faults    # rusage, with reaped descendants\n"
        ));
        assert!(t.contains(
            "        67,540 KiB      peak-rss        # rusage, with reaped descendants\n"
        ));
        assert!(!t.contains("pfprof counted"));
        assert!(!t.contains("16,523"));
    }

    #[test]
    fn run_summary_without_the_module_is_labelled_rusage() {
        let t = summary(Profiled::NoModule);
        assert!(
            t.contains("    (without the module: rusage of the command and its reaped children)\n")
        );
        assert!(t.contains(
            "            25,219      minor-faults    # rusage, with reaped descendants\n"
        ));
        assert!(!t.contains("pfprof counted"));
    }

    #[test]
    fn exit_codes_are_passed_on_like_a_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }

    #[test]
    fn status_rendering() {
        let s: Status = libpfprof_status_fixture();
        let mut v = Vec::new();
        render_status(&mut v, &s).unwrap();
        let t = String::from_utf8(v).unwrap();
        assert!(t.starts_with("state:            running\n"));
        assert!(t.contains("period:           50000 us (20.0 samples/s)\n"));
        assert!(t.contains("samples written:  1,200\n"));
        assert!(
            t.contains("sampling cost:    1.20ms total, 1.0us per tick, 900ns last, 4.0us max\n")
        );
    }

    fn libpfprof_status_fixture() -> Status {
        let mut s = Status::fixture();
        s.state = libpfprof::State::Running;
        s.hz = 1000;
        s.period_us = 50_000;
        s.registered = 2;
        s.samples_written = 1200;
        s.ticks = 1200;
        s.cost_total_ns = 1_200_000;
        s.cost_last_ns = 900;
        s.cost_max_ns = 4_000;
        s
    }
}
