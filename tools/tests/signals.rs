//! SIGINT and SIGTERM end a wait at once ([`pfprof_tools::signal`]). A test
//! binary of its own: the signal sets a process-wide flag.

use std::time::{Duration, Instant};

use nix::sys::signal::{raise, Signal};
use pfprof_tools::signal::{self, Signals, Wake};

#[test]
fn a_signal_ends_a_long_wait_at_once_in_every_waiting_thread() {
    let s = Signals::install().unwrap();
    assert!(!signal::interrupted());
    let t = Instant::now();
    // A second waiter on another thread wakes too.
    let other = std::thread::spawn(|| {
        let s = Signals::install().unwrap();
        (s.wait(Duration::from_secs(20)), Instant::now())
    });
    let raiser = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(100));
        raise(Signal::SIGTERM).unwrap();
        Instant::now()
    });
    assert_eq!(s.wait(Duration::from_secs(20)), Wake::Interrupted);
    let woke = Instant::now();
    let raised = raiser.join().unwrap();
    let (other_wake, other_woke) = other.join().unwrap();
    assert_eq!(other_wake, Wake::Interrupted);
    let latency = woke.saturating_duration_since(raised);
    let other_latency = other_woke.saturating_duration_since(raised);
    eprintln!("woke {latency:?} and {other_latency:?} after the signal");
    assert!(latency < Duration::from_millis(100), "{latency:?}");
    assert!(
        other_latency < Duration::from_millis(100),
        "{other_latency:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(signal::last_signal(), Some(Signal::SIGTERM));
    assert!(signal::sent_by_process(), "raise(3) is a process's signal");
    // Every later wait ends at once.
    assert_eq!(s.wait(Duration::from_secs(20)), Wake::Interrupted);
}
