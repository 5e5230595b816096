// SPDX-License-Identifier: GPL-2.0

//! The profile buffer: one `vmalloc_user` area holding the classic ring and
//! the extended region (layout in [`crate::abi`]), mapped into readers with
//! `remap_vmalloc_range`.
//!
//! The area is seen through one type, [`Area`], whose fields the compiler
//! places and compile-time assertions pin to the ABI's offsets; its rings
//! are indexed by slot types whose range is established once, when the slot
//! is made. Every store into the buffer is an atomic store, because user
//! space reads (and, in the classic region, writes) it concurrently through
//! its mapping. Writers are serialised by the caller (the profiler's lock):
//! the methods that write say so.

use core::ffi::{c_int, c_void};
use core::mem::{offset_of, size_of};
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use kernel::bindings;
use kernel::prelude::*;

use crate::abi::{self, ExtHeader, Record};

// Kernel structs are passed as `c_void` pointers: some contain types that
// are empty, and so not FFI-safe, in some configurations (lockdep off).
extern "C" {
    // Exported by mm/vmalloc.c but absent from 6.12's Rust bindings (since
    // 6.10 the vmalloc entry points are macros over these `_noprof` symbols).
    fn vmalloc_user_noprof(size: usize) -> *mut c_void;
    fn vfree(addr: *const c_void);
    fn remap_vmalloc_range(vma: *mut c_void, addr: *mut c_void, pgoff: usize) -> c_int;
    // glue.c
    fn pfprof_vma_clear_flags(vma: *mut c_void, flags: usize);
}

/// A 64-bit word of the buffer.
type Word = AtomicU64;

/// One classic sample: jiffies, minor faults, major faults, CPU ns.
#[repr(C)]
struct ClassicSample {
    jiffies: Word,
    minor_faults: Word,
    major_faults: Word,
    cpu_ns: Word,
}

/// Words of the classic region after the ring: never part of a sample, they
/// always read -1 (the classic monitor reads one of them on an empty ring).
const CLASSIC_TAIL_WORDS: usize =
    ((abi::CLASSIC_SIZE - abi::CLASSIC_SAMPLES * abi::CLASSIC_SAMPLE_WORDS * 8) / 8) as usize;

/// The classic region: the ring of [`abi::CLASSIC_SAMPLES`] samples, then
/// its tail.
#[repr(C)]
struct ClassicRegion {
    ring: [ClassicSample; abi::CLASSIC_SAMPLES as usize],
    tail: [Word; CLASSIC_TAIL_WORDS],
}

/// [`abi::ExtHeader`], field by field, as the module writes it.
#[repr(C)]
struct HeaderCells {
    magic: AtomicU32,
    abi_version: AtomicU32,
    hz: AtomicU32,
    period_us: AtomicU32,
    record_size: AtomicU32,
    capacity: AtomicU32,
    state: AtomicU32,
    reserved0: AtomicU32,
    head: Word,
    ticks: Word,
    resets: Word,
    reset_head: Word,
    reserved: [Word; 2],
}

/// The extended header's page: the header, then zeros.
#[repr(C)]
struct HeaderPage {
    cells: HeaderCells,
    rest: [Word; (abi::EXT_HEADER_SIZE as usize - size_of::<HeaderCells>()) / 8],
}

/// [`abi::Record`], field by field, as the module writes it.
#[repr(C)]
struct RecordCells {
    seq: Word,
    time_ns: Word,
    jiffies: Word,
    pid: AtomicU32,
    flags: AtomicU32,
    minor_faults: Word,
    major_faults: Word,
    cpu_ns: Word,
    rss_anon_bytes: Word,
    rss_file_bytes: Word,
    rss_shmem_bytes: Word,
    swap_bytes: Word,
    rss_peak_bytes: Word,
    tree_root: AtomicU32,
    reserved0: AtomicU32,
    comm: [Word; 2],
    reserved: [Word; 1],
}

/// The whole buffer as [`abi`] lays it out. Every access goes through this
/// type, so no offset is ever computed by hand: the compiler places each
/// field, and the assertions below pin the places to the ABI.
#[repr(C)]
struct Area {
    classic: ClassicRegion,
    header: HeaderPage,
    records: [RecordCells; abi::EXT_RECORDS as usize],
}

/// Fails the build unless the fields of `$cells` sit where those of `$abi`
/// do, and both have the same size.
macro_rules! same_layout {
    ($cells:ty, $abi:ty; $($field:ident),+) => {
        const _: () = assert!(size_of::<$cells>() == size_of::<$abi>());
        $(const _: () = assert!(offset_of!($cells, $field) == offset_of!($abi, $field));)+
    };
}

same_layout!(HeaderCells, ExtHeader; magic, abi_version, hz, period_us, record_size, capacity,
    state, reserved0, head, ticks, resets, reset_head, reserved);
same_layout!(RecordCells, Record; seq, time_ns, jiffies, pid, flags, minor_faults, major_faults,
    cpu_ns, rss_anon_bytes, rss_file_bytes, rss_shmem_bytes, swap_bytes, rss_peak_bytes, tree_root,
    reserved0, comm, reserved);
const _: () = assert!(size_of::<ClassicSample>() as u64 == abi::CLASSIC_SAMPLE_WORDS * 8);
const _: () = assert!(size_of::<ClassicRegion>() as u64 == abi::CLASSIC_SIZE);
const _: () = assert!(offset_of!(Area, header) as u64 == abi::EXT_OFFSET);
const _: () = assert!(size_of::<HeaderPage>() as u64 == abi::EXT_HEADER_SIZE);
const _: () = assert!(offset_of!(Area, records) as u64 == abi::EXT_OFFSET + abi::EXT_HEADER_SIZE);
const _: () = assert!(size_of::<Area>() as u64 == abi::BUFFER_SIZE);
// The layout is expressed in 4 KiB pages; the mapping is made of the
// kernel's pages: they must be the same.
const _: () = assert!(abi::PAGE_SIZE == bindings::PAGE_SIZE as u64);

/// A slot of the classic ring.
///
/// # Invariants
///
/// `self.0 < abi::CLASSIC_SAMPLES`.
#[derive(Clone, Copy)]
pub(crate) struct ClassicSlot(usize);

impl ClassicSlot {
    /// The slot of classic sample number `n` (the ring wraps).
    pub(crate) fn of(n: u64) -> Self {
        // INVARIANT: A remainder of the division by CLASSIC_SAMPLES, which
        // is below it (and so fits in usize).
        ClassicSlot((n % abi::CLASSIC_SAMPLES) as usize)
    }
}

/// A slot of the extended ring.
///
/// # Invariants
///
/// `self.0 < abi::EXT_RECORDS`.
#[derive(Clone, Copy)]
struct RecordSlot(usize);

impl RecordSlot {
    /// The slot of record number `n` (the ring wraps).
    fn of(n: u64) -> Self {
        // INVARIANT: As in `ClassicSlot::of`, modulo EXT_RECORDS.
        RecordSlot((n % abi::EXT_RECORDS) as usize)
    }
}

/// The profile buffer.
///
/// # Invariants
///
/// `base` points to a `vmalloc_user` area of [`abi::BUFFER_SIZE`] bytes
/// (the size of [`Area`]), page aligned, zero-initialised (all-zero is a
/// valid `Area`: it is made of atomics) and then formatted, owned by this
/// value.
pub(crate) struct Buffer {
    base: NonNull<Area>,
}

// SAFETY: The area is plain memory; every access goes through atomics.
unsafe impl Send for Buffer {}
// SAFETY: As above: shared access is atomic loads and stores only.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// Allocates and formats the buffer: the whole classic region -1, the
    /// extended header filled in.
    pub(crate) fn new(hz: u32, period_us: u32) -> Result<Self> {
        // SAFETY: Any size may be asked for; null means failure.
        let ptr = unsafe { vmalloc_user_noprof(size_of::<Area>()) };
        let base = NonNull::new(ptr.cast::<Area>()).ok_or(ENOMEM)?;
        // INVARIANT: Just allocated with the size of `Area` (vmalloc_user
        // zeroes it and allocates whole pages, so it is page aligned).
        let buffer = Buffer { base };
        buffer.clear_classic();
        let h = buffer.header();
        h.magic.store(abi::EXT_MAGIC, Ordering::Relaxed);
        h.abi_version.store(abi::ABI_VERSION, Ordering::Relaxed);
        h.hz.store(hz, Ordering::Relaxed);
        h.record_size
            .store(abi::RECORD_SIZE as u32, Ordering::Relaxed);
        h.capacity.store(abi::EXT_RECORDS as u32, Ordering::Relaxed);
        buffer.set_period_us(period_us);
        Ok(buffer)
    }

    fn area(&self) -> &Area {
        // SAFETY: By the type invariant `base` points to a valid, aligned
        // `Area` that lives as long as `self`; it is only accessed through
        // atomics while shared.
        unsafe { self.base.as_ref() }
    }

    fn header(&self) -> &HeaderCells {
        &self.area().header.cells
    }

    fn classic(&self, slot: ClassicSlot) -> &ClassicSample {
        // SAFETY: By `ClassicSlot`'s invariant the index is below
        // CLASSIC_SAMPLES, the length of the ring.
        unsafe { self.area().classic.ring.get_unchecked(slot.0) }
    }

    fn record(&self, slot: RecordSlot) -> &RecordCells {
        // SAFETY: By `RecordSlot`'s invariant the index is below
        // EXT_RECORDS, the length of the ring.
        unsafe { self.area().records.get_unchecked(slot.0) }
    }

    /// Fills the whole classic region with -1, the ring and its tail, as the
    /// classic module did (caller serialises writers).
    pub(crate) fn clear_classic(&self) {
        let classic = &self.area().classic;
        for s in &classic.ring {
            for word in [&s.jiffies, &s.minor_faults, &s.major_faults, &s.cpu_ns] {
                word.store(abi::CLASSIC_EMPTY, Ordering::Relaxed);
            }
        }
        for word in &classic.tail {
            word.store(abi::CLASSIC_EMPTY, Ordering::Relaxed);
        }
    }

    /// Writes the classic sample in `slot` (caller serialises writers): the
    /// three counters first, then the jiffies word that marks the slot used.
    /// Returns whether the slot still held an unread sample (not -1).
    pub(crate) fn write_classic(
        &self,
        slot: ClassicSlot,
        jiffies: u64,
        minor: u64,
        major: u64,
        cpu_ns: u64,
    ) -> bool {
        let s = self.classic(slot);
        let unread = s.jiffies.load(Ordering::Relaxed) != abi::CLASSIC_EMPTY;
        s.minor_faults.store(minor, Ordering::Relaxed);
        s.major_faults.store(major, Ordering::Relaxed);
        s.cpu_ns.store(cpu_ns, Ordering::Relaxed);
        s.jiffies.store(jiffies, Ordering::Release);
        unread
    }

    /// Publishes extended record `rec.seq` (caller serialises writers), then
    /// advances the header's `head` past it. See the protocol in [`abi`].
    #[inline(always)]
    pub(crate) fn write_record(&self, rec: &Record) {
        let n = rec.seq;
        let r = self.record(RecordSlot::of(n));
        // Invalidate the slot before touching its fields.
        r.seq.store(u64::MAX, Ordering::Relaxed);
        fence(Ordering::Release);
        r.time_ns.store(rec.time_ns, Ordering::Relaxed);
        r.jiffies.store(rec.jiffies, Ordering::Relaxed);
        r.pid.store(rec.pid as u32, Ordering::Relaxed);
        r.flags.store(rec.flags, Ordering::Relaxed);
        r.minor_faults.store(rec.minor_faults, Ordering::Relaxed);
        r.major_faults.store(rec.major_faults, Ordering::Relaxed);
        r.cpu_ns.store(rec.cpu_ns, Ordering::Relaxed);
        r.rss_anon_bytes
            .store(rec.rss_anon_bytes, Ordering::Relaxed);
        r.rss_file_bytes
            .store(rec.rss_file_bytes, Ordering::Relaxed);
        r.rss_shmem_bytes
            .store(rec.rss_shmem_bytes, Ordering::Relaxed);
        r.swap_bytes.store(rec.swap_bytes, Ordering::Relaxed);
        r.rss_peak_bytes
            .store(rec.rss_peak_bytes, Ordering::Relaxed);
        r.tree_root.store(rec.tree_root as u32, Ordering::Relaxed);
        // Constant indices into the array: no bounds checks.
        let c = &rec.comm;
        let lo = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let hi = u64::from_ne_bytes([c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]]);
        r.comm[0].store(lo, Ordering::Relaxed);
        r.comm[1].store(hi, Ordering::Relaxed);
        r.seq.store(n, Ordering::Release);
        self.header()
            .head
            .store(n.wrapping_add(1), Ordering::Release);
    }

    /// Updates the header's period.
    pub(crate) fn set_period_us(&self, period_us: u32) {
        self.header().period_us.store(period_us, Ordering::Relaxed);
    }

    /// Updates the header's state (`abi::STATE_*`).
    pub(crate) fn set_state(&self, state: u32) {
        self.header().state.store(state, Ordering::Relaxed);
    }

    /// Updates the header's tick count.
    pub(crate) fn set_ticks(&self, ticks: u64) {
        self.header().ticks.store(ticks, Ordering::Relaxed);
    }

    /// Counts a reset in the header; `head` is the next record's number.
    pub(crate) fn count_reset(&self, head: u64) {
        let h = self.header();
        h.reset_head.store(head, Ordering::Relaxed);
        h.resets.fetch_add(1, Ordering::Release);
    }

    /// `f_op->mmap`: maps the classic region (offset 0, read-write shared or
    /// read-only) or the extended region (read-only) into `vma`.
    ///
    /// # Safety
    ///
    /// `vma` is the area being set up by the mmap call in progress, with the
    /// mmap lock held.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result {
        // SAFETY: The caller guarantees `vma` is valid; the range and flags
        // are plain fields while the area is being set up.
        let (start, end, pgoff, flags) = unsafe {
            (
                (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start,
                (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end,
                (*vma).vm_pgoff,
                (*vma).__bindgen_anon_2.vm_flags,
            )
        };
        let len = end.checked_sub(start).ok_or(EINVAL)? as u64;
        let flag = |f: u32| flags & f as usize != 0;
        if flag(bindings::VM_EXEC) {
            return Err(EPERM);
        }
        let offset = (pgoff as u64).checked_mul(abi::PAGE_SIZE).ok_or(EINVAL)?;
        let mut clear = bindings::VM_MAYEXEC as usize;
        match offset {
            abi::CLASSIC_OFFSET => {
                if len > abi::CLASSIC_SIZE {
                    return Err(EINVAL);
                }
                // A private writable mapping would copy pages on write and
                // leave the consumer's -1s invisible to the module.
                if flag(bindings::VM_WRITE) && !flag(bindings::VM_SHARED) {
                    return Err(EINVAL);
                }
                if !flag(bindings::VM_SHARED) {
                    clear |= bindings::VM_MAYWRITE as usize;
                }
            }
            abi::EXT_OFFSET => {
                if len > abi::EXT_SIZE {
                    return Err(EINVAL);
                }
                if flag(bindings::VM_WRITE) {
                    return Err(EPERM);
                }
                clear |= bindings::VM_MAYWRITE as usize;
            }
            _ => return Err(EINVAL),
        }
        // SAFETY: `vma` is valid and being set up under the mmap lock.
        unsafe { pfprof_vma_clear_flags(vma.cast(), clear) };
        // SAFETY: The area is a vmalloc_user area (VM_USERMAP) of
        // BUFFER_SIZE bytes; the call checks that pgoff and the length fit in
        // it and maps its pages; `vma` is valid.
        let ret = unsafe { remap_vmalloc_range(vma.cast(), self.base.as_ptr().cast(), pgoff) };
        kernel::error::to_result(ret)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the area. No mapping can
        // outlive us: each holds the device file open, and an open file
        // holds the module, which owns the buffer.
        unsafe { vfree(self.base.as_ptr().cast_const().cast()) };
    }
}
