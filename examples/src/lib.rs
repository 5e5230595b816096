//! pfprof's examples: the `work` load generator (src/bin/work.rs) and a C
//! client (c/). This library holds `work`'s access patterns, so they are
//! unit-tested.
//!
//! # `work` and the classic program
//!
//! `work <MB> <R|L> <accesses>` allocates MB MiB in 1 MiB blocks and runs 20
//! iterations of that many one-byte writes, sleeping 1 s after each.
//!
//! - **R**: each access writes one byte at a random offset of the whole area,
//!   as in the classic program.
//! - **L**: as in the classic program, about 20% of the accesses write at a
//!   random offset of the whole area, and the other 80% go near the previous
//!   address (within [`LOCAL_WINDOW`] bytes either way). The classic program
//!   only *computed* those nearby addresses and never touched them, so its L
//!   runs mostly measured doing less work; here every access really writes
//!   its byte, so L measures locality.

#![deny(missing_docs)]

/// How far (bytes, either way) a local access may land from the previous one.
pub const LOCAL_WINDOW: usize = 2048;

/// Percentage of L accesses that jump to a random offset (the classic 20%).
pub const L_RANDOM_PERCENT: u64 = 20;

/// Bytes per allocation block.
pub const BLOCK_BYTES: usize = 1 << 20;

/// The access pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Random writes over the whole area.
    #[value(name = "R", alias = "r")]
    Random,
    /// Mostly local writes near the previous one.
    #[value(name = "L", alias = "l")]
    Local,
}

/// A small deterministic PRNG (xorshift64*), enough for access patterns.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`; 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// The offset of the next access in an area of `size` bytes, given the
/// previous one.
pub fn next_offset(rng: &mut Rng, mode: Mode, prev: usize, size: usize) -> usize {
    let random = |rng: &mut Rng| rng.below(size as u64) as usize;
    match mode {
        Mode::Random => random(rng),
        Mode::Local if rng.below(100) < L_RANDOM_PERCENT => random(rng),
        Mode::Local => {
            let delta = rng.below(2 * LOCAL_WINDOW as u64 + 1) as usize;
            let lo = prev.saturating_sub(LOCAL_WINDOW);
            (lo + delta).min(size.saturating_sub(1))
        }
    }
}

/// The memory area: `MB` blocks of 1 MiB, allocated zeroed (so untouched
/// pages are not yet backed) and written one byte per access.
#[derive(Debug)]
pub struct Area {
    blocks: Vec<Vec<u8>>,
    pos: usize,
}

impl Area {
    /// Allocates `mb` MiB in 1 MiB blocks.
    pub fn new(mb: usize) -> Area {
        Area {
            blocks: (0..mb).map(|_| vec![0u8; BLOCK_BYTES]).collect(),
            pos: 0,
        }
    }

    /// Size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.blocks.len() * BLOCK_BYTES
    }

    /// Makes `n` accesses in `mode`; returns the offsets' sum (so the work
    /// cannot be optimized away and tests can check something).
    pub fn run(&mut self, rng: &mut Rng, mode: Mode, n: u64) -> u64 {
        let size = self.size_bytes();
        if size == 0 {
            return 0;
        }
        let mut sum = 0u64;
        for _ in 0..n {
            let off = next_offset(rng, mode, self.pos, size);
            // A plain store, as the classic program does: reading the byte
            // first would take two faults on a fresh page (a read fault
            // mapping the shared zero page, then a copy-on-write fault).
            self.blocks[off / BLOCK_BYTES][off % BLOCK_BYTES] = (off as u8) | 1;
            self.pos = off;
            sum = sum.wrapping_add(off as u64);
        }
        std::hint::black_box(&self.blocks);
        sum
    }

    /// How many bytes are non-zero (for tests: what was written).
    pub fn written_bytes(&self) -> usize {
        self.blocks.iter().flatten().filter(|b| **b != 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_offsets_cover_the_area() {
        let mut rng = Rng::new(1);
        let size = 8 * BLOCK_BYTES;
        let offs: Vec<usize> = (0..10_000)
            .map(|_| next_offset(&mut rng, Mode::Random, 0, size))
            .collect();
        assert!(offs.iter().all(|o| *o < size));
        // Every MiB of the area gets hit.
        for mb in 0..8 {
            assert!(offs.iter().any(|o| o / BLOCK_BYTES == mb));
        }
    }

    #[test]
    fn local_accesses_stay_near_the_previous_one_except_the_jumps() {
        let mut rng = Rng::new(7);
        let size = 64 * BLOCK_BYTES;
        let mut prev = size / 2;
        let (mut near, mut far) = (0, 0);
        for _ in 0..10_000 {
            let o = next_offset(&mut rng, Mode::Local, prev, size);
            assert!(o < size);
            if o.abs_diff(prev) <= LOCAL_WINDOW {
                near += 1;
            } else {
                far += 1;
            }
            prev = o;
        }
        // About 80% local, 20% random jumps.
        assert!((7_500..8_500).contains(&near), "near {near} far {far}");
    }

    #[test]
    fn local_accesses_at_the_edges_stay_inside() {
        let mut rng = Rng::new(3);
        for _ in 0..1000 {
            assert!(next_offset(&mut rng, Mode::Local, 0, 100) < 100);
            assert!(next_offset(&mut rng, Mode::Local, 99, 100) < 100);
        }
    }

    #[test]
    fn every_access_really_writes() {
        let mut a = Area::new(2);
        let mut rng = Rng::new(5);
        a.run(&mut rng, Mode::Local, 1000);
        let w = a.written_bytes();
        assert!(w > 100 && w <= 1000, "{w}");
        // L touches far fewer pages than R for the same number of accesses.
        let mut b = Area::new(2);
        b.run(&mut Rng::new(5), Mode::Random, 1000);
        let pages = |a: &Area| {
            a.blocks
                .iter()
                .flat_map(|bl| bl.chunks(4096))
                .filter(|p| p.iter().any(|x| *x != 0))
                .count()
        };
        assert!(pages(&a) < pages(&b), "{} vs {}", pages(&a), pages(&b));
    }

    #[test]
    fn an_empty_area_does_nothing() {
        assert_eq!(Area::new(0).run(&mut Rng::new(1), Mode::Random, 10), 0);
    }
}
