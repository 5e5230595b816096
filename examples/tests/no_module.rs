//! The examples without the module: `work` runs with --no-register and
//! fails clearly without it; the C client builds with -Wall -Werror.

use std::path::Path;
use std::process::Command as StdCommand;

use assert_cmd::Command;

fn work() -> Command {
    let mut c = Command::cargo_bin("work").expect("work is built");
    c.current_dir(std::env::temp_dir());
    c
}

#[test]
fn work_runs_without_registering_when_asked() {
    let o = work()
        .args([
            "2",
            "L",
            "5000",
            "--iterations",
            "2",
            "--sleep-ms",
            "1",
            "--no-register",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(o.stdout.is_empty());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("iteration 2/2 done"), "{e}");
}

#[test]
fn work_without_the_module_says_so() {
    // The host suite runs where the module is not loaded (tools_examples in
    // the in-VM suite runs `work` with it).
    assert!(
        !Path::new("/dev/pfprof").exists(),
        "/dev/pfprof exists on this host: run the host tests without the pfprof module loaded"
    );
    let o = work().args(["1", "R", "10"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.starts_with("work: cannot register with pfprof: the pfprof module is not loaded"));
    assert!(
        e.contains("work: to run it unprofiled, add --no-register"),
        "{e}"
    );
}

#[test]
fn work_validates_its_arguments() {
    for args in [
        ["0", "R", "10"],
        ["1025", "R", "10"],
        ["1", "X", "10"],
        ["1", "R", "many"],
    ] {
        let o = work().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn the_c_client_builds_with_warnings_as_errors_and_fails_cleanly() {
    let out = std::env::temp_dir().join(format!("pfprof-c-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let c_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("c");
    let make = StdCommand::new("make")
        .arg("-C")
        .arg(&c_dir)
        .arg(format!("OUT={}", out.display()))
        .output()
        .expect("make is installed");
    assert!(
        make.status.success(),
        "{}",
        String::from_utf8_lossy(&make.stderr)
    );
    let run = StdCommand::new(out.join("pfprof_client"))
        .arg("/nonexistent/pfprof")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot open /nonexistent/pfprof"));
    std::fs::remove_dir_all(&out).unwrap();
}
