// SPDX-License-Identifier: GPL-2.0

//! The sysfs control plane: the class `pfprof` and its device `pfprof`
//! (423:0), so devtmpfs/udev create `/dev/pfprof` (mode 0666: the ioctls
//! check permissions themselves), with these attributes in
//! `/sys/class/pfprof/pfprof/`:
//!
//! - `period_us` (read-write; writing needs CAP_SYS_ADMIN): the sampling
//!   period, 1000 to 10000000.
//! - `tree_limit` (read-write; writing needs CAP_SYS_ADMIN): the number of
//!   registered processes above which process-tree members' new processes
//!   are refused, 1 to 1048576 (16384 at load); `tree_refused` (read-only):
//!   those refused since load.
//! - read-only: `state` (`idle` or `running`), `hz`, `registered`,
//!   `samples_written`, `samples_lost`, `records_written`, `ticks`,
//!   `overruns`, `process_samples`, `cost_total_ns`, `cost_last_ns`,
//!   `cost_max_ns` (the fields of the QUERY ioctl's `struct pfprof_status`).

use core::fmt::Write;
use core::ptr::{null, null_mut};

use kernel::bindings;
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::str::CStr;

use crate::abi;
use crate::profiler::Profiler;
use crate::text;

/// A device attribute in a static table.
struct Attr(bindings::device_attribute);

// SAFETY: Never written after initialisation; holds pointers to static
// strings and functions only.
unsafe impl Sync for Attr {}

// Without lockdep every field of `attribute` is named, and clippy calls the
// zeroed rest needless; with it (the debug kernel) the rest is not empty.
#[allow(clippy::needless_update)]
const fn attr(name: &'static CStr, writable: bool) -> Attr {
    Attr(bindings::device_attribute {
        attr: bindings::attribute {
            name: name.as_char_ptr(),
            mode: if writable { 0o644 } else { 0o444 },
            // SAFETY: All-zero is valid for the lockdep fields that exist
            // with CONFIG_DEBUG_LOCK_ALLOC (a bool and two null pointers).
            ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
        },
        show: Some(show),
        store: if writable { Some(store) } else { None },
    })
}

static PERIOD_US: Attr = attr(kernel::c_str!("period_us"), true);
static STATE: Attr = attr(kernel::c_str!("state"), false);
static HZ: Attr = attr(kernel::c_str!("hz"), false);
static REGISTERED: Attr = attr(kernel::c_str!("registered"), false);
static SAMPLES_WRITTEN: Attr = attr(kernel::c_str!("samples_written"), false);
static SAMPLES_LOST: Attr = attr(kernel::c_str!("samples_lost"), false);
static RECORDS_WRITTEN: Attr = attr(kernel::c_str!("records_written"), false);
static TICKS: Attr = attr(kernel::c_str!("ticks"), false);
static OVERRUNS: Attr = attr(kernel::c_str!("overruns"), false);
static PROCESS_SAMPLES: Attr = attr(kernel::c_str!("process_samples"), false);
static COST_TOTAL_NS: Attr = attr(kernel::c_str!("cost_total_ns"), false);
static COST_LAST_NS: Attr = attr(kernel::c_str!("cost_last_ns"), false);
static COST_MAX_NS: Attr = attr(kernel::c_str!("cost_max_ns"), false);
static TREE_LIMIT: Attr = attr(kernel::c_str!("tree_limit"), true);
static TREE_REFUSED: Attr = attr(kernel::c_str!("tree_refused"), false);

const fn ptr(a: &'static Attr) -> *mut bindings::attribute {
    (&raw const a.0.attr).cast_mut()
}

/// A null-terminated array of pointers, as sysfs wants them.
struct PtrList<T, const N: usize>([T; N]);

// SAFETY: Never written after initialisation; points to statics only.
unsafe impl<T, const N: usize> Sync for PtrList<T, N> {}

static ATTRS: PtrList<*mut bindings::attribute, 16> = PtrList([
    ptr(&PERIOD_US),
    ptr(&STATE),
    ptr(&HZ),
    ptr(&REGISTERED),
    ptr(&SAMPLES_WRITTEN),
    ptr(&SAMPLES_LOST),
    ptr(&RECORDS_WRITTEN),
    ptr(&TICKS),
    ptr(&OVERRUNS),
    ptr(&PROCESS_SAMPLES),
    ptr(&COST_TOTAL_NS),
    ptr(&COST_LAST_NS),
    ptr(&COST_MAX_NS),
    ptr(&TREE_LIMIT),
    ptr(&TREE_REFUSED),
    null_mut(),
]);

struct Group(bindings::attribute_group);

// SAFETY: Never written after initialisation; points to statics only.
unsafe impl Sync for Group {}

static GROUP: Group = Group(bindings::attribute_group {
    attrs: ATTRS.0.as_ptr().cast_mut(),
    // SAFETY: All-zero is valid for the other fields (no name, no callbacks).
    ..unsafe { core::mem::MaybeUninit::zeroed().assume_init() }
});

static GROUPS: PtrList<*const bindings::attribute_group, 2> = PtrList([&raw const GROUP.0, null()]);

/// Writes formatted text into a sysfs page.
struct Page<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Page<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `show` of every attribute: the value named by the attribute's name.
///
/// # Safety
///
/// Called by sysfs with a valid attribute and a PAGE_SIZE buffer.
unsafe extern "C" fn show(
    _dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *mut u8,
) -> isize {
    let Some(profiler) = Profiler::get() else {
        return ENODEV.to_errno() as isize;
    };
    // SAFETY: The attribute is one of ours, named by a static C string.
    let name = unsafe { CStr::from_char_ptr((*attr).attr.name) }.as_bytes();
    // SAFETY: sysfs passes a buffer of PAGE_SIZE bytes for us to fill.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf, bindings::PAGE_SIZE) };
    let mut page = Page { buf, len: 0 };
    let s = profiler.status();
    let res = match name {
        b"state" => writeln!(
            page,
            "{}",
            if s.state == abi::STATE_RUNNING {
                "running"
            } else {
                "idle"
            }
        ),
        b"period_us" => writeln!(page, "{}", s.period_us),
        b"hz" => writeln!(page, "{}", s.hz),
        b"registered" => writeln!(page, "{}", s.registered),
        b"samples_written" => writeln!(page, "{}", s.samples_written),
        b"samples_lost" => writeln!(page, "{}", s.samples_lost),
        b"records_written" => writeln!(page, "{}", s.records_written),
        b"ticks" => writeln!(page, "{}", s.ticks),
        b"overruns" => writeln!(page, "{}", s.overruns),
        b"process_samples" => writeln!(page, "{}", s.process_samples),
        b"cost_total_ns" => writeln!(page, "{}", s.cost_total_ns),
        b"cost_last_ns" => writeln!(page, "{}", s.cost_last_ns),
        b"cost_max_ns" => writeln!(page, "{}", s.cost_max_ns),
        b"tree_limit" => writeln!(page, "{}", profiler.tree_limit()),
        b"tree_refused" => writeln!(page, "{}", s.tree_refused),
        _ => return EIO.to_errno() as isize,
    };
    match res {
        Ok(()) => page.len as isize,
        Err(_) => EIO.to_errno() as isize,
    }
}

/// `store` of `period_us` and `tree_limit`.
///
/// # Safety
///
/// Called by sysfs with a valid attribute and `count` readable bytes at `buf`.
unsafe extern "C" fn store(
    _dev: *mut bindings::device,
    attr: *mut bindings::device_attribute,
    buf: *const u8,
    count: usize,
) -> isize {
    let result = (|| -> Result<isize> {
        let profiler = Profiler::get().ok_or(ENODEV)?;
        if !crate::process::caller_is_admin() {
            return Err(EPERM);
        }
        // SAFETY: sysfs passes `count` valid bytes (a kernel copy).
        let input = unsafe { core::slice::from_raw_parts(buf, count) };
        let value = text::decimal(text::trim(input), u32::MAX.into())?;
        let value = u32::try_from(value).map_err(|_| EINVAL)?;
        // SAFETY: The attribute is one of ours, named by a static C string.
        let name = unsafe { CStr::from_char_ptr((*attr).attr.name) }.as_bytes();
        match name {
            b"tree_limit" => profiler.set_tree_limit(value)?,
            _ => profiler.set_period_us(value)?,
        }
        Ok(count as isize)
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// `class->devnode`: /dev/pfprof is 0666; the ioctls check permissions.
///
/// # Safety
///
/// Called by the driver core with a valid or null `mode`.
unsafe extern "C" fn devnode(
    _dev: *const bindings::device,
    mode: *mut bindings::umode_t,
) -> *mut u8 {
    if !mode.is_null() {
        // SAFETY: Non-null, so it points to the mode to fill in.
        unsafe { *mode = 0o666 };
    }
    null_mut()
}

/// The class and its device.
///
/// # Invariants
///
/// `class` is a live class from `class_create` and `devt` a device created
/// in it, both owned by this value.
pub(crate) struct ClassDevice {
    class: *mut bindings::class,
    devt: bindings::dev_t,
}

// SAFETY: The pointers are only used to destroy the objects, from any thread.
unsafe impl Send for ClassDevice {}
// SAFETY: No shared access goes through `&ClassDevice`.
unsafe impl Sync for ClassDevice {}

impl ClassDevice {
    /// Creates class `pfprof` and its device for `major`:0 with the attributes.
    pub(crate) fn new(major: u32) -> Result<Self> {
        // SAFETY: The name is a static C string.
        let class = from_err_ptr(unsafe {
            bindings::class_create(kernel::c_str!("pfprof").as_char_ptr())
        })?;
        // SAFETY: The class was just created and is not yet in use.
        unsafe { (*class).devnode = Some(devnode) };
        let devt = major << 20;
        // SAFETY: The class is live, the group list and the name are static,
        // and the format has no conversions.
        let dev = unsafe {
            bindings::device_create_with_groups(
                class,
                null_mut(),
                devt,
                null_mut(),
                GROUPS.0.as_ptr().cast_mut(),
                kernel::c_str!("pfprof").as_char_ptr(),
            )
        };
        if let Err(e) = from_err_ptr(dev) {
            // SAFETY: Created above and unused.
            unsafe { bindings::class_destroy(class) };
            return Err(e);
        }
        // INVARIANT: Both were created above.
        Ok(ClassDevice { class, devt })
    }
}

impl Drop for ClassDevice {
    fn drop(&mut self) {
        // SAFETY: By the type invariant both exist. Removing the device waits
        // for attribute callbacks in progress.
        unsafe {
            bindings::device_destroy(self.class, self.devt);
            bindings::class_destroy(self.class);
        }
    }
}
