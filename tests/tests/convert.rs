//! `pypickle::convert`: every safe real-world fixture through CBOR and MessagePack and back to
//! pickle, checked by CPython (one python3 process for every file, tests/tests/convert_interop.py)
//! against the manifest's compare mode; unsafe inputs refused with no output; crafted CBOR and
//! MessagePack that would smuggle `os.system` into a pickle refused on the way back.
//! The CPython checks need python3 with numpy, pandas, scikit-learn and cbor2 (`.ci/run`
//! installs them); without them they fail rather than skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use pypickle::{convert, ConvertOptions, Error};
use serde_json::{json, Value as Json};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn manifest() -> Vec<Json> {
    let text = std::fs::read_to_string(fixtures_dir().join("manifest.json")).unwrap();
    let manifest: Json = serde_json::from_str(&text).unwrap();
    manifest["files"].as_array().unwrap().clone()
}

fn pickles(verdict: &str) -> Vec<Json> {
    manifest()
        .into_iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with("pickles/") && f["verdict"] == verdict)
        .collect()
}

fn run_python_checks(jobs: &[Json], dir: &Path) {
    let jobs_path = dir.join("jobs.json");
    std::fs::write(&jobs_path, serde_json::to_vec(jobs).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/convert_interop.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&jobs_path)
        .env("PYTHONHASHSEED", "0")
        .output()
        .expect("python3 must be installed to run the conversion tests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "CPython found differences:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!("{} jobs, 0 failures", jobs.len())),
        "{stdout}"
    );
}

#[test]
fn every_safe_fixture_round_trips_through_cbor_and_msgpack() {
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    let mut failures = Vec::new();
    for (i, fixture) in pickles("safe").iter().enumerate() {
        let rel = fixture["path"].as_str().unwrap();
        let original = fixtures_dir().join(rel);
        for format in ["cbor", "msgpack"] {
            let middle = dir.path().join(format!("{i}.{format}"));
            let back = dir.path().join(format!("{i}.{format}.pkl"));
            let there = convert(&original, &middle, &ConvertOptions::new());
            let result = there.and_then(|_| convert(&middle, &back, &ConvertOptions::new()));
            match result {
                Ok(report) => {
                    assert_eq!((report.from, report.to), (format, "pickle"));
                    let mut job = json!({"original": original, "converted": back,
                        "mode": fixture["compare"], "load_kwargs": fixture["load_kwargs"]});
                    if fixture["category"] == "plain" || fixture["compare"] == "numpy" {
                        job[format] = json!(middle);
                    }
                    jobs.push(job);
                }
                Err(e) => failures.push(format!("{rel} via {format}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "conversions failed:\n{}",
        failures.join("\n")
    );
    assert!(jobs.len() > 300, "{} jobs", jobs.len());
    run_python_checks(&jobs, dir.path());
}

#[test]
fn unsafe_pickles_are_refused_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut refused = 0;
    for (i, fixture) in pickles("unsafe").iter().enumerate() {
        let original = fixtures_dir().join(fixture["path"].as_str().unwrap());
        for ext in ["cbor", "msgpack", "json", "pkl"] {
            let out = dir.path().join(format!("{i}.{ext}"));
            let err = convert(&original, &out, &ConvertOptions::new())
                .expect_err(fixture["path"].as_str().unwrap());
            // A file whose stream breaks may be refused as undecodable; every dangerous one as unsafe.
            if !fixture["dangerous"].as_array().unwrap().is_empty() {
                assert!(err.is_unsafe(), "{}: {err}", fixture["path"]);
                refused += 1;
            }
            assert!(!out.exists(), "{}", out.display());
        }
    }
    assert!(refused > 100, "{refused}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary files left"
    );
}

/// A call of `os.system("echo pwned")` as the conventions spell it.
fn crafted_cbor() -> Vec<u8> {
    let mut cbor = vec![0xd8, 27, 0x82, 0x69];
    cbor.extend_from_slice(b"os:system");
    cbor.push(0x6a);
    cbor.extend_from_slice(b"echo pwned");
    cbor
}

fn crafted_msgpack() -> Vec<u8> {
    let mut payload = vec![0x92, 0xa9];
    payload.extend_from_slice(b"os:system");
    payload.push(0xaa);
    payload.extend_from_slice(b"echo pwned");
    let mut out = vec![0xc7, payload.len() as u8, 12];
    out.extend_from_slice(&payload);
    out
}

fn assert_refused(result: Result<pypickle::Report, Error>, out: &Path) {
    let err = result.expect_err("os.system must be refused");
    assert!(err.is_unsafe(), "{err}");
    assert!(err.to_string().contains("os.system"), "{err}");
    assert!(!out.exists());
}

#[test]
fn crafted_cbor_and_msgpack_cannot_smuggle_os_system_into_a_pickle() {
    let dir = tempfile::tempdir().unwrap();
    let cbor = dir.path().join("evil.cbor");
    let mut described = pypickle::cbor_format::SELF_DESCRIBE.to_vec();
    described.extend(crafted_cbor());
    std::fs::write(&cbor, &described).unwrap();
    let out = dir.path().join("evil.pkl");
    assert_refused(convert(&cbor, &out, &ConvertOptions::new()), &out);
    assert_refused(convert(&cbor, &out, &ConvertOptions::new().strict()), &out);
    let bare = dir.path().join("bare.cbor");
    std::fs::write(&bare, crafted_cbor()).unwrap();
    assert_refused(convert(&bare, &out, &ConvertOptions::new()), &out);
    let msgpack = dir.path().join("evil.msgpack");
    std::fs::write(&msgpack, crafted_msgpack()).unwrap();
    assert_refused(convert(&msgpack, &out, &ConvertOptions::new()), &out);
    // Hidden deep inside plain data, as a global passed around rather than called.
    let mut nested = vec![
        0xa1, 0x61, b'k', 0x81, 0xda, 0x70, 0x79, 0x00, 0x05, 0x82, 0x62,
    ];
    nested.extend_from_slice(b"os");
    nested.push(0x66);
    nested.extend_from_slice(b"system");
    std::fs::write(&bare, &nested).unwrap();
    assert_refused(convert(&bare, &out, &ConvertOptions::new()), &out);
    // Named exactly, it is the caller's decision.
    convert(&cbor, &out, &ConvertOptions::new().allow(["os.system"])).unwrap();
    assert!(out.exists());
}

fn plain_fixture() -> PathBuf {
    fixtures_dir().join("pickles/safe/plain/plain_data_p4.pkl")
}

#[test]
fn unreadable_inputs_are_errors_naming_them_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.cbor");
    let err = convert(dir.path(), &out, &ConvertOptions::new()).unwrap_err();
    assert!(
        matches!(err.kind(), pypickle::ErrorKind::IsDirectory),
        "{err}"
    );
    let missing = dir.path().join("absent.pkl");
    let err = convert(&missing, &out, &ConvertOptions::new()).unwrap_err();
    assert!(err.to_string().contains("absent.pkl"), "{err}");
    assert!(!out.exists());
}

#[test]
fn existing_outputs_are_refused_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.cbor");
    std::fs::write(&out, b"keep me").unwrap();
    let err = convert(plain_fixture(), &out, &ConvertOptions::new()).unwrap_err();
    assert!(
        matches!(err.kind(), pypickle::ErrorKind::AlreadyExists),
        "{err}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let report = convert(
        plain_fixture(),
        &out,
        &ConvertOptions::new().overwrite(true),
    )
    .unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), report.output_bytes);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn formats_come_from_options_headers_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    // Bare MessagePack has no magic number: its extension or `from` decides.
    let mpk = dir.path().join("a.mpk");
    convert(plain_fixture(), &mpk, &ConvertOptions::new()).unwrap();
    let unnamed = dir.path().join("a.data");
    std::fs::copy(&mpk, &unnamed).unwrap();
    let back = dir.path().join("b.pkl");
    assert!(convert(&unnamed, &back, &ConvertOptions::new()).is_err());
    assert!(!back.exists());
    let report = convert(&unnamed, &back, &ConvertOptions::new().from("msgpack")).unwrap();
    assert_eq!((report.from, report.to), ("msgpack", "pickle"));
    // `to` wins over the extension; the envelope is ours and read back from its header.
    let enveloped = dir.path().join("c.bin");
    let report = convert(
        plain_fixture(),
        &enveloped,
        &ConvertOptions::new().to("msgpack").envelope(true),
    )
    .unwrap();
    assert!(report.envelope);
    assert!(pypickle::envelope::is_enveloped(
        &std::fs::read(&enveloped).unwrap()
    ));
    let report = convert(
        &enveloped,
        dir.path().join("d.cbor"),
        &ConvertOptions::new(),
    )
    .unwrap();
    assert_eq!((report.from, report.to), ("msgpack", "cbor"));
    // An output name that says nothing needs `to`.
    assert!(convert(
        plain_fixture(),
        dir.path().join("e.out"),
        &ConvertOptions::new()
    )
    .is_err());
}

#[test]
fn json_export_is_refused_when_lossy_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plain.json");
    let err = convert(plain_fixture(), &out, &ConvertOptions::new()).unwrap_err();
    assert!(err.to_string().contains("tuples become arrays"), "{err}");
    assert!(!out.exists());
    let report = convert(plain_fixture(), &out, &ConvertOptions::new().lossy(true)).unwrap();
    assert!(report.losses.contains(&"tuples become arrays"));
    let text = std::fs::read_to_string(&out).unwrap();
    let parsed: Json = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["dict_str_keys"], json!({"a": 1, "é": 2, "": 3}));
    // Plain data alone is exact, and reads back.
    let cbor = dir.path().join("plain.cbor");
    std::fs::write(
        &cbor,
        [0xa2, 0x61, b'a', 0x01, 0x61, b'b', 0x82, 0xf5, 0xf6],
    )
    .unwrap();
    let exact = dir.path().join("exact.json");
    let report = convert(&cbor, &exact, &ConvertOptions::new()).unwrap();
    assert!(report.losses.is_empty());
    assert_eq!(
        std::fs::read_to_string(&exact).unwrap(),
        "{\"a\":1,\"b\":[true,null]}\n"
    );
}

fn decode(format: &str, bytes: &[u8]) -> Result<pypickle::Value, Error> {
    pypickle_core::format::by_name(format)
        .unwrap()
        .decode_value(bytes, &pypickle::Policy::default())
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    // Tuples: a tag and an array per level, the deepest recursion the readers have.
    for (levels, ok) in [(120, true), (130, false), (100_000, false)] {
        let mut cbor = Vec::new();
        let mut msgpack = Vec::new();
        for _ in 0..levels {
            cbor.extend_from_slice(&[0xda, 0x70, 0x79, 0x00, 0x01, 0x81]);
        }
        cbor.push(0xf6);
        // ext 1 payloads nest, so build MessagePack from the inside out.
        msgpack.push(0xc0);
        for _ in 0..levels.min(1000) {
            let mut outer = vec![0xc9];
            outer.extend_from_slice(&((msgpack.len() + 1) as u32).to_be_bytes());
            outer.push(1);
            outer.push(0x91);
            outer.extend_from_slice(&msgpack);
            msgpack = outer;
        }
        assert_eq!(decode("cbor", &cbor).is_ok(), ok, "cbor {levels}");
        assert_eq!(decode("msgpack", &msgpack).is_ok(), ok, "msgpack {levels}");
        if ok {
            // And written back: the writers have the same bound.
            let value = decode("cbor", &cbor).unwrap();
            let mut out = Vec::new();
            pypickle_core::format::by_name("msgpack")
                .unwrap()
                .encode_value(&value, &mut out)
                .unwrap();
            assert_eq!(decode("msgpack", &out).unwrap(), value);
        }
    }
}

/// convert loads a pickle without counting its nesting (the machine's depth table would be a
/// tenth of the load): each writer bounds it instead, so a pickle nested 200 000 deep is a clean
/// error into every text and binary format, and a copy into pickle (whose writer is iterative).
#[test]
fn pickles_nested_past_every_writer_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("deep.pkl");
    // MARK x n, EMPTY_LIST, LIST x n: n + 1 lists, each in the next.
    let n = 200_000;
    let mut pickle = vec![b'('; n];
    pickle.push(b']');
    pickle.extend(std::iter::repeat_n(b'l', n));
    pickle.push(b'.');
    std::fs::write(&input, &pickle).unwrap();
    for to in ["cbor", "msgpack", "json"] {
        let output = dir.path().join(format!("out.{to}"));
        let options = ConvertOptions::new().lossy(true);
        let err = convert(&input, &output, &options).unwrap_err();
        assert!(err.to_string().contains("deeper"), "{to}: {err}");
        assert!(!output.exists(), "{to}");
    }
    let output = dir.path().join("out.pkl");
    convert(&input, &output, &ConvertOptions::new()).unwrap();
    // The copy holds the same lists.
    let deep = pypickle::pickle_format::Options {
        limits: pypickle::pickle_format::Limits {
            max_depth: usize::MAX,
            ..Default::default()
        },
        ..Default::default()
    };
    let copy = pypickle::pickle_format::load_with(&std::fs::read(&output).unwrap(), &deep);
    assert_eq!(copy.error, None);
    let value = &copy.value;
    let (mut item, mut levels) = (value.root(), 0);
    while let Some(pypickle_core::Object::List(items)) = value.object(item) {
        levels += 1;
        match items.as_slice() {
            [inner] => item = *inner,
            [] => break,
            _ => panic!("a list of {} items at level {levels}", items.len()),
        }
    }
    assert_eq!((levels, value.len()), (n + 1, n + 1));
}

#[test]
fn damaged_files_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for rel in [
        "pickles/safe/sklearn/pipeline_scaler_logreg_p4.pkl",
        "pickles/safe/pandas/dataframe_p4.pkl",
        "pickles/safe/plain/plain_data_p4.pkl",
        "pickles/safe/shared/self_dict_p4.pkl",
    ] {
        for format in ["cbor", "msgpack"] {
            let out = dir.path().join(format!("x.{format}"));
            convert(
                fixtures_dir().join(rel),
                &out,
                &ConvertOptions::new().overwrite(true),
            )
            .unwrap();
            let good = std::fs::read(&out).unwrap();
            let original = decode(format, &good).unwrap();
            for cut in 0..good.len() {
                assert!(
                    decode(format, &good[..cut]).is_err(),
                    "{rel} {format} cut {cut}"
                );
            }
            for _ in 0..2000 {
                let mut bad = good.clone();
                for _ in 0..1 + next() % 3 {
                    let i = (next() % bad.len() as u64) as usize;
                    bad[i] = next() as u8;
                }
                if let Ok(value) = decode(format, &bad) {
                    // Whatever decodes encodes again (or is refused cleanly).
                    let f = pypickle_core::format::by_name(format).unwrap();
                    let _ = f.encode_value(&value, &mut Vec::new());
                }
            }
            assert!(!original.is_empty());
        }
    }
}

#[test]
fn damaged_sequences_are_errors_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let stacked = fixtures_dir().join("pickles/safe/stacked/three_pickles_mixed_protocols.pkl");
    for format in ["cbor", "msgpack"] {
        let good_path = dir.path().join(format!("good.{format}"));
        let report = convert(&stacked, &good_path, &ConvertOptions::new()).unwrap();
        assert_eq!(report.values, 3);
        let good = std::fs::read(&good_path).unwrap();
        let bad_path = dir.path().join(format!("bad.{format}"));
        let out = dir.path().join("out.pkl");
        for cut in 1..good.len() {
            std::fs::write(&bad_path, &good[..cut]).unwrap();
            // A cut between two items is a shorter, valid sequence; anything else an error.
            if let Ok(report) = convert(&bad_path, &out, &ConvertOptions::new().overwrite(true)) {
                assert!(report.values < 3, "{format} cut {cut}");
            }
        }
        for i in 0..good.len() {
            for byte in [0x00, 0x1b, 0x5b, 0x9f, 0xbf, 0xc7, 0xd8, 0xdf, 0xff] {
                let mut bad = good.clone();
                bad[i] = byte;
                std::fs::write(&bad_path, &bad).unwrap();
                let _ = convert(&bad_path, &out, &ConvertOptions::new().overwrite(true));
            }
        }
    }
}

/// A pickle of `rows` records of three fields (about 40 bytes each), then `tail` as its last
/// item: records whose key table is copied, in CBOR of several MiB when `rows` is large.
fn records_pickle(rows: u32, tail: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 4, b']', 0x94, b'('];
    for i in 0..rows {
        p.extend_from_slice(b"}\x94(\x8c\x02id\x94J");
        p.extend_from_slice(&i.to_le_bytes());
        p.extend_from_slice(b"\x8c\x04name\x94\x8c\x0a");
        p.extend_from_slice(format!("user{i:06}").as_bytes());
        p.extend_from_slice(b"\x8c\x05score\x94G");
        p.extend_from_slice(&(f64::from(i) / 4.0).to_be_bytes());
        p.push(b'u');
    }
    p.extend_from_slice(tail);
    p.extend_from_slice(b"e.");
    p
}

/// CBOR is streamed into the output file a MiB at a time: the bytes are those the in-memory
/// encoder writes, bare (no self-describe tag), in the envelope (its header written last), and
/// as a sequence for stacked pickles.
#[test]
fn cbor_is_streamed_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let large = dir.path().join("large.pkl");
    std::fs::write(&large, records_pickle(200_000, b"")).unwrap();
    let stacked = fixtures_dir().join("pickles/safe/stacked/three_pickles_mixed_protocols.pkl");
    let cbor = pypickle_core::format::by_name("cbor").unwrap();
    for input in [large.as_path(), stacked.as_path()] {
        let bytes = std::fs::read(input).unwrap();
        let loaded = pypickle::pickle_format::load(&bytes, &Default::default());
        let mut value = loaded.value;
        let mut expected = Vec::new();
        for &root in &loaded.roots {
            value.set_root(root);
            let mut one = Vec::new();
            cbor.encode_value(&value, &mut one).unwrap();
            expected.extend_from_slice(&one[pypickle::cbor_format::SELF_DESCRIBE.len()..]);
        }
        let bare = dir.path().join("bare.cbor");
        let report = convert(input, &bare, &ConvertOptions::new().overwrite(true)).unwrap();
        assert_eq!(
            std::fs::read(&bare).unwrap(),
            expected,
            "{}",
            input.display()
        );
        assert_eq!(report.output_bytes, expected.len() as u64);

        let mut described = Vec::new();
        for &root in &loaded.roots {
            value.set_root(root);
            cbor.encode_value(&value, &mut described).unwrap();
        }
        let wrapped = dir.path().join("wrapped.cbor");
        let options = ConvertOptions::new().overwrite(true).envelope(true);
        let report = convert(input, &wrapped, &options).unwrap();
        let written = std::fs::read(&wrapped).unwrap();
        assert_eq!(
            written,
            pypickle::envelope::wrap("cbor", &described).unwrap()
        );
        assert_eq!(report.output_bytes, written.len() as u64);
    }
    assert!(std::fs::metadata(dir.path().join("bare.cbor")).is_ok());
}

/// An encoding that fails after megabytes were streamed (a list nested deeper than the
/// writers go, at the end) leaves the existing output as it was, and no temporary file.
#[test]
fn a_stream_that_fails_leaves_the_old_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("deep.pkl");
    // 200 lists, each appended into the one before, at the end of the top list.
    let mut tail = b"]".repeat(201);
    tail.extend_from_slice(&b"a".repeat(200));
    std::fs::write(&input, records_pickle(100_000, &tail)).unwrap();
    let output = dir.path().join("out.cbor");
    std::fs::write(&output, b"old").unwrap();
    let err = convert(&input, &output, &ConvertOptions::new().overwrite(true)).unwrap_err();
    assert!(err.to_string().contains("deeper"), "{err}");
    assert_eq!(std::fs::read(&output).unwrap(), b"old");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

/// The CBOR and MessagePack readers say how far they have read, and never read again what they
/// said they passed: those bytes are overwritten in the mapped file as they go, and the value is
/// the same.
#[cfg(unix)]
#[test]
fn cbor_and_msgpack_readers_never_read_again_what_they_passed() {
    use pypickle::pickle_format::reader::MappedFile;
    use std::cell::Cell;
    use std::os::unix::fs::FileExt;

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("records.pkl");
    // Records, then a long str and a large bytes payload that straddle release points.
    let mut tail = vec![b'X'];
    tail.extend_from_slice(&3_000_000u32.to_le_bytes());
    tail.extend(std::iter::repeat_n(b'z', 3_000_000));
    tail.push(0x8e); // BINBYTES8
    tail.extend_from_slice(&2_500_000u64.to_le_bytes());
    tail.extend((0..2_500_000u32).map(|i| (i % 253) as u8));
    std::fs::write(&input, records_pickle(150_000, &tail)).unwrap();
    for format in ["cbor", "msgpack"] {
        let path = dir.path().join(format!("records.{format}"));
        convert(&input, &path, &ConvertOptions::new()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let codec = pypickle_core::format::by_name(format).unwrap();
        let policy = pypickle::Policy::default();
        let expected = codec.decode_value(&bytes, &policy).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let map = MappedFile::map(&file).unwrap();
        let spoiled = Cell::new(0usize);
        let value = codec
            .decode_value_passing(&map, &policy, &|n| {
                assert!(n >= spoiled.get() && n <= bytes.len());
                file.write_all_at(&vec![0xff; n - spoiled.get()], spoiled.get() as u64)
                    .unwrap();
                spoiled.set(n);
                map.release_before(n);
            })
            .unwrap();
        assert!(
            spoiled.get() > 8 << 20,
            "{format}: {} bytes passed",
            spoiled.get()
        );
        assert_eq!(value, expected, "{format}");
    }
}

/// Pickle output is streamed into the file too: bare or in the envelope, one pickle or stacked
/// ones, from a pickle or from CBOR, the bytes are those the in-memory writer writes.
#[test]
fn pickle_is_streamed_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let large = dir.path().join("large.pkl");
    std::fs::write(&large, records_pickle(150_000, b"")).unwrap();
    let large_cbor = dir.path().join("large.cbor");
    convert(&large, &large_cbor, &ConvertOptions::new()).unwrap();
    let stacked = fixtures_dir().join("pickles/safe/stacked/three_pickles_mixed_protocols.pkl");
    let pickle = pypickle_core::format::by_name("pickle").unwrap();
    let cbor = pypickle_core::format::by_name("cbor").unwrap();
    let policy = pypickle::Policy::default();
    for input in [large.as_path(), stacked.as_path(), large_cbor.as_path()] {
        let bytes = std::fs::read(input).unwrap();
        let (mut value, roots) = if input.extension().unwrap() == "cbor" {
            let value = cbor.decode_value(&bytes, &policy).unwrap();
            let root = value.root();
            (value, vec![root])
        } else {
            let loaded = pypickle::pickle_format::load(&bytes, &Default::default());
            (loaded.value, loaded.roots)
        };
        let mut expected = Vec::new();
        for &root in &roots {
            value.set_root(root);
            pickle.encode_value(&value, &mut expected).unwrap();
        }
        let back = dir.path().join("back.pkl");
        let report = convert(input, &back, &ConvertOptions::new().overwrite(true)).unwrap();
        let written = std::fs::read(&back).unwrap();
        assert!(written == expected, "{}", input.display());
        assert_eq!(report.output_bytes, written.len() as u64);
        let wrapped = dir.path().join("wrapped.pkl");
        let options = ConvertOptions::new().overwrite(true).envelope(true);
        convert(input, &wrapped, &options).unwrap();
        let written = std::fs::read(&wrapped).unwrap();
        assert!(written == pypickle::envelope::wrap("pickle", &expected).unwrap());
    }
}
