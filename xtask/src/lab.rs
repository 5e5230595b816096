//! Running a driver's command in the lab VM and requiring it to pass: the
//! one place where lab problems (a timeout, a failed setup step, a kernel
//! splat, a failed rmmod) and the command's exit code become an error.
//! The benchmark, the case studies, the demo and the stress run use it.

use crate::err;
use crate::util::Result;
use crate::vm::{self, Outcome, VmArgs};

/// Turns what went wrong in a VM run into one error naming `what` ran: a
/// problem of the lab first (its message points to the kernel log), then a
/// non-zero or missing exit code.
pub fn check(outcome: &Outcome, what: &str) -> Result<()> {
    if let Some(problem) = outcome.lab_problem() {
        return Err(err!("{what}: the lab VM failed: {problem}"));
    }
    match outcome.exit_code {
        Some(0) => Ok(()),
        Some(code) => Err(err!("{what} failed in the VM (exit code {code})")),
        // lab_problem reports a missing exit code; this is for safety.
        None => Err(err!("{what} failed in the VM (no exit code reported)")),
    }
}

/// Boots the lab VM, runs `args.cmd` (`what`, for messages) and returns
/// the outcome if it passed ([`check`]).
pub fn run(args: &VmArgs, capture: bool, what: &str) -> Result<Outcome> {
    let outcome = vm::run(args, capture)?;
    check(&outcome, what)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(exit_code: Option<i32>) -> Outcome {
        Outcome {
            exit_code,
            timed_out: false,
            setup_failed: None,
            rmmod_failed: false,
            splats: Vec::new(),
            kernel_log: "/k.log".into(),
            stdout: String::new(),
        }
    }

    #[test]
    fn lab_problems_and_exit_codes_become_one_error() {
        assert!(check(&outcome(Some(0)), "demo").is_ok());
        let e = check(&outcome(Some(3)), "the demo").unwrap_err().0;
        assert_eq!(e, "the demo failed in the VM (exit code 3)");
        let e = check(&outcome(None), "x").unwrap_err().0;
        assert!(e.starts_with("x: the lab VM failed: "), "{e}");
        assert!(e.contains("exit code"), "{e}");
        let mut timed_out = outcome(Some(0));
        timed_out.timed_out = true;
        let e = check(&timed_out, "bench").unwrap_err().0;
        assert!(e.starts_with("bench: the lab VM failed: "), "{e}");
        assert!(e.contains("/k.log"), "{e}");
        // A lab problem wins over the exit code it caused.
        let mut splat = outcome(Some(1));
        splat.splats = vec!["BUG: x".into()];
        assert!(check(&splat, "s").unwrap_err().0.contains("splat"));
    }
}
