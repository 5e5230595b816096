//! Load/unload cycles for the in-VM reliability suite: `leakcycles
//! [--cycles N] [--no-clear]`.
//!
//! Starts with the module loaded (as the lab runner leaves it) and ends with
//! it loaded again. Each cycle: rmmod, insmod `$PFPROF_KO`, open the device,
//! 1 kHz period, register a process by ioctl and one through
//! /proc/mp3/status, map both rings, let the sampler tick, read the figures,
//! unregister, close. Then, where kmemleak is available (the debug kernel,
//! debugfs at /sys/kernel/debug), a scan must report nothing. The scan
//! covers what was allocated since kmemleak's suspects were last cleared:
//! at the start of this run, or with `--no-clear` whenever the caller did
//! (`cargo xtask stress` clears before its first part, so the scan covers
//! the whole run). Prints
//! `leakcycles: cycles=N leaks=L kmemleak=yes|no` and exits 1 on a leak or
//! a failed step.

use std::os::fd::AsRawFd;
use std::time::Duration;

use vmtests::arg_value;
use vmtests::dev::{abi, proc_write, Dev, Mapping};

const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// insmod, without a shell: finit_module(2).
fn insmod(ko: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(ko)?;
    // SAFETY: An open file and an empty, NUL-terminated parameter string.
    let r = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), c"".as_ptr(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// rmmod, without a shell: delete_module(2), non-blocking as rmmod(8) does.
fn rmmod() -> std::io::Result<()> {
    // SAFETY: A NUL-terminated module name.
    let r = unsafe {
        libc::syscall(
            libc::SYS_delete_module,
            c"pfprof".as_ptr(),
            libc::O_NONBLOCK,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A child that sleeps until it is killed, forked (an exec from the lab's
/// 9p root costs more than the rest of a cycle on the debug kernel).
#[derive(Debug)]
struct Sleeper(i32);

impl Sleeper {
    fn new() -> Sleeper {
        // SAFETY: This program is single-threaded; the child only calls
        // pause until it is killed.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            loop {
                // SAFETY: Waits for a signal.
                unsafe { libc::pause() };
            }
        }
        assert!(pid > 0, "fork");
        Sleeper(pid)
    }

    fn pid(&self) -> i32 {
        self.0
    }
}

impl Drop for Sleeper {
    /// Kills the child and reaps it (also when a cycle fails).
    fn drop(&mut self) {
        // SAFETY: Our own child, not reaped yet.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
            libc::waitpid(self.0, std::ptr::null_mut(), 0);
        }
    }
}

fn cycle(ko: &str) {
    rmmod().expect("rmmod pfprof");
    insmod(ko).expect("insmod");
    let dev = Dev::open();
    dev.set_period_us(abi::PERIOD_MIN_US).expect("SET_PERIOD");
    let a = Sleeper::new();
    let b = Sleeper::new();
    dev.register(a.pid()).expect("REGISTER");
    proc_write(format!("R {}", b.pid()).as_bytes()).expect("R");
    let classic = Mapping::classic(&dev);
    let ext = Mapping::extended(&dev);
    dev.wait_ticks(3);
    assert_ne!(classic.u64(0), abi::CLASSIC_EMPTY, "a classic sample");
    assert!(ext.u64(std::mem::offset_of!(abi::ExtHeader, head)) >= 3);
    assert_eq!(dev.list().len(), 2);
    dev.proc_stats(a.pid()).expect("QUERY_PID");
    dev.unregister(a.pid()).expect("UNREGISTER");
    proc_write(format!("U {}", b.pid()).as_bytes()).expect("U");
    // A process left registered, exiting: dropped by the sampler or by rmmod.
    dev.register(b.pid()).expect("REGISTER");
    drop(a);
    drop(b);
    dev.set_period_us(abi::PERIOD_DEFAULT_US).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cycles = arg_value(&args, "--cycles").unwrap_or(10);
    let ko = std::env::var("PFPROF_KO").expect("PFPROF_KO");
    let started = std::time::Instant::now();
    let kmemleak = std::path::Path::new(KMEMLEAK).exists();
    if kmemleak && !args.iter().any(|a| a == "--no-clear") {
        // Forget what was suspected before (boot, other tests).
        std::fs::write(KMEMLEAK, "clear").expect("kmemleak clear");
    }
    for i in 0..cycles {
        cycle(&ko);
        if i % 10 == 9 {
            eprintln!(
                "leakcycles: {} cycles, {:.1} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let mut leaks = 0;
    if kmemleak {
        // kmemleak reports only objects older than 5 s: scan after that.
        std::thread::sleep(Duration::from_secs(6));
        for _ in 0..2 {
            std::fs::write(KMEMLEAK, "scan").expect("kmemleak scan");
        }
        let report = std::fs::read_to_string(KMEMLEAK).expect("read kmemleak");
        leaks = report.matches("unreferenced object").count();
        if leaks > 0 {
            eprintln!("leakcycles: kmemleak reports:\n{report}");
        }
    }
    println!(
        "leakcycles: cycles={cycles} leaks={leaks} kmemleak={} time={:.1}s",
        if kmemleak { "yes" } else { "no" },
        started.elapsed().as_secs_f64()
    );
    if leaks > 0 {
        std::process::exit(1);
    }
}
