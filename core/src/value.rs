//! The Python object graph a pickle loads into, without running anything.
//!
//! Objects live in an arena owned by [`Value`]; everything refers to them by [`ObjectId`].
//! A memo read or DUP copies an id, never an object, so shared and cyclic structure is kept
//! exactly (identity preserved) and a small file cannot expand into a huge value.
//! Small scalars ([`Item::None`], [`Item::Bool`], [`Item::Int`], [`Item::Float`]) are stored inline.

use std::sync::Arc;

use compact_str::CompactString;
use num_bigint::BigInt;

use crate::packed::{PackedItems, PackedIter};

/// Index of an object in a [`Value`]'s arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub u32);

impl ObjectId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A slot of the graph: an inline scalar or a reference to an arena object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Ref(ObjectId),
}

/// How an object was made by a call, as the opcode that made it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    /// REDUCE: `callable(*args)`.
    Reduce,
    /// NEWOBJ: `cls.__new__(cls, *args)`.
    NewObj,
    /// NEWOBJ_EX: `cls.__new__(cls, *args, **kwargs)`.
    NewObjEx,
    /// INST: `cls(*args)` with the class named inline.
    Inst,
    /// OBJ: `cls(*args)` with the class on the stack.
    Obj,
}

/// An object the file makes by calling something it names, with whatever it does to it afterwards.
/// Calls of safe data constructors are folded into plain objects instead (`builtins.set([..])` is a
/// [`Object::Set`]); everything else stays symbolic, as here.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub kind: CallKind,
    /// What is called: usually an [`Object::Global`].
    pub callable: Item,
    /// The positional arguments (a tuple object for every kind but odd REDUCEs).
    pub args: Item,
    /// NEWOBJ_EX's keyword arguments.
    pub kwargs: Option<Item>,
    /// BUILD states applied, in order (usually zero or one).
    pub state: Vec<Item>,
    /// APPEND/APPENDS applied to the object (list subclasses).
    pub list_items: Vec<Item>,
    /// SETITEM/SETITEMS applied to the object (dict subclasses).
    pub dict_items: Vec<(Item, Item)>,
    /// ADDITEMS applied to the object (set subclasses).
    pub set_items: Vec<Item>,
}

impl Instance {
    pub fn new(kind: CallKind, callable: Item, args: Item, kwargs: Option<Item>) -> Self {
        Instance {
            kind,
            callable,
            args,
            kwargs,
            state: Vec::new(),
            list_items: Vec::new(),
            dict_items: Vec::new(),
            set_items: Vec::new(),
        }
    }
}

/// The keys of dicts that share them: records of one kind, as CPython shares the key table of
/// instances' dicts. A thin pointer, so that a [`Dict`] fits in an [`Object`].
pub type SharedKeys = Arc<Box<[Item]>>;

/// A dict's entries, in insertion order, keys unique (as Python compares them).
///
/// A large load holds hundreds of thousands of records: dicts whose keys are the same objects in
/// the same order. Those share one key table and store only their values, packed
/// ([`PackedItems`]: a record of a few ints, floats and references takes a few bytes a value);
/// other dicts store keys and values alternately. Both read the same through [`Dict::iter`],
/// and two dicts are equal when their entries are, however they are stored. The length is fixed
/// when the dict is made: builders collect the entries first.
#[derive(Clone, Debug)]
pub struct Dict(Entries);

#[derive(Clone, Debug)]
enum Entries {
    /// Keys and values alternating.
    Own(Box<[Item]>),
    /// One value per shared key.
    Record(SharedKeys, PackedItems),
}

impl Default for Dict {
    fn default() -> Self {
        Dict(Entries::Own(Box::default()))
    }
}

impl Dict {
    pub fn new() -> Self {
        Dict::default()
    }

    /// A dict of `entries`, keys and values alternating.
    ///
    /// # Panics
    /// If `entries` has an odd length.
    pub fn from_flat(entries: Vec<Item>) -> Self {
        assert!(
            entries.len().is_multiple_of(2),
            "a dict's entries come in pairs"
        );
        Dict(Entries::Own(entries.into_boxed_slice()))
    }

    /// A dict with `keys` shared with other dicts, and one value for each.
    ///
    /// # Panics
    /// If there are not as many values as keys.
    pub fn with_shared_keys(keys: SharedKeys, values: Box<[Item]>) -> Self {
        Dict::record(keys, PackedItems::new(values.into_vec()))
    }

    /// A dict with `keys` shared with other dicts, and its values packed.
    ///
    /// # Panics
    /// If there are not as many values as keys.
    pub fn record(keys: SharedKeys, values: PackedItems) -> Self {
        assert_eq!(keys.len(), values.len(), "one value per shared key");
        Dict(Entries::Record(keys, values))
    }

    /// [`Dict::record`] for a producer that made one value per key by construction (the pickle
    /// machine's export, which would otherwise read every record's count back from memory it
    /// has long left): checked in debug builds only. Mismatched lengths make a dict whose
    /// entries stop at the shorter.
    pub fn trusted_record(keys: SharedKeys, values: PackedItems) -> Self {
        debug_assert_eq!(keys.len(), values.len(), "one value per shared key");
        Dict(Entries::Record(keys, values))
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Entries::Record(keys, _) => keys.len(),
            Entries::Own(flat) => flat.len() / 2,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th entry.
    pub fn get(&self, i: usize) -> Option<(Item, Item)> {
        match &self.0 {
            Entries::Record(keys, values) => Some((*keys.get(i)?, values.get(i)?)),
            Entries::Own(flat) => Some((*flat.get(2 * i)?, flat[2 * i + 1])),
        }
    }

    /// The entries, in insertion order.
    pub fn iter(&self) -> DictIter<'_> {
        DictIter(match &self.0 {
            Entries::Record(keys, values) => Walk::Record(keys.iter().zip(values.iter())),
            Entries::Own(flat) => Walk::Own(flat.chunks_exact(2)),
        })
    }

    /// The key table this dict shares with others, if it does.
    pub fn shared_keys(&self) -> Option<&SharedKeys> {
        match &self.0 {
            Entries::Record(keys, _) => Some(keys),
            Entries::Own(_) => None,
        }
    }

    /// The key table and the values of a record (a dict that shares its keys).
    pub fn record_parts(&self) -> Option<(&SharedKeys, &PackedItems)> {
        match &self.0 {
            Entries::Record(keys, values) => Some((keys, values)),
            Entries::Own(_) => None,
        }
    }

    /// Replaces every key and value by `f` of it. A shared key table that `f` changes becomes
    /// this dict's own (keys and values alternating).
    pub fn map_items(&mut self, mut f: impl FnMut(Item) -> Item) {
        match &mut self.0 {
            Entries::Record(keys, values) => {
                let mapped: Vec<Item> = keys.iter().map(|&k| f(k)).collect();
                if mapped[..] == keys[..] {
                    *values = values.map(f);
                } else {
                    let flat = mapped
                        .into_iter()
                        .zip(values.iter())
                        .flat_map(|(k, v)| [k, f(v)]);
                    self.0 = Entries::Own(flat.collect());
                }
            }
            Entries::Own(flat) => flat.iter_mut().for_each(|i| *i = f(*i)),
        }
    }
}

// A dict fits in an object of 32 bytes with its tag.
const _: () = assert!(std::mem::size_of::<Dict>() == 24);

/// The entries of a [`Dict`], in insertion order.
#[derive(Clone, Debug)]
pub struct DictIter<'a>(Walk<'a>);

#[derive(Clone, Debug)]
enum Walk<'a> {
    Record(std::iter::Zip<std::slice::Iter<'a, Item>, PackedIter<'a>>),
    Own(std::slice::ChunksExact<'a, Item>),
}

impl Iterator for DictIter<'_> {
    type Item = (Item, Item);

    #[inline]
    fn next(&mut self) -> Option<(Item, Item)> {
        match &mut self.0 {
            Walk::Record(pairs) => pairs.next().map(|(&k, v)| (k, v)),
            Walk::Own(pairs) => pairs.next().map(|p| (p[0], p[1])),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            Walk::Record(pairs) => pairs.size_hint(),
            Walk::Own(pairs) => pairs.size_hint(),
        }
    }

    // Walks of the whole graph go through here: one loop per layout, no branch per entry.
    fn fold<B, F: FnMut(B, (Item, Item)) -> B>(self, init: B, mut f: F) -> B {
        match self.0 {
            Walk::Record(pairs) => pairs.fold(init, |acc, (&k, v)| f(acc, (k, v))),
            Walk::Own(pairs) => pairs.fold(init, |acc, p| f(acc, (p[0], p[1]))),
        }
    }
}

impl ExactSizeIterator for DictIter<'_> {}

impl<'a> IntoIterator for &'a Dict {
    type Item = (Item, Item);
    type IntoIter = DictIter<'a>;

    fn into_iter(self) -> DictIter<'a> {
        self.iter()
    }
}

impl From<Vec<(Item, Item)>> for Dict {
    fn from(pairs: Vec<(Item, Item)>) -> Self {
        Dict::from_flat(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

impl FromIterator<(Item, Item)> for Dict {
    fn from_iter<I: IntoIterator<Item = (Item, Item)>>(pairs: I) -> Self {
        Dict::from_flat(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

impl PartialEq for Dict {
    fn eq(&self, other: &Dict) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// A module attribute a file imports, as CPython resolves it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GlobalName {
    pub module: String,
    pub name: String,
}

impl GlobalName {
    pub fn new(module: impl Into<String>, name: impl Into<String>) -> Self {
        GlobalName {
            module: module.into(),
            name: name.into(),
        }
    }
}

/// An object in the arena.
///
/// Rare, large payloads are boxed so that an object is 32 bytes: a large load holds hundreds
/// of thousands of them, and the pickle machine's own nodes (also 32 bytes) are turned into
/// objects in place, in the same allocation.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// An int that does not fit in an `i64`.
    BigInt(Box<BigInt>),
    Complex {
        re: f64,
        im: f64,
    },
    /// Up to 24 bytes inline: records' short strs cost no allocation.
    Str(CompactString),
    Bytes(Vec<u8>),
    ByteArray(Vec<u8>),
    List(Vec<Item>),
    Tuple(Vec<Item>),
    /// Insertion order kept; keys are any hashable items.
    Dict(Dict),
    Set(Vec<Item>),
    FrozenSet(Vec<Item>),
    /// A module attribute the file imports (`module`/`name` as CPython resolves them).
    Global(Box<GlobalName>),
    /// An object of the `copyreg` extension registry (EXT1/2/4): unresolvable from the file.
    Extension(i32),
    /// A call result and what was applied to it (see [`Instance`]).
    Instance(Box<Instance>),
    /// `persistent_load(pid)`: the loader supplies the object (PyTorch storages).
    PersistentId(Item),
    /// Protocol 5 out-of-band buffer number `index` (NEXT_BUFFER), possibly made read-only.
    Buffer {
        index: u32,
        readonly: bool,
    },
}

const _: () = assert!(std::mem::size_of::<Object>() == 32);

impl Object {
    /// An imported module attribute.
    pub fn global(module: impl Into<String>, name: impl Into<String>) -> Self {
        Object::Global(Box::new(GlobalName::new(module, name)))
    }

    /// Calls `f` with every item this object holds, in [`Value::children`] order, without
    /// collecting them.
    pub fn for_each_child(&self, mut f: impl FnMut(Item)) {
        let mut all = |items: &[Item]| items.iter().for_each(|&i| f(i));
        match self {
            Object::List(v) | Object::Tuple(v) | Object::Set(v) | Object::FrozenSet(v) => all(v),
            Object::Dict(dict) => dict.iter().for_each(|(k, v)| {
                f(k);
                f(v);
            }),
            Object::Instance(inst) => {
                f(inst.callable);
                f(inst.args);
                inst.kwargs.into_iter().for_each(&mut f);
                inst.state.iter().for_each(|&i| f(i));
                inst.list_items.iter().for_each(|&i| f(i));
                inst.dict_items.iter().for_each(|&(k, v)| {
                    f(k);
                    f(v);
                });
                inst.set_items.iter().for_each(|&i| f(i));
            }
            Object::PersistentId(pid) => f(*pid),
            _ => {}
        }
    }

    /// Whether this object holds items ([`Object::for_each_child`] calls back for them): every
    /// variant is named, so that a new one is placed here when it is added.
    pub fn holds_items(&self) -> bool {
        match self {
            Object::List(_)
            | Object::Tuple(_)
            | Object::Set(_)
            | Object::FrozenSet(_)
            | Object::Dict(_)
            | Object::Instance(_)
            | Object::PersistentId(_) => true,
            Object::BigInt(_)
            | Object::Complex { .. }
            | Object::Str(_)
            | Object::Bytes(_)
            | Object::ByteArray(_)
            | Object::Global(_)
            | Object::Extension(_)
            | Object::Buffer { .. } => false,
        }
    }

    /// Python's type name for this object, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::BigInt(_) => "int",
            Object::Complex { .. } => "complex",
            Object::Str(_) => "str",
            Object::Bytes(_) => "bytes",
            Object::ByteArray(_) => "bytearray",
            Object::List(_) => "list",
            Object::Tuple(_) => "tuple",
            Object::Dict(_) => "dict",
            Object::Set(_) => "set",
            Object::FrozenSet(_) => "frozenset",
            Object::Global(_) => "global",
            Object::Extension(_) => "extension",
            Object::Instance(_) => "instance",
            Object::PersistentId(_) => "persistent id",
            Object::Buffer { .. } => "buffer",
        }
    }
}

/// A Python object graph: an arena of objects and the root item.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    objects: Vec<Object>,
    root: Item,
}

impl Default for Value {
    fn default() -> Self {
        Value::new()
    }
}

impl Value {
    /// An empty graph whose root is `None`.
    pub fn new() -> Self {
        Value {
            objects: Vec::new(),
            root: Item::None,
        }
    }

    /// An empty graph with room for `objects` objects.
    pub fn with_capacity(objects: usize) -> Self {
        Value {
            objects: Vec::with_capacity(objects),
            root: Item::None,
        }
    }

    /// A graph of one inline scalar.
    pub fn from_item(root: Item) -> Self {
        assert!(!matches!(root, Item::Ref(_)), "a Ref needs its arena");
        Value {
            objects: Vec::new(),
            root,
        }
    }

    /// Builds a graph from an arena and a root; fails if any reference points outside the arena.
    pub fn from_parts(objects: Vec<Object>, root: Item) -> Result<Self, String> {
        let value = Value { objects, root };
        value.check_references()?;
        Ok(value)
    }

    /// Builds a graph from an arena and a root that a producer knows to be consistent (the
    /// pickle machine, whose references are arena indices by construction), without reading
    /// the whole graph again. A reference outside the arena makes later reads panic; debug
    /// builds check.
    pub fn from_trusted_parts(objects: Vec<Object>, root: Item) -> Self {
        let value = Value { objects, root };
        debug_assert_eq!(value.check_references(), Ok(()));
        value
    }

    pub fn into_parts(self) -> (Vec<Object>, Item) {
        (self.objects, self.root)
    }

    pub fn root(&self) -> Item {
        self.root
    }

    pub fn set_root(&mut self, root: Item) {
        self.root = root;
    }

    /// Adds an object to the arena.
    pub fn push(&mut self, object: Object) -> Item {
        let id = ObjectId(u32::try_from(self.objects.len()).expect("more than 2^32 objects"));
        self.objects.push(object);
        Item::Ref(id)
    }

    pub fn get(&self, id: ObjectId) -> &Object {
        &self.objects[id.index()]
    }

    pub fn get_mut(&mut self, id: ObjectId) -> &mut Object {
        &mut self.objects[id.index()]
    }

    /// The object an item refers to, if it is a reference.
    pub fn object(&self, item: Item) -> Option<&Object> {
        match item {
            Item::Ref(id) => self.objects.get(id.index()),
            _ => None,
        }
    }

    pub fn objects(&self) -> &[Object] {
        &self.objects
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The string an item refers to, if it is a `str`.
    pub fn as_str(&self, item: Item) -> Option<&str> {
        match self.object(item)? {
            Object::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Every item an object holds, in order (for walks over the graph).
    pub fn children(&self, id: ObjectId) -> Vec<Item> {
        let mut out = Vec::new();
        self.get(id).for_each_child(|item| out.push(item));
        out
    }

    fn check_references(&self) -> Result<(), String> {
        let n = self.objects.len();
        let mut dangling = None;
        let mut check = |item: Item| {
            if let Item::Ref(id) = item {
                if id.index() >= n {
                    dangling.get_or_insert(id);
                }
            }
        };
        check(self.root);
        for object in &self.objects {
            object.for_each_child(&mut check);
        }
        match dangling {
            Some(id) => Err(format!("reference to object {} in an arena of {n}", id.0)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_referencing_list_is_one_object() {
        let mut v = Value::new();
        let list = v.push(Object::List(Vec::new()));
        let Item::Ref(id) = list else { unreachable!() };
        if let Object::List(items) = v.get_mut(id) {
            items.push(list);
        }
        v.set_root(list);
        assert_eq!(v.len(), 1);
        assert_eq!(v.children(id), vec![list]);
    }

    #[test]
    fn dicts_read_and_compare_the_same_with_shared_or_own_keys() {
        let keys: SharedKeys = Arc::new(vec![Item::Int(1), Item::Int(2)].into_boxed_slice());
        let shared =
            Dict::with_shared_keys(keys.clone(), vec![Item::None, Item::Bool(true)].into());
        let own = Dict::from(vec![
            (Item::Int(1), Item::None),
            (Item::Int(2), Item::Bool(true)),
        ]);
        assert_eq!(shared, own);
        assert_eq!(shared.len(), 2);
        assert_eq!(shared.get(1), Some((Item::Int(2), Item::Bool(true))));
        assert_eq!(shared.get(2), None);
        assert_eq!(
            own.iter().collect::<Vec<_>>(),
            shared.iter().collect::<Vec<_>>()
        );
        assert_eq!(shared.iter().len(), 2);
        let other = Dict::with_shared_keys(keys, vec![Item::None, Item::Bool(false)].into());
        assert_ne!(shared, other, "a different value");
        assert_ne!(
            own,
            Dict::from(vec![(Item::Int(1), Item::None)]),
            "a different length"
        );
    }

    #[test]
    fn mapping_a_dict_keeps_its_shared_keys_only_when_they_do_not_change() {
        let keys: SharedKeys = Arc::new(vec![Item::Int(1), Item::Int(2)].into_boxed_slice());
        let mut kept =
            Dict::with_shared_keys(keys.clone(), vec![Item::Int(3), Item::Int(4)].into());
        kept.map_items(|i| if i == Item::Int(3) { Item::Int(30) } else { i });
        assert!(kept.shared_keys().is_some_and(|k| Arc::ptr_eq(k, &keys)));
        assert_eq!(
            kept,
            Dict::from(vec![
                (Item::Int(1), Item::Int(30)),
                (Item::Int(2), Item::Int(4))
            ])
        );

        let mut moved = Dict::with_shared_keys(keys, vec![Item::Int(3), Item::Int(4)].into());
        moved.map_items(|i| match i {
            Item::Int(n) => Item::Int(n * 10),
            other => other,
        });
        assert!(moved.shared_keys().is_none());
        assert_eq!(
            moved,
            Dict::from(vec![
                (Item::Int(10), Item::Int(30)),
                (Item::Int(20), Item::Int(40))
            ])
        );
    }

    #[test]
    fn from_parts_refuses_dangling_references() {
        let err = Value::from_parts(vec![Object::List(vec![Item::Ref(ObjectId(5))])], Item::None);
        assert!(err.is_err());
        assert!(Value::from_parts(vec![], Item::Ref(ObjectId(0))).is_err());
    }
}
