//! The symbolic pickle machine: CPython's unpickler with every call replaced by a record.
//!
//! It runs every opcode on a real stack, mark stack and memo, so whatever a pickle computes its
//! import names from (memo, DUP, STRING opcodes, values planted earlier) is seen exactly as
//! CPython would see it. Every global reference becomes a [`GlobalRef`] with how it is used;
//! calls become symbolic [`Instance`]s, except calls of a few safe data constructors, which are
//! folded into plain objects.
//!
//! One machine serves both entry points: `analyze` runs it with `build = false` (only what name
//! resolution, usage and findings need: strs, tuples, globals and the kind of every object;
//! payloads are never copied), `load` with `build = true` (every container filled, then exported
//! as a [`Value`]).
//!
//! Where CPython would stop with an error the machine stops too, except where the outcome
//! depends on the loader (memo misses, STACK_GLOBAL operands that may not be str, undecodable
//! Python 2 strs, out-of-band data) or where the pure-Python unpickler reads on (frames): those
//! become [`Finding`]s and the machine carries on, so that nothing a loader could reach is
//! hidden from the caller.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;

use num_bigint::BigInt;
use std::sync::Arc;

use pypickle_core::{
    CallKind, CompactString, Dict, GlobalRef, Instance, Item, Object, ObjectId, PackedItems, Row,
    Rows, SharedKeys, Target, Usage, Value,
};

use crate::opcodes::Op;
use crate::reader::{byte_repr, decode_arg, decode_float8, decode_int, decode_utf8, Arg, ArgError};

/// Bounds on what a pickle may make the machine do. Exceeding one stops the machine with an
/// error naming the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How deeply built values may nest (a list in a list is depth 2). Checked by `load` only:
    /// `analyze` builds no values. `usize::MAX`: not counted at all (no table of two bytes a
    /// node), for a caller whose own walk of the value bounds its depth (`pypickle::convert`).
    pub max_depth: usize,
    /// Memo entries (distinct indices) per pickle.
    pub max_memo: usize,
    /// Opcodes executed over all the pickles of the input.
    pub max_opcodes: u64,
    /// Total size of built values: payload bytes plus one per object and per container slot.
    /// Shared references (GET, DUP) count once, so this grows with the input, never faster.
    /// Checked by `load` only.
    pub max_value_size: u64,
    /// Stack entries plus open marks.
    pub max_stack: usize,
    /// Findings kept; later ones are counted, not kept.
    pub max_findings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 10_000,
            max_memo: 1 << 24,
            max_opcodes: 1 << 34,
            max_value_size: 1 << 32,
            max_stack: 1 << 24,
            max_findings: 1000,
        }
    }
}

/// How Python 2 `str` objects (STRING, BINSTRING, SHORT_BINSTRING) are decoded: the
/// `encoding` argument of `pickle.load`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// CPython's default: non-ASCII bytes make `pickle.load` fail. The machine reports that
    /// ([`FindingKind::UndecodableString`]) and reads them as Latin-1, as a loader told
    /// `encoding='latin1'` (numpy's advice for Python 2 files) would.
    #[default]
    Ascii,
    Latin1,
    /// Undecodable bytes are reported and read as Latin-1, as for ASCII.
    Utf8,
    /// `encoding='bytes'`: Python 2 strs stay bytes.
    Bytes,
}

/// How to run the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub limits: Limits,
    pub encoding: Encoding,
    /// Apply CPython's `fix_imports` remapping of Python 2 names under protocols 0-2
    /// (CPython's default: on).
    pub fix_imports: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            encoding: Encoding::default(),
            fix_imports: true,
        }
    }
}

/// What a [`Finding`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FindingKind {
    /// A FRAME whose length disagrees with where the opcodes in it end, or that runs past the
    /// end of the data (CPython's C unpickler fails there; the Python one reads on).
    FrameMismatch,
    /// PROTO that is not the first opcode of its pickle.
    ProtoNotFirst,
    /// A second PROTO in one pickle.
    ProtoRepeated,
    /// An opcode newer than the protocol the pickle declared (no pickler writes one).
    OpcodeAboveProtocol,
    /// GET of an empty memo slot (CPython fails here). A None placeholder is pushed.
    MemoMiss,
    /// STACK_GLOBAL whose two operands are not both str: the reference is recorded with the
    /// unresolvable target `<unresolved>.<unresolved>`.
    UnresolvedGlobal,
    /// BUILD giving state to an imported object: planting attributes on a function, class or
    /// module (a published scanner bypass).
    StateOnGlobal,
    /// BUILD on something no call made (a list, a str, ...).
    StateOnOther,
    /// APPEND(S), SETITEM(S) or ADDITEMS on an imported object: calls its methods.
    ItemsOnGlobal,
    /// APPEND(S), SETITEM(S), ADDITEMS or READONLY_BUFFER on an object without that method
    /// (CPython fails here).
    ItemsOnOther,
    /// A Python 2 str the encoding cannot decode (CPython fails here under its default
    /// encoding); read as Latin-1.
    UndecodableString,
    /// A str holding lone surrogates (CPython allows them), replaced by U+FFFD.
    LoneSurrogates,
    /// Another pickle after a STOP: each adds a root (`pickle.load` called again reads it).
    StackedPickle,
    /// Bytes after a STOP that do not form a complete pickle.
    TrailingData,
    /// STOP with more than one value on the stack or with marks open (CPython ignores them).
    LeftoverStack,
    /// Findings beyond [`Limits::max_findings`] were dropped.
    TooManyFindings,
}

/// Something suspicious or invalid the machine saw and went past.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Offset of the opcode concerned.
    pub offset: u64,
    /// Which pickle of a stacked input.
    pub pickle: usize,
    pub kind: FindingKind,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

/// Why the machine stopped before the end of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickleError {
    /// Offset of the opcode at fault (or of the end of the data for a missing STOP).
    pub offset: u64,
    pub message: String,
    /// True when a [`Limits`] bound was exceeded (the input may be valid).
    pub limit: bool,
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for PickleError {}

/// Everything a run produced, before the value is exported.
pub(crate) struct Outcome<'a> {
    pub globals: Vec<GlobalRef>,
    pub findings: Vec<Finding>,
    pub error: Option<PickleError>,
    pub roots: Vec<Val>,
    /// The stack when the machine stopped on an error.
    pub partial: Vec<Val>,
    pub protocols: Vec<u8>,
    pub opcodes: u64,
    pub(crate) nodes: Vec<Node<'a>>,
    /// The values of the nodes' records.
    pub(crate) rows: Rows,
    /// Whether the depths counted while building are exact (no container took children
    /// after it was nested), so that export need not measure the graph.
    pub depths_exact: bool,
    /// Whether no value was ever let go of, so that every object is reachable from the roots.
    pub all_reachable: bool,
}

/// An object of the machine's arena. Mirrors [`Object`] but borrows payloads from the input
/// and defers conversions until a value is exported.
#[derive(Clone, Debug)]
pub(crate) enum Node<'a> {
    BigInt(Box<BigInt>),
    /// LONG1/LONG4 bytes, converted on export.
    Long(&'a [u8]),
    Complex(f64, f64),
    /// Copied out of the input when made (inline up to 24 bytes), so that a load can hand the
    /// pages it has passed back to the kernel ([`Machine::releasing`]).
    Str(CompactString),
    Bytes(Cow<'a, [u8]>),
    ByteArray(Cow<'a, [u8]>),
    // Containers hold core Items, so that export moves them as they are.
    List(Vec<Item>),
    /// The slots as the stack held them (built values hold no [`Val::Text`]); converted to
    /// `Item`s in place on export.
    Tuple(Vec<Val>),
    Dict(Vec<(Item, Item)>),
    /// A dict filled from empty by one SETITEMS with the key objects of the dict filled before
    /// it: a record, whose keys are shared (see [`Dict`]). Taking more items makes it a
    /// [`Node::Dict`] again.
    Record {
        keys: SharedKeys,
        /// The values, in the machine's [`Rows`].
        row: Row,
    },
    Set(Vec<Item>),
    FrozenSet(Vec<Item>),
    /// An imported object: index of its [`GlobalRef`].
    Global(u32),
    Instance(Box<Instance>),
    PersistentId(Item),
    Buffer {
        index: u32,
        readonly: bool,
    },
}

// What lets export turn the arena into objects in place.
const _: () = assert!(
    std::mem::size_of::<Node<'static>>() == std::mem::size_of::<Object>()
        && std::mem::align_of::<Node<'static>>() == std::mem::align_of::<Object>()
);

impl Node<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Node::BigInt(_) | Node::Long(_) => "int",
            Node::Complex(..) => "complex",
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::ByteArray(_) => "bytearray",
            Node::List(_) => "list",
            Node::Tuple(_) => "tuple",
            Node::Dict(_) | Node::Record { .. } => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Global(_) => "global",
            Node::Instance(_) => "instance",
            Node::PersistentId(_) => "persistent id",
            Node::Buffer { .. } => "buffer",
        }
    }

    /// How many items [`Node::for_each_child`] gives.
    fn child_count(&self) -> usize {
        match self {
            Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.len(),
            Node::Tuple(v) => v.len(),
            Node::Dict(pairs) => 2 * pairs.len(),
            Node::Record { keys, .. } => 2 * keys.len(),
            Node::PersistentId(_) => 1,
            Node::Instance(inst) => {
                2 + inst.kwargs.is_some() as usize
                    + inst.state.len()
                    + inst.list_items.len()
                    + 2 * inst.dict_items.len()
                    + inst.set_items.len()
            }
            _ => 0,
        }
    }

    /// Calls `f` with every item this node holds, in [`Value::children`] order (what
    /// [`Node::child`] gives one at a time, without a search per item).
    #[inline]
    fn for_each_child(&self, rows: &Rows, mut f: impl FnMut(Item)) {
        match self {
            Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.iter().for_each(|&i| f(i)),
            Node::Tuple(v) => v.iter().for_each(|i| f(i.item())),
            Node::Dict(pairs) => pairs.iter().for_each(|&(key, value)| {
                f(key);
                f(value);
            }),
            Node::Record { keys, row } => {
                keys.iter().zip(rows.get(*row).iter()).for_each(|(&k, v)| {
                    f(k);
                    f(v);
                })
            }
            Node::PersistentId(pid) => f(*pid),
            Node::Instance(inst) => {
                let mut k = 0;
                while let Some(child) = instance_child(inst, k) {
                    f(child);
                    k += 1;
                }
            }
            _ => {}
        }
    }

    /// The `k`-th item this node holds, in [`Value::children`] order.
    fn child(&self, rows: &Rows, k: usize) -> Option<Item> {
        match self {
            Node::List(v) | Node::Set(v) | Node::FrozenSet(v) => v.get(k).copied(),
            Node::Tuple(v) => v.get(k).map(|v| v.item()),
            Node::Dict(pairs) => {
                pairs
                    .get(k / 2)
                    .map(|&(key, value)| if k.is_multiple_of(2) { key } else { value })
            }
            Node::Record { keys, row } => match k.is_multiple_of(2) {
                true => keys.get(k / 2).copied(),
                false => rows.get(*row).get(k / 2),
            },
            Node::PersistentId(pid) => (k == 0).then_some(*pid),
            Node::Instance(inst) => instance_child(inst, k),
            _ => None,
        }
    }
}

fn instance_child(inst: &Instance, mut k: usize) -> Option<Item> {
    let heads = [Some(inst.callable), Some(inst.args), inst.kwargs];
    for head in heads.into_iter().flatten() {
        if k == 0 {
            return Some(head);
        }
        k -= 1;
    }
    for list in [&inst.state, &inst.list_items] {
        if k < list.len() {
            return Some(list[k]);
        }
        k -= list.len();
    }
    if k < 2 * inst.dict_items.len() {
        let (key, value) = inst.dict_items[k / 2];
        return Some(if k.is_multiple_of(2) { key } else { value });
    }
    k -= 2 * inst.dict_items.len();
    inst.set_items.get(k).copied()
}

/// A slot of the stack, the memo and the arena's containers: core's [`Item`] with a
/// word-sized tag. Copying an `Item` (one-byte tag, payload at byte 1 or 8) compiles to
/// overlapping moves of its last 15 bytes, which stall store forwarding on every push and
/// memo read; a `Val` is two plain words. Converted to `Item` on export.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, u64)]
pub(crate) enum Val {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Ref(ObjectId),
    /// A str that is a slice of the input (UTF-8 checked when read), used when values are not
    /// built: no node for the hundreds of thousands of strs a large pickle holds.
    Text {
        at: u32,
        len: u32,
    },
    /// A tuple when values are not built: its items (where strs stay `Text` slices of the
    /// input) are `tuple_items[start..start + len]` of the machine, so that the hundreds of
    /// thousands of tuples of a large pickle cost no node and no allocation each.
    Tuple {
        start: u32,
        len: u32,
    },
}

impl Val {
    /// As core's [`Item`] (a [`Val::Text`] or [`Val::Tuple`], which built values never hold,
    /// as None).
    #[inline(always)]
    fn item(self) -> Item {
        // References first: most slots are, and a well-predicted branch beats the jump table
        // a plain `match` becomes.
        if let Val::Ref(id) = self {
            return Item::Ref(id);
        }
        match self {
            Val::None | Val::Text { .. } | Val::Tuple { .. } => Item::None,
            Val::Bool(b) => Item::Bool(b),
            Val::Int(i) => Item::Int(i),
            Val::Float(f) => Item::Float(f),
            Val::Ref(id) => Item::Ref(id),
        }
    }

    #[inline(always)]
    fn of(item: Item) -> Val {
        if let Item::Ref(id) = item {
            return Val::Ref(id);
        }
        match item {
            Item::None => Val::None,
            Item::Bool(b) => Val::Bool(b),
            Item::Int(i) => Val::Int(i),
            Item::Float(f) => Val::Float(f),
            Item::Ref(id) => Val::Ref(id),
        }
    }
}

fn items(vals: Vec<Val>) -> Vec<Item> {
    vals.into_iter().map(Val::item).collect()
}

/// When values are not built, every object but strs, tuples and globals is one shared node of
/// its shape: enough for folding decisions and findings, and nothing to allocate.
#[derive(Clone, Copy)]
enum Shape {
    BigInt,
    Complex,
    Bytes,
    ByteArray,
    List,
    Dict,
    Set,
    FrozenSet,
    Instance,
    PersistentId,
    Buffer,
}

impl Shape {
    /// The shared nodes, at the ids of their shapes.
    fn nodes<'a>() -> Vec<Node<'a>> {
        vec![
            Node::BigInt(Box::default()),
            Node::Complex(0.0, 0.0),
            Node::Bytes(Cow::Borrowed(b"")),
            Node::ByteArray(Cow::Borrowed(b"")),
            Node::List(Vec::new()),
            Node::Dict(Vec::new()),
            Node::Set(Vec::new()),
            Node::FrozenSet(Vec::new()),
            Node::Instance(Box::new(Instance::new(
                CallKind::Reduce,
                Item::None,
                Item::None,
                None,
            ))),
            Node::PersistentId(Item::None),
            Node::Buffer {
                index: 0,
                readonly: false,
            },
        ]
    }
}

/// The shared node standing for `node` when values are not built.
fn shape(node: &Node<'_>) -> Option<Shape> {
    Some(match node {
        Node::BigInt(_) | Node::Long(_) => Shape::BigInt,
        Node::Complex(..) => Shape::Complex,
        Node::Bytes(_) => Shape::Bytes,
        Node::ByteArray(_) => Shape::ByteArray,
        Node::List(_) => Shape::List,
        Node::Dict(_) | Node::Record { .. } => Shape::Dict,
        Node::Set(_) => Shape::Set,
        Node::FrozenSet(_) => Shape::FrozenSet,
        Node::Instance(_) => Shape::Instance,
        Node::PersistentId(_) => Shape::PersistentId,
        Node::Buffer { .. } => Shape::Buffer,
        Node::Str(_) | Node::Tuple(_) | Node::Global(_) => return None,
    })
}

/// The target of a STACK_GLOBAL whose operands are not both str.
pub const UNRESOLVED: &str = "<unresolved>";

/// The str a slot holds: a [`Val::Text`] slice of `data` or a str node.
fn text_of<'n>(data: &'n [u8], nodes: &'n [Node<'_>], v: Val) -> Option<&'n str> {
    match v {
        Val::Text { at, len } => {
            let bytes = data.get(at as usize..at as usize + len as usize)?;
            std::str::from_utf8(bytes).ok()
        }
        Val::Ref(id) => match nodes.get(id.index()) {
            Some(Node::Str(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// The items of a tuple: a tuple node or a [`Val::Tuple`] of `pool`.
fn tuple_items_of<'n>(nodes: &'n [Node<'_>], pool: &'n [Val], item: Val) -> Option<&'n [Val]> {
    match item {
        Val::Tuple { start, len } => pool.get(start as usize..start as usize + len as usize),
        Val::Ref(id) => match nodes.get(id.index()) {
            Some(Node::Tuple(items)) => Some(items),
            _ => None,
        },
        _ => None,
    }
}

/// A hashable view of a dict key or set element, for Python's equality: numbers equal across
/// bool/int/float, str and bytes by content, everything else by identity.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'n> {
    None,
    Int(i64),
    Float(u64),
    Str(&'n str),
    Bytes(&'n [u8]),
    Id(u32),
}

fn key_of<'n>(nodes: &'n [Node<'_>], item: Item) -> Option<Key<'n>> {
    Some(match item {
        Item::None => Key::None,
        Item::Bool(b) => Key::Int(b as i64),
        Item::Int(i) => Key::Int(i),
        Item::Float(f) => {
            if f.is_nan() {
                return None; // NaN equals nothing (not even itself, as Python keys go).
            }
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                Key::Int(f as i64)
            } else {
                Key::Float(f.to_bits())
            }
        }
        Item::Ref(id) => match nodes.get(id.index()) {
            Some(Node::Str(s)) => Key::Str(s),
            Some(Node::Bytes(b)) => Key::Bytes(b),
            _ => Key::Id(id.0),
        },
    })
}

/// The bit of a node's depth that says it is inside some container.
const NESTED: u16 = 1 << 15;
/// The deepest depth a node's slot holds (two bytes a node: a large load makes millions). A
/// deeper node is stored as this, and export measures the graph instead (see
/// [`Machine::depths_stale`]).
const DEEPEST: u16 = NESTED - 1;

/// Where `key` is among the keys of a small dict: the same item first (memoized keys), then
/// Python's equality where it differs from identity (numbers across types, str and bytes by
/// content).
#[inline]
fn small_dict_find(nodes: &[Node<'_>], pairs: &[(Item, Item)], key: Item) -> Option<usize> {
    match key {
        Item::Ref(id) => {
            if let Some(p) = pairs
                .iter()
                .position(|&(k, _)| matches!(k, Item::Ref(kid) if kid == id))
            {
                return Some(p);
            }
            // A str or bytes equal to a key held by another object.
            match nodes.get(id.index()) {
                Some(Node::Str(s)) => {
                    let s = s.as_bytes();
                    pairs.iter().position(|&(k, _)| match k {
                        Item::Ref(kid) => match nodes.get(kid.index()) {
                            Some(Node::Str(t)) => t.len() == s.len() && t.as_bytes() == s,
                            _ => false,
                        },
                        _ => false,
                    })
                }
                Some(Node::Bytes(b)) => {
                    let b: &[u8] = b;
                    pairs.iter().position(|&(k, _)| match k {
                        Item::Ref(kid) => match nodes.get(kid.index()) {
                            Some(Node::Bytes(t)) => t.len() == b.len() && **t == *b,
                            _ => false,
                        },
                        _ => false,
                    })
                }
                _ => None,
            }
        }
        _ => {
            let wanted = key_of(nodes, key)?;
            pairs
                .iter()
                .position(|&(k, _)| !matches!(k, Item::Ref(_)) && key_of(nodes, k) == Some(wanted))
        }
    }
}

/// How many entries a dict node holds.
fn pairs_len(node: &Node<'_>) -> usize {
    match node {
        Node::Dict(pairs) => pairs.len(),
        Node::Record { keys, .. } => keys.len(),
        _ => 0,
    }
}

/// Below this many entries a dict or set is searched linearly; above, through a hash index.
const INDEX_FROM: usize = 16;

/// A GET or PUT index as written: an `i64`, or past it (only Python's unpickler takes those).
enum MemoIndex {
    Small(i64),
    Big(Box<BigInt>),
}

impl MemoIndex {
    /// Its memo key: the index itself, or for an index past `i64` a key of 2^63 and up drawn
    /// from its digits (two such indices collide with a 2^-63 chance). A negative index has
    /// none: nothing is stored there.
    #[inline]
    fn key(&self) -> Option<u64> {
        match self {
            MemoIndex::Small(index) => u64::try_from(*index).ok(),
            MemoIndex::Big(index) => big_memo_key(index),
        }
    }
}

#[cold]
fn big_memo_key(index: &BigInt) -> Option<u64> {
    (index.sign() != num_bigint::Sign::Minus).then(|| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(index, &mut hasher);
        1 << 63 | std::hash::Hasher::finish(&hasher)
    })
}

impl fmt::Display for MemoIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoIndex::Small(index) => write!(f, "{index}"),
            MemoIndex::Big(index) => write!(f, "{index}"),
        }
    }
}

/// New containers, as constants: copied whole into the arena rather than assembled field by
/// field on the stack and then copied (which reads back what was just stored, and stalls).
const EMPTY_DICT: Node<'static> = Node::Dict(Vec::new());
const EMPTY_LIST: Node<'static> = Node::List(Vec::new());

/// An empty memo slot: a str slice no input can hold.
const NO_VAL: Val = Val::Text {
    at: u32::MAX,
    len: u32::MAX,
};

struct Memo {
    /// Indices written in order (the usual case) live here...
    dense: Dense,
    /// ...others here, so that a huge index never allocates.
    sparse: HashMap<u64, Val>,
    /// Entries filled: MEMOIZE's next index.
    len: usize,
    /// Whether `dense` starts as [`Dense::Ids`] (after each `clear`).
    ids: bool,
}

/// The memo's slots in index order.
enum Dense {
    /// While every entry is an object, its id alone (empty slots hold [`NO_ID`]): a built
    /// load memoizes only objects, hundreds of thousands of them in a large file, at a quarter
    /// of the size of...
    Ids(Vec<u32>),
    /// ...any value (empty slots hold [`NO_VAL`], which keeps a slot at two words where an
    /// `Option` would take three). Analysis memoizes strs as slices of the input.
    Vals(Vec<Val>),
}

/// An empty slot of [`Dense::Ids`].
const NO_ID: u32 = u32::MAX;

impl Dense {
    fn len(&self) -> usize {
        match self {
            Dense::Ids(ids) => ids.len(),
            Dense::Vals(vals) => vals.len(),
        }
    }

    /// Makes room for `val`: an id table given anything but an object becomes a value table.
    fn admit(&mut self, val: Val) {
        if let Dense::Ids(ids) = self {
            if !matches!(val, Val::Ref(id) if id.0 != NO_ID) {
                let vals = ids.iter().map(|&id| match id {
                    NO_ID => NO_VAL,
                    id => Val::Ref(ObjectId(id)),
                });
                *self = Dense::Vals(vals.collect());
            }
        }
    }

    /// The slot at `i` (which must exist), `None` if empty.
    fn slot(&self, i: usize) -> Option<Val> {
        match self {
            Dense::Ids(ids) => (ids[i] != NO_ID).then(|| Val::Ref(ObjectId(ids[i]))),
            Dense::Vals(vals) => (vals[i] != NO_VAL).then_some(vals[i]),
        }
    }

    /// Sets slot `i` (which must exist) to `val`.
    fn set(&mut self, i: usize, val: Val) {
        self.admit(val);
        match (self, val) {
            (Dense::Ids(ids), Val::Ref(id)) => ids[i] = id.0,
            (Dense::Vals(vals), val) => vals[i] = val,
            (Dense::Ids(_), _) => {} // admitted: cannot happen
        }
    }

    /// Empty slots up to `len`, then `val`.
    fn push_at(&mut self, len: usize, val: Val) {
        self.admit(val);
        match (self, val) {
            // Usually the very next slot: no call to fill a gap.
            (Dense::Ids(ids), Val::Ref(id)) => {
                if ids.len() < len {
                    ids.resize(len, NO_ID);
                }
                ids.push(id.0);
            }
            (Dense::Vals(vals), val) => {
                if vals.len() < len {
                    vals.resize(len, NO_VAL);
                }
                vals.push(val);
            }
            (Dense::Ids(_), _) => {} // admitted: cannot happen
        }
    }
}

impl Memo {
    /// A memo whose slots start as ids (for built loads), with room for `room` of them.
    fn new(ids: bool, room: usize) -> Self {
        Memo {
            dense: match ids {
                true => Dense::Ids(Vec::with_capacity(room)),
                false => Dense::Vals(Vec::with_capacity(room)),
            },
            sparse: HashMap::new(),
            len: 0,
            ids,
        }
    }

    fn clear(&mut self) {
        match &mut self.dense {
            Dense::Ids(ids) => ids.clear(),
            Dense::Vals(_) if self.ids => self.dense = Dense::Ids(Vec::new()),
            Dense::Vals(vals) => vals.clear(),
        }
        self.sparse.clear();
        self.len = 0;
    }

    #[inline]
    fn get(&self, i: u64) -> Option<Val> {
        if i < self.dense.len() as u64 {
            return self.dense.slot(i as usize);
        }
        self.sparse.get(&i).copied()
    }

    /// Stores `item`; false (and nothing changed) when that would exceed `max` entries.
    #[inline(always)]
    fn put(&mut self, index: u64, item: Val, max: usize) -> bool {
        // The usual case, inline: an object memoized in the next slot.
        if let (Dense::Ids(ids), Val::Ref(id)) = (&mut self.dense, item) {
            if index == ids.len() as u64
                && id.0 != NO_ID
                && self.len < max
                && self.sparse.is_empty()
            {
                ids.push(id.0);
                self.len += 1;
                return true;
            }
        }
        self.put_any(index, item, max)
    }

    /// [`Memo::put`] of any index and value.
    #[inline(never)]
    fn put_any(&mut self, index: u64, item: Val, max: usize) -> bool {
        let dense_len = self.dense.len() as u64;
        if index < dense_len {
            if self.dense.slot(index as usize).is_none() {
                if self.len >= max {
                    return false;
                }
                self.len += 1;
            }
            self.dense.set(index as usize, item);
            return true;
        }
        // Grow the dense part only by a little at a time: a PUT of 4 billion must not
        // allocate 4 billion slots.
        if index < dense_len + 64 && self.sparse.is_empty() {
            if self.len >= max {
                return false;
            }
            self.dense.push_at(index as usize, item);
            self.len += 1;
            return true;
        }
        if self.sparse.insert(index, item).is_none() {
            if self.len >= max {
                self.sparse.remove(&index);
                return false;
            }
            self.len += 1;
        }
        true
    }
}

/// What [`SkipAfterBuild::resume`] is shown after a BUILD of the watched class.
pub enum Offer<'v> {
    /// A copy of the instance's graph (class, arguments, states) and the instance in it.
    Built { value: &'v Value, instance: Item },
    /// The BUILD of an object some other call made, given the class or an unbuilt instance
    /// of it (`copy.copy(wrapper)`, `object.__new__(cls)`), or of an object whose BUILD state
    /// reaches the class or an instance (a slot state can set `__class__`): it may be an
    /// instance of the class, whose layout the file does not show. The caller should fail
    /// closed.
    Possible,
    /// The BUILD of an instance ends inside a FRAME that goes on past it. The array's bytes
    /// are read from the file after the frame (joblib's `read_array` reads the file, not the
    /// frame), while the opcodes go on inside it: the caller should fail closed.
    InsideFrame,
    /// The graph was not copied: the copying budget of the run is spent (see
    /// [`SkipAfterBuild`]). The caller cannot lay out what follows and should fail closed.
    TooLarge,
}

/// Where the opcodes go on after a BUILD of a watched class (see [`SkipAfterBuild`]).
pub type ResumeAt<'h> = dyn FnMut(Offer<'_>, usize) -> Option<usize> + 'h;

/// A class whose BUILDs are followed by bytes that are not opcodes: joblib writes each
/// array's raw bytes right after the BUILD of its `NumpyArrayWrapper`.
pub struct SkipAfterBuild<'h> {
    /// The class: the dotted path `module.qualname` it is imported by ends with this, at a
    /// dot (so `NumpyArrayWrapper` also watches it imported as an attribute of another module,
    /// and however a file splits the path between module and name).
    pub class: &'h str,
    /// The module whose namespace decides what the class is to the loader (joblib's
    /// `load_build` looks `NumpyArrayWrapper` up in `joblib.numpy_pickle`): a dotted path
    /// segment. A BUILD on anything a global of that module reaches, or on what a call given
    /// one returns, may rebind the class or its attributes: offered as possible.
    pub module: &'h str,
    /// Called after each BUILD of an instance of `class`: made by calling the class (REDUCE,
    /// NEWOBJ, INST, OBJ) or through copyreg's `__newobj__`, `__newobj_ex__` or
    /// `_reconstructor` with the class as first argument; and after the BUILD of what any
    /// other call returns when its callable, arguments or what they hold reach the class or an
    /// instance not built yet ([`Offer::Possible`]). Gets the [`Offer`] and the offset
    /// just past the BUILD; returns where the opcodes resume (at or past that offset, within
    /// the data), or `None` to go on right there. Copies are bounded over the whole run by
    /// [`SKIP_COPY_BUDGET`] objects and slots per input byte (at least a million), so that
    /// a small file cannot make thousands of BUILDs copy one large graph.
    pub resume: &'h mut ResumeAt<'h>,
}

/// Whether the dotted path `module.name` ends with `tail` at a dot (or is `tail`).
pub fn path_ends_with(module: &str, name: &str, tail: &str) -> bool {
    let path_len = module.len() + 1 + name.len();
    if tail.len() > path_len {
        return false;
    }
    let boundary_ok = tail.len() == path_len || {
        // The character before the tail, in `module.name`, must be a dot.
        let before = path_len - tail.len() - 1;
        match before.cmp(&module.len()) {
            std::cmp::Ordering::Less => module.as_bytes()[before] == b'.',
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Greater => name.as_bytes()[before - module.len() - 1] == b'.',
        }
    };
    if !boundary_ok {
        return false;
    }
    // Compare `tail` with the end of `module.name` without building it.
    let mut tail_bytes = tail.bytes().rev();
    name.bytes()
        .rev()
        .chain(std::iter::once(b'.'))
        .chain(module.bytes().rev())
        .take(tail.len())
        .all(|b| tail_bytes.next() == Some(b))
}

/// Objects and container slots [`SkipAfterBuild::resume`]'s copies may hold in all, per
/// input byte.
pub const SKIP_COPY_BUDGET: u64 = 8;

/// How far the cursor of a `releasing` machine moves between calls of its release function.
pub(crate) const RELEASE_STEP: usize = 1 << 20;

/// What an opcode did to the run.
enum Flow {
    Continue,
    Stop,
}

/// The machine stopped; why is in [`Machine::halted`]. A zero-sized error keeps every result
/// of the hot path in registers.
struct Halt;

type Step = Result<Flow, Halt>;

pub(crate) struct Machine<'a, 'o> {
    data: &'a [u8],
    options: &'o Options,
    skip: Option<SkipAfterBuild<'o>>,
    /// Told the offset the cursor has passed, every [`RELEASE_STEP`] bytes, by a load that
    /// copies everything it keeps out of the input ([`Machine::releasing`]).
    release: Option<&'o dyn Fn(usize)>,
    /// Where the cursor next calls `release` (`u64::MAX` without it).
    release_at: u64,
    /// Whether lists, dicts and sets keep their items and payloads are exported.
    build: bool,
    /// Whether nesting depths are counted: when values are built under a depth limit.
    count_depths: bool,

    nodes: Vec<Node<'a>>,
    /// Nesting depth of each node as built (1 for an empty container), up to [`DEEPEST`].
    depths: Vec<u16>,
    /// Hash indexes of large dicts and sets, by node.
    indexes: HashMap<u32, hashbrown::HashTable<u32>>,
    hasher: hashbrown::DefaultHashBuilder,

    stack: Vec<Val>,
    marks: Vec<usize>,
    memo: Memo,
    /// The items of [`Val::Tuple`]s.
    tuple_items: Vec<Val>,

    globals: Vec<GlobalRef>,
    findings: Vec<Finding>,
    findings_dropped: u64,
    roots: Vec<Val>,
    protocols: Vec<u8>,
    opcodes: u64,
    value_size: u64,

    // The pickle being run.
    pickle: usize,
    proto: u8,
    proto_seen: bool,
    /// Opcodes of protocols above this are reported (once per pickle).
    quiet_up_to: u8,
    /// Offset of the first opcode of the pickle being run.
    pickle_start: u64,
    /// `options.limits.max_opcodes` and `max_stack`, at hand.
    max_opcodes: u64,
    max_stack: usize,
    buffers: u32,
    frame_end: Option<u64>,
    /// `frame_end`, or `u64::MAX` outside frames.
    frame_watch: u64,
    /// The nearer of `frame_watch` and `release_at`: one comparison per opcode.
    watch: u64,
    /// Offset of the opcode being run.
    at: u64,
    /// Where the next byte is read.
    pos: usize,
    /// Why the machine stopped.
    halted: Option<PickleError>,
    /// Whether a container took children after it was itself put in another: then the
    /// depths counted on the way are low bounds, and export measures the graph.
    depths_stale: bool,
    /// Whether a value may have been let go of (popped, replaced, left on the stack of a
    /// finished pickle): only then can an object be unreachable, and export look for it.
    dropped: bool,
    /// What copies for [`SkipAfterBuild`] may still cost (objects plus slots).
    copy_budget: u64,
    /// The keys, in order, of the last dict that one SETITEMS filled from empty, all of them
    /// objects and found pairwise unequal. Records of one kind are dicts with the same
    /// memoized key strs: a dict given exactly these again needs no equality search.
    distinct_keys: Vec<ObjectId>,
    /// The deepest of [`Machine::distinct_keys`] when they were remembered.
    distinct_keys_depth: u32,
    /// [`Machine::distinct_keys`] as the key table of records, made when a second dict has
    /// them.
    record_keys: Option<SharedKeys>,
    /// The values of records, packed one after another.
    rows: Rows,
    /// Whether the class [`SkipAfterBuild`] watches was imported: only then can a call
    /// return one of its instances.
    watched_imported: bool,
    /// Objects made by calls that may return an instance of the watched class (see
    /// [`Offer::Possible`]).
    possibly_watched: HashSet<u32>,
    /// When watching a class: the containers (lists, dicts, sets, bytearrays) that a call,
    /// or the BUILD of an object the machine does not know, was given. What it did to them
    /// is unknown, so a watched instance whose state reaches one is only possible.
    handed_out: HashSet<u32>,
    /// Whether the watched class or an instance went where the machine cannot follow it:
    /// into a call, into an object made by a call or imported, or into the state of such an
    /// object. Any object a call returns may then be one.
    watched_escaped: bool,
    /// The nodes standing for the arrays a loader reads after watched BUILDs.
    array_nodes: HashSet<u32>,
    /// The numpy dtypes each call was given, by what the call made: the call may have
    /// returned one (`numpy.dtype(w)` is `w`), so a BUILD on what it made sets that dtype's
    /// state, and those dtypes are handed out then. (Many calls are given dtypes, numpy's
    /// scalars for one; what they make is never built.)
    dtypes_given: HashMap<u32, Vec<u32>>,
    /// The dtypes the last walk of [`Machine::hand_out`] reached.
    dtypes_reached: Vec<u32>,
    /// The `builtins.getattr` references imported by GLOBAL or STACK_GLOBAL, by global index:
    /// how their uses went (see [`Machine::attribute_walk`]).
    getattrs: HashMap<u32, GetattrUses>,
    /// Every opcode goes through [`Machine::step`] (for tests that compare the two paths).
    no_quick: bool,
}

/// What became of the stack slots that held one `builtins.getattr` reference.
#[derive(Clone, Copy, Default)]
struct GetattrUses {
    /// Stack slots that held it (its import's, and every GET or DUP of it).
    slots: u64,
    /// Slots a proven attribute walk took as its callable.
    walks: u64,
    /// Used in place, without a slot being taken (BUILD, APPEND, SETITEM, ADDITEMS or
    /// READONLY_BUFFER on it).
    in_place: bool,
}

/// Whether `name` is an attribute name a proven `getattr` walk may take: an ASCII identifier
/// that does not start with `__` (no dunder such as `__globals__`, `__class__`, `__dict__`,
/// `__subclasses__`, `__reduce__`, and no private name mangled from `__x`). Anything else
/// (empty, dotted, non-ASCII, with spaces) either fails in CPython or is not plain data
/// access, and leaves the `getattr` judged as it is.
pub fn plain_attribute_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(&first) => {
            (first.is_ascii_alphabetic() || first == b'_')
                && !name.starts_with("__")
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    }
}

impl<'a, 'o> Machine<'a, 'o> {
    pub(crate) fn new(data: &'a [u8], options: &'o Options, build: bool) -> Self {
        // Room for the objects an opcode-dense input makes (about one per 20 bytes), so the
        // arena is not copied as it grows; capped, since a large input is mostly payload.
        let expected = if build {
            (data.len() / 20).min(1 << 20)
        } else {
            0
        };
        let mut nodes = if build { Vec::new() } else { Shape::nodes() };
        nodes.reserve(expected);
        let count_depths = build && options.limits.max_depth != usize::MAX;
        // Likewise the memo (protocol 4 memoizes every str, container and object: about one
        // entry per 16 bytes of a dense input), so a long memo is not copied as it grows.
        let memo = Memo::new(build, (data.len() / 16).min(1 << 20));
        Machine {
            data,
            options,
            skip: None,
            release: None,
            release_at: u64::MAX,
            build,
            count_depths,
            nodes,
            depths: match count_depths {
                true => Vec::with_capacity(expected),
                false => Vec::new(),
            },
            indexes: HashMap::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo,
            tuple_items: Vec::new(),
            globals: Vec::new(),
            findings: Vec::new(),
            findings_dropped: 0,
            roots: Vec::new(),
            protocols: Vec::new(),
            opcodes: 0,
            value_size: 0,
            pickle: 0,
            proto: 0,
            proto_seen: false,
            quiet_up_to: u8::MAX,
            pickle_start: 0,
            max_opcodes: options.limits.max_opcodes,
            max_stack: options.limits.max_stack,
            buffers: 0,
            frame_end: None,
            frame_watch: u64::MAX,
            watch: u64::MAX,
            at: 0,
            pos: 0,
            halted: None,
            depths_stale: false,
            dropped: false,
            copy_budget: 0,
            distinct_keys: Vec::new(),
            distinct_keys_depth: 0,
            record_keys: None,
            rows: Rows::new(),
            watched_imported: false,
            possibly_watched: HashSet::new(),
            handed_out: HashSet::new(),
            watched_escaped: false,
            array_nodes: HashSet::new(),
            dtypes_given: HashMap::new(),
            dtypes_reached: Vec::new(),
            getattrs: HashMap::new(),
            no_quick: false,
        }
    }

    /// Watches the BUILDs of one class (values must be built).
    pub(crate) fn skipping(mut self, skip: SkipAfterBuild<'o>) -> Self {
        debug_assert!(self.build, "skipping needs built values");
        self.skip = Some(skip);
        self.copy_budget = (self.data.len() as u64)
            .saturating_mul(SKIP_COPY_BUDGET)
            .max(1 << 20);
        self
    }

    /// A machine that runs every opcode through [`Machine::step`], never through
    /// [`Machine::quick_run`]: what the quick path is compared with.
    pub(crate) fn step_by_step(mut self) -> Self {
        self.no_quick = true;
        self
    }

    /// Tells `release` the offset the cursor has passed, every [`RELEASE_STEP`] bytes, and
    /// copies out of the input everything the value keeps (strs always are; bytes and long
    /// ints are then too), so that the caller can drop the pages behind the cursor: a load of
    /// a mapped file then holds a window of it, not the whole (see [`crate::MappedFile`]).
    pub(crate) fn releasing(mut self, release: &'o dyn Fn(usize)) -> Self {
        self.release = Some(release);
        self.release_at = RELEASE_STEP as u64;
        self.watch = self.frame_watch.min(self.release_at);
        self
    }

    fn set_frame_watch(&mut self, end: u64) {
        self.frame_watch = end;
        self.watch = end.min(self.release_at);
    }

    /// Runs every pickle of the input.
    pub(crate) fn run(mut self) -> Outcome<'a> {
        let mut error = None;
        loop {
            let start = self.pos as u64;
            let result = self.run_pickle().map_err(|Halt| {
                self.halted.take().unwrap_or_else(|| PickleError {
                    offset: self.at,
                    message: "stopped".into(),
                    limit: false,
                })
            });
            self.protocols.push(self.proto);
            match result {
                Ok(()) if self.pickle > 0 => self.find_at(
                    start,
                    FindingKind::StackedPickle,
                    format!(
                        "pickle number {} follows a STOP: pickle.load called again runs it",
                        self.pickle + 1
                    ),
                ),
                Ok(()) => {}
                Err(e) if self.pickle > 0 && !e.limit => {
                    // What this pickle made before breaking is not kept.
                    self.dropped = true;
                    // `pickle.load` reads the first pickle only; what follows is reported, and
                    // what it imported before failing stays recorded.
                    self.find_at(
                        start,
                        FindingKind::TrailingData,
                        format!(
                            "the {} bytes after the last STOP are not a complete pickle ({e})",
                            self.data.len() as u64 - start
                        ),
                    );
                    break;
                }
                Err(e) => {
                    // An opcode may have stopped half way, with a new object not yet pushed.
                    self.dropped = true;
                    error = Some(e);
                    break;
                }
            }
            if self.pos >= self.data.len() {
                break;
            }
            self.pickle += 1;
        }
        if self.findings_dropped > 0 {
            let dropped = self.findings_dropped;
            self.findings.push(Finding {
                offset: 0,
                pickle: 0,
                kind: FindingKind::TooManyFindings,
                message: format!("{dropped} more findings were not kept"),
            });
        }
        for (&g, uses) in &self.getattrs {
            // Every slot that held the reference went to a proven walk, and nothing used it
            // in place: the file does nothing else with it.
            if uses.walks > 0 && uses.walks == uses.slots && !uses.in_place {
                self.globals[g as usize].usage.attribute_walk = true;
            }
        }
        let partial = if error.is_some() {
            std::mem::take(&mut self.stack)
        } else {
            Vec::new()
        };
        Outcome {
            globals: self.globals,
            findings: self.findings,
            error,
            roots: self.roots,
            partial,
            protocols: self.protocols,
            opcodes: self.opcodes,
            nodes: self.nodes,
            rows: self.rows,
            depths_exact: !self.depths_stale,
            all_reachable: !self.dropped,
        }
    }

    /// Runs one pickle, to its STOP. On an error the stack is left as it was.
    fn run_pickle(&mut self) -> Result<(), Halt> {
        // Fresh stack, marks and memo, as `pickle.load` called again.
        self.dropped |= !self.stack.is_empty();
        self.stack.clear();
        self.marks.clear();
        self.memo.clear();
        self.proto = 0;
        self.proto_seen = false;
        self.quiet_up_to = u8::MAX;
        self.pickle_start = self.pos as u64;
        self.buffers = 0;
        self.frame_end = None;
        self.set_frame_watch(u64::MAX);
        loop {
            if self.getattrs.is_empty() {
                self.quick_run()?;
            }
            let start = self.pos;
            let Some(&byte) = self.data.get(start) else {
                let at = self.data.len() as u64;
                return Err(self.fail_at(at, "ran out of input before STOP".into()));
            };
            let Some(op) = Op::from_byte(byte) else {
                let message = format!("invalid load key {}", byte_repr(byte));
                return Err(self.fail_at(start as u64, message));
            };
            self.at = start as u64;
            self.pos = start + 1;
            self.opcodes += 1;
            if self.opcodes > self.max_opcodes {
                let what = format!("more than {} opcodes", self.max_opcodes);
                return Err(self.limit(start as u64, what));
            }
            if op.proto() > self.quiet_up_to && op != Op::Frame {
                self.above_protocol(op);
            }
            let flow = self.step(op)?;
            if self.pos as u64 > self.watch {
                self.passed_watch(op);
            }
            if let Flow::Stop = flow {
                return Ok(());
            }
        }
    }

    /// Runs the opcodes most of a large pickle is made of (ints, floats, bools, strs, memo
    /// reads and writes, marks, empty dicts and lists and the SETITEMS and APPENDS that fill
    /// them) in a loop of their own, each exactly as [`Machine::step`] runs it but without the
    /// general loop's bookkeeping around it. Returns, with nothing of that opcode done, at the
    /// first opcode that is not one of these or that has anything else to it: a finding (an
    /// opcode above the declared protocol, a memo miss, lone surrogates), a limit about to be
    /// reached, a stream error, the end of a frame or of a release step passed, a
    /// `builtins.getattr` in play. The general loop then runs it, reports what there is to
    /// report, and calls this again.
    ///
    /// An opcode that goes through a helper that may fail or make a finding (new nodes, SETITEMS,
    /// APPENDS) is committed first with the state [`Machine::step`] would see (`at`, `pos`, the
    /// opcode count), so that what it reports is the same. `quick_check.rs` runs every fixture,
    /// damaged copies of them and tight limits both ways and compares; so does the fuzzing
    /// check (`fuzz/checks.rs`) on every input.
    #[inline(never)]
    fn quick_run(&mut self) -> Result<(), Halt> {
        if self.no_quick {
            return Ok(());
        }
        let data = self.data;
        // None of these change while this runs: only opcodes it leaves to `step` move them.
        let quiet = self.quiet_up_to;
        let watch = usize::try_from(self.watch).unwrap_or(usize::MAX);
        let max_stack = self.max_stack;
        let max_opcodes = self.max_opcodes;
        let mut pos = self.pos;
        let mut opcodes = self.opcodes;
        // What a helper that may fail or report sees, as `step` would show it.
        macro_rules! commit {
            ($start:expr, $end:expr) => {{
                self.at = $start as u64;
                self.pos = $end;
                self.opcodes = opcodes + 1;
            }};
        }
        // The value this loop pushed last, while it is the stack's top: MEMOIZE reads it from
        // here, not back from the stack just written (a load that waits for the store).
        let mut top: Option<Val> = None;
        let done = loop {
            let start = pos;
            let Some(op) = data.get(start).and_then(|&byte| Op::from_byte(byte)) else {
                break Ok(());
            };
            if opcodes >= max_opcodes {
                break Ok(());
            }
            let mut end = start + 1;
            // Each arm names its opcode, so that its argument's decoding is known when compiled.
            macro_rules! int_arg {
                ($op:expr) => {{
                    match decode_int($op, data, &mut end) {
                        Ok(v) if $op.proto() <= quiet && end <= watch => v,
                        _ => break Ok(()),
                    }
                }};
            }
            macro_rules! push {
                ($op:expr, $item:expr) => {{
                    if $op.proto() > quiet || end > watch || self.stack.len() >= max_stack {
                        break Ok(());
                    }
                    let item = $item;
                    self.stack.push(item);
                    top = Some(item);
                }};
            }
            macro_rules! get {
                ($op:expr) => {{
                    let index = int_arg!($op);
                    match self.memo.get(index as u64) {
                        Some(item) => push!($op, item),
                        None => break Ok(()),
                    }
                }};
            }
            macro_rules! put {
                ($op:expr, $index:expr) => {{
                    if $op.proto() > quiet || end > watch || self.stack.len() <= self.fence() {
                        break Ok(());
                    }
                    let top = match top {
                        Some(top) => top,
                        None => self.stack[self.stack.len() - 1],
                    };
                    // A limit refuses it before it changes anything.
                    if !self.memo.put($index, top, self.options.limits.max_memo) {
                        break Ok(());
                    }
                }};
            }
            macro_rules! str_arg {
                ($op:expr) => {{
                    match decode_utf8($op, data, &mut end) {
                        Ok(Some(text)) => text,
                        _ => break Ok(()),
                    }
                }};
            }
            // A new node, made by `$make` once the opcode is committed (it may fail or report).
            macro_rules! new_node {
                ($op:expr, $make:expr) => {{
                    if $op.proto() > quiet || end > watch || self.stack.len() >= max_stack {
                        break Ok(());
                    }
                    commit!(start, end);
                    match $make {
                        Ok(item) => {
                            self.stack.push(item);
                            top = Some(item);
                        }
                        Err(halt) => break Err(halt),
                    }
                }};
            }
            macro_rules! fill {
                ($op:expr, $how:ident) => {{
                    if $op.proto() > quiet || end > watch || self.marks.is_empty() {
                        break Ok(());
                    }
                    commit!(start, end);
                    let from = self.marks.pop().expect("a mark");
                    top = None;
                    if let Err(halt) = self.$how($op, from) {
                        break Err(halt);
                    }
                }};
            }
            match op {
                Op::BinInt1 => push!(Op::BinInt1, Val::Int(int_arg!(Op::BinInt1))),
                Op::BinInt2 => push!(Op::BinInt2, Val::Int(int_arg!(Op::BinInt2))),
                Op::BinInt => push!(Op::BinInt, Val::Int(int_arg!(Op::BinInt))),
                Op::BinFloat => match decode_float8(Op::BinFloat, data, &mut end) {
                    Ok(f) => push!(Op::BinFloat, Val::Float(f)),
                    _ => break Ok(()),
                },
                Op::NewTrue => push!(Op::NewTrue, Val::Bool(true)),
                Op::NewFalse => push!(Op::NewFalse, Val::Bool(false)),
                Op::None => push!(Op::None, Val::None),
                Op::BinGet => get!(Op::BinGet),
                Op::LongBinGet => get!(Op::LongBinGet),
                Op::Memoize => put!(Op::Memoize, self.memo.len as u64),
                Op::BinPut => {
                    let index = int_arg!(Op::BinPut) as u64;
                    put!(Op::BinPut, index)
                }
                Op::LongBinPut => {
                    let index = int_arg!(Op::LongBinPut) as u64;
                    put!(Op::LongBinPut, index)
                }
                Op::ShortBinUnicode => {
                    let text = str_arg!(Op::ShortBinUnicode);
                    new_node!(Op::ShortBinUnicode, self.input_str_node(text))
                }
                Op::BinUnicode => {
                    let text = str_arg!(Op::BinUnicode);
                    new_node!(Op::BinUnicode, self.input_str_node(text))
                }
                Op::Mark => {
                    if Op::Mark.proto() > quiet || end > watch || self.marks.len() >= max_stack {
                        break Ok(());
                    }
                    self.marks.push(self.stack.len());
                }
                Op::EmptyDict => new_node!(Op::EmptyDict, self.new_node(EMPTY_DICT, 1, 0)),
                Op::EmptyList => new_node!(Op::EmptyList, self.new_node(EMPTY_LIST, 1, 0)),
                Op::SetItems => fill!(Op::SetItems, set_items),
                Op::Appends => fill!(Op::Appends, extend),
                _ => break Ok(()),
            }
            pos = end;
            opcodes += 1;
        };
        if done.is_ok() {
            self.pos = pos;
            self.opcodes = opcodes;
        }
        done
    }

    /// The argument of the opcode being run (the cursor is just past the opcode byte).
    #[inline(always)]
    fn arg(&mut self, op: Op) -> Result<Arg<'a>, Halt> {
        match decode_arg(op, self.data, &mut self.pos) {
            Ok(arg) => Ok(arg),
            Err(e) => Err(self.bad_stream(e, op)),
        }
    }

    /// GET's and PUT's decimal line, which may hold an index past `i64`.
    #[cold]
    fn memo_text_arg(&mut self, op: Op) -> Result<MemoIndex, Halt> {
        match self.arg(op)? {
            Arg::Int(index) => Ok(MemoIndex::Small(index)),
            Arg::BigInt(index) => Ok(MemoIndex::Big(index)),
            _ => Err(self.bad_arg(op)),
        }
    }

    #[cold]
    fn memo_miss(&mut self, op: Op, index: &MemoIndex) {
        self.find(
            FindingKind::MemoMiss,
            format!("{op} {index}: the memo has nothing there (CPython fails here); pushed None"),
        );
    }

    /// An integer argument (fixed-width or memo index).
    #[inline(always)]
    fn int_arg(&mut self, op: Op) -> Result<i64, Halt> {
        match decode_int(op, self.data, &mut self.pos) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.bad_stream(e, op)),
        }
    }

    #[cold]
    fn bad_stream(&mut self, e: ArgError, op: Op) -> Halt {
        let e = e.at(self.at as usize, op);
        let message = e.to_string();
        self.fail_at(e.offset, message)
    }

    #[cold]
    fn above_protocol(&mut self, op: Op) {
        self.find(
            FindingKind::OpcodeAboveProtocol,
            format!(
                "{op} is a protocol {} opcode in a pickle that declared protocol {}",
                op.proto(),
                self.proto
            ),
        );
        self.quiet_up_to = u8::MAX; // once per pickle
    }

    /// The opcode just run ended past the end of the current frame, or past `release_at`.
    #[cold]
    fn passed_watch(&mut self, op: Op) {
        if self.pos as u64 > self.release_at {
            self.release_passed();
        }
        if self.pos as u64 > self.frame_watch {
            self.frame_passed(op);
        }
    }

    fn release_passed(&mut self) {
        if let Some(release) = self.release {
            release(self.pos);
        }
        self.release_at = (self.pos as u64).saturating_add(RELEASE_STEP as u64);
        self.watch = self.frame_watch.min(self.release_at);
    }

    /// A payload of the input as a node keeps it: borrowed, or copied when the machine is
    /// `releasing` (a large one a step at a time, each step released as it is copied, so that
    /// a 1 GB array does not hold 2 GB).
    fn payload(&mut self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(release) = self.release else {
            return Cow::Borrowed(bytes);
        };
        let mut copy = Vec::with_capacity(bytes.len());
        let start = bytes.as_ptr() as usize - self.data.as_ptr() as usize;
        for (k, chunk) in bytes.chunks(RELEASE_STEP).enumerate() {
            copy.extend_from_slice(chunk);
            release(start + k * RELEASE_STEP + chunk.len());
        }
        Cow::Owned(copy)
    }

    /// The opcode just run ended past the end of the current frame.
    fn frame_passed(&mut self, op: Op) {
        let end = self.frame_watch;
        if self.at < end {
            self.find(
                FindingKind::FrameMismatch,
                format!("{op} crosses the end of its frame at offset {end}"),
            );
        }
        self.frame_end = None;
        self.set_frame_watch(u64::MAX);
    }

    // ---- findings and errors ----

    fn find(&mut self, kind: FindingKind, message: String) {
        self.find_at(self.at, kind, message);
    }

    fn find_at(&mut self, offset: u64, kind: FindingKind, message: String) {
        if self.findings.len() >= self.options.limits.max_findings {
            self.findings_dropped += 1;
            return;
        }
        self.findings.push(Finding {
            offset,
            pickle: self.pickle,
            kind,
            message,
        });
    }

    #[cold]
    fn halt(&mut self, error: PickleError) -> Halt {
        if self.halted.is_none() {
            self.halted = Some(error);
        }
        Halt
    }

    #[cold]
    fn fail_at(&mut self, offset: u64, message: String) -> Halt {
        self.halt(PickleError {
            offset,
            message,
            limit: false,
        })
    }

    #[cold]
    fn fail(&mut self, message: impl Into<String>) -> Halt {
        self.fail_at(self.at, message.into())
    }

    #[cold]
    fn limit(&mut self, offset: u64, what: String) -> Halt {
        self.halt(PickleError {
            offset,
            message: format!("limit exceeded: {what}"),
            limit: true,
        })
    }

    /// CPython's `Pdata_stack_underflow`.
    #[cold]
    fn underflow(&mut self) -> Halt {
        self.fail(if self.marks.is_empty() {
            "unpickling stack underflow"
        } else {
            "unexpected MARK found"
        })
    }

    // ---- stack ----

    /// Index of the topmost mark (CPython's fence): nothing below it can be popped.
    #[inline]
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    #[inline]
    fn push(&mut self, item: Val) -> Result<(), Halt> {
        if self.stack.len() >= self.max_stack {
            return Err(self.limit(
                self.at,
                format!("more than {} stack entries", self.options.limits.max_stack),
            ));
        }
        if !self.getattrs.is_empty() {
            self.count_getattr_slot(item);
        }
        self.stack.push(item);
        Ok(())
    }

    /// Counts a stack slot holding a `builtins.getattr` reference (see [`GetattrUses`]).
    #[cold]
    fn count_getattr_slot(&mut self, item: Val) {
        if let Some(g) = self.global_of(item) {
            if let Some(uses) = self.getattrs.get_mut(&(g as u32)) {
                uses.slots += 1;
            }
        }
    }

    /// Notes that `target` was used in place (BUILD, items, READONLY_BUFFER).
    fn used_in_place(&mut self, target: Val) {
        if let Some(g) = self.global_of(target) {
            if let Some(uses) = self.getattrs.get_mut(&(g as u32)) {
                uses.in_place = true;
            }
        }
    }

    #[inline]
    fn pop(&mut self) -> Result<Val, Halt> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        // Conservatively: most popped values go into an object, some are dropped.
        self.dropped = true;
        Ok(self.stack.pop().expect("above the fence"))
    }

    #[inline]
    fn top(&mut self) -> Result<Val, Halt> {
        if self.stack.len() <= self.fence() {
            return Err(self.underflow());
        }
        Ok(*self.stack.last().expect("above the fence"))
    }

    /// Pops the topmost mark (CPython's `marker`) and returns the stack length it recorded.
    #[inline]
    fn marker(&mut self) -> Result<usize, Halt> {
        match self.marks.pop() {
            Some(mark) => Ok(mark),
            None => Err(self.fail("could not find MARK")),
        }
    }

    // ---- arena ----

    #[inline]
    fn node(&self, item: Val) -> Option<&Node<'a>> {
        match item {
            Val::Ref(id) => self.nodes.get(id.index()),
            _ => None,
        }
    }

    #[inline]
    fn depth(&self, item: Val) -> u32 {
        match item {
            Val::Ref(id) => u32::from(self.depths.get(id.index()).copied().unwrap_or(0) & !NESTED),
            _ => 0,
        }
    }

    /// Notes that `child` is now inside some container.
    #[inline]
    fn adopt(&mut self, child: Val) {
        if let Val::Ref(id) = child {
            if let Some(d) = self.depths.get_mut(id.index()) {
                *d |= NESTED;
            }
        }
    }

    /// Adds a node holding `children` (for its depth) and `payload` bytes.
    #[inline(always)]
    fn new_node(&mut self, node: Node<'a>, depth: u32, payload: usize) -> Result<Val, Halt> {
        if !self.build {
            // Only what names and usage need gets a node of its own.
            if let Some(kind) = shape(&node) {
                return Ok(Val::Ref(ObjectId(kind as u32)));
            }
        }
        if self.nodes.len() >= u32::MAX as usize - 1 {
            return Err(self.limit(self.at, "more than 2^32 objects".into()));
        }
        self.grow(1 + payload as u64)?;
        self.check_depth(depth)?;
        let id = ObjectId(self.nodes.len() as u32);
        self.nodes.push(node);
        if self.count_depths {
            let slot = self.slot_depth(depth);
            self.depths.push(slot);
        }
        Ok(Val::Ref(id))
    }

    #[inline]
    fn grow(&mut self, size: u64) -> Result<(), Halt> {
        if !self.build {
            return Ok(());
        }
        self.value_size += size;
        if self.value_size > self.options.limits.max_value_size {
            return Err(self.limit(
                self.at,
                format!(
                    "built values larger than {} (payload bytes plus objects and slots)",
                    self.options.limits.max_value_size
                ),
            ));
        }
        Ok(())
    }

    #[inline]
    fn check_depth(&mut self, depth: u32) -> Result<(), Halt> {
        if self.build && depth as usize > self.options.limits.max_depth {
            return Err(self.limit(
                self.at,
                format!(
                    "values nested more than {} deep",
                    self.options.limits.max_depth
                ),
            ));
        }
        Ok(())
    }

    /// Depth of a new container holding `items` (which are nested from now on).
    fn depth_of(&mut self, items: &[Val]) -> u32 {
        if !self.count_depths {
            return 0;
        }
        let mut depth = 0;
        for &item in items {
            depth = depth.max(self.depth(item));
            self.adopt(item);
        }
        depth + 1
    }

    /// Records that `container` now also holds `child`.
    #[inline]
    fn deepen(&mut self, container: ObjectId, child: Val) -> Result<(), Halt> {
        if !self.count_depths {
            return Ok(());
        }
        let d = self.depth(child) + 1;
        self.adopt(child);
        self.deepen_to(container, d)
    }

    /// Records that `container` now also holds the stack's items from `start`.
    fn deepen_from_stack(&mut self, container: ObjectId, start: usize) -> Result<(), Halt> {
        self.deepen_from_slots(container, start, 1, 0)
    }

    /// Records that `container` now holds every `step`-th stack item from `first`, besides
    /// children at most `depth` deep.
    fn deepen_from_slots(
        &mut self,
        container: ObjectId,
        first: usize,
        step: usize,
        mut depth: u32,
    ) -> Result<(), Halt> {
        if !self.count_depths {
            return Ok(());
        }
        for k in (first..self.stack.len()).step_by(step) {
            let item = self.stack[k];
            depth = depth.max(self.depth(item));
            self.adopt(item);
        }
        self.deepen_to(container, depth + 1)
    }

    fn str_node(&mut self, text: Cow<'a, str>) -> Result<Val, Halt> {
        match text {
            Cow::Borrowed(text) => self.input_str_node(text),
            Cow::Owned(text) => {
                let len = text.len();
                self.new_node(Node::Str(CompactString::from(text)), 0, len)
            }
        }
    }

    /// [`Machine::str_node`] of a str that is a slice of the input.
    #[inline(always)]
    fn input_str_node(&mut self, text: &'a str) -> Result<Val, Halt> {
        if !self.build {
            if let Some(v) = self.text_val(text) {
                return Ok(v);
            }
        }
        self.new_node(Node::Str(CompactString::new(text)), 0, text.len())
    }

    /// `s`, a slice of the input, as a [`Val::Text`].
    #[inline]
    fn text_val(&self, s: &str) -> Option<Val> {
        let at = (s.as_ptr() as usize).checked_sub(self.data.as_ptr() as usize)?;
        if at + s.len() > self.data.len() {
            return None;
        }
        Some(Val::Text {
            at: u32::try_from(at).ok()?,
            len: u32::try_from(s.len()).ok()?,
        })
    }

    /// The str a slot holds, if it holds one.
    fn text(&self, v: Val) -> Option<&str> {
        text_of(self.data, &self.nodes, v)
    }

    fn tuple(&mut self, items: Vec<Val>) -> Result<Val, Halt> {
        if !self.build {
            return self.pooled_tuple(&items);
        }
        let depth = self.depth_of(&items);
        let n = items.len();
        self.new_node(Node::Tuple(items), depth, n)
    }

    /// TUPLE, TUPLE1-3: the stack's items from `start` become a tuple.
    #[inline]
    fn tuple_from_stack(&mut self, start: usize) -> Result<Val, Halt> {
        if start < self.fence() || start > self.stack.len() {
            return Err(self.underflow());
        }
        if self.build {
            let items = self.stack.split_off(start);
            return self.tuple(items);
        }
        let items = std::mem::take(&mut self.stack);
        let made = self.pooled_tuple(&items[start..]);
        self.stack = items;
        self.stack.truncate(start);
        made
    }

    /// A tuple when values are not built. Tuples keep their items even then: folding reads
    /// call arguments.
    fn pooled_tuple(&mut self, items: &[Val]) -> Result<Val, Halt> {
        let (Ok(start), Ok(len)) = (
            u32::try_from(self.tuple_items.len()),
            u32::try_from(items.len()),
        ) else {
            return Err(self.limit(self.at, "more than 2^32 tuple items".into()));
        };
        self.tuple_items.extend_from_slice(items);
        Ok(Val::Tuple { start, len })
    }

    /// The items of a tuple.
    fn tuple_items_of(&self, item: Val) -> Option<&[Val]> {
        tuple_items_of(&self.nodes, &self.tuple_items, item)
    }

    /// Pops the items from `start` (CPython's `Pdata_poptuple`).
    fn pop_from(&mut self, start: usize) -> Result<Vec<Val>, Halt> {
        if start < self.fence() || start > self.stack.len() {
            return Err(self.underflow());
        }
        Ok(self.stack.split_off(start))
    }

    // ---- globals ----

    /// Records a reference to `module.name` as CPython's `find_class` resolves it.
    fn import(&mut self, op: Op, module: &str, name: &str) -> Result<Val, Halt> {
        let (module, name) = if self.proto < 3 && self.options.fix_imports {
            let (m, n) = crate::compat::fix_imports(module, name);
            (m.into_owned(), n.into_owned())
        } else {
            (module.to_owned(), name.to_owned())
        };
        let getattr = module == "builtins" && name == "getattr";
        let item = self.record(op, Target::Named { module, name })?;
        // INST calls what it imports at once, with whatever it is given: never a walk.
        if getattr && matches!(op, Op::Global | Op::StackGlobal) {
            self.getattrs
                .insert(self.globals.len() as u32 - 1, GetattrUses::default());
        }
        Ok(item)
    }

    /// A REDUCE of `builtins.getattr` (imported by GLOBAL or STACK_GLOBAL) with exactly the
    /// arguments `(G, 'name')`: `G` a global the stream imports by GLOBAL or STACK_GLOBAL (not
    /// another `getattr`, not what a walk returned, not an extension code, not unresolved),
    /// `'name'` a literal str (the machine makes strs only from STRING and UNICODE opcodes,
    /// never from a call) that is a [`plain_attribute_name`]. CPython then returns the
    /// attribute `G.name`, as STACK_GLOBAL of the dotted name would: it is recorded as the
    /// global `module.qualname.name` (opcode REDUCE, at the REDUCE) and stands on the stack
    /// as that global. `None` for any other call, which stays a call.
    fn attribute_walk(&mut self, callable: Val, args: Val) -> Result<Option<Val>, Halt> {
        let Some(g) = self.global_of(callable) else {
            return Ok(None);
        };
        if !self.getattrs.contains_key(&(g as u32)) {
            return Ok(None);
        }
        let (owner, attr) = match self.tuple_items_of(args) {
            Some(&[owner, attr]) => (owner, attr),
            _ => return Ok(None),
        };
        let Some(h) = self.global_of(owner) else {
            return Ok(None);
        };
        if self.getattrs.contains_key(&(h as u32)) {
            return Ok(None);
        }
        let Some(attr) = self.text(attr).filter(|a| plain_attribute_name(a)) else {
            return Ok(None);
        };
        let attr = attr.to_owned();
        let owner = &self.globals[h];
        let target = match &owner.target {
            Target::Named { module, name }
                if matches!(owner.opcode, "GLOBAL" | "STACK_GLOBAL") && module != UNRESOLVED =>
            {
                Target::Named {
                    module: module.clone(),
                    name: format!("{name}.{attr}"),
                }
            }
            _ => return Ok(None),
        };
        if let Some(uses) = self.getattrs.get_mut(&(g as u32)) {
            uses.walks += 1;
        }
        self.record(Op::Reduce, target).map(Some)
    }

    fn record(&mut self, op: Op, target: Target) -> Result<Val, Halt> {
        if let Target::Named { module, name } = &target {
            self.watched_imported |=
                self.names_watched_class(module, name) || self.names_watched_module(module, name);
        }
        let index = self.globals.len() as u32;
        self.globals.push(GlobalRef {
            target,
            offset: self.at,
            opcode: op.name(),
            protocol: self.proto,
            pickle: self.pickle,
            usage: Usage::default(),
            member: None,
        });
        self.new_node(Node::Global(index), 0, 0)
    }

    /// The [`GlobalRef`] an item is, if it is an imported object.
    fn global_of(&self, item: Val) -> Option<usize> {
        match self.node(item) {
            Some(Node::Global(g)) => Some(*g as usize),
            _ => None,
        }
    }

    fn named(&self, item: Val) -> Option<(&str, &str)> {
        match &self.globals[self.global_of(item)?].target {
            Target::Named { module, name } => Some((module, name)),
            Target::Extension(_) => None,
        }
    }

    fn mark_called(&mut self, callable: Val) {
        if let Some(g) = self.global_of(callable) {
            self.globals[g].usage.called = true;
        }
    }

    /// copyreg's helpers call the classes they are given: `_reconstructor(cls, base, state)`
    /// runs `base.__new__(cls, state)` and `base.__init__(obj, state)`, `__newobj__(cls, ...)`
    /// and `__newobj_ex__(cls, ...)` run `cls.__new__`. Those arguments count as called.
    fn mark_called_through(&mut self, callable: Val, args: Val) {
        let callees = match self.named(callable) {
            Some(("copyreg", "_reconstructor")) => 2,
            Some(("copyreg", "__newobj__" | "__newobj_ex__")) => 1,
            _ => return,
        };
        let firsts: Vec<Val> = match self.tuple_items_of(args) {
            Some(items) => items.iter().take(callees).copied().collect(),
            _ => return,
        };
        for callee in firsts {
            self.mark_called(callee);
        }
    }

    fn describe(&self, item: Val) -> String {
        match item {
            Val::None => "None".into(),
            Val::Bool(_) => "a bool".into(),
            Val::Int(_) => "an int".into(),
            Val::Float(_) => "a float".into(),
            Val::Ref(_) => match self.node(item) {
                Some(Node::Global(g)) => {
                    format!("the imported {}", self.globals[*g as usize].target)
                }
                Some(n) => format!("a {}", n.type_name()),
                None => "nothing".into(),
            },
            Val::Text { .. } => "a str".into(),
            Val::Tuple { .. } => "a tuple".into(),
        }
    }

    // ---- one opcode ----

    #[inline(always)]
    fn step(&mut self, op: Op) -> Step {
        match op {
            Op::BinInt | Op::BinInt1 | Op::BinInt2 => {
                let v = self.int_arg(op)?;
                self.push(Val::Int(v))?;
            }
            Op::Int | Op::Long | Op::Long1 | Op::Long4 => {
                let item = match self.arg(op)? {
                    Arg::Int(v) => Val::Int(v),
                    Arg::Bool(b) => Val::Bool(b),
                    Arg::BigInt(b) => self.new_node(Node::BigInt(b), 0, 0)?,
                    Arg::Long(bytes) if self.release.is_some() => {
                        // Kept as a number: the input behind the cursor may be let go.
                        let n = Box::new(BigInt::from_signed_bytes_le(bytes));
                        self.new_node(Node::BigInt(n), 0, bytes.len())?
                    }
                    Arg::Long(bytes) => self.new_node(Node::Long(bytes), 0, bytes.len())?,
                    _ => return Err(self.bad_arg(op)),
                };
                self.push(item)?;
            }
            Op::Float | Op::BinFloat => {
                let Arg::Float(f) = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                self.push(Val::Float(f))?;
            }
            Op::None => self.push(Val::None)?,
            Op::NewTrue => self.push(Val::Bool(true))?,
            Op::NewFalse => self.push(Val::Bool(false))?,
            Op::String | Op::BinString | Op::ShortBinString => {
                let Arg::String(bytes) = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                let item = self.python2_str(op, bytes)?;
                self.push(item)?;
            }
            Op::BinBytes | Op::ShortBinBytes | Op::BinBytes8 | Op::ByteArray8 => {
                let Arg::Bytes(bytes) = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                let len = bytes.len();
                let bytes = self.payload(bytes);
                let node = if op == Op::ByteArray8 {
                    Node::ByteArray(bytes)
                } else {
                    Node::Bytes(bytes)
                };
                let item = self.new_node(node, 0, len)?;
                self.push(item)?;
            }
            Op::Unicode | Op::ShortBinUnicode | Op::BinUnicode | Op::BinUnicode8 => {
                let Arg::Str { text, lossy } = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                if lossy {
                    self.find(
                        FindingKind::LoneSurrogates,
                        format!("{op} holds lone surrogates (replaced by U+FFFD)"),
                    );
                }
                let item = self.str_node(text)?;
                self.push(item)?;
            }
            Op::NextBuffer => {
                let index = self.buffers;
                self.buffers = self.buffers.saturating_add(1);
                let item = self.new_node(
                    Node::Buffer {
                        index,
                        readonly: false,
                    },
                    0,
                    0,
                )?;
                self.push(item)?;
            }
            Op::ReadonlyBuffer => {
                let top = self.top()?;
                match top {
                    Val::Ref(id) => match &mut self.nodes[id.index()] {
                        Node::Buffer { readonly, .. } => *readonly = true,
                        // memoryview(bytes) is read-only already; the rest is unknown or a
                        // bytearray (which CPython wraps in a read-only view).
                        Node::Bytes(_) | Node::ByteArray(_) | Node::Instance(_) => {}
                        _ => self.items_on_other(op, top),
                    },
                    _ => self.items_on_other(op, top),
                }
            }
            Op::EmptyList => {
                let item = self.new_node(Node::List(Vec::new()), 1, 0)?;
                self.push(item)?;
            }
            Op::EmptyTuple => {
                let item = self.tuple(Vec::new())?;
                self.push(item)?;
            }
            Op::EmptyDict => {
                let item = self.new_node(Node::Dict(Vec::new()), 1, 0)?;
                self.push(item)?;
            }
            Op::EmptySet => {
                let item = self.new_node(Node::Set(Vec::new()), 1, 0)?;
                self.push(item)?;
            }
            Op::Tuple1 | Op::Tuple2 | Op::Tuple3 => {
                let n = (op as u8 - Op::Tuple1 as u8 + 1) as usize;
                if self.stack.len() < n {
                    return Err(self.underflow());
                }
                let item = self.tuple_from_stack(self.stack.len() - n)?;
                self.push(item)?;
            }
            Op::Tuple => {
                let start = self.marker()?;
                let item = self.tuple_from_stack(start)?;
                self.push(item)?;
            }
            Op::List => {
                let start = self.marker()?;
                let items = self.pop_from(start)?;
                let depth = self.depth_of(&items);
                let n = items.len();
                let items = if self.build {
                    self::items(items)
                } else {
                    Vec::new()
                };
                let item = self.new_node(Node::List(items), depth, n)?;
                self.push(item)?;
            }
            Op::FrozenSet => {
                let start = self.marker()?;
                let items = self.pop_from(start)?;
                let item = self.new_set(items, true)?;
                self.push(item)?;
            }
            Op::Dict => {
                let start = self.marker()?;
                if !(self.stack.len() - start.min(self.stack.len())).is_multiple_of(2) {
                    return Err(self.fail("odd number of items for DICT"));
                }
                let items = self.pop_from(start)?;
                self.grow(items.len() as u64)?;
                let depth = self.depth_of(&items);
                let item =
                    self.new_node(Node::Dict(Vec::with_capacity(items.len() / 2)), depth, 0)?;
                let Val::Ref(id) = item else {
                    return Err(self.fail("internal error: a new dict without a node"));
                };
                for pair in items.chunks_exact(2) {
                    self.dict_insert(id, pair[0], pair[1]);
                }
                self.push(item)?;
            }
            Op::Append => {
                if self.stack.len() <= self.fence() + 1 {
                    return Err(self.underflow());
                }
                self.extend(op, self.stack.len() - 1)?;
            }
            Op::Appends => {
                let start = self.marker()?;
                self.extend(op, start)?;
            }
            Op::SetItem => {
                if self.stack.len() < 2 {
                    return Err(self.underflow());
                }
                self.set_items(op, self.stack.len() - 2)?;
            }
            Op::SetItems => {
                let start = self.marker()?;
                self.set_items(op, start)?;
            }
            Op::AddItems => {
                let start = self.marker()?;
                self.add_items(op, start)?;
            }
            Op::Pop => {
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop()?;
                }
            }
            Op::Dup => {
                let top = self.top()?;
                self.push(top)?;
            }
            Op::Mark => {
                if self.marks.len() >= self.max_stack {
                    return Err(self.limit(
                        self.at,
                        format!("more than {} stack entries", self.options.limits.max_stack),
                    ));
                }
                self.marks.push(self.stack.len());
            }
            Op::PopMark => {
                let start = self.marker()?;
                self.dropped |= start < self.stack.len();
                self.stack.truncate(start);
            }
            Op::BinGet | Op::LongBinGet => {
                let index = self.int_arg(op)?;
                match u64::try_from(index).ok().and_then(|i| self.memo.get(i)) {
                    Some(item) => self.push(item)?,
                    None => {
                        self.memo_miss(op, &MemoIndex::Small(index));
                        self.push(Val::None)?;
                    }
                }
            }
            Op::Get => {
                let index = self.memo_text_arg(op)?;
                match index.key().and_then(|key| self.memo.get(key)) {
                    Some(item) => self.push(item)?,
                    None => {
                        self.memo_miss(op, &index);
                        self.push(Val::None)?;
                    }
                }
            }
            Op::Put | Op::BinPut | Op::LongBinPut | Op::Memoize => {
                let index = match op {
                    Op::Memoize => self.memo.len as u64,
                    Op::Put => match self.memo_text_arg(op)?.key() {
                        Some(key) => key,
                        None => return Err(self.bad_arg(op)),
                    },
                    _ => match self.int_arg(op)? {
                        i if i >= 0 => i as u64,
                        _ => return Err(self.bad_arg(op)),
                    },
                };
                let top = self.top()?;
                if !self.memo.put(index, top, self.options.limits.max_memo) {
                    return Err(self.limit(
                        self.at,
                        format!("more than {} memo entries", self.options.limits.max_memo),
                    ));
                }
            }
            Op::Ext1 | Op::Ext2 | Op::Ext4 => {
                let Arg::Int(code) = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                let item = self.record(op, Target::Extension(code as i32))?;
                self.push(item)?;
            }
            Op::Global => {
                let Arg::Global { module, name } = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                let item = self.import(op, module, name)?;
                self.push(item)?;
            }
            Op::StackGlobal => {
                let name = self.pop()?;
                let module = self.pop()?;
                let names = match (self.text(module), self.text(name)) {
                    (Some(m), Some(n)) => Some((m.to_owned(), n.to_owned())),
                    _ => None,
                };
                let item = match names {
                    Some((m, n)) => self.import(op, &m, &n)?,
                    _ => {
                        let message = format!(
                            "STACK_GLOBAL of {} and {}: CPython imports only str names, the target is unresolved",
                            self.describe(module),
                            self.describe(name)
                        );
                        self.find(FindingKind::UnresolvedGlobal, message);
                        self.record(
                            op,
                            Target::Named {
                                module: UNRESOLVED.into(),
                                name: UNRESOLVED.into(),
                            },
                        )?
                    }
                };
                self.push(item)?;
            }
            Op::Reduce => {
                let args = self.pop()?;
                let callable = self.pop()?;
                self.mark_called(callable);
                self.mark_called_through(callable, args);
                let walk = match self.getattrs.is_empty() {
                    true => None,
                    false => self.attribute_walk(callable, args)?,
                };
                let item = match walk {
                    Some(item) => item,
                    None => match self.fold(callable, args)? {
                        Some(item) => item,
                        None => self.instance(CallKind::Reduce, callable, args, None)?,
                    },
                };
                self.push(item)?;
            }
            Op::NewObj | Op::NewObjEx => {
                let kwargs = if op == Op::NewObjEx {
                    Some(self.pop()?)
                } else {
                    None
                };
                let args = self.pop()?;
                let cls = self.pop()?;
                self.mark_called(cls);
                let kind = if op == Op::NewObjEx {
                    CallKind::NewObjEx
                } else {
                    CallKind::NewObj
                };
                let item = self.instance(kind, cls, args, kwargs)?;
                self.push(item)?;
            }
            Op::Obj => {
                let start = self.marker()?;
                if self.stack.len() < start + 1 {
                    return Err(self.underflow());
                }
                let items = self.pop_from(start + 1)?;
                let args = self.tuple(items)?;
                let cls = self.pop()?;
                self.mark_called(cls);
                let item = self.instance(CallKind::Obj, cls, args, None)?;
                self.push(item)?;
            }
            Op::Inst => {
                let Arg::Global { module, name } = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                let start = self.marker()?;
                let cls = self.import(op, module, name)?;
                self.mark_called(cls);
                let items = self.pop_from(start)?;
                let args = self.tuple(items)?;
                let item = self.instance(CallKind::Inst, cls, args, None)?;
                self.push(item)?;
            }
            Op::Build => {
                if self.stack.len() < self.fence() + 2 {
                    return Err(self.underflow());
                }
                let state = self.pop()?;
                let target = self.top()?;
                self.build_state(target, state)?;
                if self.skip.is_some() {
                    self.after_watched_build(target, state);
                }
            }
            Op::PersId => {
                let Arg::PersId(pid) = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                let pid = self.str_node(Cow::Borrowed(pid))?;
                let item = self.new_node(Node::PersistentId(pid.item()), 1, 0)?;
                self.push(item)?;
            }
            Op::BinPersId => {
                let pid = self.pop()?;
                let depth = self.depth_of(&[pid]);
                let item = self.new_node(Node::PersistentId(pid.item()), depth, 0)?;
                self.push(item)?;
            }
            Op::Proto => {
                let Arg::Int(v) = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                if self.proto_seen {
                    self.find(
                        FindingKind::ProtoRepeated,
                        format!("a second PROTO ({v}) after PROTO {}", self.proto),
                    );
                } else if self.at != self.pickle_start {
                    self.find(
                        FindingKind::ProtoNotFirst,
                        format!("PROTO {v} is not the first opcode of its pickle"),
                    );
                }
                self.proto_seen = true;
                self.proto = v as u8;
                self.quiet_up_to = self.proto;
            }
            Op::Frame => {
                let Arg::Int(len) = self.arg(op)? else {
                    return Err(self.bad_arg(op));
                };
                if let Some(current) = self.frame_end {
                    if self.at < current {
                        self.find(
                            FindingKind::FrameMismatch,
                            format!("a FRAME starts before the end of the current frame at offset {current}"),
                        );
                    }
                }
                self.frame_end = None;
                self.set_frame_watch(u64::MAX);
                let end = (self.pos as u64).saturating_add(len as u64);
                if end > self.data.len() as u64 {
                    self.find(
                        FindingKind::FrameMismatch,
                        format!(
                            "FRAME of {len} bytes runs {} bytes past the end of the data (CPython's C unpickler fails here)",
                            end - self.data.len() as u64
                        ),
                    );
                }
                // Kept even past the end: Python's unpickler takes the short frame, and a
                // watched BUILD inside it is inside a frame (see `after_watched_build`).
                self.frame_end = Some(end);
                self.set_frame_watch(end);
            }
            Op::Stop => {
                if let Some(end) = self.frame_end {
                    // (A frame past the end of the data was reported when it began.)
                    if self.at < end && self.pos as u64 != end && end <= self.data.len() as u64 {
                        self.find(
                            FindingKind::FrameMismatch,
                            format!(
                                "STOP ends the pickle {} bytes before the end of its frame",
                                end - self.pos as u64
                            ),
                        );
                    }
                    self.frame_end = None;
                    self.set_frame_watch(u64::MAX);
                }
                // The root is kept: popping it lets nothing go, but what is left under it does.
                let dropped = self.dropped;
                let root = self.pop()?;
                self.dropped = dropped || !self.stack.is_empty();
                if !self.stack.is_empty() || !self.marks.is_empty() {
                    self.find(
                        FindingKind::LeftoverStack,
                        format!(
                            "STOP leaves {} more values and {} open marks behind",
                            self.stack.len(),
                            self.marks.len()
                        ),
                    );
                }
                self.roots.push(root);
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    /// After a BUILD of `target`: if it is an instance of the watched class, lets the caller
    /// move the cursor past the bytes that follow it.
    fn after_watched_build(&mut self, target: Val, state: Val) {
        let Val::Ref(id) = target else { return };
        let (watched, mut possible) = match self.node(target) {
            Some(Node::Instance(inst)) if self.is_watched(inst) => (true, false),
            // What a call returned, once the class or an instance went where the machine
            // cannot follow it; or the node standing for an array a loader read (an object
            // array's pickle may return anything).
            Some(Node::Instance(_)) => (
                false,
                self.possibly_watched.contains(&id.0)
                    || self.watched_escaped
                    || self.array_nodes.contains(&id.0),
            ),
            // A BUILD on an imported object sets its attributes: the class's own (an
            // alignment, a `__setstate__`), or a module's names (the class itself).
            Some(Node::Global(_)) => (false, true),
            _ => (false, false),
        };
        if !watched {
            // What a call given dtypes made may be one of them: its state is theirs now.
            if let Some(dtypes) = self.dtypes_given.remove(&id.0) {
                self.handed_out.extend(dtypes);
            }
            // The state goes to code the machine does not model: the object's `__setstate__`
            // (which an earlier state may have set as an attribute, say `heapq.heappop`), or
            // its `__dict__` (which a slot state may have made a dict the file holds): it is
            // handed out as a call's arguments are. numpy's dtype is the exception: it has no
            // `__dict__`, and its `__setstate__` changes nothing it is given.
            let record = !self.is_numpy_dtype(target);
            if (record || self.watched_imported) && self.hand_out([state], record) {
                // The state may make it one (`__class__` in a slot state, a `__setstate__`).
                self.watched_escaped = true;
                if matches!(self.node(target), Some(Node::Instance(_))) {
                    possible = true;
                    self.possibly_watched.insert(id.0);
                }
            }
        }
        if !watched && !possible {
            return;
        }
        let inside_frame = self.frame_end.is_some_and(|end| end > self.pos as u64);
        // A state reaching a container some call was given may not be what the file shows.
        let copy = match watched {
            true => self.subgraph(target),
            false => None,
        };
        if let Some((_, _, changed)) = &copy {
            possible |= *changed;
        }
        let copy = copy
            .filter(|c| !c.2)
            .map(|(value, instance, _)| (value, instance));
        if watched {
            // joblib pops the wrapper and pushes the array it reads: what the stack holds
            // from here is an array (a node of its own). The wrapper stays what the memo and
            // any copy made before the BUILD hold, so a call given it may return a wrapper.
            if let Ok(array) = self.new_node(
                Node::Instance(Box::new(Instance::new(
                    CallKind::Reduce,
                    Item::None,
                    Item::None,
                    None,
                ))),
                1,
                0,
            ) {
                if let Val::Ref(array_id) = array {
                    self.array_nodes.insert(array_id.0);
                }
                if let Some(top) = self.stack.last_mut() {
                    *top = array;
                    self.dropped = true;
                }
            }
        }
        let here = self.pos;
        let Some(skip) = &mut self.skip else { return };
        let offer = match &copy {
            _ if inside_frame => Offer::InsideFrame,
            Some((value, instance)) => Offer::Built {
                value,
                instance: *instance,
            },
            None if possible => Offer::Possible,
            None => Offer::TooLarge,
        };
        match (skip.resume)(offer, here) {
            Some(next) if next >= here && next <= self.data.len() => {
                self.pos = next;
                // The skipped bytes are not opcodes: frame accounting starts afresh.
                self.frame_end = None;
                self.set_frame_watch(u64::MAX);
            }
            _ => {}
        }
    }

    /// Whether `target` is a numpy dtype made by calling `numpy.dtype` (under any numpy module).
    fn is_numpy_dtype(&self, target: Val) -> bool {
        let Some(Node::Instance(inst)) = self.node(target) else {
            return false;
        };
        self.named(Val::of(inst.callable))
            .is_some_and(|(module, name)| {
                name == "dtype" && (module == "numpy" || module.starts_with("numpy."))
            })
    }

    /// Whether `inst` is an instance of the watched class: made by calling the class, or by
    /// copyreg's helpers given it to instantiate.
    fn is_watched(&self, inst: &Instance) -> bool {
        let mut class = self.named(Val::of(inst.callable));
        if let Some(("copyreg", "__newobj__" | "__newobj_ex__" | "_reconstructor")) = class {
            class = self
                .tuple_items_of(Val::of(inst.args))
                .and_then(|args| args.first())
                .and_then(|&first| self.named(first));
        }
        class.is_some_and(|(module, name)| self.names_watched_class(module, name))
    }

    /// Whether `module.name` is the class [`SkipAfterBuild`] watches.
    fn names_watched_class(&self, module: &str, name: &str) -> bool {
        self.skip
            .as_ref()
            .is_some_and(|skip| path_ends_with(module, name, skip.class))
    }

    /// Whether `module.name` is, or is inside, the module [`SkipAfterBuild`] names.
    fn names_watched_module(&self, module: &str, name: &str) -> bool {
        self.skip.as_ref().is_some_and(|skip| {
            module
                .split('.')
                .chain(name.split('.'))
                .any(|segment| segment == skip.module)
        })
    }

    /// Walks what a call (or a BUILD) is given, `roots`, and whether the callee may return
    /// an instance of the watched class without being one of the calls
    /// [`Machine::is_watched`] knows: what it is given reaches the class itself, its module,
    /// an instance (built or not: after a BUILD the stack holds an array node instead, see
    /// [`Machine::after_watched_build`], so a reachable instance came from the memo or a copy
    /// and is the wrapper itself), or another such result. With `record`, the containers
    /// reached go into [`Machine::handed_out`]. The walk is paid from the copying budget;
    /// past it, the answer is yes (fail closed).
    fn hand_out(&mut self, roots: impl IntoIterator<Item = Val>, record: bool) -> bool {
        self.dtypes_reached.clear();
        let mut seen: HashSet<u32> = HashSet::new();
        let mut todo: Vec<u32> = Vec::new();
        for root in roots {
            if let Val::Ref(id) = root {
                if seen.insert(id.0) {
                    todo.push(id.0);
                }
            }
        }
        let mut cost = 0u64;
        let mut found = false;
        while let Some(id) = todo.pop() {
            found |= self.possibly_watched.contains(&id);
            if found && !record {
                break;
            }
            let Some(node) = self.nodes.get(id as usize) else {
                continue;
            };
            cost += 1 + node.child_count() as u64;
            if cost > self.copy_budget {
                self.copy_budget = 0;
                return true;
            }
            match node {
                Node::Global(_) => {
                    let named = self.named(Val::Ref(ObjectId(id)));
                    found |= named.is_some_and(|(m, n)| {
                        self.names_watched_class(m, n) || self.names_watched_module(m, n)
                    });
                    continue;
                }
                Node::Instance(inst) if self.is_watched(inst) => found = true,
                Node::List(_)
                | Node::Dict(_)
                | Node::Record { .. }
                | Node::Set(_)
                | Node::ByteArray(_)
                    if record =>
                {
                    self.handed_out.insert(id);
                }
                // A dtype is mutable too (by BUILD), and a call may return one it is given
                // (`numpy.dtype(w)` is `w`, or `w.dtype`): see `dtypes_given`.
                Node::Instance(_) if record && self.is_numpy_dtype(Val::Ref(ObjectId(id))) => {
                    self.dtypes_reached.push(id);
                }
                _ => {}
            }
            node.for_each_child(&self.rows, |child| {
                if let Item::Ref(c) = child {
                    if seen.insert(c.0) {
                        todo.push(c.0);
                    }
                }
            });
        }
        self.copy_budget -= cost;
        found
    }

    /// In a watched run, items from `start` given to object `id`: when it is an object the
    /// machine does not model, made by a call or imported (its `append`, `__setitem__` or `add`
    /// may do anything with them and with what it holds: a `UserList` appends to the list its
    /// state gave it, a module's dict keeps them for a later call to fetch), or a
    /// container a call was given (the items are then wherever the call put it), they are
    /// handed out as a call's arguments are (see [`Machine::hand_out`]).
    fn hand_out_items(&mut self, id: ObjectId, start: usize) {
        if self.skip.is_none() {
            return;
        }
        let opaque = matches!(
            self.nodes.get(id.index()),
            Some(Node::Instance(_) | Node::Global(_))
        );
        let known = self.handed_out.contains(&id.0);
        if !opaque && !known {
            return;
        }
        // What the object holds is walked once (then it is handed out itself); later items
        // alone after that, so that a large object filled in batches costs linear work.
        let holder = (opaque && !known).then_some(Val::Ref(id));
        let given: Vec<Val> = holder
            .into_iter()
            .chain(self.stack[start..].iter().copied())
            .collect();
        if opaque {
            self.handed_out.insert(id.0);
        }
        if self.hand_out(given, true) {
            self.watched_escaped = true;
        }
    }

    /// A copy of the graph reachable from `root` as a [`Value`], paid from the copying budget
    /// (`None`, and the budget spent, when it does not cover the copy), and whether it holds
    /// a container a call was given ([`Machine::handed_out`]).
    fn subgraph(&mut self, root: Val) -> Option<(Value, Item, bool)> {
        let mut ids: HashMap<u32, u32> = HashMap::new();
        let mut order: Vec<u32> = Vec::new();
        let visit = |item: Item, ids: &mut HashMap<u32, u32>, order: &mut Vec<u32>| {
            if let Item::Ref(id) = item {
                if let std::collections::hash_map::Entry::Vacant(slot) = ids.entry(id.0) {
                    slot.insert(order.len() as u32);
                    order.push(id.0);
                }
            }
        };
        visit(root.item(), &mut ids, &mut order);
        let mut next = 0;
        let mut cost = 0u64;
        while next < order.len() {
            let node = self.nodes.get(order[next] as usize)?;
            // Paid before the children are visited, so that a spent budget costs nothing.
            cost += 1 + node.child_count() as u64;
            if cost > self.copy_budget {
                self.copy_budget = 0;
                return None;
            }
            node.for_each_child(&self.rows, |child| visit(child, &mut ids, &mut order));
            next += 1;
        }
        self.copy_budget -= cost;
        let handed_out = order.iter().any(|id| self.handed_out.contains(id));
        let map = |item: Item| match item {
            Item::Ref(id) => Item::Ref(ObjectId(ids[&id.0])),
            other => other,
        };
        let mut value = Value::with_capacity(order.len());
        let rows = |row: Row| PackedItems::new(self.rows.get(row).iter().map(&map));
        for &id in &order {
            let node = self.nodes[id as usize].clone();
            let mut map_keys = |keys: SharedKeys| Arc::new(keys.iter().map(|&k| map(k)).collect());
            value.push(into_object(
                node,
                &self.globals,
                Some(&map),
                &mut map_keys,
                &rows,
            ));
        }
        let root = map(root.item());
        value.set_root(root);
        Some((value, root, handed_out))
    }

    #[cold]
    fn bad_arg(&mut self, op: Op) -> Halt {
        self.fail(format!("internal error: unexpected argument for {op}"))
    }

    /// A Python 2 str, decoded as the loader's `encoding` says.
    fn python2_str(&mut self, op: Op, bytes: Cow<'a, [u8]>) -> Result<Val, Halt> {
        let encoding = self.options.encoding;
        if encoding == Encoding::Bytes {
            let len = bytes.len();
            let bytes = match bytes {
                Cow::Borrowed(b) => self.payload(b),
                owned => owned,
            };
            return self.new_node(Node::Bytes(bytes), 0, len);
        }
        let (text, undecodable) = match bytes {
            Cow::Borrowed(b) => decode_python2(b, encoding),
            Cow::Owned(v) => {
                let (text, undecodable) = decode_python2(&v, encoding);
                (Cow::Owned(text.into_owned()), undecodable)
            }
        };
        if undecodable {
            self.find(
                FindingKind::UndecodableString,
                format!(
                    "{op} is not {} (CPython fails here unless told another encoding); read as Latin-1",
                    if encoding == Encoding::Ascii { "ASCII" } else { "UTF-8" }
                ),
            );
        }
        self.str_node(text)
    }

    fn instance(
        &mut self,
        kind: CallKind,
        callable: Val,
        args: Val,
        kwargs: Option<Val>,
    ) -> Result<Val, Halt> {
        if !self.build {
            return Ok(Val::Ref(ObjectId(Shape::Instance as u32)));
        }
        let depth = self.depth_of(&[callable, args, kwargs.unwrap_or(Val::None)]);
        let slots = 2 + kwargs.is_some() as usize;
        let made = self.new_node(
            Node::Instance(Box::new(Instance::new(
                kind,
                callable.item(),
                args.item(),
                kwargs.map(Val::item),
            ))),
            depth,
            slots,
        )?;
        if self.skip.is_some() {
            if let Val::Ref(id) = made {
                let direct = matches!(&self.nodes[id.index()], Node::Instance(inst) if self.is_watched(inst));
                let given = [Some(callable), Some(args), kwargs].into_iter().flatten();
                if !direct && self.hand_out(given, true) {
                    self.possibly_watched.insert(id.0);
                    self.watched_escaped = true;
                }
                if !self.dtypes_reached.is_empty() {
                    let dtypes = std::mem::take(&mut self.dtypes_reached);
                    self.dtypes_given.insert(id.0, dtypes);
                }
            }
        }
        Ok(made)
    }

    fn items_on_other(&mut self, op: Op, target: Val) {
        self.used_in_place(target);
        let message = format!(
            "{op} on {}, which has no such method (CPython fails here)",
            self.describe(target)
        );
        self.find(FindingKind::ItemsOnOther, message);
    }

    fn items_on_global(&mut self, op: Op, target: Val) {
        self.used_in_place(target);
        let message = format!("{op} calls a method of {}", self.describe(target));
        self.find(FindingKind::ItemsOnGlobal, message);
    }

    /// APPEND/APPENDS: the stack from `start` extends the object just below it.
    fn extend(&mut self, op: Op, start: usize) -> Result<(), Halt> {
        let Some(id) = self.items_target(op, start, false)? else {
            return Ok(());
        };
        self.hand_out_items(id, start);
        if self.build {
            self.grow((self.stack.len() - start) as u64)?;
            let items = &self.stack[start..];
            match &mut self.nodes[id.index()] {
                Node::List(list) => {
                    if list.is_empty() {
                        list.reserve_exact(items.len());
                    }
                    list.extend(items.iter().map(|v| v.item()))
                }
                Node::Instance(inst) => inst.list_items.extend(items.iter().map(|v| v.item())),
                _ => {}
            }
            self.deepen_from_stack(id, start)?;
        }
        self.stack.truncate(start);
        Ok(())
    }

    /// What APPEND(S), SETITEM(S) and ADDITEMS with items from `start` add to: the node just
    /// below them when it takes them (a list, dict or set as the opcode needs, or an instance),
    /// `None` when there is nothing to add or the target does not take items (then the items
    /// are dropped and the finding is made).
    #[inline]
    fn items_target(
        &mut self,
        op: Op,
        start: usize,
        pairs: bool,
    ) -> Result<Option<ObjectId>, Halt> {
        if start > self.stack.len() || start <= self.fence() {
            return Err(self.underflow());
        }
        if start == self.stack.len() {
            return Ok(None);
        }
        if pairs && !(self.stack.len() - start).is_multiple_of(2) {
            return Err(self.fail("odd number of items for SETITEMS"));
        }
        let target = self.stack[start - 1];
        let takes = match self.node(target) {
            Some(Node::List(_)) => op == Op::Append || op == Op::Appends,
            Some(Node::Dict(_) | Node::Record { .. }) => pairs,
            Some(Node::Set(_)) => op == Op::AddItems,
            Some(Node::Instance(_)) => true,
            Some(Node::Global(_)) => {
                self.items_on_global(op, target);
                if let Val::Ref(id) = target {
                    self.hand_out_items(id, start);
                }
                return self.drop_items(start);
            }
            _ => false,
        };
        if !takes {
            self.items_on_other(op, target);
        }
        match target {
            Val::Ref(id) if takes => Ok(Some(id)),
            _ => self.drop_items(start),
        }
    }

    fn drop_items(&mut self, start: usize) -> Result<Option<ObjectId>, Halt> {
        self.dropped |= start < self.stack.len();
        self.stack.truncate(start);
        Ok(None)
    }

    /// Raises the depth of `id`, which just took children, to at least `depth`.
    fn deepen_to(&mut self, id: ObjectId, depth: u32) -> Result<(), Halt> {
        if !self.count_depths {
            return Ok(());
        }
        let slot = &mut self.depths[id.index()];
        if *slot & NESTED != 0 {
            // Its containers' depths do not follow: export measures the graph itself.
            self.depths_stale = true;
        }
        if depth > u32::from(*slot & !NESTED) {
            let nested = *slot & NESTED;
            let stored = self.slot_depth(depth);
            self.depths[id.index()] = nested | stored;
            self.check_depth(depth)?;
        }
        Ok(())
    }

    /// `depth` as a node's slot holds it: past [`DEEPEST`], the running count is a low bound and
    /// export measures the graph.
    #[inline]
    fn slot_depth(&mut self, depth: u32) -> u16 {
        match u16::try_from(depth) {
            Ok(d) if d <= DEEPEST => d,
            _ => {
                self.depths_stale = true;
                DEEPEST
            }
        }
    }

    /// SETITEM/SETITEMS: key, value pairs from `start` go into the object just below them.
    fn set_items(&mut self, op: Op, start: usize) -> Result<(), Halt> {
        let Some(id) = self.items_target(op, start, true)? else {
            return Ok(());
        };
        if self.skip.is_some() {
            self.hand_out_items(id, start);
        }
        if self.build {
            self.grow((self.stack.len() - start) as u64)?;
            let fresh = match &self.nodes[id.index()] {
                Node::Dict(pairs) => pairs.is_empty(),
                Node::Record { .. } => {
                    self.unshare_record(id);
                    false
                }
                _ => false,
            };
            if fresh && self.keys_known_distinct(&self.stack[start..]) {
                return self.fill_record(id, start);
            }
            if let Node::Dict(pairs) = &mut self.nodes[id.index()] {
                if fresh {
                    pairs.reserve_exact((self.stack.len() - start) / 2);
                }
                self.deepen_from_stack(id, start)?;
                let fits_small = pairs_len(&self.nodes[id.index()])
                    + (self.stack.len() - start) / 2
                    < INDEX_FROM;
                if fits_small {
                    // The usual small dict: searched linearly, taken out of the arena once.
                    let mut pairs = match &mut self.nodes[id.index()] {
                        Node::Dict(pairs) => std::mem::take(pairs),
                        _ => Vec::new(),
                    };
                    let new = &self.stack[start..];
                    for pair in new.chunks_exact(2) {
                        let (key, value) = (pair[0].item(), pair[1].item());
                        match small_dict_find(&self.nodes, &pairs, key) {
                            Some(pos) => {
                                // An equal key keeps the first key object, takes the new value.
                                self.dropped = true;
                                pairs[pos].1 = value;
                            }
                            None => pairs.push((key, value)),
                        }
                    }
                    if fresh && pairs.len() * 2 == new.len() {
                        self.remember_distinct_keys(&pairs);
                    }
                    if let Node::Dict(slot) = &mut self.nodes[id.index()] {
                        *slot = pairs;
                    }
                } else {
                    for k in (start..self.stack.len()).step_by(2) {
                        self.dict_insert(id, self.stack[k], self.stack[k + 1]);
                    }
                }
            } else {
                let items = &self.stack[start..];
                if let Node::Instance(inst) = &mut self.nodes[id.index()] {
                    inst.dict_items
                        .extend(items.chunks_exact(2).map(|p| (p[0].item(), p[1].item())));
                }
                self.deepen_from_stack(id, start)?;
            }
        }
        self.stack.truncate(start);
        Ok(())
    }

    /// Makes the empty dict `id` a record of [`Machine::distinct_keys`] and the values of the
    /// stack's pairs from `start`. The values' depths are read as they are packed: one pass.
    fn fill_record(&mut self, id: ObjectId, start: usize) -> Result<(), Halt> {
        let count = self.count_depths;
        let mut depth = self.distinct_keys_depth;
        let mut row = self.rows.writer(self.distinct_keys.len());
        for pair in self.stack[start..].chunks_exact(2) {
            match pair[1] {
                Val::Ref(child) => {
                    if let Some(d) = self.depths.get_mut(child.index()).filter(|_| count) {
                        depth = depth.max(u32::from(*d & !NESTED));
                        *d |= NESTED;
                    }
                    row.reference(child);
                }
                Val::Int(n) => row.int(n),
                Val::Float(f) => row.float(f),
                Val::Bool(b) => row.bool(b),
                // Built values hold no Text or Tuple slots (see `Val::item`).
                Val::None | Val::Text { .. } | Val::Tuple { .. } => row.none(),
            }
        }
        let row = row.finish();
        self.deepen_to(id, depth + 1)?;
        let keys = match &self.record_keys {
            Some(keys) => keys.clone(),
            None => {
                let keys: SharedKeys =
                    Arc::new(self.distinct_keys.iter().map(|&k| Item::Ref(k)).collect());
                self.record_keys = Some(keys.clone());
                keys
            }
        };
        self.nodes[id.index()] = Node::Record { keys, row };
        self.stack.truncate(start);
        Ok(())
    }

    /// Whether the keys of `pairs` (keys and values alternating) are exactly
    /// [`Machine::distinct_keys`].
    #[inline]
    fn keys_known_distinct(&self, pairs: &[Val]) -> bool {
        pairs.len() == 2 * self.distinct_keys.len()
            && !self.distinct_keys.is_empty()
            && pairs
                .chunks_exact(2)
                .zip(&self.distinct_keys)
                .all(|(pair, &key)| pair[0] == Val::Ref(key))
    }

    /// Remembers the keys of a dict just filled from empty with no two equal, when all are
    /// objects (strs are immutable, so the same objects stay unequal).
    fn remember_distinct_keys(&mut self, pairs: &[(Item, Item)]) {
        self.distinct_keys.clear();
        self.record_keys = None;
        self.distinct_keys_depth = 0;
        for &(key, _) in pairs {
            match key {
                Item::Ref(id) => {
                    self.distinct_keys.push(id);
                    let depth = self.depth(Val::Ref(id));
                    self.distinct_keys_depth = self.distinct_keys_depth.max(depth);
                }
                _ => {
                    self.distinct_keys.clear();
                    return;
                }
            }
        }
    }

    /// ADDITEMS: the items from `start` go into the set just below them.
    fn add_items(&mut self, op: Op, start: usize) -> Result<(), Halt> {
        let Some(id) = self.items_target(op, start, false)? else {
            return Ok(());
        };
        self.hand_out_items(id, start);
        if self.build {
            self.grow((self.stack.len() - start) as u64)?;
            if let Node::Set(_) = self.nodes[id.index()] {
                for k in start..self.stack.len() {
                    self.set_add(id, self.stack[k])?;
                }
            } else {
                let items = &self.stack[start..];
                if let Node::Instance(inst) = &mut self.nodes[id.index()] {
                    inst.set_items.extend(items.iter().map(|v| v.item()));
                }
                self.deepen_from_stack(id, start)?;
            }
        }
        self.stack.truncate(start);
        Ok(())
    }

    /// BUILD: `target` gets `state`.
    fn build_state(&mut self, target: Val, state: Val) -> Result<(), Halt> {
        let Val::Ref(id) = target else {
            // BUILD with None sets nothing (CPython's default __setstate__ path).
            if state != Val::None {
                let message = format!("BUILD gives state to {}", self.describe(target));
                self.find(FindingKind::StateOnOther, message);
            }
            return Ok(());
        };
        match &mut self.nodes[id.index()] {
            Node::Instance(inst) => {
                if self.build {
                    inst.state.push(state.item());
                }
                self.grow(1)?;
                self.deepen(id, state)
            }
            Node::Global(g) => {
                let g = *g as usize;
                if let Some(uses) = self.getattrs.get_mut(&(g as u32)) {
                    uses.in_place = true;
                }
                self.globals[g].usage.built = true;
                let message = format!(
                    "BUILD gives state to the imported {}: it sets attributes on an imported object",
                    self.globals[g].target
                );
                self.find(FindingKind::StateOnGlobal, message);
                Ok(())
            }
            _ => {
                // BUILD with None sets nothing (CPython's default __setstate__ path).
                let empty = matches!(state, Val::None);
                if !empty {
                    let message = format!("BUILD gives state to {}", self.describe(target));
                    self.find(FindingKind::StateOnOther, message);
                }
                Ok(())
            }
        }
    }

    // ---- dicts and sets with Python's key equality ----

    fn new_set(&mut self, items: Vec<Val>, frozen: bool) -> Result<Val, Halt> {
        let depth = self.depth_of(&items);
        let node = if frozen {
            Node::FrozenSet(Vec::new())
        } else {
            Node::Set(Vec::new())
        };
        let item = self.new_node(node, 1, 0)?;
        let Val::Ref(id) = item else {
            return Err(self.fail("internal error: a new dict without a node"));
        };
        self.grow(items.len() as u64)?;
        for element in items {
            self.set_add(id, element)?;
        }
        self.deepen_to(id, depth)?;
        Ok(item)
    }

    /// Position of `key` among the `len` keys `key_at` gives (the keys of a dict or the
    /// elements of a set), through the container's hash index once it is large.
    fn find_key(
        &mut self,
        id: ObjectId,
        len: usize,
        key_at: &dyn Fn(usize) -> Item,
        key: Item,
    ) -> Option<usize> {
        let nodes = &self.nodes;
        let wanted = key_of(nodes, key)?;
        if len < INDEX_FROM {
            return (0..len).find(|&p| key_of(nodes, key_at(p)) == Some(wanted));
        }
        let hasher = &self.hasher;
        let rehash = |&p: &u32| key_of(nodes, key_at(p as usize)).map_or(0, |k| hasher.hash_one(k));
        let index = self.indexes.entry(id.0).or_insert_with(|| {
            let mut table = hashbrown::HashTable::with_capacity(len);
            for pos in 0..len {
                if let Some(k) = key_of(nodes, key_at(pos)) {
                    table.insert_unique(hasher.hash_one(k), pos as u32, rehash);
                }
            }
            table
        });
        index
            .find(hasher.hash_one(wanted), |&p| {
                key_of(nodes, key_at(p as usize)) == Some(wanted)
            })
            .map(|&p| p as usize)
    }

    /// Adds the key at `pos` to the container's hash index, if it has one.
    fn index_new_key(&mut self, id: ObjectId, key_at: &dyn Fn(usize) -> Item, pos: usize) {
        let nodes = &self.nodes;
        let hasher = &self.hasher;
        if let Some(index) = self.indexes.get_mut(&id.0) {
            if let Some(k) = key_of(nodes, key_at(pos)) {
                let rehash =
                    |&p: &u32| key_of(nodes, key_at(p as usize)).map_or(0, |k| hasher.hash_one(k));
                index.insert_unique(hasher.hash_one(k), pos as u32, rehash);
            }
        }
    }

    /// Makes a record that is about to take more items a plain dict node.
    fn unshare_record(&mut self, id: ObjectId) {
        if let Node::Record { keys, row } = &self.nodes[id.index()] {
            let pairs = keys
                .iter()
                .copied()
                .zip(self.rows.get(*row).iter())
                .collect();
            self.nodes[id.index()] = Node::Dict(pairs);
        }
    }

    /// `dict[key] = value` with Python semantics: an equal key keeps its place and takes the
    /// new value. The caller has accounted for the depth.
    fn dict_insert(&mut self, id: ObjectId, key: Val, value: Val) {
        if !self.build {
            return;
        }
        self.unshare_record(id);
        let (key, value) = (key.item(), value.item());
        let Node::Dict(pairs) = &self.nodes[id.index()] else {
            return;
        };
        let found = if pairs.len() < INDEX_FROM {
            small_dict_find(&self.nodes, pairs, key)
        } else {
            let mut pairs = match &mut self.nodes[id.index()] {
                Node::Dict(pairs) => std::mem::take(pairs),
                _ => return,
            };
            let found = {
                let pairs = &pairs;
                self.find_key(id, pairs.len(), &|p| pairs[p].0, key)
            };
            if found.is_none() {
                pairs.push((key, value));
                let pairs = &pairs;
                self.index_new_key(id, &|p| pairs[p].0, pairs.len() - 1);
            }
            if let Node::Dict(slot) = &mut self.nodes[id.index()] {
                *slot = pairs;
            }
            match found {
                Some(pos) => Some(pos),
                None => return,
            }
        };
        if found.is_some() {
            // An equal key keeps the first key object, takes the new value.
            self.dropped = true;
        }
        if let Node::Dict(pairs) = &mut self.nodes[id.index()] {
            match found {
                Some(pos) => pairs[pos].1 = value,
                None => pairs.push((key, value)),
            }
        }
    }

    /// `set.add(item)`.
    fn set_add(&mut self, id: ObjectId, item: Val) -> Result<(), Halt> {
        self.deepen(id, item)?;
        if !self.build {
            return Ok(());
        }
        let item = item.item();
        let mut elements = match &mut self.nodes[id.index()] {
            Node::Set(v) | Node::FrozenSet(v) => std::mem::take(v),
            _ => return Ok(()),
        };
        let found = {
            let elements = &elements;
            self.find_key(id, elements.len(), &|p| elements[p], item)
        };
        if found.is_some() {
            self.dropped = true; // an equal element is already there
        } else {
            elements.push(item);
            if elements.len() > INDEX_FROM {
                let elements = &elements;
                self.index_new_key(id, &|p| elements[p], elements.len() - 1);
            }
        }
        if let Node::Set(v) | Node::FrozenSet(v) = &mut self.nodes[id.index()] {
            *v = elements;
        }
        Ok(())
    }

    // ---- folding of safe data constructors ----

    /// The plain object a call of a safe data constructor makes, if `callable` is exactly one
    /// and `args` fit it.
    fn fold(&mut self, callable: Val, args: Val) -> Result<Option<Val>, Halt> {
        let Some((module, name)) = self.named(callable) else {
            return Ok(None);
        };
        let Some(args) = self.tuple_items_of(args) else {
            return Ok(None);
        };
        let args: Vec<Val> = args.to_vec();
        let (module, name) = (module.to_owned(), name.to_owned());
        let nodes = &self.nodes;
        let rows = &self.rows;
        let pool = &self.tuple_items;
        let node_of = |item: Val| match item {
            Val::Ref(id) => nodes.get(id.index()),
            _ => None,
        };
        let data = self.data;
        let str_of = |item: Val| text_of(data, nodes, item);
        let latin1_name = |item: Val| matches!(str_of(item), Some("latin1" | "latin-1"));
        let sequence = |item: Val| match node_of(item) {
            Some(Node::List(v) | Node::Set(v) | Node::FrozenSet(v)) => {
                Some(v.iter().map(|&i| Val::of(i)).collect::<Vec<Val>>())
            }
            _ => tuple_items_of(nodes, pool, item).map(<[Val]>::to_vec),
        };
        let number = |item: Val| match item {
            Val::Int(i) => Some(i as f64),
            Val::Bool(b) => Some(b as u8 as f64),
            Val::Float(f) => Some(f),
            _ => None,
        };
        let bytes_like = |item: Val| match node_of(item) {
            Some(Node::Bytes(b) | Node::ByteArray(b)) => Some(b.clone()),
            _ => None,
        };
        let encoded = |text: &str| -> Option<Cow<'a, [u8]>> {
            // Latin-1 takes chars below U+0100: in UTF-8 those never use a byte >= 0xC4.
            if text.bytes().any(|b| b >= 0xc4) {
                None
            } else {
                Some(Cow::Owned(latin1_encode(text)))
            }
        };

        enum Made<'a> {
            Node(Node<'a>),
            /// A list (or, when true, a tuple).
            Seq(Vec<Val>, bool),
            Set(Vec<Val>, bool),
            Dict(Vec<Val>),
            Reconstructed(Val),
            /// The argument itself.
            Same(Val),
        }
        let made: Option<Made<'a>> = match (module.as_str(), name.as_str(), args.as_slice()) {
            ("builtins", "set" | "frozenset", []) => {
                Some(Made::Set(Vec::new(), name == "frozenset"))
            }
            ("builtins", "set" | "frozenset", [x]) => {
                sequence(*x).map(|v| Made::Set(v, name == "frozenset"))
            }
            ("builtins", "list", []) => Some(Made::Seq(Vec::new(), false)),
            ("builtins", "list", [x]) => sequence(*x).map(|v| Made::Seq(v, false)),
            ("builtins", "tuple", []) => Some(Made::Seq(Vec::new(), true)),
            // `tuple(t)` of a tuple is `t` itself, in CPython too: no copy, so folding it again
            // and again cannot multiply a large tuple.
            ("builtins", "tuple", [x]) if tuple_items_of(nodes, pool, *x).is_some() => {
                Some(Made::Same(*x))
            }
            ("builtins", "tuple", [x]) => sequence(*x).map(|v| Made::Seq(v, true)),
            ("builtins", "dict", []) | ("collections", "OrderedDict", []) => {
                Some(Made::Dict(Vec::new()))
            }
            ("builtins", "dict", [x]) => match node_of(*x) {
                Some(Node::Dict(pairs)) => Some(Made::Dict(
                    pairs
                        .iter()
                        .flat_map(|&(k, v)| [Val::of(k), Val::of(v)])
                        .collect(),
                )),
                Some(Node::Record { keys, row }) => Some(Made::Dict(
                    keys.iter()
                        .zip(rows.get(*row).iter())
                        .flat_map(|(&k, v)| [Val::of(k), Val::of(v)])
                        .collect(),
                )),
                _ => None,
            },
            ("builtins", "bytearray", []) => Some(Made::Node(Node::ByteArray(Cow::Borrowed(b"")))),
            ("builtins", "bytes", []) => Some(Made::Node(Node::Bytes(Cow::Borrowed(b"")))),
            ("builtins", "bytearray", [x]) => {
                bytes_like(*x).map(|b| Made::Node(Node::ByteArray(b)))
            }
            ("builtins", "bytes", [x]) => bytes_like(*x).map(|b| Made::Node(Node::Bytes(b))),
            ("builtins", "bytearray", [s, e]) if latin1_name(*e) => str_of(*s)
                .and_then(encoded)
                .map(|b| Made::Node(Node::ByteArray(b))),
            ("builtins", "bytes", [s, e]) if latin1_name(*e) => str_of(*s)
                .and_then(encoded)
                .map(|b| Made::Node(Node::Bytes(b))),
            ("_codecs" | "codecs", "encode", [s, e]) if latin1_name(*e) => str_of(*s)
                .and_then(encoded)
                .map(|b| Made::Node(Node::Bytes(b))),
            ("builtins", "complex", []) => Some(Made::Node(Node::Complex(0.0, 0.0))),
            ("builtins", "complex", [re]) => {
                number(*re).map(|re| Made::Node(Node::Complex(re, 0.0)))
            }
            ("builtins", "complex", [re, im]) => match (number(*re), number(*im)) {
                (Some(re), Some(im)) => Some(Made::Node(Node::Complex(re, im))),
                _ => None,
            },
            ("copyreg", "_reconstructor", [cls, base, Val::None])
                if self.named(*base) == Some(("builtins", "object")) =>
            {
                Some(Made::Reconstructed(*cls))
            }
            _ => None,
        };
        let Some(made) = made else {
            return Ok(None);
        };
        let item = match made {
            Made::Seq(v, tuple) => {
                let depth = self.depth_of(&v).max(1);
                let size = v.len();
                if tuple {
                    self.tuple(v)?
                } else if self.build {
                    self.new_node(Node::List(items(v)), depth, size)?
                } else {
                    self.new_node(Node::List(Vec::new()), depth, size)?
                }
            }
            Made::Node(node) => {
                let size = match &node {
                    Node::Bytes(b) | Node::ByteArray(b) => b.len(),
                    _ => 0,
                };
                let node = match node {
                    Node::Bytes(_) if !self.build => Node::Bytes(Cow::Borrowed(b"")),
                    Node::ByteArray(_) if !self.build => Node::ByteArray(Cow::Borrowed(b"")),
                    node => node,
                };
                self.new_node(node, 0, size)?
            }
            Made::Set(items, frozen) => self.new_set(items, frozen)?,
            Made::Dict(flat) => {
                self.grow(flat.len() as u64)?;
                let depth = self.depth_of(&flat);
                let item = self.new_node(Node::Dict(Vec::new()), depth, 0)?;
                let Val::Ref(id) = item else {
                    return Err(self.fail("internal error: a new dict without a node"));
                };
                for pair in flat.chunks_exact(2) {
                    self.dict_insert(id, pair[0], pair[1]);
                }
                item
            }
            Made::Same(item) => item,
            Made::Reconstructed(cls) => {
                // `copyreg._reconstructor(cls, object, None)` is `object.__new__(cls)`.
                self.mark_called(cls);
                let no_args = self.tuple(Vec::new())?;
                self.instance(CallKind::NewObj, cls, no_args, None)?
            }
        };
        Ok(Some(item))
    }
}

/// A Python 2 str's bytes as text, and whether `encoding` could not decode them (then they
/// are read as Latin-1).
fn decode_python2(bytes: &[u8], encoding: Encoding) -> (Cow<'_, str>, bool) {
    if bytes.is_ascii() {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return (Cow::Borrowed(s), false);
        }
    }
    match encoding {
        Encoding::Latin1 => (Cow::Owned(latin1(bytes)), false),
        Encoding::Utf8 => match std::str::from_utf8(bytes) {
            Ok(s) => (Cow::Borrowed(s), false),
            Err(_) => (Cow::Owned(latin1(bytes)), true),
        },
        _ => (Cow::Owned(latin1(bytes)), true),
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

fn latin1_encode(text: &str) -> Vec<u8> {
    text.chars().map(|c| c as u32 as u8).collect()
}

// ---- export ----

/// Converts the arena into a [`Value`], keeping only what the roots and the partial stack
/// reach (folded arguments and popped values are dropped). With `max_depth`, first checks the
/// nesting depth of the result exactly (needed when containers took children after they were
/// nested, which the running count cannot follow).
pub(crate) fn export(
    mut nodes: Vec<Node<'_>>,
    rows: Rows,
    globals: &[GlobalRef],
    roots: &[Val],
    partial: &[Val],
    max_depth: Option<usize>,
    all_reachable: bool,
) -> Result<(Value, Vec<Item>, Vec<Item>), String> {
    let n = nodes.len();
    const UNSEEN: u32 = u32::MAX;
    // The new id of each node (UNSEEN: dropped). Not needed when the machine let nothing go
    // and nothing is to be measured: every node is kept where it is.
    let mut remap = Vec::new();
    if !all_reachable || max_depth.is_some() {
        // Reachability, iteratively.
        remap = vec![if all_reachable { 0 } else { UNSEEN }; n];
        let mut todo: Vec<u32> = Vec::new();
        let seen_mark = |item: Item, remap: &mut [u32], todo: &mut Vec<u32>| {
            if let Item::Ref(id) = item {
                if let Some(slot) = remap.get_mut(id.index()) {
                    if *slot == UNSEEN {
                        *slot = 0;
                        todo.push(id.0);
                    }
                }
            }
        };
        for &item in roots.iter().chain(partial.iter()) {
            seen_mark(item.item(), &mut remap, &mut todo);
        }
        while let Some(id) = todo.pop() {
            nodes[id as usize]
                .for_each_child(&rows, |child| seen_mark(child, &mut remap, &mut todo));
        }
        if let Some(max_depth) = max_depth {
            longest_path_check(&nodes, &rows, &remap, max_depth)?;
        }
        let mut next = 0u32;
        for slot in remap.iter_mut() {
            if *slot != UNSEEN {
                *slot = next;
                next += 1;
            }
        }
        if next as usize == n {
            remap = Vec::new();
        }
    }
    // Ids change only when something is dropped; otherwise containers move as they are.
    let compact = !remap.is_empty();
    let kept = |old: usize| !compact || remap[old] != UNSEEN;
    let map = |item: Item| match item {
        Item::Ref(id) if compact => Item::Ref(ObjectId(remap[id.index()])),
        other => other,
    };
    // Nodes and objects have the same size and alignment, so this collect reuses the nodes'
    // allocation (std's in-place iteration): no second arena while converting.
    // Records share key tables: each is mapped once (keyed by the table, which stays alive).
    let mut mapped_keys: HashMap<*const Box<[Item]>, (SharedKeys, SharedKeys)> = HashMap::new();
    let mut map_keys = |keys: SharedKeys| -> SharedKeys {
        if !compact {
            return keys;
        }
        let entry = mapped_keys.entry(Arc::as_ptr(&keys)).or_insert_with(|| {
            let mapped = Arc::new(keys.iter().map(|&k| map(k)).collect());
            (keys, mapped)
        });
        entry.1.clone()
    };
    // Records' values hold references too: renumbered into new rows, the old ones let go.
    let rows = match compact {
        false => rows,
        true => {
            let mut renumbered = Rows::new();
            for (old, node) in nodes.iter_mut().enumerate() {
                if let Node::Record { row, .. } = node {
                    if kept(old) {
                        *row = renumbered.push(rows.get(*row).iter().map(&map));
                    }
                }
            }
            renumbered
        }
    };
    let chunks = rows.finish();
    let packed = |row: Row| chunks[row.chunk()].item(row);
    let objects: Vec<Object> = nodes
        .into_iter()
        .enumerate()
        .filter_map(|(old, node)| {
            kept(old).then(|| {
                into_object(
                    node,
                    globals,
                    compact.then_some(&map),
                    &mut map_keys,
                    &packed,
                )
            })
        })
        .collect();
    let roots: Vec<Item> = roots.iter().map(|v| map(v.item())).collect();
    let partial: Vec<Item> = partial.iter().map(|v| map(v.item())).collect();
    let value = Value::from_trusted_parts(objects, roots.first().copied().unwrap_or(Item::None));
    Ok((value, roots, partial))
}

/// The core object a node stands for, its references passed through `map` (when ids change).
/// Inlined into export's one loop, so that the strs and records of a large load are converted
/// without a call each.
#[inline(always)]
fn into_object(
    node: Node<'_>,
    globals: &[GlobalRef],
    map: Option<&impl Fn(Item) -> Item>,
    map_keys: &mut impl FnMut(SharedKeys) -> SharedKeys,
    rows: &impl Fn(Row) -> PackedItems,
) -> Object {
    let items = |mut v: Vec<Item>| -> Vec<Item> {
        if let Some(map) = map {
            v.iter_mut().for_each(|i| *i = map(*i));
        }
        v
    };
    let pairs = |mut v: Vec<(Item, Item)>| -> Vec<(Item, Item)> {
        if let Some(map) = map {
            v.iter_mut().for_each(|(k, x)| {
                *k = map(*k);
                *x = map(*x);
            });
        }
        v
    };
    let one = |item: Item| map.map_or(item, |map| map(item));
    match node {
        Node::BigInt(b) => Object::BigInt(b),
        Node::Long(bytes) => Object::BigInt(Box::new(BigInt::from_signed_bytes_le(bytes))),
        Node::Complex(re, im) => Object::Complex { re, im },
        Node::Str(s) => Object::Str(s),
        Node::Bytes(b) => Object::Bytes(b.into_owned()),
        Node::ByteArray(b) => Object::ByteArray(b.into_owned()),
        Node::List(v) => Object::List(items(v)),
        Node::Tuple(v) => Object::Tuple(items(v.into_iter().map(Val::item).collect())),
        Node::Set(v) => Object::Set(items(v)),
        Node::FrozenSet(v) => Object::FrozenSet(items(v)),
        Node::Dict(v) => Object::Dict(pairs(v).into()),
        // The row was renumbered already, if ids changed.
        Node::Record { keys, row } => Object::Dict(Dict::trusted_record(map_keys(keys), rows(row))),
        Node::Global(g) => match &globals[g as usize].target {
            Target::Named { module, name } => Object::global(module.clone(), name.clone()),
            Target::Extension(code) => Object::Extension(*code),
        },
        Node::Instance(mut inst) => {
            if map.is_some() {
                inst.callable = one(inst.callable);
                inst.args = one(inst.args);
                inst.kwargs = inst.kwargs.map(one);
                inst.state = items(std::mem::take(&mut inst.state));
                inst.list_items = items(std::mem::take(&mut inst.list_items));
                inst.dict_items = pairs(std::mem::take(&mut inst.dict_items));
                inst.set_items = items(std::mem::take(&mut inst.set_items));
            }
            Object::Instance(inst)
        }
        Node::PersistentId(pid) => Object::PersistentId(one(pid)),
        Node::Buffer { index, readonly } => Object::Buffer { index, readonly },
    }
}

/// Fails when a path of containment through the reachable nodes (back edges of cycles left
/// out) is longer than `max_depth`: what a recursive walk of the value would go through.
fn longest_path_check(
    nodes: &[Node<'_>],
    rows: &Rows,
    reachable: &[u32],
    max_depth: usize,
) -> Result<(), String> {
    const UNSEEN: u32 = u32::MAX;
    const OPEN: u32 = u32::MAX - 1;
    // Height of each finished node; OPEN while on the walk's path.
    let mut height = vec![UNSEEN; nodes.len()];
    let mut path: Vec<(u32, usize, u32)> = Vec::new(); // (node, next child, best child height)
    for start in 0..nodes.len() {
        if reachable[start] == UNSEEN || height[start] != UNSEEN {
            continue;
        }
        height[start] = OPEN;
        path.push((start as u32, 0, 0));
        while let Some(&mut (id, ref mut k, ref mut best)) = path.last_mut() {
            match nodes[id as usize].child(rows, *k) {
                Some(child) => {
                    *k += 1;
                    if let Item::Ref(c) = child {
                        match height[c.index()] {
                            UNSEEN => {
                                height[c.index()] = OPEN;
                                path.push((c.0, 0, 0));
                            }
                            OPEN => {} // a back edge: a cycle
                            h => *best = (*best).max(h),
                        }
                    }
                }
                None => {
                    let h = *best + 1;
                    if h as usize > max_depth {
                        return Err(format!(
                            "limit exceeded: values nested more than {max_depth} deep"
                        ));
                    }
                    height[id as usize] = h;
                    path.pop();
                    if let Some(parent) = path.last_mut() {
                        parent.2 = parent.2.max(h);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The proven `getattr` walk ([`Machine::attribute_walk`]): what it accepts, and every
    //! other use of `getattr`, which it must leave as it was.

    use super::plain_attribute_name;
    use crate::{analyze, analyze_with, load, validate_modules, Encoding, Limits, Options};
    use pypickle_core::{Object, Target};

    fn g(module: &str, name: &str) -> Vec<u8> {
        [b"c", module.as_bytes(), b"\n", name.as_bytes(), b"\n"].concat()
    }

    fn u(s: &str) -> Vec<u8> {
        let mut out = vec![b'X'];
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out
    }

    fn sg(module: &str, name: &str) -> Vec<u8> {
        [u(module), u(name), b"\x93".to_vec()].concat()
    }

    /// STACK_GLOBAL for getattr and its global, and getattr imported twice: each import is
    /// flagged on its own.
    #[test]
    fn each_import_of_getattr_is_judged_on_its_own() {
        let walk = [
            sg(GETATTR.0, GETATTR.1),
            sg(ZONEINFO.0, ZONEINFO.1),
            u("_unpickle"),
            b"\x86R".to_vec(),
        ]
        .concat();
        let bytes = [
            &b"\x80\x04"[..],
            &walk,
            b"0",
            &sg(GETATTR.0, GETATTR.1),
            b"0",
            &walk,
            b".",
        ]
        .concat();
        assert_eq!(flags_agree(&bytes), [true, false, true]);
        assert!(validate_modules(&bytes).contains(&"builtins.getattr".to_string()));
    }

    const GETATTR: (&str, &str) = ("builtins", "getattr");
    const ZONEINFO: (&str, &str) = ("zoneinfo", "ZoneInfo");

    /// `getattr(zoneinfo.ZoneInfo, '_unpickle')('UTC', 1)` at protocol 2.
    fn zone_walk() -> Vec<u8> {
        [
            g(GETATTR.0, GETATTR.1),
            g(ZONEINFO.0, ZONEINFO.1),
            u("_unpickle"),
            b"\x86R".to_vec(),
            u("UTC"),
            b"K\x01\x86R".to_vec(),
        ]
        .concat()
    }

    fn p2(body: &[u8]) -> Vec<u8> {
        [b"\x80\x02", body, b"."].concat()
    }

    fn targets(bytes: &[u8]) -> Vec<String> {
        analyze(bytes)
            .globals
            .iter()
            .map(|g| g.target.to_string())
            .collect()
    }

    /// Whether each `getattr` reference of the stream is flagged as used only for walks.
    fn getattr_flags(bytes: &[u8]) -> Vec<bool> {
        analyze(bytes)
            .globals
            .iter()
            .filter(|g| g.target.to_string() == "builtins.getattr")
            .map(|g| g.usage.attribute_walk)
            .collect()
    }

    /// The getattr references, built and not built, agree.
    fn flags_agree(bytes: &[u8]) -> Vec<bool> {
        let analysed = getattr_flags(bytes);
        let loaded: Vec<bool> = load(bytes, &Limits::default())
            .globals
            .iter()
            .filter(|g| g.target.to_string() == "builtins.getattr")
            .map(|g| g.usage.attribute_walk)
            .collect();
        assert_eq!(analysed, loaded, "{bytes:?}");
        analysed
    }

    #[test]
    fn plain_attribute_names() {
        for ok in ["_unpickle", "Inner", "a", "_", "_x9", "append", "class"] {
            assert!(plain_attribute_name(ok), "{ok}");
        }
        for bad in [
            "",
            "__globals__",
            "__class__",
            "__dict__",
            "__subclasses__",
            "__reduce__",
            "__x",
            "__",
            "a.b",
            "9a",
            "a b",
            "caf\u{e9}",
            "a-b",
            "a\n",
        ] {
            assert!(!plain_attribute_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_walk_is_recorded_as_the_global_it_reaches() {
        let bytes = p2(&zone_walk());
        assert_eq!(
            targets(&bytes),
            [
                "builtins.getattr",
                "zoneinfo.ZoneInfo",
                "zoneinfo.ZoneInfo._unpickle"
            ]
        );
        assert_eq!(flags_agree(&bytes), [true]);
        let a = analyze(&bytes);
        let walk = &a.globals[2];
        assert_eq!(walk.opcode, "REDUCE");
        assert!(walk.usage.called, "what the walk returned is called");
        assert_eq!(
            validate_modules(&bytes),
            ["zoneinfo.ZoneInfo", "zoneinfo.ZoneInfo._unpickle"]
        );
        // The value holds the attribute as a global, called.
        let loaded = load(&bytes, &Limits::default());
        let value = loaded.value;
        let root = value.root();
        let pypickle_core::Item::Ref(id) = root else {
            panic!("{root:?}")
        };
        let Object::Instance(inst) = value.get(id) else {
            panic!("an instance")
        };
        let pypickle_core::Item::Ref(callable) = inst.callable else {
            panic!("a callable")
        };
        assert!(
            matches!(value.get(callable), Object::Global(g)
                if g.module == "zoneinfo" && g.name == "ZoneInfo._unpickle"),
            "{:?}",
            value.get(callable)
        );
    }

    #[test]
    fn a_walk_at_every_protocol_and_through_the_memo() {
        // Protocol 0: text opcodes, `__builtin__` remapped by fix_imports.
        let p0 = [
            &b"c__builtin__\ngetattr\np0\n(czoneinfo\nZoneInfo\np1\nS'_unpickle'\np2\ntp3\nRp4\n"[..],
            b"(S'UTC'\nI1\ntR.",
        ]
        .concat();
        assert_eq!(flags_agree(&p0), [true]);
        assert!(targets(&p0).contains(&"zoneinfo.ZoneInfo._unpickle".to_string()));
        // Protocol 4: STACK_GLOBAL, operands and walk arguments from the memo.
        let p4 = [
            &b"\x80\x04"[..],
            &u("builtins"),
            b"\x94",
            &u("getattr"),
            b"\x94\x93\x94",
            &u("zoneinfo"),
            b"\x94",
            &u("ZoneInfo"),
            b"\x94\x93\x94",
            &u("_unpickle"),
            b"\x94",
            // The class (memo 5) and '_unpickle' (memo 6) popped, then read back from the memo.
            b"00h\x05h\x06\x86R\x94",
            &u("UTC"),
            b"K\x01\x86R.",
        ]
        .concat();
        assert_eq!(flags_agree(&p4), [true], "{:?}", analyze(&p4));
        // Protocol 3 and later write `builtins`; `__builtin__` is not remapped there.
        let p3 = [
            &b"\x80\x03c__builtin__\ngetattr\n"[..],
            &g(ZONEINFO.0, ZONEINFO.1),
            &u("_unpickle"),
            b"\x86R.",
        ]
        .concat();
        assert_eq!(flags_agree(&p3), Vec::<bool>::new());
        assert!(targets(&p3).contains(&"__builtin__.getattr".to_string()));
    }

    #[test]
    fn the_same_getattr_walking_twice_is_still_walks_only() {
        let twice = p2(&[
            g(GETATTR.0, GETATTR.1),
            b"q\x00".to_vec(),
            g(ZONEINFO.0, ZONEINFO.1),
            u("_unpickle"),
            b"\x86R0h\x00".to_vec(),
            g("fixture_classes", "Outer"),
            u("Inner"),
            b"\x86R".to_vec(),
        ]
        .concat());
        assert_eq!(flags_agree(&twice), [true]);
        assert_eq!(
            validate_modules(&twice),
            [
                "fixture_classes.Outer",
                "fixture_classes.Outer.Inner",
                "zoneinfo.ZoneInfo",
                "zoneinfo.ZoneInfo._unpickle"
            ]
        );
    }

    /// Every other use of getattr leaves it unflagged (and so judged dangerous).
    #[test]
    fn any_other_use_of_getattr_is_not_a_walk() {
        let ga = || g(GETATTR.0, GETATTR.1);
        let zi = || g(ZONEINFO.0, ZONEINFO.1);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "three arguments",
                [ga(), zi(), u("_unpickle"), b"N\x87R".to_vec()].concat(),
            ),
            ("one argument", [ga(), zi(), b"\x85R".to_vec()].concat()),
            (
                "a dunder",
                [ga(), zi(), u("__globals__"), b"\x86R".to_vec()].concat(),
            ),
            (
                "__class__",
                [ga(), zi(), u("__class__"), b"\x86R".to_vec()].concat(),
            ),
            (
                "a private __x",
                [ga(), zi(), u("__x"), b"\x86R".to_vec()].concat(),
            ),
            (
                "a dotted name",
                [ga(), zi(), u("a.b"), b"\x86R".to_vec()].concat(),
            ),
            (
                "an empty name",
                [ga(), zi(), u(""), b"\x86R".to_vec()].concat(),
            ),
            (
                "a non-ASCII name",
                [ga(), zi(), u("caf\u{e9}"), b"\x86R".to_vec()].concat(),
            ),
            (
                "a bytes name",
                [ga(), zi(), b"C\x01a\x86R".to_vec()].concat(),
            ),
            ("an int name", [ga(), zi(), b"K\x01\x86R".to_vec()].concat()),
            (
                "a computed name",
                [
                    ga(),
                    zi(),
                    g("builtins", "str"),
                    b"C\x01a".to_vec(),
                    u("ascii"),
                    b"\x86R\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "a list",
                [ga(), b"]".to_vec(), u("append"), b"\x86R".to_vec()].concat(),
            ),
            (
                "a str",
                [ga(), u("{0.__init__}"), u("format"), b"\x86R".to_vec()].concat(),
            ),
            (
                "what a call returned",
                [
                    ga(),
                    g("builtins", "__import__"),
                    u("os"),
                    b"\x85R".to_vec(),
                    u("system"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "what a walk returned",
                [ga(), zone_walk_callable(), u("x"), b"\x86R".to_vec()].concat(),
            ),
            (
                "getattr itself",
                [ga(), b"q\x00h\x00".to_vec(), u("x"), b"\x86R".to_vec()].concat(),
            ),
            (
                "an extension code",
                [ga(), b"\x82\x01".to_vec(), u("x"), b"\x86R".to_vec()].concat(),
            ),
            (
                "an unresolved global",
                [ga(), b"K\x01K\x02\x93".to_vec(), u("x"), b"\x86R".to_vec()].concat(),
            ),
            (
                "an INST global",
                [
                    ga(),
                    b"(izoneinfo\nZoneInfo\n".to_vec(),
                    u("x"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            ("never called", [ga(), b"0".to_vec()].concat()),
            (
                "left on the stack",
                [ga(), b"0".to_vec(), zone_walk(), b"0".to_vec(), ga()].concat(),
            ),
            (
                "reused from the memo otherwise",
                [
                    zone_walk_memo(),
                    b"0h\x00".to_vec(),
                    b"]".to_vec(),
                    u("append"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "DUP, one copy walked",
                [
                    ga(),
                    b"2".to_vec(),
                    zi(),
                    u("_unpickle"),
                    b"\x86R0".to_vec(),
                ]
                .concat(),
            ),
            (
                "passed as an argument",
                [
                    zone_walk(),
                    b"0".to_vec(),
                    g("builtins", "map"),
                    ga(),
                    b"\x85R".to_vec(),
                ]
                .concat(),
            ),
            (
                "put in a list",
                [
                    ga(),
                    b"q\x00]h\x00a0h\x00".to_vec(),
                    zi(),
                    u("_unpickle"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "given state by BUILD",
                [
                    ga(),
                    b"}b".to_vec(),
                    zi(),
                    u("_unpickle"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "items added to it",
                [
                    ga(),
                    b"(K\x01e".to_vec(),
                    zi(),
                    u("_unpickle"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "an item appended to it",
                [
                    ga(),
                    b"K\x01a".to_vec(),
                    zi(),
                    u("_unpickle"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "a read-only buffer of it",
                [
                    ga(),
                    b"\x98".to_vec(),
                    zi(),
                    u("_unpickle"),
                    b"\x86R".to_vec(),
                ]
                .concat(),
            ),
            (
                "called by INST",
                [
                    b"(".to_vec(),
                    zi(),
                    u("_unpickle"),
                    b"ibuiltins\ngetattr\n".to_vec(),
                ]
                .concat(),
            ),
            (
                "called by NEWOBJ",
                [ga(), zi(), u("_unpickle"), b"\x86\x81".to_vec()].concat(),
            ),
            (
                "called by OBJ",
                [b"(".to_vec(), ga(), zi(), u("_unpickle"), b"o".to_vec()].concat(),
            ),
            (
                "the name of a STACK_GLOBAL",
                [u("m"), ga(), b"\x93".to_vec()].concat(),
            ),
        ];
        for (what, body) in cases {
            let bytes = p2(&body);
            let flags = flags_agree(&bytes);
            assert!(
                !flags.is_empty(),
                "{what}: no getattr reference: {:?}",
                analyze(&bytes)
            );
            assert!(
                flags.iter().any(|f| !f),
                "{what}: {flags:?} {:?}",
                analyze(&bytes)
            );
            assert!(
                validate_modules(&bytes).contains(&"builtins.getattr".to_string()),
                "{what}"
            );
        }
    }

    /// `getattr(zoneinfo.ZoneInfo, '_unpickle')` without the call of what it returns.
    fn zone_walk_callable() -> Vec<u8> {
        [
            g(GETATTR.0, GETATTR.1),
            g(ZONEINFO.0, ZONEINFO.1),
            u("_unpickle"),
            b"\x86R".to_vec(),
        ]
        .concat()
    }

    /// [`zone_walk`] with getattr memoized at 0.
    fn zone_walk_memo() -> Vec<u8> {
        [
            g(GETATTR.0, GETATTR.1),
            b"q\x00".to_vec(),
            g(ZONEINFO.0, ZONEINFO.1),
            u("_unpickle"),
            b"\x86R".to_vec(),
        ]
        .concat()
    }

    /// Python 2 strs decoded as bytes (`encoding='bytes'`) are no str: getattr fails on them.
    #[test]
    fn a_python2_str_read_as_bytes_is_no_name() {
        let bytes = p2(&[
            g(GETATTR.0, GETATTR.1),
            g(ZONEINFO.0, ZONEINFO.1),
            b"U\x09_unpickle\x86R".to_vec(),
        ]
        .concat());
        assert_eq!(flags_agree(&bytes), [true]);
        let as_bytes = Options {
            encoding: Encoding::Bytes,
            ..Options::default()
        };
        let a = analyze_with(&bytes, &as_bytes);
        assert!(!a.globals[0].usage.attribute_walk);
        assert_eq!(a.globals.len(), 2);
    }

    /// A walk judged like the dotted global it reaches: targets keep `fix_imports` names.
    #[test]
    fn walks_keep_the_remapped_names() {
        let bytes = p2(&[
            b"c__builtin__\ngetattr\n".to_vec(),
            b"c__builtin__\nset\n".to_vec(),
            u("union"),
            b"\x86R".to_vec(),
        ]
        .concat());
        assert_eq!(
            targets(&bytes),
            ["builtins.getattr", "builtins.set", "builtins.set.union"]
        );
        assert_eq!(flags_agree(&bytes), [true]);
        assert!(matches!(
            &analyze(&bytes).globals[2].target,
            Target::Named { module, name } if module == "builtins" && name == "set.union"
        ));
    }
}
