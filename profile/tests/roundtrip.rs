//! Round trips: any profile written in a format and read back is the same
//! profile; the committed profiles in docs/data parse and are written back
//! byte for byte.

use std::collections::BTreeMap;
use std::path::PathBuf;

use libpfprof::classic::Sample;
use libpfprof::Counters;
use pfprof_profile::{Backend, Format, Header, Memory, ProcRecord, Profile, RecordDetail, Stamp};
use proptest::prelude::*;

/// Jiffies anywhere, and often near the wrap of a 32-bit counter (where the
/// kernel starts them) or of u64.
fn jiffies() -> impl Strategy<Value = u64> {
    let wrap32 = u64::from(u32::MAX);
    prop_oneof![
        any::<u64>(),
        (wrap32 - 1000)..(wrap32 + 1000),
        (u64::MAX - 1000)..=u64::MAX,
    ]
}

fn counters() -> impl Strategy<Value = Counters> {
    let figure = prop_oneof![0..100_000u64, any::<u64>()];
    (figure.clone(), figure.clone(), figure).prop_map(|(a, b, c)| Counters::new(a, b, c))
}

fn sample() -> impl Strategy<Value = Sample> {
    (jiffies(), counters()).prop_map(|(j, c)| Sample::new(j, c))
}

/// The memory of a record line (files written before ABI 2 have none).
fn memory() -> impl Strategy<Value = Memory> {
    let bytes = prop_oneof![0..(1u64 << 40), any::<u64>()];
    (bytes.clone(), bytes.clone(), bytes.clone(), bytes).prop_map(|(anon, file, shmem, swap)| {
        Memory {
            rss_anon_bytes: anon,
            rss_file_bytes: file,
            rss_shmem_bytes: shmem,
            swap_bytes: swap,
        }
    })
}

/// A record; with `detail` (sequence, time, exited flag) for the formats
/// that carry it.
fn record(detail: bool) -> impl Strategy<Value = ProcRecord> {
    let detail = if detail {
        (
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            proptest::option::of(memory()),
            // The tree root: none in files from before it, often 0 (no tree).
            proptest::option::of(prop_oneof![Just(0), 1..=i32::MAX, any::<i32>()]),
        )
            .prop_map(|(seq, time_ns, exited, memory, tree_root)| {
                Some(RecordDetail {
                    seq,
                    time_ns,
                    exited,
                    memory,
                    tree_root,
                })
            })
            .boxed()
    } else {
        Just(None).boxed()
    };
    (
        jiffies(),
        prop_oneof![Just(0), any::<i32>()],
        counters(),
        detail,
    )
        .prop_map(|(jiffies, pid, counters, detail)| ProcRecord {
            jiffies,
            pid,
            counters,
            detail,
        })
}

fn header() -> impl Strategy<Value = Header> {
    (
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(prop_oneof![Just(Backend::Module), Just(Backend::Procfs)]),
        proptest::option::of(any::<u64>()),
        proptest::collection::btree_map(any::<i32>(), any::<String>(), 0..4),
    )
        .prop_map(|(hz, period_us, backend, start_ns, commands)| Header {
            hz,
            period_us,
            backend,
            start_ns,
            commands,
        })
}

/// A profile that `format` can hold: classic lines carry no record detail.
fn profile(format: Format) -> impl Strategy<Value = Profile> {
    (
        header(),
        proptest::collection::vec(sample(), 0..20),
        proptest::collection::vec(record(format != Format::Classic), 0..20),
    )
        .prop_map(|(header, samples, records)| Profile {
            header,
            samples,
            records,
        })
}

fn round_trip(p: &Profile, format: Format) -> Profile {
    let mut out = Vec::new();
    p.write(&mut out, format).expect("write to memory");
    Profile::parse(&out[..]).unwrap_or_else(|e| {
        panic!(
            "{format:?}: {e}\n{}",
            String::from_utf8_lossy(&out)
                .lines()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

proptest! {
    #[test]
    fn classic_round_trips(p in profile(Format::Classic)) {
        prop_assert_eq!(round_trip(&p, Format::Classic), p);
    }

    #[test]
    fn csv_round_trips(p in profile(Format::Csv)) {
        prop_assert_eq!(round_trip(&p, Format::Csv), p);
    }

    #[test]
    fn json_round_trips(p in profile(Format::Json)) {
        prop_assert_eq!(round_trip(&p, Format::Json), p);
    }

    /// Writing is a function of the profile: what was read is written back
    /// byte for byte, in every format.
    #[test]
    fn reading_then_writing_gives_the_same_bytes(p in profile(Format::Json)) {
        for format in Format::ALL {
            let mut first = Vec::new();
            p.write(&mut first, format).expect("write");
            let mut second = Vec::new();
            Profile::parse(&first[..]).expect("parse").write(&mut second, format).expect("write");
            prop_assert_eq!(&first, &second, "{:?}", format);
        }
    }

    /// JSON Lines stay JSON Lines with a header: every line is an object.
    #[test]
    fn json_output_is_json_lines_with_its_header(p in profile(Format::Json)) {
        let mut out = Vec::new();
        p.write(&mut out, Format::Json).expect("write");
        let text = String::from_utf8(out).expect("UTF-8");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert!(v.is_object(), "{}", line);
        }
        prop_assert_eq!(text.lines().next().is_some_and(|l| l.starts_with("{\"pfprof\":")), !p.header.is_empty());
    }

    /// monitor's stamped lines (wall-clock time and elapsed seconds) read
    /// back as the same profile.
    #[test]
    fn stamped_lines_round_trip(
        p in profile(Format::Json),
        secs in 0u64..4_000_000_000,
        elapsed in 0.0f64..1e7,
    ) {
        let stamp = Stamp {
            time: std::time::UNIX_EPOCH + std::time::Duration::from_millis(secs),
            elapsed_s: elapsed,
        };
        for format in [Format::Csv, Format::Json] {
            let mut out = Vec::new();
            pfprof_profile::write_header_as(&mut out, format, &p.header).expect("write");
            pfprof_profile::write_sample_header_stamped(&mut out, format, true).expect("write");
            for s in &p.samples {
                pfprof_profile::write_sample_stamped(&mut out, format, s, Some(&stamp)).expect("write");
            }
            // One record layout per file, as monitor writes it.
            let records: Vec<ProcRecord> = p.records.iter().filter(|r| r.memory().is_some()).copied().collect();
            pfprof_profile::write_record_header_stamped(&mut out, format, true, true).expect("write");
            for r in &records {
                pfprof_profile::write_record_stamped(&mut out, format, r, Some(&stamp)).expect("write");
            }
            let back = Profile::parse(&out[..])
                .map_err(|e| TestCaseError::fail(format!("{format:?}: {e}\n{}", String::from_utf8_lossy(&out))))?;
            prop_assert_eq!(&back.header, &p.header);
            prop_assert_eq!(&back.samples, &p.samples);
            prop_assert_eq!(&back.records, &records);
        }
    }

    /// The classic format keeps everything but the records' detail.
    #[test]
    fn classic_lines_drop_only_the_detail(p in profile(Format::Json)) {
        let mut want = p.clone();
        for r in &mut want.records {
            r.detail = None;
        }
        prop_assert_eq!(round_trip(&p, Format::Classic), want);
    }
}

#[test]
fn an_exited_wrapped_record_survives_csv_and_json() {
    let r = ProcRecord {
        jiffies: u64::from(u32::MAX) + 1,
        pid: 42,
        counters: Counters::new(u64::MAX, 0, 1),
        detail: Some(RecordDetail {
            seq: u64::MAX,
            time_ns: 7,
            exited: true,
            memory: Some(Memory {
                rss_anon_bytes: 64 << 20,
                rss_file_bytes: 1,
                rss_shmem_bytes: u64::MAX,
                swap_bytes: 0,
            }),
            tree_root: Some(i32::MAX),
        }),
    };
    let p = Profile {
        records: vec![r],
        ..Profile::default()
    };
    for format in [Format::Csv, Format::Json] {
        let back = round_trip(&p, format);
        assert!(back.records[0].exited(), "{format:?}");
        assert_eq!(back, p, "{format:?}");
    }
}

fn docs_data() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_committed_profiles_parse_and_are_written_back_byte_for_byte() {
    let files = docs_data();
    assert!(files.len() >= 16, "docs/data has {} profiles", files.len());
    let mut by_kind = BTreeMap::new();
    for path in &files {
        let p = Profile::read(path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.header.hz, Some(1000), "{}", path.display());
        assert_eq!(p.header.period_us, Some(50_000), "{}", path.display());
        let per_process = path.to_string_lossy().ends_with(".ext.dat");
        if per_process {
            assert!(p.samples.is_empty() && !p.records.is_empty());
            assert!(p.records.iter().any(ProcRecord::is_total));
        } else {
            assert!(!p.samples.is_empty() && p.records.is_empty());
        }
        *by_kind.entry(per_process).or_insert(0) += 1;
        let original = std::fs::read(path).expect("read");
        // Case study 2's recordings are CSV: they carry the memory.
        let csv = original.windows(5).any(|w| w == b"\nseq,");
        let mut out = Vec::new();
        let format = if csv { Format::Csv } else { Format::Classic };
        p.write(&mut out, format).expect("write");
        assert!(
            out == original,
            "{} is not written back as it was",
            path.display()
        );
    }
    assert_eq!(by_kind.len(), 2, "both classic profiles and recordings");
}

#[test]
fn the_committed_summary_tables_are_reproduced() {
    use pfprof_profile::analysis::{render_summary, ProfileSummary};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/data");
    let studies = [
        (
            "case_study_1_summary.txt",
            vec![
                ("R pair".to_owned(), "case_study_1_r_pair.dat".to_owned()),
                ("L pair".to_owned(), "case_study_1_l_pair.dat".to_owned()),
            ],
        ),
        (
            "case_study_2_summary.txt",
            [1, 5, 11, 16, 20, 22]
                .iter()
                .map(|n| (format!("N={n}"), format!("case_study_2_n{n:02}.dat")))
                .collect(),
        ),
    ];
    for (table, runs) in studies {
        let summaries: Vec<ProfileSummary> = runs
            .iter()
            .map(|(label, file)| {
                let p = Profile::read(&dir.join(file)).unwrap_or_else(|e| panic!("{e}"));
                let hz = p.hz_or(None, file).expect("the file states HZ");
                let ext = dir.join(file.replace(".dat", ".ext.dat"));
                let ext = Profile::read(&ext).unwrap_or_else(|e| panic!("{e}"));
                ProfileSummary::of(label, &p.totals(), hz).with_memory(&ext.records)
            })
            .collect();
        let mut out = Vec::new();
        render_summary(&mut out, &summaries).expect("render");
        let want = std::fs::read_to_string(dir.join(table)).expect("read");
        assert_eq!(String::from_utf8_lossy(&out), want, "{table}");
    }
}
