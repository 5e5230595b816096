//! SIGINT and SIGTERM (and, on pfprof-top's screen, SIGTSTP and SIGCONT)
//! as flags, and signal-aware waiting, shared by every tool: the handler
//! sets a flag and writes a byte to a self-pipe, so a wait that polls the
//! pipe with the interval as its timeout ends at once (within a
//! millisecond of the signal, never a `thread::sleep` that resumes).
//! Handlers are reset by exec, so a child started afterwards still gets
//! the default action.

use std::io;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// The self-pipe's read end, created once for the process: every
/// [`Signals`] polls the same pipe.
static PIPE_READ: OnceLock<OwnedFd> = OnceLock::new();
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static STOP_ASKED: AtomicBool = AtomicBool::new(false);
static CONTINUED: AtomicBool = AtomicBool::new(false);
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The last SIGINT or SIGTERM was sent by a process (kill(2)), not by the
/// terminal (Ctrl-C, which reaches the whole foreground process group).
static SENT_BY_PROCESS: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal_info(
    sig: nix::libc::c_int,
    info: *mut nix::libc::siginfo_t,
    _: *mut nix::libc::c_void,
) {
    // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t; reading
    // a field of it is async-signal-safe. si_code <= 0 is SI_USER, SI_QUEUE,
    // SI_TKILL...: sent by a process; the terminal's are SI_KERNEL.
    let by_process = !info.is_null() && unsafe { (*info).si_code } <= 0;
    SENT_BY_PROCESS.store(by_process, Ordering::SeqCst);
    on_signal(sig);
}

extern "C" fn on_signal(sig: nix::libc::c_int) {
    match sig {
        nix::libc::SIGTSTP => STOP_ASKED.store(true, Ordering::SeqCst),
        nix::libc::SIGCONT => CONTINUED.store(true, Ordering::SeqCst),
        _ => {
            LAST_SIGNAL.store(sig, Ordering::SeqCst);
            INTERRUPTED.store(true, Ordering::SeqCst);
        }
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
    let flags = match handler {
        SigHandler::SigAction(_) => SaFlags::SA_RESTART | SaFlags::SA_SIGINFO,
        _ => SaFlags::SA_RESTART,
    };
    let action = SigAction::new(handler, flags, SigSet::empty());
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
    read: &'static OwnedFd,
}

impl Signals {
    /// Installs the handlers of SIGINT and SIGTERM.
    pub fn install() -> io::Result<Signals> {
        let read = match PIPE_READ.get() {
            Some(r) => r,
            None => {
                let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
                    .map_err(io::Error::from)?;
                // A concurrent first install (tests) may win: its pipe is
                // the one, and this one is closed.
                let read = PIPE_READ.get_or_init(|| {
                    PIPE_WRITE.store(write.into_raw_fd(), Ordering::SeqCst);
                    read
                });
                read
            }
        };
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            set_handler(sig, SigHandler::SigAction(on_signal_info))?;
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
        interrupted()
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
            // After SIGINT or SIGTERM the pipe stays readable, so that every
            // waiter (another thread's too) wakes; other bytes (SIGTSTP,
            // SIGCONT) are drained.
            if !self.interrupted() {
                self.drain();
            }
        }
    }

    /// Waits for `d` or SIGINT/SIGTERM.
    pub fn wait(&self, d: Duration) -> Wake {
        self.wait_until(Instant::now() + d)
    }
}

/// Installs the handlers of SIGINT and SIGTERM ([`Signals::install`]).
pub fn catch_interrupts() -> io::Result<Signals> {
    Signals::install()
}

/// Whether SIGINT or SIGTERM arrived since the handlers were installed.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The last of SIGINT and SIGTERM that arrived, if any.
pub fn last_signal() -> Option<Signal> {
    match LAST_SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// Whether the last SIGINT or SIGTERM came from a process (`kill`), not
/// from the terminal: `pfprof run` passes such a signal on to its command,
/// which the terminal's Ctrl-C reaches by itself.
pub fn sent_by_process() -> bool {
    SENT_BY_PROCESS.load(Ordering::SeqCst)
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
