//! `from_value` / `de::Deserializer`: Python object graphs into Rust data, and the errors for
//! what is not data (instances, globals, cycles, out-of-range ints, too deep or too big).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use num_bigint::BigInt;
use pypickle_core::de::{from_value, Deserializer, DEFAULT_MAX_DEPTH};
use pypickle_core::{CallKind, Instance, Item, Object, ObjectId, Value};
use serde::de::Visitor;
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// Building values

struct B {
    v: Value,
}

impl B {
    fn new() -> Self {
        B { v: Value::new() }
    }
    fn s(&mut self, s: &str) -> Item {
        self.v.push(Object::Str(s.into()))
    }
    fn big(&mut self, s: &str) -> Item {
        self.v
            .push(Object::BigInt(Box::new(s.parse::<BigInt>().unwrap())))
    }
    fn list(&mut self, items: Vec<Item>) -> Item {
        self.v.push(Object::List(items))
    }
    fn tuple(&mut self, items: Vec<Item>) -> Item {
        self.v.push(Object::Tuple(items))
    }
    fn bytes(&mut self, b: &[u8]) -> Item {
        self.v.push(Object::Bytes(b.to_vec()))
    }
    fn dict(&mut self, pairs: Vec<(Item, Item)>) -> Item {
        self.v.push(Object::Dict(pairs.into()))
    }
    /// A dict with str keys.
    fn obj(&mut self, fields: Vec<(&str, Item)>) -> Item {
        let pairs = fields.into_iter().map(|(k, v)| (self.s(k), v)).collect();
        self.dict(pairs)
    }
    fn global(&mut self, module: &str, name: &str) -> Item {
        self.v.push(Object::global(module, name))
    }
    fn done(mut self, root: Item) -> Value {
        self.v.set_root(root);
        self.v
    }
}

fn id(item: Item) -> ObjectId {
    match item {
        Item::Ref(id) => id,
        _ => panic!("not a reference"),
    }
}

fn err<T: serde::de::DeserializeOwned + std::fmt::Debug>(v: &Value) -> String {
    from_value::<T>(v)
        .expect_err("expected an error")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// The rich struct

mod as_bytes {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
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

#[derive(Deserialize, Debug, PartialEq)]
struct UnitStruct;

#[derive(Deserialize, Debug, PartialEq)]
struct Meters(f64);

#[derive(Deserialize, Debug, PartialEq)]
struct Point(i32, i32);

#[derive(Deserialize, Debug, PartialEq)]
enum Shape {
    Empty,
    Circle(f64),
    Segment(i32, String),
    Rect { width: u8, flags: Vec<bool> },
}

#[derive(Deserialize, Debug)]
struct Rich {
    name: String,
    max: u64,
    min: i64,
    wide_min: i128,
    wide_max: u128,
    small: i8,
    as_float: f64,
    single: f32,
    nan: f64,
    inf: f64,
    yes: bool,
    missing: Option<i32>,
    present: Option<String>,
    unit: (),
    unit_struct: UnitStruct,
    newtype: Meters,
    triple: (u8, String, bool),
    from_list: (u8, u8),
    point: Point,
    nested: Vec<Vec<i16>>,
    scores: BTreeMap<String, i64>,
    by_id: BTreeMap<i32, String>,
    by_pair: BTreeMap<(u8, u8), bool>,
    shapes: Vec<Shape>,
    #[serde(deserialize_with = "as_bytes::deserialize")]
    blob: Vec<u8>,
    bytes_as_vec: Vec<u8>,
    bytearray_as_vec: Vec<u8>,
    initial: char,
    tags: HashSet<String>,
    frozen: BTreeSet<i64>,
    ordered: BTreeMap<String, u8>,
}

fn rich_value() -> Value {
    let mut b = B::new();
    let name = b.s("héllo ✓ 😀");
    let max = b.big("18446744073709551615");
    let wide_min = b.big("-170141183460469231731687303715884105728");
    let wide_max = b.big("340282366920938463463374607431768211455");
    let present = b.s("here");
    let seven = b.s("seven");
    let triple = b.tuple(vec![Item::Int(7), seven, Item::Bool(true)]);
    let from_list = b.list(vec![Item::Int(1), Item::Int(2)]);
    let point = b.tuple(vec![Item::Int(-3), Item::Int(4)]);
    let n1 = b.list(vec![Item::Int(1), Item::Int(-1)]);
    let n2 = b.list(vec![]);
    let nested = b.list(vec![n1, n2]);
    let scores = b.obj(vec![("alice", Item::Int(10)), ("bob", Item::Int(-2))]);
    let one = b.s("one");
    let by_id = b.dict(vec![(Item::Int(1), one)]);
    let k1 = b.tuple(vec![Item::Int(1), Item::Int(2)]);
    let by_pair = b.dict(vec![(k1, Item::Bool(true))]);
    let empty = b.s("Empty");
    let circle = b.obj(vec![("Circle", Item::Float(0.5))]);
    let seg_s = b.s("segment");
    let seg_t = b.tuple(vec![Item::Int(-9), seg_s]);
    let segment = b.obj(vec![("Segment", seg_t)]);
    let flags = b.list(vec![Item::Bool(true), Item::Bool(false)]);
    let rect_fields = b.obj(vec![("width", Item::Int(3)), ("flags", flags)]);
    let rect = b.obj(vec![("Rect", rect_fields)]);
    let shapes = b.list(vec![empty, circle, segment, rect]);
    let blob = b.bytes(b"\x00\x01\xfe\xff");
    let bytes_as_vec = b.bytes(b"abc");
    let bytearray_as_vec = b.v.push(Object::ByteArray(b"de".to_vec()));
    let initial = b.s("é");
    let t1 = b.s("x");
    let t2 = b.s("y");
    let tags = b.v.push(Object::Set(vec![t1, t2]));
    let frozen =
        b.v.push(Object::FrozenSet(vec![Item::Int(3), Item::Int(1)]));
    let od_cls = b.global("collections", "OrderedDict");
    let od_args = b.tuple(vec![]);
    let mut od = Instance::new(CallKind::Reduce, od_cls, od_args, None);
    let ka = b.s("a");
    od.dict_items = vec![(ka, Item::Int(1))];
    let ordered = b.v.push(Object::Instance(Box::new(od)));
    let root = b.obj(vec![
        ("name", name),
        ("max", max),
        ("min", Item::Int(i64::MIN)),
        ("wide_min", wide_min),
        ("wide_max", wide_max),
        ("small", Item::Int(-5)),
        ("as_float", Item::Int(3)),
        ("single", Item::Float(1.5)),
        ("nan", Item::Float(f64::NAN)),
        ("inf", Item::Float(f64::INFINITY)),
        ("yes", Item::Bool(true)),
        ("missing", Item::None),
        ("present", present),
        ("unit", Item::None),
        ("unit_struct", Item::None),
        ("newtype", Item::Float(2.5)),
        ("triple", triple),
        ("from_list", from_list),
        ("point", point),
        ("nested", nested),
        ("scores", scores),
        ("by_id", by_id),
        ("by_pair", by_pair),
        ("shapes", shapes),
        ("blob", blob),
        ("bytes_as_vec", bytes_as_vec),
        ("bytearray_as_vec", bytearray_as_vec),
        ("initial", initial),
        ("tags", tags),
        ("frozen", frozen),
        ("ordered", ordered),
        ("ignored_extra_field", Item::Int(1)),
    ]);
    b.done(root)
}

#[test]
fn rich_struct_from_a_hand_built_value() {
    let r: Rich = from_value(&rich_value()).unwrap();
    assert_eq!(r.name, "héllo ✓ 😀");
    assert_eq!(r.max, u64::MAX);
    assert_eq!(r.min, i64::MIN);
    assert_eq!(r.wide_min, i128::MIN);
    assert_eq!(r.wide_max, u128::MAX);
    assert_eq!(r.small, -5);
    assert_eq!(r.as_float, 3.0);
    assert_eq!(r.single, 1.5);
    assert!(r.nan.is_nan());
    assert_eq!(r.inf, f64::INFINITY);
    assert!(r.yes);
    assert_eq!(r.missing, None);
    assert_eq!(r.present.as_deref(), Some("here"));
    let () = r.unit;
    assert_eq!(r.unit_struct, UnitStruct);
    assert_eq!(r.newtype, Meters(2.5));
    assert_eq!(r.triple, (7, "seven".to_string(), true));
    assert_eq!(r.from_list, (1, 2));
    assert_eq!(r.point, Point(-3, 4));
    assert_eq!(r.nested, vec![vec![1, -1], vec![]]);
    assert_eq!(
        r.scores,
        BTreeMap::from([("alice".into(), 10), ("bob".into(), -2)])
    );
    assert_eq!(r.by_id, BTreeMap::from([(1, "one".into())]));
    assert_eq!(r.by_pair, BTreeMap::from([((1, 2), true)]));
    assert_eq!(
        r.shapes,
        vec![
            Shape::Empty,
            Shape::Circle(0.5),
            Shape::Segment(-9, "segment".into()),
            Shape::Rect {
                width: 3,
                flags: vec![true, false]
            }
        ]
    );
    assert_eq!(r.blob, b"\x00\x01\xfe\xff");
    assert_eq!(r.bytes_as_vec, b"abc");
    assert_eq!(r.bytearray_as_vec, b"de");
    assert_eq!(r.initial, 'é');
    assert_eq!(r.tags, HashSet::from(["x".to_string(), "y".to_string()]));
    assert_eq!(r.frozen, BTreeSet::from([1, 3]));
    assert_eq!(r.ordered, BTreeMap::from([("a".to_string(), 1)]));
}

#[test]
fn strs_can_be_borrowed_from_the_value() {
    #[derive(Deserialize)]
    struct Borrowed<'a> {
        #[serde(borrow)]
        name: &'a str,
        #[serde(borrow)]
        data: &'a [u8],
    }
    let mut b = B::new();
    let n = b.s("borrowed");
    let d = b.bytes(b"raw");
    let root = b.obj(vec![("name", n), ("data", d)]);
    let v = b.done(root);
    let out = Borrowed::deserialize(Deserializer::new(&v)).unwrap();
    assert_eq!(out.name, "borrowed");
    assert_eq!(out.data, b"raw");
}

/// Records what `deserialize_any` visits.
#[derive(Debug, PartialEq)]
enum Dyn {
    Unit,
    Bool(bool),
    I64(i64),
    I128(i128),
    U128(u128),
    F64(f64),
    Str(String),
    Bytes(Vec<u8>),
    Seq(Vec<Dyn>),
    Map(Vec<(Dyn, Dyn)>),
}

impl<'de> Deserialize<'de> for Dyn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dyn, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dyn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_unit<E>(self) -> Result<Dyn, E> {
                Ok(Dyn::Unit)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Dyn, E> {
                Ok(Dyn::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Dyn, E> {
                Ok(Dyn::I64(v))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Dyn, E> {
                Ok(Dyn::I128(v))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Dyn, E> {
                Ok(Dyn::U128(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Dyn, E> {
                Ok(Dyn::F64(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Dyn, E> {
                Ok(Dyn::Str(v.into()))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Dyn, E> {
                Ok(Dyn::Bytes(v.into()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Dyn, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = a.next_element()? {
                    out.push(x);
                }
                Ok(Dyn::Seq(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Dyn, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = a.next_entry()? {
                    out.push(kv);
                }
                Ok(Dyn::Map(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[test]
fn deserialize_any_visits_the_natural_type() {
    let mut b = B::new();
    let s = b.s("s");
    let by = b.bytes(b"b");
    let ba = b.v.push(Object::ByteArray(b"a".to_vec()));
    let i128 = b.big("-100000000000000000000");
    let u128 = b.big("340282366920938463463374607431768211455");
    let t = b.tuple(vec![Item::Int(1)]);
    let set = b.v.push(Object::Set(vec![Item::Int(2)]));
    let fs = b.v.push(Object::FrozenSet(vec![Item::Int(3)]));
    let d = b.dict(vec![(Item::Int(1), Item::None)]);
    let root = b.list(vec![
        Item::None,
        Item::Bool(false),
        Item::Int(-7),
        Item::Float(0.25),
        s,
        by,
        ba,
        i128,
        u128,
        t,
        set,
        fs,
        d,
    ]);
    let v = b.done(root);
    let got: Dyn = from_value(&v).unwrap();
    assert_eq!(
        got,
        Dyn::Seq(vec![
            Dyn::Unit,
            Dyn::Bool(false),
            Dyn::I64(-7),
            Dyn::F64(0.25),
            Dyn::Str("s".into()),
            Dyn::Bytes(b"b".to_vec()),
            Dyn::Bytes(b"a".to_vec()),
            Dyn::I128(-100_000_000_000_000_000_000),
            Dyn::U128(u128::MAX),
            Dyn::Seq(vec![Dyn::I64(1)]),
            Dyn::Seq(vec![Dyn::I64(2)]),
            Dyn::Seq(vec![Dyn::I64(3)]),
            Dyn::Map(vec![(Dyn::I64(1), Dyn::Unit)]),
        ])
    );
    // Wider than 128 bits.
    let mut b = B::new();
    let huge = b.big(&format!("1{}", "0".repeat(50)));
    let v = b.done(huge);
    let e = err::<Dyn>(&v);
    assert!(e.contains("does not fit in 128 bits"), "{e}");
}

#[test]
fn shared_references_are_copied() {
    let mut b = B::new();
    let inner = b.list(vec![Item::Int(1), Item::Int(2)]);
    let root = b.list(vec![inner, inner, inner]);
    let v = b.done(root);
    let got: Vec<Vec<u8>> = from_value(&v).unwrap();
    assert_eq!(got, vec![vec![1, 2]; 3]);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Config {
    model: BTreeMap<String, f64>,
}

#[test]
fn an_instance_where_data_is_expected_names_its_class() {
    let mut b = B::new();
    let cls = b.global("sklearn.linear_model._logistic", "LogisticRegression");
    let args = b.tuple(vec![]);
    let inst = b.v.push(Object::Instance(Box::new(Instance::new(
        CallKind::NewObj,
        cls,
        args,
        None,
    ))));
    let root = b.obj(vec![("model", inst)]);
    let v = b.done(root);
    let e = err::<Config>(&v);
    assert_eq!(
        e,
        "cannot decode pickle: at .model: expected a map, found an instance of \
         sklearn.linear_model._logistic.LogisticRegression"
    );

    // The same class behind copyreg._reconstructor (protocols 0 and 1).
    let mut b = B::new();
    let rec = b.global("copyreg", "_reconstructor");
    let cls = b.global("sklearn.linear_model._logistic", "LogisticRegression");
    let base = b.global("builtins", "object");
    let args = b.tuple(vec![cls, base, Item::None]);
    let inst = b.v.push(Object::Instance(Box::new(Instance::new(
        CallKind::Reduce,
        rec,
        args,
        None,
    ))));
    let root = b.obj(vec![("model", inst)]);
    let v = b.done(root);
    let e = err::<Config>(&v);
    assert!(
        e.ends_with("found an instance of sklearn.linear_model._logistic.LogisticRegression"),
        "{e}"
    );

    // A plain REDUCE call.
    let mut b = B::new();
    let f = b.global("torch._utils", "_rebuild_tensor_v2");
    let args = b.tuple(vec![]);
    let inst = b.v.push(Object::Instance(Box::new(Instance::new(
        CallKind::Reduce,
        f,
        args,
        None,
    ))));
    let v = b.done(inst);
    let e = err::<Vec<f32>>(&v);
    assert!(e.contains("expected a sequence (list, tuple, set or frozenset), found an object made by calling torch._utils._rebuild_tensor_v2"), "{e}");
}

#[test]
fn code_references_are_errors_naming_them() {
    let mut b = B::new();
    let g = b.global("os", "system");
    let v = b.done(g);
    let e = err::<String>(&v);
    assert!(
        e.contains("expected a str, found the global os.system"),
        "{e}"
    );
    let e = err::<Dyn>(&v);
    assert!(e.contains("found the global os.system"), "{e}");

    let mut b = B::new();
    let pid = b.s("storage");
    let p = b.v.push(Object::PersistentId(pid));
    let ext = b.v.push(Object::Extension(42));
    let buf = b.v.push(Object::Buffer {
        index: 3,
        readonly: true,
    });
    let c = b.v.push(Object::Complex { re: 1.0, im: -2.0 });
    for (item, want) in [
        (p, "a persistent id"),
        (ext, "copyreg extension code 42"),
        (buf, "out-of-band buffer 3"),
        (c, "the complex number (1-2j)"),
    ] {
        let mut v = b.v.clone();
        v.set_root(item);
        let e = err::<Dyn>(&v);
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn out_of_range_ints_are_clear_errors() {
    let v = Value::from_item(Item::Int(300));
    assert_eq!(
        err::<u8>(&v),
        "cannot decode pickle: the int 300 is out of range for u8"
    );
    let v = Value::from_item(Item::Int(-1));
    assert_eq!(
        err::<u64>(&v),
        "cannot decode pickle: the int -1 is out of range for u64"
    );
    let v = Value::from_item(Item::Int(i64::MIN));
    assert!(err::<i32>(&v).contains("the int -9223372036854775808 is out of range for i32"));
    let mut b = B::new();
    let big = b.big("18446744073709551616");
    let v = b.done(big);
    assert!(err::<u64>(&v).contains("the int 18446744073709551616 is out of range for u64"));
    assert_eq!(from_value::<u128>(&v).unwrap(), 1u128 << 64);
    assert_eq!(from_value::<f64>(&v).unwrap(), 18446744073709551616.0);
    // Types that are not ints.
    let v = Value::from_item(Item::Float(1.0));
    assert!(err::<i32>(&v).contains("expected an int (for i32), found the float 1"));
    let v = Value::from_item(Item::Bool(true));
    assert!(err::<i32>(&v).contains("found the bool True"));
}

#[test]
fn errors_say_where() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item_ {
        name: String,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Doc {
        items: Vec<Item_>,
    }
    let mut b = B::new();
    let a = b.s("a");
    let ok = b.obj(vec![("name", a)]);
    let bad = b.obj(vec![("name", Item::Int(5))]);
    let items = b.list(vec![ok, ok, bad]);
    let root = b.obj(vec![("items", items)]);
    let v = b.done(root);
    assert_eq!(
        err::<Doc>(&v),
        "cannot decode pickle: at .items[2].name: expected a str, found the int 5"
    );
    // Keys that are not identifiers are quoted.
    let mut b = B::new();
    let k = b.s("a key");
    let root = b.dict(vec![(k, Item::None)]);
    let v = b.done(root);
    let e = err::<BTreeMap<String, u8>>(&v);
    assert!(
        e.contains("at [\"a key\"]: expected an int (for u8), found None"),
        "{e}"
    );
}

#[test]
fn enum_shape_errors() {
    let mut b = B::new();
    let k1 = b.s("Circle");
    let k2 = b.s("Empty");
    let root = b.dict(vec![(k1, Item::Float(1.0)), (k2, Item::None)]);
    let v = b.done(root);
    let e = err::<Shape>(&v);
    assert!(e.contains("expected the enum Shape (a str, or a dict with one entry), found a dict with 2 entries"), "{e}");
    let v = Value::from_item(Item::Int(1));
    assert!(err::<Shape>(&v).contains("expected the enum Shape"));
    let mut b = B::new();
    let s = b.s("Nope");
    let v = b.done(s);
    assert!(err::<Shape>(&v).contains("unknown variant `Nope`"));
    // A unit variant in a one-entry dict must have a None payload.
    let mut b = B::new();
    let root = b.obj(vec![("Empty", Item::None)]);
    let v = b.done(root);
    assert_eq!(from_value::<Shape>(&v).unwrap(), Shape::Empty);
    let mut b = B::new();
    let root = b.obj(vec![("Empty", Item::Int(1))]);
    let v = b.done(root);
    assert!(err::<Shape>(&v).contains("at .Empty: expected None"));
    // A char must be one character.
    let mut b = B::new();
    let s = b.s("ab");
    let v = b.done(s);
    assert!(err::<char>(&v).contains("one character"));
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Node {
    children: Vec<Node>,
}

#[test]
fn cycles_are_errors_not_overflows() {
    // A self-referencing list.
    let mut b = B::new();
    let l = b.list(vec![]);
    *b.v.get_mut(id(l)) = Object::List(vec![l]);
    let v = b.done(l);
    let e = err::<Dyn>(&v);
    assert!(
        e.contains("cyclic reference cannot be deserialized into a tree"),
        "{e}"
    );
    assert!(e.contains("at [0]"), "{e}");

    // A dict reaching itself through a list.
    let mut b = B::new();
    let d = b.dict(vec![]);
    let children = b.list(vec![d]);
    let k = b.s("children");
    *b.v.get_mut(id(d)) = Object::Dict(vec![(k, children)].into());
    let v = b.done(d);
    let e = err::<Node>(&v);
    assert!(
        e.contains("cyclic reference") && e.contains("at .children[0]"),
        "{e}"
    );

    // A cycle in a field the target ignores is never visited.
    #[derive(Deserialize, Debug, PartialEq)]
    struct OnlyName {
        name: String,
    }
    let mut b = B::new();
    let l = b.list(vec![]);
    *b.v.get_mut(id(l)) = Object::List(vec![l]);
    let n = b.s("n");
    let root = b.obj(vec![("name", n), ("cycle", l)]);
    let v = b.done(root);
    assert_eq!(
        from_value::<OnlyName>(&v).unwrap(),
        OnlyName { name: "n".into() }
    );
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Deep(Vec<Deep>);

fn nested_lists(depth: usize) -> Value {
    let mut b = B::new();
    let mut inner = b.list(vec![]);
    for _ in 1..depth {
        inner = b.list(vec![inner]);
    }
    b.done(inner)
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Wide {
    a: String,
    b: u64,
    c: f64,
    d: Option<String>,
    e: Vec<u8>,
    f: String,
    g: u64,
    h: f64,
    i: Option<String>,
    j: Vec<u8>,
    k: String,
    l: u64,
    m: f64,
    n: Option<String>,
    o: Vec<u8>,
    p: String,
    q: u64,
    r: f64,
    s: Option<String>,
    children: Vec<Wide>,
}

fn wide_tree(nodes: usize) -> Value {
    let mut b = B::new();
    let names = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s",
    ];
    let s = b.s("x");
    let by = b.bytes(b"\x01");
    let mut inner: Option<Item> = None;
    for _ in 0..nodes {
        let kids = b.list(inner.into_iter().collect());
        let mut fields: Vec<(&str, Item)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let item = match i % 5 {
                    0 => s,
                    1 => Item::Int(1),
                    2 => Item::Float(1.0),
                    3 => Item::None,
                    _ => by,
                };
                (*n, item)
            })
            .collect();
        fields.push(("children", kids));
        inner = Some(b.obj(fields));
    }
    b.done(inner.unwrap())
}

#[test]
fn depth_is_bounded() {
    // DEFAULT_MAX_DEPTH levels work on a test thread's stack (2 MiB, debug build)...
    let ok = nested_lists(DEFAULT_MAX_DEPTH);
    from_value::<Deep>(&ok).unwrap();
    from_value::<Dyn>(&ok).unwrap();
    // ... one more is an error, and so is far more.
    let e = err::<Deep>(&nested_lists(DEFAULT_MAX_DEPTH + 1));
    assert!(
        e.contains(&format!(
            "nested more than {DEFAULT_MAX_DEPTH} containers deep"
        )),
        "{e}"
    );
    let e = err::<Dyn>(&nested_lists(200_000));
    assert!(e.contains("nested more than"), "{e}");
    // A wide struct holding a Vec of itself (two levels per node) at the limit.
    let wide = wide_tree(DEFAULT_MAX_DEPTH / 2);
    from_value::<Wide>(&wide).unwrap();
    let e = err::<Wide>(&wide_tree(DEFAULT_MAX_DEPTH / 2 + 1));
    assert!(e.contains("nested more than"), "{e}");
    // The limit can be changed.
    let v = nested_lists(10);
    assert!(Deep::deserialize(Deserializer::new(&v).with_max_depth(5)).is_err());
    assert!(Deep::deserialize(Deserializer::new(&v).with_max_depth(10)).is_ok());
}

#[test]
fn exponential_expansion_is_bounded() {
    // 64 levels of [prev, prev]: 2^64 leaves from a 65-object graph.
    let mut b = B::new();
    let mut level = b.list(vec![Item::Int(0)]);
    for _ in 0..64 {
        level = b.list(vec![level, level]);
    }
    let v = b.done(level);
    let e = err::<Dyn>(&v);
    assert!(e.contains("expands to more than"), "{e}");
    // A smaller explicit limit applies to ordinary data too.
    let v = nested_lists(3);
    assert!(Deep::deserialize(Deserializer::new(&v).with_max_items(1)).is_err());
    assert!(Deep::deserialize(Deserializer::new(&v).with_max_items(2)).is_ok());
}

#[test]
fn dangling_references_are_errors() {
    let mut v = Value::new();
    let l = v.push(Object::List(vec![Item::Ref(ObjectId(9))]));
    v.set_root(l);
    let e = err::<Dyn>(&v);
    assert!(e.contains("outside the value's arena"), "{e}");
}

#[test]
fn other_mismatches() {
    let v = Value::from_item(Item::Int(1));
    assert!(err::<String>(&v).contains("expected a str, found the int 1"));
    assert!(err::<Vec<u8>>(&v).contains("expected a sequence"));
    assert!(err::<BTreeMap<String, u8>>(&v).contains("expected a map, found the int 1"));
    assert!(err::<()>(&v).contains("expected None"));
    assert!(err::<bool>(&v).contains("expected a bool"));
    // A tuple longer than the Rust tuple.
    let mut b = B::new();
    let t = b.tuple(vec![Item::Int(1), Item::Int(2), Item::Int(3)]);
    let v = b.done(t);
    assert!(err::<(u8, u8)>(&v).contains("invalid length 3"));
    // Ints become floats, not the other way round.
    assert_eq!(
        from_value::<f32>(&Value::from_item(Item::Int(-2))).unwrap(),
        -2.0
    );
    // An OrderedDict with extra state is not a plain map.
    let mut b = B::new();
    let cls = b.global("collections", "OrderedDict");
    let args = b.tuple(vec![]);
    let mut inst = Instance::new(CallKind::Reduce, cls, args, None);
    let st = b.obj(vec![("attr", Item::Int(1))]);
    inst.state = vec![st];
    let root = b.v.push(Object::Instance(Box::new(inst)));
    let v = b.done(root);
    assert!(err::<BTreeMap<String, u8>>(&v)
        .contains("found an object made by calling collections.OrderedDict"));
}

#[test]
fn erased_serde_drives_the_deserializer() {
    // How a `Format::decode` sink receives it.
    let mut b = B::new();
    let x = b.s("x");
    let root = b.list(vec![x, x]);
    let v = b.done(root);
    let mut erased = <dyn erased_serde::Deserializer>::erase(Deserializer::new(&v));
    let got: Vec<String> = erased_serde::deserialize(&mut erased).unwrap();
    assert_eq!(got, vec!["x", "x"]);
}
