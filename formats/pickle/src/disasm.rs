//! A disassembler in the spirit of `pickletools.dis`, driven by the opcode table: one line per
//! opcode with its offset, code, name (indented by MARK nesting) and argument, memo and mark
//! notes, and what the machine made of it: the global an opcode imports (after `fix_imports`,
//! whether it is called or given state) and the findings at that offset.
//!
//! For CPython's own pickles the lines read as `pickletools.dis` prints them, except that long
//! payloads are shortened and stacked pickles are all shown.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write};

use num_bigint::BigInt;

use crate::analysis::analyze;
use crate::opcodes::Op;
use crate::reader::{bytes_repr, Arg, Reader};

/// Payload reprs longer than this many bytes or chars are shortened.
const LONG_REPR: usize = 64;

/// Writes the disassembly of `bytes` (every pickle in it) to `out`.
pub fn disassemble(bytes: &[u8], out: &mut dyn Write) -> fmt::Result {
    let analysis = analyze(bytes);
    let mut globals: HashMap<u64, Vec<String>> = HashMap::new();
    for g in &analysis.globals {
        let mut note = format!("-> {}", g.target);
        if g.usage.called {
            note.push_str(" (called)");
        }
        if g.usage.built {
            note.push_str(" (given state)");
        }
        globals.entry(g.offset).or_default().push(note);
    }
    let mut findings: HashMap<u64, Vec<String>> = HashMap::new();
    for f in &analysis.findings {
        findings
            .entry(f.offset)
            .or_default()
            .push(f.message.clone());
    }

    let mut reader = Reader::new(bytes);
    let mut pickle = 0;
    loop {
        if pickle > 0 {
            writeln!(out)?;
            writeln!(
                out,
                "pickle {} at offset {}:",
                pickle + 1,
                reader.position()
            )?;
        }
        for line in findings
            .get(&(reader.position() as u64))
            .into_iter()
            .flatten()
        {
            if pickle > 0 {
                writeln!(out, "       ! {line}")?;
            }
        }
        let mut depth: usize = 0;
        let mut marks: Vec<(u64, usize)> = Vec::new();
        let mut memo: HashSet<i64> = HashSet::new();
        let mut max_proto = 0;
        loop {
            let ins = match reader.read() {
                Ok(Some(ins)) => ins,
                Ok(None) => {
                    writeln!(
                        out,
                        "error at offset {}: ran out of input before STOP",
                        bytes.len()
                    )?;
                    return Ok(());
                }
                Err(e) => {
                    writeln!(out, "error at offset {}: {e}", e.offset)?;
                    return Ok(());
                }
            };
            let info = ins.op.info();
            max_proto = max_proto.max(info.proto);
            let mut notes: Vec<String> = Vec::new();
            let indent = "    ".repeat(marks.len());
            // Marks popped, as pickletools reports them.
            let pops_mark = info.stack.mark
                || (ins.op == Op::Pop && marks.last().is_some_and(|&(_, d)| d == depth));
            if pops_mark {
                match marks.pop() {
                    Some((at, d)) => {
                        notes.push(format!("(MARK at {at})"));
                        depth = d;
                    }
                    None => notes.push("(no MARK exists on stack)".into()),
                }
            }
            if !(ins.op == Op::Pop && pops_mark) {
                depth = depth.saturating_sub(info.stack.pops as usize) + info.stack.pushes as usize;
            }
            match (ins.op, &ins.arg) {
                (Op::Memoize, _) => {
                    notes.push(format!("(as {})", memo.len()));
                    memo.insert(memo.len() as i64);
                }
                (Op::Put | Op::BinPut | Op::LongBinPut, Arg::Int(i)) => {
                    memo.insert(*i);
                }
                (Op::Get | Op::BinGet | Op::LongBinGet, Arg::Int(i)) if !memo.contains(i) => {
                    notes.push("(memo miss)".into());
                }
                _ => {}
            }
            notes.extend(globals.get(&ins.offset).into_iter().flatten().cloned());

            let mut line = format!(
                "{:5}: {:<4} {indent}{}",
                ins.offset,
                code_repr(info.code),
                info.name
            );
            let arg = arg_repr(&ins.arg);
            if arg.is_some() || !notes.is_empty() {
                line.push_str(&" ".repeat(10usize.saturating_sub(info.name.len())));
                if let Some(arg) = arg {
                    line.push(' ');
                    line.push_str(&arg);
                }
                for note in &notes {
                    line.push(' ');
                    line.push_str(note);
                }
            }
            writeln!(out, "{line}")?;
            if ins.offset != reader.position() as u64 || ins.op != Op::Stop {
                for message in findings.get(&ins.offset).into_iter().flatten() {
                    writeln!(out, "       ! {message}")?;
                }
            }
            if ins.op == Op::Mark {
                marks.push((ins.offset, depth));
            }
            if ins.op == Op::Stop {
                break;
            }
        }
        writeln!(out, "highest protocol among opcodes = {max_proto}")?;
        if reader.at_end() {
            return Ok(());
        }
        pickle += 1;
    }
}

/// The disassembly as a string.
pub fn disassembly(bytes: &[u8]) -> String {
    let mut out = String::new();
    disassemble(bytes, &mut out).expect("writing to a String cannot fail");
    out
}

/// `repr(opcode.code)[1:-1]`.
fn code_repr(code: u8) -> String {
    if (0x20..0x7f).contains(&code) {
        (code as char).to_string()
    } else {
        format!("\\x{code:02x}")
    }
}

fn arg_repr(arg: &Arg<'_>) -> Option<String> {
    Some(match arg {
        Arg::None => return None,
        Arg::Int(i) => i.to_string(),
        Arg::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Arg::BigInt(b) => shorten_digits(b.to_string()),
        Arg::Long(bytes) => shorten_digits(BigInt::from_signed_bytes_le(bytes).to_string()),
        Arg::Float(f) => py_float_repr(*f),
        // pickletools shows Python 2 strs as str (Latin-1).
        Arg::String(bytes) => {
            let text: String = bytes
                .iter()
                .take(LONG_REPR + 1)
                .map(|&b| b as char)
                .collect();
            shorten(py_str_repr(&text), bytes.len())
        }
        Arg::Bytes(bytes) => shorten(
            bytes_repr(&bytes[..bytes.len().min(LONG_REPR + 1)]),
            bytes.len(),
        ),
        Arg::Str { text, .. } => {
            let head: String = text.chars().take(LONG_REPR + 1).collect();
            shorten(py_str_repr(&head), text.chars().count())
        }
        Arg::Global { module, name } => py_str_repr(&format!("{module} {name}")),
        Arg::PersId(pid) => py_str_repr(pid),
    })
}

/// Marks a repr made of the first `LONG_REPR + 1` units of a `len`-unit payload as shortened.
fn shorten(repr: String, len: usize) -> String {
    if len <= LONG_REPR {
        return repr;
    }
    format!("{repr}... ({len} in all)")
}

fn shorten_digits(digits: String) -> String {
    if digits.len() <= LONG_REPR {
        return digits;
    }
    format!("{}...({} digits)", &digits[..LONG_REPR], digits.len())
}

/// Python's `repr` of a str (the printable test approximated for non-ASCII: controls,
/// separators, format characters and private use are escaped).
pub fn py_str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
    out
}

fn printable(c: char) -> bool {
    let u = c as u32;
    if c.is_ascii() {
        return (0x20..0x7f).contains(&u);
    }
    !(c.is_control()
        || matches!(u,
            0xa0 | 0xad | 0x1680 | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x206f
            | 0x3000 | 0x061c | 0x180e | 0xfeff | 0xfff9..=0xfffb
            | 0xe000..=0xf8ff | 0xf0000.. | 0xe0000..=0xe007f))
}

/// Python's `repr` of a float: the shortest round-trip digits, in positional notation for
/// exponents from -4 to 15 and scientific notation otherwise.
pub fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `{:e}` gives the shortest digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        format!("{sign}{body}")
    } else {
        let mantissa = if digits.len() == 1 {
            digits
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        format!(
            "{sign}{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_reprs_are_python_reprs() {
        for (f, repr) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345e-5, "1.2345e-05"),
            (0.0001, "0.0001"),
            (1e300, "1e+300"),
            (5e-324, "5e-324"),
            (0.1, "0.1"),
            (-2.5e-3, "-0.0025"),
            (123456.789, "123456.789"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(py_float_repr(f), repr);
        }
    }

    #[test]
    fn str_reprs_are_python_reprs() {
        assert_eq!(py_str_repr("abc"), "'abc'");
        assert_eq!(py_str_repr("it's"), "\"it's\"");
        assert_eq!(py_str_repr("a'b\""), "'a\\'b\"'");
        assert_eq!(
            py_str_repr("\u{e9}\u{20ac}\n\x00\u{a0}"),
            "'\u{e9}\u{20ac}\\n\\x00\\xa0'"
        );
    }

    /// `pickletools.dis(pickle.dumps({'a': [1, 2.5, None]}, protocol=4))` from CPython 3.11.7,
    /// with the note our machine adds to no line of it.
    #[test]
    fn reads_like_pickletools() {
        let pickle = b"\x80\x04\x95\x18\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00Nes.";
        let expected = "    0: \\x80 PROTO      4
    2: \\x95 FRAME      24
   11: }    EMPTY_DICT
   12: \\x94 MEMOIZE    (as 0)
   13: \\x8c SHORT_BINUNICODE 'a'
   16: \\x94 MEMOIZE    (as 1)
   17: ]    EMPTY_LIST
   18: \\x94 MEMOIZE    (as 2)
   19: (    MARK
   20: K        BININT1    1
   22: G        BINFLOAT   2.5
   31: N        NONE
   32: e        APPENDS    (MARK at 19)
   33: s    SETITEM
   34: .    STOP
highest protocol among opcodes = 4
";
        assert_eq!(disassembly(pickle), expected);
    }

    #[test]
    fn globals_findings_and_errors_are_shown() {
        let text = disassembly(b"c__builtin__\neval\n(S'1'\ntR\xff");
        assert!(
            text.contains("GLOBAL     '__builtin__ eval' -> builtins.eval (called)"),
            "{text}"
        );
        assert!(
            text.contains("error at offset 26: invalid load key '\\xff'"),
            "{text}"
        );
        let text = disassembly(b"\x80\x04h\x05.N.");
        assert!(text.contains("BINGET     5 (memo miss)"), "{text}");
        assert!(
            text.contains("! BINGET 5: the memo has nothing there"),
            "{text}"
        );
        assert!(text.contains("pickle 2 at offset 5:"), "{text}");
    }
}
