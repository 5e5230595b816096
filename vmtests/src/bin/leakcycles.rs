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

use std::process::Command;
use std::time::Duration;

use vmtests::dev::{abi, proc_write, Dev, Mapping};
use vmtests::sh;

const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

fn arg_value(args: &[String], name: &str) -> Option<u64> {
    args.iter().position(|a| a == name).map(|i| {
        args.get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} needs a number"))
    })
}

fn cycle(ko: &str) {
    assert!(sh("rmmod pfprof"), "rmmod");
    assert!(sh(&format!("insmod {ko}")), "insmod");
    let dev = Dev::open();
    dev.set_period_us(abi::PERIOD_MIN_US).expect("SET_PERIOD");
    let mut a = Command::new("sleep").arg("1000").spawn().unwrap();
    let mut b = Command::new("sleep").arg("1000").spawn().unwrap();
    dev.register(a.id() as i32).expect("REGISTER");
    proc_write(format!("R {}", b.id()).as_bytes()).expect("R");
    let classic = Mapping::new(
        &dev,
        0,
        abi::CLASSIC_SIZE as usize,
        libc::PROT_READ,
        libc::MAP_SHARED,
    )
    .expect("mmap classic");
    let ext = Mapping::new(
        &dev,
        abi::EXT_OFFSET,
        abi::EXT_SIZE as usize,
        libc::PROT_READ,
        libc::MAP_SHARED,
    )
    .expect("mmap ext");
    dev.wait_ticks(3);
    assert_ne!(classic.u64(0), abi::CLASSIC_EMPTY, "a classic sample");
    assert!(ext.u64(std::mem::offset_of!(abi::ExtHeader, head)) >= 3);
    assert_eq!(dev.list().len(), 2);
    dev.proc_stats(a.id() as i32).expect("QUERY_PID");
    dev.unregister(a.id() as i32).expect("UNREGISTER");
    proc_write(format!("U {}", b.id()).as_bytes()).expect("U");
    // A process left registered, exiting: dropped by the sampler or by rmmod.
    dev.register(b.id() as i32).expect("REGISTER");
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
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
