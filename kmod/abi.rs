// SPDX-License-Identifier: GPL-2.0

//! The pfprof user-space ABI: device number, ioctl requests and structs, and
//! the layout of the mapped buffer.
//!
//! This file is the one place the ABI is written in Rust: the module includes
//! it as `mod abi`, libpfprof includes the same file, and a libpfprof test
//! checks every number, size and field offset here against `include/pfprof.h`.
//! It uses `core` only. All structs are `#[repr(C)]` with fixed-width fields
//! and explicit padding, identical on 32- and 64-bit.
//!
//! # Buffer layout (mmap of the character device)
//!
//! | offset | size | region |
//! |---|---|---|
//! | 0 | 128 pages | classic ring, read-write (`MAP_SHARED`) |
//! | [`EXT_OFFSET`] | [`EXT_SIZE`] | extended region, read-only |
//!
//! The classic ring is [`CLASSIC_SAMPLES`] samples of four `u64`s (jiffies,
//! minor faults, major faults, CPU ns), each the per-period sum over the
//! registered processes; it wraps at 48000 words, as the classic monitor
//! expects. Every word of the 128 pages that is not part of a live sample
//! holds `u64::MAX` (-1): unused and consumed slots, and the tail past the
//! ring (words 48000 to 65535), at load and after RESET. The classic monitor
//! depends on the tail: on an empty ring its scan ends at word 48000 and
//! reads it as a sample.
//!
//! The extended region starts with an [`ExtHeader`] page, then a ring of
//! [`EXT_RECORDS`] [`Record`]s. Record `n` (counting from 0 since load) lives
//! in slot `n % EXT_RECORDS`. The writer first invalidates the slot (its
//! `seq` set to `u64::MAX`, then a release fence), stores the fields
//! (relaxed), and publishes the record by storing its `seq` (= n) with
//! release ordering, then `head` (= n + 1) with release ordering. A reader loads `head` (acquire), reads a record's
//! `seq` (acquire), copies it, and re-reads `seq` after an acquire fence: the
//! copy is valid if both reads give the expected `n`; otherwise the writer
//! lapped it and the record is lost.

/// ABI version; bumped on any incompatible change. Version 2: records
/// carry the memory footprint and are 128 bytes.
pub const ABI_VERSION: u32 = 2;

/// Major number of the character device (`mknod node c 423 0`).
pub const MAJOR: u32 = 423;
/// Minor number of the character device.
pub const MINOR: u32 = 0;

/// Page size the buffer layout is expressed in.
pub const PAGE_SIZE: u64 = 4096;

/// mmap offset of the classic ring.
pub const CLASSIC_OFFSET: u64 = 0;
/// Pages of the classic region (the classic monitor maps exactly these).
pub const CLASSIC_PAGES: u64 = 128;
/// Bytes of the classic region.
pub const CLASSIC_SIZE: u64 = CLASSIC_PAGES * PAGE_SIZE;
/// Samples in the classic ring: 20 Hz for 600 s.
pub const CLASSIC_SAMPLES: u64 = 12_000;
/// `u64` words per classic sample.
pub const CLASSIC_SAMPLE_WORDS: u64 = 4;
/// The value of an unused classic word.
pub const CLASSIC_EMPTY: u64 = u64::MAX;

/// mmap offset of the extended region.
pub const EXT_OFFSET: u64 = CLASSIC_SIZE;
/// Bytes of the extended header (one page).
pub const EXT_HEADER_SIZE: u64 = PAGE_SIZE;
/// Records in the extended ring (a power of two).
pub const EXT_RECORDS: u64 = 65_536;
/// Bytes of one record.
pub const RECORD_SIZE: u64 = 128;
/// Bytes of the extended region.
pub const EXT_SIZE: u64 = EXT_HEADER_SIZE + EXT_RECORDS * RECORD_SIZE;
/// Bytes of the whole buffer.
pub const BUFFER_SIZE: u64 = EXT_OFFSET + EXT_SIZE;
/// [`ExtHeader::magic`]: "PFPF" in little endian.
pub const EXT_MAGIC: u32 = 0x4650_4650;

/// [`Record::flags`]: the totals over all registered processes (pid 0).
pub const RECORD_TOTAL: u32 = 1 << 0;
/// [`Record::flags`]: the process exited; this is its last record.
pub const RECORD_EXITED: u32 = 1 << 1;
/// [`Record::flags`]: the process had no memory map at the sample (it was
/// exiting): its resident and swap figures are 0 (its peak is still valid).
pub const RECORD_NO_MM: u32 = 1 << 2;

/// [`Status::state`]: no process is registered, the sampler is stopped.
pub const STATE_IDLE: u32 = 0;
/// [`Status::state`]: the sampler is running.
pub const STATE_RUNNING: u32 = 1;

/// Shortest settable sampling period (1 ms).
pub const PERIOD_MIN_US: u32 = 1_000;
/// Longest settable sampling period (10 s).
pub const PERIOD_MAX_US: u32 = 10_000_000;
/// Default sampling period (50 ms, 20 Hz).
pub const PERIOD_DEFAULT_US: u32 = 50_000;

/// The extended region's header (at [`EXT_OFFSET`]; the rest of its page is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtHeader {
    /// [`EXT_MAGIC`].
    pub magic: u32,
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// The kernel's HZ (jiffies per second).
    pub hz: u32,
    /// The sampling period in microseconds.
    pub period_us: u32,
    /// [`RECORD_SIZE`].
    pub record_size: u32,
    /// [`EXT_RECORDS`].
    pub capacity: u32,
    /// [`STATE_IDLE`] or [`STATE_RUNNING`].
    pub state: u32,
    /// Padding; 0.
    pub reserved0: u32,
    /// Records written since load; the newest is `head - 1`.
    pub head: u64,
    /// Sampler ticks since load.
    pub ticks: u64,
    /// Number of resets (RESET ioctl) since load.
    pub resets: u64,
    /// `head` at the last reset (0 before any): the first record since then.
    pub reset_head: u64,
    /// Padding; 0.
    pub reserved: [u64; 2],
}

/// One record of the extended ring: one process (or the totals) for one period.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Record {
    /// The record's number; equal to its index `n` when valid.
    pub seq: u64,
    /// CLOCK_MONOTONIC at the sample, in nanoseconds.
    pub time_ns: u64,
    /// `jiffies` at the sample.
    pub jiffies: u64,
    /// The process (thread group id), or 0 for the totals record.
    pub pid: i32,
    /// [`RECORD_TOTAL`], [`RECORD_EXITED`].
    pub flags: u32,
    /// Minor faults in the period.
    pub minor_faults: u64,
    /// Major faults in the period.
    pub major_faults: u64,
    /// CPU time (user + system, all threads) in the period, in nanoseconds.
    pub cpu_ns: u64,
    /// Resident anonymous memory at the sample, in bytes (`RssAnon` of
    /// `/proc/<pid>/status`); in the totals record, the sum over processes.
    pub rss_anon_bytes: u64,
    /// Resident file-backed memory at the sample, in bytes (`RssFile`).
    pub rss_file_bytes: u64,
    /// Resident shared memory (shmem, tmpfs, SysV) at the sample, in bytes
    /// (`RssShmem`).
    pub rss_shmem_bytes: u64,
    /// Memory swapped out at the sample, in bytes (`VmSwap`).
    pub swap_bytes: u64,
    /// Peak resident memory so far, in bytes: the largest of `VmHWM` and
    /// the kernel's peak for `ru_maxrss` (which also covers the memory
    /// before an exec) seen at any sample since registration, so it never
    /// decreases. Once the process exited it is at least its `ru_maxrss`,
    /// and more by at most the per-cpu slack of the kernel's RSS counters
    /// (`ru_maxrss` is computed from their approximate value). 0 in the
    /// totals record.
    pub rss_peak_bytes: u64,
    /// The pid of the root of the process tree the process is a member of
    /// (registered with [`REG_TREE`], or forked by a member after that;
    /// the root's own records too); 0 for a process registered alone, and
    /// in the totals record.
    pub tree_root: i32,
    /// Padding; 0.
    pub reserved0: u32,
    /// The process's command name at the sample (its main thread's, as
    /// `/proc/<pid>/comm` shows it), NUL-padded (a name of 15 bytes or
    /// more is cut at 15, as the kernel keeps it); all 0 in the totals
    /// record.
    pub comm: [u8; 16],
    /// Padding; 0.
    pub reserved: [u64; 1],
}

/// `PFPROF_IOC_VERSION`: what the module speaks.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Version {
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// Padding; 0.
    pub reserved: u32,
    /// [`BUFFER_SIZE`]: how much of the device can be mapped.
    pub buffer_size: u64,
}

/// [`PidArg::flags`] of `PFPROF_IOC_REGISTER`: register the process as the
/// root of a process tree: every process a tree member forks from then on
/// (not the threads) is registered too, as a member, from its fork, even
/// one that exits within a period; orphans re-parented to init stay
/// members. Processes forked before the registration are not members. The
/// module refuses (and counts in [`Status::tree_refused`]) new members
/// beyond its limit of registered processes (sysfs `tree_limit`, 16384 by
/// default) or beyond 4096 forks pending between two ticks. `EOPNOTSUPP`
/// on a kernel without tracepoints; `EINVAL` from outside the initial pid
/// namespace.
pub const REG_TREE: u32 = 1 << 0;

/// `PFPROF_IOC_REGISTER` / `PFPROF_IOC_UNREGISTER`: a process.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PidArg {
    /// A process or thread id; 0 means the caller.
    pub pid: i32,
    /// REGISTER: 0 or [`REG_TREE`]; UNREGISTER: 0.
    pub flags: u32,
}

/// `PFPROF_IOC_QUERY`: the global figures.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    /// [`ABI_VERSION`].
    pub abi_version: u32,
    /// [`STATE_IDLE`] or [`STATE_RUNNING`].
    pub state: u32,
    /// The kernel's HZ.
    pub hz: u32,
    /// The sampling period in microseconds.
    pub period_us: u32,
    /// Registered processes.
    pub registered: u32,
    /// New processes of process-tree members refused since load (over the
    /// limit of registered processes, or the fork queue full), saturating.
    pub tree_refused: u32,
    /// Classic samples written since load or reset.
    pub samples_written: u64,
    /// Classic samples that overwrote a slot a consumer had not read (not -1).
    pub samples_lost: u64,
    /// Extended records written since load or reset.
    pub records_written: u64,
    /// Sampler ticks since load or reset.
    pub ticks: u64,
    /// Times the sampler fell more than 10 periods behind its deadlines and
    /// skipped the ones it missed (a late sampler otherwise catches up).
    pub overruns: u64,
    /// Process samples taken (sum over ticks of processes sampled).
    pub process_samples: u64,
    /// Total time the sampler spent sampling, in nanoseconds.
    pub cost_total_ns: u64,
    /// Time the last tick spent sampling, in nanoseconds.
    pub cost_last_ns: u64,
    /// Longest tick, in nanoseconds.
    pub cost_max_ns: u64,
}

/// `PFPROF_IOC_QUERY_PID`: one registered process.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcStats {
    /// In: the process (0: the caller).
    pub pid: i32,
    /// Padding; 0.
    pub reserved: u32,
    /// Minor faults since registration (or the last reset).
    pub minor_faults: u64,
    /// Major faults since registration (or the last reset).
    pub major_faults: u64,
    /// CPU time since registration (or the last reset), in nanoseconds.
    pub cpu_ns: u64,
    /// CLOCK_MONOTONIC at registration, in nanoseconds.
    pub registered_ns: u64,
    /// `jiffies` at registration.
    pub registered_jiffies: u64,
}

/// `PFPROF_IOC_LIST`: the registered pids.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct List {
    /// In: room for this many pids at `pids` (0: only ask for the count).
    pub capacity: u32,
    /// Out: how many processes are registered (may exceed `capacity`).
    pub count: u32,
    /// In: user address of an `i32` array of `capacity` entries.
    pub pids: u64,
}

/// `PFPROF_IOC_SET_PERIOD`: the sampling period.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// [`PERIOD_MIN_US`] to [`PERIOD_MAX_US`].
    pub period_us: u32,
    /// Padding; 0.
    pub reserved: u32,
}

/// The ioctl "type" byte: 0xB9 is unused in
/// Documentation/userspace-api/ioctl/ioctl-number.rst.
pub const IOC_MAGIC: u32 = 0xB9;

const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// An ioctl request number, as `_IOC()` in asm-generic/ioctl.h computes it.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (IOC_MAGIC << 8) | nr
}

/// `_IOR(0xB9, 0, struct pfprof_version)`.
pub const IOC_VERSION: u32 = ioc(IOC_READ, 0, core::mem::size_of::<Version>());
/// `_IOW(0xB9, 1, struct pfprof_pid_arg)`.
pub const IOC_REGISTER: u32 = ioc(IOC_WRITE, 1, core::mem::size_of::<PidArg>());
/// `_IOW(0xB9, 2, struct pfprof_pid_arg)`.
pub const IOC_UNREGISTER: u32 = ioc(IOC_WRITE, 2, core::mem::size_of::<PidArg>());
/// `_IOR(0xB9, 3, struct pfprof_status)`.
pub const IOC_QUERY: u32 = ioc(IOC_READ, 3, core::mem::size_of::<Status>());
/// `_IOWR(0xB9, 4, struct pfprof_proc_stats)`.
pub const IOC_QUERY_PID: u32 = ioc(IOC_READ | IOC_WRITE, 4, core::mem::size_of::<ProcStats>());
/// `_IOWR(0xB9, 5, struct pfprof_list)`.
pub const IOC_LIST: u32 = ioc(IOC_READ | IOC_WRITE, 5, core::mem::size_of::<List>());
/// `_IO(0xB9, 6)`: privileged.
pub const IOC_RESET: u32 = ioc(IOC_NONE, 6, 0);
/// `_IOW(0xB9, 7, struct pfprof_period)`: privileged.
pub const IOC_SET_PERIOD: u32 = ioc(IOC_WRITE, 7, core::mem::size_of::<Period>());

// The layout is part of the ABI: fail the build if it changes by accident.
const _: () = assert!(core::mem::size_of::<ExtHeader>() == 80);
const _: () = assert!(core::mem::size_of::<Record>() == RECORD_SIZE as usize);
const _: () = assert!(core::mem::size_of::<Version>() == 16);
const _: () = assert!(core::mem::size_of::<PidArg>() == 8);
const _: () = assert!(core::mem::size_of::<Status>() == 96);
const _: () = assert!(core::mem::size_of::<ProcStats>() == 48);
const _: () = assert!(core::mem::size_of::<List>() == 16);
const _: () = assert!(core::mem::size_of::<Period>() == 8);
const _: () = assert!(CLASSIC_SAMPLES * CLASSIC_SAMPLE_WORDS * 8 <= CLASSIC_SIZE);
const _: () = assert!(EXT_RECORDS.is_power_of_two());
