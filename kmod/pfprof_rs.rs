// SPDX-License-Identifier: GPL-2.0

//! pfprof: a page-fault profiler.
//!
//! Keeps a set of registered processes and, while at least one is
//! registered, samples them every period (50 ms, 20 Hz, by default) in a
//! work item that an hrtimer queues on absolute deadlines: minor and major page faults and CPU time of each whole
//! process (all threads, the exited ones too). The per-period deltas go into
//! a vmalloc'd buffer that user space maps through the character device
//! 423:0: the classic ring (totals over all processes, the layout the classic
//! MP3 monitor reads) and an extended ring of per-process records, which also
//! carry each process's memory at the sample (resident anonymous, file and
//! shmem memory, swap, peak RSS). The ABI is in `abi.rs` and
//! `include/pfprof.h`.
//!
//! A process registered with `PFPROF_REG_TREE` is the root of a process
//! tree: a probe on the `sched_process_fork` tracepoint (`tree.rs`, the
//! glue) has every process a member forks registered too, from its fork,
//! with the root's pid in its records (`tree_root`).
//!
//! Control planes: ioctls on the device, `/proc/mp3/status` (`R <pid>`,
//! `U <pid>`, as the classic module had), and sysfs
//! (`/sys/class/pfprof/pfprof/`).
//!
//! # Example: user space, in C
//!
//! ```c
//! #include <fcntl.h>
//! #include <stdio.h>
//! #include <sys/ioctl.h>
//! #include <sys/mman.h>
//! #include "pfprof.h"
//!
//! int fd = open("/dev/pfprof", O_RDWR);
//! struct pfprof_pid_arg self = { .pid = 0 };      // 0: the caller
//! ioctl(fd, PFPROF_IOC_REGISTER, &self);          // ESRCH, EEXIST, EPERM
//! // ... do some work; the sampler runs every 50 ms ...
//! struct pfprof_proc_stats st = { .pid = 0 };
//! ioctl(fd, PFPROF_IOC_QUERY_PID, &st);           // cumulative since registration
//! printf("%llu minor faults\n", (unsigned long long)st.minor_faults);
//! const __u64 *ring = mmap(NULL, PFPROF_CLASSIC_SIZE, PROT_READ,
//!                          MAP_SHARED, fd, PFPROF_CLASSIC_OFFSET);
//! for (int i = 0; i < PFPROF_CLASSIC_SAMPLES && ring[4 * i] != PFPROF_CLASSIC_EMPTY; i++)
//!     printf("%llu %llu %llu %llu\n", ring[4 * i], ring[4 * i + 1],
//!            ring[4 * i + 2], ring[4 * i + 3]);       // jiffies, minflt, majflt, cpu ns
//! ioctl(fd, PFPROF_IOC_UNREGISTER, &self);
//! ```
//!
//! # Teardown
//!
//! The reverse of setup: the control planes go first (each waits for its
//! callbacks in progress; an open file or a mapping holds the module, so
//! unloading waits for those), then the sampler is disabled for good, then
//! the registry (releasing every task reference) and the buffer are freed.

use kernel::{c_str, prelude::*};

// Shared with user space (libpfprof includes the same file): public items
// the module itself does not use are part of the ABI all the same.
#[allow(dead_code, unreachable_pub)]
mod abi;
mod buffer;
mod chrdev;
mod ioctl;
mod process;
mod procfs;
mod profiler;
mod registry;
mod sampler;
mod sysfs;
mod text;
mod tree;

use profiler::Profiler;

module! {
    type: Pfprof,
    name: "pfprof",
    author: "pfprof developers",
    description: "Page-fault profiler: per-process minor/major faults and CPU time at 20 Hz",
    license: "GPL",
}

struct Pfprof {
    // Fields drop in declaration order, the reverse of setup; `Drop` below
    // stops the sampler between the control planes and the profiler.
    control: Option<ControlPlanes>,
    profiler: Pin<KBox<Profiler>>,
}

/// Everything through which user space reaches the profiler.
struct ControlPlanes {
    _class_device: sysfs::ClassDevice,
    _status: procfs::StatusFile,
    _chrdev: chrdev::Registration,
}

impl kernel::Module for Pfprof {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let profiler = KBox::pin_init(Profiler::new()?, GFP_KERNEL)?;
        // SAFETY: The profiler is pinned in a box that `Pfprof` owns; `Drop`
        // removes every control plane and disables the sampler, so no
        // callback can run, before the box is freed.
        unsafe { profiler.as_ref().publish() };
        if let Err(e) = profiler.enable_trees() {
            pr_info!("process trees unavailable (error {})\n", e.to_errno());
        }
        let control = (|| -> Result<ControlPlanes> {
            let chrdev = chrdev::Registration::new(abi::MAJOR, c_str!("pfprof"))?;
            let status = procfs::StatusFile::create()?;
            let class_device = sysfs::ClassDevice::new(abi::MAJOR)?;
            Ok(ControlPlanes {
                _class_device: class_device,
                _status: status,
                _chrdev: chrdev,
            })
        })();
        let control = match control {
            Ok(c) => c,
            Err(e) => {
                profiler.shutdown();
                return Err(e);
            }
        };
        pr_info!(
            "loaded: /dev/pfprof ({}:0), /proc/mp3/status, HZ={}, period {} us\n",
            abi::MAJOR,
            sampler::HZ,
            profiler.period_us()
        );
        Ok(Pfprof {
            control: Some(control),
            profiler,
        })
    }
}

impl Drop for Pfprof {
    fn drop(&mut self) {
        // No new callbacks after this (each removal waits for those running).
        drop(self.control.take());
        // Then the sampler, for good; the profiler is freed after this.
        self.profiler.shutdown();
        pr_info!("unloaded\n");
    }
}
