//! Decodes a pickle into opcodes and their arguments, exactly as CPython's C unpickler
//! (`Modules/_pickle.c`, 3.11) reads them, without running anything.
//!
//! Byte payloads (bytes, bytearray, UTF-8 str, Python 2 str without escapes) are borrowed slices
//! of the input: the reader never copies them and never allocates from a length field (a length
//! is checked against the bytes actually present first). Arguments CPython rejects are errors
//! with the offset of their opcode; so is an unknown opcode byte and a stream cut short.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;

use num_bigint::BigInt;

use crate::opcodes::{ArgKind, Op, BY_BYTE};

/// A decoded argument. Which variant an opcode gets is fixed by the opcode.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg<'a> {
    /// No argument.
    None,
    /// An int that fits in an `i64`: BININT*, INT, LONG, LONG1/4 up to 8 bytes, memo indices,
    /// EXT codes, PROTO, FRAME lengths.
    Int(i64),
    /// INT's `00`/`01` (and anything `strtol` reads as 0 or 1 in a two-character line).
    Bool(bool),
    /// An int written in decimal (INT, LONG) that does not fit in an `i64`.
    BigInt(Box<BigInt>),
    /// LONG1/LONG4 payloads longer than 8 bytes: little-endian two's complement, converted
    /// only when a value is built ([`Arg::long_to_bigint`]).
    Long(&'a [u8]),
    Float(f64),
    /// A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING) as bytes: the loader decodes it
    /// with its `encoding` (ASCII by default). Borrowed unless STRING had escapes.
    String(Cow<'a, [u8]>),
    /// BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8: the payload, borrowed.
    Bytes(&'a [u8]),
    /// A `str`. `lossy` when it held lone surrogates (CPython allows them in BINUNICODE via
    /// `surrogatepass` and in UNICODE via `\ud800` escapes; Rust strings cannot), which are
    /// replaced by U+FFFD here.
    Str {
        text: Cow<'a, str>,
        lossy: bool,
    },
    /// GLOBAL and INST: the two lines, as written (no `fix_imports` yet).
    Global {
        module: &'a str,
        name: &'a str,
    },
    /// PERSID's ASCII line.
    PersId(&'a str),
}

impl Arg<'_> {
    /// A LONG1/LONG4 payload as an integer.
    pub fn long_to_bigint(bytes: &[u8]) -> BigInt {
        BigInt::from_signed_bytes_le(bytes)
    }
}

/// One opcode of the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Instruction<'a> {
    /// Offset of the opcode byte from the start of the slice read.
    pub offset: u64,
    pub op: Op,
    pub arg: Arg<'a>,
    /// Offset just past the argument.
    pub end: u64,
}

/// Why the stream cannot be read further.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The data ends inside an opcode's argument.
    Truncated,
    /// A byte that is no opcode where an opcode was expected.
    UnknownOpcode(u8),
    /// An argument CPython rejects.
    BadArgument(String),
}

/// A stream error and the offset of the opcode it happened at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    pub offset: u64,
    /// The opcode being read, when the byte was one.
    pub op: Option<Op>,
    pub kind: ReadErrorKind,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, self.op) {
            (ReadErrorKind::Truncated, Some(op)) => {
                write!(f, "pickle data was truncated in the argument of {op}")
            }
            (ReadErrorKind::Truncated, None) => write!(f, "pickle data was truncated"),
            (ReadErrorKind::UnknownOpcode(b), _) => {
                write!(f, "invalid load key {}", byte_repr(*b))
            }
            (ReadErrorKind::BadArgument(m), Some(op)) => write!(f, "bad argument of {op}: {m}"),
            (ReadErrorKind::BadArgument(m), None) => write!(f, "bad argument: {m}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// `'c'` for printable ASCII, `'\xNN'` otherwise (as CPython's "invalid load key" message).
pub(crate) fn byte_repr(b: u8) -> String {
    if (0x20..=0x7e).contains(&b) && b != b'\'' && b != b'\\' {
        format!("'{}'", b as char)
    } else {
        format!("'\\x{b:02x}'")
    }
}

/// Iterates over the opcodes of a byte slice. Stops after the first error; keeps going after
/// STOP (stacked pickles), so callers that want one pickle stop at STOP themselves.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            failed: false,
        }
    }

    /// A reader that starts at `pos` (offsets stay relative to the start of `data`).
    pub fn at(data: &'a [u8], pos: usize) -> Self {
        Reader {
            data,
            pos: pos.min(data.len()),
            failed: false,
        }
    }

    /// Offset of the next opcode.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Whether every byte has been read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next opcode, `Ok(None)` at the end of the data.
    #[inline]
    pub fn read(&mut self) -> Result<Option<Instruction<'a>>, ReadError> {
        self.read_with(|ins| ins)
    }

    /// Reads the next opcode and hands it to `f` (`Ok(None)` at the end of the data). The
    /// machine's loop uses this form: the argument goes from decoder to consumer without a
    /// round trip through memory.
    #[inline(always)]
    pub fn read_with<R>(
        &mut self,
        f: impl FnOnce(Instruction<'a>) -> R,
    ) -> Result<Option<R>, ReadError> {
        let start = self.pos;
        let Some(&byte) = self.data.get(start) else {
            return Ok(None);
        };
        let Some(info) = BY_BYTE[byte as usize] else {
            return Err(ReadError {
                offset: start as u64,
                op: None,
                kind: ReadErrorKind::UnknownOpcode(byte),
            });
        };
        let op = info.op;
        let mut pos = start + 1;
        let arg = match decode_arg(op, self.data, &mut pos) {
            Ok(arg) => arg,
            Err(e) => return Err(e.at(start, op)),
        };
        self.pos = pos;
        Ok(Some(f(Instruction {
            offset: start as u64,
            op,
            arg,
            end: pos as u64,
        })))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Instruction<'a>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.read() {
            Ok(Some(i)) => Some(Ok(i)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Maps a file read-only. The reader takes the map as a byte slice, so payloads stay in the
/// page cache and are never copied.
pub fn map_file(path: impl AsRef<Path>) -> io::Result<MappedFile> {
    MappedFile::map(&File::open(path)?)
}

/// A file mapped read-only whose pages can be handed back to the system once read
/// ([`MappedFile::release_before`]), for loads that keep nothing borrowed from their input
/// ([`crate::load_passing`]): such a load holds a window of the file, not all of it.
pub struct MappedFile {
    map: memmap2::Mmap,
    /// The pages before this offset have been let go.
    released: std::cell::Cell<usize>,
}

impl MappedFile {
    /// Maps `file`.
    pub fn map(file: &File) -> io::Result<MappedFile> {
        // SAFETY: the map is read-only; like every reader of a mapped file we rely on nobody
        // truncating the file while it is mapped (a concurrent truncation would fault, not
        // corrupt).
        let map = unsafe { memmap2::Mmap::map(file) }?;
        Ok(MappedFile {
            map,
            released: std::cell::Cell::new(0),
        })
    }

    /// Lets the system take back the whole pages before `offset` (in units of 64 KiB, a
    /// multiple of every page size pypickle runs on): they leave this process's memory, and
    /// are read from the file again if anything touches them.
    pub fn release_before(&self, offset: usize) {
        const UNIT: usize = 64 * 1024;
        let end = offset.min(self.map.len()) / UNIT * UNIT;
        let start = self.released.get();
        if end > start {
            release_pages(&self.map, start, end);
            self.released.set(end);
        }
    }
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

#[cfg(unix)]
fn release_pages(map: &memmap2::Mmap, start: usize, end: usize) {
    // SAFETY: MADV_DONTNEED on a read-only shared file mapping drops the pages from this
    // process without changing what they hold: the next read faults them in again from the
    // page cache or the file. Nothing is ever written through the map, so whatever a borrow
    // of it reads stays the file's bytes. A failure only means the pages stay.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
    };
}

#[cfg(not(unix))]
fn release_pages(_map: &memmap2::Mmap, _start: usize, _end: usize) {}

/// Decodes the argument of `op`, which starts at `*pos`, and moves `*pos` past it.
#[inline(always)]
pub(crate) fn decode_arg<'a>(op: Op, data: &'a [u8], pos: &mut usize) -> Result<Arg<'a>, ArgError> {
    let mut cur = Cursor { data, pos: *pos };
    let arg = read_arg(op, op.arg(), &mut cur)?;
    *pos = cur.pos;
    Ok(arg)
}

/// What went wrong in an argument; made into a [`ReadError`] (with the opcode and offset)
/// off the hot path.
pub(crate) enum ArgError {
    Truncated,
    Bad(Box<str>),
}

impl ArgError {
    #[cold]
    pub(crate) fn at(self, offset: usize, op: Op) -> ReadError {
        ReadError {
            offset: offset as u64,
            op: Some(op),
            kind: match self {
                ArgError::Truncated => ReadErrorKind::Truncated,
                ArgError::Bad(m) => ReadErrorKind::BadArgument(m.into()),
            },
        }
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], ArgError> {
        let rest = &self.data[self.pos..];
        if n > rest.len() {
            return Err(ArgError::Truncated);
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ArgError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// A line without its `\n`; a missing `\n` is truncation, as in `_Unpickler_Readline`.
    #[inline]
    fn line(&mut self) -> Result<&'a [u8], ArgError> {
        let rest = &self.data[self.pos..];
        match memchr::memchr(b'\n', rest) {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => Err(ArgError::Truncated),
        }
    }

    /// A length field of `n` bytes followed by that many bytes.
    #[inline]
    fn counted(&mut self, n: usize) -> Result<&'a [u8], ArgError> {
        let len = le_size(self.take(n)?)?;
        if len > (self.data.len() - self.pos) as u64 {
            return Err(ArgError::Truncated);
        }
        self.take(len as usize)
    }
}

/// An unsigned little-endian length (`calc_binsize`): more than `isize::MAX` is an error.
#[inline]
fn le_size(bytes: &[u8]) -> Result<u64, ArgError> {
    let mut x: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        x |= (b as u64) << (8 * i);
    }
    if x > i64::MAX as u64 {
        return Err(bad(format!("length {x} exceeds the maximum size")));
    }
    Ok(x)
}

#[cold]
fn bad(message: impl Into<String>) -> ArgError {
    ArgError::Bad(message.into().into_boxed_str())
}

#[inline(always)]
fn read_arg<'a>(op: Op, kind: ArgKind, cur: &mut Cursor<'a>) -> Result<Arg<'a>, ArgError> {
    Ok(match kind {
        ArgKind::None => Arg::None,
        ArgKind::Uint1 | ArgKind::Uint2 | ArgKind::Int4 | ArgKind::Uint4 | ArgKind::Uint8 => {
            Arg::Int(fixed_int(op, kind, cur)?)
        }
        ArgKind::DecimalNlShort => {
            let line = cur.line()?;
            match op {
                Op::Int => match parse_int_line(line) {
                    Some(IntValue::Bool(b)) => Arg::Bool(b),
                    Some(IntValue::Small(v)) => Arg::Int(v),
                    Some(IntValue::Big(v)) => Arg::BigInt(Box::new(v)),
                    None => return Err(bad("could not convert string to int")),
                },
                // GET and PUT: `PyLong_FromString(s, NULL, 10)` then `PyLong_AsSsize_t`.
                _ => {
                    if line.is_empty() {
                        return Err(ArgError::Truncated);
                    }
                    let v = match py_long_from_string(c_string(line), 10) {
                        Some(IntValue::Small(v)) => v,
                        // The C unpickler fails here (no C ssize_t); Python's takes any int
                        // as a memo key, and the scanner must read on as it does.
                        Some(IntValue::Big(v)) => {
                            if op == Op::Put && v.sign() == num_bigint::Sign::Minus {
                                return Err(bad("negative PUT argument"));
                            }
                            return Ok(Arg::BigInt(Box::new(v)));
                        }
                        Some(IntValue::Bool(b)) => i64::from(b), // never: only INT makes bools
                        None => {
                            return Err(bad(format!(
                                "invalid literal for int() with base 10: {}",
                                bytes_repr(line)
                            )))
                        }
                    };
                    if op == Op::Put && v < 0 {
                        return Err(bad("negative PUT argument"));
                    }
                    Arg::Int(v)
                }
            }
        }
        ArgKind::DecimalNlLong => {
            let line = cur.line()?;
            if line.is_empty() {
                return Err(ArgError::Truncated);
            }
            let digits = line.strip_suffix(b"L").unwrap_or(line);
            match py_long_from_string(c_string(digits), 0) {
                Some(IntValue::Small(v)) => Arg::Int(v),
                Some(IntValue::Big(v)) => Arg::BigInt(Box::new(v)),
                Some(IntValue::Bool(b)) => Arg::Bool(b), // never: only INT makes bools
                None => {
                    return Err(bad(format!(
                        "invalid literal for int() with base 0: {}",
                        bytes_repr(digits)
                    )))
                }
            }
        }
        ArgKind::FloatNl => {
            let line = cur.line()?;
            if line.is_empty() {
                return Err(ArgError::Truncated);
            }
            Arg::Float(parse_float_line(line).map_err(bad)?)
        }
        ArgKind::Float8 => Arg::Float(f64::from_be_bytes(cur.fixed()?)),
        ArgKind::StringNl => Arg::String(decode_string_literal(cur.line()?).map_err(bad)?),
        ArgKind::String1 => Arg::String(Cow::Borrowed(cur.counted(1)?)),
        ArgKind::String4 => Arg::String(Cow::Borrowed(cur.counted(4)?)),
        ArgKind::Bytes1 => Arg::Bytes(cur.counted(1)?),
        ArgKind::Bytes4 => Arg::Bytes(cur.counted(4)?),
        ArgKind::Bytes8 | ArgKind::ByteArray8 => Arg::Bytes(cur.counted(8)?),
        ArgKind::UnicodeStringNl => {
            let (text, lossy) = decode_raw_unicode_escape(cur.line()?).map_err(bad)?;
            Arg::Str { text, lossy }
        }
        ArgKind::UnicodeString1 => utf8_arg(cur.counted(1)?)?,
        ArgKind::UnicodeString4 => utf8_arg(cur.counted(4)?)?,
        ArgKind::UnicodeString8 => utf8_arg(cur.counted(8)?)?,
        ArgKind::Long1 | ArgKind::Long4 => {
            let n = if kind == ArgKind::Long1 {
                cur.fixed::<1>()?[0] as i64
            } else {
                i32::from_le_bytes(cur.fixed()?) as i64
            };
            if n < 0 {
                return Err(bad("LONG pickle has negative byte count"));
            }
            let bytes = cur.take(n as usize)?;
            match long_to_i64(bytes) {
                Some(v) => Arg::Int(v),
                None => Arg::Long(bytes),
            }
        }
        ArgKind::StringNlNoEscape => {
            // PERSID: `PyUnicode_DecodeASCII(s, len - 1, "strict")`.
            let line = cur.line()?;
            match std::str::from_utf8(line) {
                Ok(s) if s.is_ascii() => Arg::PersId(s),
                _ => return Err(bad("persistent IDs in protocol 0 must be ASCII strings")),
            }
        }
        ArgKind::StringNlNoEscapePair => {
            // GLOBAL decodes both lines as strict UTF-8, INST as strict ASCII; an empty line
            // is "pickle data was truncated" in both.
            let module = cur.line()?;
            if module.is_empty() {
                return Err(ArgError::Truncated);
            }
            let name = cur.line()?;
            if name.is_empty() {
                return Err(ArgError::Truncated);
            }
            let decode = |line: &'a [u8]| -> Result<&'a str, ArgError> {
                match std::str::from_utf8(line) {
                    Ok(s) if op != Op::Inst || s.is_ascii() => Ok(s),
                    _ => Err(bad(format!(
                        "{} is not {}",
                        bytes_repr(line),
                        if op == Op::Inst { "ASCII" } else { "UTF-8" }
                    ))),
                }
            };
            Arg::Global {
                module: decode(module)?,
                name: decode(name)?,
            }
        }
    })
}

/// A fixed-width integer argument, with the checks CPython makes of it.
#[inline(always)]
fn fixed_int(op: Op, kind: ArgKind, cur: &mut Cursor<'_>) -> Result<i64, ArgError> {
    let v = match kind {
        ArgKind::Uint1 => cur.fixed::<1>()?[0] as i64,
        ArgKind::Uint2 => u16::from_le_bytes(cur.fixed()?) as i64,
        ArgKind::Int4 => i32::from_le_bytes(cur.fixed()?) as i64,
        ArgKind::Uint4 => u32::from_le_bytes(cur.fixed()?) as i64,
        _ => le_size(&cur.fixed::<8>()?)? as i64,
    };
    match op {
        Op::Proto if v > 5 => Err(bad(format!("unsupported pickle protocol: {v}"))),
        Op::Ext1 | Op::Ext2 | Op::Ext4 if v <= 0 => Err(bad("EXT specifies code <= 0")),
        _ => Ok(v),
    }
}

/// The argument of an opcode whose argument is an integer that fits in an `i64` (fixed-width
/// ones, memo indices): like [`decode_arg`], without building an [`Arg`].
#[inline(always)]
pub(crate) fn decode_int(op: Op, data: &[u8], pos: &mut usize) -> Result<i64, ArgError> {
    let kind = op.arg();
    match kind {
        ArgKind::Uint1 | ArgKind::Uint2 | ArgKind::Int4 | ArgKind::Uint4 | ArgKind::Uint8 => {
            let mut cur = Cursor { data, pos: *pos };
            let v = fixed_int(op, kind, &mut cur)?;
            *pos = cur.pos;
            Ok(v)
        }
        _ => match decode_arg(op, data, pos)? {
            Arg::Int(v) => Ok(v),
            _ => Err(bad("not an int")),
        },
    }
}

/// The argument of a str opcode written with a length (SHORT_BINUNICODE, BINUNICODE,
/// BINUNICODE8) when it is plain UTF-8: like [`decode_arg`], without building an [`Arg`].
/// `Ok(None)` when it is not plain UTF-8 (lone surrogates, or bytes no decoder takes): then
/// [`decode_arg`] decodes it or says what is wrong.
#[inline(always)]
pub(crate) fn decode_utf8<'a>(
    op: Op,
    data: &'a [u8],
    pos: &mut usize,
) -> Result<Option<&'a str>, ArgError> {
    let mut cur = Cursor { data, pos: *pos };
    let bytes = match op.arg() {
        ArgKind::UnicodeString1 => cur.counted(1)?,
        ArgKind::UnicodeString4 => cur.counted(4)?,
        ArgKind::UnicodeString8 => cur.counted(8)?,
        _ => return Err(bad("not a counted str")),
    };
    let text = match decode_utf8_surrogatepass(bytes) {
        Ok((Cow::Borrowed(text), false)) => text,
        _ => return Ok(None),
    };
    *pos = cur.pos;
    Ok(Some(text))
}

/// The argument of BINFLOAT: like [`decode_arg`], without building an [`Arg`].
#[inline(always)]
pub(crate) fn decode_float8(op: Op, data: &[u8], pos: &mut usize) -> Result<f64, ArgError> {
    let mut cur = Cursor { data, pos: *pos };
    let v = match op.arg() {
        ArgKind::Float8 => f64::from_be_bytes(cur.fixed()?),
        _ => return Err(bad("not an 8-byte float")),
    };
    *pos = cur.pos;
    Ok(v)
}

#[inline]
fn utf8_arg(bytes: &[u8]) -> Result<Arg<'_>, ArgError> {
    let (text, lossy) = decode_utf8_surrogatepass(bytes).map_err(bad)?;
    Ok(Arg::Str { text, lossy })
}

/// A little-endian two's complement integer of at most 8 bytes.
fn long_to_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > 8 {
        // Longer encodings can still hold a small value (sign-extension bytes).
        let (low, high) = bytes.split_at(8);
        let negative = low[7] & 0x80 != 0;
        let fill = if negative { 0xff } else { 0 };
        if high.iter().all(|&b| b == fill) {
            return long_to_i64(low);
        }
        return None;
    }
    if bytes.is_empty() {
        return Some(0);
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    Some(i64::from_le_bytes(buf))
}

/// An integer argument's value.
#[derive(Clone, Debug, PartialEq)]
pub enum IntValue {
    Bool(bool),
    Small(i64),
    Big(BigInt),
}

/// The part of a line a C string function sees: up to the first NUL.
fn c_string(line: &[u8]) -> &[u8] {
    match memchr::memchr(0, line) {
        Some(i) => &line[..i],
        None => line,
    }
}

/// C's `isspace` in the C locale (which `strtol` and `Py_ISSPACE` agree on).
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// INT's argument, as `load_int`: `strtol(s, &end, 0)` first, accepted when it ends at the
/// newline or a NUL; otherwise `PyLong_FromString(s, NULL, 0)`. A line of two characters whose
/// `strtol` value is 0 or 1 is a bool (`00`, `01`, but also ` 1`, `+0`, `1\0`).
/// `line` excludes the newline. `None` when CPython raises.
pub fn parse_int_line(line: &[u8]) -> Option<IntValue> {
    if line.is_empty() {
        return None; // `len < 2`: CPython says truncated; the caller reports it as bad.
    }
    if let Some((value, end)) = c_strtol(line) {
        // `end` is where strtol stopped: the newline (the end of `line`) or a NUL inside it.
        if end == line.len() || line[end] == 0 {
            if line.len() == 2 && (value == 0 || value == 1) {
                return Some(IntValue::Bool(value == 1));
            }
            return Some(IntValue::Small(value));
        }
    }
    // The C string CPython passes includes the newline, which counts as trailing whitespace.
    py_long_from_string(c_string(line), 0)
}

/// glibc's `strtol(s, &end, 0)` on the line followed by `\n\0`: `None` on overflow (ERANGE),
/// else the value and where parsing stopped (0 when there were no digits).
fn c_strtol(s: &[u8]) -> Option<(i64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(b'\n');
    let mut i = 0;
    // Leading white space; the newline terminator is white space too, then the NUL.
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    if i == s.len() {
        return Some((0, 0));
    }
    let negative = match s[i] {
        b'-' => {
            i += 1;
            true
        }
        b'+' => {
            i += 1;
            false
        }
        _ => false,
    };
    let base: u32 = if at(i) == b'0' && (at(i + 1) | 0x20) == b'x' && at(i + 2).is_ascii_hexdigit()
    {
        i += 2;
        16
    } else if at(i) == b'0' {
        8
    } else {
        10
    };
    let digits_start = i;
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while i < s.len() {
        let Some(d) = (s[i] as char).to_digit(base) else {
            break;
        };
        match magnitude
            .checked_mul(base as u64)
            .and_then(|m| m.checked_add(d as u64))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start {
        return Some((0, 0));
    }
    let limit = if negative {
        i64::MAX as u64 + 1
    } else {
        i64::MAX as u64
    };
    if overflow || magnitude > limit {
        return None;
    }
    let value = if negative {
        (magnitude as i64).wrapping_neg()
    } else {
        magnitude as i64
    };
    Some((value, i))
}

/// Python's `PyLong_FromString(s, NULL, base)` for base 0 or 10 (3.11): white space around,
/// a sign, `0x`/`0o`/`0b` prefixes (base 0), single underscores between digits, old-style
/// `010` refused (base 0; zeros allowed), at most 4300 decimal digits
/// (`sys.int_info.default_max_str_digits`). `s` is already cut at the first NUL.
pub fn py_long_from_string(s: &[u8], base: u32) -> Option<IntValue> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let negative = match at(i) {
        b'-' => {
            i += 1;
            true
        }
        b'+' => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut base = base;
    let mut zero_only = false;
    if base == 0 {
        base = if at(i) != b'0' {
            10
        } else {
            match at(i + 1) | 0x20 {
                b'x' => 16,
                b'o' => 8,
                b'b' => 2,
                _ => {
                    zero_only = true;
                    10
                }
            }
        };
        if base != 10 {
            i += 2;
            if at(i) == b'_' {
                i += 1;
            }
        }
    }
    if at(i) == b'_' {
        return None;
    }
    let start = i;
    let mut digits = Vec::new();
    let mut prev_underscore = false;
    while i < s.len() {
        let c = s[i];
        if c == b'_' {
            if prev_underscore {
                return None;
            }
            prev_underscore = true;
        } else if let Some(d) = (c as char).to_digit(base) {
            digits.push(d as u8);
            prev_underscore = false;
        } else {
            break;
        }
        i += 1;
    }
    if prev_underscore || i == start || digits.is_empty() {
        return None;
    }
    if base == 10 && digits.len() > 4300 {
        return None;
    }
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    if i != s.len() {
        return None;
    }
    if zero_only && digits.iter().any(|&d| d != 0) {
        return None;
    }
    // Small values without a big-integer detour.
    let mut small: Option<u64> = Some(0);
    for &d in &digits {
        small = small
            .and_then(|m| m.checked_mul(base as u64))
            .and_then(|m| m.checked_add(d as u64));
    }
    if let Some(m) = small {
        if !negative && m <= i64::MAX as u64 {
            return Some(IntValue::Small(m as i64));
        }
        if negative && m <= i64::MAX as u64 + 1 {
            return Some(IntValue::Small((m as i64).wrapping_neg()));
        }
    }
    let sign = if negative {
        num_bigint::Sign::Minus
    } else {
        num_bigint::Sign::Plus
    };
    BigInt::from_radix_be(sign, &digits, base).map(IntValue::Big)
}

/// FLOAT's argument as either unpickler reads it, so that no file one of them loads is refused
/// here (the scanner must never be stricter than the loader a user picks):
/// - the C unpickler: `PyOS_string_to_double(s, &end, OverflowError)` ending at the newline or
///   a NUL: a bare literal, no white space or underscores, overflow an error;
/// - the pure-Python one (`pickle._Unpickler`, under joblib): `float(line)` on bytes, which
///   also strips ASCII white space at both ends, takes PEP 515 underscores and overflows to
///   ±inf, but refuses any NUL.
///
/// Where both accept they give the same value, so the union is: a line with a NUL is read the C
/// way (only C takes it), any other the Python way (which takes all C does, and more).
pub fn parse_float_line(line: &[u8]) -> Result<f64, String> {
    match memchr::memchr(0, line) {
        Some(nul) => c_float(&line[..nul]),
        None => py_float(line),
    }
    .ok_or_else(|| format!("could not convert string to float: {}", bytes_repr(line)))?
    .map_err(|()| format!("value too large to convert to float: {}", bytes_repr(line)))
}

/// `PyOS_string_to_double` with OverflowError on the text before a NUL: `None` when it is not
/// a literal, `Some(Err)` when a finite literal overflows.
fn c_float(text: &[u8]) -> Option<Result<f64, ()>> {
    let v = parse_float_literal(text)?;
    if v.is_infinite() && !is_inf_word(text) {
        return Some(Err(()));
    }
    Some(Ok(v))
}

/// Python's `float(bytes)` (`PyFloat_FromString`) on a line without NUL: underscores checked
/// and dropped, white space stripped, then the literal; overflow is ±inf, never an error.
fn py_float(line: &[u8]) -> Option<Result<f64, ()>> {
    let has_underscore = memchr::memchr(b'_', line).is_some();
    // `_Py_string_to_number_with_underscores`: each `_` must sit between two ASCII digits (so
    // none next to white space, a sign, `.`, `e` or another `_`).
    let digit = |i: Option<usize>| i.and_then(|i| line.get(i)).is_some_and(u8::is_ascii_digit);
    if has_underscore
        && !line
            .iter()
            .enumerate()
            .all(|(i, &b)| b != b'_' || (digit(i.checked_sub(1)) && digit(Some(i + 1))))
    {
        return None;
    }
    // `Py_ISSPACE`, the same six bytes as C's `isspace`.
    let start = line.iter().position(|&b| !is_c_space(b))?;
    let end = line.iter().rposition(|&b| !is_c_space(b))? + 1;
    let text = &line[start..end];
    let v = if has_underscore {
        let digits: Vec<u8> = text.iter().copied().filter(|&b| b != b'_').collect();
        parse_float_literal(&digits)?
    } else {
        parse_float_literal(text)?
    };
    Some(Ok(v))
}

/// A literal as `PyOS_string_to_double` takes it, all of `s`: an optional sign, then digits
/// with at most one `.` and at least one digit, then optionally `e`/`E`, a sign and digits; or
/// `inf`, `infinity` or `nan` in any case. Checked here rather than left to Rust's parser so
/// the grammar is Python's whatever Rust's accepts; Rust then gives the value (correctly
/// rounded, as `_Py_dg_strtod`; ±inf on overflow, 0 on underflow).
fn parse_float_literal(s: &[u8]) -> Option<f64> {
    if !is_float_literal(s) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The grammar half of [`parse_float_literal`].
fn is_float_literal(s: &[u8]) -> bool {
    let body = s.strip_prefix(b"+").or(s.strip_prefix(b"-")).unwrap_or(s);
    if is_word(body) {
        return true;
    }
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let int = digits(body);
    let mut rest = &body[int..];
    let mut frac = 0;
    if let Some(after) = rest.strip_prefix(b".") {
        frac = digits(after);
        rest = &after[frac..];
    }
    if int + frac == 0 {
        return false;
    }
    if let Some(after) = rest.strip_prefix(b"e").or(rest.strip_prefix(b"E")) {
        let after = after
            .strip_prefix(b"+")
            .or(after.strip_prefix(b"-"))
            .unwrap_or(after);
        let exp = digits(after);
        if exp == 0 {
            return false;
        }
        rest = &after[exp..];
    }
    rest.is_empty()
}

/// `inf`, `infinity` or `nan`, any case (`_Py_parse_inf_or_nan`; no `nan(...)` payload).
fn is_word(s: &[u8]) -> bool {
    [&b"inf"[..], b"infinity", b"nan"]
        .iter()
        .any(|w| s.eq_ignore_ascii_case(w))
}

/// A literal that spells an infinity (rather than one too large for a double), signed or not.
fn is_inf_word(s: &[u8]) -> bool {
    let body = s.strip_prefix(b"+").or(s.strip_prefix(b"-")).unwrap_or(s);
    body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity")
}

/// STRING's argument: a quoted literal with Python 2 escapes (`PyBytes_DecodeEscape`).
/// Borrowed when there is nothing to unescape.
pub fn decode_string_literal(line: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let n = line.len();
    if !(n >= 2 && line[0] == line[n - 1] && (line[0] == b'\'' || line[0] == b'"')) {
        return Err("the STRING opcode argument must be quoted".into());
    }
    let body = &line[1..n - 1];
    if memchr::memchr(b'\\', body).is_none() {
        return Ok(Cow::Borrowed(body));
    }
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = body.get(i) else {
            return Err("Trailing \\ in string".into());
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'a' => out.push(0x07),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match body.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = (v << 3) + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8); // CPython keeps the low byte of \400..\777.
            }
            b'x' => {
                let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
                match (hex(body.get(i)), hex(body.get(i + 1))) {
                    (Some(h), Some(l)) if i + 1 < body.len() => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => return Err(format!("invalid \\x escape at position {}", i - 2)),
                }
            }
            _ => {
                // Unknown escapes stay as written (a DeprecationWarning in CPython).
                out.push(b'\\');
                i -= 1;
            }
        }
    }
    Ok(Cow::Owned(out))
}

/// UNICODE's argument: `raw-unicode-escape` (`\uXXXX` and `\UXXXXXXXX` escapes, every other
/// byte a Latin-1 character). Lone surrogates become U+FFFD and make the result lossy.
pub fn decode_raw_unicode_escape(bytes: &[u8]) -> Result<(Cow<'_, str>, bool), String> {
    if bytes.is_ascii() && memchr::memchr(b'\\', bytes).is_none() {
        // SAFETY-free: ASCII is UTF-8.
        return Ok((
            Cow::Borrowed(std::str::from_utf8(bytes).expect("ASCII is UTF-8")),
            false,
        ));
    }
    let mut out = String::with_capacity(bytes.len());
    let mut lossy = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        i += 1;
        if c != b'\\' || i >= bytes.len() {
            out.push(c as char);
            continue;
        }
        let e = bytes[i];
        i += 1;
        let count = match e {
            b'u' => 4,
            b'U' => 8,
            _ => {
                out.push('\\');
                out.push(e as char);
                continue;
            }
        };
        let start = i - 2;
        let mut ch: u32 = 0;
        for _ in 0..count {
            let Some(&h) = bytes.get(i) else {
                return Err(format!(
                    "truncated \\{} escape at position {start}",
                    if count == 4 { "uXXXX" } else { "UXXXXXXXX" }
                ));
            };
            let Some(d) = (h as char).to_digit(16) else {
                return Err(format!(
                    "truncated \\{} escape at position {start}",
                    if count == 4 { "uXXXX" } else { "UXXXXXXXX" }
                ));
            };
            ch = (ch << 4) | d;
            i += 1;
        }
        if ch > 0x10ffff {
            return Err(format!("\\Uxxxxxxxx out of range at position {start}"));
        }
        match char::from_u32(ch) {
            Some(c) => out.push(c),
            None => {
                lossy = true;
                out.push('\u{fffd}');
            }
        }
    }
    Ok((Cow::Owned(out), lossy))
}

/// UTF-8 as CPython decodes BINUNICODE (`surrogatepass`: encoded surrogates allowed, replaced
/// by U+FFFD here and reported as lossy). Borrowed when valid UTF-8.
#[inline]
pub fn decode_utf8_surrogatepass(bytes: &[u8]) -> Result<(Cow<'_, str>, bool), String> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8. (The check is much cheaper than `from_utf8` on the short
        // names and keys that fill pickles.)
        return Ok((
            Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) }),
            false,
        ));
    }
    decode_utf8_slow(bytes)
}

#[inline(never)]
fn decode_utf8_slow(bytes: &[u8]) -> Result<(Cow<'_, str>, bool), String> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((Cow::Borrowed(s), false)),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len());
            let mut rest = bytes;
            let mut offset = 0;
            loop {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        out.push_str(s);
                        return Ok((Cow::Owned(out), true));
                    }
                    Err(e) => {
                        let good = e.valid_up_to();
                        out.push_str(std::str::from_utf8(&rest[..good]).expect("validated"));
                        let bad = &rest[good..];
                        let surrogate = bad.len() >= 3
                            && bad[0] == 0xed
                            && (0xa0..=0xbf).contains(&bad[1])
                            && (0x80..=0xbf).contains(&bad[2]);
                        if !surrogate {
                            return Err(format!(
                                "'utf-8' codec can't decode byte 0x{:02x} in position {}",
                                bad[0],
                                offset + good
                            ));
                        }
                        out.push('\u{fffd}');
                        rest = &bad[3..];
                        offset += good + 3;
                    }
                }
            }
        }
    }
}

/// Python's `repr` of a bytes object, for messages and the disassembler.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if b as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(line: &str) -> Option<IntValue> {
        parse_int_line(line.as_bytes())
    }

    #[test]
    fn int_lines_as_the_c_unpickler_reads_them() {
        use IntValue::*;
        // Expected values from CPython 3.11.7's `pickle.loads(b'I' + line + b'\n.')`.
        assert_eq!(int("0x10"), Some(Small(16)));
        assert_eq!(int("010"), Some(Small(8)));
        assert_eq!(int("01"), Some(Bool(true)));
        assert_eq!(int("00"), Some(Bool(false)));
        assert_eq!(int(" 1"), Some(Bool(true)));
        assert_eq!(int("+1"), Some(Bool(true)));
        assert_eq!(int("-0"), Some(Bool(false)));
        assert_eq!(int("1"), Some(Small(1)));
        assert_eq!(int(" 7 "), Some(Small(7)));
        assert_eq!(int("0o7"), Some(Small(7)));
        assert_eq!(int("0b101"), Some(Small(5)));
        assert_eq!(int("1_000"), Some(Small(1000)));
        assert_eq!(
            int("99999999999999999999"),
            Some(Big("99999999999999999999".parse().unwrap()))
        );
        assert_eq!(int("-5"), Some(Small(-5)));
        assert_eq!(int("1\0junk"), Some(Small(1)));
        assert_eq!(int("0\0"), Some(Bool(false)));
        assert_eq!(int("\t3"), Some(Small(3)));
        assert_eq!(int("3L"), None);
        assert_eq!(int("0x"), None);
        assert_eq!(int(" 0x1F "), Some(Small(31)));
        assert_eq!(int("0_0"), Some(Small(0)));
        assert_eq!(int("0_10"), None);
        assert_eq!(int("  -  3"), None);
        assert_eq!(int("-0x10"), Some(Small(-16)));
        assert_eq!(int("00000000000000000000000000000"), Some(Small(0)));
        assert_eq!(
            int("0x8000000000000000"),
            Some(Big("9223372036854775808".parse().unwrap()))
        );
        assert_eq!(int("-9223372036854775808"), Some(Small(i64::MIN)));
        assert_eq!(int(&"1".repeat(4301)), None);
        assert_eq!(int(""), None);
    }

    #[test]
    fn long_lines() {
        fn long(s: &str) -> Result<Option<Arg<'_>>, ReadError> {
            let mut r = Reader::new(s.as_bytes());
            r.read().map(|i| i.map(|i| i.arg))
        }
        assert_eq!(long("L5L\n"), Ok(Some(Arg::Int(5))));
        assert_eq!(long("L5\n"), Ok(Some(Arg::Int(5))));
        assert_eq!(long("L0x10L\n"), Ok(Some(Arg::Int(16))));
        assert_eq!(long("L 5 L\n"), Ok(Some(Arg::Int(5))));
        assert!(long("LL\n").is_err());
        assert!(long("L010L\n").is_err());
        assert!(long(&format!("L{}L\n", "1".repeat(4300))).is_ok());
        assert!(long(&format!("L{}L\n", "1_".repeat(4300) + "1")).is_err());
        assert!(long(&format!("L0x{}L\n", "f".repeat(5000))).is_ok());
    }

    #[test]
    fn int_and_long_lines_take_what_either_unpickler_takes() {
        // Checked against CPython 3.11.7: `pickle._loads(op + line + b'\n.')` (pure Python:
        // `int(line + b'\n', 0)` for INT, `int(line minus one trailing L, 0)` for LONG) and
        // `pickle.loads(...)` (C: strtol, then `PyLong_FromString`). The pure-Python loader
        // accepts nothing the C one refuses (same `PyLong_FromString` grammar, and it refuses
        // NULs), so the reader's C rules are the union. Expected: C's value where C accepts
        // (`py:` notes where Python's differs: an int where C makes a bool), else "ERR".
        fn show(line: Vec<u8>) -> String {
            match Reader::new(&line).read() {
                Ok(Some(i)) => match i.arg {
                    Arg::Bool(b) => if b { "True" } else { "False" }.to_string(),
                    Arg::Int(v) => v.to_string(),
                    Arg::BigInt(v) => v.to_string(),
                    other => panic!("{other:?}"),
                },
                _ => "ERR".to_string(),
            }
        }
        let cases: &[(&[u8], &[u8], &str)] = &[
            (b"I", b"1", "1"),                                       // both
            (b"I", b" 1", "True"),                                   // both, py: 1
            (b"I", b"1 ", "1"),                                      // both
            (b"I", b"\x092\x0b", "2"),                               // both
            (b"I", b"\x0c4\x0c", "4"),                               // both
            (b"I", b"1_0", "10"),                                    // both
            (b"I", b"1__0", "ERR"),                                  // none
            (b"I", b"_1", "ERR"),                                    // none
            (b"I", b"1_", "ERR"),                                    // none
            (b"I", b"+1", "True"),                                   // both, py: 1
            (b"I", b"-1", "-1"),                                     // both
            (b"I", b"+_1", "ERR"),                                   // none
            (b"I", b"0x10", "16"),                                   // both
            (b"I", b"0X1f", "31"),                                   // both
            (b"I", b"0x_1f", "31"),                                  // both
            (b"I", b"0o17", "15"),                                   // both
            (b"I", b"0O17", "15"),                                   // both
            (b"I", b"0b101", "5"),                                   // both
            (b"I", b"0B_1", "1"),                                    // both
            (b"I", b"010", "8"),                                     // c
            (b"I", b"00", "False"),                                  // both
            (b"I", b"01", "True"),                                   // both
            (b"I", b"0_0", "0"),                                     // both
            (b"I", b"0_1", "ERR"),                                   // none
            (b"I", b"-0", "False"),                                  // both, py: 0
            (b"I", b"+0", "False"),                                  // both, py: 0
            (b"I", b" 0", "False"),                                  // both, py: 0
            (b"I", b"0 ", "0"),                                      // both
            (b"I", b"1\x00x", "1"),                                  // c
            (b"I", b"1_0\x00", "10"),                                // c
            (b"I", b" 1_0 ", "10"),                                  // both
            (b"I", b"1 0", "ERR"),                                   // none
            (b"I", b"3L", "ERR"),                                    // none
            (b"I", b"0x", "ERR"),                                    // none
            (b"I", b"0o", "ERR"),                                    // none
            (b"I", b"0b", "ERR"),                                    // none
            (b"I", b"0b2", "ERR"),                                   // none
            (b"I", b"0o8", "ERR"),                                   // none
            (b"I", b"0xg", "ERR"),                                   // none
            (b"I", b"1e3", "ERR"),                                   // none
            (b"I", b"1.0", "ERR"),                                   // none
            (b"I", b"--1", "ERR"),                                   // none
            (b"I", b"+-1", "ERR"),                                   // none
            (b"I", b"\xa01", "ERR"),                                 // none
            (b"I", b"1\x0d", "1"),                                   // both
            (b"I", b" 0x1F ", "31"),                                 // both
            (b"I", b"99999999999999999999", "99999999999999999999"), // both
            (b"I", b"-9223372036854775809", "-9223372036854775809"), // both
            (b"I", b"9223372036854775807", "9223372036854775807"),   // both
            (b"I", b"\x0b\x0c\x09\x0d 7 \x0d\x09\x0c\x0b", "7"),     // both
            (b"I", b"\x1c1", "ERR"),                                 // none
            (b"I", b"0_0_0", "0"),                                   // both
            (b"I", b"0__0", "ERR"),                                  // none
            (b"I", b"000", "0"),                                     // both
            (b"I", b"007", "7"),                                     // c
            (b"I", b"0x0_0", "0"),                                   // both
            (b"I", b" ", "ERR"),                                     // none
            (b"I", b"L", "ERR"),                                     // none
            (b"I", b"1L", "ERR"),                                    // none
            (b"I", b"1LL", "ERR"),                                   // none
            (b"I", b" 1 L", "ERR"),                                  // none
            (b"I", b"1L ", "ERR"),                                   // none
            (b"I", b"0x10L", "ERR"),                                 // none
            (b"I", b"-0b1L", "ERR"),                                 // none
            (b"I", b"010L", "ERR"),                                  // none
            (b"I", b"1_0L", "ERR"),                                  // none
            (b"I", b"L1", "ERR"),                                    // none
            (b"L", b"1", "1"),                                       // both
            (b"L", b" 1", "1"),                                      // both
            (b"L", b"1 ", "1"),                                      // both
            (b"L", b"\x092\x0b", "2"),                               // both
            (b"L", b"\x0c4\x0c", "4"),                               // both
            (b"L", b"1_0", "10"),                                    // both
            (b"L", b"1__0", "ERR"),                                  // none
            (b"L", b"_1", "ERR"),                                    // none
            (b"L", b"1_", "ERR"),                                    // none
            (b"L", b"+1", "1"),                                      // both
            (b"L", b"-1", "-1"),                                     // both
            (b"L", b"+_1", "ERR"),                                   // none
            (b"L", b"0x10", "16"),                                   // both
            (b"L", b"0X1f", "31"),                                   // both
            (b"L", b"0x_1f", "31"),                                  // both
            (b"L", b"0o17", "15"),                                   // both
            (b"L", b"0O17", "15"),                                   // both
            (b"L", b"0b101", "5"),                                   // both
            (b"L", b"0B_1", "1"),                                    // both
            (b"L", b"010", "ERR"),                                   // none
            (b"L", b"00", "0"),                                      // both
            (b"L", b"01", "ERR"),                                    // none
            (b"L", b"0_0", "0"),                                     // both
            (b"L", b"0_1", "ERR"),                                   // none
            (b"L", b"-0", "0"),                                      // both
            (b"L", b"+0", "0"),                                      // both
            (b"L", b" 0", "0"),                                      // both
            (b"L", b"0 ", "0"),                                      // both
            (b"L", b"1\x00x", "1"),                                  // c
            (b"L", b"1_0\x00", "10"),                                // c
            (b"L", b" 1_0 ", "10"),                                  // both
            (b"L", b"1 0", "ERR"),                                   // none
            (b"L", b"3L", "3"),                                      // both
            (b"L", b"0x", "ERR"),                                    // none
            (b"L", b"0o", "ERR"),                                    // none
            (b"L", b"0b", "ERR"),                                    // none
            (b"L", b"0b2", "ERR"),                                   // none
            (b"L", b"0o8", "ERR"),                                   // none
            (b"L", b"0xg", "ERR"),                                   // none
            (b"L", b"1e3", "ERR"),                                   // none
            (b"L", b"1.0", "ERR"),                                   // none
            (b"L", b"--1", "ERR"),                                   // none
            (b"L", b"+-1", "ERR"),                                   // none
            (b"L", b"\xa01", "ERR"),                                 // none
            (b"L", b"1\x0d", "1"),                                   // both
            (b"L", b" 0x1F ", "31"),                                 // both
            (b"L", b"99999999999999999999", "99999999999999999999"), // both
            (b"L", b"-9223372036854775809", "-9223372036854775809"), // both
            (b"L", b"9223372036854775807", "9223372036854775807"),   // both
            (b"L", b"\x0b\x0c\x09\x0d 7 \x0d\x09\x0c\x0b", "7"),     // both
            (b"L", b"\x1c1", "ERR"),                                 // none
            (b"L", b"0_0_0", "0"),                                   // both
            (b"L", b"0__0", "ERR"),                                  // none
            (b"L", b"000", "0"),                                     // both
            (b"L", b"007", "ERR"),                                   // none
            (b"L", b"0x0_0", "0"),                                   // both
            (b"L", b" ", "ERR"),                                     // none
            (b"L", b"L", "ERR"),                                     // none
            (b"L", b"1L", "1"),                                      // both
            (b"L", b"1LL", "ERR"),                                   // none
            (b"L", b" 1 L", "1"),                                    // both
            (b"L", b"1L ", "ERR"),                                   // none
            (b"L", b"0x10L", "16"),                                  // both
            (b"L", b"-0b1L", "-1"),                                  // both
            (b"L", b"010L", "ERR"),                                  // none
            (b"L", b"1_0L", "10"),                                   // both
            (b"L", b"L1", "ERR"),                                    // none
        ];
        for &(op, line, want) in cases {
            let got = show([op, line, b"\n"].concat());
            assert_eq!(got, want, "{}{}", op[0] as char, bytes_repr(line));
        }
    }

    #[test]
    fn float_lines() {
        // The union of what CPython 3.11.7 accepts for FLOAT: each expectation was checked
        // against `float(line)`, `pickle._loads(b'F' + line + b'\n.')` (pure Python, as joblib
        // loads) and `pickle.loads(...)` (C). The comment says which of the two unpicklers
        // accepts the line (`none`: both raise, so must we).
        let cases: &[(&[u8], Option<f64>)] = &[
            (b"1.5", Some(1.5_f64)),                          // both
            (b" 1e1", Some(10.0_f64)),                        // py
            (b"1e1 ", Some(10.0_f64)),                        // py
            (b"\x092\x0b", Some(2.0_f64)),                    // py
            (b"\x0c4\x0c", Some(4.0_f64)),                    // py
            (b"\x0d5\x0d", Some(5.0_f64)),                    // py
            (b"  -0.0  ", Some(-0.0_f64)),                    // py
            (b"1.5\x0d", Some(1.5_f64)),                      // py
            (b" inf ", Some(f64::INFINITY)),                  // py
            (b"1_0.5", Some(10.5_f64)),                       // py
            (b"1_0", Some(10.0_f64)),                         // py
            (b"1.5_5", Some(1.55_f64)),                       // py
            (b"1e1_0", Some(10000000000.0_f64)),              // py
            (b"0_0", Some(0.0_f64)),                          // py
            (b"00_1.0_0e0_1", Some(10.0_f64)),                // py
            (b"1_000_000e-6", Some(1.0_f64)),                 // py
            (b"1__0", None),                                  // none
            (b"_1", None),                                    // none
            (b"1_", None),                                    // none
            (b"1._5", None),                                  // none
            (b"1_.5", None),                                  // none
            (b"1_e5", None),                                  // none
            (b"1e_5", None),                                  // none
            (b"1e+_5", None),                                 // none
            (b"+_1", None),                                   // none
            (b"-_1", None),                                   // none
            (b"i_nf", None),                                  // none
            (b" _1", None),                                   // none
            (b"1_ ", None),                                   // none
            (b"1_\x09", None),                                // none
            (b"0x10", None),                                  // none
            (b"0x1p3", None),                                 // none
            (b" ", None),                                     // none
            (b"\x09\x0b", None),                              // none
            (b"1 0", None),                                   // none
            (b"1\x090", None),                                // none
            (b"in f", None),                                  // none
            (b"1\x1c", None),                                 // none
            (b"\x1c1", None),                                 // none
            (b"\xa01", None),                                 // none
            (b"1\xa0", None),                                 // none
            (b"1,5", None),                                   // none
            (b"++1", None),                                   // none
            (b"+-1", None),                                   // none
            (b"1e1e1", None),                                 // none
            (b"1.5f", None),                                  // none
            (b"1d5", None),                                   // none
            (b"1e999", Some(f64::INFINITY)),                  // py
            (b"-1e999", Some(f64::NEG_INFINITY)),             // py
            (b" 1e999 ", Some(f64::INFINITY)),                // py
            (b"1e99999999999999999999", Some(f64::INFINITY)), // py
            (b"0e99999999999999999999", Some(0.0_f64)),       // both
            (b"1e-400", Some(0.0_f64)),                       // both
            (b"-1e-400", Some(-0.0_f64)),                     // both
            (b"inf", Some(f64::INFINITY)),                    // both
            (b"-inf", Some(f64::NEG_INFINITY)),               // both
            (b"+inf", Some(f64::INFINITY)),                   // both
            (b"Infinity", Some(f64::INFINITY)),               // both
            (b"-INFINITY", Some(f64::NEG_INFINITY)),          // both
            (b"iNf", Some(f64::INFINITY)),                    // both
            (b"nan", Some(f64::NAN)),                         // both
            (b"-NaN", Some(f64::NAN)),                        // both
            (b"+nan", Some(f64::NAN)),                        // both
            (b"infin", None),                                 // none
            (b"infinit", None),                               // none
            (b"nan(1)", None),                                // none
            (b"na", None),                                    // none
            (b"+", None),                                     // none
            (b"-", None),                                     // none
            (b"e5", None),                                    // none
            (b"1.5\x00x", Some(1.5_f64)),                     // c
            (b"1.5\x00 ", Some(1.5_f64)),                     // c
            (b"inf\x00", Some(f64::INFINITY)),                // c
            (b"1e999\x00", None),                             // none
            (b" 1.5\x00", None),                              // none
            (b"1_0\x00", None),                               // none
            (b"\x001", None),                                 // none
            (b"1.5 \x00", None),                              // none
            (b".5", Some(0.5_f64)),                           // both
            (b"5.", Some(5.0_f64)),                           // both
            (b".", None),                                     // none
            (b"1.e5", Some(100000.0_f64)),                    // both
            (b".e5", None),                                   // none
            (b"+1", Some(1.0_f64)),                           // both
            (b"-.5e-3", Some(-0.0005_f64)),                   // both
            (b"1e", None),                                    // none
            (b"1.5e+", None),                                 // none
            (b"1E5", Some(100000.0_f64)),                     // both
            (b"1e+05", Some(100000.0_f64)),                   // both
            (b"1e0001", Some(10.0_f64)),                      // both
            (b"1..5", None),                                  // none
            (b"1.5.", None),                                  // none
        ];
        for &(line, want) in cases {
            let got = parse_float_line(line);
            match (want, &got) {
                (None, Err(_)) => {}
                (Some(w), Ok(g)) if w.is_nan() && g.is_nan() => {}
                // Bits, so that -0.0 is not 0.0.
                (Some(w), Ok(g)) if w.to_bits() == g.to_bits() => {}
                _ => panic!("{}: want {want:?}, got {got:?}", bytes_repr(line)),
            }
        }
        // Longer ones: many underscores (py), a literal far above f64::MAX (py: inf).
        let ones = format!("1{}", "_1".repeat(20));
        assert_eq!(
            parse_float_line(ones.as_bytes()),
            Ok(111111111111111111111.0)
        );
        assert_eq!(
            parse_float_line("9".repeat(400).as_bytes()),
            Ok(f64::INFINITY)
        );
        // Only the C unpickler reads past a NUL, and it refuses overflow.
        assert_eq!(
            parse_float_line(b"1e999\x00").unwrap_err(),
            "value too large to convert to float: b'1e999\\x00'"
        );
        assert_eq!(
            parse_float_line(b"1__0").unwrap_err(),
            "could not convert string to float: b'1__0'"
        );
    }

    #[test]
    fn string_literals() {
        let s = |l: &[u8]| decode_string_literal(l).map(|c| c.into_owned());
        assert_eq!(s(b"'abc'"), Ok(b"abc".to_vec()));
        assert_eq!(s(b"\"abc\""), Ok(b"abc".to_vec()));
        assert_eq!(s(b"'a\\x41\\101\\n\\q'"), Ok(b"aAA\n\\q".to_vec()));
        assert_eq!(s(b"'a'b'"), Ok(b"a'b".to_vec()));
        assert!(s(b"'abc\"").is_err());
        assert_eq!(s(b"'\\777'"), Ok(vec![0xff]));
        assert!(s(b"'\\x4'").is_err());
        assert!(s(b"'abc\\'").is_err());
        assert!(s(b"'").is_err());
        assert_eq!(s(b"''"), Ok(vec![]));
        assert_eq!(
            s(b"'\\\\\\'\\\"\\b\\f\\t\\r\\v\\a\\0'"),
            Ok(b"\\'\"\x08\x0c\t\r\x0b\x07\0".to_vec())
        );
    }

    #[test]
    fn raw_unicode_escape() {
        let (text, lossy) =
            decode_raw_unicode_escape(b"abc\\u0041\\U0001F600\xe9\\x41\\\\u0041").unwrap();
        assert_eq!(text, "abcA\u{1f600}\u{e9}\\x41\\\\u0041");
        assert!(!lossy);
        let (text, lossy) = decode_raw_unicode_escape(b"\\ud800").unwrap();
        assert_eq!(text, "\u{fffd}");
        assert!(lossy);
        assert_eq!(decode_raw_unicode_escape(b"ab\\").unwrap().0, "ab\\");
        assert!(decode_raw_unicode_escape(b"\\u12").is_err());
        assert!(decode_raw_unicode_escape(b"\\U00110000").is_err());
    }

    #[test]
    fn utf8_with_surrogates() {
        assert!(decode_utf8_surrogatepass(b"\xed\xa0").is_err());
        let (t, lossy) = decode_utf8_surrogatepass(b"a\xed\xa0\x80b").unwrap();
        assert_eq!(t, "a\u{fffd}b");
        assert!(lossy);
        assert!(decode_utf8_surrogatepass(b"\xff").is_err());
        assert!(matches!(
            decode_utf8_surrogatepass(b"ok").unwrap().0,
            Cow::Borrowed("ok")
        ));
    }

    #[test]
    fn memo_index_lines() {
        fn arg(s: &[u8]) -> Result<Arg<'_>, ReadError> {
            Reader::new(s).read().map(|i| i.unwrap().arg)
        }
        assert_eq!(arg(b"p 5 \n"), Ok(Arg::Int(5)));
        assert_eq!(arg(b"p1_0\n"), Ok(Arg::Int(10)));
        assert_eq!(arg(b"p05\n"), Ok(Arg::Int(5)));
        assert_eq!(arg(b"p+1\n"), Ok(Arg::Int(1)));
        assert!(arg(b"p-1\n").is_err());
        assert_eq!(arg(b"g-1\n"), Ok(Arg::Int(-1)));
        // Past C's ssize_t: only Python's unpickler takes these, and the reader reads on.
        let big: num_bigint::BigInt = "99999999999999999999".parse().unwrap();
        assert_eq!(
            arg(b"g99999999999999999999\n"),
            Ok(Arg::BigInt(Box::new(big.clone())))
        );
        assert_eq!(
            arg(b"p99999999999999999999\n"),
            Ok(Arg::BigInt(Box::new(big)))
        );
        assert!(arg(b"p-99999999999999999999\n").is_err());
        assert!(arg(b"p0x1\n").is_err());
        assert!(arg(b"ga\n").is_err());
        assert!(matches!(
            arg(b"p\n"),
            Err(ReadError {
                kind: ReadErrorKind::Truncated,
                ..
            })
        ));
    }

    #[test]
    fn lengths_are_checked_before_anything() {
        // BINBYTES8 claiming 2^62 bytes with 3 present.
        let mut data = vec![0x8e];
        data.extend_from_slice(&(1u64 << 62).to_le_bytes());
        data.extend_from_slice(b"abc");
        let err = Reader::new(&data).read().unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Truncated);
        // A length beyond isize::MAX.
        let mut data = vec![0x8d];
        data.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Reader::new(&data).read().unwrap_err().kind,
            ReadErrorKind::BadArgument(_)
        ));
        assert!(Reader::new(b"\x8b\xff\xff\xff\xff").read().is_err());
        assert_eq!(
            Reader::new(b"\x8b\x00\x00\x00\x40")
                .read()
                .unwrap_err()
                .kind,
            ReadErrorKind::Truncated
        );
    }

    #[test]
    fn payloads_are_borrowed() {
        let data = b"B\x03\x00\x00\x00abcX\x02\x00\x00\x00hiU\x02yo";
        let ops: Vec<_> = Reader::new(data).map(|r| r.unwrap()).collect();
        assert!(
            matches!(ops[0].arg, Arg::Bytes(b) if std::ptr::eq(b.as_ptr(), data[5..].as_ptr()))
        );
        assert!(matches!(
            &ops[1].arg,
            Arg::Str {
                text: Cow::Borrowed("hi"),
                lossy: false
            }
        ));
        assert!(matches!(&ops[2].arg, Arg::String(Cow::Borrowed(b"yo"))));
        assert_eq!(ops[2].offset, 15);
        assert_eq!(ops[2].end, data.len() as u64);
    }

    #[test]
    fn longs() {
        fn arg(s: &[u8]) -> Arg<'_> {
            Reader::new(s).read().unwrap().unwrap().arg
        }
        assert_eq!(arg(b"\x8a\x00"), Arg::Int(0));
        assert_eq!(arg(b"\x8a\x01\xff"), Arg::Int(-1));
        assert_eq!(arg(b"\x8a\x02\x00\x80"), Arg::Int(-32768));
        assert_eq!(arg(b"\x8a\x03\x00\x80\x00"), Arg::Int(32768));
        assert_eq!(
            arg(b"\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            Arg::Int(-1)
        );
        let big = b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00";
        match arg(big) {
            Arg::Long(b) => assert_eq!(Arg::long_to_bigint(b), BigInt::from(1u64 << 63)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_the_opcode_and_offset() {
        let err = Reader::new(b"NN\xff").nth(2).unwrap().unwrap_err();
        assert_eq!(err.offset, 2);
        assert_eq!(err.to_string(), "invalid load key '\\xff'");
        let err = Reader::new(b"N\x80\x06").nth(1).unwrap().unwrap_err();
        assert_eq!(err.offset, 1);
        assert!(err.to_string().contains("unsupported pickle protocol: 6"));
        assert!(Reader::new(b"\x82\x00").next().unwrap().is_err());
        assert!(Reader::new(b"\x84\xff\xff\xff\xff")
            .next()
            .unwrap()
            .is_err());
        assert!(Reader::new(b"c\nname\n").next().unwrap().is_err());
        assert!(Reader::new(b"cmod\xff\nname\n").next().unwrap().is_err());
        assert!(Reader::new(b"i\xc3\xa9\nname\n").next().unwrap().is_err());
        assert!(Reader::new(b"c\xc3\xa9\nname\n").next().unwrap().is_ok());
    }
}
