//! MessagePack for pypickle, through `rmp-serde`.
//!
//! Structs are written as maps with their field names (rmp-serde's `to_vec_named` layout), so
//! Python's `msgpack` reads them as dicts. MessagePack has no magic number: a bare file needs
//! an explicit format (`LoadOptions::format("msgpack")`) or our envelope.
//!
//! [`encode`] and [`decode`] are the typed entry points; the registered [`MessagePack`] format runs
//! the same code through erased-serde.

use std::io::Cursor;

use pypickle_core::format::DecodeSink;
use pypickle_core::guard::{decode_guarded, DEFAULT_MAX_DEPTH};
use pypickle_core::tree::read_judged;
use pypickle_core::{Error, Format, Policy, Registration, Result};

/// How deep values may nest before decoding refuses them.
pub const MAX_DEPTH: usize = 256;

mod value;

const NAME: &str = "msgpack";

/// The MessagePack format (registered as `msgpack`).
pub struct MessagePack;

inventory::submit! { Registration(&MessagePack) }

/// Appends `value` as MessagePack to `out`.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let mut serializer = rmp_serde::Serializer::new(out).with_struct_map();
    value
        .serialize(&mut serializer)
        .map_err(|e| Error::encode(NAME, e))
}

/// Decodes one MessagePack value filling all of `bytes`.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    with_deserializer(bytes, |de| T::deserialize(de).map_err(|e| e.to_string()))
}

type Deserializer<'b> = rmp_serde::Deserializer<rmp_serde::decode::ReadReader<Cursor<&'b [u8]>>>;

/// Runs `run` over a deserializer of `bytes` and refuses bytes left after the value. The cursor
/// lets us see where the value ended; its reader copies strings through a buffer that grows only
/// as bytes actually arrive, so length fields cannot over-allocate.
fn with_deserializer<R>(
    bytes: &[u8],
    run: impl FnOnce(&mut Deserializer<'_>) -> std::result::Result<R, String>,
) -> Result<R> {
    let mut deserializer = rmp_serde::Deserializer::new(Cursor::new(bytes));
    deserializer.set_max_depth(MAX_DEPTH);
    let value = run(&mut deserializer).map_err(|e| Error::decode(NAME, e))?;
    if deserializer.position() != bytes.len() as u64 {
        return Err(Error::decode(
            NAME,
            format!(
                "trailing bytes after the value ({} of {} bytes used)",
                deserializer.position(),
                bytes.len()
            ),
        ));
    }
    Ok(value)
}

impl Format for MessagePack {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["msgpack", "mpk"]
    }

    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()> {
        encode(value, out)
    }

    fn decode(&self, bytes: &[u8], _policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        with_deserializer(bytes, |de| decode_guarded(de, DEFAULT_MAX_DEPTH, sink))
    }

    /// Python values in the conventions of docs/conversion.md, judged with `policy`.
    fn decode_value(&self, bytes: &[u8], policy: &Policy) -> Result<pypickle_core::Value> {
        self.decode_value_passing(bytes, policy, &|_| {})
    }

    fn decode_value_passing(
        &self,
        bytes: &[u8],
        policy: &Policy,
        passed: &dyn Fn(usize),
    ) -> Result<pypickle_core::Value> {
        read_judged(bytes, policy, passed, value::decode_value_passing)
    }

    fn encode_value(&self, value: &pypickle_core::Value, out: &mut Vec<u8>) -> Result<()> {
        value::encode_value(value, out)
    }
}
