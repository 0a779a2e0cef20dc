//! Items packed into bytes: the values of records (dicts that share their keys, see
//! [`crate::Dict`]).
//!
//! A large load holds hundreds of thousands of records of a few small values each: ints, floats,
//! bools and references. As [`Item`]s they take 16 bytes each, and one allocation per record
//! that the allocator rounds up; packed, a record of five such values takes about 20 bytes.
//!
//! Builders that make many records ([`Rows`]) pack them one after another into shared chunks of a
//! MiB, so that a record costs its bytes and no allocation of its own.
//!
//! The layout (private to this module; nothing outside reads the bytes):
//! - the item count, as an unsigned LEB128 varint;
//! - when there are more than [`STRIDE`] items, the byte offset (u32, little-endian, from the
//!   start of the items) of every [`STRIDE`]-th item after the first, so that [`PackedItems::get`]
//!   reads at most [`STRIDE`] items whatever the length;
//! - the items, each a tag byte and its payload:
//!
//! | tag | item | payload |
//! |---|---|---|
//! | 0 | `None` | — |
//! | 1, 2 | `False`, `True` | — |
//! | 3 | `Float` | its 8 bytes, little-endian (every bit kept: NaN payloads too) |
//! | 4–7 | `Ref` | the object id's low 1 to 4 bytes (tag 4: one), little-endian |
//! | 8–15 | `Int` | its low 1 to 8 bytes (tag 8: one), little-endian two's complement, sign-extended when read |
//! | 32–255 | `Int` from −32 to 191 | — (the tag minus 64) |
//!
//! Payloads are fixed-width words cut short, not varints: an item is written with one store of
//! a whole word and read with one load and a shift, with no loop over its bytes.

use std::sync::Arc;

use crate::value::{Item, ObjectId};

/// How many items apart the offsets of a long sequence are.
pub const STRIDE: usize = 16;

const NONE: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const FLOAT: u8 = 3;
/// `Ref` with a payload of 1 to 4 bytes: `REF_FIRST` + bytes − 1.
const REF_FIRST: u8 = 4;
const REF_LAST: u8 = 7;
/// `Int` with a payload of 1 to 8 bytes: `INT_FIRST` + bytes − 1.
const INT_FIRST: u8 = 8;
const INT_LAST: u8 = 15;
/// Tags from here up are small ints: the tag minus [`SMALL_ZERO`].
const SMALL_FIRST: u8 = 32;
const SMALL_ZERO: i64 = 64;

/// A fixed sequence of [`Item`]s, packed (see the module's documentation): a range of a chunk
/// that other sequences may share.
#[derive(Clone)]
pub struct PackedItems {
    chunk: Arc<Vec<u8>>,
    start: u32,
    end: u32,
}

impl PackedItems {
    /// Packs `items` on their own (see [`Rows`] for many).
    pub fn new<I>(items: I) -> Self
    where
        I: IntoIterator<Item = Item>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        // Written with room to spare (an item is stored as a whole word, then cut short), then
        // copied into an allocation of exactly its size: a reader makes hundreds of thousands.
        let mut scratch = Vec::new();
        let mut row = RowWriter::new(&mut scratch, 0, items.len());
        for item in items {
            row.item(item);
        }
        row.finish();
        let end = u32::try_from(scratch.len()).expect("a sequence under 4 GiB");
        PackedItems {
            chunk: Arc::new(scratch[..].to_vec()),
            start: 0,
            end,
        }
    }

    /// The packed bytes.
    #[inline]
    pub fn packed(&self) -> Packed<'_> {
        Packed(&self.chunk[self.start as usize..self.end as usize])
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.packed().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th item.
    pub fn get(&self, i: usize) -> Option<Item> {
        self.packed().get(i)
    }

    /// The items, in order.
    #[inline]
    pub fn iter(&self) -> PackedIter<'_> {
        self.packed().iter()
    }

    /// The same items, each replaced by `f` of it.
    pub fn map(&self, f: impl FnMut(Item) -> Item) -> Self {
        PackedItems::new(self.iter().map(f).collect::<Vec<_>>())
    }

    /// The bytes of these items (not of the chunk they are in).
    pub fn heap_size(&self) -> usize {
        (self.end - self.start) as usize
    }
}

/// Two sequences are equal when their items are the same bits.
impl PartialEq for PackedItems {
    fn eq(&self, other: &PackedItems) -> bool {
        self.packed().0 == other.packed().0
    }
}

/// Packed items, borrowed: a row of [`Rows`] or the bytes of a [`PackedItems`].
#[derive(Clone, Copy)]
pub struct Packed<'a>(&'a [u8]);

impl<'a> Packed<'a> {
    /// How many items there are.
    pub fn len(self) -> usize {
        self.header().0
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The `i`-th item.
    pub fn get(self, i: usize) -> Option<Item> {
        let (n, table, items) = self.header();
        if i >= n {
            return None;
        }
        let (mut at, skip) = match i / STRIDE {
            0 => (items, i),
            k => {
                let t = table + 4 * (k - 1);
                let offset = u32::from_le_bytes(self.0[t..t + 4].try_into().expect("4 bytes"));
                (items + offset as usize, i % STRIDE)
            }
        };
        for _ in 0..skip {
            at += item_size(&self.0[at..]);
        }
        Some(read_item(self.0, &mut at))
    }

    /// The items, in order.
    #[inline]
    pub fn iter(self) -> PackedIter<'a> {
        let (n, _, at) = self.header();
        PackedIter {
            bytes: self.0,
            at,
            left: n,
        }
    }

    /// Calls `f` with the id of every reference among the items, in order, without making
    /// the others (walks that count references read nothing else).
    #[inline]
    pub fn for_each_ref(self, mut f: impl FnMut(ObjectId)) {
        let (n, _, mut at) = self.header();
        let bytes = self.0;
        for _ in 0..n {
            let tag = bytes[at];
            at += 1;
            if let REF_FIRST..=REF_LAST = tag {
                f(read_ref(bytes, at, tag));
            }
            at += payload_len(tag);
        }
    }

    /// The item count, where the offset table starts and where the items start.
    fn header(self) -> (usize, usize, usize) {
        let mut at = 0;
        let n = read_varint(self.0, &mut at) as usize;
        (n, at, at + 4 * (n.saturating_sub(1) / STRIDE))
    }
}

/// Where a row of [`Rows`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    chunk: u32,
    start: u32,
    end: u32,
}

/// Many sequences packed one after another into chunks of a MiB (a longer one gets a chunk of its
/// own). Rows are read back while more are added; [`Rows::finish`] hands the chunks over.
#[derive(Debug, Default)]
pub struct Rows {
    chunks: Vec<Vec<u8>>,
}

/// The size of a chunk: rows never straddle two, so a chunk's end may go unused (a row's worth).
const CHUNK: usize = 1 << 20;

impl Rows {
    pub fn new() -> Self {
        Rows::default()
    }

    /// Packs `items`, in one pass: room for the longest they could take is made first.
    pub fn push<I>(&mut self, items: I) -> Row
    where
        I: IntoIterator<Item = Item>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        self.push_n(items.len(), items)
    }

    /// [`Rows::push`] of the first `n` of `items` (for a caller that knows `n` more cheaply
    /// than the iterator does).
    ///
    /// # Panics
    /// If `items` has fewer than `n`.
    pub fn push_n(&mut self, n: usize, mut items: impl Iterator<Item = Item>) -> Row {
        let mut row = self.writer(n);
        for _ in 0..n {
            row.item(items.next().expect("as many items as said"));
        }
        row.finish()
    }

    /// A row of `n` items, written one at a time: for a caller whose values are not [`Item`]s
    /// already, which can then match on its own type once rather than make an `Item` that
    /// is matched again. [`RowWriter::finish`] gives the row.
    #[inline]
    pub fn writer(&mut self, n: usize) -> RowWriter<'_> {
        let most = most_bytes(n);
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= most);
        if !fits {
            // Small loads make small chunks; large ones, chunks of a MiB.
            let grown = self
                .chunks
                .last()
                .map_or(4096, |c| (2 * c.capacity()).min(CHUNK));
            self.chunks.push(Vec::with_capacity(most.max(grown)));
        }
        let chunk = u32::try_from(self.chunks.len() - 1).expect("fewer than 2^32 chunks");
        let out = self.chunks.last_mut().expect("a chunk");
        RowWriter::new(out, chunk, n)
    }

    /// The items of `row`.
    pub fn get(&self, row: Row) -> Packed<'_> {
        Packed(&self.chunks[row.chunk as usize][row.start as usize..row.end as usize])
    }

    /// The chunks, to make the rows [`PackedItems`] with [`Chunk::item`].
    pub fn finish(self) -> Vec<Chunk> {
        self.chunks
            .into_iter()
            .map(|c| Chunk(Arc::new(c)))
            .collect()
    }
}

/// A chunk of [`Rows`], finished: shared by the [`PackedItems`] of its rows.
#[derive(Clone, Debug)]
pub struct Chunk(Arc<Vec<u8>>);

impl Chunk {
    /// The items of `row`, which is in this chunk ([`Rows::finish`] gives the chunks in the
    /// order of [`Row`]'s chunk numbers: see [`Row::chunk`]).
    pub fn item(&self, row: Row) -> PackedItems {
        assert!(row.end as usize <= self.0.len(), "a row of this chunk");
        PackedItems {
            chunk: self.0.clone(),
            start: row.start,
            end: row.end,
        }
    }
}

impl Row {
    /// The index of its chunk in what [`Rows::finish`] gives.
    pub fn chunk(self) -> usize {
        self.chunk as usize
    }
}

impl std::fmt::Debug for PackedItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl std::fmt::Debug for Packed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<Item> for PackedItems {
    fn from_iter<I: IntoIterator<Item = Item>>(items: I) -> Self {
        PackedItems::new(items.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a PackedItems {
    type Item = Item;
    type IntoIter = PackedIter<'a>;

    fn into_iter(self) -> PackedIter<'a> {
        self.iter()
    }
}

/// The items of a [`PackedItems`], in order.
#[derive(Clone, Debug)]
pub struct PackedIter<'a> {
    bytes: &'a [u8],
    at: usize,
    left: usize,
}

impl Iterator for PackedIter<'_> {
    type Item = Item;

    // Inlined into the writers' loops over records, which call it for every value of a file.
    #[inline(always)]
    fn next(&mut self) -> Option<Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some(read_item(self.bytes, &mut self.at))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for PackedIter<'_> {}

/// A row being packed at the end of a chunk ([`Rows::writer`]), an item at a time. Room for
/// the most the row may take is made (zeroed) first and cut back when it is finished, so that
/// items are written by index, not pushed byte by byte. A writer dropped unfinished leaves the
/// chunk as it was.
pub struct RowWriter<'r> {
    out: &'r mut Vec<u8>,
    chunk: u32,
    /// Where the row starts in `out`, and where its items start.
    row: usize,
    start: usize,
    /// Where the next item goes, and the next offset of the table.
    at: usize,
    table: usize,
    /// Items still to come, and how many of them before the next offset.
    left: usize,
    group: usize,
    /// What `out` is cut back to when the writer goes.
    end: usize,
}

impl<'r> RowWriter<'r> {
    #[inline]
    fn new(out: &'r mut Vec<u8>, chunk: u32, n: usize) -> Self {
        let row = out.len();
        out.resize(row + most_bytes(n), 0);
        let table = row + varint_into(&mut out[row..], n as u64);
        let start = table + 4 * (n.saturating_sub(1) / STRIDE);
        RowWriter {
            out,
            chunk,
            row,
            start,
            at: start,
            table,
            left: n,
            group: STRIDE,
            end: row,
        }
    }

    /// Where the next item goes (which has room for any item), its offset noted when it
    /// starts a group.
    #[inline(always)]
    fn slot(&mut self) -> &mut [u8] {
        assert!(self.left > 0, "no more items than said");
        self.left -= 1;
        if self.group == 0 {
            let offset = u32::try_from(self.at - self.start).expect("a sequence under 4 GiB");
            self.out[self.table..self.table + 4].copy_from_slice(&offset.to_le_bytes());
            self.table += 4;
            self.group = STRIDE;
        }
        self.group -= 1;
        &mut self.out[self.at..]
    }

    #[inline]
    pub fn item(&mut self, item: Item) {
        let len = put_item(self.slot(), item);
        self.at += len;
    }

    #[inline]
    pub fn none(&mut self) {
        self.slot()[0] = NONE;
        self.at += 1;
    }

    #[inline]
    pub fn bool(&mut self, b: bool) {
        self.slot()[0] = if b { TRUE } else { FALSE };
        self.at += 1;
    }

    #[inline]
    pub fn int(&mut self, n: i64) {
        let len = put_int(self.slot(), n);
        self.at += len;
    }

    #[inline]
    pub fn float(&mut self, f: f64) {
        put_float(self.slot(), f);
        self.at += 9;
    }

    #[inline]
    pub fn reference(&mut self, id: ObjectId) {
        let len = put_ref(self.slot(), id);
        self.at += len;
    }

    /// The row.
    ///
    /// # Panics
    /// If fewer items were written than said.
    #[inline]
    pub fn finish(mut self) -> Row {
        assert_eq!(self.left, 0, "as many items as said");
        self.end = self.at;
        let at = |n: usize| u32::try_from(n).expect("a chunk under 4 GiB");
        Row {
            chunk: self.chunk,
            start: at(self.row),
            end: at(self.at),
        }
    }
}

impl Drop for RowWriter<'_> {
    fn drop(&mut self) {
        self.out.truncate(self.end);
    }
}

/// The most bytes `n` items may take packed.
fn most_bytes(n: usize) -> usize {
    MAX_VARINT + 4 * (n.saturating_sub(1) / STRIDE) + MAX_ITEM * n
}

/// The most bytes a varint takes, and the room an item is given: a tag and a whole word (the
/// payload is written as a word, then cut short).
const MAX_VARINT: usize = 10;
const MAX_ITEM: usize = 1 + 8;

/// The bytes an id needs, 1 to 4.
#[inline(always)]
fn ref_bytes(id: ObjectId) -> usize {
    ((32 - id.0.leading_zeros() as usize).max(1)).div_ceil(8)
}

/// The bytes of two's complement `n` needs, 1 to 8.
#[inline(always)]
fn int_bytes(n: i64) -> usize {
    (65 - (n ^ (n >> 63)).leading_zeros() as usize).div_ceil(8)
}

/// The payload bytes after `tag`.
#[inline(always)]
fn payload_len(tag: u8) -> usize {
    usize::from(PAYLOAD_LEN[usize::from(tag)])
}

/// [`payload_len`] of every tag, looked up rather than matched (walks that skip items).
const PAYLOAD_LEN: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut tag = 0;
    while tag < 256 {
        let t = tag as u8;
        table[tag] = match t {
            FLOAT => 8,
            REF_FIRST..=REF_LAST => t - REF_FIRST + 1,
            INT_FIRST..=INT_LAST => t - INT_FIRST + 1,
            _ => 0,
        };
        tag += 1;
    }
    table
};

/// The word at `at`, of which the caller uses the low bytes (zeros past the end of `bytes`).
#[inline(always)]
fn read_word(bytes: &[u8], at: usize) -> u64 {
    match bytes.get(at..at + 8) {
        Some(word) => u64::from_le_bytes(word.try_into().expect("8 bytes")),
        None => {
            let rest = &bytes[at..];
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(word)
        }
    }
}

/// The id of a reference whose payload (after `tag`) starts at `at`.
#[inline(always)]
fn read_ref(bytes: &[u8], at: usize, tag: u8) -> ObjectId {
    let bits = 8 * (u32::from(tag - REF_FIRST) + 1);
    let word = read_word(bytes, at) & (u64::MAX >> (64 - bits));
    ObjectId(word as u32)
}

#[inline]
fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
    }
}

/// Writes `n` as a varint at the start of `buf`; returns its length.
#[inline]
fn varint_into(buf: &mut [u8], mut n: u64) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        buf[i] = n as u8 | 0x80;
        n >>= 7;
        i += 1;
    }
    buf[i] = n as u8;
    i + 1
}

/// Writes `item` at the start of `buf` (which has room for any item); returns its length.
#[inline(always)]
fn put_item(buf: &mut [u8], item: Item) -> usize {
    match item {
        Item::Ref(id) => put_ref(buf, id),
        Item::Int(n) => put_int(buf, n),
        Item::Float(f) => {
            put_float(buf, f);
            9
        }
        Item::None => {
            buf[0] = NONE;
            1
        }
        Item::Bool(b) => {
            buf[0] = if b { TRUE } else { FALSE };
            1
        }
    }
}

#[inline(always)]
fn put_ref(buf: &mut [u8], id: ObjectId) -> usize {
    let len = ref_bytes(id);
    buf[0] = REF_FIRST + (len - 1) as u8;
    buf[1..5].copy_from_slice(&id.0.to_le_bytes());
    1 + len
}

#[inline(always)]
fn put_int(buf: &mut [u8], n: i64) -> usize {
    match n {
        -32..=191 => {
            buf[0] = (n + SMALL_ZERO) as u8;
            1
        }
        _ => {
            let len = int_bytes(n);
            buf[0] = INT_FIRST + (len - 1) as u8;
            buf[1..9].copy_from_slice(&n.to_le_bytes());
            1 + len
        }
    }
}

#[inline(always)]
fn put_float(buf: &mut [u8], f: f64) {
    buf[0] = FLOAT;
    buf[1..9].copy_from_slice(&f.to_bits().to_le_bytes());
}

#[inline(always)]
fn read_item(bytes: &[u8], at: &mut usize) -> Item {
    let tag = bytes[*at];
    *at += 1;
    match tag {
        SMALL_FIRST..=u8::MAX => Item::Int(i64::from(tag) - SMALL_ZERO),
        REF_FIRST..=REF_LAST => {
            let id = read_ref(bytes, *at, tag);
            *at += usize::from(tag - REF_FIRST) + 1;
            Item::Ref(id)
        }
        INT_FIRST..=INT_LAST => {
            let len = u32::from(tag - INT_FIRST) + 1;
            let shift = 64 - 8 * len;
            let n = ((read_word(bytes, *at) << shift) as i64) >> shift;
            *at += len as usize;
            Item::Int(n)
        }
        FLOAT => {
            let raw = bytes[*at..*at + 8].try_into().expect("8 bytes");
            *at += 8;
            Item::Float(f64::from_bits(u64::from_le_bytes(raw)))
        }
        FALSE => Item::Bool(false),
        TRUE => Item::Bool(true),
        _ => Item::None,
    }
}

/// How many bytes the item at the start of `bytes` takes.
#[inline]
fn item_size(bytes: &[u8]) -> usize {
    1 + payload_len(bytes[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Item> {
        let mut items = vec![
            Item::None,
            Item::Bool(false),
            Item::Bool(true),
            Item::Float(0.5),
            Item::Float(-0.0),
            Item::Float(f64::from_bits(0x7ff8_0000_dead_beef)),
            Item::Float(f64::INFINITY),
            Item::Ref(ObjectId(0)),
            Item::Ref(ObjectId(127)),
            Item::Ref(ObjectId(128)),
            Item::Ref(ObjectId(u32::MAX)),
        ];
        for n in [
            0,
            -1,
            -32,
            -33,
            191,
            192,
            255,
            1 << 20,
            -(1 << 40),
            i64::MAX,
            i64::MIN,
        ] {
            items.push(Item::Int(n));
        }
        // Each side of every payload width.
        for bytes in 1..8 {
            let top = 1i64 << (8 * bytes - 1);
            for n in [top - 1, top, -top, -top - 1] {
                items.push(Item::Int(n));
            }
        }
        for bytes in 1..4 {
            let top = 1u32 << (8 * bytes);
            items.extend([Item::Ref(ObjectId(top - 1)), Item::Ref(ObjectId(top))]);
        }
        items
    }

    /// Two items are the same when their bits are (NaN payloads included).
    fn same(a: Item, b: Item) -> bool {
        match (a, b) {
            (Item::Float(x), Item::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    #[test]
    fn every_kind_of_item_comes_back_bit_for_bit() {
        let items = samples();
        let packed = PackedItems::new(items.clone());
        assert_eq!(packed.len(), items.len());
        let back: Vec<Item> = packed.iter().collect();
        assert_eq!(back.len(), items.len());
        for (i, (&a, &b)) in items.iter().zip(&back).enumerate() {
            assert!(same(a, b), "item {i}: {a:?} came back as {b:?}");
            let got = packed.get(i).expect("in range");
            assert!(same(a, got), "get({i}): {a:?} came back as {got:?}");
        }
        assert_eq!(packed.get(items.len()), None);
    }

    #[test]
    fn long_sequences_index_through_their_offsets() {
        // Lengths around the stride, of items of every size.
        let kinds = samples();
        for n in [
            0,
            1,
            STRIDE - 1,
            STRIDE,
            STRIDE + 1,
            2 * STRIDE,
            5 * STRIDE + 3,
            1000,
        ] {
            let items: Vec<Item> = (0..n).map(|i| kinds[(i * 7) % kinds.len()]).collect();
            let packed = PackedItems::new(items.clone());
            assert_eq!(packed.len(), n);
            assert!(packed.iter().zip(&items).all(|(a, &b)| same(a, b)));
            for (i, &want) in items.iter().enumerate() {
                assert!(same(packed.get(i).unwrap(), want), "n {n}, item {i}");
            }
            assert_eq!(packed.get(n), None);
        }
    }

    /// The writer's typed methods pack what `item` packs; a writer dropped before it is
    /// finished leaves the rows as they were.
    #[test]
    fn a_row_written_a_value_at_a_time_is_the_row_of_its_items() {
        let items = samples();
        let mut rows = Rows::new();
        let whole = rows.push(items.iter().copied());
        let mut row = rows.writer(items.len());
        for &item in &items {
            match item {
                Item::None => row.none(),
                Item::Bool(b) => row.bool(b),
                Item::Int(n) => row.int(n),
                Item::Float(f) => row.float(f),
                Item::Ref(id) => row.reference(id),
            }
        }
        let typed = row.finish();
        assert_eq!(rows.get(typed).0, rows.get(whole).0);
        let before: Vec<u8> = rows.chunks.concat();
        let mut unfinished = rows.writer(3);
        unfinished.int(7);
        drop(unfinished);
        assert_eq!(rows.chunks.concat(), before);
        let after = rows.push([Item::Int(1)]);
        assert_eq!(rows.get(after).iter().collect::<Vec<_>>(), [Item::Int(1)]);
    }

    /// Readers pack hundreds of thousands of records each on its own: no room to spare is kept
    /// (the writer needs a word's worth past the last item while it writes).
    #[test]
    fn a_sequence_packed_on_its_own_keeps_no_spare_room() {
        for items in [
            samples(),
            vec![Item::Int(299_999), Item::Float(0.5)],
            vec![],
        ] {
            let packed = PackedItems::new(items);
            assert_eq!(packed.chunk.len(), packed.heap_size());
            assert_eq!(packed.chunk.capacity(), packed.heap_size());
        }
    }

    #[test]
    fn small_values_take_one_byte_each() {
        // A typical record: an id, a reference to its name, a float, a flag, a small int.
        let record = [
            Item::Int(299_999),
            Item::Ref(ObjectId(599_998)),
            Item::Float(0.5),
            Item::Bool(true),
            Item::Int(3),
        ];
        let packed = PackedItems::new(record);
        assert_eq!(packed.heap_size(), 1 + 4 + 4 + 9 + 1 + 1);
        assert_eq!(
            PackedItems::new([Item::Int(-32), Item::Int(191)]).heap_size(),
            3
        );
        assert_eq!(PackedItems::new([Item::Int(192)]).heap_size(), 4);
    }

    #[test]
    fn rows_read_back_while_more_are_added_and_after_they_are_finished() {
        let kinds = samples();
        let row_of = |r: usize| -> Vec<Item> {
            (0..(r % 40))
                .map(|i| kinds[(r + i) % kinds.len()])
                .collect()
        };
        let mut rows = Rows::new();
        let mut made = Vec::new();
        // Enough rows for several chunks, growing from the first small one to a MiB.
        for r in 0..60_000 {
            let row = rows.push(row_of(r));
            made.push(row);
            if r % 997 == 0 {
                for (k, &earlier) in made.iter().enumerate().step_by(101) {
                    let back: Vec<Item> = rows.get(earlier).iter().collect();
                    assert!(back.iter().zip(&row_of(k)).all(|(&a, &b)| same(a, b)));
                    assert_eq!(back.len(), row_of(k).len());
                }
            }
        }
        // A row longer than a chunk gets one of its own.
        let long: Vec<Item> = (0..200_000).map(|i| Item::Float(i as f64)).collect();
        let long_row = rows.push(long.clone());
        let after = rows.push([Item::Int(1)]);
        let chunks = rows.finish();
        assert!(chunks.len() >= 4, "{} chunks", chunks.len());
        assert_ne!(long_row.chunk(), made.last().unwrap().chunk());
        for (r, &row) in made.iter().enumerate() {
            let packed = chunks[row.chunk()].item(row);
            assert_eq!(packed, PackedItems::new(row_of(r)), "row {r}");
        }
        let packed = chunks[long_row.chunk()].item(long_row);
        assert_eq!(packed.len(), long.len());
        assert_eq!(packed.get(123_457), Some(Item::Float(123_457.0)));
        assert_eq!(chunks[after.chunk()].item(after).get(0), Some(Item::Int(1)));
    }

    #[test]
    fn for_each_ref_gives_the_references_in_order() {
        let items = samples();
        let packed = PackedItems::new(items.clone());
        let mut refs = Vec::new();
        packed.packed().for_each_ref(|id| refs.push(id));
        let want: Vec<ObjectId> = items
            .iter()
            .filter_map(|i| match i {
                Item::Ref(id) => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(refs, want);
        assert_eq!(want.len(), 10);
    }

    #[test]
    fn the_payload_table_gives_each_tag_its_payload() {
        for tag in 0..=u8::MAX {
            let want = match tag {
                FLOAT => 8,
                REF_FIRST..=REF_LAST => usize::from(tag - REF_FIRST) + 1,
                INT_FIRST..=INT_LAST => usize::from(tag - INT_FIRST) + 1,
                _ => 0,
            };
            assert_eq!(payload_len(tag), want, "tag {tag}");
        }
    }

    #[test]
    fn map_replaces_every_item() {
        let packed = PackedItems::new([Item::Ref(ObjectId(1)), Item::Int(2), Item::None]);
        let mapped = packed.map(|i| match i {
            Item::Ref(ObjectId(n)) => Item::Ref(ObjectId(n + 1000)),
            other => other,
        });
        assert_eq!(
            mapped.iter().collect::<Vec<_>>(),
            [Item::Ref(ObjectId(1001)), Item::Int(2), Item::None]
        );
    }
}
