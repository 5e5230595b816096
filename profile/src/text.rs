//! The one formatting module of the tools: numbers, durations, rates.

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

/// A size in bytes as top prints memory, in binary units with at most one
/// decimal: `0`, `512K`, `12.3M`, `4.0G`.
pub fn bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if v < 100.0 {
                format!("{v:.1}{unit}")
            } else {
                format!("{v:.0}{unit}")
            };
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bytes_in_binary_units() {
        assert_eq!(bytes(0), "0");
        assert_eq!(bytes(1023), "1023");
        assert_eq!(bytes(512 << 10), "512K");
        assert_eq!(bytes(12_288_000), "11.7M");
        assert_eq!(bytes(4 << 30), "4.0G");
        assert_eq!(bytes(u64::MAX), "16777216T");
    }
}
