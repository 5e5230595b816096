//! Builds the C programs the in-VM suite runs (with the host's cc), so the
//! tests find them through `env!`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    // One program today; the list is where more go.
    let programs: &[&str] = &["classic_monitor"];
    for name in programs {
        let src = format!("c/{name}.c");
        println!("cargo:rerun-if-changed={src}");
        let bin = out.join(name);
        let status = Command::new(&cc)
            .args(["-O2", "-Wall", "-Werror", "-o"])
            .arg(&bin)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
        assert!(status.success(), "{cc} failed on {src}");
        println!(
            "cargo:rustc-env=PFPROF_{}={}",
            name.to_uppercase(),
            bin.display()
        );
    }
}
