//! `cargo xtask test`: every test stage in order, with a count per stage:
//! the format check, clippy, the host unit tests, the module build against
//! both lab kernels (warnings are errors), clippy on the module, self-tests
//! of the lab runner, the in-VM integration suite (vmtests/, built on the
//! host, run in the VM with the module loaded) on the release kernel and
//! then the debug kernel, and the swap stage: the in-VM tests named
//! `with_swap_*`, in a VM with swap and little RAM (the ordinary suite skips
//! them). A stage fails when anything in it fails or it runs nothing; a
//! module suite (in-VM or swap) also fails when any of its tests was
//! ignored.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use crate::err;
use crate::kernel::Flavour;
use crate::kmod;
use crate::paths;
use crate::util::{self, Result};
use crate::vm::{self, Accel, VmArgs};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Skip the stages that need the debug kernel (for quick local
    /// iterations; the full command, as CI runs it, includes them).
    #[arg(long)]
    skip_debug: bool,
}

/// The result of one stage.
#[derive(Debug, Default)]
struct Stage {
    name: String,
    passed: u32,
    failed: u32,
    /// Tests that libtest reported as ignored (skipped).
    ignored: u32,
    /// A module suite: a test skipped there is a check that did not run,
    /// so any ignored test fails the stage.
    module_suite: bool,
    time: Duration,
    /// Why the stage failed, beyond its counts.
    problem: Option<String>,
}

impl Stage {
    fn ok(&self) -> bool {
        self.failed == 0
            && self.passed > 0
            && self.problem.is_none()
            && !(self.module_suite && self.ignored > 0)
    }

    /// The result column of the summary.
    fn verdict(&self) -> &'static str {
        if self.ok() {
            "ok"
        } else if self.passed == 0 && self.failed == 0 && self.problem.is_none() {
            "FAILED (ran nothing)"
        } else if self.failed == 0 && self.problem.is_none() && self.ignored > 0 {
            "FAILED (skipped tests)"
        } else {
            "FAILED"
        }
    }

    /// A stage that failed before it could count anything.
    fn broken(name: &str, started: Instant, problem: String) -> Stage {
        Stage {
            name: name.to_owned(),
            time: started.elapsed(),
            problem: Some(problem),
            ..Stage::default()
        }
    }
}

/// Counts from the `test result:` lines of libtest output.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    passed: u32,
    failed: u32,
    ignored: u32,
    suites: u32,
}

fn parse_libtest(output: &str) -> Counts {
    let mut counts = Counts::default();
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        counts.suites += 1;
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(n), Some(what)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            match what {
                "passed" => counts.passed += n,
                "failed" => counts.failed += n,
                "ignored" => counts.ignored += n,
                _ => {}
            }
        }
    }
    counts
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(paths::repo());
    cmd
}

/// Runs a command that either passes or fails as one check.
fn check(name: &str, cmd: &mut Command) -> Stage {
    let started = Instant::now();
    let res = util::run(cmd);
    Stage {
        name: name.to_owned(),
        passed: u32::from(res.is_ok()),
        failed: u32::from(res.is_err()),
        time: started.elapsed(),
        problem: res.err().map(|e| e.0),
        ..Stage::default()
    }
}

/// Runs a command whose stdout is libtest output, streaming it.
fn libtest(name: &str, cmd: &mut Command) -> Stage {
    let started = Instant::now();
    let mut output = String::new();
    let res = (|| -> Result<std::process::ExitStatus> {
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
                println!("{line}");
                output.push_str(&line);
                output.push('\n');
            }
        }
        Ok(child.wait()?)
    })();
    let counts = parse_libtest(&output);
    let problem = match res {
        Err(e) => Some(format!("cannot run `{}`: {e}", util::describe(cmd))),
        Ok(status) if !status.success() => {
            Some(format!("`{}` failed ({status})", util::describe(cmd)))
        }
        Ok(_) => None,
    };
    Stage {
        name: name.to_owned(),
        passed: counts.passed,
        failed: counts.failed,
        ignored: counts.ignored,
        time: started.elapsed(),
        problem,
        ..Stage::default()
    }
}

/// Builds the in-VM suite's test binaries, and every binary of the
/// workspace they run (tools, examples, helpers), and returns the paths of
/// the test executables.
fn build_vm_suite() -> Result<Vec<PathBuf>> {
    util::run(cargo().args(["build", "--workspace", "--bins", "--quiet"]))?;
    let out = util::output(cargo().args([
        "test",
        "--package",
        "vmtests",
        "--no-run",
        "--quiet",
        "--message-format=json",
    ]))?;
    let bins = test_executables(&out);
    if bins.is_empty() {
        return Err(err!("the in-VM suite built no test binary"));
    }
    Ok(bins)
}

/// The test executables in cargo's JSON messages (not the plain binaries
/// built alongside them).
fn test_executables(json_lines: &str) -> Vec<PathBuf> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        // The profile's "test" flag, not the target's (which only says the
        // target may have tests).
        .filter(|m| m["profile"]["test"] == true)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .collect()
}

/// The test binaries to run on a kernel flavour: everything on the release
/// kernel; on the debug kernel, which is about ten times slower under TCG,
/// the module's own tests (the `tools_*` suites drive the same ioctls
/// through user-space tools, and run on the release kernel).
fn suite_for(flavour: Flavour, bins: &[PathBuf]) -> Vec<PathBuf> {
    bins.iter()
        .filter(|b| {
            flavour == Flavour::Release
                || !b
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("tools_"))
        })
        .cloned()
        .collect()
}

fn vm_args(flavour: Flavour, load: bool, timeout: u64, cmd: &[&str]) -> VmArgs {
    VmArgs {
        debug: flavour == Flavour::Debug,
        load,
        cpus: 2,
        mem: 2048,
        swap: None,
        timeout,
        accel: Accel::Auto,
        kernel_log: None,
        cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The tests that need swap and little RAM have this in their name: the
/// ordinary suite skips them (libtest's `--skip`, a substring match) and
/// the swap stage runs them.
const SWAP_TESTS: &str = "with_swap_";
/// The swap stage's VM: the RAM small enough that a workload a quarter
/// larger than it swaps in seconds under TCG, and swap for all of it.
const SWAP_VM_MEM_MIB: u64 = 384;
const SWAP_VM_SWAP_MIB: u64 = 1024;

/// The shell script that runs each test binary given as an argument with
/// `args` and exits 1 if any failed.
fn run_each_script(args: &str) -> String {
    format!("rc=0; for t in \"$@\"; do echo \"== $t\"; \"$t\" {args} || rc=1; done; exit $rc")
}

/// Runs test binaries in the VM and counts their results.
fn vm_stage(name: String, vm: &VmArgs) -> Stage {
    let started = Instant::now();
    match vm::run(vm, true) {
        Err(e) => Stage::broken(&name, started, e.0),
        Ok(outcome) => {
            let counts = parse_libtest(&outcome.stdout);
            let problem = outcome.lab_problem().or_else(|| {
                (outcome.exit_code != Some(0)).then(|| "a test binary failed".to_owned())
            });
            Stage {
                name,
                passed: counts.passed,
                failed: counts.failed,
                ignored: counts.ignored,
                module_suite: true,
                time: started.elapsed(),
                problem,
            }
        }
    }
}

/// Runs the in-VM suite on one kernel flavour, without the swap tests.
fn vm_suite(flavour: Flavour, bins: &[PathBuf]) -> Stage {
    let script = run_each_script(&format!("--test-threads=1 --skip {SWAP_TESTS}"));
    let mut cmd = vec!["sh", "-c", &script, "vmtests"];
    let bin_strs: Vec<String> = bins.iter().map(|b| b.display().to_string()).collect();
    cmd.extend(bin_strs.iter().map(String::as_str));
    let timeout = if flavour == Flavour::Debug {
        2400
    } else {
        1200
    };
    vm_stage(
        format!("in-VM suite ({})", flavour.name()),
        &vm_args(flavour, true, timeout, &cmd),
    )
}

/// The names of the tests in `--list` output (`name: test` lines).
fn listed_tests(list: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect()
}

/// The test binaries that hold swap tests, listed on the host (listing runs
/// no test).
fn swap_binaries(bins: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for bin in bins {
        let list = util::output(Command::new(bin).arg("--list"))?;
        if listed_tests(&list).iter().any(|t| t.contains(SWAP_TESTS)) {
            found.push(bin.clone());
        }
    }
    Ok(found)
}

/// Runs the swap tests on one kernel flavour, in a VM with swap and
/// [`SWAP_VM_MEM_MIB`] of RAM.
fn swap_suite(flavour: Flavour, bins: &[PathBuf]) -> Stage {
    let name = format!("swap tests ({})", flavour.name());
    let started = Instant::now();
    let bins = match swap_binaries(bins) {
        Ok(b) if b.is_empty() => {
            return Stage::broken(
                &name,
                started,
                format!("no test named *{SWAP_TESTS}* in the in-VM suite"),
            )
        }
        Ok(b) => b,
        Err(e) => return Stage::broken(&name, started, e.0),
    };
    let script = run_each_script(&format!("--test-threads=1 {SWAP_TESTS}"));
    let mut cmd = vec!["sh", "-c", &script, "vmtests"];
    let bin_strs: Vec<String> = bins.iter().map(|b| b.display().to_string()).collect();
    cmd.extend(bin_strs.iter().map(String::as_str));
    let timeout = if flavour == Flavour::Debug { 1200 } else { 600 };
    let mut args = vm_args(flavour, true, timeout, &cmd);
    args.mem = SWAP_VM_MEM_MIB;
    args.swap = Some(SWAP_VM_SWAP_MIB);
    let mut stage = vm_stage(name, &args);
    stage.time = started.elapsed();
    stage
}

/// Self-tests of the runner: exit codes, timeouts, splat detection, --load.
fn lab_selftests() -> Stage {
    let started = Instant::now();
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut expect = |what: &str, res: Result<bool>| match res {
        Ok(true) => {
            println!("lab self-test: {what} ... ok");
            passed += 1;
        }
        Ok(false) => {
            println!("lab self-test: {what} ... FAILED");
            failures.push(what.to_owned());
        }
        Err(e) => {
            println!("lab self-test: {what} ... FAILED ({e})");
            failures.push(what.to_owned());
        }
    };
    let r = Flavour::Release;

    expect(
        "the command's exit code comes back",
        vm::run(&vm_args(r, false, 120, &["sh", "-c", "exit 7"]), false)
            .map(|o| o.exit_code == Some(7) && o.lab_problem().is_none()),
    );
    expect(
        "a command that never ends is killed at the timeout",
        vm::run(&vm_args(r, false, 15, &["sleep", "100000"]), false).map(|o| o.timed_out),
    );
    expect(
        "--load: the module registers 423 pfprof and unloads",
        vm::run(
            &vm_args(r, true, 120, &["grep", "-w", "pfprof", "/proc/devices"]),
            true,
        )
        .map(|o| o.passed() && o.stdout.trim() == "423 pfprof"),
    );
    let warn_dir = paths::repo().join("lab").join("selftest");
    expect(
        "a kernel WARNING fails the run",
        kmod::build_in(r, &warn_dir, "lab_warn").and_then(|ko| {
            let ko = ko.display().to_string();
            vm::run(&vm_args(r, false, 120, &["insmod", &ko]), false)
                .map(|o| o.exit_code == Some(0) && !o.splats.is_empty() && !o.passed())
        }),
    );
    // A module that builds without a warning but has a clippy one
    // (`clone()` on a u64): the module clippy stage must fail on it.
    let clippy_dir = warn_dir.join("clippy");
    expect(
        "a clippy warning fails the module clippy stage",
        kmod::build_in(r, &clippy_dir, "lab_clippy")
            .map(|_| kmod::clippy_in(r, &clippy_dir, "lab_clippy").is_err()),
    );
    let _ = std::io::stdout().flush();
    Stage {
        name: "lab self-tests".into(),
        passed,
        failed: u32::try_from(failures.len()).unwrap_or(u32::MAX),
        time: started.elapsed(),
        problem: (!failures.is_empty()).then(|| format!("failed: {}", failures.join("; "))),
        ..Stage::default()
    }
}

/// `cargo fmt --check` for the workspace, and rustfmt on the module, which
/// Kbuild builds outside the workspace: two checks.
fn format_check() -> Stage {
    let started = Instant::now();
    let mut problems = Vec::new();
    let mut passed = 0;
    let mut record = |res: Result<()>| match res {
        Ok(()) => passed += 1,
        Err(e) => problems.push(e.0),
    };
    record(util::run(cargo().args(["fmt", "--all", "--", "--check"])));
    let kmod_root = paths::repo().join("kmod").join("pfprof_rs.rs");
    record(util::run(
        Command::new("rustfmt")
            .args(["--edition", "2021", "--check"])
            .arg(kmod_root),
    ));
    Stage {
        name: "format check".into(),
        passed,
        failed: u32::try_from(problems.len()).unwrap_or(u32::MAX),
        time: started.elapsed(),
        problem: (!problems.is_empty()).then(|| problems.join("\n")),
        ..Stage::default()
    }
}

fn banner(name: &str) {
    println!("\n==== {name} ====");
    let _ = std::io::stdout().flush();
}

/// The summary: a line per stage with its counts, time and result.
fn summary_table(stages: &[Stage]) -> String {
    let mut out = format!(
        "{:<28} {:>7} {:>7} {:>7} {:>8}  result\n",
        "stage", "passed", "failed", "skipped", "time"
    );
    for s in stages {
        out.push_str(&format!(
            "{:<28} {:>7} {:>7} {:>7} {:>8}  {}\n",
            s.name,
            s.passed,
            s.failed,
            s.ignored,
            util::fmt_duration(s.time),
            s.verdict()
        ));
    }
    out
}

/// `cargo xtask test`.
pub fn main(args: &TestArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let mut stages = Vec::new();

    banner("format check");
    stages.push(format_check());

    banner("clippy");
    stages.push(check(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]),
    ));

    banner("host unit tests");
    stages.push(libtest(
        "host unit tests",
        cargo().args(["test", "--workspace", "--exclude", "vmtests"]),
    ));

    banner("module build");
    let module_started = Instant::now();
    let mut flavours = vec![Flavour::Release];
    if !args.skip_debug {
        flavours.push(Flavour::Debug);
    }
    let mut built = 0;
    let mut build_errors = Vec::new();
    for &f in &flavours {
        match kmod::build(f) {
            Ok(ko) => {
                println!("built {} ({} kernel)", ko.display(), f.name());
                built += 1;
            }
            Err(e) => build_errors.push(e.0),
        }
    }
    stages.push(Stage {
        name: "module build".into(),
        passed: built,
        failed: u32::try_from(build_errors.len()).unwrap_or(u32::MAX),
        time: module_started.elapsed(),
        problem: (!build_errors.is_empty()).then(|| build_errors.join("\n")),
        ..Stage::default()
    });

    banner("module clippy");
    let clippy_started = Instant::now();
    let mut linted = 0;
    let mut lint_errors = Vec::new();
    for &f in &flavours {
        match kmod::clippy(f) {
            Ok(()) => {
                println!("clippy: no warnings ({} kernel)", f.name());
                linted += 1;
            }
            Err(e) => lint_errors.push(format!("{} kernel: {}", f.name(), e.0)),
        }
    }
    stages.push(Stage {
        name: "module clippy".into(),
        passed: linted,
        failed: u32::try_from(lint_errors.len()).unwrap_or(u32::MAX),
        time: clippy_started.elapsed(),
        problem: (!lint_errors.is_empty()).then(|| lint_errors.join("\n")),
        ..Stage::default()
    });

    banner("lab self-tests");
    stages.push(lab_selftests());

    banner("in-VM suite");
    let suite_started = Instant::now();
    match build_vm_suite() {
        Ok(bins) => {
            for &f in &flavours {
                banner(&format!("in-VM suite on the {} kernel", f.name()));
                stages.push(vm_suite(f, &suite_for(f, &bins)));
            }
            // The release kernel only: there the swap run takes 30 s under
            // TCG, on the debug kernel 18 min.
            banner("swap tests on the release kernel");
            stages.push(swap_suite(Flavour::Release, &bins));
        }
        Err(e) => stages.push(Stage::broken("in-VM suite", suite_started, e.0)),
    }

    // ---- case studies (quick): the plots, monotonic curves, R > L, one
    // point per N (xtask/src/case_study.rs) ----
    banner("case studies (quick)");
    let case_started = Instant::now();
    let (passed, failed, problem) = crate::case_study::quick_check();
    stages.push(Stage {
        name: "case studies (quick)".into(),
        passed,
        failed,
        time: case_started.elapsed(),
        problem,
        ..Stage::default()
    });
    // ---- end of the case studies ----

    // ---- bench (quick): runs in the lab VM and writes every key of
    // target/bench/results.json; speed is never asserted (xtask/src/bench.rs) ----
    banner("bench (quick)");
    let bench_started = Instant::now();
    let (passed, failed, problem) = crate::bench::quick_check();
    stages.push(Stage {
        name: "bench (quick)".into(),
        passed,
        failed,
        time: bench_started.elapsed(),
        problem,
        ..Stage::default()
    });
    // ---- end of the bench ----

    println!("\n==== summary ====");
    print!("{}", summary_table(&stages));
    let (passed, failed, ignored) = stages.iter().fold((0, 0, 0), |(p, f, i), s| {
        (p + s.passed, f + s.failed, i + s.ignored)
    });
    let bad: Vec<&Stage> = stages.iter().filter(|s| !s.ok()).collect();
    for s in &bad {
        if let Some(p) = &s.problem {
            println!("{}: {p}", s.name);
        }
        if s.module_suite && s.ignored > 0 {
            println!(
                "{}: {} test(s) skipped: a module suite must run every test",
                s.name, s.ignored
            );
        }
    }
    if args.skip_debug {
        println!("note: --skip-debug: the debug-kernel stages did not run");
    }
    println!("total time {}", util::fmt_duration(started.elapsed()));
    // A stage that failed without failing a counted test still counts one.
    let failed = failed.max(u32::try_from(bad.len()).unwrap_or(u32::MAX));
    println!("{passed} passed, {failed} failed, {ignored} skipped");
    Ok(if bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summaries_add_up() {
        let out = "running 2 tests\n\
                   test a ... ok\n\
                   test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                   \n\
                   test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.5s\n";
        assert_eq!(
            parse_libtest(out),
            Counts {
                passed: 5,
                failed: 2,
                ignored: 1,
                suites: 2
            }
        );
        assert_eq!(parse_libtest("nothing here"), Counts::default());
    }

    fn stage(name: &str, passed: u32, failed: u32, ignored: u32, module_suite: bool) -> Stage {
        Stage {
            name: name.into(),
            passed,
            failed,
            ignored,
            module_suite,
            ..Stage::default()
        }
    }

    #[test]
    fn a_skipped_test_fails_a_module_suite_only() {
        let host = stage("host unit tests", 10, 0, 2, false);
        assert!(host.ok());
        assert_eq!(host.verdict(), "ok");
        let vm = stage("in-VM suite (release)", 10, 0, 1, true);
        assert!(!vm.ok());
        assert_eq!(vm.verdict(), "FAILED (skipped tests)");
        assert!(stage("in-VM suite (release)", 10, 0, 0, true).ok());
        assert_eq!(
            stage("swap tests (release)", 0, 0, 0, true).verdict(),
            "FAILED (ran nothing)"
        );
        assert_eq!(stage("x", 3, 1, 1, true).verdict(), "FAILED");
        let mut broken = stage("x", 3, 0, 0, true);
        broken.problem = Some("a test binary failed".into());
        assert_eq!(broken.verdict(), "FAILED");
    }

    #[test]
    fn the_summary_shows_skipped_tests_per_stage() {
        let table = summary_table(&[
            stage("host unit tests", 120, 0, 2, false),
            stage("in-VM suite (release)", 80, 0, 1, true),
        ]);
        let lines: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            ["stage", "passed", "failed", "skipped", "time", "result"]
        );
        assert_eq!(
            lines[1],
            ["host", "unit", "tests", "120", "0", "2", "0.0s", "ok"]
        );
        assert_eq!(
            lines[2],
            [
                "in-VM",
                "suite",
                "(release)",
                "80",
                "0",
                "1",
                "0.0s",
                "FAILED",
                "(skipped",
                "tests)"
            ]
        );
    }

    #[test]
    fn the_swap_tests_are_skipped_in_the_suite_and_found_for_their_stage() {
        let suite = run_each_script(&format!("--test-threads=1 --skip {SWAP_TESTS}"));
        assert!(suite.contains("\"$t\" --test-threads=1 --skip with_swap_ || rc=1"));
        let list = "single_threaded_sums_equal_stat_and_schedstat: test\n\
                    with_swap_major_faults_are_exact_too: test\n\
                    \n\
                    2 tests, 0 benchmarks\n";
        assert_eq!(
            listed_tests(list),
            [
                "single_threaded_sums_equal_stat_and_schedstat",
                "with_swap_major_faults_are_exact_too"
            ]
        );
        assert!(listed_tests("0 tests, 0 benchmarks\n").is_empty());
    }

    #[test]
    fn only_test_executables_are_run() {
        let json = concat!(
            r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"test":true},"profile":{"opt_level":"0","test":false},"executable":"/t/debug/faulter"}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["test"]},"profile":{"test":true},"executable":"/t/debug/deps/ioctl-2"}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"]},"profile":{"test":false},"executable":null}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            test_executables(json),
            vec![PathBuf::from("/t/debug/deps/ioctl-2")]
        );
    }
}
