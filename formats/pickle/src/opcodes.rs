//! The one opcode table: all 68 opcodes of pickle protocols 0 to 5.
//!
//! Everything that knows about opcodes reads it: the reader (how long an argument is and how
//! it is written), the machine (which matches on [`Op`]) and the disassembler (names). The
//! `opcodes!` invocation below is the only place that spells a byte value; the [`Op`] enum,
//! [`OPCODES`] and the 256-entry [`BY_BYTE`] lookup are generated from it.

use std::fmt;

/// How an opcode's argument is written in the stream (the names are `pickletools`' argument
/// descriptors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// No argument.
    None,
    /// One unsigned byte.
    Uint1,
    /// Two bytes, unsigned little-endian.
    Uint2,
    /// Four bytes, signed little-endian.
    Int4,
    /// Four bytes, unsigned little-endian.
    Uint4,
    /// Eight bytes, unsigned little-endian.
    Uint8,
    /// A newline-terminated decimal integer (INT also takes `00`/`01` for False/True and
    /// anything C's `strtol(s, 0)` or Python's `int(s, 0)` takes; GET and PUT read base 10).
    DecimalNlShort,
    /// A newline-terminated integer with an optional trailing `L`.
    DecimalNlLong,
    /// A newline-terminated float literal.
    FloatNl,
    /// Eight bytes, a big-endian IEEE 754 double.
    Float8,
    /// A newline-terminated quoted Python 2 string literal, escapes included.
    StringNl,
    /// A newline-terminated line taken as is (PERSID's persistent id).
    StringNlNoEscape,
    /// Two newline-terminated lines: a module and a name (GLOBAL, INST).
    StringNlNoEscapePair,
    /// A one-byte length and that many bytes of Python 2 string.
    String1,
    /// A four-byte length and that many bytes of Python 2 string.
    String4,
    /// A one-byte length and that many bytes.
    Bytes1,
    /// A four-byte length and that many bytes.
    Bytes4,
    /// An eight-byte length and that many bytes.
    Bytes8,
    /// An eight-byte length and that many bytes of bytearray.
    ByteArray8,
    /// A newline-terminated raw-unicode-escape encoded string.
    UnicodeStringNl,
    /// A one-byte length and that many bytes of UTF-8.
    UnicodeString1,
    /// A four-byte length and that many bytes of UTF-8.
    UnicodeString4,
    /// An eight-byte length and that many bytes of UTF-8.
    UnicodeString8,
    /// A one-byte length and that many bytes of little-endian two's complement integer.
    Long1,
    /// A four-byte (signed) length and that many bytes of little-endian two's complement integer.
    Long4,
}

impl ArgKind {
    /// The `pickletools` name of this argument descriptor (`None` for no argument).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            ArgKind::None => return None,
            ArgKind::Uint1 => "uint1",
            ArgKind::Uint2 => "uint2",
            ArgKind::Int4 => "int4",
            ArgKind::Uint4 => "uint4",
            ArgKind::Uint8 => "uint8",
            ArgKind::DecimalNlShort => "decimalnl_short",
            ArgKind::DecimalNlLong => "decimalnl_long",
            ArgKind::FloatNl => "floatnl",
            ArgKind::Float8 => "float8",
            ArgKind::StringNl => "stringnl",
            ArgKind::StringNlNoEscape => "stringnl_noescape",
            ArgKind::StringNlNoEscapePair => "stringnl_noescape_pair",
            ArgKind::String1 => "string1",
            ArgKind::String4 => "string4",
            ArgKind::Bytes1 => "bytes1",
            ArgKind::Bytes4 => "bytes4",
            ArgKind::Bytes8 => "bytes8",
            ArgKind::ByteArray8 => "bytearray8",
            ArgKind::UnicodeStringNl => "unicodestringnl",
            ArgKind::UnicodeString1 => "unicodestring1",
            ArgKind::UnicodeString4 => "unicodestring4",
            ArgKind::UnicodeString8 => "unicodestring8",
            ArgKind::Long1 => "long1",
            ArgKind::Long4 => "long4",
        })
    }
}

/// An opcode's effect on the stack, as `pickletools` describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackEffect {
    /// Pops the topmost mark and everything above it first.
    pub mark: bool,
    /// Then pops this many items (below the mark, when `mark`).
    pub pops: u8,
    /// Then pushes this many.
    pub pushes: u8,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    pub op: Op,
    /// The byte that encodes the opcode.
    pub code: u8,
    /// The name CPython and `pickletools` use.
    pub name: &'static str,
    pub arg: ArgKind,
    /// The protocol that introduced the opcode.
    pub proto: u8,
    /// What it does to the stack (MARK itself pushes a mark, which this does not count).
    pub stack: StackEffect,
    /// What it does, in one line.
    pub doc: &'static str,
}

macro_rules! opcodes {
    ($( $variant:ident = $code:literal, $name:literal, $arg:ident, $proto:literal,
        $mark:ident $pops:literal $pushes:literal, $doc:literal; )*) => {
        /// A pickle opcode. The discriminant is the opcode's byte.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Op {
            $( #[doc = $doc] $variant = $code, )*
        }

        /// Every opcode, in `pickletools.opcodes` order.
        pub static OPCODES: [OpInfo; [$($code),*].len()] = [
            $( OpInfo {
                op: Op::$variant,
                code: $code,
                name: $name,
                arg: ArgKind::$arg,
                proto: $proto,
                stack: StackEffect {
                    mark: opcodes!(@mark $mark),
                    pops: $pops,
                    pushes: $pushes,
                },
                doc: $doc,
            }, )*
        ];
    };
    (@mark mark) => { true };
    (@mark keep) => { false };
}

opcodes! {
    Int = b'I', "INT", DecimalNlShort, 0, keep 0 1, "Push an int (or a bool for `00`/`01`) written in decimal.";
    BinInt = b'J', "BININT", Int4, 1, keep 0 1, "Push a four-byte signed int.";
    BinInt1 = b'K', "BININT1", Uint1, 1, keep 0 1, "Push a one-byte unsigned int.";
    BinInt2 = b'M', "BININT2", Uint2, 1, keep 0 1, "Push a two-byte unsigned int.";
    Long = b'L', "LONG", DecimalNlLong, 0, keep 0 1, "Push an int written in decimal, with an optional trailing L.";
    Long1 = 0x8a, "LONG1", Long1, 2, keep 0 1, "Push an int of up to 255 bytes of two's complement.";
    Long4 = 0x8b, "LONG4", Long4, 2, keep 0 1, "Push an int of any length of two's complement.";
    String = b'S', "STRING", StringNl, 0, keep 0 1, "Push a Python 2 str written as a quoted literal.";
    BinString = b'T', "BINSTRING", String4, 1, keep 0 1, "Push a Python 2 str with a four-byte length.";
    ShortBinString = b'U', "SHORT_BINSTRING", String1, 1, keep 0 1, "Push a Python 2 str with a one-byte length.";
    BinBytes = b'B', "BINBYTES", Bytes4, 3, keep 0 1, "Push bytes with a four-byte length.";
    ShortBinBytes = b'C', "SHORT_BINBYTES", Bytes1, 3, keep 0 1, "Push bytes with a one-byte length.";
    BinBytes8 = 0x8e, "BINBYTES8", Bytes8, 4, keep 0 1, "Push bytes with an eight-byte length.";
    ByteArray8 = 0x96, "BYTEARRAY8", ByteArray8, 5, keep 0 1, "Push a bytearray with an eight-byte length.";
    NextBuffer = 0x97, "NEXT_BUFFER", None, 5, keep 0 1, "Push the next out-of-band buffer.";
    ReadonlyBuffer = 0x98, "READONLY_BUFFER", None, 5, keep 1 1, "Make the buffer on the stack top read-only.";
    None = b'N', "NONE", None, 0, keep 0 1, "Push None.";
    NewTrue = 0x88, "NEWTRUE", None, 2, keep 0 1, "Push True.";
    NewFalse = 0x89, "NEWFALSE", None, 2, keep 0 1, "Push False.";
    Unicode = b'V', "UNICODE", UnicodeStringNl, 0, keep 0 1, "Push a str written in raw-unicode-escape on one line.";
    ShortBinUnicode = 0x8c, "SHORT_BINUNICODE", UnicodeString1, 4, keep 0 1, "Push a UTF-8 str with a one-byte length.";
    BinUnicode = b'X', "BINUNICODE", UnicodeString4, 1, keep 0 1, "Push a UTF-8 str with a four-byte length.";
    BinUnicode8 = 0x8d, "BINUNICODE8", UnicodeString8, 4, keep 0 1, "Push a UTF-8 str with an eight-byte length.";
    Float = b'F', "FLOAT", FloatNl, 0, keep 0 1, "Push a float written as a decimal literal.";
    BinFloat = b'G', "BINFLOAT", Float8, 1, keep 0 1, "Push a float in eight big-endian bytes.";
    EmptyList = b']', "EMPTY_LIST", None, 1, keep 0 1, "Push an empty list.";
    Append = b'a', "APPEND", None, 0, keep 2 1, "Append the stack top to the list below it.";
    Appends = b'e', "APPENDS", None, 1, mark 1 1, "Extend the list below the topmost mark by the items above it.";
    List = b'l', "LIST", None, 0, mark 0 1, "Build a list of the items above the topmost mark.";
    EmptyTuple = b')', "EMPTY_TUPLE", None, 1, keep 0 1, "Push an empty tuple.";
    Tuple = b't', "TUPLE", None, 0, mark 0 1, "Build a tuple of the items above the topmost mark.";
    Tuple1 = 0x85, "TUPLE1", None, 2, keep 1 1, "Build a tuple of the top stack item.";
    Tuple2 = 0x86, "TUPLE2", None, 2, keep 2 1, "Build a tuple of the top two stack items.";
    Tuple3 = 0x87, "TUPLE3", None, 2, keep 3 1, "Build a tuple of the top three stack items.";
    EmptyDict = b'}', "EMPTY_DICT", None, 1, keep 0 1, "Push an empty dict.";
    Dict = b'd', "DICT", None, 0, mark 0 1, "Build a dict of the key, value pairs above the topmost mark.";
    SetItem = b's', "SETITEM", None, 0, keep 3 1, "Set a key to a value in the dict below them.";
    SetItems = b'u', "SETITEMS", None, 1, mark 1 1, "Set the key, value pairs above the topmost mark in the dict below it.";
    EmptySet = 0x8f, "EMPTY_SET", None, 4, keep 0 1, "Push an empty set.";
    AddItems = 0x90, "ADDITEMS", None, 4, mark 1 1, "Add the items above the topmost mark to the set below it.";
    FrozenSet = 0x91, "FROZENSET", None, 4, mark 0 1, "Build a frozenset of the items above the topmost mark.";
    Pop = b'0', "POP", None, 0, keep 1 0, "Discard the stack top (or the topmost mark, if it is on top).";
    Dup = b'2', "DUP", None, 0, keep 1 2, "Push the stack top again.";
    Mark = b'(', "MARK", None, 0, keep 0 0, "Push a mark.";
    PopMark = b'1', "POP_MARK", None, 1, mark 0 0, "Discard everything above the topmost mark, and the mark.";
    Get = b'g', "GET", DecimalNlShort, 0, keep 0 1, "Push a memo entry (index in decimal).";
    BinGet = b'h', "BINGET", Uint1, 1, keep 0 1, "Push a memo entry (one-byte index).";
    LongBinGet = b'j', "LONG_BINGET", Uint4, 1, keep 0 1, "Push a memo entry (four-byte index).";
    Put = b'p', "PUT", DecimalNlShort, 0, keep 0 0, "Store the stack top in the memo (index in decimal).";
    BinPut = b'q', "BINPUT", Uint1, 1, keep 0 0, "Store the stack top in the memo (one-byte index).";
    LongBinPut = b'r', "LONG_BINPUT", Uint4, 1, keep 0 0, "Store the stack top in the memo (four-byte index).";
    Memoize = 0x94, "MEMOIZE", None, 4, keep 1 1, "Store the stack top in the memo at index len(memo).";
    Ext1 = 0x82, "EXT1", Uint1, 2, keep 0 1, "Push the object of a copyreg extension code (one byte).";
    Ext2 = 0x83, "EXT2", Uint2, 2, keep 0 1, "Push the object of a copyreg extension code (two bytes).";
    Ext4 = 0x84, "EXT4", Int4, 2, keep 0 1, "Push the object of a copyreg extension code (four bytes).";
    Global = b'c', "GLOBAL", StringNlNoEscapePair, 0, keep 0 1, "Import module.name (two lines) and push it.";
    StackGlobal = 0x93, "STACK_GLOBAL", None, 4, keep 2 1, "Import module.name (two str on the stack) and push it.";
    Reduce = b'R', "REDUCE", None, 0, keep 2 1, "Call the callable below the stack top with the argument tuple on top.";
    Build = b'b', "BUILD", None, 0, keep 2 1, "Give the object below the stack top the state on top (__setstate__ or __dict__).";
    Inst = b'i', "INST", StringNlNoEscapePair, 0, mark 0 1, "Call module.name (two lines) with the items above the topmost mark.";
    Obj = b'o', "OBJ", None, 1, mark 0 1, "Call the class after the topmost mark with the items above it.";
    NewObj = 0x81, "NEWOBJ", None, 2, keep 2 1, "cls.__new__(cls, *args) with cls and args on the stack.";
    NewObjEx = 0x92, "NEWOBJ_EX", None, 4, keep 3 1, "cls.__new__(cls, *args, **kwargs) with cls, args, kwargs on the stack.";
    Proto = 0x80, "PROTO", Uint1, 2, keep 0 0, "Say which protocol the pickle uses.";
    Stop = b'.', "STOP", None, 0, keep 1 0, "End the pickle: its value is the stack top.";
    Frame = 0x95, "FRAME", Uint8, 4, keep 0 0, "Say how many bytes the next frame of opcodes takes.";
    PersId = b'P', "PERSID", StringNlNoEscape, 0, keep 0 1, "Push persistent_load(id) for the id written on one line.";
    BinPersId = b'Q', "BINPERSID", None, 1, keep 1 1, "Push persistent_load(id) for the id on the stack top.";
}

/// The table row of every byte that is an opcode.
pub static BY_BYTE: [Option<&OpInfo>; 256] = {
    let mut table: [Option<&OpInfo>; 256] = [None; 256];
    let mut i = 0;
    while i < OPCODES.len() {
        table[OPCODES[i].code as usize] = Some(&OPCODES[i]);
        i += 1;
    }
    table
};

/// [`BY_BYTE`] reduced to one field, for the checks made on every opcode run (a load where
/// the row would take two).
macro_rules! column {
    ($name:ident: $ty:ty = $default:expr, $field:ident) => {
        static $name: [$ty; 256] = {
            let mut table = [$default; 256];
            let mut i = 0;
            while i < OPCODES.len() {
                table[OPCODES[i].code as usize] = OPCODES[i].$field;
                i += 1;
            }
            table
        };
    };
}
column!(ARG_BY_BYTE: ArgKind = ArgKind::None, arg);
column!(PROTO_BY_BYTE: u8 = 0, proto);

/// [`BY_BYTE`] reduced to the opcode: one load per opcode run.
static OP_BY_BYTE: [Option<Op>; 256] = {
    let mut table = [None; 256];
    let mut i = 0;
    while i < OPCODES.len() {
        table[OPCODES[i].code as usize] = Some(OPCODES[i].op);
        i += 1;
    }
    table
};

impl Op {
    /// The opcode a byte encodes, if any.
    #[inline(always)]
    pub fn from_byte(byte: u8) -> Option<Op> {
        OP_BY_BYTE[byte as usize]
    }

    /// This opcode's row of the table.
    #[inline]
    pub fn info(self) -> &'static OpInfo {
        match BY_BYTE[self as u8 as usize] {
            Some(info) => info,
            None => unreachable!("every Op has a row"),
        }
    }

    /// How the argument is written.
    #[inline(always)]
    pub fn arg(self) -> ArgKind {
        ARG_BY_BYTE[self as u8 as usize]
    }

    /// The protocol that introduced the opcode.
    #[inline(always)]
    pub fn proto(self) -> u8 {
        PROTO_BY_BYTE[self as u8 as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[(o.code, o.name, o.arg.name if o.arg else None, o.proto, markobject in
    /// o.stack_before, <items popped: before the mark if any>, len(o.stack_after) (0 for MARK))
    /// for o in pickletools.opcodes]` from CPython 3.11.7.
    #[allow(clippy::type_complexity)]
    const PICKLETOOLS: &[(u8, &str, Option<&str>, u8, bool, u8, u8)] = &[
        (b'I', "INT", Some("decimalnl_short"), 0, false, 0, 1),
        (b'J', "BININT", Some("int4"), 1, false, 0, 1),
        (b'K', "BININT1", Some("uint1"), 1, false, 0, 1),
        (b'M', "BININT2", Some("uint2"), 1, false, 0, 1),
        (b'L', "LONG", Some("decimalnl_long"), 0, false, 0, 1),
        (0x8a, "LONG1", Some("long1"), 2, false, 0, 1),
        (0x8b, "LONG4", Some("long4"), 2, false, 0, 1),
        (b'S', "STRING", Some("stringnl"), 0, false, 0, 1),
        (b'T', "BINSTRING", Some("string4"), 1, false, 0, 1),
        (b'U', "SHORT_BINSTRING", Some("string1"), 1, false, 0, 1),
        (b'B', "BINBYTES", Some("bytes4"), 3, false, 0, 1),
        (b'C', "SHORT_BINBYTES", Some("bytes1"), 3, false, 0, 1),
        (0x8e, "BINBYTES8", Some("bytes8"), 4, false, 0, 1),
        (0x96, "BYTEARRAY8", Some("bytearray8"), 5, false, 0, 1),
        (0x97, "NEXT_BUFFER", None, 5, false, 0, 1),
        (0x98, "READONLY_BUFFER", None, 5, false, 1, 1),
        (b'N', "NONE", None, 0, false, 0, 1),
        (0x88, "NEWTRUE", None, 2, false, 0, 1),
        (0x89, "NEWFALSE", None, 2, false, 0, 1),
        (b'V', "UNICODE", Some("unicodestringnl"), 0, false, 0, 1),
        (
            0x8c,
            "SHORT_BINUNICODE",
            Some("unicodestring1"),
            4,
            false,
            0,
            1,
        ),
        (b'X', "BINUNICODE", Some("unicodestring4"), 1, false, 0, 1),
        (0x8d, "BINUNICODE8", Some("unicodestring8"), 4, false, 0, 1),
        (b'F', "FLOAT", Some("floatnl"), 0, false, 0, 1),
        (b'G', "BINFLOAT", Some("float8"), 1, false, 0, 1),
        (b']', "EMPTY_LIST", None, 1, false, 0, 1),
        (b'a', "APPEND", None, 0, false, 2, 1),
        (b'e', "APPENDS", None, 1, true, 1, 1),
        (b'l', "LIST", None, 0, true, 0, 1),
        (b')', "EMPTY_TUPLE", None, 1, false, 0, 1),
        (b't', "TUPLE", None, 0, true, 0, 1),
        (0x85, "TUPLE1", None, 2, false, 1, 1),
        (0x86, "TUPLE2", None, 2, false, 2, 1),
        (0x87, "TUPLE3", None, 2, false, 3, 1),
        (b'}', "EMPTY_DICT", None, 1, false, 0, 1),
        (b'd', "DICT", None, 0, true, 0, 1),
        (b's', "SETITEM", None, 0, false, 3, 1),
        (b'u', "SETITEMS", None, 1, true, 1, 1),
        (0x8f, "EMPTY_SET", None, 4, false, 0, 1),
        (0x90, "ADDITEMS", None, 4, true, 1, 1),
        (0x91, "FROZENSET", None, 4, true, 0, 1),
        (b'0', "POP", None, 0, false, 1, 0),
        (b'2', "DUP", None, 0, false, 1, 2),
        (b'(', "MARK", None, 0, false, 0, 0),
        (b'1', "POP_MARK", None, 1, true, 0, 0),
        (b'g', "GET", Some("decimalnl_short"), 0, false, 0, 1),
        (b'h', "BINGET", Some("uint1"), 1, false, 0, 1),
        (b'j', "LONG_BINGET", Some("uint4"), 1, false, 0, 1),
        (b'p', "PUT", Some("decimalnl_short"), 0, false, 0, 0),
        (b'q', "BINPUT", Some("uint1"), 1, false, 0, 0),
        (b'r', "LONG_BINPUT", Some("uint4"), 1, false, 0, 0),
        (0x94, "MEMOIZE", None, 4, false, 1, 1),
        (0x82, "EXT1", Some("uint1"), 2, false, 0, 1),
        (0x83, "EXT2", Some("uint2"), 2, false, 0, 1),
        (0x84, "EXT4", Some("int4"), 2, false, 0, 1),
        (
            b'c',
            "GLOBAL",
            Some("stringnl_noescape_pair"),
            0,
            false,
            0,
            1,
        ),
        (0x93, "STACK_GLOBAL", None, 4, false, 2, 1),
        (b'R', "REDUCE", None, 0, false, 2, 1),
        (b'b', "BUILD", None, 0, false, 2, 1),
        (b'i', "INST", Some("stringnl_noescape_pair"), 0, true, 0, 1),
        (b'o', "OBJ", None, 1, true, 0, 1),
        (0x81, "NEWOBJ", None, 2, false, 2, 1),
        (0x92, "NEWOBJ_EX", None, 4, false, 3, 1),
        (0x80, "PROTO", Some("uint1"), 2, false, 0, 0),
        (b'.', "STOP", None, 0, false, 1, 0),
        (0x95, "FRAME", Some("uint8"), 4, false, 0, 0),
        (b'P', "PERSID", Some("stringnl_noescape"), 0, false, 0, 1),
        (b'Q', "BINPERSID", None, 1, false, 1, 1),
    ];

    #[test]
    fn the_table_is_pickletools_table() {
        assert_eq!(OPCODES.len(), 68);
        assert_eq!(PICKLETOOLS.len(), 68);
        for (info, &(code, name, arg, proto, mark, pops, pushes)) in OPCODES.iter().zip(PICKLETOOLS)
        {
            assert_eq!(
                (info.code, info.name, info.arg.name(), info.proto),
                (code, name, arg, proto),
                "row of {name}"
            );
            assert_eq!(
                info.stack,
                StackEffect { mark, pops, pushes },
                "stack effect of {name}"
            );
            assert_eq!(info.op as u8, info.code);
        }
    }

    #[test]
    fn by_byte_finds_every_opcode_and_nothing_else() {
        let mut found = 0;
        for byte in 0..=255u8 {
            match Op::from_byte(byte) {
                Some(op) => {
                    found += 1;
                    assert_eq!(op.code(), byte);
                    assert_eq!(op.info().op, op);
                }
                None => assert!(OPCODES.iter().all(|o| o.code != byte)),
            }
        }
        assert_eq!(found, 68);
    }
}
