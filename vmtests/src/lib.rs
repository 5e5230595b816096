//! Helpers for the in-VM integration suite (tests/). These tests need the
//! pfprof module loaded in the lab VM: `cargo xtask test` runs them there.

pub mod dev;

use std::path::PathBuf;
use std::process::Command;

/// Whether we are inside the lab VM (the runner sets `PFPROF_IN_LAB`).
pub fn in_lab() -> bool {
    std::env::var_os("PFPROF_IN_LAB").is_some()
}

/// Panics with a clear message unless running in the lab VM: these tests
/// load and unload kernel modules and must never run on a host.
pub fn require_lab() {
    assert!(
        in_lab(),
        "this test runs inside the lab VM only: use `cargo xtask test`"
    );
}

/// The pfprof.ko of this kernel flavour, as the runner passes it.
pub fn module_path() -> PathBuf {
    PathBuf::from(std::env::var_os("PFPROF_KO").expect("PFPROF_KO is set by the lab runner"))
}

/// The number after `name` in the command line `args` of one of the
/// src/bin/ programs (`--ops 1000`); panics with a clear message if it is
/// not a number.
pub fn arg_value(args: &[String], name: &str) -> Option<u64> {
    args.iter().position(|a| a == name).map(|i| {
        args.get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} needs a number"))
    })
}

/// The number after `key=` in the summary line a src/bin/ program printed
/// (`races: ops=N ...`); panics with the output if there is none.
pub fn figure(stdout: &str, key: &str) -> u64 {
    let prefix = format!("{key}=");
    stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}=<number> in {stdout:?}"))
}

/// Runs a command and returns whether it exited with 0.
pub fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A binary of this workspace (a tool, an example, a src/bin/ helper) in
/// the `target/<profile>/` directory above the `deps/` directory that holds
/// the running test executable; panics with what to build if it is missing.
/// The one lookup of the suite (tests/tools_common uses it too).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace's binaries on the host first \
         (`cargo build --workspace --bins`)",
        path.display()
    );
    path
}

/// Runs the `probe` helper (src/bin/probe.rs) as user and group `uid` and
/// returns what it printed: `ok` or `errno N`.
pub fn probe_as(uid: u32, args: &[&str]) -> String {
    use std::os::unix::process::CommandExt;
    let out = Command::new(bin_path("probe"))
        .args(args)
        .uid(uid)
        .gid(uid)
        .output()
        .expect("run probe");
    assert!(
        out.status.success(),
        "probe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("probe prints text")
        .trim()
        .to_owned()
}
