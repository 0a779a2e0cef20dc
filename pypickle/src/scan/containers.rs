//! Content sniffing and the containers pickles hide in.

use std::fmt;
use std::io::Read;

use pypickle_core::value::{CallKind, Item, Object, Value};
use pypickle_core::{envelope, GlobalRef, Target};
use pypickle_pickle::opcodes::Op;
use pypickle_pickle::reader::{Arg, Reader};
use pypickle_pickle::{
    analyze, analyze_skipping, path_ends_with, Analysis, FindingKind, Offer, Options,
    SkipAfterBuild,
};

use super::{compared, PickleStream, ScanOptions, Scanned};

/// What the outermost content of a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Content {
    /// One pickle or several stacked.
    Pickle,
    /// A joblib pickle with raw array bytes between its opcodes.
    Joblib,
    /// A legacy (non-zip) PyTorch file: stacked pickles, then raw storage bytes.
    TorchLegacy,
    /// A zip archive (PyTorch, `.npz`, any zip).
    Zip,
    /// A `.npy` array (a pickle after the header when its dtype holds objects).
    Npy,
    /// A compressed stream.
    Compressed(&'static str),
    /// A file written by `pypickle::save`.
    Envelope,
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Pickle => f.write_str("pickle"),
            Content::Joblib => f.write_str("joblib"),
            Content::TorchLegacy => f.write_str("legacy torch"),
            Content::Zip => f.write_str("zip"),
            Content::Npy => f.write_str("npy"),
            Content::Compressed(c) => write!(f, "{c}"),
            Content::Envelope => f.write_str("pypickle envelope"),
        }
    }
}

/// PyTorch's legacy magic number, 0x1950a86a20f9469cfc6c, as LONG1 bytes.
const TORCH_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The class after whose BUILDs joblib reads an array (`joblib.numpy_pickle.NumpyArrayWrapper`),
/// by the tail of its dotted path: it can be imported through any module that holds it as an
/// attribute (`sklearn.utils._joblib`, then `joblib.numpy_pickle.NumpyArrayWrapper`).
/// Watching a class joblib does not treat as its wrapper only makes the scanner skip bytes
/// joblib reads as opcodes, and those the plain reading of the file still sees.
const WRAPPER: &str = "NumpyArrayWrapper";
/// The module whose namespace `load_build` reads the class from (`joblib.numpy_pickle`).
const WRAPPER_MODULE: &str = "numpy_pickle";

/// Whether `target` may name joblib's array wrapper.
fn is_wrapper(target: &Target) -> bool {
    match target {
        Target::Named { module, name } => path_ends_with(module, name, WRAPPER),
        Target::Extension(_) => false,
    }
}

struct Ctx<'o> {
    options: &'o ScanOptions,
    out: Scanned,
    /// Bytes that may still be scanned: overlapping zip members and nested archives cannot
    /// make a small file cost unbounded work.
    budget: u64,
    exhausted: bool,
}

pub(super) fn scan(bytes: &[u8], options: &ScanOptions) -> Scanned {
    let mut ctx = Ctx {
        options,
        out: Scanned::default(),
        budget: (bytes.len() as u64)
            .saturating_mul(options.max_ratio)
            .max(256 << 20)
            .min(options.max_decompressed.saturating_mul(4)),
        exhausted: false,
    };
    let content = blob(&mut ctx, bytes, None, 0, true);
    ctx.out.content = content;
    ctx.out
}

fn join(member: Option<&str>, name: &str) -> String {
    match member {
        Some(m) => format!("{m}/{name}"),
        None => name.to_string(),
    }
}

fn prefix(member: Option<&str>) -> String {
    match member {
        Some(m) => format!("{m}: "),
        None => String::new(),
    }
}

/// Scans one blob (the file, a member, a decompressed stream). Returns what it is, `None` when
/// it is no pickle and no container.
fn blob(
    ctx: &mut Ctx,
    data: &[u8],
    member: Option<&str>,
    depth: usize,
    top: bool,
) -> Option<Content> {
    if depth > ctx.options.max_depth {
        ctx.out.errors.push(format!(
            "{}containers nested deeper than {} levels",
            prefix(member),
            ctx.options.max_depth
        ));
        return None;
    }
    if ctx.budget < data.len() as u64 {
        if !ctx.exhausted {
            ctx.exhausted = true;
            ctx.out.errors.push(format!(
                "{}too much to scan: members overlap or expand too far (a zip bomb?)",
                prefix(member)
            ));
        }
        return None;
    }
    ctx.budget -= data.len() as u64;
    if envelope::is_enveloped(data) {
        return enveloped(ctx, data, member);
    }
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        zip(ctx, data, member, depth);
        return Some(Content::Zip);
    }
    if data.starts_with(b"\x93NUMPY") {
        npy(ctx, data, member);
        return Some(Content::Npy);
    }
    if let Some(kind) = compression(data) {
        match decompress(kind, data, ctx.options) {
            Ok(inner) if kind == "joblib zfile" => {
                // `load_compatibility` unpickles it with an unpickler for which a
                // NumpyArrayWrapper's BUILD is an ordinary BUILD: no bytes are skipped.
                let analysis = analyze(&inner);
                record(ctx, &inner, member, "pickle", 0, analysis);
                compressed_read_raw(ctx, data, member, kind);
                return Some(Content::Compressed(kind));
            }
            Ok(inner) => {
                let found = blob(ctx, &inner, member, depth + 1, top);
                if found.is_none() {
                    ctx.out.findings.push(format!(
                        "{}{kind} stream holds no pickle and no container",
                        prefix(member)
                    ));
                }
                compressed_read_raw(ctx, data, member, kind);
                return Some(Content::Compressed(kind));
            }
            Err(e) => {
                // Magic bytes can be a coincidence: a pickle may still start this way.
                if let Some(content) = pickle_blob(ctx, data, member, false) {
                    return Some(content);
                }
                ctx.out
                    .errors
                    .push(format!("{}{kind} stream: {e}", prefix(member)));
                return Some(Content::Compressed(kind));
            }
        }
    }
    pickle_blob(ctx, data, member, top)
}

/// The bytes of a compressed stream read as they are: a loader that does not recognise the
/// compression (`pickle.load`, or joblib, which only takes zlib data starting with `x`) reads
/// them as opcodes, and a stream can be both (a zlib header that is also MARK, FROZENSET).
/// Only globals count: bytes that merely fail to parse run nothing.
fn compressed_read_raw(ctx: &mut Ctx, data: &[u8], member: Option<&str>, kind: &str) {
    let analysis = analyze(data);
    if analysis.globals.is_empty() {
        return;
    }
    ctx.out.findings.push(format!(
        "{}the {kind} stream's own bytes, read as a pickle, import {} globals",
        prefix(member),
        analysis.globals.len()
    ));
    let joblib = imports_wrapper(&analysis);
    read_plain(ctx, data, member, 0, analysis, joblib);
}

/// Whether a pickle imports joblib's `NumpyArrayWrapper` (joblib then reads it its own way).
fn imports_wrapper(analysis: &Analysis) -> bool {
    analysis.globals.iter().any(|g| is_wrapper(&g.target))
}

/// `data` read as a plain `pickle.load` reads it ([`also_as_plain`]), after reading it as
/// joblib does if `joblib`.
fn read_plain(
    ctx: &mut Ctx,
    data: &[u8],
    member: Option<&str>,
    base: usize,
    analysis: Analysis,
    joblib: bool,
) {
    let compared = match joblib {
        true => joblib_stream(ctx, data, member, base),
        false => Compared::default(),
    };
    also_as_plain(ctx, data, member, base, analysis, compared);
}

fn enveloped(ctx: &mut Ctx, data: &[u8], member: Option<&str>) -> Option<Content> {
    match envelope::open(data) {
        Ok((header, payload)) => {
            ctx.out.envelope = Some(format!(
                "pypickle envelope version {}, format {}, {} payload bytes, checksum ok",
                header.version, header.format, header.payload_len
            ));
            if header.format == "pickle" {
                pickle_blob(ctx, payload, member, true);
            }
        }
        Err(e) => {
            ctx.out.envelope = Some(format!("pypickle envelope: {e}"));
            ctx.out
                .errors
                .push(format!("{}pypickle envelope: {e}", prefix(member)));
            // Fail closed: whatever a damaged envelope holds is still scanned.
            if let Some(payload) = data.get(envelope::HEADER_LEN..) {
                pickle_blob(ctx, payload, member, false);
            }
        }
    }
    Some(Content::Envelope)
}

// ---------------------------------------------------------------- compression

fn compression(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if data.starts_with(b"BZh") && data.len() > 3 && (b'1'..=b'9').contains(&data[3]) {
        Some("bz2")
    } else if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if data.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some("lz4")
    } else if data.len() >= 2
        && data[0] & 0x0f == 8
        && data[0] >> 4 <= 7
        && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0
    {
        Some("zlib")
    } else if data.len() >= 13 && data[0] == 0x5d && data[1] == 0 {
        // joblib's own test (`]\x00`): the dictionary size that follows may be any.
        Some("lzma")
    } else if data.starts_with(b"ZF") {
        Some("joblib zfile")
    } else {
        None
    }
}

/// joblib's old "ZF" files (before 0.10, still loaded by `load_compatibility`): `ZF`, the
/// length in hexadecimal in 19 bytes, an optional space, then zlib data.
const ZFILE_HEADER: usize = 2 + 19;

fn cap(len: usize, options: &ScanOptions) -> u64 {
    let floor = 16u64 << 20;
    (len as u64)
        .saturating_mul(options.max_ratio)
        .max(floor)
        .min(options.max_decompressed)
}

fn bounded(mut reader: impl Read, limit: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let read = (&mut reader)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if read as u64 > limit {
        return Err(format!(
            "decompresses to more than {limit} bytes (a decompression bomb?): refused"
        ));
    }
    Ok(out)
}

fn decompress(kind: &str, data: &[u8], options: &ScanOptions) -> Result<Vec<u8>, String> {
    let limit = cap(data.len(), options);
    match kind {
        "gzip" => bounded(flate2::read::MultiGzDecoder::new(data), limit),
        "zlib" => bounded(flate2::read::ZlibDecoder::new(data), limit),
        "bz2" => bounded(bzip2::read::MultiBzDecoder::new(data), limit),
        "xz" => bounded(xz2::read::XzDecoder::new_multi_decoder(data), limit),
        "lzma" => {
            let stream =
                xz2::stream::Stream::new_lzma_decoder(u64::MAX).map_err(|e| e.to_string())?;
            bounded(xz2::read::XzDecoder::new_stream(data, stream), limit)
        }
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(data).map_err(|e| e.to_string())?;
            bounded(decoder, limit)
        }
        "lz4" => bounded(lz4_flex::frame::FrameDecoder::new(data), limit),
        "joblib zfile" => {
            let body = data.get(ZFILE_HEADER..).ok_or("truncated header")?;
            let body = body.strip_prefix(b" ").unwrap_or(body);
            bounded(flate2::read::ZlibDecoder::new(body), limit)
        }
        _ => Err(format!("unknown compression {kind}")),
    }
}

fn deflate(data: &[u8], options: &ScanOptions) -> Result<Vec<u8>, String> {
    bounded(
        flate2::read::DeflateDecoder::new(data),
        cap(data.len(), options),
    )
}

// ---------------------------------------------------------------- npy

fn npy(ctx: &mut Ctx, data: &[u8], member: Option<&str>) {
    let major = data.get(6).copied().unwrap_or(0);
    let (len, start) = match major {
        1 if data.len() >= 10 => (u16::from_le_bytes([data[8], data[9]]) as usize, 10),
        2 | 3 if data.len() >= 12 => (
            u32::from_le_bytes([data[8], data[9], data[10], data[11]]) as usize,
            12,
        ),
        _ => {
            ctx.out
                .errors
                .push(format!("{}npy: unreadable header", prefix(member)));
            return;
        }
    };
    let Some(header) = data.get(start..start + len) else {
        ctx.out
            .errors
            .push(format!("{}npy: truncated header", prefix(member)));
        return;
    };
    let header = String::from_utf8_lossy(header);
    // An object dtype anywhere in the descr ('|O', or a field of a structured dtype).
    let has_object = header.split('\'').skip(1).step_by(2).any(|token| {
        let t = token.trim_start_matches(['<', '>', '|', '=']);
        t.starts_with('O') && t[1..].bytes().all(|b| b.is_ascii_digit())
    });
    if has_object {
        let body = &data[start + len..];
        pickle_stream(ctx, body, member, "npy", start + len);
    }
}

// ---------------------------------------------------------------- pickles

/// Scans `data` as a pickle (plain, stacked, joblib, legacy torch). `None` when it is none
/// (nothing read as a pickle at all); a damaged pickle is reported with its errors.
fn pickle_blob(ctx: &mut Ctx, data: &[u8], member: Option<&str>, top: bool) -> Option<Content> {
    let looks_like_pickle = data.len() >= 2 && data[0] == 0x80 && data[1] <= 5;
    let analysis = analyze(data);
    if !looks_like_pickle && analysis.roots == 0 && analysis.globals.is_empty() {
        return None;
    }
    if !looks_like_pickle && analysis.roots == 0 && !top && analysis.error.is_some() {
        // A member that is raw bytes (a tensor storage) and merely starts with an opcode.
        let dangerous = !analysis.globals.is_empty();
        if !dangerous {
            return None;
        }
    }
    if looks_like_pickle
        && !top
        && analysis.roots == 0
        && analysis.globals.is_empty()
        && analysis.opcodes < 4
    {
        return None;
    }
    let joblib = imports_wrapper(&analysis);
    if is_torch_legacy(data) {
        torch_legacy(ctx, data, member);
        // joblib.load reads the same bytes whatever they start with.
        read_plain(ctx, data, member, 0, analysis, joblib);
        return Some(Content::TorchLegacy);
    }
    if joblib {
        read_plain(ctx, data, member, 0, analysis, true);
        return Some(Content::Joblib);
    }
    record(ctx, data, member, "pickle", 0, analysis);
    Some(Content::Pickle)
}

/// A pickle stream at `base` in its blob (npy bodies, nested joblib arrays).
fn pickle_stream(
    ctx: &mut Ctx,
    data: &[u8],
    member: Option<&str>,
    kind: &'static str,
    base: usize,
) {
    let analysis = analyze(data);
    if imports_wrapper(&analysis) {
        read_plain(ctx, data, member, base, analysis, true);
        return;
    }
    record(ctx, data, member, kind, base, analysis);
}

/// Fail closed on files whose loader skips bytes (joblib arrays, legacy torch storages): the
/// globals a plain `pickle.load` would meet reading the same bytes as opcodes are judged too.
/// `compared`: what the joblib reading of the same bytes accepted as only compared (see
/// [`Compared`]): a plain `pickle.load` must use those references no further, or they are
/// judged as usual after all.
fn also_as_plain(
    ctx: &mut Ctx,
    data: &[u8],
    member: Option<&str>,
    base: usize,
    analysis: pypickle_pickle::Analysis,
    compared: Compared,
) {
    if !compared.indices.is_empty() {
        // The plain reading runs the same opcodes up to the first wrapper's BUILD, where the
        // wrapper stays on its stack with the attribute set; then it reads the array's bytes
        // as opcodes, which must not use the wrapper (or the reference) either. The proof is
        // run on the plain reading too, which allows that first BUILD only.
        let at: Vec<u64> = compared
            .indices
            .iter()
            .map(|&i| ctx.out.globals[i].offset - base as u64)
            .collect();
        let plain_refs: Vec<&GlobalRef> = analysis
            .globals
            .iter()
            .filter(|g| at.contains(&g.offset))
            .collect();
        let proven = plain_refs.iter().all(|g| is_compared_candidate(g))
            && compared::only_compared(
                data,
                &compared::Reading {
                    references: &at,
                    builds: compared.first_build.as_slice(),
                    jumps: &[],
                    joblib: false,
                },
            );
        if !proven {
            ctx.out.compared.retain(|i| !compared.indices.contains(i));
        }
    }
    // Where the plain reading stops on one of the machine's own bounds, CPython's would go on:
    // what it would meet after is unknown. (Breaking on bytes that are no opcodes is expected
    // here: the loader reads those as arrays.)
    if let Some(e) = analysis.error.as_ref().filter(|e| e.limit) {
        ctx.out.errors.push(format!(
            "{}read as a plain pickle, the stream goes past a bound at offset {}: {}",
            prefix(member),
            e.offset + base as u64,
            e.message
        ));
    }
    for mut g in analysis.globals {
        g.offset += base as u64;
        g.member = member.map(str::to_string);
        let mut known = false;
        for k in ctx.out.globals.iter_mut() {
            if k.offset == g.offset && k.target == g.target && k.member == g.member {
                known = true;
                // A `getattr` the joblib reading proved used only as attribute walks, which
                // the plain reading uses otherwise (its array bytes read as opcodes), is
                // judged as usual.
                k.usage.attribute_walk &= g.usage.attribute_walk;
            }
        }
        if !known {
            ctx.out.globals.push(g);
        }
    }
}

fn record(
    ctx: &mut Ctx,
    data: &[u8],
    member: Option<&str>,
    kind: &'static str,
    base: usize,
    analysis: pypickle_pickle::Analysis,
) {
    let p = prefix(member);
    for mut g in analysis.globals {
        g.offset += base as u64;
        g.member = member.map(str::to_string);
        ctx.out.globals.push(g);
    }
    for f in analysis.findings {
        ctx.out.findings.push(format!(
            "{p}offset {}: {}",
            f.offset + base as u64,
            f.message
        ));
    }
    if let Some(e) = analysis.error {
        ctx.out.errors.push(format!(
            "{p}pickle broken at offset {}: {}",
            e.offset + base as u64,
            e.message
        ));
    }
    if ctx.options.keep_pickles {
        ctx.out.pickles.push(PickleStream {
            member: member.map(str::to_string),
            kind,
            bytes: data.to_vec(),
        });
    }
}

fn is_torch_legacy(data: &[u8]) -> bool {
    let mut reader = Reader::new(data);
    let mut ops = 0;
    while let Some(Ok(ins)) = reader.next() {
        ops += 1;
        match (ins.op, &ins.arg) {
            (Op::Proto, _) => {}
            (Op::Long1, Arg::Long(bytes)) => return bytes[..] == TORCH_MAGIC,
            (Op::Long1, Arg::BigInt(_)) | (Op::Long1, Arg::Int(_)) => {
                // Fits no i64: always Long; anything else is not the magic number.
                return false;
            }
            _ => return false,
        }
        if ops > 2 {
            return false;
        }
    }
    false
}

/// Legacy torch: five pickles (magic, protocol, sys info, the object, storage keys), then raw
/// storage bytes that no loader reads as opcodes.
fn torch_legacy(ctx: &mut Ctx, data: &[u8], member: Option<&str>) {
    let mut reader = Reader::new(data);
    let mut stops = 0;
    let mut end = data.len();
    for ins in reader.by_ref() {
        match ins {
            Ok(ins) if ins.op == Op::Stop => {
                stops += 1;
                if stops == 5 {
                    end = ins.end as usize;
                    break;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let analysis = analyze(&data[..end]);
    record(ctx, &data[..end], member, "torch legacy", 0, analysis);
}

// ---------------------------------------------------------------- joblib

/// A joblib stream: after each `NumpyArrayWrapper` BUILD the array follows, as raw bytes
/// (optionally after a padding-length byte and padding) or, for object arrays, as a nested
/// pickle. One run of the machine reads the opcodes; at each wrapper's BUILD it is shown the
/// wrapper and resumes past its array, so the work is linear in the file.
/// What a joblib reading accepted as only compared ([`Scanned::compared`]).
#[derive(Default)]
struct Compared {
    /// The indices of the references in [`Scanned::globals`].
    indices: Vec<usize>,
    /// The offset of the first wrapper's BUILD (where a plain reading parts from joblib's).
    first_build: Option<u64>,
}

/// The class joblib only compares with what a wrapper's `subclass` holds
/// (`self.subclass not in (np.ndarray, np.memmap)`), which the policy rates dangerous.
const COMPARED_MODULE: &str = "numpy";
const COMPARED_NAME: &str = "memmap";

/// Whether `g` may be a reference joblib only compares: `numpy.memmap` exactly, imported by
/// GLOBAL or STACK_GLOBAL, never called or given state (INST calls what it imports).
fn is_compared_candidate(g: &GlobalRef) -> bool {
    matches!(&g.target, Target::Named { module, name }
        if module == COMPARED_MODULE && name == COMPARED_NAME)
        && matches!(g.opcode, "GLOBAL" | "STACK_GLOBAL")
        && !g.usage.called
        && !g.usage.built
}

fn joblib_stream(ctx: &mut Ctx, data: &[u8], member: Option<&str>, base: usize) -> Compared {
    let p = prefix(member);
    let mut arrays = 0usize;
    // The byte ranges that are arrays, not opcodes (for the spliced stream `inspect` shows).
    let mut skipped: Vec<(usize, usize)> = Vec::new();
    let mut nested_globals = Vec::new();
    let mut nested_errors = Vec::new();
    let mut resume = |offer: Offer<'_>, end: usize| -> Option<usize> {
        // joblib reads an array after every BUILD of a wrapper: one the scanner cannot lay
        // out leaves bytes it cannot tell from opcodes, so the file is never called safe.
        let array = match offer {
            Offer::Built { value, instance } => wrapper_layout(value, instance),
            Offer::TooLarge => None,
            Offer::InsideFrame => {
                nested_errors.push(format!(
                    "{p}joblib: the NumpyArrayWrapper BUILD ending at offset {} is inside a FRAME \
                     that goes on past it: joblib reads the array after the frame, the opcodes \
                     go on inside it",
                    base + end
                ));
                return None;
            }
            Offer::Possible => {
                nested_errors.push(format!(
                    "{p}joblib: the object built by the BUILD ending at offset {} may be a \
                     NumpyArrayWrapper (a call was given the class or an unbuilt wrapper): \
                     joblib would read an array after it whose size the file does not show",
                    base + end
                ));
                return None;
            }
        };
        let Some(array) = array else {
            nested_errors.push(format!(
                "{p}joblib: cannot tell the size of the array after the NumpyArrayWrapper BUILD \
                 ending at offset {} (its state is too large or not what joblib writes)",
                base + end
            ));
            return None;
        };
        arrays += 1;
        let next = match array {
            Array::Objects => {
                // A complete pickle of its own follows.
                // Its unpickler reads whole frames: a FRAME running past the STOP moves where
                // the outer stream resumes (to the frame's end), so the scanner gives up.
                let mut frame_end = 0usize;
                let stop = Reader::at(data, end)
                    .map_while(Result::ok)
                    .inspect(|ins| {
                        if ins.op == Op::Frame {
                            if let Arg::Int(len) = ins.arg {
                                let len = usize::try_from(len).unwrap_or(usize::MAX);
                                frame_end = (ins.end as usize).saturating_add(len);
                            }
                        }
                    })
                    .find(|ins| ins.op == Op::Stop)
                    .map(|ins| ins.end as usize);
                let stop_end = stop.unwrap_or(data.len());
                if frame_end > stop_end {
                    nested_errors.push(format!(
                        "{p}joblib object array at offset {}: its pickle's FRAME runs past its \
                         STOP, so where joblib resumes is not where the pickle ends",
                        base + end
                    ));
                    return None;
                }
                let analysis = analyze(&data[end..stop_end]);
                // joblib reads it with a plain unpickler, and what it returns stands where the
                // array would: a wrapper made there is read as an array by the outer stream's
                // next BUILD. Real object arrays hold no wrapper.
                if imports_wrapper(&analysis) {
                    nested_errors.push(format!(
                        "{p}joblib object array at offset {}: its pickle imports \
                         NumpyArrayWrapper",
                        base + end
                    ));
                    return None;
                }
                for mut g in analysis.globals {
                    g.offset += (base + end) as u64;
                    g.member = member.map(str::to_string);
                    nested_globals.push(g);
                }
                if let Some(e) = analysis.error {
                    nested_errors.push(format!(
                        "{p}joblib object array at offset {}: {}",
                        base + end + e.offset as usize,
                        e.message
                    ));
                }
                stop_end
            }
            Array::Raw { bytes, aligned } => {
                let mut at = end;
                if aligned {
                    match data.get(at) {
                        Some(&pad) => at += 1 + pad as usize,
                        None => {
                            nested_errors.push(format!(
                                "{p}joblib array at offset {}: truncated",
                                base + end
                            ));
                            return Some(data.len());
                        }
                    }
                }
                match at.checked_add(usize::try_from(bytes).unwrap_or(usize::MAX)) {
                    Some(n) if n <= data.len() => n,
                    _ => {
                        nested_errors.push(format!(
                            "{p}joblib array at offset {}: {} bytes announced, the file ends first",
                            base + end,
                            bytes
                        ));
                        return Some(data.len());
                    }
                }
            }
        };
        skipped.push((end, next));
        Some(next)
    };
    let options = Options::default();
    let analysis = analyze_skipping(
        data,
        &options,
        SkipAfterBuild {
            class: WRAPPER,
            module: WRAPPER_MODULE,
            resume: &mut resume,
        },
    );
    // SETITEM, APPEND or ADDITEMS on an imported object calls its methods: it may stash
    // what the scanner follows where a later call fetches it, or rewrite a table the loader
    // reads (an unpickler's `dispatch`). joblib's own files never do it.
    if let Some(f) = analysis
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ItemsOnGlobal)
    {
        ctx.out.errors.push(format!(
            "{p}joblib: at offset {}: {}, which the scanner cannot follow",
            base as u64 + f.offset,
            f.message
        ));
    }
    // `numpy.memmap` as the `subclass` of a memmap's wrapper: accepted only when the whole
    // stream, read as joblib reads it, is what the scanner followed (no error, nothing it
    // could not lay out) and uses the references nowhere else (see `compared`).
    let candidates: Vec<u64> = analysis
        .globals
        .iter()
        .filter(|g| is_compared_candidate(g))
        .map(|g| g.offset)
        .collect();
    let builds: Vec<u64> = skipped.iter().map(|&(end, _)| end as u64 - 1).collect();
    let followed = analysis.error.is_none()
        && nested_errors.is_empty()
        && !analysis
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::ItemsOnGlobal);
    let proven = followed
        && !candidates.is_empty()
        && compared::only_compared(
            data,
            &compared::Reading {
                references: &candidates,
                builds: &builds,
                jumps: &skipped,
                joblib: true,
            },
        );
    let mut compared = Compared {
        indices: Vec::new(),
        first_build: builds.first().copied(),
    };
    for mut g in analysis.globals {
        if proven && candidates.contains(&g.offset) && is_compared_candidate(&g) {
            compared.indices.push(ctx.out.globals.len());
            ctx.out.compared.push(ctx.out.globals.len());
        }
        g.offset += base as u64;
        g.member = member.map(str::to_string);
        ctx.out.globals.push(g);
    }
    ctx.out.globals.extend(nested_globals);
    for f in analysis.findings {
        ctx.out.findings.push(format!(
            "{p}offset {}: {}",
            base as u64 + f.offset,
            f.message
        ));
    }
    if let Some(e) = analysis.error {
        ctx.out.errors.push(format!(
            "{p}pickle broken at offset {}: {}",
            base as u64 + e.offset,
            e.message
        ));
    }
    ctx.out.errors.extend(nested_errors);
    if arrays > 0 {
        ctx.out
            .findings
            .retain(|f| !f.contains("FRAME") || !f.starts_with(&p));
    }
    if ctx.options.keep_pickles {
        // The opcodes without the arrays, as one stream.
        let mut bytes = Vec::new();
        let mut from = 0;
        for (start, end) in skipped {
            bytes.extend_from_slice(&data[from..start]);
            from = end;
        }
        bytes.extend_from_slice(&data[from.min(data.len())..]);
        ctx.out.pickles.push(PickleStream {
            member: member.map(str::to_string),
            kind: "joblib",
            bytes,
        });
    }
    compared
}

enum Array {
    /// An object array: a nested pickle follows.
    Objects,
    /// `bytes` raw bytes follow, after a padding-length byte and padding when `aligned`.
    Raw { bytes: u64, aligned: bool },
}

/// The layout of the array bytes that follow the BUILD of `wrapper`, an instance of joblib's
/// `NumpyArrayWrapper`, read as joblib's `read_array` reads it; `None` when the scanner
/// cannot be sure of it.
fn wrapper_layout(value: &Value, wrapper: Item) -> Option<Array> {
    let attributes = wrapper_attributes(value, wrapper)?;
    let get = |key: &str| {
        attributes
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|&(_, v)| v)
    };
    // `count = np.multiply.reduce([np.int64(x) for x in self.shape])`: a sequence of numbers.
    let dims = match value.object(get("shape")?) {
        Some(Object::Tuple(dims)) | Some(Object::List(dims)) => dims,
        _ => return None,
    };
    let mut count: u64 = 1;
    for dim in dims {
        let d = match *dim {
            Item::Int(i) if i >= 0 => i as u64,
            Item::Bool(b) => b as u64,
            Item::Float(f) if (0.0..9.2e18).contains(&f) => f.trunc() as u64,
            // Negative sizes, wrapping products and anything else fail in joblib.
            _ => return None,
        };
        count = count.checked_mul(d).filter(|&c| c <= i64::MAX as u64)?;
    }
    let (itemsize, objects) = dtype_itemsize(value, get("dtype")?)?;
    if objects {
        // Loaded with `mmap_mode`, joblib reads a wrapper whose `allow_mmap` is true with
        // `read_mmap`, which maps `prod(shape) * itemsize` raw bytes (numpy maps object and
        // StringDType arrays too) instead of reading the nested pickle. joblib writes False
        // for every array that holds objects; anything the file does not spell out as false
        // is not laid out.
        return match get("allow_mmap") {
            None | Some(Item::None | Item::Bool(false) | Item::Int(0)) => Some(Array::Objects),
            _ => None,
        };
    }
    // `getattr(self, "numpy_array_alignment_bytes", None) is not None`: only a value the file
    // spells out can be told from None (a call or a global may be None when joblib runs).
    let aligned = match get("numpy_array_alignment_bytes") {
        None | Some(Item::None) => false,
        Some(item) => match value.object(item) {
            Some(Object::Instance(_) | Object::Global(_) | Object::Extension(_))
            | Some(Object::PersistentId(_) | Object::Buffer { .. }) => return None,
            _ => true,
        },
    };
    Some(Array::Raw {
        bytes: count.checked_mul(itemsize)?,
        aligned,
    })
}

/// The attributes of a `NumpyArrayWrapper`, in the order of its `__init__`'s parameters.
const ATTRIBUTES: [&str; 6] = [
    "subclass",
    "shape",
    "order",
    "dtype",
    "allow_mmap",
    "numpy_array_alignment_bytes",
];

/// The wrapper's attributes in the order they are set: `__init__`'s arguments when the class
/// was called (REDUCE, INST, OBJ), then each BUILD state (a dict, or a `(dict, slots)`
/// pair). `None` for any other way of making it, or a state joblib would fail on.
fn wrapper_attributes<'v>(value: &'v Value, wrapper: Item) -> Option<Vec<(&'v str, Item)>> {
    let Some(Object::Instance(inst)) = value.object(wrapper) else {
        return None;
    };
    let mut attributes = Vec::new();
    let called = match value.object(inst.callable) {
        Some(Object::Global(g)) => {
            let (module, name) = (g.module.as_str(), g.name.as_str());
            if path_ends_with(module, name, WRAPPER) {
                matches!(inst.kind, CallKind::Reduce | CallKind::Inst | CallKind::Obj)
            } else if module == "copyreg" && (name == "__newobj__" || name == "__newobj_ex__") {
                false // `cls.__new__(cls, ...)`: no `__init__`
            } else if module == "copyreg" && name == "_reconstructor" {
                // `_reconstructor(cls, object, None)` is `object.__new__(cls)`; another base
                // would run its own `__init__`.
                let Some(Object::Tuple(args)) = value.object(inst.args) else {
                    return None;
                };
                match args.get(1).and_then(|&b| value.object(b)) {
                    Some(Object::Global(g)) if g.module == "builtins" && g.name == "object" => {}
                    _ => return None,
                }
                false
            } else {
                return None;
            }
        }
        _ => return None,
    };
    if called {
        // `__init__(self, subclass, shape, order, dtype, allow_mmap=False,
        // numpy_array_alignment_bytes=NUMPY_ARRAY_ALIGNMENT_BYTES)`, which is 16
        let Some(Object::Tuple(args)) = value.object(inst.args) else {
            return None;
        };
        if args.len() < 4 || args.len() > ATTRIBUTES.len() || inst.kwargs.is_some() {
            return None;
        }
        attributes.extend(ATTRIBUTES.iter().copied().zip(args.iter().copied()));
        if args.len() < 6 {
            attributes.push(("numpy_array_alignment_bytes", Item::Int(16)));
        }
    }
    // A state's keys must be strs the file spells out: a key made by a call (`str('shape')`)
    // is an attribute to joblib but not to the scanner. They must be the attributes joblib
    // writes: any other may shadow a method joblib calls (`read`,
    // `safe_get_numpy_array_alignment_bytes`), set a `__setstate__` that a later BUILD
    // calls instead of setting attributes, or (in the slot state, set with `setattr`)
    // replace every attribute (`__dict__`) or the class joblib checks (`__class__`).
    let dict_into = |item: Item, attributes: &mut Vec<(&'v str, Item)>| match value.object(item) {
        Some(Object::Dict(pairs)) => {
            for (k, v) in pairs {
                let key = value.as_str(k)?;
                if !ATTRIBUTES.contains(&key) {
                    return None;
                }
                attributes.push((key, v));
            }
            Some(())
        }
        _ if item == Item::None => Some(()),
        _ => None,
    };
    // joblib reads an array after every BUILD, with the attributes as that BUILD left them.
    // The scanner is shown the graph as it is at the BUILD, where a state given to an earlier
    // BUILD may have changed since (its items were copied then): one BUILD only.
    if inst.state.len() > 1 {
        return None;
    }
    for &state in &inst.state {
        match value.object(state) {
            Some(Object::Tuple(pair)) if pair.len() == 2 => {
                dict_into(pair[0], &mut attributes)?;
                dict_into(pair[1], &mut attributes)?;
            }
            _ => dict_into(state, &mut attributes)?,
        }
    }
    Some(attributes)
}

/// The item size of a pickled `numpy.dtype(...)`, and whether it holds objects.
fn dtype_itemsize(value: &Value, dtype: Item) -> Option<(u64, bool)> {
    if is_string_dtype(value, dtype) {
        // Every StringDType holds references (`hasobject`): joblib pickles the array.
        return Some((16, true));
    }
    dtype_layout(value, dtype, 0)
}

/// The function numpy 2 pickles its `StringDType` with: `StringDType.__reduce__` returns
/// `(_convert_to_stringdtype_kwargs, (coerce,))` or `(..., (coerce, na_object))`.
const STRING_DTYPE_MODULE: &str = "numpy._core._internal";
const STRING_DTYPE_MAKER: &str = "_convert_to_stringdtype_kwargs";

/// Whether `dtype` is a numpy 2 `StringDType` exactly as numpy pickles it: a REDUCE of
/// `numpy._core._internal._convert_to_stringdtype_kwargs` (that path only) with `(coerce,)`
/// or `(coerce, na_object)`, `coerce` the int 0 or 1 numpy writes and `na_object` a literal
/// None, bool, int, float or str; no keyword arguments, no BUILD state and no items. The
/// function returns `StringDType(coerce=..., na_object=...)` or raises, and every
/// `StringDType` has `hasobject` set (joblib writes the array as a nested pickle). A BUILD
/// on it fails in numpy (`Cannot unpickle new style DType`), so no later state can change
/// what it is; a BUILD on the function or its module makes the file an error (the machine
/// offers it as possible). Anything else is not laid out.
fn is_string_dtype(value: &Value, dtype: Item) -> bool {
    let Some(Object::Instance(inst)) = value.object(dtype) else {
        return false;
    };
    let named = matches!(
        value.object(inst.callable),
        Some(Object::Global(g)) if g.module == STRING_DTYPE_MODULE && g.name == STRING_DTYPE_MAKER
    );
    if !named
        || inst.kind != CallKind::Reduce
        || inst.kwargs.is_some()
        || !inst.state.is_empty()
        || !inst.list_items.is_empty()
        || !inst.dict_items.is_empty()
        || !inst.set_items.is_empty()
    {
        return false;
    }
    let Some(Object::Tuple(args)) = value.object(inst.args) else {
        return false;
    };
    let literal = |item: Item| match item {
        Item::None | Item::Bool(_) | Item::Int(_) | Item::Float(_) => true,
        Item::Ref(_) => value.as_str(item).is_some(),
    };
    match args.as_slice() {
        [Item::Int(0 | 1)] => true,
        [Item::Int(0 | 1), na] => literal(*na),
        _ => false,
    }
}

/// `(itemsize, hasobject)` of `numpy.dtype(code, False, True)` after its BUILD states, as
/// numpy computes them, or `None` when the scanner cannot be sure. Only what numpy's own
/// pickles hold is read: a code of one type letter and a size (no `'u1,u1'`), states of
/// eight or nine items whose elsize (item 5) counts for flexible types (bytes, str, void),
/// fields and subarrays (items 4 and 2) only on void types, whose field dtypes decide
/// whether it holds objects (a field's *name* never does), and flags (item 7) that agree.
fn dtype_layout(value: &Value, dtype: Item, depth: usize) -> Option<(u64, bool)> {
    if depth > 16 {
        return None;
    }
    let Some(Object::Instance(inst)) = value.object(dtype) else {
        return None;
    };
    match value.object(inst.callable) {
        Some(Object::Global(g))
            if g.name == "dtype" && (g.module == "numpy" || g.module.starts_with("numpy.")) => {}
        _ => return None,
    }
    let Some(Object::Tuple(args)) = value.object(inst.args) else {
        return None;
    };
    let code = value.as_str(*args.first()?)?;
    let letter = code.chars().next()?;
    let digits = &code[letter.len_utf8()..];
    if !letter.is_ascii_alphabetic() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let flexible = matches!(letter, 'S' | 'U' | 'V' | 'a');
    let mut objects = letter == 'O';
    let mut elsize = None;
    // Each BUILD replaces what the one before set: the last state decides.
    for (k, &state) in inst.state.iter().enumerate() {
        let Some(Object::Tuple(items)) = value.object(state) else {
            return None;
        };
        // numpy writes version 3 (8 items) or 4 (9, with metadata). For older versions it
        // recomputes the flags, where any nonzero value means objects: not what the letter
        // says.
        match (items.first(), items.len()) {
            (Some(Item::Int(3)), 8) | (Some(Item::Int(4)), 9) => {}
            _ => return None,
        }
        let last = k + 1 == inst.state.len();
        let mut state_objects = letter == 'O';
        if items[2] != Item::None {
            let Some(Object::Tuple(subarray)) = value.object(items[2]) else {
                return None;
            };
            if !flexible {
                return None;
            }
            state_objects |= dtype_layout(value, *subarray.first()?, depth + 1)?.1;
        }
        if items[4] != Item::None {
            let Some(Object::Dict(fields)) = value.object(items[4]) else {
                return None;
            };
            if !flexible {
                return None;
            }
            for (_, field) in fields {
                let Some(Object::Tuple(field)) = value.object(field) else {
                    return None;
                };
                state_objects |= dtype_layout(value, *field.first()?, depth + 1)?.1;
            }
        }
        // numpy copies the state's flags as given, and `hasobject` (what joblib asks) is
        // their bit 0: it must agree with what the letter and fields say, or the scanner
        // cannot tell raw bytes from a nested pickle.
        match items[7] {
            Item::Int(flags) if (flags & 1 != 0) == state_objects => {}
            _ => return None,
        }
        let state_elsize = match items[5] {
            Item::Int(e) if e >= 0 => e as u64,
            _ if flexible => return None,
            _ => 0,
        };
        if last {
            objects = state_objects;
            if flexible {
                elsize = Some(state_elsize);
            }
        }
    }
    if objects {
        return Some((8, true));
    }
    if let Some(elsize) = elsize {
        return Some((elsize, false));
    }
    let n: u64 = digits.parse().ok()?;
    Some(match letter {
        'U' => (n.checked_mul(4)?, false),
        _ => (n, false),
    })
}

// ---------------------------------------------------------------- zip

struct Local {
    offset: usize,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    name: String,
    data_start: usize,
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn local_header(data: &[u8], offset: usize) -> Option<Local> {
    if data.get(offset..offset + 4)? != b"PK\x03\x04" {
        return None;
    }
    let flags = u16_at(data, offset + 6)?;
    let method = u16_at(data, offset + 8)?;
    let crc = u32_at(data, offset + 14)?;
    let compressed = u32_at(data, offset + 18)? as u64;
    let name_len = u16_at(data, offset + 26)? as usize;
    let extra_len = u16_at(data, offset + 28)? as usize;
    let name = data.get(offset + 30..offset + 30 + name_len)?;
    let data_start = offset + 30 + name_len + extra_len;
    if data_start > data.len() {
        return None;
    }
    Some(Local {
        offset,
        flags,
        method,
        crc,
        compressed,
        name: String::from_utf8_lossy(name).into_owned(),
        data_start,
    })
}

struct Entry {
    name: String,
    local: Local,
    method: u16,
    crc: u32,
    compressed: u64,
    flags: u16,
    central: bool,
}

struct Central {
    name: String,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    header: usize,
}

/// The central directory's entries in order, duplicates included; `None` when there is none
/// this simple reader understands (ZIP64 archives go to the zip crate).
fn central_directory(data: &[u8]) -> Option<Vec<Central>> {
    let search_from = data.len().saturating_sub(22 + 65535);
    let eocd = (search_from..=data.len().checked_sub(22)?)
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))?;
    let count = u16_at(data, eocd + 10)? as usize;
    let size = u32_at(data, eocd + 12)? as usize;
    let mut at = u32_at(data, eocd + 16)? as usize;
    if count == 0xffff || size == 0xffff_ffff || at == 0xffff_ffff {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if data.get(at..at + 4)? != b"PK\x01\x02" {
            return None;
        }
        let flags = u16_at(data, at + 8)?;
        let method = u16_at(data, at + 10)?;
        let crc = u32_at(data, at + 16)?;
        let compressed = u32_at(data, at + 20)?;
        let name_len = u16_at(data, at + 28)? as usize;
        let extra_len = u16_at(data, at + 30)? as usize;
        let comment_len = u16_at(data, at + 32)? as usize;
        let header = u32_at(data, at + 42)?;
        if compressed == 0xffff_ffff || header == 0xffff_ffff {
            return None;
        }
        let name = data.get(at + 46..at + 46 + name_len)?;
        out.push(Central {
            name: String::from_utf8_lossy(name).into_owned(),
            flags,
            method,
            crc,
            compressed: compressed as u64,
            header: header as usize,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(out)
}

/// ZIP64 and other archives the simple reader declines: the zip crate's view (it keeps one
/// entry per name; the local header walk still finds every copy).
fn central_by_zip_crate(ctx: &mut Ctx, data: &[u8], p: &str, entries: &mut Vec<Entry>) {
    match zip::ZipArchive::new(std::io::Cursor::new(data)) {
        Ok(mut archive) => {
            for i in 0..archive.len() {
                let Ok(file) = archive.by_index_raw(i) else {
                    ctx.out
                        .findings
                        .push(format!("{p}zip: central entry {i} unreadable"));
                    continue;
                };
                let header = file.header_start() as usize;
                let name = String::from_utf8_lossy(file.name_raw()).into_owned();
                let method = zip_method_number(file.compression());
                let crc = file.crc32();
                let compressed = file.compressed_size();
                drop(file);
                let Some(local) = local_header(data, header) else {
                    ctx.out.errors.push(format!(
                        "{p}zip: {name}: no local header at offset {header}"
                    ));
                    continue;
                };
                let flags = local.flags;
                entries.push(Entry {
                    name,
                    local,
                    method,
                    crc,
                    compressed,
                    flags,
                    central: true,
                });
            }
        }
        Err(e) => ctx.out.findings.push(format!(
            "{p}zip: central directory unreadable ({e}); local headers scanned"
        )),
    }
}

/// The zip methods read (Python's `zipfile` reads 0, 8, 12 and 14; zstd and xz appear in the wild),
/// by number; any other method is an error.
fn zip_method_name(method: u16) -> Option<&'static str> {
    match method {
        0 => Some("stored"),
        8 => Some("deflate"),
        12 => Some("bzip2"),
        14 => Some("lzma"),
        93 => Some("zstd"),
        95 => Some("xz"),
        _ => None,
    }
}

/// The number of a method the zip crate names (it names only the methods of its enabled features);
/// 0xffff, never read, for any other.
fn zip_method_number(method: zip::CompressionMethod) -> u16 {
    use zip::CompressionMethod as M;
    [
        (M::STORE, 0),
        (M::DEFLATE, 8),
        (M::BZIP2, 12),
        (M::LZMA, 14),
        (M::ZSTD, 93),
        (M::XZ, 95),
    ]
    .into_iter()
    .find(|(m, _)| *m == method)
    .map_or(0xffff, |(_, n)| n)
}

/// A compressed member's data, bounded like every stream.
fn unzip(method: u16, raw: &[u8], options: &ScanOptions) -> Result<Vec<u8>, String> {
    match method {
        8 => deflate(raw, options),
        12 => decompress("bz2", raw, options),
        14 => zip_lzma(raw, options),
        93 => decompress("zstd", raw, options),
        95 => decompress("xz", raw, options),
        m => Err(format!("compression method {m} not supported")),
    }
}

/// Zip's LZMA (method 14): a 2-byte LZMA SDK version, a 2-byte properties size (5), the
/// properties, then raw LZMA1 data. Read as an `.lzma` (alone) stream of unknown size, so the
/// data must end with the end-of-stream marker (as Python's `zipfile` writes it).
fn zip_lzma(raw: &[u8], options: &ScanOptions) -> Result<Vec<u8>, String> {
    let size = u16_at(raw, 2).ok_or("truncated header")?;
    if size != 5 {
        return Err(format!("properties size {size}, not 5"));
    }
    let props = raw.get(4..9).ok_or("truncated properties")?;
    let mut header = [0xffu8; 13];
    header[..5].copy_from_slice(props);
    let stream = xz2::stream::Stream::new_lzma_decoder(u64::MAX).map_err(|e| e.to_string())?;
    bounded(
        xz2::read::XzDecoder::new_stream((&header[..]).chain(&raw[9..]), stream),
        cap(raw.len(), options),
    )
}

fn zip(ctx: &mut Ctx, data: &[u8], member: Option<&str>, depth: usize) {
    let p = prefix(member);
    let mut entries: Vec<Entry> = Vec::new();
    // The central directory, as zipfile and PyTorch read it (duplicates kept).
    match central_directory(data) {
        Some(central) => {
            for c in central {
                let Some(local) = local_header(data, c.header) else {
                    ctx.out.errors.push(format!(
                        "{p}zip: {}: no local header at offset {}",
                        c.name, c.header
                    ));
                    continue;
                };
                let flags = local.flags | c.flags;
                entries.push(Entry {
                    name: c.name,
                    local,
                    method: c.method,
                    crc: c.crc,
                    compressed: c.compressed,
                    flags,
                    central: true,
                });
            }
        }
        None => central_by_zip_crate(ctx, data, &p, &mut entries),
    }
    // Every local header, in file order: a streaming reader sees these.
    let mut offset = 0usize;
    while let Some(local) = local_header(data, offset) {
        let size = if local.compressed == 0 && local.flags & 0x08 != 0 {
            entries
                .iter()
                .find(|e| e.local.offset == offset)
                .map(|e| e.compressed)
                .unwrap_or(0)
        } else {
            local.compressed
        };
        let mut next = local.data_start.saturating_add(size as usize);
        if local.flags & 0x08 != 0 {
            // Data descriptor, with or without its signature.
            next += if data.get(next..next + 4) == Some(b"PK\x07\x08") {
                16
            } else {
                12
            };
        }
        if !entries.iter().any(|e| e.local.offset == offset) {
            ctx.out.findings.push(format!(
                "{p}zip: local header at offset {offset} ({}) is not in the central directory",
                local.name
            ));
            let (method, crc, flags) = (local.method, local.crc, local.flags);
            entries.push(Entry {
                name: local.name.clone(),
                method,
                crc,
                compressed: size,
                flags,
                central: false,
                local,
            });
        }
        if next <= offset || next > data.len() {
            break;
        }
        offset = next;
    }
    let mut seen: Vec<String> = Vec::new();
    for entry in &entries {
        let copies = seen.iter().filter(|n| **n == entry.name).count();
        seen.push(entry.name.clone());
        let mut path = join(member, &entry.name);
        if copies > 0 {
            ctx.out.findings.push(format!(
                "{p}zip: duplicate member name {} (zipfile reads the last copy, PyTorch the first): every copy scanned",
                entry.name
            ));
            path = format!("{path}#{copies}");
        }
        if entry.central && entry.local.name != entry.name {
            ctx.out.findings.push(format!(
                "{p}zip: {}: the local header names it {:?}: scanned by content",
                entry.name, entry.local.name
            ));
        }
        let odd = entry.flags & !(0x08 | 0x800 | 0x02 | 0x04);
        if odd != 0 {
            ctx.out.findings.push(format!(
                "{p}zip: {}: general-purpose flag bits {odd:#06x} set{}",
                entry.name,
                if odd & 1 != 0 {
                    " (encrypted, yet readers that ignore it read plain data)"
                } else {
                    ""
                }
            ));
        }
        let start = entry.local.data_start;
        let Some(raw) = data.get(start..start.saturating_add(entry.compressed as usize)) else {
            ctx.out
                .errors
                .push(format!("{p}zip: {}: data runs past the end", entry.name));
            continue;
        };
        let content = match entry.method {
            0 => std::borrow::Cow::Borrowed(raw),
            m => match zip_method_name(m) {
                Some(method) => match unzip(m, raw, ctx.options) {
                    Ok(d) => std::borrow::Cow::Owned(d),
                    Err(e) => {
                        ctx.out
                            .errors
                            .push(format!("{p}zip: {}: {method}: {e}", entry.name));
                        continue;
                    }
                },
                None => {
                    ctx.out.errors.push(format!(
                        "{p}zip: {}: compression method {m} not supported",
                        entry.name
                    ));
                    continue;
                }
            },
        };
        let crc = crc32fast::hash(&content);
        if crc != entry.crc || (entry.local.crc != entry.crc && entry.local.flags & 0x08 == 0) {
            ctx.out.findings.push(format!(
                "{p}zip: {}: bad CRC (recorded {:08x}, data {crc:08x}): scanned anyway",
                entry.name, entry.crc
            ));
        }
        blob(ctx, &content, Some(&path), depth + 1, false);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::scan::{scan_bytes_report, FileReport, FileVerdict, ScanOptions};

    /// `os.system("echo pwned")`, protocol 2.
    const BAD: &[u8] = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.";
    const NAME: &str = "archive/data.pkl";

    /// A zip of one member whose (compressed) data is `data`.
    fn zip_of(method: u16, data: &[u8], plain: &[u8]) -> Vec<u8> {
        let crc = crc32fast::hash(plain).to_le_bytes();
        let (csize, usize_) = (data.len() as u32, plain.len() as u32);
        let name = NAME.as_bytes();
        let mut out = b"PK\x03\x04".to_vec();
        for v in [20u16, 0, method, 0, 0x21] {
            out.extend(v.to_le_bytes());
        }
        out.extend(crc);
        out.extend(csize.to_le_bytes());
        out.extend(usize_.to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out.extend(name);
        out.extend(data);
        let cd = out.len() as u32;
        out.extend(b"PK\x01\x02");
        for v in [20u16, 20, 0, method, 0, 0x21] {
            out.extend(v.to_le_bytes());
        }
        out.extend(crc);
        out.extend(csize.to_le_bytes());
        out.extend(usize_.to_le_bytes());
        for v in [name.len() as u16, 0, 0, 0, 0] {
            out.extend(v.to_le_bytes());
        }
        out.extend(0u32.to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(name);
        let cd_size = out.len() as u32 - cd;
        out.extend(b"PK\x05\x06");
        for v in [0u16, 0, 1, 1] {
            out.extend(v.to_le_bytes());
        }
        out.extend(cd_size.to_le_bytes());
        out.extend(cd.to_le_bytes());
        out.extend(0u16.to_le_bytes());
        out
    }

    fn report(bytes: &[u8], options: &ScanOptions) -> FileReport {
        scan_bytes_report("test.zip", bytes, options)
    }

    fn assert_refused(report: &FileReport) {
        assert_eq!(report.verdict, FileVerdict::Unsafe, "{report:?}");
        assert!(report.error.is_none(), "{report:?}");
        let refused: Vec<_> = report.refused().collect();
        assert!(
            refused
                .iter()
                .any(|g| g.global.target.to_string() == "os.system"
                    && g.global.member.as_deref() == Some(NAME)),
            "{report:?}"
        );
    }

    fn bzip2(data: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Zip's LZMA member data, as Python's zipfile writes it (end-of-stream marker).
    fn zip_lzma(data: &[u8]) -> Vec<u8> {
        let options = xz2::stream::LzmaOptions::new_preset(6).unwrap();
        let stream = xz2::stream::Stream::new_lzma_encoder(&options).unwrap();
        let mut e = xz2::write::XzEncoder::new_stream(Vec::new(), stream);
        e.write_all(data).unwrap();
        let alone = e.finish().unwrap();
        // .lzma alone: 5 properties bytes, 8 size bytes, the data.
        let mut out = vec![9, 20, 5, 0];
        out.extend(&alone[..5]);
        out.extend(&alone[13..]);
        out
    }

    #[test]
    fn bzip2_member() {
        let zip = zip_of(12, &bzip2(BAD), BAD);
        assert_refused(&report(&zip, &ScanOptions::default()));
    }

    #[test]
    fn lzma_member() {
        let zip = zip_of(14, &zip_lzma(BAD), BAD);
        assert_refused(&report(&zip, &ScanOptions::default()));
    }

    #[test]
    fn zstd_and_xz_members() {
        let zip = zip_of(93, &zstd::encode_all(BAD, 3).unwrap(), BAD);
        assert_refused(&report(&zip, &ScanOptions::default()));
        let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(BAD).unwrap();
        let zip = zip_of(95, &e.finish().unwrap(), BAD);
        assert_refused(&report(&zip, &ScanOptions::default()));
    }

    #[test]
    fn bad_lzma_members_are_errors() {
        let good = zip_lzma(BAD);
        let mut props4 = good.clone();
        props4[2] = 4;
        let cases: [(&[u8], &str); 4] = [
            (&props4, "properties size 4"),
            (&good[..3], "truncated header"),
            (&good[..7], "truncated properties"),
            (&good[..good.len() / 2], ""),
        ];
        for (data, why) in cases {
            let report = report(&zip_of(14, data, BAD), &ScanOptions::default());
            assert_eq!(report.verdict, FileVerdict::Error, "{report:?}");
            let error = report.error.unwrap();
            assert!(
                error.starts_with("zip: archive/data.pkl: lzma: "),
                "{error}"
            );
            assert!(error.contains(why), "{error}");
        }
    }

    #[test]
    fn bombs_are_errors() {
        let options = ScanOptions {
            max_decompressed: 64 << 10,
            ..ScanOptions::default()
        };
        let zeros = vec![0u8; 1 << 20];
        for (method, data) in [(12, bzip2(&zeros)), (14, zip_lzma(&zeros))] {
            let report = report(&zip_of(method, &data, &zeros), &options);
            assert_eq!(report.verdict, FileVerdict::Error, "{report:?}");
            let error = report.error.unwrap();
            assert!(error.contains("decompression bomb"), "{error}");
            assert!(error.starts_with("zip: archive/data.pkl: "), "{error}");
        }
    }

    #[test]
    fn other_methods_are_never_safe() {
        // PPMd (98): not read, so an error even though the data is a plain pickle.
        let report = report(
            &zip_of(98, b"\x80\x02K\x01.", b"\x80\x02K\x01."),
            &Default::default(),
        );
        assert_eq!(report.verdict, FileVerdict::Error, "{report:?}");
        assert_eq!(
            report.error.as_deref(),
            Some("zip: archive/data.pkl: compression method 98 not supported")
        );
    }
}

/// joblib files built to make a scanner skip the wrong number of bytes after a wrapper's BUILD:
/// the five "array" bytes are `T` and a length, so that a plain reading takes the payload that
/// follows for a BINSTRING, while joblib reads five bytes and runs the payload.
#[cfg(test)]
mod joblib_layout_tests {
    use crate::scan::{scan_bytes_report, FileReport, FileVerdict, ScanOptions};

    /// `os.system("echo pwned")` and POP: what joblib runs after the array.
    const PAYLOAD: &[u8] = b"cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R0";
    const WRAPPER: &[u8] = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n";

    fn s(text: &str) -> Vec<u8> {
        let mut out = b"X".to_vec();
        out.extend((text.len() as u32).to_le_bytes());
        out.extend(text.as_bytes());
        out
    }

    /// `numpy.dtype(code, False, True)`, with a BUILD of `state` if given.
    fn dtype(code: &str, state: Option<&[u8]>) -> Vec<u8> {
        let mut out = b"cnumpy\ndtype\n".to_vec();
        out.extend(s(code));
        out.extend(b"\x89\x88\x87R");
        if let Some(state) = state {
            out.extend(state);
            out.push(b'b');
        }
        out
    }

    fn dict(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"}(".to_vec();
        for (key, value) in entries {
            out.extend(s(key));
            out.extend(value);
        }
        out.push(b'u');
        out
    }

    /// The usual state of a wrapper of five `uint8`, with `extra` entries.
    fn state(shape: &[u8], dtype: Vec<u8>, extra: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut entries = vec![
            ("subclass", b"cnumpy\nndarray\n".to_vec()),
            ("shape", shape.to_vec()),
            ("order", s("C")),
            ("dtype", dtype),
            ("allow_mmap", b"\x89".to_vec()),
        ];
        entries.extend(extra.iter().cloned());
        dict(&entries)
    }

    /// A file: the wrapper made by `make`, BUILD of `state`, `array` bytes, the payload.
    fn joblib(make: &[u8], state: &[u8], array: &[u8]) -> Vec<u8> {
        let mut out = b"\x80\x02".to_vec();
        out.extend(make);
        out.extend(state);
        out.push(b'b');
        out.extend(array);
        out.extend(PAYLOAD);
        out.push(b'.');
        out
    }

    /// Five bytes that hide the payload from a plain reading.
    fn hiding() -> Vec<u8> {
        let mut out = b"T".to_vec();
        out.extend((PAYLOAD.len() as u32).to_le_bytes());
        out
    }

    fn newobj() -> Vec<u8> {
        let mut out = WRAPPER.to_vec();
        out.extend(b")\x81");
        out
    }

    fn assert_payload_found(bytes: &[u8]) -> FileReport {
        let report = scan_bytes_report("x.joblib", bytes, &ScanOptions::default());
        assert_eq!(report.verdict, FileVerdict::Unsafe, "{report:#?}");
        assert!(
            report
                .refused()
                .any(|g| g.global.target.to_string() == "os.system"),
            "{report:#?}"
        );
        report
    }

    #[test]
    fn the_plain_layout_is_followed() {
        let file = joblib(
            &newobj(),
            &state(b"K\x05\x85", dtype("u1", None), &[]),
            &hiding(),
        );
        assert_payload_found(&file);
    }

    #[test]
    fn a_wrapper_made_by_calling_the_class_takes_its_init_arguments() {
        // NumpyArrayWrapper(ndarray, (5,), 'C', dtype('u1'), False) then BUILD {}: the
        // alignment left to `__init__`'s default (16) means a padding-length byte comes first.
        let called = |last: &[u8]| {
            let mut make = WRAPPER.to_vec();
            make.push(b'(');
            make.extend(b"cnumpy\nndarray\nK\x05\x85");
            make.extend(s("C"));
            make.extend(dtype("u1", None));
            make.extend(last);
            make
        };
        let mut array = vec![0u8];
        array.extend(hiding());
        assert_payload_found(&joblib(&called(b"\x89tR"), b"}", &array));
        // With alignment None as the sixth argument, no padding byte.
        assert_payload_found(&joblib(&called(b"\x89NtR"), b"}", &hiding()));
    }

    #[test]
    fn the_size_of_a_fixed_dtype_ignores_the_elsize_of_its_state() {
        // numpy keeps itemsize 1 for 'u1' whatever elsize (3 here) the state says.
        let dtype_state = b"(K\x03X\x01\x00\x00\x00|NNNK\x03K\x01K\x00t";
        let file = joblib(
            &newobj(),
            &state(b"K\x05\x85", dtype("u1", Some(dtype_state)), &[]),
            &hiding(),
        );
        assert_payload_found(&file);
    }

    #[test]
    fn the_class_reached_through_copyreg_or_a_split_dotted_name_is_watched() {
        let mut through_copyreg = b"ccopyreg\n__newobj__\n".to_vec();
        through_copyreg.extend(WRAPPER);
        through_copyreg.extend(b"\x85R");
        let st = state(b"K\x05\x85", dtype("u1", None), &[]);
        assert_payload_found(&joblib(&through_copyreg, &st, &hiding()));

        // Protocol 4: STACK_GLOBAL('joblib', 'numpy_pickle.NumpyArrayWrapper').
        let mut split = b"\x8c\x06joblib\x8c\x1enumpy_pickle.NumpyArrayWrapper\x93".to_vec();
        split.extend(b")\x81");
        let mut file = joblib(&split, &st, &hiding());
        file[1] = 4;
        assert_payload_found(&file);

        // Through another module holding joblib as an attribute (protocol 4 walks the path).
        let mut alias =
            b"\x8c\x15sklearn.utils._joblib\x8c%joblib.numpy_pickle.NumpyArrayWrapper\x93".to_vec();
        alias.extend(b")\x81");
        let mut file = joblib(&alias, &st, &hiding());
        file[1] = 4;
        assert_payload_found(&file);
    }

    #[test]
    fn shapes_alignment_and_state_pairs_as_joblib_reads_them() {
        // A bool dimension counts as 0 or 1.
        let file = joblib(
            &newobj(),
            &state(b"\x88K\x05\x86", dtype("u1", None), &[]),
            &hiding(),
        );
        assert_payload_found(&file);
        // Any alignment other than None means a padding-length byte (0 here) comes first.
        let st = state(
            b"K\x05\x85",
            dtype("u1", None),
            &[("numpy_array_alignment_bytes", s("x"))],
        );
        let mut array = vec![0u8];
        array.extend(hiding());
        assert_payload_found(&joblib(&newobj(), &st, &array));
        // A (state, slotstate) pair.
        let mut pair = state(b"K\x05\x85", dtype("u1", None), &[]);
        pair.extend(b"N\x86");
        assert_payload_found(&joblib(&newobj(), &pair, &hiding()));
    }

    /// joblib reads an array after the BUILD of whatever is a wrapper when the BUILD runs. A
    /// function that returns an unbuilt wrapper it is given (`copy.copy` here) hides the class
    /// from a scanner that looks at what is called.
    #[test]
    fn a_wrapper_returned_by_a_call_is_never_safe() {
        let st = state(b"K\x05\x85", dtype("u1", None), &[]);
        // copy.copy(NumpyArrayWrapper.__new__(...)), then BUILD.
        let mut copied = b"ccopy\ncopy\n".to_vec();
        copied.extend(newobj());
        copied.extend(b"\x85R");
        assert_not_safe_as_possible_wrapper(&joblib(&copied, &st, &hiding()));

        // A wrapper (memo 0), `steps` with `S` standing for the wrapper's state, then a
        // BUILD of what is on top with that state, hidden bytes and the payload.
        let with_steps = |steps: &[&[u8]]| {
            let mut file = b"\x80\x02".to_vec();
            file.extend(newobj());
            file.extend(b"q\x00");
            for &step in steps {
                file.extend(if step == b"S" { &st[..] } else { step });
            }
            file.extend(&st);
            file.push(b'b');
            file.extend(hiding());
            file.extend(PAYLOAD);
            file.push(b'.');
            file
        };
        // The same copy made while the wrapper was unbuilt, built after the wrapper itself:
        // c = copy.copy(w) (memo 1); BUILD w, its array; POP; BUILD c.
        assert_not_safe_as_possible_wrapper(&with_steps(&[
            b"ccopy\ncopy\nh\x00\x85Rq\x010h\x00",
            b"S",
            b"b\x01\x02\x03\x04\x050h\x01",
        ]));
        // A wrapper read back from the memo after its BUILD is still the wrapper (joblib puts
        // the array on the stack, not in the memo): BUILD w, its array, POP; copy.copy(w).
        assert_not_safe_as_possible_wrapper(&with_steps(&[
            b"S",
            b"b\x01\x02\x03\x04\x050ccopy\ncopy\nh\x00\x85R",
        ]));

        // object.__new__(NumpyArrayWrapper): the class given to some other callable.
        let mut made = b"cbuiltins\nobject.__new__\n".to_vec();
        made.extend(WRAPPER);
        made.extend(b"\x85R");
        let mut file = joblib(&made, &st, &hiding());
        file[1] = 4;
        assert_not_safe_as_possible_wrapper(&file);
    }

    fn assert_not_safe_as_possible_wrapper(file: &[u8]) {
        assert_not_safe_because(file, "may be a NumpyArrayWrapper");
    }

    /// The file is not safe, and the scanner's error says `why`.
    fn assert_not_safe_because(file: &[u8], why: &str) {
        let report = scan_bytes_report("x.joblib", file, &ScanOptions::default());
        assert_ne!(report.verdict, FileVerdict::Safe, "{report:#?}");
        assert!(
            report.error.as_deref().is_some_and(|e| e.contains(why)),
            "{report:#?}"
        );
    }

    #[test]
    fn a_wrapper_the_scanner_cannot_lay_out_is_never_safe() {
        // No shape at all: joblib fails, the scanner cannot know; either way not safe.
        let st = dict(&[("dtype", dtype("u1", None))]);
        let mut file = b"\x80\x02".to_vec();
        file.extend(newobj());
        file.extend(st);
        file.extend(b"b.");
        assert_not_safe_because(&file, "cannot tell the size of the array");
    }
}
