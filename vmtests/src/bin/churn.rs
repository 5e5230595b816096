//! Churn for the in-VM reliability suite: `churn [--procs N] [--window W]
//! [--reload]`.
//!
//! With the sampler at 1 kHz (SET_PERIOD 1000 us), forks N short-lived
//! processes, at most W alive at a time, registers each (by ioctl or through
//! /proc/mp3/status), unregisters a quarter of them again before they exit
//! and lets the rest exit registered, so the sampler drops them. At the end
//! the registry must be empty (LIST, QUERY and /proc/mp3/status); with
//! `--reload`, `rmmod pfprof` and `insmod $PFPROF_KO` must then work. Prints
//! `churn: procs=N ...` and exits 1 on any inconsistency.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use vmtests::arg_value;
use vmtests::dev::{abi, proc_pids, proc_write, Dev};

/// A child blocked on a pipe until its write end is closed.
#[derive(Debug)]
struct Child {
    pid: i32,
    release: i32,
}

fn spawn() -> Child {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: This process is single-threaded; the child only calls
    // close, read and _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut b = 0u8;
        // SAFETY: Our own descriptors; `b` is one writable byte. The write
        // ends of the other children's pipes, inherited, are closed too, or
        // they would keep each other alive.
        unsafe {
            for fd in 3..1024 {
                if fd != fds[0] {
                    libc::close(fd);
                }
            }
            libc::read(fds[0], (&raw mut b).cast(), 1);
            libc::_exit(0);
        }
    }
    assert!(pid > 0, "fork");
    // SAFETY: The parent's copy of the read end, not needed.
    unsafe { libc::close(fds[0]) };
    Child {
        pid,
        release: fds[1],
    }
}

fn release(c: Child, reap: bool) {
    // SAFETY: Closing the write end lets the child read EOF and exit.
    unsafe { libc::close(c.release) };
    if reap {
        let mut status = 0;
        // SAFETY: Our own child.
        unsafe { libc::waitpid(c.pid, &mut status, 0) };
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let procs = arg_value(&args, "--procs").unwrap_or(1000);
    let window = arg_value(&args, "--window").unwrap_or(16).max(1) as usize;
    let reload = args.iter().any(|a| a == "--reload");
    let started = Instant::now();
    let dev = Dev::open();
    dev.clean();
    dev.set_period_us(abi::PERIOD_MIN_US)
        .expect("SET_PERIOD 1000");
    let ticks0 = dev.status().ticks;
    let mut alive: VecDeque<Child> = VecDeque::new();
    let (mut registered, mut unregistered, mut failures) = (0u64, 0u64, 0u64);
    for i in 0..procs {
        let c = spawn();
        let r = if i % 2 == 0 {
            dev.register(c.pid).map(|_| ())
        } else {
            proc_write(format!("R {}\n", c.pid).as_bytes())
        };
        match r {
            Ok(()) => registered += 1,
            Err(e) => {
                failures += 1;
                eprintln!("churn: register {} failed: errno {e}", c.pid);
            }
        }
        if i % 4 == 3 {
            let r = if i % 8 == 3 {
                dev.unregister(c.pid).map(|_| ())
            } else {
                proc_write(format!("U {}", c.pid).as_bytes())
            };
            // The sampler may have dropped it already only if it exited,
            // and it has not: it waits for us.
            match r {
                Ok(()) => unregistered += 1,
                Err(e) => {
                    failures += 1;
                    eprintln!("churn: unregister {} failed: errno {e}", c.pid);
                }
            }
        }
        alive.push_back(c);
        if alive.len() >= window {
            // Release the oldest; reap only every other one at once so some
            // stay zombies across a tick.
            let c = alive.pop_front().unwrap();
            release(c, i % 2 == 0);
        }
        if i % 1000 == 999 {
            eprintln!(
                "churn: {} processes, {:.1} s, {} registered now",
                i + 1,
                started.elapsed().as_secs_f64(),
                dev.list().len()
            );
        }
    }
    for c in alive {
        release(c, true);
    }
    // Reap everything left.
    // SAFETY: Waits for any child of ours; -1 with no children is ECHILD.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) } > 0 {}
    // Every process has exited: within a few ticks the registry is empty.
    let deadline = Instant::now() + Duration::from_secs(30);
    while dev.status().registered != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = dev.status();
    let list = dev.list();
    let proc_list = proc_pids();
    let ticks = s.ticks - ticks0;
    let mut ok = failures == 0;
    if !list.is_empty() || !proc_list.is_empty() || s.registered != 0 {
        ok = false;
        eprintln!(
            "churn: registry not empty: LIST {list:?}, /proc {proc_list:?}, QUERY {}",
            s.registered
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    if dev.status().state != abi::STATE_IDLE {
        ok = false;
        eprintln!("churn: the sampler still runs with nothing registered");
    }
    dev.set_period_us(abi::PERIOD_DEFAULT_US)
        .expect("SET_PERIOD");
    drop(dev);
    let mut reloaded = "no";
    if reload {
        let ko = std::env::var("PFPROF_KO").expect("PFPROF_KO");
        if vmtests::sh("rmmod pfprof") && vmtests::sh(&format!("insmod {ko}")) {
            reloaded = "yes";
        } else {
            ok = false;
            reloaded = "FAILED";
            eprintln!("churn: rmmod + insmod failed after the churn");
        }
    }
    println!(
        "churn: procs={procs} registered={registered} unregistered={unregistered} \
         exited_registered={} ticks={ticks} process_samples={} reload={reloaded} time={:.1}s ok={ok}",
        registered - unregistered,
        s.process_samples,
        started.elapsed().as_secs_f64()
    );
    if !ok {
        std::process::exit(1);
    }
}
