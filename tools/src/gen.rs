//! Shell completions and man pages, generated from the clap definitions.

use std::fs;
use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{all_commands, PfprofCli};
use crate::Result;

/// Writes pfprof's completion script for `shell` to `out`, or, with `dir`,
/// the scripts of every tool into that directory.
pub fn completions(shell: Shell, dir: Option<&Path>, out: &mut impl Write) -> Result<()> {
    match dir {
        None => clap_complete::generate(shell, &mut PfprofCli::command(), "pfprof", out),
        Some(dir) => {
            fs::create_dir_all(dir)?;
            for mut cmd in all_commands() {
                let name = cmd.get_name().to_owned();
                clap_complete::generate_to(shell, &mut cmd, name, dir)?;
            }
        }
    }
    Ok(())
}

/// Writes pfprof.1 to `out`, or, with `dir`, a page per tool and per pfprof
/// subcommand (`pfprof-status.1`, ...) into that directory.
pub fn man(dir: Option<&Path>, out: &mut impl Write) -> Result<()> {
    let Some(dir) = dir else {
        clap_mangen::Man::new(PfprofCli::command()).render(out)?;
        return Ok(());
    };
    fs::create_dir_all(dir)?;
    for cmd in all_commands() {
        let name = cmd.get_name().to_owned();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let page = sub.clone().name(format!("{name}-{}", sub.get_name()));
            let mut f = fs::File::create(dir.join(format!("{}.1", page.get_name())))?;
            clap_mangen::Man::new(page).render(&mut f)?;
        }
        let mut f = fs::File::create(dir.join(format!("{name}.1")))?;
        clap_mangen::Man::new(cmd).render(&mut f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pfprof's subcommands, written out here rather than taken from the
    /// clap definition the pages are generated from.
    const SUBCOMMANDS: [&str; 9] = [
        "register",
        "unregister",
        "list",
        "status",
        "reset",
        "period",
        "run",
        "completions",
        "man",
    ];

    #[test]
    fn man_page_and_completions_mention_the_subcommands() {
        let mut v = Vec::new();
        man(None, &mut v).unwrap();
        let page = String::from_utf8(v).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"));
        // The SUBCOMMANDS section names each one as a page of its own.
        let section = page
            .split(".SH SUBCOMMANDS")
            .nth(1)
            .and_then(|rest| rest.split(".SH ").next())
            .expect("a SUBCOMMANDS section");
        for sub in SUBCOMMANDS {
            let entry = format!("\n.TP\npfprof\\-{sub}(1)\n");
            assert!(section.contains(&entry), "no {entry:?} in\n{section}");
        }
        let mut v = Vec::new();
        completions(Shell::Bash, None, &mut v).unwrap();
        let script = String::from_utf8(v).unwrap();
        // The words offered after `pfprof `, each a word of its own.
        let opts = script
            .lines()
            .find_map(|l| l.trim().strip_prefix("opts=\"-h -V --device "))
            .expect("the top-level opts line");
        let words: Vec<&str> = opts.trim_end_matches('"').split_whitespace().collect();
        for sub in SUBCOMMANDS {
            assert!(words.contains(&sub), "{sub} not offered: {opts}");
        }
    }

    #[test]
    fn writes_every_page_and_script_into_a_directory() {
        let dir = std::env::temp_dir().join(format!("pfprof-gen-{}", std::process::id()));
        man(Some(&dir), &mut Vec::new()).unwrap();
        completions(Shell::Zsh, Some(&dir), &mut Vec::new()).unwrap();
        for f in [
            "pfprof.1",
            "pfprof-run.1",
            "pfprof-status.1",
            "monitor.1",
            "pfprof-top.1",
            "_pfprof",
            "_monitor",
            "_pfprof-top",
        ] {
            assert!(dir.join(f).is_file(), "{f} missing");
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
