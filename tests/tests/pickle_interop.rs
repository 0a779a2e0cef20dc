//! CPython writes, pypickle loads (without running anything), pypickle writes back, and CPython
//! finds the result equal to the original: for every safe real-world fixture, by the comparison
//! the manifest records (==, repr, aliasing and cycles, numpy dtype/shape/order/values, pandas
//! `.equals`, scikit-learn predictions). Needs python3 with the packages of
//! tests/fixtures/requirements.txt (installed by .ci/run); it fails, never skips, without them.

use std::path::Path;
use std::process::Command;

use pypickle_pickle::write::write_value;
use pypickle_pickle::Limits;
use serde_json::{json, Value as Json};

#[test]
fn rust_rewritten_fixtures_load_equal_in_cpython() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("fixtures");
    let manifest: Json =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("manifest.json")).unwrap())
            .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for entry in manifest["files"].as_array().unwrap() {
        let path = entry["path"].as_str().unwrap();
        if !path.starts_with("pickles/safe/") {
            continue;
        }
        let original = fixtures.join(path);
        let bytes = std::fs::read(&original).unwrap();
        let loaded = pypickle_pickle::load(&bytes, &Limits::default());
        assert!(loaded.error.is_none(), "{path}: {:?}", loaded.error);
        assert!(!loaded.roots.is_empty(), "{path}: no pickle");
        let protocol = entry["protocol"].as_u64().unwrap_or(4).clamp(2, 5) as u8;
        // Every pickle of a stacked file, rewritten one after the other.
        let mut rewritten_bytes = Vec::new();
        for &root_item in &loaded.roots {
            let mut value = loaded.value.clone();
            value.set_root(root_item);
            let written = write_value(&value, protocol).unwrap_or_else(|e| panic!("{path}: {e}"));
            rewritten_bytes.extend_from_slice(&written);
        }
        let rewritten = out.path().join(path.replace('/', "__"));
        std::fs::write(&rewritten, &rewritten_bytes).unwrap();
        jobs.push(json!({
            "original": original,
            "rewritten": rewritten,
            "compare": entry["compare"],
            "load_kwargs": entry.get("load_kwargs"),
            "expected_predictions": entry.get("expected_predictions"),
        }));
    }
    assert!(jobs.len() >= 150, "only {} safe fixtures found", jobs.len());
    let jobs_file = out.path().join("jobs.json");
    std::fs::write(&jobs_file, serde_json::to_vec(&jobs).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(root.join("pickle_interop.py"))
        .arg(&jobs_file)
        .output()
        .expect("python3 must be installed to run the interoperability tests");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("ok ")).collect();
    assert!(
        output.status.success() && failures.is_empty(),
        "{} of {} rewritten fixtures differ in CPython:\n{}\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n"),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.lines().count(), jobs.len());
}
