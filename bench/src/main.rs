//! `pfprof-bench`: the measurements of `cargo xtask bench`, run as root in
//! the lab VM with the module loaded. It writes one flat JSON object of
//! numbers (`null` for a figure that could not be measured) to `--out`, and
//! a log of what it does to stderr. `cargo xtask bench` (xtask/src/bench.rs)
//! builds it, runs it in the VM and prints the tables of
//! docs/performance.md from the JSON.
//!
//! 1. Sampler cost per registered process per tick for N paused processes
//!    (the module's own `cost_total_ns` / `process_samples`), and the cost of
//!    `libpfprof::procfs::Watch` collecting the same figures for the same
//!    processes at the same rate (20 Hz).
//! 2. Period accuracy from the totals records' `time_ns` at 20 Hz and 1 kHz,
//!    against the classic scheme (re-arm relative to now) simulated in user
//!    space at the same time: a thread that reads one process's /proc
//!    figures and then sleeps one period, timestamping each sample.
//!    The fixed cost of a tick (beyond its processes' share) from the
//!    costs per tick at N = 1 and N = 1000.
//! 3. Side by side with `perf stat` and /proc polling, on `work` (fixed
//!    seed), which the bench forks stopped so that every observer attaches
//!    before it execs: minor and major faults of the same process over the
//!    same interval by pfprof and by `perf stat -p`; the wall time
//!    unprofiled, under pfprof at 20 Hz and 1 kHz (registered by pid),
//!    `perf stat -I 50` and `-I 10` and /proc polling at 20 Hz, interleaved
//!    and repeated (medians with their range); each observer's CPU share
//!    and its sample intervals from the same runs.
//! 4. `monitor` exporting a full buffer (classic ring and extended ring),
//!    and records lost by `monitor --per-process --follow` at 1 kHz.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use libpfprof::ext::{RecordFlags, Stream};
use libpfprof::{procfs, Pid, Profiler};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pause, ForkResult};

#[derive(Debug, Parser)]
struct Cli {
    /// Fewer processes, samples and runs (CI)
    #[arg(long)]
    quick: bool,
    /// Directory of the `work` and `monitor` binaries
    #[arg(long)]
    bin: PathBuf,
    /// Where to write the JSON results
    #[arg(long)]
    out: PathBuf,
    /// Run only these phases (cost, period, side, monitor) [default: all]
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The numbers of processes of the cost phase [default: 1, 10, 100,
    /// 1000, and 10000 unless --quick]
    #[arg(long, value_delimiter = ',')]
    ns: Vec<usize>,
}

impl Cli {
    fn runs(&self, phase: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == phase)
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The results, in insertion order of their names' sort.
#[derive(Debug, Default)]
struct Results(BTreeMap<String, f64>);

impl Results {
    fn set(&mut self, key: impl Into<String>, v: f64) {
        let key = key.into();
        eprintln!("bench: {key} = {v:.4}");
        self.0.insert(key, v);
    }

    /// The results as a JSON object, sorted by key; a figure that is not
    /// finite (nothing measured) is `null`.
    fn json(&self) -> serde_json::Result<String> {
        let finite: BTreeMap<&str, Option<f64>> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.is_finite().then_some(*v)))
            .collect();
        let mut text = serde_json::to_string_pretty(&finite)?;
        text.push('\n');
        Ok(text)
    }
}

/// N children that only pause(), killed on drop.
#[derive(Debug)]
struct Paused(Vec<Pid>);

impl Paused {
    fn spawn(n: usize) -> Res<Paused> {
        let mut pids = Vec::with_capacity(n);
        for _ in 0..n {
            // SAFETY: the child only calls pause() and _exit(), both
            // async-signal-safe, so forking from this (single-threaded at
            // this point) process is sound.
            match unsafe { fork() }? {
                ForkResult::Child => loop {
                    pause();
                },
                ForkResult::Parent { child } => {
                    pids.push(Pid::new(child.as_raw()).ok_or("fork returned pid 0")?)
                }
            }
        }
        Ok(Paused(pids))
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = kill(nix::unistd::Pid::from_raw(p.as_raw()), Signal::SIGKILL);
        }
        for p in &self.0 {
            let _ = waitpid(nix::unistd::Pid::from_raw(p.as_raw()), None);
        }
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Phase 1 for one N.
fn cost(p: &Profiler, r: &mut Results, n: usize, secs: f64) -> Res<()> {
    eprintln!("bench: cost: forking and registering {n} paused processes");
    let kids = Paused::spawn(n)?;
    p.set_period_us(50_000)?;
    for &pid in &kids.0 {
        p.register(pid)?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let a = p.query()?;
    let t0 = Instant::now();
    // Each tick's own cost (`cost_last_ns` when exactly one tick passed
    // since the last look), for a median: under TCG on a busy host a tick
    // that the host preempts costs its whole time slice, which the mean
    // (`cost_total_ns / ticks`) takes in and the median leaves out.
    let mut each = Vec::new();
    let mut last = a.ticks;
    while t0.elapsed().as_secs_f64() < secs {
        std::thread::sleep(Duration::from_millis(20));
        let q = p.query()?;
        if q.ticks == last.wrapping_add(1) {
            each.push(q.cost_last_ns as f64);
        }
        last = q.ticks;
    }
    let b = p.query()?;
    let wall = t0.elapsed().as_nanos() as f64;
    let tick_median = median(each);
    r.set(format!("sampler_tick_ns_median_n{n}"), tick_median);
    r.set(
        format!("sampler_ns_per_process_median_n{n}"),
        tick_median / n as f64,
    );
    let samples = b.process_samples.saturating_sub(a.process_samples) as f64;
    let cost_ns = b.cost_total_ns.saturating_sub(a.cost_total_ns) as f64;
    let ticks = b.ticks.saturating_sub(a.ticks) as f64;
    r.set(format!("sampler_ns_per_process_n{n}"), cost_ns / samples);
    r.set(format!("sampler_cpu_pct_n{n}_20hz"), 100.0 * cost_ns / wall);
    r.set(format!("sampler_ticks_n{n}"), ticks);
    r.set(format!("sampler_ns_per_tick_n{n}"), cost_ns / ticks);
    r.set(
        format!("sampler_overruns_n{n}"),
        b.overruns.saturating_sub(a.overruns) as f64,
    );
    for &pid in &kids.0 {
        p.unregister(pid)?;
    }
    // The same figures from /proc at the same rate (or as fast as it can).
    let mut watch = procfs::Watch::new();
    for &pid in &kids.0 {
        watch.add(pid)?;
    }
    let period = Duration::from_millis(50);
    let t0 = Instant::now();
    let mut next = t0;
    let (mut busy, mut rounds) = (Duration::ZERO, 0u32);
    while rounds < 3 || t0.elapsed().as_secs_f64() < secs {
        sleep_until(next);
        next += period;
        let c0 = Instant::now();
        let got = watch.collect()?;
        busy += c0.elapsed();
        rounds += 1;
        if got.len() != n {
            return Err(format!("procfs collected {} of {n} processes", got.len()).into());
        }
    }
    let wall = t0.elapsed().as_nanos() as f64;
    let busy = busy.as_nanos() as f64;
    let per = busy / (f64::from(rounds) * n as f64);
    r.set(format!("procfs_ns_per_process_n{n}"), per);
    r.set(format!("procfs_cpu_pct_n{n}_20hz"), 100.0 * busy / wall);
    r.set(
        format!("ratio_procfs_to_sampler_n{n}"),
        per / (cost_ns / samples),
    );
    Ok(())
}

/// A tick's fixed cost: the cost per tick (the median tick) is `fixed + n *
/// share` (N paused processes), fitted through N = 1 and N = 1000;
/// `tick_fixed_ns` is the cost beyond the processes' share, and
/// `tick_fixed_to_process_ratio` that against one process's share.
fn tick_fixed(r: &mut Results) {
    let g = |k: &str| r.0.get(k).copied().unwrap_or(f64::NAN);
    let (t1, t1000) = (
        g("sampler_tick_ns_median_n1"),
        g("sampler_tick_ns_median_n1000"),
    );
    let share = (t1000 - t1) / 999.0;
    let fixed = t1 - share;
    r.set("tick_process_share_ns", share);
    r.set("tick_fixed_ns", fixed);
    r.set("tick_fixed_to_process_ratio", fixed / share);
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Mean error (%), p99 and max |jitter| (us) of timestamps taken every
/// `period`, and the median |jitter| (us).
fn accuracy(times_ns: &[u64], period_ns: f64) -> (f64, f64, f64, f64) {
    let d: Vec<f64> = times_ns
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]) as f64)
        .collect();
    if d.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let mut jit: Vec<f64> = d.iter().map(|x| (x - period_ns).abs() / 1e3).collect();
    jit.sort_by(f64::total_cmp);
    let max = jit.last().copied().unwrap_or(f64::NAN);
    (
        100.0 * (mean - period_ns) / period_ns,
        percentile(&jit, 0.99),
        max,
        percentile(&jit, 0.5),
    )
}

/// The classic scheme in user space: sample (read one process's /proc
/// figures), then sleep one period relative to now.
fn classic_sim(pid: Pid, period: Duration, samples: usize) -> Vec<u64> {
    let mut reader = procfs::Reader::new();
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        out.push(libpfprof::monotonic_now_ns());
        let _ = reader.read(pid);
        std::thread::sleep(period);
    }
    out
}

/// Phase 2 at one rate.
fn period(p: &Profiler, r: &mut Results, name: &str, period_us: u32, samples: usize) -> Res<()> {
    eprintln!("bench: period accuracy at {name}: {samples} samples");
    let kid = Paused::spawn(1)?;
    let pid = kid.0[0];
    p.set_period_us(period_us)?;
    let region = p.map_extended()?;
    p.register(pid)?;
    let per = Duration::from_micros(u64::from(period_us));
    let sim = std::thread::spawn(move || classic_sim(pid, per, samples));
    let mut stream = Stream::from_now(&region)?;
    let st0 = p.query()?;
    let mut times = Vec::with_capacity(samples + 1);
    let mut lost = 0;
    let deadline = Instant::now() + per * (samples as u32) * 3 + Duration::from_secs(10);
    while times.len() < samples + 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let b = stream.poll(&region)?;
        lost += b.lost;
        times.extend(
            b.records
                .iter()
                .filter(|x| x.flags.contains(RecordFlags::TOTAL))
                .map(|x| x.time_ns),
        );
    }
    let st1 = p.query()?;
    p.unregister(pid)?;
    times.truncate(samples + 1);
    let classic = sim.join().map_err(|_| "the classic simulation panicked")?;
    let pns = f64::from(period_us) * 1e3;
    let (e, j, m, j50) = accuracy(&times, pns);
    r.set(format!("period_jitter_p50_us_{name}"), j50);
    r.set(
        format!("period_samples_{name}"),
        (times.len().max(1) - 1) as f64,
    );
    r.set(format!("period_error_mean_pct_{name}"), e);
    r.set(format!("period_jitter_p99_us_{name}"), j);
    r.set(format!("period_jitter_max_us_{name}"), m);
    r.set(
        format!("period_overruns_{name}"),
        st1.overruns.saturating_sub(st0.overruns) as f64,
    );
    r.set(format!("period_records_lost_{name}"), lost as f64);
    let (e, j, m, _) = accuracy(&classic, pns);
    r.set(format!("classic_period_error_mean_pct_{name}"), e);
    r.set(format!("classic_period_jitter_p99_us_{name}"), j);
    r.set(format!("classic_period_jitter_max_us_{name}"), m);
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

fn run_work(bin: &Path, args: &[&str], register: bool) -> Res<f64> {
    let mut cmd = Command::new(bin.join("work"));
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    if !register {
        cmd.arg("--no-register");
    }
    let t0 = Instant::now();
    let st = cmd.status()?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    if !st.success() {
        return Err(format!("work {args:?} failed: {st}").into());
    }
    Ok(ms)
}

/// How `work` is observed in a side-by-side run (phase 5).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Observer {
    /// Nothing: the baseline.
    Unprofiled,
    /// pfprof at this period (us), the process registered by pid.
    Pfprof(u32),
    /// `perf stat -e minor-faults,major-faults -p PID -I <ms>`.
    Perf(u32),
    /// `/proc/<pid>/stat` and `schedstat` read at this period (ms).
    Procfs(u32),
}

impl Observer {
    /// The name in the results' keys.
    fn key(self) -> String {
        match self {
            Observer::Unprofiled => "unprofiled".into(),
            Observer::Pfprof(us) => format!("pfprof_{}", rate_name(us)),
            Observer::Perf(ms) => format!("perf_stat_{}", rate_name(ms * 1000)),
            Observer::Procfs(ms) => format!("procfs_{}", rate_name(ms * 1000)),
        }
    }
}

/// "20hz" for 50,000 us, "1khz" for 1,000 us.
fn rate_name(period_us: u32) -> String {
    let hz = 1_000_000 / period_us.max(1);
    if hz >= 1000 && hz % 1000 == 0 {
        format!("{}khz", hz / 1000)
    } else {
        format!("{hz}hz")
    }
}

/// One observed run of `work`.
#[derive(Debug, Default)]
struct Observed {
    /// From SIGCONT (before the exec) to the exit, ms.
    wall_ms: f64,
    /// CPU time of the observer over the same interval, ns.
    observer_cpu_ns: f64,
    /// The observer's sample times, ns (any origin).
    times_ns: Vec<u64>,
    /// Minor and major faults the observer counted over the run.
    faults: Option<(u64, u64)>,
}

/// Forks a child that stops itself (SIGSTOP) and, once continued, execs
/// `work ARGS --no-register` with its output to /dev/null; returns once it
/// is stopped, so that observers can attach before it runs.
fn spawn_stopped(bin: &Path, args: &[&str]) -> Res<nix::unistd::Pid> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(bin.join("work").as_os_str().as_bytes())?;
    let mut argv = vec![path.clone()];
    for a in args.iter().chain(&["--no-register"]) {
        argv.push(CString::new(*a)?);
    }
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let fd = null.as_raw_fd();
    // SAFETY: the child only makes async-signal-safe calls (dup2, raise,
    // execv, _exit) on data prepared before the fork.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // SAFETY: plain system calls on valid descriptors and strings.
            unsafe {
                libc::dup2(fd, 1);
                libc::dup2(fd, 2);
                libc::raise(libc::SIGSTOP);
                libc::execv(path.as_ptr(), ptrs.as_ptr());
                libc::_exit(127)
            }
        }
        ForkResult::Parent { child } => {
            use nix::sys::wait::{WaitPidFlag, WaitStatus};
            match waitpid(child, Some(WaitPidFlag::WUNTRACED))? {
                WaitStatus::Stopped(_, _) => Ok(child),
                other => Err(format!("work did not stop before its exec: {other:?}").into()),
            }
        }
    }
}

/// CPU time of every thread of `pid` (sum_exec_runtime from schedstat), ns.
fn task_cpu_ns(pid: u32) -> Option<u64> {
    let mut sum = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let t = t.ok()?;
        let text = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        sum += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(sum)
}

/// Whether process `pid` holds at least `n` perf event descriptors.
fn perf_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().contains("perf_event"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// A count field of perf's CSV output ("<not counted>" is 0).
fn perf_count(field: &str) -> u64 {
    field.trim().parse().unwrap_or(0)
}

/// Parses `perf stat -x,` output: per interval (if `-I`), its time in ns and
/// the minor and major faults; without `-I`, one line each, time 0.
fn parse_perf(text: &str) -> Vec<(u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        let Some(ev) = f
            .iter()
            .position(|x| *x == "minor-faults" || *x == "major-faults")
        else {
            continue;
        };
        // With -I: time,count,unit,event,...; without: count,unit,event,...
        let (t, count) = if ev >= 3 {
            let secs: f64 = f[0].trim().parse().unwrap_or(f64::NAN);
            ((secs * 1e9) as u64, perf_count(f[1]))
        } else {
            (0, perf_count(f[0]))
        };
        if out.last().map_or(true, |l| l.0 != t) {
            out.push((t, 0, 0));
        }
        if let Some(l) = out.last_mut() {
            if f[ev] == "minor-faults" {
                l.1 += count;
            } else {
                l.2 += count;
            }
        }
    }
    out
}

/// One run of `work ARGS` under `obs`.
fn observe(p: &Profiler, bin: &Path, args: &[&str], obs: Observer) -> Res<Observed> {
    let child = spawn_stopped(bin, args)?;
    let cpid = child.as_raw() as u32;
    let pid = Pid::new(child.as_raw()).ok_or("fork returned pid 0")?;
    let mut out = Observed::default();
    let mut perf = None;
    let mut stream = None;
    let mut region = None;
    let stop_poll = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut poller = None;
    match obs {
        Observer::Unprofiled => {}
        Observer::Pfprof(us) => {
            p.set_period_us(us)?;
            region = Some(p.map_extended()?);
            if let Some(r) = &region {
                stream = Some(Stream::from_now(r)?);
            }
            p.register(pid)?;
        }
        Observer::Perf(_) => {
            let mut cmd = Command::new("perf");
            cmd.args(["stat", "-x,", "-e", "minor-faults,major-faults", "-p"])
                .arg(cpid.to_string());
            if let Observer::Perf(ms) = obs {
                cmd.args(["-I", &ms.to_string()]);
            }
            let mut perf_child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot run perf (linux-perf): {e}"))?;
            // Attached once it holds both events' descriptors and has had
            // time to enable them.
            let t0 = Instant::now();
            while perf_fds(perf_child.id()) < 2 {
                if t0.elapsed() > Duration::from_secs(30) {
                    let _ = perf_child.kill();
                    return Err("perf stat did not attach within 30 s".into());
                }
                if let Some(st) = perf_child.try_wait()? {
                    return Err(format!("perf stat exited early: {st}").into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(200));
            perf = Some(perf_child);
        }
        Observer::Procfs(ms) => {
            let stop = stop_poll.clone();
            let period = Duration::from_millis(u64::from(ms));
            poller = Some(std::thread::spawn(move || {
                let mut reader = procfs::Reader::new();
                let mut times = Vec::new();
                let mut busy = Duration::ZERO;
                let mut next = Instant::now();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    sleep_until(next);
                    next += period;
                    let c0 = Instant::now();
                    times.push(libpfprof::monotonic_now_ns());
                    let _ = reader.read(pid);
                    busy += c0.elapsed();
                }
                (times, busy)
            }));
        }
    }
    let st0 = p.query()?;
    let perf_cpu0 = perf
        .as_ref()
        .and_then(|c: &std::process::Child| task_cpu_ns(c.id()));
    let t0 = Instant::now();
    kill(child, Signal::SIGCONT)?;
    let status = waitpid(child, None)?;
    out.wall_ms = t0.elapsed().as_secs_f64() * 1e3;
    let perf_cpu1 = perf.as_ref().and_then(|c| task_cpu_ns(c.id()));
    let st1 = p.query()?;
    if !matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)) {
        return Err(format!("work {args:?} failed: {status:?}").into());
    }
    match obs {
        Observer::Unprofiled => {}
        Observer::Pfprof(_) => {
            out.observer_cpu_ns = st1.cost_total_ns.saturating_sub(st0.cost_total_ns) as f64;
            // Every record of the process up to its EXITED one, and the
            // tick times while it was registered.
            let (mut minor, mut major, mut done) = (0, 0, false);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !done && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
                let (Some(s), Some(r)) = (stream.as_mut(), region.as_ref()) else {
                    break;
                };
                for rec in s.poll(r)?.records {
                    if rec.flags.contains(RecordFlags::TOTAL) {
                        if !done {
                            out.times_ns.push(rec.time_ns);
                        }
                    } else if rec.pid == Some(pid) {
                        minor += rec.counters.minor;
                        major += rec.counters.major;
                        done |= rec.flags.contains(RecordFlags::EXITED);
                    }
                }
            }
            if !done {
                return Err("pfprof gave no EXITED record for work within 10 s".into());
            }
            out.faults = Some((minor, major));
        }
        Observer::Perf(_) => {
            let perf_child = perf.take().ok_or("no perf")?;
            let o = perf_child.wait_with_output()?;
            let text = String::from_utf8_lossy(&o.stderr);
            let rows = parse_perf(&text);
            if rows.is_empty() {
                return Err(format!("no counts in perf's output: {text}").into());
            }
            out.faults = Some(rows.iter().fold((0, 0), |a, r| (a.0 + r.1, a.1 + r.2)));
            out.times_ns = rows.iter().map(|r| r.0).collect();
            out.observer_cpu_ns = match (perf_cpu0, perf_cpu1) {
                (Some(a), Some(b)) => b.saturating_sub(a) as f64,
                _ => f64::NAN,
            };
        }
        Observer::Procfs(_) => {
            stop_poll.store(true, std::sync::atomic::Ordering::Relaxed);
            let (times, busy) = poller
                .take()
                .ok_or("no poller")?
                .join()
                .map_err(|_| "the /proc poller panicked")?;
            out.times_ns = times;
            out.observer_cpu_ns = busy.as_nanos() as f64;
        }
    }
    Ok(out)
}

/// Median, minimum and maximum.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (
        percentile(&s, 0.5),
        s.first().copied().unwrap_or(f64::NAN),
        s.last().copied().unwrap_or(f64::NAN),
    )
}

/// Phase 5: `work` side by side under each observer, interleaved.
fn side_by_side(p: &Profiler, r: &mut Results, bin: &Path, runs: usize) -> Res<()> {
    let args = [
        "64",
        "R",
        "200000",
        "--iterations",
        "5",
        "--sleep-ms",
        "0",
        "--seed",
        "1",
    ];
    // Agreement: the same process over the same interval (from before its
    // exec to its exit), by pfprof and by perf stat at once.
    eprintln!("bench: agreement with perf stat: work {}", args.join(" "));
    let (mut pf, mut ps) = ((0u64, 0u64), (0u64, 0u64));
    for _ in 0..if runs > 3 { 3 } else { 1 } {
        let child = spawn_stopped(bin, &args)?;
        let pid = Pid::new(child.as_raw()).ok_or("fork returned pid 0")?;
        p.set_period_us(50_000)?;
        let region = p.map_extended()?;
        let mut stream = Stream::from_now(&region)?;
        let perf_child = Command::new("perf")
            .args(["stat", "-x,", "-e", "minor-faults,major-faults", "-p"])
            .arg(child.as_raw().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run perf (linux-perf): {e}"))?;
        let t0 = Instant::now();
        while perf_fds(perf_child.id()) < 2 && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
        p.register(pid)?;
        kill(child, Signal::SIGCONT)?;
        waitpid(child, None)?;
        let o = perf_child.wait_with_output()?;
        let rows = parse_perf(&String::from_utf8_lossy(&o.stderr));
        let (mut done, deadline) = (false, Instant::now() + Duration::from_secs(10));
        while !done && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            for rec in stream.poll(&region)?.records {
                if rec.pid == Some(pid) {
                    pf.0 += rec.counters.minor;
                    pf.1 += rec.counters.major;
                    done |= rec.flags.contains(RecordFlags::EXITED);
                }
            }
        }
        if !done {
            return Err("pfprof gave no EXITED record for work within 10 s".into());
        }
        for row in rows {
            ps.0 += row.1;
            ps.1 += row.2;
        }
    }
    r.set("agreement_minor_faults_pfprof", pf.0 as f64);
    r.set("agreement_minor_faults_perf", ps.0 as f64);
    r.set("agreement_major_faults_pfprof", pf.1 as f64);
    r.set("agreement_major_faults_perf", ps.1 as f64);
    r.set(
        "perf_minor_faults_agreement_pct",
        100.0 * ps.0 as f64 / pf.0 as f64,
    );

    let observers = [
        Observer::Unprofiled,
        Observer::Pfprof(50_000),
        Observer::Pfprof(1_000),
        Observer::Perf(50),
        Observer::Perf(10),
        Observer::Procfs(50),
    ];
    eprintln!(
        "bench: side by side: work {} under {} observers x {runs} runs, interleaved",
        args.join(" "),
        observers.len()
    );
    let mut runs_of: Vec<Vec<Observed>> = observers.iter().map(|_| Vec::new()).collect();
    // A warm-up run, discarded: the first run of the binary pays for its
    // page cache and the emulator's code cache (in --quick's single pass
    // the unprofiled run took twice as long as the profiled ones).
    observe(p, bin, &args, Observer::Unprofiled)?;
    for i in 0..runs {
        for k in 0..observers.len() {
            let j = (i + k) % observers.len();
            runs_of[j].push(observe(p, bin, &args, observers[j])?);
        }
    }
    let base = spread(&runs_of[0].iter().map(|o| o.wall_ms).collect::<Vec<_>>()).0;
    for (obs, got) in observers.iter().zip(&runs_of) {
        let key = obs.key();
        let walls: Vec<f64> = got.iter().map(|o| o.wall_ms).collect();
        eprintln!("bench: {key}: wall ms {walls:?}");
        let (med, lo, hi) = spread(&walls);
        r.set(format!("side_wall_ms_{key}"), med);
        r.set(format!("side_wall_ms_min_{key}"), lo);
        r.set(format!("side_wall_ms_max_{key}"), hi);
        if *obs == Observer::Unprofiled {
            continue;
        }
        r.set(format!("slowdown_pct_{key}"), 100.0 * (med / base - 1.0));
        let cpu: Vec<f64> = got
            .iter()
            .map(|o| 100.0 * o.observer_cpu_ns / (o.wall_ms * 1e6))
            .collect();
        r.set(format!("cpu_pct_{key}"), spread(&cpu).0);
        let period_ns = match obs {
            Observer::Pfprof(us) => f64::from(*us) * 1e3,
            Observer::Perf(ms) | Observer::Procfs(ms) => f64::from(*ms) * 1e6,
            _ => f64::NAN,
        };
        // Sample intervals of every run, pooled.
        let mut jit = Vec::new();
        let (mut sum, mut count) = (0.0, 0usize);
        for o in got {
            for w in o.times_ns.windows(2) {
                let d = w[1].saturating_sub(w[0]) as f64;
                sum += d;
                count += 1;
                jit.push((d - period_ns).abs() / 1e3);
            }
        }
        jit.sort_by(f64::total_cmp);
        r.set(format!("side_intervals_{key}"), count as f64);
        r.set(
            format!("side_period_error_mean_pct_{key}"),
            100.0 * (sum / count as f64 - period_ns) / period_ns,
        );
        r.set(
            format!("side_period_jitter_p99_us_{key}"),
            percentile(&jit, 0.99),
        );
    }
    // The old keys, from the same runs.
    r.set("work_unprofiled_ms", base);
    r.set(
        "work_profiled_ms_20hz",
        spread(&runs_of[1].iter().map(|o| o.wall_ms).collect::<Vec<_>>()).0,
    );
    r.set(
        "work_profiled_ms_1khz",
        spread(&runs_of[2].iter().map(|o| o.wall_ms).collect::<Vec<_>>()).0,
    );
    if let Some(v) = r.0.get("slowdown_pct_pfprof_20hz").copied() {
        r.set("work_slowdown_pct_20hz", v);
    }
    if let Some(v) = r.0.get("slowdown_pct_pfprof_1khz").copied() {
        r.set("work_slowdown_pct_1khz", v);
    }
    r.set("work_runs", runs as f64);
    Ok(())
}

fn time_monitor(bin: &Path, args: &[&str]) -> Res<(f64, String)> {
    let t0 = Instant::now();
    let out = Command::new(bin.join("monitor"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        return Err(format!("monitor {args:?} failed: {}", out.status).into());
    }
    Ok((ms, String::from_utf8_lossy(&out.stderr).into_owned()))
}

/// The number before `word` in `text` (`"... 1,234 records lost"`).
fn number_before(text: &str, word: &str) -> Option<f64> {
    let i = text.find(word)?;
    let n: String = text[..i]
        .trim_end()
        .rsplit(' ')
        .next()?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    n.parse().ok()
}

/// Phase 4.
fn monitor(p: &Profiler, r: &mut Results, bin: &Path, quick: bool) -> Res<()> {
    // Fill both rings: 10 processes at 1 kHz write 11 records and one
    // classic sample per tick; 13 s > 12,000 classic samples and
    // 65,536 / 11 ticks.
    eprintln!("bench: monitor: filling the buffer (10 processes at 1 kHz for 13 s)");
    p.reset()?;
    p.set_period_us(1_000)?;
    let kids = Paused::spawn(10)?;
    for &pid in &kids.0 {
        p.register(pid)?;
    }
    std::thread::sleep(Duration::from_secs(13));
    for &pid in &kids.0 {
        p.unregister(pid)?;
    }
    drop(kids);
    let st = p.query()?;
    r.set("buffer_classic_samples_written", st.samples_written as f64);
    r.set("buffer_records_written", st.records_written as f64);
    let reps = if quick { 1 } else { 3 };
    let (mut c, mut e) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        c.push(time_monitor(bin, &[])?.0);
        let (ms, err) = time_monitor(bin, &["--per-process"])?;
        e.push(ms);
        if let Some(n) = number_before(&err, "records") {
            r.set("monitor_export_records_ext", n);
        }
    }
    r.set("monitor_export_ms_classic", median(c));
    r.set("monitor_export_ms_ext", median(e));

    eprintln!("bench: monitor --per-process --follow at 1 kHz while work runs");
    p.reset()?;
    p.set_period_us(1_000)?;
    let child = Command::new(bin.join("monitor"))
        .args(["--per-process", "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let iters = if quick { "3" } else { "10" };
    run_work(
        bin,
        &[
            "64",
            "R",
            "200000",
            "--iterations",
            iters,
            "--sleep-ms",
            "200",
        ],
        true,
    )?;
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    eprint!("bench: {err}");
    let lost = number_before(&err, "records lost").unwrap_or(0.0);
    r.set("follow_lost_records_1khz", lost);
    r.set(
        "follow_records_1khz",
        number_before(&err, "records (").unwrap_or(f64::NAN),
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pfprof-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Res<()> {
    let started = Instant::now();
    let p = Profiler::open()?;
    let mut r = Results::default();
    let st = p.query()?;
    r.set("hz", f64::from(st.hz));
    r.set("quick", if cli.quick { 1.0 } else { 0.0 });
    let ns: &[usize] = if !cli.ns.is_empty() {
        &cli.ns
    } else if cli.quick {
        &[1, 10, 100, 1000]
    } else {
        &[1, 10, 100, 1000, 10000]
    };
    if cli.runs("cost") {
        for &n in ns {
            cost(&p, &mut r, n, if cli.quick { 2.0 } else { 5.0 })?;
        }
        tick_fixed(&mut r);
    }
    let (s20, s1k) = if cli.quick {
        (200, 3000)
    } else {
        (10_000, 10_000)
    };
    if cli.runs("period") {
        period(&p, &mut r, "20hz", 50_000, s20)?;
        period(&p, &mut r, "100hz", 10_000, s1k / 10)?;
        period(&p, &mut r, "1khz", 1_000, s1k)?;
    }
    if cli.runs("side") {
        side_by_side(&p, &mut r, &cli.bin, if cli.quick { 1 } else { 7 })?;
    }
    if cli.runs("monitor") {
        monitor(&p, &mut r, &cli.bin, cli.quick)?;
    }
    p.set_period_us(libpfprof::PERIOD_DEFAULT_US)?;
    r.set("bench_seconds", started.elapsed().as_secs_f64());
    if let Some(dir) = cli.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cli.out, r.json()?)?;
    eprintln!("bench: wrote {}", cli.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_csv_output_parses_with_and_without_intervals() {
        let interval = "#           time,counts\n     0.050104871,120,,minor-faults,50086812,100.00,,\n     0.050104871,2,,major-faults,50086812,100.00,,\n     0.100219000,<not counted>,,minor-faults,0,100.00,,\n     0.100219000,<not counted>,,major-faults,0,100.00,,\n";
        assert_eq!(
            parse_perf(interval),
            vec![(50_104_871, 120, 2), (100_219_000, 0, 0)]
        );
        let totals =
            "16420,,minor-faults,1594214020,100.00,,\n3,,major-faults,1594214020,100.00,,\n";
        assert_eq!(parse_perf(totals), vec![(0, 16420, 3)]);
        assert!(parse_perf("Problems finding threads of monitor\n").is_empty());
    }

    #[test]
    fn observers_are_named_by_rate() {
        assert_eq!(Observer::Pfprof(50_000).key(), "pfprof_20hz");
        assert_eq!(Observer::Pfprof(1_000).key(), "pfprof_1khz");
        assert_eq!(Observer::Perf(50).key(), "perf_stat_20hz");
        assert_eq!(Observer::Perf(10).key(), "perf_stat_100hz");
        assert_eq!(Observer::Procfs(50).key(), "procfs_20hz");
    }

    #[test]
    fn the_fixed_cost_of_a_tick_is_fitted_through_n1_and_n1000() {
        let mut r = Results::default();
        r.set("sampler_tick_ns_median_n1", 3_000.0);
        r.set("sampler_tick_ns_median_n1000", 1_002_000.0);
        tick_fixed(&mut r);
        assert_eq!(r.0["tick_process_share_ns"], 1_000.0);
        assert_eq!(r.0["tick_fixed_ns"], 2_000.0);
        assert_eq!(r.0["tick_fixed_to_process_ratio"], 2.0);
    }

    #[test]
    fn results_are_a_sorted_json_object_with_null_for_nothing_measured() {
        let mut r = Results::default();
        r.set("b", 1.5);
        r.set("a", 0.0);
        r.set("c", f64::NAN);
        assert_eq!(
            r.json().unwrap(),
            "{\n  \"a\": 0.0,\n  \"b\": 1.5,\n  \"c\": null\n}\n"
        );
    }
}
