//! The lab VM runner: runs one command as root inside the lab kernel.
//!
//! QEMU boots the lab kernel straight onto the host's root file system,
//! shared read-only over 9p, with the repository shared again writable at
//! the same path, so host-built binaries, scripts and the .ko run unchanged.
//! `lab/guest-init.sh` is PID 1. The guest's stdout and stderr reach ours
//! through two virtio consoles; the kernel log goes to a file through the
//! serial port and is checked for splats after the run.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use crate::err;
use crate::kernel::{self, Flavour};
use crate::kmod;
use crate::paths;
use crate::util::{self, shell_quote, Result};

/// Exit code when the guest is killed at the timeout.
pub const EXIT_TIMEOUT: u8 = 124;
/// Exit code when the lab itself failed: a kernel splat, a failing rmmod,
/// a failed setup step, or a guest that never reported an exit code.
pub const EXIT_LAB_FAILURE: u8 = 125;

/// How to accelerate the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Accel {
    /// KVM where a probe boot shows it really works, TCG otherwise.
    Auto,
    /// Hardware virtualisation (fails where /dev/kvm does not work).
    Kvm,
    /// Software emulation: slow but works everywhere.
    Tcg,
    /// Software emulation with instruction counting: the guest's clocks
    /// advance one nanosecond per instruction executed (one vCPU at a
    /// time), so a time measured in the guest is an instruction count,
    /// the same from run to run whatever else loads the host. For A/B
    /// comparisons of code paths (`lab/sampler-ab.sh`); memory costs (cache
    /// and TLB misses) are not counted.
    Icount,
}

/// `cargo xtask vm`: run CMD as root in the lab VM and exit with its exit
/// code; 124 when the guest is killed at the timeout, 125 when the lab
/// failed (kernel splat in the log, failing insmod/rmmod, guest crash).
#[derive(Debug, Clone, Args)]
pub struct VmArgs {
    /// Boot the debug kernel (lockdep, KASAN, kmemleak, ...).
    #[arg(long)]
    pub debug: bool,
    /// Build pfprof.ko, insmod it before CMD and rmmod it after (a failing
    /// rmmod fails the run).
    #[arg(long)]
    pub load: bool,
    /// Number of virtual CPUs.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub cpus: u32,
    /// Guest memory, e.g. 2G or 512M.
    #[arg(long, default_value = "2G", value_parser = parse_size_mib)]
    pub mem: u64,
    /// Give the guest a swap device of this size (e.g. 2G) so major faults can happen.
    #[arg(long, value_parser = parse_size_mib)]
    pub swap: Option<u64>,
    /// Kill the guest after this many seconds.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Acceleration.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// Where to save the kernel log [default: target/lab/<flavour>/kernel.log].
    #[arg(long)]
    pub kernel_log: Option<PathBuf>,
    /// The command to run in the guest, with its arguments (after `--`).
    #[arg(required = true, last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

/// Parses a size such as `512M`, `2G` or `1024` (MiB) into MiB.
pub fn parse_size_mib(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'G' | 'g')) => (&t[..i], 1024),
        Some((i, 'M' | 'm')) => (&t[..i], 1),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size like 512M or 2G"))?;
    let mib = n
        .checked_mul(mult)
        .filter(|&m| (16..=1024 * 1024).contains(&m))
        .ok_or_else(|| format!("`{text}` is out of range (16M to 1024G)"))?;
    Ok(mib)
}

/// What happened in a VM run.
#[derive(Debug)]
pub struct Outcome {
    /// CMD's exit code, if the guest reported one.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// A setup step in the guest that failed (insmod, swapon).
    pub setup_failed: Option<String>,
    pub rmmod_failed: bool,
    /// Kernel log lines that show a splat.
    pub splats: Vec<String>,
    pub kernel_log: PathBuf,
    /// The guest's stdout, when captured.
    pub stdout: String,
}

impl Outcome {
    /// Whether the run as a whole passed: CMD exited 0 and the lab saw no
    /// problem.
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0) && self.lab_problem().is_none()
    }

    /// Describes a failure of the lab itself (not of CMD), if any.
    pub fn lab_problem(&self) -> Option<String> {
        let log = self.kernel_log.display();
        if self.timed_out {
            return Some(format!(
                "the guest did not finish in time and was killed (kernel log: {log})"
            ));
        }
        if let Some(step) = &self.setup_failed {
            return Some(format!("guest setup failed at {step} (kernel log: {log})"));
        }
        if !self.splats.is_empty() {
            let shown: Vec<&str> = self.splats.iter().take(8).map(String::as_str).collect();
            return Some(format!(
                "the kernel log shows {} splat line(s) (kernel log: {log}):\n    {}",
                self.splats.len(),
                shown.join("\n    ")
            ));
        }
        if self.rmmod_failed {
            return Some(format!(
                "rmmod failed after the command (kernel log: {log})"
            ));
        }
        if self.exit_code.is_none() {
            return Some(format!(
                "the guest stopped without reporting an exit code (crash or panic?) (kernel log: {log})"
            ));
        }
        None
    }
}

/// `cargo xtask vm`.
pub fn main(args: &VmArgs) -> Result<ExitCode> {
    let outcome = run(args, false)?;
    if let Some(problem) = outcome.lab_problem() {
        eprintln!("xtask vm: {problem}");
        let code = if outcome.timed_out {
            EXIT_TIMEOUT
        } else {
            EXIT_LAB_FAILURE
        };
        return Ok(ExitCode::from(code));
    }
    let code = outcome.exit_code.unwrap_or(1);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Lines of the kernel log that show something went wrong in the kernel.
const SPLAT_PATTERNS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "general protection fault",
    "Kernel panic",
    "Call Trace:",
    "scheduling while atomic",
    "sleeping function called from invalid context",
    "possible circular locking dependency",
    "possible recursive locking",
    "inconsistent lock state",
    "suspicious RCU usage",
    "DEBUG_LOCKS_WARN_ON",
    "UBSAN:",
    "KASAN:",
    "ODEBUG:",
    "new suspected memory leak",
    "list_add corruption",
    "list_del corruption",
    "panicked at",
    "Unable to handle kernel",
    "soft lockup",
    "blocked for more than",
];

/// Returns the lines of `log` that show a splat.
pub fn find_splats(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| SPLAT_PATTERNS.iter().any(|p| line.contains(p)))
        .map(|line| line.trim_end().to_owned())
        .collect()
}

static RUN_SEQ: AtomicU32 = AtomicU32::new(0);

/// Boots the lab VM, runs `args.cmd` and returns what happened. With
/// `capture`, the guest's stdout is also returned (it is always streamed).
pub fn run(args: &VmArgs, capture: bool) -> Result<Outcome> {
    let flavour = Flavour::from_debug(args.debug);
    let kernel = kernel::ensure(flavour)?;
    let ko = if args.load {
        Some(kmod::build(flavour)?)
    } else {
        let ko = paths::lab_target().join(flavour.name()).join("pfprof.ko");
        ko.is_file().then_some(ko)
    };
    let accel = match args.accel {
        Accel::Auto if kvm_works()? => Accel::Kvm,
        Accel::Auto => Accel::Tcg,
        other => other,
    };

    let repo = paths::repo();
    let lab = paths::lab_target();
    let run_dir = lab.join(format!(
        "run-{}-{}",
        std::process::id(),
        RUN_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&run_dir);
    fs::create_dir_all(&run_dir)?;
    let cleanup = RemoveOnDrop(run_dir.clone());
    let kernel_log = args
        .kernel_log
        .clone()
        .unwrap_or_else(|| lab.join(flavour.name()).join("kernel.log"));
    if let Some(parent) = kernel_log.parent() {
        fs::create_dir_all(parent)?;
    }

    // What the guest's init reads.
    let cwd = std::env::current_dir()?;
    let mut env = String::new();
    let mut export = |k: &str, v: &str| env.push_str(&format!("export {k}={}\n", shell_quote(v)));
    export("PFPROF_CWD", &cwd.to_string_lossy());
    export("PFPROF_IN_LAB", flavour.name());
    if let Some(ko) = &ko {
        export("PFPROF_KO", &ko.to_string_lossy());
        if args.load {
            export("PFPROF_LOAD", &ko.to_string_lossy());
        }
    }
    if args.swap.is_some() {
        export("PFPROF_SWAP_DEV", "/dev/vda");
    }
    for var in [
        "PATH",
        "TERM",
        "LANG",
        "RUST_BACKTRACE",
        "RUST_LOG",
        "NO_COLOR",
    ] {
        if let Ok(val) = std::env::var(var) {
            export(var, &val);
        }
    }
    fs::write(run_dir.join("env"), env)?;
    let quoted: Vec<String> = args.cmd.iter().map(|w| shell_quote(w)).collect();
    fs::write(run_dir.join("cmd"), format!("{}\n", quoted.join(" ")))?;

    let swap_img = match args.swap {
        Some(mib) => Some(make_swap(&run_dir, mib)?),
        None => None,
    };

    let out_fifo = run_dir.join("stdout.fifo");
    let err_fifo = run_dir.join("stderr.fifo");
    mkfifo(&out_fifo)?;
    mkfifo(&err_fifo)?;

    let init = repo.join("lab").join("guest-init.sh");
    let cmdline = [
        "console=ttyS0".to_owned(),
        "loglevel=7".to_owned(),
        "root=/dev/root".to_owned(),
        "rootfstype=9p".to_owned(),
        "rootflags=trans=virtio,version=9p2000.L,msize=512000".to_owned(),
        "ro".to_owned(),
        format!("init={}", init.display()),
        "panic=-1".to_owned(),
        // ACPI's AML interpreter, run for every PCI interrupt route, makes
        // the debug kernel crawl under TCG (soft lockups while probing the
        // virtio devices): route interrupts from the BIOS tables instead.
        "acpi=noirq".to_owned(),
        format!("PFPROF_RUN={}", run_dir.display()),
        format!("PFPROF_REPO={}", repo.display()),
    ]
    .join(" ");

    let mut qemu = Command::new("qemu-system-x86_64");
    match accel {
        Accel::Kvm => qemu.args(["-accel", "kvm", "-cpu", "host"]),
        Accel::Icount => qemu.args([
            "-accel",
            "tcg,thread=single",
            "-icount",
            "shift=0,sleep=off",
            "-cpu",
            "max",
        ]),
        _ => qemu.args(["-accel", "tcg,thread=multi", "-cpu", "max"]),
    };
    qemu.args(["-nodefaults", "-display", "none", "-no-reboot"])
        .args(["-smp", &args.cpus.to_string()])
        .args(["-m", &format!("{}M", args.mem)])
        .arg("-kernel")
        .arg(kernel.bzimage())
        .args(["-append", &cmdline])
        .arg("-serial")
        .arg(format!("file:{}", kernel_log.display()))
        .args(["-device", "virtio-serial-pci"])
        .arg("-chardev")
        .arg(format!("file,id=out,path={}", out_fifo.display()))
        .args(["-device", "virtconsole,chardev=out"])
        .arg("-chardev")
        .arg(format!("file,id=err,path={}", err_fifo.display()))
        .args(["-device", "virtconsole,chardev=err"])
        .args([
            "-fsdev",
            "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
        ])
        .args(["-device", "virtio-9p-pci,fsdev=root,mount_tag=/dev/root"])
        .arg("-fsdev")
        .arg(format!(
            "local,id=repo,path={},security_model=none,multidevs=remap",
            repo.display()
        ))
        .args(["-device", "virtio-9p-pci,fsdev=repo,mount_tag=repo"])
        .args(["-device", "virtio-rng-pci"]);
    if let Some(img) = &swap_img {
        qemu.arg("-drive").arg(format!(
            "file={},if=virtio,format=raw,cache=unsafe",
            img.display()
        ));
    }
    qemu.stdin(Stdio::null()).stdout(Stdio::null());

    let mut child = qemu
        .spawn()
        .map_err(|e| err!("cannot start qemu-system-x86_64: {e} (run `cargo xtask setup`)"))?;
    let out_thread = relay(out_fifo.clone(), Sink::Stdout, capture);
    let err_thread = relay(err_fifo.clone(), Sink::Stderr, false);

    let timed_out = wait_or_kill(&mut child, Duration::from_secs(args.timeout))?;
    // Unblock relays still waiting to open their FIFO (QEMU never opened it).
    for fifo in [&out_fifo, &err_fifo] {
        poke_fifo(fifo);
    }
    let stdout = out_thread.join().unwrap_or_default();
    let _ = err_thread.join();

    let read = |name: &str| fs::read_to_string(run_dir.join(name)).ok();
    let exit_code = read("rc").and_then(|s| s.trim().parse().ok());
    let setup_failed = read("setup_failed").map(|s| s.trim().to_owned());
    let rmmod_failed = read("rmmod_failed").is_some();
    let log_text = fs::read(&kernel_log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let splats = find_splats(&log_text);
    drop(cleanup);

    Ok(Outcome {
        exit_code,
        timed_out,
        setup_failed,
        rmmod_failed,
        splats,
        kernel_log,
        stdout,
    })
}

/// Waits for QEMU; kills it at the deadline. Returns whether it timed out.
fn wait_or_kill(child: &mut Child, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Clone, Copy)]
enum Sink {
    Stdout,
    Stderr,
}

/// Copies what the guest writes to a FIFO to our stdout or stderr as it
/// comes, and returns it when `capture` is set.
fn relay(fifo: PathBuf, sink: Sink, capture: bool) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let Ok(mut file) = fs::File::open(&fifo) else {
            return String::new();
        };
        let mut buf = [0u8; 8192];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            let _ = match sink {
                Sink::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(chunk).and_then(|()| out.flush())
                }
                Sink::Stderr => std::io::stderr().write_all(chunk),
            };
            if capture {
                kept.extend_from_slice(chunk);
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

fn mkfifo(path: &Path) -> Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| err!("bad path {}", path.display()))?;
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(err!(
            "mkfifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Opens a FIFO for writing without blocking and closes it, so that a reader
/// blocked in open() sees end-of-file.
fn poke_fifo(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
}

/// A sparse swap image formatted on the host (the guest sees it as a block
/// device, so holes do not matter).
fn make_swap(run_dir: &Path, mib: u64) -> Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let img = run_dir.join("swap.img");
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&img)?;
    file.set_len(mib * 1024 * 1024)?;
    drop(file);
    let mkswap = ["/usr/sbin/mkswap", "/sbin/mkswap"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("mkswap");
    // Its warning about holes is for swap files, not devices: keep it quiet
    // unless it fails.
    let out = Command::new(mkswap)
        .arg(&img)
        .output()
        .map_err(|e| err!("cannot run {mkswap}: {e}"))?;
    if !out.status.success() {
        return Err(err!(
            "{mkswap} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(img)
}

/// Whether KVM really runs the lab kernel here: /dev/kvm must open, and a
/// probe boot under it must succeed. The answer is cached per host kernel
/// and QEMU version.
fn kvm_works() -> Result<bool> {
    if fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return Ok(false);
    }
    let host = util::try_output(Command::new("uname").arg("-rv")).unwrap_or_default();
    let qemu =
        util::try_output(Command::new("qemu-system-x86_64").arg("--version")).unwrap_or_default();
    let key = format!("{}|{}", host.trim(), qemu.lines().next().unwrap_or(""));
    let cache = paths::cache().join("kvm-probe");
    if let Ok(text) = fs::read_to_string(&cache) {
        if let Some((k, answer)) = text.rsplit_once('\n') {
            if k == key {
                return Ok(answer == "yes");
            }
        }
    }
    eprintln!("xtask: probing whether KVM works here (once)");
    let probe = VmArgs {
        debug: false,
        load: false,
        cpus: 1,
        mem: 256,
        swap: None,
        timeout: 60,
        accel: Accel::Kvm,
        kernel_log: Some(paths::lab_target().join("kvm-probe.log")),
        cmd: vec!["true".into()],
    };
    let works = {
        // The probe's own QEMU errors are expected where KVM is broken.
        let outcome = run(&probe, false);
        matches!(outcome, Ok(ref o) if o.passed())
    };
    fs::create_dir_all(paths::cache())?;
    fs::write(
        &cache,
        format!("{key}\n{}", if works { "yes" } else { "no" }),
    )?;
    eprintln!(
        "xtask: KVM {}",
        if works {
            "works: using it"
        } else {
            "does not boot the lab kernel here: using TCG (software emulation)"
        }
    );
    Ok(works)
}

/// Removes a directory when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_mib() {
        assert_eq!(parse_size_mib("512M"), Ok(512));
        assert_eq!(parse_size_mib("2G"), Ok(2048));
        assert_eq!(parse_size_mib("1024"), Ok(1024));
        assert!(parse_size_mib("2X").is_err());
        assert!(parse_size_mib("").is_err());
        assert!(parse_size_mib("1M").is_err());
        assert!(parse_size_mib("99999999999999999G").is_err());
    }

    #[test]
    fn splats_are_found_and_boot_noise_is_not() {
        let log = "[    0.1] kasan: KernelAddressSanitizer initialized (generic)\n\
                   [    0.2] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc.\n\
                   [    1.0] pfprof: loaded\n\
                   [    2.0] WARNING: CPU: 1 PID: 80 at kmod/pfprof_rs.rs:10 init+0x1\n\
                   [    2.1] BUG: KASAN: slab-out-of-bounds in foo\n\
                   [    2.2] BUG: scheduling while atomic: work/3/0x00000002\n";
        let splats = find_splats(log);
        assert_eq!(splats.len(), 3, "{splats:?}");
        assert!(splats[0].contains("WARNING: CPU: 1"));
    }
}
