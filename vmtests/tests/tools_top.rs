//! `pfprof-top` against the module: batch text and csv, -p among the
//! registered processes, SIGINT in batch mode, the interactive screen.
//! (The host suite, tools/tests/top.rs, drives the screen in a pty with
//! the /proc backend.)

mod tools_common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tools_common::*;
use vmtests::require_lab;

fn spawn_work() -> std::process::Child {
    Command::new(bin("work"))
        .args(["8", "R", "2000", "--iterations", "600", "--sleep-ms", "100"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn work")
}

#[test]
fn batch_mode_with_nothing_registered() {
    require_lab();
    clean_slate();
    let out = ok("pfprof-top", &["-b", "-n", "1", "-d", "0.2"]);
    let title = out.lines().next().unwrap_or_default();
    assert!(title.starts_with("pfprof-top 20"), "{out}");
    assert!(title.contains(": 0 registered, sampler idle"), "{out}");
    assert!(out.contains("PID") && out.contains("MINFLT/s") && out.contains("CPU%"));
    assert!(out.ends_with("(no process registered)\n"));
    assert!(!out.contains('\x1b'));
}

#[test]
fn batch_mode_shows_a_running_workload() {
    require_lab();
    clean_slate();
    let mut work = spawn_work();
    wait_registered(work.id(), 30);
    let out = ok("pfprof-top", &["-b", "-n", "2", "-d", "0.5", "-s", "pid"]);
    let csv = ok(
        "pfprof-top",
        &[
            "-n",
            "2",
            "-d",
            "0.5",
            "--format",
            "csv",
            "-p",
            &work.id().to_string(),
        ],
    );
    let _ = work.kill();
    let _ = work.wait();
    let frames: Vec<&str> = out.split("\n\n").collect();
    assert_eq!(frames.len(), 2, "{out}");
    for f in frames {
        assert!(f.contains("sorted by PID"), "{f}");
        let row = f
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&work.id().to_string()))
            .unwrap_or_else(|| panic!("no row for work in\n{f}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1], "work", "{row}");
        let faults: u64 = cells[4].replace(',', "").parse().expect("FAULTS");
        assert!(faults > 0, "{row}");
    }
    // csv (stdout is a pipe: batch mode without -b), only the given pid.
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("time,elapsed_s,interval_s,pid,command"),
        "{csv}"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    for l in &lines[1..] {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f[3], work.id().to_string(), "{l}");
        assert_eq!(f[4], "work", "{l}");
        assert!(f[7].parse::<u64>().expect("plain FAULTS") > 0, "{l}");
        // Its memory, from its records in the extended ring.
        let rss: u64 = f[9].parse().expect("plain rss_bytes");
        assert!(rss >= 1 << 20, "RSS of work: {l}");
        f[10].parse::<u64>().expect("plain swap_bytes");
    }
}

#[test]
fn pid_lists_skip_dead_pids_and_sigint_prints_the_partial_interval() {
    require_lab();
    clean_slate();
    let mut work = spawn_work();
    wait_registered(work.id(), 30);
    let mut idle = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let mut top = Command::new(bin("pfprof-top"))
        .args(["-b", "-d", "8", "--format", "csv", "-p"])
        .arg(format!("{},4194311", work.id()))
        .args(["-p", &idle.id().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pfprof-top");
    // Once its SIGINT handler is in (SigCgt), pfprof-top takes its baseline
    // reading; the partial interval then covers about a second. (Starting
    // it can take seconds under TCG.)
    let caught = || {
        std::fs::read_to_string(format!("/proc/{}/status", top.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("SigCgt:"))
                    .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            })
            .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0)
    };
    let t = Instant::now();
    while !caught() {
        assert!(t.elapsed() < Duration::from_secs(60), "no SIGINT handler");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut stdout = top.stdout.take().expect("stdout");
    let t = Instant::now();
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(top.id() as i32, libc::SIGINT) }, 0);
    // The partial interval is written at once (one flush): the first read
    // returns when SIGINT has taken effect.
    let mut first = [0u8; 4096];
    let n = stdout.read(&mut first).expect("read");
    let effect_ms = t.elapsed().as_secs_f64() * 1e3;
    let st = loop {
        if let Some(st) = top.try_wait().expect("try_wait") {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "pfprof-top ignored SIGINT"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    let exit_ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "pfprof-top -b -d 8 (module): SIGINT to the partial interval {effect_ms:.1} ms, \
         to exit {exit_ms:.1} ms"
    );
    let _ = work.kill();
    let _ = work.wait();
    let _ = idle.kill();
    let _ = idle.wait();
    // Under TCG a process exit alone takes a few hundred ms: the bound is
    // on the effect; the exit gets more room.
    assert!(effect_ms < 500.0, "{effect_ms:.1} ms");
    assert!(exit_ms < 2000.0, "{exit_ms:.1} ms");
    assert!(st.success(), "{st:?}");
    let mut out = String::from_utf8_lossy(&first[..n]).into_owned();
    stdout.read_to_string(&mut out).expect("read");
    let mut err = String::new();
    top.stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(err.contains("no process 4194311, skipped"), "{err}");
    assert!(
        err.contains(&format!("process {} is not registered (yet)", idle.id())),
        "{err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "the header and the partial interval: {out}");
    let f: Vec<&str> = lines[1].split(',').collect();
    let interval: f64 = f[2].parse().expect("interval_s");
    assert!(interval > 0.5 && interval < 8.0, "{out}");
    assert_eq!(f[3], work.id().to_string());
}

#[test]
fn interactive_mode_uses_the_alternate_screen_and_q_quits() {
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
    // ratatui writes only the cells that change, and skips blanks: look
    // for words.
    for w in ["pfprof-top", "registered,", "idle", "averages", "help"] {
        assert!(screen.contains(w), "{w} in\n{screen}");
    }
    assert!(
        screen.contains("interval"),
        "redrawn after an interval:\n{screen}"
    );
    assert!(screen.contains("\x1b[?1049l"), "terminal restored");
}

#[test]
fn batch_tree_folds_a_tree_into_one_row_of_its_members_sums() {
    require_lab();
    clean_slate();
    // A tree: the shell, a faulter that touches 500 pages and exits (with
    // the subshell of the pipe), and two sleeps that stay.
    let faulter = bin("faulter");
    let tree = Tree::start(&format!(
        "printf 'fault\\nexit\\n' | {} 500 0 >/dev/null; sleep 60 & sleep 60 & wait",
        faulter.display()
    ));
    let root = tree.root;
    tree.wait_members(3, 30);
    // Let the sleeps settle: two ticks with no fault of the tree.
    let t = Instant::now();
    let mut last = tree_sums(root);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = tree_sums(root);
        if now == last {
            break;
        }
        last = now;
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the tree never settled"
        );
    }
    let exited: Vec<libpfprof::Pid> = last.iter().filter(|m| m.1 .1).map(|m| *m.0).collect();
    assert!(!exited.is_empty(), "the faulter exited: {last:?}");
    let sum = |pids: &mut dyn Iterator<Item = &(libpfprof::Counters, bool)>| {
        pids.map(|(c, _)| c.minor + c.major).sum::<u64>()
    };
    let want = sum(&mut last.values());
    assert!(want >= 500, "{last:?}");
    let json_rows = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut a = vec!["-b", "-n", "1", "-d", "0.3", "--format", "json"];
        a.extend_from_slice(args);
        ok("pfprof-top", &a)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    let folded = json_rows(&["--tree"]);
    let plain = json_rows(&[]);
    drop(tree);
    let members: Vec<i64> = last.keys().map(|p| i64::from(p.as_raw())).collect();
    // One row for the tree: the root's pid and command, no member's row.
    let rows: Vec<&serde_json::Value> = folded
        .iter()
        .filter(|r| members.contains(&r["pid"].as_i64().unwrap_or(0)))
        .collect();
    assert_eq!(rows.len(), 1, "{folded:?}");
    let row = rows[0];
    assert_eq!(row["pid"], root.as_raw(), "{row}");
    assert_eq!(row["command"], "sh", "{row}");
    assert_eq!(row["tree_root"], root.as_raw(), "{row}");
    // The shell and the sleeps (the exited members were counted in the
    // interval they exited in, before pfprof-top's first).
    assert_eq!(row["procs"].as_u64(), Some(3), "{row}");
    // Its faults: the sums of every member's records, the exited ones'
    // included, exactly.
    assert_eq!(row["faults"].as_u64(), Some(want), "{row}\n{last:?}");
    // Unfolded: the members alive have rows of their own; with the exited
    // members' figures they add up to the tree's row.
    let alive_faults: u64 = plain
        .iter()
        .filter(|r| members.contains(&r["pid"].as_i64().unwrap_or(0)))
        .map(|r| r["faults"].as_u64().expect("faults"))
        .sum();
    let exited_faults = sum(&mut last.values().filter(|m| m.1));
    assert_eq!(alive_faults + exited_faults, want, "{plain:?}");
    assert_eq!(
        plain
            .iter()
            .filter(|r| members.contains(&r["pid"].as_i64().unwrap_or(0)))
            .count(),
        3
    );
    println!(
        "pfprof-top --tree: tree of {} processes ({} exited): {want} faults, as its members' \
         records",
        last.len(),
        exited.len()
    );
}
