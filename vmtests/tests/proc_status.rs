//! /proc/mp3/status: the classic registration interface.

use vmtests::dev::{proc_pids, proc_write, Dev, Faulter};
use vmtests::require_lab;

#[test]
fn register_list_and_unregister_through_proc() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let f = Faulter::start(1, 0);
    let pid = f.pid();
    proc_write(format!("R {pid}\n").as_bytes()).expect("R");
    assert_eq!(proc_pids(), vec![pid]);
    assert_eq!(dev.list(), vec![pid], "one registry for proc and ioctl");
    assert_eq!(proc_write(format!("R {pid}").as_bytes()), Err(libc::EEXIST));
    proc_write(format!("U {pid}").as_bytes()).expect("U");
    assert_eq!(proc_pids(), Vec::<i32>::new());
    assert_eq!(proc_write(format!("U {pid}").as_bytes()), Err(libc::ENOENT));
    proc_write(format!("R,{pid}").as_bytes()).expect("R,<pid> is accepted too");
    assert_eq!(proc_pids(), vec![pid]);
    f.finish();
    dev.clean();
}

#[test]
fn reading_lists_every_pid_one_per_line() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let fs: Vec<Faulter> = (0..3).map(|_| Faulter::start(1, 0)).collect();
    for f in &fs {
        proc_write(format!("R {}", f.pid()).as_bytes()).expect("R");
    }
    let text = std::fs::read_to_string(vmtests::dev::PROC_STATUS).unwrap();
    let mut want: Vec<i32> = fs.iter().map(Faulter::pid).collect();
    want.sort();
    assert_eq!(
        text,
        want.iter().map(|p| format!("{p}\n")).collect::<String>()
    );
    for f in fs {
        f.finish();
    }
    dev.clean();
}

#[test]
fn bad_strings_get_einval_and_change_nothing() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let me = std::process::id();
    let bad: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\n".to_vec(),
        b"R".to_vec(),
        b"R ".to_vec(),
        b"R\n".to_vec(),
        b"X 1".to_vec(),
        b"r 1".to_vec(),
        b"RR 1".to_vec(),
        b"R 0".to_vec(),
        b"R -1".to_vec(),
        b"R +1".to_vec(),
        b"R 1x".to_vec(),
        b"R 0x10".to_vec(),
        b"R 2147483648".to_vec(),
        b"R 99999999999".to_vec(),
        b"R 1 2".to_vec(),
        b"R\x001".to_vec(),
        format!("R {me} U {me}").into_bytes(),
        b"U,,1".to_vec(),
        vec![b'R', b' ', 0xff, 0xfe],
        vec![b'7'; 65],
        vec![b' '; 4096],
        // Over the 64-byte limit, however valid the command in it.
        format!("R {}{}", " ".repeat(64), me).into_bytes(),
    ];
    for input in &bad {
        assert_eq!(
            proc_write(input),
            Err(libc::EINVAL),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    assert!(proc_pids().is_empty(), "a bad write changed the registry");
}

#[test]
fn unknown_pids_get_esrch() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    // pid_max is at most 4194304: this pid cannot exist.
    assert_eq!(proc_write(b"R 2147483647"), Err(libc::ESRCH));
    assert_eq!(proc_write(b"U 2147483647"), Err(libc::ENOENT));
    assert!(proc_pids().is_empty());
}

#[test]
fn a_thread_id_registers_its_process() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let me = std::process::id() as i32;
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    assert_ne!(
        tid, me,
        "the test harness runs tests on a thread of their own"
    );
    proc_write(format!("R {tid}").as_bytes()).expect("R <tid>");
    assert_eq!(proc_pids(), vec![me]);
    proc_write(format!("U {tid}").as_bytes()).expect("U <tid>");
    assert!(proc_pids().is_empty());
}

#[test]
fn a_read_in_small_pieces_sees_one_snapshot() {
    use std::io::Read;
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let first: Vec<Faulter> = (0..3).map(|_| Faulter::start(1, 0)).collect();
    for f in &first {
        dev.register(f.pid()).unwrap();
    }
    let mut want: Vec<i32> = first.iter().map(Faulter::pid).collect();
    want.sort();
    let mut file = std::fs::File::open(vmtests::dev::PROC_STATUS).unwrap();
    let mut text = Vec::new();
    let mut piece = [0u8; 2];
    let n = file.read(&mut piece).unwrap();
    text.extend_from_slice(&piece[..n]);
    // The registry changes between the reads of one open file.
    dev.unregister(first[0].pid()).unwrap();
    let later: Vec<Faulter> = (0..3).map(|_| Faulter::start(1, 0)).collect();
    for f in &later {
        dev.register(f.pid()).unwrap();
    }
    loop {
        let n = file.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        text.extend_from_slice(&piece[..n]);
    }
    let got: Vec<i32> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(got, want, "the list as of open()");
    for f in first.into_iter().chain(later) {
        f.finish();
    }
    dev.clean();
}
