// SPDX-License-Identifier: GPL-2.0

//! The text user space writes to the control files (`/proc/mp3/status`,
//! sysfs attributes): one parser of decimal numbers for all of them.

use kernel::prelude::*;

/// Parses a decimal number of at most `max`: ASCII digits only (no sign, no
/// spaces: trim first), at least one. Any other input, or a number above
/// `max`, is `EINVAL`; nothing overflows, however long the input.
pub(crate) fn decimal(text: &[u8], max: u64) -> Result<u64> {
    if text.is_empty() {
        return Err(EINVAL);
    }
    text.iter().try_fold(0u64, |acc, &c| {
        let digit = c.checked_sub(b'0').filter(|d| *d <= 9).ok_or(EINVAL)?;
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit)))
            .filter(|&v| v <= max)
            .ok_or(EINVAL)
    })
}

/// `text` without leading ASCII whitespace.
pub(crate) fn trim_start(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(text.len());
    text.get(start..).unwrap_or_default()
}

/// `text` without leading and trailing ASCII whitespace (what
/// `<[u8]>::trim_ascii` does, which is newer than the kernel's minimum Rust).
pub(crate) fn trim(text: &[u8]) -> &[u8] {
    let text = trim_start(text);
    let end = text
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |last| last.saturating_add(1));
    text.get(..end).unwrap_or_default()
}
