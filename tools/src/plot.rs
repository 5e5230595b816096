//! `pfprof-plot`: charts of profile files, as PNG or SVG.
//!
//! A driver: the files are read, analysed and drawn by pfprof-profile
//! ([`Profile`], [`pfprof_profile::analysis`], [`pfprof_profile::chart`]),
//! the same code the case studies and the demo use.

use std::path::{Path, PathBuf};

use pfprof_profile::analysis::{self, ProfileSummary, Selection};
use pfprof_profile::chart::{
    accumulated_of, memory_of, plain_io_error, rates_of, Chart, ImageFormat,
};
use pfprof_profile::Profile;

use crate::cli::{PlotCli, PlotCommand, PlotSelect};
use crate::{Result, ToolError};

/// An input of the CLI: `LABEL=PATH` or `PATH` (labelled by its file stem).
fn split_input(spec: &str) -> (String, PathBuf) {
    match spec.split_once('=') {
        Some((label, path)) if !label.is_empty() && !path.is_empty() => {
            (label.to_owned(), PathBuf::from(path))
        }
        _ => {
            let path = PathBuf::from(spec);
            let label = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| spec.to_owned());
            (label, path)
        }
    }
}

/// Reads a profile; one with neither samples nor records is an error
/// (`/etc/passwd` has no line of numbers), and so is a file that cannot be
/// opened, in plain words (`cannot read x.dat: No such file or directory`).
fn read_profile(path: &Path) -> Result<Profile> {
    let cannot = |why: String| ToolError::Msg(format!("cannot read {}: {why}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| cannot(plain_io_error(&e)))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(cannot("Is a directory".to_owned()));
    }
    drop(file);
    let p = Profile::read(path)?;
    if p.samples.is_empty() && p.records.is_empty() {
        let why = if p.header.is_empty() {
            " (not a profile of monitor: no `# pfprof` header and no line of numbers)"
        } else {
            ""
        };
        return Err(ToolError::Msg(format!(
            "{}: no samples{why}",
            path.display()
        )));
    }
    Ok(p)
}

fn load(spec: &str, hz: Option<u32>) -> Result<(String, PathBuf, Profile, u32)> {
    let (label, path) = split_input(spec);
    let p = read_profile(&path)?;
    let hz = p.hz_or(hz, &path.display().to_string())?;
    Ok((label, path, p, hz))
}

/// The profile with only the processes `select` keeps
/// ([`analysis::select_processes`]); the processes summed as one are
/// named "other (K processes)". A pid of `--pids` the recording does not
/// have is an error, and so is a selection on a file without per-process
/// records.
fn select(path: &Path, mut p: Profile, select: &PlotSelect) -> Result<Profile> {
    if select.pids.is_empty() && select.top.is_none() {
        return Ok(p);
    }
    if p.records.is_empty() {
        return Err(ToolError::Msg(format!(
            "{}: --pids and --top need a per-process recording (`monitor --per-process`)",
            path.display()
        )));
    }
    if let Some(pid) = select
        .pids
        .iter()
        .find(|&&pid| !p.records.iter().any(|r| r.pid == pid))
    {
        return Err(ToolError::Msg(format!(
            "{}: no records of pid {pid}",
            path.display()
        )));
    }
    let selection = Selection {
        pids: select.pids.clone(),
        top: select.top.map(|n| n as usize),
    };
    let (records, summed) = analysis::select_processes(&p.records, &selection);
    p.records = records;
    if summed > 0 {
        let s = if summed == 1 { "" } else { "es" };
        p.header
            .commands
            .insert(analysis::OTHER_PID, format!("other ({summed} process{s})"));
    }
    Ok(p)
}

/// Checks the output's extension before anything is read or drawn.
fn check_output(output: &Path) -> Result<()> {
    ImageFormat::of(output)?;
    Ok(())
}

/// Runs `pfprof-plot`.
pub fn run(cli: &PlotCli, out: &mut impl std::io::Write) -> Result<u8> {
    let size = (cli.width, cli.height);
    match &cli.command {
        PlotCommand::Faults {
            output,
            title,
            select: which,
            inputs,
        } => {
            check_output(output)?;
            let loaded = inputs
                .iter()
                .map(|s| {
                    let (label, path, p, hz) = load(s, cli.hz)?;
                    Ok((label, select(&path, p, which)?, hz))
                })
                .collect::<Result<Vec<_>>>()?;
            accumulated_of(title, &loaded).save(output, size)?;
            writeln!(out, "{}", output.display())?;
        }
        PlotCommand::Rates {
            output,
            title,
            select: which,
            smooth,
            input,
        } => {
            check_output(output)?;
            let (_, path, p, hz) = load(&input.to_string_lossy(), cli.hz)?;
            if p.records.is_empty() {
                return Err(ToolError::Msg(format!(
                    "{}: no per-process records (record with `monitor --per-process`)",
                    path.display()
                )));
            }
            let p = select(&path, p, which)?;
            let mut chart = rates_of(title, &p, hz);
            if let Some(w) = smooth {
                chart = chart.smoothed(*w);
            }
            chart.save(output, size)?;
            writeln!(out, "{}", output.display())?;
        }
        PlotCommand::Memory {
            output,
            title,
            ram,
            smooth,
            input,
        } => {
            check_output(output)?;
            let (_, path, p, hz) = load(&input.to_string_lossy(), cli.hz)?;
            let mut chart = memory_of(title, &p, hz, ram.map(|r| r as f64)).ok_or_else(|| {
                ToolError::Msg(format!(
                    "no memory figures in {}: recorded before pfprof 0.2, without \
                     --per-process or in the classic format (record with `monitor \\
                     --per-process --format csv`)",
                    path.display()
                ))
            })?;
            if let Some(w) = smooth {
                chart = chart.smoothed(*w);
            }
            chart.save(output, size)?;
            writeln!(out, "{}", output.display())?;
        }
        PlotCommand::Utilization {
            output,
            title,
            cpus,
            points,
        } => {
            check_output(output)?;
            let mut xy = Vec::new();
            for spec in points {
                let (n, path) = spec.split_once('=').ok_or_else(|| {
                    ToolError::Msg(format!("`{spec}` is not N=PATH (e.g. 5=profile5.dat)"))
                })?;
                let n: u32 = n
                    .parse()
                    .map_err(|_| ToolError::Msg(format!("`{n}` is not a number N")))?;
                let (_, path, p, hz) = load(path, cli.hz)?;
                let u = analysis::utilization(&p.totals(), hz).ok_or_else(|| {
                    ToolError::Msg(format!(
                        "{}: fewer than two samples, no utilization",
                        path.display()
                    ))
                })?;
                xy.push((n, u * 100.0));
            }
            xy.sort_by_key(|p| p.0);
            Chart::Utilization {
                title: title.clone(),
                points: xy,
                cpus: *cpus,
            }
            .save(output, size)?;
            writeln!(out, "{}", output.display())?;
        }
        PlotCommand::Summary { inputs } => {
            let runs = inputs
                .iter()
                .map(|s| {
                    load(s, cli.hz).map(|(l, _, p, hz)| {
                        ProfileSummary::of(&l, &p.totals(), hz).with_memory(&p.records)
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            analysis::render_summary(out, &runs)?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_label_equals_path_or_a_path() {
        assert_eq!(
            split_input("R pair=/x/r.dat"),
            ("R pair".to_owned(), PathBuf::from("/x/r.dat"))
        );
        assert_eq!(
            split_input("/x/profile1.dat"),
            ("profile1".to_owned(), PathBuf::from("/x/profile1.dat"))
        );
    }

    #[test]
    fn summary_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("pfprof-plot-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.dat");
        std::fs::write(&good, "# pfprof hz=1000\n0 10 0 0\n1000 5 1 500000000\n").unwrap();
        let bad = dir.join("bad.dat");
        std::fs::write(&bad, "0 10 0 0\n1 2\n").unwrap();
        let run_plot = |args: &[&str]| {
            use clap::Parser;
            let cli = PlotCli::try_parse_from([&["pfprof-plot"], args].concat()).unwrap();
            let mut out = Vec::new();
            run(&cli, &mut out).map(|_| String::from_utf8(out).unwrap())
        };
        let spec = format!("run={}", good.display());
        let table = run_plot(&["summary", &spec]).unwrap();
        assert!(
            table.contains(
                " run |       2 |           15 |            1 |           1.0 |           15.0 \
                 |            1.0 |               50.0 "
            ),
            "{table}"
        );
        let e = run_plot(&["summary", &bad.to_string_lossy()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{}: line 2: 2 fields; expected 4 (samples), 5 or 9 (per-process records)",
                bad.display()
            )
        );
        let e = run_plot(&["rates", "-o", "x.svg", &good.to_string_lossy()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("no per-process records"), "{e}");
        let e = run_plot(&["memory", "-o", "x.svg", &good.to_string_lossy()])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("no memory figures in {}: ", good.display())),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
