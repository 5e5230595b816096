//! `pfprof exporter` with the module, scraped by a real Prometheus in the
//! lab VM over loopback: what Prometheus stores agrees with the module's
//! QUERY_PID figures (the scenario is tools/tests/prom/mod.rs, shared with
//! the host test of `--backend procfs`), the sampler's health and the
//! memory from the extended ring are there, a process the module dropped
//! goes after one more scrape, SIGTERM stops the exporter.

#[path = "../../tools/tests/prom/mod.rs"]
mod prom;
mod tools_common;

use std::time::{Duration, Instant};

use libpfprof::{Pid, Profiler};
use tools_common::*;
use vmtests::require_lab;

/// Prometheus starts slowly under TCG: every wait for it is this long.
const TIMEOUT: Duration = Duration::from_secs(300);

fn minor_faults(pid: Pid) -> u64 {
    Profiler::open()
        .expect("open /dev/pfprof")
        .query_pid(pid)
        .expect("QUERY_PID of the workload")
        .counters
        .minor
}

/// The value of the first line of `text` that starts with `prefix`.
fn metric(text: &str, prefix: &str) -> f64 {
    prom::sample(text, prefix).unwrap_or_else(|| panic!("no {prefix}: {text}"))
}

#[test]
fn prometheus_stores_the_modules_exact_figures() {
    require_lab();
    let lo = std::fs::read_to_string("/sys/class/net/lo/flags").expect("the VM has lo");
    let flags = u32::from_str_radix(lo.trim().trim_start_matches("0x"), 16).expect("lo's flags");
    assert!(
        flags & 1 == 1,
        "lo is down in the VM (lab/guest-init.sh runs `ip link set lo up`)"
    );
    clean_slate();
    let mut w = prom::Workload::fork();
    let pid = Pid::new(w.pid).expect("a pid");
    profiler().register(pid).expect("register the workload");
    // It idles: its faults since the fork now are those before registration.
    let base = prom::proc_minflt(w.pid);
    let exporter = prom::Exporter::start(
        &bin("pfprof"),
        &[
            "exporter",
            "-p",
            &pid.to_string(),
            "--listen",
            "127.0.0.1:0",
        ],
    );

    // The sampler's health and the memory of the newest ring record.
    let text = exporter.metrics();
    assert!(metric(&text, "pfprof_sampler_ticks_total ") > 0.0, "{text}");
    assert_eq!(metric(&text, "pfprof_registered_processes "), 1.0);
    assert_eq!(metric(&text, "pfprof_sampler_period_seconds "), 0.05);
    for name in [
        "pfprof_sampler_overruns_total ",
        "pfprof_sampler_samples_lost_total ",
        "pfprof_sampler_cpu_seconds_total ",
    ] {
        assert!(metric(&text, name) >= 0.0);
    }
    let resident = format!(
        "pfprof_resident_bytes{{pid=\"{pid}\",comm=\"{}\",kind=\"anon\"}} ",
        prom::WORKLOAD_COMM
    );
    assert!(metric(&text, &resident) > 0.0, "{text}");

    let m = prom::scenario(&exporter, &mut w, move || minor_faults(pid), TIMEOUT);
    prom::assert_agreement(&m);

    // Faults the exporter has not queried, then the exit; the module drops
    // the process at the next tick, after its EXITED record. The scrape
    // after that has the final figure: the last query's plus the records
    // after it, equal to wait4's count since the fork less the base.
    let key = format!("pfprof_minor_faults_total{{pid=\"{pid}\",");
    let read_before = prom::sample(&exporter.metrics(), &key);
    w.start(4);
    w.wait_done();
    w.end();
    let final_minor = w.reap() - base;
    assert!(read_before < Some(final_minor as f64));
    let t = Instant::now();
    while profiler().list().expect("list").contains(&pid) {
        assert!(t.elapsed() < Duration::from_secs(10), "never dropped");
        std::thread::sleep(Duration::from_millis(10));
    }
    prom::assert_dropped_after_one_more_scrape(&exporter, pid.as_raw(), final_minor);
    let after = exporter.metrics();
    assert_eq!(metric(&after, "pfprof_registered_processes "), 0.0);
    // Under TCG with KASAN the exit itself takes over a second.
    prom::assert_stops(exporter, libc::SIGTERM, Duration::from_secs(5));
}

#[test]
fn tree_members_are_labelled_with_their_root() {
    require_lab();
    clean_slate();
    // A shell registered as a tree root, which forks a sleep; the sleep is
    // registered at the sampler's next tick.
    let tree = Tree::start("sleep 60 & wait");
    let root = tree.root;
    let member = tree
        .wait_members(2, 10)
        .into_iter()
        .find(|&p| p != root)
        .expect("the fork was followed");
    let exporter = prom::Exporter::start(&bin("pfprof"), &["exporter", "--listen", "127.0.0.1:0"]);
    let want = [
        format!(
            "pfprof_minor_faults_total{{pid=\"{member}\",comm=\"sleep\",tree_root=\"{root}\"}} "
        ),
        format!("pfprof_minor_faults_total{{pid=\"{root}\",comm=\"sh\",tree_root=\"{root}\"}} "),
    ];
    let t = Instant::now();
    let text = loop {
        let text = exporter.metrics();
        if want.iter().all(|w| prom::sample(&text, w).is_some()) {
            break text;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no tree_root labels: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        prom::sample(&text, &want[0]).is_some_and(|v| v > 0.0),
        "{text}"
    );
    prom::assert_stops(exporter, libc::SIGTERM, Duration::from_secs(5));
    // The sleep and the shell go; the registry empties.
    drop(tree);
    clean_slate();
}
