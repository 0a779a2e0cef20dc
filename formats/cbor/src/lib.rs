//! CBOR (RFC 8949) for pypickle, through `cbor4ii`.
//!
//! Every payload starts with the self-describe tag 55799 (`d9 d9 f7`), so a bare CBOR file is
//! recognisable by its first bytes and still reads as plain CBOR in Python's `cbor2` and elsewhere.

use cbor4ii::core::dec::Read as _;
use cbor4ii::core::utils::{BufWriter, SliceReader};
use pypickle_core::format::DecodeSink;
use pypickle_core::{Error, Format, Policy, Registration, Result};

/// The self-describe tag 55799, encoded.
pub const SELF_DESCRIBE: [u8; 3] = [0xd9, 0xd9, 0xf7];

/// The CBOR format (registered as `cbor`).
pub struct Cbor;

inventory::submit! { Registration(&Cbor) }

impl Format for Cbor {
    fn name(&self) -> &'static str {
        "cbor"
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["cbor"]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(&SELF_DESCRIBE)
    }

    fn magic(&self) -> Option<&'static str> {
        Some("self-describe tag d9 d9 f7")
    }

    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()> {
        let mut buf = std::mem::take(out);
        buf.extend_from_slice(&SELF_DESCRIBE);
        let mut serializer = cbor4ii::serde::Serializer::new(BufWriter::new(buf));
        erased_serde::serialize(value, &mut serializer).map_err(|e| Error::encode("cbor", e))?;
        *out = serializer.into_inner().into_inner();
        Ok(())
    }

    fn decode(&self, bytes: &[u8], _policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        let body = bytes.strip_prefix(&SELF_DESCRIBE[..]).unwrap_or(bytes);
        // cbor4ii's slice reader bounds nesting (256 levels) and never reserves more than
        // 16 KiB ahead of the bytes it has actually read.
        let mut deserializer = cbor4ii::serde::Deserializer::new(SliceReader::new(body));
        let mut erased = <dyn erased_serde::Deserializer>::erase(&mut deserializer);
        sink(&mut erased).map_err(|e| Error::decode("cbor", e))?;
        let mut rest = deserializer.into_inner();
        let trailing = match rest.fill(1) {
            Ok(reference) => !reference.as_ref().is_empty(),
            Err(_) => false,
        };
        if trailing {
            return Err(Error::decode("cbor", "trailing bytes after the value"));
        }
        Ok(())
    }
}
