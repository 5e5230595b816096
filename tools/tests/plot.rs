//! End-to-end tests of pfprof-plot on the committed recordings and on
//! files that are not profiles: the selection of processes, smoothing,
//! labels with command names, sizes, and errors in plain words. (The
//! pixels of the PNG charts are checked in pfprof-profile's
//! `tests/png_pixels.rs`.)

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn plot() -> Command {
    let mut c = Command::cargo_bin("pfprof-plot").expect("pfprof-plot is built");
    c.current_dir(std::env::temp_dir());
    c
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The committed case-study data.
fn docs_data(name: &str) -> String {
    format!("{}/../docs/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh temporary directory for one test.
fn tmp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pfprof-plot-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// Runs pfprof-plot; on success returns the SVG it wrote to `out`.
fn svg_of(args: &[&str], out: &Path) -> String {
    let o = plot()
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .expect("pfprof-plot runs");
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        out.to_string_lossy()
    );
    std::fs::read_to_string(out).expect("the SVG")
}

/// The texts of an SVG's `<text>` elements.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|chunk| {
            let start = chunk.find('>')? + 1;
            let end = chunk.find("</text>")?;
            Some(chunk[start..end].trim().to_owned())
        })
        .collect()
}

#[test]
fn files_without_samples_are_errors() {
    let dir = tmp_dir("empty");
    let out = dir.join("x.png");
    let o = plot()
        .args(["faults", "-o"])
        .arg(&out)
        .arg("/etc/passwd")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "pfprof-plot: /etc/passwd: no samples (not a profile of monitor: no `# pfprof` \
         header and no line of numbers)\n"
    );
    let header_only = dir.join("header.dat");
    std::fs::write(&header_only, "# pfprof hz=1000 period_us=50000\n").unwrap();
    for chart in ["faults", "rates", "memory"] {
        let o = plot()
            .args([chart, "-o"])
            .arg(&out)
            .arg(&header_only)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{chart}");
        assert_eq!(
            stderr(&o),
            format!("pfprof-plot: {}: no samples\n", header_only.display()),
            "{chart}"
        );
    }
    // Files that cannot be read, in plain words.
    let o = plot()
        .args(["summary", "/nonexistent.dat", "/tmp"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "pfprof-plot: cannot read /nonexistent.dat: No such file or directory\n"
    );
    let o = plot().args(["summary", "/tmp"]).output().unwrap();
    assert_eq!(
        stderr(&o),
        "pfprof-plot: cannot read /tmp: Is a directory\n"
    );
    let o = plot().arg("summary").arg(&header_only).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn output_errors_name_the_path_in_plain_words_and_create_nothing() {
    let dir = tmp_dir("output");
    let missing = dir.join("no/such/dir/x.png");
    let o = plot()
        .args(["faults", "-o"])
        .arg(&missing)
        .arg(docs_data("case_study_1_r_pair.dat"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "pfprof-plot: cannot write {}: No such file or directory\n",
            missing.display()
        )
    );
    assert!(!dir.join("no").exists(), "a directory was created");
    // A directory where the image should go.
    let taken = dir.join("taken.svg");
    std::fs::create_dir(&taken).unwrap();
    let o = plot()
        .args(["rates", "-o"])
        .arg(&taken)
        .arg(docs_data("case_study_1_r_pair.ext.dat"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "pfprof-plot: cannot write {}: Is a directory\n",
            taken.display()
        )
    );
    // The extension is checked before anything is read.
    let o = plot()
        .args(["faults", "-o", "x.jpg", "/nonexistent.dat"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "pfprof-plot: x.jpg: the output must end in .png or .svg\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn many_processes_top_pids_and_smoothing() {
    let dir = tmp_dir("select");
    // Reading the 22 processes' recording takes seconds in a debug build:
    // once, with --top 5.
    let n22 = docs_data("case_study_2_n22.ext.dat");
    let n05 = docs_data("case_study_2_n05.ext.dat");
    let out = dir.join("r.svg");
    // --top 5: five processes and the other 17 summed, last.
    let top = texts(&svg_of(
        &["rates", "--top", "5", "--smooth", "500ms", &n22],
        &out,
    ));
    let legend: Vec<&String> = top
        .iter()
        .filter(|t| t.starts_with("pid ") || t.starts_with("other"))
        .collect();
    assert_eq!(legend.len(), 6, "{top:?}");
    assert_eq!(legend[5], "other (17 processes)");
    assert!(
        top.contains(&"Page-fault rate per process (moving average over 500ms)".to_owned()),
        "{top:?}"
    );
    // All 5 processes: a legend entry each.
    let all = texts(&svg_of(&["rates", &n05], &out));
    let pids: Vec<&String> = all.iter().filter(|t| t.starts_with("pid ")).collect();
    assert_eq!(pids.len(), 5, "{all:?}");
    // --pids, as a list and repeated: those only.
    let some = texts(&svg_of(
        &[
            "rates", "--pids", "75,77", "-p", "79", "--smooth", "4", &n05,
        ],
        &out,
    ));
    let legend: Vec<&String> = some.iter().filter(|t| t.starts_with("pid ")).collect();
    assert_eq!(legend, ["pid 75", "pid 77", "pid 79"]);
    assert!(some
        .iter()
        .any(|t| t.ends_with("(moving average over 4 samples)")));
    // The accumulated faults take the same selection.
    let faults = texts(&svg_of(&["faults", "--top", "2", &n05], &out));
    assert!(faults.contains(&"all processes".to_owned()), "{faults:?}");
    assert!(
        faults.contains(&"other (3 processes)".to_owned()),
        "{faults:?}"
    );
    // Errors: a pid the recording lacks, a selection of a classic profile,
    // a window of nothing.
    let o = plot()
        .args(["rates", "--pids", "1", "-o"])
        .arg(&out)
        .arg(&n05)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("pfprof-plot: {n05}: no records of pid 1\n")
    );
    let classic = docs_data("case_study_2_n05.dat");
    let o = plot()
        .args(["faults", "--top", "3", "-o"])
        .arg(&out)
        .arg(&classic)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("need a per-process recording"),
        "{}",
        stderr(&o)
    );
    for bad in ["0", "0ms", "soon"] {
        let o = plot()
            .args(["rates", "--smooth", bad, "-o"])
            .arg(&out)
            .arg(&n05)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "--smooth {bad}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn labels_show_command_names_from_the_header() {
    let dir = tmp_dir("comm");
    // Case study 1's R pair with the comm lines monitor writes.
    let text = std::fs::read_to_string(docs_data("case_study_1_r_pair.ext.dat")).unwrap();
    let (header, rest) = text.split_once('\n').unwrap();
    let named = dir.join("named.ext.dat");
    std::fs::write(
        &named,
        format!("{header}\n# pfprof comm 64 \"work\"\n# pfprof comm 65 \"a \\\"quoted\\\" name\"\n{rest}"),
    )
    .unwrap();
    let named = named.to_string_lossy().into_owned();
    let out = dir.join("r.svg");
    let rates = texts(&svg_of(&["rates", &named], &out));
    assert!(rates.contains(&"work[64]".to_owned()), "{rates:?}");
    assert!(
        rates.contains(&"a &quot;quoted&quot; name[65]".to_owned())
            || rates.contains(&"a \"quoted\" name[65]".to_owned()),
        "{rates:?}"
    );
    // One recording: its processes, not its file name on every line.
    let faults = texts(&svg_of(&["faults", &named], &out));
    assert!(faults.contains(&"work[64]".to_owned()), "{faults:?}");
    assert!(!faults.iter().any(|t| t.contains("named")), "{faults:?}");
    // Two: each line says which.
    let faults = texts(&svg_of(
        &["faults", &format!("R={named}"), &format!("L={named}")],
        &out,
    ));
    assert!(faults.contains(&"R: work[64]".to_owned()), "{faults:?}");
    assert!(
        faults.contains(&"L: all processes".to_owned()),
        "{faults:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_image_has_the_size_asked_for_and_text_scales_with_it() {
    let dir = tmp_dir("size");
    let input = docs_data("case_study_1_r_pair.ext.dat");
    let title_size = |w: &str, h: &str| {
        let out = dir.join(format!("r{w}x{h}.svg"));
        let svg = svg_of(&["--width", w, "--height", h, "rates", &input], &out);
        let at = svg.find("Page-fault rate per process").unwrap();
        let tag = &svg[svg[..at].rfind("<text").unwrap()..at];
        let start = tag.find("font-size=\"").unwrap() + 11;
        let end = start + tag[start..].find('"').unwrap();
        tag[start..end].parse::<f64>().unwrap()
    };
    let ratio = title_size("3072", "1920") / title_size("1024", "640");
    assert!((ratio - 3.0).abs() < 1e-9, "{ratio}");
    for (w, h) in [(400u32, 300u32), (2000, 1200)] {
        let png = dir.join(format!("r{w}.png"));
        let o = plot()
            .args([
                "--width",
                &w.to_string(),
                "--height",
                &h.to_string(),
                "rates",
                "-o",
            ])
            .arg(&png)
            .arg(&input)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        // The IHDR chunk: width and height, big endian.
        assert_eq!(bytes[16..20], w.to_be_bytes());
        assert_eq!(bytes[20..24], h.to_be_bytes());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_summary_table_has_units_and_keeps_long_names_aligned() {
    let o = plot()
        .arg("summary")
        .arg(format!(
            "a run with a long name={}",
            docs_data("case_study_1_r_pair.dat")
        ))
        .arg(format!("five={}", docs_data("case_study_2_n05.ext.dat")))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for unit in [
        "completion, s",
        "minor faults/s",
        "util, % of one CPU",
        "peak RSS + swap, MiB",
    ] {
        assert!(lines[0].contains(unit), "{table}");
    }
    // Every line as wide, the columns' bars in the same places.
    let bars = |l: &str| l.match_indices('|').map(|m| m.0).collect::<Vec<_>>();
    assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{table}");
    assert_eq!(bars(lines[2]), bars(lines[0]), "{table}");
    assert_eq!(bars(lines[3]), bars(lines[0]), "{table}");
    assert!(lines[2].starts_with(" a run with a long name |"), "{table}");
    // The recording's memory peaks; the classic profile has none.
    assert!(lines[3].trim_end().ends_with(" 985"), "{table}");
    assert!(lines[2].trim_end().ends_with('-'), "{table}");
}
