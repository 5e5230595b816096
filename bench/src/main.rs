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
//! 3. `work` wall time profiled at 20 Hz and 1 kHz against unprofiled runs
//!    (`--no-register`), interleaved, medians.
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
    std::thread::sleep(Duration::from_secs_f64(secs));
    let b = p.query()?;
    let wall = t0.elapsed().as_nanos() as f64;
    let samples = b.process_samples.saturating_sub(a.process_samples) as f64;
    let cost_ns = b.cost_total_ns.saturating_sub(a.cost_total_ns) as f64;
    let ticks = b.ticks.saturating_sub(a.ticks) as f64;
    r.set(format!("sampler_ns_per_process_n{n}"), cost_ns / samples);
    r.set(format!("sampler_cpu_pct_n{n}_20hz"), 100.0 * cost_ns / wall);
    r.set(format!("sampler_ticks_n{n}"), ticks);
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

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Mean error (%) and p99 |jitter| (us) of timestamps taken every `period`.
fn accuracy(times_ns: &[u64], period_ns: f64) -> (f64, f64, f64) {
    let d: Vec<f64> = times_ns
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]) as f64)
        .collect();
    if d.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    let mut jit: Vec<f64> = d.iter().map(|x| (x - period_ns).abs() / 1e3).collect();
    jit.sort_by(f64::total_cmp);
    let max = jit.last().copied().unwrap_or(f64::NAN);
    (
        100.0 * (mean - period_ns) / period_ns,
        percentile(&jit, 0.99),
        max,
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
    let (e, j, m) = accuracy(&times, pns);
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
    let (e, j, m) = accuracy(&classic, pns);
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

/// Phase 3.
fn slowdown(p: &Profiler, r: &mut Results, bin: &Path, runs: usize) -> Res<()> {
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
    eprintln!(
        "bench: slowdown: work {} x {runs} runs each, interleaved",
        args.join(" ")
    );
    let (mut base, mut hz20, mut khz) = (Vec::new(), Vec::new(), Vec::new());
    run_work(bin, &args, false)?; // warm up
    for i in 0..runs {
        // Rotate the order so that no configuration always runs first.
        for k in 0..3 {
            match (i + k) % 3 {
                0 => base.push(run_work(bin, &args, false)?),
                1 => {
                    p.set_period_us(50_000)?;
                    hz20.push(run_work(bin, &args, true)?);
                }
                _ => {
                    p.set_period_us(1_000)?;
                    khz.push(run_work(bin, &args, true)?);
                }
            }
        }
    }
    eprintln!("bench: work ms: unprofiled {base:?}, 20 Hz {hz20:?}, 1 kHz {khz:?}");
    let b = median(base);
    r.set("work_unprofiled_ms", b);
    r.set("work_profiled_ms_20hz", median(hz20.clone()));
    r.set("work_profiled_ms_1khz", median(khz.clone()));
    r.set("work_slowdown_pct_20hz", 100.0 * (median(hz20) / b - 1.0));
    r.set("work_slowdown_pct_1khz", 100.0 * (median(khz) / b - 1.0));
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
    let ns: &[usize] = if cli.quick {
        &[1, 10, 100, 1000]
    } else {
        &[1, 10, 100, 1000, 10000]
    };
    for &n in ns {
        cost(&p, &mut r, n, if cli.quick { 2.0 } else { 5.0 })?;
    }
    let (s20, s1k) = if cli.quick {
        (200, 3000)
    } else {
        (10_000, 10_000)
    };
    period(&p, &mut r, "20hz", 50_000, s20)?;
    period(&p, &mut r, "1khz", 1_000, s1k)?;
    slowdown(&p, &mut r, &cli.bin, if cli.quick { 3 } else { 7 })?;
    monitor(&p, &mut r, &cli.bin, cli.quick)?;
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
