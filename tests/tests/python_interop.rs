//! Files written by pypickle, read by CPython: the envelope reader documented in
//! docs/file-format.md, and bare CBOR/MessagePack read by `cbor2` and `msgpack`.
//! These tests need python3 with cbor2 and msgpack (`.ci/run` installs them); without them
//! they fail rather than skip.

use std::path::Path;
use std::process::Command;

use pypickle::{save, SaveOptions};
use serde::Serialize;

#[derive(Serialize)]
struct Sample {
    name: String,
    values: Vec<i64>,
    ratio: f64,
    flag: bool,
    missing: Option<u8>,
}

fn sample() -> Sample {
    Sample {
        name: "naïve 🦀".into(),
        values: vec![i64::MIN, -1, 0, 1, i64::MAX],
        ratio: 0.1,
        flag: true,
        missing: None,
    }
}

const EXPECTED: &str =
    "{'name': 'naïve 🦀', 'values': [-9223372036854775808, -1, 0, 1, 9223372036854775807], 'ratio': 0.1, 'flag': True, 'missing': None}";

/// The Python reader from docs/file-format.md, extracted so the doc and the test cannot drift.
fn documented_reader() -> String {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/file-format.md"),
    )
    .unwrap();
    let start = doc
        .find("```python\n")
        .expect("python block in docs/file-format.md")
        + "```python\n".len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}

fn python(script: &str, args: &[&Path]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 must be installed to run the interoperability tests");
    assert!(
        output.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

#[test]
fn python_reads_enveloped_files_with_the_documented_function() {
    let dir = tempfile::tempdir().unwrap();
    let cbor = dir.path().join("s.cbor");
    let msgpack = dir.path().join("s.msgpack");
    save(&cbor, &sample(), &SaveOptions::new()).unwrap();
    save(&msgpack, &sample(), &SaveOptions::new()).unwrap();
    let script = format!(
        "{}\nimport sys, cbor2, msgpack\nfor p in sys.argv[1:]:\n    name, payload = read_pypickle(p)\n    \
         value = cbor2.loads(payload[3:]) if name == 'cbor' else msgpack.unpackb(payload)\n    print(name, value)\n",
        documented_reader()
    );
    let out = python(&script, &[&cbor, &msgpack]);
    assert_eq!(out, format!("cbor {EXPECTED}\nmsgpack {EXPECTED}"));
}

#[test]
fn the_documented_reader_refuses_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.cbor");
    save(&path, &sample(), &SaveOptions::new()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let script = format!(
        "{}\nimport sys\ntry:\n    read_pypickle(sys.argv[1])\nexcept ValueError as e:\n    print(e)\n",
        documented_reader()
    );
    assert!(python(&script, &[&path]).ends_with("payload checksum mismatch"));
}

#[test]
fn bare_payloads_open_in_cbor2_and_msgpack() {
    let dir = tempfile::tempdir().unwrap();
    let cbor = dir.path().join("bare.cbor");
    let msgpack = dir.path().join("bare.msgpack");
    save(&cbor, &sample(), &SaveOptions::new().envelope(false)).unwrap();
    save(&msgpack, &sample(), &SaveOptions::new().envelope(false)).unwrap();
    // The documented way: skip the 3-byte self-describe tag, then plain cbor2.loads.
    let script = "import sys, cbor2, msgpack\n\
                  data = open(sys.argv[1], 'rb').read()\n\
                  assert data[:3] == b'\\xd9\\xd9\\xf7'\n\
                  print(cbor2.loads(data[3:]))\n\
                  print(msgpack.unpack(open(sys.argv[2], 'rb')))\n";
    assert_eq!(
        python(script, &[&cbor, &msgpack]),
        format!("{EXPECTED}\n{EXPECTED}")
    );
}

#[test]
fn cbor2_load_of_a_bare_file_gives_equal_data() {
    // cbor2 6.x decodes what a tag wraps (the self-describe tag too) as frozendict/tuple, cbor2 5.x
    // as dict/list (docs/file-format.md); the data is the same either way.
    let dir = tempfile::tempdir().unwrap();
    let cbor = dir.path().join("bare.cbor");
    save(&cbor, &sample(), &SaveOptions::new().envelope(false)).unwrap();
    let script = "import sys, cbor2\n\
                  from collections.abc import Mapping\n\
                  def thaw(v):\n    \
                      if isinstance(v, Mapping): return {k: thaw(x) for k, x in v.items()}\n    \
                      if isinstance(v, (list, tuple)): return [thaw(x) for x in v]\n    \
                      return v\n\
                  print(thaw(cbor2.load(open(sys.argv[1], 'rb'))))\n";
    assert_eq!(python(script, &[&cbor]), EXPECTED);
}

#[test]
fn the_documented_example_bytes_are_what_to_vec_writes() {
    let bytes = pypickle::to_vec(&vec![1, 2, 3], &SaveOptions::new()).unwrap();
    assert_eq!(bytes.len(), 51);
    assert_eq!(&bytes[..10], b"\xb5PYPKL\r\n\x01\x04");
    assert_eq!(&bytes[16..24], &7u64.to_le_bytes());
    assert_eq!(&bytes[24..28], b"cbor");
    assert_eq!(&bytes[44..], &[0xd9, 0xd9, 0xf7, 0x83, 0x01, 0x02, 0x03]);
}
