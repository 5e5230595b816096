//! The extended region: a header page and a ring of per-process records.
//!
//! The writer (the module's `Buffer::write_record`) publishes record `n` in
//! slot `n % capacity` as a seqlock: it first invalidates the slot by storing
//! `u64::MAX` to its `seq` (relaxed), issues a release fence, stores the
//! fields (relaxed), then stores `seq` = n (release) and the header's `head`
//! = n + 1 (release). Only those last two stores are release stores; the
//! fence orders the invalidation before every field store. A [`Stream`]
//! loads `head` (acquire), loads the slot's `seq` (acquire) and requires n,
//! copies the fields (relaxed), issues an acquire fence and loads `seq` again:
//! if a field it copied came from a later record, the fences guarantee that
//! this second load no longer sees n, so a torn copy is never returned. The
//! records the writer overwrote before they could be read are counted as
//! lost.
//!
//! [`ProcessTally`] sums one process's records up to its
//! [`RecordFlags::EXITED`] record: the figures of a process the module has
//! already dropped (what `pfprof run` falls back on).
//!
//! ```
//! use libpfprof::ext::{self, Stream};
//! # fn fixture() -> Vec<u8> { ext::fixture::region(&[ext::fixture::record(0, 7, 100, 3)]) }
//! let region: Vec<u8> = fixture(); // or a live `Profiler::map_extended()`
//! let mut stream = Stream::from_oldest(&region[..])?;
//! let batch = stream.poll(&region[..])?;
//! assert_eq!(batch.records.len(), 1);
//! assert_eq!(batch.lost, 0);
//! # Ok::<(), libpfprof::Error>(())
//! ```

use std::sync::atomic::{fence, Ordering};

use bitflags::bitflags;

use crate::error::{Error, Result};
use crate::memory::Memory;
use crate::sys::abi;
use crate::{Counters, Pid, State};

bitflags! {
    /// [`Record::flags`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RecordFlags: u32 {
        /// The totals over all registered processes (pid 0).
        const TOTAL = abi::RECORD_TOTAL;
        /// The process exited; this is its last record.
        const EXITED = abi::RECORD_EXITED;
        /// The process had no memory map at the sample (it was exiting):
        /// its resident and swap figures are 0; its peak is valid.
        const NO_MM = abi::RECORD_NO_MM;
        // Bits a newer module may set are kept, not rejected.
        const _ = !0;
    }
}

/// The decoded header of the extended region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The module's ABI version.
    pub abi_version: u32,
    /// The kernel's HZ (jiffies per second).
    pub hz: u32,
    /// The sampling period in microseconds.
    pub period_us: u32,
    /// Bytes per record.
    pub record_size: u32,
    /// Records in the ring.
    pub capacity: u32,
    /// Whether the sampler runs.
    pub state: State,
    /// Records written since load; the newest is `head - 1`.
    pub head: u64,
    /// Sampler ticks since load.
    pub ticks: u64,
    /// Resets since load.
    pub resets: u64,
    /// `head` at the last reset (0 before any): the first record since then.
    pub reset_head: u64,
}

// Byte offsets, from the ABI struct itself.
mod off {
    use super::abi::{ExtHeader, Record};
    use core::mem::offset_of;
    pub const MAGIC: usize = offset_of!(ExtHeader, magic);
    pub const VERSION: usize = offset_of!(ExtHeader, abi_version);
    pub const HZ: usize = offset_of!(ExtHeader, hz);
    pub const PERIOD: usize = offset_of!(ExtHeader, period_us);
    pub const RECORD_SIZE: usize = offset_of!(ExtHeader, record_size);
    pub const CAPACITY: usize = offset_of!(ExtHeader, capacity);
    pub const STATE: usize = offset_of!(ExtHeader, state);
    pub const HEAD: usize = offset_of!(ExtHeader, head);
    pub const TICKS: usize = offset_of!(ExtHeader, ticks);
    pub const RESETS: usize = offset_of!(ExtHeader, resets);
    pub const RESET_HEAD: usize = offset_of!(ExtHeader, reset_head);
    pub const R_SEQ: usize = offset_of!(Record, seq);
    pub const R_TIME: usize = offset_of!(Record, time_ns);
    pub const R_JIFFIES: usize = offset_of!(Record, jiffies);
    pub const R_PID: usize = offset_of!(Record, pid);
    pub const R_FLAGS: usize = offset_of!(Record, flags);
    pub const R_MIN: usize = offset_of!(Record, minor_faults);
    pub const R_MAJ: usize = offset_of!(Record, major_faults);
    pub const R_CPU: usize = offset_of!(Record, cpu_ns);
    pub const R_ANON: usize = offset_of!(Record, rss_anon_bytes);
    pub const R_FILE: usize = offset_of!(Record, rss_file_bytes);
    pub const R_SHMEM: usize = offset_of!(Record, rss_shmem_bytes);
    pub const R_SWAP: usize = offset_of!(Record, swap_bytes);
    pub const R_PEAK: usize = offset_of!(Record, rss_peak_bytes);
    pub const R_TREE: usize = offset_of!(Record, tree_root);
    pub const R_COMM: usize = offset_of!(Record, comm);
}

const HEADER_SIZE: usize = abi::EXT_HEADER_SIZE as usize;

fn malformed(what: impl Into<String>) -> Error {
    Error::Malformed { what: what.into() }
}

/// Decodes and checks the header: magic, ABI version, record size, and that
/// the ring fits in `region`.
pub fn header<M: Memory + ?Sized>(region: &M) -> Result<Header> {
    let u32_at = |o| {
        region.load_u32(o, Ordering::Acquire).ok_or_else(|| {
            malformed(format!(
                "extended region too short ({} bytes)",
                region.len_bytes()
            ))
        })
    };
    let u64_at = |o| {
        region.load_u64(o, Ordering::Acquire).ok_or_else(|| {
            malformed(format!(
                "extended region too short ({} bytes)",
                region.len_bytes()
            ))
        })
    };
    let magic = u32_at(off::MAGIC)?;
    if magic != abi::EXT_MAGIC {
        return Err(malformed(format!(
            "bad magic {magic:#010x} (expected {:#010x})",
            abi::EXT_MAGIC
        )));
    }
    let abi_version = u32_at(off::VERSION)?;
    if abi_version != abi::ABI_VERSION {
        return Err(Error::AbiMismatch {
            module: abi_version,
            library: abi::ABI_VERSION,
        });
    }
    let record_size = u32_at(off::RECORD_SIZE)?;
    if u64::from(record_size) != abi::RECORD_SIZE {
        return Err(malformed(format!("record size {record_size}")));
    }
    let capacity = u32_at(off::CAPACITY)?;
    let needed = HEADER_SIZE as u64 + u64::from(capacity) * u64::from(record_size);
    if capacity == 0 || needed > region.len_bytes() as u64 {
        return Err(malformed(format!(
            "capacity {capacity} does not fit a region of {} bytes",
            region.len_bytes()
        )));
    }
    Ok(Header {
        abi_version,
        hz: u32_at(off::HZ)?,
        period_us: u32_at(off::PERIOD)?,
        record_size,
        capacity,
        state: State::from_raw(u32_at(off::STATE)?),
        head: u64_at(off::HEAD)?,
        ticks: u64_at(off::TICKS)?,
        resets: u64_at(off::RESETS)?,
        reset_head: u64_at(off::RESET_HEAD)?,
    })
}

/// One record: one process, or the totals, for one sampling period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The record's sequence number (0 for the first since load).
    pub seq: u64,
    /// CLOCK_MONOTONIC at the sample, in nanoseconds.
    pub time_ns: u64,
    /// `jiffies` at the sample.
    pub jiffies: u64,
    /// The process, or `None` for the totals record.
    pub pid: Option<Pid>,
    /// [`RecordFlags::TOTAL`], [`RecordFlags::EXITED`],
    /// [`RecordFlags::NO_MM`].
    pub flags: RecordFlags,
    /// The period's figures.
    pub counters: Counters,
    /// The memory footprint at the sample (sums over the processes in the
    /// totals record, whose peak is 0).
    pub memory: Footprint,
    /// The root of the process tree the process is a member of (see
    /// [`Profiler::register_tree`](crate::Profiler::register_tree)), the
    /// root's own records included; `None` for a process registered alone
    /// and for the totals.
    pub tree_root: Option<Pid>,
    /// The command name at the sample (as `/proc/<pid>/comm`), NUL-padded;
    /// all 0 in the totals record. See [`Record::command`].
    pub comm: [u8; 16],
}

impl Record {
    /// The command name at the sample, up to its first NUL (empty for the
    /// totals and for records of the procfs backend).
    pub fn command(&self) -> String {
        let end = self
            .comm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.comm.len());
        String::from_utf8_lossy(&self.comm[..end]).into_owned()
    }
}

/// A process's memory at a sample, in bytes: what `/proc/<pid>/status`
/// shows as RssAnon, RssFile, RssShmem, VmSwap and VmHWM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Footprint {
    /// Resident anonymous memory.
    pub rss_anon_bytes: u64,
    /// Resident file-backed memory.
    pub rss_file_bytes: u64,
    /// Resident shared memory (shmem, tmpfs, SysV).
    pub rss_shmem_bytes: u64,
    /// Memory swapped out.
    pub swap_bytes: u64,
    /// Peak resident memory so far: the largest VmHWM (or `ru_maxrss` peak,
    /// which covers the memory before an exec) seen since registration;
    /// never decreases. After the exit it is at least `ru_maxrss`, and more
    /// by at most the slack of the kernel's per-cpu RSS counters.
    pub rss_peak_bytes: u64,
}

impl Footprint {
    /// All resident memory (VmRSS): anonymous, file and shmem.
    pub fn rss_bytes(&self) -> u64 {
        self.rss_anon_bytes
            .saturating_add(self.rss_file_bytes)
            .saturating_add(self.rss_shmem_bytes)
    }
}

/// What one [`Stream::poll`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batch {
    /// The records read, in sequence order.
    pub records: Vec<Record>,
    /// Records overwritten by the writer before they could be read.
    pub lost: u64,
}

/// A reader that follows the ring's sequence numbers.
#[derive(Debug, Clone)]
pub struct Stream {
    next: u64,
    capacity: u64,
    lost_total: u64,
}

impl Stream {
    /// A stream starting at the oldest record still in the ring.
    pub fn from_oldest<M: Memory + ?Sized>(region: &M) -> Result<Self> {
        let h = header(region)?;
        let capacity = u64::from(h.capacity);
        Ok(Stream {
            next: h.head.saturating_sub(capacity),
            capacity,
            lost_total: 0,
        })
    }

    /// A stream that only returns records written from now on.
    pub fn from_now<M: Memory + ?Sized>(region: &M) -> Result<Self> {
        let h = header(region)?;
        Ok(Stream {
            next: h.head,
            capacity: u64::from(h.capacity),
            lost_total: 0,
        })
    }

    /// A stream starting at record `seq` (clamped to what the ring can
    /// still hold; records before it are skipped, not counted as lost).
    pub fn starting_at<M: Memory + ?Sized>(region: &M, seq: u64) -> Result<Self> {
        let mut s = Stream::from_oldest(region)?;
        s.next = s.next.max(seq);
        Ok(s)
    }

    /// The sequence number of the next record to read.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Records lost since the stream started.
    pub fn lost_total(&self) -> u64 {
        self.lost_total
    }

    /// Reads every record published since the last poll.
    pub fn poll<M: Memory + ?Sized>(&mut self, region: &M) -> Result<Batch> {
        let head = region
            .load_u64(off::HEAD, Ordering::Acquire)
            .ok_or_else(|| malformed("extended region too short"))?;
        let mut batch = Batch::default();
        if head < self.next {
            // The writer's count went backwards: the module was reloaded.
            self.next = head;
            return Ok(batch);
        }
        if head - self.next > self.capacity {
            batch.lost += head - self.next - self.capacity;
            self.next = head - self.capacity;
        }
        for n in self.next..head {
            match read_record(region, n, self.capacity) {
                Some(r) => batch.records.push(r),
                None => batch.lost += 1,
            }
        }
        self.next = head;
        self.lost_total += batch.lost;
        Ok(batch)
    }
}

/// Copies record `n` if it is still in its slot, following the protocol.
fn read_record<M: Memory + ?Sized>(region: &M, n: u64, capacity: u64) -> Option<Record> {
    let slot = usize::try_from(n % capacity).ok()?;
    let base = HEADER_SIZE + slot * abi::RECORD_SIZE as usize;
    let seq = region.load_u64(base + off::R_SEQ, Ordering::Acquire)?;
    if seq != n {
        return None;
    }
    let w = |o: usize| region.load_u64(base + o, Ordering::Relaxed);
    let pid_raw = region.load_u32(base + off::R_PID, Ordering::Relaxed)? as i32;
    let record = Record {
        seq,
        time_ns: w(off::R_TIME)?,
        jiffies: w(off::R_JIFFIES)?,
        pid: Pid::new(pid_raw),
        flags: RecordFlags::from_bits_retain(
            region.load_u32(base + off::R_FLAGS, Ordering::Relaxed)?,
        ),
        counters: Counters::new(w(off::R_MIN)?, w(off::R_MAJ)?, w(off::R_CPU)?),
        memory: Footprint {
            rss_anon_bytes: w(off::R_ANON)?,
            rss_file_bytes: w(off::R_FILE)?,
            rss_shmem_bytes: w(off::R_SHMEM)?,
            swap_bytes: w(off::R_SWAP)?,
            rss_peak_bytes: w(off::R_PEAK)?,
        },
        tree_root: Pid::new(region.load_u32(base + off::R_TREE, Ordering::Relaxed)? as i32),
        comm: {
            let mut c = [0u8; 16];
            c[..8].copy_from_slice(&w(off::R_COMM)?.to_ne_bytes());
            c[8..].copy_from_slice(&w(off::R_COMM + 8)?.to_ne_bytes());
            c
        },
    };
    fence(Ordering::Acquire);
    (region.load_u64(base + off::R_SEQ, Ordering::Relaxed)? == n).then_some(record)
}

/// Faults and CPU time summed over some records, and their peak RSS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// The records' counters, summed.
    pub counters: Counters,
    /// The largest peak RSS of the records ([`Footprint::rss_peak_bytes`]).
    pub rss_peak_bytes: u64,
    /// How many records were summed.
    pub records: u64,
}

impl Totals {
    fn add(&mut self, r: &Record) {
        self.counters = self.counters.saturating_add(r.counters);
        self.rss_peak_bytes = self.rss_peak_bytes.max(r.memory.rss_peak_bytes);
        self.records += 1;
    }
}

/// Sums one process's records, following the ring from before the process
/// registered up to its [`RecordFlags::EXITED`] record.
///
/// The module writes one record per period for each registered process,
/// holding the increase since the previous one (the first: since
/// registration or the last reset), and drops a process at the first tick
/// that finds every thread of it exited, after writing that tick's record
/// flagged `EXITED`. The records of a process from its registration to its
/// `EXITED` record therefore add up to its final counters, the figures that
/// `PFPROF_IOC_QUERY_PID` no longer answers once it was dropped.
///
/// Start the tally before the process registers (before spawning it), so
/// that none of its records precedes the stream, and poll it at least once
/// per ring's worth of records (the ring holds [`Header::capacity`]
/// records; each tick writes one per registered process plus the totals).
///
/// - The `EXITED` record is the last record of a pid while the process
///   stays a zombie (its pid is not reused until it is reaped). A pid's
///   records before one of its `EXITED` records belong to an earlier
///   process with the same pid: the sum restarts after each `EXITED` record,
///   and [`exited`](Self::exited) gives the last one only if no record of the
///   pid followed it.
/// - A reset (`PFPROF_IOC_RESET`) restarts the registered processes'
///   baselines: the records written after it count from the reset, as
///   `QUERY_PID` does, so the sum restarts at the header's `reset_head`
///   (unless the process had already been dropped: then the reset did not
///   touch it). Two resets between two polls count as the later one.
/// - Records the writer overwrote before a poll could read them are
///   [`lost`](Self::lost): they may have been the process's, so a tally with
///   losses is not its figures.
#[derive(Debug, Clone)]
pub struct ProcessTally {
    stream: Stream,
    resets: u64,
    reset_seen: bool,
    current: Totals,
    exited: Option<Totals>,
}

impl ProcessTally {
    /// A tally of the records written from now on.
    pub fn from_now<M: Memory + ?Sized>(region: &M) -> Result<Self> {
        let h = header(region)?;
        Ok(ProcessTally {
            stream: Stream::from_now(region)?,
            resets: h.resets,
            reset_seen: false,
            current: Totals::default(),
            exited: None,
        })
    }

    /// Reads the records published since the last poll and adds those of
    /// `pid`.
    pub fn poll<M: Memory + ?Sized>(&mut self, region: &M, pid: Pid) -> Result<()> {
        let batch = self.stream.poll(region)?;
        // Read after the batch's `head`: a reset that happened after that
        // load has a `reset_head` at or past every record of the batch.
        let h = header(region)?;
        let mut reset_at = (h.resets != self.resets).then_some(h.reset_head);
        self.resets = h.resets;
        for r in &batch.records {
            if reset_at.is_some_and(|at| r.seq >= at) {
                self.restart_at_reset();
                reset_at = None;
            }
            if r.pid != Some(pid) {
                continue;
            }
            // A record after an `EXITED` one: that was an earlier process.
            self.exited = None;
            self.current.add(r);
            if r.flags.contains(RecordFlags::EXITED) {
                self.exited = Some(self.current);
                self.current = Totals::default();
            }
        }
        if reset_at.is_some() {
            self.restart_at_reset();
        }
        Ok(())
    }

    fn restart_at_reset(&mut self) {
        if self.exited.is_none() {
            self.current = Totals::default();
            self.reset_seen = true;
        }
    }

    /// The sum of the process's records up to its `EXITED` record, once
    /// read.
    pub fn exited(&self) -> Option<Totals> {
        self.exited
    }

    /// The records of the process read so far, summed: up to its `EXITED`
    /// record if it was read, else all of them (`None` before the first).
    pub fn so_far(&self) -> Option<Totals> {
        self.exited
            .or((self.current.records > 0).then_some(self.current))
    }

    /// Records lost since the tally started (any of them may have been the
    /// process's).
    pub fn lost(&self) -> u64 {
        self.stream.lost_total()
    }

    /// Whether a reset restarted the sum (the figures count from it).
    pub fn reset_seen(&self) -> bool {
        self.reset_seen
    }
}

/// Builders of extended-region byte fixtures, for tests and examples.
#[doc(hidden)]
pub mod fixture {
    use super::*;

    /// The bytes of one record.
    pub type RecordBytes = [u8; abi::RECORD_SIZE as usize];

    /// A record's bytes: `seq`, `pid` (0: totals), faults and CPU; its
    /// memory figures are derived from `minor_faults` (anonymous memory of
    /// that many pages, a quarter of it swapped, the peak twice it), so
    /// tests can tell the fields apart.
    pub fn record(seq: u64, pid: i32, minor_faults: u64, cpu_ns: u64) -> RecordBytes {
        let page = abi::PAGE_SIZE;
        let r = abi::Record {
            seq,
            time_ns: 1_000_000 * seq,
            jiffies: 4_294_937_296 + 50 * seq,
            pid,
            flags: if pid == 0 { abi::RECORD_TOTAL } else { 0 },
            minor_faults,
            major_faults: 0,
            cpu_ns,
            rss_anon_bytes: minor_faults * page,
            rss_file_bytes: 3 * page,
            rss_shmem_bytes: page,
            swap_bytes: minor_faults / 4 * page,
            rss_peak_bytes: if pid == 0 { 0 } else { 2 * minor_faults * page },
            ..Default::default()
        };
        let mut out = [0u8; abi::RECORD_SIZE as usize];
        let fields: [(usize, &[u8]); 13] = [
            (off::R_SEQ, &r.seq.to_ne_bytes()),
            (off::R_TIME, &r.time_ns.to_ne_bytes()),
            (off::R_JIFFIES, &r.jiffies.to_ne_bytes()),
            (off::R_PID, &r.pid.to_ne_bytes()),
            (off::R_FLAGS, &r.flags.to_ne_bytes()),
            (off::R_MIN, &r.minor_faults.to_ne_bytes()),
            (off::R_MAJ, &r.major_faults.to_ne_bytes()),
            (off::R_CPU, &r.cpu_ns.to_ne_bytes()),
            (off::R_ANON, &r.rss_anon_bytes.to_ne_bytes()),
            (off::R_FILE, &r.rss_file_bytes.to_ne_bytes()),
            (off::R_SHMEM, &r.rss_shmem_bytes.to_ne_bytes()),
            (off::R_SWAP, &r.swap_bytes.to_ne_bytes()),
            (off::R_PEAK, &r.rss_peak_bytes.to_ne_bytes()),
        ];
        for (o, b) in fields {
            out[o..o + b.len()].copy_from_slice(b);
        }
        out
    }

    /// A region of `capacity` slots holding `records` (placed by their seq),
    /// with `head` one past the highest seq.
    pub fn region_with(capacity: u32, records: &[RecordBytes]) -> Vec<u8> {
        const SIZE: usize = abi::RECORD_SIZE as usize;
        let mut buf = vec![0u8; HEADER_SIZE + capacity as usize * SIZE];
        let mut head = 0;
        for r in records {
            let seq = u64::from_ne_bytes(r[..8].try_into().unwrap_or([0; 8]));
            let slot = (seq % u64::from(capacity)) as usize;
            let at = HEADER_SIZE + slot * SIZE;
            buf[at..at + SIZE].copy_from_slice(r);
            head = head.max(seq + 1);
        }
        let put32 =
            |b: &mut Vec<u8>, o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_ne_bytes());
        put32(&mut buf, off::MAGIC, abi::EXT_MAGIC);
        put32(&mut buf, off::VERSION, abi::ABI_VERSION);
        put32(&mut buf, off::HZ, 1000);
        put32(&mut buf, off::PERIOD, abi::PERIOD_DEFAULT_US);
        put32(&mut buf, off::RECORD_SIZE, abi::RECORD_SIZE as u32);
        put32(&mut buf, off::CAPACITY, capacity);
        put32(&mut buf, off::STATE, abi::STATE_RUNNING);
        buf[off::HEAD..off::HEAD + 8].copy_from_slice(&head.to_ne_bytes());
        buf
    }

    /// A small region (16 slots) holding `records`.
    pub fn region(records: &[RecordBytes]) -> Vec<u8> {
        region_with(16, records)
    }

    /// Sets the header's `head`.
    pub fn set_head(buf: &mut [u8], head: u64) {
        buf[off::HEAD..off::HEAD + 8].copy_from_slice(&head.to_ne_bytes());
    }

    /// Sets the header's reset count and `reset_head`.
    pub fn set_resets(buf: &mut [u8], resets: u64, reset_head: u64) {
        buf[off::RESETS..off::RESETS + 8].copy_from_slice(&resets.to_ne_bytes());
        buf[off::RESET_HEAD..off::RESET_HEAD + 8].copy_from_slice(&reset_head.to_ne_bytes());
    }

    /// Flags a record's bytes as its process's last ([`RecordFlags::EXITED`]).
    pub fn exited(mut rec: RecordBytes) -> RecordBytes {
        rec[off::R_FLAGS..off::R_FLAGS + 4].copy_from_slice(&abi::RECORD_EXITED.to_ne_bytes());
        rec
    }

    /// Makes a record's process a member of the tree rooted at `root`.
    pub fn in_tree(mut rec: RecordBytes, root: i32) -> RecordBytes {
        rec[off::R_TREE..off::R_TREE + 4].copy_from_slice(&root.to_ne_bytes());
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;

    fn seqs(b: &Batch) -> Vec<u64> {
        b.records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn decodes_header_and_records() {
        let buf = region(&[record(0, 0, 10, 5), record(1, 42, 7, 3)]);
        let h = header(&buf[..]).unwrap();
        assert_eq!((h.hz, h.capacity, h.head), (1000, 16, 2));
        assert_eq!(h.state, State::Running);
        let mut s = Stream::from_oldest(&buf[..]).unwrap();
        let b = s.poll(&buf[..]).unwrap();
        assert_eq!(seqs(&b), [0, 1]);
        assert_eq!(b.records[0].pid, None);
        assert!(b.records[0].flags.contains(RecordFlags::TOTAL));
        assert_eq!(b.records[1].pid, Pid::new(42));
        assert_eq!(b.records[1].counters.minor, 7);
        assert_eq!(b.records[1].jiffies, 4_294_937_296 + 50);
        assert_eq!(b.lost, 0);
        assert!(s.poll(&buf[..]).unwrap().records.is_empty());
    }

    #[test]
    fn rejects_malformed_headers() {
        let good = region(&[]);
        assert!(matches!(header(&good[..10]), Err(Error::Malformed { .. })));
        let mut bad = good.clone();
        bad[0] ^= 0xff;
        assert!(matches!(header(&bad[..]), Err(Error::Malformed { .. })));
        let mut v = good.clone();
        v[off::VERSION..off::VERSION + 4].copy_from_slice(&99u32.to_ne_bytes());
        assert!(matches!(
            header(&v[..]),
            Err(Error::AbiMismatch { module: 99, .. })
        ));
        // The header claims more slots than the region has.
        let short = &good[..HEADER_SIZE + abi::RECORD_SIZE as usize * 8];
        assert!(matches!(header(short), Err(Error::Malformed { .. })));
    }

    #[test]
    fn a_wrapped_ring_starts_at_the_oldest_record() {
        let recs: Vec<RecordBytes> = (0..20).map(|n| record(n, 5, n, 0)).collect();
        let buf = region(&recs); // 16 slots: records 4..20 remain.
        let mut s = Stream::from_oldest(&buf[..]).unwrap();
        let b = s.poll(&buf[..]).unwrap();
        assert_eq!(seqs(&b), (4..20).collect::<Vec<_>>());
        assert_eq!(b.lost, 0);
    }

    #[test]
    fn records_overwritten_while_behind_are_reported_lost() {
        let recs: Vec<RecordBytes> = (0..4).map(|n| record(n, 5, n, 0)).collect();
        let mut buf = region(&recs);
        let mut s = Stream::from_oldest(&buf[..]).unwrap();
        assert_eq!(s.poll(&buf[..]).unwrap().records.len(), 4);
        // The writer runs 30 records ahead: 14 are gone for good.
        let recs: Vec<RecordBytes> = (0..34).map(|n| record(n, 5, n, 0)).collect();
        buf = region(&recs);
        let b = s.poll(&buf[..]).unwrap();
        assert_eq!(b.lost, 14);
        assert_eq!(seqs(&b), (18..34).collect::<Vec<_>>());
        assert_eq!(s.lost_total(), 14);
    }

    #[test]
    fn a_slot_with_the_wrong_seq_is_lost_not_misread() {
        let mut buf = region(&[record(0, 5, 1, 0), record(1, 5, 2, 0)]);
        // Slot 1 already holds record 17 (the writer lapped us mid-read).
        let r = record(17, 5, 9, 0);
        let size = abi::RECORD_SIZE as usize;
        buf[HEADER_SIZE + size..HEADER_SIZE + 2 * size].copy_from_slice(&r);
        let b = Stream::from_oldest(&buf[..])
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        assert_eq!(seqs(&b), [0]);
        assert_eq!(b.lost, 1);
    }

    #[test]
    fn from_now_skips_existing_records_and_reload_resyncs() {
        let mut buf = region(&[record(0, 5, 1, 0), record(1, 5, 2, 0)]);
        let mut s = Stream::from_now(&buf[..]).unwrap();
        assert!(s.poll(&buf[..]).unwrap().records.is_empty());
        set_head(&mut buf, 0);
        assert!(s.poll(&buf[..]).unwrap().records.is_empty());
        assert_eq!(s.next_seq(), 0);
    }

    #[test]
    fn starting_at_skips_earlier_records_without_counting_them_lost() {
        let recs: Vec<RecordBytes> = (0..20).map(|n| record(n, 5, n, 0)).collect();
        let buf = region(&recs);
        let b = Stream::starting_at(&buf[..], 17)
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        assert_eq!(seqs(&b), [17, 18, 19]);
        assert_eq!(b.lost, 0);
        // Before the oldest still held: clamped to it.
        let b = Stream::starting_at(&buf[..], 1)
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        assert_eq!(b.records.len(), 16);
    }

    /// A region of 16 slots holding records `0..head` as `recs` gives them
    /// (the rest: another process, pid 9), and a tally started at `from`.
    fn tally_over(recs: &[RecordBytes], from: u64) -> (Vec<u8>, ProcessTally) {
        let mut buf = region(recs);
        let head = header(&buf[..]).unwrap().head;
        set_head(&mut buf, from);
        let t = ProcessTally::from_now(&buf[..]).unwrap();
        set_head(&mut buf, head);
        (buf, t)
    }

    const ME: i32 = 5;

    fn me() -> Pid {
        Pid::new(ME).unwrap()
    }

    #[test]
    fn a_tally_sums_one_process_up_to_its_exited_record() {
        let recs = [
            record(0, ME, 1000, 0), // before the tally started
            record(1, 9, 50, 0),
            record(2, ME, 10, 100),
            record(3, 0, 60, 100),
            exited(record(4, ME, 3, 7)),
            record(5, 0, 3, 7),
        ];
        let (buf, mut t) = tally_over(&recs, 1);
        t.poll(&buf[..], me()).unwrap();
        let e = t.exited().expect("the EXITED record was read");
        assert_eq!(
            (e.counters.minor, e.counters.cpu_ns, e.records),
            (13, 107, 2)
        );
        // The fixture's peak is twice the minor faults in pages: the
        // largest of the process's records, not the one of pid 9.
        assert_eq!(e.rss_peak_bytes, 2 * 10 * abi::PAGE_SIZE);
        assert_eq!(t.so_far(), Some(e));
        assert_eq!((t.lost(), t.reset_seen()), (0, false));
    }

    #[test]
    fn a_tally_spans_polls_and_waits_for_the_exited_record() {
        let mut recs = vec![record(0, ME, 4, 0), record(1, 0, 4, 0)];
        let (mut buf, mut t) = tally_over(&recs, 0);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.exited(), None, "not exited yet");
        recs.push(exited(record(2, ME, 6, 0)));
        buf = region(&recs);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.exited().map(|e| e.counters.minor), Some(10));
    }

    #[test]
    fn an_earlier_process_with_the_same_pid_is_not_counted() {
        let recs = [
            exited(record(0, ME, 500, 0)), // the previous holder of the pid
            record(1, ME, 2, 0),
            exited(record(2, ME, 1, 0)),
        ];
        let (mut buf, mut t) = tally_over(&recs[..1], 0);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.exited().map(|e| e.counters.minor), Some(500));
        buf = region(&recs[..2]);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(
            t.exited(),
            None,
            "a later record: that was not this process"
        );
        buf = region(&recs);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.exited().map(|e| e.counters.minor), Some(3));
    }

    #[test]
    fn a_reset_restarts_the_sum_at_its_head() {
        let recs = [
            record(0, ME, 100, 0),
            record(1, ME, 20, 0),
            exited(record(2, ME, 3, 0)),
        ];
        // The reset came between records 0 and 1 (reset_head 1), seen in
        // one poll.
        let (mut buf, mut t) = tally_over(&recs, 0);
        set_resets(&mut buf, 1, 1);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.exited().map(|e| e.counters.minor), Some(23));
        assert!(t.reset_seen());
        // A reset after the process was dropped does not touch it.
        let (mut buf, mut t) = tally_over(&recs, 0);
        t.poll(&buf[..], me()).unwrap();
        set_resets(&mut buf, 1, 3);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.exited().map(|e| e.counters.minor), Some(123));
        assert!(!t.reset_seen());
        // A reset after the poll read `head`: the next records count.
        let (mut buf, mut t) = tally_over(&recs[..1], 0);
        set_resets(&mut buf, 1, 1);
        t.poll(&buf[..], me()).unwrap();
        buf = region(&recs);
        set_resets(&mut buf, 1, 1);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.exited().map(|e| e.counters.minor), Some(23));
    }

    #[test]
    fn a_lapped_tally_reports_its_losses() {
        let recs: Vec<RecordBytes> = (0..40)
            .map(|n| {
                if n == 39 {
                    exited(record(n, ME, 1, 0))
                } else {
                    record(n, ME, 1, 0)
                }
            })
            .collect();
        let (buf, mut t) = tally_over(&recs, 0);
        t.poll(&buf[..], me()).unwrap();
        assert_eq!(t.lost(), 24, "16 slots: records 0..24 were overwritten");
        assert_eq!(t.exited().map(|e| e.records), Some(16));
    }

    #[test]
    fn unknown_flag_bits_are_kept() {
        let mut r = record(0, 5, 1, 0);
        r[off::R_FLAGS..off::R_FLAGS + 4].copy_from_slice(&0x8000_0002u32.to_ne_bytes());
        let buf = region(&[r]);
        let b = Stream::from_oldest(&buf[..])
            .unwrap()
            .poll(&buf[..])
            .unwrap();
        assert!(b.records[0].flags.contains(RecordFlags::EXITED));
        assert_eq!(b.records[0].flags.bits(), 0x8000_0002);
    }
}
