//! `cargo xtask case-study 1|2`: the classic case studies, reproduced in the
//! lab VM and drawn with pfprof-profile's charts (pfprof-plot's).
//!
//! The VM is set up like the seed's machine (2 CPUs, 4 GiB RAM, 2 GiB swap).
//! A shell script written under `target/lab/case-study/` runs each workload
//! with the seed's command line, then saves the classic profile
//! (`monitor --header > NAME.dat`) and the per-process recording
//! (`monitor --header --per-process --format csv > NAME.ext.dat`, with the
//! memory at each sample) of that run into
//! `OUT/data/`. Back on the host, the profiles are analysed
//! (pfprof_profile::analysis), the charts drawn into `OUT/plots/` (PNG for the
//! README, SVG beside), a summary table printed, and the results checked.
//!
//! - Case study 1: `nice work 1024 R 50000 & nice work 1024 R 10000`, then
//!   the same with L; accumulated faults per pair and R against L.
//! - Case study 2: N = 1, 5, 11, 16 (and, in the full run, 20 and 22 as
//!   later years of the course) concurrent `work 200 R 10000`; total
//!   CPU utilization against N, and beside it the peak of the summed
//!   resident memory and swap (from the per-process recording, CSV with
//!   the memory at each sample) against the VM's RAM (its MemTotal, which
//!   the script saves in `machine.txt`).
//!
//! `--quick` scales the sizes down (MiB, accesses, iterations, sleep) so CI
//! runs both studies in a few minutes.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use pfprof_profile::analysis::{self, ProfileSummary};
use pfprof_profile::chart::{self, Chart, NPoint, Series};
use pfprof_profile::Profile;

use crate::err;
use crate::lab;
use crate::paths;
use crate::util::{self, Result};
use crate::vm::{Accel, VmArgs};

/// The two studies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Study {
    /// Case study 1: thrashing and locality (R pair against L pair).
    #[value(name = "1")]
    One,
    /// Case study 2: multiprogramming (utilization against N).
    #[value(name = "2")]
    Two,
}

impl Study {
    fn number(self) -> u32 {
        match self {
            Study::One => 1,
            Study::Two => 2,
        }
    }
}

/// `cargo xtask case-study`.
#[derive(Debug, Clone, Args)]
pub struct CaseStudyArgs {
    /// Which study
    #[arg(value_enum)]
    pub study: Study,
    /// Scaled-down sizes, for CI (a few minutes instead of the full run)
    #[arg(long)]
    pub quick: bool,
    /// Where the data/ and plots/ directories go (inside the repository:
    /// the VM writes there) [default: target/case-study, or
    /// target/case-study-quick with --quick]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not run the VM: analyse and draw the profiles already in DIR/data
    /// (e.g. the committed ones: `--out docs --replot`)
    #[arg(long)]
    pub replot: bool,
}

/// The degrees of multiprogramming of case study 2, as the seed's.
pub const STUDY2_N: &[u32] = &[1, 5, 11, 16];

/// The full run adds the N that later years of the course used, where
/// 200 MiB each no longer fits in the seed machine's 4 GiB and it thrashes.
pub const STUDY2_N_FULL: &[u32] = &[1, 5, 11, 16, 20, 22];

/// The degrees of multiprogramming of one run of case study 2.
fn study2_n(quick: bool) -> &'static [u32] {
    if quick {
        STUDY2_N
    } else {
        STUDY2_N_FULL
    }
}

/// CPUs, memory and swap of the seed's machine, in MiB.
const CPUS: u32 = 2;
const MEM_MIB: u64 = 4096;
const SWAP_MIB: u64 = 2048;

/// One run: a name for its files, a label, and the `work` command lines
/// started together (arguments after the `work` binary; `nice` first when
/// the seed's command has it).
#[derive(Debug, Clone, PartialEq)]
struct Run {
    name: String,
    label: String,
    /// The seed's command, for messages and the README.
    shown: String,
    procs: Vec<(bool, String)>,
}

/// Extra `work` options of the quick runs.
const QUICK_OPTS: &str = "--iterations 5 --sleep-ms 200";

fn runs(study: Study, quick: bool) -> Vec<Run> {
    let opts = if quick {
        format!(" {QUICK_OPTS}")
    } else {
        String::new()
    };
    match study {
        Study::One => {
            let (mb, big, small) = if quick {
                (128, 5000, 1000)
            } else {
                (1024, 50000, 10000)
            };
            ["R", "L"]
                .iter()
                .map(|mode| Run {
                    name: format!("case_study_1_{}_pair", mode.to_lowercase()),
                    label: format!("{mode} pair"),
                    shown: format!(
                        "nice work {mb} {mode} {big}{opts} & nice work {mb} {mode} {small}{opts}"
                    ),
                    procs: vec![
                        (true, format!("{mb} {mode} {big}{opts}")),
                        (true, format!("{mb} {mode} {small}{opts}")),
                    ],
                })
                .collect()
        }
        Study::Two => {
            let (mb, acc, _) = study2_sizes(quick);
            study2_n(quick)
                .iter()
                .map(|&n| Run {
                    name: format!("case_study_2_n{n:02}"),
                    label: format!("N={n}"),
                    shown: format!("{n} x work {mb} R {acc}{opts}"),
                    procs: (0..n)
                        .map(|_| (false, format!("{mb} R {acc}{opts}")))
                        .collect(),
                })
                .collect()
        }
    }
}

/// The guest script: each run, then its profiles saved to `data`.
fn script(study: Study, runs: &[Run], bin: &Path, data: &Path) -> String {
    let q = |p: &Path| util::shell_quote(&p.to_string_lossy());
    let mut s = String::new();
    let _ = writeln!(s, "set -u\nB={}\nD={}\nmkdir -p \"$D\"", q(bin), q(data));
    let _ = writeln!(
        s,
        "{{ uname -r; echo \"cpus $(nproc)\"; free -m; grep -E '^(MemTotal|SwapTotal):' /proc/meminfo; \"$B/pfprof\" status; }} > \"$D/machine.txt\" 2>&1"
    );
    let total = runs.len();
    for (i, r) in runs.iter().enumerate() {
        let tag = format!(
            "[case study {}] {}/{total} {}",
            study.number(),
            i + 1,
            r.label
        );
        let _ = writeln!(
            s,
            "echo {} >&2",
            util::shell_quote(&format!("{tag}: {}", r.shown))
        );
        let _ = writeln!(s, "\"$B/pfprof\" reset || exit 1");
        let _ = writeln!(s, "t0=$(date +%s%N); pids=''");
        for (nice, args) in &r.procs {
            let nice = if *nice { "nice " } else { "" };
            let _ = writeln!(
                s,
                "{nice}\"$B/work\" {args} 2>>\"$D/{}.work.log\" & pids=\"$pids $!\"",
                r.name
            );
        }
        let _ = writeln!(
            s,
            "rc=0; for p in $pids; do wait $p || rc=1; done\n\
             [ $rc = 0 ] || {{ echo 'a work process failed' >&2; cat \"$D/{n}.work.log\" >&2; exit 1; }}\n\
             t1=$(date +%s%N)\n\
             \"$B/monitor\" --header > \"$D/{n}.dat\" 2> \"$D/{n}.monitor.log\" || exit 1\n\
             \"$B/monitor\" --header --per-process --format csv > \"$D/{n}.ext.dat\" 2>> \"$D/{n}.monitor.log\" || exit 1\n\
             echo \"{tag}: done in $(( (t1 - t0) / 1000000 )) ms; $(head -1 \"$D/{n}.monitor.log\")\" >&2",
            n = r.name
        );
    }
    s
}

/// Where the files go; the directory must be inside the repository.
fn out_dir(args: &CaseStudyArgs, default: &str) -> Result<PathBuf> {
    let repo = paths::repo();
    let out = match &args.out {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => std::env::current_dir()?.join(p),
        None => repo.join("target").join(default),
    };
    fs::create_dir_all(&out)?;
    let out = out.canonicalize()?;
    let repo = repo.canonicalize()?;
    if !out.starts_with(&repo) {
        return Err(err!(
            "--out {}: must be inside the repository ({}), which the VM can write",
            out.display(),
            repo.display()
        ));
    }
    Ok(out)
}

/// Runs a study's workloads in the lab VM, writing profiles to `data`.
fn run_in_vm(study: Study, quick: bool, runs: &[Run], data: &Path) -> Result<()> {
    let bin = util::build_guest_binaries(!quick)?;
    let lab = paths::lab_target().join("case-study");
    fs::create_dir_all(&lab)?;
    fs::create_dir_all(data)?;
    let script_path = lab.join(format!("case-study-{}.sh", study.number()));
    fs::write(&script_path, script(study, runs, &bin, data))?;
    let args = VmArgs {
        debug: false,
        load: true,
        cpus: CPUS,
        mem: MEM_MIB,
        swap: Some(SWAP_MIB),
        timeout: if quick { 600 } else { 5400 },
        accel: Accel::Auto,
        kernel_log: Some(lab.join(format!("kernel-{}.log", study.number()))),
        cmd: vec!["sh".into(), script_path.to_string_lossy().into_owned()],
    };
    lab::run(&args, false, "the case-study script")?;
    Ok(())
}

/// The VM's RAM in MiB: `MemTotal` of the `/proc/meminfo` lines the
/// script saves in `machine.txt`.
fn mem_total_mib(data: &Path) -> Result<f64> {
    let path = data.join("machine.txt");
    let text = fs::read_to_string(&path).map_err(|e| err!("{}: {e}", path.display()))?;
    parse_mem_total_mib(&text).ok_or_else(|| {
        err!(
            "{}: no `MemTotal: N kB` line (recorded before the script saved /proc/meminfo: \
             run the study again)",
            path.display()
        )
    })
}

fn parse_mem_total_mib(text: &str) -> Option<f64> {
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb as f64 / 1024.0)
}

/// The pages of `mib` MiB that `writes` random one-byte writes reach, in
/// MiB: pages × (1 − e^(−writes/pages)).
fn expected_touched_mib(mib: u64, writes: u64) -> f64 {
    let pages = (mib * 256) as f64;
    mib as f64 * (1.0 - (-(writes as f64) / pages).exp())
}

/// A profile with the HZ it states (never assumed).
#[derive(Debug, Clone)]
struct Loaded {
    classic: Profile,
    per_process: Profile,
    hz: u32,
}

fn load_run(data: &Path, run: &Run) -> Result<Loaded> {
    let read = |suffix: &str| {
        let path = data.join(format!("{}{suffix}", run.name));
        Profile::read(&path).map_err(|e| err!("{e}"))
    };
    let classic = read(".dat")?;
    let per_process = read(".ext.dat")?;
    let hz = classic
        .hz_or(None, &format!("{}.dat", run.name))
        .map_err(|e| err!("{e}"))?;
    if classic.samples.is_empty() {
        return Err(err!("{}.dat has no samples", run.name));
    }
    Ok(Loaded {
        classic,
        per_process,
        hz,
    })
}

/// What a study produced, for the table and the checks.
#[derive(Debug, Default)]
pub struct Report {
    /// One row per run.
    pub summaries: Vec<ProfileSummary>,
    /// Every image written.
    pub images: Vec<PathBuf>,
    /// Named checks and their results.
    pub checks: Vec<(String, std::result::Result<(), String>)>,
}

impl Report {
    fn check(&mut self, what: impl Into<String>, ok: bool, detail: impl FnOnce() -> String) {
        self.checks
            .push((what.into(), if ok { Ok(()) } else { Err(detail()) }));
    }
}

fn save(report: &mut Report, plots: &Path, name: &str, chart: &Chart) -> Result<()> {
    save_sized(report, plots, name, chart, chart::DEFAULT_SIZE)
}

/// Size of the charts with two panels.
const TWO_PANELS: (u32, u32) = (1024, 900);

fn save_sized(
    report: &mut Report,
    plots: &Path,
    name: &str,
    chart: &Chart,
    size: (u32, u32),
) -> Result<()> {
    for ext in ["png", "svg"] {
        let path = plots.join(format!("{name}.{ext}"));
        chart.save(&path, size).map_err(|e| err!("{e}"))?;
        report.images.push(path);
    }
    Ok(())
}

fn per_pid_series(label: &str, l: &Loaded) -> Vec<Series> {
    analysis::accumulated_by_pid(&l.per_process.records, l.hz)
        .iter()
        .map(|(pid, points)| chart::series_of(format!("{label}: pid {pid}"), points))
        .collect()
}

/// Case study 1's charts and checks.
fn analyse_one(runs: &[Run], data: &Path, plots: &Path, quick: bool) -> Result<Report> {
    let mut report = Report::default();
    let mut totals = Vec::new();
    let size = if quick { "128 MiB" } else { "1024 MiB" };
    for run in runs {
        let l = load_run(data, run)?;
        let samples = l.classic.totals();
        let acc = analysis::accumulated_faults(&samples, l.hz);
        // A running sum of counts rises whatever the module wrote; what can
        // fail is the time axis (samples out of order) or an empty profile,
        // which would pass vacuously.
        report.check(
            format!(
                "{}: the accumulated fault curve has samples and is monotonic",
                run.label
            ),
            acc.len() >= 2 && analysis::is_monotonic(&acc),
            || format!("{} points, or it decreases somewhere", acc.len()),
        );
        for (pid, points) in analysis::accumulated_by_pid(&l.per_process.records, l.hz) {
            report.check(
                format!(
                    "{}: pid {pid}'s accumulated fault curve is monotonic",
                    run.label
                ),
                analysis::is_monotonic(&points),
                || "it decreases somewhere".into(),
            );
        }
        let mut series = vec![chart::series_of(
            format!("{}: both processes (classic profile)", run.label),
            &acc,
        )];
        series.extend(per_pid_series(&run.label, &l));
        let mode = if run.label.starts_with('R') {
            "random"
        } else {
            "local"
        };
        save(
            &mut report,
            plots,
            &run.name,
            &Chart::Accumulated {
                title: format!("Case study 1: {} ({mode} access, 2 x {size})", run.label),
                series,
            },
        )?;
        if !l.per_process.records.is_empty() {
            let name = run.name.replace("case_study_1_", "case_study_1_rates_");
            save(
                &mut report,
                plots,
                &name,
                &chart::rates_of(
                    &format!("Case study 1: page-fault rate per process, {}", run.label),
                    &l.per_process,
                    l.hz,
                ),
            )?;
        }
        report
            .summaries
            .push(ProfileSummary::of(&run.label, &samples, l.hz));
        totals.push(chart::series_of(run.label.as_str(), &acc));
    }
    save(
        &mut report,
        plots,
        "case_study_1_compare",
        &Chart::Accumulated {
            title: format!("Case study 1: R pair against L pair (2 x {size} each)"),
            series: totals,
        },
    )?;
    let faults = |label: &str| {
        report
            .summaries
            .iter()
            .find(|s| s.name == label)
            .map(ProfileSummary::faults)
    };
    let (r, l) = (faults("R pair"), faults("L pair"));
    report.check(
        "the R pair faults more than the L pair",
        matches!((r, l), (Some(r), Some(l)) if r > l),
        || format!("R pair {r:?} faults, L pair {l:?}"),
    );
    Ok(report)
}

/// Case study 2's sizes: (MiB per process, accesses per iteration,
/// iterations).
fn study2_sizes(quick: bool) -> (u64, u64, u64) {
    if quick {
        (32, 2000, 5)
    } else {
        (200, 10000, 20)
    }
}

/// Case study 2's charts and checks.
fn analyse_two(runs: &[Run], data: &Path, plots: &Path, quick: bool) -> Result<Report> {
    let mut report = Report::default();
    let mut points = Vec::new();
    let mut memory = Vec::new();
    let mut accumulated = Vec::new();
    let ram_mib = mem_total_mib(data)?;
    let (mb, acc, iterations) = study2_sizes(quick);
    let mut largest = None;
    for (run, &n) in runs.iter().zip(study2_n(quick)) {
        let l = load_run(data, run)?;
        let samples = l.classic.totals();
        let s = ProfileSummary::of(&run.label, &samples, l.hz).with_memory(&l.per_process.records);
        if let Some(u) = s.utilization {
            points.push((n, u * 100.0));
        }
        match s.memory {
            Some(m) => memory.push((n, s.utilization.map(|u| u * 100.0), m)),
            None => report.check(
                format!("{}: the per-process recording carries memory", run.label),
                false,
                || format!("{}.ext.dat has no memory columns", run.name),
            ),
        }
        accumulated.push(chart::series_of(
            run.label.as_str(),
            &analysis::accumulated_faults(&samples, l.hz),
        ));
        report.summaries.push(s);
        largest = Some((n, l));
    }
    let want: Vec<u32> = study2_n(quick).to_vec();
    let got: Vec<u32> = points.iter().map(|p| p.0).collect();
    report.check(
        "case study 2 has one utilization point per N",
        got == want,
        || format!("points for N = {got:?}, expected {want:?}"),
    );
    let got: Vec<u32> = memory.iter().map(|p| p.0).collect();
    report.check(
        "case study 2 has one memory point per N",
        got == want,
        || format!("memory for N = {got:?}, expected {want:?}"),
    );
    let mib = |b: u64| analysis::mib(b);
    report.check(
        "the peak of the summed RSS + swap grows with N",
        memory
            .windows(2)
            .all(|w| w[1].2.rss_swap_bytes > w[0].2.rss_swap_bytes),
        || {
            let peaks: Vec<_> = memory
                .iter()
                .map(|(n, _, m)| format!("N={n}: {:.0} MiB", mib(m.rss_swap_bytes)))
                .collect();
            peaks.join(", ")
        },
    );
    // What the random writes reach: each process's pages, summed.
    let touched = expected_touched_mib(mb, acc * iterations);
    for (n, _, m) in &memory {
        let want = 0.75 * f64::from(*n) * touched;
        report.check(
            format!(
                "N={n}: the peak of RSS + swap is at least 3/4 of the {:.0} MiB the writes reach",
                f64::from(*n) * touched
            ),
            mib(m.rss_swap_bytes) >= want,
            || format!("{:.0} MiB", mib(m.rss_swap_bytes)),
        );
        report.check(
            format!("N={n}: the peak of the summed RSS is within the RAM ({ram_mib:.0} MiB)"),
            mib(m.rss_bytes) <= ram_mib,
            || format!("{:.0} MiB", mib(m.rss_bytes)),
        );
    }
    save(
        &mut report,
        plots,
        "case_study_2_utilization",
        &Chart::Utilization {
            title: format!("Case study 2: N concurrent work {mb} R {acc}"),
            points,
            cpus: Some(CPUS),
        },
    )?;
    save(
        &mut report,
        plots,
        "case_study_2_faults",
        &Chart::Accumulated {
            title: format!("Case study 2: accumulated faults, N x work {mb} R {acc}"),
            series: accumulated,
        },
    )?;
    save_sized(
        &mut report,
        plots,
        "case_study_2_memory",
        &Chart::UtilizationMemory {
            title: format!("Case study 2: utilization and memory, N x work {mb} R {acc}"),
            points: memory
                .iter()
                .filter_map(|&(n, u, m)| {
                    Some(NPoint {
                        n,
                        utilization: u?,
                        rss_mib: mib(m.rss_bytes),
                        swap_mib: mib(m.swap_bytes),
                        rss_swap_mib: mib(m.rss_swap_bytes),
                    })
                })
                .collect(),
            cpus: Some(CPUS),
            ram_mib: Some(ram_mib),
        },
        TWO_PANELS,
    )?;
    if let Some((n, l)) = &largest {
        let title = format!("Case study 2: memory and major faults, N={n}");
        if let Some(c) = chart::memory_of(&title, &l.per_process, l.hz, Some(ram_mib)) {
            save(
                &mut report,
                plots,
                &format!("case_study_2_memory_n{n:02}"),
                &c,
            )?;
        }
    }
    let json = study2_json(&report.summaries, study2_n(quick), ram_mib);
    fs::write(
        data.join("case_study_2_summary.json"),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&json).map_err(|e| err!("{e}"))?
        ),
    )?;
    Ok(report)
}

/// The figures of case study 2 per N, for scripts: the summary table's,
/// with the memory peaks in bytes and the RAM.
fn study2_json(summaries: &[ProfileSummary], ns: &[u32], ram_mib: f64) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = summaries
        .iter()
        .zip(ns)
        .map(|(s, n)| {
            let m = s.memory.unwrap_or_default();
            serde_json::json!({
                "n": n,
                "samples": s.samples,
                "minor_faults": s.counters.minor,
                "major_faults": s.counters.major,
                "completion_s": (s.completion_s * 1000.0).round() / 1000.0,
                "utilization_pct": s.utilization.map(|u| (u * 1000.0).round() / 10.0),
                "peak_rss_bytes": s.memory.map(|_| m.rss_bytes),
                "peak_swap_bytes": s.memory.map(|_| m.swap_bytes),
                "peak_rss_swap_bytes": s.memory.map(|_| m.rss_swap_bytes),
            })
        })
        .collect();
    serde_json::json!({
        "ram_bytes": (ram_mib * 1024.0 * 1024.0).round() as u64,
        "runs": runs,
    })
}

/// Runs a study end to end; returns the report (checks not yet judged).
fn study(study: Study, quick: bool, out: &Path, replot: bool) -> Result<Report> {
    let runs = runs(study, quick);
    let data = out.join("data");
    let plots = out.join("plots");
    let started = Instant::now();
    eprintln!(
        "case study {}{}: {} runs in the lab VM ({CPUS} CPUs, {} GiB RAM, {} GiB swap)",
        study.number(),
        if quick { " (quick)" } else { "" },
        runs.len(),
        MEM_MIB / 1024,
        SWAP_MIB / 1024
    );
    if !replot {
        run_in_vm(study, quick, &runs, &data)?;
    }
    let vm_time = started.elapsed();
    fs::create_dir_all(&plots)?;
    let mut report = match study {
        Study::One => analyse_one(&runs, &data, &plots, quick)?,
        Study::Two => analyse_two(&runs, &data, &plots, quick)?,
    };
    for img in &report.images {
        let r = chart::check_image(img);
        report.checks.push((
            format!(
                "{} is a valid image",
                img.file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default()
            ),
            r,
        ));
    }
    let mut table = Vec::new();
    analysis::render_summary(&mut table, &report.summaries)?;
    let table = String::from_utf8_lossy(&table).into_owned();
    fs::write(
        data.join(format!("case_study_{}_summary.txt", study.number())),
        &table,
    )?;
    println!("\n{table}");
    for img in report
        .images
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
    {
        println!("plot: {}", img.display());
    }
    println!(
        "case study {}: {} in the VM, {} in all",
        study.number(),
        util::fmt_duration(vm_time),
        util::fmt_duration(started.elapsed())
    );
    Ok(report)
}

/// Prints the checks; returns (passed, failed).
fn print_checks(report: &Report) -> (u32, u32) {
    let (mut passed, mut failed) = (0, 0);
    for (what, res) in &report.checks {
        match res {
            Ok(()) => {
                println!("check: {what} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("check: {what} ... FAILED ({e})");
                failed += 1;
            }
        }
    }
    (passed, failed)
}

/// `cargo xtask case-study 1|2 [--quick] [--out DIR]`.
pub fn main(args: &CaseStudyArgs) -> Result<std::process::ExitCode> {
    let default = if args.quick {
        "case-study-quick"
    } else {
        "case-study"
    };
    let out = out_dir(args, default)?;
    let report = study(args.study, args.quick, &out, args.replot)?;
    let (passed, failed) = print_checks(&report);
    if failed > 0 {
        return Err(err!("{failed} of {} checks failed", passed + failed));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Both studies with `--quick`, for the test pipeline: (checks passed,
/// checks failed, why the stage failed beyond its counts).
pub(crate) fn quick_check() -> (u32, u32, Option<String>) {
    let out = paths::repo().join("target").join("case-study-quick");
    let (mut passed, mut failed) = (0, 0);
    let mut problems = Vec::new();
    for s in [Study::One, Study::Two] {
        match study(s, true, &out, false) {
            Ok(report) => {
                let (p, f) = print_checks(&report);
                passed += p;
                failed += f;
            }
            Err(e) => problems.push(format!("case study {}: {e}", s.number())),
        }
    }
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    (passed, failed, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_commands_full_and_quick() {
        let one = runs(Study::One, false);
        assert_eq!(
            one.iter().map(|r| r.shown.as_str()).collect::<Vec<_>>(),
            [
                "nice work 1024 R 50000 & nice work 1024 R 10000",
                "nice work 1024 L 50000 & nice work 1024 L 10000"
            ]
        );
        let two = runs(Study::Two, false);
        assert_eq!(
            two.iter().map(|r| r.procs.len()).collect::<Vec<_>>(),
            [1, 5, 11, 16, 20, 22]
        );
        assert_eq!(runs(Study::Two, true).len(), 4, "quick: the seed's N only");
        assert!(two.iter().all(|r| r
            .procs
            .iter()
            .all(|p| p == &(false, "200 R 10000".to_owned()))));
        let quick = runs(Study::One, true);
        assert!(quick[0].procs[0].1.ends_with(QUICK_OPTS));
    }

    #[test]
    fn the_script_runs_each_workload_then_saves_its_profiles() {
        let r = runs(Study::One, false);
        let s = script(Study::One, &r, Path::new("/b"), Path::new("/d x"));
        assert!(s.starts_with("set -u\nB=/b\nD='/d x'\n"));
        assert!(s.contains(
            "nice \"$B/work\" 1024 R 50000 2>>\"$D/case_study_1_r_pair.work.log\" & pids=\"$pids $!\""
        ));
        assert!(s.contains("\"$B/monitor\" --header > \"$D/case_study_1_l_pair.dat\""));
        assert!(s.contains("--per-process --format csv > \"$D/case_study_1_r_pair.ext.dat\""));
        assert_eq!(s.matches("\"$B/pfprof\" reset").count(), 2);
        let two = script(
            Study::Two,
            &runs(Study::Two, true),
            Path::new("/b"),
            Path::new("/d"),
        );
        assert_eq!(
            two.matches("\"$B/work\" 32 R 2000").count(),
            1 + 5 + 11 + 16
        );
        // The recording carries the memory; the RAM is saved beside it.
        assert_eq!(
            two.matches("--per-process --format csv > \"$D/case_study_2_n")
                .count(),
            4
        );
        assert!(two.contains("grep -E '^(MemTotal|SwapTotal):' /proc/meminfo;"));
    }

    #[test]
    fn the_ram_comes_from_meminfo() {
        let machine = "6.12.117\ncpus 2\nMem:   3948  40\nMemTotal:        4043620 kB\n\
                       SwapTotal:       2097148 kB\nstate: idle\n";
        assert_eq!(parse_mem_total_mib(machine), Some(4043620.0 / 1024.0));
        assert_eq!(parse_mem_total_mib("Mem: 3948\n"), None);
        assert_eq!(parse_mem_total_mib("MemTotal: lots\n"), None);
    }

    #[test]
    fn the_pages_random_writes_reach() {
        // The docs' figure: 51,200 pages, 200,000 writes: 50,170 pages.
        let mib = expected_touched_mib(200, 200_000);
        assert!((mib * 256.0 - 50_170.0).abs() < 1.0, "{}", mib * 256.0);
        assert_eq!(expected_touched_mib(32, 0), 0.0);
    }

    #[test]
    fn the_json_has_a_run_per_n_with_its_memory() {
        let p = Profile::parse("0 10 2 500000000\n1000 5 1 500000000\n".as_bytes()).unwrap();
        let samples = p.totals();
        let mut with = ProfileSummary::of("N=22", &samples, 1000);
        with.memory = Some(analysis::MemoryPeaks {
            rss_bytes: 3 << 30,
            swap_bytes: 1 << 30,
            rss_swap_bytes: 4 << 30,
        });
        let without = ProfileSummary::of("N=1", &samples, 1000);
        let json = study2_json(&[without, with], &[1, 22], 3948.5);
        assert_eq!(json["ram_bytes"], 3948.5 * 1024.0 * 1024.0);
        assert_eq!(json["runs"][0]["n"], 1);
        assert!(json["runs"][0]["peak_rss_bytes"].is_null());
        let r = &json["runs"][1];
        assert_eq!(r["n"], 22);
        assert_eq!(r["major_faults"], 3);
        assert_eq!(r["utilization_pct"], 100.0);
        assert_eq!(r["peak_rss_bytes"], 3u64 << 30);
        assert_eq!(r["peak_swap_bytes"], 1u64 << 30);
        assert_eq!(r["peak_rss_swap_bytes"], 4u64 << 30);
    }
}
