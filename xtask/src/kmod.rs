//! Builds kmod/pfprof.ko against a lab kernel, warnings as errors.
//!
//! Kbuild builds an external module inside its source directory, so the
//! build runs in kmod/ (as `make -C kmod KDIR=...` does for a user) and the
//! result is copied to `target/lab/<flavour>/pfprof.ko`, so that the release
//! and debug builds can both be at hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::err;
use crate::kernel::{self, Flavour};
use crate::paths;
use crate::util::{self, Result};

/// Builds the module in `dir` (a directory with a Kbuild file) against the
/// lab kernel of `flavour` and returns the path of `<dir>/<name>.ko`.
pub fn build_in(flavour: Flavour, dir: &Path, name: &str) -> Result<PathBuf> {
    let kernel = kernel::ensure(flavour)?;
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(dir)
        .arg(format!("KDIR={}", kernel.dir.display()))
        .args(kernel::make_vars())
        .arg("KCFLAGS=-Werror")
        .arg("KRUSTFLAGS=-Dwarnings")
        .arg("-s");
    util::run(&mut cmd).map_err(|e| {
        err!(
            "the module build against the {} kernel failed: {e}",
            flavour.name()
        )
    })?;
    let ko = dir.join(format!("{name}.ko"));
    if !ko.is_file() {
        return Err(err!("the module build produced no {}", ko.display()));
    }
    Ok(ko)
}

/// Builds pfprof.ko for `flavour` and returns the flavour's copy of it.
pub fn build(flavour: Flavour) -> Result<PathBuf> {
    let ko = build_in(flavour, &paths::repo().join("kmod"), "pfprof")?;
    let out_dir = paths::lab_target().join(flavour.name());
    fs::create_dir_all(&out_dir)?;
    let out = out_dir.join("pfprof.ko");
    fs::copy(&ko, &out)?;
    Ok(out)
}
