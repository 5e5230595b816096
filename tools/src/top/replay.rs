//! `--replay FILE`: a recording of `monitor --per-process` played back as
//! snapshots, one step of `--delay` recorded time at a time.
//!
//! A recording holds, per sampling tick, one record per process with the
//! period's faults and CPU time (and a totals record, pid 0, left out
//! here); summing them gives the cumulative figures a live source reports.
//! A process counts as registered one period before its first record, and
//! is gone after its `exited` record (csv and json recordings). Command
//! names come from the recording's `# pfprof comm PID "NAME"` lines, else
//! show as `?`. A recording with the `tree_root` column gives each tree
//! member's root, so that `--tree` folds the trees.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use libpfprof::ext::Footprint;
use libpfprof::{Counters, Pid, ProcStats, State};

use super::{Origin, Snapshot};
use crate::{Result, ToolError};
use pfprof_profile::{ProcRecord, Profile};

/// A process's sums so far, and when it counts as registered.
#[derive(Debug, Clone, Copy)]
struct Cumulative {
    pid: Pid,
    sums: Counters,
    registered_ns: u64,
}

impl Cumulative {
    fn stats(&self) -> ProcStats {
        let c = self.sums;
        ProcStats::fixture(self.pid, c.minor, c.major, c.cpu_ns, self.registered_ns)
    }
}

#[derive(Debug, Clone)]
struct Tick {
    at_ns: u64,
    records: Vec<ProcRecord>,
}

/// A recording being played back.
#[derive(Debug, Clone)]
pub struct Replay {
    ticks: Vec<Tick>,
    next: usize,
    step_ns: u64,
    period_us: u32,
    cumulative: BTreeMap<i32, Cumulative>,
    present: Vec<i32>,
    commands: BTreeMap<i32, String>,
    last_at_ns: u64,
    exited: Vec<i32>,
    /// The latest memory figures of each pid, from recordings that have them.
    memory: BTreeMap<i32, Footprint>,
    /// The tree root of each tree member, from recordings that have them.
    roots: BTreeMap<i32, Pid>,
}

impl Replay {
    /// Reads a recording; errors name the file.
    pub fn read(path: &Path, step: Duration) -> Result<Replay> {
        let p = Profile::read(path)?;
        let name = path.display().to_string();
        let hz = p.hz_or(None, &name)?;
        let mut r = Replay::new(&p.records, hz, p.header.period_us, step)
            .map_err(|e| ToolError::Msg(format!("{name}: {e}")))?;
        r.commands = p.header.commands;
        Ok(r)
    }

    /// Builds a replay of `records` (file order) at `hz`, stepping by `step`.
    pub fn new(
        records: &[ProcRecord],
        hz: u32,
        period_us: Option<u32>,
        step: Duration,
    ) -> Result<Replay> {
        let first = records.first().ok_or_else(|| {
            ToolError::Msg(
                "no per-process records (record with `monitor --per-process --header`)".to_owned(),
            )
        })?;
        let to_ns = |j: u64| {
            let d = j.saturating_sub(first.jiffies);
            (u128::from(d) * 1_000_000_000 / u128::from(hz.max(1))) as u64
        };
        // Without a stated period, the first gap between ticks.
        let period_us = period_us.unwrap_or_else(|| {
            records
                .iter()
                .map(|r| to_ns(r.jiffies))
                .find(|&t| t > 0)
                .map_or(1_000_000, |ns| u32::try_from(ns / 1000).unwrap_or(u32::MAX))
        });
        let period_ns = u64::from(period_us) * 1000;
        let mut ticks: Vec<Tick> = Vec::new();
        for r in records {
            let at_ns = to_ns(r.jiffies) + period_ns;
            match ticks.last_mut() {
                Some(t) if t.at_ns == at_ns => {}
                _ => ticks.push(Tick {
                    at_ns,
                    records: Vec::new(),
                }),
            }
            if r.pid > 0 {
                if let Some(t) = ticks.last_mut() {
                    t.records.push(*r);
                }
            }
        }
        Ok(Replay {
            ticks,
            next: 0,
            step_ns: u64::try_from(step.as_nanos()).unwrap_or(u64::MAX),
            period_us,
            cumulative: BTreeMap::new(),
            present: Vec::new(),
            commands: BTreeMap::new(),
            last_at_ns: 0,
            exited: Vec::new(),
            memory: BTreeMap::new(),
            roots: BTreeMap::new(),
        })
    }

    fn consume(&mut self, until_ns: u64) {
        let mut seen = Vec::new();
        let mut gone = Vec::new();
        let period_ns = u64::from(self.period_us) * 1000;
        while let Some(t) = self.ticks.get(self.next) {
            if t.at_ns > until_ns && !seen.is_empty() {
                break;
            }
            if t.at_ns > until_ns && self.next > 0 {
                break;
            }
            for r in &t.records {
                let Some(pid) = Pid::new(r.pid) else { continue };
                let c = self.cumulative.entry(r.pid).or_insert_with(|| Cumulative {
                    pid,
                    sums: Counters::ZERO,
                    registered_ns: t.at_ns.saturating_sub(period_ns),
                });
                c.sums = c.sums.saturating_add(r.counters);
                if let Some(m) = r.memory() {
                    let mut f = Footprint::default();
                    f.rss_anon_bytes = m.rss_anon_bytes;
                    f.rss_file_bytes = m.rss_file_bytes;
                    f.rss_shmem_bytes = m.rss_shmem_bytes;
                    f.swap_bytes = m.swap_bytes;
                    self.memory.insert(r.pid, f);
                }
                if let Some(root) = r.tree_root().and_then(Pid::new) {
                    self.roots.insert(r.pid, root);
                }
                if r.exited() {
                    gone.push(r.pid);
                }
                if !seen.contains(&r.pid) {
                    seen.push(r.pid);
                }
            }
            self.last_at_ns = t.at_ns;
            self.next += 1;
        }
        if !seen.is_empty() {
            self.present = seen;
        }
        // An exited process shows its last figures in this step, and then
        // no more (a step without records keeps the ones before).
        self.exited = gone;
    }

    /// The next step's snapshot (the first call: the first tick), or `None`
    /// once the recording is over.
    pub fn next_snapshot(&mut self) -> Option<Snapshot> {
        if self.next >= self.ticks.len() {
            return None;
        }
        let until = if self.next == 0 {
            self.ticks[0].at_ns
        } else {
            self.last_at_ns.saturating_add(self.step_ns)
        };
        let gone = std::mem::take(&mut self.exited);
        self.present.retain(|p| !gone.contains(p));
        self.consume(until);
        let procs = self
            .present
            .iter()
            .filter_map(|p| self.cumulative.get(p))
            .map(|c| {
                let command = self.commands.get(&c.pid.as_raw());
                (c.stats(), command.map_or("?", String::as_str).to_owned())
            })
            .collect();
        let memory = self
            .present
            .iter()
            .filter_map(|&p| Some((Pid::new(p)?, *self.memory.get(&p)?)))
            .collect();
        let roots = self
            .present
            .iter()
            .filter_map(|&p| Some((Pid::new(p)?, *self.roots.get(&p)?)))
            .collect();
        Some(Snapshot {
            memory,
            roots,
            departed: Vec::new(),
            exiting: self.exited.iter().filter_map(|&p| Pid::new(p)).collect(),
            trees: None,
            at_ns: self.last_at_ns,
            wall: SystemTime::now(),
            state: State::Running,
            period_us: self.period_us,
            procs,
            origin: Origin::Replay,
        })
    }

    /// Whether every step has been played.
    pub fn finished(&self) -> bool {
        self.next >= self.ticks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::SortKey;
    use crate::top::model;

    fn rec(jiffies: u64, pid: i32, min: u64, cpu_ns: u64) -> ProcRecord {
        ProcRecord {
            jiffies,
            pid,
            counters: Counters::new(min, 0, cpu_ns),
            detail: None,
        }
    }

    #[test]
    fn steps_accumulate_and_give_rates() {
        // HZ 1000, period 100 ms: ticks at jiffies 1000, 1100, ... 1900.
        let mut records = Vec::new();
        for i in 0..10u64 {
            records.push(rec(1000 + 100 * i, 7, 50, 50_000_000));
            if i >= 5 {
                records.push(rec(1000 + 100 * i, 9, 10, 0));
            }
            records.push(rec(1000 + 100 * i, 0, 0, 0));
        }
        let mut r = Replay::new(&records, 1000, Some(100_000), Duration::from_millis(500)).unwrap();
        let first = r.next_snapshot().unwrap();
        assert_eq!(first.procs.len(), 1);
        assert_eq!(first.procs[0].0.counters.minor, 50);
        let second = r.next_snapshot().unwrap();
        let rows = model(Some(&first), &second, SortKey::Pid);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].minflt_per_s, Some(500.0));
        assert_eq!(rows[0].cpu_percent, Some(50.0));
        assert_eq!(rows[0].total_faults, 300);
        assert_eq!(rows[1].pid.as_raw(), 9);
        assert_eq!(rows[1].total_faults, 10);
        let third = r.next_snapshot().unwrap();
        assert_eq!(third.at_ns - second.at_ns, 400_000_000);
        assert!(r.finished());
        assert_eq!(r.next_snapshot(), None);
    }

    #[test]
    fn an_empty_recording_is_an_error() {
        let e = Replay::new(&[], 1000, None, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("monitor --per-process"), "{e}");
    }
}
