//! Helpers shared by the in-VM tests of the tools and examples
//! (tools_*.rs): locating the workspace's binaries, running them, parsing
//! their output.

#![allow(dead_code)] // Each test file uses a part.

use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use libpfprof::{Pid, Profiler};

/// A binary of the workspace (`pfprof`, `monitor`, `pfprof-top`, `work`):
/// [`vmtests::bin_path`].
pub fn bin(name: &str) -> PathBuf {
    vmtests::bin_path(name)
}

/// A child killed and reaped on drop, also when a test fails (the VM
/// waits for every process before it ends).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long a plain `sleep` takes to end after SIGTERM here, measured as
/// the tests measure a tool (try_wait every millisecond): the machine's own
/// latency (scheduling, exit), which the debug kernel under TCG makes
/// seconds. Latency bounds are this plus what the tool may add.
pub fn signal_exit_baseline() -> Duration {
    let mut c = Command::new("sleep")
        .arg("3600")
        .spawn()
        .expect("spawn sleep");
    // Let it start (exec) first, as the tools have.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    // SAFETY: kill(2) with our child's pid and a valid signal.
    let r = unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    assert_eq!(r, 0, "kill sleep");
    loop {
        if c.try_wait().expect("try_wait").is_some() {
            let d = t.elapsed();
            println!(
                "baseline: sleep ends {:.1} ms after SIGTERM",
                d.as_secs_f64() * 1e3
            );
            return d;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "sleep ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs a binary of the workspace to completion.
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"))
}

/// Runs and requires success; returns stdout.
pub fn ok(name: &str, args: &[&str]) -> String {
    let o = run(name, args);
    assert!(
        o.status.success(),
        "{name} {args:?} failed ({:?}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

/// The text of a stream.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The device, opened by the library.
pub fn profiler() -> Profiler {
    Profiler::open().expect("open /dev/pfprof")
}

/// Unregisters everything and resets the figures: a clean start.
pub fn clean_slate() {
    let p = profiler();
    for pid in p.list().expect("list") {
        let _ = p.unregister(pid);
    }
    p.reset().expect("reset (the tests run as root)");
    p.set_period_us(libpfprof::PERIOD_DEFAULT_US)
        .expect("default period");
}

/// Waits until `pid` is registered (or panics after `secs`).
pub fn wait_registered(pid: u32, secs: u64) {
    let p = profiler();
    let pid = Pid::new(pid as i32).expect("positive pid");
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !p.list().expect("list").contains(&pid) {
        assert!(Instant::now() < deadline, "{pid} never got registered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child and returns its exit code and its rusage's minor faults.
pub fn wait_with_minflt(child: Child) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child` is our unreaped child; both pointers are valid for
    // the call. Reaping it here is fine: `child` is consumed.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(r, child.id() as i32, "wait4");
    (libc::WEXITSTATUS(status), ru.ru_minflt as u64)
}

/// Parses classic lines (`jiffies minflt majflt cpu`).
pub fn classic_lines(out: &str) -> Vec<[u64; 4]> {
    out.lines()
        .map(|l| {
            let v: Vec<u64> = l
                .split(' ')
                .map(|w| w.parse().unwrap_or_else(|_| panic!("bad line {l:?}")))
                .collect();
            v.try_into()
                .unwrap_or_else(|_| panic!("not 4 fields: {l:?}"))
        })
        .collect()
}

/// A process tree for the tools' tests: `sh -c 'read go; SCRIPT'`,
/// registered as a tree root (`register_tree`) before it reads `go`, so
/// every process SCRIPT starts is a member. Killed with its members on drop.
pub struct Tree {
    pub sh: Killed,
    pub root: Pid,
}

impl Tree {
    /// Starts the tree and lets SCRIPT run.
    pub fn start(script: &str) -> Tree {
        use std::io::Write as _;
        let mut sh = Command::new("sh")
            .args(["-c", &format!("read go; {script}")])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let root = Pid::new(sh.id() as i32).expect("a pid");
        profiler().register_tree(root).expect("register the tree");
        let mut stdin = sh.stdin.take().expect("sh's stdin");
        writeln!(stdin, "go").expect("tell sh to go");
        Tree {
            sh: Killed(sh),
            root,
        }
    }

    /// Waits until `n` processes of the tree (the root included) are
    /// registered; returns them.
    pub fn wait_members(&self, n: usize, secs: u64) -> Vec<Pid> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let sums = tree_sums(self.root);
            let alive: Vec<Pid> = profiler()
                .list()
                .expect("list")
                .into_iter()
                .filter(|p| *p == self.root || sums.get(p).is_some_and(|m| !m.1))
                .collect();
            if alive.len() >= n {
                return alive;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} tree members registered: {alive:?}",
                alive.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        // The members first (the root's pid stays theirs until it is reaped).
        for pid in profiler().list().unwrap_or_default() {
            if tree_sums(self.root).contains_key(&pid) && pid != self.root {
                // SAFETY: kill(2) with a pid and a signal number.
                unsafe { libc::kill(pid.as_raw(), libc::SIGKILL) };
            }
        }
    }
}

/// The figures of each member of the tree of `root`, from the extended
/// ring since the last reset: the sums of its records, and whether it
/// exited.
pub fn tree_sums(root: Pid) -> std::collections::BTreeMap<Pid, (libpfprof::Counters, bool)> {
    let p = profiler();
    let region = p.map_extended().expect("map the extended ring");
    let mut stream = p.stream_since_reset(&region).expect("stream");
    let batch = stream.poll(&region).expect("poll");
    assert_eq!(batch.lost, 0, "records lost");
    let mut m = std::collections::BTreeMap::new();
    for r in batch.records {
        let (Some(pid), Some(r_root)) = (r.pid, r.tree_root) else {
            continue;
        };
        if r_root != root {
            continue;
        }
        let e = m.entry(pid).or_insert((libpfprof::Counters::ZERO, false));
        e.0 = e.0.saturating_add(r.counters);
        e.1 |= r.flags.contains(libpfprof::ext::RecordFlags::EXITED);
    }
    m
}
