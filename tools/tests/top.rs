//! pfprof-top as a user meets it, on the host with `--backend procfs` (no
//! module needed): the interactive screen in a real pseudo-terminal (read
//! back through a terminal emulator), pipes and redirects, the latency of
//! SIGINT and SIGTERM, batch csv and JSON Lines, -p lists, --replay.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::pty::{openpty, Winsize};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid as NixPid;

const TOP: &str = env!("CARGO_BIN_EXE_pfprof-top");

/// Processes to watch: `sleep`s killed on drop.
struct Sleepers(Vec<Child>);

impl Sleepers {
    fn new(n: usize) -> Sleepers {
        Sleepers(
            (0..n)
                .map(|_| {
                    Command::new("sleep")
                        .arg("120")
                        .spawn()
                        .expect("spawn sleep")
                })
                .collect(),
        )
    }

    fn list(&self) -> String {
        self.0
            .iter()
            .map(|c| c.id().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn state_of(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ")?.1.chars().next()
}

/// Whether `pid` has a handler for `sig` (`SigCgt` of /proc/PID/status):
/// pfprof-top is ready for the signal.
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
            "pid {pid} never caught {sig}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for a child with a deadline; returns its status and how long it
/// took from `since`.
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
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A shell in a pseudo-terminal, its screen kept by a terminal emulator.
struct Pty {
    master: std::fs::File,
    shell: Child,
    parser: Arc<Mutex<vt100::Parser>>,
}

fn winsize(rows: u16, cols: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Pty {
    /// Starts an interactive bash (job control on) in a `rows` x `cols`
    /// terminal.
    fn shell(rows: u16, cols: u16) -> Pty {
        let pty = openpty(Some(&winsize(rows, cols)), None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let mut cmd = Command::new("bash");
        cmd.args(["--norc", "--noprofile", "-i"])
            .env("PS1", "$ ")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        // SAFETY: between fork and exec only async-signal-safe calls:
        // setsid(2) and ioctl(2) making the pty (stdin) the controlling
        // terminal of the new session.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let shell = cmd.spawn().expect("spawn bash");
        let master = std::fs::File::from(pty.master);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let mut reader = master.try_clone().expect("dup master");
        let p = Arc::clone(&parser);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the terminal has no process left: the end.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                p.lock().expect("the screen").process(&buf[..n]);
            }
        });
        let pty = Pty {
            master,
            shell,
            parser,
        };
        pty.wait_for("the prompt", |s| s.contents().contains('$'));
        pty
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the pty");
    }

    fn screen(&self) -> vt100::Screen {
        self.parser.lock().expect("the screen").screen().clone()
    }

    fn lines(&self) -> Vec<String> {
        let s = self.screen();
        let (_, cols) = s.size();
        s.rows(0, cols).collect()
    }

    /// Waits up to 20 s for the screen to satisfy `f`.
    fn wait_for(&self, what: &str, f: impl Fn(&vt100::Screen) -> bool) {
        let t = Instant::now();
        loop {
            if f(&self.screen()) {
                return;
            }
            if t.elapsed() > Duration::from_secs(20) {
                panic!("no {what} on the screen:\n{}", self.lines().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets the terminal size (the kernel sends SIGWINCH to the foreground
    /// job), and the emulator's.
    fn resize(&self, rows: u16, cols: u16) {
        let ws = winsize(rows, cols);
        // SAFETY: TIOCSWINSZ reads a `struct winsize` from the pointer,
        // which is valid for the call.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(r, 0, "TIOCSWINSZ");
        self.parser.lock().expect("the screen").set_size(rows, cols);
    }

    /// The pfprof-top started from this shell.
    fn top_pid(&self) -> u32 {
        let t = Instant::now();
        loop {
            for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                let ppid = stat
                    .rsplit_once(") ")
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok());
                if stat.contains("(pfprof-top)") && ppid == Some(self.shell.id()) {
                    return pid;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "no pfprof-top started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a command line in the shell.
    fn run(&mut self, line: &str) {
        self.send(format!("{line}\r").as_bytes());
    }

    /// Types `echo "rc=$?"` and waits for the status of the last command
    /// (a line `rc=N`, not the echoed command line).
    fn last_status(&mut self) -> String {
        fn status(c: &str) -> Option<String> {
            c.lines()
                .map(str::trim_end)
                .find(|l| {
                    l.strip_prefix("rc=")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .map(str::to_owned)
        }
        self.run("echo \"rc=$?\"");
        self.wait_for("the exit status", |s| status(&s.contents()).is_some());
        status(&self.screen().contents()).unwrap_or_default()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

fn row(s: &vt100::Screen, n: u16) -> String {
    let (_, cols) = s.size();
    s.rows(0, cols).nth(usize::from(n)).unwrap_or_default()
}

#[test]
fn the_screen_is_clipped_follows_resizes_and_has_help_and_sort_keys() {
    let procs = Sleepers::new(25);
    let mut pty = Pty::shell(12, 80);
    pty.run(&format!(
        "{TOP} --backend procfs -p {} -d 1.5",
        procs.list()
    ));
    pty.wait_for("the first screen", |s| {
        s.alternate_screen() && row(s, 2).contains("PID")
    });
    let first = pty.lines();
    // The first screen says what it waits for instead of showing zeros.
    assert!(first[0].starts_with("pfprof-top "), "{first:#?}");
    assert!(first[0].contains("25 watched"), "{first:#?}");
    assert!(
        first[1].contains("waiting for the first interval"),
        "{first:#?}"
    );
    assert!(first[1].contains("rows 1-9/25"), "{first:#?}");
    for col in [
        "PID", "COMMAND", "MINFLT/s", "MAJFLT/s", "FAULTS", "CPU%", "SINCE",
    ] {
        assert!(first[2].contains(col), "{col} in {first:#?}");
    }
    assert!(
        first[3].contains("sleep") && first[11].contains("sleep"),
        "{first:#?}"
    );
    assert!(first[0].len() <= 80);
    pty.wait_for("an interval", |s| row(s, 1).contains("interval 1."));
    let ready = pty.lines();
    assert!(ready[3].contains("0.0"), "{ready:#?}");

    // Sort keys are named by their columns; r reverses.
    pty.send(b"s");
    pty.wait_for("the CPU% sort", |s| row(s, 1).contains("sort CPU% desc"));
    pty.send(b"s");
    pty.wait_for("the RSS sort", |s| row(s, 1).contains("sort RSS desc"));
    pty.send(b"sss");
    pty.wait_for("the PID sort", |s| row(s, 1).contains("sort PID asc"));
    let mut pids: Vec<u32> = procs.0.iter().map(Child::id).collect();
    pids.sort_unstable();
    assert_eq!(
        row(&pty.screen(), 3).split_whitespace().next(),
        Some(pids[0].to_string().as_str())
    );
    pty.send(b"r");
    pty.wait_for("the reversed sort", |s| row(s, 1).contains("sort PID desc"));
    assert_eq!(
        row(&pty.screen(), 3).split_whitespace().next(),
        Some(pids[24].to_string().as_str())
    );
    // Scrolling keeps the title and the header.
    pty.send(b"\x1b[F"); // End
    pty.wait_for("the last rows", |s| row(s, 1).contains("rows 17-25/25"));
    assert!(row(&pty.screen(), 2).contains("PID"));

    // Help.
    pty.send(b"h");
    pty.wait_for("the help screen", |s| {
        s.contents().contains("reverse the sort order")
    });
    assert!(row(&pty.screen(), 0).starts_with("pfprof-top "));
    pty.send(b"?");
    pty.wait_for("the table again", |s| row(s, 2).contains("PID"));

    // Resize: 60 columns, 8 lines; the header stays, nothing wraps.
    pty.resize(8, 60);
    // (The emulator clips the old screen at once: wait for the redraw,
    // whose header fits 60 columns.)
    pty.wait_for("the resized screen", |s| {
        row(s, 2).contains("SINCE") && row(s, 1).contains("/25") && row(s, 7).contains("sleep")
    });
    let small = pty.lines();
    assert!(small[0].starts_with("pfprof-top "), "{small:#?}");
    assert!(small[2].contains("SINCE"), "{small:#?}");
    pty.resize(30, 100);
    pty.wait_for("the enlarged screen", |s| row(s, 27).contains("sleep"));

    // q quits and gives the terminal back.
    pty.send(b"q");
    pty.wait_for("the shell", |s| !s.alternate_screen() && !s.hide_cursor());
    assert_eq!(pty.last_status(), "rc=0");
}

#[test]
fn ctrl_z_and_sigtstp_restore_the_terminal_and_fg_resumes() {
    let procs = Sleepers::new(2);
    let mut pty = Pty::shell(12, 80);
    pty.run(&format!(
        "{TOP} --backend procfs -p {} -d 0.5",
        procs.list()
    ));
    pty.wait_for("the screen", |s| {
        s.alternate_screen() && row(s, 2).contains("PID")
    });
    let top = pty.top_pid();

    // Ctrl-Z: back to the shell, the terminal as it was.
    pty.send(b"\x1a");
    pty.wait_for("the stopped job", |s| {
        !s.alternate_screen() && !s.hide_cursor() && s.contents().contains("Stopped")
    });
    assert_eq!(state_of(top), Some('T'));
    pty.run("fg");
    pty.wait_for("the screen after fg", |s| {
        s.alternate_screen() && row(s, 2).contains("PID") && s.hide_cursor()
    });
    // Keys work at once after fg (no Enter needed).
    pty.send(b"s");
    pty.wait_for("the sort key after fg", |s| row(s, 1).contains("sort CPU%"));

    // SIGTSTP from elsewhere, then SIGCONT (what fg sends).
    kill(NixPid::from_raw(top as i32), Signal::SIGTSTP).expect("SIGTSTP");
    pty.wait_for("the stopped job", |s| {
        !s.alternate_screen() && !s.hide_cursor()
    });
    let t = Instant::now();
    while state_of(top) != Some('T') {
        assert!(t.elapsed() < Duration::from_secs(10), "not stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    pty.run("fg");
    pty.wait_for("the redrawn screen", |s| {
        s.alternate_screen() && row(s, 2).contains("PID") && row(s, 0).starts_with("pfprof-top")
    });
    pty.send(b"s");
    pty.wait_for("the sort key after SIGCONT", |s| {
        row(s, 1).contains("sort RSS")
    });
    pty.send(b"\x03"); // Ctrl-C
    pty.wait_for("the shell", |s| !s.alternate_screen());
    assert_eq!(pty.last_status(), "rc=0");
}

#[test]
fn sigint_and_sigterm_end_the_screen_within_100ms() {
    let procs = Sleepers::new(1);
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let mut pty = Pty::shell(12, 80);
        pty.run(&format!("{TOP} --backend procfs -p {} -d 8", procs.list()));
        pty.wait_for("the screen", |s| row(s, 2).contains("PID"));
        let top = pty.top_pid();
        wait_catching(top, Signal::SIGINT);
        let t = Instant::now();
        kill(NixPid::from_raw(top as i32), sig).expect("kill");
        while std::path::Path::new(&format!("/proc/{top}")).exists() && state_of(top) != Some('Z') {
            assert!(t.elapsed() < Duration::from_secs(10), "still running");
            std::thread::sleep(Duration::from_millis(1));
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!("interactive pfprof-top: {sig} to exit: {ms:.1} ms");
        assert!(ms < 500.0, "{sig}: {ms:.1} ms");
        pty.wait_for("the shell", |s| !s.alternate_screen());
        assert_eq!(pty.last_status(), "rc=0");
    }
}

#[test]
fn batch_mode_prints_the_partial_interval_on_sigint_and_sigterm() {
    let procs = Sleepers::new(1);
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        let mut c = Command::new(TOP)
            .args(["--backend", "procfs", "-p", &procs.list()])
            .args(["-b", "-d", "8", "--format", "csv"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        wait_catching(c.id(), Signal::SIGTERM);
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        kill(NixPid::from_raw(c.id() as i32), sig).expect("kill");
        let (st, took) = wait_exit(&mut c, t, Duration::from_secs(10));
        let ms = took.as_secs_f64() * 1e3;
        println!("pfprof-top -b -d 8: {sig} to exit: {ms:.1} ms");
        assert!(ms < 500.0, "{sig}: {ms:.1} ms");
        assert_eq!(st.code(), Some(0), "{sig}");
        let mut out = String::new();
        c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 1, "the partial interval: {out}");
        let interval: f64 = rows[0][2].parse().unwrap();
        assert!(interval > 0.2 && interval < 4.0, "{out}");
    }
}

#[test]
fn pipes_and_redirects_get_plain_text_and_a_closed_pipe_ends_quietly() {
    let procs = Sleepers::new(2);
    // A pipe, without -b: batch mode; closed after the first frame.
    let mut c = Command::new(TOP)
        .args(["--backend", "procfs", "-p", &procs.list(), "-d", "0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = c.stdout.take().unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1];
    while head.iter().filter(|&&b| b == b'\n').count() < 5 {
        out.read_exact(&mut buf).expect("5 lines");
        head.push(buf[0]);
    }
    drop(out);
    let (st, _) = wait_exit(&mut c, Instant::now(), Duration::from_secs(20));
    let mut err = String::new();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(st.code(), Some(0), "{err}");
    assert_eq!(err, "", "no panic, no message");
    let head = String::from_utf8(head).unwrap();
    assert!(!head.contains('\x1b'), "{head:?}");
    assert!(head.starts_with("pfprof-top 2"), "{head}");
    assert!(head.lines().nth(1).unwrap().contains("MINFLT/s"), "{head}");

    // A redirect to a file.
    let path = std::env::temp_dir().join(format!("pfprof-top-{}.txt", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    let st = Command::new(TOP)
        .args([
            "--backend",
            "procfs",
            "-p",
            &procs.list(),
            "-d",
            "0.1",
            "-n",
            "2",
        ])
        .stdout(f)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert_eq!(text.matches("pfprof-top 2").count(), 2, "{text}");
    assert_eq!(text.split("\n\n").count(), 2, "{text}");
}

#[test]
fn without_the_module_the_error_names_the_procfs_backend() {
    let o = Command::new(TOP)
        .args(["--device", "/nonexistent/pfprof", "-b", "-n", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("/nonexistent/pfprof"), "{e}");
    assert!(e.contains("--backend procfs -p PID"), "{e}");
}

#[test]
fn batch_mode_ends_when_no_watched_process_is_left() {
    let mut short = Command::new("sleep")
        .arg("0.5")
        .spawn()
        .expect("spawn sleep");
    let t = Instant::now();
    let o = Command::new(TOP)
        .args([
            "--backend",
            "procfs",
            "-d",
            "0.2",
            "-p",
            &short.id().to_string(),
        ])
        .output()
        .unwrap();
    let _ = short.wait();
    assert!(o.status.success());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.ends_with("(no watched process left)\n"), "{text}");
}

#[test]
fn batch_csv_and_json_parse_with_timestamps_and_plain_numbers() {
    let procs = Sleepers::new(2);
    let csv_out = Command::new(TOP)
        .args(["--backend", "procfs", "-p", &procs.list()])
        .args(["-b", "-n", "3", "-d", "0.2", "--format", "csv", "-s", "pid"])
        .output()
        .unwrap();
    assert!(csv_out.status.success());
    let mut r = csv::Reader::from_reader(&csv_out.stdout[..]);
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "time",
            "elapsed_s",
            "interval_s",
            "pid",
            "command",
            "minflt_per_s",
            "majflt_per_s",
            "faults",
            "cpu_percent",
            "rss_bytes",
            "swap_bytes",
            "since_s"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    let mut sorted: Vec<u32> = procs.0.iter().map(Child::id).collect();
    sorted.sort_unstable();
    let mut last_elapsed = 0.0;
    for (i, row) in rows.iter().enumerate() {
        assert!(row[0].len() == 24 && row[0].ends_with('Z'), "{row:?}");
        assert!(humantime::parse_rfc3339(&row[0]).is_ok(), "{row:?}");
        let elapsed: f64 = row[1].parse().unwrap();
        assert!(elapsed >= last_elapsed);
        last_elapsed = elapsed;
        assert_eq!(row[3].parse::<u32>().unwrap(), sorted[i % 2], "{row:?}");
        assert_eq!(&row[4], "sleep");
        for k in [5, 6, 8] {
            row[k].parse::<f64>().expect("a plain number");
        }
        assert!(!row[7].contains(','), "{row:?}");
        row[7].parse::<u64>().unwrap();
        // A sleep has some resident memory, from /proc/PID/status.
        assert!(row[9].parse::<u64>().unwrap() > 0, "RSS: {row:?}");
        row[10].parse::<u64>().expect("swap bytes");
    }
    assert!(last_elapsed >= 0.55, "{last_elapsed}");

    let json_out = Command::new(TOP)
        .args(["--backend", "procfs", "-p", &procs.list()])
        .args(["-b", "-n", "2", "-d", "0.2", "--format", "json"])
        .output()
        .unwrap();
    assert!(json_out.status.success());
    let text = String::from_utf8(json_out.stdout).unwrap();
    let v: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(v.len(), 4, "{text}");
    for o in &v {
        assert!(o["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{o}");
        assert!(o["elapsed_s"].as_f64().is_some_and(|e| e > 0.1), "{o}");
        assert!(o["faults"].is_u64() && o["minflt_per_s"].is_f64(), "{o}");
        assert_eq!(o["command"], "sleep");
    }
}

#[test]
fn pid_lists_merge_threads_and_skip_dead_pids() {
    let procs = Sleepers::new(1);
    let me = std::process::id();
    let tid = nix::unistd::gettid().as_raw();
    assert_ne!(tid as u32, me, "tests run in a thread of their own");
    let dead = "4194311"; // above pid_max (at most 2^22)
    let o = Command::new(TOP)
        .args(["--backend", "procfs", "-b", "-n", "1", "-d", "0.1"])
        .args(["--format", "csv", "-p"])
        .arg(format!("{me},{tid},{dead}"))
        .args(["-p", &procs.list()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!("no process {dead}, skipped")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{tid} is a thread of process {me}")),
        "{err}"
    );
    let mut r = csv::Reader::from_reader(&o.stdout[..]);
    let mut pids: Vec<u32> = r
        .records()
        .map(|x| x.unwrap()[3].parse().unwrap())
        .collect();
    pids.sort_unstable();
    let mut want = vec![me, procs.0[0].id()];
    want.sort_unstable();
    assert_eq!(pids, want, "one row per process");

    let o = Command::new(TOP)
        .args(["--backend", "procfs", "-b", "-n", "1", "-p", dead])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("none of the processes given with -p is alive")
    );
}

/// A recording as `monitor --per-process --header --format csv` writes it:
/// HZ 1000, 100 ms ticks, pid 7 at 500 minor faults/s and 50% CPU, pid 9
/// from the sixth tick on.
fn recording() -> String {
    let mut s = String::from(
        "# pfprof hz=1000 period_us=100000\n\
         seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns\n",
    );
    let mut seq = 0;
    for i in 0..20u64 {
        let j = 5000 + 100 * i;
        s += &format!("{seq},{},{j},7,0,0,50,0,50000000\n", j * 1_000_000);
        seq += 1;
        if i >= 5 {
            s += &format!("{seq},{},{j},9,0,0,10,1,0\n", j * 1_000_000);
            seq += 1;
        }
        s += &format!("{seq},{},{j},0,1,0,60,1,50000000\n", j * 1_000_000);
        seq += 1;
    }
    s
}

#[test]
fn replay_plays_a_recording_at_its_pace() {
    let path = std::env::temp_dir().join(format!("pfprof-top-rec-{}.csv", std::process::id()));
    std::fs::write(&path, recording()).unwrap();
    let t = Instant::now();
    let o = Command::new(TOP)
        .arg("--replay")
        .arg(&path)
        .args(["-b", "-d", "0.5", "--format", "csv", "-s", "pid"])
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut r = csv::Reader::from_reader(&o.stdout[..]);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    // 1.9 s recorded after the first tick: steps of 0.5 s -> 4 frames.
    let frames: Vec<&str> = rows.iter().map(|r| r.get(1).unwrap()).collect();
    assert_eq!(
        frames,
        ["0.5", "0.5", "1.0", "1.0", "1.5", "1.5", "1.9", "1.9"],
        "{rows:?}"
    );
    assert_eq!(&rows[0][3], "7");
    assert_eq!(&rows[0][5], "500.0");
    assert_eq!(&rows[0][8], "50.0");
    assert_eq!(&rows[2][7], "550"); // 11 ticks of 50 faults
    assert_eq!(&rows[3][3], "9");
    assert_eq!(&rows[3][6], "10.0");
    // Played at the recorded pace: four steps of 0.5 s.
    assert!(took >= Duration::from_millis(1900), "{took:?}");

    let mut pty = Pty::shell(12, 80);
    pty.run(&format!("{TOP} --replay {} -d 0.3", path.display()));
    pty.wait_for("the replay", |s| row(s, 0).contains("[replay]"));
    pty.wait_for("the end of the recording", |s| {
        row(s, 1).contains("end of recording")
    });
    assert!(pty.screen().contents().contains('9'));
    pty.send(b"q");
    pty.wait_for("the shell", |s| !s.alternate_screen());
    assert_eq!(pty.last_status(), "rc=0");
    let _ = std::fs::remove_file(&path);
}

/// A recording with the tree_root column (csv, with the memory, as monitor
/// writes it): HZ 1000, 100 ms ticks; pid 7 alone at 50 minor faults a
/// tick; the tree of `sh` 20: 20 itself at 10 a tick, 21 at 30 a tick
/// until it exits at the tenth tick (its exited record: 5), 22 at 20 and
/// 1 major a tick from the sixth tick on. Memory: 1 MiB anonymous each.
/// Returns the text and, per tick, the tree's faults in it.
fn tree_recording() -> (String, Vec<u64>) {
    let mut s = String::from(
        "# pfprof hz=1000 period_us=100000\n\
         # pfprof comm 7 \"vim\"\n\
         # pfprof comm 20 \"sh\"\n\
         # pfprof comm 21 \"cc\"\n\
         # pfprof comm 22 \"ld\"\n\
         seq,time_ns,jiffies,pid,total,exited,minor_faults,major_faults,cpu_ns,\
         rss_anon_bytes,rss_file_bytes,rss_shmem_bytes,swap_bytes,tree_root\n",
    );
    let mut per_tick = Vec::new();
    // The rows without their seq: (jiffies, pid, total, exited, minor,
    // major, root).
    let mut rows = Vec::new();
    for i in 0..20u64 {
        let j = 5000 + 100 * i;
        rows.push((j, 7, 0, 0, 50, 0, 0));
        rows.push((j, 20, 0, 0, 10, 0, 20));
        let mut tree = 10;
        if i < 9 {
            rows.push((j, 21, 0, 0, 30, 0, 20));
            tree += 30;
        } else if i == 9 {
            rows.push((j, 21, 0, 1, 5, 0, 20));
            tree += 5;
        }
        if i >= 5 {
            rows.push((j, 22, 0, 0, 20, 1, 20));
            tree += 21;
        }
        rows.push((j, 0, 1, 0, 0, 0, 0));
        per_tick.push(tree);
    }
    for (seq, (j, pid, total, exited, minor, major, root)) in rows.into_iter().enumerate() {
        let (cpu, rss) = if total == 1 {
            (0, 0)
        } else {
            (10_000_000, 1 << 20)
        };
        s += &format!(
            "{seq},{},{j},{pid},{total},{exited},{minor},{major},{cpu},{rss},0,0,0,{root}\n",
            j * 1_000_000
        );
    }
    (s, per_tick)
}

#[test]
fn replay_folds_a_tree_into_one_row_in_every_batch_format() {
    let (rec, per_tick) = tree_recording();
    let path = std::env::temp_dir().join(format!("pfprof-top-tree-{}.csv", std::process::id()));
    std::fs::write(&path, rec).unwrap();
    let top = |args: &[&str]| {
        let o = Command::new(TOP)
            .arg("--replay")
            .arg(&path)
            .args(["-b", "-d", "0.5", "-s", "pid"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    // Frames at 0.5, 1.0, 1.5 and 1.9 s of the recording: the ticks up to
    // 5, 10, 15 and 19.
    let upto = [5usize, 10, 15, 19];
    let total = |t: usize| per_tick[..=t].iter().sum::<u64>();
    let json = top(&["--tree", "--format", "json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 8, "two rows a frame: {json}");
    for (k, &t) in upto.iter().enumerate() {
        let (lone, tree) = (&rows[2 * k], &rows[2 * k + 1]);
        assert_eq!(
            (lone["pid"].as_i64(), lone["tree_root"].as_i64()),
            (Some(7), Some(0))
        );
        assert_eq!(lone["procs"], 1);
        assert_eq!(tree["pid"], 20, "{tree}");
        assert_eq!(tree["command"], "sh");
        assert_eq!(tree["tree_root"], 20);
        assert_eq!(tree["faults"].as_u64(), Some(total(t)), "frame {k}: {tree}");
        // The baseline is the first tick's reading.
        let before = total(if k == 0 { 0 } else { upto[k - 1] });
        let secs = tree["interval_s"].as_f64().unwrap();
        let rate = tree["minflt_per_s"].as_f64().unwrap() + tree["majflt_per_s"].as_f64().unwrap();
        let want = (total(t) - before) as f64 / secs;
        assert!(
            (rate - want).abs() < 0.2,
            "frame {k}: {rate} != {want}: {tree}"
        );
    }
    // The processes of the tree's row: 20, 21, 22 until 21's exit at
    // tick 9 (counted in that interval only), then 20 and 22.
    let procs: Vec<u64> = rows
        .iter()
        .skip(1)
        .step_by(2)
        .map(|r| r["procs"].as_u64().unwrap())
        .collect();
    assert_eq!(procs, [3, 3, 2, 2]);
    // RSS: the members alive, 1 MiB each.
    assert_eq!(rows[1]["rss_bytes"], 3 << 20);
    assert_eq!(rows[5]["rss_bytes"], 2 << 20);
    // CPU: 10 ms a tick per process: ticks 1 to 5 of 20 and 21, tick 5
    // of 22, over 0.5 s.
    assert_eq!(rows[1]["cpu_percent"], 22.0);
    // Unfolded, the same frames have the members as rows of their own,
    // whose faults add up to the tree's (while no member has exited).
    let plain = top(&["--format", "json"]);
    let first: Vec<serde_json::Value> = plain
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .take_while(|v: &serde_json::Value| v["elapsed_s"] == 0.5)
        .collect();
    assert_eq!(first.len(), 4, "{plain}");
    let members: u64 = first
        .iter()
        .filter(|v| v["pid"] != 7)
        .map(|v| v["faults"].as_u64().unwrap())
        .sum();
    assert_eq!(members, total(5));
    assert!(!plain.contains("tree_root"));
    // csv: the two columns at the end; text: the root marked.
    let csv = top(&["-T", "--format", "csv"]);
    let mut lines = csv.lines();
    assert!(
        lines.next().unwrap().ends_with(",since_s,tree_root,procs"),
        "{csv}"
    );
    let tree_line = lines.nth(1).unwrap();
    assert!(
        tree_line.contains(",20,sh,") && tree_line.ends_with(",20,3"),
        "{csv}"
    );
    let text = top(&["--tree", "-n", "1"]);
    assert!(text.contains("trees folded: 1"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("sh (+2)"))
        .unwrap_or_else(|| panic!("no tree row in\n{text}"));
    assert_eq!(row.split_whitespace().next(), Some("20"), "{text}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn replay_reads_what_monitor_records() {
    let procs = Sleepers::new(1);
    for format in ["csv", "json", "classic"] {
        let path = std::env::temp_dir().join(format!(
            "pfprof-top-monitor-{}.{format}",
            std::process::id()
        ));
        let mut m = Command::new(env!("CARGO_BIN_EXE_monitor"))
            .args(["--backend", "procfs", "--per-process", "--header"])
            .args([
                "--format",
                format,
                "--period",
                "100ms",
                "--pid",
                &procs.list(),
            ])
            .stdout(std::fs::File::create(&path).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_catching(m.id(), Signal::SIGINT);
        std::thread::sleep(Duration::from_millis(1200));
        kill(NixPid::from_raw(m.id() as i32), Signal::SIGINT).unwrap();
        assert!(m.wait().unwrap().success());
        let o = Command::new(TOP)
            .arg("--replay")
            .arg(&path)
            .args(["-d", "0.3", "--format", "json"])
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            o.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8(o.stdout).unwrap();
        let v: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(v.len() >= 3, "{format}: {text}");
        for o in &v {
            assert_eq!(o["pid"], procs.0[0].id(), "{format}: {o}");
            assert!(o["minflt_per_s"].is_f64(), "{format}: {o}");
        }
    }
}

#[test]
fn help_has_examples_columns_and_exit_status() {
    let o = Command::new(TOP).arg("--help").output().unwrap();
    assert!(o.status.success());
    let h = String::from_utf8(o.stdout).unwrap();
    for s in [
        "Examples:",
        "Exit status:",
        "Columns:",
        "MINFLT/s",
        "Interactive keys:",
        "--replay <FILE>",
        "-p, --pid <PID[,PID...]>",
        "-d, --delay <DURATION>",
        "--format <FORMAT>",
        "-T, --tree",
        "Process trees",
    ] {
        assert!(h.contains(s), "{s} in\n{h}");
    }
}
