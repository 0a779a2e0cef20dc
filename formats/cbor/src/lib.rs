//! CBOR (RFC 8949) for pypickle, through `cbor4ii`.
//!
//! Every payload starts with the self-describe tag 55799 (`d9 d9 f7`), so a bare CBOR file is
//! recognisable by its first bytes and still reads as plain CBOR in Python's `cbor2` and elsewhere.
//!
//! [`encode`] and [`decode`] are the typed entry points (the facade calls them directly: no
//! dynamic dispatch per value); the registered [`Cbor`] format runs the same code through
//! erased-serde for formats named at run time.

use cbor4ii::core::dec::Read as _;
use cbor4ii::core::utils::{BufWriter, SliceReader};
use pypickle_core::format::DecodeSink;
use pypickle_core::guard::{decode_guarded, DEFAULT_MAX_DEPTH};
use pypickle_core::tree::read_judged;
use pypickle_core::{Error, Format, Policy, Registration, Result};

/// The self-describe tag 55799, encoded.
pub const SELF_DESCRIBE: [u8; 3] = [0xd9, 0xd9, 0xf7];

mod value;

pub use value::write_value;

const NAME: &str = "cbor";

/// The CBOR format (registered as `cbor`).
pub struct Cbor;

inventory::submit! { Registration(&Cbor) }

/// Appends `value` as self-described CBOR to `out`.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let mut buf = std::mem::take(out);
    buf.extend_from_slice(&SELF_DESCRIBE);
    let mut serializer = cbor4ii::serde::Serializer::new(BufWriter::new(buf));
    value
        .serialize(&mut serializer)
        .map_err(|e| Error::encode(NAME, e))?;
    *out = serializer.into_inner().into_inner();
    Ok(())
}

/// Decodes one CBOR value (with or without the self-describe tag) filling all of `bytes`.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    with_deserializer(bytes, |de| T::deserialize(de).map_err(|e| e.to_string()))
}

/// Runs `run` over a deserializer of `bytes` and refuses bytes left after the value.
/// cbor4ii's slice reader bounds nesting (256 levels) and never reserves more than 16 KiB ahead
/// of the bytes it has actually read.
fn with_deserializer<R>(
    bytes: &[u8],
    run: impl FnOnce(
        &mut cbor4ii::serde::Deserializer<SliceReader<'_>>,
    ) -> std::result::Result<R, String>,
) -> Result<R> {
    let body = bytes.strip_prefix(&SELF_DESCRIBE[..]).unwrap_or(bytes);
    let mut deserializer = cbor4ii::serde::Deserializer::new(SliceReader::new(body));
    let value = run(&mut deserializer).map_err(|e| Error::decode(NAME, e))?;
    let mut rest = deserializer.into_inner();
    if matches!(rest.fill(1), Ok(r) if !r.as_ref().is_empty()) {
        return Err(Error::decode(NAME, "trailing bytes after the value"));
    }
    Ok(value)
}

impl Format for Cbor {
    fn name(&self) -> &'static str {
        NAME
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
        encode(value, out)
    }

    fn decode(&self, bytes: &[u8], _policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        // The guard keeps error messages linear through erased-serde's per-level conversions
        // (cbor4ii's Display escapes like Debug, which would double a message at every level).
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
