//! Permissions: an unprivileged user (uid 65534 in the guest) gets exactly
//! what it may have, and EPERM/EACCES for the rest.

use std::os::unix::process::CommandExt;
use std::process::Command;

use vmtests::dev::{proc_pids, Dev, Faulter};
use vmtests::{probe_as, require_lab};

const NOBODY: u32 = 65534;

#[test]
fn an_unprivileged_user_is_denied_what_it_must_be() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let root_proc = Faulter::start(1, 0);
    let rp = root_proc.pid().to_string();
    let eperm = format!("errno {}", libc::EPERM);
    let eacces = format!("errno {}", libc::EACCES);

    // Another user's (root's) process: no register, query or unregister.
    assert_eq!(probe_as(NOBODY, &["register", &rp]), eperm);
    assert_eq!(probe_as(NOBODY, &["proc-write", &format!("R {rp}")]), eperm);
    dev.register(root_proc.pid()).unwrap();
    assert_eq!(probe_as(NOBODY, &["query-pid", &rp]), eperm);
    assert_eq!(probe_as(NOBODY, &["unregister", &rp]), eperm);
    assert_eq!(probe_as(NOBODY, &["proc-write", &format!("U {rp}")]), eperm);
    assert_eq!(dev.list(), vec![root_proc.pid()], "still registered");
    // Privileged operations.
    assert_eq!(probe_as(NOBODY, &["reset"]), eperm);
    assert_eq!(probe_as(NOBODY, &["set-period", "20000"]), eperm);
    assert_eq!(
        probe_as(NOBODY, &["sysfs-period", "20000"]),
        eacces,
        "period_us is 0644"
    );
    assert_eq!(dev.status().period_us, 50_000);
    // What anyone may do: read the figures, map the buffer, register
    // themselves (pid 0; the probe then exits, and the sampler drops it).
    assert_eq!(probe_as(NOBODY, &["status"]), "ok");
    assert_eq!(probe_as(NOBODY, &["list"]), "ok");
    assert_eq!(probe_as(NOBODY, &["mmap-ext"]), "ok");
    assert_eq!(probe_as(NOBODY, &["register", "0"]), "ok");
    dev.wait_ticks(2);
    assert_eq!(
        dev.list(),
        vec![root_proc.pid()],
        "the exited probe is gone"
    );
    // Root may do everything with anyone's process.
    let mut theirs = Command::new("sleep")
        .arg("30")
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .unwrap();
    let tp = theirs.id() as i32;
    assert_eq!(probe_as(NOBODY, &["register", &tp.to_string()]), "ok");
    assert_eq!(dev.proc_stats(tp).map(|s| s.pid), Ok(tp));
    assert_eq!(dev.unregister(tp), Ok(0));
    assert_eq!(dev.register(tp), Ok(tp));
    assert_eq!(dev.unregister(tp), Ok(0));
    assert_eq!(proc_pids(), vec![root_proc.pid()]);
    theirs.kill().unwrap();
    theirs.wait().unwrap();
    root_proc.finish();
    dev.clean();
}

#[test]
fn a_user_may_register_its_own_processes_by_pid() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    // A process of user 65534, registered by user 65534.
    let mut child = Command::new("sleep")
        .arg("30")
        .uid(NOBODY)
        .gid(NOBODY)
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    assert_eq!(probe_as(NOBODY, &["register", &pid]), "ok");
    assert_eq!(probe_as(NOBODY, &["query-pid", &pid]), "ok");
    assert_eq!(probe_as(NOBODY, &["unregister", &pid]), "ok");
    assert_eq!(probe_as(NOBODY, &["proc-write", &format!("R {pid}")]), "ok");
    assert_eq!(probe_as(NOBODY, &["proc-write", &format!("U {pid}")]), "ok");
    // Another unprivileged user may not.
    assert_eq!(
        probe_as(1000, &["register", &pid]),
        format!("errno {}", libc::EPERM)
    );
    child.kill().unwrap();
    child.wait().unwrap();
    dev.clean();
}
