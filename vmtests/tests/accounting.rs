//! What the module counts: exact against /proc/<pid>/stat, all threads
//! (exited ones too), processes that exit while registered, and the period.

use std::time::Duration;

use vmtests::dev::{
    abi, classic_samples, ext_records, proc_pids, proc_stat, Dev, Faulter, Mapping,
};
use vmtests::require_lab;

/// USER_HZ: /proc/<pid>/stat reports CPU time in these ticks.
const USER_HZ: u64 = 100;

fn check_against_proc_stat(pages: usize, threads: usize) {
    let dev = Dev::open();
    dev.clean();
    let mut f = Faulter::start(pages, threads);
    let pid = f.pid();
    dev.register(pid).unwrap();
    // Both snapshots are taken with the process stopped, so they cover
    // exactly the same interval.
    f.pause();
    let before = proc_stat(pid);
    let q0 = dev.proc_stats(pid).unwrap();
    f.resume();
    for _ in 0..3 {
        f.fault();
    }
    f.pause();
    let after = proc_stat(pid);
    let q1 = dev.proc_stats(pid).unwrap();
    f.resume();
    let (minor, major) = (
        q1.minor_faults - q0.minor_faults,
        q1.major_faults - q0.major_faults,
    );
    assert_eq!(
        minor,
        after.0 - before.0,
        "minor faults = /proc/{pid}/stat delta"
    );
    assert_eq!(
        major,
        after.1 - before.1,
        "major faults = /proc/{pid}/stat delta"
    );
    assert!(minor >= (3 * pages * threads.max(1)) as u64, "{minor}");
    // CPU: stat has 10 ms resolution; allow one tick of it each side plus 2 ms.
    let cpu_ns = q1.cpu_ns - q0.cpu_ns;
    let stat_ns = (after.2 - before.2) * 1_000_000_000 / USER_HZ;
    let slack = 2 * 1_000_000_000 / USER_HZ + 2_000_000;
    assert!(
        cpu_ns.abs_diff(stat_ns) <= slack,
        "cpu {cpu_ns} ns vs stat {stat_ns} ns"
    );

    // The sum of the per-period records equals the cumulative query.
    let ext = Mapping::extended(&dev);
    dev.wait_ticks(2);
    let q2 = dev.proc_stats(pid).unwrap();
    dev.unregister(pid).unwrap();
    let recs: Vec<abi::Record> = ext_records(&ext, 0)
        .into_iter()
        .filter(|r| r.pid == pid)
        .collect();
    let sum = |f: fn(&abi::Record) -> u64| recs.iter().map(f).sum::<u64>();
    assert!(sum(|r| r.minor_faults) <= q2.minor_faults);
    // Up to the last tick everything was recorded; nothing faulted since.
    assert_eq!(
        sum(|r| r.minor_faults),
        q2.minor_faults,
        "records add up to the query"
    );
    assert_eq!(sum(|r| r.major_faults), q2.major_faults);
    f.finish();
    dev.clean();
}

#[test]
fn single_threaded_counts_equal_proc_stat() {
    require_lab();
    check_against_proc_stat(2000, 0);
}

#[test]
fn threads_that_fault_and_exit_are_counted() {
    require_lab();
    // Each "fault" runs 4 threads that touch 500 pages each and exit.
    check_against_proc_stat(500, 4);
}

#[test]
fn a_process_that_exits_is_dropped_after_its_last_record() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let ext = Mapping::extended(&dev);
    let keep = Faulter::start(1, 0);
    dev.register(keep.pid()).unwrap();
    let mut f = Faulter::start(400, 0);
    let pid = f.pid();
    dev.register(pid).unwrap();
    f.fault();
    f.finish(); // exits and is reaped before the next tick, most likely
    dev.wait_ticks(2);
    assert_eq!(dev.list(), vec![keep.pid()], "the exited process is gone");
    assert_eq!(proc_pids(), vec![keep.pid()]);
    let recs: Vec<abi::Record> = ext_records(&ext, 0)
        .into_iter()
        .filter(|r| r.pid == pid)
        .collect();
    let last = recs.last().expect("records of the exited process");
    assert_eq!(
        last.flags & abi::RECORD_EXITED,
        abi::RECORD_EXITED,
        "{last:?}"
    );
    assert_eq!(
        recs.iter()
            .filter(|r| r.flags & abi::RECORD_EXITED != 0)
            .count(),
        1
    );
    let minor: u64 = recs.iter().map(|r| r.minor_faults).sum();
    assert!(minor >= 400, "its last deltas were recorded: {minor}");
    keep.finish();
    // The tick that drops it may come before we look; there is no later
    // tick to wait for once the registry is empty, so poll (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !dev.list().is_empty() || dev.status().state != abi::STATE_IDLE {
        assert!(
            std::time::Instant::now() < deadline,
            "registered {:?}, state {}: the sampler did not stop with the last process",
            dev.list(),
            dev.status().state
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The period in jiffies at HZ=1000 (the lab kernel's; checked by ioctl.rs).
const PERIOD_JIFFIES: i64 = 50;
/// How late a tick may be before the sampler skips the deadlines it missed
/// (kmod/sampler.rs: more than `MAX_BEHIND` = 10 periods behind the next
/// deadline).
const OVERRUN_LATENESS: i64 = 11 * PERIOD_JIFFIES;
/// The shortest stretch between overruns the drift check uses: a module
/// that re-arms relative to "now" (51 jiffies a period) drifts by more than
/// a period over three quarters of it.
const MIN_STRETCH: usize = 100;

/// Splits classic sample times into the stretches between overruns. In a
/// stretch the deadlines are `base + 50 k`, so each sample's phase `j - 50
/// k` is `base` plus its lateness (>= 0). A sample more than
/// [`OVERRUN_LATENESS`] after the lowest phase so far is surely late by
/// that much: an overrun, after which the sampler resumes at a later
/// deadline (a new stretch). Returns the stretches of phases.
fn stretches(jiffies: &[u64]) -> Vec<Vec<i64>> {
    let mut out: Vec<Vec<i64>> = vec![Vec::new()];
    let mut lowest = i64::MAX;
    for &j in jiffies {
        let cur = out.last_mut().expect("one stretch at least");
        let phase = j as i64 - PERIOD_JIFFIES * cur.len() as i64;
        cur.push(phase);
        lowest = lowest.min(phase);
        if phase - lowest > OVERRUN_LATENESS {
            out.push(Vec::new());
            lowest = i64::MAX;
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// How much later the schedule of a stretch runs at its end than at its
/// start: the earliest phase of its last quarter minus the earliest of its
/// first (the minimum discards single late ticks).
fn stretch_drift(phases: &[i64]) -> i64 {
    let q = (phases.len() / 4).max(1);
    let earliest = |part: &[i64]| part.iter().copied().min().unwrap_or(0);
    earliest(&phases[phases.len() - q..]) - earliest(&phases[..q])
}

#[test]
fn the_period_is_exact_over_200_samples() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let ring = Mapping::classic(&dev);
    let me = std::process::id() as i32;
    dev.register(me).unwrap();
    dev.wait_ticks(201);
    dev.unregister(me).unwrap();
    let s = classic_samples(&ring);
    assert!(s.len() >= 201, "{}", s.len());
    let gaps: Vec<u64> = s.windows(2).map(|w| w[1][0] - w[0][0]).collect();
    let span = s[s.len() - 1][0] - s[0][0];
    let mean = span as f64 / gaps.len() as f64;
    let err_pct = (mean - 50.0).abs() / 50.0 * 100.0;
    let overruns = dev.status().overruns;
    let jiffies: Vec<u64> = s.iter().map(|x| x[0]).collect();
    let parts = stretches(&jiffies);
    eprintln!(
        "period over {} samples: mean {mean:.3} jiffies (error {err_pct:.3} %), min {}, max {}, \
         overruns {overruns}, stretches {:?}",
        gaps.len(),
        gaps.iter().min().unwrap(),
        gaps.iter().max().unwrap(),
        parts.iter().map(Vec::len).collect::<Vec<_>>()
    );
    // Every break the samples show is an overrun the module counted.
    assert!(
        (parts.len() - 1) as u64 <= overruns,
        "the samples show {} overruns, the module counted {overruns}: {gaps:?}",
        parts.len() - 1
    );
    // Absolute deadlines: a sample may be late, but lateness does not
    // accumulate. Re-arming relative to "now", as the classic module does,
    // makes every period 51 jiffies: the phase grows by one a period. Within
    // each long stretch between overruns, the earliest sample of the last
    // quarter is no later than a period after the earliest of the first
    // quarter (the minimum discards single late ticks, so a loaded machine
    // does not fail it; only a starved one, which overruns, is left out).
    let mut checked = 0;
    for phases in parts.iter().filter(|p| p.len() >= MIN_STRETCH) {
        let drift = stretch_drift(phases);
        eprintln!(
            "stretch of {} samples from phase {}: drift {drift} jiffies",
            phases.len(),
            phases[0]
        );
        assert!(
            drift.abs() < PERIOD_JIFFIES,
            "drift of {drift} jiffies over {} samples: {gaps:?}",
            phases.len()
        );
        checked += phases.len();
    }
    assert!(
        checked > 0,
        "{overruns} overruns left no stretch of {MIN_STRETCH} samples to check the drift on \
         (the VM was starved for over half a second several times): {gaps:?}"
    );
    dev.clean();
}

#[test]
fn stretches_split_at_overruns_only() {
    // On time, then late ticks that catch up: one stretch.
    let mut j: Vec<u64> = (0..10).map(|k| 1000 + 50 * k).collect();
    j.extend([1500 + 300, 1550 + 300, 1600, 1650]);
    assert_eq!(stretches(&j).iter().map(Vec::len).collect::<Vec<_>>(), [14]);
    // A tick 600 jiffies late: the sampler resumes after it.
    let mut j: Vec<u64> = (0..10).map(|k| 1000 + 50 * k).collect();
    j.push(1500 + 600);
    j.extend((1..5).map(|k| 2100 + 50 * k));
    let parts = stretches(&j);
    assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [11, 4]);
    assert!(parts[1].iter().all(|&p| p == 2150));
    // Relative re-arming (51 a period) is one stretch whose phase grows:
    // the drift check fails it.
    let j: Vec<u64> = (0..200).map(|k| 1000 + 51 * k).collect();
    let parts = stretches(&j);
    assert_eq!(parts.len(), 1);
    assert_eq!(stretch_drift(&parts[0]), 150);
    // Absolute deadlines with late ticks that catch up: no drift.
    let j: Vec<u64> = (0..200)
        .map(|k| 1000 + 50 * k + if k % 7 == 3 { 160 } else { k % 2 })
        .collect();
    assert_eq!(stretch_drift(&stretches(&j)[0]), 0);
}
