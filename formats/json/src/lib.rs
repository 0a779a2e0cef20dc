//! JSON for pypickle: a readable export of Python values, and the conventions the CBOR and
//! MessagePack codecs of Python values share ([`tree`], [`numpy`]).
//!
//! JSON has no tuples, sets, bytes, non-string keys, big numbers beyond what readers accept,
//! NaN/infinities, shared references or objects. Plain data (None, bools, ints, finite floats,
//! strings, lists, dicts with string keys) maps naturally and exactly; everything else is written
//! in a readable but lossy form only when asked ([`export`] with `lossy`), and refused otherwise
//! with the list of what would be lost. docs/conversion.md lists every rule.

use std::fmt::Write as _;

use pypickle_core::format::DecodeSink;
use pypickle_core::guard::{decode_guarded, DEFAULT_MAX_DEPTH};
use pypickle_core::{numpy, tree};
use pypickle_core::{Error, Format, Item, Object, ObjectId, Policy, Registration, Result, Value};

mod read;

const NAME: &str = "json";

/// The JSON format (registered as `json`).
pub struct Json;

inventory::submit! { Registration(&Json) }

impl Format for Json {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["json"]
    }

    fn encode(&self, value: &dyn erased_serde::Serialize, out: &mut Vec<u8>) -> Result<()> {
        serde_json::to_writer(out, value).map_err(|e| Error::encode(NAME, e))
    }

    fn decode(&self, bytes: &[u8], _policy: &Policy, sink: &mut DecodeSink<'_>) -> Result<()> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        decode_guarded(&mut de, DEFAULT_MAX_DEPTH, sink).map_err(|e| Error::decode(NAME, e))?;
        de.end().map_err(|e| Error::decode(NAME, e))
    }

    /// JSON objects become dicts (order kept), arrays lists, numbers ints or floats.
    fn decode_value(&self, bytes: &[u8], _policy: &Policy) -> Result<Value> {
        read::value(bytes).map_err(|e| Error::decode(NAME, e))
    }

    /// Plain data only: anything JSON cannot hold exactly is refused (see [`export`]).
    fn encode_value(&self, value: &Value, out: &mut Vec<u8>) -> Result<()> {
        export(value, false, out).map(|_| ())
    }
}

/// Writes `value` as JSON. Without `lossy`, a value JSON cannot hold exactly is refused with an
/// error naming what would be lost; with it, the value is written in the readable forms of
/// docs/conversion.md and the losses are returned (sorted, each named once).
pub fn export(value: &Value, lossy: bool, out: &mut Vec<u8>) -> Result<Vec<&'static str>> {
    let mut exporter = Exporter {
        value,
        text: String::new(),
        losses: Vec::new(),
        counts: tree::reference_counts(value),
        open: vec![false; value.len()],
        depth: 0,
    };
    exporter.item(value.root())?;
    exporter.losses.sort_unstable();
    exporter.losses.dedup();
    if !lossy && !exporter.losses.is_empty() {
        return Err(Error::invalid(format!(
            "JSON cannot hold this value exactly ({}); convert with lossy (--lossy) to export it anyway",
            exporter.losses.join("; ")
        )));
    }
    out.extend_from_slice(exporter.text.as_bytes());
    out.push(b'\n');
    Ok(exporter.losses)
}

struct Exporter<'v> {
    value: &'v Value,
    text: String,
    losses: Vec<&'static str>,
    counts: Vec<u8>,
    open: Vec<bool>,
    depth: usize,
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8], out: &mut String) {
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
}

impl Exporter<'_> {
    fn lose(&mut self, what: &'static str) {
        self.losses.push(what);
    }

    fn string(&mut self, s: &str) {
        self.text.push('"');
        for c in s.chars() {
            match c {
                '"' => self.text.push_str("\\\""),
                '\\' => self.text.push_str("\\\\"),
                '\n' => self.text.push_str("\\n"),
                '\r' => self.text.push_str("\\r"),
                '\t' => self.text.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.text, "\\u{:04x}", c as u32);
                }
                c => self.text.push(c),
            }
        }
        self.text.push('"');
    }

    fn float(&mut self, f: f64) {
        if f.is_finite() {
            let _ = write!(self.text, "{f:?}");
        } else {
            self.lose("NaN and infinities become null");
            self.text.push_str("null");
        }
    }

    fn item(&mut self, item: Item) -> Result<()> {
        match item {
            Item::None => self.text.push_str("null"),
            Item::Bool(b) => self.text.push_str(if b { "true" } else { "false" }),
            Item::Int(i) => {
                let _ = write!(self.text, "{i}");
            }
            Item::Float(f) => self.float(f),
            Item::Ref(id) => {
                if self.open[id.index()] {
                    return Err(Error::invalid(
                        "JSON cannot hold a value that contains itself (a cycle)",
                    ));
                }
                self.depth += 1;
                if self.depth > tree::MAX_DEPTH {
                    return Err(Error::invalid(format!(
                        "the value nests deeper than {} levels",
                        tree::MAX_DEPTH
                    )));
                }
                self.open[id.index()] = true;
                self.object(id)?;
                self.open[id.index()] = false;
                self.depth -= 1;
            }
        }
        Ok(())
    }

    fn list(&mut self, items: &[Item]) -> Result<()> {
        self.text.push('[');
        for (i, &item) in items.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            self.item(item)?;
        }
        self.text.push(']');
        Ok(())
    }

    fn key(&mut self, key: &str) {
        self.string(key);
        self.text.push(':');
    }

    fn object(&mut self, id: ObjectId) -> Result<()> {
        let object = self.value.get(id);
        if self.counts[id.index()] > 1
            && matches!(
                object,
                Object::List(_) | Object::Dict(_) | Object::Set(_) | Object::Instance(_)
            )
        {
            self.lose("shared references are written once per use (identity lost)");
        }
        match object {
            Object::BigInt(b) => {
                let _ = write!(self.text, "{b}");
            }
            Object::Complex { re, im } => {
                self.lose("complex numbers become {\"$complex\": [re, im]}");
                self.text.push_str("{\"$complex\":[");
                self.float(*re);
                self.text.push(',');
                self.float(*im);
                self.text.push_str("]}");
            }
            Object::Str(s) => self.string(s),
            Object::Bytes(b) | Object::ByteArray(b) => {
                self.lose("bytes and bytearrays become {\"$bytes\": base64}");
                self.text.push_str("{\"$bytes\":\"");
                base64(b, &mut self.text);
                self.text.push_str("\"}");
            }
            Object::List(items) => self.list(items)?,
            Object::Tuple(items) => {
                self.lose("tuples become arrays");
                self.list(items)?;
            }
            Object::Set(items) | Object::FrozenSet(items) => {
                self.lose("sets and frozensets become arrays");
                self.list(items)?;
            }
            Object::Dict(pairs) => {
                self.text.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    match self.value.as_str(k) {
                        Some(s) => self.string(s),
                        None => {
                            self.lose("non-string dict keys become their JSON text");
                            let start = self.text.len();
                            self.item(k)?;
                            let rendered = self.text.split_off(start);
                            self.string(&rendered);
                        }
                    }
                    self.text.push(':');
                    self.item(v)?;
                }
                self.text.push('}');
            }
            Object::Global(g) => {
                self.lose("globals become {\"$global\": \"module:qualname\"}");
                self.text.push_str("{\"$global\":");
                self.string(&format!("{}:{}", g.module, g.name));
                self.text.push('}');
            }
            Object::Extension(code) => {
                self.lose("extension codes become {\"$extension\": code}");
                let _ = write!(self.text, "{{\"$extension\":{code}}}");
            }
            Object::PersistentId(pid) => {
                self.lose("persistent ids become {\"$persistent_id\": id}");
                self.text.push_str("{\"$persistent_id\":");
                self.item(*pid)?;
                self.text.push('}');
            }
            Object::Buffer { index, readonly } => {
                self.lose("out-of-band buffers become {\"$buffer\": index}");
                let _ = write!(self.text, "{{\"$buffer\":{index},\"readonly\":{readonly}}}");
            }
            Object::Instance(inst) => {
                if let Some(numpy::Recognized::Array(a) | numpy::Recognized::Scalar(a)) =
                    numpy::recognize(self.value, inst)
                {
                    self.lose(
                        "numpy arrays become {\"$ndarray\": dtype, shape, order, base64 data}",
                    );
                    self.text.push_str("{\"$ndarray\":");
                    self.string(&a.dtype.descr());
                    self.text.push_str(",\"shape\":[");
                    for (i, d) in a.shape.iter().enumerate() {
                        if i > 0 {
                            self.text.push(',');
                        }
                        let _ = write!(self.text, "{d}");
                    }
                    self.text.push_str("],\"order\":");
                    self.string(if a.fortran { "F" } else { "C" });
                    self.text.push_str(",\"data\":\"");
                    base64(&a.data, &mut self.text);
                    self.text.push_str("\"}");
                    return Ok(());
                }
                self.lose("objects become {\"$call\": callable, \"args\": [...], ...}");
                self.text.push_str("{\"$call\":");
                match self.value.object(inst.callable) {
                    Some(Object::Global(g)) => self.string(&format!("{}:{}", g.module, g.name)),
                    _ => self.item(inst.callable)?,
                }
                self.text.push(',');
                self.key("args");
                self.item(inst.args)?;
                if let Some(kwargs) = inst.kwargs {
                    self.text.push(',');
                    self.key("kwargs");
                    self.item(kwargs)?;
                }
                if !inst.state.is_empty() {
                    self.text.push(',');
                    self.key("state");
                    self.list(&inst.state)?;
                }
                if !inst.list_items.is_empty() {
                    self.text.push(',');
                    self.key("listitems");
                    self.list(&inst.list_items)?;
                }
                if !inst.dict_items.is_empty() {
                    self.text.push(',');
                    self.key("dictitems");
                    self.text.push('[');
                    for (i, &(k, v)) in inst.dict_items.iter().enumerate() {
                        if i > 0 {
                            self.text.push(',');
                        }
                        self.text.push('[');
                        self.item(k)?;
                        self.text.push(',');
                        self.item(v)?;
                        self.text.push(']');
                    }
                    self.text.push(']');
                }
                if !inst.set_items.is_empty() {
                    self.text.push(',');
                    self.key("setitems");
                    self.list(&inst.set_items)?;
                }
                self.text.push('}');
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads() {
        let mut s = String::new();
        base64(b"any carnal pleas", &mut s);
        assert_eq!(s, "YW55IGNhcm5hbCBwbGVhcw==");
        s.clear();
        base64(b"abc", &mut s);
        assert_eq!(s, "YWJj");
    }

    #[test]
    fn plain_data_is_exact_and_the_rest_refused_unless_lossy() {
        let mut value = Value::new();
        let k = value.push(Object::Str("a\"b".into()));
        let t = value.push(Object::Tuple(vec![Item::Int(1), Item::Float(0.5)]));
        let d = value.push(Object::Dict(vec![(k, Item::None)].into()));
        let root = value.push(Object::List(vec![d, Item::Bool(true)]));
        value.set_root(root);
        let mut out = Vec::new();
        assert!(export(&value, false, &mut out).unwrap().is_empty());
        assert_eq!(out, b"[{\"a\\\"b\":null},true]\n");
        value.set_root(t);
        assert!(export(&value, false, &mut Vec::new()).is_err());
        let mut out = Vec::new();
        assert_eq!(
            export(&value, true, &mut out).unwrap(),
            vec!["tuples become arrays"]
        );
        assert_eq!(out, b"[1,0.5]\n");
    }
}
