//! `pfprof-top -b` against the module.

mod tools_common;

use std::process::{Command, Stdio};

use tools_common::*;
use vmtests::require_lab;

#[test]
fn batch_mode_with_nothing_registered() {
    require_lab();
    clean_slate();
    let out = ok("pfprof-top", &["-b", "-n", "1"]);
    assert!(
        out.starts_with("pfprof-top: 0 registered, sampler idle"),
        "{out}"
    );
    assert!(out.contains("PID") && out.contains("MINFLT/s") && out.contains("CPU%"));
    assert!(out.ends_with("(no process registered)\n"));
}

#[test]
fn batch_mode_shows_a_running_workload() {
    require_lab();
    clean_slate();
    let mut work = Command::new(bin("work"))
        .args(["8", "R", "2000", "--iterations", "600", "--sleep-ms", "100"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn work");
    wait_registered(work.id(), 30);
    let out = ok("pfprof-top", &["-b", "-n", "2", "-d", "0.5", "-s", "pid"]);
    let _ = work.kill();
    let _ = work.wait();
    let frames: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(frames.len(), 2, "{out}");
    for f in frames {
        let row = f
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&work.id().to_string()))
            .unwrap_or_else(|| panic!("no row for work in\n{f}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1], "work", "{row}");
        let faults: u64 = cells[4].replace(',', "").parse().expect("FAULTS");
        assert!(faults > 0, "{row}");
    }
}

#[test]
fn interactive_mode_redraws_in_place_and_q_quits() {
    require_lab();
    clean_slate();
    // `script` gives pfprof-top a terminal; `q` arrives after many frames
    // (8 s at 0.2 s each), even when the machine is slow to start it.
    let cmd = format!("{} -d 0.2", bin("pfprof-top").display());
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 8; printf q) | timeout 120 script -qec '{cmd}' /dev/null"
        ))
        .output()
        .expect("script");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let screen = text(&o.stdout);
    assert!(screen.contains("\x1b[?1049h"), "alternate screen entered");
    assert!(
        screen.matches("\x1b[H\x1b[2J").count() >= 2,
        "redrawn in place:\n{screen}"
    );
    assert!(screen.contains("q: quit"));
    assert!(screen.contains("\x1b[?1049l"), "terminal restored");
}
