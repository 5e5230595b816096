// SPDX-License-Identifier: GPL-2.0

//! `/proc/mp3/status`, the classic registration interface (mode 0666).
//!
//! Reading lists the registered pids, one `%d\n` per line, as they were when
//! the file was opened (one snapshot per open file). Writing
//! `R <pid>` (or `R,<pid>`) registers a process, `U <pid>` unregisters it;
//! a trailing newline is accepted. Anything else gets `EINVAL` and changes
//! nothing; writes longer than [`MAX_WRITE`] bytes are rejected unread.
//!
//! 6.12's Rust bindings have no proc_fs: `glue.c` holds the `struct proc_ops`
//! and creates the entries; the callbacks are implemented here.

use core::fmt::Write;

use kernel::bindings;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

use crate::profiler::{Profiler, Target};
use crate::text;

extern "C" {
    fn pfprof_proc_create() -> core::ffi::c_int;
    fn pfprof_proc_remove();
}

/// The longest command accepted: "U,2147483647\n" with room for spaces.
const MAX_WRITE: usize = 64;

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

/// A command written to /proc/mp3/status.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Register(i32),
    Unregister(i32),
}

/// Parses `R <pid>`, `R,<pid>` or `U <pid>` (pid > 0, decimal), with
/// optional surrounding whitespace and a trailing newline.
fn parse(input: &[u8]) -> Result<Command> {
    let text = text::trim(input);
    let (&verb, rest) = text.split_first().ok_or(EINVAL)?;
    let rest = match rest.split_first() {
        Some((b',', r)) => text::trim_start(r),
        Some((c, _)) if c.is_ascii_whitespace() => text::trim_start(rest),
        _ => return Err(EINVAL),
    };
    let pid = text::decimal(rest, i32::MAX as u64)?;
    let pid = i32::try_from(pid).ok().filter(|&p| p > 0).ok_or(EINVAL)?;
    match verb {
        b'R' => Ok(Command::Register(pid)),
        b'U' => Ok(Command::Unregister(pid)),
        _ => Err(EINVAL),
    }
}

/// A `fmt::Write` into a byte vector that allocates without sleeping
/// constraints (process context, no lock held).
struct Text(KVec<u8>);

impl Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| core::fmt::Error)
    }
}

fn status_text(profiler: &Profiler) -> Result<KVec<u8>> {
    let pids = profiler.pids()?;
    let mut text = Text(KVec::with_capacity(
        pids.len().saturating_mul(8),
        GFP_KERNEL,
    )?);
    for pid in &pids {
        writeln!(text, "{pid}").map_err(|_| ENOMEM)?;
    }
    Ok(text.0)
}

/// `open` of /proc/mp3/status: takes the snapshot of the registered pids
/// that every read of this open file serves, so a reader that needs several
/// read(2) calls never sees two versions of the list stitched together.
///
/// # Safety
///
/// Called by proc_fs with a valid file being opened.
#[no_mangle]
unsafe extern "C" fn pfprof_proc_status_open(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> i32 {
    let result = (|| -> Result {
        let profiler = Profiler::get().ok_or(ENODEV)?;
        let snapshot = KBox::new(status_text(profiler)?, GFP_KERNEL)?;
        // SAFETY: The file is being opened and is ours until release;
        // `private_data` is unused by proc_fs for our entry.
        unsafe { (*file).private_data = KBox::into_raw(snapshot).cast() };
        Ok(())
    })();
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `release` of /proc/mp3/status: frees the snapshot.
///
/// # Safety
///
/// Called by proc_fs once per successful open, when the file is last closed.
#[no_mangle]
unsafe extern "C" fn pfprof_proc_status_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> i32 {
    // SAFETY: `open` stored a `KBox<KVec<u8>>` here (or left it null); no
    // read can run any more.
    let snapshot = unsafe { (*file).private_data }.cast::<KVec<u8>>();
    if !snapshot.is_null() {
        // SAFETY: Made by `KBox::into_raw` in `open`, released only here.
        drop(unsafe { KBox::from_raw(snapshot) });
    }
    0
}

/// `read` of /proc/mp3/status: the open-time snapshot, from `*ppos`.
///
/// # Safety
///
/// Called by proc_fs with a valid `ppos` on a file opened by `open`;
/// `buf` and `len` are untrusted.
#[no_mangle]
unsafe extern "C" fn pfprof_proc_status_read(
    file: *mut bindings::file,
    buf: *mut u8,
    len: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    let result = (|| -> Result<isize> {
        // SAFETY: `open` stored the snapshot, which lives until release.
        let text = unsafe { (*file).private_data.cast::<KVec<u8>>().as_ref() }.ok_or(EINVAL)?;
        // SAFETY: proc_fs passes a valid position pointer.
        let pos = unsafe { *ppos };
        let pos = usize::try_from(pos).map_err(|_| EINVAL)?;
        let Some(rest) = text.get(pos..) else {
            return Ok(0);
        };
        let chunk = rest.get(..len).unwrap_or(rest);
        UserSlice::new(buf as usize, chunk.len())
            .writer()
            .write_slice(chunk)?;
        let end = pos
            .checked_add(chunk.len())
            .and_then(|end| bindings::loff_t::try_from(end).ok())
            .ok_or(EINVAL)?;
        // SAFETY: As above.
        unsafe { *ppos = end };
        Ok(chunk.len() as isize)
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// `write` of /proc/mp3/status.
///
/// # Safety
///
/// Called by proc_fs; `buf` and `len` are untrusted.
#[no_mangle]
unsafe extern "C" fn pfprof_proc_status_write(
    _file: *mut bindings::file,
    buf: *const u8,
    len: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    let result = (|| -> Result<isize> {
        let profiler = Profiler::get().ok_or(ENODEV)?;
        let mut storage = [0u8; MAX_WRITE];
        let input = storage
            .get_mut(..len)
            .filter(|i| !i.is_empty())
            .ok_or(EINVAL)?;
        UserSlice::new(buf as usize, len)
            .reader()
            .read_slice(input)?;
        match parse(input)? {
            Command::Register(pid) => profiler.register(Target::Pid(pid), false).map(|_| ())?,
            Command::Unregister(pid) => profiler.unregister(Target::Pid(pid))?,
        }
        Ok(len as isize)
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}
