//! `cargo xtask demo`: profiling in one command. In the lab VM, `work`
//! runs registered with pfprof and `monitor` writes profile.dat and
//! profile.ext.dat; back on the host, pfprof-profile draws them (the charts
//! of `pfprof-plot faults` and `pfprof-plot rates`, the same code) and the
//! plots' paths are printed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use pfprof_profile::analysis::{self, ProfileSummary};
use pfprof_profile::chart::{self, accumulated_of, rates_of};
use pfprof_profile::Profile;

use crate::err;
use crate::lab;
use crate::paths;
use crate::util::{self, shell_quote, Result};
use crate::vm::{Accel, VmArgs};

/// `cargo xtask demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Where profile.dat and the plots go (inside the repository)
    /// [default: target/demo]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The workload's arguments.
const WORK_ARGS: &str = "256 R 20000 --iterations 10 --sleep-ms 100";

/// The steps inside the guest, as one would type them on a host that can
/// load the module (the module is already loaded by the runner).
fn script(bin: &str, out: &str) -> String {
    format!(
        "set -eu\n\
         B={bin}\n\
         cd {out}\n\
         echo '$ pfprof reset' >&2; \"$B/pfprof\" reset\n\
         echo '$ work {WORK_ARGS}' >&2\n\
         \"$B/work\" {WORK_ARGS} 2> work.log\n\
         echo '$ monitor --header > profile.dat' >&2; \"$B/monitor\" --header > profile.dat\n\
         echo '$ monitor --header --per-process > profile.ext.dat' >&2\n\
         \"$B/monitor\" --header --per-process > profile.ext.dat\n"
    )
}

fn read(out: &Path, name: &str) -> Result<(Profile, u32)> {
    let path = out.join(name);
    let p = Profile::read(&path).map_err(|e| err!("{e}"))?;
    let hz = p
        .hz_or(None, &path.display().to_string())
        .map_err(|e| err!("{e}"))?;
    Ok((p, hz))
}

/// Draws the profiles in `out` as `pfprof-plot faults -t TITLE work=profile.dat`
/// and `pfprof-plot rates profile.ext.dat` would; prints the summary table.
fn draw(out: &Path) -> Result<Vec<PathBuf>> {
    let (classic, hz) = read(out, "profile.dat")?;
    let (per_process, ext_hz) = read(out, "profile.ext.dat")?;
    let faults = out.join("faults.png");
    let title = "work 256 R 20000: accumulated page faults";
    accumulated_of(title, &[("work".to_owned(), classic.clone(), hz)])
        .save(&faults, chart::DEFAULT_SIZE)
        .map_err(|e| err!("{e}"))?;
    let rates = out.join("rates.png");
    rates_of("Page-fault rate per process", &per_process, ext_hz)
        .save(&rates, chart::DEFAULT_SIZE)
        .map_err(|e| err!("{e}"))?;
    let mut table = Vec::new();
    analysis::render_summary(
        &mut table,
        &[ProfileSummary::of("work", &classic.totals(), hz)],
    )?;
    print!("{}", String::from_utf8_lossy(&table));
    Ok(vec![faults, rates])
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
    let lab_dir = paths::lab_target().join("demo");
    fs::create_dir_all(&lab_dir)?;
    let script_path = lab_dir.join("demo.sh");
    fs::write(
        &script_path,
        script(
            &shell_quote(&bin.to_string_lossy()),
            &shell_quote(&out.to_string_lossy()),
        ),
    )?;
    lab::run(
        &VmArgs {
            debug: false,
            load: true,
            cpus: 2,
            mem: 2048,
            swap: None,
            timeout: 600,
            accel: Accel::Auto,
            kernel_log: Some(lab_dir.join("kernel.log")),
            cmd: vec!["sh".into(), script_path.to_string_lossy().into_owned()],
        },
        false,
        "the demo",
    )?;
    println!("profile: {}", out.join("profile.dat").display());
    for path in draw(&out)? {
        chart::check_image(&path).map_err(|e| err!("{e}"))?;
        println!("plot: {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_runs_work_then_monitor() {
        let s = script("/b", "'/o x'");
        let at = |needle: &str| s.find(needle).unwrap_or_else(|| panic!("no {needle}"));
        assert!(s.contains("cd '/o x'\n"));
        assert!(s.contains("\"$B/work\" 256 R 20000 --iterations 10 --sleep-ms 100 2> work.log"));
        assert!(at("\"$B/work") < at("\"$B/monitor\" --header > profile.dat"));
        assert!(at("> profile.dat") < at("--per-process > profile.ext.dat"));
    }

    #[test]
    fn the_demo_draws_on_the_host() {
        let dir = paths::repo()
            .join("target")
            .join(format!("demo-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("profile.dat"),
            "# pfprof hz=1000 period_us=50000\n1000 10 0 1000000\n1050 20 1 2000000\n",
        )
        .unwrap();
        fs::write(
            dir.join("profile.ext.dat"),
            "# pfprof hz=1000 period_us=50000\n1000 7 10 0 1\n1000 0 10 0 1\n1050 7 21 0 2\n",
        )
        .unwrap();
        let images = draw(&dir).unwrap();
        assert_eq!(images.len(), 2);
        for img in &images {
            assert_eq!(chart::check_image(img), Ok(()));
        }
        fs::write(dir.join("profile.dat"), "1 2 3 4\n").unwrap();
        assert!(draw(&dir).unwrap_err().0.contains("HZ is unknown"));
        let _ = fs::remove_dir_all(&dir);
    }
}
