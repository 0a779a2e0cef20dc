//! The save/load API over every registered data format: round trips, format detection,
//! atomic and non-clobbering saves, and refusal of damaged files.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use pypickle::{formats, from_slice, load, save, to_vec, ErrorKind, LoadOptions, SaveOptions};
use rstest::rstest;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Segment(i32, i32),
    Rect { width: u32, height: u32 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    label: String,
    weights: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Rich {
    name: String,
    unicode: String,
    big: u64,
    small: i64,
    byte: u8,
    ratio: f64,
    tiny: f32,
    negative_zero: f64,
    infinite: f64,
    flag: bool,
    maybe: Option<String>,
    nothing: Option<u32>,
    shapes: Vec<Shape>,
    by_name: BTreeMap<String, Inner>,
    by_id: HashMap<u32, String>,
    nested: Vec<Vec<Vec<i16>>>,
    pair: (char, u128),
    blob: Vec<u8>,
    unit: (),
}

fn rich() -> Rich {
    Rich {
        name: "pypickle".into(),
        unicode: "naïve café – 日本語 – 🦀 – \u{0}".into(),
        big: u64::MAX,
        small: i64::MIN,
        byte: 255,
        ratio: std::f64::consts::PI,
        tiny: f32::MIN_POSITIVE,
        negative_zero: -0.0,
        infinite: f64::NEG_INFINITY,
        flag: true,
        maybe: Some("here".into()),
        nothing: None,
        shapes: vec![
            Shape::Empty,
            Shape::Circle(1.5),
            Shape::Segment(-3, 4),
            Shape::Rect {
                width: 7,
                height: 9,
            },
        ],
        by_name: [
            (
                "a".to_string(),
                Inner {
                    label: "α".into(),
                    weights: vec![0.5, -1.25],
                },
            ),
            (
                "b".to_string(),
                Inner {
                    label: String::new(),
                    weights: vec![],
                },
            ),
        ]
        .into_iter()
        .collect(),
        by_id: [(1, "one".to_string()), (u32::MAX, "max".to_string())]
            .into_iter()
            .collect(),
        nested: vec![
            vec![vec![1, 2], vec![]],
            vec![],
            vec![vec![i16::MIN, i16::MAX]],
        ],
        pair: ('ß', u128::MAX),
        blob: (0..=255).collect(),
        unit: (),
    }
}

const DATA_FORMATS: [&str; 3] = ["bincode", "cbor", "msgpack"];

#[rstest]
fn registry_lists_every_format_sorted() {
    let names = formats();
    for name in DATA_FORMATS {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted);
}

#[rstest]
fn round_trip_through_bytes(
    #[values("bincode", "cbor", "msgpack")] format: &str,
    #[values(true, false)] envelope: bool,
) {
    let value = rich();
    let bytes = to_vec(
        &value,
        &SaveOptions::new().format(format).envelope(envelope),
    )
    .unwrap();
    let options = if envelope {
        LoadOptions::new()
    } else {
        LoadOptions::new().format(format)
    };
    let back: Rich = from_slice(&bytes, &options).unwrap();
    assert_eq!(back, value);
}

#[rstest]
#[case("state.cbor", "cbor")]
#[case("state.msgpack", "msgpack")]
#[case("state.mpk", "msgpack")]
#[case("state.bincode", "bincode")]
#[case("state.BINCODE", "bincode")]
#[case("state", "cbor")]
#[case("state.unknown-ext", "cbor")]
fn save_picks_the_format_from_the_extension(#[case] name: &str, #[case] expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    save(&path, &rich(), &SaveOptions::new()).unwrap();
    let header = pypickle::envelope::read_header(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(header.format, expected);
    let back: Rich = load(&path, &LoadOptions::new()).unwrap();
    assert_eq!(back, rich());
}

#[rstest]
fn load_trusts_the_header_not_a_misleading_name(
    #[values("bincode", "cbor", "msgpack")] format: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    // A msgpack file called .cbor, a cbor file called .bincode, ...
    let path = dir.path().join(format!(
        "misleading.{}",
        if format == "cbor" { "msgpack" } else { "cbor" }
    ));
    save(&path, &rich(), &SaveOptions::new().format(format)).unwrap();
    let back: Rich = load(&path, &LoadOptions::new()).unwrap();
    assert_eq!(back, rich());
}

#[rstest]
fn bare_cbor_is_recognised_by_its_self_describe_tag() {
    let bytes = to_vec(&rich(), &SaveOptions::new().envelope(false)).unwrap();
    assert_eq!(&bytes[..3], &[0xd9, 0xd9, 0xf7]);
    let back: Rich = from_slice(&bytes, &LoadOptions::new()).unwrap();
    assert_eq!(back, rich());
}

#[rstest]
fn bare_files_without_magic_need_a_format(#[values("bincode", "msgpack")] format: &str) {
    let bytes = to_vec(&rich(), &SaveOptions::new().format(format).envelope(false)).unwrap();
    let err = from_slice::<Rich>(&bytes, &LoadOptions::new()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unrecognised { .. }),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("cbor (self-describe tag"), "{message}");
    assert!(message.contains("LoadOptions::format"), "{message}");
}

#[rstest]
fn an_enveloped_file_of_another_format_than_forced_is_refused() {
    let bytes = to_vec(&rich(), &SaveOptions::new().format("msgpack")).unwrap();
    let err = from_slice::<Rich>(&bytes, &LoadOptions::new().format("cbor")).unwrap_err();
    assert!(err.to_string().contains("msgpack"), "{err}");
}

#[rstest]
fn unknown_format_names_are_clear_errors() {
    let err = to_vec(&1, &SaveOptions::new().format("yaml")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("unknown format \"yaml\""), "{message}");
    assert!(
        message.contains("cbor") && message.contains("msgpack"),
        "{message}"
    );
    let err = from_slice::<u8>(&[1, 2, 3], &LoadOptions::new().format("yaml")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownFormat { .. }),
        "{err}"
    );
}

#[rstest]
fn an_existing_file_is_refused_and_kept_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.cbor");
    fs::write(&path, b"precious").unwrap();
    let err = save(&path, &rich(), &SaveOptions::new()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::AlreadyExists), "{err}");
    assert_eq!(err.path(), Some(path.as_path()));
    assert!(err.to_string().contains("keep.cbor"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"precious");
    assert_eq!(leftovers(dir.path()), vec!["keep.cbor"]);

    save(&path, &rich(), &SaveOptions::new().overwrite(true)).unwrap();
    let back: Rich = load(&path, &LoadOptions::new()).unwrap();
    assert_eq!(back, rich());
    assert_eq!(leftovers(dir.path()), vec!["keep.cbor"]);
}

#[rstest]
fn a_failed_save_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.cbor");
    save(&path, &1u8, &SaveOptions::new()).unwrap();
    let before = fs::read(&path).unwrap();
    // A map with non-string keys cannot be encoded by every format; an unknown format never can.
    let err = save(
        &path,
        &rich(),
        &SaveOptions::new().format("nope").overwrite(true),
    )
    .unwrap_err();
    assert!(err.to_string().contains("old.cbor"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(leftovers(dir.path()), vec!["old.cbor"]);
}

#[rstest]
fn bad_destinations_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = save(dir.path().join("missing/x.cbor"), &1, &SaveOptions::new()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::MissingParent(_)), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");

    fs::create_dir(dir.path().join("folder")).unwrap();
    for overwrite in [false, true] {
        let err = save(
            dir.path().join("folder"),
            &1,
            &SaveOptions::new().overwrite(overwrite),
        )
        .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::IsDirectory), "{err}");
    }
    let err = load::<u8>(dir.path().join("folder"), &LoadOptions::new()).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::IsDirectory), "{err}");
    let err = load::<u8>(dir.path().join("absent.cbor"), &LoadOptions::new()).unwrap_err();
    assert!(err.to_string().contains("absent.cbor"), "{err}");
}

#[rstest]
fn every_single_bit_flip_of_a_saved_file_is_refused(
    #[values("bincode", "cbor", "msgpack")] format: &str,
) {
    let value = Inner {
        label: "flip me".into(),
        weights: vec![1.0, 2.0],
    };
    let bytes = to_vec(&value, &SaveOptions::new().format(format)).unwrap();
    for bit in 0..bytes.len() * 8 {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        assert!(
            from_slice::<Inner>(&damaged, &LoadOptions::new()).is_err(),
            "{format}: flip of bit {bit} accepted"
        );
    }
}

#[rstest]
fn every_truncation_and_any_trailing_byte_is_refused(
    #[values("bincode", "cbor", "msgpack")] format: &str,
    #[values(true, false)] envelope: bool,
) {
    let bytes = to_vec(
        &rich(),
        &SaveOptions::new().format(format).envelope(envelope),
    )
    .unwrap();
    let options = if envelope {
        LoadOptions::new()
    } else {
        LoadOptions::new().format(format)
    };
    for len in 0..bytes.len() {
        assert!(
            from_slice::<Rich>(&bytes[..len], &options).is_err(),
            "{format}: truncation to {len} accepted"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let err = from_slice::<Rich>(&longer, &options).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{format}: {err}");
}

#[rstest]
fn load_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.cbor");
    fs::write(&path, b"this is not a pypickle file").unwrap();
    let err = load::<Rich>(&path, &LoadOptions::new()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&path.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("no registered format recognises"),
        "{message}"
    );
}

#[rstest]
fn hostile_lengths_do_not_allocate(#[values("bincode", "cbor", "msgpack")] format: &str) {
    // A string or byte string claiming an enormous length, followed by nothing.
    let payload: &[u8] = match format {
        "bincode" => &[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01],
        "cbor" => &[0x7b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00],
        _ => &[0xdb, 0xff, 0xff, 0xff, 0xf0],
    };
    let err = from_slice::<String>(payload, &LoadOptions::new().format(format)).unwrap_err();
    assert!(err.to_string().contains(format), "{err}");
    let err = from_slice::<Vec<u64>>(payload, &LoadOptions::new().format(format)).unwrap_err();
    assert!(err.to_string().contains(format), "{err}");
}

#[rstest]
fn deep_nesting_is_refused_not_a_stack_overflow(
    #[values("bincode", "cbor", "msgpack")] format: &str,
) {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Tree(Vec<Tree>);
    let depth = 100_000;
    // An array of one array of one array ... : 0x81 in both CBOR and (as fixarray 0x91) MessagePack.
    let (byte, last) = match format {
        "cbor" => (0x81, 0x80),
        "msgpack" => (0x91, 0x90),
        _ => (0x01, 0x00), // bincode: a length prefix of 1 at every level
    };
    let mut payload = vec![byte; depth];
    payload.push(last);
    let err = from_slice::<Tree>(&payload, &LoadOptions::new().format(format)).unwrap_err();
    assert!(err.to_string().contains(format), "{err}");
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The registry path (`dyn Format`, used for formats named at run time) writes the same bytes as
/// the facade's typed path and reads them back.
#[rstest]
fn the_registry_path_matches_the_typed_path(#[values("bincode", "cbor", "msgpack")] format: &str) {
    let dynamic = pypickle_core::format::by_name(format).unwrap();
    // Byte equality on data without a HashMap (whose order differs between instances).
    let inner = Inner {
        label: "same bytes".into(),
        weights: vec![1.0, -2.5],
    };
    let typed = to_vec(&inner, &SaveOptions::new().format(format).envelope(false)).unwrap();
    assert_eq!(dynamic.to_vec(&inner).unwrap(), typed);
    let bytes = dynamic.to_vec(&rich()).unwrap();
    let back: Rich = dynamic
        .from_slice(&bytes, &pypickle::Policy::default())
        .unwrap();
    assert_eq!(back, rich());
    let mut longer = bytes.clone();
    longer.push(0);
    let err = dynamic
        .from_slice::<Rich>(&longer, &pypickle::Policy::default())
        .unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}

#[rstest]
fn deep_nesting_through_the_registry_path_is_a_short_error(
    #[values("bincode", "cbor", "msgpack")] format: &str,
) {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Tree(Vec<Tree>);
    // bincode: a length prefix of 1 at every level; CBOR/MessagePack: arrays of one element.
    let byte = match format {
        "cbor" => 0x81,
        "msgpack" => 0x91,
        _ => 0x01,
    };
    let payload = vec![byte; 100_000];
    let dynamic = pypickle_core::format::by_name(format).unwrap();
    let err = dynamic
        .from_slice::<Tree>(&payload, &pypickle::Policy::default())
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.len() < 300,
        "{format}: {} bytes: {message:.300}",
        message.len()
    );
    assert!(message.contains(format), "{message}");
}
