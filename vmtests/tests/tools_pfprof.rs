//! The `pfprof` control CLI against the module.

mod tools_common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use tools_common::*;
use vmtests::require_lab;

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep")
}

fn finish(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn register_list_unregister_and_their_errors() {
    require_lab();
    clean_slate();
    let s = sleeper();
    let pid = s.id().to_string();
    ok("pfprof", &["register", &pid]);
    assert_eq!(ok("pfprof", &["list"]), format!("{pid}\n"));
    let again = run("pfprof", &["register", &pid]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already registered"),
        "{}",
        text(&again.stderr)
    );
    ok("pfprof", &["unregister", &pid]);
    assert_eq!(ok("pfprof", &["list"]), "");
    let not = run("pfprof", &["unregister", &pid]);
    assert_eq!(not.status.code(), Some(1));
    assert!(text(&not.stderr).contains("is not registered"));
    finish(s);
    let none = run("pfprof", &["register", "4194000"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none.stderr).contains("no such process"),
        "{}",
        text(&none.stderr)
    );
}

#[test]
fn status_and_period() {
    require_lab();
    clean_slate();
    let st = ok("pfprof", &["status"]);
    assert!(st.starts_with("state:            idle\n"), "{st}");
    assert!(st.contains("abi version:      1\n"));
    assert!(st.contains("period:           50000 us"));
    assert_eq!(ok("pfprof", &["period"]), "50000\n");
    ok("pfprof", &["period", "20ms"]);
    assert_eq!(ok("pfprof", &["period"]), "20000\n");
    let bad = run("pfprof", &["period", "20s"]);
    assert_eq!(bad.status.code(), Some(2), "out of range is a usage error");
    ok("pfprof", &["period", "50000"]);
}

#[test]
fn privileged_requests_fail_clearly_for_other_users() {
    require_lab();
    for args in [&["reset"][..], &["period", "20ms"][..]] {
        let o = Command::new(bin("pfprof"))
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("run pfprof as nobody");
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            text(&o.stderr).starts_with("pfprof: permission denied"),
            "{args:?}: {}",
            text(&o.stderr)
        );
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn run_registers_before_exec_summarizes_and_passes_the_status_on() {
    require_lab();
    clean_slate();
    let work = bin("work");
    let o = Command::new(bin("pfprof"))
        .args(["run", "--"])
        .arg(&work)
        .args(["4", "R", "4000", "--iterations", "1", "--sleep-ms", "100"])
        .stdout(Stdio::piped())
        .output()
        .expect("pfprof run");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty(), "the summary goes to stderr");
    let err = text(&o.stderr);
    assert!(err.contains(" pfprof stats for '"), "{err}");
    let minflt: u64 = err
        .lines()
        .find(|l| l.contains("minor-faults"))
        .and_then(|l| l.split_whitespace().next())
        .map(|n| n.replace(',', "").parse().expect("a number"))
        .expect("a minor-faults line");
    // 4 MiB = 1024 pages; 4000 random writes touch about 1000 of them.
    assert!(minflt >= 900, "{minflt} minor faults\n{err}");
    assert!(err.contains("seconds time elapsed (exit status 0)"));
    assert_eq!(ok("pfprof", &["list"]), "", "nothing left registered");

    let o = run("pfprof", &["run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    let o = run("pfprof", &["run", "--", "/nonexistent/cmd"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("command not found"));
}
