//! Load / register / sample / unregister / unload cycles
//! (src/bin/leakcycles.rs), then, on the debug kernel, a kmemleak scan that
//! must report nothing. `cargo xtask stress` runs 100 cycles.

use std::process::Command;

use vmtests::{bin_path, require_lab};

#[test]
fn load_cycles_leak_nothing() {
    require_lab();
    let out = Command::new(bin_path("leakcycles"))
        .args(["--cycles", "10"])
        .output()
        .expect("run leakcycles");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "a cycle failed or kmemleak reported a leak"
    );
    assert!(stdout.contains("cycles=10 "), "{stdout}");
    // The release kernel has no kmemleak: there the test checks the cycles
    // only, and `leaks=0` says nothing. The debug kernel must have scanned.
    let debug = std::env::var("PFPROF_IN_LAB").as_deref() == Ok("debug");
    let want = if debug {
        "leaks=0 kmemleak=yes"
    } else {
        "leaks=0 kmemleak=no"
    };
    assert!(stdout.contains(want), "want {want:?}: {stdout}");
}
