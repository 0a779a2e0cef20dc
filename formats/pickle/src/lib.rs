//! pypickle-pickle: Python's pickle format, read without running it.
//!
//! - [`opcodes`]: the one opcode table (all 68 opcodes of protocols 0-5) that drives the
//!   reader, the machine and the disassembler;
//! - [`reader`]: decodes opcodes and their arguments exactly as CPython's C unpickler does,
//!   borrowing payloads from the input;
//! - [`machine`]: the symbolic machine: stack, marks and memo as CPython keeps them; records
//!   every global reference with how it is used, folds safe data constructors, reports
//!   findings, enforces [`Limits`];
//! - [`analysis`]: the entry points: [`analyze`] (globals and findings, no values, payloads
//!   skipped), [`load`] (the [`pypickle_core::Value`] graph too), [`validate_modules`];
//! - [`disasm`]: a disassembler in the spirit of `pickletools.dis`;
//! - `compat`: CPython's `_compat_pickle` tables (`fix_imports`);
//! - `format`: the registered `pickle` format; `ser` and `write`: writers.
//!
//! ```
//! let pickle = b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02ls\x85R.";
//! let analysis = pypickle_pickle::analyze(pickle);
//! assert_eq!(analysis.globals[0].target.to_string(), "os.system");
//! assert!(analysis.globals[0].usage.called);
//! assert_eq!(pypickle_pickle::validate_modules(pickle), ["os.system"]);
//! ```

pub mod analysis;
pub mod compat;
pub mod disasm;
pub mod format;
pub mod machine;
pub mod opcodes;
pub mod reader;
pub mod ser;
pub mod write;

#[cfg(test)]
mod quick_check;

pub use analysis::{
    analyze, analyze_skipping, analyze_with, load, load_passing, load_with, validate_modules,
    Analysis, Loaded,
};
pub use format::{load_value, load_value_passing, Pickle};
pub use machine::{
    path_ends_with, plain_attribute_name, Encoding, Finding, FindingKind, Limits, Offer, Options,
    PickleError, SkipAfterBuild, SKIP_COPY_BUDGET,
};
