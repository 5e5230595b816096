//! The classic profile buffer: a ring of samples of four `u64`s.
//!
//! Each sample is (jiffies, minor faults, major faults, CPU ns), the last
//! three summed over the registered processes for one sampling period. Unused
//! slots hold -1 (all bits set). The ring is [`RING_SAMPLES`] samples (48000
//! words, where the classic monitor wraps).
//!
//! All functions read through [`Memory`], so they work on a live
//! [`Mapping`](crate::Mapping) and on byte fixtures alike:
//!
//! ```
//! use libpfprof::classic;
//! let mut words = vec![classic::EMPTY; classic::RING_SAMPLES * classic::SAMPLE_WORDS];
//! // Slot 0 holds the newest sample, slot 11999 the oldest: the ring wrapped.
//! words[..4].copy_from_slice(&[200, 1, 0, 10]);
//! words[11_999 * 4..].copy_from_slice(&[150, 2, 0, 20]);
//! let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
//! let samples = classic::snapshot(&bytes[..]);
//! assert_eq!(samples.iter().map(|s| s.jiffies).collect::<Vec<_>>(), [150, 200]);
//! ```

use std::sync::atomic::Ordering;

use crate::counters::Counters;
use crate::memory::{Memory, MemoryMut};
use crate::sys::abi;

/// Number of `u64` words in a classic sample.
pub const SAMPLE_WORDS: usize = abi::CLASSIC_SAMPLE_WORDS as usize;

/// Number of samples in the classic ring (20 Hz for 600 s).
pub const RING_SAMPLES: usize = abi::CLASSIC_SAMPLES as usize;

/// Size of the classic buffer region in bytes: 128 pages of 4 KiB.
pub const REGION_BYTES: usize = abi::CLASSIC_SIZE as usize;

/// The value of an unused slot.
pub const EMPTY: u64 = abi::CLASSIC_EMPTY;

const SAMPLE_BYTES: usize = SAMPLE_WORDS * 8;

// The ring is 48000 longs (what the classic monitor wraps at) and fits the region.
const _: () = assert!(RING_SAMPLES * SAMPLE_WORDS == 48_000);
const _: () = assert!(RING_SAMPLES * SAMPLE_BYTES <= REGION_BYTES);

/// One classic sample: per-period sums over the registered processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sample {
    /// `jiffies` when the sample was taken.
    pub jiffies: u64,
    /// The period's figures (CPU time: user + system).
    pub counters: Counters,
}

impl Sample {
    /// A sample at `jiffies` of `counters`.
    pub const fn new(jiffies: u64, counters: Counters) -> Sample {
        Sample { jiffies, counters }
    }
}

/// Decodes the sample in `slot` of a classic buffer (native byte order), or
/// `None` if the slot is unused, out of range, or only partly present.
pub fn decode_slot<M: Memory + ?Sized>(buf: &M, slot: usize) -> Option<Sample> {
    if slot >= RING_SAMPLES {
        return None;
    }
    let start = slot * SAMPLE_BYTES;
    let word = |i: usize| buf.load_u64(start + i * 8, Ordering::Relaxed);
    let words = [word(0)?, word(1)?, word(2)?, word(3)?];
    // A slot being consumed or written may be half -1: skip it.
    (!words.contains(&EMPTY))
        .then(|| Sample::new(words[0], Counters::new(words[1], words[2], words[3])))
}

/// Whether jiffies `a` is strictly after `b` (wrapping comparison).
fn after(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

/// The slot of the oldest sample, or `None` if the ring is empty.
///
/// The writer fills slots in order and wraps, so the oldest sample is where
/// the jiffies sequence starts over: a used slot whose predecessor is unused
/// or newer. Of several such slots (a partly consumed ring) the one with the
/// smallest jiffies wins.
pub fn oldest_slot<M: Memory + ?Sized>(buf: &M) -> Option<usize> {
    let slots: Vec<Option<u64>> = (0..RING_SAMPLES)
        .map(|s| decode_slot(buf, s).map(|x| x.jiffies))
        .collect();
    let mut best: Option<(usize, u64)> = None;
    let mut first_used = None;
    for (s, j) in slots.iter().enumerate() {
        let Some(j) = *j else { continue };
        first_used.get_or_insert(s);
        let prev = slots[(s + RING_SAMPLES - 1) % RING_SAMPLES];
        let starts_run = match prev {
            None => true,
            Some(p) => after(p, j),
        };
        if starts_run && best.map_or(true, |(_, bj)| after(bj, j)) {
            best = Some((s, j));
        }
    }
    best.map(|(s, _)| s).or(first_used)
}

fn snapshot_slots<M: Memory + ?Sized>(buf: &M) -> Vec<(usize, Sample)> {
    let Some(start) = oldest_slot(buf) else {
        return Vec::new();
    };
    (0..RING_SAMPLES)
        .map(|i| (start + i) % RING_SAMPLES)
        .filter_map(|s| decode_slot(buf, s).map(|x| (s, x)))
        .collect()
}

/// Every sample in the ring, oldest first (correct after the ring wrapped).
/// Does not change the buffer.
pub fn snapshot<M: Memory + ?Sized>(buf: &M) -> Vec<Sample> {
    snapshot_slots(buf).into_iter().map(|(_, s)| s).collect()
}

/// A non-destructive follower: each [`poll`](Follower::poll) returns the
/// samples written since the previous one, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Follower {
    last: Option<(usize, u64)>,
}

impl Follower {
    /// A follower whose first poll returns everything in the ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// The samples that are new since the last poll, oldest first.
    pub fn poll<M: Memory + ?Sized>(&mut self, buf: &M) -> Vec<Sample> {
        // Fast path: our last sample is still in its slot, so the new ones
        // follow it in ring order.
        if let Some((slot, jiffies)) = self.last {
            if decode_slot(buf, slot).map(|x| x.jiffies) == Some(jiffies) {
                let mut new = Vec::new();
                let mut prev = (slot, jiffies);
                for i in 1..RING_SAMPLES {
                    let s = (slot + i) % RING_SAMPLES;
                    match decode_slot(buf, s) {
                        Some(x) if !after(prev.1, x.jiffies) => {
                            prev = (s, x.jiffies);
                            new.push(x);
                        }
                        _ => break,
                    }
                }
                self.last = Some(prev);
                return new;
            }
        }
        let all = snapshot_slots(buf);
        let new: Vec<(usize, Sample)> = match self.last {
            None => all,
            Some((slot, jiffies)) => {
                match all
                    .iter()
                    .position(|(s, x)| *s == slot && x.jiffies == jiffies)
                {
                    Some(i) => all[i + 1..].to_vec(),
                    // Our last sample was overwritten or the ring was reset:
                    // take what is newer than it.
                    None => all
                        .into_iter()
                        .filter(|(_, x)| after(x.jiffies, jiffies))
                        .collect(),
                }
            }
        };
        if let Some((s, x)) = new.last() {
            self.last = Some((*s, x.jiffies));
        }
        new.into_iter().map(|(_, x)| x).collect()
    }
}

/// The classic destructive reader: it returns samples in ring order from the
/// oldest and writes -1 back into every slot it read, so the writer's lost
/// count ([`Status::samples_lost`](crate::Status::samples_lost)) means
/// "overwritten unread". Unlike the classic monitor it starts at the oldest
/// sample, not at the first used slot from 0, and never loops on a full ring.
#[derive(Debug, Clone, Default)]
pub struct Consumer {
    pos: Option<usize>,
}

impl Consumer {
    /// A consumer that starts at the oldest sample.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes the samples available now, oldest first.
    pub fn consume<M: MemoryMut + ?Sized>(&mut self, buf: &mut M) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut pos = match self.pos {
            Some(p) if decode_slot(buf, p).is_some() => p,
            // Nothing at our position (first call, or the writer restarted
            // elsewhere after a reset): resync to the oldest sample.
            _ => match oldest_slot(buf) {
                Some(p) => p,
                None => return out,
            },
        };
        for _ in 0..RING_SAMPLES {
            let Some(s) = decode_slot(buf, pos) else {
                break;
            };
            for w in 0..SAMPLE_WORDS {
                buf.store_u64(pos * SAMPLE_BYTES + w * 8, EMPTY);
            }
            out.push(s);
            pos = (pos + 1) % RING_SAMPLES;
        }
        self.pos = Some(pos);
        out
    }
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

    fn jiffies(v: &[Sample]) -> Vec<u64> {
        v.iter().map(|s| s.jiffies).collect()
    }

    #[test]
    fn decodes_used_slots_and_skips_empty_ones() {
        let buf = buffer(&[(0, [100, 5, 1, 2_000_000]), (11_999, [150, 0, 0, 0])]);
        assert_eq!(
            decode_slot(&buf[..], 0),
            Some(Sample::new(100, Counters::new(5, 1, 2_000_000)))
        );
        assert_eq!(decode_slot(&buf[..], 1), None);
        assert_eq!(decode_slot(&buf[..], 11_999).map(|s| s.jiffies), Some(150));
    }

    #[test]
    fn out_of_range_and_truncated_input_decode_to_none() {
        let buf = buffer(&[(0, [1, 2, 3, 4])]);
        assert_eq!(decode_slot(&buf[..], RING_SAMPLES), None);
        assert_eq!(decode_slot(&buf[..20], 0), None);
        assert_eq!(decode_slot(&[][..], 0), None);
        assert!(snapshot(&buf[..13]).is_empty());
    }

    #[test]
    fn a_half_written_slot_is_skipped() {
        let buf = buffer(&[(0, [1, 2, 3, 4]), (1, [2, 5, EMPTY, EMPTY])]);
        assert_eq!(jiffies(&snapshot(&buf[..])), [1]);
    }

    #[test]
    fn snapshot_of_an_empty_ring_is_empty() {
        assert!(snapshot(&buffer(&[])[..]).is_empty());
        assert_eq!(oldest_slot(&buffer(&[])[..]), None);
    }

    #[test]
    fn snapshot_before_the_wrap_is_in_slot_order() {
        let buf = buffer(&[(0, [10, 0, 0, 0]), (1, [11, 0, 0, 0]), (2, [12, 0, 0, 0])]);
        assert_eq!(jiffies(&snapshot(&buf[..])), [10, 11, 12]);
    }

    #[test]
    fn snapshot_after_a_wrap_starts_at_the_oldest() {
        // A full ring: slots 0..5 hold the newest samples 12000..12004.
        let samples: Vec<(usize, [u64; 4])> = (0..RING_SAMPLES as u64 + 5)
            .map(|n| ((n as usize) % RING_SAMPLES, [1000 + n, n, 0, 0]))
            .collect();
        let buf = buffer(&samples);
        assert_eq!(oldest_slot(&buf[..]), Some(5));
        let snap = snapshot(&buf[..]);
        assert_eq!(snap.len(), RING_SAMPLES);
        assert_eq!(snap[0].jiffies, 1005);
        assert_eq!(
            snap.last().map(|s| s.jiffies),
            Some(1000 + RING_SAMPLES as u64 + 4)
        );
        assert!(snap.windows(2).all(|w| w[0].jiffies < w[1].jiffies));
    }

    #[test]
    fn snapshot_of_a_partly_consumed_wrapped_ring() {
        // Slots 11998, 11999, 0, 1 are unread; the rest was consumed.
        let buf = buffer(&[
            (11_998, [50, 0, 0, 0]),
            (11_999, [51, 0, 0, 0]),
            (0, [52, 0, 0, 0]),
            (1, [53, 0, 0, 0]),
        ]);
        assert_eq!(jiffies(&snapshot(&buf[..])), [50, 51, 52, 53]);
    }

    #[test]
    fn consumer_writes_minus_one_back_and_resumes() {
        let mut buf = buffer(&[(11_999, [50, 1, 0, 0]), (0, [51, 2, 0, 0])]);
        let mut c = Consumer::new();
        assert_eq!(jiffies(&c.consume(&mut buf[..])), [50, 51]);
        assert!(snapshot(&buf[..]).is_empty(), "every read slot is -1 again");
        assert!(c.consume(&mut buf[..]).is_empty());
        // The writer goes on at slot 1.
        buf[32..64].copy_from_slice(
            &[52u64, 3, 0, 0]
                .iter()
                .flat_map(|w| w.to_ne_bytes())
                .collect::<Vec<u8>>(),
        );
        assert_eq!(jiffies(&c.consume(&mut buf[..])), [52]);
    }

    #[test]
    fn consumer_on_a_full_ring_stops_after_one_lap() {
        let samples: Vec<(usize, [u64; 4])> = (0..RING_SAMPLES as u64)
            .map(|n| (n as usize, [n + 1, 0, 0, 0]))
            .collect();
        let mut buf = buffer(&samples);
        assert_eq!(Consumer::new().consume(&mut buf[..]).len(), RING_SAMPLES);
    }

    #[test]
    fn follower_returns_only_new_samples() {
        let mut buf = buffer(&[(0, [10, 0, 0, 0]), (1, [11, 0, 0, 0])]);
        let mut f = Follower::new();
        assert_eq!(jiffies(&f.poll(&buf[..])), [10, 11]);
        assert!(f.poll(&buf[..]).is_empty());
        buf = buffer(&[(0, [10, 0, 0, 0]), (1, [11, 0, 0, 0]), (2, [12, 0, 0, 0])]);
        assert_eq!(jiffies(&f.poll(&buf[..])), [12]);
        // Across the wrap point.
        let mut ring: Vec<(usize, [u64; 4])> = (0..RING_SAMPLES as u64)
            .map(|n| (n as usize, [100 + n, 0, 0, 0]))
            .collect();
        buf = buffer(&ring);
        let mut g = Follower::new();
        assert_eq!(g.poll(&buf[..]).len(), RING_SAMPLES);
        ring[0].1 = [100 + RING_SAMPLES as u64, 0, 0, 0];
        ring[1].1 = [101 + RING_SAMPLES as u64, 0, 0, 0];
        buf = buffer(&ring);
        assert_eq!(
            jiffies(&g.poll(&buf[..])),
            [100 + RING_SAMPLES as u64, 101 + RING_SAMPLES as u64]
        );
        assert!(g.poll(&buf[..]).is_empty());
        // A reset: the ring restarts at slot 0 with later jiffies.
        f = Follower::new();
        buf = buffer(&[(0, [10, 0, 0, 0]), (1, [11, 0, 0, 0]), (2, [12, 0, 0, 0])]);
        f.poll(&buf[..]);
        buf = buffer(&[(0, [20, 0, 0, 0])]);
        assert_eq!(jiffies(&f.poll(&buf[..])), [20]);
    }
}
