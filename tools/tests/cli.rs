//! End-to-end tests of the tools' command lines that need no module: parsing
//! errors, generated files, and a clear message when the device is missing.

use assert_cmd::Command;

fn tool(name: &str) -> Command {
    let mut c = Command::cargo_bin(name).expect("the tool is built");
    // No ./node here and (on a host) no /dev/pfprof.
    c.current_dir(std::env::temp_dir());
    c
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_missing_device_is_a_clear_error_with_exit_1() {
    for (name, args) in [
        ("pfprof", vec!["status"]),
        ("pfprof", vec!["list"]),
        ("monitor", vec![]),
        ("pfprof-top", vec!["-b", "-n", "1"]),
    ] {
        let o = tool(name)
            .args(["--device", "/nonexistent/pfprof"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{name} {args:?}");
        assert!(o.stdout.is_empty(), "{name}: nothing on stdout");
        let e = stderr(&o);
        assert!(
            e.starts_with(&format!("{name}: the pfprof module is not loaded")),
            "{name}: {e}"
        );
        assert!(e.contains("/nonexistent/pfprof"));
    }
}

#[test]
fn default_paths_are_named_when_nothing_is_found() {
    // The host suite runs where the module is not loaded (the in-VM suite
    // checks the tools with it); a host with /dev/pfprof cannot show this.
    assert!(
        !std::path::Path::new("/dev/pfprof").exists(),
        "/dev/pfprof exists on this host: run the host tests without the pfprof module loaded"
    );
    let o = tool("pfprof").arg("status").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("tried /dev/pfprof, node"));
}

#[test]
fn a_file_that_is_not_the_device_is_named() {
    let o = tool("pfprof")
        .args(["--device", "/dev/null", "status"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/dev/null is not the pfprof device"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_without_the_module_gives_the_rusage_alone_labelled_as_such() {
    let o = tool("pfprof")
        .args(["--device", "/nonexistent/pfprof", "run", "--"])
        .args([
            "sh",
            "-c",
            "head -c 4000000 /dev/zero | tail -c 1 >/dev/null; exit 3",
        ])
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "the command's status: {e}");
    assert!(e.contains("/nonexistent/pfprof"), "{e}");
    assert!(e.contains("running the command without the module"), "{e}");
    assert!(
        e.contains("(without the module: rusage of the command and its reaped children)"),
        "{e}"
    );
    assert!(
        e.contains("minor-faults    # rusage, with reaped descendants"),
        "{e}"
    );
    assert!(e.contains("seconds time elapsed (exit status 3)"), "{e}");
    assert!(!e.contains("pfprof counted"), "{e}");
}

#[test]
fn a_path_that_is_not_the_device_is_named_with_what_it_is() {
    let dir = std::env::temp_dir().join(format!("pfprof-node-dir-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("node")).unwrap();
    assert!(
        !std::path::Path::new("/dev/pfprof").exists(),
        "/dev/pfprof exists on this host: run the host tests without the pfprof module loaded"
    );
    let o = tool("pfprof")
        .current_dir(&dir)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("node is a directory, not the pfprof device node"),
        "{}",
        stderr(&o)
    );
    let file = dir.join("plain");
    std::fs::write(&file, "x").unwrap();
    let o = tool("monitor").arg("--device").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("{} is a regular file", file.display())),
        "{}",
        stderr(&o)
    );
    // An unwritable --dir is named.
    let o = tool("pfprof")
        .args(["man", "--dir", "/proc/pfprof-man"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("pfprof: /proc/pfprof-man: "),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn periods_out_of_range_are_reported_in_durations() {
    for arg in ["5", "5us"] {
        let o = tool("pfprof").args(["period", arg]).output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert!(
            stderr(&o).contains("period 5us is out of range (1ms to 10s)"),
            "{}",
            stderr(&o)
        );
    }
    let o = tool("pfprof-top").args(["-d", "5ms"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("delay 5ms is out of range (10ms to 1h)"));
}

/// Runs bash's completion of `line` (the cursor at its end) with the
/// generated script; returns the candidates.
fn complete(line: &str, path: &std::path::Path) -> Vec<String> {
    let script = tool("pfprof")
        .args(["completions", "bash"])
        .output()
        .expect("pfprof completions");
    assert!(script.status.success());
    let file = path.join("pfprof.bash");
    std::fs::write(&file, &script.stdout).expect("write the script");
    let words: Vec<&str> = line.split(' ').collect();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = [
        format!("source '{}'", file.display()),
        format!("COMP_WORDS=({})", quoted.join(" ")),
        format!("COMP_CWORD={}", words.len() - 1),
        format!("COMP_LINE='{line}'"),
        format!("PATH='{}'", path.display()),
        "COMP_POINT=${#COMP_LINE}".to_owned(),
        format!(
            "_pfprof_with_run pfprof '{}' '{}'",
            words[words.len() - 1],
            words[words.len() - 2]
        ),
        r#"printf '%s\n' "${COMPREPLY[@]}""#.to_owned(),
    ]
    .join("\n");
    let o = std::process::Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(prog)
        .output()
        .expect("bash");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_the_command_after_pfprof_run() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("pfprof-complete-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["pyfake3", "pyfake3-config", "other"] {
        let f = dir.join(name);
        std::fs::write(
            &f,
            "#!/bin/sh
",
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut got = complete("pfprof run -- pyf", &dir);
    got.sort();
    assert_eq!(got, ["pyfake3", "pyfake3-config"]);
    let mut got = complete("pfprof run pyf", &dir);
    got.sort();
    assert_eq!(got, ["pyfake3", "pyfake3-config"]);
    assert_eq!(complete("pfprof --device /x run -- oth", &dir), ["other"]);
    // Other positions are clap's: the subcommands.
    let subs = complete("pfprof reg", &dir);
    assert_eq!(subs, ["register"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_are_refused_by_the_parser_with_exit_2() {
    for args in [
        vec!["register", "0"],
        vec!["register", "-5"],
        vec!["unregister"],
        vec!["period", "5us"],
        vec!["bogus"],
        vec!["run"],
    ] {
        let o = tool("pfprof").args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty());
        assert!(stderr(&o).contains("error:"), "{args:?}");
    }
    let o = tool("pfprof-top").args(["-d", "-1"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = tool("monitor").args(["--format", "xml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn man_and_completions_need_no_module() {
    let o = tool("pfprof").arg("man").output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains(".TH pfprof 1"));
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = tool("pfprof")
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success(), "{shell}");
        assert!(!o.stdout.is_empty(), "{shell}");
    }
}

#[test]
fn help_and_version() {
    for name in ["pfprof", "monitor", "pfprof-top"] {
        let o = tool(name).arg("--help").output().unwrap();
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("Usage:"));
        let o = tool(name).arg("--version").output().unwrap();
        assert!(String::from_utf8_lossy(&o.stdout).contains("0.1.0"));
    }
}

/// The committed case-study data, from the repository root.
fn docs_data(name: &str) -> String {
    format!("{}/../docs/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn plot_summary_reproduces_the_committed_case_study_table() {
    let o = tool("pfprof-plot")
        .arg("summary")
        .arg(format!("R pair={}", docs_data("case_study_1_r_pair.dat")))
        .arg(format!("L pair={}", docs_data("case_study_1_l_pair.dat")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = std::fs::read_to_string(docs_data("case_study_1_summary.txt")).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
}

#[test]
fn plot_draws_the_committed_recordings_and_names_bad_lines() {
    let dir = std::env::temp_dir().join(format!("pfprof-plot-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("rates.svg");
    let o = tool("pfprof-plot")
        .args(["rates", "-o"])
        .arg(&svg)
        .arg(docs_data("case_study_1_r_pair.ext.dat"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        svg.to_string_lossy()
    );
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("page faults per second"));
    let bad = dir.join("bad.dat");
    std::fs::write(&bad, "# pfprof hz=1000\n1 2 3 4\n5 six 7 8\n").unwrap();
    let o = tool("pfprof-plot")
        .arg("summary")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "pfprof-plot: {}: line 3: not a number in `5 six 7 8`\n",
            bad.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plot_memory_draws_a_recording_with_memory_and_refuses_one_without() {
    let dir = std::env::temp_dir().join(format!("pfprof-plot-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("memory.svg");
    let o = tool("pfprof-plot")
        .args(["memory", "--ram", "3948", "-t", "N=5", "-o"])
        .arg(&svg)
        .arg(docs_data("case_study_2_n05.ext.dat"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        svg.to_string_lossy()
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    for want in [
        "N=5",
        "memory (MiB)",
        "major faults per second",
        "RAM (3,948 MiB)",
        "swapped out",
    ] {
        assert!(text.contains(want), "missing {want:?}");
    }
    // Case study 1's recordings are in the classic format: no memory.
    let old = docs_data("case_study_1_r_pair.ext.dat");
    let o = tool("pfprof-plot")
        .args(["memory", "-o"])
        .arg(dir.join("old.svg"))
        .arg(&old)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!(
            "pfprof-plot: no memory figures in {old}: recorded before pfprof 0.2"
        )),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("old.svg").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
