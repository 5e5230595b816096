//! Churn (src/bin/churn.rs), bounded: short-lived processes registered and
//! exiting while the sampler runs at 1 kHz; the registry ends empty and the
//! module unloads and loads again. `cargo xtask stress` runs 10,000.

use std::process::Command;

use vmtests::{bin_path, figure, require_lab};

#[test]
fn churned_processes_leave_nothing_behind() {
    require_lab();
    let procs = if std::env::var("PFPROF_IN_LAB").as_deref() == Ok("debug") {
        "300"
    } else {
        "1000"
    };
    let out = Command::new(bin_path("churn"))
        .args(["--procs", procs, "--reload"])
        .output()
        .expect("run churn");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "churn failed");
    assert!(
        stdout.contains("reload=yes") && stdout.contains("ok=true"),
        "{stdout}"
    );
    // An empty registry at the end means something only if the processes
    // were registered and the sampler met them.
    assert_eq!(figure(&stdout, "registered"), figure(&stdout, "procs"));
    for key in ["exited_registered", "ticks", "process_samples"] {
        let n = figure(&stdout, key);
        assert!(n > 0, "{key}={n}: {stdout}");
    }
}
