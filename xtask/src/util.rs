//! Small helpers shared by the xtask modules: errors and running commands.

use std::fmt;
use std::process::{Command, Stdio};

/// An xtask failure, with a message meant for the user.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error(err.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Error`] from a format string.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => { $crate::util::Error(format!($($arg)*)) };
}

/// Describes a command for messages: program and arguments, shell-quoted.
pub fn describe(cmd: &Command) -> String {
    let mut words = vec![shell_quote(&cmd.get_program().to_string_lossy())];
    words.extend(cmd.get_args().map(|a| shell_quote(&a.to_string_lossy())));
    words.join(" ")
}

/// Takes an exclusive lock on the file at `path` (created if need be) for
/// as long as the returned file lives, waiting for another xtask that holds
/// it, and saying so, since that may take minutes (`what` names the work).
pub fn lock_file(path: &std::path::Path, what: &str) -> Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| err!("cannot open the lock {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "xtask: waiting for another xtask's {what} (it holds {})",
                path.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(err!("cannot lock {}: {e}", path.display()))
        }
    }
    file.lock()
        .map_err(|e| err!("cannot lock {}: {e}", path.display()))?;
    Ok(file)
}

/// Runs a command with inherited stdio and fails unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| err!("cannot run `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(err!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Runs a command and returns its stdout; fails unless it exits with 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| err!("cannot run `{}`: {e}", describe(cmd)))?;
    if !out.status.success() {
        return Err(err!("`{}` failed ({})", describe(cmd), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command and returns its stdout, or `None` if it cannot run or fails.
pub fn try_output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Quotes a word for a POSIX shell; plain words stay as they are.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Builds the tools, examples and the bench harness the lab guest runs (release or debug),
/// under the repository's target/ (the guest sees the repository, not the
/// host's /tmp), and returns the directory that holds them.
pub fn build_guest_binaries(release: bool) -> Result<std::path::PathBuf> {
    let repo = crate::paths::repo();
    let target = repo.join("target");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&repo)
        .args([
            "build",
            "--quiet",
            "-p",
            "pfprof-tools",
            "-p",
            "pfprof-examples",
            "-p",
            "pfprof-bench",
        ])
        .arg("--target-dir")
        .arg(&target);
    if release {
        cmd.arg("--release");
    }
    run(&mut cmd)?;
    Ok(target.join(if release { "release" } else { "debug" }))
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Formats a duration as `1m05s` or `4.2s`.
pub fn fmt_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("grep"), "grep");
        assert_eq!(shell_quote("/a/b-c.ko"), "/a/b-c.ko");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("exit 7"), "'exit 7'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn durations_read_naturally() {
        use std::time::Duration;
        assert_eq!(fmt_duration(Duration::from_millis(4200)), "4.2s");
        assert_eq!(fmt_duration(Duration::from_secs(65)), "1m05s");
    }
}
