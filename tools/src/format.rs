//! The formats the tools share: thousands separators, short durations,
//! optional rates, and the sample and record lines of each output format.
//! Layouts that belong to one renderer (`pfprof run`'s msec, a table's
//! seconds, a chart's axis labels) are formatted there.

use std::io::{self, Write};

use clap::ValueEnum;
use libpfprof::classic::Sample;
use libpfprof::ext::{Record, RecordFlags};

/// `12345678` as `12,345,678`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in nanoseconds, short: `850ns`, `12.3us`, `4.56ms`, `1.23s`,
/// `12m05s`, `3h07m`.
pub fn duration_ns(ns: u64) -> String {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    match ns {
        n if n < US => format!("{n}ns"),
        n if n < MS => format!("{:.1}us", n as f64 / US as f64),
        n if n < S => format!("{:.2}ms", n as f64 / MS as f64),
        n if n < 60 * S => format!("{:.2}s", n as f64 / S as f64),
        n if n < 3600 * S => format!("{}m{:02}s", n / (60 * S), n / S % 60),
        n => format!("{}h{:02}m", n / (3600 * S), n / (60 * S) % 60),
    }
}

/// A rate or ratio with one decimal, or `-` when unknown.
pub fn optional(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.1}"),
        _ => "-".to_owned(),
    }
}

/// The per-second rate of a cumulative counter between two readings
/// `dt_ns` apart; `None` if the counter went backwards (a reset) or no time
/// passed.
pub fn rate_per_s(prev: u64, cur: u64, dt_ns: u64) -> Option<f64> {
    if cur < prev || dt_ns == 0 {
        return None;
    }
    Some((cur - prev) as f64 * 1e9 / dt_ns as f64)
}

/// Output formats of sample and record lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// `jiffies minflt majflt cpu`, space-separated, as the classic monitor.
    #[default]
    Classic,
    /// Comma-separated with a header line.
    Csv,
    /// One JSON object per line (JSON Lines).
    Json,
}

/// Writes the profile's header comment (`monitor --header`): the kernel's HZ
/// and the sampling period, which readers need to turn jiffies into time.
pub fn write_profile_header(w: &mut impl Write, hz: u32, period_us: u32) -> io::Result<()> {
    writeln!(w, "# pfprof hz={hz} period_us={period_us}")
}

/// Writes the header line of `format`, if it has one.
pub fn write_sample_header(w: &mut impl Write, format: Format) -> io::Result<()> {
    match format {
        Format::Csv => writeln!(w, "jiffies,minor_faults,major_faults,cpu_ns"),
        _ => Ok(()),
    }
}

/// Writes one classic sample.
pub fn write_sample(w: &mut impl Write, format: Format, s: &Sample) -> io::Result<()> {
    match format {
        Format::Classic => writeln!(w, "{}", classic_line(s)),
        Format::Csv => writeln!(
            w,
            "{},{},{},{}",
            s.jiffies, s.minor_faults, s.major_faults, s.cpu_ns
        ),
        Format::Json => writeln!(
            w,
            "{{\"jiffies\":{},\"minor_faults\":{},\"major_faults\":{},\"cpu_ns\":{}}}",
            s.jiffies, s.minor_faults, s.major_faults, s.cpu_ns
        ),
    }
}

/// Formats a sample as the classic monitor prints it: `jiffies min maj cpu`.
pub fn classic_line(s: &Sample) -> String {
    format!(
        "{} {} {} {}",
        s.jiffies, s.minor_faults, s.major_faults, s.cpu_ns
    )
}

/// Writes the header line for per-process records, if `format` has one.
pub fn write_record_header(w: &mut impl Write, format: Format) -> io::Result<()> {
    match format {
        Format::Csv => writeln!(
            w,
            "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns"
        ),
        _ => Ok(()),
    }
}

/// Writes one extended record. The classic format gives
/// `jiffies pid minflt majflt cpu` (pid 0: the totals).
pub fn write_record(w: &mut impl Write, format: Format, r: &Record) -> io::Result<()> {
    let pid = r.pid.map_or(0, |p| p.as_raw());
    let total = r.flags.contains(RecordFlags::TOTAL);
    let exited = r.flags.contains(RecordFlags::EXITED);
    match format {
        Format::Classic => writeln!(
            w,
            "{} {} {} {} {}",
            r.jiffies, pid, r.minor_faults, r.major_faults, r.cpu_ns
        ),
        Format::Csv => writeln!(
            w,
            "{},{},{},{},{},{},{},{},{}",
            r.seq,
            r.time_ns,
            r.jiffies,
            pid,
            u8::from(total),
            u8::from(exited),
            r.minor_faults,
            r.major_faults,
            r.cpu_ns
        ),
        Format::Json => writeln!(
            w,
            "{{\"seq\":{},\"time_ns\":{},\"jiffies\":{},\"pid\":{},\"total\":{},\"exited\":{},\
             \"minor_faults\":{},\"major_faults\":{},\"cpu_ns\":{}}}",
            r.seq,
            r.time_ns,
            r.jiffies,
            pid,
            total,
            exited,
            r.minor_faults,
            r.major_faults,
            r.cpu_ns
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        Sample {
            jiffies: 4_294_937_296,
            minor_faults: 12,
            major_faults: 0,
            cpu_ns: 5_000_000,
        }
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut v = Vec::new();
        f(&mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn classic_lines_are_space_separated() {
        assert_eq!(classic_line(&sample()), "4294937296 12 0 5000000");
    }

    #[test]
    fn sample_formats() {
        let s = sample();
        assert_eq!(
            text(|w| write_sample(w, Format::Classic, &s)),
            "4294937296 12 0 5000000\n"
        );
        assert_eq!(
            text(|w| {
                write_sample_header(w, Format::Csv)?;
                write_sample(w, Format::Csv, &s)
            }),
            "jiffies,minor_faults,major_faults,cpu_ns\n4294937296,12,0,5000000\n"
        );
        assert_eq!(
            text(|w| write_sample(w, Format::Json, &s)),
            "{\"jiffies\":4294937296,\"minor_faults\":12,\"major_faults\":0,\"cpu_ns\":5000000}\n"
        );
        assert_eq!(text(|w| write_sample_header(w, Format::Classic)), "");
        assert_eq!(
            text(|w| write_profile_header(w, 250, 50_000)),
            "# pfprof hz=250 period_us=50000\n"
        );
    }

    #[test]
    fn record_formats() {
        use libpfprof::ext::{fixture, Stream};
        let buf = fixture::region(&[fixture::record(0, 0, 10, 5), fixture::record(1, 42, 7, 3)]);
        let b = Stream::from_oldest(&buf[..])
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        let out = text(|w| {
            for r in &b.records {
                write_record(w, Format::Classic, r)?;
            }
            Ok(())
        });
        assert_eq!(out, "4294937296 0 10 0 5\n4294937346 42 7 0 3\n");
        let json = text(|w| write_record(w, Format::Json, &b.records[1]));
        assert_eq!(
            json,
            "{\"seq\":1,\"time_ns\":1000000,\"jiffies\":4294937346,\"pid\":42,\"total\":false,\
             \"exited\":false,\"minor_faults\":7,\"major_faults\":0,\"cpu_ns\":3}\n"
        );
        let csv = text(|w| write_record(w, Format::Csv, &b.records[0]));
        assert_eq!(csv, "0,0,4294937296,0,1,0,10,0,5\n");
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(duration_ns(850), "850ns");
        assert_eq!(duration_ns(12_300), "12.3us");
        assert_eq!(duration_ns(4_560_000), "4.56ms");
        assert_eq!(duration_ns(1_230_000_000), "1.23s");
        assert_eq!(duration_ns(725_000_000_000), "12m05s");
        assert_eq!(
            duration_ns(3600 * 1_000_000_000 * 3 + 7 * 60 * 1_000_000_000),
            "3h07m"
        );
        assert_eq!(optional(None), "-");
        assert_eq!(optional(Some(2.25)), "2.2");
    }

    #[test]
    fn rates_are_none_when_a_counter_goes_backwards() {
        assert_eq!(rate_per_s(100, 150, 500_000_000), Some(100.0));
        assert_eq!(rate_per_s(150, 100, 500_000_000), None);
        assert_eq!(rate_per_s(1, 2, 0), None);
        assert_eq!(rate_per_s(7, 7, 1), Some(0.0));
    }
}
