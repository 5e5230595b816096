//! Test workload for the memory figures of the in-VM suite: `memuser`.
//!
//! Prints `ready`, then for each command line on stdin does it and prints
//! `done`; exits on `exit` or end of input:
//!
//! - `anon MB`: maps MB MiB of private anonymous memory and writes every
//!   page (resident anonymous memory); again, it writes every page again,
//!   so that pages swapped out come back with major faults.
//! - `unmap`: unmaps that anonymous memory.
//! - `shmem MB`: maps MB MiB of shared anonymous memory (shmem) and writes
//!   every page.

use std::io::{BufRead, Write};

const PAGE: usize = 4096;

/// A mapping of ours, written page by page.
struct Area {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Area {
    fn map(mb: usize, flags: libc::c_int) -> Area {
        let len = mb << 20;
        // SAFETY: A new anonymous mapping; nothing else refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap of {mb} MiB");
        Area { ptr, len }
    }

    fn write_all(&self, value: u8) {
        for i in 0..self.len / PAGE {
            // SAFETY: In bounds of the mapping; volatile so the store happens.
            unsafe { std::ptr::write_volatile(self.ptr.cast::<u8>().add(i * PAGE), value) };
        }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: Our mapping, no longer used.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

fn main() {
    let mut anon: Option<Area> = None;
    let mut shmem: Vec<Area> = Vec::new();
    let mut pass = 0u8;
    let mut out = std::io::stdout();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin");
        let words: Vec<&str> = line.split_whitespace().collect();
        let mb = || -> usize {
            words
                .get(1)
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("{line:?}: a size in MiB is missing"))
        };
        pass = pass.wrapping_add(1);
        match words.first().copied() {
            Some("anon") => {
                anon = Some(Area::map(mb(), libc::MAP_PRIVATE));
                anon.as_ref().expect("mapped").write_all(pass);
            }
            Some("again") => anon.as_ref().expect("anon first").write_all(pass),
            Some("unmap") => anon = None,
            Some("shmem") => {
                let area = Area::map(mb(), libc::MAP_SHARED);
                area.write_all(pass);
                shmem.push(area);
            }
            Some("exit") => break,
            other => panic!("unknown command {other:?}"),
        }
        writeln!(out, "done").expect("stdout");
        out.flush().expect("stdout");
    }
}
