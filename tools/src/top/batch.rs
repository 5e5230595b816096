//! Batch mode (`-b`, or stdout not a terminal): one frame per interval as a
//! plain table, csv rows or JSON Lines, each with the wall-clock time and
//! the seconds elapsed.

use std::io::Write;
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use super::wait::{Signals, Wake};
use super::{describe, nothing, secs, Readings, Row, Snapshot, Source};
use crate::cli::{SortKey, TopCli, TopFormat};
use crate::format;
use crate::Result;

/// One frame of batch output.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// The snapshot the rows come from.
    pub snap: &'a Snapshot,
    /// The rows, sorted.
    pub rows: &'a [Row],
    /// The sort key.
    pub sort: SortKey,
    /// Whether the order is reversed.
    pub reverse: bool,
    /// Nanoseconds since the first snapshot.
    pub elapsed_ns: u64,
    /// Nanoseconds the rates cover.
    pub interval_ns: u64,
    /// Trees are folded (`--tree`): csv and json add `tree_root` and
    /// `procs`.
    pub tree: bool,
}

/// A wall-clock time as RFC 3339 in UTC, to the millisecond.
pub fn wall_clock(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// One process in one frame, as a csv row or a JSON object. Rates that are
/// unknown are empty (csv) or null (json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record<'a> {
    /// Wall-clock time of the reading (RFC 3339, UTC).
    pub time: String,
    /// Seconds since the first reading (replay: recorded seconds).
    pub elapsed_s: f64,
    /// Seconds the rates cover.
    pub interval_s: f64,
    /// The process.
    pub pid: i32,
    /// Its command name.
    pub command: &'a str,
    /// Minor faults per second.
    pub minflt_per_s: Option<f64>,
    /// Major faults per second.
    pub majflt_per_s: Option<f64>,
    /// Minor + major faults since registration.
    pub faults: u64,
    /// CPU time in percent of one CPU.
    pub cpu_percent: Option<f64>,
    /// Resident memory at the latest sample, in bytes.
    pub rss_bytes: Option<u64>,
    /// Swapped-out memory at the latest sample, in bytes.
    pub swap_bytes: Option<u64>,
    /// Seconds since registration.
    pub since_s: f64,
    /// With --tree: the row's tree root (its pid), 0 for a process in no
    /// tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_root: Option<i32>,
    /// With --tree: the processes the row stands for (1 for a process in
    /// no tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procs: Option<u64>,
}

fn round(x: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (x * k).round() / k
}

/// The records of a frame.
pub fn records<'a>(f: &Frame<'a>) -> Vec<Record<'a>> {
    let time = wall_clock(f.snap.wall);
    f.rows
        .iter()
        .map(|r| Record {
            time: time.clone(),
            elapsed_s: round(secs(f.elapsed_ns), 3),
            interval_s: round(secs(f.interval_ns), 3),
            pid: r.pid.as_raw(),
            command: &r.command,
            minflt_per_s: r
                .minflt_per_s
                .filter(|v| v.is_finite())
                .map(|v| round(v, 1)),
            majflt_per_s: r
                .majflt_per_s
                .filter(|v| v.is_finite())
                .map(|v| round(v, 1)),
            faults: r.total_faults,
            cpu_percent: r.cpu_percent.filter(|v| v.is_finite()).map(|v| round(v, 1)),
            rss_bytes: r.rss_bytes,
            swap_bytes: r.swap_bytes,
            since_s: round(secs(r.registered_for_ns), 3),
            tree_root: f.tree.then(|| r.procs.map_or(0, |_| r.pid.as_raw())),
            procs: f.tree.then(|| r.procs.unwrap_or(1)),
        })
        .collect()
}

/// The title line of a text frame.
pub fn title(f: &Frame<'_>) -> String {
    format!(
        "pfprof-top {} +{:.3}s: {}, interval {}, sorted by {}{}",
        wall_clock(f.snap.wall),
        secs(f.elapsed_ns),
        describe(f.snap, f.rows.len()),
        format::duration_ns(f.interval_ns),
        f.sort.column(),
        if f.reverse { " (reversed)" } else { "" },
    )
}

/// Writes a text frame: the title line and the table.
pub fn write_text(w: &mut impl Write, f: &Frame<'_>) -> std::io::Result<()> {
    writeln!(w, "{}", title(f))?;
    let mut b = Builder::default();
    b.push_record([
        "PID", "COMMAND", "MINFLT/s", "MAJFLT/s", "FAULTS", "CPU%", "RSS", "SWAP", "SINCE",
    ]);
    for r in f.rows {
        b.push_record([
            r.pid.to_string(),
            r.label(),
            format::optional(r.minflt_per_s),
            format::optional(r.majflt_per_s),
            format::thousands(r.total_faults),
            format::optional(r.cpu_percent),
            r.rss_bytes.map_or_else(|| "-".to_owned(), format::bytes),
            r.swap_bytes.map_or_else(|| "-".to_owned(), format::bytes),
            format::duration_ns(r.registered_for_ns),
        ]);
    }
    let mut table = b.build();
    table
        .with(Style::blank())
        .modify(Columns::new(2..), Alignment::right())
        .modify(Columns::first(), Alignment::right());
    writeln!(w, "{table}")?;
    if f.rows.is_empty() {
        writeln!(w, "{}", nothing(f.snap.origin))?;
    }
    Ok(())
}

/// Writes a frame's csv rows (with the header line when `header`).
pub fn write_csv(w: &mut impl Write, f: &Frame<'_>, header: bool) -> Result<()> {
    let mut c = csv::WriterBuilder::new()
        .has_headers(header)
        .from_writer(&mut *w);
    for r in records(f) {
        c.serialize(r).map_err(csv_error)?;
    }
    c.flush()?;
    Ok(())
}

fn csv_error(e: csv::Error) -> crate::ToolError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => crate::ToolError::Io(e),
        other => crate::ToolError::Msg(format!("csv: {other:?}")),
    }
}

/// Writes a frame's JSON Lines.
pub fn write_json(w: &mut impl Write, f: &Frame<'_>) -> Result<()> {
    for r in records(f) {
        serde_json::to_writer(&mut *w, &r).map_err(std::io::Error::from)?;
        writeln!(w)?;
    }
    Ok(())
}

/// Runs batch mode: a baseline reading, then a frame per interval until -n
/// frames, the end of a replay, no watched process left, or SIGINT/SIGTERM
/// (which print the partial interval first).
pub fn run(
    cli: &TopCli,
    source: &mut Source,
    signals: &Signals,
    out: &mut impl Write,
) -> Result<u8> {
    let mut readings = Readings::default();
    let Some(first) = source.collect()? else {
        return Ok(0);
    };
    let start_ns = first.at_ns;
    let mut prev_ns = first.at_ns;
    readings.push(first);
    let mut n = 0u64;
    let mut deadline = Instant::now() + cli.delay;
    loop {
        let wake = signals.wait_until(deadline);
        let now = Instant::now();
        deadline += cli.delay;
        if deadline < now {
            // Far behind (a stopped process): start again from now.
            deadline = now + cli.delay;
        }
        let Some(next) = source.collect()? else {
            return Ok(0);
        };
        readings.push(next);
        let rows = readings.rows(cli.tree, cli.sort, cli.reverse);
        let Some(snap) = readings.current(cli.tree) else {
            return Ok(0);
        };
        let f = Frame {
            snap,
            rows: &rows,
            sort: cli.sort,
            reverse: cli.reverse,
            elapsed_ns: snap.at_ns.saturating_sub(start_ns),
            interval_ns: snap.at_ns.saturating_sub(prev_ns),
            tree: cli.tree,
        };
        match cli.format {
            TopFormat::Text => {
                if n > 0 {
                    writeln!(out)?;
                }
                write_text(out, &f)?;
            }
            TopFormat::Csv => write_csv(out, &f, n == 0)?,
            TopFormat::Json => write_json(out, &f)?,
        }
        out.flush()?;
        n += 1;
        if wake == Wake::Interrupted
            || cli.iterations.is_some_and(|max| n >= max)
            || source.exhausted()
        {
            return Ok(0);
        }
        prev_ns = snap.at_ns;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::snap;
    use super::super::{model, Readings};
    use super::*;

    const S: u64 = 1_000_000_000;

    fn frame_text(f: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> String {
        let mut v = Vec::new();
        f(&mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    fn two() -> (Snapshot, Snapshot) {
        let a = snap(20 * S, &[(7, "work", 1000, 0, S)]);
        let b = snap(
            22 * S,
            &[(7, "work", 3000, 4, 2 * S), (12, "a, \"b\"", 5, 0, 0)],
        );
        (a, b)
    }

    #[test]
    fn text_frames_carry_the_time_and_a_plain_table() {
        let (a, b) = two();
        let rows = model(Some(&a), &b, SortKey::Faults);
        let f = Frame {
            snap: &b,
            rows: &rows,
            sort: SortKey::Minflt,
            reverse: true,
            elapsed_ns: 2 * S,
            interval_ns: 2 * S,
            tree: false,
        };
        let t = frame_text(|w| Ok(write_text(w, &f)?));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "pfprof-top 1970-01-01T00:00:22.000Z +2.000s: 2 registered, sampler running, \
             period 50.00ms, interval 2.00s, sorted by MINFLT/s (reversed)"
        );
        let cells = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            cells(lines[1]),
            ["PID", "COMMAND", "MINFLT/s", "MAJFLT/s", "FAULTS", "CPU%", "RSS", "SWAP", "SINCE"]
        );
        // The fixture's memory: 3000 pages resident, 3000 bytes swapped.
        assert_eq!(
            cells(lines[2]),
            ["7", "work", "1000.0", "2.0", "3,004", "50.0", "11.7M", "2.9K", "12.00s"]
        );
    }

    #[test]
    fn csv_and_json_have_plain_numbers_and_nulls() {
        let (a, b) = two();
        let mut rows = model(Some(&a), &b, SortKey::Faults);
        rows[1].cpu_percent = None;
        let f = Frame {
            snap: &b,
            rows: &rows,
            sort: SortKey::Faults,
            reverse: false,
            elapsed_ns: 2 * S,
            interval_ns: 2 * S,
            tree: false,
        };
        let csv = frame_text(|w| write_csv(w, &f, true));
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some(
                "time,elapsed_s,interval_s,pid,command,minflt_per_s,majflt_per_s,faults,\
                 cpu_percent,rss_bytes,swap_bytes,since_s"
            )
        );
        assert_eq!(
            lines.next(),
            Some("1970-01-01T00:00:22.000Z,2.0,2.0,7,work,1000.0,2.0,3004,50.0,12288000,3000,12.0")
        );
        assert_eq!(
            lines.next(),
            Some("1970-01-01T00:00:22.000Z,2.0,2.0,12,\"a, \"\"b\"\"\",0.4,0.0,5,,20480,5,12.0")
        );
        let json = frame_text(|w| write_json(w, &f));
        let v: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["faults"], 3004);
        assert_eq!(v[0]["time"], "1970-01-01T00:00:22.000Z");
        assert_eq!(v[1]["cpu_percent"], serde_json::Value::Null);
        assert_eq!(v[1]["command"], "a, \"b\"");
        assert_eq!(v[0]["rss_bytes"], 12_288_000);
        assert_eq!(v[0]["swap_bytes"], 3000);
    }

    #[test]
    fn folded_frames_mark_the_trees_and_name_their_roots() {
        let (a, mut b) = two();
        let mut a2 = a.clone();
        a2.roots = [(a.procs[0].0.pid, a.procs[0].0.pid)].into();
        let root = b.procs[0].0.pid;
        b.roots = [(root, root)].into();
        let mut r = Readings::default();
        r.push(a2);
        r.push(b);
        let rows = r.rows(true, SortKey::Pid, false);
        let f = Frame {
            snap: r.current(true).unwrap(),
            rows: &rows,
            sort: SortKey::Pid,
            reverse: false,
            elapsed_ns: 2 * S,
            interval_ns: 2 * S,
            tree: true,
        };
        let csv = frame_text(|w| write_csv(w, &f, true));
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].ends_with(",since_s,tree_root,procs"), "{csv}");
        assert!(lines[1].starts_with("1970-01-01T00:00:22.000Z,2.0,2.0,7,work,1000.0,"));
        assert!(lines[1].ends_with(",7,1"), "{csv}");
        assert!(lines[2].ends_with(",0,1"), "{csv}");
        let json = frame_text(|w| write_json(w, &f));
        let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
        assert_eq!(
            (v["tree_root"].as_i64(), v["procs"].as_u64()),
            (Some(7), Some(1))
        );
        let t = frame_text(|w| Ok(write_text(w, &f)?));
        assert!(t.lines().next().unwrap().contains("trees folded: 1"), "{t}");
        assert!(t.contains("work (+0)"), "{t}");
        // Unfolded frames have neither field.
        let plain = Frame { tree: false, ..f };
        assert!(!frame_text(|w| write_json(w, &plain)).contains("tree_root"));
    }
}
