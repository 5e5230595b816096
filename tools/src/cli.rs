//! The command lines of the four tools (clap derive), in one place so that
//! `pfprof man` and `pfprof completions` can generate all of them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use libpfprof::{Pid, PERIOD_MAX_US, PERIOD_MIN_US};

use crate::format::Format;

/// Options every tool takes.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// The pfprof device [default: /dev/pfprof, then ./node]
    #[arg(long, value_name = "PATH", global = true)]
    pub device: Option<PathBuf>,
}

/// Where the figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Backend {
    /// The pfprof module (its registry and buffer)
    #[default]
    Module,
    /// Poll /proc/PID/stat and /proc/PID/schedstat of the processes given
    /// with --pid, without the module (what pidstat or htop do)
    Procfs,
}

/// Options of the tools that can read /proc instead of the module.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Where the figures come from
    #[arg(long, value_enum, default_value_t = Backend::Module)]
    pub backend: Backend,
    /// With --backend procfs: the processes to watch (their figures count
    /// from when the tool starts, like the module's from registration)
    #[arg(
        long = "pid",
        value_name = "PID",
        num_args = 1..,
        required_if_eq("backend", "procfs")
    )]
    pub pids: Vec<Pid>,
}

/// Print the profile buffer, as the classic monitor (`monitor > profile.dat`).
///
/// Prints every sample in the classic ring, oldest first, one per line:
/// `jiffies minflt majflt cpu_ns` (per-period sums over the registered
/// processes), and a summary on stderr. By default the buffer is left as it
/// is; --consume reads destructively like the classic monitor (writes -1 back).
#[derive(Debug, Clone, Parser)]
#[command(name = "monitor", version)]
pub struct MonitorCli {
    /// The device.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Destructive read: write -1 back into every slot read
    #[arg(long)]
    pub consume: bool,
    /// Keep printing new samples until Ctrl-C or until profiling stops
    #[arg(short, long)]
    pub follow: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Classic)]
    pub format: Format,
    /// Per-process records of the extended ring instead of the classic sums
    /// (classic format: `jiffies pid minflt majflt cpu_ns`, pid 0 = totals)
    #[arg(
        short,
        long,
        conflicts_with = "consume",
        required_if_eq("backend", "procfs")
    )]
    pub per_process: bool,
    /// First print a comment line with the kernel's HZ and the sampling
    /// period (`# pfprof hz=1000 period_us=50000`), so that plots can turn
    /// jiffies into seconds (pfprof-plot reads it)
    #[arg(long)]
    pub header: bool,
    /// The backend (procfs needs --per-process and --pid, and always
    /// follows: it samples until every process is gone or Ctrl-C)
    #[command(flatten)]
    pub backend: BackendArgs,
    /// With --backend procfs: how often /proc is read (us, or with a unit:
    /// 50ms, 1s)
    #[arg(long, value_name = "PERIOD", default_value = "50ms", value_parser = parse_period_us)]
    pub period: u32,
}

/// Sort keys of pfprof-top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SortKey {
    /// Process id, ascending
    Pid,
    /// Command name
    Command,
    /// Minor faults per second
    Minflt,
    /// Major faults per second
    Majflt,
    /// Total faults since registration
    #[default]
    Faults,
    /// CPU utilization
    Cpu,
    /// Registration time, longest first
    Since,
}

impl SortKey {
    /// The next key, for the interactive `s` key.
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Pid => SortKey::Command,
            SortKey::Command => SortKey::Minflt,
            SortKey::Minflt => SortKey::Majflt,
            SortKey::Majflt => SortKey::Faults,
            SortKey::Faults => SortKey::Cpu,
            SortKey::Cpu => SortKey::Since,
            SortKey::Since => SortKey::Pid,
        }
    }
}

/// A live table of the processes pfprof profiles.
///
/// Interactive keys: q quits, s cycles the sort key. Batch mode (-b) prints
/// plain tables, one per iteration, for scripts.
#[derive(Debug, Clone, Parser)]
#[command(name = "pfprof-top", version)]
pub struct TopCli {
    /// The device.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Batch mode: no screen control, no keys
    #[arg(short, long)]
    pub batch: bool,
    /// Stop after this many iterations
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Seconds between updates
    #[arg(short, long, value_name = "SECS", default_value_t = 1.0, value_parser = parse_delay)]
    pub delay: f64,
    /// Sort key
    #[arg(short, long, value_enum, default_value_t = SortKey::Faults)]
    pub sort: SortKey,
    /// The backend.
    #[command(flatten)]
    pub backend: BackendArgs,
}

fn parse_delay(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if (0.01..=3600.0).contains(&d) => Ok(d),
        _ => Err(format!(
            "`{s}` is not a delay between 0.01 and 3600 seconds"
        )),
    }
}

/// Parses a sampling period: a number of microseconds, or a number with a
/// unit `us`, `ms` or `s`; it must lie within the module's range.
pub fn parse_period_us(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e6)
    } else {
        (t, 1.0)
    };
    let us = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| (v * scale).round())
        .ok_or_else(|| format!("`{s}` is not a period (e.g. 50000, 50ms, 0.05s)"))?;
    if us < f64::from(PERIOD_MIN_US) || us > f64::from(PERIOD_MAX_US) {
        return Err(format!(
            "period {s} is out of range ({PERIOD_MIN_US} us to {PERIOD_MAX_US} us)"
        ));
    }
    Ok(us as u32)
}

/// pfprof's control CLI: register processes, query and tune the profiler,
/// run a command under it.
#[derive(Debug, Clone, Parser)]
#[command(name = "pfprof", version, subcommand_required = true)]
pub struct PfprofCli {
    /// The device.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: PfprofCommand,
}

/// The subcommands of `pfprof`.
#[derive(Debug, Clone, Subcommand)]
pub enum PfprofCommand {
    /// Register processes for profiling
    Register {
        /// Process ids
        #[arg(required = true, value_name = "PID")]
        pids: Vec<Pid>,
    },
    /// Unregister processes
    Unregister {
        /// Process ids
        #[arg(required = true, value_name = "PID")]
        pids: Vec<Pid>,
    },
    /// List the registered processes, one pid per line
    List,
    /// Show the profiler's global figures
    Status,
    /// Clear all counters and buffers (needs CAP_SYS_ADMIN)
    Reset,
    /// Show the sampling period, or set it (needs CAP_SYS_ADMIN)
    Period {
        /// New period: microseconds, or with a unit (50ms, 0.1s, 2000us)
        #[arg(value_parser = parse_period_us, value_name = "PERIOD")]
        period_us: Option<u32>,
    },
    /// Run a command registered from its first instruction, then print a
    /// perf-stat-like summary on stderr and exit with its status
    ///
    /// pfprof's figures cover the process alone (all its threads, across
    /// exec); the rusage beside them (from wait4) also covers the children
    /// it reaped.
    Run {
        /// The command and its arguments
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<OsString>,
    },
    /// Print a shell completion script (or write all tools' scripts to --dir)
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
        /// Write the scripts of pfprof, monitor, pfprof-top and pfprof-plot into this directory
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print pfprof's man page (or write all tools' pages to --dir)
    Man {
        /// Write pfprof.1, monitor.1, pfprof-top.1, pfprof-plot.1 and a
        /// TOOL-SUBCOMMAND.1 page per subcommand here
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Draw charts of profile files (`monitor > profile.dat`) as PNG or SVG.
///
/// Reads classic profiles (`jiffies minflt majflt cpu_ns`) and per-process
/// recordings (`monitor --per-process`), in any of monitor's formats. Time
/// comes from jiffies and the kernel's HZ, which the file states when it was
/// recorded with `monitor --header`; otherwise give --hz. The output format
/// follows the file extension (.png or .svg); the path is printed.
#[derive(Debug, Clone, Parser)]
#[command(name = "pfprof-plot", version, subcommand_required = true)]
pub struct PlotCli {
    /// The kernel's HZ (jiffies per second), overriding the files' header
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub hz: Option<u32>,
    /// Image width in pixels
    #[arg(long, global = true, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(200..=8192))]
    pub width: u32,
    /// Image height in pixels
    #[arg(long, global = true, default_value_t = 640, value_parser = clap::value_parser!(u32).range(150..=8192))]
    pub height: u32,
    /// The chart.
    #[command(subcommand)]
    pub command: PlotCommand,
}

/// The charts of `pfprof-plot`.
#[derive(Debug, Clone, Subcommand)]
pub enum PlotCommand {
    /// Accumulated page faults (minor + major) against time, one line per
    /// profile (and per process for per-process recordings)
    Faults {
        /// The image to write (.png or .svg)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The caption
        #[arg(short, long, default_value = "Accumulated page faults")]
        title: String,
        /// Profiles: LABEL=PATH, or PATH (labelled by its file name)
        #[arg(required = true, value_name = "PROFILE")]
        inputs: Vec<String>,
    },
    /// Page faults per second of each process against time (per-process
    /// recordings)
    Rates {
        /// The image to write (.png or .svg)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The caption
        #[arg(short, long, default_value = "Page-fault rate per process")]
        title: String,
        /// A recording of `monitor --per-process`
        #[arg(value_name = "RECORDING")]
        input: PathBuf,
    },
    /// Total CPU utilization against the degree of multiprogramming N:
    /// the CPU time of all samples over the time from the first to the last
    Utilization {
        /// The image to write (.png or .svg)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The caption
        #[arg(
            short,
            long,
            default_value = "CPU utilization against multiprogramming"
        )]
        title: String,
        /// CPUs of the machine, drawn as the ceiling
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=4096))]
        cpus: Option<u32>,
        /// One profile per N: N=PATH
        #[arg(required = true, value_name = "N=PROFILE")]
        points: Vec<String>,
    },
    /// Print a table per profile: samples, faults, completion time,
    /// utilization
    Summary {
        /// Profiles: LABEL=PATH, or PATH
        #[arg(required = true, value_name = "PROFILE")]
        inputs: Vec<String>,
    },
}

/// The clap commands of every tool, for generators.
pub fn all_commands() -> Vec<clap::Command> {
    vec![
        PfprofCli::command(),
        MonitorCli::command(),
        TopCli::command(),
        PlotCli::command(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_definitions_are_consistent() {
        for mut c in all_commands() {
            c.build();
            c.debug_assert();
        }
    }

    #[test]
    fn periods_parse_with_units_and_are_range_checked() {
        assert_eq!(parse_period_us("50000"), Ok(50_000));
        assert_eq!(parse_period_us("50ms"), Ok(50_000));
        assert_eq!(parse_period_us("0.1s"), Ok(100_000));
        assert_eq!(parse_period_us("2000us"), Ok(2_000));
        assert!(parse_period_us("999").is_err());
        assert!(parse_period_us("11s").is_err());
        assert!(parse_period_us("fast").is_err());
        assert!(parse_period_us("-5ms").is_err());
    }

    #[test]
    fn pfprof_parses_subcommands_and_validates() {
        let c = PfprofCli::try_parse_from(["pfprof", "register", "12", "34"]).unwrap();
        match c.command {
            PfprofCommand::Register { pids } => {
                assert_eq!(pids, [Pid::new(12).unwrap(), Pid::new(34).unwrap()])
            }
            other => panic!("{other:?}"),
        }
        assert!(PfprofCli::try_parse_from(["pfprof", "register", "0"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof", "register", "abc"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof", "register"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof", "period", "10us"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof"]).is_err());
        let r = PfprofCli::try_parse_from(["pfprof", "run", "--", "ls", "-l", "--all"]).unwrap();
        match r.command {
            PfprofCommand::Run { command } => assert_eq!(command, ["ls", "-l", "--all"]),
            other => panic!("{other:?}"),
        }
        let r = PfprofCli::try_parse_from(["pfprof", "--device", "/x", "run", "sh", "-c", "true"])
            .unwrap();
        assert_eq!(r.device.device, Some(PathBuf::from("/x")));
    }

    #[test]
    fn monitor_and_top_options() {
        let m = MonitorCli::try_parse_from(["monitor", "--follow", "--format", "csv"]).unwrap();
        assert!(m.follow && !m.consume && m.format == Format::Csv);
        assert!(MonitorCli::try_parse_from(["monitor", "--consume", "--per-process"]).is_err());
        assert!(MonitorCli::try_parse_from(["monitor", "--format", "xml"]).is_err());
        let t = TopCli::try_parse_from(["pfprof-top", "-b", "-n", "2", "-d", "0.5", "-s", "cpu"])
            .unwrap();
        assert!(t.batch);
        assert_eq!(
            (t.iterations, t.delay, t.sort),
            (Some(2), 0.5, SortKey::Cpu)
        );
        assert!(TopCli::try_parse_from(["pfprof-top", "-n", "0"]).is_err());
        assert!(TopCli::try_parse_from(["pfprof-top", "-d", "0"]).is_err());
    }

    #[test]
    fn procfs_backend_needs_pids() {
        let t = TopCli::try_parse_from(["pfprof-top", "--backend", "procfs", "--pid", "1", "2"])
            .unwrap();
        assert_eq!(t.backend.backend, Backend::Procfs);
        assert_eq!(t.backend.pids.len(), 2);
        assert!(TopCli::try_parse_from(["pfprof-top", "--backend", "procfs"]).is_err());
        assert!(TopCli::try_parse_from(["pfprof-top", "--backend", "sysfs"]).is_err());
        let m = MonitorCli::try_parse_from([
            "monitor",
            "--backend",
            "procfs",
            "--per-process",
            "--pid",
            "7",
            "--period",
            "1ms",
        ])
        .unwrap();
        assert_eq!((m.backend.backend, m.period), (Backend::Procfs, 1000));
        assert_eq!(
            MonitorCli::try_parse_from(["monitor"])
                .unwrap()
                .backend
                .backend,
            Backend::Module
        );
    }
}
