//! The fuzzer (src/bin/fuzz.rs), bounded: several processes throw random and
//! mutated input at every entry point; every result must be a success or a
//! documented errno. `cargo xtask stress` runs the long version.

use std::process::Command;

use vmtests::{bin_path, figure, require_lab};

/// The debug kernel is 5-10x slower under TCG.
fn debug_kernel() -> bool {
    std::env::var("PFPROF_IN_LAB").as_deref() == Ok("debug")
}

#[test]
fn the_fuzzer_finds_nothing() {
    require_lab();
    let (ops, seconds) = if debug_kernel() {
        ("50000", "40")
    } else {
        ("200000", "40")
    };
    let out = Command::new(bin_path("fuzz"))
        .args([
            "--seed",
            "6",
            "--procs",
            "3",
            "--ops",
            ops,
            "--seconds",
            seconds,
        ])
        .output()
        .expect("run fuzz");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the fuzzer reported problems");
    assert!(stdout.contains("violations=0 crashes=0"), "{stdout}");
    // No violation means something only if operations were thrown.
    let ops = figure(&stdout, "ops");
    assert!(ops >= 1000, "the fuzzer ran only {ops} operations");
}
