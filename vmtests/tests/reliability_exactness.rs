//! Exactness: for several workloads, the sum of the extended ring's
//! per-period records of a process equals the /proc/<pid>/stat (faults) and
//! /proc/<pid>/schedstat (CPU) deltas of the same interval. Both ends of the
//! interval are taken with the process stopped, after the sampler has ticked
//! twice, so the records cover exactly the interval.
//!
//! The tests named `with_swap_*` need a swap device and little RAM: `cargo
//! xtask test` runs them in a stage of their own (`--swap 1G --mem 384M`)
//! and skips them in the ordinary suite; without swap they fail.

use std::mem::offset_of;

use vmtests::dev::{abi, ext_records, proc_stat, schedstat_ns, Dev, Faulter, Mapping};
use vmtests::require_lab;

/// USER_HZ: /proc/<pid>/stat reports CPU time in these ticks.
const USER_HZ: u64 = 100;

/// The counters at one end of the interval.
struct End {
    head: u64,
    stat: (u64, u64, u64),
    sched_ns: u64,
}

fn end(dev: &Dev, ext: &Mapping, f: &Faulter) -> End {
    f.pause();
    dev.wait_ticks(2);
    End {
        head: ext.u64(offset_of!(abi::ExtHeader, head)),
        stat: proc_stat(f.pid()),
        sched_ns: schedstat_ns(f.pid()),
    }
}

/// Runs `rounds` of faults between two stopped ends and compares; returns
/// the (minor, major) faults of the interval.
fn check(mut f: Faulter, rounds: usize, single_threaded: bool) -> (u64, u64) {
    let dev = Dev::open();
    dev.clean();
    let ext = Mapping::extended(&dev);
    let pid = f.pid();
    dev.register(pid).unwrap();
    let a = end(&dev, &ext, &f);
    f.resume();
    for _ in 0..rounds {
        f.fault();
    }
    let b = end(&dev, &ext, &f);
    f.resume();
    let recs: Vec<abi::Record> = ext_records(&ext, a.head)
        .into_iter()
        .filter(|r| r.pid == pid && r.seq < b.head)
        .collect();
    // None lost: one record per tick for the process.
    assert!(!recs.is_empty());
    let sum = |get: fn(&abi::Record) -> u64| recs.iter().map(get).sum::<u64>();
    let (minor, major, cpu) = (
        sum(|r| r.minor_faults),
        sum(|r| r.major_faults),
        sum(|r| r.cpu_ns),
    );
    eprintln!(
        "pid {pid}: {} records: minor {minor}, major {major}, cpu {cpu} ns; stat minor {}, major {}; schedstat {} ns",
        recs.len(),
        b.stat.0 - a.stat.0,
        b.stat.1 - a.stat.1,
        b.sched_ns - a.sched_ns
    );
    assert_eq!(minor, b.stat.0 - a.stat.0, "minor faults = stat delta");
    assert_eq!(major, b.stat.1 - a.stat.1, "major faults = stat delta");
    if single_threaded {
        assert_eq!(cpu, b.sched_ns - a.sched_ns, "CPU ns = schedstat delta");
    } else {
        // Exited threads are not in any schedstat; stat has 10 ms ticks.
        let stat_ns = (b.stat.2 - a.stat.2) * 1_000_000_000 / USER_HZ;
        let slack = 2 * 1_000_000_000 / USER_HZ + 2_000_000;
        assert!(
            cpu.abs_diff(stat_ns) <= slack,
            "cpu {cpu} vs stat {stat_ns}"
        );
    }
    dev.unregister(pid).unwrap();
    f.finish();
    dev.clean();
    (minor, major)
}

#[test]
fn single_threaded_sums_equal_stat_and_schedstat() {
    require_lab();
    check(Faulter::start(3000, 0), 3, true);
}

#[test]
fn multi_threaded_sums_equal_stat() {
    require_lab();
    check(Faulter::start(400, 6), 3, false);
}

#[test]
fn a_resident_buffer_rewritten_has_no_faults_to_miss() {
    require_lab();
    // 64 MiB written three times: faults on the first pass only.
    check(Faulter::start_bin("memhog", &["64"]), 3, true);
}

#[test]
fn with_swap_major_faults_are_exact_too() {
    require_lab();
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    assert!(
        swaps.lines().count() >= 2,
        "no swap in this VM: this test runs in the swap stage of `cargo xtask test` \
         (by hand: cargo xtask vm --load --swap 1G --mem 384M -- <this binary> with_swap)"
    );
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    // A quarter more than the RAM: every pass swaps.
    let total_mb = total_kb / 1024;
    let mb = total_mb * 5 / 4;
    let (minor, major) = check(Faulter::start_bin("memhog", &[&mb.to_string()]), 2, true);
    eprintln!("memhog {mb} MiB in {total_mb} MiB of RAM: {minor} minor, {major} major faults");
    // The second pass finds at least the part over the RAM swapped out; swap
    // readahead brings some pages in without a fault of their own, so the
    // bound is a tenth of those pages.
    let over_ram_pages = (mb - total_mb) * 256;
    assert!(
        major >= over_ram_pages / 10,
        "{major} major faults with {mb} MiB in {total_mb} MiB of RAM (expected at least {})",
        over_ram_pages / 10
    );
}
