//! Tests of the pickle engine: reader, machine, analysis and disassembler together.

use std::path::PathBuf;

use pypickle_pickle::{analyze, validate_modules};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// For every plain pickle of the fixture corpus, `validate_modules` lists exactly the globals
/// CPython's `find_class` was asked for (the manifest's `globals`, plus `c_raw_globals` where
/// the C unpickler reaches further than the pure-Python one), and `analyze` names every
/// `dangerous` entry. The one addition allowed is `<unresolved>.<unresolved>` in a file CPython
/// cannot load (the machine reads on past a memo miss and fails closed).
#[test]
fn validate_modules_matches_the_fixture_manifest() {
    let manifest_path = fixtures_dir().join("manifest.json");
    let Ok(text) = std::fs::read_to_string(&manifest_path) else {
        eprintln!("no fixture corpus at {}: skipped", manifest_path.display());
        return;
    };
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest.json parses");
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in manifest["files"].as_array().expect("files") {
        let container = file["container"].as_str();
        if !matches!(container, None | Some("pickle")) {
            continue;
        }
        let path = file["path"].as_str().expect("path");
        let bytes = std::fs::read(fixtures_dir().join(path)).expect("fixture readable");
        let names = |key: &str| -> Vec<String> {
            file[key]
                .as_array()
                .map(|pairs| {
                    pairs
                        .iter()
                        .map(|p| format!("{}.{}", p[0].as_str().unwrap(), p[1].as_str().unwrap()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut expected = names("globals");
        expected.extend(names("c_raw_globals"));
        expected.sort();
        expected.dedup();
        let mut got = validate_modules(&bytes);
        let loads = file["loads_in_cpython"].as_bool() == Some(true);
        if !loads {
            got.retain(|name| name != "<unresolved>.<unresolved>");
        }
        if got != expected {
            failures.push(format!("{path}: expected {expected:?}, got {got:?}"));
        }
        let found: Vec<String> = analyze(&bytes)
            .globals
            .iter()
            .map(|g| g.target.to_string())
            .collect();
        for dangerous in file["dangerous"].as_array().into_iter().flatten() {
            let dangerous = dangerous.as_str().unwrap();
            if !found.iter().any(|f| f == dangerous) {
                failures.push(format!("{path}: {dangerous} not found in {found:?}"));
            }
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{checked} fixtures checked");
}
