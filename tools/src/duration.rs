//! Durations on the command line, parsed one way by every tool: a number
//! with a unit (`500ms`, `0.5s`, `2s`, `1m`, `1s 500ms`: humantime's
//! syntax, plus decimals), or a bare number in the option's documented
//! unit (seconds for pfprof-top's `-d`, microseconds for a sampling
//! period). Ranges are checked and reported as durations.

use std::ops::RangeInclusive;
use std::time::Duration;

/// The unit a bare number is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareUnit {
    /// Seconds (`-d 0.5`, as top takes it).
    Seconds,
    /// Microseconds (a sampling period, as the module takes it).
    Micros,
}

impl BareUnit {
    fn seconds(self) -> f64 {
        match self {
            BareUnit::Seconds => 1.0,
            BareUnit::Micros => 1e-6,
        }
    }
}

/// `0.5s`, `1.5ms`, `0.1m`: a decimal number and one unit, which humantime
/// does not take.
fn decimal_with_unit(t: &str) -> Option<Duration> {
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    seconds(num.parse::<f64>().ok()? * scale)
}

fn seconds(v: f64) -> Option<Duration> {
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(1e9)))
}

/// Parses a duration without a range check; `None` when `s` is none.
pub fn parse_unchecked(s: &str, bare: BareUnit) -> Option<Duration> {
    let t = s.trim();
    if t.is_empty() || t.starts_with('-') {
        return None;
    }
    match t.parse::<f64>() {
        Ok(v) => seconds(v * bare.seconds()),
        Err(_) => humantime::parse_duration(t)
            .ok()
            .or_else(|| decimal_with_unit(t)),
    }
}

/// A duration as the tools write it in messages: `1ms`, `10s`, `1h`,
/// `1.5ms`, `250us`.
pub fn display(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, per) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns >= per {
            let whole = ns / per;
            let frac = ns % per;
            if frac == 0 {
                return format!("{whole}{unit}");
            }
            let v = ns as f64 / per as f64;
            return format!("{}{unit}", trim_zeros(format!("{v:.3}")));
        }
    }
    format!("{ns}ns")
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Parses a duration for the option named `what` (`delay`, `period`) and
/// checks it lies in `range`: `period 5us is out of range (1ms to 10s)`.
pub fn parse(
    s: &str,
    what: &str,
    bare: BareUnit,
    range: RangeInclusive<Duration>,
) -> Result<Duration, String> {
    let bare_example = match bare {
        BareUnit::Seconds => "seconds (0.5, 2)",
        BareUnit::Micros => "microseconds (50000)",
    };
    let d = parse_unchecked(s, bare).ok_or_else(|| {
        format!(
            "`{s}` is not a duration: give a number with a unit (500ms, 0.5s, 2s) \
             or {bare_example}"
        )
    })?;
    if !range.contains(&d) {
        let shown = if s.trim().parse::<f64>().is_ok() {
            display(d)
        } else {
            s.trim().to_owned()
        };
        return Err(format!(
            "{what} {shown} is out of range ({} to {})",
            display(*range.start()),
            display(*range.end())
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn units_decimals_and_bare_numbers() {
        let p = |s| parse_unchecked(s, BareUnit::Seconds);
        assert_eq!(p("0.5s"), Some(MS(500)));
        assert_eq!(p("500ms"), Some(MS(500)));
        assert_eq!(p("1s 500ms"), Some(MS(1500)));
        assert_eq!(p("2"), Some(MS(2000)));
        assert_eq!(p("0.5"), Some(MS(500)));
        assert_eq!(p("1.5ms"), Some(Duration::from_micros(1500)));
        assert_eq!(p("-1"), None);
        assert_eq!(p("-1s"), None);
        assert_eq!(p("soon"), None);
        assert_eq!(p(""), None);
        let us = |s| parse_unchecked(s, BareUnit::Micros);
        assert_eq!(us("50000"), Some(MS(50)));
        assert_eq!(us("50ms"), Some(MS(50)));
        assert_eq!(us("2000us"), Some(MS(2)));
    }

    #[test]
    fn out_of_range_is_said_in_durations() {
        let r = Duration::from_millis(1)..=Duration::from_secs(10);
        assert_eq!(
            parse("5us", "period", BareUnit::Micros, r.clone()).unwrap_err(),
            "period 5us is out of range (1ms to 10s)"
        );
        assert_eq!(
            parse("5", "period", BareUnit::Micros, r.clone()).unwrap_err(),
            "period 5us is out of range (1ms to 10s)"
        );
        assert_eq!(
            parse("11s", "period", BareUnit::Micros, r.clone()).unwrap_err(),
            "period 11s is out of range (1ms to 10s)"
        );
        assert!(parse("x", "period", BareUnit::Micros, r.clone())
            .unwrap_err()
            .contains("not a duration"));
        assert_eq!(parse("0.1s", "period", BareUnit::Micros, r), Ok(MS(100)));
    }

    #[test]
    fn durations_display_in_their_largest_unit() {
        assert_eq!(display(MS(1)), "1ms");
        assert_eq!(display(Duration::from_secs(10)), "10s");
        assert_eq!(display(Duration::from_secs(3600)), "1h");
        assert_eq!(display(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(display(Duration::from_micros(5)), "5us");
        assert_eq!(display(Duration::from_nanos(7)), "7ns");
    }
}
