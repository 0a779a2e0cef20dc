//! The conventions CBOR and MessagePack share (docs/conversion.md): a walk of a [`Value`] that
//! drives a format's [`Sink`], and a builder that makes a [`Value`] from a format's [`Source`].
//! The formats only differ in how they spell a [`Tag`] (a CBOR tag, a MessagePack extension type)
//! and a typed array.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::{
    CallKind, Dict, GlobalRef, Instance, Item, Object, ObjectId, PackedItems, Policy, SharedKeys,
    Target, Usage, Value,
};
use num_bigint::BigInt;

use crate::numpy::{self, NdArray, Recognized};

/// How deep values may nest (a container or object in another is one level) when writing or
/// reading: the same bound as `crate::de`, safe on a 2 MiB thread in debug builds.
pub const MAX_DEPTH: usize = 128;

/// Everything that is not plain data, as the formats mark it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// `set`: an array.
    Set,
    /// The first occurrence of an object referenced more than once (shared or cyclic).
    Shareable,
    /// A later reference to the n-th shareable object (an unsigned int).
    SharedRef,
    /// A call: `["module:qualname", arg, ...]`.
    Call,
    /// `tuple`: an array.
    Tuple,
    /// `frozenset`: an array.
    FrozenSet,
    /// `bytearray`: a byte string.
    ByteArray,
    /// `complex`: `[re, im]`.
    Complex,
    /// A module attribute used as a value: `[module, qualname]`.
    Global,
    /// A `copyreg` extension code: an int.
    Extension,
    /// A call with what the pickle did to the result afterwards: a map (see docs/conversion.md).
    Object,
    /// A persistent id: the id item.
    PersistentId,
    /// A protocol 5 out-of-band buffer: `[index, readonly]`.
    Buffer,
    /// A numpy scalar: a typed array of shape `[]`.
    Scalar,
}

/// Where the walk writes.
pub trait Sink {
    fn null(&mut self);
    fn bool(&mut self, v: bool);
    fn int(&mut self, v: i64);
    /// An int outside `i64` (the format picks a native or a bignum encoding).
    fn bigint(&mut self, v: &BigInt);
    fn float(&mut self, v: f64);
    fn text(&mut self, v: &str);
    fn bytes(&mut self, v: &[u8]);
    fn array(&mut self, len: usize);
    fn map(&mut self, len: usize);
    /// Starts a tagged item: exactly one item follows, then [`Sink::end`].
    fn begin(&mut self, tag: Tag);
    fn end(&mut self);
    /// A numpy array of a numeric or bool dtype.
    fn ndarray(&mut self, array: &NdArray<'_>);
    /// How many bytes the sink has written, if it can give back what it wrote since
    /// ([`Sink::since`]) and take bytes as they are ([`Sink::raw`]): the walk then encodes the
    /// keys of a table that records share once, and copies their bytes for the other records.
    fn written(&self) -> Option<usize> {
        None
    }
    /// The bytes written since `written()` said `start` (only called when [`Sink::written`]
    /// gives `Some`, with no [`Sink::boundary`] in between).
    fn since(&self, _start: usize) -> &[u8] {
        &[]
    }
    /// Bytes [`Sink::since`] gave, written again.
    fn raw(&mut self, _bytes: &[u8]) {}
    /// A point between items where a streaming sink may hand what it holds to its writer:
    /// nothing written before it is asked back.
    fn boundary(&mut self) {}
}

/// One step of a format's reader.
#[derive(Debug)]
pub enum Event<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Big(BigInt),
    Float(f64),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Array(usize),
    Map(usize),
    /// One item follows, then the builder calls [`Source::end`].
    Tag(Tag),
    NdArray(NdArray<'a>),
}

/// Tells a reader's caller how far it has read, every MiB (see
/// [`crate::Format::decode_value_passing`]): a reader calls [`Progress::at`] with the start of
/// each event, once the builder has taken everything before it.
pub struct Progress<'p> {
    passed: &'p dyn Fn(usize),
    next: usize,
}

impl<'p> Progress<'p> {
    const STEP: usize = 1 << 20;

    pub fn new(passed: &'p dyn Fn(usize)) -> Self {
        Progress {
            passed,
            next: Self::STEP,
        }
    }

    /// Telling nobody.
    pub fn none() -> Progress<'static> {
        fn nobody(_: usize) {}
        Progress::new(&nobody)
    }

    #[inline]
    pub fn at(&mut self, pos: usize) {
        if pos >= self.next {
            (self.passed)(pos);
            self.next = pos.saturating_add(Self::STEP);
        }
    }
}

/// What the builder reads from.
pub trait Source<'a> {
    fn next(&mut self) -> Result<Event<'a>, String>;
    /// Called after the item a [`Event::Tag`] wraps.
    fn end(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Whether `object` may be written with the shared-value tags: every object but the values
/// that hold nothing and whose identity Python never shows (ints, strs, bytes, globals).
fn shareable(object: &Object) -> bool {
    !matches!(
        object,
        Object::BigInt(_)
            | Object::Complex { .. }
            | Object::Str(_)
            | Object::Bytes(_)
            | Object::Global(_)
            | Object::Extension(_)
    )
}

/// Where [`reference_counts`] stops counting: all that matters is none, one, or more (a byte an
/// object: a large value has millions).
const MAX_COUNT: u8 = 2;
/// What the writer marks a shared object with once written (its number is kept aside).
const WRITTEN: u8 = MAX_COUNT + 1;

/// How many references each object reachable from the root has (the root counts as one), up
/// to [`MAX_COUNT`].
pub fn reference_counts(value: &Value) -> Vec<u8> {
    let mut counts = vec![0u8; value.len()];
    let mut stack = Vec::new();
    if let Item::Ref(id) = value.root() {
        stack.push(id);
    }
    let objects = value.objects();
    // The key table of the records seen last, and how many of them: the keys of a table that
    // two records share are counted as shared already, and not again for each record.
    let mut table: (*const Box<[Item]>, u32) = (std::ptr::null(), 0);
    // A reference found: an object that holds no items is counted at once (when it is counted
    // makes no difference), anything else when it comes off the stack.
    #[inline(always)]
    fn found(objects: &[Object], counts: &mut [u8], stack: &mut Vec<ObjectId>, id: ObjectId) {
        if !objects[id.index()].holds_items() {
            let count = &mut counts[id.index()];
            *count = (*count + 1).min(MAX_COUNT);
        } else {
            stack.push(id);
        }
    }
    let push = |counts: &mut [u8], stack: &mut Vec<ObjectId>, item: Item| {
        if let Item::Ref(id) = item {
            found(objects, counts, stack, id)
        }
    };
    while let Some(id) = stack.pop() {
        let count = &mut counts[id.index()];
        *count = (*count + 1).min(MAX_COUNT);
        if *count > 1 {
            continue;
        }
        let record = match &objects[id.index()] {
            Object::Dict(dict) => dict.record_parts(),
            _ => None,
        };
        match record {
            Some((keys, values)) => {
                let ptr = Arc::as_ptr(keys);
                table = match table.0 == ptr {
                    true => (ptr, table.1.saturating_add(1)),
                    false => (ptr, 1),
                };
                if table.1 <= u32::from(MAX_COUNT) {
                    keys.iter().for_each(|&k| push(&mut counts, &mut stack, k));
                }
                values
                    .packed()
                    .for_each_ref(|v| found(objects, &mut counts, &mut stack, v));
            }
            None => objects[id.index()].for_each_child(|c| push(&mut counts, &mut stack, c)),
        }
    }
    counts
}

/// Walks `value` into `sink` following the shared conventions.
pub fn write<S: Sink>(value: &Value, sink: &mut S) -> Result<(), String> {
    let mut writer = Writer {
        value,
        sink,
        counts: reference_counts(value),
        shared_numbers: HashMap::new(),
        key_encodings: HashMap::new(),
        last_encoded: (std::ptr::null(), 0),
        key_bytes: Vec::new(),
        key_spans: Vec::new(),
        capturing: false,
        depth: 0,
    };
    writer.item(value.root())
}

struct Writer<'v, 's, S> {
    value: &'v Value,
    sink: &'s mut S,
    /// Reference counts; a shared object once written holds [`WRITTEN`] instead.
    counts: Vec<u8>,
    /// The number of each shared object written, in the order written.
    shared_numbers: HashMap<u32, u32>,
    /// Each shared key table whose keys were encoded, by table (kept alive here, so that its
    /// address stays its own): the index of its first key in `key_spans`.
    key_encodings: HashMap<*const Box<[Item]>, (SharedKeys, usize)>,
    /// The last table found there, and its first key's index: records of one table come one
    /// after another, and this spares a hash lookup for each.
    last_encoded: (*const Box<[Item]>, usize),
    /// The bytes of those keys, each key's at its span.
    key_bytes: Vec<u8>,
    key_spans: Vec<Range<usize>>,
    /// Whether a key being encoded is to be asked back: no [`Sink::boundary`] then. (Keys
    /// that are copied are scalars, strs, bytes, big ints, globals: one boundary, at their
    /// start, hands on only what came before them. This keeps it so for any key.)
    capturing: bool,
    depth: usize,
}

impl<'v, S: Sink> Writer<'v, '_, S> {
    fn item(&mut self, item: Item) -> Result<(), String> {
        if !self.capturing {
            self.sink.boundary();
        }
        match item {
            Item::None => self.sink.null(),
            Item::Bool(b) => self.sink.bool(b),
            Item::Int(i) => self.sink.int(i),
            Item::Float(f) => self.sink.float(f),
            Item::Ref(id) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(format!("the value nests deeper than {MAX_DEPTH} levels"));
                }
                self.object(id)?;
                self.depth -= 1;
            }
        }
        Ok(())
    }

    fn items(&mut self, items: &[Item]) -> Result<(), String> {
        self.sink.array(items.len());
        items.iter().try_for_each(|&i| self.item(i))
    }

    fn tagged_items(&mut self, tag: Tag, items: &[Item]) -> Result<(), String> {
        self.sink.begin(tag);
        self.items(items)?;
        self.sink.end();
        Ok(())
    }

    fn object(&mut self, id: ObjectId) -> Result<(), String> {
        let object = self.value.get(id);
        let count = self.counts[id.index()];
        if count > 1 && shareable(object) {
            if count == WRITTEN {
                self.sink.begin(Tag::SharedRef);
                self.sink.int(i64::from(self.shared_numbers[&id.0]));
                self.sink.end();
                return Ok(());
            }
            let number = self.shared_numbers.len() as u32;
            self.shared_numbers.insert(id.0, number);
            self.counts[id.index()] = WRITTEN;
            self.sink.begin(Tag::Shareable);
            self.body(object)?;
            self.sink.end();
            return Ok(());
        }
        self.body(object)
    }

    fn body(&mut self, object: &Object) -> Result<(), String> {
        let sink = &mut *self.sink;
        match object {
            Object::BigInt(b) => sink.bigint(b),
            Object::Complex { re, im } => {
                sink.begin(Tag::Complex);
                sink.array(2);
                sink.float(*re);
                sink.float(*im);
                sink.end();
            }
            Object::Str(s) => sink.text(s),
            Object::Bytes(b) => sink.bytes(b),
            Object::ByteArray(b) => {
                sink.begin(Tag::ByteArray);
                sink.bytes(b);
                sink.end();
            }
            Object::List(items) => self.items(items)?,
            Object::Tuple(items) => self.tagged_items(Tag::Tuple, items)?,
            Object::Set(items) => self.tagged_items(Tag::Set, items)?,
            Object::FrozenSet(items) => self.tagged_items(Tag::FrozenSet, items)?,
            Object::Dict(dict) => {
                sink.map(dict.len());
                // Over the slices: the hot loop of a records file.
                match dict.record_parts() {
                    Some((table, values)) => self.record(table, values)?,
                    None => {
                        for (key, value) in dict {
                            self.item(key)?;
                            self.item(value)?;
                        }
                    }
                }
            }
            Object::Global(g) => {
                sink.begin(Tag::Global);
                sink.array(2);
                sink.text(&g.module);
                sink.text(&g.name);
                sink.end();
            }
            Object::Extension(code) => {
                sink.begin(Tag::Extension);
                sink.int(i64::from(*code));
                sink.end();
            }
            Object::PersistentId(pid) => {
                sink.begin(Tag::PersistentId);
                self.item(*pid)?;
                self.sink.end();
            }
            Object::Buffer { index, readonly } => {
                sink.begin(Tag::Buffer);
                sink.array(2);
                sink.int(i64::from(*index));
                sink.bool(*readonly);
                sink.end();
            }
            Object::Instance(inst) => self.instance(inst)?,
        }
        Ok(())
    }

    /// A dict's entries whose keys are a shared table: the keys' bytes are written once and
    /// copied for the other records, when the sink can and every key always encodes the same
    /// (no shared-reference numbering in them).
    fn record(&mut self, table: &SharedKeys, values: &PackedItems) -> Result<(), String> {
        // Only keys are captured, and the keys whose bytes are kept hold no dicts.
        debug_assert!(!self.capturing);
        let ptr = Arc::as_ptr(table);
        let first = match self.last_encoded.0 == ptr {
            true => Some(self.last_encoded.1),
            false => self.key_encodings.get(&ptr).map(|&(_, first)| first),
        };
        if let Some(first) = first {
            self.last_encoded = (ptr, first);
            // The depth bound holds for copied keys as for written ones.
            if self.depth >= MAX_DEPTH && table.iter().any(|k| matches!(k, Item::Ref(_))) {
                return Err(format!("the value nests deeper than {MAX_DEPTH} levels"));
            }
            // The entries stop at the shorter of keys and values, as below.
            for (i, v) in values.iter().take(table.len()).enumerate() {
                let span = self.key_spans[first + i].clone();
                self.sink.raw(&self.key_bytes[span]);
                // Scalars straight to the sink, as `item` would write them, with no boundary
                // before them: past its limit a streaming sink holds at most one record's
                // scalar entries (keys whose bytes are kept here, values of 9 bytes or less).
                match v {
                    Item::None => self.sink.null(),
                    Item::Bool(b) => self.sink.bool(b),
                    Item::Int(i) => self.sink.int(i),
                    Item::Float(f) => self.sink.float(f),
                    // A str is written the same however often it is referenced (it is not
                    // shareable), one level down, as `item` would.
                    Item::Ref(id) => match self.value.get(id) {
                        Object::Str(s) if self.depth < MAX_DEPTH => {
                            self.sink.boundary();
                            self.sink.text(s);
                        }
                        _ => self.item(v)?,
                    },
                }
            }
            return Ok(());
        }
        let cacheable = self.sink.written().is_some() && table.iter().all(|&k| self.constant(k));
        // This table's key spans, kept aside until its last key: the values between its keys
        // may be records of other tables, whose keys are kept meanwhile.
        let mut spans = Vec::new();
        for (&k, v) in table.iter().zip(values) {
            if cacheable {
                let start = self.sink.written().unwrap_or(0);
                self.capturing = true;
                let written = self.item(k);
                self.capturing = false;
                written?;
                let bytes = self.sink.since(start);
                let at = self.key_bytes.len();
                self.key_bytes.extend_from_slice(bytes);
                spans.push(at..self.key_bytes.len());
            } else {
                self.item(k)?;
            }
            self.item(v)?;
        }
        if cacheable {
            let first = self.key_spans.len();
            self.key_spans.extend(spans);
            self.key_encodings
                .insert(Arc::as_ptr(table), (table.clone(), first));
        }
        Ok(())
    }

    /// Whether `item` is written the same wherever it is: a scalar, or an object that is never
    /// shareable (those hold nothing).
    fn constant(&self, item: Item) -> bool {
        match item {
            Item::Ref(id) => !shareable(self.value.get(id)),
            _ => true,
        }
    }

    /// `"module:qualname"` and the argument list, when the call can be written as a tag 27 array.
    fn call_parts(&self, inst: &Instance) -> Option<(String, &'v [Item])> {
        let value: &'v Value = self.value;
        let Some(Object::Global(g)) = value.object(inst.callable) else {
            return None;
        };
        let (module, name) = (&g.module, &g.name);
        if module.contains(':') {
            return None;
        }
        let Item::Ref(args) = inst.args else {
            return None;
        };
        match value.get(args) {
            Object::Tuple(items) if self.counts[args.index()] <= 1 => {
                Some((format!("{module}:{name}"), items))
            }
            _ => None,
        }
    }

    fn instance(&mut self, inst: &Instance) -> Result<(), String> {
        match numpy::recognize(self.value, inst) {
            Some(Recognized::Array(array)) => {
                self.sink.ndarray(&array);
                return Ok(());
            }
            Some(Recognized::Scalar(array)) => {
                self.sink.begin(Tag::Scalar);
                self.sink.ndarray(&array);
                self.sink.end();
                return Ok(());
            }
            None => {}
        }
        let call = self.call_parts(inst);
        let plain = inst.kind == CallKind::Reduce
            && inst.kwargs.is_none()
            && inst.state.is_empty()
            && inst.list_items.is_empty()
            && inst.dict_items.is_empty()
            && inst.set_items.is_empty();
        if let (true, Some((name, args))) = (plain, &call) {
            return self.call(name, args);
        }
        let fields = 1
            + usize::from(call.is_none())
            + usize::from(inst.kind != CallKind::Reduce)
            + usize::from(inst.kwargs.is_some())
            + usize::from(!inst.state.is_empty())
            + usize::from(!inst.list_items.is_empty())
            + usize::from(!inst.dict_items.is_empty())
            + usize::from(!inst.set_items.is_empty());
        self.sink.begin(Tag::Object);
        self.sink.map(fields);
        match &call {
            Some((name, args)) => {
                self.sink.text("new");
                self.call(name, args)?;
            }
            None => {
                self.sink.text("callable");
                self.item(inst.callable)?;
                self.sink.text("args");
                self.item(inst.args)?;
            }
        }
        if inst.kind != CallKind::Reduce {
            self.sink.text("kind");
            self.sink.text(kind_name(inst.kind));
        }
        if let Some(kwargs) = inst.kwargs {
            self.sink.text("kwargs");
            self.item(kwargs)?;
        }
        if !inst.state.is_empty() {
            self.sink.text("state");
            self.items(&inst.state)?;
        }
        if !inst.list_items.is_empty() {
            self.sink.text("listitems");
            self.items(&inst.list_items)?;
        }
        if !inst.dict_items.is_empty() {
            self.sink.text("dictitems");
            self.sink.array(inst.dict_items.len());
            for &(k, v) in &inst.dict_items {
                self.sink.array(2);
                self.item(k)?;
                self.item(v)?;
            }
        }
        if !inst.set_items.is_empty() {
            self.sink.text("setitems");
            self.items(&inst.set_items)?;
        }
        self.sink.end();
        Ok(())
    }

    fn call(&mut self, name: &str, args: &[Item]) -> Result<(), String> {
        self.sink.begin(Tag::Call);
        self.sink.array(1 + args.len());
        self.sink.text(name);
        args.iter().try_for_each(|&a| self.item(a))?;
        self.sink.end();
        Ok(())
    }
}

fn kind_name(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Reduce => "reduce",
        CallKind::NewObj => "newobj",
        CallKind::NewObjEx => "newobj_ex",
        CallKind::Inst => "inst",
        CallKind::Obj => "obj",
    }
}

fn kind_of(name: &str) -> Option<CallKind> {
    Some(match name {
        "reduce" => CallKind::Reduce,
        "newobj" => CallKind::NewObj,
        "newobj_ex" => CallKind::NewObjEx,
        "inst" => CallKind::Inst,
        "obj" => CallKind::Obj,
        _ => return None,
    })
}

/// Builds a [`Value`] from one item of `source`.
pub fn read<'a>(source: &mut impl Source<'a>) -> Result<Value, String> {
    let mut reader = Reader {
        value: Value::new(),
        shared: Vec::new(),
        depth: 0,
        map_depth: 0,
        key_tables: Vec::new(),
    };
    let root = reader.item(source)?;
    reader.value.set_root(root);
    Ok(reader.value)
}

struct Reader {
    value: Value,
    shared: Vec<Item>,
    depth: usize,
    /// How many maps the map being read is inside.
    map_depth: usize,
    /// By map depth, the keys of the last map read there whose keys were a few distinct strs,
    /// and, once a later map there had the same keys, the key table they share.
    key_tables: Vec<KeyTable>,
}

/// See [`Reader::map`].
#[derive(Default)]
struct KeyTable {
    keys: Vec<Item>,
    shared: Option<SharedKeys>,
}

/// Maps with more keys than this never share them (the distinctness check is quadratic).
const MAX_SHARED_KEYS: usize = 32;

impl Reader {
    fn item<'a>(&mut self, src: &mut impl Source<'a>) -> Result<Item, String> {
        let event = src.next()?;
        self.event(event, src)
    }

    fn event<'a>(&mut self, event: Event<'a>, src: &mut impl Source<'a>) -> Result<Item, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("the input nests deeper than {MAX_DEPTH} levels"));
        }
        let item = match event {
            Event::Null => Item::None,
            Event::Bool(b) => Item::Bool(b),
            Event::Int(i) => Item::Int(i),
            Event::Big(b) => match i64::try_from(&b) {
                Ok(i) => Item::Int(i),
                Err(_) => self.value.push(Object::BigInt(Box::new(b))),
            },
            Event::Float(f) => Item::Float(f),
            Event::Text(s) => self.value.push(Object::Str(s.into())),
            Event::Bytes(b) => self.value.push(Object::Bytes(b.into_owned())),
            Event::Array(n) => {
                let items = self.elements(n, src)?;
                self.value.push(Object::List(items))
            }
            Event::Map(n) => {
                self.map_depth += 1;
                let dict = self.map(n, src);
                self.map_depth -= 1;
                self.value.push(Object::Dict(dict?))
            }
            Event::Tag(tag) => {
                let item = self.tagged(tag, src)?;
                src.end()?;
                item
            }
            Event::NdArray(array) => numpy::rebuild(&mut self.value, &array, false)?,
        };
        self.depth -= 1;
        Ok(item)
    }

    /// A map of `n` pairs. A map whose keys are, in order, the strs of the last map read at
    /// its depth shares their key table, as the records of a pickle do: a list of records reads
    /// its keys once, not once per record (CBOR and MessagePack have no shared strs).
    fn map<'a>(&mut self, n: usize, src: &mut impl Source<'a>) -> Result<Dict, String> {
        let level = self.map_depth;
        if self.key_tables.len() < level {
            self.key_tables.resize_with(level, KeyTable::default);
        }
        // Taken out while the map is read: maps inside it have their own.
        let table = std::mem::take(&mut self.key_tables[level - 1]);
        let mut same = n > 0 && table.keys.len() == n;
        let mut flat = Vec::with_capacity(2 * n.min(4096));
        for i in 0..n {
            let event = src.next()?;
            let key = match &event {
                Event::Text(text) if same && self.is_str(table.keys[i], text) => {
                    if self.depth >= MAX_DEPTH {
                        return Err(format!("the input nests deeper than {MAX_DEPTH} levels"));
                    }
                    table.keys[i]
                }
                _ => {
                    same = false;
                    self.event(event, src)?
                }
            };
            flat.push(key);
            flat.push(self.item(src)?);
        }
        if same {
            let shared = table
                .shared
                .clone()
                .unwrap_or_else(|| Arc::new(table.keys.clone().into_boxed_slice()));
            let values = flat.iter().skip(1).step_by(2).copied().collect();
            let dict = Dict::with_shared_keys(shared.clone(), values);
            self.key_tables[level - 1] = KeyTable {
                keys: table.keys,
                shared: Some(shared),
            };
            return Ok(dict);
        }
        let mut table = table;
        if n > 0 && n <= MAX_SHARED_KEYS && self.distinct_strs(flat.iter().step_by(2)) {
            table.keys.clear();
            table.keys.extend(flat.iter().step_by(2));
            table.shared = None;
        }
        self.key_tables[level - 1] = table;
        Ok(Dict::from_flat(flat))
    }

    fn is_str(&self, item: Item, text: &str) -> bool {
        matches!(item, Item::Ref(id) if matches!(self.value.get(id), Object::Str(s) if s == text))
    }

    fn distinct_strs<'k>(&self, keys: impl Iterator<Item = &'k Item> + Clone) -> bool {
        let text = |item: &Item| match item {
            Item::Ref(id) => match self.value.get(*id) {
                Object::Str(s) => Some(s.as_str()),
                _ => None,
            },
            _ => None,
        };
        keys.clone()
            .enumerate()
            .all(|(i, a)| text(a).is_some_and(|a| keys.clone().take(i).all(|b| text(b) != Some(a))))
    }

    fn elements<'a>(&mut self, n: usize, src: &mut impl Source<'a>) -> Result<Vec<Item>, String> {
        let mut items = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            items.push(self.item(src)?);
        }
        Ok(items)
    }

    fn array<'a>(&mut self, src: &mut impl Source<'a>, what: &str) -> Result<Vec<Item>, String> {
        match src.next()? {
            Event::Array(n) => self.elements(n, src),
            other => Err(format!(
                "{what}: expected an array, found {}",
                describe(&other)
            )),
        }
    }

    fn text<'a>(&mut self, src: &mut impl Source<'a>, what: &str) -> Result<String, String> {
        match src.next()? {
            Event::Text(s) => Ok(s.into_owned()),
            other => Err(format!(
                "{what}: expected a text string, found {}",
                describe(&other)
            )),
        }
    }

    fn int<'a>(&mut self, src: &mut impl Source<'a>, what: &str) -> Result<i64, String> {
        match src.next()? {
            Event::Int(i) => Ok(i),
            other => Err(format!(
                "{what}: expected an int, found {}",
                describe(&other)
            )),
        }
    }

    fn float(&self, item: Item, what: &str) -> Result<f64, String> {
        match item {
            Item::Float(f) => Ok(f),
            Item::Int(i) => Ok(i as f64),
            _ => Err(format!("{what}: expected a float")),
        }
    }

    fn tagged<'a>(&mut self, tag: Tag, src: &mut impl Source<'a>) -> Result<Item, String> {
        Ok(match tag {
            Tag::Shareable => {
                let slot = self.value.push(Object::List(Vec::new()));
                let Item::Ref(slot_id) = slot else {
                    unreachable!()
                };
                let index = self.shared.len();
                self.shared.push(slot);
                let inner = self.item(src)?;
                match inner {
                    // The object just made: move it into the slot the references point at.
                    Item::Ref(id) if id > slot_id => {
                        let object =
                            std::mem::replace(self.value.get_mut(id), Object::List(Vec::new()));
                        *self.value.get_mut(slot_id) = object;
                        slot
                    }
                    other => {
                        self.shared[index] = other;
                        other
                    }
                }
            }
            Tag::SharedRef => {
                let index = self.int(src, "a shared reference")?;
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.shared.get(i).copied())
                    .ok_or_else(|| format!("reference to shared value {index}, not yet seen"))?
            }
            Tag::Tuple => {
                let items = self.array(src, "a tuple")?;
                self.value.push(Object::Tuple(items))
            }
            Tag::Set => {
                let items = self.array(src, "a set")?;
                self.value.push(Object::Set(items))
            }
            Tag::FrozenSet => {
                let items = self.array(src, "a frozenset")?;
                self.value.push(Object::FrozenSet(items))
            }
            Tag::ByteArray => match src.next()? {
                Event::Bytes(b) => self.value.push(Object::ByteArray(b.into_owned())),
                other => {
                    return Err(format!(
                        "a bytearray: expected a byte string, found {}",
                        describe(&other)
                    ))
                }
            },
            Tag::Complex => {
                let parts = self.array(src, "a complex")?;
                let [re, im] = parts[..] else {
                    return Err("a complex: expected [re, im]".into());
                };
                let (re, im) = (self.float(re, "a complex")?, self.float(im, "a complex")?);
                self.value.push(Object::Complex { re, im })
            }
            Tag::Global => {
                match src.next()? {
                    Event::Array(2) => {}
                    _ => return Err("a global: expected [module, qualname]".into()),
                }
                let module = self.text(src, "a global's module")?;
                let name = self.text(src, "a global's name")?;
                self.value.push(Object::global(module, name))
            }
            Tag::Extension => {
                let code = self.int(src, "an extension code")?;
                let code = i32::try_from(code).map_err(|_| "extension code out of range")?;
                self.value.push(Object::Extension(code))
            }
            Tag::PersistentId => {
                let pid = self.item(src)?;
                self.value.push(Object::PersistentId(pid))
            }
            Tag::Buffer => {
                let parts = self.array(src, "a buffer")?;
                let [Item::Int(index), Item::Bool(readonly)] = parts[..] else {
                    return Err("a buffer: expected [index, readonly]".into());
                };
                let index = u32::try_from(index).map_err(|_| "buffer index out of range")?;
                self.value.push(Object::Buffer { index, readonly })
            }
            Tag::Scalar => match src.next()? {
                Event::NdArray(array) => numpy::rebuild(&mut self.value, &array, true)?,
                other => {
                    return Err(format!(
                        "a numpy scalar: expected a typed array, found {}",
                        describe(&other)
                    ))
                }
            },
            Tag::Call => {
                let (callable, args) = self.call(src)?;
                let inst = Instance::new(CallKind::Reduce, callable, args, None);
                self.value.push(Object::Instance(Box::new(inst)))
            }
            Tag::Object => self.object(src)?,
        })
    }

    /// The callable and the argument tuple of a call array.
    fn call<'a>(&mut self, src: &mut impl Source<'a>) -> Result<(Item, Item), String> {
        let n = match src.next()? {
            Event::Array(n) if n >= 1 => n,
            _ => return Err("a call: expected [\"module:qualname\", arg, ...]".into()),
        };
        let name = self.text(src, "a call's type name")?;
        let Some((module, name)) = name.split_once(':') else {
            return Err(format!(
                "a call's type name {name:?} is not \"module:qualname\""
            ));
        };
        let callable = self.value.push(Object::global(module, name));
        let args = self.elements(n - 1, src)?;
        let args = self.value.push(Object::Tuple(args));
        Ok((callable, args))
    }

    fn object<'a>(&mut self, src: &mut impl Source<'a>) -> Result<Item, String> {
        let Event::Map(n) = src.next()? else {
            return Err("an object: expected a map".into());
        };
        let (mut callable, mut args) = (None, None);
        let mut inst = Instance::new(CallKind::Reduce, Item::None, Item::None, None);
        for _ in 0..n {
            let key = self.text(src, "an object's field")?;
            match key.as_str() {
                "new" => {
                    match src.next()? {
                        Event::Tag(Tag::Call) => {}
                        _ => return Err("an object's \"new\": expected a call".into()),
                    }
                    let (c, a) = self.call(src)?;
                    src.end()?;
                    (callable, args) = (Some(c), Some(a));
                }
                "callable" => callable = Some(self.item(src)?),
                "args" => args = Some(self.item(src)?),
                "kind" => {
                    let name = self.text(src, "an object's kind")?;
                    inst.kind =
                        kind_of(&name).ok_or_else(|| format!("unknown call kind {name:?}"))?;
                }
                "kwargs" => inst.kwargs = Some(self.item(src)?),
                "state" => inst.state = self.array(src, "an object's state")?,
                "listitems" => inst.list_items = self.array(src, "an object's listitems")?,
                "setitems" => inst.set_items = self.array(src, "an object's setitems")?,
                "dictitems" => {
                    let Event::Array(pairs) = src.next()? else {
                        return Err("an object's dictitems: expected an array".into());
                    };
                    for _ in 0..pairs {
                        let pair = self.array(src, "a dictitems pair")?;
                        let [k, v] = pair[..] else {
                            return Err("a dictitems pair: expected [key, value]".into());
                        };
                        inst.dict_items.push((k, v));
                    }
                }
                other => return Err(format!("unknown object field {other:?}")),
            }
        }
        let (Some(callable), Some(args)) = (callable, args) else {
            return Err(
                "an object without its call (\"new\", or \"callable\" and \"args\")".into(),
            );
        };
        inst.callable = callable;
        inst.args = args;
        Ok(self.value.push(Object::Instance(Box::new(inst))))
    }
}

fn describe(event: &Event<'_>) -> &'static str {
    match event {
        Event::Null => "null",
        Event::Bool(_) => "a bool",
        Event::Int(_) | Event::Big(_) => "an int",
        Event::Float(_) => "a float",
        Event::Text(_) => "a text string",
        Event::Bytes(_) => "a byte string",
        Event::Array(_) => "an array",
        Event::Map(_) => "a map",
        Event::Tag(_) => "a tagged item",
        Event::NdArray(_) => "a typed array",
    }
}

/// The globals a value references (every `Global` and extension reachable from its root), as the
/// policy sees them: called when something calls them, built when that call gets BUILD state.
pub fn globals(value: &Value) -> Vec<GlobalRef> {
    let counts = reference_counts(value);
    let mut usage: Vec<Usage> = vec![Usage::default(); value.len()];
    for (i, object) in value.objects().iter().enumerate() {
        if counts[i] == 0 {
            continue;
        }
        if let Object::Instance(inst) = object {
            if let Item::Ref(c) = inst.callable {
                usage[c.index()].called = true;
                usage[c.index()].built |= !inst.state.is_empty();
            }
        }
    }
    let mut out = Vec::new();
    for (i, object) in value.objects().iter().enumerate() {
        if counts[i] == 0 {
            continue;
        }
        let target = match object {
            Object::Global(g) => Target::Named {
                module: g.module.clone(),
                name: g.name.clone(),
            },
            Object::Extension(code) => Target::Extension(*code),
            _ => continue,
        };
        out.push(GlobalRef {
            target,
            offset: 0,
            opcode: "GLOBAL",
            protocol: 4,
            pickle: 0,
            usage: usage[i],
            member: None,
        });
    }
    out
}

/// A data format's [`crate::Format::decode_value_passing`]: `read` builds the value (telling
/// `passed` how far it has read), then its globals are judged with `policy`, so that a crafted
/// file cannot smuggle a dangerous call into a pickle.
pub fn read_judged(
    bytes: &[u8],
    policy: &Policy,
    passed: &dyn Fn(usize),
    read: fn(&[u8], Progress<'_>) -> crate::Result<Value>,
) -> crate::Result<Value> {
    let value = read(bytes, Progress::new(passed))?;
    judge(&value, policy)?;
    Ok(value)
}

/// Judges the globals `value` references with `policy`: an unsafe value is refused.
pub fn judge(value: &Value, policy: &Policy) -> crate::Result<()> {
    let verdict = policy.judge(&globals(value));
    if verdict.accepted() {
        Ok(())
    } else {
        Err(crate::Error::unsafe_content(verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dict;

    fn index(item: Item) -> usize {
        match item {
            Item::Ref(id) => id.index(),
            other => panic!("{other:?} is not a reference"),
        }
    }

    /// The counts as a plain walk makes them: every reference through the stack.
    fn plain_counts(value: &Value) -> Vec<u8> {
        let mut counts = vec![0u8; value.len()];
        let mut stack = Vec::new();
        if let Item::Ref(id) = value.root() {
            stack.push(id);
        }
        while let Some(id) = stack.pop() {
            let count = &mut counts[id.index()];
            *count = (*count + 1).min(MAX_COUNT);
            if *count > 1 {
                continue;
            }
            value.objects()[id.index()].for_each_child(|c| {
                if let Item::Ref(c) = c {
                    stack.push(c)
                }
            });
        }
        counts
    }

    /// Leaves counted where they are found, and a key table's keys counted for its first
    /// records only, give the counts of a plain walk.
    #[test]
    fn reference_counts_are_those_of_a_plain_walk() {
        let mut value = Value::new();
        let leaves = [
            value.push(Object::Str("once".into())),
            value.push(Object::Str("twice".into())),
            value.push(Object::Bytes(vec![1])),
            value.push(Object::global("m", "f")),
            value.push(Object::BigInt(Box::new(BigInt::from(1u128 << 90)))),
            value.push(Object::Complex { re: 1.0, im: 2.0 }),
            value.push(Object::ByteArray(vec![2])),
            value.push(Object::Extension(3)),
            value.push(Object::Buffer {
                index: 0,
                readonly: true,
            }),
        ];
        let unreached = value.push(Object::Str("unreached".into()));
        let key = value.push(Object::Str("k".into()));
        let tuple_key = value.push(Object::Tuple(vec![leaves[0]]));
        let table: SharedKeys = Arc::new(vec![key, tuple_key, Item::Int(1)].into_boxed_slice());
        let shared_list = value.push(Object::List(vec![leaves[1], leaves[2]]));
        let mut list = vec![leaves[1], shared_list];
        for (i, &leaf) in leaves.iter().enumerate() {
            let own = value.push(Object::Str(format!("r{i}").into()));
            let values = vec![leaf, own, if i % 2 == 0 { shared_list } else { Item::None }];
            list.push(value.push(Object::Dict(Dict::with_shared_keys(
                table.clone(),
                values.into(),
            ))));
        }
        let root = value.push(Object::List(list));
        value.set_root(root);
        let counts = reference_counts(&value);
        assert_eq!(counts, plain_counts(&value));
        assert_eq!(counts[index(unreached)], 0);
        assert_eq!(counts[index(leaves[1])], MAX_COUNT);
        assert_eq!(counts[index(leaves[3])], 1);
        // A leaf at the root.
        let mut single = Value::new();
        let s = single.push(Object::Str("root".into()));
        single.set_root(s);
        assert_eq!(reference_counts(&single), [1]);
    }
}
