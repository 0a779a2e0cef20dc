//! pypickle-pickle: Python's pickle format, read without running it.
//!
//! - `opcodes`: the one opcode table (all 68 opcodes) that drives everything below;
//! - `reader`: decodes opcodes and their arguments exactly as CPython does;
//! - `machine`: the symbolic machine: stack, marks and memo; records every global reference;
//! - `analysis`: the entry points: `analyze` (globals and findings), `load` (the value too),
//!   `validate_modules`;
//! - `disasm`: a disassembler in the spirit of `pickletools.dis`;
//! - `compat`: CPython's `_compat_pickle` tables (`fix_imports`);
//! - `ser`: a serde serializer writing plain data as pickles CPython loads.

pub mod analysis;
pub mod compat;
pub mod disasm;
pub mod format;
pub mod machine;
pub mod opcodes;
pub mod reader;
pub mod ser;
pub mod write;

pub use analysis::{analyze, analyze_with, load, load_with, validate_modules, Analysis, Loaded};
pub use format::{load_value, Pickle};
pub use machine::{Encoding, Finding, FindingKind, Limits, Options, PickleError};
