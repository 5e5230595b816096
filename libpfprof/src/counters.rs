//! [`Counters`]: the three figures pfprof counts per process.

/// The figures pfprof counts for a process or a period: minor faults, major
/// faults and CPU time. Cumulative (since registration) or per period,
/// depending on where they come from.
///
/// Differences and sums are checked: a counter that went backwards (a
/// reset, a recycled pid) gives `None`, never a wrapped number.
///
/// ```
/// use libpfprof::Counters;
///
/// let before = Counters::new(100, 1, 5_000_000);
/// let after = Counters::new(150, 1, 9_000_000);
/// assert_eq!(after.checked_delta(before), Some(Counters::new(50, 0, 4_000_000)));
/// assert_eq!(before.checked_delta(after), None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Minor page faults.
    pub minor: u64,
    /// Major page faults.
    pub major: u64,
    /// CPU time (user + system), in nanoseconds.
    pub cpu_ns: u64,
}

impl Counters {
    /// All zero.
    pub const ZERO: Counters = Counters::new(0, 0, 0);

    /// The figures `minor`, `major`, `cpu_ns`.
    pub const fn new(minor: u64, major: u64, cpu_ns: u64) -> Counters {
        Counters {
            minor,
            major,
            cpu_ns,
        }
    }

    /// Minor plus major faults (saturating: u64 fault counts do not
    /// overflow in practice).
    pub const fn faults(self) -> u64 {
        self.minor.saturating_add(self.major)
    }

    /// What was counted from `earlier` to `self`, or `None` if any of the
    /// three went backwards.
    pub fn checked_delta(self, earlier: Counters) -> Option<Counters> {
        Some(Counters {
            minor: self.minor.checked_sub(earlier.minor)?,
            major: self.major.checked_sub(earlier.major)?,
            cpu_ns: self.cpu_ns.checked_sub(earlier.cpu_ns)?,
        })
    }

    /// `self + other`, or `None` if a figure overflows.
    pub fn checked_add(self, other: Counters) -> Option<Counters> {
        Some(Counters {
            minor: self.minor.checked_add(other.minor)?,
            major: self.major.checked_add(other.major)?,
            cpu_ns: self.cpu_ns.checked_add(other.cpu_ns)?,
        })
    }

    /// `self + other`, each figure saturating at `u64::MAX` (for totals
    /// that must always have a value).
    pub const fn saturating_add(self, other: Counters) -> Counters {
        Counters {
            minor: self.minor.saturating_add(other.minor),
            major: self.major.saturating_add(other.major),
            cpu_ns: self.cpu_ns.saturating_add(other.cpu_ns),
        }
    }

    /// The sum of some counters, or `None` if a figure overflows.
    pub fn checked_sum(items: impl IntoIterator<Item = Counters>) -> Option<Counters> {
        items
            .into_iter()
            .try_fold(Counters::ZERO, Counters::checked_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_none_when_any_counter_goes_backwards() {
        let a = Counters::new(10, 2, 300);
        assert_eq!(a.checked_delta(a), Some(Counters::ZERO));
        assert_eq!(
            Counters::new(15, 2, 400).checked_delta(a),
            Some(Counters::new(5, 0, 100))
        );
        for later in [
            Counters::new(9, 2, 300),
            Counters::new(10, 1, 300),
            Counters::new(10, 2, 299),
        ] {
            assert_eq!(later.checked_delta(a), None, "{later:?}");
        }
    }

    #[test]
    fn sums_are_checked() {
        let c = [Counters::new(1, 2, 3), Counters::new(10, 20, 30)];
        assert_eq!(Counters::checked_sum(c), Some(Counters::new(11, 22, 33)));
        assert_eq!(Counters::checked_sum([]), Some(Counters::ZERO));
        let max = Counters::new(u64::MAX, 0, 0);
        assert_eq!(Counters::checked_sum([max, Counters::new(1, 0, 0)]), None);
        assert_eq!(
            max.saturating_add(Counters::new(1, 1, 1)),
            Counters::new(u64::MAX, 1, 1)
        );
        assert_eq!(Counters::new(u64::MAX, 1, 0).faults(), u64::MAX);
        assert_eq!(Counters::new(3, 4, 0).faults(), 7);
    }
}
