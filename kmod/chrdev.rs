// SPDX-License-Identifier: GPL-2.0

//! The character device 423:0: mmap of the buffer and the ioctls.
//!
//! 6.12 has no Rust abstraction for character devices, and `struct cdev` is
//! opaque to Rust, so the device is registered with `__register_chrdev`, which
//! embeds the cdev in the kernel's own bookkeeping. open and release need no
//! per-file state: every operation goes to the one profiler.

use core::ffi::{c_int, c_uint};

use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::CStr;

use crate::ioctl;
use crate::profiler::Profiler;

/// The file operations of the device.
struct FileOps(bindings::file_operations);

// SAFETY: The table is never written after initialisation; the raw pointers in
// it are to functions and to this module, which are valid from any thread.
unsafe impl Sync for FileOps {}

extern "C" {
    /// This module's `struct module`, defined by modpost for every module.
    /// Only its address is used, so it is declared as a byte (the real type
    /// holds a `lockdep_map` that is empty, and so not FFI-safe, without
    /// lockdep).
    static __this_module: u8;
}

static FILE_OPS: FileOps = FileOps(bindings::file_operations {
    // An open file (and so a mapping, which holds its file) pins the module:
    // it cannot be unloaded under either. Only the address is taken.
    owner: (&raw const __this_module)
        .cast::<bindings::module>()
        .cast_mut(),
    mmap: Some(pfprof_mmap),
    unlocked_ioctl: Some(pfprof_ioctl),
    // SAFETY: All-zero is a valid `file_operations`: every other field is a
    // null pointer, a `None` callback or zero flags.
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
});

/// `f_op->mmap`.
///
/// # Safety
///
/// Called by the VFS with a valid area being set up.
unsafe extern "C" fn pfprof_mmap(
    _file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    let Some(profiler) = Profiler::get() else {
        return ENODEV.to_errno();
    };
    // SAFETY: Our caller passes the area being set up, under the mmap lock.
    match unsafe { profiler.buffer().mmap(vma) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `f_op->unlocked_ioctl`.
///
/// # Safety
///
/// Called by the VFS; `arg` is an untrusted user value.
unsafe extern "C" fn pfprof_ioctl(_file: *mut bindings::file, cmd: c_uint, arg: usize) -> isize {
    let Some(profiler) = Profiler::get() else {
        return ENODEV.to_errno() as isize;
    };
    match ioctl::dispatch(profiler, cmd, arg) {
        Ok(v) => v,
        Err(e) => e.to_errno() as isize,
    }
}

/// A registration of minor 0 of a major number, with [`FILE_OPS`].
///
/// # Invariants
///
/// Minor 0 of `major` is registered under `name` while this value exists.
pub(crate) struct Registration {
    major: u32,
    name: &'static CStr,
}

impl Registration {
    /// Registers minor 0 of `major` as `name`.
    pub(crate) fn new(major: u32, name: &'static CStr) -> Result<Self> {
        // SAFETY: `name` and `FILE_OPS` are 'static, as the kernel keeps both
        // pointers until `__unregister_chrdev`.
        let ret =
            unsafe { bindings::__register_chrdev(major, 0, 1, name.as_char_ptr(), &FILE_OPS.0) };
        to_result(ret)?;
        // INVARIANT: The registration above succeeded.
        Ok(Registration { major, name })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, this exact range is registered.
        unsafe { bindings::__unregister_chrdev(self.major, 0, 1, self.name.as_char_ptr()) };
    }
}
