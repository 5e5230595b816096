//! Test helper for the in-VM suite: performs one operation on the module
//! and prints `ok` or `errno N`, so a test can run it as another user.
//!
//! `probe register|unregister|query-pid PID`, `probe reset`,
//! `probe set-period US`, `probe proc-write TEXT`, `probe sysfs-period US`,
//! `probe status`, `probe list`, `probe mmap-classic-rw`, `probe mmap-ext`,
//! `probe mmap-ext-rw`.

use std::io::Write;

use vmtests::dev::{abi, proc_write, Dev, Mapping, SYSFS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).unwrap_or("") };
    let num = |i: usize| -> i64 { arg(i).parse().expect("a number") };
    let dev = Dev::open();
    let result: Result<(), i32> = match arg(0) {
        "register" => dev.register(num(1) as i32).map(|_| ()),
        "unregister" => dev.unregister(num(1) as i32).map(|_| ()),
        "query-pid" => dev.proc_stats(num(1) as i32).map(|_| ()),
        "reset" => dev.reset().map(|_| ()),
        "set-period" => dev.set_period_us(num(1) as u32).map(|_| ()),
        "proc-write" => proc_write(arg(1).as_bytes()),
        "sysfs-period" => std::fs::OpenOptions::new()
            .write(true)
            .open(format!("{SYSFS}/period_us"))
            .and_then(|mut f| f.write_all(arg(1).as_bytes()))
            .map_err(|e| e.raw_os_error().unwrap_or(0)),
        "status" => {
            let mut s = abi::Status::default();
            dev.ioctl(abi::IOC_QUERY, &mut s).map(|_| ())
        }
        "list" => {
            let mut l = abi::List::default();
            dev.ioctl(abi::IOC_LIST, &mut l).map(|_| ())
        }
        "mmap-classic-rw" => Mapping::new(
            &dev,
            0,
            abi::CLASSIC_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
        )
        .map(|_| ()),
        "mmap-ext" => Mapping::new(
            &dev,
            abi::EXT_OFFSET,
            abi::EXT_SIZE as usize,
            libc::PROT_READ,
            libc::MAP_SHARED,
        )
        .map(|_| ()),
        "mmap-ext-rw" => Mapping::new(
            &dev,
            abi::EXT_OFFSET,
            abi::EXT_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
        )
        .map(|_| ()),
        other => panic!("unknown operation {other:?}"),
    };
    match result {
        Ok(()) => println!("ok"),
        Err(e) => println!("errno {e}"),
    }
}
