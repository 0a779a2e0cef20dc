//! The `pickle` format as the registry sees it: plain serde data written as pickles CPython
//! loads, and pickles read without running them, judged by the risk policy before anything is
//! handed on.

use pypickle_core::format::DecodeSink;
use pypickle_core::guard::decode_guarded;
use pypickle_core::{Error, Format, Policy, Registration, Result, Value};

use crate::analysis::{load, load_passing, Loaded};
use crate::machine::{Limits, Options};

const NAME: &str = "pickle";

/// The pickle format (registered as `pickle`).
pub struct Pickle;

inventory::submit! { Registration(&Pickle) }

/// Reads `bytes` as pickles, judges every global they reference with `policy`, and returns the
/// first pickle's object graph. A stream that breaks is refused (with what was seen before the
/// break judged first, so a dangerous call before the break is reported as unsafe).
pub fn load_value(bytes: &[u8], policy: &Policy) -> Result<Value> {
    judged(load(bytes, &Limits::default()), policy)
}

/// [`load_value`], telling `passed` how far the machine has read (see [`load_passing`]).
pub fn load_value_passing(bytes: &[u8], policy: &Policy, passed: &dyn Fn(usize)) -> Result<Value> {
    judged(load_passing(bytes, &Options::default(), passed), policy)
}

fn judged(loaded: Loaded, policy: &Policy) -> Result<Value> {
    let verdict = policy.judge(&loaded.globals);
    if !verdict.accepted() {
        return Err(Error::unsafe_content(verdict));
    }
    first_root(loaded)
}

fn first_root(loaded: Loaded) -> Result<Value> {
    if let Some(error) = loaded.error {
        let what = if error.offset == 0 {
            "not a pickle: "
        } else {
            ""
        };
        return Err(Error::decode(
            NAME,
            format!("{what}at offset {}: {}", error.offset, error.message),
        ));
    }
    let Some(&root) = loaded.roots.first() else {
        return Err(Error::decode(NAME, "no pickle in the input"));
    };
    let mut value = loaded.value;
    value.set_root(root);
    Ok(value)
}

impl Format for Pickle {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["pkl", "pickle", "pck", "p"]
    }

    /// Protocols 2 to 5 start with PROTO. Protocol 0 and 1 pickles have no magic number: they are
    /// recognised by a first byte that is a protocol 0/1 opcode able to start a pickle, one that
    /// takes nothing from the (empty) stack, per the opcode table. All of those are ASCII, so
    /// never CBOR's `d9 d9 f7` or the envelope's `b5`. That is weak evidence, but what follows
    /// is read with every check the reader has.
    fn sniff(&self, bytes: &[u8]) -> bool {
        match bytes {
            [0x80, 2..=5, ..] => true,
            [first, ..] => crate::opcodes::BY_BYTE[*first as usize]
                .is_some_and(|op| op.proto <= 1 && !op.stack.mark && op.stack.pops == 0),
            [] => false,
        }
    }

    /// Written bare, so `pickle.load` opens what `save` writes.
    fn enveloped_by_default(&self) -> bool {
        false
    }

    fn magic(&self) -> Option<&'static str> {
        Some("PROTO opcode 80 02..05, or a protocol 0/1 opcode first")
    }

    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()> {
        crate::ser::to_writer(out, value, crate::ser::DEFAULT_PROTOCOL)
    }

    fn decode(&self, bytes: &[u8], policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        let value = load_value(bytes, policy)?;
        decode_guarded(
            pypickle_core::de::Deserializer::new(&value),
            pypickle_core::guard::DEFAULT_MAX_DEPTH,
            sink,
        )
        .map_err(|e| Error::decode(NAME, e))
    }

    fn decode_value(&self, bytes: &[u8], policy: &Policy) -> Result<Value> {
        load_value(bytes, policy)
    }

    fn decode_value_passing(
        &self,
        bytes: &[u8],
        policy: &Policy,
        passed: &dyn Fn(usize),
    ) -> Result<Value> {
        load_value_passing(bytes, policy, passed)
    }

    fn encode_value(&self, value: &Value, out: &mut Vec<u8>) -> Result<()> {
        crate::write::write_value_into(value, crate::ser::DEFAULT_PROTOCOL, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_knows_pickles_and_not_text() {
        for pickle in [
            &b"\x80\x04\x95"[..],
            b"(lp0\n",
            b"I1\n.",
            b"]q\x00.",
            b"cos\nsystem\n",
        ] {
            assert!(Pickle.sniff(pickle), "{pickle:?}");
        }
        // Text whose first letter is an opcode that needs a stack (TUPLE, APPEND, STOP, ...).
        for text in [
            &b"this is text"[..],
            b"abc",
            b".",
            b"",
            b"\xd9\xd9\xf7",
            b"{\"json\": 1}",
        ] {
            assert!(!Pickle.sniff(text), "{text:?}");
        }
    }

    #[test]
    fn a_stream_failing_at_its_first_opcode_is_not_a_pickle() {
        let err = load_value(b"I not a number\n.", &Policy::default()).unwrap_err();
        assert!(
            err.to_string().contains("not a pickle: at offset 0"),
            "{err}"
        );
    }
}
