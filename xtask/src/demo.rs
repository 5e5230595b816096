//! `cargo xtask demo`: profiling in one command. In the lab VM, `work`
//! runs registered with pfprof, `monitor` writes profile.dat, and
//! `pfprof-plot` draws it; the plot's path is printed.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::err;
use crate::paths;
use crate::util::{self, shell_quote, Result};
use crate::vm::{self, Accel, VmArgs};

/// `cargo xtask demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where profile.dat and the plots go (inside the repository)
    /// [default: target/demo]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The steps inside the guest, as one would type them on a host that can
/// load the module (the module is already loaded by the runner).
fn script(bin: &str, out: &str) -> String {
    format!(
        "set -eu\n\
         B={bin}\n\
         cd {out}\n\
         echo '$ pfprof reset' >&2; \"$B/pfprof\" reset\n\
         echo '$ work 256 R 20000 --iterations 10 --sleep-ms 100' >&2\n\
         \"$B/work\" 256 R 20000 --iterations 10 --sleep-ms 100 2> work.log\n\
         echo '$ monitor --header > profile.dat' >&2; \"$B/monitor\" --header > profile.dat\n\
         echo '$ monitor --header --per-process > profile.ext.dat' >&2\n\
         \"$B/monitor\" --header --per-process > profile.ext.dat\n\
         echo '$ pfprof-plot faults -o faults.png work=profile.dat' >&2\n\
         \"$B/pfprof-plot\" faults -t 'work 256 R 20000: accumulated page faults' -o faults.png work=profile.dat >/dev/null\n\
         echo '$ pfprof-plot rates -o rates.png profile.ext.dat' >&2\n\
         \"$B/pfprof-plot\" rates -o rates.png profile.ext.dat >/dev/null\n\
         \"$B/pfprof-plot\" summary work=profile.dat\n"
    )
}

/// `cargo xtask demo`.
pub fn main(args: &DemoArgs) -> Result<ExitCode> {
    let repo = paths::repo();
    let out = match &args.out {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => std::env::current_dir()?.join(p),
        None => repo.join("target").join("demo"),
    };
    fs::create_dir_all(&out)?;
    let out = out.canonicalize()?;
    if !out.starts_with(repo.canonicalize()?) {
        return Err(err!(
            "--out {}: must be inside the repository",
            out.display()
        ));
    }
    let bin = util::build_guest_binaries(true)?;
    let lab = paths::lab_target().join("demo");
    fs::create_dir_all(&lab)?;
    let script_path = lab.join("demo.sh");
    fs::write(
        &script_path,
        script(
            &shell_quote(&bin.to_string_lossy()),
            &shell_quote(&out.to_string_lossy()),
        ),
    )?;
    let outcome = vm::run(
        &VmArgs {
            debug: false,
            load: true,
            cpus: 2,
            mem: 2048,
            swap: None,
            timeout: 600,
            accel: Accel::Auto,
            kernel_log: Some(lab.join("kernel.log")),
            cmd: vec!["sh".into(), script_path.to_string_lossy().into_owned()],
        },
        false,
    )?;
    if let Some(problem) = outcome.lab_problem() {
        return Err(err!("the lab VM failed: {problem}"));
    }
    if outcome.exit_code != Some(0) {
        return Err(err!(
            "the demo failed in the VM (exit code {:?})",
            outcome.exit_code
        ));
    }
    println!("profile: {}", out.join("profile.dat").display());
    for name in ["faults.png", "rates.png"] {
        let path = out.join(name);
        pfprof_tools::plot::check_image(&path).map_err(|e| err!("{e}"))?;
        println!("plot: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_runs_work_then_monitor_then_the_plot() {
        let s = script("/b", "'/o x'");
        let at = |needle: &str| s.find(needle).unwrap_or_else(|| panic!("no {needle}"));
        assert!(s.contains("cd '/o x'\n"));
        assert!(at("\"$B/work\" 256") < at("\"$B/monitor\" --header > profile.dat"));
        assert!(at("> profile.dat") < at("\"$B/pfprof-plot\" faults"));
    }
}
