//! Raw access to the module for the in-VM tests: the ABI straight from
//! kmod/abi.rs and plain libc calls, so the tests check the kernel side
//! without going through libpfprof.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The ABI, from the one file that defines it.
#[path = "../../kmod/abi.rs"]
#[allow(dead_code)]
pub mod abi;

/// The classic registration file.
pub const PROC_STATUS: &str = "/proc/mp3/status";
/// The sysfs directory of the device.
pub const SYSFS: &str = "/sys/class/pfprof/pfprof";

/// Every ioctl request the module implements.
pub const KNOWN_IOCTLS: [u32; 8] = [
    abi::IOC_VERSION,
    abi::IOC_REGISTER,
    abi::IOC_UNREGISTER,
    abi::IOC_QUERY,
    abi::IOC_QUERY_PID,
    abi::IOC_LIST,
    abi::IOC_RESET,
    abi::IOC_SET_PERIOD,
];

/// The device, opened read-write.
#[derive(Debug)]
pub struct Dev(pub File);

impl Dev {
    pub fn open() -> Dev {
        Dev(OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/pfprof")
            .expect("open /dev/pfprof"))
    }

    /// ioctl with a pointer argument; the return value or the errno.
    pub fn ioctl<T>(&self, req: u32, arg: *mut T) -> Result<i32, i32> {
        self.ioctl_raw(req, arg as usize)
    }

    /// ioctl with any argument value.
    pub fn ioctl_raw(&self, req: u32, arg: usize) -> Result<i32, i32> {
        // SAFETY: The fd is open; the kernel validates `arg` (the tests pass
        // bad pointers on purpose, which the kernel must reject).
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), req as libc::c_ulong, arg) };
        if r < 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r)
        }
    }

    pub fn register(&self, pid: i32) -> Result<i32, i32> {
        let mut a = abi::PidArg { pid, flags: 0 };
        self.ioctl(abi::IOC_REGISTER, &mut a)
    }

    pub fn unregister(&self, pid: i32) -> Result<i32, i32> {
        let mut a = abi::PidArg { pid, flags: 0 };
        self.ioctl(abi::IOC_UNREGISTER, &mut a)
    }

    pub fn status(&self) -> abi::Status {
        let mut s = abi::Status::default();
        self.ioctl(abi::IOC_QUERY, &mut s).expect("QUERY");
        s
    }

    pub fn proc_stats(&self, pid: i32) -> Result<abi::ProcStats, i32> {
        let mut s = abi::ProcStats {
            pid,
            ..Default::default()
        };
        self.ioctl(abi::IOC_QUERY_PID, &mut s).map(|_| s)
    }

    pub fn list(&self) -> Vec<i32> {
        let mut a = abi::List::default();
        self.ioctl(abi::IOC_LIST, &mut a).expect("LIST count");
        let mut pids = vec![0i32; a.count as usize + 8];
        a.capacity = pids.len() as u32;
        a.pids = pids.as_mut_ptr() as u64;
        self.ioctl(abi::IOC_LIST, &mut a).expect("LIST");
        pids.truncate(a.count as usize);
        pids
    }

    pub fn set_period_us(&self, us: u32) -> Result<i32, i32> {
        let mut p = abi::Period {
            period_us: us,
            reserved: 0,
        };
        self.ioctl(abi::IOC_SET_PERIOD, &mut p)
    }

    pub fn reset(&self) -> Result<i32, i32> {
        self.ioctl_raw(abi::IOC_RESET, 0)
    }

    /// Waits until the sampler has ticked `n` more times (or panics after
    /// `n` periods plus 20 s).
    pub fn wait_ticks(&self, n: u64) {
        let start = self.status();
        let deadline = Instant::now()
            + Duration::from_micros(u64::from(start.period_us) * n)
            + Duration::from_secs(20);
        while self.status().ticks < start.ticks + n {
            assert!(
                Instant::now() < deadline,
                "the sampler did not tick {n} times"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Unregisters everything and resets, so each test starts clean.
    pub fn clean(&self) {
        for pid in self.list() {
            let _ = self.unregister(pid);
        }
        self.reset().expect("RESET");
        self.set_period_us(abi::PERIOD_DEFAULT_US)
            .expect("SET_PERIOD");
    }
}

/// Writes a command to /proc/mp3/status in one write; the errno on failure.
pub fn proc_write(bytes: &[u8]) -> Result<(), i32> {
    let mut f = OpenOptions::new()
        .write(true)
        .open(PROC_STATUS)
        .map_err(|e| e.raw_os_error().unwrap_or(0))?;
    match f.write(bytes) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(n) => panic!("short write {n} of {}", bytes.len()),
        Err(e) => Err(e.raw_os_error().unwrap_or(0)),
    }
}

/// The pids /proc/mp3/status lists.
pub fn proc_pids() -> Vec<i32> {
    std::fs::read_to_string(PROC_STATUS)
        .expect("read /proc/mp3/status")
        .lines()
        .map(|l| l.parse().expect("a pid per line"))
        .collect()
}

/// Reads a sysfs attribute of the device.
pub fn sysfs(name: &str) -> String {
    std::fs::read_to_string(format!("{SYSFS}/{name}"))
        .unwrap_or_else(|e| panic!("read {SYSFS}/{name}: {e}"))
        .trim()
        .to_owned()
}

/// A mapping of the device.
#[derive(Debug)]
pub struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

impl Mapping {
    /// mmap of the device; the errno on failure.
    pub fn new(dev: &Dev, offset: u64, len: usize, prot: i32, flags: i32) -> Result<Mapping, i32> {
        // SAFETY: A fresh mapping chosen by the kernel; nothing is aliased.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                flags,
                dev.0.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(Mapping {
                ptr: ptr.cast(),
                len,
            })
        }
    }

    /// The whole classic ring, read-only.
    pub fn classic(dev: &Dev) -> Mapping {
        Mapping::new(
            dev,
            abi::CLASSIC_OFFSET,
            abi::CLASSIC_SIZE as usize,
            libc::PROT_READ,
            libc::MAP_SHARED,
        )
        .expect("map the classic ring")
    }

    /// The whole extended region (read-only, as it must be).
    pub fn extended(dev: &Dev) -> Mapping {
        Mapping::new(
            dev,
            abi::EXT_OFFSET,
            abi::EXT_SIZE as usize,
            libc::PROT_READ,
            libc::MAP_SHARED,
        )
        .expect("map the extended region")
    }

    /// The `u64` at byte offset `at`, read as the module writes it.
    pub fn u64(&self, at: usize) -> u64 {
        assert!(at + 8 <= self.len && at.is_multiple_of(8));
        // SAFETY: In bounds and aligned; the kernel writes it atomically.
        unsafe {
            (*self.ptr.add(at).cast::<std::sync::atomic::AtomicU64>())
                .load(std::sync::atomic::Ordering::Acquire)
        }
    }

    /// The `u32` at byte offset `at`.
    pub fn u32(&self, at: usize) -> u32 {
        assert!(at + 4 <= self.len && at.is_multiple_of(4));
        // SAFETY: As in `u64`.
        unsafe {
            (*self.ptr.add(at).cast::<std::sync::atomic::AtomicU32>())
                .load(std::sync::atomic::Ordering::Acquire)
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: We own this mapping.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// The classic samples in slots 0.. up to the first unused one.
pub fn classic_samples(m: &Mapping) -> Vec<[u64; 4]> {
    let mut out = Vec::new();
    for slot in 0..abi::CLASSIC_SAMPLES as usize {
        let at = slot * 32;
        let j = m.u64(at);
        if j == abi::CLASSIC_EMPTY {
            break;
        }
        out.push([j, m.u64(at + 8), m.u64(at + 16), m.u64(at + 24)]);
    }
    out
}

/// The extended records currently in the ring with `seq` in `from..head`.
pub fn ext_records(m: &Mapping, from: u64) -> Vec<abi::Record> {
    use std::mem::offset_of;
    let head = m.u64(offset_of!(abi::ExtHeader, head));
    let mut out = Vec::new();
    let first = from.max(head.saturating_sub(abi::EXT_RECORDS));
    for n in first..head {
        let at = (abi::EXT_HEADER_SIZE + (n % abi::EXT_RECORDS) * abi::RECORD_SIZE) as usize;
        let seq = m.u64(at);
        let rec = abi::Record {
            seq,
            time_ns: m.u64(at + 8),
            jiffies: m.u64(at + 16),
            pid: m.u32(at + 24) as i32,
            flags: m.u32(at + 28),
            minor_faults: m.u64(at + 32),
            major_faults: m.u64(at + 40),
            cpu_ns: m.u64(at + 48),
            rss_anon_bytes: m.u64(at + 56),
            rss_file_bytes: m.u64(at + 64),
            rss_shmem_bytes: m.u64(at + 72),
            swap_bytes: m.u64(at + 80),
            rss_peak_bytes: m.u64(at + 88),
            tree_root: m.u32(at + 96) as i32,
            reserved0: m.u32(at + 100),
            comm: {
                let mut c = [0u8; 16];
                c[..8].copy_from_slice(&m.u64(at + 104).to_ne_bytes());
                c[8..].copy_from_slice(&m.u64(at + 112).to_ne_bytes());
                c
            },
            reserved: [m.u64(at + 120)],
        };
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        if m.u64(at) == n && seq == n {
            out.push(rec);
        }
    }
    out
}

/// The fault and CPU counters of a process from /proc/<pid>/stat:
/// (minflt, majflt, utime + stime in clock ticks).
pub fn proc_stat(pid: i32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name, which is in parentheses.
    let rest = &text[text.rfind(')').expect("comm") + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|w| w.parse::<i64>().unwrap_or(0) as u64)
        .collect();
    // rest[0] is field 3 (state); minflt is field 10, majflt 12, utime 14, stime 15.
    (f[10 - 3], f[12 - 3], f[14 - 3] + f[15 - 3])
}

/// The test workload (src/bin/faulter.rs), driven over its stdin/stdout.
#[derive(Debug)]
pub struct Faulter {
    pub child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Faulter {
    /// Starts `faulter PAGES THREADS`; returns once it is ready.
    pub fn start(pages: usize, threads: usize) -> Faulter {
        Faulter::start_bin("faulter", &[&pages.to_string(), &threads.to_string()])
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Reads one line and checks it is `want`.
    pub fn expect_line(&mut self, want: &str) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read faulter");
        assert_eq!(line.trim(), want, "faulter said {line:?}");
    }

    /// Makes it fault (every thread touches its pages, then exits).
    pub fn fault(&mut self) {
        self.command("fault");
    }

    /// Sends one command of its protocol and waits for its `done`.
    pub fn command(&mut self, cmd: &str) {
        self.send(cmd);
        self.expect_line("done");
    }

    /// Sends one line, without waiting for an answer.
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write faulter");
    }

    /// Stops it (SIGSTOP) and waits until it is stopped, so counters read
    /// now and before [`Faulter::resume`] cover the same instant.
    pub fn pause(&self) {
        // SAFETY: Sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGSTOP) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
            let state = stat[stat.rfind(')').expect("comm") + 2..].chars().next();
            if state == Some('T') {
                return;
            }
            assert!(Instant::now() < deadline, "faulter did not stop");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Resumes it after [`Faulter::pause`].
    pub fn resume(&self) {
        // SAFETY: Sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), libc::SIGCONT) }, 0);
    }

    /// Tells it to exit without reaping it: the caller waits for it (with
    /// `wait4`, say, for its rusage).
    pub fn exit_unreaped(mut self) {
        writeln!(self.stdin, "exit").expect("write faulter");
    }

    /// Tells it to exit and reaps it.
    pub fn finish(mut self) {
        writeln!(self.stdin, "exit").expect("write faulter");
        let status = self.child.wait().expect("wait faulter");
        assert!(status.success());
    }
}

impl Faulter {
    /// Starts another workload of src/bin/ that speaks the same protocol
    /// (`ready`, then `fault` -> `done`, `exit`), e.g. `memhog MB`.
    pub fn start_bin(name: &str, args: &[&str]) -> Faulter {
        let mut cmd = Command::new(crate::bin_path(name));
        cmd.args(args);
        Faulter::start_command(cmd, name)
    }

    /// Starts `cmd`, which speaks the protocol of [`Faulter::start_bin`].
    pub fn start_command(mut cmd: Command, name: &str) -> Faulter {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut f = Faulter {
            child,
            stdin,
            stdout,
        };
        f.expect_line("ready");
        f
    }
}

/// The CPU time of a task from /proc/<pid>/schedstat (its
/// `sum_exec_runtime`, in nanoseconds; the main thread's for a pid).
pub fn schedstat_ns(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .expect("read schedstat")
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("schedstat's first field")
}
