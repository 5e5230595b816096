//! Fuzzer of the module's entry points, for the in-VM reliability suite.
//!
//! `fuzz [--seed N] [--ops N] [--procs P] [--seconds S]` starts P worker
//! processes (this binary again, with `--worker K`) that together perform N
//! random operations, or stop after S seconds, whichever comes first. Each
//! worker draws its operations from its own generator, seeded from N and K,
//! so a seed replays the same inputs (the interleaving of the workers, and so
//! some results, depends on timing). The entry points:
//!
//! - `proc-write`: garbage, huge, partial and numeric edge cases written to
//!   /proc/mp3/status, from buffers that cross into an unmapped page;
//! - `proc-read`, `sysfs-read`: reads of every attribute;
//! - `sysfs-write`: `period_us` with garbage and edge values;
//! - `ioctl`: the eight commands with mutated arguments, every number of type
//!   0xB9 with random directions and sizes, random numbers; null, unmapped,
//!   kernel, read-only and edge-of-mapping pointers; pids of exiting
//!   processes;
//! - `mmap`: random offsets, sizes, protections and flags, then `mprotect`,
//!   `mremap`, `fork` (the child reads the mapping) and partial unmaps;
//! - `dev-rw`: read(2)/write(2) on the device, which it does not implement.
//!
//! The pointers a worker gives the kernel to write at are in its scratch
//! area, at a fixed address far from the rest of its memory, or on pages it
//! does not map: a mutated pointer must not make the kernel, rightly,
//! overwrite the worker's own heap or libraries (an early version crashed
//! at exit after LIST wrote pids into ld.so's data).
//!
//! Every result must be a success or an errno from the documented set of
//! that entry point, and nothing that must fail may succeed (a writable or
//! executable mapping of the extended region, a mapping grown past the
//! buffer). The parent prints a summary: operations per entry point and an
//! errno histogram, then `fuzz: ops=N violations=V crashes=C`, and exits 1 if
//! anything was wrong. The workers run as root; the module is left with
//! nothing registered and the default period.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vmtests::arg_value;
use vmtests::dev::{abi, Dev, KNOWN_IOCTLS, PROC_STATUS, SYSFS};

/// The errnos each entry point may return (README, "The module's
/// interfaces", and the kernel's own checks before the module's).
fn allowed(entry: &str, errno: i32) -> bool {
    let set: &[i32] = match entry {
        "proc-write" => &[
            libc::EINVAL,
            libc::ESRCH,
            libc::EEXIST,
            libc::ENOENT,
            libc::EPERM,
            libc::EFAULT,
        ],
        "ioctl" => &[
            libc::ENOTTY,
            libc::EINVAL,
            libc::EFAULT,
            libc::ESRCH,
            libc::EEXIST,
            libc::ENOENT,
            libc::EPERM,
        ],
        "sysfs-write" => &[libc::EINVAL, libc::EFAULT],
        // The kernel's own mmap checks come first: EINVAL (alignment, zero
        // length), EOVERFLOW (offset + length), ENOMEM (no room).
        "mmap" => &[
            libc::EINVAL,
            libc::EPERM,
            libc::EACCES,
            libc::ENOMEM,
            libc::EOVERFLOW,
        ],
        "mprotect" => &[libc::EACCES, libc::EINVAL],
        "mremap" => &[libc::EFAULT, libc::EINVAL, libc::ENOMEM],
        "dev-rw" => &[libc::EINVAL],
        _ => &[],
    };
    set.contains(&errno)
}

/// splitmix64: small, fast and reproducible.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The operation in progress (its index << 8 | its kind), for the report
/// of a worker that crashes; all ones once the operations are done.
static CURRENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Reports the signal (code, faulting address, instruction pointer), the
/// operation and the memory map, then leaves: a crash of a worker is a
/// finding (the parent counts it).
extern "C" fn on_crash(sig: i32, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // SAFETY: The kernel passes a valid siginfo and ucontext to an
    // SA_SIGINFO handler.
    let (code, addr, rip) = unsafe {
        let uc = &*uc.cast::<libc::ucontext_t>();
        (
            (*info).si_code,
            (*info).si_addr() as usize,
            uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
        )
    };
    let cur = CURRENT.load(std::sync::atomic::Ordering::Relaxed);
    let when = if cur == u64::MAX {
        "after the last operation".to_owned()
    } else {
        format!("in operation {} (kind {})", cur >> 8, cur & 0xff)
    };
    eprintln!(
        "fuzz: worker crashed: signal {sig} code {code} at address {addr:#x}, ip {rip:#x}, \
         {when}; its maps:"
    );
    if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
        eprintln!("{maps}");
    }
    // SAFETY: Leaves the process at once.
    unsafe { libc::_exit(3) };
}

fn install_crash_handler() {
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        // SAFETY: A zeroed sigaction is valid; we fill in the handler and
        // flags before installing it.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_crash as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

const PAGE: usize = 4096;

/// A live mapping of the device and what it is allowed to do.
#[derive(Debug)]
struct Map {
    ptr: *mut u8,
    len: usize,
    prot: i32,
    writable_ok: bool,
}

/// One worker's state.
#[derive(Debug)]
struct Worker {
    rng: Rng,
    dev: Dev,
    proc_file: File,
    /// Two pages: read-write, then PROT_NONE (the edge for pointers).
    guard: *mut u8,
    /// One read-only page (the kernel may not write there).
    ro: *mut u8,
    /// A page of ours that may not be accessed at all (PROT_NONE).
    unmapped: usize,
    maps: Vec<Map>,
    /// Children forked to exit at once (their pids, to register).
    children: Vec<i32>,
    /// The stack of those children, one at a time.
    child_stack: Vec<u128>,
    ops: BTreeMap<&'static str, u64>,
    errnos: BTreeMap<(&'static str, i32), u64>,
    violations: u64,
}

/// Where a worker keeps the memory it aims ioctl arguments at: four pages,
/// inaccessible, read-only, read-write, inaccessible, far from everything
/// else the process maps. Mutated pointers into this area (a random byte
/// replaced) land in unmapped space, not in the worker's own libraries,
/// heap or stack, where the kernel, doing as asked, would overwrite them.
const SCRATCH: usize = 0x10_0000_0000;

/// Maps the scratch area and returns the addresses of its three kinds of
/// page: (inaccessible, read-only, read-write followed by inaccessible).
fn scratch() -> (usize, *mut u8, *mut u8) {
    // SAFETY: A fresh private anonymous mapping at an address nothing else
    // uses (MAP_FIXED_NOREPLACE fails rather than replace a mapping).
    let p = unsafe {
        libc::mmap(
            SCRATCH as *mut libc::c_void,
            4 * PAGE,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(p as usize, SCRATCH, "mmap of the scratch area");
    let p = p.cast::<u8>();
    // SAFETY: Pages of the mapping just made.
    unsafe {
        assert_eq!(libc::mprotect(p.add(PAGE).cast(), PAGE, libc::PROT_READ), 0);
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        assert_eq!(libc::mprotect(p.add(2 * PAGE).cast(), PAGE, rw), 0);
        (SCRATCH, p.add(PAGE), p.add(2 * PAGE))
    }
}

/// Whether the kernel may be asked to write at `addr`: inside the scratch
/// area, or on a page this process does not map (mincore fails with ENOMEM
/// there).
fn harmless_target(addr: u64) -> bool {
    let page = addr as usize & !(PAGE - 1);
    if (SCRATCH..SCRATCH + 4 * PAGE).contains(&page) {
        return true;
    }
    let mut vec = 0u8;
    // SAFETY: One page is asked about; `vec` has room for its byte.
    let r = unsafe { libc::mincore(page as *mut libc::c_void, PAGE, &mut vec) };
    r != 0
}

impl Worker {
    fn new(seed: u64) -> Worker {
        // The inaccessible page is mapped, not unmapped: the kernel would
        // reuse a free address for our next allocation, and the ioctls
        // aimed at it would write into our heap.
        let (gone, ro, guard) = scratch();
        Worker {
            rng: Rng(seed),
            dev: Dev::open(),
            proc_file: OpenOptions::new().write(true).open(PROC_STATUS).unwrap(),
            guard,
            ro,
            unmapped: gone,
            maps: Vec::new(),
            children: Vec::new(),
            child_stack: vec![0; 4096],
            ops: BTreeMap::new(),
            errnos: BTreeMap::new(),
            violations: 0,
        }
    }

    /// Records the result of one operation of `entry`.
    fn result(&mut self, entry: &'static str, res: Result<(), i32>, what: &dyn Fn() -> String) {
        *self.ops.entry(entry).or_default() += 1;
        if let Err(e) = res {
            *self.errnos.entry((entry, e)).or_default() += 1;
            if !allowed(entry, e) {
                self.violation(&format!("{entry}: errno {e} not documented: {}", what()));
            }
        }
    }

    fn violation(&mut self, msg: &str) {
        self.violations += 1;
        eprintln!("fuzz: VIOLATION: {msg}");
    }

    /// A pointer for an ioctl argument of `size` bytes whose valid contents,
    /// when it is valid, are `bytes`.
    fn pointer(&mut self, bytes: &[u8]) -> usize {
        let size = bytes.len().min(PAGE);
        match self.rng.below(12) {
            0 => 0,
            1 => self.rng.pick(&[1, 8, 4095, 4096]),
            2 => self.rng.pick(&[
                0xffff_8000_0000_0000,
                0xffff_ffff_ffff_f000,
                usize::MAX,
                0x0000_7fff_ffff_f000,
            ]),
            3 => self.unmapped + self.rng.below(PAGE as u64) as usize,
            4 => self.ro as usize + self.rng.below(64) as usize,
            5 => self.rng.next() as usize,
            // The edge of the mapping: the struct ends 0..size bytes past it.
            6 | 7 => {
                let over = self.rng.below(size as u64 + 1) as usize;
                let at = PAGE - size + over;
                // SAFETY: `at <= PAGE`; the bytes before the guard page are ours.
                unsafe {
                    let n = size - over;
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.guard.add(at), n);
                    self.guard.add(at) as usize
                }
            }
            _ => {
                // SAFETY: The first page of our guard mapping is read-write.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.guard, size);
                }
                self.guard as usize
            }
        }
    }

    /// A pid to register or query: ourselves, children that are exiting,
    /// pid 1, and numeric edge cases.
    fn pid(&mut self) -> i32 {
        match self.rng.below(8) {
            0 => 0,
            1 => std::process::id() as i32,
            2 | 3 => self.exiting_child(),
            4 => self
                .children
                .last()
                .copied()
                .unwrap_or(std::process::id() as i32),
            5 => self
                .rng
                .pick(&[1, -1, i32::MIN, i32::MAX, 4_194_304, 4_194_305]),
            _ => self.rng.below(40_000) as i32 - 100,
        }
    }

    /// Starts a child that exits at once, and returns its pid (reaped
    /// later). The child shares our memory and we wait for it to leave it
    /// (CLONE_VM | CLONE_VFORK): copying the address space, as fork does, is
    /// the slowest thing a worker would do. We resume from inside the
    /// child's exit, so its pid is one of a process still exiting.
    fn exiting_child(&mut self) -> i32 {
        extern "C" fn exit_now(_: *mut libc::c_void) -> libc::c_int {
            // SAFETY: Leaves the child at once, touching nothing shared.
            unsafe { libc::_exit(0) }
        }
        self.reap(false);
        let top = self.child_stack.as_mut_ptr_range().end;
        // SAFETY: The child runs `exit_now` on its own stack, which is ours
        // and unused until it is gone; CLONE_VFORK keeps us from running
        // until it has left our memory.
        let pid = unsafe {
            libc::clone(
                exit_now,
                top.cast(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                std::ptr::null_mut(),
            )
        };
        assert!(pid > 0, "clone: errno {}", errno());
        self.children.push(pid);
        pid
    }

    fn reap(&mut self, all: bool) {
        self.children.retain(|&pid| {
            let mut status = 0;
            let flags = if all { 0 } else { libc::WNOHANG };
            // SAFETY: Waits for our own child.
            unsafe { libc::waitpid(pid, &mut status, flags) == 0 }
        });
    }

    fn step(&mut self, i: u64) {
        let kind = self.rng.below(100);
        CURRENT.store(i << 8 | kind, std::sync::atomic::Ordering::Relaxed);
        match kind {
            0..=19 => self.proc_write(),
            20..=22 => self.proc_read(),
            23..=29 => self.sysfs(),
            30..=64 => self.ioctl(),
            65..=89 => self.mmap(),
            90..=94 => self.mapping_op(),
            _ => self.dev_rw(),
        }
    }

    fn proc_write(&mut self) {
        let pid = self.pid();
        let numbers = [
            pid.to_string(),
            "0".into(),
            "-1".into(),
            "2147483647".into(),
            "2147483648".into(),
            "4294967296".into(),
            "99999999999999999999".into(),
            "00000000001".into(),
            format!("{pid}x"),
            format!("0x{pid:x}"),
            format!("+{pid}"),
            String::new(),
        ];
        let num = numbers[self.rng.below(numbers.len() as u64) as usize].clone();
        let verb = self
            .rng
            .pick(&["R ", "U ", "R,", "U,", "R", "X ", " R  ", "r ", "RR "]);
        let end = self
            .rng
            .pick(&["", "\n", "\n\n", " ", "\0", "\t", " extra"]);
        let mut text = format!("{verb}{num}{end}").into_bytes();
        match self.rng.below(10) {
            // Random bytes.
            0 => {
                text = (0..self.rng.below(80))
                    .map(|_| self.rng.next() as u8)
                    .collect()
            }
            // Huge.
            1 => text = vec![b'1'; self.rng.pick(&[64, 65, 4096, 65536, 1 << 20])],
            // A mutated valid command.
            2 if !text.is_empty() => {
                let i = self.rng.below(text.len() as u64) as usize;
                text[i] = self.rng.next() as u8;
            }
            // Partial: a prefix.
            3 => {
                let n = self.rng.below(text.len() as u64 + 1) as usize;
                text.truncate(n);
            }
            _ => {}
        }
        // From a buffer that may cross into the unmapped guard page.
        let len = text.len();
        let res = if len <= PAGE && self.rng.chance(20) {
            let over = self.rng.below(len as u64 + 1) as usize;
            let at = PAGE - len + over;
            // SAFETY: The bytes before the guard page are ours; the kernel
            // must fault cleanly on the rest.
            let r = unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), self.guard.add(at), len - over);
                libc::write(self.proc_file.as_raw_fd(), self.guard.add(at).cast(), len)
            };
            if r < 0 {
                Err(errno())
            } else {
                Ok(())
            }
        } else {
            // SAFETY: `text` is valid for `len` bytes.
            let r = unsafe { libc::write(self.proc_file.as_raw_fd(), text.as_ptr().cast(), len) };
            if r < 0 {
                Err(errno())
            } else {
                Ok(())
            }
        };
        self.result("proc-write", res, &|| {
            format!("{:?}", String::from_utf8_lossy(&text))
        });
    }

    fn proc_read(&mut self) {
        let res = std::fs::read_to_string(PROC_STATUS)
            .map_err(|e| e.raw_os_error().unwrap_or(0))
            .and_then(|t| {
                if t.lines().all(|l| l.parse::<i32>().is_ok_and(|p| p > 0)) {
                    Ok(())
                } else {
                    Err(-1)
                }
            });
        self.result("proc-read", res, &|| "read /proc/mp3/status".into());
    }

    fn sysfs(&mut self) {
        if self.rng.chance(40) {
            let attr = self.rng.pick(&[
                "period_us",
                "state",
                "hz",
                "registered",
                "samples_written",
                "samples_lost",
                "records_written",
                "ticks",
                "overruns",
                "process_samples",
                "cost_total_ns",
                "cost_last_ns",
                "cost_max_ns",
            ]);
            let res = std::fs::read_to_string(format!("{SYSFS}/{attr}"))
                .map(|_| ())
                .map_err(|e| e.raw_os_error().unwrap_or(0));
            self.result("sysfs-read", res, &|| attr.to_owned());
            return;
        }
        let value = self.rng.pick(&[
            0u64,
            999,
            1000,
            1001,
            2000,
            5000,
            50_000,
            10_000_000,
            10_000_001,
            u64::from(u32::MAX),
            1 << 32,
            u64::MAX,
        ]);
        let mut text = match self.rng.below(6) {
            0 => (0..self.rng.below(40))
                .map(|_| self.rng.next() as u8)
                .collect(),
            1 => format!("-{value}").into_bytes(),
            2 => format!(" {value} \n").into_bytes(),
            3 => vec![b'7'; self.rng.pick(&[11, 100, 4095, 4096, 5000])],
            _ => format!("{value}\n").into_bytes(),
        };
        if self.rng.chance(10) && !text.is_empty() {
            let n = self.rng.below(text.len() as u64) as usize;
            text.truncate(n);
        }
        let res = OpenOptions::new()
            .write(true)
            .open(format!("{SYSFS}/period_us"))
            .and_then(|mut f| f.write(&text))
            .map(|_| ())
            .map_err(|e| e.raw_os_error().unwrap_or(0));
        self.result("sysfs-write", res, &|| {
            format!("{:?}", String::from_utf8_lossy(&text))
        });
    }

    fn ioctl(&mut self) {
        let cmd = match self.rng.below(10) {
            // RESET as root succeeds; keep it rare so the counters mean
            // something (a QUERY instead, 4 times in 5).
            0..=5 => match self.rng.pick(&KNOWN_IOCTLS) {
                abi::IOC_RESET if self.rng.chance(80) => abi::IOC_QUERY,
                c => c,
            },
            // Type 0xB9, any number, direction and size.
            6 | 7 => {
                let dir = self.rng.below(4) as u32;
                let size = self
                    .rng
                    .pick(&[0, 1, 4, 7, 8, 15, 16, 48, 95, 96, 97, 4096, 0x3fff]);
                (dir << 30) | (size << 16) | (abi::IOC_MAGIC << 8) | self.rng.below(256) as u32
            }
            // A known number with its direction or size changed.
            8 => self.rng.pick(&KNOWN_IOCTLS) ^ (1 << (16 + self.rng.below(16))),
            _ => self.rng.next() as u32,
        };
        // Contents: a plausible argument for the command, often mutated.
        let mut bytes = [0u8; 128];
        let nr = cmd & 0xff;
        match nr {
            1 | 2 | 4 => {
                let pid = self.pid();
                bytes[..4].copy_from_slice(&pid.to_ne_bytes());
                if self.rng.chance(10) {
                    bytes[4..8].copy_from_slice(&(self.rng.next() as u32).to_ne_bytes());
                }
            }
            5 => {
                let cap = self.rng.pick(&[0u32, 1, 2, 16, 1024, 1 << 20, u32::MAX]);
                bytes[..4].copy_from_slice(&cap.to_ne_bytes());
                let pids = vec![0u8; 64];
                let ptr = if self.rng.chance(50) {
                    self.guard as u64 + self.rng.pick(&[0, 64, 4000, 4092, 4096])
                } else {
                    self.pointer(&pids) as u64
                };
                bytes[8..16].copy_from_slice(&ptr.to_ne_bytes());
            }
            7 => {
                let us = self.rng.pick(&[
                    0u32,
                    1,
                    999,
                    1000,
                    1001,
                    20_000,
                    50_000,
                    10_000_000,
                    10_000_001,
                    u32::MAX,
                ]);
                bytes[..4].copy_from_slice(&us.to_ne_bytes());
            }
            _ => {}
        }
        if self.rng.chance(10) {
            let i = self.rng.below(16) as usize;
            bytes[i] = self.rng.next() as u8;
        }
        // LIST writes where its `pids` field points: never into our own
        // memory outside the scratch area (a mutated byte can aim there).
        if nr == 5 {
            let pids = u64::from_ne_bytes(bytes[8..16].try_into().unwrap());
            if !harmless_target(pids) {
                bytes[8..16].copy_from_slice(&(self.unmapped as u64).to_ne_bytes());
            }
        }
        let size = ((cmd >> 16) & 0x3fff) as usize;
        let arg = if self.rng.chance(70) {
            // SAFETY: The first page of our guard mapping is read-write.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.guard, bytes.len()) };
            self.guard as usize
        } else {
            let n = size.clamp(1, 128);
            self.pointer(&bytes[..n])
        };
        // The same for the argument (a random pointer could aim anywhere).
        let arg = if harmless_target(arg as u64) {
            arg
        } else {
            self.unmapped
        };
        let res = self.dev.ioctl_raw(cmd, arg).map(|_| ());
        self.result("ioctl", res, &|| format!("cmd {cmd:#x} arg {arg:#x}"));
    }

    fn mmap(&mut self) {
        let offset = match self.rng.below(8) {
            0..=2 => abi::CLASSIC_OFFSET,
            3..=5 => abi::EXT_OFFSET,
            6 => self.rng.below(abi::BUFFER_SIZE / PAGE as u64 + 4) * PAGE as u64,
            _ => self
                .rng
                .pick(&[1, 4095, abi::EXT_OFFSET + 1, !4095, 1 << 62]),
        };
        let len = match self.rng.below(6) {
            0 => self.rng.pick(&[0, 1, PAGE, 2 * PAGE]),
            1 => abi::CLASSIC_SIZE as usize + self.rng.pick(&[0, PAGE, 1]),
            2 => abi::EXT_SIZE as usize + self.rng.pick(&[0, PAGE, 1]),
            3 => abi::BUFFER_SIZE as usize,
            4 => (self.rng.below(64) as usize + 1) * PAGE,
            _ => self.rng.below(8 << 20) as usize,
        };
        let prot = self.rng.pick(&[
            libc::PROT_READ,
            libc::PROT_READ,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::PROT_WRITE,
            libc::PROT_NONE,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::PROT_EXEC,
        ]);
        let mut flags = self
            .rng
            .pick(&[libc::MAP_SHARED, libc::MAP_SHARED, libc::MAP_PRIVATE]);
        if self.rng.chance(20) {
            flags |= libc::MAP_POPULATE;
        }
        // SAFETY: A new mapping chosen by the kernel; nothing is aliased.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                flags,
                self.dev.0.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        let what = || format!("offset {offset:#x} len {len:#x} prot {prot} flags {flags:#x}");
        if p == libc::MAP_FAILED {
            let e = errno();
            self.result("mmap", Err(e), &what);
            return;
        }
        self.result("mmap", Ok(()), &what);
        let shared = flags & libc::MAP_SHARED != 0;
        let ext = offset == abi::EXT_OFFSET;
        if prot & libc::PROT_EXEC != 0 {
            self.violation(&format!("mmap succeeded with PROT_EXEC: {}", what()));
        }
        if ext && prot & libc::PROT_WRITE != 0 {
            self.violation(&format!(
                "a writable mapping of the extended region: {}",
                what()
            ));
        }
        if !ext && prot & libc::PROT_WRITE != 0 && !shared {
            self.violation(&format!("a private writable classic mapping: {}", what()));
        }
        let map = Map {
            ptr: p.cast(),
            len,
            prot,
            writable_ok: !ext && shared,
        };
        self.touch(&map);
        self.maps.push(map);
        if self.maps.len() > 6 {
            let i = self.rng.below(self.maps.len() as u64) as usize;
            let m = self.maps.swap_remove(i);
            // SAFETY: One of our mappings, forgotten here.
            unsafe { libc::munmap(m.ptr.cast(), m.len) };
        }
    }

    /// Reads (and, where allowed, writes) a few pages of a mapping.
    fn touch(&mut self, m: &Map) {
        let pages = m.len.div_ceil(PAGE);
        for _ in 0..3 {
            let at = self.rng.below(pages as u64) as usize * PAGE;
            if m.prot & libc::PROT_READ != 0 {
                // SAFETY: In the mapping, which is readable.
                unsafe { std::ptr::read_volatile(m.ptr.add(at)) };
            }
            if m.prot & libc::PROT_WRITE != 0 && m.writable_ok {
                // SAFETY: In the classic mapping, which is shared and
                // writable (a consumer writes -1 back).
                unsafe { std::ptr::write_volatile(m.ptr.add(at).cast::<u64>(), u64::MAX) };
            }
        }
    }

    /// mprotect, mremap, fork or a partial unmap of a live mapping.
    fn mapping_op(&mut self) {
        if self.maps.is_empty() {
            return self.mmap();
        }
        let i = self.rng.below(self.maps.len() as u64) as usize;
        match self.rng.below(4) {
            0 => {
                let prot = self.rng.pick(&[
                    libc::PROT_NONE,
                    libc::PROT_READ,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::PROT_READ | libc::PROT_EXEC,
                ]);
                let m = &self.maps[i];
                let (ptr, len, writable_ok) = (m.ptr, m.len, m.writable_ok);
                // SAFETY: One of our mappings.
                let r = unsafe { libc::mprotect(ptr.cast(), len, prot) };
                let what = || format!("mprotect {prot} of {len:#x} bytes");
                if r == 0 {
                    self.result("mprotect", Ok(()), &what);
                    if prot & libc::PROT_EXEC != 0 {
                        self.violation(&format!("{} succeeded (VM_MAYEXEC)", what()));
                    }
                    if prot & libc::PROT_WRITE != 0 && !writable_ok {
                        self.violation(&format!("{} succeeded (VM_MAYWRITE)", what()));
                    }
                    self.maps[i].prot = prot;
                } else {
                    self.result("mprotect", Err(errno()), &what);
                }
            }
            1 => {
                let m = &self.maps[i];
                let (ptr, len) = (m.ptr, m.len);
                let new_len = self.rng.pick(&[PAGE, len / 2, len + PAGE, 2 * len]);
                // SAFETY: One of our mappings; the kernel may move it.
                let q =
                    unsafe { libc::mremap(ptr.cast(), len, new_len.max(1), libc::MREMAP_MAYMOVE) };
                let what = || format!("mremap {len:#x} -> {new_len:#x}");
                if q == libc::MAP_FAILED {
                    self.result("mremap", Err(errno()), &what);
                } else {
                    self.result("mremap", Ok(()), &what);
                    if new_len.div_ceil(PAGE) > len.div_ceil(PAGE) {
                        self.violation(&format!("{} grew a VM_DONTEXPAND mapping", what()));
                        // Do not touch what was grown.
                        self.maps[i].ptr = q.cast();
                    } else {
                        self.maps[i].ptr = q.cast();
                        self.maps[i].len = new_len.max(1);
                        let m = Map { ..self.maps[i] };
                        self.touch(&m);
                    }
                }
            }
            2 => {
                let m = &self.maps[i];
                let (ptr, len, readable) = (m.ptr, m.len, m.prot & libc::PROT_READ != 0);
                // SAFETY: The worker is single-threaded; the child reads the
                // mapping it inherited and calls only _exit.
                let pid = unsafe { libc::fork() };
                if pid == 0 {
                    if readable {
                        // SAFETY: The inherited mapping, readable.
                        unsafe {
                            std::ptr::read_volatile(ptr);
                            std::ptr::read_volatile(ptr.add(len - 1));
                        }
                    }
                    // SAFETY: Leaves the child.
                    unsafe { libc::_exit(0) };
                }
                let mut status = 0;
                // SAFETY: Waits for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
                self.result("fork", Ok(()), &|| "fork".into());
                if !ok {
                    self.violation(&format!(
                        "a forked child died reading the mapping: {status:#x}"
                    ));
                }
            }
            _ => {
                let m = self.maps.swap_remove(i);
                let pages = m.len.div_ceil(PAGE);
                if pages > 1 {
                    let cut = 1 + self.rng.below(pages as u64 - 1) as usize;
                    // SAFETY: The first `cut` pages of our mapping, then the rest.
                    unsafe {
                        libc::munmap(m.ptr.cast(), cut * PAGE);
                        libc::munmap(m.ptr.add(cut * PAGE).cast(), m.len - cut * PAGE);
                    }
                } else {
                    // SAFETY: Our mapping.
                    unsafe { libc::munmap(m.ptr.cast(), m.len) };
                }
                self.result("munmap", Ok(()), &|| "munmap".into());
            }
        }
    }

    fn dev_rw(&mut self) {
        let mut buf = [0u8; 64];
        let fd = self.dev.0.as_raw_fd();
        let r = if self.rng.chance(50) {
            // SAFETY: `buf` is valid for 64 bytes.
            unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
        } else {
            // SAFETY: `buf` is valid for 64 bytes.
            unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }
        };
        let res = if r < 0 { Err(errno()) } else { Ok(()) };
        self.result("dev-rw", res, &|| "read/write on /dev/pfprof".into());
    }

    fn finish(mut self) {
        for m in std::mem::take(&mut self.maps) {
            // SAFETY: Our mapping.
            unsafe { libc::munmap(m.ptr.cast(), m.len) };
        }
        self.reap(true);
        let mut out = std::io::stdout().lock();
        for (entry, n) in &self.ops {
            writeln!(out, "op {entry} {n}").unwrap();
        }
        for ((entry, e), n) in &self.errnos {
            writeln!(out, "errno {entry} {e} {n}").unwrap();
        }
        writeln!(out, "violations {}", self.violations).unwrap();
    }
}

fn worker(k: u64, seed: u64, ops: u64, seconds: u64) {
    install_crash_handler();
    let mut w = Worker::new(seed ^ k.wrapping_mul(0xa076_1d64_78bd_642f));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    for i in 0..ops {
        if i % 64 == 0 && Instant::now() >= deadline {
            break;
        }
        w.step(i);
    }
    CURRENT.store(u64::MAX, std::sync::atomic::Ordering::Relaxed);
    w.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = arg_value(&args, "--seed").unwrap_or(1);
    let ops = arg_value(&args, "--ops").unwrap_or(10_000);
    let procs = arg_value(&args, "--procs").unwrap_or(4).max(1);
    let seconds = arg_value(&args, "--seconds").unwrap_or(u64::MAX / 4);
    if let Some(k) = arg_value(&args, "--worker") {
        return worker(k, seed, ops, seconds);
    }
    let started = Instant::now();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..procs)
        .map(|k| {
            let share = ops / procs + u64::from(k < ops % procs);
            Command::new(&exe)
                .args(["--worker", &k.to_string(), "--seed", &seed.to_string()])
                .args([
                    "--ops",
                    &share.to_string(),
                    "--seconds",
                    &seconds.to_string(),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ops_by: BTreeMap<String, u64> = BTreeMap::new();
    let mut errnos: BTreeMap<(String, i32), u64> = BTreeMap::new();
    let (mut violations, mut crashes) = (0u64, 0u64);
    for (k, mut child) in children.into_iter().enumerate() {
        let mut text = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let status = child.wait().unwrap();
        if !status.success() {
            crashes += 1;
            eprintln!("fuzz: worker {k} (seed {seed}) ended with {status}");
        }
        // A worker's report ends with its violations line; one without it
        // did not finish, whatever its exit status says.
        let mut reported = false;
        for line in BufReader::new(text.as_bytes()).lines() {
            let line = line.unwrap();
            let w: Vec<&str> = line.split_whitespace().collect();
            match w[..] {
                ["op", entry, n] => {
                    *ops_by.entry(entry.into()).or_default() += n.parse::<u64>().unwrap()
                }
                ["errno", entry, e, n] => {
                    *errnos
                        .entry((entry.into(), e.parse().unwrap()))
                        .or_default() += n.parse::<u64>().unwrap()
                }
                ["violations", n] => {
                    violations += n.parse::<u64>().unwrap();
                    reported = true;
                }
                _ => {}
            }
        }
        if status.success() && !reported {
            crashes += 1;
            eprintln!("fuzz: worker {k} (seed {seed}) exited without its report");
        }
    }
    // Leave the module as we found it: nothing registered, default period.
    let dev = Dev::open();
    for pid in dev.list() {
        let _ = dev.unregister(pid);
    }
    dev.set_period_us(abi::PERIOD_DEFAULT_US).unwrap();
    let total: u64 = ops_by.values().sum();
    println!(
        "fuzz: seed {seed}, {procs} processes, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (entry, n) in &ops_by {
        println!("  {entry:12} {n:>9} ops");
    }
    println!("  errno histogram:");
    for ((entry, e), n) in &errnos {
        let name = std::io::Error::from_raw_os_error(*e);
        println!("  {entry:12} {e:>4} {n:>9}  ({name})");
    }
    println!("fuzz: ops={total} violations={violations} crashes={crashes}");
    if violations > 0 || crashes > 0 {
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzzer's own memory is never a target for the kernel's writes
    /// (LIST once overwrote ld.so's data through a mutated pointer).
    #[test]
    fn the_kernel_is_never_aimed_at_our_own_memory() {
        let heap = Box::new(0u64);
        let stack = 0u64;
        assert!(!harmless_target(&raw const *heap as u64));
        assert!(!harmless_target(&raw const stack as u64));
        assert!(!harmless_target(&raw const CURRENT as u64));
        let code = the_kernel_is_never_aimed_at_our_own_memory as *const ();
        assert!(!harmless_target(code as u64));
        for page in 0..4 {
            assert!(harmless_target((SCRATCH + page * PAGE + 8) as u64));
        }
        assert!(harmless_target(0));
        assert!(harmless_target(4096));
        assert!(harmless_target(0xffff_8000_0000_0000));
        assert!(harmless_target(u64::MAX));
    }
}
