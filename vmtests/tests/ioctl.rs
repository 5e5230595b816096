//! The ioctls of /dev/pfprof: every command, and a table of bad numbers
//! and arguments, each with its errno.

use vmtests::dev::{abi, sysfs, Dev, Faulter, KNOWN_IOCTLS};
use vmtests::require_lab;

/// Addresses no ioctl may accept: null, unmapped, and kernel space.
const BAD_POINTERS: [usize; 3] = [0, 8, 0xffff_8000_0000_0000];

#[test]
fn version_reports_the_abi() {
    require_lab();
    let dev = Dev::open();
    let mut v = abi::Version::default();
    dev.ioctl(abi::IOC_VERSION, &mut v).expect("VERSION");
    assert_eq!(v.abi_version, abi::ABI_VERSION);
    assert_eq!(v.buffer_size, abi::BUFFER_SIZE);
}

#[test]
fn register_query_list_unregister() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let mut f = Faulter::start(100, 0);
    let pid = f.pid();
    assert_eq!(dev.register(pid), Ok(pid), "REGISTER returns the tgid");
    assert_eq!(dev.register(pid), Err(libc::EEXIST));
    assert_eq!(dev.list(), vec![pid]);
    let s = dev.status();
    assert_eq!(s.registered, 1);
    assert_eq!(s.state, abi::STATE_RUNNING);
    assert_eq!(s.hz, 1000, "the lab kernel runs at HZ=1000");
    assert_eq!(s.period_us, abi::PERIOD_DEFAULT_US);
    f.fault();
    let st = dev.proc_stats(pid).expect("QUERY_PID");
    assert!(st.minor_faults >= 100, "{st:?}");
    assert!(st.registered_ns > 0 && st.registered_jiffies > 0);
    dev.wait_ticks(2);
    let s = dev.status();
    assert!(
        s.ticks >= 2 && s.samples_written >= 2 && s.process_samples >= 2,
        "{s:?}"
    );
    assert!(
        s.records_written >= 4,
        "a record per process and one total per tick"
    );
    assert!(s.cost_total_ns > 0 && s.cost_max_ns >= s.cost_last_ns);
    assert_eq!(dev.unregister(pid), Ok(0));
    assert_eq!(dev.unregister(pid), Err(libc::ENOENT));
    assert_eq!(dev.proc_stats(pid).err(), Some(libc::ENOENT));
    f.finish();
    // The sampler stops once nothing is registered.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(dev.status().state, abi::STATE_IDLE);
    assert_eq!(sysfs("state"), "idle");
}

#[test]
fn pid_zero_means_the_caller() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let me = std::process::id() as i32;
    assert_eq!(dev.register(0), Ok(me));
    assert_eq!(dev.list(), vec![me]);
    assert_eq!(dev.proc_stats(0).map(|s| s.pid), Ok(me));
    assert_eq!(dev.unregister(0), Ok(0));
    assert!(dev.list().is_empty());
}

#[test]
fn list_answers_a_size_query_and_truncates() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let fs: Vec<Faulter> = (0..3).map(|_| Faulter::start(1, 0)).collect();
    for f in &fs {
        dev.register(f.pid()).unwrap();
    }
    let mut a = abi::List::default();
    dev.ioctl(abi::IOC_LIST, &mut a).unwrap();
    assert_eq!(a.count, 3);
    let mut two = [0i32; 2];
    a.capacity = 2;
    a.pids = two.as_mut_ptr() as u64;
    dev.ioctl(abi::IOC_LIST, &mut a).unwrap();
    assert_eq!(a.count, 3, "count is the total, not what fit");
    let mut want: Vec<i32> = fs.iter().map(Faulter::pid).collect();
    want.sort();
    assert_eq!(two.to_vec(), want[..2].to_vec());
    for f in fs {
        f.finish();
    }
    dev.clean();
}

#[test]
fn reset_refills_the_classic_ring_and_keeps_registrations() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let me = std::process::id() as i32;
    dev.register(me).unwrap();
    dev.wait_ticks(3);
    assert!(dev.status().samples_written >= 3);
    let ring =
        vmtests::dev::Mapping::new(&dev, 0, 4096, libc::PROT_READ, libc::MAP_SHARED).unwrap();
    assert_ne!(ring.u64(0), abi::CLASSIC_EMPTY);
    dev.set_period_us(10_000_000).unwrap(); // no tick during the checks
    dev.reset().expect("RESET as root");
    let s = dev.status();
    assert_eq!(
        (
            s.samples_written,
            s.ticks,
            s.records_written,
            s.cost_total_ns
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(s.registered, 1, "registrations survive a reset");
    assert_eq!(ring.u64(0), abi::CLASSIC_EMPTY);
    assert_eq!(ring.u64(8), abi::CLASSIC_EMPTY);
    let st = dev.proc_stats(me).unwrap();
    assert!(
        st.minor_faults < 1000,
        "per-process counters restart: {st:?}"
    );
    dev.clean();
}

#[test]
fn period_is_settable_within_range() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    assert_eq!(dev.set_period_us(20_000), Ok(0));
    assert_eq!(dev.status().period_us, 20_000);
    assert_eq!(sysfs("period_us"), "20000");
    for bad in [0, 999, 10_000_001, u32::MAX] {
        assert_eq!(dev.set_period_us(bad), Err(libc::EINVAL), "{bad}");
    }
    let mut p = abi::Period {
        period_us: 20_000,
        reserved: 1,
    };
    assert_eq!(dev.ioctl(abi::IOC_SET_PERIOD, &mut p), Err(libc::EINVAL));
    std::fs::write(format!("{}/period_us", vmtests::dev::SYSFS), "30000\n").expect("sysfs write");
    assert_eq!(dev.status().period_us, 30_000);
    for bad in ["0", "abc", " ", "-5", "99999999999", "10000001"] {
        let r = std::fs::write(format!("{}/period_us", vmtests::dev::SYSFS), bad);
        assert_eq!(
            r.map_err(|e| e.raw_os_error()),
            Err(Some(libc::EINVAL)),
            "{bad:?}"
        );
    }
    dev.clean();
}

#[test]
fn unknown_commands_get_enotty() {
    require_lab();
    let dev = Dev::open();
    let mut scratch = [0u8; 256];
    let mut tried = 0;
    // Every number of our type byte, each direction and some sizes; and
    // other type bytes; and the known numbers with a wrong size.
    for nr in 0..=255u32 {
        for dir in 0..4u32 {
            for size in [0u32, 8, 16, 48, 96, 255] {
                let req = (dir << 30) | (size << 16) | (abi::IOC_MAGIC << 8) | nr;
                if KNOWN_IOCTLS.contains(&req) {
                    continue;
                }
                assert_eq!(
                    dev.ioctl(req, scratch.as_mut_ptr()),
                    Err(libc::ENOTTY),
                    "request {req:#x}"
                );
                tried += 1;
            }
        }
    }
    for req in [0u32, 1, 0x5401 /* TCGETS */, 0xdead_beef, u32::MAX] {
        assert_eq!(dev.ioctl(req, scratch.as_mut_ptr()), Err(libc::ENOTTY));
    }
    assert!(tried > 6000);
}

#[test]
fn bad_pointers_get_efault() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    for ptr in BAD_POINTERS {
        // Every request with an argument (RESET takes none).
        for req in KNOWN_IOCTLS.into_iter().filter(|&r| r != abi::IOC_RESET) {
            assert_eq!(
                dev.ioctl_raw(req, ptr),
                Err(libc::EFAULT),
                "request {req:#x} ptr {ptr:#x}"
            );
        }
    }
    // LIST with a good struct but a bad array.
    dev.register(0).unwrap();
    for ptr in [8u64, 0xffff_8000_0000_0000] {
        let mut a = abi::List {
            capacity: 4,
            count: 0,
            pids: ptr,
        };
        assert_eq!(
            dev.ioctl(abi::IOC_LIST, &mut a),
            Err(libc::EFAULT),
            "pids {ptr:#x}"
        );
    }
    let mut a = abi::List {
        capacity: 4,
        count: 0,
        pids: 0,
    };
    assert_eq!(
        dev.ioctl(abi::IOC_LIST, &mut a),
        Err(libc::EINVAL),
        "room but no array"
    );
    dev.clean();
}

#[test]
fn bad_arguments_get_their_errno() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let cases: [(i32, u32, i32); 6] = [
        (-1, 0, libc::EINVAL),
        (i32::MIN, 0, libc::EINVAL),
        // Bit 0 is PFPROF_REG_TREE; the next is unknown.
        (0, 2, libc::EINVAL),
        (0, u32::MAX, libc::EINVAL),
        (i32::MAX, 0, libc::ESRCH),
        (4_194_305, 0, libc::ESRCH),
    ];
    for (pid, flags, errno) in cases {
        let mut a = abi::PidArg { pid, flags };
        assert_eq!(
            dev.ioctl(abi::IOC_REGISTER, &mut a),
            Err(errno),
            "REGISTER {pid} {flags}"
        );
    }
    let mut a = abi::PidArg { pid: -5, flags: 0 };
    assert_eq!(dev.ioctl(abi::IOC_UNREGISTER, &mut a), Err(libc::EINVAL));
    let mut q = abi::ProcStats {
        pid: 0,
        reserved: 7,
        ..Default::default()
    };
    assert_eq!(dev.ioctl(abi::IOC_QUERY_PID, &mut q), Err(libc::EINVAL));
    assert!(dev.list().is_empty());
}
