//! The memory footprint in every record: resident anonymous, file and shmem
//! memory, swap and the peak, against what the workload did and against
//! `/proc/<pid>/status`.
//!
//! The test named `with_swap_*` needs a swap device and little RAM: `cargo
//! xtask test` runs it in the swap stage; without swap it fails.

use std::mem::offset_of;

use vmtests::dev::{abi, ext_records, Dev, Faulter, Mapping};
use vmtests::require_lab;

const MIB: u64 = 1 << 20;

fn head(ext: &Mapping) -> u64 {
    ext.u64(offset_of!(abi::ExtHeader, head))
}

/// The records of `pid` from record `from` on.
fn records_of(ext: &Mapping, from: u64, pid: i32) -> Vec<abi::Record> {
    ext_records(ext, from)
        .into_iter()
        .filter(|r| r.pid == pid)
        .collect()
}

/// The newest record of `pid` after two more ticks.
fn latest(dev: &Dev, ext: &Mapping, pid: i32) -> abi::Record {
    let from = head(ext);
    dev.wait_ticks(2);
    *records_of(ext, from, pid)
        .last()
        .unwrap_or_else(|| panic!("no record of {pid} in two ticks"))
}

/// A memory line of /proc/<pid>/status, in bytes.
fn status_bytes(pid: i32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = text
        .lines()
        .find(|l| l.split(':').next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad line {line:?}"));
    kb * 1024
}

fn start() -> (Dev, Mapping, Faulter) {
    let dev = Dev::open();
    dev.clean();
    let ext = Mapping::extended(&dev);
    let f = Faulter::start_bin("memuser", &[]);
    dev.register(f.pid()).unwrap();
    (dev, ext, f)
}

#[test]
fn anonymous_memory_shows_within_two_periods_and_leaves_after_unmap() {
    require_lab();
    let (dev, ext, mut f) = start();
    let pid = f.pid();
    let before = latest(&dev, &ext, pid);
    assert!(before.rss_anon_bytes < 16 * MIB, "{before:?}");
    f.command("anon 64");
    let touched = latest(&dev, &ext, pid);
    assert!(
        touched.rss_anon_bytes >= 64 * MIB,
        "64 MiB touched, RssAnon {} MiB",
        touched.rss_anon_bytes / MIB
    );
    assert!(touched.rss_peak_bytes >= touched.rss_anon_bytes);
    assert_eq!(touched.flags & abi::RECORD_NO_MM, 0);
    f.command("unmap");
    let unmapped = latest(&dev, &ext, pid);
    assert!(
        unmapped.rss_anon_bytes + 60 * MIB <= touched.rss_anon_bytes,
        "unmapped: RssAnon {} MiB, before {} MiB",
        unmapped.rss_anon_bytes / MIB,
        touched.rss_anon_bytes / MIB
    );
    // The peak stays.
    assert!(unmapped.rss_peak_bytes >= 64 * MIB);
    f.finish();
    dev.clean();
}

#[test]
fn a_shared_mapping_shows_in_rss_shmem() {
    require_lab();
    let (dev, ext, mut f) = start();
    let pid = f.pid();
    let before = latest(&dev, &ext, pid);
    f.command("shmem 16");
    let after = latest(&dev, &ext, pid);
    assert!(
        after.rss_shmem_bytes >= before.rss_shmem_bytes + 16 * MIB,
        "16 MiB of shmem written: RssShmem {} -> {} bytes",
        before.rss_shmem_bytes,
        after.rss_shmem_bytes
    );
    assert!(after.rss_anon_bytes < 16 * MIB, "shmem is not anonymous");
    // The totals record sums the processes: this one is the only one.
    let from = head(&ext);
    dev.wait_ticks(2);
    let recs = ext_records(&ext, from);
    let total = recs
        .iter()
        .rev()
        .find(|r| r.flags & abi::RECORD_TOTAL != 0)
        .expect("a totals record");
    let own = recs
        .iter()
        .rev()
        .find(|r| r.pid == pid && r.seq < total.seq)
        .expect("a record of the process before the totals");
    assert_eq!(total.rss_shmem_bytes, own.rss_shmem_bytes);
    assert_eq!(total.rss_anon_bytes, own.rss_anon_bytes);
    assert_eq!(total.rss_peak_bytes, 0);
    f.finish();
    dev.clean();
}

#[test]
fn a_stopped_process_has_the_figures_of_its_proc_status() {
    require_lab();
    let (dev, ext, mut f) = start();
    let pid = f.pid();
    f.command("anon 24");
    f.command("shmem 8");
    f.pause();
    let r = latest(&dev, &ext, pid);
    let status = [
        ("RssAnon", r.rss_anon_bytes),
        ("RssFile", r.rss_file_bytes),
        ("RssShmem", r.rss_shmem_bytes),
        ("VmSwap", r.swap_bytes),
        ("VmHWM", r.rss_peak_bytes),
    ];
    for (key, ours) in status {
        assert_eq!(ours, status_bytes(pid, key), "{key}");
    }
    assert!(r.rss_anon_bytes >= 24 * MIB && r.rss_shmem_bytes >= 8 * MIB);
    f.resume();
    f.finish();
    dev.clean();
}

#[test]
fn after_an_exec_the_figures_are_those_of_the_new_program() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let ext = Mapping::extended(&dev);
    // A shell that is sampled first, then execs the workload: the module
    // must follow the process to its new memory map.
    let memuser = vmtests::bin_path("memuser");
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        "echo ready; read go; exec \"$0\"",
        &memuser.display().to_string(),
    ]);
    let mut f = Faulter::start_command(cmd, "sh then memuser");
    let pid = f.pid();
    dev.register(pid).unwrap();
    let shell = latest(&dev, &ext, pid);
    f.send("go");
    f.expect_line("ready");
    f.command("anon 40");
    let after = latest(&dev, &ext, pid);
    assert!(
        after.rss_anon_bytes >= 40 * MIB && after.rss_anon_bytes > shell.rss_anon_bytes,
        "after the exec: RssAnon {} MiB (the shell's: {} bytes)",
        after.rss_anon_bytes / MIB,
        shell.rss_anon_bytes
    );
    f.finish();
    dev.clean();
}

#[test]
fn exiting_processes_give_sane_records_and_their_peak_is_ru_maxrss() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let ext = Mapping::extended(&dev);
    let from = head(&ext);
    // This process stays registered, so the sampler keeps ticking after the
    // last workload is gone.
    dev.register(0).unwrap();
    let mut runs = Vec::new();
    for i in 0..12 {
        let mut f = Faulter::start_bin("memuser", &[]);
        let pid = f.pid();
        dev.register(pid).unwrap();
        f.command(&format!("anon {}", 4 + i));
        if i % 2 == 0 {
            // Some exit right away, some after a sample or two.
            dev.wait_ticks(1);
        }
        f.exit_unreaped();
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        let mut status = 0;
        // SAFETY: Our own child; both out-pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
        assert_eq!(r, pid);
        // SAFETY: wait4 filled it in.
        let maxrss = unsafe { usage.assume_init() }.ru_maxrss as u64 * 1024;
        runs.push((pid, maxrss, (4 + i) as u64 * MIB));
    }
    dev.wait_ticks(3);
    let recs = ext_records(&ext, from);
    // ru_maxrss comes from the approximate value of the mm's per-cpu RSS
    // counters (anonymous, file, shmem: each off by less than a batch of
    // max(32, 2 x CPUs) pages per CPU), the records' peak from their exact
    // sums (VmHWM): the peak may exceed ru_maxrss by that much, never fall
    // below it.
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } as u64;
    let slack = 3 * cpus * 32.max(2 * cpus) * abi::PAGE_SIZE;
    for (pid, maxrss, touched) in runs {
        let mine: Vec<&abi::Record> = recs.iter().filter(|r| r.pid == pid).collect();
        let last = mine.last().expect("records of the process");
        assert_ne!(
            last.flags & abi::RECORD_EXITED,
            0,
            "{pid}: no EXITED record"
        );
        assert!(
            (maxrss..=maxrss + slack).contains(&last.rss_peak_bytes),
            "{pid}: peak {} against ru_maxrss {maxrss} (slack {slack})",
            last.rss_peak_bytes
        );
        assert!(maxrss >= touched);
        for w in mine.windows(2) {
            assert!(
                w[1].rss_peak_bytes >= w[0].rss_peak_bytes,
                "the peak fell: {w:?}"
            );
        }
        for r in &mine {
            let resident = r.rss_anon_bytes + r.rss_file_bytes + r.rss_shmem_bytes;
            if r.flags & abi::RECORD_NO_MM != 0 {
                assert_eq!((resident, r.swap_bytes), (0, 0), "{r:?}");
            } else {
                assert!(resident <= r.rss_peak_bytes, "{r:?}");
            }
            assert_eq!(r.tree_root, 0);
        }
    }
    dev.clean();
}

#[test]
fn with_swap_swap_and_major_faults_rise_together() {
    require_lab();
    let swap_total = status_bytes_meminfo("SwapTotal");
    assert!(
        swap_total > 0,
        "this test needs swap: run it in the swap stage (`cargo xtask test`)"
    );
    let ram = status_bytes_meminfo("MemTotal");
    let (dev, ext, mut f) = start();
    let pid = f.pid();
    let from = head(&ext);
    // A quarter more than the RAM: the second pass brings swapped pages back.
    let mb = ram * 5 / 4 / MIB;
    f.command(&format!("anon {mb}"));
    f.command("again");
    dev.wait_ticks(2);
    let recs = records_of(&ext, from, pid);
    let majors: u64 = recs.iter().map(|r| r.major_faults).sum();
    let max_swap = recs.iter().map(|r| r.swap_bytes).max().unwrap_or(0);
    let majors_without_swap: u64 = recs
        .iter()
        .filter(|r| r.swap_bytes == 0)
        .map(|r| r.major_faults)
        .sum();
    println!(
        "{mb} MiB in {} MiB of RAM: {majors} major faults, swap up to {} MiB, \
         {majors_without_swap} major faults in periods without swap",
        ram / MIB,
        max_swap / MIB
    );
    assert!(majors >= 1000, "{majors} major faults");
    assert!(max_swap >= 32 * MIB, "swap peaked at {max_swap} bytes");
    assert!(
        majors_without_swap * 10 < majors,
        "major faults while nothing was swapped out: {majors_without_swap} of {majors}"
    );
    f.finish();
    dev.clean();
}

/// A line of /proc/meminfo, in bytes.
fn status_bytes_meminfo(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    text.lines()
        .find(|l| l.split(':').next() == Some(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/meminfo"))
        * 1024
}
