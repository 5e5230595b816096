//! `cargo xtask stress`: the long reliability runs, on the debug kernel by
//! default (lockdep, KASAN, kmemleak, ...). In one VM boot: the fuzzer
//! (`fuzz --ops N`), churn (`churn --procs N --reload`), races (`races
//! --seconds S`) and load/unload cycles with a kmemleak scan (`leakcycles
//! --cycles N`), all from vmtests/src/bin/. kmemleak's suspects are cleared
//! before the first part, so the final scan covers the whole run. Prints the figures: operations
//! fuzzed, processes churned, races run, splats, leaks. Fails if any part
//! fails, or the kernel log shows a splat.

use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Args;

use crate::err;
use crate::lab;
use crate::paths;
use crate::util::{self, fmt_duration, Result};
use crate::vm::{self, Accel, VmArgs};

/// `cargo xtask stress`.
#[derive(Debug, Clone, Args)]
pub struct StressArgs {
    /// Fuzzer operations.
    #[arg(long, default_value_t = 1_000_000)]
    pub ops: u64,
    /// Fuzzer processes.
    #[arg(long, default_value_t = 4)]
    pub procs: u64,
    /// Fuzzer seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Short-lived processes to churn.
    #[arg(long, default_value_t = 10_000)]
    pub churn: u64,
    /// Seconds of races.
    #[arg(long, default_value_t = 120)]
    pub races_seconds: u64,
    /// Load / register / sample / unregister / unload cycles before the
    /// kmemleak scan.
    #[arg(long, default_value_t = 100)]
    pub cycles: u64,
    /// Run on the release kernel instead of the debug one.
    #[arg(long)]
    pub release: bool,
    /// Kill the guest after this many seconds.
    #[arg(long, default_value_t = 4 * 3600)]
    pub timeout: u64,
    /// Where to save the kernel log [default: target/lab/<flavour>/stress-kernel.log].
    #[arg(long)]
    pub kernel_log: Option<std::path::PathBuf>,
}

/// The `key=value` figure of a summary line that starts with `prefix`.
fn figure(stdout: &str, prefix: &str, key: &str) -> Option<u64> {
    stdout
        .lines()
        .filter(|l| l.starts_with(prefix))
        .flat_map(|l| l.split_whitespace())
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// `cargo xtask stress`.
pub fn main(args: &StressArgs) -> Result<ExitCode> {
    let repo = paths::repo();
    util::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&repo)
            .args(["build", "--quiet", "-p", "vmtests", "--bins"]),
    )?;
    let bin = repo.join("target").join("debug");
    let b = bin.display();
    let script = format!(
        "rc=0\n\
         kmemleak=/sys/kernel/debug/kmemleak\n\
         if [ -e $kmemleak ]; then echo clear > $kmemleak; fi\n\
         echo '== fuzz' >&2; {b}/fuzz --seed {seed} --procs {procs} --ops {ops} || rc=1\n\
         echo '== churn' >&2; {b}/churn --procs {churn} --reload || rc=1\n\
         echo '== races' >&2; {b}/races --seconds {races} || rc=1\n\
         echo '== leakcycles' >&2; {b}/leakcycles --cycles {cycles} --no-clear || rc=1\n\
         exit $rc\n",
        seed = args.seed,
        procs = args.procs,
        ops = args.ops,
        churn = args.churn,
        races = args.races_seconds,
        cycles = args.cycles,
    );
    let flavour = if args.release { "release" } else { "debug" };
    let kernel_log = args
        .kernel_log
        .clone()
        .unwrap_or_else(|| paths::lab_target().join(flavour).join("stress-kernel.log"));
    let vm_args = VmArgs {
        debug: !args.release,
        load: true,
        cpus: 2,
        mem: 2048,
        swap: None,
        timeout: args.timeout,
        accel: Accel::Auto,
        kernel_log: Some(kernel_log),
        cmd: vec!["sh".into(), "-c".into(), script],
    };
    let started = Instant::now();
    let outcome = vm::run(&vm_args, true)?;
    let out = &outcome.stdout;
    let show = |v: Option<u64>| v.map_or("?".to_owned(), |n| n.to_string());
    let leaks = figure(out, "leakcycles:", "leaks");
    println!(
        "stress figures ({flavour} kernel, {}):",
        fmt_duration(started.elapsed())
    );
    // (label, summary line prefix, key) of each figure the parts print.
    let figures = [
        ("operations fuzzed", "fuzz:", "ops"),
        ("fuzz violations", "fuzz:", "violations"),
        ("fuzz worker crashes", "fuzz:", "crashes"),
        ("processes churned", "churn:", "procs"),
        ("race operations", "races:", "ops"),
        ("rmmod attempts", "races:", "rmmod_attempts"),
        ("race errors", "races:", "errors"),
        ("load/unload cycles", "leakcycles:", "cycles"),
    ];
    for (label, prefix, key) in figures {
        println!("  {label:20} {}", show(figure(out, prefix, key)));
    }
    println!("  splats               {}", outcome.splats.len());
    println!("  leaks                {}", show(leaks));
    lab::check(&outcome, "stress")?;
    if leaks != Some(0) {
        return Err(err!("stress: kmemleak reports {} leak(s)", show(leaks)));
    }
    Ok(ExitCode::SUCCESS)
}
