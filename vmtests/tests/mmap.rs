//! The mapped buffer: the mmap parameter table, the classic ring as the
//! classic monitor reads it, and the extended ring.

use std::mem::offset_of;
use std::process::Command;

use vmtests::dev::{abi, classic_samples, ext_records, Dev, Faulter, Mapping};
use vmtests::require_lab;

const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;

#[test]
fn mmap_parameters_get_their_errno() {
    require_lab();
    let dev = Dev::open();
    let page = abi::PAGE_SIZE as usize;
    let classic = abi::CLASSIC_SIZE as usize;
    let ext = abi::EXT_SIZE as usize;
    let shared = libc::MAP_SHARED;
    let private = libc::MAP_PRIVATE;
    let cases: Vec<(&str, u64, usize, i32, i32, Result<(), i32>)> = vec![
        ("classic, whole, rw shared", 0, classic, RW, shared, Ok(())),
        (
            "classic, one page, ro",
            0,
            page,
            libc::PROT_READ,
            shared,
            Ok(()),
        ),
        (
            "classic, ro private",
            0,
            classic,
            libc::PROT_READ,
            private,
            Ok(()),
        ),
        (
            "classic, one page too many",
            0,
            classic + page,
            libc::PROT_READ,
            shared,
            Err(libc::EINVAL),
        ),
        (
            "classic, rw private",
            0,
            classic,
            RW,
            private,
            Err(libc::EINVAL),
        ),
        (
            "classic, exec",
            0,
            page,
            libc::PROT_READ | libc::PROT_EXEC,
            shared,
            Err(libc::EPERM),
        ),
        (
            "offset inside classic",
            abi::PAGE_SIZE,
            page,
            libc::PROT_READ,
            shared,
            Err(libc::EINVAL),
        ),
        (
            "ext, whole, ro",
            abi::EXT_OFFSET,
            ext,
            libc::PROT_READ,
            shared,
            Ok(()),
        ),
        (
            "ext, header only",
            abi::EXT_OFFSET,
            page,
            libc::PROT_READ,
            shared,
            Ok(()),
        ),
        (
            "ext, writable",
            abi::EXT_OFFSET,
            page,
            RW,
            shared,
            Err(libc::EPERM),
        ),
        (
            "ext, exec",
            abi::EXT_OFFSET,
            page,
            libc::PROT_READ | libc::PROT_EXEC,
            shared,
            Err(libc::EPERM),
        ),
        (
            "ext, one page too many",
            abi::EXT_OFFSET,
            ext + page,
            libc::PROT_READ,
            shared,
            Err(libc::EINVAL),
        ),
        (
            "offset inside ext",
            abi::EXT_OFFSET + abi::PAGE_SIZE,
            page,
            libc::PROT_READ,
            shared,
            Err(libc::EINVAL),
        ),
        (
            "offset past the buffer",
            abi::BUFFER_SIZE,
            page,
            libc::PROT_READ,
            shared,
            Err(libc::EINVAL),
        ),
        (
            "huge offset",
            1 << 46,
            page,
            libc::PROT_READ,
            shared,
            Err(libc::EINVAL),
        ),
    ];
    for (what, offset, len, prot, flags, want) in cases {
        let got = Mapping::new(&dev, offset, len, prot, flags).map(|_| ());
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn read_only_mappings_cannot_be_made_writable() {
    require_lab();
    let dev = Dev::open();
    let m = Mapping::new(
        &dev,
        abi::EXT_OFFSET,
        4096,
        libc::PROT_READ,
        libc::MAP_SHARED,
    )
    .unwrap();
    // SAFETY: Our own mapping; the call only changes its protection.
    let r = unsafe { libc::mprotect(m.ptr.cast(), 4096, RW) };
    assert_eq!(r, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EACCES)
    );
    // SAFETY: As above.
    let r = unsafe { libc::mprotect(m.ptr.cast(), 4096, libc::PROT_READ | libc::PROT_EXEC) };
    assert_eq!(r, -1, "exec must not be added either");
}

/// Every long of the classic mapping (all 128 pages, the tail past the ring
/// included) that holds no live sample.
fn words_not_minus_one(m: &Mapping) -> Vec<usize> {
    let words = (abi::CLASSIC_SIZE / 8) as usize;
    (0..words)
        .filter(|&i| m.u64(i * 8) != abi::CLASSIC_EMPTY)
        .collect()
}

/// Runs the classic monitor on a fresh node; its stdout.
fn classic_monitor() -> String {
    let node = "/tmp/pfprof-classic-node";
    let _ = std::fs::remove_file(node);
    assert!(vmtests::sh(&format!("mknod {node} c 423 0")));
    let out = Command::new(env!("PFPROF_CLASSIC_MONITOR"))
        .arg(node)
        .output()
        .expect("run the classic monitor");
    std::fs::remove_file(node).unwrap();
    assert!(out.status.success(), "classic monitor: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_whole_classic_region_is_minus_one_at_load_and_after_reset() {
    require_lab();
    // A fresh load: nothing has reset or written the buffer since.
    assert!(vmtests::sh("rmmod pfprof"), "rmmod");
    let ko = vmtests::module_path();
    assert!(vmtests::sh(&format!("insmod {}", ko.display())), "insmod");
    let dev = Dev::open();
    let m = Mapping::classic(&dev);
    assert_eq!(words_not_minus_one(&m), Vec::<usize>::new(), "at load");
    // Some samples, then a reset.
    let mut f = Faulter::start(50, 0);
    dev.register(f.pid()).unwrap();
    f.fault();
    dev.wait_ticks(2);
    assert!(!words_not_minus_one(&m).is_empty(), "no sample was written");
    dev.clean();
    f.finish();
    assert_eq!(words_not_minus_one(&m), Vec::<usize>::new(), "after RESET");
}

#[test]
fn the_classic_monitor_on_an_empty_buffer_reads_nothing() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    // Its scan finds no sample in longs 0..48000 and reads long 48000,
    // past the ring: -1 there ends it with no phantom sample.
    assert_eq!(classic_monitor(), "read 0 profiled data\n");
    let m = Mapping::classic(&dev);
    assert_eq!(words_not_minus_one(&m), Vec::<usize>::new());
}

#[test]
fn classic_and_extended_rings_agree_with_the_process_counters() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let ring = Mapping::classic(&dev);
    let ext = Mapping::extended(&dev);
    assert_eq!(ext.u32(offset_of!(abi::ExtHeader, magic)), abi::EXT_MAGIC);
    assert_eq!(
        ext.u32(offset_of!(abi::ExtHeader, abi_version)),
        abi::ABI_VERSION
    );
    assert_eq!(ext.u32(offset_of!(abi::ExtHeader, hz)), 1000);
    assert_eq!(
        ext.u32(offset_of!(abi::ExtHeader, period_us)),
        abi::PERIOD_DEFAULT_US
    );
    assert_eq!(
        ext.u32(offset_of!(abi::ExtHeader, record_size)) as u64,
        abi::RECORD_SIZE
    );
    assert_eq!(
        ext.u32(offset_of!(abi::ExtHeader, capacity)) as u64,
        abi::EXT_RECORDS
    );
    let head0 = ext.u64(offset_of!(abi::ExtHeader, head));

    let mut f = Faulter::start(500, 0);
    let pid = f.pid();
    dev.register(pid).unwrap();
    assert_eq!(
        ext.u32(offset_of!(abi::ExtHeader, state)),
        abi::STATE_RUNNING
    );
    dev.wait_ticks(1);
    f.fault();
    dev.wait_ticks(2);
    dev.unregister(pid).unwrap();
    let stats_after = dev.status();
    f.finish();

    let samples = classic_samples(&ring);
    assert_eq!(samples.len() as u64, stats_after.samples_written);
    let records = ext_records(&ext, head0);
    assert_eq!(records.len() as u64, stats_after.records_written);
    // Consecutive sequence numbers, one total per classic sample, in order.
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, head0 + i as u64);
    }
    let totals: Vec<&abi::Record> = records
        .iter()
        .filter(|r| r.flags & abi::RECORD_TOTAL != 0)
        .collect();
    assert_eq!(totals.len(), samples.len());
    for (t, s) in totals.iter().zip(&samples) {
        assert_eq!([t.jiffies, t.minor_faults, t.major_faults, t.cpu_ns], *s);
        assert_eq!(t.pid, 0);
    }
    let per: Vec<&abi::Record> = records.iter().filter(|r| r.pid == pid).collect();
    let minor: u64 = per.iter().map(|r| r.minor_faults).sum();
    assert!(minor >= 500, "the 500 pages faulted show up: {minor}");
    let classic_minor: u64 = samples.iter().map(|s| s[1]).sum();
    assert_eq!(classic_minor, minor, "one process: totals are its records");
    // Jiffies never go back. They may repeat: a sampler that fell behind
    // its deadlines catches up with back-to-back ticks (the period's mean
    // is what accounting.rs checks).
    for w in samples.windows(2) {
        assert!(w[1][0] >= w[0][0], "jiffies went back: {w:?}");
    }
    dev.clean();
}

#[test]
fn the_unchanged_classic_monitor_reads_and_consumes_the_ring() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let mut f = Faulter::start(300, 0);
    let pid = f.pid();
    // The classic way to register.
    vmtests::dev::proc_write(format!("R {pid}").as_bytes()).unwrap();
    dev.wait_ticks(1);
    f.fault();
    dev.wait_ticks(3);
    vmtests::dev::proc_write(format!("U {pid}").as_bytes()).unwrap();
    let written = dev.status().samples_written;
    f.finish();

    let text = classic_monitor();
    let lines: Vec<&str> = text.lines().collect();
    let (trailer, data) = lines.split_last().unwrap();
    assert_eq!(*trailer, format!("read {written} profiled data"));
    let rows: Vec<Vec<u64>> = data
        .iter()
        .map(|l| l.split(' ').map(|w| w.parse().unwrap()).collect())
        .collect();
    assert!(rows.iter().all(|r| r.len() == 4));
    let minor: u64 = rows.iter().map(|r| r[1]).sum();
    assert!(minor >= 300, "{minor}");
    for w in rows.windows(2) {
        assert!(w[1][0] > w[0][0], "oldest first");
    }
    // It wrote -1 back: the whole region is -1 again, and a second run
    // finds nothing.
    let m = Mapping::classic(&dev);
    assert_eq!(words_not_minus_one(&m), Vec::<usize>::new());
    assert_eq!(classic_monitor(), "read 0 profiled data\n");
    dev.clean();
}
