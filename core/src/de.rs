//! Value → serde: deserializes a Python object graph ([`Value`]) into Rust data.
//!
//! [`from_value`] is the short way; [`Deserializer`] is the serde `Deserializer` (by value, so it
//! can be erased with `erased_serde`), with limits that can be changed.
//!
//! # Mapping (the mirror of the pickle serde writer)
//!
//! | Python | Rust |
//! |---|---|
//! | `None` | `Option::None`, `()`, unit structs |
//! | `bool` | `bool` |
//! | `int` | every integer type, range-checked (an out-of-range value is an error naming it and the type); `f32`/`f64` too |
//! | `float` | `f32`, `f64` |
//! | `str` | `String`, `&str` (borrowed from the value), `char` (exactly one character), unit enum variants |
//! | `bytes`, `bytearray` | bytes (`serde_bytes`), and `Vec<u8>` (as a sequence of `u8`) |
//! | `list`, `tuple`, `set`, `frozenset` | sequences, tuples, tuple structs; structs (fields in order) |
//! | `dict` | maps and structs; a one-entry dict `{name: payload}` is a newtype, tuple or struct variant |
//! | `collections.OrderedDict` / `defaultdict` instances with plain items | maps, like `dict` |
//!
//! `deserialize_any` visits: `None` → unit, `bool`, `int` → `i64` (`i128`/`u128` when larger;
//! wider than 128 bits is an error), `float` → `f64`, `str`, `bytes`/`bytearray` → bytes, the
//! four sequence types → seq, `dict` → map. Everything else — instances, globals, persistent ids,
//! out-of-band buffers, extension codes, complex numbers — is an error that says what was found
//! (`expected a map, found an instance of sklearn.linear_model._logistic.LogisticRegression`), and
//! where (`at .model.coef_`).
//!
//! Shared references are deserialized once per reference (a tree has no sharing). A reference
//! back to an object being deserialized (a cycle) is an error, nesting deeper than
//! [`DEFAULT_MAX_DEPTH`] is an error (so no input overflows the stack), and so is expanding
//! shared references into more than the item limit (by default [`EXPANSION_FACTOR`] times the
//! items in the graph, at least [`MIN_MAX_ITEMS`]), which stops a small graph whose references
//! fan out level after level from expanding exponentially.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use crate::value::{CallKind, Dict, Instance, Item, Object, ObjectId, Value};

/// How many containers deep a value may nest by default (a level is a list, tuple, set, dict or
/// enum dict; `struct Tree { children: Vec<Tree> }` spends two per node). Each level takes a
/// few serde frames, large in debug builds. Measured in a debug build on a 2 MiB thread (Rust's
/// default for spawned and test threads, and tokio's workers), deserializing straight from a
/// [`Value`], the stack overflowed at about 1000 levels for `struct Deep(Vec<Deep>)`, 700 for an
/// untagged enum, and 256 for a 20-field struct holding a `Vec` of itself; release builds use
/// about a quarter of that stack. 128 (as `crate::guard::DEFAULT_MAX_DEPTH`) keeps a margin of
/// 2x over the worst of these. Raise it with [`Deserializer::with_max_depth`] on a thread with
/// a bigger stack.
pub const DEFAULT_MAX_DEPTH: usize = 128;
/// The default item limit is this many times the items in the graph...
pub const EXPANSION_FACTOR: u64 = 64;
/// ... and at least this many.
pub const MIN_MAX_ITEMS: u64 = 1 << 20;

/// Deserializes a `T` from a Python object graph.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, crate::error::Error> {
    T::deserialize(Deserializer::new(value)).map_err(|e| crate::error::Error::decode("pickle", e))
}

/// One step of the path to where an error happened.
#[derive(Clone, Debug)]
enum Segment {
    Index(usize),
    Key(String),
}

/// A deserialization error: a message and the path to the item it is about.
#[derive(Clone, Debug)]
pub struct DeserializeError {
    message: String,
    /// Innermost segment first.
    path: Vec<Segment>,
}

impl DeserializeError {
    fn new(message: impl fmt::Display) -> Self {
        DeserializeError {
            message: message.to_string(),
            path: Vec::new(),
        }
    }

    fn at(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the error happened, as `.field[3]` (empty at the root).
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
                Segment::Key(k) => {
                    let plain = !k.is_empty()
                        && !k.starts_with(|c: char| c.is_ascii_digit())
                        && k.chars().all(|c| c.is_alphanumeric() || c == '_');
                    if plain {
                        out.push('.');
                        out.push_str(k);
                    } else {
                        out.push_str(&format!("[{k:?}]"));
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for DeserializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "at {}: {}", self.path(), self.message)
        }
    }
}

impl std::error::Error for DeserializeError {}

impl de::Error for DeserializeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeserializeError::new(msg)
    }
}

type Result<T, E = DeserializeError> = std::result::Result<T, E>;

#[cold]
#[inline(never)]
fn too_deep(max_depth: usize) -> DeserializeError {
    DeserializeError::new(format!("nested more than {max_depth} containers deep"))
}

#[cold]
#[inline(never)]
fn cyclic(what: &str) -> DeserializeError {
    DeserializeError::new(format!(
        "cyclic reference cannot be deserialized into a tree: this {what} contains itself"
    ))
}

/// What a deserialize call expected, for messages (formatted only on error).
#[derive(Clone, Copy)]
enum Expected {
    Any,
    Bool,
    Int(&'static str),
    Float,
    Char,
    Str,
    Bytes,
    None_,
    Seq,
    Tuple(usize),
    TupleStruct(&'static str, usize),
    Map,
    Struct(&'static str),
    Enum(&'static str),
    Identifier,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Any => {
                f.write_str("data (None, bool, int, float, str, bytes, list, tuple, set or dict)")
            }
            Expected::Bool => f.write_str("a bool"),
            Expected::Int(ty) => write!(f, "an int (for {ty})"),
            Expected::Float => f.write_str("a float"),
            Expected::Char => f.write_str("a str of one character"),
            Expected::Str => f.write_str("a str"),
            Expected::Bytes => f.write_str("bytes"),
            Expected::None_ => f.write_str("None"),
            Expected::Seq => f.write_str("a sequence (list, tuple, set or frozenset)"),
            Expected::Tuple(len) => write!(f, "a tuple of {len}"),
            Expected::TupleStruct(name, len) => write!(f, "a tuple of {len} (for {name})"),
            Expected::Map => f.write_str("a map"),
            Expected::Struct(name) => write!(f, "a map (for struct {name})"),
            Expected::Enum(name) => write!(f, "the enum {name} (a str, or a dict with one entry)"),
            Expected::Identifier => f.write_str("a field name (str)"),
        }
    }
}

/// Limits and the objects on the current path.
#[derive(Debug)]
struct State {
    on_path: HashSet<ObjectId>,
    depth: usize,
    max_depth: usize,
    items: u64,
    max_items: u64,
}

impl State {
    /// Puts container `id` on the path, unless that would close a cycle or go too deep.
    fn push(&mut self, id: ObjectId, what: &'static str) -> Result<()> {
        if self.depth >= self.max_depth {
            return Err(too_deep(self.max_depth));
        }
        if !self.on_path.insert(id) {
            return Err(cyclic(what));
        }
        self.depth += 1;
        Ok(())
    }

    fn pop(&mut self, id: ObjectId) {
        self.depth -= 1;
        self.on_path.remove(&id);
    }

    fn spend(&mut self, n: u64) -> Result<()> {
        self.items += n;
        if self.items > self.max_items {
            return Err(DeserializeError::new(format!(
                "the value expands to more than {} items (each use of a shared object is a copy); \
                 raise the limit with Deserializer::with_max_items if this is expected",
                self.max_items
            )));
        }
        Ok(())
    }
}

/// The serde deserializer of a [`Value`] (from its root).
pub struct Deserializer<'de> {
    value: &'de Value,
    item: Item,
    state: State,
}

impl<'de> Deserializer<'de> {
    /// A deserializer of `value`'s root with the default limits.
    pub fn new(value: &'de Value) -> Self {
        let size: u64 = value
            .objects()
            .iter()
            .map(|o| {
                1 + match o {
                    Object::List(v) | Object::Tuple(v) | Object::Set(v) | Object::FrozenSet(v) => {
                        v.len()
                    }
                    Object::Dict(p) => 2 * p.len(),
                    Object::Bytes(b) | Object::ByteArray(b) => b.len(),
                    Object::Instance(i) => 2 * i.dict_items.len(),
                    _ => 0,
                } as u64
            })
            .sum();
        Deserializer {
            value,
            item: value.root(),
            state: State {
                on_path: HashSet::new(),
                depth: 0,
                max_depth: DEFAULT_MAX_DEPTH,
                items: 0,
                max_items: (size + 1)
                    .saturating_mul(EXPANSION_FACTOR)
                    .max(MIN_MAX_ITEMS),
            },
        }
    }

    /// Deserializes `item` of `value` instead of the root.
    pub fn with_item(mut self, item: Item) -> Self {
        self.item = item;
        self
    }

    /// How many containers deep the value may nest (default [`DEFAULT_MAX_DEPTH`]).
    /// Deep limits need a deep stack: each level takes a few serde frames.
    pub fn with_max_depth(mut self, depth: usize) -> Self {
        self.state.max_depth = depth;
        self
    }

    /// How many items (elements, keys and values, bytes read as sequences) deserializing may
    /// produce in all, counting each use of a shared object again.
    pub fn with_max_items(mut self, items: u64) -> Self {
        self.state.max_items = items;
        self
    }
}

/// An item's contents, with references resolved.
#[derive(Clone, Copy)]
enum Node<'de> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Object(ObjectId, &'de Object),
}

enum Int<'de> {
    Small(i64),
    Big(&'de num_bigint::BigInt),
}

impl fmt::Display for Int<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Int::Small(i) => write!(f, "{i}"),
            Int::Big(b) => write!(f, "{b}"),
        }
    }
}

/// `module.name` of a global item.
fn global_name(value: &Value, item: Item) -> Option<String> {
    match value.object(item)? {
        Object::Global(g) => Some(format!("{}.{}", g.module, g.name)),
        _ => None,
    }
}

/// Functions that rebuild an instance of their first argument.
const RECONSTRUCTORS: &[&str] = &[
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "copyreg.__newobj_ex__",
    "copy_reg._reconstructor",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
];

/// What an instance is, for messages: `an instance of module.Class`.
fn describe_instance(value: &Value, inst: &Instance) -> String {
    let callable = global_name(value, inst.callable);
    match inst.kind {
        CallKind::NewObj | CallKind::NewObjEx | CallKind::Inst | CallKind::Obj => match callable {
            Some(c) => format!("an instance of {c}"),
            None => "an instance of a class the file computes".into(),
        },
        CallKind::Reduce => {
            if let Some(c) = &callable {
                if RECONSTRUCTORS.contains(&c.as_str()) {
                    if let Some(Object::Tuple(args)) = value.object(inst.args) {
                        if let Some(class) = args.first().and_then(|&a| global_name(value, a)) {
                            return format!("an instance of {class}");
                        }
                    }
                }
            }
            match callable {
                Some(c) => format!("an object made by calling {c}"),
                None => "an object made by a call".into(),
            }
        }
    }
}

/// What an item is, for messages.
fn describe(value: &Value, item: Item) -> String {
    match item {
        Item::None => "None".into(),
        Item::Bool(b) => format!("the bool {}", if b { "True" } else { "False" }),
        Item::Int(i) => format!("the int {i}"),
        Item::Float(f) => format!("the float {f}"),
        Item::Ref(id) => match value.object(item) {
            None => format!("a reference to missing object {}", id.0),
            Some(object) => match object {
                Object::BigInt(b) => format!("the int {b}"),
                Object::Complex { re, im } => format!("the complex number ({re}{im:+}j)"),
                Object::Str(_) => "a str".into(),
                Object::Bytes(_) => "bytes".into(),
                Object::ByteArray(_) => "a bytearray".into(),
                Object::List(_) => "a list".into(),
                Object::Tuple(_) => "a tuple".into(),
                Object::Dict(_) => "a dict".into(),
                Object::Set(_) => "a set".into(),
                Object::FrozenSet(_) => "a frozenset".into(),
                Object::Global(g) => {
                    format!(
                        "the global {}.{} (a reference to code, not data)",
                        g.module, g.name
                    )
                }
                Object::Extension(code) => {
                    format!("copyreg extension code {code} (a reference to code, not data)")
                }
                Object::Instance(inst) => describe_instance(value, inst),
                Object::PersistentId(_) => {
                    "a persistent id (an object the loader's persistent_load supplies)".into()
                }
                Object::Buffer { index, .. } => format!("out-of-band buffer {index}"),
            },
        },
    }
}

/// The dict items of an instance that is just a dict of another class
/// (`collections.OrderedDict`, `collections.defaultdict`), if it is one.
fn mapping_instance<'de>(value: &'de Value, inst: &'de Instance) -> Option<&'de [(Item, Item)]> {
    let name = global_name(value, inst.callable)?;
    if name != "collections.OrderedDict" && name != "collections.defaultdict" {
        return None;
    }
    let plain_state = inst.state.iter().all(|&s| match s {
        Item::None => true,
        _ => matches!(value.object(s), Some(Object::Dict(p)) if p.is_empty()),
    });
    (plain_state && inst.list_items.is_empty() && inst.set_items.is_empty())
        .then_some(&inst.dict_items[..])
}

/// A dict key, for paths.
fn key_text(value: &Value, item: Item) -> String {
    match item {
        Item::Int(i) => i.to_string(),
        Item::Bool(b) => if b { "True" } else { "False" }.into(),
        Item::None => "None".into(),
        Item::Float(f) => f.to_string(),
        Item::Ref(_) => match value.object(item) {
            Some(Object::Str(s)) => s.to_string(),
            Some(Object::BigInt(b)) => b.to_string(),
            _ => format!("<{}>", describe(value, item)),
        },
    }
}

/// The deserializer of one item, sharing the limits and path state.
struct ItemDe<'de, 's> {
    value: &'de Value,
    item: Item,
    state: &'s mut State,
}

impl<'de, 's> ItemDe<'de, 's> {
    fn node(&self) -> Result<Node<'de>> {
        Ok(match self.item {
            Item::None => Node::None,
            Item::Bool(b) => Node::Bool(b),
            Item::Int(i) => Node::Int(i),
            Item::Float(f) => Node::Float(f),
            Item::Ref(id) => match self.value.object(self.item) {
                Some(object) => Node::Object(id, object),
                None => {
                    return Err(DeserializeError::new(format!(
                        "reference to object {} outside the value's arena",
                        id.0
                    )))
                }
            },
        })
    }

    #[cold]
    #[inline(never)]
    fn unexpected(&self, expected: Expected) -> DeserializeError {
        DeserializeError::new(format!(
            "expected {expected}, found {}",
            describe(self.value, self.item)
        ))
    }

    fn integer(&self, ty: &'static str) -> Result<Int<'de>> {
        match self.node()? {
            Node::Int(i) => Ok(Int::Small(i)),
            Node::Object(_, Object::BigInt(b)) => Ok(Int::Big(b)),
            _ => Err(self.unexpected(Expected::Int(ty))),
        }
    }

    fn out_of_range(int: &Int<'_>, ty: &str) -> DeserializeError {
        DeserializeError::new(format!("the int {int} is out of range for {ty}"))
    }

    fn float(&self) -> Result<f64> {
        match self.node()? {
            Node::Float(f) => Ok(f),
            Node::Int(i) => Ok(i as f64),
            Node::Object(_, Object::BigInt(b)) => {
                Ok(b.to_string().parse::<f64>().unwrap_or(f64::NAN))
            }
            _ => Err(self.unexpected(Expected::Float)),
        }
    }

    fn visit_bytes_seq<V: Visitor<'de>>(self, bytes: &'de [u8], visitor: V) -> Result<V::Value> {
        let mut seq = ByteSeq {
            bytes,
            pos: 0,
            state: self.state,
        };
        let out = visitor.visit_seq(&mut seq)?;
        if seq.pos < bytes.len() {
            return Err(de::Error::invalid_length(bytes.len(), &"fewer elements"));
        }
        Ok(out)
    }

    /// A sequence, if the item is one (list, tuple, set, frozenset; bytes as ints).
    fn seq<V: Visitor<'de>>(self, expected: Expected, visitor: V) -> Result<V::Value> {
        let (id, items, what) = match self.node()? {
            Node::Object(id, Object::List(v)) => (id, v, "list"),
            Node::Object(id, Object::Tuple(v)) => (id, v, "tuple"),
            Node::Object(id, Object::Set(v)) => (id, v, "set"),
            Node::Object(id, Object::FrozenSet(v)) => (id, v, "frozenset"),
            Node::Object(_, Object::Bytes(b) | Object::ByteArray(b)) => {
                return self.visit_bytes_seq(b, visitor)
            }
            _ => return Err(self.unexpected(expected)),
        };
        let state = self.state;
        state.push(id, what)?;
        let mut seq = Seq {
            value: self.value,
            items,
            pos: 0,
            state: &mut *state,
        };
        let result = match visitor.visit_seq(&mut seq) {
            Ok(_) if seq.pos < items.len() => {
                Err(de::Error::invalid_length(items.len(), &"fewer elements"))
            }
            result => result,
        };
        state.pop(id);
        result
    }

    /// A map, if the item is one (dict, or a dict-like instance).
    fn map<V: Visitor<'de>>(self, expected: Expected, visitor: V) -> Result<V::Value> {
        let (id, pairs) = match self.node()? {
            Node::Object(id, Object::Dict(dict)) => (id, Entries::Dict(dict)),
            Node::Object(id, Object::Instance(inst)) => match mapping_instance(self.value, inst) {
                Some(pairs) => (id, Entries::Pairs(pairs)),
                None => return Err(self.unexpected(expected)),
            },
            _ => return Err(self.unexpected(expected)),
        };
        let state = self.state;
        state.push(id, "dict")?;
        let mut map = Map {
            value: self.value,
            pairs,
            pos: 0,
            state: &mut *state,
        };
        let result = match visitor.visit_map(&mut map) {
            Ok(_) if map.pos < pairs.len() => {
                Err(de::Error::invalid_length(pairs.len(), &"fewer entries"))
            }
            result => result,
        };
        state.pop(id);
        result
    }
}

macro_rules! deserialize_integer {
    ($($method:ident => $visit:ident($ty:ty);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
                let int = self.integer(stringify!($ty))?;
                let converted = match &int {
                    Int::Small(i) => <$ty>::try_from(*i).ok(),
                    Int::Big(b) => <$ty>::try_from(*b).ok(),
                };
                match converted {
                    Some(v) => visitor.$visit(v),
                    None => Err(Self::out_of_range(&int, stringify!($ty))),
                }
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ItemDe<'de, '_> {
    type Error = DeserializeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::None => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(b),
            Node::Int(i) => visitor.visit_i64(i),
            Node::Float(f) => visitor.visit_f64(f),
            Node::Object(_, object) => match object {
                Object::BigInt(b) => {
                    if let Ok(v) = i128::try_from(&**b) {
                        visitor.visit_i128(v)
                    } else if let Ok(v) = u128::try_from(&**b) {
                        visitor.visit_u128(v)
                    } else {
                        Err(DeserializeError::new(format!(
                            "the int {b} does not fit in 128 bits"
                        )))
                    }
                }
                Object::Str(s) => visitor.visit_borrowed_str(s),
                Object::Bytes(b) | Object::ByteArray(b) => visitor.visit_borrowed_bytes(b),
                Object::List(_) | Object::Tuple(_) | Object::Set(_) | Object::FrozenSet(_) => {
                    self.seq(Expected::Seq, visitor)
                }
                Object::Dict(_) => self.map(Expected::Map, visitor),
                Object::Instance(inst) if mapping_instance(self.value, inst).is_some() => {
                    self.map(Expected::Map, visitor)
                }
                _ => Err(self.unexpected(Expected::Any)),
            },
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::Bool(b) => visitor.visit_bool(b),
            _ => Err(self.unexpected(Expected::Bool)),
        }
    }

    deserialize_integer! {
        deserialize_i8 => visit_i8(i8);
        deserialize_i16 => visit_i16(i16);
        deserialize_i32 => visit_i32(i32);
        deserialize_i64 => visit_i64(i64);
        deserialize_i128 => visit_i128(i128);
        deserialize_u8 => visit_u8(u8);
        deserialize_u16 => visit_u16(u16);
        deserialize_u32 => visit_u32(u32);
        deserialize_u64 => visit_u64(u64);
        deserialize_u128 => visit_u128(u128);
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f32(self.float()? as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(self.float()?)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if let Node::Object(_, Object::Str(s)) = self.node()? {
            let mut chars = s.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                return visitor.visit_char(c);
            }
            return Err(DeserializeError::new(format!(
                "expected a str of one character, found a str of {}",
                s.chars().count()
            )));
        }
        Err(self.unexpected(Expected::Char))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::Object(_, Object::Str(s)) => visitor.visit_borrowed_str(s),
            _ => Err(self.unexpected(Expected::Str)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::Object(_, Object::Bytes(b) | Object::ByteArray(b)) => {
                visitor.visit_borrowed_bytes(b)
            }
            Node::Object(_, Object::Str(s)) => visitor.visit_borrowed_str(s),
            Node::Object(_, Object::List(_) | Object::Tuple(_)) => {
                self.seq(Expected::Bytes, visitor)
            }
            _ => Err(self.unexpected(Expected::Bytes)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.item {
            Item::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.item {
            Item::None => visitor.visit_unit(),
            _ => Err(self.unexpected(Expected::None_)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.seq(Expected::Seq, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        self.seq(Expected::Tuple(len), visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.seq(Expected::TupleStruct(name, len), visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.map(Expected::Map, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.node()? {
            Node::Object(_, Object::List(_) | Object::Tuple(_)) => {
                self.seq(Expected::Struct(name), visitor)
            }
            _ => self.map(Expected::Struct(name), visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.node()? {
            Node::Object(_, Object::Str(s)) => visitor.visit_enum(
                de::value::BorrowedStrDeserializer::<DeserializeError>::new(s),
            ),
            Node::Object(id, Object::Dict(dict)) if dict.len() == 1 => {
                let (key, payload) = dict.iter().next().expect("one entry");
                let state = self.state;
                state.push(id, "dict")?;
                let result = visitor.visit_enum(Enum {
                    value: self.value,
                    key,
                    payload,
                    state: &mut *state,
                });
                state.pop(id);
                result
            }
            Node::Object(_, Object::Dict(pairs)) => Err(DeserializeError::new(format!(
                "expected {}, found a dict with {} entries",
                Expected::Enum(name),
                pairs.len()
            ))),
            _ => Err(self.unexpected(Expected::Enum(name))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.node()? {
            Node::Object(_, Object::Str(s)) => visitor.visit_borrowed_str(s),
            Node::Object(_, Object::Bytes(b)) => visitor.visit_borrowed_bytes(b),
            Node::Int(i) if i >= 0 => visitor.visit_u64(i as u64),
            _ => Err(self.unexpected(Expected::Identifier)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }
}

struct Seq<'de, 's> {
    value: &'de Value,
    items: &'de [Item],
    pos: usize,
    state: &'s mut State,
}

impl<'de> de::SeqAccess<'de> for Seq<'de, '_> {
    type Error = DeserializeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(&item) = self.items.get(self.pos) else {
            return Ok(None);
        };
        let index = self.pos;
        self.pos += 1;
        self.state.spend(1)?;
        seed.deserialize(ItemDe {
            value: self.value,
            item,
            state: &mut *self.state,
        })
        .map(Some)
        .map_err(|e| e.at(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.pos)
    }
}

struct ByteSeq<'de, 's> {
    bytes: &'de [u8],
    pos: usize,
    state: &'s mut State,
}

impl<'de> de::SeqAccess<'de> for ByteSeq<'de, '_> {
    type Error = DeserializeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(&byte) = self.bytes.get(self.pos) else {
            return Ok(None);
        };
        let index = self.pos;
        self.pos += 1;
        self.state.spend(1)?;
        seed.deserialize(IntoDeserializer::<DeserializeError>::into_deserializer(
            byte,
        ))
        .map(Some)
        .map_err(|e| e.at(Segment::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.bytes.len() - self.pos)
    }
}

/// A map's entries: a dict's, or a dict-like instance's SETITEMS.
#[derive(Clone, Copy)]
enum Entries<'de> {
    Dict(&'de Dict),
    Pairs(&'de [(Item, Item)]),
}

impl Entries<'_> {
    fn len(self) -> usize {
        match self {
            Entries::Dict(dict) => dict.len(),
            Entries::Pairs(pairs) => pairs.len(),
        }
    }

    fn get(self, i: usize) -> Option<(Item, Item)> {
        match self {
            Entries::Dict(dict) => dict.get(i),
            Entries::Pairs(pairs) => pairs.get(i).copied(),
        }
    }
}

struct Map<'de, 's> {
    value: &'de Value,
    pairs: Entries<'de>,
    pos: usize,
    state: &'s mut State,
}

impl<'de> de::MapAccess<'de> for Map<'de, '_> {
    type Error = DeserializeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some((key, _)) = self.pairs.get(self.pos) else {
            return Ok(None);
        };
        self.pos += 1;
        self.state.spend(2)?;
        seed.deserialize(ItemDe {
            value: self.value,
            item: key,
            state: &mut *self.state,
        })
        .map(Some)
        .map_err(|e| e.at(Segment::Key(key_text(self.value, key))))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let Some((key, item)) = self.pos.checked_sub(1).and_then(|i| self.pairs.get(i)) else {
            return Err(DeserializeError::new(
                "a map value was asked for before its key",
            ));
        };
        seed.deserialize(ItemDe {
            value: self.value,
            item,
            state: &mut *self.state,
        })
        .map_err(|e| e.at(Segment::Key(key_text(self.value, key))))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len() - self.pos)
    }
}

/// `{variant: payload}`.
struct Enum<'de, 's> {
    value: &'de Value,
    key: Item,
    payload: Item,
    state: &'s mut State,
}

impl<'de, 's> de::EnumAccess<'de> for Enum<'de, 's> {
    type Error = DeserializeError;
    type Variant = Variant<'de, 's>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Variant<'de, 's>)> {
        let variant = seed.deserialize(ItemDe {
            value: self.value,
            item: self.key,
            state: &mut *self.state,
        })?;
        Ok((
            variant,
            Variant {
                de: ItemDe {
                    value: self.value,
                    item: self.payload,
                    state: self.state,
                },
                name: key_text(self.value, self.key),
            },
        ))
    }
}

struct Variant<'de, 's> {
    de: ItemDe<'de, 's>,
    name: String,
}

impl<'de> de::VariantAccess<'de> for Variant<'de, '_> {
    type Error = DeserializeError;

    fn unit_variant(self) -> Result<()> {
        match self.de.item {
            Item::None => Ok(()),
            _ => Err(self
                .de
                .unexpected(Expected::None_)
                .at(Segment::Key(self.name))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        let name = self.name;
        seed.deserialize(self.de)
            .map_err(|e| e.at(Segment::Key(name)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        let name = self.name;
        de::Deserializer::deserialize_tuple(self.de, len, visitor)
            .map_err(|e| e.at(Segment::Key(name)))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        let name = self.name;
        de::Deserializer::deserialize_struct(self.de, "variant", fields, visitor)
            .map_err(|e| e.at(Segment::Key(name)))
    }
}

macro_rules! forward_to_item {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(mut self, $($arg: $ty,)* visitor: V) -> Result<V::Value> {
                ItemDe { value: self.value, item: self.item, state: &mut self.state }.$method($($arg,)* visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Deserializer<'de> {
    type Error = DeserializeError;

    forward_to_item! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }
}
