//! MessagePack for pypickle, through `rmp-serde`.
//!
//! Structs are written as maps with their field names (rmp-serde's `to_vec_named` layout), so
//! Python's `msgpack` reads them as dicts. MessagePack has no magic number: a bare file needs
//! an explicit format (`LoadOptions::format("msgpack")`) or our envelope.

use std::io::Cursor;

use pypickle_core::format::DecodeSink;
use pypickle_core::{Error, Format, Policy, Registration, Result};

/// How deep values may nest before decoding refuses them.
pub const MAX_DEPTH: usize = 256;

/// The MessagePack format (registered as `msgpack`).
pub struct MessagePack;

inventory::submit! { Registration(&MessagePack) }

impl Format for MessagePack {
    fn name(&self) -> &'static str {
        "msgpack"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["msgpack", "mpk"]
    }

    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()> {
        let mut serializer = rmp_serde::Serializer::new(out).with_struct_map();
        erased_serde::serialize(value, &mut serializer).map_err(|e| Error::encode("msgpack", e))
    }

    fn decode(&self, bytes: &[u8], _policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        // A cursor lets us see where the value ended; its reader copies strings through a
        // buffer that grows only as bytes actually arrive, so length fields cannot over-allocate.
        let mut deserializer = rmp_serde::Deserializer::new(Cursor::new(bytes));
        deserializer.set_max_depth(MAX_DEPTH);
        let mut erased = <dyn erased_serde::Deserializer>::erase(&mut deserializer);
        sink(&mut erased).map_err(|e| Error::decode("msgpack", e))?;
        if deserializer.position() != bytes.len() as u64 {
            return Err(Error::decode(
                "msgpack",
                format!(
                    "trailing bytes after the value ({} of {} bytes used)",
                    deserializer.position(),
                    bytes.len()
                ),
            ));
        }
        Ok(())
    }
}
