//! The examples against the module: `work` registers itself for its run, and
//! the C client registers, faults, queries and reads the buffer.

mod tools_common;

use std::path::Path;
use std::process::{Command, Stdio};

use tools_common::*;
use vmtests::require_lab;

#[test]
fn work_is_registered_while_it_runs_and_not_after() {
    require_lab();
    clean_slate();
    let mut work = Command::new(bin("work"))
        .args(["2", "L", "1000", "--iterations", "3", "--sleep-ms", "1000"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn work");
    let pid = work.id();
    wait_registered(pid, 30);
    let listed = std::fs::read_to_string("/proc/mp3/status").expect("/proc/mp3/status");
    assert!(listed.lines().any(|l| l == pid.to_string()), "{listed}");
    assert!(work.wait().expect("work").success());
    assert_eq!(ok("pfprof", &["list"]), "", "work unregistered itself");
}

#[test]
fn the_c_client_registers_faults_queries_and_reads_the_buffer() {
    require_lab();
    clean_slate();
    let out = std::env::temp_dir().join(format!("pfprof-c-client-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c");
    let make = Command::new("make")
        .arg("-C")
        .arg(&src)
        .arg(format!("OUT={}", out.display()))
        .output()
        .expect("make");
    assert!(make.status.success(), "{}", text(&make.stderr));
    let o = Command::new(out.join("pfprof_client"))
        .output()
        .expect("pfprof_client");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    let field = |key: &str| -> u64 {
        stdout
            .split_whitespace()
            .skip_while(|w| *w != key)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
    };
    // 16 MiB, one write per page: at least 4096 minor faults.
    assert!(field("minor_faults") >= 4096, "{stdout}");
    assert!(stdout.contains("classic buffer: "));
    let samples: u64 = stdout
        .split("classic buffer: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("sample count");
    assert!(samples >= 1, "{stdout}");
    assert_eq!(
        ok("pfprof", &["list"]),
        "",
        "the client unregistered itself"
    );
    let _ = std::fs::remove_dir_all(&out);
}
