//! The lab's prerequisites: Debian packages and bindgen-cli.
//!
//! Idempotent and quiet when everything is there. As root it installs what is
//! missing; otherwise it prints the exact commands and fails.

use std::path::PathBuf;
use std::process::Command;

use crate::err;
use crate::paths;
use crate::util::{self, Result};

/// Debian packages the lab needs, each with why it is there (the README's
/// "The kernel lab" section says the same for users).
pub const PACKAGES: &[&str] = &[
    // Kernel source and the toolchain the kernel's Rust support accepts.
    "linux-source-6.12",
    "rustc-web",
    "rust-web-src",
    // clippy-driver matching rustc-web, for `cargo xtask kmod --clippy`.
    "rust-web-clippy",
    "clang-19",
    "lld-19",
    "llvm-19",
    "libclang-19-dev",
    // Kernel build tools.
    "make",
    "gcc",
    "libc6-dev",
    "bc",
    "flex",
    "bison",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "kmod",
    "xz-utils",
    // The VM.
    "qemu-system-x86",
    "util-linux",
    // perf stat, which the bench compares pfprof with (in the VM: the lab
    // kernels have CONFIG_PERF_EVENTS).
    "linux-perf",
    // The exporter's tests scrape it with a real Prometheus and check its
    // output with promtool (tools/tests/exporter.rs, vmtests/tests/tools_exporter.rs).
    "prometheus",
];

/// The bindgen version the kernel's Rust support is built with (Debian's
/// 0.60 is older than the 0.65.1 that 6.12 requires).
pub const BINDGEN_VERSION: &str = "0.70.1";

/// Where libclang lives for bindgen.
pub const LIBCLANG_PATH: &str = "/usr/lib/llvm-19/lib";

/// The rustc the kernel is built with (Debian's rustc-web, which has the
/// library source that rustup's toolchain here lacks).
pub const KERNEL_RUSTC: &str = "/usr/bin/rustc";

/// The clippy driver matching [`KERNEL_RUSTC`] (rustup's, earlier on PATH,
/// is for another rustc).
pub const KERNEL_CLIPPY_DRIVER: &str = "/usr/bin/clippy-driver";

/// The Rust library source matching [`KERNEL_RUSTC`].
pub const RUST_LIB_SRC: &str = "/usr/lib/rustlib/src/rust/library";

/// The bindgen binary installed by [`ensure`].
pub fn bindgen() -> PathBuf {
    paths::cache()
        .join("tools")
        .join(format!("bindgen-cli-{BINDGEN_VERSION}"))
        .join("bin")
        .join("bindgen")
}

fn missing_packages() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .copied()
        .filter(|pkg| {
            let status =
                util::try_output(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]));
            status.as_deref() != Some("install ok installed")
        })
        .collect()
}

/// Makes sure every prerequisite is installed.
pub fn ensure() -> Result<()> {
    // apt and cargo install must not run twice at once.
    let _lock = util::lock_file(&paths::cache().join("setup.lock"), "setup")?;
    let missing = missing_packages();
    let bindgen = bindgen();
    let need_bindgen = !bindgen.is_file();
    let bindgen_cmd = format!(
        "cargo install --locked bindgen-cli@{BINDGEN_VERSION} --root {}",
        bindgen
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );

    if !missing.is_empty() {
        if !util::is_root() {
            return Err(err!(
                "the lab needs Debian packages that are missing; run as root:\n  \
                 apt-get update && apt-get install -y --no-install-recommends {}\n\
                 then run `{bindgen_cmd}` and try again",
                missing.join(" ")
            ));
        }
        eprintln!("xtask: installing {}", missing.join(" "));
        util::run(Command::new("apt-get").args(["update", "-q"]))?;
        util::run(
            Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )?;
    }
    if need_bindgen {
        eprintln!("xtask: installing bindgen-cli {BINDGEN_VERSION} (about a minute)");
        let root = bindgen
            .parent()
            .and_then(|p| p.parent())
            .ok_or_else(|| err!("bad bindgen path {}", bindgen.display()))?;
        util::run(Command::new("cargo").args([
            "install",
            "--quiet",
            "--locked",
            &format!("bindgen-cli@{BINDGEN_VERSION}"),
            "--root",
            &root.to_string_lossy(),
        ]))
        .map_err(|e| err!("{e}\n(to retry by hand: {bindgen_cmd})"))?;
    }
    Ok(())
}

/// The version of an installed Debian package.
pub fn package_version(pkg: &str) -> Result<String> {
    let out = util::output(Command::new("dpkg-query").args(["-W", "-f=${Version}", pkg]))?;
    Ok(out.trim().to_owned())
}
