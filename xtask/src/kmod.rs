//! Builds kmod/pfprof.ko against a lab kernel, warnings as errors, and lints
//! it with clippy the way Kbuild does (`make CLIPPY=1`).
//!
//! Kbuild builds an external module inside its source directory, so the
//! build runs in kmod/ (as `make -C kmod KDIR=...` does for a user) and the
//! result is copied to `target/lab/<flavour>/pfprof.ko`, so that the release
//! and debug builds can both be at hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::deps;
use crate::err;
use crate::kernel::{self, Flavour};
use crate::paths;
use crate::util::{self, Result};

/// Builds the module in `dir` (a directory with a Kbuild file) against the
/// lab kernel of `flavour` and returns the path of `<dir>/<name>.ko`.
pub fn build_in(flavour: Flavour, dir: &Path, name: &str) -> Result<PathBuf> {
    kbuild(flavour, dir, &[]).map_err(|e| {
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

/// Runs Kbuild on the external module in `dir` (what its Makefile does:
/// `make -C $KDIR M=$dir modules`) against the lab kernel of `flavour`, with
/// warnings as errors (C and Rust) and `extra` make arguments.
fn kbuild(flavour: Flavour, dir: &Path, extra: &[String]) -> Result<()> {
    let kernel = kernel::ensure(flavour)?;
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(&kernel.dir)
        .arg(format!("M={}", dir.display()))
        .args(kernel::make_vars())
        .arg("KCFLAGS=-Werror")
        .arg("KRUSTFLAGS=-Dwarnings")
        .args(extra)
        .args(["-s", "modules"]);
    util::run(&mut cmd)
}

/// Lints the module in `dir` with clippy as Kbuild runs it (`make
/// CLIPPY=1`, with the clippy-driver of the kernel's rustc), every warning
/// an error. The build runs on a fresh copy of the sources under
/// `target/lab/clippy/`, so that every file is linted (Kbuild would skip
/// objects that are up to date) and the real build's objects are untouched.
pub fn clippy_in(flavour: Flavour, dir: &Path, name: &str) -> Result<()> {
    let copy = paths::lab_target()
        .join("clippy")
        .join(flavour.name())
        .join(name);
    let _ = fs::remove_dir_all(&copy);
    fs::create_dir_all(&copy)?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let source = path
            .extension()
            .is_some_and(|e| e == "rs" || e == "c" || e == "h");
        let kbuild = path.file_name().is_some_and(|n| n == "Kbuild");
        if path.is_file() && (source || kbuild) {
            if let Some(file) = path.file_name() {
                fs::copy(&path, copy.join(file))?;
            }
        }
    }
    let extra = [
        "CLIPPY=1".to_owned(),
        format!("CLIPPY_DRIVER={}", deps::KERNEL_CLIPPY_DRIVER),
    ];
    kbuild(flavour, &copy, &extra).map_err(|e| {
        err!(
            "clippy on {} against the {} kernel found problems (above): {e}",
            dir.display(),
            flavour.name()
        )
    })
}

/// Lints pfprof's module with clippy against the lab kernel of `flavour`.
pub fn clippy(flavour: Flavour) -> Result<()> {
    clippy_in(flavour, &paths::repo().join("kmod"), "pfprof")
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
