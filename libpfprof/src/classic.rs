//! The classic profile buffer: a ring of samples of four `u64`s.
//!
//! Each sample is (jiffies, minor faults, major faults, CPU time), the last
//! three summed over the registered processes for one sampling period. Unused
//! slots hold -1 (all bits set).

/// Number of `u64` words in a classic sample.
pub const SAMPLE_WORDS: usize = 4;

/// Number of samples in the classic ring (20 Hz for 600 s).
pub const RING_SAMPLES: usize = 12_000;

/// Size of the classic buffer region in bytes: 128 pages of 4 KiB.
pub const REGION_BYTES: usize = 128 * 4096;

/// The value of an unused slot.
pub const EMPTY: u64 = u64::MAX;

// The ring is 48000 longs (what the classic monitor wraps at) and fits the region.
const _: () = assert!(RING_SAMPLES * SAMPLE_WORDS == 48_000);
const _: () = assert!(RING_SAMPLES * SAMPLE_WORDS * 8 <= REGION_BYTES);

/// One classic sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// `jiffies` when the sample was taken.
    pub jiffies: u64,
    /// Minor faults in the period.
    pub minor_faults: u64,
    /// Major faults in the period.
    pub major_faults: u64,
    /// CPU time (user + system) in the period.
    pub cpu_time: u64,
}

/// Decodes the sample in `slot` of a classic buffer (native byte order), or
/// `None` if the slot is unused, out of range, or only partly present.
pub fn decode_slot(buf: &[u8], slot: usize) -> Option<Sample> {
    if slot >= RING_SAMPLES {
        return None;
    }
    let start = slot.checked_mul(SAMPLE_WORDS * 8)?;
    let bytes = buf.get(start..start + SAMPLE_WORDS * 8)?;
    let word = |i: usize| -> Option<u64> {
        let b: [u8; 8] = bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?;
        Some(u64::from_ne_bytes(b))
    };
    let sample = Sample {
        jiffies: word(0)?,
        minor_faults: word(1)?,
        major_faults: word(2)?,
        cpu_time: word(3)?,
    };
    (sample.jiffies != EMPTY).then_some(sample)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(samples: &[(usize, [u64; 4])]) -> Vec<u8> {
        let mut words = vec![EMPTY; RING_SAMPLES * SAMPLE_WORDS];
        for (slot, s) in samples {
            words[slot * 4..slot * 4 + 4].copy_from_slice(s);
        }
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn decodes_used_slots_and_skips_empty_ones() {
        let buf = buffer(&[(0, [100, 5, 1, 2_000_000]), (11_999, [150, 0, 0, 0])]);
        assert_eq!(
            decode_slot(&buf, 0),
            Some(Sample {
                jiffies: 100,
                minor_faults: 5,
                major_faults: 1,
                cpu_time: 2_000_000
            })
        );
        assert_eq!(decode_slot(&buf, 1), None);
        assert_eq!(decode_slot(&buf, 11_999).map(|s| s.jiffies), Some(150));
    }

    #[test]
    fn out_of_range_and_truncated_input_decode_to_none() {
        let buf = buffer(&[(0, [1, 2, 3, 4])]);
        assert_eq!(decode_slot(&buf, RING_SAMPLES), None);
        assert_eq!(decode_slot(&buf[..20], 0), None);
        assert_eq!(decode_slot(&[], 0), None);
    }
}
