//! The safe API over the device: open, register, query, map.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::memory::Mapping;
use crate::sys::{self, abi};

/// Where [`Profiler::open`] looks for the device, in order.
pub const DEFAULT_PATHS: [&str; 2] = ["/dev/pfprof", "node"];

/// A process id (thread group id), always positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(i32);

impl Pid {
    /// `Some` for a positive id.
    pub const fn new(raw: i32) -> Option<Pid> {
        if raw > 0 {
            Some(Pid(raw))
        } else {
            None
        }
    }

    /// The calling process.
    pub fn this() -> Pid {
        // Linux pids fit in i32 (pid_max <= 2^22).
        Pid(std::process::id() as i32)
    }

    /// The raw id.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The error of parsing a [`Pid`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePidError(String);

impl fmt::Display for ParsePidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a process id (a positive integer)", self.0)
    }
}

impl std::error::Error for ParsePidError {}

impl FromStr for Pid {
    type Err = ParsePidError;
    fn from_str(s: &str) -> Result<Self, ParsePidError> {
        s.trim()
            .parse::<i32>()
            .ok()
            .and_then(Pid::new)
            .ok_or_else(|| ParsePidError(s.to_owned()))
    }
}

/// Whether the sampler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Nothing registered; the sampler is stopped.
    Idle,
    /// The sampler is running.
    Running,
    /// A state this library does not know.
    Unknown(u32),
}

impl State {
    pub(crate) fn from_raw(raw: u32) -> State {
        match raw {
            abi::STATE_IDLE => State::Idle,
            abi::STATE_RUNNING => State::Running,
            other => State::Unknown(other),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Idle => f.write_str("idle"),
            State::Running => f.write_str("running"),
            State::Unknown(n) => write!(f, "unknown ({n})"),
        }
    }
}

/// The module's global figures (`PFPROF_IOC_QUERY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The module's ABI version.
    pub abi_version: u32,
    /// Whether the sampler runs.
    pub state: State,
    /// The kernel's HZ (jiffies per second).
    pub hz: u32,
    /// The sampling period in microseconds.
    pub period_us: u32,
    /// Registered processes.
    pub registered: u32,
    /// Classic samples written since load or reset.
    pub samples_written: u64,
    /// Classic samples that overwrote a slot nobody had consumed.
    pub samples_lost: u64,
    /// Extended records written since load or reset.
    pub records_written: u64,
    /// Sampler ticks since load or reset.
    pub ticks: u64,
    /// Times the sampler fell more than 10 periods behind and restarted its
    /// schedule (a late sampler otherwise catches up).
    pub overruns: u64,
    /// Process samples taken (sum over ticks of processes sampled).
    pub process_samples: u64,
    /// Total time spent sampling, in nanoseconds.
    pub cost_total_ns: u64,
    /// Time the last tick spent sampling, in nanoseconds.
    pub cost_last_ns: u64,
    /// Longest tick, in nanoseconds.
    pub cost_max_ns: u64,
}

impl From<abi::Status> for Status {
    fn from(s: abi::Status) -> Self {
        Status {
            abi_version: s.abi_version,
            state: State::from_raw(s.state),
            hz: s.hz,
            period_us: s.period_us,
            registered: s.registered,
            samples_written: s.samples_written,
            samples_lost: s.samples_lost,
            records_written: s.records_written,
            ticks: s.ticks,
            overruns: s.overruns,
            process_samples: s.process_samples,
            cost_total_ns: s.cost_total_ns,
            cost_last_ns: s.cost_last_ns,
            cost_max_ns: s.cost_max_ns,
        }
    }
}

impl Status {
    /// An all-zero value for tests and fixtures.
    #[doc(hidden)]
    pub fn fixture() -> Self {
        abi::Status::default().into()
    }
}

/// One registered process's counters (`PFPROF_IOC_QUERY_PID`), cumulative
/// since its registration or the last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcStats {
    /// The process.
    pub pid: Pid,
    /// Minor faults.
    pub minor_faults: u64,
    /// Major faults.
    pub major_faults: u64,
    /// CPU time (user + system, all threads), in nanoseconds.
    pub cpu_ns: u64,
    /// CLOCK_MONOTONIC at registration, in nanoseconds.
    pub registered_ns: u64,
    /// `jiffies` at registration.
    pub registered_jiffies: u64,
}

impl ProcStats {
    /// A value for tests and fixtures.
    #[doc(hidden)]
    pub fn fixture(
        pid: Pid,
        minor_faults: u64,
        major_faults: u64,
        cpu_ns: u64,
        registered_ns: u64,
    ) -> Self {
        ProcStats {
            pid,
            minor_faults,
            major_faults,
            cpu_ns,
            registered_ns,
            registered_jiffies: 0,
        }
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds (the clock of `time_ns` and
/// `registered_ns`).
pub fn monotonic_now_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => (ts.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec() as u64),
        Err(_) => 0,
    }
}

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
        call: unsafe fn(i32, *const abi::PidArg) -> nix::Result<i32>,
    ) -> Result<()> {
        let arg = abi::PidArg {
            pid: pid.map_or(0, Pid::as_raw),
            flags: 0,
        };
        // SAFETY: `call` is one of the generated register/unregister
        // wrappers, whose argument is a `PidArg`; `arg` lives across the call.
        unsafe { call(self.fd(), &arg) }
            .map(drop)
            .map_err(|e| Error::for_pid(op, pid, e))
    }

    /// Registers a process.
    pub fn register(&self, pid: Pid) -> Result<()> {
        self.pid_request("register", Some(pid), sys::register)
    }

    /// Registers the calling process.
    pub fn register_self(&self) -> Result<()> {
        self.pid_request("register", None, sys::register)
    }

    /// Unregisters a process.
    pub fn unregister(&self, pid: Pid) -> Result<()> {
        self.pid_request("unregister", Some(pid), sys::unregister)
    }

    /// Unregisters the calling process.
    pub fn unregister_self(&self) -> Result<()> {
        self.pid_request("unregister", None, sys::unregister)
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
            minor_faults: s.minor_faults,
            major_faults: s.major_faults,
            cpu_ns: s.cpu_ns,
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
        let fd: OwnedFd = self
            .file
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::Io {
                op: "duplicate the device fd",
                source: e,
            })?;
        let hook = move || {
            let arg = abi::PidArg { pid: 0, flags: 0 };
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

/// The calling process's registration; unregisters it on drop.
#[derive(Debug)]
#[must_use = "dropping the guard unregisters the process"]
pub struct Registration {
    // `None` once unregistered explicitly.
    profiler: Option<Profiler>,
}

impl Registration {
    /// The device the registration was made through.
    pub fn profiler(&self) -> Option<&Profiler> {
        self.profiler.as_ref()
    }

    /// Unregisters now and reports the result (drop ignores it).
    pub fn unregister(mut self) -> Result<()> {
        match self.profiler.take() {
            Some(p) => p.unregister_self(),
            None => Ok(()),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // Already gone (unregistered elsewhere, or the module unloaded) is
        // fine: there is nothing to report from a drop.
        if let Some(p) = self.profiler.take() {
            let _ = p.unregister_self();
        }
    }
}

/// Registers the calling process ([`Profiler::open`], then
/// [`register_self`](Profiler::register_self)); the guard unregisters it on
/// drop.
pub fn register() -> Result<Registration> {
    let profiler = Profiler::open()?;
    profiler.register_self()?;
    Ok(Registration {
        profiler: Some(profiler),
    })
}
