//! monitor as a user meets it on a host without the module (`--backend
//! procfs`): the latency of SIGINT and SIGTERM during a long period with the
//! partial interval printed, JSON Lines with `--header`, timestamps in csv
//! and json, -p lists, and the errors without the module.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid as NixPid;
use pfprof_profile::Profile;

const MONITOR: &str = env!("CARGO_BIN_EXE_monitor");

/// A `sleep` to watch, killed on drop.
struct Sleeper(Child);

impl Sleeper {
    fn new() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("120")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `pid` has a handler for `sig` (`SigCgt` of /proc/PID/status).
fn catches(pid: u32, sig: Signal) -> bool {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|m| m & (1 << (sig as i32 - 1)) != 0)
}

fn wait_catching(pid: u32, sig: Signal) {
    let t = Instant::now();
    while !catches(pid, sig) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{pid} never caught {sig}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_exit(
    c: &mut Child,
    since: Instant,
    limit: Duration,
) -> (std::process::ExitStatus, Duration) {
    loop {
        if let Some(st) = c.try_wait().expect("try_wait") {
            return (st, since.elapsed());
        }
        if since.elapsed() > limit {
            let _ = c.kill();
            panic!("no exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn monitor(args: &[&str]) -> Command {
    let mut c = Command::new(MONITOR);
    c.args(args).current_dir(std::env::temp_dir());
    c
}

#[test]
fn sigint_and_sigterm_end_a_long_period_at_once_with_the_partial_interval() {
    let p = Sleeper::new();
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let mut c = monitor(&["--backend", "procfs", "--per-process", "-p", &p.pid()])
            .args(["--period", "8s", "--format", "csv"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn monitor");
        wait_catching(c.id(), Signal::SIGTERM);
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        kill(NixPid::from_raw(c.id() as i32), sig).expect("kill");
        let (st, took) = wait_exit(&mut c, t, Duration::from_secs(10));
        println!(
            "monitor --period 8s: {sig} to exit: {:.1} ms",
            took.as_secs_f64() * 1e3
        );
        assert!(took < Duration::from_millis(1000), "{sig}: {took:?}");
        assert_eq!(st.code(), Some(0), "{sig}");
        let mut out = String::new();
        c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let mut err = String::new();
        c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        // The partial interval: one reading, the process and the totals.
        let prof = Profile::parse(out.as_bytes()).unwrap_or_else(|e| panic!("{e}: {out}"));
        let pids: Vec<i32> = prof.records.iter().map(|r| r.pid).collect();
        assert_eq!(pids, [p.0.id() as i32, 0], "{out}");
        assert!(
            err.contains("monitor [procfs backend]: read 2 records"),
            "{err}"
        );
    }
}

#[test]
fn json_lines_stay_json_lines_with_the_header_and_carry_timestamps() {
    let p = Sleeper::new();
    let before = std::time::SystemTime::now();
    let c = monitor(&["--backend", "procfs", "--per-process", "--header"])
        .args(["--format", "json", "--period", "100ms", "--pid"])
        .arg(format!("{},{}", p.pid(), p.pid()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn monitor");
    wait_catching(c.id(), Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(550));
    kill(NixPid::from_raw(c.id() as i32), Signal::SIGINT).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
        .collect();
    let h = &lines[0]["pfprof"];
    assert_eq!(h["hz"], 1000, "{out}");
    assert_eq!(h["period_us"], 100_000);
    assert_eq!(h["backend"], "procfs");
    assert_eq!(h["commands"][p.pid()], "sleep", "{out}");
    let records = &lines[1..];
    // The pid given twice is watched once: a record and the totals per reading.
    assert!(records.len() >= 8 && records.len() % 2 == 0, "{out}");
    let mut last = -1.0;
    for r in records {
        let t = humantime::parse_rfc3339(r["time"].as_str().unwrap()).unwrap();
        assert!(t + Duration::from_millis(1) >= before, "{r}");
        assert!(t <= std::time::SystemTime::now());
        let e = r["elapsed_s"].as_f64().unwrap();
        assert!(e >= last, "{r}");
        last = e;
    }
    assert!(last > 0.2 && last < 5.0, "{last}");
    // pfprof-profile reads it all back, the header too.
    let prof = Profile::parse(out.as_bytes()).unwrap();
    assert_eq!(prof.header.hz, Some(1000));
    assert_eq!(prof.header.commands[&(p.0.id() as i32)], "sleep");
    assert_eq!(prof.records.len(), records.len());
}

#[test]
fn csv_carries_time_and_elapsed_columns_and_classic_is_unchanged() {
    let p = Sleeper::new();
    for format in ["csv", "classic"] {
        let c = monitor(&["--backend", "procfs", "--per-process", "--header"])
            .args(["--format", format, "--period", "50ms", "-p", &p.pid()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_catching(c.id(), Signal::SIGINT);
        std::thread::sleep(Duration::from_millis(300));
        kill(NixPid::from_raw(c.id() as i32), Signal::SIGINT).unwrap();
        let o = c.wait_with_output().unwrap();
        let out = String::from_utf8(o.stdout).unwrap();
        let mut lines = out.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("# pfprof hz=1000 period_us=50000 backend=procfs"));
        assert_eq!(
            lines.next().unwrap(),
            format!("# pfprof comm {} \"sleep\"", p.pid())
        );
        if format == "csv" {
            assert_eq!(
                lines.next().unwrap(),
                "seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns,\
                 rss_anon_bytes,rss_file_bytes,rss_shmem_bytes,swap_bytes,tree_root,time,\
                 elapsed_s"
            );
            let first: Vec<&str> = lines.next().unwrap().split(',').collect();
            assert_eq!(first.len(), 16);
            // The procfs backend has no trees: the root is 0.
            assert_eq!(first[13], "0", "{first:?}");
            assert!(humantime::parse_rfc3339(first[14]).is_ok(), "{first:?}");
            assert_eq!(first[15], "0.000");
        } else {
            // Classic lines: `jiffies pid minflt majflt cpu_ns`, as ever.
            for l in lines {
                let n: Vec<u64> = l.split(' ').map(|w| w.parse().unwrap()).collect();
                assert_eq!(n.len(), 5, "{l}");
            }
        }
    }
}

#[test]
fn pid_lists_skip_dead_pids_and_fail_when_none_is_alive() {
    let p = Sleeper::new();
    // pid_max is at most 2^22: this one is never alive.
    let dead = "4194311";
    let c = monitor(&["--backend", "procfs", "--per-process", "--period", "50ms"])
        .args(["-p", &format!("{dead},{}", p.pid())])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_catching(c.id(), Signal::SIGINT);
    kill(NixPid::from_raw(c.id() as i32), Signal::SIGINT).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("monitor: no process {dead}, skipped")),
        "{err}"
    );
    assert!(err.contains("of 1 process(es)"), "{err}");
    let o = monitor(&["--backend", "procfs", "--per-process", "-p", dead])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("monitor: none of the processes given with -p/--pid is alive"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn without_the_module_the_error_names_the_procfs_backend() {
    let o = monitor(&["--device", "/nonexistent/pfprof"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("monitor: the pfprof module is not loaded"),
        "{err}"
    );
    assert!(err.contains("/nonexistent/pfprof"), "{err}");
    assert!(
        err.contains("monitor --backend procfs --per-process -p PID"),
        "{err}"
    );
}

#[test]
fn durations_are_checked_and_reported_as_durations() {
    let o = monitor(&[
        "--backend",
        "procfs",
        "--per-process",
        "-p",
        "1",
        "--period",
        "5us",
    ])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("period 5us is out of range (1ms to 10s)"),
        "{err}"
    );
    // -p is --pid: the old `monitor -p` (per-process) is a missing value.
    let o = monitor(&["-p"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}
