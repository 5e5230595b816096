//! Where things live: the repository, the lab's cache and its run files.

use std::path::PathBuf;

/// The repository root (the workspace that holds xtask).
pub fn repo() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The lab's cache, outside the clone so that every clone on the machine
/// shares kernel builds: `$PFPROF_LAB_CACHE`, else `$XDG_CACHE_HOME/pfprof-lab`,
/// else `~/.cache/pfprof-lab`.
pub fn cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("PFPROF_LAB_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/tmp"));
    base.join("pfprof-lab")
}

/// The per-clone lab output: built modules, kernel logs, run files.
pub fn lab_target() -> PathBuf {
    repo().join("target").join("lab")
}
