//! Test workload for the in-VM reliability suite: `memhog MB`.
//!
//! Maps MB MiB of anonymous memory once and prints `ready`; for each `fault`
//! line on stdin writes one byte to every page of it and prints `done`;
//! exits on `exit` or end of input. With more MiB than the guest's RAM and a
//! swap device, the second and later passes take major faults.

use std::io::{BufRead, Write};

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .expect("usage: memhog MB");
    let page = 4096;
    let len = mb << 20;
    // SAFETY: A new private anonymous mapping; nothing else refers to it.
    let area = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(area, libc::MAP_FAILED, "mmap");
    let mut out = std::io::stdout();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    let mut pass = 0u8;
    for line in std::io::stdin().lock().lines() {
        match line.expect("stdin").trim() {
            "fault" => {
                pass = pass.wrapping_add(1);
                for i in 0..len / page {
                    // SAFETY: In bounds of the mapping; volatile so the
                    // store happens.
                    unsafe { std::ptr::write_volatile(area.cast::<u8>().add(i * page), pass) };
                }
                writeln!(out, "done").expect("stdout");
                out.flush().expect("stdout");
            }
            "exit" => break,
            other => panic!("unknown command {other:?}"),
        }
    }
}
