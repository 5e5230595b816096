//! `pfprof-plot`: charts of profile files, as PNG or SVG.
//!
//! A driver: the files are read, analysed and drawn by pfprof-profile
//! ([`Profile`], [`pfprof_profile::analysis`], [`pfprof_profile::chart`]),
//! the same code the case studies and the demo use.

use std::path::PathBuf;

use pfprof_profile::analysis::{self, ProfileSummary};
use pfprof_profile::chart::{accumulated_of, memory_of, rates_of, Chart};
use pfprof_profile::Profile;

use crate::cli::{PlotCli, PlotCommand};
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

fn load(spec: &str, hz: Option<u32>) -> Result<(String, PathBuf, Profile, u32)> {
    let (label, path) = split_input(spec);
    let p = Profile::read(&path)?;
    let hz = p.hz_or(hz, &path.display().to_string())?;
    Ok((label, path, p, hz))
}

/// Runs `pfprof-plot`.
pub fn run(cli: &PlotCli, out: &mut impl std::io::Write) -> Result<u8> {
    let size = (cli.width, cli.height);
    match &cli.command {
        PlotCommand::Faults {
            output,
            title,
            inputs,
        } => {
            let loaded = inputs
                .iter()
                .map(|s| load(s, cli.hz).map(|(label, _, p, hz)| (label, p, hz)))
                .collect::<Result<Vec<_>>>()?;
            accumulated_of(title, &loaded).save(output, size)?;
            writeln!(out, "{}", output.display())?;
        }
        PlotCommand::Rates {
            output,
            title,
            input,
        } => {
            let (_, path, p, hz) = load(&input.to_string_lossy(), cli.hz)?;
            if p.records.is_empty() {
                return Err(ToolError::Msg(format!(
                    "{}: no per-process records (record with `monitor --per-process`)",
                    path.display()
                )));
            }
            rates_of(title, &p, hz).save(output, size)?;
            writeln!(out, "{}", output.display())?;
        }
        PlotCommand::Memory {
            output,
            title,
            ram,
            input,
        } => {
            let (_, path, p, hz) = load(&input.to_string_lossy(), cli.hz)?;
            let chart = memory_of(title, &p, hz, ram.map(|r| r as f64)).ok_or_else(|| {
                ToolError::Msg(format!(
                    "no memory figures in {}: recorded before pfprof 0.2, without \
                     --per-process or in the classic format (record with `monitor \\
                     --per-process --format csv`)",
                    path.display()
                ))
            })?;
            chart.save(output, size)?;
            writeln!(out, "{}", output.display())?;
        }
        PlotCommand::Utilization {
            output,
            title,
            cpus,
            points,
        } => {
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
                    load(s, cli.hz).map(|(l, _, p, hz)| ProfileSummary::of(&l, &p.totals(), hz))
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
                "run                 2           15          1           16        1.0s     50.0"
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
