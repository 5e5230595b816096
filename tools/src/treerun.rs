//! `pfprof run --tree`: a command and every process it starts, profiled as
//! one process tree (the module's `PFPROF_REG_TREE`).
//!
//! The command registers itself as the tree's root between fork and exec;
//! the module registers every process a member forks from then on, from its
//! fork (a process that lives less than one period is counted whole), and
//! tags their records with the root's pid. This tool follows the extended
//! ring from before the spawn and sums the records of the tree, per process
//! and per command name (the name in each process's last record: after its
//! exec), until the root's last record. Members still running then (a
//! daemon it started) stay registered, profiled by the module until they
//! exit; the summary counts them up to the root's end and says how many
//! there were.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libpfprof::ext::{self, RecordFlags};
use libpfprof::{Counters, Pid, Profiler};

use crate::ctl::exit_code;
use crate::format;
use crate::{Result, ToolError};

/// How often the ring is read while the tree runs (as `pfprof run`).
const RING_POLL: Duration = Duration::from_millis(100);

/// One process of the tree, from its records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Member {
    command: String,
    counters: Counters,
    exited: bool,
}

/// The figures of one command name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandFigures {
    /// The command name (as `/proc/<pid>/comm`).
    pub command: String,
    /// Processes with that name.
    pub processes: u64,
    /// Their faults and CPU time.
    pub counters: Counters,
}

/// What `pfprof run --tree` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSummary {
    /// The command line.
    pub command: String,
    /// The root's pid.
    pub root: i32,
    /// Wall-clock time from spawn to the root's exit, in nanoseconds.
    pub elapsed_ns: u64,
    /// Per command name, most minor faults first.
    pub commands: Vec<CommandFigures>,
    /// The tree's totals: the sum over its processes.
    pub total: Counters,
    /// Processes of the tree (distinct pids in its records).
    pub processes: u64,
    /// Processes of the tree still running at the root's end.
    pub still_running: u64,
    /// Records of the ring overwritten before they were read (then the
    /// figures are lower bounds).
    pub records_lost: u64,
    /// wait4's rusage of the root: it and the descendants it waited for.
    pub rusage: Counters,
    /// How the root ended, e.g. `exit status 0`.
    pub ended: String,
}

impl TreeSummary {
    /// The summary as JSON: `minor_faults`, `major_faults`, `cpu_ns` and
    /// `processes` of the tree, then the details.
    pub fn to_json(&self) -> serde_json::Value {
        let counters = |c: &Counters| {
            serde_json::json!({
                "minor_faults": c.minor,
                "major_faults": c.major,
                "cpu_ns": c.cpu_ns,
            })
        };
        serde_json::json!({
            "command": self.command,
            "root_pid": self.root,
            "minor_faults": self.total.minor,
            "major_faults": self.total.major,
            "cpu_ns": self.total.cpu_ns,
            "processes": self.processes,
            "still_running": self.still_running,
            "records_lost": self.records_lost,
            "elapsed_ns": self.elapsed_ns,
            "ended": self.ended,
            "rusage": counters(&self.rusage),
            "commands": self.commands.iter().map(|c| serde_json::json!({
                "command": c.command,
                "processes": c.processes,
                "minor_faults": c.counters.minor,
                "major_faults": c.counters.major,
                "cpu_ns": c.counters.cpu_ns,
            })).collect::<Vec<_>>(),
        })
    }
}

fn msec(ns: u64) -> String {
    format!("{:.2} msec", ns as f64 / 1e6)
}

/// Writes the summary: one line per command name, the totals, the rusage.
pub fn render_tree(w: &mut impl Write, s: &TreeSummary) -> std::io::Result<()> {
    writeln!(w)?;
    writeln!(w, " pfprof tree stats for '{}':", s.command)?;
    writeln!(w)?;
    writeln!(
        w,
        " {:<16} {:>9} {:>14} {:>14} {:>16}",
        "command", "processes", "minor-faults", "major-faults", "cpu-time"
    )?;
    let row = |w: &mut dyn Write, name: &str, n: u64, c: &Counters| {
        writeln!(
            w,
            " {:<16} {:>9} {:>14} {:>14} {:>16}",
            name,
            format::thousands(n),
            format::thousands(c.minor),
            format::thousands(c.major),
            msec(c.cpu_ns)
        )
    };
    for c in &s.commands {
        row(w, &c.command, c.processes, &c.counters)?;
    }
    row(w, "total", s.processes, &s.total)?;
    writeln!(w)?;
    writeln!(
        w,
        " rusage of the command and the descendants it waited for: {} minor-faults, {} \
         major-faults, {}",
        format::thousands(s.rusage.minor),
        format::thousands(s.rusage.major),
        msec(s.rusage.cpu_ns)
    )?;
    writeln!(
        w,
        "{:>18.6} seconds time elapsed ({})",
        s.elapsed_ns as f64 / 1e9,
        s.ended
    )?;
    writeln!(w)?;
    writeln!(
        w,
        " pfprof counted every process of the tree from its fork, orphans too, each once \
         (its own faults, not its children's)."
    )?;
    if s.still_running > 0 {
        writeln!(
            w,
            " {} processes of the tree were still running at the command's end: counted up to \
             then; the module follows them until they exit.",
            format::thousands(s.still_running)
        )?;
    }
    if s.records_lost > 0 {
        writeln!(
            w,
            " {} records of the extended ring were overwritten before they were read: the \
             figures are lower bounds.",
            format::thousands(s.records_lost)
        )?;
    }
    writeln!(w)
}

/// The tree's records read so far.
struct Tally {
    stream: ext::Stream,
    root: Pid,
    members: BTreeMap<i32, Member>,
    lost: u64,
    root_exited: bool,
}

impl Tally {
    fn poll(&mut self, region: &libpfprof::Mapping) -> Result<()> {
        let batch = self.stream.poll(region)?;
        self.lost = self.lost.saturating_add(batch.lost);
        for r in batch.records {
            let (Some(pid), Some(root)) = (r.pid, r.tree_root) else {
                continue;
            };
            if root != self.root {
                continue;
            }
            let m = self.members.entry(pid.as_raw()).or_default();
            m.counters = m.counters.saturating_add(r.counters);
            m.command = r.command();
            if r.flags.contains(RecordFlags::EXITED) {
                m.exited = true;
                if pid == self.root {
                    self.root_exited = true;
                }
            }
        }
        Ok(())
    }
}

/// Sums the members per command name (most minor faults first) and in all.
fn summarize(members: &BTreeMap<i32, Member>) -> (Vec<CommandFigures>, Counters, u64, u64) {
    let mut by_name: BTreeMap<&str, CommandFigures> = BTreeMap::new();
    let mut total = Counters::ZERO;
    for m in members.values() {
        let c = by_name
            .entry(m.command.as_str())
            .or_insert_with(|| CommandFigures {
                command: m.command.clone(),
                ..Default::default()
            });
        c.processes += 1;
        c.counters = c.counters.saturating_add(m.counters);
        total = total.saturating_add(m.counters);
    }
    let mut commands: Vec<CommandFigures> = by_name.into_values().collect();
    commands.sort_by(|a, b| {
        b.counters
            .minor
            .cmp(&a.counters.minor)
            .then(a.command.cmp(&b.command))
    });
    let running = members.values().filter(|m| !m.exited).count() as u64;
    (commands, total, members.len() as u64, running)
}

/// Reaps `pid` with wait4: its status and rusage (faults, CPU ns).
fn reap(pid: i32) -> std::io::Result<(std::process::ExitStatus, Counters)> {
    use nix::libc;
    use std::os::unix::process::ExitStatusExt;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child; `status` and `ru` are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let ns = |t: libc::timeval| {
        (t.tv_sec.max(0) as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_usec.max(0) as u64 * 1000)
    };
    Ok((
        std::process::ExitStatus::from_raw(status),
        Counters::new(
            ru.ru_minflt.max(0) as u64,
            ru.ru_majflt.max(0) as u64,
            ns(ru.ru_utime).saturating_add(ns(ru.ru_stime)),
        ),
    ))
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "unknown end".to_owned(),
    }
}

fn spawn_error(program: &OsString, e: std::io::Error) -> ToolError {
    if e.kind() == std::io::ErrorKind::NotFound {
        return ToolError::Msg(format!(
            "cannot run {}: command not found",
            program.to_string_lossy()
        ));
    }
    if e.raw_os_error() == Some(nix::libc::EOPNOTSUPP) {
        return ToolError::Msg(
            "process trees are not available: the module could not hook forks (the kernel \
             needs CONFIG_TRACEPOINTS)"
                .to_owned(),
        );
    }
    libpfprof::spawn_error(e).into()
}

/// `pfprof run --tree`: spawn as a tree root, follow the tree's records
/// until the root's last one, summarize on `err` (and as JSON in `output`),
/// pass the root's status on.
pub fn run_tree(
    p: &Profiler,
    argv: &[OsString],
    output: Option<&Path>,
    err: &mut impl Write,
) -> Result<u8> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| ToolError::Msg("no command given".to_owned()))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    p.register_tree_on_spawn(&mut cmd)?;
    let region = p.map_extended()?;
    let stream = ext::Stream::from_now(&region)?;
    crate::signal::catch_interrupts()?;
    let start = Instant::now();
    let child = cmd.spawn().map_err(|e| spawn_error(program, e))?;
    let raw = child.id() as i32;
    let root = Pid::new(raw).ok_or_else(|| ToolError::Msg(format!("spawned pid {raw}")))?;
    let mut tally = Tally {
        stream,
        root,
        members: BTreeMap::new(),
        lost: 0,
        root_exited: false,
    };
    // The waiter reaps the root; the tree's records are read meanwhile.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(reap(raw));
    });
    let reaped = loop {
        match rx.recv_timeout(RING_POLL) {
            Ok(r) => break r?,
            Err(mpsc::RecvTimeoutError::Timeout) => tally.poll(&region)?,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ToolError::Msg("lost the waiter thread".to_owned()))
            }
        }
    };
    let elapsed_ns = start.elapsed().as_nanos() as u64;
    drop(child); // Reaped by the waiter.
                 // The root's last record comes at the sampler's next tick: three
                 // periods, at most 1 s.
    let period = p
        .query()
        .map(|s| Duration::from_micros(s.period_us.into()))
        .unwrap_or(Duration::from_millis(50));
    let deadline = Instant::now() + (3 * period).min(Duration::from_secs(1));
    loop {
        tally.poll(&region)?;
        if tally.root_exited || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (status, rusage) = reaped;
    let (commands, total, processes, still_running) = summarize(&tally.members);
    let summary = TreeSummary {
        command: argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        root: raw,
        elapsed_ns,
        commands,
        total,
        processes,
        still_running,
        records_lost: tally.lost,
        rusage,
        ended: describe(status),
    };
    render_tree(err, &summary)?;
    if let Some(path) = output {
        let text = serde_json::to_string_pretty(&summary.to_json())
            .map_err(|e| ToolError::Msg(format!("encoding the summary: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| ToolError::Msg(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(command: &str, minor: u64, exited: bool) -> Member {
        Member {
            command: command.to_owned(),
            counters: Counters::new(minor, 1, 1_000_000),
            exited,
        }
    }

    fn sample() -> TreeSummary {
        let members: BTreeMap<i32, Member> = [
            (10, member("sh", 100, true)),
            (11, member("true", 30, true)),
            (12, member("true", 40, true)),
            (13, member("sleep", 5, false)),
        ]
        .into_iter()
        .collect();
        let (commands, total, processes, still_running) = summarize(&members);
        TreeSummary {
            command: "sh -c x".to_owned(),
            root: 10,
            elapsed_ns: 2_000_000_000,
            commands,
            total,
            processes,
            still_running,
            records_lost: 0,
            rusage: Counters::new(170, 3, 3_000_000),
            ended: "exit status 0".to_owned(),
        }
    }

    #[test]
    fn commands_are_grouped_by_name_and_totalled() {
        let s = sample();
        assert_eq!(s.processes, 4);
        assert_eq!(s.still_running, 1);
        assert_eq!(s.total, Counters::new(175, 4, 4_000_000));
        let names: Vec<(&str, u64, u64)> = s
            .commands
            .iter()
            .map(|c| (c.command.as_str(), c.processes, c.counters.minor))
            .collect();
        assert_eq!(names, [("sh", 1, 100), ("true", 2, 70), ("sleep", 1, 5)]);
    }

    #[test]
    fn the_summary_renders_rows_totals_and_notes() {
        let mut out = Vec::new();
        render_tree(&mut out, &sample()).unwrap();
        let t = String::from_utf8(out).unwrap();
        assert!(t.contains("pfprof tree stats for 'sh -c x'"), "{t}");
        let total = t
            .lines()
            .find(|l| l.trim_start().starts_with("total"))
            .unwrap();
        assert!(total.contains(" 4 ") && total.contains("175"), "{total}");
        assert!(
            t.contains("1 processes of the tree were still running"),
            "{t}"
        );
        assert!(!t.contains("lower bounds"), "{t}");
    }

    #[test]
    fn the_json_has_the_totals_and_the_commands() {
        let j = sample().to_json();
        assert_eq!(j["minor_faults"], 175);
        assert_eq!(j["major_faults"], 4);
        assert_eq!(j["cpu_ns"], 4_000_000);
        assert_eq!(j["processes"], 4);
        assert_eq!(j["commands"][1]["command"], "true");
        assert_eq!(j["commands"][1]["processes"], 2);
        assert_eq!(j["rusage"]["minor_faults"], 170);
    }
}
