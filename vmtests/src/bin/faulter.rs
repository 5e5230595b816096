//! Test workload for the in-VM suite: `faulter PAGES THREADS`.
//!
//! Prints `ready`, then for each `fault` line on stdin makes THREADS threads
//! (or the main thread, when THREADS is 0) each touch PAGES fresh anonymous
//! pages and exit, and prints `done`; exits on `exit` or end of input.

use std::io::{BufRead, Write};

/// Touches `pages` fresh anonymous pages (a new mapping each time, so each
/// write is a page fault whatever the allocator would have reused).
fn touch(pages: usize) {
    let page = 4096;
    let len = pages * page;
    // SAFETY: A new private anonymous mapping; nothing else refers to it.
    let area = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(area, libc::MAP_FAILED, "mmap");
    for i in 0..pages {
        // SAFETY: In bounds of the mapping; volatile so the store happens.
        unsafe { std::ptr::write_volatile(area.cast::<u8>().add(i * page), 1) };
    }
    // SAFETY: Our mapping, no longer used.
    unsafe { libc::munmap(area, len) };
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("usage: faulter PAGES THREADS"))
        .collect();
    let (pages, threads) = match args[..] {
        [p, t] => (p, t),
        _ => panic!("usage: faulter PAGES THREADS"),
    };
    let mut out = std::io::stdout();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    for line in std::io::stdin().lock().lines() {
        match line.expect("stdin").trim() {
            "fault" => {
                if threads == 0 {
                    touch(pages);
                } else {
                    let handles: Vec<_> = (0..threads)
                        .map(|_| std::thread::spawn(move || touch(pages)))
                        .collect();
                    for h in handles {
                        h.join().expect("thread");
                    }
                }
                writeln!(out, "done").expect("stdout");
                out.flush().expect("stdout");
            }
            "exit" => break,
            other => panic!("unknown command {other:?}"),
        }
    }
}
