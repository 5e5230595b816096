//! The `pfprof` control CLI against the module.

mod tools_common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tools_common::*;
use vmtests::require_lab;

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep")
}

/// Processes killed with SIGKILL on drop, when a test fails before they
/// end (after a normal end the guard is forgotten).
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill(2) with a valid signal; a pid that no longer
            // exists gives ESRCH, which is ignored.
            let _ = unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
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
        text(&none.stderr).contains("pfprof: no process 4194000, skipped\n")
            && text(&none.stderr).contains("none of the processes given with -p/--pid is alive"),
        "{}",
        text(&none.stderr)
    );
}

#[test]
fn register_takes_pid_lists_maps_threads_and_skips_dead_pids() {
    require_lab();
    clean_slate();
    // Longer than the slowest run under TCG and the debug kernel; killed
    // on drop, also when the test fails.
    let long = || {
        Killed(
            Command::new("sleep")
                .arg("3600")
                .spawn()
                .expect("spawn sleep"),
        )
    };
    let (a, b) = (long(), long());
    let (a, b) = (&a.0, &b.0);
    // A thread of this test process stands for the process.
    let (tx, rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
        tx.send(tid).unwrap();
        done_rx.recv().unwrap();
    });
    let tid = rx.recv().unwrap();
    let me = std::process::id();
    let o = run(
        "pfprof",
        &[
            "register",
            "-p",
            &format!("{},{},4194000", a.id(), b.id()),
            "--pid",
            &tid.to_string(),
            &a.id().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("pfprof: no process 4194000, skipped"), "{err}");
    assert!(
        err.contains(&format!("pfprof: {tid} is a thread of process {me}")),
        "{err}"
    );
    let mut listed: Vec<u32> = ok("pfprof", &["list"])
        .lines()
        .map(|l| l.parse().expect("a pid"))
        .collect();
    listed.sort();
    let mut want = vec![a.id(), b.id(), me];
    want.sort();
    assert_eq!(
        listed, want,
        "each process once; pfprof register said:\n{err}"
    );
    ok(
        "pfprof",
        &[
            "unregister",
            &format!("{},{}", a.id(), b.id()),
            "-p",
            &me.to_string(),
        ],
    );
    assert_eq!(ok("pfprof", &["list"]), "");
    done_tx.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn run_passes_sigterm_on_at_once_and_reports() {
    require_lab();
    clean_slate();
    let baseline = signal_exit_baseline();
    let mut c = Command::new(bin("pfprof"))
        .args(["run", "--", "sleep", "3600"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pfprof run");
    // If the test fails, neither is left running (the VM waits for them).
    let mut guard = KillOnDrop(vec![c.id() as i32]);
    let cmd = wait_registered_child(c.id(), "sleep");
    guard.0.push(cmd);
    let t = Instant::now();
    // SAFETY: kill(2) with our child's pid and a valid signal.
    let r = unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    assert_eq!(r, 0, "kill");
    // The command gets it: it exits (a zombie until pfprof has read its
    // figures and reaps it).
    let dead = loop {
        let state = std::fs::read_to_string(format!("/proc/{cmd}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()));
        if matches!(state, None | Some('Z') | Some('X')) {
            break t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the command lives on"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let st = loop {
        if let Some(st) = c.try_wait().expect("try_wait") {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "pfprof run did not end"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    // Both ended and were reaped (pfprof reaps the command): their pids
    // may be reused, so nothing is killed from here on.
    std::mem::forget(guard);
    let took = t.elapsed();
    println!(
        "pfprof run -- sleep 3600: SIGTERM to the command's exit: {:.1} ms, to pfprof's: {:.1} ms",
        dead.as_secs_f64() * 1e3,
        took.as_secs_f64() * 1e3
    );
    // pfprof looks for a signal to pass on every 20 ms: 1 s, or more where
    // the machine itself is slower (the debug kernel under TCG takes
    // seconds: three times what a plain sleep takes to end).
    let bound = (3 * baseline + Duration::from_millis(100)).max(Duration::from_secs(1));
    assert!(dead < bound, "{dead:?}, bound {bound:?}");
    // Then the summary waits up to three periods (150 ms) for the exit
    // record.
    let bound = dead + 10 * baseline + Duration::from_secs(2);
    assert!(took < bound, "{took:?}, bound {bound:?}");
    assert_eq!(
        st.code(),
        Some(128 + 15),
        "sleep's status, killed by SIGTERM"
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut c.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("seconds time elapsed (killed by signal 15)"),
        "{err}"
    );
    assert_eq!(ok("pfprof", &["list"]), "", "nothing left registered");
}

/// Waits until a child of `pid` (the command of `pfprof run`) is
/// registered and runs `comm` (exec done); returns its pid.
fn wait_registered_child(pid: u32, comm: &str) -> i32 {
    let p = profiler();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for c in p.list().expect("list") {
            let stat = std::fs::read_to_string(format!("/proc/{c}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, r)| r.split(' ').nth(1))
                .and_then(|pp| pp.parse::<u32>().ok());
            let name = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            if ppid == Some(pid) && name.trim_end() == comm {
                return c.as_raw();
            }
        }
        assert!(Instant::now() < deadline, "pfprof run registered no {comm}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_and_period() {
    require_lab();
    clean_slate();
    let st = ok("pfprof", &["status"]);
    assert!(st.starts_with("state:            idle\n"), "{st}");
    let version = format!("abi version:      {}\n", vmtests::dev::abi::ABI_VERSION);
    assert!(st.contains(&version), "{st}");
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

/// What `pfprof run` printed, parsed.
#[derive(Debug)]
struct RunFigures {
    /// pfprof's minor and major faults of the process, if it had figures.
    pfprof: Option<(u64, u64)>,
    /// wait4's minor and major faults (the process and its reaped
    /// descendants).
    rusage: (u64, u64),
    /// Where pfprof's figures came from: "its final counters" or "its
    /// records in the extended ring".
    source: Option<String>,
    text: String,
}

fn number(s: &str, err: &str) -> u64 {
    s.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {s:?}\n{err}"))
}

/// The two figures of a summary line: `VALUE  NAME  # [RUSAGE with reaped
/// descendants | rusage, with reaped descendants]`.
fn figure_line(err: &str, name: &str) -> (u64, Option<u64>) {
    let line = err
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no {name} line\n{err}"));
    let (left, note) = line
        .split_once(" # ")
        .unwrap_or_else(|| panic!("no rusage note on {line:?}\n{err}"));
    let value = number(left.split_whitespace().next().expect("a value"), err);
    if note == "rusage, with reaped descendants" {
        return (value, None);
    }
    let rusage = note
        .strip_suffix(" with reaped descendants")
        .unwrap_or_else(|| panic!("the rusage figure is not labelled: {line:?}\n{err}"));
    (value, Some(number(rusage, err)))
}

fn parse_run(err: &str) -> RunFigures {
    let (min, min_ru) = figure_line(err, "minor-faults");
    let (maj, maj_ru) = figure_line(err, "major-faults");
    let missing = err.contains("(no pfprof figures for the process: ");
    let source = err
        .lines()
        .find(|l| {
            l.starts_with(" pfprof counted the process alone, all its threads and across exec")
        })
        .and_then(|l| l.rsplit_once(" (")?.1.strip_suffix(").").map(str::to_owned));
    assert!(
        err.contains(
            " \"with reaped descendants\" is wait4's rusage: the process and every descendant it waited for.\n"
        ),
        "the summary says what the rusage figure covers\n{err}"
    );
    match (missing, min_ru, maj_ru) {
        (false, Some(a), Some(b)) => {
            assert!(
                source.is_some(),
                "the summary says what pfprof counted\n{err}"
            );
            RunFigures {
                pfprof: Some((min, maj)),
                rusage: (a, b),
                source,
                text: err.to_owned(),
            }
        }
        (true, None, None) => RunFigures {
            pfprof: None,
            rusage: (min, maj),
            source: None,
            text: err.to_owned(),
        },
        _ => panic!("an inconsistent summary\n{err}"),
    }
}

fn pfprof_run(args: &[&str]) -> RunFigures {
    let mut all = vec!["run", "--"];
    all.extend_from_slice(args);
    let o = run("pfprof", &all);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    parse_run(&text(&o.stderr))
}

#[test]
fn run_has_figures_for_every_short_command() {
    require_lab();
    clean_slate();
    // At 1 ms the sampler often drops the exited child before `pfprof run`
    // queries it: those runs take their figures from the ring.
    let mut sources = std::collections::BTreeMap::new();
    let mut slacks = Vec::new();
    for period in ["50ms", "1ms"] {
        ok("pfprof", &["period", period]);
        for i in 0..30 {
            let r = pfprof_run(&["/bin/true"]);
            let (min, _) = r
                .pfprof
                .unwrap_or_else(|| panic!("run {i} at {period}: no pfprof figures\n{}", r.text));
            // /bin/true maps and touches dozens of pages.
            assert!(
                min >= 20,
                "run {i} at {period}: {min} minor faults\n{}",
                r.text
            );
            slacks.push(fork_to_registration(&r));
            *sources
                .entry((period, r.source.unwrap_or_default()))
                .or_insert(0) += 1;
        }
    }
    eprintln!("sources of 30 runs of /bin/true per period: {sources:?}");
    eprintln!(
        "rusage - pfprof (minor, major): from {:?} to {:?}",
        slacks.iter().min(),
        slacks.iter().max()
    );
    clean_slate();
    assert_eq!(ok("pfprof", &["list"]), "", "nothing left registered");
}

/// The faults of a registered child between fork and its REGISTER ioctl
/// (std's spawn path and the pre_exec hook, in the child) are in its rusage
/// but not in pfprof's figures: its first writes to the copy-on-write pages
/// it shares with `pfprof` (stack, data, heap), and the pages of `pfprof`'s
/// own code that only the child path runs, read from the 9p root as major
/// faults. Measured in the lab VM over three runs of this file (198 runs of
/// `/bin/true`, `work` and `sh`): 13 to 16 minor faults and always 1 major
/// fault (the path is `pfprof`'s, not the command's; how many code pages
/// it faults around, and whether the stack crosses a page, vary); the bounds
/// leave a few pages of room.
const FORK_TO_REGISTRATION_MINOR: u64 = 20;
const FORK_TO_REGISTRATION_MAJOR: u64 = 2;

/// For a command that starts no children: wait4's rusage is pfprof's
/// figure plus the faults between fork and registration. Returns that
/// difference (minor, major).
fn fork_to_registration(r: &RunFigures) -> (u64, u64) {
    let (min, maj) = r.pfprof.expect("pfprof figures");
    assert!(
        r.rusage.0 >= min && r.rusage.1 >= maj,
        "rusage below pfprof's figures\n{}",
        r.text
    );
    let slack = (r.rusage.0 - min, r.rusage.1 - maj);
    assert!(
        slack.0 <= FORK_TO_REGISTRATION_MINOR && slack.1 <= FORK_TO_REGISTRATION_MAJOR,
        "rusage exceeds pfprof's figures by {slack:?} faults (minor, major)\n{}",
        r.text
    );
    slack
}

#[test]
fn run_matches_wait4_rusage_without_children_and_labels_reaped_descendants() {
    require_lab();
    clean_slate();
    let work = bin("work");
    let work = work.to_str().expect("utf-8 path");
    let work_args = [work, "4", "R", "4000", "--iterations", "1", "--no-register"];
    // No children: rusage is the process itself.
    for _ in 0..5 {
        let r = pfprof_run(&work_args);
        let (min, maj) = r.pfprof.expect("pfprof figures");
        assert!(min >= 900, "{}", r.text);
        let slack = fork_to_registration(&r);
        eprintln!(
            "work: pfprof {min} minor {maj} major, wait4 rusage {} minor {} major; \
             difference {slack:?}; {}",
            r.rusage.0,
            r.rusage.1,
            r.source.as_deref().unwrap_or_default()
        );
    }

    // The faults of one /bin/true, as wait4 reports them.
    let true_faults = (0..3)
        .map(|_| {
            let c = Command::new("/bin/true").spawn().expect("spawn true");
            tools_common::wait_with_minflt(c).1
        })
        .min()
        .expect("three runs");
    // Three reaped children, then exec: pfprof follows the shell across
    // exec, the children are in rusage only.
    let script = format!(
        "for i in 1 2 3; do /bin/true; done; exec {}",
        work_args.join(" ")
    );
    for _ in 0..3 {
        let r = pfprof_run(&["sh", "-c", &script]);
        let (min, _) = r.pfprof.expect("pfprof figures");
        assert!(min >= 900, "{}", r.text);
        let children = r.rusage.0.saturating_sub(min);
        eprintln!(
            "sh + 3 true + exec work: pfprof {min} minor, wait4 rusage {} (one /bin/true: {true_faults})",
            r.rusage.0
        );
        assert!(r.rusage.0 >= min, "{}", r.text);
        // Each child is a fork of sh and an exec of /bin/true: about one
        // /bin/true's faults (measured: the 3 children and the fork slack
        // make 145 to 153, with 45 to 47 for one /bin/true). Half of that
        // per child is a floor well above the difference without children.
        assert!(
            children >= FORK_TO_REGISTRATION_MINOR + 3 * (true_faults / 2),
            "the reaped children's {children} faults: not three /bin/true ({true_faults} each)\n{}",
            r.text
        );
    }
}

/// Stops `pfprof run` (the child stops its parent, then exits) until the
/// sampler has dropped the exited child: `pfprof run` must then take the
/// figures from the child's records in the extended ring.
#[test]
fn run_takes_the_figures_of_a_dropped_process_from_the_ring() {
    require_lab();
    clean_slate();
    let p = profiler();
    let tool = Command::new(bin("pfprof"))
        .args(["run", "--", "sh", "-c", "kill -STOP $PPID; exit 0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("pfprof run");
    let tool_pid = tool.id();
    let state = || {
        let stat = std::fs::read_to_string(format!("/proc/{tool_pid}/stat")).expect("stat");
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .expect("a state")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    // Stopped, then the child registered before exec, exited and dropped.
    while !(state() == 'T' && p.list().expect("list").is_empty()) {
        assert!(
            Instant::now() < deadline,
            "pfprof run never stopped with its child gone"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(tool_pid as i32, libc::SIGCONT) }, 0);
    let o = tool.wait_with_output().expect("pfprof run ends");
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    let r = parse_run(&err);
    let (min, _) = r.pfprof.expect("figures from the ring");
    assert_eq!(
        r.source.as_deref(),
        Some("its records in the extended ring"),
        "{err}"
    );
    assert!(min >= 20, "{err}");
    let slack = fork_to_registration(&r);
    eprintln!(
        "dropped child: pfprof {min} minor (ring), wait4 rusage {}; difference {slack:?}",
        r.rusage.0
    );
}

/// The sum of an exited process's records up to its EXITED record equals
/// its final counters, read by QUERY_PID while it was still registered.
#[test]
fn the_records_of_an_exited_process_add_up_to_its_final_counters() {
    require_lab();
    clean_slate();
    let p = profiler();
    let region = p.map_extended().expect("map the extended region");
    let mut tally = libpfprof::ext::ProcessTally::from_now(&region).expect("tally");
    // Many records: two threads fault while the sampler ticks every ms.
    p.set_period_us(libpfprof::PERIOD_MIN_US).expect("period");
    let mut f = vmtests::dev::Faulter::start(300, 2);
    let pid = libpfprof::Pid::new(f.pid()).expect("pid");
    p.register(pid).expect("register the faulter");
    f.fault();
    f.fault();
    tally.poll(&region, pid).expect("poll");
    // No tick from here to the query: the next one is 10 s away.
    f.pause();
    p.set_period_us(libpfprof::PERIOD_MAX_US).expect("period");
    f.resume();
    let raw = f.pid();
    drop(f); // Closes its stdin: it exits; not reaped.
             // SAFETY: an all-zero siginfo is valid for waitid to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `raw` is our unreaped child; WNOWAIT leaves the zombie.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            raw as u32,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(r, 0, "waitid");
    let q = p
        .query_pid(pid)
        .expect("registered until the sampler's next tick, 10 s away");
    // Tick now, and every millisecond: the next tick drops the zombie.
    p.set_period_us(libpfprof::PERIOD_MIN_US).expect("period");
    let deadline = Instant::now() + Duration::from_secs(10);
    let t = loop {
        tally.poll(&region, pid).expect("poll");
        if let Some(t) = tally.exited() {
            break t;
        }
        assert!(Instant::now() < deadline, "no EXITED record for {pid}");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(p.query_pid(pid).is_err(), "dropped after its EXITED record");
    assert_eq!(tally.lost(), 0);
    eprintln!(
        "QUERY_PID {} minor {} major {} ns; {} records sum to {} minor {} major {} ns",
        q.counters.minor,
        q.counters.major,
        q.counters.cpu_ns,
        t.records,
        t.counters.minor,
        t.counters.major,
        t.counters.cpu_ns
    );
    assert_eq!(t.counters, q.counters);
    assert!(
        t.counters.minor >= 4 * 300,
        "two rounds of two threads of 300 pages"
    );
    assert!(
        t.records >= 10,
        "{} records: the sum spans many periods",
        t.records
    );
    let mut status = 0;
    // SAFETY: reaps our child; `status` is valid for writes.
    assert_eq!(unsafe { libc::waitpid(raw, &mut status, 0) }, raw);
    clean_slate();
}

/// The `peak-rss` line of a summary: pfprof's figure and wait4's, in KiB.
fn peak_rss_line(err: &str) -> (u64, u64) {
    let line = err
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("peak-rss"))
        .unwrap_or_else(|| panic!("no peak-rss line\n{err}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    // `VALUE KiB peak-rss # RUSAGE KiB with reaped descendants`
    assert_eq!((words[1], words[5]), ("KiB", "KiB"), "{line}");
    (number(words[0], err), number(words[4], err))
}

#[test]
fn run_reports_the_peak_rss_as_wait4_does() {
    require_lab();
    clean_slate();
    let work = bin("work");
    let work = work.to_str().expect("utf-8 path");
    // ru_maxrss comes from the approximate value of the kernel's per-cpu
    // RSS counters, pfprof's peak from their exact sums: pfprof's may be
    // larger by up to a batch (max(32, 2 x CPUs) pages) per CPU for each
    // of the three resident counters, never smaller.
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } as u64;
    let slack_kib = 3 * cpus * 32.max(2 * cpus) * 4;
    for mb in ["8", "24"] {
        let o = run(
            "pfprof",
            &[
                "run",
                "--",
                work,
                mb,
                "R",
                "30000",
                "--iterations",
                "1",
                "--no-register",
            ],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        let err = text(&o.stderr);
        let (pfprof, rusage) = peak_rss_line(&err);
        eprintln!("work {mb}: peak RSS {pfprof} KiB, wait4 ru_maxrss {rusage} KiB");
        assert!(
            (rusage..=rusage + slack_kib).contains(&pfprof),
            "peak {pfprof} KiB against ru_maxrss {rusage} KiB (slack {slack_kib})\n{err}"
        );
        let mib: u64 = mb.parse().expect("MiB");
        assert!(pfprof >= mib * 1024 / 2, "{err}");
    }
}
