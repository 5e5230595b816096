//! `cargo xtask bench [--quick]`: the benchmarks, in the lab VM.
//!
//! Builds the tools and examples (release) into `target/release`, boots the
//! lab VM with the module loaded (2 CPUs, 4 GiB: 10,000 paused processes
//! fit), and runs `pfprof-bench` (the `bench/` crate, bench/src/main.rs), which
//! measures the sampler's cost (per process and a tick's fixed cost)
//! against the /proc backend, the period's accuracy against the classic
//! re-arm-relative-to-now scheme, `work` side by side under pfprof, `perf
//! stat` and /proc polling (fault counts, slowdown, CPU share, sample
//! intervals), and `monitor`'s export time and follow-mode losses. It writes `target/bench/results.json`; this prints the table and
//! the targets met or missed. Numbers are never asserted: `--quick` (CI)
//! only checks that the JSON has every key with a finite number.
//!
//! A second boot runs the cost and period phases again under instruction
//! counting (`cargo xtask vm --accel icount`, one vCPU): there a guest
//! nanosecond is one instruction executed, so those figures, kept under
//! `icount_` keys, are the same from run to run whatever loads the host,
//! and leave out what only the emulator pays (TCG's software TLB refills
//! and translation, which dominate a tick's wall time under TCG, and the
//! host's scheduling of the vCPU threads, which dominates the tail of the
//! period's jitter).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::err;
use crate::lab;
use crate::paths;
use crate::util::{self, Result};
use crate::vm::{Accel, VmArgs};

/// `cargo xtask bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Fewer processes (N up to 1,000), samples and runs: a few minutes,
    /// for CI
    #[arg(long)]
    pub quick: bool,
}

/// The keys `results.json` must have (the list).
pub const REQUIRED_KEYS: &[&str] = &[
    "sampler_ns_per_process_n1000",
    "procfs_ns_per_process_n1000",
    "period_error_mean_pct_20hz",
    "period_jitter_p99_us_20hz",
    "work_slowdown_pct_20hz",
    "work_slowdown_pct_1khz",
    "follow_lost_records_1khz",
    "perf_minor_faults_agreement_pct",
    "slowdown_pct_pfprof_20hz",
    "slowdown_pct_perf_stat_20hz",
    "slowdown_pct_procfs_20hz",
    "period_jitter_p99_us_1khz",
    "tick_fixed_ns",
    "icount_sampler_ns_per_process_n1000",
    "icount_ratio_procfs_to_sampler_n1000",
    "icount_tick_fixed_ns",
    "icount_period_jitter_p99_us_1khz",
];

/// Parses the flat JSON object pfprof-bench writes (`"key": number|null`);
/// `null` (not measured) becomes NaN.
pub fn parse_results(text: &str) -> Result<BTreeMap<String, f64>> {
    let raw: BTreeMap<String, Option<f64>> = serde_json::from_str(text)
        .map_err(|e| err!("results.json is not a flat JSON object of numbers: {e}"))?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
        .collect())
}

/// The keys of [`REQUIRED_KEYS`] that are missing or not finite.
pub fn missing_keys(r: &BTreeMap<String, f64>) -> Vec<&'static str> {
    REQUIRED_KEYS
        .iter()
        .copied()
        .filter(|k| !r.get(*k).is_some_and(|v| v.is_finite()))
        .collect()
}

fn get(r: &BTreeMap<String, f64>, k: &str) -> Option<f64> {
    r.get(k).copied().filter(|v| v.is_finite())
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.4}"),
    }
}

/// The table (Markdown, so docs/performance.md can take it as it is).
pub fn table(r: &BTreeMap<String, f64>) -> String {
    let mut s = String::new();
    let g = |k: &str| get(r, k);
    s.push_str("| N processes | module ns/process/tick | module median tick ns | /proc ns/process/tick | ratio | module CPU % at 20 Hz | /proc CPU % at 20 Hz |\n|---:|---:|---:|---:|---:|---:|---:|\n");
    for n in [1, 10, 100, 1000, 10000] {
        if g(&format!("sampler_ns_per_process_n{n}")).is_none() {
            continue;
        }
        s.push_str(&format!(
            "| {n} | {} | {} | {} | {} | {} | {} |\n",
            num(g(&format!("sampler_ns_per_process_n{n}"))),
            num(g(&format!("sampler_tick_ns_median_n{n}"))),
            num(g(&format!("procfs_ns_per_process_n{n}"))),
            num(g(&format!("ratio_procfs_to_sampler_n{n}"))),
            num(g(&format!("sampler_cpu_pct_n{n}_20hz"))),
            num(g(&format!("procfs_cpu_pct_n{n}_20hz"))),
        ));
    }
    s.push_str(&format!(
        "\nA tick's fixed cost (beyond its processes' share, fitted through N = 1 and N = 1000): {} ns, {} times one process's share ({} ns).\n",
        num(g("tick_fixed_ns")),
        num(g("tick_fixed_to_process_ratio")),
        num(g("tick_process_share_ns")),
    ));
    s.push_str("\n| period | samples | mean error % | p99 jitter us | max jitter us | classic mean error % | classic p99 jitter us |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (name, label) in [
        ("20hz", "50 ms (20 Hz)"),
        ("100hz", "10 ms (100 Hz)"),
        ("1khz", "1 ms (1 kHz)"),
    ] {
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} | {} |\n",
            num(g(&format!("period_samples_{name}"))),
            num(g(&format!("period_error_mean_pct_{name}"))),
            num(g(&format!("period_jitter_p99_us_{name}"))),
            num(g(&format!("period_jitter_max_us_{name}"))),
            num(g(&format!("classic_period_error_mean_pct_{name}"))),
            num(g(&format!("classic_period_jitter_p99_us_{name}"))),
        ));
    }
    s.push_str(&format!(
        "\nFaults of one `work` run (from before its exec to its exit), counted by both at once: minor {} (pfprof) and {} (perf stat), major {} and {}; perf / pfprof = {} %.\n",
        num(g("agreement_minor_faults_pfprof")),
        num(g("agreement_minor_faults_perf")),
        num(g("agreement_major_faults_pfprof")),
        num(g("agreement_major_faults_perf")),
        num(g("perf_minor_faults_agreement_pct")),
    ));
    s.push_str("\n| observer of `work` | wall ms (median) | min–max | slowdown % | observer CPU % | intervals | mean period error % | p99 jitter us |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (key, label) in [
        ("unprofiled", "none"),
        ("pfprof_20hz", "pfprof, 20 Hz"),
        ("pfprof_1khz", "pfprof, 1 kHz"),
        ("perf_stat_20hz", "perf stat -I 50"),
        ("perf_stat_100hz", "perf stat -I 10"),
        ("procfs_20hz", "/proc polling, 20 Hz"),
    ] {
        s.push_str(&format!(
            "| {label} | {} | {}–{} | {} | {} | {} | {} | {} |\n",
            num(g(&format!("side_wall_ms_{key}"))),
            num(g(&format!("side_wall_ms_min_{key}"))),
            num(g(&format!("side_wall_ms_max_{key}"))),
            num(g(&format!("slowdown_pct_{key}"))),
            num(g(&format!("cpu_pct_{key}"))),
            num(g(&format!("side_intervals_{key}"))),
            num(g(&format!("side_period_error_mean_pct_{key}"))),
            num(g(&format!("side_period_jitter_p99_us_{key}"))),
        ));
    }
    s.push_str("\nUnder instruction counting (`icount_` keys: one vCPU, a guest nanosecond is one instruction executed):\n\n| measure | instructions |\n|---|---:|\n");
    for (k, label) in [
        (
            "icount_sampler_ns_per_process_n1000",
            "module, per process and tick (N = 1000)",
        ),
        (
            "icount_procfs_ns_per_process_n1000",
            "/proc polling, per process and round (N = 1000)",
        ),
        (
            "icount_ratio_procfs_to_sampler_n1000",
            "ratio /proc to module (N = 1000)",
        ),
        ("icount_sampler_tick_ns_median_n1", "median tick, N = 1"),
        (
            "icount_tick_process_share_ns",
            "one process's share of a tick",
        ),
        ("icount_tick_fixed_ns", "a tick's fixed cost"),
        (
            "icount_tick_fixed_to_process_ratio",
            "fixed cost / one process's share",
        ),
        (
            "icount_period_jitter_p50_us_1khz",
            "1 kHz period: median jitter (us of instructions)",
        ),
        (
            "icount_period_jitter_p99_us_1khz",
            "1 kHz period: p99 jitter (us of instructions)",
        ),
        (
            "icount_period_error_mean_pct_1khz",
            "1 kHz period: mean error (%)",
        ),
    ] {
        s.push_str(&format!("| {label} | {} |\n", num(g(k))));
    }
    s.push_str("\n| measure | value |\n|---|---:|\n");
    for (k, label) in [
        ("work_unprofiled_ms", "work, unprofiled (median ms)"),
        (
            "work_profiled_ms_20hz",
            "work, profiled at 20 Hz (median ms)",
        ),
        (
            "work_profiled_ms_1khz",
            "work, profiled at 1 kHz (median ms)",
        ),
        ("work_slowdown_pct_20hz", "slowdown at 20 Hz (%)"),
        ("work_slowdown_pct_1khz", "slowdown at 1 kHz (%)"),
        (
            "monitor_export_ms_classic",
            "monitor: export the full classic ring (ms)",
        ),
        (
            "monitor_export_ms_ext",
            "monitor --per-process: export the full extended ring (ms)",
        ),
        ("monitor_export_records_ext", "records exported"),
        (
            "follow_records_1khz",
            "monitor --per-process --follow at 1 kHz: records",
        ),
        (
            "follow_lost_records_1khz",
            "monitor --per-process --follow at 1 kHz: lost",
        ),
    ] {
        s.push_str(&format!("| {label} | {} |\n", num(g(k))));
    }
    s
}

/// Each target: (what, the figure, met).
pub fn targets(r: &BTreeMap<String, f64>) -> Vec<(String, Option<f64>, bool)> {
    let g = |k: &str| get(r, k);
    let t =
        |what: &str, v: Option<f64>, ok: fn(f64) -> bool| (what.to_owned(), v, v.is_some_and(ok));
    vec![
        t(
            "module >= 50x cheaper per process than /proc (N = 1000)",
            g("ratio_procfs_to_sampler_n1000"),
            |v| v >= 50.0,
        ),
        t(
            "module >= 100x cheaper per process than /proc (N = 1000)",
            g("ratio_procfs_to_sampler_n1000"),
            |v| v >= 100.0,
        ),
        t(
            "a tick's fixed cost <= 3 x one process's share",
            g("tick_fixed_to_process_ratio"),
            |v| v <= 3.0,
        ),
        t(
            "p99 period jitter <= 200 us at 1 kHz",
            g("period_jitter_p99_us_1khz"),
            |v| v <= 200.0,
        ),
        t(
            "minor faults identical to perf stat's (perf / pfprof, %)",
            g("perf_minor_faults_agreement_pct"),
            |v| v == 100.0,
        ),
        t(
            "mean period error <= 0.1 % at 20 Hz",
            g("period_error_mean_pct_20hz").map(f64::abs),
            |v| v <= 0.1,
        ),
        t(
            "mean period error <= 0.1 % at 1 kHz",
            g("period_error_mean_pct_1khz").map(f64::abs),
            |v| v <= 0.1,
        ),
        t(
            "slowdown <= 1 % at 20 Hz",
            g("work_slowdown_pct_20hz"),
            |v| v <= 1.0,
        ),
        t(
            "slowdown <= 3 % at 1 kHz",
            g("work_slowdown_pct_1khz"),
            |v| v <= 3.0,
        ),
        t(
            "10,000 processes at 20 Hz below 5 % of one CPU",
            g("sampler_cpu_pct_n10000_20hz"),
            |v| v < 5.0,
        ),
        t(
            "zero lost records in follow mode at 1 kHz",
            g("follow_lost_records_1khz"),
            |v| v == 0.0,
        ),
        t(
            "in instructions: module >= 100x cheaper per process than /proc (N = 1000)",
            g("icount_ratio_procfs_to_sampler_n1000"),
            |v| v >= 100.0,
        ),
        t(
            "in instructions: a tick's fixed cost <= 3 x one process's share",
            g("icount_tick_fixed_to_process_ratio"),
            |v| v <= 3.0,
        ),
        t(
            "in instructions: p99 period jitter <= 200 us at 1 kHz",
            g("icount_period_jitter_p99_us_1khz"),
            |v| v <= 200.0,
        ),
    ]
}

fn render_targets(r: &BTreeMap<String, f64>) -> String {
    let mut s = String::from("| target | figure | met |\n|---|---:|---|\n");
    for (what, v, ok) in targets(r) {
        let verdict = match (v, ok) {
            (None, _) => "not measured",
            (_, true) => "met",
            (_, false) => "missed",
        };
        s.push_str(&format!("| {what} | {} | {verdict} |\n", num(v)));
    }
    s
}

/// The prefix of the figures measured under instruction counting.
pub const ICOUNT_PREFIX: &str = "icount_";

/// Runs the bench in the VM, then its cost and period phases again under
/// instruction counting; returns the results of both, the second's keys
/// prefixed with [`ICOUNT_PREFIX`]. `target/bench/results.json` gets them
/// all.
fn run_bench(quick: bool) -> Result<BTreeMap<String, f64>> {
    let bin = util::build_guest_binaries(true)?;
    let dir = paths::repo().join("target").join("bench");
    let out = dir.join("results.json");
    let _ = fs::remove_file(&out);
    let lab = paths::lab_target().join("bench");
    fs::create_dir_all(&lab)?;
    let quick_name = |name: &str| {
        if quick {
            format!("{name}-quick.log")
        } else {
            format!("{name}.log")
        }
    };
    let bench = |out: &Path, extra: &[&str]| {
        let mut cmd = vec![bin.join("pfprof-bench").to_string_lossy().into_owned()];
        if quick {
            cmd.push("--quick".into());
        }
        cmd.extend([
            "--bin".into(),
            bin.to_string_lossy().into_owned(),
            "--out".into(),
            out.to_string_lossy().into_owned(),
        ]);
        cmd.extend(extra.iter().map(|a| (*a).to_owned()));
        cmd
    };
    let args = VmArgs {
        debug: false,
        load: true,
        cpus: 2,
        mem: 4096,
        swap: None,
        timeout: if quick { 900 } else { 3600 },
        accel: Accel::Auto,
        kernel_log: Some(lab.join(quick_name("kernel"))),
        cmd: bench(&out, &[]),
    };
    lab::run(&args, false, "pfprof-bench")?;
    let mut r = read_results(&out)?;

    let icount_out = dir.join("results-icount.json");
    let _ = fs::remove_file(&icount_out);
    let args = VmArgs {
        cpus: 1,
        accel: Accel::Icount,
        timeout: if quick { 900 } else { 1800 },
        kernel_log: Some(lab.join(quick_name("kernel-icount"))),
        cmd: bench(&icount_out, &["--only", "cost,period", "--ns", "1,1000"]),
        ..args
    };
    lab::run(&args, false, "pfprof-bench (icount)")?;
    for (k, v) in read_results(&icount_out)? {
        r.insert(format!("{ICOUNT_PREFIX}{k}"), v);
    }
    fs::write(&out, results_json(&r)?)?;
    Ok(r)
}

/// `results` as the flat JSON object pfprof-bench writes (NaN as null).
fn results_json(r: &BTreeMap<String, f64>) -> Result<String> {
    let m: BTreeMap<&str, Option<f64>> = r
        .iter()
        .map(|(k, v)| (k.as_str(), v.is_finite().then_some(*v)))
        .collect();
    let mut s = serde_json::to_string_pretty(&m).map_err(|e| err!("results.json: {e}"))?;
    s.push('\n');
    Ok(s)
}

fn read_results(path: &Path) -> Result<BTreeMap<String, f64>> {
    let text = fs::read_to_string(path).map_err(|e| err!("cannot read {}: {e}", path.display()))?;
    parse_results(&text)
}

/// `cargo xtask bench`.
pub fn main(args: &BenchArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let r = run_bench(args.quick)?;
    println!("\n{}", table(&r));
    println!("{}", render_targets(&r));
    println!(
        "bench{}: {:.0} s wall time; results in target/bench/results.json",
        if args.quick { " --quick" } else { "" },
        started.elapsed().as_secs_f64()
    );
    let missing = missing_keys(&r);
    if !missing.is_empty() {
        return Err(err!("results.json lacks finite values for {missing:?}"));
    }
    Ok(ExitCode::SUCCESS)
}

/// The quick bench as a test stage: passes when it runs and the JSON has
/// every required key with a finite number (speed is never asserted).
pub(crate) fn quick_check() -> (u32, u32, Option<String>) {
    match run_bench(true) {
        Err(e) => (0, 1, Some(e.0)),
        Ok(r) => {
            println!("\n{}", table(&r));
            let missing = missing_keys(&r);
            let passed = u32::try_from(REQUIRED_KEYS.len() - missing.len()).unwrap_or(0);
            let failed = u32::try_from(missing.len()).unwrap_or(u32::MAX);
            let problem = (!missing.is_empty())
                .then(|| format!("results.json lacks finite values for {missing:?}"));
            (passed, failed, problem)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = "{\n  \"a\": 1.5,\n  \"follow_lost_records_1khz\": 0,\n  \"b\": null\n}\n";

    #[test]
    fn results_parse_and_missing_keys_are_named() {
        let r = parse_results(JSON).unwrap();
        assert_eq!(r["a"], 1.5);
        assert!(r["b"].is_nan());
        let m = missing_keys(&r);
        assert_eq!(m.len(), REQUIRED_KEYS.len() - 1);
        assert!(!m.contains(&"follow_lost_records_1khz"));
        assert!(parse_results("[1]").is_err());
        assert!(parse_results("{\"a\": x}").is_err());
    }

    #[test]
    fn targets_are_judged_and_the_table_renders() {
        let mut r = parse_results(JSON).unwrap();
        r.insert("ratio_procfs_to_sampler_n1000".into(), 80.0);
        r.insert("work_slowdown_pct_1khz".into(), 4.0);
        let t = targets(&r);
        assert!(t[0].2);
        assert!(!t[1].2, "80x is not 100x");
        assert!(!t[8].2);
        assert!(t[10].2);
        assert_eq!(t[9].1, None);
        assert_eq!(t[11].1, None, "no icount figure: not measured");
        let text = render_targets(&r);
        assert!(text.contains("| zero lost records in follow mode at 1 kHz | 0.0000 | met |"));
        assert!(table(&r).contains("| slowdown at 1 kHz (%) | 4.00 |"));
    }
}
