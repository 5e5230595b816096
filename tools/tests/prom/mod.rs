//! The harness of the exporter's tests against a real Prometheus (Debian's
//! `prometheus` and `promtool`), shared by tools/tests/exporter.rs (host,
//! `--backend procfs`) and vmtests/tests/tools_exporter.rs (lab VM, the module),
//! which includes this file by path.
//!
//! [`scenario`] runs the whole check: a forked [`Workload`] idles, the
//! exporter serves it, `promtool check metrics` reads the exporter's output,
//! Prometheus scrapes it every second, the workload faults in paced rounds
//! while the test reads the reference figure (/proc, or QUERY_PID) every
//! 20 ms, and then Prometheus' API must agree with the reference: the last
//! value exactly, every scraped sample within the reference readings around
//! its scrape, and `increase()` over the burst within one scrape's worth.

#![allow(dead_code)] // Each including test uses a part.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, as Prometheus' timestamps.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// A free TCP port on loopback (bound and released: the caller binds it
/// again at once).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local_addr").port()
}

/// A fresh directory under the temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "pfprof-{tag}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).expect("create the temporary directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A GET with an optional Accept header: status, Content-Type and body.
pub fn get(url: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut req = ureq::get(url).timeout(Duration::from_secs(30));
    if let Some(a) = accept {
        req = req.set("Accept", a);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = resp.status();
    let ct = resp.content_type().to_owned();
    let ct = resp.header("Content-Type").unwrap_or(&ct).to_owned();
    let body = resp.into_string().expect("a text body");
    (status, ct, body)
}

/// `promtool check metrics` on `text`: whether it passed, and what it said.
pub fn promtool_check(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool (Debian's package prometheus: `cargo xtask setup` installs it)");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let o = c.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), said)
}

/// A process that faults on command: forked from the test, it says it is
/// ready, then waits on a pipe for a byte N, then N times maps 512 fresh pages (2 MiB, no huge
/// pages), touches each, unmaps them and sleeps 100 ms; then it answers
/// with a byte. It exits when the command pipe closes. The child calls only
/// async-signal-safe functions (raw system calls), as it must after a fork
/// in a multi-threaded test.
#[derive(Debug)]
pub struct Workload {
    pub pid: i32,
    cmd: Option<std::fs::File>,
    done: std::fs::File,
    reaped: bool,
}

pub const PAGES_PER_ROUND: usize = 512;

impl Workload {
    pub fn fork() -> Workload {
        let (cmd_r, cmd_w) = pipe();
        let (done_r, done_w) = pipe();
        // SAFETY: the child runs `child_main`, which only makes raw system
        // calls (async-signal-safe) and ends in `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: closes our copies of the parent's ends (plain fds).
            unsafe {
                libc::close(cmd_w);
                libc::close(done_r);
            }
            child_main(cmd_r, done_w);
        }
        // SAFETY: closes the child's ends in the parent (plain fds).
        unsafe {
            libc::close(cmd_r);
            libc::close(done_w);
        }
        use std::os::fd::FromRawFd;
        let mut w = Workload {
            pid,
            // SAFETY: we own these fds from pipe2 and close them nowhere else.
            cmd: Some(unsafe { std::fs::File::from_raw_fd(cmd_w) }),
            // SAFETY: as above.
            done: unsafe { std::fs::File::from_raw_fd(done_r) },
            reaped: false,
        };
        // Its `ready`, then it sleeps in read(2): idle, its counters still.
        w.wait_done();
        w.wait_state('S');
        w
    }

    /// Waits until its state (in /proc/PID/stat) is `state`.
    pub fn wait_state(&self, state: char) {
        let t = Instant::now();
        loop {
            let s = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("stat");
            if s[s.rfind(')').expect("comm") + 2..].starts_with(state) {
                return;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "not {state}: {s}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts `rounds` rounds of faults; [`Workload::wait_done`] waits for them.
    pub fn start(&mut self, rounds: u8) {
        use std::io::Write;
        self.cmd
            .as_mut()
            .expect("running")
            .write_all(&[rounds])
            .expect("command the workload");
    }

    pub fn wait_done(&mut self) {
        let mut b = [0u8; 1];
        self.done.read_exact(&mut b).expect("the workload's answer");
    }

    /// Makes it exit (closes its command pipe); it stays a zombie until
    /// [`Workload::reap`].
    pub fn end(&mut self) {
        self.cmd = None;
    }

    /// Waits until it is a zombie (after [`Workload::end`]).
    pub fn wait_zombie(&self) {
        self.wait_state('Z');
    }

    /// Reaps it (after [`Workload::end`]); returns its minor faults from
    /// `wait4`'s rusage: all of them, since the fork.
    pub fn reap(&mut self) -> u64 {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: waits for our own child; both pointers are valid.
        let r = unsafe { libc::wait4(self.pid, &mut status, 0, &mut ru) };
        assert_eq!(r, self.pid, "wait4");
        self.reaped = true;
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "workload status {status:#x}"
        );
        ru.ru_minflt as u64
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2");
    (fds[0], fds[1])
}

/// The workload's command name (15 bytes: the most a comm holds).
pub const WORKLOAD_COMM: &str = "pfprof-workload";

fn child_main(cmd: i32, done: i32) -> ! {
    // SAFETY: PR_SET_NAME copies at most 16 bytes from the NUL-terminated
    // name, a plain system call.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"pfprof-workload".as_ptr()) };
    let page = 4096usize;
    let len = PAGES_PER_ROUND * page;
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    // SAFETY: writes one byte from a valid buffer: `ready`.
    unsafe { libc::write(done, b"r".as_ptr().cast(), 1) };
    loop {
        let mut b = 0u8;
        // SAFETY: reads one byte into `b`.
        let n = unsafe { libc::read(cmd, (&mut b as *mut u8).cast(), 1) };
        if n != 1 {
            // SAFETY: ends the child without running the parent's atexit
            // handlers or destructors.
            unsafe { libc::_exit(0) };
        }
        for _ in 0..b {
            // SAFETY: a new private anonymous mapping, used only here.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                // SAFETY: as above.
                unsafe { libc::_exit(3) };
            }
            // SAFETY: advice on our mapping (one fault per page).
            unsafe { libc::madvise(p, len, libc::MADV_NOHUGEPAGE) };
            for i in 0..PAGES_PER_ROUND {
                // SAFETY: in bounds of the mapping; volatile so the store
                // (and its fault) happens.
                unsafe { std::ptr::write_volatile(p.cast::<u8>().add(i * page), 1) };
            }
            // SAFETY: our mapping, no longer used; then a plain sleep.
            unsafe {
                libc::munmap(p, len);
                libc::nanosleep(&pause, std::ptr::null_mut());
            }
        }
        // SAFETY: writes one byte from a valid buffer.
        unsafe { libc::write(done, b"d".as_ptr().cast(), 1) };
    }
}

/// The minor faults of `pid` from /proc/PID/stat (field 10).
pub fn proc_minflt(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    let rest = &s[s.rfind(')').expect("comm") + 2..];
    rest.split_whitespace()
        .nth(10 - 3)
        .and_then(|v| v.parse().ok())
        .expect("minflt")
}

/// A running `pfprof exporter`, killed on drop.
#[derive(Debug)]
pub struct Exporter {
    pub child: Child,
    /// `http://ADDR:PORT/metrics`, as it printed.
    pub url: String,
    /// `ADDR:PORT`.
    pub target: String,
    stderr: Arc<Mutex<String>>,
}

impl Exporter {
    /// Starts `pfprof ARGS` and waits for its `serving http://...` line.
    pub fn start(pfprof: &Path, args: &[&str]) -> Exporter {
        let mut child = Command::new(pfprof)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", pfprof.display()));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr"));
        let mut seen = String::new();
        let url = loop {
            let mut line = String::new();
            let n = lines
                .read_line(&mut line)
                .expect("read the exporter's stderr");
            assert!(n > 0, "the exporter ended before serving: {seen}");
            seen.push_str(&line);
            if let Some(rest) = line.split("serving ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
            }
        };
        let target = url
            .trim_start_matches("http://")
            .trim_end_matches("/metrics")
            .to_owned();
        let stderr = Arc::new(Mutex::new(seen));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || drain(lines, sink));
        Exporter {
            child,
            url,
            target,
            stderr,
        }
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// GET /metrics in the text format (no Accept header).
    pub fn metrics(&self) -> String {
        let (status, _, body) = get(&self.url, None);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Sends `sig` and returns how long it took to exit, and its status.
    pub fn stop(mut self, sig: i32) -> (Duration, std::process::ExitStatus) {
        let t = Instant::now();
        // SAFETY: signals our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return (t.elapsed(), st);
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the exporter did not stop"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn drain(mut r: BufReader<ChildStderr>, sink: Arc<Mutex<String>>) {
    let mut line = String::new();
    while r.read_line(&mut line).unwrap_or(0) > 0 {
        sink.lock().expect("stderr lock").push_str(&line);
        line.clear();
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Prometheus server on loopback scraping one target every second, its
/// configuration and storage in a temporary directory; killed on drop.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    pub url: String,
    dir: TempDir,
}

impl Prometheus {
    /// Starts it and waits (polling `/-/ready`, up to `timeout`) until it
    /// serves its API.
    pub fn start(target: &str, timeout: Duration) -> Prometheus {
        Prometheus::start_attempt(target, timeout, 3)
    }

    /// As [`Prometheus::start`]; another process may take the free port
    /// before Prometheus binds it: then it tries another, `attempts` times.
    fn start_attempt(target: &str, timeout: Duration, attempts: u32) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.0.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  \
                 evaluation_interval: 1s\nscrape_configs:\n  - job_name: pfprof\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let log = std::fs::File::create(dir.0.join("prometheus.log")).expect("log file");
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect(
                "run prometheus (Debian's package prometheus: `cargo xtask setup` installs it)",
            );
        let mut p = Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let t = Instant::now();
        loop {
            if let Some(st) = p.child.try_wait().expect("try_wait") {
                let log = p.log();
                if attempts > 1 && log.contains("address already in use") {
                    return Prometheus::start_attempt(target, timeout, attempts - 1);
                }
                panic!("prometheus exited ({st}): {log}");
            }
            let ready = ureq::get(&format!("{}/-/ready", p.url))
                .timeout(Duration::from_secs(5))
                .call()
                .is_ok();
            if ready {
                break;
            }
            assert!(
                t.elapsed() < timeout,
                "prometheus not ready after {timeout:?}: {}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }

    /// Its log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query (at `time`, or now): the API's `data.result`.
    pub fn query(&self, q: &str, time: Option<f64>) -> serde_json::Value {
        let mut req = ureq::get(&format!("{}/api/v1/query", self.url))
            .timeout(Duration::from_secs(30))
            .query("query", q);
        let t;
        if let Some(time) = time {
            t = format!("{time:.3}");
            req = req.query("time", &t);
        }
        let body = match req.call() {
            Ok(r) => r.into_string().expect("body"),
            Err(ureq::Error::Status(code, r)) => {
                panic!("query {q}: {code}: {}", r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("query {q}: {e}"),
        };
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON from the API");
        assert_eq!(v["status"], "success", "{body}");
        v["data"]["result"].clone()
    }

    /// The value of a query that gives at most one series, or `None`.
    pub fn value(&self, q: &str, time: Option<f64>) -> Option<f64> {
        let r = self.query(q, time);
        let series = r.as_array().expect("a vector");
        assert!(series.len() <= 1, "{q} gave several series: {r}");
        series.first().map(|s| number(&s["value"][1]))
    }

    /// The raw samples `(time, value)` of one series over the last
    /// `range_s` seconds before `at`.
    pub fn samples(&self, selector: &str, range_s: u64, at: f64) -> Vec<(f64, f64)> {
        let r = self.query(&format!("{selector}[{range_s}s]"), Some(at));
        let series = r.as_array().expect("a matrix");
        assert_eq!(series.len(), 1, "{selector}: {r}");
        series[0]["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(|p| (p[0].as_f64().expect("a timestamp"), number(&p[1])))
            .collect()
    }

    /// Polls `f` every 200 ms until it holds, up to `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut f: impl FnMut(&Prometheus) -> bool) {
        let t = Instant::now();
        while !f(self) {
            assert!(
                t.elapsed() < timeout,
                "waited {timeout:?} for {what}; prometheus' log: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn number(v: &serde_json::Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a reference figure every 20 ms on a thread until stopped.
#[derive(Debug)]
pub struct Readings {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(f64, u64)>>>,
}

impl Readings {
    pub fn start(read: impl Fn() -> u64 + Send + 'static) -> Readings {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                out.push((unix_now(), read()));
                std::thread::sleep(Duration::from_millis(20));
            }
            out.push((unix_now(), read()));
            out
        });
        Readings {
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("the reading thread")
    }
}

/// What [`scenario`] measured, for the test's checks and its report.
#[derive(Debug)]
pub struct Measured {
    /// The reference figure after the burst (what the exporter should
    /// report then).
    pub reference: u64,
    /// Faults of the burst (the reference after it minus before it).
    pub burst: u64,
    /// Prometheus' last value of the counter.
    pub last: f64,
    /// `increase()` over a window around the burst, and its length.
    pub increase: f64,
    pub window_s: u64,
    /// The largest step between two consecutive scraped samples: one
    /// scrape's worth of faults.
    pub max_step: f64,
    /// Scraped samples checked against the reference readings.
    pub samples_checked: usize,
    /// How far the worst sample lies outside its bracket: below the
    /// reading taken at its scrape's timestamp, or above the reading 1 s
    /// (the scrape timeout) later; 0 when every sample is within.
    pub worst_outside: f64,
    /// The largest lag of a sample behind the reading at its timestamp.
    pub max_lag: f64,
}

/// The reference reading at or before `t` (or the first), and the first
/// at or after `t`.
fn bracket(readings: &[(f64, u64)], t: f64) -> (u64, u64) {
    let before = readings
        .iter()
        .rev()
        .find(|(at, _)| *at <= t)
        .or(readings.first())
        .map(|r| r.1)
        .expect("readings");
    let after = readings
        .iter()
        .find(|(at, _)| *at >= t)
        .or(readings.last())
        .map(|r| r.1)
        .expect("readings");
    (before, after)
}

/// The check shared by the host and the VM; see the module doc. `reference`
/// reads the figure the exporter should report (the faults since its
/// baseline); `timeout` bounds each wait for Prometheus.
pub fn scenario(
    exporter: &Exporter,
    workload: &mut Workload,
    reference: impl Fn() -> u64 + Send + Clone + 'static,
    timeout: Duration,
) -> Measured {
    let pid = workload.pid;
    let series = format!("pfprof_minor_faults_total{{pid=\"{pid}\",comm=\"{WORKLOAD_COMM}\"}}");

    // The exporter's own output passes promtool, and has the process.
    let text = exporter.metrics();
    let (ok, said) = promtool_check(&text);
    assert!(ok, "promtool check metrics failed: {said}\n{text}");
    assert!(
        text.contains(&format!("pfprof_minor_faults_total{{pid=\"{pid}\",")),
        "{text}"
    );

    let started = Instant::now();
    let prom = Prometheus::start(&exporter.target, timeout);
    let ready = started.elapsed();
    prom.wait_for("the target to be up", timeout, |p| {
        p.value("up{job=\"pfprof\"}", None) == Some(1.0)
    });
    eprintln!(
        "prometheus ready in {ready:.1?}, scraping the exporter in {:.1?}",
        started.elapsed()
    );
    let before = reference();
    prom.wait_for("a first sample of the workload", timeout, |p| {
        p.value(&series, None) == Some(before as f64)
    });

    // The burst: 30 rounds of 512 pages, 100 ms apart.
    let readings = Readings::start(reference.clone());
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = unix_now();
    workload.start(30);
    workload.wait_done();
    let expected = reference();
    prom.wait_for("the last value to reach the reference", timeout, |p| {
        p.value(&series, None) == Some(expected as f64)
    });
    std::thread::sleep(Duration::from_millis(2500));
    let readings = readings.finish();
    let t_end = unix_now();
    assert_eq!(
        reference(),
        expected,
        "the workload faulted after its burst"
    );
    let last = prom.value(&series, Some(t_end)).expect("a last value");

    // Every sample scraped while the reference was read lies between the
    // reading before its scrape and the reading 1 s (the scrape timeout)
    // after it.
    let window_s = (t_end - t0).ceil() as u64 + 2;
    let samples = prom.samples(&series, window_s + 5, t_end);
    let (first_r, last_r) = (readings[0].0, readings[readings.len() - 1].0);
    let mut checked = 0;
    let mut worst_outside: f64 = 0.0;
    let mut max_lag: f64 = 0.0;
    for &(ts, v) in &samples {
        if ts < first_r || ts + 1.0 > last_r {
            continue;
        }
        checked += 1;
        let (lo, _) = bracket(&readings, ts);
        let (_, hi) = bracket(&readings, ts + 1.0);
        let (_, at) = bracket(&readings, ts);
        worst_outside = worst_outside.max(lo as f64 - v).max(v - hi as f64);
        max_lag = max_lag.max(at as f64 - v);
    }
    let max_step = samples
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .fold(0.0, f64::max);
    let increase = prom
        .value(&format!("increase({series}[{window_s}s])"), Some(t_end))
        .expect("an increase");
    eprintln!(
        "exporter vs reference: expected {expected} (from {before}), prometheus' last {last}, \
         increase over {window_s}s {increase:.1}, one scrape's worth (largest step) {max_step}, \
         {checked} samples checked, worst outside their readings {worst_outside}, \
         largest lag {max_lag}"
    );
    drop(prom);
    Measured {
        reference: expected,
        burst: expected - before,
        last,
        increase,
        window_s,
        max_step,
        samples_checked: checked,
        worst_outside,
        max_lag,
    }
}

/// The checks every caller of [`scenario`] makes on its result.
pub fn assert_agreement(m: &Measured) {
    assert_eq!(
        m.last, m.reference as f64,
        "Prometheus' last value differs from the reference: {m:?}"
    );
    assert!(
        m.burst as usize >= 30 * PAGES_PER_ROUND,
        "the burst faulted less than it touched: {m:?}"
    );
    assert!(
        m.samples_checked >= 3,
        "too few samples in the burst: {m:?}"
    );
    assert_eq!(
        m.worst_outside, 0.0,
        "a scraped sample is outside the reference readings around its scrape: {m:?}"
    );
    assert!(
        m.max_step < m.burst as f64,
        "the burst fell within one scrape: the check would be vacuous: {m:?}"
    );
    assert!(
        (m.increase - m.burst as f64).abs() <= m.max_step,
        "increase() differs from the reference by more than one scrape's worth: {m:?}"
    );
}

/// The value of the sample of `text` (the text format) that starts with
/// `prefix`, if any.
pub fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Once the workload exited and the exporter's source no longer has it
/// (with Prometheus stopped: its scrapes would take the one more): the
/// next scrape still has it, with `final_minor` faults, and the one after
/// does not.
pub fn assert_dropped_after_one_more_scrape(exporter: &Exporter, pid: i32, final_minor: u64) {
    let key = format!("pfprof_minor_faults_total{{pid=\"{pid}\",");
    let once_more = exporter.metrics();
    assert_eq!(
        sample(&once_more, &key),
        Some(final_minor as f64),
        "the scrape after the exit lacks its final figure {final_minor}: {once_more}"
    );
    assert!(
        !once_more.contains(&format!("pfprof_resident_bytes{{pid=\"{pid}\"")),
        "memory of a process that is gone: {once_more}"
    );
    let then = exporter.metrics();
    assert!(
        !then.contains(&format!("pid=\"{pid}\"")),
        "still there: {then}"
    );
    eprintln!("the scrape after the exit: {final_minor} faults, the final figure; then gone");
}

/// SIGTERM and SIGINT end it within `limit`, with status 0.
pub fn assert_stops(exporter: Exporter, sig: i32, limit: Duration) -> Duration {
    let (took, st) = exporter.stop(sig);
    assert!(
        st.success(),
        "exit status {st:?} (signal {:?})",
        st.signal()
    );
    assert!(took < limit, "took {took:?} to stop");
    eprintln!("signal {sig} stopped the exporter in {took:?}");
    took
}
