//! Code shared by the pfprof tools: one formatting module for all of them.

#![deny(missing_docs)]

use libpfprof::classic::Sample;

/// Formats a sample as the classic monitor prints it: `jiffies min maj cpu`.
pub fn classic_line(s: &Sample) -> String {
    format!(
        "{} {} {} {}",
        s.jiffies, s.minor_faults, s.major_faults, s.cpu_time
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_lines_are_space_separated() {
        let s = Sample {
            jiffies: 4_294_937_296,
            minor_faults: 12,
            major_faults: 0,
            cpu_time: 5_000_000,
        };
        assert_eq!(classic_line(&s), "4294937296 12 0 5000000");
    }
}
