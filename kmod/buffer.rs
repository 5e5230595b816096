// SPDX-License-Identifier: GPL-2.0

//! The profile buffer: one `vmalloc_user` area holding the classic ring and
//! the extended region (layout in [`crate::abi`]), mapped into readers with
//! `remap_vmalloc_range`.
//!
//! Every store into the buffer is an atomic store, because user space reads
//! (and, in the classic region, writes) it concurrently through its mapping.
//! Writers are serialised by the caller (the profiler's lock): the methods
//! that write say so.

use core::ffi::{c_int, c_void};
use core::mem::offset_of;
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

const CLASSIC_WORDS: u64 = abi::CLASSIC_SAMPLES * abi::CLASSIC_SAMPLE_WORDS;

/// The profile buffer.
///
/// # Invariants
///
/// `base` points to a zero-initialised (then formatted) `vmalloc_user` area
/// of [`abi::BUFFER_SIZE`] bytes, page aligned, owned by this value.
pub(crate) struct Buffer {
    base: NonNull<u8>,
}

// SAFETY: The area is plain memory; every access goes through atomics.
unsafe impl Send for Buffer {}
// SAFETY: As above: shared access is atomic loads and stores only.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// Allocates and formats the buffer: the classic ring all -1, the
    /// extended header filled in.
    pub(crate) fn new(hz: u32, period_us: u32) -> Result<Self> {
        // SAFETY: Any size may be asked for; null means failure.
        let ptr = unsafe { vmalloc_user_noprof(abi::BUFFER_SIZE as usize) };
        let base = NonNull::new(ptr.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: Just allocated with the right size (vmalloc_user zeroes
        // it and allocates whole pages).
        let buffer = Buffer { base };
        buffer.clear_classic();
        buffer
            .header_u32(offset_of!(ExtHeader, magic))
            .store(abi::EXT_MAGIC, Ordering::Relaxed);
        buffer
            .header_u32(offset_of!(ExtHeader, abi_version))
            .store(abi::ABI_VERSION, Ordering::Relaxed);
        buffer
            .header_u32(offset_of!(ExtHeader, hz))
            .store(hz, Ordering::Relaxed);
        buffer
            .header_u32(offset_of!(ExtHeader, record_size))
            .store(abi::RECORD_SIZE as u32, Ordering::Relaxed);
        buffer
            .header_u32(offset_of!(ExtHeader, capacity))
            .store(abi::EXT_RECORDS as u32, Ordering::Relaxed);
        buffer.set_period_us(period_us);
        Ok(buffer)
    }

    /// The `u64` at byte `offset`.
    fn u64_at(&self, offset: u64) -> &AtomicU64 {
        assert!(offset % 8 == 0 && offset + 8 <= abi::BUFFER_SIZE);
        // SAFETY: In bounds and aligned (checked above; the base is page
        // aligned), valid for the life of `self`, and only ever accessed
        // atomically while shared.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset as usize).cast()) }
    }

    /// The `u32` at byte `offset`.
    fn u32_at(&self, offset: u64) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= abi::BUFFER_SIZE);
        // SAFETY: As in `u64_at`.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset as usize).cast()) }
    }

    fn header_u32(&self, field: usize) -> &AtomicU32 {
        self.u32_at(abi::EXT_OFFSET + field as u64)
    }

    fn header_u64(&self, field: usize) -> &AtomicU64 {
        self.u64_at(abi::EXT_OFFSET + field as u64)
    }

    /// Fills the classic ring with -1 (caller serialises writers).
    pub(crate) fn clear_classic(&self) {
        for i in 0..CLASSIC_WORDS {
            self.u64_at(i * 8)
                .store(abi::CLASSIC_EMPTY, Ordering::Relaxed);
        }
    }

    /// Writes classic sample `slot` (caller serialises writers): the three
    /// counters first, then the jiffies word that marks the slot used.
    /// Returns whether the slot still held an unread sample (not -1).
    pub(crate) fn write_classic(
        &self,
        slot: u64,
        jiffies: u64,
        minor: u64,
        major: u64,
        cpu_ns: u64,
    ) -> bool {
        let first = (slot % abi::CLASSIC_SAMPLES) * abi::CLASSIC_SAMPLE_WORDS * 8;
        let unread = self.u64_at(first).load(Ordering::Relaxed) != abi::CLASSIC_EMPTY;
        self.u64_at(first + 8).store(minor, Ordering::Relaxed);
        self.u64_at(first + 16).store(major, Ordering::Relaxed);
        self.u64_at(first + 24).store(cpu_ns, Ordering::Relaxed);
        self.u64_at(first).store(jiffies, Ordering::Release);
        unread
    }

    /// Publishes extended record `rec.seq` (caller serialises writers), then
    /// advances the header's `head` past it. See the protocol in [`abi`].
    pub(crate) fn write_record(&self, rec: &Record) {
        let n = rec.seq;
        let at = abi::EXT_OFFSET + abi::EXT_HEADER_SIZE + (n % abi::EXT_RECORDS) * abi::RECORD_SIZE;
        let seq = self.u64_at(at + offset_of!(Record, seq) as u64);
        // Invalidate the slot before touching its fields.
        seq.store(u64::MAX, Ordering::Relaxed);
        fence(Ordering::Release);
        let field64 =
            |field: usize, v: u64| self.u64_at(at + field as u64).store(v, Ordering::Relaxed);
        field64(offset_of!(Record, time_ns), rec.time_ns);
        field64(offset_of!(Record, jiffies), rec.jiffies);
        field64(offset_of!(Record, minor_faults), rec.minor_faults);
        field64(offset_of!(Record, major_faults), rec.major_faults);
        field64(offset_of!(Record, cpu_ns), rec.cpu_ns);
        let field32 =
            |field: usize, v: u32| self.u32_at(at + field as u64).store(v, Ordering::Relaxed);
        field32(offset_of!(Record, pid), rec.pid as u32);
        field32(offset_of!(Record, flags), rec.flags);
        seq.store(n, Ordering::Release);
        self.header_u64(offset_of!(ExtHeader, head))
            .store(n + 1, Ordering::Release);
    }

    /// Updates the header's period.
    pub(crate) fn set_period_us(&self, period_us: u32) {
        self.header_u32(offset_of!(ExtHeader, period_us))
            .store(period_us, Ordering::Relaxed);
    }

    /// Updates the header's state (`abi::STATE_*`).
    pub(crate) fn set_state(&self, state: u32) {
        self.header_u32(offset_of!(ExtHeader, state))
            .store(state, Ordering::Relaxed);
    }

    /// Updates the header's tick count.
    pub(crate) fn set_ticks(&self, ticks: u64) {
        self.header_u64(offset_of!(ExtHeader, ticks))
            .store(ticks, Ordering::Relaxed);
    }

    /// Counts a reset in the header; `head` is the next record's number.
    pub(crate) fn count_reset(&self, head: u64) {
        self.header_u64(offset_of!(ExtHeader, reset_head))
            .store(head, Ordering::Relaxed);
        self.header_u64(offset_of!(ExtHeader, resets))
            .fetch_add(1, Ordering::Release);
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
        let len = (end - start) as u64;
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
        unsafe { vfree(self.base.as_ptr().cast()) };
    }
}
