//! The safe API over the device: open, register, query, map.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::memory::Mapping;
use crate::sys::{self, abi};
use crate::{Counters, Pid, ProcStats, Status};

/// Where [`Profiler::open`] looks for the device, in order.
pub const DEFAULT_PATHS: [&str; 2] = ["/dev/pfprof", "node"];

/// An open pfprof device whose ABI version was checked.
#[derive(Debug)]
pub struct Profiler {
    file: File,
    path: PathBuf,
    buffer_size: u64,
}

fn open_err(path: &Path, e: io::Error) -> Error {
    match Errno::from_raw(e.raw_os_error().unwrap_or(0)) {
        Errno::ENOENT | Errno::ENXIO | Errno::ENODEV => Error::ModuleNotLoaded {
            tried: vec![path.to_owned()],
        },
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied {
            op: "open the pfprof device",
        },
        _ => Error::Io {
            op: "open the pfprof device",
            source: e,
        },
    }
}

impl Profiler {
    /// Opens `/dev/pfprof`, or else `./node` (the classic `mknod node c 423
    /// 0`), and checks the module's ABI version.
    pub fn open() -> Result<Profiler> {
        let mut tried = Vec::new();
        for p in DEFAULT_PATHS {
            match Profiler::open_path(p) {
                Err(Error::ModuleNotLoaded { tried: t }) => tried.extend(t),
                other => return other,
            }
        }
        Err(Error::ModuleNotLoaded { tried })
    }

    /// Opens the device at `path` and checks the module's ABI version.
    ///
    /// Opens read-write, or read-only if the node's mode does not allow
    /// writing (then the classic ring can only be mapped read-only).
    pub fn open_path(path: impl AsRef<Path>) -> Result<Profiler> {
        let path = path.as_ref();
        // Something else at the device's path (a `node` directory in the
        // working directory, a regular file): say what, naming the path.
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::FileTypeExt as _;
            let t = meta.file_type();
            let what = if t.is_dir() {
                Some("a directory")
            } else if t.is_file() {
                Some("a regular file")
            } else if t.is_block_device() || t.is_fifo() || t.is_socket() {
                Some("not a character device")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(Error::Io {
                    op: "open the pfprof device",
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is {what}, not the pfprof device node (a character device, \
                             `mknod node c 423 0`)",
                            path.display()
                        ),
                    ),
                });
            }
        }
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                File::open(path).map_err(|e| open_err(path, e))?
            }
            Err(e) => return Err(open_err(path, e)),
        };
        let mut v = abi::Version::default();
        // SAFETY: `v` is a valid, writable `abi::Version`, the struct the
        // request number encodes; the fd is open for the call's duration.
        match unsafe { sys::version(file.as_raw_fd(), &mut v) } {
            Ok(_) => {}
            Err(Errno::ENOTTY | Errno::EINVAL) => {
                return Err(Error::NotPfprof {
                    path: path.to_owned(),
                })
            }
            Err(e) => return Err(Error::io("PFPROF_IOC_VERSION", e)),
        }
        if v.abi_version != abi::ABI_VERSION {
            return Err(Error::AbiMismatch {
                module: v.abi_version,
                library: abi::ABI_VERSION,
            });
        }
        Ok(Profiler {
            file,
            path: path.to_owned(),
            buffer_size: v.buffer_size,
        })
    }

    /// The path that was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many bytes of the device can be mapped (the module's answer).
    pub fn buffer_size_bytes(&self) -> u64 {
        self.buffer_size
    }

    fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    fn pid_request(
        &self,
        op: &'static str,
        pid: Option<Pid>,
        flags: u32,
        call: unsafe fn(i32, *const abi::PidArg) -> nix::Result<i32>,
    ) -> Result<()> {
        let arg = abi::PidArg {
            pid: pid.map_or(0, Pid::as_raw),
            flags,
        };
        // SAFETY: `call` is one of the generated register/unregister
        // wrappers, whose argument is a `PidArg`; `arg` lives across the call.
        unsafe { call(self.fd(), &arg) }
            .map(drop)
            .map_err(|e| Error::for_pid(op, pid, e))
    }

    /// Registers a process.
    pub fn register(&self, pid: Pid) -> Result<()> {
        self.pid_request("register", Some(pid), 0, sys::register)
    }

    /// Registers the calling process.
    pub fn register_self(&self) -> Result<()> {
        self.pid_request("register", None, 0, sys::register)
    }

    /// Registers a process as the root of a process tree: every process a
    /// member of the tree forks from now on (not threads) is registered
    /// too, from its fork (even one that lives less than a period), and its
    /// records carry the root in [`ext::Record::tree_root`](crate::ext::Record::tree_root).
    /// Processes forked before this call are not members; orphans
    /// re-parented to init stay members. The module refuses new members
    /// over its limit (see [`Status::tree_refused`]). Fails with
    /// `EOPNOTSUPP` on a kernel without tracepoints.
    pub fn register_tree(&self, pid: Pid) -> Result<()> {
        self.pid_request(
            "register a tree at",
            Some(pid),
            abi::REG_TREE,
            sys::register,
        )
    }

    /// Registers the calling process as the root of a process tree (see
    /// [`register_tree`](Self::register_tree)).
    pub fn register_self_tree(&self) -> Result<()> {
        self.pid_request("register a tree at", None, abi::REG_TREE, sys::register)
    }

    /// Unregisters a process.
    pub fn unregister(&self, pid: Pid) -> Result<()> {
        self.pid_request("unregister", Some(pid), 0, sys::unregister)
    }

    /// Unregisters the calling process.
    pub fn unregister_self(&self) -> Result<()> {
        self.pid_request("unregister", None, 0, sys::unregister)
    }

    /// The global figures.
    pub fn query(&self) -> Result<Status> {
        let mut s = abi::Status::default();
        // SAFETY: `s` is a valid, writable `abi::Status`, the struct the
        // request number encodes.
        unsafe { sys::query(self.fd(), &mut s) }.map_err(|e| Error::io("PFPROF_IOC_QUERY", e))?;
        Ok(s.into())
    }

    fn query_raw(&self, pid: Option<Pid>) -> Result<ProcStats> {
        let mut s = abi::ProcStats {
            pid: pid.map_or(0, Pid::as_raw),
            ..Default::default()
        };
        // SAFETY: `s` is a valid, writable `abi::ProcStats`, the struct the
        // request number encodes.
        unsafe { sys::query_pid(self.fd(), &mut s) }
            .map_err(|e| Error::for_pid("query a process", pid, e))?;
        Ok(ProcStats {
            pid: Pid::new(s.pid).or(pid).unwrap_or_else(Pid::this),
            counters: Counters::new(s.minor_faults, s.major_faults, s.cpu_ns),
            registered_ns: s.registered_ns,
            registered_jiffies: s.registered_jiffies,
        })
    }

    /// A registered process's counters.
    pub fn query_pid(&self, pid: Pid) -> Result<ProcStats> {
        self.query_raw(Some(pid))
    }

    /// The calling process's counters (it must be registered).
    pub fn query_self(&self) -> Result<ProcStats> {
        self.query_raw(None)
    }

    /// The registered processes.
    pub fn list(&self) -> Result<Vec<Pid>> {
        // Ask for the count, then retry with room to spare while the set grows.
        let mut room = 0u32;
        for _ in 0..8 {
            let mut pids = vec![0i32; room as usize];
            let mut l = abi::List {
                capacity: room,
                count: 0,
                pids: pids.as_mut_ptr() as u64,
            };
            // SAFETY: `l` is a valid `abi::List` whose `pids` points to a
            // live, writable array of `capacity` i32s (or is dangling with
            // capacity 0, when the module writes nothing there).
            unsafe { sys::list(self.fd(), &mut l) }.map_err(|e| Error::io("PFPROF_IOC_LIST", e))?;
            if l.count <= room {
                pids.truncate(l.count as usize);
                let mut out: Vec<Pid> = pids.into_iter().filter_map(Pid::new).collect();
                out.sort();
                return Ok(out);
            }
            room = l.count.saturating_add(8);
        }
        Err(Error::Io {
            op: "PFPROF_IOC_LIST",
            source: io::Error::other("the set of registered processes keeps growing"),
        })
    }

    /// Clears every counter, the rings and the figures (needs CAP_SYS_ADMIN).
    pub fn reset(&self) -> Result<()> {
        // SAFETY: RESET takes no argument.
        unsafe { sys::reset(self.fd()) }
            .map(drop)
            .map_err(|e| match e {
                Errno::EPERM | Errno::EACCES => Error::PermissionDenied {
                    op: "reset (needs CAP_SYS_ADMIN)",
                },
                e => Error::io("PFPROF_IOC_RESET", e),
            })
    }

    /// Sets the sampling period (needs CAP_SYS_ADMIN), between
    /// [`PERIOD_MIN_US`](crate::PERIOD_MIN_US) and
    /// [`PERIOD_MAX_US`](crate::PERIOD_MAX_US).
    pub fn set_period_us(&self, period_us: u32) -> Result<()> {
        let p = abi::Period {
            period_us,
            reserved: 0,
        };
        // SAFETY: `p` is a valid `abi::Period`, the struct the request encodes.
        unsafe { sys::set_period(self.fd(), &p) }
            .map(drop)
            .map_err(|e| match e {
                Errno::EPERM | Errno::EACCES => Error::PermissionDenied {
                    op: "set the period (needs CAP_SYS_ADMIN)",
                },
                Errno::EINVAL => Error::InvalidArgument {
                    what: format!(
                        "period {period_us} us (allowed: {} to {} us)",
                        abi::PERIOD_MIN_US,
                        abi::PERIOD_MAX_US
                    ),
                },
                e => Error::io("PFPROF_IOC_SET_PERIOD", e),
            })
    }

    /// The sampling period.
    pub fn period(&self) -> Result<Duration> {
        Ok(Duration::from_micros(self.query()?.period_us.into()))
    }

    /// Maps the classic ring (128 pages); writable for a destructive reader.
    pub fn map_classic(&self, writable: bool) -> Result<Mapping> {
        Mapping::new(
            &self.file,
            abi::CLASSIC_OFFSET,
            abi::CLASSIC_SIZE as usize,
            writable,
        )
    }

    /// Maps the extended region (read-only) and checks its header.
    pub fn map_extended(&self) -> Result<Mapping> {
        let m = Mapping::new(&self.file, abi::EXT_OFFSET, abi::EXT_SIZE as usize, false)?;
        crate::ext::header(&m)?;
        Ok(m)
    }

    /// A stream over `region` (from [`map_extended`](Self::map_extended))
    /// that starts at the first record written since the last reset, like
    /// the classic ring, which a reset empties. (The extended ring keeps
    /// its sequence across resets, so followers never see it go back.)
    pub fn stream_since_reset(&self, region: &Mapping) -> Result<crate::ext::Stream> {
        // The header keeps the head at the last reset.
        let header = crate::ext::header(region)?;
        crate::ext::Stream::starting_at(region, header.reset_head)
    }

    /// Makes `cmd` register its process with pfprof after fork and before
    /// exec, so not one fault of the new program is missed. Spawning fails
    /// if registration fails.
    pub fn register_on_spawn(&self, cmd: &mut Command) -> Result<()> {
        self.register_on_spawn_flags(cmd, 0)
    }

    /// As [`register_on_spawn`](Self::register_on_spawn), as the root of a
    /// process tree ([`register_tree`](Self::register_tree)): the command
    /// and every process it starts are profiled.
    pub fn register_tree_on_spawn(&self, cmd: &mut Command) -> Result<()> {
        self.register_on_spawn_flags(cmd, abi::REG_TREE)
    }

    fn register_on_spawn_flags(&self, cmd: &mut Command, flags: u32) -> Result<()> {
        let fd: OwnedFd = self
            .file
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Io {
                op: "duplicate the device fd",
                source: e,
            })?;
        let hook = move || {
            let arg = abi::PidArg { pid: 0, flags };
            // SAFETY: `fd` is the pfprof device (duplicated, still open in
            // the child) and `arg` a valid `PidArg`; ioctl is
            // async-signal-safe, and nothing here allocates.
            unsafe { sys::register(fd.as_raw_fd(), &arg) }
                .map(drop)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))
        };
        // SAFETY: the hook only makes one ioctl system call and builds an
        // io::Error from an errno, which is safe between fork and exec.
        unsafe { cmd.pre_exec(hook) };
        Ok(())
    }
}

impl AsFd for Profiler {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Maps an error from spawning a [`Profiler::register_on_spawn`] command.
pub fn spawn_error(e: io::Error) -> Error {
    match e.raw_os_error().map(Errno::from_raw) {
        Some(errno @ (Errno::ESRCH | Errno::EEXIST | Errno::EPERM)) => {
            Error::for_pid("register the command", None, errno)
        }
        _ => Error::Io {
            op: "start the command",
            source: e,
        },
    }
}
