//! The file formats: readers and writers of classic lines, CSV and JSON
//! Lines.
//!
//! Every format starts with the optional header comments (`# pfprof hz=250
//! period_us=50000`, `# pfprof comm 42 "work"`). Then:
//!
//! | format  | sample                    | per-process record                                              |
//! |---------|---------------------------|-----------------------------------------------------------------|
//! | classic | `jiffies minflt majflt cpu_ns` | `jiffies pid minflt majflt cpu_ns`                         |
//! | CSV     | `jiffies,minor_faults,major_faults,cpu_ns` (a header line first) | `seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns` (likewise) |
//! | JSON    | `{"jiffies":..,"minor_faults":..,"major_faults":..,"cpu_ns":..}` | `{"seq":..,"time_ns":..,"jiffies":..,"pid":..,"total":..,"exited":..,"minor_faults":..,..}` |
//!
//! In JSON Lines the header is one object line instead of the comments:
//! `{"pfprof":{"hz":250,"period_us":50000,"commands":{"42":"work"}}}`, so
//! the output stays JSON Lines. `monitor` adds two fields to its CSV and
//! JSON lines ([`Stamp`]): `time`, the wall-clock time of the sample (RFC
//! 3339 in UTC, to the millisecond), and `elapsed_s`, seconds since the
//! first line's sample; in CSV they are the last two columns. The reader
//! accepts them and does not keep them.
//!
//! Records after the memory carry `tree_root` (pfprof 0.3 on): the pid of
//! the root of the process's tree, 0 for a process registered alone and in
//! the totals record. In CSV it is the column after the memory columns
//! (before the stamp's), so a record line has 9, 10 (no memory, tree
//! root), 13 or 14 fields, 2 more with a stamp; files from before it
//! (9 or 13 fields) still read, with [`RecordDetail::tree_root`] `None`.
//!
//! The reader takes any mix of them line by line. Lines that are not data
//! (a CSV header, the classic monitor's `read N profiled data` trailer,
//! other comments) are skipped; a data line that does not parse is an
//! [`Error::Line`] with its number.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::time::SystemTime;

use libpfprof::classic::Sample;
use libpfprof::Counters;
use serde::{Deserialize, Serialize};

use crate::model::{Header, Memory, ProcRecord, Profile, RecordDetail};
use crate::{Error, LineError, Result};

/// Output formats of samples and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `jiffies minflt majflt cpu`, space-separated, as the classic monitor.
    #[default]
    Classic,
    /// Comma-separated with a header line.
    Csv,
    /// One JSON object per line (JSON Lines).
    Json,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Classic, Format::Csv, Format::Json];
}

/// A sample line of CSV and JSON: the field names are the format's. Fields
/// it does not know (a newer writer's, a command name) are ignored.
#[derive(Debug, Serialize, Deserialize)]
struct SampleLine {
    jiffies: u64,
    minor_faults: u64,
    major_faults: u64,
    cpu_ns: u64,
}

impl From<&Sample> for SampleLine {
    fn from(s: &Sample) -> Self {
        SampleLine {
            jiffies: s.jiffies,
            minor_faults: s.counters.minor,
            major_faults: s.counters.major,
            cpu_ns: s.counters.cpu_ns,
        }
    }
}

impl From<SampleLine> for Sample {
    fn from(s: SampleLine) -> Self {
        Sample::new(
            s.jiffies,
            Counters::new(s.minor_faults, s.major_faults, s.cpu_ns),
        )
    }
}

/// A record line of CSV (`total` and `exited` as 0 and 1) and JSON (as
/// booleans); unknown fields are ignored, as for samples.
#[derive(Debug, Serialize, Deserialize)]
struct RecordLine<F> {
    seq: u64,
    time_ns: u64,
    jiffies: u64,
    pid: i32,
    total: F,
    exited: F,
    minor_faults: u64,
    major_faults: u64,
    cpu_ns: u64,
}

/// CSV writes the flags as 0 and 1.
type CsvRecordLine = RecordLine<u8>;

/// A record line with the memory at the sample (pfprof 0.2 on): the
/// fields of [`RecordLine`], then the memory in bytes.
#[derive(Debug, Serialize, Deserialize)]
struct MemoryRecordLine<F> {
    #[serde(flatten)]
    base: RecordLine<F>,
    rss_anon_bytes: u64,
    rss_file_bytes: u64,
    rss_shmem_bytes: u64,
    swap_bytes: u64,
}

/// The same for CSV, whose writer cannot flatten: the fields in a row.
#[derive(Debug, Serialize, Deserialize)]
struct CsvMemoryRecordLine {
    seq: u64,
    time_ns: u64,
    jiffies: u64,
    pid: i32,
    total: u8,
    exited: u8,
    minor_faults: u64,
    major_faults: u64,
    cpu_ns: u64,
    rss_anon_bytes: u64,
    rss_file_bytes: u64,
    rss_shmem_bytes: u64,
    swap_bytes: u64,
}

impl CsvMemoryRecordLine {
    fn of(r: &ProcRecord, m: &Memory) -> Self {
        let b = CsvRecordLine::of(r, u8::from);
        CsvMemoryRecordLine {
            seq: b.seq,
            time_ns: b.time_ns,
            jiffies: b.jiffies,
            pid: b.pid,
            total: b.total,
            exited: b.exited,
            minor_faults: b.minor_faults,
            major_faults: b.major_faults,
            cpu_ns: b.cpu_ns,
            rss_anon_bytes: m.rss_anon_bytes,
            rss_file_bytes: m.rss_file_bytes,
            rss_shmem_bytes: m.rss_shmem_bytes,
            swap_bytes: m.swap_bytes,
        }
    }

    /// Its two parts.
    fn split(self) -> (CsvRecordLine, Memory) {
        (
            RecordLine {
                seq: self.seq,
                time_ns: self.time_ns,
                jiffies: self.jiffies,
                pid: self.pid,
                total: self.total,
                exited: self.exited,
                minor_faults: self.minor_faults,
                major_faults: self.major_faults,
                cpu_ns: self.cpu_ns,
            },
            Memory {
                rss_anon_bytes: self.rss_anon_bytes,
                rss_file_bytes: self.rss_file_bytes,
                rss_shmem_bytes: self.rss_shmem_bytes,
                swap_bytes: self.swap_bytes,
            },
        )
    }
}

impl<F> MemoryRecordLine<F> {
    fn of(r: &ProcRecord, m: &Memory, flag: impl Fn(bool) -> F) -> Self {
        MemoryRecordLine {
            base: RecordLine::of(r, flag),
            rss_anon_bytes: m.rss_anon_bytes,
            rss_file_bytes: m.rss_file_bytes,
            rss_shmem_bytes: m.rss_shmem_bytes,
            swap_bytes: m.swap_bytes,
        }
    }

    fn memory(&self) -> Memory {
        Memory {
            rss_anon_bytes: self.rss_anon_bytes,
            rss_file_bytes: self.rss_file_bytes,
            rss_shmem_bytes: self.rss_shmem_bytes,
            swap_bytes: self.swap_bytes,
        }
    }
}

impl<F> RecordLine<F> {
    fn of(r: &ProcRecord, flag: impl Fn(bool) -> F) -> Self {
        let d = r.detail.unwrap_or_default();
        RecordLine {
            seq: d.seq,
            time_ns: d.time_ns,
            jiffies: r.jiffies,
            pid: r.pid,
            total: flag(r.is_total()),
            exited: flag(d.exited),
            minor_faults: r.counters.minor,
            major_faults: r.counters.major,
            cpu_ns: r.counters.cpu_ns,
        }
    }

    /// The record; `total` is the pid (0), so the flag is not kept.
    fn record(self, exited: bool, memory: Option<Memory>, tree_root: Option<i32>) -> ProcRecord {
        ProcRecord {
            jiffies: self.jiffies,
            pid: self.pid,
            counters: Counters::new(self.minor_faults, self.major_faults, self.cpu_ns),
            detail: Some(RecordDetail {
                seq: self.seq,
                time_ns: self.time_ns,
                exited,
                memory,
                tree_root,
            }),
        }
    }
}

/// The wall-clock stamp `monitor` puts on its CSV and JSON lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// The wall-clock time of the sample.
    pub time: SystemTime,
    /// Seconds since the first line's sample.
    pub elapsed_s: f64,
}

impl Stamp {
    /// The time as RFC 3339 in UTC, to the millisecond.
    pub fn rfc3339(&self) -> String {
        humantime::format_rfc3339_millis(self.time).to_string()
    }

    /// The elapsed seconds to the millisecond.
    fn elapsed_ms(&self) -> f64 {
        (self.elapsed_s * 1000.0).round() / 1000.0
    }
}

/// A JSON record line with its tree root after the line's own fields
/// (when the record has one).
#[derive(Serialize)]
struct TreeLine<'a, T> {
    #[serde(flatten)]
    line: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree_root: Option<i32>,
}

/// A JSON line with the stamp's two fields after the line's own.
#[derive(Serialize)]
struct StampedLine<'a, T> {
    #[serde(flatten)]
    line: &'a T,
    time: String,
    elapsed_s: f64,
}

/// The CSV header's columns of a stamp.
const STAMP_CSV_HEADER: &str = "time,elapsed_s";

const SAMPLE_CSV_HEADER: &str = "jiffies,minor_faults,major_faults,cpu_ns";
const RECORD_CSV_HEADER: &str =
    "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns";
const MEMORY_CSV_HEADER: &str = "rss_anon_bytes,rss_file_bytes,rss_shmem_bytes,swap_bytes";
const TREE_CSV_HEADER: &str = "tree_root";

fn csv_row(w: &mut impl Write, row: &impl Serialize) -> io::Result<()> {
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(128)
        .from_writer(w);
    csv.serialize(row).map_err(io::Error::other)?;
    csv.flush()
}

fn json_line(w: &mut impl Write, row: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *w, row).map_err(io::Error::other)?;
    writeln!(w)
}

/// A CSV row, with the stamp's two columns at its end.
fn stamped_csv_row(
    w: &mut impl Write,
    row: &impl Serialize,
    stamp: Option<&Stamp>,
) -> io::Result<()> {
    csv_row_with(w, row, None, stamp)
}

/// A CSV row, then the tree root's column (when given), then the stamp's
/// two columns (likewise).
fn csv_row_with(
    w: &mut impl Write,
    row: &impl Serialize,
    tree_root: Option<i32>,
    stamp: Option<&Stamp>,
) -> io::Result<()> {
    if tree_root.is_none() && stamp.is_none() {
        return csv_row(w, row);
    }
    let mut line = Vec::with_capacity(128);
    csv_row(&mut line, row)?;
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    w.write_all(&line)?;
    if let Some(root) = tree_root {
        write!(w, ",{root}")?;
    }
    if let Some(st) = stamp {
        write!(w, ",{},{:.3}", st.rfc3339(), st.elapsed_s)?;
    }
    writeln!(w)
}

/// A JSON line, with the stamp's two fields at its end.
fn stamped_json_line(
    w: &mut impl Write,
    line: &impl Serialize,
    stamp: Option<&Stamp>,
) -> io::Result<()> {
    match stamp {
        None => json_line(w, line),
        Some(st) => json_line(
            w,
            &StampedLine {
                line,
                time: st.rfc3339(),
                elapsed_s: st.elapsed_ms(),
            },
        ),
    }
}

/// Writes the header comments (`monitor --header`): the `# pfprof` line
/// with the fields that are set, then one `comm` line per command name.
/// An empty header writes nothing.
pub fn write_header(w: &mut impl Write, h: &Header) -> io::Result<()> {
    if h.hz.is_some() || h.period_us.is_some() || h.backend.is_some() || h.start_ns.is_some() {
        write!(w, "# pfprof")?;
        if let Some(hz) = h.hz {
            write!(w, " hz={hz}")?;
        }
        if let Some(p) = h.period_us {
            write!(w, " period_us={p}")?;
        }
        if let Some(b) = h.backend {
            write!(w, " backend={b}")?;
        }
        if let Some(t) = h.start_ns {
            write!(w, " start_ns={t}")?;
        }
        writeln!(w)?;
    }
    for (pid, name) in &h.commands {
        write!(w, "# pfprof comm {pid} ")?;
        json_line(w, name)?;
    }
    Ok(())
}

/// Writes the header in `format`: the comments of [`write_header`] for
/// classic lines and CSV, one object line for JSON Lines
/// (`{"pfprof":{"hz":250,"period_us":50000,"commands":{"42":"work"}}}`,
/// with the fields that are set). An empty header writes nothing; a header
/// with command names only (a process first seen mid-stream) writes them
/// alone.
pub fn write_header_as(w: &mut impl Write, format: Format, h: &Header) -> io::Result<()> {
    if format != Format::Json {
        return write_header(w, h);
    }
    if h.is_empty() {
        return Ok(());
    }
    #[derive(Serialize)]
    struct Fields<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        hz: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        period_us: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        start_ns: Option<u64>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        commands: &'a BTreeMap<i32, String>,
    }
    #[derive(Serialize)]
    struct Line<'a> {
        pfprof: Fields<'a>,
    }
    json_line(
        w,
        &Line {
            pfprof: Fields {
                hz: h.hz,
                period_us: h.period_us,
                backend: h.backend.map(|b| b.to_string()),
                start_ns: h.start_ns,
                commands: &h.commands,
            },
        },
    )
}

/// The key of the JSON header object.
const HEADER_KEY: &str = "pfprof";

/// Writes the header line of samples in `format`, if it has one.
pub fn write_sample_header(w: &mut impl Write, format: Format) -> io::Result<()> {
    write_sample_header_stamped(w, format, false)
}

/// [`write_sample_header`]; `stamped`: the lines carry a [`Stamp`].
pub fn write_sample_header_stamped(
    w: &mut impl Write,
    format: Format,
    stamped: bool,
) -> io::Result<()> {
    match format {
        Format::Csv if stamped => writeln!(w, "{SAMPLE_CSV_HEADER},{STAMP_CSV_HEADER}"),
        Format::Csv => writeln!(w, "{SAMPLE_CSV_HEADER}"),
        _ => Ok(()),
    }
}

/// Writes one classic sample.
pub fn write_sample(w: &mut impl Write, format: Format, s: &Sample) -> io::Result<()> {
    write_sample_stamped(w, format, s, None)
}

/// [`write_sample`], with the stamp in CSV and JSON (classic lines have
/// none).
pub fn write_sample_stamped(
    w: &mut impl Write,
    format: Format,
    s: &Sample,
    stamp: Option<&Stamp>,
) -> io::Result<()> {
    match format {
        Format::Classic => writeln!(
            w,
            "{} {} {} {}",
            s.jiffies, s.counters.minor, s.counters.major, s.counters.cpu_ns
        ),
        Format::Csv => stamped_csv_row(w, &SampleLine::from(s), stamp),
        Format::Json => stamped_json_line(w, &SampleLine::from(s), stamp),
    }
}

/// Writes the header line of per-process records in `format`, if it has one;
/// `memory`: the records carry the memory columns.
pub fn write_record_header(w: &mut impl Write, format: Format, memory: bool) -> io::Result<()> {
    write_record_header_stamped(w, format, memory, false)
}

/// [`write_record_header`]; `stamped`: the lines carry a [`Stamp`].
pub fn write_record_header_stamped(
    w: &mut impl Write,
    format: Format,
    memory: bool,
    stamped: bool,
) -> io::Result<()> {
    write_record_header_with(
        w,
        format,
        RecordColumns {
            memory,
            tree_root: false,
            stamped,
        },
    )
}

/// The optional columns of the record lines of a CSV file, for its header
/// line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordColumns {
    /// The memory columns.
    pub memory: bool,
    /// The `tree_root` column.
    pub tree_root: bool,
    /// A [`Stamp`]'s two columns.
    pub stamped: bool,
}

/// Writes the header line of per-process records in `format` (CSV only)
/// with the optional columns of `cols`.
pub fn write_record_header_with(
    w: &mut impl Write,
    format: Format,
    cols: RecordColumns,
) -> io::Result<()> {
    if format != Format::Csv {
        return Ok(());
    }
    write!(w, "{RECORD_CSV_HEADER}")?;
    if cols.memory {
        write!(w, ",{MEMORY_CSV_HEADER}")?;
    }
    if cols.tree_root {
        write!(w, ",{TREE_CSV_HEADER}")?;
    }
    if cols.stamped {
        write!(w, ",{STAMP_CSV_HEADER}")?;
    }
    writeln!(w)
}

/// Writes one per-process record. The classic format gives `jiffies pid
/// minflt majflt cpu` (pid 0: the totals) and drops the detail; CSV and
/// JSON write a missing detail as zeros, the memory and the tree root
/// only when the record has them.
pub fn write_record(w: &mut impl Write, format: Format, r: &ProcRecord) -> io::Result<()> {
    write_record_stamped(w, format, r, None)
}

/// [`write_record`], with the stamp in CSV and JSON (classic lines have
/// none).
pub fn write_record_stamped(
    w: &mut impl Write,
    format: Format,
    r: &ProcRecord,
    stamp: Option<&Stamp>,
) -> io::Result<()> {
    match format {
        Format::Classic => writeln!(
            w,
            "{} {} {} {} {}",
            r.jiffies, r.pid, r.counters.minor, r.counters.major, r.counters.cpu_ns
        ),
        Format::Csv => {
            let root = r.detail.and_then(|d| d.tree_root);
            match r.memory() {
                Some(m) => csv_row_with(w, &CsvMemoryRecordLine::of(r, &m), root, stamp),
                None => csv_row_with(w, &CsvRecordLine::of(r, u8::from), root, stamp),
            }
        }
        Format::Json => {
            let tree_root = r.detail.and_then(|d| d.tree_root);
            match r.memory() {
                Some(m) => stamped_json_line(
                    w,
                    &TreeLine {
                        line: &MemoryRecordLine::of(r, &m, |b| b),
                        tree_root,
                    },
                    stamp,
                ),
                None => stamped_json_line(
                    w,
                    &TreeLine {
                        line: &RecordLine::of(r, |b| b),
                        tree_root,
                    },
                    stamp,
                ),
            }
        }
    }
}

impl Profile {
    /// Writes the whole profile in `format`: the header, then the samples
    /// (with their CSV header line; also when there is no data at all),
    /// then the records (likewise).
    pub fn write(&self, w: &mut impl Write, format: Format) -> io::Result<()> {
        write_header_as(w, format, &self.header)?;
        if !self.samples.is_empty() || self.records.is_empty() {
            write_sample_header(w, format)?;
            for s in &self.samples {
                write_sample(w, format, s)?;
            }
        }
        if !self.records.is_empty() {
            let cols = RecordColumns {
                memory: self.records.iter().any(|r| r.memory().is_some()),
                tree_root: self
                    .records
                    .iter()
                    .any(|r| r.detail.is_some_and(|d| d.tree_root.is_some())),
                stamped: false,
            };
            write_record_header_with(w, format, cols)?;
            for r in &self.records {
                write_record(w, format, r)?;
            }
        }
        Ok(())
    }

    /// Parses a profile in any format (see the module documentation).
    pub fn parse(input: impl BufRead) -> Result<Profile> {
        let mut p = Profile::default();
        for (i, line) in input.lines().enumerate() {
            let line = line?;
            let no = i + 1;
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let parsed = if let Some(comment) = t.strip_prefix('#') {
                header_line(comment, &mut p.header)
            } else if t.starts_with('{') {
                json_data(t, &mut p)
            } else if t.contains(',') {
                csv_data(t, &mut p)
            } else {
                let words: Vec<&str> = t.split_whitespace().collect();
                words_data(&words, t, &mut p)
            };
            parsed.map_err(|e| Error::line(no, e))?;
        }
        Ok(p)
    }

    /// Reads and parses a profile file; errors name the file.
    pub fn read(path: &Path) -> Result<Profile> {
        let named = |e: Error| Error::File {
            path: path.to_owned(),
            source: Box::new(e),
        };
        let f = std::fs::File::open(path).map_err(|e| named(e.into()))?;
        Profile::parse(io::BufReader::new(f)).map_err(named)
    }
}

type LineResult = std::result::Result<(), LineError>;

/// A `# pfprof ...` comment: the header's fields or a command name. Other
/// comments are skipped; unknown keys too (a newer writer's).
fn header_line(comment: &str, h: &mut Header) -> LineResult {
    let Some(rest) = comment.trim_start().strip_prefix("pfprof ") else {
        return Ok(());
    };
    let bad = |word: &str| LineError::Header(word.to_owned());
    if let Some(comm) = rest.trim_start().strip_prefix("comm ") {
        let comm = comm.trim_start();
        let (pid, name) = comm.split_once(' ').ok_or_else(|| bad(comm))?;
        let pid = pid.parse().map_err(|_| bad(pid))?;
        h.commands.insert(pid, serde_json::from_str(name.trim())?);
        return Ok(());
    }
    for word in rest.split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            continue;
        };
        match key {
            "hz" => h.hz = Some(value.parse().map_err(|_| bad(word))?),
            "period_us" => h.period_us = Some(value.parse().map_err(|_| bad(word))?),
            "backend" => h.backend = Some(value.parse().map_err(|_| bad(word))?),
            "start_ns" => h.start_ns = Some(value.parse().map_err(|_| bad(word))?),
            _ => {}
        }
    }
    Ok(())
}

/// The JSON header object's fields (see [`write_header_as`]); unknown
/// keys are skipped (a newer writer's).
fn json_header(h: &mut Header, fields: &serde_json::Value) -> LineResult {
    let bad = |key: &str, v: &serde_json::Value| LineError::Header(format!("{key}={v}"));
    let serde_json::Value::Object(fields) = fields else {
        return Err(bad(HEADER_KEY, fields));
    };
    let u64_of = |key: &str, v: &serde_json::Value| v.as_u64().ok_or_else(|| bad(key, v));
    let u32_of = |key: &str, v: &serde_json::Value| {
        u64_of(key, v).and_then(|n| u32::try_from(n).map_err(|_| bad(key, v)))
    };
    for (key, v) in fields {
        match key.as_str() {
            "hz" => h.hz = Some(u32_of(key, v)?),
            "period_us" => h.period_us = Some(u32_of(key, v)?),
            "start_ns" => h.start_ns = Some(u64_of(key, v)?),
            "backend" => {
                h.backend = Some(
                    v.as_str()
                        .and_then(|b| b.parse().ok())
                        .ok_or_else(|| bad(key, v))?,
                )
            }
            "commands" => {
                let serde_json::Value::Object(names) = v else {
                    return Err(bad(key, v));
                };
                for (pid, name) in names {
                    let pid = pid.parse().map_err(|_| bad("commands", v))?;
                    let name = name.as_str().ok_or_else(|| bad("commands", v))?;
                    h.commands.insert(pid, name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A JSON line: the header object, a record if it has a pid, else a
/// sample.
fn json_data(t: &str, p: &mut Profile) -> LineResult {
    let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(t)?;
    if let Some(fields) = value.get(HEADER_KEY) {
        return json_header(&mut p.header, fields);
    }
    let value = serde_json::Value::Object(value);
    if value.get("pid").is_some() {
        let tree_root = match value.get("tree_root") {
            None => None,
            Some(v) => Some(
                v.as_i64()
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| LineError::NotANumber(format!("tree_root {v}")))?,
            ),
        };
        let record = if value.get("rss_anon_bytes").is_some() {
            let r: MemoryRecordLine<bool> = serde_json::from_value(value)?;
            let memory = r.memory();
            let exited = r.base.exited;
            r.base.record(exited, Some(memory), tree_root)
        } else {
            let r: RecordLine<bool> = serde_json::from_value(value)?;
            let exited = r.exited;
            r.record(exited, None, tree_root)
        };
        p.records.push(record);
    } else {
        let s: SampleLine = serde_json::from_value(value)?;
        p.samples.push(s.into());
    }
    Ok(())
}

/// Whether a line is data: its first field is a number (not a CSV header,
/// a trailer or a message).
fn is_data(first: Option<&str>) -> bool {
    first.is_some_and(|w| w.parse::<i128>().is_ok())
}

/// A CSV line: 4 fields are a sample, 9 a record, 13 a record with its
/// memory, 10 and 14 the same with the tree root (5, a classic record); 6,
/// 11, 12, 15 and 16 the same with a [`Stamp`]'s two columns at the end,
/// which are checked and dropped.
fn csv_data(t: &str, p: &mut Profile) -> LineResult {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(t.as_bytes());
    let mut row = csv::StringRecord::new();
    reader.read_record(&mut row)?;
    if !is_data(row.get(0)) {
        return Ok(());
    }
    if matches!(row.len(), 6 | 11 | 12 | 15 | 16) {
        let n = row.len() - 2;
        let time = row.get(n).unwrap_or_default();
        humantime::parse_rfc3339(time).map_err(|_| LineError::NotANumber(t.to_owned()))?;
        let elapsed = row.get(n + 1).unwrap_or_default();
        elapsed
            .parse::<f64>()
            .map_err(|_| LineError::NotANumber(t.to_owned()))?;
        row = row.iter().take(n).collect();
    }
    // The tree root: the last column of 10 and 14.
    let tree_root = if matches!(row.len(), 10 | 14) {
        let n = row.len() - 1;
        let root = row.get(n).unwrap_or_default();
        let root = root
            .parse::<i32>()
            .map_err(|_| match root.parse::<i128>() {
                Ok(_) => LineError::PidRange,
                Err(_) => LineError::NotANumber(t.to_owned()),
            })?;
        row = row.iter().take(n).collect();
        Some(root)
    } else {
        None
    };
    match row.len() {
        4 => p.samples.push(row.deserialize::<SampleLine>(None)?.into()),
        9 => {
            let r: CsvRecordLine = row.deserialize(None)?;
            p.records.push(csv_record(r, None, tree_root)?);
        }
        13 => {
            let (r, memory) = row.deserialize::<CsvMemoryRecordLine>(None)?.split();
            p.records.push(csv_record(r, Some(memory), tree_root)?);
        }
        _ => {
            let words: Vec<&str> = row.iter().collect();
            words_data(&words, t, p)?;
        }
    }
    Ok(())
}

/// A CSV record line's record, its 0/1 flags checked.
fn csv_record(
    r: CsvRecordLine,
    memory: Option<Memory>,
    tree_root: Option<i32>,
) -> std::result::Result<ProcRecord, LineError> {
    let exited = match r.exited {
        0 => false,
        1 => true,
        n => return Err(LineError::Flag(n.to_string())),
    };
    if r.total > 1 {
        return Err(LineError::Flag(r.total.to_string()));
    }
    Ok(r.record(exited, memory, tree_root))
}

/// A classic line: 4 numbers are a sample, 5 a record.
fn words_data(words: &[&str], t: &str, p: &mut Profile) -> LineResult {
    if !is_data(words.first().copied()) {
        return Ok(());
    }
    let nums = words
        .iter()
        .map(|w| w.parse::<i128>())
        .collect::<std::result::Result<Vec<i128>, _>>()
        .map_err(|_| LineError::NotANumber(t.to_owned()))?;
    let u = |k: usize| match u64::try_from(nums[k]) {
        Ok(v) => Ok(v),
        Err(_) if nums[k] < 0 => Err(LineError::Negative),
        Err(_) => Err(LineError::NotANumber(t.to_owned())),
    };
    match nums.len() {
        4 => p
            .samples
            .push(Sample::new(u(0)?, Counters::new(u(1)?, u(2)?, u(3)?))),
        5 => p.records.push(ProcRecord {
            jiffies: u(0)?,
            pid: i32::try_from(nums[1]).map_err(|_| LineError::PidRange)?,
            counters: Counters::new(u(2)?, u(3)?, u(4)?),
            detail: None,
        }),
        n => return Err(LineError::FieldCount(n)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;

    fn s(jiffies: u64, minor: u64, major: u64, cpu_ns: u64) -> Sample {
        Sample::new(jiffies, Counters::new(minor, major, cpu_ns))
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut v = Vec::new();
        f(&mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    fn parse_str(text: &str) -> Result<Profile> {
        Profile::parse(text.as_bytes())
    }

    #[test]
    fn sample_formats() {
        let x = s(4_294_937_296, 12, 0, 5_000_000);
        assert_eq!(
            text(|w| write_sample(w, Format::Classic, &x)),
            "4294937296 12 0 5000000\n"
        );
        assert_eq!(
            text(|w| {
                write_sample_header(w, Format::Csv)?;
                write_sample(w, Format::Csv, &x)
            }),
            "jiffies,minor_faults,major_faults,cpu_ns\n4294937296,12,0,5000000\n"
        );
        assert_eq!(
            text(|w| write_sample(w, Format::Json, &x)),
            "{\"jiffies\":4294937296,\"minor_faults\":12,\"major_faults\":0,\"cpu_ns\":5000000}\n"
        );
        assert_eq!(text(|w| write_sample_header(w, Format::Classic)), "");
        let h = Header {
            hz: Some(250),
            period_us: Some(50_000),
            ..Header::default()
        };
        assert_eq!(
            text(|w| write_header(w, &h)),
            "# pfprof hz=250 period_us=50000\n"
        );
        assert_eq!(text(|w| write_header(w, &Header::default())), "");
    }

    #[test]
    fn record_formats() {
        use libpfprof::ext::{fixture, Stream};
        let buf = fixture::region(&[fixture::record(0, 0, 10, 5), fixture::record(1, 42, 7, 3)]);
        let b = Stream::from_oldest(&buf[..])
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        let recs: Vec<ProcRecord> = b.records.iter().map(ProcRecord::from).collect();
        let out = text(|w| {
            for r in &recs {
                write_record(w, Format::Classic, r)?;
            }
            Ok(())
        });
        assert_eq!(out, "4294937296 0 10 0 5\n4294937346 42 7 0 3\n");
        assert_eq!(
            text(|w| write_record(w, Format::Json, &recs[1])),
            "{\"seq\":1,\"time_ns\":1000000,\"jiffies\":4294937346,\"pid\":42,\"total\":false,\
             \"exited\":false,\"minor_faults\":7,\"major_faults\":0,\"cpu_ns\":3,\
             \"rss_anon_bytes\":28672,\"rss_file_bytes\":12288,\"rss_shmem_bytes\":4096,\
             \"swap_bytes\":4096,\"tree_root\":0}\n"
        );
        assert_eq!(
            text(|w| write_record(w, Format::Csv, &recs[0])),
            "0,0,4294937296,0,1,0,10,0,5,40960,12288,4096,8192,0\n"
        );
        assert_eq!(
            text(|w| write_record_header(w, Format::Csv, true)),
            "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns,\
             rss_anon_bytes,rss_file_bytes,rss_shmem_bytes,swap_bytes\n"
        );
        assert_eq!(
            text(|w| write_record_header_with(
                w,
                Format::Csv,
                RecordColumns {
                    memory: true,
                    tree_root: true,
                    stamped: false
                }
            )),
            "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns,\
             rss_anon_bytes,rss_file_bytes,rss_shmem_bytes,swap_bytes,tree_root\n"
        );
        // A tree member's record carries its root.
        let member = ProcRecord {
            detail: recs[1].detail.map(|d| RecordDetail {
                tree_root: Some(40),
                ..d
            }),
            ..recs[1]
        };
        assert_eq!(
            text(|w| write_record(w, Format::Csv, &member)),
            "1,1000000,4294937346,42,0,0,7,0,3,28672,12288,4096,4096,40\n"
        );
        // Records of files from before ABI 2 have no memory columns, and
        // those from before trees no tree root.
        let old = ProcRecord {
            detail: recs[0].detail.map(|d| RecordDetail {
                memory: None,
                tree_root: None,
                ..d
            }),
            ..recs[0]
        };
        assert_eq!(
            text(|w| write_record(w, Format::Csv, &old)),
            "0,0,4294937296,0,1,0,10,0,5\n"
        );
        assert_eq!(
            text(|w| write_record_header(w, Format::Csv, false)),
            "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns\n"
        );
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
        assert_eq!((p.header.hz, p.header.period_us), (Some(250), Some(50_000)));
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
        assert_eq!(json.header.hz, None);
    }

    #[test]
    fn per_process_records_in_every_format() {
        let rec = |pid, detail| ProcRecord {
            jiffies: 100,
            pid,
            counters: Counters::new(7, 0, 9),
            detail,
        };
        let d = |seq| {
            Some(RecordDetail {
                seq,
                time_ns: 5,
                exited: false,
                memory: None,
                tree_root: None,
            })
        };
        let classic = parse_str("100 0 7 0 9\n100 42 7 0 9\n").unwrap();
        assert_eq!(classic.records, [rec(0, None), rec(42, None)]);
        let want = [rec(0, d(0)), rec(42, d(1))];
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
        // With the tree root: 10 fields (14 with the memory), or the JSON
        // field; the root of a process in no tree is 0.
        let tree = |seq, root| {
            Some(RecordDetail {
                tree_root: Some(root),
                ..d(seq).unwrap()
            })
        };
        let want = [rec(0, tree(0, 0)), rec(42, tree(1, 40))];
        let csv = parse_str(
            "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns,tree_root\n\
             0,5,100,0,1,0,7,0,9,0\n1,5,100,42,0,0,7,0,9,40\n",
        )
        .unwrap();
        assert_eq!(csv.records, want);
        assert_eq!(csv.records[1].tree_root(), Some(40));
        assert_eq!(csv.records[0].tree_root(), None);
        let json = parse_str(
            "{\"seq\":0,\"time_ns\":5,\"jiffies\":100,\"pid\":0,\"total\":true,\"exited\":false,\
             \"minor_faults\":7,\"major_faults\":0,\"cpu_ns\":9,\"tree_root\":0}\n\
             {\"seq\":1,\"time_ns\":5,\"jiffies\":100,\"pid\":42,\"total\":false,\"exited\":false,\
             \"minor_faults\":7,\"major_faults\":0,\"cpu_ns\":9,\"tree_root\":40}\n",
        )
        .unwrap();
        assert_eq!(json.records, want);
        let mem = Memory {
            rss_anon_bytes: 1,
            rss_file_bytes: 2,
            rss_shmem_bytes: 3,
            swap_bytes: 4,
        };
        let with_memory = parse_str("1,5,100,42,0,0,7,0,9,1,2,3,4,40\n").unwrap();
        assert_eq!(
            with_memory.records[0].detail.unwrap(),
            RecordDetail {
                memory: Some(mem),
                ..tree(1, 40).unwrap()
            }
        );
        // The totals of a per-process recording are its pid-0 records.
        assert_eq!(classic.totals(), [s(100, 7, 0, 9)]);
    }

    #[test]
    fn the_header_carries_backend_start_and_command_names() {
        let h = Header {
            hz: Some(1000),
            period_us: Some(50_000),
            backend: Some(Backend::Procfs),
            start_ns: Some(123),
            commands: [(42, "a \"b\"\tc".to_owned()), (7, "work".to_owned())].into(),
        };
        let t = text(|w| write_header(w, &h));
        assert_eq!(
            t,
            "# pfprof hz=1000 period_us=50000 backend=procfs start_ns=123\n\
             # pfprof comm 7 \"work\"\n\
             # pfprof comm 42 \"a \\\"b\\\"\\tc\"\n"
        );
        assert_eq!(parse_str(&t).unwrap().header, h);
        // Other comments and unknown keys are not the header's business.
        let p = parse_str("# a comment hz=x\n# pfprof hz=100 future=1\n").unwrap();
        assert_eq!(p.header.hz, Some(100));
    }

    #[test]
    fn json_lines_carry_the_header_as_an_object_line() {
        let h = Header {
            hz: Some(250),
            period_us: Some(50_000),
            backend: Some(Backend::Procfs),
            start_ns: None,
            commands: [(42, "work".to_owned())].into(),
        };
        let t = text(|w| write_header_as(w, Format::Json, &h));
        assert_eq!(
            t,
            "{\"pfprof\":{\"hz\":250,\"period_us\":50000,\"backend\":\"procfs\",\
             \"commands\":{\"42\":\"work\"}}}\n"
        );
        let v: serde_json::Value = serde_json::from_str(t.trim()).unwrap();
        assert_eq!(v["pfprof"]["commands"]["42"], "work");
        assert_eq!(parse_str(&t).unwrap().header, h);
        // Classic and CSV keep the comments.
        assert_eq!(
            text(|w| write_header_as(w, Format::Csv, &h)),
            text(|w| write_header(w, &h))
        );
        assert_eq!(
            text(|w| write_header_as(w, Format::Json, &Header::default())),
            ""
        );
        // Names of processes first seen later come as objects of their own.
        let later = Header {
            commands: [(7, "late".to_owned())].into(),
            ..Header::default()
        };
        let t2 = text(|w| write_header_as(w, Format::Json, &later));
        assert_eq!(t2, "{\"pfprof\":{\"commands\":{\"7\":\"late\"}}}\n");
        let both = parse_str(&format!("{t}{t2}")).unwrap().header;
        assert_eq!(both.commands.len(), 2);
        assert_eq!(both.hz, Some(250));
        let e = parse_str("{\"pfprof\":{\"hz\":\"fast\"}}\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1: header:"), "{e}");
    }

    #[test]
    fn stamped_lines_carry_time_and_elapsed_seconds() {
        let st = Stamp {
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_796_800_000_123),
            elapsed_s: 1.25,
        };
        let x = s(100, 1, 2, 3);
        assert_eq!(
            text(|w| {
                write_sample_header_stamped(w, Format::Csv, true)?;
                write_sample_stamped(w, Format::Csv, &x, Some(&st))
            }),
            "jiffies,minor_faults,major_faults,cpu_ns,time,elapsed_s\n\
             100,1,2,3,2026-12-09T07:06:40.123Z,1.250\n"
        );
        assert_eq!(
            text(|w| write_sample_stamped(w, Format::Json, &x, Some(&st))),
            "{\"jiffies\":100,\"minor_faults\":1,\"major_faults\":2,\"cpu_ns\":3,\
             \"time\":\"2026-12-09T07:06:40.123Z\",\"elapsed_s\":1.25}\n"
        );
        // The classic line stays as it is.
        assert_eq!(
            text(|w| write_sample_stamped(w, Format::Classic, &x, Some(&st))),
            "100 1 2 3\n"
        );
        let r = ProcRecord {
            jiffies: 100,
            pid: 42,
            counters: Counters::new(7, 0, 9),
            detail: Some(RecordDetail {
                seq: 1,
                time_ns: 5,
                exited: false,
                memory: Some(Memory::default()),
                tree_root: None,
            }),
        };
        let csv = text(|w| {
            write_record_header_stamped(w, Format::Csv, true, true)?;
            write_record_stamped(w, Format::Csv, &r, Some(&st))
        });
        assert!(csv.starts_with(
            "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns,\
             rss_anon_bytes,rss_file_bytes,rss_shmem_bytes,swap_bytes,time,elapsed_s\n"
        ));
        let json = text(|w| write_record_stamped(w, Format::Json, &r, Some(&st)));
        assert!(json.ends_with(",\"time\":\"2026-12-09T07:06:40.123Z\",\"elapsed_s\":1.25}\n"));
        // Read back: the same record and sample, the stamps dropped.
        for t in [&csv, &json] {
            assert_eq!(parse_str(t).unwrap().records, [r], "{t}");
        }
        // With the tree root: before the stamp's columns.
        let tree = ProcRecord {
            detail: r.detail.map(|d| RecordDetail {
                tree_root: Some(40),
                ..d
            }),
            ..r
        };
        let csv = text(|w| {
            write_record_header_with(
                w,
                Format::Csv,
                RecordColumns {
                    memory: true,
                    tree_root: true,
                    stamped: true,
                },
            )?;
            write_record_stamped(w, Format::Csv, &tree, Some(&st))
        });
        assert!(
            csv.ends_with(
                ",swap_bytes,tree_root,time,elapsed_s\n\
                 1,5,100,42,0,0,7,0,9,0,0,0,0,40,2026-12-09T07:06:40.123Z,1.250\n"
            ),
            "{csv}"
        );
        let json = text(|w| write_record_stamped(w, Format::Json, &tree, Some(&st)));
        assert!(
            json.ends_with(
                ",\"swap_bytes\":0,\"tree_root\":40,\"time\":\"2026-12-09T07:06:40.123Z\",\
                 \"elapsed_s\":1.25}\n"
            ),
            "{json}"
        );
        for t in [&csv, &json] {
            assert_eq!(parse_str(t).unwrap().records, [tree], "{t}");
        }
        let no_memory = "1,5,100,42,0,0,7,0,9,40,2026-12-09T07:06:40.123Z,1.250\n";
        assert_eq!(
            parse_str(no_memory).unwrap().records[0].tree_root(),
            Some(40)
        );
        let sample_csv = "100,1,2,3,2026-12-09T07:06:40.123Z,1.250\n";
        assert_eq!(parse_str(sample_csv).unwrap().samples, [x]);
        let e = parse_str("100,1,2,3,yesterday,1.250\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1: not a number"), "{e}");
    }

    #[test]
    fn malformed_lines_are_errors_with_line_numbers() {
        let e = parse_str("1 2 3 4\n1 2 3\n").unwrap_err();
        assert_eq!(e.line_number(), Some(2));
        assert!(e.to_string().starts_with("line 2: 3 fields"), "{e}");
        let e = parse_str("1 2 x 4\n").unwrap_err().to_string();
        assert!(e.starts_with("line 1: not a number"), "{e}");
        let e = parse_str("1 -2 3 4\n").unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        let e = parse_str("{\"jiffies\":1}\n").unwrap_err().to_string();
        assert!(e.contains("minor_faults"), "{e}");
        let e = parse_str("# pfprof hz=fast\n").unwrap_err().to_string();
        assert!(e.starts_with("line 1: header: `hz=fast`"), "{e}");
        let e = parse_str("\n0,5,100,0,2,0,7,0,9\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 2: `2` is not a flag"), "{e}");
        let e = parse_str("0,5,100,42,0,0,7,0,9,root\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 1: not a number"), "{e}");
        let e = parse_str("0,5,100,42,0,0,7,0,9,4294967296\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pid"), "{e}");
        let e = parse_str(
            "{\"seq\":0,\"time_ns\":5,\"jiffies\":100,\"pid\":42,\"total\":false,\
             \"exited\":false,\"minor_faults\":7,\"major_faults\":0,\"cpu_ns\":9,\"tree_root\":\"x\"}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("tree_root"), "{e}");
        let e = parse_str("1,2,x,4\n").unwrap_err().to_string();
        assert!(e.starts_with("line 1: CSV:"), "{e}");
        // A field that is not a number, such as a command name, is fine
        // where the format has no such field, and named where it has one.
        let p = parse_str(
            "{\"jiffies\":1,\"comm\":\"a, b\",\"minor_faults\":2,\"major_faults\":3,\"cpu_ns\":4}\n",
        )
        .unwrap();
        assert_eq!(p.samples, [s(1, 2, 3, 4)]);
        let e = parse_str(
            "\n{\"jiffies\":1,\"minor_faults\":\"work\",\"major_faults\":3,\"cpu_ns\":4}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("line 2: JSON: invalid type: string \"work\""),
            "{e}"
        );
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
    fn files_are_named_in_errors() {
        let e = Profile::read(Path::new("/nonexistent/p.dat")).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/p.dat: "), "{e}");
    }
}
