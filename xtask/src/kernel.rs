//! The lab kernel: Linux 6.12 from Debian's `linux-source-6.12`, configured
//! from `make tinyconfig` plus the fragments in `lab/kconfig/`, built with the
//! LLVM/Rust toolchain of [`deps`] (Debian's clang-19 and rustc-web, bindgen
//! from crates.io; the README's "The kernel lab" section explains each).
//!
//! Builds are cached under `<cache>/kernel/<flavour>-<key>/`, where the key
//! hashes everything that goes into the build: the source package version,
//! the fragments, the toolchain versions and this recipe's version. A second
//! run with the same inputs reuses the build.

use std::fs;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::deps;
use crate::err;
use crate::paths;
use crate::util::{self, Result};

/// Bump when the build recipe below changes in a way the key does not see.
const RECIPE_VERSION: &str = "1";

/// The source package the kernel comes from.
const SOURCE_PACKAGE: &str = "linux-source-6.12";
const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";

/// Which lab kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Lean and fast: the kernel tests and benchmarks normally run on.
    Release,
    /// Lockdep, KASAN, kmemleak, DEBUG_LIST, SLUB debugging, ...
    Debug,
}

impl Flavour {
    pub fn from_debug(debug: bool) -> Self {
        if debug {
            Flavour::Debug
        } else {
            Flavour::Release
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flavour::Release => "release",
            Flavour::Debug => "debug",
        }
    }

    /// The config fragments merged over tinyconfig, in order.
    fn fragments(self) -> Vec<PathBuf> {
        let dir = paths::repo().join("lab").join("kconfig");
        let mut list = vec![dir.join("base.config")];
        if self == Flavour::Debug {
            list.push(dir.join("debug.config"));
        }
        list
    }
}

/// A finished kernel build.
#[derive(Debug)]
pub struct Kernel {
    /// The build (`O=`) directory, usable as `KDIR` for external modules.
    pub dir: PathBuf,
}

impl Kernel {
    pub fn bzimage(&self) -> PathBuf {
        self.dir.join("arch/x86/boot/bzImage")
    }
}

/// The make variables every kernel (and module) build uses.
pub fn make_vars() -> Vec<String> {
    vec![
        "ARCH=x86_64".into(),
        "LLVM=-19".into(),
        format!("RUSTC={}", deps::KERNEL_RUSTC),
        format!("BINDGEN={}", deps::bindgen().display()),
        format!("RUST_LIB_SRC={}", deps::RUST_LIB_SRC),
    ]
}

fn version_of(program: &str, arg: &str) -> String {
    util::try_output(Command::new(program).arg(arg))
        .unwrap_or_else(|| format!("{program}: missing"))
}

/// Hashes every input of the build.
fn cache_key(flavour: Flavour) -> Result<String> {
    let mut h = Sha256::new();
    h.update(format!("recipe {RECIPE_VERSION}\n"));
    h.update(format!("flavour {}\n", flavour.name()));
    h.update(format!(
        "source {}\n",
        deps::package_version(SOURCE_PACKAGE)?
    ));
    for frag in flavour.fragments() {
        let text = fs::read(&frag).map_err(|e| err!("cannot read {}: {e}", frag.display()))?;
        h.update(&text);
    }
    h.update(version_of(deps::KERNEL_RUSTC, "-vV"));
    h.update(version_of("clang-19", "--version"));
    h.update(version_of(&deps::bindgen().to_string_lossy(), "--version"));
    h.update(make_vars().join(" "));
    let digest = h.finalize();
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// Extracts the kernel source, again only when the package version changes.
fn source_tree() -> Result<PathBuf> {
    let version = deps::package_version(SOURCE_PACKAGE)?;
    let root = paths::cache().join("src");
    let _lock = util::lock_file(&root.join("extract.lock"), "source extraction")?;
    let dir = root.join("linux-source-6.12");
    let stamp = dir.join(".pfprof-extracted");
    if fs::read_to_string(&stamp).is_ok_and(|v| v == version) {
        return Ok(dir);
    }
    eprintln!("xtask: extracting {SOURCE_TARBALL} {version} (about 20 s)");
    let tmp = root.join(format!(".extract-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    util::run(
        Command::new("tar")
            .args(["-xf", SOURCE_TARBALL, "-C"])
            .arg(&tmp),
    )?;
    let inner = tmp.join("linux-source-6.12");
    fs::write(inner.join(".pfprof-extracted"), version.as_bytes())?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&inner, &dir)?;
    let _ = fs::remove_dir_all(&tmp);
    Ok(dir)
}

/// Returns the lab kernel of `flavour`, building it if it is not cached.
///
/// `PFPROF_LAB_KDIR`, if set, names a kernel build directory to use instead
/// (any 6.12 build with CONFIG_RUST and what base.config asks for).
///
/// Several xtasks (clones, terminals) share the cache: a lock per flavour
/// makes a second one wait for a build in progress instead of building into
/// the same directory at the same time.
pub fn ensure(flavour: Flavour) -> Result<Kernel> {
    deps::ensure()?;
    if let Some(dir) = std::env::var_os("PFPROF_LAB_KDIR") {
        let kernel = Kernel { dir: dir.into() };
        if !kernel.bzimage().is_file() {
            return Err(err!(
                "PFPROF_LAB_KDIR={} has no arch/x86/boot/bzImage",
                kernel.dir.display()
            ));
        }
        return Ok(kernel);
    }
    let key = cache_key(flavour)?;
    let builds = paths::cache().join("kernel");
    let _lock = util::lock_file(
        &builds.join(format!("{}.lock", flavour.name())),
        &format!("{} kernel build", flavour.name()),
    )?;
    let dir = builds.join(format!("{}-{key}", flavour.name()));
    let done = dir.join(".pfprof-done");
    let kernel = Kernel { dir };
    if done.is_file() && kernel.bzimage().is_file() {
        return Ok(kernel);
    }
    let src = source_tree()?;
    fs::create_dir_all(&kernel.dir)?;
    let started = Instant::now();
    eprintln!(
        "xtask: building the {} lab kernel in {} (about 6-10 min on 2 cores; log: build.log there)",
        flavour.name(),
        kernel.dir.display()
    );
    configure(flavour, &src, &kernel.dir)?;
    make_with_progress(flavour, &src, &kernel.dir)?;
    fs::write(&done, key.as_bytes())?;
    eprintln!(
        "xtask: {} kernel built in {}",
        flavour.name(),
        util::fmt_duration(started.elapsed())
    );
    remove_stale_builds(&builds, flavour, &kernel.dir);
    Ok(kernel)
}

fn make(src: &Path, out: &Path) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(src)
        .arg(format!("O={}", out.display()))
        .args(make_vars())
        .env("LIBCLANG_PATH", deps::LIBCLANG_PATH);
    cmd
}

/// tinyconfig, then the fragments, then a check that every option the
/// fragments ask for survived olddefconfig (a dependency may drop one).
fn configure(flavour: Flavour, src: &Path, out: &Path) -> Result<()> {
    let quiet = |cmd: &mut Command| -> Result<()> {
        let what = util::describe(cmd);
        let res = cmd
            .stdout(Stdio::null())
            .output()
            .map_err(|e| err!("cannot run `{what}`: {e}"))?;
        if res.status.success() {
            Ok(())
        } else {
            Err(err!(
                "`{what}` failed:\n{}",
                String::from_utf8_lossy(&res.stderr)
            ))
        }
    };
    quiet(make(src, out).arg("rustavailable"))?;
    quiet(make(src, out).arg("tinyconfig"))?;
    let config = out.join(".config");
    quiet(
        Command::new(src.join("scripts/kconfig/merge_config.sh"))
            .current_dir(src)
            .env("KCONFIG_CONFIG", &config)
            .arg("-m")
            .arg("-O")
            .arg(out)
            .arg(&config)
            .args(flavour.fragments()),
    )?;
    quiet(make(src, out).arg("olddefconfig"))?;

    let final_config = fs::read_to_string(&config)?;
    let mut dropped = Vec::new();
    for frag in flavour.fragments() {
        for line in fs::read_to_string(&frag)?.lines() {
            let wanted = line.starts_with("CONFIG_")
                || (line.starts_with("# CONFIG_") && line.ends_with(" is not set"));
            if wanted && !final_config.lines().any(|l| l == line) {
                dropped.push(line.to_owned());
            }
        }
    }
    if !dropped.is_empty() {
        return Err(err!(
            "the kernel config dropped options the lab asks for (a missing dependency?):\n  {}",
            dropped.join("\n  ")
        ));
    }
    Ok(())
}

/// `make all`, logging to build.log and showing how far it got.
fn make_with_progress(flavour: Flavour, src: &Path, out: &Path) -> Result<()> {
    let log_path = out.join("build.log");
    let mut log = fs::File::create(&log_path)?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut cmd = make(src, out);
    cmd.arg(format!("-j{jobs}"))
        .arg("all")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = util::describe(&cmd);
    let mut child = cmd.spawn().map_err(|e| err!("cannot run `{what}`: {e}"))?;
    let stderr = child.stderr.take();
    let err_thread = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr {
            for line in BufReader::new(s).lines().map_while(|l| l.ok()) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    });

    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut steps = 0u64;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            let _ = writeln!(log, "{line}");
            if line.starts_with("  ") {
                steps += 1;
            }
            let every = if tty {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(30)
            };
            if last_report.elapsed() >= every {
                last_report = Instant::now();
                let msg = format!(
                    "xtask: [{} kernel] {steps} build steps, {}",
                    flavour.name(),
                    util::fmt_duration(started.elapsed())
                );
                if tty {
                    eprint!("\r{msg}   ");
                } else {
                    eprintln!("{msg}");
                }
            }
        }
    }
    if tty {
        eprintln!();
    }
    let status = child.wait()?;
    let errors = err_thread.join().unwrap_or_default();
    let _ = log.write_all(errors.as_bytes());
    if !status.success() {
        let tail: Vec<&str> = errors.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(err!(
            "the kernel build failed ({status}); full log: {}\n{}",
            log_path.display(),
            tail.join("\n")
        ));
    }
    Ok(())
}

/// Removes older builds of the same flavour: their inputs changed.
fn remove_stale_builds(builds: &Path, flavour: Flavour, keep: &Path) {
    let Ok(entries) = fs::read_dir(builds) else {
        return;
    };
    let prefix = format!("{}-", flavour.name());
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && path != keep {
            eprintln!("xtask: removing stale kernel build {}", path.display());
            let _ = fs::remove_dir_all(&path);
        }
    }
}
