//! pypickle-pickle: Python's pickle format, read without running it.
//!
//! - `opcodes`: the one opcode table (all 68 opcodes) that drives everything below;
//! - `reader`: decodes opcodes and their arguments exactly as CPython does;
//! - `machine`: the symbolic machine: stack, marks and memo; records every global reference;
//! - `compat`: CPython's `_compat_pickle` tables (`fix_imports`);
//! - `ser`: a serde serializer writing plain data as pickles CPython loads.

pub mod compat;
pub mod ser;
pub mod write;
