//! `pfprof exporter --backend procfs` on the host, scraped by a real
//! Prometheus (Debian's `prometheus`, installed by `cargo xtask setup`):
//! the figures Prometheus stores agree with /proc's (tests/prom/mod.rs has
//! the scenario), `promtool check metrics` passes on both formats, a
//! process that exits is dropped after one more scrape, signals stop it.

mod prom;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use prom::{Exporter, Workload};

const PFPROF: &str = env!("CARGO_BIN_EXE_pfprof");

/// Prometheus' Accept header (2.42, as its scrape manager sends it).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,\
    text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn procfs_exporter(pid: i32) -> Exporter {
    Exporter::start(
        Path::new(PFPROF),
        &[
            "exporter",
            "--backend",
            "procfs",
            "-p",
            &pid.to_string(),
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

#[test]
fn prometheus_stores_what_proc_counts_and_the_exited_process_goes() {
    let mut w = Workload::fork();
    let pid = w.pid;
    // The workload idles: /proc's figure now is the exporter's baseline.
    let base = prom::proc_minflt(pid);
    let exporter = procfs_exporter(pid);
    assert_eq!(
        prom::proc_minflt(pid),
        base,
        "the workload faulted while idle"
    );
    let m = prom::scenario(
        &exporter,
        &mut w,
        move || prom::proc_minflt(pid) - base,
        Duration::from_secs(60),
    );
    prom::assert_agreement(&m);
    // Faults the exporter has not read yet, then the exit: the scrape
    // after it has the final figure, read from the zombie.
    let read_before = prom::sample(
        &exporter.metrics(),
        &format!("pfprof_minor_faults_total{{pid=\"{pid}\","),
    );
    w.start(4);
    w.wait_done();
    w.end();
    w.wait_zombie();
    let final_minor = prom::proc_minflt(pid) - base;
    assert!(read_before < Some(final_minor as f64));
    prom::assert_dropped_after_one_more_scrape(&exporter, pid, final_minor);
    w.reap();
    prom::assert_stops(exporter, libc::SIGTERM, Duration::from_secs(1));
}

#[test]
fn both_formats_pass_promtool_and_openmetrics_is_served_to_prometheus() {
    let w = Workload::fork();
    let exporter = procfs_exporter(w.pid);
    let (status, ct, text) = prom::get(&exporter.url, None);
    assert_eq!(status, 200);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    let (ok, said) = prom::promtool_check(&text);
    assert!(ok, "{said}\n{text}");
    for name in [
        "pfprof_minor_faults_total counter",
        "pfprof_major_faults_total counter",
        "pfprof_cpu_seconds_total counter",
        "pfprof_resident_bytes gauge",
        "pfprof_swap_bytes gauge",
    ] {
        assert!(text.contains(&format!("# TYPE {name}\n")), "{name}: {text}");
    }
    assert!(
        text.contains(&format!(
            "pfprof_resident_bytes{{pid=\"{}\",comm=\"{}\",kind=\"anon\"}} ",
            w.pid,
            prom::WORKLOAD_COMM
        )),
        "{text}"
    );
    // No sampler without the module.
    assert!(!text.contains("pfprof_sampler"), "{text}");

    let (status, ct, om) = prom::get(&exporter.url, Some(PROMETHEUS_ACCEPT));
    assert_eq!(status, 200);
    assert_eq!(
        ct,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE pfprof_minor_faults counter\n"), "{om}");
    // promtool of 2.42 reads the text format only: the OpenMetrics body is
    // checked by Prometheus itself, whose scrapes fail on a malformed one
    // (the scenario requires up == 1).

    let (status, _, body) = prom::get(&exporter.url.replace("/metrics", "/nope"), None);
    assert_eq!((status, body.as_str()), (404, "not found\n"));
    prom::assert_stops(exporter, libc::SIGINT, Duration::from_secs(1));
}

#[test]
fn non_loopback_needs_allow_remote_and_procfs_needs_pids() {
    let o = Command::new(PFPROF)
        .args(["exporter", "--backend", "procfs", "-p", "1"])
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .expect("run pfprof");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--allow-remote"), "{err}");
    assert!(err.contains("not a loopback address"), "{err}");

    let o = Command::new(PFPROF)
        .args(["exporter", "--backend", "procfs"])
        .output()
        .expect("run pfprof");
    assert_eq!(o.status.code(), Some(2));

    // No module on the host: the error says how to do without it.
    let o = Command::new(PFPROF)
        .args(["exporter", "--device", "/nonexistent/pfprof"])
        .output()
        .expect("run pfprof");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("pfprof exporter --backend procfs -p PID"),
        "{err}"
    );

    // pid_max is at most 2^22: never alive.
    let o = Command::new(PFPROF)
        .args(["exporter", "--backend", "procfs", "-p", "4194311"])
        .output()
        .expect("run pfprof");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no process alive among -p"), "{err}");
}

#[test]
fn the_help_says_what_an_exposed_endpoint_reveals() {
    let o = Command::new(PFPROF)
        .args(["exporter", "--help"])
        .output()
        .expect("run pfprof");
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for want in [
        "pfprof_minor_faults_total",
        "pfprof_sampler_ticks_total",
        "It reveals the pids, command",
        "--allow-remote",
        "127.0.0.1:9464",
        "OpenMetrics",
    ] {
        assert!(help.contains(want), "{want}: {help}");
    }
}
