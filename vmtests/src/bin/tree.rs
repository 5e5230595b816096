//! A process tree for the in-VM tree tests (tests/trees.rs): `tree
//! SCENARIO [N] [M]`.
//!
//! Registers itself as a tree root (libpfprof, `register_self_tree`), runs
//! the scenario, reaps every child, and prints one line:
//!
//! `tree: root=PID start_minor=.. start_major=.. start_cpu_ns=..
//! pre_minor=.. children_minor=.. children_major=.. children_cpu_ns=..
//! orphan_minor=.. orphan_major=.. orphan_cpu_ns=.. forks=..`
//!
//! `start_*` are its own RUSAGE_SELF figures just after the registration
//! (CPU: CLOCK_PROCESS_CPUTIME_ID), `pre_minor` the minor faults the
//! registration itself took, `children_*` the RUSAGE_CHILDREN deltas since
//! then, `orphan_*` the RUSAGE_SELF figures that orphans (re-parented to
//! init, so in nobody's RUSAGE_CHILDREN here) reported through a pipe just
//! before their exit, `forks` the processes the scenario forked (-1: not
//! known, the shell loop). Then it blocks reading stdin, so that the test
//! can read its own final figures from /proc while it does not run, and
//! exits at EOF.
//!
//! Scenarios: `loop N` (a shell loop of N `/bin/true`), `chain N` (a chain
//! of N processes, each the parent of the next), `parallel N` (N children at
//! once), `threads N M` (N children of M threads each), `doublefork` (a
//! child that forks a grandchild and exits at once; the grandchild outlives
//! it), `churn N` (N short-lived children, at most 8 alive), `hold N` (N
//! children alive at once, all blocked until the root's stdin closes:
//! the fork bomb for the limit test), `spin N` (closes the device, prints
//! `spinning`, then for N seconds forks children that fork a grandchild
//! each, all exiting at once: the module is unloaded meanwhile).

use std::io::{Read, Write};
use std::process::Command;

/// Pages each process touches (so that it has faults of its own).
const PAGES: usize = 16;

fn rusage(who: i32) -> (u64, u64, u64) {
    // SAFETY: All-zero is a valid rusage; getrusage fills it.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is a valid place to write.
    assert_eq!(unsafe { libc::getrusage(who, &mut r) }, 0, "getrusage");
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (
        r.ru_minflt as u64,
        r.ru_majflt as u64,
        (us(r.ru_utime) + us(r.ru_stime)) * 1000,
    )
}

fn process_cpu_ns() -> u64 {
    // SAFETY: All-zero is a valid timespec; clock_gettime fills it.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `t` is a valid place to write.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(r, 0, "clock_gettime");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Touches `PAGES` fresh pages (minor faults).
fn touch() {
    // SAFETY: An anonymous private mapping, written within its length and
    // unmapped after.
    unsafe {
        let len = PAGES * 4096;
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        for i in 0..PAGES {
            p.cast::<u8>().add(i * 4096).write_volatile(1);
        }
        libc::munmap(p, len);
    }
}

/// Forks; the child runs `f` and exits with 0 (it never returns).
fn fork(f: impl FnOnce()) -> i32 {
    // SAFETY: The scenarios fork from single-threaded processes; the child
    // runs `f` and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        f();
        // SAFETY: Ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(0) };
    }
    pid
}

fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: `status` is a valid place to write.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child {pid} failed: {status:#x}"
    );
}

/// A chain of `depth` processes below the caller.
fn chain(depth: u64) {
    if depth == 0 {
        return;
    }
    let pid = fork(|| {
        touch();
        chain(depth - 1);
    });
    reap(pid);
}

/// The write end of a pipe an orphan reports on, and the read end.
fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    (fds[0], fds[1])
}

fn write_all(fd: i32, bytes: &[u8]) {
    // SAFETY: `bytes` is readable for its length.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize, "write");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scenario = args.get(1).map(String::as_str).unwrap_or("");
    let n = args.get(2).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let m = args.get(3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let profiler = libpfprof::Profiler::open().expect("open the pfprof device");
    // Everything the end needs, allocated before the registration.
    let mut line = String::with_capacity(4096);
    let mut report = [0u8; 64];
    // A first registration, undone, so that the one below touches no page
    // for the first time (its baseline and `start` would then differ).
    profiler.register_self().expect("register");
    profiler.unregister_self().expect("unregister");
    let _ = (rusage(libc::RUSAGE_SELF), process_cpu_ns());
    let pre = rusage(libc::RUSAGE_SELF);
    profiler
        .register_self_tree()
        .expect("register as a tree root");
    let start = rusage(libc::RUSAGE_SELF);
    let start_cpu = process_cpu_ns();
    let children0 = rusage(libc::RUSAGE_CHILDREN);
    let mut orphan = (0u64, 0u64, 0u64);
    let mut held = Vec::new();
    let forks: i64 = match scenario {
        "loop" => {
            let st = Command::new("sh")
                .args(["-c", &format!("for i in $(seq {n}); do /bin/true; done")])
                .status()
                .expect("sh");
            assert!(st.success());
            -1
        }
        "chain" => {
            chain(n);
            n as i64
        }
        "parallel" => {
            let pids: Vec<i32> = (0..n).map(|_| fork(touch)).collect();
            pids.into_iter().for_each(reap);
            n as i64
        }
        "threads" => {
            let pids: Vec<i32> = (0..n)
                .map(|_| {
                    fork(|| {
                        let ts: Vec<_> = (0..m).map(|_| std::thread::spawn(touch)).collect();
                        for t in ts {
                            t.join().expect("thread");
                        }
                    })
                })
                .collect();
            pids.into_iter().for_each(reap);
            n as i64
        }
        "doublefork" => {
            let (r, w) = pipe();
            let (gr, gw) = pipe();
            let child = fork(|| {
                touch();
                fork(|| {
                    // Wait until the parent is gone (re-parented to init).
                    let mut b = [0u8; 1];
                    // SAFETY: Our copy of the write end goes; `b` is
                    // writable; EOF comes when the parent exits.
                    unsafe {
                        libc::close(gw);
                        libc::read(gr, b.as_mut_ptr().cast(), 1);
                    }
                    touch();
                    // Nothing after the reading may touch a page for the
                    // first time: the report's text is formatted once
                    // before, and the code of write and _exit touched.
                    use std::fmt::Write as _;
                    let mut text = String::with_capacity(64);
                    let _ = writeln!(text, "{} {} {}", u64::MAX, u64::MAX, u64::MAX);
                    write_all(w, &[]);
                    // SAFETY: Reads a byte of each function's code.
                    unsafe {
                        std::ptr::read_volatile(libc::write as *const u8);
                        std::ptr::read_volatile(libc::_exit as *const u8);
                    }
                    let _ = (rusage(libc::RUSAGE_SELF), process_cpu_ns());
                    text.clear();
                    let (mi, ma, _) = rusage(libc::RUSAGE_SELF);
                    let cpu = process_cpu_ns();
                    let _ = writeln!(text, "{mi} {ma} {cpu}");
                    write_all(w, text.as_bytes());
                    // SAFETY: Ends the orphan at once (freeing `text` could
                    // touch a page).
                    unsafe { libc::_exit(0) };
                });
            });
            // SAFETY: The root's copies of the grandchild's ends: the
            // grandchild sees EOF on `gr` once its parent, the last other
            // holder of `gw`, has exited.
            unsafe {
                libc::close(gw);
                libc::close(gr);
                libc::close(w);
            }
            reap(child);
            let mut got = 0;
            loop {
                // SAFETY: `report` is writable from `got`.
                let k =
                    unsafe { libc::read(r, report[got..].as_mut_ptr().cast(), report.len() - got) };
                if k <= 0 {
                    break;
                }
                got += k as usize;
            }
            let text = String::from_utf8_lossy(&report[..got]).into_owned();
            let f: Vec<u64> = text
                .split_whitespace()
                .map(|w| w.parse().expect("orphan report"))
                .collect();
            assert_eq!(f.len(), 3, "orphan report {text:?}");
            orphan = (f[0], f[1], f[2]);
            2
        }
        "churn" => {
            let mut alive = std::collections::VecDeque::new();
            for _ in 0..n {
                if alive.len() >= 8 {
                    reap(alive.pop_front().expect("alive"));
                }
                alive.push_back(fork(|| {}));
            }
            alive.into_iter().for_each(reap);
            n as i64
        }
        "hold" => {
            let (r, w) = pipe();
            for _ in 0..n {
                held.push(fork(|| {
                    let mut b = [0u8; 1];
                    // SAFETY: `b` is writable; EOF comes when the root
                    // closes its write end and every sibling exited.
                    unsafe {
                        libc::close(w);
                        libc::read(r, b.as_mut_ptr().cast(), 1);
                    }
                }));
            }
            // SAFETY: Our read end is not needed; the write end stays open
            // until the release below.
            unsafe { libc::close(r) };
            held.push(w);
            n as i64
        }
        "spin" => {
            drop(profiler);
            println!("spinning");
            let until = std::time::Instant::now() + std::time::Duration::from_secs(n);
            let mut forks = 0;
            while std::time::Instant::now() < until {
                let pid = fork(|| {
                    let g = fork(|| {});
                    reap(g);
                });
                reap(pid);
                forks += 2;
            }
            return println!("spun forks={forks}");
        }
        other => panic!("unknown scenario {other:?}"),
    };
    let children = rusage(libc::RUSAGE_CHILDREN);
    use std::fmt::Write as _;
    let _ = writeln!(
        line,
        "tree: root={} start_minor={} start_major={} start_cpu_ns={} pre_minor={} pre_major={} \
         children_minor={} children_major={} children_cpu_ns={} orphan_minor={} \
         orphan_major={} orphan_cpu_ns={} forks={}",
        std::process::id(),
        start.0,
        start.1,
        start_cpu,
        start.0 - pre.0,
        start.1 - pre.1,
        children.0 - children0.0,
        children.1 - children0.1,
        children.2 - children0.2,
        orphan.0,
        orphan.1,
        orphan.2,
        forks
    );
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).expect("stdout");
    out.flush().expect("stdout");
    let mut rest = Vec::with_capacity(64);
    let _ = std::io::stdin().read_to_end(&mut rest);
    if let Some(w) = held.pop() {
        // SAFETY: The write end of the held children's pipe: closing it
        // releases them.
        unsafe { libc::close(w) };
        held.into_iter().for_each(reap);
    }
}
