//! `pypickle convert` end to end: a real fixture through CBOR and MessagePack and back, loaded
//! equal by CPython; unsafe input refused with exit 1 and no output; existing output kept.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use assert_cmd::Command;
use predicates::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn pypickle() -> Command {
    Command::cargo_bin("pypickle").expect("the binary is built")
}

#[test]
fn a_fixture_goes_to_cbor_and_msgpack_and_back_equal_in_cpython() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixtures().join("pickles/safe/numpy/fortran_order_p4.pkl");
    assert!(original.exists(), "fixture missing: {}", original.display());
    let mut backs = Vec::new();
    for middle in ["data.cbor", "data.msgpack"] {
        let middle = dir.path().join(middle);
        let back = dir.path().join(format!(
            "{}.pkl",
            middle.file_name().unwrap().to_string_lossy()
        ));
        pypickle()
            .arg("convert")
            .arg(&original)
            .arg(&middle)
            .assert()
            .code(0);
        pypickle()
            .arg("convert")
            .arg(&middle)
            .arg(&back)
            .assert()
            .code(0);
        backs.push(back);
    }
    let script = "import pickle, sys, numpy as np\n\
                  a = pickle.load(open(sys.argv[1], 'rb'))\n\
                  for p in sys.argv[2:]:\n    \
                      b = pickle.load(open(p, 'rb'))\n    \
                      assert a.dtype == b.dtype and a.shape == b.shape and a.flags.f_contiguous == b.flags.f_contiguous, p\n    \
                      assert np.array_equal(a, b), p\n\
                  print('equal')\n";
    let output = Process::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&original)
        .args(&backs)
        .output()
        .expect("python3 with numpy is required");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "equal",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn unsafe_input_is_refused_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.cbor");
    pypickle()
        .arg("convert")
        .arg(fixtures().join("pickles/malicious/os_system_global_reduce_p2.pkl"))
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("os.system"));
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a temporary file was left"
    );
}

#[test]
fn an_existing_output_is_kept_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.cbor");
    std::fs::write(&out, b"keep me").unwrap();
    let input = fixtures().join("pickles/safe/plain/plain_data_p4.pkl");
    pypickle()
        .arg("convert")
        .arg(&input)
        .arg(&out)
        .assert()
        .code(2);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    pypickle()
        .arg("convert")
        .arg(&input)
        .arg(&out)
        .arg("--overwrite")
        .assert()
        .code(0);
    assert_ne!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn convert_has_help_and_usage_errors_exit_64() {
    pypickle()
        .args(["convert", "--help"])
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("--lossy").and(predicate::str::contains("--no-validation")),
        );
    pypickle()
        .args(["convert", "only-one-path"])
        .assert()
        .code(64);
}
