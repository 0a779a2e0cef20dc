//! Python values ([`Value`]) in CBOR, following docs/conversion.md: plain data as plain CBOR,
//! registered tags where they exist (bignums 2/3, shared values 28/29, calls 27, sets 258, RFC 8746
//! typed arrays with tags 40/1040) and a documented block of private tags for the rest.

use std::borrow::Cow;
use std::io::{self, Write};

use num_bigint::{BigInt, Sign};
use pypickle_core::numpy::{Dtype, NdArray};
use pypickle_core::tree::{self, Event, Progress, Sink, Source, Tag};
use pypickle_core::{Error, Result, Value};

use crate::SELF_DESCRIBE;

const NAME: &str = "cbor";

/// First of the private tags (`0x7079_0000`, "py"); see docs/conversion.md.
pub const PRIVATE_BASE: u64 = 0x7079_0000;

fn tag_number(tag: Tag) -> u64 {
    match tag {
        Tag::Call => 27,
        Tag::Shareable => 28,
        Tag::SharedRef => 29,
        Tag::Set => 258,
        Tag::Tuple => PRIVATE_BASE + 1,
        Tag::FrozenSet => PRIVATE_BASE + 2,
        Tag::ByteArray => PRIVATE_BASE + 3,
        Tag::Complex => PRIVATE_BASE + 4,
        Tag::Global => PRIVATE_BASE + 5,
        Tag::Extension => PRIVATE_BASE + 6,
        Tag::Object => PRIVATE_BASE + 7,
        Tag::PersistentId => PRIVATE_BASE + 8,
        Tag::Buffer => PRIVATE_BASE + 9,
        Tag::Scalar => PRIVATE_BASE + 10,
    }
}

fn tag_of(number: u64) -> Option<Tag> {
    Some(match number {
        27 => Tag::Call,
        28 => Tag::Shareable,
        29 => Tag::SharedRef,
        258 => Tag::Set,
        n if n > PRIVATE_BASE && n <= PRIVATE_BASE + 10 => [
            Tag::Tuple,
            Tag::FrozenSet,
            Tag::ByteArray,
            Tag::Complex,
            Tag::Global,
            Tag::Extension,
            Tag::Object,
            Tag::PersistentId,
            Tag::Buffer,
            Tag::Scalar,
        ][(n - PRIVATE_BASE - 1) as usize],
        _ => return None,
    })
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    /// Where `out` goes at each boundary once it holds [`SPILL_AT`] bytes (none: it keeps all).
    to: Option<&'o mut dyn Write>,
    /// Bytes handed to `to` so far.
    handed: usize,
    /// How much it holds before handing it on ([`SPILL_AT`]; less in tests).
    spill_at: usize,
    /// The first error `to` gave: nothing more is handed to it.
    failed: Option<io::Error>,
}

/// How much a streaming writer holds before handing it on.
const SPILL_AT: usize = 1 << 20;

impl Writer<'_> {
    fn spill(&mut self) {
        let Some(to) = self.to.as_deref_mut() else {
            return;
        };
        if self.failed.is_none() {
            if let Err(e) = to.write_all(self.out) {
                self.failed = Some(e);
            }
        }
        self.handed += self.out.len();
        self.out.clear();
    }
}

impl Writer<'_> {
    /// A head: most are one byte (small ints, short strs, small maps), written here; the rest
    /// out of line.
    #[inline(always)]
    fn head(&mut self, major: u8, n: u64) {
        if n < 24 {
            self.out.push(major << 5 | n as u8);
        } else {
            self.long_head(major, n);
        }
    }

    #[inline(never)]
    fn long_head(&mut self, major: u8, n: u64) {
        let m = major << 5;
        if n <= 0xff {
            self.out.extend_from_slice(&[m | 24, n as u8]);
        } else if n <= 0xffff {
            self.out.push(m | 25);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            self.out.push(m | 26);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.out.push(m | 27);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

impl Sink for Writer<'_> {
    #[inline]
    fn null(&mut self) {
        self.out.push(0xf6);
    }

    #[inline]
    fn bool(&mut self, v: bool) {
        self.out.push(if v { 0xf5 } else { 0xf4 });
    }

    #[inline]
    fn int(&mut self, v: i64) {
        if v >= 0 {
            self.head(0, v as u64);
        } else {
            self.head(1, !(v as u64));
        }
    }

    fn bigint(&mut self, v: &BigInt) {
        let (negative, magnitude) = if v.sign() == Sign::Minus {
            (true, -(v + 1u8))
        } else {
            (false, v.clone())
        };
        match u64::try_from(&magnitude) {
            Ok(n) => self.head(if negative { 1 } else { 0 }, n),
            Err(_) => {
                self.head(6, if negative { 3 } else { 2 });
                self.bytes(&magnitude.to_bytes_be().1);
            }
        }
    }

    #[inline]
    fn float(&mut self, v: f64) {
        let mut item = [0xfb; 9];
        item[1..].copy_from_slice(&v.to_be_bytes());
        self.out.extend_from_slice(&item);
    }

    #[inline]
    fn text(&mut self, v: &str) {
        self.head(3, v.len() as u64);
        self.out.extend_from_slice(v.as_bytes());
    }

    #[inline]
    fn bytes(&mut self, v: &[u8]) {
        self.head(2, v.len() as u64);
        self.out.extend_from_slice(v);
    }

    #[inline]
    fn array(&mut self, len: usize) {
        self.head(4, len as u64);
    }

    #[inline]
    fn map(&mut self, len: usize) {
        self.head(5, len as u64);
    }

    #[inline]
    fn begin(&mut self, tag: Tag) {
        self.head(6, tag_number(tag));
    }

    #[inline]
    fn end(&mut self) {}

    #[inline]
    fn written(&self) -> Option<usize> {
        Some(self.handed + self.out.len())
    }

    #[inline]
    fn since(&self, start: usize) -> &[u8] {
        &self.out[start - self.handed..]
    }

    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    #[inline]
    fn boundary(&mut self) {
        if self.out.len() >= self.spill_at && self.to.is_some() {
            self.spill();
        }
    }

    fn ndarray(&mut self, array: &NdArray<'_>) {
        self.head(6, if array.fortran { 1040 } else { 40 });
        self.array(2);
        self.array(array.shape.len());
        for &d in &array.shape {
            self.head(0, d);
        }
        match array.dtype.cbor_tag() {
            Some(tag) => {
                self.head(6, tag);
                self.bytes(&array.data);
            }
            None => {
                self.array(array.data.len());
                for &b in array.data.iter() {
                    self.bool(b != 0);
                }
            }
        }
    }
}

/// Appends `value` as self-described CBOR.
pub fn encode_value(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    out.extend_from_slice(&SELF_DESCRIBE);
    let mut writer = Writer {
        out,
        to: None,
        handed: 0,
        spill_at: usize::MAX,
        failed: None,
    };
    tree::write(value, &mut writer).map_err(|e| Error::encode(NAME, e))
}

/// Writes `value` as CBOR to `to` as it is encoded, a MiB at a time (after the self-describe
/// tag if `self_describe`), and returns how many bytes it wrote. The output never sits whole
/// in memory.
pub fn write_value(value: &Value, self_describe: bool, to: &mut dyn Write) -> Result<u64> {
    write_spilling_at(value, self_describe, to, SPILL_AT)
}

fn write_spilling_at(
    value: &Value,
    self_describe: bool,
    to: &mut dyn Write,
    spill_at: usize,
) -> Result<u64> {
    let mut out = Vec::with_capacity(spill_at.min(SPILL_AT) + SPILL_AT / 4);
    if self_describe {
        out.extend_from_slice(&SELF_DESCRIBE);
    }
    let mut writer = Writer {
        out: &mut out,
        to: Some(to),
        handed: 0,
        spill_at,
        failed: None,
    };
    let walked = tree::write(value, &mut writer);
    writer.spill();
    if let Some(e) = writer.failed {
        return Err(Error::io("write the output", e));
    }
    walked.map_err(|e| Error::encode(NAME, e))?;
    Ok(writer.handed as u64)
}

struct Reader<'a, 'p> {
    data: &'a [u8],
    pos: usize,
    progress: Progress<'p>,
}

impl<'a> Reader<'a, '_> {
    fn take(&mut self, n: u64) -> std::result::Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "length out of range")?;
        if self.data.len() - self.pos < n {
            return Err(format!(
                "unexpected end of input at byte {} (needs {n} more)",
                self.pos
            ));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn head(&mut self) -> std::result::Result<(u8, u8, u64), String> {
        let first = self.take(1)?[0];
        let (major, info) = (first >> 5, first & 0x1f);
        let n = match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(self.take(2)?.try_into().unwrap())),
            26 => u64::from(u32::from_be_bytes(self.take(4)?.try_into().unwrap())),
            27 => u64::from_be_bytes(self.take(8)?.try_into().unwrap()),
            31 => return Err("indefinite-length items are not supported".into()),
            _ => return Err(format!("reserved additional information {info}")),
        };
        Ok((major, info, n))
    }

    fn count(n: u64) -> std::result::Result<usize, String> {
        usize::try_from(n).map_err(|_| "length out of range".to_string())
    }

    fn ndarray(&mut self, fortran: bool) -> std::result::Result<NdArray<'a>, String> {
        let bad = || "a typed array (tag 40/1040): expected [dimensions, data]".to_string();
        if self.head()? != (4, 2, 2) {
            return Err(bad());
        }
        let (major, _, dims) = self.head()?;
        if major != 4 {
            return Err(bad());
        }
        let mut shape = Vec::new();
        for _ in 0..dims {
            let (major, _, d) = self.head()?;
            if major != 0 {
                return Err(bad());
            }
            shape.push(d);
        }
        let (major, _, n) = self.head()?;
        let (dtype, data) = match major {
            6 => {
                let dtype = Dtype::from_cbor_tag(n)
                    .ok_or_else(|| format!("unsupported typed array tag {n}"))?;
                let (major, _, len) = self.head()?;
                if major != 2 {
                    return Err(bad());
                }
                (dtype, Cow::Borrowed(self.take(len)?))
            }
            4 => {
                let mut bools = Vec::with_capacity(Self::count(n)?.min(1 << 16));
                for _ in 0..n {
                    match self.take(1)?[0] {
                        0xf4 => bools.push(0),
                        0xf5 => bools.push(1),
                        _ => return Err("a bool array holds only true and false".into()),
                    }
                }
                let dtype = Dtype::from_descr("|b1").expect("bool dtype");
                (dtype, Cow::Owned(bools))
            }
            _ => return Err(bad()),
        };
        Ok(NdArray {
            dtype,
            shape,
            fortran,
            data,
        })
    }
}

impl<'a> Source<'a> for Reader<'a, '_> {
    fn next(&mut self) -> std::result::Result<Event<'a>, String> {
        self.progress.at(self.pos);
        loop {
            let start = self.pos;
            let (major, info, n) = self.head()?;
            return Ok(match major {
                0 => match i64::try_from(n) {
                    Ok(i) => Event::Int(i),
                    Err(_) => Event::Big(BigInt::from(n)),
                },
                1 => match i64::try_from(n) {
                    Ok(i) => Event::Int(-1 - i),
                    Err(_) => Event::Big(-1 - BigInt::from(n)),
                },
                2 => Event::Bytes(Cow::Borrowed(self.take(n)?)),
                3 => {
                    let bytes = self.take(n)?;
                    let text = std::str::from_utf8(bytes).map_err(|e| {
                        format!("invalid UTF-8 in a text string at byte {start}: {e}")
                    })?;
                    Event::Text(Cow::Borrowed(text))
                }
                4 => Event::Array(Self::count(n)?),
                5 => Event::Map(Self::count(n)?),
                6 => match n {
                    55799 => continue,
                    2 | 3 => {
                        let (major, _, len) = self.head()?;
                        if major != 2 {
                            return Err("a bignum (tag 2/3) wraps a byte string".into());
                        }
                        let magnitude = BigInt::from_bytes_be(Sign::Plus, self.take(len)?);
                        Event::Big(if n == 2 { magnitude } else { -1 - magnitude })
                    }
                    40 | 1040 => Event::NdArray(self.ndarray(n == 1040)?),
                    _ => Event::Tag(
                        tag_of(n).ok_or_else(|| format!("unsupported tag {n} at byte {start}"))?,
                    ),
                },
                _ => match info {
                    20 => Event::Bool(false),
                    21 => Event::Bool(true),
                    22 | 23 => Event::Null,
                    25 => Event::Float(half(n as u16)),
                    26 => Event::Float(f64::from(f32::from_bits(n as u32))),
                    27 => Event::Float(f64::from_bits(n)),
                    _ => return Err(format!("unsupported simple value at byte {start}")),
                },
            });
        }
    }
}

fn half(bits: u16) -> f64 {
    let exp = (bits >> 10) & 0x1f;
    let mant = f64::from(bits & 0x3ff);
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + mant / 1024.0) * 2f64.powi(i32::from(e) - 15),
    };
    if bits & 0x8000 != 0 {
        -v
    } else {
        v
    }
}

/// Decodes one CBOR item (self-describe tag optional) filling all of `bytes`, telling `progress` how far it has read
/// (nothing the value holds borrows the bytes before).
pub fn decode_value_passing(bytes: &[u8], progress: Progress<'_>) -> Result<Value> {
    let mut reader = Reader {
        data: bytes,
        pos: 0,
        progress,
    };
    let value = tree::read(&mut reader).map_err(|e| Error::decode(NAME, e))?;
    if reader.pos != bytes.len() {
        return Err(Error::decode(
            NAME,
            format!(
                "trailing bytes after the value ({} of {} bytes used)",
                reader.pos,
                bytes.len()
            ),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use num_bigint::BigInt;
    use pypickle_core::{Dict, Item, Object, SharedKeys, Value};

    use super::encode_value;

    /// `[{k: v, ...}, ...]` over `keys`, the dicts sharing one key table or each with its own.
    fn records(shared: bool, extra: impl Fn(&mut Value) -> Item) -> Value {
        let mut value = Value::new();
        let name = value.push(Object::Str("name".into()));
        let big = value.push(Object::BigInt(Box::new(BigInt::from(1u128 << 70))));
        let odd = extra(&mut value);
        let keys = [name, Item::Int(7), big, Item::None, odd];
        let table: SharedKeys = Arc::new(keys.to_vec().into_boxed_slice());
        let mut list = Vec::new();
        for i in 0..4 {
            let text = value.push(Object::Str(format!("user{i}").into()));
            let values = [
                text,
                Item::Int(i),
                Item::Float(0.5),
                Item::Bool(i % 2 == 0),
                odd,
            ];
            let dict = match shared {
                true => Dict::with_shared_keys(table.clone(), values.to_vec().into()),
                false => keys.iter().copied().zip(values).collect(),
            };
            list.push(value.push(Object::Dict(dict)));
        }
        let root = value.push(Object::List(list));
        value.set_root(root);
        value
    }

    /// `[{"k": 1}, [[...[{"k": 2}]...]]]`, the second dict under `levels` lists, the two
    /// dicts sharing one key table or each with its own.
    fn shallow_and_deep(levels: usize, shared: bool) -> Value {
        let mut value = Value::new();
        let key = value.push(Object::Str("k".into()));
        let table: SharedKeys = Arc::new(vec![key].into_boxed_slice());
        let dict = |value: &mut Value, n| {
            value.push(Object::Dict(match shared {
                true => Dict::with_shared_keys(table.clone(), vec![Item::Int(n)].into()),
                false => Dict::from(vec![(key, Item::Int(n))]),
            }))
        };
        let shallow = dict(&mut value, 1);
        let mut deep = dict(&mut value, 2);
        for _ in 0..levels {
            deep = value.push(Object::List(vec![deep]));
        }
        let root = value.push(Object::List(vec![shallow, deep]));
        value.set_root(root);
        value
    }

    #[test]
    fn copied_keys_obey_the_depth_bound_as_written_ones_do() {
        refused_alike_around_the_depth_bound(shallow_and_deep);
    }

    /// `make(levels, shared)` nested 120 to 129 levels deep, with shared keys and with its own,
    /// is written the same or refused both ways, and the bound lies in that range.
    fn refused_alike_around_the_depth_bound(make: impl Fn(usize, bool) -> Value) {
        let mut refused = 0;
        for levels in 120..130 {
            let encode = |shared| {
                let mut out = Vec::new();
                encode_value(&make(levels, shared), &mut out).map(|_| out)
            };
            match (encode(true), encode(false)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{levels} levels"),
                (Err(_), Err(_)) => refused += 1,
                (a, b) => panic!("{levels} levels: {:?} against {:?}", a.is_ok(), b.is_ok()),
            }
        }
        assert!(
            refused > 0 && refused < 10,
            "the bound lies in the range tried"
        );
    }

    fn cbor(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(value, &mut out).unwrap();
        out
    }

    /// Two kinds of records whose key tables (a str, an int, a tuple of a str) are first met
    /// far apart, between long strs: several MiB of CBOR.
    fn two_kinds_of_records() -> Value {
        let mut value = Value::new();
        let table = |value: &mut Value, name: &str| -> SharedKeys {
            let key = value.push(Object::Str(name.into()));
            let inner = value.push(Object::Str(format!("{name} inner").into()));
            let tuple = value.push(Object::Tuple(vec![inner, Item::Int(3)]));
            Arc::new(vec![key, Item::Int(-9), tuple].into_boxed_slice())
        };
        let (first, second) = (table(&mut value, "a"), table(&mut value, "b"));
        let long = value.push(Object::Str("x".repeat(300_000).into()));
        let mut list = Vec::new();
        for i in 0..60_000i64 {
            let keys = if i < 30_000 { &first } else { &second };
            let values = vec![Item::Int(i), long, Item::Float(i as f64)];
            let values = if i % 1000 == 0 {
                values
            } else {
                vec![Item::Int(i); 3]
            };
            list.push(value.push(Object::Dict(Dict::with_shared_keys(
                keys.clone(),
                values.into(),
            ))));
        }
        let root = value.push(Object::List(list));
        value.set_root(root);
        value
    }

    /// Takes what it is given, a write at a time.
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

    #[test]
    fn streaming_writes_the_same_bytes_a_mib_at_a_time() {
        let value = two_kinds_of_records();
        let whole = cbor(&value);
        assert!(whole.len() > 4 << 20, "{} bytes", whole.len());
        for self_describe in [true, false] {
            let mut pieces = Pieces(Vec::new());
            let n = super::write_value(&value, self_describe, &mut pieces).unwrap();
            let joined = pieces.0.concat();
            let skip = if self_describe { 0 } else { 3 };
            assert_eq!(joined, whole[skip..]);
            assert_eq!(n as usize, joined.len());
            // Handed on as it goes: no piece much larger than a MiB and the longest item.
            assert!(pieces.0.len() >= 4, "{} pieces", pieces.0.len());
            assert!(pieces.0.iter().all(|p| p.len() < super::SPILL_AT + 400_000));
        }
    }

    /// Handing on after almost every item: a key table being encoded (its tuple key is
    /// several items) must never be handed on before its bytes are kept.
    #[test]
    fn streaming_at_any_size_writes_the_same_bytes() {
        let str_key = |v: &mut Value| v.push(Object::Str("tail".into()));
        let tuple_key = |v: &mut Value| {
            let inner = v.push(Object::Str("in".into()));
            v.push(Object::Tuple(vec![inner, Item::Int(1)]))
        };
        for extra in [&str_key as &dyn Fn(&mut Value) -> Item, &tuple_key] {
            let value = records(true, extra);
            let whole = cbor(&value);
            for spill_at in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89] {
                let mut pieces = Pieces(Vec::new());
                super::write_spilling_at(&value, true, &mut pieces, spill_at).unwrap();
                assert_eq!(pieces.0.concat(), whole, "handed on at {spill_at} bytes");
            }
        }
    }

    #[test]
    fn a_failing_writer_is_an_error() {
        struct Full;
        impl std::io::Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let err = super::write_value(&two_kinds_of_records(), true, &mut Full).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
    }

    /// Records whose values are records of another table (first met between the outer
    /// table's keys) encode as dicts with their own keys do. (The keys of the inner table
    /// were once kept between the outer table's, which then copied an inner key.)
    #[test]
    fn records_inside_records_encode_as_plain_dicts_do() {
        let nested = |shared: bool| {
            let mut value = Value::new();
            let (a, b, x) = (
                value.push(Object::Str("a".into())),
                value.push(Object::Str("b".into())),
                value.push(Object::Str("x".into())),
            );
            let outer: SharedKeys = Arc::new(vec![a, b].into_boxed_slice());
            let inner: SharedKeys = Arc::new(vec![x].into_boxed_slice());
            let dict = |table: &SharedKeys, values: Vec<Item>| match shared {
                true => Dict::with_shared_keys(table.clone(), values.into()),
                false => table.iter().copied().zip(values).collect(),
            };
            let mut list = Vec::new();
            for i in 0..3 {
                let inside = value.push(Object::Dict(dict(&inner, vec![Item::Int(i)])));
                let d = dict(&outer, vec![inside, Item::Int(-i)]);
                list.push(value.push(Object::Dict(d)));
            }
            let root = value.push(Object::List(list));
            value.set_root(root);
            value
        };
        assert_eq!(cbor(&nested(true)), cbor(&nested(false)));
    }

    /// The dicts of a value, in arena order, with their key tables' addresses (if shared).
    fn tables(value: &Value) -> Vec<Option<*const Box<[Item]>>> {
        value
            .objects()
            .iter()
            .filter_map(|o| match o {
                Object::Dict(d) => Some(d.shared_keys().map(Arc::as_ptr)),
                _ => None,
            })
            .collect()
    }

    /// `value` written and read back, checked to write the same bytes again.
    fn read_back(value: &Value) -> Value {
        let bytes = cbor(value);
        let read =
            super::decode_value_passing(&bytes, pypickle_core::tree::Progress::none()).unwrap();
        assert_eq!(cbor(&read), bytes);
        read
    }

    /// Maps with the keys of the map before them at their depth share one key table when read;
    /// a map inside one (read between its keys) has its own; a map whose keys differ, or repeat,
    /// or are not all strs, has its own keys.
    #[test]
    fn maps_read_with_the_keys_of_the_last_map_share_them() {
        let mut value = Value::new();
        let key = |value: &mut Value, s: &str| value.push(Object::Str(s.into()));
        let mut outer = Vec::new();
        for i in 0..4 {
            let (x, y) = (key(&mut value, "x"), key(&mut value, "y"));
            let inner = value.push(Object::Dict(Dict::from(vec![(x, Item::Int(i))])));
            let (a, b) = (key(&mut value, "a"), key(&mut value, "b"));
            outer.push(value.push(Object::Dict(Dict::from(vec![
                (a, inner),
                (b, Item::Int(i)),
            ]))));
            let _ = y;
        }
        // Keys in another order, a repeated key, an int key: each of its own.
        let (b, a) = (key(&mut value, "b"), key(&mut value, "a"));
        outer.push(value.push(Object::Dict(Dict::from(vec![
            (b, Item::None),
            (a, Item::None),
        ]))));
        let (a1, a2) = (key(&mut value, "a"), key(&mut value, "a"));
        outer.push(value.push(Object::Dict(Dict::from(vec![
            (a1, Item::None),
            (a2, Item::None),
        ]))));
        outer.push(value.push(Object::Dict(Dict::from(vec![(Item::Int(1), Item::None)]))));
        let root = value.push(Object::List(outer));
        value.set_root(root);

        let read = read_back(&value);
        let t = tables(&read);
        // Arena order: inner 0, outer 0, inner 1, outer 1, ...: the first of each is plain, the
        // later ones share one table per depth.
        assert_eq!(t.len(), 11);
        assert!(t[0].is_none() && t[1].is_none(), "{t:?}");
        let (inner, outer) = (t[2].unwrap(), t[3].unwrap());
        assert_ne!(inner, outer);
        for k in 1..4 {
            assert_eq!(t[2 * k], Some(inner), "{t:?}");
            assert_eq!(t[2 * k + 1], Some(outer), "{t:?}");
        }
        assert!(t[8..].iter().all(Option::is_none), "{t:?}");
        // Read again from what the shared tables write: the same.
        assert_eq!(read_back(&read), read);
    }

    /// Records of every kind of value (each scalar at the edges of its encodings, NaN with a
    /// payload, big ints, strs used once and twice, a list two records share, records inside
    /// records, more than 16 values) and of keys that are not all copied (a tuple key): the
    /// quick path for copied keys writes what dicts with their own keys write, whole or
    /// handed on at any size.
    #[test]
    fn records_of_every_kind_of_value_encode_as_plain_dicts_do() {
        let make = |shared: bool, tuple_key: bool| {
            let mut value = Value::new();
            let mut keys: Vec<Item> = (0..20)
                .map(|k| value.push(Object::Str(format!("key{k}").into())))
                .collect();
            keys[3] = Item::Int(-100);
            keys[4] = Item::None;
            if tuple_key {
                let inner = value.push(Object::Str("in".into()));
                keys[5] = value.push(Object::Tuple(vec![inner, Item::Int(2)]));
            }
            let table: SharedKeys = Arc::new(keys.clone().into_boxed_slice());
            let inner_key = value.push(Object::Str("x".into()));
            let inner_table: SharedKeys = Arc::new(vec![inner_key].into_boxed_slice());
            let twice = value.push(Object::Str("twice".into()));
            let long = value.push(Object::Str("l".repeat(40).into()));
            let shared_list = value.push(Object::List(vec![Item::Int(1), twice]));
            let dict = |table: &SharedKeys, values: Vec<Item>| match shared {
                true => Dict::with_shared_keys(table.clone(), values.into()),
                false => table.iter().copied().zip(values).collect(),
            };
            let scalars = [
                Item::None,
                Item::Bool(true),
                Item::Bool(false),
                Item::Float(f64::from_bits(0x7ff8_0000_dead_beef)),
                Item::Float(-0.0),
                Item::Float(f64::INFINITY),
                Item::Int(0),
                Item::Int(23),
                Item::Int(24),
                Item::Int(255),
                Item::Int(256),
                Item::Int(65_536),
                Item::Int(1 << 32),
                Item::Int(-1),
                Item::Int(-25),
                Item::Int(i64::MIN),
                Item::Int(i64::MAX),
            ];
            let mut list = Vec::new();
            for i in 0..40usize {
                let text = value.push(Object::Str(format!("user{i:06}").into()));
                let big = value.push(Object::BigInt(Box::new(BigInt::from(i) << 80)));
                let inside = value.push(Object::Dict(dict(
                    &inner_table,
                    vec![Item::Int(-(i as i64))],
                )));
                let mut values: Vec<Item> =
                    (0..20).map(|k| scalars[(i + k) % scalars.len()]).collect();
                values[i % 20] = text;
                values[(i + 1) % 20] = big;
                values[(i + 2) % 20] = if i % 3 == 0 { shared_list } else { twice };
                values[(i + 3) % 20] = inside;
                values[(i + 4) % 20] = long;
                list.push(value.push(Object::Dict(dict(&table, values))));
            }
            let root = value.push(Object::List(list));
            value.set_root(root);
            value
        };
        for tuple_key in [false, true] {
            let (shared, own) = (make(true, tuple_key), make(false, tuple_key));
            let whole = cbor(&own);
            assert_eq!(cbor(&shared), whole, "tuple key: {tuple_key}");
            for spill_at in [1, 7, 64, 1000] {
                let mut pieces = Pieces(Vec::new());
                super::write_spilling_at(&shared, true, &mut pieces, spill_at).unwrap();
                assert_eq!(pieces.0.concat(), whole, "handed on at {spill_at} bytes");
            }
        }
    }

    /// A str value of a record with copied keys, around the depth bound: written or refused
    /// as the same dict with its own keys is. (The key is an int: a str key would be refused
    /// first, one level up.)
    #[test]
    fn strs_of_records_obey_the_depth_bound() {
        let make = |levels: usize, shared: bool| {
            let mut value = Value::new();
            let key = Item::Int(5);
            let table: SharedKeys = Arc::new(vec![key].into_boxed_slice());
            let dict = |value: &mut Value| {
                let text = value.push(Object::Str("v".into()));
                value.push(Object::Dict(match shared {
                    true => Dict::with_shared_keys(table.clone(), vec![text].into()),
                    false => Dict::from(vec![(key, text)]),
                }))
            };
            let shallow = dict(&mut value);
            let mut deep = dict(&mut value);
            for _ in 0..levels {
                deep = value.push(Object::List(vec![deep]));
            }
            let root = value.push(Object::List(vec![shallow, deep]));
            value.set_root(root);
            value
        };
        refused_alike_around_the_depth_bound(make);
    }

    #[test]
    fn records_encode_as_dicts_with_their_own_keys_do() {
        // A str key: written once, then copied. A tuple key referenced by every record (and as a
        // value): shared, numbered by tags 28/29, so never copied.
        let str_key = |v: &mut Value| v.push(Object::Str("tail".into()));
        let shared_tuple = |v: &mut Value| v.push(Object::Tuple(vec![Item::Int(1)]));
        for extra in [&str_key as &dyn Fn(&mut Value) -> Item, &shared_tuple] {
            let (shared, own) = (records(true, extra), records(false, extra));
            assert_eq!(cbor(&shared), cbor(&own));
        }
    }
}
