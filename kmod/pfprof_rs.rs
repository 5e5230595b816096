// SPDX-License-Identifier: GPL-2.0

//! pfprof: a page-fault profiler.
//!
//! Keeps a list of registered processes and, 20 times a second, records their
//! minor and major page faults and CPU time into a buffer that user space maps
//! through the character device 423:0. `/proc/mp3/status` keeps the classic
//! MP3 interface (`echo "R <pid>" > /proc/mp3/status`) working.

use kernel::{c_str, prelude::*};

mod chrdev;
mod procfs;

module! {
    type: Pfprof,
    name: "pfprof",
    author: "pfprof developers",
    description: "Page-fault profiler: per-process minor/major faults and CPU time at 20 Hz",
    license: "GPL",
}

/// The classic device number: `mknod node c 423 0`.
const MAJOR: u32 = 423;

struct Pfprof {
    // Fields drop in declaration order: the reverse of setup.
    _status: procfs::StatusFile,
    _chrdev: chrdev::Registration,
}

impl kernel::Module for Pfprof {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let chrdev = chrdev::Registration::new(MAJOR, c_str!("pfprof"))?;
        let status = procfs::StatusFile::create()?;
        pr_info!("loaded: char device {MAJOR}:0, /proc/mp3/status\n");
        Ok(Pfprof {
            _status: status,
            _chrdev: chrdev,
        })
    }
}

impl Drop for Pfprof {
    fn drop(&mut self) {
        pr_info!("unloading\n");
    }
}
