//! The command lines of the four tools (clap derive), in one place so that
//! `pfprof man` and `pfprof completions` can generate all of them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum, ValueHint};
use clap_complete::Shell;
use libpfprof::{Pid, PERIOD_MAX_US, PERIOD_MIN_US};

use crate::duration::{self, BareUnit};
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
    /// The processes: with --backend procfs, those to watch (their figures
    /// count from when the tool starts, like the module's from
    /// registration); with the module and --per-process, only their records
    /// (and the totals records, which cover every registered process).
    /// Comma-separated, repeatable; a thread id stands for its process; a
    /// pid that is not alive is reported (procfs: and skipped; with the
    /// module its records still in the ring are printed)
    #[arg(
        short = 'p',
        long = "pid",
        value_name = "PID[,PID...]",
        value_delimiter = ',',
        required_if_eq("backend", "procfs")
    )]
    pub pids: Vec<Pid>,
}

const MONITOR_AFTER_HELP: &str = "\
Columns (classic format, space-separated; csv and json name them):
  jiffies       the kernel's jiffies at the sample (seconds: divide by
                HZ, which --header states)
  pid           (--per-process) the process; 0 is the totals record,
                the sums over every registered process
  minflt        minor page faults in the period (per-process: the
                process's count since registration)
  majflt        major page faults (read from disk or swap), likewise
  cpu_ns        CPU time in nanoseconds (user + system), likewise
  csv and json add seq, time_ns (CLOCK_MONOTONIC), total, exited, the
  memory (rss_anon_bytes, rss_file_bytes, rss_shmem_bytes, swap_bytes),
  tree_root (the pid of the root of the process's tree, pfprof run
  --tree; 0 for a process registered alone, in the totals record and
  with the procfs backend, which has no trees),
  and time (wall clock, RFC 3339 in UTC, to the millisecond) and
  elapsed_s (seconds since the first line's sample). A classic sample
  has no clock of its own: its time counts back from when monitor first
  read the ring, in jiffies.

Header (--header): classic and csv start with comment lines,
  # pfprof hz=250 period_us=50000
  # pfprof comm 42 \"work\"
  json starts with one JSON object line, so the output stays JSON Lines:
  {\"pfprof\":{\"hz\":250,\"period_us\":50000,\"commands\":{\"42\":\"work\"}}}
  The command names are those of the processes registered (or watched)
  when monitor started; a process first seen later gets its line (or
  object) before its first record.

Signals: SIGINT (Ctrl-C) and SIGTERM end --follow and the procfs
  backend within a few milliseconds: the records of the partial interval
  since the last one are printed, then the summary (as perf stat -I).

Durations (--period): a number with a unit (50ms, 0.5s, 2s) or a bare
  number of microseconds (50000); from 1ms to 10s.

Examples:
  monitor > profile.dat
      the classic ring, oldest first, as the classic monitor
  monitor --header --per-process --follow --format csv > rec.csv
      per-process records until Ctrl-C or until profiling stops
  monitor --backend procfs --per-process -p 1234,5678 --period 100ms
      without the module: /proc every 100 ms, until the processes exit
  monitor --per-process --format json --header | jq .
      JSON Lines, header included

Exit status:
  0  the ring was read (also when ended by SIGINT or SIGTERM, or when
     the output pipe closed)
  1  an error: no module (the message names the device tried; or use
     --backend procfs), no process alive among -p, an unreadable device
  2  invalid arguments";

/// Print the profile buffer, as the classic monitor (`monitor > profile.dat`).
///
/// Prints every sample in the classic ring, oldest first, one per line:
/// `jiffies minflt majflt cpu_ns` (per-period sums over the registered
/// processes), and a summary on stderr. By default the buffer is left as it
/// is; --consume reads destructively like the classic monitor (writes -1 back).
#[derive(Debug, Clone, Parser)]
#[command(name = "monitor", version, after_long_help = MONITOR_AFTER_HELP)]
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
    /// (classic format: `jiffies pid minflt majflt cpu_ns`, pid 0 = totals).
    /// No short option: -p is --pid, as in every tool
    #[arg(long, conflicts_with = "consume", required_if_eq("backend", "procfs"))]
    pub per_process: bool,
    /// First print the header: the kernel's HZ, the sampling period and
    /// the processes' command names (`# pfprof hz=1000 period_us=50000`
    /// lines; with --format json a JSON object line), so that plots can
    /// turn jiffies into seconds and label processes (pfprof-plot reads it)
    #[arg(long)]
    pub header: bool,
    /// The backend (procfs needs --per-process and --pid, and always
    /// follows: it samples until every process is gone or Ctrl-C)
    #[command(flatten)]
    pub backend: BackendArgs,
    /// With --backend procfs: how often /proc is read (50ms, 0.5s, or a
    /// bare number of microseconds)
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_period_us)]
    pub period: u32,
}

/// Sort keys of pfprof-top, named after the columns they sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SortKey {
    /// PID, ascending
    Pid,
    /// COMMAND, alphabetical
    Command,
    /// MINFLT/s, highest first
    #[value(alias = "minflt/s")]
    Minflt,
    /// MAJFLT/s, highest first
    #[value(alias = "majflt/s")]
    Majflt,
    /// FAULTS (since registration), highest first
    #[default]
    Faults,
    /// CPU%, highest first
    #[value(alias = "cpu%")]
    Cpu,
    /// RSS (resident memory), largest first
    Rss,
    /// SWAP (swapped-out memory), largest first
    Swap,
    /// SINCE, longest registered first
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
            SortKey::Cpu => SortKey::Rss,
            SortKey::Rss => SortKey::Swap,
            SortKey::Swap => SortKey::Since,
            SortKey::Since => SortKey::Pid,
        }
    }

    /// The header of the column this key sorts by.
    pub fn column(self) -> &'static str {
        match self {
            SortKey::Pid => "PID",
            SortKey::Command => "COMMAND",
            SortKey::Minflt => "MINFLT/s",
            SortKey::Majflt => "MAJFLT/s",
            SortKey::Faults => "FAULTS",
            SortKey::Cpu => "CPU%",
            SortKey::Rss => "RSS",
            SortKey::Swap => "SWAP",
            SortKey::Since => "SINCE",
        }
    }
}

/// Output formats of pfprof-top's batch mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TopFormat {
    /// A table per iteration, under a line with the time (as top -b)
    #[default]
    Text,
    /// One row per process and iteration, with a header line; plain numbers
    Csv,
    /// JSON Lines: one object per process and iteration; plain numbers
    Json,
}

const TOP_AFTER_HELP: &str = "\
Columns:
  PID       the process (a thread id given with -p shows as its
            process)
  COMMAND   its command name (/proc/PID/comm)
  MINFLT/s  minor page faults per second over the last interval
  MAJFLT/s  major page faults (read from disk or swap) per second
  FAULTS    minor + major faults since registration (procfs: since
            pfprof-top started watching; replay: since the
            process's first record)
  CPU%      CPU time over the interval, in % of one CPU (200: two)
  RSS       resident memory (anon + file + shmem) at the latest
            sample, as /proc/PID/status's VmRSS (csv, json:
            rss_bytes)
  SWAP      swapped-out memory at the latest sample, as VmSwap
            (csv, json: swap_bytes); memory is - when unknown (a
            recording made without it)
  SINCE     time since registration (procfs: since watched)
  A rate is - (csv: empty, json: null) when unknown: a counter went
  backwards (a reset), or no interval has passed yet. The first
  screen shows averages since registration (module), or
  \"waiting for the first interval\".

Process trees (-T/--tree, key t): each tree (pfprof run --tree,
  pfprof register --tree) is one row: the root's pid and command
  with the number of its other processes, make (+12); the sums of
  its processes' faults and CPU time (those that exited count their
  last figures in the interval they exit in, and stay in FAULTS),
  and of RSS and SWAP over those alive; SINCE is the root's. csv
  and json add tree_root (the root's pid, 0 for a process in no
  tree) and procs (the processes of the row: alive, and exited in
  the interval). Processes in no tree keep their own rows. Works
  with the module and with --replay of a recording that has the
  tree_root column (monitor --per-process --format csv or json);
  the procfs backend has no trees.

Interactive keys:
  q, Ctrl-C   quit
  s           sort by the next column (named in the title line,
              marked in the header)
  r           reverse the sort order
  Up, Down, PgUp, PgDn, Home, End
              scroll the table when it is longer than the terminal
  t           fold each process tree into one row, or unfold
  h, ?        show or hide the help screen
  Ctrl-Z      suspend (the terminal is restored; fg resumes)

Batch mode (-b, or whenever stdout is not a terminal, as top -b):
  text writes a table per iteration under a line with the
  wall-clock time (UTC, RFC 3339) and the seconds elapsed since
  pfprof-top started (replay: since the recording's start). csv
  and json (JSON Lines) write one record per process and iteration
  with the same time and elapsed_s fields, and plain numbers
  without thousands separators. Each iteration covers one
  interval: the first is printed after the first delay. On SIGINT
  or SIGTERM the partial interval since the last iteration is
  printed, then pfprof-top exits (as perf stat -I does). A closed
  pipe (| head) ends it quietly.

Durations (-d):
  a number of seconds (0.5, 2), or a number with a unit (500ms,
  0.5s, 2s, 1m, \"1s 500ms\"); from 10ms to 1h.

Examples:
  pfprof-top
      the live screen of the registered processes
  pfprof-top -d 500ms -s cpu -r
      every half second, lowest CPU% first
  pfprof-top --backend procfs -p 1234,5678
      without the module, from /proc
  pfprof-top -b -n 3 | head -20
      three plain tables
  pfprof-top -b -d 2s --format csv > top.csv
      a csv row per process every 2 seconds, until Ctrl-C
  pfprof-top --format json -n 10 | jq .minflt_per_s
      JSON Lines (piped: batch mode without -b)
  monitor --per-process --header --follow --format csv > rec.csv
  pfprof-top --replay rec.csv
      record, then play the recording back at its pace

Exit status:
  0  quit with q or Ctrl-C, SIGINT or SIGTERM, -n iterations done,
     the end of a replay, no watched process left (batch), or the
     output pipe closed
  1  an error: no module (the message names the device tried; or
     use --backend procfs), no process alive among -p, an
     unreadable recording
  2  invalid arguments";

/// A live table of the page faults and CPU time of the profiled processes.
///
/// Shows the processes registered with the pfprof module (or, with
/// --backend procfs, the processes given with -p, read from /proc; or, with
/// --replay, a recording of `monitor --per-process`), refreshed every
/// --delay. On a terminal it is an interactive screen (keys below); when
/// stdout is not a terminal, or with -b, it writes plain text, csv or JSON
/// Lines, one iteration per delay.
#[derive(Debug, Clone, Parser)]
#[command(name = "pfprof-top", version, after_long_help = TOP_AFTER_HELP)]
pub struct TopCli {
    /// The device.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Batch mode: plain output, no screen control, no keys (the default
    /// when stdout is not a terminal)
    #[arg(short, long)]
    pub batch: bool,
    /// Stop after this many iterations
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// Time between updates: seconds (0.5) or with a unit (500ms, 2s)
    #[arg(short, long, value_name = "DURATION", default_value = "1s", value_parser = parse_delay)]
    pub delay: std::time::Duration,
    /// Sort by this column (its header works too: -s MINFLT/s)
    #[arg(short, long, value_enum, ignore_case = true, default_value_t = SortKey::Faults)]
    pub sort: SortKey,
    /// Reverse the sort order
    #[arg(short, long)]
    pub reverse: bool,
    /// Batch output format
    #[arg(long, value_enum, default_value_t = TopFormat::Text)]
    pub format: TopFormat,
    /// Where the figures come from
    #[arg(long, value_enum, default_value_t = Backend::Module)]
    pub backend: Backend,
    /// Only these processes (module), or the processes to watch (procfs);
    /// comma-separated, repeatable. A thread id stands for its process; a
    /// pid that is not alive is reported and skipped. With the module, the
    /// root of a process tree stands for the whole tree
    #[arg(
        short = 'p',
        long = "pid",
        value_name = "PID[,PID...]",
        value_delimiter = ',',
        required_if_eq("backend", "procfs")
    )]
    pub pids: Vec<Pid>,
    /// Fold each process tree (`pfprof run --tree`) into one row: the
    /// root's pid and command, the sums over its processes (key t in the
    /// screen)
    #[arg(short = 'T', long)]
    pub tree: bool,
    /// Play back a recording of `monitor --per-process` (any format; HZ
    /// from its `--header` line) at the recorded pace, one step per --delay
    #[arg(long, value_name = "FILE", conflicts_with_all = ["backend", "pids"])]
    pub replay: Option<PathBuf>,
}

/// Parses pfprof-top's delay: a bare number of seconds (as top takes it),
/// or a duration with a unit (`500ms`, `0.5s`, `2s`, `1m`); 10 ms to 1 h.
pub fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    duration::parse(
        s,
        "delay",
        BareUnit::Seconds,
        Duration::from_millis(10)..=Duration::from_secs(3600),
    )
}

/// Parses a sampling period: a duration with a unit (`50ms`, `0.1s`,
/// `2000us`) or a bare number of microseconds; it must lie within the
/// module's range (1ms to 10s).
pub fn parse_period_us(s: &str) -> Result<u32, String> {
    use std::time::Duration;
    let d = duration::parse(
        s,
        "period",
        BareUnit::Micros,
        Duration::from_micros(PERIOD_MIN_US.into())..=Duration::from_micros(PERIOD_MAX_US.into()),
    )?;
    u32::try_from(d.as_micros()).map_err(|_| format!("period {s} is out of range"))
}

const PFPROF_AFTER_HELP: &str = "\
Examples:
  pfprof run -- ./work 64 R 1000
      run a command profiled, then a summary as perf stat
  pfprof register -p 1234,5678
      profile running processes (a thread id stands for its process)
  pfprof status
      the profiler's global figures
  pfprof period 10ms
      sample every 10 ms (needs CAP_SYS_ADMIN)
  pfprof man --dir /usr/local/share/man/man1
      install the man pages

Exit status:
  0  success (pfprof run: the command's exit status)
  1  an error: no module (the message names the device tried), a
     refused request, no process alive among the pids given
  2  invalid arguments";

const RUN_AFTER_HELP: &str = "\
Signals:
  Ctrl-C reaches the command from the terminal; a SIGINT or SIGTERM
  sent to pfprof (kill) is passed on to the command within 20 ms.
  pfprof stays to print the summary when the command has exited.

Examples:
  pfprof run -- ./work 64 R 1000
      the command's faults, CPU time and peak RSS on stderr
  pfprof run -- sh -c 'make -j2'
      the shell alone is profiled; rusage covers its reaped children
  pfprof run --tree -o build.json -- make -j2
      make and every process it starts, by command name, with the
      tree's totals; the summary also as JSON in build.json

Exit status:
  the command's exit status (128 + N when killed by signal N); 1 when
  pfprof itself fails (the command cannot be started); 2 for invalid
  arguments. Without the module the command runs all the same and the
  summary gives wait4's rusage alone.";

/// pfprof's control CLI: register processes, query and tune the profiler,
/// run a command under it.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pfprof",
    version,
    subcommand_required = true,
    after_long_help = PFPROF_AFTER_HELP
)]
pub struct PfprofCli {
    /// The device.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: PfprofCommand,
}

/// The pids of `pfprof register` and `unregister`: arguments, `-p` lists,
/// or both.
#[derive(Debug, Clone, Default, Args)]
#[group(required = true, multiple = true)]
pub struct PidList {
    /// Process ids (PID[,PID...])
    #[arg(value_name = "PID", value_delimiter = ',')]
    pub args: Vec<Pid>,
    /// Process ids, comma-separated, repeatable (as in the other tools)
    #[arg(
        short = 'p',
        long = "pid",
        value_name = "PID[,PID...]",
        value_delimiter = ','
    )]
    pub pids: Vec<Pid>,
}

impl PidList {
    /// Every pid given, in order (arguments first).
    pub fn all(&self) -> Vec<Pid> {
        self.args.iter().chain(&self.pids).copied().collect()
    }
}

/// The subcommands of `pfprof`.
#[derive(Debug, Clone, Subcommand)]
pub enum PfprofCommand {
    /// Register processes for profiling
    ///
    /// A thread id stands for its process; duplicates count once; a pid
    /// that is not alive is reported and skipped (the command fails only
    /// when none is alive).
    Register {
        /// Register each as the root of a process tree: the processes it
        /// (and they) fork from now on are registered too
        #[arg(long)]
        tree: bool,
        /// The processes.
        #[command(flatten)]
        pids: PidList,
    },
    /// Unregister processes
    ///
    /// A thread id stands for its process; a pid that is not alive is
    /// reported and skipped (the module drops exited processes itself).
    Unregister {
        /// The processes.
        #[command(flatten)]
        pids: PidList,
    },
    /// List the registered processes, one pid per line
    List,
    /// Show the profiler's global figures
    Status,
    /// Clear all counters and buffers (needs CAP_SYS_ADMIN)
    Reset,
    /// Show the sampling period, or set it (needs CAP_SYS_ADMIN)
    Period {
        /// New period, 1ms to 10s: a duration (50ms, 0.1s, 2000us) or a
        /// bare number of microseconds
        #[arg(value_parser = parse_period_us, value_name = "DURATION")]
        period_us: Option<u32>,
    },
    /// Run a command registered from its first instruction, then print a
    /// perf-stat-like summary on stderr and exit with its status
    ///
    /// pfprof's figures cover the process alone (all its threads, across
    /// exec); the rusage beside them (from wait4) also covers the children
    /// it reaped. Without the module, the command still runs and the
    /// summary gives wait4's rusage alone, labelled as such.
    #[command(
        override_usage = "pfprof run [OPTIONS] [--] COMMAND [ARG]...",
        after_long_help = RUN_AFTER_HELP
    )]
    Run {
        /// Profile the command and every process it starts (a process
        /// tree): print a per-command breakdown and the tree's totals
        #[arg(long)]
        tree: bool,
        /// With --tree: also write the summary as JSON to FILE
        #[arg(short = 'o', long, requires = "tree", value_name = "FILE")]
        output: Option<PathBuf>,
        /// The command and its arguments
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND",
            value_hint = ValueHint::CommandWithArguments
        )]
        command: Vec<OsString>,
    },
    /// Serve the profiled processes' figures to Prometheus at /metrics
    ///
    /// Serves the processes registered with the module (or only those of
    /// -p), or with --backend procfs the processes of -p, read from /proc,
    /// in the Prometheus text format or OpenMetrics. Every scrape reads the
    /// figures anew; nothing is sampled between scrapes.
    Exporter(crate::exporter::ExporterArgs),
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
/// follows the file extension (.png or .svg); the path is printed. Text and
/// lines scale with --width and --height (the font is built in). Processes
/// are labelled with their command (`work[1234]`) when the recording names
/// them.
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
        /// Which processes of per-process recordings
        #[command(flatten)]
        select: PlotSelect,
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
        /// Which processes
        #[command(flatten)]
        select: PlotSelect,
        /// Smooth each line by a trailing moving average over WINDOW: a
        /// duration with its unit (500ms, 2s) or, as a bare number, a
        /// count of samples (10); stated in the caption
        #[arg(long, value_name = "WINDOW", value_parser = parse_window)]
        smooth: Option<pfprof_profile::analysis::Window>,
        /// A recording of `monitor --per-process`
        #[arg(value_name = "RECORDING")]
        input: PathBuf,
    },
    /// Resident and swapped-out memory (summed over the processes) against
    /// time, with the major-fault rate on a second axis (per-process
    /// recordings of pfprof 0.2 on, which carry the memory)
    Memory {
        /// The image to write (.png or .svg)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// The caption
        #[arg(short, long, default_value = "Memory and major faults")]
        title: String,
        /// The machine's RAM in MiB, drawn as a line (MemTotal of
        /// /proc/meminfo / 1024)
        #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
        ram: Option<u64>,
        /// Smooth the major-fault rate by a trailing moving average over
        /// WINDOW: a duration (500ms, 2s) or a count of samples (10)
        #[arg(long, value_name = "WINDOW", value_parser = parse_window)]
        smooth: Option<pfprof_profile::analysis::Window>,
        /// A recording of `monitor --per-process --format csv` (or json)
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
    /// Print a table, a row per profile: samples, faults, completion time,
    /// fault rates, utilization, and the memory peaks of recordings that
    /// carry memory
    Summary {
        /// Profiles: LABEL=PATH, or PATH
        #[arg(required = true, value_name = "PROFILE")]
        inputs: Vec<String>,
    },
}

/// Which processes of a per-process recording `pfprof-plot` draws.
#[derive(Debug, Clone, Default, Args)]
pub struct PlotSelect {
    /// Only these processes (a comma-separated list, or the option
    /// repeated)
    #[arg(short = 'p', long = "pids", visible_alias = "pid", value_name = "PID[,PID...]", value_delimiter = ',', value_parser = clap::value_parser!(i32).range(1..))]
    pub pids: Vec<i32>,
    /// Only the N processes with the most faults; the others are summed
    /// into one line, "other (K processes)"
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub top: Option<u32>,
}

/// A moving-average window: a duration with its unit (`500ms`, `2s`), or
/// a bare number of samples.
pub fn parse_window(s: &str) -> Result<pfprof_profile::analysis::Window, String> {
    use pfprof_profile::analysis::Window;
    if let Ok(n) = s.parse::<usize>() {
        return match n {
            0 => Err("the window must hold at least 1 sample".to_owned()),
            n => Ok(Window::Samples(n)),
        };
    }
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("the window must be longer than 0".to_owned()),
        Ok(d) => Ok(Window::Duration(d)),
        Err(e) => Err(format!(
            "`{s}` is neither a duration (500ms, 2s) nor a number of samples: {e}"
        )),
    }
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
    use std::time::Duration;

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
        assert_eq!(
            parse_period_us("5us").unwrap_err(),
            "period 5us is out of range (1ms to 10s)"
        );
        assert_eq!(
            parse_period_us("5").unwrap_err(),
            "period 5us is out of range (1ms to 10s)"
        );
        assert_eq!(parse_period_us("0.05s"), Ok(50_000));
        assert_eq!(parse_period_us("1s 500ms"), Ok(1_500_000));
        assert_eq!(parse_period_us("50ms"), Ok(50_000));
        assert_eq!(parse_period_us("0.1s"), Ok(100_000));
        assert_eq!(parse_period_us("2000us"), Ok(2_000));
        assert!(parse_period_us("999").is_err());
        assert!(parse_period_us("11s").is_err());
        assert!(parse_period_us("fast").is_err());
        assert!(parse_period_us("-5ms").is_err());
    }

    #[test]
    fn top_delays_are_seconds_or_durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_delay("0.5"), Ok(ms(500)));
        assert_eq!(parse_delay("2"), Ok(ms(2000)));
        assert_eq!(parse_delay("500ms"), Ok(ms(500)));
        assert_eq!(parse_delay("2s"), Ok(ms(2000)));
        assert_eq!(parse_delay("1s 500ms"), Ok(ms(1500)));
        assert_eq!(parse_delay("1m"), Ok(ms(60_000)));
        assert!(parse_delay("5ms").unwrap_err().contains("out of range"));
        assert!(parse_delay("2h").is_err());
        assert!(parse_delay("-1").is_err());
        assert_eq!(parse_delay("0.5s"), Ok(ms(500)));
        assert_eq!(
            parse_delay("1.5ms").unwrap_err(),
            "delay 1.5ms is out of range (10ms to 1h)"
        );
        assert!(parse_delay("soon").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn top_sort_keys_are_named_by_their_columns() {
        assert_eq!(SortKey::Minflt.column(), "MINFLT/s");
        assert_eq!(SortKey::Cpu.column(), "CPU%");
        assert_eq!(SortKey::Rss.column(), "RSS");
        let mut k = SortKey::Pid;
        for _ in 0..9 {
            k = k.next();
        }
        assert_eq!(k, SortKey::Pid);
    }

    #[test]
    fn pfprof_parses_subcommands_and_validates() {
        let c = PfprofCli::try_parse_from(["pfprof", "register", "12", "34"]).unwrap();
        match c.command {
            PfprofCommand::Register { pids, .. } => {
                assert_eq!(pids.all(), [Pid::new(12).unwrap(), Pid::new(34).unwrap()])
            }
            other => panic!("{other:?}"),
        }
        assert!(PfprofCli::try_parse_from(["pfprof", "register", "0"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof", "register", "abc"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof", "register"]).is_err());
        let c =
            PfprofCli::try_parse_from(["pfprof", "unregister", "5,6", "-p", "7,8", "--pid", "9"])
                .unwrap();
        match c.command {
            PfprofCommand::Unregister { pids } => {
                let raw: Vec<i32> = pids.all().iter().map(|p| p.as_raw()).collect();
                assert_eq!(raw, [5, 6, 7, 8, 9]);
            }
            other => panic!("{other:?}"),
        }
        assert!(PfprofCli::try_parse_from(["pfprof", "register", "-p", "1,x"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof", "period", "10us"]).is_err());
        assert!(PfprofCli::try_parse_from(["pfprof"]).is_err());
        let r = PfprofCli::try_parse_from(["pfprof", "run", "--", "ls", "-l", "--all"]).unwrap();
        match r.command {
            PfprofCommand::Run { command, tree, .. } => {
                assert_eq!(command, ["ls", "-l", "--all"]);
                assert!(!tree);
            }
            other => panic!("{other:?}"),
        }
        let r =
            PfprofCli::try_parse_from(["pfprof", "run", "--tree", "-o", "s.json", "make"]).unwrap();
        match r.command {
            PfprofCommand::Run {
                command,
                tree,
                output,
            } => {
                assert_eq!(command, ["make"]);
                assert!(tree);
                assert_eq!(output, Some(PathBuf::from("s.json")));
            }
            other => panic!("{other:?}"),
        }
        assert!(PfprofCli::try_parse_from(["pfprof", "run", "-o", "s.json", "make"]).is_err());
        let r = PfprofCli::try_parse_from(["pfprof", "register", "--tree", "12"]).unwrap();
        assert!(matches!(
            r.command,
            PfprofCommand::Register { tree: true, .. }
        ));
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
        assert!(t.batch && !t.reverse);
        assert_eq!(
            (t.iterations, t.delay, t.sort, t.format),
            (
                Some(2),
                Duration::from_millis(500),
                SortKey::Cpu,
                TopFormat::Text
            )
        );
        assert!(TopCli::try_parse_from(["pfprof-top", "-n", "0"]).is_err());
        assert!(TopCli::try_parse_from(["pfprof-top", "-d", "0"]).is_err());
        for (arg, key) in [
            ("MINFLT/s", SortKey::Minflt),
            ("CPU%", SortKey::Cpu),
            ("Since", SortKey::Since),
        ] {
            let t = TopCli::try_parse_from(["pfprof-top", "-s", arg]).unwrap();
            assert_eq!(t.sort, key, "{arg}");
        }
        let t = TopCli::try_parse_from(["pfprof-top", "-r", "--format", "json"]).unwrap();
        assert!(t.reverse && t.format == TopFormat::Json);
        assert_eq!(t.delay, Duration::from_secs(1));
        let r = TopCli::try_parse_from(["pfprof-top", "--replay", "x.csv"]).unwrap();
        assert_eq!(r.replay, Some(PathBuf::from("x.csv")));
        assert!(TopCli::try_parse_from(["pfprof-top", "--replay", "x", "-p", "1"]).is_err());
    }

    #[test]
    fn procfs_backend_needs_pids() {
        let t = TopCli::try_parse_from([
            "pfprof-top",
            "--backend",
            "procfs",
            "--pid",
            "1,2",
            "-p",
            "3",
        ])
        .unwrap();
        assert_eq!(t.backend, Backend::Procfs);
        let raw: Vec<i32> = t.pids.iter().map(|p| p.as_raw()).collect();
        assert_eq!(raw, [1, 2, 3]);
        assert!(TopCli::try_parse_from(["pfprof-top", "-p", "1,x"]).is_err());
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
        let m = MonitorCli::try_parse_from([
            "monitor",
            "--backend",
            "procfs",
            "--per-process",
            "-p",
            "7,8",
            "--pid",
            "9",
            "--period",
            "0.5s",
        ])
        .unwrap();
        let raw: Vec<i32> = m.backend.pids.iter().map(|p| p.as_raw()).collect();
        assert_eq!((raw, m.period), (vec![7, 8, 9], 500_000));
        let e = MonitorCli::try_parse_from(["monitor", "--period", "5us"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("period 5us is out of range (1ms to 10s)"), "{e}");
        assert_eq!(
            MonitorCli::try_parse_from(["monitor"])
                .unwrap()
                .backend
                .backend,
            Backend::Module
        );
    }
}
