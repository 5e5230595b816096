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
    assert!(stdout.contains("leaks=0"));
}
