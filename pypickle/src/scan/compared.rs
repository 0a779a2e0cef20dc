//! Globals that joblib only compares: the proof behind accepting `numpy.memmap` in a dump of
//! a memmap.
//!
//! joblib pickles a `numpy.memmap` as a `NumpyArrayWrapper` whose state names the array's
//! class, `{'subclass': numpy.memmap, ...}`. The policy rates `numpy.memmap` dangerous (called,
//! it creates, truncates or maps files), but joblib's `NumpyArrayWrapper.read` never calls
//! what that slot holds when it is `numpy.memmap`: it only asks `self.subclass not in
//! (np.ndarray, np.memmap)` (numpy 1 only; numpy 2 arrays have no `__array_prepare__`), and
//! calls `_reconstruct(self.subclass, ...)` for any other class. A reference the file uses
//! nowhere else is therefore harmless, and the question is only whether the file uses it
//! anywhere else, directly or through what holds it.
//!
//! This module answers that by following every value of the stream, opcode by opcode, as
//! CPython's unpickler moves it: the stack, the marks and the memo, with the exact stack
//! effect of every opcode. Each value pushed gets an identity (GET and DUP push the same one);
//! whatever an opcode takes off the stack is *used*. The proof holds when
//!
//! - every value pushed by one of the references is used only as the value of the literal key
//!   `'subclass'` (a str the file spells out) in SETITEM(S) into a dict made by EMPTY_DICT or
//!   DICT;
//! - each such dict is used only as the target of SETITEM(S) and, at most once, as the state
//!   of a BUILD the scanner laid out as a wrapper's (whose keys it checked are joblib's);
//! - each object that BUILD gives the dict to is used by nothing else, before or after (a
//!   call given it earlier could keep it and read the attribute later): only that BUILD.
//!
//! POP, POP_MARK, DUP, the memo and the values left behind at STOP use nothing. Anything else
//! (a call, a tuple, a list, a BUILD, STOP, a key, another dict, an item of an object) is a use
//! the proof does not allow, so the references are judged as usual. A dict whose values a later
//! SETITEM replaces keeps its earlier uses here: nothing is forgotten. Any stack the machine
//! would not have (an underflow, a memo miss) also ends the proof, failing.

use std::collections::{HashMap, HashSet};

use pypickle_pickle::opcodes::Op;
use pypickle_pickle::reader::{Arg, Reader};

/// Values (objects and containers; scalars share one) the proof follows at most: past it, the
/// references are judged as usual.
const MAX_VALUES: usize = 1 << 24;

/// How the proof reads the stream.
pub(super) struct Reading<'a> {
    /// Offsets of the GLOBAL and STACK_GLOBAL opcodes whose references are to be proven.
    pub references: &'a [u64],
    /// Offsets of the BUILDs of wrappers whose layout was read: the only BUILDs whose state
    /// may hold a reference (by the key `subclass`).
    pub builds: &'a [u64],
    /// Where the opcodes resume after a wrapper's BUILD, by the offset just past it (joblib's
    /// reading; empty for a plain `pickle.load`).
    pub jumps: &'a [(usize, usize)],
    /// joblib's reading: after a wrapper's BUILD the stack holds the array, not the wrapper.
    /// Any error of the stream then fails the proof (the machine would have reported it). A
    /// plain reading stops where CPython would (bytes that are no opcodes, an underflow), and
    /// what was used before counts.
    pub joblib: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Other,
    /// A dict made by EMPTY_DICT or DICT.
    Dict,
    /// The str `subclass`.
    Subclass,
    /// A value one of the references pushed.
    Reference,
}

/// What happened to one value.
#[derive(Clone, Copy, Default)]
struct Uses {
    /// Uses the proof does not allow.
    other: u32,
    /// As the target of SETITEM(S), APPEND(S) or ADDITEMS.
    items_target: u32,
    /// As the state of a laid-out BUILD, and of which object.
    states: u32,
    state_of: Option<u32>,
    /// As the target of a laid-out BUILD.
    built: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Mark,
    Value(u32),
}

enum Halt {
    /// The stream broke where CPython's unpickler stops too (an underflow, a memo miss).
    Broke,
    /// Something the proof does not follow (a memo index it cannot read, too many values):
    /// the proof fails.
    Unknown,
}
use Halt::{Broke, Unknown};

/// The id all scalars (numbers, None, bools, bytes, strs but `subclass`) share: they are
/// immutable, hold nothing, and are never a state dict or a wrapper.
const SCALAR: u32 = 0;

struct Proof {
    references: HashSet<u64>,
    builds: HashSet<u64>,
    jumps: HashMap<usize, usize>,
    joblib: bool,
    kinds: Vec<Kind>,
    uses: Vec<Uses>,
    /// The dicts a reference went into.
    dicts: HashSet<u32>,
    stack: Vec<Slot>,
    memo: HashMap<u64, u32>,
}

impl Proof {
    fn new_value(&mut self, kind: Kind) -> Result<u32, Halt> {
        if self.kinds.len() >= MAX_VALUES {
            return Err(Unknown);
        }
        let id = self.kinds.len() as u32;
        self.kinds.push(kind);
        self.uses.push(Uses::default());
        Ok(id)
    }

    fn push(&mut self, id: u32) {
        self.stack.push(Slot::Value(id));
    }

    fn push_new(&mut self, kind: Kind) -> Result<(), Halt> {
        let id = self.new_value(kind)?;
        self.push(id);
        Ok(())
    }

    /// Takes the top value (never a mark: CPython's stack stops at the topmost mark).
    fn pop(&mut self) -> Result<u32, Halt> {
        match self.stack.pop() {
            Some(Slot::Value(id)) => Ok(id),
            _ => Err(Broke),
        }
    }

    fn top(&self) -> Result<u32, Halt> {
        match self.stack.last() {
            Some(Slot::Value(id)) => Ok(*id),
            _ => Err(Broke),
        }
    }

    /// Takes everything above the topmost mark, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<u32>, Halt> {
        let at = self
            .stack
            .iter()
            .rposition(|s| *s == Slot::Mark)
            .ok_or(Broke)?;
        let items = self.stack[at + 1..]
            .iter()
            .filter_map(|s| match s {
                Slot::Value(id) => Some(*id),
                Slot::Mark => None, // never: `at` is the topmost mark
            })
            .collect();
        self.stack.truncate(at);
        Ok(items)
    }

    fn used(&mut self, id: u32) {
        self.uses[id as usize].other += 1;
    }

    /// SETITEM(S) of `pairs` (keys and values alternating) into `target`.
    fn set_items(&mut self, target: u32, pairs: &[u32]) -> Result<(), Halt> {
        if !pairs.len().is_multiple_of(2) {
            return Err(Broke);
        }
        self.uses[target as usize].items_target += 1;
        let into_dict = self.kinds[target as usize] == Kind::Dict;
        for pair in pairs.chunks_exact(2) {
            let (key, value) = (pair[0], pair[1]);
            self.used(key);
            let kept = into_dict
                && self.kinds[key as usize] == Kind::Subclass
                && self.kinds[value as usize] == Kind::Reference;
            if kept {
                self.dicts.insert(target);
            } else {
                self.used(value);
            }
        }
        Ok(())
    }

    /// A memo index as CPython reads it; one the proof cannot is not followed.
    fn memo_index(arg: &Arg<'_>) -> Result<u64, Halt> {
        match arg {
            Arg::Int(index) => u64::try_from(*index).map_err(|_| Unknown),
            _ => Err(Unknown),
        }
    }

    /// Runs one opcode. `Ok(Some(at))`: go on reading at `at`.
    fn step(
        &mut self,
        op: Op,
        arg: Arg<'_>,
        offset: u64,
        end: usize,
    ) -> Result<Option<usize>, Halt> {
        match op {
            Op::Mark => self.stack.push(Slot::Mark),
            // CPython pops the topmost mark when nothing is above it.
            Op::Pop => {
                self.stack.pop().ok_or(Broke)?;
            }
            Op::PopMark => {
                self.pop_mark()?;
            }
            Op::Dup => {
                let top = self.top()?;
                self.push(top);
            }
            Op::Put | Op::BinPut | Op::LongBinPut => {
                let index = Self::memo_index(&arg)?;
                let top = self.top()?;
                self.memo.insert(index, top);
            }
            Op::Memoize => {
                let top = self.top()?;
                let index = self.memo.len() as u64;
                self.memo.insert(index, top);
            }
            Op::Get | Op::BinGet | Op::LongBinGet => {
                let index = Self::memo_index(&arg)?;
                let id = *self.memo.get(&index).ok_or(Broke)?;
                self.push(id);
            }
            Op::Proto | Op::Frame => {}
            Op::Stop => {
                let root = self.pop()?;
                self.used(root);
                // A stacked pickle starts afresh, as `pickle.load` called again.
                self.stack.clear();
                self.memo.clear();
            }
            Op::Unicode | Op::ShortBinUnicode | Op::BinUnicode | Op::BinUnicode8 => match arg {
                Arg::Str { text, lossy: false } if text == "subclass" => {
                    self.push_new(Kind::Subclass)?
                }
                _ => self.push(SCALAR),
            },
            Op::None
            | Op::NewTrue
            | Op::NewFalse
            | Op::Int
            | Op::BinInt
            | Op::BinInt1
            | Op::BinInt2
            | Op::Long
            | Op::Long1
            | Op::Long4
            | Op::Float
            | Op::BinFloat
            | Op::String
            | Op::BinString
            | Op::ShortBinString
            | Op::BinBytes
            | Op::ShortBinBytes
            | Op::BinBytes8 => self.push(SCALAR),
            Op::EmptyDict => self.push_new(Kind::Dict)?,
            Op::Dict => {
                for id in self.pop_mark()? {
                    self.used(id);
                }
                self.push_new(Kind::Dict)?;
            }
            Op::Global | Op::StackGlobal => {
                if op == Op::StackGlobal {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    self.used(name);
                    self.used(module);
                }
                let kind = match self.references.contains(&offset) {
                    true => Kind::Reference,
                    false => Kind::Other,
                };
                self.push_new(kind)?;
            }
            Op::SetItem => {
                let value = self.pop()?;
                let key = self.pop()?;
                let target = self.top()?;
                self.set_items(target, &[key, value])?;
            }
            Op::SetItems => {
                let pairs = self.pop_mark()?;
                let target = self.top()?;
                self.set_items(target, &pairs)?;
            }
            Op::Append | Op::Appends | Op::AddItems => {
                let items = match op {
                    Op::Append => vec![self.pop()?],
                    _ => self.pop_mark()?,
                };
                let target = self.top()?;
                self.uses[target as usize].items_target += 1;
                for id in items {
                    self.used(id);
                }
            }
            Op::Build => {
                let state = self.pop()?;
                let target = self.top()?;
                if self.builds.contains(&offset) {
                    let uses = &mut self.uses[state as usize];
                    uses.states += 1;
                    uses.state_of = Some(target);
                    self.uses[target as usize].built += 1;
                    if self.joblib {
                        // joblib pops the wrapper and pushes the array it read.
                        self.pop()?;
                        self.push_new(Kind::Other)?;
                        if let Some(&next) = self.jumps.get(&end) {
                            return Ok(Some(next));
                        }
                    }
                } else {
                    self.used(state);
                    self.used(target);
                }
            }
            _ => {
                // Every other opcode takes its operands (above the topmost mark, then below
                // it) and pushes new values.
                let effect = op.info().stack;
                if effect.mark {
                    for id in self.pop_mark()? {
                        self.used(id);
                    }
                }
                for _ in 0..effect.pops {
                    let id = self.pop()?;
                    self.used(id);
                }
                for _ in 0..effect.pushes {
                    self.push_new(Kind::Other)?;
                }
            }
        }
        Ok(None)
    }

    /// Whether the uses seen are the ones the proof allows.
    fn holds(&self) -> bool {
        let uses = |id: u32| self.uses[id as usize];
        for (id, kind) in self.kinds.iter().enumerate() {
            if *kind == Kind::Reference {
                let u = uses(id as u32);
                if u.other > 0 || u.items_target > 0 || u.states > 0 || u.built > 0 {
                    return false;
                }
            }
        }
        for &dict in &self.dicts {
            let d = uses(dict);
            if d.other > 0 || d.built > 0 || d.states > 1 {
                return false;
            }
            if let Some(wrapper) = d.state_of {
                let w = uses(wrapper);
                if w.other > 0
                    || w.items_target > 0
                    || w.states > 0
                    || w.built != 1
                    || wrapper == SCALAR
                    || self.kinds[wrapper as usize] != Kind::Other
                {
                    return false;
                }
            }
        }
        true
    }
}

/// Whether the references at `reading.references` are used only in the `subclass` slot of
/// wrappers' states (see the module documentation).
pub(super) fn only_compared(data: &[u8], reading: &Reading<'_>) -> bool {
    if reading.references.is_empty() {
        return false;
    }
    let mut proof = Proof {
        references: reading.references.iter().copied().collect(),
        builds: reading.builds.iter().copied().collect(),
        jumps: reading.jumps.iter().copied().collect(),
        joblib: reading.joblib,
        kinds: Vec::new(),
        uses: Vec::new(),
        dicts: HashSet::new(),
        stack: Vec::new(),
        memo: HashMap::new(),
    };
    // The id scalars share.
    if proof.new_value(Kind::Other).is_err() {
        return false;
    }
    let mut reader = Reader::new(data);
    loop {
        let ins = match reader.read() {
            Ok(Some(ins)) => ins,
            Ok(None) => break,
            Err(_) if reading.joblib => return false,
            Err(_) => break,
        };
        let end = ins.end as usize;
        match proof.step(ins.op, ins.arg, ins.offset, end) {
            Ok(Some(next)) => reader = Reader::at(data, next),
            Ok(None) => {}
            Err(Unknown) => return false,
            Err(Broke) if reading.joblib => return false,
            Err(Broke) => break,
        }
    }
    proof.holds()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wrapper made by NEWOBJ, given `{'subclass': numpy.memmap}` by the BUILD at offset
    /// returned, then `tail` (protocol 4 opcodes).
    fn stream(tail: &[u8]) -> (Vec<u8>, u64, u64) {
        let mut s =
            b"\x80\x04\x8c\x06joblib\x8c\x11NumpyArrayWrapper\x93)\x81\x94}\x94(\x8c\x08subclass"
                .to_vec();
        let reference = s.len() as u64;
        s.extend_from_slice(b"cnumpy\nmemmap\n\x94u");
        let build = s.len() as u64;
        s.push(b'b');
        s.extend_from_slice(tail);
        (s, reference, build)
    }

    fn plain(data: &[u8], reference: u64, build: u64) -> bool {
        only_compared(
            data,
            &Reading {
                references: &[reference],
                builds: &[build],
                jumps: &[],
                joblib: false,
            },
        )
    }

    #[test]
    fn the_subclass_slot_alone_is_a_comparison() {
        let (data, reference, build) = stream(b"0N.");
        assert!(plain(&data, reference, build));
    }

    #[test]
    fn any_other_use_is_not() {
        // The reference (memo 2) given to a call, the state dict (1) or the wrapper (0).
        for tail in [
            &b"0cbuiltins\nprint\nh\x02\x85R."[..],
            b"0cbuiltins\nprint\nh\x01\x85R.",
            b"cbuiltins\nprint\nh\x00\x85R.",
            b".",
        ] {
            let (data, reference, build) = stream(tail);
            assert!(!plain(&data, reference, build), "{tail:?}");
        }
        // Not a laid-out BUILD.
        let (data, reference, build) = stream(b"0N.");
        assert!(!plain(&data, reference, build + 1));
    }
}
