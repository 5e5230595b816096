//! Races (src/bin/races.rs), bounded: register / unregister / exit / reset /
//! period changes / mapped readers / LIST and QUERY / rmmod attempts at
//! once; the state stays consistent and rmmod fails while the device is
//! open. `cargo xtask stress` runs it longer.

use std::process::Command;

use vmtests::{bin_path, figure, require_lab};

#[test]
fn concurrent_operations_keep_the_state_consistent() {
    require_lab();
    let seconds = if std::env::var("PFPROF_IN_LAB").as_deref() == Ok("debug") {
        "30"
    } else {
        "20"
    };
    let out = Command::new(bin_path("races"))
        .args(["--seconds", seconds])
        .output()
        .expect("run races");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "races found an inconsistency");
    assert!(stdout.contains("errors=0"), "{stdout}");
    // errors=0 means something only if the threads did their work.
    for key in ["ops", "rmmod_attempts", "growth_checks"] {
        let n = figure(&stdout, key);
        assert!(n > 0, "{key}={n}: the races did not run");
    }
}
