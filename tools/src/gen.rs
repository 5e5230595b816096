//! Shell completions and man pages, generated from the clap definitions.
//!
//! The pages are clap_mangen's sections (NAME, DESCRIPTION, OPTIONS,
//! SUBCOMMANDS, VERSION) with a synopsis of our own (clap's usage line:
//! `pfprof run [OPTIONS] [--] COMMAND [ARG]...`), and sections made from
//! the tools' long help (COLUMNS, EXAMPLES, EXIT STATUS, ...). Markdown
//! code spans of the doc comments become bold; no backtick is left.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{all_commands, PfprofCli};
use crate::{Result, ToolError};

/// An I/O error that names the path it is about.
fn at(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |e| ToolError::Msg(format!("{}: {e}", path.display()))
}

/// Creates `dir` (the directory given with --dir, asked for), naming it in
/// errors.
fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(at(dir))
}

/// bash's completion of `pfprof run [--] COMMAND [ARG]...`: the command
/// name from $PATH (as `sudo`, `time` complete it), then files; the rest
/// is clap's `_pfprof`.
const BASH_RUN_COMPLETION: &str = r#"
# pfprof run [OPTIONS] [--] COMMAND [ARG]...: complete the command's name
# from $PATH, then files for its arguments; everything else is _pfprof's.
_pfprof_with_run() {
    local cur="${COMP_WORDS[COMP_CWORD]}" i j
    for (( i = 1; i < COMP_CWORD; i++ )); do
        case "${COMP_WORDS[i]}" in
            --device) (( i++ )) ;;
            -*) ;;
            run)
                j=$(( i + 1 ))
                while (( j < COMP_CWORD )) && [[ "${COMP_WORDS[j]}" == -* && "${COMP_WORDS[j]}" != -- ]]; do
                    (( j++ ))
                done
                if (( j < COMP_CWORD )) && [[ "${COMP_WORDS[j]}" == -- ]]; then
                    (( j++ ))
                elif (( j == COMP_CWORD )) && [[ "$cur" == -* ]]; then
                    break
                fi
                if (( j == COMP_CWORD )); then
                    COMPREPLY=( $(compgen -c -- "$cur") )
                else
                    COMPREPLY=( $(compgen -f -- "$cur") )
                fi
                return 0
                ;;
            *) break ;;
        esac
    done
    _pfprof "$@"
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _pfprof_with_run -o nosort -o bashdefault -o default pfprof
else
    complete -F _pfprof_with_run -o bashdefault -o default pfprof
fi
"#;

/// The completion script of `cmd` for `shell`.
fn script(shell: Shell, cmd: &mut clap::Command) -> Vec<u8> {
    let name = cmd.get_name().to_owned();
    let mut v = Vec::new();
    clap_complete::generate(shell, cmd, &name, &mut v);
    if shell == Shell::Bash && name == "pfprof" {
        v.extend_from_slice(BASH_RUN_COMPLETION.as_bytes());
    }
    v
}

/// Writes pfprof's completion script for `shell` to `out`, or, with `dir`,
/// the scripts of every tool into that directory.
pub fn completions(shell: Shell, dir: Option<&Path>, out: &mut impl Write) -> Result<()> {
    match dir {
        None => out.write_all(&script(shell, &mut PfprofCli::command()))?,
        Some(dir) => {
            create_dir(dir)?;
            for mut cmd in all_commands() {
                let text = script(shell, &mut cmd);
                let name = cmd.get_name().to_owned();
                let file = dir.join(match shell {
                    Shell::Bash => format!("{name}.bash"),
                    Shell::Zsh => format!("_{name}"),
                    Shell::Fish => format!("{name}.fish"),
                    Shell::Elvish => format!("{name}.elv"),
                    Shell::PowerShell => format!("_{name}.ps1"),
                    _ => name.clone(),
                });
                fs::write(&file, text).map_err(at(&file))?;
            }
        }
    }
    Ok(())
}

/// Escapes text for a roff text line.
fn roff_escape(s: &str) -> String {
    let e = s.replace('\\', "\\e").replace('-', "\\-");
    if e.starts_with('.') || e.starts_with('\'') {
        format!("\\&{e}")
    } else {
        e
    }
}

/// Markdown code spans (`x`) as bold; an unpaired backtick is dropped.
fn no_backticks(roff: &str) -> String {
    roff.lines()
        .map(|line| {
            if line.matches('`').count() % 2 == 1 {
                return line.replace('`', "");
            }
            let mut out = String::with_capacity(line.len() + 8);
            for (i, part) in line.split('`').enumerate() {
                if i > 0 {
                    out.push_str(if i % 2 == 1 { "\\fB" } else { "\\fR" });
                }
                out.push_str(part);
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The sections of a tool's long help: `Heading:` lines at the left
/// margin, each with the indented lines under it (or text after the colon).
fn help_sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let top = !line.starts_with(' ') && !line.trim().is_empty();
        match line.split_once(':') {
            Some((head, rest)) if top => {
                let title = head
                    .split(" (")
                    .next()
                    .unwrap_or(head)
                    .trim()
                    .to_uppercase();
                let mut body = Vec::new();
                if !rest.trim().is_empty() {
                    body.push(format!("  {}", rest.trim()));
                }
                sections.push((title, body));
            }
            _ => match sections.last_mut() {
                Some((_, body)) => body.push(line.to_owned()),
                None => sections.push((String::new(), vec![line.to_owned()])),
            },
        }
    }
    sections
}

/// Sections for pages whose help has none of their own: their examples,
/// and the exit status every tool shares.
fn default_sections(page: &str) -> Vec<(String, Vec<String>)> {
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    let examples = match page {
        "pfprof-register" | "pfprof-unregister" => Some(
            "  pfprof register 1234\n  pfprof register -p 1234,5678 -p 42\n      a thread id stands for its process; dead pids are skipped",
        ),
        "pfprof-period" => Some(
            "  pfprof period\n      the period in microseconds\n  pfprof period 50ms\n  pfprof period 0.1s\n  pfprof period 20000\n      a bare number is microseconds",
        ),
        "pfprof-completions" => Some(
            "  pfprof completions bash > /etc/bash_completion.d/pfprof\n  pfprof completions zsh --dir ~/.zfunc",
        ),
        "pfprof-man" => Some("  pfprof man | man -l -\n  pfprof man --dir ~/.local/share/man/man1"),
        "pfprof-plot" => Some(
            "  monitor --header > profile.dat\n  pfprof-plot faults -o faults.png profile.dat\n  pfprof-plot summary \"R pair=r.dat\" \"L pair=l.dat\"",
        ),
        _ => None,
    };
    let status = "  0  success\n  1  an error (the message names its cause: the device, the file)\n  2  invalid arguments";
    let mut v = Vec::new();
    if let Some(e) = examples {
        v.push(("EXAMPLES".to_owned(), lines(e)));
    }
    v.push(("EXIT STATUS".to_owned(), lines(status)));
    v
}

/// Renders one page: `name` is the page's name (`pfprof-run`).
fn render_page(cmd: clap::Command, name: &str, usage: &str, out: &mut impl Write) -> Result<()> {
    let cmd = cmd.name(name.to_owned()).disable_help_subcommand(true);
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|s| s.to_string());
    let has_subcommands = cmd.get_subcommands().next().is_some();
    let has_version = cmd.get_version().is_some();
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    writeln!(page, ".SH SYNOPSIS")?;
    writeln!(page, ".nf")?;
    writeln!(page, "{}", roff_escape(usage))?;
    writeln!(page, ".fi")?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    if has_subcommands {
        man.render_subcommands_section(&mut page)?;
    }
    let mut sections = after.map(|t| help_sections(&t)).unwrap_or_default();
    for (title, body) in default_sections(name) {
        if !sections.iter().any(|(t, _)| *t == title) {
            sections.push((title, body));
        }
    }
    for (title, body) in sections {
        if title.is_empty() {
            continue;
        }
        writeln!(page, ".SH \"{title}\"")?;
        writeln!(page, ".nf")?;
        for line in body {
            writeln!(page, "{}", roff_escape(&line))?;
        }
        writeln!(page, ".fi")?;
    }
    if has_version {
        man.render_version_section(&mut page)?;
    }
    // Each section rendered alone starts with the quote-string preamble:
    // keep the first.
    let text = String::from_utf8_lossy(&page);
    let mut seen = std::collections::BTreeSet::new();
    let text: String = text
        .lines()
        .filter(|l| {
            !(l.starts_with(".ie \\n(.g .ds Aq") || l.starts_with(".el .ds Aq")) || seen.insert(*l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    out.write_all(no_backticks(&text).as_bytes())?;
    Ok(())
}

/// The usage line of a built command (`pfprof run [OPTIONS] [--] COMMAND
/// [ARG]...`), without clap's `Usage: `.
fn usage(cmd: &mut clap::Command) -> String {
    let u = cmd.render_usage().to_string();
    u.strip_prefix("Usage: ").unwrap_or(&u).trim().to_owned()
}

/// Every page: (file name without `.1`, command, usage line).
fn pages() -> Vec<(String, clap::Command, String)> {
    let mut out = Vec::new();
    for cmd in all_commands() {
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        let name = cmd.get_name().to_owned();
        let subs: Vec<clap::Command> = cmd
            .get_subcommands()
            .filter(|s| s.get_name() != "help")
            .cloned()
            .collect();
        for mut sub in subs {
            let u = usage(&mut sub);
            out.push((format!("{name}-{}", sub.get_name()), sub, u));
        }
        let u = usage(&mut cmd);
        out.push((name, cmd, u));
    }
    out
}

/// Writes pfprof.1 to `out`, or, with `dir`, a page per tool and per pfprof
/// subcommand (`pfprof-status.1`, ...) into that directory.
pub fn man(dir: Option<&Path>, out: &mut impl Write) -> Result<()> {
    let Some(dir) = dir else {
        let (name, cmd, u) = pages()
            .into_iter()
            .find(|(n, _, _)| n == "pfprof")
            .ok_or_else(|| ToolError::Msg("no pfprof command".to_owned()))?;
        return render_page(cmd, &name, &u, out);
    };
    create_dir(dir)?;
    for (name, cmd, u) in pages() {
        let path: PathBuf = dir.join(format!("{name}.1"));
        let mut f = fs::File::create(&path).map_err(at(&path))?;
        render_page(cmd, &name, &u, &mut f)?;
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

    fn page(name: &str) -> String {
        let (n, cmd, u) = pages()
            .into_iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no page {name}"));
        let mut v = Vec::new();
        render_page(cmd, &n, &u, &mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    fn section<'a>(page: &'a str, title: &str) -> Option<&'a str> {
        let plain = format!(".SH {title}\n");
        let quoted = format!(".SH \"{title}\"\n");
        let start = page.find(&plain).or_else(|| page.find(&quoted))?;
        let rest = &page[start..];
        let body = rest.split_once('\n')?.1;
        Some(body.split("\n.SH ").next().unwrap_or(body))
    }

    #[test]
    fn man_page_and_completions_mention_the_subcommands() {
        let mut v = Vec::new();
        man(None, &mut v).unwrap();
        let page = String::from_utf8(v).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"));
        // The SUBCOMMANDS section names each one as a page of its own.
        let section = section(&page, "SUBCOMMANDS").expect("a SUBCOMMANDS section");
        for sub in SUBCOMMANDS {
            let entry = format!(".TP\npfprof\\-{sub}(1)\n");
            assert!(section.contains(&entry), "no {entry:?} in\n{section}");
        }
        assert!(!page.contains("pfprof\\-help"), "no help page to refer to");
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
    fn every_page_has_examples_exit_status_and_no_backticks() {
        let all = pages();
        assert!(all.len() >= 4 + SUBCOMMANDS.len(), "{}", all.len());
        for (name, _, _) in &all {
            let p = page(name);
            assert!(!p.contains('`'), "{name}: a backtick in\n{p}");
            for s in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS"] {
                assert!(section(&p, s).is_some(), "{name}: no {s} section");
            }
            assert!(!p.contains("help(1)"), "{name}");
        }
        for name in [
            "pfprof",
            "pfprof-run",
            "monitor",
            "pfprof-top",
            "pfprof-period",
        ] {
            let p = page(name);
            let ex = section(&p, "EXAMPLES").unwrap_or_else(|| panic!("{name}"));
            assert!(ex.contains(".nf\n"), "{name}: {ex}");
        }
        for (name, column) in [
            ("monitor", "jiffies"),
            ("monitor", "tree_root"),
            ("pfprof-top", "MINFLT/s"),
        ] {
            let p = page(name);
            let c = section(&p, "COLUMNS").unwrap_or_else(|| panic!("{name}: no COLUMNS"));
            assert!(c.contains(column), "{name}: {c}");
        }
        // pfprof-top's process trees: the option, the key, the fields.
        let top = page("pfprof-top");
        let trees = section(&top, "PROCESS TREES").unwrap_or_else(|| panic!("{top}"));
        for w in ["tree_root", "procs", "make (+12)"] {
            assert!(trees.contains(w), "{w}: {trees}");
        }
        assert!(top.contains("fold each process tree"), "{top}");
        // Code spans of the doc comments are bold.
        assert!(page("monitor").contains("\\fBmonitor > profile.dat\\fR"));
    }

    #[test]
    fn synopses_are_the_command_lines() {
        let run = section(&page("pfprof-run"), "SYNOPSIS").unwrap().to_owned();
        assert_eq!(
            run,
            ".nf\npfprof run [OPTIONS] [\\-\\-] COMMAND [ARG]...\n.fi"
        );
        let reg = section(&page("pfprof-register"), "SYNOPSIS")
            .unwrap()
            .to_owned();
        assert!(reg.contains("\npfprof register "), "{reg}");
        let top = section(&page("pfprof-top"), "SYNOPSIS").unwrap().to_owned();
        assert!(top.contains("\npfprof\\-top [OPTIONS]"), "{top}");
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
        // zsh completes the command after `pfprof run` from $PATH.
        let zsh = fs::read_to_string(dir.join("_pfprof")).unwrap();
        assert!(
            zsh.contains(":_cmdambivalent"),
            "zsh: no command completion after run"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_directory_is_named() {
        let e = man(Some(Path::new("/proc/pfprof-man")), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().starts_with("/proc/pfprof-man: "), "{e}");
    }
}
