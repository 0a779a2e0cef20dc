//! The facade over pickles: typed `load` of CPython files, `save` as pickle read back by CPython,
//! policy refusals carrying their verdict, and symbolic objects refused where data is expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pypickle::{load, load_value, save, validate_modules, LoadOptions, SaveOptions};
use serde::{Deserialize, Serialize};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Plain,
    Weighted(f64),
    Span { from: i32, to: i32 },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    count: u64,
    small: i64,
    tags: Vec<String>,
    scores: BTreeMap<String, f64>,
    kinds: Vec<Kind>,
    note: Option<String>,
    blob: Vec<u8>,
}

fn record() -> Record {
    Record {
        name: "ünïcode ✓".into(),
        count: u64::MAX,
        small: i64::MIN,
        tags: vec!["a".into(), "b".into()],
        scores: [("x".to_string(), 0.5), ("y".to_string(), -2.0)].into(),
        kinds: vec![
            Kind::Plain,
            Kind::Weighted(1.5),
            Kind::Span { from: -1, to: 7 },
        ],
        note: None,
        blob: vec![0, 1, 255],
    }
}

#[test]
fn rust_writes_a_pickle_cpython_reads_and_rust_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("record.pkl");
    save(&path, &record(), &SaveOptions::new()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        &bytes[..2],
        b"\x80\x04",
        "a bare protocol-4 pickle, no envelope"
    );
    let script = "import pickle, sys\n\
                  v = pickle.load(open(sys.argv[1], 'rb'))\n\
                  assert v == {'name': 'ünïcode ✓', 'count': 2**64 - 1, 'small': -2**63, 'tags': ['a', 'b'],\n\
                  \x20            'scores': {'x': 0.5, 'y': -2.0},\n\
                  \x20            'kinds': ['Plain', {'Weighted': 1.5}, {'Span': {'from': -1, 'to': 7}}],\n\
                  \x20            'note': None, 'blob': [0, 1, 255]}, v\n\
                  print('same')\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 is required");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "same",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let back: Record = load(&path, &LoadOptions::new()).unwrap();
    assert_eq!(back, record());
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(untagged)]
enum Item {
    Pair(Vec<i64>),
    Again(BTreeMap<String, Vec<i64>>),
}

#[test]
fn typed_load_of_cpython_pickles_at_every_protocol() {
    // [[1, 2], [1, 2], {'again': [1, 2]}], the three lists being one shared object.
    for protocol in [0, 2, 4] {
        let path = fixture(&format!("pickles/safe/shared/shared_list_p{protocol}.pkl"));
        let value: Vec<Item> = load(&path, &LoadOptions::new()).unwrap();
        let pair = vec![1, 2];
        assert_eq!(
            value,
            vec![
                Item::Pair(pair.clone()),
                Item::Pair(pair.clone()),
                Item::Again([("again".to_string(), pair)].into())
            ]
        );
    }
    // A cycle cannot become a tree: a clear error, not a hang or an overflow.
    let err = load::<Vec<serde_json::Value>>(
        fixture("pickles/safe/shared/self_list_p4.pkl"),
        &LoadOptions::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("cycl"), "{err}");
}

#[test]
fn a_symbolic_object_where_data_is_expected_names_its_class() {
    let err = load::<BTreeMap<String, i64>>(
        fixture("pickles/safe/sklearn/logistic_regression_p4.pkl"),
        &LoadOptions::new(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("sklearn.linear_model._logistic.LogisticRegression"),
        "{message}"
    );
    assert!(!err.is_unsafe());
}

#[test]
fn refusals_carry_the_verdict_and_name_every_refused_global() {
    let path = fixture("pickles/malicious/os_system_global_reduce_p2.pkl");
    let err = load::<serde_json::Value>(&path, &LoadOptions::new()).unwrap_err();
    assert!(err.is_unsafe());
    let message = err.to_string();
    assert!(
        message.contains("os.system") && message.contains("os_system_global_reduce_p2.pkl"),
        "{message}"
    );
    let verdict = err.verdict().unwrap();
    assert!(!verdict.accepted());
    assert!(verdict
        .refused()
        .any(|j| j.global.target.to_string() == "os.system"));
    // Without validation, the same file loads as a symbolic graph: nothing runs either way.
    let value = load_value(&path, &LoadOptions::new().no_validation()).unwrap();
    assert!(!value.is_empty());
}

#[test]
fn allowing_a_package_does_not_allow_its_dangerous_members() {
    let path = fixture("pickles/malicious/numpy_testing_runstring_p4.pkl");
    let err = load_value(&path, &LoadOptions::new().allow(["numpy"])).unwrap_err();
    assert!(err.is_unsafe(), "{err}");
    let exact = validate_modules(&path).unwrap();
    assert!(load_value(&path, &LoadOptions::new().allow(exact)).is_ok());
}

#[test]
fn validate_modules_lists_a_sklearn_model_without_dict_keys() {
    let modules =
        validate_modules(fixture("pickles/safe/sklearn/logistic_regression_p4.pkl")).unwrap();
    assert!(
        modules.contains(&"sklearn.linear_model._logistic.LogisticRegression".to_string()),
        "{modules:?}"
    );
    assert!(
        modules.iter().all(|m| m.contains('.') && !m.ends_with('_')),
        "dict keys leaked: {modules:?}"
    );
    let err = validate_modules(fixture("manifest.json")).unwrap_err();
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

/// Files of 1 MiB or more are mapped and let go of as the machine reads them: the value is the
/// same as from the bytes, bare or inside the envelope (whose payload starts past a header), and
/// the policy still judges the file.
#[test]
fn large_files_load_mapped_to_the_same_value() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(String, Vec<u8>, u64)> = (0..20_000u64)
        .map(|i| {
            (
                format!("row {i}"),
                vec![(i % 251) as u8; 60 + (i % 7) as usize],
                i * i,
            )
        })
        .collect();
    for envelope in [false, true] {
        let path = dir.path().join(format!("rows-{envelope}.pkl"));
        save(
            &path,
            &rows,
            &SaveOptions::new().format("pickle").envelope(envelope),
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() as u64 > 1 << 20, "{} bytes", bytes.len());
        let payload = if envelope {
            pypickle::envelope::open(&bytes).unwrap().1
        } else {
            &bytes[..]
        };
        let expected =
            pypickle::pickle_format::load_value(payload, &pypickle::Policy::default()).unwrap();
        let loaded = load_value(&path, &LoadOptions::new()).unwrap();
        assert_eq!(loaded, expected, "envelope {envelope}");
        let back: Vec<(String, Vec<u8>, u64)> = load(&path, &LoadOptions::new()).unwrap();
        assert_eq!(back, rows);
    }

    // A dangerous call after 2 MiB of payload is refused as in a small file.
    let mut p = vec![0x80, 4, 0x8e];
    p.extend_from_slice(&(2u64 << 20).to_le_bytes());
    p.resize(p.len() + (2 << 20), b'x');
    p.extend_from_slice(b"0cos\nsystem\n\x8c\x04echo\x85R.");
    let path = dir.path().join("late.pkl");
    std::fs::write(&path, &p).unwrap();
    let err = load_value(&path, &LoadOptions::new()).unwrap_err();
    assert!(
        err.is_unsafe() && err.to_string().contains("os.system"),
        "{err}"
    );
    assert_eq!(validate_modules(&path).unwrap(), ["os.system"]);
}
