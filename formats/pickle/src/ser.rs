//! serde → pickle: writes plain serde data as a pickle CPython loads with `pickle.loads`.
//!
//! The output never references a global (no GLOBAL, STACK_GLOBAL, REDUCE, INST, OBJ, NEWOBJ or
//! BUILD): loading it imports and calls nothing. Protocols 2 to 5 ([`DEFAULT_PROTOCOL`] is 4);
//! opcodes are chosen as CPython's C pickler chooses them (PROTO, FRAME at protocol ≥ 4 cut at
//! 64 KiB, BININT1/BININT2/BININT/LONG1, BINFLOAT, SHORT_BINUNICODE (≥ 4)/BINUNICODE/BINUNICODE8,
//! TUPLE1–3, APPENDS/SETITEMS in batches of 1000, NEWTRUE/NEWFALSE), except:
//!
//! - nothing is memoized: serde data has no shared references, so no MEMOIZE/BINPUT is written
//!   (CPython memoizes every str, list, dict and tuple; the loaded objects are equal either way);
//! - bytes are SHORT_BINBYTES/BINBYTES/BINBYTES8 at every protocol. At protocol 2 CPython writes
//!   `_codecs.encode(str, 'latin1')`, a global call, which plain data must not contain; every
//!   CPython 3 loads these opcodes whatever the PROTO says, Python 2 does not.
//!
//! # Mapping
//!
//! | serde | Python |
//! |---|---|
//! | `bool` | `bool` |
//! | `i8`…`i128`, `u8`…`u128` | `int` (any size) |
//! | `f32`, `f64` (NaN and infinities too) | `float` |
//! | `char`, `str` | `str` |
//! | bytes (`serialize_bytes`: `serde_bytes`, `#[serde(with)]`) | `bytes` |
//! | `None`, `()`, unit struct | `None` |
//! | `Some(x)`, newtype struct `S(x)` | `x` |
//! | sequence (`Vec`, `HashSet`, ...) | `list` (a `tuple` inside a dict key) |
//! | tuple, tuple struct | `tuple` |
//! | map | `dict` |
//! | struct | `dict` with `str` keys (the field names) |
//! | unit variant `E::A` | `'A'` |
//! | newtype variant `E::B(x)` | `{'B': x}` |
//! | tuple variant `E::C(x, y)` | `{'C': (x, y)}` |
//! | struct variant `E::D { f }` | `{'D': {'f': f}}` |
//!
//! Enums are externally tagged, as in serde_json; `Vec<u8>` is a sequence, so a `list` of ints
//! unless it goes through `serialize_bytes`. Dict keys must be hashable in Python: a sequence
//! used as (part of) a key is written as a tuple, and a map, struct or non-unit variant as a key
//! is an error.

use std::fmt;
use std::io;

use serde::ser::{self, Serialize};

use crate::write::{op, Emitter, BATCH_SIZE, FRAME_SIZE_TARGET};

pub use crate::write::{DEFAULT_PROTOCOL, HIGHEST_PROTOCOL};

/// The lowest protocol the serde writer supports (the first with NEWTRUE, TUPLE1 and LONG1).
pub const LOWEST_PROTOCOL: u8 = 2;

/// Serializes `value` as a pickle of `protocol` (2 to 5).
pub fn to_vec<T: Serialize + ?Sized>(
    value: &T,
    protocol: u8,
) -> Result<Vec<u8>, pypickle_core::Error> {
    let mut ser = Serializer::with_flush(io::sink(), protocol, usize::MAX)?;
    value.serialize(&mut ser)?;
    Ok(ser.finish_buffer()?)
}

/// Serializes `value` as a pickle of `protocol` (2 to 5) into `writer`, a frame at a time.
pub fn to_writer<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
    protocol: u8,
) -> Result<(), pypickle_core::Error> {
    let mut ser = Serializer::new(writer, protocol)?;
    value.serialize(&mut ser)?;
    ser.into_inner()?;
    Ok(())
}

/// The serializer's error: a message, or the writer's I/O error.
#[derive(Debug)]
pub enum SerializeError {
    Message(String),
    Io(io::Error),
}

impl SerializeError {
    fn msg(message: impl fmt::Display) -> Self {
        SerializeError::Message(message.to_string())
    }
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerializeError::Message(m) => f.write_str(m),
            SerializeError::Io(e) => write!(f, "cannot write the pickle: {e}"),
        }
    }
}

impl std::error::Error for SerializeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SerializeError::Io(e) => Some(e),
            SerializeError::Message(_) => None,
        }
    }
}

impl ser::Error for SerializeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SerializeError::msg(msg)
    }
}

impl From<io::Error> for SerializeError {
    fn from(e: io::Error) -> Self {
        SerializeError::Io(e)
    }
}

impl From<pypickle_core::Error> for SerializeError {
    fn from(e: pypickle_core::Error) -> Self {
        SerializeError::Message(match e.kind() {
            pypickle_core::ErrorKind::Encode { message, .. } => message.clone(),
            _ => e.to_string(),
        })
    }
}

impl From<SerializeError> for pypickle_core::Error {
    fn from(e: SerializeError) -> Self {
        match e {
            SerializeError::Message(m) => pypickle_core::Error::encode("pickle", m),
            SerializeError::Io(e) => pypickle_core::Error::io("write the pickle", e),
        }
    }
}

/// A serde serializer writing one value as a pickle. Make it with [`Serializer::new`], serialize
/// exactly one value into `&mut serializer`, then call [`Serializer::into_inner`] (which writes
/// STOP and flushes). After an error the serializer must be dropped.
pub struct Serializer<W> {
    writer: W,
    em: Emitter,
    /// Write finished frames out once this many bytes are ready.
    flush_at: usize,
    /// Open compound values.
    depth: usize,
    /// Top-level values started (must end at 1).
    values: usize,
    /// Inside a dict key: sequences become tuples, dicts are refused.
    key: bool,
}

impl<W: io::Write> Serializer<W> {
    /// Starts a pickle of `protocol` (2 to 5) on `writer`.
    pub fn new(writer: W, protocol: u8) -> Result<Self, SerializeError> {
        Self::with_flush(writer, protocol, FRAME_SIZE_TARGET)
    }

    fn with_flush(writer: W, protocol: u8, flush_at: usize) -> Result<Self, SerializeError> {
        if !(LOWEST_PROTOCOL..=HIGHEST_PROTOCOL).contains(&protocol) {
            return Err(SerializeError::msg(format!(
                "unsupported pickle protocol {protocol} for serde data ({LOWEST_PROTOCOL} to {HIGHEST_PROTOCOL} are supported)"
            )));
        }
        Ok(Serializer {
            writer,
            em: Emitter::new(Vec::new(), protocol),
            flush_at,
            depth: 0,
            values: 0,
            key: false,
        })
    }

    /// The protocol being written.
    pub fn protocol(&self) -> u8 {
        self.em.proto()
    }

    fn check_complete(&self) -> Result<(), SerializeError> {
        if self.values == 0 {
            return Err(SerializeError::msg("no value was serialized"));
        }
        if self.depth != 0 {
            return Err(SerializeError::msg("a value was left unfinished"));
        }
        Ok(())
    }

    /// Writes STOP, flushes the rest and returns the writer.
    pub fn into_inner(self) -> Result<W, SerializeError> {
        self.check_complete()?;
        let Serializer { mut writer, em, .. } = self;
        writer.write_all(&em.finish())?;
        writer.flush()?;
        Ok(writer)
    }

    /// Writes STOP and returns the whole pickle (for [`to_vec`], which never flushes).
    fn finish_buffer(self) -> Result<Vec<u8>, SerializeError> {
        self.check_complete()?;
        Ok(self.em.finish())
    }

    /// Where CPython's `save` starts: frame boundary, one-value check, flush.
    fn begin(&mut self) -> Result<(), SerializeError> {
        self.em.boundary();
        if self.depth == 0 {
            if self.values > 0 {
                return Err(SerializeError::msg(
                    "a pickle holds one value; a second one was serialized",
                ));
            }
            self.values += 1;
        }
        if self.em.flushable() >= self.flush_at {
            let ready = self.em.take_flushable();
            self.writer.write_all(&ready)?;
        }
        Ok(())
    }

    fn refuse_in_key(&self, what: &str) -> Result<(), SerializeError> {
        if self.key {
            return Err(SerializeError::msg(format!(
                "{what} cannot be a dict key: Python dicts need hashable keys"
            )));
        }
        Ok(())
    }

    /// `{variant: ` — EMPTY_DICT and the key; the caller writes the payload, then SETITEM.
    fn open_variant(&mut self, variant: &str) -> Result<(), SerializeError> {
        self.refuse_in_key(&format!("the enum variant {variant:?} with data"))?;
        self.begin()?;
        self.depth += 1;
        self.em.op(op::EMPTY_DICT);
        self.em.boundary();
        self.em.str(variant)?;
        Ok(())
    }

    fn close_variant(&mut self) {
        self.em.op(op::SETITEM);
        self.depth -= 1;
    }

    fn start_tuple(&mut self, len: Option<usize>) -> Result<Kind, SerializeError> {
        self.begin()?;
        self.depth += 1;
        Ok(match len {
            Some(0) => {
                self.em.op(op::EMPTY_TUPLE);
                Kind::Tuple { len, marked: false }
            }
            Some(1..=3) => Kind::Tuple { len, marked: false },
            _ => {
                self.em.op(op::MARK);
                Kind::Tuple { len, marked: true }
            }
        })
    }

    fn start_list(&mut self, hint: Option<usize>) -> Result<Kind, SerializeError> {
        self.begin()?;
        self.depth += 1;
        self.em.op(op::EMPTY_LIST);
        Ok(Kind::List { hint })
    }

    fn start_dict(&mut self, hint: Option<usize>, what: &str) -> Result<Kind, SerializeError> {
        self.refuse_in_key(what)?;
        self.begin()?;
        self.depth += 1;
        self.em.op(op::EMPTY_DICT);
        Ok(Kind::Dict { hint })
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    List {
        hint: Option<usize>,
    },
    Dict {
        hint: Option<usize>,
    },
    /// `marked`: MARK written, ends with TUPLE; otherwise EMPTY_TUPLE written (len 0) or
    /// TUPLE1–3 at the end.
    Tuple {
        len: Option<usize>,
        marked: bool,
    },
}

/// The state of a list, dict or tuple being written.
pub struct Compound<'a, W> {
    ser: &'a mut Serializer<W>,
    kind: Kind,
    count: usize,
    /// Items since the open MARK.
    batch: usize,
    mark_open: bool,
    /// The first item was written without a MARK (length hint 1): it ends with APPEND/SETITEM.
    single: bool,
    /// Inside `{variant: ...}`: close with SETITEM.
    variant: bool,
}

impl<'a, W: io::Write> Compound<'a, W> {
    fn new(ser: &'a mut Serializer<W>, kind: Kind, variant: bool) -> Self {
        Compound {
            ser,
            kind,
            count: 0,
            batch: 0,
            mark_open: false,
            single: false,
            variant,
        }
    }

    fn ops(&self) -> (u8, u8) {
        match self.kind {
            Kind::Dict { .. } => (op::SETITEM, op::SETITEMS),
            _ => (op::APPEND, op::APPENDS),
        }
    }

    fn before_item(&mut self) -> Result<(), SerializeError> {
        match self.kind {
            Kind::Tuple { len, marked } => {
                if let (Some(len), false) = (len, marked) {
                    if self.count >= len {
                        return Err(SerializeError::msg(format!(
                            "a tuple of length {len} was given more items"
                        )));
                    }
                }
            }
            Kind::List { hint } | Kind::Dict { hint } => {
                let (single, _) = self.ops();
                if self.single {
                    // The length hint said 1 but more items came: finish the first one alone.
                    self.ser.em.op(single);
                    self.single = false;
                }
                if !self.mark_open {
                    if self.count == 0 && hint == Some(1) {
                        self.single = true;
                    } else {
                        self.ser.em.op(op::MARK);
                        self.mark_open = true;
                        self.batch = 0;
                    }
                }
            }
        }
        Ok(())
    }

    fn after_item(&mut self) {
        self.count += 1;
        if self.mark_open {
            self.batch += 1;
            if self.batch == BATCH_SIZE {
                let (_, multi) = self.ops();
                self.ser.em.op(multi);
                self.mark_open = false;
            }
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        self.before_item()?;
        value.serialize(&mut *self.ser)?;
        self.after_item();
        Ok(())
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerializeError> {
        self.before_item()?;
        let outer = std::mem::replace(&mut self.ser.key, true);
        let result = key.serialize(&mut *self.ser);
        self.ser.key = outer;
        result
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        value.serialize(&mut *self.ser)?;
        self.after_item();
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.before_item()?;
        self.ser.em.boundary();
        self.ser.em.str(name)?;
        self.value(value)
    }

    fn end(mut self) -> Result<(), SerializeError> {
        match self.kind {
            Kind::Tuple { len, marked } => {
                if marked {
                    self.ser.em.op(op::TUPLE);
                } else {
                    let len = len.unwrap_or(0);
                    if self.count != len {
                        return Err(SerializeError::msg(format!(
                            "a tuple of length {len} was given {} items",
                            self.count
                        )));
                    }
                    match len {
                        1 => self.ser.em.op(op::TUPLE1),
                        2 => self.ser.em.op(op::TUPLE2),
                        3 => self.ser.em.op(op::TUPLE3),
                        _ => {}
                    }
                }
            }
            Kind::List { .. } | Kind::Dict { .. } => {
                let (single, multi) = self.ops();
                if self.single {
                    self.ser.em.op(single);
                    self.single = false;
                }
                if self.mark_open {
                    self.ser.em.op(multi);
                    self.mark_open = false;
                } else if matches!(self.kind, Kind::Dict { .. })
                    && self.count > 1
                    && self.batch == BATCH_SIZE
                {
                    // CPython's exact-dict loop ends with an empty batch after a full one.
                    self.ser.em.op(op::MARK);
                    self.ser.em.op(multi);
                }
            }
        }
        self.ser.depth -= 1;
        if self.variant {
            self.ser.close_variant();
        }
        Ok(())
    }
}

impl<'a, W: io::Write> ser::Serializer for &'a mut Serializer<W> {
    type Ok = ();
    type Error = SerializeError;
    type SerializeSeq = Compound<'a, W>;
    type SerializeTuple = Compound<'a, W>;
    type SerializeTupleStruct = Compound<'a, W>;
    type SerializeTupleVariant = Compound<'a, W>;
    type SerializeMap = Compound<'a, W>;
    type SerializeStruct = Compound<'a, W>;
    type SerializeStructVariant = Compound<'a, W>;

    fn serialize_bool(self, v: bool) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.bool(v);
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), SerializeError> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<(), SerializeError> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<(), SerializeError> {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.int(v);
        Ok(())
    }

    fn serialize_i128(self, v: i128) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.int_i128(v);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), SerializeError> {
        self.serialize_i64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<(), SerializeError> {
        self.serialize_i64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<(), SerializeError> {
        self.serialize_i64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<(), SerializeError> {
        self.serialize_u128(v.into())
    }

    fn serialize_u128(self, v: u128) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.int_u128(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), SerializeError> {
        self.serialize_f64(v.into())
    }

    fn serialize_f64(self, v: f64) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.float(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), SerializeError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.str(v)?;
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.bytes(v)?;
        Ok(())
    }

    fn serialize_none(self) -> Result<(), SerializeError> {
        self.begin()?;
        self.em.none();
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), SerializeError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), SerializeError> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), SerializeError> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), SerializeError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.close_variant();
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a, W>, SerializeError> {
        let kind = if self.key {
            self.start_tuple(len)?
        } else {
            self.start_list(len)?
        };
        Ok(Compound::new(self, kind, false))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, W>, SerializeError> {
        let kind = self.start_tuple(Some(len))?;
        Ok(Compound::new(self, kind, false))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, W>, SerializeError> {
        self.serialize_tuple(len)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, W>, SerializeError> {
        self.open_variant(variant)?;
        let kind = self.start_tuple(Some(len))?;
        Ok(Compound::new(self, kind, true))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a, W>, SerializeError> {
        let kind = self.start_dict(len, "a map")?;
        Ok(Compound::new(self, kind, false))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Compound<'a, W>, SerializeError> {
        let kind = self.start_dict(Some(len), &format!("the struct {name}"))?;
        Ok(Compound::new(self, kind, false))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a, W>, SerializeError> {
        self.open_variant(variant)?;
        let kind = self.start_dict(Some(len), "a struct variant")?;
        Ok(Compound::new(self, kind, true))
    }
}

impl<W: io::Write> ser::SerializeSeq for Compound<'_, W> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.element(value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Compound::end(self)
    }
}

impl<W: io::Write> ser::SerializeTuple for Compound<'_, W> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_element<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.element(value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Compound::end(self)
    }
}

impl<W: io::Write> ser::SerializeTupleStruct for Compound<'_, W> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        self.element(value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Compound::end(self)
    }
}

impl<W: io::Write> ser::SerializeTupleVariant for Compound<'_, W> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        self.element(value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Compound::end(self)
    }
}

impl<W: io::Write> ser::SerializeMap for Compound<'_, W> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerializeError> {
        self.key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerializeError> {
        self.value(value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Compound::end(self)
    }
}

impl<W: io::Write> ser::SerializeStruct for Compound<'_, W> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Compound::end(self)
    }
}

impl<W: io::Write> ser::SerializeStructVariant for Compound<'_, W> {
    type Ok = ();
    type Error = SerializeError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerializeError> {
        self.field(key, value)
    }

    fn end(self) -> Result<(), SerializeError> {
        Compound::end(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn small_values_match_cpython_byte_for_byte() {
        // pickle.dumps(x, 4) with CPython 3.11 (no memo entries in these).
        assert_eq!(to_vec(&(), 4).unwrap(), b"\x80\x04N.");
        assert_eq!(to_vec(&true, 2).unwrap(), b"\x80\x02\x88.");
        assert_eq!(
            to_vec(&(1u8, 2u8, 3u8), 4).unwrap(),
            b"\x80\x04\x95\x08\x00\x00\x00\x00\x00\x00\x00K\x01K\x02K\x03\x87."
        );
        assert_eq!(
            to_vec(&u64::MAX, 3).unwrap(),
            b"\x80\x03\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x00."
        );
        assert_eq!(to_vec(&-1i64, 2).unwrap(), b"\x80\x02J\xff\xff\xff\xff.");
        assert_eq!(to_vec(&1000i32, 2).unwrap(), b"\x80\x02M\xe8\x03.");
    }

    #[test]
    fn single_item_containers_use_append_and_setitem() {
        let v = to_vec(&vec![1u8], 4).unwrap();
        assert_eq!(v, b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00]K\x01a.");
        let mut m = BTreeMap::new();
        m.insert(1u8, 2u8);
        let v = to_vec(&m, 4).unwrap();
        assert_eq!(
            v,
            b"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00}K\x01K\x02s."
        );
    }

    #[test]
    fn erased_serde_drives_the_serializer() {
        // How a `Format::encode(&dyn erased_serde::Serialize, &mut Vec<u8>)` uses it.
        let value: &dyn erased_serde::Serialize = &(1u8, "two");
        let mut out = b"head".to_vec();
        let mut ser = Serializer::new(&mut out, DEFAULT_PROTOCOL).unwrap();
        erased_serde::serialize(value, &mut ser).unwrap();
        ser.into_inner().unwrap();
        assert_eq!(&out[..4], b"head");
        assert_eq!(
            &out[4..],
            &to_vec(&(1u8, "two"), DEFAULT_PROTOCOL).unwrap()[..]
        );
    }

    #[test]
    fn streaming_writes_the_same_bytes_in_pieces() {
        struct Counting(Vec<u8>, usize);
        impl io::Write for Counting {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(b);
                self.1 += 1;
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let big: Vec<(u32, String)> = (0..60_000).map(|i| (i, format!("item {i}"))).collect();
        for proto in 2..=5 {
            let whole = to_vec(&big, proto).unwrap();
            let mut ser = Serializer::new(Counting(Vec::new(), 0), proto).unwrap();
            big.serialize(&mut ser).unwrap();
            let out = ser.into_inner().unwrap();
            assert_eq!(out.0, whole, "protocol {proto}");
            assert!(out.1 > 10, "protocol {proto}: {} writes", out.1);
        }
    }

    #[test]
    fn protocols_outside_2_to_5_are_refused() {
        for p in [0, 1, 6, 255] {
            let err = to_vec(&1u8, p).unwrap_err().to_string();
            assert!(
                err.contains(&format!("unsupported pickle protocol {p}")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_second_top_level_value_is_refused() {
        let mut ser = Serializer::new(Vec::new(), 4).unwrap();
        ser::Serializer::serialize_u8(&mut ser, 1).unwrap();
        let err = ser::Serializer::serialize_u8(&mut ser, 2).unwrap_err();
        assert!(err.to_string().contains("one value"), "{err}");
    }

    #[test]
    fn maps_as_keys_are_refused_and_sequences_become_tuples() {
        let mut m = BTreeMap::new();
        m.insert(vec![1u8, 2], 3u8);
        let v = to_vec(&m, 4).unwrap();
        // {(1, 2): 3}: no EMPTY_LIST, MARK ... TUPLE for the key (length unknown to the tuple).
        assert!(!v.contains(&op::EMPTY_LIST));
        let mut bad = BTreeMap::new();
        bad.insert(BTreeMap::from([(1u8, 2u8)]), 3u8);
        let err = to_vec(&bad, 4).unwrap_err().to_string();
        assert!(err.contains("cannot be a dict key"), "{err}");
    }
}
