//! Lossless conversion between pickle and the safe formats (docs/conversion.md).
//!
//! ```no_run
//! use pypickle::{convert, ConvertOptions};
//!
//! # fn main() -> Result<(), pypickle::Error> {
//! // model.pkl is validated with the default policy first; an unsafe file leaves no output.
//! let report = convert("model.pkl", "model.cbor", &ConvertOptions::new())?;
//! println!("{} -> {}: {} bytes", report.from, report.to, report.output_bytes);
//! // And back, for the code that still needs a pickle: the globals are judged again.
//! convert("model.cbor", "model.pkl", &ConvertOptions::new().overwrite(true))?;
//! # Ok(()) }
//! ```

use std::io::{Seek, Write};
use std::path::Path;

use crate::{check_destination, write_atomically, write_atomically_with, Input};
use pypickle_core::{envelope, format, Error, ErrorKind, Format, Mode, Policy, Value};

/// How [`convert`] reads and writes. Defaults: formats from the files, the default policy,
/// existing output refused, lossy JSON refused, bare payloads (no envelope).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    from: Option<String>,
    to: Option<String>,
    policy: Policy,
    overwrite: bool,
    lossy: bool,
    envelope: bool,
}

impl ConvertOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the input as this format (needed for bare MessagePack not named `.msgpack`/`.mpk`).
    pub fn from(mut self, name: &str) -> Self {
        self.from = Some(name.to_string());
        self
    }

    /// Writes this format whatever the output is called.
    pub fn to(mut self, name: &str) -> Self {
        self.to = Some(name.to_string());
        self
    }

    /// Accepts these globals (as [`crate::LoadOptions::allow`]).
    pub fn allow<I, S>(mut self, entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy = std::mem::take(&mut self.policy).with_allow(entries);
        self
    }

    /// Accepts only globals known to be safe, and those allowed explicitly.
    pub fn strict(mut self) -> Self {
        self.policy = std::mem::take(&mut self.policy).with_mode(Mode::Strict);
        self
    }

    /// Accepts every global: only for files you trust as much as your own code.
    pub fn no_validation(mut self) -> Self {
        self.policy = std::mem::take(&mut self.policy).with_mode(Mode::NoValidation);
        self
    }

    /// Judges globals with this policy (replacing `allow`, `strict` and `no_validation` so far).
    pub fn policy_from(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Replaces an existing output (default: refuse and leave it untouched).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Allows a JSON export that loses information (tuples become arrays, ...).
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Wraps the output in pypickle's envelope (default: the bare payload other programs open).
    pub fn envelope(mut self, envelope: bool) -> Self {
        self.envelope = envelope;
        self
    }

    pub fn from_name(&self) -> Option<&str> {
        self.from.as_deref()
    }

    pub fn to_name(&self) -> Option<&str> {
        self.to.as_deref()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn overwrite_enabled(&self) -> bool {
        self.overwrite
    }

    pub fn lossy_enabled(&self) -> bool {
        self.lossy
    }

    pub fn envelope_enabled(&self) -> bool {
        self.envelope
    }
}

/// What [`convert`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The input's format.
    pub from: &'static str,
    /// The output's format.
    pub to: &'static str,
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// Objects in the value graph (all pickles of a stacked input).
    pub objects: usize,
    /// Values converted: the pickles of a stacked pickle file, else 1.
    pub values: usize,
    /// The sorted, distinct `module.qualname` of the globals the value references.
    pub globals: Vec<String>,
    /// What a lossy JSON export lost (empty otherwise).
    pub losses: Vec<&'static str>,
    /// Whether the output is wrapped in pypickle's envelope.
    pub envelope: bool,
}

impl std::fmt::Display for Report {
    /// One line: `pickle -> cbor: 13094232 -> 16388917 bytes, 600006 objects, 0 globals`, with
    /// what a lossy export lost.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {}{}: {} -> {} bytes, {} objects, {} globals",
            self.from,
            self.to,
            if self.envelope { " (envelope)" } else { "" },
            self.input_bytes,
            self.output_bytes,
            self.objects,
            self.globals.len()
        )?;
        if self.values > 1 {
            write!(f, ", {} stacked pickles", self.values)?;
        }
        if !self.losses.is_empty() {
            write!(f, "; lost: {}", self.losses.join("; "))?;
        }
        Ok(())
    }
}

/// Converts `input` to `output` (see the module documentation and docs/conversion.md).
///
/// The input format comes from its envelope, else `options.from(..)`, else CBOR's self-describe
/// tag, else its extension (`.cbor`, `.msgpack`/`.mpk`, `.json`), else pickle's header; the output
/// format from
/// `options.to(..)`, else the output's extension (`.pkl`/`.pickle`, `.cbor`, `.msgpack`, `.json`).
/// Every global the value references is judged with the options' policy before anything is
/// written, whatever the input format: an unsafe input is refused with the verdict
/// ([`Error::is_unsafe`]) and no output file. The output is written to a temporary file beside
/// it and renamed into place; an existing output is refused unless `overwrite`.
///
/// A stacked pickle file (several pickles one after the other) becomes a CBOR sequence (RFC 8742)
/// or a stream of MessagePack values, one per pickle, and converts back to the same stacked
/// pickles; JSON holds one value and refuses it.
pub fn convert(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    options: &ConvertOptions,
) -> Result<Report, Error> {
    let (input, output) = (input.as_ref(), output.as_ref());
    // A large input is mapped, and a pickle's pages are let go as the machine passes them.
    let file = Input::open(input)?;
    let bytes = file.bytes();
    let (from, payload) = identify_input(input, bytes, options).map_err(|e| e.at(input))?;
    let to = output_format(output, options).map_err(|e| e.at(output))?;
    let folder = check_destination(output, options.overwrite).map_err(|e| e.at(output))?;
    let start = payload.as_ptr() as usize - bytes.as_ptr() as usize;
    let passed = |n: usize| file.release_before(start + n);
    let input_bytes = bytes.len() as u64;
    let (mut value, roots) =
        decode(from, payload, &options.policy, &passed).map_err(|e| e.at(input))?;
    drop(file);
    let mut report = Report {
        from: from.name(),
        to: to.name(),
        input_bytes,
        output_bytes: 0,
        objects: value.len(),
        values: roots.len(),
        globals: global_names(&value),
        losses: Vec::new(),
        envelope: options.envelope,
    };
    if matches!(to.name(), "cbor" | "pickle") {
        // Streamed into the temporary file as it is encoded: the output never sits whole in
        // memory beside the value.
        write_atomically_with(output, &folder, options.overwrite, |out| {
            report.output_bytes = stream(to.name(), &mut value, &roots, options, out)?;
            Ok(())
        })
        .map_err(|e| e.at(output))?;
        return Ok(report);
    }
    // Room for an output half as large again as the input, reserved (not touched) so that it
    // is not copied as it grows; a reservation refused only means it grows.
    let mut out = Vec::new();
    let _ = usize::try_from(input_bytes + input_bytes / 2).map(|n| out.try_reserve(n));
    let start = options.envelope.then(|| envelope::begin(&mut out));
    encode(to, value, &roots, options, &mut out, &mut report.losses).map_err(|e| e.at(output))?;
    if let Some(start) = start {
        envelope::seal(&mut out, start, to.name()).map_err(|e| e.at(output))?;
    }
    report.output_bytes = out.len() as u64;
    write_atomically(output, &folder, &out, options.overwrite).map_err(|e| e.at(output))?;
    Ok(report)
}

/// Writes each root of `value` as CBOR or as a pickle (`format`) to `out`, one after the
/// other (a CBOR sequence, or stacked pickles, when there are several), in the envelope if the
/// options say so (its header written last, over the room left for it), and returns the bytes
/// written. Bare CBOR goes without the self-describe tag: cbor2 6 decodes whatever a tag wraps
/// as immutable (frozendict, tuple), so plain data would not read back as dicts and lists.
fn stream(
    format: &'static str,
    value: &mut Value,
    roots: &[pypickle_core::Item],
    options: &ConvertOptions,
    out: &mut std::fs::File,
) -> Result<u64, Error> {
    let write = |value: &Value, to: &mut dyn Write| match format {
        "cbor" => pypickle_cbor::write_value(value, options.envelope, to),
        _ => pypickle_pickle::write::write_value_to(
            value,
            pypickle_pickle::ser::DEFAULT_PROTOCOL,
            to,
        ),
    };
    let io = |e| Error::io("write the temporary file", e);
    if !options.envelope {
        let mut written = 0;
        for &root in roots {
            value.set_root(root);
            written += write(value, out)?;
        }
        return Ok(written);
    }
    out.write_all(&[0; envelope::HEADER_LEN]).map_err(io)?;
    let mut payload = Checksummed {
        out: &mut *out,
        crc: crc32fast::Hasher::new(),
    };
    let mut len = 0;
    for &root in roots {
        value.set_root(root);
        len += write(value, &mut payload)?;
    }
    let header = envelope::header_for(format, payload.crc.finalize(), len)?;
    out.rewind().map_err(io)?;
    out.write_all(&header).map_err(io)?;
    Ok(envelope::HEADER_LEN as u64 + len)
}

/// A writer that checksums what goes through it, for the envelope's header.
struct Checksummed<'w> {
    out: &'w mut std::fs::File,
    crc: crc32fast::Hasher,
}

impl Write for Checksummed<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn identify_input<'b>(
    path: &Path,
    bytes: &'b [u8],
    options: &ConvertOptions,
) -> Result<(&'static dyn Format, &'b [u8]), Error> {
    if envelope::is_enveloped(bytes) {
        let (header, payload) = envelope::open(bytes)?;
        let found = format::by_name(&header.format)?;
        if let Some(forced) = options.from.as_deref() {
            if forced != found.name() {
                return Err(Error::invalid(format!(
                    "the file is {}, not {forced} as the options say",
                    found.name()
                )));
            }
        }
        return Ok((found, payload));
    }
    if let Some(forced) = options.from.as_deref() {
        return Ok((format::by_name(forced)?, bytes));
    }
    if bytes.starts_with(&pypickle_cbor::SELF_DESCRIBE) {
        return Ok((format::by_name("cbor")?, bytes));
    }
    // Bare CBOR (written without the self-describe tag), MessagePack and JSON have no magic
    // number: their extension decides, before pickle's weak protocol 0 sniffing could.
    let by_extension = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(format::by_extension)
        .filter(|f| matches!(f.name(), "cbor" | "msgpack" | "json"));
    if let Some(found) = by_extension {
        return Ok((found, bytes));
    }
    match format::sniff(bytes) {
        Some(found) => Ok((found, bytes)),
        None => Err(ErrorKind::Unrecognised {
            tried: format!(
                "the pypickle envelope, {}, and the extensions .cbor, .msgpack, .mpk and .json \
                 (name the format with from)",
                format::sniffed_description()
            ),
        }
        .into()),
    }
}

fn output_format(path: &Path, options: &ConvertOptions) -> Result<&'static dyn Format, Error> {
    if let Some(name) = options.to.as_deref() {
        return format::by_name(name);
    }
    path.extension()
        .and_then(|e| e.to_str())
        .and_then(format::by_extension)
        .ok_or_else(|| {
            Error::invalid(
                "cannot tell the output format from the file name: use .pkl, .pickle, .cbor, \
                 .msgpack, .mpk or .json, or name it with to",
            )
        })
}

/// The value graph and its roots (one per pickle of a stacked pickle file).
fn decode(
    from: &'static dyn Format,
    payload: &[u8],
    policy: &Policy,
    passed: &dyn Fn(usize),
) -> Result<(Value, Vec<pypickle_core::Item>), Error> {
    if from.name() != "pickle" {
        let items = match from.name() {
            "cbor" => sequence::cbor_items(payload),
            "msgpack" => sequence::msgpack_items(payload),
            _ => None,
        };
        if let Some(items) = items.filter(|items| items.len() > 1) {
            // A CBOR sequence or a MessagePack stream: the stacked pickles of one file.
            let values = items
                .into_iter()
                .map(|item| from.decode_value(item, policy))
                .collect::<Result<Vec<_>, _>>()?;
            return sequence::merge(values).map_err(Error::invalid);
        }
        let value = from.decode_value_passing(payload, policy, passed)?;
        let root = value.root();
        return Ok((value, vec![root]));
    }
    // Nesting is not counted while loading: every writer bounds it as it walks the value
    // (CBOR and JSON at tree::MAX_DEPTH, MessagePack at its own; pickle's writer is iterative),
    // and the machine's table of depths would be a tenth of the load's memory.
    let options = pypickle_pickle::Options {
        limits: pypickle_pickle::Limits {
            max_depth: usize::MAX,
            ..pypickle_pickle::Limits::default()
        },
        ..pypickle_pickle::Options::default()
    };
    let loaded = pypickle_pickle::load_passing(payload, &options, passed);
    let verdict = policy.judge(&loaded.globals);
    if !verdict.accepted() {
        return Err(Error::unsafe_content(verdict));
    }
    if let Some(error) = loaded.error {
        return Err(Error::decode(
            "pickle",
            format!("at offset {}: {}", error.offset, error.message),
        ));
    }
    if loaded.roots.is_empty() {
        return Err(Error::decode("pickle", "no pickle in the input"));
    }
    Ok((loaded.value, loaded.roots))
}

fn global_names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .objects()
        .iter()
        .filter_map(|object| match object {
            pypickle_core::Object::Global(g) => Some(format!("{}.{}", g.module, g.name)),
            pypickle_core::Object::Extension(code) => Some(format!("<extension code {code}>")),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn encode(
    to: &'static dyn Format,
    mut value: Value,
    roots: &[pypickle_core::Item],
    options: &ConvertOptions,
    out: &mut Vec<u8>,
    losses: &mut Vec<&'static str>,
) -> Result<(), Error> {
    if roots.len() > 1 && to.name() == "json" {
        return Err(Error::invalid(format!(
            "the input holds {} stacked pickles; a JSON file holds one value (convert to pickle, \
             CBOR or MessagePack, or split the file first)",
            roots.len()
        )));
    }
    for &root in roots {
        value.set_root(root);
        if to.name() == "json" {
            *losses = pypickle_json::export(&value, options.lossy, out)?;
        } else {
            // (CBOR and pickle are streamed instead: `stream`.)
            to.encode_value(&value, out)?;
        }
    }
    Ok(())
}

/// CBOR sequences and MessagePack streams: several values one after the other, as stacked
/// pickles are written.
mod sequence {
    use pypickle_core::{Item, Object, ObjectId, Value};

    /// Splits `data` into whole CBOR items (a self-describe tag stays with its item), or `None`
    /// if it is not a sequence of well-formed items (the decoder then reports why).
    pub fn cbor_items(data: &[u8]) -> Option<Vec<&[u8]>> {
        split(data, cbor_end)
    }

    /// Splits `data` into whole MessagePack values.
    pub fn msgpack_items(data: &[u8]) -> Option<Vec<&[u8]>> {
        split(data, msgpack_end)
    }

    fn split(data: &[u8], end: fn(&[u8], usize) -> Option<usize>) -> Option<Vec<&[u8]>> {
        let mut items = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            let next = end(data, pos)?;
            items.push(&data[pos..next]);
            pos = next;
        }
        Some(items)
    }

    fn be(data: &[u8], pos: &mut usize, n: usize) -> Option<u64> {
        let bytes = data.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    fn skip(data: &[u8], pos: &mut usize, n: u64) -> Option<()> {
        let n = usize::try_from(n).ok()?;
        *pos = pos.checked_add(n).filter(|&p| p <= data.len())?;
        Some(())
    }

    /// Where the CBOR item starting at `pos` ends (iterative: no recursion on nesting).
    fn cbor_end(data: &[u8], mut pos: usize) -> Option<usize> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let first = *data.get(pos)?;
            pos += 1;
            let (major, info) = (first >> 5, first & 0x1f);
            let n = match info {
                0..=23 => u64::from(info),
                24..=27 => be(data, &mut pos, 1 << (info - 24))?,
                _ => return None,
            };
            match major {
                2 | 3 => skip(data, &mut pos, n)?,
                4 => pending = pending.checked_add(n)?,
                5 => pending = pending.checked_add(n.checked_mul(2)?)?,
                6 => pending += 1,
                _ => {}
            }
            if pending > (data.len() - pos) as u64 {
                return None;
            }
        }
        Some(pos)
    }

    /// Where the MessagePack value starting at `pos` ends.
    fn msgpack_end(data: &[u8], mut pos: usize) -> Option<usize> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let marker = *data.get(pos)?;
            pos += 1;
            match marker {
                0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => {}
                0x80..=0x8f => pending += 2 * u64::from(marker & 0x0f),
                0x90..=0x9f => pending += u64::from(marker & 0x0f),
                0xa0..=0xbf => skip(data, &mut pos, u64::from(marker & 0x1f))?,
                0xc4..=0xc6 | 0xd9..=0xdb => {
                    let width = 1 << ((marker - if marker >= 0xd9 { 0xd9 } else { 0xc4 }) as usize);
                    let n = be(data, &mut pos, width)?;
                    skip(data, &mut pos, n)?;
                }
                0xc7..=0xc9 => {
                    let n = be(data, &mut pos, 1 << (marker - 0xc7))?;
                    skip(data, &mut pos, n.checked_add(1)?)?;
                }
                0xca | 0xd2 | 0xce => skip(data, &mut pos, 4)?,
                0xcb | 0xd3 | 0xcf => skip(data, &mut pos, 8)?,
                0xcc | 0xd0 => skip(data, &mut pos, 1)?,
                0xcd | 0xd1 => skip(data, &mut pos, 2)?,
                0xd4..=0xd8 => skip(data, &mut pos, 1 + (1u64 << (marker - 0xd4)))?,
                0xdc | 0xdd => {
                    pending = pending.checked_add(be(
                        data,
                        &mut pos,
                        if marker == 0xdc { 2 } else { 4 },
                    )?)?
                }
                0xde | 0xdf => {
                    let n = be(data, &mut pos, if marker == 0xde { 2 } else { 4 })?;
                    pending = pending.checked_add(n * 2)?;
                }
                0xc1 => return None,
            }
            if pending > (data.len() - pos) as u64 {
                return None;
            }
        }
        Some(pos)
    }

    fn shift(item: &mut Item, offset: u32) {
        if let Item::Ref(id) = item {
            *id = ObjectId(id.0 + offset);
        }
    }

    /// One graph holding every value, and each value's root.
    pub fn merge(values: Vec<Value>) -> Result<(Value, Vec<Item>), String> {
        let mut objects = Vec::new();
        let mut roots = Vec::new();
        for value in values {
            let offset = u32::try_from(objects.len()).map_err(|_| "too many objects")?;
            let (parts, mut root) = value.into_parts();
            for mut object in parts {
                match &mut object {
                    Object::List(v) | Object::Tuple(v) | Object::Set(v) | Object::FrozenSet(v) => {
                        v.iter_mut().for_each(|i| shift(i, offset))
                    }
                    Object::Dict(dict) => dict.map_items(|mut item| {
                        shift(&mut item, offset);
                        item
                    }),
                    Object::Instance(inst) => {
                        shift(&mut inst.callable, offset);
                        shift(&mut inst.args, offset);
                        inst.kwargs.iter_mut().for_each(|i| shift(i, offset));
                        inst.state.iter_mut().for_each(|i| shift(i, offset));
                        inst.list_items.iter_mut().for_each(|i| shift(i, offset));
                        inst.dict_items.iter_mut().for_each(|(k, v)| {
                            shift(k, offset);
                            shift(v, offset);
                        });
                        inst.set_items.iter_mut().for_each(|i| shift(i, offset));
                    }
                    Object::PersistentId(pid) => shift(pid, offset),
                    _ => {}
                }
                objects.push(object);
            }
            shift(&mut root, offset);
            roots.push(root);
        }
        let value = Value::from_parts(objects, roots.first().copied().unwrap_or(Item::None))?;
        Ok((value, roots))
    }
}
