// SPDX-License-Identifier: GPL-2.0

//! `/proc/mp3/status`, the classic registration interface.
//!
//! 6.12's Rust bindings have no proc_fs: `glue.c` holds the `struct proc_ops`
//! and creates the entries; the callbacks are implemented here.

use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;

extern "C" {
    fn pfprof_proc_create() -> core::ffi::c_int;
    fn pfprof_proc_remove();
}

/// `/proc/mp3/status` and its directory.
///
/// # Invariants
///
/// The entries exist while this value exists.
pub(crate) struct StatusFile(());

impl StatusFile {
    /// Creates `/proc/mp3/status` (mode 0666).
    pub(crate) fn create() -> Result<Self> {
        // SAFETY: The glue has no preconditions; it fails if the entries exist.
        to_result(unsafe { pfprof_proc_create() })?;
        // INVARIANT: The entries were just created.
        Ok(StatusFile(()))
    }
}

impl Drop for StatusFile {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the entries exist; removing them waits
        // for callbacks in progress, so none runs after this returns.
        unsafe { pfprof_proc_remove() };
    }
}

/// `read` of /proc/mp3/status: the registered pids, one per line.
///
/// # Safety
///
/// Called by proc_fs with a valid `ppos`.
#[no_mangle]
unsafe extern "C" fn pfprof_proc_status_read(
    _file: *mut bindings::file,
    _buf: *mut u8,
    _len: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    // Nothing can be registered yet: the list is empty.
    0
}

/// `write` of /proc/mp3/status.
///
/// # Safety
///
/// Called by proc_fs with a valid `ppos`.
#[no_mangle]
unsafe extern "C" fn pfprof_proc_status_write(
    _file: *mut bindings::file,
    _buf: *const u8,
    _len: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    EINVAL.to_errno() as isize
}
