//! `pfprof`: the control CLI's subcommands.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::Instant;

use libpfprof::{Counters, Pid, ProcStats, Profiler, Status};

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

/// What `pfprof run` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The command line, for the title.
    pub command: String,
    /// Wall-clock time from spawn to exit, in nanoseconds.
    pub elapsed_ns: u64,
    /// The module's counters for the process, read before it was reaped.
    pub profiled: Option<ProcStats>,
    /// The kernel's rusage of the child.
    pub rusage: Option<Counters>,
    /// How it ended, e.g. `exit status 0`.
    pub ended: String,
}

/// Writes the `perf stat`-like summary.
pub fn render_run(w: &mut impl Write, r: &RunSummary) -> std::io::Result<()> {
    writeln!(w)?;
    writeln!(w, " pfprof stats for '{}':", r.command)?;
    writeln!(w)?;
    let line = |w: &mut dyn Write, value: String, what: &str, note: String| {
        writeln!(w, "{value:>18}      {what:<16}{note}")
    };
    let rusage = |i: usize| match r.rusage {
        Some(t) => format!(
            "# rusage: {}",
            format::thousands([t.minor, t.major, t.cpu_ns][i])
        ),
        None => String::new(),
    };
    match &r.profiled {
        Some(p) => {
            line(
                w,
                format::thousands(p.minor_faults),
                "minor-faults",
                rusage(0),
            )?;
            line(
                w,
                format::thousands(p.major_faults),
                "major-faults",
                rusage(1),
            )?;
            let util = if r.elapsed_ns > 0 {
                p.cpu_ns as f64 / r.elapsed_ns as f64
            } else {
                0.0
            };
            line(
                w,
                format!("{:.2} msec", p.cpu_ns as f64 / 1e6),
                "cpu-time",
                format!("# {util:.3} CPUs utilized"),
            )?;
        }
        None => {
            writeln!(
                w,
                "    (pfprof had no figures for the process; rusage follows)"
            )?;
            if let Some(c) = r.rusage {
                line(w, format::thousands(c.minor), "minor-faults", String::new())?;
                line(w, format::thousands(c.major), "major-faults", String::new())?;
                line(
                    w,
                    format!("{:.2} msec", c.cpu_ns as f64 / 1e6),
                    "cpu-time",
                    String::new(),
                )?;
            }
        }
    }
    writeln!(w)?;
    writeln!(
        w,
        "{:>18.6} seconds time elapsed ({})",
        r.elapsed_ns as f64 / 1e9,
        r.ended
    )?;
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

fn children_rusage() -> Option<Counters> {
    use nix::sys::resource::{getrusage, UsageWho};
    let r = getrusage(UsageWho::RUSAGE_CHILDREN).ok()?;
    let ns = |t: nix::sys::time::TimeVal| {
        (t.tv_sec() as u64).saturating_mul(1_000_000_000) + t.tv_usec() as u64 * 1000
    };
    Some(Counters::new(
        r.minor_page_faults() as u64,
        r.major_page_faults() as u64,
        ns(r.user_time()) + ns(r.system_time()),
    ))
}

/// `pfprof run`: spawn registered, wait, summarize on `err`, pass the status on.
pub fn run_command(p: &Profiler, argv: &[OsString], err: &mut impl Write) -> Result<u8> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| ToolError::Msg("no command given".to_owned()))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    p.register_on_spawn(&mut cmd)?;
    // Ctrl-C reaches the child (same process group); we stay to report.
    crate::signal::catch_interrupts()?;
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
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
    // Wait for the exit but leave the zombie, so its figures can still be read.
    while let Err(nix::errno::Errno::EINTR) =
        waitid(Id::Pid(raw), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
    {}
    let elapsed_ns = start.elapsed().as_nanos() as u64;
    let pid = Pid::new(raw.as_raw());
    let profiled = pid.and_then(|pid| p.query_pid(pid).ok());
    if let Some(pid) = pid {
        // The module may already have dropped the exited process.
        let _ = p.unregister(pid);
    }
    let status = child.wait()?;
    let summary = RunSummary {
        command: argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        elapsed_ns,
        profiled,
        rusage: children_rusage(),
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
        _ => {}
    }
    let p = crate::open(&cli.device)?;
    match cli.command {
        PfprofCommand::Register { pids } => {
            for pid in pids {
                p.register(pid)?;
            }
        }
        PfprofCommand::Unregister { pids } => {
            for pid in pids {
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
        PfprofCommand::Run { command } => return run_command(&p, &command, err),
        PfprofCommand::Completions { .. } | PfprofCommand::Man { .. } => {}
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_summary_reads_like_perf_stat() {
        let r = RunSummary {
            command: "work 64 R 1000".to_owned(),
            elapsed_ns: 2_000_000_000,
            profiled: Some(ProcStats::fixture(
                Pid::new(9).unwrap(),
                16_523,
                2,
                1_500_000_000,
                0,
            )),
            rusage: Some(Counters::new(16_530, 2, 1_500_100_000)),
            ended: "exit status 0".to_owned(),
        };
        let mut v = Vec::new();
        render_run(&mut v, &r).unwrap();
        let t = String::from_utf8(v).unwrap();
        assert!(t.contains(" pfprof stats for 'work 64 R 1000':"));
        assert!(t.contains("            16,523      minor-faults    # rusage: 16,530\n"));
        assert!(t.contains("                 2      major-faults    # rusage: 2\n"));
        assert!(t.contains("      1500.00 msec      cpu-time        # 0.750 CPUs utilized\n"));
        assert!(t.contains("          2.000000 seconds time elapsed (exit status 0)\n"));
    }

    #[test]
    fn run_summary_without_module_figures_falls_back_to_rusage() {
        let r = RunSummary {
            command: "true".to_owned(),
            elapsed_ns: 1_000_000,
            profiled: None,
            rusage: Some(Counters::new(100, 0, 0)),
            ended: "exit status 0".to_owned(),
        };
        let mut v = Vec::new();
        render_run(&mut v, &r).unwrap();
        let t = String::from_utf8(v).unwrap();
        assert!(t.contains("pfprof had no figures"));
        assert!(t.contains("               100      minor-faults"));
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
