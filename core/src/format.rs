//! The `Format` trait and the registry that format crates add themselves to.
//!
//! A format crate implements [`Format`] for a unit struct and registers it:
//! `inventory::submit! { pypickle_core::Registration(&MyFormat) }`. Nothing else in
//! the workspace names formats in a `match`: save, load and the command line look
//! them up here.

use crate::error::{Error, ErrorKind, Result};
use crate::policy::Policy;
use crate::value::Value;

/// The deserializer a format hands to [`Format::decode`]'s caller.
pub type ErasedDeserializer<'a, 'de> = &'a mut dyn erased_serde::Deserializer<'de>;

/// Receives the format's deserializer and drives it (typically with `erased_serde::deserialize`).
pub type DecodeSink<'s> =
    dyn for<'a, 'de> FnMut(ErasedDeserializer<'a, 'de>) -> Result<(), erased_serde::Error> + 's;

/// One serialization format. Object-safe: the registry holds `&'static dyn Format`.
pub trait Format: Send + Sync {
    /// Stable short name, ASCII, at most 16 bytes: written into envelopes and used on the command line.
    fn name(&self) -> &'static str;

    /// File extensions (without the dot, lower case) this format is usually saved under;
    /// the first is the preferred one.
    fn extensions(&self) -> &'static [&'static str];

    /// Whether a bare file (no envelope) starts the way only this format starts.
    /// Formats without a magic number say no; such files need an explicit format.
    fn sniff(&self, _bytes: &[u8]) -> bool {
        false
    }

    /// Whether `save` wraps this format in pypickle's envelope unless told otherwise. Formats
    /// that other programs must open as they are (pickle) say no.
    fn enveloped_by_default(&self) -> bool {
        true
    }

    /// What [`Format::sniff`] looks for, for messages (`None`: the format has no magic number).
    fn magic(&self) -> Option<&'static str> {
        None
    }

    /// Serializes `value`, appending to `out`.
    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()>;

    /// Decodes the whole of `bytes` through `sink`; trailing bytes are an error.
    /// Formats that can reference code (pickle) judge those references with `policy` first
    /// and refuse with [`Error::is_unsafe`]; data-only formats ignore it.
    fn decode(&self, bytes: &[u8], policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()>;

    /// Decodes the whole of `bytes` into a Python object graph, judging it with `policy`.
    fn decode_value(&self, _bytes: &[u8], _policy: &Policy) -> Result<Value> {
        Err(Error::invalid(format!(
            "the {} format cannot be loaded as a Python value yet",
            self.name()
        )))
    }

    /// [`Format::decode_value`] for a caller that can let go of the input behind the decoder
    /// (the facade, over a mapped file): `passed(n)` says, from time to time, that the decoder
    /// has read the first `n` bytes and that nothing it keeps borrows them. Formats that do not
    /// say so decode as `decode_value` does.
    fn decode_value_passing(
        &self,
        bytes: &[u8],
        policy: &Policy,
        _passed: &dyn Fn(usize),
    ) -> Result<Value> {
        self.decode_value(bytes, policy)
    }

    /// Encodes a Python object graph.
    fn encode_value(&self, _value: &Value, _out: &mut Vec<u8>) -> Result<()> {
        Err(Error::invalid(format!(
            "the {} format cannot store a Python value yet",
            self.name()
        )))
    }
}

impl dyn Format {
    /// Serializes a typed value.
    pub fn to_vec<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode(&value as &dyn erased_serde::Serialize, &mut out)?;
        Ok(out)
    }

    /// Deserializes a typed value from the whole of `bytes`.
    pub fn from_slice<T: serde::de::DeserializeOwned>(
        &self,
        bytes: &[u8],
        policy: &Policy,
    ) -> Result<T> {
        let mut slot = None;
        self.decode(bytes, policy, &mut |de| {
            slot = Some(erased_serde::deserialize::<T>(de)?);
            Ok(())
        })?;
        slot.ok_or_else(|| Error::decode(self.name(), "the decoder produced no value"))
    }
}

/// A format's entry in the registry.
pub struct Registration(pub &'static dyn Format);

inventory::collect!(Registration);

/// Every registered format, sorted by name.
pub fn registered() -> Vec<&'static dyn Format> {
    let mut all: Vec<&'static dyn Format> = inventory::iter::<Registration>
        .into_iter()
        .map(|r| r.0)
        .collect();
    all.sort_by_key(|f| f.name());
    all.dedup_by_key(|f| f.name());
    all
}

/// The names of every registered format, sorted.
pub fn names() -> Vec<&'static str> {
    registered().into_iter().map(|f| f.name()).collect()
}

/// The format called `name`, or an error listing the known ones.
pub fn by_name(name: &str) -> Result<&'static dyn Format> {
    registered()
        .into_iter()
        .find(|f| f.name() == name)
        .ok_or_else(|| {
            Error::new(ErrorKind::UnknownFormat {
                name: name.to_string(),
                known: names().join(", "),
            })
        })
}

/// The format usually saved under extension `ext` (compared without case), if any.
pub fn by_extension(ext: &str) -> Option<&'static dyn Format> {
    let ext = ext.to_ascii_lowercase();
    registered()
        .into_iter()
        .find(|f| f.extensions().contains(&ext.as_str()))
}

/// The format whose magic number starts `bytes`, if any.
pub fn sniff(bytes: &[u8]) -> Option<&'static dyn Format> {
    registered().into_iter().find(|f| f.sniff(bytes))
}

/// What [`sniff`] tries, for messages: `cbor (self-describe tag d9 d9 f7), …`.
pub fn sniffed_description() -> String {
    let tried: Vec<String> = registered()
        .into_iter()
        .filter_map(|f| f.magic().map(|m| format!("{} ({m})", f.name())))
        .collect();
    tried.join(", ")
}
