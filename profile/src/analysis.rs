//! The analysis of profiles: plain functions over the model.
//!
//! Accumulated faults against time, CPU utilization as the classic case
//! study defines it, per-process fault rates, the memory of a per-process
//! recording (its totals records: the sums over the processes) with the
//! major-fault rate, and the summary of a run.
//! Time comes from jiffies and the kernel's HZ, which the file must state
//! (or the caller gives); it is never assumed.

use std::collections::BTreeMap;
use std::io::{self, Write};

use libpfprof::classic::Sample;
use libpfprof::Counters;
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use crate::model::{Memory, ProcRecord};
use crate::text::{optional, thousands};

/// Seconds from jiffies `from` to `to` at `hz`.
pub fn seconds(from: u64, to: u64, hz: u32) -> f64 {
    to.saturating_sub(from) as f64 / f64::from(hz.max(1))
}

/// The per-second rate of a cumulative counter between two readings
/// `dt_ns` apart; `None` if the counter went backwards (a reset) or no time
/// passed.
pub fn rate_per_s(prev: u64, cur: u64, dt_ns: u64) -> Option<f64> {
    let d = cur.checked_sub(prev)?;
    (dt_ns > 0).then(|| d as f64 * 1e9 / dt_ns as f64)
}

/// Accumulated faults (minor + major) against time since the first sample:
/// one point per sample, `(seconds, faults up to and including it)`.
pub fn accumulated_faults(samples: &[Sample], hz: u32) -> Vec<(f64, u64)> {
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    let mut total = 0u64;
    samples
        .iter()
        .map(|s| {
            total = total.saturating_add(s.counters.faults());
            (seconds(first.jiffies, s.jiffies, hz), total)
        })
        .collect()
}

/// Accumulated faults of each process of a per-process recording (pid 0,
/// the totals, left out), against time since the recording's first record.
pub fn accumulated_by_pid(records: &[ProcRecord], hz: u32) -> BTreeMap<i32, Vec<(f64, u64)>> {
    let mut out: BTreeMap<i32, Vec<(f64, u64)>> = BTreeMap::new();
    let Some(first) = records.first() else {
        return out;
    };
    for r in records.iter().filter(|r| !r.is_total()) {
        let points = out.entry(r.pid).or_default();
        let before = points.last().map_or(0, |p| p.1);
        points.push((
            seconds(first.jiffies, r.jiffies, hz),
            before.saturating_add(r.counters.faults()),
        ));
    }
    out
}

/// CPU utilization as the classic case study defines it: the CPU time of
/// all samples divided by the time elapsed from the first sample to the
/// last. Both in nanoseconds: CPU time is reported in ns, elapsed time is
/// jiffies at `hz`. 1.0 is one CPU fully busy (2.0 on two CPUs). `None`
/// with fewer than two samples or no elapsed time.
pub fn utilization(samples: &[Sample], hz: u32) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    let elapsed_s = seconds(first.jiffies, last.jiffies, hz);
    if elapsed_s <= 0.0 {
        return None;
    }
    let cpu_ns = samples
        .iter()
        .fold(0u64, |acc, s| acc.saturating_add(s.counters.cpu_ns));
    Some(cpu_ns as f64 / (elapsed_s * 1e9))
}

/// Fault rates (minor + major per second) of each process of a
/// per-process recording (pid 0 left out), against time since the first
/// record. A record's period is the time since that process's previous
/// record; the first record of a process uses the recorded sampling period,
/// and is skipped when the file does not give it.
pub fn fault_rates(
    records: &[ProcRecord],
    hz: u32,
    period_us: Option<u32>,
) -> BTreeMap<i32, Vec<(f64, f64)>> {
    let mut out: BTreeMap<i32, Vec<(f64, f64)>> = BTreeMap::new();
    let mut last_seen: BTreeMap<i32, u64> = BTreeMap::new();
    let Some(first) = records.first() else {
        return out;
    };
    for r in records.iter().filter(|r| !r.is_total()) {
        let dt_s = match last_seen.insert(r.pid, r.jiffies) {
            Some(prev) => seconds(prev, r.jiffies, hz),
            None => period_us.map_or(0.0, |us| f64::from(us) / 1e6),
        };
        let points = out.entry(r.pid).or_default();
        if dt_s > 0.0 {
            points.push((
                seconds(first.jiffies, r.jiffies, hz),
                r.counters.faults() as f64 / dt_s,
            ));
        }
    }
    out
}

/// The pid of the records in which [`select_processes`] sums the
/// processes it does not keep apart ("other"); no process has it.
pub const OTHER_PID: i32 = -1;

/// Which processes of a per-process recording to draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Only these processes (all when empty).
    pub pids: Vec<i32>,
    /// Of those, only the `top` with the most faults (minor + major) over
    /// the recording, the others summed as one ([`OTHER_PID`]).
    pub top: Option<usize>,
}

/// The records of the processes a [`Selection`] keeps: those of its pids
/// (all when it names none), of them the `top` with the most faults, and
/// the records of the rest of its pids summed per sample (same jiffies)
/// into records of [`OTHER_PID`]. The totals records (pid 0) stay as they
/// are. Returns the records and how many processes were summed.
pub fn select_processes(records: &[ProcRecord], sel: &Selection) -> (Vec<ProcRecord>, usize) {
    let wanted = |pid: i32| sel.pids.is_empty() || sel.pids.contains(&pid);
    let mut faults: BTreeMap<i32, u64> = BTreeMap::new();
    for r in records.iter().filter(|r| !r.is_total() && wanted(r.pid)) {
        let f = faults.entry(r.pid).or_default();
        *f = f.saturating_add(r.counters.faults());
    }
    let mut ranked: Vec<(i32, u64)> = faults.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let keep_n = sel.top.unwrap_or(usize::MAX);
    let kept: Vec<i32> = ranked.iter().take(keep_n).map(|p| p.0).collect();
    let summed = ranked.len().saturating_sub(kept.len());
    let mut out: Vec<ProcRecord> = Vec::with_capacity(records.len());
    // The "other" record of each sample, by jiffies: its index in `out`.
    let mut other_at: BTreeMap<u64, usize> = BTreeMap::new();
    for r in records {
        if r.is_total() || kept.contains(&r.pid) {
            out.push(*r);
        } else if wanted(r.pid) {
            match other_at.get(&r.jiffies) {
                Some(&i) => out[i].counters = out[i].counters.saturating_add(r.counters),
                None => {
                    other_at.insert(r.jiffies, out.len());
                    out.push(ProcRecord {
                        jiffies: r.jiffies,
                        pid: OTHER_PID,
                        counters: r.counters,
                        detail: None,
                    });
                }
            }
        }
    }
    (out, summed)
}

/// The window of a moving average.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last N points (the point itself included).
    Samples(usize),
    /// The points less than this long before the point, itself included.
    Duration(std::time::Duration),
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Window::Samples(1) => f.write_str("1 sample"),
            Window::Samples(n) => write!(f, "{n} samples"),
            Window::Duration(d) if d.subsec_nanos() == 0 => write!(f, "{}s", d.as_secs()),
            Window::Duration(d) if d.as_nanos() % 1_000_000 == 0 => {
                write!(f, "{}ms", d.as_millis())
            }
            Window::Duration(d) => write!(f, "{}us", d.as_micros()),
        }
    }
}

/// The trailing moving average of a series: each point's value becomes
/// the mean of the values in the window that ends at it (at its time).
pub fn moving_average(points: &[(f64, f64)], window: Window) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut start = 0;
    let mut sum = 0.0;
    for (i, &(t, v)) in points.iter().enumerate() {
        sum += v;
        let in_window = |j: usize| match window {
            Window::Samples(n) => i - j < n.max(1),
            // A nanosecond of slack: times are sums of float seconds.
            Window::Duration(d) => t - points[j].0 < d.as_secs_f64() - 1e-9,
        };
        while start < i && !in_window(start) {
            sum -= points[start].1;
            start += 1;
        }
        out.push((t, sum / (i + 1 - start) as f64));
    }
    out
}

/// The memory of a per-process recording against time since its first
/// record: one point per totals record (pid 0, whose memory is the sum over
/// the registered processes at the sample) that carries it. Empty for
/// classic profiles and for recordings made before records carried memory.
pub fn memory_timeline(records: &[ProcRecord], hz: u32) -> Vec<(f64, Memory)> {
    let Some(first) = records.first() else {
        return Vec::new();
    };
    records
        .iter()
        .filter(|r| r.is_total())
        .filter_map(|r| Some((seconds(first.jiffies, r.jiffies, hz), r.memory()?)))
        .collect()
}

/// Major faults per second of all processes (the totals records, pid 0)
/// against time since the recording's first record. A record's period is
/// the time since the previous totals record; the first uses the recorded
/// sampling period, and is skipped when the file does not give it.
pub fn major_fault_rate(
    records: &[ProcRecord],
    hz: u32,
    period_us: Option<u32>,
) -> Vec<(f64, f64)> {
    let Some(first) = records.first() else {
        return Vec::new();
    };
    let mut prev: Option<u64> = None;
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.is_total()) {
        let dt_s = match prev.replace(r.jiffies) {
            Some(p) => seconds(p, r.jiffies, hz),
            None => period_us.map_or(0.0, |us| f64::from(us) / 1e6),
        };
        if dt_s > 0.0 {
            out.push((
                seconds(first.jiffies, r.jiffies, hz),
                r.counters.major as f64 / dt_s,
            ));
        }
    }
    out
}

/// The peaks over a recording of the memory summed over its processes (its
/// totals records), in bytes. Each is the maximum at any one sample; they
/// may come from different samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryPeaks {
    /// Resident memory (anon + file + shmem).
    pub rss_bytes: u64,
    /// Swapped-out memory.
    pub swap_bytes: u64,
    /// Resident plus swapped-out memory: the footprint.
    pub rss_swap_bytes: u64,
}

impl MemoryPeaks {
    /// The peaks of a recording's totals records; `None` if none carries
    /// memory.
    pub fn of(records: &[ProcRecord]) -> Option<MemoryPeaks> {
        records
            .iter()
            .filter(|r| r.is_total())
            .filter_map(ProcRecord::memory)
            .fold(None, |acc: Option<MemoryPeaks>, m| {
                let p = acc.unwrap_or_default();
                Some(MemoryPeaks {
                    rss_bytes: p.rss_bytes.max(m.rss_bytes()),
                    swap_bytes: p.swap_bytes.max(m.swap_bytes),
                    rss_swap_bytes: p
                        .rss_swap_bytes
                        .max(m.rss_bytes().saturating_add(m.swap_bytes)),
                })
            })
    }
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whether every point of `points` has a time and a value at least those of
/// the one before (what an accumulated curve must be).
pub fn is_monotonic(points: &[(f64, u64)]) -> bool {
    points
        .windows(2)
        .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1)
}

/// The figures of one profiled run (a case study's row): what the
/// per-period totals add up to.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileSummary {
    /// The run's name.
    pub name: String,
    /// Samples in the profile.
    pub samples: usize,
    /// The counters over the run (saturating at `u64::MAX`).
    pub counters: Counters,
    /// Seconds from the first sample to the last.
    pub completion_s: f64,
    /// [`utilization`], if defined.
    pub utilization: Option<f64>,
    /// The peaks of the summed memory, from a per-process recording of the
    /// run that carries it ([`ProfileSummary::with_memory`]).
    pub memory: Option<MemoryPeaks>,
}

impl ProfileSummary {
    /// Summarizes the per-period totals of a profile.
    pub fn of(name: &str, samples: &[Sample], hz: u32) -> ProfileSummary {
        ProfileSummary {
            name: name.to_owned(),
            samples: samples.len(),
            counters: samples
                .iter()
                .fold(Counters::ZERO, |acc, s| acc.saturating_add(s.counters)),
            completion_s: match (samples.first(), samples.last()) {
                (Some(a), Some(b)) => seconds(a.jiffies, b.jiffies, hz),
                _ => 0.0,
            },
            utilization: utilization(samples, hz),
            memory: None,
        }
    }

    /// The summary with the memory peaks of a per-process recording of the
    /// same run (unchanged if its records carry no memory).
    pub fn with_memory(mut self, records: &[ProcRecord]) -> ProfileSummary {
        self.memory = MemoryPeaks::of(records).or(self.memory);
        self
    }

    /// Minor plus major faults.
    pub fn faults(&self) -> u64 {
        self.counters.faults()
    }
}

/// Writes the summary table of some runs (tabled, a header line with the
/// units, numbers right-aligned); when any carries memory, with the peaks
/// of its summed RSS, swap and RSS + swap in MiB (`-` for a run without).
/// The rates are the run's faults over its completion time.
pub fn render_summary(w: &mut impl Write, runs: &[ProfileSummary]) -> io::Result<()> {
    let memory = runs.iter().any(|r| r.memory.is_some());
    let mut b = Builder::default();
    let mut header = vec![
        "run",
        "samples",
        "minor faults",
        "major faults",
        "completion, s",
        "minor faults/s",
        "major faults/s",
        "util, % of one CPU",
    ];
    if memory {
        header.extend(["peak RSS, MiB", "peak swap, MiB", "peak RSS + swap, MiB"]);
    }
    b.push_record(header);
    let in_mib = |b: u64| thousands(mib(b).round() as u64);
    for r in runs {
        // Rates as counts from 100 on (`11,268`), with a decimal below.
        let per_s = |n: u64| match (r.completion_s > 0.0).then(|| n as f64 / r.completion_s) {
            Some(rate) if rate >= 100.0 => thousands(rate.round() as u64),
            rate => optional(rate),
        };
        let mut row = vec![
            r.name.clone(),
            r.samples.to_string(),
            thousands(r.counters.minor),
            thousands(r.counters.major),
            format!("{:.1}", r.completion_s),
            per_s(r.counters.minor),
            per_s(r.counters.major),
            optional(r.utilization.map(|u| u * 100.0)),
        ];
        if memory {
            row.extend(match r.memory {
                Some(m) => [m.rss_bytes, m.swap_bytes, m.rss_swap_bytes].map(in_mib),
                None => ["-", "-", "-"].map(str::to_owned),
            });
        }
        b.push_record(row);
    }
    let mut table = b.build();
    table
        .with(Style::psql())
        .modify(Columns::new(1..), Alignment::right());
    writeln!(w, "{table}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(jiffies: u64, minor: u64, major: u64, cpu_ns: u64) -> Sample {
        Sample::new(jiffies, Counters::new(minor, major, cpu_ns))
    }

    #[test]
    fn accumulation_adds_minor_and_major_and_uses_hz() {
        let samples = [s(1000, 5, 1, 0), s(1050, 0, 0, 0), s(1100, 10, 2, 0)];
        let acc = accumulated_faults(&samples, 1000);
        assert_eq!(acc, [(0.0, 6), (0.05, 6), (0.1, 18)]);
        assert!(is_monotonic(&acc));
        // The same jiffies at HZ 250 are four times the seconds.
        assert_eq!(accumulated_faults(&samples, 250)[2], (0.4, 18));
        assert!(accumulated_faults(&[], 1000).is_empty());
        assert!(!is_monotonic(&[(0.0, 5), (1.0, 4)]));
        assert!(!is_monotonic(&[(1.0, 5), (0.5, 6)]));
    }

    #[test]
    fn utilization_is_cpu_time_over_elapsed_time() {
        // 2 s elapsed at HZ 100; 1.5 s of CPU in all: 75 %.
        let samples = [
            s(100, 0, 0, 500_000_000),
            s(200, 0, 0, 500_000_000),
            s(300, 0, 0, 500_000_000),
        ];
        let u = utilization(&samples, 100).unwrap();
        assert!((u - 0.75).abs() < 1e-12, "{u}");
        // Two CPUs busy give 2.0.
        let busy = [s(0, 0, 0, 0), s(1000, 0, 0, 2_000_000_000)];
        assert!((utilization(&busy, 1000).unwrap() - 2.0).abs() < 1e-12);
        assert_eq!(utilization(&samples[..1], 100), None);
        assert_eq!(utilization(&[], 100), None);
    }

    fn rec(jiffies: u64, pid: i32, minor: u64) -> ProcRecord {
        ProcRecord {
            jiffies,
            pid,
            counters: Counters::new(minor, 0, 0),
            detail: None,
        }
    }

    #[test]
    fn per_process_accumulation_and_rates() {
        let records = [
            rec(1000, 0, 30),
            rec(1000, 7, 10),
            rec(1000, 8, 20),
            rec(1050, 0, 5),
            rec(1050, 7, 5),
            rec(1100, 8, 40),
        ];
        let acc = accumulated_by_pid(&records, 1000);
        assert_eq!(acc.keys().copied().collect::<Vec<_>>(), [7, 8]);
        assert_eq!(acc[&7], [(0.0, 10), (0.05, 15)]);
        assert_eq!(acc[&8], [(0.0, 20), (0.1, 60)]);

        let rates = fault_rates(&records, 1000, Some(50_000));
        assert_eq!(rates[&7], [(0.0, 200.0), (0.05, 100.0)]);
        // pid 8 was not sampled at 1050: its second period is 100 ms.
        assert_eq!(rates[&8], [(0.0, 400.0), (0.1, 400.0)]);
        // Without the period, each process's first record has no rate.
        let rates = fault_rates(&records, 1000, None);
        assert_eq!(rates[&7], [(0.05, 100.0)]);
    }

    #[test]
    fn selection_keeps_the_top_processes_and_sums_the_rest() {
        let records = [
            rec(1000, 0, 70),
            rec(1000, 7, 10),
            rec(1000, 8, 20),
            rec(1000, 9, 40),
            rec(1050, 0, 6),
            rec(1050, 7, 5),
            rec(1050, 9, 1),
        ];
        let top = |n| Selection {
            pids: Vec::new(),
            top: Some(n),
        };
        // pid 9 faulted most (41), then 8 (20), then 7 (15).
        let (kept, summed) = select_processes(&records, &top(1));
        assert_eq!(summed, 2);
        let other: Vec<_> = kept.iter().filter(|r| r.pid == OTHER_PID).collect();
        assert_eq!(other.len(), 2, "{kept:?}");
        assert_eq!((other[0].jiffies, other[0].counters.minor), (1000, 30));
        assert_eq!((other[1].jiffies, other[1].counters.minor), (1050, 5));
        assert_eq!(kept.iter().filter(|r| r.pid == 9).count(), 2);
        assert_eq!(kept.iter().filter(|r| r.is_total()).count(), 2);
        assert!(kept.iter().all(|r| r.pid != 7 && r.pid != 8));
        // Everything kept: the records as they were.
        assert_eq!(select_processes(&records, &top(3)), (records.to_vec(), 0));
        // --pids 7,8: pid 9 dropped, not summed.
        let only = Selection {
            pids: vec![7, 8],
            top: None,
        };
        let (kept, summed) = select_processes(&records, &only);
        assert_eq!(summed, 0);
        assert!(kept.iter().all(|r| [0, 7, 8].contains(&r.pid)), "{kept:?}");
        assert_eq!(kept.len(), 5);
        let only_top = Selection {
            pids: vec![7, 8],
            top: Some(1),
        };
        let (kept, summed) = select_processes(&records, &only_top);
        assert_eq!(summed, 1);
        let pids: Vec<i32> = kept.iter().map(|r| r.pid).collect();
        assert_eq!(pids, [0, OTHER_PID, 8, 0, OTHER_PID]);
    }

    #[test]
    fn moving_averages_over_samples_and_durations() {
        let points = [
            (0.0, 0.0),
            (0.05, 100.0),
            (0.1, 0.0),
            (0.15, 100.0),
            (0.2, 400.0),
        ];
        let values = |w| {
            moving_average(&points, w)
                .iter()
                .map(|p| p.1)
                .collect::<Vec<_>>()
        };
        assert_eq!(values(Window::Samples(2)), [0.0, 50.0, 50.0, 50.0, 250.0]);
        assert_eq!(values(Window::Samples(1)), points.map(|p| p.1));
        // 150 ms at 50 ms periods: three points.
        let ms = |n| Window::Duration(std::time::Duration::from_millis(n));
        let v = values(ms(150));
        assert_eq!(v[..3], [0.0, 50.0, 100.0 / 3.0]);
        assert!((v[4] - 500.0 / 3.0).abs() < 1e-9, "{v:?}");
        assert_eq!(moving_average(&points, ms(150))[4].0, 0.2);
        assert!(moving_average(&[], ms(1)).is_empty());
        assert_eq!(ms(500).to_string(), "500ms");
        assert_eq!(ms(2000).to_string(), "2s");
        assert_eq!(Window::Samples(10).to_string(), "10 samples");
        assert_eq!(
            Window::Duration(std::time::Duration::from_micros(1500)).to_string(),
            "1500us"
        );
    }

    #[test]
    fn rates_are_none_when_a_counter_goes_backwards() {
        assert_eq!(rate_per_s(100, 150, 500_000_000), Some(100.0));
        assert_eq!(rate_per_s(150, 100, 500_000_000), None);
        assert_eq!(rate_per_s(1, 2, 0), None);
        assert_eq!(rate_per_s(7, 7, 1), Some(0.0));
    }

    const MIB: u64 = 1024 * 1024;

    /// A record with its memory: `anon` and `swap` in MiB, 1 MiB of file.
    fn mem(jiffies: u64, pid: i32, major: u64, anon: u64, swap: u64) -> ProcRecord {
        ProcRecord {
            jiffies,
            pid,
            counters: Counters::new(0, major, 0),
            detail: Some(crate::RecordDetail {
                seq: 0,
                time_ns: 0,
                exited: false,
                memory: Some(Memory {
                    rss_anon_bytes: anon * MIB,
                    rss_file_bytes: MIB,
                    rss_shmem_bytes: 0,
                    swap_bytes: swap * MIB,
                }),
                tree_root: None,
            }),
        }
    }

    #[test]
    fn memory_comes_from_the_totals_records() {
        let records = [
            mem(1000, 0, 0, 100, 0),
            mem(1000, 7, 0, 60, 0),
            mem(1000, 8, 0, 40, 0),
            mem(1050, 0, 10, 300, 50),
            mem(1050, 7, 10, 300, 50),
            mem(1100, 0, 40, 200, 150),
        ];
        let t = memory_timeline(&records, 1000);
        assert_eq!(
            t.iter()
                .map(|(s, m)| (*s, m.rss_bytes() / MIB, m.swap_bytes / MIB))
                .collect::<Vec<_>>(),
            [(0.0, 101, 0), (0.05, 301, 50), (0.1, 201, 150)]
        );
        // The peaks of RSS and of RSS + swap come from different samples.
        assert_eq!(
            MemoryPeaks::of(&records),
            Some(MemoryPeaks {
                rss_bytes: 301 * MIB,
                swap_bytes: 150 * MIB,
                rss_swap_bytes: 351 * MIB,
            })
        );
        assert_eq!(
            major_fault_rate(&records, 1000, Some(50_000)),
            [(0.0, 0.0), (0.05, 200.0), (0.1, 800.0)]
        );
        assert_eq!(major_fault_rate(&records, 1000, None).len(), 2);
        // Records without memory (a classic line, or before pfprof 0.2).
        let old = [rec(1000, 0, 30), rec(1000, 7, 10)];
        assert!(memory_timeline(&old, 1000).is_empty());
        assert_eq!(MemoryPeaks::of(&old), None);
        assert_eq!(mib(3 * MIB / 2), 1.5);
    }

    #[test]
    fn summary_table_with_memory() {
        let samples = [s(0, 1000, 2, 100_000_000), s(1000, 500, 0, 400_000_000)];
        let records = [mem(0, 0, 2, 2047, 0), mem(1000, 0, 0, 1000, 1536)];
        let with = ProfileSummary::of("N=22", &samples, 1000).with_memory(&records);
        let without = ProfileSummary::of("N=1", &samples, 1000).with_memory(&[]);
        assert_eq!(without.memory, None);
        let mut out = Vec::new();
        render_summary(&mut out, &[without, with]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert!(
            lines[0].ends_with(
                "| util, % of one CPU | peak RSS, MiB | peak swap, MiB | peak RSS + swap, MiB "
            ),
            "{text}"
        );
        assert!(
            lines[2].ends_with(
                "|               50.0 |             - |              - |                    - "
            ),
            "{text}"
        );
        assert!(
            lines[3].ends_with(
                "|               50.0 |         2,048 |          1,536 |                2,537 "
            ),
            "{text}"
        );
    }

    #[test]
    fn summary_table() {
        let samples = [s(0, 1000, 2, 100_000_000), s(1000, 500, 0, 400_000_000)];
        let r = ProfileSummary::of("R pair", &samples, 1000);
        assert_eq!(r.faults(), 1502);
        assert_eq!(r.completion_s, 1.0);
        let long = ProfileSummary::of("a run with a rather long name", &samples[..1], 1000);
        let mut out = Vec::new();
        render_summary(&mut out, &[r, long]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            " run                           | samples | minor faults | major faults \
             | completion, s | minor faults/s | major faults/s | util, % of one CPU ",
            "{text}"
        );
        assert_eq!(
            lines[2],
            " R pair                        |       2 |        1,500 |            2 \
             |           1.0 |          1,500 |            2.0 |               50.0 ",
            "{text}"
        );
        // A long name widens its column; the others stay aligned, and a
        // run without elapsed time has no rates.
        assert_eq!(
            lines[3],
            " a run with a rather long name |       1 |        1,000 |            2 \
             |           0.0 |              - |              - |                  - ",
            "{text}"
        );
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{text}");
    }
}
