//! Process trees (PFPROF_REG_TREE): the tree's total minor and major faults,
//! summed from the module's records (extended ring, every record with the
//! root as `tree_root`), equal the tree's rusage exactly: the root's own
//! figures (RUSAGE_SELF, read from /proc while it is blocked) plus its
//! RUSAGE_CHILDREN once everything is reaped, plus what orphans re-parented
//! to init reported of themselves; CPU time within one period per process.
//! The tree is src/bin/tree.rs; every test prints its totals against
//! rusage (`tree[...]` lines, for the record).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::mem::offset_of;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vmtests::dev::{abi, ext_records, proc_stat, schedstat_ns, sysfs, Dev, Mapping, SYSFS};
use vmtests::{bin_path, figure, require_lab};

fn debug_kernel() -> bool {
    std::env::var("PFPROF_IN_LAB").as_deref() == Ok("debug")
}

/// The state letter of /proc/<pid>/stat (`S`: sleeping interruptibly).
fn proc_state(pid: i32) -> char {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    text[text.rfind(')').expect("comm") + 2..]
        .chars()
        .next()
        .expect("state")
}

/// What one tree run measured.
#[derive(Debug)]
struct Outcome {
    /// Sums of the tree's records: minor, major, CPU ns.
    module: (u64, u64, u64),
    /// The rusage of the tree: minor, major, CPU ns.
    rusage: (u64, u64, u64),
    /// Distinct pids in the tree's records (the root included).
    processes: usize,
    /// Processes the scenario forked (-1: unknown).
    forks: i64,
    /// The root's printed line.
    line: String,
    /// The root's own records' sums, and its own rusage (minor, major).
    root: ((u64, u64), (u64, u64)),
}

fn head(ext: &Mapping) -> u64 {
    ext.u64(offset_of!(abi::ExtHeader, head))
}

/// Collects the records of tree `root` from `*next` to the head, asserting
/// that none was lost.
fn collect(ext: &Mapping, next: &mut u64, root: i32, into: &mut Vec<abi::Record>) {
    let recs = ext_records(ext, *next);
    let Some(last) = recs.last() else {
        return;
    };
    let want = last.seq + 1 - *next;
    assert_eq!(
        recs.len() as u64,
        want,
        "records lost in the extended ring (read from {next})"
    );
    *next = last.seq + 1;
    into.extend(recs.into_iter().filter(|r| r.tree_root == root));
}

/// Runs `tree ARGS` with the sampler at `period_us` and compares.
fn run(args: &[&str], period_us: u32) -> Outcome {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    dev.set_period_us(period_us).expect("SET_PERIOD");
    let ext = Mapping::extended(&dev);
    let mut next = head(&ext);
    let mut child = Command::new(bin_path("tree"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tree");
    let root = child.id() as i32;
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut recs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    let line = loop {
        collect(&ext, &mut next, root, &mut recs);
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(20)) {
            break line;
        }
        assert!(Instant::now() < deadline, "the tree did not finish");
    };
    assert!(line.starts_with("tree: "), "tree printed {line:?}");
    // Every member but the root (blocked on its stdin) has exited: wait
    // until the sampler has dropped them, then two more ticks for the root.
    loop {
        collect(&ext, &mut next, root, &mut recs);
        if dev.list() == [root] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tree members still registered: {:?}",
            dev.list()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The root's final figures, once it sleeps in its read of stdin (a
    // page fault on the way there may still be reading from the disk) and
    // they no longer move over two ticks.
    let (self_minor, self_major, self_cpu) = loop {
        let before = (proc_stat(root), schedstat_ns(root));
        dev.wait_ticks(2);
        let after = (proc_stat(root), schedstat_ns(root));
        if before == after && proc_state(root) == 'S' {
            break (after.0 .0, after.0 .1, after.1);
        }
        assert!(Instant::now() < deadline, "the tree's root does not settle");
    };
    collect(&ext, &mut next, root, &mut recs);
    drop(child.stdin.take());
    assert!(child.wait().expect("wait tree").success(), "tree failed");

    let sum = |get: fn(&abi::Record) -> u64| recs.iter().map(get).sum::<u64>();
    let module = (
        sum(|r| r.minor_faults),
        sum(|r| r.major_faults),
        sum(|r| r.cpu_ns),
    );
    let f = |k: &str| figure(&line, k);
    let rusage = (
        self_minor - f("start_minor") + f("children_minor") + f("orphan_minor"),
        self_major - f("start_major") + f("children_major") + f("orphan_major"),
        self_cpu.saturating_sub(f("start_cpu_ns")) + f("children_cpu_ns") + f("orphan_cpu_ns"),
    );
    let own =
        |get: fn(&abi::Record) -> u64| recs.iter().filter(|r| r.pid == root).map(get).sum::<u64>();
    let root_figures = (
        (own(|r| r.minor_faults), own(|r| r.major_faults)),
        (self_minor - f("start_minor"), self_major - f("start_major")),
    );
    let processes = recs.iter().map(|r| r.pid).collect::<BTreeSet<_>>().len();
    let forks = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("forks="))
        .and_then(|v| v.parse().ok())
        .expect("forks=");
    let out = Outcome {
        module,
        rusage,
        processes,
        forks,
        line,
        root: root_figures,
    };
    eprintln!(
        "tree{args:?} period {period_us} us: processes {} (forked {}), module minor {} major {} \
         cpu {} ns; rusage minor {} major {} cpu {} ns; root's own (module, rusage) {:?}; {}",
        out.processes,
        out.forks,
        out.module.0,
        out.module.1,
        out.module.2,
        out.rusage.0,
        out.rusage.1,
        out.rusage.2,
        out.root,
        out.line.trim()
    );
    out
}

/// The invariant: faults exactly, CPU within one period per process, and
/// every forked process in the records.
fn check(o: &Outcome, period_us: u32) {
    check_with(o, period_us, 0);
}

/// [`check`], with `exit_ns` more CPU time allowed to the module: the CPU
/// of orphans' exits, which follow their own report.
fn check_with(o: &Outcome, period_us: u32, exit_ns: u64) {
    assert_eq!(figure(&o.line, "pre_minor"), 0, "the registration faulted");
    assert_eq!(figure(&o.line, "pre_major"), 0, "the registration faulted");
    assert_eq!(o.module.0, o.rusage.0, "minor faults: module vs rusage");
    assert_eq!(o.module.1, o.rusage.1, "major faults: module vs rusage");
    let slack = o.processes as u64 * u64::from(period_us) * 1000;
    assert!(
        o.module.2 + slack >= o.rusage.2 && o.module.2 <= o.rusage.2 + slack + exit_ns,
        "CPU: module {} ns vs rusage {} ns (slack {slack}, exits {exit_ns})",
        o.module.2,
        o.rusage.2
    );
    if o.forks >= 0 {
        assert_eq!(o.processes as i64, o.forks + 1, "processes in the records");
    }
    assert!(o.module.0 > 0);
}

#[test]
fn shell_loop_of_short_commands_loses_nothing() {
    let n = if debug_kernel() { 20 } else { 300 };
    let o = run(&["loop", &n.to_string()], abi::PERIOD_DEFAULT_US);
    check(&o, abi::PERIOD_DEFAULT_US);
    // sh, one /bin/true per round, and the command substitution's seq.
    assert!(o.processes as u64 > n + 1, "processes {}", o.processes);
}

#[test]
fn deep_chain() {
    let depth = if debug_kernel() { "10" } else { "50" };
    let o = run(&["chain", depth], abi::PERIOD_DEFAULT_US);
    check(&o, abi::PERIOD_DEFAULT_US);
}

#[test]
fn parallel_children() {
    let n = if debug_kernel() { "8" } else { "20" };
    let o = run(&["parallel", n], 10_000);
    check(&o, 10_000);
}

#[test]
fn threads_in_the_children() {
    let (n, m) = if debug_kernel() {
        ("3", "2")
    } else {
        ("6", "4")
    };
    let o = run(&["threads", n, m], 10_000);
    check(&o, 10_000);
}

#[test]
fn double_fork_orphan_is_counted() {
    let o = run(&["doublefork"], 10_000);
    // The orphan reports its CPU time before its exit, whose cost only the
    // module sees: a few ms, hundreds under KASAN.
    check_with(&o, 10_000, 1_000_000_000);
    assert!(figure(&o.line, "orphan_minor") > 0, "{}", o.line);
}

#[test]
fn churn_of_tree_members_at_1khz_leaves_nothing_behind() {
    let n = if debug_kernel() { 100 } else { 2000 };
    let o = run(&["churn", &n.to_string()], abi::PERIOD_MIN_US);
    check(&o, abi::PERIOD_MIN_US);
    let dev = Dev::open();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dev.list().is_empty() {
        assert!(
            Instant::now() < deadline,
            "registry not empty: {:?}",
            dev.list()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(dev.status().registered, 0);
    dev.clean();
}

/// Writes a sysfs attribute of the device.
fn set_sysfs(name: &str, value: &str) {
    std::fs::write(format!("{SYSFS}/{name}"), value)
        .unwrap_or_else(|e| panic!("write {SYSFS}/{name}: {e}"));
}

#[test]
fn fork_bomb_is_refused_over_the_limit() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let limit_before = sysfs("tree_limit");
    assert_eq!(limit_before, "16384");
    set_sysfs("tree_limit", "20");
    let refused_before = dev.status().tree_refused;
    let mut child = Command::new(bin_path("tree"))
        .args(["hold", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tree");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert!(line.starts_with("tree: "), "{line:?}");
    dev.wait_ticks(2);
    let s = dev.status();
    let registered = dev.list().len();
    set_sysfs("tree_limit", &limit_before);
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"\n");
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    eprintln!(
        "fork bomb of 60 under tree_limit 20: registered {registered}, refused {}",
        s.tree_refused - refused_before
    );
    // The root and 19 children fill the limit; the other 41 are refused.
    assert_eq!(registered, 20);
    assert_eq!(s.registered, 20);
    assert_eq!(s.tree_refused - refused_before, 41);
    assert_eq!(
        sysfs("tree_refused").parse::<u32>().expect("tree_refused"),
        s.tree_refused
    );
    // The root reaped its children before exiting: the sampler drops them
    // all at its next tick, then stops.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dev.list().is_empty() {
        assert!(Instant::now() < deadline, "{:?}", dev.list());
        std::thread::sleep(Duration::from_millis(20));
    }
    dev.clean();
}

#[test]
fn tree_flags_are_checked() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let me = std::process::id() as i32;
    let mut bad = abi::PidArg { pid: me, flags: 2 };
    assert_eq!(dev.ioctl(abi::IOC_REGISTER, &mut bad), Err(libc::EINVAL));
    let mut tree_unreg = abi::PidArg {
        pid: me,
        flags: abi::REG_TREE,
    };
    assert_eq!(
        dev.ioctl(abi::IOC_UNREGISTER, &mut tree_unreg),
        Err(libc::EINVAL)
    );
    let mut ok = abi::PidArg {
        pid: me,
        flags: abi::REG_TREE,
    };
    assert_eq!(dev.ioctl(abi::IOC_REGISTER, &mut ok), Ok(me));
    assert_eq!(dev.ioctl(abi::IOC_REGISTER, &mut ok), Err(libc::EEXIST));
    dev.unregister(me).expect("unregister");
    dev.clean();
}

/// The number after `"key": ` at the top level of `pfprof run --tree -o`'s
/// pretty JSON (two spaces of indentation), or after `from` in it.
fn json_number(text: &str, key: &str) -> u64 {
    let pat = format!("\n  \"{key}\": ");
    let at = text
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + pat.len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} is not a number in {text}"))
}

/// The `processes` of command `name` in the JSON's `commands`.
fn json_command_processes(text: &str, name: &str) -> u64 {
    let at = text
        .find(&format!("\"command\": \"{name}\""))
        .unwrap_or_else(|| panic!("no command {name} in {text}"));
    let rest = &text[at..];
    let p = rest.find("\"processes\": ").expect("processes") + "\"processes\": ".len();
    rest[p..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number")
}

#[test]
fn pfprof_run_tree_breaks_a_shell_loop_down_by_command() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let n: u64 = if debug_kernel() { 10 } else { 50 };
    let json = std::env::temp_dir().join("pfprof-run-tree.json");
    let _ = std::fs::remove_file(&json);
    let out = Command::new(bin_path("pfprof"))
        .args(["run", "--tree", "-o"])
        .arg(&json)
        .args(["--", "sh", "-c"])
        .arg(format!("for i in $(seq {n}); do /bin/true; done"))
        .output()
        .expect("pfprof run --tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("pfprof tree stats for"), "{stderr}");
    let text = std::fs::read_to_string(&json).expect("the JSON summary");
    let minor = json_number(&text, "minor_faults");
    let processes = json_number(&text, "processes");
    assert!(processes >= n + 2, "processes {processes}: {text}");
    assert_eq!(json_command_processes(&text, "true"), n, "{text}");
    assert_eq!(json_command_processes(&text, "sh"), 1, "{text}");
    assert!(minor > 0 && json_number(&text, "cpu_ns") > 0, "{text}");
    assert_eq!(json_number(&text, "still_running"), 0, "{text}");
    assert_eq!(json_number(&text, "records_lost"), 0, "{text}");
    // The module counts the shell from its registration (after fork, before
    // exec); wait4's rusage from its fork: at most a few faults more.
    let ru = text.find("\"rusage\"").expect("rusage");
    let ru_minor: u64 = text[ru..]
        .split("\"minor_faults\": ")
        .nth(1)
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .expect("rusage minor_faults");
    eprintln!("pfprof run --tree: tree minor {minor}, rusage minor {ru_minor}");
    assert!(
        minor <= ru_minor && ru_minor - minor <= 50,
        "tree minor {minor} vs rusage {ru_minor}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dev.list().is_empty() {
        assert!(Instant::now() < deadline, "{:?}", dev.list());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tree_that_outlives_pfprof_run_stays_profiled_until_it_exits() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let ext = Mapping::extended(&dev);
    let from = head(&ext);
    // The sleeper must outlive the command and the check below: on a
    // loaded host the guest's `sh` alone can take over a second.
    let out = Command::new(bin_path("pfprof"))
        .args(["run", "--tree", "--", "sh", "-c", "/bin/sleep 6 & echo $!"])
        .output()
        .expect("pfprof run --tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(out.status.success(), "{stderr}");
    let sleeper: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the sleeper's pid");
    assert!(
        stderr.contains("1 processes of the tree were still running"),
        "{stderr}"
    );
    assert_eq!(dev.list(), [sleeper], "the sleeper stays registered");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dev.list().is_empty() {
        assert!(Instant::now() < deadline, "{:?}", dev.list());
        std::thread::sleep(Duration::from_millis(50));
    }
    let recs = ext_records(&ext, from);
    let last = recs
        .iter()
        .rev()
        .find(|r| r.pid == sleeper)
        .expect("the sleeper's records");
    assert!(last.flags & abi::RECORD_EXITED != 0);
    assert_ne!(last.tree_root, 0);
    assert_eq!(&last.comm[..6], b"sleep\0");
}

#[test]
fn unloading_while_a_tree_forks_releases_everything() {
    require_lab();
    {
        let dev = Dev::open();
        dev.clean();
        dev.set_period_us(abi::PERIOD_MIN_US).expect("SET_PERIOD");
    }
    let mut child = Command::new(bin_path("tree"))
        .args(["spin", "4"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tree");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "spinning");
    std::thread::sleep(Duration::from_secs(1));
    let registered: u32 = sysfs("registered").parse().expect("registered");
    // The device is closed (the tree closed it too): unload while the tree
    // forks, with members registered and forks queued, then load again.
    let ko = vmtests::module_path();
    assert!(vmtests::sh("rmmod pfprof"), "rmmod with a live tree");
    assert!(
        vmtests::sh(&format!("insmod {}", ko.display())),
        "insmod again"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("read");
    assert!(child.wait().expect("wait").success(), "{rest}");
    let forks = figure(&rest, "forks");
    eprintln!("unload with a live tree: {registered} registered at the unload, {forks} forks");
    assert!(registered >= 1, "the tree was not registered");
    assert!(forks > 0);
    let dev = Dev::open();
    assert!(dev.list().is_empty(), "{:?}", dev.list());
    assert_eq!(dev.status().tree_refused, 0);
}
