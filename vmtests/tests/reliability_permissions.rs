//! The permissions matrix: root, the owner (an unprivileged uid running its
//! own process) and another unprivileged user, against each operation on
//! root's and on the owner's process and on the module's global state; each
//! gets exactly the documented result (README: EPERM for another user's
//! process and for RESET and SET_PERIOD without CAP_SYS_ADMIN, EACCES from
//! the 0644 mode of period_us, EPERM for a writable extended mapping).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use vmtests::dev::{abi, Dev};
use vmtests::{probe_as, require_lab};

const ROOT: u32 = 0;
const OWNER: u32 = 1000;
const OTHER: u32 = 1001;

fn sleeper(uid: u32) -> Child {
    Command::new("sleep")
        .arg("1000")
        .uid(uid)
        .gid(uid)
        .spawn()
        .unwrap()
}

fn name(uid: u32) -> &'static str {
    match uid {
        ROOT => "root",
        OWNER => "owner",
        _ => "other",
    }
}

#[test]
fn each_user_gets_exactly_the_documented_result() {
    require_lab();
    let dev = Dev::open();
    dev.clean();
    let mut roots = sleeper(ROOT);
    let mut owners = sleeper(OWNER);
    let ok = "ok".to_owned();
    let errno = |e: i32| format!("errno {e}");
    let mut checked = 0;
    let mut mismatches = Vec::new();
    let mut expect = |who: u32, what: &str, got: String, want: &String| {
        checked += 1;
        if &got != want {
            mismatches.push(format!("{} {what}: got {got}, want {want}", name(who)));
        }
    };
    for who in [ROOT, OWNER, OTHER] {
        for (whose, target) in [
            ("root's", roots.id() as i32),
            ("owner's", owners.id() as i32),
        ] {
            let allowed = who == ROOT || (who == OWNER && whose == "owner's");
            let want = if allowed {
                ok.clone()
            } else {
                errno(libc::EPERM)
            };
            let t = target.to_string();
            let unreg = || {
                let _ = dev.unregister(target);
            };
            let reg = || {
                let _ = dev.register(target);
            };
            unreg();
            expect(
                who,
                &format!("register {whose}"),
                probe_as(who, &["register", &t]),
                &want,
            );
            reg();
            expect(
                who,
                &format!("query-pid {whose}"),
                probe_as(who, &["query-pid", &t]),
                &want,
            );
            expect(
                who,
                &format!("unregister {whose}"),
                probe_as(who, &["unregister", &t]),
                &want,
            );
            unreg();
            let r = format!("R {t}");
            expect(
                who,
                &format!("proc R {whose}"),
                probe_as(who, &["proc-write", &r]),
                &want,
            );
            reg();
            let u = format!("U {t}");
            expect(
                who,
                &format!("proc U {whose}"),
                probe_as(who, &["proc-write", &u]),
                &want,
            );
            unreg();
        }
        let privileged = if who == ROOT {
            ok.clone()
        } else {
            errno(libc::EPERM)
        };
        expect(who, "reset", probe_as(who, &["reset"]), &privileged);
        expect(
            who,
            "set-period",
            probe_as(who, &["set-period", "20000"]),
            &privileged,
        );
        let sysfs = if who == ROOT {
            ok.clone()
        } else {
            errno(libc::EACCES)
        };
        expect(
            who,
            "sysfs period_us",
            probe_as(who, &["sysfs-period", "30000"]),
            &sysfs,
        );
        expect(
            who,
            "mmap classic rw",
            probe_as(who, &["mmap-classic-rw"]),
            &ok,
        );
        expect(who, "mmap ext ro", probe_as(who, &["mmap-ext"]), &ok);
        expect(
            who,
            "mmap ext rw",
            probe_as(who, &["mmap-ext-rw"]),
            &errno(libc::EPERM),
        );
        expect(who, "status", probe_as(who, &["status"]), &ok);
        expect(who, "list", probe_as(who, &["list"]), &ok);
        dev.set_period_us(abi::PERIOD_DEFAULT_US).unwrap();
    }
    eprintln!("{checked} cells checked");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert_eq!(checked, 3 * (2 * 5 + 8));
    for c in [&mut roots, &mut owners] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    dev.clean();
}
