//! Races for the in-VM reliability suite: `races [--seconds S]`.
//!
//! For S seconds, threads hammer the module at once: registering and
//! unregistering a pool of processes (by ioctl and through
//! /proc/mp3/status), processes that exit while registered, RESET, period
//! changes (ioctl and sysfs), readers of both mapped rings, LIST and QUERY,
//! and `delete_module("pfprof")` attempts, which must fail while the device
//! is open. Checked on the way: the extended ring's `head` and records are
//! consistent, the counters only grow between resets. Checked once quiet:
//! LIST, QUERY, sysfs `registered` and /proc/mp3/status agree. Prints
//! `races: ops=N rmmod_attempts=M growth_checks=G ...` and exits 1 on any
//! inconsistency.

use std::mem::offset_of;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vmtests::arg_value;
use vmtests::dev::{abi, ext_records, proc_pids, proc_write, sysfs, Dev, Mapping, SYSFS};

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    ops: AtomicU64,
    errors: AtomicU64,
    rmmod_attempts: AtomicU64,
    /// Pairs of QUERYs with no reset between them, whose counters were
    /// compared (a reset between two makes the pair say nothing).
    growth_checks: AtomicU64,
}

impl Shared {
    fn fail(&self, msg: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        eprintln!("races: FAILED: {msg}");
    }
}

/// A tiny xorshift per thread.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds = arg_value(&args, "--seconds").unwrap_or(20);
    let started = Instant::now();
    let dev = Dev::open();
    dev.clean();
    let mut pool: Vec<Child> = (0..6)
        .map(|_| Command::new("sleep").arg("100000").spawn().expect("sleep"))
        .collect();
    let pids: Arc<Vec<i32>> = Arc::new(pool.iter().map(|c| c.id() as i32).collect());
    let shared = Arc::new(Shared::default());
    let mut threads = Vec::new();

    let spawn = |threads: &mut Vec<std::thread::JoinHandle<()>>,
                 f: Box<dyn Fn(&Dev, &Shared, &mut u64) + Send>,
                 seed: u64| {
        let shared = Arc::clone(&shared);
        threads.push(std::thread::spawn(move || {
            let dev = Dev::open();
            let mut seed = seed;
            while !shared.stop.load(Ordering::Relaxed) {
                f(&dev, &shared, &mut seed);
                shared.ops.fetch_add(1, Ordering::Relaxed);
            }
        }));
    };

    // Registerers of the pool.
    for t in 0..2u64 {
        let pids = Arc::clone(&pids);
        spawn(
            &mut threads,
            Box::new(move |dev, sh, seed| {
                let pid = pids[(rng(seed) % pids.len() as u64) as usize];
                let r = match rng(seed) % 4 {
                    0 => dev.register(pid).map(|_| ()),
                    1 => dev.unregister(pid).map(|_| ()),
                    2 => proc_write(format!("R {pid}").as_bytes()),
                    _ => proc_write(format!("U {pid}").as_bytes()),
                };
                if let Err(e) = r {
                    if e != libc::EEXIST && e != libc::ENOENT {
                        sh.fail(&format!("register/unregister {pid}: errno {e}"));
                    }
                }
                if let Err(e) = dev.proc_stats(pid) {
                    if e != libc::ENOENT {
                        sh.fail(&format!("QUERY_PID {pid}: errno {e}"));
                    }
                }
            }),
            t + 1,
        );
    }
    // Processes that exit while registered.
    spawn(
        &mut threads,
        Box::new(|dev, sh, _| {
            let mut c = Command::new("true").spawn().expect("true");
            match dev.register(c.id() as i32) {
                Ok(_) | Err(libc::ESRCH) => {}
                Err(e) => sh.fail(&format!("register an exiting process: errno {e}")),
            }
            c.wait().unwrap();
        }),
        3,
    );
    // RESET and period changes.
    spawn(
        &mut threads,
        Box::new(|dev, sh, seed| {
            let us = [1000, 2000, 5000, 50_000][(rng(seed) % 4) as usize];
            let r = match rng(seed) % 3 {
                0 => dev.reset().map(|_| ()),
                1 => dev.set_period_us(us).map(|_| ()),
                _ => std::fs::write(format!("{SYSFS}/period_us"), us.to_string())
                    .map_err(|e| e.raw_os_error().unwrap_or(0)),
            };
            if let Err(e) = r {
                sh.fail(&format!("reset/period: errno {e}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }),
        4,
    );
    // Readers of the mapped rings: head only grows, valid records are
    // numbered as their slot says, and a fresh mapping each time sometimes.
    spawn(
        &mut threads,
        Box::new(|dev, sh, seed| {
            let m = Mapping::extended(dev);
            let classic = Mapping::classic(dev);
            let mut last_head = 0;
            for _ in 0..50 {
                let head = m.u64(offset_of!(abi::ExtHeader, head));
                if head < last_head {
                    sh.fail(&format!("ext head went back {last_head} -> {head}"));
                }
                last_head = head;
                let from = head.saturating_sub(64);
                let recs = ext_records(&m, from);
                for w in recs.windows(2) {
                    if w[1].seq <= w[0].seq {
                        sh.fail(&format!(
                            "records out of order: {} then {}",
                            w[0].seq, w[1].seq
                        ));
                    }
                }
                let slot = (rng(seed) % abi::CLASSIC_SAMPLES) as usize * 32;
                let _ = classic.u64(slot);
                if m.u32(0) != abi::EXT_MAGIC {
                    sh.fail("ext magic changed");
                }
            }
        }),
        5,
    );
    // LIST, QUERY: the counters grow between resets.
    spawn(
        &mut threads,
        Box::new(|dev, sh, _| {
            let m = Mapping::extended(dev);
            let resets = || m.u64(offset_of!(abi::ExtHeader, resets));
            let mut prev: Option<(u64, abi::Status)> = None;
            for _ in 0..100 {
                let r0 = resets();
                let s = dev.status();
                let r1 = resets();
                let list = dev.list();
                if list.len() > 64 {
                    sh.fail(&format!("LIST returned {} pids", list.len()));
                }
                if let Some((pr, p)) = prev {
                    if pr == r0 && r0 == r1 {
                        sh.growth_checks.fetch_add(1, Ordering::Relaxed);
                        let grew = s.ticks >= p.ticks
                            && s.samples_written >= p.samples_written
                            && s.records_written >= p.records_written
                            && s.process_samples >= p.process_samples
                            && s.cost_total_ns >= p.cost_total_ns;
                        if !grew {
                            sh.fail(&format!(
                                "counters went back without a reset: {p:?} -> {s:?}"
                            ));
                        }
                    }
                }
                prev = (r0 == r1).then_some((r1, s));
            }
        }),
        6,
    );
    // rmmod attempts: the open device holds the module.
    spawn(
        &mut threads,
        Box::new(|_, sh, _| {
            let name = c"pfprof";
            sh.rmmod_attempts.fetch_add(1, Ordering::Relaxed);
            // SAFETY: delete_module with a NUL-terminated name and flags;
            // it only reads the name.
            let r =
                unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
            if r == 0 {
                sh.fail("rmmod succeeded while the device was open");
            } else {
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if e != libc::EBUSY && e != libc::EAGAIN {
                    sh.fail(&format!("rmmod: errno {e}"));
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }),
        7,
    );

    std::thread::sleep(Duration::from_secs(seconds));
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("a race thread panicked");
    }
    // Quiet: once the exited processes are dropped (a few ticks), the views
    // agree (checked twice, a few ticks apart).
    if dev.status().registered > 0 {
        dev.wait_ticks(3);
    }
    for _ in 0..2 {
        let mut list = dev.list();
        list.sort_unstable();
        let mut procs = proc_pids();
        procs.sort_unstable();
        let s = dev.status();
        let sys: u32 = sysfs("registered").parse().unwrap();
        if list != procs || s.registered as usize != list.len() || sys != s.registered {
            shared.fail(&format!(
                "views disagree: LIST {list:?}, /proc {procs:?}, QUERY {}, sysfs {sys}",
                s.registered
            ));
        }
        if list.iter().any(|p| !pids.contains(p)) {
            shared.fail(&format!("an exited process is still registered: {list:?}"));
        }
        for &p in pids.iter() {
            let listed = list.contains(&p);
            let queried = dev.proc_stats(p).is_ok();
            if listed != queried {
                shared.fail(&format!("pid {p}: listed {listed}, QUERY_PID ok {queried}"));
            }
        }
        if s.registered > 0 {
            dev.wait_ticks(3);
        }
    }
    for c in &mut pool {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while dev.status().registered != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !dev.list().is_empty() {
        shared.fail(&format!("registry not empty at the end: {:?}", dev.list()));
    }
    dev.clean();
    let errors = shared.errors.load(Ordering::Relaxed);
    println!(
        "races: seconds={seconds} ops={} rmmod_attempts={} growth_checks={} errors={errors} time={:.1}s",
        shared.ops.load(Ordering::Relaxed),
        shared.rmmod_attempts.load(Ordering::Relaxed),
        shared.growth_checks.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    if errors > 0 {
        std::process::exit(1);
    }
}
