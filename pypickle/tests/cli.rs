//! The `pypickle` command line against the fixtures: verdicts checked against the manifest for
//! every fixture, exit codes, JSON and SARIF shapes, and every command.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value as Json;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn pypickle() -> Command {
    let mut cmd = Command::cargo_bin("pypickle").expect("the binary is built");
    cmd.current_dir(fixtures());
    cmd
}

fn manifest() -> Json {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn scan_json(args: &[&str]) -> (Json, i32) {
    let output = pypickle()
        .arg("scan")
        .arg("--json")
        .args(args)
        .output()
        .expect("runs");
    assert!(
        output.stderr.is_empty(),
        "nothing on stderr in --json mode: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc = serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    (doc, output.status.code().expect("exit code"))
}

/// Every fixture of the manifest (pickles and containers) gets the manifest's verdict, and every
/// dangerous global it records is named as refused, in the right member.
#[test]
fn json_verdicts_match_the_manifest_for_every_fixture() {
    let (doc, code) = scan_json(&["pickles", "containers"]);
    assert_eq!(code, 1, "unsafe files present");
    let files: HashMap<String, &Json> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["path"].as_str().expect("path").to_string(), f))
        .collect();
    let manifest = manifest();
    let entries = manifest["files"].as_array().expect("manifest files");
    let mut problems = Vec::new();
    for entry in entries {
        let path = entry["path"].as_str().expect("path");
        let Some(file) = files.get(path) else {
            problems.push(format!("{path}: not in the scan output"));
            continue;
        };
        let expected = entry["verdict"].as_str().expect("verdict");
        let got = file["verdict"].as_str().expect("verdict");
        if got != expected {
            problems.push(format!(
                "{path}: {got}, manifest says {expected} (error: {})",
                file["error"]
            ));
            continue;
        }
        let refused: Vec<(&str, Option<&str>)> = file["globals"]
            .as_array()
            .expect("globals")
            .iter()
            .filter(|g| g["accepted"] == Json::Bool(false))
            .map(|g| (g["target"].as_str().expect("target"), g["member"].as_str()))
            .collect();
        for dangerous in entry["dangerous"].as_array().expect("dangerous") {
            let name = dangerous.as_str().expect("str");
            if !refused.iter().any(|(t, _)| *t == name) {
                problems.push(format!("{path}: {name} not named (refused: {refused:?})"));
            }
        }
        if expected == "safe" && !refused.is_empty() {
            problems.push(format!("{path}: safe but refused {refused:?}"));
        }
        // Container members: the dangerous global is reported in the member that holds it.
        if let Some(members) = entry.get("members").and_then(Json::as_object) {
            for (member, globals) in members {
                for g in globals.as_array().expect("globals") {
                    let name = format!("{}.{}", g[0].as_str().unwrap(), g[1].as_str().unwrap());
                    let dangerous = entry["dangerous"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|d| d.as_str() == Some(&name));
                    if dangerous
                        && !refused
                            .iter()
                            .any(|(t, m)| *t == name && *m == Some(member))
                    {
                        problems.push(format!(
                            "{path}: {name} not reported in member {member} ({refused:?})"
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let summary = &doc["summary"];
    assert_eq!(summary["scanned"].as_u64(), Some(files.len() as u64));
    assert_eq!(
        summary["safe"].as_u64().unwrap()
            + summary["unsafe"].as_u64().unwrap()
            + summary["error"].as_u64().unwrap(),
        summary["scanned"].as_u64().unwrap()
    );
}

#[test]
fn json_schema_of_a_file() {
    let (doc, code) = scan_json(&["containers/zip/nested_zip.zip"]);
    assert_eq!(code, 1);
    let file = &doc["files"][0];
    assert_eq!(file["path"], "containers/zip/nested_zip.zip");
    assert_eq!(file["verdict"], "unsafe");
    assert!(file["error"].is_null());
    assert!(file["findings"].is_array());
    let bad = file["globals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "system")
        .expect("os.system listed");
    assert_eq!(bad["module"], "os");
    assert_eq!(bad["risk"], "dangerous");
    assert_eq!(bad["member"], "models/inner.pt/inner/data.pkl");
    assert!(bad["offset"].is_u64());
    assert!(bad["reason"].as_str().unwrap().contains("runs processes"));
    // Every global of the file is listed, not only the refused ones.
    assert!(file["globals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["module"] == "collections" && g["name"] == "OrderedDict"));
    for key in ["scanned", "safe", "unsafe", "error", "skipped"] {
        assert!(doc["summary"][key].is_u64(), "summary.{key}");
    }
}

#[test]
fn zip_tricks_are_findings() {
    let (doc, _) = scan_json(&[
        "containers/zip/bad_crc.pt",
        "containers/zip/duplicate_benign_first.pt",
        "containers/zip/flag_bit_0x01.pt",
        "containers/zip/name_mismatch_central_txt.pt",
    ]);
    let findings: Vec<String> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["findings"].to_string())
        .collect();
    assert!(findings[0].contains("bad CRC"), "{}", findings[0]);
    assert!(
        findings[1].contains("duplicate member name"),
        "{}",
        findings[1]
    );
    assert!(findings[2].contains("flag bits"), "{}", findings[2]);
    assert!(
        findings[3].contains("local header names it"),
        "{}",
        findings[3]
    );
}

#[test]
fn folders_skip_files_that_are_no_pickle() {
    let (doc, _) = scan_json(&["."]);
    let paths: HashSet<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(!paths.iter().any(|p| p.ends_with("README.md")));
    assert!(paths.contains("./containers/misc/malicious_pickle.txt"));
    assert!(doc["summary"]["skipped"].as_u64().unwrap() > 0);
    assert_eq!(doc["summary"]["error"], 0);
}

#[test]
fn include_and_exclude_globs() {
    let (doc, _) = scan_json(&["--include", "*.pt", "--exclude", "**/zip/**", "containers"]);
    let paths: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(!paths.is_empty());
    assert!(
        paths
            .iter()
            .all(|p| p.ends_with(".pt") && !p.contains("/zip/")),
        "{paths:?}"
    );
}

#[test]
fn exit_codes() {
    pypickle()
        .args(["scan", "pickles/safe/plain/plain_data_p4.pkl"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("SAFE"))
        .stdout(predicate::str::contains(
            "1 scanned: 1 safe, 0 unsafe, 0 error",
        ));
    pypickle()
        .args(["scan", "pickles/malicious/inst_os_system_p0.pkl"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("UNSAFE"))
        .stdout(predicate::str::contains("os.system"));
    // An explicitly named file that is no pickle is an error.
    pypickle()
        .args(["scan", "README.md"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("ERROR"));
    pypickle()
        .args(["scan", "does/not/exist.pkl"])
        .assert()
        .code(2);
    // Unsafe wins over errors.
    pypickle()
        .args([
            "scan",
            "README.md",
            "pickles/malicious/inst_os_system_p0.pkl",
        ])
        .assert()
        .code(1);
    // A broken stream after a dangerous call is unsafe.
    pypickle()
        .args([
            "scan",
            "pickles/malicious/broken_truncated_after_reduce_p2.pkl",
        ])
        .assert()
        .code(1);
    // Usage errors.
    pypickle().args(["scan"]).assert().code(64);
    pypickle()
        .args(["scan", "--no-such-flag", "x"])
        .assert()
        .code(64);
    pypickle().args(["frobnicate"]).assert().code(64);
    pypickle().assert().code(64);
    pypickle()
        .args(["scan", "--json", "--sarif", "x"])
        .assert()
        .code(64);
    // Help everywhere.
    for cmd in ["scan", "modules", "inspect", "show", "formats"] {
        pypickle()
            .args([cmd, "--help"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Usage: pypickle"));
    }
    pypickle().arg("--help").assert().code(0);
}

#[test]
fn quiet_prints_only_problems() {
    pypickle()
        .args(["scan", "-q", "pickles/safe/plain/plain_data_p4.pkl"])
        .assert()
        .code(0)
        .stdout(predicate::str::is_empty());
    pypickle()
        .args([
            "scan",
            "-q",
            "pickles/safe/plain/plain_data_p4.pkl",
            "pickles/malicious/inst_os_system_p0.pkl",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("inst_os_system_p0.pkl"))
        .stdout(predicate::str::contains("plain_data_p4").not());
}

#[test]
fn strict_and_allow() {
    let user = "pickles/safe/user_class/point_p4.pkl";
    pypickle().args(["scan", user]).assert().code(0);
    pypickle()
        .args(["scan", "--strict", user])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("fixture_classes.Point"));
    pypickle()
        .args(["scan", "--strict", "--allow", "fixture_classes", user])
        .assert()
        .code(0);
    let bad = "pickles/malicious/inst_os_system_p0.pkl";
    pypickle()
        .args(["scan", "--allow", "os.system", bad])
        .assert()
        .code(0);
}

#[test]
fn sarif_shape() {
    let output = pypickle()
        .args([
            "scan",
            "--sarif",
            "containers/zip/nested_zip.zip",
            "pickles/malicious/inst_os_system_p0.pkl",
            "README.md",
            "pickles/safe/plain/plain_data_p4.pkl",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let doc: Json = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    assert!(doc["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = doc["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "pypickle");
    let rules: HashSet<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["shortDescription"]["text"].is_string());
            r["id"].as_str().unwrap()
        })
        .collect();
    let results = runs[0]["results"].as_array().unwrap();
    assert!(results.len() >= 3, "two dangerous globals and one error");
    for r in results {
        assert!(rules.contains(r["ruleId"].as_str().unwrap()));
        assert!(["error", "warning", "note", "none"].contains(&r["level"].as_str().unwrap()));
        assert!(r["message"]["text"].is_string());
        for loc in r["locations"].as_array().unwrap() {
            let uri = loc["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            assert!(!uri.is_empty());
            if let Some(region) = loc["physicalLocation"].get("region") {
                assert!(region["byteOffset"].is_u64() || region["startLine"].is_u64());
            }
        }
    }
    assert!(results.iter().any(|r| r["message"]["text"]
        .as_str()
        .unwrap()
        .contains("models/inner.pt/inner/data.pkl")));
}

#[test]
fn modules_lists_sorted_globals() {
    pypickle()
        .args(["modules", "containers/torch/state_dict_malicious.pt"])
        .assert()
        .code(0)
        .stdout("collections.OrderedDict\nos.system\ntorch.FloatStorage\ntorch._utils._rebuild_tensor_v2\n");
    pypickle()
        .args([
            "modules",
            "pickles/malicious/inst_os_system_p0.pkl",
            "containers/npz/object_member.npz",
        ])
        .assert()
        .code(0)
        .stdout(
            "pickles/malicious/inst_os_system_p0.pkl:\nos.system\n\
             containers/npz/object_member.npz:\nnumpy._core.multiarray._reconstruct\nnumpy.dtype\nnumpy.ndarray\n",
        );
    pypickle().args(["modules", "README.md"]).assert().code(2);
}

#[test]
fn inspect_snapshots() {
    for file in [
        "pickles/malicious/obj_os_system_p1.pkl",
        "containers/compressed/malicious.pkl.gz",
        "containers/zip/member_named_txt.zip",
    ] {
        let output = pypickle().args(["inspect", file]).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{file} is unsafe");
        let text = String::from_utf8(output.stdout).unwrap();
        let name = file.replace(['/', '.'], "_");
        insta::assert_snapshot!(name, text);
    }
    pypickle()
        .args(["inspect", "pickles/safe/stacked/two_pickles_p4.pkl"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("pickles: 2"))
        .stdout(predicate::str::contains("verdict: safe"));
    pypickle()
        .args(["inspect", "containers/joblib/malicious_after_array.joblib"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("os.system"))
        .stdout(predicate::str::contains("calls:"));
}

#[test]
fn inspect_and_show_files_written_by_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scores.pkl");
    let scores = vec![("ada".to_string(), 36u32), ("alan".to_string(), 41)];
    let enveloped = pypickle::SaveOptions::new().format("pickle").envelope(true);
    pypickle::save(&path, &scores, &enveloped).unwrap();
    pypickle()
        .arg("inspect")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("envelope version"))
        .stdout(predicate::str::contains("format pickle"))
        .stdout(predicate::str::contains("checksum ok"));
    pypickle()
        .arg("show")
        .arg(&path)
        .assert()
        .code(0)
        .stdout("[('ada', 36), ('alan', 41)]\n");
    let cbor = dir.path().join("scores.cbor");
    pypickle::save(&cbor, &scores, &pypickle::SaveOptions::new()).unwrap();
    pypickle().arg("show").arg(&cbor).assert().code(0);
    pypickle()
        .arg("scan")
        .arg(&cbor)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("SAFE"));
}

#[test]
fn show_prints_python_literals() {
    pypickle()
        .args(["show", "pickles/safe/numpy/float64_2d_p4.pkl"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("numpy.ndarray(shape=("))
        .stdout(predicate::str::contains("dtype=float64)"));
    pypickle()
        .args(["show", "pickles/safe/user_class/point_p4.pkl"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("fixture_classes.Point("));
    pypickle()
        .args(["show", "pickles/malicious/inst_os_system_p0.pkl"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("os.system"));
    pypickle()
        .args(["show", "--strict", "pickles/safe/user_class/point_p4.pkl"])
        .assert()
        .code(1);
    pypickle()
        .args([
            "show",
            "--depth",
            "1",
            "--width",
            "2",
            "pickles/safe/plain/plain_data_p4.pkl",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("..."));
    pypickle()
        .args(["show", "containers/compressed/safe.pkl.gz"])
        .assert()
        .code(0);
    pypickle().args(["show", "README.md"]).assert().code(2);
}

#[test]
fn formats_lists_the_registry() {
    pypickle()
        .arg("formats")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("pickle\n"))
        .stdout(predicate::str::contains("cbor\n"));
}

#[test]
fn decompression_bombs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(b"\x80\x04").unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..40 {
        encoder.write_all(&zeros).unwrap();
    }
    std::fs::write(&path, encoder.finish().unwrap()).unwrap();
    pypickle()
        .arg("scan")
        .arg(&path)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("decompression bomb"));
}

#[test]
fn folder_scan_uses_every_file_once() {
    let (doc, _) = scan_json(&["pickles/malicious", "pickles/malicious"]);
    let n = doc["files"].as_array().unwrap().len();
    let expected = std::fs::read_dir(fixtures().join("pickles/malicious"))
        .unwrap()
        .count();
    assert_eq!(n, 2 * expected, "each root scanned as given");
}

#[test]
fn a_damaged_envelope_is_still_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let payload =
        std::fs::read(fixtures().join("pickles/malicious/inst_os_system_p0.pkl")).unwrap();
    let mut bytes = pypickle::envelope::wrap("pickle", &payload).unwrap();
    let good = dir.path().join("good.pkl");
    std::fs::write(&good, &bytes).unwrap();
    pypickle().arg("scan").arg(&good).assert().code(1);
    // Damage the recorded checksum: the envelope is refused, and the payload still judged.
    bytes[12] ^= 0x20;
    let bad = dir.path().join("bad.pkl");
    std::fs::write(&bad, &bytes).unwrap();
    pypickle()
        .arg("scan")
        .arg(&bad)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("os.system"))
        .stdout(predicate::str::contains("envelope"));
}

#[test]
fn overlapping_zip_members_are_bounded() {
    // One stored 64 KiB member, and a central directory naming it 5000 times (320 MB of work).
    let data = vec![0xffu8; 64 * 1024];
    let mut zip = Vec::new();
    let name = b"m.zip";
    let crc = crc32fast::hash(&data);
    let local = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
    };
    local(&mut zip);
    zip.extend_from_slice(&data);
    let cd_start = zip.len();
    let count = 5000u16;
    for _ in 0..count {
        zip.extend_from_slice(b"PK\x01\x02");
        zip.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        zip.extend_from_slice(&crc.to_le_bytes());
        zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
        zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
        zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
        zip.extend_from_slice(&[0; 12]);
        zip.extend_from_slice(&0u32.to_le_bytes());
        zip.extend_from_slice(name);
    }
    let cd_len = zip.len() - cd_start;
    zip.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    zip.extend_from_slice(&count.to_le_bytes());
    zip.extend_from_slice(&count.to_le_bytes());
    zip.extend_from_slice(&(cd_len as u32).to_le_bytes());
    zip.extend_from_slice(&(cd_start as u32).to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overlap.zip");
    std::fs::write(&path, &zip).unwrap();
    let start = std::time::Instant::now();
    pypickle()
        .arg("scan")
        .arg(&path)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("too much to scan"));
    assert!(start.elapsed().as_secs() < 60);
}

#[test]
fn real_joblib_models_are_safe() {
    let (doc, code) = scan_json(&["cli/forest5.joblib", "cli/forest5_objects.joblib.xz"]);
    assert_eq!(code, 0, "{doc:#}");
    for file in doc["files"].as_array().unwrap() {
        assert_eq!(file["verdict"], "safe");
        assert!(file["error"].is_null());
        assert!(file["globals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["target"] == "sklearn.ensemble._forest.RandomForestClassifier"));
    }
    // The object array's nested pickle is read too.
    pypickle()
        .args(["modules", "cli/forest5_objects.joblib.xz"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "joblib.numpy_pickle.NumpyArrayWrapper",
        ))
        .stdout(predicate::str::contains("sklearn.tree._tree.Tree"));
}
