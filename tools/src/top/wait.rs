//! Signal-aware waiting: SIGINT and SIGTERM (and, on the screen, SIGTSTP
//! and SIGCONT) set a flag and write a byte to a self-pipe, so a wait that
//! polls the pipe with the interval as its timeout ends at once.

use std::io;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static STOP_ASKED: AtomicBool = AtomicBool::new(false);
static CONTINUED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    match sig {
        nix::libc::SIGTSTP => STOP_ASKED.store(true, Ordering::SeqCst),
        nix::libc::SIGCONT => CONTINUED.store(true, Ordering::SeqCst),
        _ => INTERRUPTED.store(true, Ordering::SeqCst),
    }
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let b = 1u8;
        // SAFETY: write(2) is async-signal-safe; `b` outlives the call and
        // the descriptor is the pipe's write end, never closed. A full pipe
        // (non-blocking) just drops the byte: a wake-up is pending anyway.
        let _ = unsafe { nix::libc::write(fd, std::ptr::addr_of!(b).cast(), 1) };
    }
}

fn set_handler(sig: Signal, handler: SigHandler) -> io::Result<()> {
    let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: the handler only stores to atomics and calls write(2), which
    // are async-signal-safe.
    unsafe { sigaction(sig, &action) }
        .map(drop)
        .map_err(io::Error::from)
}

/// Why a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The time was up.
    Timeout,
    /// SIGINT or SIGTERM arrived.
    Interrupted,
}

/// The installed handlers and the pipe's read end.
#[derive(Debug)]
pub struct Signals {
    read: OwnedFd,
}

impl Signals {
    /// Installs the handlers of SIGINT and SIGTERM.
    pub fn install() -> io::Result<Signals> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        // A second install (tests) leaves the old write end open, unused.
        PIPE_WRITE.store(write.into_raw_fd(), Ordering::SeqCst);
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            set_handler(sig, SigHandler::Handler(on_signal))?;
        }
        Ok(Signals { read })
    }

    /// Also catches SIGTSTP and SIGCONT (the screen restores the terminal
    /// before it stops, and redraws when continued).
    pub fn catch_job_control(&self) -> io::Result<()> {
        set_handler(Signal::SIGTSTP, SigHandler::Handler(on_signal))?;
        set_handler(Signal::SIGCONT, SigHandler::Handler(on_signal))
    }

    /// Stops the process as SIGTSTP would (the terminal has been restored),
    /// and returns once it is continued.
    pub fn stop_self(&self) -> io::Result<()> {
        STOP_ASKED.store(false, Ordering::SeqCst);
        set_handler(Signal::SIGTSTP, SigHandler::SigDfl)?;
        nix::sys::signal::raise(Signal::SIGTSTP).map_err(io::Error::from)?;
        // Continued: catch the next one again.
        set_handler(Signal::SIGTSTP, SigHandler::Handler(on_signal))
    }

    /// Whether SIGINT or SIGTERM arrived.
    pub fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }

    /// Whether SIGTSTP arrived (and clears it).
    pub fn take_stop(&self) -> bool {
        STOP_ASKED.swap(false, Ordering::SeqCst)
    }

    /// Whether SIGCONT arrived (and clears it).
    pub fn take_continued(&self) -> bool {
        CONTINUED.swap(false, Ordering::SeqCst)
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(self.read.as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
    }

    /// Waits until `deadline` or SIGINT/SIGTERM, whichever comes first.
    pub fn wait_until(&self, deadline: Instant) -> Wake {
        loop {
            if self.interrupted() {
                return Wake::Interrupted;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::Timeout;
            }
            // Round up so that the wait does not end a little early.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut fds = [PollFd::new(self.read.as_fd(), PollFlags::POLLIN)];
            let _ = poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            );
            self.drain();
        }
    }

    /// Waits for `d` or SIGINT/SIGTERM.
    pub fn wait(&self, d: Duration) -> Wake {
        self.wait_until(Instant::now() + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_times_out() {
        let s = Signals::install().unwrap();
        let t = Instant::now();
        assert_eq!(s.wait(Duration::from_millis(30)), Wake::Timeout);
        assert!(t.elapsed() >= Duration::from_millis(30));
    }
}
