//! libpfprof: the Rust library over the pfprof kernel module's ABI.
//!
//! This first version knows the classic interface: the device number, the
//! registration file and the layout of the classic profile buffer, and
//! decodes that buffer. The typed ioctl API follows with the full module.

#![deny(missing_docs)]

pub mod classic;

/// Major number of the pfprof character device (`mknod node c 423 0`).
pub const DEVICE_MAJOR: u32 = 423;

/// Minor number of the pfprof character device.
pub const DEVICE_MINOR: u32 = 0;

/// The classic registration file: write `R <pid>` or `U <pid>`, read pids.
pub const PROC_STATUS: &str = "/proc/mp3/status";
