//! The pids of `-p/--pid PID[,PID...]`, shared by every tool (monitor,
//! pfprof-top, pfprof register/unregister, pfprof-plot's `--pids`): thread
//! ids mapped to their process, duplicates merged, dead ones reported and
//! skipped; a run fails only when none is alive ([`resolve_alive`]).

use std::io::Write;

use libpfprof::Pid;

use crate::{Result, ToolError};

/// The `Tgid:` (the process) of a `/proc/PID/status` text.
pub fn tgid_of_status(status: &str) -> Option<i32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The command name of a process (`/proc/PID/comm`), if it is alive.
pub fn comm(pid: Pid) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end_matches('\n').to_owned())
}

/// The process `id` belongs to (itself for a process, its thread group
/// leader for a thread), or `None` when no such task is alive.
pub fn process_of(id: Pid) -> Option<Pid> {
    let status = std::fs::read_to_string(format!("/proc/{id}/status")).ok()?;
    // A zombie is gone for our purposes: it faults no more.
    if status
        .lines()
        .any(|l| l.starts_with("State:") && (l.contains("zombie") || l.contains("dead")))
    {
        return None;
    }
    tgid_of_status(&status).and_then(Pid::new)
}

/// Maps every id to its process, in the order given, without duplicates;
/// an id with no live task is reported on `err` (`TOOL: no process 123,
/// skipped`) and left out; a thread is reported as mapped.
pub fn resolve(tool: &str, ids: &[Pid], err: &mut impl Write) -> Result<Vec<Pid>> {
    let mut out: Vec<Pid> = Vec::new();
    for &id in ids {
        match process_of(id) {
            None => writeln!(err, "{tool}: no process {id}, skipped")?,
            Some(p) => {
                if p != id {
                    writeln!(err, "{tool}: {id} is a thread of process {p}")?;
                }
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
    }
    Ok(out)
}

/// Maps every id to its process like [`resolve`], but keeps an id with no
/// live task as it is (reported on `err`): a filter of records, which
/// outlive their process.
pub fn resolve_keeping_dead(tool: &str, ids: &[Pid], err: &mut impl Write) -> Result<Vec<Pid>> {
    let mut out: Vec<Pid> = Vec::new();
    for &id in ids {
        let p = match process_of(id) {
            None => {
                writeln!(
                    err,
                    "{tool}: process {id} is not alive: only its past records"
                )?;
                id
            }
            Some(p) => {
                if p != id {
                    writeln!(err, "{tool}: {id} is a thread of process {p}")?;
                }
                p
            }
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// [`resolve`], and an error when none of the processes is alive.
pub fn resolve_alive(tool: &str, ids: &[Pid], err: &mut impl Write) -> Result<Vec<Pid>> {
    let alive = resolve(tool, ids, err)?;
    if alive.is_empty() {
        return Err(ToolError::Msg(
            "none of the processes given with -p/--pid is alive".to_owned(),
        ));
    }
    Ok(alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tgid_is_read_from_status() {
        let s =
            "Name:\twork\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4250\n";
        assert_eq!(tgid_of_status(s), Some(4242));
        assert_eq!(tgid_of_status("Name:\tx\n"), None);
    }

    #[test]
    fn threads_map_to_their_process_and_duplicates_merge() {
        let me = Pid::this();
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(nix::unistd::gettid().as_raw()).unwrap();
            done_rx.recv().unwrap();
        });
        let tid = Pid::new(rx.recv().unwrap()).unwrap();
        assert_ne!(tid, me);
        let mut err = Vec::new();
        // pid_max is at most 2^22: this one is never alive.
        let dead = Pid::new(4_194_304 + 7).unwrap();
        let got = resolve("tool", &[me, tid, dead, me], &mut err).unwrap();
        let mut kept_err = Vec::new();
        let kept = resolve_keeping_dead("tool", &[dead, tid, me, dead], &mut kept_err).unwrap();
        done_tx.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(got, [me]);
        let err = String::from_utf8(err).unwrap();
        assert!(
            err.contains(&format!("{tid} is a thread of process {me}")),
            "{err}"
        );
        assert!(
            err.contains(&format!("tool: no process {dead}, skipped")),
            "{err}"
        );
        assert_eq!(kept, [dead, me]);
        let err = String::from_utf8(kept_err).unwrap();
        assert!(
            err.contains(&format!(
                "tool: process {dead} is not alive: only its past records"
            )),
            "{err}"
        );
        let e = resolve_alive("tool", &[dead], &mut Vec::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "none of the processes given with -p/--pid is alive"
        );
    }
}
