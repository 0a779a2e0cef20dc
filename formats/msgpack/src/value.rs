//! Python values ([`Value`]) in MessagePack, following docs/conversion.md: plain data as plain
//! MessagePack, everything else as extension types (codes 1 to 17) whose payload is one
//! MessagePack item.

use std::borrow::Cow;

use num_bigint::{BigInt, Sign};
use pypickle_core::numpy::{Dtype, NdArray};
use pypickle_core::tree::{self, Event, Progress, Sink, Source, Tag};
use pypickle_core::{Error, Result, Value};

const NAME: &str = "msgpack";

const BIG_POSITIVE: i8 = 15;
const BIG_NEGATIVE: i8 = 16;
const NDARRAY: i8 = 17;

fn ext_code(tag: Tag) -> i8 {
    match tag {
        Tag::Tuple => 1,
        Tag::FrozenSet => 2,
        Tag::ByteArray => 3,
        Tag::Complex => 4,
        Tag::Global => 5,
        Tag::Extension => 6,
        Tag::Object => 7,
        Tag::PersistentId => 8,
        Tag::Buffer => 9,
        Tag::Scalar => 10,
        Tag::Set => 11,
        Tag::Call => 12,
        Tag::Shareable => 13,
        Tag::SharedRef => 14,
    }
}

fn tag_of(code: i8) -> Option<Tag> {
    Some(match code {
        1 => Tag::Tuple,
        2 => Tag::FrozenSet,
        3 => Tag::ByteArray,
        4 => Tag::Complex,
        5 => Tag::Global,
        6 => Tag::Extension,
        7 => Tag::Object,
        8 => Tag::PersistentId,
        9 => Tag::Buffer,
        10 => Tag::Scalar,
        11 => Tag::Set,
        12 => Tag::Call,
        13 => Tag::Shareable,
        14 => Tag::SharedRef,
        _ => return None,
    })
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    /// Where each open extension's payload starts, and its code.
    open: Vec<(usize, i8)>,
}

impl Writer<'_> {
    fn sized(&mut self, n: usize, small: Option<(u8, usize)>, m8: Option<u8>, m16: u8, m32: u8) {
        match small {
            Some((base, limit)) if n < limit => self.out.push(base | n as u8),
            _ => match m8 {
                Some(m) if n <= 0xff => self.out.extend_from_slice(&[m, n as u8]),
                _ if n <= 0xffff => {
                    self.out.push(m16);
                    self.out.extend_from_slice(&(n as u16).to_be_bytes());
                }
                _ => {
                    self.out.push(m32);
                    self.out.extend_from_slice(&(n as u32).to_be_bytes());
                }
            },
        }
    }

    fn uint(&mut self, v: u64) {
        if v < 128 {
            self.out.push(v as u8);
        } else if v <= 0xff {
            self.out.extend_from_slice(&[0xcc, v as u8]);
        } else if v <= 0xffff {
            self.out.push(0xcd);
            self.out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= 0xffff_ffff {
            self.out.push(0xce);
            self.out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            self.out.push(0xcf);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    fn open(&mut self, code: i8) {
        self.open.push((self.out.len(), code));
    }

    fn close(&mut self) {
        let (start, code) = self.open.pop().expect("an open extension");
        let payload = self.out.split_off(start);
        let n = payload.len();
        match n {
            1 => self.out.push(0xd4),
            2 => self.out.push(0xd5),
            4 => self.out.push(0xd6),
            8 => self.out.push(0xd7),
            16 => self.out.push(0xd8),
            _ => self.sized(n, None, Some(0xc7), 0xc8, 0xc9),
        }
        self.out.push(code as u8);
        self.out.extend_from_slice(&payload);
    }
}

impl Sink for Writer<'_> {
    fn null(&mut self) {
        self.out.push(0xc0);
    }

    fn bool(&mut self, v: bool) {
        self.out.push(if v { 0xc3 } else { 0xc2 });
    }

    fn int(&mut self, v: i64) {
        if v >= 0 {
            self.uint(v as u64);
        } else if v >= -32 {
            self.out.push(v as i8 as u8);
        } else if v >= i64::from(i8::MIN) {
            self.out.extend_from_slice(&[0xd0, v as i8 as u8]);
        } else if v >= i64::from(i16::MIN) {
            self.out.push(0xd1);
            self.out.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= i64::from(i32::MIN) {
            self.out.push(0xd2);
            self.out.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            self.out.push(0xd3);
            self.out.extend_from_slice(&v.to_be_bytes());
        }
    }

    fn bigint(&mut self, v: &BigInt) {
        if let Ok(n) = u64::try_from(v) {
            return self.uint(n);
        }
        let (code, magnitude) = if v.sign() == Sign::Minus {
            (BIG_NEGATIVE, -(v + 1u8))
        } else {
            (BIG_POSITIVE, v.clone())
        };
        self.open(code);
        self.bytes(&magnitude.to_bytes_be().1);
        self.close();
    }

    fn float(&mut self, v: f64) {
        self.out.push(0xcb);
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn text(&mut self, v: &str) {
        self.sized(v.len(), Some((0xa0, 32)), Some(0xd9), 0xda, 0xdb);
        self.out.extend_from_slice(v.as_bytes());
    }

    fn bytes(&mut self, v: &[u8]) {
        self.sized(v.len(), None, Some(0xc4), 0xc5, 0xc6);
        self.out.extend_from_slice(v);
    }

    fn array(&mut self, len: usize) {
        self.sized(len, Some((0x90, 16)), None, 0xdc, 0xdd);
    }

    fn map(&mut self, len: usize) {
        self.sized(len, Some((0x80, 16)), None, 0xde, 0xdf);
    }

    fn begin(&mut self, tag: Tag) {
        self.open(ext_code(tag));
    }

    fn end(&mut self) {
        self.close();
    }

    fn ndarray(&mut self, array: &NdArray<'_>) {
        self.open(NDARRAY);
        self.array(4);
        self.text(&array.dtype.descr());
        self.array(array.shape.len());
        for &d in &array.shape {
            self.uint(d);
        }
        self.bool(array.fortran);
        self.bytes(&array.data);
        self.close();
    }
}

/// Appends `value` as MessagePack.
pub fn encode_value(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    let mut writer = Writer {
        out,
        open: Vec::new(),
    };
    tree::write(value, &mut writer).map_err(|e| Error::encode(NAME, e))?;
    if writer.out.len() > u32::MAX as usize {
        return Err(Error::encode(NAME, "the value is larger than 4 GiB"));
    }
    Ok(())
}

struct Reader<'a, 'p> {
    data: &'a [u8],
    pos: usize,
    progress: Progress<'p>,
    /// Where the innermost extension payload ends (the input's end outside any).
    limit: usize,
    outer: Vec<usize>,
}

type R<T> = std::result::Result<T, String>;

impl<'a> Reader<'a, '_> {
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if self.limit - self.pos < n {
            return Err(format!(
                "unexpected end of {} at byte {} (needs {n} more)",
                if self.outer.is_empty() {
                    "input"
                } else {
                    "an extension payload"
                },
                self.pos
            ));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn be(&mut self, n: usize) -> R<u64> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn ext(&mut self, len: usize) -> R<Event<'a>> {
        let code = self.take(1)?[0] as i8;
        if self.limit - self.pos < len {
            return Err(format!(
                "an extension payload runs past the end at byte {}",
                self.pos
            ));
        }
        let end = self.pos + len;
        match code {
            BIG_POSITIVE | BIG_NEGATIVE => {
                let bytes = match self.item_bytes()? {
                    Some(b) => b,
                    None => return Err("a bignum extension holds a byte string".into()),
                };
                if self.pos != end {
                    return Err("trailing bytes in a bignum extension".into());
                }
                let magnitude = BigInt::from_bytes_be(Sign::Plus, bytes);
                Ok(Event::Big(if code == BIG_POSITIVE {
                    magnitude
                } else {
                    -1 - magnitude
                }))
            }
            NDARRAY => {
                let array = self.ndarray()?;
                if self.pos != end {
                    return Err("trailing bytes in an ndarray extension".into());
                }
                Ok(Event::NdArray(array))
            }
            _ => {
                let tag =
                    tag_of(code).ok_or_else(|| format!("unsupported extension type {code}"))?;
                self.outer.push(self.limit);
                self.limit = end;
                Ok(Event::Tag(tag))
            }
        }
    }

    fn item_bytes(&mut self) -> R<Option<&'a [u8]>> {
        Ok(match self.next()? {
            Event::Bytes(Cow::Borrowed(b)) => Some(b),
            _ => None,
        })
    }

    fn ndarray(&mut self) -> R<NdArray<'a>> {
        let bad = || "an ndarray extension holds [dtype, shape, fortran, data]".to_string();
        let Event::Array(4) = self.next()? else {
            return Err(bad());
        };
        let Event::Text(descr) = self.next()? else {
            return Err(bad());
        };
        let dtype = Dtype::from_descr(&descr)
            .ok_or_else(|| format!("unsupported ndarray dtype {descr:?}"))?;
        let Event::Array(dims) = self.next()? else {
            return Err(bad());
        };
        let mut shape = Vec::with_capacity(dims.min(64));
        for _ in 0..dims {
            match self.next()? {
                Event::Int(d) if d >= 0 => shape.push(d as u64),
                _ => return Err(bad()),
            }
        }
        let Event::Bool(fortran) = self.next()? else {
            return Err(bad());
        };
        let data = self.item_bytes()?.ok_or_else(bad)?;
        Ok(NdArray {
            dtype,
            shape,
            fortran,
            data: Cow::Borrowed(data),
        })
    }
}

impl<'a> Source<'a> for Reader<'a, '_> {
    fn next(&mut self) -> R<Event<'a>> {
        let start = self.pos;
        self.progress.at(start);
        let marker = self.take(1)?[0];
        Ok(match marker {
            0x00..=0x7f => Event::Int(i64::from(marker)),
            0x80..=0x8f => Event::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Event::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => self.text(usize::from(marker & 0x1f), start)?,
            0xc0 => Event::Null,
            0xc2 => Event::Bool(false),
            0xc3 => Event::Bool(true),
            0xc4..=0xc6 => {
                let n = self.be(1 << (marker - 0xc4))? as usize;
                Event::Bytes(Cow::Borrowed(self.take(n)?))
            }
            0xc7..=0xc9 => {
                let n = self.be(1 << (marker - 0xc7))? as usize;
                self.ext(n)?
            }
            0xca => Event::Float(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Event::Float(f64::from_bits(self.be(8)?)),
            0xcc..=0xcf => {
                let v = self.be(1 << (marker - 0xcc))?;
                match i64::try_from(v) {
                    Ok(i) => Event::Int(i),
                    Err(_) => Event::Big(BigInt::from(v)),
                }
            }
            0xd0 => Event::Int(i64::from(self.be(1)? as u8 as i8)),
            0xd1 => Event::Int(i64::from(self.be(2)? as u16 as i16)),
            0xd2 => Event::Int(i64::from(self.be(4)? as u32 as i32)),
            0xd3 => Event::Int(self.be(8)? as i64),
            0xd4..=0xd8 => self.ext(1 << (marker - 0xd4))?,
            0xd9..=0xdb => {
                let n = self.be(1 << (marker - 0xd9))? as usize;
                self.text(n, start)?
            }
            0xdc | 0xdd => Event::Array(self.be(if marker == 0xdc { 2 } else { 4 })? as usize),
            0xde | 0xdf => Event::Map(self.be(if marker == 0xde { 2 } else { 4 })? as usize),
            0xe0..=0xff => Event::Int(i64::from(marker as i8)),
            0xc1 => return Err(format!("the never-used marker c1 at byte {start}")),
        })
    }

    fn end(&mut self) -> R<()> {
        if self.pos != self.limit {
            return Err(format!(
                "an extension payload has {} bytes left over at byte {}",
                self.limit - self.pos,
                self.pos
            ));
        }
        self.limit = self.outer.pop().expect("an open extension");
        Ok(())
    }
}

impl<'a> Reader<'a, '_> {
    fn text(&mut self, n: usize, start: usize) -> R<Event<'a>> {
        let bytes = self.take(n)?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("invalid UTF-8 in a string at byte {start}: {e}"))?;
        Ok(Event::Text(Cow::Borrowed(text)))
    }
}

/// Decodes one MessagePack item filling all of `bytes`, telling `progress` how far it has read
/// (nothing the value holds borrows the bytes before).
pub fn decode_value_passing(bytes: &[u8], progress: Progress<'_>) -> Result<Value> {
    let mut reader = Reader {
        data: bytes,
        pos: 0,
        progress,
        limit: bytes.len(),
        outer: Vec::new(),
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
    use super::*;
    use pypickle_core::{Item, Object};

    fn decode(bytes: &[u8]) -> pypickle_core::Result<Value> {
        super::decode_value_passing(bytes, pypickle_core::tree::Progress::none())
    }

    #[test]
    fn ints_of_every_width_round_trip() {
        for v in [
            0,
            1,
            127,
            128,
            255,
            256,
            65535,
            65536,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32768,
            -32769,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = Vec::new();
            encode_value(&Value::from_item(Item::Int(v)), &mut out).unwrap();
            assert_eq!(decode(&out).unwrap().root(), Item::Int(v), "{v}");
        }
        let mut value = Value::new();
        let big = value.push(Object::BigInt(Box::new(BigInt::from(u64::MAX) * 7)));
        value.set_root(big);
        let mut out = Vec::new();
        encode_value(&value, &mut out).unwrap();
        assert_eq!(decode(&out).unwrap().objects()[0], value.objects()[0]);
    }
}
