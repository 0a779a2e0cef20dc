//! Value → pickle: writes a Python object graph ([`Value`]) as a pickle that CPython loads into the
//! same graph, with shared and self references kept (`x[0] is x` holds after `pickle.loads`).
//!
//! [`write_value`] supports protocols 0 to 5 ([`DEFAULT_PROTOCOL`] is 4, as in CPython). The output
//! follows CPython's C pickler opcode for opcode where the graph says what CPython would have
//! pickled, with these differences:
//!
//! - only objects referenced more than once (the root counts as a reference) are memoized
//!   (MEMOIZE at protocol ≥ 4, BINPUT/LONG_BINPUT at 1–3, PUT at 0); later references are
//!   BINGET/LONG_BINGET (GET at 0). CPython memoizes every str, bytes, tuple, list and dict.
//!   Every shared object is memoized, scalars included (a shared big int or empty tuple stays one
//!   object), so reading the pickle back gives the same graph.
//! - Cycles are written as CPython writes them: lists, dicts, sets (protocol ≥ 4) and instances
//!   are created empty, memoized, then filled, so their items may refer back to them; a tuple,
//!   frozenset or call whose items lead back to it is written with `save_tuple`'s trick (the
//!   inner reference builds the object and memoizes it; the outer one discards its items with
//!   POP/POP_MARK and fetches it with GET). A cycle made only of objects that need their items
//!   before they exist (a tuple containing itself, a call whose arguments contain its result) is
//!   refused: Python cannot build it and CPython's pickler would recurse forever.
//! - Instances keep their opcode: REDUCE for [`CallKind::Reduce`], NEWOBJ / NEWOBJ_EX for
//!   [`CallKind::NewObj`] / [`CallKind::NewObjEx`], INST (class named inline) for
//!   [`CallKind::Inst`] and OBJ for [`CallKind::Obj`]: INST and OBJ with no arguments skip
//!   `__init__`, which REDUCE would run, so they are not rewritten as REDUCE. Below protocol 2,
//!   NEWOBJ becomes a REDUCE of `copyreg.__newobj__(cls, *args)`. Below protocol 4, NEWOBJ_EX
//!   without keyword arguments becomes NEWOBJ, and with keyword arguments a REDUCE of
//!   `copyreg.__newobj_ex__(cls, args, kwargs)` (CPython writes `functools.partial(cls.__new__,
//!   ...)`, which needs a reference to a method). After the call come the APPENDS of
//!   `list_items`, the SETITEMS of `dict_items`, the ADDITEMS of `set_items` (protocol ≥ 4 only)
//!   and one BUILD per state, CPython's order.
//! - Sets: EMPTY_SET + ADDITEMS (≥ 4) or `builtins.set([...])` (< 4); frozensets: FROZENSET (≥ 4)
//!   or `builtins.frozenset([...])`; complex: `builtins.complex(re, im)`; bytearray: BYTEARRAY8
//!   (5) or `builtins.bytearray(bytes)`; bytes below protocol 3: `_codecs.encode(str, 'latin1')`
//!   (`builtins.bytes()` when empty), all as CPython writes them.
//! - Globals: STACK_GLOBAL (≥ 4, dotted names allowed) or GLOBAL (< 4; a dotted name becomes
//!   `getattr(module.first, 'rest')` REDUCEs as in CPython). Protocol 3 writes UTF-8 names,
//!   protocols 0–2 ASCII only.
//! - PersistentId: the id, then BINPERSID (PERSID with an ASCII str id at protocol 0). Buffers:
//!   NEXT_BUFFER (+ READONLY_BUFFER), protocol 5 only, and only in index order (the N-th
//!   NEXT_BUFFER written must be buffer N, since the file does not say which buffer it takes).
//! - Extensions: EXT1/EXT2/EXT4 (protocol ≥ 2).
//! - Below protocol 3 CPython's loader remaps Python 2 names ([`crate::compat::fix_imports`]).
//!   CPython's pickler writes every name in its Python 2 spelling (`builtins` → `__builtin__`),
//!   which is lossy (`builtins.BrokenPipeError` becomes `exceptions.OSError`); this writer keeps
//!   the Python 3 name whenever the loader leaves it alone (almost always), and otherwise writes
//!   a Python 2 spelling the loader maps back to it (`dbm` → `anydbm`). Where none exists
//!   (`_elementtree.X` → `xml.etree.ElementTree.X`, `multiprocessing.{AuthenticationError,
//!   BufferTooShort, ProcessError, TimeoutError}` → `multiprocessing.context.*`,
//!   `test.test_support` → `test.support`) the name is written as is and loads as the same
//!   object under its other name; protocol 3 or higher keeps every name.
//!
//! The writer is iterative (an explicit task stack): graphs 100 000 levels deep are fine.
//! Frames (protocol ≥ 4) are cut as CPython cuts them: a frame closes at the first value boundary
//! after 64 KiB, and str/bytes payloads of 64 KiB or more are written outside frames.

use std::io::Write;

use pypickle_core::{CallKind, Error, Instance, Item, Object, ObjectId, Value};

/// The protocol [`write_value`] and [`crate::ser::to_vec`] callers should use when they have no
/// reason to pick one (CPython's default).
pub const DEFAULT_PROTOCOL: u8 = 4;
/// The highest protocol written (and the highest CPython 3.8+ knows).
pub const HIGHEST_PROTOCOL: u8 = 5;

/// Pickle opcodes, as bytes.
#[allow(dead_code)]
pub(crate) mod op {
    pub const MARK: u8 = b'(';
    pub const STOP: u8 = b'.';
    pub const POP: u8 = b'0';
    pub const POP_MARK: u8 = b'1';
    pub const DUP: u8 = b'2';
    pub const FLOAT: u8 = b'F';
    pub const INT: u8 = b'I';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const LONG: u8 = b'L';
    pub const BININT2: u8 = b'M';
    pub const NONE: u8 = b'N';
    pub const PERSID: u8 = b'P';
    pub const BINPERSID: u8 = b'Q';
    pub const REDUCE: u8 = b'R';
    pub const STRING: u8 = b'S';
    pub const BINSTRING: u8 = b'T';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const UNICODE: u8 = b'V';
    pub const BINUNICODE: u8 = b'X';
    pub const APPEND: u8 = b'a';
    pub const BUILD: u8 = b'b';
    pub const GLOBAL: u8 = b'c';
    pub const DICT: u8 = b'd';
    pub const EMPTY_DICT: u8 = b'}';
    pub const APPENDS: u8 = b'e';
    pub const GET: u8 = b'g';
    pub const BINGET: u8 = b'h';
    pub const INST: u8 = b'i';
    pub const LONG_BINGET: u8 = b'j';
    pub const LIST: u8 = b'l';
    pub const EMPTY_LIST: u8 = b']';
    pub const OBJ: u8 = b'o';
    pub const PUT: u8 = b'p';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const SETITEM: u8 = b's';
    pub const TUPLE: u8 = b't';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const SETITEMS: u8 = b'u';
    pub const BINFLOAT: u8 = b'G';
    pub const PROTO: u8 = 0x80;
    pub const NEWOBJ: u8 = 0x81;
    pub const EXT1: u8 = 0x82;
    pub const EXT2: u8 = 0x83;
    pub const EXT4: u8 = 0x84;
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const LONG1: u8 = 0x8a;
    pub const LONG4: u8 = 0x8b;
    pub const BINBYTES: u8 = b'B';
    pub const SHORT_BINBYTES: u8 = b'C';
    pub const SHORT_BINUNICODE: u8 = 0x8c;
    pub const BINUNICODE8: u8 = 0x8d;
    pub const BINBYTES8: u8 = 0x8e;
    pub const EMPTY_SET: u8 = 0x8f;
    pub const ADDITEMS: u8 = 0x90;
    pub const FROZENSET: u8 = 0x91;
    pub const NEWOBJ_EX: u8 = 0x92;
    pub const STACK_GLOBAL: u8 = 0x93;
    pub const MEMOIZE: u8 = 0x94;
    pub const FRAME: u8 = 0x95;
    pub const BYTEARRAY8: u8 = 0x96;
    pub const NEXT_BUFFER: u8 = 0x97;
    pub const READONLY_BUFFER: u8 = 0x98;
}

/// CPython's frame target (`_FRAME_SIZE_TARGET`).
pub(crate) const FRAME_SIZE_TARGET: usize = 64 * 1024;
/// Frames shorter than this are written without a FRAME header (`_FRAME_SIZE_MIN`).
const FRAME_SIZE_MIN: usize = 4;
const FRAME_HEADER: usize = 9;
/// CPython's `_BATCHSIZE`: items per APPENDS / SETITEMS / ADDITEMS.
pub(crate) const BATCH_SIZE: usize = 1000;

pub(crate) fn encode_error(message: impl std::fmt::Display) -> Error {
    Error::encode("pickle", message)
}

/// The byte-level half of a pickler: opcodes, their arguments and framing, written the way
/// CPython's C pickler writes them. Shared by the serde serializer and the [`Value`] writer.
pub(crate) struct Emitter {
    buf: Vec<u8>,
    proto: u8,
    framing: bool,
    /// Where the open frame's 9-byte header placeholder starts in `buf`.
    frame_start: Option<usize>,
}

impl Emitter {
    /// Starts a pickle: PROTO (protocol ≥ 2), then framing (≥ 4). Appends to `buf`.
    pub(crate) fn new(mut buf: Vec<u8>, proto: u8) -> Self {
        if proto >= 2 {
            buf.extend_from_slice(&[op::PROTO, proto]);
        }
        Emitter {
            buf,
            proto,
            framing: proto >= 4,
            frame_start: None,
        }
    }

    pub(crate) fn proto(&self) -> u8 {
        self.proto
    }

    fn open_frame(&mut self) {
        if self.framing && self.frame_start.is_none() {
            self.frame_start = Some(self.buf.len());
            self.buf.extend_from_slice(&[0xFE; FRAME_HEADER]);
        }
    }

    pub(crate) fn op(&mut self, code: u8) {
        self.open_frame();
        self.buf.push(code);
    }

    pub(crate) fn write(&mut self, data: &[u8]) {
        self.open_frame();
        self.buf.extend_from_slice(data);
    }

    fn commit_frame(&mut self) {
        if let Some(start) = self.frame_start.take() {
            let len = self.buf.len() - start - FRAME_HEADER;
            if len >= FRAME_SIZE_MIN {
                self.buf[start] = op::FRAME;
                self.buf[start + 1..start + FRAME_HEADER]
                    .copy_from_slice(&(len as u64).to_le_bytes());
            } else {
                self.buf.drain(start..start + FRAME_HEADER);
            }
        }
    }

    /// Called where CPython's `save` starts: closes the frame once it holds 64 KiB.
    pub(crate) fn boundary(&mut self) {
        if let Some(start) = self.frame_start {
            if self.buf.len() - start - FRAME_HEADER >= FRAME_SIZE_TARGET {
                self.commit_frame();
            }
        }
    }

    /// A header and a payload; payloads of 64 KiB or more go outside frames (as CPython).
    fn write_payload(&mut self, header: &[u8], payload: &[u8]) {
        if payload.len() >= FRAME_SIZE_TARGET {
            self.commit_frame();
            self.buf.extend_from_slice(header);
            self.buf.extend_from_slice(payload);
        } else {
            self.write(header);
            self.buf.extend_from_slice(payload);
        }
    }

    /// STOP, then closes the last frame; returns the whole buffer.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.op(op::STOP);
        self.commit_frame();
        self.buf
    }

    /// How many leading bytes of the buffer are final (outside the open frame).
    pub(crate) fn flushable(&self) -> usize {
        self.frame_start.unwrap_or(self.buf.len())
    }

    /// Removes the final bytes from the buffer, for a streaming writer.
    pub(crate) fn take_flushable(&mut self) -> Vec<u8> {
        let n = self.flushable();
        let rest = self.buf.split_off(n);
        if let Some(start) = &mut self.frame_start {
            *start -= n;
        }
        std::mem::replace(&mut self.buf, rest)
    }

    // ---- scalars ----

    pub(crate) fn none(&mut self) {
        self.op(op::NONE);
    }

    pub(crate) fn bool(&mut self, v: bool) {
        if self.proto >= 2 {
            self.op(if v { op::NEWTRUE } else { op::NEWFALSE });
        } else {
            self.write(if v { b"I01\n" } else { b"I00\n" });
        }
    }

    pub(crate) fn int(&mut self, v: i64) {
        if self.proto >= 1 {
            if (0..=0xff).contains(&v) {
                self.write(&[op::BININT1, v as u8]);
                return;
            }
            if (0..=0xffff).contains(&v) {
                let b = (v as u16).to_le_bytes();
                self.write(&[op::BININT2, b[0], b[1]]);
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                let mut out = [op::BININT, 0, 0, 0, 0];
                out[1..].copy_from_slice(&v.to_le_bytes());
                self.write(&out);
                return;
            }
        }
        if self.proto >= 2 {
            self.long_bytes(&minimal_twos_complement(&v.to_le_bytes()));
        } else if i32::try_from(v).is_ok() {
            self.write(format!("I{v}\n").as_bytes());
        } else {
            self.write(format!("L{v}L\n").as_bytes());
        }
    }

    pub(crate) fn int_i128(&mut self, v: i128) {
        match i64::try_from(v) {
            Ok(v) => self.int(v),
            Err(_) if self.proto >= 2 => {
                self.long_bytes(&minimal_twos_complement(&v.to_le_bytes()))
            }
            Err(_) => self.write(format!("L{v}L\n").as_bytes()),
        }
    }

    pub(crate) fn int_u128(&mut self, v: u128) {
        match i128::try_from(v) {
            Ok(v) => self.int_i128(v),
            Err(_) if self.proto >= 2 => {
                let mut bytes = v.to_le_bytes().to_vec();
                bytes.push(0);
                self.long_bytes(&minimal_twos_complement(&bytes))
            }
            Err(_) => self.write(format!("L{v}L\n").as_bytes()),
        }
    }

    /// LONG1 / LONG4 with a little-endian two's complement payload (protocol ≥ 2).
    pub(crate) fn long_bytes(&mut self, bytes: &[u8]) {
        if bytes.len() < 256 {
            self.write(&[op::LONG1, bytes.len() as u8]);
            self.buf.extend_from_slice(bytes);
        } else {
            let mut header = [op::LONG4, 0, 0, 0, 0];
            header[1..].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            self.write_payload(&header, bytes);
        }
    }

    pub(crate) fn float(&mut self, v: f64) {
        if self.proto >= 1 {
            let mut out = [op::BINFLOAT, 0, 0, 0, 0, 0, 0, 0, 0];
            out[1..].copy_from_slice(&v.to_be_bytes());
            self.write(&out);
        } else {
            // `float()` reads Rust's shortest round-trip form ("1e300", "inf", "NaN") exactly.
            self.write(format!("F{v:?}\n").as_bytes());
        }
    }

    pub(crate) fn str(&mut self, s: &str) -> Result<(), Error> {
        let n = s.len();
        if self.proto == 0 {
            let mut line = vec![op::UNICODE];
            raw_unicode_escape(s, &mut line);
            line.push(b'\n');
            self.write(&line);
        } else if n <= 0xff && self.proto >= 4 {
            self.write(&[op::SHORT_BINUNICODE, n as u8]);
            self.buf.extend_from_slice(s.as_bytes());
        } else if let Ok(n32) = u32::try_from(n) {
            let mut header = [op::BINUNICODE, 0, 0, 0, 0];
            header[1..].copy_from_slice(&n32.to_le_bytes());
            self.write_payload(&header, s.as_bytes());
        } else if self.proto >= 4 {
            let mut header = [op::BINUNICODE8, 0, 0, 0, 0, 0, 0, 0, 0];
            header[1..].copy_from_slice(&(n as u64).to_le_bytes());
            self.write_payload(&header, s.as_bytes());
        } else {
            return Err(encode_error(
                "a str of 4 GiB or more needs pickle protocol 4 or higher",
            ));
        }
        Ok(())
    }

    /// SHORT_BINBYTES / BINBYTES / BINBYTES8 (opcodes of protocol 3 and 4; CPython reads them
    /// whatever the PROTO says).
    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<(), Error> {
        let n = b.len();
        if n <= 0xff {
            self.write(&[op::SHORT_BINBYTES, n as u8]);
            self.buf.extend_from_slice(b);
        } else if let Ok(n32) = u32::try_from(n) {
            let mut header = [op::BINBYTES, 0, 0, 0, 0];
            header[1..].copy_from_slice(&n32.to_le_bytes());
            self.write_payload(&header, b);
        } else if self.proto >= 4 {
            let mut header = [op::BINBYTES8, 0, 0, 0, 0, 0, 0, 0, 0];
            header[1..].copy_from_slice(&(n as u64).to_le_bytes());
            self.write_payload(&header, b);
        } else {
            return Err(encode_error(
                "bytes of 4 GiB or more need pickle protocol 4 or higher",
            ));
        }
        Ok(())
    }

    fn bytearray8(&mut self, b: &[u8]) {
        let mut header = [op::BYTEARRAY8, 0, 0, 0, 0, 0, 0, 0, 0];
        header[1..].copy_from_slice(&(b.len() as u64).to_le_bytes());
        self.write_payload(&header, b);
    }

    pub(crate) fn memoize(&mut self, index: u32) {
        if self.proto >= 4 {
            self.op(op::MEMOIZE);
        } else if self.proto >= 1 {
            if index < 256 {
                self.write(&[op::BINPUT, index as u8]);
            } else {
                let mut out = [op::LONG_BINPUT, 0, 0, 0, 0];
                out[1..].copy_from_slice(&index.to_le_bytes());
                self.write(&out);
            }
        } else {
            self.write(format!("p{index}\n").as_bytes());
        }
    }

    pub(crate) fn get(&mut self, index: u32) {
        if self.proto >= 1 {
            if index < 256 {
                self.write(&[op::BINGET, index as u8]);
            } else {
                let mut out = [op::LONG_BINGET, 0, 0, 0, 0];
                out[1..].copy_from_slice(&index.to_le_bytes());
                self.write(&out);
            }
        } else {
            self.write(format!("g{index}\n").as_bytes());
        }
    }

    /// The empty tuple: EMPTY_TUPLE, or MARK TUPLE at protocol 0.
    pub(crate) fn empty_tuple(&mut self) {
        if self.proto >= 1 {
            self.op(op::EMPTY_TUPLE);
        } else {
            self.write(&[op::MARK, op::TUPLE]);
        }
    }

    pub(crate) fn empty_list(&mut self) {
        if self.proto >= 1 {
            self.op(op::EMPTY_LIST);
        } else {
            self.write(&[op::MARK, op::LIST]);
        }
    }

    pub(crate) fn empty_dict(&mut self) {
        if self.proto >= 1 {
            self.op(op::EMPTY_DICT);
        } else {
            self.write(&[op::MARK, op::DICT]);
        }
    }

    /// A reference to `module.name`, as CPython's `save_global` writes it.
    fn global(&mut self, module: &str, name: &str) -> Result<(), Error> {
        if self.proto >= 4 {
            self.str(module)?;
            self.str(name)?;
            self.op(op::STACK_GLOBAL);
            return Ok(());
        }
        let check = |what: &str, s: &str| -> Result<(), Error> {
            if s.is_empty() || s.contains('\n') {
                return Err(encode_error(format!(
                    "cannot write the global {module}.{name} with protocol {}: its {what} is empty or holds a newline",
                    self.proto
                )));
            }
            if self.proto < 3 && !s.is_ascii() {
                return Err(encode_error(format!(
                    "cannot write the global {module}.{name} with protocol {}: non-ASCII names need protocol 3 or higher",
                    self.proto
                )));
            }
            Ok(())
        };
        check("module", module)?;
        let parts: Vec<&str> = name.split('.').collect();
        for part in &parts {
            check("name", part)?;
        }
        // A dotted name: getattr(module.first, 'second'), then 'third', ...
        for _ in 1..parts.len() {
            self.global_line(op::GLOBAL, "builtins", "getattr");
            if self.proto < 2 {
                self.op(op::MARK);
            }
        }
        if self.proto < 3 {
            let (module, first) = legacy_name(module, parts[0]);
            self.global_line(op::GLOBAL, module, first);
        } else {
            self.global_line(op::GLOBAL, module, parts[0]);
        }
        for part in &parts[1..] {
            self.str(part)?;
            if self.proto >= 2 {
                self.op(op::TUPLE2);
            } else {
                self.op(op::TUPLE);
            }
            self.op(op::REDUCE);
        }
        Ok(())
    }

    fn global_line(&mut self, opcode: u8, module: &str, name: &str) {
        let mut line = Vec::with_capacity(module.len() + name.len() + 3);
        line.push(opcode);
        line.extend_from_slice(module.as_bytes());
        line.push(b'\n');
        line.extend_from_slice(name.as_bytes());
        line.push(b'\n');
        self.write(&line);
    }
}

/// The `(module, name)` to write in a GLOBAL or INST line below protocol 3 so that CPython's
/// loader, which then remaps Python 2 names ([`crate::compat::fix_imports`]), imports
/// `module.name`: the name itself when the loader leaves it alone, else a Python 2 spelling the
/// loader maps back to it, else the name itself (see the module docs).
fn legacy_name<'a>(module: &'a str, name: &'a str) -> (&'a str, &'a str) {
    use crate::compat::{fix_imports, IMPORT_MAPPING, NAME_MAPPING};
    let loads_as = |m: &str, n: &str| {
        let (fm, fn_) = fix_imports(m, n);
        fm == module && fn_ == name
    };
    if loads_as(module, name) {
        return (module, name);
    }
    for &((m, n), to) in NAME_MAPPING.iter() {
        if to == (module, name) && loads_as(m, n) {
            return (m, n);
        }
    }
    for &(m, to) in IMPORT_MAPPING.iter() {
        if to == module && loads_as(m, name) {
            return (m, name);
        }
    }
    (module, name)
}

/// Trims a little-endian two's complement number to its shortest form (CPython's `encode_long`).
pub(crate) fn minimal_twos_complement(bytes: &[u8]) -> Vec<u8> {
    let mut n = bytes.len();
    while n > 1 {
        let last = bytes[n - 1];
        let sign_of_next = bytes[n - 2] & 0x80;
        if (last == 0x00 && sign_of_next == 0) || (last == 0xff && sign_of_next != 0) {
            n -= 1;
        } else {
            break;
        }
    }
    bytes[..n].to_vec()
}

/// The argument of protocol 0's UNICODE opcode, as `save_str` makes it.
fn raw_unicode_escape(s: &str, out: &mut Vec<u8>) {
    use std::io::Write as _;
    for c in s.chars() {
        match c {
            '\\' | '\0' | '\n' | '\r' | '\x1a' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x100 => out.push(c as u32 as u8),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
}

/// Writes `value` as a pickle of `protocol` (0 to 5).
pub fn write_value(value: &Value, protocol: u8) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write_value_into(value, protocol, &mut out)?;
    Ok(out)
}

/// Appends `value`, pickled with `protocol` (0 to 5), to `out`. On error `out` is left as it was.
pub fn write_value_into(value: &Value, protocol: u8, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let mut writer = ValueWriter::new(value, protocol, std::mem::take(out))?;
    match writer.run() {
        Ok(()) => {
            *out = writer.em.finish();
            Ok(())
        }
        Err(e) => {
            let mut buf = writer.em.buf;
            buf.truncate(start);
            *out = buf;
            Err(e)
        }
    }
}

/// Writes `value`, pickled with `protocol` (0 to 5), to `to` as it is written, a MiB of whole
/// frames at a time, and returns how many bytes it wrote. The pickle never sits whole in memory.
pub fn write_value_to(value: &Value, protocol: u8, to: &mut dyn Write) -> Result<u64, Error> {
    let mut writer = ValueWriter::new(value, protocol, Vec::new())?;
    writer.to = Some(to);
    writer.run()?;
    let rest = writer.em.finish();
    let to = writer.to.take().expect("set above");
    to.write_all(&rest)
        .map_err(|e| Error::io("write the output", e))?;
    Ok(writer.handed + rest.len() as u64)
}

/// How much whole frames a streaming writer holds before handing them on.
const HAND_ON_AT: usize = 1 << 20;

const NO_MEMO: u32 = u32::MAX;

/// The `i`-th item `object` needs before it can exist (its constructor's arguments, a tuple's
/// items): the edges a reference cycle cannot go through only.
fn construction_child(object: &Object, proto: u8, i: usize) -> Option<Item> {
    match object {
        Object::Tuple(v) | Object::FrozenSet(v) => v.get(i).copied(),
        Object::Set(v) if proto < 4 => v.get(i).copied(),
        Object::Instance(inst) => [Some(inst.callable), Some(inst.args), inst.kwargs]
            .into_iter()
            .flatten()
            .nth(i),
        Object::PersistentId(pid) if i == 0 => Some(*pid),
        _ => None,
    }
}

/// The `i`-th item `object` holds (the order of [`Object::for_each_child`]).
fn child_at(object: &Object, i: usize) -> Option<Item> {
    match object {
        Object::List(v) | Object::Tuple(v) | Object::Set(v) | Object::FrozenSet(v) => {
            v.get(i).copied()
        }
        Object::Dict(dict) => dict.get(i / 2).map(|(k, v)| if i % 2 == 1 { v } else { k }),
        Object::Instance(inst) => {
            let head = [Some(inst.callable), Some(inst.args), inst.kwargs];
            let head_len = head.iter().flatten().count();
            if i < head_len {
                return head.into_iter().flatten().nth(i);
            }
            let mut i = i - head_len;
            if i < inst.state.len() {
                return Some(inst.state[i]);
            }
            i -= inst.state.len();
            if i < inst.list_items.len() {
                return Some(inst.list_items[i]);
            }
            i -= inst.list_items.len();
            if i < 2 * inst.dict_items.len() {
                let (k, v) = inst.dict_items[i / 2];
                return Some(if i % 2 == 1 { v } else { k });
            }
            i -= 2 * inst.dict_items.len();
            inst.set_items.get(i).copied()
        }
        Object::PersistentId(pid) if i == 0 => Some(*pid),
        _ => None,
    }
}

/// Sets `refs` to 2 for every reachable object on a reference cycle: the members of strongly
/// connected components of more than one object, and objects holding themselves (Tarjan's
/// algorithm, iteratively).
fn mark_cycles(value: &Value, refs: &mut [u8]) {
    const UNSEEN: u32 = u32::MAX;
    let n = value.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut component: Vec<ObjectId> = Vec::new();
    let mut calls: Vec<(ObjectId, usize)> = Vec::new();
    let mut counter = 0u32;
    let mut visit = |w: ObjectId,
                     index: &mut Vec<u32>,
                     low: &mut Vec<u32>,
                     on_stack: &mut Vec<bool>,
                     component: &mut Vec<ObjectId>,
                     calls: &mut Vec<(ObjectId, usize)>| {
        index[w.index()] = counter;
        low[w.index()] = counter;
        counter += 1;
        component.push(w);
        on_stack[w.index()] = true;
        calls.push((w, 0));
    };
    for start in 0..n {
        if refs[start] == 0 || index[start] != UNSEEN {
            continue;
        }
        visit(
            ObjectId(start as u32),
            &mut index,
            &mut low,
            &mut on_stack,
            &mut component,
            &mut calls,
        );
        while let Some(&mut (v, ref mut next)) = calls.last_mut() {
            if let Some(child) = child_at(value.get(v), *next) {
                *next += 1;
                if let Item::Ref(w) = child {
                    if w == v {
                        refs[v.index()] = 2;
                    } else if index[w.index()] == UNSEEN {
                        visit(
                            w,
                            &mut index,
                            &mut low,
                            &mut on_stack,
                            &mut component,
                            &mut calls,
                        );
                    } else if on_stack[w.index()] {
                        low[v.index()] = low[v.index()].min(index[w.index()]);
                    }
                }
                continue;
            }
            calls.pop();
            if let Some(&(u, _)) = calls.last() {
                low[u.index()] = low[u.index()].min(low[v.index()]);
            }
            if low[v.index()] == index[v.index()] {
                let cyclic = component.last() != Some(&v);
                while let Some(w) = component.pop() {
                    on_stack[w.index()] = false;
                    if cyclic {
                        refs[w.index()] = 2;
                    }
                    if w == v {
                        break;
                    }
                }
            }
        }
    }
}

/// Finds the objects to memoize (2 in the result): those referenced more than once (the root
/// counts) and those on a reference cycle. CPython memoizes everything; this writer only what a
/// later reference may fetch. Refuses cycles that go through construction edges only.
fn analyse(value: &Value, proto: u8) -> Result<Vec<u8>, Error> {
    let n = value.len();
    let mut refs = vec![0u8; n];
    let mut stack: Vec<ObjectId> = Vec::new();
    let mut dangling = false;
    let mut count = |item: Item, refs: &mut Vec<u8>, stack: &mut Vec<ObjectId>| {
        if let Item::Ref(id) = item {
            let Some(r) = refs.get_mut(id.index()) else {
                dangling = true;
                return;
            };
            if *r == 0 {
                stack.push(id);
            }
            *r = r.saturating_add(1);
        }
    };
    count(value.root(), &mut refs, &mut stack);
    while let Some(id) = stack.pop() {
        value
            .get(id)
            .for_each_child(|item| count(item, &mut refs, &mut stack));
    }
    if dangling {
        return Err(encode_error(
            "the value refers to an object outside its arena",
        ));
    }

    mark_cycles(value, &mut refs);

    // Depth-first search over construction edges: 0 = unseen, 1 = on the path, 2 = done.
    let mut color = vec![0u8; n];
    let mut path: Vec<(ObjectId, usize)> = Vec::new();
    for start in 0..n {
        if refs[start] == 0 || color[start] != 0 {
            continue;
        }
        color[start] = 1;
        path.push((ObjectId(start as u32), 0));
        while let Some(&mut (id, ref mut next)) = path.last_mut() {
            match construction_child(value.get(id), proto, *next) {
                Some(child) => {
                    *next += 1;
                    if let Item::Ref(c) = child {
                        match color[c.index()] {
                            0 => {
                                color[c.index()] = 1;
                                path.push((c, 0));
                            }
                            1 => {
                                return Err(encode_error(format!(
                                    "a {} is needed to build itself (a reference cycle through tuple items, \
                                     frozenset items or call arguments only); Python cannot create it and \
                                     pickle cannot write it",
                                    value.get(c).type_name()
                                )))
                            }
                            _ => {}
                        }
                    }
                }
                None => {
                    color[id.index()] = 2;
                    path.pop();
                }
            }
        }
    }
    Ok(refs)
}

/// Which item list of an object a task walks.
#[derive(Clone, Copy, Debug)]
enum Field {
    /// List/Tuple/Set/FrozenSet items.
    Items,
    /// Dict pairs.
    Pairs,
    InstanceList,
    InstanceDict,
    InstanceSet,
    /// The items of an instance's `args` tuple (INST / OBJ / `copyreg.__newobj__`).
    Args,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum BatchOp {
    Appends,
    SetItems,
    AddItems,
}

/// What comes after a constructor's arguments.
#[derive(Clone, Copy, Debug)]
enum Build {
    /// These opcodes (REDUCE, NEWOBJ, TUPLE1+REDUCE, BINPERSID, ...).
    Ops(&'static [u8]),
    /// INST with the class named inline (the class is this Global object).
    Inst(ObjectId),
}

#[derive(Debug)]
enum Task {
    Save(Item),
    Op(u8),
    /// Saves items `pos..end` of a field, one task at a time.
    Items {
        id: ObjectId,
        field: Field,
        pos: usize,
        end: usize,
    },
    /// APPENDS / SETITEMS / ADDITEMS in batches from `pos`. `exact`: CPython's path for exact
    /// lists and dicts (one APPEND only when the whole list has one item); otherwise the path for
    /// iterators (any one-item batch is an APPEND / SETITEM).
    Batches {
        id: ObjectId,
        field: Field,
        pos: usize,
        op: BatchOp,
        exact: bool,
    },
    /// After a tuple's items: TUPLEn, or discard them if saving them built the tuple.
    FinishTuple {
        id: ObjectId,
        n: usize,
        marked: bool,
    },
    /// After a frozenset's items (protocol ≥ 4).
    FinishFrozenSet(ObjectId),
    /// After a constructor's arguments: the building opcodes, then memoize, then (instances)
    /// the items and states; or discard if saving the arguments built the object.
    FinishBuilt {
        id: ObjectId,
        build: Build,
        instance: bool,
    },
}

struct ValueWriter<'v, 'w> {
    value: &'v Value,
    em: Emitter,
    refs: Vec<u8>,
    memo: Vec<u32>,
    next_memo: u32,
    next_buffer: u32,
    tasks: Vec<Task>,
    /// Where whole frames go as they close, for [`write_value_to`] (none: all stay in `em`).
    to: Option<&'w mut dyn Write>,
    /// Bytes handed to `to`.
    handed: u64,
}

impl<'v, 'w> ValueWriter<'v, 'w> {
    fn new(value: &'v Value, protocol: u8, buf: Vec<u8>) -> Result<Self, Error> {
        if protocol > HIGHEST_PROTOCOL {
            return Err(encode_error(format!(
                "unsupported pickle protocol {protocol} (0 to {HIGHEST_PROTOCOL} are supported)"
            )));
        }
        Ok(ValueWriter {
            value,
            em: Emitter::new(buf, protocol),
            refs: analyse(value, protocol)?,
            memo: vec![NO_MEMO; value.len()],
            next_memo: 0,
            next_buffer: 0,
            tasks: Vec::new(),
            to: None,
            handed: 0,
        })
    }

    fn run(&mut self) -> Result<(), Error> {
        self.tasks.push(Task::Save(self.value.root()));
        while let Some(task) = self.tasks.pop() {
            self.step(task)?;
            if self.to.is_some() && self.em.flushable() >= HAND_ON_AT {
                self.hand_on()?;
            }
        }
        Ok(())
    }

    #[cold]
    fn hand_on(&mut self) -> Result<(), Error> {
        let ready = self.em.take_flushable();
        if let Some(to) = self.to.as_deref_mut() {
            to.write_all(&ready)
                .map_err(|e| Error::io("write the output", e))?;
        }
        self.handed += ready.len() as u64;
        Ok(())
    }

    fn proto(&self) -> u8 {
        self.em.proto()
    }

    fn memoize_if_shared(&mut self, id: ObjectId) {
        if self.refs[id.index()] >= 2 {
            let index = self.next_memo;
            self.next_memo += 1;
            self.memo[id.index()] = index;
            self.em.memoize(index);
        }
    }

    fn memo_of(&self, id: ObjectId) -> Option<u32> {
        let m = self.memo[id.index()];
        (m != NO_MEMO).then_some(m)
    }

    fn field_len(&self, id: ObjectId, field: Field) -> usize {
        match (self.value.get(id), field) {
            (
                Object::List(v) | Object::Tuple(v) | Object::Set(v) | Object::FrozenSet(v),
                Field::Items,
            ) => v.len(),
            (Object::Dict(p), Field::Pairs) => p.len(),
            (Object::Instance(inst), Field::InstanceList) => inst.list_items.len(),
            (Object::Instance(inst), Field::InstanceDict) => inst.dict_items.len(),
            (Object::Instance(inst), Field::InstanceSet) => inst.set_items.len(),
            (Object::Tuple(v), Field::Args) => v.len(),
            _ => 0,
        }
    }

    /// Pushes the saves of item `i` of a field (a pair pushes the value, then the key on top).
    fn push_item(&mut self, id: ObjectId, field: Field, i: usize) {
        match (self.value.get(id), field) {
            (
                Object::List(v) | Object::Tuple(v) | Object::Set(v) | Object::FrozenSet(v),
                Field::Items | Field::Args,
            ) => self.tasks.push(Task::Save(v[i])),
            (Object::Dict(dict), Field::Pairs) => {
                let (key, value) = dict.get(i).expect("an entry of the dict");
                self.tasks.push(Task::Save(value));
                self.tasks.push(Task::Save(key));
            }
            (Object::Instance(inst), Field::InstanceList) => {
                self.tasks.push(Task::Save(inst.list_items[i]))
            }
            (Object::Instance(inst), Field::InstanceDict) => {
                self.tasks.push(Task::Save(inst.dict_items[i].1));
                self.tasks.push(Task::Save(inst.dict_items[i].0));
            }
            (Object::Instance(inst), Field::InstanceSet) => {
                self.tasks.push(Task::Save(inst.set_items[i]))
            }
            _ => unreachable!("push_item on a field the object does not have"),
        }
    }

    fn step(&mut self, task: Task) -> Result<(), Error> {
        match task {
            Task::Save(item) => self.save(item)?,
            Task::Op(code) => self.em.op(code),
            Task::Items {
                id,
                field,
                pos,
                end,
            } => {
                if pos < end {
                    self.tasks.push(Task::Items {
                        id,
                        field,
                        pos: pos + 1,
                        end,
                    });
                    self.push_item(id, field, pos);
                }
            }
            Task::Batches {
                id,
                field,
                pos,
                op: batch_op,
                exact,
            } => self.batches(id, field, pos, batch_op, exact),
            Task::FinishTuple { id, n, marked } => {
                if let Some(m) = self.memo_of(id) {
                    // Saving the items built (and memoized) this tuple: drop ours, fetch it.
                    if marked && self.proto() >= 1 {
                        self.em.op(op::POP_MARK);
                    } else {
                        for _ in 0..n + usize::from(marked) {
                            self.em.op(op::POP);
                        }
                    }
                    self.em.get(m);
                } else {
                    self.em.op(match (marked, n) {
                        (false, 1) => op::TUPLE1,
                        (false, 2) => op::TUPLE2,
                        (false, 3) => op::TUPLE3,
                        _ => op::TUPLE,
                    });
                    self.memoize_if_shared(id);
                }
            }
            Task::FinishFrozenSet(id) => {
                if let Some(m) = self.memo_of(id) {
                    self.em.op(op::POP_MARK);
                    self.em.get(m);
                } else {
                    self.em.op(op::FROZENSET);
                    self.memoize_if_shared(id);
                }
            }
            Task::FinishBuilt {
                id,
                build,
                instance,
            } => {
                match build {
                    Build::Ops(ops) => self.em.write(ops),
                    Build::Inst(class) => {
                        let Object::Global(g) = self.value.get(class) else {
                            unreachable!("INST class checked when scheduled")
                        };
                        let (module, name) = (&g.module, &g.name);
                        if self.proto() < 3 {
                            let (module, name) = legacy_name(module, name);
                            self.em.global_line(op::INST, module, name);
                        } else {
                            self.em.global_line(op::INST, module, name);
                        }
                    }
                }
                if let Some(m) = self.memo_of(id) {
                    // The arguments led back here and built the object already (with its
                    // items and state): drop this second result and fetch the first.
                    self.em.op(op::POP);
                    self.em.get(m);
                    return Ok(());
                }
                self.memoize_if_shared(id);
                if instance {
                    self.schedule_instance_contents(id);
                }
            }
        }
        Ok(())
    }

    fn batches(&mut self, id: ObjectId, field: Field, pos: usize, batch_op: BatchOp, exact: bool) {
        let len = self.field_len(id, field);
        if pos >= len {
            return;
        }
        let (single, multi) = match batch_op {
            BatchOp::Appends => (op::APPEND, op::APPENDS),
            BatchOp::SetItems => (op::SETITEM, op::SETITEMS),
            BatchOp::AddItems => (op::ADDITEMS, op::ADDITEMS),
        };
        if self.proto() == 0 {
            // No APPENDS / SETITEMS at protocol 0: one at a time.
            self.tasks.push(Task::Batches {
                id,
                field,
                pos: pos + 1,
                op: batch_op,
                exact,
            });
            self.tasks.push(Task::Op(single));
            self.push_item(id, field, pos);
            return;
        }
        let end = (pos + BATCH_SIZE).min(len);
        let one = if exact { len == 1 } else { end - pos == 1 };
        if exact && batch_op != BatchOp::Appends && end == len && end - pos == BATCH_SIZE {
            // CPython's exact dict and set loops (do ... while the batch was full) end with an
            // empty MARK SETITEMS / MARK ADDITEMS when the size is a multiple of 1000.
            self.tasks.push(Task::Op(multi));
            self.tasks.push(Task::Op(op::MARK));
        }
        self.tasks.push(Task::Batches {
            id,
            field,
            pos: end,
            op: batch_op,
            exact,
        });
        if one && batch_op != BatchOp::AddItems {
            self.tasks.push(Task::Op(single));
        } else {
            self.em.op(op::MARK);
            self.tasks.push(Task::Op(multi));
        }
        self.tasks.push(Task::Items {
            id,
            field,
            pos,
            end,
        });
    }

    fn schedule_instance_contents(&mut self, id: ObjectId) {
        let Object::Instance(inst) = self.value.get(id) else {
            unreachable!()
        };
        // Pushed in reverse: list items, dict items, set items, then the states.
        for &state in inst.state.iter().rev() {
            self.tasks.push(Task::Op(op::BUILD));
            self.tasks.push(Task::Save(state));
        }
        for (field, batch_op) in [
            (Field::InstanceSet, BatchOp::AddItems),
            (Field::InstanceDict, BatchOp::SetItems),
            (Field::InstanceList, BatchOp::Appends),
        ] {
            self.tasks.push(Task::Batches {
                id,
                field,
                pos: 0,
                op: batch_op,
                exact: false,
            });
        }
    }

    fn save(&mut self, item: Item) -> Result<(), Error> {
        self.em.boundary();
        match item {
            Item::None => self.em.none(),
            Item::Bool(b) => self.em.bool(b),
            Item::Int(i) => self.em.int(i),
            Item::Float(f) => self.em.float(f),
            Item::Ref(id) => {
                if let Some(m) = self.memo_of(id) {
                    self.em.get(m);
                } else {
                    self.save_object(id)?;
                }
            }
        }
        Ok(())
    }

    /// Pushes a constructor's finishing task, then its arguments (`args` are saved in order).
    fn build(&mut self, id: ObjectId, build: Build, instance: bool, args: &[Item]) {
        self.tasks.push(Task::FinishBuilt {
            id,
            build,
            instance,
        });
        for &a in args.iter().rev() {
            self.tasks.push(Task::Save(a));
        }
    }

    /// Writes `bytes(b)` below protocol 3, as CPython: `_codecs.encode(latin1 str, 'latin1')`,
    /// or `bytes()` when empty. The argument strings are not objects of the graph.
    fn legacy_bytes(&mut self, b: &[u8]) -> Result<(), Error> {
        if b.is_empty() {
            self.em.global("builtins", "bytes")?;
            self.em.empty_tuple();
        } else {
            self.em.global("_codecs", "encode")?;
            if self.proto() < 2 {
                self.em.op(op::MARK);
            }
            let latin1: String = b.iter().map(|&c| c as char).collect();
            self.em.str(&latin1)?;
            self.em.str("latin1")?;
            self.em.op(if self.proto() >= 2 {
                op::TUPLE2
            } else {
                op::TUPLE
            });
        }
        self.em.op(op::REDUCE);
        Ok(())
    }

    fn save_object(&mut self, id: ObjectId) -> Result<(), Error> {
        let value = self.value;
        let proto = self.proto();
        match value.get(id) {
            Object::BigInt(b) => {
                if let Ok(small) = i64::try_from(&**b) {
                    self.em.int(small);
                } else if proto >= 2 {
                    self.em.long_bytes(&b.to_signed_bytes_le());
                } else {
                    self.em.write(format!("L{b}L\n").as_bytes());
                }
                self.memoize_if_shared(id);
            }
            Object::Complex { re, im } => {
                self.em.global("builtins", "complex")?;
                if proto < 2 {
                    self.em.op(op::MARK);
                }
                self.em.float(*re);
                self.em.float(*im);
                self.em.op(if proto >= 2 { op::TUPLE2 } else { op::TUPLE });
                self.em.op(op::REDUCE);
                self.memoize_if_shared(id);
            }
            Object::Str(s) => {
                self.em.str(s)?;
                self.memoize_if_shared(id);
            }
            Object::Bytes(b) => {
                if proto >= 3 {
                    self.em.bytes(b)?;
                } else {
                    self.legacy_bytes(b)?;
                }
                self.memoize_if_shared(id);
            }
            Object::ByteArray(b) => {
                if proto >= 5 {
                    self.em.bytearray8(b);
                } else {
                    self.em.global("builtins", "bytearray")?;
                    if b.is_empty() {
                        self.em.empty_tuple();
                    } else {
                        if proto < 2 {
                            self.em.op(op::MARK);
                        }
                        if proto >= 3 {
                            self.em.bytes(b)?;
                        } else {
                            self.legacy_bytes(b)?;
                        }
                        self.em.op(if proto >= 2 { op::TUPLE1 } else { op::TUPLE });
                    }
                    self.em.op(op::REDUCE);
                }
                self.memoize_if_shared(id);
            }
            Object::List(_) => {
                self.em.empty_list();
                self.memoize_if_shared(id);
                self.tasks.push(Task::Batches {
                    id,
                    field: Field::Items,
                    pos: 0,
                    op: BatchOp::Appends,
                    exact: true,
                });
            }
            Object::Dict(_) => {
                self.em.empty_dict();
                self.memoize_if_shared(id);
                self.tasks.push(Task::Batches {
                    id,
                    field: Field::Pairs,
                    pos: 0,
                    op: BatchOp::SetItems,
                    exact: true,
                });
            }
            Object::Set(_) if proto >= 4 => {
                self.em.op(op::EMPTY_SET);
                self.memoize_if_shared(id);
                self.tasks.push(Task::Batches {
                    id,
                    field: Field::Items,
                    pos: 0,
                    op: BatchOp::AddItems,
                    exact: true,
                });
            }
            Object::FrozenSet(items) if proto >= 4 => {
                self.em.op(op::MARK);
                self.tasks.push(Task::FinishFrozenSet(id));
                self.tasks.push(Task::Items {
                    id,
                    field: Field::Items,
                    pos: 0,
                    end: items.len(),
                });
            }
            Object::Set(_) | Object::FrozenSet(_) => {
                // builtins.set([items]) / builtins.frozenset([items]), as CPython below protocol 4.
                let name = if matches!(value.get(id), Object::Set(_)) {
                    "set"
                } else {
                    "frozenset"
                };
                self.em.global("builtins", name)?;
                if proto < 2 {
                    self.em.op(op::MARK);
                }
                self.em.empty_list();
                let ops: &'static [u8] = if proto >= 2 {
                    &[op::TUPLE1, op::REDUCE]
                } else {
                    &[op::TUPLE, op::REDUCE]
                };
                self.tasks.push(Task::FinishBuilt {
                    id,
                    build: Build::Ops(ops),
                    instance: false,
                });
                self.tasks.push(Task::Batches {
                    id,
                    field: Field::Items,
                    pos: 0,
                    op: BatchOp::Appends,
                    exact: true,
                });
            }
            Object::Tuple(items) => {
                let n = items.len();
                if n == 0 {
                    self.em.empty_tuple();
                    self.memoize_if_shared(id);
                } else {
                    let marked = !(n <= 3 && proto >= 2);
                    if marked {
                        self.em.op(op::MARK);
                    }
                    self.tasks.push(Task::FinishTuple { id, n, marked });
                    self.tasks.push(Task::Items {
                        id,
                        field: Field::Items,
                        pos: 0,
                        end: n,
                    });
                }
            }
            Object::Global(g) => {
                self.em.global(&g.module, &g.name)?;
                self.memoize_if_shared(id);
            }
            Object::Extension(code) => {
                if proto < 2 {
                    return Err(encode_error(format!(
                        "the extension code {code} (EXT opcodes) needs protocol 2 or higher"
                    )));
                }
                let code = *code;
                if (0..=0xff).contains(&code) {
                    self.em.write(&[op::EXT1, code as u8]);
                } else if (0..=0xffff).contains(&code) {
                    let b = (code as u16).to_le_bytes();
                    self.em.write(&[op::EXT2, b[0], b[1]]);
                } else {
                    let mut out = [op::EXT4, 0, 0, 0, 0];
                    out[1..].copy_from_slice(&code.to_le_bytes());
                    self.em.write(&out);
                }
                self.memoize_if_shared(id);
            }
            Object::PersistentId(pid) => {
                if proto >= 1 {
                    self.build(id, Build::Ops(&[op::BINPERSID]), false, &[*pid]);
                } else {
                    let text = value
                        .as_str(*pid)
                        .filter(|s| s.is_ascii() && !s.contains('\n'));
                    let Some(text) = text else {
                        return Err(encode_error(
                            "a persistent id at protocol 0 must be an ASCII str without newlines (PERSID); use protocol 1 or higher",
                        ));
                    };
                    let mut line = vec![op::PERSID];
                    line.extend_from_slice(text.as_bytes());
                    line.push(b'\n');
                    self.em.write(&line);
                    self.memoize_if_shared(id);
                }
            }
            Object::Buffer { index, readonly } => {
                if proto < 5 {
                    return Err(encode_error(format!(
                        "out-of-band buffer {index} needs protocol 5 (NEXT_BUFFER)"
                    )));
                }
                if *index != self.next_buffer {
                    return Err(encode_error(format!(
                        "out-of-band buffer {index} would be read as buffer {}: NEXT_BUFFER takes the \
                         buffers in order, so they must appear in the graph in index order",
                        self.next_buffer
                    )));
                }
                self.next_buffer += 1;
                self.em.op(op::NEXT_BUFFER);
                if *readonly {
                    self.em.op(op::READONLY_BUFFER);
                }
                self.memoize_if_shared(id);
            }
            Object::Instance(inst) => self.save_instance(id, inst)?,
        }
        Ok(())
    }

    fn save_instance(&mut self, id: ObjectId, inst: &'v Instance) -> Result<(), Error> {
        let value = self.value;
        let proto = self.proto();
        if proto < 4 && !inst.set_items.is_empty() {
            return Err(encode_error(
                "an instance with set items (ADDITEMS) needs protocol 4 or higher",
            ));
        }
        let args_tuple = match value.object(inst.args) {
            Some(Object::Tuple(_)) => match inst.args {
                Item::Ref(t) => Some(t),
                _ => None,
            },
            _ => None,
        };
        let need_tuple = |what: &str| {
            encode_error(format!(
                "{what} needs its arguments as a tuple, found {}",
                describe(value, inst.args)
            ))
        };
        let kwargs_empty = match inst.kwargs {
            None => true,
            Some(kw) => matches!(value.object(kw), Some(Object::Dict(p)) if p.is_empty()),
        };
        match inst.kind {
            CallKind::Reduce => {
                self.build(
                    id,
                    Build::Ops(&[op::REDUCE]),
                    true,
                    &[inst.callable, inst.args],
                );
            }
            CallKind::NewObj | CallKind::NewObjEx
                if proto >= 4 && (inst.kind == CallKind::NewObjEx || !kwargs_empty) =>
            {
                self.tasks.push(Task::FinishBuilt {
                    id,
                    build: Build::Ops(&[op::NEWOBJ_EX]),
                    instance: true,
                });
                match inst.kwargs {
                    Some(kw) => self.tasks.push(Task::Save(kw)),
                    None => self.tasks.push(Task::Op(op::EMPTY_DICT)),
                }
                self.tasks.push(Task::Save(inst.args));
                self.tasks.push(Task::Save(inst.callable));
            }
            CallKind::NewObj | CallKind::NewObjEx if kwargs_empty && proto >= 2 => {
                self.build(
                    id,
                    Build::Ops(&[op::NEWOBJ]),
                    true,
                    &[inst.callable, inst.args],
                );
            }
            CallKind::NewObj | CallKind::NewObjEx if kwargs_empty => {
                // copyreg.__newobj__(cls, *args)
                let t = args_tuple.ok_or_else(|| need_tuple("NEWOBJ below protocol 2"))?;
                self.em.global("copyreg", "__newobj__")?;
                self.em.op(op::MARK);
                self.tasks.push(Task::FinishBuilt {
                    id,
                    build: Build::Ops(&[op::TUPLE, op::REDUCE]),
                    instance: true,
                });
                self.tasks.push(Task::Items {
                    id: t,
                    field: Field::Args,
                    pos: 0,
                    end: self.field_len(t, Field::Args),
                });
                self.tasks.push(Task::Save(inst.callable));
            }
            CallKind::NewObj | CallKind::NewObjEx => {
                // copyreg.__newobj_ex__(cls, args, kwargs), below protocol 4.
                let kwargs = inst.kwargs.unwrap_or(Item::None);
                self.em.global("copyreg", "__newobj_ex__")?;
                let ops: &'static [u8] = if proto >= 2 {
                    &[op::TUPLE3, op::REDUCE]
                } else {
                    self.em.op(op::MARK);
                    &[op::TUPLE, op::REDUCE]
                };
                self.build(
                    id,
                    Build::Ops(ops),
                    true,
                    &[inst.callable, inst.args, kwargs],
                );
            }
            CallKind::Inst | CallKind::Obj => {
                let t = args_tuple.ok_or_else(|| {
                    need_tuple(if inst.kind == CallKind::Inst {
                        "INST"
                    } else {
                        "OBJ"
                    })
                })?;
                let class = match (inst.kind, inst.callable) {
                    (CallKind::Inst, Item::Ref(c)) => match value.get(c) {
                        Object::Global(g)
                            if !g.module.is_empty()
                                && !g.name.is_empty()
                                && !g.module.contains('\n')
                                && !g.name.contains('\n')
                                && (proto >= 3 || (g.module.is_ascii() && g.name.is_ascii()))
                                && (proto >= 4 || !g.name.contains('.')) =>
                        {
                            Some(c)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                self.em.op(op::MARK);
                match class {
                    Some(c) => {
                        self.tasks.push(Task::FinishBuilt {
                            id,
                            build: Build::Inst(c),
                            instance: true,
                        });
                    }
                    None => {
                        // OBJ: the class on the stack after the MARK (same call as INST).
                        self.tasks.push(Task::FinishBuilt {
                            id,
                            build: Build::Ops(&[op::OBJ]),
                            instance: true,
                        });
                    }
                }
                self.tasks.push(Task::Items {
                    id: t,
                    field: Field::Args,
                    pos: 0,
                    end: self.field_len(t, Field::Args),
                });
                if class.is_none() {
                    self.tasks.push(Task::Save(inst.callable));
                }
            }
        }
        Ok(())
    }
}

/// A short description of an item, for messages.
fn describe(value: &Value, item: Item) -> String {
    match item {
        Item::None => "None".into(),
        Item::Bool(_) => "a bool".into(),
        Item::Int(_) => "an int".into(),
        Item::Float(_) => "a float".into(),
        Item::Ref(id) => format!("a {}", value.get(id).type_name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_twos_complement_matches_cpython_encode_long() {
        // pickle.encode_long
        let cases: &[(i128, &[u8])] = &[
            (255, b"\xff\x00"),
            (-256, b"\x00\xff"),
            (-32768, b"\x00\x80"),
            (-128, b"\x80"),
            (127, b"\x7f"),
            (128, b"\x80\x00"),
            (-1, b"\xff"),
        ];
        for &(v, want) in cases {
            assert_eq!(minimal_twos_complement(&v.to_le_bytes()), want, "{v}");
        }
    }

    #[test]
    fn frames_shorter_than_four_bytes_are_not_framed() {
        let mut em = Emitter::new(Vec::new(), 4);
        em.none();
        assert_eq!(em.finish(), b"\x80\x04N.");
        let mut em = Emitter::new(Vec::new(), 4);
        em.int(1);
        em.op(op::TUPLE1);
        assert_eq!(
            em.finish(),
            b"\x80\x04\x95\x04\x00\x00\x00\x00\x00\x00\x00K\x01\x85."
        );
    }

    #[test]
    fn protocol_0_strings_escape_like_save_str() {
        let mut out = Vec::new();
        raw_unicode_escape("a\\b\n\u{e9}\u{20ac}\u{1f600}", &mut out);
        assert_eq!(out, b"a\\u005cb\\u000a\xe9\\u20ac\\U0001f600");
    }
}
