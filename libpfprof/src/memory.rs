//! Word access to the profile buffer, mapped or as plain bytes.
//!
//! The decoders in [`classic`](crate::classic) and [`ext`](crate::ext) read
//! through [`Memory`], which both a byte slice (fixtures, copies) and a live
//! [`Mapping`] implement: the same code is tested on fixtures and runs on the
//! module's buffer. On a mapping every load is an atomic load (the kernel
//! writes concurrently); on a slice it is a plain read.

use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

use crate::error::{Error, Result};

mod sealed {
    pub trait Sealed {}
}

/// Read access to a buffer in native byte order, by byte offset.
///
/// Loads return `None` when the word is out of range or misaligned.
/// Implemented by `[u8]` and [`Mapping`]; sealed.
pub trait Memory: sealed::Sealed {
    /// Length in bytes.
    fn len_bytes(&self) -> usize;
    /// Loads the `u64` at `offset` with `order` (plain read for a slice).
    fn load_u64(&self, offset: usize, order: Ordering) -> Option<u64>;
    /// Loads the `u32` at `offset` with `order` (plain read for a slice).
    fn load_u32(&self, offset: usize, order: Ordering) -> Option<u32>;
}

/// Write access, for the classic destructive read (writing -1 back).
pub trait MemoryMut: Memory {
    /// Stores `value` at `offset`; returns `false` if out of range.
    fn store_u64(&mut self, offset: usize, value: u64) -> bool;
}

impl sealed::Sealed for [u8] {}

impl Memory for [u8] {
    fn len_bytes(&self) -> usize {
        self.len()
    }

    fn load_u64(&self, offset: usize, _order: Ordering) -> Option<u64> {
        let bytes = self.get(offset..offset.checked_add(8)?)?;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    }

    fn load_u32(&self, offset: usize, _order: Ordering) -> Option<u32> {
        let bytes = self.get(offset..offset.checked_add(4)?)?;
        Some(u32::from_ne_bytes(bytes.try_into().ok()?))
    }
}

impl MemoryMut for [u8] {
    fn store_u64(&mut self, offset: usize, value: u64) -> bool {
        let Some(end) = offset.checked_add(8) else {
            return false;
        };
        match self.get_mut(offset..end) {
            Some(bytes) => {
                bytes.copy_from_slice(&value.to_ne_bytes());
                true
            }
            None => false,
        }
    }
}

/// A shared mapping of part of the pfprof device, unmapped on drop.
///
/// # Invariants
///
/// `ptr` is the start of a live `MAP_SHARED` mapping of `len` bytes, page
/// aligned, readable, and writable if `writable`; it stays mapped until
/// `drop`. It is only accessed through atomic loads and stores.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<core::ffi::c_void>,
    len: usize,
    writable: bool,
}

// SAFETY: the mapping is plain shared memory owned by this value; all access
// goes through atomic operations, so sharing or moving it between threads
// cannot cause a data race.
unsafe impl Send for Mapping {}
// SAFETY: as above: `&Mapping` only allows atomic loads.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, read-only or read-write.
    pub(crate) fn new<F: AsFd>(fd: F, offset: u64, len: usize, writable: bool) -> Result<Self> {
        let length = NonZeroUsize::new(len).ok_or_else(|| Error::Malformed {
            what: "zero-length mapping".to_owned(),
        })?;
        let offset = i64::try_from(offset).map_err(|_| Error::Malformed {
            what: format!("mapping offset {offset} out of range"),
        })?;
        let prot = if writable {
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE
        } else {
            ProtFlags::PROT_READ
        };
        // SAFETY: a new shared mapping at an address the kernel chooses
        // (no MAP_FIXED) cannot alias any Rust object; the pointer is only
        // used through atomics by this type, and unmapped once in `drop`.
        let ptr =
            unsafe { mmap(None, length, prot, MapFlags::MAP_SHARED, fd, offset) }.map_err(|e| {
                match e {
                    nix::errno::Errno::EPERM | nix::errno::Errno::EACCES => {
                        Error::PermissionDenied {
                            op: if writable {
                                "map the buffer writable"
                            } else {
                                "map the buffer"
                            },
                        }
                    }
                    other => Error::io("mmap", other),
                }
            })?;
        // INVARIANT: mmap succeeded with these length and protections.
        Ok(Mapping { ptr, len, writable })
    }

    /// Whether the mapping was made writable.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    fn addr(&self, offset: usize, size: usize) -> Option<*mut u8> {
        if offset % size != 0 || offset.checked_add(size)? > self.len {
            return None;
        }
        // SAFETY: `offset + size <= len`, so the result stays inside the mapping.
        Some(unsafe { self.ptr.as_ptr().cast::<u8>().add(offset) })
    }

    /// Copies the whole mapping (word by word, atomically) into a vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for off in (0..self.len).step_by(8) {
            let w = self.load_u64(off, Ordering::Relaxed).unwrap_or(0);
            out.extend_from_slice(&w.to_ne_bytes());
        }
        out
    }
}

impl sealed::Sealed for Mapping {}

impl Memory for Mapping {
    fn len_bytes(&self) -> usize {
        self.len
    }

    fn load_u64(&self, offset: usize, order: Ordering) -> Option<u64> {
        let p = self.addr(offset, 8)?;
        // SAFETY: `p` is 8-aligned and inside the live mapping (type
        // invariant and `addr`); the memory is only accessed atomically.
        let a = unsafe { AtomicU64::from_ptr(p.cast()) };
        Some(a.load(order))
    }

    fn load_u32(&self, offset: usize, order: Ordering) -> Option<u32> {
        let p = self.addr(offset, 4)?;
        // SAFETY: `p` is 4-aligned and inside the live mapping (type
        // invariant and `addr`); the memory is only accessed atomically.
        let a = unsafe { AtomicU32::from_ptr(p.cast()) };
        Some(a.load(order))
    }
}

impl MemoryMut for Mapping {
    fn store_u64(&mut self, offset: usize, value: u64) -> bool {
        if !self.writable {
            return false;
        }
        let Some(p) = self.addr(offset, 8) else {
            return false;
        };
        // SAFETY: `p` is 8-aligned, inside the live mapping, which is
        // writable; the memory is only accessed atomically.
        let a = unsafe { AtomicU64::from_ptr(p.cast()) };
        a.store(value, Ordering::Relaxed);
        true
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe the mapping made in `new` (type
        // invariant), unmapped only here; no reference into it outlives self.
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}
