//! Profile files as data, and the analysis of the case studies.
//!
//! Reads what `monitor` writes: classic samples (`jiffies minflt majflt
//! cpu_ns`, per-period sums over the registered processes) and per-process
//! records (`monitor --per-process`: `jiffies pid minflt majflt cpu_ns`, pid
//! 0 for the totals), in any of monitor's formats (classic, csv, json), with
//! the `# pfprof hz=... period_us=...` comment of `monitor --header`. Lines
//! that are not data (a CSV header, the classic monitor's `read N profiled
//! data` trailer, other comments) are skipped.
//!
//! The analysis is plain functions over the parsed data: accumulated faults
//! against time, CPU utilization as the classic case study defines it, and
//! per-process fault rates. Time comes from jiffies and the kernel's HZ,
//! which the file must state (or the caller gives); it is never assumed.

use std::collections::BTreeMap;
use std::io::BufRead;

use libpfprof::classic::Sample;

use crate::{Result, ToolError};

/// One per-process record of `monitor --per-process` (pid 0: the totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcRecord {
    /// `jiffies` at the sample.
    pub jiffies: u64,
    /// The process, or 0 for the totals over all registered processes.
    pub pid: i32,
    /// Minor faults in the period.
    pub minor_faults: u64,
    /// Major faults in the period.
    pub major_faults: u64,
    /// CPU time in the period, in nanoseconds.
    pub cpu_ns: u64,
}

/// A parsed profile file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// The kernel's HZ, from the `# pfprof hz=...` header.
    pub hz: Option<u32>,
    /// The sampling period in microseconds, from the header.
    pub period_us: Option<u32>,
    /// Classic samples, in file order.
    pub samples: Vec<Sample>,
    /// Per-process records, in file order.
    pub records: Vec<ProcRecord>,
}

impl Profile {
    /// The per-period totals: the classic samples, or, for a per-process
    /// recording, its totals records (pid 0).
    pub fn totals(&self) -> Vec<Sample> {
        if !self.samples.is_empty() {
            return self.samples.clone();
        }
        self.records
            .iter()
            .filter(|r| r.pid == 0)
            .map(|r| Sample {
                jiffies: r.jiffies,
                minor_faults: r.minor_faults,
                major_faults: r.major_faults,
                cpu_ns: r.cpu_ns,
            })
            .collect()
    }

    /// The HZ to use: `given` if any, else the file's; an error names both
    /// ways to provide it.
    pub fn hz_or(&self, given: Option<u32>, name: &str) -> Result<u32> {
        given.or(self.hz).filter(|h| *h > 0).ok_or_else(|| {
            ToolError::Msg(format!(
                "{name}: the kernel's HZ is unknown (record with `monitor --header`, \
                 or pass --hz)"
            ))
        })
    }
}

fn malformed(line_no: usize, what: &str) -> ToolError {
    ToolError::Msg(format!("line {line_no}: {what}"))
}

/// Reads `key=value` words of a header comment.
fn parse_header(line: &str, p: &mut Profile) {
    for word in line.split_whitespace() {
        if let Some((key, value)) = word.split_once('=') {
            match key {
                "hz" => p.hz = value.parse().ok().or(p.hz),
                "period_us" => p.period_us = value.parse().ok().or(p.period_us),
                _ => {}
            }
        }
    }
}

/// The number after `"key":` in a flat JSON object line.
fn json_number(line: &str, key: &str) -> Option<i64> {
    let pat = format!("\"{key}\":");
    let start = line.find(&pat)? + pat.len();
    let rest = line[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn json_line(line: &str, line_no: usize, p: &mut Profile) -> Result<()> {
    let get = |key: &str| -> Result<u64> {
        json_number(line, key)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| malformed(line_no, &format!("no number `{key}` in a JSON line")))
    };
    let (jiffies, minor_faults, major_faults, cpu_ns) = (
        get("jiffies")?,
        get("minor_faults")?,
        get("major_faults")?,
        get("cpu_ns")?,
    );
    match json_number(line, "pid") {
        Some(pid) => p.records.push(ProcRecord {
            jiffies,
            pid: i32::try_from(pid).map_err(|_| malformed(line_no, "pid out of range"))?,
            minor_faults,
            major_faults,
            cpu_ns,
        }),
        None => p.samples.push(Sample {
            jiffies,
            minor_faults,
            major_faults,
            cpu_ns,
        }),
    }
    Ok(())
}

/// Parses a profile file (see the module documentation).
pub fn parse(input: impl BufRead) -> Result<Profile> {
    let mut p = Profile::default();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        let line_no = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(comment) = t.strip_prefix('#') {
            parse_header(comment, &mut p);
            continue;
        }
        if t.starts_with('{') {
            json_line(t, line_no, &mut p)?;
            continue;
        }
        let words: Vec<&str> = if t.contains(',') {
            t.split(',').map(str::trim).collect()
        } else {
            t.split_whitespace().collect()
        };
        // A header, a trailer or a message: not data.
        if words.first().is_some_and(|w| w.parse::<i64>().is_err()) {
            continue;
        }
        let nums = words
            .iter()
            .map(|w| w.parse::<i64>())
            .collect::<std::result::Result<Vec<i64>, _>>()
            .map_err(|_| malformed(line_no, &format!("not a number in `{t}`")))?;
        let u = |k: usize| -> Result<u64> {
            u64::try_from(nums[k]).map_err(|_| malformed(line_no, "negative value"))
        };
        let pid = |k: usize| -> Result<i32> {
            i32::try_from(nums[k]).map_err(|_| malformed(line_no, "pid out of range"))
        };
        match nums.len() {
            4 => p.samples.push(Sample {
                jiffies: u(0)?,
                minor_faults: u(1)?,
                major_faults: u(2)?,
                cpu_ns: u(3)?,
            }),
            5 => p.records.push(ProcRecord {
                jiffies: u(0)?,
                pid: pid(1)?,
                minor_faults: u(2)?,
                major_faults: u(3)?,
                cpu_ns: u(4)?,
            }),
            // monitor --per-process --format csv:
            // seq,time_ns,jiffies,pid,total,exited,minor,major,cpu_ns
            9 => p.records.push(ProcRecord {
                jiffies: u(2)?,
                pid: pid(3)?,
                minor_faults: u(6)?,
                major_faults: u(7)?,
                cpu_ns: u(8)?,
            }),
            n => {
                return Err(malformed(
                    line_no,
                    &format!("{n} fields; expected 4 (samples), 5 or 9 (per-process records)"),
                ))
            }
        }
    }
    Ok(p)
}

/// Reads and parses a profile file; errors name the file.
pub fn read(path: &std::path::Path) -> Result<Profile> {
    let f = std::fs::File::open(path)
        .map_err(|e| ToolError::Msg(format!("{}: {e}", path.display())))?;
    parse(std::io::BufReader::new(f))
        .map_err(|e| ToolError::Msg(format!("{}: {e}", path.display())))
}

/// Seconds from jiffies `from` to `to` at `hz`.
pub fn seconds(from: u64, to: u64, hz: u32) -> f64 {
    to.saturating_sub(from) as f64 / f64::from(hz.max(1))
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
            total = total.saturating_add(s.minor_faults.saturating_add(s.major_faults));
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
    for r in records.iter().filter(|r| r.pid != 0) {
        let points = out.entry(r.pid).or_default();
        let before = points.last().map_or(0, |p| p.1);
        let faults = r.minor_faults.saturating_add(r.major_faults);
        points.push((
            seconds(first.jiffies, r.jiffies, hz),
            before.saturating_add(faults),
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
    let cpu_ns: u64 = samples.iter().map(|s| s.cpu_ns).sum();
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
    for r in records.iter().filter(|r| r.pid != 0) {
        let dt_s = match last_seen.insert(r.pid, r.jiffies) {
            Some(prev) => seconds(prev, r.jiffies, hz),
            None => period_us.map_or(0.0, |us| f64::from(us) / 1e6),
        };
        let points = out.entry(r.pid).or_default();
        if dt_s > 0.0 {
            let faults = r.minor_faults.saturating_add(r.major_faults);
            points.push((seconds(first.jiffies, r.jiffies, hz), faults as f64 / dt_s));
        }
    }
    out
}

/// Whether every point of `points` has a time and a value at least those of
/// the one before (what an accumulated curve must be).
pub fn is_monotonic(points: &[(f64, u64)]) -> bool {
    points
        .windows(2)
        .all(|w| w[1].0 >= w[0].0 && w[1].1 >= w[0].1)
}

/// The figures of one run, for the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The run's name.
    pub name: String,
    /// Samples in the profile.
    pub samples: usize,
    /// Minor faults over the run.
    pub minor_faults: u64,
    /// Major faults over the run.
    pub major_faults: u64,
    /// Seconds from the first sample to the last.
    pub completion_s: f64,
    /// [`utilization`], if defined.
    pub utilization: Option<f64>,
}

impl RunSummary {
    /// Summarizes the per-period totals of a profile.
    pub fn of(name: &str, samples: &[Sample], hz: u32) -> RunSummary {
        RunSummary {
            name: name.to_owned(),
            samples: samples.len(),
            minor_faults: samples.iter().map(|s| s.minor_faults).sum(),
            major_faults: samples.iter().map(|s| s.major_faults).sum(),
            completion_s: match (samples.first(), samples.last()) {
                (Some(a), Some(b)) => seconds(a.jiffies, b.jiffies, hz),
                _ => 0.0,
            },
            utilization: utilization(samples, hz),
        }
    }

    /// Minor plus major faults.
    pub fn faults(&self) -> u64 {
        self.minor_faults.saturating_add(self.major_faults)
    }
}

/// Writes the summary table of some runs.
pub fn render_summary(w: &mut impl std::io::Write, runs: &[RunSummary]) -> std::io::Result<()> {
    use crate::format::{optional, thousands};
    writeln!(
        w,
        "{:<12} {:>8} {:>12} {:>10} {:>12} {:>11} {:>8}",
        "run", "samples", "minor", "major", "faults", "completion", "util%"
    )?;
    for r in runs {
        writeln!(
            w,
            "{:<12} {:>8} {:>12} {:>10} {:>12} {:>10.1}s {:>8}",
            r.name,
            r.samples,
            thousands(r.minor_faults),
            thousands(r.major_faults),
            thousands(r.faults()),
            r.completion_s,
            optional(r.utilization.map(|u| u * 100.0)),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(jiffies: u64, minor: u64, major: u64, cpu_ns: u64) -> Sample {
        Sample {
            jiffies,
            minor_faults: minor,
            major_faults: major,
            cpu_ns,
        }
    }

    fn parse_str(text: &str) -> Result<Profile> {
        parse(text.as_bytes())
    }

    #[test]
    fn classic_file_with_header_and_trailer() {
        let p = parse_str(
            "# pfprof hz=250 period_us=50000\n\
             4294937296 10 0 5000000\n\
             \n\
             4294937309 20 1 6000000\n\
             read 2 profiled data\n",
        )
        .unwrap();
        assert_eq!((p.hz, p.period_us), (Some(250), Some(50_000)));
        assert_eq!(
            p.samples,
            [s(4294937296, 10, 0, 5000000), s(4294937309, 20, 1, 6000000)]
        );
        assert!(p.records.is_empty());
        assert_eq!(p.totals(), p.samples);
    }

    #[test]
    fn csv_and_json_samples() {
        let csv = parse_str("jiffies,minor_faults,major_faults,cpu_ns\n100,1,2,3\n").unwrap();
        assert_eq!(csv.samples, [s(100, 1, 2, 3)]);
        let json =
            parse_str("{\"jiffies\":100,\"minor_faults\":1,\"major_faults\":2,\"cpu_ns\":3}\n")
                .unwrap();
        assert_eq!(json.samples, [s(100, 1, 2, 3)]);
        assert_eq!(json.hz, None);
    }

    #[test]
    fn per_process_records_in_every_format() {
        let want = [
            ProcRecord {
                jiffies: 100,
                pid: 0,
                minor_faults: 7,
                major_faults: 0,
                cpu_ns: 9,
            },
            ProcRecord {
                jiffies: 100,
                pid: 42,
                minor_faults: 7,
                major_faults: 0,
                cpu_ns: 9,
            },
        ];
        let classic = parse_str("100 0 7 0 9\n100 42 7 0 9\n").unwrap();
        assert_eq!(classic.records, want);
        let csv = parse_str(
            "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns\n\
             0,5,100,0,1,0,7,0,9\n1,5,100,42,0,0,7,0,9\n",
        )
        .unwrap();
        assert_eq!(csv.records, want);
        let json = parse_str(
            "{\"seq\":0,\"time_ns\":5,\"jiffies\":100,\"pid\":0,\"total\":true,\"exited\":false,\
             \"minor_faults\":7,\"major_faults\":0,\"cpu_ns\":9}\n\
             {\"seq\":1,\"time_ns\":5,\"jiffies\":100,\"pid\":42,\"total\":false,\"exited\":false,\
             \"minor_faults\":7,\"major_faults\":0,\"cpu_ns\":9}\n",
        )
        .unwrap();
        assert_eq!(json.records, want);
        // The totals of a per-process recording are its pid-0 records.
        assert_eq!(classic.totals(), [s(100, 7, 0, 9)]);
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let e = parse_str("1 2 3 4\n1 2 3\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2: 3 fields"), "{e}");
        let e = parse_str("1 2 x 4\n").unwrap_err().to_string();
        assert!(e.starts_with("line 1: not a number"), "{e}");
        let e = parse_str("1 -2 3 4\n").unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        let e = parse_str("{\"jiffies\":1}\n").unwrap_err().to_string();
        assert!(e.contains("minor_faults"), "{e}");
    }

    #[test]
    fn hz_must_come_from_the_file_or_the_caller() {
        let p = parse_str("1 2 3 4\n").unwrap();
        assert!(p.hz_or(None, "f").unwrap_err().to_string().contains("--hz"));
        assert_eq!(p.hz_or(Some(300), "f").unwrap(), 300);
        let q = parse_str("# pfprof hz=1000\n1 2 3 4\n").unwrap();
        assert_eq!(q.hz_or(None, "f").unwrap(), 1000);
        assert_eq!(q.hz_or(Some(100), "f").unwrap(), 100);
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
            minor_faults: minor,
            major_faults: 0,
            cpu_ns: 0,
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
    fn summary_table() {
        let samples = [s(0, 1000, 2, 100_000_000), s(1000, 500, 0, 400_000_000)];
        let r = RunSummary::of("R pair", &samples, 1000);
        assert_eq!(r.faults(), 1502);
        assert_eq!(r.completion_s, 1.0);
        let mut out = Vec::new();
        render_summary(&mut out, &[r]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "R pair              2        1,500          2        1,502        1.0s     50.0"
        );
    }
}
