//! The module loads, registers the character device 423:0 and
//! /proc/mp3/status, and unloads cleanly.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use vmtests::dev::PROC_STATUS;
use vmtests::{module_path, require_lab, sh};

fn devices_line() -> Option<String> {
    fs::read_to_string("/proc/devices")
        .expect("read /proc/devices")
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("pfprof"))
        .map(|l| l.trim().to_owned())
}

#[test]
fn char_device_423_is_registered_as_pfprof() {
    require_lab();
    assert_eq!(devices_line().as_deref(), Some("423 pfprof"));
}

#[test]
fn proc_status_exists_with_mode_0666() {
    require_lab();
    let meta = fs::metadata(PROC_STATUS).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);
}

#[test]
fn proc_status_reads_empty_when_nothing_is_registered() {
    require_lab();
    assert_eq!(fs::read_to_string(PROC_STATUS).unwrap(), "");
}

#[test]
fn a_node_made_with_mknod_opens() {
    require_lab();
    let node = "/tmp/pfprof-node";
    let _ = fs::remove_file(node);
    assert!(sh(&format!("mknod {node} c 423 0")));
    assert!(fs::metadata(node).unwrap().file_type().is_char_device());
    fs::File::open(node).expect("open 423:0");
    fs::remove_file(node).unwrap();
}

#[test]
fn the_module_unloads_cleanly_and_loads_again() {
    require_lab();
    let ko = module_path();
    assert!(sh("rmmod pfprof"), "rmmod failed");
    assert_eq!(devices_line(), None, "423 still registered after rmmod");
    assert!(
        !std::path::Path::new("/proc/mp3").exists(),
        "/proc/mp3 left behind"
    );
    assert!(sh(&format!("insmod {}", ko.display())), "insmod failed");
    assert_eq!(devices_line().as_deref(), Some("423 pfprof"));
    assert!(std::path::Path::new(PROC_STATUS).exists());
}

#[test]
fn an_open_file_pins_the_module() {
    require_lab();
    let node = "/tmp/pfprof-pin";
    let _ = fs::remove_file(node);
    assert!(sh(&format!("mknod {node} c 423 0")));
    let f = fs::File::open(node).unwrap();
    assert!(
        !sh("rmmod pfprof 2>/dev/null"),
        "rmmod succeeded with the device open"
    );
    drop(f);
    fs::remove_file(node).unwrap();
}

#[test]
fn rmmod_while_registered_releases_everything() {
    require_lab();
    let ko = module_path();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    fs::write(PROC_STATUS, format!("R {}", child.id())).unwrap();
    assert!(sh("rmmod pfprof"), "rmmod with a process registered");
    assert_eq!(devices_line(), None);
    assert!(sh(&format!("insmod {}", ko.display())), "insmod failed");
    assert_eq!(
        fs::read_to_string(PROC_STATUS).unwrap(),
        "",
        "a fresh registry"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_mapping_pins_the_module() {
    require_lab();
    let dev = vmtests::dev::Dev::open();
    let m = vmtests::dev::Mapping::new(&dev, 0, 4096, libc::PROT_READ, libc::MAP_SHARED).unwrap();
    drop(dev); // the mapping alone must hold the module
    assert!(
        !sh("rmmod pfprof 2>/dev/null"),
        "rmmod succeeded with the buffer mapped"
    );
    drop(m);
    assert!(sh("rmmod pfprof"), "rmmod after unmapping");
    assert!(sh(&format!("insmod {}", module_path().display())));
}
