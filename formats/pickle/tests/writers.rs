//! The pickle writers checked against CPython: serde data (`ser`) and Python object graphs
//! (`write`) are pickled here, then loaded by `python3` (the C and the pure-Python unpickler),
//! disassembled by `pickletools`, and compared with what CPython itself writes.
//! These tests fail (they do not skip) when `python3` is missing.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use pypickle_core::{CallKind, Instance, Item, Object, Value};
use pypickle_pickle::ser;
use pypickle_pickle::write::write_value;
use serde::{Deserialize, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Running CPython

/// One pickle for Python to check: `check` is a Python expression over `x` (the loaded object),
/// or for serde records the expected value.
struct Record {
    name: String,
    proto: u8,
    check: String,
    data: Vec<u8>,
    /// serde records: 0 = no comparison with CPython's pickler, 1 = same opcodes (memo ops and
    /// frames aside), 2 = same opcodes and frame positions.
    compare: u8,
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Runs `script` with the records on stdin; panics with Python's output if it fails.
fn run_python(script: &str, records: &[Record]) {
    let mut input = Vec::new();
    for r in records {
        put(&mut input, r.name.as_bytes());
        put(&mut input, &[r.proto, r.compare]);
        put(&mut input, r.check.as_bytes());
        put(&mut input, &r.data);
    }
    let mut child = Command::new("python3")
        .args(["-X", "faulthandler", "-c"])
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to check pickles against CPython; install it");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("checked {}", records.len())),
        "CPython check failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

const PY_COMMON: &str = r#"
import sys, io, math, pickle, pickletools, struct, copyreg, collections, datetime, fractions, dbm, logging

def records():
    data = sys.stdin.buffer.read()
    pos = 0
    def take():
        nonlocal pos
        n = struct.unpack_from('<I', data, pos)[0]
        pos += 4
        chunk = data[pos:pos + n]
        pos += n
        return chunk
    while pos < len(data):
        name = take().decode()
        proto, compare = take()
        check = take().decode()
        yield name, proto, compare, check, take()

def ops(data, frames):
    # The opcodes' bytes, without memo stores (CPython memoizes more) and with or without frames.
    out = []
    items = list(pickletools.genops(data))
    for i, (op, arg, pos) in enumerate(items):
        end = items[i + 1][2] if i + 1 < len(items) else len(data)
        if op.name in ('MEMOIZE', 'PUT', 'BINPUT', 'LONG_BINPUT'):
            continue
        if op.name == 'FRAME':
            if frames:
                out.append(b'FRAME')
            continue
        out.append(data[pos:end])
    return out

failures = []
count = 0
"#;

const PY_SERDE: &str = r#"
def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(same(k1, k2) and same(v1, v2)
                                        for (k1, v1), (k2, v2) in zip(a.items(), b.items()))
    return a == b

CODE = {'GLOBAL', 'STACK_GLOBAL', 'REDUCE', 'INST', 'OBJ', 'NEWOBJ', 'NEWOBJ_EX', 'BUILD',
        'EXT1', 'EXT2', 'EXT4', 'PERSID', 'BINPERSID'}

for name, proto, compare, check, data in records():
    count += 1
    try:
        expected = eval(check)
        for loads in (pickle.loads, pickle._loads):
            got = loads(data)
            if not same(got, expected):
                failures.append(f'{name} (protocol {proto}, {loads.__module__}): got {got!r:.400}')
        names = {op.name for op, _, _ in pickletools.genops(data)}
        if names & CODE:
            failures.append(f'{name}: code opcodes {names & CODE}')
        if data[:2] != bytes([0x80, proto]):
            failures.append(f'{name}: starts {data[:2]!r}, not PROTO {proto}')
        if 'FRAME' in names and proto < 4:
            failures.append(f'{name}: FRAME below protocol 4')
        pickletools.dis(data, out=io.StringIO(), indentlevel=0)
        if compare:
            theirs = pickle.dumps(expected, proto)
            a, b = ops(data, compare == 2), ops(theirs, compare == 2)
            if a != b:
                diff = next(i for i in range(min(len(a), len(b)) + 1) if i >= min(len(a), len(b)) or a[i] != b[i])
                failures.append(f'{name} (protocol {proto}): opcodes differ from CPython at #{diff}: '
                                f'ours {a[diff:diff+3]!r:.200} CPython {b[diff:diff+3]!r:.200}')
    except Exception as e:
        failures.append(f'{name} (protocol {proto}): {type(e).__name__}: {e}')

for f in failures:
    print('FAIL', f)
if failures:
    sys.exit(1)
print('checked', count)
"#;

const PY_VALUE: &str = r#"
copyreg.add_extension('collections', 'OrderedDict', 240)
copyreg.add_extension('collections', 'deque', 300)
copyreg.add_extension('collections', 'Counter', 70000)

class U(pickle.Unpickler):
    def persistent_load(self, pid):
        return ('P', pid)

class PU(pickle._Unpickler):
    def persistent_load(self, pid):
        return ('P', pid)

for name, proto, compare, check, data in records():
    count += 1
    for cls in (U, PU):
        try:
            f = io.BytesIO(data)
            x = cls(f, buffers=[b'abc', bytearray(b'def')]).load()
            if f.read() != b'':
                failures.append(f'{name} (protocol {proto}, {cls.__name__}): bytes after STOP')
            if not eval(check):
                failures.append(f'{name} (protocol {proto}, {cls.__name__}): {check} is false for {x!r:.300}')
        except Exception as e:
            failures.append(f'{name} (protocol {proto}, {cls.__name__}): {type(e).__name__}: {e}')
    try:
        pickletools.dis(data, out=io.StringIO(), indentlevel=0)
        if proto >= 2 and data[:2] != bytes([0x80, proto]):
            failures.append(f'{name}: starts {data[:2]!r}, not PROTO {proto}')
    except Exception as e:
        failures.append(f'{name} (protocol {proto}) pickletools: {type(e).__name__}: {e}')

for f in failures:
    print('FAIL', f)
if failures:
    sys.exit(1)
print('checked', count)
"#;

fn check_serde(records: &[Record]) {
    run_python(&format!("{PY_COMMON}{PY_SERDE}"), records);
}

/// The opcode names of a pickle, via CPython (for assertions in Rust).
fn opcode_names(data: &[u8]) -> Vec<String> {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg("import sys, pickletools\nfor op, a, p in pickletools.genops(sys.stdin.buffer.read()): print(op.name)")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// serde → pickle

mod as_bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct UnitStruct;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Meters(f64);

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Point(i32, i32);

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Shape {
    Empty,
    Circle(f64),
    Segment(i32, String),
    Rect { width: u8, flags: Vec<bool> },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Rich {
    name: String,
    empty: String,
    long_text: String,
    max: u64,
    min: i64,
    small: i8,
    byte: u8,
    medium: u16,
    wide_min: i128,
    wide_max: u128,
    pi: f64,
    nan: f64,
    inf: f64,
    neg_inf: f64,
    neg_zero: f64,
    single: f32,
    yes: bool,
    no: bool,
    missing: Option<i32>,
    present: Option<String>,
    unit: (),
    unit_struct: UnitStruct,
    newtype: Meters,
    triple: (u8, String, bool),
    quad: (u8, u16, u32, u64),
    nothing: [u8; 0],
    point: Point,
    list: Vec<u32>,
    nested: Vec<Vec<i16>>,
    empty_list: Vec<u8>,
    scores: BTreeMap<String, i64>,
    by_id: BTreeMap<i32, String>,
    by_pair: BTreeMap<(u8, u8), bool>,
    shapes: Vec<Shape>,
    #[serde(with = "as_bytes")]
    blob: Vec<u8>,
    raw: Vec<u8>,
    initial: char,
    many: Vec<u16>,
    table: BTreeMap<u32, u32>,
}

fn rich() -> Rich {
    Rich {
        name: "héllo wörld ✓ 😀".into(),
        empty: String::new(),
        long_text: "ü".repeat(200),
        max: u64::MAX,
        min: i64::MIN,
        small: -5,
        byte: 200,
        medium: 60000,
        wide_min: i128::MIN,
        wide_max: u128::MAX,
        pi: std::f64::consts::PI,
        nan: f64::NAN,
        inf: f64::INFINITY,
        neg_inf: f64::NEG_INFINITY,
        neg_zero: -0.0,
        single: 1.5,
        yes: true,
        no: false,
        missing: None,
        present: Some("here".into()),
        unit: (),
        unit_struct: UnitStruct,
        newtype: Meters(2.5),
        triple: (7, "seven".into(), true),
        quad: (1, 300, 70000, 1 << 40),
        nothing: [],
        point: Point(-3, 4),
        list: vec![0, 255, 256, 65535, 65536, u32::MAX],
        nested: vec![vec![1, -1], vec![], vec![i16::MIN, i16::MAX]],
        empty_list: vec![],
        scores: BTreeMap::from([("alice".into(), 10), ("bob".into(), -2)]),
        by_id: BTreeMap::from([(1, "one".into()), (-1, "minus one".into())]),
        by_pair: BTreeMap::from([((1, 2), true), ((3, 4), false)]),
        shapes: vec![
            Shape::Empty,
            Shape::Circle(0.5),
            Shape::Segment(-9, "segment".into()),
            Shape::Rect {
                width: 3,
                flags: vec![true, false],
            },
        ],
        blob: b"\x00\x01\xfe\xff".to_vec(),
        raw: vec![1, 2, 3],
        initial: 'é',
        many: (0..2500).collect(),
        table: (0..1001).map(|i| (i, i * 2)).collect(),
    }
}

const RICH_PY: &str = r#"{
 'name': 'héllo wörld ✓ 😀', 'empty': '', 'long_text': 'ü' * 200,
 'max': 2**64 - 1, 'min': -2**63, 'small': -5, 'byte': 200, 'medium': 60000,
 'wide_min': -2**127, 'wide_max': 2**128 - 1,
 'pi': math.pi, 'nan': float('nan'), 'inf': float('inf'), 'neg_inf': float('-inf'), 'neg_zero': -0.0,
 'single': 1.5, 'yes': True, 'no': False, 'missing': None, 'present': 'here', 'unit': None,
 'unit_struct': None, 'newtype': 2.5, 'triple': (7, 'seven', True), 'quad': (1, 300, 70000, 2**40),
 'nothing': (), 'point': (-3, 4), 'list': [0, 255, 256, 65535, 65536, 2**32 - 1],
 'nested': [[1, -1], [], [-32768, 32767]], 'empty_list': [],
 'scores': {'alice': 10, 'bob': -2}, 'by_id': {-1: 'minus one', 1: 'one'},
 'by_pair': {(1, 2): True, (3, 4): False},
 'shapes': ['Empty', {'Circle': 0.5}, {'Segment': (-9, 'segment')}, {'Rect': {'width': 3, 'flags': [True, False]}}],
 'blob': b'\x00\x01\xfe\xff', 'raw': [1, 2, 3], 'initial': 'é',
 'many': list(range(2500)), 'table': {i: 2 * i for i in range(1001)},
}"#;

#[test]
fn rich_struct_loads_in_cpython_at_protocols_2_to_5() {
    let value = rich();
    let mut records = Vec::new();
    for proto in 2..=5 {
        let data = ser::to_vec(&value, proto).unwrap();
        let mut streamed = Vec::new();
        ser::to_writer(&mut streamed, &value, proto).unwrap();
        assert_eq!(
            streamed, data,
            "to_writer and to_vec differ at protocol {proto}"
        );
        records.push(Record {
            name: "rich".into(),
            proto,
            check: RICH_PY.into(),
            data,
            // Protocol 2: CPython writes bytes as a `_codecs.encode` call.
            compare: if proto >= 3 { 1 } else { 0 },
        });
    }
    check_serde(&records);
}

/// A tuple of any length (serde's `serialize_tuple`), which CPython memoizes only at its end.
struct Tuple<T>(Vec<T>);

impl<T: Serialize> Serialize for Tuple<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(self.0.len())?;
        for x in &self.0 {
            t.serialize_element(x)?;
        }
        t.end()
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Any {
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(#[serde(with = "as_bytes")] Vec<u8>),
}

#[test]
fn opcodes_and_frames_match_cpython() {
    let mut records = Vec::new();
    for proto in 2..=5u8 {
        // Frames at the same places as CPython's C pickler: 50 000 ints in a tuple is three frames.
        let ints = Tuple((0..50_000i64).collect());
        records.push(Record {
            name: "int tuple".into(),
            proto,
            check: "tuple(range(50000))".into(),
            data: ser::to_vec(&ints, proto).unwrap(),
            compare: 2,
        });
        // Payloads of 64 KiB or more are written outside frames.
        let mixed = Tuple(vec![
            Any::Int(1),
            Any::Str("x".repeat(70_000)),
            Any::Float(2.5),
            Any::Bytes(vec![b'y'; 70_000]),
            Any::Int(3),
        ]);
        records.push(Record {
            name: "large payloads".into(),
            proto,
            check: "(1, 'x' * 70000, 2.5, b'y' * 70000, 3)".into(),
            data: ser::to_vec(&mixed, proto).unwrap(),
            compare: if proto >= 3 { 2 } else { 0 },
        });
        // Batches of 1000, and the one-item last batch (MARK ... APPENDS as in C).
        for n in [0usize, 1, 2, 999, 1000, 1001, 2000, 2001] {
            let list: Vec<i64> = (0..n as i64).collect();
            records.push(Record {
                name: format!("list of {n}"),
                proto,
                check: format!("list(range({n}))"),
                data: ser::to_vec(&list, proto).unwrap(),
                compare: 1,
            });
            let map: BTreeMap<i64, i64> = (0..n as i64).map(|i| (i, -i)).collect();
            records.push(Record {
                name: format!("dict of {n}"),
                proto,
                check: format!("{{i: -i for i in range({n})}}"),
                data: ser::to_vec(&map, proto).unwrap(),
                compare: 1,
            });
        }
        // A long list of ints: many frames.
        let long: Vec<i64> = (0..100_000).map(|i| i * 7919 - 300_000).collect();
        records.push(Record {
            name: "long list".into(),
            proto,
            check: "[i * 7919 - 300000 for i in range(100000)]".into(),
            data: ser::to_vec(&long, proto).unwrap(),
            compare: 1,
        });
        // Integer edges.
        let ints: Vec<i128> = vec![
            0,
            255,
            256,
            65535,
            65536,
            -1,
            -128,
            -129,
            i32::MAX as i128,
            i32::MIN as i128,
            i32::MAX as i128 + 1,
            i32::MIN as i128 - 1,
            i64::MAX as i128,
            i64::MIN as i128,
            1 << 63,
            -(1 << 63) - 1,
            i128::MAX,
            i128::MIN,
        ];
        records.push(Record {
            name: "int edges".into(),
            proto,
            check:
                "[0, 255, 256, 65535, 65536, -1, -128, -129, 2**31 - 1, -2**31, 2**31, -2**31 - 1, \
                    2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**127 - 1, -2**127]"
                    .into(),
            data: ser::to_vec(&ints, proto).unwrap(),
            compare: 1,
        });
        let strs = vec!["a".repeat(255), "b".repeat(256), String::new()];
        records.push(Record {
            name: "str lengths".into(),
            proto,
            check: "['a' * 255, 'b' * 256, '']".into(),
            data: ser::to_vec(&strs, proto).unwrap(),
            compare: 1,
        });
    }
    check_serde(&records);
}

#[test]
fn small_pickles_are_byte_identical_to_cpython_without_its_memo() {
    // pickletools.optimize drops CPython's unused memo stores; what is left must be our bytes.
    let cases: Vec<(Vec<u8>, &str, u8)> = vec![
        (
            ser::to_vec(&(1u8, -2i32, "three", 4.5f64), 4).unwrap(),
            "(1, -2, 'three', 4.5)",
            4,
        ),
        (
            ser::to_vec(&vec![Some(1u8), None], 5).unwrap(),
            "[1, None]",
            5,
        ),
        (
            ser::to_vec(&BTreeMap::from([("k", vec![true])]), 3).unwrap(),
            "{'k': [True]}",
            3,
        ),
        (
            ser::to_vec(&(u64::MAX, i64::MIN), 2).unwrap(),
            "(2**64 - 1, -2**63)",
            2,
        ),
        (
            ser::to_vec(&Shape::Segment(1, "s".into()), 4).unwrap(),
            "{'Segment': (1, 's')}",
            4,
        ),
    ];
    let mut script = String::from("import pickle, pickletools, sys\nok = True\n");
    for (data, literal, proto) in &cases {
        script.push_str(&format!(
            "ours = bytes.fromhex('{}')\ntheirs = pickletools.optimize(pickle.dumps({literal}, {proto}))\n\
             if ours != theirs:\n    ok = False\n    print('DIFF', {literal:?}, ours, theirs)\n",
            data.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
    }
    script.push_str("print('checked 0' if ok else 'mismatch')\nsys.exit(0 if ok else 1)\n");
    run_python(&script, &[]);
}

#[test]
fn serde_output_never_names_a_global() {
    for proto in 2..=5 {
        let names = opcode_names(&ser::to_vec(&rich(), proto).unwrap());
        for code in [
            "GLOBAL",
            "STACK_GLOBAL",
            "REDUCE",
            "INST",
            "OBJ",
            "NEWOBJ",
            "NEWOBJ_EX",
            "BUILD",
        ] {
            assert!(
                !names.iter().any(|n| n == code),
                "{code} at protocol {proto}"
            );
        }
        assert_eq!(names.first().map(String::as_str), Some("PROTO"));
        assert_eq!(names.last().map(String::as_str), Some("STOP"));
    }
}

#[test]
fn serde_errors_are_clear() {
    let err = ser::to_vec(&1u8, 1).unwrap_err().to_string();
    assert!(err.contains("unsupported pickle protocol 1"), "{err}");
    let err = ser::to_vec(&1u8, 6).unwrap_err().to_string();
    assert!(err.contains("unsupported pickle protocol 6"), "{err}");
    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Key {
        Wrapped(u8),
    }
    let bad = BTreeMap::from([(Key::Wrapped(1), 1u8)]);
    let err = ser::to_vec(&bad, 4).unwrap_err().to_string();
    assert!(
        err.contains("\"Wrapped\"") && err.contains("dict key"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Value → pickle

fn str_(v: &mut Value, s: &str) -> Item {
    v.push(Object::Str(s.into()))
}

fn tuple(v: &mut Value, items: Vec<Item>) -> Item {
    v.push(Object::Tuple(items))
}

fn global(v: &mut Value, module: &str, name: &str) -> Item {
    v.push(Object::global(module, name))
}

fn id(item: Item) -> pypickle_core::ObjectId {
    match item {
        Item::Ref(id) => id,
        _ => panic!("not a reference"),
    }
}

fn big(s: &str) -> Object {
    Object::BigInt(Box::new(s.parse().unwrap()))
}

/// A named Value and the Python check that must hold for it; `min_proto` is the lowest
/// protocol it can be written with.
struct Case {
    name: &'static str,
    value: Value,
    check: &'static str,
    min_proto: u8,
    /// The lowest protocol from which reading the pickle back gives the same graph
    /// (`NEVER`: never, because the reader folds the call into plain data).
    exact_from: u8,
}

const NEVER: u8 = u8::MAX;

fn case(name: &'static str, check: &'static str, build: impl FnOnce(&mut Value) -> Item) -> Case {
    let mut value = Value::new();
    let root = build(&mut value);
    value.set_root(root);
    Case {
        name,
        value,
        check,
        min_proto: 0,
        exact_from: 0,
    }
}

fn value_cases() -> Vec<Case> {
    let mut cases = vec![
        case("scalars", "x == [None, True, False, 0, -1, 2**40, 1.5, 'é', b'\\x00\\xff', b'']", |v| {
            let s = str_(v, "é");
            let b = v.push(Object::Bytes(vec![0, 255]));
            let e = v.push(Object::Bytes(vec![]));
            v.push(Object::List(vec![
                Item::None,
                Item::Bool(true),
                Item::Bool(false),
                Item::Int(0),
                Item::Int(-1),
                Item::Int(1 << 40),
                Item::Float(1.5),
                s,
                b,
                e,
            ]))
        }),
        case("shared list", "x[0] is x[1] and x[0] == [1, 2] and type(x) is list", |v| {
            let a = v.push(Object::List(vec![Item::Int(1), Item::Int(2)]));
            v.push(Object::List(vec![a, a]))
        }),
        case("shared str and bigint", "x[0] is x[1] and x[2] is x[3] and x[2] == 2**100", |v| {
            let s = str_(v, "shared");
            let b = v.push(big("1267650600228229401496703205376"));
            v.push(Object::Tuple(vec![s, s, b, b]))
        }),
        case("self-referencing list", "x[0] is x and len(x) == 2 and x[1] == 'end'", |v| {
            let l = v.push(Object::List(vec![]));
            let end = str_(v, "end");
            *v.get_mut(id(l)) = Object::List(vec![l, end]);
            l
        }),
        case("self-referencing dict", "x['self'] is x and x[1] == 2", |v| {
            let d = v.push(Object::Dict(vec![].into()));
            let k = str_(v, "self");
            *v.get_mut(id(d)) = Object::Dict(vec![(k, d), (Item::Int(1), Item::Int(2))].into());
            d
        }),
        case("tuple in a cycle", "type(x) is tuple and x[0][0] is x and x[1] == 5", |v| {
            let l = v.push(Object::List(vec![]));
            let t = v.push(Object::Tuple(vec![l, Item::Int(5)]));
            *v.get_mut(id(l)) = Object::List(vec![t]);
            t
        }),
        case(
            "long tuple in a cycle, reached twice",
            "x[4] is x[5] and x[4][0] is x and x[5][1] is x and len(x) == 6",
            |v| {
                let a = v.push(Object::List(vec![]));
                let t = v.push(Object::Tuple(vec![Item::Int(1), Item::Int(2), Item::Int(3), Item::Int(4), a, a]));
                *v.get_mut(id(a)) = Object::List(vec![t, t]);
                t
            },
        ),
        case(
            "tuple reached through two lists",
            "x[0][0] is x and x[1][0] is x and type(x) is tuple",
            |v| {
                let a = v.push(Object::List(vec![]));
                let b = v.push(Object::List(vec![]));
                let t = v.push(Object::Tuple(vec![a, b]));
                *v.get_mut(id(a)) = Object::List(vec![t]);
                *v.get_mut(id(b)) = Object::List(vec![t]);
                t
            },
        ),
        case("sets", "x == [{1, 'a'}, frozenset({2, (3, 4)}), set(), frozenset()] and type(x[1]) is frozenset", |v| {
            let a = str_(v, "a");
            let s = v.push(Object::Set(vec![Item::Int(1), a]));
            let t = tuple(v, vec![Item::Int(3), Item::Int(4)]);
            let f = v.push(Object::FrozenSet(vec![Item::Int(2), t]));
            let es = v.push(Object::Set(vec![]));
            let ef = v.push(Object::FrozenSet(vec![]));
            v.push(Object::List(vec![s, f, es, ef]))
        }),
        case("shared frozenset", "x[0] is x[1] and x[0] == frozenset({1})", |v| {
            let f = v.push(Object::FrozenSet(vec![Item::Int(1)]));
            v.push(Object::List(vec![f, f]))
        }),
        case("big set", "x == set(range(2500))", |v| {
            v.push(Object::Set((0..2500).map(Item::Int).collect()))
        }),
        case(
            "complex, bytearray, big ints",
            "x == [complex(1.5, -2), bytearray(b'\\x00ab\\xff'), bytearray(), 2**64, -2**64 - 1, 2**2100, -(2**2100)] \
             and type(x[1]) is bytearray and type(x[2]) is bytearray",
            |v| {
                let c = v.push(Object::Complex { re: 1.5, im: -2.0 });
                let ba = v.push(Object::ByteArray(vec![0, b'a', b'b', 255]));
                let empty = v.push(Object::ByteArray(vec![]));
                let b1 = v.push(big("18446744073709551616"));
                let b2 = v.push(big("-18446744073709551617"));
                let huge = num_pow2(2100);
                let b3 = v.push(big(&huge));
                let b4 = v.push(big(&format!("-{huge}")));
                v.push(Object::List(vec![c, ba, empty, b1, b2, b3, b4]))
            },
        ),
        case(
            "OrderedDict by REDUCE + SETITEMS",
            "type(x) is collections.OrderedDict and list(x.items()) == [('b', 1), ('a', 2)]",
            |v| {
                let cls = global(v, "collections", "OrderedDict");
                let args = tuple(v, vec![]);
                let mut inst = Instance::new(CallKind::Reduce, cls, args, None);
                let b = str_(v, "b");
                let a = str_(v, "a");
                inst.dict_items = vec![(b, Item::Int(1)), (a, Item::Int(2))];
                v.push(Object::Instance(Box::new(inst)))
            },
        ),
        case("date by REDUCE with bytes", "x == datetime.date(2020, 1, 2)", |v| {
            let cls = global(v, "datetime", "date");
            let b = v.push(Object::Bytes(vec![0x07, 0xe4, 1, 2]));
            let args = tuple(v, vec![b]);
            v.push(Object::Instance(Box::new(Instance::new(CallKind::Reduce, cls, args, None))))
        }),
        case("Fraction by NEWOBJ", "x == fractions.Fraction(3, 4) and type(x) is fractions.Fraction", |v| {
            let cls = global(v, "fractions", "Fraction");
            let s = str_(v, "3/4");
            let args = tuple(v, vec![s]);
            v.push(Object::Instance(Box::new(Instance::new(CallKind::NewObj, cls, args, None))))
        }),
        case("Fraction by NEWOBJ_EX with kwargs", "x == fractions.Fraction(3, 4)", |v| {
            let cls = global(v, "fractions", "Fraction");
            let args = tuple(v, vec![]);
            let n = str_(v, "numerator");
            let d = str_(v, "denominator");
            let kw = v.push(Object::Dict(vec![(n, Item::Int(3)), (d, Item::Int(4))].into()));
            v.push(Object::Instance(Box::new(Instance::new(CallKind::NewObjEx, cls, args, Some(kw)))))
        }),
        case("Fraction by NEWOBJ_EX without kwargs", "x == fractions.Fraction(5)", |v| {
            let cls = global(v, "fractions", "Fraction");
            let args = tuple(v, vec![Item::Int(5)]);
            let kw = v.push(Object::Dict(vec![].into()));
            v.push(Object::Instance(Box::new(Instance::new(CallKind::NewObjEx, cls, args, Some(kw)))))
        }),
        case("date by INST", "x == datetime.date(2021, 3, 4)", |v| {
            let cls = global(v, "datetime", "date");
            let args = tuple(v, vec![Item::Int(2021), Item::Int(3), Item::Int(4)]);
            v.push(Object::Instance(Box::new(Instance::new(CallKind::Inst, cls, args, None))))
        }),
        case("date by OBJ", "x == datetime.date(2022, 5, 6)", |v| {
            let cls = global(v, "datetime", "date");
            let args = tuple(v, vec![Item::Int(2022), Item::Int(5), Item::Int(6)]);
            v.push(Object::Instance(Box::new(Instance::new(CallKind::Obj, cls, args, None))))
        }),
        case(
            "instance with two BUILD states",
            "type(x) is logging.Filter and x.name == 'f' and x.nlen == 1 and x.extra == [1]",
            |v| {
                let cls = global(v, "logging", "Filter");
                let args = tuple(v, vec![]);
                let mut inst = Instance::new(CallKind::NewObj, cls, args, None);
                let name = str_(v, "name");
                let f = str_(v, "f");
                let nlen = str_(v, "nlen");
                let s1 = v.push(Object::Dict(vec![(name, f), (nlen, Item::Int(1))].into()));
                let extra = str_(v, "extra");
                let l = v.push(Object::List(vec![Item::Int(1)]));
                let s2 = v.push(Object::Dict(vec![(extra, l)].into()));
                inst.state = vec![s1, s2];
                v.push(Object::Instance(Box::new(inst)))
            },
        ),
        case(
            "instance whose state refers to it",
            "x.me is x and x.others[0] is x",
            |v| {
                let cls = global(v, "logging", "Filter");
                let args = tuple(v, vec![]);
                let obj = v.push(Object::List(vec![])); // replaced below
                let me = str_(v, "me");
                let others = str_(v, "others");
                let l = v.push(Object::List(vec![obj]));
                let state = v.push(Object::Dict(vec![(me, obj), (others, l)].into()));
                let mut inst = Instance::new(CallKind::NewObj, cls, args, None);
                inst.state = vec![state];
                *v.get_mut(id(obj)) = Object::Instance(Box::new(inst));
                obj
            },
        ),
        case(
            "frozenset reached from its own member's state",
            "type(x) is frozenset and len(x) == 1 and next(iter(x)).back is x",
            |v| {
                let f = v.push(Object::FrozenSet(vec![]));
                let cls = global(v, "logging", "Filter");
                let args = tuple(v, vec![]);
                let back = str_(v, "back");
                let state = v.push(Object::Dict(vec![(back, f)].into()));
                let mut inst = Instance::new(CallKind::NewObj, cls, args, None);
                inst.state = vec![state];
                let i = v.push(Object::Instance(Box::new(inst)));
                *v.get_mut(id(f)) = Object::FrozenSet(vec![i]);
                f
            },
        ),
        case(
            "set reached from its own member's state",
            "type(x) is set and len(x) == 1 and next(iter(x)).back is x",
            |v| {
                let s = v.push(Object::Set(vec![]));
                let cls = global(v, "logging", "Filter");
                let args = tuple(v, vec![]);
                let back = str_(v, "back");
                let state = v.push(Object::Dict(vec![(back, s)].into()));
                let mut inst = Instance::new(CallKind::NewObj, cls, args, None);
                inst.state = vec![state];
                let i = v.push(Object::Instance(Box::new(inst)));
                *v.get_mut(id(s)) = Object::Set(vec![i]);
                s
            },
        ),
        case("list items on an instance", "type(x) is collections.UserList and x.data == [1, 2, 3]", |v| {
            let cls = global(v, "collections", "UserList");
            let args = tuple(v, vec![]);
            let mut inst = Instance::new(CallKind::Reduce, cls, args, None);
            inst.list_items = vec![Item::Int(1), Item::Int(2), Item::Int(3)];
            v.push(Object::Instance(Box::new(inst)))
        }),
        case("one list item on an instance", "x.data == ['only']", |v| {
            let cls = global(v, "collections", "UserList");
            let args = tuple(v, vec![]);
            let mut inst = Instance::new(CallKind::Reduce, cls, args, None);
            let s = str_(v, "only");
            inst.list_items = vec![s];
            v.push(Object::Instance(Box::new(inst)))
        }),
        case(
            "persistent ids, one shared",
            "x == [('P', 'storage0'), ('P', 'storage0'), ('P', 'other')] and x[0] is x[1]",
            |v| {
                let s = str_(v, "storage0");
                let p = v.push(Object::PersistentId(s));
                let o = str_(v, "other");
                let q = v.push(Object::PersistentId(o));
                v.push(Object::List(vec![p, p, q]))
            },
        ),
        case("globals", "x == [set, collections.OrderedDict, dbm.open, pickle.loads]", |v| {
            let a = global(v, "builtins", "set");
            let b = global(v, "collections", "OrderedDict");
            // Python 3's dbm is Python 2's anydbm: written so below protocol 3.
            let c = global(v, "dbm", "open");
            let d = global(v, "_pickle", "loads");
            v.push(Object::List(vec![a, b, c, d]))
        }),
        case("dotted global", "x == collections.OrderedDict.fromkeys", |v| {
            global(v, "collections", "OrderedDict.fromkeys")
        }),
        case("deep list", "depth(x) == 100000", |v| {
            let mut inner = v.push(Object::List(vec![]));
            for _ in 1..100_000 {
                inner = v.push(Object::List(vec![inner]));
            }
            inner
        }),
        case("deep tuple", "tdepth(x) == 100000", |v| {
            let mut inner = v.push(Object::Tuple(vec![]));
            for _ in 0..100_000 {
                inner = v.push(Object::Tuple(vec![inner]));
            }
            inner
        }),
        case("long str and bytes", "x == ['s' * 70000, b'b' * 300000, 'short']", |v| {
            let s = str_(v, &"s".repeat(70_000));
            let b = v.push(Object::Bytes(vec![b'b'; 300_000]));
            let short = str_(v, "short");
            v.push(Object::List(vec![s, b, short]))
        }),
        case("many shared objects (LONG_BINPUT)", "len(x) == 600 and all(x[i] is x[i + 300] for i in range(300))", |v| {
            let items: Vec<Item> = (0..300).map(|i| str_(v, &format!("s{i}"))).collect();
            let mut all = items.clone();
            all.extend(items);
            v.push(Object::List(all))
        }),
    ];
    let mut ext = case(
        "extensions",
        "x == [collections.OrderedDict, collections.deque, collections.Counter]",
        |v| {
            let a = v.push(Object::Extension(240));
            let b = v.push(Object::Extension(300));
            let c = v.push(Object::Extension(70000));
            v.push(Object::List(vec![a, b, c]))
        },
    );
    ext.min_proto = 2;
    cases.push(ext);
    let mut buffers = case(
        "out-of-band buffers",
        "x[0] == b'abc' and x[1] == bytearray(b'def') and x[0] is x[2]",
        |v| {
            let a = v.push(Object::Buffer {
                index: 0,
                readonly: true,
            });
            let b = v.push(Object::Buffer {
                index: 1,
                readonly: false,
            });
            v.push(Object::List(vec![a, b, a]))
        },
    );
    buffers.min_proto = 5;
    cases.push(buffers);
    let mut set_items = case("set items on an instance (ADDITEMS)", "x == {1, 2}", |v| {
        let cls = global(v, "builtins", "set");
        let args = tuple(v, vec![]);
        let mut inst = Instance::new(CallKind::Reduce, cls, args, None);
        inst.set_items = vec![Item::Int(1), Item::Int(2)];
        v.push(Object::Instance(Box::new(inst)))
    });
    set_items.min_proto = 4;
    cases.push(set_items);
    for c in &mut cases {
        c.exact_from = match c.name {
            // Below protocol 2 NEWOBJ is written as a call of copyreg.__newobj__.
            "Fraction by NEWOBJ"
            | "instance with two BUILD states"
            | "instance whose state refers to it"
            | "frozenset reached from its own member's state"
            | "set reached from its own member's state" => 2,
            // Below protocol 4 NEWOBJ_EX is NEWOBJ, or a call of copyreg.__newobj_ex__.
            "Fraction by NEWOBJ_EX with kwargs" | "Fraction by NEWOBJ_EX without kwargs" => 4,
            // Below protocol 4 a dotted name is a getattr call.
            "dotted global" => 4,
            // The reader folds `OrderedDict()` and `set()` calls into a dict and a set.
            "OrderedDict by REDUCE + SETITEMS" | "set items on an instance (ADDITEMS)" => NEVER,
            _ => 0,
        };
    }
    cases
}

/// Whether two graphs are the same from their roots: the same objects, scalars and sharing
/// (a bijection between the reachable objects), whatever their order in the arenas.
fn same_graph(a: &Value, b: &Value) -> Result<(), String> {
    use std::collections::HashMap;
    // Paths are kept as breadcrumbs (parent, step) and spelled out only for a difference.
    let mut crumbs: Vec<(usize, &'static str, usize)> = vec![(usize::MAX, "root", 0)];
    let path = |crumbs: &[(usize, &'static str, usize)], mut at: usize| {
        let mut steps = Vec::new();
        while at != usize::MAX {
            let (parent, what, i) = crumbs[at];
            steps.push(format!("{what}[{i}]"));
            at = parent;
        }
        steps.reverse();
        steps.join(".")
    };
    let mut a_to_b: HashMap<u32, u32> = HashMap::new();
    let mut b_to_a: HashMap<u32, u32> = HashMap::new();
    let mut todo = vec![(a.root(), b.root(), 0usize)];
    let same_float = |x: f64, y: f64| x.to_bits() == y.to_bits();
    while let Some((x, y, at)) = todo.pop() {
        let (ix, iy) = match (x, y) {
            (Item::None, Item::None) => continue,
            (Item::Bool(p), Item::Bool(q)) if p == q => continue,
            (Item::Int(p), Item::Int(q)) if p == q => continue,
            (Item::Float(p), Item::Float(q)) if same_float(p, q) => continue,
            (Item::Ref(ix), Item::Ref(iy)) => (ix, iy),
            _ => return Err(format!("{}: {x:?} vs {y:?}", path(&crumbs, at))),
        };
        match (a_to_b.get(&ix.0), b_to_a.get(&iy.0)) {
            (Some(&m), _) if m == iy.0 => continue,
            (None, None) => {
                a_to_b.insert(ix.0, iy.0);
                b_to_a.insert(iy.0, ix.0);
            }
            _ => return Err(format!("{}: sharing differs", path(&crumbs, at))),
        }
        let (ox, oy) = (a.get(ix), b.get(iy));
        let mut push = |m: Item, n: Item, what: &'static str, i: usize| {
            crumbs.push((at, what, i));
            todo.push((m, n, crumbs.len() - 1));
        };
        match (ox, oy) {
            (Object::BigInt(p), Object::BigInt(q)) if p == q => {}
            (Object::Complex { re: r1, im: i1 }, Object::Complex { re: r2, im: i2 })
                if same_float(*r1, *r2) && same_float(*i1, *i2) => {}
            (Object::Str(p), Object::Str(q)) if p == q => {}
            (Object::Bytes(p), Object::Bytes(q)) | (Object::ByteArray(p), Object::ByteArray(q))
                if p == q => {}
            (Object::List(p), Object::List(q))
            | (Object::Tuple(p), Object::Tuple(q))
            | (Object::Set(p), Object::Set(q))
            | (Object::FrozenSet(p), Object::FrozenSet(q))
                if p.len() == q.len() =>
            {
                for (i, (m, n)) in p.iter().zip(q).enumerate() {
                    push(*m, *n, "item", i);
                }
            }
            (Object::Dict(p), Object::Dict(q)) if p.len() == q.len() => {
                for (i, (m, n)) in p.iter().zip(q).enumerate() {
                    push(m.0, n.0, "key", i);
                    push(m.1, n.1, "value", i);
                }
            }
            (Object::Global(p), Object::Global(q)) if p == q => {}
            (Object::Extension(p), Object::Extension(q)) if p == q => {}
            (Object::PersistentId(p), Object::PersistentId(q)) => push(*p, *q, "pid", 0),
            (
                Object::Buffer {
                    index: i1,
                    readonly: r1,
                },
                Object::Buffer {
                    index: i2,
                    readonly: r2,
                },
            ) if i1 == i2 && r1 == r2 => {}
            (Object::Instance(p), Object::Instance(q))
                if p.kind == q.kind
                    && p.kwargs.is_some() == q.kwargs.is_some()
                    && p.state.len() == q.state.len()
                    && p.list_items.len() == q.list_items.len()
                    && p.dict_items.len() == q.dict_items.len()
                    && p.set_items.len() == q.set_items.len() =>
            {
                push(p.callable, q.callable, "callable", 0);
                push(p.args, q.args, "args", 0);
                if let (Some(k1), Some(k2)) = (p.kwargs, q.kwargs) {
                    push(k1, k2, "kwargs", 0);
                }
                for (i, (m, n)) in p.state.iter().zip(&q.state).enumerate() {
                    push(*m, *n, "state", i);
                }
                for (i, (m, n)) in p.list_items.iter().zip(&q.list_items).enumerate() {
                    push(*m, *n, "list_item", i);
                }
                for (i, (m, n)) in p.dict_items.iter().zip(&q.dict_items).enumerate() {
                    push(m.0, n.0, "dict_key", i);
                    push(m.1, n.1, "dict_value", i);
                }
                for (i, (m, n)) in p.set_items.iter().zip(&q.set_items).enumerate() {
                    push(*m, *n, "set_item", i);
                }
            }
            _ => {
                let short = |o: &Object| format!("{o:?}").chars().take(200).collect::<String>();
                return Err(format!(
                    "{}: {} vs {}",
                    path(&crumbs, at),
                    short(ox),
                    short(oy)
                ));
            }
        }
    }
    Ok(())
}

/// 2**n in decimal, without a bignum crate.
fn num_pow2(n: u32) -> String {
    let mut digits = vec![1u32]; // little-endian base 10
    for _ in 0..n {
        let mut carry = 0;
        for d in digits.iter_mut() {
            let x = *d * 2 + carry;
            *d = x % 10;
            carry = x / 10;
        }
        if carry > 0 {
            digits.push(carry);
        }
    }
    digits
        .iter()
        .rev()
        .map(|d| char::from(b'0' + *d as u8))
        .collect()
}

const PY_DEPTH: &str = r#"
def depth(x):
    d = 0
    while x:
        x = x[0]
        d += 1
    return d + 1

def tdepth(x):
    d = 0
    while x:
        x = x[0]
        d += 1
    return d
"#;

#[test]
fn values_load_in_cpython_at_every_protocol() {
    let cases = value_cases();
    let mut records = Vec::new();
    for proto in 0..=5u8 {
        for c in &cases {
            if std::env::var_os("WRITERS_DEBUG").is_some() {
                eprintln!("{} at protocol {proto}", c.name);
            }
            let result = write_value(&c.value, proto);
            if proto < c.min_proto {
                let err = result.expect_err(c.name).to_string();
                assert!(err.contains("protocol"), "{}: {err}", c.name);
                continue;
            }
            let data = result.unwrap_or_else(|e| panic!("{} at protocol {proto}: {e}", c.name));
            if let Some(dir) = std::env::var_os("WRITERS_DUMP") {
                let file = format!("{}_{proto}.pkl", c.name.replace(' ', "_"));
                std::fs::write(std::path::Path::new(&dir).join(file), &data).unwrap();
            }
            records.push(Record {
                name: c.name.into(),
                proto,
                check: c.check.into(),
                data,
                compare: 0,
            });
        }
    }
    run_python(&format!("{PY_COMMON}{PY_DEPTH}{PY_VALUE}"), &records);
}

#[test]
fn value_writer_uses_cpython_opcodes() {
    // A shared list at protocol 4 is memoized with MEMOIZE and fetched with BINGET; at 2 BINPUT.
    let mut v = Value::new();
    let a = v.push(Object::List(vec![Item::Int(1)]));
    let root = v.push(Object::List(vec![a, a]));
    v.set_root(root);
    assert_eq!(
        write_value(&v, 4).unwrap(),
        b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00](]\x94K\x01ah\x00e."
    );
    assert_eq!(
        write_value(&v, 2).unwrap(),
        b"\x80\x02](]q\x00K\x01ah\x00e."
    );
    // A set below protocol 4 is builtins.set([...]); at 4 EMPTY_SET + ADDITEMS.
    let mut v = Value::new();
    let s = v.push(Object::Set(vec![Item::Int(1)]));
    v.set_root(s);
    assert_eq!(
        write_value(&v, 3).unwrap(),
        b"\x80\x03cbuiltins\nset\n]K\x01a\x85R."
    );
    assert_eq!(
        write_value(&v, 4).unwrap(),
        b"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00\x8f(K\x01\x90."
    );
    // Globals: STACK_GLOBAL at 4.
    let names = opcode_names(&write_value(&v, 4).unwrap());
    assert!(!names.contains(&"STACK_GLOBAL".to_string()));
    let mut g = Value::new();
    let r = global(&mut g, "collections", "OrderedDict");
    g.set_root(r);
    assert!(opcode_names(&write_value(&g, 4).unwrap()).contains(&"STACK_GLOBAL".to_string()));
    assert!(opcode_names(&write_value(&g, 3).unwrap()).contains(&"GLOBAL".to_string()));
}

#[test]
fn value_writer_refuses_what_python_cannot_build() {
    // A tuple containing itself.
    let mut v = Value::new();
    let t = v.push(Object::Tuple(vec![]));
    *v.get_mut(id(t)) = Object::Tuple(vec![t]);
    v.set_root(t);
    let err = write_value(&v, 4).unwrap_err().to_string();
    assert!(err.contains("tuple is needed to build itself"), "{err}");
    // A call whose arguments hold its result.
    let mut v = Value::new();
    let inst = v.push(Object::List(vec![]));
    let cls = global(&mut v, "collections", "OrderedDict");
    let args = tuple(&mut v, vec![inst]);
    *v.get_mut(id(inst)) =
        Object::Instance(Box::new(Instance::new(CallKind::Reduce, cls, args, None)));
    v.set_root(inst);
    let err = write_value(&v, 2).unwrap_err().to_string();
    assert!(err.contains("needed to build itself"), "{err}");
    // Buffers out of order, and below protocol 5.
    let mut v = Value::new();
    let b = v.push(Object::Buffer {
        index: 1,
        readonly: false,
    });
    v.set_root(b);
    assert!(write_value(&v, 5)
        .unwrap_err()
        .to_string()
        .contains("index order"));
    assert!(write_value(&v, 4)
        .unwrap_err()
        .to_string()
        .contains("protocol 5"));
    // Protocol 6.
    assert!(write_value(&Value::new(), 6)
        .unwrap_err()
        .to_string()
        .contains("unsupported pickle protocol 6"));
    // A dangling reference.
    let mut v = Value::new();
    let l = v.push(Object::List(vec![Item::Ref(pypickle_core::ObjectId(7))]));
    v.set_root(l);
    assert!(write_value(&v, 4)
        .unwrap_err()
        .to_string()
        .contains("outside its arena"));
}

#[test]
fn value_writer_appends_and_leaves_output_alone_on_error() {
    let mut v = Value::new();
    let s = str_(&mut v, "x");
    v.set_root(s);
    let mut out = b"prefix".to_vec();
    pypickle_pickle::write::write_value_into(&v, 4, &mut out).unwrap();
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(&out[6..], &write_value(&v, 4).unwrap()[..]);
    let mut bad = Value::new();
    let b = bad.push(Object::Buffer {
        index: 0,
        readonly: false,
    });
    bad.set_root(b);
    let mut out = b"prefix".to_vec();
    assert!(pypickle_pickle::write::write_value_into(&bad, 4, &mut out).is_err());
    assert_eq!(out, b"prefix");
}

#[test]
fn values_read_back_as_the_same_graph() {
    // The crate's own reader loads what the writer wrote into the same graph (sharing and
    // cycles included), except where the writer must spell an object as a call (see
    // `exact_from`).
    let limits = pypickle_pickle::Limits {
        max_depth: 1_000_000,
        ..pypickle_pickle::Limits::default()
    };
    let mut checked = 0;
    for c in value_cases() {
        for proto in c.min_proto.max(c.exact_from)..=5 {
            if c.exact_from == NEVER {
                break;
            }
            let data = write_value(&c.value, proto).unwrap();
            let loaded = pypickle_pickle::load(&data, &limits);
            assert!(
                loaded.error.is_none(),
                "{} at protocol {proto}: {:?}",
                c.name,
                loaded.error
            );
            assert_eq!(loaded.roots.len(), 1, "{} at protocol {proto}", c.name);
            if let Err(diff) = same_graph(&c.value, &loaded.value) {
                panic!(
                    "{} at protocol {proto} reads back differently: {diff}",
                    c.name
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} round trips checked");
}

#[test]
fn serde_pickles_read_back_through_the_value_deserializer() {
    // serde -> pickle -> reader -> Value -> serde: the writer's mapping and core::de's agree.
    #[derive(Deserialize, Debug)]
    struct Back {
        name: String,
        max: u64,
        min: i64,
        wide_min: i128,
        wide_max: u128,
        nan: f64,
        neg_zero: f64,
        missing: Option<i32>,
        present: Option<String>,
        unit_struct: UnitStruct,
        newtype: Meters,
        triple: (u8, String, bool),
        nothing: [u8; 0],
        point: Point,
        nested: Vec<Vec<i16>>,
        scores: BTreeMap<String, i64>,
        by_id: BTreeMap<i32, String>,
        by_pair: BTreeMap<(u8, u8), bool>,
        shapes: Vec<Shape>,
        #[serde(with = "as_bytes")]
        blob: Vec<u8>,
        raw: Vec<u8>,
        initial: char,
        many: Vec<u16>,
        table: BTreeMap<u32, u32>,
    }
    let r = rich();
    for proto in 2..=5 {
        let data = ser::to_vec(&r, proto).unwrap();
        let loaded = pypickle_pickle::load(&data, &pypickle_pickle::Limits::default());
        assert!(loaded.error.is_none(), "{:?}", loaded.error);
        let back: Back = pypickle_core::de::from_value(&loaded.value).unwrap();
        assert_eq!(back.name, r.name);
        assert_eq!(
            (back.max, back.min, back.wide_min, back.wide_max),
            (r.max, r.min, r.wide_min, r.wide_max)
        );
        assert!(back.nan.is_nan());
        assert_eq!(back.neg_zero.to_bits(), (-0.0f64).to_bits());
        assert_eq!((back.missing, back.present), (r.missing, r.present.clone()));
        assert_eq!(
            (back.unit_struct, back.newtype, back.nothing),
            (UnitStruct, Meters(2.5), [])
        );
        assert_eq!(back.triple, r.triple);
        assert_eq!(back.point, r.point);
        assert_eq!(back.nested, r.nested);
        assert_eq!(back.scores, r.scores);
        assert_eq!(back.by_id, r.by_id);
        assert_eq!(back.by_pair, r.by_pair);
        assert_eq!(back.shapes, r.shapes);
        assert_eq!(back.blob, r.blob);
        assert_eq!(back.raw, r.raw);
        assert_eq!(back.initial, r.initial);
        assert_eq!(back.many, r.many);
        assert_eq!(back.table, r.table);
    }
}

#[test]
fn same_graph_sees_sharing_and_contents() {
    let mut shared = Value::new();
    let a = shared.push(Object::List(vec![Item::Int(1)]));
    let root = shared.push(Object::List(vec![a, a]));
    shared.set_root(root);
    let mut copies = Value::new();
    let a = copies.push(Object::List(vec![Item::Int(1)]));
    let b = copies.push(Object::List(vec![Item::Int(1)]));
    let root = copies.push(Object::List(vec![a, b]));
    copies.set_root(root);
    assert!(same_graph(&shared, &shared).is_ok());
    assert!(same_graph(&shared, &copies).is_err());
    assert!(same_graph(&copies, &shared).is_err());
    let mut other = Value::new();
    let a = other.push(Object::List(vec![Item::Int(2)]));
    let root = other.push(Object::List(vec![a, a]));
    other.set_root(root);
    assert!(same_graph(&shared, &other).is_err());
}

/// `write_value_to` hands whole frames on as it goes and writes what `write_value` writes, at
/// every protocol, for a value of several MiB with shared objects (memo GETs across the pieces)
/// and a payload larger than a frame.
#[test]
fn streamed_values_are_the_bytes_written_whole() {
    struct Pieces(Vec<Vec<u8>>);
    impl std::io::Write for Pieces {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut value = Value::new();
    let shared = value.push(Object::Str("shared".into()));
    let big = value.push(Object::Bytes(vec![7; 200_000]));
    let mut items = Vec::new();
    for i in 0..120_000i64 {
        let text = value.push(Object::Str(format!("row {i}").into()));
        items.push(value.push(Object::Tuple(vec![Item::Int(i), text, shared])));
    }
    items.push(big);
    let root = value.push(Object::List(items));
    value.set_root(root);
    for protocol in 0..=5 {
        let whole = write_value(&value, protocol).unwrap();
        let mut pieces = Pieces(Vec::new());
        let n = pypickle_pickle::write::write_value_to(&value, protocol, &mut pieces).unwrap();
        assert!(
            pieces.0.len() >= 3,
            "protocol {protocol}: {} pieces",
            pieces.0.len()
        );
        let joined = pieces.0.concat();
        assert_eq!(n as usize, joined.len());
        assert!(joined == whole, "protocol {protocol}");
    }
}
